//! Email alerts against a real SMTP server: aiosmtpd on a free loopback port, run with
//! `scripts/smtp-sink.py`, which writes every accepted message into a folder. Needs
//! `AIOSMTPD_PYTHON` (a python that imports aiosmtpd); `./dev test` installs it and sets it.

use api::notify::email::{self, SmtpSettings};
use api::notify::{EventKind, Message, Outcome};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use uuid::Uuid;

/// A running smtp-sink.py; killed when dropped (and it exits by itself when our end of its
/// stdin closes, so a crashed test leaves nothing behind).
struct Sink {
    child: Child,
    port: u16,
    folder: PathBuf,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_sink() -> Sink {
    let python = std::env::var("AIOSMTPD_PYTHON").unwrap_or_default();
    assert!(
        !python.is_empty() && Path::new(&python).exists(),
        "AIOSMTPD_PYTHON must name a python that imports aiosmtpd (got {python:?}); run the tests \
         with `./dev test`, or install it once: bash -c 'source scripts/services.sh; source \
         scripts/smtp.sh; ensure_aiosmtpd' and export \
         AIOSMTPD_PYTHON=~/.cache/statuspage/aiosmtpd-venv/bin/python"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/smtp-sink.py");
    let folder = std::env::temp_dir().join(format!("smtp-sink-{}", Uuid::new_v4()));
    let port = free_port();
    let mut child = Command::new(&python)
        .arg(&script)
        .arg("--port")
        .arg(port.to_string())
        .arg(&folder)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {python} {}: {e}", script.display()));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(
        line.trim(),
        format!("ready {port}"),
        "smtp-sink.py did not start"
    );
    Sink {
        child,
        port,
        folder,
    }
}

/// Every message the sink accepted: (envelope sender, envelope recipients, raw message).
fn received(sink: &Sink) -> Vec<(String, Vec<String>, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&sink.folder).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            out.push((
                v["mail_from"].as_str().unwrap().to_owned(),
                v["rcpt_tos"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_owned())
                    .collect(),
                v["data"].as_str().unwrap().to_owned(),
            ));
        }
    }
    out
}

/// The value of header `name` (unfolded), from the raw message.
fn header(raw: &str, name: &str) -> Option<String> {
    let head = raw.split("\r\n\r\n").next().unwrap();
    let mut value: Option<String> = None;
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            // Unfolding drops the line break and keeps the whitespace.
            if let Some(v) = value.as_mut() {
                v.push_str(line);
            }
            continue;
        }
        if value.is_some() {
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            if n.eq_ignore_ascii_case(name) {
                value = Some(v.trim().to_owned());
            }
        }
    }
    value
}

fn body(raw: &str) -> &str {
    raw.split_once("\r\n\r\n").unwrap().1
}

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
