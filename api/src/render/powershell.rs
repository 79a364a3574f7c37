//! A PowerShell script that applies a site's mapping with the WebAdministration module.
//!
//! Never appcmd: Microsoft warns it mangles the certificate blob. The script is idempotent: it
//! sets every attribute, clears the site's mapping collections and adds them back, so running it
//! twice leaves the same configuration. Passwords certmap did not export are asked for through a
//! `param()` block of `[SecureString]` parameters (prompting when not given) and turned into text
//! only inside the call that hands them to IIS, which encrypts them itself.
//!
//! Every string is a single-quoted literal built by [`ps_quote`]: single-quoted strings expand
//! nothing (`$`, backtick and `"` are inert), so doubling the quote characters is all the
//! escaping there is.

use std::fmt::Write as _;

use super::options::PowerShellOptions;
use super::snapshot::{ManyToOne, OneToOne, SiteSnapshot};
use super::{refuse_control, RenderError};
use crate::domain::resolve::PermissionMode;

const SECTION: &str = "system.webServer/security/authentication/iisClientCertificateMappingAuthentication";

/// PowerShell's single-quoted string. Its tokenizer takes U+2018, U+2019, U+201A and U+201B as
/// single quotes too, so each of them is doubled like `'`; left alone, one would end the string
/// and let the rest of the value run as code.
pub fn ps_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

pub fn render(site: &SiteSnapshot, _options: &PowerShellOptions) -> Result<String, RenderError> {
    super::snapshot::require_der(site)?;
    check(site)?;
    let header = [
        format!("# certmap: IIS client certificate mapping for site {} revision {}.", site.id, site.revision),
        "# Run as an administrator on the IIS server. Safe to run again: it sets every attribute,".into(),
        "# clears the site's mapping lists and adds them back.".into(),
    ];
    let mut s = String::new();
    preamble(&mut s, std::slice::from_ref(site), &header);
    let _ = writeln!(s, "$site = {}", ps_quote(site.name.as_str()));
    let _ = writeln!(s, "$section = '{SECTION}'");
    s.push('\n');
    site_body(&mut s, site)?;
    Ok(s)
}

/// One script for several sites: one `param()` block asking for every password not exported
/// (parameter names carry the mapping's id, unique across sites), one preamble, then each site's
/// part with `$site` set to it.
pub fn render_all(sites: &[SiteSnapshot], _options: &PowerShellOptions) -> Result<String, RenderError> {
    for site in sites {
        super::snapshot::require_der(site).and_then(|()| check(site)).map_err(|e| e.in_site(site))?;
    }
    let header = [
        format!("# certmap: IIS client certificate mapping for {} sites.", sites.len()),
        "# Run as an administrator on the IIS server. Safe to run again: it sets every attribute,".into(),
        "# clears each site's mapping lists and adds them back.".into(),
    ];
    let mut s = String::new();
    preamble(&mut s, sites, &header);
    let _ = writeln!(s, "$section = '{SECTION}'");
    for site in sites {
        s.push('\n');
        let _ = writeln!(s, "# Site {} revision {}.", site.id, site.revision);
        let _ = writeln!(s, "$site = {}", ps_quote(site.name.as_str()));
        site_body(&mut s, site).map_err(|e| e.in_site(site))?;
    }
    Ok(s)
}

