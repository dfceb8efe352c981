//! Hostile bodies through the real router: a billion-laughs YAML, deep nesting, too many nodes
//! and oversized bodies, as YAML config imports and as JSON bodies. Each must be refused with a
//! 4xx problem+json naming the reason, in well under a second and with a few MiB of memory at
//! most.
//!
//! Its own test binary with one test, so the memory figures (this process's VmRSS and VmHWM)
//! are not blurred by other tests. A watchdog thread ends the process with a failure when a case
//! takes 10 s or grows the process by 512 MiB, so a regression fails instead of eating the machine.

use api::{ApiConfig, AppState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

fn app(pool: PgPool) -> axum::Router {
    let analytics = statuspage_clickhouse::Analytics::new("http://127.0.0.1:1", "unused").unwrap();
    api::router(AppState::new(
        pool,
        analytics,
        ApiConfig {
            base_domain: "localhost".into(),
            checker_secret: "api-test-secret-0123456789".into(),
            regions: vec!["eu".into(), "us".into()],
            open_signup: true,
        },
    ))
}

/// A `kB` figure from /proc/self/status.
fn status_kib(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{key} in /proc/self/status"))
}

/// Resets VmHWM to the current RSS, so each case's peak is its own.
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("resetting VmHWM");
}

/// Ends the process when a case runs away: the test then fails instead of hanging or swapping.
struct Watchdog {
    done: Arc<AtomicBool>,
}

