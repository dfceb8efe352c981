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
//!
//! If the first allowed address refuses the TCP connection, the next allowed one is tried (the
//! connect phase then includes the failed tries). With `follow_redirects`, every hop is a fresh
//! connection whose target passes the guard again; each hop's phases are kept in
//! [`CheckOutcome::hops`] and the top-level phases are the sums over the hops.
//!
//! DNS checks send one UDP query ([`crate::dns`]), asked again over TCP when the answer is
//! truncated; TLS checks stop after the handshake and judge
//! the certificate (chain, host name, days to expiry). [`Prober::check_with_retries`] repeats a
//! down check per the spec's retry policy and returns every attempt.

use crate::assertions::{self, ResponseView, MAX_ASSERTED_BODY};
use crate::dns;
use crate::failure::{Failure, TimeoutPhase, TlsReason};
use crate::guard::{GuardError, SsrfGuard};
use crate::spec::{
    parse_http_url, parse_resolver, parse_tcp_host, DnsRcode, DnsSpec, Header, HttpSpec,
    HttpTarget, MonitorSpec, TargetHost, TcpSpec, TlsSpec,
};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use http::{header, Method, Request, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Sent unless the spec sets its own `User-Agent`.
pub const USER_AGENT: &str = concat!("statuspage-checker/", env!("CARGO_PKG_VERSION"));

/// Ordered from best to worst, so `a.max(b)` is the worse of two.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

    fn add_phases(&mut self, other: &PhaseTimings) {
        self.dns_us = self.dns_us.saturating_add(other.dns_us);
        self.tcp_connect_us = self.tcp_connect_us.saturating_add(other.tcp_connect_us);
        self.tls_handshake_us = self.tls_handshake_us.saturating_add(other.tls_handshake_us);
        self.ttfb_us = self.ttfb_us.saturating_add(other.ttfb_us);
        self.transfer_us = self.transfer_us.saturating_add(other.transfer_us);
    }
}

/// One attempt of a check as [`Prober::attempts`] yields it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempted {
    pub outcome: CheckOutcome,
    /// The check's verdict: no retry follows this attempt.
    pub last: bool,
}

/// One request of an HTTP check: the first, then one per redirect followed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HopTimings {
    pub url: String,
    pub status_code: Option<u16>,
    pub resolved_ip: Option<IpAddr>,
    /// This hop's phases; `total_us` is the hop's wall time.
    pub timings: PhaseTimings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckOutcome {
    pub status: CheckStatus,
    /// For HTTP checks with redirects, each phase summed over the hops; `total_us` is wall time.
    pub timings: PhaseTimings,
    /// The final response's status code.
    pub status_code: Option<u16>,
    /// The address connected to (the resolver for DNS checks); when every address was refused,
    /// the first refused one.
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
    /// Redirects followed.
    pub redirects: u8,
    /// 1 for the first attempt, 2 for the first retry, ...
    pub attempt: u8,
    /// Why the check is `Down` (or `Degraded`); `None` when `Up`. The full detail, for the
    /// tenant only.
    pub error: Option<String>,
    /// The kind of `error`: all that visitors are shown of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// When the attempt started.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// HTTP checks: every request made, first to last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hops: Vec<HopTimings>,
    /// Whole days until the leaf certificate expires (negative once expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_days_left: Option<i64>,
    /// TLS checks: whether the chain leads to a trusted root and is within its validity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_chain_valid: Option<bool>,
    /// TLS checks: whether the leaf certificate is valid for the host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_hostname_match: Option<bool>,
    /// DNS checks: the response code (`NOERROR`, `NXDOMAIN`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_rcode: Option<String>,
    /// DNS checks: the answers of the asked type, as text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_answers: Vec<String>,
    /// HTTP checks with `health`: what the health document said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::health::HealthReport>,
    /// … and the document itself, its first [`crate::health::DOCUMENT_MAX`] bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_document: Option<String>,
}

