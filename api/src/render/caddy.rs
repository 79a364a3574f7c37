//! A Caddyfile site block for Caddy 2.6 or later (Debian ships 2.6.2): `import` it from the main
//! Caddyfile, or run it alone (`caddy run --config FILE --adapter caddyfile`).
//!
//! # Map mode
//! `map` turns `{http.request.tls.client.fingerprint}` (SHA-256 of the DER, lowercase hex) into
//! the account: `""` for a disabled mapping or none. Inside one `route` (which runs in the order
//! written, where Caddy would otherwise sort directives), the client's copies of the user header
//! and of every identity header are deleted first, then each directory, innermost first, is a
//! `handle` on a case-insensitive `path_regexp` (see [`super::path`]), after a 400 for any path a
//! backend might read as another directory (the raw URI for escapes and dot segments, since
//! `path_regexp` sees the path decoded and cleaned; see [`super::path::refusals_go`]): a secured one answers 403
//! unless the certificate mapped, and sets the header. Caddy's map cannot test a subject or an
//! issuer in the form IIS rules are written in, so many-to-one mappings are refused here
//! ([`RenderError::Unsupported`]); per-request mode decides them in certmap.
//!
//! # Per-request mode
//! `forward_auth` to certmap's authorize with the certificate as base64 DER in
//! `X-Caddy-Client-Cert` (the `caddy` client-identity form), the site and the original URI, and
//! `copy_headers` from the answer's `X-Certmap-User` to the user header. certmap always answers
//! that header (empty when there is no account), because Caddy 2.6 copies a missing one as its
//! literal placeholder text.
//!
//! # TLS
//! `client_auth` asks for a certificate in the handshake and verifies it against the site's CA
//! bundle: `require_and_verify` when every path of the site requires one, else `verify_if_given`
//! and the path decides. Go verifies the whole chain the client presents; `verify_depth` has no
//! Caddy equivalent and is not used. A wildcard host `*.example.com` covers one label in Caddy.
//!
//! # Quoting
//! Values are double-quoted; Caddy's lexer unescapes only `\"`, and placeholders are replaced at
//! run time unless their braces are written `\{` `\}`. `{$NAME}` is replaced with an environment
//! variable when the file is read, whatever the escaping, so a value containing `{$` is refused,
//! as is a backslash before a quote or at the end (the lexer would read it as an escape).

use std::fmt::Write as _;

use super::authorize::{self, Authorize, AuthorizeOptions, CertmapAuth};
use super::options::{Gateway, GatewayOptions};
use super::path::{innermost_first, path_regex_go, refusals_go};
use super::snapshot::SiteSnapshot;
use super::{refuse_control, RenderError};
use crate::domain::directory::{ClientCertificates, DirectoryPolicy};

/// The header the `caddy` client-identity form is read from.
const CERT_HEADER: &str = "X-Caddy-Client-Cert";

pub fn render(site: &SiteSnapshot, options: &GatewayOptions) -> Result<String, RenderError> {
    let gw = options.validate()?;
    let mut out = header_comment(site, "map mode");
    site_block(&mut out, site, &gw, None)?;
    Ok(out)
}

pub fn render_authorize(
    site: &SiteSnapshot,
    options: &GatewayOptions,
    authorize: &AuthorizeOptions,
) -> Result<String, RenderError> {
    let (gw, az) = (options.validate()?, authorize.validate()?);
    let mut out = header_comment(site, "per-request mode");
    site_block(&mut out, site, &gw, Some(&az))?;
    Ok(out)
}

/// Several sites: one site block each, told apart by host name (SNI and Host) on one address.
pub fn render_all(
    sites: &[SiteSnapshot],
    options: &GatewayOptions,
    authorize: Option<&AuthorizeOptions>,
) -> Result<String, RenderError> {
    let gw = options.validate()?;
    let az = authorize.map(AuthorizeOptions::validate).transpose()?;
    super::hosts::check_routable(sites, "Caddy")?;
    let mut out = format!("# certmap: {} sites, a Caddyfile for Caddy 2.6 or later.\n", sites.len());
    for site in sites {
        let _ = writeln!(out, "\n# Site {} revision {}.", site.id, site.revision);
        site_block(&mut out, site, &gw, az.as_ref()).map_err(|e| e.in_site(site))?;
    }
    Ok(out)
}

