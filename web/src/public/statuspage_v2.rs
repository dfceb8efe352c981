//! Atlassian Statuspage's public API (`/api/v2/*.json`) in its exact shape, so the aggregators,
//! chat bots and dashboards that read Statuspage pages read ours unchanged: the same documents,
//! field names, types and vocabularies (component, incident and maintenance statuses, impacts and
//! the page's `indicator`), timestamps as ISO 8601 with milliseconds. English only: Statuspage's
//! API is not localised.
//!
//! Where our model has no counterpart, the value is what a Statuspage page without that feature
//! shows: `time_zone` is `Etc/UTC`, `custom_tweet`/`tweet_id` are `null`, `only_show_if_degraded`
//! is `false`. Incident updates have `affected_components: null` (our updates do not record the
//! component transitions; the incident's `components` carry them). A maintenance window has one
//! update (its current status and description), as we keep no maintenance timeline.

use super::model::{ComponentModel, IncidentModel, MaintenanceModel, PageModel};
use super::{File, FileKind};
use api::engine::components::PageStatus;
use api::incidents::{Impact, IncidentStatus};
use api::maintenance::MaintenanceStatus;
use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use std::collections::HashMap;
use uuid::Uuid;

/// `incidents.json` and `scheduled-maintenances.json` list at most this many, as Statuspage does.
pub const LIST_LIMIT: usize = 50;

/// The documents and their paths.
pub const PATHS: [&str; 8] = [
    "/api/v2/summary.json",
    "/api/v2/status.json",
    "/api/v2/components.json",
    "/api/v2/incidents.json",
    "/api/v2/incidents/unresolved.json",
    "/api/v2/scheduled-maintenances.json",
    "/api/v2/scheduled-maintenances/upcoming.json",
    "/api/v2/scheduled-maintenances/active.json",
];

pub fn files(model: &PageModel) -> Vec<File> {
    let api = Api::new(model);
    let docs: [(&str, Vec<u8>); 8] = [
        (PATHS[0], json(&api.summary())),
        (
            PATHS[1],
            json(&StatusDoc {
                page: api.page(),
                status: api.status(),
            }),
        ),
        (
            PATHS[2],
            json(&ComponentsDoc {
                page: api.page(),
                components: api.components.clone(),
            }),
        ),
        (
            PATHS[3],
            json(&IncidentsDoc {
                page: api.page(),
                incidents: api.incidents(|_| true),
            }),
        ),
        (
            PATHS[4],
            json(&IncidentsDoc {
                page: api.page(),
                incidents: api.incidents(|i| i.status != IncidentStatus::Resolved),
            }),
        ),
        (
            PATHS[5],
            json(&MaintenancesDoc {
                page: api.page(),
                scheduled_maintenances: api.all_maintenances(),
            }),
        ),
        (
            PATHS[6],
            json(&MaintenancesDoc {
                page: api.page(),
                scheduled_maintenances: api
                    .maintenances(|m| m.status == MaintenanceStatus::Scheduled),
            }),
        ),
        (
            PATHS[7],
            json(&MaintenancesDoc {
                page: api.page(),
                scheduled_maintenances: api.maintenances(|m| {
                    matches!(
                        m.status,
                        MaintenanceStatus::InProgress | MaintenanceStatus::Verifying
                    )
                }),
            }),
        ),
    ];
    docs.into_iter()
        .map(|(path, body)| File::new(path, FileKind::Data, super::JSON, body))
        .collect()
}

fn json<T: Serialize>(doc: &T) -> Vec<u8> {
    serde_json::to_vec(doc).expect("our documents serialize")
}

/// A timestamp as Statuspage writes it: `2026-12-01T12:00:00.000Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ts(pub DateTime<Utc>);

impl Serialize for Ts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0.format("%Y-%m-%dT%H:%M:%S%.3fZ"))
    }
}

/// The page's `status.indicator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    // In order of severity (maintenance ranks below any outage, as on Statuspage).
    None,
    Maintenance,
    Minor,
    Major,
    Critical,
}

pub const ALL_OPERATIONAL: &str = "All Systems Operational";
pub const UNDER_MAINTENANCE: &str = "Service Under Maintenance";
pub const PARTIALLY_DEGRADED: &str = "Partially Degraded Service";
pub const DEGRADED_SYSTEM: &str = "Degraded System Service";
pub const MINOR_OUTAGE: &str = "Minor Service Outage";
pub const PARTIAL_OUTAGE: &str = "Partial System Outage";
pub const MAJOR_OUTAGE: &str = "Major System Outage";

