//! Sites as gateways see them, kept in memory so that authorize, a 304 and a full snapshot do not
//! touch the database. A cached site is trusted while nothing says it changed:
//!
//! - every change to a site is announced by PostgreSQL on commit (`certmap_sites`, see the
//!   `site_notify` migration) and heard by [`super::listener`], whichever replica made it;
//! - a change made through this process also moves a local epoch as its response leaves, so the
//!   caller's next read sees its own write even before the announcement arrives: a site loaded
//!   before the current epoch costs one revision query to confirm;
//! - while the listener is not connected nothing is trusted for more than a second;
//! - while the database is known down (see [`certmap_db::DbHealth`]) what is held is served as it
//!   is, for up to `serve_stale_for` after the database last answered (a change announced but not
//!   yet loaded when it went is not seen until it is back); the handlers say so in
//!   `X-Certmap-Stale`. Once the database answers again the held copy is confirmed before it is
//!   trusted (the listener, being disconnected, trusts nothing for more than a second).
//!
//! Long-pollers wait on a per-site `Notify`: no database connection and no thread while waiting.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use certmap_db::queries::api_clients::{self, ApiClient};
use certmap_db::queries::sites;
use certmap_db::PgPool;
use time::OffsetDateTime;
use tokio::sync::Notify;

use super::document_shelf::DocumentShelf;
use super::revocations::{Held, Revocations};
use super::site_view::{Document, SiteView};
use crate::domain::names::{fold, SiteKey};
use crate::domain::violation::{Invalid, Rejection};
use crate::http::db;
use crate::http::metrics::CacheMetrics;
use crate::http::problem::ApiError;
use crate::locks::{lock, read, write};

/// How long a cached site is trusted while change announcements cannot be heard.
const UNHEARD_TRUST: Duration = Duration::from_secs(1);
/// The longest a long-poll may wait; under the keep-alive and common proxy read timeouts.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// `?wait=` in seconds: 0 (the default) answers at once; more than [`MAX_WAIT`] is refused rather
/// than quietly shortened, so a client learns the bound.
pub fn wait_of(seconds: Option<u32>) -> Result<Duration, ApiError> {
    let wait = Duration::from_secs(seconds.unwrap_or(0).into());
    if wait > MAX_WAIT {
        let message = format!("wait is at most {} seconds", MAX_WAIT.as_secs());
        return Err(Invalid::one(Rejection::new("invalid-wait", message).at("wait")).into());
    }
    Ok(wait)
}

// What every gateway request reads sits behind read-write locks: readers never wait on each other,
// so a worker descheduled while reading cannot stall the others.
pub struct GatewayCache {
    slots: RwLock<HashMap<i64, Arc<Slot>>>,
    names: RwLock<HashMap<String, i64>>,
    catalog: Mutex<Option<Catalog>>,
    /// Moves (under the `catalog` lock) whenever a site comes or goes, so a list read before that
    /// is not kept.
    catalog_generation: AtomicU64,
    catalog_loading: tokio::sync::Mutex<()>,
    epoch: AtomicU64,
    listening: AtomicBool,
    any_change: Notify,
    long_polls: AtomicUsize,
    max_long_polls: usize,
    metrics: CacheMetrics,
    /// How long after the database last answered the held copy is still served.
    serve_stale_for: Duration,
    /// Registered client certificates by SHA-256, found or not.
    clients: Mutex<HashMap<String, KnownClient>>,
    /// Moves (under the `clients` lock) at each announced change, so an answer read before it is
    /// not kept.
    clients_generation: AtomicU64,
    revocations: Revocations,
    documents: DocumentShelf,
}

/// What the table said of a certificate, at which epoch and when.
struct KnownClient {
    client: Option<ApiClient>,
    epoch: u64,
    at: Instant,
}

/// Unknown certificates are remembered too, so a flood of them could grow the memo: past this it
/// starts again.
const MAX_REMEMBERED_CLIENTS: usize = 10_000;

