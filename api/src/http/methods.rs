//! Which methods a path has, for the answers HTTP owes a request whose method the path lacks.
//!
//! actix-web routes on the method as well as the path, so `TRACE /api/v1/sites` or `PUT /healthz`
//! fall through to the default service like a path that names nothing, and would be a 404. RFC 9110
//! §15.5.6 wants 405 with the resource's methods in `Allow` instead (404 only for a path that names
//! no resource), so the default service looks the path up here. The table comes from the OpenAPI
//! document — every route is registered through utoipa, so it lists exactly the methods each path
//! has — plus the documentation routes, which are not API operations.

use actix_web::dev::ResourceDef;
use utoipa::openapi::OpenApi;

/// Served besides the API operations (see `startup::build_app`).
const DOCUMENTATION_ROUTES: [&str; 3] = ["/openapi.json", "/docs", "/docs/{_:.*}"];

pub struct AllowedMethods(Vec<(ResourceDef, String)>);

impl AllowedMethods {
    pub fn from_spec(spec: &OpenApi) -> Self {
        let mut table = Vec::new();
        for (path, item) in &spec.paths.paths {
            let declared = [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("PATCH", item.patch.is_some()),
                ("DELETE", item.delete.is_some()),
            ];
            let mut methods: Vec<&str> = declared.iter().filter(|(_, has)| *has).map(|(m, _)| *m).collect();
            if item.get.is_some() {
                // Every GET also answers HEAD (RFC 9110 §9.1; see `startup::head_as_get`).
                methods.insert(1, "HEAD");
            }
            // OpenAPI's `{site_id}` is also actix's syntax for one path segment.
            table.push((ResourceDef::new(path.as_str()), methods.join(", ")));
        }
        for path in DOCUMENTATION_ROUTES {
            table.push((ResourceDef::new(path), "GET, HEAD".to_owned()));
        }
        Self(table)
    }

    /// The `Allow` value for a path that names a resource, None for one that names nothing.
    pub fn allow(&self, path: &str) -> Option<&str> {
        self.0.iter().find(|(def, _)| def.is_match(path)).map(|(_, allow)| allow.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_path_lists_its_methods_and_an_unknown_one_none() {
        let table = AllowedMethods::from_spec(&crate::openapi::spec());
        assert_eq!(table.allow("/healthz"), Some("GET, HEAD"));
        assert_eq!(table.allow("/api/v1/sites"), Some("GET, HEAD, POST"));
        assert_eq!(table.allow("/api/v1/sites/12"), Some("GET, HEAD, PATCH, DELETE"));
        assert_eq!(table.allow("/api/v1/sites/12/mappings:bulk"), Some("POST"));
        assert_eq!(table.allow("/docs/swagger-ui.css"), Some("GET, HEAD"));
        assert_eq!(table.allow("/api/v1/nothing"), None);
        assert_eq!(table.allow("/api/v1/sites/12/nothing"), None);
    }
}
