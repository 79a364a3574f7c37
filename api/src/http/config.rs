//! Rendered configuration: what users fetch with curl and gateways pull, and the client CA
//! bundle those gateways trust.

use actix_web::http::header;
use actix_web::{get, put, web, HttpRequest, HttpResponse};
use aws_lc_rs::digest;
use certmap_db::models::Site;
use certmap_db::queries::sites;
use certmap_db::PgConnection;
use diesel::QueryResult;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::audit::{json, record, Change};
use super::caller::Caller;
use super::certificate_input::certificate_violation;
use super::etag::{none_match, NotModified};
use super::extract::{media_type, read_body, DEFAULT_BODY_LIMIT};
use super::problem::ApiError;
use super::sites::require_site;
use super::write::{stored, Names, SiteResource, Verb, Writer};
use super::{db, AppState};
use crate::domain::certificate::{Certificate, MAX_BUNDLE_BYTES};
use crate::domain::violation::{Invalid, Rejection};
use crate::gateway::cache::{wait_of, Look};
use crate::render::{
    self, AuthorizeOptions, Format, GatewayOptions, HaproxyOptions, IisOptions, Mode, PowerShellOptions, RenderError,
};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(site_config).service(put_trusted_cas).service(get_trusted_cas);
}

/// Every option has a default; gateway options are ignored by the IIS and PowerShell formats.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConfigQuery {
    /// Put stored passwords into the output (iis, powershell). Admins only; recorded in the audit log.
    pub include_secrets: Option<bool>,
    /// ip:port the gateway listens on (default 0.0.0.0:443).
    pub listen: Option<String>,
    /// The application behind the gateway: http(s)://host:port (default http://127.0.0.1:8080).
    pub upstream: Option<String>,
    /// Header carrying the mapped account upstream (default X-Remote-User); a client-sent one is always replaced.
    pub header: Option<String>,
    /// Absolute path of the gateway's certificate (default /etc/certmap/server.pem).
    pub server_cert: Option<String>,
    /// Absolute path of the gateway's key (default /etc/certmap/server.key).
    pub server_key: Option<String>,
    /// Absolute path where the gateway keeps the client CA bundle from `config/ca-bundle` (default /etc/certmap/client-ca.pem).
    pub ca_bundle: Option<String>,
    /// Intermediate CAs allowed between a client certificate and the bundle, 1 to 10 (default 2).
    pub verify_depth: Option<u8>,
    /// Absolute path where the gateway keeps the CRLs from `config/crl` (`certmap pull --crl-out`):
    /// nginx `ssl_crl`, HAProxy `crl-file`, Apache `SSLCARevocationFile` (default: none).
    pub crl_file: Option<String>,
    /// haproxy: absolute path of the map file from `config/haproxy-map` (default /etc/haproxy/certmap.map).
    pub map_file: Option<String>,
    /// haproxy: also emit minimal global and defaults sections (default false).
    pub standalone: Option<bool>,
    /// `map` (default): the mappings are rendered into the file. `authorize` (nginx, caddy): the
    /// gateway asks certmap's `/api/v1/authorize` on every request, so a change needs no reload;
    /// the other formats answer 422.
    pub mode: Option<String>,
    /// authorize: http(s)://host:port where the gateway reaches certmap (default http://127.0.0.1:8080).
    pub certmap: Option<String>,
    /// authorize: how the gateway proves itself to certmap: `token-file` (default; the file holds the
    /// Authorization header with a gateway token, in the gateway's syntax) or `mtls` (a client
    /// certificate registered with `certmap api-client add`, needs https). No token is ever rendered.
    pub certmap_auth: Option<String>,
    /// authorize: absolute path of the token file (default /etc/certmap/authorize-token.conf).
    pub token_file: Option<String>,
    /// authorize, mtls: the gateway's client certificate (default /etc/certmap/gateway-client.pem).
    pub client_cert: Option<String>,
    /// authorize, mtls: its key (default /etc/certmap/gateway-client.key).
    pub client_key: Option<String>,
    /// authorize, https: the CA bundle that verifies certmap's certificate (default /etc/ssl/certs/ca-certificates.crt).
    pub certmap_ca: Option<String>,
    /// With `If-None-Match`: seconds (at most 60) to hold the request until the config changes,
    /// then answer; 304 when it has not. How `certmap pull` follows a site.
    #[param(maximum = 60)]
    pub wait: Option<u32>,
}

