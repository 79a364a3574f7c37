use awc::http::Method;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use certmap::auth::Role;
use certmap_tests::{Options, TestApp};
use diesel::prelude::*;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn claims(extra: serde_json::Value) -> serde_json::Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut c = json!({"sub": "mallory", "role": "admin", "iss": "certmap", "aud": "certmap", "exp": now + 600, "nbf": now - 10, "iat": now, "jti": "x"});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

/// A token signed with the server's own HS256 secret but carrying any claims we like.
fn hs256(secret: &str, claims: &serde_json::Value) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

#[actix_web::test]
async fn nothing_but_health_and_docs_answers_without_a_token() {
    let app = TestApp::spawn().await;
    let none = [("authorization", "")];
    for path in ["/healthz", "/readyz", "/openapi.json", "/docs/"] {
        assert_eq!(app.request(awc::http::Method::GET, path, &none, None).await.status, 200, "{path}");
    }
    for path in
        ["/api/v1/sites", "/api/v1/sites/1", "/api/v1/sites/1/mappings", "/api/v1/audit", "/api/v1/certificates/00"]
    {
        let res = app.request(awc::http::Method::GET, path, &none, None).await;
        res.problem(401, "unauthorized");
        assert_eq!(res.header("www-authenticate"), Some("Bearer realm=\"certmap\""), "{path}");
    }
    app.request(
        awc::http::Method::POST,
        "/api/v1/sites",
        &[("authorization", ""), ("content-type", "application/json")],
        Some(b"{\"name\":\"x\"}"),
    )
    .await
    .problem(401, "unauthorized");
    assert_eq!(app.get("/api/v1/sites").await.json()["items"], json!([]), "the refused write changed nothing");
}

/// A valid token, but signed by another server's secret.
fn token_of_another_server() -> String {
    let config = certmap::auth::AuthConfig {
        secret: Some("another-server-secret-of-enough-length!".into()),
        ..Default::default()
    };
    let keys = certmap::auth::JwtKeys::load(&config, std::path::Path::new("/nonexistent")).unwrap();
    keys.issue("a", Role::Admin, None, time::Duration::hours(1))
}

#[actix_web::test]
async fn every_bad_token_is_a_401() {
    let app = TestApp::spawn().await;
    let secret_app_keys = &app.keys;
    let expired = secret_app_keys.issue("a", Role::Admin, None, time::Duration::minutes(-5));
    let other_server = token_of_another_server();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims(json!({})).to_string());
    let alg_none = format!("{header}.{body}.");
    let cases = [
        ("Bearer", "an empty bearer"),
        ("Basic YWxpY2U6cGFzcw==", "another scheme"),
        ("Bearer not-a-jwt", "garbage"),
        ("Bearer a.b.c", "three parts of nothing"),
    ];
    for (value, why) in cases {
        let p = app
            .request(awc::http::Method::GET, "/api/v1/sites", &[("authorization", value)], None)
            .await
            .problem(401, "unauthorized");
        assert!(p["detail"].is_string(), "{why}");
    }
    for (token, why) in [(expired, "expired"), (other_server, "signed by another secret"), (alg_none, "alg none")] {
        let p = app
            .request(awc::http::Method::GET, "/api/v1/sites", &[("authorization", &bearer(&token))], None)
            .await
            .problem(401, "unauthorized");
        assert!(p["detail"].is_string(), "{why}");
    }
}

