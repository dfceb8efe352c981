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
//! {"type": "dns", "host": "example.com", "record_type": "MX", "resolver": "9.9.9.9",
//!  "expected_rcode": "NOERROR", "expected_answers": ["10 mail.example.com"]}
//! {"type": "tls", "host": "example.com", "port": 443, "expiry_warning_days": 14}
//! ```
//!
//! HTTP specs may also say `"follow_redirects": true, "max_redirects": 5`, list `assertions`
//! (`{"kind": "header", "name": "content-type", "op": "contains", "value": "json"}`,
//! `{"kind": "body_contains", "value": "ok"}`, `{"kind": "body_regex", "pattern": "^ok"}`,
//! `{"kind": "json_path", "path": "$.status", "op": "==", "value": "ok"}`), set
//! `"down_above_ms"` (slower is down) and `"cert_expiry_days"` (https: a certificate expiring
//! within that many days is degraded). Every kind takes `"retries"` (0..=5) and
//! `"retry_backoff_ms"` (doubled after each failed attempt); every attempt and backoff together
//! must fit in [`MAX_CHECK_BUDGET_MS`] (40 s). Every new field has a default, so
//! older specs parse unchanged.
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
pub const DEFAULT_MAX_REDIRECTS: u8 = 5;
pub const MAX_REDIRECTS: u8 = 20;
pub const MAX_RETRIES: u8 = 5;
pub const DEFAULT_RETRY_BACKOFF_MS: u32 = 200;
pub const MAX_RETRY_BACKOFF_MS: u32 = 10_000;
/// Most time one check may take, every attempt and every backoff included:
/// `(retries + 1) × timeout_ms + retry_backoff_ms × (2^retries − 1)`. The Lambda runs every
/// minute with a 60 s timeout; its run stops 5 s before that to store and report, and the work
/// plan may take up to 15 s (the API client's timeout): 60 − 5 − 15 = 40 s are left for the
/// checks. The local runner gives every run at least this plus 5 s.
pub const MAX_CHECK_BUDGET_MS: u32 = 40_000;
pub const MAX_ASSERTIONS: usize = 16;
pub const MAX_ASSERTION_TEXT_LEN: usize = 1024;
pub const MAX_DNS_ANSWERS: usize = 32;
pub const DEFAULT_EXPIRY_WARNING_DAYS: u32 = 14;
pub const MAX_EXPIRY_DAYS: u32 = 365;
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MonitorSpec {
    Http(HttpSpec),
    Tcp(TcpSpec),
    Dns(DnsSpec),
    Tls(TlsSpec),
    /// Pushed, not probed: the job calls the monitor's secret URL (see the API's heartbeats).
    Heartbeat(HeartbeatSpec),
}

/// The shortest and longest period of a heartbeat monitor.
pub const MIN_HEARTBEAT_PERIOD_SECONDS: u32 = 30;
pub const MAX_HEARTBEAT_PERIOD_SECONDS: u32 = 31 * 86_400;
/// The longest grace after an expected ping.
pub const MAX_HEARTBEAT_GRACE_SECONDS: u32 = 86_400;
pub const DEFAULT_HEARTBEAT_GRACE_SECONDS: u32 = 60;

/// When a job is expected to call in: every `period_seconds`, or at each time of a five-field
/// `cron` expression in `timezone`; late by more than `grace_seconds`, the monitor is down. The
/// cron expression and the zone are checked by the API (`api::heartbeats::schedule`), which owns
/// the clock; the checkers never run these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeartbeatSpec {
    /// Expected at least this often, in seconds (30 to 2,678,400). Give this or `cron`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<u32>,
    /// Expected at each time of this cron expression (minute hour day-of-month month
    /// day-of-week, e.g. `0 3 * * *`), in `timezone`. Give this or `period_seconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// IANA zone of `cron` (e.g. `Europe/Paris`; default `UTC`).
    #[serde(default = "utc_zone")]
    pub timezone: String,
    /// How late a ping may be before the monitor is down, in seconds (0 to 86,400; default 60).
    #[serde(default = "default_heartbeat_grace")]
    pub grace_seconds: u32,
}

fn utc_zone() -> String {
    "UTC".into()
}

fn default_heartbeat_grace() -> u32 {
    DEFAULT_HEARTBEAT_GRACE_SECONDS
}

