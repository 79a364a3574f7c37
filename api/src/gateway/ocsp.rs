//! OCSP answers, asked for on a cache miss and kept in memory on each replica: a cached answer
//! costs authorize neither the network nor the database. An answer is kept until its nextUpdate,
//! at most `--ocsp-max-cache`; no answer (responder down, bad signature, stale) is kept for a few
//! seconds, so a dead responder is not asked on every request. Concurrent misses for one
//! certificate share one request, and no lock is held while it is on the network.
//!
//! Answers are not shared among replicas through PostgreSQL: each replica asks at most once per
//! certificate per cache period, which a responder built for every TLS client of a CA carries
//! easily, and an answer stored by one replica would cost the others a query per miss anyway.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix_web::http::header;
use certmap_db::queries::mappings;
use certmap_db::PgPool;
use time::OffsetDateTime;
use tokio::sync::OnceCell;

use crate::config::OcspConfig;
use crate::domain::ocsp::{Answer, NotAsked, Query, MAX_RESPONSE_BYTES};
use crate::domain::revocation::Status;
use crate::http::db;
use crate::http::problem::ApiError;

use super::site_view::SiteView;
use crate::locks::{read, write};

/// How long a failed attempt stands before the responder is asked again.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// Above this many cached certificates, expired answers are dropped when a new one is added.
const PRUNE_ABOVE: usize = 10_000;

/// By site, issuer DN, then serial: what authorize knows without parsing the certificate, looked
/// up without building a key. Per site, because an answer counts only for the CA that signed it:
/// another site may trust a CA of the same name (an editor of that site could run its responder),
/// and its answers must not decide for this one.
type Slots = HashMap<i64, HashMap<String, HashMap<String, Arc<Slot>>>>;

#[derive(Debug, Clone, Copy)]
struct Cached {
    status: Status,
    until: Instant,
}

#[derive(Default)]
struct Slot(OnceCell<Cached>);

impl Slot {
    /// A slot still being filled is shared; a filled one only while its answer stands.
    fn usable(&self, now: Instant) -> bool {
        self.0.get().is_none_or(|c| now < c.until)
    }
}

pub struct Ocsp {
    config: OcspConfig,
    /// Read on every authorize of a site asking OCSP; written only on a miss.
    slots: RwLock<Slots>,
}

/// Where a certificate's DER comes from when the responder must be asked.
pub enum Der<'a> {
    Presented(&'a [u8]),
    /// A certificate known by fingerprint: its stored copy, read only on a cache miss.
    Stored {
        pool: &'a PgPool,
        site_id: i64,
        mapping_id: i64,
    },
}

impl Ocsp {
    pub fn new(config: OcspConfig) -> Self {
        Self { config, slots: RwLock::default() }
    }

    /// The answer held for this certificate, without asking anyone: for listings and snapshots,
    /// which must not send a request per mapping.
    pub fn cached(&self, site_id: i64, issuer: &str, serial: &str) -> Option<Status> {
        let slots = read(&self.slots);
        let cached = slots.get(&site_id)?.get(issuer)?.get(serial)?.0.get().copied()?;
        (Instant::now() < cached.until).then_some(cached.status)
    }

    /// The OCSP status a site's policy asks for: `NotChecked` when it asks none, or when the
    /// certificate's issuer is none of the site's trusted CAs.
    pub async fn for_site(
        &self,
        site: &SiteView,
        issuer: &str,
        serial: &str,
        der: Der<'_>,
    ) -> Result<Status, ApiError> {
        if !site.revocation.check.asks_ocsp() {
            return Ok(Status::NotChecked);
        }
        let Some(ca) = site.issuers.get(issuer) else { return Ok(Status::NotChecked) };
        if let Some(status) = self.cached(site.id, issuer, serial) {
            return Ok(status);
        }
        let der = match der {
            Der::Presented(der) => Cow::Borrowed(der),
            Der::Stored { pool, site_id, mapping_id } => Cow::Owned(
                db::run(pool, move |conn| Ok(mappings::certificate(conn, site_id, mapping_id)?))
                    .await?
                    .ok_or(ApiError::NotFound { what: "mapping" })?,
            ),
        };
        Ok(self.status(site.id, ca, &der, issuer, serial).await)
    }

    /// The certificate's OCSP status: `NotChecked` when it names no responder (or its CA did not
    /// sign it), `Unknown` when no responder gave an answer that counts.
    async fn status(&self, site_id: i64, issuer_der: &[u8], cert_der: &[u8], issuer: &str, serial: &str) -> Status {
        let slot = {
            let mut slots = write(&self.slots);
            let now = Instant::now();
            let of_site = slots.entry(site_id).or_default();
            match of_site.get(issuer).and_then(|s| s.get(serial)) {
                Some(slot) if slot.usable(now) => slot.clone(),
                _ => {
                    let of_issuer = of_site.entry(issuer.to_owned()).or_default();
                    if of_issuer.len() > PRUNE_ABOVE {
                        of_issuer.retain(|_, slot| slot.usable(now));
                    }
                    of_issuer.entry(serial.to_owned()).insert_entry(Arc::default()).get().clone()
                }
            }
        };
        slot.0.get_or_init(|| self.ask(issuer_der, cert_der)).await.status
    }

    async fn ask(&self, issuer_der: &[u8], cert_der: &[u8]) -> Cached {
        let now = Instant::now();
        let keep = |status, for_| Cached { status, until: now + for_ };
        let query = match Query::new(issuer_der, cert_der) {
            Ok(query) => query,
            Err(why) => {
                if why == NotAsked::NotSignedByIssuer {
                    tracing::warn!("a certificate its site's CA did not sign was not checked by OCSP");
                }
                return keep(Status::NotChecked, self.config.max_cache);
            }
        };
        let client = awc::Client::builder().timeout(self.config.timeout).disable_redirects().finish();
        for url in &query.responders {
            let judged = match post(&client, url, query.request()).await {
                Ok(body) => query.judge(issuer_der, &body, OffsetDateTime::now_utc()),
                Err(why) => Err(why),
            };
            match judged {
                Ok(judged) => {
                    let status = match judged.answer {
                        Answer::Good => Status::Good,
                        Answer::Revoked(r) => Status::Revoked(r),
                    };
                    let left = judged.next_update.map_or(self.config.max_cache, |next| {
                        Duration::try_from(next - OffsetDateTime::now_utc()).unwrap_or_default()
                    });
                    return keep(status, left.min(self.config.max_cache));
                }
                Err(why) => tracing::warn!(%url, error = %why, "the OCSP responder gave no answer that counts"),
            }
        }
        keep(Status::Unknown, RETRY_AFTER.min(self.config.max_cache))
    }
}

async fn post(client: &awc::Client, url: &str, request: &[u8]) -> Result<Vec<u8>, String> {
    let mut response = client
        .post(url)
        .insert_header((header::CONTENT_TYPE, "application/ocsp-request"))
        .send_body(request.to_vec())
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("answered {}", response.status()));
    }
    let body = response.body().limit(MAX_RESPONSE_BYTES).await.map_err(|e| format!("unreadable body: {e}"))?;
    Ok(body.to_vec())
}
