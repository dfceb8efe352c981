//! `STATUSPAGE_RECHECK` and the settings it needs are checked at start, with a message naming
//! the variable; unset, re-checks follow the local runner.

use clap::Parser;
use web::server::config::{RecheckMode, ServeConfig};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeConfig,
}

fn config(args: &[&str]) -> ServeConfig {
    let mut argv = vec![
        "statuspage",
        "--database-url",
        "postgres://nobody@127.0.0.1:1/none",
        "--checker-secret",
        "test-checker-secret-0123456789",
    ];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv).unwrap().serve
}

fn refused(args: &[&str]) -> String {
    let config = config(args);
    let err = config.recheck_mode().expect_err("refused").to_string();
    assert_eq!(
        config.validate().expect_err("refused at start").to_string(),
        err
    );
    err
}

#[test]
fn rechecks_follow_the_local_runner_unless_told_otherwise() {
    assert_eq!(config(&[]).recheck_mode().unwrap(), RecheckMode::Off);
    assert_eq!(
        config(&["--local-runner", "true"]).recheck_mode().unwrap(),
        RecheckMode::Local
    );
    assert_eq!(
        config(&["--local-runner", "true", "--recheck", "off"])
            .recheck_mode()
            .unwrap(),
        RecheckMode::Off
    );
    let lambda = config(&["--recheck", "lambda"]);
    assert_eq!(lambda.recheck_mode().unwrap(), RecheckMode::Lambda);
    assert_eq!(lambda.checker_function_name, "statuspage-checker");
    assert!(lambda.validate().is_ok());
    assert_eq!(
        config(&[
            "--recheck",
            "lambda",
            "--aws-endpoint-url",
            "http://127.0.0.1:5000"
        ])
        .aws_endpoint(),
        Some("http://127.0.0.1:5000")
    );
}

#[test]
fn bad_recheck_settings_are_refused_naming_the_variable() {
    let err = refused(&["--recheck", "sometimes"]);
    assert!(err.contains("STATUSPAGE_RECHECK"), "{err}");
    let err = refused(&["--recheck", "local"]);
    assert!(
        err.contains("STATUSPAGE_RECHECK") && err.contains("CHECKER_LOCAL_RUNNER"),
        "{err}"
    );
    let err = refused(&[
        "--recheck",
        "lambda",
        "--checker-function-name",
        "not a name",
    ]);
    assert!(err.contains("CHECKER_FUNCTION_NAME"), "{err}");
    let err = refused(&["--recheck", "lambda", "--aws-endpoint-url", "ftp://x"]);
    assert!(err.contains("AWS_ENDPOINT_URL"), "{err}");
}
