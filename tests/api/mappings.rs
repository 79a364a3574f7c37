use awc::http::Method;
use certmap_tests::certs::TestCa;
use certmap_tests::TestApp;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bytea, Nullable};
use serde_json::{json, Value};

async fn site(app: &TestApp, name: &str) -> i64 {
    app.site(json!({"name": name, "certificate_mapping": {"enabled": true}})).await["id"].as_i64().unwrap()
}

async fn count(app: &TestApp, site: i64) -> usize {
    app.get(&format!("/api/v1/sites/{site}/mappings?limit=500")).await.json()["items"].as_array().unwrap().len()
}

#[actix_web::test]
async fn a_pem_with_line_breaks_becomes_a_one_line_iis_mapping() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let alice = ca.client("alice");
    let s = site(&app, "Default Web Site").await;
    let res = app
        .post(&format!("/api/v1/sites/{s}/mappings"), &json!({"certificate": alice.pem, "user_name": "CONTOSO\\alice", "password": "P@ss w0rd!", "description": "smart card"}))
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let m = res.json();
    assert_eq!(res.header("location"), Some(format!("/api/v1/sites/{s}/mappings/{}", m["id"]).as_str()));
    assert_eq!(m["certificate"], alice.iis_form());
    assert!(!m["certificate"].as_str().unwrap().contains(char::is_whitespace));
    assert_eq!(m["user_name"], "CONTOSO\\alice");
    assert_eq!(m["has_password"], true);
    assert_eq!(m["enabled"], true);
    assert_eq!(m["expired"], false);
    // RFC 2253 order as nginx's $ssl_client_s_dn and `openssl x509 -nameopt RFC2253` print it.
    assert_eq!(m["subject"], "O=Contoso,CN=alice");
    assert_eq!(m["issuer"], "O=Contoso,CN=Contoso CA");
    assert_eq!(m["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(m["sha1"].as_str().unwrap().len(), 40);
    assert_eq!(m["key_type"], "EC P-256");
    assert!(m.get("password").is_none());
    assert!(!res.text().contains("P@ss w0rd!"));
    let got = app.get(&format!("/api/v1/sites/{s}/mappings/{}", m["id"])).await;
    assert_eq!(got.header("etag"), Some("\"1\""));
    assert!(!got.text().contains("P@ss w0rd!"));
    // The site's revision moved.
    assert_eq!(app.get(&format!("/api/v1/sites/{s}")).await.json()["revision"], 2);
}

/// A PEM pasted into a JSON string with its line breaks left raw is malformed JSON: the refusal
/// says how to send it instead, and nothing is stored.
#[actix_web::test]
async fn a_pem_pasted_raw_into_json_is_refused_with_the_two_ways_that_work() {
    let app = TestApp::spawn().await;
    let alice = TestCa::new("Contoso CA").client("alice");
    let s = site(&app, "Default Web Site").await;
    let body = format!("{{\"certificate\": \"{}\", \"user_name\": \"CONTOSO\\\\alice\"}}", alice.pem);
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/sites/{s}/mappings"),
            &[("content-type", "application/json")],
            Some(body.as_bytes()),
        )
        .await;
    let p = res.problem(400, "malformed-json");
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("control character"), "{detail}");
    assert!(detail.contains(r"\n") && detail.contains("Content-Type: application/x-pem-file"), "{detail}");
    assert_eq!(count(&app, s).await, 0);
}

