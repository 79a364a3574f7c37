use diesel::dsl::now;
use diesel::pg::PgRowByRowLoadingMode;
use diesel::prelude::*;
use time::OffsetDateTime;

use super::certmap_fold;
use crate::models::{GatewayMapping, Mapping, MappingValues, NewMapping};
use crate::schema::mappings;

/// List filters; each one given narrows the result.
#[derive(Debug, Clone, Default)]
pub struct MappingFilter {
    pub user_name: Option<String>,
    /// Lowercase hex without separators; matched against SHA-256 and SHA-1.
    pub fingerprint: Option<String>,
    /// Certificates whose notAfter is before this instant.
    pub not_after_before: Option<OffsetDateTime>,
    pub enabled: Option<bool>,
    /// Only these mappings (e.g. those a CRL revokes).
    pub only: Option<Vec<i64>>,
}

pub fn insert(conn: &mut PgConnection, new: &NewMapping) -> QueryResult<Mapping> {
    diesel::insert_into(mappings::table).values(new).returning(Mapping::as_returning()).get_result(conn)
}

/// Many rows through `COPY ... FROM STDIN (FORMAT binary)`: PostgreSQL's own bulk path, with no
/// statement to parse and plan per chunk of rows (a multi-row INSERT of 100,000 mappings spent
/// most of its time there).
pub fn insert_many<'a>(conn: &mut PgConnection, rows: impl IntoIterator<Item = &'a NewMapping>) -> QueryResult<usize> {
    let rows: Vec<CopyRow<'_>> = rows.into_iter().map(CopyRow::from).collect();
    diesel::copy_from(mappings::table).from_insertable(rows).execute(conn)
}

/// One mapping as COPY takes it: every column written, none left to its default.
#[derive(Insertable)]
#[diesel(table_name = mappings, treat_none_as_default_value = false)]
struct CopyRow<'a> {
    site_id: i64,
    user_name: &'a str,
    password_enc: Option<&'a [u8]>,
    enabled: bool,
    description: Option<&'a str>,
    expires_at: Option<OffsetDateTime>,
    allow_expired: bool,
    certificate: &'a [u8],
    sha1: &'a str,
    sha256: &'a str,
    spki_sha256: &'a str,
    subject: &'a str,
    issuer: &'a str,
    serial: &'a str,
    san_dns: &'a [String],
    san_email: &'a [String],
    san_uri: &'a [String],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    key_type: &'a str,
    key_bits: Option<i32>,
}

impl<'a> From<&'a NewMapping> for CopyRow<'a> {
    fn from(m: &'a NewMapping) -> Self {
        let (v, c) = (&m.values, &m.certificate);
        Self {
            site_id: m.site_id,
            user_name: &v.user_name,
            password_enc: v.password_enc.as_deref(),
            enabled: v.enabled,
            description: v.description.as_deref(),
            expires_at: v.expires_at,
            allow_expired: v.allow_expired,
            certificate: &c.certificate,
            sha1: &c.sha1,
            sha256: &c.sha256,
            spki_sha256: &c.spki_sha256,
            subject: &c.subject,
            issuer: &c.issuer,
            serial: &c.serial,
            san_dns: &c.san_dns,
            san_email: &c.san_email,
            san_uri: &c.san_uri,
            not_before: c.not_before,
            not_after: c.not_after,
            key_type: &c.key_type,
            key_bits: c.key_bits,
        }
    }
}

/// Refreshes the planner's statistics of the mappings table. Until autovacuum gets to it, a large
/// import leaves them describing the table before: with 100,000 new rows unseen, the planner read
/// a fingerprint lookup as a walk of the primary key (49 authorizations a second instead of 5,800).
/// A quick estimate, since the import waits for it: only the columns lookups filter on (the row
/// count is refreshed either way; certificates, names and the folded user name, an index
/// expression computed again per sampled row, cost most of a whole-table ANALYZE), from a 3,000-row
/// sample instead of 30,000. Autovacuum's own ANALYZE refines it later. 0.17 s → 0.03 s at 100,000.
pub fn analyze(conn: &mut PgConnection) -> QueryResult<()> {
    conn.transaction(|conn| {
        diesel::sql_query("SET LOCAL default_statistics_target = 10").execute(conn)?;
        diesel::sql_query("ANALYZE mappings (site_id, sha256, sha1, enabled, expires_at, not_after)").execute(conn)
    })
    .map(drop)
}

