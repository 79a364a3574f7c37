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
    /// Seconds after the database last answered during which gateways (authorize, snapshots,
    /// long-polls) are still answered from memory, marked `X-Certmap-Stale`; 0 answers 503 at once.
    #[arg(long, env = "CERTMAP_SERVE_STALE_FOR", default_value_t = 300)]
    pub serve_stale_for: u64,
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
            serve_stale_for: std::time::Duration::from_secs(self.serve_stale_for),
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
