//! The incident engine: per-monitor state across regions, fed by the checkers' fast path.
//! A failure in one region asks the other regions to check again at once ([`dispatch`]); a
//! per-monitor quorum confirms; confirmed outages open incidents with their evidence, set
//! component status and raise alerts ([`crate::alerts`]); recovery resolves them; maintenance
//! windows suppress.

pub mod components;
pub mod dispatch;
pub mod incident;
pub mod policy;
pub mod publish;
pub mod state;
pub mod sweep;

pub use publish::routes;
pub use state::{evaluate, MonitorState};
pub use sweep::run_sweeper;
