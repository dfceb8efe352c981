//! Redirects, assertions, retries, DNS and TLS certificate checks against real servers on
//! loopback (HTTP, HTTPS with a test CA, and a UDP DNS server started here), plus a whole run
//! storing one row per attempt.

use bytes::Bytes;
use checker::guard::{parse_allowlist, SsrfGuard};
use checker::plan::{CheckEvent, FastPathReport, PlannedCheck, WorkPlan};
use checker::probe::{CheckStatus, Prober};
use checker::run::{run_checks, BoxError, FastPath, PlanSource, ResultStore, RunOptions};
use checker::spec::{
    Assertion, DnsRcode, DnsRecordType, DnsSpec, HeaderOp, HttpSpec, MonitorSpec, TlsSpec,
};
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use statuspage_clickhouse::{CheckRow, STATUS_DOWN, STATUS_UP};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, UdpSocket};
use uuid::Uuid;

struct Server {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn reply(status: u16, headers: &[(&str, String)], body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    builder.body(Full::new(body.into())).unwrap()
}

async fn route(req: Request<Incoming>, hits: Arc<AtomicUsize>) -> Response<Full<Bytes>> {
    let n = hits.fetch_add(1, Ordering::SeqCst);
    let path = req.uri().path().to_owned();
    let method = req.method().to_string();
    let location = |to: &str| vec![("location", to.to_owned())];
    if let Some(rest) = path.strip_prefix("/redirect/") {
        let left: u32 = rest.parse().unwrap_or(0);
        return if left == 0 {
            reply(302, &location("/json"), "")
        } else {
            reply(302, &location(&format!("/redirect/{}", left - 1)), "")
        };
    }
    match path.as_str() {
        "/json" => reply(
            200,
            &[("content-type", "application/json".into())],
            r#"{"status":"ok","latency":12.5,"checks":[{"name":"db","up":true}]}"#,
        ),
        "/loop" => reply(302, &location("/loop"), ""),
        "/slow" => {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            reply(200, &[], "slow")
        }
        "/metadata" => reply(
            302,
            &location("http://169.254.169.254/latest/meta-data/"),
            "",
        ),
        "/other-loopback" => {
            let port = req.uri().query().unwrap_or("0").to_owned();
            reply(302, &location(&format!("http://127.0.0.2:{port}/json")), "")
        }
        "/see-other" => reply(303, &location("/method"), ""),
        "/method" => reply(200, &[], method),
        // 503 for the first two requests, then 200.
        "/flaky" if n < 2 => reply(503, &[], "not yet"),
        "/flaky" => reply(200, &[], "ok now"),
        _ => reply(404, &[], "not found"),
    }
}

async fn start(tls: Option<Arc<rustls::ServerConfig>>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (tls, hits) = (tls.clone(), counter.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let hits = hits.clone();
                    async move { Ok::<_, Infallible>(route(req, hits).await) }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                match tls {
                    Some(config) => {
                        if let Ok(stream) =
                            tokio_rustls::TlsAcceptor::from(config).accept(stream).await
                        {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
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
    Server { addr, hits, task }
}

struct Pki {
    ca: CertificateDer<'static>,
    config: Arc<rustls::ServerConfig>,
}

/// A test CA and a `localhost` leaf signed by it, expiring `days` from now.
fn pki(days: i64) -> Pki {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "checks test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    // Midnight of the day after `now + days`: between `days` and `days + 1` days away.
    let expires = chrono::Utc::now() + chrono::Duration::days(days + 1);
    use chrono::Datelike;
    params.not_after =
        rcgen::date_time_ymd(expires.year(), expires.month() as u8, expires.day() as u8);
    let leaf = params.signed_by(&key, &ca).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone(), ca.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .unwrap();
    Pki {
        ca: ca.der().clone(),
        config: Arc::new(config),
    }
}

fn guard(cidrs: &str) -> SsrfGuard {
    SsrfGuard::new(parse_allowlist(cidrs).unwrap())
}

fn prober() -> Prober {
    Prober::new(guard("127.0.0.0/8,::1/128"))
}

fn http(url: String, edit: impl FnOnce(&mut HttpSpec)) -> MonitorSpec {
    let mut spec = HttpSpec::get(url);
    spec.timeout_ms = 5_000;
    edit(&mut spec);
    MonitorSpec::Http(spec)
}

#[tokio::test]
async fn redirects_are_not_followed_unless_asked() {
    let server = start(None).await;
    let url = format!("http://{}/redirect/2", server.addr);
    let outcome = prober().check(&http(url.clone(), |_| {})).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert_eq!((outcome.status_code, outcome.redirects), (Some(302), 0));
    assert_eq!(outcome.hops.len(), 1);

    let outcome = prober()
        .check(&http(url.clone(), |s| s.follow_redirects = true))
        .await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert_eq!((outcome.status_code, outcome.redirects), (Some(200), 3));
    let urls: Vec<&str> = outcome.hops.iter().map(|h| h.url.as_str()).collect();
    let base = format!("http://{}", server.addr);
    assert_eq!(
        urls,
        [
            url.as_str(),
            &format!("{base}/redirect/1"),
            &format!("{base}/redirect/0"),
            &format!("{base}/json"),
        ]
    );
    let codes: Vec<Option<u16>> = outcome.hops.iter().map(|h| h.status_code).collect();
    assert_eq!(codes, [Some(302), Some(302), Some(302), Some(200)]);
    // Every hop is a fresh connection with its own phases; the top level sums them.
    assert!(outcome
        .hops
        .iter()
        .all(|h| h.timings.tcp_connect_us > 0 && h.timings.ttfb_us > 0));
    let summed: u32 = outcome.hops.iter().map(|h| h.timings.ttfb_us).sum();
    assert_eq!(outcome.timings.ttfb_us, summed);
    assert!(outcome.timings.phases_sum_us() <= u64::from(outcome.timings.total_us));
    assert_eq!(server.hits.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn redirect_limits_and_targets_are_enforced() {
    let server = start(None).await;
    let outcome = prober()
        .check(&http(format!("http://{}/loop", server.addr), |s| {
            s.follow_redirects = true;
            s.max_redirects = 3;
        }))
        .await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(outcome.redirects, 3);
    assert_eq!(outcome.hops.len(), 4);
    assert!(outcome
        .error
        .as_deref()
        .unwrap()
        .starts_with("stopped after 3 redirects (max_redirects)"));

    // A redirect to the metadata service is refused by the guard, before any connection.
    let outcome = prober()
        .check(&http(format!("http://{}/metadata", server.addr), |s| {
            s.follow_redirects = true
        }))
        .await;
    assert_eq!(outcome.status, CheckStatus::Down);
    let error = outcome.error.unwrap();
    assert!(
        error.contains("refused to connect to 169.254.169.254") && error.contains("link-local"),
        "{error}"
    );
    assert_eq!(outcome.redirects, 1);

    // Only 127.0.0.1 is allowed: a redirect to another loopback address is refused.
    let outcome = Prober::new(guard("127.0.0.1/32"))
        .check(&http(
            format!(
                "http://{}/other-loopback?{}",
                server.addr,
                server.addr.port()
            ),
            |s| s.follow_redirects = true,
        ))
        .await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert!(outcome
        .error
        .unwrap()
        .starts_with("refused to connect to 127.0.0.2"));
}

#[tokio::test]
async fn see_other_continues_as_get() {
    let server = start(None).await;
    let outcome = prober()
        .check(&http(format!("http://{}/see-other", server.addr), |s| {
            s.method = "POST".into();
            s.body = Some("x".into());
            s.follow_redirects = true;
            s.assertions = vec![Assertion::BodyContains {
                value: "GET".into(),
            }];
        }))
        .await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert_eq!(outcome.redirects, 1);
}

#[tokio::test]
async fn assertions_pass_and_fail_with_expected_and_actual() {
    let server = start(None).await;
    let url = format!("http://{}/json", server.addr);
    let passing = vec![
        Assertion::Header {
            name: "Content-Type".into(),
            op: HeaderOp::Contains,
            value: Some("json".into()),
        },
        Assertion::BodyContains {
            value: "\"status\":\"ok\"".into(),
        },
        Assertion::BodyRegex {
            pattern: r#""latency":\d+\.\d"#.into(),
        },
        Assertion::parse_json_expr(r#"$.status == "ok""#).unwrap(),
        Assertion::parse_json_expr("$.latency < 100").unwrap(),
        Assertion::parse_json_expr("$.checks[0].up == true").unwrap(),
    ];
    let outcome = prober()
        .check(&http(url.clone(), |s| s.assertions = passing))
        .await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");

    let failing = vec![
        Assertion::Header {
            name: "x-version".into(),
            op: HeaderOp::Exists,
            value: None,
        },
        Assertion::parse_json_expr(r#"$.status == "degraded""#).unwrap(),
        Assertion::parse_json_expr("$.latency > 20").unwrap(),
    ];
    let outcome = prober().check(&http(url, |s| s.assertions = failing)).await;
    assert_eq!(outcome.status, CheckStatus::Down);
    assert_eq!(
        outcome.error.as_deref(),
        Some(
            r#"header x-version: expected to be present, got no such header; $.status: expected == "degraded", got "ok"; $.latency: expected > 20, got 12.5"#
        )
    );
}

#[tokio::test]
async fn latency_thresholds_mark_degraded_or_down() {
    let server = start(None).await;
    let url = format!("http://{}/slow", server.addr);
    let outcome = prober()
        .check(&http(url.clone(), |s| {
            s.degraded_above_ms = Some(10);
            s.down_above_ms = Some(4_000);
        }))
        .await;
    assert_eq!(outcome.status, CheckStatus::Degraded, "{outcome:?}");
    let error = outcome.error.unwrap();
    assert!(
        error.starts_with("took ") && error.ends_with(" ms, above the degraded threshold of 10 ms"),
        "{error}"
    );
    let outcome = prober()
        .check(&http(url, |s| {
            s.degraded_above_ms = Some(10);
            s.down_above_ms = Some(20);
        }))
        .await;
    assert_eq!(outcome.status, CheckStatus::Down, "{outcome:?}");
    assert!(outcome
        .error
        .unwrap()
        .ends_with(" ms, above the down threshold of 20 ms"));
}

#[tokio::test]
async fn retries_keep_every_attempt() {
    let server = start(None).await;
    let spec = http(format!("http://{}/flaky", server.addr), |s| {
        s.retries = 3;
        s.retry_backoff_ms = 20;
    });
    let started = std::time::Instant::now();
    let attempts = prober().check_with_retries(&spec).await;
    let numbers: Vec<u8> = attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, [1, 2, 3]);
    let statuses: Vec<CheckStatus> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses,
        [CheckStatus::Down, CheckStatus::Down, CheckStatus::Up]
    );
    assert_eq!(
        attempts[0].error.as_deref(),
        Some("expected status 200-399, got 503")
    );
    // Backoff 20 ms, then 40 ms.
    assert!(started.elapsed() >= std::time::Duration::from_millis(60));
    assert!(attempts[0].started_at < attempts[2].started_at);

    // Without retries: one attempt.
    let once = prober()
        .check_with_retries(&http(format!("http://{}/nope", server.addr), |_| {}))
        .await;
    assert_eq!(once.len(), 1);
}

#[tokio::test]
async fn tls_certificate_checks() {
    let fresh = pki(400);
    let server = start(Some(fresh.config.clone())).await;
    let port = server.addr.port();
    let trusting = Prober::with_extra_roots(guard("127.0.0.0/8,::1/128"), vec![fresh.ca.clone()]);
    let tls = |host: &str, warn: u32| {
        MonitorSpec::Tls(TlsSpec {
            port,
            expiry_warning_days: warn,
            timeout_ms: 5_000,
            ..TlsSpec::new(host)
        })
    };
    // `localhost` may resolve to ::1 first, where nothing listens: the next address is tried.
    let ok = trusting.check(&tls("localhost", 14)).await;
    assert_eq!(ok.status, CheckStatus::Up, "{ok:?}");
    assert_eq!(
        (ok.cert_chain_valid, ok.cert_hostname_match),
        (Some(true), Some(true))
    );
    let left = ok.cert_days_left.unwrap();
    assert!((399..=401).contains(&left), "{left}");
    assert!(ok.timings.tls_handshake_us > 0 && ok.tls_version.is_some());

    let near = trusting.check(&tls("localhost", 365)).await;
    assert_eq!(near.status, CheckStatus::Up, "400 days left > 365");

    // Host name mismatch: the certificate is for localhost only.
    let wrong = trusting.check(&tls("127.0.0.1", 14)).await;
    assert_eq!(wrong.status, CheckStatus::Down);
    assert_eq!(
        (wrong.cert_chain_valid, wrong.cert_hostname_match),
        (Some(true), Some(false))
    );
    assert!(wrong
        .error
        .unwrap()
        .starts_with("certificate is not valid for 127.0.0.1"));

    // Untrusted CA: the chain is invalid, the name still matches.
    let untrusted = prober().check(&tls("localhost", 14)).await;
    assert_eq!(untrusted.status, CheckStatus::Down);
    assert_eq!(
        (untrusted.cert_chain_valid, untrusted.cert_hostname_match),
        (Some(false), Some(true))
    );
    assert!(untrusted
        .error
        .unwrap()
        .starts_with("certificate chain is not valid"));

    // Expiring soon: degraded, for TLS monitors and for HTTPS checks with cert_expiry_days.
    let soon = pki(5);
    let server = start(Some(soon.config.clone())).await;
    let trusting = Prober::with_extra_roots(guard("127.0.0.0/8,::1/128"), vec![soon.ca.clone()]);
    let outcome = trusting
        .check(&MonitorSpec::Tls(TlsSpec {
            port: server.addr.port(),
            ..TlsSpec::new("localhost")
        }))
        .await;
    assert_eq!(outcome.status, CheckStatus::Degraded, "{outcome:?}");
    let error = outcome.error.unwrap();
    assert!(
        error.starts_with("certificate expires in 5 days (")
            && error.ends_with("within the 14-day warning window"),
        "{error}"
    );
    let outcome = trusting
        .check(&http(
            format!("https://localhost:{}/json", server.addr.port()),
            |s| s.cert_expiry_days = Some(30),
        ))
        .await;
    assert_eq!(outcome.status, CheckStatus::Degraded, "{outcome:?}");
    assert_eq!(outcome.cert_days_left, Some(5));
}

/// The answer to `query` from a fixed table. `big.test` TXT is truncated over UDP.
fn dns_answer(query: &[u8], over_tcp: bool) -> Vec<u8> {
    // Question: name labels from byte 12, then qtype, qclass.
    let mut at = 12;
    let mut labels = Vec::new();
    while query[at] != 0 {
        let l = query[at] as usize;
        labels.push(String::from_utf8_lossy(&query[at + 1..at + 1 + l]).to_lowercase());
        at += 1 + l;
    }
    let question_end = at + 5;
    let qtype = u16::from_be_bytes([query[at + 1], query[at + 2]]);
    let name = labels.join(".");
    let encode_name = |name: &str| {
        let mut out = Vec::new();
        for label in name.split('.') {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out
    };
    let txt = |text: &[u8]| {
        let mut rdata = Vec::new();
        for part in text.chunks(255) {
            rdata.push(part.len() as u8);
            rdata.extend_from_slice(part);
        }
        (16u16, rdata)
    };
    let mut rcode = 0u8;
    let mut truncated = false;
    let answers: Vec<(u16, Vec<u8>)> = match (name.as_str(), qtype) {
        ("example.test", 1) => vec![(1, vec![192, 0, 2, 1]), (1, vec![192, 0, 2, 2])],
        ("example.test", 28) => vec![(
            28,
            "2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
                .to_vec(),
        )],
        ("example.test", 15) => {
            let mut rdata = 10u16.to_be_bytes().to_vec();
            rdata.extend(encode_name("mail.example.test"));
            vec![(15, rdata)]
        }
        ("example.test", 16) => vec![txt(b"v=spf1 -all")],
        ("example.test", 2) => vec![
            (2, encode_name("ns1.example.test")),
            (2, encode_name("ns2.example.test")),
        ],
        ("www.example.test", 5) => vec![(5, encode_name("example.test"))],
        ("www.example.test", 1) => vec![(5, encode_name("example.test")), (1, vec![192, 0, 2, 1])],
        ("big.test", 16) if !over_tcp => {
            truncated = true;
            vec![]
        }
        ("big.test", 16) => vec![txt(&[b'k'; 600])],
        ("broken.test", _) => {
            rcode = 2;
            vec![]
        }
        _ => {
            rcode = 3;
            vec![]
        }
    };
    let mut response = query[..question_end].to_vec();
    response[2] = 0x81 | if truncated { 0x02 } else { 0 };
    response[3] = 0x80 | rcode;
    response[6..8].copy_from_slice(&(answers.len() as u16).to_be_bytes());
    for (rtype, rdata) in answers {
        response.extend_from_slice(&[0xc0, 12]);
        response.extend_from_slice(&rtype.to_be_bytes());
        response.extend_from_slice(&[0, 1, 0, 0, 1, 44]);
        response.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        response.extend_from_slice(&rdata);
    }
    response
}

/// A DNS server on loopback, UDP and TCP on the same port, answering from [`dns_answer`].
async fn dns_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A port free for both TCP and UDP (another test's connection may hold the TCP side).
    let (socket, tcp) = loop {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        if let Ok(socket) = UdpSocket::bind(tcp.local_addr().unwrap()).await {
            break (socket, tcp);
        }
    };
    let addr = socket.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let tcp_task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = tcp.accept().await {
                let mut len = [0u8; 2];
                if stream.read_exact(&mut len).await.is_err() {
                    continue;
                }
                let mut query = vec![0u8; u16::from_be_bytes(len) as usize];
                if stream.read_exact(&mut query).await.is_err() {
                    continue;
                }
                let answer = dns_answer(&query, true);
                let mut framed = (answer.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&answer);
                let _ = stream.write_all(&framed).await;
            }
        });
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(&dns_answer(&buf[..n], false), from).await;
        }
        tcp_task.abort();
    });
    (addr, task)
}

#[tokio::test]
async fn dns_checks_against_a_given_resolver() {
    let (resolver, task) = dns_server().await;
    let dns = |host: &str, record_type: DnsRecordType, expected: &[&str]| {
        MonitorSpec::Dns(DnsSpec {
            resolver: Some(resolver.to_string()),
            expected_answers: expected.iter().map(|s| s.to_string()).collect(),
            timeout_ms: 2_000,
            ..DnsSpec::new(host, record_type)
        })
    };
    let cases: Vec<(MonitorSpec, Vec<&str>)> = vec![
        (
            dns("example.test", DnsRecordType::A, &["192.0.2.2"]),
            vec!["192.0.2.1", "192.0.2.2"],
        ),
        (
            dns("example.test", DnsRecordType::Aaaa, &["2001:db8:0::1"]),
            vec!["2001:db8::1"],
        ),
        (
            dns(
                "example.test",
                DnsRecordType::Mx,
                &["10 MAIL.example.test."],
            ),
            vec!["10 mail.example.test"],
        ),
        (
            dns("example.test", DnsRecordType::Txt, &["v=spf1 -all"]),
            vec!["v=spf1 -all"],
        ),
        (
            dns("example.test", DnsRecordType::Ns, &["ns2.example.test"]),
            vec!["ns1.example.test", "ns2.example.test"],
        ),
        (
            dns("www.example.test", DnsRecordType::Cname, &["example.test"]),
            vec!["example.test"],
        ),
        // Truncated over UDP: asked again over TCP.
        (
            dns("big.test", DnsRecordType::Txt, &[]),
            vec![std::str::from_utf8(&[b'k'; 600]).unwrap()],
        ),
        // The CNAME in front of the A record is not an A answer.
        (
            dns("www.example.test", DnsRecordType::A, &[]),
            vec!["192.0.2.1"],
        ),
    ];
    let prober = prober();
    for (spec, answers) in cases {
        let outcome = prober.check(&spec).await;
        assert_eq!(outcome.status, CheckStatus::Up, "{spec:?}: {outcome:?}");
        assert_eq!(outcome.dns_answers, answers);
        assert_eq!(outcome.dns_rcode.as_deref(), Some("NOERROR"));
        assert_eq!(outcome.resolved_ip, Some(resolver.ip()));
        assert!(outcome.timings.dns_us > 0);
    }

    let wrong = prober
        .check(&dns("example.test", DnsRecordType::A, &["192.0.2.9"]))
        .await;
    assert_eq!(wrong.status, CheckStatus::Down);
    assert_eq!(
        wrong.error.as_deref(),
        Some(
            r#"A example.test: expected answers ["192.0.2.9"], missing ["192.0.2.9"], got ["192.0.2.1", "192.0.2.2"]"#
        )
    );
    let nx = prober
        .check(&dns("missing.test", DnsRecordType::A, &[]))
        .await;
    assert_eq!(
        nx.error.as_deref(),
        Some("A missing.test: expected rcode NOERROR, got NXDOMAIN")
    );
    let mut expect_nx = DnsSpec::new("missing.test", DnsRecordType::A);
    expect_nx.resolver = Some(resolver.to_string());
    expect_nx.expected_rcode = DnsRcode::NxDomain;
    let outcome = prober.check(&MonitorSpec::Dns(expect_nx)).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    let servfail = prober
        .check(&dns("broken.test", DnsRecordType::A, &[]))
        .await;
    assert_eq!(servfail.dns_rcode.as_deref(), Some("SERVFAIL"));

    // The resolver passes the guard too: loopback is refused by a strict prober.
    let strict = Prober::new(SsrfGuard::strict())
        .check(&dns("example.test", DnsRecordType::A, &[]))
        .await;
    assert_eq!(strict.status, CheckStatus::Down);
    assert!(strict
        .error
        .unwrap()
        .starts_with("refused to connect to 127.0.0.1"));

    // Nothing answers: the check times out in the dns phase.
    task.abort();
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut spec = DnsSpec::new("example.test", DnsRecordType::A);
    spec.resolver = Some(silent.local_addr().unwrap().to_string());
    spec.timeout_ms = 200;
    let outcome = prober.check(&MonitorSpec::Dns(spec)).await;
    assert_eq!(
        outcome.error.as_deref(),
        Some("timed out after 200 ms during dns resolution")
    );
}

struct OnePlan(WorkPlan);

impl PlanSource for OnePlan {
    async fn work_plan(&self, _event: &CheckEvent) -> Result<WorkPlan, BoxError> {
        Ok(self.0.clone())
    }
}

#[derive(Default)]
struct Sink {
    rows: Mutex<Vec<CheckRow>>,
    reports: Mutex<Vec<FastPathReport>>,
}

impl ResultStore for Sink {
    async fn store(&self, rows: &[CheckRow], _batch_token: &str) -> Result<(), BoxError> {
        self.rows.lock().unwrap().extend_from_slice(rows);
        Ok(())
    }
}

impl FastPath for Sink {
    async fn report(&self, report: &FastPathReport) -> Result<(), BoxError> {
        self.reports.lock().unwrap().push(report.clone());
        Ok(())
    }
}

#[tokio::test]
async fn a_run_stores_one_row_per_attempt() {
    let server = start(None).await;
    let monitor = Uuid::new_v4();
    let plan = WorkPlan {
        region: "local-eu".into(),
        generated_at: chrono::Utc::now(),
        checks: vec![PlannedCheck {
            monitor_id: monitor,
            tenant_id: Uuid::new_v4(),
            spec: http(format!("http://{}/flaky", server.addr), |s| {
                s.retries = 2;
                s.retry_backoff_ms = 5;
            }),
            last_status: Some(CheckStatus::Up),
            report_always: false,
            due_at: None,
        }],
    };
    let sink = Sink::default();
    let event = CheckEvent {
        region: "local-eu".into(),
        shard: 0,
        shards: 1,
        recheck: Vec::new(),
    };
    let mut options = RunOptions::new(Uuid::new_v4(), "token");
    options.cold_start = true;
    let summary = run_checks(&event, &prober(), &OnePlan(plan), &sink, &sink, &options)
        .await
        .unwrap();
    assert_eq!(
        (summary.checks, summary.up, summary.stored, summary.retries),
        (1, 1, 3, 2)
    );
    let rows = sink.rows.lock().unwrap().clone();
    let attempts: Vec<(u8, u16, bool)> = rows
        .iter()
        .map(|r| (r.attempt, r.status_code, r.cold_start))
        .collect();
    assert_eq!(attempts, [(1, 503, true), (2, 503, true), (3, 200, true)]);
    assert!(rows[0].checked_at < rows[2].checked_at);
    assert_eq!(rows[0].error, "expected status 200-399, got 503");
    // Up again, as last time: nothing for the fast path.
    assert!(sink.reports.lock().unwrap().is_empty());
}

/// A check planned with `report_always` (a re-check, or a monitor the engine does not hold
/// operational) reports its result even when it is up as last time; the same check without it
/// does not.
#[tokio::test]
async fn checks_marked_report_always_take_the_fast_path_when_up() {
    let server = start(None).await;
    let (always, changes_only) = (Uuid::new_v4(), Uuid::new_v4());
    let check = |monitor_id, report_always| PlannedCheck {
        monitor_id,
        tenant_id: Uuid::new_v4(),
        spec: http(format!("http://{}/json", server.addr), |_| {}),
        last_status: Some(CheckStatus::Up),
        report_always,
        due_at: None,
    };
    let plan = WorkPlan {
        region: "local-eu".into(),
        generated_at: chrono::Utc::now(),
        checks: vec![check(always, true), check(changes_only, false)],
    };
    let sink = Sink::default();
    let event = CheckEvent::recheck("local-eu", vec![always, changes_only]);
    let options = RunOptions::new(Uuid::new_v4(), "report-always");
    let summary = run_checks(&event, &prober(), &OnePlan(plan), &sink, &sink, &options)
        .await
        .unwrap();
    assert_eq!((summary.checks, summary.up, summary.reported), (2, 2, 1));
    let reported: Vec<(Uuid, CheckStatus)> = sink
        .reports
        .lock()
        .unwrap()
        .iter()
        .flat_map(|r| r.results.iter().map(|x| (x.monitor_id, x.status)))
        .collect();
    assert_eq!(reported, [(always, CheckStatus::Up)]);
}

/// Every stored batch with when it arrived.
#[derive(Default)]
struct TimedSink {
    started: Mutex<Option<std::time::Instant>>,
    batches: Mutex<Vec<(std::time::Duration, String, Vec<CheckRow>)>>,
    reports: Mutex<Vec<(std::time::Duration, FastPathReport)>>,
}

impl TimedSink {
    fn since_start(&self) -> std::time::Duration {
        self.started
            .lock()
            .unwrap()
            .get_or_insert_with(std::time::Instant::now)
            .elapsed()
    }
}

impl ResultStore for TimedSink {
    async fn store(&self, rows: &[CheckRow], batch_token: &str) -> Result<(), BoxError> {
        let at = self.since_start();
        self.batches
            .lock()
            .unwrap()
            .push((at, batch_token.to_owned(), rows.to_vec()));
        Ok(())
    }
}

impl FastPath for TimedSink {
    async fn report(&self, report: &FastPathReport) -> Result<(), BoxError> {
        let at = self.since_start();
        self.reports.lock().unwrap().push((at, report.clone()));
        Ok(())
    }
}

/// A TCP server that accepts connections and never answers.
async fn black_hole() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    (addr, task)
}

/// A black hole of one tenant cannot hold back another tenant's result: the healthy check is
/// stored and reported within about a second, and the black hole, still hanging at the run's
/// deadline, is recorded as a down attempt with a timeout, once, as the check's verdict.
#[tokio::test]
async fn a_black_hole_is_cut_off_at_the_deadline_without_delaying_others() {
    let server = start(None).await;
    let (hole, _hole_task) = black_hole().await;
    let (healthy, stuck) = (Uuid::new_v4(), Uuid::new_v4());
    let plan = WorkPlan {
        region: "local-eu".into(),
        generated_at: chrono::Utc::now(),
        checks: vec![
            PlannedCheck {
                monitor_id: stuck,
                tenant_id: Uuid::new_v4(),
                // 10 s per attempt, one retry: 20.2 s, within the budget but not the deadline.
                spec: http(format!("http://{hole}/"), |s| {
                    s.timeout_ms = 10_000;
                    s.retries = 1;
                }),
                last_status: Some(CheckStatus::Up),
                report_always: false,
                due_at: None,
            },
            PlannedCheck {
                monitor_id: healthy,
                tenant_id: Uuid::new_v4(),
                spec: http(format!("http://{}/json", server.addr), |_| {}),
                last_status: None,
                report_always: false,
                due_at: None,
            },
        ],
    };
    let sink = TimedSink::default();
    sink.since_start();
    let event = CheckEvent {
        region: "local-eu".into(),
        shard: 0,
        shards: 1,
        recheck: Vec::new(),
    };
    let mut options = RunOptions::new(Uuid::new_v4(), "deadline-run");
    options.deadline = Some(std::time::Instant::now() + std::time::Duration::from_secs(3));
    let summary = run_checks(&event, &prober(), &OnePlan(plan), &sink, &sink, &options)
        .await
        .unwrap();
    let took = sink.since_start();
    assert!(
        took < std::time::Duration::from_secs(5),
        "the run ends at its deadline, not after the black hole's 20 s: {took:?}"
    );
    assert_eq!(
        (
            summary.checks,
            summary.up,
            summary.down,
            summary.cut_off,
            summary.stored
        ),
        (2, 1, 1, 1, 2),
        "{summary:?}"
    );
    let batches = sink.batches.lock().unwrap();
    let (at, token, rows) = &batches[0];
    assert!(
        *at < std::time::Duration::from_millis(2_500),
        "the healthy result is stored before the deadline: {at:?}"
    );
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].monitor_id, rows[0].status), (healthy, STATUS_UP));
    assert!(rows[0].final_attempt);
    assert!(token.starts_with("deadline-run#"), "{token}");
    let cut: Vec<&CheckRow> = batches
        .iter()
        .flat_map(|(_, _, rows)| rows)
        .filter(|r| r.monitor_id == stuck)
        .collect();
    assert_eq!(cut.len(), 1, "one row for the cut-off check: {cut:?}");
    assert_eq!((cut[0].status, cut[0].attempt), (STATUS_DOWN, 1));
    assert!(
        cut[0].final_attempt,
        "the timeout row is the check's verdict"
    );
    assert!(
        cut[0].error.starts_with("timed out after") && cut[0].error.contains("deadline"),
        "{}",
        cut[0].error
    );
    assert!(cut[0].total_us >= 2_500_000, "{}", cut[0].total_us);
    assert!(cut[0].scheduled_at <= cut[0].checked_at);
    // The healthy check's change of state went to the fast path before the deadline too.
    let reports = sink.reports.lock().unwrap();
    assert!(reports[0].0 < std::time::Duration::from_millis(2_500));
    assert_eq!(reports[0].1.results[0].monitor_id, healthy);
    assert!(reports.iter().any(|(_, r)| r
        .results
        .iter()
        .any(|x| x.monitor_id == stuck && x.status == CheckStatus::Down)));
}

