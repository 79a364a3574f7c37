//! A site as gateways see it, held in memory by the gateway cache: policies, mappings indexed by
//! fingerprint, many-to-one rules, and the snapshot document already serialized and gzipped. Built
//! from the stored certificate facts, so loading a large site parses no certificate.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, RwLock, Weak};

use actix_web::web::Bytes;
use certmap_db::queries::{many_to_one, mappings, sites};
use certmap_db::PgConnection;
use flate2::write::GzEncoder;
use time::OffsetDateTime;

use super::document_shelf::DocumentShelf;
use super::revocations::Held;
use crate::domain::certificate::{Certificate, CertificateInfo};
use crate::domain::directory::DirectorySpec;
use crate::domain::mapping::Fingerprint;
use crate::domain::names::{Hostname, SiteName};
use crate::domain::resolve::{resolve, resolve_before_rules, Decision, ManyToOneView, OneToOneView};
use crate::domain::revocation::{Check, Listing, Policy, Status};
use crate::domain::site::MappingSettings;
use crate::http::directories;
use crate::http::problem::ApiError;
use crate::http::render_input::{many_to_one_of, one_to_one_of};
use crate::http::sites::spec_of;
use crate::locks::{lock, read, write};
use crate::render::{ManyToOne, OneToOne, SiteSnapshot};

pub struct SiteView {
    pub id: i64,
    pub revision: i64,
    pub name: SiteName,
    pub hostnames: Vec<Hostname>,
    pub settings: MappingSettings,
    pub revocation: Policy,
    /// The site's trusted CAs (DER) by subject, which certificates name as their issuer; loaded
    /// only when the policy asks OCSP, whose requests name the CA.
    pub issuers: HashMap<String, Vec<u8>>,
    /// Sorted by path.
    pub directories: Vec<DirectorySpec>,
    /// Every one-to-one mapping, enabled or not, in id order, as the renderers see them (no DER,
    /// no password): the gateway formats are rendered from here.
    pub mappings: Vec<Arc<OneToOne>>,
    /// In id order: the order IIS evaluates them in. No passwords.
    pub many_to_one: Vec<ManyToOne>,
    /// Keyed by the digest's bytes with a fast seeded hasher: looked up on every authorize call.
    by_sha256: HashMap<[u8; 32], u32, foldhash::fast::RandomState>,
    by_sha1: HashMap<[u8; 20], u32, foldhash::fast::RandomState>,
    document: Mutex<Option<Kept>>,
    listings: RwLock<Option<Listings>>,
}

/// Each mapping's [`Listing`] in one load of the CRLs, worked out once per load: authorize by
/// fingerprint then reads a number instead of hashing the issuer's name and the serial into a
/// table as large as the CRL (2.5 % of the server's CPU with 100,000 entries held). Four bytes a
/// mapping.
struct Listings {
    crls: u64,
    /// In `mappings` order: [`NOT_HELD`], [`REVOKED`], or 2 + an index into `next_updates`.
    codes: Vec<u32>,
    next_updates: Vec<Option<OffsetDateTime>>,
}

const NOT_HELD: u32 = 0;
/// Rare: the revocation's facts are looked up again when asked for.
const REVOKED: u32 = 1;

impl Listings {
    fn of(mappings: &[Arc<OneToOne>], crls: &Held) -> Self {
        let mut next_updates = Vec::new();
        let codes = mappings
            .iter()
            .map(|m| {
                let c = m.certificate.info();
                match crls.index.listing(&c.issuer, &c.serial) {
                    Listing::NotHeld => NOT_HELD,
                    Listing::Revoked(_) => REVOKED,
                    Listing::NotListed { next_update } => {
                        let at = next_updates.iter().position(|&n| n == next_update).unwrap_or_else(|| {
                            next_updates.push(next_update);
                            next_updates.len() - 1
                        });
                        2 + at as u32
                    }
                }
            })
            .collect();
        Self { crls: crls.id, codes, next_updates }
    }
}

/// What a snapshot document is known by without its bytes: enough for a 304 and a long-poll.
#[derive(Clone)]
pub struct Stamp {
    pub tag: String,
    /// The first instant a mapping starts or stops being valid; the document is rebuilt then.
    pub valid_until: Option<OffsetDateTime>,
    /// Which load of the CRLs it left revoked mappings out by; rebuilt after another.
    crls: u64,
}

impl Stamp {
    fn holds(&self, now: OffsetDateTime, crls: &Held) -> bool {
        self.crls == crls.id && self.valid_until.is_none_or(|until| now < until)
    }

    #[cfg(test)]
    pub fn for_test(tag: &str) -> Self {
        Self { tag: tag.to_owned(), valid_until: None, crls: 0 }
    }
}

/// The snapshot as sent: its stamp and its bytes, plain and gzipped.
pub struct Document {
    pub stamp: Stamp,
    pub json: Bytes,
    pub gzip: Bytes,
}

impl Document {
    pub fn size(&self) -> usize {
        self.json.len() + self.gzip.len()
    }
}

/// The stamp of the document last built, and its bytes while the shelf keeps them.
struct Kept {
    stamp: Stamp,
    bytes: Weak<Document>,
}

