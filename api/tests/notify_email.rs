//! Email alerts against a real SMTP server: aiosmtpd on a free loopback port, run with
//! `scripts/smtp-sink.py`, which writes every accepted message into a folder. Needs
//! `AIOSMTPD_PYTHON` (a python that imports aiosmtpd); `./dev test` installs it and sets it.

use api::notify::email::{self, SmtpSettings};
use api::notify::{EventKind, Message, Outcome};
#[path = "support/smtp_sink.rs"]
mod smtp_sink;
use smtp_sink::{body, free_port, header, received, start_sink};
use uuid::Uuid;

fn message(event: EventKind, title: &str, text: &str) -> Message {
    Message {
        id: Uuid::new_v4(),
        tenant_id: Uuid::new_v4(),
        event,
        title: title.into(),
        text: text.into(),
        url: Some("https://acme.status.example.com/incidents/42".into()),
        dedup_key: "monitor-1".into(),
        resolved: false,
        created_at: chrono::Utc::now(),
        unsubscribe_url: None,
    }
}

fn settings(url: &str) -> SmtpSettings {
    SmtpSettings::from_env_values(
        Some(url),
        Some("Acme Status <alerts@status.example.com>"),
        "localhost",
    )
    .unwrap()
    .expect("configured")
}

#[tokio::test]
async fn delivers_to_a_real_smtp_server_and_maps_refusals() {
    let sink = start_sink();
    let smtp = settings(&format!("smtp://127.0.0.1:{}", sink.port));
    let team = vec![
        "oncall@acme.example".to_owned(),
        "cto@acme.example".to_owned(),
    ];

    let down = message(
        EventKind::Down,
        "Checkout API is down",
        "Checkout API fails in local-eu and local-us: connection refused.",
    );
    let recovered = message(
        EventKind::Recovery,
        "Checkout API is back",
        "Checkout API answers again in every region after 4 minutes.",
    );
    assert_eq!(
        email::send(&smtp, &team, &down).await,
        Outcome::Delivered { status: 250 }
    );
    assert_eq!(
        email::send(&smtp, &team[..1], &recovered).await,
        Outcome::Delivered { status: 250 }
    );

    let got = received(&sink);
    assert_eq!(got.len(), 2, "{got:#?}");
    for (sent, recipients) in [(&down, &team[..]), (&recovered, &team[..1])] {
        let (mail_from, rcpt_tos, raw) = got
            .iter()
            .find(|(_, _, raw)| {
                header(raw, "Message-ID").as_deref()
                    == Some(&format!("<{}@status.example.com>", sent.id))
            })
            .unwrap_or_else(|| panic!("no message with Message-ID <{}@...>: {got:#?}", sent.id));
        assert_eq!(mail_from, "alerts@status.example.com");
        assert_eq!(rcpt_tos, recipients);
        assert_eq!(
            header(raw, "From").unwrap(),
            "\"Acme Status\" <alerts@status.example.com>"
        );
        let to = header(raw, "To").unwrap();
        for r in recipients {
            assert!(to.contains(r.as_str()), "To: {to}");
        }
        assert!(header(raw, "Content-Type")
            .unwrap()
            .starts_with("text/plain"));
        let body = body(raw);
        assert!(body.contains(&sent.text), "{body}");
        assert!(
            body.contains("More: https://acme.status.example.com/incidents/42"),
            "{body}"
        );
    }
    let subjects: Vec<String> = got
        .iter()
        .map(|m| header(&m.2, "Subject").unwrap())
        .collect();
    assert!(
        subjects.contains(&"[Down] Checkout API is down".to_owned()),
        "{subjects:?}"
    );
    assert!(
        subjects.contains(&"[Recovered] Checkout API is back".to_owned()),
        "{subjects:?}"
    );

    // 5xx from the server: permanent; nothing reached anyone.
    let refused = email::send(
        &smtp,
        &["oncall@acme.example".into(), "reject@acme.example".into()],
        &down,
    )
    .await;
    match &refused {
        Outcome::Failed { error } => assert!(error.contains("550"), "{error}"),
        other => panic!("a 550 recipient must fail, got {other:?}"),
    }
    // 4xx: transient.
    let busy = email::send(&smtp, &["busy@acme.example".into()], &down).await;
    assert!(matches!(busy, Outcome::Retry { .. }), "{busy:?}");
    // A recipient that is not an address is refused before any connection.
    let bad = email::send(&smtp, &["not an address".into()], &down).await;
    assert!(
        matches!(&bad, Outcome::Failed { error } if error.contains("not an address")),
        "{bad:?}"
    );
    let none = email::send(&smtp, &[], &down).await;
    assert!(matches!(none, Outcome::Failed { .. }), "{none:?}");
    assert_eq!(received(&sink).len(), 2, "refused sends must not arrive");
}

#[tokio::test]
async fn a_server_that_is_not_there_is_retried() {
    let smtp = settings(&format!("smtp://127.0.0.1:{}", free_port()));
    let outcome = email::send(
        &smtp,
        &["oncall@acme.example".into()],
        &message(EventKind::Test, "Test", "A test send."),
    )
    .await;
    assert!(matches!(outcome, Outcome::Retry { .. }), "{outcome:?}");
}

#[tokio::test]
async fn unset_url_means_not_configured() {
    assert!(SmtpSettings::from_env_values(None, None, "localhost")
        .unwrap()
        .is_none());
    assert!(SmtpSettings::from_env_values(Some("  "), None, "localhost")
        .unwrap()
        .is_none());
    let outcome = email::send_if_configured(
        None,
        &["oncall@acme.example".into()],
        &message(EventKind::Test, "Test", "A test send."),
    )
    .await;
    assert_eq!(
        outcome,
        Outcome::Failed {
            error: "email is not configured on this deployment (STATUSPAGE_SMTP_URL)".into()
        }
    );
}

#[test]
fn settings_are_checked_at_start_and_name_the_variable() {
    let default =
        SmtpSettings::from_env_values(Some("smtp://127.0.0.1:2525"), None, "Status.Example.COM")
            .unwrap()
            .unwrap();
    assert_eq!(default.from().to_string(), "statuspage@status.example.com");
    assert_eq!(default.server(), "smtp://127.0.0.1:2525");

    let secret = SmtpSettings::from_env_values(
        Some("smtps://user:hunter2-secret@mail.example.com:465"),
        None,
        "example.com",
    )
    .unwrap()
    .unwrap();
    assert_eq!(secret.server(), "smtps://mail.example.com:465");
    assert!(!format!("{secret:?}").contains("hunter2"), "{secret:?}");
    SmtpSettings::from_env_values(Some("smtp://mail.example.com?tls=required"), None, "x.com")
        .unwrap()
        .unwrap();

    for (url, from, var) in [
        ("http://mail.example.com", None, "STATUSPAGE_SMTP_URL"),
        ("not a url", None, "STATUSPAGE_SMTP_URL"),
        (
            "smtp://mail.example.com?tls=sometimes",
            None,
            "STATUSPAGE_SMTP_URL",
        ),
        (
            "smtp://127.0.0.1:2525",
            Some("no at sign"),
            "STATUSPAGE_MAIL_FROM",
        ),
    ] {
        let err = SmtpSettings::from_env_values(Some(url), from, "example.com")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(var), "{url} {from:?}: {err}");
    }
}
