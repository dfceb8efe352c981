//! Assertions on an HTTP response beyond its status code: headers, body text, regex and JSON
//! path comparisons. Each failure says what was expected and what was found.

use crate::spec::{Assertion, CompareOp, HeaderOp};
use serde_json::Value;

/// How much of the body assertions look at; the rest is counted but not kept.
pub const MAX_ASSERTED_BODY: usize = 1024 * 1024;

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    Key(String),
    Index(usize),
}

/// Parses `$`, `$.a.b`, `$.items[0].name`, `$['odd key']`.
pub fn parse_json_path(path: &str) -> Result<Vec<PathStep>, String> {
    let rest = path
        .strip_prefix('$')
        .ok_or_else(|| format!("{path:?} must start with `$`"))?;
    let bytes = rest.as_bytes();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'.' => {
                let start = i + 1;
                let mut end = start;
                while end < bytes.len() && bytes[end] != b'.' && bytes[end] != b'[' {
                    end += 1;
                }
                if end == start {
                    return Err(format!("{path:?} has an empty key at byte {}", start + 1));
                }
                steps.push(PathStep::Key(rest[start..end].to_owned()));
                i = end;
            }
            b'[' => {
                let close = rest[i..]
                    .find(']')
                    .map(|off| i + off)
                    .ok_or_else(|| format!("{path:?} has an unclosed `[`"))?;
                let inner = rest[i + 1..close].trim();
                if let Some(quoted) = inner
                    .strip_prefix('\'')
                    .and_then(|q| q.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|q| q.strip_suffix('"')))
                {
                    steps.push(PathStep::Key(quoted.to_owned()));
                } else {
                    let index = inner.parse::<usize>().map_err(|_| {
                        format!("{path:?}: `[{inner}]` must be an index (`[0]`) or a quoted key (`['a']`)")
                    })?;
                    steps.push(PathStep::Index(index));
                }
                i = close + 1;
            }
            _ => {
                return Err(format!(
                    "{path:?}: expected `.key` or `[index]` at byte {}",
                    i + 2
                ))
            }
        }
    }
    Ok(steps)
}

/// The value at `steps`, if there is one.
pub fn select<'a>(root: &'a Value, steps: &[PathStep]) -> Option<&'a Value> {
    steps.iter().try_fold(root, |value, step| match step {
        PathStep::Key(key) => value.as_object()?.get(key),
        PathStep::Index(i) => value.as_array()?.get(*i),
    })
}

/// Whether `actual OP expected` holds. Numbers compare as numbers; everything else only with
/// `==` / `!=`.
pub fn compare(actual: &Value, op: CompareOp, expected: &Value) -> bool {
    if let (Some(a), Some(e)) = (actual.as_f64(), expected.as_f64()) {
        return match op {
            CompareOp::Eq => a == e,
            CompareOp::Ne => a != e,
            CompareOp::Lt => a < e,
            CompareOp::Le => a <= e,
            CompareOp::Gt => a > e,
            CompareOp::Ge => a >= e,
        };
    }
    match op {
        CompareOp::Eq => actual == expected,
        CompareOp::Ne => actual != expected,
        _ => false,
    }
}

/// What the assertions see of a response.
pub struct ResponseView<'a> {
    pub headers: &'a http::HeaderMap,
    /// The first [`MAX_ASSERTED_BODY`] bytes.
    pub body: &'a [u8],
    /// Whole body length (may exceed `body.len()`).
    pub body_len: u64,
}

/// Whether any assertion needs the body kept.
pub fn needs_body(assertions: &[Assertion]) -> bool {
    assertions
        .iter()
        .any(|a| !matches!(a, Assertion::Header { .. }))
}

fn shorten(text: &str) -> String {
    const MAX: usize = 120;
    if text.chars().count() <= MAX {
        format!("{text:?}")
    } else {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut:?}…")
    }
}

