//! What the HTTP senders share: one POST through the deployment's SSRF guard
//! ([`checker::deliver::post`]) and the mapping of its result to an [`Outcome`].

use super::Outcome;
use checker::deliver::{self, DeliverError, Delivered};
use checker::guard::SsrfGuard;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde_json::Value;
use std::time::Duration;

/// One delivery's whole exchange (resolve, connect, TLS, answer); a slower receiver is retried.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The longest `Retry-After` honoured; a receiver asking for more is tried again after this.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(24 * 3600);

/// How much of a refusing receiver's answer goes into the error (it helps to say why).
const ERROR_BODY_MAX: usize = 300;

/// POSTs `body` as JSON to `url` once and says what came of it.
pub async fn post_json(
    guard: &SsrfGuard,
    url: &str,
    headers: &[(&str, String)],
    body: &Value,
) -> Outcome {
    let bytes = serde_json::to_vec(body).expect("JSON values serialize");
    post_bytes(guard, url, headers, bytes).await
}

/// POSTs already serialized JSON (a signature covers these bytes).
pub async fn post_bytes(
    guard: &SsrfGuard,
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Outcome {
    let mut all: Vec<(&str, String)> = vec![("content-type", "application/json".into())];
    all.extend(headers.iter().cloned());
    outcome(
        deliver::post(guard, url, &all, body, TIMEOUT).await,
        Utc::now(),
    )
}

/// 2xx: delivered; 408, 429 and 5xx: retry (after `Retry-After` when given); other answers:
/// failed. Connection trouble is retried; refused addresses and unusable URLs fail.
pub fn outcome(result: Result<Delivered, DeliverError>, now: DateTime<Utc>) -> Outcome {
    match result {
        Ok(answer) if (200..300).contains(&answer.status) => Outcome::Delivered {
            status: answer.status,
        },
        Ok(answer) => {
            let error = answer_error(&answer);
            if matches!(answer.status, 408 | 429 | 500..=599) {
                Outcome::Retry {
                    error,
                    after: retry_after(&answer.headers, now),
                }
            } else {
                Outcome::Failed { error }
            }
        }
        Err(e @ (DeliverError::Invalid(_) | DeliverError::Refused(_))) => Outcome::Failed {
            error: e.to_string(),
        },
        Err(e @ (DeliverError::Unreachable(_) | DeliverError::Timeout(_))) => Outcome::Retry {
            error: e.to_string(),
            after: None,
        },
    }
}

fn answer_error(answer: &Delivered) -> String {
    let text: String = String::from_utf8_lossy(&answer.body)
        .chars()
        .filter(|c| !c.is_control())
        .take(ERROR_BODY_MAX)
        .collect();
    let text = text.trim();
    if text.is_empty() {
        format!("the receiver answered HTTP {}", answer.status)
    } else {
        format!("the receiver answered HTTP {}: {text}", answer.status)
    }
}

/// `Retry-After` as delay-seconds (Discord sends fractions) or an HTTP date, at most
/// [`RETRY_AFTER_MAX`].
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let delay = match value.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => {
            Duration::from_secs_f64(secs.min(RETRY_AFTER_MAX.as_secs_f64()))
        }
        Ok(_) => return None,
        Err(_) => {
            let at = DateTime::parse_from_rfc2822(value)
                .ok()?
                .with_timezone(&Utc);
            (at - now).to_std().unwrap_or(Duration::ZERO)
        }
    };
    Some(delay.min(RETRY_AFTER_MAX))
}

/// At most `max` characters, with an ellipsis when cut (services refuse longer fields).
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, retry: Option<&str>) -> Result<Delivered, DeliverError> {
        let mut headers = HeaderMap::new();
        if let Some(r) = retry {
            headers.insert(http::header::RETRY_AFTER, r.parse().unwrap());
        }
        Ok(Delivered {
            status,
            headers,
            body: b"nope".to_vec(),
            truncated: false,
        })
    }

    #[test]
    fn answers_map_to_outcomes() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            outcome(answer(204, None), now),
            Outcome::Delivered { status: 204 }
        );
        for (status, retry, after) in [
            (429, Some("7"), Some(Duration::from_secs(7))),
            (503, Some("1.5"), Some(Duration::from_millis(1500))),
            (
                503,
                Some("Wed, 21 Oct 2015 07:28:00 GMT"),
                Some(Duration::from_secs(60)),
            ),
            (408, None, None),
            (500, Some("soon"), None),
        ] {
            match outcome(answer(status, retry), now) {
                Outcome::Retry { after: got, error } => {
                    assert_eq!(got, after, "{status} {retry:?}");
                    assert!(error.contains(&status.to_string()), "{error}");
                }
                other => panic!("{status}: {other:?}"),
            }
        }
        for status in [400, 401, 403, 404, 410, 301] {
            assert!(
                matches!(outcome(answer(status, None), now), Outcome::Failed { .. }),
                "{status}"
            );
        }
        assert!(matches!(
            outcome(Err(DeliverError::Refused("x".into())), now),
            Outcome::Failed { .. }
        ));
        assert!(matches!(
            outcome(Err(DeliverError::Timeout(TIMEOUT)), now),
            Outcome::Retry { .. }
        ));
    }

    #[test]
    fn long_texts_are_clipped() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "ab…");
    }
}
