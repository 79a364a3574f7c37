//! One file to `Include` in httpd.conf: a `<VirtualHost ip:port>` for one site. It needs
//! mod_ssl, mod_authz_core, mod_headers, mod_env, mod_rewrite, mod_proxy and mod_proxy_http, and a
//! `Listen` for the address in the main config.
//!
//! # How a request is decided
//! `SSLVerifyClient optional` is set at the virtual host, so the certificate is asked for during
//! the handshake: a per-`<Location>` `SSLVerifyClient` would force a renegotiation (TLS 1.2) or
//! post-handshake authentication (TLS 1.3), which many clients, rustls among them, do not do.
//! Each secured directory then requires, with `Require expr`, that `SSL_CLIENT_VERIFY` is
//! `SUCCESS` and that the certificate is one of the site's enabled one-to-one mappings. Apache has
//! no fingerprint variable, so a certificate is identified as X.509 does, by its issuer
//! (`SSL_CLIENT_I_DN`) and serial (`SSL_CLIENT_M_SERIAL`). A disabled mapping is left out, so its
//! certificate is refused, as IIS refuses it.
//!
//! Many-to-one mappings are not rendered: a site with an enabled one is
//! [`RenderError::Unsupported`], naming it, rather than served without it (a dropped Deny would
//! fail open).
//!
//! # Directories
//! One `<LocationMatch>` per directory with the case-insensitive regex of [`super::path`],
//! outermost first: Apache merges matching sections in the order they appear, so the innermost
//! directory's `Require` replaces its parents', as in IIS. A public directory says
//! `Require all granted` explicitly, or it would inherit a secured parent's requirement.
//!
//! # Paths
//! Before any section, mod_rewrite answers 400 to a path a backend might read as another
//! directory, the paths [`crate::domain::request_path`] refuses: escapes and dot segments in the
//! raw request line (`THE_REQUEST`; `REQUEST_URI` is decoded with its dot segments resolved), the
//! rest in `REQUEST_URI` (see [`super::path::refusals`]).
//!
//! # The header
//! `RequestHeader unset ... early` drops a client-sent header before anything else runs. Each
//! account is put in an environment variable with `SetEnv` (the only directive that stores its
//! value as written: `SetEnvIf` values go through regex substitution and `RequestHeader` values
//! through `%` and `\` escapes), and a secured directory copies it to the header with
//! `RequestHeader set ... "%{VAR}e" "expr=<the mapping's match>"`. Header edits of nested
//! sections are appended, not replaced, so every section ends with its own `unset` or `set`.
//!
//! # Quoting
//! Expression strings are single-quoted and every byte outside `[A-Za-z0-9 ,=._:@-]` is written as
//! an octal escape (`\NNN`), so no quote, `%{`, `$`, backslash or non-ASCII byte is ever read by
//! the expression parser or Apache's config reader as anything but itself. Regexes spell `\` and
//! `"` as `\x5c` and `\x22`, because Apache's config reader turns `\\` into `\`.

use std::fmt::Write as _;

use super::options::{Gateway, GatewayOptions};
use super::path::{decoded_pcre_parts, innermost_first, path_regex, raw_pcre, refusals};
use super::snapshot::{OneToOne, SiteSnapshot};
use super::{refuse_control, RenderError};
use crate::domain::directory::DirectoryPolicy;
use crate::domain::names::VirtualPath;

/// Where Debian and Ubuntu keep the system CA bundle, for an `https://` upstream.
const SYSTEM_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

pub fn render(site: &SiteSnapshot, options: &GatewayOptions) -> Result<String, RenderError> {
    let gw = options.validate()?;
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "# certmap site {} revision {}: Include this file in httpd.conf, which must also",
        site.id, site.revision
    );
    let _ = writeln!(w, "# Listen on {} and load mod_ssl, mod_authz_core, mod_headers, mod_env,", gw.listen);
    let _ = writeln!(w, "# mod_rewrite, mod_proxy and mod_proxy_http.");
    virtual_host(w, site, &gw)?;
    Ok(out)
}

