//! Where the mapping section stands: the seed's mistake (a directory), its web.config cousin, and
//! what can be said about a web.config that names no site.

use super::super::model::{self, Scope};
use super::directories::set_scheme;
use super::{parse_bool, Analyzer, F, SECTION, SYMPTOM_401_2};
use crate::domain::directory::DirectoryPolicy;

impl Analyzer<'_> {
    /// Where the mapping section is: the seed's mistake and its web.config cousin.
    pub(super) fn scoping(&mut self, config: &model::Config) {
        for b in &config.blocks {
            let Some(section) = &b.mapping else { continue };
            match &b.scope {
                Scope::Directory(site, dir) => self.push(F::blocking("mapping-not-at-site-root", Some(&b.scope), section.line)
                    .says(format!(
                        "{SECTION} is configured for the directory {site}{dir}: IIS only honours certificate mapping at the site root (or server level), so on a directory it silently never runs"
                    ))
                    .symptom(SYMPTOM_401_2)
                    .fix(format!(
                        "move the {SECTION} section to <location path=\"{site}\"> in applicationHost.config and keep only access (SSL settings) and the authentication schemes on {site}{dir}; certmap import with repair=true does exactly this"
                    ))),
                Scope::WebConfig => self.push(F::blocking("mapping-in-web-config", None, section.line)
                    .says(format!(
                        "{SECTION} is in a web.config: the section is locked (overrideModeDefault=\"Deny\") and belongs in applicationHost.config at the site root"
                    ))
                    .symptom("500.19 Internal Server Error, 0x80070021: this configuration section cannot be used at this path (locked); unlocked below the site root it fails with 401.2, 0x80070005")
                    .fix(format!(
                        "move it to <location path=\"SITE\"> in applicationHost.config{}; certmap import with site=SITE&repair=true does this",
                        self.options.web_config_site.as_ref().map(|s| format!(" (here <location path=\"{s}\">)")).unwrap_or_default()
                    ))),
                // IIS's own default, `enabled="false"` and nothing else, is not worth a word.
                Scope::Server
                    if section.enabled.as_deref().and_then(parse_bool) == Some(true)
                        || !section.one_to_one.items.is_empty()
                        || !section.many_to_one.items.is_empty() =>
                {
                    self.push(F::info("mapping-at-server-level", Some(&b.scope), section.line)
                        .says(format!("{SECTION} is set at the server level: every site inherits it"))
                        .symptom("none: IIS applies it to every site that does not override it")
                        .fix("certmap keeps mapping per site and imports these settings into each site of this file; configure the sites that need mapping individually"))
                }
                Scope::Server | Scope::Site(_) => {}
            }
        }
    }

    /// A web.config without a site: only what can be said about its own blocks.
    pub(super) fn lint_web_config(&mut self, config: &model::Config) {
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
}
