//! One-to-one mappings: a whole client certificate → a Windows account, on a site.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use base64::Engine as _;
use certmap_db::models::{CertificateValues, Mapping, MappingValues, NewMapping, Site};
use certmap_db::queries::mappings as q;
use certmap_db::PgConnection;
use diesel::QueryResult;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::caller::Caller;
use super::certificate_input::{self, body_kind, BodyKind};
use super::crls::RevocationStatusBody;
use super::extract::{parse_json, read_body, DEFAULT_BODY_LIMIT};
use super::pagination::{PageQuery, Paginated};
use super::problem::ApiError;
use super::serde_util::present;
use super::sites::{policy_of, require_site};
use super::write::{Names, SiteResource, Writer};
use super::{created, db, json_with_etag, AppState};
use crate::domain::certificate::Certificate;
use crate::domain::mapping::{
    check_client_certificate, parse_description, parse_expires_at, parse_fingerprint, parse_window,
};
use crate::domain::names::UserName;
use crate::domain::revocation::{Policy, Status};
use crate::domain::violation::{Collector, Invalid, Rejection};
use crate::gateway::ocsp::Ocsp;
use crate::gateway::revocations::Held;
use crate::secrets::{Password, SecretKeys, SecretKind, SecretOwner};

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(list_mappings)
        .service(create_mapping)
        .service(get_mapping)
        .service(update_mapping)
        .service(delete_mapping)
        .service(certificate_mappings);
}

/// The header that carries a password when the body is the certificate itself (never a query
/// parameter: query strings end up in logs).
pub const PASSWORD_HEADER: &str = "X-Certmap-Password";

/// A real client certificate (CN=alice, O=Contoso; EC P-256, CA:FALSE, valid until 2126), so the
/// examples in the docs can be sent as they are and succeed.
pub const PEM_EXAMPLE: &str = "-----BEGIN CERTIFICATE-----\nMIIBxzCCAW2gAwIBAgIUFLDb7iV4rRn2YmYox0rwzhIbM2IwCgYIKoZIzj0EAwIw\nLzELMAkGA1UEBhMCVVMxEDAOBgNVBAoMB0NvbnRvc28xDjAMBgNVBAMMBWFsaWNl\nMCAXDTI2MTEyNTIxMjIxOFoYDzIxMjYxMTAxMjEyMjE4WjAvMQswCQYDVQQGEwJV\nUzEQMA4GA1UECgwHQ29udG9zbzEOMAwGA1UEAwwFYWxpY2UwWTATBgcqhkjOPQIB\nBggqhkjOPQMBBwNCAASImMXlNCEqU/8HhKRusTswVAQ7L8Yry11V1zNB8gTkZ4YI\nOb5kFYDxku5wlVWs32qPnduU6e6jLX3ANCucPN0Wo2UwYzAdBgNVHQ4EFgQUsIgs\nat+W7SNuxYcSLnHe1Ylm49MwHwYDVR0jBBgwFoAUsIgsat+W7SNuxYcSLnHe1Ylm\n49MwDAYDVR0TAQH/BAIwADATBgNVHSUEDDAKBggrBgEFBQcDAjAKBggqhkjOPQQD\nAgNIADBFAiEA4m1yHsXR1oNH6A8c9D/Y2QBPC/gbmWcIWMcKXPAUnv8CIFDsfMXQ\nbV0MLUM7H8PbKDMohD/J6F0TeVNsBxN0n37R\n-----END CERTIFICATE-----\n";

// No Debug: these bodies carry passwords, and a Debug print is how they reach logs.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "certificate": PEM_EXAMPLE,
    "user_name": "CONTOSO\\alice",
    "password": "correct horse battery staple",
    "description": "Alice's smart card"
}))]
pub struct CreateMapping {
    /// The client certificate as you have it: PEM (line breaks and all), base64 DER wrapped at any
    /// width, or the one-line IIS form. Stored as DER and returned in the IIS one-line form.
    pub certificate: String,
    /// `DOMAIN\user`, `user@domain` or `user`. Several certificates may map to one user.
    pub user_name: String,
    /// The account's password, which IIS needs to log the user on. Encrypted at rest and never
    /// returned. Gateways (nginx, HAProxy, Apache) do not need it.
    pub password: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
    pub description: Option<String>,
    /// RFC 3339; no later than the certificate's notAfter.
    pub expires_at: Option<String>,
    /// Store an expired or not-yet-valid certificate anyway (it is flagged `expired`).
    pub allow_expired: Option<bool>,
}

