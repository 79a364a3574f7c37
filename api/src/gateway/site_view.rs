//! A site as gateways see it, held in memory by the gateway cache: policies, mappings indexed by
//! fingerprint, many-to-one rules, and the snapshot document already serialized and gzipped. Built
//! from the stored certificate facts, so loading a large site parses no certificate.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use actix_web::web::Bytes;
use certmap_db::models::GatewayMapping;
use certmap_db::queries::{many_to_one, mappings, sites};
use certmap_db::PgConnection;
use flate2::write::GzEncoder;
use time::OffsetDateTime;

use super::revocations::Held;
use crate::domain::certificate::{Certificate, CertificateInfo};
use crate::domain::directory::DirectorySpec;
use crate::domain::names::SiteName;
use crate::domain::resolve::{
    resolve, resolve_before_rules, Decision, ManyToOneView, OneToOneView, PermissionMode, Rule,
};
use crate::domain::revocation::Policy;
use crate::domain::site::MappingSettings;
use crate::http::directories;
use crate::http::many_to_one::{mode_of, rules_of};
use crate::http::problem::ApiError;
use crate::http::sites::spec_of;

pub struct ManyToOneRule {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    pub mode: PermissionMode,
    pub user_name: Option<String>,
    pub rules: Vec<Rule>,
}

pub struct SiteView {
    pub id: i64,
    pub revision: i64,
    pub name: SiteName,
    pub hostnames: Vec<String>,
    pub settings: MappingSettings,
    pub revocation: Policy,
    /// The site's trusted CAs (DER) by subject, which certificates name as their issuer; loaded
    /// only when the policy asks OCSP, whose requests name the CA.
    pub issuers: HashMap<String, Vec<u8>>,
    /// Sorted by path.
    pub directories: Vec<DirectorySpec>,
    /// Every one-to-one mapping, enabled or not, in id order.
    pub mappings: Vec<GatewayMapping>,
    /// In id order: the order IIS evaluates them in.
    pub many_to_one: Vec<ManyToOneRule>,
    by_sha256: HashMap<String, usize>,
    by_sha1: HashMap<String, usize>,
    document: Mutex<Option<Arc<Document>>>,
}

/// The snapshot as sent: its ETag, its bytes plain and gzipped, and when time alone changes it.
pub struct Document {
    pub tag: String,
    pub json: Bytes,
    pub gzip: Bytes,
    /// The first instant a mapping starts or stops being valid; the document is rebuilt then.
    pub valid_until: Option<OffsetDateTime>,
    /// Which load of the CRLs it left revoked mappings out by; rebuilt after another.
    crls: u64,
}

