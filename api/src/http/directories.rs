//! Directories: a site's paths with their SSL and authentication settings. Never a place for
//! certificate mapping — IIS ignores it there and answers 401.2.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use certmap_db::models::{Directory, DirectoryValues, Site};
use certmap_db::queries::directories as q;
use certmap_db::PgConnection;
use diesel::QueryResult;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::caller::Caller;
use super::extract::Json;
use super::pagination::{PageQuery, Paginated};
use super::problem::ApiError;
use super::sites::require_site;
use super::write::{Names, SiteResource, Writer};
use super::{db, AppState};
use crate::domain::directory::{ClientCertificates, DirectoryPolicy, DirectorySpec};
use crate::domain::names::VirtualPath;
use crate::domain::site::mapping_not_at_site_root;
use crate::domain::violation::{Collector, Invalid};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_directories)
        .service(create_directory)
        .service(get_directory)
        .service(update_directory)
        .service(delete_directory)
        .service(refuse_directory_mappings);
}

/// IIS Manager's SSL Settings → Client certificates.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClientCertificatesBody {
    Ignore,
    Accept,
    Require,
}

impl From<ClientCertificatesBody> for ClientCertificates {
    fn from(c: ClientCertificatesBody) -> Self {
        match c {
            ClientCertificatesBody::Ignore => Self::Ignore,
            ClientCertificatesBody::Accept => Self::Accept,
            ClientCertificatesBody::Require => Self::Require,
        }
    }
}