#[test]
fn new_fields_validate_with_field_paths() {
    let spec: MonitorSpec = serde_json::from_value(serde_json::json!({
        "type": "http", "url": "http://example.com", "max_redirects": 0, "retries": 9,
        "retry_backoff_ms": 20000, "down_above_ms": 50000, "timeout_ms": 1000,
        "cert_expiry_days": 10,
        "assertions": [
            {"kind": "header", "name": "bad name"},
            {"kind": "header", "name": "x", "op": "equals"},
            {"kind": "body_regex", "pattern": "("},
            {"kind": "json_path", "path": "status", "op": "==", "value": 1},
            {"kind": "json_path", "path": "$.n", "op": "<", "value": "ten"}
        ]
    }))
    .unwrap();
    let fields: Vec<String> = spec
        .validate()
        .unwrap_err()
        .into_iter()
        .map(|e| e.field)
        .collect();
    assert_eq!(
        fields,
        [
            "down_above_ms",
            "max_redirects",
            "assertions[0].name",
            "assertions[1].value",
            "assertions[2].pattern",
            "assertions[3].path",
            "assertions[4].value",
            "cert_expiry_days",
            "retries",
            "retry_backoff_ms"
        ]
    );
    let dns: MonitorSpec = serde_json::from_value(serde_json::json!({
        "type": "dns", "host": "10.0.0.1", "record_type": "MX", "resolver": "not-an-ip",
        "expected_answers": ["mail.example.com"]
    }))
    .unwrap();
    let errors = dns.validate().unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["host", "resolver", "expected_answers[0]"]);
    let tls: MonitorSpec = serde_json::from_value(serde_json::json!({
        "type": "tls", "host": "example.com", "expiry_warning_days": 400
    }))
    .unwrap();
    assert_eq!(tls.validate().unwrap_err()[0].field, "expiry_warning_days");
    // The API flattens the spec next to the monitor's own fields (`name` is the monitor's).
    #[derive(serde::Deserialize)]
    struct Input {
        name: String,
        #[serde(flatten)]
        spec: MonitorSpec,
    }
    let input: Input = serde_json::from_value(serde_json::json!({
        "name": "MX of example.com", "type": "dns", "host": "example.com", "record_type": "MX",
        "expected_answers": ["10 mail.example.com"], "retries": 2
    }))
    .unwrap();
    assert_eq!(input.name, "MX of example.com");
    assert!(input.spec.validate().is_ok());
    assert_eq!(input.spec.retry_policy().retries, 2);
    let input: Input = serde_json::from_value(serde_json::json!({
        "name": "api", "type": "http", "url": "https://example.com", "follow_redirects": true,
        "max_redirects": 3, "assertions": [{"kind": "json_path", "path": "$.n", "op": ">=", "value": 2}]
    }))
    .unwrap();
    assert!(input.spec.validate().is_ok());
    // Older specs still parse, and new kinds round-trip.
    let old: MonitorSpec =
        serde_json::from_str(r#"{"type":"http","url":"https://example.com"}"#).unwrap();
    assert_eq!(old, MonitorSpec::Http(HttpSpec::get("https://example.com")));
    assert_eq!(
        serde_json::to_value(&old).unwrap(),
        serde_json::json!({"type":"http","url":"https://example.com","method":"GET","headers":[],
            "body":null,"expected_status":["200-399"],"timeout_ms":10000,"degraded_above_ms":null})
    );
    for json in [
        r#"{"type":"dns","host":"example.com","record_type":"TXT","resolver":"[::1]:5353","expected_answers":["x"]}"#,
        r#"{"type":"tls","host":"example.com"}"#,
    ] {
        let spec: MonitorSpec = serde_json::from_str(json).unwrap();
        assert!(spec.validate().is_ok(), "{json}");
        let back: MonitorSpec =
            serde_json::from_value(serde_json::to_value(&spec).unwrap()).unwrap();
        assert_eq!(back, spec);
    }
}

