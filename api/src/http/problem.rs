//! The one error type of the HTTP layer and its RFC 9457 `application/problem+json` rendering.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use certmap_db::{classify, DbErrorKind};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::violation::Invalid;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// RFC 9457 problem details, with certmap's stable `code` and per-field errors.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:certmap:problem:mapping-not-at-site-root",
    "title": "The request breaks an IIS rule",
    "status": 422,
    "detail": "certificate mapping is configured on the site, never on a directory: …",
    "code": "mapping-not-at-site-root",
    "iis_symptom": "401.2 Unauthorized, 0x80070005 Access is denied, on every request to the directory",
    "errors": [{"field": "certificate_mapping", "code": "mapping-not-at-site-root", "message": "…"}]
}))]
pub struct Problem {
    /// `urn:certmap:problem:<code>`: stable, one per kind of problem.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code; the same as the end of `type`.
    pub code: String,
    /// For scoping rules: what IIS would do if this configuration were saved anyway.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iis_symptom: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldProblem {
    /// The offending field, as a JSON path into the request (`certificate_mapping.logon_method`,
    /// `hostnames[1]`) or a query parameter name.
    pub field: String,
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iis_symptom: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Invalid(Invalid),
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    /// A request header that may not be there, or not like this; the problem names it.
    #[error("{detail}")]
    BadHeader { code: &'static str, header: String, detail: String },
    #[error("the {header} header is larger than the {limit} bytes it may hold")]
    HeaderTooLarge { header: String, limit: usize },
    #[error("the request body is larger than the {limit} bytes this endpoint accepts")]
    PayloadTooLarge { limit: usize },
    #[error("this endpoint takes {expected}")]
    UnsupportedMediaType { expected: &'static str },
    #[error("{detail}")]
    Unauthorized { detail: String },
    #[error("{detail}")]
    Forbidden { detail: String },
    #[error("too many writes: at most {per_minute} a minute per caller; retry in a moment")]
    TooManyRequests { per_minute: u32 },
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The path names a resource, but not one with this method; `allow` lists the ones it has.
    #[error("this resource does not support {method}; it supports {allow}")]
    MethodNotAllowed { method: String, allow: String },
    #[error("{detail}")]
    Conflict { code: &'static str, field: &'static str, detail: String },
    #[error("the resource changed since you read it: its ETag is now {current}; GET it again and retry with that ETag in If-Match")]
    PreconditionFailed { current: String },
    #[error("the database is unavailable; try again shortly")]
    Unavailable,
    /// Logged with its cause; the client only learns that something went wrong on our side.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The stable `code` of the problem this error answers with.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(Invalid(vs)) => match vs.as_slice() {
                [first, rest @ ..] if rest.iter().all(|v| v.code == first.code) => first.code,
                _ => "validation-failed",
            },
            Self::BadRequest { code, .. } | Self::BadHeader { code, .. } | Self::Conflict { code, .. } => code,
            Self::HeaderTooLarge { .. } => "header-too-large",
            Self::PayloadTooLarge { .. } => "payload-too-large",
            Self::UnsupportedMediaType { .. } => "unsupported-media-type",
            Self::Unauthorized { .. } => "unauthorized",
            Self::Forbidden { .. } => "forbidden",
            Self::TooManyRequests { .. } => "too-many-requests",
            Self::NotFound { .. } => "not-found",
            Self::MethodNotAllowed { .. } => "method-not-allowed",
            Self::PreconditionFailed { .. } => "precondition-failed",
            Self::Unavailable => "database-unavailable",
            Self::Internal(_) => "internal-error",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::Invalid(Invalid(vs)) if vs.iter().any(|v| v.iis_symptom.is_some()) => {
                "The request breaks an IIS rule"
            }
            Self::Invalid(_) => "The request is not valid",
            Self::BadRequest { .. } | Self::BadHeader { .. } => "The request could not be read",
            Self::HeaderTooLarge { .. } => "A request header is too large",
            Self::PayloadTooLarge { .. } => "The request body is too large",
            Self::UnsupportedMediaType { .. } => "Unsupported media type",
            Self::Unauthorized { .. } => "Authentication required",
            Self::Forbidden { .. } => "Forbidden",
            Self::TooManyRequests { .. } => "Too many requests",
            Self::NotFound { .. } => "Not found",
            Self::MethodNotAllowed { .. } => "Method not allowed",
            Self::Conflict { .. } => "Conflict",
            Self::PreconditionFailed { .. } => "Precondition failed",
            Self::Unavailable => "Service unavailable",
            Self::Internal(_) => "Internal error",
        }
    }

    pub fn problem(&self) -> Problem {
        let code = self.code();
        let errors = match self {
            Self::Invalid(Invalid(vs)) => vs
                .iter()
                .map(|v| FieldProblem {
                    field: v.field.clone(),
                    code: v.code.into(),
                    message: v.message.clone(),
                    iis_symptom: v.iis_symptom.map(Into::into),
                })
                .collect(),
            Self::BadHeader { code, header, detail } => {
                vec![FieldProblem {
                    field: header.clone(),
                    code: (*code).into(),
                    message: detail.clone(),
                    iis_symptom: None,
                }]
            }
            Self::HeaderTooLarge { header, .. } => vec![FieldProblem {
                field: header.clone(),
                code: "header-too-large".into(),
                message: self.to_string(),
                iis_symptom: None,
            }],
            Self::Conflict { code, field, detail } => {
                vec![FieldProblem {
                    field: (*field).into(),
                    code: (*code).into(),
                    message: detail.clone(),
                    iis_symptom: None,
                }]
            }
            _ => Vec::new(),
        };
        let iis_symptom = match self {
            Self::Invalid(Invalid(vs)) => vs.iter().find_map(|v| v.iis_symptom).map(Into::into),
            _ => None,
        };
        Problem {
            type_: format!("urn:certmap:problem:{code}"),
            title: self.title().into(),
            status: self.status_code().as_u16(),
            detail: self.to_string(),
            code: code.into(),
            iis_symptom,
            errors,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest { .. } | Self::BadHeader { .. } => StatusCode::BAD_REQUEST,
            Self::HeaderTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(cause) = self {
            tracing::error!(%cause, "request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        match self {
            Self::Unavailable | Self::TooManyRequests { .. } => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
            }
            // RFC 6750: tell the client which scheme to use, and that its token was the problem.
            Self::Unauthorized { .. } => {
                response
                    .insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"certmap\"")));
            }
            // RFC 9110 §15.5.6: a 405 must say which methods the resource has.
            Self::MethodNotAllowed { allow, .. } => {
                if let Ok(allow) = HeaderValue::from_str(allow) {
                    response.insert_header((header::ALLOW, allow));
                }
            }
            _ => {}
        }
        response.body(serde_json::to_vec(&self.problem()).unwrap_or_default())
    }
}

