//! The demo: local targets that are up, slow, flaky and down (and one a visitor can break), a
//! seeded `demo` tenant whose monitors check them, and an inbox where the demo's alerts arrive:
//! the mail the local SMTP sink received and the webhooks the local receiver verified.

use api::accounts::tenancy::{create_tenant, tenant_by_slug, NewTenant};
use api::monitors::MonitorInput;
use api::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::Router;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub const DEMO_SLUG: &str = "demo";
pub const DEMO_EMAIL: &str = "demo@example.com";
pub const DEMO_PASSWORD: &str = "demo-password";

/// Where the demo's alerts land: mail files written by `scripts/smtp-sink.py` into `mail_dir`,
/// and the webhooks posted to `/hooks/demo`, kept in memory (the last [`INBOX_HOOKS_MAX`]).
pub struct DemoInbox {
    pub mail_dir: Option<PathBuf>,
    /// The demo webhook channel's signing secret, known once the tenant is seeded.
    secret: OnceLock<String>,
    hooks: Mutex<ReceivedHooks>,
    /// The targets under `/switch/{name}`, broken and repaired from the inbox page (and tests).
    pub switches: Switchboard,
    /// Each pseudo-region and the loopback address its checks come from.
    regions: Vec<(String, Ipv4Addr)>,
}

/// Targets that fail on demand, everywhere or only for connections from some addresses (a
/// local pseudo-region's own loopback source, [`checker::local::loopback_source`]).
#[derive(Default)]
pub struct Switchboard {
    broken: Mutex<HashMap<String, Breakage>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Breakage {
    Everywhere,
    From(Vec<IpAddr>),
}

impl Switchboard {
    pub fn set(&self, name: &str, breakage: Option<Breakage>) {
        let mut broken = self.broken.lock().expect("switchboard lock");
        match breakage {
            Some(b) => broken.insert(name.to_owned(), b),
            None => broken.remove(name),
        };
    }

    pub fn get(&self, name: &str) -> Option<Breakage> {
        self.broken
            .lock()
            .expect("switchboard lock")
            .get(name)
            .cloned()
    }

    fn fails_for(&self, name: &str, peer: IpAddr) -> bool {
        match self.get(name) {
            None => false,
            Some(Breakage::Everywhere) => true,
            Some(Breakage::From(ips)) => ips.contains(&peer),
        }
    }
}

pub const INBOX_HOOKS_MAX: usize = 200;

#[derive(Default)]
struct ReceivedHooks {
    recent: VecDeque<ReceivedHook>,
    seen: HashSet<String>,
    duplicates: u64,
}

struct ReceivedHook {
    id: String,
    received_at: chrono::DateTime<chrono::Utc>,
    signature_valid: bool,
    event: String,
    title: String,
}

impl DemoInbox {
    pub fn new(mail_dir: Option<PathBuf>) -> Arc<Self> {
        Arc::new(Self {
            mail_dir,
            secret: OnceLock::new(),
            hooks: Mutex::default(),
            switches: Switchboard::default(),
            regions: Vec::new(),
        })
    }

