//! Starts the real server on port 0 against a database of its own (cloned from a migrated
//! template) and talks to it over HTTP, the way zero-to-production's `spawn_app` does.

pub mod certs;

use std::net::SocketAddr;

use actix_web::dev::ServerHandle;
use actix_web::http::header::HeaderMap;
use awc::http::Method;
use certmap::auth::{AuthConfig, JwtKeys, Role};
use certmap::config::{DatabaseSource, SecretConfig, ServeConfig};
use certmap::domain::client_identity::ClientIdentity;
use certmap::startup::Application;
use certmap_db::testdb::{self, TestDatabase};
use serde_json::Value;

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: awc::Client,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Holds the server's secret key file; removed when the test ends.
    pub data_dir: std::path::PathBuf,
    /// The server's token keys, to mint tokens of any role.
    pub keys: JwtKeys,
    /// Sent with every request that names no Authorization header of its own.
    pub admin_token: String,
    jwt_secret: String,
    // Dropped after the server has stopped (see Drop), so no connection outlives its database.
    pub db: Option<TestDatabase>,
}

/// Server settings a test may change.
pub struct Options {
    pub writes_per_minute: u32,
    /// CERTMAP_JWT_PUBLIC_KEY: PEM files of external token issuers.
    pub jwt_public_keys: Option<String>,
    /// Serve HTTPS (talk to it with curl: the harness client speaks plain HTTP).
    pub tls: Option<certmap::tls::TlsConfig>,
    pub max_long_polls: usize,
    pub crl_refresh: std::time::Duration,
    pub ocsp: certmap::config::OcspConfig,
    pub fetch: certmap::config::FetchConfig,
    pub serve_stale_for: std::time::Duration,
    /// Bytes of built snapshot documents kept.
    pub snapshot_cache_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            writes_per_minute: 100_000,
            jwt_public_keys: None,
            tls: None,
            max_long_polls: 10_000,
            crl_refresh: std::time::Duration::from_secs(3600),
            ocsp: Default::default(),
            fetch: Default::default(),
            serve_stale_for: std::time::Duration::from_secs(300),
            snapshot_cache_bytes: 128 << 20,
        }
    }
}

pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 9457 problem with this status and code, and returns it.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "status for {}", self.text());
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "{}", self.text());
        let p = self.json();
        assert_eq!(p["code"], code, "{p:#}");
        assert_eq!(p["status"], status);
        assert_eq!(p["type"], format!("urn:certmap:problem:{code}"));
        assert!(p["title"].is_string() && p["detail"].is_string(), "{p:#}");
        p
    }
}

impl TestApp {
    /// A server with a fresh database of its own.
    pub async fn spawn() -> Self {
        Self::spawn_options(Options::default()).await
    }

    /// A server on a database the caller owns.
    pub async fn spawn_on(database: DatabaseSource) -> Self {
        Self::spawn_with(database, Options::default()).await
    }

    /// A server on a fresh database, with options.
    pub async fn spawn_options(options: Options) -> Self {
        let db = actix_web::rt::task::spawn_blocking(|| testdb::server().create_database())
            .await
            .expect("create test database");
        let mut app = Self::spawn_with(DatabaseSource::Url(db.url().to_owned()), options).await;
        app.db = Some(db);
        app
    }

