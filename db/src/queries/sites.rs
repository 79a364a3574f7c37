use diesel::dsl::now;
use diesel::prelude::*;

use super::certmap_fold;
use crate::models::{Site, SiteValues};
use crate::schema::sites;

pub fn insert(conn: &mut PgConnection, values: &SiteValues) -> QueryResult<Site> {
    diesel::insert_into(sites::table).values(values).returning(Site::as_returning()).get_result(conn)
}

pub fn find(conn: &mut PgConnection, id: i64) -> QueryResult<Option<Site>> {
    sites::table.find(id).select(Site::as_select()).first(conn).optional()
}

/// Locks the row for the rest of the transaction so a concurrent writer waits instead of
/// overwriting a change it has not seen.
pub fn lock(conn: &mut PgConnection, id: i64) -> QueryResult<Option<Site>> {
    sites::table.find(id).select(Site::as_select()).for_update().first(conn).optional()
}

pub fn find_by_name(conn: &mut PgConnection, name: &str) -> QueryResult<Option<Site>> {
    sites::table
        .filter(certmap_fold(sites::name).eq(certmap_fold(name)))
        .select(Site::as_select())
        .first(conn)
        .optional()
}

/// One page in id order; `after` is the last id of the previous page; `names` (ASCII-folded) limits
/// the page to those sites.
pub fn page(
    conn: &mut PgConnection,
    after: Option<i64>,
    limit: i64,
    names: Option<Vec<String>>,
) -> QueryResult<Vec<Site>> {
    let mut query = sites::table.filter(sites::id.gt(after.unwrap_or(0))).select(Site::as_select()).into_boxed();
    if let Some(names) = names {
        query = query.filter(certmap_fold(sites::name).eq_any(names));
    }
    query.order(sites::id).limit(limit).load(conn)
}

pub fn update(conn: &mut PgConnection, id: i64, values: &SiteValues) -> QueryResult<Site> {
    diesel::update(sites::table.find(id))
        .set((values, sites::revision.eq(sites::revision + 1), sites::updated_at.eq(now)))
        .returning(Site::as_returning())
        .get_result(conn)
}

pub fn delete(conn: &mut PgConnection, id: i64) -> QueryResult<bool> {
    Ok(diesel::delete(sites::table.find(id)).execute(conn)? == 1)
}

/// Every change under a site moves the site's revision, in the same transaction as the change.
pub fn revision(conn: &mut PgConnection, id: i64) -> QueryResult<Option<i64>> {
    sites::table.find(id).select(sites::revision).first(conn).optional()
}

/// Every site's id, in id order.
pub fn ids(conn: &mut PgConnection) -> QueryResult<Vec<i64>> {
    sites::table.order(sites::id).select(sites::id).load(conn)
}

pub fn bump_revision(conn: &mut PgConnection, id: i64) -> QueryResult<i64> {
    diesel::update(sites::table.find(id))
        .set((sites::revision.eq(sites::revision + 1), sites::updated_at.eq(now)))
        .returning(sites::revision)
        .get_result(conn)
}

pub fn trusted_cas(conn: &mut PgConnection, id: i64) -> QueryResult<Vec<Vec<u8>>> {
    sites::table.find(id).select(sites::trusted_cas).first(conn)
}

/// The caller moves the site's revision, as for every other change under the site.
pub fn set_trusted_cas(conn: &mut PgConnection, id: i64, ders: &[Vec<u8>]) -> QueryResult<usize> {
    diesel::update(sites::table.find(id)).set(sites::trusted_cas.eq(ders)).execute(conn)
}
