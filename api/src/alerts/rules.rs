//! Alert rules: which events about which components or monitors reach which channel, and how
//! often. A channel that no rule names (as its channel or as its escalation target) receives
//! every alert of its tenant; once a rule names it, it receives what its rules match. Every
//! query is scoped by tenant; the channels, components and monitors a rule names must be the
//! tenant's own.

use crate::notify::EventKind;
use crate::rest::error::{problems_to_result, text_problem, ApiError, ApiResult, FieldProblem};
use crate::rest::{Page, PageQuery};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

pub const NAME_MAX: usize = 100;
/// Component or monitor ids one rule may list.
pub const IDS_MAX: usize = 100;
pub const THROTTLE_MAX_SECS: i32 = 86_400;
pub const REPEAT_MAX_SECS: i32 = 604_800;
pub const GROUP_MAX_SECS: i32 = 3_600;
pub const ESCALATE_MAX_SECS: i32 = 604_800;
/// The `tenants` column bounding how many rules a tenant keeps.
pub const LIMIT_COLUMN: &str = "max_alert_rules";

/// The events a rule can route: what the engine, incidents and maintenance raise.
pub const ROUTED_EVENTS: [EventKind; 6] = [
    EventKind::Down,
    EventKind::Degraded,
    EventKind::RegionalOutage,
    EventKind::Recovery,
    EventKind::IncidentUpdate,
    EventKind::Maintenance,
];

/// A new rule. Durations are seconds so short windows can be tried out (and tested).
#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleInput {
    pub name: String,
    /// The channel the matching alerts go to.
    pub channel_id: Uuid,
    /// Which events: `down`, `degraded`, `regional_outage`, `recovery`, `incident_update`,
    /// `maintenance` (at least one).
    pub events: Vec<EventKind>,
    /// Only alerts about these components (empty, with `monitor_ids` empty too: all). When both
    /// lists are given, an alert about any of the listed components or monitors matches.
    #[serde(default)]
    pub component_ids: Vec<Uuid>,
    /// Only alerts about these monitors.
    #[serde(default)]
    pub monitor_ids: Vec<Uuid>,
    /// At least this many seconds between two messages about the same problem to the channel
    /// (0: no throttle). Recoveries always pass.
    #[serde(default)]
    pub throttle_secs: i32,
    /// Send the problem again every this many seconds while it is open and unacknowledged.
    #[serde(default)]
    pub repeat_secs: Option<i32>,
    /// Alerts raised within this many seconds (from the first) become one message (0: none).
    #[serde(default)]
    pub group_secs: i32,
    /// After this many seconds without acknowledgement, also send to `escalate_channel_id`.
    #[serde(default)]
    pub escalate_after_secs: Option<i32>,
    #[serde(default)]
    pub escalate_channel_id: Option<Uuid>,
}

/// A partial change; absent fields stay. `null` clears `repeat_secs` and the escalation.
#[derive(utoipa::ToSchema, Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRulePatch {
    pub name: Option<String>,
    pub channel_id: Option<Uuid>,
    pub events: Option<Vec<EventKind>>,
    pub component_ids: Option<Vec<Uuid>>,
    pub monitor_ids: Option<Vec<Uuid>>,
    pub throttle_secs: Option<i32>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i32>)]
    pub repeat_secs: Option<Option<i32>>,
    pub group_secs: Option<i32>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i32>)]
    pub escalate_after_secs: Option<Option<i32>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub escalate_channel_id: Option<Option<Uuid>>,
}