/// One file for several sites: a name-based `<VirtualHost>` per site, all on the one `listen`
/// address, told apart by `ServerName`/`ServerAlias`. Apache gives a request whose name matches
/// no virtual host to the first one, so the first is a catch-all that refuses everything: an
/// unknown name never reaches a site.
pub fn render_all(sites: &[SiteSnapshot], options: &GatewayOptions) -> Result<String, RenderError> {
    let gw = options.validate()?;
    super::hosts::check_routable(sites, "Apache")?;
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "# certmap: {} sites: Include this file in httpd.conf, which must also", sites.len());
    let _ = writeln!(w, "# Listen on {} and load mod_ssl, mod_authz_core, mod_headers, mod_env,", gw.listen);
    let _ = writeln!(w, "# mod_rewrite, mod_proxy and mod_proxy_http.");
    w.push('\n');
    let _ = writeln!(w, "# First, so it takes every host name that is no site's: refused.");
    let _ = writeln!(w, "<VirtualHost {}>", gw.listen);
    let _ = writeln!(w, "    ServerName unknown-host.certmap.invalid");
    let _ = writeln!(w, "    SSLEngine on");
    let _ = writeln!(w, "    SSLCertificateFile {}", gw.server_cert);
    let _ = writeln!(w, "    SSLCertificateKeyFile {}", gw.server_key);
    let _ = writeln!(w, "    <Location \"/\">");
    let _ = writeln!(w, "        Require all denied");
    let _ = writeln!(w, "    </Location>");
    let _ = writeln!(w, "</VirtualHost>");
    for site in sites {
        w.push('\n');
        let _ = writeln!(w, "# Site {} revision {}.", site.id, site.revision);
        virtual_host(w, site, &gw).map_err(|e| e.in_site(site))?;
    }
    Ok(out)
}

fn virtual_host(w: &mut String, site: &SiteSnapshot, gw: &Gateway<'_>) -> Result<(), RenderError> {
    if site.id <= 0 {
        return Err(RenderError::unsupported(format!("site id {} in a variable name", site.id)));
    }
    refuse_many_to_one(site)?;
    let grants = grants(site)?;
    let _ = writeln!(w, "<VirtualHost {}>", gw.listen);
    hostnames(w, site);
    let _ = writeln!(w, "    SSLEngine on");
    let _ = writeln!(w, "    SSLCertificateFile {}", gw.server_cert);
    let _ = writeln!(w, "    SSLCertificateKeyFile {}", gw.server_key);
    let _ = writeln!(w, "    # Asked for during the handshake (no renegotiation); each directory decides.");
    let _ = writeln!(w, "    SSLCACertificateFile {}", gw.ca_bundle);
    let _ = writeln!(w, "    SSLVerifyClient optional");
    let _ = writeln!(w, "    SSLVerifyDepth {}", gw.verify_depth);
    if let Some(crl) = gw.crl_file {
        let _ = writeln!(w, "    # A revoked client certificate fails the handshake; an expired CRL fails every one.");
        let _ = writeln!(w, "    SSLCARevocationFile {crl}");
        let _ = writeln!(w, "    SSLCARevocationCheck chain");
    }
    if site.revocation.check.asks_ocsp() {
        let _ =
            writeln!(w, "    # The site's policy asks OCSP: mod_ssl asks the responder the client certificate names.");
        let _ = writeln!(w, "    SSLOCSPEnable leaf");
    }
    let _ = writeln!(w, "    # SSL_CLIENT_I_DN in RFC 2253 form, which the issuers below are written in.");
    let _ = writeln!(w, "    SSLOptions -LegacyDNStringFormat");
    w.push('\n');
    refuse_uncanonical(w);
    let _ = writeln!(w, "    # Only certmap sets this header: drop whatever the client sent.");
    let _ = writeln!(w, "    RequestHeader unset {} early", gw.header);
    if !grants.is_empty() {
        let _ = writeln!(w, "    # The accounts, as written (SetEnv does not unescape).");
    }
    for g in &grants {
        let _ = writeln!(w, "    SetEnv {} \"{}\"", g.var, g.user);
    }
    w.push('\n');
    if gw.upstream.https {
        let _ = writeln!(w, "    SSLProxyEngine on");
        let _ = writeln!(w, "    SSLProxyVerify require");
        let _ = writeln!(w, "    SSLProxyCheckPeerName on");
        let _ = writeln!(w, "    SSLProxyCACertificateFile {SYSTEM_CA}");
    }
    let _ = writeln!(w, "    ProxyPass \"/\" \"{}/\"", gw.upstream.url());
    let _ = writeln!(w, "    ProxyPassReverse \"/\" \"{}/\"", gw.upstream.url());

    // The root section first: it matches every request, so a site without a `/` directory is
    // explicitly public rather than subject to whatever the main config says.
    let root = site.directories.iter().find(|d| d.path.is_root()).map(|d| d.policy).unwrap_or_default();
    let root_path = VirtualPath::parse("/").map_err(|_| RenderError::unsupported("the root directory"))?;
    section(w, "/", &path_regex(&root_path), &root, &grants, gw)?;
    let mut dirs = innermost_first(&site.directories);
    dirs.reverse();
    for d in dirs.into_iter().filter(|d| !d.path.is_root()) {
        refuse_control("a directory path", d.path.as_str())?;
        section(w, d.path.as_str(), &path_regex(&d.path), &d.policy, &grants, gw)?;
    }
    let _ = writeln!(w, "</VirtualHost>");
    Ok(())
}