/// Everything before the first site: the header comment, `param()` (which must be the script's
/// first statement), and the helpers.
fn preamble(w: &mut String, sites: &[SiteSnapshot], header: &[String]) {
    for line in header {
        let _ = writeln!(w, "{line}");
    }
    params(w, sites);
    let _ = writeln!(w, "$ErrorActionPreference = 'Stop'");
    let _ = writeln!(w, "Import-Module WebAdministration");
    w.push('\n');
    let _ = writeln!(w, "# The password leaves its SecureString only for the call that hands it to IIS.");
    let _ = writeln!(w, "function ConvertTo-CertmapPlainText([SecureString] $Secure) {{");
    let _ = writeln!(w, "    $bstr = [Runtime.InteropServices.Marshal]::SecureStringToBSTR($Secure)");
    let _ = writeln!(w, "    try {{ [Runtime.InteropServices.Marshal]::PtrToStringBSTR($bstr) }}");
    let _ = writeln!(w, "    finally {{ [Runtime.InteropServices.Marshal]::ZeroFreeBSTR($bstr) }}");
    let _ = writeln!(w, "}}");
    w.push('\n');
    // netsh http add/update sslcert documents verifyclientcertrevocation=enable, but the binding
    // is keyed by the server certificate's hash and appid, which certmap does not hold.
    let _ = writeln!(w, "# Revocation: Schannel checks client certificates against their CA's CRL on the HTTPS");
    let _ = writeln!(w, "# binding (the default). `netsh http show sslcert` must say 'Verify Client Certificate");
    let _ =
        writeln!(w, "# Revocation : Enabled'; if not, `netsh http update sslcert ipport=0.0.0.0:443 certhash=<server");
    let _ = writeln!(w, "# certificate hash> appid=<guid> verifyclientcertrevocation=enable`. This script does not");
    let _ = writeln!(w, "# touch the binding: certmap does not know the server certificate it is keyed by.");
    let _ = writeln!(w, "$apphost = 'MACHINE/WEBROOT/APPHOST'");
}

/// One site's mapping section and directories, addressed through `$site`.
fn site_body(w: &mut String, site: &SiteSnapshot) -> Result<(), RenderError> {
    let m = &site.mapping;
    let _ = writeln!(w, "# The mapping section, at the site root: IIS ignores it on a directory (401.2).");
    for (name, value) in [
        ("enabled", ps_bool(m.enabled)),
        ("oneToOneCertificateMappingsEnabled", ps_bool(m.one_to_one_enabled)),
        ("manyToOneCertificateMappingsEnabled", ps_bool(m.many_to_one_enabled)),
        ("logonMethod", ps_quote(m.logon_method.as_str())),
        ("defaultLogonDomain", ps_quote(m.default_logon_domain.as_str())),
    ] {
        let _ = writeln!(
            w,
            "Set-WebConfigurationProperty -PSPath $apphost -Location $site -Filter $section -Name {name} -Value {value}"
        );
    }
    w.push('\n');
    let _ =
        writeln!(w, "Clear-WebConfiguration -PSPath $apphost -Location $site -Filter \"$section/oneToOneMappings\"");
    for o in &site.one_to_one {
        one_to_one(w, o);
    }
    w.push('\n');
    let _ =
        writeln!(w, "Clear-WebConfiguration -PSPath $apphost -Location $site -Filter \"$section/manyToOneMappings\"");
    for m in &site.many_to_one {
        many_to_one(w, m)?;
    }

    for d in &site.directories {
        w.push('\n');
        let location = ps_quote(&d.path.location(&site.name));
        let p = &d.policy;
        // A line comment ends only at a line break, which a path cannot hold.
        let _ = writeln!(w, "# {}", d.path);
        // IIS takes the flags with or without spaces; without, the value reads as one token.
        let flags = p.ssl_flags().replace(' ', "");
        let _ = writeln!(
            w,
            "Set-WebConfigurationProperty -PSPath $apphost -Location {location} -Filter 'system.webServer/security/access' -Name sslFlags -Value {}",
            ps_quote(&flags)
        );
        for (scheme, on) in [
            ("anonymousAuthentication", p.anonymous_auth),
            ("basicAuthentication", p.basic_auth),
            ("windowsAuthentication", p.windows_auth),
            ("digestAuthentication", p.digest_auth),
        ] {
            let _ = writeln!(
                w,
                "Set-WebConfigurationProperty -PSPath $apphost -Location {location} -Filter 'system.webServer/security/authentication/{scheme}' -Name enabled -Value {}",
                ps_bool(on)
            );
        }
    }
    Ok(())
}