impl From<ClientCertificates> for ClientCertificatesBody {
    fn from(c: ClientCertificates) -> Self {
        match c {
            ClientCertificates::Ignore => Self::Ignore,
            ClientCertificates::Accept => Self::Accept,
            ClientCertificates::Require => Self::Require,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DirectoryBody {
    pub id: i64,
    pub site_id: i64,
    /// Normalized virtual path: leading `/`, no trailing `/`.
    #[schema(example = "/secure")]
    pub path: String,
    pub require_ssl: bool,
    pub client_certificates: ClientCertificatesBody,
    pub anonymous_auth: bool,
    pub basic_auth: bool,
    pub windows_auth: bool,
    pub digest_auth: bool,
    /// The `access@sslFlags` IIS gets for this directory.
    #[schema(example = "Ssl, SslNegotiateCert, SslRequireCert")]
    pub ssl_flags: String,
    pub revision: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Fields omitted on create take IIS's defaults (no SSL requirement, certificates ignored,
/// anonymous on, other schemes off). A directory that requires client certificates must have
/// require_ssl true and every other authentication scheme off.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"path": "/secure", "require_ssl": true, "client_certificates": "require", "anonymous_auth": false}))]
pub struct DirectoryInput {
    /// Required on create.
    pub path: Option<String>,
    pub require_ssl: Option<bool>,
    pub client_certificates: Option<ClientCertificatesBody>,
    pub anonymous_auth: Option<bool>,
    pub basic_auth: Option<bool>,
    pub windows_auth: Option<bool>,
    pub digest_auth: Option<bool>,
    /// Never accepted: certificate mapping is configured on the site. IIS answers 401.2
    /// (0x80070005) when it is configured on a directory, so sending this field is refused with
    /// 422 `mapping-not-at-site-root`.
    #[serde(default, deserialize_with = "super::serde_util::present")]
    #[schema(value_type = Option<Object>)]
    pub certificate_mapping: Option<Option<serde_json::Value>>,
    /// Never accepted, for the same reason: mappings belong to the site (`/sites/{site_id}/mappings`).
    #[serde(default, deserialize_with = "super::serde_util::present")]
    #[schema(value_type = Option<Object>)]
    pub mappings: Option<Option<serde_json::Value>>,
}

impl DirectoryInput {
    /// Mapping settings sent to a directory are wrong whatever the directory holds, so they are
    /// refused before anything is read: before `If-Match` too, which would otherwise answer a
    /// request that can never succeed with 412 and send the client to retry it.
    fn refuse_mapping_settings(&self) -> Result<(), Invalid> {
        let mut errors = Collector::default();
        if self.certificate_mapping.is_some() {
            errors.push(mapping_not_at_site_root("certificate_mapping"));
        }
        if self.mappings.is_some() {
            errors.push(mapping_not_at_site_root("mappings"));
        }
        errors.finish(|| ())
    }

    /// The request applied over `current` (IIS defaults on create), with every rule checked.
    fn apply(self, current: Option<DirectorySpec>) -> Result<DirectorySpec, Invalid> {
        self.refuse_mapping_settings()?;
        let mut errors = Collector::default();
        let (path, mut policy) = match current {
            Some(c) => (Some(c.path), c.policy),
            None => (None, DirectoryPolicy::default()),
        };
        let path = match (self.path, path) {
            (Some(p), _) => errors.take(VirtualPath::parse(&p).map_err(|r| r.at("path"))),
            (None, Some(p)) => Some(p),
            (None, None) => {
                errors.push(crate::domain::violation::Rejection::new("missing-field", "path is required").at("path"));
                None
            }
        };
        policy.require_ssl = self.require_ssl.unwrap_or(policy.require_ssl);
        policy.client_certificates = self.client_certificates.map_or(policy.client_certificates, Into::into);
        policy.anonymous_auth = self.anonymous_auth.unwrap_or(policy.anonymous_auth);
        policy.basic_auth = self.basic_auth.unwrap_or(policy.basic_auth);
        policy.windows_auth = self.windows_auth.unwrap_or(policy.windows_auth);
        policy.digest_auth = self.digest_auth.unwrap_or(policy.digest_auth);
        errors.take_all(policy.check());
        errors.finish(|| DirectorySpec { path: path.expect("checked"), policy })
    }
}

pub fn spec_of(row: &Directory) -> Result<DirectorySpec, ApiError> {
    let corrupt = || ApiError::Internal(format!("directory {} holds invalid settings", row.id));
    Ok(DirectorySpec {
        path: VirtualPath::parse(&row.path).map_err(|_| corrupt())?,
        policy: DirectoryPolicy {
            require_ssl: row.require_ssl,
            client_certificates: row.client_certificates.parse().map_err(|_| corrupt())?,
            anonymous_auth: row.anonymous_auth,
            basic_auth: row.basic_auth,
            windows_auth: row.windows_auth,
            digest_auth: row.digest_auth,
        },
    })
}

pub(super) fn values_of(spec: &DirectorySpec) -> DirectoryValues {
    let p = spec.policy;
    DirectoryValues {
        path: spec.path.as_str().to_owned(),
        require_ssl: p.require_ssl,
        client_certificates: p.client_certificates.as_str().to_owned(),
        anonymous_auth: p.anonymous_auth,
        basic_auth: p.basic_auth,
        windows_auth: p.windows_auth,
        digest_auth: p.digest_auth,
    }
}

impl TryFrom<Directory> for DirectoryBody {
    type Error = ApiError;

    fn try_from(row: Directory) -> Result<Self, ApiError> {
        let policy = spec_of(&row)?.policy;
        Ok(Self {
            id: row.id,
            site_id: row.site_id,
            path: row.path,
            require_ssl: policy.require_ssl,
            client_certificates: policy.client_certificates.into(),
            anonymous_auth: policy.anonymous_auth,
            basic_auth: policy.basic_auth,
            windows_auth: policy.windows_auth,
            digest_auth: policy.digest_auth,
            ssl_flags: policy.ssl_flags().to_owned(),
            revision: row.revision,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

impl SiteResource for Directory {
    type Body = DirectoryBody;
    const NAMES: Names = Names { what: "directory", audit: "directory", collection: "directories" };

    fn lock(conn: &mut PgConnection, site: &Site, id: i64) -> QueryResult<Option<Self>> {
        q::lock(conn, site.id, id)
    }
}

/// List a site's directories
///
/// Each directory with its SSL and authentication settings and the `ssl_flags` IIS gets for it.
/// Paged in id order, which stays stable while items are added: `limit` per page (default 50, at
/// most 500); pass the answer's `next_cursor` as `cursor` for the next page; `next_cursor` is null
/// on the last page.
///
/// 404 when the site does not exist, also for a token limited to other sites (a site it may not
/// read does not exist for it).
#[utoipa::path(tag = "directories", params(("site_id" = i64, Path), PageQuery), responses(
    (status = 200, body = Paginated<DirectoryBody>),
    (status = 404, response = super::problem::NotFound),
    (status = 422, response = super::problem::Unprocessable),
    (status = 503, response = super::problem::Unavailable),
))]
#[get("/sites/{site_id}/directories")]
pub async fn list_directories(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.may_read()?;
    let site_id = path.into_inner();
    let page = page.page()?;
    let rows = db::run(&state.pool, move |conn| {
        require_site(conn, site_id, &caller)?;
        Ok(q::page(conn, site_id, page.after, page.limit)?)
    })
    .await?;
    let items = rows.into_iter().map(DirectoryBody::try_from).collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(Paginated::new(items, page.limit, |d| d.id)))
}

/// Add a directory to a site
///
/// Its SSL and authentication settings must satisfy IIS's scoping rules, or it is refused with 422:
/// `client-cert-requires-ssl`, `secured-directory-allows-other-auth`, or `mapping-not-at-site-root`
/// when mapping settings are sent here instead of to the site.
///
/// Paths are unique per site, compared case-insensitively as IIS does (409 `duplicate-path`). 201
/// with `Location` and the directory's `ETag`. The site's revision moves (so its ETag, rendered
/// config and gateway snapshots change) and the change is audited.
///
/// 404 when the site does not exist. A token limited to other sites gets 403, also for a site id
/// that does not exist (a 404 would tell it which ids exist).
#[utoipa::path(tag = "directories", params(("site_id" = i64, Path)), request_body = DirectoryInput, responses(
    (status = 201, body = DirectoryBody, headers(("Location" = String), ("ETag" = String))),
    (status = 400, response = super::problem::BadRequest),
    (status = 404, response = super::problem::NotFound),
    (status = 409, response = super::problem::Conflict),
    (status = 413, response = super::problem::TooLarge),
    (status = 415, response = super::problem::UnsupportedMedia),
    (status = 422, response = super::problem::Unprocessable),
    (status = 503, response = super::problem::Unavailable),
))]
#[post("/sites/{site_id}/directories")]
pub async fn create_directory(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
    Json(body): Json<DirectoryInput>,
) -> Result<HttpResponse, ApiError> {
    let writer = Writer::admit(&state, caller)?;
    let site_id = path.into_inner();
    let values = values_of(&body.apply(None)?);
    let row = writer.create(site_id, move |conn| Ok(q::insert(conn, site_id, &values)?)).await?;
    row.answer_created(site_id)
}

/// Get a directory
///
/// The directory's SSL and authentication settings, the `ssl_flags` IIS gets for it, and its `ETag`
/// (the directory's revision) to send as `If-Match` with PATCH or DELETE.
///
/// 404 when the site or the directory does not exist, or the directory is on another site; a token
/// limited to other sites gets 404 for the site too.
#[utoipa::path(tag = "directories", params(("site_id" = i64, Path), ("directory_id" = i64, Path)), responses(
    (status = 200, body = DirectoryBody, headers(("ETag" = String))),
    (status = 404, response = super::problem::NotFound),
    (status = 503, response = super::problem::Unavailable),
))]
#[get("/sites/{site_id}/directories/{directory_id}")]
pub async fn get_directory(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    caller.may_read()?;
    let (site_id, id) = path.into_inner();
    let row = db::run(&state.pool, move |conn| {
        require_site(conn, site_id, &caller)?;
        q::find(conn, site_id, id)?.ok_or_else(Directory::not_found)
    })
    .await?;
    row.answer()
}

