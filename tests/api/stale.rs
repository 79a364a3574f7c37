//! While the database is gone: gateways are answered from what is held, saying so, for up to
//! `--serve-stale-for`; writes are refused at once; once it is back, what is held is confirmed.

use std::time::{Duration, Instant};

use certmap::auth::Role;
use certmap::config::DatabaseSource;
use certmap::domain::client_identity::ClientIdentity;
use certmap_tests::certs::TestCa;
use certmap_tests::{Options, Response, TestApp};
use serde_json::json;

use crate::health::OwnCluster;

const STALE: &str = "x-certmap-stale";

struct Gateway<'a> {
    app: &'a TestApp,
    token: String,
    sha256: String,
}

impl Gateway<'_> {
    async fn authorize(&self) -> Response {
        let headers = [
            ("authorization", self.token.as_str()),
            ("x-certmap-site", "Default Web Site"),
            ("x-original-uri", "/secure/page"),
            ("x-ssl-client-sha256", self.sha256.as_str()),
        ];
        self.app.request(awc::http::Method::GET, "/api/v1/authorize", &headers, None).await
    }

    async fn snapshot(&self, path: &str, etag: Option<&str>) -> Response {
        let mut headers = vec![("authorization", self.token.as_str())];
        headers.extend(etag.map(|tag| ("if-none-match", tag)));
        self.app.request(awc::http::Method::GET, path, &headers, None).await
    }
}

/// Polls `f` every 50 ms until it gives `Some`, for at most `limit`.
async fn until<T>(what: &str, limit: Duration, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(found) = f().await {
            return found;
        }
        assert!(start.elapsed() < limit, "{what} did not happen within {limit:?}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn gateways_are_answered_from_memory_while_the_database_is_gone_and_writes_refused_at_once() {
    let own = OwnCluster::start("stale").await;
    let options = Options { serve_stale_for: Duration::from_secs(8), ..Default::default() };
    let app = TestApp::spawn_with(DatabaseSource::Url(own.cluster.url("postgres")), options).await;
    let ca = TestCa::new("Contoso CA");
    let site = app.site(json!({"name": "Default Web Site", "certificate_mapping": {"enabled": true}})).await["id"]
        .as_i64()
        .unwrap();
    app.secured_directory(site, "/secure").await;
    let alice = app.mapping(site, json!({"certificate": ca.client("alice").pem, "user_name": "CONTOSO\\alice"})).await;
    let gateway = Gateway {
        app: &app,
        token: format!("Bearer {}", app.token_declaring(Role::Gateway, ClientIdentity::Fingerprint)),
        sha256: alice["sha256"].as_str().unwrap().to_owned(),
    };
    let snapshot_path = format!("/api/v1/sites/{site}/snapshot");
    let up = gateway.authorize().await;
    assert_eq!((up.status, up.header("x-certmap-user"), up.header(STALE)), (200, Some("CONTOSO\\alice"), None));
    let full = gateway.snapshot(&snapshot_path, None).await;
    assert_eq!((full.status, full.header(STALE)), (200, None));
    let etag = full.header("etag").unwrap().to_owned();
    let all_etag = gateway.snapshot("/api/v1/snapshot", None).await.header("etag").unwrap().to_owned();

    let own = own.set_running(false).await;
    // Every authorize call is answered as before, from the first after the stop until the
    // database is known gone, and then with the header.
    let age = until("the stale header", Duration::from_secs(10), async || {
        let r = gateway.authorize().await;
        assert_eq!((r.status, r.header("x-certmap-user")), (200, Some("CONTOSO\\alice")), "{}", r.text());
        r.header(STALE).map(|age| age.parse::<u64>().expect("whole seconds"))
    })
    .await;
    assert!(age < 8, "{age}");

    let full = gateway.snapshot(&snapshot_path, None).await;
    assert_eq!(full.status, 200, "{}", full.text());
    assert!(full.header(STALE).is_some() && full.header("etag") == Some(etag.as_str()));
    let not_modified = gateway.snapshot(&snapshot_path, Some(&etag)).await;
    assert_eq!((not_modified.status, not_modified.header(STALE).is_some()), (304, true));
    let all = gateway.snapshot("/api/v1/snapshot", None).await;
    assert_eq!((all.status, all.header(STALE).is_some()), (200, true), "{}", all.text());
    let waited = Instant::now();
    let long_poll = gateway.snapshot("/api/v1/snapshot?wait=1", Some(&all_etag)).await;
    assert_eq!((long_poll.status, long_poll.header(STALE).is_some()), (304, true));
    assert!(waited.elapsed() >= Duration::from_millis(900), "the long-poll waited out its time");

    // Writes: refused at once, not after the pool's 5 s checkout timeout.
    let mut took = Vec::new();
    for i in 0..5 {
        let start = Instant::now();
        let refused = app.post(&format!("/api/v1/sites/{site}/directories"), &json!({"path": format!("/d{i}")})).await;
        took.push(start.elapsed());
        refused.problem(503, "database-unavailable");
        assert!(refused.header("retry-after").is_some());
    }
    took.sort();
    assert!(took[4] < Duration::from_secs(1), "every write refused within a second: {took:?}");
    assert!(took[2] < Duration::from_millis(100), "writes refused within 100 ms: {took:?}");

    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, 200, "{}", metrics.text());
    let gauge =
        metrics.text().lines().find(|l| l.starts_with("certmap_database_unreachable_seconds ")).map(str::to_owned);
    assert!(gauge.is_some(), "{}", metrics.text());

    // Past --serve-stale-for, gateways are refused too.
    let refused = until("503 past --serve-stale-for", Duration::from_secs(12), async || {
        let r = gateway.authorize().await;
        (r.status != 200).then_some(r)
    })
    .await;
    refused.problem(503, "database-unavailable");

    let own = own.set_running(true).await;
    let back = until("authorize from a database that answers", Duration::from_secs(15), async || {
        let r = gateway.authorize().await;
        (r.status == 200 && r.header(STALE).is_none()).then_some(r)
    })
    .await;
    assert_eq!(back.header("x-certmap-user"), Some("CONTOSO\\alice"));
    // Writes work again, and what was held is confirmed, not trusted: a removal is seen.
    let removed = app.delete(&format!("/api/v1/sites/{site}/mappings/{}", alice["id"]), &[]).await;
    assert_eq!(removed.status, 204, "{}", removed.text());
    assert_eq!(gateway.authorize().await.status, 403);
    drop(app);
    drop(own);
}