impl HeartbeatSpec {
    /// Every `period_seconds`, with the default grace.
    pub fn every(period_seconds: u32) -> Self {
        Self {
            period_seconds: Some(period_seconds),
            cron: None,
            timezone: utc_zone(),
            grace_seconds: DEFAULT_HEARTBEAT_GRACE_SECONDS,
        }
    }

    fn validate_into(&self, errors: &mut Vec<FieldError>) {
        match (&self.period_seconds, &self.cron) {
            (None, None) => errors.push(field_error(
                "period_seconds",
                "give period_seconds or cron: how often the job calls in",
            )),
            (Some(_), Some(_)) => errors.push(field_error(
                "cron",
                "give period_seconds or cron, not both",
            )),
            (Some(period), None)
                if !(MIN_HEARTBEAT_PERIOD_SECONDS..=MAX_HEARTBEAT_PERIOD_SECONDS)
                    .contains(period) =>
            {
                errors.push(field_error(
                    "period_seconds",
                    format!(
                        "must be {MIN_HEARTBEAT_PERIOD_SECONDS} to {MAX_HEARTBEAT_PERIOD_SECONDS} seconds (31 days)"
                    ),
                ))
            }
            (None, Some(cron)) if cron.trim().is_empty() || cron.len() > 100 => errors.push(
                field_error("cron", "must be a cron expression of 1 to 100 characters"),
            ),
            _ => {}
        }
        if self.timezone.is_empty()
            || self.timezone.len() > 64
            || !self
                .timezone
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c))
        {
            errors.push(field_error(
                "timezone",
                "must be an IANA time zone name such as UTC or Europe/Paris",
            ));
        }
        if self.grace_seconds > MAX_HEARTBEAT_GRACE_SECONDS {
            errors.push(field_error(
                "grace_seconds",
                format!("must be 0 to {MAX_HEARTBEAT_GRACE_SECONDS} seconds"),
            ));
        }
    }
}

/// How often a failed (down) check is tried again within one run, and how long to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    pub retries: u8,
    pub backoff_ms: u32,
}

impl RetryPolicy {
    /// The wait before attempt `next` (2, 3, ...): `backoff_ms`, doubled for each later attempt.
    pub fn delay_before(&self, next: u8) -> std::time::Duration {
        let doublings = u32::from(next.saturating_sub(2)).min(16);
        std::time::Duration::from_millis(u64::from(self.backoff_ms) << doublings)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>, example = json!(["200-299", "301"])))]
    pub expected_status: Vec<StatusRange>,
    /// Bound on one attempt (DNS through body). Default 10 000, 100..=60 000, and the whole
    /// check, retries and backoff included, within [`MAX_CHECK_BUDGET_MS`].
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    /// A check whose total time is above this is `Degraded` (must be below `timeout_ms`).
    #[serde(default)]
    pub degraded_above_ms: Option<u32>,
    /// A check whose total time is above this is `Down` (above `degraded_above_ms`, below
    /// `timeout_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_above_ms: Option<u32>,
    /// Follow 3xx responses with a `Location` (each target passes the SSRF guard again).
    #[serde(default, skip_serializing_if = "is_false")]
    pub follow_redirects: bool,
    /// Most redirects followed before the check is down. Default 5, 1..=20.
    #[serde(
        default = "default_max_redirects",
        skip_serializing_if = "is_default_max_redirects"
    )]
    pub max_redirects: u8,
    /// Checks on the final response; every failing one is reported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assertions: Vec<Assertion>,
    /// https only: a certificate expiring within this many days makes the check `Degraded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_expiry_days: Option<u32>,
    /// Read the response as a health document ([`crate::health`]): a dependency it says is down
    /// makes the check down (naming it), one degraded makes it degraded, and the document and
    /// its dependencies are kept with the result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthOptions>,
    #[serde(default, skip_serializing_if = "is_zero_u8")]
    pub retries: u8,
    #[serde(
        default = "default_retry_backoff_ms",
        skip_serializing_if = "is_default_backoff"
    )]
    pub retry_backoff_ms: u32,
}

/// How a health document is used (`{}` for the defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HealthOptions {
    /// Show the dependencies on the public status page, under the monitor's component, each
    /// with its status and timing. Default false: the tenant sees them, visitors do not.
    #[serde(default)]
    pub show_on_page: bool,
}

