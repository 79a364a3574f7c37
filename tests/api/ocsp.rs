//! OCSP against a real responder: `openssl ocsp` on 127.0.0.1, certificates made by openssl with
//! an Authority Information Access naming it. Bob is revoked in the responder's index and no CRL
//! is held anywhere.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use awc::http::Method;
use certmap::auth::Role;
use certmap::config::OcspConfig;
use certmap_db::testdb;
use certmap_tests::{Options, Response, TestApp};
use serde_json::json;

/// A CA, a delegated OCSP signer, a signer the CA issued without the OCSP purpose, an unrelated
/// CA, and alice, bob and carol naming `http://127.0.0.1:<port>/` as their responder.
struct Pki {
    dir: PathBuf,
    port: u16,
}

impl Pki {
    fn new() -> Self {
        let dir = testdb::scratch_dir("ocsp");
        std::fs::create_dir_all(&dir).unwrap();
        // A free port, named in the certificates before the responder listens on it.
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let pki = Self { dir, port };
        pki.write(
            "ext.cnf",
            &format!(
                "[leaf]\nauthorityInfoAccess = OCSP;URI:http://127.0.0.1:{port}/\nextendedKeyUsage = clientAuth\n\
             [signer]\nextendedKeyUsage = OCSPSigning\n\
             [server]\nsubjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth\n[not_signer]\nextendedKeyUsage = clientAuth\n\
             [ca]\nbasicConstraints = critical,CA:true\nkeyUsage = keyCertSign,cRLSign,digitalSignature\n"
            ),
        );
        for ca in ["ca", "rogue"] {
            pki.new_key(ca, &format!("/O=Contoso/CN=Contoso {ca}"), true);
        }
        let issued = [
            ("alice", "1001", "leaf"),
            ("bob", "1002", "leaf"),
            ("carol", "1003", "leaf"),
            ("signer", "2001", "signer"),
            ("not_signer", "2002", "not_signer"),
            ("server", "3001", "server"),
        ];
        for (name, serial, ext) in issued {
            pki.new_key(name, &format!("/O=Contoso/CN={name}"), false);
            pki.run(&[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                &format!("0x{serial}"),
                "-days",
                "30",
                "-extfile",
                "ext.cnf",
                "-extensions",
                ext,
                "-out",
                &format!("{name}.pem"),
            ]);
        }
        let expiry = "301231235959Z";
        let revoked_at = "260101000000Z,keyCompromise";
        pki.write(
            "index.txt",
            &format!(
                "V\t{expiry}\t\t1001\tunknown\t/O=Contoso/CN=alice\n\
             R\t{expiry}\t{revoked_at}\t1002\tunknown\t/O=Contoso/CN=bob\n\
             V\t{expiry}\t\t1003\tunknown\t/O=Contoso/CN=carol\n"
            ),
        );
        pki
    }

    fn run(&self, args: &[&str]) {
        if !self.dir.join("ext.cnf.req").exists() {
            // `req -x509 -config` needs a [req] section besides the extensions.
            let ext = std::fs::read_to_string(self.dir.join("ext.cnf")).unwrap();
            self.write("ext.cnf.req", &format!("[req]\ndistinguished_name = dn\n[dn]\n{ext}"));
        }
        certmap_tests::certs::openssl(&self.dir, args);
    }

    /// A P-256 key `NAME.key` and a self-signed CA certificate `NAME.pem`, or a request `NAME.csr`.
    fn new_key(&self, name: &str, subject: &str, self_signed_ca: bool) {
        let (key, out) = (format!("{name}.key"), format!("{name}.{}", if self_signed_ca { "pem" } else { "csr" }));
        let mut args = vec!["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
        args.extend(["-keyout", &key, "-out", &out, "-subj", subject]);
        if self_signed_ca {
            args.extend(["-x509", "-days", "30", "-extensions", "ca", "-config", "ext.cnf.req"]);
        }
        self.run(&args);
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.join(name), text).unwrap();
    }

    fn pem(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.pem"))).unwrap()
    }

