//! Many-to-one mappings: rules on a certificate's subject or issuer → an account, or a deny.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use certmap_db::models::{ManyToOne, ManyToOneValues, Site};
use certmap_db::queries::many_to_one as q;
use certmap_db::PgConnection;
use diesel::QueryResult;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::caller::Caller;
use super::extract::Json;
use super::mappings::{parse_password, store_new_password};
use super::pagination::{PageQuery, Paginated};
use super::problem::ApiError;
use super::serde_util::present;
use super::sites::require_site;
use super::write::{Names, SiteResource, Writer};
use super::{db, AppState};
use crate::domain::mapping::{parse_description, parse_mapping_name};
use crate::domain::names::UserName;
use crate::domain::resolve::{check_many_to_one, CertificateField, MatchCriteria, PermissionMode, Rule, SubField};
use crate::domain::violation::{Collector, Invalid};
use crate::secrets::{Password, SecretKeys, SecretKind, SecretOwner};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_many_to_one)
        .service(create_many_to_one)
        .service(get_many_to_one)
        .service(update_many_to_one)
        .service(delete_many_to_one);
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CertificateFieldBody {
    Subject,
    Issuer,
}

/// IIS's certificateSubField: CN, OU, O, L, S (state), C, E (email).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub enum SubFieldBody {
    CN,
    OU,
    O,
    L,
    S,
    C,
    E,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PermissionModeBody {
    Allow,
    Deny,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    pub certificate_field: CertificateFieldBody,
    pub certificate_sub_field: SubFieldBody,
    /// The value to match; `*` matches any run of characters.
    #[schema(example = "*.contoso.com")]
    pub match_criteria: String,
    /// IIS default: true.
    #[serde(default = "yes")]
    pub compare_case_sensitive: bool,
}

// No Debug: these bodies carry passwords.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Contoso engineers",
    "permission_mode": "allow",
    "user_name": "CONTOSO\\engineering",
    "password": "s3cret",
    "rules": [
        {"certificate_field": "issuer", "certificate_sub_field": "CN", "match_criteria": "Contoso Issuing CA"},
        {"certificate_field": "subject", "certificate_sub_field": "OU", "match_criteria": "Engineering", "compare_case_sensitive": false}
    ]
}))]
pub struct CreateManyToOne {
    /// Unique per site (case-insensitive).
    pub name: String,
    pub description: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
    /// Default allow. A deny mapping needs no account, and wins over any allow that also matches.
    pub permission_mode: Option<PermissionModeBody>,
    /// Required for allow.
    pub user_name: Option<String>,
    pub password: Option<String>,
    /// All rules must match (at least one).
    pub rules: Vec<RuleBody>,
}