impl Watchdog {
    fn start(case: &'static str) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let base = status_kib("VmRSS:");
        std::thread::spawn(move || {
            let started = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                let rss = status_kib("VmRSS:");
                if rss > base + 512 * 1024 || started.elapsed() > Duration::from_secs(10) {
                    eprintln!(
                        "FAIL {case}: after {:?} the process grew from {base} kB to {rss} kB: the body is not bounded",
                        started.elapsed()
                    );
                    std::process::exit(101);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Self { done }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

struct Reply {
    status: StatusCode,
    content_type: String,
    body: Value,
}

async fn send(
    app: &axum::Router,
    token: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Reply {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        content_type,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

/// The classic billion laughs: ten levels of ten aliases to the level below, as a config
/// document (about 1e10 values once expanded), about 1.5 KB of YAML.
fn billion_laughs() -> String {
    let mut yaml = String::from("version: 1\nx0: &x0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for level in 1..=10 {
        let below = format!("*x{}", level - 1);
        yaml.push_str(&format!(
            "x{level}: &x{level} [{}]\n",
            vec![below; 10].join(",")
        ));
    }
    yaml.push_str("monitors: *x10\n");
    yaml
}

/// The hostile tenant's ~30 KB variant, built to pass serde_yaml_ng's repetition limit (alias
/// jumps up to 100 times the document's events): a wide first level of 1 000 strings makes
/// the budget large, and every jump to it copies all 1 000. About 1e8 strings once expanded.
fn wide_laughs() -> String {
    let mut yaml = String::from("version: 1\n");
    yaml.push_str(&format!(
        "l0: &l0 [{}]\n",
        vec!["lollollollollollollol"; 1000].join(",")
    ));
    for level in 1..=4 {
        let below = format!("*l{}", level - 1);
        yaml.push_str(&format!(
            "l{level}: &l{level} [{}]\n",
            vec![below; 30].join(", ")
        ));
    }
    while yaml.len() < 30_000 {
        yaml.push_str("# padding to the size of the file that was posted\n");
    }
    yaml.push_str("monitors: *l4\n");
    yaml
}

struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    status: StatusCode,
    /// Words the problem's detail must contain.
    reason: &'static str,
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn bombs_are_refused_fast_and_small(pool: PgPool) {
    let app = app(pool);
    // Sign up (the first token can do everything), then a read-only token: the attack needed none.
    let signup = send(
        &app,
        "none",
        "POST",
        "/api/v1/tenants",
        "application/json",
        json!({ "slug": "bomber", "name": "Bomber", "email": "bomber@example.com" })
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(signup.status, StatusCode::CREATED, "{}", signup.body);
    let admin = signup.body["api_token"].as_str().unwrap().to_owned();
    let minted = send(
        &app,
        &admin,
        "POST",
        "/api/v1/api-tokens",
        "application/json",
        json!({ "name": "reader", "scopes": ["read"] })
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(minted.status, StatusCode::CREATED, "{}", minted.body);
    let reader = minted.body["token"].as_str().unwrap().to_owned();

    let deep_yaml = format!("version: 1\nmonitors: {}", "[".repeat(100_000));
    let many_yaml = format!("version: 1\nmonitors: [{}]\n", vec!["0"; 300_000].join(","));
    let deep_json = format!("{}{}", "[".repeat(500_000), "]".repeat(500_000));
    let huge_json_array = format!("[{}]", vec!["0"; 500_000].join(","));
    let huge_json_doc = format!(
        "{{\"version\": 1, \"monitors\": [{}]}}",
        vec!["0"; 500_000].join(",")
    );
    let oversized = format!(
        "version: 1\ncomponents: []\n{}",
        "# filler line of a document far too large\n".repeat(60_000)
    );
    let import = "/api/v1/config?dry_run=true";
    // The hostile tenant's file first: without the fix it is the one that runs away.
    let cases = vec![
        Case {
            name: "30 KB of wide nested aliases",
            method: "POST",
            path: import,
            content_type: "application/yaml",
            body: wide_laughs().into_bytes(),
            status: StatusCode::UNPROCESSABLE_ENTITY,
            reason: "anchors and aliases are not accepted",
        },
        Case {
            name: "billion laughs (YAML aliases)",
            method: "POST",
            path: import,
            content_type: "application/yaml",
            body: billion_laughs().into_bytes(),
            status: StatusCode::UNPROCESSABLE_ENTITY,
            reason: "anchors and aliases are not accepted",
        },
        Case {
            name: "YAML nested 100 000 deep",
            method: "POST",
            path: import,
            content_type: "application/yaml",
            body: deep_yaml.into_bytes(),
            status: StatusCode::UNPROCESSABLE_ENTITY,
            reason: "more than 32 levels deep",
        },
        Case {
            name: "YAML with 300 000 values",
            method: "POST",
            path: import,
            content_type: "text/yaml",
            body: many_yaml.into_bytes(),
            status: StatusCode::UNPROCESSABLE_ENTITY,
            reason: "more than 50000 values",
        },
        Case {
            name: "JSON document with 500 000 values",
            method: "POST",
            path: import,
            content_type: "application/json",
            body: huge_json_doc.into_bytes(),
            status: StatusCode::UNPROCESSABLE_ENTITY,
            reason: "more than 50000 values",
        },
        Case {
            name: "YAML document of 2.5 MB",
            method: "POST",
            path: import,
            content_type: "application/yaml",
            body: oversized.into_bytes(),
            status: StatusCode::PAYLOAD_TOO_LARGE,
            reason: "larger than 1048576 bytes",
        },
        Case {
            name: "JSON body: an array of 500 000 values",
            method: "POST",
            path: "/api/v1/monitors",
            content_type: "application/json",
            body: huge_json_array.into_bytes(),
            status: StatusCode::UNPROCESSABLE_ENTITY,
            reason: "more than 10000 values",
        },
        Case {
            name: "JSON body nested 500 000 deep",
            method: "POST",
            path: "/api/v1/notification-channels",
            content_type: "application/json",
            body: deep_json.into_bytes(),
            status: StatusCode::UNPROCESSABLE_ENTITY,
            reason: "more than 32 levels deep",
        },
        Case {
            name: "JSON body of 4 MB",
            method: "POST",
            path: "/api/v1/monitors",
            content_type: "application/json",
            body: format!("[\"{}\"]", "x".repeat(4 * 1024 * 1024)).into_bytes(),
            status: StatusCode::PAYLOAD_TOO_LARGE,
            reason: "larger than 1048576 bytes",
        },
    ];
    for case in cases {
        let size = case.body.len();
        reset_peak();
        let before = status_kib("VmRSS:");
        let watchdog = Watchdog::start(case.name);
        let started = Instant::now();
        let reply = send(
            &app,
            &reader,
            case.method,
            case.path,
            case.content_type,
            case.body,
        )
        .await;
        let took = started.elapsed();
        drop(watchdog);
        let extra_kib = status_kib("VmHWM:").saturating_sub(before);
        println!(
            "{}: {} bytes -> {} in {:.1} ms, peak memory +{} KiB ({:.2} MiB); {}",
            case.name,
            size,
            reply.status.as_u16(),
            took.as_secs_f64() * 1000.0,
            extra_kib,
            extra_kib as f64 / 1024.0,
            reply.body["detail"]
        );
        assert_eq!(reply.status, case.status, "{}: {}", case.name, reply.body);
        assert_eq!(
            reply.content_type, "application/problem+json",
            "{}",
            case.name
        );
        let detail = reply.body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(case.reason),
            "{}: the problem should say {:?}: {detail}",
            case.name,
            case.reason
        );
        if case.status == StatusCode::UNPROCESSABLE_ENTITY {
            assert_eq!(reply.body["errors"][0]["field"], "body", "{}", case.name);
            if case.content_type != "application/json" {
                assert!(detail.contains("line "), "{}: {detail}", case.name);
            }
        }
        assert!(
            took < Duration::from_secs(1),
            "{}: took {took:?}",
            case.name
        );
        // The body itself is in memory (up to the 1 MiB cap, plus copies the test keeps);
        // beyond that, a few MiB.
        assert!(
            extra_kib < 8 * 1024,
            "{}: the process grew by {extra_kib} KiB",
            case.name
        );
    }
}