impl CheckOutcome {
    /// A `Down` attempt that a run's deadline cut off (or that never got to start): it took
    /// `total_us` from `started_at` and is recorded with `error`, not lost.
    pub fn cut_off(attempt: u8, started_at: DateTime<Utc>, total_us: u32, error: String) -> Self {
        let mut outcome = Self::started();
        outcome.attempt = attempt;
        outcome.started_at = Some(started_at);
        outcome.timings.total_us = total_us;
        outcome.error = Some(error);
        outcome.failure = Some(Failure::Timeout { phase: None });
        outcome
    }

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
            failure: None,
            started_at: Some(Utc::now()),
            hops: Vec::new(),
            cert_days_left: None,
            cert_chain_valid: None,
            cert_hostname_match: None,
            dns_rcode: None,
            dns_answers: Vec::new(),
            health: None,
            health_document: None,
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

impl From<Phase> for TimeoutPhase {
    fn from(phase: Phase) -> Self {
        match phase {
            Phase::Dns => TimeoutPhase::Dns,
            Phase::Connect => TimeoutPhase::Connect,
            Phase::TlsHandshake => TimeoutPhase::TlsHandshake,
            Phase::WaitingForResponse => TimeoutPhase::WaitingForResponse,
            Phase::Transfer => TimeoutPhase::Transfer,
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
    #[error("tcp connect to {addr} failed: {source}{}", earlier_failures(.earlier))]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
        /// Addresses tried before `addr`, and why they failed.
        earlier: Vec<(SocketAddr, String)>,
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
    #[error("redirect from {from}: {message}")]
    Redirect { from: String, message: String },
    #[error(
        "stopped after {max} redirects (max_redirects); the last response redirects to {location}"
    )]
    TooManyRedirects { max: u8, location: String },
    /// Failed assertions, each with expected vs actual.
    #[error("{}", .0.join("; "))]
    Assertions(Vec<String>),
    /// The health document says a dependency (or the service) is down; names them.
    #[error("{0}")]
    Health(String),
    /// `resolver` is the address the spec named, or "the platform resolver".
    #[error("dns query to {resolver} failed: {message}")]
    DnsQuery { resolver: String, message: String },
    /// An unexpected response code.
    #[error("{0}")]
    DnsRcode(String),
    /// The expected answers are missing.
    #[error("{0}")]
    DnsAnswer(String),
    /// The platform's resolver answered addresses the guard refuses; they are not kept.
    #[error("{record} {host}: the platform resolver answered {count} address(es) that checks may not reach; answers withheld")]
    WithheldAnswers {
        record: &'static str,
        host: String,
        count: usize,
    },
    #[error("{message}")]
    Certificate { reason: TlsReason, message: String },
}

impl ProbeError {
    /// The kind of this failure, as visitors are told it.
    pub fn failure(&self) -> Failure {
        match self {
            ProbeError::InvalidSpec(_) => Failure::InvalidSpec,
            ProbeError::Dns { .. }
            | ProbeError::NoAddresses { .. }
            | ProbeError::DnsQuery { .. }
            | ProbeError::DnsRcode(_) => Failure::DnsFailure,
            ProbeError::Refused { .. } | ProbeError::WithheldAnswers { .. } => Failure::Blocked,
            ProbeError::Connect { source, .. } => match source.kind() {
                std::io::ErrorKind::ConnectionRefused => Failure::ConnectionRefused,
                std::io::ErrorKind::TimedOut => Failure::Timeout {
                    phase: Some(TimeoutPhase::Connect),
                },
                _ => Failure::ConnectionFailed,
            },
            ProbeError::Tls { source, .. } => Failure::TlsError {
                reason: TlsReason::of_io(source),
            },
            ProbeError::Http { .. } => Failure::HttpError,
            ProbeError::Timeout { phase, .. } => Failure::Timeout {
                phase: Some((*phase).into()),
            },
            ProbeError::UnexpectedStatus { got, .. } => Failure::HttpStatus { code: *got },
            ProbeError::Redirect { .. } | ProbeError::TooManyRedirects { .. } => Failure::Redirect,
            ProbeError::Assertions(_) | ProbeError::DnsAnswer(_) => Failure::AssertionFailed,
            ProbeError::Health(_) => Failure::DependencyDown,
            ProbeError::Certificate { reason, .. } => Failure::TlsError { reason: *reason },
        }
    }
}

fn earlier_failures(earlier: &[(SocketAddr, String)]) -> String {
    if earlier.is_empty() {
        return String::new();
    }
    let list = earlier
        .iter()
        .map(|(addr, e)| format!("{addr}: {e}"))
        .collect::<Vec<_>>()
        .join("; ");
    format!(" (also failed: {list})")
}

/// An address the tenant wrote is named; addresses a host name resolved to are not (only their
/// kind), so a monitor cannot map internal names to private addresses.
fn refused_message(host: Option<&str>, refused: &[GuardError]) -> String {
    match host {
        Some(host) => {
            let mut kinds: Vec<String> = refused.iter().map(GuardError::category).collect();
            kinds.dedup();
            format!(
                "{host} resolves only to addresses checks may not reach: {}",
                kinds.join("; ")
            )
        }
        None => refused
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// A finished check that is not down: `Some((kind, reason))` makes it degraded.
type Verdict = Result<Option<(Failure, String)>, ProbeError>;

/// Runs checks. Cheap to share (`Arc<Prober>`); every check opens its own connection.
#[derive(Clone)]
pub struct Prober {
    guard: SsrfGuard,
    /// DNS monitors without a resolver of their own ask this one (default: the first
    /// nameserver in `/etc/resolv.conf`).
    platform_resolver: Option<SocketAddr>,
    /// Where connections to loopback targets come from (a local pseudo-region's own 127/8
    /// address), so a local target can tell the pseudo-regions apart; `None`: the kernel picks.
    loopback_source: Option<std::net::Ipv4Addr>,
    tls: Arc<rustls::ClientConfig>,
    verifier: Arc<WebPkiServerVerifier>,
    provider: Arc<rustls::crypto::CryptoProvider>,
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
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                .build()
                .expect("the root store has roots and ring supports their algorithms");
        let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default TLS versions")
            .with_webpki_verifier(verifier.clone())
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        // Every check measures a full handshake.
        config.resumption = rustls::client::Resumption::disabled();
        Self {
            guard,
            platform_resolver: None,
            loopback_source: None,
            tls: Arc::new(config),
            verifier,
            provider,
        }
    }

    /// Asks `resolver` for DNS monitors that name none (tests, deployments with their own).
    pub fn with_platform_resolver(mut self, resolver: SocketAddr) -> Self {
        self.platform_resolver = Some(resolver);
        self
    }

    /// Connects to IPv4 loopback targets from `source` (in 127.0.0.0/8): each local
    /// pseudo-region gets its own, as real regions have their own addresses. Other targets are
    /// reached as before.
    pub fn with_loopback_source(mut self, source: std::net::Ipv4Addr) -> Self {
        self.loopback_source = source.is_loopback().then_some(source);
        self
    }

    pub fn guard(&self) -> &SsrfGuard {
        &self.guard
    }

    /// Every attempt of `spec`: the first, then a retry after each `Down` one (with the spec's
    /// backoff, doubled each time) until one is not down or the retries are used up. The last
    /// element is the check's outcome. Invalid specs are tried once.
    pub async fn check_with_retries(&self, spec: &MonitorSpec) -> Vec<CheckOutcome> {
        use futures::StreamExt;
        self.attempts(spec)
            .map(|tried| tried.outcome)
            .collect()
            .await
    }

    /// [`Prober::check_with_retries`] as a stream: each attempt as soon as it ends, so a run can
    /// store it before the check is over. The whole check stays within
    /// [`MAX_CHECK_BUDGET_MS`](crate::spec::MAX_CHECK_BUDGET_MS) (plus a second of slack for
    /// bookkeeping): specs stored before the budget existed get shorter timeouts and fewer
    /// retries instead of running past it.
    pub fn attempts<'a>(
        &'a self,
        spec: &'a MonitorSpec,
    ) -> impl futures::Stream<Item = Attempted> + Send + 'a {
        let policy = spec.retry_policy();
        let tries = if spec.validate_shape().is_ok() {
            policy.retries.min(crate::spec::MAX_RETRIES) + 1
        } else {
            1
        };
        let budget = Duration::from_millis(u64::from(crate::spec::MAX_CHECK_BUDGET_MS) + 1000);
        let min_attempt = Duration::from_millis(u64::from(crate::spec::MIN_TIMEOUT_MS));
        // The clock starts at the first poll: a check waiting for a free slot is not charged.
        futures::stream::unfold((Some(1u8), None), move |(next, started)| async move {
            let n = next?;
            let started: Instant = started.unwrap_or_else(Instant::now);
            if n > 1 {
                tokio::time::sleep(policy.delay_before(n)).await;
            }
            let left = budget.saturating_sub(started.elapsed());
            let ms = spec
                .timeout_ms()
                .min(u32::try_from(left.as_millis()).unwrap_or(u32::MAX));
            let mut outcome = self.check_for(spec, ms).await;
            outcome.attempt = n;
            let retry = outcome.status == CheckStatus::Down
                && n < tries
                && started.elapsed() + policy.delay_before(n + 1) + min_attempt <= budget;
            let last = !retry;
            Some((
                Attempted { outcome, last },
                (retry.then_some(n + 1), Some(started)),
            ))
        })
    }

