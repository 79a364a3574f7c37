//! Existing IIS configuration in: lint it in IIS's own terms, and import what it configures (sites,
//! directories, one-to-one and many-to-one mappings) in one all-or-nothing transaction.

use actix_web::{post, web, HttpRequest, HttpResponse};
use certmap_db::models::{
    Directory, ManyToOne as ManyToOneRow, ManyToOneValues, MappingValues, NewMapping, Site, SiteValues,
};
use certmap_db::queries::{directories, many_to_one, mappings, sites};
use certmap_db::PgConnection;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::audit::{json, record, Change};
use super::caller::{Access, Caller};
use super::directories::DirectoryBody;
use super::extract::{media_type, read_body};
use super::lint::SeverityBody;
use super::many_to_one::{owner_of as many_owner, ManyToOneBody, RuleBody};
use super::mappings::{certificate_values, owner_of as mapping_owner, store_new_password, MappingBody};
use super::problem::ApiError;
use super::sites::{lock_site_for_write, SiteBody};
use super::{db, AppState};
use crate::domain::certificate::Validity;
use crate::domain::directory::DirectorySpec;
use crate::domain::lint::Severity;
use crate::domain::names::{fold, SiteName};
use crate::domain::revocation::{Check, WhenUnknown};
use crate::domain::violation::{Invalid, Rejection, Violation};
use crate::iis_config::{self, xml::MAX_INPUT_BYTES, Analysis, Finding, Options, SitePlan, Source};
use crate::secrets::SecretKeys;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(lint_iis).service(import_iis);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IisFindingBody {
    #[schema(example = "mapping-not-at-site-root")]
    pub code: String,
    pub severity: SeverityBody,
    pub message: String,
    /// The `<location path>` concerned (`""` is the server level); absent for a web.config or
    /// the file as a whole.
    #[schema(example = "Default Web Site/secure")]
    pub location_path: Option<String>,
    /// 1-based line of the element concerned.
    pub line: Option<u32>,
    /// What IIS does with this configuration.
    #[schema(example = "401.2 Unauthorized, 0x80070005 Access is denied, on every request to the directory")]
    pub iis_symptom: String,
    pub fix: String,
    /// Import refuses the file unless called with `repair=true`, which applies the fix.
    pub blocks_import: bool,
}

