//! Config as code: one tenant's status page settings, component groups, components and monitors
//! as one YAML (or JSON) document. `GET /api/v1/config` exports it; `POST /api/v1/config` plans
//! what would make the account match a document (a dry run unless `?dry_run=false`) and applies
//! that plan in one transaction, all or nothing.
//!
//! Things refer to each other by name, never by id, so a file moves between tenants and fresh
//! accounts. Names are the identity: a renamed thing is a delete plus a create. A section left
//! out of the document is not managed (nothing in it changes); a section present manages its
//! kind: things not in the file are `unmanaged` and left alone, or deleted with `prune: true`.

use crate::auth::ApiTenant;
use crate::error::{ApiError, ApiQuery, ApiResult, FieldProblem};
use crate::monitors::MonitorInput;
use crate::rest::{parse_stored, stored_name};
use crate::status_pages::{Branding, Visibility};
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use checker::spec::MonitorSpec;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeMap, HashMap, HashSet};
use uuid::Uuid;

/// The document format this server reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The content type of an exported YAML document, with its charset: without one, clients may
/// read `text/*` as ISO-8859-1 and turn non-ASCII names into control characters.
pub const YAML_CONTENT_TYPE: &str = "text/yaml; charset=utf-8";

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/config", get(export_config).post(import_config))
}

// ---- the document ----

/// A tenant's configuration. Exports always carry every section; on import a missing section is
/// left as it is.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigDocument {
    /// The format version: 1.
    pub version: u32,
    /// Import only: delete what exists but is not in the file (in the sections the file has).
    /// Without it such things are reported as `unmanaged` and left alone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prune: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_page: Option<StatusPageConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component_groups: Option<Vec<GroupConfig>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<ComponentConfig>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitors: Option<Vec<MonitorConfig>>,
}

/// The status page's settings; never its password or domain verification token. On import a
/// missing field is left as it is; `custom_domain: null` removes the domain.
#[derive(utoipa::ToSchema, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusPageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `password` needs a password already set on the account (files never carry one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branding: Option<Branding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_maintenance: Option<bool>,
    #[serde(
        default,
        deserialize_with = "crate::components::double_option::deserialize",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub custom_domain: Option<Option<String>>,
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    pub name: String,
    #[serde(default)]
    pub position: i32,
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentConfig {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub position: i32,
    /// The name of its component group; absent: in no group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// A monitor as the monitor API takes it (`type` and the spec's fields at the top level), with
/// its component by name.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorConfig {
    pub name: String,
    #[serde(flatten)]
    pub spec: MonitorSpec,
    #[serde(default = "default_interval")]
    pub interval_seconds: i32,
    /// Empty: every region of this deployment.
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The name of the component this monitor feeds; absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
}

fn default_interval() -> i32 {
    crate::monitors::DEFAULT_INTERVAL_SECONDS
}
fn default_true() -> bool {
    true
}

// ---- the plan ----

/// What an import does (or did, with `applied: true`), per kind, by name.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct ImportPlan {
    pub dry_run: bool,
    /// Whether the plan was carried out (only ever all of it).
    pub applied: bool,
    pub prune: bool,
    pub status_page: StatusPagePlan,
    pub component_groups: KindPlan,
    pub components: KindPlan,
    pub monitors: KindPlan,
    pub summary: PlanCounts,
}

#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PageAction {
    Update,
    Unchanged,
    /// The file has no `status_page` section.
    Unmanaged,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct StatusPagePlan {
    pub action: PageAction,
    /// The settings that change, e.g. `title`.
    pub changes: Vec<String>,
}

/// Names per action, each list sorted by name.
#[derive(utoipa::ToSchema, Debug, Clone, Default, Serialize)]
pub struct KindPlan {
    /// In the file, not in the account.
    pub create: Vec<String>,
    /// In both, different.
    pub update: Vec<PlannedUpdate>,
    /// In the account, not in the file, with `prune: true`.
    pub delete: Vec<String>,
    /// In both, the same.
    pub unchanged: Vec<String>,
    /// In the account, not in the file, without `prune` (or the file has no such section).
    pub unmanaged: Vec<String>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct PlannedUpdate {
    pub name: String,
    /// The fields that change, as the file names them (`url`, `interval_seconds`, `group`...).
    pub changes: Vec<String>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlanCounts {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub unchanged: usize,
    pub unmanaged: usize,
}

impl KindPlan {
    fn sort(&mut self) {
        self.create.sort();
        self.update.sort_by(|a, b| a.name.cmp(&b.name));
        self.delete.sort();
        self.unchanged.sort();
        self.unmanaged.sort();
    }

    fn counts(&self) -> PlanCounts {
        PlanCounts {
            create: self.create.len(),
            update: self.update.len(),
            delete: self.delete.len(),
            unchanged: self.unchanged.len(),
            unmanaged: self.unmanaged.len(),
        }
    }
}

impl std::ops::Add for PlanCounts {
    type Output = Self;

    fn add(self, o: Self) -> Self {
        Self {
            create: self.create + o.create,
            update: self.update + o.update,
            delete: self.delete + o.delete,
            unchanged: self.unchanged + o.unchanged,
            unmanaged: self.unmanaged + o.unmanaged,
        }
    }
}

// ---- the account as it is ----

struct PageState {
    title: String,
    description: String,
    visibility: Visibility,
    password_set: bool,
    branding: Branding,
    exclude_maintenance: bool,
    custom_domain: Option<String>,
}

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: Uuid,
    name: String,
    position: i32,
}

#[derive(sqlx::FromRow)]
struct ComponentRow {
    id: Uuid,
    name: String,
    description: String,
    position: i32,
    group_id: Option<Uuid>,
}

struct MonitorRow {
    id: Uuid,
    name: String,
    spec: MonitorSpec,
    interval_seconds: i32,
    regions: Vec<String>,
    enabled: bool,
    component_id: Option<Uuid>,
}

/// Everything a document covers, each kind sorted by name.
struct Current {
    page: PageState,
    groups: Vec<GroupRow>,
    components: Vec<ComponentRow>,
    monitors: Vec<MonitorRow>,
}

impl Current {
    fn group_name(&self, id: Option<Uuid>) -> Option<&str> {
        let id = id?;
        self.groups
            .iter()
            .find(|g| g.id == id)
            .map(|g| g.name.as_str())
    }

