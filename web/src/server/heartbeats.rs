//! The console's page for a heartbeat monitor's ping URL: issued (or rotated) by a plain form
//! post and shown once, on the answer page only. Editors and above, as the API's `write` scope;
//! the rule is `api::heartbeats::issue`, which the API's route uses too.

use super::account::{error_html, page, refused, ConsoleRule};
use super::html_escape;
use super::WebState;
use api::accounts::auth::SessionUser;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use uuid::Uuid;

pub fn routes() -> Router<WebState> {
    Router::new().route("/admin/monitors/{id}/heartbeat-url", post(issue_submit))
}

async fn issue_submit(
    State(web): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    const TITLE: &str = "Heartbeat URL";
    const RULE: ConsoleRule = ConsoleRule {
        title: TITLE,
        allowed: SessionUser::can_edit,
        who_may: "only editors, admins and owners issue heartbeat URLs.",
    };
    let user = match RULE.member_posting(&web, &headers).await {
        Ok(user) => user,
        Err(refusal) => return refusal,
    };
    let Ok(id) = id.parse::<Uuid>() else {
        return page(
            StatusCode::NOT_FOUND,
            TITLE,
            &error_html("This tenant has no such monitor."),
        );
    };
    match api::heartbeats::issue(&web.app, &user, id).await {
        Ok(urls) => {
            let body = format!(
                "<p><a href=\"/admin\">← Console</a></p>\
                 <section role=\"status\" data-heartbeat-url=\"\">\
                 <p>Copy them now: they are shown <strong>only on this page</strong> (a new one \
                 replaces the old, which stops working).</p>\
                 <p><label for=\"ping-url\">On success (GET or POST)</label><br>\
                 <input id=\"ping-url\" readonly size=\"70\" value=\"{url}\"></p>\
                 <p><label for=\"fail-url\">On failure (POST, the body up to 1,024 bytes is the message)</label><br>\
                 <input id=\"fail-url\" readonly size=\"70\" value=\"{fail}\"></p>\
                 <pre><code>my-job &amp;&amp; curl -fsS \"{url}\" || curl -fsS --data-binary \"exit $?\" \"{fail}\"</code></pre>\
                 </section>",
                url = html_escape(&urls.url),
                fail = html_escape(&urls.fail_url),
            );
            let mut response = page(StatusCode::CREATED, TITLE, &body);
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(api::rest::error::ApiError::NotFound(_)) => page(
            StatusCode::NOT_FOUND,
            TITLE,
            &error_html("This tenant has no such monitor."),
        ),
        Err(e) => refused(TITLE, e, "<p><a href=\"/admin\">← Console</a></p>"),
    }
}