/// A check on the response, beyond its status code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Assertion {
    /// A response header: `op` is `exists` (default), `absent`, `equals`, `contains` or `matches`
    /// (a regex); names are case-insensitive.
    Header {
        name: String,
        #[serde(default)]
        op: HeaderOp,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
    },
    /// The body (first 1 MiB) contains `value`.
    BodyContains { value: String },
    /// The body (first 1 MiB, as UTF-8 with replacement) matches the regex `pattern`.
    BodyRegex { pattern: String },
    /// The JSON body's value at `path` (`$.a.b[0]`) compares with `value`: numbers with any of
    /// `==, !=, <, <=, >, >=`, other values with `==` and `!=`.
    JsonPath {
        path: String,
        op: CompareOp,
        value: serde_json::Value,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HeaderOp {
    #[default]
    Exists,
    Absent,
    Equals,
    Contains,
    Matches,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CompareOp {
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl CompareOp {
    pub fn as_str(&self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Assertion {
    /// Parses `$.path OP value`, e.g. `$.status == "ok"` or `$.items[0].n >= 3`; the value is
    /// JSON (a bare word that is not JSON is taken as a string).
    pub fn parse_json_expr(expr: &str) -> Result<Assertion, String> {
        let expr = expr.trim();
        // Two-character operators first, so `<=` is not read as `<`.
        for op in [
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Le,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Gt,
        ] {
            if let Some((path, value)) = expr.split_once(op.as_str()) {
                let value = value.trim();
                let value = serde_json::from_str(value)
                    .unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
                return Ok(Assertion::JsonPath {
                    path: path.trim().to_owned(),
                    op,
                    value,
                });
            }
        }
        Err(format!(
            "{expr:?} must look like `$.path OP value` with OP one of ==, !=, <, <=, >, >="
        ))
    }

    fn validate_into(&self, at: &str, errors: &mut Vec<FieldError>) {
        let long = |v: &str| v.len() > MAX_ASSERTION_TEXT_LEN;
        let too_long = || format!("at most {MAX_ASSERTION_TEXT_LEN} bytes");
        match self {
            Assertion::Header { name, op, value } => {
                if name.is_empty() || http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    errors.push(field_error(
                        format!("{at}.name"),
                        format!("{name:?} is not a valid header name"),
                    ));
                }
                match (op, value) {
                    (HeaderOp::Exists | HeaderOp::Absent, Some(_)) => errors.push(field_error(
                        format!("{at}.value"),
                        "must be omitted with op exists or absent",
                    )),
                    (HeaderOp::Exists | HeaderOp::Absent, None) => {}
                    (_, None) => errors.push(field_error(
                        format!("{at}.value"),
                        "is required with op equals, contains or matches",
                    )),
                    (_, Some(v)) if long(v) => {
                        errors.push(field_error(format!("{at}.value"), too_long()))
                    }
                    (HeaderOp::Matches, Some(v)) => {
                        if let Err(e) = regex::Regex::new(v) {
                            errors.push(field_error(
                                format!("{at}.value"),
                                format!("not a valid regex: {e}"),
                            ));
                        }
                    }
                    (_, Some(_)) => {}
                }
            }
            Assertion::BodyContains { value } => {
                if value.is_empty() {
                    errors.push(field_error(format!("{at}.value"), "must not be empty"));
                } else if long(value) {
                    errors.push(field_error(format!("{at}.value"), too_long()));
                }
            }
            Assertion::BodyRegex { pattern } => {
                if long(pattern) {
                    errors.push(field_error(format!("{at}.pattern"), too_long()));
                } else if let Err(e) = regex::Regex::new(pattern) {
                    errors.push(field_error(
                        format!("{at}.pattern"),
                        format!("not a valid regex: {e}"),
                    ));
                }
            }
            Assertion::JsonPath { path, op, value } => {
                if long(path) {
                    errors.push(field_error(format!("{at}.path"), too_long()));
                } else if let Err(e) = crate::assertions::parse_json_path(path) {
                    errors.push(field_error(format!("{at}.path"), e));
                }
                let ordered = !matches!(op, CompareOp::Eq | CompareOp::Ne);
                if ordered && !value.is_number() {
                    errors.push(field_error(
                        format!("{at}.value"),
                        format!("must be a number with {op}, got {value}"),
                    ));
                }
                if matches!(
                    value,
                    serde_json::Value::Array(_) | serde_json::Value::Object(_)
                ) {
                    errors.push(field_error(
                        format!("{at}.value"),
                        "must be a string, number, boolean or null",
                    ));
                }
            }
        }
    }
}

/// A DNS record type a DNS check can ask for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum DnsRecordType {
    #[default]
    A,
    Aaaa,
    Cname,
    Mx,
    Txt,
    Ns,
}

impl DnsRecordType {
    pub fn code(&self) -> u16 {
        match self {
            DnsRecordType::A => 1,
            DnsRecordType::Ns => 2,
            DnsRecordType::Cname => 5,
            DnsRecordType::Mx => 15,
            DnsRecordType::Txt => 16,
            DnsRecordType::Aaaa => 28,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            DnsRecordType::A => "A",
            DnsRecordType::Aaaa => "AAAA",
            DnsRecordType::Cname => "CNAME",
            DnsRecordType::Mx => "MX",
            DnsRecordType::Txt => "TXT",
            DnsRecordType::Ns => "NS",
        }
    }
}

/// A DNS response code a DNS check can expect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum DnsRcode {
    #[default]
    NoError,
    FormErr,
    ServFail,
    NxDomain,
    NotImp,
    Refused,
}

impl DnsRcode {
    pub fn code(&self) -> u8 {
        match self {
            DnsRcode::NoError => 0,
            DnsRcode::FormErr => 1,
            DnsRcode::ServFail => 2,
            DnsRcode::NxDomain => 3,
            DnsRcode::NotImp => 4,
            DnsRcode::Refused => 5,
        }
    }

    /// The name of a response code (`RCODE5`-style for codes without a name here).
    pub fn name_of(code: u8) -> String {
        match code {
            0 => "NOERROR".into(),
            1 => "FORMERR".into(),
            2 => "SERVFAIL".into(),
            3 => "NXDOMAIN".into(),
            4 => "NOTIMP".into(),
            5 => "REFUSED".into(),
            other => format!("RCODE{other}"),
        }
    }
}

/// A DNS query over UDP, judged by its response code and (optionally) its answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DnsSpec {
    /// The name to query (not `name`: that is the monitor's own name in the API).
    pub host: String,
    #[serde(default)]
    pub record_type: DnsRecordType,
    /// `IP` or `IP:port` (`[v6]:port`) of the resolver to ask; default: the first `nameserver`
    /// in `/etc/resolv.conf`. A given resolver passes the SSRF guard; the system one is trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver: Option<String>,
    #[serde(default)]
    pub expected_rcode: DnsRcode,
    /// Each of these must be among the answers of the asked type: addresses for A/AAAA, names
    /// for CNAME/NS, `"10 mail.example.com"` for MX, the text for TXT. Names compare without
    /// case and trailing dot. Empty: any answers (or none) will do.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected_answers: Vec<String>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    #[serde(default)]
    pub degraded_above_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "is_zero_u8")]
    pub retries: u8,
    #[serde(
        default = "default_retry_backoff_ms",
        skip_serializing_if = "is_default_backoff"
    )]
    pub retry_backoff_ms: u32,
}

