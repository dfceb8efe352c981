//! One outbound delivery (an alert to a webhook, Slack, PagerDuty, ...) with the checks' SSRF
//! rules: the host is resolved once, every address is judged by the [`SsrfGuard`], and the
//! connection goes to an address it accepted (so a name cannot be re-pointed between the check
//! and the connect). Redirects are never followed, the response is read only up to a bound, and
//! plain `http://` is sent only to addresses on the deployment's allow-list (`CHECKER_ALLOW_CIDRS`),
//! so the demo and the tests deliver on loopback while tenants' deliveries stay on TLS.

use crate::guard::SsrfGuard;
use crate::spec::{parse_http_url, HttpTarget, TargetHost};
use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// How much of a response body is kept (for the delivery log and error messages).
pub const BODY_PREFIX_MAX: usize = 4096;

/// Sent with every delivery.
pub const USER_AGENT: &str = concat!("statuspage-notify/", env!("CARGO_PKG_VERSION"));

/// What the receiver answered.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub status: u16,
    pub headers: HeaderMap,
    /// The first [`BODY_PREFIX_MAX`] bytes of the body (a [`get`]'s own bound).
    pub body: Vec<u8>,
    /// The body went on past what was kept.
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliverError {
    /// The URL cannot be sent to (bad syntax, plain http to a public address).
    #[error("{0}")]
    Invalid(String),
    /// Every address of the host is refused by the guard: nothing connected.
    #[error("{0}")]
    Refused(String),
    /// DNS, TCP, TLS or HTTP failed: worth trying again later.
    #[error("{0}")]
    Unreachable(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let store = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default TLS versions")
            .with_root_certificates(store)
            .with_no_client_auth();
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            Arc::new(config)
        })
        .clone()
}

/// POSTs `body` to `url` once, within `timeout` for the whole exchange.
pub async fn post(
    guard: &SsrfGuard,
    url: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    timeout: Duration,
) -> Result<Delivered, DeliverError> {
    let exchange = Exchange {
        method: Method::POST,
        headers,
        body,
        keep: BODY_PREFIX_MAX,
    };
    request(guard, url, exchange, timeout).await
}

/// GETs `url` once (a lookup: a tenant's Prometheus), keeping at most `keep` bytes of the body
/// ([`Delivered::truncated`] says when there was more), within `timeout` for the whole exchange.
pub async fn get(
    guard: &SsrfGuard,
    url: &str,
    headers: &[(&str, String)],
    keep: usize,
    timeout: Duration,
) -> Result<Delivered, DeliverError> {
    let exchange = Exchange {
        method: Method::GET,
        headers,
        body: Vec::new(),
        keep,
    };
    request(guard, url, exchange, timeout).await
}

/// What one request sends and how much of the answer it keeps.
struct Exchange<'a> {
    method: Method,
    headers: &'a [(&'a str, String)],
    body: Vec<u8>,
    keep: usize,
}

async fn request(
    guard: &SsrfGuard,
    url: &str,
    exchange: Exchange<'_>,
    timeout: Duration,
) -> Result<Delivered, DeliverError> {
    let target = parse_http_url(url).map_err(|m| DeliverError::Invalid(format!("url: {m}")))?;
    match tokio::time::timeout(timeout, send(guard, &target, exchange)).await {
        Ok(result) => result,
        Err(_) => Err(DeliverError::Timeout(timeout)),
    }
}

async fn send(
    guard: &SsrfGuard,
    target: &HttpTarget,
    exchange: Exchange<'_>,
) -> Result<Delivered, DeliverError> {
    let ips = resolve(guard, target).await?;
    if !target.https {
        let listed = |ip: &IpAddr| guard.allowlist().iter().any(|net| net.contains(ip));
        if !ips.iter().all(listed) {
            return Err(DeliverError::Invalid(
                "plain http:// is only sent to allow-listed addresses (CHECKER_ALLOW_CIDRS); use https://".into(),
            ));
        }
    }
    let mut last = None;
    let mut stream = None;
    for ip in &ips {
        match TcpStream::connect(SocketAddr::new(*ip, target.port)).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(format!("connecting to port {}: {e}", target.port)),
        }
    }
    let Some(stream) = stream else {
        return Err(DeliverError::Unreachable(
            last.unwrap_or_else(|| "no address to connect to".into()),
        ));
    };
    if target.https {
        let name = ServerName::try_from(target.server_name.clone())
            .map_err(|e| DeliverError::Invalid(format!("url: not a TLS server name: {e}")))?;
        let tls = TlsConnector::from(tls_config())
            .connect(name, stream)
            .await
            .map_err(|e| DeliverError::Unreachable(format!("TLS handshake: {e}")))?;
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
        exchange_on(tls, h2, target, exchange).await
    } else {
        exchange_on(stream, false, target, exchange).await
    }
}

