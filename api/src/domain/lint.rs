//! Findings: configurations IIS would accept but that will not do what the user wants. Unlike
//! violations they do not block a write, because the fix may be the user's next request.

use time::{Duration, OffsetDateTime};

use super::directory::DirectoryPolicy;
use super::names::{SiteName, VirtualPath};
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
    /// What to change in certmap so the finding goes away, in the console's and the API's terms.
    pub fix: &'static str,
    /// The directory the finding is about; `None` for the site itself.
    pub path: Option<String>,
    /// The one-to-one or many-to-one mapping the finding is about.
    pub mapping_id: Option<i64>,
}

/// What lint needs of a one-to-one mapping.
pub struct OneToOneFacts<'a> {
    pub id: i64,
    pub user_name: &'a str,
    pub enabled: bool,
    pub has_password: bool,
    pub not_after: OffsetDateTime,
}

/// What lint needs of a many-to-one mapping.
pub struct ManyToOneFacts<'a> {
    pub id: i64,
    pub name: &'a str,
    pub enabled: bool,
    pub allow: bool,
    pub has_password: bool,
}

pub const EXPIRY_WARNING: Duration = Duration::days(30);

pub struct DirectoryFacts<'a> {
    pub path: &'a VirtualPath,
    pub policy: DirectoryPolicy,
}

pub struct SiteFacts<'a> {
    pub name: &'a SiteName,
    pub settings: &'a MappingSettings,
    pub directories: Vec<DirectoryFacts<'a>>,
    pub one_to_one: Vec<OneToOneFacts<'a>>,
    pub many_to_one: Vec<ManyToOneFacts<'a>>,
    pub now: OffsetDateTime,
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
                fix: "enable certificate mapping in the site's settings, with one-to-one or many-to-one mappings switched on",
                path: Some(dir.path.to_string()),
                mapping_id: None,
            });
        }
    }

    if settings.enabled && !site.directories.iter().any(|d| d.policy.negotiates_certificates()) {
        findings.push(Finding {
            code: "mapping-without-certificate-directory",
            severity: Severity::Info,
            message: "certificate mapping is enabled but no directory asks for a client certificate (client_certificates is ignore everywhere), so no request is ever mapped".into(),
            iis_symptom: "the mapping never triggers: with SSL settings set to Ignore IIS does not request a certificate",
            fix: "set a directory's client certificates to Accept or Require (with Require SSL), or disable mapping on the site",
            path: None,
            mapping_id: None,
        });
    }
    if site.name.reads_as_site_key() {
        findings.push(site_finding(
            "ambiguous-site-name",
            Severity::Warning,
            format!(
                "the site name {:?} reads as a site id in X-Certmap-Site: gateways must send `name:{}` (or `id:N`), or rename the site",
                site.name.as_str(),
                site.name
            ),
            "none in IIS; a gateway sending the bare name is decided against another site",
            "rename the site to a name that is not a number, or have its gateways send X-Certmap-Site: name:NAME",
        ));
    }
    mapping_findings(site, &mut findings);

    findings.sort_by(|a, b| (a.severity, &a.path, a.code).cmp(&(b.severity, &b.path, b.code)));
    findings
}

fn site_finding(
    code: &'static str,
    severity: Severity,
    message: String,
    iis_symptom: &'static str,
    fix: &'static str,
) -> Finding {
    Finding { code, severity, message, iis_symptom, fix, path: None, mapping_id: None }
}