    /// The same inbox, knowing the local runner's pseudo-regions (in the runner's order), so
    /// the page can break a target for one region only.
    pub fn with_regions(mail_dir: Option<PathBuf>, regions: &[String]) -> Arc<Self> {
        let mut inbox = Arc::into_inner(Self::new(mail_dir)).expect("just made");
        inbox.regions = regions
            .iter()
            .enumerate()
            .map(|(i, r)| (r.clone(), checker::local::loopback_source(i)))
            .collect();
        Arc::new(inbox)
    }
}

/// The demo's "Website" target: `/switch/website`.
pub const WEBSITE_SWITCH: &str = "website";

/// Endpoints with known behaviour: `/up` answers at once, `/slow` after 1.2 s, `/flaky` fails
/// every third request, `/down` always answers 503, `/switch/{name}` is up until someone breaks
/// it (the inbox page's buttons, for `website`; tests, for any name), everywhere or for one
/// pseudo-region. `/health` is a Spring Boot style health document whose `search-index`
/// dependency fails when `/flaky` last did. `/hooks/demo` receives the demo's signed webhooks.
pub fn targets_router(inbox: Arc<DemoInbox>) -> Router {
    let hits = Arc::new(AtomicU64::new(0));
    let seen = hits.clone();
    Router::new()
        .route("/up", get(|| async { "ok" }))
        .route(
            "/health",
            get(move || {
                // The search index is down while the flaky target's last answer was a failure.
                let index_down = seen.load(Ordering::Relaxed).is_multiple_of(3);
                async move {
                    let index = if index_down {
                        serde_json::json!({ "status": "DOWN", "details": { "error": "index rebuilding" } })
                    } else {
                        serde_json::json!({ "status": "UP", "details": { "duration_ms": 12 } })
                    };
                    axum::Json(serde_json::json!({
                        "status": if index_down { "DOWN" } else { "UP" },
                        "components": {
                            "database": { "status": "UP", "details": { "duration_ms": 3 } },
                            "search-index": index,
                            "cache": { "status": "UP", "details": { "duration_ms": 1 } }
                        }
                    }))
                }
            }),
        )
        .route("/switch/{name}", get(switch_target))
        .route("/inbox", get(inbox_page))
        .route("/inbox/website", post(toggle_website))
        .route("/hooks/demo", post(receive_hook))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(1200)).await;
                "ok, slowly"
            }),
        )
        .route(
            "/flaky",
            get(move || {
                let n = hits.fetch_add(1, Ordering::Relaxed);
                async move {
                    if n % 3 == 2 {
                        (StatusCode::SERVICE_UNAVAILABLE, "flaked")
                    } else {
                        (StatusCode::OK, "ok this time")
                    }
                }
            }),
        )
        .route(
            "/down",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down for the demo") }),
        )
        .with_state(inbox)
}

async fn switch_target(
    State(inbox): State<Arc<DemoInbox>>,
    Path(name): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> impl IntoResponse {
    if inbox.switches.fails_for(&name, peer.ip()) {
        (StatusCode::SERVICE_UNAVAILABLE, "broken on purpose")
    } else {
        (StatusCode::OK, "ok")
    }
}

#[derive(serde::Deserialize)]
struct WebsiteForm {
    /// `everywhere`, `repair`, or a pseudo-region's name.
    action: String,
}

async fn toggle_website(
    State(inbox): State<Arc<DemoInbox>>,
    Form(form): Form<WebsiteForm>,
) -> Result<Redirect, (StatusCode, &'static str)> {
    let breakage = match form.action.as_str() {
        "repair" => None,
        "everywhere" => Some(Breakage::Everywhere),
        region => match inbox.regions.iter().find(|(r, _)| r == region) {
            Some((_, ip)) => Some(Breakage::From(vec![IpAddr::V4(*ip)])),
            None => return Err((StatusCode::UNPROCESSABLE_ENTITY, "unknown action")),
        },
    };
    tracing::info!(?breakage, "demo website switched");
    inbox.switches.set(WEBSITE_SWITCH, breakage);
    Ok(Redirect::to("/inbox"))
}

/// Verifies a Standard Webhooks delivery (`webhook-id`, `webhook-timestamp`,
/// `webhook-signature`) with the demo channel's secret and remembers it, once per id.
async fn receive_hook(
    State(inbox): State<Arc<DemoInbox>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let (id, timestamp) = (header("webhook-id").to_owned(), header("webhook-timestamp"));
    let signature_valid = match (inbox.secret.get(), timestamp.parse::<i64>()) {
        (Some(secret), Ok(ts)) => {
            let expected = api::notify::webhook::signature(secret, &id, ts, &body);
            header("webhook-signature")
                .split(' ')
                .any(|given| given == expected)
        }
        _ => false,
    };
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let mut hooks = inbox.hooks.lock().expect("inbox lock");
    if id.is_empty() || !hooks.seen.insert(id.clone()) {
        hooks.duplicates += 1;
        return StatusCode::OK;
    }
    hooks.recent.push_front(ReceivedHook {
        id,
        received_at: chrono::Utc::now(),
        signature_valid,
        event: text(&json["type"]),
        title: text(&json["data"]["title"]),
    });
    hooks.recent.truncate(INBOX_HOOKS_MAX);
    if signature_valid {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::UNAUTHORIZED
    }
}

/// One mail from the sink's folder: the headers worth showing and the start of the body.
struct SunkMail {
    modified: std::time::SystemTime,
    to: String,
    subject: String,
    date: String,
    body: String,
    unsubscribe: bool,
}

/// The newest mails in `dir` (at most `max`), newest first.
fn read_mail(dir: &std::path::Path, max: usize) -> Vec<SunkMail> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    files.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    files
        .into_iter()
        .take(max)
        .filter_map(|(modified, path)| {
            let json: serde_json::Value =
                serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
            let data = json["data"].as_str()?.replace("\r\n", "\n");
            let (head, body) = data.split_once("\n\n").unwrap_or((&data, ""));
            // Unfold continuation lines, then pick the headers by name.
            let head = head.replace("\n ", " ").replace("\n\t", " ");
            let field = |name: &str| {
                head.lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                    })
                    .unwrap_or_default()
            };
            let body = match field("Content-Transfer-Encoding")
                .to_ascii_lowercase()
                .as_str()
            {
                "quoted-printable" => quoted_printable(body),
                "base64" => {
                    use base64::Engine;
                    let compact: String = body.split_whitespace().collect();
                    base64::engine::general_purpose::STANDARD
                        .decode(compact)
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_else(|_| body.to_owned())
                }
                _ => body.to_owned(),
            };
            Some(SunkMail {
                modified,
                to: json["rcpt_tos"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default(),
                subject: field("Subject"),
                date: field("Date"),
                body: body.chars().take(2000).collect(),
                unsubscribe: !field("List-Unsubscribe").is_empty(),
            })
        })
        .collect()
}

