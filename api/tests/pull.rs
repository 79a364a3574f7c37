//! `certmap pull` as operators run it: flags and CERTMAP_* variables reach the server as the API
//! expects them, every change is logged, and the token never is.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;

use certmap_db::testdb::scratch_dir;

const BIN: &str = env!("CARGO_BIN_EXE_certmap");
const TOKEN: &str = "eyJ-gateway.token-that-must.stay-secret";

/// A stand-in for certmap that gives each connection the next canned answer and reports the
/// request head it received.
fn fake_server(answers: Vec<String>) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, heads) = mpsc::channel();
    std::thread::spawn(move || {
        for (stream, answer) in listener.incoming().flatten().zip(answers) {
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                head.push_str(&line);
                line.clear();
            }
            let _ = tx.send(head);
            let _ = reader.into_inner().write_all(answer.as_bytes());
        }
    });
    (format!("http://{addr}"), heads)
}

fn answer(status: &str, headers: &str, body: &str) -> String {
    format!("HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
}

#[test]
fn once_fetches_with_the_options_checks_reloads_and_logs_the_change_but_never_the_token() {
    let config = "server { listen 127.0.0.1:8443 ssl; }\n";
    let (server, heads) = fake_server(vec![answer("200 OK", "ETag: \"7.0-nginx-1a2b3c4d\"\r\n", config)]);
    let dir = scratch_dir("pull-binary");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("certmap.conf");
    let reloaded = dir.join("reloaded");
    let output = Command::new(BIN)
        .args(["pull", "--site", "7", "--format", "nginx", "--once", "--out"])
        .arg(&out)
        .args(["--option", "listen=127.0.0.1:8443", "--option", "upstream=http://127.0.0.1:9000/app"])
        .arg("--check")
        .arg(format!("grep -q 8443 {}", out.display()))
        .arg("--reload")
        .arg(format!("touch {}", reloaded.display()))
        .env("CERTMAP_SERVER", &server)
        .env("CERTMAP_TOKEN", TOKEN)
        .env("CERTMAP_LOG", "trace")
        .output()
        .unwrap();
    let log = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{log}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), config);
    assert!(reloaded.exists(), "the reload ran after the check passed");

    let head = heads.recv().unwrap();
    let request_line = head.lines().next().unwrap();
    assert_eq!(
        request_line,
        "GET /api/v1/sites/7/config/nginx?listen=127.0.0.1%3A8443&upstream=http%3A%2F%2F127.0.0.1%3A9000%2Fapp HTTP/1.1",
        "--once asks without wait, the options in the order given"
    );
    assert!(head.to_ascii_lowercase().contains(&format!("authorization: bearer {}", TOKEN.to_ascii_lowercase())));
    assert!(log.contains("installed a new config") && log.contains("7.0-nginx-1a2b3c4d"), "{log}");
    assert!(log.contains("bytes=") || log.contains("\"bytes\""), "the size of the change is logged: {log}");
    assert!(!log.contains(TOKEN), "the token reached the log:\n{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_refused_token_ends_the_agent_with_the_servers_reason_and_leaves_the_file() {
    let problem = r#"{"type":"urn:certmap:problem:unauthorized","code":"unauthorized","status":401,"title":"Unauthorized","detail":"the token has expired"}"#;
    let (server, _heads) =
        fake_server(vec![answer("401 Unauthorized", "Content-Type: application/problem+json\r\n", problem)]);
    let dir = scratch_dir("pull-refused");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("certmap.conf");
    std::fs::write(&out, "last good\n").unwrap();
    // Not --once: a refusal ends even the long-running agent, where an outage would not.
    let output = Command::new(BIN)
        .args(["pull", "--server", &server, "--site", "7", "--format", "haproxy-map", "--out"])
        .arg(&out)
        .env("CERTMAP_TOKEN", TOKEN)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("401") && stderr.contains("the token has expired"), "{stderr}");
    assert!(!stderr.contains(TOKEN) && !String::from_utf8_lossy(&output.stdout).contains(TOKEN));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "last good\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn options_the_agent_owns_are_refused_on_the_command_line() {
    for option in ["wait=5", "include_secrets=true", "listen"] {
        let output = Command::new(BIN)
            .args(["pull", "--server", "http://127.0.0.1:1", "--token", "t.t.t", "--site", "1", "--format", "nginx"])
            .args(["--out", "/nonexistent/x", "--option", option])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "clap usage error for {option}");
    }
}

