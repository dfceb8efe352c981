//! What to check. One definition, shared by the API (which validates what tenants write) and the
//! probe engine (which executes it).
//!
//! JSON shape: the spec is tagged by `type`:
//!
//! ```json
//! {"type": "http", "url": "https://example.com/health", "method": "GET",
//!  "headers": [{"name": "accept", "value": "application/json"}],
//!  "expected_status": ["200-299", "301"], "timeout_ms": 10000, "degraded_above_ms": 2000}
//! {"type": "tcp", "host": "db.example.com", "port": 5432}
//! ```
//!
//! `expected_status` entries are [`StatusRange`]s written as strings: `"200"`, `"200-299"`, or a
//! class `"2xx"`; a bare JSON number (`200`) is accepted too. They serialize as `"200"` or
//! `"200-299"`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;
pub const MIN_TIMEOUT_MS: u32 = 100;
pub const MAX_TIMEOUT_MS: u32 = 60_000;
pub const DEFAULT_METHOD: &str = "GET";
pub const ALLOWED_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
pub const MAX_URL_LEN: usize = 2048;
pub const MAX_HEADERS: usize = 32;
pub const MAX_HEADER_VALUE_LEN: usize = 4096;
pub const MAX_BODY_LEN: usize = 64 * 1024;
pub const MAX_STATUS_RANGES: usize = 16;
/// Headers the probe sets itself or that would break the framing of the request.
pub const RESERVED_HEADERS: [&str; 8] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "proxy-connection",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MonitorSpec {
    Http(HttpSpec),
    Tcp(TcpSpec),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpSpec {
    /// `http://` or `https://` only.
    pub url: String,
    /// One of [`ALLOWED_METHODS`], upper case. Default `GET`.
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default)]
    pub headers: Vec<Header>,
    /// Request body; not allowed with GET or HEAD.
    #[serde(default)]
    pub body: Option<String>,
    /// The check is up when the status code falls in any of these. Default `["200-399"]`.
    #[serde(default = "default_expected_status")]
    pub expected_status: Vec<StatusRange>,
    /// Bound on the whole check (DNS through body). Default 10 000, 100..=60 000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    /// A check whose total time is above this is `Degraded` (must be below `timeout_ms`).
    #[serde(default)]
    pub degraded_above_ms: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TcpSpec {
    /// A host name or an IP literal (IPv6 with or without brackets); no port.
    pub host: String,
    pub port: u16,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    #[serde(default)]
    pub degraded_above_ms: Option<u32>,
}

/// An inclusive range of HTTP status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusRange {
    pub min: u16,
    pub max: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn default_method() -> String {
    DEFAULT_METHOD.to_owned()
}

fn default_expected_status() -> Vec<StatusRange> {
    vec![StatusRange::new(200, 399)]
}

fn default_timeout_ms() -> u32 {
    DEFAULT_TIMEOUT_MS
}

