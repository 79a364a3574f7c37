//! `GET /metrics` in the Prometheus text format: requests by route and status, latency, the
//! gateway cache, long-pollers, authorize outcomes, the database pool, and revocation (revoked
//! mappings per site, CRL age per issuer).

use std::borrow::Cow;
use std::time::Duration;

use actix_web::http::Method;
use actix_web::{get, web, HttpResponse};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use utoipa_actix_web::service_config::ServiceConfig;

use super::caller::Caller;
use super::problem::ApiError;
use super::AppState;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(metrics);
}

// Borrowed where the text is static, so counting a request copies no string.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: Cow<'static, str>,
    /// The matched route pattern (`/api/v1/sites/{site_id}`), never the raw path, so the number of
    /// series stays bounded.
    pub route: Cow<'static, str>,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: Cow<'static, str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SiteLabels {
    pub site: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IssuerLabels {
    pub issuer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

/// What the gateway cache counts; cheap clones of the registered metrics.
#[derive(Clone, Default)]
pub struct CacheMetrics {
    pub hits: Counter,
    pub misses: Counter,
    pub long_polls: Gauge,
    pub long_polls_refused: Counter,
    pub snapshot_bytes: Gauge,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    pub authorize: Family<OutcomeLabels, Counter>,
    pub cache: CacheMetrics,
    pool_connections: Gauge,
    pool_idle: Gauge,
    listening: Gauge,
    database_down: Gauge,
    mapped_revoked: Family<SiteLabels, Gauge>,
    crl_age: Family<IssuerLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("certmap");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered, by route and status", requests.clone());
        // 0.1 ms to about 1.6 s.
        let latency: LatencyFamily =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0001, 2.0, 15)));
        registry.register("http_request_duration_seconds", "Time to answer, by route", latency.clone());
        let authorize = Family::<OutcomeLabels, Counter>::default();
        registry.register("authorize_decisions", "Authorize answers by outcome", authorize.clone());
        let cache = CacheMetrics::default();
        registry.register("cache_hits", "Sites served from memory", cache.hits.clone());
        registry.register("cache_misses", "Sites confirmed or loaded from the database", cache.misses.clone());
        registry.register("long_polls_waiting", "Long-poll requests waiting for a change", cache.long_polls.clone());
        registry.register(
            "long_polls_refused",
            "Long-polls answered at once because too many were waiting",
            cache.long_polls_refused.clone(),
        );
        registry.register(
            "snapshot_documents_bytes",
            "Bytes of built snapshot documents kept (see --snapshot-cache-mb)",
            cache.snapshot_bytes.clone(),
        );
        let pool_connections = Gauge::default();
        registry.register("db_pool_connections", "Database connections open", pool_connections.clone());
        let pool_idle = Gauge::default();
        registry.register("db_pool_idle_connections", "Database connections idle", pool_idle.clone());
        let listening = Gauge::default();
        registry.register(
            "change_listener_connected",
            "1 while site changes are heard from PostgreSQL",
            listening.clone(),
        );
        let database_down = Gauge::default();
        registry.register(
            "database_unreachable_seconds",
            "Seconds since the database last answered, while it does not (0 while it does); gateways are answered from memory meanwhile, up to --serve-stale-for",
            database_down.clone(),
        );
        let mapped_revoked = Family::<SiteLabels, Gauge>::default();
        registry.register(
            "mapped_revoked_certificates",
            "Enabled mappings whose certificate a held CRL revokes, by site",
            mapped_revoked.clone(),
        );
        let crl_age = Family::<IssuerLabels, Gauge>::default();
        registry.register(
            "crl_age_seconds",
            "Seconds since the thisUpdate of the CRL held, by issuer",
            crl_age.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            authorize,
            cache,
            pool_connections,
            pool_idle,
            listening,
            database_down,
            mapped_revoked,
            crl_age,
        }
    }
}

impl Metrics {
    pub fn observe(&self, method: &Method, route: Option<String>, status: u16, took: Duration) {
        let route = RouteLabels { route: route.map_or(Cow::Borrowed("unmatched"), Cow::Owned) };
        self.latency.get_or_create(&route).observe(took.as_secs_f64());
        let method = match *method {
            Method::GET => Cow::Borrowed("GET"),
            Method::HEAD => Cow::Borrowed("HEAD"),
            Method::POST => Cow::Borrowed("POST"),
            Method::PUT => Cow::Borrowed("PUT"),
            Method::PATCH => Cow::Borrowed("PATCH"),
            Method::DELETE => Cow::Borrowed("DELETE"),
            Method::OPTIONS => Cow::Borrowed("OPTIONS"),
            ref other => Cow::Owned(other.as_str().to_owned()),
        };
        self.requests.get_or_create(&RequestLabels { method, route: route.route, status }).inc();
    }

    pub fn decided(&self, outcome: &'static str) {
        self.authorize.get_or_create(&OutcomeLabels { outcome }).inc();
    }
}

/// Prometheus metrics
///
/// The server's metrics in OpenMetrics text, for Prometheus
/// (`authorization: {credentials: <token>}` in the scrape config): any role may read them, gateway
/// tokens included.
#[utoipa::path(tag = "health", responses(
    (status = 200, description = "Prometheus text format", content_type = "application/openmetrics-text", body = String),
))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>, _caller: Caller) -> Result<HttpResponse, ApiError> {
    let m = &state.metrics;
    let pool = state.pool.state();
    m.pool_connections.set(i64::from(pool.connections));
    m.pool_idle.set(i64::from(pool.idle_connections));
    m.listening.set(i64::from(state.cache.is_listening()));
    let down = state.pool.health().down_for();
    m.database_down.set(down.map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)));
    // While the database is gone the metrics still answer, with the counts last read.
    match super::db::run(&state.pool, |conn| Ok(certmap_db::queries::crls::revoked_per_site(conn)?)).await {
        Ok(revoked) => {
            m.mapped_revoked.clear();
            for count in revoked {
                m.mapped_revoked.get_or_create(&SiteLabels { site: count.site }).set(count.n);
            }
        }
        Err(ApiError::Unavailable) => {}
        Err(e) => return Err(e),
    }
    match state.cache.revocations(&state.pool).await {
        Ok(held) => {
            let now = time::OffsetDateTime::now_utc();
            m.crl_age.clear();
            for (issuer, crl) in held.index.crls() {
                let age = (now - crl.this_update).whole_seconds();
                m.crl_age.get_or_create(&IssuerLabels { issuer: issuer.to_owned() }).set(age);
            }
        }
        Err(ApiError::Unavailable) => {}
        Err(e) => return Err(e),
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &m.registry)
        .map_err(|e| ApiError::Internal(format!("metrics: {e}")))?;
    Ok(HttpResponse::Ok().content_type("application/openmetrics-text; version=1.0.0; charset=utf-8").body(text))
}
