use diesel::dsl::now;
use diesel::prelude::*;

use crate::models::{Directory, DirectoryValues};
use crate::schema::directories;

pub fn insert(conn: &mut PgConnection, site_id: i64, values: &DirectoryValues) -> QueryResult<Directory> {
    diesel::insert_into(directories::table)
        .values((directories::site_id.eq(site_id), values))
        .returning(Directory::as_returning())
        .get_result(conn)
}

pub fn find(conn: &mut PgConnection, site_id: i64, id: i64) -> QueryResult<Option<Directory>> {
    directories::table
        .filter(directories::site_id.eq(site_id).and(directories::id.eq(id)))
        .select(Directory::as_select())
        .first(conn)
        .optional()
}

pub fn lock(conn: &mut PgConnection, site_id: i64, id: i64) -> QueryResult<Option<Directory>> {
    directories::table
        .filter(directories::site_id.eq(site_id).and(directories::id.eq(id)))
        .select(Directory::as_select())
        .for_update()
        .first(conn)
        .optional()
}

pub fn page(conn: &mut PgConnection, site_id: i64, after: Option<i64>, limit: i64) -> QueryResult<Vec<Directory>> {
    directories::table
        .filter(directories::site_id.eq(site_id).and(directories::id.gt(after.unwrap_or(0))))
        .order(directories::id)
        .limit(limit)
        .select(Directory::as_select())
        .load(conn)
}

pub fn all(conn: &mut PgConnection, site_id: i64) -> QueryResult<Vec<Directory>> {
    directories::table
        .filter(directories::site_id.eq(site_id))
        .order(directories::path)
        .select(Directory::as_select())
        .load(conn)
}

pub fn update(conn: &mut PgConnection, site_id: i64, id: i64, values: &DirectoryValues) -> QueryResult<Directory> {
    diesel::update(directories::table.filter(directories::site_id.eq(site_id).and(directories::id.eq(id))))
        .set((values, directories::revision.eq(directories::revision + 1), directories::updated_at.eq(now)))
        .returning(Directory::as_returning())
        .get_result(conn)
}

pub fn delete(conn: &mut PgConnection, site_id: i64, id: i64) -> QueryResult<bool> {
    Ok(diesel::delete(directories::table.filter(directories::site_id.eq(site_id).and(directories::id.eq(id))))
        .execute(conn)?
        == 1)
}