    fn component_name(&self, id: Option<Uuid>) -> Option<&str> {
        let id = id?;
        self.components
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.name.as_str())
    }
}

async fn load(conn: &mut PgConnection, tenant_id: Uuid) -> ApiResult<Current> {
    type PageRow = (String, String, String, bool, Value, Option<String>, bool);
    let page: Option<PageRow> = sqlx::query_as(
        "SELECT title, description, visibility, password_hash IS NOT NULL, branding, custom_domain, \
         exclude_maintenance FROM status_pages WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (
        title,
        description,
        visibility,
        password_set,
        branding,
        custom_domain,
        exclude_maintenance,
    ) = page.ok_or(ApiError::NotFound("status page"))?;
    let page = PageState {
        title,
        description,
        visibility: parse_stored("visibility", &visibility)?,
        password_set,
        branding: serde_json::from_value(branding)
            .map_err(|e| ApiError::Internal(format!("stored branding: {e}")))?,
        exclude_maintenance,
        custom_domain,
    };
    let mut groups: Vec<GroupRow> =
        sqlx::query_as("SELECT id, name, position FROM component_groups WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_all(&mut *conn)
            .await?;
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    let mut components: Vec<ComponentRow> = sqlx::query_as(
        "SELECT id, name, description, position, group_id FROM components WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_all(&mut *conn)
    .await?;
    components.sort_by(|a, b| a.name.cmp(&b.name));
    type Row = (Uuid, String, Value, i32, Vec<String>, bool, Option<Uuid>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, name, spec, interval_seconds, regions, enabled, component_id \
         FROM monitors WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut monitors = rows
        .into_iter()
        .map(
            |(id, name, spec, interval_seconds, regions, enabled, component_id)| {
                Ok(MonitorRow {
                    spec: serde_json::from_value(spec).map_err(|e| {
                        ApiError::Internal(format!("stored spec of monitor {id}: {e}"))
                    })?,
                    id,
                    name,
                    interval_seconds,
                    regions,
                    enabled,
                    component_id,
                })
            },
        )
        .collect::<ApiResult<Vec<_>>>()?;
    monitors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Current {
        page,
        groups,
        components,
        monitors,
    })
}

/// A read-only transaction that sees one snapshot, so an export or a dry run is consistent.
async fn snapshot(db: &PgPool) -> ApiResult<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = db.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

fn document(current: &Current) -> ConfigDocument {
    ConfigDocument {
        version: FORMAT_VERSION,
        prune: false,
        status_page: Some(StatusPageConfig {
            title: Some(current.page.title.clone()),
            description: Some(current.page.description.clone()),
            visibility: Some(current.page.visibility),
            branding: Some(current.page.branding.clone()),
            exclude_maintenance: Some(current.page.exclude_maintenance),
            custom_domain: Some(current.page.custom_domain.clone()),
        }),
        component_groups: Some(
            current
                .groups
                .iter()
                .map(|g| GroupConfig {
                    name: g.name.clone(),
                    position: g.position,
                })
                .collect(),
        ),
        components: Some(
            current
                .components
                .iter()
                .map(|c| ComponentConfig {
                    name: c.name.clone(),
                    description: c.description.clone(),
                    position: c.position,
                    group: current.group_name(c.group_id).map(str::to_owned),
                })
                .collect(),
        ),
        monitors: Some(
            current
                .monitors
                .iter()
                .map(|m| MonitorConfig {
                    name: m.name.clone(),
                    spec: m.spec.clone(),
                    interval_seconds: m.interval_seconds,
                    regions: m.regions.clone(),
                    enabled: m.enabled,
                    component: current.component_name(m.component_id).map(str::to_owned),
                })
                .collect(),
        ),
    }
}

/// The tenant's configuration as a document, everything sorted by name.
pub async fn export(db: &PgPool, tenant_id: Uuid) -> ApiResult<ConfigDocument> {
    let mut tx = snapshot(db).await?;
    let current = load(&mut tx, tenant_id).await?;
    tx.rollback().await?;
    Ok(document(&current))
}

pub fn to_yaml(doc: &ConfigDocument) -> ApiResult<String> {
    serde_yaml_ng::to_string(doc).map_err(|e| ApiError::Internal(format!("writing YAML: {e}")))
}

// ---- reading a document ----

fn body_problem(message: impl Into<String>) -> ApiError {
    ApiError::field("body", message)
}

/// Parses a request body: JSON for `application/json` (and `+json`), YAML otherwise (YAML
/// content types, `text/plain` or none). Syntax errors are 422 on `body` with line and column.
/// Returns the document and the parsed tree (to find keys nothing reads).
///
/// Bounded before anything is built ([`crate::input::Caps::DOCUMENT`]): a body past the size is
/// 413; YAML anchors and aliases, and a document past the node or depth cap, are 422 on `body`,
/// found by a pass over the parser's events (or, for JSON, a pass that keeps nothing).
pub fn parse(content_type: Option<&str>, body: &[u8]) -> ApiResult<(ConfigDocument, Value)> {
    let media = content_type
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let is_json = media == "application/json" || media.ends_with("+json");
    let is_yaml = matches!(
        media.as_str(),
        "" | "application/yaml" | "text/yaml" | "application/x-yaml" | "text/x-yaml" | "text/plain"
    );
    if !is_json && !is_yaml {
        return Err(ApiError::BadRequest(format!(
            "unsupported content type {media:?}: send the document as application/yaml, text/yaml or application/json"
        )));
    }
    let caps = crate::input::Caps::DOCUMENT;
    if body.len() > caps.bytes {
        return Err(ApiError::PayloadTooLarge(format!(
            "the document is larger than {} bytes, the most an import reads",
            caps.bytes
        )));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(body_problem(
            "is empty: send a config document (GET /api/v1/config exports one)",
        ));
    }
    let tree: Value = if is_json {
        crate::input::parse_json(body, caps).map_err(|e| match e {
            ApiError::BadRequest(message) => body_problem(
                message
                    .strip_prefix("the body ")
                    .map(str::to_owned)
                    .unwrap_or(message),
            ),
            other => other,
        })?
    } else {
        let text = std::str::from_utf8(body).map_err(|e| {
            body_problem(format!(
                "is not UTF-8 text (byte {} is not): send YAML as UTF-8",
                e.valid_up_to()
            ))
        })?;
        // No alias, and the node and depth caps, before serde_yaml_ng builds anything.
        crate::input::check_yaml(text, caps)?;
        serde_yaml_ng::from_str(text).map_err(|e| {
            let mut message = format!("is not valid YAML: {e}");
            if let Some(at) = e.location() {
                if !message.contains("line") {
                    message.push_str(&format!(" (line {} column {})", at.line(), at.column()));
                }
            }
            body_problem(message)
        })?
    };
    if !tree.is_object() {
        return Err(body_problem(
            "must be a mapping with `version`, `status_page`, `component_groups`, `components` and `monitors`",
        ));
    }
    // Problems with the whole document are about the body too (422, like a syntax error).
    let doc = crate::error::decode_json(tree.clone()).map_err(|e| match e {
        ApiError::BadRequest(message) => body_problem(message),
        other => other,
    })?;
    Ok((doc, tree))
}

/// Keys of a monitor entry that nothing reads (a typo such as `intervall_seconds`, or `url` on a
/// `tcp` monitor): the flattened spec would silently ignore them. A key the parsed entry does
/// not write back is tried with a value no field takes: a real field refuses it, an unknown key
/// changes nothing.
fn unknown_monitor_keys(raw: &Value, parsed: &MonitorConfig) -> Vec<String> {
    let (Some(object), Ok(Value::Object(written))) =
        (raw.as_object(), serde_json::to_value(parsed))
    else {
        return Vec::new();
    };
    let reference = Value::Object(written.clone());
    object
        .keys()
        .filter(|key| !written.contains_key(*key))
        .filter(|key| {
            let mut probe = object.clone();
            probe.insert((*key).clone(), json!({ "\u{1}not a value": [] }));
            serde_json::from_value::<MonitorConfig>(Value::Object(probe))
                .ok()
                .and_then(|probed| serde_json::to_value(probed).ok())
                .is_some_and(|probed| probed == reference)
        })
        .cloned()
        .collect()
}

// ---- planning ----

fn problem(field: String, message: impl Into<String>) -> FieldProblem {
    FieldProblem {
        field,
        message: message.into(),
    }
}

fn name_problem(at: &str, name: &str) -> Option<FieldProblem> {
    crate::components::name_problem_at(&format!("{at}.name"), name)
}

/// `kind[i].name` for every name that an earlier entry already has.
fn duplicate_problems<'a>(kind: &str, names: impl Iterator<Item = &'a str>) -> Vec<FieldProblem> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut problems = Vec::new();
    for (i, name) in names.enumerate() {
        let name = name.trim();
        if let Some(first) = seen.get(name) {
            problems.push(problem(
                format!("{kind}[{i}].name"),
                format!("{name:?} appears twice in the file (also {kind}[{first}])"),
            ));
        } else {
            seen.insert(name, i);
        }
    }
    problems
}