/// Room on a configuration line for a regex, well inside what Apache's config reader takes.
const REGEX_BYTES: usize = 2000;

/// 400 for a path a backend might read as another directory than the section matched here.
fn refuse_uncanonical(w: &mut String) {
    let _ = writeln!(w, "    # A path a backend might read as another directory than the one matched here: 400.");
    let _ = writeln!(w, "    # Encoded slashes reach the rule below (400) instead of Apache's own 404.");
    let _ = writeln!(w, "    AllowEncodedSlashes NoDecode");
    let _ = writeln!(w, "    RewriteEngine On");
    let raw = raw_pcre(r"^\S+ [^? ]*", r"[/\\? ]|$");
    let _ = writeln!(w, "    RewriteCond \"%{{THE_REQUEST}}\" \"{}\" [OR]", location_regex(&raw));
    for part in decoded_pcre_parts(REGEX_BYTES) {
        let _ = writeln!(w, "    RewriteCond \"%{{REQUEST_URI}}\" \"{}\" [OR]", location_regex(&part));
    }
    let _ = writeln!(w, "    RewriteCond \"%{{REQUEST_URI}}\" \"!{}\"", location_regex(refusals().utf8));
    let _ = writeln!(w, "    RewriteRule \"^\" \"-\" [R=400,L]");
    w.push('\n');
}

/// An enabled one-to-one mapping, ready to write.
struct Grant {
    /// The environment variable holding the account.
    var: String,
    user: String,
    /// An ap_expr that is true for this mapping's certificate, verified.
    expr: String,
}

fn grants(site: &SiteSnapshot) -> Result<Vec<Grant>, RenderError> {
    if !(site.mapping.enabled && site.mapping.one_to_one_enabled) {
        return Ok(Vec::new());
    }
    site.one_to_one
        .iter()
        .filter(|o| o.enabled)
        .map(|o| {
            Ok(Grant {
                var: format!("CERTMAP_USER_{}_{}", site.id, o.id),
                user: setenv_value(o.user_name.as_str())?,
                expr: format!("%{{SSL_CLIENT_VERIFY}} == 'SUCCESS' && {}", certificate_expr(o)?),
            })
        })
        .collect()
}