/// Query parameters when the body is the certificate itself (`curl --data-binary @alice.pem`).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RawMappingQuery {
    /// Required with a raw certificate body.
    pub user_name: Option<String>,
    pub enabled: Option<bool>,
    pub description: Option<String>,
    pub expires_at: Option<String>,
    pub allow_expired: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": false}))]
pub struct UpdateMapping {
    pub user_name: Option<String>,
    /// A new password, or null to remove it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub password: Option<Option<String>>,
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<Option<String>>,
    pub allow_expired: Option<bool>,
    /// Never accepted: a renewed certificate is a new certificate (IIS keys one-to-one mappings on
    /// the whole certificate). Create a new mapping, then delete this one.
    #[schema(value_type = Option<String>)]
    pub certificate: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubjectAltNames {
    pub dns: Vec<String>,
    pub email: Vec<String>,
    pub uri: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MappingBody {
    pub id: i64,
    pub site_id: i64,
    #[schema(example = "CONTOSO\\alice")]
    pub user_name: String,
    /// Whether a password is stored. The password itself is never returned.
    pub has_password: bool,
    pub enabled: bool,
    pub description: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    pub allow_expired: bool,
    /// True when the certificate is outside its validity period now.
    pub expired: bool,
    /// The certificate in the form IIS wants: base64 of the DER on one line, no armour.
    #[schema(
        example = "MIIBxzCCAW2gAwIBAgIUFLDb7iV4rRn2YmYox0rwzhIbM2IwCgYIKoZIzj0EAwIwLzELMAkGA1UEBhMCVVMxEDAOBgNVBAoMB0NvbnRvc28xDjAMBgNVBAMMBWFsaWNlMCAXDTI2MTEyNTIxMjIxOFoYDzIxMjYxMTAxMjEyMjE4WjAvMQswCQYDVQQGEwJVUzEQMA4GA1UECgwHQ29udG9zbzEOMAwGA1UEAwwFYWxpY2UwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASImMXlNCEqU/8HhKRusTswVAQ7L8Yry11V1zNB8gTkZ4YIOb5kFYDxku5wlVWs32qPnduU6e6jLX3ANCucPN0Wo2UwYzAdBgNVHQ4EFgQUsIgsat+W7SNuxYcSLnHe1Ylm49MwHwYDVR0jBBgwFoAUsIgsat+W7SNuxYcSLnHe1Ylm49MwDAYDVR0TAQH/BAIwADATBgNVHSUEDDAKBggrBgEFBQcDAjAKBggqhkjOPQQDAgNIADBFAiEA4m1yHsXR1oNH6A8c9D/Y2QBPC/gbmWcIWMcKXPAUnv8CIFDsfMXQbV0MLUM7H8PbKDMohD/J6F0TeVNsBxN0n37R"
    )]
    pub certificate: String,
    /// SHA-1 of the DER, lowercase hex (nginx `$ssl_client_fingerprint`).
    pub sha1: String,
    pub sha256: String,
    /// SHA-256 of the SubjectPublicKeyInfo: survives a renewal that keeps the key.
    pub spki_sha256: String,
    #[schema(example = "CN=alice,O=Contoso,C=US")]
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub subject_alt_names: SubjectAltNames,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    #[schema(example = "EC P-256")]
    pub key_type: String,
    pub key_bits: Option<i32>,
    pub revision: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Things worth knowing about the input (e.g. extra certificates that were ignored).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Whether the certificate's CA has revoked it, by the CRLs held and the site's policy (in
    /// GET and list answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation: Option<RevocationStatusBody>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MappingFilterQuery {
    /// Mappings of this account (case-insensitive).
    pub user_name: Option<String>,
    /// SHA-256 or SHA-1 of the certificate, hex, colons optional.
    pub fingerprint: Option<String>,
    /// Certificates expiring within this window (e.g. `30d`, `12h`, `2w`), including expired ones.
    pub expiring_within: Option<String>,
    pub enabled: Option<bool>,
    /// `revoked`: only mappings whose certificate a held CRL revokes.
    #[param(inline)]
    pub revocation: Option<RevocationFilter>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RevocationFilter {
    Revoked,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CertificateMappings {
    pub sha256: String,
    pub mappings: Vec<MappingBody>,
}

impl MappingBody {
    pub fn from_row(row: Mapping, now: OffsetDateTime) -> Self {
        let expired = now > row.not_after || now < row.not_before;
        Self {
            id: row.id,
            site_id: row.site_id,
            user_name: row.user_name,
            has_password: row.password_enc.is_some(),
            enabled: row.enabled,
            description: row.description,
            expires_at: row.expires_at,
            allow_expired: row.allow_expired,
            expired,
            certificate: base64::engine::general_purpose::STANDARD.encode(&row.certificate),
            sha1: row.sha1,
            sha256: row.sha256,
            spki_sha256: row.spki_sha256,
            subject: row.subject,
            issuer: row.issuer,
            serial: row.serial,
            subject_alt_names: SubjectAltNames { dns: row.san_dns, email: row.san_email, uri: row.san_uri },
            not_before: row.not_before,
            not_after: row.not_after,
            key_type: row.key_type,
            key_bits: row.key_bits,
            revision: row.revision,
            created_at: row.created_at,
            updated_at: row.updated_at,
            warnings: Vec::new(),
            revocation: None,
        }
    }

    /// By the CRLs held and, where the policy asks OCSP, the answer held from authorize or
    /// resolve: a listing asks no responder.
    pub fn with_revocation(mut self, (crls, ocsp): (&Held, &Ocsp), policy: Policy, now: OffsetDateTime) -> Self {
        let answer = policy.check.asks_ocsp().then(|| ocsp.cached(self.site_id, &self.issuer, &self.serial)).flatten();
        let ocsp = answer.unwrap_or(Status::NotChecked);
        self.revocation = Some(RevocationStatusBody::of(crls, policy, (&self.issuer, &self.serial), ocsp, now));
        self
    }
}

/// As of now: whether the certificate has expired is part of the answer.
impl TryFrom<Mapping> for MappingBody {
    type Error = ApiError;

    fn try_from(row: Mapping) -> Result<Self, ApiError> {
        Ok(Self::from_row(row, OffsetDateTime::now_utc()))
    }
}

pub fn certificate_values(cert: &Certificate) -> CertificateValues {
    let i = cert.info();
    CertificateValues {
        certificate: cert.der().to_vec(),
        sha1: i.sha1.clone(),
        sha256: i.sha256.clone(),
        spki_sha256: i.spki_sha256.clone(),
        subject: i.subject.clone(),
        issuer: i.issuer.clone(),
        serial: i.serial.clone(),
        san_dns: i.san_dns.clone(),
        san_email: i.san_email.clone(),
        san_uri: i.san_uri.clone(),
        not_before: i.not_before,
        not_after: i.not_after,
        key_type: i.key_type.clone(),
        key_bits: i.key_bits.and_then(|b| i32::try_from(b).ok()),
    }
}

/// A password from the request, checked.
pub fn parse_password(raw: String, errors: &mut Collector) -> Option<Password> {
    errors.take(Password::parse(raw).map_err(|e| Rejection::new(e.code, e.message).at("password")))
}

pub fn owner_of(row: &Mapping) -> SecretOwner {
    SecretOwner { kind: SecretKind::OneToOne, site_id: row.site_id, id: row.id }
}

/// Encrypts and stores the password of a row just inserted: its id is part of the ciphertext
/// (see `SecretOwner`), so it can only be sealed once the row has one. Returns what was stored.
pub fn store_new_password(
    conn: &mut PgConnection,
    secrets: &SecretKeys,
    owner: SecretOwner,
    password: &Password,
) -> Result<Vec<u8>, ApiError> {
    let blob = secrets.encrypt(owner, password);
    match owner.kind {
        SecretKind::OneToOne => q::set_password(conn, owner.id, &blob)?,
        SecretKind::ManyToOne => certmap_db::queries::many_to_one::set_password(conn, owner.id, &blob)?,
    };
    Ok(blob)
}

/// Everything a create needs, from JSON or from a raw body plus query; shared with bulk import.
pub struct MappingRequest {
    pub certificate: Result<(Certificate, Option<String>), crate::domain::violation::Violation>,
    pub user_name: Option<String>,
    pub password: Option<String>,
    pub enabled: Option<bool>,
    pub description: Option<String>,
    pub expires_at: Option<String>,
    pub allow_expired: Option<bool>,
}

impl From<CreateMapping> for MappingRequest {
    fn from(c: CreateMapping) -> Self {
        Self {
            certificate: certificate_input::parse_text(&c.certificate, "certificate"),
            user_name: Some(c.user_name),
            password: c.password,
            enabled: c.enabled,
            description: c.description,
            expires_at: c.expires_at,
            allow_expired: c.allow_expired,
        }
    }
}

impl MappingRequest {
    /// Every rule checked, every mistake collected. The password is stored by
    /// [`store_new_password`] once the row has its id.
    pub fn build(self, site_id: i64, now: OffsetDateTime) -> Result<BuiltMapping, Invalid> {
        let mut errors = Collector::default();
        let allow_expired = self.allow_expired.unwrap_or(false);
        let certificate = errors.take(self.certificate.and_then(|(cert, warning)| {
            check_client_certificate(&cert, now, allow_expired)?;
            Ok((cert, warning))
        }));
        let user_name = match self.user_name {
            Some(u) => errors.take(UserName::parse(&u).map_err(|r| r.at("user_name"))),
            None => {
                errors.push(Rejection::new("missing-field", "user_name is required").at("user_name"));
                None
            }
        };
        let description =
            self.description.and_then(|d| errors.take(parse_description(&d).map_err(|r| r.at("description"))));
        let expires_at = match (&self.expires_at, &certificate) {
            (Some(raw), Some((cert, _))) => errors.take(parse_expires_at(raw, cert.info().not_after)),
            _ => None,
        };
        let password = self.password.and_then(|p| parse_password(p, &mut errors));
        errors.finish(|| {
            let (cert, warning) = certificate.expect("checked");
            let values = MappingValues {
                user_name: user_name.expect("checked").as_str().to_owned(),
                password_enc: None,
                enabled: self.enabled.unwrap_or(true),
                description,
                expires_at,
                allow_expired,
            };
            let row = NewMapping { site_id, values, certificate: certificate_values(&cert) };
            BuiltMapping { row, password, warnings: warning.into_iter().collect() }
        })
    }
}

pub struct BuiltMapping {
    pub row: NewMapping,
    pub password: Option<Password>,
    pub warnings: Vec<String>,
}

impl UpdateMapping {
    /// A new certificate is refused whatever the mapping holds, so before anything is read: before
    /// `If-Match` too, which would otherwise answer a request that can never succeed with 412.
    fn refuse_certificate(&self) -> Result<(), Invalid> {
        match self.certificate {
            None => Ok(()),
            Some(_) => Err(Invalid::one(
                Rejection::new(
                    "certificate-immutable",
                    "a mapping's certificate cannot change: a renewed certificate is a new certificate to IIS; create a new mapping and delete this one",
                )
                .at("certificate"),
            )),
        }
    }

    fn apply(self, secrets: &SecretKeys, current: &Mapping) -> Result<MappingValues, Invalid> {
        self.refuse_certificate()?;
        let mut errors = Collector::default();
        let user_name = match self.user_name {
            Some(u) => errors.take(UserName::parse(&u).map_err(|r| r.at("user_name"))).map(|u| u.as_str().to_owned()),
            None => Some(current.user_name.clone()),
        };
        let password_enc = match self.password {
            None => current.password_enc.clone(),
            Some(None) => None,
            Some(Some(p)) => parse_password(p, &mut errors).map(|p| secrets.encrypt(owner_of(current), &p)),
        };
        let description = match self.description {
            None => current.description.clone(),
            Some(None) => None,
            Some(Some(d)) => errors.take(parse_description(&d).map_err(|r| r.at("description"))),
        };
        let expires_at = match self.expires_at {
            None => current.expires_at,
            Some(None) => None,
            Some(Some(raw)) => errors.take(parse_expires_at(&raw, current.not_after)),
        };
        // Withdrawing allow_expired from an expired certificate is the same question as storing it.
        if self.allow_expired == Some(false) && current.allow_expired {
            if let Ok(cert) = Certificate::from_der(&current.certificate) {
                errors.take(check_client_certificate(&cert, OffsetDateTime::now_utc(), false));
            }
        }
        errors.finish(|| MappingValues {
            user_name: user_name.expect("checked"),
            password_enc,
            enabled: self.enabled.unwrap_or(current.enabled),
            description,
            expires_at,
            allow_expired: self.allow_expired.unwrap_or(current.allow_expired),
        })
    }
}

impl MappingFilterQuery {
    fn filter(self, now: OffsetDateTime) -> Result<q::MappingFilter, Invalid> {
        let mut errors = Collector::default();
        let fingerprint =
            self.fingerprint.and_then(|f| errors.take(parse_fingerprint(&f).map_err(|r| r.at("fingerprint"))));
        let window =
            self.expiring_within.and_then(|w| errors.take(parse_window(&w).map_err(|r| r.at("expiring_within"))));
        let user_name = self.user_name.and_then(|u| {
            errors.take(UserName::parse(&u).map_err(|r| r.at("user_name"))).map(|u| u.as_str().to_owned())
        });
        errors.finish(|| q::MappingFilter {
            user_name,
            fingerprint,
            not_after_before: window.map(|w| now + w),
            enabled: self.enabled,
            only: None,
        })
    }
}

/// A password in a URL is already in some proxy's access log: refuse it loudly rather than
/// ignore it.
fn refuse_password_in_url(req: &HttpRequest) -> Result<(), ApiError> {
    let named = req
        .query_string()
        .split('&')
        .any(|pair| pair.split('=').next().is_some_and(|k| k.eq_ignore_ascii_case("password")));
    if named {
        return Err(Rejection::new(
            "password-in-url",
            format!("never put a password in the URL (it ends up in logs); send it in the {PASSWORD_HEADER} header or the JSON body, and change it now"),
        )
        .at("password")
        .into());
    }
    Ok(())
}

/// The password header as UTF-8 text; anything else is refused rather than mangled.
fn password_header(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    match req.headers().get(PASSWORD_HEADER) {
        None => Ok(None),
        Some(v) => std::str::from_utf8(v.as_bytes()).map(|s| Some(s.to_owned())).map_err(|_| {
            Rejection::new("invalid-password", format!("the {PASSWORD_HEADER} header is not UTF-8 text"))
                .at(PASSWORD_HEADER)
                .into()
        }),
    }
}

impl SiteResource for Mapping {
    type Body = MappingBody;
    const NAMES: Names = Names { what: "mapping", audit: "mapping", collection: "mappings" };

    fn lock(conn: &mut PgConnection, site: &Site, id: i64) -> QueryResult<Option<Self>> {
        q::lock(conn, site.id, id)
    }
}

/// The mapping's certificate already exists on the site: name the mapping that has it.
pub fn duplicate(existing_id: i64) -> ApiError {
    ApiError::Conflict {
        code: "duplicate-certificate",
        field: "certificate",
        detail: format!(
            "this certificate is already mapped on this site by mapping {existing_id} (IIS keys one-to-one mappings on the certificate, so it can appear once per site)"
        ),
    }
}

/// List a site's one-to-one mappings
///
/// Each mapping with its certificate (subject, issuer, fingerprints, validity, `expired` as of now)
/// and account; never the password, only `has_password`. Filters combine: account (`user_name`,
/// case-insensitive), certificate `fingerprint` (SHA-256 or SHA-1), `expiring_within` (e.g. `30d`,
/// expired ones included), `enabled` and `revocation=revoked` (certificates a held CRL revokes).
/// Each mapping says whether its certificate is revoked (`revocation`). Paged in id order, which stays stable while items are
/// added: `limit` per page (default 50, at most 500); pass the answer's `next_cursor` as `cursor`
/// for the next page; `next_cursor` is null on the last page.
///
/// 404 when the site does not exist, also for a token limited to other sites (a site it may not
/// read does not exist for it).
#[utoipa::path(tag = "mappings", params(("site_id" = i64, Path), MappingFilterQuery, PageQuery), responses(
    (status = 200, body = Paginated<MappingBody>),
    (status = 404, response = super::problem::NotFound),
    (status = 422, response = super::problem::Unprocessable),
    (status = 503, response = super::problem::Unavailable),
))]
#[get("/sites/{site_id}/mappings")]
pub async fn list_mappings(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<i64>,
    page: web::Query<PageQuery>,
    filter: web::Query<MappingFilterQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.may_read()?;
    let site_id = path.into_inner();
    let page = page.page()?;
    let now = OffsetDateTime::now_utc();
    let filter = filter.into_inner();
    let only_revoked = filter.revocation.is_some();
    let mut filter = filter.filter(now)?;
    let (rows, policy) = db::run(&state.pool, move |conn| {
        let site = require_site(conn, site_id, &caller)?;
        if only_revoked {
            filter.only = Some(super::render_input::revoked(conn, &site)?);
        }
        Ok((q::page(conn, site_id, &filter, page.after, page.limit)?, policy_of(&site).unwrap_or_default()))
    })
    .await?;
    let crls = state.cache.revocations(&state.pool).await?;
    let items: Vec<MappingBody> = rows
        .into_iter()
        .map(|r| MappingBody::from_row(r, now).with_revocation((&crls, &state.ocsp), policy, now))
        .collect();
    Ok(HttpResponse::Ok().json(Paginated::new(items, page.limit, |m| m.id)))
}

