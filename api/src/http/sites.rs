//! Sites: the IIS site and its certificate-mapping section, the only place IIS honours it.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use certmap_db::models::{Site, SiteValues};
use certmap_db::queries::sites as q;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::audit::{json, record, Change};
use super::caller::{Access, Caller};
use super::etag::check_if_match;
use super::extract::Json;
use super::pagination::{PageQuery, Paginated};
use super::problem::ApiError;
use super::{created, db, json_with_etag, AppState, API_PREFIX};
use crate::domain::names::{LogonDomain, SiteName};
use crate::domain::revocation::{Check, Policy, WhenUnknown};
use crate::domain::site::{parse_hostnames, LogonMethod, MappingSettings, SiteSpec};
use crate::domain::violation::{Collector, Invalid};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_sites).service(create_site).service(get_site).service(update_site).service(delete_site);
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub enum LogonMethodBody {
    Interactive,
    Batch,
    Network,
    ClearText,
}

impl From<LogonMethodBody> for LogonMethod {
    fn from(m: LogonMethodBody) -> Self {
        match m {
            LogonMethodBody::Interactive => Self::Interactive,
            LogonMethodBody::Batch => Self::Batch,
            LogonMethodBody::Network => Self::Network,
            LogonMethodBody::ClearText => Self::ClearText,
        }
    }
}

impl From<LogonMethod> for LogonMethodBody {
    fn from(m: LogonMethod) -> Self {
        match m {
            LogonMethod::Interactive => Self::Interactive,
            LogonMethod::Batch => Self::Batch,
            LogonMethod::Network => Self::Network,
            LogonMethod::ClearText => Self::ClearText,
        }
    }
}

/// The site's `iisClientCertificateMappingAuthentication` section. It lives here, at the site root,
/// because IIS ignores it anywhere deeper (401.2, 0x80070005).
#[derive(Debug, Serialize, ToSchema)]
pub struct MappingSettingsBody {
    /// Whether IIS runs certificate mapping for this site (IIS default: false).
    pub enabled: bool,
    pub one_to_one_enabled: bool,
    pub many_to_one_enabled: bool,
    pub logon_method: LogonMethodBody,
    /// Domain for mapped user names given without one; empty for none.
    pub default_logon_domain: String,
    pub revocation: RevocationBody,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RevocationCheckBody {
    Off,
    Crl,
    Ocsp,
    CrlAndOcsp,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WhenUnknownBody {
    Deny,
    Allow,
}

/// Whether certmap (authorize, resolve, snapshots, rendered config) checks that a client
/// certificate is not revoked. `unknown` means a CRL is held for the certificate's issuer but is
/// past its nextUpdate; while no CRL is held for an issuer its certificates are `not_checked` and
/// pass. `ocsp` asks the responder the certificate's Authority Information Access names
/// (`not_checked` when it names none; `unknown` when no answer counts); `crl_and_ocsp` refuses a
/// certificate either revokes, and is `unknown` only when neither gives a current answer.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct RevocationBody {
    pub check: RevocationCheckBody,
    pub when_unknown: WhenUnknownBody,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevocationPatch {
    /// Default `crl`.
    pub check: Option<RevocationCheckBody>,
    /// Default `deny`: 403 `revocation-unknown`; `allow` passes with `X-Certmap-Revocation: unknown`.
    pub when_unknown: Option<WhenUnknownBody>,
}

impl From<Policy> for RevocationBody {
    fn from(p: Policy) -> Self {
        Self {
            check: match p.check {
                Check::Off => RevocationCheckBody::Off,
                Check::Crl => RevocationCheckBody::Crl,
                Check::Ocsp => RevocationCheckBody::Ocsp,
                Check::CrlAndOcsp => RevocationCheckBody::CrlAndOcsp,
            },
            when_unknown: match p.when_unknown {
                WhenUnknown::Deny => WhenUnknownBody::Deny,
                WhenUnknown::Allow => WhenUnknownBody::Allow,
            },
        }
    }
}

impl RevocationPatch {
    fn apply(self, mut base: Policy) -> Policy {
        if let Some(check) = self.check {
            let check = match check {
                RevocationCheckBody::Off => Check::Off,
                RevocationCheckBody::Crl => Check::Crl,
                RevocationCheckBody::Ocsp => Check::Ocsp,
                RevocationCheckBody::CrlAndOcsp => Check::CrlAndOcsp,
            };
            base.check = check;
        }
        if let Some(w) = self.when_unknown {
            base.when_unknown = match w {
                WhenUnknownBody::Deny => WhenUnknown::Deny,
                WhenUnknownBody::Allow => WhenUnknown::Allow,
            };
        }
        base
    }
}

/// Any subset of the mapping settings; omitted fields keep their current (or IIS default) value.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingSettingsPatch {
    pub enabled: Option<bool>,
    pub one_to_one_enabled: Option<bool>,
    pub many_to_one_enabled: Option<bool>,
    pub logon_method: Option<LogonMethodBody>,
    #[schema(example = "CONTOSO")]
    pub default_logon_domain: Option<String>,
    #[serde(default, deserialize_with = "super::serde_util::object")]
    pub revocation: Option<RevocationPatch>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SiteBody {
    pub id: i64,
    #[schema(example = "Default Web Site")]
    pub name: String,
    pub hostnames: Vec<String>,
    pub certificate_mapping: MappingSettingsBody,
    /// Moves on every change to the site or anything under it; the site's ETag.
    pub revision: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Default Web Site", "hostnames": ["www.contoso.com"], "certificate_mapping": {"enabled": true}}))]
pub struct CreateSite {
    /// The IIS site name: not empty, at most 255 characters, no `/` or `?`, no leading or trailing
    /// space; unique case-insensitively.
    pub name: String,
    #[serde(default)]
    pub hostnames: Vec<String>,
    #[serde(default)]
    pub certificate_mapping: MappingSettingsPatch,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"certificate_mapping": {"enabled": true, "logon_method": "Network"}}))]