/// Statuspage's top-level status ("Top-level status and incident impact calculations" in its
/// documentation) from the statuses of the page's components (groups excluded) and the worst
/// impact of its unresolved incidents. One component: its status maps straight (operational →
/// none, under maintenance → maintenance, degraded → minor, partial outage → major, major
/// outage → critical). Several: blended — all in major outage is critical, any in major outage
/// (or all in partial outage) is major, any in partial outage is minor, and so on. An unresolved
/// incident raises the result to its impact (minor → "Minor Service Outage", major → "Partial
/// System Outage", critical → "Major System Outage").
pub fn rollup(components: &[PageStatus], incident_impact: Option<Impact>) -> Status {
    use PageStatus as P;
    let all =
        |pred: &dyn Fn(P) -> bool| !components.is_empty() && components.iter().all(|s| pred(*s));
    let any = |s: P| components.contains(&s);
    let by_components = if components.len() == 1 {
        match components[0] {
            P::Operational => (Indicator::None, ALL_OPERATIONAL),
            P::UnderMaintenance => (Indicator::Maintenance, UNDER_MAINTENANCE),
            P::DegradedPerformance => (Indicator::Minor, PARTIALLY_DEGRADED),
            P::PartialOutage => (Indicator::Major, PARTIAL_OUTAGE),
            P::MajorOutage => (Indicator::Critical, MAJOR_OUTAGE),
        }
    } else if all(&|s| s == P::MajorOutage) {
        (Indicator::Critical, MAJOR_OUTAGE)
    } else if any(P::MajorOutage) || all(&|s| s >= P::PartialOutage) {
        (Indicator::Major, PARTIAL_OUTAGE)
    } else if any(P::PartialOutage) {
        (Indicator::Minor, MINOR_OUTAGE)
    } else if all(&|s| s == P::DegradedPerformance) {
        (Indicator::Minor, DEGRADED_SYSTEM)
    } else if any(P::DegradedPerformance) {
        (Indicator::Minor, PARTIALLY_DEGRADED)
    } else if any(P::UnderMaintenance) {
        (Indicator::Maintenance, UNDER_MAINTENANCE)
    } else {
        (Indicator::None, ALL_OPERATIONAL)
    };
    let by_incidents = match incident_impact {
        None | Some(Impact::None) => (Indicator::None, ALL_OPERATIONAL),
        Some(Impact::Minor) => (Indicator::Minor, MINOR_OUTAGE),
        Some(Impact::Major) => (Indicator::Major, PARTIAL_OUTAGE),
        Some(Impact::Critical) => (Indicator::Critical, MAJOR_OUTAGE),
    };
    let (indicator, description) = if by_incidents.0 > by_components.0 {
        by_incidents
    } else {
        by_components
    };
    Status {
        indicator,
        description,
    }
}

fn impact_rank(impact: Impact) -> u8 {
    match impact {
        Impact::None => 0,
        Impact::Minor => 1,
        Impact::Major => 2,
        Impact::Critical => 3,
    }
}