/// A monitor due twice in one tick (a 30 s monitor in a 60 s run) is planned twice: the run
/// starts each check at its own instant, stamps each with it, and stores both (their batches
/// have different tokens, so the store's de-duplication keeps both).
#[tokio::test]
async fn a_monitor_due_twice_in_a_run_is_checked_at_each_instant() {
    let server = start(None).await;
    let monitor = Uuid::new_v4();
    let now = chrono::Utc::now();
    let (first, second) = (now, now + chrono::Duration::milliseconds(1500));
    let check = |due_at| PlannedCheck {
        monitor_id: monitor,
        tenant_id: Uuid::new_v4(),
        spec: http(format!("http://{}/json", server.addr), |_| {}),
        last_status: Some(CheckStatus::Up),
        report_always: false,
        due_at: Some(due_at),
    };
    let plan = WorkPlan {
        region: "local-eu".into(),
        generated_at: now,
        // Planned out of order: the run goes by instant.
        checks: vec![check(second), check(first)],
    };
    let sink = TimedSink::default();
    let options = RunOptions::new(Uuid::new_v4(), "twice");
    let started = std::time::Instant::now();
    let summary = run_checks(
        &CheckEvent::scheduled("local-eu"),
        &prober(),
        &OnePlan(plan),
        &sink,
        &sink,
        &options,
    )
    .await
    .unwrap();
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!((summary.checks, summary.up, summary.stored), (2, 2, 2));
    let batches = sink.batches.lock().unwrap().clone();
    let mut rows: Vec<CheckRow> = batches.iter().flat_map(|(_, _, r)| r.clone()).collect();
    rows.sort_by_key(|r| r.scheduled_at);
    assert_eq!(
        rows.iter().map(|r| r.scheduled_at).collect::<Vec<_>>(),
        [first.timestamp_micros(), second.timestamp_micros()],
        "each check stamped with its own instant"
    );
    // The second started at its instant, not with the first.
    assert!(rows[1].checked_at >= second.timestamp_micros(), "{rows:?}");
    assert!(rows[0].checked_at < second.timestamp_micros(), "{rows:?}");
    assert_eq!(batches.len(), 2, "1.5 s apart: two batches");
    assert_ne!(batches[0].1, batches[1].1, "their tokens differ");
}