/// Enough quoted-printable (RFC 2045) for the inbox: soft breaks and `=XX` bytes.
fn quoted_printable(s: &str) -> String {
    let joined = s.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn inbox_page(State(inbox): State<Arc<DemoInbox>>) -> Html<String> {
    use super::html_escape as esc;
    let mails = match &inbox.mail_dir {
        Some(dir) => {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || read_mail(&dir, 50))
                .await
                .unwrap_or_default()
        }
        None => Vec::new(),
    };
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"refresh\" content=\"10\"><title>Demo inbox</title>\
         <style>body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem;color:#1a1a1a}\
         table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left;vertical-align:top}\
         pre{white-space:pre-wrap;margin:.2rem 0;font-size:13px}.bad{color:#a00}.ok{color:#075}</style></head><body>\
         <h1>Demo inbox</h1><p>What the demo tenant's alert channels received: mail caught by the \
         local SMTP sink and webhooks verified by the local receiver. This page refreshes every 10 s.</p>",
    );
    let state = match inbox.switches.get(WEBSITE_SWITCH) {
        None => "up".to_owned(),
        Some(Breakage::Everywhere) => "broken in every region".to_owned(),
        Some(Breakage::From(ips)) => {
            let regions: Vec<&str> = inbox
                .regions
                .iter()
                .filter(|(_, ip)| ips.contains(&IpAddr::V4(*ip)))
                .map(|(r, _)| r.as_str())
                .collect();
            format!("broken in {} only", regions.join(", "))
        }
    };
    let mut buttons = String::from(
        "<button type=\"submit\" name=\"action\" value=\"everywhere\">Break it everywhere</button> ",
    );
    if let Some((region, _)) = inbox.regions.last() {
        buttons.push_str(&format!(
            "<button type=\"submit\" name=\"action\" value=\"{r}\">Break it in {r} only</button> ",
            r = esc(region)
        ));
    }
    buttons.push_str("<button type=\"submit\" name=\"action\" value=\"repair\">Repair it</button>");
    html.push_str(&format!(
        "<form method=\"post\" action=\"/inbox/website\"><p>The demo's \"Website\" target \
         (<code>/switch/website</code>) is <strong>{}</strong>.</p><p>{buttons}</p><p>Broken \
         everywhere: the other regions re-check at once, an incident opens and the alerts below \
         arrive within about a check interval. Broken in one region: a regional outage, not a \
         major incident.</p></form>",
        esc(&state)
    ));
    html.push_str("<h2 id=\"mail\">Mail</h2>");
    match &inbox.mail_dir {
        None => html.push_str(
            "<p>No mail sink: start the demo with <code>./dev demo</code>, which runs one and sets DEMO_MAIL_DIR.</p>",
        ),
        Some(_) if mails.is_empty() => html.push_str("<p>No mail yet.</p>"),
        Some(_) => {
            html.push_str("<table><thead><tr><th scope=\"col\">Received</th><th scope=\"col\">To</th><th scope=\"col\">Message</th></tr></thead><tbody>");
            for mail in &mails {
                let received: chrono::DateTime<chrono::Utc> = mail.modified.into();
                html.push_str(&format!(
                    "<tr><td><time datetime=\"{r}\">{r}</time></td><td>{to}</td><td><strong>{subject}</strong>{unsub}<br><small>{date}</small><pre>{body}</pre></td></tr>",
                    r = received.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    to = esc(&mail.to),
                    subject = esc(&mail.subject),
                    unsub = if mail.unsubscribe { " <small>(one-click unsubscribe)</small>" } else { "" },
                    date = esc(&mail.date),
                    body = esc(mail.body.trim()),
                ));
            }
            html.push_str("</tbody></table>");
        }
    }
    let hooks = inbox.hooks.lock().expect("inbox lock");
    html.push_str(&format!(
        "<h2 id=\"webhooks\">Webhooks</h2><p>{} received, {} repeated deliveries of an id already seen (dropped).</p>",
        hooks.seen.len(),
        hooks.duplicates
    ));
    if hooks.recent.is_empty() {
        html.push_str("<p>No webhook yet.</p>");
    } else {
        html.push_str("<table><thead><tr><th scope=\"col\">Received</th><th scope=\"col\">Signature</th><th scope=\"col\">Type</th><th scope=\"col\">Title</th><th scope=\"col\">webhook-id</th></tr></thead><tbody>");
        for hook in &hooks.recent {
            html.push_str(&format!(
                "<tr><td><time>{}</time></td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                hook.received_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                if hook.signature_valid { "ok" } else { "bad" },
                if hook.signature_valid { "valid" } else { "INVALID" },
                esc(&hook.event),
                esc(&hook.title),
                esc(&hook.id),
            ));
        }
        html.push_str("</tbody></table>");
    }
    html.push_str("</body></html>");
    Html(html)
}

