//! `certmap token issue`: bearer tokens signed with the server's own secret.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use time::Duration;

use crate::auth::{AuthConfig, AuthError, JwtKeys};
use crate::domain::client_identity::ClientIdentity;
use crate::domain::mapping::parse_window;
use crate::startup::StartError;

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
    /// The one form in which the holder sends client certificates to authorize: nginx, envoy,
    /// traefik, caddy, haproxy, apache, rfc9440 or fingerprint. Authorize refuses every other
    /// form's headers. Without it: nginx. A bare fingerprint is read only when declared here.
    #[arg(long, value_name = "FORM")]
    pub client_identity: Option<ClientIdentity>,
    /// Who the token is for; recorded in the audit log.
    #[arg(long, default_value = "certmap-cli")]
    pub subject: String,
    #[arg(long, env = "CERTMAP_DATA_DIR", default_value = "./certmap-data")]
    pub data_dir: PathBuf,
}

/// `certmap token issue`: signs with the same secret the server verifies with.
pub fn issue(args: &TokenArgs) -> Result<String, StartError> {
    let ttl = parse_window(&args.ttl).map_err(|r| AuthError::Invalid(format!("--ttl: {}", r.message)))?;
    if ttl <= Duration::ZERO {
        return Err(AuthError::Invalid("--ttl must be positive".into()).into());
    }
    let keys = JwtKeys::load(&AuthConfig::from_env(), &args.data_dir)?;
    let sites = (!args.sites.is_empty()).then(|| args.sites.clone());
    Ok(keys.issue_declaring(&args.subject, args.role, sites, args.client_identity, ttl))
}