/// The two 401s a new user meets first say what happened in their terms and what to do, never
/// the JWT library's words.
#[actix_web::test]
async fn a_token_from_another_server_or_garbage_says_what_to_do() {
    let app = TestApp::spawn().await;
    let other_server = token_of_another_server();
    let detail = |token: String| {
        let app = &app;
        async move {
            let res =
                app.request(awc::http::Method::GET, "/api/v1/sites", &[("authorization", &bearer(&token))], None).await;
            res.problem(401, "unauthorized")["detail"].as_str().unwrap().to_owned()
        }
    };
    let other = detail(other_server).await;
    assert!(other.contains("signed with a different secret than this server's"), "{other}");
    assert!(other.contains("certmap token issue") && other.contains("--data-dir"), "{other}");
    for garbage in ["not-a-jwt", "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.x", "%%%.%%%.%%%"] {
        let message = detail(garbage.to_owned()).await;
        assert!(message.contains("is not a certmap token") && message.contains("certmap token issue"), "{message}");
        for internal in ["JSON error", "InvalidToken", "malformed token", "Base64"] {
            assert!(!message.contains(internal), "{garbage}: {message}");
        }
    }
}

#[actix_web::test]
async fn claims_are_checked_not_trusted() {
    let app = TestApp::spawn().await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    // Extract the server's secret the way a test may: it minted the admin token with it.
    let secret = app.secret();
    let get = |token: String| {
        let app = &app;
        async move {
            app.request(awc::http::Method::GET, "/api/v1/sites", &[("authorization", &bearer(&token))], None)
                .await
                .status
        }
    };
    assert_eq!(get(hs256(&secret, &claims(json!({})))).await, 200, "the control case passes");
    assert_eq!(get(hs256(&secret, &claims(json!({"aud": "someone-else"})))).await, 401);
    assert_eq!(get(hs256(&secret, &claims(json!({"iss": "evil"})))).await, 401);
    assert_eq!(get(hs256(&secret, &claims(json!({"nbf": now + 3600})))).await, 401, "not yet valid");
    assert_eq!(get(hs256(&secret, &claims(json!({"exp": now - 3600})))).await, 401);
    assert_eq!(get(hs256(&secret, &claims(json!({"role": "root"})))).await, 401, "unknown role");
    assert_eq!(get(hs256(&secret, &claims(json!({"sub": ""})))).await, 401, "no subject");
    let mut no_exp = claims(json!({}));
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(get(hs256(&secret, &no_exp)).await, 401, "exp is required");
    // Within the clock-skew leeway an expired-by-seconds token still works.
    assert_eq!(get(hs256(&secret, &claims(json!({"exp": now - 5})))).await, 200);
}

