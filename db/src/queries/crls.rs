//! The CRL held per trusted CA and its revoked serials.

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use time::OffsetDateTime;

use crate::schema::{crl_entries as e, crls as c, sites};

/// What is kept of a CRL besides its DER, for listing it and deciding whether a new one replaces it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = c, check_for_backend(diesel::pg::Pg))]
pub struct CrlRow {
    pub id: i64,
    pub ca_sha256: String,
    pub issuer: String,
    pub der_sha256: String,
    pub crl_number: Option<String>,
    pub this_update: OffsetDateTime,
    pub next_update: Option<OffsetDateTime>,
    pub entries: i32,
    pub source: String,
    pub fetch_outcome: Option<String>,
    pub fetched_at: Option<OffsetDateTime>,
    pub stored_at: OffsetDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = c)]
pub struct NewCrl {
    pub ca_sha256: String,
    pub issuer: String,
    pub der: Vec<u8>,
    pub der_sha256: String,
    pub crl_number: Option<String>,
    pub this_update: OffsetDateTime,
    pub next_update: Option<OffsetDateTime>,
    pub entries: i32,
    pub source: String,
    pub fetch_outcome: Option<String>,
    pub fetched_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = e)]
pub struct Entry {
    pub crl_id: i64,
    pub serial: String,
    pub revoked_at: OffsetDateTime,
    pub reason: Option<String>,
}

/// PostgreSQL binds at most 65,535 parameters per statement; an entry takes four.
const ENTRIES_PER_INSERT: usize = 10_000;

/// Serializes every change to the held CRLs, so two uploads (or an upload and a fetch) for one
/// CA cannot both pass the "not older" check against the same held CRL.
pub fn lock(conn: &mut PgConnection) -> QueryResult<()> {
    // 0x63726c73 is "crls": a key no other advisory lock in certmap uses.
    diesel::sql_query("SELECT pg_advisory_xact_lock($1)").bind::<BigInt, _>(0x6372_6c73_i64).execute(conn).map(drop)
}

pub fn held(conn: &mut PgConnection, ca_sha256: &str) -> QueryResult<Option<CrlRow>> {
    c::table.filter(c::ca_sha256.eq(ca_sha256)).select(CrlRow::as_select()).first(conn).optional()
}

/// Replaces the CRL held for the CA (with its entries) by `crl`.
pub fn store(
    conn: &mut PgConnection,
    crl: &NewCrl,
    entries: &[(String, OffsetDateTime, Option<String>)],
) -> QueryResult<CrlRow> {
    diesel::delete(c::table.filter(c::ca_sha256.eq(&crl.ca_sha256))).execute(conn)?;
    let row = diesel::insert_into(c::table).values(crl).returning(CrlRow::as_returning()).get_result(conn)?;
    for chunk in entries.chunks(ENTRIES_PER_INSERT) {
        let rows: Vec<Entry> = chunk
            .iter()
            .map(|(serial, revoked_at, reason)| Entry {
                crl_id: row.id,
                serial: serial.clone(),
                revoked_at: *revoked_at,
                reason: reason.clone(),
            })
            .collect();
        diesel::insert_into(e::table).values(&rows).on_conflict_do_nothing().execute(conn)?;
    }
    Ok(row)
}

/// Every CRL held, in issuer order.
pub fn all(conn: &mut PgConnection) -> QueryResult<Vec<CrlRow>> {
    c::table.select(CrlRow::as_select()).order((c::issuer, c::id)).load(conn)
}

/// What identifies the set of CRLs held: it changes whenever one is stored or removed.
pub fn versions(conn: &mut PgConnection) -> QueryResult<Vec<(i64, String)>> {
    c::table.select((c::id, c::der_sha256)).order(c::id).load(conn)
}

pub fn all_entries(conn: &mut PgConnection) -> QueryResult<Vec<Entry>> {
    e::table.select((e::crl_id, e::serial, e::revoked_at, e::reason)).load(conn)
}

/// Every CRL's DER with the CA's SHA-256, for the CRL file a gateway loads.
pub fn ders(conn: &mut PgConnection) -> QueryResult<Vec<(String, Vec<u8>)>> {
    c::table.select((c::ca_sha256, c::der)).order(c::id).load(conn)
}

/// Every CA certificate some site trusts (DER), once each.
pub fn trusted_cas(conn: &mut PgConnection) -> QueryResult<Vec<Vec<u8>>> {
    let mut all: Vec<Vec<u8>> =
        sites::table.select(sites::trusted_cas).load::<Vec<Vec<u8>>>(conn)?.into_iter().flatten().collect();
    all.sort();
    all.dedup();
    Ok(all)
}

/// The site's enabled mappings whose certificate a held CRL revokes, in id order.
pub fn revoked_mapping_ids(conn: &mut PgConnection, site_id: i64) -> QueryResult<Vec<i64>> {
    use crate::schema::mappings as m;
    m::table
        .inner_join(c::table.on(c::issuer.eq(m::issuer)))
        .inner_join(e::table.on(e::crl_id.eq(c::id).and(e::serial.eq(m::serial))))
        .filter(m::site_id.eq(site_id).and(m::enabled.eq(true)))
        .select(m::id)
        .order(m::id)
        .load(conn)
}

#[derive(Debug, QueryableByName)]
pub struct SiteCount {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub site: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// Per site that checks revocation, how many enabled mappings a held CRL revokes (sites with none
/// are left out).
pub fn revoked_per_site(conn: &mut PgConnection) -> QueryResult<Vec<SiteCount>> {
    diesel::sql_query(
        "SELECT s.name AS site, count(*) AS n FROM mappings m \
         JOIN crls c ON c.issuer = m.issuer \
         JOIN crl_entries e ON e.crl_id = c.id AND e.serial = m.serial \
         JOIN sites s ON s.id = m.site_id \
         WHERE m.enabled AND s.revocation_check <> 'off' GROUP BY s.name ORDER BY s.name",
    )
    .load(conn)
}

/// One certificate per issuer among the mappings: where the distribution points of the CRLs that
/// matter are named.
pub fn certificate_per_issuer(conn: &mut PgConnection) -> QueryResult<Vec<Vec<u8>>> {
    use crate::schema::mappings as m;
    m::table.select(m::certificate).distinct_on(m::issuer).order((m::issuer, m::id)).load(conn)
}

/// Records the last fetch of the CRL held from `source`.
pub fn mark_fetched(conn: &mut PgConnection, source: &str, outcome: &str, at: OffsetDateTime) -> QueryResult<()> {
    diesel::update(c::table.filter(c::source.eq(source)))
        .set((c::fetch_outcome.eq(outcome), c::fetched_at.eq(at)))
        .execute(conn)
        .map(drop)
}

/// The fetcher's lock, held on a connection of its own by the one replica fetching distribution
/// points ("crlf"); it lasts until unlocked or that connection closes.
pub const TRY_LOCK_FETCHING: &str = "SELECT pg_try_advisory_lock(1668443238)";
pub const UNLOCK_FETCHING: &str = "SELECT pg_advisory_unlock(1668443238)";