impl From<Invalid> for ApiError {
    fn from(v: Invalid) -> Self {
        Self::Invalid(v)
    }
}

impl From<crate::domain::violation::Violation> for ApiError {
    fn from(v: crate::domain::violation::Violation) -> Self {
        Self::Invalid(Invalid::one(v))
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        match classify(&e) {
            DbErrorKind::NotFound => Self::NotFound { what: "resource" },
            DbErrorKind::Unique(constraint) => conflict_for(&constraint),
            // The parent was deleted between our read and our write.
            DbErrorKind::ForeignKey(_) => Self::NotFound { what: "site" },
            DbErrorKind::Unavailable => Self::Unavailable,
            DbErrorKind::Retry => Self::Conflict {
                code: "write-conflict",
                field: "",
                detail:
                    "another change to the same site collided with this one and was kept; nothing was changed, retry"
                        .into(),
            },
            DbErrorKind::InvalidText => Self::Invalid(Invalid::one(
                crate::domain::violation::Rejection::new(
                    "invalid-text",
                    "the request holds text that cannot be stored (a NUL character)",
                )
                .at(""),
            )),
            DbErrorKind::Check(constraint) => {
                Self::Internal(format!("check constraint {constraint} refused a row the domain rules accepted"))
            }
            DbErrorKind::Other => Self::Internal(e.to_string()),
        }
    }
}

/// Unique indexes are named after what they protect; each becomes a conflict on one field.
fn conflict_for(constraint: &str) -> ApiError {
    let (code, field, detail) = match constraint {
        "sites_name_key" => (
            "duplicate-site-name",
            "name",
            "another site already has this name (IIS compares site names case-insensitively)",
        ),
        "directories_site_path_key" => (
            "duplicate-path",
            "path",
            "this site already has a directory at this path (IIS compares paths case-insensitively)",
        ),
        "mappings_site_certificate_key" => (
            "duplicate-certificate",
            "certificate",
            "this certificate is already mapped on this site (IIS keys one-to-one mappings on the certificate)",
        ),
        "many_to_one_site_name_key" => (
            "duplicate-mapping-name",
            "name",
            "this site already has a many-to-one mapping with this name (names compare case-insensitively)",
        ),
        _ => ("conflict", "", "the change conflicts with an existing resource"),
    };
    ApiError::Conflict { code, field, detail: detail.into() }
}