impl HttpSpec {
    /// A GET of `url` with every other field at its default.
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            method: default_method(),
            headers: Vec::new(),
            body: None,
            expected_status: default_expected_status(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            degraded_above_ms: None,
        }
    }

    /// Whether `code` is one of the expected statuses.
    pub fn status_is_expected(&self, code: u16) -> bool {
        self.expected_status.iter().any(|r| r.contains(code))
    }

    /// The expected statuses as written in messages: `200-299, 301`.
    pub fn expected_status_label(&self) -> String {
        self.expected_status
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn validate_into(&self, errors: &mut Vec<FieldError>) {
        match parse_http_url(&self.url) {
            Ok(_) => {}
            Err(message) => errors.push(field_error("url", message)),
        }
        if !ALLOWED_METHODS.contains(&self.method.as_str()) {
            errors.push(field_error(
                "method",
                format!(
                    "must be one of {}, got {:?}",
                    ALLOWED_METHODS.join(", "),
                    self.method
                ),
            ));
        }
        if self.headers.len() > MAX_HEADERS {
            errors.push(field_error(
                "headers",
                format!("at most {MAX_HEADERS} headers, got {}", self.headers.len()),
            ));
        }
        for (i, header) in self.headers.iter().enumerate() {
            if let Err(message) = validate_header_name(&header.name) {
                errors.push(field_error(format!("headers[{i}].name"), message));
            }
            if header.value.len() > MAX_HEADER_VALUE_LEN {
                errors.push(field_error(
                    format!("headers[{i}].value"),
                    format!(
                        "at most {MAX_HEADER_VALUE_LEN} bytes, got {}",
                        header.value.len()
                    ),
                ));
            } else if http::HeaderValue::from_str(&header.value).is_err() {
                errors.push(field_error(
                    format!("headers[{i}].value"),
                    "must be visible ASCII, spaces or tabs (no control characters or line breaks)",
                ));
            }
        }
        if let Some(body) = &self.body {
            if matches!(self.method.as_str(), "GET" | "HEAD") {
                errors.push(field_error(
                    "body",
                    format!("a request body is not allowed with {}", self.method),
                ));
            } else if body.len() > MAX_BODY_LEN {
                errors.push(field_error(
                    "body",
                    format!("at most {MAX_BODY_LEN} bytes, got {}", body.len()),
                ));
            }
        }
        if self.expected_status.is_empty() {
            errors.push(field_error(
                "expected_status",
                "must list at least one status or range",
            ));
        } else if self.expected_status.len() > MAX_STATUS_RANGES {
            errors.push(field_error(
                "expected_status",
                format!(
                    "at most {MAX_STATUS_RANGES} entries, got {}",
                    self.expected_status.len()
                ),
            ));
        }
        for (i, range) in self.expected_status.iter().enumerate() {
            if let Err(message) = range.check() {
                errors.push(field_error(format!("expected_status[{i}]"), message));
            }
        }
        validate_timing(self.timeout_ms, self.degraded_above_ms, errors);
    }
}

impl TcpSpec {
    fn validate_into(&self, errors: &mut Vec<FieldError>) {
        if let Err(message) = parse_tcp_host(&self.host) {
            errors.push(field_error("host", message));
        }
        if self.port == 0 {
            errors.push(field_error("port", "must be between 1 and 65535, got 0"));
        }
        validate_timing(self.timeout_ms, self.degraded_above_ms, errors);
    }
}

impl MonitorSpec {
    /// Every problem with the spec, with field paths such as `url`, `headers[1].name`,
    /// `expected_status[0]`, `timeout_ms`.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        match self {
            MonitorSpec::Http(spec) => spec.validate_into(&mut errors),
            MonitorSpec::Tcp(spec) => spec.validate_into(&mut errors),
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// A human label for what is checked: the URL, or `host:port`.
    pub fn target(&self) -> String {
        match self {
            MonitorSpec::Http(spec) => spec.url.clone(),
            MonitorSpec::Tcp(spec) => {
                let host = spec.host.trim_start_matches('[').trim_end_matches(']');
                if host.parse::<std::net::Ipv6Addr>().is_ok() {
                    format!("[{host}]:{}", spec.port)
                } else {
                    format!("{host}:{}", spec.port)
                }
            }
        }
    }

    pub fn timeout_ms(&self) -> u32 {
        match self {
            MonitorSpec::Http(spec) => spec.timeout_ms,
            MonitorSpec::Tcp(spec) => spec.timeout_ms,
        }
    }

    pub fn degraded_above_ms(&self) -> Option<u32> {
        match self {
            MonitorSpec::Http(spec) => spec.degraded_above_ms,
            MonitorSpec::Tcp(spec) => spec.degraded_above_ms,
        }
    }
}

fn field_error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

fn validate_timing(timeout_ms: u32, degraded_above_ms: Option<u32>, errors: &mut Vec<FieldError>) {
    if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        errors.push(field_error(
            "timeout_ms",
            format!("must be between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS}, got {timeout_ms}"),
        ));
    }
    if let Some(degraded) = degraded_above_ms {
        if degraded == 0 || degraded >= timeout_ms {
            errors.push(field_error(
                "degraded_above_ms",
                format!(
                    "must be between 1 and timeout_ms - 1 ({}), got {degraded}",
                    timeout_ms.saturating_sub(1)
                ),
            ));
        }
    }
}

fn validate_header_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(format!(
            "{name:?} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"
        ));
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED_HEADERS.contains(&lower.as_str()) {
        return Err(format!(
            "{name:?} is set by the checker and cannot be overridden"
        ));
    }
    Ok(())
}

/// A parsed, checked HTTP(S) target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpTarget {
    pub url: url::Url,
    pub https: bool,
    pub host: TargetHost,
    pub port: u16,
    /// What goes in the `Host` header (and `:authority`): host, plus `:port` when not the default.
    pub authority: String,
    /// The host name as the TLS server name: the domain, or the IP literal without brackets.
    pub server_name: String,
}

