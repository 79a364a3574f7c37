//! The agent's side of the API: find the site, then ask for its rendered config with the ETag it
//! holds, so an unchanged site costs a 304 (held by the server up to `wait` seconds).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::{header, StatusCode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Rendered config is one line per mapping; this leaves room for millions of them.
const MAX_BODY: usize = 256 * 1024 * 1024;
/// Beyond the wait the server may hold a request, for the answer itself to arrive.
const GRACE: Duration = Duration::from_secs(30);

/// Why an exchange failed, and whether trying again can help.
#[derive(Debug)]
pub enum Failure {
    /// The server is unreachable, overloaded or the database is down: try again later.
    Retry(String),
    /// The server refused what the agent asks (token, site, format, option): a person must act.
    Fatal(String),
}

pub enum Fetched {
    Changed { etag: Option<String>, body: Vec<u8> },
    Unchanged,
}

pub struct Server {
    client: awc::Client,
    api: String,
    token: Option<String>,
}

/// How the agent proves who it is: a bearer token, a client certificate registered with
/// `certmap api-client add` (https only), or both.
pub struct Credentials<'a> {
    pub token: Option<String>,
    pub ca_cert: Option<&'a Path>,
    pub client_cert: Option<(&'a Path, &'a Path)>,
}

impl Server {
    /// `url` is where certmap answers, e.g. `https://certmap.contoso.com` (the API lives under `/api/v1`).
    pub fn new(url: &str, credentials: Credentials<'_>) -> Result<Self, String> {
        let base = url.trim_end_matches('/');
        let mut connector = awc::Connector::new();
        if base.starts_with("https://") {
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let tls = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS: {e}"))?
                .with_root_certificates(crate::tls::client_roots(credentials.ca_cert, "--ca-cert")?);
            let tls = match credentials.client_cert {
                None => tls.with_no_client_auth(),
                Some((cert, key)) => {
                    let chain = CertificateDer::pem_file_iter(cert)
                        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                        .map_err(|e| format!("--client-cert {}: {e}", cert.display()))?;
                    let key = PrivateKeyDer::from_pem_file(key)
                        .map_err(|e| format!("--client-key {}: {e}", key.display()))?;
                    tls.with_client_auth_cert(chain, key).map_err(|e| format!("--client-cert: {e}"))?
                }
            };
            connector = connector.rustls_0_23(Arc::new(tls));
        } else if !base.starts_with("http://") {
            return Err(format!("--server {url}: expected http:// or https://"));
        } else if credentials.client_cert.is_some() {
            return Err(format!("--server {url}: a client certificate needs https"));
        }
        if credentials.token.is_none() && credentials.client_cert.is_none() {
            return Err("give a token (CERTMAP_TOKEN) or a client certificate (--client-cert)".into());
        }
        if credentials.token.as_deref().is_some_and(|t| t.trim().split('.').count() != 3) {
            return Err("CERTMAP_TOKEN is not a certmap token (a JWT: three base64url parts joined by dots); \
                        paste the whole output of `certmap token issue --role gateway`"
                .into());
        }
        let client = awc::Client::builder().connector(connector).disable_redirects().finish();
        Ok(Self { client, api: format!("{base}/api/v1"), token: credentials.token })
    }

