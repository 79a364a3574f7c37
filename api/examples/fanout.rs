//! `bench/run`'s fan-out figure: a fleet of gateways long-polling one site's snapshot, each on its
//! own keep-alive connection; one mapping changes; how long until every one of them holds the new
//! snapshot, and what a waiting connection costs the server in memory.
//!
//! `cargo run --release --example fanout -- PORT SITE_ID MAPPING_ID GATEWAY_TOKEN ADMIN_TOKEN CONNECTIONS SERVER_PID`
//!
//! 127.0.0.1 only; raises its own open-file limit; gives up after two minutes. Prints one JSON line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The whole run, connections opened to the last answer read; under the 60 s a long-poll may wait.
const DEADLINE: Duration = Duration::from_secs(120);
/// Connections being opened at once: a fleet does not connect in one instant either, and the
/// listen backlog would drop a burst of 10,000 SYNs.
const CONNECTING: usize = 256;

struct Args {
    port: u16,
    site: i64,
    mapping: i64,
    gateway: String,
    admin: String,
    connections: usize,
    server_pid: u32,
}

fn args() -> Result<Args, Error> {
    let usage = "usage: fanout PORT SITE_ID MAPPING_ID GATEWAY_TOKEN ADMIN_TOKEN CONNECTIONS SERVER_PID";
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() != 7 {
        return Err(usage.into());
    }
    Ok(Args {
        port: a[0].parse()?,
        site: a[1].parse()?,
        mapping: a[2].parse()?,
        gateway: a[3].clone(),
        admin: a[4].clone(),
        connections: a[5].parse()?,
        server_pid: a[6].parse()?,
    })
}

/// Soft open-file limit up to the hard one: one descriptor per connection, and some to spare.
fn raise_open_files(needed: usize) -> Result<(), Error> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        limit.rlim_cur = limit.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
    }
    if (limit.rlim_cur as usize) < needed {
        return Err(
            format!("the open-file limit is {}, {needed} are needed (raise it: ulimit -Hn)", limit.rlim_cur).into()
        );
    }
    Ok(())
}

fn rss_kb(pid: u32) -> Result<u64, Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS in /proc/PID/status".into())
}

struct Response {
    status: u16,
    etag: Option<String>,
    body: Vec<u8>,
}

/// One HTTP/1.1 answer with a Content-Length, read off a kept-alive connection.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Response, Error> {
    buf.clear();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end])?;
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).ok_or("no status line")?.parse()?;
    let (mut length, mut etag) = (0usize, None);
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse()?;
            } else if name.eq_ignore_ascii_case("etag") {
                etag = Some(value.trim().to_owned());
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err("a chunked answer: expected a Content-Length".into());
            }
        }
    }
    let mut body = buf.split_off(head_end);
    while body.len() < length {
        let mut chunk = vec![0u8; length - body.len()];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err("the server closed the connection mid-body".into());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Response { status, etag, body })
}

async fn exchange(stream: &mut TcpStream, request: &str) -> Result<Response, Error> {
    stream.write_all(request.as_bytes()).await?;
    read_response(stream, &mut Vec::with_capacity(8192)).await
}

fn get(path: &str, token: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n{extra}\r\n")
}

async fn waiting(stream: &mut TcpStream, token: &str) -> Result<usize, Error> {
    let metrics = exchange(stream, &get("/metrics", token, "")).await?;
    let text = String::from_utf8(metrics.body)?;
    text.lines()
        .find_map(|l| l.strip_prefix("certmap_long_polls_waiting "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "no certmap_long_polls_waiting in /metrics".into())
}

async fn run(a: Args) -> Result<String, Error> {
    let addr = ("127.0.0.1", a.port);
    let snapshot = format!("/api/v1/sites/{}/snapshot", a.site);
    let mut control = TcpStream::connect(addr).await?;
    let first = exchange(&mut control, &get(&snapshot, &a.gateway, "")).await?;
    let old = first.etag.filter(|_| first.status == 200).ok_or("the snapshot did not answer 200 with an ETag")?;
    if waiting(&mut control, &a.gateway).await? != 0 {
        return Err("long-polls are already waiting: the server is not idle".into());
    }
    let rss_before = rss_kb(a.server_pid)?;

    let poll = Arc::new(get(&format!("{snapshot}?wait=60"), &a.gateway, &format!("If-None-Match: {old}\r\n")));
    let connecting = Arc::new(Semaphore::new(CONNECTING));
    let mut tasks = Vec::with_capacity(a.connections);
    for _ in 0..a.connections {
        let (poll, connecting, old) = (poll.clone(), connecting.clone(), old.clone());
        tasks.push(tokio::spawn(async move {
            let mut stream = {
                let _seat = connecting.acquire().await?;
                let stream = TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                stream
            };
            stream.write_all(poll.as_bytes()).await?;
            let answer = read_response(&mut stream, &mut Vec::with_capacity(4096)).await?;
            let done = Instant::now();
            match answer.etag {
                Some(tag) if answer.status == 200 && tag != old && !answer.body.is_empty() => Ok::<_, Error>(done),
                _ => Err(format!("a long-poll answered {} without a new snapshot", answer.status).into()),
            }
        }));
    }
    // Every connection must be parked on the server before the change, or the figure would time
    // connecting rather than fanning out.
    let opened = Instant::now();
    while waiting(&mut control, &a.gateway).await? < a.connections {
        if opened.elapsed() > Duration::from_secs(45) {
            return Err("not every long-poll was waiting after 45 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let open_s = opened.elapsed().as_secs_f64();
    let rss_waiting = rss_kb(a.server_pid)?;

    let body = format!("{{\"description\": \"fan-out at {:?}\"}}", std::time::SystemTime::now());
    let patch = format!(
        "PATCH /api/v1/sites/{}/mappings/{} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        a.site,
        a.mapping,
        a.admin,
        body.len()
    );
    let mut writer = TcpStream::connect(addr).await?;
    let changed = Instant::now();
    let answer = exchange(&mut writer, &patch).await?;
    let write_ms = changed.elapsed().as_secs_f64() * 1000.0;
    if answer.status != 200 {
        return Err(format!("the change answered {}: {}", answer.status, String::from_utf8_lossy(&answer.body)).into());
    }
    let (mut last, mut failed) = (changed, 0);
    for task in tasks {
        match task.await? {
            Ok(done) => last = last.max(done),
            Err(e) => {
                if failed == 0 {
                    eprintln!("fanout: {e}");
                }
                failed += 1;
            }
        }
    }
    if failed > 0 {
        return Err(format!("{failed} of {} long-polls did not get the new snapshot", a.connections).into());
    }
    let growth = rss_waiting.saturating_sub(rss_before) as f64;
    Ok(format!(
        "{{\"connections\": {}, \"fanout_ms\": {:.1}, \"write_ms\": {write_ms:.1}, \"open_s\": {open_s:.2}, \"rss_before_kb\": {rss_before}, \"rss_waiting_kb\": {rss_waiting}, \"kb_per_connection\": {:.2}}}",
        a.connections,
        (last - changed).as_secs_f64() * 1000.0,
        growth / a.connections as f64
    ))
}

fn main() {
    let outcome = args().and_then(|a| {
        raise_open_files(a.connections + 64)?;
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        runtime
            .block_on(async { tokio::time::timeout(DEADLINE, run(a)).await.map_err(|_| "gave up after two minutes")? })
    });
    match outcome {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("fanout: {e}");
            std::process::exit(1);
        }
    }
}
