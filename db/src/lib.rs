//! certmap's PostgreSQL layer: the schema, embedded migrations, queries, the private cluster that
//! `certmap serve` runs when no database URL is given, and the per-test database helper.

pub mod cluster;
pub mod error;
pub mod health;
pub mod models;
pub mod pool;
pub mod queries;
pub mod schema;
pub mod testdb;
pub mod testtools;

pub use diesel::pg::PgConnection;
pub use error::{classify, DbErrorKind};
pub use health::DbHealth;
pub use pool::{connect_pool, migrate, NoConnection, PgPool, PooledConn};
