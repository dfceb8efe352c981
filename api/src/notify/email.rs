//! Email alerts over SMTP (`lettre`), through the deployment's own mail server.
//!
//! The SMTP server is the operator's (`STATUSPAGE_SMTP_URL`), not the tenant's: tenants choose
//! only recipient addresses, which the operator's relay delivers. So the SMTP address is trusted
//! and deliberately not run through the checkers' SSRF guard (a loopback or private relay is the
//! usual setup); no tenant input ever picks the host this module connects to.

use super::{EventKind, Message, Outcome};
use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::Error as SmtpError;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::{Duration, SystemTime};

/// What a send answers when the deployment has no `STATUSPAGE_SMTP_URL`.
pub const NOT_CONFIGURED: &str = "email is not configured on this deployment (STATUSPAGE_SMTP_URL)";

/// How long one SMTP exchange may take (connect, each command); a stuck relay is retried later.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// The deployment's mail server and sender, checked once at start.
#[derive(Clone)]
pub struct SmtpSettings {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// `smtp[s]://host:port`, without credentials: safe to log.
    server: String,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No transport: it holds the SMTP credentials.
        f.debug_struct("SmtpSettings")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .finish()
    }
}

impl SmtpSettings {
    /// From `STATUSPAGE_SMTP_URL` (`smtp://host:port` plain, `smtp://host?tls=required`
    /// STARTTLS, `smtps://user:pass@host:465` implicit TLS) and `STATUSPAGE_MAIL_FROM`
    /// (default `statuspage@<base domain>`). `Ok(None)`: email is not configured. Errors name
    /// the variable.
    pub fn from_env_values(
        smtp_url: Option<&str>,
        mail_from: Option<&str>,
        base_domain: &str,
    ) -> anyhow::Result<Option<Self>> {
        let Some(smtp_url) = smtp_url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let from = match mail_from.map(str::trim).filter(|f| !f.is_empty()) {
            Some(from) => from.parse::<Mailbox>().map_err(|e| {
                anyhow::anyhow!("STATUSPAGE_MAIL_FROM must be an email address like \"Status <status@example.com>\" ({e}), got {from:?}")
            })?,
            None => format!("statuspage@{}", base_domain.trim().to_ascii_lowercase())
                .parse::<Mailbox>()
                .map_err(|e| {
                    anyhow::anyhow!("STATUSPAGE_MAIL_FROM is unset and statuspage@{base_domain} is not a valid address ({e}); set STATUSPAGE_MAIL_FROM")
                })?,
        };
        Self::new(smtp_url, from)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("STATUSPAGE_SMTP_URL: {e}"))
    }

    /// The transport for `smtp_url` (see [`SmtpSettings::from_env_values`]) sending as `from`.
    pub fn new(smtp_url: &str, from: Mailbox) -> Result<Self, String> {
        let url = url::Url::parse(smtp_url).map_err(|e| {
            format!("must be a URL like smtp://127.0.0.1:2525, smtp://host?tls=required or smtps://user:pass@host:465 ({e})")
        })?;
        if !matches!(url.scheme(), "smtp" | "smtps") {
            return Err(format!(
                "the scheme must be smtp or smtps, got {:?}",
                url.scheme()
            ));
        }
        if !matches!(
            url.query_pairs()
                .find(|(k, _)| k == "tls")
                .map(|(_, v)| v.into_owned())
                .as_deref(),
            None | Some("required") | Some("opportunistic")
        ) {
            return Err("tls= must be required or opportunistic".into());
        }
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|e| e.to_string())?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let server = format!(
            "{}://{}{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port().map(|p| format!(":{p}")).unwrap_or_default()
        );
        Ok(Self {
            transport,
            from,
            server,
        })
    }

    /// The sender every alert carries.
    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// Where mail goes, without credentials.
    pub fn server(&self) -> &str {
        &self.server
    }
}

/// [`send`] when the deployment has email configured, else `Failed` with [`NOT_CONFIGURED`].
pub async fn send_if_configured(
    smtp: Option<&SmtpSettings>,
    to: &[String],
    message: &Message,
) -> Outcome {
    match smtp {
        Some(smtp) => send(smtp, to, message).await,
        None => Outcome::Failed {
            error: NOT_CONFIGURED.into(),
        },
    }
}

