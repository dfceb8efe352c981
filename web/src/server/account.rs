//! Account pages that work as plain HTML forms, without JavaScript: confirming an address,
//! resetting a password, accepting an invitation, and picking a tenant. The links in account mail
//! lead here; a GET only shows a page with a button (link scanners open links, so nothing changes
//! until the person presses it); every POST passes the same-origin check of the other forms
//! ([`super::pages::check_same_origin`]). The rules themselves are `api::accounts::{email,
//! invitations, tenant_choice}`; these pages only render them.

use super::pages::{check_same_origin, FormPost};
use super::{cookie, html_escape, WebState};
use api::accounts::auth::{session_user, SessionUser, SESSION_COOKIE, SESSION_DAYS};
use api::accounts::invitations::{self, InviteeAccount};
use api::accounts::tenancy::SignupClient;
use api::accounts::{email, tenant_choice};
use api::rest::error::ApiError;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use uuid::Uuid;

/// The pages, on the platform's own host only (mounted inside the site gate, which answers 404
/// for them on a tenant's host).
pub fn routes() -> Router<WebState> {
    Router::new()
        .route(email::VERIFY_PATH, get(verify_page).post(verify_submit))
        .route("/account/verify/resend", post(resend_submit))
        .route(
            "/account/reset",
            get(reset_request_page).post(reset_request_submit),
        )
        .route(email::RESET_PATH, get(reset_page).post(reset_submit))
        .route(
            invitations::ACCEPT_PATH,
            get(invitation_page).post(invitation_submit),
        )
        .route(TENANTS_PATH, get(picker_page).post(switch_submit))
}

/// The tenant picker.
pub const TENANTS_PATH: &str = "/account/tenants";

/// Where a fresh sign-in goes: the picker for a person in several tenants, else the console.
pub async fn landing_after_sign_in(db: &sqlx::PgPool, secret: &str) -> &'static str {
    let Ok(Some(user)) = session_user(db, secret).await else {
        return "/admin";
    };
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM memberships WHERE user_id = $1")
        .bind(user.user_id)
        .fetch_one(db)
        .await
        .unwrap_or(1);
    if count > 1 {
        TENANTS_PATH
    } else {
        "/admin"
    }
}

pub(super) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{}</style></head><body><main>\
         <section class=\"card narrow\"><h1>{title}</h1>{body}</section></main></body></html>",
        crate::app::STYLE,
        title = html_escape(title),
    );
    (status, Html(html)).into_response()
}

pub(super) fn error_html(message: &str) -> String {
    format!(
        "<p class=\"error\" role=\"alert\">{}</p>",
        html_escape(message)
    )
}

