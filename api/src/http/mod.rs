//! The actix-web layer: extraction, errors, and one module per resource; the gateway routes'
//! handlers are here too, their machinery in `crate::gateway`. Every API route is registered
//! through utoipa-actix-web, so no route exists without its OpenAPI operation; the console's
//! static files (`console`) are not API operations and stay out of the spec, like `/docs/`.

pub mod all_sites_config;
pub mod audit;
pub mod authorize;
pub mod binary_body;
pub mod bulk;
pub mod caller;
pub mod certificate_input;
pub mod config;
pub mod console;
pub mod crls;
pub mod db;
pub mod directories;
pub mod etag;
pub mod extract;
pub mod gateway_snapshot;
pub mod health;
pub mod iis_import;
pub mod lint;
pub mod many_to_one;
pub mod mappings;
pub mod methods;
pub mod metrics;
pub mod pagination;
pub mod problem;
pub mod render_input;
pub mod resolve;
pub mod serde_util;
pub mod shared_body;
pub mod sites;
pub mod stale;
pub mod write;

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use certmap_db::PgPool;
use serde::Serialize;
use utoipa_actix_web::{scope, service_config::ServiceConfig};

use crate::auth::JwtKeys;
use crate::gateway::cache::GatewayCache;
use crate::secrets::SecretKeys;

pub struct AppState {
    pub pool: PgPool,
    pub secrets: SecretKeys,
    pub auth: JwtKeys,
    pub write_limiter: caller::WriteLimiter,
    pub callers: caller::TokenMemo,
    pub cache: Arc<GatewayCache>,
    pub metrics: metrics::Metrics,
    pub ocsp: crate::gateway::ocsp::Ocsp,
}

pub const API_PREFIX: &str = "/api/v1";

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz).service(health::readyz).configure(metrics::routes).service(
        // actix tries routes in order, matching each pattern: the routes gateways call on every
        // request come first.
        scope::scope(API_PREFIX)
            .configure(authorize::routes)
            .configure(gateway_snapshot::routes)
            .configure(sites::routes)
            .configure(directories::routes)
            .configure(mappings::routes)
            .configure(bulk::routes)
            .configure(many_to_one::routes)
            .configure(resolve::routes)
            .configure(config::routes)
            .configure(all_sites_config::routes)
            .configure(lint::routes)
            .configure(iis_import::routes)
            .configure(crls::routes)
            .configure(audit::routes),
    );
}

/// A JSON answer with the resource's ETag.
pub fn json_with_etag<T: Serialize>(
    mut builder: actix_web::HttpResponseBuilder,
    revision: i64,
    body: &T,
) -> HttpResponse {
    builder.insert_header((actix_web::http::header::ETAG, etag::etag(revision))).json(body)
}

/// 201 with `Location`, the ETag and the created resource.
pub fn created<T: Serialize>(location: String, revision: i64, body: &T) -> HttpResponse {
    let mut builder = HttpResponse::Created();
    builder.insert_header((actix_web::http::header::LOCATION, location));
    json_with_etag(builder, revision, body)
}

/// What bounds the server's work, from the serve configuration.
pub struct Limits {
    pub writes_per_minute: u32,
    pub max_long_polls: usize,
    pub serve_stale_for: std::time::Duration,
    /// Bytes of built snapshot documents kept in memory.
    pub snapshot_cache_bytes: usize,
}

pub fn app_state(
    pool: PgPool,
    secrets: SecretKeys,
    auth: JwtKeys,
    limits: Limits,
    ocsp: crate::config::OcspConfig,
) -> web::Data<AppState> {
    let metrics = metrics::Metrics::default();
    let cache = Arc::new(GatewayCache::new(
        limits.max_long_polls,
        limits.serve_stale_for,
        limits.snapshot_cache_bytes,
        metrics.cache.clone(),
    ));
    web::Data::new(AppState {
        pool,
        secrets,
        auth,
        write_limiter: caller::WriteLimiter::new(limits.writes_per_minute),
        callers: caller::TokenMemo::default(),
        cache,
        metrics,
        ocsp: crate::gateway::ocsp::Ocsp::new(ocsp),
    })
}
