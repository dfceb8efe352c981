//! Generic webhooks, signed per the Standard Webhooks spec (standardwebhooks.com): headers
//! `webhook-id` (the message id, for deduplication), `webhook-timestamp` (Unix seconds) and,
//! when the channel has a secret, `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "{id}.{timestamp}.{body}">`. A secret written as `whsec_<base64>` is keyed with the decoded
//! bytes, as the spec's libraries do; any other secret with its UTF-8 bytes.

use super::{http, Message, Outcome};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use checker::guard::SsrfGuard;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// The JSON body: `type` (e.g. `statuspage.down`), `timestamp` and the message as `data`.
pub fn body(message: &Message) -> Value {
    let event = serde_json::to_value(message.event).expect("event kinds serialize");
    json!({
        "type": format!("statuspage.{}", event.as_str().unwrap_or_default()),
        "timestamp": message.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "data": message,
    })
}

/// The HMAC key of `secret`.
pub fn key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|b64| STANDARD.decode(b64).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// The `webhook-signature` value for one delivery.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key(secret)).expect("HMAC takes any key");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

pub async fn send(
    guard: &SsrfGuard,
    url: &str,
    secret: Option<&str>,
    message: &Message,
) -> Outcome {
    let body = body(message);
    let bytes = serde_json::to_vec(&body).expect("JSON values serialize");
    let id = message.id.to_string();
    let timestamp = chrono::Utc::now().timestamp();
    let mut headers = vec![
        ("webhook-id", id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
    ];
    if let Some(secret) = secret {
        headers.push((
            "webhook-signature",
            signature(secret, &id, timestamp, &bytes),
        ));
    }
    // The signature covers these exact bytes, so they are sent as they are.
    http::post_bytes(guard, url, &headers, bytes).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks spec's reference libraries.
    #[test]
    fn signs_like_the_reference_libraries() {
        let sig = signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