/// Every failing assertion's message, in order (empty when all pass).
pub fn evaluate(assertions: &[Assertion], response: &ResponseView<'_>) -> Vec<String> {
    let mut failures = Vec::new();
    let mut json: Option<Result<Value, String>> = None;
    let body_text = || String::from_utf8_lossy(response.body);
    let kept = if response.body_len > response.body.len() as u64 {
        format!(
            " (first {} of {} bytes)",
            response.body.len(),
            response.body_len
        )
    } else {
        String::new()
    };
    for assertion in assertions {
        match assertion {
            Assertion::Header { name, op, value } => {
                let got: Vec<String> = response
                    .headers
                    .get_all(name.as_str())
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect();
                let joined = got.join(", ");
                let want = value.as_deref().unwrap_or_default();
                let failure = match op {
                    HeaderOp::Exists if got.is_empty() => {
                        Some("expected to be present, got no such header".to_owned())
                    }
                    HeaderOp::Absent if !got.is_empty() => {
                        Some(format!("expected to be absent, got {}", shorten(&joined)))
                    }
                    HeaderOp::Exists | HeaderOp::Absent => None,
                    _ if got.is_empty() => Some(format!(
                        "expected {} {}, got no such header",
                        header_op_label(*op),
                        shorten(want)
                    )),
                    HeaderOp::Equals if !got.iter().any(|g| g == want) => Some(format!(
                        "expected to equal {}, got {}",
                        shorten(want),
                        shorten(&joined)
                    )),
                    HeaderOp::Contains if !got.iter().any(|g| g.contains(want)) => Some(format!(
                        "expected to contain {}, got {}",
                        shorten(want),
                        shorten(&joined)
                    )),
                    HeaderOp::Matches => match regex::Regex::new(want) {
                        Ok(re) if got.iter().any(|g| re.is_match(g)) => None,
                        Ok(_) => Some(format!(
                            "expected to match /{want}/, got {}",
                            shorten(&joined)
                        )),
                        Err(e) => Some(format!("invalid regex /{want}/: {e}")),
                    },
                    _ => None,
                };
                if let Some(f) = failure {
                    failures.push(format!("header {}: {f}", name.to_ascii_lowercase()));
                }
            }
            Assertion::BodyContains { value } => {
                let found = !value.is_empty()
                    && response
                        .body
                        .windows(value.len())
                        .any(|w| w == value.as_bytes());
                if !found {
                    failures.push(format!(
                        "body: expected to contain {}, not found in {} bytes{kept}",
                        shorten(value),
                        response.body.len()
                    ));
                }
            }
            Assertion::BodyRegex { pattern } => match regex::Regex::new(pattern) {
                Ok(re) if re.is_match(&body_text()) => {}
                Ok(_) => failures.push(format!(
                    "body: expected to match /{pattern}/, no match in {} bytes{kept}",
                    response.body.len()
                )),
                Err(e) => failures.push(format!("body: invalid regex /{pattern}/: {e}")),
            },
            Assertion::JsonPath { path, op, value } => {
                let parsed = json.get_or_insert_with(|| {
                    serde_json::from_slice::<Value>(response.body)
                        .map_err(|e| format!("body is not JSON{kept}: {e}"))
                });
                let steps = match parse_json_path(path) {
                    Ok(steps) => steps,
                    Err(e) => {
                        failures.push(format!("{path}: {e}"));
                        continue;
                    }
                };
                match parsed {
                    Err(e) => failures.push(format!("{path}: expected {op} {value}, but {e}")),
                    Ok(root) => match select(root, &steps) {
                        None => failures
                            .push(format!("{path}: expected {op} {value}, got no such path")),
                        Some(actual) if !compare(actual, *op, value) => {
                            failures.push(format!("{path}: expected {op} {value}, got {actual}"))
                        }
                        Some(_) => {}
                    },
                }
            }
        }
    }
    failures
}