#[actix_web::test]
async fn every_form_a_user_has_is_accepted() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let s = site(&app, "S").await;
    let one_line = ca.client("one-line");
    let wrapped = ca.client("wrapped");
    let spaced = ca.client("spaced");
    let crlf = ca.client("crlf");
    let wrapped_text: String =
        wrapped.iis_form().as_bytes().chunks(76).map(|c| String::from_utf8_lossy(c).into_owned() + "\n").collect();
    let spaced_text: String =
        spaced.iis_form().as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned() + " \t").collect();
    for (cert, text) in [
        (&one_line, one_line.iis_form()),
        (&wrapped, wrapped_text),
        (&spaced, spaced_text),
        (&crlf, crlf.pem.replace('\n', "\r\n")),
    ] {
        let m = app.mapping(s, json!({"certificate": text, "user_name": "alice"})).await;
        assert_eq!(m["certificate"], cert.iis_form());
    }
    // Raw DER, as `curl --data-binary @alice.cer -H 'Content-Type: application/pkix-cert'`.
    let der = ca.client("der");
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/sites/{s}/mappings?user_name=CONTOSO%5Cder"),
            &[("content-type", "application/pkix-cert")],
            Some(&der.der),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    assert_eq!(res.json()["certificate"], der.iis_form());
    assert_eq!(res.json()["has_password"], false);
    // PEM with the password in a header, as the README's curl does.
    let pem = ca.client("pem");
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/sites/{s}/mappings?user_name=CONTOSO%5Cpem&description=from%20curl"),
            &[("content-type", "application/x-pem-file"), ("x-certmap-password", "hunter2")],
            Some(pem.pem.as_bytes()),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let m = res.json();
    assert_eq!(
        (m["user_name"].as_str(), m["has_password"].as_bool(), m["description"].as_str()),
        (Some("CONTOSO\\pem"), Some(true), Some("from curl"))
    );
    // Two PEM blocks: the first is used, and the answer says so.
    let (first, second) = (ca.client("first"), ca.client("second"));
    let m = app.mapping(s, json!({"certificate": format!("{}{}", first.pem, second.pem), "user_name": "alice"})).await;
    assert_eq!(m["certificate"], first.iis_form());
    assert!(m["warnings"][0].as_str().unwrap().contains("2 certificates"), "{m:#}");
}

#[actix_web::test]
async fn every_wrong_thing_a_user_might_paste_gets_a_precise_422_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let s = site(&app, "S").await;
    let alice = ca.client("alice");
    let csr = {
        let key = rcgen::KeyPair::generate().unwrap();
        rcgen::CertificateParams::new(vec!["alice.contoso.com".into()])
            .unwrap()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap()
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"certificate": "", "user_name": "alice"}), "certificate-empty", "certificate"),
        (json!({"certificate": "not a certificate!", "user_name": "alice"}), "invalid-certificate", "certificate"),
        (json!({"certificate": "QUJDRA==", "user_name": "alice"}), "invalid-certificate", "certificate"),
        (json!({"certificate": alice.key_pem, "user_name": "alice"}), "certificate-is-private-key", "certificate"),
        (
            json!({"certificate": format!("{}{}", alice.pem, alice.key_pem), "user_name": "alice"}),
            "certificate-is-private-key",
            "certificate",
        ),
        (json!({"certificate": csr, "user_name": "alice"}), "certificate-is-csr", "certificate"),
        (json!({"certificate": "x".repeat(70 * 1024), "user_name": "alice"}), "certificate-too-large", "certificate"),
        (json!({"certificate": ca.expired("old").pem, "user_name": "alice"}), "certificate-expired", "certificate"),
        (json!({"certificate": ca.cert.pem, "user_name": "alice"}), "certificate-is-ca", "certificate"),
        (json!({"certificate": alice.pem, "user_name": "CONTOSO\\"}), "invalid-user-name", "user_name"),
        (json!({"certificate": alice.pem, "user_name": "a:b"}), "invalid-user-name", "user_name"),
        (json!({"certificate": alice.pem, "user_name": "alice", "password": ""}), "invalid-password", "password"),
        (
            json!({"certificate": alice.pem, "user_name": "alice", "password": "a\u{0}b"}),
            "invalid-password",
            "password",
        ),
        (
            json!({"certificate": alice.pem, "user_name": "alice", "expires_at": "2999-01-01T00:00:00Z"}),
            "expires-after-certificate",
            "expires_at",
        ),
        (
            json!({"certificate": alice.pem, "user_name": "alice", "expires_at": "soon"}),
            "invalid-expires-at",
            "expires_at",
        ),
        (json!({"certificate": alice.pem, "user_name": "alice", "colour": "red"}), "unknown-field", "colour"),
        (json!({"certificate": alice.pem}), "invalid-field", ""),
    ];
    for (body, code, field) in cases {
        let p = app.post(&format!("/api/v1/sites/{s}/mappings"), &body).await.problem(422, code);
        assert_eq!(p["errors"][0]["field"], field, "{code}: {p:#}");
        let text = p.to_string();
        assert!(!text.contains("BEGIN PRIVATE KEY") && !text.contains("a\\u0000b"), "nothing secret echoed: {text}");
    }
    let p = app
        .post(&format!("/api/v1/sites/{s}/mappings"), &json!({"certificate": "!!", "user_name": "alice"}))
        .await
        .problem(422, "invalid-certificate");
    assert!(p["iis_symptom"].as_str().unwrap().contains("0x80093102"));
    let p = app
        .post(
            &format!("/api/v1/sites/{s}/mappings"),
            &json!({"certificate": ca.expired("x").pem, "user_name": "alice"}),
        )
        .await
        .problem(422, "certificate-expired");
    assert!(p["iis_symptom"].as_str().unwrap().contains("403.17"));
    // A raw body without user_name.
    app.request(
        Method::POST,
        &format!("/api/v1/sites/{s}/mappings"),
        &[("content-type", "application/x-pem-file")],
        Some(alice.pem.as_bytes()),
    )
    .await
    .problem(422, "missing-field");
    app.request(Method::POST, &format!("/api/v1/sites/{s}/mappings"), &[("content-type", "image/png")], Some(b"x"))
        .await
        .problem(415, "unsupported-media-type");
    assert_eq!(count(&app, s).await, 0);
    assert_eq!(app.get(&format!("/api/v1/sites/{s}")).await.json()["revision"], 1);
    app.post("/api/v1/sites/999/mappings", &json!({"certificate": alice.pem, "user_name": "alice"}))
        .await
        .problem(404, "not-found");
}

