//! Realistic configuration files in the shapes IIS 7.5, 8.5 and 10 write, each finding triggered
//! by a small change to a healthy file and absent from the healthy file itself.

use time::{Duration, OffsetDateTime};

use super::round_trip_tests::{options, snapshot};
use super::{analyze, Analysis, Options};
use crate::domain::directory::ClientCertificates;
use crate::domain::lint::Severity;
use crate::domain::names::SiteName;
use crate::render::{fixture, iis, IisOptions};

fn alice() -> String {
    fixture::cert(fixture::ALICE).iis_form()
}

/// An IIS 10 applicationHost.config, trimmed to a realistic core: section declarations, protected
/// data providers, pools, a site with bindings, server-level defaults, other sections, comments,
/// and certificate mapping done right.
fn iis10_healthy() -> String {
    r#"<?xml version="1.0" encoding="UTF-8"?>
<!--
    IIS configuration sections.

    For schema documentation, see
    %windir%\system32\inetsrv\config\schema\IIS_schema.xml.
-->
<configuration>
    <configSections>
        <sectionGroup name="system.applicationHost">
            <section name="applicationPools" allowDefinition="AppHostOnly" overrideModeDefault="Deny" />
            <section name="sites" allowDefinition="AppHostOnly" overrideModeDefault="Deny" />
        </sectionGroup>
        <sectionGroup name="system.webServer">
            <sectionGroup name="security">
                <section name="access" overrideModeDefault="Deny" />
                <sectionGroup name="authentication">
                    <section name="anonymousAuthentication" overrideModeDefault="Deny" />
                    <section name="iisClientCertificateMappingAuthentication" overrideModeDefault="Deny" />
                </sectionGroup>
            </sectionGroup>
        </sectionGroup>
    </configSections>
    <configProtectedData>
        <providers>
            <add name="IISWASOnlyCngProvider" type="Microsoft.ApplicationHost.CngProtectedConfigurationProvider" keyContainerName="iisCngWasKey" useMachineContainer="true" />
        </providers>
    </configProtectedData>
    <system.applicationHost>
        <applicationPools>
            <add name="DefaultAppPool" managedRuntimeVersion="v4.0" />
        </applicationPools>
        <sites>
            <site name="Default Web Site" id="1">
                <application path="/">
                    <virtualDirectory path="/" physicalPath="%SystemDrive%\inetpub\wwwroot" />
                </application>
                <application path="/secure" applicationPool="DefaultAppPool">
                    <virtualDirectory path="/" physicalPath="D:\apps\secure" />
                </application>
                <bindings>
                    <binding protocol="http" bindingInformation="*:80:" />
                    <binding protocol="https" bindingInformation="*:443:www.contoso.com" sslFlags="1" />
                </bindings>
            </site>
            <siteDefaults>
                <logFile logFormat="W3C" directory="%SystemDrive%\inetpub\logs\LogFiles" />
            </siteDefaults>
        </sites>
    </system.applicationHost>
    <system.webServer>
        <modules>
            <add name="CertificateMappingAuthenticationModule" lockItem="true" />
        </modules>
        <security>
            <access sslFlags="None" />
            <authentication>
                <anonymousAuthentication enabled="true" userName="IUSR" />
                <basicAuthentication enabled="false" />
                <windowsAuthentication enabled="false" />
                <digestAuthentication enabled="false" />
                <iisClientCertificateMappingAuthentication enabled="false" />
            </authentication>
        </security>
    </system.webServer>
    <location path="Default Web Site">
        <system.webServer>
            <security>
                <authentication>
                    <iisClientCertificateMappingAuthentication enabled="true" manyToOneCertificateMappingsEnabled="true" oneToOneCertificateMappingsEnabled="true">
                        <oneToOneMappings>
                            <add userName="CONTOSO\alice" certificate="ALICE" />
                        </oneToOneMappings>
                        <manyToOneMappings>
                            <add name="Staff" permissionMode="Allow" userName="CONTOSO\staff">
                                <rules>
                                    <add certificateField="Subject" certificateSubField="O" matchCriteria="Contoso" compareCaseSensitive="false" />
                                </rules>
                            </add>
                        </manyToOneMappings>
                    </iisClientCertificateMappingAuthentication>
                </authentication>
            </security>
        </system.webServer>
    </location>
    <location path="Default Web Site/secure">
        <system.webServer>
            <security>
                <access sslFlags="Ssl, SslNegotiateCert, SslRequireCert" />
                <authentication>
                    <anonymousAuthentication enabled="false" />
                </authentication>
            </security>
        </system.webServer>
    </location>
</configuration>
"#
    .replace("ALICE", &alice())
}

