use actix_web::{get, web, HttpResponse};
use diesel::RunQueryDsl;
use serde::Serialize;
use utoipa::ToSchema;

use super::problem::ApiError;
use super::AppState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Liveness probe
///
/// Answers 200 while the process runs, whatever the database does, so a restart is only asked for
/// when the process itself is stuck. Needs no token.
#[utoipa::path(tag = "health", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness probe
///
/// 200 when the database answers, 503 (with `Retry-After`) while it does not. The pool reconnects
/// by itself, so readiness comes back without a restart. Needs no token.
#[utoipa::path(tag = "health", responses(
    (status = 200, body = Health),
    (status = 503, response = super::problem::Unavailable),
))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    web::block(move || {
        let mut conn = pool.checkout()?;
        diesel::sql_query("SELECT 1").execute(&mut conn).map_err(|_| ApiError::Unavailable)?;
        Ok::<_, ApiError>(())
    })
    .await??;
    Ok(HttpResponse::Ok().json(Health { status: "ready" }))
}
