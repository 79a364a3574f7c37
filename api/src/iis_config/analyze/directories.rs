//! Each location's SSL flags and authentication schemes, inherited as IIS inherits them, and
//! certmap's directory rules on the result.

use std::collections::HashMap;

use super::super::model::{At, Block, Scope, SCHEMES};
use super::{parse_bool, place, Analyzer, SiteView, F, SECTION, SYMPTOM_500_19};
use crate::domain::directory::{ClientCertificates, DirectoryPolicy, DirectorySpec};
use crate::domain::names::VirtualPath;

impl Analyzer<'_> {
    pub(super) fn ssl_flags(&mut self, scope: &Scope, flags: &At<String>) -> Flags {
        let mut out = Flags::default();
        for token in flags.value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            match token.to_ascii_lowercase().as_str() {
                "none" => {}
                "ssl" => out.ssl = true,
                "ssl128" => {
                    out.ssl = true;
                    self.push(F::info("ssl128-not-kept", Some(scope), flags.line)
                        .says("sslFlags holds Ssl128: certmap keeps Require SSL but not the 128-bit key requirement, and renders Ssl")
                        .symptom("none with TLS 1.2 or later, whose ciphers are all 128-bit or stronger")
                        .fix("nothing, unless clients still negotiate export-grade ciphers; then keep Ssl128 in IIS by hand"));
                }
                "sslnegotiatecert" => out.negotiate = true,
                "sslrequirecert" => out.require = true,
                "sslmapcert" => {
                    self.repairs.push(format!("{}: dropped SslMapCert from sslFlags", place(scope)));
                    self.push(F::blocking("sslmapcert-not-valid", Some(scope), flags.line)
                        .says("sslFlags holds SslMapCert, an IIS 6 metabase flag: the IIS 7-10 schema has no such flag, and mapping is never switched on through sslFlags")
                        .symptom("500.19 (invalid sslFlags value) where the schema refuses it; at best no effect, and the mapping still does not run")
                        .fix(format!("remove SslMapCert from sslFlags; enable {SECTION} at the site root instead (certmap import with repair=true drops the flag)")))
                }
                _ => {
                    let shown: String = token.chars().take(40).collect();
                    // An error blocks its item: the directory's protection is not guessed.
                    self.push(F::blocking("invalid-ssl-flags", Some(scope), flags.line)
                        .says(format!("sslFlags holds {shown:?}, which is not one of None, Ssl, SslNegotiateCert, SslRequireCert, Ssl128"))
                        .symptom(SYMPTOM_500_19)
                        .fix("use IIS Manager's SSL Settings, or write the flags as \"Ssl, SslNegotiateCert, SslRequireCert\"; certmap import with repair=true ignores the unknown flag"));
                    self.repairs.push(format!("{}: ignored the unknown sslFlags value {shown:?}", place(scope)));
                }
            }
        }
        out
    }

    /// certmap's directory rules on an effective policy; with repair the policy is fixed in place.
    pub(super) fn directory_rules(
        &mut self,
        scope: &Scope,
        line: u32,
        policy: &mut DirectoryPolicy,
        scheme_lines: &[u32],
    ) {
        if policy.negotiates_certificates() && !policy.require_ssl {
            self.push(F::blocking("client-cert-requires-ssl", Some(scope), line)
                .says(format!("sslFlags asks for client certificates ({}) without Ssl: IIS only negotiates a client certificate over SSL, and IIS Manager cannot save \"Require client certificates\" without \"Require SSL\"", if policy.is_secured() { "SslRequireCert" } else { "SslNegotiateCert" }))
                .symptom("over plain HTTP the certificate is never requested, so the mapping never runs (403.7 once SSL is required)")
                .fix("add Ssl to sslFlags (IIS Manager: SSL Settings, Require SSL); certmap import with repair=true adds it"));
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
                    self.push(F::blocking("secured-directory-allows-other-auth", Some(scope), scheme_lines.get(i).copied().unwrap_or(line))
                        .says(format!("the directory requires client certificates but {name} is enabled: {why}"))
                        .symptom("the mapping never triggers: requests run as the anonymous or another account instead of the mapped user")
                        .fix(format!("set <{name} enabled=\"false\"/> for this location; certmap import with repair=true does this")));
                    self.repairs.push(format!("{}: disabled {name}", place(scope)));
                    set_scheme(policy, i, false);
                }
            }
        }
    }

    /// Every location of the site with SSL or authentication settings, with the settings IIS
    /// would apply there: IIS's defaults, then the server level, the site root and each parent
    /// directory, then its own.
    /// With each directory, the line and scope its findings point at.
    pub(super) fn directories(&mut self, view: &SiteView<'_>, raw_site: &str) -> Vec<(DirectorySpec, u32, Scope)> {
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
                            self.push(
                                F::error("invalid-path", Some(&b.scope), b.line)
                                    .says(format!("the location {raw_site}{d} cannot be imported: {}", r.message))
                                    .symptom("IIS cannot serve such a path")
                                    .fix("correct the location path"),
                            );
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
            let mut chain: Vec<&(&Block, Option<VirtualPath>)> = server_level.iter().map(|&i| &inherited[i]).collect();
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
pub(super) struct Flags {
    ssl: bool,
    negotiate: bool,
    require: bool,
}

impl Flags {
    pub(super) fn apply(self, p: &mut DirectoryPolicy) {
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

pub(super) fn quiet_flags(f: &At<String>) -> Flags {
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

pub(super) fn scheme(p: &DirectoryPolicy, i: usize) -> bool {
    [p.anonymous_auth, p.basic_auth, p.windows_auth, p.digest_auth][i]
}

pub(super) fn set_scheme(p: &mut DirectoryPolicy, i: usize, on: bool) {
    match i {
        0 => p.anonymous_auth = on,
        1 => p.basic_auth = on,
        2 => p.windows_auth = on,
        _ => p.digest_auth = on,
    }
}
