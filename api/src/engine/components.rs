//! What a component shows: its manual override if a person set one; otherwise the worst of its
//! monitors' confirmed states, the open published incidents that name it, and a maintenance
//! window in progress. The page's banner follows the components, the monitors on none, and the
//! open incidents, so it never reads "All systems operational" under an open major incident.

use super::state::MonitorState;
use crate::incidents::{ComponentStatus, Impact};
use checker::probe::CheckStatus;
use serde::{Deserialize, Serialize};

/// A component's status as the page shows it.
#[derive(
    utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum PageStatus {
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl PageStatus {
    pub fn of_monitor(state: Option<MonitorState>, combined: Option<CheckStatus>) -> Option<Self> {
        match state {
            Some(MonitorState::MajorOutage) => Some(Self::MajorOutage),
            Some(MonitorState::RegionalOutage) => Some(Self::PartialOutage),
            Some(MonitorState::Degraded) => Some(Self::DegradedPerformance),
            Some(MonitorState::UnderMaintenance) => Some(Self::UnderMaintenance),
            Some(MonitorState::Operational) | None => combined.map(|c| match c {
                CheckStatus::Up => Self::Operational,
                CheckStatus::Degraded => Self::DegradedPerformance,
                CheckStatus::Down => Self::MajorOutage,
            }),
        }
    }

    pub fn of_incident(status: ComponentStatus) -> Self {
        match status {
            ComponentStatus::Operational => Self::Operational,
            ComponentStatus::DegradedPerformance => Self::DegradedPerformance,
            ComponentStatus::PartialOutage => Self::PartialOutage,
            ComponentStatus::MajorOutage => Self::MajorOutage,
        }
    }

    /// What an open incident's impact says about the whole page.
    pub fn of_impact(impact: Impact) -> Option<Self> {
        match impact {
            Impact::None => None,
            Impact::Minor => Some(Self::DegradedPerformance),
            Impact::Major => Some(Self::PartialOutage),
            Impact::Critical => Some(Self::MajorOutage),
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }

    /// The three-level status the page's banner and badges use.
    pub fn as_check_status(self) -> CheckStatus {
        match self {
            Self::Operational | Self::UnderMaintenance => CheckStatus::Up,
            Self::DegradedPerformance => CheckStatus::Degraded,
            Self::PartialOutage | Self::MajorOutage => CheckStatus::Down,
        }
    }
}

/// The worst of `a` and `b` (either may be unknown).
pub fn worst(a: Option<PageStatus>, b: Option<PageStatus>) -> Option<PageStatus> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_wins_and_regional_is_partial() {
        let regional = PageStatus::of_monitor(Some(MonitorState::RegionalOutage), None);
        assert_eq!(regional, Some(PageStatus::PartialOutage));
        assert_eq!(
            worst(regional, Some(PageStatus::MajorOutage)),
            Some(PageStatus::MajorOutage)
        );
        assert_eq!(worst(None, regional), regional);
        assert_eq!(
            PageStatus::of_impact(Impact::Major),
            Some(PageStatus::PartialOutage)
        );
    }
}