/// The seed write-up's setup on IIS 8.5: everything configured on the directory it wanted to
/// secure, the mapping section included.
fn iis85_seed_broken() -> String {
    r#"<?xml version="1.0" encoding="UTF-8"?>
<configuration>
    <configSections>
        <sectionGroup name="system.webServer">
            <sectionGroup name="security">
                <sectionGroup name="authentication">
                    <section name="iisClientCertificateMappingAuthentication" overrideModeDefault="Deny" />
                </sectionGroup>
            </sectionGroup>
        </sectionGroup>
    </configSections>
    <system.applicationHost>
        <sites>
            <site name="Default Web Site" id="1" serverAutoStart="true">
                <application path="/">
                    <virtualDirectory path="/" physicalPath="%SystemDrive%\inetpub\wwwroot" />
                </application>
                <bindings>
                    <binding protocol="https" bindingInformation="*:443:" sslFlags="0" />
                </bindings>
            </site>
        </sites>
    </system.applicationHost>
    <location path="Default Web Site/secure">
        <system.webServer>
            <security>
                <access sslFlags="Ssl, SslNegotiateCert, SslRequireCert" />
                <authentication>
                    <anonymousAuthentication enabled="false" />
                    <!-- Configuration Editor, at the directory: the mistake -->
                    <iisClientCertificateMappingAuthentication enabled="true" oneToOneCertificateMappingsEnabled="true">
                        <oneToOneMappings>
                            <add userName="CONTOSO\alice" password="[enc:IISCngProvider:cGFzc3dvcmQgYmxvYg==:enc]" certificate="ALICE" />
                        </oneToOneMappings>
                    </iisClientCertificateMappingAuthentication>
                </authentication>
            </security>
        </system.webServer>
    </location>
</configuration>
"#
    .replace("ALICE", &alice())
}

/// IIS 7.5 era: a namespace on the root, `<location path="" overrideMode="Allow">`, sections kept
/// in other files through configSource.
fn iis75_with_config_source() -> String {
    r#"<?xml version="1.0" encoding="UTF-8"?>
<configuration xmlns="http://schemas.microsoft.com/.NetConfiguration/v2.0">
    <system.applicationHost>
        <applicationPools configSource="applicationPools.config" />
        <sites>
            <site name="Intranet" id="2">
                <bindings><binding protocol="https" bindingInformation="10.0.0.5:443:intranet.contoso.local" /></bindings>
            </site>
        </sites>
    </system.applicationHost>
    <location path="" overrideMode="Allow">
        <system.webServer>
            <security>
                <authentication>
                    <anonymousAuthentication enabled="true" />
                </authentication>
            </security>
        </system.webServer>
    </location>
    <location path="Intranet">
        <system.webServer>
            <security>
                <access sslFlags="Ssl, SslNegotiateCert" />
                <authentication>
                    <iisClientCertificateMappingAuthentication enabled="true" logonMethod="Network" defaultLogonDomain="CONTOSO">
                        <manyToOneMappings>
                            <clear />
                            <add name="Engineers" description="Engineering certificates" userName="CONTOSO\eng">
                                <rules>
                                    <add certificateField="Issuer" certificateSubField="CN" matchCriteria="Contoso Test CA" />
                                </rules>
                            </add>
                            <add name="No contractors" permissionMode="Deny">
                                <rules>
                                    <add certificateField="Subject" certificateSubField="OU" matchCriteria="Contractors" />
                                </rules>
                            </add>
                        </manyToOneMappings>
                    </iisClientCertificateMappingAuthentication>
                </authentication>
            </security>
        </system.webServer>
    </location>
</configuration>
"#
    .into()
}

