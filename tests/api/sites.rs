use awc::http::Method;
use certmap::auth::Role;
use certmap_tests::TestApp;
use serde_json::json;

#[actix_web::test]
async fn create_answers_201_with_location_etag_and_iis_defaults() {
    let app = TestApp::spawn().await;
    let res = app.post("/api/v1/sites", &json!({"name": "Default Web Site", "hostnames": ["WWW.Contoso.com"]})).await;
    assert_eq!(res.status, 201, "{}", res.text());
    let site = res.json();
    let id = site["id"].as_i64().unwrap();
    assert_eq!(res.header("location"), Some(format!("/api/v1/sites/{id}").as_str()));
    assert_eq!(res.header("etag"), Some("\"1\""));
    assert_eq!(site["name"], "Default Web Site");
    assert_eq!(site["hostnames"], json!(["www.contoso.com"]));
    assert_eq!(
        site["certificate_mapping"],
        json!({"enabled": false, "one_to_one_enabled": true, "many_to_one_enabled": true, "logon_method": "ClearText", "default_logon_domain": "",
            "revocation": {"check": "crl", "when_unknown": "deny"}})
    );
    assert_eq!(site["revision"], 1);

    let got = app.get(&format!("/api/v1/sites/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("etag"), Some("\"1\""));
    assert_eq!(got.json(), site);
}

#[actix_web::test]
async fn names_are_unique_case_insensitively() {
    let app = TestApp::spawn().await;
    app.site(json!({"name": "Contoso"})).await;
    let p = app.post("/api/v1/sites", &json!({"name": "CONTOSO"})).await.problem(409, "duplicate-site-name");
    assert_eq!(p["errors"][0]["field"], "name");
    assert_eq!(app.get("/api/v1/sites").await.json()["items"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn nested_settings_must_be_objects_not_arrays_of_their_fields() {
    let app = TestApp::spawn().await;
    let site = app.site(json!({"name": "Contoso"})).await;
    let id = site["id"].as_i64().unwrap();
    for body in [
        json!({"certificate_mapping": {"enabled": true, "revocation": [null, null]}}),
        json!({"certificate_mapping": [true, null, null, null, null, null]}),
        json!([null, null, null]),
    ] {
        app.patch(&format!("/api/v1/sites/{id}"), &[], &body).await.problem(422, "invalid-field");
    }
    // Inside a nested object a bad field still names its whole path.
    let bad = json!({"certificate_mapping": {"revocation": {"check": "sometimes"}}});
    let p = app.patch(&format!("/api/v1/sites/{id}"), &[], &bad).await.problem(422, "invalid-field");
    assert_eq!(p["errors"][0]["field"], "certificate_mapping.revocation.check", "{p}");
    assert_eq!(app.get(&format!("/api/v1/sites/{id}")).await.json(), site);
}

#[actix_web::test]
async fn find_by_name_ignores_case() {
    let app = TestApp::spawn().await;
    let site = app.site(json!({"name": "Default Web Site"})).await;
    app.site(json!({"name": "Other"})).await;
    let res = app.get("/api/v1/sites?name=default%20web%20SITE").await.json();
    assert_eq!(res["items"], json!([site]));
    assert_eq!(app.get("/api/v1/sites?name=missing").await.json()["items"], json!([]));
}

#[actix_web::test]
async fn every_bad_input_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!({"name": ""}), "invalid-site-name", "name"),
        (json!({"name": " padded"}), "invalid-site-name", "name"),
        (json!({"name": "a/b"}), "invalid-site-name", "name"),
        (json!({"name": "a?b"}), "invalid-site-name", "name"),
        // <location path="."> is IIS's server level, not a site.
        (json!({"name": "."}), "invalid-site-name", "name"),
        (json!({"name": ".."}), "invalid-site-name", "name"),
        (json!({"name": "x".repeat(256)}), "invalid-site-name", "name"),
        (json!({"name": "ok", "hostnames": ["good.com", "bad host"]}), "invalid-hostname", "hostnames[1]"),
        (json!({"name": "ok", "hostnames": ["a.com", "A.com"]}), "duplicate-hostname", "hostnames[1]"),
        (
            json!({"name": "ok", "certificate_mapping": {"logon_method": "Kerberos"}}),
            "invalid-field",
            "certificate_mapping.logon_method",
        ),
        (
            json!({"name": "ok", "certificate_mapping": {"default_logon_domain": "A B"}}),
            "invalid-logon-domain",
            "certificate_mapping.default_logon_domain",
        ),
        (
            json!({"name": "ok", "certificate_mapping": {"enabled": "yes"}}),
            "invalid-field",
            "certificate_mapping.enabled",
        ),
        (json!({"name": "ok", "colour": "blue"}), "unknown-field", "colour"),
        (json!({"name": 7}), "invalid-field", "name"),
        (json!({}), "invalid-field", ""),
        (json!([1, 2]), "invalid-field", ""),
    ];
    for (body, code, field) in cases {
        let p = app.post("/api/v1/sites", &body).await.problem(422, code);
        assert_eq!(p["errors"][0]["field"], field, "{body}: {p:#}");
    }
    assert_eq!(app.get("/api/v1/sites").await.json()["items"], json!([]));
}