/// `Some(None)` for an explicit `null`, `None` for an absent field.
fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AlertRule {
    pub id: Uuid,
    pub name: String,
    pub channel_id: Uuid,
    pub events: Vec<EventKind>,
    pub component_ids: Vec<Uuid>,
    pub monitor_ids: Vec<Uuid>,
    pub throttle_secs: i32,
    pub repeat_secs: Option<i32>,
    pub group_secs: i32,
    pub escalate_after_secs: Option<i32>,
    pub escalate_channel_id: Option<Uuid>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl AlertRule {
    /// Whether an alert of `event` about these components and monitors is one for this rule.
    pub fn matches(&self, event: EventKind, component_ids: &[Uuid], monitor_ids: &[Uuid]) -> bool {
        if !self.events.contains(&event) {
            return false;
        }
        if self.component_ids.is_empty() && self.monitor_ids.is_empty() {
            return true;
        }
        component_ids.iter().any(|c| self.component_ids.contains(c))
            || monitor_ids.iter().any(|m| self.monitor_ids.contains(m))
    }

    /// The escalation, when both its delay and its channel are set.
    pub fn escalation(&self) -> Option<(i32, Uuid)> {
        self.escalate_after_secs.zip(self.escalate_channel_id)
    }
}

type RuleRow = (
    Uuid,
    String,
    Uuid,
    Vec<String>,
    Vec<Uuid>,
    Vec<Uuid>,
    i32,
    Option<i32>,
    i32,
    Option<i32>,
    Option<Uuid>,
    i32,
    DateTime<Utc>,
    DateTime<Utc>,
);
const COLUMNS: &str = "id, name, channel_id, events, component_ids, monitor_ids, throttle_secs, \
     repeat_secs, group_secs, escalate_after_secs, escalate_channel_id, version, created_at, updated_at";

fn from_row(row: RuleRow) -> ApiResult<AlertRule> {
    let events = row
        .3
        .iter()
        .map(|e| crate::rest::parse_stored("events", e))
        .collect::<ApiResult<Vec<EventKind>>>()?;
    Ok(AlertRule {
        id: row.0,
        name: row.1,
        channel_id: row.2,
        events,
        component_ids: row.4,
        monitor_ids: row.5,
        throttle_secs: row.6,
        repeat_secs: row.7,
        group_secs: row.8,
        escalate_after_secs: row.9,
        escalate_channel_id: row.10,
        version: row.11,
        created_at: row.12,
        updated_at: row.13,
    })
}

/// Every rule of the tenant, oldest first (the order [`super::raise`] picks the first match in),
/// on the caller's connection.
pub async fn all(conn: &mut PgConnection, tenant_id: Uuid) -> Result<Vec<AlertRule>, sqlx::Error> {
    let rows: Vec<RuleRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM alert_rules WHERE tenant_id = $1 ORDER BY created_at, id"
    ))
    .bind(tenant_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|r| from_row(r).map_err(|e| sqlx::Error::Decode(e.to_string().into())))
        .collect()
}

fn problem(field: impl Into<String>, message: impl Into<String>) -> FieldProblem {
    FieldProblem {
        field: field.into(),
        message: message.into(),
    }
}

/// The rule as it would be stored, before its ids are checked against the tenant's rows.
struct Checked {
    name: String,
    channel_id: Uuid,
    events: Vec<String>,
    component_ids: Vec<Uuid>,
    monitor_ids: Vec<Uuid>,
    throttle_secs: i32,
    repeat_secs: Option<i32>,
    group_secs: i32,
    escalate_after_secs: Option<i32>,
    escalate_channel_id: Option<Uuid>,
}

