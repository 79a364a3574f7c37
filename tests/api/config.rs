use awc::http::Method;
use certmap::auth::Role;
use certmap_tests::certs::TestCa;
use certmap_tests::TestApp;
use serde_json::json;

/// A site with certificate mapping on, a secured and a public directory, and alice mapped.
async fn seeded(app: &TestApp, ca: &TestCa) -> (i64, certmap_tests::certs::TestCert) {
    let site = app.site(json!({"name": "Default Web Site", "certificate_mapping": {"enabled": true}})).await["id"]
        .as_i64()
        .unwrap();
    app.secured_directory(site, "/secure").await;
    app.post(&format!("/api/v1/sites/{site}/directories"), &json!({"path": "/public"})).await;
    let alice = ca.client("alice");
    app.mapping(
        site,
        json!({"certificate": alice.pem, "user_name": "CONTOSO\\alice", "password": "Pa55-word-for-IIS"}),
    )
    .await;
    (site, alice)
}

#[actix_web::test]
async fn iis_xml_puts_the_mapping_at_the_site_root_and_no_password_unless_an_admin_asks() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let (site, alice) = seeded(&app, &ca).await;
    let res = app.get(&format!("/api/v1/sites/{site}/config/iis")).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(res.header("content-type").unwrap().starts_with("application/xml"));
    assert_eq!(
        res.header("content-disposition"),
        Some(format!("attachment; filename=\"certmap-site-{site}.applicationHost.xml\"").as_str())
    );
    let xml = res.text();
    assert!(xml.contains("<location path=\"Default Web Site\">"), "{xml}");
    assert!(xml.contains("<location path=\"Default Web Site/secure\">"), "{xml}");
    assert!(xml.contains(&format!("certificate=\"{}\"", alice.iis_form())), "{xml}");
    assert!(
        xml.contains("Ssl, SslNegotiateCert, SslRequireCert") || xml.contains("Ssl,SslNegotiateCert,SslRequireCert"),
        "{xml}"
    );
    assert!(!xml.contains("SslMapCert"));
    assert!(!xml.contains("Pa55-word-for-IIS"));
    // The mapping section appears once, and not inside the directory's location.
    assert_eq!(xml.matches("<iisClientCertificateMappingAuthentication").count(), 1);
    let secure_location = &xml[xml.find("<location path=\"Default Web Site/secure\">").unwrap()..];
    let secure_location = &secure_location[..secure_location.find("</location>").unwrap()];
    assert!(!secure_location.contains("iisClientCertificateMapping"), "{secure_location}");
    if let Ok(out) = std::process::Command::new("xmllint")
        .args(["--noout", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(xml.as_bytes())?;
            c.wait_with_output()
        })
    {
        assert!(out.status.success(), "xmllint refused the output");
    }
    // Same revision and options: 304 without a body.
    let etag = res.header("etag").unwrap().to_owned();
    let again =
        app.request(Method::GET, &format!("/api/v1/sites/{site}/config/iis"), &[("if-none-match", &etag)], None).await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    // Other options, or a change to the site, give another tag.
    let nginx = app.get(&format!("/api/v1/sites/{site}/config/nginx")).await;
    assert_ne!(nginx.header("etag"), Some(etag.as_str()));
    app.patch(&format!("/api/v1/sites/{site}"), &[], &json!({"hostnames": ["www.contoso.com"]})).await;
    assert_eq!(
        app.request(Method::GET, &format!("/api/v1/sites/{site}/config/iis"), &[("if-none-match", &etag)], None)
            .await
            .status,
        200
    );

    // Secrets: admins only, and recorded.
    let editor = format!("Bearer {}", app.token(Role::Editor, &[]));
    app.request(
        Method::GET,
        &format!("/api/v1/sites/{site}/config/iis?include_secrets=true"),
        &[("authorization", &editor)],
        None,
    )
    .await
    .problem(403, "forbidden");
    let with = app.get(&format!("/api/v1/sites/{site}/config/iis?include_secrets=true")).await;
    assert!(with.text().contains("Pa55-word-for-IIS"));
    assert!(with.header("etag").is_none(), "a secret-bearing answer is never cached by tag");
    let audit = app.get(&format!("/api/v1/audit?site_id={site}")).await.json();
    assert_eq!(audit["items"][0]["action"], "secrets.read");
    assert!(!audit.to_string().contains("Pa55-word-for-IIS"));
}

