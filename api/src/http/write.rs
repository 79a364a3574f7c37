//! The one write path for what lives under a site: directories, one-to-one and many-to-one
//! mappings, the trusted CAs, bulk imports — and the next resource. Every such write takes the
//! same steps, in one transaction, so a refused write (a rule, a conflict, a stale `If-Match`)
//! leaves no trace:
//!
//! 1. the caller may write (role and rate limit): a [`Writer`] exists only once that was checked;
//! 2. the site is locked and the caller allowed on it (403 for a site out of the token's reach);
//! 3. the site's revision moves, so its ETag, rendered config and gateway snapshots change (first,
//!    so that a write to the site's own data can answer with the revision it made);
//! 4. the resource is locked and `If-Match` checked against its revision (412, nothing written);
//! 5. the resource's own rules and write: the closure the handler passes;
//! 6. an audit row with the resource before and after, as the API shows it (never a secret).
//!
//! A new resource implements [`SiteResource`] for its row and writes through [`Writer::create`],
//! [`Writer::update`] and [`Writer::delete`]: nothing else writes under a site, so no step can be
//! forgotten.

use actix_web::http::header::HeaderMap;
use actix_web::{HttpRequest, HttpResponse};
use certmap_db::models::{Directory, ManyToOne, Mapping, Site};
use certmap_db::queries::sites as site_q;
use certmap_db::{PgConnection, PgPool};
use diesel::QueryResult;
use serde::Serialize;

use super::audit::{json, record, Change};
use super::caller::Caller;
use super::etag::check_if_match;
use super::problem::ApiError;
use super::sites::lock_site_for_write;
use super::{created, db, json_with_etag, AppState, API_PREFIX};

/// A stored row: its id, and the revision its `ETag` is made of.
pub trait Stored {
    fn id(&self) -> i64;
    fn revision(&self) -> i64;
}

/// [`Stored`] for rows with `id` and `revision` fields.
macro_rules! stored {
    ($($row:ty),+) => {$(
        impl $crate::http::write::Stored for $row {
            fn id(&self) -> i64 {
                self.id
            }

            fn revision(&self) -> i64 {
                self.revision
            }
        }
    )+};
}
pub(crate) use stored;

stored!(Directory, Mapping, ManyToOne);

/// What a resource is called where the write path names it.
pub struct Names {
    /// What a 404 says is missing.
    pub what: &'static str,
    /// The audit log's `resource`; its actions are `<audit>.create`, `.update` and `.delete`.
    pub audit: &'static str,
    /// The collection's segment under `/sites/{site_id}/`, for `Location`.
    pub collection: &'static str,
}

/// What a write does to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Create,
    Update,
    Delete,
}

impl Verb {
    fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

/// A row stored under a site and written through the [`Writer`].
pub trait SiteResource: Stored + Clone + Send + Sized + 'static {
    /// The API's representation: the answer, and what the audit log keeps (never a secret).
    type Body: Serialize + TryFrom<Self, Error = ApiError>;
    const NAMES: Names;

    /// The row locked for the rest of the transaction; `None` when the site has no such row.
    fn lock(conn: &mut PgConnection, site: &Site, id: i64) -> QueryResult<Option<Self>>;

    /// The audit log's `action`.
    fn action(verb: Verb) -> String {
        format!("{}.{}", Self::NAMES.audit, verb.as_str())
    }

    /// What the audit log keeps of a body: all of it, unless it carries more than the resource.
    fn audited(body: &Self::Body) -> Option<serde_json::Value> {
        json(body)
    }

    fn not_found() -> ApiError {
        ApiError::NotFound { what: Self::NAMES.what }
    }

    fn location(site_id: i64, id: i64) -> String {
        format!("{API_PREFIX}/sites/{site_id}/{}/{id}", Self::NAMES.collection)
    }

    /// 200 with the resource and its `ETag`.
    fn answer(self) -> Result<HttpResponse, ApiError> {
        let revision = self.revision();
        Ok(json_with_etag(HttpResponse::Ok(), revision, &Self::Body::try_from(self)?))
    }

    /// 201 with `Location`, the `ETag` and the created resource.
    fn answer_created(self, site_id: i64) -> Result<HttpResponse, ApiError> {
        let (location, revision) = (Self::location(site_id, self.id()), self.revision());
        Ok(created(location, revision, &Self::Body::try_from(self)?))
    }
}

/// The site as the write found it, locked, and its revision once the write commits.
pub struct Locked {
    pub site: Site,
    pub revision: i64,
}

