//! Bringing the server up and down: the database (a URL, or the private cluster), migrations, the
//! HTTP server, and a clean stop of whatever was started here.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{Server, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{self, Next};
use actix_web::{web, App, HttpMessage, HttpRequest, HttpResponse, HttpServer};
use certmap_db::cluster::{ClusterError, ClusterOptions, LocalCluster};
use certmap_db::{connect_pool, migrate, PgConnection};
use diesel::{Connection, RunQueryDsl};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use crate::auth::JwtKeys;
use crate::config::{redact, DatabaseSource, ServeConfig};
use crate::data_dir::ServeLock;
use crate::gateway::cache::GatewayCache;
use crate::http::caller::Caller;
use crate::http::extract::{path_config, query_config};
use crate::http::methods::AllowedMethods;
use crate::http::problem::ApiError;
use crate::http::{app_state, routes, AppState, Limits};
use crate::secrets::SecretKeys;

const DATABASE_NAME: &str = "certmap";

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("cannot reach the database at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("database migrations failed: {0}")]
    Migrate(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("key rotation rolled back, nothing changed in the database: {0}")]
    Rotate(String),
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("{0}")]
    Input(String),
    #[error("token keys: {0}")]
    Auth(#[from] crate::auth::AuthError),
    #[error("password encryption keys: {0}")]
    Secrets(#[from] crate::secrets::SecretError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The database certmap uses, and the private cluster behind it if certmap started one.
pub struct Database {
    pub url: String,
    cluster: Option<LocalCluster>,
}

impl Database {
    /// Connects (starting the private cluster if that is the source) and runs pending migrations.
    pub fn open(source: &DatabaseSource) -> Result<Self, StartError> {
        let (url, cluster) = match source {
            DatabaseSource::Url(url) => (url.clone(), None),
            DatabaseSource::Embedded { data_dir } => {
                let cluster = LocalCluster::ensure_running(data_dir, &ClusterOptions::default())?;
                tracing::info!(data_dir = %data_dir.display(), started = cluster.started_here(), "private PostgreSQL cluster ready");
                (cluster.url(DATABASE_NAME), Some(cluster))
            }
        };
        let database = Self { url, cluster };
        // A failed start must not leave behind a PostgreSQL it started.
        database.or_close(|database| {
            if let Some(cluster) = &database.cluster {
                create_database_if_missing(cluster)?;
            }
            let mut conn = database.connect()?;
            let applied = migrate(&mut conn).map_err(|e| StartError::Migrate(e.to_string()))?;
            for name in applied {
                tracing::info!(migration = %name, "applied migration");
            }
            Ok(())
        })
    }

    /// Runs `step`; if it fails, stops what this process started before passing the error on.
    pub fn or_close<T>(self, step: impl FnOnce(&Self) -> Result<T, StartError>) -> Result<Self, StartError> {
        match step(&self) {
            Ok(_) => Ok(self),
            Err(e) => {
                self.close();
                Err(e)
            }
        }
    }

    pub fn connect(&self) -> Result<PgConnection, StartError> {
        PgConnection::establish(&self.url)
            .map_err(|e| StartError::Connect { url: redact(&self.url), reason: e.to_string() })
    }

    /// Stops the private cluster if this process started it; one that was already running belongs
    /// to someone else (another replica) and stays up.
    pub fn close(self) {
        if let Some(cluster) = self.cluster.filter(LocalCluster::started_here) {
            match cluster.stop() {
                Ok(()) => tracing::info!("private PostgreSQL cluster stopped"),
                Err(e) => tracing::warn!(error = %e, "could not stop the private PostgreSQL cluster"),
            }
        }
    }
}

fn create_database_if_missing(cluster: &LocalCluster) -> Result<(), StartError> {
    let admin_url = cluster.url("postgres");
    let connect_error =
        |e: &dyn std::fmt::Display| StartError::Connect { url: admin_url.clone(), reason: e.to_string() };
    let mut conn = PgConnection::establish(&admin_url).map_err(|e| connect_error(&e))?;
    let exists = diesel::sql_query(format!("SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'"))
        .execute(&mut conn)
        .map_err(|e| connect_error(&e))?;
    if exists == 0 {
        diesel::sql_query(format!("CREATE DATABASE {DATABASE_NAME}"))
            .execute(&mut conn)
            .map_err(|e| connect_error(&e))?;
    }
    Ok(())
}

/// `certmap migrate`: open (which migrates) and close again.
pub fn migrate_only(source: &DatabaseSource) -> Result<(), StartError> {
    Database::open(source)?.close();
    Ok(())
}

pub struct Application {
    server: Server,
    addr: SocketAddr,
    database: Database,
    listener: actix_web::rt::task::JoinHandle<()>,
    crl_fetch: actix_web::rt::task::JoinHandle<()>,
    /// Released only after the private cluster has stopped.
    _lock: Option<ServeLock>,
}

impl Application {
    pub async fn build(config: ServeConfig) -> Result<Self, StartError> {
        let lock = match &config.database {
            DatabaseSource::Embedded { data_dir } => Some(ServeLock::acquire(data_dir).map_err(StartError::Input)?),
            DatabaseSource::Url(_) => None,
        };
        let source = config.database.clone();
        let database = actix_web::rt::task::spawn_blocking(move || Database::open(&source))
            .await
            .map_err(|e| StartError::Io(std::io::Error::other(e)))??;
        let mut started = None;
        let database = database.or_close(|database| {
            started = Some(serve(&config, &database.url)?);
            Ok(())
        })?;
        let (server, addr, cache, pool) = started.expect("set when or_close succeeds");
        let health = pool.health().clone();
        let listener = actix_web::rt::spawn(crate::gateway::listener::listen(database.url.clone(), cache, health));
        let crl_fetch = actix_web::rt::spawn(crate::crl_fetch::run(
            pool,
            database.url.clone(),
            config.crl_refresh,
            config.fetch.clone(),
        ));
        let scheme = if config.tls.is_some() { "https" } else { "http" };
        if !addr.ip().is_loopback() && config.tls.is_none() {
            tracing::warn!(%addr, "LISTENING ON A NON-LOOPBACK ADDRESS WITHOUT TLS: tokens and passwords cross the network in clear; pass --tls-cert and --tls-key");
        }
        tracing::info!("certmap listening on {scheme}://{addr} (console at {scheme}://{addr}/, API docs at /docs/)");
        Ok(Self { server, addr, database, listener, crl_fetch, _lock: lock })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM (or the handle stops it), then stops what was started here.
    pub async fn run_until_stopped(self) -> Result<(), StartError> {
        let result = self.server.await;
        self.listener.abort();
        self.crl_fetch.abort();
        tracing::info!("certmap stopped");
        self.database.close();
        Ok(result?)
    }
}

type Started = (Server, SocketAddr, Arc<GatewayCache>, certmap_db::PgPool);

fn serve(config: &ServeConfig, url: &str) -> Result<Started, StartError> {
    let secrets =
        SecretKeys::load(config.secrets.key.as_deref(), config.secrets.old_keys.as_deref(), &config.data_dir)?;
    let auth = JwtKeys::load(&config.auth, &config.data_dir)?;
    let pool = connect_pool(url, config.db_pool_size, Duration::from_secs(5));
    let limits = Limits {
        writes_per_minute: config.writes_per_minute,
        max_long_polls: config.max_long_polls,
        serve_stale_for: config.serve_stale_for,
        snapshot_cache_bytes: config.snapshot_cache_bytes,
    };
    let state = app_state(pool.clone(), secrets, auth, limits, config.ocsp);
    let cache = state.cache.clone();
    let listener =
        TcpListener::bind(config.listen).map_err(|source| StartError::Bind { addr: config.listen, source })?;
    let addr = listener.local_addr()?;
    let server = HttpServer::new(move || build_app(state.clone()))
        .workers(config.workers)
        .shutdown_timeout(10)
        // A client that never finishes its request head does not hold a connection for long.
        .client_request_timeout(Duration::from_secs(10))
        .keep_alive(Duration::from_secs(75))
        .on_connect(crate::tls::remember_peer);
    let server = match &config.tls {
        Some(tls) => server.listen_rustls_0_23(listener, crate::tls::server_config(tls)?)?,
        None => server.listen(listener)?,
    };
    Ok((server.run(), addr, cache, pool))
}

pub fn build_app(
    state: web::Data<AppState>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let (app, spec) = App::new()
        .into_utoipa_app()
        .openapi(crate::openapi::base())
        .app_data(state)
        .app_data(query_config())
        .app_data(path_config())
        .configure(routes)
        .split_for_parts();
    let spec = crate::openapi::finish(spec);
    let allowed = std::sync::Arc::new(AllowedMethods::from_spec(&spec));
    app.service(
        SwaggerUi::new("/docs/{_:.*}")
            .url("/openapi.json", spec)
            .config(SwaggerConfig::new(["/openapi.json"]).validator_url("none")),
    )
    // `/` too: a person who types the server's address lands in the console.
    .configure(crate::http::console::routes)
    .route(
        "/docs",
        web::get().to(|| async { HttpResponse::PermanentRedirect().insert_header(("Location", "/docs/")).finish() }),
    )
    .default_service(web::to(move |req: HttpRequest| {
        let allowed = allowed.clone();
        async move { Err::<HttpResponse, _>(no_route(&req, &allowed)) }
    }))
    .wrap(middleware::Compress::default())
    // One layer of our own rather than one per concern: each `from_fn` layer costs every request
    // a boxed future, and gateways send tens of thousands a second.
    .wrap(middleware::from_fn(observe))
}

/// No route took the request: 405 when the path has other methods, 404 when it names nothing.
fn no_route(req: &HttpRequest, allowed: &AllowedMethods) -> ApiError {
    match allowed.allow(req.path()) {
        Some(allow) => ApiError::MethodNotAllowed { method: req.method().to_string(), allow: allow.to_owned() },
        None => ApiError::NotFound { what: "route" },
    }
}

/// RFC 9110 §9.1: every server must answer HEAD wherever it answers GET. actix-web routes HEAD
/// nowhere by itself, so HEAD is routed as GET; the connection still knows the request was HEAD
/// (it decided when it read the request line) and sends the headers without the body.
fn head_as_get(req: &mut ServiceRequest) {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
}

/// Every answer may carry mappings or secrets: nothing is cached, sniffed or framed. The policy
/// still lets the Swagger UI load its own scripts and styles (and nothing from elsewhere).
const NOT_STORED: (HeaderName, HeaderValue) = (header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
/// What a browser obeys when it shows an answer. A success without a body (authorize's pass, a
/// 204) shows nothing, nor does a 304 (no answer is ever stored for one to refresh), so those go
/// without them: they would be most of the bytes of the answers gateways ask for on every request.
const FOR_BROWSERS: [(HeaderName, HeaderValue); 4] = [
    (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    (
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'",
        ),
    ),
];

/// A handler's own value for one of these headers stands.
fn security_headers<B: MessageBody>(response: &mut ServiceResponse<B>) {
    let status = response.status();
    let shown = !(status.is_success() || status == StatusCode::NOT_MODIFIED)
        || !matches!(response.response().body().size(), BodySize::None | BodySize::Sized(0));
    let headers = response.headers_mut();
    let wanted = std::iter::once(NOT_STORED).chain(FOR_BROWSERS.into_iter().filter(|_| shown));
    for (name, value) in wanted {
        if !headers.contains_key(&name) {
            headers.insert(name, value);
        }
    }
}

/// Routes HEAD as GET, adds the security headers, logs and measures every request. A change that
/// went through moves the gateway cache's epoch before its answer leaves, so the caller's next read
/// sees it.
async fn observe(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    head_as_get(&mut req);
    let mut response = next.call(req).await?;
    security_headers(&mut response);
    let status = response.status();
    let took = started.elapsed();
    if let Some(state) = state {
        if !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) && !status.is_client_error() {
            state.cache.wrote();
        }
        state.metrics.observe(&method, response.request().match_pattern(), status.as_u16(), took);
    }
    // Reads that succeed are what gateways send by the ten thousand a second: a line each would
    // cost more than answering them (count them in /metrics; CERTMAP_LOG=certmap::request=debug
    // logs them). A refusal says which problem and whose request it was; never the token.
    let micros = took.as_micros() as u64;
    let status_code = status.as_u16();
    let code = response.response().error().and_then(|e| e.as_error::<ApiError>()).map(ApiError::code);
    // Evaluated by the macros only when the line is logged: the successful reads that are not
    // cost no formatting. The path only: query strings may one day carry things that do not
    // belong in logs.
    let path = || response.request().path().to_owned();
    let caller = || response.request().extensions().get::<Caller>().map(Caller::actor);
    if matches!(method, Method::GET | Method::HEAD) && !status.is_client_error() && !status.is_server_error() {
        tracing::debug!(target: "certmap::request", %method, path = %path(), status = status_code, micros, caller = caller(), "request");
    } else {
        tracing::info!(target: "certmap::request", %method, path = %path(), status = status_code, micros, code, caller = caller(), "request");
    }
    Ok(response)
}
