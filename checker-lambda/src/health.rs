//! Health documents: a service's own account of its dependencies, read from the body of an HTTP
//! check whose spec asks for it (`health`). Three shapes are understood, nested ones flattened
//! into `parent/child` names:
//! - the IETF draft `application/health+json` (`{"status": "pass", "checks": {"db:responseTime":
//!   [{"status": "pass", "observedValue": 12, "observedUnit": "ms"}]}}`),
//! - Spring Boot's actuator (`{"status": "UP", "components": {"db": {"status": "UP",
//!   "details": {...}}, "nested": {"status": "UP", "components": {...}}}}`, or `details` in
//!   Spring Boot 1),
//! - the common `{"status": "ok", "checks": {"db": {"status": "ok", "duration_ms": 3}, "cache":
//!   "ok"}}` (or `checks` as a list of `{"name": ..., "status": ...}`).
//!
//! Bounded: at most [`MAX_DEPENDENCIES`] dependencies, [`MAX_DEPTH`] levels, names of
//! [`NAME_MAX`] characters; the document kept for the tenant is its first [`DOCUMENT_MAX`] bytes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const MAX_DEPENDENCIES: usize = 100;
pub const MAX_DEPTH: usize = 5;
pub const NAME_MAX: usize = 100;
pub const OUTPUT_MAX: usize = 200;
/// The part of the document kept with the result, for the tenant to read.
pub const DOCUMENT_MAX: usize = 16 * 1024;

/// A status in the document's own words, mapped to ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Up,
    /// Unknown words (`UNKNOWN`, a status we do not know) count as degraded, not as down.
    Degraded,
    Down,
}

impl HealthStatus {
    /// `pass`/`ok`/`UP`/`healthy`/`true` …, `warn`/`degraded`, `fail`/`DOWN`/`error`/`false` ….
    pub fn of(value: &Value) -> Option<Self> {
        match value {
            Value::Bool(true) => Some(Self::Up),
            Value::Bool(false) => Some(Self::Down),
            Value::String(s) => Some(
                match s
                    .trim()
                    .to_ascii_lowercase()
                    .replace(['-', ' '], "_")
                    .as_str()
                {
                    "pass" | "ok" | "up" | "healthy" | "green" | "true" | "success"
                    | "operational" | "serving" => Self::Up,
                    "fail" | "failed" | "failure" | "down" | "error" | "critical" | "unhealthy"
                    | "red" | "false" | "out_of_service" | "not_serving" | "outage" => Self::Down,
                    _ => Self::Degraded,
                },
            ),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Degraded => "degraded",
            Self::Down => "down",
        }
    }
}

/// One dependency the document names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Dependency {
    /// `db`, or `nested/redis` for a nested one.
    pub name: String,
    pub status: HealthStatus,
    /// Its own timing, when the document gives one (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// What it says about itself (`output`, `error`, `message`), bounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// What a health document says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthReport {
    /// `health+json`, `spring` or `checks`.
    pub shape: String,
    /// The document's own overall status.
    pub status: HealthStatus,
    pub dependencies: Vec<Dependency>,
    /// More dependencies than [`MAX_DEPENDENCIES`], or deeper than [`MAX_DEPTH`], were left out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl HealthReport {
    /// The worst of the overall status and every dependency's.
    pub fn verdict(&self) -> HealthStatus {
        self.dependencies
            .iter()
            .map(|d| d.status)
            .fold(self.status, Ord::max)
    }

    /// Why the check is not up, naming the dependencies at fault: `db is down (Connection
    /// refused); cache is degraded`, or the document's own status when no dependency is.
    pub fn problem(&self) -> Option<String> {
        let verdict = self.verdict();
        if verdict == HealthStatus::Up {
            return None;
        }
        let faults: Vec<String> = self
            .dependencies
            .iter()
            .filter(|d| d.status != HealthStatus::Up)
            .map(|d| match &d.output {
                Some(out) => format!("{} is {} ({out})", d.name, d.status.label()),
                None => format!("{} is {}", d.name, d.status.label()),
            })
            .collect();
        Some(if faults.is_empty() {
            format!("the health document says {}", self.status.label())
        } else {
            format!("health document: {}", faults.join("; "))
        })
    }
}