    /// A numeric id as it is; a name looked up in the site list, or (for a gateway token, which
    /// may not list sites) among the snapshots it may read.
    pub async fn site_id(&self, site: &str) -> Result<i64, Failure> {
        if let Ok(id) = site.parse::<i64>() {
            return Ok(id);
        }
        // A gateway token may not list sites: asking would only leave a 403 in the server's log at
        // every start. Its role claim, read without checking (the server checks), says so ahead.
        if self.token.as_deref().and_then(claimed_role).as_deref() == Some("gateway") {
            return self.site_id_from_snapshots(site).await;
        }
        let url = format!("{}/sites", self.api);
        let (status, _, body) = self.get(&url, &[("name", site)], None, Duration::ZERO).await?;
        if status == StatusCode::FORBIDDEN {
            return self.site_id_from_snapshots(site).await;
        }
        if status != StatusCode::OK {
            return Err(refusal(status, &url, &body));
        }
        let page: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| Failure::Retry(format!("{url}: not the site list: {e}")))?;
        page["items"]
            .as_array()
            .and_then(|items| items.first())
            .and_then(|site| site["id"].as_i64())
            .ok_or_else(|| not_found(site))
    }

    async fn site_id_from_snapshots(&self, site: &str) -> Result<i64, Failure> {
        let url = format!("{}/snapshot", self.api);
        let (status, _, body) = self.get(&url, &[], None, Duration::ZERO).await?;
        if status != StatusCode::OK {
            return Err(refusal(status, &url, &body));
        }
        let all: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| Failure::Retry(format!("{url}: not snapshots: {e}")))?;
        // IIS compares site names case-insensitively, and so does certmap.
        all["sites"]
            .as_array()
            .and_then(|sites| sites.iter().find(|s| s["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(site))))
            .and_then(|s| s["site_id"].as_i64())
            .ok_or_else(|| not_found(site))
    }

    /// `GET .../config/{format}`; with an ETag, a 304 (held up to `wait`) when nothing changed.
    pub async fn config(
        &self,
        site_id: i64,
        format: &str,
        options: &[(String, String)],
        etag: Option<&str>,
        wait: Duration,
    ) -> Result<Fetched, Failure> {
        let url = format!("{}/sites/{site_id}/config/{format}", self.api);
        let mut query: Vec<(&str, &str)> = options.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let wait_secs = wait.as_secs().to_string();
        if !wait.is_zero() {
            query.push(("wait", &wait_secs));
        }
        let (status, headers, body) = self.get(&url, &query, etag, wait).await?;
        match status {
            StatusCode::OK => Ok(Fetched::Changed {
                etag: headers.get(header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned),
                body,
            }),
            StatusCode::NOT_MODIFIED => Ok(Fetched::Unchanged),
            _ => Err(refusal(status, &url, &body)),
        }
    }

    async fn get(
        &self,
        url: &str,
        query: &[(&str, &str)],
        etag: Option<&str>,
        wait: Duration,
    ) -> Result<(StatusCode, header::HeaderMap, Vec<u8>), Failure> {
        let mut req = self
            .client
            .get(url)
            .query(&query)
            .map_err(|e| Failure::Fatal(format!("--option: {e}")))?
            .timeout(wait + GRACE);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(tag) = etag {
            req = req.insert_header((header::IF_NONE_MATCH, tag));
        }
        let mut res = req.send().await.map_err(|e| Failure::Retry(format!("{url}: {e}")))?;
        let body = res.body().limit(MAX_BODY).await.map_err(|e| Failure::Retry(format!("{url}: {e}")))?;
        Ok((res.status(), res.headers().clone(), body.to_vec()))
    }
}

fn not_found(site: &str) -> Failure {
    Failure::Fatal(format!("no site named {site:?} (or not one this token may see)"))
}

/// The `role` claim of a JWT, unverified: only a hint for which request to make first.
fn claimed_role(token: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = token.trim().split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<serde_json::Value>(&json).ok()?["role"].as_str().map(str::to_owned)
}

/// The `detail` of a problem+json answer, or the start of whatever else came back.
fn problem(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|p| p["detail"].as_str().or(p["title"].as_str()).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned())
}

/// Overload and outages pass; a refused token, an unknown site or a bad option do not.
fn refusal(status: StatusCode, url: &str, body: &[u8]) -> Failure {
    let message = format!("{url}: {status}: {}", problem(body));
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT {
        Failure::Retry(message)
    } else {
        Failure::Fatal(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_retried_refusals_are_not() {
        for code in [500, 502, 503, 504, 429, 408] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(matches!(refusal(status, "u", b""), Failure::Retry(_)), "{code}");
        }
        for code in [400, 401, 403, 404, 406, 422] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(matches!(refusal(status, "u", b""), Failure::Fatal(_)), "{code}");
        }
    }

    #[test]
    fn problem_detail_is_what_the_log_shows() {
        assert_eq!(problem(br#"{"title": "Not found", "detail": "no site 7"}"#), "no site 7");
        assert_eq!(problem(b"<html>bad gateway</html>"), "<html>bad gateway</html>");
    }

    fn token(t: &str) -> Credentials<'static> {
        Credentials { token: Some(t.into()), ca_cert: None, client_cert: None }
    }

    #[test]
    fn a_tokens_role_is_read_without_a_key() {
        use base64::Engine as _;
        let part = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        let jwt = format!("{}.{}.sig", part(r#"{"alg":"HS256"}"#), part(r#"{"sub":"gw","role":"gateway"}"#));
        assert_eq!(claimed_role(&jwt).as_deref(), Some("gateway"));
        assert_eq!(claimed_role("garbage"), None);
        assert_eq!(claimed_role("a.b.c"), None);
    }

    #[test]
    fn only_http_and_https_servers_and_some_credential() {
        assert!(Server::new("ftp://certmap", token("t.t.t")).is_err());
        assert!(Server::new("http://certmap:8080/", token("t.t.t")).is_ok());
        let garbage = Server::new("http://certmap:8080/", token("pasted-half")).err().unwrap_or_default();
        assert!(garbage.contains("not a certmap token"), "{garbage}");
        let none = Credentials { token: None, ca_cert: None, client_cert: None };
        assert!(Server::new("http://certmap:8080/", none).err().unwrap_or_default().contains("CERTMAP_TOKEN"));
        let (cert, key) = (Path::new("gw.pem"), Path::new("gw.key"));
        let plain = Credentials { token: None, ca_cert: None, client_cert: Some((cert, key)) };
        assert!(Server::new("http://certmap:8080/", plain).err().unwrap_or_default().contains("needs https"));
    }
}
