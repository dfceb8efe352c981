//! Bounded input: every request body is size-capped while it is read, and every JSON or YAML
//! document has its nodes and depth counted while it is parsed, before anything builds a tree.
//! YAML anchors and aliases are refused outright: a few kilobytes of nested aliases expand to
//! gigabytes (serde_yaml_ng's alias limit does not bound the expansion), and no export of ours
//! ever writes one.

use crate::rest::error::{ApiError, ApiResult};
use axum::body::{Body, Bytes};
use axum::http::header;
use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Largest JSON body of an ordinary API request (a monitor with a 64 KiB body and 32 headers of
/// 4 KiB fits several times over).
pub const MAX_JSON_BODY_BYTES: usize = 1024 * 1024;
/// Values (scalars, arrays and objects) in one ordinary JSON body.
pub const MAX_JSON_NODES: usize = 10_000;
/// Largest config document (`POST /api/v1/config`).
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// Values in one config document: about 40 per monitor, so well over a thousand monitors.
pub const MAX_DOCUMENT_NODES: usize = 50_000;
/// How deeply arrays and objects may nest, in any body or document (a config document needs 6).
pub const MAX_DEPTH: usize = 32;

/// What a body may hold.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub bytes: usize,
    pub nodes: usize,
    pub depth: usize,
}

impl Caps {
    pub const JSON_BODY: Caps = Caps {
        bytes: MAX_JSON_BODY_BYTES,
        nodes: MAX_JSON_NODES,
        depth: MAX_DEPTH,
    };
    pub const DOCUMENT: Caps = Caps {
        bytes: MAX_DOCUMENT_BYTES,
        nodes: MAX_DOCUMENT_NODES,
        depth: MAX_DEPTH,
    };
}

/// Reads a body, refusing it (413) as soon as it grows past `limit` bytes: nothing larger is
/// ever buffered.
pub async fn read_body(body: Body, limit: usize) -> ApiResult<Bytes> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::PayloadTooLarge(format!(
                "the request body is larger than {limit} bytes ({} KiB), the most this endpoint reads",
                limit / 1024
            ))
        } else {
            ApiError::BadRequest(format!("could not read the request body: {e}"))
        }
    })
}

fn body_problem(message: String) -> ApiError {
    ApiError::field("body", message)
}

fn too_many_nodes(caps: Caps) -> String {
    format!(
        "has more than {} values (the most a body may hold)",
        caps.nodes
    )
}

fn too_deep(caps: Caps) -> String {
    format!(
        "nests arrays or objects more than {} levels deep (the most a body may)",
        caps.depth
    )
}

// ---- JSON ----

/// Walks a JSON document without keeping any of it, counting values and depth; stops at the
/// first value past a cap.
struct Counter<'a> {
    caps: Caps,
    nodes: &'a mut usize,
    depth: usize,
}

impl Counter<'_> {
    fn node<E: serde::de::Error>(&mut self) -> Result<(), E> {
        *self.nodes += 1;
        if *self.nodes > self.caps.nodes {
            return Err(E::custom(too_many_nodes(self.caps)));
        }
        Ok(())
    }

    fn child(&mut self) -> Counter<'_> {
        Counter {
            caps: self.caps,
            nodes: self.nodes,
            depth: self.depth + 1,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Counter<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Counter<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: serde::de::Error>(mut self, _: bool) -> Result<(), E> {
        self.node()
    }
    fn visit_i64<E: serde::de::Error>(mut self, _: i64) -> Result<(), E> {
        self.node()
    }
    fn visit_u64<E: serde::de::Error>(mut self, _: u64) -> Result<(), E> {
        self.node()
    }
    fn visit_f64<E: serde::de::Error>(mut self, _: f64) -> Result<(), E> {
        self.node()
    }
    fn visit_str<E: serde::de::Error>(mut self, _: &str) -> Result<(), E> {
        self.node()
    }
    fn visit_unit<E: serde::de::Error>(mut self) -> Result<(), E> {
        self.node()
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.node()?;
        if self.depth >= self.caps.depth {
            return Err(A::Error::custom(too_deep(self.caps)));
        }
        while seq.next_element_seed(self.child())?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.node()?;
        if self.depth >= self.caps.depth {
            return Err(A::Error::custom(too_deep(self.caps)));
        }
        while map.next_key::<serde::de::IgnoredAny>()?.is_some() {
            map.next_value_seed(self.child())?;
        }
        Ok(())
    }
}

/// Parses a JSON body into a tree, after a first pass that builds nothing and refuses (422 on
/// `body`, with line and column) a body past the node or depth cap. Syntax errors are 400.
pub fn parse_json(body: &[u8], caps: Caps) -> ApiResult<serde_json::Value> {
    let mut nodes = 0;
    let mut counting = serde_json::Deserializer::from_slice(body);
    let counted = Counter {
        caps,
        nodes: &mut nodes,
        depth: 0,
    }
    .deserialize(&mut counting)
    .and_then(|()| counting.end());
    if let Err(e) = counted {
        return Err(if e.is_data() {
            body_problem(e.to_string())
        } else {
            ApiError::BadRequest(format!("the body is not valid JSON: {e}"))
        });
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))
}

// ---- YAML ----