/// Sends `message` as one plain-text email to every address in `to`, in one SMTP transaction:
/// a recipient the server refuses fails the whole send (nothing is half delivered). `Message-ID` is `<{message.id}@{sender's domain}>` so receivers
/// deduplicate a message that is sent again.
pub async fn send(smtp: &SmtpSettings, to: &[String], message: &Message) -> Outcome {
    let email = match render(smtp, to, message) {
        Ok(email) => email,
        Err(error) => return Outcome::Failed { error },
    };
    match smtp.transport.send(email).await {
        Ok(response) => Outcome::Delivered {
            status: u16::from(response.code()),
        },
        Err(e) => outcome_of(&e),
    }
}

/// The email for `message`; an error names what is wrong (no or a bad recipient).
fn render(
    smtp: &SmtpSettings,
    to: &[String],
    message: &Message,
) -> Result<lettre::Message, String> {
    if to.is_empty() {
        return Err("no recipient addresses".into());
    }
    let mut builder = lettre::Message::builder()
        .from(smtp.from.clone())
        .subject(subject(message))
        .message_id(Some(format!(
            "<{}@{}>",
            message.id,
            smtp.from.email.domain()
        )))
        .date(SystemTime::from(message.created_at))
        .header(ContentType::TEXT_PLAIN);
    for address in to {
        let mailbox = address
            .trim()
            .parse::<Mailbox>()
            .map_err(|e| format!("invalid recipient address {address:?}: {e}"))?;
        builder = builder.to(mailbox);
    }
    if let Some(url) = &message.unsubscribe_url {
        builder = builder
            .header(ListUnsubscribe::for_url(url)?)
            .header(ListUnsubscribePost);
    }
    builder.body(body(message)).map_err(|e| e.to_string())
}

/// RFC 2369 / RFC 8058 `List-Unsubscribe: <https://…>`: with [`ListUnsubscribePost`], mail
/// clients offer a one-click unsubscribe that `POST`s `List-Unsubscribe=One-Click` to the URL.
#[derive(Debug, Clone)]
pub struct ListUnsubscribe(String);

impl ListUnsubscribe {
    /// One `http(s)://` URL, without whitespace or angle brackets (it goes into a header).
    pub fn for_url(url: &str) -> Result<Self, String> {
        let url = url.trim();
        let plain = (url.starts_with("https://") || url.starts_with("http://"))
            && !url
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ','));
        if plain {
            Ok(Self(url.to_owned()))
        } else {
            Err(format!("invalid unsubscribe URL {url:?}"))
        }
    }
}

impl lettre::message::header::Header for ListUnsubscribe {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let url = s.trim().trim_start_matches('<').trim_end_matches('>');
        Self::for_url(url).map_err(Into::into)
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// RFC 8058 `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
#[derive(Debug, Clone)]
pub struct ListUnsubscribePost;

impl lettre::message::header::Header for ListUnsubscribePost {
    fn name() -> lettre::message::header::HeaderName {
        lettre::message::header::HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> lettre::message::header::HeaderValue {
        lettre::message::header::HeaderValue::new(
            Self::name(),
            "List-Unsubscribe=One-Click".to_owned(),
        )
    }
}

/// The title prefixed by the event, e.g. `[Down] Checkout API is down`.
pub fn subject(message: &Message) -> String {
    match event_label(message.event) {
        Some(label) => format!("[{label}] {}", message.title.trim()),
        None => message.title.trim().to_owned(),
    }
}

/// Account mail keeps its plain subject.
fn event_label(event: EventKind) -> Option<&'static str> {
    Some(match event {
        EventKind::Down => "Down",
        EventKind::Degraded => "Degraded",
        EventKind::RegionalOutage => "Regional outage",
        EventKind::Recovery => "Recovered",
        EventKind::IncidentUpdate => "Incident update",
        EventKind::Maintenance => "Maintenance",
        EventKind::Test => "Test",
        EventKind::Account => return None,
    })
}

/// The text, then the link to read more.
fn body(message: &Message) -> String {
    let mut body = message.text.trim_end().to_owned();
    if let Some(url) = &message.url {
        body.push_str("\n\nMore: ");
        body.push_str(url);
    }
    body.push('\n');
    body
}

/// 4xx replies, timeouts and connection or TLS failures are worth another try; 5xx replies
/// (refused recipient, message rejected) and client-side errors are not.
fn outcome_of(e: &SmtpError) -> Outcome {
    let error = format!("SMTP: {e}");
    if e.is_permanent() {
        Outcome::Failed { error }
    } else if e.is_transient() || e.is_timeout() || e.is_tls() || !e.is_client() {
        Outcome::Retry { error, after: None }
    } else {
        Outcome::Failed { error }
    }
}