#[actix_web::test]
async fn several_mistakes_are_reported_together() {
    let app = TestApp::spawn().await;
    let p =
        app.post("/api/v1/sites", &json!({"name": "a/b", "hostnames": ["-x"]})).await.problem(422, "validation-failed");
    let fields: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["name", "hostnames[0]"]);
}

#[actix_web::test]
async fn unreadable_bodies_are_400_413_415_never_500() {
    let app = TestApp::spawn().await;
    let json_ct = [("content-type", "application/json")];
    let post = |headers: &'static [(&'static str, &'static str)], body: Vec<u8>| {
        let app = &app;
        async move { app.request(awc::http::Method::POST, "/api/v1/sites", headers, Some(&body)).await }
    };
    post(&[("content-type", "application/json")], b"{\"name\": ".to_vec()).await.problem(400, "malformed-json");
    post(&[("content-type", "application/json")], b"{\"name\": \"a\"} trailing".to_vec())
        .await
        .problem(400, "malformed-json");
    post(&[("content-type", "text/plain")], b"{\"name\": \"a\"}".to_vec()).await.problem(415, "unsupported-media-type");
    post(&[], b"{\"name\": \"a\"}".to_vec()).await.problem(415, "unsupported-media-type");
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(300 * 1024));
    app.request(awc::http::Method::POST, "/api/v1/sites", &json_ct, Some(huge.as_bytes()))
        .await
        .problem(413, "payload-too-large");
    assert_eq!(app.get("/api/v1/sites").await.json()["items"], json!([]));
}

#[actix_web::test]
async fn bad_ids_and_unknown_routes_are_404_problems() {
    let app = TestApp::spawn().await;
    app.get("/api/v1/sites/abc").await.problem(404, "not-found");
    app.get("/api/v1/sites/99999999999999999999999").await.problem(404, "not-found");
    app.get("/api/v1/sites/42").await.problem(404, "not-found");
    app.get("/api/v1/nothing-here").await.problem(404, "not-found");
    app.patch("/api/v1/sites/42", &[], &json!({"name": "x"})).await.problem(404, "not-found");
    app.delete("/api/v1/sites/42", &[]).await.problem(404, "not-found");
}

