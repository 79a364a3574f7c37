//! A HAProxy `frontend` + `backend` for one site, and the map file it reads
//! ([`haproxy_map`], served separately so a gateway can hot-swap it).
//!
//! The frontend asks for a client certificate during the handshake (`verify optional`), deletes
//! any client-sent user header, refuses dot segments in the decoded path, then marks
//! the request secured or not by the innermost directory that matches (each directory, outermost
//! first, overwrites `txn.certmap_secured`, so the innermost has the last word, as in IIS). A
//! secured request without a verified certificate whose SHA-1 is in the map is denied; otherwise
//! the mapped account is set as the header. Directory paths are case-insensitive regexes, as IIS
//! compares paths without case (see [`super::path`]).
//!
//! Many-to-one mappings are not rendered: HAProxy can test names with regexes, but this renderer
//! does not yet; a site with an enabled many-to-one mapping is [`RenderError::Unsupported`],
//! naming it, rather than served without it.

use std::fmt::Write as _;

use super::hosts::wildcard_suffix;
use super::options::{Gateway, HaproxyOptions, Upstream};
use super::path::{decoded_pcre_parts, innermost_first, path_regex, refusals};
use super::snapshot::SiteSnapshot;
use super::{refuse_control, RenderError};

/// Room on a configuration line (HAProxy reads at most 2,048 bytes of one) for a regex.
const REGEX_BYTES: usize = 1800;

pub fn render(site: &SiteSnapshot, options: &HaproxyOptions) -> Result<String, RenderError> {
    let gw = options.gateway.validate()?;
    let map = super::options::check_path("map_file", &options.map_file)?;
    if site.id <= 0 {
        return Err(RenderError::unsupported(format!("site id {} in a section name", site.id)));
    }
    refuse_many_to_one(site)?;
    let id = site.id;
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "# certmap site {id} revision {}. The map file {map} is certmap's", site.revision);
    let _ = writeln!(w, "# .../config/haproxy-map; {} holds the certificate and its key.", gw.server_cert);
    if options.standalone {
        standalone(w);
    }
    w.push('\n');
    let _ = writeln!(w, "frontend certmap_site_{id}");
    frontend_start(w, &gw);
    no_ocsp(w, site);
    let root = site.directories.iter().find(|d| d.path.is_root()).is_some_and(|d| d.policy.is_secured());
    let _ = writeln!(w, "    http-request set-var(txn.certmap_secured) bool({})", u8::from(root));
    secured_rules(w, site, "")?;
    deny_and_set(w, &format!("ssl_c_sha1,hex,lower,map({map})"), gw.header);
    let _ = writeln!(w, "    default_backend certmap_site_{id}_upstream");
    w.push('\n');
    backend(w, &format!("certmap_site_{id}_upstream"), &gw.upstream);
    Ok(out)
}

/// One `frontend` for several sites on the one `listen` address, and one map file for all of them
/// ([`haproxy_map_all`]) whose keys are `<sha1>@<site id>`, so a certificate mapped on two sites
/// can carry a different account on each.
///
/// The site is chosen by the Host header (port dropped, lowercased; a wildcard `*.example.com`
/// matches every name ending in `.example.com`) into `txn.certmap_site`; a Host that names no site
/// gets 421. Every site shares the bind's TLS settings, so SNI decides nothing the Host does not.
/// Then each site's directories set `txn.certmap_secured` as in [`render`], guarded by the site,
/// and the certificate is looked up as `sha1@site`.
pub fn render_all(sites: &[SiteSnapshot], options: &HaproxyOptions) -> Result<String, RenderError> {
    let gw = options.gateway.validate()?;
    let map = super::options::check_path("map_file", &options.map_file)?;
    super::hosts::check_routable(sites, "HAProxy")?;
    for site in sites {
        refuse_many_to_one(site).map_err(|e| e.in_site(site))?;
    }
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "# certmap: {} sites on one frontend. The map file {map} is certmap's", sites.len());
    let _ = writeln!(w, "# /api/v1/config/haproxy-map, keyed <sha1>@<site id>; {} holds the", gw.server_cert);
    let _ = writeln!(w, "# certificate (for every site's host names) and its key.");
    if options.standalone {
        standalone(w);
    }
    w.push('\n');
    let _ = writeln!(w, "frontend certmap_sites");
    frontend_start(w, &gw);
    let _ = writeln!(w, "    # The site, by the Host header: a name that is no site's is refused.");
    let host = "req.hdr(host),field(1,:),lower";
    for site in sites {
        let (wild, exact): (Vec<_>, Vec<_>) = site.hostnames.iter().partition(|h| wildcard_suffix(h).is_some());
        let set = format!("http-request set-var(txn.certmap_site) str({})", site.id);
        if !exact.is_empty() {
            let names: Vec<&str> = exact.iter().map(|h| h.as_str()).collect();
            let _ = writeln!(w, "    {set} if {{ {host} -m str {} }}", names.join(" "));
        }
        if !wild.is_empty() {
            let suffixes: Vec<&str> = wild.iter().filter_map(|h| wildcard_suffix(h)).collect();
            let _ = writeln!(w, "    {set} if {{ {host} -m end {} }}", suffixes.join(" "));
        }
    }
    let _ = writeln!(w, "    http-request deny deny_status 421 if !{{ var(txn.certmap_site) -m found }}");
    for site in sites {
        let _ = writeln!(w, "    # Site {} revision {}.", site.id, site.revision);
        no_ocsp(w, site);
        let this = format!("{{ var(txn.certmap_site) -m str {} }} ", site.id);
        let root = site.directories.iter().find(|d| d.path.is_root()).is_some_and(|d| d.policy.is_secured());
        let _ = writeln!(
            w,
            "    http-request set-var(txn.certmap_secured) bool({}) if {}",
            u8::from(root),
            this.trim_end()
        );
        secured_rules(w, site, &this).map_err(|e| e.in_site(site))?;
    }
    deny_and_set(w, &format!("ssl_c_sha1,hex,lower,concat(@,txn.certmap_site),map({map})"), gw.header);
    let _ = writeln!(w, "    default_backend certmap_sites_upstream");
    w.push('\n');
    backend(w, "certmap_sites_upstream", &gw.upstream);
    Ok(out)
}

