//! Revocation: CRLs uploaded to one replica refuse a revoked certificate on every replica, leave
//! it out of snapshots and rendered config, and bad CRLs change nothing.

use std::time::{Duration, Instant};

use awc::http::Method;
use certmap::auth::Role;
use certmap::config::DatabaseSource;
use certmap::domain::client_identity::ClientIdentity;
use certmap_db::testdb;
use certmap_tests::certs::{TestCa, TestCert};
use certmap_tests::{Response, TestApp};
use serde_json::{json, Value};
use time::OffsetDateTime;

/// A site trusting `ca`, a secured `/secure`, and alice and bob mapped; returns the site id.
pub(super) async fn site_with(app: &TestApp, ca: &TestCa, alice: &TestCert, bob: &TestCert) -> i64 {
    let site = app.site(json!({"name": "Default Web Site", "certificate_mapping": {"enabled": true}})).await["id"]
        .as_i64()
        .unwrap();
    let put = app
        .request(
            Method::PUT,
            &format!("/api/v1/sites/{site}/trusted-cas"),
            &[("content-type", "application/x-pem-file")],
            Some(ca.cert.pem.as_bytes()),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text());
    app.secured_directory(site, "/secure").await;
    app.mapping(site, json!({"certificate": alice.pem, "user_name": "CONTOSO\\alice"})).await;
    app.mapping(site, json!({"certificate": bob.pem, "user_name": "CONTOSO\\bob"})).await;
    site
}

pub(super) async fn upload(app: &TestApp, media: &str, body: &[u8]) -> Response {
    app.request(Method::POST, "/api/v1/crls", &[("content-type", media)], Some(body)).await
}

/// Authorize as a gateway sending the certificate, checked against a gateway sending only its
/// SHA-256: the two reach revocation by different paths (the presented certificate's issuer and
/// serial looked up in the CRLs; the stored mapping's listing, worked out once per load of the
/// CRLs) and must answer alike.
pub(super) async fn authorize(app: &TestApp, cert: &TestCert) -> Response {
    let pem =
        cert.pem.replace('\n', "%0A").replace('+', "%2B").replace('/', "%2F").replace('=', "%3D").replace(' ', "%20");
    let sha256 = cert.sha256();
    let ask = |token: String, header: &'static str, value: String| async move {
        let gateway = format!("Bearer {token}");
        let headers = [
            ("authorization", gateway.as_str()),
            ("x-certmap-site", "Default Web Site"),
            ("x-original-uri", "/secure/page"),
            (header, value.as_str()),
        ];
        app.request(Method::GET, "/api/v1/authorize", &headers, None).await
    };
    let fingerprint = app.token_declaring(Role::Gateway, ClientIdentity::Fingerprint);
    let answer = |r: &Response| {
        let code = (r.status != 200).then(|| r.json()["code"].clone());
        (r.status, code, [r.header("x-certmap-user"), r.header("x-certmap-revocation")].map(|h| h.map(str::to_owned)))
    };
    let mut last = None;
    // A change may be heard between the two requests: asked again, both agree.
    for _ in 0..50 {
        let by_certificate = ask(app.token(Role::Gateway, &[]), "x-ssl-client-cert", pem.clone()).await;
        let by_fingerprint = ask(fingerprint.clone(), "x-ssl-client-sha256", sha256.clone()).await;
        if answer(&by_certificate) == answer(&by_fingerprint) {
            return by_certificate;
        }
        last = Some((answer(&by_certificate), answer(&by_fingerprint)));
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("by certificate and by fingerprint authorize answer differently: {last:?}");
}

