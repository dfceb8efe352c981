//! What pages show, already formatted: shared by the server and the browser bundle.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum HomeView {
    /// The platform's own landing page.
    Landing { base_domain: String },
    /// A tenant's status page.
    Status(StatusView),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    pub title: String,
    /// `up`, `degraded`, `down` or `unknown`: also the CSS class.
    pub overall: String,
    pub headline: String,
    /// ISO 8601 (UTC).
    pub generated_at: String,
    pub stale: bool,
    pub monitors: Vec<MonitorView>,
    /// Unresolved first, then recently resolved; newest first within each.
    #[serde(default)]
    pub incidents: Vec<IncidentView>,
    #[serde(default)]
    pub maintenances: Vec<MaintenanceView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentView {
    pub title: String,
    /// `investigating`, `identified`, `monitoring`, `resolved`: also the CSS class.
    pub status: String,
    pub status_label: String,
    /// `none`, `minor`, `major`, `critical`.
    pub impact: String,
    pub resolved: bool,
    /// ISO 8601 (UTC).
    pub started_at: String,
    /// "Web (partial outage), API (degraded performance)".
    pub components: String,
    pub updates: Vec<IncidentUpdateView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentUpdateView {
    pub status_label: String,
    pub message: String,
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaintenanceView {
    pub title: String,
    pub description: String,
    /// `scheduled`, `in_progress`, `verifying`, `completed`.
    pub status: String,
    pub status_label: String,
    pub starts_at: String,
    pub ends_at: String,
    pub components: String,
}

/// Words for the incident and maintenance statuses the API names in snake case.
pub fn phase_label(status: &str) -> String {
    let words = status.replace('_', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorView {
    pub name: String,
    pub component: Option<String>,
    pub status: String,
    pub status_label: String,
    pub uptime_24h: String,
    /// `(window, uptime)` for 7, 30 and 90 days.
    pub uptime_windows: Vec<(String, String)>,
    /// The last 90 days, oldest first.
    pub days: Vec<DayView>,
    pub regions: Vec<RegionView>,
}

/// One bar of the 90-day history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayView {
    pub day: String,
    /// `no_data`, `up`, `degraded` or `down`.
    pub status: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionView {
    pub region: String,
    pub status: String,
    pub latency: String,
    /// p50 / p95 of the total time over the last 24 hours.
    pub latency_24h: String,
    pub checked_at: String,
    /// The kind of the last failure in words ("connection refused"): never its detail.
    pub failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminView {
    pub tenant_name: String,
    pub tenant_slug: String,
    pub email: String,
    pub status_page_url: String,
    pub monitors: Vec<AdminMonitor>,
    /// Whether the signed-in person's address is verified (if not, the console shows a banner).
    pub email_verified: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminMonitor {
    pub name: String,
    pub target: String,
    pub interval_seconds: i32,
    pub status: String,
    pub status_label: String,
    pub uptime_24h: String,
}

pub fn status_label(status: &str) -> &'static str {
    match status {
        "up" => "Operational",
        "degraded" => "Degraded",
        "regional_outage" => "Regional outage",
        "under_maintenance" => "Under maintenance",
        "down" => "Down",
        _ => "No data yet",
    }
}

/// The banner: a single monitor down is a partial outage, all of them a major one.
pub fn headline(overall: &str, all_down: bool) -> &'static str {
    match overall {
        "up" => "All systems operational",
        "degraded" => "Degraded performance",
        "down" if all_down => "Major outage",
        "down" => "Partial outage",
        _ => "Waiting for the first checks",
    }
}