fn hostnames(w: &mut String, site: &SiteSnapshot) {
    let names: Vec<&str> = site.hostnames.iter().map(|h| h.as_str()).collect();
    let name = names.iter().position(|n| !n.starts_with('*'));
    if let Some(i) = name {
        let _ = writeln!(w, "    ServerName {}", names[i]);
    }
    let aliases: Vec<&str> = names.iter().enumerate().filter(|(j, _)| Some(*j) != name).map(|(_, n)| *n).collect();
    if !aliases.is_empty() {
        let _ = writeln!(w, "    ServerAlias {}", aliases.join(" "));
    }
}

fn section(
    w: &mut String,
    path: &str,
    regex: &str,
    policy: &DirectoryPolicy,
    grants: &[Grant],
    gw: &Gateway<'_>,
) -> Result<(), RenderError> {
    w.push('\n');
    // The path in a comment: control characters are refused, so it cannot end the line.
    let _ = writeln!(w, "    # {path}");
    let _ = writeln!(w, "    <LocationMatch \"{}\">", location_regex(regex));
    if !policy.is_secured() {
        let _ = writeln!(w, "        # Not secured: no account.");
        let _ = writeln!(w, "        Require all granted");
        let _ = writeln!(w, "        RequestHeader unset {}", gw.header);
    } else if grants.is_empty() {
        let _ = writeln!(w, "        # Secured, and no certificate is mapped.");
        let _ = writeln!(w, "        Require all denied");
        let _ = writeln!(w, "        RequestHeader unset {}", gw.header);
    } else {
        let _ = writeln!(w, "        # Secured: a verified certificate with an enabled one-to-one mapping.");
        let _ = writeln!(w, "        <RequireAll>");
        let _ = writeln!(w, "            Require expr \"%{{SSL_CLIENT_VERIFY}} == 'SUCCESS'\"");
        let _ = writeln!(w, "            <RequireAny>");
        for g in grants {
            let _ = writeln!(w, "                Require expr \"{}\"", g.expr);
        }
        let _ = writeln!(w, "            </RequireAny>");
        let _ = writeln!(w, "        </RequireAll>");
        let _ = writeln!(w, "        RequestHeader unset {}", gw.header);
        for g in grants {
            let _ = writeln!(w, "        RequestHeader set {} \"%{{{}}}e\" \"expr={}\"", gw.header, g.var, g.expr);
        }
    }
    let _ = writeln!(w, "    </LocationMatch>");
    Ok(())
}

fn refuse_many_to_one(site: &SiteSnapshot) -> Result<(), RenderError> {
    if !(site.mapping.enabled && site.mapping.many_to_one_enabled) {
        return Ok(());
    }
    if let Some(m) = site.many_to_one.iter().find(|m| m.enabled) {
        return Err(RenderError::unsupported(format!(
            "many-to-one mapping {:?} (id {}) in Apache: disable it or use the nginx format",
            m.name, m.id
        )));
    }
    Ok(())
}

