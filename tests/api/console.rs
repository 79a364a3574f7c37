//! The web console's files: served from the binary under a strict CSP, and exactly the committed
//! files in `api/console/` (the browser tests in `tests/console/run` drive the console itself).

use std::path::{Path, PathBuf};

use certmap::http::console::{ASSETS, CONTENT_SECURITY_POLICY};
use certmap_tests::TestApp;

fn console_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../api/console")
}

fn files_under(dir: &Path, root: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, root, out);
        } else {
            out.push(path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
        }
    }
}

#[actix_web::test]
async fn the_root_and_ui_redirect_to_the_console() {
    let app = TestApp::spawn().await;
    for path in ["/ui"] {
        let res = app.request(awc::http::Method::GET, path, &[("authorization", "")], None).await;
        assert_eq!((res.status, res.header("location")), (302, Some("/ui/")), "{path}");
    }
    app.get("/ui/no-such-file.js").await.problem(404, "not-found");
}

/// Every committed file is served byte for byte, and nothing else is: a file added to
/// `api/console/` but not to the asset table (or the reverse) fails here, so what is tested in the
/// browser is what ships.
#[actix_web::test]
async fn every_committed_console_file_is_what_is_served() {
    let app = TestApp::spawn().await;
    let dir = console_dir();
    let mut committed = Vec::new();
    files_under(&dir, &dir, &mut committed);
    committed.sort();
    let mut table: Vec<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
    table.sort();
    assert_eq!(committed, table, "api/console/ and http::console::ASSETS differ");
    for file in &committed {
        // Served to anyone: the console holds no data, the API behind it checks the token.
        let res = app.request(awc::http::Method::GET, &format!("/ui/{file}"), &[("authorization", "")], None).await;
        assert_eq!(res.status, 200, "{file}");
        // Not assert_eq: a byte-by-byte dump of a whole file says less than the file's name.
        assert!(res.body == std::fs::read(dir.join(file)).unwrap(), "{file} is stale in the binary: rebuild");
        assert_eq!(res.header("content-security-policy"), Some(CONTENT_SECURITY_POLICY), "{file}");
        assert_eq!(res.header("x-content-type-options"), Some("nosniff"), "{file}");
        assert_eq!(res.header("x-frame-options"), Some("DENY"), "{file}");
        assert_eq!(res.header("referrer-policy"), Some("no-referrer"), "{file}");
        assert_eq!(res.header("cache-control"), Some("no-store"), "{file}");
        let kind = res.header("content-type").unwrap();
        if file.ends_with(".js") {
            assert!(kind.starts_with("text/javascript"), "{file}: {kind}");
        }
    }
    let index = app.get("/ui/").await;
    assert_eq!(index.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(index.body == std::fs::read(dir.join("index.html")).unwrap(), "/ui/ is not index.html");
}

/// No inline script or style, no eval: the policy says so, and the files need nothing more.
#[test]
fn the_policy_is_strict_and_the_files_live_within_it() {
    let policy = CONTENT_SECURITY_POLICY;
    for directive in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    let dir = console_dir();
    let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(!index.contains("<style") && !index.contains("style="), "inline style in index.html");
    for script in index.match_indices("<script").map(|(i, _)| &index[i..]) {
        let tag = &script[..script.find('>').unwrap()];
        assert!(tag.contains("src="), "inline script in index.html: {tag}");
    }
    for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
        let text = std::str::from_utf8(asset.body).unwrap();
        for banned in ["eval(", "new Function"] {
            assert!(!text.contains(banned), "{} uses {banned}", asset.path);
        }
        // Ours (Preact itself supports innerHTML for those who ask): no raw HTML, no inline
        // style, and the token never outlives the tab.
        if !asset.path.starts_with("vendor/") {
            for banned in ["innerHTML", "style=", "localStorage"] {
                assert!(!text.contains(banned), "{} uses {banned}", asset.path);
            }
        }
    }
}
