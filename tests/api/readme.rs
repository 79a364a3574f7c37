use std::path::Path;
use std::process::Command;

use certmap_tests::TestApp;

use crate::gateways::{free_port, require};

const README: &str = include_str!("../../README.md");

/// The shell block between the tour markers, exactly as a reader copies it.
fn tour() -> &'static str {
    let start = README.find("<!-- tour:start -->").expect("README has a tour");
    let block = &README[start..];
    let body = &block[block.find("```sh\n").expect("a sh block") + 6..];
    &body[..body.find("```").expect("closed")]
}

/// Stops an nginx a failed tour left running in `tmp` (a passing tour stops its own).
fn stop_leftover_nginx(tmp: &Path) {
    for dir in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
        if let Ok(pid) = std::fs::read_to_string(dir.path().join("nginx.pid")) {
            let _ = Command::new("kill").arg("-QUIT").arg(pid.trim()).status();
        }
    }
}

/// The tour as a reader pastes it, twice in a row against one server: each run makes its own
/// site, passes alice through a real nginx, and leaves nothing behind.
#[actix_web::test]
async fn the_readme_tour_works_when_pasted_twice() {
    if !require(&["nginx", "curl", "jq", "openssl"]) {
        return;
    }
    let app = TestApp::spawn().await;
    let tmp = certmap_db::testdb::scratch_dir("tour");
    std::fs::create_dir_all(&tmp).unwrap();
    for run in 1..=2 {
        let script = tour().to_owned();
        let (api, token, dir) = (app.url("/api/v1"), app.admin_token.clone(), tmp.clone());
        let out = actix_web::rt::task::spawn_blocking(move || {
            Command::new("bash")
                .args(["-euo", "pipefail", "-c", &script])
                .env("API", api)
                .env("TOKEN", token)
                .env("GW_PORT", free_port().to_string())
                .env("APP_PORT", free_port().to_string())
                // mktemp -d makes the tour's scratch directory here, so its removal can be seen.
                .env("TMPDIR", &dir)
                .current_dir(&dir)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            stop_leftover_nginx(&tmp);
        }
        assert!(out.status.success(), "run {run} of the tour failed:\n{stdout}\n{stderr}");
        assert!(stdout.contains("\"Ssl, SslNegotiateCert, SslRequireCert\""), "{stdout}");
        assert!(stdout.contains("0x80070005"), "{stdout}");
        assert!(stdout.contains("private key"), "{stdout}");
        assert!(stdout.contains("\"one-to-one\""), "{stdout}");
        assert!(stdout.contains("certificate-expiring"), "lint speaks of alice's 30 days: {stdout}");
        assert!(stdout.contains("hello CONTOSO\\alice\n"), "alice passes through nginx: {stdout}");
        assert!(stdout.lines().any(|l| l == "403"), "no certificate, no entry: {stdout}");
        assert!(!stdout.contains("correct horse battery staple"), "the password never comes back");
        let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().flatten().map(|e| e.path()).collect();
        assert!(left.is_empty(), "run {run} left files behind: {left:?}");
        assert_eq!(app.get("/api/v1/sites").await.json()["items"], serde_json::json!([]), "its site is gone");
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
