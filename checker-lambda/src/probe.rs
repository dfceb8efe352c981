//! One check on a fresh connection, with disjoint phase timings in integer microseconds.
//!
//! The probe is its own connector (no pooled HTTP client), so every phase is really measured and
//! the connection goes to the address the guard approved:
//!
//! 1. **dns**: resolve the host once (skipped for IP literals, `dns_us = 0`), then pick the first
//!    address the [`SsrfGuard`] accepts. If none passes, the check is `Down` and nothing connects.
//! 2. **tcp connect** to that pinned address.
//! 3. **tls handshake** (https only) with SNI = the URL's host name, ALPN `h2` then `http/1.1`,
//!    session resumption off so every handshake is a full one.
//! 4. **ttfb**: HTTP/1.1 or HTTP/2 (per ALPN) connection set-up, request written, response head
//!    received.
//! 5. **transfer**: the body read to the end (only counted, never buffered).
//!
//! An `Instant` is taken at each boundary, so the phases are disjoint and add up to `total_us`
//! (less a few microseconds of bookkeeping). The whole check is bounded by the spec's `timeout_ms`.
//! Redirects are not followed (yet): a 3xx is judged by `expected_status` like any other code.

use crate::guard::{GuardError, SsrfGuard};
use crate::spec::{
    parse_http_url, parse_tcp_host, HttpSpec, HttpTarget, MonitorSpec, TargetHost, TcpSpec,
};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use http::{header, Method, Request, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Sent unless the spec sets its own `User-Agent`.
pub const USER_AGENT: &str = concat!("statuspage-checker/", env!("CARGO_PKG_VERSION"));

/// Ordered from best to worst, so `a.max(b)` is the worse of two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Up,
    Degraded,
    Down,
}

impl CheckStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            CheckStatus::Up => "up",
            CheckStatus::Degraded => "degraded",
            CheckStatus::Down => "down",
        }
    }

    /// The worse of the two.
    pub fn worst(self, other: CheckStatus) -> CheckStatus {
        self.max(other)
    }
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown check status {0:?}: expected up, degraded or down")]
pub struct ParseStatusError(pub String);

impl FromStr for CheckStatus {
    type Err = ParseStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "up" => Ok(CheckStatus::Up),
            "degraded" => Ok(CheckStatus::Degraded),
            "down" => Ok(CheckStatus::Down),
            other => Err(ParseStatusError(other.to_owned())),
        }
    }
}

/// Disjoint phases in microseconds; a phase that did not happen (or did not finish) is 0.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseTimings {
    pub dns_us: u32,
    pub tcp_connect_us: u32,
    pub tls_handshake_us: u32,
    pub ttfb_us: u32,
    pub transfer_us: u32,
    /// Wall time of the whole check, including a phase cut short by an error or the timeout.
    pub total_us: u32,
}