/// A web.config of an application, with a namespace and other sections.
fn web_config_with_mapping() -> String {
    r#"<?xml version="1.0" encoding="utf-8"?>
<configuration xmlns="http://schemas.microsoft.com/.NetConfiguration/v2.0">
  <system.web>
    <compilation debug="false" targetFramework="4.8" />
  </system.web>
  <system.webServer>
    <security>
      <access sslFlags="Ssl, SslNegotiateCert, SslRequireCert" />
      <authentication>
        <anonymousAuthentication enabled="false" />
        <iisClientCertificateMappingAuthentication enabled="true">
          <oneToOneMappings>
            <add userName="CONTOSO\alice" certificate="ALICE" />
          </oneToOneMappings>
        </iisClientCertificateMappingAuthentication>
      </authentication>
    </security>
  </system.webServer>
</configuration>
"#
    .replace("ALICE", &alice())
}

fn run(text: &str) -> Analysis {
    analyze(text.as_bytes(), &options())
}

fn codes(a: &Analysis) -> Vec<&'static str> {
    a.findings.iter().map(|f| f.code).collect()
}

fn one(a: &Analysis, code: &str) -> super::Finding {
    let found: Vec<_> = a.findings.iter().filter(|f| f.code == code).collect();
    assert_eq!(found.len(), 1, "{code} in {:#?}", a.findings);
    found[0].clone()
}

#[test]
fn the_healthy_iis10_file_has_no_finding_and_imports_whole() {
    let a = run(&iis10_healthy());
    assert_eq!(a.findings, vec![], "{:#?}", a.findings);
    assert_eq!(a.source, Some(super::Source::ApplicationHost));
    let site = &a.plan.sites[0];
    assert_eq!(site.name.as_str(), "Default Web Site");
    assert_eq!(site.hostnames.iter().map(|h| h.as_str()).collect::<Vec<_>>(), ["www.contoso.com"]);
    assert!(site.mapping.enabled);
    assert_eq!(site.one_to_one.len(), 1);
    assert_eq!(site.many_to_one[0].rules.len(), 1);
    assert_eq!(site.directories.len(), 1);
    let secure = &site.directories[0];
    assert_eq!(secure.path.as_str(), "/secure");
    assert!(secure.policy.is_secured() && secure.policy.require_ssl && !secure.policy.anonymous_auth);
}

