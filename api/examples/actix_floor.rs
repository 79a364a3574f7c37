//! `bench/run`'s context line for authorize: actix-web alone, answering every request with the
//! headers of authorize's pass and no certmap code at all. Its rate against nginx's `return 200`
//! under the same load is the most certmap's authorize could reach on this framework and machine.
//!
//! `cargo run --release --example actix_floor -- WORKERS` — listens on a free 127.0.0.1 port and
//! prints `listening on PORT`.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, App, HttpResponse, HttpServer};

const USER: HeaderName = HeaderName::from_static("x-certmap-user");
const MAPPING: HeaderName = HeaderName::from_static("x-certmap-mapping-id");
const NOT_STORED: HeaderValue = HeaderValue::from_static("no-store");

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let workers = std::env::args().nth(1).and_then(|w| w.parse().ok()).unwrap_or(1);
    let server = HttpServer::new(|| {
        App::new().default_service(web::to(|| async {
            HttpResponse::Ok()
                .insert_header((USER, HeaderValue::from_static("BENCH\\user0000000")))
                .insert_header((MAPPING, HeaderValue::from_static("1")))
                .insert_header((actix_web::http::header::CACHE_CONTROL, NOT_STORED))
                .finish()
        }))
    })
    .workers(workers)
    .bind(("127.0.0.1", 0))?;
    println!("listening on {}", server.addrs()[0].port());
    server.run().await
}
