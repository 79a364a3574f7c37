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

/// Every link names an operation that exists, and passes exactly the path parameters it takes.
#[test]
fn links_chain_site_directory_and_mapping_operations() {
    let spec = serde_json::to_value(certmap::openapi::spec()).unwrap();
    let mut operations = std::collections::HashMap::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for op in item.as_object().unwrap().values().filter(|op| op.get("operationId").is_some()) {
            let params: Vec<String> = op["parameters"]
                .as_array()
                .map(|ps| ps.iter().filter(|p| p["in"] == "path").map(|p| p["name"].as_str().unwrap().into()).collect())
                .unwrap_or_default();
            operations.insert(op["operationId"].as_str().unwrap().to_owned(), (path.clone(), params));
        }
    }
    let mut links = 0;
    for (from, to) in [
        ("create_site", "create_directory"),
        ("create_directory", "get_directory"),
        ("create_mapping", "delete_mapping"),
        ("create_many_to_one", "update_many_to_one"),
    ] {
        let (path, _) = &operations[from];
        let link = &spec["paths"][path]["post"]["responses"]["201"]["links"][to];
        assert_eq!(link["operationId"], to, "{from} → {to}: {link}");
    }
    for item in spec["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            for response in op["responses"].as_object().into_iter().flat_map(|r| r.values()) {
                for link in response["links"].as_object().into_iter().flat_map(|l| l.values()) {
                    links += 1;
                    assert!(link.get("operation_id").is_none(), "{link}");
                    let (_, params) = &operations[link["operationId"].as_str().unwrap()];
                    let mut given: Vec<&String> = link["parameters"].as_object().unwrap().keys().collect();
                    given.sort();
                    let mut wanted: Vec<&String> = params.iter().collect();
                    wanted.sort();
                    assert_eq!(given, wanted, "{link}");
                }
            }
        }
    }
    assert_eq!(links, 25);
}

/// A DER certificate is documented as bytes, not as an array of integers.
#[test]
fn binary_bodies_are_binary_strings() {
    let spec = serde_json::to_value(certmap::openapi::spec()).unwrap();
    for (path, media) in [
        ("/api/v1/sites/{site_id}/mappings", "application/pkix-cert"),
        ("/api/v1/sites/{site_id}/mappings", "application/octet-stream"),
        ("/api/v1/sites/{site_id}/resolve", "application/x-x509-ca-cert"),
    ] {
        let schema = &spec["paths"][path]["post"]["requestBody"]["content"][media]["schema"];
        assert_eq!((&schema["type"], &schema["format"]), (&"string".into(), &"binary".into()), "{path} {media}");
    }
    assert!(!spec
        .to_string()
        .contains("\"type\":\"array\",\"items\":{\"type\":\"integer\",\"format\":\"int32\",\"minimum\":0}"));
}

/// Swagger UI lists an operation by its summary and explains it with the description: every
/// operation the server documents has both, and the summary fits on its one line.
#[actix_web::test]
async fn every_operation_has_a_one_line_summary_and_a_description() {
    let app = TestApp::spawn().await;
    let served = app.get("/openapi.json").await;
    assert_eq!(served.status, 200);
    let spec = served.json();
    let text = |op: &serde_json::Value, key: &str| op[key].as_str().unwrap_or_default().trim().to_owned();
    let mut operations = 0;
    let mut lacking = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "put", "post", "delete", "options", "head", "patch", "trace"].contains(&method.as_str()) {
                continue;
            }
            operations += 1;
            let (summary, description) = (text(op, "summary"), text(op, "description"));
            let operation = format!("{} {path}", method.to_uppercase());
            if summary.is_empty() {
                lacking.push(format!("{operation}: no summary"));
            } else if summary.contains('\n') {
                lacking.push(format!("{operation}: summary spans lines (end it with a blank `///` line)"));
            }
            if description.is_empty() {
                lacking.push(format!("{operation}: no description"));
            }
        }
    }
    assert!(operations > 30, "only {operations} operations in the served spec");
    assert!(
        lacking.is_empty(),
        "the handler's doc comment gives both: first line the summary, then a blank `///`, then the description\n{}",
        lacking.join("\n")
    );
}
