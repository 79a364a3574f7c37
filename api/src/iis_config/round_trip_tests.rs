//! Render → import → render gives the same bytes, for random valid sites. The generator is a
//! small deterministic one (xorshift), so a failure reproduces from the printed seed.

use std::sync::Arc;

use time::OffsetDateTime;

use super::{analyze, Options, SitePlan};
use crate::domain::certificate::Certificate;
use crate::domain::directory::{ClientCertificates, DirectoryPolicy, DirectorySpec};
use crate::domain::names::{LogonDomain, SiteName, UserName, VirtualPath};
use crate::domain::resolve::{CertificateField, MatchCriteria, PermissionMode, Rule, SubField};
use crate::domain::site::{LogonMethod, MappingSettings};
use crate::render::fixture;
use crate::render::{iis, IisOptions, ManyToOne, OneToOne, SiteSnapshot, StoredCertificate};

/// What certmap would store from an imported site, as the renderer sees it (no passwords: the
/// rendered file carries none unless an admin asked for them).
pub(crate) fn snapshot(plan: &SitePlan, id: i64, revision: i64) -> SiteSnapshot {
    SiteSnapshot {
        id,
        revision,
        name: plan.name.clone(),
        hostnames: plan.hostnames.clone(),
        mapping: plan.mapping.clone(),
        revocation: Default::default(),
        directories: plan.directories.clone(),
        one_to_one: plan
            .one_to_one
            .iter()
            .enumerate()
            .map(|(i, o)| OneToOne {
                id: i as i64 + 1,
                user_name: o.user_name.clone(),
                enabled: o.enabled,
                certificate: StoredCertificate::from(&o.certificate),
                password: None,
                has_password: false,
                expires_at: None,
            })
            .map(Arc::new)
            .collect(),
        many_to_one: plan
            .many_to_one
            .iter()
            .enumerate()
            .map(|(i, m)| ManyToOne {
                id: i as i64 + 1,
                name: m.name.clone(),
                description: m.description.clone(),
                enabled: m.enabled,
                mode: m.mode,
                user_name: m.user_name.clone(),
                password: None,
                has_password: false,
                rules: m.rules.clone(),
            })
            .collect(),
    }
}

pub(crate) fn options() -> Options {
    Options { now: OffsetDateTime::now_utc(), web_config_site: None }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// 1 to `max` characters of `alphabet`, never starting or ending with a space.
    fn text(&mut self, alphabet: &[char], max: usize) -> String {
        let len = 1 + self.below(max);
        let mut s: String = (0..len).map(|_| *self.pick(alphabet)).collect();
        while s.starts_with(' ') || s.ends_with(' ') {
            s = s.trim().to_owned();
            if s.is_empty() {
                s.push('x');
            }
        }
        s
    }
}

const NAME_CHARS: &[char] =
    &['a', 'B', 'z', '0', ' ', '&', '<', '>', '"', '\'', '‘', 'é', 'É', ';', '$', '{', '-', '.', '\\'];
const PATH_CHARS: &[char] = &['a', 'B', 'z', '0', ' ', '&', ';', '$', '{', '\'', 'é', '-', '_', '.'];

fn policy(rng: &mut Rng) -> DirectoryPolicy {
    let client_certificates =
        *rng.pick(&[ClientCertificates::Ignore, ClientCertificates::Accept, ClientCertificates::Require]);
    let require_ssl = client_certificates != ClientCertificates::Ignore || rng.coin();
    let secured = client_certificates == ClientCertificates::Require;
    DirectoryPolicy {
        require_ssl,
        client_certificates,
        anonymous_auth: !secured && rng.coin(),
        basic_auth: !secured && rng.coin(),
        windows_auth: !secured && rng.coin(),
        digest_auth: !secured && rng.coin(),
    }
}

fn directories(rng: &mut Rng) -> Vec<DirectorySpec> {
    let mut out: Vec<DirectorySpec> = Vec::new();
    for _ in 0..rng.below(5) {
        let path = if rng.below(4) == 0 {
            "/".to_owned()
        } else {
            (0..1 + rng.below(3)).map(|_| format!("/{}", rng.text(PATH_CHARS, 8))).collect()
        };
        let Ok(path) = VirtualPath::parse(&path) else { continue };
        if out.iter().any(|d| d.path.as_str().eq_ignore_ascii_case(path.as_str())) {
            continue;
        }
        out.push(DirectorySpec { path, policy: policy(rng) });
    }
    out.sort_by(|a, b| a.path.as_str().cmp(b.path.as_str()));
    out
}

