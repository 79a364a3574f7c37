//! The audit log: every write, by whom, from where, before and after (never a secret), written in
//! the same transaction as the change so a refused write leaves no row.

use actix_web::{get, web, HttpResponse};
use certmap_db::models::{AuditEvent, NewAuditEvent};
use certmap_db::queries::audit as q;
use certmap_db::PgConnection;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::caller::Caller;
use super::pagination::{PageQuery, Paginated};
use super::problem::ApiError;
use super::{db, AppState};
use crate::domain::violation::{Invalid, Rejection};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_audit);
}

/// One change to record. `before`/`after` are the API's own representations, which carry
/// `has_password` but never a password.
pub struct Change<'a> {
    pub action: &'a str,
    pub site_id: Option<i64>,
    pub resource: &'a str,
    pub resource_id: Option<i64>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

pub fn json<T: Serialize>(value: &T) -> Option<serde_json::Value> {
    serde_json::to_value(value).ok()
}

pub fn record(conn: &mut PgConnection, caller: &Caller, change: Change<'_>) -> Result<(), ApiError> {
    q::insert(
        conn,
        &NewAuditEvent {
            actor: caller.actor(),
            role: caller.role.as_str().into(),
            action: change.action.into(),
            site_id: change.site_id,
            resource: change.resource.into(),
            resource_id: change.resource_id,
            before: change.before,
            after: change.after,
            remote_addr: caller.address.map(|a| a.to_string()),
        },
    )?;
    Ok(())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventBody {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `token:<subject>`.
    pub actor: String,
    pub role: String,
    #[schema(example = "mapping.create")]
    pub action: String,
    pub site_id: Option<i64>,
    pub resource: String,
    pub resource_id: Option<i64>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub remote_addr: Option<String>,
}

impl From<AuditEvent> for AuditEventBody {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor: e.actor,
            role: e.role,
            action: e.action,
            site_id: e.site_id,
            resource: e.resource,
            resource_id: e.resource_id,
            before: e.before,
            after: e.after,
            remote_addr: e.remote_addr,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    pub site_id: Option<i64>,
    /// Exactly as events show it, e.g. `token:alice` or `client-cert:gw1`.
    pub actor: Option<String>,
    /// RFC 3339: events at or after this instant.
    pub since: Option<String>,
}

/// List the audit log
///
/// Every change, and every admin read of passwords, newest first: who (`actor`, `role`,
/// `remote_addr`), what (`action`, `resource`) and the resource before and after. Passwords never
/// appear in it. The log is append-only; events of a deleted site stay.
///
/// Admins only: any other role gets 403. An admin token limited to some sites sees only the events
/// of those sites (as they exist now): events of other sites, of deleted sites and without a site
/// do not exist for it. Filter by `site_id`, `actor` (as events show it, e.g. `token:alice`) and
/// `since` (RFC 3339, inclusive).
/// Paged newest first: `limit` per page (default 50, at most 500); pass the answer's `next_cursor`
/// as `cursor` for older events; `next_cursor` is null on the last page.
#[utoipa::path(tag = "audit", params(AuditFilter, PageQuery), responses(
    (status = 200, body = Paginated<AuditEventBody>),
    (status = 401, response = super::problem::Unauthorized),
    (status = 403, response = super::problem::Forbidden),
    (status = 422, response = super::problem::Unprocessable),
    (status = 503, response = super::problem::Unavailable),
))]
#[get("/audit")]
pub async fn list_audit(
    state: web::Data<AppState>,
    caller: Caller,
    filter: web::Query<AuditFilter>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.may_administer()?;
    let page = page.page()?;
    let filter = filter.into_inner();
    let since = match &filter.since {
        Some(s) => Some(OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
            Invalid::one(Rejection::new("invalid-since", "since must be an RFC 3339 timestamp").at("since"))
        })?),
        None => None,
    };
    // A token limited to some sites sees only their events, like every other read.
    let visible = caller.site_names();
    let rows = db::run(&state.pool, move |conn| {
        Ok(q::page(conn, visible, filter.site_id, filter.actor.as_deref(), since, page.after, page.limit)?)
    })
    .await?;
    let items: Vec<AuditEventBody> = rows.into_iter().map(AuditEventBody::from).collect();
    Ok(HttpResponse::Ok().json(Paginated::new(items, page.limit, |e| e.id)))
}
