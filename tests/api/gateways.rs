//! The proof of the renderers: config fetched from the API, unmodified, in the real nginx and
//! HAProxy, with real client certificates and an upstream that reports what it received.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use certmap_tests::certs::{TestCa, TestCert};
use certmap_tests::TestApp;
use serde_json::json;

/// A test needing a program that is missing fails with the package to install.
pub(crate) use certmap_db::testtools::require;

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An upstream that answers every request with the X-Remote-User it received (or "(none)").
pub(crate) fn echo_upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut user = "(none)".to_owned();
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("x-remote-user") {
                        user = value.trim().to_owned();
                    }
                }
                line.clear();
            }
            let body = format!("user={user}");
            let mut stream = reader.into_inner();
            let _ =
                write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    port
}

/// (status, body) of a GET through a gateway, with `tls` telling curl whom to trust, as the client
/// whose `NAME.pem`/`NAME.key` are in `dir` (or none), with a forged identity header that must never
/// reach the upstream.
pub(crate) fn curl(tls: &[&str], dir: &Path, client: Option<&str>, url: &str) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}"])
        .args(tls)
        .args(["-H", "X-Remote-User: CONTOSO\\administrator"]);
    if let Some(name) = client {
        cmd.arg("--cert").arg(dir.join(format!("{name}.pem"))).arg("--key").arg(dir.join(format!("{name}.key")));
    }
    let out = cmd.arg(url).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

pub(crate) struct Pki {
    pub(crate) dir: PathBuf,
    pub(crate) clients: TestCa,
    pub(crate) alice: TestCert,
    pub(crate) bob: TestCert,
    expired: TestCert,
}

impl Pki {
    pub(crate) fn new(label: &str) -> Self {
        let dir = certmap_db::testdb::scratch_dir(label);
        std::fs::create_dir_all(&dir).unwrap();
        let clients = TestCa::new("Contoso Clients CA");
        let servers = TestCa::new("Contoso Servers CA");
        let server = servers.server();
        std::fs::write(dir.join("server.pem"), &server.pem).unwrap();
        std::fs::write(dir.join("server.key"), &server.key_pem).unwrap();
        std::fs::write(dir.join("server-with-key.pem"), format!("{}{}", server.pem, server.key_pem)).unwrap();
        std::fs::write(dir.join("servers-ca.pem"), &servers.cert.pem).unwrap();
        let (alice, bob, expired) = (clients.client("alice"), clients.client("bob"), clients.expired("old"));
        for (name, cert) in [("alice", &alice), ("bob", &bob), ("expired", &expired)] {
            std::fs::write(dir.join(format!("{name}.pem")), &cert.pem).unwrap();
            std::fs::write(dir.join(format!("{name}.key")), &cert.key_pem).unwrap();
        }
        Self { dir, clients, alice, bob, expired }
    }

    /// The options every gateway format shares: where it listens, what it fronts, its TLS files.
    pub(crate) fn gateway_query(&self, port: u16, upstream: u16, server_cert: &str) -> String {
        format!(
            "listen=127.0.0.1:{port}&upstream=http://127.0.0.1:{upstream}&server_cert={}&server_key={}&ca_bundle={}",
            self.path(server_cert),
            self.path("server.key"),
            self.path("client-ca.pem")
        )
    }

    /// Where a gateway's stderr goes, so a gateway that exits at start-up (a port taken between
    /// `free_port` and its bind, say) says why in the panic.
    pub(crate) fn stderr_file(&self) -> std::fs::File {
        std::fs::File::create(self.dir.join("gateway.stderr")).unwrap()
    }

    pub(crate) fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// (status, body) of a GET through the gateway, as `name`'s certificate (or none), with a
    /// forged identity header that must never reach the upstream.
    pub(crate) fn get(&self, port: u16, path: &str, client: Option<&str>) -> (u16, String) {
        let url = format!("https://127.0.0.1:{port}{path}");
        curl(&["--cacert", &self.path("servers-ca.pem")], &self.dir, client, &url)
    }