impl From<&Finding> for IisFindingBody {
    fn from(f: &Finding) -> Self {
        Self {
            code: f.code.into(),
            severity: match f.severity {
                Severity::Error => SeverityBody::Error,
                Severity::Warning => SeverityBody::Warning,
                Severity::Info => SeverityBody::Info,
            },
            message: f.message.clone(),
            location_path: f.location_path.clone(),
            line: f.line,
            iis_symptom: f.iis_symptom.into(),
            fix: f.fix.clone(),
            blocks_import: f.blocks_import,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub enum SourceBody {
    #[serde(rename = "applicationHost.config")]
    ApplicationHost,
    #[serde(rename = "web.config")]
    WebConfig,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IisLintReport {
    /// What the file was read as; absent when it is not readable XML.
    pub source: Option<SourceBody>,
    pub errors: usize,
    pub warnings: usize,
    /// In file order.
    pub findings: Vec<IisFindingBody>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IisLintQuery {
    /// For a web.config: the IIS site it belongs to.
    pub site: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IisImportQuery {
    /// Report what would be done and change nothing (default false).
    pub dry_run: Option<bool>,
    /// Apply the fix of every finding that blocks import (default false): move a directory's or
    /// web.config's certificate mapping section to its site root, add `Ssl` where client
    /// certificates are asked for, turn other authentication off on secured directories.
    pub repair: Option<bool>,
    /// For a web.config, which names no site: the IIS site it belongs to (its settings apply to
    /// the site root).
    pub site: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImportAction {
    Created,
    Updated,
    Unchanged,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportedItem {
    /// The directory path, the certificate's SHA-256, or the many-to-one mapping's name.
    pub key: String,
    /// Absent for a dry run that would create it.
    pub id: Option<i64>,
    pub action: ImportAction,
    /// Where a mapping is in the uploaded file.
    pub line: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportedSite {
    pub name: String,
    /// Absent for a dry run that would create it.
    pub id: Option<i64>,
    /// The site itself (name, host names, mapping settings).
    pub action: ImportAction,
    /// The site's revision after the import; absent for a dry run.
    pub revision: Option<i64>,
    pub directories: Vec<ImportedItem>,
    pub one_to_one: Vec<ImportedItem>,
    pub many_to_one: Vec<ImportedItem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IisImportReport {
    pub dry_run: bool,
    pub repair: bool,
    pub source: SourceBody,
    /// What the repairs changed (with repair=true), in words.
    pub repairs: Vec<String>,
    pub sites: Vec<ImportedSite>,
    /// Every finding about the file, including items left out (damaged certificates, encrypted
    /// passwords, ...).
    pub findings: Vec<IisFindingBody>,
}

fn source_body(s: Source) -> SourceBody {
    match s {
        Source::ApplicationHost => SourceBody::ApplicationHost,
        Source::WebConfig => SourceBody::WebConfig,
    }
}

async fn read_xml(req: &HttpRequest, payload: web::Payload) -> Result<web::BytesMut, ApiError> {
    let media = media_type(req);
    if !(media == "application/xml" || media == "text/xml" || media.ends_with("+xml")) {
        return Err(ApiError::UnsupportedMediaType {
            expected: "the configuration file as XML (Content-Type: application/xml or text/xml)",
        });
    }
    read_body(payload.into_inner(), MAX_INPUT_BYTES).await
}

fn parse_site(raw: Option<String>) -> Result<Option<SiteName>, ApiError> {
    raw.map(|s| SiteName::parse(&s).map_err(|r| ApiError::from(r.at("site")))).transpose()
}

/// Lint an IIS configuration file
///
/// Findings for an applicationHost.config, an exported `<location>`, or a web.config. Any
/// authenticated caller; nothing is stored.
#[utoipa::path(tag = "lint", params(IisLintQuery),
    request_body(content((String = "application/xml"), (String = "text/xml"))),
    responses(
        (status = 200, body = IisLintReport),
        (status = 401, response = super::problem::Unauthorized),
        (status = 413, response = super::problem::TooLarge),
        (status = 415, response = super::problem::UnsupportedMedia),
        (status = 422, response = super::problem::Unprocessable),
    ))]
#[post("/lint/iis")]
pub async fn lint_iis(
    // Any authenticated caller: nothing stored is read.
    _caller: Caller,
    req: HttpRequest,
    query: web::Query<IisLintQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let site = parse_site(query.into_inner().site)?;
    let body = read_xml(&req, payload).await?;
    let analysis = web::block(move || {
        iis_config::analyze(&body, &Options { now: OffsetDateTime::now_utc(), web_config_site: site })
    })
    .await?;
    let count = |s| analysis.findings.iter().filter(|f| f.severity == s).count();
    Ok(HttpResponse::Ok().json(IisLintReport {
        source: analysis.source.map(source_body),
        errors: count(Severity::Error),
        warnings: count(Severity::Warning),
        findings: analysis.findings.iter().map(IisFindingBody::from).collect(),
    }))
}

/// Findings that stop an import, as a 422 naming each one's IIS symptom and fix.
fn refusal(findings: &[&Finding]) -> ApiError {
    ApiError::Invalid(Invalid(
        findings
            .iter()
            .map(|f| Violation {
                field: f.location_path.as_ref().map_or_else(|| "body".to_owned(), |p| format!("location[{p:?}]")),
                code: f.code,
                message: format!(
                    "{}{}. Fix: {}",
                    f.line.map(|l| format!("line {l}: ")).unwrap_or_default(),
                    f.message,
                    f.fix
                ),
                iis_symptom: Some(f.iis_symptom),
            })
            .collect(),
    ))
}

/// Import an IIS configuration file
///
/// Create or update the sites, directories and mappings the file configures (matched by site
/// name, directory path, certificate and many-to-one name, case-insensitively as IIS does), in
/// one transaction. Nothing is deleted. IIS-encrypted passwords cannot be read outside their
/// server and are never imported: such mappings arrive without a password and a finding says to
/// set it. A file IIS misreads in a way certmap refuses to store — a mapping section below the
/// site root (401.2, 0x80070005) or in a web.config (500.19) — is refused with 422 unless
/// `repair=true`. Importing the same file twice changes nothing the second time.
///
/// With `dry_run=true` the answer is the same report and nothing is stored. A token limited to some
/// sites gets 403 for a file that configures any other site.
#[utoipa::path(tag = "sites", params(IisImportQuery),
    request_body(content((String = "application/xml"), (String = "text/xml"))),
    responses(
        (status = 200, body = IisImportReport),
        (status = 401, response = super::problem::Unauthorized),
        (status = 403, response = super::problem::Forbidden),
        (status = 413, response = super::problem::TooLarge),
        (status = 415, response = super::problem::UnsupportedMedia),
        (status = 422, response = super::problem::Unprocessable),
        (status = 503, response = super::problem::Unavailable),
    ))]
#[post("/import/iis")]
pub async fn import_iis(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    query: web::Query<IisImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.may_write(&state)?;
    let query = query.into_inner();
    let (dry_run, repair) = (query.dry_run.unwrap_or(false), query.repair.unwrap_or(false));
    let site = parse_site(query.site)?;
    let body = read_xml(&req, payload).await?;
    let now = OffsetDateTime::now_utc();
    let analysis: Analysis =
        web::block(move || iis_config::analyze(&body, &Options { now, web_config_site: site })).await?;
    let Some(source) = analysis.source else {
        return Err(refusal(&analysis.findings.iter().collect::<Vec<_>>()));
    };
    if analysis.plan.needs_site {
        return Err(Rejection::new(
            "site-required",
            "a web.config does not say which IIS site it belongs to: name it with ?site=SITE NAME",
        )
        .at("site")
        .into());
    }
    let blocking: Vec<&Finding> = analysis.findings.iter().filter(|f| f.blocks_import).collect();
    if !blocking.is_empty() && !repair {
        return Err(refusal(&blocking));
    }
    let findings: Vec<IisFindingBody> = analysis.findings.iter().map(IisFindingBody::from).collect();
    let repairs = if repair { analysis.plan.repairs.clone() } else { Vec::new() };
    let plan = analysis.plan;
    let state2 = state.clone();
    let sites = db::run(&state.pool, move |conn| {
        let outcome = diesel::Connection::transaction::<_, Abort, _>(conn, |conn| {
            let mut out = Vec::new();
            for site in &plan.sites {
                out.push(import_site(conn, &caller, &state2.secrets, site, now, dry_run)?);
            }
            if dry_run {
                Err(Abort::DryRun(out))
            } else {
                Ok(out)
            }
        });
        match outcome {
            Ok(out) | Err(Abort::DryRun(out)) => Ok(out),
            Err(Abort::Api(e)) => Err(e),
        }
    })
    .await?;
    Ok(HttpResponse::Ok().json(IisImportReport {
        dry_run,
        repair,
        source: source_body(source),
        repairs,
        sites,
        findings,
    }))
}

/// Why the import transaction ends without committing.
enum Abort {
    Api(ApiError),
    /// Everything was done, to report it; now undo it.
    DryRun(Vec<ImportedSite>),
}

impl From<diesel::result::Error> for Abort {
    fn from(e: diesel::result::Error) -> Self {
        Self::Api(e.into())
    }
}

impl From<ApiError> for Abort {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

fn changed(action: ImportAction) -> bool {
    action != ImportAction::Unchanged
}

fn import_site(
    conn: &mut PgConnection,
    caller: &Caller,
    secrets: &SecretKeys,
    plan: &SitePlan,
    now: OffsetDateTime,
    dry_run: bool,
) -> Result<ImportedSite, ApiError> {
    let wanted = |current: Option<&Site>| SiteValues {
        // IIS compares site names case-insensitively: the stored spelling stays.
        name: current.map_or_else(|| plan.name.as_str().to_owned(), |c| c.name.clone()),
        hostnames: match (current, plan.hostnames.is_empty()) {
            (Some(c), true) => c.hostnames.clone(),
            _ => plan.hostnames.iter().map(|h| h.as_str().to_owned()).collect(),
        },
        mapping_enabled: plan.mapping.enabled,
        one_to_one_enabled: plan.mapping.one_to_one_enabled,
        many_to_one_enabled: plan.mapping.many_to_one_enabled,
        logon_method: plan.mapping.logon_method.as_str().to_owned(),
        default_logon_domain: plan.mapping.default_logon_domain.as_str().to_owned(),
        // IIS's files say nothing of certmap's revocation policy: an import keeps it.
        revocation_check: current.map_or_else(|| Check::default().as_str().to_owned(), |c| c.revocation_check.clone()),
        revocation_when_unknown: current
            .map_or_else(|| WhenUnknown::default().as_str().to_owned(), |c| c.revocation_when_unknown.clone()),
    };
    let (site, action) = match sites::find_by_name(conn, plan.name.as_str())? {
        None => {
            caller.check_site(plan.name.as_str(), Access::Write)?;
            let row = sites::insert(conn, &wanted(None))?;
            record(conn, caller, site_change("site.create", row.id, None, Some(&row)))?;
            (row, ImportAction::Created)
        }
        Some(found) => {
            let current = lock_site_for_write(conn, found.id, caller)?;
            let values = wanted(Some(&current));
            if same_site(&current, &values) {
                (current, ImportAction::Unchanged)
            } else {
                let row = sites::update(conn, current.id, &values)?;
                record(conn, caller, site_change("site.update", row.id, Some(&current), Some(&row)))?;
                (row, ImportAction::Updated)
            }
        }
    };
    let site_id = site.id;
    let directories =
        plan.directories.iter().map(|d| import_directory(conn, caller, site_id, d)).collect::<Result<Vec<_>, _>>()?;
    let one_to_one = plan
        .one_to_one
        .iter()
        .map(|o| import_one_to_one(conn, caller, secrets, site_id, o, now))
        .collect::<Result<Vec<_>, _>>()?;
    let existing_many = many_to_one::all(conn, site_id)?;
    let many = plan
        .many_to_one
        .iter()
        .map(|m| import_many_to_one(conn, caller, secrets, site_id, &existing_many, m))
        .collect::<Result<Vec<_>, _>>()?;
    let children_changed = directories.iter().chain(&one_to_one).chain(&many).any(|i| changed(i.action));
    let mut revision = site.revision;
    if children_changed && !changed(action) {
        revision = sites::bump_revision(conn, site_id)?;
    }
    let created = action == ImportAction::Created;
    let hide = |mut items: Vec<ImportedItem>| {
        if dry_run {
            items.iter_mut().filter(|i| i.action == ImportAction::Created).for_each(|i| i.id = None);
        }
        items
    };
    Ok(ImportedSite {
        name: site.name.clone(),
        id: (!(dry_run && created)).then_some(site_id),
        action,
        revision: (!dry_run).then_some(revision),
        directories: hide(directories),
        one_to_one: hide(one_to_one),
        many_to_one: hide(many),
    })
}

fn same_site(current: &Site, v: &SiteValues) -> bool {
    current.name == v.name
        && current.hostnames == v.hostnames
        && current.mapping_enabled == v.mapping_enabled
        && current.one_to_one_enabled == v.one_to_one_enabled
        && current.many_to_one_enabled == v.many_to_one_enabled
        && current.logon_method == v.logon_method
        && current.default_logon_domain == v.default_logon_domain
}

fn site_change(action: &'static str, id: i64, before: Option<&Site>, after: Option<&Site>) -> Change<'static> {
    Change {
        action,
        site_id: Some(id),
        resource: "site",
        resource_id: Some(id),
        before: before.and_then(|s| json(&SiteBody::from(s.clone()))),
        after: after.and_then(|s| json(&SiteBody::from(s.clone()))),
    }
}

fn directory_json(row: &Directory) -> Option<serde_json::Value> {
    DirectoryBody::try_from(row.clone()).ok().and_then(|b| json(&b))
}

fn import_directory(
    conn: &mut PgConnection,
    caller: &Caller,
    site_id: i64,
    d: &DirectorySpec,
) -> Result<ImportedItem, ApiError> {
    let existing =
        directories::all(conn, site_id)?.into_iter().find(|r| r.path.to_lowercase() == d.path.as_str().to_lowercase());
    let mut values = super::directories::values_of(d);
    let (row, action) = match existing {
        None => {
            let row = directories::insert(conn, site_id, &values)?;
            let change = Change {
                action: "directory.create",
                site_id: Some(site_id),
                resource: "directory",
                resource_id: Some(row.id),
                before: None,
                after: directory_json(&row),
            };
            record(conn, caller, change)?;
            (row, ImportAction::Created)
        }
        Some(current) => {
            // Paths compare case-insensitively in IIS: the stored spelling stays.
            values.path = current.path.clone();
            let same = current.require_ssl == values.require_ssl
                && current.client_certificates == values.client_certificates
                && current.anonymous_auth == values.anonymous_auth
                && current.basic_auth == values.basic_auth
                && current.windows_auth == values.windows_auth
                && current.digest_auth == values.digest_auth;
            if same {
                (current, ImportAction::Unchanged)
            } else {
                let row = directories::update(conn, site_id, current.id, &values)?;
                let change = Change {
                    action: "directory.update",
                    site_id: Some(site_id),
                    resource: "directory",
                    resource_id: Some(row.id),
                    before: directory_json(&current),
                    after: directory_json(&row),
                };
                record(conn, caller, change)?;
                (row, ImportAction::Updated)
            }
        }
    };
    Ok(ImportedItem { key: row.path, id: Some(row.id), action, line: None })
}

fn import_one_to_one(
    conn: &mut PgConnection,
    caller: &Caller,
    secrets: &SecretKeys,
    site_id: i64,
    o: &iis_config::OneToOnePlan,
    now: OffsetDateTime,
) -> Result<ImportedItem, ApiError> {
    let info = o.certificate.info();
    let outside_validity = o.certificate.validity_at(now) != Validity::Valid;
    let (row, action) = match mappings::find_by_certificate(conn, site_id, &info.sha256)? {
        None => {
            let new = NewMapping {
                site_id,
                values: MappingValues {
                    user_name: o.user_name.as_str().to_owned(),
                    password_enc: None,
                    enabled: o.enabled,
                    description: None,
                    expires_at: None,
                    allow_expired: outside_validity,
                },
                certificate: certificate_values(&o.certificate),
            };
            let mut row = mappings::insert(conn, &new)?;
            if let Some(password) = &o.password {
                row.password_enc = Some(store_new_password(conn, secrets, mapping_owner(&row), password)?);
            }
            let change = Change {
                action: "mapping.create",
                site_id: Some(site_id),
                resource: "mapping",
                resource_id: Some(row.id),
                before: None,
                after: json(&MappingBody::from_row(row.clone(), now)),
            };
            record(conn, caller, change)?;
            (row, ImportAction::Created)
        }
        Some(current) => {
            // A stored password is kept: the file's is the same or unreadable (IIS-encrypted).
            let sealed = || o.password.as_ref().map(|p| secrets.encrypt(mapping_owner(&current), p));
            let password_enc = current.password_enc.clone().or_else(sealed);
            let same = current.user_name == o.user_name.as_str()
                && current.enabled == o.enabled
                && current.password_enc.is_some() == password_enc.is_some();
            if same {
                (current, ImportAction::Unchanged)
            } else {
                let values = MappingValues {
                    user_name: o.user_name.as_str().to_owned(),
                    password_enc,
                    enabled: o.enabled,
                    description: current.description.clone(),
                    expires_at: current.expires_at,
                    allow_expired: current.allow_expired || outside_validity,
                };
                let row = mappings::update(conn, site_id, current.id, &values)?;
                let change = Change {
                    action: "mapping.update",
                    site_id: Some(site_id),
                    resource: "mapping",
                    resource_id: Some(row.id),
                    before: json(&MappingBody::from_row(current, now)),
                    after: json(&MappingBody::from_row(row.clone(), now)),
                };
                record(conn, caller, change)?;
                (row, ImportAction::Updated)
            }
        }
    };
    Ok(ImportedItem { key: row.sha256, id: Some(row.id), action, line: Some(o.line) })
}

fn many_json(row: &ManyToOneRow) -> Option<serde_json::Value> {
    ManyToOneBody::try_from(row.clone()).ok().and_then(|b| json(&b))
}

fn import_many_to_one(
    conn: &mut PgConnection,
    caller: &Caller,
    secrets: &SecretKeys,
    site_id: i64,
    existing: &[ManyToOneRow],
    m: &iis_config::ManyToOnePlan,
) -> Result<ImportedItem, ApiError> {
    let rules = serde_json::to_value(m.rules.iter().map(RuleBody::from).collect::<Vec<_>>())
        .map_err(|e| ApiError::Internal(format!("rules as JSON: {e}")))?;
    let current = existing.iter().find(|r| fold(&r.name) == fold(&m.name));
    let sealed = current.and_then(|c| m.password.as_ref().map(|p| secrets.encrypt(many_owner(c), p)));
    let values = ManyToOneValues {
        name: current.map_or_else(|| m.name.clone(), |c| c.name.clone()),
        description: m.description.clone(),
        enabled: m.enabled,
        permission_mode: m.mode.as_str().to_owned(),
        user_name: m.user_name.as_ref().map(|u| u.as_str().to_owned()),
        password_enc: current.and_then(|c| c.password_enc.clone()).or(sealed),
        rules,
    };
    let (row, action) = match current {
        None => {
            let mut row = many_to_one::insert(conn, site_id, &values)?;
            if let Some(password) = &m.password {
                row.password_enc = Some(store_new_password(conn, secrets, many_owner(&row), password)?);
            }
            let change = Change {
                action: "many_to_one.create",
                site_id: Some(site_id),
                resource: "many_to_one",
                resource_id: Some(row.id),
                before: None,
                after: many_json(&row),
            };
            record(conn, caller, change)?;
            (row, ImportAction::Created)
        }
        Some(c) => {
            let same = c.description == values.description
                && c.enabled == values.enabled
                && c.permission_mode == values.permission_mode
                && c.user_name == values.user_name
                && c.password_enc.is_some() == values.password_enc.is_some()
                && c.rules == values.rules;
            if same {
                (c.clone(), ImportAction::Unchanged)
            } else {
                let row = many_to_one::update(conn, site_id, c.id, &values)?;
                let change = Change {
                    action: "many_to_one.update",
                    site_id: Some(site_id),
                    resource: "many_to_one",
                    resource_id: Some(row.id),
                    before: many_json(c),
                    after: many_json(&row),
                };
                record(conn, caller, change)?;
                (row, ImportAction::Updated)
            }
        }
    };
    Ok(ImportedItem { key: row.name, id: Some(row.id), action, line: Some(m.line) })
}
