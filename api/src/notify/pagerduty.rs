//! PagerDuty Events API v2: `trigger` while a problem lasts and `resolve` when it is over, both
//! with the message's `dedup_key` so PagerDuty keeps one alert per problem. Answers `202`.

use super::http::{self, clip};
use super::{EventKind, Message, Outcome};
use checker::guard::SsrfGuard;
use serde_json::{json, Value};

pub const EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

fn severity(event: EventKind) -> &'static str {
    match event {
        EventKind::Down => "critical",
        EventKind::RegionalOutage => "error",
        EventKind::Degraded => "warning",
        _ => "info",
    }
}

pub fn body(routing_key: &str, message: &Message) -> Value {
    if message.resolved {
        return json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": message.dedup_key,
        });
    }
    let mut body = json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": message.dedup_key,
        "client": "Status page",
        "payload": {
            // PagerDuty's limit is 1024 characters.
            "summary": clip(&message.title, 1024),
            "source": "statuspage",
            "severity": severity(message.event),
            "timestamp": message.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "class": message.event,
            "custom_details": { "text": message.text, "message_id": message.id },
        },
    });
    if let Some(url) = &message.url {
        body["links"] = json!([{ "href": url, "text": "Details" }]);
        body["client_url"] = json!(url);
    }
    body
}

/// `events_url`: [`EVENTS_URL`] unless the channel names another (tests, proxies).
pub async fn send(
    guard: &SsrfGuard,
    events_url: Option<&str>,
    routing_key: &str,
    message: &Message,
) -> Outcome {
    let url = events_url.unwrap_or(EVENTS_URL);
    http::post_json(guard, url, &[], &body(routing_key, message)).await
}
