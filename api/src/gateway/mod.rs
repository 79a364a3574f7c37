//! Serving gateways from memory: the per-site views that authorize, snapshots and long-polls read,
//! and what keeps them true. The HTTP handlers for these (`http::authorize`, `http::gateway_snapshot`)
//! only extract and answer; the decisions and the documents are made here.
//!
//! The promises this module keeps, whatever is added to it:
//!
//! - **No database on the hot path.** In the steady state an authorize call, a 304 and a full
//!   snapshot read only memory: a site is loaded once per revision ([`site_view`]), its snapshot
//!   document serialized and gzipped once ([`document`]) and its bytes kept while a byte budget
//!   allows ([`document_shelf`]; a 304 needs only the tag, which is always kept). The one
//!   exception is a certificate known by fingerprint alone whose answer depends on many-to-one
//!   rules (its names are read).
//! - **Invalidation by `NOTIFY`.** Every change to a site is announced by PostgreSQL on commit
//!   (`certmap_sites`, the `site_notify` migration) and heard by [`listener`] on every replica,
//!   which drops the stale view and wakes its waiters. A write through this process also moves a
//!   local epoch before its response leaves, so the writer reads its own write.
//! - **Trust for one second while deaf.** While the listener is not connected, nothing cached is
//!   trusted for more than a second ([`cache`]).
//! - **Long-polls cost no thread and no connection.** A held request waits on a per-site
//!   `tokio::sync::Notify`; the number of waiters is capped, and a slot is released when its
//!   request ends, however it ends.
//! - **Time moves documents without a revision.** A mapping that expires (or becomes valid)
//!   changes the document and its ETag at that instant; held requests look again then.
//! - **Revocation from memory.** The CRLs held are loaded once per change ([`revocations`],
//!   announced as `certmap_crls`); a new CRL that revokes a mapped certificate drops it from the
//!   document and moves the ETag without a site revision.

pub mod authorize;
pub mod cache;
pub mod client_identity;
pub mod document;
pub mod document_shelf;
pub mod listener;
pub mod ocsp;
pub mod revocations;
pub mod site_view;
