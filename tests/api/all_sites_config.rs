//! `GET /api/v1/config/{format}`: every site the caller may read in one document, checked by the
//! real xmllint, nginx, HAProxy and Apache, and served by nginx and HAProxy to real clients.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use awc::http::Method;
use certmap::auth::Role;
use certmap_tests::certs::{TestCa, TestCert};
use certmap_tests::TestApp;
use serde_json::json;

use crate::gateways::{curl, echo_upstream, free_port, require, spawn_haproxy, Gateway};

/// Two sites with host names of their own, alice mapped on both to a different account, and a
/// third site a scoped token cannot see.
struct Seeded {
    contoso: i64,
    fabrikam: i64,
    hidden: i64,
    alice: TestCert,
    bob: TestCert,
    clients: TestCa,
}

async fn seed(app: &TestApp) -> Seeded {
    let clients = TestCa::new("Contoso Clients CA");
    let (alice, bob) = (clients.client("alice"), clients.client("bob"));
    let mut ids = Vec::new();
    for (name, hosts, user) in [
        ("Default Web Site", json!(["www.contoso.com"]), "CONTOSO\\alice"),
        ("Intranet", json!(["intranet.fabrikam.com", "*.fabrikam.net"]), "FABRIKAM\\alice"),
        ("Hidden", json!(["hidden.example.com"]), "HIDDEN\\alice"),
    ] {
        let site = app.site(json!({"name": name, "hostnames": hosts, "certificate_mapping": {"enabled": true}})).await
            ["id"]
            .as_i64()
            .unwrap();
        app.secured_directory(site, "/secure").await;
        app.mapping(site, json!({"certificate": alice.pem, "user_name": user, "password": "Pa55-word-for-IIS"})).await;
        ids.push(site);
    }
    Seeded { contoso: ids[0], fabrikam: ids[1], hidden: ids[2], alice, bob, clients }
}

async fn put_cas(app: &TestApp, site: i64, pem: &str) {
    let res = app
        .request(
            Method::PUT,
            &format!("/api/v1/sites/{site}/trusted-cas"),
            &[("content-type", "application/x-pem-file")],
            Some(pem.as_bytes()),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
}

#[actix_web::test]
async fn one_document_for_every_visible_site_with_etag_and_scope() {
    let app = TestApp::spawn().await;
    let s = seed(&app).await;
    let res = app.get("/api/v1/config/iis").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.header("content-disposition"),
        Some("attachment; filename=\"certmap-all-sites.applicationHost.xml\"")
    );
    let xml = res.text();
    assert_eq!(xml.matches("<configuration>").count(), 1, "{xml}");
    for site in ["Default Web Site", "Intranet", "Hidden"] {
        assert!(xml.contains(&format!("<location path=\"{site}\">")), "{xml}");
        assert!(xml.contains(&format!("<location path=\"{site}/secure\">")), "{xml}");
    }
    assert!(!xml.contains("Pa55-word-for-IIS"));
    xmllint(&xml);

    // 304 while nothing changed; a change to any one site gives another tag.
    let etag = res.header("etag").unwrap().to_owned();
    let again = app.request(Method::GET, "/api/v1/config/iis", &[("if-none-match", &etag)], None).await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let nginx_tag = app.get("/api/v1/config/nginx").await.header("etag").map(str::to_owned);
    assert_ne!(nginx_tag.as_deref(), Some(etag.as_str()), "the format is part of the tag");
    app.patch(&format!("/api/v1/sites/{}", s.fabrikam), &[], &json!({"hostnames": ["intranet.fabrikam.com"]})).await;
    let changed = app.request(Method::GET, "/api/v1/config/iis", &[("if-none-match", &etag)], None).await;
    assert_eq!(changed.status, 200);
    let etag = changed.header("etag").unwrap().to_owned();
    assert_eq!(app.delete(&format!("/api/v1/sites/{}", s.hidden), &[]).await.status, 204);
    let fewer = app.request(Method::GET, "/api/v1/config/iis", &[("if-none-match", &etag)], None).await;
    assert_eq!(fewer.status, 200, "a deleted site changes the tag");
    assert!(!fewer.text().contains("Hidden"));

    // A token limited to one site gets a document of that site only, under another tag.
    let scoped = format!("Bearer {}", app.token(Role::Gateway, &["default web site"]));
    let mine = app.request(Method::GET, "/api/v1/config/powershell", &[("authorization", &scoped)], None).await;
    assert_eq!(mine.status, 200, "{}", mine.text());
    let ps = mine.text();
    assert!(ps.contains("$site = 'Default Web Site'") && !ps.contains("Intranet"), "{ps}");
    assert_eq!(ps.matches("param(").count(), 1);

    // Secrets: admins only, one audit entry per site.
    let editor = format!("Bearer {}", app.token(Role::Editor, &[]));
    app.request(Method::GET, "/api/v1/config/iis?include_secrets=true", &[("authorization", &editor)], None)
        .await
        .problem(403, "forbidden");
    let with = app.get("/api/v1/config/powershell?include_secrets=true").await;
    assert_eq!(with.status, 200, "{}", with.text());
    assert_eq!(with.text().matches("Pa55-word-for-IIS").count(), 2);
    assert!(with.header("etag").is_none());
    for site in [s.contoso, s.fabrikam] {
        let audit = app.get(&format!("/api/v1/audit?site_id={site}")).await.json();
        assert_eq!(audit["items"][0]["action"], "secrets.read", "{audit}");
    }
    app.get("/api/v1/config/yaml").await.problem(404, "not-found");
}