    /// The server runs on a thread and runtime of its own, so it can be stopped (and waited for)
    /// from `Drop` whatever the test's runtime is doing.
    pub async fn spawn_with(database: DatabaseSource, options: Options) -> Self {
        let data_dir = testdb::scratch_dir("app");
        let writes_per_minute = options.writes_per_minute;
        let jwt_secret = JwtKeys::random_secret();
        let auth =
            AuthConfig { secret: Some(jwt_secret.clone()), public_keys: options.jwt_public_keys, ..Default::default() };
        let keys = JwtKeys::load(&auth, &data_dir).expect("token keys");
        let config = ServeConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            database,
            data_dir: data_dir.clone(),
            secrets: SecretConfig::default(),
            auth,
            writes_per_minute,
            workers: 1,
            db_pool_size: 4,
            max_long_polls: options.max_long_polls,
            crl_refresh: options.crl_refresh,
            ocsp: options.ocsp,
            fetch: options.fetch,
            serve_stale_for: options.serve_stale_for,
            snapshot_cache_bytes: options.snapshot_cache_bytes,
            tls: options.tls,
        };
        let (started, ready) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let app = Application::build(config).await.expect("server starts");
                started.send((app.local_addr(), app.handle())).expect("test is waiting");
                app.run_until_stopped().await.expect("server stops cleanly");
            })
        });
        let (addr, handle) = actix_web::rt::task::spawn_blocking(move || ready.recv().expect("server thread started"))
            .await
            .expect("join");
        Self {
            addr,
            client: awc::Client::builder().disable_redirects().timeout(std::time::Duration::from_secs(30)).finish(),
            handle,
            thread: Some(thread),
            db: None,
            data_dir,
            jwt_secret,
            admin_token: keys.issue("test-admin", Role::Admin, None, time::Duration::hours(1)),
            keys,
        }
    }

    /// The server's HS256 secret, to forge tokens with chosen claims.
    pub fn secret(&self) -> String {
        self.jwt_secret.clone()
    }

    /// A token of this role (and, optionally, these sites) signed with the server's secret.
    pub fn token(&self, role: Role, sites: &[&str]) -> String {
        let sites = (!sites.is_empty()).then(|| sites.iter().map(|s| s.to_string()).collect());
        self.keys.issue(&format!("test-{}", role.as_str()), role, sites, time::Duration::hours(1))
    }

    /// A token of this role that declares the client-identity form it sends to authorize.
    pub fn token_declaring(&self, role: Role, form: ClientIdentity) -> String {
        let subject = format!("test-{}-{form}", role.as_str());
        self.keys.issue_declaring(&subject, role, None, Some(form), time::Duration::hours(1))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn request(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Response {
        let mut req = self.client.request(method, self.url(path));
        // An explicit empty Authorization means "send none".
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization")) {
            req = req.insert_header(("authorization", format!("Bearer {}", self.admin_token)));
        }
        for (k, v) in headers.iter().filter(|(k, v)| !(k.eq_ignore_ascii_case("authorization") && v.is_empty())) {
            req = req.insert_header((*k, *v));
        }
        let mut res = match body {
            Some(b) => req.send_body(b.to_vec()).await,
            None => req.send().await,
        }
        .expect("request reaches the server");
        let body = res.body().limit(64 * 1024 * 1024).await.expect("read body").to_vec();
        Response { status: res.status().as_u16(), headers: res.headers().clone(), body }
    }

    /// The value of an unlabelled metric on `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.get("/metrics").await.text();
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .parse()
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path, &[], None).await
    }

    pub async fn delete(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.request(Method::DELETE, path, headers, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.send_json(Method::POST, path, &[], body).await
    }

    pub async fn patch(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> Response {
        self.send_json(Method::PATCH, path, headers, body).await
    }

    pub async fn send_json(&self, method: Method, path: &str, headers: &[(&str, &str)], body: &Value) -> Response {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.request(method, path, &all, Some(&serde_json::to_vec(body).unwrap())).await
    }

    /// Creates a site and returns its JSON.
    pub async fn site(&self, body: Value) -> Value {
        let res = self.post("/api/v1/sites", &body).await;
        assert_eq!(res.status, 201, "{}", res.text());
        res.json()
    }

    /// Runs SQL against this test's own database (to look behind the API, e.g. at ciphertext).
    pub fn sql<T: Send + 'static>(&self, f: impl FnOnce(&mut diesel::PgConnection) -> T) -> T {
        use diesel::Connection;
        let url = self.db.as_ref().expect("a database of the test's own").url().to_owned();
        let mut conn = diesel::PgConnection::establish(&url).expect("connect to the test database");
        f(&mut conn)
    }

    /// Creates a mapping and returns its JSON.
    pub async fn mapping(&self, site_id: i64, body: Value) -> Value {
        let res = self.post(&format!("/api/v1/sites/{site_id}/mappings"), &body).await;
        assert_eq!(res.status, 201, "{}", res.text());
        res.json()
    }

    /// A directory that requires a client certificate and lets nothing else in.
    pub async fn secured_directory(&self, site_id: i64, path: &str) -> Value {
        let body = serde_json::json!({"path": path, "require_ssl": true, "client_certificates": "require", "anonymous_auth": false});
        let res = self.post(&format!("/api/v1/sites/{site_id}/directories"), &body).await;
        assert_eq!(res.status, 201, "{}", res.text());
        res.json()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        // The stop future only talks to the server's own thread over channels; any runtime can
        // drive it. Waiting for the thread means no connection outlives the test's database.
        let _ = std::thread::spawn(move || actix_web::rt::System::new().block_on(handle.stop(false))).join();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}