/// Map a client certificate to a Windows account
///
/// Map a client certificate to a Windows account on this site. Send JSON, or the certificate
/// itself (`curl --data-binary @alice.pem -H 'Content-Type: application/x-pem-file'
/// '.../mappings?user_name=CONTOSO%5Calice'`) with the password, if any, in `X-Certmap-Password`.
///
/// A certificate maps once per site (409 `duplicate-certificate` names the mapping that has it). An
/// expired or not-yet-valid certificate is refused unless `allow_expired` is true. The password is
/// stored encrypted and never returned. 201 with `Location` and the mapping's `ETag`. The site's
/// revision moves (so its ETag, rendered config and gateway snapshots change) and the change is
/// audited.
///
/// 404 when the site does not exist. A token limited to other sites gets 403, also for a site id
/// that does not exist (a 404 would tell it which ids exist).
#[utoipa::path(tag = "mappings",
    params(("site_id" = i64, Path), RawMappingQuery,
        ("X-Certmap-Password" = Option<String>, Header, description = "The account password when the body is a raw certificate")),
    request_body(content(
        (CreateMapping = "application/json"),
        (String = "application/x-pem-file", example = json!(PEM_EXAMPLE)),
        (inline(super::binary_body::BinaryBody) = "application/pkix-cert"),
        (inline(super::binary_body::BinaryBody) = "application/x-x509-ca-cert"),
        (inline(super::binary_body::BinaryBody) = "application/octet-stream"),
        (String = "text/plain"),
    )),
    responses(
        (status = 201, body = MappingBody, headers(("Location" = String), ("ETag" = String))),
        (status = 400, response = super::problem::BadRequest),
        (status = 404, response = super::problem::NotFound),
        (status = 409, response = super::problem::Conflict),
        (status = 413, response = super::problem::TooLarge),
        (status = 415, response = super::problem::UnsupportedMedia),
        (status = 422, response = super::problem::Unprocessable),
        (status = 503, response = super::problem::Unavailable),
    ))]