fn standalone(w: &mut String) {
    let _ = writeln!(w, "\nglobal\n    maxconn 1024\n");
    let _ =
        writeln!(w, "defaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s");
}

/// HAProxy checks a client certificate against CRLs only: where the site's policy asks OCSP,
/// certmap's authorize endpoint is what asks the responder.
fn no_ocsp(w: &mut String, site: &SiteSnapshot) {
    if site.revocation.check.asks_ocsp() {
        let _ =
            writeln!(w, "    # The site's policy asks OCSP, which HAProxy cannot check for client certificates (it");
        let _ =
            writeln!(w, "    # staples OCSP for its own certificate only): use crl-file, or call certmap's authorize.");
    }
}

/// The bind, and what every request goes through before the site's directories are consulted.
fn frontend_start(w: &mut String, gw: &Gateway<'_>) {
    let _ = writeln!(w, "    mode http");
    let crl = gw.crl_file.map_or(String::new(), |f| format!(" crl-file {f}"));
    if gw.crl_file.is_some() {
        let _ = writeln!(
            w,
            "    # crl-file: a revoked client certificate fails the handshake; an expired CRL fails every one."
        );
    }
    let _ =
        writeln!(w, "    bind {} ssl crt {} ca-file {}{crl} verify optional", gw.listen, gw.server_cert, gw.ca_bundle);
    let _ = writeln!(w, "    # Only certmap sets this header: drop whatever the client sent.");
    let _ = writeln!(w, "    http-request del-header {}", gw.header);
    // HAProxy 2.6 has normalize-uri only as an experimental directive, so paths are matched
    // decoded (url_dec: %73ecure is /secure), and a path the upstream might read as another
    // directory than the one matched here is refused, as certmap's authorize refuses it: the raw
    // path for escapes, the decoded one for the rest (see render::path::refusals).
    let _ = writeln!(w, "    # A path a backend might read as another directory than the one matched here: 400.");
    let r = refusals();
    let _ = writeln!(w, "    http-request deny deny_status 400 if {{ path -m reg {} }}", quote(&r.raw));
    for part in decoded_pcre_parts(REGEX_BYTES) {
        let _ = writeln!(w, "    http-request deny deny_status 400 if {{ path,url_dec -m reg {} }}", quote(&part));
    }
    let _ = writeln!(w, "    http-request deny deny_status 400 if !{{ path,url_dec -m reg {} }}", quote(r.utf8));
}

/// The site's directories, outermost first, each overwriting whether the request is secured, so
/// the innermost that matches has the last word; `guard` (an ACL and a space) limits them to the
/// site's requests.
fn secured_rules(w: &mut String, site: &SiteSnapshot, guard: &str) -> Result<(), RenderError> {
    let mut dirs = innermost_first(&site.directories);
    dirs.reverse();
    for d in dirs.into_iter().filter(|d| !d.path.is_root()) {
        refuse_control("a directory path", d.path.as_str())?;
        let _ = writeln!(
            w,
            "    http-request set-var(txn.certmap_secured) bool({}) if {guard}{{ path,url_dec -m reg {} }}",
            u8::from(d.policy.is_secured()),
            quote(&path_regex(&d.path))
        );
    }
    Ok(())
}