/// Checks a YAML document event by event before serde_yaml_ng reads it: refuses anchors,
/// aliases and any value past the node or depth cap, at the first one, with its line and
/// column. Syntax errors are left to serde_yaml_ng's message unless the event parser sees them
/// first (both name the line and column).
pub fn check_yaml(text: &str, caps: Caps) -> ApiResult<()> {
    use saphyr_parser::{Event, Parser};
    let mut nodes = 0usize;
    let mut depth = 0usize;
    let at = |span: &saphyr_parser::Span| {
        format!(
            " (line {} column {})",
            span.start.line(),
            span.start.col() + 1
        )
    };
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| {
            let at = format!(
                " (line {} column {})",
                e.marker().line(),
                e.marker().col() + 1
            );
            // The scanner's own nesting limit (deeper than ours) may trip first on flow
            // collections, as it reads ahead of the events.
            if e.info().contains("recursion limit") {
                body_problem(format!("{}{at}", too_deep(caps)))
            } else {
                body_problem(format!("is not valid YAML: {}{at}", e.info()))
            }
        })?;
        let (anchor, opens) = match &event {
            Event::Alias(_) => {
                return Err(body_problem(format!(
                    "uses a YAML alias (*name){}: anchors and aliases are not accepted, write the value out",
                    at(&span)
                )))
            }
            Event::Scalar(_, _, anchor, _) => (*anchor, false),
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => (*anchor, true),
            Event::SequenceEnd | Event::MappingEnd => {
                depth = depth.saturating_sub(1);
                continue;
            }
            _ => continue,
        };
        if anchor != 0 {
            return Err(body_problem(format!(
                "uses a YAML anchor (&name){}: anchors and aliases are not accepted, write the value out",
                at(&span)
            )));
        }
        nodes += 1;
        if nodes > caps.nodes {
            return Err(body_problem(format!(
                "{}{}",
                too_many_nodes(caps),
                at(&span)
            )));
        }
        if opens {
            depth += 1;
            if depth > caps.depth {
                return Err(body_problem(format!("{}{}", too_deep(caps), at(&span))));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Caps = Caps {
        bytes: 1024,
        nodes: 10,
        depth: 3,
    };

    fn field_message(e: ApiError) -> (String, String) {
        match e {
            ApiError::Validation(mut p) => {
                let p = p.remove(0);
                (p.field, p.message)
            }
            other => panic!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn json_within_the_caps_parses() {
        let v = parse_json(br#"{"a": [1, 2, {"b": null}]}"#, SMALL).unwrap();
        assert_eq!(v["a"][2]["b"], serde_json::Value::Null);
    }

    #[test]
    fn json_past_the_caps_is_refused_naming_why() {
        let (field, message) = field_message(parse_json(b"[[[[1]]]]", SMALL).unwrap_err());
        assert_eq!(field, "body");
        assert!(message.contains("more than 3 levels deep"), "{message}");
        assert!(message.contains("line 1 column"), "{message}");
        let many = format!("[{}]", ["0"; 10].join(","));
        let (_, message) = field_message(parse_json(many.as_bytes(), SMALL).unwrap_err());
        assert!(message.contains("more than 10 values"), "{message}");
        assert!(matches!(
            parse_json(b"{\"a\": ", SMALL),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            parse_json(b"{} {}", SMALL),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn yaml_anchors_aliases_and_caps_are_refused() {
        check_yaml("a: 1\nb: [x, y]\n", SMALL).unwrap();
        let (field, message) = field_message(check_yaml("a: &x 1\n", SMALL).unwrap_err());
        assert_eq!(field, "body");
        assert!(
            message.contains("anchor") && message.contains("line 1"),
            "{message}"
        );
        // An alias without its anchor is still refused as an alias (or as bad YAML).
        let (_, message) = field_message(check_yaml("a: 1\nb: *x\n", SMALL).unwrap_err());
        assert!(
            message.contains("alias") || message.contains("not valid YAML"),
            "{message}"
        );
        let (_, message) = field_message(check_yaml("a: [[[1]]]\n", SMALL).unwrap_err());
        assert!(message.contains("levels deep"), "{message}");
        let (_, message) =
            field_message(check_yaml("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]", SMALL).unwrap_err());
        assert!(message.contains("more than 10 values"), "{message}");
        let (_, message) = field_message(check_yaml("a: [1, 2\n", SMALL).unwrap_err());
        assert!(message.contains("not valid YAML"), "{message}");
    }
}

/// `Json` whose rejections are problem+json too, naming the field when one is at fault.
/// Strings with NUL characters are refused here: PostgreSQL cannot store them in text.
/// The body is bounded while it is read and parsed ([`Caps::JSON_BODY`]): size
/// (413), then values and depth (422 on `body`), before any tree is built.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, _: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase())
            .is_some_and(|m| {
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::BadRequest(
                "Expected request with `Content-Type: application/json`".into(),
            ));
        }
        let caps = Caps::JSON_BODY;
        let body = read_body(req.into_body(), caps.bytes).await?;
        decode_json(parse_json(&body, caps)?).map(Self)
    }
}

/// Decodes a request body already parsed as JSON, with the errors [`ApiJson`] gives.
pub fn decode_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> ApiResult<T> {
    if let Some(field) = control_field(&value, String::new()) {
        return Err(ApiError::field(
            if field.is_empty() {
                "body".to_owned()
            } else {
                field
            },
            "must not contain control characters (other than tab, line feed and carriage return)",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            ApiError::BadRequest(e.inner().to_string())
        } else {
            ApiError::field(path, e.inner().to_string())
        }
    })
}

/// Characters no text we store may hold: C0 controls but tab, LF and CR (NUL cannot even be
/// stored by PostgreSQL), DEL and the C1 controls (YAML exports could not carry them).
pub fn is_forbidden_control(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{7f}'
}

/// The path of the first string (or key) holding a forbidden control character.
fn control_field(value: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value;
    let bad = |s: &str| s.chars().any(is_forbidden_control);
    match value {
        Value::String(s) if bad(s) => Some(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| control_field(v, format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let field = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if bad(k) {
                Some(field)
            } else {
                control_field(v, field)
            }
        }),
        _ => None,
    }
}
