//! Fetching CRLs from the `http` and `https` distribution points that mapped certificates (and
//! trusted CAs) name, so revocation is known without anyone uploading. LDAP points are skipped,
//! with a logged reason. One replica fetches at a time (a
//! PostgreSQL advisory lock); every replica uses the result, announced like an upload.
//!
//! A CRL is fetched when none is held from its URL, before its nextUpdate, and at least every
//! `--crl-refresh`; with `If-Modified-Since`, a timeout and a size limit. A distribution point
//! that fails (times out, redirects in a loop, answers HTML or too much) is logged and retried with
//! backoff and jitter, and the CRL held so far stays: its certificates turn `unknown` only once
//! that CRL is past its nextUpdate.
//!
//! The URLs come from certificates, and an editor uploads mapped ones: certmap would send a GET
//! wherever one says (server-side request forgery). So a point is fetched only when a trusted CA
//! names it in its own certificate, or in a certificate whose signature it verifies (the CA's word,
//! which an editor cannot forge), or when its host is listed in `--revocation-fetch-allow`.
//! `https` points are verified against the system's CAs, or those of `--fetch-ca-file`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actix_web::http::header;
use certmap_db::models::NewAuditEvent;
use certmap_db::queries::{audit, crls};
use certmap_db::PgPool;
use time::OffsetDateTime;

use crate::config::FetchConfig;
use crate::domain::crl::{distribution_points, issued_by, Crl, MAX_CRL_BYTES};
use crate::http::crls::{hex_sha256, store_all, CrlBody, Source};
use crate::http::db;
use crate::http::problem::ApiError;

const MAX_REDIRECTS: u8 = 3;
/// The longest wait between two failed attempts at one distribution point.
const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// When each distribution point may be tried again, and how often it failed in a row; and the
/// points already said to be skipped, so the log says it once.
#[derive(Default)]
struct Attempts {
    next: HashMap<String, (u32, Instant)>,
    skipped: HashSet<String>,
}

impl Attempts {
    fn may_try(&self, url: &str, now: Instant) -> bool {
        self.next.get(url).is_none_or(|(_, next)| now >= *next)
    }

    fn succeeded(&mut self, url: &str, pause: Duration) {
        self.next.insert(url.to_owned(), (0, Instant::now() + pause));
    }

    fn skip(&mut self, url: &str, why: &str) {
        if self.skipped.insert(url.to_owned()) {
            tracing::warn!(%url, "CRL distribution point not fetched: {why}");
        }
    }

    fn failed(&mut self, url: &str) -> Duration {
        let failures = self.next.get(url).map_or(0, |(n, _)| *n).saturating_add(1);
        let full = Duration::from_secs(5).saturating_mul(1 << failures.min(10)).min(MAX_BACKOFF);
        // Between half and the whole of it, so replicas and URLs do not retry in step.
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
        let wait = full / 2 + full.mul_f64(f64::from(nanos % 1000) / 2000.0);
        self.next.insert(url.to_owned(), (failures, Instant::now() + wait));
        wait
    }
}

/// A client for `http` and `https` points, following a few redirects (a redirect from a point
/// certmap may fetch is that point's word).
fn client(config: &FetchConfig) -> Result<awc::Client, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(crate::tls::client_roots(config.ca_file.as_deref(), "--fetch-ca-file").unwrap_or_else(
            |e| {
                // http points still work; https ones fail, each saying why.
                tracing::error!(error = %e, "https CRL distribution points cannot be verified");
                rustls::RootCertStore::empty()
            },
        ))
        .with_no_client_auth();
    let connector = awc::Connector::new().rustls_0_23(Arc::new(tls));
    Ok(awc::Client::builder().connector(connector).timeout(config.timeout).max_redirects(MAX_REDIRECTS).finish())
}

/// Runs until the task is dropped, looking every `refresh` (at most every 30 s) for what is due.
pub async fn run(pool: PgPool, database_url: String, refresh: Duration, fetch: FetchConfig) {
    let Ok(config) = database_url.parse::<tokio_postgres::Config>() else {
        tracing::error!("cannot read the database URL: CRL distribution points are not fetched");
        return;
    };
    let client = match client(&fetch) {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "CRL distribution points are not fetched");
            return;
        }
    };
    let mut attempts = Attempts::default();
    let tick = refresh.clamp(Duration::from_millis(200), Duration::from_secs(30));
    let allow = Arc::new(fetch.allow_hosts);
    loop {
        if let Err(e) = round(&config, &pool, (&client, &allow), refresh, &mut attempts).await {
            tracing::warn!(error = %e, "fetching CRLs failed; retrying");
        }
        tokio::time::sleep(tick).await;
    }
}

