//! One file to `include` inside nginx's `http {}`: the site's `map` blocks (which nginx allows at
//! http level only, so they come first in the same file) and a complete `server {}` block.
//!
//! # How a request is decided
//! Three maps, suffixed with the site id so several sites can share one `http {}`:
//! - `$certmap_o2o_N` from `$ssl_client_fingerprint` (SHA-1 of the DER, lowercase hex): the
//!   account, `""` for a disabled mapping (IIS finds the entry and refuses, it does not fall
//!   through to many-to-one), or `<none>` when the certificate has no one-to-one mapping.
//! - `$certmap_m2o_N` from `"$ssl_client_s_dn\n$ssl_client_i_dn"` (both in OpenSSL's RFC 2253
//!   form, joined by a newline OpenSSL never leaves unescaped inside a name): one regex per
//!   enabled many-to-one mapping, every rule a lookahead on its line (see [`super::dn`]). nginx
//!   takes the first regex that matches, so every Deny comes first (value `<deny>`, IIS's "any
//!   matching Deny wins") and the Allows follow in IIS's order.
//! - `$certmap_user_N`: the one-to-one answer, or the many-to-one one when there was none.
//!
//! `""` is the forbidden marker: no account; `<deny>` a matching Deny. A secured directory answers
//! 403 unless `$ssl_client_verify` is `SUCCESS` and `$certmap_user_N` is an account; one that only
//! accepts a certificate answers 403 to a Deny and passes the rest, as authorize does.
//!
//! # Paths
//! Before any location, the server answers 400 to a path a backend might read as another
//! directory, the paths [`crate::domain::request_path`] refuses (see [`super::path::refusals`]).
//!
//! # Directories
//! IIS compares paths case-insensitively, so each directory is a regex `location` built by
//! [`super::path::path_regex`] (`^/dir(?:/|$)`), innermost first: nginx takes the first regex
//! location that matches, which gives the innermost directory its say as IIS does. Everything
//! else falls to `location /` (the `/` directory's policy, or public). Every location sets the
//! header — to the account, or to `""`, which makes nginx drop it — so a header a client sent
//! never reaches the upstream.
//!
//! # Quoting
//! Strings are double-quoted with `\` and `"` escaped. nginx has no escape for `$` in a map
//! value (it is read as a variable), so a `$` in an account name is written as
//! `${certmap_dollar_N}`, a `geo` variable whose value is a lone `$`, rendered only when needed.

use std::fmt::Write as _;
use std::sync::Arc;

use super::authorize::{self, Authorize, AuthorizeOptions, CertmapAuth};
use super::dn;
use super::options::{Gateway, GatewayOptions};
use super::path::{innermost_first, path_regex, refusals};
use super::snapshot::{OneToOne, SiteSnapshot};
use super::{refuse_control, RenderError};
use crate::domain::directory::DirectoryPolicy;
use crate::domain::resolve::{CertificateField, PermissionMode};

pub fn render(site: &SiteSnapshot, options: &GatewayOptions) -> Result<String, RenderError> {
    let gw = options.validate()?;
    let mut out = String::with_capacity(capacity(site));
    let w = &mut out;
    let _ = writeln!(w, "# certmap site {} revision {}: include this file inside http {{}}.", site.id, site.revision);
    let _ = writeln!(w, "# The maps must stay at http level; the server block answers on {}.", gw.listen);
    w.push('\n');
    site_block(w, site, &gw)?;
    Ok(out)
}

/// One file for several sites: each site's maps (their variables carry the site id, so they never
/// clash) and a `server {}` named by the site's host names, all on the one `listen` address. A
/// `default_server` first refuses everything else: a handshake without a site's name in SNI is
/// rejected, and a request whose Host names no site gets 421, so an unknown name never falls
/// through to whichever site nginx would otherwise take as the default.
pub fn render_all(sites: &[SiteSnapshot], options: &GatewayOptions) -> Result<String, RenderError> {
    let gw = options.validate()?;
    super::hosts::check_routable(sites, "nginx")?;
    let mut out = String::with_capacity(sites.iter().map(capacity).sum());
    let w = &mut out;
    let _ = writeln!(w, "# certmap: {} sites: include this file inside http {{}}.", sites.len());
    let _ = writeln!(w, "# The maps must stay at http level; every server block answers on {}.", gw.listen);
    w.push('\n');
    let _ = writeln!(w, "# A host name that is no site's: no handshake without a site's SNI, 421 for another Host.");
    let _ = writeln!(w, "server {{");
    let _ = writeln!(w, "    listen {} ssl default_server;", gw.listen);
    let _ = writeln!(w, "    ssl_reject_handshake on;");
    let _ = writeln!(w, "    return 421;");
    let _ = writeln!(w, "}}");
    for site in sites {
        w.push('\n');
        let _ = writeln!(w, "# Site {} revision {}.", site.id, site.revision);
        site_block(w, site, &gw).map_err(|e| e.in_site(site))?;
    }
    Ok(out)
}

