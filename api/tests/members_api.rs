//! The people of a tenant over `/api/v1/members` against a real PostgreSQL: adding new users (an
//! existing account is refused: it must be invited), roles, the last owner, audit, sign-in of an
//! added user with the role the session reports; and every write tried from a second tenant and
//! with a read-only token.

use api::{ApiConfig, AppState};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use tower::ServiceExt;

fn app(pool: PgPool) -> axum::Router {
    let analytics = statuspage_clickhouse::Analytics::new("http://127.0.0.1:1", "unused").unwrap();
    api::router(AppState::new(
        pool,
        analytics,
        ApiConfig {
            base_domain: "localhost".into(),
            checker_secret: "api-test-secret-0123456789".into(),
            regions: vec!["eu".into(), "us".into()],
            open_signup: true,
        },
    ))
}

struct Reply {
    status: StatusCode,
    etag: Option<String>,
    content_type: String,
    text: String,
    body: Value,
}

struct Client {
    app: axum::Router,
    token: String,
    /// The owner created with the tenant.
    owner_id: String,
}

impl Client {
    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", self.token));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
            None => request.body(Body::empty()).unwrap(),
        };
        let response = self.app.clone().oneshot(request).await.unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let (etag, content_type) = (header("etag"), header("content-type").unwrap_or_default());
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            etag,
            content_type,
            text: String::from_utf8_lossy(&bytes).into_owned(),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, &[], None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send("POST", path, &[], Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send("PATCH", path, &[], Some(body)).await
    }

    async fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, &[], None).await
    }

    /// Adds a member and returns their user id.
    async fn add(&self, body: Value) -> String {
        let reply = self.post("/api/v1/members", body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["user_id"].as_str().unwrap().to_owned()
    }

    /// `(email, role)` of every member, following the cursor.
    async fn members(&self) -> Vec<(String, String)> {
        let mut all = Vec::new();
        let mut path = "/api/v1/members?limit=2".to_owned();
        loop {
            let page = self.get(&path).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            for item in page.body["items"].as_array().unwrap() {
                all.push((
                    item["email"].as_str().unwrap().to_owned(),
                    item["role"].as_str().unwrap().to_owned(),
                ));
            }
            match page.body["next_cursor"].as_str() {
                Some(cursor) => path = format!("/api/v1/members?limit=2&cursor={cursor}"),
                None => break,
            }
        }
        all.sort();
        all
    }
}

async fn tenant(app: &axum::Router, slug: &str) -> Client {
    let request = Request::builder()
        .method("POST")
        .uri("/api/v1/tenants")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({ "slug": slug, "name": slug, "email": format!("owner@{slug}.example") })
                .to_string(),
        ))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    Client {
        app: app.clone(),
        token: body["api_token"].as_str().unwrap().to_owned(),
        owner_id: body["user_id"].as_str().unwrap().to_owned(),
    }
}

fn fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<_> = list
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