/// A caller admitted to write: the only way to write under a site.
pub struct Writer {
    caller: Caller,
    pool: PgPool,
}

/// What a resource write leaves for the audit log: the row's id, before and after.
type Trail = (i64, Option<serde_json::Value>, Option<serde_json::Value>);

impl Writer {
    /// Checked before anything else, so a caller who may not write learns nothing from the body.
    pub fn admit(state: &AppState, caller: Caller) -> Result<Self, ApiError> {
        caller.may_write(state)?;
        Ok(Self { caller, pool: state.pool.clone() })
    }

    /// `insert` checks what only the database can tell (a duplicate) and inserts.
    pub async fn create<R: SiteResource>(
        self,
        site_id: i64,
        insert: impl FnOnce(&mut PgConnection) -> Result<R, ApiError> + Send + 'static,
    ) -> Result<R, ApiError> {
        self.write::<R, _>(site_id, Verb::Create, move |conn, _| {
            let row = insert(conn)?;
            let after = audited(row.clone())?;
            Ok(((row.id(), None, after), row))
        })
        .await
    }

    /// `write` gets the current row once `If-Match` passed: it applies the request over it, checks
    /// the rules and writes the result.
    pub async fn update<R: SiteResource>(
        self,
        req: &HttpRequest,
        site_id: i64,
        id: i64,
        write: impl FnOnce(&mut PgConnection, &Locked, &R) -> Result<R, ApiError> + Send + 'static,
    ) -> Result<R, ApiError> {
        let headers = req.headers().clone();
        self.write::<R, _>(site_id, Verb::Update, move |conn, locked| {
            let current = lock::<R>(conn, locked, id, &headers)?;
            let row = write(conn, locked, &current)?;
            let after = audited(row.clone())?;
            Ok(((id, audited(current)?, after), row))
        })
        .await
    }

    pub async fn delete<R: SiteResource>(
        self,
        req: &HttpRequest,
        site_id: i64,
        id: i64,
        delete: impl FnOnce(&mut PgConnection) -> QueryResult<bool> + Send + 'static,
    ) -> Result<(), ApiError> {
        let headers = req.headers().clone();
        self.write::<R, _>(site_id, Verb::Delete, move |conn, locked| {
            let current = lock::<R>(conn, locked, id, &headers)?;
            delete(conn)?;
            Ok(((id, audited(current)?, None), ()))
        })
        .await
    }

    /// Steps 2, 3 and 6 around a write that is not one resource (a batch of them): `change` writes
    /// and says what to audit.
    pub async fn under_site<T: Send + 'static>(
        self,
        site_id: i64,
        change: impl FnOnce(&mut PgConnection, &Locked) -> Result<(T, Change<'static>), ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.locked(site_id, move |conn, locked, caller| {
            let (value, audit) = change(conn, locked)?;
            record(conn, caller, audit)?;
            Ok(value)
        })
        .await
    }

    async fn write<R: SiteResource, T: Send + 'static>(
        self,
        site_id: i64,
        verb: Verb,
        write: impl FnOnce(&mut PgConnection, &Locked) -> Result<(Trail, T), ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.locked(site_id, move |conn, locked, caller| {
            let ((id, before, after), value) = write(conn, locked)?;
            let action = R::action(verb);
            let resource = R::NAMES.audit;
            let audit =
                Change { action: &action, site_id: Some(site_id), resource, resource_id: Some(id), before, after };
            record(conn, caller, audit)?;
            Ok(value)
        })
        .await
    }

    async fn locked<T: Send + 'static>(
        self,
        site_id: i64,
        f: impl FnOnce(&mut PgConnection, &Locked, &Caller) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let Self { caller, pool } = self;
        db::transaction(&pool, move |conn| {
            let site = lock_site_for_write(conn, site_id, &caller)?;
            let revision = site_q::bump_revision(conn, site_id)?;
            f(conn, &Locked { site, revision }, &caller)
        })
        .await
    }
}

fn lock<R: SiteResource>(
    conn: &mut PgConnection,
    locked: &Locked,
    id: i64,
    headers: &HeaderMap,
) -> Result<R, ApiError> {
    let current = R::lock(conn, &locked.site, id)?.ok_or_else(R::not_found)?;
    check_if_match(headers, current.revision())?;
    Ok(current)
}

fn audited<R: SiteResource>(row: R) -> Result<Option<serde_json::Value>, ApiError> {
    Ok(R::audited(&R::Body::try_from(row)?))
}
