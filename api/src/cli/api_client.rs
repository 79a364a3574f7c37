//! `certmap api-client add`: register a client certificate as a caller with a role.

use std::path::PathBuf;

use certmap_db::queries::api_clients;
use clap::{Args, Subcommand};

use super::DatabaseArgs;
use crate::domain::certificate::Certificate;
use crate::domain::client_identity::ClientIdentity;
use crate::startup::{Database, StartError};

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
    /// The one form in which this client sends certificates to authorize: nginx, envoy, traefik,
    /// caddy, haproxy, apache, rfc9440 or fingerprint. Authorize refuses every other form's
    /// headers. Without it: nginx.
    #[arg(long, value_name = "FORM")]
    pub client_identity: Option<ClientIdentity>,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

pub fn add(args: &ApiClientArgs) -> Result<(), StartError> {
    let bytes = std::fs::read(&args.cert)?;
    let cert = Certificate::parse_bytes(&bytes)
        .map_err(|e| StartError::Input(format!("{}: {e}", args.cert.display())))?
        .certificate;
    let sha256 = cert.info().sha256.clone();
    let sites = (!args.sites.is_empty()).then(|| args.sites.clone());
    let mut id = None;
    let database = Database::open(&args.database.source())?.or_close(|db| {
        let mut conn = db.connect()?;
        id = Some(
            api_clients::insert(
                &mut conn,
                &args.name,
                &sha256,
                args.role.as_str(),
                sites.clone(),
                args.client_identity.map(ClientIdentity::as_str),
            )
            .map_err(|e| StartError::Input(format!("cannot register the client: {e}")))?,
        );
        Ok(())
    })?;
    database.close();
    let form = args.client_identity.map_or_else(|| "undeclared: nginx".to_owned(), |f| f.to_string());
    println!(
        "registered api client {} ({}, role {}, client identity {form}) for certificate sha256 {sha256}",
        id.expect("set when or_close succeeds"),
        args.name,
        args.role.as_str()
    );
    Ok(())
}