pub struct UpdateSite {
    pub name: Option<String>,
    pub hostnames: Option<Vec<String>>,
    #[serde(default, deserialize_with = "super::serde_util::object")]
    pub certificate_mapping: Option<MappingSettingsPatch>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SiteFilter {
    /// Find the site with this name (case-insensitive); the page then holds at most one site.
    pub name: Option<String>,
}

impl MappingSettingsPatch {
    fn apply(self, mut base: MappingSettings, errors: &mut Collector) -> MappingSettings {
        if let Some(v) = self.enabled {
            base.enabled = v;
        }
        if let Some(v) = self.one_to_one_enabled {
            base.one_to_one_enabled = v;
        }
        if let Some(v) = self.many_to_one_enabled {
            base.many_to_one_enabled = v;
        }
        if let Some(v) = self.logon_method {
            base.logon_method = v.into();
        }
        if let Some(d) = self.default_logon_domain {
            if let Some(d) =
                errors.take(LogonDomain::parse(&d).map_err(|r| r.at("certificate_mapping.default_logon_domain")))
            {
                base.default_logon_domain = d;
            }
        }
        base
    }
}

impl CreateSite {
    fn into_spec(mut self) -> Result<SiteSpec, Invalid> {
        let mut errors = Collector::default();
        let name = errors.take(SiteName::parse_new(&self.name).map_err(|r| r.at("name")));
        let hostnames = errors.take_all(parse_hostnames(&self.hostnames));
        let revocation = self.certificate_mapping.revocation.take().unwrap_or_default().apply(Policy::default());
        let mapping = self.certificate_mapping.apply(MappingSettings::default(), &mut errors);
        errors.finish(|| SiteSpec {
            name: name.expect("checked"),
            hostnames: hostnames.expect("checked"),
            mapping,
            revocation,
        })
    }
}

impl UpdateSite {
    fn apply(self, current: SiteSpec) -> Result<SiteSpec, Invalid> {
        let mut errors = Collector::default();
        let name = match self.name {
            // Keeping a name that predates the id rule is not a new ambiguity.
            Some(n) if n == current.name.as_str() => Some(current.name),
            Some(n) => errors.take(SiteName::parse_new(&n).map_err(|r| r.at("name"))),
            None => Some(current.name),
        };
        let hostnames = match self.hostnames {
            Some(h) => errors.take_all(parse_hostnames(&h)),
            None => Some(current.hostnames),
        };
        let (mapping, revocation) = match self.certificate_mapping {
            Some(mut p) => {
                let revocation = match p.revocation.take() {
                    Some(r) => r.apply(current.revocation),
                    None => current.revocation,
                };
                (p.apply(current.mapping, &mut errors), revocation)
            }
            None => (current.mapping, current.revocation),
        };
        errors.finish(|| SiteSpec {
            name: name.expect("checked"),
            hostnames: hostnames.expect("checked"),
            mapping,
            revocation,
        })
    }
}

/// A stored row back into domain terms; it passed these rules when it was written.
pub fn spec_of(row: &Site) -> Result<SiteSpec, ApiError> {
    let corrupt = |what: &str| ApiError::Internal(format!("site {} holds an invalid {what}", row.id));
    Ok(SiteSpec {
        name: SiteName::parse(&row.name).map_err(|_| corrupt("name"))?,
        hostnames: parse_hostnames(&row.hostnames).map_err(|_| corrupt("host name"))?,
        mapping: MappingSettings {
            enabled: row.mapping_enabled,
            one_to_one_enabled: row.one_to_one_enabled,
            many_to_one_enabled: row.many_to_one_enabled,
            logon_method: row.logon_method.parse().map_err(|_| corrupt("logon method"))?,
            default_logon_domain: LogonDomain::parse(&row.default_logon_domain).map_err(|_| corrupt("logon domain"))?,
        },
        revocation: policy_of(row).ok_or_else(|| corrupt("revocation policy"))?,
    })
}

pub fn policy_of(row: &Site) -> Option<Policy> {
    Some(Policy { check: row.revocation_check.parse().ok()?, when_unknown: row.revocation_when_unknown.parse().ok()? })
}

fn values_of(spec: &SiteSpec) -> SiteValues {
    SiteValues {
        name: spec.name.as_str().to_owned(),
        hostnames: spec.hostnames.iter().map(|h| h.as_str().to_owned()).collect(),
        mapping_enabled: spec.mapping.enabled,
        one_to_one_enabled: spec.mapping.one_to_one_enabled,
        many_to_one_enabled: spec.mapping.many_to_one_enabled,
        logon_method: spec.mapping.logon_method.as_str().to_owned(),
        default_logon_domain: spec.mapping.default_logon_domain.as_str().to_owned(),
        revocation_check: spec.revocation.check.as_str().to_owned(),
        revocation_when_unknown: spec.revocation.when_unknown.as_str().to_owned(),
    }
}

impl From<Site> for SiteBody {
    fn from(row: Site) -> Self {
        let logon_method = row.logon_method.parse::<LogonMethod>().unwrap_or_default().into();
        let revocation = policy_of(&row).unwrap_or_default().into();
        Self {
            id: row.id,
            name: row.name,
            hostnames: row.hostnames,
            certificate_mapping: MappingSettingsBody {
                enabled: row.mapping_enabled,
                one_to_one_enabled: row.one_to_one_enabled,
                many_to_one_enabled: row.many_to_one_enabled,
                logon_method,
                revocation,
                default_logon_domain: row.default_logon_domain,
            },
            revision: row.revision,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The site for reading, or 404 — also when the caller's token is limited to other sites, so a
/// token reveals nothing about sites it cannot see.
pub fn require_site(conn: &mut certmap_db::PgConnection, site_id: i64, caller: &Caller) -> Result<Site, ApiError> {
    let site = q::find(conn, site_id)?.ok_or(ApiError::NotFound { what: "site" })?;
    caller.check_site(&site.name, Access::Read)?;
    Ok(site)
}

/// The site locked for the rest of the transaction, for a write. A token limited to other sites
/// gets 403, for a site that does not exist too (a 404 would tell it which ids exist).
pub fn lock_site_for_write(
    conn: &mut certmap_db::PgConnection,
    site_id: i64,
    caller: &Caller,
) -> Result<Site, ApiError> {
    match q::lock(conn, site_id)? {
        Some(site) => {
            caller.check_site(&site.name, Access::Write)?;
            Ok(site)
        }
        None if caller.is_site_scoped() => Err(Caller::out_of_scope()),
        None => Err(ApiError::NotFound { what: "site" }),
    }
}

fn location(id: i64) -> String {
    format!("{API_PREFIX}/sites/{id}")
}

/// List sites, or find one by name
///
/// Sites in id order, or with `name` the one site of that name (case-insensitive; the page then
/// holds at most one). Paged in id order, which stays stable while items are added: `limit` per
/// page (default 50, at most 500); pass the answer's `next_cursor` as `cursor` for the next page;
/// `next_cursor` is null on the last page.
///
/// A token limited to some sites sees only those; gateway tokens get 403 (they read snapshots).
#[utoipa::path(tag = "sites", params(PageQuery, SiteFilter), responses(
    (status = 200, body = Paginated<SiteBody>),
    (status = 422, response = super::problem::Unprocessable),
    (status = 503, response = super::problem::Unavailable),
))]
#[get("/sites")]
pub async fn list_sites(
    state: web::Data<AppState>,
    caller: Caller,
    page: web::Query<PageQuery>,
    filter: web::Query<SiteFilter>,
) -> Result<HttpResponse, ApiError> {
    caller.may_read()?;
    let page = page.page()?;
    let name = match filter.into_inner().name {
        Some(n) => Some(SiteName::parse(&n).map_err(|r| Invalid::one(r.at("name")))?.as_str().to_owned()),
        None => None,
    };
    let visible = caller.clone();
    let rows: Vec<Site> = db::run(&state.pool, move |conn| match name {
        Some(name) => {
            Ok(q::find_by_name(conn, &name)?.into_iter().filter(|s| page.after.is_none_or(|a| s.id > a)).collect())
        }
        None => Ok(q::page(conn, page.after, page.limit, visible.site_names())?),
    })
    .await?;
    let rows: Vec<Site> = rows.into_iter().filter(|s| caller.sees(&s.name)).collect();
    let items: Vec<SiteBody> = rows.into_iter().map(SiteBody::from).collect();
    Ok(HttpResponse::Ok().json(Paginated::new(items, page.limit, |s| s.id)))
}

/// Create a site
///
/// Certificate mapping settings default to IIS's (mapping disabled). They live on the site because
/// IIS honours them only at the site root.
///
/// Names are unique case-insensitively (409 `duplicate-site-name`). 201 with `Location` and the
/// site's `ETag`; the creation is audited. A token limited to some sites may only create a site
/// with one of its names (403 otherwise).
#[utoipa::path(tag = "sites", request_body = CreateSite, responses(
    (status = 201, body = SiteBody, headers(("Location" = String, description = "URL of the new site"), ("ETag" = String))),
    (status = 400, response = super::problem::BadRequest),
    (status = 409, response = super::problem::Conflict),
    (status = 413, response = super::problem::TooLarge),
    (status = 415, response = super::problem::UnsupportedMedia),
    (status = 422, response = super::problem::Unprocessable),
    (status = 503, response = super::problem::Unavailable),
))]
#[post("/sites")]
pub async fn create_site(
    state: web::Data<AppState>,
    caller: Caller,
    Json(body): Json<CreateSite>,
) -> Result<HttpResponse, ApiError> {
    caller.may_write(&state)?;
    let values = values_of(&body.into_spec()?);
    caller.check_site(&values.name, Access::Write)?;
    let row = db::transaction(&state.pool, move |conn| {
        let row = q::insert(conn, &values)?;
        record(
            conn,
            &caller,
            Change {
                action: "site.create",
                site_id: Some(row.id),
                resource: "site",
                resource_id: Some(row.id),
                before: None,
                after: json(&SiteBody::from(row.clone())),
            },
        )?;
        Ok(row)
    })
    .await?;
    Ok(created(location(row.id), row.revision, &SiteBody::from(row)))
}

