//! The probe against real servers on 127.0.0.1 (plain HTTP, HTTPS with HTTP/2 and HTTP/1.1, raw
//! TCP), with the SSRF guard on and only 127.0.0.0/8 allowlisted.

use bytes::Bytes;
use checker::guard::{parse_allowlist, SsrfGuard};
use checker::probe::{CheckOutcome, CheckStatus, Prober, USER_AGENT};
use checker::spec::{Header, HttpSpec, MonitorSpec, StatusRange, TcpSpec};
use chrono::TimeZone;
use http::{Request, Response, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// What the test server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    version: Version,
    /// `Host` header, or the URI authority for HTTP/2.
    authority: Option<String>,
    headers: http::HeaderMap,
    body: Bytes,
}

struct TestServer {
    addr: SocketAddr,
    /// Accepted TCP connections: a refused check must leave this at 0.
    connections: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port())
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

type Body = BoxBody<Bytes, Infallible>;

fn text(status: u16, body: &'static str) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::from_static(body.as_bytes())).boxed())
        .unwrap()
}

async fn handle(
    req: Request<Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> Result<Response<Body>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let authority = parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()));
    seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        version: parts.version,
        authority,
        headers: parts.headers.clone(),
        body,
    });
    Ok(match parts.uri.path() {
        "/ok" => text(200, "hello"),
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(50)).await;
            text(200, "slow")
        }
        "/status/500" => text(500, "boom"),
        "/hang" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            text(200, "late")
        }
        "/big" => Response::new(Full::new(Bytes::from(vec![b'x'; 100_000])).boxed()),
        "/slow-body" => {
            let chunks = futures::stream::unfold(0u8, |i| async move {
                if i == 2 {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
                Some((
                    Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"chunk"))),
                    i + 1,
                ))
            });
            Response::new(BodyExt::boxed(StreamBody::new(chunks)))
        }
        _ => text(404, "not found"),
    })
}

async fn start_server(tls: Option<Arc<rustls::ServerConfig>>) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (count, log) = (connections.clone(), seen.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            let _ = stream.set_nodelay(true);
            let (log, tls) = (log.clone(), tls.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(req, log.clone()));
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                match tls {
                    Some(config) => {
                        let Ok(stream) =
                            tokio_rustls::TlsAcceptor::from(config).accept(stream).await
                        else {
                            return;
                        };
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                    None => {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
            });
        }
    });
    TestServer {
        addr,
        connections,
        seen,
        task,
    }
}

/// A test CA and a `localhost` leaf (notAfter 2030-01-02) signed by it.
struct TestPki {
    ca: CertificateDer<'static>,
    leaf: CertificateDer<'static>,
    leaf_key: Vec<u8>,
}

fn test_pki() -> TestPki {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "checker test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let mut leaf_params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    leaf_params.not_after = rcgen::date_time_ymd(2030, 1, 2);
    let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();
    TestPki {
        ca: ca.der().clone(),
        leaf: leaf.der().clone(),
        leaf_key: leaf_key.serialize_der(),
    }
}

fn server_tls(pki: &TestPki, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![pki.leaf.clone(), pki.ca.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.leaf_key.clone())),
        )
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

fn loopback_guard() -> SsrfGuard {
    SsrfGuard::new(parse_allowlist("127.0.0.0/8").unwrap())
}

fn prober() -> Prober {
    Prober::new(loopback_guard())
}

fn get(url: String) -> MonitorSpec {
    MonitorSpec::Http(HttpSpec::get(url))
}

fn http(url: String, edit: impl FnOnce(&mut HttpSpec)) -> MonitorSpec {
    let mut spec = HttpSpec::get(url);
    edit(&mut spec);
    MonitorSpec::Http(spec)
}

fn tcp(host: &str, port: u16) -> MonitorSpec {
    MonitorSpec::Tcp(TcpSpec {
        timeout_ms: 2_000,
        ..TcpSpec::new(host, port)
    })
}

