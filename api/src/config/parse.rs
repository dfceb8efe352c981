//! Reading a request body into a [`ConfigDocument`]: JSON or YAML by content type, bounded by
//! [`crate::input`] before anything is built, every problem 422 on `body`.

use super::document::ConfigDocument;
use crate::rest::error::{ApiError, ApiResult};
use serde_json::Value;

fn body_problem(message: impl Into<String>) -> ApiError {
    ApiError::field("body", message)
}

/// Parses a request body: JSON for `application/json` (and `+json`), YAML otherwise (YAML
/// content types, `text/plain` or none). Syntax errors are 422 on `body` with line and column.
/// Returns the document and the parsed tree (to find keys nothing reads).
///
/// Bounded before anything is built ([`crate::rest::input::Caps::DOCUMENT`]): a body past the size is
/// 413; YAML anchors and aliases, and a document past the node or depth cap, are 422 on `body`,
/// found by a pass over the parser's events (or, for JSON, a pass that keeps nothing).
pub fn parse(content_type: Option<&str>, body: &[u8]) -> ApiResult<(ConfigDocument, Value)> {
    let media = content_type
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let is_json = media == "application/json" || media.ends_with("+json");
    let is_yaml = matches!(
        media.as_str(),
        "" | "application/yaml" | "text/yaml" | "application/x-yaml" | "text/x-yaml" | "text/plain"
    );
    if !is_json && !is_yaml {
        return Err(ApiError::BadRequest(format!(
            "unsupported content type {media:?}: send the document as application/yaml, text/yaml or application/json"
        )));
    }
    let caps = crate::rest::input::Caps::DOCUMENT;
    if body.len() > caps.bytes {
        return Err(ApiError::PayloadTooLarge(format!(
            "the document is larger than {} bytes, the most an import reads",
            caps.bytes
        )));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(body_problem(
            "is empty: send a config document (GET /api/v1/config exports one)",
        ));
    }
    let tree: Value = if is_json {
        crate::rest::input::parse_json(body, caps).map_err(|e| match e {
            ApiError::BadRequest(message) => body_problem(
                message
                    .strip_prefix("the body ")
                    .map(str::to_owned)
                    .unwrap_or(message),
            ),
            other => other,
        })?
    } else {
        let text = std::str::from_utf8(body).map_err(|e| {
            body_problem(format!(
                "is not UTF-8 text (byte {} is not): send YAML as UTF-8",
                e.valid_up_to()
            ))
        })?;
        // No alias, and the node and depth caps, before serde_yaml_ng builds anything.
        crate::rest::input::check_yaml(text, caps)?;
        serde_yaml_ng::from_str(text).map_err(|e| {
            let mut message = format!("is not valid YAML: {e}");
            if let Some(at) = e.location() {
                if !message.contains("line") {
                    message.push_str(&format!(" (line {} column {})", at.line(), at.column()));
                }
            }
            body_problem(message)
        })?
    };
    if !tree.is_object() {
        return Err(body_problem(
            "must be a mapping with `version`, `status_page`, `component_groups`, `components` and `monitors`",
        ));
    }
    // Problems with the whole document are about the body too (422, like a syntax error).
    let doc = crate::rest::input::decode_json(tree.clone()).map_err(|e| match e {
        ApiError::BadRequest(message) => body_problem(message),
        other => other,
    })?;
    Ok((doc, tree))
}