fn check(input: &AlertRuleInput) -> ApiResult<Checked> {
    let mut problems: Vec<FieldProblem> = text_problem("name", &input.name, NAME_MAX)
        .into_iter()
        .collect();
    if input.events.is_empty() {
        problems.push(problem("events", "must name at least one event"));
    }
    for (i, event) in input.events.iter().enumerate() {
        if !ROUTED_EVENTS.contains(event) {
            problems.push(problem(
                format!("events[{i}]"),
                "must be one of down, degraded, regional_outage, recovery, incident_update, maintenance",
            ));
        } else if input.events[..i].contains(event) {
            problems.push(problem(format!("events[{i}]"), "is listed twice"));
        }
    }
    for (field, ids) in [
        ("component_ids", &input.component_ids),
        ("monitor_ids", &input.monitor_ids),
    ] {
        if ids.len() > IDS_MAX {
            problems.push(problem(field, format!("may list at most {IDS_MAX} ids")));
        }
    }
    let range = |field: &str, value: i32, min: i32, max: i32, problems: &mut Vec<FieldProblem>| {
        if !(min..=max).contains(&value) {
            problems.push(problem(
                field,
                format!("must be between {min} and {max} seconds"),
            ));
        }
    };
    range(
        "throttle_secs",
        input.throttle_secs,
        0,
        THROTTLE_MAX_SECS,
        &mut problems,
    );
    range(
        "group_secs",
        input.group_secs,
        0,
        GROUP_MAX_SECS,
        &mut problems,
    );
    if let Some(r) = input.repeat_secs {
        range("repeat_secs", r, 1, REPEAT_MAX_SECS, &mut problems);
    }
    if let Some(e) = input.escalate_after_secs {
        range(
            "escalate_after_secs",
            e,
            1,
            ESCALATE_MAX_SECS,
            &mut problems,
        );
    }
    match (input.escalate_after_secs, input.escalate_channel_id) {
        (Some(_), None) => problems.push(problem(
            "escalate_channel_id",
            "is required with escalate_after_secs: the channel to escalate to",
        )),
        (None, Some(_)) => problems.push(problem(
            "escalate_after_secs",
            "is required with escalate_channel_id: seconds without acknowledgement before escalating",
        )),
        (Some(_), Some(to)) if to == input.channel_id => problems.push(problem(
            "escalate_channel_id",
            "must be another channel than channel_id",
        )),
        _ => {}
    }
    problems_to_result(problems)?;
    let dedup = |ids: &[Uuid]| {
        let mut ids = ids.to_vec();
        ids.sort();
        ids.dedup();
        ids
    };
    Ok(Checked {
        name: input.name.trim().to_owned(),
        channel_id: input.channel_id,
        events: input.events.iter().map(|e| e.as_str().to_owned()).collect(),
        component_ids: dedup(&input.component_ids),
        monitor_ids: dedup(&input.monitor_ids),
        throttle_secs: input.throttle_secs,
        repeat_secs: input.repeat_secs,
        group_secs: input.group_secs,
        escalate_after_secs: input.escalate_after_secs,
        escalate_channel_id: input.escalate_channel_id,
    })
}

/// Refuses ids that are not the tenant's own rows, naming the field (another tenant's channel
/// looks like no channel).
async fn check_owned(conn: &mut PgConnection, tenant_id: Uuid, rule: &Checked) -> ApiResult<()> {
    let mut problems = Vec::new();
    for (field, id) in [
        ("channel_id", Some(rule.channel_id)),
        ("escalate_channel_id", rule.escalate_channel_id),
    ] {
        let Some(id) = id else { continue };
        let found: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM notification_channels WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        if found.is_none() {
            problems.push(problem(
                field,
                "is not a notification channel of this tenant",
            ));
        }
    }
    for (field, table, ids) in [
        ("component_ids", "components", &rule.component_ids),
        ("monitor_ids", "monitors", &rule.monitor_ids),
    ] {
        if ids.is_empty() {
            continue;
        }
        // `table` is one of the two names above, never input.
        let known: Vec<Uuid> = sqlx::query_scalar(&format!(
            "SELECT id FROM {table} WHERE tenant_id = $1 AND id = ANY($2)"
        ))
        .bind(tenant_id)
        .bind(ids)
        .fetch_all(&mut *conn)
        .await?;
        for (i, id) in ids.iter().enumerate() {
            if !known.contains(id) {
                problems.push(problem(
                    format!("{field}[{i}]"),
                    format!("{id} is not one of this tenant's {table}"),
                ));
            }
        }
    }
    problems_to_result(problems)
}

