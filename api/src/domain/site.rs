//! A site's `iisClientCertificateMappingAuthentication` settings, with IIS's own defaults.

use std::fmt;
use std::str::FromStr;

use super::names::{Hostname, LogonDomain, SiteName};
use super::revocation::Policy;
use super::violation::{Invalid, Rejection, Violation};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogonMethod {
    Interactive,
    Batch,
    Network,
    /// IIS's default: the password is sent in clear to LSA, which lets the worker reach network
    /// resources as the mapped user.
    #[default]
    ClearText,
}

impl LogonMethod {
    pub const ALL: [LogonMethod; 4] = [Self::Interactive, Self::Batch, Self::Network, Self::ClearText];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Interactive => "Interactive",
            Self::Batch => "Batch",
            Self::Network => "Network",
            Self::ClearText => "ClearText",
        }
    }
}

impl fmt::Display for LogonMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LogonMethod {
    type Err = Rejection;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|m| m.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| {
            Rejection::new(
                "invalid-logon-method",
                format!("{s:?} is not an IIS logon method: use Interactive, Batch, Network or ClearText"),
            )
        })
    }
}

/// What IIS keeps in the mapping section at the site root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingSettings {
    pub enabled: bool,
    pub one_to_one_enabled: bool,
    pub many_to_one_enabled: bool,
    pub logon_method: LogonMethod,
    pub default_logon_domain: LogonDomain,
}

impl Default for MappingSettings {
    /// IIS_schema.xml: enabled=false, both kinds of mapping enabled, ClearText, no domain.
    fn default() -> Self {
        Self {
            enabled: false,
            one_to_one_enabled: true,
            many_to_one_enabled: true,
            logon_method: LogonMethod::ClearText,
            default_logon_domain: LogonDomain::default(),
        }
    }
}

/// A site as certmap stores it: its IIS name, the host names it answers to, and its mapping
/// section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteSpec {
    pub name: SiteName,
    pub hostnames: Vec<Hostname>,
    pub mapping: MappingSettings,
    /// Not IIS's (Schannel checks revocation itself): what certmap and the gateways it feeds do.
    pub revocation: Policy,
}

pub const MAX_HOSTNAMES: usize = 100;

/// Every host name parsed, duplicates refused, each failure naming its index.
pub fn parse_hostnames(raw: &[String]) -> Result<Vec<Hostname>, Invalid> {
    if raw.len() > MAX_HOSTNAMES {
        return Err(Invalid::one(
            Rejection::new("too-many-hostnames", format!("a site has at most {MAX_HOSTNAMES} host names"))
                .at("hostnames"),
        ));
    }
    let mut out: Vec<Hostname> = Vec::with_capacity(raw.len());
    let mut violations = Vec::new();
    for (i, h) in raw.iter().enumerate() {
        match Hostname::parse(h) {
            Ok(h) if out.contains(&h) => violations.push(
                Rejection::new("duplicate-hostname", format!("{} is listed twice", h.as_str()))
                    .at(format!("hostnames[{i}]")),
            ),
            Ok(h) => out.push(h),
            Err(r) => violations.push(r.at(format!("hostnames[{i}]"))),
        }
    }
    if violations.is_empty() {
        Ok(out)
    } else {
        Err(Invalid(violations))
    }
}

/// The one place the product's central rule is worded: mapping belongs to the site root.
pub fn mapping_not_at_site_root(field: &str) -> Violation {
    Rejection::new(
        "mapping-not-at-site-root",
        "certificate mapping is configured on the site, never on a directory: IIS only honours \
         iisClientCertificateMappingAuthentication at the site root (<location path=\"SITE\">). \
         Configure the mapping on the site and secure the directory with require_ssl and \
         client_certificates instead.",
    )
    .at(field)
    .with_symptom("401.2 Unauthorized, 0x80070005 Access is denied, on every request to the directory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_iis_schema() {
        let d = MappingSettings::default();
        assert!(!d.enabled && d.one_to_one_enabled && d.many_to_one_enabled);
        assert_eq!(d.logon_method, LogonMethod::ClearText);
        assert_eq!(d.default_logon_domain.as_str(), "");
    }

    #[test]
    fn logon_method_parses_case_insensitively() {
        assert_eq!("network".parse::<LogonMethod>().unwrap(), LogonMethod::Network);
        assert_eq!("Kerberos".parse::<LogonMethod>().unwrap_err().code, "invalid-logon-method");
    }

    #[test]
    fn hostnames_name_each_bad_index_and_refuse_duplicates() {
        let raw: Vec<String> = ["a.com", "bad host", "A.com"].map(String::from).into();
        let Invalid(vs) = parse_hostnames(&raw).unwrap_err();
        let got: Vec<(&str, &str)> = vs.iter().map(|v| (v.code, v.field.as_str())).collect();
        assert_eq!(got, [("invalid-hostname", "hostnames[1]"), ("duplicate-hostname", "hostnames[2]")]);
        assert_eq!(parse_hostnames(&["b.com".into()]).unwrap()[0].as_str(), "b.com");
    }

    #[test]
    fn mapping_rule_names_the_iis_symptom() {
        let v = mapping_not_at_site_root("certificate_mapping");
        assert_eq!(v.code, "mapping-not-at-site-root");
        assert!(v.iis_symptom.unwrap().contains("0x80070005"));
        assert!(v.message.contains("site root"));
    }
}