impl PhaseTimings {
    /// The sum of the individual phases (at most `total_us`).
    pub fn phases_sum_us(&self) -> u64 {
        [
            self.dns_us,
            self.tcp_connect_us,
            self.tls_handshake_us,
            self.ttfb_us,
            self.transfer_us,
        ]
        .iter()
        .map(|us| u64::from(*us))
        .sum()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckOutcome {
    pub status: CheckStatus,
    pub timings: PhaseTimings,
    pub status_code: Option<u16>,
    /// The address connected to; when every address was refused, the first refused one.
    pub resolved_ip: Option<IpAddr>,
    /// `HTTP/1.1`, `HTTP/2`, ... as the response reported it.
    pub http_version: Option<String>,
    /// rustls' names: `TLSv1_3`, `TLSv1_2`.
    pub tls_version: Option<String>,
    /// IANA names as rustls spells them: `TLS13_AES_256_GCM_SHA384`.
    pub tls_cipher: Option<String>,
    /// The leaf certificate's notAfter.
    pub cert_expires_at: Option<DateTime<Utc>>,
    pub response_bytes: u64,
    pub redirects: u8,
    pub attempt: u8,
    /// Why the check is `Down` (or `Degraded`); `None` when `Up`.
    pub error: Option<String>,
}

impl CheckOutcome {
    fn started() -> Self {
        Self {
            status: CheckStatus::Down,
            timings: PhaseTimings::default(),
            status_code: None,
            resolved_ip: None,
            http_version: None,
            tls_version: None,
            tls_cipher: None,
            cert_expires_at: None,
            response_bytes: 0,
            redirects: 0,
            attempt: 1,
            error: None,
        }
    }
}

/// The phase a check was in, as named in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Dns,
    Connect,
    TlsHandshake,
    WaitingForResponse,
    Transfer,
}

impl Phase {
    pub fn as_str(&self) -> &'static str {
        match self {
            Phase::Dns => "dns resolution",
            Phase::Connect => "tcp connect",
            Phase::TlsHandshake => "tls handshake",
            Phase::WaitingForResponse => "waiting for response",
            Phase::Transfer => "body transfer",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a check failed; its `Display` is what lands in [`CheckOutcome::error`].
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("invalid monitor spec: {0}")]
    InvalidSpec(String),
    #[error("dns resolution of {host} failed: {source}")]
    Dns {
        host: String,
        source: std::io::Error,
    },
    #[error("dns resolution of {host} returned no addresses")]
    NoAddresses { host: String },
    #[error("{}", refused_message(.host.as_deref(), .refused))]
    Refused {
        /// The host name, when the addresses came from DNS.
        host: Option<String>,
        refused: Vec<GuardError>,
    },
    #[error("tcp connect to {addr} failed: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("tls handshake with {server_name} failed: {source}")]
    Tls {
        server_name: String,
        source: std::io::Error,
    },
    #[error("http error during {phase}: {message}")]
    Http { phase: Phase, message: String },
    #[error("timed out after {ms} ms during {phase}")]
    Timeout { ms: u32, phase: Phase },
    #[error("expected status {expected}, got {got}")]
    UnexpectedStatus { expected: String, got: u16 },
}

fn refused_message(host: Option<&str>, refused: &[GuardError]) -> String {
    let all = refused
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ");
    match host {
        Some(host) => format!("{host} resolves only to refused addresses: {all}"),
        None => all,
    }
}

/// Runs checks. Cheap to share (`Arc<Prober>`); every check opens its own connection.
#[derive(Clone)]
pub struct Prober {
    guard: SsrfGuard,
    tls: Arc<rustls::ClientConfig>,
}

impl fmt::Debug for Prober {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prober")
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

impl Prober {
    /// Trusts the Mozilla roots (webpki-roots).
    pub fn new(guard: SsrfGuard) -> Self {
        Self::with_extra_roots(guard, Vec::new())
    }