/// About 100 bytes a one-to-one line: sized once rather than regrown, copy by copy, to ~10 MB.
fn capacity(site: &SiteSnapshot) -> usize {
    4096 + 100 * site.one_to_one.len()
}

/// A site's maps and its server block.
fn site_block(w: &mut String, site: &SiteSnapshot, gw: &Gateway<'_>) -> Result<(), RenderError> {
    if site.id <= 0 {
        return Err(RenderError::unsupported(format!("site id {} in a variable name", site.id)));
    }
    let id = site.id;
    let m2o = many_to_one_entries(site)?;
    let o2o: &[Arc<OneToOne>] =
        if site.mapping.enabled && site.mapping.one_to_one_enabled { &site.one_to_one } else { &[] };
    let needs_dollar = o2o.iter().any(|o| o.enabled && o.user_name.as_str().contains('$'))
        || m2o.iter().any(|e| e.value.contains('$'));
    if needs_dollar {
        let _ = writeln!(w, "# A literal \"$\" for account names: nginx reads \"$\" in a map value as a variable.");
        let _ = writeln!(w, "geo $certmap_dollar_{id} {{\n    default \"$\";\n}}\n");
    }

    let _ = writeln!(w, "# One-to-one: \"\" = mapping disabled (refused), <none> = no mapping, try many-to-one.");
    let _ = writeln!(w, "map $ssl_client_fingerprint $certmap_o2o_{id} {{");
    let _ = writeln!(w, "    default \"<none>\";");
    // Written straight into the output: a site may hold 100,000 of these lines.
    for o in o2o {
        w.push_str("    ");
        push_quoted(w, &o.certificate.info().sha1)?;
        w.push(' ');
        if o.enabled {
            push_value(w, o.user_name.as_str(), id)?;
            let _ = writeln!(w, "; # one-to-one {}", o.id);
        } else {
            let _ = writeln!(w, "\"\"; # one-to-one {} (disabled: refused)", o.id);
        }
    }
    let _ = writeln!(w, "}}\n");

    let _ = writeln!(w, "# Many-to-one: first match wins, so every Deny (\"<deny>\") precedes the Allows.");
    let _ = writeln!(w, "map \"$ssl_client_s_dn\\n$ssl_client_i_dn\" $certmap_m2o_{id} {{");
    let _ = writeln!(w, "    default \"\";");
    for e in &m2o {
        w.push_str("    ");
        push_quoted(w, &e.key)?;
        w.push(' ');
        push_value(w, &e.value, id)?;
        let _ = writeln!(w, ";{}", e.note);
    }
    let _ = writeln!(w, "}}\n");

    let _ = writeln!(w, "map $certmap_o2o_{id} $certmap_user_{id} {{");
    let _ = writeln!(w, "    \"<none>\" $certmap_m2o_{id};");
    let _ = writeln!(w, "    default $certmap_o2o_{id};");
    let _ = writeln!(w, "}}\n");

    server(w, site, gw)
}

/// A many-to-one Deny's value: no account can be spelled so (IIS refuses `<` and `>` in user
/// names), and a directory that only accepts a certificate refuses it too.
const DENIED: &str = "<deny>";

struct Entry {
    key: String,
    value: String,
    /// A trailing comment saying which mapping the line comes from.
    note: String,
}

