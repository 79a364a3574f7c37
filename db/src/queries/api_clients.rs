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

/// A registered client as `certmap api-client list` shows it.
#[derive(Debug, Queryable)]
pub struct Registered {
    pub id: i64,
    pub name: String,
    pub sha256: String,
    pub role: String,
    pub sites: Option<Vec<String>>,
    pub client_identity: Option<String>,
    pub created_at: time::OffsetDateTime,
}

pub fn list(conn: &mut PgConnection) -> QueryResult<Vec<Registered>> {
    c::table
        .order(c::id)
        .select((c::id, c::name, c::sha256, c::role, c::sites, c::client_identity, c::created_at))
        .load(conn)
}

/// Removes the client with this id, or every client with this name; how many went. The table's
/// trigger announces it, so no replica keeps honouring the certificate.
pub fn remove(conn: &mut PgConnection, id_or_name: &str) -> QueryResult<usize> {
    match id_or_name.parse::<i64>() {
        Ok(id) => diesel::delete(c::table.filter(c::id.eq(id))).execute(conn),
        Err(_) => diesel::delete(c::table.filter(c::name.eq(id_or_name))).execute(conn),
    }
}
