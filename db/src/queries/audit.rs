use diesel::prelude::*;
use time::OffsetDateTime;

use super::certmap_fold;
use crate::models::{AuditEvent, NewAuditEvent};
use crate::schema::{audit_events as a, sites};

pub fn insert(conn: &mut PgConnection, event: &NewAuditEvent) -> QueryResult<()> {
    diesel::insert_into(a::table).values(event).execute(conn).map(drop)
}

/// Newest first, so an admin sees what just happened; `before` is the last id of the previous page.
/// `visible` (folded site names) limits the page to events of those sites as they exist now: events
/// without a site, and of deleted sites, are outside every limited token's view.
pub fn page(
    conn: &mut PgConnection,
    visible: Option<Vec<String>>,
    site_id: Option<i64>,
    actor: Option<&str>,
    since: Option<OffsetDateTime>,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<AuditEvent>> {
    let mut query = a::table.select(AuditEvent::as_select()).into_boxed();
    if let Some(site) = site_id {
        query = query.filter(a::site_id.eq(site));
    }
    if let Some(actor) = actor {
        query = query.filter(a::actor.eq(actor.to_owned()));
    }
    if let Some(names) = visible {
        let ids = sites::table.filter(certmap_fold(sites::name).eq_any(names)).select(sites::id.nullable());
        query = query.filter(a::site_id.eq_any(ids));
    }
    if let Some(since) = since {
        query = query.filter(a::at.ge(since));
    }
    if let Some(before) = before {
        query = query.filter(a::id.lt(before));
    }
    query.order(a::id.desc()).limit(limit).load(conn)
}
