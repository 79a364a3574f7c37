//! Fetching CRLs from the `http` distribution points that mapped certificates (and trusted CAs)
//! name, so revocation is known without anyone uploading. One replica fetches at a time (a
//! PostgreSQL advisory lock); every replica uses the result, announced like an upload.
//!
//! A CRL is fetched when none is held from its URL, before its nextUpdate, and at least every
//! `--crl-refresh`; with `If-Modified-Since`, a timeout and a size limit. A distribution point
//! that fails (times out, redirects in a loop, answers HTML or too much) is logged and retried with
//! backoff and jitter, and the CRL held so far stays: its certificates turn `unknown` only once
//! that CRL is past its nextUpdate.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use actix_web::http::header;
use certmap_db::models::NewAuditEvent;
use certmap_db::queries::{audit, crls};
use certmap_db::PgPool;
use time::OffsetDateTime;

use crate::domain::crl::{http_distribution_points, Crl, MAX_CRL_BYTES};
use crate::http::crls::{hex_sha256, store_all, CrlBody, Source};
use crate::http::db;
use crate::http::problem::ApiError;

const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest wait between two failed attempts at one distribution point.
const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// When each distribution point may be tried again, and how often it failed in a row.
#[derive(Default)]
struct Attempts(HashMap<String, (u32, Instant)>);

impl Attempts {
    fn may_try(&self, url: &str, now: Instant) -> bool {
        self.0.get(url).is_none_or(|(_, next)| now >= *next)
    }

    fn succeeded(&mut self, url: &str, pause: Duration) {
        self.0.insert(url.to_owned(), (0, Instant::now() + pause));
    }

    fn failed(&mut self, url: &str) -> Duration {
        let failures = self.0.get(url).map_or(0, |(n, _)| *n).saturating_add(1);
        let full = Duration::from_secs(5).saturating_mul(1 << failures.min(10)).min(MAX_BACKOFF);
        // Between half and the whole of it, so replicas and URLs do not retry in step.
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
        let wait = full / 2 + full.mul_f64(f64::from(nanos % 1000) / 2000.0);
        self.0.insert(url.to_owned(), (failures, Instant::now() + wait));
        wait
    }
}

/// Runs until the task is dropped, looking every `refresh` (at most every 30 s) for what is due.
pub async fn run(pool: PgPool, database_url: String, refresh: Duration) {
    let Ok(config) = database_url.parse::<tokio_postgres::Config>() else {
        tracing::error!("cannot read the database URL: CRL distribution points are not fetched");
        return;
    };
    let client = awc::Client::builder().timeout(FETCH_TIMEOUT).max_redirects(5).finish();
    let mut attempts = Attempts::default();
    let tick = refresh.clamp(Duration::from_millis(200), Duration::from_secs(30));
    loop {
        if let Err(e) = round(&config, &pool, &client, refresh, &mut attempts).await {
            tracing::warn!(error = %e, "fetching CRLs failed; retrying");
        }
        tokio::time::sleep(tick).await;
    }
}

