//! `statuspage`: the app server (API + pages + local checker runner) and its admin commands.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use web::server::config::{DatabaseConfig, ServeConfig};
use web::server::{
    demo, router, shutdown_signal, spawn_domain_rechecks, spawn_local_runner_with_rechecks,
};

#[derive(Parser)]
#[command(
    name = "statuspage",
    version,
    about = "Multi-tenant status pages with regional checkers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API, status pages and admin UI (and, if enabled, the local checker runner).
    Serve(ServeConfig),
    /// Apply pending PostgreSQL and ClickHouse migrations, then exit.
    Migrate(DatabaseConfig),
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Serve with the demo: local targets, a seeded `demo` tenant and the local checker runner.
    Demo {
        #[command(flatten)]
        serve: ServeConfig,
        /// Where the demo targets (up, slow, flaky, down) listen.
        #[arg(long, env = "DEMO_TARGETS_ADDR", default_value = "127.0.0.1:3900")]
        targets_addr: SocketAddr,
        /// The folder the local SMTP sink writes mail into (`./dev demo` runs one), shown on the
        /// demo inbox page `http://<targets>/inbox`.
        #[arg(long, env = "DEMO_MAIL_DIR")]
        mail_dir: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant with its owner and an API token; prints JSON with the tenant id and token.
    Create {
        #[command(flatten)]
        databases: DatabaseConfig,
        /// Subdomain to claim: `<slug>.<base domain>`.
        #[arg(long)]
        slug: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Owner's email address.
        #[arg(long)]
        email: String,
        /// Owner's password for the web sign-in (optional; at least 10 characters).
        #[arg(long, env = "STATUSPAGE_TENANT_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn,sqlx=warn".into()),
        )
        // stdout is for results (the JSON of `tenant create`, the demo's URLs).
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(config) => serve(config, None).await,
        Command::Migrate(databases) => {
            connect(&databases).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Tenant {
            command:
                TenantCommand::Create {
                    databases,
                    slug,
                    name,
                    email,
                    password,
                },
        } => {
            let (db, _) = connect(&databases).await?;
            let created = api::accounts::tenancy::create_tenant(
                &db,
                &api::accounts::tenancy::NewTenant {
                    slug,
                    name,
                    email,
                    password,
                },
            )
            .await
            .map_err(|e| match e {
                api::rest::error::ApiError::Validation(problems) => anyhow::anyhow!(
                    "{}",
                    problems
                        .iter()
                        .map(|p| format!("{}: {}", p.field, p.message))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                other => other.into(),
            })?;
            println!(
                "{}",
                serde_json::json!({
                    "tenant_id": created.tenant.id,
                    "slug": created.tenant.slug,
                    "name": created.tenant.name,
                    "user_id": created.user_id,
                    "api_token": created.api_token,
                })
            );
            Ok(())
        }
        Command::Demo {
            serve: config,
            targets_addr,
            mail_dir,
        } => serve(config, Some((targets_addr, mail_dir))).await,
    }
}

async fn connect(
    databases: &DatabaseConfig,
) -> anyhow::Result<(sqlx::PgPool, statuspage_clickhouse::Analytics)> {
    let db = api::connect_db(&databases.database_url).await?;
    let analytics = statuspage_clickhouse::Analytics::new(
        &databases.clickhouse_url,
        &databases.clickhouse_database,
    )
    .context("CLICKHOUSE_DATABASE")?;
    analytics
        .migrate()
        .await
        .with_context(|| format!("ClickHouse at CLICKHOUSE_URL={}", databases.clickhouse_url))?;
    Ok((db, analytics))
}

async fn serve(
    mut config: ServeConfig,
    demo_targets: Option<(SocketAddr, Option<std::path::PathBuf>)>,
) -> anyhow::Result<()> {
    if demo_targets.is_some() {
        config.local_runner = true;
    }
    config.validate()?;
    // STATUSPAGE_DELIVERY_*: checked before anything connects, like the rest of the config.
    let delivery = api::outbox::DeliveryConfig::from_env()?;
    let (db, analytics) = connect(&config.databases).await?;
    let cookie_secret =
        api::status_page::access::load_cookie_secret(&db, config.cookie_secret.as_deref())
            .await
            .context("the status-page cookie key (STATUSPAGE_COOKIE_SECRET or platform_secrets)")?;
    let app = api::AppState::new(db, analytics, config.api_config())
        .with_domain_resolver(config.dns_resolver())
        .with_checker_secrets(config.checker_secrets()?)
        .with_delivery_guard(config.guard()?)
        .with_smtp(config.smtp_settings()?)
        .with_page_cookie_secret(&cookie_secret);
    // STATUSPAGE_RECHECK: where the engine's re-checks go (for `local`, the runner below).
    let (recheck, local_rechecks) = web::server::recheck_dispatch(&config).await?;
    let app = app.with_recheck(recheck);
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("listening on STATUSPAGE_ADDR={}", config.addr))?;
    let addr = listener.local_addr()?;
    let app = app.with_platform_url(&config.public_url.clone().unwrap_or_else(|| {
        let scheme = if config.secure_cookies {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}:{}", config.base_domain, addr.port())
    }));

    let mut background = vec![spawn_domain_rechecks(&app)];
    // The engine's timers, the outbox workers, alert routing's sweeper and the maintenance
    // announcer: every app server runs them; several may share one database.
    background.extend(web::server::spawn_alerting(&app, delivery));
    let mut demo_inbox_url = None;
    if let Some((targets_addr, mail_dir)) = &demo_targets {
        let inbox = demo::DemoInbox::with_regions(mail_dir.clone(), &config.regions);
        let (targets, task) = demo::serve_targets(*targets_addr, inbox.clone()).await?;
        background.push(task);
        demo::seed(&app, targets, &inbox).await?;
        demo_inbox_url = Some(format!("http://{targets}/inbox"));
    }
    if config.local_runner {
        background.push(spawn_local_runner_with_rechecks(
            &app,
            addr,
            config.regions.clone(),
            config.checker_interval(),
            config.guard()?,
            config.writer_config()?,
            local_rechecks,
        )?);
        tracing::info!(regions = ?config.regions, interval_secs = config.checker_interval_secs, "local checker runner started");
    }

    let port = addr.port();
    let base = &config.base_domain;
    tracing::info!(%addr, "app server listening");
    if demo_targets.is_some() {
        println!();
        println!("  Status page : http://{}.{base}:{port}/", demo::DEMO_SLUG);
        println!(
            "  Admin       : http://{base}:{port}/login  ({} / {})",
            demo::DEMO_EMAIL,
            demo::DEMO_PASSWORD
        );
        println!("  API         : http://{base}:{port}/api/v1/health");
        if let Some(inbox) = &demo_inbox_url {
            println!("  Alerts inbox: {inbox}  (mail and webhooks the demo's alerts send)");
        }
        println!("  Ctrl-C stops everything.");
        println!();
    }
    let app_router = router(app, &config.site_root, config.secure_cookies, Some(port));
    // The peer address feeds the per-IP sign-in limit.
    axum::serve(
        listener,
        app_router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("app server")?;
    for task in background {
        task.abort();
    }
    Ok(())
}