/// Get a site
///
/// The site with its host names and certificate-mapping settings. Its `ETag` is the site's
/// revision, which moves with every change to the site or anything under it (directories, mappings,
/// trusted CAs): sent as `If-Match` on PATCH or DELETE it guards the whole site.
///
/// 404 when the site does not exist, also for a token limited to other sites (a site it may not
/// read does not exist for it).
#[utoipa::path(tag = "sites", params(("site_id" = i64, Path)), responses(
    (status = 200, body = SiteBody, headers(("ETag" = String))),
    (status = 404, response = super::problem::NotFound),
    (status = 503, response = super::problem::Unavailable),
))]
#[get("/sites/{site_id}")]
pub async fn get_site(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.may_read()?;
    let site_id = path.into_inner();
    let row = db::run(&state.pool, move |conn| require_site(conn, site_id, &caller)).await?;
    Ok(json_with_etag(HttpResponse::Ok(), row.revision, &SiteBody::from(row)))
}

/// Change a site
///
/// Fields left out keep their values; `certificate_mapping` changes only the settings it names.
/// With `If-Match`, refused with 412 when the site (or anything under it) changed since that ETag;
/// without it the change applies to whatever is current. The change is audited.
///
/// 404 when the site does not exist. A token limited to other sites gets 403, also for a site id
/// that does not exist (a 404 would tell it which ids exist). Such a token also cannot rename a
/// site to a name outside its list (403).
#[utoipa::path(tag = "sites", params(("site_id" = i64, Path), ("If-Match" = Option<String>, Header, description = "ETag from a previous GET")),
    request_body = UpdateSite, responses(
    (status = 200, body = SiteBody, headers(("ETag" = String))),
    (status = 400, response = super::problem::BadRequest),
    (status = 404, response = super::problem::NotFound),
    (status = 409, response = super::problem::Conflict),
    (status = 412, response = super::problem::PreconditionFailed),
    (status = 413, response = super::problem::TooLarge),
    (status = 415, response = super::problem::UnsupportedMedia),
    (status = 422, response = super::problem::Unprocessable),
    (status = 503, response = super::problem::Unavailable),
))]
#[patch("/sites/{site_id}")]
pub async fn update_site(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<i64>,
    Json(body): Json<UpdateSite>,
) -> Result<HttpResponse, ApiError> {
    caller.may_write(&state)?;
    let site_id = path.into_inner();
    let headers = req.headers().clone();
    let row = db::transaction(&state.pool, move |conn| {
        let current = lock_site_for_write(conn, site_id, &caller)?;
        check_if_match(&headers, current.revision)?;
        let spec = body.apply(spec_of(&current)?)?;
        // A token limited to some sites cannot rename one of them out of its reach.
        caller.check_site(spec.name.as_str(), Access::Write)?;
        let row = q::update(conn, site_id, &values_of(&spec))?;
        record(
            conn,
            &caller,
            Change {
                action: "site.update",
                site_id: Some(site_id),
                resource: "site",
                resource_id: Some(site_id),
                before: json(&SiteBody::from(current)),
                after: json(&SiteBody::from(row.clone())),
            },
        )?;
        Ok(row)
    })
    .await?;
    Ok(json_with_etag(HttpResponse::Ok(), row.revision, &SiteBody::from(row)))
}

