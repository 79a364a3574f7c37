//! Diesel is synchronous: every query runs on actix's blocking pool with a pooled connection.
//! While the database is known down a call fails at once (503), see `certmap_db::PgPool::checkout`.

use actix_web::web;
use certmap_db::{PgConnection, PgPool};
use diesel::Connection;

use super::problem::ApiError;

pub async fn run<T, F>(pool: &PgPool, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut PgConnection) -> Result<T, ApiError> + Send + 'static,
{
    let pool = pool.clone();
    web::block(move || {
        let mut conn = pool.checkout()?;
        let result = f(&mut conn);
        if matches!(result, Err(ApiError::Unavailable)) {
            // The connection broke mid-way: the next checkout confirms the database answers.
            pool.health().lost();
        }
        result
    })
    .await?
}

/// All or nothing: a refused write (a rule, a conflict, a stale If-Match) leaves no trace.
pub async fn transaction<T, F>(pool: &PgPool, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut PgConnection) -> Result<T, ApiError> + Send + 'static,
{
    run(pool, move |conn| conn.transaction(f)).await
}
