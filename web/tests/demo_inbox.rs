//! The demo's alerts inbox: the seeded tenant's channels point at the local receivers, the
//! webhook receiver checks Standard Webhooks signatures and drops repeated ids, the inbox page
//! shows the mail a real SMTP server (aiosmtpd, `scripts/smtp-sink.py`) caught, and the
//! "Website" target breaks and recovers from the page's button.

use api::notify::{EventKind, Message, Outcome};
use api::{ApiConfig, AppState};
use checker::guard::SsrfGuard;
use sqlx::PgPool;
use statuspage_clickhouse::Analytics;
#[path = "../../api/tests/support/smtp_sink.rs"]
mod smtp_sink;
use uuid::Uuid;
use web::server::demo;

fn loopback() -> SsrfGuard {
    SsrfGuard::new(SsrfGuard::parse_allowlist("127.0.0.0/8").unwrap())
}

fn app(pool: PgPool) -> AppState {
    let analytics = Analytics::new(
        &std::env::var("CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8123".into()),
        "statuspage_demo_inbox_test",
    )
    .unwrap();
    AppState::new(
        pool,
        analytics,
        ApiConfig {
            base_domain: "localhost".into(),
            checker_secret: "demo-inbox-test-secret-0123456789".into(),
            regions: vec!["local-a".into(), "local-b".into()],
            open_signup: true,
        },
    )
    .with_delivery_guard(loopback())
}

fn message(tenant_id: Uuid, title: &str) -> Message {
    Message {
        id: Uuid::new_v4(),
        tenant_id,
        event: EventKind::Down,
        title: title.into(),
        text: "Legacy billing fails in local-a and local-b: HTTP 503.".into(),
        url: None,
        dedup_key: "monitor-demo".into(),
        resolved: false,
        created_at: chrono::Utc::now(),
        unsubscribe_url: None,
    }
}

#[sqlx::test(migrator = "api::MIGRATOR")]
async fn the_demo_inbox_shows_what_the_demo_channels_receive(pool: PgPool) {
    let sink = smtp_sink::start_sink();
    let (mail_dir, smtp_port) = (sink.folder.clone(), sink.port);
    let app = app(pool.clone());
    let regions = ["local-a".to_owned(), "local-b".to_owned()];
    let inbox = demo::DemoInbox::with_regions(Some(mail_dir.clone()), &regions);
    let (targets, _task) = demo::serve_targets("127.0.0.1:0".parse().unwrap(), inbox.clone())
        .await
        .unwrap();
    demo::seed(&app, targets, &inbox).await.unwrap();
    // Seeding again (a restart) keeps one of each channel and the same secret.
    demo::seed(&app, targets, &inbox).await.unwrap();
    let channels: Vec<(String, String, serde_json::Value)> = sqlx::query_as(
        "SELECT c.name, c.kind, c.config FROM notification_channels c JOIN tenants t ON t.id = c.tenant_id \
         WHERE t.slug = 'demo' ORDER BY c.name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(channels.len(), 2, "{channels:?}");
    let (_, kind, hook) = &channels[1];
    assert_eq!(kind, "webhook");
    assert_eq!(hook["url"], format!("http://{targets}/hooks/demo"));
    let secret = hook["secret"].as_str().unwrap();
    let tenant_id: Uuid = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'demo'")
        .fetch_one(&pool)
        .await
        .unwrap();

    // A signed delivery is accepted once; the same id again is dropped; a wrong secret is not.
    let url = format!("http://{targets}/hooks/demo");
    let down = message(tenant_id, "Legacy billing is down");
    let sent = api::notify::webhook::send(&loopback(), &url, Some(secret), &down).await;
    assert_eq!(sent, Outcome::Delivered { status: 204 });
    let again = api::notify::webhook::send(&loopback(), &url, Some(secret), &down).await;
    assert_eq!(again, Outcome::Delivered { status: 200 });
    let forged = message(tenant_id, "Forged alert");
    let refused =
        api::notify::webhook::send(&loopback(), &url, Some("not-the-secret"), &forged).await;
    assert!(matches!(refused, Outcome::Failed { .. }), "{refused:?}");

    // Mail through the real SMTP server lands in the folder the inbox reads.
    let smtp = api::notify::email::SmtpSettings::from_env_values(
        Some(&format!("smtp://127.0.0.1:{smtp_port}")),
        None,
        "localhost",
    )
    .unwrap()
    .unwrap();
    let mailed = message(tenant_id, "Mailed: Legacy billing is down");
    let outcome = api::notify::email::send(&smtp, &["team@demo.example".to_owned()], &mailed).await;
    assert_eq!(outcome, Outcome::Delivered { status: 250 });

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http
        .get(format!("http://{targets}/inbox"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Mailed: Legacy billing is down"), "{page}");
    assert!(page.contains("team@demo.example"), "{page}");
    assert!(page.contains("2 received, 1 repeated"), "{page}");
    assert!(page.contains(&down.id.to_string()));
    let forged_row = page
        .split("<tr>")
        .find(|row| row.contains("Forged alert"))
        .expect("the forged delivery is listed");
    assert!(forged_row.contains("INVALID"), "{forged_row}");
    let good_row = page
        .split("<tr>")
        .find(|row| row.contains(&down.id.to_string()))
        .unwrap();
    assert!(good_row.contains(">valid<"), "{good_row}");

    // The website target breaks (everywhere, then for one pseudo-region's address only) and
    // recovers from the page's buttons.
    let from = |source: [u8; 4]| {
        let http = reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(source))
            .build()
            .unwrap();
        async move {
            http.get(format!("http://{targets}/switch/website"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let press = |action: &'static str| {
        let http = http.clone();
        async move {
            let answer = http
                .post(format!("http://{targets}/inbox/website"))
                .form(&[("action", action)])
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status().as_u16(), 303, "{action}");
        }
    };
    let (a, b) = (
        checker::local::loopback_source(0).octets(),
        checker::local::loopback_source(1).octets(),
    );
    assert_eq!((from(a).await, from(b).await), (200, 200));
    press("everywhere").await;
    assert_eq!((from(a).await, from(b).await), (503, 503));
    press("local-b").await;
    assert_eq!((from(a).await, from(b).await), (200, 503));
    let page = http
        .get(format!("http://{targets}/inbox"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("broken in local-b only"), "{page}");
    press("repair").await;
    assert_eq!((from(a).await, from(b).await), (200, 200));
}