#[actix_web::test]
async fn an_external_issuers_public_key_verifies_only_its_own_algorithm() {
    let dir = certmap_db::testdb::scratch_dir("issuer");
    std::fs::create_dir_all(&dir).unwrap();
    let key = rcgen::KeyPair::generate().unwrap(); // ECDSA P-256
    let public_pem = key.public_key_pem();
    let public_path = dir.join("issuer-1.pem");
    std::fs::write(&public_path, &public_pem).unwrap();
    let app = TestApp::spawn_options(Options {
        jwt_public_keys: Some(public_path.display().to_string()),
        ..Default::default()
    })
    .await;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("issuer-1".into());
    let es256 = encode(
        &header,
        &claims(json!({"role": "reader"})),
        &EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    let ok = app.request(awc::http::Method::GET, "/api/v1/sites", &[("authorization", &bearer(&es256))], None).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    // The classic confusion attack: HS256 "signed" with the public key as the HMAC secret.
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some("issuer-1".into());
    let forged = encode(&hs_header, &claims(json!({})), &EncodingKey::from_secret(public_pem.as_bytes())).unwrap();
    app.request(awc::http::Method::GET, "/api/v1/sites", &[("authorization", &bearer(&forged))], None)
        .await
        .problem(401, "unauthorized");
    let _ = std::fs::remove_dir_all(&dir);
}

#[actix_web::test]
async fn roles_allow_what_they_name() {
    let app = TestApp::spawn().await;
    let site = app.site(json!({"name": "S"})).await["id"].as_i64().unwrap();
    let as_role = |role: Role| bearer(&app.token(role, &[]));
    let (reader, editor, gateway) = (as_role(Role::Reader), as_role(Role::Editor), as_role(Role::Gateway));
    let get = |path: String, auth: String| {
        let app = &app;
        async move { app.request(awc::http::Method::GET, &path, &[("authorization", &auth)], None).await }
    };
    let post = |path: String, auth: String, body: serde_json::Value| {
        let app = &app;
        async move { app.send_json(awc::http::Method::POST, &path, &[("authorization", &auth)], &body).await }
    };
    assert_eq!(get(format!("/api/v1/sites/{site}"), reader.clone()).await.status, 200);
    post("/api/v1/sites".into(), reader.clone(), json!({"name": "R"})).await.problem(403, "forbidden");
    get(format!("/api/v1/sites/{site}"), gateway.clone()).await.problem(403, "forbidden");
    post("/api/v1/sites".into(), gateway.clone(), json!({"name": "G"})).await.problem(403, "forbidden");
    assert_eq!(post("/api/v1/sites".into(), editor.clone(), json!({"name": "E"})).await.status, 201);
    get("/api/v1/audit".into(), editor.clone()).await.problem(403, "forbidden");
    get("/api/v1/audit".into(), reader).await.problem(403, "forbidden");
    assert_eq!(app.get("/api/v1/audit").await.status, 200, "admin reads the audit log");
}

#[actix_web::test]
async fn a_site_scoped_token_sees_and_touches_only_its_sites() {
    let app = TestApp::spawn().await;
    let mine = app.site(json!({"name": "Mine"})).await["id"].as_i64().unwrap();
    let theirs = app.site(json!({"name": "Theirs"})).await["id"].as_i64().unwrap();
    let auth = bearer(&app.token(Role::Editor, &["mine"]));
    let h = [("authorization", auth.as_str())];
    let list = app.request(awc::http::Method::GET, "/api/v1/sites", &h, None).await.json();
    let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Mine"]);
    assert_eq!(
        app.request(awc::http::Method::GET, "/api/v1/sites?name=Theirs", &h, None).await.json()["items"],
        json!([])
    );
    // Reads outside: 404, as if it did not exist. Writes outside: 403.
    app.request(awc::http::Method::GET, &format!("/api/v1/sites/{theirs}"), &h, None).await.problem(404, "not-found");
    app.request(awc::http::Method::GET, &format!("/api/v1/sites/{theirs}/directories"), &h, None)
        .await
        .problem(404, "not-found");
    app.patch(&format!("/api/v1/sites/{theirs}"), &h, &json!({"hostnames": []})).await.problem(403, "forbidden");
    app.send_json(awc::http::Method::POST, &format!("/api/v1/sites/{theirs}/directories"), &h, &json!({"path": "/x"}))
        .await
        .problem(403, "forbidden");
    app.send_json(awc::http::Method::POST, "/api/v1/sites/999999/directories", &h, &json!({"path": "/x"}))
        .await
        .problem(403, "forbidden");
    app.send_json(awc::http::Method::POST, "/api/v1/sites", &h, &json!({"name": "Another"}))
        .await
        .problem(403, "forbidden");
    app.patch(&format!("/api/v1/sites/{mine}"), &h, &json!({"name": "Renamed away"})).await.problem(403, "forbidden");
    assert_eq!(
        app.patch(&format!("/api/v1/sites/{mine}"), &h, &json!({"hostnames": ["mine.example"]})).await.status,
        200
    );
    assert_eq!(
        app.send_json(
            awc::http::Method::POST,
            &format!("/api/v1/sites/{mine}/directories"),
            &h,
            &json!({"path": "/x"})
        )
        .await
        .status,
        201
    );
    // The other site was not touched.
    assert_eq!(app.get(&format!("/api/v1/sites/{theirs}")).await.json()["revision"], 1);
}

#[actix_web::test]
async fn every_write_is_audited_atomically_without_secrets() {
    let app = TestApp::spawn().await;
    let ca = certmap_tests::certs::TestCa::new("CA");
    let site = app.site(json!({"name": "S"})).await["id"].as_i64().unwrap();
    app.mapping(
        site,
        json!({"certificate": ca.client("alice").pem, "user_name": "alice", "password": "Sup3r-Secret!"}),
    )
    .await;
    app.patch(&format!("/api/v1/sites/{site}"), &[], &json!({"hostnames": ["a.example"]})).await;
    // Refused writes leave no trace.
    app.post(&format!("/api/v1/sites/{site}/directories"), &json!({"path": "/x", "client_certificates": "require"}))
        .await
        .problem(422, "validation-failed");
    app.post("/api/v1/sites", &json!({"name": "S"})).await.problem(409, "duplicate-site-name");
    let log = app.get(&format!("/api/v1/audit?site_id={site}")).await;
    assert!(!log.text().contains("Sup3r-Secret!"));
    let events = log.json()["items"].as_array().unwrap().clone();
    let actions: Vec<&str> = events.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["site.update", "mapping.create", "site.create"], "newest first");
    assert_eq!(events[0]["actor"], "token:test-admin");
    assert_eq!(events[0]["role"], "admin");
    assert_eq!(events[0]["before"]["hostnames"], json!([]));
    assert_eq!(events[0]["after"]["hostnames"], json!(["a.example"]));
    assert_eq!(events[1]["after"]["has_password"], true);
    assert_eq!(events[0]["remote_addr"], "127.0.0.1");
    app.get("/api/v1/audit?since=yesterday").await.problem(422, "invalid-since");
    let future = app.get("/api/v1/audit?since=2999-01-01T00:00:00Z").await.json();
    assert_eq!(future["items"], json!([]));
    // By actor, exactly as events name it (the console's audit filter).
    let editor = format!("Bearer {}", app.token(Role::Editor, &[]));
    let body = serde_json::to_vec(&json!({"hostnames": ["b.example"]})).unwrap();
    let headers = [("authorization", editor.as_str()), ("content-type", "application/json")];
    assert_eq!(app.request(Method::PATCH, &format!("/api/v1/sites/{site}"), &headers, Some(&body)).await.status, 200);
    let by_editor = app.get("/api/v1/audit?actor=token:test-editor").await.json();
    let by_editor: Vec<&str> =
        by_editor["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(by_editor, ["site.update"]);
    let by_admin = app.get(&format!("/api/v1/audit?actor=token:test-admin&site_id={site}")).await.json();
    assert_eq!(by_admin["items"].as_array().unwrap().len(), 3, "{by_admin:#}");
    assert_eq!(app.get("/api/v1/audit?actor=token:nobody").await.json()["items"], json!([]));
    // The table refuses edits, whoever connects.
    let changed = app.sql(|c| diesel::sql_query("UPDATE audit_events SET actor = 'nobody'").execute(c));
    assert!(changed.is_err());
    let deleted = app.sql(|c| diesel::sql_query("DELETE FROM audit_events").execute(c));
    assert!(deleted.is_err());
}

#[actix_web::test]
async fn writes_are_rate_limited_per_caller() {
    let app = TestApp::spawn_options(Options { writes_per_minute: 3, ..Default::default() }).await;
    for i in 0..3 {
        assert_eq!(app.post("/api/v1/sites", &json!({"name": format!("s{i}")})).await.status, 201);
    }
    let res = app.post("/api/v1/sites", &json!({"name": "s3"})).await;
    res.problem(429, "too-many-requests");
    assert_eq!(res.header("retry-after"), Some("5"));
    // Reads are not limited, and another caller has a budget of its own.
    assert_eq!(app.get("/api/v1/sites").await.status, 200);
    let other = bearer(&app.token(Role::Editor, &[]));
    assert_eq!(
        app.send_json(awc::http::Method::POST, "/api/v1/sites", &[("authorization", &other)], &json!({"name": "s4"}))
            .await
            .status,
        201
    );
}

#[actix_web::test]
async fn answers_are_never_cached_or_sniffed() {
    let app = TestApp::spawn().await;
    let res = app.get("/api/v1/sites").await;
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    let docs = app.get("/docs/").await;
    assert_eq!(docs.header("x-frame-options"), Some("DENY"));
    assert!(docs.header("content-security-policy").unwrap().contains("default-src 'self'"));
    assert!(res.header("server").is_none(), "no server banner");
}

/// What browsers obey when they show an answer rides on every answer with a body; a success or a
/// 304 without one shows nothing and carries only `Cache-Control` (gateways ask for those by the
/// ten thousand a second, and the browser headers were most of their bytes).
#[actix_web::test]
async fn answers_without_a_body_carry_no_browser_headers() {
    let app = TestApp::spawn().await;
    let site = app.site(json!({"name": "Default Web Site", "certificate_mapping": {"enabled": true}})).await["id"]
        .as_i64()
        .unwrap();
    let gateway = format!("Bearer {}", app.token(Role::Gateway, &[]));
    let ask = |uri: &'static str| {
        let gateway = gateway.clone();
        let app = &app;
        async move {
            let headers =
                [("authorization", gateway.as_str()), ("x-certmap-site", "Default Web Site"), ("x-original-uri", uri)];
            app.request(Method::GET, "/api/v1/authorize", &headers, None).await
        }
    };
    let browser = ["x-content-type-options", "x-frame-options", "referrer-policy", "content-security-policy"];
    let pass = ask("/page").await;
    assert_eq!(pass.status, 200, "{}", pass.text());
    assert_eq!(pass.header("cache-control"), Some("no-store"));
    for name in browser {
        assert_eq!(pass.header(name), None, "{name} on an empty 200");
    }
    let refused = ask("/a/../b").await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(refused.header("cache-control"), Some("no-store"));
    for name in browser {
        assert!(refused.header(name).is_some(), "{name} missing on a problem answer");
    }
    let full = app.get(&format!("/api/v1/sites/{site}/snapshot")).await;
    assert_eq!(full.status, 200);
    assert!(full.header("content-security-policy").is_some());
    let tag = full.header("etag").unwrap().to_owned();
    let unchanged = app
        .request(Method::GET, &format!("/api/v1/sites/{site}/snapshot"), &[("if-none-match", tag.as_str())], None)
        .await;
    assert_eq!(unchanged.status, 304);
    assert_eq!(unchanged.header("cache-control"), Some("no-store"));
    assert_eq!(unchanged.header("content-security-policy"), None);
}