/// Polls until authorize answers `status` for `cert` (a replica hears the change within its
/// announcement's delay), at most 10 s.
pub(super) async fn until_authorize(app: &TestApp, cert: &TestCert, status: u16) -> Response {
    let started = Instant::now();
    loop {
        let res = authorize(app, cert).await;
        if res.status == status || started.elapsed() > Duration::from_secs(10) {
            return res;
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

fn snapshot_users(snapshot: &Value) -> Vec<String> {
    snapshot["one_to_one"].as_array().unwrap().iter().map(|m| m["user_name"].as_str().unwrap().to_owned()).collect()
}

#[actix_web::test]
async fn an_uploaded_crl_refuses_bob_on_every_replica_and_leaves_alice_alone() {
    let db = actix_web::rt::task::spawn_blocking(|| testdb::server().create_database()).await.unwrap();
    let a = TestApp::spawn_on(DatabaseSource::Url(db.url().to_owned())).await;
    let b = TestApp::spawn_on(DatabaseSource::Url(db.url().to_owned())).await;
    let ca = TestCa::new("Contoso CA");
    let (alice, bob) = (ca.client("alice"), ca.client("bob"));
    let site = site_with(&a, &ca, &alice, &bob).await;
    for app in [&a, &b] {
        assert_eq!(authorize(app, &bob).await.status, 200, "no CRL held: bob is not checked yet");
    }
    let snapshot_path = format!("/api/v1/sites/{site}/snapshot");
    let before = b.get(&snapshot_path).await;
    let (tag_before, revision) = (before.header("etag").unwrap().to_owned(), before.json()["revision"].clone());
    let nginx_path = format!("/api/v1/sites/{site}/config/nginx");
    let nginx_tag_before = a.get(&nginx_path).await.header("etag").unwrap().to_owned();
    let mappings_before = a.get(&format!("/api/v1/sites/{site}/mappings")).await.json();
    assert_eq!(mappings_before["items"][1]["revocation"]["status"], "not_checked");

    let uploaded = upload(&a, "application/pkix-crl", &ca.crl(1, OffsetDateTime::now_utc(), &[&bob])).await;
    assert_eq!(uploaded.status, 200, "{}", uploaded.text());
    assert_eq!(uploaded.json()["crls"][0]["entries"], 1);

    for app in [&a, &b] {
        let refused = until_authorize(app, &bob, 403).await;
        let problem = refused.problem(403, "certificate-revoked");
        assert!(problem["detail"].as_str().unwrap().contains("keyCompromise"), "{problem}");
        let ok = authorize(app, &alice).await;
        assert_eq!(ok.status, 200, "{}", ok.text());
        assert_eq!(ok.header("x-certmap-user"), Some("CONTOSO\\alice"));
    }

    // The snapshot drops bob and its ETag moves, with no site revision.
    let after = b.get(&snapshot_path).await;
    assert_ne!(after.header("etag").unwrap(), tag_before);
    assert_eq!(after.json()["revision"], revision);
    assert_eq!(snapshot_users(&after.json()), ["CONTOSO\\alice"]);
    // So does the rendered nginx map.
    let nginx = a.get(&nginx_path).await;
    assert_ne!(nginx.header("etag").unwrap(), nginx_tag_before);
    let text = nginx.text();
    assert!(text.contains("CONTOSO\\\\alice") || text.contains("CONTOSO\\alice"), "{text}");
    assert!(!text.contains("bob"), "bob is rendered nowhere:\n{text}");

    // Resolve and the mappings API say revoked, with the facts.
    let resolved = a.post(&format!("/api/v1/sites/{site}/resolve"), &json!({"certificate": bob.pem})).await.json();
    assert_eq!(resolved["outcome"], "revoked", "{resolved}");
    assert_eq!(resolved["revocation"]["reason"], "keyCompromise");
    let revoked = a.get(&format!("/api/v1/sites/{site}/mappings?revocation=revoked")).await.json();
    let items = revoked["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{revoked}");
    assert_eq!(items[0]["user_name"], "CONTOSO\\bob");
    assert_eq!(items[0]["revocation"]["status"], "revoked");
    assert_eq!(items[0]["revocation"]["source"], "upload");
    let lint = a.get(&format!("/api/v1/sites/{site}/lint")).await.json();
    let revoked_finding = lint["findings"].as_array().unwrap().iter().find(|f| f["code"] == "certificate-revoked");
    assert_eq!(revoked_finding.unwrap()["mapping_id"], items[0]["id"], "{lint}");
    let all = a.get(&format!("/api/v1/sites/{site}/mappings")).await.json();
    assert_eq!(all["items"][0]["revocation"]["status"], "good");

    // Listed per issuer; the upload is audited.
    let listed = b.get("/api/v1/crls").await.json();

    let trusted = a.get(&format!("/api/v1/sites/{site}/trusted-cas")).await.json();
    assert_eq!(listed["crls"][0]["ca_sha256"], trusted["certificates"][0]["sha256"]);
    assert_eq!(listed["crls"][0]["issuer"], trusted["certificates"][0]["subject"]);
    assert_eq!(listed["crls"][0]["crl_number"], "1");
    assert_eq!(listed["crls"][0]["source"], "upload");
    let metrics = b.get("/metrics").await.text();
    assert!(metrics.contains("certmap_mapped_revoked_certificates{site=\"Default Web Site\"} 1"), "{metrics}");
    assert!(metrics.contains("certmap_crl_age_seconds{issuer="), "{metrics}");
    let audit = a.get("/api/v1/audit").await.json();
    assert!(audit["items"].as_array().unwrap().iter().any(|e| e["action"] == "crl.upload"), "{audit}");
}

#[actix_web::test]
async fn every_bad_crl_is_refused_fast_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let (alice, bob) = (ca.client("alice"), ca.client("bob"));
    site_with(&app, &ca, &alice, &bob).await;
    let now = OffsetDateTime::now_utc();
    let held = upload(&app, "application/x-pem-file", ca.crl_pem(5, now, &[]).as_bytes()).await;
    assert_eq!(held.status, 200, "{}", held.text());
    let state = |app: &TestApp| {
        app.sql(|conn| {
            use diesel::RunQueryDsl;
            #[derive(diesel::QueryableByName, PartialEq, Debug)]
            struct Count {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                n: i64,
            }
            let mut count = |sql: &str| diesel::sql_query(sql).get_result::<Count>(conn).unwrap().n;
            (
                count("SELECT count(*) AS n FROM crls"),
                count("SELECT count(*) AS n FROM crl_entries"),
                count("SELECT count(*) AS n FROM audit_events"),
                count("SELECT coalesce(max(id), 0) AS n FROM crls"),
            )
        })
    };
    let unchanged = state(&app);

    let stranger = TestCa::new("Fabrikam CA");
    let impostor = TestCa::new("Contoso CA");
    let mut bomb = Vec::new();
    for _ in 0..50_000 {
        bomb.extend_from_slice(&[0x30, 0x80]);
    }
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        ("garbage", "application/pkix-crl", b"\x30garbage".to_vec(), 422, "invalid-crl"),
        ("text", "text/plain", b"hello".to_vec(), 422, "invalid-crl"),
        ("certificate", "application/pkix-crl", ca.cert.der.clone(), 422, "invalid-crl"),
        ("certificate PEM", "application/x-pem-file", ca.cert.pem.clone().into_bytes(), 422, "invalid-crl"),
        ("private key", "application/x-pem-file", alice.key_pem.clone().into_bytes(), 422, "invalid-crl"),
        ("unknown CA", "application/pkix-crl", stranger.crl(9, now, &[&bob]), 422, "crl-issuer-unknown"),
        ("another key", "application/pkix-crl", impostor.crl(9, now, &[&bob]), 422, "crl-signature-invalid"),
        ("older", "application/pkix-crl", ca.crl(4, now, &[&bob]), 422, "crl-older-than-current"),
        (
            "future",
            "application/pkix-crl",
            ca.crl(9, now + time::Duration::hours(2), &[&bob]),
            422,
            "crl-not-yet-valid",
        ),
        ("ASN.1 bomb", "application/pkix-crl", bomb, 422, "invalid-crl"),
        ("JSON", "application/json", b"{}".to_vec(), 415, "unsupported-media-type"),
        ("too large", "application/pkix-crl", vec![0x30; 21 * 1024 * 1024], 413, "payload-too-large"),
    ];
    for (what, media, body, status, code) in cases {
        let started = Instant::now();
        let res = upload(&app, media, &body).await;
        let problem = res.problem(status, code);
        assert!(started.elapsed() < Duration::from_secs(2), "{what} took {:?}", started.elapsed());
        let key_line = alice.key_pem.lines().nth(1).unwrap();
        assert!(!problem.to_string().contains(key_line), "{what} echoes no key: {problem}");
        assert_eq!(state(&app), unchanged, "{what} changed nothing");
    }
    // One bad CRL among good ones refuses the whole request.
    let mixed = format!("{}{}", ca.crl_pem(6, now, &[&bob]), stranger.crl_pem(1, now, &[]));
    upload(&app, "application/x-pem-file", mixed.as_bytes()).await.problem(422, "crl-issuer-unknown");
    assert_eq!(state(&app), unchanged);
    // Only admins upload.
    let editor = format!("Bearer {}", app.token(Role::Editor, &[]));
    let res = app
        .request(
            Method::POST,
            "/api/v1/crls",
            &[("authorization", editor.as_str()), ("content-type", "application/pkix-crl")],
            Some(&ca.crl(7, now, &[])),
        )
        .await;
    assert_eq!(res.status, 403, "{}", res.text());
    assert_eq!(state(&app), unchanged);
}

#[actix_web::test]
async fn a_100_mb_body_is_refused_before_it_is_read() {
    let app = TestApp::spawn().await;
    let started = Instant::now();
    let client = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
    let body = futures_util::stream::iter(
        (0..100).map(|_| Ok::<_, std::io::Error>(actix_web::web::Bytes::from(vec![0x30u8; 1024 * 1024]))),
    );
    let res = client
        .post(app.url("/api/v1/crls"))
        .insert_header(("authorization", format!("Bearer {}", app.token(Role::Admin, &[]))))
        .insert_header(("content-type", "application/pkix-crl"))
        .insert_header(("content-length", (100 * 1024 * 1024).to_string()))
        .send_stream(body)
        .await;
    // The server answers 413 at once; it may close the connection before the client finishes
    // sending, which the client reports as an error. Either way it took no time.
    if let Ok(res) = res {
        assert_eq!(res.status().as_u16(), 413);
    }
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[actix_web::test]
async fn the_site_policy_decides_what_unknown_means() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let (alice, bob) = (ca.client("alice"), ca.client("bob"));
    let site = site_with(&app, &ca, &alice, &bob).await;
    let site_path = format!("/api/v1/sites/{site}");
    assert_eq!(
        app.get(&site_path).await.json()["certificate_mapping"]["revocation"],
        json!({"check": "crl", "when_unknown": "deny"})
    );
    let unknown_check =
        app.patch(&site_path, &[], &json!({"certificate_mapping": {"revocation": {"check": "sometimes"}}})).await;
    unknown_check.problem(422, "invalid-field");

    // A CRL past its nextUpdate: alice's status is unknown.
    let stale = ca.crl(1, OffsetDateTime::now_utc() - time::Duration::days(8), &[&bob]);
    assert_eq!(upload(&app, "application/pkix-crl", &stale).await.status, 200);
    until_authorize(&app, &alice, 403).await.problem(403, "revocation-unknown");
    let lint = app.get(&format!("/api/v1/sites/{site}/lint")).await.json();
    assert!(lint["findings"].as_array().unwrap().iter().any(|f| f["code"] == "crl-expired"), "{lint}");
    let allow =
        app.patch(&site_path, &[], &json!({"certificate_mapping": {"revocation": {"when_unknown": "allow"}}})).await;
    assert_eq!(allow.status, 200, "{}", allow.text());
    let passed = until_authorize(&app, &alice, 200).await;
    assert_eq!(passed.header("x-certmap-revocation"), Some("unknown"));
    assert_eq!(passed.header("x-certmap-user"), Some("CONTOSO\\alice"));
    // Revoked stays revoked however old the CRL.
    authorize(&app, &bob).await.problem(403, "certificate-revoked");
    // Off: certmap checks nothing.
    app.patch(&site_path, &[], &json!({"certificate_mapping": {"revocation": {"check": "off"}}})).await;
    assert_eq!(until_authorize(&app, &bob, 200).await.status, 200);
    let audit = app.get("/api/v1/audit").await.json();
    let changes = audit["items"].as_array().unwrap().iter().filter(|e| e["action"] == "site.update").count();
    assert_eq!(changes, 2, "each policy change is audited");
}

/// The README's revocation example, exactly as a reader pastes it, against a live server.
#[actix_web::test]
async fn the_readme_revocation_example_works_when_pasted() {
    const README: &str = include_str!("../../README.md");
    let start = README.find("<!-- revocation:start -->").expect("README has a revocation example");
    let block = &README[start..];
    let body = &block[block.find("```sh\n").expect("a sh block") + 6..];
    let script = body[..body.find("```").expect("closed")].to_owned();
    let app = TestApp::spawn().await;
    let dir = testdb::scratch_dir("readme-revocation");
    std::fs::create_dir_all(&dir).unwrap();
    let (api, token, run_dir) = (app.url("/api/v1"), app.admin_token.clone(), dir.clone());
    let out = actix_web::rt::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .env("API", api)
            .env("TOKEN", token)
            .current_dir(run_dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the example failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.contains(&"200") && lines.contains(&"403"), "bob passes, then is refused:\n{stdout}");
    assert!(lines.contains(&"certificate-revoked"), "{stdout}");
    assert!(stdout.contains("\"status\":\"revoked\"") && stdout.contains("keyCompromise"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A distribution point on 127.0.0.1 serving whatever `body` holds, with `content_type`.
fn distribution_point(body: std::sync::Arc<std::sync::Mutex<(&'static str, Vec<u8>)>>) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/ca.crl", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let (content_type, bytes) = body.lock().unwrap().clone();
            let mut stream = reader.into_inner();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                bytes.len()
            );
            let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&bytes));
        }
    });
    url
}

