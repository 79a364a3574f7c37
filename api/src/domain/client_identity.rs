//! The one form in which a gateway tells certmap which client certificate it saw. A gateway
//! credential declares exactly one form; authorize reads that form's header only and refuses a
//! request that carries any other identity header, because a client can add headers the gateway
//! forgot to clear (a client-sent fingerprint next to a gateway that sends certificates must never
//! decide the request). Renderers use the same table to clear every header but the declared one.

use std::fmt;
use std::str::FromStr;

/// How a gateway presents the client certificate, named after the proxy that produces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientIdentity {
    /// nginx `$ssl_client_escaped_cert`: URL-encoded PEM in `X-SSL-Client-Cert`.
    Nginx,
    /// Envoy / Istio `x-forwarded-client-cert` (XFCC).
    Envoy,
    /// Traefik `passTLSClientCert`: `X-Forwarded-Tls-Client-Cert`, base64 DER, comma-joined chain.
    Traefik,
    /// Caddy `{http.request.tls.client.certificate_der_base64}` (or its fingerprint) in `X-Caddy-Client-Cert`.
    Caddy,
    /// HAProxy `%[ssl_c_der,base64]` in `X-SSL-Client-DER`.
    Haproxy,
    /// Apache `%{SSL_CLIENT_CERT}s` through mod_headers: PEM with spaces for line breaks, `(null)` for none.
    Apache,
    /// RFC 9440 `Client-Cert: :<base64 DER>:` (and `Client-Cert-Chain`).
    Rfc9440,
    /// Only the certificate's fingerprint, `X-SSL-Client-SHA256` or `X-SSL-Client-SHA1`; never the default.
    Fingerprint,
}

impl ClientIdentity {
    pub const ALL: [ClientIdentity; 8] = [
        Self::Nginx,
        Self::Envoy,
        Self::Traefik,
        Self::Caddy,
        Self::Haproxy,
        Self::Apache,
        Self::Rfc9440,
        Self::Fingerprint,
    ];

    /// What an admin or editor token (used to try authorize by hand) reads when it declares nothing.
    pub const DEFAULT_FOR_PEOPLE: ClientIdentity = Self::Nginx;

    /// What a gateway credential issued before forms existed reads: nginx's escaped certificate was
    /// the only certificate form then, so those gateways keep working, and none of them is
    /// silently allowed to decide on a bare fingerprint.
    pub const DEFAULT_FOR_GATEWAYS: ClientIdentity = Self::Nginx;

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nginx => "nginx",
            Self::Envoy => "envoy",
            Self::Traefik => "traefik",
            Self::Caddy => "caddy",
            Self::Haproxy => "haproxy",
            Self::Apache => "apache",
            Self::Rfc9440 => "rfc9440",
            Self::Fingerprint => "fingerprint",
        }
    }

    /// Where a gateway of this form says which URI the client asked for, first found wins. Traefik's
    /// ForwardAuth cannot set a header from the request, but always sets `X-Forwarded-Uri` itself
    /// (over any client copy), while passing a client-sent `X-Original-URI` through.
    pub fn uri_headers(self) -> &'static [&'static str] {
        match self {
            Self::Traefik => &["x-forwarded-uri", "x-original-uri"],
            _ => &["x-original-uri"],
        }
    }

    /// The request headers this form is read from (lower case, as HTTP/2 and actix see them).
    pub fn headers(self) -> &'static [&'static str] {
        match self {
            Self::Nginx | Self::Apache => &["x-ssl-client-cert"],
            Self::Envoy => &["x-forwarded-client-cert"],
            Self::Traefik => &["x-forwarded-tls-client-cert"],
            Self::Caddy => &["x-caddy-client-cert"],
            Self::Haproxy => &["x-ssl-client-der"],
            Self::Rfc9440 => &["client-cert", "client-cert-chain"],
            Self::Fingerprint => &["x-ssl-client-sha256", "x-ssl-client-sha1"],
        }
    }

    /// False for a header no form is read from, decided from its name's start alone: authorize
    /// passes over a request's other headers without comparing each with every form's names.
    pub fn may_name_a_form(name: &str) -> bool {
        name.starts_with("x-") || name.starts_with("client-cert")
    }

    /// Every header any form is read from, each once: what a gateway must clear of the client's
    /// copies, and what authorize refuses when it is not the declared form's.
    pub fn all_headers() -> Vec<&'static str> {
        let mut all: Vec<&'static str> = Vec::new();
        for form in Self::ALL {
            for name in form.headers() {
                if !all.contains(name) {
                    all.push(name);
                }
            }
        }
        all
    }
}

impl fmt::Display for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClientIdentity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|form| form.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|f| f.as_str()).collect();
            format!("unknown client-identity form '{s}'; one of: {}", names.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_forms_header_may_name_a_form() {
        for name in ClientIdentity::all_headers() {
            assert!(ClientIdentity::may_name_a_form(name), "{name}");
        }
        assert!(!ClientIdentity::may_name_a_form("authorization"));
    }

    #[test]
    fn names_round_trip() {
        for form in ClientIdentity::ALL {
            assert_eq!(form.as_str().parse::<ClientIdentity>(), Ok(form));
        }
        assert!("NGINX ".parse::<ClientIdentity>().is_err());
    }

    #[test]
    fn every_header_is_listed_once() {
        let all = ClientIdentity::all_headers();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), all.len());
        assert!(all.contains(&"x-ssl-client-sha256"));
    }
}