#[actix_web::test]
async fn a_site_scoped_admin_reads_only_its_sites_audit_events() {
    let app = TestApp::spawn().await;
    let mine = app.site(json!({"name": "Mine"})).await["id"].as_i64().unwrap();
    let theirs = app.site(json!({"name": "Theirs"})).await["id"].as_i64().unwrap();
    app.secured_directory(theirs, "/secure").await;
    let auth = bearer(&app.token(Role::Admin, &["MINE"]));
    let h = [("authorization", auth.as_str())];
    let read = |path: String| {
        let app = &app;
        async move { app.request(awc::http::Method::GET, &path, &h, None).await.json() }
    };
    let sites_of = |page: &serde_json::Value| -> Vec<i64> {
        page["items"].as_array().unwrap().iter().map(|e| e["site_id"].as_i64().unwrap_or(-1)).collect()
    };
    let everything = read("/api/v1/audit".into()).await;
    assert_eq!(sites_of(&everything), [mine], "only Mine's creation: {everything:#}");
    assert_eq!(read(format!("/api/v1/audit?site_id={theirs}")).await["items"], json!([]));
    assert_eq!(sites_of(&read(format!("/api/v1/audit?site_id={mine}")).await), [mine]);
    // An unlimited admin still sees both.
    let all = app.get("/api/v1/audit").await.json();
    assert!(sites_of(&all).contains(&theirs), "{all:#}");
}