/// Locks the tenant row and refuses a rule past `max_alert_rules`, as
/// [`crate::accounts::limits::reserve`] does for the other bounded rows.
async fn reserve(conn: &mut PgConnection, tenant_id: Uuid) -> ApiResult<()> {
    let limit: Option<i32> = sqlx::query_scalar(&format!(
        "SELECT {LIMIT_COLUMN} FROM tenants WHERE id = $1 FOR NO KEY UPDATE"
    ))
    .bind(tenant_id)
    .fetch_optional(&mut *conn)
    .await?;
    let limit = limit.ok_or(ApiError::NotFound("tenant"))?;
    // A later statement than the lock, so it counts what the previous holder committed.
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM alert_rules WHERE tenant_id = $1")
        .bind(tenant_id)
        .fetch_one(&mut *conn)
        .await?;
    if count >= i64::from(limit) {
        return Err(ApiError::PlanLimit {
            limit: LIMIT_COLUMN,
            detail: format!(
                "your plan allows {limit} alert rules ({LIMIT_COLUMN}); delete one or upgrade the plan"
            ),
        });
    }
    Ok(())
}

fn write_error(e: sqlx::Error, name: &str) -> ApiError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => ApiError::field(
            "name",
            format!("an alert rule named {name:?} already exists"),
        ),
        _ => e.into(),
    }
}

pub async fn create(db: &PgPool, tenant_id: Uuid, input: &AlertRuleInput) -> ApiResult<AlertRule> {
    let rule = check(input)?;
    let mut tx = db.begin().await?;
    check_owned(&mut tx, tenant_id, &rule).await?;
    reserve(&mut tx, tenant_id).await?;
    let row: RuleRow = sqlx::query_as(&format!(
        "INSERT INTO alert_rules (id, tenant_id, name, channel_id, events, component_ids, \
         monitor_ids, throttle_secs, repeat_secs, group_secs, escalate_after_secs, \
         escalate_channel_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(tenant_id)
    .bind(&rule.name)
    .bind(rule.channel_id)
    .bind(&rule.events)
    .bind(&rule.component_ids)
    .bind(&rule.monitor_ids)
    .bind(rule.throttle_secs)
    .bind(rule.repeat_secs)
    .bind(rule.group_secs)
    .bind(rule.escalate_after_secs)
    .bind(rule.escalate_channel_id)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| write_error(e, &rule.name))?;
    tx.commit().await?;
    from_row(row)
}

pub async fn get(db: &PgPool, tenant_id: Uuid, id: Uuid) -> ApiResult<AlertRule> {
    let row: Option<RuleRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM alert_rules WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    from_row(row.ok_or(ApiError::NotFound("alert rule"))?)
}

/// One page of rules, newest first.
pub async fn list(db: &PgPool, tenant_id: Uuid, page: &PageQuery) -> ApiResult<Page<AlertRule>> {
    let limit = page.limit()?;
    let after = page.after()?;
    let rows: Vec<RuleRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM alert_rules WHERE tenant_id = $1 \
         AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit + 1)
    .fetch_all(db)
    .await?;
    let rules = rows
        .into_iter()
        .map(from_row)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Page::from_rows(rules, limit, |r| (r.created_at, r.id)))
}

