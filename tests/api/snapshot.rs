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

#[actix_web::test]
async fn a_document_let_go_past_the_memory_budget_is_built_again_byte_for_byte() {
    // A budget of one byte: each document asked for pushes the one before off the shelf.
    let app = TestApp::spawn_options(certmap_tests::Options { snapshot_cache_bytes: 1, ..Default::default() }).await;
    let ca = TestCa::new("Contoso CA");
    let mut sites = Vec::new();
    for name in ["one", "two"] {
        let site =
            app.site(json!({"name": name, "certificate_mapping": {"enabled": true}})).await["id"].as_i64().unwrap();
        app.secured_directory(site, "/").await;
        app.mapping(site, json!({"certificate": ca.client(name).pem, "user_name": format!("CONTOSO\\{name}")})).await;
        sites.push(site);
    }
    let gateway = format!("Bearer {}", app.token(Role::Gateway, &[]));
    let get = |site: i64, extra: Option<(&'static str, String)>| {
        let (app, gateway) = (&app, gateway.clone());
        async move {
            let mut headers = vec![("authorization", gateway)];
            headers.extend(extra);
            let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.request(Method::GET, &format!("/api/v1/sites/{site}/snapshot"), &headers, None).await
        }
    };
    let first = get(sites[0], None).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let tag = first.header("etag").unwrap().to_owned();
    let gzipped = get(sites[0], Some(("accept-encoding", "gzip".into()))).await;
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    assert_eq!(get(sites[1], None).await.status, 200);
    let shelf = app.metric("certmap_snapshot_documents_bytes").await;
    assert!(shelf > 0.0 && shelf < (first.body.len() + gzipped.body.len()) as f64 * 2.0, "one document kept: {shelf}");

    let again = get(sites[0], None).await;
    assert_eq!((again.header("etag"), &again.body), (Some(tag.as_str()), &first.body), "built again, the same");
    let unchanged = get(sites[1], None).await.header("etag").unwrap().to_owned();
    let not_modified = get(sites[0], Some(("if-none-match", tag.clone()))).await;
    assert_eq!((not_modified.status, not_modified.body.len()), (304, 0), "a 304 needs only the tag kept");
    let all = app.request(Method::GET, "/api/v1/snapshot", &[("authorization", &gateway)], None).await;
    assert_eq!(all.status, 200, "{}", all.text());
    assert_eq!(all.json()["sites"][0], first.json());
    assert_eq!(all.json()["sites"][1], get(sites[1], None).await.json());
    assert_eq!(get(sites[1], None).await.header("etag"), Some(unchanged.as_str()));
}
