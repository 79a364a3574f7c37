use diesel::prelude::*;

use crate::schema::api_clients as c;

/// (name, role, sites) of a registered client.
pub type ApiClient = (String, String, Option<Vec<String>>);

/// The client registered for this certificate.
pub fn find(conn: &mut PgConnection, sha256: &str) -> QueryResult<Option<ApiClient>> {
    c::table.filter(c::sha256.eq(sha256)).select((c::name, c::role, c::sites)).first(conn).optional()
}

pub fn insert(
    conn: &mut PgConnection,
    name: &str,
    sha256: &str,
    role: &str,
    sites: Option<Vec<String>>,
) -> QueryResult<i64> {
    diesel::insert_into(c::table)
        .values((c::name.eq(name), c::sha256.eq(sha256), c::role.eq(role), c::sites.eq(sites)))
        .returning(c::id)
        .get_result(conn)
}
