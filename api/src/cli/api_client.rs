//! `certmap api-client add|list|remove`: the client certificates that authenticate callers (mTLS).

use std::path::PathBuf;

use certmap_db::queries::api_clients;
use clap::{Args, Subcommand};

use super::DatabaseArgs;
use crate::domain::certificate::Certificate;
use crate::domain::client_identity::ClientIdentity;
use crate::domain::mapping::rfc3339;
use crate::startup::{Database, StartError};

#[derive(Debug, Subcommand)]
pub enum ApiClientCommand {
    /// Register a client certificate with a role (and optionally sites).
    Add(ApiClientArgs),
    /// List the registered client certificates.
    List(DatabaseArgs),
    /// Remove a registered client by its id or name (every client of that name); its
    /// certificate stops authenticating at once, on every replica.
    Remove(RemoveArgs),
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The id `list` shows, or the name given to `add`.
    pub client: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
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

pub fn run(command: &ApiClientCommand) -> Result<(), StartError> {
    match command {
        ApiClientCommand::Add(args) => add(args),
        ApiClientCommand::List(args) => list(args),
        ApiClientCommand::Remove(args) => remove(args),
    }
}

fn add(args: &ApiClientArgs) -> Result<(), StartError> {
    let bytes = std::fs::read(&args.cert)?;
    let cert = Certificate::parse_bytes(&bytes)
        .map_err(|e| StartError::Input(format!("{}: {e}", args.cert.display())))?
        .certificate;
    let sha256 = cert.info().sha256.clone();
    let sites = (!args.sites.is_empty()).then(|| args.sites.clone());
    let mut id = None;
    with_connection(&args.database, |conn| {
        id = Some(
            api_clients::insert(
                conn,
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
    let form = args.client_identity.map_or_else(|| "undeclared: nginx".to_owned(), |f| f.to_string());
    println!(
        "registered api client {} ({}, role {}, client identity {form}) for certificate sha256 {sha256}",
        id.expect("set when or_close succeeds"),
        args.name,
        args.role.as_str()
    );
    Ok(())
}

fn list(args: &DatabaseArgs) -> Result<(), StartError> {
    let mut clients = Vec::new();
    with_connection(args, |conn| {
        clients = api_clients::list(conn).map_err(|e| StartError::Input(format!("cannot list the clients: {e}")))?;
        Ok(())
    })?;
    if clients.is_empty() {
        println!("no api clients are registered (add one with `certmap api-client add`)");
        return Ok(());
    }
    println!(
        "{:>4}  {:<20}  {:<7}  {:<24}  {:<11}  {:<20}  certificate sha256",
        "id", "name", "role", "sites", "identity", "registered"
    );
    for c in clients {
        let sites = c.sites.map_or_else(|| "(every site)".to_owned(), |s| s.join(", "));
        let registered = rfc3339(c.created_at.replace_nanosecond(0).unwrap_or(c.created_at));
        let identity = c.client_identity.unwrap_or_else(|| "(nginx)".to_owned());
        println!(
            "{:>4}  {:<20}  {:<7}  {:<24}  {:<11}  {:<20}  {}",
            c.id, c.name, c.role, sites, identity, registered, c.sha256
        );
    }
    Ok(())
}

fn remove(args: &RemoveArgs) -> Result<(), StartError> {
    let mut removed = 0;
    with_connection(&args.database, |conn| {
        removed = api_clients::remove(conn, &args.client)
            .map_err(|e| StartError::Input(format!("cannot remove the client: {e}")))?;
        Ok(())
    })?;
    match removed {
        0 => Err(StartError::Input(format!(
            "no api client has the id or name {:?}; `certmap api-client list` shows them",
            args.client
        ))),
        n => {
            println!(
                "removed {n} api client(s) named or numbered {:?}; their certificates no longer authenticate",
                args.client
            );
            Ok(())
        }
    }
}

/// Opens the database (starting the private cluster if need be), runs `step` and closes again.
fn with_connection(
    args: &DatabaseArgs,
    step: impl FnOnce(&mut diesel::PgConnection) -> Result<(), StartError>,
) -> Result<(), StartError> {
    let (_, source) = args.resolve()?;
    Database::open(&source)?.or_close(|db| step(&mut db.connect()?))?.close();
    Ok(())
}
