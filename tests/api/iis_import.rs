//! Linting and importing existing IIS configuration through the API.

use awc::http::Method;
use base64::Engine as _;
use certmap::auth::Role;
use certmap_tests::certs::TestCa;
use certmap_tests::{Response, TestApp};
use serde_json::{json, Value};

const XML: (&str, &str) = ("content-type", "application/xml");

/// The seed write-up's setup: the mapping section configured on the directory to secure (the
/// console's browser tests import the same file).
fn seed_config(cert_b64: &str) -> String {
    include_str!("../fixtures/seed-applicationHost.config").replace("CERTIFICATE", cert_b64)
}

fn b64(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(der)
}

async fn post_xml(app: &TestApp, path: &str, body: &str) -> Response {
    app.request(Method::POST, path, &[XML], Some(body.as_bytes())).await
}

async fn site_count(app: &TestApp) -> usize {
    app.get("/api/v1/sites").await.json()["items"].as_array().unwrap().len()
}

async fn audit_count(app: &TestApp) -> usize {
    app.get("/api/v1/audit?limit=500").await.json()["items"].as_array().unwrap().len()
}

#[actix_web::test]
async fn lint_names_the_seed_mistake_for_any_role() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("CA");
    let config = seed_config(&b64(&ca.client("alice").der));
    let gateway = format!("Bearer {}", app.token(Role::Gateway, &[]));
    let res = app
        .request(Method::POST, "/api/v1/lint/iis", &[XML, ("authorization", &gateway)], Some(config.as_bytes()))
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let report = res.json();
    assert_eq!(report["source"], "applicationHost.config");
    assert_eq!(report["errors"], 1, "{report:#}");
    let f = &report["findings"][0];
    assert_eq!(f["code"], "mapping-not-at-site-root", "{report:#}");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["location_path"], "Default Web Site/secure");
    assert_eq!(f["line"], 16);
    assert!(f["iis_symptom"].as_str().unwrap().contains("401.2 Unauthorized, 0x80070005"), "{f:#}");
    assert!(f["fix"].as_str().unwrap().contains(r#"<location path="Default Web Site">"#), "{f:#}");
    assert_eq!(f["blocks_import"], true);
    assert_eq!(report["findings"][1]["code"], "password-not-imported");

    let text =
        app.request(Method::POST, "/api/v1/lint/iis", &[("content-type", "text/xml")], Some(b"<configuration/>")).await;
    assert_eq!(text.status, 200);
    app.request(Method::POST, "/api/v1/lint/iis", &[("content-type", "application/json")], Some(b"{}"))
        .await
        .problem(415, "unsupported-media-type");
    app.request(Method::POST, "/api/v1/lint/iis", &[XML, ("authorization", "")], Some(b"<x/>"))
        .await
        .problem(401, "unauthorized");
    let big = vec![b' '; 8 * 1024 * 1024 + 1];
    app.request(Method::POST, "/api/v1/lint/iis", &[XML], Some(&big)).await.problem(413, "payload-too-large");
    // Hostile XML is a finding, answered at once.
    let bomb = r#"<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><x>&b;</x>"#;
    let report = post_xml(&app, "/api/v1/lint/iis", bomb).await.json();
    assert_eq!(report["findings"][0]["code"], "xml-doctype-refused", "{report:#}");
    assert_eq!(report["source"], Value::Null);
}

/// "Done when": the seed's broken setup is refused with its exact mistake, and imported right
/// with repair=true — mapping at the site root, the directory secured, the password to be set.
#[actix_web::test]
async fn the_seed_setup_is_refused_then_repaired_on_import() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("CA");
    let alice = ca.client("alice");
    let config = seed_config(&b64(&alice.der));

    let p = post_xml(&app, "/api/v1/import/iis", &config).await.problem(422, "mapping-not-at-site-root");
    assert!(p["iis_symptom"].as_str().unwrap().contains("0x80070005"), "{p:#}");
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("line 16"), "{p:#}");
    assert_eq!(site_count(&app).await, 0);

    // A dry run reports the repair and what would be created, and writes nothing.
    let audit_before = audit_count(&app).await;
    let dry = post_xml(&app, "/api/v1/import/iis?repair=true&dry_run=true", &config).await;
    assert_eq!(dry.status, 200, "{}", dry.text());
    let dry = dry.json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["sites"][0]["action"], "created");
    assert_eq!(dry["sites"][0]["id"], Value::Null);
    assert_eq!(dry["sites"][0]["one_to_one"][0]["action"], "created");
    assert!(dry["repairs"][0].as_str().unwrap().contains("moved iisClientCertificateMappingAuthentication"), "{dry:#}");
    assert_eq!(site_count(&app).await, 0);
    assert_eq!(audit_count(&app).await, audit_before);

    let done = post_xml(&app, "/api/v1/import/iis?repair=true", &config).await;
    assert_eq!(done.status, 200, "{}", done.text());
    let done = done.json();
    let site_id = done["sites"][0]["id"].as_i64().unwrap();
    let site = app.get(&format!("/api/v1/sites/{site_id}")).await.json();
    assert_eq!(site["name"], "Default Web Site");
    assert_eq!(site["hostnames"], json!(["www.contoso.com"]));
    assert_eq!(site["certificate_mapping"]["enabled"], true);
    let dirs = app.get(&format!("/api/v1/sites/{site_id}/directories")).await.json();
    assert_eq!(dirs["items"][0]["path"], "/secure");
    assert_eq!(dirs["items"][0]["ssl_flags"], "Ssl, SslNegotiateCert, SslRequireCert");
    let maps = app.get(&format!("/api/v1/sites/{site_id}/mappings")).await.json();
    assert_eq!(maps["items"][0]["user_name"], "CONTOSO\\alice");
    assert_eq!(maps["items"][0]["has_password"], false, "IIS-encrypted passwords are never imported");
    assert!(done["findings"].as_array().unwrap().iter().any(|f| f["code"] == "password-not-imported"));
    // The rendered configuration puts the section where IIS honours it.
    let rendered = app.get(&format!("/api/v1/sites/{site_id}/config/iis")).await.text();
    let site_location = rendered.split("<location ").nth(1).unwrap();
    assert!(site_location.starts_with(r#"path="Default Web Site">"#), "{rendered}");
    assert!(site_location.contains("<iisClientCertificateMappingAuthentication enabled=\"true\""), "{rendered}");
    let lint = post_xml(&app, "/api/v1/lint/iis", &rendered).await.json();
    assert_eq!(lint["errors"], 0, "{lint:#}");
    // Audited through the ordinary write path.
    let actions: Vec<String> = app.get("/api/v1/audit?limit=500").await.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    for a in ["site.create", "directory.create", "mapping.create"] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }

    // Idempotent: the second import changes nothing, not even the revision.
    let revision = site["revision"].clone();
    let again = post_xml(&app, "/api/v1/import/iis?repair=true", &config).await.json();
    let s = &again["sites"][0];
    assert_eq!(s["action"], "unchanged", "{again:#}");
    for kind in ["directories", "one_to_one", "many_to_one"] {
        assert!(s[kind].as_array().unwrap().iter().all(|i| i["action"] == "unchanged"), "{again:#}");
    }
    assert_eq!(app.get(&format!("/api/v1/sites/{site_id}")).await.json()["revision"], revision);
    assert_eq!(audit_count(&app).await, actions.len());
}