impl SiteView {
    /// The site read in the caller's (repeatable read) transaction; `None` when it does not exist.
    pub fn load(conn: &mut PgConnection, site_id: i64) -> Result<Option<Self>, ApiError> {
        let Some(site) = sites::find(conn, site_id)? else {
            return Ok(None);
        };
        let spec = spec_of(&site)?;
        let directories = certmap_db::queries::directories::all(conn, site_id)?
            .iter()
            .map(directories::spec_of)
            .collect::<Result<Vec<_>, _>>()?;
        let many_to_one = many_to_one::all(conn, site_id)?
            .into_iter()
            .map(|row| many_to_one_of(site_id, row, None))
            .collect::<Result<Vec<_>, ApiError>>()?;
        let issuers = match spec.revocation.check.asks_ocsp() {
            true => sites::trusted_cas(conn, site_id)?
                .into_iter()
                .filter_map(|der| Some((Certificate::from_der(&der).ok()?.info().subject.clone(), der)))
                .collect(),
            false => HashMap::new(),
        };
        let mut mappings = Vec::new();
        mappings::for_gateway(conn, site_id, |m| {
            mappings.push(Arc::new(one_to_one_of(site_id, m, None)?));
            Ok::<_, ApiError>(())
        })?;
        mappings.shrink_to_fit();
        let (mut by_sha256, mut by_sha1) = (HashMap::default(), HashMap::default());
        by_sha256.reserve(mappings.len());
        by_sha1.reserve(mappings.len());
        for (i, m) in mappings.iter().enumerate() {
            let (facts, i) = (m.certificate.info(), i as u32);
            let corrupt = || ApiError::Internal(format!("site {site_id}: mapping {} fingerprint", m.id));
            let (mut sha256, mut sha1) = ([0; 32], [0; 20]);
            hex::decode_to_slice(&facts.sha256, &mut sha256).map_err(|_| corrupt())?;
            hex::decode_to_slice(&facts.sha1, &mut sha1).map_err(|_| corrupt())?;
            by_sha256.insert(sha256, i);
            by_sha1.insert(sha1, i);
        }
        Ok(Some(Self {
            id: site.id,
            revision: site.revision,
            name: spec.name,
            hostnames: spec.hostnames,
            settings: spec.mapping,
            revocation: spec.revocation,
            issuers,
            directories,
            mappings,
            many_to_one,
            by_sha256,
            by_sha1,
            document: Mutex::new(None),
            listings: RwLock::new(None),
        }))
    }

    /// The stored mapping with this SHA-256 or SHA-1.
    pub fn by_fingerprint(&self, fingerprint: Fingerprint) -> Option<&OneToOne> {
        self.index_of(fingerprint).map(|i| &*self.mappings[i as usize])
    }

    /// Where in `mappings` the stored mapping with this SHA-256 or SHA-1 is.
    pub fn index_of(&self, fingerprint: Fingerprint) -> Option<u32> {
        match fingerprint {
            Fingerprint::Sha256(d) => self.by_sha256.get(&d).copied(),
            Fingerprint::Sha1(d) => self.by_sha1.get(&d).copied(),
        }
    }