/// Where to connect: an IP literal (no DNS) or a domain name (ASCII, lower case) to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TargetHost {
    Ip(IpAddr),
    Domain(String),
}

pub(crate) fn parse_http_url(raw: &str) -> Result<HttpTarget, String> {
    if raw.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if raw.len() > MAX_URL_LEN {
        return Err(format!(
            "at most {MAX_URL_LEN} characters, got {}",
            raw.len()
        ));
    }
    let url = url::Url::parse(raw).map_err(|e| format!("not a valid absolute URL: {e}"))?;
    let https = match url.scheme() {
        "http" => false,
        "https" => true,
        other => return Err(format!("scheme must be http or https, got {other:?}")),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "credentials in the URL are not supported; send an Authorization header instead".into(),
        );
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => TargetHost::Domain(d.to_owned()),
        Some(url::Host::Ipv4(ip)) => TargetHost::Ip(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => TargetHost::Ip(IpAddr::V6(ip)),
        _ => return Err("must include a host".into()),
    };
    let port = url
        .port_or_known_default()
        .unwrap_or(if https { 443 } else { 80 });
    if port == 0 {
        return Err("port must be between 1 and 65535, got 0".into());
    }
    let host_str = url.host_str().unwrap_or_default().to_owned();
    let authority = match url.port() {
        Some(p) => format!("{host_str}:{p}"),
        None => host_str.clone(),
    };
    let server_name = host_str
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Ok(HttpTarget {
        url,
        https,
        host,
        port,
        authority,
        server_name,
    })
}

pub(crate) fn parse_tcp_host(raw: &str) -> Result<TargetHost, String> {
    let host = raw.trim();
    if host.is_empty() {
        return Err("must not be empty".into());
    }
    if host != raw {
        return Err(format!("{raw:?} has leading or trailing whitespace"));
    }
    if host.contains("://") {
        return Err(format!(
            "{raw:?} must be a host name or IP address, not a URL"
        ));
    }
    let unbracketed = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return Ok(TargetHost::Ip(ip));
    }
    if host.contains(':') {
        return Err(format!(
            "{raw:?} must not include a port; use the port field"
        ));
    }
    if host.len() > 253 {
        return Err(format!(
            "host names are at most 253 characters, got {}",
            host.len()
        ));
    }
    match url::Host::parse(host) {
        Ok(url::Host::Domain(d)) => {
            let valid = d.trim_end_matches('.').split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
            if valid {
                Ok(TargetHost::Domain(d))
            } else {
                Err(format!("{raw:?} is not a valid host name"))
            }
        }
        Ok(url::Host::Ipv4(ip)) => Ok(TargetHost::Ip(IpAddr::V4(ip))),
        Ok(url::Host::Ipv6(ip)) => Ok(TargetHost::Ip(IpAddr::V6(ip))),
        Err(e) => Err(format!("{raw:?} is not a valid host name: {e}")),
    }
}

impl StatusRange {
    pub const fn new(min: u16, max: u16) -> Self {
        Self { min, max }
    }

    pub const fn single(code: u16) -> Self {
        Self {
            min: code,
            max: code,
        }
    }

    pub fn contains(&self, code: u16) -> bool {
        (self.min..=self.max).contains(&code)
    }

    /// Checks the range is within 100..=599 and not reversed.
    pub fn check(&self) -> Result<(), String> {
        for code in [self.min, self.max] {
            if !(100..=599).contains(&code) {
                return Err(format!("status codes are between 100 and 599, got {code}"));
            }
        }
        if self.min > self.max {
            return Err(format!(
                "range {}-{} is reversed; write {}-{}",
                self.min, self.max, self.max, self.min
            ));
        }
        Ok(())
    }
}

impl fmt::Display for StatusRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}-{}", self.min, self.max)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid status range {input:?}: expected a code (\"200\"), a range (\"200-299\") or a class (\"2xx\")")]
pub struct StatusRangeParseError {
    pub input: String,
}

impl FromStr for StatusRange {
    type Err = StatusRangeParseError;

