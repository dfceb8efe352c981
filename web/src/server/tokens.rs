//! The console's API tokens page, so a tenant who signed up on the web can reach the API: tokens
//! are made (the plaintext shown once, on the answer page only), listed and revoked, as plain
//! HTML forms that need no JavaScript. Owners and admins only, the same rule as the API's
//! `admin` scope (`api::accounts::roles::Role::can_admin`); the rules themselves are
//! `api::accounts::tokens`, which the API's own routes use, and every change is audited with the
//! signed-in person as actor.

use super::account::{error_html, page, refused, ConsoleRule};
use super::html_escape;
use super::WebState;
use api::accounts::auth::SessionUser;
use api::accounts::tokens::{self, ApiToken, TokenInput};
use api::rest::error::{ApiError, FieldProblem};
use api::rest::{audit, stored_name, PageQuery};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

pub const TOKENS_PATH: &str = "/admin/tokens";

pub fn routes() -> Router<WebState> {
    Router::new()
        .route(TOKENS_PATH, get(tokens_page).post(create_submit))
        .route("/admin/tokens/{id}/revoke", post(revoke_submit))
}

/// The scope choices of the form: each includes the ones before it.
const SCOPE_CHOICES: [(&str, &str); 3] = [
    ("read", "read: look only"),
    (
        "read,write",
        "read, write: change monitors, pages, incidents",
    ),
    (
        "read,write,admin",
        "read, write, admin: also tokens, members, channels, secrets",
    ),
];

/// Owners and admins, as the API's `admin` scope.
const TOKEN_RULE: ConsoleRule = ConsoleRule {
    title: "API tokens",
    allowed: |user| user.role.can_admin(),
    who_may:
        "only owners and admins make and revoke API tokens. Ask one of them, or for the admin role.",
};

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    cursor: Option<String>,
}

