//! The incident engine: per-monitor state across regions, fed by the checkers' fast path.
//! A failure in one region asks the other regions to check again at once ([`dispatch`]); a
//! per-monitor quorum confirms; confirmed outages open incidents with their evidence, set
//! component status and raise alerts ([`crate::alerts`]); recovery resolves them; maintenance
//! windows suppress.

pub mod dispatch;