fn mapping_findings(site: &SiteFacts<'_>, findings: &mut Vec<Finding>) {
    let settings = site.settings;
    let (ones, manys) = (site.one_to_one.len(), site.many_to_one.len());
    if !settings.enabled && ones + manys > 0 {
        findings.push(site_finding(
            "mappings-while-mapping-disabled",
            Severity::Warning,
            format!("the site has {ones} one-to-one and {manys} many-to-one mappings but certificate mapping is disabled: set certificate_mapping.enabled"),
            "IIS ignores every mapping; requests to secured directories fail with 401.2",
            "enable certificate mapping in the site's settings, or delete the mappings",
        ));
    }
    if settings.enabled && !settings.one_to_one_enabled && ones > 0 {
        findings.push(site_finding(
            "one-to-one-switched-off",
            Severity::Warning,
            format!("{ones} one-to-one mappings exist but one_to_one_enabled is false"),
            "IIS skips the one-to-one mappings: those certificates get 401.1",
            "switch one-to-one mappings on in the site's settings, or delete them",
        ));
    }
    if settings.enabled && !settings.many_to_one_enabled && manys > 0 {
        findings.push(site_finding(
            "many-to-one-switched-off",
            Severity::Warning,
            format!("{manys} many-to-one mappings exist but many_to_one_enabled is false"),
            "IIS skips the many-to-one rules: certificates they would match get 401.1",
            "switch many-to-one mappings on in the site's settings, or delete them",
        ));
    }
    let any_enabled =
        site.one_to_one.iter().any(|m| m.enabled) || site.many_to_one.iter().any(|m| m.enabled && m.allow);
    if settings.enabled && !any_enabled && site.directories.iter().any(|d| d.policy.is_secured()) {
        findings.push(site_finding(
            "no-enabled-mappings",
            Severity::Warning,
            "certificate mapping is enabled and a directory requires certificates, but no enabled mapping can log anyone on".into(),
            "401.1 Unauthorized for every client certificate",
            "add or enable a one-to-one mapping, or an allow many-to-one mapping",
        ));
    }
    for m in site.one_to_one.iter().filter(|m| m.enabled) {
        let mapping = |code, severity, message, iis_symptom, fix| Finding {
            code,
            severity,
            message,
            iis_symptom,
            fix,
            path: None,
            mapping_id: Some(m.id),
        };
        if m.not_after < site.now {
            findings.push(mapping(
                "certificate-expired",
                Severity::Warning,
                format!(
                    "the certificate mapped to {} expired on {}",
                    m.user_name,
                    super::mapping::rfc3339(m.not_after)
                ),
                "403.17: the client certificate has expired",
                "map the user's renewed certificate (a new mapping), then disable or delete this one",
            ));
        } else if m.not_after < site.now + EXPIRY_WARNING {
            findings.push(mapping(
                "certificate-expiring",
                Severity::Info,
                format!(
                    "the certificate mapped to {} expires on {}: a renewed certificate needs a new mapping",
                    m.user_name,
                    super::mapping::rfc3339(m.not_after)
                ),
                "401.1 after renewal until the new certificate is mapped",
                "map the renewed certificate before this date: a renewed certificate is a new mapping",
            ));
        }
        if settings.enabled && !m.has_password {
            findings.push(mapping(
                "mapping-without-password",
                Severity::Warning,
                format!(
                    "{} is mapped without a password; IIS needs the account's password to log the user on ({} logon)",
                    m.user_name, settings.logon_method
                ),
                "401.1 Unauthorized: logon failure",
                "set the account's password on the mapping; it is encrypted and never shown again",
            ));
        }
    }
    for m in site.many_to_one.iter().filter(|m| m.enabled && m.allow && !m.has_password && settings.enabled) {
        findings.push(Finding {
            code: "mapping-without-password",
            severity: Severity::Warning,
            message: format!(
                "many-to-one mapping {:?} allows an account without a password; IIS needs it to log the user on",
                m.name
            ),
            iis_symptom: "401.1 Unauthorized: logon failure",
            fix: "set the account's password on the many-to-one mapping; it is encrypted and never shown again",
            path: None,
            mapping_id: Some(m.id),
        });
    }
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
        let name = SiteName::parse("S").unwrap();
        let facts = SiteFacts {
            name: &name,
            settings,
            directories: paths
                .iter()
                .zip(dirs)
                .map(|(path, (_, policy))| DirectoryFacts { path, policy: *policy })
                .collect(),
            // A healthy mapping where mapping is on, none where it is off: these tests are about directories.
            one_to_one: if settings.enabled {
                vec![OneToOneFacts { id: 1, user_name: "alice", enabled: true, has_password: true, not_after: far() }]
            } else {
                vec![]
            },
            many_to_one: vec![],
            now: OffsetDateTime::UNIX_EPOCH,
        };
        lint_site(&facts).into_iter().map(|f| f.code).collect()
    }

    fn far() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::days(10_000)
    }

    fn mapping_codes(
        settings: MappingSettings,
        ones: Vec<OneToOneFacts<'_>>,
        manys: Vec<ManyToOneFacts<'_>>,
    ) -> Vec<&'static str> {
        let path = VirtualPath::parse("/secure").unwrap();
        let name = SiteName::parse("S").unwrap();
        let facts = SiteFacts {
            name: &name,
            settings: &settings,
            directories: vec![DirectoryFacts { path: &path, policy: secured() }],
            one_to_one: ones,
            many_to_one: manys,
            now: OffsetDateTime::UNIX_EPOCH + Duration::days(100),
        };
        lint_site(&facts).into_iter().map(|f| f.code).collect()
    }

    fn one(id: i64, enabled: bool, has_password: bool, days_left: i64) -> OneToOneFacts<'static> {
        OneToOneFacts {
            id,
            user_name: "alice",
            enabled,
            has_password,
            not_after: OffsetDateTime::UNIX_EPOCH + Duration::days(100 + days_left),
        }
    }

    #[test]
    fn mapping_findings() {
        let on = MappingSettings { enabled: true, ..Default::default() };
        assert!(mapping_codes(on.clone(), vec![one(1, true, true, 365)], vec![]).is_empty());
        assert_eq!(mapping_codes(on.clone(), vec![one(1, true, true, -1)], vec![]), ["certificate-expired"]);
        assert_eq!(mapping_codes(on.clone(), vec![one(1, true, true, 10)], vec![]), ["certificate-expiring"]);
        assert_eq!(mapping_codes(on.clone(), vec![one(1, true, false, 365)], vec![]), ["mapping-without-password"]);
        assert_eq!(mapping_codes(on.clone(), vec![one(1, false, true, 365)], vec![]), ["no-enabled-mappings"]);
        let deny = ManyToOneFacts { id: 2, name: "block", enabled: true, allow: false, has_password: false };
        assert_eq!(mapping_codes(on.clone(), vec![], vec![deny]), ["no-enabled-mappings"]);
        let off = MappingSettings::default();
        let got = mapping_codes(off, vec![one(1, true, true, 365)], vec![]);
        assert!(
            got.contains(&"mappings-while-mapping-disabled") && got.contains(&"secured-directory-without-mapping"),
            "{got:?}"
        );
        let one_off = MappingSettings { enabled: true, one_to_one_enabled: false, ..Default::default() };
        assert_eq!(mapping_codes(one_off, vec![one(1, true, true, 365)], vec![]), ["one-to-one-switched-off"]);
        let many_off = MappingSettings { enabled: true, many_to_one_enabled: false, ..Default::default() };
        let allow = ManyToOneFacts { id: 3, name: "eng", enabled: true, allow: true, has_password: true };
        assert_eq!(mapping_codes(many_off, vec![one(1, true, true, 365)], vec![allow]), ["many-to-one-switched-off"]);
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
        // The healthy one-to-one mapping the helper adds is now switched off too.
        assert_eq!(
            codes(&kinds_off, &[("/secure", secured())]),
            ["one-to-one-switched-off", "secured-directory-without-mapping"]
        );
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