#[actix_web::test]
async fn a_dry_run_over_an_existing_site_changes_nothing() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("CA");
    let site = app.site(json!({"name": "Default Web Site"})).await;
    let id = site["id"].as_i64().unwrap();
    let config = seed_config(&b64(&ca.client("alice").der));
    let report = post_xml(&app, "/api/v1/import/iis?repair=true&dry_run=true", &config).await.json();
    assert_eq!(report["sites"][0]["action"], "updated", "{report:#}");
    assert_eq!(report["sites"][0]["id"], id);
    let after = app.get(&format!("/api/v1/sites/{id}")).await.json();
    assert_eq!(after["revision"], site["revision"]);
    assert_eq!(after["certificate_mapping"]["enabled"], false);
    assert_eq!(app.get(&format!("/api/v1/sites/{id}/mappings")).await.json()["items"], json!([]));
}

#[actix_web::test]
async fn import_needs_a_writer_and_a_site_for_a_web_config() {
    let app = TestApp::spawn().await;
    let reader = format!("Bearer {}", app.token(Role::Reader, &[]));
    app.request(Method::POST, "/api/v1/import/iis", &[XML, ("authorization", &reader)], Some(b"<configuration/>"))
        .await
        .problem(403, "forbidden");
    let web_config = r#"<configuration><system.webServer><security><access sslFlags="Ssl"/></security></system.webServer></configuration>"#;
    post_xml(&app, "/api/v1/import/iis", web_config).await.problem(422, "site-required");
    let editor = format!("Bearer {}", app.token(Role::Editor, &[]));
    let res = app
        .request(
            Method::POST,
            "/api/v1/import/iis?site=Shop",
            &[XML, ("authorization", &editor)],
            Some(web_config.as_bytes()),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["source"], "web.config");
    // A token limited to other sites cannot create this one.
    let scoped = format!("Bearer {}", app.token(Role::Editor, &["Other"]));
    app.request(
        Method::POST,
        "/api/v1/import/iis?site=Shop2",
        &[XML, ("authorization", &scoped)],
        Some(web_config.as_bytes()),
    )
    .await
    .problem(403, "forbidden");
    post_xml(&app, "/api/v1/import/iis", "<configuration>").await.problem(422, "xml-malformed");
}

