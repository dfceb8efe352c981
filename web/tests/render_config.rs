//! `STATUSPAGE_RENDER_BUCKET` is checked at start, with a message naming the variable, and read
//! as `bucket` or `bucket/prefix`.

use clap::Parser;
use web::server::config::ServeConfig;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeConfig,
}

/// The server's settings with `args` and a render folder.
fn config(args: &[&str]) -> ServeConfig {
    let mut argv = vec![
        "statuspage",
        "--database-url",
        "postgres://nobody@127.0.0.1:1/none",
        "--checker-secret",
        "test-checker-secret-0123456789",
    ];
    argv.extend(["--render-dir", "/tmp/statuspage-render-config-test"]);
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv).unwrap().serve
}

#[test]
fn bad_bucket_names_are_refused_naming_the_variable() {
    for bad in ["Upper-Case", "ab", "under_score/prefix", &"x".repeat(64)] {
        let err = config(&["--render-bucket", bad])
            .validate()
            .expect_err(bad)
            .to_string();
        assert!(err.contains("STATUSPAGE_RENDER_BUCKET"), "{bad}: {err}");
    }
    for good in ["renders", "my.renders-1/eu/prod", "/renders/"] {
        config(&["--render-bucket", good]).validate().unwrap();
    }
    // Unset or empty: no bucket.
    config(&["--render-bucket", ""]).validate().unwrap();
}

#[tokio::test]
async fn the_bucket_and_its_prefix_reach_the_render_config() {
    let render = config(&["--render-bucket", "my-renders/eu/prod"])
        .render_config()
        .await;
    let bucket = render.bucket.expect("a bucket");
    assert_eq!(
        (bucket.bucket(), bucket.prefix()),
        ("my-renders", "eu/prod/")
    );
    assert!(render.dir.is_some());
    let render = config(&[]).render_config().await;
    assert!(render.bucket.is_none());
    // The folder set empty: renders are kept in memory only.
    let memory_only = Cli::try_parse_from([
        "statuspage",
        "--database-url",
        "postgres://nobody@127.0.0.1:1/none",
        "--checker-secret",
        "test-checker-secret-0123456789",
        "--render-dir",
        "",
    ])
    .unwrap()
    .serve;
    assert!(memory_only.render_config().await.dir.is_none());
}

/// The render folder set empty (memory only) leaves the bucket nothing to keep: the server
/// stops at once, naming both variables (only the environment can set the folder empty).
#[test]
fn a_bucket_without_the_render_folder_stops_the_server() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_statuspage"))
        .arg("serve")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("CHECKER_SECRET", "test-checker-secret-0123456789")
        .env("STATUSPAGE_RENDER_DIR", "")
        .env("STATUSPAGE_RENDER_BUCKET", "renders")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("STATUSPAGE_RENDER_BUCKET needs the render folder"),
        "{err}"
    );
    assert!(err.contains("STATUSPAGE_RENDER_DIR"), "{err}");
}
