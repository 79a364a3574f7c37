//! `X-Certmap-Stale`: on a gateway answer (authorize, snapshots, 304s and long-polls included)
//! given from memory while the database does not answer, the whole seconds since it last did.
//! Absent while the database answers. Past `--serve-stale-for` gateways get 503 instead.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::HttpResponse;

use super::AppState;

pub const STALE_HEADER: &str = "x-certmap-stale";

pub fn mark(state: &AppState, mut response: HttpResponse) -> HttpResponse {
    if let Some(age) = state.cache.stale_for(&state.pool) {
        response.headers_mut().insert(HeaderName::from_static(STALE_HEADER), HeaderValue::from(age.as_secs()));
    }
    response
}