/// A TLS certificate monitor: handshake only, judged on chain validity, host name match and
/// days to expiry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TlsSpec {
    /// Host name (also the SNI and the name the certificate must match) or IP literal.
    pub host: String,
    #[serde(default = "default_tls_port")]
    pub port: u16,
    /// Fewer days than this to expiry makes the check `Degraded`. Default 14, 0..=365.
    #[serde(default = "default_expiry_warning_days")]
    pub expiry_warning_days: u32,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    #[serde(default)]
    pub degraded_above_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "is_zero_u8")]
    pub retries: u8,
    #[serde(
        default = "default_retry_backoff_ms",
        skip_serializing_if = "is_default_backoff"
    )]
    pub retry_backoff_ms: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Header {
    pub name: String,
    pub value: String,
    /// The value is a credential (e.g. `authorization`): the API shows it as `********` to
    /// tokens without the `admin` scope, and a write that sends `********` back keeps the stored
    /// value. Absent: `false`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub secret: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TcpSpec {
    /// A host name or an IP literal (IPv6 with or without brackets); no port.
    pub host: String,
    pub port: u16,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    #[serde(default)]
    pub degraded_above_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "is_zero_u8")]
    pub retries: u8,
    #[serde(
        default = "default_retry_backoff_ms",
        skip_serializing_if = "is_default_backoff"
    )]
    pub retry_backoff_ms: u32,
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

