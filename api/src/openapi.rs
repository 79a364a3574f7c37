//! The OpenAPI document: a base (info, tags, shared components) that utoipa-actix-web fills with
//! every registered route.

use actix_web::App;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

use crate::http::problem::{self, FieldProblem, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "certmap",
        description = "System of record for IIS client-certificate mappings and the mTLS gateways that use them.\n\n\
Certificate mapping (`iisClientCertificateMappingAuthentication`) is configured on a **site**, never on a \
directory: IIS only honours it at the site root, and configured on a virtual directory every request fails \
with **401.2 Unauthorized, 0x80070005 Access is denied**. certmap refuses such a configuration with 422 \
`mapping-not-at-site-root`. A directory that requires client certificates must also require SSL and turn \
anonymous, basic, windows and digest authentication off, or the mapping never runs.\n\n\
Every error is `application/problem+json` (RFC 9457) with a stable `code`, the offending `errors[].field`, \
and for IIS rules the `iis_symptom` it prevents.",
        license(name = "MIT"),
    ),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "sites", description = "IIS sites and their certificate-mapping section (site root only)"),
        (name = "directories", description = "Paths of a site with their SSL and authentication settings"),
        (name = "mappings", description = "One-to-one mappings: a whole client certificate → a Windows account, on a site"),
        (name = "many-to-one", description = "Many-to-one mappings: subject/issuer rules → an account, or a deny"),
        (name = "lint", description = "Findings: configurations IIS accepts but that will not work"),
    ),
    components(
        schemas(Problem, FieldProblem),
        responses(
            problem::BadRequest,
            problem::Unprocessable,
            problem::NotFound,
            problem::Conflict,
            problem::PreconditionFailed,
            problem::TooLarge,
            problem::UnsupportedMedia,
            problem::Unavailable,
        ),
    ),
)]
struct Base;

/// The full document, as the server serves it at `/openapi.json`.
pub fn spec() -> utoipa::openapi::OpenApi {
    let (_, api) =
        App::new().into_utoipa_app().openapi(Base::openapi()).configure(crate::http::routes).split_for_parts();
    api
}

pub fn base() -> utoipa::openapi::OpenApi {
    Base::openapi()
}