    /// One attempt of `spec`. Never fails: problems are a `Down` outcome with `error` set.
    pub async fn check(&self, spec: &MonitorSpec) -> CheckOutcome {
        self.check_for(spec, spec.timeout_ms()).await
    }

    /// One attempt, bounded by `ms` (at most the spec's timeout).
    async fn check_for(&self, spec: &MonitorSpec, ms: u32) -> CheckOutcome {
        let mut attempt = Attempt::new();
        let result = match spec.validate_shape() {
            Err(errors) => Err(ProbeError::InvalidSpec(
                errors
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            )),
            Ok(()) => {
                let run = async {
                    match spec {
                        MonitorSpec::Http(http) => self.check_http(http, &mut attempt).await,
                        MonitorSpec::Tcp(tcp) => self.check_tcp(tcp, &mut attempt).await,
                        MonitorSpec::Dns(dns) => self.check_dns(dns, &mut attempt).await,
                        MonitorSpec::Tls(tls) => self.check_tls(tls, &mut attempt).await,
                        MonitorSpec::Heartbeat(_) => Err(ProbeError::InvalidSpec(
                            "a heartbeat monitor is called by its job, not probed".into(),
                        )),
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
        attempt.finish(result, spec.degraded_above_ms(), spec.down_above_ms())
    }

    async fn check_http(&self, spec: &HttpSpec, attempt: &mut Attempt) -> Verdict {
        let mut url = spec.url.clone();
        let mut method = spec.method.clone();
        let mut body = spec.body.clone();
        let mut headers: Vec<Header> = spec.headers.clone();
        let first_host = parse_http_url(&url).ok().map(|t| t.host);
        attempt.tracks_hops = true;
        loop {
            attempt.begin_hop(&url);
            let target =
                parse_http_url(&url).map_err(|m| ProbeError::InvalidSpec(format!("url: {m}")))?;
            let ips = self.resolve(&target.host, target.port, attempt).await?;
            let stream = connect_any(&ips, target.port, self.loopback_source, attempt).await?;
            let keep_body = assertions::needs_body(&spec.assertions) || spec.health.is_some();
            let request = RequestParts {
                method: &method,
                headers: &headers,
                body: body.as_deref(),
            };
            let response = if target.https {
                let tls = self
                    .tls_handshake(stream, &target.server_name, attempt)
                    .await?;
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                exchange(tls, h2, &request, &target, keep_body, attempt).await?
            } else {
                exchange(stream, false, &request, &target, keep_body, attempt).await?
            };
            let location = response
                .headers
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let redirect = matches!(response.code, 301 | 302 | 303 | 307 | 308);
            if spec.follow_redirects && redirect {
                if let Some(location) = location {
                    let next = target
                        .url
                        .join(&location)
                        .map_err(|e| ProbeError::Redirect {
                            from: url.clone(),
                            message: format!("Location {location:?} is not a valid URL: {e}"),
                        })?;
                    if !matches!(next.scheme(), "http" | "https") {
                        return Err(ProbeError::Redirect {
                            from: url.clone(),
                            message: format!(
                                "Location {location:?} is not http or https; not followed"
                            ),
                        });
                    }
                    if attempt.outcome.redirects >= spec.max_redirects {
                        return Err(ProbeError::TooManyRedirects {
                            max: spec.max_redirects,
                            location: next.to_string(),
                        });
                    }
                    // Like browsers and curl: 303 (and 301/302 after POST) continue as GET.
                    if response.code == 303
                        || (matches!(response.code, 301 | 302) && method == "POST")
                    {
                        if method != "HEAD" {
                            method = "GET".into();
                        }
                        body = None;
                    }
                    // Credentials stay with the host they were written for.
                    let next_target =
                        parse_http_url(next.as_str()).map_err(|m| ProbeError::Redirect {
                            from: url.clone(),
                            message: format!("Location {location:?}: {m}"),
                        })?;
                    if Some(&next_target.host) != first_host.as_ref() {
                        headers.retain(|h| {
                            !h.name.eq_ignore_ascii_case("authorization")
                                && !h.name.eq_ignore_ascii_case("cookie")
                        });
                    }
                    attempt.outcome.redirects += 1;
                    attempt.end_hop();
                    url = next.to_string();
                    continue;
                }
            }

            // A health document is read whatever the status (a failing service answers 503
            // with the document that says why): a dependency at fault is named.
            let mut degraded = None;
            if spec.health.is_some() {
                match crate::health::parse(&response.body) {
                    Ok(report) => {
                        let problem = report.problem();
                        let verdict = report.verdict();
                        attempt.outcome.health_document =
                            Some(crate::health::kept_document(&response.body));
                        attempt.outcome.health = Some(report);
                        match (verdict, problem) {
                            (crate::health::HealthStatus::Down, Some(problem)) => {
                                return Err(ProbeError::Health(problem));
                            }
                            (crate::health::HealthStatus::Degraded, Some(problem)) => {
                                degraded = Some((Failure::DependencyDown, problem));
                            }
                            _ => {}
                        }
                    }
                    Err(why) if spec.status_is_expected(response.code) => {
                        return Err(ProbeError::Assertions(vec![why]));
                    }
                    Err(_) => {}
                }
            }
            if !spec.status_is_expected(response.code) {
                return Err(ProbeError::UnexpectedStatus {
                    expected: spec.expected_status_label(),
                    got: response.code,
                });
            }
            let failures = assertions::evaluate(
                &spec.assertions,
                &ResponseView {
                    headers: &response.headers,
                    body: &response.body,
                    body_len: attempt.hop_bytes,
                },
            );
            if !failures.is_empty() {
                return Err(ProbeError::Assertions(failures));
            }
            if let (Some(days), Some(left)) =
                (spec.cert_expiry_days, attempt.outcome.cert_days_left)
            {
                if left < i64::from(days) {
                    return Ok(Some(expiry_warning(&attempt.outcome, days)));
                }
            }
            return Ok(degraded);
        }
    }

    async fn check_tcp(&self, spec: &TcpSpec, attempt: &mut Attempt) -> Verdict {
        let host = parse_tcp_host(&spec.host)
            .map_err(|m| ProbeError::InvalidSpec(format!("host: {m}")))?;
        let ips = self.resolve(&host, spec.port, attempt).await?;
        let stream = connect_any(&ips, spec.port, self.loopback_source, attempt).await?;
        drop(stream);
        Ok(None)
    }

    async fn check_dns(&self, spec: &DnsSpec, attempt: &mut Attempt) -> Verdict {
        attempt.phase = Phase::Dns;
        let resolver = match &spec.resolver {
            Some(raw) => {
                let addr = parse_resolver(raw)
                    .map_err(|m| ProbeError::InvalidSpec(format!("resolver: {m}")))?;
                attempt.outcome.resolved_ip = Some(addr.ip());
                self.guard
                    .check(addr.ip())
                    .map_err(|e| ProbeError::Refused {
                        host: None,
                        refused: vec![e],
                    })?;
                addr
            }
            // The platform's own resolver, the one every HTTP check uses too.
            None => self
                .platform_resolver
                .or_else(dns::system_resolver)
                .ok_or_else(|| {
                    ProbeError::InvalidSpec(
                        "resolver: none given and no nameserver in /etc/resolv.conf".into(),
                    )
                })?,
        };
        // The platform's resolver may sit on our own network and knows our internal names: its
        // address is not shown, and its address answers must pass the guard (below).
        let platform = spec.resolver.is_none();
        attempt.outcome.resolved_ip = (!platform).then(|| resolver.ip());
        let resolver_label = if platform {
            "the platform resolver".to_owned()
        } else {
            resolver.to_string()
        };
        let qtype = spec.record_type.code();
        let id = query_id();
        let query_error = |message: String| ProbeError::DnsQuery {
            resolver: resolver_label.clone(),
            message,
        };
        let query =
            dns::encode_query(id, &spec.host, qtype).map_err(|e| query_error(e.to_string()))?;
        let bind: SocketAddr = if resolver.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = tokio::net::UdpSocket::bind(bind)
            .await
            .map_err(|e| query_error(format!("cannot open a UDP socket: {e}")))?;
        socket
            .connect(resolver)
            .await
            .map_err(|e| query_error(e.to_string()))?;
        // The clock starts at the send, like dig's query time.
        attempt.lap();
        socket
            .send(&query)
            .await
            .map_err(|e| query_error(e.to_string()))?;
        let mut buf = vec![0u8; 4096];
        let response = loop {
            let n = socket
                .recv(&mut buf)
                .await
                .map_err(|e| query_error(e.to_string()))?;
            match dns::decode_response(&buf[..n], id, qtype) {
                Err(dns::DnsError::WrongId { .. }) => continue,
                Err(e) => return Err(query_error(e.to_string())),
                Ok(r) => break r,
            }
        };
        // A truncated answer is asked again over TCP (RFC 7766), within the same timeout.
        let response = if response.truncated {
            dns_over_tcp(resolver, &query, id, qtype)
                .await
                .map_err(|e| query_error(format!("truncated over UDP, then over TCP: {e}")))?
        } else {
            response
        };
        attempt.outcome.timings.dns_us = attempt.lap();
        if platform
            && matches!(
                spec.record_type,
                crate::spec::DnsRecordType::A | crate::spec::DnsRecordType::Aaaa
            )
        {
            let refused = response
                .answers
                .iter()
                .filter_map(|a| a.parse::<IpAddr>().ok())
                .filter(|ip| self.guard.check(*ip).is_err())
                .count();
            if refused > 0 {
                return Err(ProbeError::WithheldAnswers {
                    record: spec.record_type.as_str(),
                    host: spec.host.clone(),
                    count: refused,
                });
            }
        }
        let rcode = DnsRcode::name_of(response.rcode);
        attempt.outcome.dns_rcode = Some(rcode.clone());
        attempt.outcome.dns_answers = response.answers.clone();
        if response.rcode != spec.expected_rcode.code() {
            return Err(ProbeError::DnsRcode(format!(
                "{} {}: expected rcode {}, got {rcode}",
                spec.record_type.as_str(),
                spec.host,
                DnsRcode::name_of(spec.expected_rcode.code())
            )));
        }
        let missing: Vec<&String> = spec
            .expected_answers
            .iter()
            .filter(|want| {
                !response
                    .answers
                    .iter()
                    .any(|got| dns::answer_matches(spec.record_type, want, got))
            })
            .collect();
        if !missing.is_empty() {
            return Err(ProbeError::DnsAnswer(format!(
                "{} {}: expected answers {:?}, missing {:?}, got {:?}{}",
                spec.record_type.as_str(),
                spec.host,
                spec.expected_answers,
                missing,
                response.answers,
                if response.truncated {
                    " (response truncated even over TCP)"
                } else {
                    ""
                }
            )));
        }
        Ok(None)
    }

    async fn check_tls(&self, spec: &TlsSpec, attempt: &mut Attempt) -> Verdict {
        let host = parse_tcp_host(&spec.host)
            .map_err(|m| ProbeError::InvalidSpec(format!("host: {m}")))?;
        let ips = self.resolve(&host, spec.port, attempt).await?;
        let stream = connect_any(&ips, spec.port, self.loopback_source, attempt).await?;
        attempt.phase = Phase::TlsHandshake;
        let server_name = spec
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let name = ServerName::try_from(server_name.clone()).map_err(|e| {
            ProbeError::InvalidSpec(format!(
                "host: {server_name:?} cannot be a TLS server name: {e}"
            ))
        })?;
        let recorder = Arc::new(RecordingVerifier {
            inner: self.verifier.clone(),
            result: Mutex::new(None),
        });
        let mut config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default TLS versions")
            .dangerous()
            .with_custom_certificate_verifier(recorder.clone())
            .with_no_client_auth();
        config.resumption = rustls::client::Resumption::disabled();
        let tls = TlsConnector::from(Arc::new(config))
            .connect(name, stream)
            .await
            .map_err(|source| ProbeError::Tls {
                server_name: server_name.clone(),
                source,
            })?;
        attempt.outcome.timings.tls_handshake_us = attempt.lap();
        attempt.record_session(tls.get_ref().1);
        drop(tls);
        let (chain, hostname) = recorder
            .result
            .lock()
            .expect("verifier lock")
            .take()
            .unwrap_or((Err("no certificate was presented".into()), None));
        attempt.outcome.cert_chain_valid = Some(chain.is_ok());
        attempt.outcome.cert_hostname_match = hostname.as_ref().map(|h| h.is_ok());
        let mut problems = Vec::new();
        if let Err(e) = &chain {
            problems.push(format!("certificate chain is not valid: {e}"));
        }
        if let Some(Err(e)) = &hostname {
            problems.push(format!("certificate is not valid for {server_name}: {e}"));
        }
        if let Some(left) = attempt.outcome.cert_days_left {
            if left < 0 && chain.is_ok() {
                problems.push(format!("certificate expired {} days ago", -left));
            }
        }
        if !problems.is_empty() {
            let expired = attempt.outcome.cert_days_left.is_some_and(|left| left < 0);
            let reason = match (&chain, &hostname) {
                (Err(_), _) if expired => TlsReason::Expired,
                (Err(_), _) => TlsReason::Untrusted,
                (Ok(()), Some(Err(_))) => TlsReason::NameMismatch,
                _ => TlsReason::Expired,
            };
            return Err(ProbeError::Certificate {
                reason,
                message: problems.join("; "),
            });
        }
        if let Some(left) = attempt.outcome.cert_days_left {
            if left < i64::from(spec.expiry_warning_days) {
                return Ok(Some(expiry_warning(
                    &attempt.outcome,
                    spec.expiry_warning_days,
                )));
            }
        }
        Ok(None)
    }

    /// Resolves once and keeps the addresses the guard accepts, in the resolver's order.
    async fn resolve(
        &self,
        host: &TargetHost,
        port: u16,
        attempt: &mut Attempt,
    ) -> Result<Vec<IpAddr>, ProbeError> {
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
        let mut allowed = Vec::new();
        for ip in &candidates {
            match self.guard.check(*ip) {
                Ok(()) => allowed.push(*ip),
                Err(e) => refused.push(e),
            }
        }
        if allowed.is_empty() {
            // A refused address the name resolved to is not recorded (see `refused_message`).
            attempt.outcome.resolved_ip = if name.is_none() {
                candidates.first().copied()
            } else {
                None
            };
            return Err(ProbeError::Refused {
                host: name.cloned(),
                refused,
            });
        }
        let dns_us = attempt.lap();
        if name.is_some() {
            attempt.outcome.timings.dns_us = dns_us;
        }
        attempt.outcome.resolved_ip = allowed.first().copied();
        Ok(allowed)
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
        attempt.record_session(tls.get_ref().1);
        Ok(tls)
    }
}

fn expiry_warning(outcome: &CheckOutcome, days: u32) -> (Failure, String) {
    let left = outcome.cert_days_left.unwrap_or_default();
    let at = outcome
        .cert_expires_at
        .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    let message =
        format!("certificate expires in {left} days ({at}), within the {days}-day warning window");
    let failure = Failure::TlsError {
        reason: TlsReason::ExpiresSoon,
    };
    (failure, message)
}

/// One DNS query over TCP: two-byte length prefix each way.
async fn dns_over_tcp(
    resolver: SocketAddr,
    query: &[u8],
    id: u16,
    qtype: u16,
) -> Result<dns::DnsResponse, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(resolver)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&(query.len() as u16).to_be_bytes());
    framed.extend_from_slice(query);
    stream
        .write_all(&framed)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut len = [0u8; 2];
    stream
        .read_exact(&mut len)
        .await
        .map_err(|e| format!("read: {e}"))?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream
        .read_exact(&mut message)
        .await
        .map_err(|e| format!("read: {e}"))?;
    dns::decode_response(&message, id, qtype).map_err(|e| e.to_string())
}

/// A query id that differs between concurrent queries (not security-relevant: the socket is
/// connected to the resolver).
fn query_id() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    (nanos as u16) ^ NEXT.fetch_add(0x9e37, Ordering::Relaxed)
}

/// Accepts every certificate but records what the real verifier thought of it: the chain
/// (trusted root, validity period) and, separately, the host name.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    #[allow(clippy::type_complexity)]
    result: Mutex<Option<(Result<(), String>, Option<Result<(), String>>)>>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let name_check = || -> Result<(), String> {
            let parsed = rustls::server::ParsedCertificate::try_from(end_entity)
                .map_err(|e| e.to_string())?;
            rustls::client::verify_server_name(&parsed, server_name).map_err(|e| e.to_string())
        };
        let full = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        let recorded = match full {
            Ok(_) => (Ok(()), Some(Ok(()))),
            // webpki checks the chain first: a name error means the chain was fine.
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => (Ok(()), Some(name_check())),
            Err(e) => (Err(e.to_string()), Some(name_check())),
        };
        *self.result.lock().expect("verifier lock") = Some(recorded);
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// What is known so far about one attempt, and the clock that cuts it into phases.
struct Attempt {
    started: Instant,
    /// End of the last finished phase.
    mark: Instant,
    phase: Phase,
    outcome: CheckOutcome,
    /// HTTP checks keep per-hop timings.
    tracks_hops: bool,
    hop_started: Instant,
    hop_url: String,
    /// Body bytes of the current hop.
    hop_bytes: u64,
    /// Phases of the finished hops, summed.
    hop_sum: PhaseTimings,
}

impl Attempt {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            started: now,
            mark: now,
            phase: Phase::Dns,
            outcome: CheckOutcome::started(),
            tracks_hops: false,
            hop_started: now,
            hop_url: String::new(),
            hop_bytes: 0,
            hop_sum: PhaseTimings::default(),
        }
    }

    /// Microseconds since the last boundary, and a new boundary now.
    fn lap(&mut self) -> u32 {
        let now = Instant::now();
        let us = micros(now.duration_since(self.mark));
        self.mark = now;
        us
    }

    fn begin_hop(&mut self, url: &str) {
        self.hop_url = url.to_owned();
        self.hop_bytes = 0;
        if !self.outcome.hops.is_empty() {
            let now = Instant::now();
            self.hop_started = now;
            self.mark = now;
            // Until this hop answers, there is no final response.
            self.outcome.status_code = None;
            self.outcome.http_version = None;
        }
    }

    /// Closes the current hop: its phases move into `hops`, and the next hop starts from zero.
    fn end_hop(&mut self) {
        let mut timings = std::mem::take(&mut self.outcome.timings);
        timings.total_us = micros(self.hop_started.elapsed());
        self.hop_sum.add_phases(&timings);
        self.outcome.hops.push(HopTimings {
            url: std::mem::take(&mut self.hop_url),
            status_code: self.outcome.status_code,
            resolved_ip: self.outcome.resolved_ip,
            timings,
        });
        let now = Instant::now();
        self.hop_started = now;
        self.mark = now;
    }

    fn record_session(&mut self, session: &rustls::ClientConnection) {
        let outcome = &mut self.outcome;
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
        outcome.cert_days_left = outcome
            .cert_expires_at
            .map(|at| (at - Utc::now()).num_seconds().div_euclid(86_400));
    }

    fn finish(
        mut self,
        result: Verdict,
        degraded_above_ms: Option<u32>,
        down_above_ms: Option<u32>,
    ) -> CheckOutcome {
        if self.tracks_hops {
            self.end_hop();
            self.outcome.timings = std::mem::take(&mut self.hop_sum);
        }
        let total_us = micros(self.started.elapsed());
        self.outcome.timings.total_us = total_us;
        let over = |threshold: u32| u64::from(total_us) > u64::from(threshold) * 1000;
        match result {
            Ok(degraded) => {
                self.outcome.status = CheckStatus::Up;
                let (kind, reason) = degraded.unzip();
                let mut reasons: Vec<String> = reason.into_iter().collect();
                // The first reason names the kind; a slow check is only that when nothing else is.
                self.outcome.failure = kind;
                if let Some(threshold) = down_above_ms.filter(|t| over(*t)) {
                    self.outcome.status = CheckStatus::Down;
                    self.outcome.failure = Some(Failure::Slow);
                    reasons = vec![format!(
                        "took {} ms, above the down threshold of {threshold} ms",
                        total_us / 1000
                    )];
                } else if let Some(threshold) = degraded_above_ms.filter(|t| over(*t)) {
                    reasons.push(format!(
                        "took {} ms, above the degraded threshold of {threshold} ms",
                        total_us / 1000
                    ));
                    self.outcome.failure.get_or_insert(Failure::Slow);
                }
                if !reasons.is_empty() {
                    if self.outcome.status == CheckStatus::Up {
                        self.outcome.status = CheckStatus::Degraded;
                    }
                    self.outcome.error = Some(reasons.join("; "));
                }
            }
            Err(e) => {
                self.outcome.status = CheckStatus::Down;
                self.outcome.failure = Some(e.failure());
                self.outcome.error = Some(e.to_string());
            }
        }
        self.outcome
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// Connects to `addr`, from `loopback_source` when both are IPv4 loopback.
async fn connect_from(
    addr: SocketAddr,
    loopback_source: Option<std::net::Ipv4Addr>,
) -> std::io::Result<TcpStream> {
    match (addr.ip(), loopback_source) {
        (IpAddr::V4(ip), Some(source)) if ip.is_loopback() => {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
            socket.connect(addr).await
        }
        _ => TcpStream::connect(addr).await,
    }
}

/// Connects to the first address that accepts; the phase covers every try.
async fn connect_any(
    ips: &[IpAddr],
    port: u16,
    loopback_source: Option<std::net::Ipv4Addr>,
    attempt: &mut Attempt,
) -> Result<TcpStream, ProbeError> {
    attempt.phase = Phase::Connect;
    let mut earlier = Vec::new();
    let mut last = None;
    for ip in ips {
        let addr = SocketAddr::new(*ip, port);
        attempt.outcome.resolved_ip = Some(*ip);
        match connect_from(addr, loopback_source).await {
            Ok(stream) => {
                attempt.outcome.timings.tcp_connect_us = attempt.lap();
                // Small requests should not wait for Nagle; failure only costs latency.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(source) => {
                if let Some((addr, e)) = last.replace((addr, source)) {
                    earlier.push((addr, std::io::Error::to_string(&e)));
                }
            }
        }
    }
    let (addr, source) = last.unwrap_or_else(|| {
        (
            SocketAddr::new(IpAddr::from([0, 0, 0, 0]), port),
            std::io::Error::other("no address to connect to"),
        )
    });
    Err(ProbeError::Connect {
        addr,
        source,
        earlier,
    })
}

/// Aborts the spawned connection driver when the check ends (or is dropped by the timeout).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What one request sends (the spec's, or what a redirect turned it into).
struct RequestParts<'a> {
    method: &'a str,
    headers: &'a [Header],
    body: Option<&'a str>,
}

