//! The real `checker-lambda` binary against a Lambda Runtime API on loopback (test side: `next`,
//! `response`, `error`), a signed plan endpoint and a real ClickHouse. `./dev test` runs it again
//! on the `bootstrap` of each built Lambda package (x86_64 natively, arm64 under qemu-user).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use checker::plan::{self, PlannedCheck, WorkPlan};
use checker::run::RunSummary;
use checker::spec::MonitorSpec;
use serde_json::{json, Value};
use statuspage_clickhouse::Analytics;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

const SECRET: &str = "lambda-test-secret-0123456789";

#[derive(Default)]
struct Harness {
    events: Mutex<VecDeque<(String, Value)>>,
    responses: Mutex<Vec<(String, Value)>>,
    errors: Mutex<Vec<(String, Value)>>,
    plan: Mutex<Option<WorkPlan>>,
    reports: Mutex<Vec<Value>>,
    unsigned_requests: Mutex<u32>,
    /// The path and query of every signed plan request.
    plan_requests: Mutex<Vec<String>>,
}

async fn next_invocation(State(h): State<Arc<Harness>>) -> impl IntoResponse {
    // Long-poll like the real Runtime API: wait until an event is queued.
    loop {
        if let Some((id, event)) = h.events.lock().unwrap().pop_front() {
            let deadline = chrono::Utc::now().timestamp_millis() + 60_000;
            let mut headers = HeaderMap::new();
            headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
            headers.insert(
                "lambda-runtime-deadline-ms",
                deadline.to_string().parse().unwrap(),
            );
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:eu-west-1:000000000000:function:statuspage-checker"
                    .parse()
                    .unwrap(),
            );
            headers.insert("lambda-runtime-trace-id", "Root=1-0-0".parse().unwrap());
            return (headers, Json(event));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn invocation_response(
    State(h): State<Arc<Harness>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    h.responses
        .lock()
        .unwrap()
        .push((id, serde_json::from_slice(&body).unwrap()));
    StatusCode::ACCEPTED
}

async fn invocation_error(
    State(h): State<Arc<Harness>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    h.errors
        .lock()
        .unwrap()
        .push((id, serde_json::from_slice(&body).unwrap_or(Value::Null)));
    StatusCode::ACCEPTED
}

fn signed(headers: &HeaderMap, method: &str, uri: &Uri, body: &[u8]) -> bool {
    let get = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (region, nonce) = (get(plan::REGION_HEADER), get(plan::NONCE_HEADER));
    let request = plan::SignedRequest {
        region: &region,
        timestamp: get(plan::TIMESTAMP_HEADER).parse().unwrap_or_default(),
        nonce: &nonce,
        method,
        path_and_query: uri.path_and_query().unwrap().as_str(),
        body,
    };
    plan::verify(
        SECRET,
        chrono::Utc::now().timestamp(),
        &request,
        &get(plan::SIGNATURE_HEADER),
    )
    .is_ok()
}

async fn work_plan(
    State(h): State<Arc<Harness>>,
    headers: HeaderMap,
    uri: Uri,
) -> axum::response::Response {
    if !signed(&headers, "GET", &uri, b"") {
        *h.unsigned_requests.lock().unwrap() += 1;
        return StatusCode::UNAUTHORIZED.into_response();
    }
    h.plan_requests
        .lock()
        .unwrap()
        .push(uri.path_and_query().unwrap().to_string());
    Json(h.plan.lock().unwrap().clone().unwrap()).into_response()
}

async fn results(
    State(h): State<Arc<Harness>>,
    headers: HeaderMap,
    uri: Uri,
    body: axum::body::Bytes,
) -> StatusCode {
    if !signed(&headers, "POST", &uri, &body) {
        *h.unsigned_requests.lock().unwrap() += 1;
        return StatusCode::UNAUTHORIZED;
    }
    h.reports
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
    StatusCode::OK
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// The Lambda Runtime API and the checker endpoints, served by the harness.
async fn runtime_api(harness: &Arc<Harness>) -> SocketAddr {
    serve(
        Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(invocation_response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(invocation_error),
            )
            .route("/internal/v1/plan", get(work_plan))
            .route("/internal/v1/results", post(results))
            .with_state(harness.clone()),
    )
    .await
}

/// The binary under test: this build's `checker-lambda`, or the `bootstrap` of a built Lambda
/// package (`CHECKER_LAMBDA_BOOTSTRAP`, set by `./dev test`), run through `CHECKER_LAMBDA_RUNNER`
/// when given (e.g. `qemu-aarch64-static -L /usr/aarch64-linux-gnu` for the arm64 package). With
/// `CHECKER_LAMBDA_ARCH` (`x86_64` or `arm64`) the file must be an ELF of that machine.
fn lambda_command() -> tokio::process::Command {
    let Ok(bootstrap) = std::env::var("CHECKER_LAMBDA_BOOTSTRAP") else {
        return tokio::process::Command::new(env!("CARGO_BIN_EXE_checker-lambda"));
    };
    let elf = std::fs::read(&bootstrap)
        .unwrap_or_else(|e| panic!("CHECKER_LAMBDA_BOOTSTRAP={bootstrap}: {e}"));
    assert!(
        elf.starts_with(b"\x7fELF"),
        "{bootstrap} is not an ELF file"
    );
    if let Ok(arch) = std::env::var("CHECKER_LAMBDA_ARCH") {
        // e_machine, little-endian, at offset 18: 62 = x86-64, 183 = AArch64.
        let machine = u16::from_le_bytes([elf[18], elf[19]]);
        let expected = match arch.as_str() {
            "x86_64" => 62,
            "arm64" => 183,
            other => panic!("CHECKER_LAMBDA_ARCH={other}: expected x86_64 or arm64"),
        };
        assert_eq!(machine, expected, "{bootstrap} is not an {arch} binary");
    }
    match std::env::var("CHECKER_LAMBDA_RUNNER") {
        Ok(runner) if !runner.trim().is_empty() => {
            let mut words = runner.split_whitespace();
            let mut cmd = tokio::process::Command::new(words.next().unwrap());
            cmd.args(words).arg(&bootstrap);
            cmd
        }
        _ => tokio::process::Command::new(&bootstrap),
    }
}

/// The real binary, served invocations by `runtime`, storing into `database`.
fn start_lambda(
    runtime: SocketAddr,
    clickhouse_url: &str,
    database: &str,
) -> tokio::process::Child {
    let child = lambda_command()
        .env("AWS_LAMBDA_RUNTIME_API", runtime.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "statuspage-checker")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("CHECKER_API_URL", format!("http://{runtime}"))
        .env("CHECKER_SECRET", SECRET)
        .env("CLICKHOUSE_URL", clickhouse_url)
        .env("CLICKHOUSE_DATABASE", database)
        .env(
            "CLICKHOUSE_SPOOL_DIR",
            std::env::temp_dir().join(format!("lambda-spool-{database}")),
        )
        .env("CHECKER_ALLOW_CIDRS", "127.0.0.0/8")
        .kill_on_drop(true)
        .spawn()
        .expect("the checker-lambda binary starts");
    assert_running_program(&child);
    child
}

/// What the kernel runs for the child (spawn returns after the exec): the runner (qemu) when
/// `CHECKER_LAMBDA_RUNNER` is given, else the binary itself; printed for the test log.
fn assert_running_program(child: &tokio::process::Child) {
    let pid = child.id().expect("the checker-lambda process is running");
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("/proc/<pid>/exe");
    eprintln!("lambda process {pid} runs {}", exe.display());
    let Ok(bootstrap) = std::env::var("CHECKER_LAMBDA_BOOTSTRAP") else {
        return;
    };
    let expected = match std::env::var("CHECKER_LAMBDA_RUNNER") {
        Ok(runner) if !runner.trim().is_empty() => {
            let program = runner.split_whitespace().next().unwrap();
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .map(|dir| dir.join(program))
                .chain([std::path::PathBuf::from(program)])
                .find(|p| p.is_absolute() && p.is_file())
                .unwrap_or_else(|| panic!("CHECKER_LAMBDA_RUNNER: {program} not found"))
        }
        _ => bootstrap.into(),
    };
    assert_eq!(
        exe,
        std::fs::canonicalize(&expected).unwrap(),
        "the Lambda process does not run {}",
        expected.display()
    );
}

/// Waits until the Lambda has answered `n` invocations (response or error).
async fn wait_for_answers(harness: &Harness, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while harness.responses.lock().unwrap().len() + harness.errors.lock().unwrap().len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no answer from the Lambda within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_lambda_binary_runs_a_plan_and_records_every_check() {
    let clickhouse_url = std::env::var("CLICKHOUSE_URL").expect(
        "CLICKHOUSE_URL must point at a running ClickHouse: run the tests with `./dev test`",
    );
    let database = format!("test_{}", Uuid::new_v4().simple());
    let analytics = Analytics::new(&clickhouse_url, &database).unwrap();
    analytics.migrate().await.unwrap();

    let targets = serve(Router::new().route("/ok", get(|| async { "fine" })).route(
        "/broken",
        get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "broken") }),
    ))
    .await;
    let harness = Arc::new(Harness::default());
    let tenant = Uuid::new_v4();
    let (ok_id, broken_id) = (Uuid::new_v4(), Uuid::new_v4());
    // The broken monitor is retried once: every attempt is its own row.
    let check = |id: Uuid, path: &str, retries: u8| PlannedCheck {
        monitor_id: id,
        tenant_id: tenant,
        spec: serde_json::from_value::<MonitorSpec>(json!({
            "type": "http", "url": format!("http://{targets}{path}"),
            "retries": retries, "retry_backoff_ms": 10,
        }))
        .unwrap(),
        last_status: None,
        report_always: false,
        due_at: None,
    };
    *harness.plan.lock().unwrap() = Some(WorkPlan {
        region: "eu-west-1".into(),
        generated_at: chrono::Utc::now(),
        checks: vec![check(ok_id, "/ok", 0), check(broken_id, "/broken", 1)],
    });
    for id in ["req-1", "req-2"] {
        harness.events.lock().unwrap().push_back((
            id.into(),
            json!({ "region": "eu-west-1", "shard": 0, "shards": 1 }),
        ));
    }
    let runtime = runtime_api(&harness).await;
    let mut child = start_lambda(runtime, &clickhouse_url, &database);
    wait_for_answers(&harness, 2).await;
    child.kill().await.ok();

    assert!(
        harness.errors.lock().unwrap().is_empty(),
        "{:?}",
        harness.errors.lock().unwrap()
    );
    assert_eq!(*harness.unsigned_requests.lock().unwrap(), 0);
    let responses = harness.responses.lock().unwrap().clone();
    for (id, body) in &responses {
        let summary: RunSummary = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(
            (
                summary.checks,
                summary.up,
                summary.down,
                summary.stored,
                summary.retries
            ),
            (2, 1, 1, 3, 1),
            "{id}: {summary:?}"
        );
        assert_eq!(summary.region, "eu-west-1");
    }
    // The broken monitor takes the fast path on both runs (the plan says nothing about its last status).
    let reports = harness.reports.lock().unwrap().clone();
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(|r| r["results"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["monitor_id"] == broken_id.to_string())));

    let rows: Vec<(String, u16, bool, u32, u8)> = analytics
        .client()
        .query("SELECT toString(monitor_id), status_code, cold_start, ttfb_us, attempt FROM check_results ORDER BY checked_at")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        6,
        "two invocations x (one ok attempt + two broken attempts): {rows:?}"
    );
    assert_eq!(
        rows.iter().filter(|r| r.2).count(),
        3,
        "only the first invocation is a cold start"
    );
    let mut broken_attempts: Vec<u8> = rows
        .iter()
        .filter(|r| r.0 == broken_id.to_string())
        .map(|r| r.4)
        .collect();
    broken_attempts.sort();
    assert_eq!(broken_attempts, [1, 1, 2, 2]);
    assert!(rows
        .iter()
        .any(|r| r.0 == ok_id.to_string() && r.1 == 200 && r.3 > 0));
    assert!(rows
        .iter()
        .any(|r| r.0 == broken_id.to_string() && r.1 == 500));
    analytics.drop_database().await.unwrap();
}