#[actix_web::test]
async fn what_a_format_cannot_express_is_a_422_naming_the_site() {
    let app = TestApp::spawn().await;
    let s = seed(&app).await;
    let nameless = app.site(json!({"name": "No Names"})).await["id"].as_i64().unwrap();
    for format in ["nginx", "haproxy", "apache"] {
        let p = app.get(&format!("/api/v1/config/{format}")).await.problem(422, "format-cannot-express");
        let text = p.to_string();
        assert!(text.contains("No Names") && text.contains(&format!("id {nameless}")), "{format}: {text}");
    }
    // IIS tells sites apart by name alone: the site is simply there.
    assert!(app.get("/api/v1/config/iis").await.text().contains("<location path=\"No Names\">"));
    app.delete(&format!("/api/v1/sites/{nameless}"), &[]).await;

    // Two sites answering for the same host.
    app.patch(&format!("/api/v1/sites/{}", s.hidden), &[], &json!({"hostnames": ["a.fabrikam.net"]})).await;
    let p = app.get("/api/v1/config/nginx").await.problem(422, "format-cannot-express");
    assert!(p.to_string().contains("*.fabrikam.net") && p.to_string().contains("a.fabrikam.net"), "{p}");
    app.delete(&format!("/api/v1/sites/{}", s.hidden), &[]).await;

    // A many-to-one mapping Apache cannot express, on the second site: named, not dropped.
    let staff = json!({"name": "Staff", "user_name": "FABRIKAM\\staff",
        "rules": [{"certificate_field": "subject", "certificate_sub_field": "OU", "match_criteria": "Staff"}]});
    assert_eq!(app.post(&format!("/api/v1/sites/{}/many-to-one", s.fabrikam), &staff).await.status, 201);
    let p = app.get("/api/v1/config/apache").await.problem(422, "format-cannot-express");
    assert!(p.to_string().contains("Intranet") && p.to_string().contains("Staff"), "{p}");
    assert_eq!(app.get("/api/v1/config/nginx").await.status, 200, "nginx expresses many-to-one");
}

#[actix_web::test]
async fn the_ca_bundle_is_the_union_each_certificate_once() {
    let app = TestApp::spawn().await;
    let s = seed(&app).await;
    app.get("/api/v1/config/ca-bundle").await.problem(404, "not-found");
    let other = TestCa::new("Fabrikam Clients CA");
    put_cas(&app, s.contoso, &s.clients.cert.pem).await;
    put_cas(&app, s.fabrikam, &format!("{}{}", s.clients.cert.pem, other.cert.pem)).await;
    let res = app.get("/api/v1/config/ca-bundle").await;
    assert_eq!(res.status, 200, "{}", res.text());
    let pem = res.text();
    assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), 2, "{pem}");
    let etag = res.header("etag").unwrap().to_owned();
    let again = app.request(Method::GET, "/api/v1/config/ca-bundle", &[("if-none-match", &etag)], None).await;
    assert_eq!(again.status, 304);
}

