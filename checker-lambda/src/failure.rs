//! What kind of failure a check had, in words a visitor may read.
//!
//! A [`Failure`] never holds an address, a resolver's answers or an error's text: those stay in
//! `CheckOutcome::error`, which only the tenant sees (admin, API, analytics). Status pages and
//! the public JSON show [`Failure::sentence`] and nothing else of a failure.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The stable kind of a failed (or degraded) check, as stored and reported.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// The monitor's spec cannot be checked as written.
    InvalidSpec,
    /// The name did not resolve, resolved to nothing, or the DNS query failed.
    DnsFailure,
    /// Every address is one the checks may not reach (private, loopback, metadata, ...).
    Blocked,
    ConnectionRefused,
    /// Reset, network or host unreachable, ...
    ConnectionFailed,
    /// `phase` is `None` when a run's deadline cut the check off.
    Timeout {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phase: Option<TimeoutPhase>,
    },
    TlsError {
        reason: TlsReason,
    },
    /// The server broke the HTTP exchange.
    HttpError,
    /// The response's status was not an expected one.
    HttpStatus {
        code: u16,
    },
    /// A redirect that could not be followed (bad `Location`, too many).
    Redirect,
    /// The response (or DNS answer) did not meet the monitor's assertions.
    AssertionFailed,
    /// Slower than the monitor's degraded or down threshold.
    Slow,
    /// The service's health document says one of its dependencies (or itself) is failing.
    DependencyDown,
    /// A kind this version does not know (a newer checker's).
    #[serde(other)]
    Other,
}

/// Why a TLS handshake or certificate failed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsReason {
    Expired,
    /// Within the monitor's expiry warning window (degraded, not down).
    ExpiresSoon,
    /// The chain does not lead to a trusted root, or is otherwise invalid.
    Untrusted,
    /// Not valid for the checked host name.
    NameMismatch,
    /// The handshake itself failed (protocol, ciphers, reset).
    Handshake,
}

/// The phase a timed-out check was in.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutPhase {
    Dns,
    Connect,
    TlsHandshake,
    WaitingForResponse,
    Transfer,
}

impl Failure {
    /// What a visitor reads: the kind, never the detail.
    pub fn sentence(&self) -> String {
        match self {
            Failure::InvalidSpec => "monitor misconfigured".into(),
            Failure::DnsFailure => "DNS failure".into(),
            Failure::Blocked => "target address not allowed".into(),
            Failure::ConnectionRefused => "connection refused".into(),
            Failure::ConnectionFailed => "connection failed".into(),
            Failure::Timeout { phase: None } => "timeout".into(),
            Failure::Timeout { phase: Some(phase) } => format!("timeout ({})", phase.as_str()),
            Failure::TlsError { reason } => format!("TLS error: {}", reason.as_str()),
            Failure::HttpError => "HTTP protocol error".into(),
            Failure::HttpStatus { code } => format!("HTTP status {code}"),
            Failure::Redirect => "redirect not followed".into(),
            Failure::AssertionFailed => "assertion failed".into(),
            Failure::Slow => "slow response".into(),
            Failure::DependencyDown => "a dependency is failing".into(),
            Failure::Other => "check failed".into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sentence())
    }
}

impl TlsReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            TlsReason::Expired => "certificate expired",
            TlsReason::ExpiresSoon => "certificate expires soon",
            TlsReason::Untrusted => "certificate not trusted",
            TlsReason::NameMismatch => "certificate name mismatch",
            TlsReason::Handshake => "handshake failed",
        }
    }

    /// The reason rustls gives for refusing a certificate or handshake.
    pub fn of_rustls(e: &rustls::Error) -> Self {
        use rustls::CertificateError as C;
        match e {
            rustls::Error::InvalidCertificate(c) => match c {
                C::Expired | C::ExpiredContext { .. } => TlsReason::Expired,
                C::NotValidForName | C::NotValidForNameContext { .. } => TlsReason::NameMismatch,
                _ => TlsReason::Untrusted,
            },
            _ => TlsReason::Handshake,
        }
    }

    /// The reason inside an I/O error from a TLS connector.
    pub fn of_io(e: &std::io::Error) -> Self {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .map(Self::of_rustls)
            .unwrap_or(TlsReason::Handshake)
    }
}

impl TimeoutPhase {
    pub fn as_str(&self) -> &'static str {
        match self {
            TimeoutPhase::Dns => "DNS",
            TimeoutPhase::Connect => "connecting",
            TimeoutPhase::TlsHandshake => "TLS handshake",
            TimeoutPhase::WaitingForResponse => "waiting for response",
            TimeoutPhase::Transfer => "reading response",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_stable_on_the_wire() {
        let cases = [
            (
                Failure::ConnectionRefused,
                r#"{"kind":"connection_refused"}"#,
            ),
            (
                Failure::HttpStatus { code: 503 },
                r#"{"kind":"http_status","code":503}"#,
            ),
            (
                Failure::TlsError {
                    reason: TlsReason::NameMismatch,
                },
                r#"{"kind":"tls_error","reason":"name_mismatch"}"#,
            ),
            (
                Failure::Timeout {
                    phase: Some(TimeoutPhase::Connect),
                },
                r#"{"kind":"timeout","phase":"connect"}"#,
            ),
        ];
        for (failure, json) in cases {
            assert_eq!(serde_json::to_string(&failure).unwrap(), json);
            assert_eq!(serde_json::from_str::<Failure>(json).unwrap(), failure);
        }
        let cut_off: Failure = serde_json::from_str(r#"{"kind":"timeout"}"#).unwrap();
        assert_eq!(cut_off, Failure::Timeout { phase: None });
        let newer: Failure = serde_json::from_str(r#"{"kind":"quantum_flux"}"#).unwrap();
        assert_eq!(newer, Failure::Other);
        assert_eq!(
            Failure::HttpStatus { code: 503 }.sentence(),
            "HTTP status 503"
        );
        assert_eq!(Failure::ConnectionRefused.to_string(), "connection refused");
    }

    #[test]
    fn rustls_reasons() {
        let cert = |c| rustls::Error::InvalidCertificate(c);
        use rustls::CertificateError as C;
        assert_eq!(TlsReason::of_rustls(&cert(C::Expired)), TlsReason::Expired);
        assert_eq!(
            TlsReason::of_rustls(&cert(C::UnknownIssuer)),
            TlsReason::Untrusted
        );
        assert_eq!(
            TlsReason::of_rustls(&cert(C::NotValidForName)),
            TlsReason::NameMismatch
        );
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, cert(C::Expired));
        assert_eq!(TlsReason::of_io(&io), TlsReason::Expired);
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(TlsReason::of_io(&reset), TlsReason::Handshake);
    }
}