pub async fn serve_targets(
    addr: SocketAddr,
    inbox: Arc<DemoInbox>,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!("demo targets cannot listen on {addr} (DEMO_TARGETS_ADDR): {e}")
    })?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let service = targets_router(inbox).into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, service).await {
            tracing::error!(error = %e, "demo targets stopped");
        }
    });
    Ok((bound, task))
}

/// The demo monitors: (name, component, path, degraded above ms).
pub const DEMO_MONITORS: &[(&str, &str, &str, Option<u32>)] = &[
    ("Website", "Website", "/switch/website", None),
    ("Checkout API", "API", "/slow", Some(1000)),
    ("Search", "API", "/flaky", None),
    ("API health", "API", "/health", None),
    ("Legacy billing", "Billing", "/down", None),
];

/// The demo tenant's alert channels: the team's mailbox (caught by the local SMTP sink) and a
/// signed webhook to the receiver on the targets server.
pub const DEMO_EMAIL_CHANNEL: &str = "Demo team mailbox";
pub const DEMO_WEBHOOK_CHANNEL: &str = "Demo webhook receiver";

/// Creates the demo tenant and its components, monitors and alert channels if missing; points
/// the monitors and the webhook at `targets` and tells `inbox` the webhook's secret. Safe to
/// run on every start.
pub async fn seed(app: &AppState, targets: SocketAddr, inbox: &DemoInbox) -> anyhow::Result<()> {
    let found = tenant_by_slug(&app.db, DEMO_SLUG).await?;
    let created = found.is_none();
    let tenant = match found {
        Some(t) => t,
        None => {
            create_tenant(
                &app.db,
                &NewTenant {
                    slug: DEMO_SLUG.into(),
                    name: "Demo Inc".into(),
                    email: DEMO_EMAIL.into(),
                    password: Some(DEMO_PASSWORD.into()),
                },
            )
            .await?
            .tenant
        }
    };
    for (position, component) in ["Website", "API", "Billing"].iter().enumerate() {
        sqlx::query(
            "INSERT INTO components (id, tenant_id, name, position) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, name) DO NOTHING",
        )
        .bind(uuid::Uuid::new_v4())
        .bind(tenant.id)
        .bind(component)
        .bind(position as i32)
        .execute(&app.db)
        .await?;
    }
    seed_page(app, tenant.id, created).await?;
    let existing = api::monitors::list(&app.db, tenant.id).await?;
    for (name, component, path, degraded_above_ms) in DEMO_MONITORS {
        let component_id: uuid::Uuid =
            sqlx::query_scalar("SELECT id FROM components WHERE tenant_id = $1 AND name = $2")
                .bind(tenant.id)
                .bind(component)
                .fetch_one(&app.db)
                .await?;
        let mut spec = serde_json::json!({
            "name": name,
            "type": "http",
            "url": format!("http://{targets}{path}"),
            "timeout_ms": 5000,
            "degraded_above_ms": degraded_above_ms,
            "interval_seconds": 30,
            "component_id": component_id,
        });
        if *path == "/health" {
            // Its dependencies show under the API component on the page.
            spec["health"] = serde_json::json!({ "show_on_page": true });
        }
        let input: MonitorInput = serde_json::from_value(spec)?;
        match existing.iter().find(|m| m.name == *name) {
            None => {
                api::monitors::create(&app.db, tenant.id, &input, &app.config.regions).await?;
            }
            Some(monitor) if monitor.spec != input.spec => {
                // The targets moved (another port): follow them.
                sqlx::query("UPDATE monitors SET spec = $1, updated_at = now() WHERE tenant_id = $2 AND id = $3")
                    .bind(serde_json::to_value(&input.spec)?)
                    .bind(tenant.id)
                    .bind(monitor.id)
                    .execute(&app.db)
                    .await?;
            }
            Some(_) => {}
        }
    }
    seed_channels(app, tenant.id, targets, inbox).await?;
    tracing::info!(tenant = DEMO_SLUG, "demo tenant seeded");
    Ok(())
}