pub fn find(conn: &mut PgConnection, site_id: i64, id: i64) -> QueryResult<Option<Mapping>> {
    mappings::table
        .filter(mappings::site_id.eq(site_id).and(mappings::id.eq(id)))
        .select(Mapping::as_select())
        .first(conn)
        .optional()
}

pub fn lock(conn: &mut PgConnection, site_id: i64, id: i64) -> QueryResult<Option<Mapping>> {
    mappings::table
        .filter(mappings::site_id.eq(site_id).and(mappings::id.eq(id)))
        .select(Mapping::as_select())
        .for_update()
        .first(conn)
        .optional()
}

pub fn find_by_certificate(conn: &mut PgConnection, site_id: i64, sha256: &str) -> QueryResult<Option<Mapping>> {
    mappings::table
        .filter(mappings::site_id.eq(site_id).and(mappings::sha256.eq(sha256)))
        .select(Mapping::as_select())
        .first(conn)
        .optional()
}

/// Which of these certificates the site already maps, with the mapping ids.
pub fn existing(conn: &mut PgConnection, site_id: i64, sha256s: &[&str]) -> QueryResult<Vec<(String, i64)>> {
    let mut found = Vec::new();
    for chunk in sha256s.chunks(10_000) {
        found.extend(
            mappings::table
                .filter(mappings::site_id.eq(site_id).and(mappings::sha256.eq_any(chunk)))
                .select((mappings::sha256, mappings::id))
                .load::<(String, i64)>(conn)?,
        );
    }
    Ok(found)
}

/// Every certificate the site maps, with its mapping id, handed to `each` row by row.
pub fn for_site_certificates(
    conn: &mut PgConnection,
    site_id: i64,
    mut each: impl FnMut(String, i64),
) -> QueryResult<()> {
    let rows = mappings::table
        .filter(mappings::site_id.eq(site_id))
        .select((mappings::sha256, mappings::id))
        .load_iter::<(String, i64), PgRowByRowLoadingMode>(conn)?;
    for row in rows {
        let (sha, id) = row?;
        each(sha, id);
    }
    Ok(())
}

