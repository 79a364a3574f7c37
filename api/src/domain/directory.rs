//! A directory's SSL and authentication settings and the rules that keep IIS from silently
//! ignoring a client certificate there.

use std::fmt;
use std::str::FromStr;

use super::names::VirtualPath;
use super::resolve::Decision;
use super::violation::{Invalid, Rejection, Violation};

/// IIS Manager's "SSL Settings → Client certificates".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientCertificates {
    #[default]
    Ignore,
    Accept,
    Require,
}

impl ClientCertificates {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ignore => "ignore",
            Self::Accept => "accept",
            Self::Require => "require",
        }
    }
}

impl ClientCertificates {
    /// Whether a request that presented a certificate IIS decided on passes: where it is
    /// required only a mapping does; where it is accepted, anything but a matching Deny (IIS:
    /// Deny "denies permission to authenticate"; nothing mapped is served anonymously).
    pub fn admits(self, decision: &Decision) -> bool {
        match self {
            Self::Ignore => true,
            Self::Accept => !matches!(decision, Decision::Denied { .. }),
            Self::Require => decision.user_name().is_some(),
        }
    }
}

impl fmt::Display for ClientCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClientCertificates {
    type Err = Rejection;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ignore" => Ok(Self::Ignore),
            "accept" => Ok(Self::Accept),
            "require" => Ok(Self::Require),
            _ => Err(Rejection::new(
                "invalid-client-certificates",
                format!("{s:?} is not one of ignore, accept, require"),
            )),
        }
    }
}

/// `system.webServer/security/access@sslFlags` plus the four authentication schemes.
/// Defaults are IIS's: no SSL requirement, certificates ignored, anonymous on, the rest off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectoryPolicy {
    pub require_ssl: bool,
    pub client_certificates: ClientCertificates,
    pub anonymous_auth: bool,
    pub basic_auth: bool,
    pub windows_auth: bool,
    pub digest_auth: bool,
}

impl Default for DirectoryPolicy {
    fn default() -> Self {
        Self {
            require_ssl: false,
            client_certificates: ClientCertificates::Ignore,
            anonymous_auth: true,
            basic_auth: false,
            windows_auth: false,
            digest_auth: false,
        }
    }
}

impl DirectoryPolicy {
    /// A secured directory is one where IIS will run certificate mapping.
    pub fn is_secured(&self) -> bool {
        self.client_certificates == ClientCertificates::Require
    }

    pub fn negotiates_certificates(&self) -> bool {
        self.client_certificates != ClientCertificates::Ignore
    }

    /// The `sslFlags` value IIS 7+ understands. `SslMapCert` is an IIS 6 metabase flag and is never
    /// produced.
    pub fn ssl_flags(&self) -> &'static str {
        match (self.require_ssl, self.client_certificates) {
            (false, _) => "None",
            (true, ClientCertificates::Ignore) => "Ssl",
            (true, ClientCertificates::Accept) => "Ssl, SslNegotiateCert",
            (true, ClientCertificates::Require) => "Ssl, SslNegotiateCert, SslRequireCert",
        }
    }

    /// The scoping rules a directory must satisfy before it may be saved.
    pub fn check(&self) -> Result<(), Invalid> {
        let mut violations = Vec::new();
        if self.negotiates_certificates() && !self.require_ssl {
            violations.push(
                Rejection::new(
                    "client-cert-requires-ssl",
                    format!(
                        "client_certificates: {} needs require_ssl: true — IIS only negotiates a client certificate over SSL, and IIS Manager cannot save \"Require client certificates\" without \"Require SSL\"",
                        self.client_certificates
                    ),
                )
                .at("require_ssl")
                .with_symptom("the certificate is never requested over plain HTTP, so the mapping never runs (403.7 once SSL is required)"),
            );
        }
        if self.is_secured() {
            for (field, on) in self.other_schemes() {
                if on {
                    violations.push(secured_allows(field));
                }
            }
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(Invalid(violations))
        }
    }

    fn other_schemes(&self) -> [(&'static str, bool); 4] {
        [
            ("anonymous_auth", self.anonymous_auth),
            ("basic_auth", self.basic_auth),
            ("windows_auth", self.windows_auth),
            ("digest_auth", self.digest_auth),
        ]
    }
}