/// Any subset; `rules` replaces the whole rule list.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateManyToOne {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub permission_mode: Option<PermissionModeBody>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub user_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub password: Option<Option<String>>,
    pub rules: Option<Vec<RuleBody>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ManyToOneBody {
    pub id: i64,
    pub site_id: i64,
    pub name: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub permission_mode: PermissionModeBody,
    pub user_name: Option<String>,
    /// Whether a password is stored; the password itself is never returned.
    pub has_password: bool,
    pub rules: Vec<RuleBody>,
    pub revision: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<PermissionModeBody> for PermissionMode {
    fn from(m: PermissionModeBody) -> Self {
        match m {
            PermissionModeBody::Allow => Self::Allow,
            PermissionModeBody::Deny => Self::Deny,
        }
    }
}

impl From<&Rule> for RuleBody {
    fn from(rule: &Rule) -> Self {
        Self {
            certificate_field: match rule.field {
                CertificateField::Subject => CertificateFieldBody::Subject,
                CertificateField::Issuer => CertificateFieldBody::Issuer,
            },
            certificate_sub_field: match rule.sub_field {
                SubField::CN => SubFieldBody::CN,
                SubField::OU => SubFieldBody::OU,
                SubField::O => SubFieldBody::O,
                SubField::L => SubFieldBody::L,
                SubField::S => SubFieldBody::S,
                SubField::C => SubFieldBody::C,
                SubField::E => SubFieldBody::E,
            },
            match_criteria: rule.criteria.as_str().to_owned(),
            compare_case_sensitive: rule.case_sensitive,
        }
    }
}

impl RuleBody {
    fn to_rule(&self, index: usize) -> Result<Rule, crate::domain::violation::Violation> {
        let field = match self.certificate_field {
            CertificateFieldBody::Subject => CertificateField::Subject,
            CertificateFieldBody::Issuer => CertificateField::Issuer,
        };
        let sub_field = match self.certificate_sub_field {
            SubFieldBody::CN => SubField::CN,
            SubFieldBody::OU => SubField::OU,
            SubFieldBody::O => SubField::O,
            SubFieldBody::L => SubField::L,
            SubFieldBody::S => SubField::S,
            SubFieldBody::C => SubField::C,
            SubFieldBody::E => SubField::E,
        };
        let criteria =
            MatchCriteria::parse(&self.match_criteria).map_err(|r| r.at(format!("rules[{index}].match_criteria")))?;
        Ok(Rule { field, sub_field, criteria, case_sensitive: self.compare_case_sensitive })
    }
}

/// Stored rules back into domain terms; they passed these checks when written.
pub fn rules_of(row: &ManyToOne) -> Result<Vec<Rule>, ApiError> {
    let corrupt = || ApiError::Internal(format!("many-to-one mapping {} holds invalid rules", row.id));
    let bodies: Vec<RuleBody> = serde_json::from_value(row.rules.clone()).map_err(|_| corrupt())?;
    bodies.iter().enumerate().map(|(i, r)| r.to_rule(i).map_err(|_| corrupt())).collect()
}

pub fn mode_of(row: &ManyToOne) -> PermissionMode {
    if row.permission_mode == PermissionMode::Deny.as_str() {
        PermissionMode::Deny
    } else {
        PermissionMode::Allow
    }
}

/// The whole mapping checked (the merged one, on update) and turned into storable values.
struct Draft {
    name: String,
    description: Option<String>,
    enabled: bool,
    mode: PermissionModeBody,
    user_name: Option<String>,
    password_enc: Option<Vec<u8>>,
    rules: Vec<RuleBody>,
}

impl Draft {
    fn check(self, errors: &mut Collector) -> Option<ManyToOneValues> {
        let name = errors.take(parse_mapping_name(&self.name).map_err(|r| r.at("name")));
        let description =
            self.description.and_then(|d| errors.take(parse_description(&d).map_err(|r| r.at("description"))));
        let user =
            self.user_name.as_deref().and_then(|u| errors.take(UserName::parse(u).map_err(|r| r.at("user_name"))));
        let rules: Vec<Rule> = self.rules.iter().enumerate().filter_map(|(i, r)| errors.take(r.to_rule(i))).collect();
        let mode: PermissionMode = self.mode.into();
        if rules.len() == self.rules.len() && (user.is_some() || self.user_name.is_none()) {
            errors.take_all(check_many_to_one(mode, user.as_ref(), &rules));
        }
        Some(ManyToOneValues {
            name: name?,
            description,
            enabled: self.enabled,
            permission_mode: mode.as_str().to_owned(),
            user_name: user.map(|u| u.as_str().to_owned()),
            password_enc: self.password_enc,
            // Stored as matched: the criteria trimmed the way MatchCriteria reads them.
            rules: serde_json::to_value(
                self.rules
                    .iter()
                    .zip(&rules)
                    .map(|(body, rule)| RuleBody { match_criteria: rule.criteria.as_str().to_owned(), ..body.clone() })
                    .collect::<Vec<_>>(),
            )
            .ok()?,
        })
    }
}

pub fn owner_of(row: &ManyToOne) -> SecretOwner {
    SecretOwner { kind: SecretKind::ManyToOne, site_id: row.site_id, id: row.id }
}

impl CreateManyToOne {
    /// The values, and the password to store once the row has its id.
    fn build(self) -> Result<(ManyToOneValues, Option<Password>), Invalid> {
        let mut errors = Collector::default();
        let password = self.password.and_then(|p| parse_password(p, &mut errors));
        let draft = Draft {
            name: self.name,
            description: self.description,
            enabled: self.enabled.unwrap_or(true),
            mode: self.permission_mode.unwrap_or(PermissionModeBody::Allow),
            user_name: self.user_name,
            password_enc: None,
            rules: self.rules,
        };
        let values = draft.check(&mut errors);
        errors.finish(|| (values.expect("checked"), password))
    }
}

impl UpdateManyToOne {
    fn apply(self, secrets: &SecretKeys, current: &ManyToOne) -> Result<ManyToOneValues, Invalid> {
        let mut errors = Collector::default();
        let current_rules: Vec<RuleBody> = serde_json::from_value(current.rules.clone()).unwrap_or_default();
        let password_enc = match self.password {
            None => current.password_enc.clone(),
            Some(None) => None,
            Some(Some(p)) => parse_password(p, &mut errors).map(|p| secrets.encrypt(owner_of(current), &p)),
        };
        let draft = Draft {
            name: self.name.unwrap_or_else(|| current.name.clone()),
            description: self.description.unwrap_or_else(|| current.description.clone()),
            enabled: self.enabled.unwrap_or(current.enabled),
            mode: self.permission_mode.unwrap_or(match mode_of(current) {
                PermissionMode::Allow => PermissionModeBody::Allow,
                PermissionMode::Deny => PermissionModeBody::Deny,
            }),
            user_name: self.user_name.unwrap_or_else(|| current.user_name.clone()),
            password_enc,
            rules: self.rules.unwrap_or(current_rules),
        };
        let values = draft.check(&mut errors);
        errors.finish(|| values.expect("checked"))
    }
}

impl TryFrom<ManyToOne> for ManyToOneBody {
    type Error = ApiError;

    fn try_from(row: ManyToOne) -> Result<Self, ApiError> {
        let rules = serde_json::from_value(row.rules.clone())
            .map_err(|_| ApiError::Internal(format!("many-to-one mapping {} holds invalid rules", row.id)))?;
        let permission_mode = match mode_of(&row) {
            PermissionMode::Allow => PermissionModeBody::Allow,
            PermissionMode::Deny => PermissionModeBody::Deny,
        };
        Ok(Self {
            id: row.id,
            site_id: row.site_id,
            name: row.name,
            description: row.description,
            enabled: row.enabled,
            permission_mode,
            user_name: row.user_name,
            has_password: row.password_enc.is_some(),
            rules,
            revision: row.revision,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

impl SiteResource for ManyToOne {
    type Body = ManyToOneBody;
    const NAMES: Names = Names { what: "many-to-one mapping", audit: "many_to_one", collection: "many-to-one" };

    fn lock(conn: &mut PgConnection, site: &Site, id: i64) -> QueryResult<Option<Self>> {
        q::lock(conn, site.id, id)
    }
}

/// List a site's many-to-one mappings
///
/// Each mapping with its rules and account; never the password, only `has_password`. Id order is
/// also the order IIS tries them in, except that a matching deny wins over any allow. Paged in id
/// order, which stays stable while items are added: `limit` per page (default 50, at most 500);
/// pass the answer's `next_cursor` as `cursor` for the next page; `next_cursor` is null on the last
/// page.
///
/// 404 when the site does not exist, also for a token limited to other sites (a site it may not
/// read does not exist for it).
#[utoipa::path(tag = "many-to-one", params(("site_id" = i64, Path), PageQuery), responses(
    (status = 200, body = Paginated<ManyToOneBody>),
    (status = 404, response = super::problem::NotFound),
    (status = 422, response = super::problem::Unprocessable),
    (status = 503, response = super::problem::Unavailable),
))]
#[get("/sites/{site_id}/many-to-one")]
pub async fn list_many_to_one(
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
    let items = rows.into_iter().map(ManyToOneBody::try_from).collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(Paginated::new(items, page.limit, |m| m.id)))
}

/// Add a many-to-one mapping
///
/// Rules on the certificate's subject or issuer fields (`*` matches any run of characters), all of
/// which must match. An allow mapping needs an account (`user_name`, password optional); a deny
/// needs none and wins over any allow that also matches. The new mapping is tried after the
/// existing ones. The password is stored encrypted and never returned.
///
/// Names are unique per site, case-insensitively (409 `duplicate-mapping-name`). 201 with
/// `Location` and the mapping's `ETag`. The site's revision moves (so its ETag, rendered config and
/// gateway snapshots change) and the change is audited.
///
/// A token limited to other sites gets 403, also for a site id that does not exist (a 404 would
/// tell it which ids exist).
#[utoipa::path(tag = "many-to-one", params(("site_id" = i64, Path)), request_body = CreateManyToOne, responses(
    (status = 201, body = ManyToOneBody, headers(("Location" = String), ("ETag" = String))),
    (status = 400, response = super::problem::BadRequest),
    (status = 404, response = super::problem::NotFound),
    (status = 409, response = super::problem::Conflict),
    (status = 413, response = super::problem::TooLarge),
    (status = 415, response = super::problem::UnsupportedMedia),
    (status = 422, response = super::problem::Unprocessable),
    (status = 503, response = super::problem::Unavailable),
))]
#[post("/sites/{site_id}/many-to-one")]
pub async fn create_many_to_one(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
    Json(body): Json<CreateManyToOne>,
) -> Result<HttpResponse, ApiError> {
    let writer = Writer::admit(&state, caller)?;
    let site_id = path.into_inner();
    let (values, password) = body.build()?;
    let row = writer
        .create(site_id, move |conn| {
            let mut row = q::insert(conn, site_id, &values)?;
            if let Some(password) = &password {
                row.password_enc = Some(store_new_password(conn, &state.secrets, owner_of(&row), password)?);
            }
            Ok(row)
        })
        .await?;
    row.answer_created(site_id)
}

