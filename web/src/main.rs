//! `statuspage`: the app server (API + pages + local checker runner) and its admin commands.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use web::server::config::{DatabaseConfig, ServeConfig};
use web::server::{
    demo, router_with_site, shutdown_signal, spawn_domain_rechecks,
    spawn_local_runner_with_rechecks,
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

/// The databases for `serve` and `demo`. When PostgreSQL answers, its migrations run before
/// anything is served, as `migrate` does. When it does not, the server still starts: the pool
/// connects lazily, the migrations are retried in the background (the returned task ends when
/// they ran) and the kept renders are served meanwhile. ClickHouse's migrations are retried in
/// the background when it does not answer (pages show no figures until then).
async fn connect_serving(
    databases: &DatabaseConfig,
) -> anyhow::Result<(
    sqlx::PgPool,
    statuspage_clickhouse::Analytics,
    Option<tokio::task::JoinHandle<()>>,
)> {
    use std::time::Duration;
    let options: sqlx::postgres::PgConnectOptions =
        databases.database_url.parse().context("DATABASE_URL")?;
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options.clone());
    let analytics = statuspage_clickhouse::Analytics::new(
        &databases.clickhouse_url,
        &databases.clickhouse_database,
    )
    .context("CLICKHOUSE_DATABASE")?;
    // One direct connection says whether PostgreSQL answers (the pool would keep retrying a
    // refused connection until its acquire timeout).
    let probe = tokio::time::timeout(
        Duration::from_secs(5),
        sqlx::ConnectOptions::connect(&options),
    )
    .await
    .map_err(|_| "no answer within 5 s".to_owned())
    .and_then(|r: Result<sqlx::PgConnection, _>| r.map_err(|e| e.to_string()));
    let migrating = match probe {
        Ok(connection) => {
            drop(connection);
            api::MIGRATOR
                .run(&db)
                .await
                .map_err(|e| anyhow::anyhow!("applying Postgres migrations: {e}"))?;
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "PostgreSQL at DATABASE_URL does not answer: starting without it, serving the kept renders of public pages; migrations are retried every 5 s");
            let db = db.clone();
            Some(tokio::spawn(async move {
                loop {
                    match api::MIGRATOR.run(&db).await {
                        Ok(()) => {
                            tracing::info!("PostgreSQL answers: migrations applied");
                            return;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "PostgreSQL still unavailable; retrying migrations in 5 s");
                            tokio::time::sleep(Duration::from_secs(5)).await;
                        }
                    }
                }
            }))
        }
    };
    // With PostgreSQL up, ClickHouse is migrated before serving too; without it, nothing
    // waits for ClickHouse either.
    let first_try = if migrating.is_none() {
        analytics.migrate().await.map_err(|e| e.to_string())
    } else {
        Err("not tried before serving".to_owned())
    };
    if let Err(e) = first_try {
        tracing::warn!(error = %e, url = %databases.clickhouse_url, "ClickHouse at CLICKHOUSE_URL: starting without it; its migrations are retried every 10 s");
        let analytics = analytics.clone();
        tokio::spawn(async move {
            let mut first = true;
            loop {
                if !std::mem::take(&mut first) {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                }
                match analytics.migrate().await {
                    Ok(()) => {
                        tracing::info!("ClickHouse answers: migrations applied");
                        return;
                    }
                    Err(e) => tracing::debug!(error = %e, "ClickHouse still unavailable"),
                }
            }
        });
    }
    Ok((db, analytics, migrating))
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
    let render = config.render_config().await;
    if let (Some(keep), Some(dir)) = (&render.bucket, &render.dir) {
        // Before the folder is read: a fresh machine serves what the fleet kept.
        use web::public::render::bucket;
        match tokio::time::timeout(bucket::RESTORE_BUDGET, bucket::restore(keep, dir)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "kept renders not restored from STATUSPAGE_RENDER_BUCKET; serving what STATUSPAGE_RENDER_DIR holds"),
            Err(_) => tracing::warn!(bucket = keep.bucket(), "STATUSPAGE_RENDER_BUCKET did not answer within {:?}; serving what STATUSPAGE_RENDER_DIR holds", bucket::RESTORE_BUDGET),
        }
    }
    let (db, analytics, migrating) = connect_serving(&config.databases).await?;
    let cookie_secret = match (&migrating, config.cookie_secret.as_deref()) {
        (Some(_), None | Some("")) => {
            tracing::warn!("without PostgreSQL the page-access cookie key is a random one of this process: visitors of password-protected pages unlock again here (set STATUSPAGE_COOKIE_SECRET to share a key)");
            use rand::RngCore;
            let mut key = vec![0u8; 32];
            rand::thread_rng().fill_bytes(&mut key);
            key
        }
        _ => api::status_page::access::load_cookie_secret(&db, config.cookie_secret.as_deref())
            .await
            .context("the status-page cookie key (STATUSPAGE_COOKIE_SECRET or platform_secrets)")?,
    };
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
    // Every tenant's rendered public site (kept in STATUSPAGE_RENDER_DIR), rebuilt when another
    // server (or this one) announces a change.
    tracing::info!(dir = ?render.dir, bucket = ?render.bucket.as_ref().map(|k| k.bucket().to_owned()), ttl_secs = render.ttl.as_secs(), "public sites rendered into memory and kept on disk");
    let site = web::public::render::PublicSite::new(render);
    // Started without PostgreSQL: kept renders answer at once until the listener connects.
    site.set_database_down(migrating.is_some());
    background.push(tokio::spawn(web::public::render::run_change_listener(
        app.clone(),
        site.clone(),
    )));
    let mut demo_inbox_url = None;
    let mut demo_seed = None;
    if let Some((targets_addr, mail_dir)) = &demo_targets {
        let inbox = demo::DemoInbox::with_regions(mail_dir.clone(), &config.regions);
        let (targets, task) = demo::serve_targets(*targets_addr, inbox.clone()).await?;
        background.push(task);
        demo_inbox_url = Some(format!("http://{targets}/inbox"));
        demo_seed = Some((targets, inbox));
    }
    // The engine's timers, the outbox workers, alert routing's sweeper and the maintenance
    // announcer: every app server runs them; several may share one database. Without
    // PostgreSQL at start, they (and the demo's seed) start once the migrations ran.
    match migrating {
        None => {
            background.extend(web::server::spawn_alerting(&app, delivery));
            if let Some((targets, inbox)) = &demo_seed {
                demo::seed(&app, *targets, inbox).await?;
            }
        }
        Some(migrating) => {
            let app = app.clone();
            background.push(tokio::spawn(async move {
                if migrating.await.is_err() {
                    return;
                }
                // Detached: they run as long as the process.
                drop(web::server::spawn_alerting(&app, delivery));
                if let Some((targets, inbox)) = &demo_seed {
                    if let Err(e) = demo::seed(&app, *targets, inbox).await {
                        tracing::error!(error = %e, "seeding the demo failed");
                    }
                }
            }));
        }
    }
    // CHECKER_SCHEDULE_SYNC: each region's EventBridge schedules follow its monitors.
    background.extend(web::server::spawn_schedule_keeper(&app, &config).await);
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

    let metrics_url = match config.metrics_addr {
        Some(metrics_addr) => {
            let token = config.metrics_token.clone().filter(|t| !t.is_empty());
            let (bound, task) =
                web::server::metrics::serve(metrics_addr, app.clone(), site.clone(), token).await?;
            background.push(task);
            tracing::info!(addr = %bound, "metrics listening (GET /metrics)");
            Some(format!("http://{bound}/metrics"))
        }
        None => None,
    };
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
        if let Some(metrics) = &metrics_url {
            println!("  Metrics     : {metrics}  (Prometheus)");
        }
        println!("  Ctrl-C stops everything.");
        println!();
    }
    let app_router = router_with_site(
        app,
        &config.site_root,
        config.secure_cookies,
        Some(port),
        site,
    );
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