    fn one_to_one_view(m: &OneToOne) -> OneToOneView<'_> {
        OneToOneView { id: m.id, enabled: m.enabled, user_name: m.user_name.as_str(), expires_at: m.expires_at }
    }

    /// What IIS would decide for a presented certificate: the same code as `resolve`.
    pub fn decide(&self, cert: &CertificateInfo, now: OffsetDateTime) -> Decision {
        let one = Fingerprint::parse(&cert.sha256).ok().and_then(|f| self.by_fingerprint(f)).map(Self::one_to_one_view);
        let views: Vec<ManyToOneView<'_>> = self
            .many_to_one
            .iter()
            .map(|m| ManyToOneView {
                id: m.id,
                name: &m.name,
                enabled: m.enabled,
                mode: m.mode,
                user_name: m.user_name.as_ref().map(|u| u.as_str()),
                rules: &m.rules,
            })
            .collect();
        resolve(cert, now, &self.settings, one, &views)
    }

    /// The decision for a stored certificate known only by fingerprint, when its validity and its
    /// one-to-one mapping settle it; `None` when many-to-one rules must see its names.
    pub fn decide_stored(&self, m: &OneToOne, now: OffsetDateTime) -> Option<Decision> {
        let facts = m.certificate.info();
        resolve_before_rules((facts.not_before, facts.not_after), now, &self.settings, Some(Self::one_to_one_view(m)))
    }

    /// The site as the gateway formats render it at `now`: every mapping but those past their own
    /// expiry and those `revoked` (sorted ids), sharing the mappings held here rather than copying
    /// them. No DER: IIS, PowerShell and Apache are rendered from a read with certificates.
    pub fn render_snapshot(&self, now: OffsetDateTime, revoked: &[i64]) -> SiteSnapshot {
        SiteSnapshot {
            id: self.id,
            revision: self.revision,
            name: self.name.clone(),
            hostnames: self.hostnames.clone(),
            mapping: self.settings.clone(),
            revocation: self.revocation,
            directories: self.directories.clone(),
            one_to_one: self
                .mappings
                .iter()
                .filter(|m| m.expires_at.is_none_or(|at| now < at) && revoked.binary_search(&m.id).is_err())
                .cloned()
                .collect(),
            // A few rules at most; the view holds no password to copy.
            many_to_one: self
                .many_to_one
                .iter()
                .map(|m| ManyToOne {
                    id: m.id,
                    name: m.name.clone(),
                    description: m.description.clone(),
                    enabled: m.enabled,
                    mode: m.mode,
                    user_name: m.user_name.clone(),
                    password: None,
                    has_password: m.has_password,
                    rules: m.rules.clone(),
                })
                .collect(),
        }
    }

    /// The enabled mappings a CRL held revokes, in id order: what the gateway formats and the
    /// snapshot leave out. Read from memory, not by joining the CRLs to the mappings table: that
    /// join scans the whole table (every site's mappings) whenever a CRL is held.
    pub fn revoked(&self, crls: &Held) -> Vec<i64> {
        if self.revocation.check == Check::Off {
            return Vec::new();
        }
        self.listed(crls, |l| {
            let revoked = |&(m, &code): &(&Arc<OneToOne>, &u32)| m.enabled && code == REVOKED;
            self.mappings.iter().zip(&l.codes).filter(revoked).map(|(m, _)| m.id).collect()
        })
    }

    /// What `crls.status` says of mapping `index`'s certificate under the site's policy.
    pub fn crl_status(&self, index: u32, crls: &Held, now: OffsetDateTime) -> Status {
        if self.revocation.check == Check::Off {
            return Status::NotChecked;
        }
        let listing = self.listed(crls, |l| match l.codes[index as usize] {
            NOT_HELD => Listing::NotHeld,
            REVOKED => {
                let c = self.mappings[index as usize].certificate.info();
                crls.index.listing(&c.issuer, &c.serial)
            }
            code => Listing::NotListed { next_update: l.next_updates[(code - 2) as usize] },
        });
        listing.status(now)
    }

    /// `f` of the listings for this load of the CRLs, worked out first if they are of another.
    fn listed<R>(&self, crls: &Held, f: impl FnOnce(&Listings) -> R) -> R {
        if let Some(held) = read(&self.listings).as_ref().filter(|l| l.crls == crls.id) {
            return f(held);
        }
        let built = Listings::of(&self.mappings, crls);
        let answer = f(&built);
        *write(&self.listings) = Some(built);
        answer
    }

    /// The stored certificate itself, for [`Self::decide`] when [`Self::decide_stored`] cannot
    /// answer: read from the database, since the cache keeps no certificate bytes.
    pub fn stored_certificate(conn: &mut PgConnection, site_id: i64, id: i64) -> Result<Certificate, ApiError> {
        let der = mappings::certificate(conn, site_id, id)?.ok_or(ApiError::NotFound { what: "mapping" })?;
        Certificate::from_der(&der).map_err(|_| ApiError::Internal(format!("mapping {id} holds a bad certificate")))
    }

    /// The snapshot's stamp as of `now`: the one kept while it holds, else worked out again
    /// without serializing anything.
    pub fn stamp(&self, now: OffsetDateTime, crls: &Held) -> Stamp {
        let mut kept = lock(&self.document);
        if let Some(k) = kept.as_ref().filter(|k| k.stamp.holds(now, crls)) {
            return k.stamp.clone();
        }
        let built = super::document::build(self, now, crls);
        let stamp = Stamp { tag: built.tag(self.revision), valid_until: built.valid_until, crls: crls.id };
        *kept = Some(Kept { stamp: stamp.clone(), bytes: Weak::new() });
        stamp
    }

    /// The snapshot document as of `now`: the bytes still on `shelf`, or built again (once per
    /// revision, when a mapping starts or stops being valid, when a new CRL is held, and when the
    /// shelf let them go). Built under the lock, so a fleet asking at once builds it once.
    pub fn document(&self, now: OffsetDateTime, crls: &Held, shelf: &DocumentShelf) -> Result<Arc<Document>, ApiError> {
        let mut kept = lock(&self.document);
        if let Some(doc) = kept.as_ref().filter(|k| k.stamp.holds(now, crls)).and_then(|k| k.bytes.upgrade()) {
            shelf.keep(&doc);
            return Ok(doc);
        }
        let built = super::document::build(self, now, crls);
        let json = serde_json::to_vec(&built.snapshot).map_err(|e| ApiError::Internal(format!("snapshot: {e}")))?;
        let stamp = Stamp { tag: built.tag(self.revision), valid_until: built.valid_until, crls: crls.id };
        let doc = Arc::new(Document { stamp: stamp.clone(), gzip: gzip(&json)?.into(), json: json.into() });
        *kept = Some(Kept { stamp, bytes: Arc::downgrade(&doc) });
        shelf.keep(&doc);
        Ok(doc)
    }
}

pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>, ApiError> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 4), flate2::Compression::default());
    encoder.write_all(bytes).and_then(|()| encoder.finish()).map_err(|e| ApiError::Internal(format!("gzip: {e}")))
}
