//! Per-request authorization for gateways (nginx `auth_request`, custom proxies): given the
//! client's certificate (or its fingerprint), the site and the original URI, say whether the
//! request may pass and as whom — with the same decision code as `resolve`.

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpRequest, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;

use super::caller::{Access, Caller};
use super::problem::{ApiError, Problem};
use super::AppState;
use crate::domain::names::SiteKey;
use crate::domain::violation::Rejection;
use crate::gateway::authorize::{header, judge, presented, Verdict};

pub const USER_HEADER: &str = "X-Certmap-User";
pub const MAPPING_HEADER: &str = "X-Certmap-Mapping-Id";

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(authorize);
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
/// `X-Certmap-Site` (`id:N`, `name:S`, or bare: an integer is an id, anything else a name) and the request in `X-Original-URI`. 200 with `X-Certmap-User`
/// when the path's directory takes certificates and this one maps; 200 without a user when the
/// path needs none; 401 when a certificate is required and none was sent; 403 when it does not
/// map, is disabled, expired or denied.
#[utoipa::path(tag = "gateways", params(
        ("X-Certmap-Site" = String, Header, description = "The site: `id:N`, `name:S`, or bare (an integer is an id, anything else a name)"),
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
    let key = SiteKey::parse(key).map_err(|r| ApiError::from(r.at("X-Certmap-Site")))?;
    let site = state.cache.view_by_key(&state.pool, &key).await?;
    caller.check_site(site.name.as_str(), Access::Read)?;
    let uri = header(headers, "X-Original-URI").unwrap_or("/");
    let verdict = judge(&state.pool, &site, uri, client).await?;
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
