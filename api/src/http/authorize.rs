//! Per-request authorization for gateways (nginx `auth_request`, Envoy `ext_authz`, Traefik
//! `ForwardAuth`, Caddy `forward_auth`): given the client's certificate in the form the caller
//! declared, the site and the original URI, say whether the request may pass and as whom — with
//! the same decision code as `resolve`.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{get, route, web, HttpRequest, HttpResponse};
use utoipa_actix_web::service_config::ServiceConfig;

use super::caller::{Access, Caller};
use super::problem::{ApiError, Problem};
use super::stale;
use super::AppState;
use crate::domain::names::SiteKey;
use crate::domain::request_path::{NotCanonical, RequestPath, NOT_CANONICAL};
use crate::domain::violation::Rejection;
use crate::gateway::authorize::{header, judge, Verdict};
use crate::gateway::client_identity::presented;

// Built once rather than parsed from text on every call.
pub const USER_HEADER: HeaderName = HeaderName::from_static("x-certmap-user");
pub const MAPPING_HEADER: HeaderName = HeaderName::from_static("x-certmap-mapping-id");
/// On a pass whose certificate's revocation could not be decided (the site allows that).
pub const REVOCATION_HEADER: HeaderName = HeaderName::from_static("x-certmap-revocation");
const SITE_HEADER: HeaderName = HeaderName::from_static("x-certmap-site");
const EMPTY: HeaderValue = HeaderValue::from_static("");

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(authorize).service(authorize_by_path);
}

