//! Production ClickHouse: `https://` and a user with a password. A TLS front on loopback asks for
//! the user and key the way ClickHouse does (`X-ClickHouse-User` / `X-ClickHouse-Key`; a wrong
//! one gets ClickHouse's code 516) and passes the request on to the real ClickHouse of
//! `./dev test`. Its certificate comes from a test CA the client trusts through `SSL_CERT_FILE`,
//! as a self-hosted cluster's would. ClickHouse's own grants are tested in `grants.rs`.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use statuspage_clickhouse::{credentials_from, Analytics, CheckRow, STATUS_UP};
use uuid::Uuid;

const USER: &str = "statuspage_checker";
const KEY: &str = "correct-horse-battery-staple";

/// What the front saw: (user header, whether the key matched, path and query).
type Seen = Arc<Mutex<Vec<(Option<String>, bool, String)>>>;

/// A test CA (its PEM written to a file) and a TLS front for `localhost` signed by it.
fn pki(dir: &std::path::Path) -> (std::path::PathBuf, Arc<rustls::ServerConfig>) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "clickhouse test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let pem = dir.join("ca.pem");
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(ca.der().as_ref());
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let text = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    );
    std::fs::write(&pem, text).unwrap();
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
    (pem, Arc::new(config))
}

async fn front(
    request: Request<Incoming>,
    upstream: Arc<str>,
    seen: Seen,
) -> Response<Full<Bytes>> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let user = header("x-clickhouse-user");
    let key_ok = header("x-clickhouse-key").as_deref() == Some(KEY);
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    seen.lock()
        .unwrap()
        .push((user.clone(), key_ok, path.clone()));
    if user.as_deref() != Some(USER) || !key_ok {
        let who = user.unwrap_or_else(|| "default".into());
        return Response::builder()
            .status(403)
            .header("X-ClickHouse-Exception-Code", "516")
            .body(Full::new(Bytes::from(format!(
                "Code: 516. DB::Exception: {who}: Authentication failed: password is incorrect, \
                 or there is no user with such name. (AUTHENTICATION_FAILED)\n"
            ))))
            .unwrap();
    }
    let method = request.method().clone();
    let content_encoding = header("content-encoding");
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let mut forward = reqwest::Client::new()
        .request(method, format!("{upstream}{path}"))
        .body(body);
    if let Some(encoding) = content_encoding {
        forward = forward.header("content-encoding", encoding);
    }
    let answer = forward.send().await.unwrap();
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        if name.as_str().starts_with("x-clickhouse") || name == "content-type" {
            response = response.header(name, value);
        }
    }
    response
        .body(Full::new(answer.bytes().await.unwrap()))
        .unwrap()
}

/// The front on a loopback port: its `https://localhost:<port>` URL and what it saw.
async fn start_front(upstream: String, tls: Arc<rustls::ServerConfig>) -> (String, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let (upstream, record): (Arc<str>, Seen) = (upstream.into(), seen.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (tls, upstream, record) = (tls.clone(), upstream.clone(), record.clone());
            tokio::spawn(async move {
                let Ok(stream) = tokio_rustls::TlsAcceptor::from(tls).accept(stream).await else {
                    return;
                };
                let service = service_fn(move |req| {
                    let (upstream, record) = (upstream.clone(), record.clone());
                    async move { Ok::<_, Infallible>(front(req, upstream, record).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (format!("https://localhost:{port}"), seen)
}

#[tokio::test]
async fn https_with_a_user_and_password_reaches_clickhouse_and_a_wrong_one_is_named() {
    let upstream = std::env::var("CLICKHOUSE_URL").expect(
        "CLICKHOUSE_URL must point at a running ClickHouse: run the tests with `./dev test`",
    );
    let dir = std::env::temp_dir().join(format!("ch-credentials-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca_pem, tls) = pki(&dir);
    // The only test in this binary: the client reads the roots when it is built.
    std::env::set_var("SSL_CERT_FILE", &ca_pem);
    let (url, seen) = start_front(upstream.trim_end_matches('/').to_owned(), tls).await;

    let database = format!("test_{}", Uuid::new_v4().simple());
    let analytics = Analytics::new(&url, &database)
        .unwrap()
        .with_credentials(USER, KEY);
    analytics
        .migrate()
        .await
        .expect("migrations through TLS and the sign-in");
    let (tenant, monitor) = (Uuid::new_v4(), Uuid::new_v4());
    let now = chrono::Utc::now().timestamp_micros();
    let rows: Vec<CheckRow> = (0..3)
        .map(|i| {
            CheckRow::synthetic(
                tenant,
                monitor,
                "eu-west-1",
                now - i * 60_000_000,
                STATUS_UP,
                1_000,
            )
        })
        .collect();
    analytics
        .insert_checks(&rows, &Uuid::new_v4().to_string())
        .await
        .expect("an insert through TLS and the sign-in");
    let stored: u64 = analytics
        .client()
        .query("SELECT count() FROM check_results WHERE monitor_id = ?")
        .bind(monitor)
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(stored, 3);
    {
        let seen = seen.lock().unwrap();
        assert!(seen.len() >= 3, "{seen:?}");
        assert!(
            seen.iter()
                .all(|(user, ok, _)| user.as_deref() == Some(USER) && *ok),
            "every request signs in: {seen:?}"
        );
        assert!(
            seen.iter().any(|(_, _, path)| path.contains("INSERT")),
            "{seen:?}"
        );
    }

    // A wrong password: refused, and the error says why.
    let wrong = Analytics::new(&url, &database)
        .unwrap()
        .with_credentials(USER, "not-the-password");
    let err = wrong
        .insert_checks(&rows, &Uuid::new_v4().to_string())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("Authentication failed"), "{err}");
    // No user at all (the environment names none here): refused as `default`.
    let anonymous = Analytics::new(&url, &database).unwrap();
    let err = anonymous.ping().await.unwrap_err().to_string();
    assert!(err.contains("default: Authentication failed"), "{err}");

    // A certificate nobody vouches for is refused before anything is sent.
    let count = seen.lock().unwrap().len();
    let http = Analytics::new(&url.replace("localhost", "127.0.0.1"), &database)
        .unwrap()
        .with_credentials(USER, KEY);
    assert!(
        http.ping().await.is_err(),
        "the certificate names localhost, not 127.0.0.1"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        count,
        "nothing passed the TLS handshake"
    );

    analytics.drop_database().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn credentials_come_from_the_environment_and_a_lone_password_is_refused() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    assert_eq!(credentials_from(env(&[])).unwrap(), None);
    assert_eq!(
        credentials_from(env(&[
            ("CLICKHOUSE_USER", "checker"),
            ("CLICKHOUSE_PASSWORD", "pw")
        ]))
        .unwrap(),
        Some(("checker".into(), "pw".into()))
    );
    assert_eq!(
        credentials_from(env(&[("CLICKHOUSE_USER", "reader")])).unwrap(),
        Some(("reader".into(), String::new()))
    );
    let err = credentials_from(env(&[("CLICKHOUSE_PASSWORD", "pw")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("CLICKHOUSE_PASSWORD") && err.contains("CLICKHOUSE_USER"),
        "{err}"
    );
}
