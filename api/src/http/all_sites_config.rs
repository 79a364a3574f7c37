//! Rendered configuration for every site the caller may read, as one document per format: what
//! an admin deploys to one IIS server or one gateway that serves them all.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use certmap_db::queries::{mappings, sites};
use certmap_db::PgConnection;
use time::OffsetDateTime;
use utoipa_actix_web::service_config::ServiceConfig;

use super::caller::Caller;
use super::config::{file_response, options_of, pem_bundle, record_secrets_read, short_hash, unchanged, ConfigQuery};
use super::etag::none_match;
use super::problem::ApiError;
use super::{db, AppState};
use crate::gateway::cache::{wait_of, Look};
use crate::render::{self, Format, IisOptions, Mode, PowerShellOptions, RenderError, SiteSnapshot};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(all_sites_config);
}

fn render(format: Format, sites: &[SiteSnapshot], query: &ConfigQuery) -> Result<String, RenderError> {
    if query.mode()? == Mode::Authorize {
        if let Some(refused) = render::authorize::cannot_ask(format) {
            return Err(refused);
        }
        let authorize = query.authorize();
        return match format {
            Format::Caddy => render::caddy::render_all(sites, &query.gateway(), Some(&authorize)),
            _ => render::nginx::render_all_authorize(sites, &query.gateway(), &authorize),
        };
    }
    match format {
        Format::Iis => render::iis::render_all(sites, &IisOptions::default()),
        Format::PowerShell => render::powershell::render_all(sites, &PowerShellOptions::default()),
        Format::Nginx => render::nginx::render_all(sites, &query.gateway()),
        Format::Haproxy => render::haproxy::render_all(sites, &query.haproxy()),
        Format::HaproxyMap => render::haproxy::haproxy_map_all(sites),
        Format::Apache => render::apache::render_all(sites, &query.gateway()),
        Format::Caddy => render::caddy::render_all(sites, &query.gateway(), None),
    }
}

/// Each site as the ETag sees it: id, revision, and how many of its mappings time has retired.
type Version = (i64, i64, i64);

/// The tag names every included site's version, so adding, changing, retiring a mapping on, or
/// deleting any site (or losing sight of one) gives another tag, and the format and options.
fn etag(versions: &[Version], format: &str, query_string: &str) -> String {
    let sites: String = versions.iter().map(|(id, rev, retired)| format!("{id}.{rev}.{retired};")).collect();
    format!("\"all-{}-{format}-{}\"", short_hash(&sites), short_hash(query_string))
}

/// The ids and revisions of the sites the caller may read, in id order.
fn visible(conn: &mut PgConnection, caller: &Caller) -> Result<Vec<(i64, i64)>, ApiError> {
    Ok(sites::page(conn, None, i64::MAX, caller.site_names())?.into_iter().map(|s| (s.id, s.revision)).collect())
}