/// The parameter a mapping's password arrives in, when certmap did not export it.
fn param_name(kind: &str, id: i64) -> String {
    format!("{kind}{id}Password")
}

fn needs_param(password_present: bool, logs_on: bool) -> bool {
    !password_present && logs_on
}

fn params(w: &mut String, sites: &[SiteSnapshot]) {
    let mut params = Vec::new();
    for o in sites.iter().flat_map(|s| &s.one_to_one) {
        if needs_param(o.password.is_some(), true) {
            params.push((
                param_name("OneToOne", o.id),
                format!("Password of {} (one-to-one mapping {})", o.user_name, o.id),
            ));
        }
    }
    for m in sites.iter().flat_map(|s| &s.many_to_one) {
        if let (true, Some(u)) = (needs_param(m.password.is_some(), m.mode == PermissionMode::Allow), &m.user_name) {
            params.push((param_name("ManyToOne", m.id), format!("Password of {u} (many-to-one mapping {})", m.id)));
        }
    }
    // param() must be the first statement of a script: only comments may precede it.
    let _ = writeln!(w, "param(");
    for (i, (name, prompt)) in params.iter().enumerate() {
        let comma = if i + 1 < params.len() { "," } else { "" };
        let _ =
            writeln!(w, "    [SecureString] ${name} = (Read-Host -AsSecureString -Prompt {}){comma}", ps_quote(prompt));
    }
    let _ = writeln!(w, ")");
}

fn password_expr(kind: &str, id: i64, password: Option<&crate::secrets::Password>) -> String {
    match password {
        Some(p) => ps_quote(p.expose()),
        None => format!("(ConvertTo-CertmapPlainText ${})", param_name(kind, id)),
    }
}

fn one_to_one(w: &mut String, o: &OneToOne) {
    let _ = writeln!(
        w,
        "Add-WebConfigurationProperty -PSPath $apphost -Location $site -Filter \"$section/oneToOneMappings\" -Name '.' -Value @{{ enabled = {}; userName = {}; password = {}; certificate = {} }}",
        ps_bool(o.enabled),
        ps_quote(o.user_name.as_str()),
        password_expr("OneToOne", o.id, o.password.as_ref()),
        // `render` refused a site without certificates before writing anything.
        ps_quote(&o.certificate.iis_form().unwrap_or_default()),
    );
}

fn many_to_one(w: &mut String, m: &ManyToOne) -> Result<(), RenderError> {
    let mut fields = vec![
        format!("name = {}", ps_quote(&m.name)),
        format!("enabled = {}", ps_bool(m.enabled)),
        format!("permissionMode = {}", ps_quote(m.mode.as_str())),
    ];
    if let Some(d) = &m.description {
        fields.insert(1, format!("description = {}", ps_quote(d)));
    }
    if let Some(u) = &m.user_name {
        fields.push(format!("userName = {}", ps_quote(u.as_str())));
        if m.password.is_some() || m.mode == PermissionMode::Allow {
            fields.push(format!("password = {}", password_expr("ManyToOne", m.id, m.password.as_ref())));
        }
    }
    let _ = writeln!(
        w,
        "Add-WebConfigurationProperty -PSPath $apphost -Location $site -Filter \"$section/manyToOneMappings\" -Name '.' -Value @{{ {} }}",
        fields.join("; ")
    );
    let rules_filter = format!("{SECTION}/manyToOneMappings/add[@name={}]/rules", xpath_literal(&m.name)?);
    for r in &m.rules {
        let _ = writeln!(
            w,
            "Add-WebConfigurationProperty -PSPath $apphost -Location $site -Filter {} -Name '.' -Value @{{ certificateField = {}; certificateSubField = {}; matchCriteria = {}; compareCaseSensitive = {} }}",
            ps_quote(&rules_filter),
            ps_quote(r.field.as_str()),
            ps_quote(r.sub_field.as_str()),
            ps_quote(r.criteria.as_str()),
            ps_bool(r.case_sensitive),
        );
    }
    Ok(())
}

