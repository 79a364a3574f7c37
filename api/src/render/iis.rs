//! An `applicationHost.config` fragment: a `<configuration>` holding the `<location>` elements an
//! admin merges into `%windir%\System32\inetsrv\config\applicationHost.config`.
//!
//! The mapping section goes in `<location path="SITE">` only: IIS ignores it on a directory
//! (401.2, 0x80070005). Each directory gets its own `<location path="SITE/dir">` with `access` and
//! the four authentication schemes; a directory at `/` is the site root itself and is merged into
//! the site's location. The sections are `overrideModeDefault="Deny"`, which is why they belong in
//! applicationHost.config and not in a web.config. Everything is written through quick-xml, which
//! escapes every attribute value.

use std::io;

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use super::options::IisOptions;
use super::snapshot::{ManyToOne, OneToOne, SiteSnapshot};
use super::RenderError;
use crate::domain::directory::{DirectoryPolicy, DirectorySpec};
use crate::domain::resolve::PermissionMode;
use crate::secrets::Password;

const PASSWORD_HELP: &str = " Password omitted: certmap renders passwords only when an admin asks \
(include_secrets=true). Set it in IIS Manager, or run the PowerShell script certmap renders \
(format powershell), so IIS encrypts it itself. ";
const NO_PASSWORD_HELP: &str = " No password is stored in certmap for this account: IIS needs it to \
log the account on. Set it in IIS Manager or with the PowerShell script certmap renders. ";

pub fn render(site: &SiteSnapshot, _options: &IisOptions) -> Result<String, RenderError> {
    super::snapshot::require_der(site)?;
    check_xml_text(site)?;
    let header = format!(
        " certmap site {} revision {}: merge each <location> into applicationHost.config (the mapping section is locked below the server level, so a web.config cannot hold it). ",
        site.id, site.revision
    );
    document(std::slice::from_ref(site), &header)
}

/// One fragment for several sites: a single `<configuration>` root holding every site's
/// locations, each site's preceded by a comment with its id and revision. Site names are unique,
/// so no two sites share a `<location path>`.
pub fn render_all(sites: &[SiteSnapshot], _options: &IisOptions) -> Result<String, RenderError> {
    for site in sites {
        super::snapshot::require_der(site).and_then(|()| check_xml_text(site)).map_err(|e| e.in_site(site))?;
    }
    let header = format!(
        " certmap: {} sites. Merge each <location> into applicationHost.config (the mapping section is locked below the server level, so a web.config cannot hold it). ",
        sites.len()
    );
    document(sites, &header)
}

fn document(sites: &[SiteSnapshot], header: &str) -> Result<String, RenderError> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    write(&mut w, sites, header).map_err(|e| RenderError::unsupported(format!("XML output ({e})")))?;
    let mut out = String::from_utf8(w.into_inner())
        .map_err(|_| RenderError::unsupported("XML output that is not UTF-8".to_string()))?;
    out.push('\n');
    Ok(out)
}

fn write(w: &mut Writer<Vec<u8>>, sites: &[SiteSnapshot], header: &str) -> io::Result<()> {
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))?;
    comment(w, header)?;
    start(w, BytesStart::new("configuration"))?;
    for site in sites {
        if sites.len() > 1 {
            comment(w, &format!(" site {} revision {} ", site.id, site.revision))?;
        }
        locations(w, site)?;
    }
    end(w, "configuration")
}

fn locations(w: &mut Writer<Vec<u8>>, site: &SiteSnapshot) -> io::Result<()> {
    let root_dir = site.directories.iter().find(|d| d.path.is_root());
    start(w, BytesStart::new("location").with_attributes([("path", site.name.as_str())]))?;
    start(w, BytesStart::new("system.webServer"))?;
    start(w, BytesStart::new("security"))?;
    if let Some(d) = root_dir {
        access(w, &d.policy)?;
    }
    start(w, BytesStart::new("authentication"))?;
    if let Some(d) = root_dir {
        schemes(w, &d.policy)?;
    }
    mapping_section(w, site)?;
    end(w, "authentication")?;
    end(w, "security")?;
    end(w, "system.webServer")?;
    end(w, "location")?;

    for d in site.directories.iter().filter(|d| !d.path.is_root()) {
        directory(w, site, d)?;
    }
    Ok(())
}