fn header_comment(site: &SiteSnapshot, mode: &str) -> String {
    format!(
        "# certmap site {} revision {}, {mode}: a Caddyfile for Caddy 2.6 or later\n# (import it, or caddy run --config FILE --adapter caddyfile).\n",
        site.id, site.revision
    )
}

fn site_block(
    w: &mut String,
    site: &SiteSnapshot,
    gw: &Gateway<'_>,
    az: Option<&Authorize<'_>>,
) -> Result<(), RenderError> {
    // Caddy 2.6's client_auth has no CRL setting: saying nothing would leave the admin believing
    // the handshake checks revocation. Revoked certificates still leave the map, and authorize
    // refuses them, so the option is simply not needed here.
    if gw.crl_file.is_some() {
        return Err(RenderError::unsupported(
            "crl_file: Caddy 2.6 cannot check a CRL during the handshake; leave the option out (revoked \
             certificates are left out of the map, and mode=authorize refuses them)",
        ));
    }
    if site.id <= 0 {
        return Err(RenderError::unsupported(format!("site id {} in a placeholder name", site.id)));
    }
    let port = gw.listen.port();
    let addresses: Vec<String> = if site.hostnames.is_empty() {
        vec![format!("https://:{port}")]
    } else {
        site.hostnames.iter().map(|h| format!("https://{}:{port}", h.as_str())).collect()
    };
    let _ = writeln!(w, "{} {{", addresses.join(", "));
    let _ = writeln!(w, "\tbind {}", gw.listen.ip());
    let every_path_requires = az.is_none() && every_path_requires(site);
    let _ = writeln!(w, "\ttls {} {} {{", gw.server_cert, gw.server_key);
    let _ = writeln!(w, "\t\tclient_auth {{");
    let _ = writeln!(w, "\t\t\tmode {}", if every_path_requires { "require_and_verify" } else { "verify_if_given" });
    let _ = writeln!(w, "\t\t\ttrusted_ca_cert_file {}", gw.ca_bundle);
    let _ = writeln!(w, "\t\t}}");
    let _ = writeln!(w, "\t}}");
    match az {
        None => map_mode(w, site, gw)?,
        Some(az) => authorize_mode(w, site, gw, az),
    }
    let _ = writeln!(w, "}}");
    Ok(())
}

fn every_path_requires(site: &SiteSnapshot) -> bool {
    let requires = |p: &DirectoryPolicy| p.client_certificates == ClientCertificates::Require;
    site.directories.iter().any(|d| d.path.is_root()) && site.directories.iter().all(|d| requires(&d.policy))
}

/// The client's copies of the user header and of every identity header, deleted before anything
/// reads or forwards them.
fn delete_client_headers(w: &mut String, gw: &Gateway<'_>) {
    let _ = writeln!(w, "\t\t# Nothing the client sent about who it is goes further.");
    let _ = writeln!(w, "\t\trequest_header -{}", gw.header);
    for h in authorize::cleared_except(None) {
        let _ = writeln!(w, "\t\trequest_header -{h}");
    }
}

