//! Microsoft Teams: an Adaptive Card message, the shape both the Workflows ("When a Teams
//! webhook request is received") and the older incoming webhooks take: `type: message` with one
//! `application/vnd.microsoft.card.adaptive` attachment. Workflows answer `202 Accepted`.

use super::http::{self, clip};
use super::{Message, Outcome};
use checker::guard::SsrfGuard;
use serde_json::{json, Value};

pub fn body(message: &Message) -> Value {
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            { "type": "TextBlock", "text": clip(&message.title, 200), "weight": "Bolder", "size": "Medium", "wrap": true },
            { "type": "TextBlock", "text": clip(&message.text, 4000), "wrap": true },
        ],
    });
    if let Some(url) = &message.url {
        card["actions"] = json!([{ "type": "Action.OpenUrl", "title": "Details", "url": url }]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

pub async fn send(guard: &SsrfGuard, webhook_url: &str, message: &Message) -> Outcome {
    http::post_json(guard, webhook_url, &[], &body(message)).await
}