fn many_to_one_entries(site: &SiteSnapshot) -> Result<Vec<Entry>, RenderError> {
    let m = &site.mapping;
    let mut m2o = Vec::new();
    if m.enabled && m.many_to_one_enabled {
        let live = site.many_to_one.iter().filter(|m| m.enabled && !m.rules.is_empty());
        let (deny, allow): (Vec<_>, Vec<_>) = live.partition(|m| m.mode == PermissionMode::Deny);
        for mapping in deny.into_iter().chain(allow) {
            let value = match (mapping.mode, &mapping.user_name) {
                (PermissionMode::Deny, _) => DENIED.to_owned(),
                (PermissionMode::Allow, Some(u)) => u.as_str().to_owned(),
                // Cannot be stored; resolve() skips it too rather than allow everyone.
                (PermissionMode::Allow, None) => continue,
            };
            refuse_control("a many-to-one mapping name", &mapping.name)?;
            let mut key = String::from("~^");
            for r in &mapping.rules {
                let body = dn::rule_body(r, &mapping.name)?;
                match r.field {
                    CertificateField::Subject => key.push_str(&format!(r"(?={body}(?:[,+]|\n))")),
                    CertificateField::Issuer => key.push_str(&format!(r"(?=[^\n]*\n{body}(?:[,+]|$))")),
                }
            }
            let note = format!(" # {} many-to-one {} {:?}", mapping.mode.as_str(), mapping.id, mapping.name);
            m2o.push(Entry { key, value, note });
        }
    }
    Ok(m2o)
}

/// The opening of a site's `server {}`: where it listens, its names, and the client certificate
/// asked for in the handshake, `why` saying who decides what it is worth.
fn server_tls(w: &mut String, site: &SiteSnapshot, gw: &Gateway<'_>, why: &str) {
    let _ = writeln!(w, "server {{");
    let _ = writeln!(w, "    listen {} ssl;", gw.listen);
    if !site.hostnames.is_empty() {
        let names: Vec<&str> = site.hostnames.iter().map(|h| h.as_str()).collect();
        let _ = writeln!(w, "    server_name {};", names.join(" "));
    }
    let _ = writeln!(w, "    ssl_certificate {};", gw.server_cert);
    let _ = writeln!(w, "    ssl_certificate_key {};", gw.server_key);
    let _ = writeln!(w, "    # {why}");
    let _ = writeln!(w, "    ssl_client_certificate {};", gw.ca_bundle);
    let _ = writeln!(w, "    ssl_verify_client optional;");
    let _ = writeln!(w, "    ssl_verify_depth {};", gw.verify_depth);
    if let Some(crl) = gw.crl_file {
        let _ = writeln!(
            w,
            "    # A revoked client certificate fails verification. Once a CRL here passes its nextUpdate,"
        );
        let _ = writeln!(
            w,
            "    # every client certificate of that CA fails: keep the file current (certmap pull --crl-out)."
        );
        let _ = writeln!(w, "    ssl_crl {crl};");
    }
    if site.revocation.check.asks_ocsp() {
        // `leaf`, not `on`: a CA certificate in the bundle naming no responder would fail every
        // client (nginx ticket #1534's implementation checks each certificate of the chain).
        let _ =
            writeln!(w, "    # The site's policy asks OCSP: nginx asks the responder the client certificate names.");
        let _ = writeln!(w, "    # A responder named by host name needs a `resolver` directive in http {{}}.");
        let _ = writeln!(w, "    ssl_ocsp leaf;");
        let _ = writeln!(w, "    ssl_ocsp_cache shared:certmap_ocsp:1m;");
    }
    refuse_uncanonical(w);
}

/// 400 for a path a backend might read as another directory than the location matched here,
/// as certmap's authorize refuses it. `$uri` is decoded with its dot segments already resolved,
/// so those and the escapes are looked for in the raw `$request_uri`.
fn refuse_uncanonical(w: &mut String) {
    let r = refusals();
    let quoted = |re: &str| quote(re).expect("the refusal regexes hold no control character");
    let _ = writeln!(w, "    # A path a backend might read as another directory than the one matched here: ;, :, a");
    let _ = writeln!(w, "    # segment ending in . or a space, a dot segment, an encoded / or \\, double encoding, a");
    let _ = writeln!(w, "    # control character, no UTF-8, or a character that folds or normalizes to ASCII.");
    let _ = writeln!(w, "    if ($request_uri ~ {}) {{ return 400; }}", quoted(&r.raw));
    let _ = writeln!(w, "    if ($uri ~ {}) {{ return 400; }}", quoted(&r.decoded));
    let _ = writeln!(w, "    if ($uri !~ {}) {{ return 400; }}", quoted(r.utf8));
}