#[actix_web::test]
async fn expired_certificates_only_with_allow_expired_and_flagged() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let s = site(&app, "S").await;
    let m = app
        .mapping(s, json!({"certificate": ca.expired("old").pem, "user_name": "alice", "allow_expired": true}))
        .await;
    assert_eq!((m["expired"].as_bool(), m["allow_expired"].as_bool()), (Some(true), Some(true)));
}

#[actix_web::test]
async fn a_certificate_maps_once_per_site_but_may_map_on_several_sites() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let (a, b) = (site(&app, "A").await, site(&app, "B").await);
    let alice = ca.client("alice");
    let first = app.mapping(a, json!({"certificate": alice.pem, "user_name": "CONTOSO\\alice"})).await;
    let p = app
        .post(
            &format!("/api/v1/sites/{a}/mappings"),
            &json!({"certificate": alice.iis_form(), "user_name": "CONTOSO\\other"}),
        )
        .await
        .problem(409, "duplicate-certificate");
    assert!(
        p["detail"].as_str().unwrap().contains(&format!("mapping {}", first["id"])),
        "names the existing mapping: {p:#}"
    );
    assert_eq!(p["errors"][0]["field"], "certificate");
    let second = app.mapping(b, json!({"certificate": alice.pem, "user_name": "CONTOSO\\alice"})).await;
    let across = app.get(&format!("/api/v1/certificates/{}", first["sha256"].as_str().unwrap())).await;
    assert_eq!(across.status, 200);
    let ids: Vec<i64> =
        across.json()["mappings"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [first["id"].as_i64().unwrap(), second["id"].as_i64().unwrap()]);
    // Upper case and colons are fine too.
    let upper = first["sha256"].as_str().unwrap().to_uppercase();
    assert_eq!(app.get(&format!("/api/v1/certificates/{upper}")).await.status, 200);
    app.get(&format!("/api/v1/certificates/{}", "0".repeat(64))).await.problem(404, "not-found");
    app.get("/api/v1/certificates/zzz").await.problem(404, "not-found");
}

#[actix_web::test]
async fn many_certificates_may_map_to_one_user() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let s = site(&app, "S").await;
    for name in ["laptop", "phone", "smartcard"] {
        app.mapping(s, json!({"certificate": ca.client(name).pem, "user_name": "CONTOSO\\alice"})).await;
    }
    app.mapping(s, json!({"certificate": ca.client("bob").pem, "user_name": "CONTOSO\\bob"})).await;
    let page = app.get(&format!("/api/v1/sites/{s}/mappings?user_name=contoso%5Calice")).await.json();
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
}

