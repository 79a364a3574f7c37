//! Hears PostgreSQL announce changes to sites (`certmap_sites`), to registered API clients
//! (`certmap_api_clients`) and to the CRLs held (`certmap_crls`) and tells the gateway cache, so a
//! change made through any replica (or the CLI) reaches this one's cache and long-pollers at once.
//! Reconnects with backoff and jitter; while disconnected the cache trusts nothing for long.
//! What it learns of the database answering goes into the shared [`DbHealth`]: a listener that
//! cannot reconnect is usually the first to know the database is gone.

use std::sync::Arc;
use std::time::Duration;

use certmap_db::DbHealth;
use futures_util::{stream, StreamExt};
use tokio_postgres::{AsyncMessage, NoTls};

use super::cache::GatewayCache;

const SITES: &str = "certmap_sites";
const API_CLIENTS: &str = "certmap_api_clients";
const CRLS: &str = "certmap_crls";
/// How often the connection must prove it is alive. A server gone without a word (a failover, a
/// dropped route, a frozen host) sends no error: without asking, the listener would go on
/// believing it hears every change while the cache trusted what it no longer hears about, for the
/// hours TCP takes to give up.
const HEARTBEAT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
enum Lost {
    #[error(transparent)]
    Database(#[from] tokio_postgres::Error),
    #[error("PostgreSQL did not answer within {} s", .0.as_secs_f32())]
    Silent(Duration),
}

/// Runs until the task is dropped.
pub async fn listen(url: String, cache: Arc<GatewayCache>, health: Arc<DbHealth>) {
    match url.parse::<tokio_postgres::Config>() {
        Ok(config) => listen_every(config, cache, health, HEARTBEAT).await,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the database URL for change announcements; every cached site is confirmed with the database each second instead");
        }
    }
}

async fn listen_every(
    config: tokio_postgres::Config,
    cache: Arc<GatewayCache>,
    health: Arc<DbHealth>,
    heartbeat: Duration,
) {
    let mut failures = 0u32;
    loop {
        match hear(&config, &cache, &health, heartbeat).await {
            Ok(()) => failures = 0,
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!(error = %e, failures, "not hearing site changes from PostgreSQL; cached sites are confirmed each second until reconnected");
            }
        }
        cache.set_listening(false);
        tokio::time::sleep(backoff(failures)).await;
    }
}

/// 100 ms doubling to 10 s, each between half and the whole of it so replicas do not reconnect in
/// step.
fn backoff(failures: u32) -> Duration {
    let full = Duration::from_millis(100).saturating_mul(1 << failures.min(7)).min(Duration::from_secs(10));
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    full / 2 + full.mul_f64(f64::from(nanos % 1000) / 2000.0)
}

async fn hear(
    config: &tokio_postgres::Config,
    cache: &GatewayCache,
    health: &DbHealth,
    heartbeat: Duration,
) -> Result<(), Lost> {
    let connect = tokio::time::timeout(heartbeat, config.connect(NoTls)).await;
    let (client, mut connection) = match connect {
        Ok(Ok(connected)) => connected,
        Ok(Err(e)) => {
            health.lost();
            return Err(e.into());
        }
        Err(_) => {
            health.lost();
            return Err(Lost::Silent(heartbeat));
        }
    };
    let mut messages = stream::poll_fn(move |cx| connection.poll_message(cx));
    let statement = format!("LISTEN {SITES}; LISTEN {API_CLIENTS}; LISTEN {CRLS}");
    {
        let listen = client.batch_execute(&statement);
        tokio::pin!(listen);
        // The connection must be driven while LISTEN is in flight.
        loop {
            tokio::select! {
                done = &mut listen => { done?; break; }
                message = messages.next() => match message {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.into()),
                    None => return Ok(()),
                },
            }
        }
    }
    health.seen();
    cache.set_listening(true);
    tracing::info!("hearing site changes from PostgreSQL");
    let client = Arc::new(client);
    let alive = {
        let client = client.clone();
        async move {
            loop {
                tokio::time::sleep(heartbeat).await;
                match tokio::time::timeout(heartbeat, client.simple_query("")).await {
                    Ok(Ok(_)) => health.seen(),
                    Ok(Err(e)) => return Lost::Database(e),
                    Err(_) => return Lost::Silent(heartbeat),
                }
            }
        }
    };
    tokio::pin!(alive);
    loop {
        let message = tokio::select! {
            lost = &mut alive => return Err(lost),
            message = messages.next() => message,
        };
        let Some(message) = message else { return Ok(()) };
        if let AsyncMessage::Notification(n) = message? {
            match (n.channel(), parse(n.payload())) {
                (API_CLIENTS, _) => cache.clients_changed(),
                (CRLS, _) => cache.crls_changed(),
                (_, Some((site, revision))) => cache.announced(site, revision),
                (_, None) => tracing::warn!(payload = n.payload(), "unreadable site change announcement"),
            }
        }
    }
}

