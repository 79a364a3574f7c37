//! The gateway cache seen from outside: long-polls that wake on a change (made here, or through
//! another replica on the same database), gzip as stored, the all-sites snapshot, the waiter cap
//! and the metrics that show it.

use std::time::Duration;

use awc::http::Method;
use certmap::auth::Role;
use certmap::config::DatabaseSource;
use certmap::domain::client_identity::ClientIdentity;
use certmap_db::testdb;
use certmap_tests::certs::TestCa;
use certmap_tests::{Options, TestApp};
use futures_util::future::join;
use serde_json::{json, Value};

async fn site_with_alice(app: &TestApp, name: &str, ca: &TestCa) -> (i64, Value) {
    let site = app.site(json!({"name": name, "certificate_mapping": {"enabled": true}})).await["id"].as_i64().unwrap();
    app.secured_directory(site, "/secure").await;
    let alice = app.mapping(site, json!({"certificate": ca.client("alice").pem, "user_name": "CONTOSO\\alice"})).await;
    (site, alice)
}

/// Polls the server until `n` long-polls are held, so a change made next is one they wait for.
async fn until_waiting(app: &TestApp, n: f64) {
    for _ in 0..500 {
        if app.metric("certmap_long_polls_waiting").await == n {
            return;
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{n} long-polls never waited");
}

async fn authorize(app: &TestApp, site: i64, sha256: &str) -> u16 {
    let site = site.to_string();
    let token = format!("Bearer {}", app.token_declaring(Role::Gateway, ClientIdentity::Fingerprint));
    app.request(
        Method::GET,
        "/api/v1/authorize",
        &[
            ("authorization", &token),
            ("x-certmap-site", &site),
            ("x-original-uri", "/secure/x"),
            ("x-ssl-client-sha256", sha256),
        ],
        None,
    )
    .await
    .status
}

#[actix_web::test]
async fn a_long_poll_is_held_until_the_site_changes() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let (site, alice) = site_with_alice(&app, "Default Web Site", &ca).await;
    let path = format!("/api/v1/sites/{site}/snapshot");
    let first = app.get(&path).await;
    let tag = first.header("etag").unwrap().to_owned();

    // Nothing changes: the wait ends in a 304.
    let quiet = app.request(Method::GET, &format!("{path}?wait=1"), &[("if-none-match", &tag)], None).await;
    assert_eq!((quiet.status, quiet.header("etag")), (304, Some(tag.as_str())));

    let (url, held_tag) = (format!("{path}?wait=30"), [("if-none-match", tag.as_str())]);
    let held = app.request(Method::GET, &url, &held_tag, None);
    let change = async {
        until_waiting(&app, 1.0).await;
        app.patch(&format!("/api/v1/sites/{site}/mappings/{}", alice["id"]), &[], &json!({"enabled": false})).await
    };
    let (answer, patched) = join(held, change).await;
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_ne!(answer.header("etag"), Some(tag.as_str()));
    assert_eq!(answer.json()["one_to_one"], json!([]), "the held request answers with the change");
    assert_eq!(app.metric("certmap_long_polls_waiting").await, 0.0);
    // A wait that is not 0 to 60 seconds is a 422, like any other bad query value.
    for wait in ["-1", "61", "2147483648"] {
        let bad = app.request(Method::GET, &format!("{path}?wait={wait}"), &[], None).await;
        assert_eq!(bad.status, 422, "wait={wait}: {}", bad.text());
    }
}

#[actix_web::test]
async fn a_change_through_one_replica_reaches_another_at_once() {
    let db = actix_web::rt::task::spawn_blocking(|| testdb::server().create_database()).await.unwrap();
    let a = TestApp::spawn_on(DatabaseSource::Url(db.url().to_owned())).await;
    let b = TestApp::spawn_on(DatabaseSource::Url(db.url().to_owned())).await;
    let ca = TestCa::new("Contoso CA");
    let (site, alice) = site_with_alice(&a, "Default Web Site", &ca).await;
    let sha256 = alice["sha256"].as_str().unwrap().to_owned();
    assert_eq!(authorize(&b, site, &sha256).await, 200, "b reads what a wrote");
    let path = format!("/api/v1/sites/{site}/snapshot");
    let tag = b.get(&path).await.header("etag").unwrap().to_owned();

    let (url, held_tag) = (format!("{path}?wait=30"), [("if-none-match", tag.as_str())]);
    let held = b.request(Method::GET, &url, &held_tag, None);
    let change = async {
        until_waiting(&b, 1.0).await;
        a.patch(&format!("/api/v1/sites/{site}/mappings/{}", alice["id"]), &[], &json!({"enabled": false})).await
    };
    let (answer, _) = join(held, change).await;
    assert_eq!(answer.status, 200, "b's long-poll wakes on a's change: {}", answer.text());
    assert_eq!(answer.json()["one_to_one"], json!([]));
    assert_eq!(authorize(&b, site, &sha256).await, 403, "b's cache dropped alice");

    // Deleting the site on a is heard on b too: b's held request ends with the site.
    let tag = answer.header("etag").unwrap().to_owned();
    let held_tag = [("if-none-match", tag.as_str())];
    let held = b.request(Method::GET, &url, &held_tag, None);
    let delete = async {
        until_waiting(&b, 1.0).await;
        a.delete(&format!("/api/v1/sites/{site}"), &[]).await
    };
    let (gone, deleted) = join(held, delete).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text());
    gone.problem(404, "not-found");
    drop((a, b));
    drop(db);
}

