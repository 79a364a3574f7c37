//! What a gateway needs of a site, in one JSON document: the directories' policies and every
//! enabled, unexpired mapping, never a password. Stable order, so the same state gives the same
//! bytes, and an ETag so an unchanged site costs a 304.

use actix_web::http::header::{self, AcceptEncoding, ContentType, Encoding, Header};
use actix_web::{get, web, HttpRequest, HttpResponse};
use aws_lc_rs::digest;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::caller::{Access, Caller};
use super::directories::ClientCertificatesBody;
use super::etag::none_match;
use super::gateway_cache::{wait_of, Look};
use super::many_to_one::{PermissionModeBody, RuleBody};
use super::problem::ApiError;
use super::site_view::{Document, SiteView};
use super::sites::{LogonMethodBody, MappingSettingsBody};
use super::AppState;
use crate::domain::resolve::PermissionMode;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(site_snapshot).service(all_snapshots);
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

/// The document, how many enabled mappings time alone leaves out (part of the ETag, so a mapping
/// expiring changes the tag although the revision did not move), and the next instant that count
/// changes.
pub fn build(site: &SiteView, now: OffsetDateTime) -> (Snapshot, usize, Option<OffsetDateTime>) {
    let mut retired = 0;
    let mut valid_until: Option<OffsetDateTime> = None;
    let mut one_to_one = Vec::new();
    for m in site.mappings.iter().filter(|m| m.enabled) {
        // Certificate bounds are inclusive; a mapping's own expiry is not.
        let changes = [
            Some(m.not_before).filter(|&t| t > now),
            Some(m.not_after + time::Duration::nanoseconds(1)).filter(|&t| t > now),
            m.expires_at.filter(|&t| t > now),
        ];
        valid_until = changes.into_iter().flatten().chain(valid_until).min();
        if !(m.not_before <= now && now <= m.not_after && m.expires_at.is_none_or(|at| now < at)) {
            retired += 1;
            continue;
        }
        one_to_one.push(SnapshotMapping {
            id: m.id,
            user_name: m.user_name.clone(),
            sha1: m.sha1.clone(),
            sha256: m.sha256.clone(),
            spki_sha256: m.spki_sha256.clone(),
            subject: m.subject.clone(),
            issuer: m.issuer.clone(),
            serial: m.serial.clone(),
            not_after: m.not_after,
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
            user_name: m.user_name.clone(),
            rules: m.rules.iter().map(RuleBody::from).collect(),
            name: m.name.clone(),
        })
        .collect();
    let mapping = &site.settings;
    let snapshot = Snapshot {
        site_id: site.id,
        name: site.name.as_str().to_owned(),
        revision: site.revision,
        hostnames: site.hostnames.clone(),
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
    (snapshot, retired, valid_until)
}

/// With `If-None-Match`: how long to hold the request for a change.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Seconds (at most 60) to hold a request whose `If-None-Match` is current, answering as soon
    /// as the snapshot changes, or 304 when the time is up. Held requests cost no database
    /// connection and no thread.
    #[param(maximum = 60)]
    pub wait: Option<u32>,
}

/// Every snapshot the caller may read.
#[derive(Debug, Serialize, ToSchema)]
pub struct Snapshots {
    /// In site id order.
    pub sites: Vec<Snapshot>,
}

fn accepts_gzip(req: &HttpRequest) -> bool {
    AcceptEncoding::parse(req)
        .ok()
        .and_then(|accept| accept.negotiate([Encoding::gzip()].iter()))
        .is_some_and(|chosen| chosen == Encoding::gzip())
}

fn not_modified(tag: &str) -> HttpResponse {
    HttpResponse::NotModified().insert_header((header::ETAG, tag.to_owned())).finish()
}

/// The stored bytes as they are: gzipped once per revision, never per request.
fn document_response(doc: &Document, gzip: bool) -> HttpResponse {
    let mut builder = HttpResponse::Ok();
    builder
        .insert_header((header::ETAG, doc.tag.clone()))
        .insert_header((header::VARY, "Accept-Encoding"))
        .content_type(ContentType::json());
    if gzip {
        builder.insert_header((header::CONTENT_ENCODING, "gzip")).body(doc.gzip.clone())
    } else {
        builder.body(doc.json.clone())
    }
}

/// Get a site's gateway snapshot
///
/// Everything a gateway needs of the site, without passwords, from memory. `ETag` follows the
/// site's revision (and mappings expiring); `If-None-Match` with the current one answers 304 with
/// no body, at once or, with `wait`, when the time is up and nothing changed.
///
/// A token limited to other sites gets 404: a site it may not read does not exist for it.
#[utoipa::path(tag = "gateways", params(
        ("site_id" = i64, Path),
        ("If-None-Match" = Option<String>, Header, description = "The ETag of the snapshot you hold: 304 if unchanged"),
        WaitQuery,
    ),
    responses(
        (status = 200, body = Snapshot, headers(("ETag" = String))),
        (status = 304, description = "Unchanged since the ETag in If-None-Match"),
        (status = 404, response = super::problem::NotFound),
        (status = 422, response = super::problem::Unprocessable),
        (status = 503, response = super::problem::Unavailable),
    ))]