#[derive(Default)]
struct Slot {
    view: RwLock<Option<Arc<SiteView>>>,
    /// The local epoch at which the view was last known current, and when.
    checked: RwLock<Option<(u64, Instant)>>,
    /// The highest revision announced for the site; `i64::MAX` once it is deleted.
    announced: AtomicI64,
    changed: Notify,
    loading: tokio::sync::Mutex<()>,
}

struct Catalog {
    ids: Vec<i64>,
    epoch: u64,
    at: Instant,
}

/// What one look at a long-polled resource found.
pub enum Look<T, U = T> {
    /// Answer now.
    Changed(T),
    /// Still what the client holds: what to answer (a 304) if the wait ends, and an instant at
    /// which time alone may change it. Held for as long as the request waits, by every waiting
    /// request: the least that makes the answer (its tag), not the answer built.
    Unchanged { answer: U, recheck_at: Option<OffsetDateTime> },
}

impl GatewayCache {
    /// `snapshot_bytes`: how many bytes of built snapshot documents to keep.
    pub fn new(max_long_polls: usize, serve_stale_for: Duration, snapshot_bytes: usize, metrics: CacheMetrics) -> Self {
        Self {
            documents: DocumentShelf::new(snapshot_bytes, metrics.snapshot_bytes.clone()),
            slots: RwLock::default(),
            names: RwLock::default(),
            catalog: Mutex::default(),
            catalog_generation: AtomicU64::new(0),
            catalog_loading: tokio::sync::Mutex::new(()),
            epoch: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            any_change: Notify::new(),
            long_polls: AtomicUsize::new(0),
            max_long_polls,
            metrics,
            serve_stale_for,
            clients: Mutex::default(),
            clients_generation: AtomicU64::new(0),
            revocations: Revocations::default(),
        }
    }

    fn slot(&self, site_id: i64) -> Arc<Slot> {
        if let Some(slot) = read(&self.slots).get(&site_id) {
            return slot.clone();
        }
        write(&self.slots).entry(site_id).or_default().clone()
    }

    fn trusted(&self, checked: Option<(u64, Instant)>) -> bool {
        checked.is_some_and(|(epoch, at)| {
            epoch == self.epoch.load(Ordering::Acquire)
                && (self.listening.load(Ordering::Acquire) || at.elapsed() < UNHEARD_TRUST)
        })
    }

    fn current(&self, slot: &Slot) -> Option<Arc<SiteView>> {
        let view = read(&slot.view).clone()?;
        let announced = slot.announced.load(Ordering::Acquire);
        (announced <= view.revision && self.trusted(*read(&slot.checked))).then_some(view)
    }

    /// While the database is known down, and answered within `serve_stale_for`: how long ago it
    /// last answered. Answers given meanwhile come from memory and say so.
    pub fn stale_for(&self, pool: &PgPool) -> Option<Duration> {
        pool.health().down_for().filter(|d| *d <= self.serve_stale_for)
    }

    /// `ask`'s answer, or what is held when the database cannot be asked and the held copy may
    /// still be served. While the database is known down it is not asked at all: each attempt
    /// would cost a checkout's wait, in turn, per site.
    async fn or_stale<T>(
        &self,
        pool: &PgPool,
        held: impl Fn() -> Option<T>,
        ask: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        let stale = || held().filter(|_| self.stale_for(pool).is_some()).ok_or(ApiError::Unavailable);
        if pool.health().is_down() {
            return stale();
        }
        match ask.await {
            Err(ApiError::Unavailable) => stale(),
            other => other,
        }
    }

    /// The site, from memory when nothing says it changed; 404 when it does not exist.
    pub async fn view(&self, pool: &PgPool, site_id: i64) -> Result<Arc<SiteView>, ApiError> {
        let slot = self.slot(site_id);
        // The answer to nearly every call: a slot holding a view is never released, so this path
        // takes no guard (and no second look at the shared map of slots).
        if let Some(view) = self.current(&slot) {
            self.metrics.hits.inc();
            return Ok(view);
        }
        let _release = Release(self, site_id);
        self.view_in(pool, site_id, slot).await
    }

