//! A site's findings: configurations IIS accepts but that will not work as intended.

use actix_web::{get, web, HttpResponse};
use certmap_db::queries::{directories, many_to_one, mappings};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::caller::Caller;
use super::problem::ApiError;
use super::sites::{require_site, spec_of};
use super::{db, AppState};
use crate::domain::certificate::Certificate;
use crate::domain::lint::{lint_site, DirectoryFacts, Finding, ManyToOneFacts, OneToOneFacts, SiteFacts};
use crate::domain::resolve::PermissionMode;
use crate::domain::revocation;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(site_lint);
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SeverityBody {
    Error,
    Warning,
    Info,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FindingBody {
    #[schema(example = "secured-directory-without-mapping")]
    pub code: String,
    pub severity: SeverityBody,
    pub message: String,
    /// What IIS does with this configuration.
    pub iis_symptom: String,
    /// What to change so the finding goes away.
    pub fix: String,
    /// The directory concerned; absent for the site itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The mapping concerned (one-to-one or many-to-one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapping_id: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LintReport {
    pub site_id: i64,
    /// The site revision the findings describe.
    pub revision: i64,
    pub findings: Vec<FindingBody>,
}

impl From<Finding> for FindingBody {
    fn from(f: Finding) -> Self {
        use crate::domain::lint::Severity;
        Self {
            code: f.code.into(),
            severity: match f.severity {
                Severity::Error => SeverityBody::Error,
                Severity::Warning => SeverityBody::Warning,
                Severity::Info => SeverityBody::Info,
            },
            message: f.message,
            iis_symptom: f.iis_symptom.into(),
            fix: f.fix.into(),
            path: f.path,
            mapping_id: f.mapping_id,
        }
    }
}

/// Lint a site
///
/// Every finding for the site, errors first.
///
/// Configurations IIS accepts but that will not work, each with the IIS symptom it causes, and
/// revocation: `certificate-revoked` (error) per mapping whose certificate a held CRL revokes,
/// `crl-expired` (error) and `crl-expiring` (warning, within a day) per trusted CA whose CRL is
/// past or near its nextUpdate. Nothing is changed. 404 when the site does not exist, also for a token limited to other sites (a site it
/// may not read does not exist for it).
#[utoipa::path(tag = "lint", params(("site_id" = i64, Path)), responses(
    (status = 200, body = LintReport),
    (status = 404, response = super::problem::NotFound),
    (status = 503, response = super::problem::Unavailable),
))]
#[get("/sites/{site_id}/lint")]
pub async fn site_lint(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.may_read()?;
    let site_id = path.into_inner();
    let (site, dirs, ones, manys, revoked, cas) = db::transaction(&state.pool, move |conn| {
        let site = require_site(conn, site_id, &caller)?;
        Ok((
            directories::all(conn, site_id)?,
            mappings::lint_facts(conn, site_id)?,
            many_to_one::all(conn, site_id)?,
            super::render_input::revoked(conn, &site)?,
            certmap_db::queries::sites::trusted_cas(conn, site_id)?,
        ))
        .map(|(d, o, m, r, c)| (site, d, o, m, r, c))
    })
    .await?;
    let spec = spec_of(&site)?;
    let dir_specs = dirs.iter().map(super::directories::spec_of).collect::<Result<Vec<_>, _>>()?;
    let facts = SiteFacts {
        name: &spec.name,
        settings: &spec.mapping,
        directories: dir_specs.iter().map(|d| DirectoryFacts { path: &d.path, policy: d.policy }).collect(),
        one_to_one: ones
            .iter()
            .map(|m| OneToOneFacts {
                id: m.id,
                user_name: &m.user_name,
                enabled: m.enabled,
                has_password: m.has_password,
                not_after: m.not_after,
            })
            .collect(),
        many_to_one: manys
            .iter()
            .map(|m| ManyToOneFacts {
                id: m.id,
                name: &m.name,
                enabled: m.enabled,
                allow: super::many_to_one::mode_of(m) == PermissionMode::Allow,
                has_password: m.password_enc.is_some(),
            })
            .collect(),
        now: OffsetDateTime::now_utc(),
    };
    let held = state.cache.revocations(&state.pool).await?;
    let subjects: Vec<String> =
        cas.iter().filter_map(|der| Certificate::from_der(der).ok()).map(|c| c.info().subject.clone()).collect();
    let crls: Vec<(&str, Option<OffsetDateTime>)> =
        subjects.iter().filter_map(|s| held.index.crl_for(s).map(|crl| (s.as_str(), crl.next_update))).collect();
    let mut findings = lint_site(&facts);
    findings.extend(revocation::lint(spec.revocation, &revoked, &crls, facts.now));
    // Errors first, as lint_site orders its own.
    findings.sort_by_key(|f| f.severity);
    let findings = findings.into_iter().map(FindingBody::from).collect();
    Ok(HttpResponse::Ok().json(LintReport { site_id, revision: site.revision, findings }))
}