/// `id:revision`, or `id:deleted`.
fn parse(payload: &str) -> Option<(i64, Option<i64>)> {
    let (id, revision) = payload.split_once(':')?;
    let revision = match revision {
        "deleted" => None,
        r => Some(r.parse().ok()?),
    };
    Some((id.parse().ok()?, revision))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads() {
        assert_eq!(parse("12:7"), Some((12, Some(7))));
        assert_eq!(parse("12:deleted"), Some((12, None)));
        assert_eq!(parse("12"), None);
        assert_eq!(parse("x:1"), None);
        assert_eq!(parse("1:x"), None);
    }

    /// Between the listener and PostgreSQL over a Unix socket; once frozen it passes nothing on
    /// and closes nothing, as a server that vanished without a word.
    struct Proxy {
        config: tokio_postgres::Config,
        frozen: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Proxy {
        async fn start(target: &tokio_postgres::Config) -> Self {
            use tokio_postgres::config::Host;
            let port = target.get_ports().first().copied().unwrap_or(5432);
            let host = target.get_hosts().first().cloned().expect("the test database names a host");
            let dir = certmap_db::testdb::scratch_dir("listener-proxy");
            std::fs::create_dir_all(&dir).unwrap();
            let listener = tokio::net::UnixListener::bind(dir.join(format!(".s.PGSQL.{port}"))).unwrap();
            let frozen = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let gate = frozen.clone();
            tokio::spawn(async move {
                loop {
                    let (client, _) = listener.accept().await.unwrap();
                    let server: Box<dyn Stream> = match &host {
                        Host::Unix(path) => Box::new(
                            tokio::net::UnixStream::connect(path.join(format!(".s.PGSQL.{port}"))).await.unwrap(),
                        ),
                        Host::Tcp(name) => {
                            Box::new(tokio::net::TcpStream::connect((name.as_str(), port)).await.unwrap())
                        }
                    };
                    let (client_read, client_write) = tokio::io::split(client);
                    let (server_read, server_write) = tokio::io::split(server);
                    tokio::spawn(pass(client_read, server_write, gate.clone()));
                    tokio::spawn(pass(server_read, client_write, gate.clone()));
                }
            });
            let mut config = tokio_postgres::Config::new();
            config.host_path(&dir).port(port).user(target.get_user().unwrap_or("postgres"));
            config.dbname(target.get_dbname().unwrap_or("postgres"));
            if let Some(password) = target.get_password() {
                config.password(password);
            }
            Self { config, frozen }
        }
    }

    trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
    impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Stream for T {}

    async fn pass(
        mut from: impl tokio::io::AsyncRead + Unpin,
        mut to: impl tokio::io::AsyncWrite + Unpin,
        frozen: Arc<std::sync::atomic::AtomicBool>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buf = [0u8; 8192];
        while let Ok(n @ 1..) = from.read(&mut buf).await {
            if frozen.load(std::sync::atomic::Ordering::Acquire) {
                // Holds both ends open and answers nothing.
                std::future::pending::<()>().await;
            }
            if to.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    }

    async fn until(what: &str, condition: impl Fn() -> bool) {
        for _ in 0..1000 {
            if condition() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("never {what}");
    }

    #[tokio::test]
    async fn a_server_gone_silent_is_noticed() {
        let database = certmap_db::testdb::server().create_database();
        let proxy = Proxy::start(&database.url().parse().unwrap()).await;
        let cache = Arc::new(GatewayCache::new(1, Duration::ZERO, 0, crate::http::metrics::CacheMetrics::default()));
        let health = Arc::new(DbHealth::default());
        let heartbeat = Duration::from_millis(200);
        let listener = tokio::spawn(listen_every(proxy.config.clone(), cache.clone(), health, heartbeat));
        until("listening", || cache.is_listening()).await;
        proxy.frozen.store(true, std::sync::atomic::Ordering::Release);
        until("noticed that nothing is heard any more", || !cache.is_listening()).await;
        listener.abort();
    }

    #[test]
    fn backoff_is_bounded_and_grows() {
        assert!(backoff(0) >= Duration::from_millis(50) && backoff(0) <= Duration::from_millis(100));
        assert!(backoff(3) >= Duration::from_millis(400));
        for failures in [7, 8, 30, u32::MAX] {
            assert!(backoff(failures) <= Duration::from_secs(10));
            assert!(backoff(failures) >= Duration::from_secs(5));
        }
    }
}
