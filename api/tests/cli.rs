//! The command line as a new user meets it: tokens and the data directory, the version, shell
//! completions and the man page, registered API clients, and the systemd units that run it.

use std::path::Path;
use std::process::{Command, Output};

use certmap_db::testdb::{self, scratch_dir};

const BIN: &str = env!("CARGO_BIN_EXE_certmap");

fn certmap(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("CERTMAP_JWT_SECRET")
        .env_remove("CERTMAP_DATA_DIR")
        .env_remove("CERTMAP_DATABASE_URL");
    command
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Without a secret there is no server to sign for: `token issue` says where it looked and how to
/// point it right, creates nothing, and exits non-zero.
#[test]
fn token_issue_never_invents_a_secret() {
    let dir = scratch_dir("no-secret");
    std::fs::create_dir_all(&dir).unwrap();
    let out = certmap(&["token", "issue", "--role", "admin", "--data-dir"]).arg(&dir).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.is_empty(), "no token printed: {stdout}");
    assert!(stderr.contains(&dir.join("jwt.secret").display().to_string()), "{stderr}");
    for way in ["--data-dir", "CERTMAP_DATA_DIR", "CERTMAP_JWT_SECRET", "certmap serve"] {
        assert!(stderr.contains(way), "{way}: {stderr}");
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "nothing was created");

    // With the server's secret in place, the same command signs, and --ttl takes seconds too.
    std::fs::write(dir.join("jwt.secret"), certmap::secrets::SecretKeys::generate_key_base64()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("jwt.secret"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let out =
        certmap(&["token", "issue", "--role", "reader", "--ttl", "30s", "--data-dir"]).arg(&dir).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.trim().split('.').count(), 3, "{stdout}");

    let out = certmap(&["token", "issue", "--role", "reader", "--ttl", "30 seconds", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("not a lifetime") && stderr.contains("30s, 90m, 12h, 30d"), "{stderr}");
    assert!(!stderr.contains("token keys"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Root in a checkout under a mode-700 home: `./certmap-data` is out of the postgres user's
/// reach, so `serve` and `token issue` both use /var/lib/certmap, and the message says why.
#[test]
fn root_in_a_private_home_looks_in_the_system_data_directory() {
    use std::os::unix::fs::PermissionsExt;
    let home = scratch_dir("private-home");
    let clone = home.join("clone");
    std::fs::create_dir_all(&clone).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = certmap(&["token", "issue", "--role", "admin"]).current_dir(&clone).output().unwrap();
    let (stdout, stderr) = text(&out);
    let _ = std::fs::remove_dir_all(&home);
    if !is_root() {
        // PostgreSQL runs as ourselves: the default is where we are.
        assert!(stderr.contains("./certmap-data (the default)"), "{stderr}");
    } else if Path::new("/var/lib/certmap/jwt.secret").exists() {
        // A server on this machine already uses the system location: its secret signs.
        assert!(out.status.success(), "{stderr}");
        assert_eq!(stdout.trim().split('.').count(), 3, "{stdout}");
    } else {
        assert!(!out.status.success());
        assert!(
            stderr.contains("/var/lib/certmap (the default ./certmap-data is not reachable by the 'postgres' user"),
            "{stderr}"
        );
        assert!(!Path::new("/var/lib/certmap/jwt.secret").exists(), "token issue created no secret");
    }
}

#[test]
fn version_names_the_git_revision() {
    let out = certmap(&["--version"]).output().unwrap();
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    let line = stdout.trim();
    assert!(line.starts_with(&format!("certmap {} (git ", env!("CARGO_PKG_VERSION"))), "{line}");
    let revision = line.trim_end_matches(')').rsplit(' ').next().unwrap();
    assert!(
        revision == "unknown" || (revision.len() == 12 && revision.chars().all(|c| c.is_ascii_hexdigit())),
        "{line}"
    );
}

#[test]
fn completions_and_the_man_page_come_from_the_same_definitions() {
    for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef certmap"), ("fish", "complete -c certmap")] {
        let out = certmap(&["completions", shell]).output().unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        assert!(stdout.contains(marker), "{shell}: {stdout}");
        for command in ["serve", "token", "api-client", "pull", "completions"] {
            assert!(stdout.contains(command), "{shell} completes {command}");
        }
    }
    let out = certmap(&["man"]).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with(".ie \\n(.g .ds Aq") || stdout.contains(".TH certmap"), "{stdout}");
    assert!(stdout.contains("api\\-client") || stdout.contains("api-client"), "{stdout}");
    if certmap_db::testtools::find("man").is_some() {
        // man renders it without a warning (what `man ./certmap.1` would show).
        let dir = scratch_dir("man");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("certmap.1"), &stdout).unwrap();
        let rendered = Command::new("man")
            .arg("-l")
            .arg(dir.join("certmap.1"))
            .env("MANWIDTH", "100")
            .env("MAN_KEEP_FORMATTING", "0")
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            String::from_utf8_lossy(&rendered.stdout).contains("certmap"),
            "{}",
            String::from_utf8_lossy(&rendered.stderr)
        );
    }
}

/// `api-client add`, `list` and `remove` round-trip, and removing what is not there says so.
#[test]
fn api_clients_can_be_listed_and_removed() {
    let db = testdb::server().create_database();
    let dir = scratch_dir("api-clients");
    std::fs::create_dir_all(&dir).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["gw1.contoso.com".into()]).unwrap().self_signed(&key).unwrap();
    std::fs::write(dir.join("gw1.pem"), cert.pem()).unwrap();
    let run = |args: &[&str]| {
        let out = certmap(&["api-client"])
            .args(args)
            .args(["--database-url", db.url(), "--data-dir"])
            .arg(&dir)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        (out.status.success(), stdout, stderr)
    };
    let (ok, stdout, _) = run(&["list"]);
    assert!(ok && stdout.contains("no api clients are registered"), "{stdout}");
    let pem = dir.join("gw1.pem").display().to_string();
    let (ok, stdout, stderr) =
        run(&["add", "--name", "gw1", "--role", "gateway", "--site", "Default Web Site", "--cert", &pem]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("registered api client 1 (gw1, role gateway, "), "{stdout}");
    let (ok, stdout, _) = run(&["list"]);
    assert!(ok);
    let row = stdout.lines().find(|l| l.contains("gw1")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(row.contains("gateway") && row.contains("Default Web Site") && row.contains("(nginx)"), "{row}");
    let (ok, _, stderr) = run(&["remove", "gw2"]);
    assert!(!ok && stderr.contains("no api client has the id or name \"gw2\""), "{stderr}");
    let (ok, stdout, stderr) = run(&["remove", "1"]);
    assert!(ok && stdout.contains("removed 1 api client"), "{stdout}{stderr}");
    let (_, stdout, _) = run(&["list"]);
    assert!(stdout.contains("no api clients are registered"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The shipped units pass `systemd-analyze verify` (pointed at the built binary, since none is
/// installed under /usr/local/bin here).
#[test]
fn the_systemd_units_verify() {
    if !certmap_db::testtools::require(&["systemd-analyze"]) {
        return;
    }
    let dir = scratch_dir("systemd");
    std::fs::create_dir_all(&dir).unwrap();
    let units = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/systemd");
    let mut names = Vec::new();
    for name in ["certmap.service", "certmap-pull@.service"] {
        let text = std::fs::read_to_string(units.join(name)).unwrap();
        assert!(text.contains("ExecStart=/usr/local/bin/certmap "), "{name} runs the installed binary");
        std::fs::write(dir.join(name), text.replace("/usr/local/bin/certmap", BIN)).unwrap();
        names.push(dir.join(name));
    }
    let out = Command::new("systemd-analyze").args(["verify", "--man=no"]).args(&names).output().unwrap();
    let (stdout, stderr) = text(&out);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success() && stderr.trim().is_empty(), "systemd-analyze verify:\n{stdout}{stderr}");
    let example = std::fs::read_to_string(units.join("certmap-pull.env.example")).unwrap();
    for variable in ["CERTMAP_SERVER", "CERTMAP_TOKEN", "CERTMAP_SITE", "CERTMAP_PULL_FORMAT", "CERTMAP_PULL_OUT"] {
        assert!(example.contains(&format!("{variable}=")), "{variable}");
    }
}

/// A certificate blob that is cut short is named in the user's terms, once, never with the
/// parser's own words ("nom error: Eof").
#[test]
fn lint_names_a_damaged_certificate_in_the_users_terms() {
    let base64: String =
        include_str!("../src/render/testdata/alice.pem").lines().filter(|l| !l.starts_with("-----")).collect();
    let cut = &base64[..base64.len() / 2 / 4 * 4];
    let config = format!(
        r#"<configuration><location path="Default Web Site"><system.webServer><security><authentication>
<iisClientCertificateMappingAuthentication enabled="true"><oneToOneMappings>
<add userName="CONTOSO\alice" certificate="{cut}" />
</oneToOneMappings></iisClientCertificateMappingAuthentication></authentication></security></system.webServer></location></configuration>"#
    );
    let dir = scratch_dir("lint-damaged");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("applicationHost.config"), config).unwrap();
    let out = certmap(&["lint"]).arg(dir.join("applicationHost.config")).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let line = stdout.lines().find(|l| l.contains("[certificate-damaged]")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("its DER encoding ends early or is damaged"), "{line}");
    assert_eq!(line.matches("ends early").count(), 1, "said once: {line}");
    assert!(!stdout.contains("nom"), "{stdout}");
}