struct Limits {
    max_monitors: i32,
    max_components: i32,
    min_interval_seconds: i32,
}

/// The status page's settings after the import.
struct PageWrite {
    title: String,
    description: String,
    visibility: Visibility,
    branding: Branding,
    exclude_maintenance: bool,
    custom_domain: Option<String>,
    domain_changed: bool,
}

/// The plan and the writes that carry it out.
struct Work {
    plan: ImportPlan,
    page: Option<PageWrite>,
    group_creates: Vec<GroupConfig>,
    group_updates: Vec<(Uuid, GroupConfig)>,
    group_deletes: Vec<Uuid>,
    component_creates: Vec<ComponentConfig>,
    component_updates: Vec<(Uuid, ComponentConfig)>,
    component_deletes: Vec<Uuid>,
    monitor_creates: Vec<MonitorConfig>,
    monitor_updates: Vec<(Uuid, MonitorConfig)>,
    monitor_deletes: Vec<Uuid>,
}

/// Existing things the file does not name: deleted with prune, left alone otherwise.
fn leftovers<'a>(
    existing: impl Iterator<Item = (&'a str, Uuid)>,
    in_file: Option<&HashSet<String>>,
    prune: bool,
    plan: &mut KindPlan,
    deletes: &mut Vec<Uuid>,
) {
    for (name, id) in existing {
        match in_file {
            Some(names) if names.contains(name) => {}
            Some(_) if prune => {
                plan.delete.push(name.to_owned());
                deletes.push(id);
            }
            _ => plan.unmanaged.push(name.to_owned()),
        }
    }
}

