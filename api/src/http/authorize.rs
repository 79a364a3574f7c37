//! Per-request authorization for gateways (nginx `auth_request`, custom proxies): given the
//! client's certificate (or its fingerprint), the site and the original URI, say whether the
//! request may pass and as whom — with the same decision code as `resolve`.

use actix_web::http::header::HeaderMap;
use actix_web::http::StatusCode;
use actix_web::{get, web, HttpRequest, HttpResponse};
use time::OffsetDateTime;
use utoipa_actix_web::service_config::ServiceConfig;

use super::caller::{Access, Caller};
use super::problem::{ApiError, Problem};
use super::site_view::SiteView;
use super::{db, AppState};
use crate::domain::certificate::CertificateInfo;
use crate::domain::directory::{directory_for, ClientCertificates};
use crate::domain::mapping::parse_fingerprint;
use crate::domain::resolve::Decision;
use crate::domain::violation::Rejection;

pub const USER_HEADER: &str = "X-Certmap-User";
pub const MAPPING_HEADER: &str = "X-Certmap-Mapping-Id";

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(authorize);
}

/// How the client was identified by the gateway.
enum Presented {
    None,
    Certificate(Box<CertificateInfo>),
    Fingerprint(String),
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

fn presented(headers: &HeaderMap) -> Result<Presented, ApiError> {
    if let Some(text) = header(headers, "X-SSL-Client-Cert") {
        let cert = super::certificate_input::parse_text(text, "X-SSL-Client-Cert")?.0;
        return Ok(Presented::Certificate(Box::new(cert.info().clone())));
    }
    for name in ["X-SSL-Client-SHA256", "X-SSL-Client-SHA1"] {
        if let Some(fp) = header(headers, name) {
            return Ok(Presented::Fingerprint(parse_fingerprint(fp).map_err(|r| r.at(name))?));
        }
    }
    Ok(Presented::None)
}

enum Verdict {
    Pass { user: Option<(String, i64)> },
    CertificateRequired,
    Refused(String),
}

fn refusal(decision: &Decision) -> String {
    match decision {
        Decision::Denied { name, .. } => format!("denied by many-to-one mapping {name:?}"),
        Decision::NoMapping { reason } => format!("no mapping: {}", reason.as_str()),
        _ => String::new(),
    }
}

/// From the cached site alone, except for a certificate known only by fingerprint whose answer
/// depends on many-to-one rules: those need its names, read from the database.
async fn judge(state: &AppState, site: &SiteView, uri: &str, client: Presented) -> Result<Verdict, ApiError> {
    let needs =
        directory_for(uri, &site.directories).map_or(ClientCertificates::Ignore, |d| d.policy.client_certificates);
    let now = OffsetDateTime::now_utc();
    let decision = match client {
        Presented::None if needs == ClientCertificates::Require => return Ok(Verdict::CertificateRequired),
        _ if needs == ClientCertificates::Ignore => return Ok(Verdict::Pass { user: None }),
        Presented::None => return Ok(Verdict::Pass { user: None }),
        Presented::Certificate(info) => site.decide(&info, now),
        Presented::Fingerprint(fp) => match site.by_fingerprint(&fp) {
            None if needs == ClientCertificates::Require => {
                return Ok(Verdict::Refused("no mapping for this fingerprint".into()))
            }
            None => return Ok(Verdict::Pass { user: None }),
            Some(m) => match site.decide_stored(m, now) {
                Some(decision) => decision,
                None => {
                    let (site_id, mapping_id) = (site.id, m.id);
                    let info =
                        db::run(&state.pool, move |conn| SiteView::stored_certificate(conn, site_id, mapping_id))
                            .await?;
                    site.decide(&info, now)
                }
            },
        },
    };
    Ok(match (&decision, needs) {
        (Decision::OneToOne { mapping_id, user_name } | Decision::ManyToOne { mapping_id, user_name, .. }, _) => {
            Verdict::Pass { user: Some((user_name.clone(), *mapping_id)) }
        }
        (_, ClientCertificates::Require) => Verdict::Refused(refusal(&decision)),
        _ => Verdict::Pass { user: None },
    })
}

fn denial(status: StatusCode, code: &str, detail: String) -> HttpResponse {
    let problem = Problem {
        type_: format!("urn:certmap:problem:{code}"),
        title: "The client may not pass".into(),
        status: status.as_u16(),
        detail,
        code: code.into(),
        iis_symptom: None,
        errors: Vec::new(),
    };
    HttpResponse::build(status).content_type(super::problem::PROBLEM_JSON).json(problem)
}

/// Decide whether a gateway lets a client in
///
/// Whether a client may pass the gateway, and as whom. Send the client certificate in
/// `X-SSL-Client-Cert` (nginx's `$ssl_client_escaped_cert`, PEM, or the IIS one-line form) or
/// only its fingerprint (`X-SSL-Client-SHA256` / `X-SSL-Client-SHA1`), the site in
/// `X-Certmap-Site` (name or id) and the request in `X-Original-URI`. 200 with `X-Certmap-User`
/// when the path's directory takes certificates and this one maps; 200 without a user when the
/// path needs none; 401 when a certificate is required and none was sent; 403 when it does not
/// map, is disabled, expired or denied.
#[utoipa::path(tag = "gateways", params(
        ("X-Certmap-Site" = String, Header, description = "The site's name or id"),
        ("X-Original-URI" = Option<String>, Header, description = "The request URI as the client sent it (default /)"),
        ("X-SSL-Client-Cert" = Option<String>, Header, description = "The client certificate: URL-escaped PEM, PEM or the IIS one-line form"),
        ("X-SSL-Client-SHA256" = Option<String>, Header, description = "Instead of the certificate: its SHA-256, hex"),
        ("X-SSL-Client-SHA1" = Option<String>, Header, description = "Instead of the certificate: its SHA-1, hex"),
    ),
    responses(
        (status = 200, description = "The request may pass", headers(
            ("X-Certmap-User" = Option<String>, description = "The mapped account, when the directory takes certificates"),
            ("X-Certmap-Mapping-Id" = Option<String>, description = "The mapping that decided"))),
        (status = 401, description = "A client certificate is required and none was sent", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The certificate does not map, is disabled or expired, or a deny rule matched", body = Problem, content_type = "application/problem+json"),
        (status = 404, response = super::problem::NotFound),
        (status = 422, response = super::problem::Unprocessable),
        (status = 503, response = super::problem::Unavailable),
    ))]