impl From<certmap_db::NoConnection> for ApiError {
    fn from(e: certmap_db::NoConnection) -> Self {
        tracing::warn!(error = %e, "no database connection");
        Self::Unavailable
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(_: actix_web::error::BlockingError) -> Self {
        Self::Internal("the blocking thread pool is gone".into())
    }
}

// Reusable OpenAPI responses, registered once in `openapi.rs` and referenced by every operation.

/// The body or a parameter is not valid, or the change breaks an IIS scoping rule (see `code` and
/// `iis_symptom`). Nothing was changed.
#[derive(utoipa::ToResponse)]
#[response(content_type = "application/problem+json", example = json!({"type": "urn:certmap:problem:client-cert-requires-ssl", "title": "The request breaks an IIS rule", "status": 422, "detail": "client_certificates: require needs require_ssl: true — IIS only negotiates a client certificate over SSL", "code": "client-cert-requires-ssl", "iis_symptom": "the certificate is never requested over plain HTTP, so the mapping never runs (403.7 once SSL is required)", "errors": [{"field": "require_ssl", "code": "client-cert-requires-ssl", "message": "client_certificates: require needs require_ssl: true"}]}))]
pub struct Unprocessable(#[allow(dead_code)] Problem);

/// The body is not JSON at all.
#[derive(utoipa::ToResponse)]
#[response(content_type = "application/problem+json", example = json!({"type": "urn:certmap:problem:malformed-json", "title": "The request could not be read", "status": 400, "detail": "the body is not valid JSON: EOF while parsing an object at line 1 column 9", "code": "malformed-json"}))]
pub struct BadRequest(#[allow(dead_code)] Problem);

/// No valid bearer token (missing, malformed, expired, wrongly signed, or not for certmap).
#[derive(utoipa::ToResponse)]
#[response(content_type = "application/problem+json", headers(("WWW-Authenticate" = String)), example = json!({"type": "urn:certmap:problem:unauthorized", "title": "Authentication required", "status": 401, "detail": "the token has expired", "code": "unauthorized"}))]
pub struct Unauthorized(#[allow(dead_code)] Problem);

/// The token is valid but its role (or its site list) does not allow this.
#[derive(utoipa::ToResponse)]
#[response(content_type = "application/problem+json", example = json!({"type": "urn:certmap:problem:forbidden", "title": "Forbidden", "status": 403, "detail": "role reader may not change anything", "code": "forbidden"}))]
pub struct Forbidden(#[allow(dead_code)] Problem);

/// Too many writes from this caller; retry after `Retry-After` seconds.
#[derive(utoipa::ToResponse)]
#[response(content_type = "application/problem+json", example = json!({"type": "urn:certmap:problem:too-many-requests", "title": "Too many requests", "status": 429, "detail": "too many writes: at most 600 a minute per caller; retry in a moment", "code": "too-many-requests"}))]
pub struct TooManyRequests(#[allow(dead_code)] Problem);

/// No such resource (a path id that is not a number is never a resource either).
#[derive(utoipa::ToResponse)]
#[response(content_type = "application/problem+json", example = json!({"type": "urn:certmap:problem:not-found", "title": "Not found", "status": 404, "detail": "site not found", "code": "not-found"}))]
pub struct NotFound(#[allow(dead_code)] Problem);

/// A unique name or path is already taken; `errors[0].field` names it.
#[derive(utoipa::ToResponse)]
#[response(content_type = "application/problem+json", example = json!({"type": "urn:certmap:problem:duplicate-certificate", "title": "Conflict", "status": 409, "detail": "this certificate is already mapped on this site by mapping 12 (IIS keys one-to-one mappings on the certificate, so it can appear once per site)", "code": "duplicate-certificate", "errors": [{"field": "certificate", "code": "duplicate-certificate", "message": "this certificate is already mapped on this site by mapping 12"}]}))]
pub struct Conflict(#[allow(dead_code)] Problem);

/// `If-Match` does not carry the current ETag: someone changed the resource since you read it.
#[derive(utoipa::ToResponse)]
#[response(content_type = "application/problem+json", example = json!({"type": "urn:certmap:problem:precondition-failed", "title": "Precondition failed", "status": 412, "detail": "the resource changed since you read it: its ETag is now \"7\"; GET it again and retry with that ETag in If-Match", "code": "precondition-failed"}))]
pub struct PreconditionFailed(#[allow(dead_code)] Problem);

/// The body exceeds the endpoint's size limit.
#[derive(utoipa::ToResponse)]
#[response(content_type = "application/problem+json", example = json!({"type": "urn:certmap:problem:payload-too-large", "title": "The request body is too large", "status": 413, "detail": "the request body is larger than the 262144 bytes this endpoint accepts", "code": "payload-too-large"}))]
pub struct TooLarge(#[allow(dead_code)] Problem);

/// The body is not `application/json`.
#[derive(utoipa::ToResponse)]
#[response(content_type = "application/problem+json", example = json!({"type": "urn:certmap:problem:unsupported-media-type", "title": "Unsupported media type", "status": 415, "detail": "this endpoint takes a JSON body (Content-Type: application/json)", "code": "unsupported-media-type"}))]
pub struct UnsupportedMedia(#[allow(dead_code)] Problem);

/// The database cannot be reached; retry after the `Retry-After` seconds.
#[derive(utoipa::ToResponse)]
#[response(content_type = "application/problem+json", example = json!({"type": "urn:certmap:problem:database-unavailable", "title": "Service unavailable", "status": 503, "detail": "the database is unavailable; try again shortly", "code": "database-unavailable"}))]
pub struct Unavailable(#[allow(dead_code)] Problem);
