//! Request extraction that answers every malformed input with problem+json: bodies, query strings
//! and path ids. Bodies are read with a size limit and deserialized with the failing field's path.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::problem::ApiError;
use crate::domain::violation::{Invalid, Rejection};

/// The body limit for ordinary JSON endpoints; bulk endpoints register a larger [`BodyLimit`].
pub const DEFAULT_BODY_LIMIT: usize = 256 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON body whose every field was read; unknown fields and wrong types name the field.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<BodyLimit>().map_or(DEFAULT_BODY_LIMIT, |l| l.0);
        let is_json = is_json(&media_type(req));
        let payload = payload.take();
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::UnsupportedMediaType {
                    expected: "a JSON body (Content-Type: application/json)",
                });
            }
            let body = read_body(payload, limit).await?;
            Ok(Json(parse_json(&body)?))
        })
    }
}

/// The request's media type without its parameters, lowercased; empty when none was sent.
pub fn media_type(req: &HttpRequest) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

pub fn is_json(media: &str) -> bool {
    media == "application/json" || media.ends_with("+json")
}

pub async fn read_body(mut payload: Payload, limit: usize) -> Result<web::BytesMut, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest {
            code: "unreadable-body",
            detail: format!("the request body could not be read: {e}"),
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A JSON object into `T`. Every body certmap reads is an object, and serde's derived structs
/// would also take an array of their fields in order (`[null, null]` as an empty PATCH), which no
/// spec allows and no client means.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::Invalid(Invalid::one(
            Rejection::new("invalid-field", "invalid type: an array, expected a JSON object").at(String::new()),
        )));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." { String::new() } else { path };
                let code =
                    if inner.to_string().starts_with("unknown field") { "unknown-field" } else { "invalid-field" };
                ApiError::Invalid(Invalid::one(Rejection::new(code, without_value(&strip_position(&inner))).at(field)))
            }
            _ => malformed(&inner),
        }
    })?;
    // Trailing bytes after the document are as malformed as a missing brace.
    de.end().map_err(|e| malformed(&e))?;
    Ok(value)
}

pub(crate) fn malformed(e: &serde_json::Error) -> ApiError {
    // The usual cause: a PEM pasted into a JSON string with its line breaks left raw.
    let hint = if e.to_string().contains("control character") {
        ". A JSON string cannot hold a raw line break: write each one as \\n, or send the certificate \
         as it is with Content-Type: application/x-pem-file and the other fields as query parameters"
    } else {
        ""
    };
    ApiError::BadRequest { code: "malformed-json", detail: format!("the body is not valid JSON: {e}{hint}") }
}

/// serde's "at line 1 column 42" means nothing to someone who sent a one-line body; the field
/// path says where.
fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// serde quotes the offending value ("invalid type: string \"hunter2\", expected a boolean"); a
/// value sent in the wrong field may be a password or a key, so say only what was expected.
fn without_value(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: ", "unknown variant "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let expected = rest.split_once(", expected ").map_or("", |(_, e)| e);
            return format!("{}expected {expected}", prefix.replace("unknown variant ", "unknown value: "));
        }
    }
    message.to_owned()
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let message = err.to_string();
        let message = message.strip_prefix("Query deserialize error: ").unwrap_or(&message).to_owned();
        ApiError::Invalid(Invalid::one(Rejection::new("invalid-query", message).at("query"))).into()
    })
}

/// A path id that is not a number cannot name anything: 404, as for an id that does not exist.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_err, _req| ApiError::NotFound { what: "resource" }.into())
}
