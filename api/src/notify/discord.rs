//! Discord webhooks: `content` (the title) and one embed with the text, link, colour and time.
//! Mentions are switched off (`allowed_mentions`), so a monitor named `@everyone` pings nobody.
//! Discord answers `204 No Content`; its 429s carry `Retry-After` in (fractional) seconds.

use super::http::{self, clip};
use super::{EventKind, Message, Outcome};
use checker::guard::SsrfGuard;
use serde_json::{json, Value};

/// Red for outages, amber for degradation, green for recoveries, blue otherwise.
fn colour(message: &Message) -> u32 {
    if message.resolved {
        return 0x2e_b8_86;
    }
    match message.event {
        EventKind::Down | EventKind::RegionalOutage => 0xd9_3f_3f,
        EventKind::Degraded => 0xe0_a1_00,
        EventKind::Recovery => 0x2e_b8_86,
        _ => 0x3b_82_f6,
    }
}

/// Discord's limits: content 2000 characters, embed title 256, description 4096.
pub fn body(message: &Message) -> Value {
    let mut embed = json!({
        "title": clip(&message.title, 256),
        "description": clip(&message.text, 4096),
        "color": colour(message),
        "timestamp": message.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    if let Some(url) = &message.url {
        embed["url"] = json!(url);
    }
    json!({
        "content": clip(&message.title, 2000),
        "embeds": [embed],
        "allowed_mentions": { "parse": [] },
    })
}

pub async fn send(guard: &SsrfGuard, webhook_url: &str, message: &Message) -> Outcome {
    http::post_json(guard, webhook_url, &[], &body(message)).await
}
