//! The database flags shared by every command that opens the database.

use std::path::PathBuf;

use clap::Args;

use crate::config::DatabaseSource;

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