impl ConfigQuery {
    pub(super) fn gateway(&self) -> GatewayOptions {
        let d = GatewayOptions::default();
        GatewayOptions {
            listen: self.listen.clone().unwrap_or(d.listen),
            upstream: self.upstream.clone().unwrap_or(d.upstream),
            header: self.header.clone().unwrap_or(d.header),
            server_cert: self.server_cert.clone().unwrap_or(d.server_cert),
            server_key: self.server_key.clone().unwrap_or(d.server_key),
            ca_bundle: self.ca_bundle.clone().unwrap_or(d.ca_bundle),
            verify_depth: self.verify_depth.unwrap_or(d.verify_depth),
            crl_file: self.crl_file.clone(),
        }
    }

    pub(super) fn mode(&self) -> Result<Mode, RenderError> {
        self.mode.as_deref().map_or(Ok(Mode::Map), Mode::parse)
    }

    pub(super) fn authorize(&self) -> AuthorizeOptions {
        let d = AuthorizeOptions::default();
        AuthorizeOptions {
            certmap: self.certmap.clone().unwrap_or(d.certmap),
            certmap_auth: self.certmap_auth.clone().unwrap_or(d.certmap_auth),
            token_file: self.token_file.clone().unwrap_or(d.token_file),
            client_cert: self.client_cert.clone().unwrap_or(d.client_cert),
            client_key: self.client_key.clone().unwrap_or(d.client_key),
            certmap_ca: self.certmap_ca.clone().unwrap_or(d.certmap_ca),
        }
    }

    pub(super) fn haproxy(&self) -> HaproxyOptions {
        let d = HaproxyOptions::default();
        HaproxyOptions {
            gateway: self.gateway(),
            map_file: self.map_file.clone().unwrap_or(d.map_file),
            standalone: self.standalone.unwrap_or(d.standalone),
        }
    }
}

impl From<RenderError> for ApiError {
    fn from(e: RenderError) -> Self {
        match e {
            RenderError::Unsupported { what } => ApiError::Invalid(Invalid::one(
                Rejection::new(
                    "format-cannot-express",
                    format!("this format cannot express {what}; nothing was dropped silently"),
                )
                .at("format"),
            )),
            RenderError::InvalidOption { option, message } => {
                ApiError::Invalid(Invalid::one(Rejection::new("invalid-option", message).at(option)))
            }
        }
    }
}

fn render(format: Format, site: &render::SiteSnapshot, query: &ConfigQuery) -> Result<String, RenderError> {
    if query.mode()? == Mode::Authorize {
        if let Some(refused) = render::authorize::cannot_ask(format) {
            return Err(refused);
        }
        return match format {
            Format::Caddy => render::caddy::render_authorize(site, &query.gateway(), &query.authorize()),
            _ => render::nginx::render_authorize(site, &query.gateway(), &query.authorize()),
        };
    }
    match format {
        Format::Iis => render::iis::render(site, &IisOptions::default()),
        Format::PowerShell => render::powershell::render(site, &PowerShellOptions::default()),
        Format::Nginx => render::nginx::render(site, &query.gateway()),
        Format::Haproxy => render::haproxy::render(site, &query.haproxy()),
        Format::HaproxyMap => render::haproxy::haproxy_map(site),
        Format::Apache => render::apache::render(site, &query.gateway()),
        Format::Caddy => render::caddy::render(site, &query.gateway()),
    }
}