    async fn view_in(&self, pool: &PgPool, site_id: i64, slot: Arc<Slot>) -> Result<Arc<SiteView>, ApiError> {
        // Served stale even when a newer revision was announced and could not be loaded before
        // the database went: that change is as unknown here as one whose announcement was lost,
        // and a gateway refused for minutes is the worse failure. A deleted site holds no view.
        let held = || read(&slot.view).clone();
        let ask = async {
            // One load per site at a time; the others wait for it and take its result.
            let _loading = slot.loading.lock().await;
            if let Some(view) = self.current(&slot) {
                self.metrics.hits.inc();
                return Ok(view);
            }
            self.metrics.misses.inc();
            let unchanged = held().filter(|v| slot.announced.load(Ordering::Acquire) <= v.revision);
            self.refresh(pool, &slot, site_id, unchanged).await
        };
        self.or_stale(pool, held, ask).await
    }

    async fn refresh(
        &self,
        pool: &PgPool,
        slot: &Slot,
        site_id: i64,
        held: Option<Arc<SiteView>>,
    ) -> Result<Arc<SiteView>, ApiError> {
        let epoch = self.epoch.load(Ordering::Acquire);
        if let Some(view) = held {
            // Only the epoch or the listener moved: confirming the revision is enough.
            let revision = db::run(pool, move |conn| Ok(sites::revision(conn, site_id)?)).await?;
            if revision == Some(view.revision) {
                *write(&slot.checked) = Some((epoch, Instant::now()));
                return Ok(view);
            }
        }
        let loaded = db::run(pool, move |conn| {
            conn.build_transaction().repeatable_read().read_only().run(|conn| SiteView::load(conn, site_id))
        })
        .await?;
        let Some(view) = loaded else {
            self.forget(site_id);
            return Err(ApiError::NotFound { what: "site" });
        };
        let view = Arc::new(view);
        write(&self.names).insert(fold(view.name.as_str()), site_id);
        *write(&slot.view) = Some(view.clone());
        *write(&slot.checked) = Some((epoch, Instant::now()));
        Ok(view)
    }

    /// The site a gateway names by id or by name.
    pub async fn view_by_key(&self, pool: &PgPool, key: &SiteKey) -> Result<Arc<SiteView>, ApiError> {
        let key = match key {
            SiteKey::Id(id) => return self.view(pool, *id).await,
            SiteKey::Name(name) => name.as_str(),
        };
        let known = read(&self.names).get(&fold(key)).copied();
        if let Some(id) = known {
            match self.view(pool, id).await {
                // A rename leaves the old name pointing here until this check.
                Ok(view) if view.name.as_str().eq_ignore_ascii_case(key) => return Ok(view),
                Ok(_) | Err(ApiError::NotFound { .. }) => {
                    write(&self.names).remove(&fold(key));
                }
                Err(e) => return Err(e),
            }
        }
        let name = key.to_owned();
        let id = db::run(pool, move |conn| Ok(sites::find_by_name(conn, &name)?.map(|s| s.id)))
            .await?
            .ok_or(ApiError::NotFound { what: "site" })?;
        self.view(pool, id).await
    }

    /// `view`'s snapshot document as of `now`, its bytes kept within the budget.
    pub fn document(&self, view: &SiteView, now: OffsetDateTime, crls: &Held) -> Result<Arc<Document>, ApiError> {
        view.document(now, crls, &self.documents)
    }

    /// Every site's id, in id order.
    pub async fn site_ids(&self, pool: &PgPool) -> Result<Vec<i64>, ApiError> {
        let held = || lock(&self.catalog).as_ref().map(|c| c.ids.clone());
        self.or_stale(pool, held, self.site_ids_with(|| db::run(pool, |conn| Ok(sites::ids(conn)?)))).await
    }