#[actix_web::test]
async fn a_crl_published_at_the_distribution_point_reaches_every_replica() {
    let db = actix_web::rt::task::spawn_blocking(|| testdb::server().create_database()).await.unwrap();
    let options = || certmap_tests::Options { crl_refresh: Duration::from_secs(1), ..Default::default() };
    let a = TestApp::spawn_with(DatabaseSource::Url(db.url().to_owned()), options()).await;
    let b = TestApp::spawn_with(DatabaseSource::Url(db.url().to_owned()), options()).await;
    let ca = TestCa::new("Contoso CA");
    let served =
        std::sync::Arc::new(std::sync::Mutex::new(("application/pkix-crl", ca.crl(1, OffsetDateTime::now_utc(), &[]))));
    let url = distribution_point(served.clone());
    let (alice, bob) = (ca.client_with_crl_url("alice", &url), ca.client_with_crl_url("bob", &url));
    site_with(&a, &ca, &alice, &bob).await;
    let fetched = || async {
        let listed = b.get("/api/v1/crls").await.json();
        listed["crls"].as_array().unwrap().iter().find(|c| c["source"] == url.as_str()).cloned()
    };
    let started = Instant::now();
    while fetched().await.is_none() {
        assert!(started.elapsed() < Duration::from_secs(20), "the CRL was never fetched");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(authorize(&b, &bob).await.status, 200, "the first CRL revokes nobody");

    // The CA publishes a CRL revoking bob: both replicas refuse him within seconds.
    *served.lock().unwrap() = ("application/pkix-crl", ca.crl(2, OffsetDateTime::now_utc(), &[&bob]));
    for app in [&a, &b] {
        until_authorize(app, &bob, 403).await.problem(403, "certificate-revoked");
        assert_eq!(authorize(app, &alice).await.status, 200);
    }
    let audit = a.get("/api/v1/audit").await.json();
    let fetch = audit["items"].as_array().unwrap().iter().find(|e| e["action"] == "crl.fetch").cloned();
    assert_eq!(fetch.expect("fetches are audited")["after"]["entries"], 1, "{audit}");

    // The distribution point breaks (an HTML error page): the CRL held is kept, the outcome shown.
    *served.lock().unwrap() = ("text/html", b"<html>maintenance</html>".to_vec());
    let started = Instant::now();
    loop {
        let crl = fetched().await.unwrap();
        if crl["last_fetch"]["outcome"].as_str().is_some_and(|o| o.contains("HTML")) {
            assert_eq!(crl["entries"], 1);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the failure never showed: {crl}");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    authorize(&a, &bob).await.problem(403, "certificate-revoked");
}

/// A delta CRL made by `openssl ca -gencrl` (RFC 5280 5.2.4's deltaCRLIndicator, which openssl's
/// config names only by OID) from a CA a site trusts: refused as unsupported, nothing held.
#[actix_web::test]
async fn a_delta_crl_is_refused_as_unsupported() {
    let dir = testdb::scratch_dir("delta-crl");
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| certmap_tests::certs::openssl(&dir, args);
    run(&["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key"]
        .into_iter()
        .chain(["-out", "ca.pem", "-days", "30", "-subj", "/O=Contoso/CN=Contoso Delta CA"])
        .collect::<Vec<_>>());
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("crlnumber"), "02\n").unwrap();
    let config = "[ca]\ndefault_ca = this\n[this]\ndatabase = index.txt\ncrlnumber = crlnumber\n\
                  default_md = sha256\ndefault_crl_days = 7\n[delta]\n2.5.29.27 = critical, DER:02:01:01\n";
    std::fs::write(dir.join("ca.cnf"), config).unwrap();
    run(&[
        "ca",
        "-config",
        "ca.cnf",
        "-gencrl",
        "-cert",
        "ca.pem",
        "-keyfile",
        "ca.key",
        "-crlexts",
        "delta",
        "-out",
        "delta.pem",
    ]);

    let app = TestApp::spawn().await;
    let site = app.site(json!({"name": "Default Web Site"})).await["id"].as_i64().unwrap();
    let ca = std::fs::read(dir.join("ca.pem")).unwrap();
    let put = app
        .request(
            Method::PUT,
            &format!("/api/v1/sites/{site}/trusted-cas"),
            &[("content-type", "application/x-pem-file")],
            Some(&ca),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text());
    let delta = std::fs::read(dir.join("delta.pem")).unwrap();
    upload(&app, "application/x-pem-file", &delta).await.problem(422, "crl-delta-unsupported");
    assert_eq!(app.get("/api/v1/crls").await.json()["crls"], json!([]), "nothing is held");
    let _ = std::fs::remove_dir_all(&dir);
}