/// Applies a patch at `expected` version (any when `None`); `Ok(None)` when no row matched.
/// The whole rule is checked again as it would be after the change.
pub async fn patch(
    db: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
    expected: Option<i32>,
    patch: &AlertRulePatch,
) -> ApiResult<Option<AlertRule>> {
    let current = get(db, tenant_id, id).await?;
    let merged = AlertRuleInput {
        name: patch.name.clone().unwrap_or(current.name),
        channel_id: patch.channel_id.unwrap_or(current.channel_id),
        events: patch.events.clone().unwrap_or(current.events),
        component_ids: patch.component_ids.clone().unwrap_or(current.component_ids),
        monitor_ids: patch.monitor_ids.clone().unwrap_or(current.monitor_ids),
        throttle_secs: patch.throttle_secs.unwrap_or(current.throttle_secs),
        repeat_secs: patch.repeat_secs.unwrap_or(current.repeat_secs),
        group_secs: patch.group_secs.unwrap_or(current.group_secs),
        escalate_after_secs: patch
            .escalate_after_secs
            .unwrap_or(current.escalate_after_secs),
        escalate_channel_id: patch
            .escalate_channel_id
            .unwrap_or(current.escalate_channel_id),
    };
    let rule = check(&merged)?;
    let mut tx = db.begin().await?;
    check_owned(&mut tx, tenant_id, &rule).await?;
    let row: Option<RuleRow> = sqlx::query_as(&format!(
        "UPDATE alert_rules SET name = $4, channel_id = $5, events = $6, component_ids = $7, \
         monitor_ids = $8, throttle_secs = $9, repeat_secs = $10, group_secs = $11, \
         escalate_after_secs = $12, escalate_channel_id = $13, version = version + 1, \
         updated_at = now() \
         WHERE tenant_id = $1 AND id = $2 AND ($3::int IS NULL OR version = $3) RETURNING {COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(expected)
    .bind(&rule.name)
    .bind(rule.channel_id)
    .bind(&rule.events)
    .bind(&rule.component_ids)
    .bind(&rule.monitor_ids)
    .bind(rule.throttle_secs)
    .bind(rule.repeat_secs)
    .bind(rule.group_secs)
    .bind(rule.escalate_after_secs)
    .bind(rule.escalate_channel_id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| write_error(e, &rule.name))?;
    tx.commit().await?;
    row.map(from_row).transpose()
}

pub async fn delete(
    db: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
    expected: Option<i32>,
) -> ApiResult<bool> {
    let done = sqlx::query(
        "DELETE FROM alert_rules WHERE tenant_id = $1 AND id = $2 \
         AND ($3::int IS NULL OR version = $3)",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(expected)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(events: Vec<EventKind>, components: Vec<Uuid>, monitors: Vec<Uuid>) -> AlertRule {
        AlertRule {
            id: Uuid::new_v4(),
            name: "r".into(),
            channel_id: Uuid::new_v4(),
            events,
            component_ids: components,
            monitor_ids: monitors,
            throttle_secs: 0,
            repeat_secs: None,
            group_secs: 0,
            escalate_after_secs: None,
            escalate_channel_id: None,
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn rules_match_by_event_and_by_component_or_monitor() {
        let (c, m) = (Uuid::new_v4(), Uuid::new_v4());
        let any = rule(vec![EventKind::Down], vec![], vec![]);
        assert!(any.matches(EventKind::Down, &[], &[]));
        assert!(!any.matches(EventKind::Degraded, &[c], &[m]));
        let narrow = rule(vec![EventKind::Down, EventKind::Recovery], vec![c], vec![m]);
        assert!(narrow.matches(EventKind::Down, &[c], &[]));
        assert!(narrow.matches(EventKind::Recovery, &[], &[m]));
        assert!(!narrow.matches(EventKind::Down, &[Uuid::new_v4()], &[Uuid::new_v4()]));
        assert!(!narrow.matches(EventKind::Down, &[], &[]));
    }

    #[test]
    fn inputs_name_the_bad_field() {
        let input = AlertRuleInput {
            name: " ".into(),
            channel_id: Uuid::nil(),
            events: vec![EventKind::Test, EventKind::Down, EventKind::Down],
            component_ids: vec![],
            monitor_ids: vec![],
            throttle_secs: -1,
            repeat_secs: Some(0),
            group_secs: 7200,
            escalate_after_secs: Some(60),
            escalate_channel_id: None,
        };
        let Err(ApiError::Validation(problems)) = check(&input) else {
            panic!("accepted");
        };
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "events[0]",
                "events[2]",
                "throttle_secs",
                "group_secs",
                "repeat_secs",
                "escalate_channel_id"
            ]
        );
    }
}