#[actix_web::test]
async fn filters_by_fingerprint_expiry_and_enabled() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let s = site(&app, "S").await;
    let now = time::OffsetDateTime::now_utc();
    let soon = ca.client_with("soon", &[], now - time::Duration::days(1), now + time::Duration::days(10));
    let later = app.mapping(s, json!({"certificate": ca.client("later").pem, "user_name": "later"})).await;
    let soon = app.mapping(s, json!({"certificate": soon.pem, "user_name": "soon", "enabled": false})).await;
    let ids = |v: Value| v["items"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect::<Vec<_>>();
    let colon_sha1: String = later["sha1"]
        .as_str()
        .unwrap()
        .to_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":");
    assert_eq!(
        ids(app.get(&format!("/api/v1/sites/{s}/mappings?fingerprint={colon_sha1}")).await.json()),
        [later["id"].as_i64().unwrap()]
    );
    assert_eq!(
        ids(app
            .get(&format!("/api/v1/sites/{s}/mappings?fingerprint={}", soon["sha256"].as_str().unwrap()))
            .await
            .json()),
        [soon["id"].as_i64().unwrap()]
    );
    assert_eq!(
        ids(app.get(&format!("/api/v1/sites/{s}/mappings?expiring_within=30d")).await.json()),
        [soon["id"].as_i64().unwrap()]
    );
    assert_eq!(
        ids(app.get(&format!("/api/v1/sites/{s}/mappings?enabled=false")).await.json()),
        [soon["id"].as_i64().unwrap()]
    );
    app.get(&format!("/api/v1/sites/{s}/mappings?expiring_within=soon")).await.problem(422, "invalid-duration");
    app.get(&format!("/api/v1/sites/{s}/mappings?fingerprint=abc")).await.problem(422, "invalid-fingerprint");
    app.get(&format!("/api/v1/sites/{s}/mappings?enabled=maybe")).await.problem(422, "invalid-query");
    // Inputs that once reached PostgreSQL (a NUL) or split a character in two are refused first.
    app.get(&format!("/api/v1/sites/{s}/mappings?expiring_within=1%C3%A9")).await.problem(422, "invalid-duration");
    app.get(&format!("/api/v1/sites/{s}/mappings?user_name=a%00b")).await.problem(422, "invalid-user-name");
    app.get("/api/v1/sites?name=%00").await.problem(422, "invalid-site-name");
}

#[derive(QueryableByName)]
struct Stored {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Nullable<Bytea>)]
    password_enc: Option<Vec<u8>>,
}

#[actix_web::test]
async fn passwords_are_ciphertext_in_the_column_and_never_returned() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let s = site(&app, "S").await;
    let secret = "Correct-Horse-Battery-Staple-42";
    let m =
        app.mapping(s, json!({"certificate": ca.client("alice").pem, "user_name": "alice", "password": secret})).await;
    let rows: Vec<Stored> = app.sql(|c| diesel::sql_query("SELECT id, password_enc FROM mappings").load(c).unwrap());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id, m["id"].as_i64().unwrap());
    let blob = rows[0].password_enc.clone().expect("stored");
    assert!(!blob.windows(secret.len()).any(|w| w == secret.as_bytes()), "the column holds no clear text");
    assert!(blob.len() > secret.len(), "nonce and tag are stored with the ciphertext");
    for path in [
        format!("/api/v1/sites/{s}/mappings"),
        format!("/api/v1/sites/{s}/mappings/{}", m["id"]),
        format!("/api/v1/certificates/{}", m["sha256"].as_str().unwrap()),
    ] {
        assert!(!app.get(&path).await.text().contains(secret), "{path}");
    }
}

/// Issue 17 item 10: a ciphertext copied to another row (a database restore gone wrong, or
/// someone with write access to the table but not the key) must not give that row the password.
#[actix_web::test]
async fn a_password_moved_to_another_row_is_refused_and_lengths_do_not_show() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let s = site(&app, "S").await;
    let (short, long) = ("abc", "alice-has-20-chars!!");
    let a = app.mapping(s, json!({"certificate": ca.client("alice").pem, "user_name": "alice", "password": long})).await;
    let b = app.mapping(s, json!({"certificate": ca.client("bob").pem, "user_name": "bob", "password": short})).await;
    let rows: Vec<Stored> =
        app.sql(|c| diesel::sql_query("SELECT id, password_enc FROM mappings ORDER BY id").load(c).unwrap());
    let (blob_a, blob_b) = (rows[0].password_enc.clone().unwrap(), rows[1].password_enc.clone().unwrap());
    assert_eq!(blob_a.len(), blob_b.len(), "3 and 20 characters give ciphertexts of one length");
    let config = format!("/api/v1/sites/{s}/config/iis?include_secrets=true");
    assert!(app.get(&config).await.text().contains(long), "both decrypt where they belong");

    let (from, to) = (a["id"].as_i64().unwrap(), b["id"].as_i64().unwrap());
    app.sql(move |c| {
        let sql = format!("UPDATE mappings SET password_enc = (SELECT password_enc FROM mappings WHERE id = {from}) WHERE id = {to}");
        diesel::sql_query(sql).execute(c).unwrap()
    });
    let moved = app.get(&config).await;
    assert_eq!(moved.status, 500, "a blob that is not this row's is corrupt storage: {}", moved.text());
    assert!(!moved.text().contains(long) && !moved.text().contains(short), "{}", moved.text());
}

