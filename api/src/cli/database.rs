//! The data-directory and database flags shared by the commands that need them.

use std::path::PathBuf;

use clap::Args;

use crate::config::DatabaseSource;
use crate::data_dir::DataDir;

#[derive(Debug, Args)]
pub struct DataDirArg {
    /// Where the private PostgreSQL cluster and the secrets (jwt.secret, secret.key) live.
    /// Default: ./certmap-data, or /var/lib/certmap when run as root from a directory the postgres
    /// user cannot reach (e.g. root's home).
    #[arg(long = "data-dir", env = "CERTMAP_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl DataDirArg {
    pub fn resolve(&self) -> DataDir {
        DataDir::resolve(self.data_dir.clone())
    }
}

#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL. Without it certmap runs its own cluster under --data-dir.
    #[arg(long, env = "CERTMAP_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    // Password keys come from CERTMAP_SECRET_KEY / CERTMAP_SECRET_KEY_OLD (base64, 32 bytes) or
    // <data-dir>/secret.key.
    #[command(flatten)]
    pub data_dir: DataDirArg,
}

impl DatabaseArgs {
    /// The data directory (created when it is the system location) and the database in it or at
    /// the URL.
    pub fn resolve(&self) -> Result<(DataDir, DatabaseSource), std::io::Error> {
        let data_dir = self.data_dir.resolve();
        data_dir.create_if_system()?;
        let source = match &self.database_url {
            Some(url) if !url.is_empty() => DatabaseSource::Url(url.clone()),
            _ => DatabaseSource::Embedded { data_dir: data_dir.path.clone() },
        };
        Ok((data_dir, source))
    }
}