/// Change a directory
///
/// Fields left out keep their values. The merged result must satisfy every scoping rule (422, as
/// for a create); mapping settings are refused here (`mapping-not-at-site-root`). The site's
/// revision moves (so its ETag, rendered config and gateway snapshots change) and the change is
/// audited.
///
/// `If-Match` is optional: without it the change applies to whatever is current; with the `ETag` of
/// a previous GET (or `*`), a change made since is refused with 412 `precondition-failed`, whose
/// detail names the current ETag, and nothing is written.
///
/// 404 when the directory does not exist. A token limited to other sites gets 403, also for a site
/// id that does not exist (a 404 would tell it which ids exist).
#[utoipa::path(tag = "directories", params(("site_id" = i64, Path), ("directory_id" = i64, Path),
    ("If-Match" = Option<String>, Header, description = "ETag from a previous GET")),
    request_body = DirectoryInput, responses(
    (status = 200, body = DirectoryBody, headers(("ETag" = String))),
    (status = 400, response = super::problem::BadRequest),
    (status = 404, response = super::problem::NotFound),
    (status = 409, response = super::problem::Conflict),
    (status = 412, response = super::problem::PreconditionFailed),
    (status = 413, response = super::problem::TooLarge),
    (status = 415, response = super::problem::UnsupportedMedia),
    (status = 422, response = super::problem::Unprocessable),
    (status = 503, response = super::problem::Unavailable),
))]
#[patch("/sites/{site_id}/directories/{directory_id}")]
pub async fn update_directory(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(i64, i64)>,
    Json(body): Json<DirectoryInput>,
) -> Result<HttpResponse, ApiError> {
    let writer = Writer::admit(&state, caller)?;
    let (site_id, id) = path.into_inner();
    body.refuse_mapping_settings()?;
    let row = writer
        .update(&req, site_id, id, move |conn, _, current: &Directory| {
            let spec = body.apply(Some(spec_of(current)?))?;
            Ok(q::update(conn, site_id, id, &values_of(&spec))?)
        })
        .await?;
    row.answer()
}