// ---- the documents ------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize)]
pub struct PageRef {
    pub id: String,
    pub name: String,
    pub url: String,
    pub time_zone: &'static str,
    pub updated_at: Ts,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub indicator: Indicator,
    pub description: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Component {
    pub id: String,
    pub name: String,
    pub status: PageStatus,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub position: i32,
    pub description: Option<String>,
    pub showcase: bool,
    /// `YYYY-MM-DD`.
    pub start_date: Option<String>,
    pub group_id: Option<String>,
    pub page_id: String,
    pub group: bool,
    pub only_show_if_degraded: bool,
    /// Groups only: their members' ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AffectedComponent {
    pub code: String,
    pub name: String,
    pub old_status: PageStatus,
    pub new_status: PageStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct IncidentUpdate {
    pub id: String,
    /// An incident's status, or a maintenance window's (`scheduled`, `in_progress`, ...).
    pub status: &'static str,
    pub body: String,
    pub incident_id: String,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub display_at: Ts,
    pub affected_components: Option<Vec<AffectedComponent>>,
    pub deliver_notifications: bool,
    pub custom_tweet: Option<String>,
    pub tweet_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub id: String,
    pub name: String,
    pub status: IncidentStatus,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub monitoring_at: Option<Ts>,
    pub resolved_at: Option<Ts>,
    pub impact: Impact,
    pub shortlink: String,
    pub started_at: Ts,
    pub page_id: String,
    pub incident_updates: Vec<IncidentUpdate>,
    pub components: Vec<Component>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScheduledMaintenance {
    pub id: String,
    pub name: String,
    pub status: MaintenanceStatus,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub monitoring_at: Option<Ts>,
    pub resolved_at: Option<Ts>,
    /// Always `maintenance`.
    pub impact: &'static str,
    pub shortlink: String,
    pub started_at: Ts,
    pub page_id: String,
    pub incident_updates: Vec<IncidentUpdate>,
    pub components: Vec<Component>,
    pub scheduled_for: Ts,
    pub scheduled_until: Ts,
}

#[derive(Debug, Clone, Serialize)]
pub struct SummaryDoc {
    pub page: PageRef,
    pub components: Vec<Component>,
    pub incidents: Vec<Incident>,
    pub scheduled_maintenances: Vec<ScheduledMaintenance>,
    pub status: Status,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusDoc {
    pub page: PageRef,
    pub status: Status,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComponentsDoc {
    pub page: PageRef,
    pub components: Vec<Component>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IncidentsDoc {
    pub page: PageRef,
    pub incidents: Vec<Incident>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MaintenancesDoc {
    pub page: PageRef,
    pub scheduled_maintenances: Vec<ScheduledMaintenance>,
}

// ---- from the model -----------------------------------------------------------------------

struct Api<'a> {
    model: &'a PageModel,
    page_id: String,
    /// Groups and components in page order: each group, then its members.
    components: Vec<Component>,
    by_id: HashMap<Uuid, usize>,
}

const MAINTENANCE_BODY: &str = "We will be undergoing scheduled maintenance during this time.";

impl<'a> Api<'a> {
    fn new(model: &'a PageModel) -> Self {
        let page_id = model.tenant_id.to_string();
        let mut components = Vec::new();
        let mut top_position = 0;
        for group in &model.groups {
            let leaf = |c: &ComponentModel, position: i32| Component {
                id: c.id.to_string(),
                name: c.name.clone(),
                status: c.status,
                created_at: Ts(c.created_at),
                updated_at: Ts(c.updated_at),
                position,
                description: non_empty(&c.description),
                showcase: true,
                start_date: Some(c.created_at.format("%Y-%m-%d").to_string()),
                group_id: c.group_id.map(|g| g.to_string()),
                page_id: page_id.clone(),
                group: false,
                only_show_if_degraded: false,
                components: None,
            };
            match (group.id, &group.name) {
                (Some(group_id), Some(name)) => {
                    top_position += 1;
                    let created = group.components.iter().map(|c| c.created_at).min();
                    let updated = group.components.iter().map(|c| c.updated_at).max();
                    let fallback = model.generated_at;
                    components.push(Component {
                        id: group_id.to_string(),
                        name: name.clone(),
                        status: group.status,
                        created_at: Ts(created.unwrap_or(fallback)),
                        updated_at: Ts(updated.unwrap_or(fallback)),
                        position: top_position,
                        description: None,
                        showcase: false,
                        start_date: None,
                        group_id: None,
                        page_id: page_id.clone(),
                        group: true,
                        only_show_if_degraded: false,
                        components: Some(
                            group.components.iter().map(|c| c.id.to_string()).collect(),
                        ),
                    });
                    for (i, c) in group.components.iter().enumerate() {
                        components.push(leaf(c, i as i32 + 1));
                    }
                }
                _ => {
                    for c in &group.components {
                        top_position += 1;
                        let mut component = leaf(c, top_position);
                        component.group_id = None;
                        components.push(component);
                    }
                }
            }
        }
        let by_id = components
            .iter()
            .enumerate()
            .filter_map(|(i, c)| Some((c.id.parse::<Uuid>().ok()?, i)))
            .collect();
        Self {
            model,
            page_id,
            components,
            by_id,
        }
    }

    /// The page's last change: the latest update of anything on it (so the documents stay
    /// byte-identical, and their ETags too, until something changes).
    fn updated_at(&self) -> DateTime<Utc> {
        let m = self.model;
        m.components()
            .map(|c| c.updated_at)
            .chain(m.incidents.iter().map(|i| i.updated_at))
            .chain(m.maintenances.iter().map(|w| w.updated_at))
            .max()
            .unwrap_or(m.generated_at)
    }

    fn page(&self) -> PageRef {
        PageRef {
            id: self.page_id.clone(),
            name: self.model.title.clone(),
            url: self.model.url.clone(),
            time_zone: "Etc/UTC",
            updated_at: Ts(self.updated_at()),
        }
    }

    fn status(&self) -> Status {
        let leaves: Vec<PageStatus> = self.model.components().map(|c| c.status).collect();
        let impact = self
            .model
            .incidents
            .iter()
            .filter(|i| i.status != IncidentStatus::Resolved)
            .map(|i| i.impact)
            .max_by_key(|i| impact_rank(*i));
        rollup(&leaves, impact)
    }

    fn summary(&self) -> SummaryDoc {
        SummaryDoc {
            page: self.page(),
            components: self.components.clone(),
            incidents: self.incidents(|i| i.status != IncidentStatus::Resolved),
            scheduled_maintenances: self.maintenances(|m| m.status != MaintenanceStatus::Completed),
            status: self.status(),
        }
    }

    /// The page's component `id`, or one made from what the incident or window knows of it (a
    /// component no longer on the page).
    fn component(&self, id: Uuid, name: &str, status: PageStatus, at: DateTime<Utc>) -> Component {
        if let Some(i) = self.by_id.get(&id) {
            return self.components[*i].clone();
        }
        Component {
            id: id.to_string(),
            name: name.to_owned(),
            status,
            created_at: Ts(at),
            updated_at: Ts(at),
            position: 0,
            description: None,
            showcase: false,
            start_date: None,
            group_id: None,
            page_id: self.page_id.clone(),
            group: false,
            only_show_if_degraded: false,
            components: None,
        }
    }

    /// The model's incidents (newest first) that `keep` keeps, at most [`LIST_LIMIT`].
    fn incidents(&self, keep: impl Fn(&IncidentModel) -> bool) -> Vec<Incident> {
        self.model
            .incidents
            .iter()
            .filter(|i| keep(i))
            .take(LIST_LIMIT)
            .map(|i| self.incident(i))
            .collect()
    }

    fn incident(&self, i: &IncidentModel) -> Incident {
        let id = i.id.to_string();
        Incident {
            id: id.clone(),
            name: i.title.clone(),
            status: i.status,
            created_at: Ts(i.created_at),
            updated_at: Ts(i.updated_at),
            monitoring_at: i.monitoring_at.map(Ts),
            resolved_at: i.resolved_at.map(Ts),
            impact: i.impact,
            shortlink: format!("{}/incidents/{}", self.model.url, i.id),
            started_at: Ts(i.started_at),
            page_id: self.page_id.clone(),
            incident_updates: i
                .updates
                .iter()
                .map(|u| IncidentUpdate {
                    id: u.id.to_string(),
                    status: incident_status(u.status),
                    body: u.message.clone(),
                    incident_id: id.clone(),
                    created_at: Ts(u.created_at),
                    updated_at: Ts(u.created_at),
                    display_at: Ts(u.created_at),
                    affected_components: None,
                    deliver_notifications: true,
                    custom_tweet: None,
                    tweet_id: None,
                })
                .collect(),
            components: i
                .components
                .iter()
                .map(|a| {
                    self.component(
                        a.id,
                        &a.name,
                        PageStatus::of_incident(a.status),
                        i.updated_at,
                    )
                })
                .collect(),
        }
    }

    /// The windows that `keep` keeps, in the model's order (not ended yet soonest first).
    fn maintenances(&self, keep: impl Fn(&MaintenanceModel) -> bool) -> Vec<ScheduledMaintenance> {
        self.model
            .maintenances
            .iter()
            .filter(|m| keep(m))
            .take(LIST_LIMIT)
            .map(|m| self.maintenance(m))
            .collect()
    }

    /// The [`LIST_LIMIT`] latest windows, latest start first.
    fn all_maintenances(&self) -> Vec<ScheduledMaintenance> {
        let mut all: Vec<&MaintenanceModel> = self.model.maintenances.iter().collect();
        all.sort_by(|a, b| b.starts_at.cmp(&a.starts_at).then(a.id.cmp(&b.id)));
        all.into_iter()
            .take(LIST_LIMIT)
            .map(|m| self.maintenance(m))
            .collect()
    }

    fn maintenance(&self, m: &MaintenanceModel) -> ScheduledMaintenance {
        let id = m.id.to_string();
        let in_window = if m.status == MaintenanceStatus::InProgress {
            PageStatus::UnderMaintenance
        } else {
            PageStatus::Operational
        };
        // Completed by hand inside the window: then; otherwise by the clock at its end.
        let resolved_at = (m.status == MaintenanceStatus::Completed).then(|| {
            if m.updated_at > m.starts_at && m.updated_at < m.ends_at {
                m.updated_at
            } else {
                m.ends_at
            }
        });
        ScheduledMaintenance {
            id: id.clone(),
            name: m.title.clone(),
            status: m.status,
            created_at: Ts(m.created_at),
            updated_at: Ts(m.updated_at),
            monitoring_at: None,
            resolved_at: resolved_at.map(Ts),
            impact: "maintenance",
            shortlink: format!("{}/", self.model.url),
            started_at: Ts(m.created_at),
            page_id: self.page_id.clone(),
            incident_updates: vec![IncidentUpdate {
                // One update per window, with an id of its own derived from the window's.
                id: Uuid::from_u128(m.id.as_u128() ^ 0x0000_0000_0000_0000_0000_0000_0000_0001)
                    .to_string(),
                status: maintenance_status(m.status),
                body: non_empty(&m.description).unwrap_or_else(|| MAINTENANCE_BODY.to_owned()),
                incident_id: id,
                created_at: Ts(m.updated_at),
                updated_at: Ts(m.updated_at),
                display_at: Ts(m.updated_at),
                affected_components: None,
                deliver_notifications: true,
                custom_tweet: None,
                tweet_id: None,
            }],
            components: m
                .components
                .iter()
                .map(|(cid, name)| self.component(*cid, name, in_window, m.updated_at))
                .collect(),
            scheduled_for: Ts(m.starts_at),
            scheduled_until: Ts(m.ends_at),
        }
    }
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

fn incident_status(s: IncidentStatus) -> &'static str {
    match s {
        IncidentStatus::Investigating => "investigating",
        IncidentStatus::Identified => "identified",
        IncidentStatus::Monitoring => "monitoring",
        IncidentStatus::Resolved => "resolved",
    }
}

fn maintenance_status(s: MaintenanceStatus) -> &'static str {
    match s {
        MaintenanceStatus::Scheduled => "scheduled",
        MaintenanceStatus::InProgress => "in_progress",
        MaintenanceStatus::Verifying => "verifying",
        MaintenanceStatus::Completed => "completed",
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;
    use serde::de::{DeserializeOwned, Deserializer, Error as _};
    use serde::Deserialize;
    use serde_json::Value;

    // ---- Statuspage's documented schema, written from its public API documentation
    // (`/api/v2` of any Statuspage page, e.g. metastatuspage.com/api/v2, and the documents such
    // pages serve), separate from our output structs: every field required (nullable ones
    // present, as `null`), no other field, enumerations closed.

    /// A nullable field that must be present.
    fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        Option::<T>::deserialize(d)
    }

    /// An ISO 8601 timestamp, as Statuspage writes them (`2014-05-14T14:22:40.301-06:00`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    struct Time(DateTime<Utc>);

    impl<'de> Deserialize<'de> for Time {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let s = String::deserialize(d)?;
            let t = DateTime::parse_from_rfc3339(&s)
                .map_err(|e| D::Error::custom(format!("{s:?} is not ISO 8601: {e}")))?;
            Ok(Time(t.with_timezone(&Utc)))
        }
    }

    // Every field is checked by deserializing; not every one is read afterwards.
    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SPage {
        id: String,
        name: String,
        url: String,
        time_zone: String,
        updated_at: Time,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum SIndicator {
        None,
        Minor,
        Major,
        Critical,
        Maintenance,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
    enum SDescription {
        #[serde(rename = "All Systems Operational")]
        AllOperational,
        #[serde(rename = "Major System Outage")]
        MajorSystemOutage,
        #[serde(rename = "Partial System Outage")]
        PartialSystemOutage,
        #[serde(rename = "Minor Service Outage")]
        MinorServiceOutage,
        #[serde(rename = "Degraded System Service")]
        DegradedSystemService,
        #[serde(rename = "Partially Degraded Service")]
        PartiallyDegradedService,
        #[serde(rename = "Service Under Maintenance")]
        ServiceUnderMaintenance,
    }

    // Every field is checked by deserializing; not every one is read afterwards.
    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SStatus {
        indicator: SIndicator,
        description: SDescription,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum SComponentStatus {
        Operational,
        DegradedPerformance,
        PartialOutage,
        MajorOutage,
        UnderMaintenance,
    }

    // Every field is checked by deserializing; not every one is read afterwards.
    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SComponent {
        id: String,
        name: String,
        status: SComponentStatus,
        created_at: Time,
        updated_at: Time,
        position: i64,
        #[serde(deserialize_with = "present")]
        description: Option<String>,
        showcase: bool,
        #[serde(deserialize_with = "present")]
        start_date: Option<chrono::NaiveDate>,
        #[serde(deserialize_with = "present")]
        group_id: Option<String>,
        page_id: String,
        group: bool,
        only_show_if_degraded: bool,
        /// Groups only.
        #[serde(default)]
        components: Option<Vec<String>>,
    }

    // Every field is checked by deserializing; not every one is read afterwards.
    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SAffected {
        code: String,
        name: String,
        old_status: SComponentStatus,
        new_status: SComponentStatus,
    }

    // Every field is checked by deserializing; not every one is read afterwards.
    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SUpdate {
        id: String,
        status: String,
        body: String,
        incident_id: String,
        created_at: Time,
        updated_at: Time,
        display_at: Time,
        #[serde(deserialize_with = "present")]
        affected_components: Option<Vec<SAffected>>,
        deliver_notifications: bool,
        #[serde(deserialize_with = "present")]
        custom_tweet: Option<String>,
        #[serde(deserialize_with = "present")]
        tweet_id: Option<String>,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum SIncidentStatus {
        Investigating,
        Identified,
        Monitoring,
        Resolved,
        Postmortem,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum SImpact {
        None,
        Minor,
        Major,
        Critical,
        Maintenance,
    }

    // Every field is checked by deserializing; not every one is read afterwards.
    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SIncident {
        id: String,
        name: String,
        status: SIncidentStatus,
        created_at: Time,
        updated_at: Time,
        #[serde(deserialize_with = "present")]
        monitoring_at: Option<Time>,
        #[serde(deserialize_with = "present")]
        resolved_at: Option<Time>,
        impact: SImpact,
        shortlink: String,
        started_at: Time,
        page_id: String,
        incident_updates: Vec<SUpdate>,
        components: Vec<SComponent>,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum SMaintenanceStatus {
        Scheduled,
        InProgress,
        Verifying,
        Completed,
    }

    // Every field is checked by deserializing; not every one is read afterwards.
    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SMaintenance {
        id: String,
        name: String,
        status: SMaintenanceStatus,
        created_at: Time,
        updated_at: Time,
        #[serde(deserialize_with = "present")]
        monitoring_at: Option<Time>,
        #[serde(deserialize_with = "present")]
        resolved_at: Option<Time>,
        impact: SImpact,
        shortlink: String,
        started_at: Time,
        page_id: String,
        incident_updates: Vec<SUpdate>,
        components: Vec<SComponent>,
        scheduled_for: Time,
        scheduled_until: Time,
    }

    // Every field is checked by deserializing; not every one is read afterwards.
    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SSummary {
        page: SPage,
        components: Vec<SComponent>,
        incidents: Vec<SIncident>,
        scheduled_maintenances: Vec<SMaintenance>,
        status: SStatus,
    }

    // Every field is checked by deserializing; not every one is read afterwards.
    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SStatusDoc {
        page: SPage,
        status: SStatus,
    }

    // Every field is checked by deserializing; not every one is read afterwards.
    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SComponentsDoc {
        page: SPage,
        components: Vec<SComponent>,
    }

    // Every field is checked by deserializing; not every one is read afterwards.
    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SIncidentsDoc {
        page: SPage,
        incidents: Vec<SIncident>,
    }

    // Every field is checked by deserializing; not every one is read afterwards.
    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SMaintenancesDoc {
        page: SPage,
        scheduled_maintenances: Vec<SMaintenance>,
    }

    // ---- helpers

    fn body(files: &[File], path: &str) -> Vec<u8> {
        let matching: Vec<&File> = files.iter().filter(|f| f.path == path).collect();
        assert_eq!(matching.len(), 1, "one file at {path}");
        matching[0].body.clone()
    }

    fn parse<T: DeserializeOwned>(files: &[File], path: &str) -> T {
        let bytes = body(files, path);
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{path} does not match Statuspage's schema: {e}\n{}",
                String::from_utf8_lossy(&bytes)
            )
        })
    }

    fn ids_i(incidents: &[SIncident]) -> Vec<String> {
        incidents.iter().map(|i| i.id.clone()).collect()
    }

    fn ids_m(maintenances: &[SMaintenance]) -> Vec<String> {
        maintenances.iter().map(|m| m.id.clone()).collect()
    }

    fn check_page(page: &SPage, model: &PageModel) {
        assert_eq!(page.id, model.tenant_id.to_string());
        assert_eq!(page.name, "Acme status");
        assert_eq!(page.url, "https://acme.status.example");
        assert_eq!(page.time_zone, "Etc/UTC");
        // The latest change of anything on the page (not when the figures were gathered).
        let latest = model
            .components()
            .map(|c| c.updated_at)
            .chain(model.incidents.iter().map(|i| i.updated_at))
            .chain(model.maintenances.iter().map(|m| m.updated_at))
            .max()
            .unwrap();
        assert_eq!(page.updated_at, Time(latest));
    }

    fn check_update_statuses(updates: &[SUpdate], allowed: &[&str]) {
        assert!(!updates.is_empty(), "every incident has updates");
        for u in updates {
            assert!(
                allowed.contains(&u.status.as_str()),
                "update status {:?} is one of {allowed:?}",
                u.status
            );
        }
    }

    const INCIDENT_UPDATE_STATUSES: &[&str] = &[
        "investigating",
        "identified",
        "monitoring",
        "resolved",
        "postmortem",
    ];
    const MAINTENANCE_UPDATE_STATUSES: &[&str] =
        &["scheduled", "in_progress", "verifying", "completed"];

    // ---- tests

    #[test]
    fn every_document_has_statuspage_shape() {
        for show_regions in [false, true] {
            let model = fixture::page(show_regions);
            let files = files(&model);
            assert_eq!(files.len(), PATHS.len());
            for f in &files {
                assert_eq!(
                    f.lang, None,
                    "{}: Statuspage's API is not localised",
                    f.path
                );
                assert_eq!(f.kind, FileKind::Data);
                assert_eq!(f.content_type, super::super::JSON);
                assert!(f.variant.is_empty());
                assert!(PATHS.contains(&f.path.as_str()));
            }
            let summary: SSummary = parse(&files, "/api/v2/summary.json");
            check_page(&summary.page, &model);
            let status: SStatusDoc = parse(&files, "/api/v2/status.json");
            check_page(&status.page, &model);
            let components: SComponentsDoc = parse(&files, "/api/v2/components.json");
            check_page(&components.page, &model);
            let incidents: SIncidentsDoc = parse(&files, "/api/v2/incidents.json");
            let unresolved: SIncidentsDoc = parse(&files, "/api/v2/incidents/unresolved.json");
            let all: SMaintenancesDoc = parse(&files, "/api/v2/scheduled-maintenances.json");
            let upcoming: SMaintenancesDoc =
                parse(&files, "/api/v2/scheduled-maintenances/upcoming.json");
            let active: SMaintenancesDoc =
                parse(&files, "/api/v2/scheduled-maintenances/active.json");
            for doc in [&incidents, &unresolved] {
                check_page(&doc.page, &model);
                for i in &doc.incidents {
                    check_update_statuses(&i.incident_updates, INCIDENT_UPDATE_STATUSES);
                    assert_ne!(i.impact, SImpact::Maintenance);
                    for u in &i.incident_updates {
                        assert_eq!(u.incident_id, i.id);
                    }
                }
            }
            for doc in [&all, &upcoming, &active] {
                check_page(&doc.page, &model);
                for m in &doc.scheduled_maintenances {
                    assert_eq!(m.impact, SImpact::Maintenance);
                    check_update_statuses(&m.incident_updates, MAINTENANCE_UPDATE_STATUSES);
                    assert!(m.scheduled_for < m.scheduled_until);
                    assert_eq!(
                        m.resolved_at.is_some(),
                        m.status == SMaintenanceStatus::Completed
                    );
                }
            }
            // summary.json is the other documents together.
            assert_eq!(summary.components.len(), components.components.len());
            assert_eq!(ids_i(&summary.incidents), ids_i(&unresolved.incidents));
            let mut open = ids_m(&active.scheduled_maintenances);
            open.extend(ids_m(&upcoming.scheduled_maintenances));
            open.sort();
            let mut in_summary = ids_m(&summary.scheduled_maintenances);
            in_summary.sort();
            assert_eq!(in_summary, open);
            assert_eq!(summary.status.indicator, status.status.indicator);
            assert_eq!(summary.status.description, status.status.description);
        }
    }

    /// The schema reads a document written the way Statuspage writes them (local offsets,
    /// recorded component transitions, a group listing its members): it describes Statuspage's
    /// documents, not only ours.
    #[test]
    fn the_schema_reads_statuspages_own_form() {
        let doc = r#"{
          "page": {"id": "p1", "name": "Example", "url": "https://status.example.com",
                   "time_zone": "America/Denver", "updated_at": "2024-05-14T14:35:21.711-06:00"},
          "components": [
            {"id": "g1", "name": "Platform", "status": "major_outage",
             "created_at": "2014-05-03T01:22:07.274Z", "updated_at": "2024-05-14T20:34:43.340Z",
             "position": 1, "description": null, "showcase": false, "start_date": null,
             "group_id": null, "page_id": "p1", "group": true, "only_show_if_degraded": false,
             "components": ["c1"]},
            {"id": "c1", "name": "API", "status": "major_outage",
             "created_at": "2014-05-03T01:22:07.274Z", "updated_at": "2024-05-14T20:34:43.340Z",
             "position": 1, "description": "Requests", "showcase": true,
             "start_date": "2014-05-03", "group_id": "g1", "page_id": "p1", "group": false,
             "only_show_if_degraded": false}
          ],
          "incidents": [
            {"id": "i1", "name": "Database outage", "status": "identified",
             "created_at": "2024-05-14T14:22:39.441-06:00",
             "updated_at": "2024-05-14T14:35:21.711-06:00", "monitoring_at": null,
             "resolved_at": null, "impact": "critical", "shortlink": "https://stspg.io/x",
             "started_at": "2024-05-14T14:22:39.000-06:00", "page_id": "p1",
             "incident_updates": [
               {"id": "u1", "status": "identified", "body": "Restoring.", "incident_id": "i1",
                "created_at": "2024-05-14T14:22:40.301-06:00",
                "updated_at": "2024-05-14T14:22:40.301-06:00",
                "display_at": "2024-05-14T14:22:40.301-06:00",
                "affected_components": [{"code": "c1", "name": "API",
                  "old_status": "operational", "new_status": "major_outage"}],
                "deliver_notifications": true, "custom_tweet": null, "tweet_id": null}
             ],
             "components": []}
          ],
          "scheduled_maintenances": [],
          "status": {"indicator": "critical", "description": "Major System Outage"}
        }"#;
        let summary: SSummary = serde_json::from_str(doc).unwrap();
        assert_eq!(summary.status.indicator, SIndicator::Critical);
        assert_eq!(
            summary.page.updated_at,
            Time("2024-05-14T20:35:21.711Z".parse().unwrap())
        );
        assert_eq!(
            summary.components[0].components.as_deref(),
            Some(&["c1".to_owned()][..])
        );
    }

    #[test]
    fn the_schema_rejects_a_missing_misspelled_or_extra_field() {
        let files = files(&fixture::page(false));
        let good: Value = serde_json::from_slice(&body(&files, "/api/v2/summary.json")).unwrap();
        assert!(serde_json::from_value::<SSummary>(good.clone()).is_ok());
        type Breakage = (&'static str, Box<dyn Fn(&mut Value)>);
        let mut breakages: Vec<Breakage> = vec![
            (
                "missing showcase",
                Box::new(|v| {
                    v["components"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("showcase");
                }),
            ),
            (
                "missing nullable tweet_id",
                Box::new(|v| {
                    v["incidents"][0]["incident_updates"][0]
                        .as_object_mut()
                        .unwrap()
                        .remove("tweet_id");
                }),
            ),
            (
                "misspelled indicator",
                Box::new(|v| {
                    let status = v["status"].as_object_mut().unwrap();
                    let ind = status.remove("indicator").unwrap();
                    status.insert("indicater".into(), ind);
                }),
            ),
            (
                "unknown indicator",
                Box::new(|v| v["status"]["indicator"] = "red".into()),
            ),
            (
                "unknown component status",
                Box::new(|v| v["components"][0]["status"] = "down".into()),
            ),
            (
                "extra field",
                Box::new(|v| {
                    v["page"]
                        .as_object_mut()
                        .unwrap()
                        .insert("slug".into(), "acme".into());
                }),
            ),
            (
                "timestamp not ISO 8601",
                Box::new(|v| v["page"]["updated_at"] = "Tue, 01 Dec 2026 12:00:00 GMT".into()),
            ),
        ];
        for (what, break_it) in breakages.drain(..) {
            let mut bad = good.clone();
            break_it(&mut bad);
            assert!(
                serde_json::from_value::<SSummary>(bad).is_err(),
                "the schema must reject: {what}"
            );
        }
    }

    #[test]
    fn indicator_and_description_follow_statuspage() {
        use PageStatus::*;
        let cases: &[(&[PageStatus], Option<Impact>, Indicator, &str)] = &[
            // No components: operational unless an incident says otherwise.
            (&[], None, Indicator::None, ALL_OPERATIONAL),
            (&[], Some(Impact::Minor), Indicator::Minor, MINOR_OUTAGE),
            // One component: its status maps straight.
            (&[Operational], None, Indicator::None, ALL_OPERATIONAL),
            (
                &[UnderMaintenance],
                None,
                Indicator::Maintenance,
                UNDER_MAINTENANCE,
            ),
            (
                &[DegradedPerformance],
                None,
                Indicator::Minor,
                PARTIALLY_DEGRADED,
            ),
            (&[PartialOutage], None, Indicator::Major, PARTIAL_OUTAGE),
            (&[MajorOutage], None, Indicator::Critical, MAJOR_OUTAGE),
            // Several: blended.
            (
                &[Operational, Operational],
                None,
                Indicator::None,
                ALL_OPERATIONAL,
            ),
            (
                &[Operational, UnderMaintenance],
                None,
                Indicator::Maintenance,
                UNDER_MAINTENANCE,
            ),
            (
                &[Operational, DegradedPerformance],
                None,
                Indicator::Minor,
                PARTIALLY_DEGRADED,
            ),
            (
                &[DegradedPerformance, DegradedPerformance],
                None,
                Indicator::Minor,
                DEGRADED_SYSTEM,
            ),
            (
                &[Operational, PartialOutage],
                None,
                Indicator::Minor,
                MINOR_OUTAGE,
            ),
            (
                &[PartialOutage, PartialOutage],
                None,
                Indicator::Major,
                PARTIAL_OUTAGE,
            ),
            (
                &[Operational, MajorOutage],
                None,
                Indicator::Major,
                PARTIAL_OUTAGE,
            ),
            // Statuspage's documented example: one partial, one major outage.
            (
                &[PartialOutage, MajorOutage],
                None,
                Indicator::Major,
                PARTIAL_OUTAGE,
            ),
            (
                &[MajorOutage, MajorOutage],
                None,
                Indicator::Critical,
                MAJOR_OUTAGE,
            ),
            // Unresolved incidents raise it to their impact, never lower it.
            (
                &[Operational, Operational],
                Some(Impact::None),
                Indicator::None,
                ALL_OPERATIONAL,
            ),
            (
                &[Operational, Operational],
                Some(Impact::Critical),
                Indicator::Critical,
                MAJOR_OUTAGE,
            ),
            (
                &[Operational, PartialOutage],
                Some(Impact::Major),
                Indicator::Major,
                PARTIAL_OUTAGE,
            ),
            (
                &[MajorOutage, MajorOutage],
                Some(Impact::Minor),
                Indicator::Critical,
                MAJOR_OUTAGE,
            ),
            (
                &[UnderMaintenance],
                Some(Impact::Minor),
                Indicator::Minor,
                MINOR_OUTAGE,
            ),
        ];
        for (components, impact, indicator, description) in cases {
            let got = rollup(components, *impact);
            assert_eq!(
                (got.indicator, got.description),
                (*indicator, *description),
                "{components:?} with {impact:?}"
            );
        }
        // And as JSON: the indicator's spelling.
        for (indicator, json) in [
            (Indicator::None, "\"none\""),
            (Indicator::Minor, "\"minor\""),
            (Indicator::Major, "\"major\""),
            (Indicator::Critical, "\"critical\""),
            (Indicator::Maintenance, "\"maintenance\""),
        ] {
            assert_eq!(serde_json::to_string(&indicator).unwrap(), json);
        }
    }

    #[test]
    fn the_fixture_reads_as_statuspage_would_show_it() {
        let model = fixture::page(false);
        let files = files(&model);
        let status: SStatusDoc = parse(&files, "/api/v2/status.json");
        // API in partial outage, Billing in maintenance, an open major incident.
        assert_eq!(status.status.indicator, SIndicator::Major);
        assert_eq!(status.status.description, SDescription::PartialSystemOutage);

        let components: SComponentsDoc = parse(&files, "/api/v2/components.json");
        let names: Vec<(&str, bool)> = components
            .components
            .iter()
            .map(|c| (c.name.as_str(), c.group))
            .collect();
        assert_eq!(
            names,
            [
                ("Core services", true),
                ("API", false),
                ("Website", false),
                ("Edge <&> delivery", true),
                ("CDN", false),
                ("Billing", false),
            ]
        );
        let by_name = |n: &str| components.components.iter().find(|c| c.name == n).unwrap();
        let core = by_name("Core services");
        assert_eq!(
            core.components.as_deref(),
            Some(&[by_name("API").id.clone(), by_name("Website").id.clone()][..])
        );
        assert_eq!(core.status, SComponentStatus::PartialOutage);
        assert_eq!(core.group_id, None);
        assert_eq!(by_name("API").group_id.as_deref(), Some(core.id.as_str()));
        assert_eq!(by_name("API").status, SComponentStatus::PartialOutage);
        assert_eq!(by_name("API").components, None, "only groups list members");
        assert_eq!(
            by_name("API").description.as_deref(),
            Some("The API everyone uses.")
        );
        assert_eq!(
            by_name("API").start_date,
            Some(chrono::NaiveDate::from_ymd_opt(2025, 10, 27).unwrap())
        );
        let billing = by_name("Billing");
        assert_eq!(billing.group_id, None);
        assert_eq!(billing.status, SComponentStatus::UnderMaintenance);
        // Top-level positions in page order: the two groups, then Billing.
        assert_eq!(
            (
                core.position,
                by_name("Edge <&> delivery").position,
                billing.position
            ),
            (1, 2, 3)
        );
        for c in &components.components {
            assert_eq!(c.page_id, model.tenant_id.to_string());
            assert!(!c.only_show_if_degraded);
        }
    }

    #[test]
    fn incident_and_maintenance_subsets_match_the_fixture() {
        let model = fixture::page(false);
        let files = files(&model);
        let id = |title: &str| {
            model
                .incidents
                .iter()
                .find(|i| i.title == title)
                .unwrap()
                .id
                .to_string()
        };
        let mid = |title: &str| {
            model
                .maintenances
                .iter()
                .find(|m| m.title == title)
                .unwrap()
                .id
                .to_string()
        };

        let all: SIncidentsDoc = parse(&files, "/api/v2/incidents.json");
        assert_eq!(
            ids_i(&all.incidents),
            [
                id("Elevated API errors"),
                id("Database failover"),
                id("Slow logins")
            ],
            "every incident, newest first"
        );
        let unresolved: SIncidentsDoc = parse(&files, "/api/v2/incidents/unresolved.json");
        assert_eq!(ids_i(&unresolved.incidents), [id("Elevated API errors")]);
        let open = &unresolved.incidents[0];
        assert_eq!(open.status, SIncidentStatus::Identified);
        assert_eq!(open.impact, SImpact::Major);
        assert_eq!(open.resolved_at, None);
        assert_eq!(open.monitoring_at, None);
        assert_eq!(
            open.started_at,
            Time(fixture::now() - chrono::Duration::minutes(30))
        );
        assert_eq!(
            open.shortlink,
            format!("https://acme.status.example/incidents/{}", open.id)
        );
        assert_eq!(open.components.len(), 1);
        assert_eq!(open.components[0].name, "API");
        assert_eq!(
            open.incident_updates[0].body,
            "We are looking into Elevated API errors <script>alert(1)</script>.",
            "JSON carries user text as it is"
        );
        let resolved = all
            .incidents
            .iter()
            .find(|i| i.name == "Database failover")
            .unwrap();
        assert_eq!(resolved.status, SIncidentStatus::Resolved);
        assert!(resolved.resolved_at.is_some() && resolved.monitoring_at.is_some());
        assert_eq!(
            resolved
                .incident_updates
                .iter()
                .map(|u| u.status.as_str())
                .collect::<Vec<_>>(),
            ["resolved", "investigating"],
            "updates newest first"
        );
        assert!(resolved.incident_updates[0].created_at > resolved.incident_updates[1].created_at);

        let scheduled: SMaintenancesDoc = parse(&files, "/api/v2/scheduled-maintenances.json");
        assert_eq!(
            ids_m(&scheduled.scheduled_maintenances),
            [
                mid("Edge certificate rotation"),
                mid("Billing database upgrade"),
                mid("Network upgrade")
            ],
            "every window, latest start first"
        );
        let upcoming: SMaintenancesDoc =
            parse(&files, "/api/v2/scheduled-maintenances/upcoming.json");
        assert_eq!(
            ids_m(&upcoming.scheduled_maintenances),
            [mid("Edge certificate rotation")]
        );
        assert_eq!(
            upcoming.scheduled_maintenances[0].status,
            SMaintenanceStatus::Scheduled
        );
        let active: SMaintenancesDoc = parse(&files, "/api/v2/scheduled-maintenances/active.json");
        assert_eq!(
            ids_m(&active.scheduled_maintenances),
            [mid("Billing database upgrade")]
        );
        let billing = &active.scheduled_maintenances[0];
        assert_eq!(billing.status, SMaintenanceStatus::InProgress);
        assert_eq!(
            billing.scheduled_for,
            Time(fixture::now() - chrono::Duration::minutes(15))
        );
        assert_eq!(
            billing.scheduled_until,
            Time(fixture::now() + chrono::Duration::minutes(45))
        );
        assert_eq!(billing.components[0].name, "Billing");
        assert_eq!(billing.incident_updates[0].body, "Invoices may be delayed.");
        assert_eq!(billing.incident_updates[0].status, "in_progress");
        let completed = scheduled
            .scheduled_maintenances
            .iter()
            .find(|m| m.name == "Network upgrade")
            .unwrap();
        assert_eq!(completed.status, SMaintenanceStatus::Completed);
        assert_eq!(completed.resolved_at, Some(completed.scheduled_until));

        let summary: SSummary = parse(&files, "/api/v2/summary.json");
        assert_eq!(
            ids_m(&summary.scheduled_maintenances),
            [
                mid("Billing database upgrade"),
                mid("Edge certificate rotation")
            ],
            "upcoming or in progress, soonest first"
        );
    }

    #[test]
    fn timestamps_are_written_like_statuspage() {
        let files = files(&fixture::page(false));
        let v: Value =
            serde_json::from_slice(&body(&files, "/api/v2/incidents/unresolved.json")).unwrap();
        assert_eq!(
            v["incidents"][0]["started_at"],
            Value::from("2026-12-01T11:30:00.000Z")
        );
        assert_eq!(v["incidents"][0]["resolved_at"], Value::Null);
        assert_eq!(v["page"]["time_zone"], Value::from("Etc/UTC"));
    }

    #[test]
    fn the_documents_are_the_same_bytes_for_the_same_model() {
        let model = fixture::page(true);
        assert_eq!(files(&model), files(&model));
        // And a new gathering of the same state (only `generated_at` moves) changes nothing.
        let mut later = model.clone();
        later.generated_at += chrono::Duration::seconds(30);
        assert_eq!(files(&model), files(&later));
    }
}
