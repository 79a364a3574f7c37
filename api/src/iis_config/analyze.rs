//! The rules: every finding a configuration earns, and the plan of what certmap imports from it.
//! Both come from one pass, so what lint reports and what import does cannot disagree.
//!
//! IIS merges configuration from the server level down: attributes set deeper win, and a
//! collection deeper adds to the inherited one unless it starts with `<clear/>`. The effective
//! settings of a site or directory are computed the same way here.

use std::collections::HashMap;

use time::OffsetDateTime;

use super::model::{self, At, Block, Collection, MappingSection, PasswordAttr, Scope, Source, SCHEMES};
use super::xml;
use super::Finding;
use crate::domain::certificate::{Certificate, Validity};
use crate::domain::directory::{ClientCertificates, DirectoryPolicy, DirectorySpec};
use crate::domain::lint::Severity;
use crate::domain::mapping::{parse_description, parse_mapping_name, rfc3339};
use crate::domain::names::{fold, Hostname, LogonDomain, SiteName, UserName, VirtualPath};
use crate::domain::resolve::{CertificateField, MatchCriteria, PermissionMode, Rule, SubField, MAX_RULES};
use crate::domain::site::{LogonMethod, MappingSettings};
use crate::secrets::Password;

const SECTION: &str = "iisClientCertificateMappingAuthentication";
const SYMPTOM_401_2: &str = "401.2 Unauthorized, 0x80070005 Access is denied, on every request to the directory";
const SYMPTOM_500_19: &str = "500.19 Internal Server Error: IIS cannot read the configuration";
const SYMPTOM_BAD_BLOB: &str = "401.1 Unauthorized, 0x80093102: IIS cannot decode the certificate, so it never matches";

pub struct Options {
    pub now: OffsetDateTime,
    /// A web.config does not say which site it belongs to: import needs to be told.
    pub web_config_site: Option<SiteName>,
}

#[derive(Debug)]
pub struct Analysis {
    /// `None` when the file could not be read as XML.
    pub source: Option<Source>,
    pub findings: Vec<Finding>,
    pub plan: Plan,
}

impl Analysis {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(Finding::is_error)
    }

    pub fn blocks_import(&self) -> bool {
        self.findings.iter().any(|f| f.blocks_import)
    }
}

/// What import writes, with every repair applied (import refuses to use it when a finding blocks
/// and repair was not asked for).
#[derive(Debug, Default)]
pub struct Plan {
    pub sites: Vec<SitePlan>,
    /// What the repairs changed, in words.
    pub repairs: Vec<String>,
    /// The file could not be read at all (malformed or hostile XML): nothing can be imported.
    pub unreadable: bool,
    /// A web.config with settings but no site to put them on.
    pub needs_site: bool,
}

#[derive(Debug)]
pub struct SitePlan {
    pub name: SiteName,
    pub line: u32,
    /// From the site's bindings; empty when the file has none.
    pub hostnames: Vec<Hostname>,
    pub mapping: MappingSettings,
    /// Sorted by path.
    pub directories: Vec<DirectorySpec>,
    pub one_to_one: Vec<OneToOnePlan>,
    pub many_to_one: Vec<ManyToOnePlan>,
}

#[derive(Debug)]
pub struct OneToOnePlan {
    pub line: u32,
    pub user_name: UserName,
    pub enabled: bool,
    pub certificate: Certificate,
    /// Only a clear-text password; an IIS-encrypted one cannot be read here.
    pub password: Option<Password>,
}

#[derive(Debug)]
pub struct ManyToOnePlan {
    pub line: u32,
    pub name: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub mode: PermissionMode,
    pub user_name: Option<UserName>,
    pub password: Option<Password>,
    pub rules: Vec<Rule>,
}

pub fn analyze(bytes: &[u8], options: &Options) -> Analysis {
    let root = match xml::decode(bytes).and_then(|text| xml::parse(&text)) {
        Ok(root) => root,
        Err(e) => {
            let finding = Finding {
                code: e.code,
                severity: Severity::Error,
                message: e.message,
                location_path: None,
                line: e.line,
                iis_symptom: "IIS refuses a configuration file it cannot parse: every site answers 500.19",
                fix: "upload the applicationHost.config (or web.config) as IIS reads it: well-formed XML, no DTD or entities".into(),
                blocks_import: true,
            };
            return Analysis {
                source: None,
                findings: vec![finding],
                plan: Plan { unreadable: true, ..Plan::default() },
            };
        }
    };
    let config = model::read(&root);
    let mut a = Analyzer { options, findings: Vec::new(), repairs: Vec::new() };
    let plan = a.run(config);
    let mut findings = a.findings;
    findings.sort_by(|x, y| (x.line, x.severity, x.code).cmp(&(y.line, y.severity, y.code)));
    findings.dedup();
    Analysis { source: Some(plan.1), findings, plan: Plan { repairs: a.repairs, ..plan.0 } }
}

/// A finding under construction.
struct F {
    code: &'static str,
    severity: Severity,
    message: String,
    scope: Option<Scope>,
    line: u32,
    symptom: &'static str,
    fix: String,
    blocks: bool,
}

struct Analyzer<'o> {
    options: &'o Options,
    findings: Vec<Finding>,
    repairs: Vec<String>,
}

/// One mapping section's entries, converted once (so their findings are reported once) and then
/// merged into every site that inherits them.
struct Converted {
    one_to_one: Collection<Option<OneToOneDraft>>,
    many_to_one: Collection<Option<ManyToOneDraft>>,
}

struct OneToOneDraft {
    line: u32,
    user_name: UserName,
    enabled: bool,
    certificate: Certificate,
    password: Option<String>,
}

#[derive(Clone)]
struct ManyToOneDraft {
    line: u32,
    name: String,
    description: Option<String>,
    enabled: bool,
    mode: PermissionMode,
    user_name: Option<UserName>,
    password: Option<String>,
    rules: Vec<Rule>,
}

fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim() {
        s if s.eq_ignore_ascii_case("true") => Some(true),
        s if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn place(scope: &Scope) -> String {
    match scope {
        Scope::Server => "the server level".into(),
        Scope::Site(s) => format!("<location path=\"{s}\">"),
        Scope::Directory(s, d) => format!("<location path=\"{s}{d}\">"),
        Scope::WebConfig => "the web.config".into(),
    }
}

impl Analyzer<'_> {
    fn push(&mut self, f: F) {
        self.findings.push(Finding {
            code: f.code,
            severity: f.severity,
            message: f.message,
            location_path: f.scope.as_ref().and_then(Scope::location_path),
            line: Some(f.line),
            iis_symptom: f.symptom,
            fix: f.fix,
            blocks_import: f.blocks,
        });
    }

    fn invalid_value(&mut self, scope: &Scope, line: u32, what: &str, raw: &str, expected: &str) {
        let shown: String = raw.chars().take(80).collect();
        self.push(F {
            code: "invalid-value",
            severity: Severity::Error,
            message: format!("{what} is {shown:?}, which IIS does not accept: expected {expected}"),
            scope: Some(scope.clone()),
            line,
            symptom: SYMPTOM_500_19,
            fix: format!("set {what} to {expected}"),
            blocks: false,
        });
    }

    fn bool_attr(&mut self, scope: &Scope, line: u32, what: &str, raw: Option<&str>) -> Option<bool> {
        let raw = raw?;
        let v = parse_bool(raw);
        if v.is_none() {
            self.invalid_value(scope, line, what, raw, "true or false");
        }
        v
    }

    fn run(&mut self, mut config: model::Config) -> (Plan, Source) {
        let source = config.source;
        for cs in std::mem::take(&mut config.config_sources) {
            self.push(F {
                code: "config-source-not-read",
                severity: Severity::Info,
                message: format!(
                    "<{}> takes its content from {:?} (configSource); certmap reads only this file",
                    cs.element, cs.file
                ),
                scope: None,
                line: cs.line,
                symptom: "none: IIS reads the other file",
                fix: format!("if {:?} holds sites or certificate mapping settings, lint and import it too", cs.file),
                blocks: false,
            });
        }
        self.scoping(&config);
        if config.site_names().is_empty() && config.blocks.is_empty() {
            self.push(F {
                code: "nothing-to-import",
                severity: Severity::Info,
                message: "the file configures no site, directory or certificate mapping".into(),
                scope: None,
                line: 1,
                symptom: "none",
                fix: "upload %windir%\\System32\\inetsrv\\config\\applicationHost.config, or a <location> exported from it".into(),
                blocks: false,
            });
        }
        if source == Source::WebConfig {
            match &self.options.web_config_site {
                Some(site) => {
                    for b in &mut config.blocks {
                        if b.mapping.is_some() {
                            self.repairs.push(format!(
                                "web.config: moved {SECTION} to <location path=\"{site}\"> in applicationHost.config"
                            ));
                        }
                        b.scope = Scope::Site(site.as_str().to_owned());
                    }
                }
                None => {
                    let needs_site = !config.blocks.is_empty();
                    self.lint_web_config(&config);
                    return (Plan { needs_site, ..Plan::default() }, source);
                }
            }
        }
        for b in config.blocks.iter().filter(|b| b.scope == Scope::Server) {
            if let Some(f) = &b.ssl_flags {
                self.ssl_flags(&b.scope, f);
            }
            for (i, s) in b.schemes.iter().enumerate() {
                if let Some(s) = s {
                    self.bool_attr(&b.scope, s.line, &format!("enabled of {}", SCHEMES[i]), Some(&s.value));
                }
            }
        }
        let converted: Vec<Option<Converted>> =
            config.blocks.iter().map(|b| b.mapping.as_ref().map(|m| self.convert_section(&b.scope, m))).collect();
        let mut plan = Plan::default();
        let names = config.site_names();
        // Each site reads only its own blocks and the server level's: linear in the file, even
        // with thousands of sites.
        let mut by_site: HashMap<String, Vec<usize>> = HashMap::new();
        let mut server = Vec::new();
        for (i, b) in config.blocks.iter().enumerate() {
            match b.scope.site() {
                Some(site) => by_site.entry(fold(site)).or_default().push(i),
                None => server.push(i),
            }
        }
        let declared: HashMap<String, &model::SiteDecl> =
            config.sites.iter().flatten().map(|d| (fold(&d.name), d)).collect();
        for name in names {
            let key = fold(&name);
            let mut relevant = server.clone();
            relevant.extend(by_site.get(&key).into_iter().flatten());
            relevant.sort_unstable();
            let view = SiteView { config: &config, blocks: &relevant, decl: declared.get(&key).copied() };
            if let Some(site) = self.site(&view, &converted, &name) {
                plan.sites.push(site);
            }
        }
        (plan, source)
    }

    /// Where the mapping section is: the seed's mistake and its web.config cousin.
    fn scoping(&mut self, config: &model::Config) {
        for b in &config.blocks {
            let Some(section) = &b.mapping else { continue };
            match &b.scope {
                Scope::Directory(site, dir) => self.push(F {
                    code: "mapping-not-at-site-root",
                    severity: Severity::Error,
                    message: format!(
                        "{SECTION} is configured for the directory {site}{dir}: IIS only honours certificate mapping at the site root (or server level), so on a directory it silently never runs"
                    ),
                    scope: Some(b.scope.clone()),
                    line: section.line,
                    symptom: SYMPTOM_401_2,
                    fix: format!(
                        "move the {SECTION} section to <location path=\"{site}\"> in applicationHost.config and keep only access (SSL settings) and the authentication schemes on {site}{dir}; certmap import with repair=true does exactly this"
                    ),
                    blocks: true,
                }),
                Scope::WebConfig => self.push(F {
                    code: "mapping-in-web-config",
                    severity: Severity::Error,
                    message: format!(
                        "{SECTION} is in a web.config: the section is locked (overrideModeDefault=\"Deny\") and belongs in applicationHost.config at the site root"
                    ),
                    scope: None,
                    line: section.line,
                    symptom: "500.19 Internal Server Error, 0x80070021: this configuration section cannot be used at this path (locked); unlocked below the site root it fails with 401.2, 0x80070005",
                    fix: format!(
                        "move it to <location path=\"SITE\"> in applicationHost.config{}; certmap import with site=SITE&repair=true does this",
                        self.options.web_config_site.as_ref().map(|s| format!(" (here <location path=\"{s}\">)")).unwrap_or_default()
                    ),
                    blocks: true,
                }),
                // IIS's own default, `enabled="false"` and nothing else, is not worth a word.
                Scope::Server
                    if section.enabled.as_deref().and_then(parse_bool) == Some(true)
                        || !section.one_to_one.items.is_empty()
                        || !section.many_to_one.items.is_empty() =>
                {
                    self.push(F {
                    code: "mapping-at-server-level",
                    severity: Severity::Info,
                    message: format!("{SECTION} is set at the server level: every site inherits it"),
                    scope: Some(b.scope.clone()),
                    line: section.line,
                    symptom: "none: IIS applies it to every site that does not override it",
                    fix: "certmap keeps mapping per site and imports these settings into each site of this file; configure the sites that need mapping individually".into(),
                    blocks: false,
                })
                }
                Scope::Server | Scope::Site(_) => {}
            }
        }
    }

    /// A web.config without a site: only what can be said about its own blocks.
    fn lint_web_config(&mut self, config: &model::Config) {
        for b in &config.blocks {
            if let Some(m) = &b.mapping {
                let c = self.convert_section(&b.scope, m);
                self.section_switches(&b.scope, m, &c);
            }
            let flags = b.ssl_flags.as_ref().map(|f| self.ssl_flags(&b.scope, f));
            if let Some(flags) = flags {
                let mut policy = DirectoryPolicy::default();
                flags.apply(&mut policy);
                let schemes = b.schemes.clone().map(|s| s.map(|s| (s.line, parse_bool(&s.value))));
                for (i, s) in schemes.iter().enumerate() {
                    if let Some((_, Some(on))) = s {
                        set_scheme(&mut policy, i, *on);
                    }
                }
                self.directory_rules(&b.scope, b.line, &mut policy, &[]);
            }
        }
    }

    fn convert_section(&mut self, scope: &Scope, m: &MappingSection) -> Converted {
        self.bool_attr(scope, m.line, "enabled", m.enabled.as_deref());
        self.bool_attr(scope, m.line, "oneToOneCertificateMappingsEnabled", m.one_to_one_enabled.as_deref());
        self.bool_attr(scope, m.line, "manyToOneCertificateMappingsEnabled", m.many_to_one_enabled.as_deref());
        if let Some(raw) = &m.logon_method {
            if raw.parse::<LogonMethod>().is_err() {
                self.invalid_value(scope, m.line, "logonMethod", raw, "Interactive, Batch, Network or ClearText");
            }
        }
        if let Some(raw) = &m.default_logon_domain {
            if LogonDomain::parse(raw).is_err() {
                self.invalid_value(scope, m.line, "defaultLogonDomain", raw, "a Windows domain name such as CONTOSO");
            }
        }
        let one_to_one = Collection {
            cleared: m.one_to_one.cleared,
            items: m.one_to_one.items.iter().map(|e| self.one_to_one(scope, e)).collect(),
        };
        let many_to_one = Collection {
            cleared: m.many_to_one.cleared,
            items: m.many_to_one.items.iter().map(|e| self.many_to_one(scope, e)).collect(),
        };
        Converted { one_to_one, many_to_one }
    }

    fn password(&mut self, scope: &Scope, line: u32, owner: &str, p: Option<&PasswordAttr>) -> Option<String> {
        match p? {
            PasswordAttr::Encrypted => {
                self.push(F {
                    code: "password-not-imported",
                    severity: Severity::Warning,
                    message: format!("the password of {owner} is encrypted by IIS's configuration provider, whose key never leaves that server: certmap cannot read it and does not import it"),
                    scope: Some(scope.clone()),
                    line,
                    symptom: "401.1 Unauthorized (logon failure) once certmap's rendered config replaces this one without a password",
                    fix: format!("after import, set the password of {owner} in certmap (PATCH the mapping with \"password\"), or keep setting it in IIS Manager"),
                    blocks: false,
                });
                None
            }
            PasswordAttr::Clear(pw) => {
                self.push(F {
                    code: "clear-text-password",
                    severity: Severity::Warning,
                    message: format!("the password of {owner} is in clear text: anyone who can read applicationHost.config can read it"),
                    scope: Some(scope.clone()),
                    line,
                    symptom: "none: IIS accepts it, but the account's password is exposed",
                    fix: "set it with IIS Manager or the PowerShell script certmap renders, so IIS encrypts it; certmap imports it encrypted at rest".into(),
                    blocks: false,
                });
                Some(pw.expose().to_owned())
            }
            PasswordAttr::Invalid => {
                self.push(F {
                    code: "invalid-password",
                    severity: Severity::Warning,
                    message: format!("the password of {owner} is empty, longer than 256 characters or holds control characters: not imported"),
                    scope: Some(scope.clone()),
                    line,
                    symptom: "401.1 Unauthorized: logon failure",
                    fix: format!("set the password of {owner} again"),
                    blocks: false,
                });
                None
            }
        }
    }

    fn one_to_one(&mut self, scope: &Scope, e: &model::OneToOneEntry) -> Option<OneToOneDraft> {
        // An error blocks the entry it names: a flag IIS cannot read is not guessed.
        let enabled = match e.enabled.as_deref() {
            None => true,
            raw => self.bool_attr(scope, e.line, "enabled of a one-to-one mapping; the entry is not imported", raw)?,
        };
        let Some(raw) = &e.certificate else {
            self.push(F {
                code: "certificate-missing",
                severity: Severity::Error,
                message: "a one-to-one mapping has no certificate attribute (it is required: the collection's key)"
                    .into(),
                scope: Some(scope.clone()),
                line: e.line,
                symptom: SYMPTOM_500_19,
                fix: "add the client certificate as base64 of its DER on one line, or remove the entry".into(),
                blocks: false,
            });
            return None;
        };
        let certificate = self.certificate(scope, e.line, raw)?;
        let who = e.user_name.as_deref().unwrap_or("");
        let owner = format!("the one-to-one mapping of {} ({who})", certificate.info().subject);
        let password = self.password(scope, e.line, &owner, e.password.as_ref());
        let user_name = match UserName::parse(who) {
            Ok(u) => u,
            Err(r) => {
                self.push(F {
                    code: "invalid-user-name",
                    severity: Severity::Error,
                    message: format!(
                        "the certificate {} is mapped to an invalid account: {}",
                        certificate.info().subject,
                        r.message
                    ),
                    scope: Some(scope.clone()),
                    line: e.line,
                    symptom: "401.1 Unauthorized: IIS cannot log the account on",
                    fix: "set userName to DOMAIN\\user, user@domain or user; the entry is not imported until then"
                        .into(),
                    blocks: false,
                });
                return None;
            }
        };
        let info = certificate.info();
        if info.is_ca {
            self.push(F {
                code: "certificate-is-ca",
                severity: Severity::Warning,
                message: format!(
                    "{} is a CA certificate, not a client certificate; certmap does not import it",
                    info.subject
                ),
                scope: Some(scope.clone()),
                line: e.line,
                symptom: "the mapping only matches a client presenting the CA certificate itself",
                fix: "map the client certificates the CA issues (one-to-one), or use a many-to-one rule on the Issuer"
                    .into(),
                blocks: false,
            });
            return None;
        }
        match certificate.validity_at(self.options.now) {
            Validity::Valid => {}
            v => self.push(F {
                code: "certificate-expired",
                severity: Severity::Warning,
                message: match v {
                    Validity::Expired => format!("the certificate mapped to {user_name} ({}) expired on {}", info.subject, rfc3339(info.not_after)),
                    _ => format!("the certificate mapped to {user_name} ({}) is not valid before {}", info.subject, rfc3339(info.not_before)),
                },
                scope: Some(scope.clone()),
                line: e.line,
                symptom: "403.17: the client certificate has expired or is not yet valid",
                fix: "map the client's renewed certificate (a renewed certificate is a new mapping) and remove this one; certmap imports it with allow_expired".into(),
                blocks: false,
            }),
        }
        Some(OneToOneDraft { line: e.line, user_name, enabled, certificate, password })
    }

    /// The certificate as IIS stores it; a damaged blob is named precisely and imported cleaned
    /// when it still holds a certificate.
    fn certificate(&mut self, scope: &Scope, line: u32, raw: &str) -> Option<Certificate> {
        let damage = if raw.contains("-----BEGIN") || raw.contains("-----END") {
            Some("it still has its PEM armour (-----BEGIN CERTIFICATE-----)".to_owned())
        } else if raw.contains(['\n', '\r']) {
            Some("it holds line breaks".to_owned())
        } else if raw.contains(char::is_whitespace) {
            Some("it holds spaces".to_owned())
        } else {
            use base64::Engine as _;
            match base64::engine::general_purpose::STANDARD.decode(raw) {
                Err(e) => Some(format!("it is not valid base64 ({e})")),
                Ok(der) => Certificate::from_der(&der).err().map(|e| e.to_string()),
            }
        };
        let lenient = Certificate::parse_text(raw).map(|p| p.certificate);
        if let Some(damage) = damage {
            let fix = match &lenient {
                Ok(_) => "give IIS the base64 of the DER on one line, without armour, spaces or line breaks; certmap import with repair=true imports it in that form, so deploying certmap's rendered configuration fixes it".to_owned(),
                Err(_) => "export the client certificate again as Base-64 encoded X.509 (.cer) and paste its base64 on one line, without the BEGIN/END lines; this entry is not imported".to_owned(),
            };
            let message = match &lenient {
                Err(e) => format!("a one-to-one certificate cannot be decoded: {damage}; {e}"),
                Ok(c) => format!("the certificate of {} is damaged as IIS reads it: {damage}", c.info().subject),
            };
            self.push(F {
                code: "certificate-damaged",
                severity: Severity::Error,
                message,
                scope: Some(scope.clone()),
                line,
                symptom: SYMPTOM_BAD_BLOB,
                fix,
                // An error blocks its entry: the cleaned certificate is imported only as a repair.
                blocks: lenient.is_ok(),
            });
            if let Ok(c) = &lenient {
                self.repairs.push(format!("{}: re-encoded the certificate of {}", place(scope), c.info().subject));
            }
        }
        lenient.ok()
    }

    fn many_to_one(&mut self, scope: &Scope, e: &model::ManyToOneEntry) -> Option<ManyToOneDraft> {
        let bad = |a: &mut Self, code, message: String, symptom, fix: &str| {
            a.push(F {
                code,
                severity: Severity::Error,
                message,
                scope: Some(scope.clone()),
                line: e.line,
                symptom,
                fix: fix.into(),
                blocks: false,
            })
        };
        let Some(name) = e.name.as_deref().and_then(|n| parse_mapping_name(n).ok()) else {
            bad(
                self,
                "invalid-value",
                format!(
                    "a many-to-one mapping has no valid name ({:?}): the name is the collection's key",
                    e.name.as_deref().unwrap_or("")
                ),
                SYMPTOM_500_19,
                "give it a unique name of 1 to 255 characters",
            );
            return None;
        };
        let label = format!("many-to-one mapping {name:?}");
        let enabled = match e.enabled.as_deref() {
            None => true,
            raw => self.bool_attr(scope, e.line, &format!("enabled of {label}; the mapping is not imported"), raw)?,
        };
        let mode = match e.permission_mode.as_deref().map(PermissionMode::parse) {
            None => PermissionMode::Allow,
            Some(Ok(m)) => m,
            Some(Err(_)) => {
                self.invalid_value(
                    scope,
                    e.line,
                    &format!("permissionMode of {label}"),
                    e.permission_mode.as_deref().unwrap_or(""),
                    "Allow or Deny",
                );
                return None;
            }
        };
        let description = match e.description.as_deref().map(parse_description) {
            None => None,
            Some(Ok(d)) => Some(d),
            Some(Err(r)) => {
                self.push(F {
                    code: "invalid-description",
                    severity: Severity::Warning,
                    message: format!("the description of {label} is not imported: {}", r.message),
                    scope: Some(scope.clone()),
                    line: e.line,
                    symptom: "none: IIS does not use the description",
                    fix: "shorten the description to 1024 characters without control characters".into(),
                    blocks: false,
                });
                None
            }
        };
        let password = self.password(scope, e.line, &label, e.password.as_ref());
        let user_name = match e.user_name.as_deref().filter(|u| !u.is_empty()) {
            None => None,
            Some(u) => match UserName::parse(u) {
                Ok(u) => Some(u),
                Err(r) => {
                    bad(
                        self,
                        "invalid-user-name",
                        format!("{label} names an invalid account: {}", r.message),
                        "401.1 Unauthorized: IIS cannot log the account on",
                        "set userName to DOMAIN\\user, user@domain or user; not imported until then",
                    );
                    return None;
                }
            },
        };
        if mode == PermissionMode::Allow && user_name.is_none() {
            bad(
                self,
                "allow-without-user",
                format!("{label} allows certificates but names no account to log them on as"),
                "401.1 Unauthorized: logon failure for every certificate it matches",
                "set userName (and its password), or make it a Deny mapping; not imported until then",
            );
            return None;
        }
        let mut rules = Vec::new();
        let mut ok = true;
        for r in &e.rules.items {
            ok &= self.rule(scope, &label, r, &mut rules);
        }
        if !ok {
            return None;
        }
        if rules.is_empty() {
            self.push(F {
                code: "many-to-one-without-rules",
                severity: Severity::Warning,
                message: format!("{label} has no rules, so nothing says which certificates it applies to; certmap does not import it"),
                scope: Some(scope.clone()),
                line: e.line,
                symptom: "the mapping is not limited to any issuer or subject",
                fix: "add at least one rule (e.g. Issuer CN = your issuing CA)".into(),
                blocks: false,
            });
            return None;
        }
        if rules.len() > MAX_RULES {
            bad(
                self,
                "too-many-rules",
                format!("{label} has {} rules; certmap stores at most {MAX_RULES}", rules.len()),
                "every rule is checked on every request",
                "split the mapping",
            );
            return None;
        }
        Some(ManyToOneDraft { line: e.line, name, description, enabled, mode, user_name, password, rules })
    }

    /// A rule converted, or its finding; false when the mapping cannot be imported.
    fn rule(&mut self, scope: &Scope, label: &str, r: &model::RuleEntry, out: &mut Vec<Rule>) -> bool {
        let finding = |a: &mut Self, code, message: String, symptom, fix: &str| {
            a.push(F {
                code,
                severity: Severity::Error,
                message,
                scope: Some(scope.clone()),
                line: r.line,
                symptom,
                fix: fix.into(),
                blocks: false,
            });
            false
        };
        let field = match CertificateField::parse(r.field.as_deref().unwrap_or("")) {
            Ok(f) => f,
            Err(_) => {
                return finding(
                    self,
                    "unknown-certificate-field",
                    format!(
                        "a rule of {label} has certificateField {:?}: IIS knows only Subject and Issuer",
                        r.field.as_deref().unwrap_or("")
                    ),
                    SYMPTOM_500_19,
                    "set certificateField to Subject or Issuer",
                );
            }
        };
        let sub_field = match SubField::parse(r.sub_field.as_deref().unwrap_or("")) {
            Ok(f) => f,
            Err(_) => {
                return finding(self, "unknown-certificate-sub-field", format!("a rule of {label} has certificateSubField {:?}, which names no part of a certificate name IIS compares", r.sub_field.as_deref().unwrap_or("")), "the rule never matches, so the mapping never applies: its certificates get 401.1 or 403.7", "use CN, OU, O, L, S (state or province), C or E");
            }
        };
        let criteria = match MatchCriteria::parse(r.criteria.as_deref().unwrap_or("")) {
            Ok(c) => c,
            Err(_) if r.criteria.as_deref().is_none_or(|c| c.trim().is_empty()) => {
                return finding(
                    self,
                    "empty-match-criteria",
                    format!("a rule of {label} has an empty matchCriteria"),
                    "the rule never matches, so the mapping never applies: its certificates get 401.1",
                    "set matchCriteria to the value to match; * matches any value",
                );
            }
            Err(rej) => {
                return finding(
                    self,
                    "invalid-value",
                    format!("a rule of {label}: {}", rej.message),
                    SYMPTOM_500_19,
                    "shorten the matchCriteria and remove control characters",
                );
            }
        };
        let case_sensitive = match r.case_sensitive.as_deref() {
            None => true,
            raw => match self.bool_attr(
                scope,
                r.line,
                &format!("compareCaseSensitive of a rule of {label}; the mapping is not imported"),
                raw,
            ) {
                Some(b) => b,
                None => return false,
            },
        };
        out.push(Rule { field, sub_field, criteria, case_sensitive });
        true
    }

    /// Mappings present but switched off, for one section (or a site's merged settings).
    fn section_switches(&mut self, scope: &Scope, m: &MappingSection, c: &Converted) {
        let settings = settings_of(std::iter::once(m));
        let (ones, manys) = (c.one_to_one.items.len(), c.many_to_one.items.len());
        self.switches(scope, m.line, &settings, ones, manys);
    }

    fn switches(&mut self, scope: &Scope, line: u32, s: &MappingSettings, ones: usize, manys: usize) {
        if !s.enabled && ones + manys > 0 {
            self.push(F {
                code: "mapping-disabled",
                severity: Severity::Warning,
                message: format!("{SECTION} has {ones} one-to-one and {manys} many-to-one mappings but is not enabled (enabled is false, IIS's default)"),
                scope: Some(scope.clone()),
                line,
                symptom: "IIS ignores every mapping: requests to directories that require a certificate fail with 401.2",
                fix: format!("set enabled=\"true\" on {SECTION} at the site root"),
                blocks: false,
            });
        }
        if s.enabled && !s.one_to_one_enabled && ones > 0 {
            self.push(F {
                code: "one-to-one-disabled",
                severity: Severity::Warning,
                message: format!("{ones} one-to-one mappings exist but oneToOneCertificateMappingsEnabled is false"),
                scope: Some(scope.clone()),
                line,
                symptom: "IIS skips the one-to-one mappings: those certificates get 401.1",
                fix: "set oneToOneCertificateMappingsEnabled=\"true\", or remove the one-to-one mappings".into(),
                blocks: false,
            });
        }
        if s.enabled && !s.many_to_one_enabled && manys > 0 {
            self.push(F {
                code: "many-to-one-disabled",
                severity: Severity::Warning,
                message: format!("{manys} many-to-one mappings exist but manyToOneCertificateMappingsEnabled is false"),
                scope: Some(scope.clone()),
                line,
                symptom: "IIS skips the many-to-one rules: certificates they would match get 401.1",
                fix: "set manyToOneCertificateMappingsEnabled=\"true\", or remove the many-to-one mappings".into(),
                blocks: false,
            });
        }
    }

    fn ssl_flags(&mut self, scope: &Scope, flags: &At<String>) -> Flags {
        let mut out = Flags::default();
        for token in flags.value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            match token.to_ascii_lowercase().as_str() {
                "none" => {}
                "ssl" => out.ssl = true,
                "ssl128" => {
                    out.ssl = true;
                    self.push(F {
                        code: "ssl128-not-kept",
                        severity: Severity::Info,
                        message: "sslFlags holds Ssl128: certmap keeps Require SSL but not the 128-bit key requirement, and renders Ssl".into(),
                        scope: Some(scope.clone()),
                        line: flags.line,
                        symptom: "none with TLS 1.2 or later, whose ciphers are all 128-bit or stronger",
                        fix: "nothing, unless clients still negotiate export-grade ciphers; then keep Ssl128 in IIS by hand".into(),
                        blocks: false,
                    });
                }
                "sslnegotiatecert" => out.negotiate = true,
                "sslrequirecert" => out.require = true,
                "sslmapcert" => {
                    self.repairs.push(format!("{}: dropped SslMapCert from sslFlags", place(scope)));
                    self.push(F {
                    code: "sslmapcert-not-valid",
                    severity: Severity::Error,
                    message: "sslFlags holds SslMapCert, an IIS 6 metabase flag: the IIS 7-10 schema has no such flag, and mapping is never switched on through sslFlags".into(),
                    scope: Some(scope.clone()),
                    line: flags.line,
                    symptom: "500.19 (invalid sslFlags value) where the schema refuses it; at best no effect, and the mapping still does not run",
                    fix: format!("remove SslMapCert from sslFlags; enable {SECTION} at the site root instead (certmap import with repair=true drops the flag)"),
                    blocks: true,
                })
                }
                _ => {
                    let shown: String = token.chars().take(40).collect();
                    self.push(F {
                        code: "invalid-ssl-flags",
                        severity: Severity::Error,
                        message: format!("sslFlags holds {shown:?}, which is not one of None, Ssl, SslNegotiateCert, SslRequireCert, Ssl128"),
                        scope: Some(scope.clone()),
                        line: flags.line,
                        symptom: SYMPTOM_500_19,
                        fix: "use IIS Manager's SSL Settings, or write the flags as \"Ssl, SslNegotiateCert, SslRequireCert\"; certmap import with repair=true ignores the unknown flag".into(),
                        // An error blocks its item: the directory's protection is not guessed.
                        blocks: true,
                    });
                    self.repairs.push(format!("{}: ignored the unknown sslFlags value {shown:?}", place(scope)));
                }
            }
        }
        out
    }

    /// certmap's directory rules on an effective policy; with repair the policy is fixed in place.
    fn directory_rules(&mut self, scope: &Scope, line: u32, policy: &mut DirectoryPolicy, scheme_lines: &[u32]) {
        if policy.negotiates_certificates() && !policy.require_ssl {
            self.push(F {
                code: "client-cert-requires-ssl",
                severity: Severity::Error,
                message: format!("sslFlags asks for client certificates ({}) without Ssl: IIS only negotiates a client certificate over SSL, and IIS Manager cannot save \"Require client certificates\" without \"Require SSL\"", if policy.is_secured() { "SslRequireCert" } else { "SslNegotiateCert" }),
                scope: Some(scope.clone()),
                line,
                symptom: "over plain HTTP the certificate is never requested, so the mapping never runs (403.7 once SSL is required)",
                fix: "add Ssl to sslFlags (IIS Manager: SSL Settings, Require SSL); certmap import with repair=true adds it".into(),
                blocks: true,
            });
            self.repairs.push(format!("{}: added Ssl to sslFlags", place(scope)));
            policy.require_ssl = true;
        }
        if policy.is_secured() {
            for (i, name) in SCHEMES.iter().enumerate() {
                if scheme(policy, i) {
                    let why = if i == 0 {
                        "with anonymous authentication on, IIS serves the request anonymously and the certificate mapping never runs"
                    } else {
                        "IIS may authenticate the request with that scheme instead of the certificate"
                    };
                    self.push(F {
                        code: "secured-directory-allows-other-auth",
                        severity: Severity::Error,
                        message: format!("the directory requires client certificates but {name} is enabled: {why}"),
                        scope: Some(scope.clone()),
                        line: scheme_lines.get(i).copied().unwrap_or(line),
                        symptom: "the mapping never triggers: requests run as the anonymous or another account instead of the mapped user",
                        fix: format!("set <{name} enabled=\"false\"/> for this location; certmap import with repair=true does this"),
                        blocks: true,
                    });
                    self.repairs.push(format!("{}: disabled {name}", place(scope)));
                    set_scheme(policy, i, false);
                }
            }
        }
    }

    fn site(&mut self, view: &SiteView<'_>, converted: &[Option<Converted>], raw_name: &str) -> Option<SitePlan> {
        let (config, decl) = (view.config, view.decl);
        let first_block = view.blocks().map(|(_, b)| b).find(|b| b.scope.site().is_some());
        let line = decl.map(|d| d.line).or(first_block.map(|b| b.line)).unwrap_or(1);
        let site_scope = Scope::Site(raw_name.to_owned());
        if config.sites.is_some() && decl.is_none() {
            self.push(F {
                code: "unknown-site",
                severity: Severity::Warning,
                message: format!("<location path> names the site {raw_name:?}, which system.applicationHost/sites does not declare"),
                scope: Some(site_scope.clone()),
                line,
                symptom: "IIS applies the settings to no site",
                fix: "correct the site name in the location path (IIS compares it case-insensitively); certmap imports it as a site of that name".into(),
                blocks: false,
            });
        }
        let name = match SiteName::parse_new(raw_name) {
            Ok(n) => n,
            Err(r) => {
                self.push(F {
                    code: "invalid-site-name",
                    severity: Severity::Error,
                    message: format!("the site name {raw_name:?} cannot be imported: {}", r.message),
                    scope: Some(site_scope),
                    line,
                    symptom: if r.code == "ambiguous-site-name" {
                        "none in IIS; in certmap a gateway's X-Certmap-Site would read the name as a site id"
                    } else {
                        "IIS Manager refuses such a name"
                    },
                    fix: "rename the site".into(),
                    blocks: false,
                });
                return None;
            }
        };
        let of_site = |b: &&Block| b.scope.site().is_some_and(|s| s.eq_ignore_ascii_case(raw_name));
        let hostnames = decl
            .map(|d| {
                let mut seen = std::collections::HashSet::new();
                let mut out: Vec<Hostname> = Vec::new();
                for h in d.hosts.iter().filter_map(|h| Hostname::parse(h).ok()) {
                    if seen.insert(h.as_str().to_owned()) {
                        out.push(h);
                    }
                }
                out
            })
            .unwrap_or_default();

        // The mapping section: server, then site root, then — repaired — every directory's.
        let mut sections: Vec<(&MappingSection, &Converted)> = Vec::new();
        let mut moved = Vec::new();
        for (i, b) in view.blocks() {
            let (Some(m), Some(c)) = (&b.mapping, &converted[i]) else { continue };
            match &b.scope {
                Scope::Server => sections.push((m, c)),
                Scope::Site(_) if of_site(&b) => sections.push((m, c)),
                Scope::Directory(..) if of_site(&b) => moved.push((b, m, c)),
                _ => {}
            }
        }
        let site_mapping_before_repair = !sections.is_empty();
        for (b, m, c) in &moved {
            self.repairs.push(format!("{}: moved {SECTION} to <location path=\"{name}\">", place(&b.scope)));
            sections.push((m, c));
        }
        let mapping = settings_of(sections.iter().map(|(m, _)| *m));
        let one_to_one = self.merge_one_to_one(&site_scope, &sections);
        let many_to_one = self.merge_many_to_one(&site_scope, &sections);
        let last_line = sections.last().map_or(line, |(m, _)| m.line);
        self.switches(&site_scope, last_line, &mapping, one_to_one.len(), many_to_one.len());

        let located = self.directories(view, raw_name);
        let secured = located.iter().filter(|(d, _, _)| d.policy.is_secured());
        let mapping_usable = mapping.enabled && (mapping.one_to_one_enabled || mapping.many_to_one_enabled);
        if !mapping_usable && moved.is_empty() {
            for (_, dir_line, scope) in secured {
                self.push(F {
                    code: "secured-directory-without-site-mapping",
                    severity: Severity::Error,
                    message: format!(
                        "{} requires client certificates and allows no other authentication, but the site has {}",
                        place(scope),
                        if site_mapping_before_repair {
                            format!("{SECTION} disabled")
                        } else {
                            format!("no {SECTION} at its root")
                        }
                    ),
                    scope: Some(scope.clone()),
                    line: *dir_line,
                    symptom: "401.2 Unauthorized: no enabled authentication method can log the request on",
                    fix: format!(
                        "enable {SECTION} at <location path=\"{name}\"> with the one-to-one or many-to-one mappings"
                    ),
                    blocks: false,
                });
            }
        }
        let directories: Vec<DirectorySpec> = located.into_iter().map(|(d, _, _)| d).collect();
        if mapping.enabled
            && one_to_one.len() + many_to_one.len() > 0
            && !directories.iter().any(|d| d.policy.negotiates_certificates())
        {
            self.push(F {
                code: "ssl-ignores-certificates",
                severity: Severity::Warning,
                message: format!("{name} has enabled certificate mappings but no location of the site asks for a client certificate (sslFlags never has SslNegotiateCert or SslRequireCert)"),
                scope: Some(site_scope),
                line: last_line,
                symptom: "the mapping never triggers: with SSL Settings at Ignore IIS does not request a certificate",
                fix: "set sslFlags=\"Ssl, SslNegotiateCert, SslRequireCert\" (SSL Settings: Require SSL, client certificates Require) on the directories to protect, with anonymous authentication off".into(),
                blocks: false,
            });
        }
        Some(SitePlan { name, line, hostnames, mapping, directories, one_to_one, many_to_one })
    }

    fn merge_one_to_one(&mut self, scope: &Scope, sections: &[(&MappingSection, &Converted)]) -> Vec<OneToOnePlan> {
        let mut out: Vec<OneToOnePlan> = Vec::new();
        let mut seen: HashMap<String, u32> = HashMap::new();
        let mut duplicated = std::collections::HashSet::new();
        for (_, c) in sections {
            if c.one_to_one.cleared {
                out.clear();
                seen.clear();
                duplicated.clear();
            }
            for d in c.one_to_one.items.iter().flatten() {
                let sha = d.certificate.info().sha256.clone();
                if let Some(first) = seen.get(&sha) {
                    self.push(F {
                        code: "duplicate-certificate",
                        severity: Severity::Error,
                        message: format!("the certificate of {} is mapped again (first on line {first}): a certificate is the key of oneToOneMappings and may appear once per site", d.certificate.info().subject),
                        scope: Some(scope.clone()),
                        line: d.line,
                        symptom: "500.19: cannot add duplicate collection entry of type 'add' with unique key attribute 'certificate'",
                        fix: "remove one of the entries; until then certmap imports neither, since IIS refuses the file and which account was meant is unknown".into(),
                        blocks: false,
                    });
                    duplicated.insert(sha);
                    continue;
                }
                seen.insert(sha, d.line);
                out.push(OneToOnePlan {
                    line: d.line,
                    user_name: d.user_name.clone(),
                    enabled: d.enabled,
                    certificate: d.certificate.clone(),
                    password: d.password.clone().and_then(|p| Password::parse(p).ok()),
                });
            }
        }
        out.retain(|m| !duplicated.contains(&m.certificate.info().sha256));
        out
    }

    fn merge_many_to_one(&mut self, scope: &Scope, sections: &[(&MappingSection, &Converted)]) -> Vec<ManyToOnePlan> {
        let mut out: Vec<ManyToOneDraft> = Vec::new();
        let mut lines: HashMap<String, u32> = HashMap::new();
        let mut duplicated = std::collections::HashSet::new();
        for (_, c) in sections {
            if c.many_to_one.cleared {
                out.clear();
                lines.clear();
                duplicated.clear();
            }
            for d in c.many_to_one.items.iter().flatten() {
                if let Some(&first) = lines.get(&fold(&d.name)) {
                    self.push(F {
                        code: "duplicate-many-to-one-name",
                        severity: Severity::Error,
                        message: format!("the many-to-one mapping {:?} is defined again (first on line {first}): the name is the collection's key", d.name),
                        scope: Some(scope.clone()),
                        line: d.line,
                        symptom: "500.19: cannot add duplicate collection entry of type 'add' with unique key attribute 'name'",
                        fix: "rename or remove one of them; until then certmap imports neither".into(),
                        blocks: false,
                    });
                    duplicated.insert(fold(&d.name));
                    continue;
                }
                lines.insert(fold(&d.name), d.line);
                out.push(d.clone());
            }
        }
        out.into_iter()
            .filter(|d| !duplicated.contains(&fold(&d.name)))
            .map(|d| ManyToOnePlan {
                line: d.line,
                name: d.name,
                description: d.description,
                enabled: d.enabled,
                mode: d.mode,
                user_name: d.user_name,
                password: d.password.and_then(|p| Password::parse(p).ok()),
                rules: d.rules,
            })
            .collect()
    }

    /// Every location of the site with SSL or authentication settings, with the settings IIS
    /// would apply there: IIS's defaults, then the server level, the site root and each parent
    /// directory, then its own.
    /// With each directory, the line and scope its findings point at.
    fn directories(&mut self, view: &SiteView<'_>, raw_site: &str) -> Vec<(DirectorySpec, u32, Scope)> {
        struct Dir<'b> {
            path: VirtualPath,
            scope: Scope,
            blocks: Vec<&'b Block>,
        }
        let mut dirs: Vec<Dir<'_>> = Vec::new();
        // Lookups by path key keep this linear in the locations, however many a site has.
        let mut dir_at: HashMap<String, usize> = HashMap::new();
        let mut inherited: Vec<(&Block, Option<VirtualPath>)> = Vec::new();
        for (_, b) in view.blocks() {
            let path = match &b.scope {
                Scope::Server => {
                    inherited.push((b, None));
                    continue;
                }
                Scope::Site(s) if s.eq_ignore_ascii_case(raw_site) => VirtualPath::parse("/").expect("root"),
                Scope::Directory(s, d) if s.eq_ignore_ascii_case(raw_site) => match VirtualPath::parse(d) {
                    Ok(p) => p,
                    Err(r) => {
                        if b.has_directory_settings() {
                            self.push(F {
                                code: "invalid-path",
                                severity: Severity::Error,
                                message: format!("the location {raw_site}{d} cannot be imported: {}", r.message),
                                scope: Some(b.scope.clone()),
                                line: b.line,
                                symptom: "IIS cannot serve such a path",
                                fix: "correct the location path".into(),
                                blocks: false,
                            });
                        }
                        continue;
                    }
                },
                _ => continue,
            };
            inherited.push((b, Some(path.clone())));
            if !b.has_directory_settings() {
                continue;
            }
            match dir_at.get(&path_key(&path)) {
                Some(&i) => dirs[i].blocks.push(b),
                None => {
                    dir_at.insert(path_key(&path), dirs.len());
                    dirs.push(Dir { path, scope: b.scope.clone(), blocks: vec![b] });
                }
            }
        }
        // A site root without settings of its own still has the server level's: when those are
        // not IIS's defaults, the root is a directory certmap must know about.
        if !dirs.iter().any(|d| d.path.is_root()) {
            let mut server = DirectoryPolicy::default();
            for (b, _) in inherited.iter().filter(|(_, p)| p.is_none()) {
                if let Some(f) = &b.ssl_flags {
                    quiet_flags(f).apply(&mut server);
                }
                for (i, s) in b.schemes.iter().enumerate() {
                    if let Some(v) = s.as_ref().and_then(|s| parse_bool(&s.value)) {
                        set_scheme(&mut server, i, v);
                    }
                }
            }
            if server != DirectoryPolicy::default() {
                let path = VirtualPath::parse("/").expect("root");
                dirs.push(Dir { path, scope: Scope::Site(raw_site.to_owned()), blocks: Vec::new() });
            }
        }
        let mut server_level = Vec::new();
        let mut inherited_at: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, (_, p)) in inherited.iter().enumerate() {
            match p {
                None => server_level.push(i),
                Some(p) => inherited_at.entry(path_key(p)).or_default().push(i),
            }
        }
        let mut out = Vec::new();
        for d in &dirs {
            // Ancestors (and the directory itself) in depth order, the server level first; in
            // file order within one path.
            let mut chain: Vec<&(&Block, Option<VirtualPath>)> =
                server_level.iter().map(|&i| &inherited[i]).collect();
            for key in ancestor_keys(&d.path) {
                chain.extend(inherited_at.get(&key).into_iter().flatten().map(|&i| &inherited[i]));
            }
            let own: std::collections::HashSet<*const Block> = d.blocks.iter().map(|b| *b as *const Block).collect();
            let mut policy = DirectoryPolicy::default();
            let first_line = d.blocks.first().or(chain.first().map(|(b, _)| b)).map_or(1, |b| b.line);
            let mut flags_line = first_line;
            let mut scheme_lines = [first_line; 4];
            for (b, _) in &chain {
                if let Some(f) = &b.ssl_flags {
                    // Findings about the flags' spelling belong to the block that has them.
                    let is_own = own.contains(&(*b as *const Block));
                    let flags = if is_own { self.ssl_flags(&b.scope, f) } else { quiet_flags(f) };
                    flags.apply(&mut policy);
                    flags_line = f.line;
                }
                for (i, s) in b.schemes.iter().enumerate() {
                    if let Some(s) = s {
                        let is_own = own.contains(&(*b as *const Block));
                        let v = if is_own {
                            self.bool_attr(&b.scope, s.line, &format!("enabled of {}", SCHEMES[i]), Some(&s.value))
                        } else {
                            parse_bool(&s.value)
                        };
                        if let Some(v) = v {
                            set_scheme(&mut policy, i, v);
                            scheme_lines[i] = s.line;
                        }
                    }
                }
            }
            self.directory_rules(&d.scope, flags_line, &mut policy, &scheme_lines);
            out.push((DirectorySpec { path: d.path.clone(), policy }, flags_line, d.scope.clone()));
        }
        out.sort_by(|a, b| a.0.path.as_str().cmp(b.0.path.as_str()));
        out
    }
}

