use awc::http::Method;
use certmap::auth::Role;
use certmap_tests::certs::TestCa;
use certmap_tests::TestApp;
use serde_json::json;

#[actix_web::test]
async fn gateways_get_what_is_valid_now_and_a_304_when_nothing_changed() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let site = app.site(json!({"name": "Default Web Site", "certificate_mapping": {"enabled": true}})).await["id"]
        .as_i64()
        .unwrap();
    app.secured_directory(site, "/secure").await;
    let alice = app.mapping(site, json!({"certificate": ca.client("alice").pem, "user_name": "CONTOSO\\alice", "password": "never-in-a-snapshot"})).await;
    let bob = app
        .mapping(site, json!({"certificate": ca.client("bob").pem, "user_name": "CONTOSO\\bob", "enabled": false}))
        .await;
    let old = app
        .mapping(
            site,
            json!({"certificate": ca.expired("old").pem, "user_name": "CONTOSO\\old", "allow_expired": true}),
        )
        .await;
    let past = (time::OffsetDateTime::now_utc() - time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let retired = app
        .mapping(
            site,
            json!({"certificate": ca.client("retired").pem, "user_name": "CONTOSO\\retired", "expires_at": past}),
        )
        .await;
    app.post(
        &format!("/api/v1/sites/{site}/many-to-one"),
        &json!({"name": "staff", "user_name": "CONTOSO\\staff",
        "rules": [{"certificate_field": "subject", "certificate_sub_field": "O", "match_criteria": "Contoso"}]}),
    )
    .await;

    let gateway = format!("Bearer {}", app.token(Role::Gateway, &[]));
    let res =
        app.request(Method::GET, &format!("/api/v1/sites/{site}/snapshot"), &[("authorization", &gateway)], None).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let snap = res.json();
    assert!(!res.text().contains("never-in-a-snapshot") && !res.text().contains("password"), "no secrets: {snap}");
    let ids: Vec<i64> = snap["one_to_one"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(
        ids,
        [alice["id"].as_i64().unwrap()],
        "disabled {bob}, expired {old} and retired {retired} mappings are left out"
    );
    assert_eq!(snap["one_to_one"][0]["sha1"], alice["sha1"]);
    assert_eq!(snap["directories"][0]["ssl_flags"], "Ssl, SslNegotiateCert, SslRequireCert");
    assert_eq!(snap["many_to_one"][0]["name"], "staff");
    let tag = res.header("etag").unwrap().to_owned();
    // Same state, same bytes, and a 304 for a client that has them.
    let again =
        app.request(Method::GET, &format!("/api/v1/sites/{site}/snapshot"), &[("authorization", &gateway)], None).await;
    assert_eq!(again.body, res.body);
    let not_modified = app
        .request(
            Method::GET,
            &format!("/api/v1/sites/{site}/snapshot"),
            &[("authorization", &gateway), ("if-none-match", &tag)],
            None,
        )
        .await;
    assert_eq!((not_modified.status, not_modified.body.len()), (304, 0));
    app.patch(&format!("/api/v1/sites/{site}/mappings/{}", bob["id"]), &[], &json!({"enabled": true})).await;
    let changed = app
        .request(
            Method::GET,
            &format!("/api/v1/sites/{site}/snapshot"),
            &[("authorization", &gateway), ("if-none-match", &tag)],
            None,
        )
        .await;
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag"), Some(tag.as_str()));
    assert_eq!(changed.json()["one_to_one"].as_array().unwrap().len(), 2);
    // A retired mapping is rendered nowhere either.
    let nginx = app.get(&format!("/api/v1/sites/{site}/config/nginx")).await.text();
    assert!(nginx.contains(alice["sha1"].as_str().unwrap()));
    assert!(!nginx.contains(retired["sha1"].as_str().unwrap()), "{nginx}");
    // Scoped tokens see only their sites.
    let other = format!("Bearer {}", app.token(Role::Gateway, &["Elsewhere"]));
    app.request(Method::GET, &format!("/api/v1/sites/{site}/snapshot"), &[("authorization", &other)], None)
        .await
        .problem(404, "not-found");
}
