//! The snapshot document: what a gateway needs of a site, in one JSON document — the directories'
//! policies and every enabled mapping valid now and not revoked, never a password. Stable order,
//! so the same state gives the same bytes and the same ETag.

use std::sync::Arc;

use aws_lc_rs::digest;
use certmap_db::PgPool;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::cache::GatewayCache;
use super::revocations::Held;
use super::site_view::{SiteView, Stamp};
use crate::domain::resolve::PermissionMode;
use crate::http::directories::ClientCertificatesBody;
use crate::http::many_to_one::{PermissionModeBody, RuleBody};
use crate::http::problem::ApiError;
use crate::http::sites::{LogonMethodBody, MappingSettingsBody};

#[derive(Debug, Serialize, ToSchema)]
pub struct DirectoryPolicyBody {
    pub path: String,
    pub require_ssl: bool,
    pub client_certificates: ClientCertificatesBody,
    pub anonymous_auth: bool,
    pub basic_auth: bool,
    pub windows_auth: bool,
    pub digest_auth: bool,
    pub ssl_flags: String,
}

// Borrowed from the cached site: the document of a site of 100,000 mappings is serialized once
// per revision, and copying every field first would double what that costs in memory.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotMapping<'a> {
    pub id: i64,
    pub user_name: &'a str,
    pub sha1: &'a str,
    pub sha256: &'a str,
    pub spki_sha256: &'a str,
    pub subject: &'a str,
    pub issuer: &'a str,
    pub serial: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotManyToOne {
    pub id: i64,
    pub name: String,
    pub permission_mode: PermissionModeBody,
    pub user_name: Option<String>,
    pub rules: Vec<RuleBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Snapshot<'a> {
    pub site_id: i64,
    pub name: String,
    pub revision: i64,
    pub hostnames: Vec<String>,
    pub certificate_mapping: MappingSettingsBody,
    /// Sorted by path.
    pub directories: Vec<DirectoryPolicyBody>,
    /// Enabled mappings whose certificate and mapping are valid now, sorted by id.
    pub one_to_one: Vec<SnapshotMapping<'a>>,
    /// Enabled many-to-one mappings in evaluation order (a matching deny wins).
    pub many_to_one: Vec<SnapshotManyToOne>,
}

/// A document as built, with what its ETag must reflect beyond the site's revision.
pub struct Built<'a> {
    pub snapshot: Snapshot<'a>,
    /// How many enabled mappings time alone leaves out, so a mapping expiring changes the tag
    /// although the revision did not move.
    pub retired: usize,
    /// The mappings left out because their certificate is revoked, in id order.
    pub revoked: Vec<i64>,
    /// The next instant time alone changes the document.
    pub valid_until: Option<OffsetDateTime>,
}

impl Built<'_> {
    /// `"revision-retired"`, and a digest of the revoked mappings once there are any, so a new CRL
    /// revoking a mapped certificate moves the tag.
    pub fn tag(&self, revision: i64) -> String {
        if self.revoked.is_empty() {
            return format!("\"{revision}-{}\"", self.retired);
        }
        let ids: Vec<String> = self.revoked.iter().map(i64::to_string).collect();
        let digest = digest::digest(&digest::SHA256, ids.join(",").as_bytes());
        format!("\"{revision}-{}-r{}\"", self.retired, &hex::encode(digest)[..16])
    }
}

