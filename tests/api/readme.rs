use std::process::Command;

use certmap_tests::TestApp;

const README: &str = include_str!("../../README.md");

/// The shell block between the tour markers, exactly as a reader copies it.
fn tour() -> &'static str {
    let start = README.find("<!-- tour:start -->").expect("README has a tour");
    let block = &README[start..];
    let body = &block[block.find("```sh\n").expect("a sh block") + 6..];
    &body[..body.find("```").expect("closed")]
}

#[actix_web::test]
async fn the_readme_tour_works_when_pasted() {
    let app = TestApp::spawn().await;
    let dir = certmap_db::testdb::scratch_dir("tour");
    std::fs::create_dir_all(&dir).unwrap();
    let script = tour().to_owned();
    let api = app.url("/api/v1");
    let token = app.admin_token.clone();
    let run_dir = dir.clone();
    let out = actix_web::rt::task::spawn_blocking(move || {
        Command::new("bash")
            .args(["-euo", "pipefail", "-c", &script])
            .env("API", api)
            .env("TOKEN", token)
            .current_dir(run_dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the tour failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("\"Ssl, SslNegotiateCert, SslRequireCert\""), "{stdout}");
    assert!(stdout.contains("0x80070005"), "{stdout}");
    assert!(stdout.contains("private key"), "{stdout}");
    assert!(stdout.contains("\"one-to-one\""), "{stdout}");
    assert!(!stdout.contains("correct horse battery staple"), "the password never comes back");
    let _ = std::fs::remove_dir_all(&dir);
}
