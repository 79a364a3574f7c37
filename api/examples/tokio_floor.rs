//! `bench/run`'s second context line for authorize: no framework at all. Each worker thread runs
//! its own single-threaded tokio runtime accepting on a shared 127.0.0.1 socket; a connection reads
//! into one buffer, parses request heads with httparse (pipelined ones too) and writes authorize's
//! pass, fixed bytes, for each. No routing, no header map, no logging: what a hand-written gateway
//! listener over tokio could reach here at most, to set beside actix-web's floor and nginx.
//!
//! `cargo run --release --example tokio_floor -- WORKERS` — prints `listening on PORT`.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASS: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nx-certmap-user: BENCH\\user0000000\r\n\
x-certmap-mapping-id: 1\r\ncache-control: no-store\r\ndate: Thu, 03 Dec 2026 00:00:00 GMT\r\n\r\n";

async fn serve(mut stream: tokio::net::TcpStream) {
    let (mut buf, mut have, mut out) = (vec![0u8; 8192], 0, Vec::with_capacity(4096));
    loop {
        match stream.read(&mut buf[have..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => have += n,
        }
        let mut used = 0;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(&buf[used..have]) {
                Ok(httparse::Status::Complete(len)) => {
                    out.extend_from_slice(PASS);
                    used += len;
                }
                Ok(httparse::Status::Partial) if have < buf.len() => break,
                _ => return,
            }
        }
        buf.copy_within(used..have, 0);
        have -= used;
        if stream.write_all(&out).await.is_err() {
            return;
        }
        out.clear();
    }
}

fn main() -> std::io::Result<()> {
    let workers: usize = std::env::args().nth(1).and_then(|w| w.parse().ok()).unwrap_or(1);
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    println!("listening on {}", listener.local_addr()?.port());
    let threads: Vec<_> = (0..workers)
        .map(|_| {
            let listener = listener.try_clone()?;
            Ok(std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build().expect("runtime");
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                    while let Ok((stream, _)) = listener.accept().await {
                        let _ = stream.set_nodelay(true);
                        tokio::task::spawn_local(serve(stream));
                    }
                })
            }))
        })
        .collect::<std::io::Result<_>>()?;
    for thread in threads {
        let _ = thread.join();
    }
    Ok(())
}
