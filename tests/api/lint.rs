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

    app.patch(&format!("/api/v1/sites/{site}"), &[], &json!({"certificate_mapping": {"enabled": true}})).await;
    assert_eq!(app.get(&format!("/api/v1/sites/{site}/lint")).await.json()["findings"], json!([]));
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
