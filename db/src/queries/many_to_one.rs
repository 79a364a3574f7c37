use diesel::dsl::now;
use diesel::prelude::*;

use crate::models::{ManyToOne, ManyToOneValues};
use crate::schema::many_to_one_mappings as m;

pub fn insert(conn: &mut PgConnection, site_id: i64, values: &ManyToOneValues) -> QueryResult<ManyToOne> {
    diesel::insert_into(m::table)
        .values((m::site_id.eq(site_id), values))
        .returning(ManyToOne::as_returning())
        .get_result(conn)
}

pub fn find(conn: &mut PgConnection, site_id: i64, id: i64) -> QueryResult<Option<ManyToOne>> {
    m::table.filter(m::site_id.eq(site_id).and(m::id.eq(id))).select(ManyToOne::as_select()).first(conn).optional()
}

pub fn lock(conn: &mut PgConnection, site_id: i64, id: i64) -> QueryResult<Option<ManyToOne>> {
    m::table
        .filter(m::site_id.eq(site_id).and(m::id.eq(id)))
        .select(ManyToOne::as_select())
        .for_update()
        .first(conn)
        .optional()
}

pub fn page(conn: &mut PgConnection, site_id: i64, after: Option<i64>, limit: i64) -> QueryResult<Vec<ManyToOne>> {
    m::table
        .filter(m::site_id.eq(site_id).and(m::id.gt(after.unwrap_or(0))))
        .order(m::id)
        .limit(limit)
        .select(ManyToOne::as_select())
        .load(conn)
}

/// In id order: the order IIS evaluates them in, as certmap renders them.
pub fn all(conn: &mut PgConnection, site_id: i64) -> QueryResult<Vec<ManyToOne>> {
    m::table.filter(m::site_id.eq(site_id)).order(m::id).select(ManyToOne::as_select()).load(conn)
}

pub fn update(conn: &mut PgConnection, site_id: i64, id: i64, values: &ManyToOneValues) -> QueryResult<ManyToOne> {
    diesel::update(m::table.filter(m::site_id.eq(site_id).and(m::id.eq(id))))
        .set((values, m::revision.eq(m::revision + 1), m::updated_at.eq(now)))
        .returning(ManyToOne::as_returning())
        .get_result(conn)
}

pub fn delete(conn: &mut PgConnection, site_id: i64, id: i64) -> QueryResult<bool> {
    Ok(diesel::delete(m::table.filter(m::site_id.eq(site_id).and(m::id.eq(id)))).execute(conn)? == 1)
}

/// Every stored password ciphertext with its site and id, for key rotation.
pub fn passwords(conn: &mut PgConnection) -> QueryResult<Vec<(i64, i64, Vec<u8>)>> {
    m::table
        .filter(m::password_enc.is_not_null())
        .select((m::site_id, m::id, m::password_enc.assume_not_null()))
        .load(conn)
}

pub fn set_password(conn: &mut PgConnection, id: i64, blob: &[u8]) -> QueryResult<usize> {
    diesel::update(m::table.find(id)).set(m::password_enc.eq(blob)).execute(conn)
}