/// Get a many-to-one mapping
///
/// The mapping with its rules and account; never the password, only `has_password`. Its `ETag` (the
/// mapping's revision) is what `If-Match` takes on PATCH and DELETE.
///
/// 404 when the site or the mapping does not exist, or the mapping is on another site; a token
/// limited to other sites gets 404 for the site too.
#[utoipa::path(tag = "many-to-one", params(("site_id" = i64, Path), ("id" = i64, Path)), responses(
    (status = 200, body = ManyToOneBody, headers(("ETag" = String))),
    (status = 404, response = super::problem::NotFound),
    (status = 503, response = super::problem::Unavailable),
))]
#[get("/sites/{site_id}/many-to-one/{id}")]
pub async fn get_many_to_one(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    caller.may_read()?;
    let (site_id, id) = path.into_inner();
    let row = db::run(&state.pool, move |conn| {
        require_site(conn, site_id, &caller)?;
        q::find(conn, site_id, id)?.ok_or_else(ManyToOne::not_found)
    })
    .await?;
    row.answer()
}

/// Change a many-to-one mapping
///
/// Fields left out keep their values; `rules` replaces the whole rule list; `null` clears
/// `description`, `user_name` or `password`. The merged mapping must pass the same checks as a
/// create (422), and a new name must be free (409). The site's revision moves (so its ETag,
/// rendered config and gateway snapshots change) and the change is audited.
///
/// `If-Match` is optional: without it the change applies to whatever is current; with the `ETag` of
/// a previous GET (or `*`), a change made since is refused with 412 `precondition-failed`, whose
/// detail names the current ETag, and nothing is written.
///
/// 404 when the mapping does not exist. A token limited to other sites gets 403, also for a site id
/// that does not exist (a 404 would tell it which ids exist).
#[utoipa::path(tag = "many-to-one", params(("site_id" = i64, Path), ("id" = i64, Path),
    ("If-Match" = Option<String>, Header, description = "ETag from a previous GET")),
    request_body = UpdateManyToOne, responses(
    (status = 200, body = ManyToOneBody, headers(("ETag" = String))),
    (status = 400, response = super::problem::BadRequest),
    (status = 404, response = super::problem::NotFound),
    (status = 409, response = super::problem::Conflict),
    (status = 412, response = super::problem::PreconditionFailed),
    (status = 413, response = super::problem::TooLarge),
    (status = 415, response = super::problem::UnsupportedMedia),
    (status = 422, response = super::problem::Unprocessable),
    (status = 503, response = super::problem::Unavailable),
))]
#[patch("/sites/{site_id}/many-to-one/{id}")]
pub async fn update_many_to_one(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(i64, i64)>,
    Json(body): Json<UpdateManyToOne>,
) -> Result<HttpResponse, ApiError> {
    let writer = Writer::admit(&state, caller)?;
    let (site_id, id) = path.into_inner();
    let row = writer
        .update(&req, site_id, id, move |conn, _, current: &ManyToOne| {
            Ok(q::update(conn, site_id, id, &body.apply(&state.secrets, current)?)?)
        })
        .await?;
    row.answer()
}

