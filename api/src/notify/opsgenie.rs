//! Opsgenie Alert API: an alert is created with the message's `dedup_key` as its `alias`
//! (`POST /v2/alerts`; Opsgenie de-duplicates open alerts by alias) and closed by that alias
//! (`POST /v2/alerts/{alias}/close?identifierType=alias`) when the problem is over. Both answer
//! `202`, authorised by `Authorization: GenieKey <api key>`.

use super::http::{self, clip};
use super::{EventKind, Message, Outcome};
use checker::guard::SsrfGuard;
use serde_json::{json, Value};

/// The US instance; EU accounts use `https://api.eu.opsgenie.com`.
pub const API_URL: &str = "https://api.opsgenie.com";

fn priority(event: EventKind) -> &'static str {
    match event {
        EventKind::Down => "P1",
        EventKind::RegionalOutage => "P2",
        EventKind::Degraded => "P3",
        _ => "P5",
    }
}

/// Opsgenie's limits: message 130 characters, alias 512, description 15000.
pub fn create_body(message: &Message) -> Value {
    let event = serde_json::to_value(message.event).expect("event kinds serialize");
    let mut details = json!({ "message_id": message.id.to_string() });
    if let Some(url) = &message.url {
        details["url"] = json!(url);
    }
    json!({
        "message": clip(&message.title, 130),
        "alias": clip(&message.dedup_key, 512),
        "description": clip(&message.text, 15000),
        "source": "statuspage",
        "priority": priority(message.event),
        "tags": [event],
        "details": details,
    })
}

pub fn close_body(message: &Message) -> Value {
    json!({ "source": "statuspage", "note": clip(&message.text, 25000) })
}

/// Where the message goes: the create endpoint, or the close endpoint of its alias.
pub fn endpoint(api_url: &str, message: &Message) -> String {
    let base = api_url.trim_end_matches('/');
    if message.resolved {
        format!(
            "{base}/v2/alerts/{}/close?identifierType=alias",
            percent_encode(&clip(&message.dedup_key, 512))
        )
    } else {
        format!("{base}/v2/alerts")
    }
}

/// Path-segment encoding: everything but RFC 3986 unreserved characters.
fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `api_url`: [`API_URL`] unless the channel names another (the EU instance, tests).
pub async fn send(
    guard: &SsrfGuard,
    api_url: Option<&str>,
    api_key: &str,
    message: &Message,
) -> Outcome {
    let url = endpoint(api_url.unwrap_or(API_URL), message);
    let body = if message.resolved {
        close_body(message)
    } else {
        create_body(message)
    };
    let auth = [("authorization", format!("GenieKey {api_key}"))];
    http::post_json(guard, &url, &auth, &body).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn aliases_are_one_path_segment() {
        assert_eq!(super::percent_encode("monitor/a b"), "monitor%2Fa%20b");
    }
}
