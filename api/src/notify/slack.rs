//! Slack incoming webhooks: `text` (the notification and fallback line) plus Block Kit `blocks`
//! (a header, the text, and a link when the message has one). Slack answers `200 ok`.

use super::http::{self, clip};
use super::{Message, Outcome};
use checker::guard::SsrfGuard;
use serde_json::{json, Value};

/// Slack's limits: header text 150 characters, section text 3000.
pub fn body(message: &Message) -> Value {
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": clip(&message.title, 150) } }),
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": clip(&message.text, 3000) } }),
    ];
    if let Some(url) = &message.url {
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": format!("<{url}|Details>") } }));
    }
    json!({
        "text": clip(&format!("{}\n{}", message.title, message.text), 3000),
        "blocks": blocks,
    })
}

pub async fn send(guard: &SsrfGuard, webhook_url: &str, message: &Message) -> Outcome {
    http::post_json(guard, webhook_url, &[], &body(message)).await
}
