//! The API over HTTPS, and gateways authenticating with a registered client certificate.

use std::process::Command;

use certmap::config::DatabaseSource;
use certmap::tls::TlsConfig;
use certmap_tests::certs::TestCa;
use certmap_tests::{Options, TestApp};
use serde_json::json;

struct Files(std::path::PathBuf);

impl Files {
    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// (HTTP status or 0 when the handshake failed, body) of a curl request over TLS.
fn curl(port: u16, files: &Files, method: &str, path: &str, client: Option<&str>, extra: &[&str]) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}", "-X", method, "--cacert"])
        .arg(files.0.join("servers-ca.pem"));
    if let Some(name) = client {
        cmd.arg("--cert")
            .arg(files.0.join(format!("{name}.pem")))
            .arg("--key")
            .arg(files.0.join(format!("{name}.key")));
    }
    let out = cmd.args(extra).arg(format!("https://127.0.0.1:{port}{path}")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

#[actix_web::test]
async fn https_with_registered_client_certificates() {
    if !certmap_db::testtools::require(&["curl"]) {
        return;
    }
    let files = Files(certmap_db::testdb::scratch_dir("tls"));
    std::fs::create_dir_all(&files.0).unwrap();
    let servers = TestCa::new("Servers CA");
    let clients = TestCa::new("Gateways CA");
    let strangers = TestCa::new("Somebody else's CA");
    let server = servers.server();
    files.write("servers-ca.pem", &servers.cert.pem);
    let cert = files.write("server.pem", &server.pem);
    let key = files.write("server.key", &server.key_pem);
    let client_ca = files.write("clients-ca.pem", &clients.cert.pem);
    for (name, c) in [
        ("reader-gw", clients.client("reader-gw")),
        ("editor-gw", clients.client("editor-gw")),
        ("unknown", clients.client("unknown")),
        ("stranger", strangers.client("stranger")),
    ] {
        files.write(&format!("{name}.pem"), &c.pem);
        files.write(&format!("{name}.key"), &c.key_pem);
        if name.ends_with("-gw") {
            let sha = c.sha256();
            files.write(&format!("{name}.sha256"), &sha);
        }
    }

    // A plain server seeds the database; the HTTPS one shares it.
    let plain = TestApp::spawn().await;
    plain.site(json!({"name": "Default Web Site"})).await;
    for (name, role) in [("reader-gw", "reader"), ("editor-gw", "editor")] {
        let sha = std::fs::read_to_string(files.0.join(format!("{name}.sha256"))).unwrap();
        plain.sql(|c| certmap_db::queries::api_clients::insert(c, name, &sha, role, None, None)).unwrap();
    }
    let url = plain.db.as_ref().unwrap().url().to_owned();
    let tls = TlsConfig { cert: cert.into(), key: key.into(), client_ca: Some(client_ca.into()) };
    let app = TestApp::spawn_with(DatabaseSource::Url(url), Options { tls: Some(tls), ..Default::default() }).await;
    let port = app.addr.port();

    let (status, body) = curl(port, &files, "GET", "/api/v1/sites", Some("reader-gw"), &[]);
    assert_eq!(status, 200, "a registered certificate authenticates without a token: {body}");
    assert!(body.contains("Default Web Site"));
    let (status, _) = curl(
        port,
        &files,
        "POST",
        "/api/v1/sites",
        Some("reader-gw"),
        &["-H", "content-type: application/json", "-d", "{\"name\":\"R\"}"],
    );
    assert_eq!(status, 403, "with its registered role");
    let (status, body) = curl(
        port,
        &files,
        "POST",
        "/api/v1/sites",
        Some("editor-gw"),
        &["-H", "content-type: application/json", "-d", "{\"name\":\"E\"}"],
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = curl(port, &files, "GET", "/api/v1/sites", Some("unknown"), &[]);
    assert_eq!(status, 401, "a trusted but unregistered certificate is not a caller: {body}");
    assert!(body.contains("not registered"));
    assert_eq!(
        curl(port, &files, "GET", "/api/v1/sites", Some("stranger"), &[]).0,
        0,
        "an untrusted certificate fails the handshake"
    );
    assert_eq!(curl(port, &files, "GET", "/api/v1/sites", None, &[]).0, 401);
    let bearer = format!("authorization: Bearer {}", app.admin_token);
    assert_eq!(curl(port, &files, "GET", "/api/v1/sites", None, &["-H", &bearer]).0, 200, "tokens work over TLS too");
    assert_eq!(curl(port, &files, "GET", "/healthz", None, &[]).0, 200);
    // The audit log names the certificate's client.
    let audit = plain.get("/api/v1/audit").await.json();
    assert_eq!(audit["items"][0]["actor"], "client-cert:editor-gw");

    // Registrations are remembered, but a removal (by `certmap api-client` anywhere) is announced:
    // the server stops honouring the certificate without a restart.
    plain
        .sql(|c| diesel::RunQueryDsl::execute(diesel::sql_query("DELETE FROM api_clients WHERE name = 'reader-gw'"), c))
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while curl(port, &files, "GET", "/api/v1/sites", Some("reader-gw"), &[]).0 != 401 {
        assert!(std::time::Instant::now() < deadline, "a removed client certificate is still honoured");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A gateway registered with `certmap api-client add --client-identity FORM` is read in that form
/// only, over mTLS, exactly like a token declaring it.
#[actix_web::test]
async fn a_registered_client_is_read_in_its_declared_form() {
    assert!(
        Command::new("curl").arg("--version").output().is_ok(),
        "curl is not installed: apt-get install curl (.ci/run installs it)"
    );
    let files = Files(certmap_db::testdb::scratch_dir("tls-forms"));
    std::fs::create_dir_all(&files.0).unwrap();
    let (servers, gateways, users) = (TestCa::new("Servers CA"), TestCa::new("Gateways CA"), TestCa::new("Users CA"));
    let server = servers.server();
    files.write("servers-ca.pem", &servers.cert.pem);
    let cert = files.write("server.pem", &server.pem);
    let key = files.write("server.key", &server.key_pem);
    let client_ca = files.write("clients-ca.pem", &gateways.cert.pem);
    let plain = TestApp::spawn().await;
    let site = plain.site(json!({"name": "Default Web Site", "certificate_mapping": {"enabled": true}})).await;
    plain.secured_directory(site["id"].as_i64().unwrap(), "/secure").await;
    let alice = users.client("alice");
    let mapping = plain
        .mapping(site["id"].as_i64().unwrap(), json!({"certificate": alice.pem, "user_name": "CONTOSO\\alice"}))
        .await;
    for (name, form) in [("fp-gw", Some("fingerprint")), ("old-gw", None)] {
        let c = gateways.client(name);
        files.write(&format!("{name}.pem"), &c.pem);
        files.write(&format!("{name}.key"), &c.key_pem);
        let sha = c.sha256();
        plain.sql(|conn| certmap_db::queries::api_clients::insert(conn, name, &sha, "gateway", None, form)).unwrap();
    }
    let url = plain.db.as_ref().unwrap().url().to_owned();
    let tls = TlsConfig { cert: cert.into(), key: key.into(), client_ca: Some(client_ca.into()) };
    let app = TestApp::spawn_with(DatabaseSource::Url(url), Options { tls: Some(tls), ..Default::default() }).await;
    let port = app.addr.port();
    let fingerprint = format!("x-ssl-client-sha256: {}", mapping["sha256"].as_str().unwrap());
    let ask = |client: &str, identity: &str| {
        let args = ["-H", "x-certmap-site: Default Web Site", "-H", "x-original-uri: /secure/x", "-H", identity];
        curl(port, &files, "GET", "/api/v1/authorize", Some(client), &args)
    };
    let (status, body) = ask("fp-gw", &fingerprint);
    assert_eq!(status, 200, "the client declared fingerprints: {body}");
    let (status, body) = ask("old-gw", &fingerprint);
    assert_eq!(status, 400, "an undeclared gateway reads the nginx form only: {body}");
    assert!(body.contains("unexpected-client-identity"), "{body}");
    let escaped =
        alice.pem.replace('\n', "%0A").replace('+', "%2B").replace('/', "%2F").replace('=', "%3D").replace(' ', "%20");
    let (status, body) = ask("old-gw", &format!("x-ssl-client-cert: {escaped}"));
    assert_eq!(status, 200, "{body}");
    let (status, body) = ask("fp-gw", &format!("x-ssl-client-cert: {escaped}"));
    assert_eq!(status, 400, "{body}");
}
