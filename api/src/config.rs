//! Runtime configuration, built once from the command line and `CERTMAP_*` variables and passed
//! down explicitly.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Where the data lives: a server someone runs, or certmap's own private cluster.
#[derive(Debug, Clone)]
pub enum DatabaseSource {
    Url(String),
    Embedded { data_dir: PathBuf },
}

/// Where the password-encryption keys come from: `CERTMAP_SECRET_KEY` (and `_OLD` for keys still
/// accepted for decryption), or a key file created in the data directory on first start.
#[derive(Clone, Default)]
pub struct SecretConfig {
    pub key: Option<String>,
    pub old_keys: Option<String>,
}

impl std::fmt::Debug for SecretConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretConfig").field("key", &self.key.as_ref().map(|_| "***")).finish_non_exhaustive()
    }
}

impl SecretConfig {
    pub fn from_env() -> Self {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        Self { key: var("CERTMAP_SECRET_KEY"), old_keys: var("CERTMAP_SECRET_KEY_OLD") }
    }
}

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub database: DatabaseSource,
    pub data_dir: PathBuf,
    pub secrets: SecretConfig,
    pub auth: crate::auth::AuthConfig,
    /// Writes allowed per caller per minute.
    pub writes_per_minute: u32,
    pub workers: usize,
    pub db_pool_size: u32,
    /// Long-poll requests allowed to wait at once; more are answered at once.
    pub max_long_polls: usize,
    /// HTTPS (and optionally client certificates); plain HTTP without it.
    pub tls: Option<crate::tls::TlsConfig>,
    /// How often CRLs are fetched again from their distribution points at the latest (sooner when
    /// one nears its nextUpdate).
    pub crl_refresh: std::time::Duration,
    /// How long after the database last answered gateways are still served what is held in
    /// memory (authorize, snapshots, long-polls); past it they get 503 like everything else.
    pub serve_stale_for: std::time::Duration,
    /// Bytes of built snapshot documents (plain and gzipped) kept in memory; past it the least
    /// recently sent are built again when next asked for.
    pub snapshot_cache_bytes: usize,
    pub ocsp: OcspConfig,
    pub fetch: FetchConfig,
}

/// How CRLs are fetched from distribution points.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// How long one fetch may take, body included.
    pub timeout: std::time::Duration,
    /// Hosts whose distribution points are fetched even when only a certificate no trusted CA
    /// issued names them (those are whoever uploaded the certificate's word).
    pub allow_hosts: Vec<String>,
    /// The CAs `https` distribution points are verified against instead of the system's.
    pub ca_file: Option<std::path::PathBuf>,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self { timeout: std::time::Duration::from_secs(10), allow_hosts: Vec::new(), ca_file: None }
    }
}

/// How authorize and resolve ask OCSP responders.
#[derive(Debug, Clone, Copy)]
pub struct OcspConfig {
    /// The longest an answer is kept, even when its nextUpdate is later.
    pub max_cache: std::time::Duration,
    /// How long one request to a responder may take: a request waits for it on a cache miss.
    pub timeout: std::time::Duration,
}

impl Default for OcspConfig {
    fn default() -> Self {
        Self { max_cache: std::time::Duration::from_secs(3600), timeout: std::time::Duration::from_secs(3) }
    }
}

/// The URL with any password replaced, for logs and errors.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(redact("postgres://app:s3cret@db:5432/certmap"), "postgres://app:***@db:5432/certmap");
        assert_eq!(redact("postgres://postgres@/certmap?host=/tmp/x"), "postgres://postgres@/certmap?host=/tmp/x");
        assert_eq!(redact("postgres://db/certmap"), "postgres://db/certmap");
    }
}