fn mapping_section(w: &mut Writer<Vec<u8>>, site: &SiteSnapshot) -> io::Result<()> {
    let m = &site.mapping;
    let section = BytesStart::new("iisClientCertificateMappingAuthentication").with_attributes([
        ("enabled", bool_str(m.enabled)),
        ("oneToOneCertificateMappingsEnabled", bool_str(m.one_to_one_enabled)),
        ("manyToOneCertificateMappingsEnabled", bool_str(m.many_to_one_enabled)),
        ("logonMethod", m.logon_method.as_str()),
        ("defaultLogonDomain", m.default_logon_domain.as_str()),
    ]);
    start(w, section)?;

    // <clear/> first: what certmap renders is the whole list, nothing inherited survives.
    start(w, BytesStart::new("oneToOneMappings"))?;
    empty(w, BytesStart::new("clear"))?;
    for o in &site.one_to_one {
        one_to_one(w, o)?;
    }
    end(w, "oneToOneMappings")?;

    start(w, BytesStart::new("manyToOneMappings"))?;
    empty(w, BytesStart::new("clear"))?;
    for m in &site.many_to_one {
        many_to_one(w, m)?;
    }
    end(w, "manyToOneMappings")?;
    end(w, "iisClientCertificateMappingAuthentication")
}

fn one_to_one(w: &mut Writer<Vec<u8>>, o: &OneToOne) -> io::Result<()> {
    // `render` refused a site without certificates before writing anything.
    let certificate = o.certificate.iis_form().unwrap_or_default();
    let mut add = BytesStart::new("add");
    add.push_attribute(("enabled", bool_str(o.enabled)));
    add.push_attribute(("userName", o.user_name.as_str()));
    match &o.password {
        Some(p) => add.push_attribute(("password", p.expose())),
        None => comment(w, if o.has_password { PASSWORD_HELP } else { NO_PASSWORD_HELP })?,
    }
    add.push_attribute(("certificate", certificate.as_str()));
    empty(w, add)
}

fn many_to_one(w: &mut Writer<Vec<u8>>, m: &ManyToOne) -> io::Result<()> {
    let mut add = BytesStart::new("add");
    add.push_attribute(("name", m.name.as_str()));
    if let Some(d) = &m.description {
        add.push_attribute(("description", d.as_str()));
    }
    add.push_attribute(("enabled", bool_str(m.enabled)));
    add.push_attribute(("permissionMode", m.mode.as_str()));
    if let Some(u) = &m.user_name {
        add.push_attribute(("userName", u.as_str()));
        // A Deny mapping never logs anyone on, so its password does not matter.
        match &m.password {
            Some(p) => add.push_attribute(("password", p.expose())),
            None if m.mode == PermissionMode::Allow => {
                comment(w, if m.has_password { PASSWORD_HELP } else { NO_PASSWORD_HELP })?
            }
            None => {}
        }
    }
    start(w, add)?;
    start(w, BytesStart::new("rules"))?;
    empty(w, BytesStart::new("clear"))?;
    for r in &m.rules {
        empty(
            w,
            BytesStart::new("add").with_attributes([
                ("certificateField", r.field.as_str()),
                ("certificateSubField", r.sub_field.as_str()),
                ("matchCriteria", r.criteria.as_str()),
                ("compareCaseSensitive", bool_str(r.case_sensitive)),
            ]),
        )?;
    }
    end(w, "rules")?;
    end(w, "add")
}