/// The ETag names the revision, the format and the options, so a different rendering of the same
/// revision is never mistaken for the one a client holds.
fn etag(revision: i64, retired: i64, format: &str, query_string: &str) -> String {
    format!("\"{revision}.{retired}-{format}-{}\"", short_hash(query_string))
}

/// Eight hex digits of SHA-256: enough to tell renderings apart in an ETag.
pub(super) fn short_hash(text: &str) -> String {
    hex::encode(&digest::digest(&digest::SHA256, text.as_bytes()).as_ref()[..4])
}

pub(super) fn pem_bundle(ders: &[Vec<u8>]) -> String {
    pem_blocks("CERTIFICATE", ders)
}

pub(super) fn pem_blocks(label: &str, ders: &[Vec<u8>]) -> String {
    use base64::Engine as _;
    let mut out = String::new();
    for der in ders {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        out.push_str(&format!("-----BEGIN {label}-----\n"));
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap_or_default());
            out.push('\n');
        }
        out.push_str(&format!("-----END {label}-----\n"));
    }
    out
}

/// Render one site's configuration
///
/// The site's configuration for IIS (`iis`: an applicationHost.config fragment; `powershell`: a
/// WebAdministration script) or a gateway (`nginx`, `haproxy`, `haproxy-map`, `apache`, `caddy`: a
/// Caddyfile for Caddy 2.6 or later), or the client CA bundle the gateway trusts (`ca-bundle`).
/// Passwords are left out unless an admin asks with `include_secrets=true`, which is recorded in
/// the audit log.
///
/// `mode=authorize` (nginx, caddy) renders per-request mode instead of the mappings: the gateway
/// does mTLS and asks `GET /api/v1/authorize` on every request (nginx `auth_request`, Caddy
/// `forward_auth`), sending only its declared client-identity header and clearing the client's
/// copies of every identity header, so a disabled mapping is refused on the next request without a
/// reload. It authenticates to certmap with a token file it includes (`certmap_auth=token-file`) or
/// a registered client certificate (`mtls`); no token is ever written into the file. The other
/// formats answer 422 `format-cannot-express` saying why.
///
/// The `ETag` follows the site's revision (and mappings reaching their expiry): `If-None-Match`
/// with the current one answers 304, at once or, with `wait`, when nothing changed before the time
/// is up. An answer with passwords carries no ETag. An unknown format is 404.
///
/// Any role may read it, gateway tokens included. A token limited to other sites gets 404: a site
/// it may not read does not exist for it.
#[utoipa::path(tag = "config", params(
        ("site_id" = i64, Path),
        ("format" = String, Path, description = "iis, powershell, nginx, haproxy, haproxy-map, apache, caddy, ca-bundle or crl"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag from a previous answer: 304 if unchanged"),
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
#[get("/sites/{site_id}/config/{format}")]
pub async fn site_config(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(i64, String)>,
    query: web::Query<ConfigQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.may_read_config()?;
    let (site_id, format_name) = path.into_inner();
    let query = query.into_inner();
    let secrets = query.include_secrets.unwrap_or(false);
    if secrets {
        caller.may_administer()?;
    }
    if format_name == "ca-bundle" {
        return ca_bundle(&state, caller, site_id, &req).await;
    }
    if format_name == "crl" {
        let file_name = format!("certmap-site-{site_id}.crl.pem");
        return super::crls::crl_file(&state, &req, file_name, move |conn| {
            require_site(conn, site_id, &caller)?;
            Ok(sites::trusted_cas(conn, site_id)?)
        })
        .await;
    }
    let format = Format::parse(&format_name).ok_or(ApiError::NotFound { what: "format" })?;
    let wait = wait_of(query.wait)?;
    let (state, caller, req, query) = (&state, &caller, &req, &query);
    state
        .cache
        .long_poll(Some(site_id), wait, move || async move {
            let (headers, caller, state2) = (req.headers().clone(), caller.clone(), state.clone());
            let query_string = options_of(req.query_string());
            let names_crl_file = query.crl_file.is_some();
            // The gateway formats render from the site the gateway cache already holds, read once
            // per revision without certificate bytes; the rest read the site with them.
            let cached = if secrets || format.needs_der() {
                None
            } else {
                match state.cache.view(&state.pool, site_id).await {
                    Ok(view) => Some((view, state.cache.revocations(&state.pool).await?)),
                    Err(ApiError::NotFound { .. }) => None,
                    Err(e) => return Err(e),
                }
            };
            let snapshot = db::run(&state.pool, move |conn| {
                conn.build_transaction().repeatable_read().run(|conn| {
                    let site = require_site(conn, site_id, &caller)?;
                    let now = OffsetDateTime::now_utc();
                    let retired = certmap_db::queries::mappings::retired_count(conn, site_id, now)?;
                    let cached = cached.filter(|(view, _)| view.revision == site.revision);
                    let revoked = match &cached {
                        Some((view, crls)) => view.revoked(crls),
                        None => super::render_input::revoked(conn, &site)?,
                    };
                    let mut options = super::render_input::tag_options(&query_string, &revoked);
                    if names_crl_file {
                        options.push_str(&super::crls::versions_tag(conn)?);
                    }
                    let tag = etag(site.revision, retired, format.as_str(), &options);
                    if !secrets && none_match(&headers, &tag) {
                        let next_expiry = certmap_db::queries::mappings::next_expiry(conn, site_id, now)?;
                        return Ok(Err((tag, next_expiry)));
                    }
                    if !(secrets || format.needs_der()) {
                        let snapshot =
                            super::render_input::from_view(conn, site_id, cached.map(|(view, _)| view), now, &revoked)?;
                        return Ok(Ok((snapshot, tag)));
                    }
                    let keys = secrets.then_some(&state2.secrets);
                    let mut snapshot = super::render_input::load(conn, site_id, &caller, keys)?;
                    // A mapping past its own expiry is rendered nowhere, whatever the format.
                    snapshot.one_to_one.retain(|m| m.expires_at.is_none_or(|at| now < at));
                    if secrets {
                        let after = serde_json::json!({"format": format.as_str(), "revision": site.revision});
                        record_secrets_read(conn, &caller, site_id, after)?;
                    }
                    Ok(Ok((snapshot, tag)))
                })
            })
            .await?;
            let (snapshot, tag) = match snapshot {
                Err((tag, next_expiry)) => return Ok(unchanged(tag, next_expiry)),
                Ok(found) => found,
            };
            let query = query.clone();
            let (text, id) =
                web::block(move || render(format, &snapshot, &query).map(|text| (text, snapshot.id))).await??;
            Ok(Look::Changed(file_response(format, &format.file_name(id), tag, secrets, text)))
        })
        .await
}

/// An admin read passwords in rendered config: one audit entry per site.
pub(super) fn record_secrets_read(
    conn: &mut certmap_db::PgConnection,
    caller: &Caller,
    site_id: i64,
    after: serde_json::Value,
) -> Result<(), ApiError> {
    let change = Change {
        action: "secrets.read",
        site_id: Some(site_id),
        resource: "config",
        resource_id: Some(site_id),
        before: None,
        after: Some(after),
    };
    record(conn, caller, change)
}

/// What the client holds is current: a 304 if the wait ends with nothing new. A mapping reaching
/// its expiry changes the file without any announcement, so a held request looks again then.
pub(super) fn unchanged(tag: String, next_expiry: Option<OffsetDateTime>) -> Look<HttpResponse, NotModified> {
    Look::Unchanged { answer: NotModified(tag), recheck_at: next_expiry }
}

/// The rendered file to download; with passwords in it, no ETag, so nothing keeps it as current.
pub(super) fn file_response(format: Format, file_name: &str, tag: String, secrets: bool, text: String) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response
        .content_type(format.content_type())
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file_name}\"")));
    if !secrets {
        response.insert_header((header::ETAG, tag));
    }
    response.body(text)
}

