//! The rendered gateway configs with `crl_file`, run unmodified: nginx, HAProxy and Apache refuse
//! a revoked client certificate themselves (a verification failure, not the mapping's 403) and
//! let alice through.

use std::path::Path;

use time::OffsetDateTime;

use super::gateways::{
    echo_upstream, fetch_config, free_port, require, seed, start_apache, start_haproxy, start_nginx, Pki,
};
use certmap_tests::TestApp;
use serde_json::json;

/// The site of the gateway tests with bob mapped too and revoked by an uploaded CRL, the CRL file
/// fetched from `config/crl`; returns the site and the options naming the CRL file.
async fn revoked_bob(app: &TestApp, pki: &Pki, port: u16, server_cert: &str) -> (i64, String) {
    let site = seed(app, pki).await;
    app.mapping(site, json!({"certificate": pki.bob.pem, "user_name": "CONTOSO\\bob"})).await;
    let crl = pki.clients.crl(1, OffsetDateTime::now_utc(), &[&pki.bob]);
    let uploaded = app
        .request(awc::http::Method::POST, "/api/v1/crls", &[("content-type", "application/pkix-crl")], Some(&crl))
        .await;
    assert_eq!(uploaded.status, 200, "{}", uploaded.text());
    let file = app.get(&format!("/api/v1/sites/{site}/config/crl")).await;
    assert_eq!(file.status, 200, "{}", file.text());
    assert!(file.text().starts_with("-----BEGIN X509 CRL-----"), "{}", file.text());
    std::fs::write(pki.dir.join("crl.pem"), &file.body).unwrap();
    let query = format!("{}&crl_file={}", pki.gateway_query(port, echo_upstream(), server_cert), pki.path("crl.pem"));
    (site, query)
}

/// alice passes as herself; bob fails verification at the gateway: nginx answers 400, HAProxy and
/// Apache refuse the handshake (curl reports 0). A 403 would mean only the map refused him.
fn check(pki: &Pki, port: u16) {
    assert_eq!(pki.get(port, "/secure/page", Some("alice")), (200, "user=CONTOSO\\alice".into()));
    let bob = pki.get(port, "/secure/page", Some("bob")).0;
    assert!([0, 400].contains(&bob), "bob's revoked certificate fails verification at the gateway: {bob}");
}

#[actix_web::test]
async fn nginx_refuses_a_revoked_certificate_with_the_crl_file() {
    if !require(&["nginx", "curl"]) {
        return;
    }
    let app = TestApp::spawn().await;
    let pki = Pki::new("nginx-crl");
    let port = free_port();
    let (site, query) = revoked_bob(&app, &pki, port, "server.pem").await;
    let config = fetch_config(&app, site, "nginx", &query, &pki.dir.join("certmap.conf")).await;
    assert!(config.text().contains(&format!("ssl_crl {};", pki.path("crl.pem"))), "{}", config.text());
    let _nginx = start_nginx(&pki, port);
    check(&pki, port);
}

#[actix_web::test]
async fn haproxy_refuses_a_revoked_certificate_with_the_crl_file() {
    if !require(&["haproxy", "curl"]) {
        return;
    }
    let app = TestApp::spawn().await;
    let pki = Pki::new("haproxy-crl");
    let port = free_port();
    let (site, query) = revoked_bob(&app, &pki, port, "server-with-key.pem").await;
    let map = app.get(&format!("/api/v1/sites/{site}/config/haproxy-map")).await;
    std::fs::write(pki.dir.join("certmap.map"), &map.body).unwrap();
    let query = format!("{query}&standalone=true&map_file={}", pki.path("certmap.map"));
    let config = fetch_config(&app, site, "haproxy", &query, &pki.dir.join("haproxy.cfg")).await;
    assert!(config.text().contains(&format!("crl-file {}", pki.path("crl.pem"))), "{}", config.text());
    let _haproxy = start_haproxy(&pki, port);
    check(&pki, port);
}

#[actix_web::test]
async fn apache_refuses_a_revoked_certificate_with_the_crl_file() {
    if !require(&["curl"]) {
        return;
    }
    assert!(
        Path::new("/usr/sbin/apache2").exists(),
        "apache2 is not installed: apt-get install apache2 (.ci/run does)"
    );
    let app = TestApp::spawn().await;
    let pki = Pki::new("apache-crl");
    let port = free_port();
    let (site, query) = revoked_bob(&app, &pki, port, "server.pem").await;
    let config = fetch_config(&app, site, "apache", &query, &pki.dir.join("certmap-apache.conf")).await;
    assert!(config.text().contains("SSLCARevocationCheck chain"), "{}", config.text());
    let _httpd = start_apache(&pki, port);
    check(&pki, port);
}
