//! What IIS would do with a certificate on a site: the same matching code the gateways' authorize
//! endpoint uses.

use actix_web::{post, web, HttpRequest, HttpResponse};
use certmap_db::queries::{many_to_one, mappings};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::caller::Caller;
use super::certificate_input::{self, body_kind, BodyKind};
use super::crls::{RevocationStatus, RevocationStatusBody};
use super::extract::{parse_json, read_body, DEFAULT_BODY_LIMIT};
use super::many_to_one::{mode_of, rules_of};
use super::problem::ApiError;
use super::sites::{policy_of, require_site, spec_of};
use super::{db, AppState};
use crate::domain::certificate::CertificateInfo;
use crate::domain::directory::ClientCertificates;
use crate::domain::request_path::RequestPath;
use crate::domain::resolve::{resolve, Decision, ManyToOneView, OneToOneView};
use crate::domain::revocation::{Status, WhenUnknown};
use crate::domain::violation::Invalid;
use crate::gateway::ocsp::Der;
use certmap_db::models::Site;
use certmap_db::PgConnection;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(resolve_certificate);
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// PEM, base64 DER or the IIS one-line form.
    pub certificate: String,
    /// A request URI as the client sends it (percent-encoded): the answer then says whether the
    /// request passes there, as authorize decides it.
    #[serde(default)]
    pub path: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ResolveQuery {
    /// A request URI as the client sends it (for a certificate sent as the body; a JSON body's
    /// `path` wins).
    pub path: Option<String>,
}

/// What happens to a request presenting the certificate at `path`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PathAccess {
    /// The path as IIS reads it: decoded once, `\` as `/`, repeated slashes folded.
    pub path: String,
    /// The directory whose settings apply; none when the site has none for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<String>,
    /// That directory's client certificate setting: ignore, accept or require.
    pub client_certificates: String,
    /// Whether the request passes, as `GET /api/v1/authorize` decides it.
    pub passes: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    OneToOne,
    ManyToOne,
    Denied,
    NoMapping,
    /// The certificate's CA revoked it: refused whatever maps it (`revocation` has the facts).
    Revoked,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Resolution {
    pub outcome: Outcome,
    /// The account IIS logs the request on as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapping_id: Option<i64>,
    /// The many-to-one mapping that decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub many_to_one_name: Option<String>,
    /// Why nothing mapped: mapping-disabled, certificate-expired, certificate-not-yet-valid,
    /// one-to-one-disabled, mapping-expired, no-match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What IIS answers when the request is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iis_symptom: Option<String>,
    pub sha256: String,
    pub subject: String,
    pub issuer: String,
    /// By the CRLs held and the site's revocation policy, as authorize decides.
    pub revocation: RevocationStatusBody,
    /// With a `path`: whether a request there passes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<PathAccess>,
}

/// What IIS would decide for this certificate on this site, read in the caller's transaction:
/// the one place resolve and the gateways' authorize endpoint get their answer from.
pub fn decide(conn: &mut PgConnection, site: &Site, cert: &CertificateInfo) -> Result<Decision, ApiError> {
    let one = mappings::find_by_certificate(conn, site.id, &cert.sha256)?;
    let many = many_to_one::all(conn, site.id)?;
    let settings = spec_of(site)?.mapping;
    let rules = many.iter().map(rules_of).collect::<Result<Vec<_>, _>>()?;
    let views: Vec<ManyToOneView<'_>> = many
        .iter()
        .zip(&rules)
        .map(|(m, rules)| ManyToOneView {
            id: m.id,
            name: &m.name,
            enabled: m.enabled,
            mode: mode_of(m),
            user_name: m.user_name.as_deref(),
            rules,
        })
        .collect();
    let one_view = one.as_ref().map(|m| OneToOneView {
        id: m.id,
        enabled: m.enabled,
        user_name: &m.user_name,
        expires_at: m.expires_at,
    });
    Ok(resolve(cert, OffsetDateTime::now_utc(), &settings, one_view, &views))
}