/// What one response gave.
struct Exchanged {
    code: u16,
    headers: http::HeaderMap,
    /// The first [`MAX_ASSERTED_BODY`] bytes when kept, else empty.
    body: Vec<u8>,
}

/// HTTP over an established (plain or TLS) connection: ttfb, then transfer.
async fn exchange<IO>(
    io: IO,
    h2: bool,
    parts: &RequestParts<'_>,
    target: &HttpTarget,
    keep_body: bool,
    attempt: &mut Attempt,
) -> Result<Exchanged, ProbeError>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    attempt.phase = Phase::WaitingForResponse;
    let request = build_request(parts, target, h2)?;
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
    let (head, mut body) = response.into_parts();
    let mut kept = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(http_error(Phase::Transfer))?;
        if let Some(data) = frame.data_ref() {
            attempt.outcome.response_bytes += data.len() as u64;
            attempt.hop_bytes += data.len() as u64;
            if keep_body && kept.len() < MAX_ASSERTED_BODY {
                let room = MAX_ASSERTED_BODY - kept.len();
                kept.extend_from_slice(&data[..data.len().min(room)]);
            }
        }
    }
    attempt.outcome.timings.transfer_us = attempt.lap();
    Ok(Exchanged {
        code,
        headers: head.headers,
        body: kept,
    })
}

