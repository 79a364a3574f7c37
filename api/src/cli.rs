//! The `certmap` command line. Every flag has a `CERTMAP_*` variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{DatabaseSource, SecretConfig, ServeConfig};
use crate::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(name = "certmap", version, about = "System of record for IIS client-certificate mappings and mTLS gateways")]
pub struct Cli {
    #[arg(long, env = "CERTMAP_LOG_FORMAT", value_enum, default_value = "human", global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (migrations run first).
    Serve(ServeArgs),
    /// Run pending database migrations and exit.
    Migrate(DatabaseArgs),
    /// Print the OpenAPI document and exit.
    Openapi,
    /// Re-encrypt every stored password under the current secret key. With a key file (no
    /// CERTMAP_SECRET_KEY), first generate a new key and keep the old one in secret.key.old.
    RotateSecretKey(DatabaseArgs),
    /// Bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Callers that authenticate with a client certificate (mTLS) instead of a token.
    #[command(subcommand)]
    ApiClient(ApiClientCommand),
    /// Lint an IIS applicationHost.config, exported <location> or web.config, offline: prints
    /// `file:line: severity: message` with IIS's symptom and the fix; exits 1 when any finding is
    /// an error, 2 when the file cannot be read.
    Lint(LintArgs),
    /// Keep a gateway's config file in step with certmap: long-poll, replace atomically, check,
    /// then reload. The gateway keeps its last good file whenever certmap is down or the check fails.
    Pull(PullArgs),
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// The configuration file; `-` reads standard input.
    pub file: PathBuf,
    /// For a web.config, which names no site: the IIS site it belongs to.
    #[arg(long)]
    pub site: Option<String>,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Where certmap answers, e.g. https://certmap.contoso.com.
    #[arg(long, env = "CERTMAP_SERVER")]
    pub server: String,
    /// A bearer token (`certmap token issue --role gateway --site NAME`). Prefer the variable to
    /// the flag: command lines are visible to every user of the host.
    #[arg(long, env = "CERTMAP_TOKEN", hide_env_values = true, required_unless_present = "client_cert")]
    pub token: Option<String>,
    /// Authenticate with this client certificate (PEM) instead, registered with `certmap
    /// api-client add --role gateway`; needs an https --server.
    #[arg(long, env = "CERTMAP_CLIENT_CERT", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// The private key (PEM) of --client-cert.
    #[arg(long, env = "CERTMAP_CLIENT_KEY", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// The site's numeric id, or its name (case-insensitive, as IIS compares them).
    #[arg(long, env = "CERTMAP_SITE")]
    pub site: String,
    #[arg(long, value_parser = ["nginx", "haproxy", "haproxy-map", "apache", "iis", "powershell"])]
    pub format: String,
    /// The file the gateway reads; replaced atomically (its mode and owner are kept).
    #[arg(long)]
    pub out: PathBuf,
    /// Also keep the site's client CA bundle (`config/ca-bundle`) in this file, replaced, checked
    /// and rolled back together with --out.
    #[arg(long)]
    pub ca_out: Option<PathBuf>,
    /// An option of the config endpoint as key=value (listen, upstream, header, server_cert,
    /// server_key, ca_bundle, verify_depth, map_file, standalone); repeat for several.
    #[arg(long = "option", value_name = "KEY=VALUE", value_parser = crate::pull::parse_option)]
    pub options: Vec<(String, String)>,
    /// Run by `sh -c` with the new file in place, e.g. 'nginx -t -q'; a failure puts the previous
    /// file back and skips the reload.
    #[arg(long)]
    pub check: Option<String>,
    /// Run by `sh -c` once the check passed, e.g. 'nginx -s reload'.
    #[arg(long)]
    pub reload: Option<String>,
    /// Trust only these CAs (PEM) for an https --server, e.g. a private certmap CA. Default: the
    /// system's CA certificates.
    #[arg(long, env = "CERTMAP_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Seconds the server may hold a request while nothing changes (it caps this at 60).
    #[arg(long, default_value_t = 55)]
    pub wait: u64,
    /// The least milliseconds between two requests, whatever the server does with --wait.
    #[arg(long, default_value_t = 1000)]
    pub interval_ms: u64,
    /// Seconds --check or --reload may run before it is killed (and counts as failed).
    #[arg(long, default_value_t = 60)]
    pub command_timeout: u64,
    /// One exchange (fetch, write, check, reload) and exit: non-zero if any step failed.
    #[arg(long)]
    pub once: bool,
}

