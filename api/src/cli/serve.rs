//! `certmap serve`: the HTTP API.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::DatabaseArgs;
use crate::config::{SecretConfig, ServeConfig};
use crate::startup::StartError;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CERTMAP_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "CERTMAP_WORKERS")]
    pub workers: Option<usize>,
    /// Writes (POST, PATCH, DELETE) allowed per caller per minute.
    #[arg(long, env = "CERTMAP_WRITE_RATE", default_value_t = 600)]
    pub write_rate: u32,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "CERTMAP_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "CERTMAP_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Also accept client certificates from these CAs (PEM); a registered one (`certmap api-client
    /// add`) authenticates without a token.
    #[arg(long, env = "CERTMAP_CLIENT_CA", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
    /// Maximum database connections.
    #[arg(long, env = "CERTMAP_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: u32,
    /// Long-poll requests (`?wait=`) allowed to wait at once; beyond it they are answered at once.
    #[arg(long, env = "CERTMAP_MAX_LONG_POLLS", default_value_t = 10_000)]
    pub max_long_polls: usize,
    /// Seconds between fetches of each CRL distribution point at the latest (sooner before a
    /// CRL's nextUpdate).
    #[arg(long, env = "CERTMAP_CRL_REFRESH", default_value_t = 3600)]
    pub crl_refresh: u64,
    /// Milliseconds one fetch of a CRL distribution point may take, body included.
    #[arg(long, env = "CERTMAP_CRL_FETCH_TIMEOUT_MS", default_value_t = 10_000)]
    pub crl_fetch_timeout_ms: u64,
    /// Hosts (comma-separated) whose CRL distribution points are fetched even when only a
    /// certificate that no trusted CA issued names them; points named by a trusted CA, or by a
    /// certificate it issued, need no listing.
    #[arg(long, env = "CERTMAP_REVOCATION_FETCH_ALLOW", value_delimiter = ',')]
    pub revocation_fetch_allow: Vec<String>,
    /// PEM CA certificates `https` distribution points are verified against, instead of the
    /// system's.
    #[arg(long, env = "CERTMAP_FETCH_CA_FILE")]
    pub fetch_ca_file: Option<PathBuf>,
    /// Seconds an OCSP answer is kept at most (less when its nextUpdate is sooner).
    #[arg(long, env = "CERTMAP_OCSP_MAX_CACHE", default_value_t = 3600)]
    pub ocsp_max_cache: u64,
    /// Milliseconds one request to an OCSP responder may take; the authorize call that missed the
    /// cache waits that long at most, then the status is unknown.
    #[arg(long, env = "CERTMAP_OCSP_TIMEOUT_MS", default_value_t = 3000)]
    pub ocsp_timeout_ms: u64,
    /// Seconds after the database last answered during which gateways (authorize, snapshots,
    /// long-polls) are still answered from memory, marked `X-Certmap-Stale`; 0 answers 503 at once.
    #[arg(long, env = "CERTMAP_SERVE_STALE_FOR", default_value_t = 300)]
    pub serve_stale_for: u64,
    /// Megabytes of built snapshot documents (plain and gzipped) kept in memory. Past it the least
    /// recently sent are let go and built again when next asked for; a 304 never needs them.
    #[arg(long, env = "CERTMAP_SNAPSHOT_CACHE_MB", default_value_t = 128)]
    pub snapshot_cache_mb: usize,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

impl ServeArgs {
    /// The configuration, after the data directory was chosen (and logged: it decides where the
    /// database and the secrets are, the first thing to know when something is off).
    pub fn config(&self) -> Result<ServeConfig, StartError> {
        let (data_dir, database) = self.database.resolve()?;
        tracing::info!("data directory: {data_dir}");
        Ok(ServeConfig {
            listen: self.listen,
            database,
            data_dir: data_dir.path,
            secrets: SecretConfig::from_env(),
            auth: crate::auth::AuthConfig::from_env(),
            writes_per_minute: self.write_rate,
            workers: self.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            db_pool_size: self.db_pool_size,
            max_long_polls: self.max_long_polls,
            crl_refresh: std::time::Duration::from_secs(self.crl_refresh.max(1)),
            fetch: crate::config::FetchConfig {
                timeout: std::time::Duration::from_millis(self.crl_fetch_timeout_ms.max(1)),
                allow_hosts: self
                    .revocation_fetch_allow
                    .iter()
                    .map(|h| h.trim().to_ascii_lowercase())
                    .filter(|h| !h.is_empty())
                    .collect(),
                ca_file: self.fetch_ca_file.clone(),
            },
            ocsp: crate::config::OcspConfig {
                max_cache: std::time::Duration::from_secs(self.ocsp_max_cache),
                timeout: std::time::Duration::from_millis(self.ocsp_timeout_ms.max(1)),
            },
            serve_stale_for: std::time::Duration::from_secs(self.serve_stale_for),
            snapshot_cache_bytes: self.snapshot_cache_mb.saturating_mul(1 << 20),
            tls: match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => Some(crate::tls::TlsConfig {
                    cert: cert.clone(),
                    key: key.clone(),
                    client_ca: self.client_ca.clone(),
                }),
                _ => None,
            },
        })
    }
}