/// One look: if this replica gets the lock, every distribution point that is due.
async fn round(
    config: &tokio_postgres::Config,
    pool: &PgPool,
    client: &awc::Client,
    refresh: Duration,
    attempts: &mut Attempts,
) -> Result<(), String> {
    let (lock, connection) = config.connect(tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
    // Dropped with `lock` at the end of the round, which releases the lock if unlocking did not.
    let driver = actix_web::rt::spawn(connection);
    let locked: bool = lock.query_one(crls::TRY_LOCK_FETCHING, &[]).await.map_err(|e| e.to_string())?.get(0);
    if locked {
        let plan = db::run(pool, move |conn| due(conn, refresh)).await.map_err(|e| e.to_string())?;
        for (url, held_since) in plan {
            if !attempts.may_try(&url, Instant::now()) {
                continue;
            }
            let outcome = fetch(client, &url, held_since).await;
            let target = url.clone();
            match db::run(pool, move |conn| Ok(record(conn, &target, outcome))).await.map_err(|e| e.to_string())? {
                Ok(()) => attempts.succeeded(&url, refresh.min(Duration::from_secs(60))),
                Err(why) => {
                    let wait = attempts.failed(&url);
                    tracing::warn!(%url, error = %why, retry_in_s = wait.as_secs(), "CRL distribution point failed; the CRL held so far is kept");
                }
            }
        }
        lock.batch_execute(crls::UNLOCK_FETCHING).await.map_err(|e| e.to_string())?;
    }
    drop(lock);
    driver.abort();
    Ok(())
}

/// Every distribution point named by a mapped certificate (one per issuer) or a trusted CA, with
/// when the CRL held from it was last fetched, if it is due.
fn due(
    conn: &mut certmap_db::PgConnection,
    refresh: Duration,
) -> Result<Vec<(String, Option<OffsetDateTime>)>, ApiError> {
    let mut urls: Vec<String> = Vec::new();
    for der in crls::certificate_per_issuer(conn)?.iter().chain(crls::trusted_cas(conn)?.iter()) {
        for url in http_distribution_points(der) {
            if !urls.contains(&url) {
                urls.push(url);
            }
        }
    }
    let held = crls::all(conn)?;
    let now = OffsetDateTime::now_utc();
    let refresh = time::Duration::try_from(refresh).unwrap_or(time::Duration::HOUR);
    Ok(urls
        .into_iter()
        .filter_map(|url| match held.iter().find(|c| c.source == url) {
            None => Some((url, None)),
            Some(c) => {
                let last = c.fetched_at.unwrap_or(c.stored_at);
                let stale = now >= last + refresh || c.next_update.is_some_and(|next| now + refresh >= next);
                stale.then_some((url, Some(last)))
            }
        })
        .collect())
}

enum Fetched {
    NotModified,
    Body(Vec<u8>),
}

async fn fetch(client: &awc::Client, url: &str, since: Option<OffsetDateTime>) -> Result<Fetched, String> {
    let mut request = client.get(url);
    if let Some(since) = since {
        let since = SystemTime::UNIX_EPOCH + Duration::from_secs(since.unix_timestamp().max(0).unsigned_abs());
        request = request.insert_header((header::IF_MODIFIED_SINCE, header::HttpDate::from(since)));
    }
    let mut response = request.send().await.map_err(|e| format!("no answer: {e}"))?;
    let status = response.status();
    if status == awc::http::StatusCode::NOT_MODIFIED {
        return Ok(Fetched::NotModified);
    }
    if !status.is_success() {
        return Err(format!("answered {status}"));
    }
    let media = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if media.starts_with("text/html") {
        return Err("answered an HTML page, not a CRL".into());
    }
    let body = response.body().limit(MAX_CRL_BYTES).await.map_err(|e| format!("unreadable body: {e}"))?;
    Ok(Fetched::Body(body.to_vec()))
}

/// Stores what a fetch brought (audited with its entry count), or records why nothing was stored.
fn record(conn: &mut certmap_db::PgConnection, url: &str, fetched: Result<Fetched, String>) -> Result<(), String> {
    use diesel::Connection;
    let now = OffsetDateTime::now_utc();
    let body = match fetched {
        Ok(Fetched::Body(body)) => body,
        Ok(Fetched::NotModified) => {
            return crls::mark_fetched(conn, url, "not-modified", now).map_err(|e| e.to_string())
        }
        Err(why) => {
            let _ = crls::mark_fetched(conn, url, &why, now);
            return Err(why);
        }
    };
    let parsed = Crl::parse_body(&body).map_err(|r| r.message);
    let held = crls::all(conn).map_err(|e| e.to_string())?;
    if let Ok([crl]) = parsed.as_deref() {
        if held.iter().any(|h| h.source == url && h.der_sha256 == hex_sha256(crl.der())) {
            return crls::mark_fetched(conn, url, "unchanged", now).map_err(|e| e.to_string());
        }
    }
    let stored = parsed.and_then(|parsed| {
        conn.transaction(|conn| {
            let source = Source { name: url.to_owned(), fetched: Some(("ok".into(), now)) };
            for (before, after) in store_all(conn, &parsed, &source, now)? {
                let entries = after.entries;
                audit::insert(
                    conn,
                    &NewAuditEvent {
                        actor: "certmap:crl-fetch".into(),
                        role: "system".into(),
                        action: "crl.fetch".into(),
                        site_id: None,
                        resource: "crl".into(),
                        resource_id: Some(after.id),
                        before: before.and_then(|b| serde_json::to_value(CrlBody::from(b)).ok()),
                        after: serde_json::to_value(CrlBody::from(after)).ok(),
                        remote_addr: None,
                    },
                )?;
                tracing::info!(%url, entries, "stored a fetched CRL");
            }
            Ok::<_, ApiError>(())
        })
        .map_err(|e| e.to_string())
    });
    if let Err(why) = &stored {
        let _ = crls::mark_fetched(conn, url, why, now);
    }
    stored
}