    /// `openssl ocsp` answering for the CA, signing with `signer` (`ca`, a delegate, or a key the
    /// CA has nothing to do with); ready once it accepts connections.
    fn responder(&self, signer: &str) -> Responder {
        let key = format!("{signer}.key");
        let mut child = Command::new("openssl")
            .args([
                "ocsp",
                "-index",
                "index.txt",
                "-port",
                &self.port.to_string(),
                "-CA",
                "ca.pem",
                "-rsigner",
                &format!("{signer}.pem"),
                "-rkey",
                &key,
                "-nmin",
                "60",
                "-ignore_err",
            ])
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl is not installed: apt-get install openssl (.ci/run does)");
        // Ready once it says so: a probe connection that sends nothing would hold the
        // one-connection-at-a-time responder. Its log is drained after that, so it never blocks.
        let mut log = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        while !line.contains("waiting for OCSP client connections") {
            line.clear();
            let read = std::io::BufRead::read_line(&mut log, &mut line).unwrap();
            assert!(read > 0, "openssl ocsp stopped before listening on {}", self.port);
        }
        std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
        Responder(child)
    }
}

/// Killed when dropped, and waited for, so its port is free again.
struct Responder(Child);

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn app_with_cache(max_cache: Duration) -> TestApp {
    let ocsp = OcspConfig { max_cache, timeout: Duration::from_secs(2) };
    TestApp::spawn_options(Options { ocsp, ..Default::default() }).await
}

/// A site trusting the CA with `check`, a secured `/secure`, and alice, bob and carol mapped.
async fn site(app: &TestApp, pki: &Pki, check: &str) -> i64 {
    let body =
        json!({"name": "Default Web Site", "certificate_mapping": {"enabled": true, "revocation": {"check": check}}});
    let site = app.site(body).await["id"].as_i64().unwrap();
    trust(app, site, pki).await;
    app.secured_directory(site, "/secure").await;
    for name in ["alice", "bob", "carol"] {
        app.mapping(site, json!({"certificate": pki.pem(name), "user_name": format!("CONTOSO\\{name}")})).await;
    }
    site
}

/// The site trusts `pki`'s CA.
async fn trust(app: &TestApp, site: i64, pki: &Pki) {
    let put = app
        .request(
            Method::PUT,
            &format!("/api/v1/sites/{site}/trusted-cas"),
            &[("content-type", "application/x-pem-file")],
            Some(pki.pem("ca").as_bytes()),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text());
}

async fn authorize(app: &TestApp, pki: &Pki, name: &str) -> Response {
    authorize_at(app, "Default Web Site", pki, name).await
}

async fn authorize_at(app: &TestApp, site: &str, pki: &Pki, name: &str) -> Response {
    let gateway = format!("Bearer {}", app.token(Role::Gateway, &[]));
    let pem = pki.pem(name);
    let escaped = pem.replace('\n', "%0A").replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
    let headers = [
        ("authorization", gateway.as_str()),
        ("x-certmap-site", site),
        ("x-original-uri", "/secure/page"),
        ("x-ssl-client-cert", escaped.as_str()),
    ];
    app.request(Method::GET, "/api/v1/authorize", &headers, None).await
}