fn map_mode(w: &mut String, site: &SiteSnapshot, gw: &Gateway<'_>) -> Result<(), RenderError> {
    let m = &site.mapping;
    if m.enabled && m.many_to_one_enabled {
        if let Some(many) = site.many_to_one.iter().find(|m| m.enabled) {
            return Err(RenderError::unsupported(format!(
                "many-to-one mapping {:?} (id {}) in Caddy's map: disable it or use mode=authorize",
                many.name, many.id
            )));
        }
    }
    let id = site.id;
    let var = format!("{{certmap_user_{id}}}");
    let _ = writeln!(w, "\t# One-to-one by SHA-256 fingerprint: \"\" = no account (not mapped, or disabled).");
    let _ = writeln!(w, "\tmap {{http.request.tls.client.fingerprint}} {var} {{");
    let _ = writeln!(w, "\t\tdefault \"\"");
    if m.enabled && m.one_to_one_enabled {
        for o in &site.one_to_one {
            let value = if o.enabled { value(o.user_name.as_str())? } else { "\"\"".into() };
            let note = if o.enabled { String::new() } else { " (disabled: refused)".into() };
            let _ = writeln!(w, "\t\t{} {value} # one-to-one {}{note}", quote(&o.certificate.info().sha256)?, o.id);
        }
    }
    let _ = writeln!(w, "\t}}");
    let _ = writeln!(w, "\troute {{");
    delete_client_headers(w, gw);
    refuse_uncanonical(w, id)?;
    let dirs = innermost_first(&site.directories);
    for (n, d) in dirs.iter().enumerate().filter(|(_, d)| !d.path.is_root()) {
        refuse_control("a directory path", d.path.as_str())?;
        let _ = writeln!(w, "\t\t@certmap_{id}_dir_{n} path_regexp {}", quote_regex(&path_regex_go(&d.path))?);
        let _ = writeln!(w, "\t\thandle @certmap_{id}_dir_{n} {{");
        handle_body(w, &d.policy, gw, &var, &format!("certmap_{id}_refused_{n}"));
        let _ = writeln!(w, "\t\t}}");
    }
    let root = site.directories.iter().find(|d| d.path.is_root()).map(|d| d.policy).unwrap_or_default();
    let _ = writeln!(w, "\t\thandle {{");
    handle_body(w, &root, gw, &var, &format!("certmap_{id}_refused_root"));
    let _ = writeln!(w, "\t\t}}");
    let _ = writeln!(w, "\t}}");
    Ok(())
}

/// 400 for a path a backend might read as another directory than the `handle` matched here: the
/// raw URI for escapes and dot segments (`path_regexp` sees the path decoded and cleaned), the
/// decoded path for the rest, as certmap's authorize refuses them.
fn refuse_uncanonical(w: &mut String, id: i64) -> Result<(), RenderError> {
    let r = refusals_go();
    let _ = writeln!(w, "\t\t# A path a backend might read as another directory than the one matched here: 400.");
    let _ = writeln!(w, "\t\t@certmap_{id}_uncanonical_raw vars_regexp {{http.request.orig_uri}} {}", quote_regex(r.raw)?);
    let _ = writeln!(w, "\t\trespond @certmap_{id}_uncanonical_raw 400");
    let _ = writeln!(w, "\t\t@certmap_{id}_uncanonical path_regexp {}", quote_regex(&r.decoded)?);
    let _ = writeln!(w, "\t\trespond @certmap_{id}_uncanonical 400");
    Ok(())
}

fn handle_body(w: &mut String, policy: &DirectoryPolicy, gw: &Gateway<'_>, var: &str, matcher: &str) {
    if policy.is_secured() {
        let _ = writeln!(w, "\t\t\t@{matcher} vars {var} \"\"");
        let _ = writeln!(w, "\t\t\trespond @{matcher} 403");
        let _ = writeln!(w, "\t\t\trequest_header {} {var}", gw.header);
    }
    let _ = writeln!(w, "\t\t\treverse_proxy {}", gw.upstream.url());
}