#[post("/sites/{site_id}/mappings")]
pub async fn create_mapping(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<i64>,
    raw: web::Query<RawMappingQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let writer = Writer::admit(&state, caller)?;
    let site_id = path.into_inner();
    let kind = body_kind(&req)?;
    refuse_password_in_url(&req)?;
    let header_password = password_header(&req)?;
    let body = read_body(payload.into_inner(), DEFAULT_BODY_LIMIT).await?;
    let request = match kind {
        BodyKind::Json if header_password.is_some() => {
            return Err(Rejection::new(
                "password-header-with-json",
                format!("with a JSON body the password goes in the body's password field, not in {PASSWORD_HEADER}"),
            )
            .at(PASSWORD_HEADER)
            .into())
        }
        BodyKind::Json => MappingRequest::from(parse_json::<CreateMapping>(&body)?),
        BodyKind::RawCertificate => {
            let raw = raw.into_inner();
            let password = header_password;
            MappingRequest {
                certificate: certificate_input::parse_bytes(&body, "certificate"),
                user_name: raw.user_name,
                password,
                enabled: raw.enabled,
                description: raw.description,
                expires_at: raw.expires_at,
                allow_expired: raw.allow_expired,
            }
        }
    };
    let now = OffsetDateTime::now_utc();
    let BuiltMapping { row: new, password, warnings } = request.build(site_id, now)?;
    let row = writer
        .create(site_id, move |conn| {
            if let Some(existing) = q::find_by_certificate(conn, site_id, &new.certificate.sha256)? {
                return Err(duplicate(existing.id));
            }
            let mut row = q::insert(conn, &new)?;
            if let Some(password) = &password {
                row.password_enc = Some(store_new_password(conn, &state.secrets, owner_of(&row), password)?);
            }
            Ok(row)
        })
        .await?;
    let (location, revision) = (Mapping::location(site_id, row.id), row.revision);
    Ok(created(location, revision, &MappingBody { warnings, ..MappingBody::from_row(row, now) }))
}

