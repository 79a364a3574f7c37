//! HTTPS for the API itself (rustls with aws-lc-rs, TLS 1.2 and 1.3), and optionally client
//! certificates: a certificate registered as an API client authenticates without a token.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CAs whose client certificates are accepted (then looked up among registered API clients).
    pub client_ca: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The SHA-256 (lowercase hex) of the client certificate the connection presented, if any.
#[derive(Debug, Clone)]
pub struct PeerCertificate(pub String);

fn file_error(path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File { path: path.to_owned(), reason: reason.to_string() }
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, e))?;
    if certs.is_empty() {
        return Err(file_error(path, "holds no PEM certificate"));
    }
    Ok(certs)
}

pub fn server_config(config: &TlsConfig) -> Result<ServerConfig, TlsError> {
    // Installing twice (tests start many servers) is harmless; the first provider stays.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let chain = certificates(&config.cert)?;
    let key = PrivateKeyDer::from_pem_file(&config.key).map_err(|e| file_error(&config.key, e))?;
    let builder = ServerConfig::builder_with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12]);
    let builder = match &config.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for ca in certificates(path)? {
                roots.add(ca).map_err(|e| file_error(path, e))?;
            }
            // Optional: people still come with tokens; a certificate is one more way in, not the only one.
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
                .allow_unauthenticated()
                .build()
                .map_err(|e| file_error(path, e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut server = builder.with_single_cert(chain, key)?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(server)
}

/// For `HttpServer::on_connect`: remembers the verified client certificate of a TLS connection.
pub fn remember_peer(connection: &dyn std::any::Any, data: &mut actix_web::dev::Extensions) {
    use actix_tls::accept::rustls_0_23::TlsStream;
    if let Some(tls) = connection.downcast_ref::<TlsStream<actix_web::rt::net::TcpStream>>() {
        let (_, session) = tls.get_ref();
        if let Some(leaf) = session.peer_certificates().and_then(|c| c.first()) {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, leaf.as_ref());
            data.insert(PeerCertificate(hex::encode(digest.as_ref())));
        }
    }
}

/// The CAs a client of certmap's trusts: those in `ca_cert` (given as `flag`) alone, else the
/// system's.
pub fn client_roots(ca_cert: Option<&Path>, flag: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match ca_cert {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("{flag} {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("{flag} {}: holds no PEM certificate", path.display()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| format!("{flag} {}: {e}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!("system CA certificates: {e}");
            }
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(format!("no system CA certificates found; give the CA with {flag}"));
            }
        }
    }
    Ok(roots)
}
