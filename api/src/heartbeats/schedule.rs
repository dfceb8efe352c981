//! When a heartbeat is expected: every `period_seconds`, or at each time of a cron expression
//! in an IANA zone (DST included: `0 3 * * *` in `Europe/Paris` is 01:00 or 02:00 UTC).

use crate::rest::error::FieldProblem;
use checker::spec::HeartbeatSpec;
use chrono::{DateTime, Duration, Utc};

/// The problems with the spec's cron expression and zone (the shape is checked by the spec).
pub fn problems(spec: &HeartbeatSpec) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    if spec.timezone.parse::<chrono_tz::Tz>().is_err() {
        problems.push(FieldProblem {
            field: "timezone".into(),
            message: format!(
                "unknown time zone {:?}: use an IANA name such as UTC or Europe/Paris",
                spec.timezone
            ),
        });
    }
    if let Some(cron) = &spec.cron {
        match cron.parse::<croner::Cron>() {
            Err(e) => problems.push(FieldProblem {
                field: "cron".into(),
                message: format!(
                    "not a cron expression ({e}): five fields, minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\""
                ),
            }),
            Ok(parsed) => {
                if cron.split_whitespace().count() != 5 {
                    problems.push(FieldProblem {
                        field: "cron".into(),
                        message: "must have five fields: minute hour day-of-month month day-of-week".into(),
                    });
                } else if let Ok(tz) = spec.timezone.parse::<chrono_tz::Tz>() {
                    // A pattern that never fires (e.g. 30 February) is refused now, not found
                    // out when the first ping is due.
                    let now = Utc::now().with_timezone(&tz);
                    if parsed.find_next_occurrence(&now, false).is_err() {
                        problems.push(FieldProblem {
                            field: "cron".into(),
                            message: "never matches a date".into(),
                        });
                    }
                }
            }
        }
    }
    problems
}

/// The first time after `after` at which a ping is expected; `None` for a spec that does not
/// parse (refused when it was written) or a cron that never fires again.
pub fn expected_after(spec: &HeartbeatSpec, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if let Some(period) = spec.period_seconds {
        return Some(after + Duration::seconds(i64::from(period)));
    }
    let cron: croner::Cron = spec.cron.as_deref()?.parse().ok()?;
    let tz: chrono_tz::Tz = spec.timezone.parse().ok()?;
    cron.find_next_occurrence(&after.with_timezone(&tz), false)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// When a heartbeat whose last ping was at `last` is late: the next expected time plus the
/// grace.
pub fn deadline_after(spec: &HeartbeatSpec, last: DateTime<Utc>) -> Option<DateTime<Utc>> {
    expected_after(spec, last).map(|t| t + Duration::seconds(i64::from(spec.grace_seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn cron(expr: &str, zone: &str) -> HeartbeatSpec {
        HeartbeatSpec {
            period_seconds: None,
            cron: Some(expr.into()),
            timezone: zone.into(),
            grace_seconds: 300,
        }
    }

    #[test]
    fn a_period_is_due_after_the_last_ping_plus_grace() {
        let spec = HeartbeatSpec::every(3600);
        let last = Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap();
        assert_eq!(
            deadline_after(&spec, last),
            Some(Utc.with_ymd_and_hms(2026, 12, 3, 11, 1, 0).unwrap())
        );
    }

    #[test]
    fn a_cron_follows_its_zone_across_daylight_saving() {
        let spec = cron("0 3 * * *", "Europe/Paris");
        // Winter: 03:00 in Paris is 02:00 UTC.
        let winter = Utc.with_ymd_and_hms(2026, 3, 27, 12, 0, 0).unwrap();
        assert_eq!(
            expected_after(&spec, winter),
            Some(Utc.with_ymd_and_hms(2026, 3, 28, 2, 0, 0).unwrap())
        );
        // The night the clocks go forward (29 March 2026): 03:00 CEST is 01:00 UTC.
        let change = Utc.with_ymd_and_hms(2026, 3, 28, 12, 0, 0).unwrap();
        assert_eq!(
            expected_after(&spec, change),
            Some(Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap())
        );
        assert_eq!(
            deadline_after(&spec, change),
            Some(Utc.with_ymd_and_hms(2026, 3, 29, 1, 5, 0).unwrap())
        );
        // A ping just after 03:00 waits for the next day's.
        let after_run = Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 30).unwrap();
        assert_eq!(
            expected_after(&spec, after_run),
            Some(Utc.with_ymd_and_hms(2026, 3, 30, 1, 0, 0).unwrap())
        );
    }

    #[test]
    fn bad_crons_and_zones_are_named() {
        let fields = |spec: HeartbeatSpec| -> Vec<String> {
            problems(&spec).into_iter().map(|p| p.field).collect()
        };
        assert!(fields(cron("*/15 * * * *", "UTC")).is_empty());
        assert!(fields(cron("0 9 * * MON-FRI", "America/New_York")).is_empty());
        assert_eq!(fields(cron("0 3 * * *", "Mars/Olympus")), ["timezone"]);
        assert_eq!(fields(cron("99 * * * *", "UTC")), ["cron"]);
        assert_eq!(fields(cron("0 0 3 * * *", "UTC")), ["cron"], "six fields");
        assert_eq!(fields(cron("0 0 30 2 *", "UTC")), ["cron"], "never fires");
    }
}