#[actix_web::test]
async fn snapshots_are_gzipped_once_and_sent_as_stored() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let (site, _) = site_with_alice(&app, "Default Web Site", &ca).await;
    let url = app.url(&format!("/api/v1/sites/{site}/snapshot"));
    let auth = format!("Bearer {}", app.admin_token);
    let mut res = app
        .client
        .get(&url)
        .no_decompress()
        .insert_header(("authorization", auth.as_str()))
        .insert_header(("accept-encoding", "gzip"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers().get("content-encoding").unwrap(), "gzip");
    assert_eq!(res.headers().get("vary").unwrap(), "Accept-Encoding");
    let gz = res.body().await.unwrap();
    let mut plain = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut plain).unwrap();
    let mut direct = app
        .client
        .get(&url)
        .no_decompress()
        .insert_header(("authorization", auth.as_str()))
        .insert_header(("accept-encoding", "identity"))
        .send()
        .await
        .unwrap();
    assert!(direct.headers().get("content-encoding").is_none());
    assert_eq!(plain.as_bytes(), &direct.body().await.unwrap()[..], "one document, encoded once");
}

#[actix_web::test]
async fn the_all_sites_snapshot_follows_every_site_the_caller_may_read() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let (one, alice) = site_with_alice(&app, "One", &ca).await;
    let (two, _) = site_with_alice(&app, "Two", &ca).await;
    let all = app.get("/api/v1/snapshot").await;
    assert_eq!(all.status, 200, "{}", all.text());
    let ids: Vec<i64> =
        all.json()["sites"].as_array().unwrap().iter().map(|s| s["site_id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [one, two]);
    let tag = all.header("etag").unwrap().to_owned();
    let same = app.request(Method::GET, "/api/v1/snapshot", &[("if-none-match", &tag)], None).await;
    assert_eq!(same.status, 304);

    let scoped = format!("Bearer {}", app.token(Role::Gateway, &["two"]));
    let mine = app.request(Method::GET, "/api/v1/snapshot", &[("authorization", &scoped)], None).await;
    let sites = mine.json()["sites"].clone();
    assert_eq!(sites.as_array().unwrap().len(), 1);
    assert_eq!(sites[0]["site_id"], two);
    assert_ne!(mine.header("etag"), Some(tag.as_str()));

    let held_tag = [("if-none-match", tag.as_str())];
    let held = app.request(Method::GET, "/api/v1/snapshot?wait=30", &held_tag, None);
    let change = async {
        until_waiting(&app, 1.0).await;
        app.patch(&format!("/api/v1/sites/{one}/mappings/{}", alice["id"]), &[], &json!({"enabled": false})).await
    };
    let (answer, _) = join(held, change).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["sites"][0]["one_to_one"], json!([]));
    // A new site joins the document.
    app.site(json!({"name": "Three"})).await;
    let three = app.get("/api/v1/snapshot").await;
    assert_eq!(three.json()["sites"].as_array().unwrap().len(), 3);
}

#[actix_web::test]
async fn beyond_the_cap_a_long_poll_is_answered_at_once() {
    let app = TestApp::spawn_options(Options { max_long_polls: 0, ..Options::default() }).await;
    let ca = TestCa::new("Contoso CA");
    let (site, _) = site_with_alice(&app, "Default Web Site", &ca).await;
    let path = format!("/api/v1/sites/{site}/snapshot");
    let tag = app.get(&path).await.header("etag").unwrap().to_owned();
    let (url, held_tag) = (format!("{path}?wait=60"), [("if-none-match", tag.as_str())]);
    let poll = app.request(Method::GET, &url, &held_tag, None);
    // Not a timing claim: a request held for its full 60 s would fail this rather than hang CI.
    let res = actix_web::rt::time::timeout(Duration::from_secs(30), poll).await.expect("answered without waiting");
    assert_eq!(res.status, 304);
    assert_eq!(app.metric("certmap_long_polls_refused_total").await, 1.0);
}