fn default_max_redirects() -> u8 {
    DEFAULT_MAX_REDIRECTS
}

fn default_retry_backoff_ms() -> u32 {
    DEFAULT_RETRY_BACKOFF_MS
}

fn default_tls_port() -> u16 {
    443
}

fn default_expiry_warning_days() -> u32 {
    DEFAULT_EXPIRY_WARNING_DAYS
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero_u8(n: &u8) -> bool {
    *n == 0
}

fn is_default_max_redirects(n: &u8) -> bool {
    *n == DEFAULT_MAX_REDIRECTS
}

fn is_default_backoff(n: &u32) -> bool {
    *n == DEFAULT_RETRY_BACKOFF_MS
}

impl TcpSpec {
    /// A connect check of `host:port` with every other field at its default.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            degraded_above_ms: None,
            retries: 0,
            retry_backoff_ms: DEFAULT_RETRY_BACKOFF_MS,
        }
    }
}

impl DnsSpec {
    /// A query for `record_type` records of `host` with every other field at its default.
    pub fn new(host: impl Into<String>, record_type: DnsRecordType) -> Self {
        Self {
            host: host.into(),
            record_type,
            resolver: None,
            expected_rcode: DnsRcode::NoError,
            expected_answers: Vec::new(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            degraded_above_ms: None,
            retries: 0,
            retry_backoff_ms: DEFAULT_RETRY_BACKOFF_MS,
        }
    }

    fn validate_into(&self, errors: &mut Vec<FieldError>) {
        match parse_tcp_host(&self.host) {
            Ok(TargetHost::Domain(_)) => {}
            Ok(TargetHost::Ip(_)) => errors.push(field_error(
                "host",
                "must be a domain name, not an IP address",
            )),
            Err(message) => errors.push(field_error("host", message)),
        }
        if let Some(resolver) = &self.resolver {
            if let Err(message) = parse_resolver(resolver) {
                errors.push(field_error("resolver", message));
            }
        }
        if self.expected_answers.len() > MAX_DNS_ANSWERS {
            errors.push(field_error(
                "expected_answers",
                format!(
                    "at most {MAX_DNS_ANSWERS} entries, got {}",
                    self.expected_answers.len()
                ),
            ));
        }
        if !self.expected_answers.is_empty() && self.expected_rcode != DnsRcode::NoError {
            errors.push(field_error(
                "expected_answers",
                "only with expected_rcode NOERROR",
            ));
        }
        for (i, answer) in self.expected_answers.iter().enumerate() {
            let at = format!("expected_answers[{i}]");
            let problem = match self.record_type {
                DnsRecordType::A => answer
                    .parse::<std::net::Ipv4Addr>()
                    .err()
                    .map(|_| format!("{answer:?} is not an IPv4 address")),
                DnsRecordType::Aaaa => answer
                    .parse::<std::net::Ipv6Addr>()
                    .err()
                    .map(|_| format!("{answer:?} is not an IPv6 address")),
                DnsRecordType::Cname | DnsRecordType::Ns => parse_tcp_host(answer)
                    .err()
                    .map(|m| format!("must be a host name: {m}")),
                DnsRecordType::Mx => match answer.split_once(' ') {
                    Some((pref, host))
                        if pref.parse::<u16>().is_ok() && parse_tcp_host(host.trim()).is_ok() =>
                    {
                        None
                    }
                    _ => Some(format!(
                        "{answer:?} must look like \"10 mail.example.com\" (preference, space, host)"
                    )),
                },
                DnsRecordType::Txt => (answer.len() > MAX_ASSERTION_TEXT_LEN)
                    .then(|| format!("at most {MAX_ASSERTION_TEXT_LEN} bytes")),
            };
            if let Some(message) = problem {
                errors.push(field_error(at, message));
            }
        }
        validate_timing(self.timeout_ms, self.degraded_above_ms, errors);
        validate_retries(self.retries, self.retry_backoff_ms, errors);
    }
}

impl TlsSpec {
    /// A certificate check of `host:443` with every other field at its default.
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port: 443,
            expiry_warning_days: DEFAULT_EXPIRY_WARNING_DAYS,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            degraded_above_ms: None,
            retries: 0,
            retry_backoff_ms: DEFAULT_RETRY_BACKOFF_MS,
        }
    }

    fn validate_into(&self, errors: &mut Vec<FieldError>) {
        if let Err(message) = parse_tcp_host(&self.host) {
            errors.push(field_error("host", message));
        }
        if self.port == 0 {
            errors.push(field_error("port", "must be between 1 and 65535, got 0"));
        }
        if self.expiry_warning_days > MAX_EXPIRY_DAYS {
            errors.push(field_error(
                "expiry_warning_days",
                format!(
                    "must be between 0 and {MAX_EXPIRY_DAYS}, got {}",
                    self.expiry_warning_days
                ),
            ));
        }
        validate_timing(self.timeout_ms, self.degraded_above_ms, errors);
        validate_retries(self.retries, self.retry_backoff_ms, errors);
    }
}

