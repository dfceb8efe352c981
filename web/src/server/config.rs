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
    /// ClickHouse HTTP interface.
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
    /// Status pages are served at `<slug>.<base domain>`.
    #[arg(long, env = "STATUSPAGE_BASE_DOMAIN", default_value = "localhost")]
    pub base_domain: String,
    /// Folder holding the browser bundle under `pkg/` (built by `./dev build-web`).
    #[arg(long, env = "STATUSPAGE_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,
    /// Mark session cookies `Secure` (set when served over HTTPS).
    #[arg(long, env = "STATUSPAGE_SECURE_COOKIES", default_value_t = false)]
    pub secure_cookies: bool,
    /// Allow anyone to create a tenant with `POST /api/v1/tenants`.
    #[arg(long, env = "STATUSPAGE_OPEN_SIGNUP", default_value_t = true, action = clap::ArgAction::Set)]
    pub open_signup: bool,
    /// Shared secret signing the checkers' internal requests (at least 16 characters).
    #[arg(long, env = "CHECKER_SECRET", hide_env_values = true)]
    pub checker_secret: String,
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
}

impl ServeConfig {
    /// Checks what clap cannot; the message names the variable.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.checker_secret.len() < 16 {
            anyhow::bail!("CHECKER_SECRET must be at least 16 characters");
        }
        if self.regions.is_empty() || self.regions.iter().any(|r| !valid_region(r)) {
            anyhow::bail!(
                "CHECKER_REGIONS must be a comma-separated list of names like eu-west-1 (got {:?})",
                self.regions
            );
        }
        if self.checker_interval_secs < 5 {
            anyhow::bail!("CHECKER_INTERVAL_SECS must be at least 5");
        }
        self.guard()?;
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

    pub fn guard(&self) -> anyhow::Result<SsrfGuard> {
        let allow = SsrfGuard::parse_allowlist(&self.allow_cidrs)
            .map_err(|e| anyhow::anyhow!("CHECKER_ALLOW_CIDRS: {e}"))?;
        Ok(SsrfGuard::new(allow))
    }

    pub fn dns_resolver(&self) -> Option<String> {
        let r = self.dns_resolver.trim();
        (!r.is_empty()).then(|| r.to_owned())
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

fn valid_region(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 32
        && r.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}