fn user(rng: &mut Rng) -> UserName {
    let account = rng.text(&['a', 'l', 'i', 'c', 'E', '0', '-', '$', '\'', '&', 'é'], 12);
    let raw = match rng.below(3) {
        0 => format!("CONTOSO\\{account}"),
        1 => format!("{account}@contoso.com"),
        _ => account,
    };
    UserName::parse(&raw).unwrap_or_else(|_| UserName::parse("fallback").unwrap())
}

fn rule(rng: &mut Rng) -> Rule {
    let criteria = rng.text(&['C', 'o', 'n', '*', ' ', '&', '<', '"', 'é', '.'], 16);
    Rule {
        field: *rng.pick(&CertificateField::ALL),
        sub_field: *rng.pick(&SubField::ALL),
        criteria: MatchCriteria::parse(&criteria).unwrap(),
        case_sensitive: rng.coin(),
    }
}

fn random_site(rng: &mut Rng) -> SiteSnapshot {
    let certs: Vec<Certificate> = [fixture::ALICE, fixture::BOB, fixture::CAROL].map(fixture::cert).into();
    let mut one_to_one = Vec::new();
    let mut order: Vec<usize> = (0..certs.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    for (id, &c) in order.iter().take(rng.below(certs.len() + 1)).enumerate() {
        one_to_one.push(Arc::new(OneToOne {
            id: id as i64 + 1,
            user_name: user(rng),
            enabled: rng.coin(),
            certificate: StoredCertificate::from(&certs[c]),
            password: None,
            has_password: false,
            expires_at: None,
        }));
    }
    let mut many_to_one: Vec<ManyToOne> = Vec::new();
    for id in 0..rng.below(4) {
        let name = rng.text(NAME_CHARS, 20);
        if many_to_one.iter().any(|m| m.name.eq_ignore_ascii_case(&name)) {
            continue;
        }
        let mode = *rng.pick(&PermissionMode::ALL);
        let user_name = (mode == PermissionMode::Allow || rng.coin()).then(|| user(rng));
        many_to_one.push(ManyToOne {
            id: id as i64 + 1,
            name,
            description: match rng.below(3) {
                0 => None,
                1 => Some(String::new()),
                _ => Some(rng.text(NAME_CHARS, 30)),
            },
            enabled: rng.coin(),
            mode,
            user_name,
            password: None,
            has_password: false,
            rules: (0..1 + rng.below(3)).map(|_| rule(rng)).collect(),
        });
    }
    // IIS reads <location path="."> as the level the file configures, never as a site named ".".
    let mut name = rng.text(NAME_CHARS, 24);
    if name == "." {
        name.push('x');
    }
    // certmap refuses names a gateway would read as a site id.
    if SiteName::parse(&name).is_ok_and(|n| n.reads_as_site_key()) {
        name.insert(0, 'x');
    }
    let domain: &str = ["", "CONTOSO", "contoso.com"][rng.below(3)];
    SiteSnapshot {
        id: 1 + rng.below(1000) as i64,
        revision: 1 + rng.below(1000) as i64,
        name: SiteName::parse(&name).unwrap(),
        hostnames: Vec::new(),
        revocation: Default::default(),
        mapping: MappingSettings {
            enabled: rng.coin(),
            one_to_one_enabled: rng.coin(),
            many_to_one_enabled: rng.coin(),
            logon_method: *rng.pick(&LogonMethod::ALL),
            default_logon_domain: LogonDomain::parse(domain).unwrap(),
        },
        directories: directories(rng),
        one_to_one,
        many_to_one,
    }
}

fn round_trip(site: &SiteSnapshot) -> (String, String) {
    let first = iis::render(site, &IisOptions::default()).unwrap();
    let analysis = analyze(first.as_bytes(), &options());
    assert!(!analysis.blocks_import(), "{:#?}\n{first}", analysis.findings);
    assert_eq!(analysis.plan.sites.len(), 1, "{first}");
    assert!(analysis.plan.repairs.is_empty(), "{:?}", analysis.plan.repairs);
    let again =
        iis::render(&snapshot(&analysis.plan.sites[0], site.id, site.revision), &IisOptions::default()).unwrap();
    (first, again)
}

#[test]
fn fixtures_round_trip() {
    for site in [fixture::site(), fixture::hostile()] {
        // The fixtures mark passwords as stored; an import never has them.
        let mut site = site;
        for i in 0..site.one_to_one.len() {
            fixture::one(&mut site, i).has_password = false;
        }
        site.many_to_one.iter_mut().for_each(|m| m.has_password = false);
        let (a, b) = round_trip(&site);
        assert_eq!(a, b);
    }
}

#[test]
fn random_sites_round_trip_byte_for_byte() {
    let seed = 0x00C0_FFEE_u64;
    let mut rng = Rng(seed);
    for case in 0..400 {
        let site = random_site(&mut rng);
        let (a, b) = round_trip(&site);
        assert_eq!(a, b, "case {case} of seed {seed:#x}");
    }
}
