//! `certmap api-client add`: register a client certificate as a caller with a role.

use certmap_db::queries::api_clients;

use crate::cli::ApiClientArgs;
use crate::domain::certificate::Certificate;
use crate::startup::{Database, StartError};

/// Returns the new client's id and the certificate's SHA-256.
pub fn add(args: &ApiClientArgs) -> Result<(i64, String), StartError> {
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
            api_clients::insert(&mut conn, &args.name, &sha256, args.role.as_str(), sites.clone())
                .map_err(|e| StartError::Input(format!("cannot register the client: {e}")))?,
        );
        Ok(())
    })?;
    database.close();
    Ok((id.expect("set when or_close succeeds"), sha256))
}