fn directory(w: &mut Writer<Vec<u8>>, site: &SiteSnapshot, d: &DirectorySpec) -> io::Result<()> {
    let path = d.path.location(&site.name);
    start(w, BytesStart::new("location").with_attributes([("path", path.as_str())]))?;
    start(w, BytesStart::new("system.webServer"))?;
    start(w, BytesStart::new("security"))?;
    access(w, &d.policy)?;
    start(w, BytesStart::new("authentication"))?;
    schemes(w, &d.policy)?;
    end(w, "authentication")?;
    end(w, "security")?;
    end(w, "system.webServer")?;
    end(w, "location")
}

fn access(w: &mut Writer<Vec<u8>>, p: &DirectoryPolicy) -> io::Result<()> {
    empty(w, BytesStart::new("access").with_attributes([("sslFlags", p.ssl_flags())]))
}

fn schemes(w: &mut Writer<Vec<u8>>, p: &DirectoryPolicy) -> io::Result<()> {
    for (name, on) in [
        ("anonymousAuthentication", p.anonymous_auth),
        ("basicAuthentication", p.basic_auth),
        ("windowsAuthentication", p.windows_auth),
        ("digestAuthentication", p.digest_auth),
    ] {
        empty(w, BytesStart::new(name).with_attributes([("enabled", bool_str(on))]))?;
    }
    Ok(())
}

fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

fn start(w: &mut Writer<Vec<u8>>, e: BytesStart<'_>) -> io::Result<()> {
    w.write_event(Event::Start(e))
}

fn empty(w: &mut Writer<Vec<u8>>, e: BytesStart<'_>) -> io::Result<()> {
    w.write_event(Event::Empty(e))
}

fn end(w: &mut Writer<Vec<u8>>, name: &str) -> io::Result<()> {
    w.write_event(Event::End(BytesEnd::new(name)))
}

/// Comments are written verbatim, so only constant text goes in them: user text could close one.
fn comment(w: &mut Writer<Vec<u8>>, text: &str) -> io::Result<()> {
    debug_assert!(!text.contains("--") && !text.ends_with('-'));
    w.write_event(Event::Comment(BytesText::from_escaped(text)))
}