/// Reads a health document; `Err` says why the body is not one.
pub fn parse(body: &[u8]) -> Result<HealthReport, String> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the body is not a JSON health document: {e}"))?;
    let Some(object) = doc.as_object() else {
        return Err("the health document is not a JSON object".into());
    };
    let status = object
        .get("status")
        .and_then(HealthStatus::of)
        .ok_or("the health document has no \"status\"")?;
    let mut walk = Walk::default();
    let shape = if object.get("components").is_some_and(Value::is_object)
        || (object.get("details").is_some_and(Value::is_object) && !object.contains_key("checks"))
    {
        walk.spring(&doc, "", 0);
        "spring"
    } else if object.get("checks").is_some_and(|c| {
        c.as_object()
            .is_some_and(|m| m.values().all(Value::is_array) && !m.is_empty())
    }) {
        walk.health_json(&doc["checks"]);
        "health+json"
    } else {
        if let Some(checks) = object.get("checks") {
            walk.checks(checks, "", 0);
        }
        "checks"
    };
    Ok(HealthReport {
        shape: shape.into(),
        status,
        dependencies: walk.found,
        truncated: walk.truncated,
    })
}

/// The document's first [`DOCUMENT_MAX`] bytes, as text.
pub fn kept_document(body: &[u8]) -> String {
    let end = body.len().min(DOCUMENT_MAX);
    String::from_utf8_lossy(&body[..end]).into_owned()
}

#[derive(Default)]
struct Walk {
    found: Vec<Dependency>,
    truncated: bool,
}

