//! A monitor's confirmation policy: how many regions must agree, how many consecutive failures
//! and successes count, when failing below quorum becomes a regional outage, and when changes
//! come so fast that the monitor is flapping. The defaults suit most monitors; every bound is
//! checked where a monitor is written (API and config as code alike).

use crate::rest::error::FieldProblem;
use serde::{Deserialize, Serialize};

pub const MAX_STREAK: i32 = 10;
pub const MAX_REGIONAL_AFTER_SECONDS: i32 = 3600;
pub const MIN_FLAP_CHANGES: i32 = 2;
pub const MAX_FLAP_CHANGES: i32 = 100;
pub const MAX_FLAP_WINDOW_MINUTES: i32 = 1440;

pub const DEFAULT_FAILURES: i32 = 1;
pub const DEFAULT_RECOVERIES: i32 = 2;
pub const DEFAULT_REGIONAL_AFTER_SECONDS: i32 = 120;
pub const DEFAULT_FLAP_CHANGES: i32 = 6;
pub const DEFAULT_FLAP_WINDOW_MINUTES: i32 = 30;

/// How the engine confirms a monitor's state across its regions.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confirmation {
    /// Regions that must agree before an outage is major (k of n); absent: a majority of the
    /// monitor's regions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub regions: Option<i32>,
    /// Consecutive failures in a region before it counts as failing (1: the immediate re-check
    /// from the other regions is the confirmation).
    #[serde(default = "default_failures")]
    #[schema(minimum = 1, maximum = 10)]
    pub failures: i32,
    /// Consecutive successes in a region before it counts as recovered.
    #[serde(default = "default_recoveries")]
    #[schema(minimum = 1, maximum = 10)]
    pub recoveries: i32,
    /// Seconds a below-quorum failure lasts before it is a regional outage.
    #[serde(default = "default_regional_after")]
    #[schema(minimum = 0, maximum = 3600)]
    pub regional_outage_after_seconds: i32,
    /// More than this many state changes within `flapping_window_minutes` holds the state and
    /// says "flapping" (one alert, not one per change).
    #[serde(default = "default_flap_changes")]
    #[schema(minimum = 2, maximum = 100)]
    pub flapping_changes: i32,
    #[serde(default = "default_flap_window")]
    #[schema(minimum = 1, maximum = 1440)]
    pub flapping_window_minutes: i32,
}

fn default_failures() -> i32 {
    DEFAULT_FAILURES
}
fn default_recoveries() -> i32 {
    DEFAULT_RECOVERIES
}
fn default_regional_after() -> i32 {
    DEFAULT_REGIONAL_AFTER_SECONDS
}
fn default_flap_changes() -> i32 {
    DEFAULT_FLAP_CHANGES
}
fn default_flap_window() -> i32 {
    DEFAULT_FLAP_WINDOW_MINUTES
}

impl Default for Confirmation {
    fn default() -> Self {
        Self {
            regions: None,
            failures: DEFAULT_FAILURES,
            recoveries: DEFAULT_RECOVERIES,
            regional_outage_after_seconds: DEFAULT_REGIONAL_AFTER_SECONDS,
            flapping_changes: DEFAULT_FLAP_CHANGES,
            flapping_window_minutes: DEFAULT_FLAP_WINDOW_MINUTES,
        }
    }
}

impl Confirmation {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The quorum for `region_count` regions: the set one (never above the count) or a majority.
    pub fn quorum(&self, region_count: usize) -> usize {
        let n = region_count.max(1);
        match self.regions {
            Some(k) => (k.max(1) as usize).min(n),
            None => n / 2 + 1,
        }
    }

    /// Bound problems, named `{at}confirmation.<field>`; `region_count` is how many regions the
    /// monitor checks from.
    pub fn problems(&self, region_count: usize, at: &str) -> Vec<FieldProblem> {
        let mut problems = Vec::new();
        let mut bound = |field: &str, value: i32, min: i32, max: i32| {
            if !(min..=max).contains(&value) {
                problems.push(FieldProblem {
                    field: format!("{at}confirmation.{field}"),
                    message: format!("must be between {min} and {max}, got {value}"),
                });
            }
        };
        if let Some(k) = self.regions {
            bound("regions", k, 1, region_count.max(1) as i32);
        }
        bound("failures", self.failures, 1, MAX_STREAK);
        bound("recoveries", self.recoveries, 1, MAX_STREAK);
        bound(
            "regional_outage_after_seconds",
            self.regional_outage_after_seconds,
            0,
            MAX_REGIONAL_AFTER_SECONDS,
        );
        bound(
            "flapping_changes",
            self.flapping_changes,
            MIN_FLAP_CHANGES,
            MAX_FLAP_CHANGES,
        );
        bound(
            "flapping_window_minutes",
            self.flapping_window_minutes,
            1,
            MAX_FLAP_WINDOW_MINUTES,
        );
        if let Some(p) = problems.iter_mut().find(|p| p.field.ends_with(".regions")) {
            p.message = format!(
                "{}; this monitor checks from {region_count} region(s)",
                p.message
            );
        }
        problems
    }
}

/// The policy columns of `monitors` as one JSON value that deserializes into [`Confirmation`].
pub const CONFIRMATION_JSON: &str = "jsonb_build_object('regions', confirm_quorum, \
     'failures', confirm_failures, 'recoveries', confirm_recoveries, \
     'regional_outage_after_seconds', regional_after_seconds, \
     'flapping_changes', flap_changes, 'flapping_window_minutes', flap_window_minutes)";

impl Confirmation {
    /// Reads [`CONFIRMATION_JSON`]'s value.
    pub fn from_json(value: serde_json::Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(value)
    }
}

/// The policy columns of `monitors`, in this order.
pub const POLICY_COLUMNS: &str = "confirm_quorum, confirm_failures, confirm_recoveries, \
     regional_after_seconds, flap_changes, flap_window_minutes";

pub type PolicyRow = (Option<i32>, i32, i32, i32, i32, i32);

impl From<PolicyRow> for Confirmation {
    fn from(row: PolicyRow) -> Self {
        Self {
            regions: row.0,
            failures: row.1,
            recoveries: row.2,
            regional_outage_after_seconds: row.3,
            flapping_changes: row.4,
            flapping_window_minutes: row.5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_by_default_and_set_quorum_capped() {
        let c = Confirmation::default();
        assert_eq!(c.quorum(3), 2);
        assert_eq!(c.quorum(4), 3);
        assert_eq!(c.quorum(1), 1);
        let c = Confirmation {
            regions: Some(5),
            ..c
        };
        assert_eq!(c.quorum(3), 3);
    }

    #[test]
    fn bounds_name_the_field() {
        let c = Confirmation {
            regions: Some(4),
            failures: 0,
            ..Confirmation::default()
        };
        let fields: Vec<String> = c.problems(3, "").into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["confirmation.regions", "confirmation.failures"]);
        assert!(Confirmation::default().problems(1, "").is_empty());
    }
}