fn header_op_label(op: HeaderOp) -> &'static str {
    match op {
        HeaderOp::Equals => "to equal",
        HeaderOp::Contains => "to contain",
        HeaderOp::Matches => "to match",
        HeaderOp::Exists => "to be present",
        HeaderOp::Absent => "to be absent",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn view<'a>(headers: &'a http::HeaderMap, body: &'a [u8]) -> ResponseView<'a> {
        ResponseView {
            headers,
            body,
            body_len: body.len() as u64,
        }
    }

    #[test]
    fn json_paths_parse_and_select() {
        assert_eq!(parse_json_path("$").unwrap(), vec![]);
        assert_eq!(
            parse_json_path("$.a.b[2]['c d']").unwrap(),
            vec![
                PathStep::Key("a".into()),
                PathStep::Key("b".into()),
                PathStep::Index(2),
                PathStep::Key("c d".into())
            ]
        );
        for bad in ["a.b", "$.", "$..a", "$[x]", "$[0", "$a"] {
            assert!(parse_json_path(bad).is_err(), "{bad}");
        }
        let doc = json!({"a": {"b": [1, 2, {"c d": "x"}]}});
        let steps = parse_json_path("$.a.b[2]['c d']").unwrap();
        assert_eq!(select(&doc, &steps), Some(&json!("x")));
        assert_eq!(select(&doc, &parse_json_path("$.a.z").unwrap()), None);
    }

    #[test]
    fn comparisons() {
        assert!(compare(&json!(3), CompareOp::Lt, &json!(3.5)));
        assert!(compare(&json!(3), CompareOp::Eq, &json!(3.0)));
        assert!(!compare(&json!("3"), CompareOp::Eq, &json!(3)));
        assert!(compare(&json!("ok"), CompareOp::Eq, &json!("ok")));
        assert!(compare(&json!("ok"), CompareOp::Ne, &json!("down")));
        assert!(!compare(&json!("b"), CompareOp::Gt, &json!("a")));
    }

    #[test]
    fn failures_say_expected_and_actual() {
        let mut headers = http::HeaderMap::new();
        headers.insert("content-type", "text/html".parse().unwrap());
        let body = br#"{"status":"down","latency":12.5,"items":[1]}"#;
        let assertions = vec![
            Assertion::Header {
                name: "Content-Type".into(),
                op: HeaderOp::Contains,
                value: Some("json".into()),
            },
            Assertion::Header {
                name: "x-missing".into(),
                op: HeaderOp::Exists,
                value: None,
            },
            Assertion::BodyContains {
                value: "\"status\":\"ok\"".into(),
            },
            Assertion::BodyRegex {
                pattern: "^<html".into(),
            },
            Assertion::parse_json_expr(r#"$.status == "ok""#).unwrap(),
            Assertion::parse_json_expr("$.latency < 10").unwrap(),
            Assertion::parse_json_expr("$.nope >= 1").unwrap(),
            Assertion::parse_json_expr("$.items[0] == 1").unwrap(),
        ];
        let failures = evaluate(&assertions, &view(&headers, body));
        assert_eq!(
            failures,
            vec![
                r#"header content-type: expected to contain "json", got "text/html""#,
                "header x-missing: expected to be present, got no such header",
                r#"body: expected to contain "\"status\":\"ok\"", not found in 44 bytes"#,
                "body: expected to match /^<html/, no match in 44 bytes",
                r#"$.status: expected == "ok", got "down""#,
                "$.latency: expected < 10, got 12.5",
                "$.nope: expected >= 1, got no such path",
            ]
        );
        let not_json = evaluate(
            &[Assertion::parse_json_expr("$.a == 1").unwrap()],
            &view(&headers, b"plain"),
        );
        assert!(
            not_json[0].starts_with("$.a: expected == 1, but body is not JSON: "),
            "{not_json:?}"
        );
    }

    #[test]
    fn json_expressions_parse() {
        assert_eq!(
            Assertion::parse_json_expr("$.n <= 3").unwrap(),
            Assertion::JsonPath {
                path: "$.n".into(),
                op: CompareOp::Le,
                value: json!(3)
            }
        );
        assert_eq!(
            Assertion::parse_json_expr("$.s != down").unwrap(),
            Assertion::JsonPath {
                path: "$.s".into(),
                op: CompareOp::Ne,
                value: json!("down")
            }
        );
        assert!(Assertion::parse_json_expr("$.s ~ 1").is_err());
    }
}