/// Get a one-to-one mapping
///
/// The mapping with its certificate (subject, issuer, fingerprints, validity, `expired` as of now)
/// and account; never the password, only `has_password`. Its `ETag` (the mapping's revision) is
/// what `If-Match` takes on PATCH and DELETE.
///
/// 404 when the site or the mapping does not exist, or the mapping is on another site; a token
/// limited to other sites gets 404 for the site too.
#[utoipa::path(tag = "mappings", params(("site_id" = i64, Path), ("mapping_id" = i64, Path)), responses(
    (status = 200, body = MappingBody, headers(("ETag" = String))),
    (status = 404, response = super::problem::NotFound),
    (status = 503, response = super::problem::Unavailable),
))]
#[get("/sites/{site_id}/mappings/{mapping_id}")]
pub async fn get_mapping(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    caller.may_read()?;
    let (site_id, id) = path.into_inner();
    let (row, policy) = db::run(&state.pool, move |conn| {
        let site = require_site(conn, site_id, &caller)?;
        Ok((q::find(conn, site_id, id)?.ok_or_else(Mapping::not_found)?, policy_of(&site).unwrap_or_default()))
    })
    .await?;
    let revision = row.revision;
    let (crls, now) = (state.cache.revocations(&state.pool).await?, OffsetDateTime::now_utc());
    Ok(json_with_etag(
        HttpResponse::Ok(),
        revision,
        &MappingBody::from_row(row, now).with_revocation((&crls, &state.ocsp), policy, now),
    ))
}