/// Resolves once; the addresses the guard accepts, in the resolver's order.
async fn resolve(guard: &SsrfGuard, target: &HttpTarget) -> Result<Vec<IpAddr>, DeliverError> {
    let (candidates, named) = match &target.host {
        TargetHost::Ip(ip) => (vec![*ip], false),
        TargetHost::Domain(name) => {
            let addrs = tokio::net::lookup_host((name.as_str(), target.port))
                .await
                .map_err(|e| DeliverError::Unreachable(format!("resolving {name}: {e}")))?;
            let mut ips: Vec<IpAddr> = Vec::new();
            for addr in addrs {
                if !ips.contains(&addr.ip()) {
                    ips.push(addr.ip());
                }
            }
            (ips, true)
        }
    };
    let mut refused = Vec::new();
    let allowed: Vec<IpAddr> = candidates
        .iter()
        .copied()
        .filter(|ip| match guard.check(*ip) {
            Ok(()) => true,
            Err(e) => {
                // A name's addresses are not told (they may map the internal network).
                refused.push(if named { e.category() } else { e.to_string() });
                false
            }
        })
        .collect();
    if allowed.is_empty() {
        return Err(if refused.is_empty() {
            DeliverError::Unreachable("the host name has no addresses".into())
        } else {
            DeliverError::Refused(format!(
                "refused to deliver: the host resolves only to addresses not allowed ({})",
                refused.join(", ")
            ))
        });
    }
    Ok(allowed)
}

/// Aborts the connection driver when the delivery ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn exchange_on<IO>(
    io: IO,
    h2: bool,
    target: &HttpTarget,
    exchange: Exchange<'_>,
) -> Result<Delivered, DeliverError>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Exchange {
        method,
        headers,
        body,
        keep,
    } = exchange;
    let path = &target.url[url::Position::BeforePath..url::Position::AfterQuery];
    let path = if path.is_empty() { "/" } else { path };
    let mut builder = Request::builder().method(method);
    builder = if h2 {
        builder.version(Version::HTTP_2).uri(format!(
            "{}://{}{path}",
            target.url.scheme(),
            target.authority
        ))
    } else {
        builder
            .uri(path)
            .header(header::HOST, target.authority.as_str())
    };
    builder = builder.header(header::USER_AGENT, USER_AGENT);
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    let request = builder
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| DeliverError::Invalid(format!("cannot be sent as an HTTP request: {e}")))?;
    let http = |e: hyper::Error| DeliverError::Unreachable(format!("HTTP: {e}"));
    let io = TokioIo::new(io);
    let (response, _driver) = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(http)?;
        let driver = AbortOnDrop(tokio::spawn(async move {
            let _ = conn.await;
        }));
        (sender.send_request(request).await.map_err(http)?, driver)
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(http)?;
        let driver = AbortOnDrop(tokio::spawn(async move {
            let _ = conn.await;
        }));
        (sender.send_request(request).await.map_err(http)?, driver)
    };
    let (head, mut body) = response.into_parts();
    let mut kept = Vec::new();
    let mut truncated = false;
    // Bounded: stop reading once the prefix is full (the connection is dropped after).
    while !truncated {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let room = keep - kept.len();
                    truncated = data.len() > room;
                    kept.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            Some(Err(_)) | None => break,
        }
    }
    Ok(Delivered {
        status: head.status.as_u16(),
        headers: head.headers,
        body: kept,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refused_addresses_are_never_connected() {
        let e = post(
            &SsrfGuard::strict(),
            "https://127.0.0.1:9/hook",
            &[],
            Vec::new(),
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, DeliverError::Refused(_)), "{e:?}");
    }

    #[tokio::test]
    async fn plain_http_needs_the_allow_list() {
        // 8.8.8.8 passes the guard but is not allow-listed: no plain http to it.
        let e = post(
            &SsrfGuard::strict(),
            "http://8.8.8.8/hook",
            &[],
            Vec::new(),
            Duration::from_secs(2),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, DeliverError::Invalid(_)), "{e:?}");
    }
}