    async fn site_ids_with<Fut>(&self, load: impl FnOnce() -> Fut) -> Result<Vec<i64>, ApiError>
    where
        Fut: Future<Output = Result<Vec<i64>, ApiError>>,
    {
        let fresh = |cache: &Self| {
            lock(&cache.catalog).as_ref().filter(|c| cache.trusted(Some((c.epoch, c.at)))).map(|c| c.ids.clone())
        };
        if let Some(ids) = fresh(self) {
            return Ok(ids);
        }
        let _loading = self.catalog_loading.lock().await;
        if let Some(ids) = fresh(self) {
            return Ok(ids);
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let generation = self.catalog_generation.load(Ordering::Acquire);
        let ids = load().await?;
        let mut catalog = lock(&self.catalog);
        // A site announced while the list was read may be missing from it: the list answers this
        // request but is not kept.
        if self.catalog_generation.load(Ordering::Acquire) == generation {
            *catalog = Some(Catalog { ids: ids.clone(), epoch, at: Instant::now() });
        }
        Ok(ids)
    }

    /// The registered API client with this certificate, as the table says now (a removal is
    /// announced, so no replica keeps honouring it).
    pub async fn api_client(&self, pool: &PgPool, sha256: &str) -> Result<Option<ApiClient>, ApiError> {
        let key = sha256.to_owned();
        let held = || lock(&self.clients).get(sha256).map(|k| k.client.clone());
        let ask = self.api_client_with(sha256, || db::run(pool, move |conn| Ok(api_clients::find(conn, &key)?)));
        self.or_stale(pool, held, ask).await
    }

    async fn api_client_with<Fut>(
        &self,
        sha256: &str,
        load: impl FnOnce() -> Fut,
    ) -> Result<Option<ApiClient>, ApiError>
    where
        Fut: Future<Output = Result<Option<ApiClient>, ApiError>>,
    {
        if let Some(known) = lock(&self.clients).get(sha256) {
            if self.trusted(Some((known.epoch, known.at))) {
                return Ok(known.client.clone());
            }
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let generation = self.clients_generation.load(Ordering::Acquire);
        let client = load().await?;
        let mut clients = lock(&self.clients);
        // A removal announced while this was read may not be in it: it answers this request only.
        if self.clients_generation.load(Ordering::Acquire) != generation {
            return Ok(client);
        }
        if clients.len() >= MAX_REMEMBERED_CLIENTS {
            clients.clear();
        }
        clients.insert(sha256.to_owned(), KnownClient { client: client.clone(), epoch, at: Instant::now() });
        Ok(client)
    }

    /// PostgreSQL announced a change to the registered API clients.
    pub fn clients_changed(&self) {
        let mut clients = lock(&self.clients);
        self.clients_generation.fetch_add(1, Ordering::AcqRel);
        clients.clear();
    }

    /// Drops the site's slot if it holds no view and nobody else holds it: any client may name
    /// any id, so slots must not outlive the requests that made them unless they cache something.
    /// The CRLs held, from memory while nothing says they changed.
    pub async fn revocations(&self, pool: &PgPool) -> Result<Arc<Held>, ApiError> {
        let epoch = self.epoch.load(Ordering::Acquire);
        let ask = self.revocations.held(pool, epoch, |epoch, at| self.trusted(Some((epoch, at))));
        self.or_stale(pool, || self.revocations.last(), ask).await
    }

    /// A CRL was stored or removed: every document may drop a mapping, so every waiter looks again.
    pub fn crls_changed(&self) {
        self.revocations.changed();
        for slot in read(&self.slots).values() {
            slot.changed.notify_waiters();
        }
        self.any_change.notify_waiters();
    }

    fn release(&self, site_id: i64) {
        let mut slots = write(&self.slots);
        if slots.get(&site_id).is_some_and(|s| Arc::strong_count(s) == 1 && read(&s.view).is_none()) {
            slots.remove(&site_id);
        }
    }

    fn forget(&self, site_id: i64) {
        write(&self.slots).remove(&site_id);
        write(&self.names).retain(|_, id| *id != site_id);
    }

    /// PostgreSQL announced a site's new revision, or (`None`) its deletion.
    pub fn announced(&self, site_id: i64, revision: Option<i64>) {
        let slot = read(&self.slots).get(&site_id).cloned();
        if let Some(slot) = slot {
            slot.announced.fetch_max(revision.unwrap_or(i64::MAX), Ordering::AcqRel);
            if revision.is_none() {
                *write(&slot.view) = None;
            }
            slot.changed.notify_waiters();
        }
        let mut catalog = lock(&self.catalog);
        if revision.is_none() || catalog.as_ref().is_none_or(|c| c.ids.binary_search(&site_id).is_err()) {
            self.catalog_generation.fetch_add(1, Ordering::AcqRel);
            *catalog = None;
        }
        drop(catalog);
        self.any_change.notify_waiters();
    }

    /// A change went through this process: what was read before it is confirmed before reuse.
    pub fn wrote(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether announcements are being heard. Announcements may have been missed while they were
    /// not, so everything read before is confirmed again either way, and waiters look again.
    pub fn set_listening(&self, listening: bool) {
        self.listening.store(listening, Ordering::Release);
        self.wrote();
        for slot in read(&self.slots).values() {
            slot.changed.notify_waiters();
        }
        self.any_change.notify_waiters();
    }

    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    /// Holds the request while `look` finds the resource unchanged, until a change to the site
    /// (or to any site, for `None`) makes it look again, or `wait` ends. Over the cap on waiting
    /// requests, answers at once.
    pub async fn long_poll<T, U, F, Fut>(&self, site: Option<i64>, wait: Duration, look: F) -> Result<T, ApiError>
    where
        U: Into<T>,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Look<T, U>, ApiError>>,
    {
        let _release = site.map(|id| Release(self, id));
        self.long_poll_in(site, wait, look).await
    }

    async fn long_poll_in<T, U, F, Fut>(&self, site: Option<i64>, wait: Duration, mut look: F) -> Result<T, ApiError>
    where
        U: Into<T>,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Look<T, U>, ApiError>>,
    {
        let deadline = Instant::now() + wait;
        let mut seat = None;
        loop {
            let slot = site.map(|id| self.slot(id));
            let notify = slot.as_ref().map_or(&self.any_change, |s| &s.changed);
            let changed = notify.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            // Boxed: a look (a load, a revision query) needs far more room than a wait, and the
            // waiting request would otherwise keep that room the whole time it waits.
            let (answer, recheck_at) = match Box::pin(look()).await? {
                Look::Changed(answer) => return Ok(answer),
                Look::Unchanged { answer, recheck_at } => (answer, recheck_at),
            };
            let now = Instant::now();
            if now >= deadline {
                return Ok(answer.into());
            }
            if seat.is_none() {
                match LongPollSeat::take(self) {
                    Some(s) => seat = Some(s),
                    None => return Ok(answer.into()),
                }
            }
            let mut until = deadline;
            if let Some(at) = recheck_at {
                let after = (at - OffsetDateTime::now_utc()).max(time::Duration::ZERO);
                until = until.min(now + after.unsigned_abs());
            }
            if !self.is_listening() {
                until = until.min(now + UNHEARD_TRUST);
            }
            let _ = tokio::time::timeout_at(until.into(), changed).await;
        }
    }
}

/// Releases a site's slot when the request that took it ends, however it ends (a client that
/// hangs up drops the request mid-way).
struct Release<'a>(&'a GatewayCache, i64);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.release(self.1);
    }
}