/// Change a one-to-one mapping
///
/// Change the account, password, enabled flag, description or expiry. The certificate itself
/// cannot change: a renewed certificate is a new mapping.
///
/// Fields left out keep their values; `password: null` removes the password. `If-Match` is
/// optional: without it the change applies to whatever is current; with the `ETag` of a previous
/// GET (or `*`), a change made since is refused with 412 `precondition-failed`, whose detail names
/// the current ETag, and nothing is written. The site's revision moves (so its ETag, rendered
/// config and gateway snapshots change) and the change is audited.
///
/// 404 when the mapping does not exist. A token limited to other sites gets 403, also for a site id
/// that does not exist (a 404 would tell it which ids exist).
#[utoipa::path(tag = "mappings", params(("site_id" = i64, Path), ("mapping_id" = i64, Path),
    ("If-Match" = Option<String>, Header, description = "ETag from a previous GET")),
    request_body = UpdateMapping, responses(
    (status = 200, body = MappingBody, headers(("ETag" = String))),
    (status = 400, response = super::problem::BadRequest),
    (status = 404, response = super::problem::NotFound),
    (status = 412, response = super::problem::PreconditionFailed),
    (status = 413, response = super::problem::TooLarge),
    (status = 415, response = super::problem::UnsupportedMedia),
    (status = 422, response = super::problem::Unprocessable),
    (status = 503, response = super::problem::Unavailable),
))]
#[patch("/sites/{site_id}/mappings/{mapping_id}")]
pub async fn update_mapping(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(i64, i64)>,
    super::extract::Json(body): super::extract::Json<UpdateMapping>,
) -> Result<HttpResponse, ApiError> {
    let writer = Writer::admit(&state, caller)?;
    let (site_id, id) = path.into_inner();
    body.refuse_certificate()?;
    let row = writer
        .update(&req, site_id, id, move |conn, _, current: &Mapping| {
            Ok(q::update(conn, site_id, id, &body.apply(&state.secrets, current)?)?)
        })
        .await?;
    row.answer()
}

