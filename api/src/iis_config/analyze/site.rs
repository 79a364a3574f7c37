//! One site: the mapping settings and entries it inherits, merged as IIS merges them, and the
//! findings only the whole site can earn.

use std::collections::HashMap;

use super::super::model::{Block, MappingSection, Scope};
use super::entries::{Converted, ManyToOneDraft};
use super::plan::{ManyToOnePlan, OneToOnePlan, SitePlan};
use super::{parse_bool, place, Analyzer, SiteView, F, SECTION};
use crate::domain::directory::DirectorySpec;
use crate::domain::names::{fold, Hostname, LogonDomain, SiteName};
use crate::domain::site::MappingSettings;
use crate::secrets::Password;

impl Analyzer<'_> {
    /// Mappings present but switched off, for one section (or a site's merged settings).
    pub(super) fn section_switches(&mut self, scope: &Scope, m: &MappingSection, c: &Converted) {
        let settings = settings_of(std::iter::once(m));
        let (ones, manys) = (c.one_to_one.items.len(), c.many_to_one.items.len());
        self.switches(scope, m.line, &settings, ones, manys);
    }

    pub(super) fn switches(&mut self, scope: &Scope, line: u32, s: &MappingSettings, ones: usize, manys: usize) {
        if !s.enabled && ones + manys > 0 {
            self.push(F::warning("mapping-disabled", Some(scope), line)
                .says(format!("{SECTION} has {ones} one-to-one and {manys} many-to-one mappings but is not enabled (enabled is false, IIS's default)"))
                .symptom("IIS ignores every mapping: requests to directories that require a certificate fail with 401.2")
                .fix(format!("set enabled=\"true\" on {SECTION} at the site root")));
        }
        if s.enabled && !s.one_to_one_enabled && ones > 0 {
            self.push(
                F::warning("one-to-one-disabled", Some(scope), line)
                    .says(format!("{ones} one-to-one mappings exist but oneToOneCertificateMappingsEnabled is false"))
                    .symptom("IIS skips the one-to-one mappings: those certificates get 401.1")
                    .fix("set oneToOneCertificateMappingsEnabled=\"true\", or remove the one-to-one mappings"),
            );
        }
        if s.enabled && !s.many_to_one_enabled && manys > 0 {
            self.push(
                F::warning("many-to-one-disabled", Some(scope), line)
                    .says(format!(
                        "{manys} many-to-one mappings exist but manyToOneCertificateMappingsEnabled is false"
                    ))
                    .symptom("IIS skips the many-to-one rules: certificates they would match get 401.1")
                    .fix("set manyToOneCertificateMappingsEnabled=\"true\", or remove the many-to-one mappings"),
            );
        }
    }

    pub(super) fn site(
        &mut self,
        view: &SiteView<'_>,
        converted: &[Option<Converted>],
        raw_name: &str,
    ) -> Option<SitePlan> {
        let (config, decl) = (view.config, view.decl);
        let first_block = view.blocks().map(|(_, b)| b).find(|b| b.scope.site().is_some());
        let line = decl.map(|d| d.line).or(first_block.map(|b| b.line)).unwrap_or(1);
        let site_scope = Scope::Site(raw_name.to_owned());
        if config.sites.is_some() && decl.is_none() {
            self.push(F::warning("unknown-site", Some(&site_scope), line)
                .says(format!("<location path> names the site {raw_name:?}, which system.applicationHost/sites does not declare"))
                .symptom("IIS applies the settings to no site")
                .fix("correct the site name in the location path (IIS compares it case-insensitively); certmap imports it as a site of that name"));
        }
        let name = match SiteName::parse_new(raw_name) {
            Ok(n) => n,
            Err(r) => {
                self.push(
                    F::error("invalid-site-name", Some(&site_scope), line)
                        .says(format!("the site name {raw_name:?} cannot be imported: {}", r.message))
                        .symptom(if r.code == "ambiguous-site-name" {
                            "none in IIS; in certmap a gateway's X-Certmap-Site would read the name as a site id"
                        } else {
                            "IIS Manager refuses such a name"
                        })
                        .fix("rename the site"),
                );
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
                self.push(
                    F::error("secured-directory-without-site-mapping", Some(scope), *dir_line)
                        .says(format!(
                            "{} requires client certificates and allows no other authentication, but the site has {}",
                            place(scope),
                            if site_mapping_before_repair {
                                format!("{SECTION} disabled")
                            } else {
                                format!("no {SECTION} at its root")
                            }
                        ))
                        .symptom("401.2 Unauthorized: no enabled authentication method can log the request on")
                        .fix(format!(
                        "enable {SECTION} at <location path=\"{name}\"> with the one-to-one or many-to-one mappings"
                    )),
                );
            }
        }
        let directories: Vec<DirectorySpec> = located.into_iter().map(|(d, _, _)| d).collect();
        if mapping.enabled
            && one_to_one.len() + many_to_one.len() > 0
            && !directories.iter().any(|d| d.policy.negotiates_certificates())
        {
            self.push(F::warning("ssl-ignores-certificates", Some(&site_scope), last_line)
                .says(format!("{name} has enabled certificate mappings but no location of the site asks for a client certificate (sslFlags never has SslNegotiateCert or SslRequireCert)"))
                .symptom("the mapping never triggers: with SSL Settings at Ignore IIS does not request a certificate")
                .fix("set sslFlags=\"Ssl, SslNegotiateCert, SslRequireCert\" (SSL Settings: Require SSL, client certificates Require) on the directories to protect, with anonymous authentication off"));
        }
        Some(SitePlan { name, line, hostnames, mapping, directories, one_to_one, many_to_one })
    }

    pub(super) fn merge_one_to_one(
        &mut self,
        scope: &Scope,
        sections: &[(&MappingSection, &Converted)],
    ) -> Vec<OneToOnePlan> {
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
                    self.push(F::error("duplicate-certificate", Some(scope), d.line)
                        .says(format!("the certificate of {} is mapped again (first on line {first}): a certificate is the key of oneToOneMappings and may appear once per site", d.certificate.info().subject))
                        .symptom("500.19: cannot add duplicate collection entry of type 'add' with unique key attribute 'certificate'")
                        .fix("remove one of the entries; until then certmap imports neither, since IIS refuses the file and which account was meant is unknown"));
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

    pub(super) fn merge_many_to_one(
        &mut self,
        scope: &Scope,
        sections: &[(&MappingSection, &Converted)],
    ) -> Vec<ManyToOnePlan> {
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
                    self.push(F::error("duplicate-many-to-one-name", Some(scope), d.line)
                        .says(format!("the many-to-one mapping {:?} is defined again (first on line {first}): the name is the collection's key", d.name))
                        .symptom("500.19: cannot add duplicate collection entry of type 'add' with unique key attribute 'name'")
                        .fix("rename or remove one of them; until then certmap imports neither"));
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
