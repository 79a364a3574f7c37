use certmap_tests::TestApp;
use serde_json::{json, Value};

async fn site_id(app: &TestApp) -> i64 {
    app.site(json!({"name": "Default Web Site"})).await["id"].as_i64().unwrap()
}

async fn directory_count(app: &TestApp, site: i64) -> usize {
    app.get(&format!("/api/v1/sites/{site}/directories")).await.json()["items"].as_array().unwrap().len()
}

#[actix_web::test]
async fn a_properly_secured_directory_is_created() {
    let app = TestApp::spawn().await;
    let site = site_id(&app).await;
    let res = app
        .post(
            &format!("/api/v1/sites/{site}/directories"),
            &json!({"path": "secure/", "require_ssl": true, "client_certificates": "require", "anonymous_auth": false}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let dir = res.json();
    assert_eq!(dir["path"], "/secure");
    assert_eq!(dir["ssl_flags"], "Ssl, SslNegotiateCert, SslRequireCert");
    assert_eq!(dir["site_id"], site);
    for f in ["anonymous_auth", "basic_auth", "windows_auth", "digest_auth"] {
        assert_eq!(dir[f], false, "{f}");
    }
    assert_eq!(res.header("location"), Some(format!("/api/v1/sites/{site}/directories/{}", dir["id"]).as_str()));
    assert_eq!(res.header("etag"), Some("\"1\""));
    let fetched = app.get(&format!("/api/v1/sites/{site}/directories/{}", dir["id"])).await;
    assert_eq!(fetched.json(), dir);
    // The site's revision moved with the change under it.
    assert_eq!(app.get(&format!("/api/v1/sites/{site}")).await.json()["revision"], 2);
}

#[actix_web::test]
async fn defaults_are_iis_defaults() {
    let app = TestApp::spawn().await;
    let site = site_id(&app).await;
    let dir = app.post(&format!("/api/v1/sites/{site}/directories"), &json!({"path": "/public"})).await.json();
    assert_eq!(
        (&dir["require_ssl"], &dir["client_certificates"], &dir["anonymous_auth"], &dir["ssl_flags"]),
        (&json!(false), &json!("ignore"), &json!(true), &json!("None"))
    );
}

/// The field report: mapping configured on /secure instead of the site → 401.2, 0x80070005.
#[actix_web::test]
async fn the_seed_mistake_mapping_on_a_directory_is_refused() {
    let app = TestApp::spawn().await;
    let site = site_id(&app).await;
    let body = json!({
        "path": "/secure", "require_ssl": true, "client_certificates": "require", "anonymous_auth": false,
        "certificate_mapping": {"enabled": true, "one_to_one_enabled": true}
    });
    let p =
        app.post(&format!("/api/v1/sites/{site}/directories"), &body).await.problem(422, "mapping-not-at-site-root");
    assert!(p["detail"].as_str().unwrap().contains("site root"), "{p:#}");
    assert!(p["iis_symptom"].as_str().unwrap().contains("401.2"));
    assert!(p["iis_symptom"].as_str().unwrap().contains("0x80070005"));
    assert_eq!(p["errors"][0]["field"], "certificate_mapping");
    assert_eq!(directory_count(&app, site).await, 0, "a refused write changes nothing");
    assert_eq!(app.get(&format!("/api/v1/sites/{site}")).await.json()["revision"], 1);

    let dir = app.secured_directory(site, "/secure").await;
    let dir_path = format!("/api/v1/sites/{site}/directories/{}", dir["id"]);
    app.patch(&dir_path, &[], &json!({"certificate_mapping": {"enabled": true}}))
        .await
        .problem(422, "mapping-not-at-site-root");
    app.patch(&dir_path, &[], &json!({"mappings": []})).await.problem(422, "mapping-not-at-site-root");
    app.patch(&dir_path, &[], &json!({"certificate_mapping": null})).await.problem(422, "mapping-not-at-site-root");
    // Never a 412 that would invite a retry: no ETag makes mapping settings on a directory right.
    app.patch(&dir_path, &[("if-match", "\"0\"")], &json!({"mappings": [null]}))
        .await
        .problem(422, "mapping-not-at-site-root");
    let p = app
        .post(&format!("{dir_path}/mappings"), &json!({"certificate": "MIIB...", "user_name": "CONTOSO\\alice"}))
        .await
        .problem(422, "mapping-not-at-site-root");
    assert!(p["iis_symptom"].as_str().unwrap().contains("0x80070005"));
    app.post(&format!("/api/v1/sites/{site}/directories/999/mappings"), &json!({})).await.problem(404, "not-found");
}

#[actix_web::test]
async fn client_certificates_need_ssl() {
    let app = TestApp::spawn().await;
    let site = site_id(&app).await;
    for cc in ["accept", "require"] {
        let p = app
            .post(
                &format!("/api/v1/sites/{site}/directories"),
                &json!({"path": "/x", "client_certificates": cc, "anonymous_auth": false}),
            )
            .await
            .problem(422, "client-cert-requires-ssl");
        assert_eq!(p["errors"][0]["field"], "require_ssl");
        assert!(p["iis_symptom"].is_string());
    }
    assert_eq!(directory_count(&app, site).await, 0);
}

#[actix_web::test]
async fn a_secured_directory_names_every_other_scheme_left_on() {
    let app = TestApp::spawn().await;
    let site = site_id(&app).await;
    let body = json!({"path": "/secure", "require_ssl": true, "client_certificates": "require", "basic_auth": true, "windows_auth": true, "digest_auth": true});
    let p = app
        .post(&format!("/api/v1/sites/{site}/directories"), &body)
        .await
        .problem(422, "secured-directory-allows-other-auth");
    let fields: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["anonymous_auth", "basic_auth", "windows_auth", "digest_auth"]);
    assert!(p["iis_symptom"].as_str().unwrap().contains("never triggers"));
    assert_eq!(directory_count(&app, site).await, 0);
}

#[actix_web::test]
async fn patch_checks_the_merged_directory_and_leaves_it_unchanged_when_refused() {
    let app = TestApp::spawn().await;
    let site = site_id(&app).await;
    let dir = app
        .post(&format!("/api/v1/sites/{site}/directories"), &json!({"path": "/app", "require_ssl": true}))
        .await
        .json();
    let path = format!("/api/v1/sites/{site}/directories/{}", dir["id"]);
    // Anonymous is still on from the defaults: requiring certificates alone is refused.
    app.patch(&path, &[], &json!({"client_certificates": "require"}))
        .await
        .problem(422, "secured-directory-allows-other-auth");
    assert_eq!(app.get(&path).await.json(), dir);
    let site_revision = app.get(&format!("/api/v1/sites/{site}")).await.json()["revision"].clone();

    let res = app
        .patch(&path, &[("if-match", "\"1\"")], &json!({"client_certificates": "require", "anonymous_auth": false}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("etag"), Some("\"2\""));
    assert_eq!(res.json()["ssl_flags"], "Ssl, SslNegotiateCert, SslRequireCert");
    assert_eq!(app.get(&format!("/api/v1/sites/{site}")).await.json()["revision"], site_revision.as_i64().unwrap() + 1);

    // Turning SSL off under a certificate requirement is refused too.
    app.patch(&path, &[], &json!({"require_ssl": false})).await.problem(422, "client-cert-requires-ssl");
    app.patch(&path, &[("if-match", "\"1\"")], &json!({"anonymous_auth": false}))
        .await
        .problem(412, "precondition-failed");
    app.delete(&path, &[("if-match", "\"1\"")]).await.problem(412, "precondition-failed");
    assert_eq!(app.delete(&path, &[("if-match", "\"2\"")]).await.status, 204);
    app.get(&path).await.problem(404, "not-found");
}

#[actix_web::test]
async fn paths_are_normalized_validated_and_unique_per_site() {
    let app = TestApp::spawn().await;
    let site = site_id(&app).await;
    let other = app.site(json!({"name": "Other"})).await["id"].as_i64().unwrap();
    for bad in ["", "/a//b", "/../etc", "/a\\b", "/a?b", "/a#b", "/a%2e", "/a\u{7}"] {
        let p = app
            .post(&format!("/api/v1/sites/{site}/directories"), &json!({"path": bad}))
            .await
            .problem(422, "invalid-path");
        assert_eq!(p["errors"][0]["field"], "path");
    }
    app.post(&format!("/api/v1/sites/{site}/directories"), &json!({})).await.problem(422, "missing-field");
    app.post(&format!("/api/v1/sites/{site}/directories"), &json!({"path": "/Secure/"})).await;
    let p = app
        .post(&format!("/api/v1/sites/{site}/directories"), &json!({"path": "/secure"}))
        .await
        .problem(409, "duplicate-path");
    assert_eq!(p["errors"][0]["field"], "path");
    // Another site may use the same path.
    assert_eq!(app.post(&format!("/api/v1/sites/{other}/directories"), &json!({"path": "/secure"})).await.status, 201);
    assert_eq!(directory_count(&app, site).await, 1);
}

#[actix_web::test]
async fn directories_belong_to_their_site() {
    let app = TestApp::spawn().await;
    let a = site_id(&app).await;
    let b = app.site(json!({"name": "B"})).await["id"].as_i64().unwrap();
    let dir = app.secured_directory(a, "/secure").await;
    app.get(&format!("/api/v1/sites/{b}/directories/{}", dir["id"])).await.problem(404, "not-found");
    app.patch(&format!("/api/v1/sites/{b}/directories/{}", dir["id"]), &[], &json!({"path": "/x"}))
        .await
        .problem(404, "not-found");
    app.delete(&format!("/api/v1/sites/{b}/directories/{}", dir["id"]), &[]).await.problem(404, "not-found");
    app.post("/api/v1/sites/999/directories", &json!({"path": "/x"})).await.problem(404, "not-found");
    app.get("/api/v1/sites/999/directories").await.problem(404, "not-found");
}

#[actix_web::test]
async fn directories_paginate() {
    let app = TestApp::spawn().await;
    let site = site_id(&app).await;
    for i in 0..3 {
        app.post(&format!("/api/v1/sites/{site}/directories"), &json!({"path": format!("/d{i}")})).await;
    }
    let first = app.get(&format!("/api/v1/sites/{site}/directories?limit=2")).await.json();
    let paths = |v: &Value| {
        v["items"].as_array().unwrap().iter().map(|d| d["path"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(paths(&first), ["/d0", "/d1"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app.get(&format!("/api/v1/sites/{site}/directories?limit=2&cursor={cursor}")).await.json();
    assert_eq!(paths(&second), ["/d2"]);
    assert!(second["next_cursor"].is_null());
}
