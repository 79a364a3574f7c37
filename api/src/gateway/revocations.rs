//! The CRLs held, in memory on every replica, so authorize decides revocation without the
//! database and snapshots leave revoked mappings out. Kept true like cached sites: a change to the
//! `crls` table is announced (`certmap_crls`) and heard by the listener, which moves the
//! generation here; while the listener is deaf the set is confirmed each second by comparing the
//! stored CRLs' versions, a query of one row per CA.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use certmap_db::queries::crls;
use certmap_db::{PgConnection, PgPool};
use time::OffsetDateTime;

use crate::domain::crl::Reason;
use crate::domain::revocation::{HeldCrl, Policy, Revocation, RevocationIndex, Status};
use crate::http::db;
use crate::http::problem::ApiError;
use crate::locks::{read, write};

/// One load of the CRLs held. `id` is unique per load, so a document built from an older load is
/// known to be stale.
pub struct Held {
    pub id: u64,
    pub index: RevocationIndex,
    versions: Vec<(i64, String)>,
}

impl Held {
    pub fn status(&self, policy: Policy, issuer: &str, serial: &str, now: OffsetDateTime) -> Status {
        self.index.status(policy, issuer, serial, now)
    }
}

struct Known {
    held: Arc<Held>,
    generation: u64,
    epoch: u64,
    at: Instant,
}

#[derive(Default)]
pub struct Revocations {
    known: RwLock<Option<Known>>,
    /// Moves at each announced change, so a load started before it is not trusted.
    generation: AtomicU64,
    loads: AtomicU64,
    loading: tokio::sync::Mutex<()>,
}

impl Revocations {
    pub fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    // Read by every gateway request: readers never wait on each other.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Option<Known>> {
        read(&self.known)
    }

    /// The last load, even when a change was announced since: what is served while the database
    /// cannot be asked (see `GatewayCache`'s promises).
    pub fn last(&self) -> Option<Arc<Held>> {
        self.read().as_ref().map(|k| k.held.clone())
    }

    /// The CRLs held, from memory when nothing says they changed; `trusted` is the gateway
    /// cache's judgement of an (epoch, instant) a load was made at.
    pub async fn held(
        &self,
        pool: &PgPool,
        epoch: u64,
        trusted: impl Fn(u64, Instant) -> bool,
    ) -> Result<Arc<Held>, ApiError> {
        let fresh = |this: &Self| {
            this.read()
                .as_ref()
                .filter(|k| k.generation == this.generation.load(Ordering::Acquire) && trusted(k.epoch, k.at))
                .map(|k| k.held.clone())
        };
        if let Some(held) = fresh(self) {
            return Ok(held);
        }
        let _loading = self.loading.lock().await;
        if let Some(held) = fresh(self) {
            return Ok(held);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let previous = self.read().as_ref().map(|k| k.held.clone());
        let id = self.loads.fetch_add(1, Ordering::AcqRel) + 1;
        let held = db::run(pool, move |conn| {
            conn.build_transaction().repeatable_read().read_only().run(|conn| {
                let versions = crls::versions(conn)?;
                match previous {
                    Some(p) if p.versions == versions => Ok(p),
                    _ => Ok(Arc::new(load(conn, id, versions)?)),
                }
            })
        })
        .await?;
        *write(&self.known) = Some(Known { held: held.clone(), generation, epoch, at: Instant::now() });
        Ok(held)
    }
}

fn load(conn: &mut PgConnection, id: u64, versions: Vec<(i64, String)>) -> Result<Held, ApiError> {
    let rows = crls::all(conn)?;
    let mut by_id: std::collections::HashMap<i64, (String, HeldCrl)> = rows
        .into_iter()
        .map(|row| {
            let held = HeldCrl {
                ca_sha256: row.ca_sha256,
                this_update: row.this_update,
                next_update: row.next_update,
                source: row.source,
                revoked: Default::default(),
            };
            (row.id, (row.issuer, held))
        })
        .collect();
    for entry in crls::all_entries(conn)? {
        if let Some((_, crl)) = by_id.get_mut(&entry.crl_id) {
            let reason = entry.reason.as_deref().and_then(Reason::parse);
            crl.revoked.insert(entry.serial, Revocation { revoked_at: entry.revoked_at, reason });
        }
    }
    Ok(Held { id, index: RevocationIndex::new(by_id.into_values()), versions })
}