async fn tokens_page(
    State(web): State<WebState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    let user = match TOKEN_RULE.member(&web, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    render(&web, &user, StatusCode::OK, query.cursor, "", &[], None).await
}

/// The list and the form; `problems` go next to their fields, `created` (the plaintext token of
/// a create just made) above everything.
async fn render(
    web: &WebState,
    user: &SessionUser,
    status: StatusCode,
    cursor: Option<String>,
    name: &str,
    problems: &[FieldProblem],
    created: Option<(&ApiToken, &str)>,
) -> Response {
    let query = PageQuery {
        limit: Some(api::rest::MAX_PAGE_SIZE),
        cursor,
    };
    let list = match tokens::list(&web.app.db, user.tenant_id, &query).await {
        Ok(list) => list,
        Err(e) => return refused("API tokens", e, ""),
    };
    let mut body = String::new();
    if let Some((token, plaintext)) = created {
        body.push_str(&format!(
            "<section class=\"card\" role=\"status\" data-created-token=\"\">\
             <h2>Token “{}” made</h2>\
             <p>Copy it now: it is shown <strong>only on this page</strong> and stored only as a \
             hash. Send it as <code>Authorization: Bearer &lt;token&gt;</code>.</p>\
             <p><label for=\"new-token\">Token</label> \
             <input id=\"new-token\" readonly size=\"60\" value=\"{}\"></p></section>",
            html_escape(&token.name),
            html_escape(plaintext)
        ));
    }
    let field_error = |field: &str| -> String {
        problems
            .iter()
            .filter(|p| p.field == field || p.field.starts_with(&format!("{field}[")))
            .map(|p| {
                format!(
                    "<p class=\"error\" role=\"alert\" id=\"{field}-error\">{}</p>",
                    html_escape(&p.message)
                )
            })
            .collect()
    };
    let other_errors: String = problems
        .iter()
        .filter(|p| p.field != "name" && !p.field.starts_with("scopes"))
        .map(|p| error_html(&format!("{}: {}", p.field, p.message)))
        .collect();
    let described = |field: &str| {
        if problems.iter().any(|p| p.field.starts_with(field)) {
            format!(" aria-invalid=\"true\" aria-describedby=\"{field}-error\"")
        } else {
            String::new()
        }
    };
    let options: String = SCOPE_CHOICES
        .iter()
        .map(|(value, label)| format!("<option value=\"{value}\">{}</option>", html_escape(label)))
        .collect();
    body.push_str(&format!(
        "<p><a href=\"/admin\">← Console</a></p>\
         <h2>New token</h2>{other_errors}\
         <form method=\"post\" action=\"{TOKENS_PATH}\">\
         <p><label for=\"token-name\">Name</label><br>\
         <input id=\"token-name\" name=\"name\" required maxlength=\"{max}\" value=\"{name}\"{name_attrs}></p>{name_error}\
         <p><label for=\"token-scopes\">Scopes</label><br>\
         <select id=\"token-scopes\" name=\"scopes\"{scope_attrs}>{options}</select></p>{scope_error}\
         <p><button type=\"submit\">Make token</button></p></form>",
        max = tokens::NAME_MAX,
        name = html_escape(name),
        name_attrs = described("name"),
        name_error = field_error("name"),
        scope_attrs = described("scopes"),
        scope_error = field_error("scopes"),
    ));
    body.push_str("<h2>Tokens</h2>");
    if list.items.is_empty() {
        body.push_str("<p>No tokens yet.</p>");
    } else {
        body.push_str(
            "<table><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Starts with</th>\
             <th scope=\"col\">Scopes</th><th scope=\"col\">Made</th><th scope=\"col\">Last used</th>\
             <th scope=\"col\">State</th></tr></thead><tbody>",
        );
        for token in &list.items {
            let scopes: Vec<String> = token.scopes.iter().map(stored_name).collect();
            let state = match token.revoked_at {
                Some(at) => format!("revoked <time datetime=\"{0}\">{0}</time>", at.to_rfc3339()),
                None => format!(
                    "<form method=\"post\" action=\"/admin/tokens/{}/revoke\">\
                     <button type=\"submit\" aria-label=\"Revoke token {}\">Revoke</button></form>",
                    token.id,
                    html_escape(&token.name)
                ),
            };
            let time = |t: chrono::DateTime<chrono::Utc>| {
                format!("<time datetime=\"{0}\">{0}</time>", t.to_rfc3339())
            };
            body.push_str(&format!(
                "<tr data-token=\"{id}\"><td>{name}</td><td><code>{prefix}…</code></td>\
                 <td>{scopes}</td><td>{made}</td><td>{used}</td><td>{state}</td></tr>",
                id = token.id,
                name = html_escape(&token.name),
                prefix = html_escape(&token.prefix),
                scopes = scopes.join(", "),
                made = time(token.created_at),
                used = token
                    .last_used_at
                    .map(time)
                    .unwrap_or_else(|| "never".into()),
            ));
        }
        body.push_str("</tbody></table>");
        if let Some(next) = &list.next_cursor {
            // Cursors are URL-safe base64 (`api::rest::PageQuery`): nothing to escape in a query.
            body.push_str(&format!(
                "<p><a href=\"{TOKENS_PATH}?cursor={}\">Older tokens</a></p>",
                html_escape(next)
            ));
        }
    }
    let mut response = page(status, "API tokens", &body);
    // The answer to a create holds a secret: never kept by a cache or the back button.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Deserialize)]
struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scopes: String,
}

async fn create_submit(
    State(web): State<WebState>,
    headers: HeaderMap,
    Form(form): Form<CreateForm>,
) -> Response {
    let user = match TOKEN_RULE.member_posting(&web, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let input = TokenInput {
        name: form.name.clone(),
        scopes: form
            .scopes
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    match tokens::create(&web.app.db, user.tenant_id, &input).await {
        Ok(created) => {
            let token = &created.api_token;
            if let Err(e) = audit(
                &web.app.db,
                &user,
                "create",
                "api_token",
                Some(token.id),
                json!({ "name": token.name, "prefix": token.prefix, "scopes": token.scopes }),
            )
            .await
            {
                return refused("API tokens", e, "");
            }
            let plaintext = created.token.clone().unwrap_or_default();
            render(
                &web,
                &user,
                StatusCode::CREATED,
                None,
                "",
                &[],
                Some((token, &plaintext)),
            )
            .await
        }
        Err(ApiError::Validation(problems)) => {
            render(
                &web,
                &user,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                &form.name,
                &problems,
                None,
            )
            .await
        }
        Err(e) => refused("API tokens", e, ""),
    }
}

async fn revoke_submit(
    State(web): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let user = match TOKEN_RULE.member_posting(&web, &headers).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    let not_found = || {
        page(
            StatusCode::NOT_FOUND,
            "API tokens",
            &error_html("This tenant has no such API token."),
        )
    };
    let Ok(id) = id.parse::<Uuid>() else {
        return not_found();
    };
    match tokens::revoke(&web.app.db, user.tenant_id, id).await {
        Ok(None) => not_found(),
        Ok(Some(was_active)) => {
            if was_active {
                if let Err(e) = audit(
                    &web.app.db,
                    &user,
                    "revoke",
                    "api_token",
                    Some(id),
                    json!({}),
                )
                .await
                {
                    return refused("API tokens", e, "");
                }
            }
            (StatusCode::SEE_OTHER, [(header::LOCATION, TOKENS_PATH)]).into_response()
        }
        Err(e) => refused("API tokens", e, ""),
    }
}