impl PullArgs {
    pub fn config(self) -> crate::pull::PullConfig {
        use std::time::Duration;
        crate::pull::PullConfig {
            server: self.server,
            token: self.token,
            client_cert: self.client_cert.zip(self.client_key),
            site: self.site,
            format: self.format,
            out: self.out,
            ca_out: self.ca_out,
            options: self.options,
            check: self.check,
            reload: self.reload,
            ca_cert: self.ca_cert,
            wait: Duration::from_secs(self.wait),
            interval: Duration::from_millis(self.interval_ms),
            command_timeout: Duration::from_secs(self.command_timeout),
            once: self.once,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ApiClientCommand {
    /// Register a client certificate with a role (and optionally sites).
    Add(ApiClientArgs),
}

#[derive(Debug, Args)]
pub struct ApiClientArgs {
    /// A name for the audit log, e.g. the gateway's host name.
    #[arg(long)]
    pub name: String,
    #[arg(long, value_enum)]
    pub role: crate::auth::Role,
    /// The client's certificate (PEM or DER).
    #[arg(long)]
    pub cert: PathBuf,
    /// Limit the client to this site; repeat for several.
    #[arg(long = "site")]
    pub sites: Vec<String>,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a token signed with the server's secret (CERTMAP_JWT_SECRET or <data-dir>/jwt.secret).
    Issue(TokenArgs),
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[arg(long, value_enum)]
    pub role: crate::auth::Role,
    /// Limit the token to this site (by name); repeat for several. Without it, every site.
    #[arg(long = "site")]
    pub sites: Vec<String>,
    /// Lifetime, e.g. 12h, 30d, 90m.
    #[arg(long, default_value = "12h")]
    pub ttl: String,
    /// Who the token is for; recorded in the audit log.
    #[arg(long, default_value = "certmap-cli")]
    pub subject: String,
    #[arg(long, env = "CERTMAP_DATA_DIR", default_value = "./certmap-data")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL. Without it certmap runs its own cluster under --data-dir.
    #[arg(long, env = "CERTMAP_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Where the private PostgreSQL cluster and the secret key file live. Password keys come from
    /// CERTMAP_SECRET_KEY / CERTMAP_SECRET_KEY_OLD (base64, 32 bytes) or <data-dir>/secret.key.
    #[arg(long, env = "CERTMAP_DATA_DIR", default_value = "./certmap-data")]
    pub data_dir: PathBuf,
}

impl DatabaseArgs {
    pub fn source(&self) -> DatabaseSource {
        match &self.database_url {
            Some(url) if !url.is_empty() => DatabaseSource::Url(url.clone()),
            _ => DatabaseSource::Embedded { data_dir: self.data_dir.clone() },
        }
    }
}

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
    #[command(flatten)]
    pub database: DatabaseArgs,
}

impl ServeArgs {
    pub fn config(&self) -> ServeConfig {
        ServeConfig {
            listen: self.listen,
            database: self.database.source(),
            data_dir: self.database.data_dir.clone(),
            secrets: SecretConfig::from_env(),
            auth: crate::auth::AuthConfig::from_env(),
            writes_per_minute: self.write_rate,
            workers: self.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            db_pool_size: self.db_pool_size,
            max_long_polls: self.max_long_polls,
            tls: match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => Some(crate::tls::TlsConfig {
                    cert: cert.clone(),
                    key: key.clone(),
                    client_ca: self.client_ca.clone(),
                }),
                _ => None,
            },
        }
    }
}