/// 400 `path-not-canonical`: never "not secured" for a path a backend may read otherwise.
pub fn not_canonical(field: &str, why: NotCanonical) -> ApiError {
    ApiError::BadHeader { code: NOT_CANONICAL, header: field.to_owned(), detail: why.rejection().message }
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
/// Whether a client may pass the gateway, and as whom: the site in `X-Certmap-Site` (`id:N`,
/// `name:S`, or bare: an integer is an id, anything else a name), the request in `X-Original-URI`
/// (for the `traefik` form, Traefik's own `X-Forwarded-Uri` first), and the client certificate in
/// the ONE form the caller's credential declares (`certmap token issue --client-identity FORM`,
/// `certmap api-client add --client-identity FORM`; without a declaration, `nginx`):
///
/// | form | header | value |
/// |---|---|---|
/// | `nginx` | `X-SSL-Client-Cert` | `$ssl_client_escaped_cert` (URL-encoded PEM; PEM and the IIS one-line form too) |
/// | `apache` | `X-SSL-Client-Cert` | `%{SSL_CLIENT_CERT}s` through mod_headers (PEM with spaces for line breaks; `(null)` for none) |
/// | `envoy` | `X-Forwarded-Client-Cert` | XFCC; the last element decides: its `Cert`, else its `Hash` as the fingerprint of a stored certificate |
/// | `traefik` | `X-Forwarded-Tls-Client-Cert` | `passTLSClientCert` `pem: true`: base64 DER, comma-joined chain, the client's first; URL-escaped or not |
/// | `caddy` | `X-Caddy-Client-Cert` | `{http.request.tls.client.certificate_der_base64}` or `{http.request.tls.client.fingerprint}`; an unexpanded `{...}` means none |
/// | `haproxy` | `X-SSL-Client-DER` | `%[ssl_c_der,base64]` |
/// | `rfc9440` | `Client-Cert`, `Client-Cert-Chain` | RFC 9440 byte sequences, `:<base64 DER>:` |
/// | `fingerprint` | `X-SSL-Client-SHA256` or `X-SSL-Client-SHA1` | the certificate's hash, hex; only when declared |
///
/// Any OTHER form's header on the request is refused with 400 `unexpected-client-identity`: a
/// client may have sent it past a gateway that did not clear it. An absent or empty header (or
/// `(null)`, or a placeholder) means no certificate. 200 when the request may pass; the answer
/// always carries `X-Certmap-User` and `X-Certmap-Mapping-Id`, empty when no mapping applies, so a
/// gateway that copies them (Traefik `authResponseHeaders`, Caddy `copy_headers`) never forwards a
/// client's own copy. 401 when a certificate is required and none was sent; 403 when it does not
/// map, is disabled, expired or denied.
///
/// The URI's path is decoded once, `\` read as `/` and repeated slashes folded, and matched to the
/// site's directories case-insensitively, as IIS does. A path a backend might read as another
/// directory is refused with 400 `path-not-canonical`, never passed as "not secured": a `;`, a `:`,
/// a `.` or `..` segment, a segment ending in `.` or a space, an encoded `/` or `\`, a `%` left
/// after decoding (double encoding), a malformed escape, a control character, bytes that are not
/// UTF-8, or a character whose case mapping or NFKC form is ASCII (`ſ`, the Kelvin sign, fullwidth
/// letters). Where a directory accepts a certificate without requiring it, one that a Deny rule
/// matches is refused (403) as where it is required; one nothing maps passes anonymously.
///
/// Revocation is decided first, from the CRLs held in memory and, where the site's policy asks
/// OCSP, the responder's answer (cached until its nextUpdate, at most `--ocsp-max-cache`): a
/// revoked certificate is 403 `certificate-revoked` whatever maps it; one whose issuer's CRL is
/// past its nextUpdate, or whose responder gave no answer that counts, is 403
/// `revocation-unknown`, or passes with `X-Certmap-Revocation: unknown` when the site's policy
/// says `when_unknown: allow`. While no CRL is held for the issuer (and the certificate names no
/// OCSP responder), nothing is refused for it.
#[utoipa::path(tag = "gateways", params(
        ("X-Certmap-Site" = String, Header, description = "The site: `id:N`, `name:S`, or bare (an integer is an id, anything else a name)"),
        ("X-Original-URI" = Option<String>, Header, description = "The request URI as the client sent it (default /)"),
        ("X-SSL-Client-Cert" = Option<String>, Header, description = "Forms nginx and apache: the client certificate as URL-escaped PEM, PEM, the IIS one-line form, or Apache's PEM with spaces"),
        ("X-Forwarded-Client-Cert" = Option<String>, Header, description = "Form envoy: Envoy's XFCC"),
        ("X-Forwarded-Tls-Client-Cert" = Option<String>, Header, description = "Form traefik: base64 DER certificates, comma-joined, the client's first"),
        ("X-Caddy-Client-Cert" = Option<String>, Header, description = "Form caddy: base64 DER or the SHA-256 fingerprint, hex"),
        ("X-SSL-Client-DER" = Option<String>, Header, description = "Form haproxy: base64 DER"),
        ("Client-Cert" = Option<String>, Header, description = "Form rfc9440: `:<base64 DER>:`"),
        ("Client-Cert-Chain" = Option<String>, Header, description = "Form rfc9440: the chain, byte sequences separated by commas"),
        ("X-SSL-Client-SHA256" = Option<String>, Header, description = "Form fingerprint: the certificate's SHA-256, hex"),
        ("X-SSL-Client-SHA1" = Option<String>, Header, description = "Form fingerprint: the certificate's SHA-1, hex"),
    ),
    responses(
        (status = 200, description = "The request may pass", headers(
            ("X-Certmap-User" = String, description = "The mapped account; empty when the path takes no certificate or none mapped"),
            ("X-Certmap-Mapping-Id" = String, description = "The mapping that decided; empty when none did"),
            ("X-Certmap-Revocation" = Option<String>, description = "`unknown` when the certificate's revocation could not be decided and the site allows that"),
            ("X-Certmap-Stale" = Option<u64>, description = "Present when answered from memory while the database does not answer: whole seconds since it last did (see --serve-stale-for)"))),
        (status = 400, description = "A header of another client-identity form than the credential declares (`unexpected-client-identity`), or the declared one twice (`ambiguous-client-identity`), or a request path a backend might read as another directory (`path-not-canonical`); `errors[0].field` names the header", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A client certificate is required and none was sent", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The certificate does not map, is disabled, expired or revoked, its revocation is unknown, or a deny rule matched", body = Problem, content_type = "application/problem+json"),
        (status = 404, response = super::problem::NotFound),
        (status = 422, response = super::problem::Unprocessable),
        (status = 431, description = "A client-identity header is larger than 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = super::problem::Unavailable),
    ))]
#[get("/authorize")]
pub async fn authorize(state: web::Data<AppState>, caller: Caller, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let identity = caller.client_identity();
    let found = identity
        .uri_headers()
        .iter()
        .find_map(|&name| header(req.headers(), HeaderName::from_static(name)).map(|uri| (name, uri)));
    let (field, uri) = found.unwrap_or((identity.uri_headers()[0], "/"));
    decide(&state, &caller, &req, field, uri).await
}