/// Polls until authorize answers `status` for `name`, at most 10 s.
async fn until(app: &TestApp, pki: &Pki, name: &str, status: u16) -> Response {
    let started = Instant::now();
    loop {
        let res = authorize(app, pki, name).await;
        if res.status == status || started.elapsed() > Duration::from_secs(10) {
            return res;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn the_responder_refuses_bob_with_no_crl_held_and_its_answer_is_cached() {
    let pki = Pki::new();
    let app = app_with_cache(Duration::from_secs(3600)).await;
    let site = site(&app, &pki, "ocsp").await;
    let responder = pki.responder("ca");

    let bob = authorize(&app, &pki, "bob").await;
    let problem = bob.problem(403, "certificate-revoked");
    assert!(problem["detail"].as_str().unwrap().contains("2026-01-01T00:00:00Z (keyCompromise)"), "{problem:#}");
    let alice = authorize(&app, &pki, "alice").await;
    assert_eq!(alice.status, 200, "{}", alice.text());
    assert_eq!(alice.header("x-certmap-user"), Some("CONTOSO\\alice"));
    assert_eq!(alice.header("x-certmap-revocation"), None);

    let resolved = app.post(&format!("/api/v1/sites/{site}/resolve"), &json!({"certificate": pki.pem("bob")})).await;
    let resolved = resolved.json();
    assert_eq!(resolved["outcome"], "revoked", "{resolved:#}");
    assert_eq!(resolved["revocation"]["status"], "revoked");
    assert_eq!(resolved["revocation"]["source"], "ocsp");
    assert_eq!(resolved["revocation"]["reason"], "keyCompromise");
    let listed = app.get(&format!("/api/v1/sites/{site}/mappings")).await.json();
    let status_of = |cn: &str| {
        let item = listed["items"].as_array().unwrap().iter().find(|m| m["subject"].as_str().unwrap().contains(cn));
        item.map(|m| (m["revocation"]["status"].clone(), m["revocation"]["source"].clone())).unwrap()
    };
    assert_eq!(status_of("CN=bob"), (json!("revoked"), json!("ocsp")));
    assert_eq!(status_of("CN=alice"), (json!("good"), json!("ocsp")));
    assert_eq!(status_of("CN=carol"), (json!("not_checked"), json!(null)), "nothing asked about carol yet");

    // The responder gone: the answers held still decide, without it.
    drop(responder);
    assert_eq!(authorize(&app, &pki, "alice").await.status, 200);
    authorize(&app, &pki, "bob").await.problem(403, "certificate-revoked");
    // Carol was never asked about: her status is unknown, which this site denies...
    authorize(&app, &pki, "carol").await.problem(403, "revocation-unknown");
    // ... and a site that allows the unknown lets her through, saying so.
    let allow = json!({"certificate_mapping": {"revocation": {"when_unknown": "allow"}}});
    assert_eq!(app.patch(&format!("/api/v1/sites/{site}"), &[], &allow).await.status, 200);
    let carol = until(&app, &pki, "carol", 200).await;
    assert_eq!(carol.status, 200, "{}", carol.text());
    assert_eq!(carol.header("x-certmap-revocation"), Some("unknown"));
    authorize(&app, &pki, "bob").await.problem(403, "certificate-revoked");
}

/// Another site may trust a CA of the same name (its editor made it, and runs its responder): what
/// that responder says about a serial must not decide for this site's certificate of that serial.
#[actix_web::test]
async fn a_lookalike_ca_on_another_site_does_not_answer_for_this_one() {
    let (pki, lookalike) = (Pki::new(), Pki::new());
    // Same CA name, same serials, other keys; its responder calls bob good.
    let index = std::fs::read_to_string(lookalike.dir.join("index.txt")).unwrap();
    lookalike.write("index.txt", &index.replace("R\t301231235959Z\t260101000000Z,keyCompromise", "V\t301231235959Z\t"));
    let app = app_with_cache(Duration::from_secs(3600)).await;
    site(&app, &pki, "ocsp").await;
    let body = json!({"name": "Lookalike", "certificate_mapping": {"enabled": true, "revocation": {"check": "ocsp"}}});
    let other = app.site(body).await["id"].as_i64().unwrap();
    trust(&app, other, &lookalike).await;
    app.secured_directory(other, "/secure").await;
    app.mapping(other, json!({"certificate": lookalike.pem("bob"), "user_name": "FABRIKAM\\bob"})).await;
    {
        let _responder = lookalike.responder("ca");
        let res = authorize_at(&app, "Lookalike", &lookalike, "bob").await;
        assert_eq!(res.status, 200, "the lookalike's responder calls its bob good: {}", res.text());
    }
    // This site's responder is not running: its bob is unknown here, never "good" from the other.
    authorize(&app, &pki, "bob").await.problem(403, "revocation-unknown");
}

#[actix_web::test]
async fn only_answers_the_ca_or_its_delegated_responder_signed_count() {
    let pki = Pki::new();
    // Kept one second, so each responder below is asked afresh.
    let app = app_with_cache(Duration::from_secs(1)).await;
    site(&app, &pki, "ocsp").await;
    for signer in ["rogue", "not_signer"] {
        let _responder = pki.responder(signer);
        // Bob is revoked in the index, but an answer nobody vouches for says nothing.
        authorize(&app, &pki, "bob").await.problem(403, "revocation-unknown");
        authorize(&app, &pki, "alice").await.problem(403, "revocation-unknown");
        actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    }
    let _responder = pki.responder("signer");
    authorize(&app, &pki, "bob").await.problem(403, "certificate-revoked");
    assert_eq!(authorize(&app, &pki, "alice").await.status, 200);
}

#[actix_web::test]
async fn crl_and_ocsp_refuses_what_either_revokes_and_off_asks_nobody() {
    let pki = Pki::new();
    let app = app_with_cache(Duration::from_secs(3600)).await;
    let site = site(&app, &pki, "crl_and_ocsp").await;
    {
        let _responder = pki.responder("ca");
        // No CRL is held: OCSP alone decides.
        authorize(&app, &pki, "bob").await.problem(403, "certificate-revoked");
        assert_eq!(authorize(&app, &pki, "alice").await.status, 200);
    }
    // With the check off nothing is asked: carol, never asked about, passes with no responder.
    let off = json!({"certificate_mapping": {"revocation": {"check": "off"}}});
    assert_eq!(app.patch(&format!("/api/v1/sites/{site}"), &[], &off).await.status, 200);
    let carol = until(&app, &pki, "carol", 200).await;
    assert_eq!(carol.header("x-certmap-revocation"), None, "{}", carol.text());
}

/// The nginx config certmap renders for a site asking OCSP, run unmodified: nginx asks the
/// responder itself and refuses bob at the handshake (400, a failed verification), alice passes.
#[actix_web::test]
async fn nginx_asks_the_responder_itself_and_refuses_bob() {
    use super::gateways::{curl, echo_upstream, fetch_config, free_port, nginx_conf, require, Gateway};
    if !require(&["nginx", "curl"]) {
        return;
    }
    let pki = Pki::new();
    let app = app_with_cache(Duration::from_secs(3600)).await;
    let site = site(&app, &pki, "ocsp").await;
    let _responder = pki.responder("ca");
    let (port, dir) = (free_port(), pki.dir.display().to_string());
    let query = format!(
        "listen=127.0.0.1:{port}&upstream=http://127.0.0.1:{}&server_cert={dir}/server.pem&server_key={dir}/server.key\
         &ca_bundle={dir}/ca.pem",
        echo_upstream()
    );
    let config = fetch_config(&app, site, "nginx", &query, &pki.dir.join("certmap.conf")).await;
    assert!(config.text().contains("    ssl_ocsp leaf;\n"), "{}", config.text());
    pki.write("nginx.conf", &nginx_conf(&pki.dir));
    let conf = pki.dir.join("nginx.conf");
    let test = Command::new("nginx").args(["-t", "-q", "-p", &dir, "-c"]).arg(&conf).output().unwrap();
    assert!(test.status.success(), "nginx -t: {}", String::from_utf8_lossy(&test.stderr));
    let stderr = std::fs::File::create(pki.dir.join("nginx.stderr")).unwrap();
    let mut nginx = Gateway(Command::new("nginx").args(["-p", &dir, "-c"]).arg(&conf).stderr(stderr).spawn().unwrap());
    let ca = format!("{dir}/ca.pem");
    let get =
        |client, path: &str| curl(&["--cacert", &ca], &pki.dir, client, &format!("https://127.0.0.1:{port}{path}"));
    let started = Instant::now();
    while get(None, "/").0 == 0 {
        assert!(
            nginx.0.try_wait().unwrap().is_none(),
            "nginx exited: {:?}",
            std::fs::read_to_string(pki.dir.join("nginx.stderr"))
        );
        assert!(started.elapsed() < Duration::from_secs(60), "nginx never answered on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(get(Some("alice"), "/secure/page"), (200, "user=CONTOSO\\alice".into()));
    assert_eq!(get(Some("bob"), "/secure/page").0, 400, "bob fails verification at nginx: the responder revoked him");
}
