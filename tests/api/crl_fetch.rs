//! Fetching distribution points when they misbehave, over https, and only where a trusted CA (or
//! the admin) vouches for the URL.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use certmap::config::{DatabaseSource, FetchConfig};
use certmap_db::testdb;
use certmap_tests::certs::{TestCa, TestCert};
use certmap_tests::{Options, TestApp};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::revocation::{authorize, site_with, until_authorize};

#[derive(Clone)]
enum Mode {
    Crl(Vec<u8>),
    /// Reads the request and never answers.
    Hang,
    /// Sends the client back to the same URL.
    RedirectLoop,
    /// A CRL-typed body that never ends.
    Endless,
}

/// A distribution point on 127.0.0.1 behaving as `mode` says, counting the requests it gets.
struct Point {
    url: String,
    mode: Arc<Mutex<Mode>>,
    requests: Arc<AtomicUsize>,
}

impl Point {
    fn start(first: Mode) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/ca.crl", listener.local_addr().unwrap());
        let (mode, requests) = (Arc::new(Mutex::new(first)), Arc::new(AtomicUsize::new(0)));
        let (served, counted, location) = (mode.clone(), requests.clone(), url.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counted.fetch_add(1, Ordering::Relaxed);
                let (mode, location) = (served.lock().unwrap().clone(), location.clone());
                // A thread each: a hanging or endless answer must not hold up the next request.
                std::thread::spawn(move || answer(stream, mode, &location));
            }
        });
        Self { url, mode, requests }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

fn answer(stream: TcpStream, mode: Mode, location: &str) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
        line.clear();
    }
    let mut stream = reader.into_inner();
    let _ = match mode {
        Mode::Crl(bytes) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                bytes.len()
            );
            stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&bytes))
        }
        Mode::Hang => {
            std::thread::sleep(Duration::from_secs(30));
            Ok(())
        }
        Mode::RedirectLoop => stream.write_all(
            format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        ),
        Mode::Endless => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\nTransfer-Encoding: chunked\r\n\r\n";
            let mut chunk = format!("{:x}\r\n", 64 * 1024).into_bytes();
            chunk.extend(std::iter::repeat_n(0x30, 64 * 1024));
            chunk.extend(b"\r\n");
            stream.write_all(head.as_bytes()).and_then(|()| loop {
                stream.write_all(&chunk)?;
            })
        }
    };
}

fn options(fetch: FetchConfig) -> Options {
    Options { crl_refresh: Duration::from_secs(1), fetch, ..Default::default() }
}

fn quick() -> FetchConfig {
    FetchConfig { timeout: Duration::from_millis(500), ..Default::default() }
}

/// The CRL held from `url`, as `GET /api/v1/crls` lists it.
async fn held_from(app: &TestApp, url: &str) -> Option<Value> {
    let listed = app.get("/api/v1/crls").await.json();
    listed["crls"].as_array().unwrap().iter().find(|c| c["source"] == url).cloned()
}