#[get("/sites/{site_id}/snapshot")]
pub async fn site_snapshot(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<i64>,
    query: web::Query<WaitQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.may_read_config()?;
    let site_id = path.into_inner();
    let gzip = accepts_gzip(&req);
    let (state, caller, req) = (&state, &caller, &req);
    state
        .cache
        .long_poll(Some(site_id), wait_of(query.wait)?, move || async move {
            let view = state.cache.view(&state.pool, site_id).await?;
            caller.check_site(view.name.as_str(), Access::Read)?;
            let doc = view.document(OffsetDateTime::now_utc())?;
            Ok(if none_match(req.headers(), &doc.tag) {
                Look::Unchanged { answer: not_modified(&doc.tag), recheck_at: doc.valid_until }
            } else {
                Look::Changed(document_response(&doc, gzip))
            })
        })
        .await
}

/// Get every site's gateway snapshots
///
/// Every site's snapshot the caller may read, in one document. Its `ETag` changes when any of
/// them does; `wait` holds the request until one changes.
///
/// A token limited to some sites gets only those.
#[utoipa::path(tag = "gateways", params(
        ("If-None-Match" = Option<String>, Header, description = "The ETag of the snapshots you hold: 304 if unchanged"),
        WaitQuery,
    ),
    responses(
        (status = 200, body = Snapshots, headers(("ETag" = String))),
        (status = 304, description = "Unchanged since the ETag in If-None-Match"),
        (status = 422, response = super::problem::Unprocessable),
        (status = 503, response = super::problem::Unavailable),
    ))]
#[get("/snapshot")]
pub async fn all_snapshots(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    query: web::Query<WaitQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.may_read_config()?;
    let (state, caller, req) = (&state, &caller, &req);
    state
        .cache
        .long_poll(None, wait_of(query.wait)?, move || async move {
            let now = OffsetDateTime::now_utc();
            let mut docs = Vec::new();
            for id in state.cache.site_ids(&state.pool).await? {
                match state.cache.view(&state.pool, id).await {
                    Ok(view) if caller.sees(view.name.as_str()) => docs.push((id, view.document(now)?)),
                    // Deleted since the list was read.
                    Ok(_) | Err(ApiError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            let mut tags = digest::Context::new(&digest::SHA256);
            for (id, doc) in &docs {
                tags.update(format!("{id}:{},", doc.tag).as_bytes());
            }
            let tag = format!("\"all-{}\"", &hex::encode(tags.finish())[..32]);
            if none_match(req.headers(), &tag) {
                let recheck_at = docs.iter().filter_map(|(_, d)| d.valid_until).min();
                return Ok(Look::Unchanged { answer: not_modified(&tag), recheck_at });
            }
            let mut body = Vec::with_capacity(docs.iter().map(|(_, d)| d.json.len() + 1).sum::<usize>() + 16);
            body.extend_from_slice(b"{\"sites\":[");
            for (i, (_, doc)) in docs.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(&doc.json);
            }
            body.extend_from_slice(b"]}");
            Ok(Look::Changed(
                HttpResponse::Ok().insert_header((header::ETAG, tag)).content_type(ContentType::json()).body(body),
            ))
        })
        .await
}