fn server(w: &mut String, site: &SiteSnapshot, gw: &Gateway<'_>) -> Result<(), RenderError> {
    server_tls(w, site, gw, "Asked for during the handshake (TLS 1.3 has no renegotiation); each location decides.");

    for d in innermost_first(&site.directories).into_iter().filter(|d| !d.path.is_root()) {
        refuse_control("a directory path", d.path.as_str())?;
        w.push('\n');
        let _ = writeln!(w, "    location ~ {} {{", quote(&path_regex(&d.path))?);
        location_body(w, site.id, &d.policy, gw);
        let _ = writeln!(w, "    }}");
    }
    w.push('\n');
    let root = site.directories.iter().find(|d| d.path.is_root()).map(|d| d.policy).unwrap_or_default();
    let _ = writeln!(w, "    location / {{");
    location_body(w, site.id, &root, gw);
    let _ = writeln!(w, "    }}");
    let _ = writeln!(w, "}}");
    Ok(())
}

fn location_body(w: &mut String, id: i64, policy: &DirectoryPolicy, gw: &Gateway<'_>) {
    if policy.is_secured() {
        let _ = writeln!(w, "        if ($ssl_client_verify != SUCCESS) {{ return 403; }}");
        let _ = writeln!(w, "        if ($certmap_user_{id} = \"\") {{ return 403; }}");
        let _ = writeln!(w, "        if ($certmap_user_{id} = \"{DENIED}\") {{ return 403; }}");
        let _ = writeln!(w, "        proxy_set_header {} $certmap_user_{id};", gw.header);
    } else if policy.negotiates_certificates() {
        let _ =
            writeln!(w, "        # Accepted, not required: a Deny refuses, a mapped certificate names its account,");
        let _ = writeln!(w, "        # anything else passes anonymously (\"\" drops any header the client sent).");
        let _ = writeln!(w, "        if ($certmap_user_{id} = \"{DENIED}\") {{ return 403; }}");
        let _ = writeln!(w, "        proxy_set_header {} $certmap_user_{id};", gw.header);
    } else {
        let _ = writeln!(w, "        # Not secured: no account, and \"\" drops any header the client sent.");
        let _ = writeln!(w, "        proxy_set_header {} \"\";", gw.header);
    }
    let _ = writeln!(w, "        proxy_pass {};", gw.upstream.url());
}

/// Per-request mode: no maps, one `server {}` that asks certmap on every request with
/// `auth_request` (see [`super::authorize`]).
pub fn render_authorize(
    site: &SiteSnapshot,
    options: &GatewayOptions,
    authorize: &AuthorizeOptions,
) -> Result<String, RenderError> {
    let (gw, az) = (options.validate()?, authorize.validate()?);
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "# certmap site {} revision {}, per-request mode: include this file inside http {{}}.",
        site.id, site.revision
    );
    let _ = writeln!(
        w,
        "# certmap decides every request at {}{}; nothing here changes",
        az.certmap.url(),
        authorize::ENDPOINT
    );
    let _ = writeln!(w, "# with the site's mappings, so it needs no reload when they do.");
    w.push('\n');
    authorize_server(w, site, &gw, &az)?;
    Ok(out)
}

/// [`render_authorize`] for several sites on the one `listen` address, behind the same refusing
/// `default_server` as [`render_all`].
pub fn render_all_authorize(
    sites: &[SiteSnapshot],
    options: &GatewayOptions,
    authorize: &AuthorizeOptions,
) -> Result<String, RenderError> {
    let (gw, az) = (options.validate()?, authorize.validate()?);
    super::hosts::check_routable(sites, "nginx")?;
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "# certmap: {} sites, per-request mode: include this file inside http {{}}.", sites.len());
    let _ = writeln!(w, "# certmap decides every request at {}{}.", az.certmap.url(), authorize::ENDPOINT);
    w.push('\n');
    let _ = writeln!(w, "# A host name that is no site's: no handshake without a site's SNI, 421 for another Host.");
    let _ = writeln!(
        w,
        "server {{\n    listen {} ssl default_server;\n    ssl_reject_handshake on;\n    return 421;\n}}",
        gw.listen
    );
    for site in sites {
        w.push('\n');
        let _ = writeln!(w, "# Site {} revision {}.", site.id, site.revision);
        authorize_server(w, site, &gw, &az).map_err(|e| e.in_site(site))?;
    }
    Ok(out)
}

/// The certificate travels as `$ssl_client_escaped_cert` in `X-SSL-Client-Cert`, the form a
/// credential declaring `nginx` is read in.
const NGINX_CERT_HEADER: &str = "X-SSL-Client-Cert";

