//! The app server checks its email settings at start: a bad `STATUSPAGE_SMTP_URL` or
//! `STATUSPAGE_MAIL_FROM` stops it with an error naming the variable, before it connects to
//! anything.

use std::process::Command;

fn serve_with(vars: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_statuspage"));
    cmd.arg("serve")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("CHECKER_SECRET", "test-checker-secret-0123456789")
        .env_remove("STATUSPAGE_SMTP_URL")
        .env_remove("STATUSPAGE_MAIL_FROM");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_smtp_settings_stop_the_server_naming_the_variable() {
    let (ok, err) = serve_with(&[("STATUSPAGE_SMTP_URL", "http://mail.example.com")]);
    assert!(!ok);
    assert!(err.contains("STATUSPAGE_SMTP_URL"), "{err}");

    let (ok, err) = serve_with(&[
        ("STATUSPAGE_SMTP_URL", "smtp://127.0.0.1:2525"),
        ("STATUSPAGE_MAIL_FROM", "no at sign"),
    ]);
    assert!(!ok);
    assert!(err.contains("STATUSPAGE_MAIL_FROM"), "{err}");

    // Good settings pass the check; the server then stops at the database it cannot reach.
    let (ok, err) = serve_with(&[("STATUSPAGE_SMTP_URL", "smtp://127.0.0.1:2525")]);
    assert!(!ok);
    assert!(!err.contains("STATUSPAGE_SMTP_URL"), "{err}");
    assert!(
        err.contains("DATABASE_URL") || err.to_lowercase().contains("postgres"),
        "{err}"
    );
}
