//! Time windows and the plan that answers a window from the cheapest exact source: whole UTC days
//! from the daily rollup, whole hours from the hourly rollup, the partial hours at the edges (and
//! around maintenance windows) from raw rows.

use crate::{AnalyticsError, Result};
use chrono::{DateTime, Duration, Utc};

pub(crate) const HOUR_US: i64 = 3_600_000_000;
pub(crate) const DAY_US: i64 = 24 * HOUR_US;
/// The longest time from a check's scheduled time to the start of its last attempt: a check
/// fits in its run, and no run outlives a Lambda's 15-minute limit. Raw reads by scheduled time
/// use it to bound `checked_at`, the column the raw table is sorted by.
pub(crate) const MAX_CHECK_SPAN_US: i64 = 15 * 60_000_000;

/// A half-open UTC time range `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl TimeWindow {
    /// `[start, end)`; `start` must be before `end`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self> {
        if start >= end {
            return Err(AnalyticsError::InvalidArgument(format!(
                "time window start {start} is not before its end {end}"
            )));
        }
        Ok(Self { start, end })
    }

    /// The `length` before `end`.
    pub fn ending_at(end: DateTime<Utc>, length: Duration) -> Self {
        Self {
            start: end - length,
            end,
        }
    }

    pub fn last_hours(now: DateTime<Utc>, hours: i64) -> Self {
        Self::ending_at(now, Duration::hours(hours))
    }

    pub fn last_days(now: DateTime<Utc>, days: i64) -> Self {
        Self::ending_at(now, Duration::days(days))
    }

    /// A status page's "last N days": from the start of the hour `days` days ago up to now, so
    /// N days plus the part of the current hour that has passed (the window's `end` is the end of
    /// the current UTC day, where nothing is stored yet). Starting on the hour, it is
    /// answered from the rollups alone (see [`Source::Rollups`]).
    pub fn status_page(now: DateTime<Utc>, days: i64) -> Self {
        let start = (now - Duration::days(days)).timestamp_micros();
        let start = DateTime::from_timestamp_micros(floor_to(start, HOUR_US)).unwrap_or(now);
        // Nothing is stored after now: ending at the end of today reads today's rollup buckets
        // whole, with no raw rows, and means "up to now".
        let end =
            DateTime::from_timestamp_micros(ceil_to(now.timestamp_micros(), DAY_US)).unwrap_or(now);
        Self { start, end }
    }

    /// Whether the two windows share any instant.
    pub fn overlaps(&self, other: &TimeWindow) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// The window of the same length just before this one (for trends).
    pub fn previous(&self) -> Self {
        Self {
            start: self.start - (self.end - self.start),
            end: self.start,
        }
    }

    pub fn length(&self) -> Duration {
        self.end - self.start
    }

    pub(crate) fn micros(&self) -> (i64, i64) {
        (self.start.timestamp_micros(), self.end.timestamp_micros())
    }
}

/// Where aggregate queries read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// Rollups for whole hours and days, raw rows only for partial hours at the edges (exact while
    /// the edges are within the raw TTL; older edges round to whole hours). The default.
    #[default]
    Rollups,
    /// Raw rows only (exact, slow at scale, limited to the raw TTL): the reference the rollups are
    /// checked and benchmarked against.
    Raw,
}

/// Microsecond ranges `[a, b)` per source. Raw ranges filter `scheduled_at` (final attempts
/// only); rollup ranges select the buckets whose *start* lies in the range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub raw: Vec<(i64, i64)>,
    pub hourly: Vec<(i64, i64)>,
    pub daily: Vec<(i64, i64)>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty() && self.hourly.is_empty() && self.daily.is_empty()
    }
}

/// Oldest instants each source still holds completely, given `now`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Horizons {
    pub now: i64,
    pub raw: i64,
    pub hourly: i64,
}

impl Horizons {
    pub fn new(now_us: i64, raw_ttl_days: u32) -> Self {
        // One hour / one day of margin: TTL deletes run at merge time, not at the exact instant.
        Self {
            now: now_us,
            raw: now_us - i64::from(raw_ttl_days) * DAY_US + HOUR_US,
            hourly: now_us - i64::from(crate::HOURLY_TTL_DAYS) * DAY_US + DAY_US,
        }
    }
}

