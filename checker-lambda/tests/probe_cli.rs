//! `checker-lambda probe` against a loopback server: JSON fields, expected status, redirects,
//! retries, and the SSRF guard (loopback refused unless `--allow-cidr` covers it).

use axum::http::StatusCode;
use axum::response::Redirect;
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use std::net::SocketAddr;
use std::process::Output;

async fn serve() -> SocketAddr {
    let app = Router::new()
        .route("/ok", get(|| async { r#"{"status":"ok"}"# }))
        .route(
            "/teapot",
            get(|| async { (StatusCode::IM_A_TEAPOT, "tea") }),
        )
        .route("/moved", get(|| async { Redirect::to("/ok") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn probe(args: &[&str]) -> (Output, Option<Value>) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_checker-lambda"))
        .arg("probe")
        .args(args)
        .output()
        .await
        .unwrap();
    let json = serde_json::from_slice(&output.stdout).ok();
    (output, json)
}

#[tokio::test]
async fn probe_prints_phases_and_verdict() {
    let addr = serve().await;
    let url = |path: &str| format!("http://{addr}{path}");

    let (out, json) = probe(&[&url("/ok"), "--allow-cidr", "127.0.0.0/8", "--json"]).await;
    assert!(out.status.success(), "{out:?}");
    let json = json.unwrap();
    for field in [
        "dns_us",
        "tcp_connect_us",
        "tls_handshake_us",
        "ttfb_us",
        "transfer_us",
        "total_us",
        "status_code",
        "ok",
        "error",
    ] {
        assert!(json.get(field).is_some(), "{field} missing in {json}");
    }
    assert_eq!(json["status_code"], 200);
    assert_eq!(json["ok"], true);
    assert!(json["tcp_connect_us"].as_u64().unwrap() > 0);

    let (out, json) = probe(&[
        &url("/teapot"),
        "--allow-cidr",
        "127.0.0.0/8",
        "--json",
        "--expect-status",
        "418",
    ])
    .await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(json.unwrap()["status_code"], 418);

    let (out, json) = probe(&[
        &url("/teapot"),
        "--allow-cidr",
        "127.0.0.0/8",
        "--json",
        "--expect-status",
        "2xx",
        "--retries",
        "1",
        "--retry-backoff-ms",
        "10",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    let json = json.unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json["error"], "expected status 200-299, got 418");
    assert_eq!(json["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(json["attempt"], 2);

    let (out, json) = probe(&[
        &url("/moved"),
        "--allow-cidr",
        "127.0.0.0/8",
        "--json",
        "-L",
        "--expect-json",
        r#"$.status == "ok""#,
    ])
    .await;
    assert!(out.status.success(), "{out:?}");
    let json = json.unwrap();
    assert_eq!(
        (json["status_code"].clone(), json["redirects"].clone()),
        (200.into(), 1.into())
    );
    assert_eq!(json["hops"].as_array().unwrap().len(), 2);

    // Text output names every phase.
    let (out, _) = probe(&[&url("/ok"), "--allow-cidr", "127.0.0.1/32"]).await;
    let text = String::from_utf8(out.stdout).unwrap();
    for line in [
        "dns",
        "tcp_connect",
        "tls_handshake",
        "ttfb",
        "transfer",
        "total",
        "verdict        up",
    ] {
        assert!(text.contains(line), "{line} missing in {text}");
    }

    // No allowlist: loopback is refused and nothing connects.
    let (out, json) = probe(&[&url("/ok"), "--json"]).await;
    assert_eq!(out.status.code(), Some(1));
    let json = json.unwrap();
    assert!(json["error"]
        .as_str()
        .unwrap()
        .starts_with("refused to connect to 127.0.0.1"));
    assert_eq!(json["tcp_connect_us"], 0);

    // Invalid arguments: field-level message, exit 2.
    let (out, _) = probe(&[&url("/ok"), "--expect-status", "9xx0"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("--expect-status: invalid status range")
    );
}