    /// Trusts the Mozilla roots plus `roots` (for tests and demos with their own CA). A
    /// certificate that cannot be used as a trust anchor is skipped with a warning.
    pub fn with_extra_roots(guard: SsrfGuard, roots: Vec<CertificateDer<'static>>) -> Self {
        let mut store = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for root in roots {
            if let Err(e) = store.add(root) {
                tracing::warn!(error = %e, "extra root certificate skipped");
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default TLS versions")
            .with_root_certificates(store)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        // Every check measures a full handshake.
        config.resumption = rustls::client::Resumption::disabled();
        Self {
            guard,
            tls: Arc::new(config),
        }
    }

    pub fn guard(&self) -> &SsrfGuard {
        &self.guard
    }

    /// One attempt of `spec`. Never fails: problems are a `Down` outcome with `error` set.
    pub async fn check(&self, spec: &MonitorSpec) -> CheckOutcome {
        let mut attempt = Attempt::new();
        let result = match spec.validate() {
            Err(errors) => Err(ProbeError::InvalidSpec(
                errors
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            )),
            Ok(()) => {
                let ms = spec.timeout_ms();
                let run = async {
                    match spec {
                        MonitorSpec::Http(http) => self.check_http(http, &mut attempt).await,
                        MonitorSpec::Tcp(tcp) => self.check_tcp(tcp, &mut attempt).await,
                    }
                };
                let timed = tokio::time::timeout(Duration::from_millis(ms.into()), run).await;
                match timed {
                    Ok(result) => result,
                    Err(_) => Err(ProbeError::Timeout {
                        ms,
                        phase: attempt.phase,
                    }),
                }
            }
        };
        attempt.finish(result, spec.degraded_above_ms())
    }

    async fn check_http(&self, spec: &HttpSpec, attempt: &mut Attempt) -> Result<(), ProbeError> {
        let target =
            parse_http_url(&spec.url).map_err(|m| ProbeError::InvalidSpec(format!("url: {m}")))?;
        let ip = self.resolve(&target.host, target.port, attempt).await?;
        let stream = connect(SocketAddr::new(ip, target.port), attempt).await?;
        if target.https {
            let tls = self
                .tls_handshake(stream, &target.server_name, attempt)
                .await?;
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
            exchange(tls, h2, spec, &target, attempt).await
        } else {
            exchange(stream, false, spec, &target, attempt).await
        }
    }

    async fn check_tcp(&self, spec: &TcpSpec, attempt: &mut Attempt) -> Result<(), ProbeError> {
        let host = parse_tcp_host(&spec.host)
            .map_err(|m| ProbeError::InvalidSpec(format!("host: {m}")))?;
        let ip = self.resolve(&host, spec.port, attempt).await?;
        let stream = connect(SocketAddr::new(ip, spec.port), attempt).await?;
        drop(stream);
        Ok(())
    }

    /// Resolves once and picks the first address the guard accepts.
    async fn resolve(
        &self,
        host: &TargetHost,
        port: u16,
        attempt: &mut Attempt,
    ) -> Result<IpAddr, ProbeError> {
        attempt.phase = Phase::Dns;
        let (candidates, name) = match host {
            TargetHost::Ip(ip) => (vec![*ip], None),
            TargetHost::Domain(name) => {
                let addrs = tokio::net::lookup_host((name.as_str(), port))
                    .await
                    .map_err(|source| ProbeError::Dns {
                        host: name.clone(),
                        source,
                    })?;
                let mut ips: Vec<IpAddr> = Vec::new();
                for addr in addrs {
                    if !ips.contains(&addr.ip()) {
                        ips.push(addr.ip());
                    }
                }
                if ips.is_empty() {
                    return Err(ProbeError::NoAddresses { host: name.clone() });
                }
                (ips, Some(name))
            }
        };
        let mut refused = Vec::new();
        for ip in &candidates {
            match self.guard.check(*ip) {
                Ok(()) => {
                    let dns_us = attempt.lap();
                    if name.is_some() {
                        attempt.outcome.timings.dns_us = dns_us;
                    }
                    attempt.outcome.resolved_ip = Some(*ip);
                    return Ok(*ip);
                }
                Err(e) => refused.push(e),
            }
        }
        attempt.outcome.resolved_ip = candidates.first().copied();
        Err(ProbeError::Refused {
            host: name.cloned(),
            refused,
        })
    }

    async fn tls_handshake(
        &self,
        stream: TcpStream,
        server_name: &str,
        attempt: &mut Attempt,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ProbeError> {
        attempt.phase = Phase::TlsHandshake;
        let name = ServerName::try_from(server_name.to_owned()).map_err(|e| {
            ProbeError::InvalidSpec(format!(
                "url: {server_name:?} cannot be a TLS server name: {e}"
            ))
        })?;
        let tls = TlsConnector::from(self.tls.clone())
            .connect(name, stream)
            .await
            .map_err(|source| ProbeError::Tls {
                server_name: server_name.to_owned(),
                source,
            })?;
        attempt.outcome.timings.tls_handshake_us = attempt.lap();
        let (_, session) = tls.get_ref();
        let outcome = &mut attempt.outcome;
        outcome.tls_version = session.protocol_version().map(|v| {
            v.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{v:?}"))
        });
        outcome.tls_cipher = session.negotiated_cipher_suite().map(|s| {
            let suite = s.suite();
            suite
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{suite:?}"))
        });
        outcome.cert_expires_at = session
            .peer_certificates()
            .and_then(|certs| certs.first())
            .and_then(|leaf| cert_not_after(leaf));
        Ok(tls)
    }
}

/// What is known so far about one attempt, and the clock that cuts it into phases.
struct Attempt {
    started: Instant,
    /// End of the last finished phase.
    mark: Instant,
    phase: Phase,
    outcome: CheckOutcome,
}

impl Attempt {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            started: now,
            mark: now,
            phase: Phase::Dns,
            outcome: CheckOutcome::started(),
        }
    }

    /// Microseconds since the last boundary, and a new boundary now.
    fn lap(&mut self) -> u32 {
        let now = Instant::now();
        let us = micros(now.duration_since(self.mark));
        self.mark = now;
        us
    }

    fn finish(
        mut self,
        result: Result<(), ProbeError>,
        degraded_above_ms: Option<u32>,
    ) -> CheckOutcome {
        let total_us = micros(self.started.elapsed());
        self.outcome.timings.total_us = total_us;
        match result {
            Ok(()) => {
                self.outcome.status = CheckStatus::Up;
                if let Some(threshold) = degraded_above_ms {
                    if u64::from(total_us) > u64::from(threshold) * 1000 {
                        self.outcome.status = CheckStatus::Degraded;
                        self.outcome.error = Some(format!(
                            "took {} ms, above the degraded threshold of {threshold} ms",
                            total_us / 1000
                        ));
                    }
                }
            }
            Err(e) => {
                self.outcome.status = CheckStatus::Down;
                self.outcome.error = Some(e.to_string());
            }
        }
        self.outcome
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

async fn connect(addr: SocketAddr, attempt: &mut Attempt) -> Result<TcpStream, ProbeError> {
    attempt.phase = Phase::Connect;
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|source| ProbeError::Connect { addr, source })?;
    attempt.outcome.timings.tcp_connect_us = attempt.lap();
    // Small requests should not wait for Nagle; failure only costs latency.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Aborts the spawned connection driver when the check ends (or is dropped by the timeout).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// HTTP over an established (plain or TLS) connection: ttfb, then transfer.
async fn exchange<IO>(
    io: IO,
    h2: bool,
    spec: &HttpSpec,
    target: &HttpTarget,
    attempt: &mut Attempt,
) -> Result<(), ProbeError>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    attempt.phase = Phase::WaitingForResponse;
    let request = build_request(spec, target, h2)?;
    let io = TokioIo::new(io);
    let http_error = |phase: Phase| {
        move |e: hyper::Error| ProbeError::Http {
            phase,
            message: error_chain(&e),
        }
    };
    // The request handle and the connection driver live until the body is read.
    let (response, _connection) = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(http_error(Phase::WaitingForResponse))?;
        let driver = AbortOnDrop(tokio::spawn(async move {
            let _ = conn.await;
        }));
        let response = sender
            .send_request(request)
            .await
            .map_err(http_error(Phase::WaitingForResponse))?;
        (response, (Box::new(sender) as Box<dyn Send>, driver))
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(http_error(Phase::WaitingForResponse))?;
        let driver = AbortOnDrop(tokio::spawn(async move {
            let _ = conn.await;
        }));
        let response = sender
            .send_request(request)
            .await
            .map_err(http_error(Phase::WaitingForResponse))?;
        (response, (Box::new(sender) as Box<dyn Send>, driver))
    };
    attempt.outcome.timings.ttfb_us = attempt.lap();
    let code = response.status().as_u16();
    attempt.outcome.status_code = Some(code);
    attempt.outcome.http_version = Some(version_label(response.version()).to_owned());

    attempt.phase = Phase::Transfer;
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(http_error(Phase::Transfer))?;
        if let Some(data) = frame.data_ref() {
            attempt.outcome.response_bytes += data.len() as u64;
        }
    }
    attempt.outcome.timings.transfer_us = attempt.lap();