/// A re-check event (what the API's `LambdaRecheck` invokes the function with) runs through the
/// same handler: the plan request names the monitors, and every result takes the fast path,
/// an unchanged up included.
#[tokio::test]
async fn the_lambda_binary_runs_a_recheck_event() {
    let clickhouse_url = std::env::var("CLICKHOUSE_URL").expect(
        "CLICKHOUSE_URL must point at a running ClickHouse: run the tests with `./dev test`",
    );
    let database = format!("test_{}", Uuid::new_v4().simple());
    let analytics = Analytics::new(&clickhouse_url, &database).unwrap();
    analytics.migrate().await.unwrap();
    let targets = serve(Router::new().route("/ok", get(|| async { "fine" }))).await;
    let harness = Arc::new(Harness::default());
    let (tenant, monitor) = (Uuid::new_v4(), Uuid::new_v4());
    *harness.plan.lock().unwrap() = Some(WorkPlan {
        region: "eu-west-1".into(),
        generated_at: chrono::Utc::now(),
        checks: vec![PlannedCheck {
            monitor_id: monitor,
            tenant_id: tenant,
            spec: serde_json::from_value::<MonitorSpec>(
                json!({ "type": "http", "url": format!("http://{targets}/ok") }),
            )
            .unwrap(),
            last_status: Some(checker::probe::CheckStatus::Up),
            report_always: true,
            due_at: None,
        }],
    });
    let event = checker::plan::CheckEvent::recheck("eu-west-1", vec![monitor]);
    harness
        .events
        .lock()
        .unwrap()
        .push_back(("req-recheck".into(), serde_json::to_value(&event).unwrap()));
    let runtime = runtime_api(&harness).await;
    let mut child = start_lambda(runtime, &clickhouse_url, &database);
    wait_for_answers(&harness, 1).await;
    child.kill().await.ok();

    assert!(
        harness.errors.lock().unwrap().is_empty(),
        "{:?}",
        harness.errors.lock().unwrap()
    );
    assert_eq!(*harness.unsigned_requests.lock().unwrap(), 0);
    let asked = harness.plan_requests.lock().unwrap().clone();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(
        asked[0].starts_with("/internal/v1/plan?region=eu-west-1&")
            && asked[0].ends_with(&format!("&recheck={monitor}")),
        "{asked:?}"
    );
    let (_, response) = harness.responses.lock().unwrap()[0].clone();
    let summary: RunSummary = serde_json::from_value(response).unwrap();
    assert_eq!(
        (summary.checks, summary.up, summary.reported),
        (1, 1, 1),
        "{summary:?}"
    );
    let reports = harness.reports.lock().unwrap().clone();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["results"][0]["monitor_id"], monitor.to_string());
    assert_eq!(reports[0]["results"][0]["status"], "up");
    let stored: u64 = analytics
        .client()
        .query("SELECT count() FROM check_results WHERE monitor_id = ?")
        .bind(monitor)
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(stored, 1);
    analytics.drop_database().await.unwrap();
}