/// The names a kind has after the import: the file's, plus what exists and is not deleted.
fn names_after<'a>(
    existing: impl Iterator<Item = &'a str>,
    in_file: Option<&HashSet<String>>,
    prune: bool,
) -> HashSet<String> {
    let mut names: HashSet<String> = in_file.cloned().unwrap_or_default();
    if in_file.is_none() || !prune {
        names.extend(existing.map(str::to_owned));
    }
    names
}

fn trimmed_names<'a>(names: impl Iterator<Item = &'a str>) -> HashSet<String> {
    names.map(|n| n.trim().to_owned()).collect()
}

/// Which top-level fields of two specs differ (`type` when the kind changes).
fn spec_changes(old: &MonitorSpec, new: &MonitorSpec) -> Vec<String> {
    let as_map = |spec: &MonitorSpec| match serde_json::to_value(spec) {
        Ok(Value::Object(map)) => map.into_iter().collect::<BTreeMap<_, _>>(),
        _ => BTreeMap::new(),
    };
    let (old, new) = (as_map(old), as_map(new));
    let mut changes: Vec<String> = Vec::new();
    if old.get("type") != new.get("type") {
        changes.push("type".into());
    }
    for key in old.keys().chain(new.keys()) {
        if key != "type" && old.get(key) != new.get(key) && !changes.contains(key) {
            changes.push(key.clone());
        }
    }
    changes
}

