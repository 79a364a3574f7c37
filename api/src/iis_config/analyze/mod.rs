//! The rules: every finding a configuration earns, and the plan of what certmap imports from it.
//! Both come from one pass, so what lint reports and what import does cannot disagree.
//!
//! IIS merges configuration from the server level down: attributes set deeper win, and a
//! collection deeper adds to the inherited one unless it starts with `<clear/>`. The effective
//! settings of a site or directory are computed the same way here.
//!
//! One `Analyzer` walks the file; its methods are split by what they look at: `scoping` (where
//! the mapping section stands), `entries` (one-to-one and many-to-one entries), `site` (one
//! site's merged settings and mappings), `directories` (SSL flags and authentication per
//! location). `plan` holds what import writes.

mod directories;
mod entries;
mod plan;
mod scoping;
mod site;

use std::collections::HashMap;

use time::OffsetDateTime;

use super::model::{self, Block, Scope, Source, SCHEMES};
use super::xml;
use super::Finding;
use crate::domain::lint::Severity;
use crate::domain::names::{fold, SiteName};

pub use plan::{ManyToOnePlan, OneToOnePlan, Plan, SitePlan};

use entries::Converted;

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

/// Findings are built in one expression — where and how bad, then what, what IIS does, the fix —
/// so each of the dozens of rules reads as its words rather than as a struct's fields.
impl F {
    fn new(code: &'static str, severity: Severity, scope: Option<&Scope>, line: u32, blocks: bool) -> Self {
        let (message, symptom, fix) = (String::new(), "", String::new());
        Self { code, severity, message, scope: scope.cloned(), line, symptom, fix, blocks }
    }

    fn error(code: &'static str, scope: Option<&Scope>, line: u32) -> Self {
        Self::new(code, Severity::Error, scope, line, false)
    }

    fn warning(code: &'static str, scope: Option<&Scope>, line: u32) -> Self {
        Self::new(code, Severity::Warning, scope, line, false)
    }

    fn info(code: &'static str, scope: Option<&Scope>, line: u32) -> Self {
        Self::new(code, Severity::Info, scope, line, false)
    }

    /// An error import refuses the file for, unless asked to repair it.
    fn blocking(code: &'static str, scope: Option<&Scope>, line: u32) -> Self {
        Self::new(code, Severity::Error, scope, line, true)
    }

    fn says(self, message: impl Into<String>) -> Self {
        Self { message: message.into(), ..self }
    }

    fn symptom(self, symptom: &'static str) -> Self {
        Self { symptom, ..self }
    }

    fn fix(self, fix: impl Into<String>) -> Self {
        Self { fix: fix.into(), ..self }
    }
}

struct Analyzer<'o> {
    options: &'o Options,
    findings: Vec<Finding>,
    repairs: Vec<String>,
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
        self.push(
            F::error("invalid-value", Some(scope), line)
                .says(format!("{what} is {shown:?}, which IIS does not accept: expected {expected}"))
                .symptom(SYMPTOM_500_19)
                .fix(format!("set {what} to {expected}")),
        );
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
            self.push(
                F::info("config-source-not-read", None, cs.line)
                    .says(format!(
                        "<{}> takes its content from {:?} (configSource); certmap reads only this file",
                        cs.element, cs.file
                    ))
                    .symptom("none: IIS reads the other file")
                    .fix(format!(
                        "if {:?} holds sites or certificate mapping settings, lint and import it too",
                        cs.file
                    )),
            );
        }
        self.scoping(&config);
        if config.site_names().is_empty() && config.blocks.is_empty() {
            self.push(F::info("nothing-to-import", None, 1)
                .says("the file configures no site, directory or certificate mapping")
                .symptom("none")
                .fix("upload %windir%\\System32\\inetsrv\\config\\applicationHost.config, or a <location> exported from it"));
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