fn authorize_server(
    w: &mut String,
    site: &SiteSnapshot,
    gw: &Gateway<'_>,
    az: &Authorize<'_>,
) -> Result<(), RenderError> {
    if site.id <= 0 {
        return Err(RenderError::unsupported(format!("site id {} in a location name", site.id)));
    }
    let id = site.id;
    // An exact location wins over `location /`, and `internal` answers a client asking for it 404.
    let auth_uri = format!("/.certmap-authorize-{id}");
    server_tls(w, site, gw, "Asked for during the handshake; certmap says per path whether it is required.");
    w.push('\n');
    let _ = writeln!(w, "    location / {{");
    let _ = writeln!(w, "        # 401 and 403 are certmap's answer; anything else it says (or silence) is a 500.");
    let _ = writeln!(w, "        auth_request {auth_uri};");
    let _ = writeln!(
        w,
        "        auth_request_set $certmap_authorized_user ${};",
        upstream_variable(authorize::USER_HEADER)
    );
    let _ = writeln!(w, "        # The account certmap named, or \"\" (no header): never one the client sent.");
    let _ = writeln!(w, "        proxy_set_header {} $certmap_authorized_user;", gw.header);
    let _ = writeln!(w, "        # No identity header of the client's reaches the application.");
    for h in authorize::cleared_except(None) {
        let _ = writeln!(w, "        proxy_set_header {h} \"\";");
    }
    let _ = writeln!(w, "        proxy_pass {};", gw.upstream.url());
    let _ = writeln!(w, "    }}");
    w.push('\n');
    let _ = writeln!(w, "    location = {auth_uri} {{");
    let _ = writeln!(w, "        internal;");
    let _ = writeln!(w, "        # Only what is set here reaches certmap: none of the client's headers (a client-sent");
    let _ = writeln!(w, "        # fingerprint, certificate or token must never decide), and no body.");
    let _ = writeln!(w, "        proxy_pass_request_headers off;");
    let _ = writeln!(w, "        proxy_pass_request_body off;");
    let _ = writeln!(w, "        proxy_set_header Content-Length \"\";");
    let _ = writeln!(w, "        proxy_set_header {} \"{id}\";", authorize::SITE_HEADER);
    let _ = writeln!(w, "        proxy_set_header {} $request_uri;", authorize::URI_HEADER);
    let _ = writeln!(w, "        proxy_set_header {NGINX_CERT_HEADER} $ssl_client_escaped_cert;");
    let _ =
        writeln!(w, "        # Every answer is certmap's current one: an inherited proxy_cache would let a disabled");
    let _ = writeln!(w, "        # mapping or a revoked certificate pass until it expired.");
    let _ = writeln!(w, "        proxy_cache off;");
    match &az.auth {
        CertmapAuth::TokenFile(path) => {
            let _ =
                writeln!(w, "        # Holds: proxy_set_header Authorization \"Bearer <token>\"; with a token from");
            let _ = writeln!(
                w,
                "        # certmap token issue --role gateway --client-identity nginx (keep it mode 0600)."
            );
            let _ = writeln!(w, "        include {path};");
        }
        CertmapAuth::Mtls { cert, key } => {
            let _ =
                writeln!(w, "        # A client certificate registered with certmap api-client add --role gateway.");
            let _ = writeln!(w, "        proxy_set_header Authorization \"\";");
            let _ = writeln!(w, "        proxy_ssl_certificate {cert};");
            let _ = writeln!(w, "        proxy_ssl_certificate_key {key};");
        }
    }
    if az.certmap.https {
        let _ = writeln!(w, "        proxy_ssl_verify on;");
        let _ = writeln!(w, "        proxy_ssl_trusted_certificate {};", az.certmap_ca);
        let _ = writeln!(w, "        proxy_ssl_server_name on;");
        let _ = writeln!(w, "        proxy_ssl_name {};", az.certmap.host());
    }
    let _ = writeln!(w, "        proxy_pass {}{};", az.certmap.url(), authorize::ENDPOINT);
    let _ = writeln!(w, "    }}");
    let _ = writeln!(w, "}}");
    Ok(())
}

/// `X-Certmap-User` → `upstream_http_x_certmap_user`, the variable nginx keeps the answer's header in.
fn upstream_variable(header: &str) -> String {
    format!("upstream_http_{}", header.to_ascii_lowercase().replace('-', "_"))
}