pub fn build<'a>(site: &'a SiteView, now: OffsetDateTime, crls: &Held) -> Built<'a> {
    let mut retired = 0;
    let revoked = site.revoked(crls);
    let mut valid_until: Option<OffsetDateTime> = None;
    let mut one_to_one = Vec::new();
    for m in site.mappings.iter().filter(|m| m.enabled) {
        if revoked.binary_search(&m.id).is_ok() {
            continue;
        }
        let c = m.certificate.info();
        // Certificate bounds are inclusive; a mapping's own expiry is not.
        let changes = [
            Some(c.not_before).filter(|&t| t > now),
            Some(c.not_after + time::Duration::nanoseconds(1)).filter(|&t| t > now),
            m.expires_at.filter(|&t| t > now),
        ];
        valid_until = changes.into_iter().flatten().chain(valid_until).min();
        if !(c.not_before <= now && now <= c.not_after && m.expires_at.is_none_or(|at| now < at)) {
            retired += 1;
            continue;
        }
        one_to_one.push(SnapshotMapping {
            id: m.id,
            user_name: m.user_name.as_str(),
            sha1: &c.sha1,
            sha256: &c.sha256,
            spki_sha256: &c.spki_sha256,
            subject: &c.subject,
            issuer: &c.issuer,
            serial: &c.serial,
            not_after: c.not_after,
            expires_at: m.expires_at,
        });
    }
    let many_to_one = site
        .many_to_one
        .iter()
        .filter(|m| m.enabled)
        .map(|m| SnapshotManyToOne {
            id: m.id,
            permission_mode: match m.mode {
                PermissionMode::Allow => PermissionModeBody::Allow,
                PermissionMode::Deny => PermissionModeBody::Deny,
            },
            user_name: m.user_name.as_ref().map(|u| u.as_str().to_owned()),
            rules: m.rules.iter().map(RuleBody::from).collect(),
            name: m.name.clone(),
        })
        .collect();
    let mapping = &site.settings;
    let snapshot = Snapshot {
        site_id: site.id,
        name: site.name.as_str().to_owned(),
        revision: site.revision,
        hostnames: site.hostnames.iter().map(|h| h.as_str().to_owned()).collect(),
        certificate_mapping: MappingSettingsBody {
            enabled: mapping.enabled,
            one_to_one_enabled: mapping.one_to_one_enabled,
            many_to_one_enabled: mapping.many_to_one_enabled,
            logon_method: LogonMethodBody::from(mapping.logon_method),
            default_logon_domain: mapping.default_logon_domain.as_str().to_owned(),
            revocation: site.revocation.into(),
        },
        directories: site
            .directories
            .iter()
            .map(|d| DirectoryPolicyBody {
                path: d.path.as_str().to_owned(),
                require_ssl: d.policy.require_ssl,
                client_certificates: d.policy.client_certificates.into(),
                anonymous_auth: d.policy.anonymous_auth,
                basic_auth: d.policy.basic_auth,
                windows_auth: d.policy.windows_auth,
                digest_auth: d.policy.digest_auth,
                ssl_flags: d.policy.ssl_flags().to_owned(),
            })
            .collect(),
        one_to_one,
        many_to_one,
    };
    Built { snapshot, retired, revoked, valid_until }
}

/// Every snapshot the caller may read.
#[derive(Debug, Serialize, ToSchema)]
pub struct Snapshots {
    /// In site id order.
    pub sites: Vec<Snapshot<'static>>,
}

/// Every site a caller may read, in site id order, with its document's stamp as of one instant.
pub struct Visible {
    now: OffsetDateTime,
    crls: Arc<Held>,
    sites: Vec<(i64, Arc<SiteView>, Stamp)>,
}

/// Read from the cache; `sees` says which site names the caller may read.
pub async fn visible(cache: &GatewayCache, pool: &PgPool, sees: impl Fn(&str) -> bool) -> Result<Visible, ApiError> {
    let now = OffsetDateTime::now_utc();
    let crls = cache.revocations(pool).await?;
    let mut sites = Vec::new();
    for id in cache.site_ids(pool).await? {
        match cache.view(pool, id).await {
            Ok(view) if sees(view.name.as_str()) => {
                let stamp = view.stamp(now, &crls);
                sites.push((id, view, stamp));
            }
            // Deleted since the list was read.
            Ok(_) | Err(ApiError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Visible { now, crls, sites })
}

impl Visible {
    /// Changes when any site's tag does, or the set of sites does.
    pub fn tag(&self) -> String {
        let mut tags = digest::Context::new(&digest::SHA256);
        for (id, _, stamp) in &self.sites {
            tags.update(format!("{id}:{},", stamp.tag).as_bytes());
        }
        format!("\"all-{}\"", &hex::encode(tags.finish())[..32])
    }

    /// When time alone next changes one of the documents.
    pub fn valid_until(&self) -> Option<OffsetDateTime> {
        self.sites.iter().filter_map(|(_, _, s)| s.valid_until).min()
    }

    /// `{"sites":[...]}` joined from each site's document as of the same instant as the stamps
    /// (so the same bytes the tag stands for), one at a time: never every document held at once.
    pub fn json(&self, cache: &GatewayCache) -> Result<Vec<u8>, ApiError> {
        let mut body = b"{\"sites\":[".to_vec();
        for (i, (_, view, _)) in self.sites.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&cache.document(view, self.now, &self.crls)?.json);
        }
        body.extend_from_slice(b"]}");
        Ok(body)
    }
}