/// The blocks one site inherits from: the server level's and its own, in file order.
struct SiteView<'c> {
    config: &'c model::Config,
    blocks: &'c [usize],
    decl: Option<&'c model::SiteDecl>,
}

impl<'c> SiteView<'c> {
    fn blocks(&self) -> impl Iterator<Item = (usize, &'c Block)> + '_ {
        self.blocks.iter().map(|&i| (i, &self.config.blocks[i]))
    }
}

/// How locations of one site are told apart: case-insensitively, as IIS compares paths.
fn path_key(path: &VirtualPath) -> String {
    path.as_str().to_lowercase()
}

/// The keys of `path` and each of its ancestors, the site root first.
fn ancestor_keys(path: &VirtualPath) -> Vec<String> {
    let key = path_key(path);
    let mut keys = vec!["/".to_owned()];
    if !path.is_root() {
        keys.extend(key.match_indices('/').skip(1).map(|(i, _)| key[..i].to_owned()));
        keys.push(key);
    }
    keys
}

#[derive(Debug, Default, Clone, Copy)]
struct Flags {
    ssl: bool,
    negotiate: bool,
    require: bool,
}

impl Flags {
    fn apply(self, p: &mut DirectoryPolicy) {
        p.require_ssl = self.ssl;
        p.client_certificates = if self.require {
            ClientCertificates::Require
        } else if self.negotiate {
            ClientCertificates::Accept
        } else {
            ClientCertificates::Ignore
        };
    }
}

fn quiet_flags(f: &At<String>) -> Flags {
    let mut out = Flags::default();
    for t in f.value.split(',').map(|t| t.trim().to_ascii_lowercase()) {
        match t.as_str() {
            "ssl" | "ssl128" => out.ssl = true,
            "sslnegotiatecert" => out.negotiate = true,
            "sslrequirecert" => out.require = true,
            _ => {}
        }
    }
    out
}

fn scheme(p: &DirectoryPolicy, i: usize) -> bool {
    [p.anonymous_auth, p.basic_auth, p.windows_auth, p.digest_auth][i]
}

fn set_scheme(p: &mut DirectoryPolicy, i: usize, on: bool) {
    match i {
        0 => p.anonymous_auth = on,
        1 => p.basic_auth = on,
        2 => p.windows_auth = on,
        _ => p.digest_auth = on,
    }
}

/// Attributes merged the way IIS merges them: the deepest section that sets one wins; invalid
/// values (already reported) leave the inherited one.
fn settings_of<'m>(sections: impl Iterator<Item = &'m MappingSection>) -> MappingSettings {
    let mut s = MappingSettings::default();
    for m in sections {
        if let Some(v) = m.enabled.as_deref().and_then(parse_bool) {
            s.enabled = v;
        }
        if let Some(v) = m.one_to_one_enabled.as_deref().and_then(parse_bool) {
            s.one_to_one_enabled = v;
        }
        if let Some(v) = m.many_to_one_enabled.as_deref().and_then(parse_bool) {
            s.many_to_one_enabled = v;
        }
        if let Some(v) = m.logon_method.as_deref().and_then(|v| v.parse().ok()) {
            s.logon_method = v;
        }
        if let Some(v) = m.default_logon_domain.as_deref().and_then(|v| LogonDomain::parse(v).ok()) {
            s.default_logon_domain = v;
        }
    }
    s
}