#[test]
fn an_outage_is_waited_out_and_sigterm_stops_the_agent_cleanly() {
    use std::process::Stdio;
    let dir = scratch_dir("pull-outage");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("certmap.conf");
    std::fs::write(&out, "last good\n").unwrap();
    // Nothing listens on port 1: every request fails to connect.
    let mut child = Command::new(BIN)
        .args(["pull", "--server", "http://127.0.0.1:1", "--site", "7", "--format", "nginx", "--out"])
        .arg(&out)
        .env("CERTMAP_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok);
    let retried = lines.find(|l| l.contains("the gateway keeps its last good config"));
    assert!(retried.is_some_and(|l| l.contains("retry_in_ms")), "an outage is retried with a delay");
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "SIGTERM is a clean stop: {status}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "last good\n");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Configured by its CERTMAP_PULL_* variables alone, as the systemd unit runs it: it says what it
/// installed, when certmap answers again after an outage, and when it stops.
#[test]
fn the_agent_says_what_it_installed_when_certmap_is_back_and_when_it_stops() {
    use std::process::Stdio;
    use std::time::Duration;
    let config = "server { listen 127.0.0.1:8443 ssl; }\n";
    let bundle = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    let (server, heads) = fake_server(vec![
        answer("503 Service Unavailable", "", "{}"),
        answer("200 OK", "ETag: \"8.0-nginx-1a2b3c4d\"\r\n", config),
        answer("200 OK", "", bundle),
    ]);
    let dir = scratch_dir("pull-env");
    std::fs::create_dir_all(&dir).unwrap();
    let (out, ca_out) = (dir.join("certmap.conf"), dir.join("client-ca.pem"));
    let mut child = Command::new(BIN)
        .arg("pull")
        .env("CERTMAP_SERVER", &server)
        .env("CERTMAP_TOKEN", TOKEN)
        .env("CERTMAP_SITE", "8")
        .env("CERTMAP_PULL_FORMAT", "nginx")
        .env("CERTMAP_PULL_OUT", &out)
        .env("CERTMAP_PULL_CA_OUT", &ca_out)
        .env("CERTMAP_PULL_OPTIONS", "listen=127.0.0.1:8443,upstream=http://127.0.0.1:9000")
        .env("CERTMAP_PULL_INTERVAL_MS", "10")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    for pipe in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || BufReader::new(pipe).lines().map_while(Result::ok).for_each(|l| drop(tx.send(l))));
    }
    let mut log = Vec::new();
    while !log.iter().any(|l: &String| l.contains("back in step")) {
        match lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => log.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("no 'back in step' after the outage:\n{}", log.join("\n"));
            }
        }
    }
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(child.wait().unwrap().success());
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
        log.push(line);
    }
    let log = log.join("\n");
    assert!(
        heads.recv().unwrap().contains("listen=127.0.0.1%3A8443&upstream="),
        "CERTMAP_PULL_OPTIONS reach the server"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), config);
    assert_eq!(std::fs::read_to_string(&ca_out).unwrap(), bundle);
    let installed = |what: &str, file: &std::path::Path| {
        log.lines().any(|l| l.contains(what) && l.contains(&file.display().to_string()))
    };
    assert!(installed("installed a new config", &out), "{log}");
    assert!(installed("installed the CA bundle", &ca_out), "{log}");
    assert!(log.contains("certmap pull stopped"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