pub fn page(
    conn: &mut PgConnection,
    site_id: i64,
    filter: &MappingFilter,
    after: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<Mapping>> {
    let mut query = mappings::table
        .filter(mappings::site_id.eq(site_id).and(mappings::id.gt(after.unwrap_or(0))))
        .select(Mapping::as_select())
        .into_boxed();
    if let Some(user) = &filter.user_name {
        query = query.filter(certmap_fold(mappings::user_name).eq(certmap_fold(user.clone())));
    }
    if let Some(fp) = &filter.fingerprint {
        query = query.filter(mappings::sha256.eq(fp.clone()).or(mappings::sha1.eq(fp.clone())));
    }
    if let Some(before) = filter.not_after_before {
        query = query.filter(mappings::not_after.lt(before));
    }
    if let Some(enabled) = filter.enabled {
        query = query.filter(mappings::enabled.eq(enabled));
    }
    if let Some(ids) = &filter.only {
        query = query.filter(mappings::id.eq_any(ids.clone()));
    }
    query.order(mappings::id).limit(limit).load(conn)
}

/// What a site snapshot needs of each mapping: what gateways see of it, plus the certificate's DER
/// and the sealed password, so reading a site never parses a certificate again.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mappings, check_for_backend(diesel::pg::Pg))]
pub struct SnapshotRow {
    #[diesel(embed)]
    pub mapping: GatewayMapping,
    pub password_enc: Option<Vec<u8>>,
    pub certificate: Vec<u8>,
}

/// Hands each row to `each` as PostgreSQL sends it (libpq's single-row mode): a site of 100,000
/// mappings is never held twice, once as the driver's result and once as the caller's values.
pub fn for_snapshot<E: From<diesel::result::Error>>(
    conn: &mut PgConnection,
    site_id: i64,
    mut each: impl FnMut(SnapshotRow) -> Result<(), E>,
) -> Result<(), E> {
    let rows = mappings::table
        .filter(mappings::site_id.eq(site_id))
        .order(mappings::id)
        .select(SnapshotRow::as_select())
        .load_iter::<SnapshotRow, PgRowByRowLoadingMode>(conn)?;
    for row in rows {
        each(row?)?;
    }
    Ok(())
}

/// Every mapping of the site as gateways see it, in id order, handed to `each` row by row as
/// [`for_snapshot`] does: the gateway cache keeps its own form of them, so the driver's result
/// and a vector of rows are never held beside it.
pub fn for_gateway<E: From<diesel::result::Error>>(
    conn: &mut PgConnection,
    site_id: i64,
    mut each: impl FnMut(GatewayMapping) -> Result<(), E>,
) -> Result<(), E> {
    let rows = mappings::table
        .filter(mappings::site_id.eq(site_id))
        .order(mappings::id)
        .select(GatewayMapping::as_select())
        .load_iter::<GatewayMapping, PgRowByRowLoadingMode>(conn)?;
    for row in rows {
        each(row?)?;
    }
    Ok(())
}

/// The stored certificate of one mapping, for the rare decision that needs its names.
pub fn certificate(conn: &mut PgConnection, site_id: i64, id: i64) -> QueryResult<Option<Vec<u8>>> {
    mappings::table
        .filter(mappings::site_id.eq(site_id).and(mappings::id.eq(id)))
        .select(mappings::certificate)
        .first(conn)
        .optional()
}

/// Every site's mapping of one certificate, with the site's name (to filter by a token's sites).
pub fn by_certificate_on_sites(conn: &mut PgConnection, sha256: &str) -> QueryResult<Vec<(Mapping, String)>> {
    mappings::table
        .inner_join(crate::schema::sites::table)
        .filter(mappings::sha256.eq(sha256))
        .order(mappings::id)
        .select((Mapping::as_select(), crate::schema::sites::name))
        .load(conn)
}

pub fn update(conn: &mut PgConnection, site_id: i64, id: i64, values: &MappingValues) -> QueryResult<Mapping> {
    diesel::update(mappings::table.filter(mappings::site_id.eq(site_id).and(mappings::id.eq(id))))
        .set((values, mappings::revision.eq(mappings::revision + 1), mappings::updated_at.eq(now)))
        .returning(Mapping::as_returning())
        .get_result(conn)
}

pub fn delete(conn: &mut PgConnection, site_id: i64, id: i64) -> QueryResult<bool> {
    Ok(diesel::delete(mappings::table.filter(mappings::site_id.eq(site_id).and(mappings::id.eq(id)))).execute(conn)?
        == 1)
}

/// Every stored password ciphertext with its site and id, for key rotation.
pub fn passwords(conn: &mut PgConnection) -> QueryResult<Vec<(i64, i64, Vec<u8>)>> {
    mappings::table
        .filter(mappings::password_enc.is_not_null())
        .select((mappings::site_id, mappings::id, mappings::password_enc.assume_not_null()))
        .load(conn)
}

pub fn set_password(conn: &mut PgConnection, id: i64, blob: &[u8]) -> QueryResult<usize> {
    diesel::update(mappings::table.find(id)).set(mappings::password_enc.eq(blob)).execute(conn)
}

/// What lint needs of each mapping, without loading certificates.
#[derive(Debug, Clone, Queryable)]
pub struct LintRow {
    pub id: i64,
    pub user_name: String,
    pub enabled: bool,
    pub has_password: bool,
    pub not_after: OffsetDateTime,
}

pub fn lint_facts(conn: &mut PgConnection, site_id: i64) -> QueryResult<Vec<LintRow>> {
    mappings::table
        .filter(mappings::site_id.eq(site_id))
        .order(mappings::id)
        .select((
            mappings::id,
            mappings::user_name,
            mappings::enabled,
            mappings::password_enc.is_not_null(),
            mappings::not_after,
        ))
        .load(conn)
}

/// How many enabled mappings of the site time has retired (their own expiry has passed): part of
/// every rendered ETag, since such a mapping leaves the output without the revision moving.
pub fn retired_count(conn: &mut PgConnection, site_id: i64, at: OffsetDateTime) -> QueryResult<i64> {
    mappings::table
        .filter(mappings::site_id.eq(site_id).and(mappings::enabled.eq(true)).and(mappings::expires_at.le(at)))
        .count()
        .get_result(conn)
}

/// The next instant one of the site's enabled mappings reaches its own expiry, when
/// [`retired_count`] (and so every rendered ETag) changes by time alone.
pub fn next_expiry(
    conn: &mut PgConnection,
    site_id: i64,
    after: OffsetDateTime,
) -> QueryResult<Option<OffsetDateTime>> {
    mappings::table
        .filter(mappings::site_id.eq(site_id).and(mappings::enabled.eq(true)).and(mappings::expires_at.gt(after)))
        .select(diesel::dsl::min(mappings::expires_at))
        .get_result(conn)
}