async fn until_held(app: &TestApp, url: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        if let Some(crl) = held_from(app, url).await.filter(|c| done(c)) {
            return crl;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "never: {:?}", held_from(app, url).await);
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The point serves a CRL revoking bob that expires in a few seconds, then breaks as `broken`:
/// the failure is recorded, the CRL held is kept (bob refused, alice passing), and alice turns
/// `unknown` only once that CRL is past its nextUpdate.
async fn a_broken_point_keeps_the_held_crl(broken: Mode, says: &str, timeout: Duration) {
    let app = TestApp::spawn_options(options(FetchConfig { timeout, ..Default::default() })).await;
    let ca = TestCa::new("Contoso CA");
    // Whole seconds, as the CRL carries it.
    let next_update = (OffsetDateTime::now_utc() + time::Duration::seconds(8)).replace_nanosecond(0).unwrap();
    let point = Point::start(Mode::Hang);
    let (alice, bob) = (ca.client_with_crl_url("alice", &point.url), ca.client_with_crl_url("bob", &point.url));
    point.set(Mode::Crl(ca.crl(1, next_update - time::Duration::days(7), &[&bob])));
    site_with(&app, &ca, &alice, &bob).await;
    until_held(&app, &point.url, |_| true).await;
    until_authorize(&app, &bob, 403).await.problem(403, "certificate-revoked");

    point.set(broken);
    let failed = until_held(&app, &point.url, |c| {
        c["last_fetch"]["outcome"].as_str().is_some_and(|o| !["ok", "unchanged", "not-modified"].contains(&o))
    })
    .await;
    let outcome = failed["last_fetch"]["outcome"].as_str().unwrap().to_owned();
    assert!(outcome.to_lowercase().contains(says), "{outcome}");
    assert_eq!(failed["entries"], 1, "the CRL held is kept: {failed}");
    if OffsetDateTime::now_utc() < next_update {
        assert_eq!(authorize(&app, &alice).await.status, 200, "the held CRL still vouches for alice");
    }
    authorize(&app, &bob).await.problem(403, "certificate-revoked");

    let unknown = until_authorize(&app, &alice, 403).await;
    unknown.problem(403, "revocation-unknown");
    assert!(OffsetDateTime::now_utc() >= next_update, "unknown only after the CRL's nextUpdate");
    authorize(&app, &bob).await.problem(403, "certificate-revoked");
}

#[actix_web::test]
async fn a_point_that_times_out_keeps_the_held_crl() {
    a_broken_point_keeps_the_held_crl(Mode::Hang, "timeout", Duration::from_millis(500)).await;
}

#[actix_web::test]
async fn a_point_that_redirects_in_a_loop_keeps_the_held_crl() {
    a_broken_point_keeps_the_held_crl(Mode::RedirectLoop, "redirected more than", Duration::from_millis(500)).await;
}

#[actix_web::test]
async fn a_point_that_streams_without_end_keeps_the_held_crl() {
    // Time enough to read past the 20 MiB limit on a busy machine: the limit must be what stops it.
    a_broken_point_keeps_the_held_crl(Mode::Endless, "limit", Duration::from_secs(6)).await;
}

#[actix_web::test]
async fn an_https_point_is_verified_against_the_fetch_ca_file() {
    let dir = testdb::scratch_dir("https-point");
    std::fs::create_dir_all(&dir).unwrap();
    let (tls_ca, ca) = (TestCa::new("Web CA"), TestCa::new("Contoso CA"));
    let server = tls_ca.server();
    for (name, text) in [("server.pem", &server.pem), ("server.key", &server.key_pem), ("web-ca.pem", &tls_ca.cert.pem)]
    {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("https://127.0.0.1:{port}/ca.crl");
    let (alice, bob) = (ca.client_with_crl_url("alice", &url), ca.client_with_crl_url("bob", &url));
    std::fs::write(dir.join("ca.crl"), ca.crl(1, OffsetDateTime::now_utc(), &[&bob])).unwrap();
    let _server = SServer::start(&dir, port);

    let fetch = FetchConfig { ca_file: Some(dir.join("web-ca.pem")), ..quick() };
    let app = TestApp::spawn_options(options(fetch)).await;
    site_with(&app, &ca, &alice, &bob).await;
    until_authorize(&app, &bob, 403).await.problem(403, "certificate-revoked");
    assert_eq!(authorize(&app, &alice).await.status, 200);
    assert_eq!(held_from(&app, &url).await.unwrap()["entries"], 1);
}

/// `openssl s_server -WWW`, serving the files of `dir` over TLS on 127.0.0.1.
struct SServer(std::process::Child);

impl SServer {
    fn start(dir: &std::path::Path, port: u16) -> Self {
        let mut child = std::process::Command::new("openssl")
            .args(["s_server", "-accept", &format!("127.0.0.1:{port}"), "-cert", "server.pem", "-key", "server.key"])
            .arg("-WWW")
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl is not installed: apt-get install openssl (.ci/run does)");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains("ACCEPT") {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "openssl s_server stopped before listening");
        }
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Self(child)
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Mallory's certificate, from a CA no site trusts, names an internal address: certmap does not
/// go there, until the admin lists its host.
#[actix_web::test]
async fn a_point_only_an_untrusted_certificate_names_is_not_fetched_unless_allowed() {
    let db = actix_web::rt::task::spawn_blocking(|| testdb::server().create_database()).await.unwrap();
    let app = TestApp::spawn_with(DatabaseSource::Url(db.url().to_owned()), options(quick())).await;
    let (ca, rogue) = (TestCa::new("Contoso CA"), TestCa::new("Mallory CA"));
    let (vouched, internal) = (Point::start(Mode::Hang), Point::start(Mode::Hang));
    let (alice, bob) = (ca.client_with_crl_url("alice", &vouched.url), ca.client("bob"));
    vouched.set(Mode::Crl(ca.crl(1, OffsetDateTime::now_utc(), &[])));
    internal.set(Mode::Crl(rogue.crl(1, OffsetDateTime::now_utc(), &[])));
    let site = site_with(&app, &ca, &alice, &bob).await;
    // No trusted CA issued it: the URL in it is only the word of whoever uploaded it.
    let mallory: TestCert = rogue.client_with_crl_url("mallory", &internal.url);
    app.mapping(site, json!({"certificate": mallory.pem, "user_name": "CONTOSO\\mallory"})).await;

    // Rounds go on (the vouched point is fetched again and again), and none goes to mallory's.
    let started = Instant::now();
    while vouched.requests.load(Ordering::Relaxed) < 3 {
        assert!(started.elapsed() < Duration::from_secs(20), "the vouched point was not fetched");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(internal.requests.load(Ordering::Relaxed), 0, "certmap fetched a URL only an editor vouched for");

    // The admin lists the host: then it is fetched.
    drop(app);
    let allow = FetchConfig { allow_hosts: vec!["127.0.0.1".into()], ..quick() };
    let _allowed = TestApp::spawn_with(DatabaseSource::Url(db.url().to_owned()), options(allow)).await;
    let started = Instant::now();
    while internal.requests.load(Ordering::Relaxed) == 0 {
        assert!(started.elapsed() < Duration::from_secs(20), "an allowed host was never fetched");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}
