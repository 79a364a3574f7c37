//! What a gateway needs of a site, in one JSON document: the directories' policies and every
//! enabled, unexpired mapping, never a password. Stable order, so the same state gives the same
//! bytes, and an ETag so an unchanged site costs a 304.

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::caller::Caller;
use super::directories::ClientCertificatesBody;
use super::etag::none_match;
use super::many_to_one::{PermissionModeBody, RuleBody};
use super::problem::ApiError;
use super::sites::{LogonMethodBody, MappingSettingsBody};
use super::{db, AppState};
use crate::domain::certificate::Validity;
use crate::domain::resolve::PermissionMode;
use crate::render::SiteSnapshot;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(site_snapshot);
}

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

#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotMapping {
    pub id: i64,
    pub user_name: String,
    pub sha1: String,
    pub sha256: String,
    pub spki_sha256: String,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
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
pub struct Snapshot {
    pub site_id: i64,
    pub name: String,
    pub revision: i64,
    pub hostnames: Vec<String>,
    pub certificate_mapping: MappingSettingsBody,
    /// Sorted by path.
    pub directories: Vec<DirectoryPolicyBody>,
    /// Enabled mappings whose certificate and mapping are valid now, sorted by id.
    pub one_to_one: Vec<SnapshotMapping>,
    /// Enabled many-to-one mappings in evaluation order (a matching deny wins).
    pub many_to_one: Vec<SnapshotManyToOne>,
}

/// The document and how many mappings time alone left out: that count is part of the ETag, so
/// a mapping expiring changes the tag even though the revision did not move.
fn build(site: SiteSnapshot, now: OffsetDateTime) -> (Snapshot, usize) {
    let mut expired = 0;
    let one_to_one = site
        .one_to_one
        .into_iter()
        .filter(|m| m.enabled)
        .filter(|m| {
            let valid = m.certificate.validity_at(now) == Validity::Valid && m.expires_at.is_none_or(|at| now < at);
            expired += usize::from(!valid);
            valid
        })
        .map(|m| {
            let i = m.certificate.info();
            SnapshotMapping {
                id: m.id,
                user_name: m.user_name.as_str().to_owned(),
                sha1: i.sha1.clone(),
                sha256: i.sha256.clone(),
                spki_sha256: i.spki_sha256.clone(),
                subject: i.subject.clone(),
                issuer: i.issuer.clone(),
                serial: i.serial.clone(),
                not_after: i.not_after,
                expires_at: m.expires_at,
            }
        })
        .collect();
    let many_to_one = site
        .many_to_one
        .into_iter()
        .filter(|m| m.enabled)
        .map(|m| SnapshotManyToOne {
            id: m.id,
            permission_mode: match m.mode {
                PermissionMode::Allow => PermissionModeBody::Allow,
                PermissionMode::Deny => PermissionModeBody::Deny,
            },
            user_name: m.user_name.map(|u| u.as_str().to_owned()),
            rules: m.rules.iter().map(RuleBody::from).collect(),
            name: m.name,
        })
        .collect();
    let mapping = site.mapping;
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
    (snapshot, expired)
}

/// Everything a gateway needs of the site, without passwords. `ETag` follows the site's revision
/// (and mappings expiring); `If-None-Match` with the current one answers 304 with no body.
#[utoipa::path(tag = "gateways", params(
        ("site_id" = i64, Path),
        ("If-None-Match" = Option<String>, Header, description = "The ETag of the snapshot you hold: 304 if unchanged"),
    ),
    responses(
        (status = 200, body = Snapshot, headers(("ETag" = String))),
        (status = 304, description = "Unchanged since the ETag in If-None-Match"),
        (status = 404, response = super::problem::NotFound),
        (status = 503, response = super::problem::Unavailable),
    ))]
#[get("/sites/{site_id}/snapshot")]
pub async fn site_snapshot(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.may_read_config()?;
    let site_id = path.into_inner();
    let site = db::run(&state.pool, move |conn| {
        conn.build_transaction().repeatable_read().run(|conn| super::snapshot::load(conn, site_id, &caller, None))
    })
    .await?;
    let (snapshot, expired) = build(site, OffsetDateTime::now_utc());
    let tag = format!("\"{}-{expired}\"", snapshot.revision);
    if none_match(req.headers(), &tag) {
        return Ok(HttpResponse::NotModified().insert_header((header::ETAG, tag)).finish());
    }
    Ok(HttpResponse::Ok().insert_header((header::ETAG, tag)).json(snapshot))
}