/// Each finding: the change to the healthy file that triggers it (the healthy file has none).
#[test]
fn every_finding_is_triggered_by_its_mistake() {
    let base = iis10_healthy();
    let site_section = r#"<iisClientCertificateMappingAuthentication enabled="true" manyToOneCertificateMappingsEnabled="true" oneToOneCertificateMappingsEnabled="true">"#;
    let alice_add = format!(r#"<add userName="CONTOSO\alice" certificate="{}" />"#, alice());
    let pem = fixture::ALICE.trim().replace('\n', "&#10;");
    let wrapped = alice().as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join("\n");
    let staff_rule = r#"<add certificateField="Subject" certificateSubField="O" matchCriteria="Contoso" compareCaseSensitive="false" />"#;
    let secure_access = r#"<access sslFlags="Ssl, SslNegotiateCert, SslRequireCert" />"#;
    let cases: Vec<(&str, String)> = vec![
        ("mapping-at-server-level", base.replace(r#"<iisClientCertificateMappingAuthentication enabled="false" />"#, r#"<iisClientCertificateMappingAuthentication enabled="true" />"#)),
        ("mapping-disabled", base.replace(site_section, &site_section.replace(r#"enabled="true" many"#, r#"enabled="false" many"#))),
        ("mapping-disabled", base.replace(site_section, r#"<iisClientCertificateMappingAuthentication>"#)),
        ("one-to-one-disabled", base.replace(r#"oneToOneCertificateMappingsEnabled="true""#, r#"oneToOneCertificateMappingsEnabled="false""#)),
        ("many-to-one-disabled", base.replace(r#"manyToOneCertificateMappingsEnabled="true""#, r#"manyToOneCertificateMappingsEnabled="false""#)),
        ("certificate-damaged", base.replace(&alice(), &pem)),
        ("certificate-damaged", base.replace(&alice(), &wrapped)),
        ("certificate-damaged", base.replace(&alice(), &alice().replacen('A', "A ", 3))),
        ("certificate-damaged", base.replace(&alice(), "not*base64!")),
        ("certificate-damaged", base.replace(&alice(), "QUJDREVGR0g=")),
        ("certificate-missing", base.replace(&alice_add, r#"<add userName="CONTOSO\alice" />"#)),
        ("duplicate-certificate", base.replace(&alice_add, &format!("{alice_add}{}", alice_add.replace("alice\"", "alice2\"")))),
        ("duplicate-many-to-one-name", base.replace("</manyToOneMappings>", &format!(r#"<add name="STAFF" permissionMode="Deny"><rules>{staff_rule}</rules></add></manyToOneMappings>"#))),
        ("password-not-imported", base.replace(r#"userName="CONTOSO\alice""#, r#"userName="CONTOSO\alice" password="[enc:IISCngProvider:c2VjcmV0:enc]""#)),
        ("clear-text-password", base.replace(r#"userName="CONTOSO\alice""#, r#"userName="CONTOSO\alice" password="Summer2016!""#)),
        ("invalid-password", base.replace(r#"userName="CONTOSO\alice""#, r#"userName="CONTOSO\alice" password="""#)),
        ("invalid-user-name", base.replace(r#"userName="CONTOSO\alice""#, r#"userName="CONTOSO\""#)),
        ("certificate-is-ca", base.replace(&alice(), &fixture::cert(fixture::CA).iis_form())),
        ("invalid-description", base.replace(r#"<add name="Staff""#, &format!(r#"<add name="Staff" description="{}""#, "d".repeat(1025)))),
        ("allow-without-user", base.replace(r#" userName="CONTOSO\staff""#, "")),
        ("many-to-one-without-rules", base.replace(staff_rule, "")),
        ("empty-match-criteria", base.replace(r#"matchCriteria="Contoso""#, r#"matchCriteria="""#)),
        ("empty-match-criteria", base.replace(r#"matchCriteria="Contoso""#, "")),
        ("unknown-certificate-field", base.replace(r#"certificateField="Subject""#, r#"certificateField="Thumbprint""#)),
        ("unknown-certificate-sub-field", base.replace(r#"certificateSubField="O""#, r#"certificateSubField="SERIALNUMBER""#)),
        ("too-many-rules", base.replace(staff_rule, &staff_rule.repeat(65))),
        ("invalid-value", base.replace(site_section, &site_section.replace(r#"enabled="true" many"#, r#"enabled="yes" many"#))),
        ("invalid-value", base.replace(r#"compareCaseSensitive="false""#, r#"compareCaseSensitive="0""#)),
        ("invalid-value", base.replace(r#"permissionMode="Allow""#, r#"permissionMode="Permit""#)),
        ("invalid-value", base.replace(site_section, &site_section.replace(">", r#" logonMethod="Kerberos">"#))),
        ("sslmapcert-not-valid", base.replace(secure_access, r#"<access sslFlags="Ssl, SslNegotiateCert, SslRequireCert, SslMapCert" />"#)),
        ("ssl128-not-kept", base.replace(secure_access, r#"<access sslFlags="Ssl, Ssl128, SslNegotiateCert, SslRequireCert" />"#)),
        ("invalid-ssl-flags", base.replace(secure_access, r#"<access sslFlags="Ssl, SslRequireClientCert, SslRequireCert" />"#)),
        ("client-cert-requires-ssl", base.replace(secure_access, r#"<access sslFlags="SslNegotiateCert, SslRequireCert" />"#)),
        ("secured-directory-allows-other-auth", base.replace(r#"<anonymousAuthentication enabled="false" />"#, r#"<anonymousAuthentication enabled="true" />"#)),
        // Inherited from the server level, where IIS's default turns anonymous on.
        ("secured-directory-allows-other-auth", base.replace(r#"<anonymousAuthentication enabled="false" />"#, "")),
        ("secured-directory-allows-other-auth", base.replace(r#"<anonymousAuthentication enabled="false" />"#, r#"<anonymousAuthentication enabled="false" /><windowsAuthentication enabled="true" />"#)),
        ("secured-directory-without-site-mapping", {
            let start = base.find("<location path=\"Default Web Site\">").unwrap();
            let end = base[start..].find("</location>").unwrap() + start + "</location>".len();
            format!("{}{}", &base[..start], &base[end..])
        }),
        ("ssl-ignores-certificates", base.replace(secure_access, r#"<access sslFlags="Ssl" />"#)),
        ("unknown-site", base.replace(r#"<location path="Default Web Site/secure">"#, r#"<location path="Default Web Sites/secure">"#)),
        ("invalid-site-name", base.replace(r#"<location path="Default Web Site/secure">"#, r#"<location path="Bad&#9;Site/secure">"#)),
        ("invalid-path", base.replace(r#"<location path="Default Web Site/secure">"#, r#"<location path="Default Web Site/a//b">"#)),
        ("config-source-not-read", base.replace("<applicationPools>\n            <add name=\"DefaultAppPool\" managedRuntimeVersion=\"v4.0\" />\n        </applicationPools>", r#"<applicationPools configSource="pools.config" />"#)),
        ("nothing-to-import", "<configuration><appSettings><add key=\"a\" value=\"b\" /></appSettings></configuration>".into()),
        ("mapping-not-at-site-root", iis85_seed_broken()),
        ("mapping-in-web-config", web_config_with_mapping()),
        ("xml-doctype-refused", format!("<!DOCTYPE configuration [<!ENTITY a \"{}\">]>{}", "x".repeat(10), base)),
        ("xml-entity-refused", base.replace("CONTOSO\\alice", "&bomb;")),
        ("xml-malformed", base.replace("</configuration>", "")),
        ("xml-too-deep", base.replace("<modules>", &format!("<modules>{}{}", "<x>".repeat(70), "</x>".repeat(70)))),
        ("xml-attribute-too-long", base.replace(&alice(), &"A".repeat(200_000))),
    ];
    for (code, text) in &cases {
        assert_ne!(text, &base, "the mutation for {code} changed nothing");
        let a = run(text);
        assert!(codes(&a).contains(code), "{code} not found in {:#?}", a.findings);
        let f = a.findings.iter().find(|f| f.code == *code).unwrap();
        assert!(f.line.is_some_and(|l| l > 0) || code.starts_with("xml-"), "{code} has a line: {f:?}");
        assert!(!f.iis_symptom.is_empty() && !f.fix.is_empty() && !f.message.is_empty(), "{f:?}");
    }
}

#[test]
fn expired_certificates_are_found_with_their_symptom() {
    let later = Options { now: OffsetDateTime::now_utc() + Duration::days(365 * 150), web_config_site: None };
    let a = analyze(iis10_healthy().as_bytes(), &later);
    let f = one(&a, "certificate-expired");
    assert!(f.iis_symptom.contains("403.17"), "{f:?}");
    assert_eq!(a.plan.sites[0].one_to_one.len(), 1, "still imported: it is what IIS has");
}

/// "Done when": the seed's broken setup is named exactly, and repair imports it the right way.
#[test]
fn the_seed_setup_is_named_and_repaired() {
    let a = run(&iis85_seed_broken());
    assert_eq!(codes(&a), ["mapping-not-at-site-root", "password-not-imported"], "{:#?}", a.findings);
    let f = one(&a, "mapping-not-at-site-root");
    assert_eq!(f.severity, Severity::Error);
    assert!(f.blocks_import);
    assert_eq!(f.location_path.as_deref(), Some("Default Web Site/secure"));
    assert_eq!(f.line, Some(31));
    assert!(f.iis_symptom.contains("401.2") && f.iis_symptom.contains("0x80070005"), "{f:?}");
    assert!(f.fix.contains(r#"<location path="Default Web Site">"#), "{f:?}");

    assert_eq!(a.plan.repairs.len(), 1, "{:?}", a.plan.repairs);
    assert!(a.plan.repairs[0].contains("moved iisClientCertificateMappingAuthentication"), "{:?}", a.plan.repairs);
    let site = &a.plan.sites[0];
    assert!(site.mapping.enabled && site.mapping.one_to_one_enabled);
    assert_eq!(site.one_to_one[0].user_name.as_str(), "CONTOSO\\alice");
    assert!(site.one_to_one[0].password.is_none(), "an IIS-encrypted password is never imported");
    assert_eq!(site.directories.len(), 1);
    assert!(site.directories[0].policy.is_secured());

    // What certmap renders from the repaired import is clean: the section at the site root.
    let fixed = iis::render(&snapshot(site, 1, 1), &IisOptions::default()).unwrap();
    let again = run(&fixed);
    assert!(again.findings.iter().all(|f| f.severity != Severity::Error), "{:#?}", again.findings);
    assert!(fixed.contains(r#"<location path="Default Web Site">"#));
    let site_location = fixed.split("<location ").nth(1).unwrap();
    assert!(site_location.contains("<iisClientCertificateMappingAuthentication enabled=\"true\""), "{fixed}");
}

#[test]
fn iis75_shape_with_namespaces_and_config_source() {
    let a = run(&iis75_with_config_source());
    assert_eq!(codes(&a), ["config-source-not-read"], "{:#?}", a.findings);
    assert_eq!(a.findings[0].line, Some(4));
    let site = &a.plan.sites[0];
    assert_eq!(site.name.as_str(), "Intranet");
    assert_eq!(site.hostnames[0].as_str(), "intranet.contoso.local");
    assert_eq!(site.mapping.logon_method.as_str(), "Network");
    assert_eq!(site.mapping.default_logon_domain.as_str(), "CONTOSO");
    let names: Vec<&str> = site.many_to_one.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["Engineers", "No contractors"]);
    // The site root asks for (but does not require) certificates; anonymous comes from path="".
    let root = &site.directories[0];
    assert!(root.path.is_root());
    assert_eq!(root.policy.client_certificates, ClientCertificates::Accept);
    assert!(root.policy.anonymous_auth);
}

#[test]
fn a_web_config_needs_its_site_and_is_repaired_into_it() {
    let a = run(&web_config_with_mapping());
    assert_eq!(a.source, Some(super::Source::WebConfig));
    let f = one(&a, "mapping-in-web-config");
    assert!(f.iis_symptom.contains("500.19") && f.blocks_import, "{f:?}");
    assert!(a.plan.needs_site && a.plan.sites.is_empty());
    let with_site = Options { web_config_site: Some(SiteName::parse("Shop").unwrap()), ..options() };
    let a = analyze(web_config_with_mapping().as_bytes(), &with_site);
    assert!(!a.plan.needs_site);
    let site = &a.plan.sites[0];
    assert_eq!(site.name.as_str(), "Shop");
    assert!(site.mapping.enabled && site.one_to_one.len() == 1);
    assert!(site.directories[0].path.is_root() && site.directories[0].policy.is_secured());
    assert_eq!(a.plan.repairs.len(), 1, "{:?}", a.plan.repairs);
}

#[test]
fn repairs_fix_what_certmap_refuses_to_store() {
    let base = iis10_healthy();
    let broken = base
        .replace(
            r#"<access sslFlags="Ssl, SslNegotiateCert, SslRequireCert" />"#,
            r#"<access sslFlags="SslNegotiateCert,SslRequireCert,SslMapCert" />"#,
        )
        .replace(r#"<anonymousAuthentication enabled="false" />"#, r#"<basicAuthentication enabled="true" />"#);
    let a = run(&broken);
    let mut blocking: Vec<&str> = a.findings.iter().filter(|f| f.blocks_import).map(|f| f.code).collect();
    blocking.sort();
    assert_eq!(
        blocking,
        [
            "client-cert-requires-ssl",
            "secured-directory-allows-other-auth",
            "secured-directory-allows-other-auth",
            "sslmapcert-not-valid"
        ],
        "{:#?}",
        a.findings
    );
    let secure = &a.plan.sites[0].directories[0];
    assert!(secure.policy.require_ssl && secure.policy.is_secured());
    assert!(!secure.policy.anonymous_auth && !secure.policy.basic_auth);
    assert_eq!(secure.policy.check(), Ok(()));
    assert_eq!(a.plan.repairs.len(), 4, "{:?}", a.plan.repairs);
}

/// Settings at the server level reach every site root; certmap stores them on the root directory
/// when they are not IIS's defaults, and their mistakes are reported once, at the server level.
#[test]
fn server_level_settings_reach_the_site_root() {
    let base = iis10_healthy();
    let text =
        base.replace(r#"<access sslFlags="None" />"#, r#"<access sslFlags="Ssl, SslNegotiateCert, SslMapCert" />"#);
    let a = run(&text);
    let f = one(&a, "sslmapcert-not-valid");
    assert_eq!(f.location_path.as_deref(), Some(""));
    let dirs = &a.plan.sites[0].directories;
    assert_eq!(dirs.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(), ["/", "/secure"]);
    assert_eq!(dirs[0].policy.client_certificates, ClientCertificates::Accept);
    assert!(dirs[0].policy.require_ssl && dirs[0].policy.anonymous_auth);
    // IIS's own server defaults make no root directory (the healthy file imports /secure only).
    assert_eq!(run(&base).plan.sites[0].directories.len(), 1);
}

#[test]
fn a_bare_location_fragment_is_read() {
    let fragment = r#"<location path="Default Web Site/api"><system.webServer><security><access sslFlags="Ssl"/></security></system.webServer></location>"#;
    let a = run(fragment);
    assert_eq!(a.findings, vec![]);
    assert_eq!(a.plan.sites[0].directories[0].path.as_str(), "/api");
}

#[test]
fn hostile_input_is_refused_quickly_and_blocks_import() {
    let billion_laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><configuration>&lol2;</configuration>"#;
    for text in [billion_laughs.to_owned(), "<a>".repeat(100_000), format!("<a b=\"{}\"/>", "x".repeat(5_000_000))] {
        let a = run(&text);
        assert!(a.plan.unreadable && a.blocks_import() && a.has_errors(), "{:?}", a.findings);
        assert!(a.plan.sites.is_empty());
    }
}

#[test]
fn compiler_style_report() {
    let a = run(&iis85_seed_broken());
    let out = super::report::compiler_style("applicationHost.config", &a.findings);
    assert!(out.starts_with("applicationHost.config:31: error: iisClientCertificateMappingAuthentication is configured for the directory Default Web Site/secure"), "{out}");
    assert!(out.contains("    IIS: 401.2 Unauthorized, 0x80070005"), "{out}");
    assert!(out.ends_with("applicationHost.config: 1 error(s), 1 warning(s), 0 note(s)\n"), "{out}");
}