/// Scratch files for the gateways: a server certificate and key, the client CA bundle and the
/// two clients' certificates.
struct Files(PathBuf);

impl Files {
    fn new(label: &str, s: &Seeded) -> Self {
        let dir = certmap_db::testdb::scratch_dir(label);
        std::fs::create_dir_all(&dir).unwrap();
        let server = TestCa::new("Servers CA").server();
        std::fs::write(dir.join("server.pem"), &server.pem).unwrap();
        std::fs::write(dir.join("server.key"), &server.key_pem).unwrap();
        std::fs::write(dir.join("server-with-key.pem"), format!("{}{}", server.pem, server.key_pem)).unwrap();
        for (name, cert) in [("alice", &s.alice), ("bob", &s.bob)] {
            std::fs::write(dir.join(format!("{name}.pem")), &cert.pem).unwrap();
            std::fs::write(dir.join(format!("{name}.key")), &cert.key_pem).unwrap();
        }
        Self(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }

    fn query(&self, port: u16, upstream: u16, server_cert: &str) -> String {
        format!(
            "listen=127.0.0.1:{port}&upstream=http://127.0.0.1:{upstream}&server_cert={}&server_key={}&ca_bundle={}",
            self.path(server_cert),
            self.path("server.key"),
            self.path("client-ca.pem")
        )
    }

    /// (status, body) of `https://host/path` through the gateway on `port`, as `client` (or no
    /// certificate), with a forged identity header. The server's own identity is not under test
    /// here (one test certificate cannot name every site), so it is not verified.
    fn get(&self, port: u16, host: &str, path: &str, client: Option<&str>) -> (u16, String) {
        let resolve = format!("{host}:{port}:127.0.0.1");
        curl(&["-k", "--resolve", &resolve], &self.0, client, &format!("https://{host}:{port}{path}"))
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn assert_tool(what: &str, out: std::process::Output, file: &str) {
    assert!(
        out.status.success(),
        "{what} refused the document:\n{}{}\n--- document ---\n{file}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn xmllint(xml: &str) {
    if !require(&["xmllint"]) {
        return;
    }
    let dir = certmap_db::testdb::scratch_dir("all-sites-xml");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("all.xml");
    std::fs::write(&file, xml).unwrap();
    assert_tool("xmllint", Command::new("xmllint").arg("--noout").arg(&file).output().unwrap(), xml);
    let _ = std::fs::remove_dir_all(&dir);
}

async fn fetch(app: &TestApp, format: &str, query: &str, file: &Path) -> String {
    let res = app.get(&format!("/api/v1/config/{format}?{query}")).await;
    assert_eq!(res.status, 200, "{}", res.text());
    std::fs::write(file, &res.body).unwrap();
    res.text()
}

/// Each site's own account, by host name; an unknown name and an unmapped certificate refused.
fn check_routing(files: &Files, port: u16) {
    let contoso = files.get(port, "www.contoso.com", "/secure/x", Some("alice"));
    assert_eq!(contoso, (200, "user=CONTOSO\\alice".into()));
    let fabrikam = files.get(port, "intranet.fabrikam.com", "/secure/x", Some("alice"));
    assert_eq!(fabrikam, (200, "user=FABRIKAM\\alice".into()));
    assert_eq!(files.get(port, "x.fabrikam.net", "/SECURE/x", Some("alice")).1, "user=FABRIKAM\\alice");
    assert_eq!(files.get(port, "www.contoso.com", "/secure/x", Some("bob")).0, 403);
    assert_eq!(files.get(port, "www.contoso.com", "/secure/x", None).0, 403);
    let (status, body) = files.get(port, "www.contoso.com", "/public", None);
    assert_eq!((status, body.as_str()), (200, "user=(none)"), "a forged header never reaches the upstream");
    let unknown = files.get(port, "unknown.example.org", "/public", Some("alice")).0;
    assert!([0, 421].contains(&unknown), "a name that is no site's is refused: {unknown}");
}

fn wait_until_serving(files: &Files, port: u16, gateway: &mut Gateway) {
    for _ in 0..200 {
        if files.get(port, "www.contoso.com", "/public", None).0 != 0 {
            return;
        }
        if let Ok(Some(status)) = gateway.0.try_wait() {
            panic!("the gateway exited: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the gateway never answered on port {port}");
}

async fn gateway_setup(label: &str) -> (TestApp, Seeded, Files) {
    let app = TestApp::spawn().await;
    let s = seed(&app).await;
    app.delete(&format!("/api/v1/sites/{}", s.hidden), &[]).await;
    put_cas(&app, s.contoso, &s.clients.cert.pem).await;
    let files = Files::new(label, &s);
    let bundle = app.get("/api/v1/config/ca-bundle").await;
    std::fs::write(files.0.join("client-ca.pem"), &bundle.body).unwrap();
    (app, s, files)
}

#[actix_web::test]
async fn nginx_serves_two_sites_from_one_file() {
    if !require(&["nginx", "curl"]) {
        return;
    }
    let (app, _s, files) = gateway_setup("all-nginx").await;
    let (port, upstream) = (free_port(), echo_upstream());
    let text = fetch(&app, "nginx", &files.query(port, upstream, "server.pem"), &files.0.join("certmap.conf")).await;
    let d = files.0.display();
    std::fs::write(
        files.0.join("nginx.conf"),
        format!(
            "daemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n include {d}/certmap.conf;\n}}\n"
        ),
    )
    .unwrap();
    let conf = files.path("nginx.conf");
    assert_tool(
        "nginx -t",
        Command::new("nginx").args(["-t", "-q", "-p"]).arg(&files.0).arg("-c").arg(&conf).output().unwrap(),
        &text,
    );
    let mut nginx = Gateway(
        Command::new("nginx").arg("-p").arg(&files.0).arg("-c").arg(&conf).stderr(Stdio::null()).spawn().unwrap(),
    );
    wait_until_serving(&files, port, &mut nginx);
    check_routing(&files, port);
}

#[actix_web::test]
async fn haproxy_serves_two_sites_from_one_frontend_and_one_map() {
    if !require(&["haproxy", "curl"]) {
        return;
    }
    let (app, _s, files) = gateway_setup("all-haproxy").await;
    let (port, upstream) = (free_port(), echo_upstream());
    let map = files.0.join("certmap.map");
    let map_text = fetch(&app, "haproxy-map", "", &map).await;
    assert!(map_text.contains("CONTOSO\\alice") && map_text.contains("FABRIKAM\\alice"), "{map_text}");
    let query =
        format!("{}&standalone=true&map_file={}", files.query(port, upstream, "server-with-key.pem"), map.display());
    let cfg = files.0.join("haproxy.cfg");
    let text = fetch(&app, "haproxy", &query, &cfg).await;
    assert_tool("haproxy -c", Command::new("haproxy").args(["-c", "-q", "-f"]).arg(&cfg).output().unwrap(), &text);
    let mut haproxy = spawn_haproxy(&cfg, Stdio::null());
    wait_until_serving(&files, port, &mut haproxy);
    check_routing(&files, port);
}

#[actix_web::test]
async fn apache_accepts_two_sites_in_one_file() {
    let apache = "/usr/sbin/apache2";
    if !require(&["apache2"]) {
        return;
    }
    let (app, _s, files) = gateway_setup("all-apache").await;
    let port = free_port();
    let text = fetch(&app, "apache", &files.query(port, 9, "server.pem"), &files.0.join("certmap-apache.conf")).await;
    assert_eq!(text.matches("<VirtualHost ").count(), 3, "a refusing default and one per site: {text}");
    let d = files.0.display();
    let mut conf = format!(
        "ServerRoot {d}\nDefaultRuntimeDir {d}\nPidFile {d}/httpd.pid\nErrorLog {d}/error.log\nServerName localhost\nListen 127.0.0.1:{port}\n"
    );
    for m in ["mpm_event", "authz_core", "ssl", "socache_shmcb", "headers", "env", "rewrite", "proxy", "proxy_http"] {
        conf.push_str(&format!("LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so\n"));
    }
    conf.push_str(&format!("Include {d}/certmap-apache.conf\n"));
    let file = files.0.join("httpd.conf");
    std::fs::write(&file, conf).unwrap();
    assert_tool("apache2 -t", Command::new(apache).arg("-t").arg("-f").arg(&file).output().unwrap(), &text);
}
