use diesel::prelude::*;
use time::OffsetDateTime;

use crate::models::{AuditEvent, NewAuditEvent};
use crate::schema::audit_events as a;

pub fn insert(conn: &mut PgConnection, event: &NewAuditEvent) -> QueryResult<()> {
    diesel::insert_into(a::table).values(event).execute(conn).map(drop)
}

/// Newest first, so an admin sees what just happened; `before` is the last id of the previous page.
pub fn page(
    conn: &mut PgConnection,
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
    if let Some(since) = since {
        query = query.filter(a::at.ge(since));
    }
    if let Some(before) = before {
        query = query.filter(a::id.lt(before));
    }
    query.order(a::id.desc()).limit(limit).load(conn)
}