/// A place among the capped number of waiting long-polls, given back when dropped.
struct LongPollSeat<'a>(&'a GatewayCache);

impl<'a> LongPollSeat<'a> {
    fn take(cache: &'a GatewayCache) -> Option<Self> {
        let taken = cache
            .long_polls
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < cache.max_long_polls).then_some(n + 1))
            .is_ok();
        if !taken {
            cache.metrics.long_polls_refused.inc();
            return None;
        }
        cache.metrics.long_polls.inc();
        Some(Self(cache))
    }
}

impl Drop for LongPollSeat<'_> {
    fn drop(&mut self) {
        self.0.long_polls.fetch_sub(1, Ordering::AcqRel);
        self.0.metrics.long_polls.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> GatewayCache {
        let cache = GatewayCache::new(10, Duration::from_secs(300), 1 << 20, CacheMetrics::default());
        cache.set_listening(true);
        cache
    }

    #[tokio::test]
    async fn refused_long_polls_leave_no_slot_behind() {
        let cache = cache();
        for site_id in 0..1000 {
            let refused = cache
                .long_poll(Some(site_id), Duration::ZERO, || async {
                    Err::<Look<()>, _>(ApiError::NotFound { what: "site" })
                })
                .await;
            assert!(refused.is_err());
        }
        assert_eq!(read(&cache.slots).len(), 0, "ids nobody may read must not grow the cache");
    }

    #[tokio::test]
    async fn a_long_poll_given_up_by_its_client_leaves_no_slot_behind() {
        let cache = cache();
        {
            let poll = cache.long_poll(Some(7), MAX_WAIT, || async {
                Ok(Look::<(), ()>::Unchanged { answer: (), recheck_at: None })
            });
            tokio::pin!(poll);
            // Once it waits, the client hangs up.
            assert!(futures_util::FutureExt::now_or_never(poll.as_mut()).is_none());
            assert_eq!(read(&cache.slots).len(), 1);
        }
        assert_eq!(read(&cache.slots).len(), 0);
        assert_eq!(cache.long_polls.load(Ordering::Acquire), 0, "its seat is given back");
    }

    #[test]
    fn a_waiting_long_poll_keeps_no_room_for_its_look() {
        let cache = cache();
        // A look that needs room across an await, as a load does: ten thousand waiting requests
        // would each keep it while they wait.
        let poll = cache.long_poll(Some(7), MAX_WAIT, || async {
            let room = [0u8; 4096];
            tokio::task::yield_now().await;
            std::hint::black_box(&room);
            Ok(Look::<(), ()>::Unchanged { answer: (), recheck_at: None })
        });
        let size = std::mem::size_of_val(&poll);
        assert!(size < 1024, "a waiting long-poll is {size} bytes");
    }

    #[tokio::test]
    async fn a_site_announced_while_the_list_loads_is_not_missed() {
        let cache = cache();
        let ids = cache
            .site_ids_with(|| async {
                // Site 3 commits on another replica after this read's snapshot, before it is kept.
                cache.announced(3, Some(1));
                Ok(vec![1, 2])
            })
            .await
            .unwrap();
        assert_eq!(ids, [1, 2]);
        let ids = cache.site_ids_with(|| async { Ok(vec![1, 2, 3]) }).await.unwrap();
        assert_eq!(ids, [1, 2, 3]);
    }

    #[tokio::test]
    async fn a_client_removed_while_it_is_read_is_not_remembered() {
        let cache = cache();
        let client = ApiClient { name: "gw".into(), role: "gateway".into(), sites: None, client_identity: None };
        let found = cache
            .api_client_with("ab", || async {
                // `certmap api-client remove` commits after this read's snapshot.
                cache.clients_changed();
                Ok(Some(client))
            })
            .await
            .unwrap();
        assert!(found.is_some());
        let found = cache.api_client_with("ab", || async { Ok(None) }).await.unwrap();
        assert_eq!(found, None, "a removed client certificate must not keep working");
    }
}
