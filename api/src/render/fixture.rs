//! The fixed site every snapshot test renders, and a hostile variant for the escaping tests.

use std::sync::Arc;

use crate::domain::certificate::Certificate;
use crate::domain::directory::{ClientCertificates, DirectoryPolicy, DirectorySpec};
use crate::domain::names::{Hostname, LogonDomain, SiteName, UserName, VirtualPath};
use crate::domain::resolve::{CertificateField, MatchCriteria, PermissionMode, Rule, SubField};
use crate::domain::site::{LogonMethod, MappingSettings};
use crate::secrets::Password;

use super::snapshot::{ManyToOne, OneToOne, SiteSnapshot};

pub const ALICE: &str = include_str!("testdata/alice.pem");
pub const BOB: &str = include_str!("testdata/bob.pem");
pub const CAROL: &str = include_str!("testdata/carol.pem");
pub const CA: &str = include_str!("testdata/ca.pem");
pub const CA2: &str = include_str!("testdata/ca2.pem");

pub fn cert(pem: &str) -> Certificate {
    Certificate::parse_text(pem).unwrap().certificate
}

pub fn secured() -> DirectoryPolicy {
    DirectoryPolicy {
        require_ssl: true,
        client_certificates: ClientCertificates::Require,
        anonymous_auth: false,
        ..DirectoryPolicy::default()
    }
}

pub fn dir(path: &str, policy: DirectoryPolicy) -> DirectorySpec {
    DirectorySpec { path: VirtualPath::parse(path).unwrap(), policy }
}

pub fn rule(field: CertificateField, sub: SubField, criteria: &str, case_sensitive: bool) -> Rule {
    Rule { field, sub_field: sub, criteria: MatchCriteria::parse(criteria).unwrap(), case_sensitive }
}

pub fn user(s: &str) -> UserName {
    UserName::parse(s).unwrap()
}

/// "Default Web Site": a secured `/secure`, a public `/secure/public` inside it, an accepting
/// `/shop`; alice mapped one-to-one, bob's mapping disabled, a Staff many-to-one Allow and a
/// Contractors Deny.
pub fn site() -> SiteSnapshot {
    SiteSnapshot {
        id: 7,
        revision: 3,
        name: SiteName::parse("Default Web Site").unwrap(),
        hostnames: vec![Hostname::parse("www.contoso.com").unwrap(), Hostname::parse("*.contoso.net").unwrap()],
        revocation: Default::default(),
        mapping: MappingSettings {
            enabled: true,
            one_to_one_enabled: true,
            many_to_one_enabled: true,
            logon_method: LogonMethod::Network,
            default_logon_domain: LogonDomain::parse("CONTOSO").unwrap(),
        },
        directories: vec![
            dir("/secure", secured()),
            dir("/secure/public", DirectoryPolicy::default()),
            dir(
                "/shop",
                DirectoryPolicy {
                    require_ssl: true,
                    client_certificates: ClientCertificates::Accept,
                    ..DirectoryPolicy::default()
                },
            ),
        ],
        one_to_one: vec![
            OneToOne {
                id: 1,
                user_name: user("CONTOSO\\alice"),
                enabled: true,
                certificate: (&cert(ALICE)).into(),
                password: None,
                has_password: true,
                expires_at: None,
            },
            OneToOne {
                id: 2,
                user_name: user("CONTOSO\\bob"),
                enabled: false,
                certificate: (&cert(BOB)).into(),
                password: None,
                has_password: false,
                expires_at: None,
            },
        ]
        .into_iter()
        .map(Arc::new)
        .collect(),
        many_to_one: vec![
            ManyToOne {
                id: 10,
                name: "Staff".into(),
                description: Some("Every Contoso staff certificate".into()),
                enabled: true,
                mode: PermissionMode::Allow,
                user_name: Some(user("CONTOSO\\staff")),
                password: None,
                has_password: true,
                rules: vec![
                    rule(CertificateField::Subject, SubField::OU, "Staff", true),
                    rule(CertificateField::Issuer, SubField::O, "contoso*", false),
                ],
            },
            ManyToOne {
                id: 11,
                name: "No contractors".into(),
                description: None,
                enabled: true,
                mode: PermissionMode::Deny,
                user_name: None,
                password: None,
                has_password: false,
                rules: vec![rule(CertificateField::Subject, SubField::OU, "Contractors", true)],
            },
        ],
    }
}

/// A fixture's mapping to change: fixtures share none of theirs.
pub fn one(site: &mut SiteSnapshot, i: usize) -> &mut OneToOne {
    Arc::get_mut(&mut site.one_to_one[i]).expect("a fixture's mapping is not shared")
}

/// The same site with secrets included, as an admin asking for `include_secrets` gets it.
pub fn site_with_secrets() -> SiteSnapshot {
    let mut s = site();
    one(&mut s, 0).password = Some(Password::parse("p@ss'wörd\"<&>$x".into()).unwrap());
    s.many_to_one[0].password = Some(Password::parse("staff’pw".into()).unwrap());
    s
}

/// Every name certmap accepts, at its most hostile.
pub fn hostile() -> SiteSnapshot {
    let mut s = site();
    s.name = SiteName::parse("Site \"A\" & <B>; {c} $d 'e' ‘f’ \\g --h").unwrap();
    s.directories =
        vec![dir("/", secured()), dir("/a;b{c}/$d 'e'/&", secured()), dir("/Été/public", DirectoryPolicy::default())];
    one(&mut s, 0).user_name = user("O'Brien & {Sons} $x ‘y’ `z` %{w}");
    one(&mut s, 1).user_name = user("svc$");
    one(&mut s, 1).enabled = true;
    s.one_to_one.push(Arc::new(OneToOne {
        id: 3,
        user_name: user("carol@contoso.com"),
        enabled: true,
        certificate: (&cert(CAROL)).into(),
        password: None,
        has_password: true,
        expires_at: None,
    }));
    s.many_to_one[0].name = "Staff \"quoted\" 'single' ‘curly’ <&> $x {y};".into();
    s.many_to_one[0].description = Some("-- not a comment end -->".into());
    s.many_to_one[0].user_name = Some(user("Jane Doe"));
    s
}

/// Two sites for the documents that cover several: [`site`], and [`hostile`] as site 8 with host
/// names of its own and mapping ids that differ from the first site's, as the database's do.
pub fn two_sites() -> Vec<SiteSnapshot> {
    let mut second = hostile();
    second.id = 8;
    second.revision = 1;
    second.hostnames =
        vec![Hostname::parse("intranet.fabrikam.com").unwrap(), Hostname::parse("*.fabrikam.net").unwrap()];
    for i in 0..second.one_to_one.len() {
        one(&mut second, i).id += 20;
    }
    for m in &mut second.many_to_one {
        m.id += 20;
    }
    vec![site(), second]
}

/// For the formats that refuse many-to-one mappings: the same site with them disabled.
pub fn without_many_to_one(mut s: SiteSnapshot) -> SiteSnapshot {
    for m in &mut s.many_to_one {
        m.enabled = false;
    }
    s
}

/// Per-request mode to a certmap on HTTPS, the gateway presenting a client certificate.
/// Gateway options as the renderers' tests use them: every default but the upstream.
pub fn gateway_options() -> super::GatewayOptions {
    super::GatewayOptions { upstream: "http://127.0.0.1:9000".into(), ..Default::default() }
}

pub fn mtls_to_certmap() -> super::AuthorizeOptions {
    super::AuthorizeOptions {
        certmap: "https://certmap.contoso.com:8443".into(),
        certmap_auth: "mtls".into(),
        ..Default::default()
    }
}
