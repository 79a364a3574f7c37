use awc::http::Method;
use certmap_tests::certs::TestCa;
use certmap_tests::TestApp;
use diesel::prelude::*;
use serde_json::{json, Value};

fn mapping_rows(app: &TestApp) -> i64 {
    app.sql(|c| {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("(SELECT count(*) FROM mappings)"))
            .get_result(c)
            .unwrap()
    })
}

async fn bulk(app: &TestApp, site: i64, content_type: &str, body: Vec<u8>) -> certmap_tests::Response {
    app.request(
        Method::POST,
        &format!("/api/v1/sites/{site}/mappings:bulk"),
        &[("content-type", content_type)],
        Some(&body),
    )
    .await
}

#[actix_web::test]
async fn ten_thousand_mappings_in_one_transaction() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let s = app.site(json!({"name": "S"})).await["id"].as_i64().unwrap();
    let certs = ca.many(10_000, "user");
    let items: Vec<Value> = certs
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"certificate": c.pem, "user_name": format!("CONTOSO\\user{}", i % 100), "password": "pw"}))
        .collect();
    let res = bulk(&app, s, "application/json", serde_json::to_vec(&items).unwrap()).await;
    assert_eq!(res.status, 201, "{}", res.text());
    assert_eq!(res.json()["created"], 10_000);
    assert_eq!(mapping_rows(&app), 10_000);
    assert_eq!(app.get(&format!("/api/v1/sites/{s}")).await.json()["revision"], res.json()["revision"]);
    // The same batch again: every item is now a duplicate, and nothing changes.
    let p = bulk(&app, s, "application/json", serde_json::to_vec(&items[..3]).unwrap())
        .await
        .problem(422, "duplicate-certificate");
    assert_eq!(p["errors"].as_array().unwrap().len(), 3);
    assert_eq!(mapping_rows(&app), 10_000);
}

#[actix_web::test]
async fn one_bad_item_refuses_the_whole_batch_naming_each_bad_index() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let s = app.site(json!({"name": "S"})).await["id"].as_i64().unwrap();
    let certs = ca.many(50, "u");
    let mut items: Vec<Value> = certs.iter().map(|c| json!({"certificate": c.pem, "user_name": "alice"})).collect();
    items[7] = json!({"certificate": "garbage", "user_name": "alice"});
    items[20]["user_name"] = json!("bad:name");
    items[33] = json!({"certificate": certs[2].pem, "user_name": "alice"});
    items[40] = json!({"certificate": certs[40].pem, "user_name": "alice", "extra": 1});
    let p =
        bulk(&app, s, "application/json", serde_json::to_vec(&items).unwrap()).await.problem(422, "validation-failed");
    let fields: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["[7].certificate", "[20].user_name", "[33].certificate", "[40].extra"]);
    assert_eq!(mapping_rows(&app), 0, "all or nothing");
    assert_eq!(app.get(&format!("/api/v1/sites/{s}")).await.json()["revision"], 1);
}

#[actix_web::test]
async fn ndjson_and_bad_bodies() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let s = app.site(json!({"name": "S"})).await["id"].as_i64().unwrap();
    let lines: String =
        ca.many(5, "n").iter().map(|c| json!({"certificate": c.pem, "user_name": "bob"}).to_string() + "\n").collect();
    let res = bulk(&app, s, "application/x-ndjson", lines.into_bytes()).await;
    assert_eq!(res.status, 201, "{}", res.text());
    assert_eq!(res.json()["created"], 5);
    // A broken line is one bad item, named by its index; the good lines are not written either.
    let mixed = format!(
        "{}\n{{not json\n\n{}\n",
        json!({"certificate": ca.client("m1").pem, "user_name": "m"}),
        json!({"certificate": ca.client("m2").pem, "user_name": "m"})
    );
    let p = bulk(&app, s, "application/x-ndjson", mixed.into_bytes()).await.problem(422, "malformed-json");
    assert_eq!(p["errors"][0]["field"], "[1]");
    bulk(&app, s, "application/json", b"[".to_vec()).await.problem(400, "malformed-json");
    bulk(&app, s, "application/json", b"{}".to_vec()).await.problem(422, "invalid-field");
    bulk(&app, s, "application/json", b"[]".to_vec()).await.problem(422, "empty-bulk");
    bulk(&app, s, "text/csv", b"a,b".to_vec()).await.problem(415, "unsupported-media-type");
    bulk(
        &app,
        999,
        "application/json",
        serde_json::to_vec(&[json!({"certificate": ca.client("z").pem, "user_name": "z"})]).unwrap(),
    )
    .await
    .problem(404, "not-found");
    assert_eq!(mapping_rows(&app), 5);
}