/// A refused request as a page: the problem's message and status (`Retry-After` for a 429).
pub(super) fn refused(title: &str, e: ApiError, retry: &str) -> Response {
    let status = e.status();
    let (message, retry_after) = match &e {
        ApiError::Validation(problems) => (
            problems
                .iter()
                .map(|p| {
                    if p.field == "token" {
                        format!("This link: {}", p.message)
                    } else {
                        format!("{}: {}", p.field, p.message)
                    }
                })
                .collect::<Vec<_>>()
                .join("; "),
            None,
        ),
        ApiError::TooManyRequests {
            detail,
            retry_after_secs,
        } => (detail.clone(), Some(*retry_after_secs)),
        other if status.is_client_error() => (other.to_string(), None),
        other => {
            tracing::error!(error = %other, "account page failed");
            ("temporarily unavailable, please retry".to_owned(), None)
        }
    };
    let mut response = page(status, title, &format!("{}{retry}", error_html(&message)));
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// The same-origin check of the other forms: `Some` 403 page when the post is refused.
pub(super) fn cross_site(headers: &HeaderMap, post: FormPost) -> Option<Response> {
    check_same_origin(headers, post).err().map(|e| {
        let message = match e {
            leptos::prelude::ServerFnError::ServerError(m) => m,
            other => other.to_string(),
        };
        page(StatusCode::FORBIDDEN, "Refused", &error_html(&message))
    })
}

pub(super) async fn signed_in(
    web: &WebState,
    headers: &HeaderMap,
) -> Option<(String, SessionUser)> {
    let secret = cookie(headers, SESSION_COOKIE)?;
    let user = session_user(&web.app.db, &secret).await.ok().flatten()?;
    Some((secret, user))
}

/// Who may use a console page: the rule on the signed-in person's role, and what the 403 page
/// says they may not do ("make and revoke API tokens").
pub(super) struct ConsoleRule {
    pub title: &'static str,
    pub allowed: fn(&SessionUser) -> bool,
    pub who_may: &'static str,
}

impl ConsoleRule {
    /// The signed-in person the rule allows, or the page to answer instead: sign in first, or a
    /// 403 that names their role and who may.
    pub(super) async fn member(
        &self,
        web: &WebState,
        headers: &HeaderMap,
    ) -> Result<SessionUser, Response> {
        let Some((_, user)) = signed_in(web, headers).await else {
            return Err((StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response());
        };
        if !(self.allowed)(&user) {
            return Err(page(
                StatusCode::FORBIDDEN,
                self.title,
                &error_html(&format!(
                    "Your role in this tenant is {}: {}",
                    api::rest::stored_name(&user.role),
                    self.who_may
                )),
            ));
        }
        Ok(user)
    }

    /// [`member`](Self::member) for a form post, after the same-origin check of the other forms.
    pub(super) async fn member_posting(
        &self,
        web: &WebState,
        headers: &HeaderMap,
    ) -> Result<SessionUser, Response> {
        if let Some(refusal) = cross_site(headers, FormPost::SignedIn) {
            return Err(refusal);
        }
        self.member(web, headers).await
    }
}

/// A redirect that sets the session cookie (the same attributes as a sign-in's).
fn with_session(web: &WebState, secret: &str, to: &str) -> Response {
    let cookie = format!(
        "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        SESSION_DAYS * 86_400,
        if web.secure_cookies { "; Secure" } else { "" }
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, to.to_owned()),
            (header::SET_COOKIE, cookie),
        ],
    )
        .into_response()
}

#[derive(Deserialize)]
struct TokenQuery {
    #[serde(default)]
    token: String,
}

fn hidden_token(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"token\" value=\"{}\">",
        html_escape(token.trim())
    )
}

// ---- confirming an address ----

async fn verify_page(Query(q): Query<TokenQuery>) -> Response {
    page(
        StatusCode::OK,
        "Confirm your email address",
        &format!(
            "<p>Press the button to confirm that this address is yours. If you did not create an \
             account, close this page: nothing is confirmed unless you press it.</p>\
             <form method=\"post\" action=\"{}\">{}<button type=\"submit\">Confirm my address</button></form>",
            email::VERIFY_PATH,
            hidden_token(&q.token)
        ),
    )
}

async fn verify_submit(
    State(web): State<WebState>,
    headers: HeaderMap,
    Form(form): Form<TokenQuery>,
) -> Response {
    if let Some(refusal) = cross_site(&headers, FormPost::SignIn) {
        return refusal;
    }
    match email::verify_email(&web.app.db, &form.token).await {
        Ok(verified) => page(
            StatusCode::OK,
            "Address confirmed",
            &format!(
                "<p data-verified=\"{}\">Thank you: {} is confirmed.</p><p><a href=\"/admin\">Go to the console</a></p>",
                html_escape(&verified.email),
                html_escape(&verified.email)
            ),
        ),
        Err(e) => refused(
            "Address not confirmed",
            e,
            "<p>Signed in? The console offers to send a new link.</p>",
        ),
    }
}

/// Sends another verification mail to the signed-in user's address.
async fn resend_submit(
    State(web): State<WebState>,
    headers: HeaderMap,
    client: SignupClient,
) -> Response {
    if let Some(refusal) = cross_site(&headers, FormPost::SignedIn) {
        return refusal;
    }
    let Some((_, user)) = signed_in(&web, &headers).await else {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response();
    };
    match email::resend_verification(&web.app.db, &web.app.platform_url, &user.email, client.0)
        .await
    {
        Ok(()) => page(
            StatusCode::OK,
            "Link sent",
            &format!(
                "<p>If {} is still unconfirmed, a new link is on its way.</p><p><a href=\"/admin\">Back to the console</a></p>",
                html_escape(&user.email)
            ),
        ),
        Err(e) => refused("No link sent", e, ""),
    }
}

// ---- resetting a password ----

const RESET_FORM: &str = "<form method=\"post\" action=\"/account/reset\">\
     <label>Email <input type=\"email\" name=\"email\" required autocomplete=\"username\"></label>\
     <button type=\"submit\">Send a reset link</button></form>";

