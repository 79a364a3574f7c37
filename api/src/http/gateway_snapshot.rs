//! What a gateway needs of a site, in one JSON document: the directories' policies and every
//! enabled, unexpired mapping, never a password. Stable order, so the same state gives the same
//! bytes, and an ETag so an unchanged site costs a 304.

use actix_web::http::header::{self, AcceptEncoding, ContentType, Encoding, Header};
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::caller::{Access, Caller};
use super::etag::{none_match, NotModified};
use super::problem::ApiError;
use super::shared_body::shared;
use super::stale;
use super::AppState;
use crate::gateway::cache::{wait_of, Look};
use crate::gateway::document::{self, Snapshot, Snapshots};
use crate::gateway::site_view::Document;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(site_snapshot).service(all_snapshots);
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

fn accepts_gzip(req: &HttpRequest) -> bool {
    AcceptEncoding::parse(req)
        .ok()
        .and_then(|accept| accept.negotiate([Encoding::gzip()].iter()))
        .is_some_and(|chosen| chosen == Encoding::gzip())
}

/// The stored bytes as they are: gzipped once per revision, never per request, never copied whole
/// per connection.
fn document_response(doc: &Document, gzip: bool) -> HttpResponse {
    let mut builder = HttpResponse::Ok();
    builder
        .insert_header((header::ETAG, doc.stamp.tag.clone()))
        .insert_header((header::VARY, "Accept-Encoding"))
        .content_type(ContentType::json());
    if gzip {
        builder.insert_header((header::CONTENT_ENCODING, "gzip")).body(shared(doc.gzip.clone()))
    } else {
        builder.body(shared(doc.json.clone()))
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
        (status = 200, body = Snapshot, headers(("ETag" = String), ("X-Certmap-Stale" = Option<u64>, description = "Present when answered from memory while the database does not answer: whole seconds since it last did (see --serve-stale-for)"))),
        (status = 304, description = "Unchanged since the ETag in If-None-Match", headers(("X-Certmap-Stale" = Option<u64>, description = "Present when answered from memory while the database does not answer: whole seconds since it last did (see --serve-stale-for)"))),
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
    let (state, caller, req) = (&state, &caller, &req);
    state
        .cache
        .long_poll(Some(site_id), wait_of(query.wait)?, move || async move {
            let view = state.cache.view(&state.pool, site_id).await?;
            caller.check_site(view.name.as_str(), Access::Read)?;
            let crls = state.cache.revocations(&state.pool).await?;
            let now = OffsetDateTime::now_utc();
            // A 304 needs only the stamp, which is kept even when the bytes were let go.
            let stamp = view.stamp(now, &crls);
            if none_match(req.headers(), &stamp.tag) {
                return Ok(Look::Unchanged { answer: NotModified(stamp.tag), recheck_at: stamp.valid_until });
            }
            let doc = state.cache.document(&view, now, &crls)?;
            // Negotiated only for a body: a 304 sends none.
            Ok(Look::Changed(document_response(&doc, accepts_gzip(req))))
        })
        .await
        .map(|response| stale::mark(state, response))
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
        (status = 200, body = Snapshots, headers(("ETag" = String), ("X-Certmap-Stale" = Option<u64>, description = "Present when answered from memory while the database does not answer: whole seconds since it last did (see --serve-stale-for)"))),
        (status = 304, description = "Unchanged since the ETag in If-None-Match", headers(("X-Certmap-Stale" = Option<u64>, description = "Present when answered from memory while the database does not answer: whole seconds since it last did (see --serve-stale-for)"))),
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
            let docs = document::visible(&state.cache, &state.pool, |name| caller.sees(name)).await?;
            let tag = docs.tag();
            if none_match(req.headers(), &tag) {
                return Ok(Look::Unchanged { answer: NotModified(tag), recheck_at: docs.valid_until() });
            }
            Ok(Look::Changed(
                HttpResponse::Ok()
                    .insert_header((header::ETAG, tag))
                    .content_type(ContentType::json())
                    .body(docs.json(&state.cache)?),
            ))
        })
        .await
        .map(|response| stale::mark(state, response))
}
