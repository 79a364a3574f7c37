//! `certmap pull` against the real server and a real nginx: a mapping changed through the API
//! reaches the gateway within seconds, a config the check refuses is rolled back, and the gateway
//! keeps serving its last good config while certmap is down.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use certmap::auth::Role;
use certmap::pull::{run, PullConfig, PullError};
use certmap_tests::TestApp;
use serde_json::json;

use crate::gateways::{echo_upstream, free_port, nginx_conf, require, seed, Gateway, Pki};

const DEADLINE: Duration = Duration::from_secs(20);

fn config(server: &str, token: &str, site: &str, out: &Path) -> PullConfig {
    PullConfig {
        server: server.to_owned(),
        token: Some(token.to_owned()),
        client_cert: None,
        site: site.to_owned(),
        format: "nginx".into(),
        out: out.to_owned(),
        ca_out: None,
        crl_out: None,
        options: Vec::new(),
        check: None,
        reload: None,
        ca_cert: None,
        wait: Duration::from_secs(55),
        interval: Duration::from_millis(200),
        command_timeout: Duration::from_secs(30),
        once: true,
    }
}

/// `--once`: one exchange on the caller's runtime.
async fn once(config: PullConfig) -> Result<(), PullError> {
    run(PullConfig { once: true, ..config }, std::future::pending()).await
}

/// A long-running agent on a thread and runtime of its own (the test blocks on curl meanwhile).
struct Agent {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), PullError>>>,
}