/// HTTP/1.1: origin-form target plus `Host`. HTTP/2: absolute URI, which becomes `:scheme` and
/// `:authority` (no `Host` header).
fn build_request(
    parts: &RequestParts<'_>,
    target: &HttpTarget,
    h2: bool,
) -> Result<Request<Full<Bytes>>, ProbeError> {
    let invalid = |what: String| ProbeError::InvalidSpec(what);
    let path = &target.url[url::Position::BeforePath..url::Position::AfterQuery];
    let path = if path.is_empty() { "/" } else { path };
    let method =
        Method::from_bytes(parts.method.as_bytes()).map_err(|e| invalid(format!("method: {e}")))?;
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
    for h in parts.headers {
        has_user_agent |= h.name.eq_ignore_ascii_case("user-agent");
        builder = builder.header(h.name.as_str(), h.value.as_str());
    }
    if !has_user_agent {
        builder = builder.header(header::USER_AGENT, USER_AGENT);
    }
    let body = Bytes::from(parts.body.unwrap_or_default().to_owned());
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
            secret: false,
        });
        let target = parse_http_url(&spec.url).unwrap();
        fn parts(spec: &HttpSpec) -> RequestParts<'_> {
            RequestParts {
                method: &spec.method,
                headers: &spec.headers,
                body: spec.body.as_deref(),
            }
        }
        let h1 = build_request(&parts(&spec), &target, false).unwrap();
        assert_eq!(h1.uri(), "/a/b?c=d");
        assert_eq!(h1.headers()[header::HOST], "example.com:8080");
        assert_eq!(h1.headers()["x-token"], "t");
        assert_eq!(h1.headers()[header::USER_AGENT], USER_AGENT);
        let h2 = build_request(&parts(&spec), &target, true).unwrap();
        assert_eq!(h2.uri(), "http://example.com:8080/a/b?c=d");
        assert_eq!(h2.version(), Version::HTTP_2);
        assert!(h2.headers().get(header::HOST).is_none());

        spec.headers.push(crate::spec::Header {
            name: "User-Agent".into(),
            value: "mine".into(),
            secret: false,
        });
        let req = build_request(
            &parts(&spec),
            &parse_http_url("https://example.com").unwrap(),
            false,
        )
        .unwrap();
        assert_eq!(req.uri(), "/");
        assert_eq!(req.headers()[header::HOST], "example.com");
        assert_eq!(req.headers().get_all(header::USER_AGENT).iter().count(), 1);
        assert_eq!(req.headers()[header::USER_AGENT], "mine");
    }

    #[tokio::test]
    async fn the_next_allowed_address_is_tried_when_one_refuses() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut attempt = Attempt::new();
        let ips: Vec<IpAddr> = vec!["127.0.0.2".parse().unwrap(), "127.0.0.1".parse().unwrap()];
        let stream = connect_any(&ips, port, None, &mut attempt).await.unwrap();
        assert_eq!(stream.peer_addr().unwrap().ip(), ips[1]);
        assert_eq!(attempt.outcome.resolved_ip, Some(ips[1]));
        // A local pseudo-region's own loopback address is where the connection comes from.
        let _first = listener.accept().await.unwrap();
        let mut from_region = Attempt::new();
        let (_, accepted) = tokio::join!(
            connect_any(
                &ips[1..],
                port,
                Some("127.0.0.42".parse().unwrap()),
                &mut from_region
            ),
            listener.accept()
        );
        assert_eq!(
            accepted.unwrap().1.ip(),
            "127.0.0.42".parse::<IpAddr>().unwrap()
        );

        drop(listener);
        let mut attempt = Attempt::new();
        let err = connect_any(&ips, port, None, &mut attempt)
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("tcp connect to 127.0.0.1:{port} failed: "))
                && message.contains(&format!("(also failed: 127.0.0.2:{port}: ")),
            "{message}"
        );
    }

    #[test]
    fn degraded_only_above_the_threshold() {
        let mut attempt = Attempt::new();
        attempt.started -= Duration::from_millis(30);
        let outcome = attempt.finish(Ok(None), Some(10), None);
        assert_eq!(outcome.status, CheckStatus::Degraded);
        assert!(outcome
            .error
            .unwrap()
            .contains("above the degraded threshold of 10 ms"));
        assert_eq!(
            Attempt::new().finish(Ok(None), Some(10_000), None).status,
            CheckStatus::Up
        );
        let down = Attempt::new().finish(
            Err(ProbeError::UnexpectedStatus {
                expected: "200-399".into(),
                got: 503,
            }),
            None,
            None,
        );
        assert_eq!(down.status, CheckStatus::Down);
        assert_eq!(
            down.error.as_deref(),
            Some("expected status 200-399, got 503")
        );
    }
}
