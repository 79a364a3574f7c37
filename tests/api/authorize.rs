use awc::http::Method;
use certmap::auth::Role;
use certmap::domain::client_identity::ClientIdentity;
use certmap_tests::certs::TestCa;
use certmap_tests::{Response, TestApp};
use serde_json::json;

/// nginx's `$ssl_client_escaped_cert`.
fn escaped(pem: &str) -> String {
    pem.replace('%', "%25")
        .replace('\n', "%0A")
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
        .replace(' ', "%20")
}

/// One authorize call as a gateway makes it: its credential, the site, the URI, its client headers.
pub async fn ask(app: &TestApp, token: &str, uri: &str, client: Vec<(&'static str, String)>) -> Response {
    let mut headers: Vec<(&str, String)> = vec![
        ("authorization", token.to_owned()),
        ("x-certmap-site", "Default Web Site".into()),
        ("x-original-uri", uri.into()),
    ];
    headers.extend(client);
    let refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    app.request(Method::GET, "/api/v1/authorize", &refs, None).await
}

#[actix_web::test]
async fn gateways_ask_per_request_and_get_iis_answers() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso CA");
    let site = app.site(json!({"name": "Default Web Site", "certificate_mapping": {"enabled": true}})).await["id"]
        .as_i64()
        .unwrap();
    app.secured_directory(site, "/secure").await;
    app.post(&format!("/api/v1/sites/{site}/directories"), &json!({"path": "/public"})).await;
    app.post(
        &format!("/api/v1/sites/{site}/directories"),
        &json!({"path": "/optional", "require_ssl": true, "client_certificates": "accept"}),
    )
    .await;
    let (alice, bob, carol, mallory, mary) =
        (ca.client("alice"), ca.client("bob"), ca.client("carol"), ca.client("mallory"), ca.client("mary"));
    let a = app.mapping(site, json!({"certificate": alice.pem, "user_name": "CONTOSO\\alice"})).await;
    app.mapping(site, json!({"certificate": carol.pem, "user_name": "CONTOSO\\carol", "enabled": false})).await;
    app.post(
        &format!("/api/v1/sites/{site}/many-to-one"),
        &json!({"name": "m-team", "user_name": "CONTOSO\\m-team",
        "rules": [{"certificate_field": "subject", "certificate_sub_field": "CN", "match_criteria": "m*"}]}),
    )
    .await;
    app.post(
        &format!("/api/v1/sites/{site}/many-to-one"),
        &json!({"name": "no mallory", "permission_mode": "deny",
        "rules": [{"certificate_field": "subject", "certificate_sub_field": "CN", "match_criteria": "mallory"}]}),
    )
    .await;
    let gateway = format!("Bearer {}", app.token(Role::Gateway, &[]));
    let fingerprint = format!("Bearer {}", app.token_declaring(Role::Gateway, ClientIdentity::Fingerprint));
    let cert = |c: &certmap_tests::certs::TestCert| vec![("x-ssl-client-cert", escaped(&c.pem))];

    let ok = ask(&app, &gateway, "/secure/page?x=1", cert(&alice)).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.header("x-certmap-user"), Some("CONTOSO\\alice"));
    assert_eq!(ok.header("x-certmap-mapping-id"), Some(a["id"].to_string().as_str()));
    // A fingerprint is enough for a stored certificate, in any spelling.
    let by_sha256 =
        ask(&app, &fingerprint, "/secure", vec![("x-ssl-client-sha256", a["sha256"].as_str().unwrap().to_uppercase())])
            .await;
    assert_eq!(by_sha256.header("x-certmap-user"), Some("CONTOSO\\alice"));
    let sha1: String = a["sha1"]
        .as_str()
        .unwrap()
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":");
    assert_eq!(
        ask(&app, &fingerprint, "/SECURE/x", vec![("x-ssl-client-sha1", sha1)]).await.header("x-certmap-user"),
        Some("CONTOSO\\alice")
    );
    // Refusals, each as IIS would refuse.
    ask(&app, &gateway, "/secure/page", cert(&bob)).await.problem(403, "client-certificate-refused");
    ask(&app, &gateway, "/%73ecure/page", cert(&bob)).await.problem(403, "client-certificate-refused");
    ask(&app, &gateway, "/secure/page", cert(&carol)).await.problem(403, "client-certificate-refused");
    let p = ask(&app, &gateway, "/secure/page", cert(&mallory)).await.problem(403, "client-certificate-refused");
    assert!(p["detail"].as_str().unwrap().contains("no mallory"), "a matching deny wins over the allow: {p}");
    assert_eq!(
        ask(&app, &gateway, "/secure/page", cert(&mary)).await.header("x-certmap-user"),
        Some("CONTOSO\\m-team"),
        "many-to-one maps mary"
    );
    ask(&app, &gateway, "/secure/page", vec![]).await.problem(401, "client-certificate-required");
    ask(&app, &fingerprint, "/secure/page", vec![("x-ssl-client-sha256", "0".repeat(64))])
        .await
        .problem(403, "client-certificate-refused");
    // Paths that need no certificate pass without a user; "accept" maps when it can.
    let public = ask(&app, &gateway, "/public/x", cert(&alice)).await;
    // Declared headers are always there, empty when nothing mapped, so a gateway copying them
    // never forwards a value the client sent.
    assert_eq!(
        (public.status, public.header("x-certmap-user"), public.header("x-certmap-mapping-id")),
        (200, Some(""), Some(""))
    );
    assert_eq!(ask(&app, &gateway, "/elsewhere", vec![]).await.status, 200);
    assert_eq!(ask(&app, &gateway, "/optional/x", cert(&alice)).await.header("x-certmap-user"), Some("CONTOSO\\alice"));
    let optional = ask(&app, &gateway, "/optional/x", cert(&bob)).await;
    assert_eq!((optional.status, optional.header("x-certmap-user")), (200, Some("")));
    // Bad questions.
    ask(&app, &gateway, "/secure", vec![("x-ssl-client-cert", "garbage".into())])
        .await
        .problem(422, "invalid-certificate");
    ask(&app, &fingerprint, "/secure", vec![("x-ssl-client-sha256", "xyz".into())])
        .await
        .problem(422, "invalid-fingerprint");
    let no_site = app.request(Method::GET, "/api/v1/authorize", &[("authorization", gateway.as_str())], None).await;
    no_site.problem(422, "missing-site");
    let by_id = app
        .request(
            Method::GET,
            "/api/v1/authorize",
            &[
                ("authorization", gateway.as_str()),
                ("x-certmap-site", &site.to_string()),
                ("x-original-uri", "/secure"),
                ("x-ssl-client-cert", &escaped(&alice.pem)),
            ],
            None,
        )
        .await;
    assert_eq!(by_id.header("x-certmap-user"), Some("CONTOSO\\alice"));
    app.request(
        Method::GET,
        "/api/v1/authorize",
        &[("authorization", gateway.as_str()), ("x-certmap-site", "Nope")],
        None,
    )
    .await
    .problem(404, "not-found");
    app.request(Method::GET, "/api/v1/authorize", &[("authorization", "")], None).await.problem(401, "unauthorized");
}