impl SiteView {
    /// The site read in the caller's (repeatable read) transaction; `None` when it does not exist.
    pub fn load(conn: &mut PgConnection, site_id: i64) -> Result<Option<Self>, ApiError> {
        let Some(site) = sites::find(conn, site_id)? else {
            return Ok(None);
        };
        let spec = spec_of(&site)?;
        let directories =
            certmap_db::queries::directories::all(conn, site_id)?.iter().map(directories::spec_of).collect::<Result<Vec<_>, _>>()?;
        let many_to_one = many_to_one::all(conn, site_id)?
            .iter()
            .map(|row| {
                Ok(ManyToOneRule {
                    id: row.id,
                    name: row.name.clone(),
                    enabled: row.enabled,
                    mode: mode_of(row),
                    user_name: row.user_name.clone(),
                    rules: rules_of(row)?,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let issuers = match spec.revocation.check.asks_ocsp() {
            true => sites::trusted_cas(conn, site_id)?
                .into_iter()
                .filter_map(|der| Some((Certificate::from_der(&der).ok()?.info().subject.clone(), der)))
                .collect(),
            false => HashMap::new(),
        };
        let mappings = mappings::gateway_all(conn, site_id)?;
        let by_sha256 = mappings.iter().enumerate().map(|(i, m)| (m.sha256.clone(), i)).collect();
        let by_sha1 = mappings.iter().enumerate().map(|(i, m)| (m.sha1.clone(), i)).collect();
        Ok(Some(Self {
            id: site.id,
            revision: site.revision,
            name: spec.name,
            hostnames: spec.hostnames.iter().map(|h| h.as_str().to_owned()).collect(),
            settings: spec.mapping,
            revocation: spec.revocation,
            issuers,
            directories,
            mappings,
            many_to_one,
            by_sha256,
            by_sha1,
            document: Mutex::new(None),
        }))
    }

    /// The stored mapping with this SHA-256 or SHA-1 (lowercase hex).
    pub fn by_fingerprint(&self, fingerprint: &str) -> Option<&GatewayMapping> {
        let index = if fingerprint.len() == 64 { &self.by_sha256 } else { &self.by_sha1 };
        index.get(fingerprint).map(|&i| &self.mappings[i])
    }

    fn one_to_one_view(m: &GatewayMapping) -> OneToOneView<'_> {
        OneToOneView { id: m.id, enabled: m.enabled, user_name: &m.user_name, expires_at: m.expires_at }
    }

    /// What IIS would decide for a presented certificate: the same code as `resolve`.
    pub fn decide(&self, cert: &CertificateInfo, now: OffsetDateTime) -> Decision {
        let one = self.by_sha256.get(&cert.sha256).map(|&i| Self::one_to_one_view(&self.mappings[i]));
        let views: Vec<ManyToOneView<'_>> = self
            .many_to_one
            .iter()
            .map(|m| ManyToOneView {
                id: m.id,
                name: &m.name,
                enabled: m.enabled,
                mode: m.mode,
                user_name: m.user_name.as_deref(),
                rules: &m.rules,
            })
            .collect();
        resolve(cert, now, &self.settings, one, &views)
    }

    /// The decision for a stored certificate known only by fingerprint, when its validity and its
    /// one-to-one mapping settle it; `None` when many-to-one rules must see its names.
    pub fn decide_stored(&self, m: &GatewayMapping, now: OffsetDateTime) -> Option<Decision> {
        resolve_before_rules((m.not_before, m.not_after), now, &self.settings, Some(Self::one_to_one_view(m)))
    }

    /// The stored certificate itself, for [`Self::decide`] when [`Self::decide_stored`] cannot
    /// answer: read from the database, since the cache keeps no certificate bytes.
    pub fn stored_certificate(conn: &mut PgConnection, site_id: i64, id: i64) -> Result<Certificate, ApiError> {
        let der = mappings::certificate(conn, site_id, id)?.ok_or(ApiError::NotFound { what: "mapping" })?;
        Certificate::from_der(&der).map_err(|_| ApiError::Internal(format!("mapping {id} holds a bad certificate")))
    }

    /// The snapshot document as of `now`, built once per revision (and again when a mapping
    /// starts or stops being valid, or a new CRL is held).
    pub fn document(&self, now: OffsetDateTime, crls: &Held) -> Result<Arc<Document>, ApiError> {
        let mut slot = self.document.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(doc) =
            slot.as_ref().filter(|d| d.crls == crls.id && d.valid_until.is_none_or(|until| now < until))
        {
            return Ok(doc.clone());
        }
        let built = super::document::build(self, now, crls);
        let json = serde_json::to_vec(&built.snapshot).map_err(|e| ApiError::Internal(format!("snapshot: {e}")))?;
        let doc = Arc::new(Document {
            tag: built.tag(self.revision),
            gzip: gzip(&json)?.into(),
            json: json.into(),
            valid_until: built.valid_until,
            crls: crls.id,
        });
        *slot = Some(doc.clone());
        Ok(doc)
    }
}

pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>, ApiError> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 4), flate2::Compression::default());
    encoder.write_all(bytes).and_then(|()| encoder.finish()).map_err(|e| ApiError::Internal(format!("gzip: {e}")))
}