/// Delete a directory
///
/// Removes the directory and its SSL and authentication settings: requests to its path are then
/// governed by the enclosing directory or the site root. Mappings belong to the site, not to a
/// directory, and stay. The site's revision moves (so its ETag, rendered config and gateway
/// snapshots change) and the audit log keeps the directory as it was.
///
/// `If-Match` is optional: without it the change applies to whatever is current; with the `ETag` of
/// a previous GET (or `*`), a change made since is refused with 412 `precondition-failed`, whose
/// detail names the current ETag, and nothing is written.
///
/// 404 when the directory does not exist (a repeated DELETE answers 404). A token limited to other
/// sites gets 403, also for a site id that does not exist (a 404 would tell it which ids exist).
#[utoipa::path(tag = "directories", params(("site_id" = i64, Path), ("directory_id" = i64, Path),
    ("If-Match" = Option<String>, Header, description = "ETag from a previous GET")), responses(
    (status = 204, description = "Deleted"),
    (status = 404, response = super::problem::NotFound),
    (status = 412, response = super::problem::PreconditionFailed),
    (status = 503, response = super::problem::Unavailable),
))]
#[delete("/sites/{site_id}/directories/{directory_id}")]
pub async fn delete_directory(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let writer = Writer::admit(&state, caller)?;
    let (site_id, id) = path.into_inner();
    writer.delete::<Directory>(&req, site_id, id, move |conn| q::delete(conn, site_id, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Refused: mappings belong to the site, not a directory
///
/// Always refused: this is where the field report's author configured the mapping, and why IIS
/// answered 401.2 / 0x80070005. Post mappings to `/sites/{site_id}/mappings` instead.
///
/// Nothing is stored: the answer is 422 `mapping-not-at-site-root`, or 404 when the site or
/// directory does not exist (also when the token is limited to other sites).
#[utoipa::path(tag = "directories", params(("site_id" = i64, Path), ("directory_id" = i64, Path)), responses(
    (status = 404, response = super::problem::NotFound),
    (status = 422, response = super::problem::Unprocessable),
    (status = 503, response = super::problem::Unavailable),
))]
#[post("/sites/{site_id}/directories/{directory_id}/mappings")]
pub async fn refuse_directory_mappings(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    caller.may_read()?;
    let (site_id, id) = path.into_inner();
    db::run(&state.pool, move |conn| {
        require_site(conn, site_id, &caller)?;
        q::find(conn, site_id, id)?.ok_or_else(Directory::not_found)
    })
    .await?;
    Err(mapping_not_at_site_root("directory_id").into())
}