#[actix_web::test]
async fn a_site_name_never_reads_as_another_sites_id() {
    let app = TestApp::spawn().await;
    let first = app.site(json!({"name": "First"})).await["id"].as_i64().unwrap();
    app.secured_directory(first, "/secure").await;
    for name in ["2", "+1", "0001", "id:1", "name:x"] {
        app.post("/api/v1/sites", &json!({"name": name})).await.problem(422, "ambiguous-site-name");
    }
    let renamed = app.patch(&format!("/api/v1/sites/{first}"), &[], &json!({"name": "7"})).await;
    renamed.problem(422, "ambiguous-site-name");
    // A numeric name stored before the rule: lint reports it, and `name:` reaches it.
    let legacy: i64 = app.sql(|c| {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Id {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            id: i64,
        }
        diesel::sql_query(format!("INSERT INTO sites (name) VALUES ('{first}') RETURNING id"))
            .get_result::<Id>(c)
            .unwrap()
            .id
    });
    let lint = app.get(&format!("/api/v1/sites/{legacy}/lint")).await.json();
    assert!(lint["findings"].to_string().contains("ambiguous-site-name"), "{lint:#}");
    let gateway = format!("Bearer {}", app.token(Role::Gateway, &[]));
    let ask = |site: String| {
        let app = &app;
        let gateway = gateway.clone();
        async move {
            let h = [("authorization", gateway.as_str()), ("x-certmap-site", &site), ("x-original-uri", "/secure/x")];
            app.request(Method::GET, "/api/v1/authorize", &h, None).await
        }
    };
    // `first` is both the id of First (secured) and the name of the legacy site (open).
    ask(first.to_string()).await.problem(401, "client-certificate-required");
    ask(format!("id:{first}")).await.problem(401, "client-certificate-required");
    assert_eq!(ask(format!("name:{first}")).await.status, 200, "the legacy site, which secures nothing");
    assert_eq!(ask("name:first".into()).await.status, 401);
    ask("id:x".into()).await.problem(422, "invalid-site-key");
}
