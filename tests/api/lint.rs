use certmap_tests::TestApp;
use serde_json::json;

#[actix_web::test]
async fn a_secured_directory_without_enabled_mapping_is_a_finding_until_mapping_is_enabled() {
    let app = TestApp::spawn().await;
    let site = app.site(json!({"name": "Default Web Site"})).await["id"].as_i64().unwrap();
    app.secured_directory(site, "/secure").await;
    let report = app.get(&format!("/api/v1/sites/{site}/lint")).await.json();
    assert_eq!(report["site_id"], site);
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{report:#}");
    assert_eq!(findings[0]["code"], "secured-directory-without-mapping");
    assert_eq!(findings[0]["severity"], "warning");
    assert_eq!(findings[0]["path"], "/secure");
    assert!(findings[0]["iis_symptom"].as_str().unwrap().contains("401.2"));
    assert!(findings[0]["fix"].as_str().unwrap().contains("enable certificate mapping"), "{report:#}");

    app.patch(&format!("/api/v1/sites/{site}"), &[], &json!({"certificate_mapping": {"enabled": true}})).await;
    // Enabled, but nobody is mapped yet: every certificate would get 401.1.
    let findings = app.get(&format!("/api/v1/sites/{site}/lint")).await.json()["findings"].clone();
    assert_eq!(findings[0]["code"], "no-enabled-mappings", "{findings:#}");
    let ca = certmap_tests::certs::TestCa::new("CA");
    app.mapping(site, json!({"certificate": ca.client("alice").pem, "user_name": "alice", "password": "pw"})).await;
    assert_eq!(app.get(&format!("/api/v1/sites/{site}/lint")).await.json()["findings"], json!([]));
}

#[actix_web::test]
async fn mapping_findings_name_the_mapping() {
    let app = TestApp::spawn().await;
    let ca = certmap_tests::certs::TestCa::new("CA");
    let site = app.site(json!({"name": "S"})).await["id"].as_i64().unwrap();
    let now = time::OffsetDateTime::now_utc();
    let soon = ca.client_with("soon", &[], now - time::Duration::days(1), now + time::Duration::days(5));
    let m = app.mapping(site, json!({"certificate": soon.pem, "user_name": "alice"})).await;
    let old = app
        .mapping(
            site,
            json!({"certificate": ca.expired("old").pem, "user_name": "bob", "password": "pw", "allow_expired": true}),
        )
        .await;
    let codes = |v: &serde_json::Value| -> Vec<(String, Option<i64>)> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["code"].as_str().unwrap().to_owned(), f["mapping_id"].as_i64()))
            .collect()
    };
    let report = app.get(&format!("/api/v1/sites/{site}/lint")).await.json();
    let got = codes(&report);
    assert!(got.contains(&("mappings-while-mapping-disabled".into(), None)), "{got:?}");
    assert!(got.contains(&("certificate-expired".into(), old["id"].as_i64())), "{got:?}");
    assert!(got.contains(&("certificate-expiring".into(), m["id"].as_i64())), "{got:?}");
    app.patch(&format!("/api/v1/sites/{site}"), &[], &json!({"certificate_mapping": {"enabled": true}})).await;
    let got = codes(&app.get(&format!("/api/v1/sites/{site}/lint")).await.json());
    assert!(got.contains(&("mapping-without-password".into(), m["id"].as_i64())), "{got:?}");
    assert!(!got.iter().any(|(c, _)| c == "mappings-while-mapping-disabled"), "{got:?}");
}

#[actix_web::test]
async fn enabled_mapping_with_no_directory_asking_for_certificates_is_noted() {
    let app = TestApp::spawn().await;
    let site = app.site(json!({"name": "S", "certificate_mapping": {"enabled": true}})).await["id"].as_i64().unwrap();
    let findings = app.get(&format!("/api/v1/sites/{site}/lint")).await.json()["findings"].clone();
    assert_eq!(findings[0]["code"], "mapping-without-certificate-directory");
    assert_eq!(findings[0]["severity"], "info");
    assert!(findings[0].get("path").is_none());
    app.get("/api/v1/sites/999/lint").await.problem(404, "not-found");
}
