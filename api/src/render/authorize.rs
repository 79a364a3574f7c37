//! What every per-request (`mode=authorize`) renderer shares: where certmap's authorize endpoint
//! is, how the gateway proves who it is to certmap, and which headers the gateway must send and
//! clear.
//!
//! In per-request mode the gateway renders no mapping at all: it asks certmap on every request, so
//! a mapping disabled (or a certificate revoked) through the API is refused on the next request,
//! with no reload. That promise holds only if nothing between the two caches an answer, so the
//! renderers switch caching off where their gateway could inherit it.
//!
//! The gateway sends exactly one client-identity form (the one its credential declares, see
//! [`ClientIdentity`]) and clears the client's copies of every other identity header, towards
//! certmap and towards the upstream: a client-sent fingerprint must never decide a request.

use super::options::{check_path, parse_url, Upstream};
use super::{Format, RenderError};
use crate::domain::client_identity::ClientIdentity;

/// The path of the endpoint every per-request gateway calls.
pub const ENDPOINT: &str = "/api/v1/authorize";
/// The request headers certmap reads besides the certificate (see `http/authorize.rs`).
pub const SITE_HEADER: &str = "X-Certmap-Site";
pub const URI_HEADER: &str = "X-Original-URI";
/// The answer header that names the mapped account.
pub const USER_HEADER: &str = "X-Certmap-User";

/// `map` (the default) renders the mappings into the gateway's own config; `authorize` makes the
/// gateway ask certmap on every request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Map,
    Authorize,
}

impl Mode {
    pub fn parse(raw: &str) -> Result<Self, RenderError> {
        match raw {
            "map" => Ok(Self::Map),
            "authorize" => Ok(Self::Authorize),
            _ => Err(RenderError::invalid("mode", format!("{raw:?} is not a mode: use map or authorize"))),
        }
    }
}

/// How the gateway authenticates to certmap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertmapAuth {
    /// A file the gateway's config includes, holding the `Authorization` header with a gateway
    /// token in the gateway's own syntax; the token never appears in the rendered text.
    TokenFile(String),
    /// A client certificate registered with `certmap api-client add --role gateway`.
    Mtls { cert: String, key: String },
}

/// The choices a user makes about per-request mode, as sent (query parameters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeOptions {
    /// `http(s)://host:port` where the gateway reaches certmap.
    pub certmap: String,
    /// `token-file` or `mtls`.
    pub certmap_auth: String,
    pub token_file: String,
    pub client_cert: String,
    pub client_key: String,
    /// The CA bundle the gateway verifies certmap's HTTPS certificate with.
    pub certmap_ca: String,
}

impl Default for AuthorizeOptions {
    fn default() -> Self {
        Self {
            certmap: "http://127.0.0.1:8080".into(),
            certmap_auth: "token-file".into(),
            token_file: "/etc/certmap/authorize-token.conf".into(),
            client_cert: "/etc/certmap/gateway-client.pem".into(),
            client_key: "/etc/certmap/gateway-client.key".into(),
            certmap_ca: "/etc/ssl/certs/ca-certificates.crt".into(),
        }
    }
}

/// [`AuthorizeOptions`] after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Authorize<'a> {
    pub certmap: Upstream,
    pub auth: CertmapAuth,
    pub certmap_ca: &'a str,
}

impl AuthorizeOptions {
    pub(crate) fn validate(&self) -> Result<Authorize<'_>, RenderError> {
        let certmap = parse_url("certmap", &self.certmap)?;
        let auth = match self.certmap_auth.as_str() {
            "token-file" => CertmapAuth::TokenFile(check_path("token_file", &self.token_file)?.to_owned()),
            "mtls" if !certmap.https => {
                return Err(RenderError::invalid(
                    "certmap",
                    format!(
                        "{:?} is plain HTTP: a client certificate (certmap_auth=mtls) needs https://",
                        self.certmap
                    ),
                ))
            }
            "mtls" => CertmapAuth::Mtls {
                cert: check_path("client_cert", &self.client_cert)?.to_owned(),
                key: check_path("client_key", &self.client_key)?.to_owned(),
            },
            other => {
                return Err(RenderError::invalid(
                    "certmap_auth",
                    format!("{other:?} is not a way to authenticate to certmap: use token-file or mtls"),
                ))
            }
        };
        Ok(Authorize { certmap, auth, certmap_ca: check_path("certmap_ca", &self.certmap_ca)? })
    }
}