/// One configuration document for every site the caller may read.
///
/// The sites a token may read (all, or those its `sites` claim names) are read in one consistent
/// transaction and rendered as ONE document: `iis` one applicationHost.config fragment with each
/// site's `<location>`s; `powershell` one script with one `param()` block; `nginx` one file with
/// each site's maps and a `server` named by its host names, behind a `default_server` that
/// rejects other names (no handshake without a site's SNI, 421 for another Host); `apache` a
/// name-based `<VirtualHost>` per site behind a first, refusing one; `caddy` one site block per
/// site, by host name; `ca-bundle` the union of the sites' trusted CAs, each once. `mode=authorize`
/// works here as for one site (nginx, caddy), each site's requests naming their site to certmap.
///
/// `haproxy` is one `frontend certmap_sites` that picks the site by the Host header (a name that
/// is no site's gets 421) and applies that site's directories; it reads ONE map file, this
/// endpoint's `haproxy-map`, whose keys are `<sha1>@<site id>`
/// (`ssl_c_sha1,hex,lower,concat(@,txn.certmap_site),map(...)`), so one file is hot-swapped for
/// all sites and a certificate mapped on two sites may carry a different account on each. Save it
/// where `map_file` says.
///
/// The gateway formats serve every site on the one `listen` address with one `server_cert`
/// (which must name every site's host names) and one `ca_bundle` (the union: a site's
/// many-to-one rules without an issuer condition then also match certificates from another
/// site's CAs). A site without host names, two sites whose host names overlap (a wildcard
/// `*.example.com` covers every name under `example.com`), or anything a format cannot express
/// is a 422 naming the site and the problem; no site is ever left out silently. Passwords only
/// with `include_secrets=true` (admins; one audit entry per site).
#[utoipa::path(tag = "config", params(
        ("format" = String, Path, description = "iis, powershell, nginx, haproxy, haproxy-map, apache, caddy, ca-bundle or crl"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag from a previous answer: 304 if no included site changed"),
        ConfigQuery,
    ),
    responses(
        (status = 200, description = "The file", content((String = "text/plain"), (String = "application/xml"), (String = "application/x-pem-file")),
            headers(("ETag" = String), ("Content-Disposition" = String))),
        (status = 304, description = "Unchanged since the ETag in If-None-Match"),
        (status = 404, response = super::problem::NotFound),
        (status = 422, response = super::problem::Unprocessable),
        (status = 503, response = super::problem::Unavailable),
    ))]