#[actix_web::test]
async fn gateway_formats_options_and_refusals() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let (site, _alice) = seeded(&app, &ca).await;
    let sha1 = app.get(&format!("/api/v1/sites/{site}/mappings")).await.json()["items"][0]["sha1"]
        .as_str()
        .unwrap()
        .to_owned();
    let nginx = app
        .get(&format!("/api/v1/sites/{site}/config/nginx?upstream=http://127.0.0.1:9000&header=X-Mapped-User"))
        .await;
    assert_eq!(nginx.status, 200, "{}", nginx.text());
    let text = nginx.text();
    assert!(text.contains(&sha1) && text.contains("http://127.0.0.1:9000") && text.contains("X-Mapped-User"), "{text}");
    let map = app.get(&format!("/api/v1/sites/{site}/config/haproxy-map")).await.text();
    assert!(map.contains(&sha1) && map.contains("CONTOSO\\alice"), "{map}");
    assert_eq!(app.get(&format!("/api/v1/sites/{site}/config/haproxy")).await.status, 200);
    // A gateway token may fetch config, and nothing else.
    let gateway = format!("Bearer {}", app.token(Role::Gateway, &[]));
    assert_eq!(
        app.request(Method::GET, &format!("/api/v1/sites/{site}/config/nginx"), &[("authorization", &gateway)], None)
            .await
            .status,
        200
    );
    app.request(Method::GET, &format!("/api/v1/sites/{site}/mappings"), &[("authorization", &gateway)], None)
        .await
        .problem(403, "forbidden");
    // Options that would change the meaning of a line are refused, naming the option.
    for (query, option) in [
        ("upstream=javascript:alert(1)", "upstream"),
        ("header=X;evil", "header"),
        ("listen=nowhere", "listen"),
        ("server_cert=relative.pem", "server_cert"),
        ("verify_depth=0", "verify_depth"),
    ] {
        let p = app.get(&format!("/api/v1/sites/{site}/config/nginx?{query}")).await.problem(422, "invalid-option");
        assert_eq!(p["errors"][0]["field"], option, "{query}");
    }
    let apache = app.get(&format!("/api/v1/sites/{site}/config/apache?upstream=http://127.0.0.1:9000")).await;
    assert_eq!(apache.status, 200, "{}", apache.text());
    assert!(apache.text().contains("<VirtualHost 0.0.0.0:443>") && apache.text().contains("CONTOSO\\alice"));
    // A many-to-one mapping Apache cannot express is a 422 naming it, never dropped.
    let staff = json!({"name": "Staff", "user_name": "CONTOSO\\staff",
        "rules": [{"certificate_field": "subject", "certificate_sub_field": "OU", "match_criteria": "Staff"}]});
    let res = app.post(&format!("/api/v1/sites/{site}/many-to-one"), &staff).await;
    assert_eq!(res.status, 201, "{}", res.text());
    let p = app.get(&format!("/api/v1/sites/{site}/config/apache")).await.problem(422, "format-cannot-express");
    assert!(p.to_string().contains("Staff"), "{p}");
    app.get(&format!("/api/v1/sites/{site}/config/yaml")).await.problem(404, "not-found");
    app.get("/api/v1/sites/999/config/iis").await.problem(404, "not-found");
}

#[actix_web::test]
async fn trusted_cas_put_honours_if_match() {
    let app = TestApp::spawn().await;
    let (contoso, fabrikam) = (TestCa::new("Contoso CA"), TestCa::new("Fabrikam CA"));
    let site = app.site(json!({"name": "S"})).await["id"].as_i64().unwrap();
    let put = |if_match: &'static str, pem: String| {
        let app = &app;
        async move {
            let headers = [("content-type", "application/x-pem-file"), ("if-match", if_match)];
            app.request(Method::PUT, &format!("/api/v1/sites/{site}/trusted-cas"), &headers, Some(pem.as_bytes())).await
        }
    };
    // The bundle is part of the site: it takes the site's ETag, which its own change moves.
    let res = put("\"1\"", contoso.cert.pem.clone()).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["revision"], 2);
    let site_now = app.get(&format!("/api/v1/sites/{site}")).await;
    assert_eq!(site_now.header("etag"), Some("\"2\""));
    assert_eq!(app.get(&format!("/api/v1/sites/{site}/trusted-cas")).await.json()["revision"], 2);

    // A second admin still holding ETag "1" must not replace the bundle.
    let p = put("\"1\"", fabrikam.cert.pem.clone()).await.problem(412, "precondition-failed");
    assert!(p["detail"].as_str().unwrap().contains("\"2\""), "{p}");
    let now = app.get(&format!("/api/v1/sites/{site}/trusted-cas")).await.json();
    assert_eq!(now["revision"], 2);
    assert!(now["certificates"][0]["subject"].as_str().unwrap().contains("CN=Contoso CA"), "{now}");
    assert_eq!(put("*", fabrikam.cert.pem.clone()).await.status, 200);
}