    /// Parses `"200"`, `"200-299"` or `"2xx"`. Bounds are not checked here; see [`StatusRange::check`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || StatusRangeParseError {
            input: s.to_owned(),
        };
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        if lower.len() == 3 && lower.ends_with("xx") {
            let class = lower[..1].parse::<u16>().map_err(|_| err())?;
            return Ok(Self::new(class * 100, class * 100 + 99));
        }
        let number = |p: &str| -> Result<u16, StatusRangeParseError> {
            let p = p.trim();
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            p.parse::<u16>().map_err(|_| err())
        };
        match t.split_once('-') {
            Some((a, b)) => Ok(Self::new(number(a)?, number(b)?)),
            None => number(t).map(Self::single),
        }
    }
}

impl Serialize for StatusRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for StatusRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = StatusRange;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a status code or range such as \"200\", \"200-299\" or \"2xx\"")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StatusRange, E> {
                v.parse().map_err(E::custom)
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<StatusRange, E> {
                u16::try_from(v)
                    .map(StatusRange::single)
                    .map_err(|_| E::custom(format!("status code {v} is out of range")))
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<StatusRange, E> {
                u16::try_from(v)
                    .map(StatusRange::single)
                    .map_err(|_| E::custom(format!("status code {v} is out of range")))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(url: &str) -> HttpSpec {
        HttpSpec::get(url)
    }

    fn errors(spec: HttpSpec) -> Vec<FieldError> {
        MonitorSpec::Http(spec).validate().unwrap_err()
    }

    fn only(spec: HttpSpec) -> FieldError {
        let errs = errors(spec);
        assert_eq!(errs.len(), 1, "{errs:?}");
        errs.into_iter().next().unwrap()
    }

    #[test]
    fn defaults_fill_in_from_minimal_json() {
        let spec: MonitorSpec =
            serde_json::from_str(r#"{"type":"http","url":"https://example.com"}"#).unwrap();
        assert_eq!(
            spec,
            MonitorSpec::Http(HttpSpec::get("https://example.com"))
        );
        let MonitorSpec::Http(h) = &spec else {
            panic!()
        };
        assert_eq!(h.method, "GET");
        assert_eq!(h.expected_status, vec![StatusRange::new(200, 399)]);
        assert_eq!(h.timeout_ms, 10_000);
        assert!(spec.validate().is_ok());

        let tcp: MonitorSpec =
            serde_json::from_str(r#"{"type":"tcp","host":"db.example.com","port":5432}"#).unwrap();
        assert_eq!(
            tcp,
            MonitorSpec::Tcp(TcpSpec {
                host: "db.example.com".into(),
                port: 5432,
                timeout_ms: 10_000,
                degraded_above_ms: None
            })
        );
        assert!(tcp.validate().is_ok());
        assert_eq!(tcp.target(), "db.example.com:5432");
    }

    #[test]
    fn round_trips_through_json() {
        let spec = MonitorSpec::Http(HttpSpec {
            url: "https://example.com/health?x=1".into(),
            method: "POST".into(),
            headers: vec![Header {
                name: "x-token".into(),
                value: "abc".into(),
            }],
            body: Some("{}".into()),
            expected_status: vec![StatusRange::new(200, 299), StatusRange::single(301)],
            timeout_ms: 5000,
            degraded_above_ms: Some(1000),
        });
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["type"], "http");
        assert_eq!(
            json["expected_status"],
            serde_json::json!(["200-299", "301"])
        );
        let back: MonitorSpec = serde_json::from_value(json).unwrap();
        assert_eq!(back, spec);
        assert!(spec.validate().is_ok());
    }

    #[test]
    fn status_ranges_parse_from_strings_numbers_and_classes() {
        let spec: HttpSpec = serde_json::from_str(
            r#"{"url":"http://a.example","expected_status":["200-299", 301, "4xx", " 204 "]}"#,
        )
        .unwrap();
        assert_eq!(
            spec.expected_status,
            vec![
                StatusRange::new(200, 299),
                StatusRange::single(301),
                StatusRange::new(400, 499),
                StatusRange::single(204)
            ]
        );
        assert!(spec.status_is_expected(250));
        assert!(spec.status_is_expected(301));
        assert!(!spec.status_is_expected(302));
        assert_eq!(spec.expected_status_label(), "200-299, 301, 400-499, 204");
        for bad in [
            "",
            "abc",
            "200-",
            "-200",
            "2x",
            "200-300-400",
            "+200",
            "99999",
        ] {
            assert!(bad.parse::<StatusRange>().is_err(), "{bad:?} parsed");
        }
        let err =
            serde_json::from_str::<HttpSpec>(r#"{"url":"http://a","expected_status":["nope"]}"#)
                .unwrap_err();
        assert!(
            err.to_string().contains("invalid status range \"nope\""),
            "{err}"
        );
    }

    #[test]
    fn url_must_be_http_or_https_with_a_host() {
        assert_eq!(
            only(http("ftp://example.com/file")),
            FieldError {
                field: "url".into(),
                message: "scheme must be http or https, got \"ftp\"".into()
            }
        );
        assert!(only(http("example.com"))
            .message
            .starts_with("not a valid absolute URL: relative URL without a base"));
        assert_eq!(only(http("")).message, "must not be empty");
        assert_eq!(
            only(http("http://")).message,
            "not a valid absolute URL: empty host"
        );
        assert!(only(http("https://user:pw@example.com"))
            .message
            .starts_with("credentials in the URL"));
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(only(http(&long))
            .message
            .starts_with("at most 2048 characters"));
        for ok in [
            "http://example.com",
            "https://example.com:8443/a?b=c",
            "http://127.0.0.1:8080/",
            "http://[::1]:8080/",
            "https://bücher.example/",
        ] {
            assert!(MonitorSpec::Http(http(ok)).validate().is_ok(), "{ok}");
        }
    }

    #[test]
    fn parsed_url_gives_authority_and_server_name() {
        let t = parse_http_url("https://Example.COM:8443/x").unwrap();
        assert_eq!(t.host, TargetHost::Domain("example.com".into()));
        assert_eq!((t.port, t.https), (8443, true));
        assert_eq!(t.authority, "example.com:8443");
        assert_eq!(t.server_name, "example.com");
        let t = parse_http_url("http://[::1]/").unwrap();
        assert_eq!(t.host, TargetHost::Ip("::1".parse().unwrap()));
        assert_eq!(
            (t.port, t.authority.as_str(), t.server_name.as_str()),
            (80, "[::1]", "::1")
        );
        // Numeric host tricks are normalised to the address they mean, so the guard sees it.
        let t = parse_http_url("http://2130706433/").unwrap();
        assert_eq!(t.host, TargetHost::Ip("127.0.0.1".parse().unwrap()));
        let t = parse_http_url("https://bücher.example/").unwrap();
        assert_eq!(t.host, TargetHost::Domain("xn--bcher-kva.example".into()));
    }

    #[test]
    fn method_must_be_known_and_upper_case() {
        let mut spec = http("https://example.com");
        spec.method = "get".into();
        assert_eq!(
            only(spec).message,
            "must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, got \"get\""
        );
        let mut spec = http("https://example.com");
        spec.method = "TRACE".into();
        assert_eq!(only(spec).field, "method");
    }

    #[test]
    fn headers_are_checked_one_by_one() {
        let mut spec = http("https://example.com");
        spec.headers = vec![
            Header {
                name: "accept".into(),
                value: "*/*".into(),
            },
            Header {
                name: "bad name".into(),
                value: "x".into(),
            },
            Header {
                name: "Host".into(),
                value: "evil.example".into(),
            },
            Header {
                name: "x-ok".into(),
                value: "line\r\nbreak".into(),
            },
            Header {
                name: "".into(),
                value: "x".into(),
            },
        ];
        let errs = errors(spec);
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "headers[1].name",
                "headers[2].name",
                "headers[3].value",
                "headers[4].name"
            ]
        );
        assert!(errs[0]
            .message
            .contains("\"bad name\" is not a valid header name"));
        assert_eq!(
            errs[1].message,
            "\"Host\" is set by the checker and cannot be overridden"
        );
        assert!(errs[2].message.contains("no control characters"));
        assert_eq!(errs[3].message, "must not be empty");

        let mut spec = http("https://example.com");
        spec.headers = (0..=MAX_HEADERS)
            .map(|i| Header {
                name: format!("x-{i}"),
                value: "v".into(),
            })
            .collect();
        assert_eq!(only(spec).message, "at most 32 headers, got 33");
    }

    #[test]
    fn body_only_with_methods_that_take_one() {
        let mut spec = http("https://example.com");
        spec.body = Some("x".into());
        assert_eq!(
            only(spec.clone()),
            FieldError {
                field: "body".into(),
                message: "a request body is not allowed with GET".into()
            }
        );
        spec.method = "POST".into();
        assert!(MonitorSpec::Http(spec.clone()).validate().is_ok());
        spec.body = Some("x".repeat(MAX_BODY_LEN + 1));
        assert_eq!(only(spec).message, "at most 65536 bytes, got 65537");
    }

    #[test]
    fn expected_status_entries_are_checked() {
        let mut spec = http("https://example.com");
        spec.expected_status = vec![];
        assert_eq!(only(spec.clone()).field, "expected_status");
        spec.expected_status = vec![
            StatusRange::new(200, 299),
            StatusRange::new(99, 200),
            StatusRange::new(300, 200),
        ];
        let errs = errors(spec);
        assert_eq!(
            errs,
            vec![
                FieldError {
                    field: "expected_status[1]".into(),
                    message: "status codes are between 100 and 599, got 99".into()
                },
                FieldError {
                    field: "expected_status[2]".into(),
                    message: "range 300-200 is reversed; write 200-300".into()
                },
            ]
        );
    }

    #[test]
    fn timeout_and_degraded_threshold_are_bounded() {
        let mut spec = http("https://example.com");
        spec.timeout_ms = 50;
        assert_eq!(
            only(spec.clone()),
            FieldError {
                field: "timeout_ms".into(),
                message: "must be between 100 and 60000, got 50".into()
            }
        );
        spec.timeout_ms = 60_001;
        assert_eq!(only(spec.clone()).field, "timeout_ms");
        spec.timeout_ms = 1000;
        spec.degraded_above_ms = Some(1000);
        assert_eq!(
            only(spec.clone()),
            FieldError {
                field: "degraded_above_ms".into(),
                message: "must be between 1 and timeout_ms - 1 (999), got 1000".into()
            }
        );
        spec.degraded_above_ms = Some(0);
        assert_eq!(only(spec.clone()).field, "degraded_above_ms");
        spec.degraded_above_ms = Some(999);
        assert!(MonitorSpec::Http(spec).validate().is_ok());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let spec = HttpSpec {
            url: "gopher://x".into(),
            method: "FETCH".into(),
            headers: vec![Header {
                name: "content-length".into(),
                value: "1".into(),
            }],
            body: None,
            expected_status: vec![StatusRange::single(600)],
            timeout_ms: 0,
            degraded_above_ms: None,
        };
        let fields: Vec<String> = errors(spec).into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "url",
                "method",
                "headers[0].name",
                "expected_status[0]",
                "timeout_ms"
            ]
        );
    }

