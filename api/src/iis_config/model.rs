//! What an uploaded configuration says about client-certificate mapping, still in IIS's own terms
//! (attribute strings, with the line each came from), before any rule is applied. Everything else
//! in the file — other sections, modules, handlers — is skipped.

use super::xml::Element;
use crate::secrets::Password;

/// Where a block of `system.webServer` settings applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Top-level `system.webServer` of applicationHost.config, or `<location path="">`.
    Server,
    /// `<location path="SITE">`.
    Site(String),
    /// `<location path="SITE/dir">`: the path is `/dir`, as written.
    Directory(String, String),
    /// A web.config's own `system.webServer` (its site and directory are not in the file).
    WebConfig,
}

impl Scope {
    pub fn site(&self) -> Option<&str> {
        match self {
            Self::Site(s) | Self::Directory(s, _) => Some(s),
            _ => None,
        }
    }

    /// The `<location path>` this scope is written as.
    pub fn location_path(&self) -> Option<String> {
        match self {
            Self::Server => Some(String::new()),
            Self::Site(s) => Some(s.clone()),
            Self::Directory(s, d) => Some(format!("{s}{d}")),
            Self::WebConfig => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    ApplicationHost,
    WebConfig,
}

/// A value with the line of the element it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At<T> {
    pub value: T,
    pub line: u32,
}

#[derive(Debug, Default)]
pub struct Collection<T> {
    /// `<clear/>` first: nothing inherited survives.
    pub cleared: bool,
    pub items: Vec<T>,
}

#[derive(Debug)]
pub struct OneToOneEntry {
    pub line: u32,
    pub enabled: Option<String>,
    pub user_name: Option<String>,
    pub password: Option<PasswordAttr>,
    pub certificate: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleEntry {
    pub line: u32,
    pub field: Option<String>,
    pub sub_field: Option<String>,
    pub criteria: Option<String>,
    pub case_sensitive: Option<String>,
}

#[derive(Debug)]
pub struct ManyToOneEntry {
    pub line: u32,
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<String>,
    pub permission_mode: Option<String>,
    pub user_name: Option<String>,
    pub password: Option<PasswordAttr>,
    pub rules: Collection<RuleEntry>,
}

/// `iisClientCertificateMappingAuthentication` as written; absent attributes are `None`.
#[derive(Debug)]
pub struct MappingSection {
    pub line: u32,
    pub enabled: Option<String>,
    pub one_to_one_enabled: Option<String>,
    pub many_to_one_enabled: Option<String>,
    pub logon_method: Option<String>,
    pub default_logon_domain: Option<String>,
    pub one_to_one: Collection<OneToOneEntry>,
    pub many_to_one: Collection<ManyToOneEntry>,
}

/// A `password` attribute. Never kept as a plain string, so no Debug print can show it.
#[derive(Debug)]
pub enum PasswordAttr {
    /// `[enc:Provider:...:enc]`: encrypted with the server's configuration provider key, which
    /// exists only on that server.
    Encrypted,
    Clear(Password),
    /// Empty, too long or with control characters.
    Invalid,
}

fn password(raw: &str) -> PasswordAttr {
    if raw.starts_with("[enc:") && raw.ends_with(":enc]") {
        return PasswordAttr::Encrypted;
    }
    Password::parse(raw.to_owned()).map_or(PasswordAttr::Invalid, PasswordAttr::Clear)
}

pub const SCHEMES: [&str; 4] =
    ["anonymousAuthentication", "basicAuthentication", "windowsAuthentication", "digestAuthentication"];

/// One `system.webServer/security` block.
#[derive(Debug)]
pub struct Block {
    pub scope: Scope,
    pub line: u32,
    /// `access@sslFlags`.
    pub ssl_flags: Option<At<String>>,
    /// `enabled` of each of [`SCHEMES`], in that order.
    pub schemes: [Option<At<String>>; 4],
    pub mapping: Option<MappingSection>,
}

impl Block {
    pub fn has_directory_settings(&self) -> bool {
        self.ssl_flags.is_some() || self.schemes.iter().any(Option::is_some)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteDecl {
    pub name: String,
    pub line: u32,
    /// Host names of the site's bindings (`*:443:www.contoso.com`), as written.
    pub hosts: Vec<String>,
}

/// A `configSource` attribute: the section's content is in another file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSource {
    pub element: String,
    pub file: String,
    pub line: u32,
}

#[derive(Debug)]
pub struct Config {
    pub source: Source,
    /// Sites declared in `system.applicationHost/sites`, when the file has that section.
    pub sites: Option<Vec<SiteDecl>>,
    pub blocks: Vec<Block>,
    pub config_sources: Vec<ConfigSource>,
}

impl Config {
    /// Every site the file names, declared or only in a `<location path>`, in order of appearance.
    pub fn site_names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let declared = self.sites.iter().flatten().map(|s| s.name.clone());
        let located = self.blocks.iter().filter_map(|b| b.scope.site().map(str::to_owned));
        for name in declared.chain(located) {
            if seen.insert(crate::domain::names::fold(&name)) {
                out.push(name);
            }
        }
        out
    }
}

/// The configuration in a document whose root is `<configuration>` (applicationHost.config or
/// web.config) or a single exported `<location>`.
pub fn read(root: &Element) -> Config {
    let mut config = Config { source: Source::WebConfig, sites: None, blocks: Vec::new(), config_sources: Vec::new() };
    collect_config_sources(root, &mut config.config_sources);
    let children: Vec<&Element> = match root.name.as_str() {
        "location" => vec![root],
        "system.webServer" => {
            config.blocks.extend(block(root, Scope::WebConfig));
            return config;
        }
        _ => root.children.iter().collect(),
    };
    let is_app_host = root.name == "location"
        || children.iter().any(|c| matches!(c.name.as_str(), "location" | "system.applicationHost" | "configSections"));
    if is_app_host {
        config.source = Source::ApplicationHost;
    }
    for child in children {
        match child.name.as_str() {
            "system.applicationHost" => {
                if let Some(sites) = child.child("sites") {
                    config.sites.get_or_insert_with(Vec::new).extend(sites.children_named("site").filter_map(site));
                }
            }
            "system.webServer" => {
                let scope = if is_app_host { Scope::Server } else { Scope::WebConfig };
                config.blocks.extend(block(child, scope));
            }
            "location" => {
                let scope =
                    if is_app_host { location_scope(child.attr("path").unwrap_or("")) } else { Scope::WebConfig };
                for ws in child.children_named("system.webServer") {
                    config.blocks.extend(block(ws, scope.clone()));
                }
            }
            _ => {}
        }
    }
    config
}

fn location_scope(path: &str) -> Scope {
    let path = path.trim();
    if path.is_empty() || path == "." {
        return Scope::Server;
    }
    match path.split_once('/') {
        None => Scope::Site(path.to_owned()),
        Some((site, rest)) if rest.trim_matches('/').is_empty() => Scope::Site(site.to_owned()),
        Some((site, rest)) => Scope::Directory(site.to_owned(), format!("/{rest}")),
    }
}

fn site(el: &Element) -> Option<SiteDecl> {
    let name = el.attr("name")?.to_owned();
    let hosts = el
        .child("bindings")
        .into_iter()
        .flat_map(|b| b.children_named("binding"))
        .filter_map(|b| b.attr("bindingInformation"))
        .filter_map(|info| info.rsplit(':').next())
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
        .collect();
    Some(SiteDecl { name, line: el.line, hosts })
}

fn collect_config_sources(el: &Element, out: &mut Vec<ConfigSource>) {
    if let Some(file) = el.attr("configSource") {
        out.push(ConfigSource { element: el.name.clone(), file: file.to_owned(), line: el.line });
    }
    for c in &el.children {
        collect_config_sources(c, out);
    }
}

fn block(ws: &Element, scope: Scope) -> Option<Block> {
    let security = ws.child("security")?;
    let ssl_flags = security
        .children_named("access")
        .filter_map(|a| a.attr("sslFlags").map(|v| At { value: v.to_owned(), line: a.line }))
        .last();
    let auth = security.child("authentication");
    let schemes = SCHEMES.map(|name| {
        auth.into_iter()
            .flat_map(|a| a.children_named(name))
            .filter_map(|s| s.attr("enabled").map(|v| At { value: v.to_owned(), line: s.line }))
            .last()
    });
    let mapping = auth.and_then(|a| a.child("iisClientCertificateMappingAuthentication")).map(mapping_section);
    let block = Block { scope, line: ws.line, ssl_flags, schemes, mapping };
    (block.has_directory_settings() || block.mapping.is_some()).then_some(block)
}

fn owned(el: &Element, name: &str) -> Option<String> {
    el.attr(name).map(str::to_owned)
}

fn collection<T>(el: Option<&Element>, item: impl Fn(&Element) -> T) -> Collection<T> {
    let mut out = Collection { cleared: false, items: Vec::new() };
    for c in el.into_iter().flat_map(|e| e.children.iter()) {
        match c.name.as_str() {
            "clear" => {
                out.cleared = true;
                out.items.clear();
            }
            "add" => out.items.push(item(c)),
            _ => {}
        }
    }
    out
}

fn mapping_section(el: &Element) -> MappingSection {
    MappingSection {
        line: el.line,
        enabled: owned(el, "enabled"),
        one_to_one_enabled: owned(el, "oneToOneCertificateMappingsEnabled"),
        many_to_one_enabled: owned(el, "manyToOneCertificateMappingsEnabled"),
        logon_method: owned(el, "logonMethod"),
        default_logon_domain: owned(el, "defaultLogonDomain"),
        one_to_one: collection(el.child("oneToOneMappings"), |a| OneToOneEntry {
            line: a.line,
            enabled: owned(a, "enabled"),
            user_name: owned(a, "userName"),
            password: a.attr("password").map(password),
            certificate: owned(a, "certificate"),
        }),
        many_to_one: collection(el.child("manyToOneMappings"), |a| ManyToOneEntry {
            line: a.line,
            name: owned(a, "name"),
            description: owned(a, "description"),
            enabled: owned(a, "enabled"),
            permission_mode: owned(a, "permissionMode"),
            user_name: owned(a, "userName"),
            password: a.attr("password").map(password),
            rules: collection(a.child("rules"), |r| RuleEntry {
                line: r.line,
                field: owned(r, "certificateField"),
                sub_field: owned(r, "certificateSubField"),
                criteria: owned(r, "matchCriteria"),
                case_sensitive: owned(r, "compareCaseSensitive"),
            }),
        }),
    }
}
