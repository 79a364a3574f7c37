use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::event::{AcquireEvent, CheckoutEvent};
use diesel::r2d2::{ConnectionManager, CustomizeConnection, HandleError, HandleEvent, Pool, PooledConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::health::DbHealth;

pub type PooledConn = PooledConnection<ConnectionManager<PgConnection>>;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// How long a checkout looks for a connection between two looks at the database's health, and
/// all it waits once the database is known down: a write is refused well within 100 ms instead
/// of after the whole checkout timeout.
const LOOK: Duration = Duration::from_millis(50);
/// r2d2 retries a failed connection after at most half its own timeout: this keeps the retries
/// (and so noticing the database is back, e.g. after a failover) under half a second apart. The
/// whole wait a checkout may take is [`PgPool`]'s `checkout_timeout`.
const RETRY_TIMEOUT: Duration = Duration::from_secs(1);

/// The r2d2 pool and what it learns of the database's health.
#[derive(Clone)]
pub struct PgPool {
    pool: Pool<ConnectionManager<PgConnection>>,
    health: Arc<DbHealth>,
    checkout_timeout: Duration,
}

/// No connection could be had: the database is known down, or none came in time.
#[derive(Debug, thiserror::Error)]
#[error("no database connection: {0}")]
pub struct NoConnection(String);

/// A pool that does not connect up front, so a server whose database is briefly down still starts
/// answering `/healthz`, and every checkout tests its connection so the pool heals by itself when
/// the database comes back.
pub fn connect_pool(url: &str, max_size: u32, checkout_timeout: Duration) -> PgPool {
    let health = Arc::new(DbHealth::default());
    let pool = Pool::builder()
        .max_size(max_size)
        .min_idle(Some(0))
        .connection_timeout(RETRY_TIMEOUT.min(checkout_timeout))
        .test_on_check_out(true)
        .error_handler(Box::new(Watch(health.clone())))
        .event_handler(Box::new(Watch(health.clone())))
        .connection_customizer(Box::new(Session))
        .build_unchecked(ConnectionManager::new(url));
    PgPool { pool, health, checkout_timeout }
}

/// Settings for every connection certmap opens, whatever the server's defaults.
#[derive(Debug)]
struct Session;

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for Session {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        // certmap's queries are short. PostgreSQL compiles any plan it costs above
        // `jit_above_cost` with LLVM, and a join over a site's mappings costs that once the table
        // holds a million rows, even when its other side (the CRLs held) is empty: rendering a
        // 100,000-mapping site then spent 50-70 ms compiling for a 10 ms query.
        conn.batch_execute("SET jit = off").map_err(diesel::r2d2::Error::QueryError)
    }
}

impl PgPool {
    /// A tested connection. While the database is known down this answers within [`LOOK`]
    /// (taking a connection the pool's background retries may have opened meanwhile); otherwise
    /// it waits up to the checkout timeout, but stops as soon as the database is known down.
    pub fn checkout(&self) -> Result<PooledConn, NoConnection> {
        let deadline = Instant::now() + self.checkout_timeout;
        loop {
            let down = self.health.is_down();
            match self.pool.get_timeout(LOOK) {
                Ok(conn) => return Ok(conn),
                Err(e) if down => return Err(NoConnection(e.to_string())),
                Err(e) if Instant::now() >= deadline => {
                    // Every connection busy is a saturated pool, not a database gone.
                    if self.pool.state().connections == 0 {
                        self.health.lost();
                    }
                    return Err(NoConnection(e.to_string()));
                }
                Err(_) => {}
            }
        }
    }

    pub fn health(&self) -> &Arc<DbHealth> {
        &self.health
    }

    pub fn state(&self) -> diesel::r2d2::State {
        self.pool.state()
    }
}

/// Feeds the pool's events into [`DbHealth`]. r2d2 keeps retrying a failed connection in the
/// background, so a database that comes back is noticed without any request asking.
#[derive(Debug)]
struct Watch(Arc<DbHealth>);

impl HandleError<diesel::r2d2::Error> for Watch {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        if !self.0.is_down() {
            tracing::warn!(error = %error, "cannot open a database connection");
        }
        self.0.lost();
    }
}

impl HandleEvent for Watch {
    fn handle_acquire(&self, _: AcquireEvent) {
        self.0.seen();
    }

    fn handle_checkout(&self, _: CheckoutEvent) {
        self.0.seen();
    }
}

/// Runs the embedded migrations that have not run yet; returns their names.
pub fn migrate(conn: &mut PgConnection) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
    Ok(conn.run_pending_migrations(MIGRATIONS)?.into_iter().map(|v| v.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use diesel::sql_types::Text;
    use diesel::{QueryableByName, RunQueryDsl};

    use super::*;

    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = Text)]
        jit: String,
    }

    #[test]
    fn every_connection_runs_without_jit() {
        let db = crate::testdb::server().create_database();
        let pool = connect_pool(db.url(), 2, Duration::from_secs(5));
        let mut conn = pool.checkout().expect("a connection");
        let setting: Setting = diesel::sql_query("SHOW jit").get_result(&mut conn).expect("SHOW jit");
        assert_eq!(setting.jit, "off");
    }
}
