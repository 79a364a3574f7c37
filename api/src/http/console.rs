//! The web console at `/ui/`: static ES modules from `api/console/`, compiled into the binary so
//! the server needs no files, no CDN and no Node at run time. The console talks only to the public
//! `/api/v1` with the user's bearer token; these routes serve files and check nothing.
//!
//! They are registered outside utoipa on purpose, like `/docs/`: they are not API operations, and
//! listing them would invite clients and the contract fuzzer to treat HTML as part of the API.

use actix_web::http::header::{self, ContentType};
use actix_web::{web, HttpRequest, HttpResponse};

use super::problem::ApiError;

/// Stricter than the API's default: no inline script or style and no `eval`, so an injected
/// string can never run; the console only ever talks to its own origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub struct Asset {
    /// Relative to `/ui/` and to `api/console/`.
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:literal) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/console/", $path)),
        }
    };
}

/// Every file under `api/console/` (a test fails when one is missing here or differs).
pub const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("session.js", "text/javascript; charset=utf-8"),
    asset!("widgets.js", "text/javascript; charset=utf-8"),
    asset!("sites.js", "text/javascript; charset=utf-8"),
    asset!("site.js", "text/javascript; charset=utf-8"),
    asset!("directories.js", "text/javascript; charset=utf-8"),
    asset!("mappings.js", "text/javascript; charset=utf-8"),
    asset!("rules.js", "text/javascript; charset=utf-8"),
    asset!("health.js", "text/javascript; charset=utf-8"),
    asset!("config.js", "text/javascript; charset=utf-8"),
    asset!("import.js", "text/javascript; charset=utf-8"),
    asset!("audit.js", "text/javascript; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("vendor/htm-preact-standalone.module.js", "text/javascript; charset=utf-8"),
    asset!("vendor/README", "text/plain; charset=utf-8"),
];

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(to_console))
        .route("/ui", web::get().to(to_console))
        .route("/ui/{file:.*}", web::get().to(serve_asset));
}

async fn to_console() -> HttpResponse {
    HttpResponse::Found().insert_header((header::LOCATION, "/ui/")).finish()
}

async fn serve_asset(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let file = req.match_info().get("file").unwrap_or_default();
    let file = if file.is_empty() { "index.html" } else { file };
    let asset = ASSETS.iter().find(|a| a.path == file).ok_or(ApiError::NotFound { what: "console file" })?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType(asset.content_type.parse().expect("asset media types are valid")))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .body(asset.body))
}