/// The demo's component groups: (group, position, its components).
pub const DEMO_GROUPS: &[(&str, i32, &[&str])] = &[
    ("Core services", 0, &["Website", "API"]),
    ("Billing", 1, &["Billing"]),
];

/// The demo components' descriptions.
const DEMO_DESCRIPTIONS: &[(&str, &str)] = &[
    ("Website", "The public website and the sign-in pages."),
    ("API", "The REST API: checkout and search."),
    (
        "Billing",
        "Invoices and payments (the legacy billing system).",
    ),
];

/// Groups, descriptions and the page's look (description, accent colour, per-region detail),
/// each only where the tenant has set nothing, so changes made on the demo survive a restart.
/// Per-region detail is turned on with the description (on a page that has none yet) or when
/// the tenant was just `created`.
async fn seed_page(app: &AppState, tenant_id: uuid::Uuid, created: bool) -> anyhow::Result<()> {
    for (group, position, components) in DEMO_GROUPS {
        sqlx::query(
            "INSERT INTO component_groups (id, tenant_id, name, position) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, name) DO NOTHING",
        )
        .bind(uuid::Uuid::new_v4())
        .bind(tenant_id)
        .bind(group)
        .bind(position)
        .execute(&app.db)
        .await?;
        sqlx::query(
            "UPDATE components SET group_id = (SELECT id FROM component_groups \
                 WHERE tenant_id = $1 AND name = $2), updated_at = now() \
             WHERE tenant_id = $1 AND name = ANY($3) AND group_id IS NULL",
        )
        .bind(tenant_id)
        .bind(group)
        .bind(components.iter().map(|c| c.to_string()).collect::<Vec<_>>())
        .execute(&app.db)
        .await?;
    }
    for (component, description) in DEMO_DESCRIPTIONS {
        sqlx::query(
            "UPDATE components SET description = $3, updated_at = now() \
             WHERE tenant_id = $1 AND name = $2 AND description = ''",
        )
        .bind(tenant_id)
        .bind(component)
        .bind(description)
        .execute(&app.db)
        .await?;
    }
    sqlx::query(
        "UPDATE status_pages SET \
             description = CASE WHEN description = '' THEN $2 ELSE description END, \
             branding = CASE WHEN branding ? 'accent_color' THEN branding \
                             ELSE branding || jsonb_build_object('accent_color', $3::text) END, \
             show_region_detail = show_region_detail OR description = '' OR $4, \
             version = version + 1, updated_at = now() \
         WHERE tenant_id = $1 AND (description = '' OR NOT branding ? 'accent_color' \
                                   OR ($4 AND NOT show_region_detail))",
    )
    .bind(tenant_id)
    .bind("Live status of Demo Inc's website, API and billing, checked every 30 seconds from several regions.")
    .bind("#0b6bcb")
    .bind(created)
    .execute(&app.db)
    .await?;
    Ok(())
}

