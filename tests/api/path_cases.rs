//! One table of request paths, run against authorize, resolve and the real nginx in both modes:
//! each path is secured, open, or refused with 400, and every one of them says the same
//! (issue 17 item 8). A second table does the same for a directory that accepts a certificate
//! without requiring it, with a certificate a Deny rule matches (item 9).

use std::process::Command;

use awc::http::Method;
use certmap::auth::Role;
use certmap::domain::client_identity::ClientIdentity;
use certmap_tests::TestApp;
use serde_json::json;

use crate::gateways::{echo_upstream, fetch_config, free_port, require, seed, spawn_nginx, Pki};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    /// Needs a mapped certificate: refused without one.
    Secured,
    Open,
    /// 400: a backend might read the path as another directory.
    Refused,
}

use Expect::{Open, Refused, Secured};

/// Raw request targets, as the client puts them on the request line.
const CASES: &[(&str, Expect)] = &[
    ("/secure/a", Secured),
    ("/SECURE/a", Secured),
    ("/%73ecure/a", Secured),
    ("/secure\\a", Secured),
    ("//secure//a", Secured),
    ("/secure", Secured),
    ("/public/a", Open),
    ("/public/a?x=/secure;..", Open),
    ("/%C3%A9t%C3%A9/a", Open),
    ("/securex", Open),
    // Path parameters: servlet containers strip them, `..;` becomes `..`.
    ("/secure;x=1/a", Refused),
    ("/public/..;/secure/a", Refused),
    // Dot segments, and escaping the root.
    ("/public/../secure/a", Refused),
    ("/secure/./a", Refused),
    ("/../secure/a", Refused),
    ("/public/%2e%2e/secure/a", Refused),
    // Windows: trailing dots and spaces are stripped, `::$DATA` is the file's stream.
    ("/secure./a", Refused),
    ("/secure%20/a", Refused),
    ("/secure::$DATA", Refused),
    // Encoded separators, double encoding, malformed escapes.
    ("/secure%2fa", Refused),
    ("/public%2f..%2fsecure/a", Refused),
    ("/public%5c..%5csecure/a", Refused),
    ("/%2573ecure/a", Refused),
    ("/secure%zz", Refused),
    // Control characters.
    ("/secure%09/a", Refused),
    ("/sec%00ure", Refused),
    // Case folding and NFKC to ASCII: long s, fullwidth s, the Kelvin sign; and no UTF-8.
    ("/%C5%BFecure/a", Refused),
    ("/%EF%BD%93ecure/a", Refused),
    ("/public/%E2%84%AA", Refused),
    ("/%E9t%E9", Refused),
];