#[get("/config/{format}")]
pub async fn all_sites_config(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ConfigQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.may_read_config()?;
    let format_name = path.into_inner();
    let query = query.into_inner();
    let secrets = query.include_secrets.unwrap_or(false);
    if secrets {
        caller.may_administer()?;
    }
    if format_name == "ca-bundle" {
        return ca_bundle(&state, caller, &req).await;
    }
    if format_name == "crl" {
        return super::crls::crl_file(&state, &req, "certmap-all-sites.crl.pem".into(), move |conn| {
            let mut ders = Vec::new();
            for (site_id, _) in visible(conn, &caller)? {
                ders.extend(sites::trusted_cas(conn, site_id)?);
            }
            Ok(ders)
        })
        .await;
    }
    let format = Format::parse(&format_name).ok_or(ApiError::NotFound { what: "format" })?;
    let wait = wait_of(query.wait)?;
    let (state, caller, req, query) = (&state, &caller, &req, &query);
    state
        .cache
        .long_poll(None, wait, move || async move {
            let (headers, caller, state2) = (req.headers().clone(), caller.clone(), state.clone());
            let query_string = options_of(req.query_string());
            let names_crl_file = query.crl_file.is_some();
            // As for one site: the gateway formats render from the sites the cache holds.
            let mut cached = HashMap::new();
            let mut crls = None;
            if !(secrets || format.needs_der()) {
                crls = Some(state.cache.revocations(&state.pool).await?);
                for id in state.cache.site_ids(&state.pool).await? {
                    match state.cache.view(&state.pool, id).await {
                        Ok(view) => drop(cached.insert(id, view)),
                        Err(ApiError::NotFound { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            let loaded = db::run(&state.pool, move |conn| {
                conn.build_transaction().repeatable_read().run(|conn| {
                    let now = OffsetDateTime::now_utc();
                    let versions = visible(conn, &caller)?
                        .into_iter()
                        .map(|(id, revision)| Ok((id, revision, mappings::retired_count(conn, id, now)?)))
                        .collect::<Result<Vec<Version>, ApiError>>()?;
                    let mut options = query_string.clone();
                    let mut revoked = HashMap::new();
                    // A view not at the transaction's revision is not used for anything.
                    let at: HashMap<i64, i64> = versions.iter().map(|&(id, revision, _)| (id, revision)).collect();
                    cached.retain(|id, view| at.get(id) == Some(&view.revision));
                    for &(site_id, _, _) in &versions {
                        let held = cached.get(&site_id).zip(crls.as_ref());
                        let ids = match held {
                            Some((view, crls)) => Some(view.revoked(crls)),
                            None => sites::find(conn, site_id)?
                                .map(|site| super::render_input::revoked(conn, &site))
                                .transpose()?,
                        };
                        if let Some(ids) = ids {
                            options = super::render_input::tag_options(&options, &ids);
                            revoked.insert(site_id, ids);
                        }
                    }
                    if names_crl_file {
                        options.push_str(&super::crls::versions_tag(conn)?);
                    }
                    let tag = etag(&versions, format.as_str(), &options);
                    if !secrets && none_match(&headers, &tag) {
                        let mut next_expiry = None;
                        for &(site_id, _, _) in &versions {
                            next_expiry =
                                mappings::next_expiry(conn, site_id, now)?.into_iter().chain(next_expiry).min();
                        }
                        return Ok(Err((tag, next_expiry)));
                    }
                    let keys = secrets.then_some(&state2.secrets);
                    let mut snapshots = Vec::with_capacity(versions.len());
                    for &(site_id, revision, _) in &versions {
                        if !(secrets || format.needs_der()) {
                            let (view, revoked) =
                                (cached.remove(&site_id), revoked.remove(&site_id).unwrap_or_default());
                            snapshots.push(super::render_input::from_view(conn, site_id, view, now, &revoked)?);
                            continue;
                        }
                        let mut snapshot = super::render_input::load(conn, site_id, &caller, keys)?;
                        // A mapping past its own expiry is rendered nowhere, whatever the format.
                        snapshot.one_to_one.retain(|m| m.expires_at.is_none_or(|at| now < at));
                        if secrets {
                            let after =
                                serde_json::json!({"format": format.as_str(), "revision": revision, "all_sites": true});
                            record_secrets_read(conn, &caller, site_id, after)?;
                        }
                        snapshots.push(snapshot);
                    }
                    Ok(Ok((snapshots, tag)))
                })
            })
            .await?;
            let (snapshots, tag) = match loaded {
                Err((tag, next_expiry)) => return Ok(unchanged(tag, next_expiry)),
                Ok(found) => found,
            };
            let query = query.clone();
            let text = web::block(move || render(format, &snapshots, &query)).await??;
            Ok(Look::Changed(file_response(format, &format.all_sites_file_name(), tag, secrets, text)))
        })
        .await
}

/// Every visible site's trusted CAs, each certificate once, in site order.
async fn ca_bundle(state: &AppState, caller: Caller, req: &HttpRequest) -> Result<HttpResponse, ApiError> {
    let (versions, ders) = db::run(&state.pool, move |conn| {
        conn.build_transaction().repeatable_read().run(|conn| {
            let versions = visible(conn, &caller)?;
            let mut ders: Vec<Vec<u8>> = Vec::new();
            for &(site_id, _) in &versions {
                for der in sites::trusted_cas(conn, site_id)? {
                    if !ders.contains(&der) {
                        ders.push(der);
                    }
                }
            }
            Ok((versions, ders))
        })
    })
    .await?;
    if ders.is_empty() {
        return Err(ApiError::NotFound { what: "trusted CA bundle (no site has one: PUT one to .../trusted-cas)" });
    }
    // Retired mappings do not change the bundle.
    let versions: Vec<Version> = versions.into_iter().map(|(id, revision)| (id, revision, 0)).collect();
    let tag = etag(&versions, "ca-bundle", "");
    if none_match(req.headers(), &tag) {
        return Ok(HttpResponse::NotModified().insert_header((header::ETAG, tag)).finish());
    }
    Ok(HttpResponse::Ok()
        .content_type("application/x-pem-file")
        .insert_header((header::ETAG, tag))
        .insert_header((header::CONTENT_DISPOSITION, "attachment; filename=\"certmap-all-sites.client-ca.pem\""))
        .body(pem_bundle(&ders)))
}