/// A secured request needs a verified certificate that `lookup` finds; its account becomes the header.
fn deny_and_set(w: &mut String, lookup: &str, header: &str) {
    let secured = "{ var(txn.certmap_secured) -m bool }";
    let _ = writeln!(w, "    http-request deny deny_status 403 if {secured} !{{ ssl_c_used }}");
    let _ = writeln!(w, "    http-request deny deny_status 403 if {secured} !{{ ssl_c_verify 0 }}");
    let _ = writeln!(w, "    http-request deny deny_status 403 if {secured} !{{ {lookup} -m found }}");
    let _ = writeln!(w, "    http-request set-header {header} %[{lookup}] if {secured} {{ {lookup} -m found }}");
}

fn backend(w: &mut String, name: &str, upstream: &Upstream) {
    let _ = writeln!(w, "backend {name}");
    let _ = writeln!(w, "    mode http");
    let tls = if upstream.https { " ssl verify required ca-file @system-ca" } else { "" };
    let _ = writeln!(w, "    server upstream {}{tls}", upstream.authority);
}

/// `<sha1 lowercase hex> <account>` per line. HAProxy takes the key up to the first blank and the
/// value to the end of the line without unescaping, so spaces and backslashes in an account are
/// kept as they are; only a line break could split an entry, and account names cannot hold one.
/// Disabled mappings are left out: unmapped is refused, as IIS refuses a disabled mapping.
pub fn haproxy_map(site: &SiteSnapshot) -> Result<String, RenderError> {
    let mut out = format!("# certmap site {} revision {}: SHA-1 of the certificate, account\n", site.id, site.revision);
    map_lines(&mut out, site, "")?;
    Ok(out)
}

/// The map file of [`render_all`]: `<sha1>@<site id> <account>` per line.
pub fn haproxy_map_all(sites: &[SiteSnapshot]) -> Result<String, RenderError> {
    let mut out = format!("# certmap: {} sites: SHA-1 of the certificate @ site id, account\n", sites.len());
    for site in sites {
        let _ = writeln!(out, "# site {} revision {}", site.id, site.revision);
        map_lines(&mut out, site, &format!("@{}", site.id)).map_err(|e| e.in_site(site))?;
    }
    Ok(out)
}

fn map_lines(out: &mut String, site: &SiteSnapshot, key_suffix: &str) -> Result<(), RenderError> {
    if site.mapping.enabled && site.mapping.one_to_one_enabled {
        for o in site.one_to_one.iter().filter(|o| o.enabled) {
            refuse_control("a user name", o.user_name.as_str())?;
            let _ = writeln!(out, "{}{key_suffix} {}", o.certificate.info().sha1, o.user_name);
        }
    }
    Ok(())
}

fn refuse_many_to_one(site: &SiteSnapshot) -> Result<(), RenderError> {
    if !(site.mapping.enabled && site.mapping.many_to_one_enabled) {
        return Ok(());
    }
    if let Some(m) = site.many_to_one.iter().find(|m| m.enabled) {
        return Err(RenderError::unsupported(format!(
            "many-to-one mapping {:?} (id {}) in HAProxy: disable it or use the nginx format",
            m.name, m.id
        )));
    }
    Ok(())
}

