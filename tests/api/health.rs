use std::time::Duration;

use certmap::config::DatabaseSource;
use certmap_db::cluster::{ClusterOptions, LocalCluster};
use certmap_db::testdb::scratch_dir;
use certmap_tests::TestApp;

#[actix_web::test]
async fn healthz_and_readyz_answer_when_the_database_is_up() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.json()["status"], "ok");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["status"], "ready");
}

/// Someone who types the server's address lands in the console, not a 404.
#[actix_web::test]
async fn the_root_leads_to_the_console() {
    let app = TestApp::spawn().await;
    for method in [awc::http::Method::GET, awc::http::Method::HEAD] {
        let res = app.request(method, "/", &[("authorization", "")], None).await;
        assert_eq!(res.status, 302, "{}", res.text());
        assert_eq!(res.header("location"), Some("/ui/"));
    }
}

/// A private cluster of this test's own, so stopping it disturbs no other test.
pub struct OwnCluster {
    pub cluster: LocalCluster,
    dir: std::path::PathBuf,
}

impl OwnCluster {
    pub async fn start(label: &str) -> Self {
        let dir = scratch_dir(label);
        actix_web::rt::task::spawn_blocking(move || OwnCluster {
            cluster: LocalCluster::ensure_running(&dir, &ClusterOptions::default()).expect("cluster starts"),
            dir,
        })
        .await
        .unwrap()
    }

    /// Stops (`false`) or starts (`true`) the server, off the test's runtime.
    pub async fn set_running(self, running: bool) -> Self {
        actix_web::rt::task::spawn_blocking(move || {
            let done = if running { self.cluster.start() } else { self.cluster.stop() };
            done.expect("pg_ctl");
            self
        })
        .await
        .unwrap()
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = self.cluster.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[actix_web::test]
async fn readiness_follows_the_database_down_and_back_up_without_a_restart() {
    let own = OwnCluster::start("readyz").await;
    let app = TestApp::spawn_on(DatabaseSource::Url(own.cluster.url("postgres"))).await;
    assert_eq!(app.get("/readyz").await.status, 200);

    let own = own.set_running(false).await;
    let down = app.get("/readyz").await;
    let p = down.problem(503, "database-unavailable");
    assert!(!p["detail"].as_str().unwrap().contains("postgres://"), "no connection details leak: {p:#}");
    assert_eq!(down.header("retry-after"), Some("5"));
    assert_eq!(app.get("/healthz").await.status, 200, "liveness does not depend on the database");
    app.get("/api/v1/sites").await.problem(503, "database-unavailable");

    let own = own.set_running(true).await;
    // Poll: the pool reconnects on its own; bounded so a regression fails instead of hanging.
    let mut status = 0;
    for _ in 0..100 {
        status = app.get("/readyz").await.status;
        if status == 200 {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "readiness recovers once the database is back");
    assert_eq!(app.get("/api/v1/sites").await.status, 200);
    drop(app);
    drop(own);
}

/// RFC 9110: a method a resource lacks is 405 with `Allow` (404 only for a path that names
/// nothing), and HEAD works wherever GET does.
#[actix_web::test]
async fn a_missing_method_is_405_with_allow_and_head_answers_like_get() {
    use awc::http::Method;
    let app = TestApp::spawn().await;
    let trace = app.request(Method::TRACE, "/healthz", &[], None).await;
    trace.problem(405, "method-not-allowed");
    assert_eq!(trace.header("allow"), Some("GET, HEAD"));
    let put = app.request(Method::PUT, "/api/v1/sites/1", &[("authorization", "")], None).await;
    put.problem(405, "method-not-allowed");
    assert_eq!(put.header("allow"), Some("GET, HEAD, PATCH, DELETE"));
    app.request(Method::PUT, "/api/v1/nothing", &[], None).await.problem(404, "not-found");

    // Identity: awc would try to inflate the body a HEAD answer never has.
    let head = app.request(Method::HEAD, "/healthz", &[("accept-encoding", "identity")], None).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty(), "HEAD has no body");
    let unauthorized = app
        .request(Method::HEAD, "/api/v1/sites", &[("authorization", ""), ("accept-encoding", "identity")], None)
        .await;
    assert_eq!(unauthorized.status, 401);
}
