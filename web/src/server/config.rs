//! Configuration from the environment (documented in `.env.example`), checked at start.

use checker::guard::SsrfGuard;
use clap::Args;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct DatabaseConfig {
    /// PostgreSQL connection URL.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// ClickHouse HTTP interface (`https://` checks the certificate against the system's roots or
    /// SSL_CERT_FILE; the sign-in comes from CLICKHOUSE_USER and CLICKHOUSE_PASSWORD).
    #[arg(long, env = "CLICKHOUSE_URL", default_value = "http://127.0.0.1:8123")]
    pub clickhouse_url: String,
    /// ClickHouse database holding our tables (created if missing).
    #[arg(long, env = "CLICKHOUSE_DATABASE", default_value = "statuspage")]
    pub clickhouse_database: String,
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    #[command(flatten)]
    pub databases: DatabaseConfig,
    /// Address the app server listens on.
    #[arg(long, env = "STATUSPAGE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Address of the Prometheus listener (`GET /metrics`), apart from the one visitors reach.
    /// Unset: no metrics listener.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// A bearer token scrapes must send to `/metrics` (at least 16 characters). Unset: none,
    /// so keep METRICS_ADDR on a private interface.
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Status pages are served at `<slug>.<base domain>`.
    #[arg(long, env = "STATUSPAGE_BASE_DOMAIN", default_value = "localhost")]
    pub base_domain: String,
    /// Folder holding the browser bundle under `pkg/` (built by `./dev build-web`).
    #[arg(long, env = "STATUSPAGE_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,
    /// Mark session cookies `Secure` (set when served over HTTPS).
    #[arg(long, env = "STATUSPAGE_SECURE_COOKIES", default_value_t = false)]
    pub secure_cookies: bool,
    /// Where people reach the platform, e.g. `https://status.example.com`: the start of the
    /// links in account mail (verification, invitations, password resets). Unset:
    /// `http://<base domain>:<port>` (`https` with secure cookies).
    #[arg(long, env = "STATUSPAGE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Key signing the cookies of visitors who unlocked a password-protected status page (at
    /// least 32 characters). Unset: a random key generated once and kept in PostgreSQL
    /// (`platform_secrets`), shared by every app server. Never derived from CHECKER_SECRET.
    #[arg(long, env = "STATUSPAGE_COOKIE_SECRET", hide_env_values = true)]
    pub cookie_secret: Option<String>,
    /// Allow anyone to create a tenant with `POST /api/v1/tenants`.
    #[arg(long, env = "STATUSPAGE_OPEN_SIGNUP", default_value_t = true, action = clap::ArgAction::Set)]
    pub open_signup: bool,
    /// Shared secret signing the checkers' internal requests (at least 16 characters).
    #[arg(long, env = "CHECKER_SECRET", hide_env_values = true)]
    pub checker_secret: String,
    /// Per-region checker secrets, `region=secret` pairs separated by commas (each at least 16
    /// characters); a region not listed signs with CHECKER_SECRET. With its own secret, a
    /// region's leaked Lambda environment cannot speak for another region.
    #[arg(
        long,
        env = "CHECKER_SECRETS",
        hide_env_values = true,
        default_value = ""
    )]
    pub checker_secrets: String,
    /// Regions this deployment checks from (comma-separated).
    #[arg(
        long,
        env = "CHECKER_REGIONS",
        value_delimiter = ',',
        default_value = "local-eu,local-us,local-ap"
    )]
    pub regions: Vec<String>,
    /// Run the checkers in this process for every region (no AWS), as the demo does.
    #[arg(long, env = "CHECKER_LOCAL_RUNNER", default_value_t = false, action = clap::ArgAction::Set)]
    pub local_runner: bool,
    /// Seconds between local checker runs.
    #[arg(long, env = "CHECKER_INTERVAL_SECS", default_value_t = 60)]
    pub checker_interval_secs: u64,
    /// How the incident engine's re-checks reach the other regions: `local` (this server's local
    /// runner), `lambda` (the checker function of each region of CHECKER_REGIONS, invoked through
    /// the AWS SDK) or `off` (the next scheduled checks confirm). Unset: `local` when the local
    /// runner runs, else `off`.
    #[arg(long, env = "STATUSPAGE_RECHECK")]
    pub recheck: Option<String>,
    /// The checker Lambda's name in every region, as `infra` deploys it
    /// (STATUSPAGE_RECHECK=lambda).
    #[arg(long, env = "CHECKER_FUNCTION_NAME", default_value = api::engine::dispatch::DEFAULT_CHECKER_FUNCTION)]
    pub checker_function_name: String,
    /// Keep each region's EventBridge checker schedules sized to its monitors (the function
    /// must be deployed there by `infra deploy`); several app servers take turns.
    #[arg(long, env = "CHECKER_SCHEDULE_SYNC", default_value_t = false, action = clap::ArgAction::Set)]
    pub schedule_sync: bool,
    /// Checks per minute one shard (one EventBridge rule, one invocation a minute) is given at
    /// most; more load in a region adds shards (CHECKER_SCHEDULE_SYNC).
    #[arg(long, env = "CHECKER_SHARD_CHECKS_PER_MINUTE", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub shard_checks_per_minute: u32,
    /// Seconds between two looks at the regions' loads (CHECKER_SCHEDULE_SYNC); a region whose
    /// count did not change is synced again every ten minutes to repair drift.
    #[arg(long, env = "CHECKER_SCHEDULE_SYNC_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub schedule_sync_secs: u64,
    /// Endpoint override for AWS, e.g. a local emulator (`http://127.0.0.1:5000` for moto);
    /// unset: AWS's own endpoints. Credentials come from the standard AWS chain.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,
    /// Reverse proxies in front that append the client to `X-Forwarded-For`: `true` (one), a
    /// number, or `false` (the header is ignored; the TCP peer is the client).
    #[arg(long, env = "STATUSPAGE_TRUST_PROXY", default_value = "false")]
    pub trust_proxy: String,
    /// DNS resolver (`IP` or `IP:port`) for custom-domain TXT verification; empty: the system one.
    #[arg(long, env = "STATUSPAGE_DNS_RESOLVER", default_value = "")]
    pub dns_resolver: String,
    /// Private networks the checkers may probe (comma-separated CIDRs); empty refuses them all.
    #[arg(long, env = "CHECKER_ALLOW_CIDRS", default_value = "")]
    pub allow_cidrs: String,
    /// Folder for this server's local data; the local checker runner's result spool lives in
    /// `clickhouse-spool/` under it unless CLICKHOUSE_SPOOL_DIR says otherwise.
    #[arg(long, env = "STATUSPAGE_DATA")]
    pub data_dir: Option<std::path::PathBuf>,
    /// Folder keeping the last good model of every status page (one JSON file per tenant), so a
    /// server started while PostgreSQL and ClickHouse are down still serves every public page
    /// it served before. Unset: `renders/` under the data folder (STATUSPAGE_DATA); set empty:
    /// renders are kept in memory only.
    #[arg(long, env = "STATUSPAGE_RENDER_DIR", num_args = 0..=1, default_missing_value = "")]
    pub render_dir: Option<String>,
    /// Seconds a rendered status page is served before the next request rebuilds it in the
    /// background (announced changes rebuild at once).
    #[arg(long, env = "STATUSPAGE_RENDER_TTL_SECS", default_value_t = 30)]
    pub render_ttl_secs: u64,
    /// S3-compatible bucket (`bucket` or `bucket/prefix`) keeping the render folder's files too:
    /// a server on a fresh machine fetches them at start. The endpoint is AWS_ENDPOINT_URL_S3 or
    /// AWS_ENDPOINT_URL (unset: AWS S3), credentials come from the AWS SDK's usual chain.
    #[arg(long, env = "STATUSPAGE_RENDER_BUCKET")]
    pub render_bucket: Option<String>,
    /// Region of STATUSPAGE_RENDER_BUCKET; default AWS_REGION, else us-east-1.
    #[arg(long, env = "STATUSPAGE_RENDER_BUCKET_REGION")]
    pub render_bucket_region: Option<String>,
    /// The deployment's mail server for email alerts: `smtp://host:port` (plain, e.g. a local
    /// relay), `smtp://user:pass@host:587?tls=required` (STARTTLS) or `smtps://user:pass@host:465`
    /// (implicit TLS). Unset: email is not configured.
    #[arg(long, env = "STATUSPAGE_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender of email alerts; default `statuspage@<base domain>`.
    #[arg(long, env = "STATUSPAGE_MAIL_FROM")]
    pub mail_from: Option<String>,
}