/// Decide a request named by this URL's path (Envoy ext_authz)
///
/// The same decision as `GET /api/v1/authorize`, for gateways that cannot send the request's URI
/// in a header: Envoy's `ext_authz` HTTP service calls `path_prefix` followed by the client's
/// own path and query, with the client's own method. With `path_prefix: /api/v1/authorize`, the
/// request `DELETE /secure/a?b=1` arrives as `DELETE /api/v1/authorize/secure/a?b=1`, and certmap
/// decides `/secure/a?b=1`. Any method is answered alike; `X-Original-URI` is ignored here, since
/// the path is the request's own. Headers, credentials and answers are as for `GET
/// /api/v1/authorize`.
#[utoipa::path(method(get, post, put, delete, patch, head, options), tag = "gateways",
    params(
        ("path" = String, Path, description = "The client's request path, without its leading `/`"),
        ("X-Certmap-Site" = String, Header, description = "The site: `id:N`, `name:S`, or bare (an integer is an id, anything else a name)"),
    ),
    responses(
        (status = 200, description = "The request may pass (`X-Certmap-User`, `X-Certmap-Mapping-Id` as for GET /api/v1/authorize)"),
        (status = 400, description = "A header of another client-identity form than the credential declares, or a path a backend might read as another directory (`path-not-canonical`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A client certificate is required and none was sent", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The certificate does not map, is disabled, expired or revoked, or a deny rule matched", body = Problem, content_type = "application/problem+json"),
        (status = 404, response = super::problem::NotFound),
        (status = 422, response = super::problem::Unprocessable),
        (status = 431, description = "A client-identity header is larger than 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 503, response = super::problem::Unavailable),
    ))]
#[route(
    "/authorize/{path:.*}",
    method = "GET",
    method = "POST",
    method = "PUT",
    method = "DELETE",
    method = "PATCH",
    method = "HEAD",
    method = "OPTIONS"
)]
pub async fn authorize_by_path(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    // The raw path and query as sent (still percent-encoded, as X-Original-URI would carry them).
    let full = req.uri().path_and_query().map_or("", |p| p.as_str());
    let uri = full.strip_prefix(super::API_PREFIX).and_then(|rest| rest.strip_prefix("/authorize")).unwrap_or("/");
    let uri = if uri.starts_with('/') { uri.to_owned() } else { format!("/{uri}") };
    decide(&state, &caller, &req, "path", &uri).await
}

/// `field` names where `uri` came from, for the problem when it is not canonical.
async fn decide(
    state: &AppState,
    caller: &Caller,
    req: &HttpRequest,
    field: &str,
    uri: &str,
) -> Result<HttpResponse, ApiError> {
    caller.may_read_config()?;
    let path = RequestPath::parse(uri).map_err(|why| not_canonical(field, why))?;
    let headers = req.headers();
    let client = presented(caller.client_identity(), headers)?;
    let key = header(headers, SITE_HEADER).ok_or_else(|| {
        ApiError::from(
            Rejection::new("missing-site", "send the site in X-Certmap-Site (its name or id)").at("X-Certmap-Site"),
        )
    })?;
    let key = SiteKey::parse(key).map_err(|r| ApiError::from(r.at("X-Certmap-Site")))?;
    let site = state.cache.view_by_key(&state.pool, &key).await?;
    caller.check_site(site.name.as_str(), Access::Read)?;
    let crls = state.cache.revocations(&state.pool).await?;
    let verdict = judge(&state.pool, &site, (&crls, &state.ocsp), &path, client).await?;
    Ok(stale::mark(
        state,
        match verdict {
            Verdict::Pass { user, revocation_unknown } => {
                let mut response = HttpResponse::Ok();
                if revocation_unknown {
                    response.insert_header((REVOCATION_HEADER, HeaderValue::from_static("unknown")));
                }
                // Both headers always, empty when nobody mapped: Caddy copies a declared header the
                // answer lacks as its literal placeholder.
                let (user, id) = match user {
                    Some((user, id)) => {
                        state.metrics.decided("mapped");
                        // A stored user name is printable text, so this never falls back.
                        (HeaderValue::try_from(user).unwrap_or(EMPTY), HeaderValue::from(id))
                    }
                    None => {
                        state.metrics.decided("pass");
                        (EMPTY, EMPTY)
                    }
                };
                response.insert_header((USER_HEADER, user)).insert_header((MAPPING_HEADER, id)).finish()
            }
            Verdict::Revoked(r) => {
                state.metrics.decided("revoked");
                let reason = r.reason.map_or(String::new(), |r| format!(" ({})", r.as_str()));
                let at = r.revoked_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
                denial(
                    StatusCode::FORBIDDEN,
                    "certificate-revoked",
                    format!("the client certificate was revoked by its CA at {at}{reason}"),
                )
            }
            Verdict::RevocationUnknown => {
                state.metrics.decided("revocation-unknown");
                denial(
                StatusCode::FORBIDDEN,
                "revocation-unknown",
                "no current CRL or OCSP answer covers the certificate (the CRL held for its issuer is past its nextUpdate, or its OCSP responder gave no answer that counts), and the site denies what cannot be checked".into(),
            )
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
        },
    ))
}
