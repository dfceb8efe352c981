//! HTTP checks that read a health document (`health`), against real HTTP servers on loopback:
//! a dependency the document says is down makes the check down and is named (also when the
//! service answers 503, as Spring Boot does), a degraded one makes it degraded, the document
//! and its dependencies are kept with the outcome, and a body that is no document is a failure.

use axum::http::StatusCode;
use axum::routing::get;
use checker::failure::Failure;
use checker::guard::SsrfGuard;
use checker::health::HealthStatus;
use checker::probe::{CheckStatus, Prober};
use checker::spec::{HealthOptions, HttpSpec, MonitorSpec};
use serde_json::json;

async fn target() -> std::net::SocketAddr {
    let app = axum::Router::new()
        .route(
            "/spring",
            get(|| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    axum::Json(json!({ "status": "DOWN", "components": {
                        "db": { "status": "DOWN", "details": { "error": "Connection refused" } },
                        "diskSpace": { "status": "UP" } } })),
                )
            }),
        )
        .route(
            "/warn",
            get(|| async {
                axum::Json(json!({ "status": "warn", "checks": { "cassandra:responseTime": [
                    { "componentId": "a", "status": "warn", "observedValue": 900, "observedUnit": "ms", "output": "slow" }] } }))
            }),
        )
        .route(
            "/ok",
            get(|| async {
                axum::Json(json!({ "status": "ok", "checks": { "db": { "status": "ok", "duration_ms": 3 } } }))
            }),
        )
        .route("/html", get(|| async { "<html>fine</html>" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn spec(addr: std::net::SocketAddr, path: &str) -> MonitorSpec {
    let mut spec = HttpSpec::get(format!("http://{addr}{path}"));
    spec.health = Some(HealthOptions::default());
    MonitorSpec::Http(spec)
}

#[tokio::test]
async fn health_documents_decide_and_name_the_dependency() {
    let addr = target().await;
    let prober = Prober::new(SsrfGuard::new(
        SsrfGuard::parse_allowlist("127.0.0.0/8").unwrap(),
    ));

    let down = prober.check(&spec(addr, "/spring")).await;
    assert_eq!(down.status, CheckStatus::Down);
    assert_eq!(down.failure, Some(Failure::DependencyDown));
    let error = down.error.clone().unwrap();
    assert!(error.contains("db is down (Connection refused)"), "{error}");
    assert!(
        !error.contains("503"),
        "the dependency is named, not the status: {error}"
    );
    let report = down.health.clone().unwrap();
    assert_eq!(report.shape, "spring");
    assert_eq!(report.dependencies.len(), 2);
    assert!(down.health_document.unwrap().contains("Connection refused"));

    let warn = prober.check(&spec(addr, "/warn")).await;
    assert_eq!(warn.status, CheckStatus::Degraded, "{warn:?}");
    assert!(warn
        .error
        .unwrap()
        .contains("cassandra:responseTime/a is degraded (slow)"));
    assert_eq!(
        warn.health.unwrap().dependencies[0].duration_ms,
        Some(900.0)
    );

    let ok = prober.check(&spec(addr, "/ok")).await;
    assert_eq!(ok.status, CheckStatus::Up, "{ok:?}");
    let report = ok.health.unwrap();
    assert_eq!(report.dependencies[0].status, HealthStatus::Up);
    assert_eq!(report.dependencies[0].duration_ms, Some(3.0));

    let html = prober.check(&spec(addr, "/html")).await;
    assert_eq!(html.status, CheckStatus::Down);
    assert_eq!(html.failure, Some(Failure::AssertionFailed));
    assert!(html.error.unwrap().contains("not a JSON health document"));

    // Without `health`, the same 503 is only a status.
    let plain = prober
        .check(&MonitorSpec::Http(HttpSpec::get(format!(
            "http://{addr}/spring"
        ))))
        .await;
    assert_eq!(plain.failure, Some(Failure::HttpStatus { code: 503 }));
    assert!(plain.health.is_none());
}