/// A single-quoted HAProxy word: nothing inside is special (no `$` expansion, no escapes), and a
/// `'` is written by closing the quote, an escaped `\'`, and reopening — HAProxy joins adjacent
/// quoted and unquoted parts into one word, as a shell does.
pub(crate) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{fixture, realcheck};

    fn without_many_to_one(mut s: SiteSnapshot) -> SiteSnapshot {
        for m in &mut s.many_to_one {
            m.enabled = false;
        }
        s
    }

    fn opts() -> HaproxyOptions {
        HaproxyOptions::default()
    }

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(render(&without_many_to_one(fixture::site()), &opts()).unwrap());
    }

    #[test]
    fn snapshot_map() {
        insta::assert_snapshot!(haproxy_map(&fixture::hostile()).unwrap());
    }

    #[test]
    fn many_to_one_is_unsupported_by_name() {
        let err = render(&fixture::site(), &opts()).unwrap_err();
        let RenderError::Unsupported { what } = err else { panic!("{err:?}") };
        assert!(what.contains("\"Staff\""), "{what}");
    }

    fn two_sites() -> Vec<SiteSnapshot> {
        fixture::two_sites().into_iter().map(without_many_to_one).collect()
    }

    #[test]
    fn snapshot_two_sites() {
        insta::assert_snapshot!(render_all(&two_sites(), &opts()).unwrap());
    }

    #[test]
    fn snapshot_two_sites_map() {
        insta::assert_snapshot!(haproxy_map_all(&two_sites()).unwrap());
    }

    #[test]
    fn two_sites_route_by_host_and_key_the_map_by_site() {
        let out = render_all(&two_sites(), &opts()).unwrap();
        assert_eq!(out.matches("frontend ").count(), 1);
        assert!(out
            .contains("set-var(txn.certmap_site) str(7) if { req.hdr(host),field(1,:),lower -m str www.contoso.com }"));
        assert!(
            out.contains("set-var(txn.certmap_site) str(8) if { req.hdr(host),field(1,:),lower -m end .fabrikam.net }")
        );
        assert!(out.contains("deny deny_status 421 if !{ var(txn.certmap_site) -m found }"));
        assert!(out.contains("concat(@,txn.certmap_site),map(/etc/haproxy/certmap.map)"));
        // Every directory rule is limited to its own site.
        for line in out.lines().filter(|l| l.contains("path,url_dec -m reg") && l.contains("certmap_secured")) {
            assert!(line.contains("{ var(txn.certmap_site) -m str "), "{line}");
        }
        let map = haproxy_map_all(&two_sites()).unwrap();
        assert!(map.contains("2e01035ea1870293f59f9c6a04a297c580527f94@7 CONTOSO\\alice\n"), "{map}");
        assert!(map.contains("2e01035ea1870293f59f9c6a04a297c580527f94@8 O'Brien"), "{map}");
        let err = render_all(&fixture::two_sites(), &opts()).unwrap_err();
        let RenderError::Unsupported { what } = err else { panic!("{err:?}") };
        assert!(what.starts_with("site \"Default Web Site\" (id 7): many-to-one mapping \"Staff\""), "{what}");
    }

    #[test]
    fn haproxy_accepts_two_sites_in_one_file() {
        let dir = realcheck::tempdir("haproxy-all");
        let pki = realcheck::pki(&dir);
        let map = dir.join("certmap.map");
        std::fs::write(&map, haproxy_map_all(&two_sites()).unwrap()).unwrap();
        let mut gateway = realcheck::gateway_options(&pki);
        gateway.server_cert = pki.combined.to_str().unwrap().into();
        let o = HaproxyOptions { gateway, map_file: map.to_str().unwrap().into(), standalone: true };
        realcheck::haproxy_c(&dir, &render_all(&two_sites(), &o).unwrap());
    }

    #[test]
    fn quote_survives_hostile_paths() {
        assert_eq!(quote("a'b"), r"'a'\''b'");
        assert_eq!(quote("$x {y} \"z\" #c"), "'$x {y} \"z\" #c'");
    }

    #[test]
    fn map_lines_keep_spaces_and_backslashes_and_skip_disabled() {
        let map = haproxy_map(&fixture::site()).unwrap();
        assert!(map.contains("2e01035ea1870293f59f9c6a04a297c580527f94 CONTOSO\\alice\n"));
        assert!(!map.contains("bob"), "disabled");
        let map = haproxy_map(&fixture::hostile()).unwrap();
        assert!(map.contains(" O'Brien & {Sons} $x ‘y’ `z` %{w}\n"), "{map}");
    }

    #[test]
    fn refusal_lines_fit_haproxy() {
        let out = render(&without_many_to_one(fixture::site()), &opts()).unwrap();
        assert!(out.lines().all(|l| l.len() < 2048), "a line longer than HAProxy reads");
        assert!(out.contains("http-request deny deny_status 400 if { path -m reg"));
    }

    #[test]
    fn haproxy_accepts_the_files() {
        for site in [fixture::site(), fixture::hostile()] {
            let site = without_many_to_one(site);
            let dir = realcheck::tempdir("haproxy");
            let pki = realcheck::pki(&dir);
            let map = dir.join("certmap.map");
            std::fs::write(&map, haproxy_map(&site).unwrap()).unwrap();
            let mut gateway = realcheck::gateway_options(&pki);
            gateway.server_cert = pki.combined.to_str().unwrap().into();
            let o = HaproxyOptions { gateway, map_file: map.to_str().unwrap().into(), standalone: true };
            realcheck::haproxy_c(&dir, &render(&site, &o).unwrap());
        }
    }

    #[test]
    fn a_site_asking_ocsp_is_told_haproxy_cannot() {
        let mut site = without_many_to_one(fixture::site());
        let o = HaproxyOptions::default();
        assert!(!render(&site, &o).unwrap().contains("OCSP"));
        site.revocation.check = crate::domain::revocation::Check::Ocsp;
        assert!(render(&site, &o).unwrap().contains("# The site's policy asks OCSP, which HAProxy cannot check"));
    }
}