#[actix_web::test]
async fn trusted_cas_hold_ca_certificates_only() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let other = TestCa::new("Fabrikam CA");
    let site = app.site(json!({"name": "S"})).await["id"].as_i64().unwrap();
    let put = |body: String| {
        let app = &app;
        async move {
            app.request(
                Method::PUT,
                &format!("/api/v1/sites/{site}/trusted-cas"),
                &[("content-type", "application/x-pem-file")],
                Some(body.as_bytes()),
            )
            .await
        }
    };
    app.get(&format!("/api/v1/sites/{site}/config/ca-bundle")).await.problem(404, "not-found");
    let res = put(format!("{}{}", ca.cert.pem, other.cert.pem)).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["certificates"].as_array().unwrap().len(), 2);
    let bundle = app.get(&format!("/api/v1/sites/{site}/config/ca-bundle")).await;
    assert_eq!(bundle.header("content-type"), Some("application/x-pem-file"));
    assert_eq!(bundle.text().matches("-----BEGIN CERTIFICATE-----").count(), 2);
    let p = put(format!("{}{}", ca.cert.pem, ca.client("alice").pem)).await.problem(422, "not-a-ca-certificate");
    assert_eq!(p["errors"][0]["field"], "[1]");
    put(ca.client("k").key_pem).await.problem(422, "certificate-is-private-key");
    put(String::new()).await.problem(422, "certificate-empty");
    app.request(
        Method::PUT,
        &format!("/api/v1/sites/{site}/trusted-cas"),
        &[("content-type", "application/json")],
        Some(b"{}"),
    )
    .await
    .problem(415, "unsupported-media-type");
    assert_eq!(
        app.get(&format!("/api/v1/sites/{site}/trusted-cas")).await.json()["certificates"].as_array().unwrap().len(),
        2,
        "refusals changed nothing"
    );
}

/// The gateway formats are rendered from the site the gateway cache holds (no certificate bytes);
/// an admin asking for secrets still gets them from a full read of the site. Both must give the
/// same bytes, on a site with hostile names and on a big one.
#[actix_web::test]
async fn gateway_formats_render_from_memory_as_from_a_full_read() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let site = app
        .site(json!({"name": "Site \"A\" & <B>; {c} $d 'e' ‘f’ \\g --h", "hostnames": ["intranet.contoso.com", "*.contoso.net"],
            "certificate_mapping": {"enabled": true}}))
        .await["id"]
        .as_i64()
        .unwrap();
    app.secured_directory(site, "/").await;
    app.secured_directory(site, "/a;b{c}/$d 'e'/&").await;
    app.post(&format!("/api/v1/sites/{site}/directories"), &json!({"path": "/Été/public"})).await;
    for (cn, user, enabled) in [
        ("alice", "O'Brien & {Sons} $x ‘y’ `z` %{w}", true),
        ("bob", "svc$", false),
        ("carol", "carol@contoso.com", true),
    ] {
        let cert = ca.client(cn);
        app.mapping(site, json!({"certificate": cert.pem, "user_name": user, "enabled": enabled, "password": "pw"}))
            .await;
    }
    let items: Vec<serde_json::Value> = ca
        .many(2_000, "user")
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"certificate": c.pem, "user_name": format!("CONTOSO\\user{i}"), "enabled": i % 7 != 0}))
        .collect();
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/sites/{site}/mappings:bulk"),
            &[("content-type", "application/json")],
            Some(&serde_json::to_vec(&items).unwrap()),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let compare = |many_to_one: &'static str| {
        let app = &app;
        async move {
            for format in ["nginx", "haproxy", "haproxy-map", "caddy", "nginx?mode=authorize", "caddy?mode=authorize"] {
                let sep = if format.contains('?') { '&' } else { '?' };
                for scope in [format!("/sites/{site}"), String::new()] {
                    let path = format!("/api/v1{scope}/config/{format}{sep}upstream=http://127.0.0.1:9000");
                    let memory = app.get(&path).await;
                    let full = app.get(&format!("{path}&include_secrets=true")).await;
                    assert_eq!(memory.status, full.status, "{path} {many_to_one}: {}", memory.text());
                    let lists_mappings = memory.status == 200 && !(format == "haproxy" || format.contains("authorize"));
                    assert!(!lists_mappings || memory.text().contains("user1999"), "{path}: {}", memory.text());
                    assert!(memory.text() == full.text(), "{path} {many_to_one}: the two reads render differently");
                }
            }
        }
    };
    compare("without many-to-one").await;
    let rule = json!({"name": "Staff \"quoted\" 'single' ‘curly’ <&> $x {y};", "user_name": "Jane Doe",
        "description": "-- not a comment end -->",
        "rules": [{"certificate_field": "subject", "certificate_sub_field": "OU", "match_criteria": "Staff"}]});
    let res = app.post(&format!("/api/v1/sites/{site}/many-to-one"), &rule).await;
    assert_eq!(res.status, 201, "{}", res.text());
    compare("with many-to-one").await;
}
