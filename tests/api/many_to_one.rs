use certmap_tests::certs::TestCa;
use certmap_tests::TestApp;
use rcgen::DnType;
use serde_json::{json, Value};

async fn site(app: &TestApp) -> i64 {
    app.site(json!({"name": "S", "certificate_mapping": {"enabled": true}})).await["id"].as_i64().unwrap()
}

fn rule(field: &str, sub: &str, criteria: &str) -> Value {
    json!({"certificate_field": field, "certificate_sub_field": sub, "match_criteria": criteria})
}

async fn resolve(app: &TestApp, s: i64, pem: &str) -> Value {
    let res = app.post(&format!("/api/v1/sites/{s}/resolve"), &json!({"certificate": pem})).await;
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()
}

#[actix_web::test]
async fn many_to_one_crud_validates_and_never_returns_the_password() {
    let app = TestApp::spawn().await;
    let s = site(&app).await;
    let base = format!("/api/v1/sites/{s}/many-to-one");
    let body = json!({"name": "Engineers", "user_name": "CONTOSO\\eng", "password": "Sekr1t!", "rules": [rule("subject", "OU", "Eng*")]});
    let res = app.post(&base, &body).await;
    assert_eq!(res.status, 201, "{}", res.text());
    let m = res.json();
    assert!(!res.text().contains("Sekr1t!"));
    assert_eq!(
        (m["permission_mode"].as_str(), m["has_password"].as_bool(), m["enabled"].as_bool()),
        (Some("allow"), Some(true), Some(true))
    );
    assert_eq!(m["rules"][0]["compare_case_sensitive"], true, "IIS default");
    let padded = app
        .post(&base, &json!({"name": "Padded", "user_name": "x", "rules": [rule("subject", "CN", "  alice  ")]}))
        .await
        .json();
    assert_eq!(padded["rules"][0]["match_criteria"], "alice", "stored as it is matched");

    app.post(&base, &json!({"name": "engineers", "user_name": "x", "rules": [rule("subject", "CN", "a")]}))
        .await
        .problem(409, "duplicate-mapping-name");
    app.post(&base, &json!({"name": "NoUser", "rules": [rule("subject", "CN", "a")]}))
        .await
        .problem(422, "user-name-required");
    app.post(&base, &json!({"name": "NoRules", "user_name": "x", "rules": []})).await.problem(422, "rules-required");
    let p = app.post(&base, &json!({"name": "Empty", "user_name": "x", "rules": [rule("subject", "CN", "ok"), rule("issuer", "O", " ")]})).await.problem(422, "invalid-match-criteria");
    assert_eq!(p["errors"][0]["field"], "rules[1].match_criteria");
    app.post(&base, &json!({"name": "BadField", "user_name": "x", "rules": [rule("subject", "SERIAL", "1")]}))
        .await
        .problem(422, "invalid-field");
    app.post(&base, &json!({"name": "BadField", "user_name": "x", "rules": [rule("extension", "CN", "1")]}))
        .await
        .problem(422, "invalid-field");
    app.post(&base, &json!({"name": " ", "user_name": "x", "rules": [rule("subject", "CN", "1")]}))
        .await
        .problem(422, "invalid-mapping-name");
    // A deny needs no account.
    let deny = app
        .post(
            &base,
            &json!({"name": "Blocked", "permission_mode": "deny", "rules": [rule("subject", "CN", "mallory")]}),
        )
        .await;
    assert_eq!(deny.status, 201, "{}", deny.text());

    let path = format!("{base}/{}", m["id"]);
    let res = app
        .patch(
            &path,
            &[("if-match", "\"1\"")],
            &json!({"rules": [rule("issuer", "CN", "Contoso*"), rule("subject", "O", "Contoso")], "password": null}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let u = res.json();
    assert_eq!(u["rules"].as_array().unwrap().len(), 2, "rules are replaced as a whole");
    assert_eq!(u["has_password"], false);
    app.patch(&path, &[("if-match", "\"1\"")], &json!({"enabled": false})).await.problem(412, "precondition-failed");
    app.patch(&path, &[], &json!({"user_name": null})).await.problem(422, "user-name-required");
    assert_eq!(app.get(&base).await.json()["items"].as_array().unwrap().len(), 3);
    assert_eq!(app.delete(&path, &[]).await.status, 204);
    app.get(&path).await.problem(404, "not-found");
}

#[actix_web::test]
async fn resolve_does_what_iis_would() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso Issuing CA");
    let s = site(&app).await;
    let now = time::OffsetDateTime::now_utc();
    let year = |cn: &str, extra: &[(DnType, &str)]| {
        ca.client_with(cn, extra, now - time::Duration::days(1), now + time::Duration::days(365))
    };
    let alice = year("alice", &[(DnType::OrganizationalUnitName, "Engineering")]);
    let bob = year("bob", &[(DnType::OrganizationalUnitName, "engineering")]);
    let mallory = year("mallory", &[(DnType::OrganizationalUnitName, "Engineering")]);
    let carol = year("carol", &[(DnType::OrganizationalUnitName, "Sales")]);

    let one = app.mapping(s, json!({"certificate": alice.pem, "user_name": "CONTOSO\\alice", "password": "pw"})).await;
    let m2o = format!("/api/v1/sites/{s}/many-to-one");
    let eng = app
        .post(
            &m2o,
            &json!({"name": "eng", "user_name": "CONTOSO\\engineering", "password": "pw",
            "rules": [rule("issuer", "CN", "Contoso*CA"), rule("subject", "OU", "Engineering")]}),
        )
        .await
        .json();
    app.post(
        &m2o,
        &json!({"name": "no mallory", "permission_mode": "deny", "rules": [rule("subject", "CN", "mallory")]}),
    )
    .await;

    // One-to-one first.
    let r = resolve(&app, s, &alice.pem).await;
    assert_eq!(
        (r["outcome"].as_str(), r["user_name"].as_str(), &r["mapping_id"]),
        (Some("one-to-one"), Some("CONTOSO\\alice"), &one["id"])
    );
    // Many-to-one, case-sensitive by default: bob's "engineering" does not match "Engineering".
    let r = resolve(&app, s, &bob.pem).await;
    assert_eq!((r["outcome"].as_str(), r["reason"].as_str()), (Some("no-mapping"), Some("no-match")));
    assert!(r["iis_symptom"].as_str().unwrap().contains("401.1"));
    app.patch(&format!("{m2o}/{}", eng["id"]), &[], &json!({"rules": [
        {"certificate_field": "subject", "certificate_sub_field": "OU", "match_criteria": "engineering", "compare_case_sensitive": false}
    ]}))
    .await;
    let r = resolve(&app, s, &bob.pem).await;
    assert_eq!(
        (r["outcome"].as_str(), r["user_name"].as_str(), r["many_to_one_name"].as_str()),
        (Some("many-to-one"), Some("CONTOSO\\engineering"), Some("eng"))
    );
    // A deny wins even though the allow matches too.
    let r = resolve(&app, s, &mallory.pem).await;
    assert_eq!((r["outcome"].as_str(), r["many_to_one_name"].as_str()), (Some("denied"), Some("no mallory")));
    assert!(r.get("user_name").is_none());
    assert_eq!(resolve(&app, s, &carol.pem).await["outcome"], "no-mapping");
    // Raw PEM works too, and a disabled site maps nobody.
    let raw = app
        .request(
            awc::http::Method::POST,
            &format!("/api/v1/sites/{s}/resolve"),
            &[("content-type", "application/x-pem-file")],
            Some(alice.pem.as_bytes()),
        )
        .await;
    assert_eq!(raw.json()["outcome"], "one-to-one");
    app.patch(&format!("/api/v1/sites/{s}"), &[], &json!({"certificate_mapping": {"enabled": false}})).await;
    assert_eq!(resolve(&app, s, &alice.pem).await["reason"], "mapping-disabled");
    app.post(&format!("/api/v1/sites/{s}/resolve"), &json!({"certificate": "nope"}))
        .await
        .problem(422, "invalid-certificate");
    app.post("/api/v1/sites/999/resolve", &json!({"certificate": alice.pem})).await.problem(404, "not-found");
}
