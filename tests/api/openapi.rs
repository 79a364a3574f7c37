use certmap_tests::TestApp;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
const REGENERATE: &str = "CERTMAP_UPDATE_OPENAPI=1 cargo test -p certmap-tests --test api openapi";

/// The committed spec is what the code generates; regenerate it with the command in the message.
#[test]
fn committed_spec_matches_the_code() {
    let generated = certmap::openapi::spec().to_pretty_json().unwrap() + "\n";
    if std::env::var_os("CERTMAP_UPDATE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is out of date with the code; regenerate it with:\n    {REGENERATE}"
    );
}

#[actix_web::test]
async fn the_server_serves_the_committed_spec() {
    let app = TestApp::spawn().await;
    let served = app.get("/openapi.json").await;
    assert_eq!(served.status, 200);
    let committed: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(COMMITTED).unwrap()).unwrap();
    assert_eq!(served.json(), committed, "regenerate with: {REGENERATE}");
}

#[actix_web::test]
async fn every_route_has_an_operation() {
    let spec = certmap::openapi::spec();
    let paths: Vec<&String> = spec.paths.paths.keys().collect();
    for expected in [
        "/healthz",
        "/readyz",
        "/api/v1/sites",
        "/api/v1/sites/{site_id}",
        "/api/v1/sites/{site_id}/directories",
        "/api/v1/sites/{site_id}/directories/{directory_id}",
        "/api/v1/sites/{site_id}/directories/{directory_id}/mappings",
        "/api/v1/sites/{site_id}/lint",
    ] {
        assert!(paths.iter().any(|p| p.as_str() == expected), "{expected} missing from {paths:?}");
    }
    let app = TestApp::spawn().await;
    let docs = app.get("/docs").await;
    assert_eq!((docs.status, docs.header("location")), (308, Some("/docs/")));
    assert_eq!(app.get("/docs/").await.status, 200);
}

/// The docs' mapping example is a real certificate: sent as it stands, it creates a mapping.
#[actix_web::test]
async fn the_mapping_example_in_the_spec_is_accepted() {
    let spec = serde_json::to_value(certmap::openapi::spec()).unwrap();
    let example = spec["components"]["schemas"]["CreateMapping"]["example"].clone();
    assert!(example["certificate"].as_str().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    let app = TestApp::spawn().await;
    let site = app.site(serde_json::json!({"name": "Default Web Site"})).await;
    let created = app.post(&format!("/api/v1/sites/{}/mappings", site["id"]), &example).await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["subject"], "CN=alice,O=Contoso,C=US");
}
