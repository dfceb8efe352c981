//! Every failed check carries a stable kind (what visitors may be told), and DNS monitors that
//! use the platform's own resolver cannot map internal names to private addresses: answers the
//! guard refuses are withheld. Real servers on loopback.

use checker::failure::{Failure, TimeoutPhase};
use checker::guard::{parse_allowlist, SsrfGuard};
use checker::probe::{CheckStatus, Prober};
use checker::spec::{DnsRecordType, DnsSpec, HttpSpec, MonitorSpec, TcpSpec};
use std::net::{Ipv4Addr, SocketAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

fn loopback_prober() -> Prober {
    Prober::new(SsrfGuard::new(parse_allowlist("127.0.0.0/8").unwrap()))
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// An HTTP/1.1 server answering every request with `status`, or never answering (`None`).
async fn http_server(status: Option<u16>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = stream.read(&mut buf).await;
                match status {
                    Some(code) => {
                        let reply = format!(
                            "HTTP/1.1 {code} Whatever\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        );
                        let _ = stream.write_all(reply.as_bytes()).await;
                    }
                    None => std::future::pending::<()>().await,
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn failed_checks_carry_a_stable_kind() {
    let prober = loopback_prober();
    let port = closed_port().await;
    let refused = prober
        .check(&MonitorSpec::Tcp(TcpSpec::new("127.0.0.1", port)))
        .await;
    assert_eq!(refused.status, CheckStatus::Down);
    assert_eq!(refused.failure, Some(Failure::ConnectionRefused));
    assert!(
        refused.error.as_deref().unwrap().contains("127.0.0.1"),
        "the detail keeps the address: {refused:?}"
    );
    assert_eq!(refused.failure.unwrap().sentence(), "connection refused");

    let unavailable = http_server(Some(503)).await;
    let outcome = prober
        .check(&MonitorSpec::Http(HttpSpec::get(format!(
            "http://{unavailable}/"
        ))))
        .await;
    assert_eq!(outcome.failure, Some(Failure::HttpStatus { code: 503 }));

    let hanging = http_server(None).await;
    let mut spec = HttpSpec::get(format!("http://{hanging}/"));
    spec.timeout_ms = 300;
    let outcome = prober.check(&MonitorSpec::Http(spec)).await;
    assert_eq!(
        outcome.failure,
        Some(Failure::Timeout {
            phase: Some(TimeoutPhase::WaitingForResponse)
        }),
        "{outcome:?}"
    );

    let blocked = Prober::new(SsrfGuard::strict())
        .check(&MonitorSpec::Tcp(TcpSpec::new("10.0.0.1", 80)))
        .await;
    assert_eq!(blocked.failure, Some(Failure::Blocked));

    let ok = http_server(Some(200)).await;
    let up = prober
        .check(&MonitorSpec::Http(HttpSpec::get(format!("http://{ok}/"))))
        .await;
    assert_eq!((up.status, up.failure), (CheckStatus::Up, None));
    // The kind travels with the outcome's JSON.
    let json = serde_json::to_value(&refused).unwrap();
    assert_eq!(json["failure"]["kind"], "connection_refused");
}

/// A UDP DNS server on loopback: `db.internal` has a private address, `www.public.test` a
/// public one, `mixed.test` both.
async fn dns_server() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let query = &buf[..n];
            // The question: labels from byte 12 to the root, then type and class.
            let mut i = 12;
            let mut labels = Vec::new();
            while query[i] != 0 {
                let len = usize::from(query[i]);
                labels.push(String::from_utf8_lossy(&query[i + 1..i + 1 + len]).to_lowercase());
                i += 1 + len;
            }
            let question_end = i + 5;
            let answers: Vec<Ipv4Addr> = match labels.join(".").as_str() {
                "db.internal" => vec![Ipv4Addr::new(10, 1, 2, 3)],
                "www.public.test" => vec![Ipv4Addr::new(93, 184, 216, 34)],
                "mixed.test" => vec![
                    Ipv4Addr::new(93, 184, 216, 34),
                    Ipv4Addr::new(172, 16, 9, 9),
                ],
                _ => vec![],
            };
            let mut response = query[..question_end].to_vec();
            response[2] = 0x81;
            response[3] = 0x80;
            response[6..8].copy_from_slice(&(answers.len() as u16).to_be_bytes());
            for ip in answers {
                response.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                response.extend_from_slice(&ip.octets());
            }
            let _ = socket.send_to(&response, from).await;
        }
    });
    addr
}

#[tokio::test]
async fn dns_monitors_on_the_platform_resolver_go_through_the_guard() {
    let resolver = dns_server().await;
    // The platform's resolver sits on loopback, like systemd-resolved; the deployment allows no
    // private network.
    let prober = Prober::new(SsrfGuard::strict()).with_platform_resolver(resolver);
    let a = |host: &str| MonitorSpec::Dns(DnsSpec::new(host, DnsRecordType::A));

    for host in ["db.internal", "mixed.test"] {
        let outcome = prober.check(&a(host)).await;
        assert_eq!(outcome.status, CheckStatus::Down, "{host}: {outcome:?}");
        assert_eq!(outcome.failure, Some(Failure::Blocked));
        assert!(outcome.dns_answers.is_empty(), "{outcome:?}");
        assert_eq!(
            outcome.resolved_ip, None,
            "the platform resolver's address is ours"
        );
        let everything = serde_json::to_string(&outcome).unwrap();
        for private in ["10.1.2.3", "172.16.9.9", "127.0.0.1"] {
            assert!(!everything.contains(private), "{private} in {everything}");
        }
        assert!(
            outcome
                .error
                .as_deref()
                .unwrap()
                .contains("answers withheld"),
            "{outcome:?}"
        );
    }

    let public = prober.check(&a("www.public.test")).await;
    assert_eq!(public.status, CheckStatus::Up, "{public:?}");
    assert_eq!(public.dns_answers, ["93.184.216.34"]);
    assert_eq!(public.resolved_ip, None);

    // A resolver the tenant names is theirs: it passes the guard itself (here allowlisted) and
    // its answers are shown as they are.
    let own = DnsSpec {
        resolver: Some(resolver.to_string()),
        ..DnsSpec::new("db.internal", DnsRecordType::A)
    };
    let outcome = loopback_prober().check(&MonitorSpec::Dns(own)).await;
    assert_eq!(outcome.status, CheckStatus::Up, "{outcome:?}");
    assert_eq!(outcome.dns_answers, ["10.1.2.3"]);
    assert_eq!(outcome.resolved_ip, Some(resolver.ip()));

    // A platform resolver that does not answer: the error names no address.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mute =
        Prober::new(SsrfGuard::strict()).with_platform_resolver(silent.local_addr().unwrap());
    let spec = DnsSpec {
        timeout_ms: 200,
        ..DnsSpec::new("www.public.test", DnsRecordType::A)
    };
    let outcome = mute.check(&MonitorSpec::Dns(spec)).await;
    assert_eq!(
        outcome.failure,
        Some(Failure::Timeout {
            phase: Some(TimeoutPhase::Dns)
        })
    );
    assert!(!serde_json::to_string(&outcome)
        .unwrap()
        .contains("127.0.0.1"));
}
