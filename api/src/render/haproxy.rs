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

use super::options::HaproxyOptions;
use super::path::{innermost_first, path_regex};
use super::snapshot::SiteSnapshot;
use super::{refuse_control, RenderError};

/// `.` or `..` as a whole segment, with `/` or `\` around it (IIS reads `\` as `/`).
const DOT_SEGMENT: &str = r"(^|[/\\])\.\.?([/\\]|$)";

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
        let _ = writeln!(w, "\nglobal\n    maxconn 1024\n");
        let _ = writeln!(
            w,
            "defaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s"
        );
    }
    w.push('\n');
    let _ = writeln!(w, "frontend certmap_site_{id}");
    let _ = writeln!(w, "    mode http");
    let _ = writeln!(w, "    bind {} ssl crt {} ca-file {} verify optional", gw.listen, gw.server_cert, gw.ca_bundle);
    let _ = writeln!(w, "    # Only certmap sets this header: drop whatever the client sent.");
    let _ = writeln!(w, "    http-request del-header {}", gw.header);
    // HAProxy 2.6 has normalize-uri only as an experimental directive, so paths are matched
    // decoded (url_dec: %73ecure is /secure) and a dot segment, which the upstream would resolve
    // to another directory than the one matched here, is refused; browsers never send one.
    let _ = writeln!(w, "    http-request deny deny_status 400 if {{ path,url_dec -m reg {} }}", quote(DOT_SEGMENT));
    let root = site.directories.iter().find(|d| d.path.is_root()).is_some_and(|d| d.policy.is_secured());
    let _ = writeln!(w, "    http-request set-var(txn.certmap_secured) bool({})", u8::from(root));
    let mut dirs = innermost_first(&site.directories);
    dirs.reverse();
    for d in dirs.into_iter().filter(|d| !d.path.is_root()) {
        refuse_control("a directory path", d.path.as_str())?;
        let _ = writeln!(
            w,
            "    http-request set-var(txn.certmap_secured) bool({}) if {{ path,url_dec -m reg {} }}",
            u8::from(d.policy.is_secured()),
            quote(&path_regex(&d.path))
        );
    }
    let lookup = format!("ssl_c_sha1,hex,lower,map({map})");
    let secured = "{ var(txn.certmap_secured) -m bool }";
    let _ = writeln!(w, "    http-request deny deny_status 403 if {secured} !{{ ssl_c_used }}");
    let _ = writeln!(w, "    http-request deny deny_status 403 if {secured} !{{ ssl_c_verify 0 }}");
    let _ = writeln!(w, "    http-request deny deny_status 403 if {secured} !{{ {lookup} -m found }}");
    let _ = writeln!(w, "    http-request set-header {} %[{lookup}] if {secured} {{ {lookup} -m found }}", gw.header);
    let _ = writeln!(w, "    default_backend certmap_site_{id}_upstream");
    w.push('\n');
    let _ = writeln!(w, "backend certmap_site_{id}_upstream");
    let _ = writeln!(w, "    mode http");
    let tls = if gw.upstream.https { " ssl verify required ca-file @system-ca" } else { "" };
    let _ = writeln!(w, "    server upstream {}{tls}", gw.upstream.authority);
    Ok(out)
}

/// `<sha1 lowercase hex> <account>` per line. HAProxy takes the key up to the first blank and the
/// value to the end of the line without unescaping, so spaces and backslashes in an account are
/// kept as they are; only a line break could split an entry, and account names cannot hold one.
/// Disabled mappings are left out: unmapped is refused, as IIS refuses a disabled mapping.
pub fn haproxy_map(site: &SiteSnapshot) -> Result<String, RenderError> {
    let mut out = format!("# certmap site {} revision {}: SHA-1 of the certificate, account\n", site.id, site.revision);
    if site.mapping.enabled && site.mapping.one_to_one_enabled {
        for o in site.one_to_one.iter().filter(|o| o.enabled) {
            refuse_control("a user name", o.user_name.as_str())?;
            let _ = writeln!(out, "{} {}", o.certificate.info().sha1, o.user_name);
        }
    }
    Ok(out)
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
    fn dot_segments_are_caught_decoded() {
        for (p, want) in [("/a/../secure", true), ("/./x", true), ("\\..\\x", true), ("/..", true), ("/a..b/.c", false)]
        {
            match realcheck::pcre_matches(DOT_SEGMENT, p) {
                Some(got) => assert_eq!(got, want, "{p}"),
                None => return println!("SKIPPED: grep -P is not available"),
            }
        }
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
}