/// The query string without `wait`: how long a client waits is not part of what it gets.
pub(super) fn options_of(query_string: &str) -> String {
    query_string.split('&').filter(|p| !p.is_empty() && !p.starts_with("wait=")).collect::<Vec<_>>().join("&")
}

async fn ca_bundle(
    state: &AppState,
    caller: Caller,
    site_id: i64,
    req: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (revision, ders) = db::run(&state.pool, move |conn| {
        let site = require_site(conn, site_id, &caller)?;
        Ok((site.revision, sites::trusted_cas(conn, site_id)?))
    })
    .await?;
    if ders.is_empty() {
        return Err(ApiError::NotFound { what: "trusted CA bundle (PUT one to .../trusted-cas)" });
    }
    let tag = etag(revision, 0, "ca-bundle", "");
    if none_match(req.headers(), &tag) {
        return Ok(HttpResponse::NotModified().insert_header((header::ETAG, tag)).finish());
    }
    Ok(HttpResponse::Ok()
        .content_type("application/x-pem-file")
        .insert_header((header::ETAG, tag))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"certmap-site-{site_id}.client-ca.pem\""),
        ))
        .body(pem_bundle(&ders)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrustedCa {
    pub subject: String,
    pub issuer: String,
    pub sha256: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TrustedCas {
    pub site_id: i64,
    pub revision: i64,
    pub certificates: Vec<TrustedCa>,
}

/// The trusted CAs as the write path sees them: a part of the site, guarded by the site's ETag.
#[derive(Clone)]
pub struct TrustedCasRow {
    /// The site's.
    id: i64,
    revision: i64,
    ders: Vec<Vec<u8>>,
}

stored!(TrustedCasRow);

impl SiteResource for TrustedCasRow {
    type Body = TrustedCas;
    const NAMES: Names = Names { what: "site", audit: "trusted_cas", collection: "trusted-cas" };

    fn lock(conn: &mut PgConnection, site: &Site, _: i64) -> QueryResult<Option<Self>> {
        Ok(Some(Self { id: site.id, revision: site.revision, ders: sites::trusted_cas(conn, site.id)? }))
    }

    /// The bundle is replaced whole, never created or deleted on its own.
    fn action(_: Verb) -> String {
        "trusted_cas.replace".into()
    }

    fn audited(body: &TrustedCas) -> Option<serde_json::Value> {
        json(&body.certificates)
    }
}

impl TryFrom<TrustedCasRow> for TrustedCas {
    type Error = ApiError;

    fn try_from(row: TrustedCasRow) -> Result<Self, ApiError> {
        describe(row.id, row.revision, &row.ders)
    }
}

fn describe(site_id: i64, revision: i64, ders: &[Vec<u8>]) -> Result<TrustedCas, ApiError> {
    let certificates = ders
        .iter()
        .map(|der| {
            let c =
                Certificate::from_der(der).map_err(|_| ApiError::Internal(format!("site {site_id} holds a bad CA")))?;
            let i = c.info();
            Ok(TrustedCa {
                subject: i.subject.clone(),
                issuer: i.issuer.clone(),
                sha256: i.sha256.clone(),
                not_after: i.not_after,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(TrustedCas { site_id, revision, certificates })
}

/// Replace the site's trusted client CAs
///
/// Replace the client CA bundle the site's gateways trust: PEM, CA certificates only.
///
/// The whole bundle is replaced: send every CA to keep. A certificate that is not a CA
/// (basicConstraints cA=false) is refused with 422 naming its position, and nothing changes. The
/// site's revision moves (so its ETag, rendered config and gateway snapshots change) and the change
/// is audited. A token limited to other sites gets 403, also for a site id that does not exist (a
/// 404 would tell it which ids exist).
///
/// `If-Match` is optional: the bundle is part of the site, so it takes the site's `ETag` (from GET
/// on the site, or `"<revision>"` with the `revision` GET `.../trusted-cas` answers). When the site
/// changed since, the PUT is refused with 412 `precondition-failed`, whose detail names the current
/// ETag, and nothing is written.
#[utoipa::path(tag = "config", params(("site_id" = i64, Path),
    ("If-Match" = Option<String>, Header, description = "The site's ETag from a previous GET")),
    request_body(content((String = "application/x-pem-file"), (String = "text/plain")), description = "One or more PEM CA certificates"),
    responses(
        (status = 200, body = TrustedCas),
        (status = 404, response = super::problem::NotFound),
        (status = 412, response = super::problem::PreconditionFailed),
        (status = 413, response = super::problem::TooLarge),
        (status = 415, response = super::problem::UnsupportedMedia),
        (status = 422, response = super::problem::Unprocessable),
        (status = 503, response = super::problem::Unavailable),
    ))]
#[put("/sites/{site_id}/trusted-cas")]
pub async fn put_trusted_cas(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<i64>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let writer = Writer::admit(&state, caller)?;
    let site_id = path.into_inner();
    let media = media_type(&req);
    if !(media == "application/x-pem-file" || media == "text/plain") {
        return Err(ApiError::UnsupportedMediaType { expected: "a PEM bundle (application/x-pem-file or text/plain)" });
    }
    let body = read_body(payload.into_inner(), MAX_BUNDLE_BYTES.max(DEFAULT_BODY_LIMIT)).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| Invalid::one(Rejection::new("invalid-certificate", "the bundle is not PEM text").at("body")))?;
    let certificates = Certificate::parse_bundle(text).map_err(|e| Invalid::one(certificate_violation(&e, "body")))?;
    let not_ca: Vec<_> = certificates
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.info().is_ca)
        .map(|(i, c)| {
            Rejection::new(
                "not-a-ca-certificate",
                format!(
                    "{} is not a CA certificate (basicConstraints cA=false): a gateway trusts issuers, not clients",
                    c.info().subject
                ),
            )
            .at(format!("[{i}]"))
        })
        .collect();
    if !not_ca.is_empty() {
        return Err(Invalid(not_ca).into());
    }
    let ders: Vec<Vec<u8>> = certificates.iter().map(|c| c.der().to_vec()).collect();
    let row = writer
        .update(&req, site_id, site_id, move |conn, locked, _: &TrustedCasRow| {
            sites::set_trusted_cas(conn, site_id, &ders)?;
            Ok(TrustedCasRow { id: site_id, revision: locked.revision, ders })
        })
        .await?;
    Ok(HttpResponse::Ok().json(TrustedCas::try_from(row)?))
}

/// List the site's trusted client CAs
///
/// The CA certificates the site's gateways trust to issue client certificates, set with PUT:
/// subject, issuer, SHA-256 and expiry of each, and the site's `revision`. An empty list when none
/// is set. For the PEM file itself, GET `.../config/ca-bundle`.
///
/// A token limited to other sites gets 404: a site it may not read does not exist for it. Gateway
/// tokens get 403: they read the bundle as config.
#[utoipa::path(tag = "config", params(("site_id" = i64, Path)), responses(
    (status = 200, body = TrustedCas),
    (status = 404, response = super::problem::NotFound),
    (status = 503, response = super::problem::Unavailable),
))]
#[get("/sites/{site_id}/trusted-cas")]
pub async fn get_trusted_cas(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.may_read()?;
    let site_id = path.into_inner();
    let (revision, ders) = db::run(&state.pool, move |conn| {
        let site = require_site(conn, site_id, &caller)?;
        Ok((site.revision, sites::trusted_cas(conn, site_id)?))
    })
    .await?;
    Ok(HttpResponse::Ok().json(describe(site_id, revision, &ders)?))
}
