//! `LambdaRecheck` against a real moto server through the real AWS SDK: each region's re-check is
//! an asynchronous Invoke of the checker function of that region, with the re-check event as
//! payload.
//!
//! What the emulator can show: moto without Docker (`use_docker=false`) accepts an `Event`
//! invocation through the real Lambda REST API (202) and echoes the payload back. It does not
//! look the function up, nor tell regions apart, for Invoke; so a recording hop between the SDK
//! and moto reads what the client sent: the function's invocations path, the region the request
//! was signed for, the invocation type and the payload. What it cannot show: Lambda running the
//! function after the 202. The function itself is tested under a Lambda Runtime API harness
//! (`checker-lambda/tests/lambda_binary.rs`), re-check events included.
//!
//! Run with `./dev test`, or `source scripts/moto.sh && ensure_moto && cargo test -p api --test
//! recheck_lambda`. Fails (never skips) when `AWS_ENDPOINT_URL` is unset or nothing answers.

use api::engine::dispatch::{LambdaRecheck, Recheck, RecheckRequest};
use checker::plan::{CheckEvent, MAX_RECHECK_MONITORS};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

use infra::testing::moto;

/// One request the SDK sent on its way to moto.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    /// The region the request was signed for (the SigV4 credential scope).
    region: String,
    invocation_type: String,
    body: Value,
}

/// A loopback hop between the SDK and moto that records each request and passes it on, moto's
/// answer included: moto's Lambda without Docker answers any Invoke alike (it looks up neither
/// the function nor the region), so what reached the emulator is read here.
async fn recording_proxy(moto: String) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let http = reqwest::Client::new();
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let (http, moto, record) = (http.clone(), moto.clone(), record.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            let header = |name: &str| {
                parts
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            // `AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/lambda/aws4_request, ...`
            let region = header("authorization")
                .split("Credential=")
                .nth(1)
                .and_then(|c| c.split('/').nth(2))
                .unwrap_or_default()
                .to_owned();
            record.lock().unwrap().push(Seen {
                path: parts.uri.path().to_owned(),
                region,
                invocation_type: header("x-amz-invocation-type"),
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            });
            let mut forward = http.request(
                parts.method.clone(),
                format!("{moto}{}", parts.uri.path_and_query().unwrap()),
            );
            for (name, value) in &parts.headers {
                if name != axum::http::header::HOST {
                    forward = forward.header(name, value);
                }
            }
            let answer = forward.body(body).send().await.unwrap();
            let mut response = axum::http::Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                response = response.header(name, value);
            }
            response
                .body(axum::body::Body::from(answer.bytes().await.unwrap()))
                .unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn rechecks_invoke_the_checker_of_each_region_with_the_event() {
    let (endpoint, seen) = recording_proxy(moto().await).await;
    let function = format!("sp-recheck-{}", Uuid::new_v4().simple());
    let regions: Vec<String> = ["eu-west-1", "us-east-2", "ap-south-1"]
        .map(String::from)
        .to_vec();
    let dispatch = LambdaRecheck::new(&regions, &function, Some(&endpoint)).await;
    assert_eq!(dispatch.function_name(), function);
    let invocations = format!("/2015-03-31/functions/{function}/invocations");

    // One Invoke: the function's invocations of the event's region, asynchronous, the event as
    // payload; moto queues it (202) and echoes the payload the function would receive.
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let event = CheckEvent::recheck("us-east-2", vec![a, b]);
    let invoked = dispatch.invoke(&event).await.expect("invoked in us-east-2");
    assert_eq!(invoked.status_code, 202);
    let expected = json!({ "region": "us-east-2", "shard": 0, "shards": 1, "recheck": [a, b] });
    let sent = seen.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        (
            sent[0].path.as_str(),
            sent[0].region.as_str(),
            sent[0].invocation_type.as_str()
        ),
        (invocations.as_str(), "us-east-2", "Event")
    );
    assert_eq!(sent[0].body, expected);
    let echoed: Value = serde_json::from_slice(&invoked.payload).expect("the echoed payload");
    assert_eq!(echoed, expected);
    assert_eq!(
        serde_json::from_value::<CheckEvent>(echoed).unwrap(),
        event,
        "the Lambda reads back the same event"
    );

    // Through the interface: one Invoke per region and event (a long list split in two), each
    // signed for its own region; a region without a client is reported and stops nobody.
    seen.lock().unwrap().clear();
    let many: Vec<Uuid> = (0..MAX_RECHECK_MONITORS + 1)
        .map(|_| Uuid::new_v4())
        .collect();
    let request = |region: &str, monitor_ids: Vec<Uuid>| RecheckRequest {
        region: region.into(),
        monitor_ids,
    };
    let errors = dispatch
        .recheck(vec![
            request("eu-west-1", many.clone()),
            request("ap-south-1", vec![a]),
            request("sa-east-1", vec![a]),
        ])
        .await;
    let failed: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.region.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(failed, [("sa-east-1", "not a region of CHECKER_REGIONS")]);
    let mut sizes: Vec<(String, usize)> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(
                (s.path.as_str(), s.invocation_type.as_str()),
                (invocations.as_str(), "Event")
            );
            assert_eq!(
                s.body["region"].as_str(),
                Some(s.region.as_str()),
                "signed for the event's region"
            );
            (
                s.region.clone(),
                s.body["recheck"].as_array().unwrap().len(),
            )
        })
        .collect();
    sizes.sort();
    let sizes: Vec<(&str, usize)> = sizes.iter().map(|(r, n)| (r.as_str(), *n)).collect();
    assert_eq!(
        sizes,
        [
            ("ap-south-1", 1),
            ("eu-west-1", 1),
            ("eu-west-1", MAX_RECHECK_MONITORS)
        ]
    );
}

/// An endpoint that does not answer fails the dispatch of that region, naming it, within the
/// Invoke's time budget.
#[tokio::test]
async fn an_unreachable_lambda_endpoint_is_reported_per_region() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let dispatch = LambdaRecheck::new(
        &["eu-west-1".to_owned()],
        "statuspage-checker",
        Some(&closed),
    )
    .await;
    let started = std::time::Instant::now();
    let errors = dispatch
        .recheck(vec![RecheckRequest {
            region: "eu-west-1".into(),
            monitor_ids: vec![Uuid::new_v4()],
        }])
        .await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].region, "eu-west-1");
    assert!(
        errors[0].reason.contains("Invoke statuspage-checker"),
        "{}",
        errors[0].reason
    );
    assert!(started.elapsed() <= api::engine::dispatch::INVOKE_TIMEOUT + Duration::from_secs(2));
}