#[actix_web::test]
async fn patch_changes_what_may_change_and_keeps_the_certificate() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let s = site(&app, "S").await;
    let m = app
        .mapping(
            s,
            json!({"certificate": ca.client("alice").pem, "user_name": "alice", "password": "pw", "description": "d"}),
        )
        .await;
    let path = format!("/api/v1/sites/{s}/mappings/{}", m["id"]);
    let res = app
        .patch(
            &path,
            &[("if-match", "\"1\"")],
            &json!({"enabled": false, "password": null, "description": null, "user_name": "CONTOSO\\alice"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let u = res.json();
    assert_eq!(
        (u["enabled"].as_bool(), u["has_password"].as_bool(), u["user_name"].as_str()),
        (Some(false), Some(false), Some("CONTOSO\\alice"))
    );
    assert!(u["description"].is_null());
    assert_eq!(u["certificate"], m["certificate"]);
    app.patch(&path, &[("if-match", "\"1\"")], &json!({"enabled": true})).await.problem(412, "precondition-failed");
    let p = app
        .patch(&path, &[], &json!({"certificate": ca.client("renewed").pem}))
        .await
        .problem(422, "certificate-immutable");
    assert!(p["detail"].as_str().unwrap().contains("new mapping"));
    // Never a 412 that would invite a retry: no ETag makes a new certificate acceptable.
    app.patch(&path, &[("if-match", "\"1\"")], &json!({"certificate": {}})).await.problem(422, "certificate-immutable");
    app.patch(&path, &[], &json!({"user_name": ""})).await.problem(422, "invalid-user-name");
    app.patch(&path, &[], &json!({"expires_at": "2999-01-01T00:00:00Z"}))
        .await
        .problem(422, "expires-after-certificate");
    assert_eq!(app.get(&path).await.json()["revision"], 2, "refused patches changed nothing");
    assert_eq!(app.patch(&path, &[], &json!({"password": "new"})).await.json()["has_password"], true);
    assert_eq!(app.delete(&path, &[("if-match", "\"3\"")]).await.status, 204);
    app.get(&path).await.problem(404, "not-found");
    assert_eq!(count(&app, s).await, 0);
}

#[actix_web::test]
async fn passwords_travel_only_where_they_belong() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let s = site(&app, "S").await;
    let pem = ca.client("alice").pem;
    let raw = |query: &str, headers: Vec<(&'static str, Vec<u8>)>| {
        let app = &app;
        let pem = pem.clone();
        let path = format!("/api/v1/sites/{s}/mappings?{query}");
        async move {
            let mut req =
                app.client.post(app.url(&path)).insert_header(("authorization", format!("Bearer {}", app.admin_token)));
            for (k, v) in headers {
                req = req.insert_header((k, awc::http::header::HeaderValue::from_bytes(&v).unwrap()));
            }
            let mut res = req.send_body(pem).await.unwrap();
            let body = res.body().await.unwrap().to_vec();
            certmap_tests::Response { status: res.status().as_u16(), headers: res.headers().clone(), body }
        }
    };
    let pem_type = ("content-type", b"application/x-pem-file".to_vec());
    let p = raw("user_name=alice&password=hunter2", vec![pem_type.clone()]).await.problem(422, "password-in-url");
    assert!(!p.to_string().contains("hunter2"));
    raw("user_name=alice", vec![pem_type.clone(), ("x-certmap-password", b"p\xe4ss".to_vec())])
        .await
        .problem(422, "invalid-password");
    let res =
        raw("user_name=alice", vec![pem_type.clone(), ("x-certmap-password", "pässwörd".as_bytes().to_vec())]).await;
    assert_eq!(res.status, 201, "{}", res.text());
    let json_with_header = app
        .request(
            Method::POST,
            &format!("/api/v1/sites/{s}/mappings"),
            &[("content-type", "application/json"), ("x-certmap-password", "x")],
            Some(b"{}"),
        )
        .await;
    json_with_header.problem(422, "password-header-with-json");
    // A secret sent in the wrong field is not echoed back in the error.
    let p = app
        .post(
            &format!("/api/v1/sites/{s}/mappings"),
            &json!({"certificate": "x", "user_name": "a", "enabled": "-----BEGIN PRIVATE KEY-----MIIEv"}),
        )
        .await
        .problem(422, "invalid-field");
    assert!(!p.to_string().contains("PRIVATE KEY"), "{p}");
    assert_eq!(count(&app, s).await, 1);
}