async fn reset_request_page() -> Response {
    page(
        StatusCode::OK,
        "Reset your password",
        &format!("<p>We mail a link to choose a new password.</p>{RESET_FORM}"),
    )
}

#[derive(Deserialize)]
struct EmailForm {
    #[serde(default)]
    email: String,
}

async fn reset_request_submit(
    State(web): State<WebState>,
    headers: HeaderMap,
    client: SignupClient,
    Form(form): Form<EmailForm>,
) -> Response {
    if let Some(refusal) = cross_site(&headers, FormPost::SignIn) {
        return refusal;
    }
    match email::request_password_reset(&web.app.db, &web.app.platform_url, &form.email, client.0)
        .await
    {
        // The same page whether or not the address has an account.
        Ok(()) => page(
            StatusCode::OK,
            "Check your mail",
            "<p>If this address has an account, a link to choose a new password is on its way. \
             It works once, for an hour.</p><p><a href=\"/login\">Sign in</a></p>",
        ),
        Err(e) => refused("Reset your password", e, RESET_FORM),
    }
}

fn new_password_form(token: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\">{}\
         <label>New password (10+ characters) <input type=\"password\" name=\"password\" required minlength=\"10\" autocomplete=\"new-password\"></label>\
         <button type=\"submit\">Set the new password</button></form>",
        email::RESET_PATH,
        hidden_token(token)
    )
}

