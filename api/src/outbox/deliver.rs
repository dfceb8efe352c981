//! One outbox row, one attempt: who the row is for (resolved from what is stored now, so a
//! channel disabled or a subscriber unsubscribed after the row was written gets nothing), and
//! the matching sender of [`crate::notify`].

use crate::channels::ChannelKind;
use crate::notify::{self, Message, Outcome};
use crate::AppState;
use serde_json::Value;
use uuid::Uuid;

/// Where a claimed row goes, as stored when it is sent.
#[derive(Debug, Clone)]
pub enum Target {
    /// A team's channel: its kind and config (secrets included: never logged).
    Channel { kind: ChannelKind, config: Value },
    /// Email to these addresses (an email subscriber, or account mail).
    Email(Vec<String>),
    /// A page subscriber's webhook (Standard Webhooks headers, unsigned).
    Webhook(String),
    /// A page subscriber's Slack incoming webhook.
    Slack(String),
}

/// What to do with a claimed row.
#[derive(Debug, Clone)]
pub enum Resolved {
    Send(Target),
    /// Nobody should get it any more (channel disabled or deleted, subscriber unconfirmed or
    /// gone); the reason goes into the row's `last_error`.
    Cancel(String),
    /// The row cannot be sent as stored (an unknown kind written outside the API): parked.
    Broken(String),
}

/// A claimed row's recipient as stored at the claim (read in the claim's statement, scoped by
/// the row's tenant: a channel or subscriber of another tenant is never used, whatever the
/// row says).
#[derive(Debug, Clone, Default)]
pub struct Stored {
    pub channel_id: Option<Uuid>,
    pub subscriber_id: Option<Uuid>,
    pub address: Option<String>,
    /// The channel's kind, config and whether it is enabled; `None` when it is gone.
    pub channel: Option<(String, Value, bool)>,
    /// The subscriber's kind, target and whether it is confirmed; `None` when it is gone.
    pub subscriber: Option<(String, String, bool)>,
}

/// Who gets the row now: a disabled or deleted channel, or an unconfirmed or deleted
/// subscriber, cancels it.
pub fn resolve(stored: Stored) -> Resolved {
    if stored.channel_id.is_some() {
        return match stored.channel {
            None => Resolved::Cancel("the notification channel was deleted".into()),
            Some((_, _, false)) => Resolved::Cancel("the notification channel is disabled".into()),
            Some((kind, config, true)) => {
                match serde_json::from_value::<ChannelKind>(Value::String(kind.clone())) {
                    Ok(kind) => Resolved::Send(Target::Channel { kind, config }),
                    Err(_) => Resolved::Broken(format!("unknown channel kind {kind:?}")),
                }
            }
        };
    }
    if stored.subscriber_id.is_some() {
        return match stored.subscriber {
            None => Resolved::Cancel("the subscriber is gone (unsubscribed or deleted)".into()),
            Some((_, _, false)) => {
                Resolved::Cancel("the subscriber has not confirmed the subscription".into())
            }
            Some((kind, target, true)) => match kind.as_str() {
                "email" => Resolved::Send(Target::Email(vec![target])),
                "webhook" => Resolved::Send(Target::Webhook(target)),
                "slack" => Resolved::Send(Target::Slack(target)),
                other => Resolved::Broken(format!("unknown subscriber kind {other:?}")),
            },
        };
    }
    match stored.address {
        Some(address) => Resolved::Send(Target::Email(vec![address])),
        None => Resolved::Broken("the row names no recipient".into()),
    }
}

/// One attempt at `target`. Email while the deployment has no SMTP server is a retry, not a
/// failure: the message waits (and is parked after its attempts, visible in the log) rather
/// than being dropped, and goes out once `STATUSPAGE_SMTP_URL` is set.
pub async fn send(state: &AppState, target: &Target, message: &Message) -> Outcome {
    let is_email = matches!(
        target,
        Target::Email(_)
            | Target::Channel {
                kind: ChannelKind::Email,
                ..
            }
    );
    if is_email && state.smtp.is_none() {
        return Outcome::Retry {
            error: notify::email::NOT_CONFIGURED.into(),
            after: None,
        };
    }
    let guard = &state.delivery_guard;
    match target {
        Target::Channel { kind, config } => {
            crate::channels::send::send(state, *kind, config, message).await
        }
        Target::Email(to) => {
            notify::email::send_if_configured(state.smtp.as_ref(), to, message).await
        }
        Target::Webhook(url) => notify::webhook::send(guard, url, None, message).await,
        Target::Slack(url) => notify::slack::send(guard, url, message).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recipients_resolve_from_what_is_stored_now() {
        let channel = |row: Option<(&str, bool)>| Stored {
            channel_id: Some(Uuid::new_v4()),
            channel: row.map(|(k, on)| (k.to_owned(), json!({ "url": "https://x.example" }), on)),
            ..Stored::default()
        };
        assert!(matches!(
            resolve(channel(Some(("webhook", true)))),
            Resolved::Send(Target::Channel {
                kind: ChannelKind::Webhook,
                ..
            })
        ));
        assert!(
            matches!(resolve(channel(Some(("webhook", false)))), Resolved::Cancel(r) if r.contains("disabled"))
        );
        assert!(matches!(resolve(channel(None)), Resolved::Cancel(r) if r.contains("deleted")));
        assert!(matches!(
            resolve(channel(Some(("fax", true)))),
            Resolved::Broken(_)
        ));
        let subscriber = |row: Option<(&str, bool)>| Stored {
            subscriber_id: Some(Uuid::new_v4()),
            subscriber: row.map(|(k, ok)| {
                (
                    k.to_owned(),
                    "https://hooks.slack.com/services/x".to_owned(),
                    ok,
                )
            }),
            ..Stored::default()
        };
        assert!(matches!(
            resolve(subscriber(Some(("slack", true)))),
            Resolved::Send(Target::Slack(_))
        ));
        assert!(matches!(
            resolve(subscriber(Some(("webhook", true)))),
            Resolved::Send(Target::Webhook(_))
        ));
        assert!(
            matches!(resolve(subscriber(Some(("email", false)))), Resolved::Cancel(r) if r.contains("confirmed"))
        );
        assert!(matches!(resolve(subscriber(None)), Resolved::Cancel(_)));
        assert!(matches!(
            resolve(Stored { address: Some("a@example.com".into()), ..Stored::default() }),
            Resolved::Send(Target::Email(to)) if to == ["a@example.com"]
        ));
    }
}