fn clip(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

fn joined(prefix: &str, name: &str) -> String {
    let name = clip(name, NAME_MAX);
    if prefix.is_empty() {
        name
    } else {
        clip(&format!("{prefix}/{name}"), NAME_MAX)
    }
}

/// The timing an entry gives of itself (or in its `details`, as Spring Boot's do), in ms.
fn duration_ms(entry: &Value) -> Option<f64> {
    for key in [
        "duration_ms",
        "durationMs",
        "latency_ms",
        "response_time_ms",
        "time_ms",
    ] {
        for place in [Some(entry), entry.get("details")].into_iter().flatten() {
            if let Some(v) = place.get(key).and_then(Value::as_f64) {
                return Some(v);
            }
        }
    }
    // health+json: observedValue with a time unit.
    let unit = entry.get("observedUnit").and_then(Value::as_str)?;
    let value = entry.get("observedValue").and_then(Value::as_f64)?;
    match unit {
        "ms" => Some(value),
        "s" => Some(value * 1000.0),
        "us" | "µs" => Some(value / 1000.0),
        _ => None,
    }
}

fn output(entry: &Value) -> Option<String> {
    ["output", "error", "message", "reason"]
        .iter()
        .find_map(|k| entry.get(*k).and_then(Value::as_str))
        .or_else(|| entry.pointer("/details/error").and_then(Value::as_str))
        .map(|s| clip(s, OUTPUT_MAX))
        .filter(|s| !s.is_empty())
}

impl Walk {
    fn push(&mut self, name: String, status: HealthStatus, entry: &Value) -> bool {
        if self.found.len() >= MAX_DEPENDENCIES {
            self.truncated = true;
            return false;
        }
        self.found.push(Dependency {
            name,
            status,
            duration_ms: duration_ms(entry),
            output: output(entry),
        });
        true
    }

    /// Spring Boot: `components` (or `details` of version 1) of `{status, ...}` entries, nested.
    fn spring(&mut self, node: &Value, prefix: &str, depth: usize) {
        let children = node
            .get("components")
            .or_else(|| node.get("details"))
            .and_then(Value::as_object);
        let Some(children) = children else {
            return;
        };
        if depth >= MAX_DEPTH {
            self.truncated = true;
            return;
        }
        for (name, child) in children {
            let Some(status) = child.get("status").and_then(HealthStatus::of) else {
                continue;
            };
            let path = joined(prefix, name);
            if !self.push(path.clone(), status, child) {
                return;
            }
            self.spring(child, &path, depth + 1);
        }
    }

    /// health+json: `checks` maps `component:measurement` to a list of observations; each
    /// observation with a `componentId` is its own dependency.
    fn health_json(&mut self, checks: &Value) {
        let Some(checks) = checks.as_object() else {
            return;
        };
        for (key, observations) in checks {
            for observation in observations.as_array().into_iter().flatten() {
                let status = observation
                    .get("status")
                    .and_then(HealthStatus::of)
                    .unwrap_or(HealthStatus::Up);
                let name = match observation.get("componentId").and_then(Value::as_str) {
                    Some(id) => joined(key, id),
                    None => clip(key, NAME_MAX),
                };
                if !self.push(name, status, observation) {
                    return;
                }
            }
        }
    }

    /// The common shape: `checks` as an object of entries (an entry may be a bare status) or a
    /// list of `{name, status}`; an entry with `checks` of its own nests.
    fn checks(&mut self, checks: &Value, prefix: &str, depth: usize) {
        if depth >= MAX_DEPTH {
            self.truncated = true;
            return;
        }
        let entries: Vec<(String, &Value)> = match checks {
            Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
            Value::Array(list) => list
                .iter()
                .filter_map(|v| {
                    let name = v
                        .get("name")
                        .or_else(|| v.get("component"))
                        .and_then(Value::as_str)?;
                    Some((name.to_owned(), v))
                })
                .collect(),
            _ => return,
        };
        for (name, entry) in entries {
            let status = HealthStatus::of(entry)
                .or_else(|| entry.get("status").and_then(HealthStatus::of))
                .or_else(|| entry.get("healthy").and_then(HealthStatus::of));
            let Some(status) = status else {
                continue;
            };
            let path = joined(prefix, &name);
            if !self.push(path.clone(), status, entry) {
                return;
            }
            if let Some(nested) = entry.get("checks") {
                self.checks(nested, &path, depth + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(report: &HealthReport) -> Vec<(&str, HealthStatus)> {
        report
            .dependencies
            .iter()
            .map(|d| (d.name.as_str(), d.status))
            .collect()
    }

    #[test]
    fn spring_boot_actuator_nested_components() {
        let doc = json!({
            "status": "DOWN",
            "components": {
                "db": { "status": "DOWN", "details": { "error": "Connection refused" } },
                "diskSpace": { "status": "UP", "details": { "free": 1 } },
                "brokers": { "status": "UP", "components": {
                    "kafka-a": { "status": "UP" }, "kafka-b": { "status": "OUT_OF_SERVICE" } } }
            }
        });
        let r = parse(doc.to_string().as_bytes()).unwrap();
        assert_eq!(r.shape, "spring");
        assert_eq!(
            names(&r),
            vec![
                ("brokers", HealthStatus::Up),
                ("brokers/kafka-a", HealthStatus::Up),
                ("brokers/kafka-b", HealthStatus::Down),
                ("db", HealthStatus::Down),
                ("diskSpace", HealthStatus::Up),
            ]
        );
        assert_eq!(r.verdict(), HealthStatus::Down);
        let problem = r.problem().unwrap();
        assert!(
            problem.contains("db is down (Connection refused)"),
            "{problem}"
        );
        assert!(problem.contains("brokers/kafka-b is down"), "{problem}");
    }

    #[test]
    fn health_json_draft_with_observations() {
        let doc = json!({
            "status": "warn",
            "checks": {
                "cassandra:responseTime": [
                    { "componentId": "dfd6cf2b", "status": "pass", "observedValue": 250, "observedUnit": "ms" },
                    { "componentId": "6fd416e0", "status": "warn", "observedValue": 1.5, "observedUnit": "s", "output": "slow" }
                ],
                "uptime": [{ "status": "pass", "observedValue": 1209600, "observedUnit": "s" }]
            }
        });
        let r = parse(doc.to_string().as_bytes()).unwrap();
        assert_eq!(r.shape, "health+json");
        assert_eq!(r.dependencies.len(), 3);
        assert_eq!(r.dependencies[0].name, "cassandra:responseTime/dfd6cf2b");
        assert_eq!(r.dependencies[0].duration_ms, Some(250.0));
        assert_eq!(r.dependencies[1].duration_ms, Some(1500.0));
        assert_eq!(r.verdict(), HealthStatus::Degraded);
        assert!(r
            .problem()
            .unwrap()
            .contains("cassandra:responseTime/6fd416e0 is degraded (slow)"));
    }

    #[test]
    fn the_common_shapes_objects_lists_and_bare_statuses() {
        let doc = json!({ "status": "ok", "checks": {
            "db": { "status": "ok", "duration_ms": 3 }, "cache": "ok",
            "queue": { "healthy": false, "error": "no consumers" },
            "payments": { "status": "ok", "checks": { "stripe": "ok" } } } });
        let r = parse(doc.to_string().as_bytes()).unwrap();
        assert_eq!(r.shape, "checks");
        assert_eq!(r.verdict(), HealthStatus::Down, "{r:?}");
        assert!(r
            .problem()
            .unwrap()
            .contains("queue is down (no consumers)"));
        assert!(names(&r).contains(&("payments/stripe", HealthStatus::Up)));
        assert_eq!(r.dependencies[0].duration_ms, None);
        let listed = json!({ "status": "healthy", "checks": [
            { "name": "db", "status": "healthy", "duration_ms": 2.5 }, { "name": "s3", "status": "unhealthy" }] });
        let r = parse(listed.to_string().as_bytes()).unwrap();
        assert_eq!(
            names(&r),
            vec![("db", HealthStatus::Up), ("s3", HealthStatus::Down)]
        );
        assert_eq!(r.dependencies[0].duration_ms, Some(2.5));
        let bare = parse(br#"{"status": "UP"}"#).unwrap();
        assert!(bare.dependencies.is_empty() && bare.problem().is_none());
        let unknown = parse(br#"{"status": "UNKNOWN"}"#).unwrap();
        assert_eq!(unknown.verdict(), HealthStatus::Degraded);
        assert!(unknown.problem().unwrap().contains("says degraded"));
    }

    #[test]
    fn not_a_document_says_why() {
        assert!(parse(b"<html>").unwrap_err().contains("not a JSON"));
        assert!(parse(b"[1]").unwrap_err().contains("not a JSON object"));
        assert!(parse(br#"{"checks": {}}"#)
            .unwrap_err()
            .contains("no \"status\""));
    }

    #[test]
    fn bounded_in_count_depth_and_names() {
        let many: serde_json::Map<String, Value> = (0..500)
            .map(|i| (format!("dep{i:03}"), json!("ok")))
            .collect();
        let r = parse(
            json!({ "status": "ok", "checks": many })
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(r.dependencies.len(), MAX_DEPENDENCIES);
        assert!(r.truncated);
        let mut deep = json!({ "status": "UP" });
        for _ in 0..20 {
            deep = json!({ "status": "UP", "components": { "x".repeat(300): deep } });
        }
        let r = parse(deep.to_string().as_bytes()).unwrap();
        assert_eq!(r.dependencies.len(), MAX_DEPTH);
        assert!(r.truncated);
        assert!(r
            .dependencies
            .iter()
            .all(|d| d.name.chars().count() <= NAME_MAX));
        assert_eq!(kept_document(&vec![b'a'; 100_000]).len(), DOCUMENT_MAX);
    }
}