fn authorize_mode(w: &mut String, site: &SiteSnapshot, gw: &Gateway<'_>, az: &Authorize<'_>) {
    let id = site.id;
    let _ = writeln!(w, "\troute {{");
    delete_client_headers(w, gw);
    let _ = writeln!(w, "\t\t# 2xx lets the request through; certmap's 401 or 403 is the client's answer.");
    let _ = writeln!(w, "\t\tforward_auth {} {{", az.certmap.url());
    let _ = writeln!(w, "\t\t\turi {}", authorize::ENDPOINT);
    let _ = writeln!(w, "\t\t\theader_up {CERT_HEADER} {{http.request.tls.client.certificate_der_base64}}");
    let _ = writeln!(w, "\t\t\theader_up {} \"{id}\"", authorize::SITE_HEADER);
    let _ = writeln!(w, "\t\t\theader_up {} {{http.request.orig_uri}}", authorize::URI_HEADER);
    match &az.auth {
        CertmapAuth::TokenFile(path) => {
            let _ = writeln!(w, "\t\t\t# Holds: header_up Authorization \"Bearer <token>\" with a token from");
            let _ =
                writeln!(w, "\t\t\t# certmap token issue --role gateway --client-identity caddy (keep it mode 0600).");
            let _ = writeln!(w, "\t\t\timport {path}");
        }
        CertmapAuth::Mtls { .. } => {
            let _ = writeln!(w, "\t\t\theader_up -Authorization");
        }
    }
    let _ = writeln!(w, "\t\t\tcopy_headers {}>{}", authorize::USER_HEADER, gw.header);
    if az.certmap.https {
        let _ = writeln!(w, "\t\t\ttransport http {{");
        let _ = writeln!(w, "\t\t\t\ttls_trusted_ca_certs {}", az.certmap_ca);
        if let CertmapAuth::Mtls { cert, key } = &az.auth {
            let _ =
                writeln!(w, "\t\t\t\t# A client certificate registered with certmap api-client add --role gateway.");
            let _ = writeln!(w, "\t\t\t\ttls_client_auth {cert} {key}");
        }
        let _ = writeln!(w, "\t\t\t}}");
    }
    let _ = writeln!(w, "\t\t}}");
    let _ = writeln!(w, "\t\t# No account: certmap answers an empty user, which Caddy copies as an empty header.");
    let _ = writeln!(w, "\t\t@certmap_{id}_no_user vars {{http.request.header.{}}} \"\"", gw.header);
    let _ = writeln!(w, "\t\trequest_header @certmap_{id}_no_user -{}", gw.header);
    let _ = writeln!(w, "\t\treverse_proxy {}", gw.upstream.url());
    let _ = writeln!(w, "\t}}");
}

/// A regex is compiled as written, placeholders and all, so only the file's own syntax matters:
/// [`path_regex_go`] spells quotes in hex, and `{$` cannot occur (`$` is always escaped).
fn quote_regex(re: &str) -> Result<String, RenderError> {
    refuse_control("a path regex", re)?;
    if re.contains('"') || re.contains("{$") || re.ends_with('\\') {
        return Err(RenderError::unsupported(format!("the path regex {re:?} in a Caddyfile string")));
    }
    Ok(format!("\"{re}\""))
}

/// A map output: quoted, and never `-`, which Caddy's map reads as "no value".
fn value(s: &str) -> Result<String, RenderError> {
    if s == "-" {
        return Err(RenderError::unsupported("the account name \"-\" in Caddy's map (it means no value there)"));
    }
    quote(s)
}