    pub(crate) fn wait_until_serving(&self, port: u16, gateway: &mut Gateway) {
        // A deadline, not a count: on a loaded 2-core CI machine nginx can take seconds to bind.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            if self.get(port, "/public", None).0 != 0 {
                return;
            }
            if let Ok(Some(status)) = gateway.0.try_wait() {
                let said = std::fs::read_to_string(self.dir.join("gateway.stderr")).unwrap_or_default();
                panic!("the gateway exited: {status}: {said}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the gateway never answered on port {port}");
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) struct Gateway(pub(crate) Child);

/// SIGTERM, so nginx's master takes its workers down with it (SIGKILL would orphan them).
impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The config as a user fetches it with curl, written where the gateway will read it.
pub(crate) async fn fetch_config(
    app: &TestApp,
    site: i64,
    format: &str,
    query: &str,
    file: &Path,
) -> certmap_tests::Response {
    let config = app.get(&format!("/api/v1/sites/{site}/config/{format}?{query}")).await;
    assert_eq!(config.status, 200, "{}", config.text());
    std::fs::write(file, &config.body).unwrap();
    config
}

/// The site the field report wanted: /secure needs a mapped certificate, /public does not.
pub(crate) async fn seed(app: &TestApp, pki: &Pki) -> i64 {
    let site = app.site(json!({"name": "Default Web Site", "certificate_mapping": {"enabled": true}})).await["id"]
        .as_i64()
        .unwrap();
    app.secured_directory(site, "/secure").await;
    app.post(&format!("/api/v1/sites/{site}/directories"), &json!({"path": "/public"})).await;
    app.mapping(site, json!({"certificate": pki.alice.pem, "user_name": "CONTOSO\\alice"})).await;
    app.mapping(site, json!({"certificate": pki.expired.pem, "user_name": "CONTOSO\\old", "allow_expired": true}))
        .await;
    let res = app
        .request(
            awc::http::Method::PUT,
            &format!("/api/v1/sites/{site}/trusted-cas"),
            &[("content-type", "application/x-pem-file")],
            Some(pki.clients.cert.pem.as_bytes()),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let bundle = app.get(&format!("/api/v1/sites/{site}/config/ca-bundle")).await;
    std::fs::write(pki.dir.join("client-ca.pem"), &bundle.body).unwrap();
    site
}

/// A private nginx around the rendered `certmap.conf`: pid, logs and temp paths in `dir`.
pub(crate) fn nginx_conf(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "daemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n include {d}/certmap.conf;\n}}\n"
    )
}

fn check(pki: &Pki, port: u16) {
    assert_eq!(
        pki.get(port, "/secure/page", Some("alice")),
        (200, "user=CONTOSO\\alice".into()),
        "alice maps, the forged header is replaced"
    );
    assert_eq!(pki.get(port, "/SECURE/page", Some("alice")).0, 200);
    assert_eq!(pki.get(port, "/secure/page", Some("bob")).0, 403, "bob is not mapped");
    assert_eq!(pki.get(port, "/secure/page", None).0, 403, "no certificate");
    // nginx answers a failed verification with 400, HAProxy refuses the handshake (0): never 200.
    let expired = pki.get(port, "/secure/page", Some("expired")).0;
    assert!([0, 400, 403].contains(&expired), "an expired certificate fails verification: {expired}");
    assert_eq!(pki.get(port, "/%73ecure/page", Some("bob")).0, 403, "an encoded path is still the secured directory");
    let (status, body) = pki.get(port, "/public/page", None);
    assert_eq!(status, 200);
    assert!(!body.contains("administrator"), "a forged header never reaches the upstream: {body}");
}

#[actix_web::test]
async fn nginx_serves_the_rendered_config_unmodified() {
    if !require(&["nginx", "curl"]) {
        return;
    }
    let app = TestApp::spawn().await;
    let pki = Pki::new("nginx");
    let site = seed(&app, &pki).await;
    let (port, upstream) = (free_port(), echo_upstream());
    let query = pki.gateway_query(port, upstream, "server.pem");
    fetch_config(&app, site, "nginx", &query, &pki.dir.join("certmap.conf")).await;
    let _nginx = start_nginx(&pki, port);
    check(&pki, port);
    let conf = pki.path("nginx.conf");

    // Disable alice through the API, fetch again, reload: she is refused without a hand edit.
    let alice_id = app.get(&format!("/api/v1/sites/{site}/mappings?user_name=CONTOSO%5Calice")).await.json()["items"]
        [0]["id"]
        .clone();
    app.patch(&format!("/api/v1/sites/{site}/mappings/{alice_id}"), &[], &json!({"enabled": false})).await;
    fetch_config(&app, site, "nginx", &query, &pki.dir.join("certmap.conf")).await;
    let reload =
        Command::new("nginx").args(["-s", "reload", "-p"]).arg(&pki.dir).arg("-c").arg(&conf).output().unwrap();
    assert!(reload.status.success(), "{}", String::from_utf8_lossy(&reload.stderr));
    let mut status = 0;
    for _ in 0..200 {
        status = pki.get(port, "/secure/page", Some("alice")).0;
        if status == 403 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(status, 403, "alice is refused once her mapping is disabled");
}

#[actix_web::test]
async fn haproxy_serves_the_rendered_config_unmodified() {
    if !require(&["haproxy", "curl"]) {
        return;
    }
    let app = TestApp::spawn().await;
    let pki = Pki::new("haproxy");
    let site = seed(&app, &pki).await;
    let port = free_port();
    let _haproxy = serve_haproxy(&app, &pki, site, port).await;
    check(&pki, port);
}

/// A self-contained httpd.conf around the rendered vhost: its own ServerRoot, pid file, logs and
/// runtime dir in the scratch directory, and only the modules the vhost needs. When the tests run
/// as root Apache's children switch to `User`; nobody/nogroup can read nothing of the scratch dir
/// it needs to (certificates and keys are loaded by the parent before it forks), and Apache refuses
/// to keep children as root. As any other user `User`/`Group` are ignored.
fn apache_conf(dir: &Path, port: u16) -> String {
    let d = dir.display();
    let mut conf = format!(
        "ServerRoot {d}\nDefaultRuntimeDir {d}\nPidFile {d}/httpd.pid\nErrorLog {d}/error.log\nServerName localhost\nListen 127.0.0.1:{port}\nUser nobody\nGroup nogroup\n"
    );
    for m in ["mpm_event", "authz_core", "ssl", "socache_shmcb", "headers", "env", "rewrite", "proxy", "proxy_http"] {
        conf.push_str(&format!("LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so\n"));
    }
    conf.push_str(&format!("Include {d}/certmap-apache.conf\n"));
    conf
}

#[actix_web::test]
async fn apache_serves_the_rendered_config_unmodified() {
    if !require(&["apache2", "curl"]) {
        return;
    }
    let app = TestApp::spawn().await;
    let pki = Pki::new("apache");
    let site = seed(&app, &pki).await;
    let (port, upstream) = (free_port(), echo_upstream());
    let query = pki.gateway_query(port, upstream, "server.pem");
    fetch_config(&app, site, "apache", &query, &pki.dir.join("certmap-apache.conf")).await;
    let _httpd = start_apache(&pki, port);
    check(&pki, port);
}

/// nginx on the `certmap.conf` in `pki.dir` (checked with `nginx -t` first), serving on `port`.
pub(crate) fn start_nginx(pki: &Pki, port: u16) -> Gateway {
    let mut nginx = spawn_nginx(pki, "");
    pki.wait_until_serving(port, &mut nginx);
    nginx
}

/// nginx on the main `nginx.conf` written into `pki.dir` around the rendered `certmap.conf`,
/// checked with `nginx -t` first (`rendered` is shown when that fails); not yet waited for.
pub(crate) fn spawn_nginx(pki: &Pki, rendered: &str) -> Gateway {
    std::fs::write(pki.dir.join("nginx.conf"), nginx_conf(&pki.dir)).unwrap();
    let conf = pki.path("nginx.conf");
    let test = Command::new("nginx").args(["-t", "-q", "-p"]).arg(&pki.dir).arg("-c").arg(&conf).output().unwrap();
    assert!(test.status.success(), "nginx -t: {}\n{rendered}", String::from_utf8_lossy(&test.stderr));
    Gateway(
        Command::new("nginx").arg("-p").arg(&pki.dir).arg("-c").arg(&conf).stderr(pki.stderr_file()).spawn().unwrap(),
    )
}

/// HAProxy on the standalone config and map file certmap renders for `site`, serving on `port`
/// in front of an echo upstream.
pub(crate) async fn serve_haproxy(app: &TestApp, pki: &Pki, site: i64, port: u16) -> Gateway {
    let map = app.get(&format!("/api/v1/sites/{site}/config/haproxy-map")).await;
    std::fs::write(pki.dir.join("certmap.map"), &map.body).unwrap();
    // HAProxy wants the key in the certificate's file.
    let query = format!(
        "{}&standalone=true&map_file={}",
        pki.gateway_query(port, echo_upstream(), "server-with-key.pem"),
        pki.path("certmap.map")
    );
    fetch_config(app, site, "haproxy", &query, &pki.dir.join("haproxy.cfg")).await;
    start_haproxy(pki, port)
}

/// HAProxy on the `haproxy.cfg` in `pki.dir` (checked with `haproxy -c` first), serving on `port`.
pub(crate) fn start_haproxy(pki: &Pki, port: u16) -> Gateway {
    let cfg = pki.dir.join("haproxy.cfg");
    let test = Command::new("haproxy").args(["-c", "-q", "-f"]).arg(&cfg).output().unwrap();
    assert!(
        test.status.success(),
        "haproxy -c: {}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
    let mut haproxy = spawn_haproxy(&cfg, pki.stderr_file());
    pki.wait_until_serving(port, &mut haproxy);
    haproxy
}

/// HAProxy in the foreground on `cfg`; not yet waited for.
pub(crate) fn spawn_haproxy(cfg: &Path, stderr: impl Into<Stdio>) -> Gateway {
    Gateway(Command::new("haproxy").arg("-db").arg("-f").arg(cfg).stdout(Stdio::null()).stderr(stderr).spawn().unwrap())
}

/// Apache on the `certmap-apache.conf` in `pki.dir` (checked with `apache2 -t` first), serving on
/// `port`.
pub(crate) fn start_apache(pki: &Pki, port: u16) -> Gateway {
    let apache = "/usr/sbin/apache2";
    let conf = pki.dir.join("httpd.conf");
    std::fs::write(&conf, apache_conf(&pki.dir, port)).unwrap();
    let test = Command::new(apache).arg("-t").arg("-f").arg(&conf).output().unwrap();
    assert!(test.status.success(), "apache2 -t: {}", String::from_utf8_lossy(&test.stderr));
    // -DFOREGROUND: the process we hold is the parent, which takes its children down on SIGTERM.
    let mut httpd = Gateway(
        Command::new(apache)
            .arg("-f")
            .arg(&conf)
            .arg("-DFOREGROUND")
            .stdout(Stdio::null())
            .stderr(pki.stderr_file())
            .spawn()
            .unwrap(),
    );
    pki.wait_until_serving(port, &mut httpd);
    httpd
}