async fn seed_channels(
    app: &AppState,
    tenant_id: uuid::Uuid,
    targets: SocketAddr,
    inbox: &DemoInbox,
) -> anyhow::Result<()> {
    use api::channels::{ChannelInput, ChannelKind};
    let hook_url = format!("http://{targets}/hooks/demo");
    let stored: Option<(serde_json::Value,)> = sqlx::query_as(
        "SELECT config FROM notification_channels WHERE tenant_id = $1 AND name = $2",
    )
    .bind(tenant_id)
    .bind(DEMO_WEBHOOK_CHANNEL)
    .fetch_optional(&app.db)
    .await?;
    let secret = match stored {
        Some((config,)) => {
            let secret = config["secret"].as_str().unwrap_or_default().to_owned();
            if config["url"].as_str() != Some(hook_url.as_str()) {
                // The targets moved (another port): follow them.
                sqlx::query(
                    "UPDATE notification_channels SET config = jsonb_set(config, '{url}', to_jsonb($3::text)), \
                     updated_at = now() WHERE tenant_id = $1 AND name = $2",
                )
                .bind(tenant_id)
                .bind(DEMO_WEBHOOK_CHANNEL)
                .bind(&hook_url)
                .execute(&app.db)
                .await?;
            }
            secret
        }
        None => {
            let secret = format!("demo-{}", uuid::Uuid::new_v4().simple());
            let input = ChannelInput {
                name: DEMO_WEBHOOK_CHANNEL.into(),
                kind: ChannelKind::Webhook,
                config: serde_json::json!({ "url": hook_url, "secret": secret }),
                enabled: true,
            };
            api::channels::create(&app.db, tenant_id, &app.delivery_guard, &input)
                .await
                .map_err(|e| anyhow::anyhow!("demo webhook channel: {e}"))?;
            secret
        }
    };
    let _ = inbox.secret.set(secret);
    let mailbox: Option<(uuid::Uuid,)> =
        sqlx::query_as("SELECT id FROM notification_channels WHERE tenant_id = $1 AND name = $2")
            .bind(tenant_id)
            .bind(DEMO_EMAIL_CHANNEL)
            .fetch_optional(&app.db)
            .await?;
    if mailbox.is_none() {
        let input = ChannelInput {
            name: DEMO_EMAIL_CHANNEL.into(),
            kind: ChannelKind::Email,
            config: serde_json::json!({ "to": ["team@demo.example"] }),
            enabled: true,
        };
        api::channels::create(&app.db, tenant_id, &app.delivery_guard, &input)
            .await
            .map_err(|e| anyhow::anyhow!("demo email channel: {e}"))?;
    }
    Ok(())
}
