//! What pages show, already formatted: shared by the server and the browser bundle.

use serde::{Deserialize, Serialize};

/// The platform's landing page (a tenant's host serves its public status site instead).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HomeView {
    pub base_domain: String,
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
    pub id: String,
    pub name: String,
    /// Paused monitors are not checked; the console offers Resume instead of Pause.
    pub enabled: bool,
    /// A heartbeat monitor (its job calls in): the console offers its ping URL.
    pub heartbeat: bool,
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