/// One look: if this replica gets the lock, every distribution point that is due.
async fn round(
    config: &tokio_postgres::Config,
    pool: &PgPool,
    (client, allow): (&awc::Client, &Arc<Vec<String>>),
    refresh: Duration,
    attempts: &mut Attempts,
) -> Result<(), String> {
    let (lock, connection) = config.connect(tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
    // Dropped with `lock` at the end of the round, which releases the lock if unlocking did not.
    let driver = actix_web::rt::spawn(connection);
    let locked: bool = lock.query_one(crls::TRY_LOCK_FETCHING, &[]).await.map_err(|e| e.to_string())?.get(0);
    if locked {
        let allow = allow.clone();
        let (plan, skipped) = db::run(pool, move |conn| due(conn, refresh, &allow)).await.map_err(|e| e.to_string())?;
        for (url, why) in skipped {
            attempts.skip(&url, why);
        }
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

type Plan = (Vec<(String, Option<OffsetDateTime>)>, Vec<(String, &'static str)>);

/// Every distribution point certmap may fetch, named by a trusted CA or a mapped certificate (one
/// per issuer), with when the CRL held from it was last fetched, if it is due; and the points
/// skipped, with why.
fn due(conn: &mut certmap_db::PgConnection, refresh: Duration, allow: &[String]) -> Result<Plan, ApiError> {
    let cas = crls::trusted_cas(conn)?;
    let mut urls: Vec<String> = Vec::new();
    let mut skipped = Vec::new();
    let named = cas.iter().map(|ca| (ca, true));
    let mapped = crls::certificate_per_issuer(conn)?;
    let mapped = mapped.iter().map(|der| (der, cas.iter().any(|ca| issued_by(der, ca))));
    for (der, vouched) in named.chain(mapped) {
        for url in distribution_points(der) {
            if urls.contains(&url) || skipped.iter().any(|(u, _)| *u == url) {
                continue;
            }
            match fetchable(&url, vouched, allow) {
                Ok(()) => urls.push(url),
                Err(why) => skipped.push((url, why)),
            }
        }
    }
    let held = crls::all(conn)?;
    let now = OffsetDateTime::now_utc();
    let refresh = time::Duration::try_from(refresh).unwrap_or(time::Duration::HOUR);
    let plan = urls
        .into_iter()
        .filter_map(|url| match held.iter().find(|c| c.source == url) {
            None => Some((url, None)),
            Some(c) => {
                let last = c.fetched_at.unwrap_or(c.stored_at);
                let stale = now >= last + refresh || c.next_update.is_some_and(|next| now + refresh >= next);
                stale.then_some((url, Some(last)))
            }
        })
        .collect();
    Ok((plan, skipped))
}

/// Whether certmap may GET this point: by its scheme, and by who vouches for it.
fn fetchable(url: &str, vouched: bool, allow: &[String]) -> Result<(), &'static str> {
    let Ok(uri) = url.parse::<awc::http::Uri>() else { return Err("not a URL") };
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some("ldap" | "ldaps") => {
            return Err("LDAP distribution points are not supported; the CA's http one is used, or upload the CRL")
        }
        _ => return Err("only http and https distribution points are fetched"),
    }
    let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    if vouched || allow.contains(&host) {
        Ok(())
    } else {
        Err("only a certificate no trusted CA issued names it, and its host is not in --revocation-fetch-allow")
    }
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
    if status.is_redirection() {
        // awc follows MAX_REDIRECTS, then hands over the last answer.
        return Err(format!("redirected more than {MAX_REDIRECTS} times (last: {status})"));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_and_success_resets() {
        let mut attempts = Attempts::default();
        let url = "http://127.0.0.1/ca.crl";
        assert!(attempts.may_try(url, Instant::now()));
        let first = attempts.failed(url);
        assert!(!attempts.may_try(url, Instant::now()));
        assert!((Duration::from_secs(5)..=Duration::from_secs(10)).contains(&first), "{first:?}");
        let second = attempts.failed(url);
        assert!((Duration::from_secs(10)..=Duration::from_secs(20)).contains(&second), "{second:?}");
        for _ in 0..20 {
            assert!(attempts.failed(url) <= MAX_BACKOFF);
        }
        attempts.succeeded(url, Duration::ZERO);
        assert!(attempts.may_try(url, Instant::now()));
        assert!((Duration::from_secs(5)..=Duration::from_secs(10)).contains(&attempts.failed(url)));
    }

    #[test]
    fn only_vouched_or_allowed_points_are_fetched() {
        let allow = ["crl.contoso.com".to_owned(), "::1".to_owned()];
        assert_eq!(fetchable("http://10.0.0.5/ca.crl", true, &[]), Ok(()));
        assert_eq!(fetchable("https://pki.contoso.com/ca.crl", true, &[]), Ok(()));
        assert!(fetchable("http://169.254.169.254/latest", false, &allow).is_err());
        assert_eq!(fetchable("http://CRL.contoso.com:8080/ca.crl", false, &allow), Ok(()));
        assert_eq!(fetchable("http://[::1]/ca.crl", false, &allow), Ok(()));
        assert!(fetchable("ldap://dc1.contoso.com/CN=ca?certificateRevocationList", true, &allow)
            .unwrap_err()
            .contains("LDAP"));
        assert!(fetchable("file:///etc/passwd", true, &allow).is_err());
    }
}