    if !spec.status_is_expected(code) {
        return Err(ProbeError::UnexpectedStatus {
            expected: spec.expected_status_label(),
            got: code,
        });
    }
    Ok(())
}

/// HTTP/1.1: origin-form target plus `Host`. HTTP/2: absolute URI, which becomes `:scheme` and
/// `:authority` (no `Host` header).
fn build_request(
    spec: &HttpSpec,
    target: &HttpTarget,
    h2: bool,
) -> Result<Request<Full<Bytes>>, ProbeError> {
    let invalid = |what: String| ProbeError::InvalidSpec(what);
    let path = &target.url[url::Position::BeforePath..url::Position::AfterQuery];
    let path = if path.is_empty() { "/" } else { path };
    let method =
        Method::from_bytes(spec.method.as_bytes()).map_err(|e| invalid(format!("method: {e}")))?;
    let mut builder = Request::builder().method(method);
    if h2 {
        builder = builder.version(Version::HTTP_2).uri(format!(
            "{}://{}{path}",
            target.url.scheme(),
            target.authority
        ));
    } else {
        builder = builder
            .uri(path)
            .header(header::HOST, target.authority.as_str());
    }
    let mut has_user_agent = false;
    for h in &spec.headers {
        has_user_agent |= h.name.eq_ignore_ascii_case("user-agent");
        builder = builder.header(h.name.as_str(), h.value.as_str());
    }
    if !has_user_agent {
        builder = builder.header(header::USER_AGENT, USER_AGENT);
    }
    let body = Bytes::from(spec.body.clone().unwrap_or_default());
    builder
        .body(Full::new(body))
        .map_err(|e| invalid(format!("url: cannot be sent as an HTTP request: {e}")))
}

fn version_label(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/?",
    }
}

/// An error and its sources, `outer: inner: innermost` (hyper's own messages are terse).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = inner.source();
    }
    message
}