    #[test]
    fn tcp_host_and_port_are_checked() {
        let tcp = |host: &str, port: u16| {
            MonitorSpec::Tcp(TcpSpec {
                host: host.into(),
                port,
                timeout_ms: DEFAULT_TIMEOUT_MS,
                degraded_above_ms: None,
            })
        };
        for ok in [
            "db.example.com",
            "10.0.0.1",
            "::1",
            "[::1]",
            "localhost",
            "_srv.example.com",
        ] {
            assert!(tcp(ok, 5432).validate().is_ok(), "{ok}");
        }
        let err = |host: &str, port: u16| tcp(host, port).validate().unwrap_err();
        assert_eq!(
            err("", 1),
            vec![FieldError {
                field: "host".into(),
                message: "must not be empty".into()
            }]
        );
        assert_eq!(
            err("db.example.com:5432", 1)[0].message,
            "\"db.example.com:5432\" must not include a port; use the port field"
        );
        assert_eq!(
            err("tcp://db", 1)[0].message,
            "\"tcp://db\" must be a host name or IP address, not a URL"
        );
        assert_eq!(err("bad host", 1)[0].field, "host");
        assert_eq!(
            err("a..b", 1)[0].message,
            "\"a..b\" is not a valid host name"
        );
        assert_eq!(
            err("db.example.com", 0),
            vec![FieldError {
                field: "port".into(),
                message: "must be between 1 and 65535, got 0".into()
            }]
        );
        assert_eq!(tcp("::1", 22).target(), "[::1]:22");
        assert_eq!(tcp("[::1]", 22).target(), "[::1]:22");
        assert_eq!(tcp("10.0.0.1", 22).target(), "10.0.0.1:22");
        assert_eq!(
            MonitorSpec::Http(http("https://example.com/x")).target(),
            "https://example.com/x"
        );
    }
}