fn floor_to(t: i64, unit: i64) -> i64 {
    t.div_euclid(unit) * unit
}

fn ceil_to(t: i64, unit: i64) -> i64 {
    -floor_to(-t, unit)
}

/// `window` minus the union of `exclude`, as sorted disjoint non-empty ranges.
pub(crate) fn subtract(window: (i64, i64), exclude: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut cuts: Vec<(i64, i64)> = exclude.iter().copied().filter(|(a, b)| a < b).collect();
    cuts.sort_unstable();
    let (mut cursor, end) = window;
    let mut out = Vec::new();
    for (a, b) in cuts {
        if b <= cursor {
            continue;
        }
        if a >= end {
            break;
        }
        if a > cursor {
            out.push((cursor, a));
        }
        cursor = cursor.max(b);
        if cursor >= end {
            break;
        }
    }
    if cursor < end {
        out.push((cursor, end));
    }
    out
}

fn push_merged(list: &mut Vec<(i64, i64)>, (a, b): (i64, i64)) {
    if a >= b {
        return;
    }
    if let Some(last) = list.last_mut() {
        if last.1 == a {
            last.1 = b;
            return;
        }
    }
    list.push((a, b));
}

/// Plans `window` minus `exclude` over the sources.
///
/// A window that reaches `now` is extended to the end of the current UTC day when reading rollups:
/// nothing is stored after `now`, so the rollup buckets of the current hour and day hold exactly the
/// rows up to `now`, and no raw rows are read for the window's end (a check stamped ahead of this
/// server's clock would count; clocks are NTP-synchronized).
pub(crate) fn plan(
    window: (i64, i64),
    exclude: &[(i64, i64)],
    source: Source,
    horizons: Horizons,
) -> Plan {
    let mut plan = Plan::default();
    let mut window = window;
    if source == Source::Rollups && window.1 >= horizons.now {
        window.1 = ceil_to(window.1, DAY_US);
    }
    for (a, b) in subtract(window, exclude) {
        if source == Source::Raw {
            push_merged(&mut plan.raw, (a, b));
            continue;
        }
        let (h1, h2) = (ceil_to(a, HOUR_US), floor_to(b, HOUR_US));
        if h1 >= h2 {
            edge(&mut plan, (a, b), horizons);
            continue;
        }
        edge(&mut plan, (a, h1), horizons);
        let (d1, d2) = (ceil_to(h1, DAY_US), floor_to(h2, DAY_US));
        if d1 < d2 {
            hours(&mut plan, (h1, d1), horizons);
            push_merged(&mut plan.daily, (d1, d2));
            hours(&mut plan, (d2, h2), horizons);
        } else {
            hours(&mut plan, (h1, h2), horizons);
        }
        edge(&mut plan, (h2, b), horizons);
    }
    plan
}

/// A part of an hour: raw rows while they are kept, else the hourly bucket starting inside it.
fn edge(plan: &mut Plan, (a, b): (i64, i64), horizons: Horizons) {
    if a >= b {
        return;
    }
    if a >= horizons.raw {
        push_merged(&mut plan.raw, (a, b));
    } else {
        hours(plan, (a, b), horizons);
    }
}

/// Whole hours: the hourly rollup while it is kept, else the daily bucket starting inside them.
fn hours(plan: &mut Plan, (a, b): (i64, i64), horizons: Horizons) {
    if a >= b {
        return;
    }
    if a >= horizons.hourly {
        push_merged(&mut plan.hourly, (a, b));
    } else {
        push_merged(&mut plan.daily, (a, b));
    }
}

