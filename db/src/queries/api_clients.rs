use diesel::prelude::*;

use crate::schema::api_clients as c;

/// A registered client, as the caller check needs it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct ApiClient {
    pub name: String,
    pub role: String,
    pub sites: Option<Vec<String>>,
    /// The client-identity form it sends to authorize; `None` means the role's default.
    pub client_identity: Option<String>,
}

/// The client registered for this certificate.
pub fn find(conn: &mut PgConnection, sha256: &str) -> QueryResult<Option<ApiClient>> {
    c::table
        .filter(c::sha256.eq(sha256))
        .select((c::name, c::role, c::sites, c::client_identity))
        .first(conn)
        .optional()
}

pub fn insert(
    conn: &mut PgConnection,
    name: &str,
    sha256: &str,
    role: &str,
    sites: Option<Vec<String>>,
    client_identity: Option<&str>,
) -> QueryResult<i64> {
    diesel::insert_into(c::table)
        .values((
            c::name.eq(name),
            c::sha256.eq(sha256),
            c::role.eq(role),
            c::sites.eq(sites),
            c::client_identity.eq(client_identity),
        ))
        .returning(c::id)
        .get_result(conn)
}