/// Delete a one-to-one mapping
///
/// The certificate no longer maps on this site: IIS then tries the site's many-to-one mappings, and
/// without a match answers 401.1. The same certificate's mappings on other sites stay. The site's
/// revision moves (so its ETag, rendered config and gateway snapshots change) and the audit log
/// keeps the mapping as it was (without its password).
///
/// `If-Match` is optional: without it the change applies to whatever is current; with the `ETag` of
/// a previous GET (or `*`), a change made since is refused with 412 `precondition-failed`, whose
/// detail names the current ETag, and nothing is written.
///
/// 404 when the mapping does not exist (a repeated DELETE answers 404). A token limited to other
/// sites gets 403, also for a site id that does not exist (a 404 would tell it which ids exist).
#[utoipa::path(tag = "mappings", params(("site_id" = i64, Path), ("mapping_id" = i64, Path),
    ("If-Match" = Option<String>, Header, description = "ETag from a previous GET")), responses(
    (status = 204, description = "Deleted"),
    (status = 404, response = super::problem::NotFound),
    (status = 412, response = super::problem::PreconditionFailed),
    (status = 503, response = super::problem::Unavailable),
))]
#[delete("/sites/{site_id}/mappings/{mapping_id}")]
pub async fn delete_mapping(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let writer = Writer::admit(&state, caller)?;
    let (site_id, id) = path.into_inner();
    writer.delete::<Mapping>(&req, site_id, id, move |conn| q::delete(conn, site_id, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Find a certificate's mappings on every site
///
/// Every site's mapping of one certificate, by the SHA-256 of its DER.
///
/// Only the sites the token may read are searched: 404 when none of them maps it, or the
/// fingerprint is not a SHA-256.
#[utoipa::path(tag = "mappings", params(("sha256" = String, Path, description = "SHA-256 of the certificate, hex")), responses(
    (status = 200, body = CertificateMappings),
    (status = 404, response = super::problem::NotFound),
    (status = 503, response = super::problem::Unavailable),
))]
#[get("/certificates/{sha256}")]
pub async fn certificate_mappings(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.may_read()?;
    let sha256 = parse_fingerprint(&path.into_inner())
        .ok()
        .filter(|f| f.len() == 64)
        .ok_or(ApiError::NotFound { what: "certificate" })?;
    let key = sha256.clone();
    let rows = db::run(&state.pool, move |conn| Ok(q::by_certificate_on_sites(conn, &key)?)).await?;
    let rows: Vec<Mapping> = rows.into_iter().filter(|(_, site)| caller.sees(site)).map(|(m, _)| m).collect();
    if rows.is_empty() {
        return Err(ApiError::NotFound { what: "certificate" });
    }
    let now = OffsetDateTime::now_utc();
    Ok(HttpResponse::Ok().json(CertificateMappings {
        sha256,
        mappings: rows.into_iter().map(|r| MappingBody::from_row(r, now)).collect(),
    }))
}