/// quick-xml escapes markup but cannot make a character XML 1.0 forbids legal: control characters
/// (refused by the domain types already; an attribute would also normalize tabs and line breaks
/// away) and the non-characters U+FFFE and U+FFFF.
fn check_xml_text(site: &SiteSnapshot) -> Result<(), RenderError> {
    let bad = |s: &str| s.chars().any(|c| c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}');
    let check = |what: &str, s: &str| match bad(s) {
        true => Err(RenderError::unsupported(format!("{what} {s:?}: it holds a character XML cannot carry"))),
        false => Ok(()),
    };
    // Never echo a password in an error.
    let check_password = |owner: &str, p: Option<&Password>| match p.is_some_and(|p| bad(p.expose())) {
        true => {
            Err(RenderError::unsupported(format!("the password of {owner}: it holds a character XML cannot carry")))
        }
        false => Ok(()),
    };
    check("the site name", site.name.as_str())?;
    for d in &site.directories {
        check("the directory", d.path.as_str())?;
    }
    for o in &site.one_to_one {
        check("the user name", o.user_name.as_str())?;
        check_password(o.user_name.as_str(), o.password.as_ref())?;
    }
    for m in &site.many_to_one {
        check("the many-to-one mapping name", &m.name)?;
        check("the description", m.description.as_deref().unwrap_or_default())?;
        check("the user name", m.user_name.as_ref().map_or("", |u| u.as_str()))?;
        check_password(&format!("many-to-one mapping {:?}", m.name), m.password.as_ref())?;
        for r in &m.rules {
            check("the match criteria", r.criteria.as_str())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixture;
    use crate::render::realcheck;

    fn render_ok(site: &SiteSnapshot) -> String {
        render(site, &IisOptions::default()).unwrap()
    }

    #[test]
    fn snapshot_without_secrets() {
        insta::assert_snapshot!(render_ok(&fixture::site()));
    }

    #[test]
    fn snapshot_with_secrets() {
        insta::assert_snapshot!(render_ok(&fixture::site_with_secrets()));
    }

    #[test]
    fn stable_and_newline_terminated() {
        let a = render_ok(&fixture::site());
        assert_eq!(a, render_ok(&fixture::site()));
        assert!(a.ends_with("</configuration>\n"));
    }

    #[test]
    fn mapping_only_at_site_root_and_never_sslmapcert() {
        let out = render_ok(&fixture::hostile());
        assert_eq!(out.matches("<iisClientCertificateMappingAuthentication").count(), 1);
        assert!(!out.contains("SslMapCert"));
        // The "/" directory is merged into the site's location instead of getting its own.
        assert_eq!(out.matches("<location ").count(), 3, "{out}");
        let site_loc = out.split("<location ").nth(1).unwrap();
        assert!(site_loc.contains("<access sslFlags=\"Ssl, SslNegotiateCert, SslRequireCert\"/>"), "{site_loc}");
        assert!(site_loc.contains("<iisClientCertificateMappingAuthentication"));
    }

    #[test]
    fn passwords_only_with_secrets() {
        let out = render_ok(&fixture::site());
        assert!(!out.contains("password="), "{out}");
        assert_eq!(out.matches("Password omitted").count(), 2, "alice and the Staff Allow mapping");
        assert_eq!(out.matches("No password is stored").count(), 1, "bob");
        let out = render_ok(&fixture::site_with_secrets());
        assert!(out.contains(r#"password="p@ss&apos;wörd&quot;&lt;&amp;&gt;$x""#), "{out}");
        assert!(out.contains("password=\"staff’pw\""));
    }

    #[test]
    fn hostile_names_are_escaped_and_well_formed() {
        let out = render_ok(&fixture::hostile());
        assert!(
            out.contains(r#"<location path="Site &quot;A&quot; &amp; &lt;B&gt;; {c} $d &apos;e&apos; ‘f’ \g --h">"#),
            "{out}"
        );
        assert!(out.contains(r#"path="Site &quot;A&quot; &amp; &lt;B&gt;; {c} $d &apos;e&apos; ‘f’ \g --h/a;b{c}/$d &apos;e&apos;/&amp;""#));
        assert!(out.contains(r#"userName="O&apos;Brien &amp; {Sons} $x ‘y’ `z` %{w}""#));
        assert!(out.contains(r#"description="-- not a comment end --&gt;""#));
        realcheck::xmllint(&out);
        realcheck::xmllint(&render_ok(&fixture::site_with_secrets()));
    }

    #[test]
    fn snapshot_two_sites() {
        insta::assert_snapshot!(render_all(&fixture::two_sites(), &IisOptions::default()).unwrap());
    }

    #[test]
    fn two_sites_are_one_well_formed_document() {
        let out = render_all(&fixture::two_sites(), &IisOptions::default()).unwrap();
        assert_eq!(out.matches("<configuration>").count(), 1);
        assert_eq!(out.matches("<iisClientCertificateMappingAuthentication").count(), 2);
        assert!(out.contains("<location path=\"Default Web Site/secure\">"));
        assert!(
            out.contains("<location path=\"Site &quot;A&quot; &amp; &lt;B&gt;; {c} $d &apos;e&apos; ‘f’ \\g --h\">")
        );
        assert!(out.find("<!-- site 7 revision 3 -->").unwrap() < out.find("<!-- site 8 revision 1 -->").unwrap());
        realcheck::xmllint(&out);
        let mut sites = fixture::two_sites();
        sites[1].many_to_one[0].name = "bad\u{FFFF}".into();
        let RenderError::Unsupported { what } = render_all(&sites, &IisOptions::default()).unwrap_err() else {
            panic!()
        };
        assert!(what.contains("(id 8)"), "{what}");
    }

    #[test]
    fn xml_forbidden_characters_are_refused() {
        let mut s = fixture::site();
        s.many_to_one[0].name = "bad\u{FFFE}".into();
        assert!(matches!(render(&s, &IisOptions::default()), Err(RenderError::Unsupported { .. })));
    }
}