/// `IP`, `IP:port` or `[v6]:port` (port 53 when omitted).
pub fn parse_resolver(raw: &str) -> Result<std::net::SocketAddr, String> {
    let raw = raw.trim();
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Ok(std::net::SocketAddr::new(ip, 53));
    }
    match raw.parse::<std::net::SocketAddr>() {
        Ok(addr) if addr.port() != 0 => Ok(addr),
        Ok(_) => Err("port must be between 1 and 65535, got 0".into()),
        Err(_) => Err(format!(
            "{raw:?} must be an IP address, optionally with a port (9.9.9.9, 9.9.9.9:53, [2620:fe::fe]:53)"
        )),
    }
}

fn validate_retries(retries: u8, backoff_ms: u32, errors: &mut Vec<FieldError>) {
    if retries > MAX_RETRIES {
        errors.push(field_error(
            "retries",
            format!("must be between 0 and {MAX_RETRIES}, got {retries}"),
        ));
    }
    if backoff_ms > MAX_RETRY_BACKOFF_MS {
        errors.push(field_error(
            "retry_backoff_ms",
            format!("must be between 0 and {MAX_RETRY_BACKOFF_MS}, got {backoff_ms}"),
        ));
    }
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
            down_above_ms: None,
            follow_redirects: false,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            assertions: Vec::new(),
            cert_expiry_days: None,
            health: None,
            retries: 0,
            retry_backoff_ms: DEFAULT_RETRY_BACKOFF_MS,
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
        if let Some(down) = self.down_above_ms {
            let floor = self.degraded_above_ms.unwrap_or(0);
            if down <= floor || down >= self.timeout_ms {
                errors.push(field_error(
                    "down_above_ms",
                    format!(
                        "must be above degraded_above_ms ({floor}) and below timeout_ms ({}), got {down}",
                        self.timeout_ms
                    ),
                ));
            }
        }
        if !(1..=MAX_REDIRECTS).contains(&self.max_redirects) {
            errors.push(field_error(
                "max_redirects",
                format!(
                    "must be between 1 and {MAX_REDIRECTS}, got {}",
                    self.max_redirects
                ),
            ));
        }
        if self.assertions.len() > MAX_ASSERTIONS {
            errors.push(field_error(
                "assertions",
                format!(
                    "at most {MAX_ASSERTIONS} assertions, got {}",
                    self.assertions.len()
                ),
            ));
        }
        for (i, assertion) in self.assertions.iter().enumerate() {
            assertion.validate_into(&format!("assertions[{i}]"), errors);
        }
        if let Some(days) = self.cert_expiry_days {
            if !self
                .url
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("https:")
            {
                errors.push(field_error("cert_expiry_days", "only for https:// URLs"));
            } else if days > MAX_EXPIRY_DAYS {
                errors.push(field_error(
                    "cert_expiry_days",
                    format!("must be between 0 and {MAX_EXPIRY_DAYS}, got {days}"),
                ));
            }
        }
        validate_retries(self.retries, self.retry_backoff_ms, errors);
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
        validate_retries(self.retries, self.retry_backoff_ms, errors);
    }
}