impl ServeConfig {
    /// Checks what clap cannot; the message names the variable.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.schedule_sync && self.local_runner {
            anyhow::bail!(
                "CHECKER_SCHEDULE_SYNC keeps AWS schedules; with CHECKER_LOCAL_RUNNER the checks run \
                 in this process on their own schedule: turn one of them off"
            );
        }
        if self.checker_secret.len() < 16 {
            anyhow::bail!("CHECKER_SECRET must be at least 16 characters");
        }
        if let Some(token) = self.metrics_token.as_deref().filter(|s| !s.is_empty()) {
            if token.len() < 16 {
                anyhow::bail!("METRICS_TOKEN must be at least 16 characters (or unset)");
            }
            if self.metrics_addr.is_none() {
                anyhow::bail!("METRICS_TOKEN is set but METRICS_ADDR is not: set the address of the metrics listener");
            }
        }
        if let Some(secret) = self.cookie_secret.as_deref().filter(|s| !s.is_empty()) {
            if secret.len() < 32 {
                anyhow::bail!("STATUSPAGE_COOKIE_SECRET must be at least 32 characters (or unset: a key is generated and kept in PostgreSQL)");
            }
            if secret == self.checker_secret {
                anyhow::bail!("STATUSPAGE_COOKIE_SECRET must differ from CHECKER_SECRET");
            }
        }
        if self.regions.is_empty() || self.regions.iter().any(|r| !valid_region(r)) {
            anyhow::bail!(
                "CHECKER_REGIONS must be a comma-separated list of names like eu-west-1 (got {:?})",
                self.regions
            );
        }
        let secrets = self.checker_secrets()?;
        if let Some(unknown) = secrets
            .regions()
            .find(|r| !self.regions.iter().any(|known| known == r))
        {
            anyhow::bail!("CHECKER_SECRETS names {unknown}, which is not in CHECKER_REGIONS");
        }
        if !(1..=86_400).contains(&self.render_ttl_secs) {
            anyhow::bail!(
                "STATUSPAGE_RENDER_TTL_SECS must be between 1 and 86400, got {}",
                self.render_ttl_secs
            );
        }
        if let Some((bucket, _)) = self.render_bucket() {
            let valid = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                });
            if !valid {
                anyhow::bail!("STATUSPAGE_RENDER_BUCKET must start with an S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens), got {bucket:?}");
            }
            if self.render_config_dir().is_none() {
                anyhow::bail!("STATUSPAGE_RENDER_BUCKET needs the render folder: STATUSPAGE_RENDER_DIR is set empty");
            }
        }
        if self.checker_interval_secs < 5 {
            anyhow::bail!("CHECKER_INTERVAL_SECS must be at least 5");
        }
        self.recheck_mode()?;
        self.guard()?;
        self.smtp_settings()?;
        if super::pages::parse_trusted_proxies(&self.trust_proxy).is_none() {
            anyhow::bail!(
                "STATUSPAGE_TRUST_PROXY must be true, false or a number of proxies (0-10), got {:?}",
                self.trust_proxy
            );
        }
        if let Some(resolver) = self.dns_resolver() {
            let ok = resolver.parse::<SocketAddr>().is_ok()
                || resolver.parse::<std::net::IpAddr>().is_ok();
            if !ok {
                anyhow::bail!("STATUSPAGE_DNS_RESOLVER must be an IP or IP:port, got {resolver:?}");
            }
        }
        Ok(())
    }

    /// `STATUSPAGE_SMTP_URL` and `STATUSPAGE_MAIL_FROM`; `None` when no SMTP URL is set.
    pub fn smtp_settings(&self) -> anyhow::Result<Option<api::notify::email::SmtpSettings>> {
        api::notify::email::SmtpSettings::from_env_values(
            self.smtp_url.as_deref(),
            self.mail_from.as_deref(),
            &self.base_domain,
        )
    }

    pub fn guard(&self) -> anyhow::Result<SsrfGuard> {
        let allow = SsrfGuard::parse_allowlist(&self.allow_cidrs)
            .map_err(|e| anyhow::anyhow!("CHECKER_ALLOW_CIDRS: {e}"))?;
        Ok(SsrfGuard::new(allow))
    }

    /// CHECKER_SECRET for every region, overridden per region by CHECKER_SECRETS.
    pub fn checker_secrets(&self) -> anyhow::Result<checker::plan::CheckerSecrets> {
        checker::plan::CheckerSecrets::parse(&self.checker_secret, &self.checker_secrets)
            .map_err(|e| anyhow::anyhow!("CHECKER_SECRETS: {e}"))
    }

    pub fn dns_resolver(&self) -> Option<String> {
        let r = self.dns_resolver.trim();
        (!r.is_empty()).then(|| r.to_owned())
    }

    /// `STATUSPAGE_DATA`, default `~/.local/share/statuspage` (as the dev scripts use).
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.data_dir.clone().unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
                .join(".local/share/statuspage")
        })
    }

    /// The local runner's writer: retries, and a spool on by default (`clickhouse-spool/` under
    /// the data folder) so results made while ClickHouse is away are stored when it is back.
    /// `CLICKHOUSE_SPOOL_DIR` moves the spool; set empty, it turns the spool off.
    pub fn writer_config(&self) -> anyhow::Result<statuspage_clickhouse::WriterConfig> {
        let mut config = statuspage_clickhouse::WriterConfig::from_env()?;
        if std::env::var_os("CLICKHOUSE_SPOOL_DIR").is_none() {
            config.spool_dir = Some(self.data_dir().join("clickhouse-spool"));
        }
        Ok(config)
    }

    /// `STATUSPAGE_RENDER_DIR` (default `renders/` under the data folder; empty: memory only)
    /// `STATUSPAGE_RENDER_TTL_SECS` and `STATUSPAGE_RENDER_BUCKET`.
    pub async fn render_config(&self) -> crate::public::render::RenderConfig {
        let bucket = match self.render_bucket() {
            Some((bucket, prefix)) => {
                let region = self
                    .render_bucket_region
                    .clone()
                    .or_else(|| std::env::var("AWS_REGION").ok())
                    .filter(|r| !r.trim().is_empty())
                    .unwrap_or_else(|| "us-east-1".to_owned());
                let endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
                    .iter()
                    .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()));
                Some(
                    infra::keep::ObjectKeep::new(bucket, prefix, &region, endpoint.as_deref())
                        .await,
                )
            }
            None => None,
        };
        crate::public::render::RenderConfig {
            dir: self.render_config_dir(),
            ttl: Duration::from_secs(self.render_ttl_secs),
            bucket,
        }
    }

    fn render_config_dir(&self) -> Option<std::path::PathBuf> {
        match self.render_dir.as_deref().map(str::trim) {
            Some("") => None,
            Some(dir) => Some(dir.into()),
            None => Some(self.data_dir().join("renders")),
        }
    }

    /// `STATUSPAGE_RENDER_BUCKET` as bucket and prefix; `None` when unset or empty.
    fn render_bucket(&self) -> Option<(&str, &str)> {
        let value = self.render_bucket.as_deref()?.trim().trim_matches('/');
        if value.is_empty() {
            return None;
        }
        Some(value.split_once('/').unwrap_or((value, "")))
    }

    /// `STATUSPAGE_RECHECK`, with its default and what each choice needs.
    pub fn recheck_mode(&self) -> anyhow::Result<RecheckMode> {
        let mode = match self.recheck.as_deref().map(str::trim) {
            None | Some("") if self.local_runner => RecheckMode::Local,
            None | Some("") => RecheckMode::Off,
            Some("local") => RecheckMode::Local,
            Some("lambda") => RecheckMode::Lambda,
            Some("off") => RecheckMode::Off,
            Some(other) => {
                anyhow::bail!("STATUSPAGE_RECHECK must be local, lambda or off, got {other:?}")
            }
        };
        if mode == RecheckMode::Local && !self.local_runner {
            anyhow::bail!(
                "STATUSPAGE_RECHECK=local needs the local runner (CHECKER_LOCAL_RUNNER=true); use lambda or off"
            );
        }
        if mode == RecheckMode::Lambda {
            let name = self.checker_function_name.trim();
            let valid = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid {
                anyhow::bail!(
                    "CHECKER_FUNCTION_NAME must be a Lambda function name (1-64 letters, digits, - and _), got {:?}",
                    self.checker_function_name
                );
            }
            if let Some(url) = self.aws_endpoint() {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    anyhow::bail!(
                        "AWS_ENDPOINT_URL must be an http:// or https:// URL, got {url:?}"
                    );
                }
            }
        }
        Ok(mode)
    }

    /// `AWS_ENDPOINT_URL` when set and not empty.
    pub fn aws_endpoint(&self) -> Option<&str> {
        self.aws_endpoint_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
    }

    pub fn checker_interval(&self) -> Duration {
        Duration::from_secs(self.checker_interval_secs)
    }

    pub fn api_config(&self) -> api::ApiConfig {
        api::ApiConfig {
            base_domain: self.base_domain.trim().to_ascii_lowercase(),
            checker_secret: self.checker_secret.clone(),
            regions: self.regions.clone(),
            open_signup: self.open_signup,
        }
    }
}

/// How the engine's re-checks are dispatched (`STATUSPAGE_RECHECK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecheckMode {
    /// To this server's local runner.
    Local,
    /// To the checker Lambda of each region.
    Lambda,
    /// Not at all: the next scheduled checks confirm.
    Off,
}

fn valid_region(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 32
        && r.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}
