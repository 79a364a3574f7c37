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
        (name = "audit", description = "Who changed what (admins only)"),
        (name = "config", description = "Rendered IIS, PowerShell, nginx and HAProxy configuration, and the client CA bundle"),
        (name = "gateways", description = "What gateways ask at request time"),
        (name = "revocation", description = "Certificate revocation lists held per trusted CA, shared by every replica"),
    ),
    components(
        schemas(Problem, FieldProblem),
        responses(
            problem::BadRequest,
            problem::Unprocessable,
            problem::NotFound,
            problem::Unauthorized,
            problem::Forbidden,
            problem::TooManyRequests,
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
    finish(api)
}

/// What every API operation shares, added in one place so no operation can forget it: the bearer
/// requirement, and the 401/403 (and for writes 429) answers of the auth layer.
pub fn finish(mut api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
    use utoipa::openapi::{Ref, RefOr};

    let components = api.components.get_or_insert_with(Default::default);
    let mut bearer = Http::new(HttpAuthScheme::Bearer);
    bearer.bearer_format = Some("JWT".into());
    bearer.description = Some(
        "A JWT from `certmap token issue --role admin|editor|reader|gateway [--site NAME]`. Roles: admin (everything), \
         editor (write sites, directories, mappings), reader (read, no secrets), gateway (snapshots, config, authorize). \
         A token limited to sites sees the others as 404 and may not write them (403)."
            .into(),
    );
    components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
    for (path, item) in api.paths.paths.iter_mut() {
        if !path.starts_with(crate::http::API_PREFIX) {
            continue;
        }
        let ops = [
            (&mut item.get, false),
            (&mut item.post, true),
            (&mut item.put, true),
            (&mut item.patch, true),
            (&mut item.delete, true),
        ];
        for (op, write) in ops {
            let Some(op) = op.as_mut() else { continue };
            op.security = Some(vec![SecurityRequirement::new("bearer", Vec::<String>::new())]);
            let responses = &mut op.responses.responses;
            responses.insert("401".into(), RefOr::Ref(Ref::from_response_name("Unauthorized")));
            responses.insert("403".into(), RefOr::Ref(Ref::from_response_name("Forbidden")));
            if write {
                responses.insert("429".into(), RefOr::Ref(Ref::from_response_name("TooManyRequests")));
            }
        }
    }
    add_links(&mut api);
    api
}

/// From a created resource to what may be done with it next, by operation id, with the parameters
/// taken from the answer (or the request that created it).
struct Follow {
    from: &'static str,
    params: &'static [(&'static str, &'static str)],
    to: &'static [&'static str],
}

const FOLLOW: &[Follow] = &[
    Follow {
        from: "create_site",
        params: &[("site_id", "$response.body#/id")],
        to: &[
            "get_site",
            "update_site",
            "delete_site",
            "list_directories",
            "create_directory",
            "list_mappings",
            "create_mapping",
            "list_many_to_one",
            "create_many_to_one",
            "bulk_create",
            "resolve_certificate",
            "site_lint",
            "site_snapshot",
            "get_trusted_cas",
            "put_trusted_cas",
        ],
    },
    Follow {
        from: "create_directory",
        params: &[("site_id", "$request.path.site_id"), ("directory_id", "$response.body#/id")],
        to: &["get_directory", "update_directory", "delete_directory", "refuse_directory_mappings"],
    },
    Follow {
        from: "create_mapping",
        params: &[("site_id", "$request.path.site_id"), ("mapping_id", "$response.body#/id")],
        to: &["get_mapping", "update_mapping", "delete_mapping"],
    },
    Follow {
        from: "create_many_to_one",
        params: &[("site_id", "$request.path.site_id"), ("id", "$response.body#/id")],
        to: &["get_many_to_one", "update_many_to_one", "delete_many_to_one"],
    },
];

/// OpenAPI links on each 201 (site → directory → mapping), so a client, and schemathesis' stateful
/// phase, can chain calls without guessing ids. Added here rather than in each `#[utoipa::path]`
/// so the whole chain reads as one table.
///
/// utoipa 5.5 serializes `Link::operation_id` as `operation_id`, a key OpenAPI does not know, so
/// the `operationId` is written through the link's flattened extension map instead.
fn add_links(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::extensions::Extensions;
    use utoipa::openapi::link::LinkBuilder;
    use utoipa::openapi::RefOr;

    for item in api.paths.paths.values_mut() {
        let Some(op) = item.post.as_mut() else { continue };
        let Some(follow) = FOLLOW.iter().find(|f| op.operation_id.as_deref() == Some(f.from)) else { continue };
        let Some(RefOr::T(created)) = op.responses.responses.get_mut("201") else { continue };
        for target in follow.to {
            let mut operation = Extensions::default();
            operation.insert("operationId".into(), (*target).into());
            let link = follow
                .params
                .iter()
                .fold(LinkBuilder::new(), |link, (name, value)| link.parameter(*name, *value))
                .extensions(Some(operation));
            created.links.insert((*target).into(), RefOr::T(link.build()));
        }
    }
}

pub fn base() -> utoipa::openapi::OpenApi {
    Base::openapi()
}