/// A port with nothing listening on it.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

fn assert_phases_add_up(outcome: &CheckOutcome) {
    let t = &outcome.timings;
    let sum = t.phases_sum_us();
    assert!(
        sum <= u64::from(t.total_us),
        "phases {sum} µs exceed total: {t:?}"
    );
    assert!(
        u64::from(t.total_us) - sum < 5_000,
        "phases {sum} µs far below total: {t:?}"
    );
}

#[tokio::test]
async fn ok_endpoint_is_up_with_phase_timings() {
    let server = start_server(None).await;
    let outcome = prober().check(&get(server.url("/ok"))).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.status_code, Some(200));
    assert_eq!(outcome.resolved_ip, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(outcome.http_version.as_deref(), Some("HTTP/1.1"));
    assert_eq!(outcome.response_bytes, 5);
    assert_eq!((outcome.redirects, outcome.attempt), (0, 1));
    assert_eq!(
        (
            &outcome.tls_version,
            &outcome.tls_cipher,
            outcome.cert_expires_at
        ),
        (&None, &None, None)
    );
    let t = &outcome.timings;
    assert_eq!(t.dns_us, 0, "an IP literal needs no DNS");
    assert!(t.tcp_connect_us > 0, "{t:?}");
    assert_eq!(t.tls_handshake_us, 0);
    assert!(t.ttfb_us > 0, "{t:?}");
    assert!(t.total_us > 0, "{t:?}");
    assert_phases_add_up(&outcome);

    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path, "/ok");
    assert_eq!(seen[0].version, Version::HTTP_11);
    assert_eq!(
        seen[0].authority,
        Some(format!("127.0.0.1:{}", server.port()))
    );
    assert_eq!(seen[0].headers[http::header::USER_AGENT], USER_AGENT);
}

#[tokio::test]
async fn host_names_are_resolved_and_pinned_to_an_allowed_address() {
    let server = start_server(None).await;
    let url = format!("http://localhost:{}/ok", server.port());
    let outcome = prober().check(&get(url)).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert!(outcome.timings.dns_us > 0, "{:?}", outcome.timings);
    assert_eq!(outcome.resolved_ip, Some("127.0.0.1".parse().unwrap()));
    assert_phases_add_up(&outcome);
    assert_eq!(
        server.seen()[0].authority,
        Some(format!("localhost:{}", server.port()))
    );
}

#[tokio::test]
async fn slow_response_shows_in_ttfb() {
    let server = start_server(None).await;
    let outcome = prober().check(&get(server.url("/slow"))).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert!(outcome.timings.ttfb_us >= 50_000, "{:?}", outcome.timings);
    assert_phases_add_up(&outcome);
}

#[tokio::test]
async fn slow_body_shows_in_transfer() {
    let server = start_server(None).await;
    let outcome = prober().check(&get(server.url("/slow-body"))).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert_eq!(outcome.response_bytes, 10);
    // Two 30 ms pauses after the head: at least 60 ms from request to the body's end, and at
    // least one whole pause after the head arrived (a loaded machine may deliver the head late).
    let t = &outcome.timings;
    assert!(t.ttfb_us + t.transfer_us >= 60_000, "{t:?}");
    assert!(t.transfer_us >= 30_000, "{t:?}");
    assert_phases_add_up(&outcome);
}

#[tokio::test]
async fn large_bodies_are_counted() {
    let server = start_server(None).await;
    let outcome = prober().check(&get(server.url("/big"))).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert_eq!(outcome.response_bytes, 100_000);
}