/// The smallest whole second `>= us` (rollup buckets are whole seconds).
pub(crate) fn ceil_secs(us: i64) -> i64 {
    ceil_to(us, 1_000_000) / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000 * DAY_US + 13 * HOUR_US + 1_234_567;

    fn horizons() -> Horizons {
        Horizons::new(NOW, 35)
    }

    #[test]
    fn subtracts_overlapping_exclusions() {
        assert_eq!(subtract((0, 100), &[]), vec![(0, 100)]);
        assert_eq!(
            subtract((0, 100), &[(50, 60), (10, 20), (15, 30), (90, 200)]),
            vec![(0, 10), (30, 50), (60, 90)]
        );
        assert_eq!(subtract((0, 100), &[(-5, 100)]), Vec::<(i64, i64)>::new());
        assert_eq!(subtract((0, 100), &[(100, 120), (-9, 0)]), vec![(0, 100)]);
    }

    /// As seen a day later: windows ending at NOW are in the past.
    fn later() -> Horizons {
        let mut h = horizons();
        h.now += DAY_US;
        h
    }

    #[test]
    fn a_day_window_is_raw_edges_hours_and_days() {
        let window = (NOW - 3 * DAY_US, NOW);
        let p = plan(window, &[], Source::Rollups, later());
        let h_end = floor_to(NOW, HOUR_US);
        let start = NOW - 3 * DAY_US;
        assert_eq!(
            p.raw,
            vec![(start, ceil_to(start, HOUR_US)), (h_end, NOW)],
            "partial hours come from raw rows"
        );
        assert_eq!(p.daily, vec![(998 * DAY_US, 1000 * DAY_US)]);
        assert_eq!(
            p.hourly,
            vec![
                (ceil_to(start, HOUR_US), 998 * DAY_US),
                (1000 * DAY_US, h_end)
            ]
        );
        let raw = plan(window, &[], Source::Raw, horizons());
        assert_eq!(raw.raw, vec![window]);
        assert!(raw.hourly.is_empty() && raw.daily.is_empty());
    }

    #[test]
    fn a_window_ending_now_reads_no_raw_rows_at_its_end() {
        let start = NOW - DAY_US;
        let p = plan((start, NOW), &[], Source::Rollups, horizons());
        let h1 = ceil_to(start, HOUR_US);
        assert_eq!(p.raw, vec![(start, h1)], "only the first partial hour");
        assert_eq!(p.hourly, vec![(h1, 1000 * DAY_US)]);
        assert_eq!(
            p.daily,
            vec![(1000 * DAY_US, 1001 * DAY_US)],
            "today so far"
        );
        // Hour-aligned windows ending now read rollups only.
        let p = plan(
            (floor_to(start, HOUR_US), NOW),
            &[],
            Source::Rollups,
            horizons(),
        );
        assert!(p.raw.is_empty());
    }

    #[test]
    fn old_edges_round_to_buckets() {
        // 60 days back: the raw rows of the first partial hour are gone (TTL 35 days).
        let window = (NOW - 60 * DAY_US, NOW);
        let p = plan(window, &[], Source::Rollups, later());
        assert_eq!(p.raw, vec![(floor_to(NOW, HOUR_US), NOW)]);
        assert_eq!(p.hourly[0].0, NOW - 60 * DAY_US, "bucket-start semantics");
        // 200 days back: hours older than the hourly TTL come from the daily rollup.
        let p = plan((NOW - 200 * DAY_US, NOW), &[], Source::Rollups, horizons());
        assert_eq!(p.daily[0].0, NOW - 200 * DAY_US);
    }

    #[test]
    fn maintenance_splits_the_plan() {
        let day = 999 * DAY_US;
        let window = (day, day + DAY_US);
        // Maintenance 10:30 - 12:15.
        let m = (
            day + 10 * HOUR_US + 30 * 60_000_000,
            day + 12 * HOUR_US + 15 * 60_000_000,
        );
        let p = plan(window, &[m], Source::Rollups, horizons());
        assert!(p.daily.is_empty());
        assert_eq!(
            p.hourly,
            vec![
                (day, day + 10 * HOUR_US),
                (day + 13 * HOUR_US, day + DAY_US)
            ]
        );
        assert_eq!(
            p.raw,
            vec![(day + 10 * HOUR_US, m.0), (m.1, day + 13 * HOUR_US)]
        );
        assert!(plan(window, &[window], Source::Rollups, horizons()).is_empty());
    }

    #[test]
    fn seconds_round_up() {
        assert_eq!(ceil_secs(0), 0);
        assert_eq!(ceil_secs(1), 1);
        assert_eq!(ceil_secs(1_000_000), 1);
        assert_eq!(ceil_secs(-1), 0);
    }
}
