//! The proof of per-request mode and of the Caddy format: config fetched from the API and run
//! unmodified in the real nginx and Caddy, in both modes, with real client certificates, an
//! upstream that reports every header it received, and clients that forge identity headers.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use certmap::auth::Role;
use certmap::domain::client_identity::ClientIdentity;
use certmap_tests::TestApp;
use serde_json::json;

use crate::gateways::{free_port, seed, spawn_nginx, Gateway, Pki};

/// An upstream that answers with every request header it received, one `name: value` a line,
/// names in lower case.
fn echo_headers() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut body = String::new();
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                if let Some((name, value)) = line.split_once(':') {
                    body.push_str(&format!("{}: {}\n", name.to_ascii_lowercase(), value.trim()));
                }
                line.clear();
            }
            let mut stream = reader.into_inner();
            let _ =
                write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    port
}

fn require(binary: &str, package: &str) {
    let found = Command::new("sh").args(["-c", &format!("command -v {binary}")]).output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "{binary} is not installed: apt-get install -y {package} (.ci/run installs it)"
    );
}

/// What a client without alice's key could send: her fingerprint, her certificate in every form
/// a gateway might pass it, and her account.
struct Forged(Vec<(String, String)>);

impl Forged {
    fn of_alice(pki: &Pki, sha256: &str, sha1: &str) -> Self {
        let pem = std::fs::read_to_string(pki.dir.join("alice.pem")).unwrap();
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD.decode(&b64).unwrap();
        let escaped: String = pem
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect();
        let std64 = base64::engine::general_purpose::STANDARD.encode(&der);
        Self(
            [
                ("X-SSL-Client-SHA256", sha256.to_owned()),
                ("X-SSL-Client-SHA1", sha1.to_owned()),
                ("X-SSL-Client-Cert", escaped),
                ("X-Caddy-Client-Cert", std64.clone()),
                ("X-Forwarded-Tls-Client-Cert", std64.clone()),
                ("X-SSL-Client-DER", std64.clone()),
                ("Client-Cert", format!(":{std64}:")),
                ("X-Forwarded-Client-Cert", format!("Hash={sha256}")),
                ("X-Remote-User", "CONTOSO\\alice".to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        )
    }
}

/// (status, body) of a GET through the gateway as `client` (or no certificate), with `headers`.
fn get(pki: &Pki, port: u16, path: &str, client: Option<&str>, headers: &[(String, String)]) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}", "--cacert"])
        .arg(pki.path("servers-ca.pem"));
    for (k, v) in headers {
        cmd.arg("-H").arg(format!("{k}: {v}"));
    }
    if let Some(name) = client {
        cmd.arg("--cert")
            .arg(pki.dir.join(format!("{name}.pem")))
            .arg("--key")
            .arg(pki.dir.join(format!("{name}.key")));
    }
    // By name, so SNI and Host agree: Caddy answers 421 when they differ on a site with client auth.
    cmd.arg("--resolve").arg(format!("localhost:{port}:127.0.0.1"));
    let out = cmd.arg(format!("https://localhost:{port}{path}")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

fn wait_until_serving(pki: &Pki, port: u16, gateway: &mut Gateway) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if get(pki, port, "/public", None, &[]).0 != 0 {
            return;
        }
        if let Ok(Some(status)) = gateway.0.try_wait() {
            panic!("the gateway exited: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the gateway never answered on port {port}");
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Map,
    Authorize,
}

/// Everything the issue asks of a gateway, in either mode.
async fn prove(app: &TestApp, pki: &Pki, site: i64, port: u16, mode: Mode, clears_identity_on_public: bool) {
    let alice = &app.get(&format!("/api/v1/sites/{site}/mappings?user_name=CONTOSO%5Calice")).await.json()["items"][0];
    let forged = Forged::of_alice(pki, alice["sha256"].as_str().unwrap(), alice["sha1"].as_str().unwrap());
    let (status, body) = get(pki, port, "/secure/page", Some("alice"), &forged.0[8..]);
    assert_eq!(status, 200, "{mode:?}: alice passes: {body}");
    assert!(
        body.contains("x-remote-user: CONTOSO\\alice\n"),
        "{mode:?}: as her account, the forged one replaced: {body}"
    );
    assert_eq!(body.matches("x-remote-user:").count(), 1, "{body}");
    assert_eq!(get(pki, port, "/SECURE/page", Some("alice"), &[]).0, 200, "{mode:?}: paths are caseless, as in IIS");

    assert_eq!(get(pki, port, "/secure/page", Some("bob"), &[]).0, 403, "{mode:?}: bob is not mapped");
    assert_eq!(get(pki, port, "/secure/page", Some("bob"), &forged.0).0, 403, "{mode:?}: bob cannot borrow alice");
    assert_eq!(get(pki, port, "/%73ecure/page", Some("bob"), &[]).0, 403, "{mode:?}: an encoded path is still secured");
    let none = get(pki, port, "/secure/page", None, &[]).0;
    assert!([401, 403].contains(&none), "{mode:?}: no certificate is refused: {none}");
    for header in &forged.0 {
        let (status, body) = get(pki, port, "/secure/page", None, std::slice::from_ref(header));
        assert!([401, 403].contains(&status), "{mode:?}: no certificate but a forged {header:?}: {status} {body}");
    }
    let (status, body) = get(pki, port, "/secure/page", None, &forged.0);
    assert!([401, 403].contains(&status), "{mode:?}: every forged header at once: {status} {body}");

    let (status, body) = get(pki, port, "/public/page", None, &forged.0);
    assert_eq!(status, 200, "{mode:?}: {body}");
    assert!(!body.contains("x-remote-user"), "{mode:?}: a forged user never reaches the upstream: {body}");
    if clears_identity_on_public {
        for (name, value) in &forged.0 {
            assert!(!body.contains(value.as_str()), "{mode:?}: the forged {name} reached the upstream: {body}");
        }
    }
    let expired = get(pki, port, "/secure/page", Some("expired"), &[]).0;
    assert!([0, 400, 401, 403].contains(&expired), "{mode:?}: an expired certificate never passes: {expired}");

    if mode == Mode::Authorize {
        // Disabled through the API, refused on her next request: no render, no reload.
        app.patch(&format!("/api/v1/sites/{site}/mappings/{}", alice["id"]), &[], &json!({"enabled": false})).await;
        // The change reaches the cache by NOTIFY, a moment after the commit: poll, do not sleep.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut status = 200;
        while status == 200 && Instant::now() < deadline {
            status = get(pki, port, "/secure/page", Some("alice"), &[]).0;
        }
        assert_eq!(status, 403, "alice is refused once her mapping is disabled");
    }
}

/// One gateway under test: its site seeded, its config fetched (unmodified, as a user fetches it)
/// into `file`, on a free port in front of an upstream that echoes headers.
struct Setup {
    app: TestApp,
    pki: Pki,
    site: i64,
    port: u16,
    /// The fetched config.
    text: String,
}

/// In per-request mode the gateway's token (declaring `form`) goes into the file the config
/// includes, written as `token_line` writes it; it must never appear in the rendered text.
async fn setup(format: &str, mode: Mode, form: ClientIdentity, token_line: fn(&str) -> String, file: &str) -> Setup {
    let app = TestApp::spawn().await;
    let pki = Pki::new(&format!("per-request-{format}-{mode:?}"));
    let site = seed(&app, &pki).await;
    let (port, upstream) = (free_port(), echo_headers());
    let mut query = pki.gateway_query(port, upstream, "server.pem");
    let mut token = None;
    if mode == Mode::Authorize {
        let secret = app.token_declaring(Role::Gateway, form);
        let path = pki.path("authorize-token.conf");
        std::fs::write(&path, token_line(&secret)).unwrap();
        query.push_str(&format!("&mode=authorize&certmap=http://{}&token_file={path}", app.addr));
        token = Some(secret);
    }
    let config = app.get(&format!("/api/v1/sites/{site}/config/{format}?{query}")).await;
    assert_eq!(config.status, 200, "{}", config.text());
    std::fs::write(pki.dir.join(file), &config.body).unwrap();
    let text = config.text();
    assert!(token.is_none_or(|t| !text.contains(&t)), "the token is never in the rendered file");
    Setup { app, pki, site, port, text }
}

async fn run_nginx(mode: Mode) {
    require("nginx", "nginx");
    require("curl", "curl");
    let line = |t: &str| format!("proxy_set_header Authorization \"Bearer {t}\";\n");
    let Setup { app, pki, site, port, text } = setup("nginx", mode, ClientIdentity::Nginx, line, "certmap.conf").await;
    let mut nginx = spawn_nginx(&pki, &text);
    wait_until_serving(&pki, port, &mut nginx);
    // Map mode leaves identity headers other than the user's to the upstream, byte for byte as before.
    prove(&app, &pki, site, port, mode, mode == Mode::Authorize).await;
}

#[actix_web::test]
async fn nginx_map_mode() {
    run_nginx(Mode::Map).await;
}

#[actix_web::test]
async fn nginx_per_request_mode() {
    run_nginx(Mode::Authorize).await;
}

/// A main Caddyfile around the rendered one: no admin endpoint, no HTTP redirect listener, and
/// Caddy's own files in the scratch directory.
pub(crate) fn caddy_main(dir: &Path) -> String {
    format!(
        "{{\n\tadmin off\n\tauto_https disable_redirects\n\tstorage file_system {}\n}}\nimport {}\n",
        dir.join("caddy-data").display(),
        dir.join("certmap.Caddyfile").display()
    )
}

/// Caddy running `rendered` (checked with `caddy validate` first; `text` is shown when it fails)
/// under the test's main Caddyfile in `dir`; not yet waited for.
pub(crate) fn start_caddy(dir: &Path, rendered: &Path, text: &str) -> Gateway {
    let validate = caddy(dir, &["validate", "--adapter", "caddyfile", "--config"]).arg(rendered).output().unwrap();
    assert!(validate.status.success(), "caddy validate: {}\n{text}", String::from_utf8_lossy(&validate.stderr));
    let main = dir.join("Caddyfile");
    std::fs::write(&main, caddy_main(dir)).unwrap();
    Gateway(
        caddy(dir, &["run", "--adapter", "caddyfile", "--config"])
            .arg(&main)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

pub(crate) fn caddy(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("caddy");
    cmd.args(args).env("HOME", dir).env("XDG_DATA_HOME", dir).env("XDG_CONFIG_HOME", dir);
    cmd
}

async fn run_caddy(mode: Mode) {
    require("caddy", "caddy");
    require("curl", "curl");
    let line = |t: &str| format!("header_up Authorization \"Bearer {t}\"\n");
    let Setup { app, pki, site, port, text } =
        setup("caddy", mode, ClientIdentity::Caddy, line, "certmap.Caddyfile").await;
    let rendered = pki.dir.join("certmap.Caddyfile");
    let mut caddy = start_caddy(&pki.dir, &rendered, &text);
    wait_until_serving(&pki, port, &mut caddy);
    prove(&app, &pki, site, port, mode, true).await;
}

#[actix_web::test]
async fn caddy_map_mode() {
    run_caddy(Mode::Map).await;
}

#[actix_web::test]
async fn caddy_per_request_mode() {
    run_caddy(Mode::Authorize).await;
}

#[actix_web::test]
async fn formats_that_cannot_ask_per_request_say_why() {
    let app = TestApp::spawn().await;
    let site = app.site(json!({"name": "Default Web Site", "certificate_mapping": {"enabled": true}})).await["id"]
        .as_i64()
        .unwrap();
    for format in ["iis", "powershell", "haproxy", "haproxy-map", "apache"] {
        let res = app.get(&format!("/api/v1/sites/{site}/config/{format}?mode=authorize")).await;
        let p = res.problem(422, "format-cannot-express");
        assert!(p["detail"].as_str().unwrap().contains("per-request"), "{format}: {p:#}");
        let all = app.get(&format!("/api/v1/config/{format}?mode=authorize")).await;
        all.problem(422, "format-cannot-express");
    }
    app.get(&format!("/api/v1/sites/{site}/config/nginx?mode=sometimes")).await.problem(422, "invalid-option");
    let res = app.get(&format!("/api/v1/sites/{site}/config/nginx?mode=authorize&certmap_auth=mtls")).await;
    let p = res.problem(422, "invalid-option");
    assert!(p["detail"].as_str().unwrap().contains("https"), "{p:#}");
    let map = app.get(&format!("/api/v1/sites/{site}/config/nginx")).await;
    let explicit = app.get(&format!("/api/v1/sites/{site}/config/nginx?mode=map")).await;
    assert_eq!(map.body, explicit.body, "map is the default mode");
}

/// Traefik's ForwardAuth cannot set a header from the request: it sends the URI as its own
/// `X-Forwarded-Uri` (set over any client copy) and passes the client's headers through, so a
/// traefik credential is decided on that, never on a client-sent `X-Original-URI`.
#[actix_web::test]
async fn traefik_is_decided_on_the_uri_traefik_sends() {
    let app = TestApp::spawn().await;
    let site = app.site(json!({"name": "Default Web Site", "certificate_mapping": {"enabled": true}})).await["id"]
        .as_i64()
        .unwrap();
    app.secured_directory(site, "/secure").await;
    let token = format!("Bearer {}", app.token_declaring(Role::Gateway, ClientIdentity::Traefik));
    let forged = ask_with(&app, &token, &[("x-forwarded-uri", "/secure/page"), ("x-original-uri", "/public")]).await;
    forged.problem(401, "client-certificate-required");
    ask_with(&app, &token, &[("x-forwarded-uri", "/SECURE/x")]).await.problem(401, "client-certificate-required");
    assert_eq!(ask_with(&app, &token, &[("x-forwarded-uri", "/public")]).await.status, 200);
}

async fn ask_with(app: &TestApp, token: &str, uris: &[(&str, &str)]) -> certmap_tests::Response {
    let mut headers = vec![("authorization", token), ("x-certmap-site", "Default Web Site")];
    headers.extend_from_slice(uris);
    app.request(awc::http::Method::GET, "/api/v1/authorize", &headers, None).await
}