/// `%{SSL_CLIENT_M_SERIAL} == '…' && %{SSL_CLIENT_I_DN} == '…'` for the mapping's certificate.
///
/// mod_ssl prints the serial with OpenSSL's `i2a_ASN1_INTEGER`: uppercase hex of the magnitude,
/// no leading zero bytes, `-` before a negative one and a line break after every 35 bytes; the
/// last two cannot be matched faithfully and are refused. It prints the issuer with
/// `XN_FLAG_RFC2253` but without `ASN1_STRFLGS_ESC_MSB`: as certmap's `issuer` except that bytes
/// above 0x7F are left raw (UTF-8) instead of written `\XX`.
fn certificate_expr(o: &OneToOne) -> Result<String, RenderError> {
    let info = o.certificate.info();
    let unsupported = |why: &str| {
        RenderError::unsupported(format!("one-to-one mapping {} ({}): a certificate with {why}", o.id, o.user_name))
    };
    let der = o.certificate.der().ok_or_else(|| unsupported("no stored DER to read the serial's sign from"))?;
    let negative = x509_parser::parse_x509_certificate(der)
        .map(|(_, c)| c.raw_serial().first().is_some_and(|b| b & 0x80 != 0))
        .map_err(|_| unsupported("an unreadable serial"))?;
    if negative {
        return Err(unsupported("a negative serial"));
    }
    if info.serial.len() > 70 {
        return Err(unsupported("a serial longer than 35 bytes"));
    }
    let serial = info.serial.to_ascii_uppercase();
    let issuer = apache_dn(&info.issuer);
    Ok(format!(
        "%{{SSL_CLIENT_M_SERIAL}} == {} && %{{SSL_CLIENT_I_DN}} == {}",
        expr_string(serial.as_bytes()),
        expr_string(&issuer)
    ))
}

/// certmap's RFC 2253 name with every `\XX` escape of a byte above 0x7F turned back into the byte,
/// as mod_ssl prints it.
fn apache_dn(rfc2253: &str) -> Vec<u8> {
    let b = rfc2253.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(byte) if byte >= 0x80 => {
                    out.push(byte);
                    i += 3;
                }
                // Any other escape (a special, a control byte) stays as OpenSSL wrote it.
                _ => {
                    out.extend_from_slice(&b[i..i + 2]);
                    i += 2;
                }
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// A single-quoted ap_expr string whose value is exactly `bytes`. Anything but letters, digits
/// and ` ,=._:@-` is an octal escape; so is a digit right after an escape, because the expression
/// lexer would read `\1348` as one (bad) escape.
pub(crate) fn expr_string(bytes: &[u8]) -> String {
    let mut out = String::from("'");
    let mut after_escape = false;
    for &b in bytes {
        let plain = (b.is_ascii_alphanumeric() && !(after_escape && b.is_ascii_digit())) || b" ,=._:@-".contains(&b);
        if plain {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "\\{b:03o}");
        }
        after_escape = !plain;
    }
    out.push('\'');
    out
}

/// A path regex for `<LocationMatch "...">`. Apache's config reader turns `\\` into `\` and `\"`
/// into `"` inside a quoted word, so an escaped backslash or quote is written as a hex escape,
/// which PCRE reads the same way and the reader leaves alone.
fn location_regex(regex: &str) -> String {
    let mut out = String::with_capacity(regex.len());
    let mut chars = regex.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push_str(r"\x5c"),
            Some('"') => out.push_str(r"\x22"),
            Some(next) => {
                out.push('\\');
                out.push(next);
            }
            None => out.push_str(r"\x5c"),
        }
    }
    out
}