async fn audited(pool: &PgPool, entity_id: &str) -> Vec<(String, Value)> {
    sqlx::query_as(
        "SELECT action, details FROM audit_log WHERE entity = 'member' AND entity_id = $1::uuid ORDER BY id",
    )
    .bind(entity_id)
    .fetch_all(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn members_are_added_listed_changed_and_removed(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    assert_eq!(
        acme.members().await,
        pairs(&[("owner@acme.example", "owner")])
    );

    // A new user, with a password.
    let added = acme
        .post(
            "/api/v1/members",
            json!({ "email": " Dev@Acme.example ", "role": "editor", "password": "correct horse battery" }),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    assert_eq!(added.etag, None, "memberships have no version");
    assert_eq!(added.body["email"], "Dev@Acme.example");
    assert_eq!(added.body["role"], "editor");
    assert!(added.body["created_at"].is_string());
    assert!(!added.text.contains("correct horse"), "{}", added.text);
    let dev = added.body["user_id"].as_str().unwrap().to_owned();
    let hash: Option<String> =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1::uuid")
            .bind(&dev)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(hash.unwrap().starts_with("$argon2id$"));

    // A new user without a password: cannot sign in yet.
    let viewer = acme
        .add(json!({ "email": "viewer@acme.example", "role": "viewer" }))
        .await;
    let err = api::accounts::auth::login(&pool, "viewer@acme.example", "")
        .await
        .unwrap_err();
    assert!(
        matches!(err, api::rest::error::ApiError::Unauthorized(_)),
        "{err}"
    );

    // Paged list (limit 2, three members).
    let first = acme.get("/api/v1/members?limit=2").await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    assert!(first.body["next_cursor"].is_string());
    assert_eq!(
        acme.members().await,
        pairs(&[
            ("Dev@Acme.example", "editor"),
            ("owner@acme.example", "owner"),
            ("viewer@acme.example", "viewer"),
        ])
    );

    // Duplicate membership (any spelling of the email) and bad input are 422 on the field.
    for email in ["dev@acme.example", "DEV@ACME.EXAMPLE"] {
        let dup = acme
            .post(
                "/api/v1/members",
                json!({ "email": email, "role": "viewer" }),
            )
            .await;
        assert_eq!(dup.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", dup.body);
        assert_eq!(dup.content_type, "application/problem+json");
        assert_eq!(fields(&dup.body), ["email"], "{}", dup.body);
        assert!(dup.text.contains("already a member"), "{}", dup.text);
    }
    let bad_role = acme
        .post(
            "/api/v1/members",
            json!({ "email": "new@acme.example", "role": "superuser" }),
        )
        .await;
    assert_eq!(bad_role.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&bad_role.body), ["role"]);
    let bad = acme
        .post(
            "/api/v1/members",
            json!({ "email": "not an email", "role": "viewer", "password": "short" }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&bad.body), ["email", "password"]);
    let unknown_field = acme
        .post(
            "/api/v1/members",
            json!({ "email": "new@acme.example", "role": "viewer", "admin": true }),
        )
        .await;
    assert_eq!(unknown_field.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&unknown_field.body), ["admin"]);
    // An existing account keeps its own password: another one is refused.
    let takeover = acme
        .post(
            "/api/v1/members",
            json!({ "email": "owner@acme.example", "role": "viewer", "password": "a new password" }),
        )
        .await;
    assert_eq!(takeover.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&takeover.body), ["password"]);

    // Idempotent create; refused together with a password (its fingerprint would be stored).
    let body = json!({ "email": "ops@acme.example", "role": "admin" });
    let once = acme
        .send(
            "POST",
            "/api/v1/members",
            &[("idempotency-key", "m-1")],
            Some(body.clone()),
        )
        .await;
    assert_eq!(once.status, StatusCode::CREATED, "{}", once.body);
    let again = acme
        .send(
            "POST",
            "/api/v1/members",
            &[("idempotency-key", "m-1")],
            Some(body),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_eq!(again.body["user_id"], once.body["user_id"]);
    let with_password = acme
        .send(
            "POST",
            "/api/v1/members",
            &[("idempotency-key", "m-2")],
            Some(
                json!({ "email": "x@acme.example", "role": "admin", "password": "long enough pw" }),
            ),
        )
        .await;
    assert_eq!(with_password.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&with_password.body), ["Idempotency-Key"]);
    let ops = once.body["user_id"].as_str().unwrap().to_owned();

    // PATCH the role.
    let patched = acme
        .patch(
            &format!("/api/v1/members/{viewer}"),
            json!({ "role": "editor" }),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["role"], "editor");
    assert_eq!(patched.body["email"], "viewer@acme.example");
    let bad_patch = acme
        .patch(
            &format!("/api/v1/members/{viewer}"),
            json!({ "role": "god" }),
        )
        .await;
    assert_eq!(bad_patch.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&bad_patch.body), ["role"]);
    let nobody = "00000000-0000-0000-0000-000000000000";
    let missing = acme
        .patch(
            &format!("/api/v1/members/{nobody}"),
            json!({ "role": "viewer" }),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.content_type, "application/problem+json");
    let not_uuid = acme.delete("/api/v1/members/nope").await;
    assert_eq!(not_uuid.status, StatusCode::BAD_REQUEST);

    // DELETE.
    let removed = acme.delete(&format!("/api/v1/members/{ops}")).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    let removed_again = acme.delete(&format!("/api/v1/members/{ops}")).await;
    assert_eq!(removed_again.status, StatusCode::NOT_FOUND);
    // The account stays (only the membership goes).
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE id = $1::uuid")
        .bind(&ops)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(users, 1);
    assert_eq!(
        acme.members().await,
        pairs(&[
            ("Dev@Acme.example", "editor"),
            ("owner@acme.example", "owner"),
            ("viewer@acme.example", "editor"),
        ])
    );

    // Every write is in the audit log, never with a password.
    let log: Vec<_> = audited(&pool, &viewer)
        .await
        .into_iter()
        .map(|(action, details)| (action, details["role"].clone()))
        .collect();
    assert_eq!(
        log,
        [
            ("create".to_owned(), json!("viewer")),
            ("update".to_owned(), json!("editor")),
        ]
    );
    let ops_log: Vec<String> = audited(&pool, &ops)
        .await
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(ops_log, ["create", "delete"]);
    let dev_log = audited(&pool, &dev).await;
    assert_eq!(dev_log[0].1["created_user"], true);
    let all: Vec<String> = sqlx::query_scalar("SELECT details::text FROM audit_log")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(all.iter().all(|d| !d.contains("correct horse")), "{all:?}");
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn the_last_owner_cannot_be_removed_or_demoted(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    let owner = acme.owner_id.clone();

    let demote = acme
        .patch(
            &format!("/api/v1/members/{owner}"),
            json!({ "role": "admin" }),
        )
        .await;
    assert_eq!(demote.status, StatusCode::CONFLICT, "{}", demote.body);
    assert_eq!(demote.content_type, "application/problem+json");
    assert!(
        demote.body["detail"]
            .as_str()
            .unwrap()
            .contains("at least one owner"),
        "{}",
        demote.body
    );
    let remove = acme.delete(&format!("/api/v1/members/{owner}")).await;
    assert_eq!(remove.status, StatusCode::CONFLICT, "{}", remove.body);
    assert!(remove.body["detail"]
        .as_str()
        .unwrap()
        .contains("at least one owner"));
    // Staying owner is fine.
    let same = acme
        .patch(
            &format!("/api/v1/members/{owner}"),
            json!({ "role": "owner" }),
        )
        .await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.body);

    // With a second owner, the first may go; then the second is the last one.
    let second = acme
        .add(json!({ "email": "second@acme.example", "role": "owner" }))
        .await;
    let demoted = acme
        .patch(
            &format!("/api/v1/members/{owner}"),
            json!({ "role": "viewer" }),
        )
        .await;
    assert_eq!(demoted.status, StatusCode::OK, "{}", demoted.body);
    assert_eq!(
        acme.delete(&format!("/api/v1/members/{second}"))
            .await
            .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        acme.patch(
            &format!("/api/v1/members/{second}"),
            json!({ "role": "editor" })
        )
        .await
        .status,
        StatusCode::CONFLICT
    );
    // Removing a non-owner is never blocked.
    let removed = acme.delete(&format!("/api/v1/members/{owner}")).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    assert_eq!(
        acme.members().await,
        pairs(&[("second@acme.example", "owner")])
    );

    // Concurrent demotions of two owners: exactly one succeeds.
    let third = acme
        .add(json!({ "email": "third@acme.example", "role": "owner" }))
        .await;
    let (second_path, third_path) = (
        format!("/api/v1/members/{second}"),
        format!("/api/v1/members/{third}"),
    );
    let (a, b) = tokio::join!(
        acme.patch(&second_path, json!({ "role": "admin" })),
        acme.patch(&third_path, json!({ "role": "admin" })),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    let owners: i64 = sqlx::query_scalar("SELECT count(*) FROM memberships WHERE role = 'owner'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(owners, 1);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn another_tenant_neither_sees_nor_touches_the_members(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    let globex = tenant(&app, "globex").await;
    let dev = acme
        .add(json!({ "email": "dev@shared.example", "role": "admin" }))
        .await;

    // Globex sees only its own owner.
    assert_eq!(
        globex.members().await,
        pairs(&[("owner@globex.example", "owner")])
    );
    for id in [&dev, &acme.owner_id] {
        let patch = globex
            .patch(
                &format!("/api/v1/members/{id}"),
                json!({ "role": "viewer" }),
            )
            .await;
        assert_eq!(patch.status, StatusCode::NOT_FOUND, "{}", patch.body);
        let delete = globex.delete(&format!("/api/v1/members/{id}")).await;
        assert_eq!(delete.status, StatusCode::NOT_FOUND, "{}", delete.body);
    }

    // The same person cannot be added to Globex directly (the account exists: only its owner
    // may bring it in, by accepting an invitation mailed to its address).
    let direct = globex
        .post(
            "/api/v1/members",
            json!({ "email": "DEV@shared.example", "role": "viewer" }),
        )
        .await;
    assert_eq!(
        direct.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        direct.body
    );
    assert_eq!(fields(&direct.body), ["email"]);
    assert!(direct.text.contains("invite it instead"), "{}", direct.text);
    // Invited (Globex's owner has verified their address) and accepted through the mailed link:
    // a separate membership of the same account, with its own role.
    sqlx::query("UPDATE users SET email_verified_at = now() WHERE email = 'owner@globex.example'")
        .execute(&pool)
        .await
        .unwrap();
    let invited = globex
        .post(
            "/api/v1/members/invitations",
            json!({ "email": "DEV@shared.example", "role": "viewer" }),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    let text: String = sqlx::query_scalar(
        "SELECT message->>'text' FROM outbox WHERE lower(address) = 'dev@shared.example'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let token = text
        .split("?token=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let added = globex
        .post(
            "/api/v1/invitations/accept",
            json!({ "token": token, "password": "dev's own password" }),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert_eq!(
        added.body["user_id"].as_str().unwrap(),
        dev,
        "the same account"
    );
    assert_eq!(added.body["email"], "dev@shared.example");
    assert_eq!(added.body["role"], "viewer");
    assert_eq!(
        acme.members().await,
        pairs(&[
            ("dev@shared.example", "admin"),
            ("owner@acme.example", "owner"),
        ])
    );
    // Changing and then removing it in Globex leaves Acme's as it was.
    let patched = globex
        .patch(
            &format!("/api/v1/members/{dev}"),
            json!({ "role": "editor" }),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK);
    assert_eq!(
        globex
            .delete(&format!("/api/v1/members/{dev}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        acme.members().await,
        pairs(&[
            ("dev@shared.example", "admin"),
            ("owner@acme.example", "owner"),
        ])
    );
    // Globex's audit log holds Globex's changes only.
    let tenants: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT t.slug FROM audit_log a JOIN tenants t ON t.id = a.tenant_id \
         WHERE a.entity = 'member' AND a.action <> 'create' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(tenants, ["globex"]);
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn a_read_only_token_may_list_but_not_write(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    let dev = acme
        .add(json!({ "email": "dev@acme.example", "role": "editor" }))
        .await;
    let created = acme
        .post(
            "/api/v1/api-tokens",
            json!({ "name": "dashboards", "scopes": ["read"] }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let reader = Client {
        app: app.clone(),
        token: created.body["token"].as_str().unwrap().to_owned(),
        owner_id: acme.owner_id.clone(),
    };
    assert_eq!(reader.members().await.len(), 2);
    let writes = [
        reader
            .post(
                "/api/v1/members",
                json!({ "email": "x@acme.example", "role": "owner" }),
            )
            .await,
        reader
            .patch(
                &format!("/api/v1/members/{dev}"),
                json!({ "role": "owner" }),
            )
            .await,
        reader.delete(&format!("/api/v1/members/{dev}")).await,
    ];
    for reply in writes {
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
        assert_eq!(reply.content_type, "application/problem+json");
    }
    let anonymous = Client {
        app: app.clone(),
        token: "sp_nope".into(),
        owner_id: String::new(),
    };
    assert_eq!(
        anonymous.get("/api/v1/members").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        acme.members().await,
        pairs(&[
            ("dev@acme.example", "editor"),
            ("owner@acme.example", "owner")
        ])
    );
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn an_added_member_signs_in_to_the_tenant_with_their_role(pool: PgPool) {
    let app = app(pool.clone());
    let acme = tenant(&app, "acme").await;
    let acme_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'acme'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let viewer = acme
        .add(json!({ "email": "Viewer@Acme.example", "role": "viewer", "password": "correct horse battery" }))
        .await;

    let (secret, tenant_id) =
        api::accounts::auth::login(&pool, "viewer@acme.example", "correct horse battery")
            .await
            .unwrap();
    assert_eq!(tenant_id, acme_id);
    let user = api::accounts::auth::session_user(&pool, &secret)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.user_id.to_string(), viewer);
    assert_eq!(user.tenant_id, acme_id);
    assert_eq!(user.role, api::accounts::roles::Role::Viewer);
    assert!(
        !user.can_edit(),
        "a viewer may not change things in the admin"
    );

    // The role the session reports follows the membership.
    for (role, can_edit) in [
        ("editor", true),
        ("admin", true),
        ("owner", true),
        ("viewer", false),
    ] {
        let patched = acme
            .patch(
                &format!("/api/v1/members/{viewer}"),
                json!({ "role": role }),
            )
            .await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
        let user = api::accounts::auth::session_user(&pool, &secret)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(api::rest::stored_name(&user.role), role);
        assert_eq!(user.can_edit(), can_edit, "{role}");
    }

    // Wrong passwords still fail.
    let err = api::accounts::auth::login(&pool, "viewer@acme.example", "wrong horse battery")
        .await
        .unwrap_err();
    assert!(
        matches!(err, api::rest::error::ApiError::Unauthorized(_)),
        "{err}"
    );

    // Removed from the tenant: the session ends and the user can no longer sign in.
    assert_eq!(
        acme.delete(&format!("/api/v1/members/{viewer}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert!(api::accounts::auth::session_user(&pool, &secret)
        .await
        .unwrap()
        .is_none());
    assert!(
        api::accounts::auth::login(&pool, "viewer@acme.example", "correct horse battery")
            .await
            .is_err()
    );
}