async fn reset_page(Query(q): Query<TokenQuery>) -> Response {
    page(
        StatusCode::OK,
        "Choose a new password",
        &format!(
            "<p>Setting it signs out every session of the account.</p>{}",
            new_password_form(&q.token)
        ),
    )
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

async fn reset_submit(
    State(web): State<WebState>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    if let Some(refusal) = cross_site(&headers, FormPost::SignIn) {
        return refusal;
    }
    match email::reset_password(&web.app.db, &form.token, &form.password).await {
        Ok(_) => page(
            StatusCode::OK,
            "Password changed",
            "<p>Your new password is set and every earlier session is signed out.</p>\
             <p><a href=\"/login\">Sign in</a></p>",
        ),
        Err(e) => {
            let again = if matches!(&e, ApiError::Validation(p) if p.iter().all(|p| p.field == "password"))
            {
                new_password_form(&form.token)
            } else {
                "<p><a href=\"/account/reset\">Ask for a new link</a></p>".to_owned()
            };
            refused("Password not changed", e, &again)
        }
    }
}

// ---- accepting an invitation ----

async fn invitation_page(
    State(web): State<WebState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    let invitation = match invitations::preview(&web.app.db, &q.token).await {
        Ok(invitation) => invitation,
        Err(e) => return refused("Invitation", e, ""),
    };
    let me = signed_in(&web, &headers).await.map(|(_, user)| user);
    let who = html_escape(&invitation.email);
    let intro = format!(
        "<p>You are invited to join <strong>{}</strong> as <strong>{}</strong> with the account \
         <strong>{who}</strong>.</p>",
        html_escape(&invitation.tenant.name),
        api::rest::stored_name(&invitation.role),
    );
    let signed_in_note = match &me {
        Some(user) if !user.email.eq_ignore_ascii_case(&invitation.email) => format!(
            "<p class=\"warning\">You are signed in as {}; accepting signs you in as {who} instead.</p>",
            html_escape(&user.email)
        ),
        _ => String::new(),
    };
    let password = |label: &str, autocomplete: &str| {
        format!(
            "<label>{label} <input type=\"password\" name=\"password\" required minlength=\"10\" autocomplete=\"{autocomplete}\"></label>"
        )
    };
    let (explain, field) = match invitation.account {
        InviteeAccount::Verified
            if me.as_ref().map(|u| u.user_id) == invitation.user_id =>
        {
            (String::new(), String::new())
        }
        InviteeAccount::Verified => (
            format!(
                "<p>Sign in as {who} to accept. <a href=\"/account/reset\">Forgot the password?</a></p>"
            ),
            password("Password of the account", "current-password"),
        ),
        InviteeAccount::None => (
            format!("<p>Choose a password for your new account {who}.</p>"),
            password("New password (10+ characters)", "new-password"),
        ),
        InviteeAccount::Unverified => (
            format!(
                "<p>An account for {who} exists, but nobody has proved the address yet. This link \
                 was mailed there, so accepting proves it is yours: choose a new password. Anyone \
                 signed in to that account is signed out.</p>"
            ),
            password("New password (10+ characters)", "new-password"),
        ),
    };
    page(
        StatusCode::OK,
        "Invitation",
        &format!(
            "{intro}{signed_in_note}{explain}<form method=\"post\" action=\"{}\">{}{field}\
             <input type=\"hidden\" name=\"email\" value=\"{who}\" autocomplete=\"username\">\
             <button type=\"submit\">Accept</button></form>",
            invitations::ACCEPT_PATH,
            hidden_token(&q.token)
        ),
    )
}

async fn invitation_submit(
    State(web): State<WebState>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    if let Some(refusal) = cross_site(&headers, FormPost::SignIn) {
        return refusal;
    }
    let me = signed_in(&web, &headers).await;
    let password = (!form.password.is_empty()).then_some(form.password.as_str());
    match invitations::accept(
        &web.app.db,
        &form.token,
        password,
        me.as_ref().map(|(_, u)| u.user_id),
    )
    .await
    {
        Ok(done) => with_session(&web, &done.session, "/admin"),
        Err(e) => {
            let back = format!(
                "<p><a href=\"{}?token={}\">Back to the invitation</a></p>",
                invitations::ACCEPT_PATH,
                html_escape(form.token.trim())
            );
            refused("Invitation not accepted", e, &back)
        }
    }
}

// ---- picking a tenant ----

async fn picker_page(State(web): State<WebState>, headers: HeaderMap) -> Response {
    let Some((_, user)) = signed_in(&web, &headers).await else {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response();
    };
    let memberships = match tenant_choice::memberships(&web.app.db, user.user_id).await {
        Ok(m) => m,
        Err(e) => return refused("Your tenants", e, ""),
    };
    let verified = api::accounts::auth::email_verified(&web.app.db, user.user_id)
        .await
        .unwrap_or(true);
    let banner = if verified {
        String::new()
    } else {
        format!(
            "<p class=\"warning\" data-unverified>Your address {} is not confirmed yet: follow the \
             link we mailed you. Until an owner or admin has confirmed theirs, a tenant cannot send \
             invitations.</p><form method=\"post\" action=\"/account/verify/resend\">\
             <button type=\"submit\" class=\"link\">Send the link again</button></form>",
            html_escape(&user.email)
        )
    };
    let items: String = memberships
        .iter()
        .map(|m| {
            let current = m.tenant.id == user.tenant_id;
            format!(
                "<li data-tenant=\"{slug}\"><form method=\"post\" action=\"{TENANTS_PATH}\">\
                 <input type=\"hidden\" name=\"tenant_id\" value=\"{id}\">\
                 <button type=\"submit\">{name}</button> <span class=\"muted\">{role}{current}</span></form></li>",
                slug = html_escape(&m.tenant.slug),
                id = m.tenant.id,
                name = html_escape(&m.tenant.name),
                role = api::rest::stored_name(&m.role),
                current = if current { " · current" } else { "" },
            )
        })
        .collect();
    page(
        StatusCode::OK,
        "Choose a tenant",
        &format!(
            "{banner}<p>Signed in as {}. Which tenant do you want to work in?</p><ul class=\"tenants\">{items}</ul>",
            html_escape(&user.email)
        ),
    )
}

#[derive(Deserialize)]
struct SwitchForm {
    tenant_id: Uuid,
}

async fn switch_submit(
    State(web): State<WebState>,
    headers: HeaderMap,
    form: Result<Form<SwitchForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    if let Some(refusal) = cross_site(&headers, FormPost::SignedIn) {
        return refusal;
    }
    let Ok(Form(form)) = form else {
        return page(
            StatusCode::BAD_REQUEST,
            "Choose a tenant",
            &error_html("tenant_id: must be a tenant's id"),
        );
    };
    let Some(secret) = cookie(&headers, SESSION_COOKIE) else {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response();
    };
    match tenant_choice::switch_tenant(&web.app.db, &secret, form.tenant_id).await {
        Ok(new) => with_session(&web, &new, "/admin"),
        Err(ApiError::Unauthorized(_)) => {
            (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response()
        }
        Err(e) => refused(
            "Choose a tenant",
            e,
            &format!("<p><a href=\"{TENANTS_PATH}\">Your tenants</a></p>"),
        ),
    }
}
