//! The `certmap` binary itself: it serves, logs no secret, stops cleanly on SIGTERM, and rotates
//! its password key.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use certmap::secrets::{SecretKeys, SecretKind, SecretOwner};
use certmap_db::testdb::{self, scratch_dir};
use diesel::prelude::*;

const BIN: &str = env!("CARGO_BIN_EXE_certmap");
const PASSWORD: &str = "Tr0ub4dor&3-never-in-logs";

fn request_head(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], length: usize) -> String {
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {length}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// A minimal HTTP/1.1 exchange, so this test depends on nothing but the binary.
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request_head(addr, method, path, headers, body.len()).as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Server {
    fn start(url: &str, data_dir: &std::path::Path) -> (Self, String) {
        let mut command = Command::new(BIN);
        command.args(["serve", "--listen", "127.0.0.1:0", "--database-url", url, "--data-dir"]).arg(data_dir);
        Self::spawn(command).expect("the server starts")
    }

    /// The server's first lines until it listens; Err with everything it printed if it exits first.
    fn spawn(mut command: Command) -> Result<(Self, String), String> {
        let mut child = command
            .env("CERTMAP_LOG", "debug")
            .env_remove("CERTMAP_JWT_SECRET")
            .env_remove("CERTMAP_SECRET_KEY")
            .env_remove("CERTMAP_SECRET_KEY_OLD")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        for pipe in
            [Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>, Box::new(child.stderr.take().unwrap())]
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                BufReader::new(pipe).lines().map_while(Result::ok).for_each(|l| drop(tx.send(l)))
            });
        }
        // Only the readers hold senders: the channel ends when the process has closed both pipes.
        drop(tx);
        let mut server = Self { child, lines, log: Vec::new() };
        let addr = loop {
            let Ok(line) = server.lines.recv_timeout(Duration::from_secs(60)) else {
                let _ = server.child.wait();
                let log = std::mem::take(&mut server.log);
                return Err(server.drain(log));
            };
            server.log.push(line.clone());
            if let Some(rest) = line.split("listening on http://").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        Ok((server, addr))
    }

    /// SIGTERM, then everything it printed.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        let status = self.child.wait().unwrap();
        let log = std::mem::take(&mut self.log);
        (status, self.drain(log))
    }

    fn drain(&self, mut log: Vec<String>) -> String {
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            log.push(line);
        }
        log.join("\n")
    }
}

/// A failed assertion must not leave the server running.
impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The one stored password, and the row it belongs to.
fn stored_password(url: &str) -> (SecretOwner, Vec<u8>) {
    let mut conn = PgConnection::establish(url).unwrap();
    let (site_id, id, blob) = certmap_db::queries::mappings::passwords(&mut conn).unwrap().remove(0);
    (SecretOwner { kind: SecretKind::OneToOne, site_id, id }, blob)
}