/// Every identity header but the one `sent` (as written in config files: the canonical spelling
/// of the lower-case names in [`ClientIdentity::all_headers`]).
pub(crate) fn cleared_except(sent: Option<&str>) -> Vec<String> {
    ClientIdentity::all_headers()
        .into_iter()
        .filter(|h| sent.is_none_or(|s| !s.eq_ignore_ascii_case(h)))
        .map(canonical)
        .collect()
}

/// `x-ssl-client-sha256` → `X-Ssl-Client-Sha256`: header names compare without case, this is
/// only how they read in a file.
pub(crate) fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Why a format cannot ask certmap per request with what its Debian package ships, without
/// scripting; `None` for the formats that can.
pub fn cannot_ask(format: Format) -> Option<RenderError> {
    let why = match format {
        Format::Nginx | Format::Caddy => return None,
        Format::Iis | Format::PowerShell => {
            "IIS maps client certificates itself (iisClientCertificateMappingAuthentication) and has no built-in \
             way to ask another server per request"
        }
        Format::Haproxy | Format::HaproxyMap => {
            "HAProxy 2.6 can call an authorization service only from a Lua script with an HTTP client library, \
             which Debian's package does not ship"
        }
        Format::Apache => {
            "Apache httpd has no built-in module that asks an HTTP service per request (auth_request is \
             nginx's; mod_auth_request is not part of httpd)"
        }
    };
    Some(RenderError::unsupported(format!(
        "per-request mode (mode=authorize) in {}: {why}; use mode=map, or nginx or Caddy in front",
        format.as_str()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_nginx_and_caddy_ask_per_request() {
        for f in Format::ALL {
            let refused = cannot_ask(f);
            assert_eq!(refused.is_none(), matches!(f, Format::Nginx | Format::Caddy), "{f:?}");
            if let Some(RenderError::Unsupported { what }) = refused {
                assert!(what.contains(f.as_str()) && what.contains("mode=map"), "{what}");
            }
        }
    }

    #[test]
    fn modes() {
        assert_eq!(Mode::parse("map"), Ok(Mode::Map));
        assert_eq!(Mode::parse("authorize"), Ok(Mode::Authorize));
        assert!(matches!(Mode::parse("Authorize"), Err(RenderError::InvalidOption { option: "mode", .. })));
    }

    #[test]
    fn options_are_checked_and_name_the_option() {
        let ok = AuthorizeOptions::default();
        let v = ok.validate().unwrap();
        assert_eq!(v.certmap.url(), "http://127.0.0.1:8080");
        assert_eq!(v.auth, CertmapAuth::TokenFile("/etc/certmap/authorize-token.conf".into()));
        let option = |o: AuthorizeOptions| match o.validate() {
            Err(RenderError::InvalidOption { option, .. }) => option,
            other => panic!("{other:?}"),
        };
        assert_eq!(option(AuthorizeOptions { certmap: "http://a:80/api".into(), ..ok.clone() }), "certmap");
        assert_eq!(option(AuthorizeOptions { certmap_auth: "mtls".into(), ..ok.clone() }), "certmap");
        assert_eq!(option(AuthorizeOptions { certmap_auth: "token".into(), ..ok.clone() }), "certmap_auth");
        assert_eq!(option(AuthorizeOptions { token_file: "t;x".into(), ..ok.clone() }), "token_file");
        let mtls = AuthorizeOptions { certmap: "https://certmap:443".into(), certmap_auth: "mtls".into(), ..ok };
        assert!(matches!(mtls.validate().unwrap().auth, CertmapAuth::Mtls { .. }));
        assert_eq!(option(AuthorizeOptions { client_key: "k".into(), ..mtls }), "client_key");
    }

    #[test]
    fn every_identity_header_but_the_sent_one_is_cleared() {
        let cleared = cleared_except(Some("X-SSL-Client-Cert"));
        assert_eq!(cleared.len(), ClientIdentity::all_headers().len() - 1);
        assert!(cleared.contains(&"X-Ssl-Client-Sha256".to_owned()), "{cleared:?}");
        assert!(!cleared.iter().any(|h| h.eq_ignore_ascii_case("x-ssl-client-cert")));
        assert_eq!(cleared_except(None).len(), ClientIdentity::all_headers().len());
        assert_eq!(canonical("x-forwarded-tls-client-cert"), "X-Forwarded-Tls-Client-Cert");
    }
}