impl MonitorSpec {
    /// Every problem with the spec, with field paths such as `url`, `headers[1].name`,
    /// `expected_status[0]`, `timeout_ms`.
    /// Includes the total time budget ([`MAX_CHECK_BUDGET_MS`]), reported on `timeout_ms` and,
    /// when there are retries, on `retries` and `retry_backoff_ms`.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = self.shape_errors();
        if errors.is_empty() {
            self.validate_budget(&mut errors);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Every rule but the time budget: what the probe needs to run a spec at all. Specs stored
    /// before the budget existed still run; the probe cuts them at the budget instead.
    pub fn validate_shape(&self) -> Result<(), Vec<FieldError>> {
        let errors = self.shape_errors();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn shape_errors(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        match self {
            MonitorSpec::Http(spec) => spec.validate_into(&mut errors),
            MonitorSpec::Tcp(spec) => spec.validate_into(&mut errors),
            MonitorSpec::Dns(spec) => spec.validate_into(&mut errors),
            MonitorSpec::Tls(spec) => spec.validate_into(&mut errors),
            MonitorSpec::Heartbeat(spec) => spec.validate_into(&mut errors),
        }
        errors
    }

    /// The longest this check can take: every attempt timing out, with every backoff between.
    pub fn budget_ms(&self) -> u64 {
        let policy = self.retry_policy();
        let attempts = u64::from(policy.retries) + 1;
        let backoffs: u64 = (2..=policy.retries.saturating_add(1))
            .map(|next| policy.delay_before(next).as_millis() as u64)
            .sum();
        attempts * u64::from(self.timeout_ms()) + backoffs
    }

    fn validate_budget(&self, errors: &mut Vec<FieldError>) {
        let budget = self.budget_ms();
        if budget <= u64::from(MAX_CHECK_BUDGET_MS) {
            return;
        }
        let policy = self.retry_policy();
        let message = format!(
            "the check's total time is {budget} ms ((retries + 1) × timeout_ms + \
             retry_backoff_ms × (2^retries - 1)), above the {MAX_CHECK_BUDGET_MS} ms one check may \
             take in a run; lower timeout_ms, retries or retry_backoff_ms"
        );
        errors.push(field_error("timeout_ms", message.clone()));
        if policy.retries > 0 {
            errors.push(field_error("retries", message.clone()));
            errors.push(field_error("retry_backoff_ms", message));
        }
    }

    /// The `type` tag: `http`, `tcp`, `dns`, `tls` or `heartbeat`.
    pub fn kind(&self) -> &'static str {
        match self {
            MonitorSpec::Http(_) => "http",
            MonitorSpec::Tcp(_) => "tcp",
            MonitorSpec::Dns(_) => "dns",
            MonitorSpec::Tls(_) => "tls",
            MonitorSpec::Heartbeat(_) => "heartbeat",
        }
    }

    /// Whether checkers probe it (every kind but `heartbeat`, which its job pushes).
    pub fn is_probed(&self) -> bool {
        !matches!(self, MonitorSpec::Heartbeat(_))
    }

    /// A human label for what is checked: the URL, `host:port`, or `TYPE host` for DNS.
    pub fn target(&self) -> String {
        let host_port = |host: &str, port: u16| {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.parse::<std::net::Ipv6Addr>().is_ok() {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            }
        };
        match self {
            MonitorSpec::Http(spec) => spec.url.clone(),
            MonitorSpec::Tcp(spec) => host_port(&spec.host, spec.port),
            MonitorSpec::Tls(spec) => host_port(&spec.host, spec.port),
            MonitorSpec::Dns(spec) => format!("{} {}", spec.record_type.as_str(), spec.host),
            MonitorSpec::Heartbeat(spec) => match (&spec.period_seconds, &spec.cron) {
                (Some(period), _) => format!("heartbeat every {period} s"),
                (None, Some(cron)) => format!("heartbeat at `{cron}` ({})", spec.timezone),
                (None, None) => "heartbeat".into(),
            },
        }
    }

    pub fn timeout_ms(&self) -> u32 {
        match self {
            MonitorSpec::Http(spec) => spec.timeout_ms,
            MonitorSpec::Tcp(spec) => spec.timeout_ms,
            MonitorSpec::Dns(spec) => spec.timeout_ms,
            MonitorSpec::Tls(spec) => spec.timeout_ms,
            MonitorSpec::Heartbeat(_) => 0,
        }
    }

    pub fn degraded_above_ms(&self) -> Option<u32> {
        match self {
            MonitorSpec::Http(spec) => spec.degraded_above_ms,
            MonitorSpec::Tcp(spec) => spec.degraded_above_ms,
            MonitorSpec::Dns(spec) => spec.degraded_above_ms,
            MonitorSpec::Tls(spec) => spec.degraded_above_ms,
            MonitorSpec::Heartbeat(_) => None,
        }
    }

    /// Only HTTP checks have a `down_above_ms` threshold.
    pub fn down_above_ms(&self) -> Option<u32> {
        match self {
            MonitorSpec::Http(spec) => spec.down_above_ms,
            _ => None,
        }
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        let (retries, backoff_ms) = match self {
            MonitorSpec::Http(s) => (s.retries, s.retry_backoff_ms),
            MonitorSpec::Tcp(s) => (s.retries, s.retry_backoff_ms),
            MonitorSpec::Dns(s) => (s.retries, s.retry_backoff_ms),
            MonitorSpec::Tls(s) => (s.retries, s.retry_backoff_ms),
            MonitorSpec::Heartbeat(_) => (0, 0),
        };
        RetryPolicy {
            retries,
            backoff_ms,
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
        assert_eq!(tcp, MonitorSpec::Tcp(TcpSpec::new("db.example.com", 5432)));
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
                secret: false,
            }],
            body: Some("{}".into()),
            expected_status: vec![StatusRange::new(200, 299), StatusRange::single(301)],
            timeout_ms: 5000,
            degraded_above_ms: Some(1000),
            ..HttpSpec::get("")
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
                secret: false,
            },
            Header {
                name: "bad name".into(),
                value: "x".into(),
                secret: false,
            },
            Header {
                name: "Host".into(),
                value: "evil.example".into(),
                secret: false,
            },
            Header {
                name: "x-ok".into(),
                value: "line\r\nbreak".into(),
                secret: false,
            },
            Header {
                name: "".into(),
                value: "x".into(),
                secret: false,
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
                secret: false,
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
                secret: false,
            }],
            body: None,
            expected_status: vec![StatusRange::single(600)],
            timeout_ms: 0,
            ..HttpSpec::get("")
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
        let tcp = |host: &str, port: u16| MonitorSpec::Tcp(TcpSpec::new(host, port));
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

    #[test]
    fn the_whole_check_fits_its_budget() {
        let spec = |timeout_ms, retries, retry_backoff_ms| {
            MonitorSpec::Tcp(TcpSpec {
                timeout_ms,
                retries,
                retry_backoff_ms,
                ..TcpSpec::new("db.example.com", 5432)
            })
        };
        // 3 × 10 s + 0.2 + 0.4 s; 4 × 10 s + 0.2 + 0.4 + 0.8 s.
        assert_eq!(spec(10_000, 2, 200).budget_ms(), 30_600);
        assert_eq!(spec(10_000, 3, 200).budget_ms(), 41_400);
        assert_eq!(spec(40_000, 0, 200).budget_ms(), 40_000);
        assert!(spec(40_000, 0, 200).validate().is_ok());
        assert!(spec(10_000, 2, 200).validate().is_ok());
        let fields = |s: MonitorSpec| -> Vec<String> {
            s.validate()
                .unwrap_err()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(fields(spec(40_001, 0, 200)), ["timeout_ms"]);
        assert_eq!(
            fields(spec(10_000, 3, 200)),
            ["timeout_ms", "retries", "retry_backoff_ms"]
        );
        // The hostile maximum of the individual limits: 6 × 60 s + 310 s of backoff.
        let worst = spec(MAX_TIMEOUT_MS, MAX_RETRIES, MAX_RETRY_BACKOFF_MS);
        assert_eq!(worst.budget_ms(), 670_000);
        assert!(worst.validate_shape().is_ok());
        let message = &worst.validate().unwrap_err()[0].message;
        assert!(
            message.contains("670000 ms") && message.contains("40000 ms"),
            "{message}"
        );
        // Out-of-range fields are reported alone, not twice.
        assert_eq!(fields(spec(5_000, 9, 1_000)), ["retries"]);
    }
}
