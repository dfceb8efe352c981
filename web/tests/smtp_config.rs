//! The app server checks its email settings at start: a bad `STATUSPAGE_SMTP_URL` or
//! `STATUSPAGE_MAIL_FROM` stops it with an error naming the variable, before it connects to
//! anything.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn command(vars: &[(&str, &str)]) -> Command {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_statuspage"));
    cmd.arg("serve")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("CLICKHOUSE_URL", "http://127.0.0.1:1")
        .env("CHECKER_SECRET", "test-checker-secret-0123456789")
        .env("STATUSPAGE_ADDR", format!("127.0.0.1:{port}"))
        .env(
            "STATUSPAGE_DATA",
            std::env::temp_dir().join(format!("smtp-config-{port}")),
        )
        .env("CHECKER_LOCAL_RUNNER", "false")
        .env("NO_COLOR", "1")
        .env_remove("STATUSPAGE_SMTP_URL")
        .env_remove("STATUSPAGE_MAIL_FROM");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

/// Settings refused at start: the server exits, and says why.
fn refused(vars: &[(&str, &str)]) -> (bool, String) {
    let out = command(vars).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_smtp_settings_stop_the_server_naming_the_variable() {
    let (ok, err) = refused(&[("STATUSPAGE_SMTP_URL", "http://mail.example.com")]);
    assert!(!ok);
    assert!(err.contains("STATUSPAGE_SMTP_URL"), "{err}");

    let (ok, err) = refused(&[
        ("STATUSPAGE_SMTP_URL", "smtp://127.0.0.1:2525"),
        ("STATUSPAGE_MAIL_FROM", "no at sign"),
    ]);
    assert!(!ok);
    assert!(err.contains("STATUSPAGE_MAIL_FROM"), "{err}");

    // Good settings pass the check; the server then starts without the database it cannot
    // reach (serving kept renders) and says so: stopped once it has.
    let log = std::env::temp_dir().join(format!("smtp-config-{}.log", std::process::id()));
    let mut child = command(&[("STATUSPAGE_SMTP_URL", "smtp://127.0.0.1:2525")])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    while !read().contains("app server listening") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let still_running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    let err = read();
    let _ = std::fs::remove_file(&log);
    assert!(still_running, "the server runs without PostgreSQL:\n{err}");
    assert!(!err.contains("STATUSPAGE_SMTP_URL"), "{err}");
    assert!(
        err.contains("PostgreSQL at DATABASE_URL does not answer"),
        "{err}"
    );
}