#[tokio::test]
async fn unexpected_status_is_down_with_the_reason() {
    let server = start_server(None).await;
    let outcome = prober().check(&get(server.url("/status/500"))).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(outcome.status_code, Some(500));
    assert_eq!(
        outcome.error.as_deref(),
        Some("expected status 200-399, got 500")
    );
    assert_eq!(
        outcome.response_bytes, 4,
        "the body is still read and timed"
    );

    let not_found = prober().check(&get(server.url("/missing"))).await;
    assert_eq!(
        not_found.error.as_deref(),
        Some("expected status 200-399, got 404")
    );

    let spec = http(server.url("/status/500"), |s| {
        s.expected_status = vec![StatusRange::new(200, 299), StatusRange::single(500)]
    });
    let expected = prober().check(&spec).await;
    assert_eq!(expected.status, CheckStatus::Up, "{expected:?}");

    let spec = http(server.url("/ok"), |s| {
        s.expected_status = vec![StatusRange::single(204)]
    });
    let outcome = prober().check(&spec).await;
    assert_eq!(
        outcome.error.as_deref(),
        Some("expected status 204, got 200")
    );
}

#[tokio::test]
async fn method_headers_and_body_are_sent() {
    let server = start_server(None).await;
    let spec = http(server.url("/ok?x=1"), |s| {
        s.method = "POST".into();
        s.headers = vec![
            Header {
                name: "X-Check".into(),
                value: "yes".into(),
                secret: false,
            },
            Header {
                name: "user-agent".into(),
                value: "custom/1".into(),
                secret: false,
            },
        ];
        s.body = Some(r#"{"ping":true}"#.into());
    });
    let outcome = prober().check(&spec).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    let head = http(server.url("/ok"), |s| s.method = "HEAD".into());
    let head_outcome = prober().check(&head).await;
    assert_eq!(head_outcome.status, CheckStatus::Up, "{head_outcome:?}");
    assert_eq!(head_outcome.response_bytes, 0);

    let seen = server.seen();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/ok?x=1");
    assert_eq!(seen[0].headers["x-check"], "yes");
    assert_eq!(seen[0].headers[http::header::USER_AGENT], "custom/1");
    assert_eq!(seen[0].body, Bytes::from_static(br#"{"ping":true}"#));
    assert_eq!(seen[1].method, "HEAD");
}

#[tokio::test]
async fn slow_but_successful_checks_are_degraded() {
    let server = start_server(None).await;
    let spec = http(server.url("/slow"), |s| s.degraded_above_ms = Some(10));
    let outcome = prober().check(&spec).await;
    assert_eq!(outcome.status, CheckStatus::Degraded, "{outcome:?}");
    assert_eq!(outcome.status_code, Some(200));
    let error = outcome.error.unwrap();
    assert!(
        error.ends_with("above the degraded threshold of 10 ms"),
        "{error}"
    );

    let spec = http(server.url("/ok"), |s| s.degraded_above_ms = Some(5_000));
    assert_eq!(prober().check(&spec).await.status, CheckStatus::Up);
}

#[tokio::test]
async fn closed_port_is_down_with_the_connect_error() {
    let port = closed_port().await;
    let outcome = prober()
        .check(&get(format!("http://127.0.0.1:{port}/")))
        .await;
    assert_eq!(outcome.status, CheckStatus::Down);
    let error = outcome.error.unwrap();
    assert!(
        error.starts_with(&format!("tcp connect to 127.0.0.1:{port} failed: ")),
        "{error}"
    );
    assert_eq!(outcome.status_code, None);
    assert_eq!(outcome.timings.tcp_connect_us, 0);
    assert_eq!(outcome.resolved_ip, Some("127.0.0.1".parse().unwrap()));
}

#[tokio::test]
async fn hanging_server_times_out() {
    let server = start_server(None).await;
    let spec = http(server.url("/hang"), |s| s.timeout_ms = 300);
    let started = Instant::now();
    let outcome = prober().check(&spec).await;
    let wall = started.elapsed();
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(
        outcome.error.as_deref(),
        Some("timed out after 300 ms during waiting for response")
    );
    assert!(outcome.timings.total_us >= 300_000, "{:?}", outcome.timings);
    assert!(wall < Duration::from_secs(5), "{wall:?}");
    // Phases finished before the timeout are kept.
    assert!(outcome.timings.tcp_connect_us > 0);
    assert_eq!(outcome.timings.ttfb_us, 0);
}

#[tokio::test]
async fn strict_guard_never_connects_to_loopback() {
    let server = start_server(None).await;
    let strict = Prober::new(SsrfGuard::strict());

    let outcome = strict.check(&get(server.url("/ok"))).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(
        outcome.error.as_deref(),
        Some("refused to connect to 127.0.0.1: loopback address (127.0.0.0/8), not allowed for checks")
    );
    assert_eq!(outcome.resolved_ip, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(outcome.timings.tcp_connect_us, 0);

    let by_name = strict
        .check(&get(format!("http://localhost:{}/ok", server.port())))
        .await;
    assert_eq!(by_name.status, CheckStatus::Down);
    let error = by_name.error.unwrap();
    assert!(
        error.starts_with("localhost resolves only to addresses checks may not reach: loopback"),
        "{error}"
    );
    // Where a name points is not told, even to the tenant.
    assert!(!error.contains("127.0.0.1"), "{error}");
    assert_eq!(by_name.resolved_ip, None);

    let mapped = strict
        .check(&get(format!(
            "http://[::ffff:127.0.0.1]:{}/ok",
            server.port()
        )))
        .await;
    assert_eq!(mapped.status, CheckStatus::Down);
    assert!(mapped
        .error
        .unwrap()
        .contains("IPv4-mapped form of 127.0.0.1"));

    let decimal = strict
        .check(&get(format!("http://2130706433:{}/ok", server.port())))
        .await;
    assert_eq!(decimal.status, CheckStatus::Down);

    let tcp_outcome = strict.check(&tcp("127.0.0.1", server.port())).await;
    assert_eq!(tcp_outcome.status, CheckStatus::Down);

    // Give a connection that should not exist a moment to show up.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.connections.load(Ordering::SeqCst), 0);
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn invalid_specs_are_down_without_connecting() {
    let outcome = prober().check(&get("ftp://127.0.0.1/".into())).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(
        outcome.error.as_deref(),
        Some("invalid monitor spec: url: scheme must be http or https, got \"ftp\"")
    );
    assert_eq!(outcome.timings.tcp_connect_us, 0);
}

#[tokio::test]
async fn tcp_checks_connect_only() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = tokio::spawn(async move { listener.accept().await.is_ok() });
    let outcome = prober().check(&tcp("127.0.0.1", port)).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert!(outcome.timings.tcp_connect_us > 0);
    assert_eq!(outcome.status_code, None);
    assert_eq!(outcome.http_version, None);
    assert_phases_add_up(&outcome);
    assert!(accepted.await.unwrap());

    let outcome = prober().check(&tcp("localhost", closed_port().await)).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert!(outcome.timings.dns_us > 0);
    assert!(outcome
        .error
        .unwrap()
        .starts_with("tcp connect to 127.0.0.1:"));
}

#[tokio::test]
async fn https_with_http2() {
    let pki = test_pki();
    let server = start_server(Some(server_tls(&pki, &[b"h2", b"http/1.1"]))).await;
    let prober = Prober::with_extra_roots(loopback_guard(), vec![pki.ca.clone()]);
    let url = format!("https://localhost:{}/ok", server.port());
    let outcome = prober.check(&get(url)).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert_eq!(outcome.status_code, Some(200));
    assert_eq!(outcome.http_version.as_deref(), Some("HTTP/2"));
    assert_eq!(outcome.tls_version.as_deref(), Some("TLSv1_3"));
    let cipher = outcome.tls_cipher.clone().unwrap();
    assert!(cipher.starts_with("TLS13_"), "{cipher}");
    assert_eq!(
        outcome.cert_expires_at,
        Some(chrono::Utc.with_ymd_and_hms(2030, 1, 2, 0, 0, 0).unwrap())
    );
    assert_eq!(outcome.response_bytes, 5);
    let t = &outcome.timings;
    assert!(
        t.dns_us > 0 && t.tcp_connect_us > 0 && t.tls_handshake_us > 0 && t.ttfb_us > 0,
        "{t:?}"
    );
    assert_phases_add_up(&outcome);

    // The HTTP/2 connection stays up while a slow body streams.
    let url = format!("https://localhost:{}/slow-body", server.port());
    let slow = prober.check(&get(url)).await;
    assert_eq!(slow.status, CheckStatus::Up, "{slow:?}");
    assert_eq!(slow.http_version.as_deref(), Some("HTTP/2"));
    assert_eq!(slow.response_bytes, 10);
    // The server's two 30 ms pauses start once it has sent the head, so the client sees at
    // least 60 ms from its request to the body's end (a loaded machine may deliver the head late,
    // moving part of that time from transfer into ttfb).
    assert!(
        slow.timings.ttfb_us + slow.timings.transfer_us >= 60_000,
        "{:?}",
        slow.timings
    );
    assert!(slow.timings.transfer_us >= 30_000, "{:?}", slow.timings);

    let seen = server.seen();
    assert_eq!(seen[0].version, Version::HTTP_2);
    assert_eq!(
        seen[0].authority,
        Some(format!("localhost:{}", server.port()))
    );
    assert_eq!(seen[0].path, "/ok");
}

#[tokio::test]
async fn https_with_http1_when_the_server_offers_only_that() {
    let pki = test_pki();
    let server = start_server(Some(server_tls(&pki, &[b"http/1.1"]))).await;
    let prober = Prober::with_extra_roots(loopback_guard(), vec![pki.ca.clone()]);
    let url = format!("https://localhost:{}/slow", server.port());
    let outcome = prober.check(&get(url)).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert_eq!(outcome.http_version.as_deref(), Some("HTTP/1.1"));
    assert!(outcome.timings.tls_handshake_us > 0);
    assert!(outcome.timings.ttfb_us >= 50_000);
    assert_eq!(server.seen()[0].version, Version::HTTP_11);
}

#[tokio::test]
async fn untrusted_certificates_are_down() {
    let pki = test_pki();
    let server = start_server(Some(server_tls(&pki, &[b"h2"]))).await;
    let url = format!("https://localhost:{}/ok", server.port());
    let outcome = prober().check(&get(url)).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    let error = outcome.error.unwrap();
    assert!(
        error.starts_with("tls handshake with localhost failed: invalid peer certificate"),
        "{error}"
    );
    assert_eq!(outcome.timings.tls_handshake_us, 0);
    assert!(outcome.timings.tcp_connect_us > 0);
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn a_certificate_for_another_name_is_down() {
    let pki = test_pki();
    let server = start_server(Some(server_tls(&pki, &[b"h2"]))).await;
    let prober = Prober::with_extra_roots(loopback_guard(), vec![pki.ca.clone()]);
    // The certificate is for "localhost", not for the IP address.
    let outcome = prober
        .check(&get(format!("https://127.0.0.1:{}/ok", server.port())))
        .await;
    assert_eq!(outcome.status, CheckStatus::Down);
    let error = outcome.error.unwrap();
    assert!(
        error.starts_with("tls handshake with 127.0.0.1 failed: "),
        "{error}"
    );
}

#[test]
fn strict_guard_table() {
    let guard = SsrfGuard::strict();
    for refused in [
        "127.0.0.1",
        "10.0.0.1",
        "169.254.169.254",
        "::1",
        "::ffff:127.0.0.1",
        "fd00::1",
        "100.64.0.1",
    ] {
        let err = guard.check(refused.parse().unwrap()).unwrap_err();
        assert!(err.to_string().contains(refused), "{err}");
    }
    for allowed in ["1.1.1.1", "2606:4700::1111"] {
        assert_eq!(guard.check(allowed.parse().unwrap()), Ok(()), "{allowed}");
    }
}