/// Test which mapping a certificate resolves to
///
/// Which mapping matches a certificate and as whom IIS would log it on: one-to-one first, then
/// many-to-one in order, where a matching deny wins; or no mapping (401.1).
///
/// With `path` (in the JSON body or the query), `access` says whether a request presenting the
/// certificate there passes, as `GET /api/v1/authorize` decides it; a path a backend might read as
/// another directory is refused with 422 `path-not-canonical` on the field `path` (a well-formed
/// request certmap will not decide; authorize answers a gateway's such request with 400).
///
/// A dry run of IIS's decision with the site's current settings and mappings: nothing is stored.
/// Send JSON, or the certificate itself (PEM or DER). A token limited to other sites gets 404: a
/// site it may not read does not exist for it.
#[utoipa::path(tag = "mappings", params(("site_id" = i64, Path), ResolveQuery),
    request_body(content((ResolveRequest = "application/json"), (String = "application/x-pem-file"), (inline(super::binary_body::BinaryBody) = "application/pkix-cert"), (inline(super::binary_body::BinaryBody) = "application/x-x509-ca-cert"), (inline(super::binary_body::BinaryBody) = "application/octet-stream"), (String = "text/plain"))),
    responses(
        (status = 200, body = Resolution),
        (status = 400, response = super::problem::BadRequest),
        (status = 404, response = super::problem::NotFound),
        (status = 413, response = super::problem::TooLarge),
        (status = 415, response = super::problem::UnsupportedMedia),
        (status = 422, response = super::problem::Unprocessable),
        (status = 503, response = super::problem::Unavailable),
    ))]
#[post("/sites/{site_id}/resolve")]
pub async fn resolve_certificate(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<i64>,
    query: web::Query<ResolveQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.may_read()?;
    let site_id = path.into_inner();
    let kind = body_kind(&req)?;
    let body = read_body(payload.into_inner(), DEFAULT_BODY_LIMIT).await?;
    let (cert, uri) = match kind {
        BodyKind::Json => {
            let request = parse_json::<ResolveRequest>(&body)?;
            (certificate_input::parse_text(&request.certificate, "certificate")?.0, request.path)
        }
        BodyKind::RawCertificate => (certificate_input::parse_bytes(&body, "certificate")?.0, None),
    };
    let uri = uri.or_else(|| query.into_inner().path);
    let request_path =
        uri.map(|uri| RequestPath::parse(&uri).map_err(|why| Invalid::one(why.rejection().at("path")))).transpose()?;
    let info = cert.info().clone();
    let (decision, policy, directories) = db::transaction(&state.pool, move |conn| {
        let site = require_site(conn, site_id, &caller)?;
        let directories = certmap_db::queries::directories::all(conn, site.id)?
            .iter()
            .map(super::directories::spec_of)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((decide(conn, &site, &info)?, policy_of(&site).unwrap_or_default(), directories))
    })
    .await?;
    let info = cert.info();
    let crls = state.cache.revocations(&state.pool).await?;
    let ocsp = match policy.check.asks_ocsp() {
        true => {
            let site = state.cache.view(&state.pool, site_id).await?;
            state.ocsp.for_site(&site, &info.issuer, &info.serial, Der::Presented(cert.der())).await?
        }
        false => Status::NotChecked,
    };
    let revocation =
        RevocationStatusBody::of(&crls, policy, (&info.issuer, &info.serial), ocsp, OffsetDateTime::now_utc());
    let mut out = Resolution {
        outcome: Outcome::NoMapping,
        user_name: decision.user_name().map(str::to_owned),
        mapping_id: None,
        many_to_one_name: None,
        reason: None,
        iis_symptom: None,
        sha256: info.sha256.clone(),
        subject: info.subject.clone(),
        issuer: info.issuer.clone(),
        revocation,
        access: None,
    };
    match &decision {
        Decision::OneToOne { mapping_id, .. } => {
            out.outcome = Outcome::OneToOne;
            out.mapping_id = Some(*mapping_id);
        }
        Decision::ManyToOne { mapping_id, name, .. } => {
            out.outcome = Outcome::ManyToOne;
            out.mapping_id = Some(*mapping_id);
            out.many_to_one_name = Some(name.clone());
        }
        Decision::Denied { mapping_id, name } => {
            out.outcome = Outcome::Denied;
            out.mapping_id = Some(*mapping_id);
            out.many_to_one_name = Some(name.clone());
            out.iis_symptom = Some(decision.iis_symptom().into());
        }
        Decision::NoMapping { reason } => {
            out.reason = Some(reason.as_str().into());
            out.iis_symptom = Some(decision.iis_symptom().into());
        }
    }
    let revocation_refuses = out.revocation.status == RevocationStatus::Revoked
        || (out.revocation.status == RevocationStatus::Unknown && policy.when_unknown == WhenUnknown::Deny);
    if out.revocation.status == RevocationStatus::Revoked {
        out.outcome = Outcome::Revoked;
        out.user_name = None;
    }
    out.access = request_path.map(|p| {
        let directory = p.directory(&directories);
        let needs = directory.map_or(ClientCertificates::Ignore, |d| d.policy.client_certificates);
        PathAccess {
            path: p.as_str().to_owned(),
            directory: directory.map(|d| d.path.as_str().to_owned()),
            client_certificates: needs.as_str().to_owned(),
            passes: needs == ClientCertificates::Ignore || (!revocation_refuses && needs.admits(&decision)),
        }
    });
    Ok(HttpResponse::Ok().json(out))
}
