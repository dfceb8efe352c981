//! The monitors section of a plan: entries checked as the monitor API checks them, keys nothing
//! reads refused, secret headers kept behind their mask, specs compared field by field.

use super::account::{Current, Limits};
use super::document::MonitorConfig;
use super::plan::{
    duplicate_problems, leftovers, problem, trimmed_names, KindPlan, PlannedUpdate, Section, Writes,
};
use crate::monitors::MonitorInput;
use crate::rest::error::{ApiError, FieldProblem};
use checker::spec::MonitorSpec;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};

/// Keys of a monitor entry that nothing reads (a typo such as `intervall_seconds`, or `url` on a
/// `tcp` monitor): the flattened spec would silently ignore them. A key the parsed entry does
/// not write back is tried with a value no field takes: a real field refuses it, an unknown key
/// changes nothing.
fn unknown_monitor_keys(raw: &Value, parsed: &MonitorConfig) -> Vec<String> {
    let (Some(object), Ok(Value::Object(written))) =
        (raw.as_object(), serde_json::to_value(parsed))
    else {
        return Vec::new();
    };
    let reference = Value::Object(written.clone());
    object
        .keys()
        .filter(|key| !written.contains_key(*key))
        .filter(|key| {
            let mut probe = object.clone();
            probe.insert((*key).clone(), json!({ "\u{1}not a value": [] }));
            serde_json::from_value::<MonitorConfig>(Value::Object(probe))
                .ok()
                .and_then(|probed| serde_json::to_value(probed).ok())
                .is_some_and(|probed| probed == reference)
        })
        .cloned()
        .collect()
}

/// Which top-level fields of two specs differ (`type` when the kind changes).
fn spec_changes(old: &MonitorSpec, new: &MonitorSpec) -> Vec<String> {
    let as_map = |spec: &MonitorSpec| match serde_json::to_value(spec) {
        Ok(Value::Object(map)) => map.into_iter().collect::<BTreeMap<_, _>>(),
        _ => BTreeMap::new(),
    };
    let (old, new) = (as_map(old), as_map(new));
    let mut changes: Vec<String> = Vec::new();
    if old.get("type") != new.get("type") {
        changes.push("type".into());
    }
    for key in old.keys().chain(new.keys()) {
        if key != "type" && old.get(key) != new.get(key) && !changes.contains(key) {
            changes.push(key.clone());
        }
    }
    changes
}

/// The monitors section; a monitor's component must exist after the import. `tree` is the
/// section as parsed, to find keys nothing reads.
#[allow(clippy::too_many_arguments)]
pub(super) fn plan_monitors(
    monitors: Option<Vec<MonitorConfig>>,
    tree: &Value,
    current: &Current,
    components_after: &HashSet<String>,
    limits: &Limits,
    regions: &[String],
    prune: bool,
    sees_secrets: bool,
    problems: &mut Vec<FieldProblem>,
) -> Section<MonitorConfig> {
    let mut plan = KindPlan::default();
    let mut writes = Writes::default();
    let in_file = monitors
        .as_ref()
        .map(|ms| trimmed_names(ms.iter().map(|m| m.name.as_str())));
    if let Some(monitors) = monitors {
        problems.extend(duplicate_problems(
            "monitors",
            monitors.iter().map(|m| m.name.as_str()),
        ));
        for (i, mut monitor) in monitors.into_iter().enumerate() {
            let at = format!("monitors[{i}]");
            // A secret header given in clear by a token that cannot read secrets always counts
            // as a change, so dry runs cannot be used to guess a stored value.
            let clear_secret = matches!(&monitor.spec, MonitorSpec::Http(http)
                if http.headers.iter().any(|h| h.secret && h.value != crate::monitors::SECRET_MASK));
            // An export shows secret header values masked to tokens without `admin`: the mask
            // keeps the stored value.
            let stored = current
                .monitors
                .iter()
                .find(|m| m.name == monitor.name.trim())
                .map(|m| &m.spec);
            problems.extend(crate::monitors::keep_masked_secrets(
                &mut monitor.spec,
                stored,
                &format!("{at}."),
            ));
            for key in unknown_monitor_keys(&tree[i], &monitor) {
                problems.push(problem(
                    format!("{at}.{key}"),
                    format!("is not a field of a {} monitor", monitor.spec.kind()),
                ));
            }
            // The monitor API's own checks, on the same input.
            let input = MonitorInput {
                name: monitor.name.clone(),
                spec: monitor.spec.clone(),
                interval_seconds: monitor.interval_seconds,
                regions: monitor.regions.clone(),
                enabled: monitor.enabled,
                component_id: None,
                confirmation: monitor.confirmation,
            };
            if let Err(ApiError::Validation(found)) = input.validate(regions) {
                problems.extend(
                    found
                        .into_iter()
                        .map(|p| problem(format!("{at}.{}", p.field), p.message)),
                );
            }
            let component = monitor.component.as_deref().map(|c| c.trim().to_owned());
            if let Some(component) = &component {
                if !components_after.contains(component) {
                    problems.push(problem(
                        format!("{at}.component"),
                        format!("no component named {component:?} (in the file or the account)"),
                    ));
                }
            }
            let monitor = MonitorConfig {
                name: monitor.name.trim().to_owned(),
                component,
                ..monitor
            };
            let writes_row = match current.monitors.iter().find(|m| m.name == monitor.name) {
                None => {
                    plan.create.push(monitor.name.clone());
                    writes.creates.push(monitor.clone());
                    true
                }
                Some(now) => {
                    let mut changes = spec_changes(&now.spec, &monitor.spec);
                    if clear_secret && !sees_secrets && !changes.iter().any(|c| c == "headers") {
                        changes.push("headers".into());
                    }
                    changes.extend(
                        [
                            (
                                "interval_seconds",
                                now.interval_seconds != monitor.interval_seconds,
                            ),
                            ("regions", now.regions != monitor.regions),
                            ("enabled", now.enabled != monitor.enabled),
                            ("confirmation", now.confirmation != monitor.confirmation),
                            (
                                "component",
                                current.component_name(now.component_id)
                                    != monitor.component.as_deref(),
                            ),
                        ]
                        .into_iter()
                        .filter(|(_, changed)| *changed)
                        .map(|(name, _)| name.to_owned()),
                    );
                    if changes.is_empty() {
                        plan.unchanged.push(monitor.name.clone());
                        false
                    } else {
                        plan.update.push(PlannedUpdate {
                            name: monitor.name.clone(),
                            changes,
                        });
                        writes.updates.push((now.id, monitor.clone()));
                        true
                    }
                }
            };
            // The plan's interval, as the monitor API checks it on every write.
            if writes_row && monitor.interval_seconds < limits.min_interval_seconds {
                problems.push(problem(
                    format!("{at}.interval_seconds"),
                    format!(
                        "your plan checks at most every {} s, got {}",
                        limits.min_interval_seconds, monitor.interval_seconds
                    ),
                ));
            }
        }
    }
    leftovers(
        current.monitors.iter().map(|m| (m.name.as_str(), m.id)),
        in_file,
        prune,
        &mut plan,
        &mut writes.deletes,
    );
    Section {
        plan,
        writes,
        after: HashSet::new(),
    }
}
