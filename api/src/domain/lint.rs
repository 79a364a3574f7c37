//! Findings: configurations IIS would accept but that will not do what the user wants. Unlike
//! violations they do not block a write, because the fix may be the user's next request.

use super::directory::DirectoryPolicy;
use super::names::VirtualPath;
use super::site::MappingSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub iis_symptom: &'static str,
    /// The directory the finding is about; `None` for the site itself.
    pub path: Option<String>,
}

pub struct DirectoryFacts<'a> {
    pub path: &'a VirtualPath,
    pub policy: DirectoryPolicy,
}

pub struct SiteFacts<'a> {
    pub settings: &'a MappingSettings,
    pub directories: Vec<DirectoryFacts<'a>>,
}

/// Every finding for one site, errors first, then by path, so the answer is stable.
pub fn lint_site(site: &SiteFacts<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let settings = site.settings;
    let mapping_usable = settings.enabled && (settings.one_to_one_enabled || settings.many_to_one_enabled);

    for dir in &site.directories {
        if dir.policy.is_secured() && !mapping_usable {
            findings.push(Finding {
                code: "secured-directory-without-mapping",
                severity: Severity::Warning,
                message: format!(
                    "{} requires a client certificate and allows no other authentication, but the site's certificate mapping is {}: enable it on the site (certificate_mapping.enabled{})",
                    dir.path,
                    if settings.enabled { "left with both one-to-one and many-to-one switched off" } else { "disabled" },
                    if settings.enabled { ", one_to_one_enabled or many_to_one_enabled" } else { "" },
                ),
                iis_symptom: "401.2 Unauthorized: no enabled authentication method can log the request on",
                path: Some(dir.path.to_string()),
            });
        }
    }

    if settings.enabled && !site.directories.iter().any(|d| d.policy.negotiates_certificates()) {
        findings.push(Finding {
            code: "mapping-without-certificate-directory",
            severity: Severity::Info,
            message: "certificate mapping is enabled but no directory asks for a client certificate (client_certificates is ignore everywhere), so no request is ever mapped".into(),
            iis_symptom: "the mapping never triggers: with SSL settings set to Ignore IIS does not request a certificate",
            path: None,
        });
    }

    findings.sort_by(|a, b| (a.severity, &a.path, a.code).cmp(&(b.severity, &b.path, b.code)));
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::directory::ClientCertificates;

    fn secured() -> DirectoryPolicy {
        DirectoryPolicy {
            require_ssl: true,
            client_certificates: ClientCertificates::Require,
            anonymous_auth: false,
            ..Default::default()
        }
    }

    fn codes(settings: &MappingSettings, dirs: &[(&str, DirectoryPolicy)]) -> Vec<&'static str> {
        let paths: Vec<VirtualPath> = dirs.iter().map(|(p, _)| VirtualPath::parse(p).unwrap()).collect();
        let facts = SiteFacts {
            settings,
            directories: paths
                .iter()
                .zip(dirs)
                .map(|(path, (_, policy))| DirectoryFacts { path, policy: *policy })
                .collect(),
        };
        lint_site(&facts).into_iter().map(|f| f.code).collect()
    }

    #[test]
    fn secured_directory_without_enabled_mapping_is_a_finding() {
        let off = MappingSettings::default();
        assert_eq!(codes(&off, &[("/secure", secured())]), ["secured-directory-without-mapping"]);
        let on = MappingSettings { enabled: true, ..Default::default() };
        assert!(codes(&on, &[("/secure", secured())]).is_empty());
        let kinds_off = MappingSettings {
            enabled: true,
            one_to_one_enabled: false,
            many_to_one_enabled: false,
            ..Default::default()
        };
        assert_eq!(codes(&kinds_off, &[("/secure", secured())]), ["secured-directory-without-mapping"]);
    }

    #[test]
    fn enabled_mapping_with_nothing_asking_for_a_certificate_is_noted() {
        let on = MappingSettings { enabled: true, ..Default::default() };
        assert_eq!(codes(&on, &[("/public", DirectoryPolicy::default())]), ["mapping-without-certificate-directory"]);
        assert!(codes(&MappingSettings::default(), &[("/public", DirectoryPolicy::default())]).is_empty());
    }

    #[test]
    fn findings_are_ordered_by_severity_then_path() {
        let off = MappingSettings::default();
        let got = codes(&off, &[("/b", secured()), ("/a", secured())]);
        assert_eq!(got.len(), 2);
    }
}