fn audit_events(app: &TestApp) -> i64 {
    app.sql(|c| {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM audit_events WHERE action = 'mapping.bulk_create')",
        ))
        .get_result(c)
        .unwrap()
    })
}

/// Rows are written while the body is still being read (a few thousand at a time): a refusal
/// late in the body, or a body cut off past its limit, must still leave nothing behind.
#[actix_web::test]
async fn a_refusal_after_thousands_of_streamed_rows_leaves_nothing_behind() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let s = app.site(json!({"name": "S"})).await["id"].as_i64().unwrap();
    let lines: Vec<String> = ca
        .many(5_000, "late")
        .iter()
        .map(|c| json!({"certificate": c.pem, "user_name": "alice"}).to_string() + "\n")
        .collect();
    let refused_last = format!("{}{}\n", lines.concat(), json!({"certificate": "garbage", "user_name": "alice"}));
    let p = bulk(&app, s, "application/x-ndjson", refused_last.into_bytes()).await.problem(422, "invalid-certificate");
    assert_eq!(p["errors"][0]["field"], "[5000].certificate");
    assert_eq!(p["errors"].as_array().unwrap().len(), 1);
    // A line past the limit ends the body with 413, after the rows before it were written.
    let too_long = format!("{}{{\"user_name\": \"{}\"}}\n", lines.concat(), "x".repeat(2 * 1024 * 1024));
    bulk(&app, s, "application/x-ndjson", too_long.into_bytes()).await.problem(413, "payload-too-large");
    assert_eq!(mapping_rows(&app), 0, "all or nothing");
    assert_eq!(audit_events(&app), 0);
    assert_eq!(app.get(&format!("/api/v1/sites/{s}")).await.json()["revision"], 1);
}

#[actix_web::test]
async fn a_certificate_the_site_maps_is_refused_by_its_index_deep_in_the_batch() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let s = app.site(json!({"name": "S"})).await["id"].as_i64().unwrap();
    let mut certs = ca.many(4_500, "deep");
    let mapped = app.mapping(s, json!({"certificate": certs[4_321].pem, "user_name": "alice"})).await;
    let other = app.site(json!({"name": "Other"})).await["id"].as_i64().unwrap();
    // The same certificate on another site is no duplicate.
    app.mapping(other, json!({"certificate": certs[10].pem, "user_name": "alice"})).await;
    let items: Vec<Value> = certs.drain(..).map(|c| json!({"certificate": c.pem, "user_name": "bob"})).collect();
    let p = bulk(&app, s, "application/json", serde_json::to_vec(&items).unwrap())
        .await
        .problem(422, "duplicate-certificate");
    let errors = p["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{p}");
    assert_eq!(errors[0]["field"], "[4321].certificate");
    assert!(errors[0]["message"].as_str().unwrap().contains(&format!("mapping {}", mapped["id"])), "{p}");
    assert_eq!(mapping_rows(&app), 2);
    assert_eq!(audit_events(&app), 0);
}

/// Passwords are sealed bound to their row's id (format v2), which COPY assigns: every streamed
/// row's password must decrypt where it belongs.
#[actix_web::test]
async fn passwords_of_streamed_rows_decrypt_on_their_own_rows() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let s = app.site(json!({"name": "S"})).await["id"].as_i64().unwrap();
    let certs = ca.many(4_100, "pw");
    let items: Vec<Value> = certs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut item = json!({"certificate": c.pem, "user_name": format!("CONTOSO\\u{i}")});
            if i % 3 == 0 {
                item["password"] = json!(format!("secret-{i:05}-x"));
            }
            item
        })
        .collect();
    let res = bulk(&app, s, "application/json", serde_json::to_vec(&items).unwrap()).await;
    assert_eq!(res.status, 201, "{}", res.text());
    assert_eq!(res.json()["created"], 4_100);
    assert_eq!(audit_events(&app), 1);
    let config = app.get(&format!("/api/v1/sites/{s}/config/iis?include_secrets=true")).await;
    assert_eq!(config.status, 200, "{}", config.text());
    let text = config.text();
    for i in (0..4_100).step_by(3) {
        assert!(text.contains(&format!("secret-{i:05}-x")), "the password of item {i}");
    }
    assert_eq!(text.matches("secret-").count(), 1_367);
}