/// Render site A, import it as B, render B: the same configuration but for the name.
#[actix_web::test]
async fn a_rendered_site_imports_back_to_the_same_configuration() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("Contoso Issuing CA");
    let a = app
        .site(json!({"name": "Site A", "certificate_mapping": {"enabled": true, "logon_method": "Network", "default_logon_domain": "CONTOSO"}}))
        .await["id"]
        .as_i64()
        .unwrap();
    app.secured_directory(a, "/secure").await;
    let res = app
        .post(
            &format!("/api/v1/sites/{a}/directories"),
            &json!({"path": "/shop", "require_ssl": true, "client_certificates": "accept"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let res = app.post(&format!("/api/v1/sites/{a}/directories"), &json!({"path": "/", "windows_auth": true})).await;
    assert_eq!(res.status, 201, "{}", res.text());
    app.mapping(a, json!({"certificate": ca.client("alice").pem, "user_name": "CONTOSO\\alice"})).await;
    app.mapping(a, json!({"certificate": ca.client("bob").pem, "user_name": "bob@contoso.com", "enabled": false}))
        .await;
    for body in [
        json!({"name": "Engineers & <Ops>", "description": "all of \"them\"", "user_name": "CONTOSO\\eng", "rules": [
            {"certificate_field": "issuer", "certificate_sub_field": "CN", "match_criteria": "Contoso Issuing CA"},
            {"certificate_field": "subject", "certificate_sub_field": "OU", "match_criteria": "Eng*", "compare_case_sensitive": false}]}),
        json!({"name": "No contractors", "permission_mode": "deny", "rules": [
            {"certificate_field": "subject", "certificate_sub_field": "OU", "match_criteria": "Contractors"}]}),
    ] {
        let res = app.post(&format!("/api/v1/sites/{a}/many-to-one"), &body).await;
        assert_eq!(res.status, 201, "{}", res.text());
    }
    let rendered_a = app.get(&format!("/api/v1/sites/{a}/config/iis")).await.text();
    let as_b = rendered_a.replace(r#"path="Site A"#, r#"path="Site B"#);
    let report = post_xml(&app, "/api/v1/import/iis", &as_b).await;
    assert_eq!(report.status, 200, "{}", report.text());
    let report = report.json();
    assert_eq!(report["sites"][0]["name"], "Site B", "{report:#}");
    let b = report["sites"][0]["id"].as_i64().unwrap();
    let rendered_b = app.get(&format!("/api/v1/sites/{b}/config/iis")).await.text();
    // The first comment names the site's id and revision; everything after it must match.
    let body = |s: &str, name: &str| s.split_once("-->").unwrap().1.replace(name, "SITE");
    assert_eq!(body(&rendered_b, "Site B"), body(&rendered_a, "Site A"));

    // Importing it again changes nothing: many-to-one rules, directories and mappings all match.
    let revision = app.get(&format!("/api/v1/sites/{b}")).await.json()["revision"].clone();
    let again = post_xml(&app, "/api/v1/import/iis", &as_b).await.json();
    let s = &again["sites"][0];
    assert_eq!(s["action"], "unchanged", "{again:#}");
    assert_eq!(s["directories"].as_array().unwrap().len(), 3);
    assert_eq!(s["many_to_one"].as_array().unwrap().len(), 2);
    for kind in ["directories", "one_to_one", "many_to_one"] {
        assert!(s[kind].as_array().unwrap().iter().all(|i| i["action"] == "unchanged"), "{again:#}");
    }
    assert_eq!(app.get(&format!("/api/v1/sites/{b}")).await.json()["revision"], revision);
}

/// A clear-text password is imported encrypted (and said to be exposed); an edited file updates
/// what changed and nothing else.
#[actix_web::test]
async fn clear_text_passwords_are_sealed_and_changes_are_updates() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("CA");
    let cert = b64(&ca.client("carol").der);
    let config = |user: &str| {
        format!(
            r#"<configuration><location path="Shop"><system.webServer><security><access sslFlags="Ssl, SslNegotiateCert, SslRequireCert"/>
<authentication><anonymousAuthentication enabled="false"/><iisClientCertificateMappingAuthentication enabled="true">
<oneToOneMappings><add userName="{user}" password="Summer2016!" certificate="{cert}"/></oneToOneMappings>
</iisClientCertificateMappingAuthentication></authentication></security></system.webServer></location></configuration>"#
        )
    };
    let first = post_xml(&app, "/api/v1/import/iis", &config("CONTOSO\\carol")).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let first = first.json();
    assert!(!first.to_string().contains("Summer2016!"));
    assert!(first["findings"].as_array().unwrap().iter().any(|f| f["code"] == "clear-text-password"), "{first:#}");
    let site = first["sites"][0]["id"].as_i64().unwrap();
    let mapping = &app.get(&format!("/api/v1/sites/{site}/mappings")).await.json()["items"][0];
    assert_eq!(mapping["has_password"], true);
    assert_eq!(mapping["user_name"], "CONTOSO\\carol");

    let second = post_xml(&app, "/api/v1/import/iis", &config("CONTOSO\\carol2")).await.json();
    let s = &second["sites"][0];
    assert_eq!(
        (s["action"].as_str(), s["one_to_one"][0]["action"].as_str()),
        (Some("unchanged"), Some("updated")),
        "{second:#}"
    );
    assert_eq!(s["directories"][0]["action"], "unchanged");
    assert_eq!(
        app.get(&format!("/api/v1/sites/{site}/mappings")).await.json()["items"][0]["user_name"],
        "CONTOSO\\carol2"
    );
}

/// A finding of severity error blocks the item it names: a certificate mapped twice (IIS refuses
/// the file, and which account was meant is unknown) is imported for neither account.
#[actix_web::test]
async fn an_error_blocks_the_item_it_names() {
    let app = TestApp::spawn().await;
    let ca = TestCa::new("CA");
    let (alice, carol, dave) =
        (b64(&ca.client("alice").der), b64(&ca.client("carol").der), b64(&ca.client("dave").der));
    let config = format!(
        r#"<configuration>
    <system.applicationHost><sites><site name="Shop" id="1" /></sites></system.applicationHost>
    <location path="Shop">
        <system.webServer><security><authentication>
            <iisClientCertificateMappingAuthentication enabled="true">
                <oneToOneMappings>
                    <add userName="CONTOSO\alice" certificate="{alice}" />
                    <add userName="CONTOSO\bob" certificate="{alice}" />
                    <add userName="CONTOSO\carol" certificate="{carol}" />
                    <add userName="CONTOSO\dave" enabled="maybe" certificate="{dave}" />
                </oneToOneMappings>
                <manyToOneMappings>
                    <add name="staff" userName="CONTOSO\staff"><rules><add certificateField="Subject" certificateSubField="CN" matchCriteria="a*" /></rules></add>
                    <add name="STAFF" userName="CONTOSO\other"><rules><add certificateField="Subject" certificateSubField="CN" matchCriteria="b*" /></rules></add>
                    <add name="ops" userName="CONTOSO\ops"><rules><add certificateField="Subject" certificateSubField="CN" compareCaseSensitive="perhaps" matchCriteria="o*" /></rules></add>
                </manyToOneMappings>
            </iisClientCertificateMappingAuthentication>
        </authentication></security></system.webServer>
    </location>
</configuration>"#
    );
    let lint = post_xml(&app, "/api/v1/lint/iis", &config).await.json();
    let codes = lint["findings"].to_string();
    assert!(codes.contains("duplicate-certificate") && codes.contains("duplicate-many-to-one-name"), "{lint:#}");
    let done = post_xml(&app, "/api/v1/import/iis", &config).await;
    assert_eq!(done.status, 200, "{}", done.text());
    let site = done.json()["sites"][0]["id"].as_i64().unwrap();
    let users: Vec<String> = app.get(&format!("/api/v1/sites/{site}/mappings")).await.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user_name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(users, ["CONTOSO\\carol"], "neither alice nor bob, and no guessed flag");
    let rules = app.get(&format!("/api/v1/sites/{site}/many-to-one")).await.json();
    assert_eq!(rules["items"], json!([]), "neither staff mapping, nor one with an unreadable rule: {rules:#}");
}
