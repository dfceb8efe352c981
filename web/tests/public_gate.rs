//! One gate: every route a tenant's host serves, and every file its rendered site holds, is
//! checked by the page's access rule before anything is read. Walks [`SITE_ROUTES`] and every
//! rendered file of three tenants (public, password-protected, private), plus every public
//! route of the platform's JSON API (from its OpenAPI document), against the real app server,
//! PostgreSQL and ClickHouse; a route that skipped the gate would answer a private or locked
//! page's visitor, and fails here.

mod support;

use api::AppState;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::net::SocketAddr;
use uuid::Uuid;
use web::public::routes::SITE_ROUTES;

const PAGE_PASSWORD: &str = "open sesame 123";

struct Platform {
    app: AppState,
    addr: SocketAddr,
    http: reqwest::Client,
}

/// What a test tenant has: its token, a component and an incident (for the routes with ids).
struct Tenant {
    slug: String,
    component: Uuid,
    incident: Uuid,
}

impl Platform {
    async fn start(pool: PgPool) -> Self {
        let analytics = support::migrated_analytics().await;
        let app = support::app_state_with_cookie_key(
            pool,
            analytics,
            "public-gate-test-secret-0123456789",
        )
        .await;
        let addr = support::serve(|port| {
            web::server::router(app.clone(), "target/site", false, Some(port))
        })
        .await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self { app, addr, http }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn host(&self, slug: &str) -> String {
        format!("{slug}.localhost:{}", self.addr.port())
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Value {
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status.is_success(), "{status}: {body}");
        body
    }

    /// A tenant with a component, an incident on it, and the page's visibility set.
    async fn tenant(&self, slug: &str, visibility: &str) -> Tenant {
        let created =
            support::sign_up(&self.http, &self.url(""), slug, &format!("{slug} Inc")).await;
        let token = support::token(&created);
        let component = self
            .send(
                self.http
                    .post(self.url("/api/v1/components"))
                    .bearer_auth(&token)
                    .json(&json!({ "name": format!("{slug}-secret-component") })),
            )
            .await;
        let component: Uuid = component["id"].as_str().unwrap().parse().unwrap();
        let incident = self
            .send(
                self.http
                    .post(self.url("/api/v1/incidents"))
                    .bearer_auth(&token)
                    .json(&json!({
                        "title": format!("{slug}-secret-incident"), "message": "looking",
                        "components": [{ "component_id": component, "status": "partial_outage" }]
                    })),
            )
            .await;
        let incident: Uuid = incident["id"].as_str().unwrap().parse().unwrap();
        let mut patch = json!({ "visibility": visibility });
        if visibility == "password" {
            patch["password"] = json!(PAGE_PASSWORD);
        }
        self.send(
            self.http
                .patch(self.url("/api/v1/status-page"))
                .bearer_auth(&token)
                .json(&patch),
        )
        .await;
        Tenant {
            slug: slug.into(),
            component,
            incident,
        }
    }

    /// Every path the tenant's host answers: each route of the table with the tenant's own ids,
    /// and every file its rendered site holds.
    async fn paths(&self, tenant: &Tenant) -> Vec<String> {
        let mut paths: Vec<String> = SITE_ROUTES
            .iter()
            .map(|r| {
                r.pattern
                    .replace("{incident}", &tenant.incident.to_string())
                    .replace("{component}", &tenant.component.to_string())
                    .replace("{file}", "page.css")
            })
            .collect();
        let found = self
            .app
            .tenant_by_slug(&tenant.slug)
            .await
            .unwrap()
            .unwrap();
        let model = web::public::model::load(&self.app, &found).await.unwrap();
        let files = web::public::site_files(&model);
        assert!(files.len() > 20, "the site has its files: {}", files.len());
        paths.extend(files.into_iter().map(|f| f.path));
        paths.sort();
        paths.dedup();
        paths
    }

    async fn get(
        &self,
        slug: &str,
        path: &str,
        extra: Option<(&str, &str)>,
    ) -> (StatusCode, String) {
        let mut request = self
            .http
            .get(self.url(path))
            .header("host", self.host(slug));
        if let Some((name, value)) = extra {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.text().await.unwrap_or_default())
    }
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn every_public_route_and_file_passes_the_one_gate(pool: PgPool) {
    let platform = Platform::start(pool).await;
    let open = platform.tenant("open", "public").await;
    let locked = platform.tenant("locked", "password").await;
    let hidden = platform.tenant("hidden", "private").await;

    // The public page's routes all answer (the table holds nothing the site lacks).
    for path in platform.paths(&open).await {
        let (status, _) = platform.get(&open.slug, &path, None).await;
        let form = SITE_ROUTES.iter().any(|r| !r.rendered && r.pattern == path);
        if form {
            continue; // the forms answer GET with a page of their own (or a redirect)
        }
        assert_eq!(status, StatusCode::OK, "{path} on the public page");
    }

    // A private page: every route and file looks like no page at all, and leaks nothing.
    let hidden_paths = platform.paths(&hidden).await;
    for path in &hidden_paths {
        let (status, body) = platform.get(&hidden.slug, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path} on the private page");
        assert!(!body.contains("hidden-secret"), "{path} leaks: {body}");
        let (status, _) = platform
            .get(
                &hidden.slug,
                path,
                Some(("status-page-password", PAGE_PASSWORD)),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{path}: a password opens no private page"
        );
    }

    // A password-protected page: every route and file asks for the password and leaks nothing;
    // the header, or the cookie the form sets, opens each of them.
    let unlocked = platform
        .http
        .post(platform.url(web::server::UNLOCK_PATH))
        .header("host", platform.host(&locked.slug))
        .form(&[("password", PAGE_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(unlocked.status(), StatusCode::SEE_OTHER);
    let cookie = unlocked.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    for (n, path) in platform.paths(&locked).await.into_iter().enumerate() {
        let (status, body) = platform.get(&locked.slug, &path, None).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{path} on the locked page"
        );
        assert!(!body.contains("locked-secret"), "{path} leaks: {body}");
        // A few wrong guesses (more would use up the client's allowance: 429, tested elsewhere).
        if n < 3 {
            let (status, _) = platform
                .get(
                    &locked.slug,
                    &path,
                    Some(("status-page-password", "not it")),
                )
                .await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{path} with a wrong password"
            );
        }
        if SITE_ROUTES.iter().any(|r| !r.rendered && r.pattern == path) {
            continue;
        }
        for credential in [
            ("status-page-password", PAGE_PASSWORD),
            ("cookie", cookie.as_str()),
        ] {
            let (status, _) = platform.get(&locked.slug, &path, Some(credential)).await;
            assert_eq!(status, StatusCode::OK, "{path} with {}", credential.0);
        }
    }
    // The subscribe form's post is gated too.
    for (slug, expected) in [(&hidden.slug, 404), (&locked.slug, 401)] {
        let response = platform
            .http
            .post(platform.url(api::subscribers::links::SUBSCRIBE_PATH))
            .header("host", platform.host(slug))
            .header("origin", format!("http://{}", platform.host(slug)))
            .form(&[("email", "visitor@example.com")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), expected, "subscribe on {slug}");
    }

    // Paths outside the table exist on no tenant's host, even on the public page.
    for path in [
        "/admin",
        "/login",
        "/rpc/home",
        "/pkg/web.js",
        "/incidents",
        "/badges/x",
    ] {
        let (status, _) = platform.get(&open.slug, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }

    // The platform host's public JSON API: every route that names a page by slug is gated the
    // same way (walked from the OpenAPI document, so a new route is covered by itself).
    let document: Value = platform
        .http
        .get(platform.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut walked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        if !path.contains("{slug}") || item.get("get").is_none() {
            continue;
        }
        walked += 1;
        for (tenant, expected) in [(&hidden, 404), (&locked, 401)] {
            let concrete = path.replace("{slug}", &tenant.slug);
            let response = platform
                .http
                .get(platform.url(&concrete))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), expected, "{concrete}");
            let body = response.text().await.unwrap();
            assert!(!body.contains("-secret-"), "{concrete} leaks: {body}");
        }
    }
    assert!(walked >= 3, "the public JSON routes were walked: {walked}");
}