/// Delete a site with everything under it
///
/// Deletes the site with all its directories, one-to-one and many-to-one mappings and trusted CAs
/// in one transaction. Nothing of it is left but the audit log: its earlier events, and a
/// `site.delete` event holding the site as it was. Gateways lose it from `/snapshot`; its own
/// snapshot and config answer 404.
///
/// The site's ETag moves with every change under it, so with `If-Match` a 412 means something in
/// the site changed since you looked; without it the site is deleted whatever its state.
///
/// 404 when the site does not exist. A token limited to other sites gets 403, also for a site id
/// that does not exist (a 404 would tell it which ids exist).
#[utoipa::path(tag = "sites", params(("site_id" = i64, Path), ("If-Match" = Option<String>, Header, description = "ETag from a previous GET")), responses(
    (status = 204, description = "Deleted"),
    (status = 404, response = super::problem::NotFound),
    (status = 412, response = super::problem::PreconditionFailed),
    (status = 503, response = super::problem::Unavailable),
))]
#[delete("/sites/{site_id}")]
pub async fn delete_site(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.may_write(&state)?;
    let site_id = path.into_inner();
    let headers = req.headers().clone();
    db::transaction(&state.pool, move |conn| {
        let current = lock_site_for_write(conn, site_id, &caller)?;
        check_if_match(&headers, current.revision)?;
        q::delete(conn, site_id)?;
        record(
            conn,
            &caller,
            Change {
                action: "site.delete",
                site_id: Some(site_id),
                resource: "site",
                resource_id: Some(site_id),
                before: json(&SiteBody::from(current)),
                after: None,
            },
        )?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