#[get("/authorize")]
pub async fn authorize(state: web::Data<AppState>, caller: Caller, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    caller.may_read_config()?;
    let headers = req.headers();
    let client = presented(headers)?;
    let key = header(headers, "X-Certmap-Site").ok_or_else(|| {
        ApiError::from(
            Rejection::new("missing-site", "send the site in X-Certmap-Site (its name or id)").at("X-Certmap-Site"),
        )
    })?;
    let site = state.cache.view_by_key(&state.pool, key).await?;
    caller.check_site(site.name.as_str(), Access::Read)?;
    let uri = header(headers, "X-Original-URI").unwrap_or("/");
    let verdict = judge(&state, &site, uri, client).await?;
    Ok(match verdict {
        Verdict::Pass { user: Some((user, id)) } => {
            state.metrics.decided("mapped");
            HttpResponse::Ok()
                .insert_header((USER_HEADER, user))
                .insert_header((MAPPING_HEADER, id.to_string()))
                .finish()
        }
        Verdict::Pass { user: None } => {
            state.metrics.decided("pass");
            HttpResponse::Ok().finish()
        }
        Verdict::CertificateRequired => {
            state.metrics.decided("certificate-required");
            denial(
                StatusCode::UNAUTHORIZED,
                "client-certificate-required",
                "this path requires a client certificate and none was presented (IIS: 403.7)".into(),
            )
        }
        Verdict::Refused(why) => {
            state.metrics.decided("refused");
            denial(StatusCode::FORBIDDEN, "client-certificate-refused", why)
        }
    })
}