/// A double-quoted nginx string whose content is exactly `s`: nginx's parser turns `\\` and `\"`
/// back into `\` and `"`. Control characters have no faithful spelling (`\n` would be read as a
/// line break), so they are refused.
pub(crate) fn quote(s: &str) -> Result<String, RenderError> {
    let mut out = String::with_capacity(s.len() + 2);
    push_quoted(&mut out, s)?;
    Ok(out)
}

fn push_quoted(out: &mut String, s: &str) -> Result<(), RenderError> {
    push_escaped(out, s, None)
}

/// A map value: quoted like [`quote`], and `$` spelled as the site's dollar variable because nginx
/// expands variables in map values.
fn push_value(out: &mut String, s: &str, id: i64) -> Result<(), RenderError> {
    push_escaped(out, s, Some(id))
}

fn push_escaped(out: &mut String, s: &str, dollar_of_site: Option<i64>) -> Result<(), RenderError> {
    refuse_control("a string", s)?;
    out.push('"');
    // Every special character is ASCII, so the runs between them are copied whole.
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        match (b, dollar_of_site) {
            (b'\\' | b'"', _) => {
                out.push_str(&s[run..i]);
                out.push('\\');
                run = i;
            }
            (b'$', Some(id)) => {
                out.push_str(&s[run..i]);
                let _ = write!(out, "${{certmap_dollar_{id}}}");
                run = i + 1;
            }
            _ => {}
        }
    }
    out.push_str(&s[run..]);
    out.push('"');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::resolve::SubField;
    use crate::render::{fixture, realcheck};

    use crate::render::fixture::gateway_options as opts;

    #[test]
    fn snapshot() {
        insta::assert_snapshot!(render(&fixture::site(), &opts()).unwrap());
    }

    #[test]
    fn snapshot_hostile() {
        insta::assert_snapshot!(render(&fixture::hostile(), &opts()).unwrap());
    }

    #[test]
    fn snapshot_two_sites() {
        insta::assert_snapshot!(render_all(&fixture::two_sites(), &opts()).unwrap());
    }

    #[test]
    fn two_sites_have_their_own_variables_and_names() {
        let out = render_all(&fixture::two_sites(), &opts()).unwrap();
        assert_eq!(out.matches("server {").count(), 3, "a default server and one per site");
        assert_eq!(out.matches("default_server").count(), 1);
        assert!(out.contains("server_name www.contoso.com *.contoso.net;"));
        assert!(out.contains("server_name intranet.fabrikam.com *.fabrikam.net;"));
        for id in [7, 8] {
            assert_eq!(out.matches(&format!("map $ssl_client_fingerprint $certmap_o2o_{id} ")).count(), 1);
            assert_eq!(out.matches(&format!("map $certmap_o2o_{id} $certmap_user_{id} ")).count(), 1);
        }
        let (first, second) = out.split_at(out.find("# Site 8 revision 1.").unwrap());
        assert!(!first.contains("_8") && !second.contains("_7"), "each site uses only its own variables");
        let mut sites = fixture::two_sites();
        sites[0].hostnames.clear();
        let RenderError::Unsupported { what } = render_all(&sites, &opts()).unwrap_err() else { panic!() };
        assert!(what.contains("\"Default Web Site\" (id 7)") && what.contains("host names"), "{what}");
    }

    #[test]
    fn nginx_accepts_two_sites_in_one_file() {
        let dir = realcheck::tempdir("nginx-all");
        let pki = realcheck::pki(&dir);
        realcheck::nginx_t(&dir, &render_all(&fixture::two_sites(), &realcheck::gateway_options(&pki)).unwrap());
    }

    #[test]
    fn quote_escapes_backslash_and_quote_only() {
        assert_eq!(quote("plain").unwrap(), "\"plain\"");
        assert_eq!(quote(r#"a"b\c;{d}$e'f<&>é"#).unwrap(), r#""a\"b\\c;{d}$e'f<&>é""#);
        assert_eq!(quote("").unwrap(), "\"\"");
        for bad in ["a\nb", "a\rb", "a\tb", "\u{0}"] {
            assert!(matches!(quote(bad), Err(RenderError::Unsupported { .. })), "{bad:?}");
        }
    }

    #[test]
    fn dollar_in_values_becomes_the_geo_variable() {
        let value = |s: &str| {
            let mut out = String::new();
            push_value(&mut out, s, 7).map(|()| out)
        };
        assert_eq!(value("svc$").unwrap(), "\"svc${certmap_dollar_7}\"");
        assert_eq!(value("a\\$\"").unwrap(), "\"a\\\\${certmap_dollar_7}\\\"\"");
        let out = render(&fixture::hostile(), &opts()).unwrap();
        assert!(out.contains("geo $certmap_dollar_7 {\n    default \"$\";\n}"));
        assert!(out.contains("\"svc${certmap_dollar_7}\""), "{out}");
        assert!(!render(&fixture::site(), &opts()).unwrap().contains("geo "), "only when needed");
    }

    #[test]
    fn every_location_overwrites_the_header() {
        let out = render(&fixture::site(), &opts()).unwrap();
        let locations = out.matches("\n    location ").count();
        assert_eq!(locations, 4, "/secure/public, /secure, /shop, /");
        assert_eq!(out.matches("proxy_set_header X-Remote-User").count(), locations);
        // The innermost directory comes first so nginx's first regex match is the right one.
        let public = out.find("[pP][uU][bB]").unwrap();
        let secure = out.find("[sS][eE][cC][uU][rR][eE](?:[/\\\\\\\\]+|$)\" {").unwrap();
        assert!(public < secure);
        assert_eq!(out.matches("if ($certmap_user_7 = \"\") { return 403; }").count(), 1, "only /secure");
    }

    #[test]
    fn deny_precedes_allow_and_disabled_one_to_one_refuses() {
        let out = render(&fixture::site(), &opts()).unwrap();
        let deny = out.find("# Deny many-to-one 11").unwrap();
        let allow = out.find("# Allow many-to-one 10").unwrap();
        assert!(deny < allow);
        assert!(out.contains("\"bc5092060cd2e337ec192ea86791b4de08670468\" \"\"; # one-to-one 2 (disabled: refused)"));
    }

    #[test]
    fn disabled_mapping_renders_no_accounts() {
        let mut site = fixture::site();
        site.mapping.enabled = false;
        let out = render(&site, &opts()).unwrap();
        assert!(!out.contains("CONTOSO"), "{out}");
    }

    #[test]
    fn non_ascii_case_insensitive_rule_is_unsupported_not_dropped() {
        let mut site = fixture::site();
        site.many_to_one[0].rules[1] = fixture::rule(CertificateField::Issuer, SubField::CN, "Évil*", false);
        let err = render(&site, &opts()).unwrap_err();
        assert!(matches!(err, RenderError::Unsupported { ref what } if what.contains("Staff")), "{err:?}");
    }

    /// The many-to-one keys, run by PCRE against the names nginx would see for the fixture
    /// certificates (as `openssl x509 -nameopt RFC2253` prints them).
    #[test]
    fn many_to_one_regexes_match_like_iis() {
        let alice = "CN=alice,OU=Staff,O=Contoso\nCN=Contoso Test CA,O=Contoso";
        let bob = "CN=bob,OU=Contractors,O=Contoso\nCN=Contoso Test CA,O=Contoso";
        let carol = "CN=carol,OU=Staff,O=Contoso\nCN=\\C3\\89vil CA,O=Ca$h {\\\"Corp\\\"}\\, Inc\\; \\<&\\> 'x' %{HOME} \\\\ back";
        let m2o = many_to_one_entries(&fixture::site()).unwrap();
        let key = |i: usize| m2o[i].key.strip_prefix('~').unwrap().to_owned();
        let (deny, allow) = (key(0), key(1));
        let cases = [
            (&deny, bob, true),
            (&deny, alice, false),
            (&allow, alice, true),
            (&allow, carol, false),
            // OU=Staff in the issuer line, not the subject: no match.
            (&allow, "CN=x,O=Contoso\nOU=Staff,O=Contoso", false),
            // An escaped comma must not pass for a separator.
            (&allow, "O=x\\,OU=Staff\nO=Contoso", false),
            // Several OU values: each tried on its own.
            (&allow, "CN=x,OU=Other+OU=Staff\nO=CONTOSO LTD", true),
            // Staff is case-sensitive, contoso* is not.
            (&allow, "OU=staff\nO=Contoso", false),
            (&allow, "OU=Staff\nO=CONTOSO", true),
            (&allow, "OU=Staffing\nO=Contoso", false),
            (&allow, "\n", false),
        ];
        for (re, text, want) in cases {
            match realcheck::pcre_matches(re, text) {
                Some(got) => assert_eq!(got, want, "{re} on {text:?}"),
                None => return realcheck::no_pcre(),
            }
        }
        let mut site = fixture::site();
        site.many_to_one[0].rules = vec![fixture::rule(
            CertificateField::Issuer,
            SubField::O,
            "Ca$h {\"Corp\"}, Inc; <&> 'x' %{HOME} \\ back",
            true,
        )];
        let m2o = many_to_one_entries(&site).unwrap();
        let re = m2o[1].key.strip_prefix('~').unwrap();
        assert_eq!(realcheck::pcre_matches(re, carol), Some(true), "{re}");
        assert_eq!(realcheck::pcre_matches(re, alice), Some(false), "{re}");
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
    fn authorize_mode_sends_one_identity_header_and_clears_the_rest_upstream() {
        let out = render_authorize(&fixture::site(), &opts(), &AuthorizeOptions::default()).unwrap();
        assert!(!out.contains("\nmap "), "no mapping is rendered in per-request mode");
        let (upstream, auth) = out.split_at(out.find("location = /.certmap-authorize-7").unwrap());
        for h in crate::domain::client_identity::ClientIdentity::all_headers() {
            assert!(
                upstream.to_ascii_lowercase().contains(&format!("proxy_set_header {h} \"\";")),
                "{h} is cleared towards the upstream"
            );
        }
        assert!(auth.contains("proxy_pass_request_headers off;"), "no client header reaches certmap");
        assert!(auth.contains("proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;"));
        assert!(auth.contains("proxy_cache off;") && auth.contains("internal;"));
        assert!(auth.contains("include /etc/certmap/authorize-token.conf;"));
        assert!(!out.contains("Bearer ey"), "no token is ever rendered");
    }

    #[test]
    fn the_certificate_goes_in_the_nginx_forms_header() {
        let form = crate::domain::client_identity::ClientIdentity::Nginx;
        assert_eq!(form.headers(), [NGINX_CERT_HEADER.to_ascii_lowercase()]);
    }

    #[test]
    fn all_sites_authorize_has_one_authorize_location_per_site() {
        let out = render_all_authorize(&fixture::two_sites(), &opts(), &AuthorizeOptions::default()).unwrap();
        assert!(
            out.contains("location = /.certmap-authorize-7 {") && out.contains("location = /.certmap-authorize-8 {")
        );
        assert!(out.contains("proxy_set_header X-Certmap-Site \"8\";"));
        assert_eq!(out.matches("default_server").count(), 1);
    }

    #[test]
    fn nginx_accepts_the_authorize_files() {
        let dir = realcheck::tempdir("nginx-authorize");
        let pki = realcheck::pki(&dir);
        let options = realcheck::gateway_options(&pki);
        let line = "proxy_set_header Authorization \"Bearer not-a-real-token\";\n";
        let (token_file, mtls) = realcheck::authorize_options(&dir, &pki, line);
        realcheck::nginx_t(&dir, &render_authorize(&fixture::hostile(), &options, &token_file).unwrap());
        realcheck::nginx_t(&dir, &render_authorize(&fixture::site(), &options, &mtls).unwrap());
        realcheck::nginx_t(&dir, &render_all_authorize(&fixture::two_sites(), &options, &token_file).unwrap());
    }

    #[test]
    fn nginx_accepts_the_files() {
        for site in [fixture::site(), fixture::hostile()] {
            let dir = realcheck::tempdir("nginx");
            let pki = realcheck::pki(&dir);
            let out = render(&site, &realcheck::gateway_options(&pki)).unwrap();
            realcheck::nginx_t(&dir, &out);
        }
    }

    #[test]
    fn a_site_asking_ocsp_has_nginx_ask_it_too() {
        let mut site = fixture::site();
        assert!(!render(&site, &opts()).unwrap().contains("ssl_ocsp"));
        site.revocation.check = crate::domain::revocation::Check::CrlAndOcsp;
        let dir = realcheck::tempdir("nginx-ocsp");
        let pki = realcheck::pki(&dir);
        let out = render(&site, &realcheck::gateway_options(&pki)).unwrap();
        assert!(out.contains("    ssl_ocsp leaf;\n"), "{out}");
        realcheck::nginx_t(&dir, &out);
    }
}