impl Agent {
    fn start(config: PullConfig) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let config = PullConfig { once: false, ..config };
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(run(config, async {
                let _ = stopped.await;
            }))
        });
        Self { stop: Some(stop), thread: Some(thread) }
    }

    /// Stops it between two exchanges and returns how it ended.
    fn stop(mut self) -> Result<(), PullError> {
        drop(self.stop.take());
        self.thread.take().unwrap().join().expect("the agent thread does not panic")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Polls until `f` holds or the deadline passes; true if it held.
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < DEADLINE {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// How many children the nginx master has: after a reload the old worker lingers (and may still
/// accept a connection with the old config) until it has shut down.
fn nginx_workers(dir: &Path) -> usize {
    let master = std::fs::read_to_string(dir.join("nginx.pid")).unwrap_or_default().trim().to_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|stat| stat.rsplit_once(") ").and_then(|(_, rest)| rest.split(' ').nth(1)) == Some(master.as_str()))
        .count()
}

/// Polls until alice gets `status` from a settled nginx. Only the new config answers `status`, so
/// a single worker counted after that answer is the new one: the old one has gone.
fn alice_settles_at(pki: &Pki, port: u16, status: u16) -> bool {
    eventually(|| pki.get(port, "/secure/page", Some("alice")).0 == status && nginx_workers(&pki.dir) == 1)
}

fn options(query: &str) -> Vec<(String, String)> {
    query.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

async fn set_alice(app: &TestApp, site: i64, enabled: bool) {
    let found = app.get(&format!("/api/v1/sites/{site}/mappings?user_name=CONTOSO%5Calice")).await.json();
    let id = found["items"][0]["id"].as_i64().unwrap();
    let res = app.patch(&format!("/api/v1/sites/{site}/mappings/{id}"), &[], &json!({"enabled": enabled})).await;
    assert_eq!(res.status, 200, "{}", res.text());
}

#[actix_web::test]
async fn nginx_follows_the_api_and_keeps_its_last_good_config() {
    if !require(&["nginx", "curl"]) {
        return;
    }
    let app = TestApp::spawn().await;
    let pki = Pki::new("pull");
    let site = seed(&app, &pki).await;
    let (port, upstream) = (free_port(), echo_upstream());
    let conf = pki.dir.join("nginx.conf");
    std::fs::write(&conf, nginx_conf(&pki.dir)).unwrap();
    let out = pki.dir.join("certmap.conf");
    let nginx = format!("nginx -p {} -c {}", pki.dir.display(), conf.display());
    let gateway_token = app.token(Role::Gateway, &["Default Web Site"]);
    let agent_config = || PullConfig {
        options: options(&pki.gateway_query(port, upstream, "server.pem")),
        ca_out: Some(pki.dir.join("client-ca.pem")),
        crl_out: None,
        check: Some(format!("{nginx} -t -q")),
        reload: Some(format!("{nginx} -s reload")),
        ..config(&app.url(""), &gateway_token, &site.to_string(), &out)
    };

    // First install: --once with the check, before nginx runs (so nothing to reload yet).
    once(PullConfig { reload: None, ..agent_config() }).await.expect("the first config installs");
    let mut gateway = Gateway(
        Command::new("nginx").arg("-p").arg(&pki.dir).arg("-c").arg(&conf).stderr(Stdio::null()).spawn().unwrap(),
    );
    pki.wait_until_serving(port, &mut gateway);
    assert_eq!(pki.get(port, "/secure/page", Some("alice")), (200, "user=CONTOSO\\alice".into()));

    // A mapping disabled through the API: alice is refused within seconds, nobody reloads by hand.
    let agent = Agent::start(agent_config());
    set_alice(&app, site, false).await;
    assert!(alice_settles_at(&pki, port, 403), "the agent brings alice's disabled mapping to nginx");
    agent.stop().expect("a stopped agent ends cleanly");
    let disabled = std::fs::read(&out).unwrap();

    // A config the check refuses is rolled back: the file and nginx keep the last good state.
    set_alice(&app, site, true).await;
    let reloaded = pki.dir.join("reloaded");
    let refused = PullConfig {
        check: Some("false".into()),
        reload: Some(format!("touch {} && {nginx} -s reload", reloaded.display())),
        ..agent_config()
    };
    assert!(once(refused).await.unwrap_err().to_string().contains("refused by the check"));
    assert_eq!(std::fs::read(&out).unwrap(), disabled, "the last good file stays");
    assert!(!reloaded.exists(), "no reload after a refused check");
    assert_eq!(pki.get(port, "/secure/page", Some("alice")).0, 403, "nginx keeps the last good config");
    let leftovers: Vec<_> = std::fs::read_dir(&pki.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("certmap-"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left behind: {leftovers:?}");

    // With a check that passes, the re-enabled mapping arrives.
    let agent = Agent::start(agent_config());
    assert!(alice_settles_at(&pki, port, 200), "alice is back");
    let enabled = std::fs::read(&out).unwrap();

    // certmap stops: the agent keeps running and keeps the file, nginx keeps serving alice.
    let server = app.url("");
    drop(app);
    let down = once(config(&server, &gateway_token, &site.to_string(), &out)).await;
    assert!(down.is_err(), "an unreachable server is a failure for --once");
    assert_eq!(pki.get(port, "/secure/page", Some("alice")), (200, "user=CONTOSO\\alice".into()));
    assert_eq!(std::fs::read(&out).unwrap(), enabled);
    agent.stop().expect("an outage does not end the agent");
    assert_eq!(std::fs::read(&out).unwrap(), enabled);
}

#[actix_web::test]
async fn once_installs_resolves_names_and_stops_at_refusals() {
    let app = TestApp::spawn().await;
    let site = app.site(json!({"name": "Default Web Site", "certificate_mapping": {"enabled": true}})).await["id"]
        .as_i64()
        .unwrap();
    let dir = certmap_db::testdb::scratch_dir("pull-once");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("certmap.conf");
    let server = app.url("");
    let expected = app.get(&format!("/api/v1/sites/{site}/config/nginx?listen=127.0.0.1:8443")).await;
    assert_eq!(expected.status, 200);

    // A name is looked up with a token that may list sites; options are passed on.
    let admin = app.admin_token.clone();
    let by_name = PullConfig {
        options: vec![("listen".into(), "127.0.0.1:8443".into())],
        ..config(&server, &admin, "default web site", &out)
    };
    once(by_name).await.expect("installs");
    assert_eq!(std::fs::read(&out).unwrap(), expected.body);
    // A gateway token may not list sites: the name is found among the snapshots it may read.
    let gateway = app.token(Role::Gateway, &["Default Web Site"]);
    std::fs::remove_file(&out).unwrap();
    let by_name = PullConfig {
        options: vec![("listen".into(), "127.0.0.1:8443".into())],
        ..config(&server, &gateway, "DEFAULT web site", &out)
    };
    once(by_name).await.expect("a gateway token names its site");
    assert_eq!(std::fs::read(&out).unwrap(), expected.body);
    let metrics = app.get("/metrics").await.text();
    assert!(
        !metrics.lines().any(|l| l.starts_with("http_requests") && l.contains("status=\"403\"")),
        "a gateway token finds its site without a refused request in the server's log: {metrics}"
    );

    // What no retry can fix ends the agent with a message that says what to do.
    let other_site = app.token(Role::Gateway, &["Another Site"]);
    let refusals = [
        (config(&server, &other_site, "Default Web Site", &out), "no site named"),
        (config(&server, &admin, "No Such Site", &out), "no site named"),
        (config(&server, "not-a-token", &site.to_string(), &out), "not a certmap token"),
        (config(&server, "not.a.token", &site.to_string(), &out), "401"),
        (config(&server, &admin, "999999", &out), "404"),
        (
            PullConfig {
                options: vec![("verify_depth".into(), "99".into())],
                ..config(&server, &admin, &site.to_string(), &out)
            },
            "422",
        ),
    ];
    for (config, expected_message) in refusals {
        let agent = run(PullConfig { once: false, ..config }, std::future::pending());
        let ended = actix_web::rt::time::timeout(DEADLINE, agent).await.expect("a refusal ends the agent");
        let err = ended.unwrap_err().to_string();
        assert!(err.contains(expected_message), "{expected_message}: {err}");
    }
    assert_eq!(std::fs::read(&out).unwrap(), expected.body, "a refusal leaves the file alone");
    let _ = std::fs::remove_dir_all(&dir);
}

#[actix_web::test]
async fn https_with_a_private_ca_and_a_registered_client_certificate() {
    use certmap::tls::TlsConfig;
    use certmap_tests::certs::TestCa;
    use certmap_tests::Options;

    let dir = certmap_db::testdb::scratch_dir("pull-tls");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).unwrap();
        dir.join(name)
    };
    let (servers, gateways) = (TestCa::new("Servers CA"), TestCa::new("Gateways CA"));
    let server = servers.server();
    let gw = gateways.client("gw1");
    let servers_ca = write("servers-ca.pem", &servers.cert.pem);
    let (gw_cert, gw_key) = (write("gw1.pem", &gw.pem), write("gw1.key", &gw.key_pem));
    let tls = TlsConfig {
        cert: write("server.pem", &server.pem),
        key: write("server.key", &server.key_pem),
        client_ca: Some(write("gateways-ca.pem", &gateways.cert.pem)),
    };

    // A plain server seeds the database and registers the gateway's certificate; the HTTPS one shares it.
    let plain = TestApp::spawn().await;
    let site = plain.site(json!({"name": "Default Web Site"})).await["id"].as_i64().unwrap();
    let sha = gw.sha256();
    plain.sql(|c| certmap_db::queries::api_clients::insert(c, "gw1", &sha, "gateway", None, None)).unwrap();
    let expected = plain.get(&format!("/api/v1/sites/{site}/config/nginx")).await.body;
    let url = plain.db.as_ref().unwrap().url().to_owned();
    let app = TestApp::spawn_with(
        certmap::config::DatabaseSource::Url(url),
        Options { tls: Some(tls), ..Default::default() },
    )
    .await;
    let server_url = format!("https://127.0.0.1:{}", app.addr.port());
    let out = dir.join("certmap.conf");
    let by_certificate = || PullConfig {
        token: None,
        client_cert: Some((gw_cert.clone(), gw_key.clone())),
        ca_cert: Some(servers_ca.clone()),
        ..config(&server_url, "", &site.to_string(), &out)
    };

    once(by_certificate()).await.expect("the private CA is trusted and the certificate authenticates");
    assert_eq!(std::fs::read(&out).unwrap(), expected);
    // The system's CAs do not vouch for a private certmap.
    let untrusted = once(PullConfig { ca_cert: None, ..by_certificate() }).await.unwrap_err().to_string();
    assert!(untrusted.contains("certificate") || untrusted.contains("no system CA"), "{untrusted}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue #7's "done when": two replicas on one database and an agent in front of a real nginx
/// stay in sync through create, disable and delete of a mapping made on the other replica, and
/// nginx keeps its last good config while both are stopped.
#[actix_web::test]
async fn two_replicas_and_an_agent_keep_nginx_in_step() {
    if !require(&["nginx", "curl"]) {
        return;
    }
    let db = actix_web::rt::task::spawn_blocking(|| certmap_db::testdb::server().create_database()).await.unwrap();
    let url = certmap::config::DatabaseSource::Url(db.url().to_owned());
    let (writer, follower) = (TestApp::spawn_on(url.clone()).await, TestApp::spawn_on(url).await);
    let pki = Pki::new("replicas");
    let site = seed(&writer, &pki).await;
    let (port, upstream) = (free_port(), echo_upstream());
    let conf = pki.dir.join("nginx.conf");
    std::fs::write(&conf, nginx_conf(&pki.dir)).unwrap();
    let out = pki.dir.join("certmap.conf");
    let nginx = format!("nginx -p {} -c {}", pki.dir.display(), conf.display());
    let token = follower.token(Role::Gateway, &["Default Web Site"]);
    let agent_config = || PullConfig {
        options: options(&pki.gateway_query(port, upstream, "server.pem")),
        check: Some(format!("{nginx} -t -q")),
        reload: Some(format!("{nginx} -s reload")),
        ..config(&follower.url(""), &token, &site.to_string(), &out)
    };
    once(PullConfig { reload: None, ..agent_config() }).await.expect("the first config installs");
    let mut gateway = Gateway(
        Command::new("nginx").arg("-p").arg(&pki.dir).arg("-c").arg(&conf).stderr(Stdio::null()).spawn().unwrap(),
    );
    pki.wait_until_serving(port, &mut gateway);
    assert_eq!(pki.get(port, "/secure/page", Some("bob")).0, 403);
    let agent = Agent::start(agent_config());
    let settles = |who: &str, status: u16| {
        eventually(|| pki.get(port, "/secure/page", Some(who)).0 == status && nginx_workers(&pki.dir) == 1)
    };

    // Created on the writer: the follower's long-poll wakes and bob gets in.
    let bob_pem = std::fs::read_to_string(pki.dir.join("bob.pem")).unwrap();
    let bob = writer.mapping(site, json!({"certificate": bob_pem, "user_name": "CONTOSO\\bob"})).await;
    assert!(settles("bob", 200), "bob's new mapping reaches nginx through the other replica");
    assert_eq!(pki.get(port, "/secure/page", Some("bob")).1, "user=CONTOSO\\bob");
    // Disabled on the writer.
    set_alice(&writer, site, false).await;
    assert!(settles("alice", 403), "alice's disabled mapping reaches nginx");
    // Deleted on the writer.
    let res = writer.delete(&format!("/api/v1/sites/{site}/mappings/{}", bob["id"]), &[]).await;
    assert_eq!(res.status, 204, "{}", res.text());
    assert!(settles("bob", 403), "bob's deleted mapping leaves nginx");

    // Both replicas stop: nginx keeps serving the last good config.
    let last = std::fs::read(&out).unwrap();
    drop((writer, follower));
    assert_eq!(pki.get(port, "/secure/page", Some("alice")).0, 403);
    assert_eq!(pki.get(port, "/secure/page", Some("bob")).0, 403);
    agent.stop().expect("an outage does not end the agent");
    assert_eq!(std::fs::read(&out).unwrap(), last);
    drop(db);
}

/// `--crl-out` with `crl_file`: a CRL uploaded to certmap reaches nginx's `ssl_crl` file through the
/// agent, which reloads nginx; bob, mapped and admitted before, then fails verification at nginx.
#[actix_web::test]
async fn a_new_crl_reaches_nginx_through_the_agent() {
    if !require(&["nginx", "curl"]) {
        return;
    }
    let app = TestApp::spawn().await;
    let pki = Pki::new("pull-crl");
    let site = seed(&app, &pki).await;
    app.mapping(site, json!({"certificate": pki.bob.pem, "user_name": "CONTOSO\\bob"})).await;
    let upload = |number: u64, revoked: Vec<&certmap_tests::certs::TestCert>| {
        let crl = pki.clients.crl(number, time::OffsetDateTime::now_utc(), &revoked);
        let app = &app;
        async move {
            let res = app
                .request(
                    awc::http::Method::POST,
                    "/api/v1/crls",
                    &[("content-type", "application/pkix-crl")],
                    Some(&crl),
                )
                .await;
            assert_eq!(res.status, 200, "{}", res.text());
        }
    };
    upload(1, vec![]).await;
    let (port, upstream) = (free_port(), echo_upstream());
    let conf = pki.dir.join("nginx.conf");
    std::fs::write(&conf, nginx_conf(&pki.dir)).unwrap();
    let crl_file = pki.dir.join("crl.pem");
    let nginx = format!("nginx -p {} -c {}", pki.dir.display(), conf.display());
    let query = format!("{}&crl_file={}", pki.gateway_query(port, upstream, "server.pem"), crl_file.display());
    let agent_config = || PullConfig {
        options: options(&query),
        crl_out: Some(crl_file.clone()),
        check: Some(format!("{nginx} -t -q")),
        reload: Some(format!("{nginx} -s reload")),
        ..config(&app.url(""), &app.token(Role::Gateway, &[]), &site.to_string(), &pki.dir.join("certmap.conf"))
    };
    once(PullConfig { reload: None, ..agent_config() }).await.expect("the first config and CRL install");
    let mut gateway = Gateway(
        Command::new("nginx").arg("-p").arg(&pki.dir).arg("-c").arg(&conf).stderr(Stdio::null()).spawn().unwrap(),
    );
    pki.wait_until_serving(port, &mut gateway);
    assert_eq!(pki.get(port, "/secure/page", Some("bob")), (200, "user=CONTOSO\\bob".into()));

    let agent = Agent::start(agent_config());
    upload(2, vec![&pki.bob]).await;
    assert!(
        eventually(|| pki.get(port, "/secure/page", Some("bob")).0 == 400 && nginx_workers(&pki.dir) == 1),
        "nginx refuses bob's revoked certificate once the agent installed the new CRL"
    );
    assert_eq!(pki.get(port, "/secure/page", Some("alice")), (200, "user=CONTOSO\\alice".into()));
    agent.stop().expect("a stopped agent ends cleanly");
}