#[actix_web::test]
async fn metrics_show_routes_cache_and_decisions() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let (site, alice) = site_with_alice(&app, "Default Web Site", &ca).await;
    let sha256 = alice["sha256"].as_str().unwrap().to_owned();
    assert_eq!(authorize(&app, site, &sha256).await, 200);
    assert_eq!(authorize(&app, site, &sha256).await, 200);
    let anonymous = app.request(Method::GET, "/metrics", &[("authorization", "")], None).await;
    anonymous.problem(401, "unauthorized");
    let res = app.get("/metrics").await;
    assert_eq!(res.status, 200);
    assert!(res.header("content-type").unwrap().starts_with("application/openmetrics-text"));
    let text = res.text();
    for expected in [
        r#"certmap_http_requests_total{method="GET",route="/api/v1/authorize",status="200"} 2"#,
        r#"certmap_authorize_decisions_total{outcome="mapped"} 2"#,
        r#"certmap_http_request_duration_seconds_count{route="/api/v1/authorize"} 2"#,
        "certmap_db_pool_connections ",
        "certmap_long_polls_waiting 0",
    ] {
        assert!(text.contains(expected), "{expected} in\n{text}");
    }
    assert!(app.metric("certmap_cache_hits_total").await >= 1.0, "the second authorize came from memory");
    assert!(!text.contains(&format!("/sites/{site}/")), "routes are patterns, never raw paths");
}

#[actix_web::test]
async fn rendered_config_can_be_long_polled_too() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let (site, alice) = site_with_alice(&app, "Default Web Site", &ca).await;
    let path = format!("/api/v1/sites/{site}/config/nginx?upstream=http://127.0.0.1:9000");
    let first = app.get(&path).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert!(first.text().contains(alice["sha1"].as_str().unwrap()));
    let tag = first.header("etag").unwrap().to_owned();
    let (url, held_tag) = (format!("{path}&wait=30"), [("if-none-match", tag.as_str())]);
    let quiet = app.request(Method::GET, &format!("{path}&wait=1"), &held_tag, None).await;
    assert_eq!((quiet.status, quiet.header("etag")), (304, Some(tag.as_str())), "waiting is not an option of the file");

    let held = app.request(Method::GET, &url, &held_tag, None);
    let change = async {
        until_waiting(&app, 1.0).await;
        app.delete(&format!("/api/v1/sites/{site}/mappings/{}", alice["id"]), &[]).await
    };
    let (answer, deleted) = join(held, change).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(answer.status, 200);
    assert!(!answer.text().contains(alice["sha1"].as_str().unwrap()), "alice left the map");
}

#[actix_web::test]
async fn held_config_requests_wake_when_a_mapping_expires() {
    use time::format_description::well_known::Rfc3339;
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let site = app
        .site(json!({"name": "Portal", "hostnames": ["portal.contoso.com"], "certificate_mapping": {"enabled": true}}))
        .await["id"]
        .as_i64()
        .unwrap();
    app.secured_directory(site, "/secure").await;
    // Expires while the requests below are held; nothing else changes the site.
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::seconds(3)).format(&Rfc3339).unwrap();
    let bob = app
        .mapping(site, json!({"certificate": ca.client("bob").pem, "user_name": "CONTOSO\\bob", "expires_at": soon}))
        .await;
    let bob = bob["sha1"].as_str().unwrap();
    let options = "?upstream=http://127.0.0.1:9000";
    let (one, all) = (format!("/api/v1/sites/{site}/config/nginx{options}"), format!("/api/v1/config/nginx{options}"));
    let (first_one, first_all) = join(app.get(&one), app.get(&all)).await;
    assert!(first_one.text().contains(bob), "{}", first_one.text());
    assert!(first_all.text().contains(bob), "{}", first_all.text());
    let (tag_one, tag_all) = (first_one.header("etag").unwrap(), first_all.header("etag").unwrap());
    // Longer than the harness's 30 s client timeout: only a request woken by the expiry answers.
    let (held_one, held_all) = join(
        app.request(Method::GET, &format!("{one}&wait=60"), &[("if-none-match", tag_one)], None),
        app.request(Method::GET, &format!("{all}&wait=60"), &[("if-none-match", tag_all)], None),
    )
    .await;
    for (held, path) in [(held_one, &one), (held_all, &all)] {
        assert_eq!(held.status, 200, "{path}: the expiry is a change, not a 304 at the end of the wait");
        assert!(!held.text().contains(bob), "{path}: bob left the map");
    }
}