#[actix_web::test]
async fn pagination_walks_every_site_once_in_order() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.site(json!({"name": format!("site {i}")})).await["id"].as_i64().unwrap());
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/sites?limit=2".to_owned();
    loop {
        let page = app.get(&path).await.json();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|s| s["id"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/sites?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    app.get("/api/v1/sites?limit=0").await.problem(422, "invalid-limit");
    app.get("/api/v1/sites?limit=501").await.problem(422, "invalid-limit");
    app.get("/api/v1/sites?limit=ten").await.problem(422, "invalid-query");
    app.get("/api/v1/sites?cursor=zzz").await.problem(422, "invalid-cursor");
}

#[actix_web::test]
async fn patch_merges_and_honours_if_match() {
    let app = TestApp::spawn().await;
    let site = app.site(json!({"name": "Contoso", "hostnames": ["a.com"]})).await;
    let path = format!("/api/v1/sites/{}", site["id"]);

    let res = app
        .patch(
            &path,
            &[("if-match", "\"1\"")],
            &json!({"certificate_mapping": {"enabled": true, "logon_method": "Network"}}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let updated = res.json();
    assert_eq!(res.header("etag"), Some("\"2\""));
    assert_eq!(updated["certificate_mapping"]["enabled"], true);
    assert_eq!(updated["certificate_mapping"]["logon_method"], "Network");
    assert_eq!(updated["certificate_mapping"]["one_to_one_enabled"], true, "untouched fields keep their value");
    assert_eq!(updated["hostnames"], json!(["a.com"]));

    // A second admin still holding ETag "1" must not overwrite the change.
    let p =
        app.patch(&path, &[("if-match", "\"1\"")], &json!({"name": "Stale"})).await.problem(412, "precondition-failed");
    assert!(p["detail"].as_str().unwrap().contains("\"2\""));
    app.delete(&path, &[("if-match", "\"1\"")]).await.problem(412, "precondition-failed");
    assert_eq!(app.get(&path).await.json()["name"], "Contoso");

    assert_eq!(app.patch(&path, &[("if-match", "*")], &json!({"name": "Renamed"})).await.status, 200);
    assert_eq!(app.patch(&path, &[("if-match", "\"9\", \"3\"")], &json!({"hostnames": []})).await.status, 200);
    app.patch(&path, &[], &json!({"name": "bad/name"})).await.problem(422, "invalid-site-name");
    app.patch(&path, &[], &json!({"revision": 7})).await.problem(422, "unknown-field");
    let now = app.get(&path).await.json();
    assert_eq!((now["name"].as_str(), now["revision"].as_i64()), (Some("Renamed"), Some(4)));
}

#[actix_web::test]
async fn rename_onto_an_existing_name_conflicts() {
    let app = TestApp::spawn().await;
    app.site(json!({"name": "One"})).await;
    let two = app.site(json!({"name": "Two"})).await;
    app.patch(&format!("/api/v1/sites/{}", two["id"]), &[], &json!({"name": "one"}))
        .await
        .problem(409, "duplicate-site-name");
}

#[actix_web::test]
async fn delete_removes_the_site_and_everything_under_it() {
    let app = TestApp::spawn().await;
    let site = app.site(json!({"name": "Gone"})).await;
    let id = site["id"].as_i64().unwrap();
    let dir = app.secured_directory(id, "/secure").await;
    let res = app.delete(&format!("/api/v1/sites/{id}"), &[("if-match", "\"2\"")]).await;
    assert_eq!(res.status, 204, "{}", res.text());
    app.get(&format!("/api/v1/sites/{id}")).await.problem(404, "not-found");
    app.get(&format!("/api/v1/sites/{id}/directories/{}", dir["id"])).await.problem(404, "not-found");
    // The name is free again.
    app.site(json!({"name": "Gone"})).await;
}

#[actix_web::test]
async fn site_names_with_xml_and_unicode_round_trip() {
    let app = TestApp::spawn().await;
    for name in ["Contoso & <Partners> \"Intranet\"", "Société Générale", "a;b{c}$d"] {
        let site = app.site(json!({"name": name})).await;
        assert_eq!(app.get(&format!("/api/v1/sites/{}", site["id"])).await.json()["name"], name);
    }
}

/// Names compare one way in SQL and in Rust, so a scope check and a lookup never disagree.
#[actix_web::test]
async fn names_fold_one_way_in_sql_and_in_rust() {
    let app = TestApp::spawn().await;
    let kontoso = app.site(json!({"name": "Kontoso"})).await["id"].as_i64().unwrap();
    let istanbul = app.site(json!({"name": "İstanbul"})).await["id"].as_i64().unwrap();
    // The Kelvin sign lowercases to an ASCII k in Unicode: a token for "Kontoso" (Kelvin) is not
    // a token for "Kontoso".
    let kelvin = format!("Bearer {}", app.token(Role::Admin, &["\u{212A}ontoso"]));
    let h = [("authorization", kelvin.as_str())];
    app.request(Method::GET, &format!("/api/v1/sites/{kontoso}"), &h, None).await.problem(404, "not-found");
    assert_eq!(app.request(Method::GET, "/api/v1/sites", &h, None).await.json()["items"], json!([]));
    // A token for "İSTANBUL" sees "İstanbul" both by id and in the list.
    let upper = format!("Bearer {}", app.token(Role::Reader, &["İSTANBUL"]));
    let h = [("authorization", upper.as_str())];
    assert_eq!(app.request(Method::GET, &format!("/api/v1/sites/{istanbul}"), &h, None).await.status, 200);
    let list = app.request(Method::GET, "/api/v1/sites", &h, None).await.json();
    assert_eq!(list["items"][0]["id"], istanbul, "{list:#}");
    // The database's fold is Rust's, letter for letter.
    let samples = ["Kontoso", "\u{212A}elvin", "İstanbul", "ſecure", "STRASSE", "Straße", "ΣΊΣΥΦΟΣ", "ＡＢＣ", "Ǆ"];
    for s in samples {
        let folded: String = app.sql(move |c| {
            use diesel::prelude::*;
            diesel::select(
                diesel::dsl::sql::<diesel::sql_types::Text>("certmap_fold(")
                    .bind::<diesel::sql_types::Text, _>(s)
                    .sql(")"),
            )
            .get_result(c)
            .unwrap()
        });
        assert_eq!(folded, certmap::domain::names::fold(s), "{s}");
    }
    // Uniqueness follows the same rule.
    app.post("/api/v1/sites", &json!({"name": "KONTOSO"})).await.problem(409, "duplicate-site-name");
    assert_eq!(app.post("/api/v1/sites", &json!({"name": "\u{212A}ontoso"})).await.status, 201);
}