/// A double-quoted `SetEnv` value whose content is exactly `user`. Apache's config reader only
/// unescapes `\\` and `\"` there, and replaces `${NAME}` with a defined variable, so a name with a
/// `"`, a `\` before `\` or `"` or at the end, or `${` cannot be written as is and is refused
/// (certmap's user names cannot contain most of these; this is the last line of defence).
pub(crate) fn setenv_value(user: &str) -> Result<String, RenderError> {
    refuse_control("a user name", user)?;
    let bad = user.contains('"') || user.contains(r"\\") || user.ends_with('\\') || user.contains("${");
    if bad {
        return Err(RenderError::unsupported(format!(
            "the user name {user:?} in Apache config (a quote, a doubled or trailing backslash, or \"${{\")"
        )));
    }
    Ok(user.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixture::{self, without_many_to_one};
    use crate::render::realcheck;

    use crate::render::fixture::gateway_options as opts;

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(render(&without_many_to_one(fixture::site()), &opts()).unwrap());
    }

    #[test]
    fn snapshot_hostile() {
        insta::assert_snapshot!(render(&without_many_to_one(fixture::hostile()), &opts()).unwrap());
    }

    #[test]
    fn many_to_one_is_unsupported_by_name() {
        let err = render(&fixture::site(), &opts()).unwrap_err();
        let RenderError::Unsupported { what } = err else { panic!("{err:?}") };
        assert!(what.contains("\"Staff\""), "{what}");
        let mut site = fixture::site();
        site.mapping.many_to_one_enabled = false;
        assert!(render(&site, &opts()).is_ok(), "a switched-off many-to-one is not rendered, and not refused");
    }

    #[test]
    fn expression_strings_escape_every_risky_byte() {
        assert_eq!(expr_string(b"CN=Contoso CA,O=Contoso"), "'CN=Contoso CA,O=Contoso'");
        assert_eq!(expr_string(b"'\"%{$}\\"), r"'\047\042\045\173\044\175\134'");
        // A digit after an escape is escaped too: `\1348` would be read as one escape.
        assert_eq!(expr_string(b"\\89"), r"'\134\070\071'");
        assert_eq!(expr_string(b"a1\\b2"), r"'a1\134b2'");
        assert_eq!(expr_string("É".as_bytes()), r"'\303\211'");
        for b in 0..=255u8 {
            let s = expr_string(&[b]);
            let inner = &s[1..s.len() - 1];
            assert!(!inner.contains(['\'', '"', '%', '$', '{', '}']), "{b}: {s}");
            assert!(inner.is_ascii());
        }
    }

    #[test]
    fn issuer_is_written_as_mod_ssl_prints_it() {
        assert_eq!(apache_dn(r"CN=\C3\89vil CA,O=a\, b\\c\0A"), "CN=Évil CA,O=a\\, b\\\\c\\0A".as_bytes());
        assert_eq!(apache_dn("CN=x\\"), b"CN=x\\");
        assert_eq!(apache_dn(r"CN=\E2\80\98y"), "CN=‘y".as_bytes());
    }

    #[test]
    fn location_regexes_never_hold_a_sequence_the_config_reader_unescapes() {
        assert_eq!(location_regex(r#"^[/\\]+a\"b\$(?:[/\\]+|$)"#), r"^[/\x5c]+a\x22b\$(?:[/\x5c]+|$)");
        let out = render(&without_many_to_one(fixture::hostile()), &opts()).unwrap();
        for line in out.lines().filter(|l| l.contains("<LocationMatch")) {
            assert!(!line.contains(r"\\") && !line.contains(r#"\""#) && !line.contains("${"), "{line}");
        }
    }

    #[test]
    fn setenv_values_are_written_as_is_or_refused() {
        assert_eq!(setenv_value(r"CONTOSO\nancy").unwrap(), r"CONTOSO\nancy");
        assert_eq!(setenv_value("O'Brien & {Sons} $x %{w} ‘y’ #z").unwrap(), "O'Brien & {Sons} $x %{w} ‘y’ #z");
        for bad in ["a\"b", r"a\\b", "a\\", "a${HOME}", "a\nb"] {
            let err = setenv_value(bad).unwrap_err();
            assert!(matches!(err, RenderError::Unsupported { .. }), "{bad:?}");
        }
    }

    #[test]
    fn disabled_one_to_one_grants_nothing() {
        let out = render(&without_many_to_one(fixture::site()), &opts()).unwrap();
        assert!(out.contains("CONTOSO\\alice"));
        assert!(!out.contains("bob") && !out.contains("CERTMAP_USER_7_2"), "{out}");
        let mut site = without_many_to_one(fixture::site());
        fixture::one(&mut site, 0).enabled = false;
        let out = render(&site, &opts()).unwrap();
        assert!(!out.contains("Require expr") && !out.contains("SetEnv"), "{out}");
        assert_eq!(out.matches("Require all denied").count(), 1, "only /secure: {out}");
    }

    #[test]
    fn sections_are_outermost_first_and_public_overrides_explicitly() {
        let out = render(&without_many_to_one(fixture::site()), &opts()).unwrap();
        let at = |p: &str| out.find(&format!("    # {p}\n")).unwrap_or_else(|| panic!("{p}: {out}"));
        assert!(at("/") < at("/secure") && at("/secure") < at("/secure/public"));
        assert_eq!(out.matches("<LocationMatch").count(), 4);
        assert_eq!(out.matches("Require all granted").count(), 3, "/, /secure/public, /shop");
        assert_eq!(out.matches("RequestHeader unset X-Remote-User\n").count(), 4, "every section");
        assert!(out.contains("RequestHeader unset X-Remote-User early"));
    }

    fn two_sites() -> Vec<SiteSnapshot> {
        fixture::two_sites().into_iter().map(without_many_to_one).collect()
    }

    #[test]
    fn snapshot_two_sites() {
        insta::assert_snapshot!(render_all(&two_sites(), &opts()).unwrap());
    }

    #[test]
    fn two_sites_are_name_based_virtual_hosts_behind_a_refusing_default() {
        let out = render_all(&two_sites(), &opts()).unwrap();
        assert_eq!(out.matches("<VirtualHost 0.0.0.0:443>").count(), 3);
        let default = out.find("ServerName unknown-host.certmap.invalid").unwrap();
        assert!(default < out.find("ServerName www.contoso.com").unwrap());
        assert!(out.contains("ServerName intranet.fabrikam.com\n    ServerAlias *.fabrikam.net"));
        assert!(out.contains("SetEnv CERTMAP_USER_7_1 ") && out.contains("SetEnv CERTMAP_USER_8_21 "));
        let err = render_all(&fixture::two_sites(), &opts()).unwrap_err();
        let RenderError::Unsupported { what } = err else { panic!("{err:?}") };
        assert!(what.contains("(id 7)") && what.contains("Staff"), "{what}");
    }

    #[test]
    fn apache_accepts_two_sites_in_one_file() {
        let dir = realcheck::tempdir("apache-all");
        let pki = realcheck::pki(&dir);
        let o = realcheck::gateway_options(&pki);
        realcheck::apache_t(&dir, &render_all(&two_sites(), &o).unwrap(), &o.listen);
    }

    #[test]
    fn https_upstream_is_verified() {
        let o = GatewayOptions { upstream: "https://app.example.com:8443".into(), ..opts() };
        let out = render(&without_many_to_one(fixture::site()), &o).unwrap();
        assert!(out.contains("SSLProxyEngine on\n    SSLProxyVerify require"), "{out}");
        assert!(out.contains("ProxyPass \"/\" \"https://app.example.com:8443/\""));
    }

    #[test]
    fn apache_accepts_the_files() {
        for site in [fixture::site(), fixture::hostile()] {
            let site = without_many_to_one(site);
            let dir = realcheck::tempdir("apache");
            let pki = realcheck::pki(&dir);
            let o = realcheck::gateway_options(&pki);
            realcheck::apache_t(&dir, &render(&site, &o).unwrap(), &o.listen);
        }
    }

    #[test]
    fn a_site_asking_ocsp_has_mod_ssl_ask_it_too() {
        let mut site = without_many_to_one(fixture::site());
        assert!(!render(&site, &opts()).unwrap().contains("SSLOCSPEnable"));
        site.revocation.check = crate::domain::revocation::Check::Ocsp;
        let dir = realcheck::tempdir("apache-ocsp");
        let pki = realcheck::pki(&dir);
        let o = realcheck::gateway_options(&pki);
        let out = render(&site, &o).unwrap();
        assert!(out.contains("    SSLOCSPEnable leaf\n"), "{out}");
        realcheck::apache_t(&dir, &out, &o.listen);
    }
}
