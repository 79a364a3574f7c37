//! Hears PostgreSQL announce changes to sites (`certmap_sites`) and to registered API clients
//! (`certmap_api_clients`) and tells the gateway cache, so a change made through any replica (or
//! the CLI) reaches this one's cache and long-pollers at once. Reconnects with backoff and jitter;
//! while disconnected the cache trusts nothing for long.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{stream, StreamExt};
use tokio_postgres::{AsyncMessage, NoTls};

use crate::http::gateway_cache::GatewayCache;

const SITES: &str = "certmap_sites";
const API_CLIENTS: &str = "certmap_api_clients";

/// Runs until the task is dropped.
pub async fn listen(url: String, cache: Arc<GatewayCache>) {
    let config = match url.parse::<tokio_postgres::Config>() {
        Ok(config) => config,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the database URL for change announcements; every cached site is confirmed with the database each second instead");
            return;
        }
    };
    let mut failures = 0u32;
    loop {
        match hear(&config, &cache).await {
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

async fn hear(config: &tokio_postgres::Config, cache: &GatewayCache) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let mut messages = stream::poll_fn(move |cx| connection.poll_message(cx));
    let statement = format!("LISTEN {SITES}; LISTEN {API_CLIENTS}");
    {
        let listen = client.batch_execute(&statement);
        tokio::pin!(listen);
        // The connection must be driven while LISTEN is in flight.
        loop {
            tokio::select! {
                done = &mut listen => { done?; break; }
                message = messages.next() => match message {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e),
                    None => return Ok(()),
                },
            }
        }
    }
    cache.set_listening(true);
    tracing::info!("hearing site changes from PostgreSQL");
    while let Some(message) = messages.next().await {
        if let AsyncMessage::Notification(n) = message? {
            match (n.channel(), parse(n.payload())) {
                (API_CLIENTS, _) => cache.clients_changed(),
                (_, Some((site, revision))) => cache.announced(site, revision),
                (_, None) => tracing::warn!(payload = n.payload(), "unreadable site change announcement"),
            }
        }
    }
    drop(client);
    Ok(())
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