#[test]
fn serves_logs_no_secret_stops_on_sigterm_and_rotates_the_key() {
    let db = testdb::server().create_database();
    let data_dir = scratch_dir("binary");
    let (server, addr) = Server::start(db.url(), &data_dir);

    // Nothing answers without a token; `certmap token issue` signs one with the server's own secret.
    let (status, body) = http(&addr, "GET", "/api/v1/sites", &[], b"");
    assert_eq!(status, 401, "{body}");
    let out = Command::new(BIN)
        .args(["token", "issue", "--role", "admin", "--ttl", "10m", "--data-dir"])
        .arg(&data_dir)
        .env_remove("CERTMAP_JWT_SECRET")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bearer = format!("Bearer {}", String::from_utf8(out.stdout).unwrap().trim());
    let json = [("Content-Type", "application/json"), ("Authorization", bearer.as_str())];
    let (status, body) = http(
        &addr,
        "POST",
        "/api/v1/sites",
        &json,
        br#"{"name": "Default Web Site", "certificate_mapping": {"enabled": true}}"#,
    );
    assert_eq!(status, 201, "{body}");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["alice.contoso.com".into()]).unwrap().self_signed(&key).unwrap();
    let (status, body) = http(
        &addr,
        "POST",
        "/api/v1/sites/1/mappings?user_name=CONTOSO%5Calice",
        &[
            ("Content-Type", "application/x-pem-file"),
            ("X-Certmap-Password", PASSWORD),
            ("Authorization", bearer.as_str()),
        ],
        cert.pem().as_bytes(),
    );
    assert_eq!(status, 201, "{body}");
    assert!(!body.contains(PASSWORD));
    // A refused password is not echoed either.
    let bad = format!(r#"{{"certificate": {:?}, "user_name": "bob", "password": "{PASSWORD}\u0000"}}"#, cert.pem());
    let (status, body) = http(&addr, "POST", "/api/v1/sites/1/mappings", &json, bad.as_bytes());
    assert_eq!(status, 422, "{body}");
    assert!(!body.contains(PASSWORD));

    let (status, log) = server.stop();
    assert!(status.success(), "graceful stop on SIGTERM: {status}\n{log}");
    assert!(log.lines().next().is_some_and(|l| l.contains("data directory: ") && l.contains("--data-dir")), "{log}");
    // Request lines are filed as requests; a refusal names its problem code and whose it was.
    let refused = log.lines().find(|l| l.contains("status=422")).unwrap_or_else(|| panic!("no 422 line: {log}"));
    assert!(refused.contains("certmap::request") && !refused.contains("certmap::startup"), "{refused}");
    assert!(refused.contains("invalid-") && refused.contains("token:certmap-cli"), "code and caller: {refused}");
    let anonymous = log.lines().find(|l| l.contains("status=401")).unwrap_or_else(|| panic!("no 401 line: {log}"));
    assert!(anonymous.contains("unauthorized"), "{anonymous}");
    assert!(log.contains("certmap stopped"), "{log}");
    assert!(log.contains("/api/v1/sites/1/mappings"), "requests are logged: {log}");
    assert!(!log.contains(PASSWORD), "the password reached the log:\n{log}");
    assert!(!log.contains('\u{1b}'), "no colour codes in a pipe");
    assert!(!log.contains(bearer.trim_start_matches("Bearer ")), "tokens stay out of the log");

    // The key file was created private, and rotation moves the password to a new key.
    let key_file = data_dir.join("secret.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    let (owner, before) = stored_password(db.url());
    let old_key = std::fs::read_to_string(&key_file).unwrap();
    let out = Command::new(BIN)
        .args(["rotate-secret-key", "--database-url", db.url(), "--data-dir"])
        .arg(&data_dir)
        .env_remove("CERTMAP_SECRET_KEY")
        .env_remove("CERTMAP_SECRET_KEY_OLD")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("re-encrypted 1 passwords"), "{stdout}");
    assert_ne!(std::fs::read_to_string(&key_file).unwrap(), old_key);
    assert!(std::fs::read_to_string(data_dir.join("secret.key.old")).unwrap().contains(old_key.trim()));
    let (_, after) = stored_password(db.url());
    assert_ne!(before, after);
    let keys = SecretKeys::load(None, None, &data_dir).unwrap();
    assert!(!keys.is_stale(&after));
    assert_eq!(keys.decrypt(owner, &after).unwrap().expose(), PASSWORD);
    // Only the new key: the old blob is no longer readable without secret.key.old.
    let new_only =
        SecretKeys::load(Some(std::fs::read_to_string(&key_file).unwrap().trim()), None, &scratch_dir("empty"))
            .unwrap();
    assert!(new_only.decrypt(owner, &before).is_err());
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn openapi_and_migrate_commands() {
    let out = Command::new(BIN).arg("openapi").output().unwrap();
    assert!(out.status.success());
    let spec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(spec["paths"]["/api/v1/sites/{site_id}/mappings"].is_object());

    let db = testdb::server().create_database();
    let out = Command::new(BIN).args(["migrate", "--database-url", db.url()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let out = Command::new(BIN)
        .args(["migrate", "--database-url", "postgres://nobody:hunter2@127.0.0.1:1/none"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot reach the database"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "the password in a URL is redacted: {stderr}");
    assert_eq!(stderr.matches("cannot reach the database").count(), 1, "said once: {stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("cannot reach"), "fatal errors go to stderr only");
}

/// `certmap lint` needs no server or database: compiler-style lines, exit 1 on errors.
#[test]
fn lint_prints_findings_like_a_compiler() {
    let cert: String =
        include_str!("../src/render/testdata/alice.pem").lines().filter(|l| !l.starts_with("-----")).collect();
    let seed = format!(
        r#"<configuration>
  <location path="Default Web Site/secure">
    <system.webServer>
      <security>
        <access sslFlags="Ssl, SslNegotiateCert, SslRequireCert" />
        <authentication>
          <anonymousAuthentication enabled="false" />
          <iisClientCertificateMappingAuthentication enabled="true">
            <oneToOneMappings><add userName="CONTOSO\alice" certificate="{cert}" /></oneToOneMappings>
          </iisClientCertificateMappingAuthentication>
        </authentication>
      </security>
    </system.webServer>
  </location>
</configuration>
"#
    );
    let dir = scratch_dir("lint");
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("applicationHost.config");
    std::fs::write(&broken, &seed).unwrap();
    let out = Command::new(BIN).arg("lint").arg(&broken).env_remove("CERTMAP_DATABASE_URL").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let first = stdout.lines().next().unwrap();
    assert!(
        first.starts_with(&format!(
            "{}:8: error: iisClientCertificateMappingAuthentication is configured for the directory",
            broken.display()
        )),
        "{stdout}"
    );
    assert!(first.ends_with("[mapping-not-at-site-root]"), "{stdout}");
    assert!(stdout.contains("    IIS: 401.2 Unauthorized, 0x80070005"), "{stdout}");
    assert!(stdout.contains(r#"    fix: move the iisClientCertificateMappingAuthentication section to <location path="Default Web Site">"#), "{stdout}");

    // Moved to the site root, the same settings are clean.
    let fixed = seed.replace(
        "</configuration>",
        r#"<location path="Default Web Site"><system.webServer><security><authentication><iisClientCertificateMappingAuthentication enabled="true"/></authentication></security></system.webServer></location></configuration>"#,
    );
    let start = fixed.find("          <iisClientCertificateMappingAuthentication enabled=\"true\">").unwrap();
    let end = fixed.find("</iisClientCertificateMappingAuthentication>").unwrap()
        + "</iisClientCertificateMappingAuthentication>".len();
    let good = dir.join("fixed.config");
    std::fs::write(&good, format!("{}{}", &fixed[..start], &fixed[end..])).unwrap();
    let out = Command::new(BIN).arg("lint").arg(&good).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.ends_with("0 error(s), 0 warning(s), 0 note(s)\n"), "{stdout}");

    let out = Command::new(BIN).arg("lint").arg(dir.join("missing.config")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A second `certmap serve` on a data directory whose private cluster one already runs is refused
/// before it touches the cluster, and the first one keeps serving.
#[test]
fn a_second_server_on_one_data_directory_is_refused() {
    let data_dir = scratch_dir("lock");
    let serve = || {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .env_remove("CERTMAP_DATABASE_URL");
        command
    };
    let (first, addr) = Server::spawn(serve()).expect("the first server starts its private cluster");
    let log = match Server::spawn(serve()) {
        Ok((second, _)) => panic!("a second server started: {}", second.stop().1),
        Err(log) => log,
    };
    assert!(log.contains("already serving") && log.contains(&data_dir.display().to_string()), "{log}");
    assert!(log.contains(&format!("pid {}", first.child.id())), "names who holds it: {log}");
    assert!(!log.contains("PostgreSQL cluster stopped"), "{log}");
    assert_eq!(http(&addr, "GET", "/readyz", &[], b"").0, 200, "the first server still has its database");
    let (status, log) = first.stop();
    assert!(status.success(), "{log}");
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[test]
fn credentials_declare_their_client_identity_form() {
    use base64::Engine;
    let data_dir = scratch_dir("forms");
    let token = |form: &str| {
        Command::new(BIN)
            .args(["token", "issue", "--role", "gateway", "--client-identity", form, "--data-dir"])
            .arg(&data_dir)
            .env("CERTMAP_JWT_SECRET", "s".repeat(40))
            .output()
            .unwrap()
    };
    let out = token("envoy");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let jwt = String::from_utf8(out.stdout).unwrap();
    let payload = jwt.trim().split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["client_identity"], "envoy");
    let out = token("nginx ");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("one of: nginx, envoy, traefik"), "the forms are listed");

    let db = testdb::server().create_database();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["gw.contoso.com".into()]).unwrap().self_signed(&key).unwrap();
    let cert_path = data_dir.join("gw.pem");
    std::fs::create_dir_all(&data_dir).unwrap();
    std::fs::write(&cert_path, cert.pem()).unwrap();
    let out = Command::new(BIN)
        .args(["api-client", "add", "--name", "gw", "--role", "gateway", "--client-identity", "haproxy", "--cert"])
        .arg(&cert_path)
        .args(["--database-url", db.url()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("client identity haproxy"));
    let sha = certmap::domain::certificate::Certificate::from_der(cert.der()).unwrap().info().sha256.clone();
    let mut conn = PgConnection::establish(db.url()).unwrap();
    let client = certmap_db::queries::api_clients::find(&mut conn, &sha).unwrap().unwrap();
    assert_eq!(client.client_identity.as_deref(), Some("haproxy"));
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// The peak resident memory of a process (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM in /proc/PID/status");
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// Sends a body while reading the answer, so a server that answers before reading it all (and
/// closes) is heard rather than failing the write.
fn post_large(addr: &str, path: &str, headers: &[(&str, &str)], body: std::sync::Arc<Vec<u8>>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let head = request_head(addr, "POST", path, headers, body.len());
    let mut writer = stream.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes()).and_then(|()| writer.write_all(&body));
    });
    let mut response = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buf[..n]);
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    sending.join().unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// Issue 17, item 1: a bulk import of garbage at the body limit, out of scope or not, costs the
/// server less than 100 MB above idle (it grew by 800 MB for 8 MB of `1\n` lines).
#[test]
fn refusing_a_maximum_size_garbage_bulk_body_stays_under_100_mb() {
    const LIMIT: usize = certmap::http::bulk::BULK_BODY_LIMIT;
    let db = testdb::server().create_database();
    let data_dir = scratch_dir("bulk-memory");
    let (server, addr) = Server::start(db.url(), &data_dir);
    let token = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(["token", "issue", "--ttl", "10m", "--data-dir"])
            .arg(&data_dir)
            .args(args)
            .env_remove("CERTMAP_JWT_SECRET")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        format!("Bearer {}", String::from_utf8(out.stdout).unwrap().trim())
    };
    let admin = token(&["--role", "admin"]);
    let editor = token(&["--role", "editor", "--site", "Mine"]);
    for name in ["Mine", "Theirs"] {
        let body = format!(r#"{{"name": "{name}"}}"#);
        let json = [("Content-Type", "application/json"), ("Authorization", admin.as_str())];
        assert_eq!(http(&addr, "POST", "/api/v1/sites", &json, body.as_bytes()).0, 201);
    }
    let pid = server.child.id();
    let idle = peak_rss(pid);
    let ndjson = [("Content-Type", "application/x-ndjson"), ("Authorization", editor.as_str())];
    let array = [("Content-Type", "application/json"), ("Authorization", editor.as_str())];
    let ones = std::sync::Arc::new(b"1\n".repeat(LIMIT / 2));
    let check = |what: &str, (status, body): (u16, String), want: u16| {
        assert_eq!(status, want, "{what}: {}", body.chars().take(500).collect::<String>());
        let grown = peak_rss(pid).saturating_sub(idle);
        eprintln!("{what}: peak {} MB above idle", grown / 1_000_000);
        assert!(grown < 100_000_000, "{what}: the server grew by {grown} bytes");
        body
    };
    // Out of scope: refused before the body is read.
    check("out of scope", post_large(&addr, "/api/v1/sites/2/mappings:bulk", &ndjson, ones.clone()), 403);
    // In scope, every line bad: the first 1,000 refusals and a count (past 1,000,000 items the
    // rest are not read as mappings; that is one more refusal).
    let small = std::sync::Arc::new(b"1\n".repeat(4 * 1024 * 1024));
    let body = check("8 MiB of 1 lines", post_large(&addr, "/api/v1/sites/1/mappings:bulk", &ndjson, small), 422);
    let tail: String = body.chars().rev().take(400).collect::<Vec<_>>().into_iter().rev().collect();
    assert!(
        body.contains("more-errors") && body.contains("999001 more items were refused"),
        "{} bytes: …{tail}",
        body.len()
    );
    let mut list = b"[".to_vec();
    list.extend(b"1,".repeat(4 * 1024 * 1024));
    list.extend(b"1]");
    check("a JSON array of 4M numbers", post_large(&addr, "/api/v1/sites/1/mappings:bulk", &array, list.into()), 422);
    // The maximum: 512 MiB of the longest lines there may be.
    let line_len = 1024 * 1024;
    let mut longest = Vec::with_capacity(LIMIT);
    while longest.len() + line_len <= LIMIT {
        longest.extend(std::iter::repeat_n(b'x', line_len - 1));
        longest.push(b'\n');
    }
    check("512 MiB of long lines", post_large(&addr, "/api/v1/sites/1/mappings:bulk", &ndjson, longest.into()), 422);
    drop(server);
}
