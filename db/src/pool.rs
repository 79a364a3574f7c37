use std::time::Duration;

use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub type PgPool = Pool<ConnectionManager<PgConnection>>;
pub type PooledConn = PooledConnection<ConnectionManager<PgConnection>>;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// A pool that does not connect up front, so a server whose database is briefly down still starts
/// answering `/healthz`, and every checkout tests its connection so the pool heals by itself when
/// the database comes back.
pub fn connect_pool(url: &str, max_size: u32, checkout_timeout: Duration) -> PgPool {
    Pool::builder()
        .max_size(max_size)
        .min_idle(Some(0))
        .connection_timeout(checkout_timeout)
        .test_on_check_out(true)
        .build_unchecked(ConnectionManager::new(url))
}

/// Runs the embedded migrations that have not run yet; returns their names.
pub fn migrate(conn: &mut PgConnection) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
    Ok(conn.run_pending_migrations(MIGRATIONS)?.into_iter().map(|v| v.to_string()).collect())
}