/// Delete a many-to-one mapping
///
/// Certificates it matched fall through to the site's other many-to-one mappings, and without a
/// match IIS answers 401.1; a deny removed lets matching certificates in again if an allow matches
/// them. The site's revision moves (so its ETag, rendered config and gateway snapshots change) and
/// the audit log keeps the mapping as it was (without its password).
///
/// `If-Match` is optional: without it the change applies to whatever is current; with the `ETag` of
/// a previous GET (or `*`), a change made since is refused with 412 `precondition-failed`, whose
/// detail names the current ETag, and nothing is written.
///
/// 404 when the mapping does not exist (a repeated DELETE answers 404). A token limited to other
/// sites gets 403, also for a site id that does not exist (a 404 would tell it which ids exist).
#[utoipa::path(tag = "many-to-one", params(("site_id" = i64, Path), ("id" = i64, Path),
    ("If-Match" = Option<String>, Header, description = "ETag from a previous GET")), responses(
    (status = 204, description = "Deleted"),
    (status = 404, response = super::problem::NotFound),
    (status = 412, response = super::problem::PreconditionFailed),
    (status = 503, response = super::problem::Unavailable),
))]
#[delete("/sites/{site_id}/many-to-one/{id}")]
pub async fn delete_many_to_one(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let writer = Writer::admit(&state, caller)?;
    let (site_id, id) = path.into_inner();
    writer.delete::<ManyToOne>(&req, site_id, id, move |conn| q::delete(conn, site_id, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
