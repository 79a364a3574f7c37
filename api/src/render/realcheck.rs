//! Test helpers that hand rendered text to the real software (xmllint, nginx, haproxy, apache2,
//! grep -P for PCRE). A check whose program is absent fails with the package to install, unless
//! CERTMAP_SKIP_GATEWAY_TESTS=1 asks to skip it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use std::io::Write as _;

/// The first of `candidates` found on PATH or as an absolute path.
pub fn find(candidates: &[&str]) -> Option<PathBuf> {
    for c in candidates {
        let p = Path::new(c);
        if p.is_absolute() && p.exists() {
            return Some(p.to_path_buf());
        }
        if let Some(paths) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&paths).chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")]) {
                let full = dir.join(c);
                if full.is_file() {
                    return Some(full);
                }
            }
        }
    }
    None
}

/// The program is missing: the test fails naming the package to install (or, with
/// CERTMAP_SKIP_GATEWAY_TESTS=1, returns having said it skipped).
fn skip(program: &str) {
    certmap_db::testtools::require(&[program]);
}

pub fn tempdir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("certmap-render-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn assert_ok(what: &str, out: &Output, file_text: &str) {
    assert!(
        out.status.success(),
        "{what} refused the rendered file:\nstdout:\n{}\nstderr:\n{}\n--- file ---\n{file_text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn xmllint(xml: &str) {
    let Some(bin) = find(&["xmllint"]) else { return skip("xmllint") };
    let dir = tempdir("xml");
    let file = dir.join("fragment.xml");
    std::fs::write(&file, xml).unwrap();
    assert_ok("xmllint", &run(Command::new(bin).arg("--noout").arg(&file)), xml);
}

/// `pcre_matches` answered None: fails saying why, unless CERTMAP_SKIP_GATEWAY_TESTS=1.
pub fn no_pcre() {
    assert!(
        !certmap_db::testtools::require(&["grep"]),
        "grep -P (PCRE) does not work here: GNU grep built with PCRE is needed"
    );
}

/// Does PCRE (as `grep -P`, which nginx, HAProxy and Apache share the dialect of) find `regex` in
/// `text`? `None` when grep -P is unavailable. `-z` so a text with a newline is one record.
pub fn pcre_matches(regex: &str, text: &str) -> Option<bool> {
    static GREP: OnceLock<Option<PathBuf>> = OnceLock::new();
    let grep = GREP
        .get_or_init(|| {
            let g = find(&["grep"])?;
            let ok = Command::new(&g).args(["-qP", "x"]).stdin(Stdio::null()).status().ok()?;
            // Exit 1 = "no match" (PCRE works); 2 = -P unsupported.
            (ok.code() == Some(1)).then_some(g)
        })
        .as_ref()?;
    let mut child = Command::new(grep)
        .args(["-qzP", "--", regex])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    match out.status.code() {
        Some(0) => Some(true),
        Some(1) => Some(false),
        _ => panic!("grep -P rejected {regex:?}: {}", String::from_utf8_lossy(&out.stderr)),
    }
}

/// A throwaway CA-signed server certificate and key, and the client CA bundle, in `dir`.
pub struct Pki {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Certificate and key in one file, as HAProxy's `crt` wants.
    pub combined: PathBuf,
    pub ca: PathBuf,
}

pub fn pki(dir: &Path) -> Pki {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
    let p = Pki {
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
        combined: dir.join("server-combined.pem"),
        ca: dir.join("client-ca.pem"),
    };
    std::fs::write(&p.cert, cert.pem()).unwrap();
    std::fs::write(&p.key, key.serialize_pem()).unwrap();
    std::fs::write(&p.combined, format!("{}{}", cert.pem(), key.serialize_pem())).unwrap();
    std::fs::write(&p.ca, format!("{}{}", super::fixture::CA, super::fixture::CA2)).unwrap();
    p
}

pub fn gateway_options(pki: &Pki) -> super::GatewayOptions {
    super::GatewayOptions {
        listen: "127.0.0.1:18443".into(),
        upstream: "http://127.0.0.1:19000".into(),
        header: "X-Remote-User".into(),
        server_cert: pki.cert.to_str().unwrap().into(),
        server_key: pki.key.to_str().unwrap().into(),
        ca_bundle: pki.ca.to_str().unwrap().into(),
        verify_depth: 2,
        crl_file: None,
    }
}

/// Per-request options whose files exist, for a real check: a token file holding `token_line` (in
/// the gateway's syntax), and mTLS to an https certmap with the throwaway PKI's files.
pub fn authorize_options(
    dir: &Path,
    pki: &Pki,
    token_line: &str,
) -> (super::AuthorizeOptions, super::AuthorizeOptions) {
    let token = dir.join("authorize-token.conf");
    std::fs::write(&token, token_line).unwrap();
    let token_file = super::AuthorizeOptions { token_file: token.display().to_string(), ..Default::default() };
    let mtls = super::AuthorizeOptions {
        certmap: "https://127.0.0.1:8443".into(),
        certmap_auth: "mtls".into(),
        client_cert: pki.cert.display().to_string(),
        client_key: pki.key.display().to_string(),
        certmap_ca: pki.ca.display().to_string(),
        ..Default::default()
    };
    (token_file, mtls)
}

/// `nginx -t` on a minimal nginx.conf that includes `rendered` inside `http {}`.
pub fn nginx_t(dir: &Path, rendered: &str) {
    let Some(bin) = find(&["nginx"]) else { return skip("nginx") };
    let site = dir.join("site.conf");
    std::fs::write(&site, rendered).unwrap();
    let d = dir.display();
    let conf = format!(
        "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n    access_log off;\n    \
         client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/fastcgi;\n    \
         uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n    include {};\n}}\n",
        site.display()
    );
    let file = dir.join("nginx.conf");
    std::fs::write(&file, &conf).unwrap();
    let out = run(Command::new(bin).arg("-t").arg("-p").arg(dir).arg("-c").arg(&file));
    assert_ok("nginx -t", &out, rendered);
}

pub fn haproxy_c(dir: &Path, rendered: &str) {
    let Some(bin) = find(&["haproxy"]) else { return skip("haproxy") };
    let file = dir.join("haproxy.cfg");
    std::fs::write(&file, rendered).unwrap();
    assert_ok("haproxy -c", &run(Command::new(bin).arg("-c").arg("-f").arg(&file)), rendered);
}

/// `apache2 -t` on a self-contained config that loads the modules the rendered vhost needs and
/// then includes it.
pub fn apache_t(dir: &Path, rendered: &str, listen: &str) {
    let Some(bin) = find(&["apache2", "httpd"]) else { return skip("apache2") };
    let modules = ["/usr/lib/apache2/modules", "/usr/lib64/httpd/modules", "/usr/libexec/apache2"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.join("mod_ssl.so").exists());
    let Some(modules) = modules else { return skip("apache2") };
    let site = dir.join("site.conf");
    std::fs::write(&site, rendered).unwrap();
    let mut conf = format!(
        "ServerRoot {d}\nPidFile {d}/httpd.pid\nErrorLog {d}/error.log\nServerName localhost\nListen {listen}\n",
        d = dir.display()
    );
    for m in ["mpm_event", "authz_core", "ssl", "socache_shmcb", "headers", "proxy", "proxy_http", "env", "rewrite"] {
        let so = modules.join(format!("mod_{m}.so"));
        if so.exists() {
            conf.push_str(&format!("LoadModule {m}_module {}\n", so.display()));
        }
    }
    conf.push_str(&format!("Include {}\n", site.display()));
    let file = dir.join("httpd.conf");
    std::fs::write(&file, &conf).unwrap();
    let out =
        run(Command::new(bin).arg("-t").arg("-f").arg(&file).env("APACHE_RUN_DIR", dir).env("APACHE_LOG_DIR", dir));
    assert_ok("apache2 -t", &out, rendered);
}

/// `caddy validate` on the rendered Caddyfile alone. Caddy is a newer gateway here, so unlike the
/// checks above its absence fails the test rather than skipping it.
pub fn caddy_validate(dir: &Path, rendered: &str) {
    let bin = find(&["caddy"]).expect("caddy is not installed: apt-get install caddy (.ci/run installs it)");
    let file = dir.join("Caddyfile");
    std::fs::write(&file, rendered).unwrap();
    let out =
        run(Command::new(bin).args(["validate", "--adapter", "caddyfile", "--config"]).arg(&file).env("HOME", dir));
    assert_ok("caddy validate", &out, rendered);
}