/// Validates the document against the account and works out the plan. Every problem in the file
/// is reported at once (422); then the plan's limits (403).
#[allow(clippy::too_many_arguments)]
async fn plan(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    doc: ConfigDocument,
    tree: &Value,
    current: &Current,
    limits: &Limits,
    regions: &[String],
    base_domain: &str,
    sees_secrets: bool,
) -> ApiResult<Work> {
    let mut problems: Vec<FieldProblem> = Vec::new();
    if doc.version != FORMAT_VERSION {
        problems.push(problem(
            "version".into(),
            format!(
                "unsupported version {}; this server reads version {FORMAT_VERSION}",
                doc.version
            ),
        ));
    }
    let prune = doc.prune;

    // The status page.
    let mut page_plan = StatusPagePlan {
        action: PageAction::Unmanaged,
        changes: Vec::new(),
    };
    let mut page_write = None;
    if let Some(page) = &doc.status_page {
        let now = &current.page;
        let title = page.title.as_deref().map(str::trim).unwrap_or(&now.title);
        let description = page.description.as_deref().unwrap_or(&now.description);
        let visibility = page.visibility.unwrap_or(now.visibility);
        if visibility == Visibility::Password && !now.password_set {
            problems.push(problem(
                "status_page.visibility".into(),
                "password needs a password set on the page first (PATCH /api/v1/status-page with `password`); config files never carry it",
            ));
        }
        let branding = page
            .branding
            .clone()
            .unwrap_or_else(|| now.branding.clone());
        problems.extend(crate::status_pages::settings_problems(
            "status_page.",
            page.title.is_some().then_some(title),
            Some(description),
            Some(&branding),
        ));
        let custom_domain = match &page.custom_domain {
            Some(Some(raw)) => match tenants::validate_custom_domain(raw, base_domain) {
                Ok(domain) => {
                    let claimed: bool = sqlx::query_scalar(
                        "SELECT EXISTS (SELECT 1 FROM status_pages WHERE custom_domain = $1 AND tenant_id <> $2 \
                         AND domain_verified_at IS NOT NULL)",
                    )
                    .bind(&domain)
                    .bind(tenant_id)
                    .fetch_one(&mut *conn)
                    .await?;
                    if claimed {
                        problems.push(problem(
                            "status_page.custom_domain".into(),
                            "is already claimed by another status page",
                        ));
                    }
                    Some(domain)
                }
                Err(e) => {
                    problems.push(problem("status_page.custom_domain".into(), e.to_string()));
                    None
                }
            },
            Some(None) => None,
            None => now.custom_domain.clone(),
        };
        let domain_changed = custom_domain != now.custom_domain;
        let exclude_maintenance = page.exclude_maintenance.unwrap_or(now.exclude_maintenance);
        page_plan.changes = [
            ("title", title != now.title),
            ("description", description != now.description),
            ("visibility", visibility != now.visibility),
            ("branding", branding != now.branding),
            (
                "exclude_maintenance",
                exclude_maintenance != now.exclude_maintenance,
            ),
            ("custom_domain", domain_changed),
        ]
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(name, _)| name.to_owned())
        .collect();
        page_plan.action = if page_plan.changes.is_empty() {
            PageAction::Unchanged
        } else {
            page_write = Some(PageWrite {
                title: title.to_owned(),
                description: description.to_owned(),
                visibility,
                branding,
                exclude_maintenance,
                custom_domain,
                domain_changed,
            });
            PageAction::Update
        };
    }

    // Component groups.
    let mut groups_plan = KindPlan::default();
    let (mut group_creates, mut group_updates, mut group_deletes) = (vec![], vec![], vec![]);
    let group_names_in_file = doc
        .component_groups
        .as_ref()
        .map(|gs| trimmed_names(gs.iter().map(|g| g.name.as_str())));
    if let Some(groups) = &doc.component_groups {
        problems.extend(duplicate_problems(
            "component_groups",
            groups.iter().map(|g| g.name.as_str()),
        ));
        for (i, group) in groups.iter().enumerate() {
            problems.extend(name_problem(&format!("component_groups[{i}]"), &group.name));
            let group = GroupConfig {
                name: group.name.trim().to_owned(),
                position: group.position,
            };
            match current.groups.iter().find(|g| g.name == group.name) {
                None => {
                    groups_plan.create.push(group.name.clone());
                    group_creates.push(group);
                }
                Some(now) if now.position != group.position => {
                    groups_plan.update.push(PlannedUpdate {
                        name: group.name.clone(),
                        changes: vec!["position".into()],
                    });
                    group_updates.push((now.id, group));
                }
                Some(_) => groups_plan.unchanged.push(group.name),
            }
        }
    }
    leftovers(
        current.groups.iter().map(|g| (g.name.as_str(), g.id)),
        group_names_in_file.as_ref(),
        prune,
        &mut groups_plan,
        &mut group_deletes,
    );
    let groups_after = names_after(
        current.groups.iter().map(|g| g.name.as_str()),
        group_names_in_file.as_ref(),
        prune,
    );

    // Components.
    let mut components_plan = KindPlan::default();
    let (mut component_creates, mut component_updates, mut component_deletes) =
        (vec![], vec![], vec![]);
    let component_names_in_file = doc
        .components
        .as_ref()
        .map(|cs| trimmed_names(cs.iter().map(|c| c.name.as_str())));
    if let Some(components) = &doc.components {
        problems.extend(duplicate_problems(
            "components",
            components.iter().map(|c| c.name.as_str()),
        ));
        for (i, component) in components.iter().enumerate() {
            let at = format!("components[{i}]");
            problems.extend(name_problem(&at, &component.name));
            problems.extend(crate::components::description_problem_at(
                &format!("{at}.description"),
                &component.description,
            ));
            let group = component.group.as_deref().map(|g| g.trim().to_owned());
            if let Some(group) = &group {
                if !groups_after.contains(group) {
                    problems.push(problem(
                        format!("{at}.group"),
                        format!("no component group named {group:?} (in the file or the account)"),
                    ));
                }
            }
            let component = ComponentConfig {
                name: component.name.trim().to_owned(),
                description: component.description.clone(),
                position: component.position,
                group,
            };
            match current.components.iter().find(|c| c.name == component.name) {
                None => {
                    components_plan.create.push(component.name.clone());
                    component_creates.push(component);
                }
                Some(now) => {
                    let changes: Vec<String> = [
                        ("description", now.description != component.description),
                        ("position", now.position != component.position),
                        (
                            "group",
                            current.group_name(now.group_id) != component.group.as_deref(),
                        ),
                    ]
                    .into_iter()
                    .filter(|(_, changed)| *changed)
                    .map(|(name, _)| name.to_owned())
                    .collect();
                    if changes.is_empty() {
                        components_plan.unchanged.push(component.name);
                    } else {
                        components_plan.update.push(PlannedUpdate {
                            name: component.name.clone(),
                            changes,
                        });
                        component_updates.push((now.id, component));
                    }
                }
            }
        }
    }
    leftovers(
        current.components.iter().map(|c| (c.name.as_str(), c.id)),
        component_names_in_file.as_ref(),
        prune,
        &mut components_plan,
        &mut component_deletes,
    );
    let components_after = names_after(
        current.components.iter().map(|c| c.name.as_str()),
        component_names_in_file.as_ref(),
        prune,
    );

    // Monitors.
    let mut monitors_plan = KindPlan::default();
    let (mut monitor_creates, mut monitor_updates, mut monitor_deletes) = (vec![], vec![], vec![]);
    let monitor_names_in_file = doc
        .monitors
        .as_ref()
        .map(|ms| trimmed_names(ms.iter().map(|m| m.name.as_str())));
    if let Some(monitors) = doc.monitors {
        problems.extend(duplicate_problems(
            "monitors",
            monitors.iter().map(|m| m.name.as_str()),
        ));
        for (i, mut monitor) in monitors.into_iter().enumerate() {
            let at = format!("monitors[{i}]");
            // A secret header given in clear by a token that cannot read secrets always counts
            // as a change, so dry runs cannot be used to guess a stored value.
            let clear_secret = matches!(&monitor.spec, MonitorSpec::Http(http)
                if http.headers.iter().any(|h| h.secret && h.value != crate::monitors::SECRET_MASK));
            // An export shows secret header values masked to tokens without `admin`: the mask
            // keeps the stored value.
            let stored = current
                .monitors
                .iter()
                .find(|m| m.name == monitor.name.trim())
                .map(|m| &m.spec);
            problems.extend(crate::monitors::keep_masked_secrets(
                &mut monitor.spec,
                stored,
                &format!("{at}."),
            ));
            for key in unknown_monitor_keys(&tree["monitors"][i], &monitor) {
                problems.push(problem(
                    format!("{at}.{key}"),
                    format!("is not a field of a {} monitor", monitor.spec.kind()),
                ));
            }
            // The monitor API's own checks, on the same input.
            let input = MonitorInput {
                name: monitor.name.clone(),
                spec: monitor.spec.clone(),
                interval_seconds: monitor.interval_seconds,
                regions: monitor.regions.clone(),
                enabled: monitor.enabled,
                component_id: None,
            };
            if let Err(ApiError::Validation(found)) = input.validate(regions) {
                problems.extend(
                    found
                        .into_iter()
                        .map(|p| problem(format!("{at}.{}", p.field), p.message)),
                );
            }
            let component = monitor.component.as_deref().map(|c| c.trim().to_owned());
            if let Some(component) = &component {
                if !components_after.contains(component) {
                    problems.push(problem(
                        format!("{at}.component"),
                        format!("no component named {component:?} (in the file or the account)"),
                    ));
                }
            }
            let monitor = MonitorConfig {
                name: monitor.name.trim().to_owned(),
                component,
                ..monitor
            };
            let writes = match current.monitors.iter().find(|m| m.name == monitor.name) {
                None => {
                    monitors_plan.create.push(monitor.name.clone());
                    monitor_creates.push(monitor.clone());
                    true
                }
                Some(now) => {
                    let mut changes = spec_changes(&now.spec, &monitor.spec);
                    if clear_secret && !sees_secrets && !changes.iter().any(|c| c == "headers") {
                        changes.push("headers".into());
                    }
                    changes.extend(
                        [
                            (
                                "interval_seconds",
                                now.interval_seconds != monitor.interval_seconds,
                            ),
                            ("regions", now.regions != monitor.regions),
                            ("enabled", now.enabled != monitor.enabled),
                            (
                                "component",
                                current.component_name(now.component_id)
                                    != monitor.component.as_deref(),
                            ),
                        ]
                        .into_iter()
                        .filter(|(_, changed)| *changed)
                        .map(|(name, _)| name.to_owned()),
                    );
                    if changes.is_empty() {
                        monitors_plan.unchanged.push(monitor.name.clone());
                        false
                    } else {
                        monitors_plan.update.push(PlannedUpdate {
                            name: monitor.name.clone(),
                            changes,
                        });
                        monitor_updates.push((now.id, monitor.clone()));
                        true
                    }
                }
            };
            // The plan's interval, as the monitor API checks it on every write.
            if writes && monitor.interval_seconds < limits.min_interval_seconds {
                problems.push(problem(
                    format!("{at}.interval_seconds"),
                    format!(
                        "your plan checks at most every {} s, got {}",
                        limits.min_interval_seconds, monitor.interval_seconds
                    ),
                ));
            }
        }
    }
    leftovers(
        current.monitors.iter().map(|m| (m.name.as_str(), m.id)),
        monitor_names_in_file.as_ref(),
        prune,
        &mut monitors_plan,
        &mut monitor_deletes,
    );

    if !problems.is_empty() {
        return Err(ApiError::Validation(problems));
    }
    let after = |existing: usize, plan: &KindPlan| existing - plan.delete.len() + plan.create.len();
    if !components_plan.create.is_empty()
        && after(current.components.len(), &components_plan) > limits.max_components as usize
    {
        return Err(ApiError::Forbidden(format!(
            "your plan allows {} components and the file would make {}; remove some or upgrade the plan",
            limits.max_components,
            after(current.components.len(), &components_plan)
        )));
    }
    if !monitors_plan.create.is_empty()
        && after(current.monitors.len(), &monitors_plan) > limits.max_monitors as usize
    {
        return Err(ApiError::Forbidden(format!(
            "your plan allows {} monitors and the file would make {}; remove some or upgrade the plan",
            limits.max_monitors,
            after(current.monitors.len(), &monitors_plan)
        )));
    }

    for kind in [&mut groups_plan, &mut components_plan, &mut monitors_plan] {
        kind.sort();
    }
    let summary = groups_plan.counts() + components_plan.counts() + monitors_plan.counts();
    Ok(Work {
        plan: ImportPlan {
            dry_run: true,
            applied: false,
            prune,
            status_page: page_plan,
            component_groups: groups_plan,
            components: components_plan,
            monitors: monitors_plan,
            summary,
        },
        page: page_write,
        group_creates,
        group_updates,
        group_deletes,
        component_creates,
        component_updates,
        component_deletes,
        monitor_creates,
        monitor_updates,
        monitor_deletes,
    })
}