/// A double-quoted Caddyfile token whose value, once Caddy has replaced placeholders, is exactly
/// `s`. What has no faithful spelling is refused (see the module's notes on quoting).
pub(crate) fn quote(s: &str) -> Result<String, RenderError> {
    refuse_control("a string", s)?;
    if s.contains("{$") {
        return Err(RenderError::unsupported(format!(
            "{s:?}: Caddy replaces \"{{$\" with an environment variable when it reads the file"
        )));
    }
    if s.ends_with('\\') || s.contains("\\\"") {
        return Err(RenderError::unsupported(format!(
            "{s:?}: a backslash before a quote or at the end has no spelling in a Caddyfile string"
        )));
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '{' | '}') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::client_identity::ClientIdentity;
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
    fn snapshot_authorize() {
        insta::assert_snapshot!(render_authorize(&fixture::hostile(), &opts(), &AuthorizeOptions::default()).unwrap());
    }

    #[test]
    fn snapshot_authorize_mtls() {
        insta::assert_snapshot!(render_authorize(&fixture::site(), &opts(), &fixture::mtls_to_certmap()).unwrap());
    }

    #[test]
    fn many_to_one_is_refused_in_map_mode_only() {
        let RenderError::Unsupported { what } = render(&fixture::site(), &opts()).unwrap_err() else { panic!() };
        assert!(what.contains("many-to-one") && what.contains("mode=authorize"), "{what}");
        assert!(render_authorize(&fixture::site(), &opts(), &AuthorizeOptions::default()).is_ok());
    }

    #[test]
    fn every_identity_header_is_deleted_before_anything_reads_it() {
        let site = without_many_to_one(fixture::site());
        for out in
            [render(&site, &opts()).unwrap(), render_authorize(&site, &opts(), &AuthorizeOptions::default()).unwrap()]
        {
            let route = out.find("\troute {").unwrap();
            for h in ClientIdentity::all_headers() {
                let at =
                    out.to_ascii_lowercase().find(&format!("request_header -{h}\n")).unwrap_or_else(|| panic!("{h}"));
                assert!(at > route, "{h} is deleted inside the route");
            }
            assert!(out.contains("request_header -X-Remote-User\n"));
        }
    }

    #[test]
    fn a_crl_file_is_refused_rather_than_silently_unchecked() {
        let site = without_many_to_one(fixture::site());
        let options = GatewayOptions { crl_file: Some("/etc/caddy/crl.pem".into()), ..opts() };
        for result in [render(&site, &options), render_authorize(&site, &options, &AuthorizeOptions::default())] {
            let RenderError::Unsupported { what } = result.unwrap_err() else { panic!() };
            assert!(what.contains("crl_file"), "{what}");
        }
    }

    #[test]
    fn the_certificate_goes_in_the_caddy_forms_header() {
        assert_eq!(ClientIdentity::Caddy.headers(), [CERT_HEADER.to_ascii_lowercase()]);
    }

    #[test]
    fn the_handshake_requires_a_certificate_only_when_every_path_does() {
        let mut site = without_many_to_one(fixture::site());
        assert!(!every_path_requires(&site), "no root directory: the root is public");
        site.directories = vec![fixture::dir("/", fixture::secured()), fixture::dir("/a", fixture::secured())];
        assert!(every_path_requires(&site));
        assert!(render(&site, &opts()).unwrap().contains("mode require_and_verify"));
        let per_request = render_authorize(&site, &opts(), &AuthorizeOptions::default()).unwrap();
        assert!(per_request.contains("mode verify_if_given"), "certmap decides per path, whatever it becomes");
        site.directories.push(fixture::dir("/open", Default::default()));
        assert!(!every_path_requires(&site));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("CONTOSO\\alice").unwrap(), r#""CONTOSO\alice""#);
        assert_eq!(quote(r#"a "b" {env.HOME} \{x}"#).unwrap(), r#""a \"b\" \{env.HOME\} \\{x\}""#);
        for bad in ["{$HOME}", "a\\", "a\\\"b", "a\nb", "\u{0}"] {
            assert!(matches!(quote(bad), Err(RenderError::Unsupported { .. })), "{bad:?}");
        }
        assert!(value("-").is_err());
    }

    #[test]
    fn two_sites() {
        let mut sites = fixture::two_sites();
        for s in &mut sites {
            s.many_to_one.clear();
        }
        let out = render_all(&sites, &opts(), None).unwrap();
        assert!(out.contains("https://www.contoso.com:443, https://*.contoso.net:443 {"), "{out}");
        assert!(out.contains("{certmap_user_7}") && out.contains("{certmap_user_8}"));
        sites[1].hostnames.clear();
        assert!(render_all(&sites, &opts(), None).is_err());
    }

    #[test]
    fn caddy_accepts_the_files() {
        let dir = realcheck::tempdir("caddy");
        let pki = realcheck::pki(&dir);
        let options = realcheck::gateway_options(&pki);
        let line = "header_up Authorization \"Bearer not-a-real-token\"\n";
        let (authorize, mtls) = realcheck::authorize_options(&dir, &pki, line);
        for text in [
            render(&without_many_to_one(fixture::hostile()), &options).unwrap(),
            render(&without_many_to_one(fixture::site()), &options).unwrap(),
            render_authorize(&fixture::hostile(), &options, &authorize).unwrap(),
            render_authorize(&fixture::site(), &options, &mtls).unwrap(),
            render_all(&fixture::two_sites().into_iter().map(without_many_to_one).collect::<Vec<_>>(), &options, None)
                .unwrap(),
            render_all(&fixture::two_sites(), &options, Some(&authorize)).unwrap(),
        ] {
            realcheck::caddy_validate(&dir, &text);
        }
    }
}