/// A directory of a site: where it is and how IIS guards it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectorySpec {
    pub path: VirtualPath,
    pub policy: DirectoryPolicy,
}

fn secured_allows(field: &'static str) -> Violation {
    let why = if field == "anonymous_auth" {
        "with anonymous authentication on, IIS serves the request anonymously and the certificate mapping never runs"
    } else {
        "IIS may authenticate the request with that scheme instead of the certificate"
    };
    Rejection::new(
        "secured-directory-allows-other-auth",
        format!("a directory that requires client certificates must have {field}: false — {why}"),
    )
    .at(field)
    .with_symptom(
        "the mapping never triggers: requests run as the anonymous or another account instead of the mapped user",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secured() -> DirectoryPolicy {
        DirectoryPolicy {
            require_ssl: true,
            client_certificates: ClientCertificates::Require,
            anonymous_auth: false,
            ..DirectoryPolicy::default()
        }
    }

    fn codes(p: DirectoryPolicy) -> Vec<(&'static str, String)> {
        p.check().err().map(|i| i.0.into_iter().map(|v| (v.code, v.field)).collect()).unwrap_or_default()
    }

    #[test]
    fn defaults_are_iis_defaults_and_valid() {
        let d = DirectoryPolicy::default();
        assert!(d.anonymous_auth && !d.require_ssl);
        assert_eq!(d.check(), Ok(()));
        assert_eq!(d.ssl_flags(), "None");
    }

    #[test]
    fn a_properly_secured_directory_passes() {
        assert_eq!(secured().check(), Ok(()));
        assert_eq!(secured().ssl_flags(), "Ssl, SslNegotiateCert, SslRequireCert");
    }

    #[test]
    fn client_certificates_need_ssl() {
        for cc in [ClientCertificates::Accept, ClientCertificates::Require] {
            let p = DirectoryPolicy {
                require_ssl: false,
                client_certificates: cc,
                anonymous_auth: false,
                ..Default::default()
            };
            assert_eq!(codes(p), vec![("client-cert-requires-ssl", "require_ssl".into())]);
        }
    }

    #[test]
    fn secured_directory_names_each_scheme_left_on() {
        let p = DirectoryPolicy {
            anonymous_auth: true,
            basic_auth: true,
            windows_auth: true,
            digest_auth: true,
            ..secured()
        };
        let fields: Vec<String> = codes(p)
            .into_iter()
            .map(|(c, f)| {
                assert_eq!(c, "secured-directory-allows-other-auth");
                f
            })
            .collect();
        assert_eq!(fields, ["anonymous_auth", "basic_auth", "windows_auth", "digest_auth"]);
    }

    #[test]
    fn accepting_certificates_may_stay_anonymous() {
        let p = DirectoryPolicy {
            require_ssl: true,
            client_certificates: ClientCertificates::Accept,
            ..Default::default()
        };
        assert_eq!(p.check(), Ok(()));
        assert_eq!(p.ssl_flags(), "Ssl, SslNegotiateCert");
    }

    #[test]
    fn both_rules_report_together() {
        let p = DirectoryPolicy {
            require_ssl: false,
            client_certificates: ClientCertificates::Require,
            ..Default::default()
        };
        let got = codes(p);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, "client-cert-requires-ssl");
        assert_eq!(got[1], ("secured-directory-allows-other-auth", "anonymous_auth".into()));
    }

    #[test]
    fn ssl_flags_never_emit_sslmapcert() {
        for rs in [false, true] {
            for cc in [ClientCertificates::Ignore, ClientCertificates::Accept, ClientCertificates::Require] {
                let p = DirectoryPolicy { require_ssl: rs, client_certificates: cc, ..Default::default() };
                assert!(!p.ssl_flags().contains("SslMapCert"));
            }
        }
    }
}