/// The site of `gateways::seed` plus `/acc`, which accepts a certificate, and a Deny for bob.
async fn site(app: &TestApp, pki: &Pki) -> i64 {
    let site = seed(app, pki).await;
    let res = app
        .post(
            &format!("/api/v1/sites/{site}/directories"),
            &json!({"path": "/acc", "require_ssl": true, "client_certificates": "accept"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let res = app
        .post(
            &format!("/api/v1/sites/{site}/many-to-one"),
            &json!({"name": "no bob", "permission_mode": "deny",
            "rules": [{"certificate_field": "subject", "certificate_sub_field": "CN", "match_criteria": "bob"}]}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    site
}

/// nginx's `$ssl_client_escaped_cert`.
fn escaped(pem: &str) -> String {
    pem.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

async fn authorize(app: &TestApp, token: &str, uri: &str, pem: Option<&str>) -> certmap_tests::Response {
    let mut headers = vec![
        ("authorization", token.to_owned()),
        ("x-certmap-site", "Default Web Site".to_owned()),
        ("x-original-uri", uri.to_owned()),
    ];
    if let Some(pem) = pem {
        headers.push(("x-ssl-client-cert", escaped(pem)));
    }
    let refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    app.request(Method::GET, "/api/v1/authorize", &refs, None).await
}

/// `passes` from resolve, or the 422 on its `path` field (a body certmap will not decide; a
/// gateway's request to authorize gets 400).
async fn resolve(app: &TestApp, site: i64, uri: &str, pem: &str) -> Result<bool, u16> {
    let res = app.post(&format!("/api/v1/sites/{site}/resolve"), &json!({"certificate": pem, "path": uri})).await;
    if res.status == 422 {
        let p = res.problem(422, "path-not-canonical");
        assert_eq!(
            (p["errors"][0]["field"].as_str(), p["errors"][0]["code"].as_str()),
            (Some("path"), Some("path-not-canonical")),
            "{p}"
        );
        return Err(422);
    }
    assert_eq!(res.status, 200, "{uri}: {}", res.text());
    Ok(res.json()["access"]["passes"].as_bool().unwrap_or_else(|| panic!("{uri}: {}", res.text())))
}

#[actix_web::test]
async fn authorize_and_resolve_decide_every_path_alike() {
    let app = TestApp::spawn().await;
    let pki = Pki::new("path-cases-api");
    let site = site(&app, &pki).await;
    let token = format!("Bearer {}", app.token(Role::Gateway, &[]));
    for &(uri, expect) in CASES {
        let res = authorize(&app, &token, uri, None).await;
        let got = match res.status {
            401 => Secured,
            200 => Open,
            400 => {
                let p = res.problem(400, "path-not-canonical");
                assert_eq!(p["errors"][0]["field"], "x-original-uri", "{p}");
                Refused
            }
            other => panic!("{uri}: authorize answered {other}: {}", res.text()),
        };
        assert_eq!(got, expect, "authorize {uri}");
        let got = match resolve(&app, site, uri, &pki.bob.pem).await {
            Ok(true) => Open,
            Ok(false) => Secured,
            Err(_) => Refused,
        };
        assert_eq!(got, expect, "resolve {uri}");
    }
}

/// (path, client, passes): on `/acc`, a Deny refuses as on `/secure`; a mapped certificate names
/// its account; anything else passes anonymously.
const ACCEPT_CASES: &[(&str, Option<&str>, bool)] = &[
    ("/acc/x", Some("bob"), false),
    ("/acc/x", Some("alice"), true),
    ("/acc/x", None, true),
    ("/secure/x", Some("bob"), false),
    ("/public/x", Some("bob"), true),
];

fn pem_of<'a>(pki: &'a Pki, who: &str) -> &'a str {
    match who {
        "alice" => &pki.alice.pem,
        "bob" => &pki.bob.pem,
        other => panic!("{other}"),
    }
}

#[actix_web::test]
async fn a_deny_refuses_where_certificates_are_only_accepted() {
    let app = TestApp::spawn().await;
    let pki = Pki::new("path-cases-accept");
    let site = site(&app, &pki).await;
    let token = format!("Bearer {}", app.token(Role::Gateway, &[]));
    for &(uri, who, passes) in ACCEPT_CASES {
        let res = authorize(&app, &token, uri, who.map(|w| pem_of(&pki, w))).await;
        assert_eq!(res.status == 200, passes, "authorize {uri} as {who:?}: {} {}", res.status, res.text());
        if !passes {
            res.problem(403, "client-certificate-refused");
        }
        if let Some(who) = who {
            assert_eq!(resolve(&app, site, uri, pem_of(&pki, who)).await, Ok(passes), "resolve {uri} as {who}");
        }
    }
}

/// (status, body) of a request whose target is sent byte for byte (`--request-target`).
fn raw_get(pki: &Pki, port: u16, target: &str, client: Option<&str>) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}", "--path-as-is", "--cacert"])
        .arg(pki.path("servers-ca.pem"))
        .arg("--request-target")
        .arg(target)
        .arg("--resolve")
        .arg(format!("localhost:{port}:127.0.0.1"));
    if let Some(name) = client {
        cmd.arg("--cert")
            .arg(pki.dir.join(format!("{name}.pem")))
            .arg("--key")
            .arg(pki.dir.join(format!("{name}.key")));
    }
    let out = cmd.arg(format!("https://localhost:{port}/")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

async fn nginx_decides_every_path_alike(authorize_mode: bool) {
    if !require(&["nginx", "curl"]) {
        return;
    }
    let app = TestApp::spawn().await;
    let pki = Pki::new(&format!("path-cases-nginx-{authorize_mode}"));
    let site = site(&app, &pki).await;
    let (port, upstream) = (free_port(), echo_upstream());
    let mut query = pki.gateway_query(port, upstream, "server.pem");
    if authorize_mode {
        let token = app.token_declaring(Role::Gateway, ClientIdentity::Nginx);
        let file = pki.path("authorize-token.conf");
        std::fs::write(&file, format!("proxy_set_header Authorization \"Bearer {token}\";\n")).unwrap();
        query.push_str(&format!("&mode=authorize&certmap=http://{}&token_file={file}", app.addr));
    }
    let text = fetch_config(&app, site, "nginx", &query, &pki.dir.join("certmap.conf")).await.text();
    let mut nginx = spawn_nginx(&pki, &text);
    pki.wait_until_serving(port, &mut nginx);
    table_through(&pki, port, &format!("nginx (authorize mode: {authorize_mode})"), &[401, 403], &[400]);
    for &(target, who, passes) in ACCEPT_CASES {
        let (status, body) = raw_get(&pki, port, target, who);
        assert_eq!(
            status == 200,
            passes,
            "nginx (authorize mode: {authorize_mode}) {target} as {who:?}: {status} {body}"
        );
        if passes && who == Some("alice") {
            assert_eq!(body, "user=CONTOSO\\alice", "a mapped certificate names its account where it is accepted");
        }
    }
}

#[actix_web::test]
async fn nginx_map_mode_decides_every_path_alike() {
    nginx_decides_every_path_alike(false).await;
}

#[actix_web::test]
async fn nginx_authorize_mode_decides_every_path_alike() {
    nginx_decides_every_path_alike(true).await;
}

/// HAProxy cannot express many-to-one rules, so its site is `seed`'s alone: the path table only.
#[actix_web::test]
async fn haproxy_decides_every_path_alike() {
    if !require(&["haproxy", "curl"]) {
        return;
    }
    let app = TestApp::spawn().await;
    let pki = Pki::new("path-cases-haproxy");
    let site = seed(&app, &pki).await;
    let port = free_port();
    let _haproxy = crate::gateways::serve_haproxy(&app, &pki, site, port).await;
    table_through(&pki, port, "HAProxy", &[403], &[400]);
}

/// Every case of [`CASES`] through the gateway on `port`, without a certificate: `secured` are
/// the statuses it refuses a secured path with, `refused` those it refuses a path with (400, and
/// for Apache 404 too: it answers a `%00` itself, before any module runs; the upstream answers
/// 200 to everything, so a 404 is the gateway's own; for Caddy 0 too: Go's HTTP/2 server resets
/// the stream of a malformed escape without an answer).
fn table_through(pki: &Pki, port: u16, gateway: &str, secured: &[u16], refused: &[u16]) {
    for &(target, expect) in CASES {
        let (status, body) = raw_get(pki, port, target, None);
        let got = match status {
            200 => Open,
            s if refused.contains(&s) => Refused,
            s if secured.contains(&s) => Secured,
            other => panic!("{target}: {gateway} answered {other}: {body}"),
        };
        assert_eq!(got, expect, "{gateway} {target}: {body}");
    }
}

/// Apache cannot express many-to-one rules either: the path table only.
#[actix_web::test]
async fn apache_decides_every_path_alike() {
    if !require(&["apache2", "curl"]) {
        return;
    }
    let app = TestApp::spawn().await;
    let pki = Pki::new("path-cases-apache");
    let site = seed(&app, &pki).await;
    let (port, upstream) = (free_port(), echo_upstream());
    let query = pki.gateway_query(port, upstream, "server.pem");
    fetch_config(&app, site, "apache", &query, &pki.dir.join("certmap-apache.conf")).await;
    let _httpd = crate::gateways::start_apache(&pki, port);
    table_through(&pki, port, "Apache", &[403], &[400, 404]);
}

/// Caddy's map cannot express many-to-one rules: `seed`'s site, in both modes.
async fn caddy_decides_every_path_alike(authorize_mode: bool) {
    use crate::per_request::start_caddy;
    if !require(&["caddy", "curl"]) {
        return;
    }
    let app = TestApp::spawn().await;
    let pki = Pki::new(&format!("path-cases-caddy-{authorize_mode}"));
    let site = seed(&app, &pki).await;
    let (port, upstream) = (free_port(), echo_upstream());
    let mut query = pki.gateway_query(port, upstream, "server.pem");
    if authorize_mode {
        let token = app.token_declaring(Role::Gateway, ClientIdentity::Caddy);
        let file = pki.path("authorize-token.conf");
        std::fs::write(&file, format!("header_up Authorization \"Bearer {token}\"\n")).unwrap();
        query.push_str(&format!("&mode=authorize&certmap=http://{}&token_file={file}", app.addr));
    }
    let rendered = pki.dir.join("certmap.Caddyfile");
    let text = fetch_config(&app, site, "caddy", &query, &rendered).await.text();
    let mut caddy = start_caddy(&pki.dir, &rendered, &text);
    pki.wait_until_serving(port, &mut caddy);
    table_through(&pki, port, &format!("Caddy (authorize mode: {authorize_mode})"), &[401, 403], &[400, 0]);
}

#[actix_web::test]
async fn caddy_map_mode_decides_every_path_alike() {
    caddy_decides_every_path_alike(false).await;
}

#[actix_web::test]
async fn caddy_authorize_mode_decides_every_path_alike() {
    caddy_decides_every_path_alike(true).await;
}
