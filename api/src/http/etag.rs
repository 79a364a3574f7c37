//! Strong ETags from revisions, and the `If-Match` check that keeps two admins from overwriting
//! each other.

use actix_web::http::header::{self, HeaderMap};
use actix_web::HttpResponse;

use super::problem::ApiError;

pub fn etag(revision: i64) -> String {
    format!("\"{revision}\"")
}

/// `If-Match` absent → proceed; `*` → proceed (the resource exists); otherwise one of the listed
/// strong tags must equal the current one.
pub fn check_if_match(headers: &HeaderMap, current_revision: i64) -> Result<(), ApiError> {
    let current = etag(current_revision);
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(());
    };
    let value = value.to_str().unwrap_or_default();
    let matches = value.split(',').map(str::trim).any(|tag| tag == "*" || tag == current);
    if matches {
        Ok(())
    } else {
        Err(ApiError::PreconditionFailed { current })
    }
}

/// `If-None-Match` naming the current tag (or `*`): the client already has this version.
pub fn none_match(headers: &HeaderMap, current: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == "*" || t == current))
}

/// The 304 a held request gives if its wait ends with nothing new. Only the tag is kept while it
/// waits: a built response holds a header table of its own (3.3 KB), per waiting request.
pub struct NotModified(pub String);

impl From<NotModified> for HttpResponse {
    fn from(NotModified(tag): NotModified) -> Self {
        HttpResponse::NotModified().insert_header((header::ETAG, tag)).finish()
    }
}