/// An XPath 1.0 string literal has no escapes: it is quoted with whichever quote the text lacks.
/// A name holding both cannot be addressed by the filter that adds its rules.
fn xpath_literal(s: &str) -> Result<String, RenderError> {
    if !s.contains('\'') {
        Ok(format!("'{s}'"))
    } else if !s.contains('"') {
        Ok(format!("\"{s}\""))
    } else {
        Err(RenderError::unsupported(format!(
            "many-to-one mapping {s:?} in PowerShell: its name holds both ' and \", so no WebAdministration filter can address it to add its rules (rename it)"
        )))
    }
}

fn ps_bool(b: bool) -> String {
    if b { "$true" } else { "$false" }.into()
}

fn check(site: &SiteSnapshot) -> Result<(), RenderError> {
    refuse_control("the site name", site.name.as_str())?;
    for d in &site.directories {
        refuse_control("a directory path", d.path.as_str())?;
    }
    for o in &site.one_to_one {
        refuse_control("a user name", o.user_name.as_str())?;
    }
    for m in &site.many_to_one {
        refuse_control("a many-to-one mapping name", &m.name)?;
        refuse_control("a description", m.description.as_deref().unwrap_or_default())?;
        for r in &m.rules {
            refuse_control("a match criteria", r.criteria.as_str())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixture;

    /// A minimal model of PowerShell's single-quoted string token: returns the string's value and
    /// the text after its closing quote, so a test can prove nothing leaks out of the literal.
    fn parse_single_quoted(s: &str) -> (String, &str) {
        let is_quote = |c: char| matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}');
        let mut chars = s.char_indices();
        let (_, first) = chars.next().unwrap();
        assert!(is_quote(first));
        let mut value = String::new();
        let mut it = chars.peekable();
        while let Some((i, c)) = it.next() {
            if is_quote(c) {
                match it.peek() {
                    Some(&(_, n)) if is_quote(n) => {
                        value.push(c);
                        it.next();
                    }
                    _ => return (value, &s[i + c.len_utf8()..]),
                }
            } else {
                value.push(c);
            }
        }
        panic!("unterminated string: {s}");
    }

    #[test]
    fn ps_quote_doubles_every_single_quote_form() {
        assert_eq!(ps_quote(""), "''");
        assert_eq!(ps_quote("plain"), "'plain'");
        assert_eq!(ps_quote("O'Brien"), "'O''Brien'");
        assert_eq!(
            ps_quote("a\u{2018}b\u{2019}c\u{201A}d\u{201B}e"),
            "'a\u{2018}\u{2018}b\u{2019}\u{2019}c\u{201A}\u{201A}d\u{201B}\u{201B}e'"
        );
        // Double quotes (and their look-alikes), $, backtick, semicolons are inert in single quotes.
        assert_eq!(ps_quote("\"$(rm)`;{}\u{201C}"), "'\"$(rm)`;{}\u{201C}'");
    }

    #[test]
    fn ps_quote_round_trips_hostile_text() {
        for s in [
            "",
            "'",
            "''",
            "'; Remove-Item C:\\ -Recurse; '",
            "\u{2019}; Stop-Computer; \u{2018}",
            "\u{201A}\u{201B}'\u{2018}\u{2019}",
            "$env:USERNAME `n $(whoami) @{a=1}",
            "ünïcödé 日本 \\ trailing'",
        ] {
            let quoted = ps_quote(s);
            let (value, rest) = parse_single_quoted(&quoted);
            assert_eq!(value, s);
            assert_eq!(rest, "", "nothing after the literal for {s:?}");
        }
    }

    #[test]
    fn snapshot_without_secrets() {
        insta::assert_snapshot!(render(&fixture::site(), &PowerShellOptions::default()).unwrap());
    }

    #[test]
    fn snapshot_with_secrets() {
        insta::assert_snapshot!(render(&fixture::site_with_secrets(), &PowerShellOptions::default()).unwrap());
    }

    #[test]
    fn prompts_only_for_passwords_not_exported() {
        let out = render(&fixture::site(), &PowerShellOptions::default()).unwrap();
        assert!(out.contains("[SecureString] $OneToOne1Password = (Read-Host -AsSecureString"));
        assert!(out.contains("[SecureString] $OneToOne2Password"));
        assert!(out.contains("[SecureString] $ManyToOne10Password"));
        assert!(!out.contains("ManyToOne11Password"), "a Deny mapping logs no one on");
        assert!(!out.contains("appcmd"));
        let out = render(&fixture::site_with_secrets(), &PowerShellOptions::default()).unwrap();
        assert!(!out.contains("$OneToOne1Password"));
        assert!(out.contains("password = 'p@ss''wörd\"<&>$x'"), "{out}");
        assert!(out.contains("password = 'staff’’pw'"), "{out}");
        assert!(out.starts_with("# certmap"));
        let first_code = out.lines().find(|l| !l.starts_with('#')).unwrap();
        assert_eq!(first_code, "param(", "param() must be the first statement");
    }

    #[test]
    fn hostile_names_stay_inside_their_literals() {
        let mut site = fixture::hostile();
        site.many_to_one[0].name = "Staff 'single' ‘curly’ <&> $x {y};".into();
        let out = render(&site, &PowerShellOptions::default()).unwrap();
        assert!(out.contains("$site = 'Site \"A\" & <B>; {c} $d ''e'' ‘‘f’’ \\g --h'"), "{out}");
        assert!(out.contains("-Location 'Site \"A\" & <B>; {c} $d ''e'' ‘‘f’’ \\g --h/a;b{c}/$d ''e''/&'"));
        assert!(out.contains("userName = 'O''Brien & {Sons} $x ‘‘y’’ `z` %{w}'"));
        assert!(out.contains("add[@name=\"Staff ''single'' ‘‘curly’’ <&> $x {y};\"]/rules'"), "{out}");
    }

    fn two_sites() -> Vec<SiteSnapshot> {
        let mut sites = fixture::two_sites();
        sites[1].many_to_one[0].name = "Staff 'single' ‘curly’ <&> $x {y};".into();
        sites
    }

    #[test]
    fn snapshot_two_sites() {
        insta::assert_snapshot!(render_all(&two_sites(), &PowerShellOptions::default()).unwrap());
    }

    #[test]
    fn two_sites_share_one_param_block_and_preamble() {
        let out = render_all(&two_sites(), &PowerShellOptions::default()).unwrap();
        assert_eq!(out.lines().find(|l| !l.starts_with('#')), Some("param("));
        assert_eq!(out.matches("param(").count(), 1);
        assert_eq!(out.matches("$ErrorActionPreference").count(), 1);
        assert_eq!(out.matches("function ConvertTo-CertmapPlainText").count(), 1);
        for p in ["$OneToOne1Password", "$OneToOne21Password", "$OneToOne22Password", "$ManyToOne30Password"] {
            assert_eq!(out.matches(&format!("[SecureString] {p} ")).count(), 1, "{p}: {out}");
        }
        let first = out.find("$site = 'Default Web Site'").unwrap();
        let second = out.find("$site = 'Site \"A\"").unwrap();
        assert!(first < second);
        assert_eq!(out[first..second].matches("Clear-WebConfiguration").count(), 2);
        assert_eq!(out[second..].matches("Clear-WebConfiguration").count(), 2);
        let err = render_all(&fixture::two_sites(), &PowerShellOptions::default()).unwrap_err();
        let RenderError::Unsupported { what } = err else { panic!("{err:?}") };
        assert!(what.contains("(id 8)") && what.contains("both ' and \""), "{what}");
    }

    #[test]
    fn a_name_with_both_quotes_is_unsupported() {
        let err = render(&fixture::hostile(), &PowerShellOptions::default()).unwrap_err();
        let RenderError::Unsupported { what } = err else { panic!("{err:?}") };
        assert!(what.contains("both ' and \""), "{what}");
    }
}
