//! Sends one message to one channel with its kind's sender ([`crate::notify`]), from the
//! channel's stored config. The test send uses it today; the outbox workers will too.

use super::ChannelKind;
use crate::notify::{self, Message, Outcome};
use crate::AppState;
use serde_json::Value;

/// One attempt. A config missing what its kind needs (only possible if the row was written
/// outside the API) fails rather than panics.
pub async fn send(
    state: &AppState,
    kind: ChannelKind,
    config: &Value,
    message: &Message,
) -> Outcome {
    let guard = &state.delivery_guard;
    let text = |key: &str| config.get(key).and_then(Value::as_str);
    let required = |key: &str| {
        text(key).ok_or_else(|| Outcome::Failed {
            error: format!("the channel's config has no {key}"),
        })
    };
    let sent = async {
        Ok(match kind {
            ChannelKind::Email => {
                let to: Vec<String> = config
                    .get("to")
                    .and_then(Value::as_array)
                    .map(|to| {
                        to.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                notify::email::send_if_configured(state.smtp.as_ref(), &to, message).await
            }
            ChannelKind::Webhook => {
                notify::webhook::send(guard, required("url")?, text("secret"), message).await
            }
            ChannelKind::Slack => {
                notify::slack::send(guard, required("webhook_url")?, message).await
            }
            ChannelKind::Teams => {
                notify::teams::send(guard, required("webhook_url")?, message).await
            }
            ChannelKind::Discord => {
                notify::discord::send(guard, required("webhook_url")?, message).await
            }
            ChannelKind::Pagerduty => {
                notify::pagerduty::send(
                    guard,
                    text("events_url"),
                    required("routing_key")?,
                    message,
                )
                .await
            }
            ChannelKind::Opsgenie => {
                notify::opsgenie::send(guard, text("api_url"), required("api_key")?, message).await
            }
        })
    };
    sent.await.unwrap_or_else(|failed: Outcome| failed)
}