// ---- applying ----

async fn limits(conn: &mut PgConnection, tenant_id: Uuid, lock: bool) -> ApiResult<Limits> {
    // The lock makes concurrent imports (and creates, whose rows reference the tenant) wait.
    let (max_monitors, max_components, min_interval_seconds): (i32, i32, i32) =
        sqlx::query_as(&format!(
            "SELECT max_monitors, max_components, min_interval_seconds FROM tenants WHERE id = $1{}",
            if lock { " FOR UPDATE" } else { "" }
        ))
        .bind(tenant_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(Limits {
        max_monitors,
        max_components,
        min_interval_seconds,
    })
}

fn to_json<T: Serialize>(value: &T) -> ApiResult<Value> {
    serde_json::to_value(value).map_err(|e| ApiError::Internal(e.to_string()))
}

/// Carries out the plan on the transaction's connection. Creates and updates go parents first
/// (groups, components, monitors); deletes children first.
async fn write(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    work: &Work,
    current: &Current,
) -> ApiResult<()> {
    let mut group_ids: HashMap<String, Uuid> = current
        .groups
        .iter()
        .map(|g| (g.name.clone(), g.id))
        .collect();
    for group in &work.group_creates {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO component_groups (id, tenant_id, name, position) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(&group.name)
        .bind(group.position)
        .execute(&mut *conn)
        .await?;
        group_ids.insert(group.name.clone(), id);
    }
    for (id, group) in &work.group_updates {
        sqlx::query(
            "UPDATE component_groups SET position = $3, version = version + 1, updated_at = now() \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(group.position)
        .execute(&mut *conn)
        .await?;
    }

    let group_id = |c: &ComponentConfig| c.group.as_ref().and_then(|g| group_ids.get(g).copied());
    let mut component_ids: HashMap<String, Uuid> = current
        .components
        .iter()
        .map(|c| (c.name.clone(), c.id))
        .collect();
    for component in &work.component_creates {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO components (id, tenant_id, name, description, position, group_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(&component.name)
        .bind(&component.description)
        .bind(component.position)
        .bind(group_id(component))
        .execute(&mut *conn)
        .await?;
        component_ids.insert(component.name.clone(), id);
    }
    for (id, component) in &work.component_updates {
        sqlx::query(
            "UPDATE components SET description = $3, position = $4, group_id = $5, \
             version = version + 1, updated_at = now() WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(&component.description)
        .bind(component.position)
        .bind(group_id(component))
        .execute(&mut *conn)
        .await?;
    }

    let component_id = |m: &MonitorConfig| {
        m.component
            .as_ref()
            .and_then(|c| component_ids.get(c).copied())
    };
    for monitor in &work.monitor_creates {
        sqlx::query(
            "INSERT INTO monitors (id, tenant_id, name, kind, spec, interval_seconds, regions, enabled, component_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(Uuid::new_v4())
        .bind(tenant_id)
        .bind(&monitor.name)
        .bind(monitor.spec.kind())
        .bind(to_json(&monitor.spec)?)
        .bind(monitor.interval_seconds)
        .bind(&monitor.regions)
        .bind(monitor.enabled)
        .bind(component_id(monitor))
        .execute(&mut *conn)
        .await?;
    }
    for (id, monitor) in &work.monitor_updates {
        sqlx::query(
            "UPDATE monitors SET kind = $3, spec = $4, interval_seconds = $5, regions = $6, \
             enabled = $7, component_id = $8, version = version + 1, updated_at = now() \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(monitor.spec.kind())
        .bind(to_json(&monitor.spec)?)
        .bind(monitor.interval_seconds)
        .bind(&monitor.regions)
        .bind(monitor.enabled)
        .bind(component_id(monitor))
        .execute(&mut *conn)
        .await?;
    }

    for (table, ids) in [
        ("monitors", &work.monitor_deletes),
        ("components", &work.component_deletes),
        ("component_groups", &work.group_deletes),
    ] {
        if !ids.is_empty() {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE tenant_id = $1 AND id = ANY($2)"
            ))
            .bind(tenant_id)
            .bind(ids)
            .execute(&mut *conn)
            .await?;
        }
    }

    if let Some(page) = &work.page {
        // A new domain needs a new proof; the same domain keeps its state.
        let token = page.domain_changed.then(|| {
            crate::auth::new_secret()
                .trim_start_matches(crate::auth::TOKEN_PREFIX)
                .to_owned()
        });
        sqlx::query(
            "UPDATE status_pages SET title = $2, description = $3, visibility = $4, branding = $5, \
             custom_domain = CASE WHEN $6 THEN $7 ELSE custom_domain END, \
             domain_token = CASE WHEN $6 THEN $8 ELSE domain_token END, \
             domain_verified_at = CASE WHEN $6 THEN NULL ELSE domain_verified_at END, \
             domain_claimed_at = CASE WHEN $6 THEN CASE WHEN $7::text IS NULL THEN NULL ELSE now() END \
                                 ELSE domain_claimed_at END, \
             exclude_maintenance = $9, \
             version = version + 1, updated_at = now() WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .bind(&page.title)
        .bind(&page.description)
        .bind(stored_name(&page.visibility))
        .bind(to_json(&page.branding)?)
        .bind(page.domain_changed)
        .bind(&page.custom_domain)
        .bind(token)
        .bind(page.exclude_maintenance)
        .execute(&mut *conn)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => ApiError::field(
                "status_page.custom_domain",
                "is already claimed by another status page",
            ),
            _ => e.into(),
        })?;
    }
    Ok(())
}

/// Plans an import of `doc` for the caller's tenant and, unless `dry_run`, applies it in one
/// transaction with one audit entry. The caller checks the write scope and invalidates the
/// status snapshot.
pub async fn import(
    db: &PgPool,
    who: &ApiTenant,
    doc: ConfigDocument,
    tree: &Value,
    regions: &[String],
    base_domain: &str,
    dry_run: bool,
) -> ApiResult<ImportPlan> {
    let tenant_id = who.tenant_id;
    let mut tx = if dry_run {
        snapshot(db).await?
    } else {
        db.begin().await?
    };
    let limits = limits(&mut tx, tenant_id, !dry_run).await?;
    let current = load(&mut tx, tenant_id).await?;
    let mut work = plan(
        &mut tx,
        tenant_id,
        doc,
        tree,
        &current,
        &limits,
        regions,
        base_domain,
        who.sees_secrets(),
    )
    .await?;
    if dry_run {
        tx.rollback().await?;
        return Ok(work.plan);
    }
    write(&mut tx, tenant_id, &work, &current).await?;
    let plan = &work.plan;
    let counts = |kind: &KindPlan| json!({ "create": kind.create.len(), "update": kind.update.len(), "delete": kind.delete.len() });
    // In the transaction, so the log never shows an import that did not happen.
    sqlx::query(
        "INSERT INTO audit_log (tenant_id, actor, action, entity, entity_id, details) \
         VALUES ($1, $2, 'import', 'config', NULL, $3)",
    )
    .bind(tenant_id)
    .bind(format!("api_token:{}", who.token_id))
    .bind(json!({
        "prune": plan.prune,
        "created": plan.summary.create,
        "updated": plan.summary.update,
        "deleted": plan.summary.delete,
        "unchanged": plan.summary.unchanged,
        "unmanaged": plan.summary.unmanaged,
        "status_page": plan.status_page.changes,
        "component_groups": counts(&plan.component_groups),
        "components": counts(&plan.components),
        "monitors": counts(&plan.monitors),
    }))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    work.plan.dry_run = false;
    work.plan.applied = true;
    Ok(work.plan)
}

// ---- handlers ----

#[derive(utoipa::ToSchema, Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigFormat {
    #[default]
    Yaml,
    Json,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct ExportQuery {
    /// `yaml` (default, `text/yaml`) or `json`.
    #[param(inline)]
    pub format: Option<ConfigFormat>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct ImportQuery {
    /// `true` (the default): only report the plan. `false`: apply it (needs the `write` scope).
    pub dry_run: Option<bool>,
}

/// The tenant's configuration as a document: status page settings (never the password or
/// tokens), component groups, components and monitors, referring to each other by name, each
/// list sorted by name. Without the `admin` scope, header values marked `secret` read
/// `********`; importing the file back keeps the stored values.
#[utoipa::path(
    get,
    path = "/api/v1/config",
    tag = "config",
    params(ExportQuery),
    responses(
        (status = 200, description = "the document (YAML unless `format=json`)", content(
            (ConfigDocument = "text/yaml"),
            (ConfigDocument = "application/json")
        )),
        (status = 400, description = "malformed JSON, path or query", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub(crate) async fn export_config(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    let mut doc = export(&state.db, who.tenant_id).await?;
    if !who.sees_secrets() {
        for monitor in doc.monitors.iter_mut().flatten() {
            crate::monitors::mask_secrets(&mut monitor.spec);
        }
    }
    Ok(match query.format.unwrap_or_default() {
        ConfigFormat::Json => Json(doc).into_response(),
        ConfigFormat::Yaml => {
            ([(header::CONTENT_TYPE, YAML_CONTENT_TYPE)], to_yaml(&doc)?).into_response()
        }
    })
}

/// Plans the changes that make the account match a document and, with `dry_run=false`, applies
/// them in one transaction (all or nothing, one audit entry `import`). Things are matched by
/// name; those in the account but not in the file are `unmanaged`, or deleted with `prune: true`.
#[utoipa::path(
    post,
    path = "/api/v1/config",
    tag = "config",
    params(ImportQuery),
    request_body(description = "a config document, as `GET /api/v1/config` exports it (`prune` optional)", content(
        (ConfigDocument = "application/yaml"),
        (ConfigDocument = "text/yaml"),
        (ConfigDocument = "application/json")
    )),
    responses(
        (status = 200, description = "the plan; `applied: true` once carried out", body = ImportPlan),
        (status = 400, description = "malformed query or unsupported content type", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing or invalid API token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "applying with a read-only token, or a plan limit", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "the document is larger than 1 MiB", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid document (syntax errors name line and column on `body`), YAML anchors or aliases, more than 50 000 values or nesting deeper than 32; `errors` names the fields, e.g. `monitors[2].url`", body = crate::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub(crate) async fn import_config(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiQuery(query): ApiQuery<ImportQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<ImportPlan>> {
    let dry_run = query.dry_run.unwrap_or(true);
    if !dry_run {
        who.require_write()?;
    }
    let body = crate::input::read_body(body, crate::input::MAX_DOCUMENT_BYTES).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let (doc, tree) = parse(content_type, &body)?;
    let plan = import(
        &state.db,
        &who,
        doc,
        &tree,
        &state.config.regions,
        &state.config.base_domain,
        dry_run,
    )
    .await?;
    if plan.applied {
        state.status.invalidate(who.tenant_id);
    }
    Ok(Json(plan))
}