/// The notAfter of a DER X.509 certificate, read with a minimal DER walk
/// (Certificate → tbsCertificate → [version] serial signature issuer validity). `None` if the
/// certificate does not have that shape.
pub fn cert_not_after(der: &[u8]) -> Option<DateTime<Utc>> {
    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const VERSION: u8 = 0xa0;
    let (SEQUENCE, certificate, _) = der_tlv(der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = der_tlv(certificate)? else {
        return None;
    };
    let (tag, _, mut rest) = der_tlv(tbs)?;
    if tag == VERSION {
        let (INTEGER, _, after_serial) = der_tlv(rest)? else {
            return None;
        };
        rest = after_serial;
    } else if tag != INTEGER {
        return None;
    }
    let (SEQUENCE, _signature, rest) = der_tlv(rest)? else {
        return None;
    };
    let (SEQUENCE, _issuer, rest) = der_tlv(rest)? else {
        return None;
    };
    let (SEQUENCE, validity, _) = der_tlv(rest)? else {
        return None;
    };
    let (_, _not_before, rest) = der_tlv(validity)?;
    let (tag, not_after, _) = der_tlv(rest)?;
    der_time(tag, not_after)
}

/// One DER tag-length-value: (tag, contents, what follows).
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// UTCTime (`YYMMDDHHMMSSZ`, 1950–2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn der_time(tag: u8, contents: &[u8]) -> Option<DateTime<Utc>> {
    let text = std::str::from_utf8(contents).ok()?.strip_suffix('Z')?;
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (year, rest) = match (tag, text.len()) {
        (0x17, 12) => {
            let yy: i32 = text[..2].parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &text[2..])
        }
        (0x18, 14) => (text[..4].parse().ok()?, &text[4..]),
        _ => return None,
    };
    let two = |i: usize| rest[i..i + 2].parse::<u32>().ok();
    let at =
        NaiveDate::from_ymd_opt(year, two(0)?, two(2)?)?.and_hms_opt(two(4)?, two(6)?, two(8)?)?;
    Some(at.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn status_order_names_and_json() {
        assert!(
            CheckStatus::Up < CheckStatus::Degraded && CheckStatus::Degraded < CheckStatus::Down
        );
        assert_eq!(CheckStatus::Up.worst(CheckStatus::Down), CheckStatus::Down);
        assert_eq!(
            CheckStatus::Degraded.worst(CheckStatus::Up),
            CheckStatus::Degraded
        );
        for s in [CheckStatus::Up, CheckStatus::Degraded, CheckStatus::Down] {
            assert_eq!(s.as_str().parse::<CheckStatus>(), Ok(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        assert!("UP".parse::<CheckStatus>().is_err());
    }

    #[test]
    fn outcome_serializes_flat_and_round_trips() {
        let mut outcome = CheckOutcome::started();
        outcome.timings.total_us = 12;
        outcome.resolved_ip = Some("1.1.1.1".parse().unwrap());
        let json = serde_json::to_value(&outcome).unwrap();
        assert_eq!(json["status"], "down");
        assert_eq!(json["timings"]["total_us"], 12);
        assert_eq!(json["resolved_ip"], "1.1.1.1");
        assert_eq!(json["attempt"], 1);
        assert_eq!(
            serde_json::from_value::<CheckOutcome>(json).unwrap(),
            outcome
        );
    }

    fn cert_expiring(year: i32, month: u8, day: u8) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["example.com".to_owned()]).unwrap();
        params.not_after = rcgen::date_time_ymd(year, month, day);
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn reads_not_after_from_utc_and_generalized_time() {
        // rcgen writes UTCTime before 2050 and GeneralizedTime from 2050 on.
        assert_eq!(
            cert_not_after(&cert_expiring(2030, 1, 2)),
            Some(Utc.with_ymd_and_hms(2030, 1, 2, 0, 0, 0).unwrap())
        );
        assert_eq!(
            cert_not_after(&cert_expiring(2061, 12, 31)),
            Some(Utc.with_ymd_and_hms(2061, 12, 31, 0, 0, 0).unwrap())
        );
    }

    #[test]
    fn malformed_certificates_give_none() {
        assert_eq!(cert_not_after(&[]), None);
        assert_eq!(cert_not_after(b"not a certificate"), None);
        let der = cert_expiring(2030, 1, 2);
        assert_eq!(cert_not_after(&der[..der.len() / 2]), None);
        assert_eq!(der_time(0x17, b"9912312359Z"), None);
        assert_eq!(
            der_time(0x17, b"491231235959Z"),
            Some(Utc.with_ymd_and_hms(2049, 12, 31, 23, 59, 59).unwrap())
        );
        assert_eq!(
            der_time(0x17, b"500101000000Z"),
            Some(Utc.with_ymd_and_hms(1950, 1, 1, 0, 0, 0).unwrap())
        );
        assert_eq!(der_time(0x18, b"20301302000000Z"), None);
    }

    #[test]
    fn requests_follow_the_protocol() {
        let mut spec = HttpSpec::get("http://example.com:8080/a/b?c=d#frag");
        spec.headers.push(crate::spec::Header {
            name: "X-Token".into(),
            value: "t".into(),
        });
        let target = parse_http_url(&spec.url).unwrap();
        let h1 = build_request(&spec, &target, false).unwrap();
        assert_eq!(h1.uri(), "/a/b?c=d");
        assert_eq!(h1.headers()[header::HOST], "example.com:8080");
        assert_eq!(h1.headers()["x-token"], "t");
        assert_eq!(h1.headers()[header::USER_AGENT], USER_AGENT);
        let h2 = build_request(&spec, &target, true).unwrap();
        assert_eq!(h2.uri(), "http://example.com:8080/a/b?c=d");
        assert_eq!(h2.version(), Version::HTTP_2);
        assert!(h2.headers().get(header::HOST).is_none());

        spec.headers.push(crate::spec::Header {
            name: "User-Agent".into(),
            value: "mine".into(),
        });
        let req = build_request(
            &spec,
            &parse_http_url("https://example.com").unwrap(),
            false,
        )
        .unwrap();
        assert_eq!(req.uri(), "/");
        assert_eq!(req.headers()[header::HOST], "example.com");
        assert_eq!(req.headers().get_all(header::USER_AGENT).iter().count(), 1);
        assert_eq!(req.headers()[header::USER_AGENT], "mine");
    }

    #[test]
    fn degraded_only_above_the_threshold() {
        let mut attempt = Attempt::new();
        attempt.started -= Duration::from_millis(30);
        let outcome = attempt.finish(Ok(()), Some(10));
        assert_eq!(outcome.status, CheckStatus::Degraded);
        assert!(outcome
            .error
            .unwrap()
            .contains("above the degraded threshold of 10 ms"));
        assert_eq!(
            Attempt::new().finish(Ok(()), Some(10_000)).status,
            CheckStatus::Up
        );
        let down = Attempt::new().finish(
            Err(ProbeError::UnexpectedStatus {
                expected: "200-399".into(),
                got: 503,
            }),
            None,
        );
        assert_eq!(down.status, CheckStatus::Down);
        assert_eq!(
            down.error.as_deref(),
            Some("expected status 200-399, got 503")
        );
    }
}
