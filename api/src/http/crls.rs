//! Certificate revocation lists: uploaded by an admin, held per trusted CA, listed per issuer.

use actix_web::http::header;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use aws_lc_rs::digest;
use certmap_db::queries::crls::{self as q, CrlRow, NewCrl};
use certmap_db::PgConnection;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::audit::{json, record, Change};
use super::caller::Caller;
use super::extract::{media_type, read_body};
use super::problem::ApiError;
use super::{db, AppState};
use crate::domain::certificate::Certificate;
use crate::domain::crl::CrlNumber;
use crate::domain::crl::{Crl, Signer, MAX_CRL_BYTES};
use crate::domain::revocation::{decide, may_replace, Decider, HeldVersion, Policy, Status};
use crate::domain::violation::{Invalid, Rejection, Violation};
use crate::gateway::revocations::Held;

#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RevocationStatus {
    /// A current CRL of the issuer does not list it, or its OCSP responder says good.
    Good,
    Revoked,
    /// The issuer's CRL is past its nextUpdate, or no OCSP answer counted: nothing current
    /// vouches for the certificate.
    Unknown,
    /// No CRL is held for the issuer (or no OCSP answer, for a listing: it never asks a
    /// responder), the certificate names no responder, or the site's policy checks nothing.
    NotChecked,
}

/// A certificate's revocation status, as authorize decides it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevocationStatusBody {
    pub status: RevocationStatus,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// The CRL's reason code name (e.g. `keyCompromise`), when it gives one.
    pub reason: Option<String>,
    /// The thisUpdate of the CRL the status comes from (none when OCSP decided).
    #[serde(with = "time::serde::rfc3339::option")]
    pub checked_at: Option<OffsetDateTime>,
    /// What decided: `ocsp`, or where the CRL came from: `upload` or its URL.
    pub source: Option<String>,
}

impl RevocationStatusBody {
    /// `ocsp`: the OCSP status certmap holds for the certificate (`NotChecked` when none).
    pub fn of(crls: &Held, policy: Policy, (issuer, serial): (&str, &str), ocsp: Status, now: OffsetDateTime) -> Self {
        let (status, decider) = decide(policy, crls.status(policy, issuer, serial, now), ocsp);
        let crl = crls.index.crl_for(issuer).filter(|_| decider == Some(Decider::Crl));
        let (revoked_at, reason) = match status {
            Status::Revoked(r) => (Some(r.revoked_at), r.reason.map(|r| r.as_str().to_owned())),
            _ => (None, None),
        };
        Self {
            status: match status {
                Status::Good => RevocationStatus::Good,
                Status::Revoked(_) => RevocationStatus::Revoked,
                Status::Unknown => RevocationStatus::Unknown,
                Status::NotChecked => RevocationStatus::NotChecked,
            },
            revoked_at,
            reason,
            checked_at: crl.map(|c| c.this_update),
            source: match decider {
                Some(Decider::Ocsp) => Some("ocsp".into()),
                _ => crl.map(|c| c.source.clone()),
            },
        }
    }
}

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(upload_crls).service(list_crls);
}

/// The last attempt to fetch a CRL from its distribution point.
#[derive(Debug, Serialize, ToSchema)]
pub struct FetchBody {
    /// `ok`, `not-modified`, or what went wrong.
    pub outcome: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The CRL held for one CA.
#[derive(Debug, Serialize, ToSchema)]
pub struct CrlBody {
    /// The CRL's issuer: the CA's subject, as mappings name their issuer.
    #[schema(example = "CN=Contoso Issuing CA,O=Contoso")]
    pub issuer: String,
    /// SHA-256 of the CA certificate whose key verified the CRL (lowercase hex).
    pub ca_sha256: String,
    #[serde(with = "time::serde::rfc3339")]
    pub this_update: OffsetDateTime,
    /// After this instant the CRL no longer vouches for anything: certificates of this issuer are
    /// `unknown` until a newer one is held.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_update: Option<OffsetDateTime>,
    /// The CRL number in lowercase hex, when the CRL has one.
    pub crl_number: Option<String>,
    /// How many certificates it revokes.
    pub entries: i32,
    /// `upload`, or the distribution point's URL.
    pub source: String,
    pub last_fetch: Option<FetchBody>,
    #[serde(with = "time::serde::rfc3339")]
    pub stored_at: OffsetDateTime,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CrlList {
    /// In issuer order.
    pub crls: Vec<CrlBody>,
}

impl From<CrlRow> for CrlBody {
    fn from(row: CrlRow) -> Self {
        Self {
            issuer: row.issuer,
            ca_sha256: row.ca_sha256,
            this_update: row.this_update,
            next_update: row.next_update,
            crl_number: row.crl_number,
            entries: row.entries,
            source: row.source,
            last_fetch: row.fetch_outcome.zip(row.fetched_at).map(|(outcome, at)| FetchBody { outcome, at }),
            stored_at: row.stored_at,
        }
    }
}

pub(crate) fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, bytes))
}

/// The trusted CA that signed `crl`, or why none did.
fn signer_of(crl: &Crl, cas: &[Certificate]) -> Result<Certificate, Rejection> {
    let mut named = false;
    for ca in cas {
        match crl.signer(ca.der()) {
            Signer::Verified => return Ok(ca.clone()),
            Signer::BadSignature => named = true,
            Signer::NotIssuer => {}
        }
    }
    Err(if named {
        Rejection::new(
            "crl-signature-invalid",
            "the CRL names a trusted CA as its issuer but that CA's key did not sign it",
        )
    } else {
        Rejection::new(
            "crl-issuer-unknown",
            "no CA in any site's trusted-cas is this CRL's issuer: PUT the CA to a site's trusted-cas first",
        )
    })
}

/// Where a CRL came from, for storing it.
pub struct Source {
    pub name: String,
    pub fetched: Option<(String, OffsetDateTime)>,
}

/// Checks each CRL against the trusted CAs and the one held, then stores them all, or none.
/// Returns what was held before and what is held now, per CRL.
pub fn store_all(
    conn: &mut PgConnection,
    crls: &[Crl],
    source: &Source,
    now: OffsetDateTime,
) -> Result<Vec<(Option<CrlRow>, CrlRow)>, ApiError> {
    q::lock(conn)?;
    let cas = q::trusted_cas(conn)?.iter().filter_map(|der| Certificate::from_der(der).ok()).collect::<Vec<_>>();
    let field = |i: usize| if crls.len() == 1 { "body".to_owned() } else { format!("body[{i}]") };
    let mut violations: Vec<Violation> = Vec::new();
    let mut checked = Vec::new();
    for (i, crl) in crls.iter().enumerate() {
        let ca = match signer_of(crl, &cas) {
            Ok(ca) => ca,
            Err(r) => {
                violations.push(r.at(field(i)));
                continue;
            }
        };
        let held = q::held(conn, &ca.info().sha256)?;
        let held_number = held.as_ref().and_then(|h| h.crl_number.as_deref().and_then(CrlNumber::parse));
        let version = held.as_ref().map(|h| HeldVersion { number: held_number.as_ref(), this_update: h.this_update });
        match may_replace(crl, version, now) {
            Ok(()) => checked.push((crl, ca, held)),
            Err(r) => violations.push(r.at(field(i))),
        }
    }
    if !violations.is_empty() {
        return Err(Invalid(violations).into());
    }
    let mut stored = Vec::new();
    for (crl, ca, held) in checked {
        let entries: Vec<_> = crl
            .entries
            .iter()
            .map(|e| (e.serial.clone(), e.revoked_at, e.reason.map(|r| r.as_str().to_owned())))
            .collect();
        let row = q::store(
            conn,
            &NewCrl {
                ca_sha256: ca.info().sha256.clone(),
                issuer: ca.info().subject.clone(),
                der: crl.der().to_vec(),
                der_sha256: hex_sha256(crl.der()),
                crl_number: crl.number.as_ref().map(|n| n.as_str().to_owned()),
                this_update: crl.this_update,
                next_update: crl.next_update,
                entries: i32::try_from(entries.len()).unwrap_or(i32::MAX),
                source: source.name.clone(),
                fetch_outcome: source.fetched.as_ref().map(|(outcome, _)| outcome.clone()),
                fetched_at: source.fetched.as_ref().map(|(_, at)| *at),
            },
            &entries,
        )?;
        stored.push((held, row));
    }
    Ok(stored)
}

/// Upload CRLs
///
/// Store the certificate revocation list of a CA that certmap trusts: DER
/// (`application/pkix-crl`) or PEM (`application/x-pem-file` or `text/plain`, one or more
/// `X509 CRL` blocks). Admins only.
///
/// Each CRL is accepted only when its issuer is the subject of a CA in some site's trusted-cas and
/// that CA's key verifies its signature (`crl-issuer-unknown`, `crl-signature-invalid`), when it
/// is not older than the CRL already held for that CA (by CRL number, else thisUpdate:
/// `crl-older-than-current`) and when its thisUpdate is not in the future (`crl-not-yet-valid`).
/// A delta CRL is refused (`crl-delta-unsupported`), as is anything that is not a CRL
/// (`invalid-crl`). All CRLs of a request are stored, or none.
///
/// Every replica learns of the new CRL on commit: authorize refuses revoked certificates
/// (`certificate-revoked`) and snapshots and rendered configs leave their mappings out, their
/// ETags moving although no site revision did. Each upload is audited with its entry count.
#[utoipa::path(tag = "revocation",
    request_body(content((Vec<u8> = "application/pkix-crl"), (String = "application/x-pem-file"), (String = "text/plain")), description = "A DER CRL, or one or more PEM X509 CRL blocks"),
    responses(
        (status = 200, body = CrlList, description = "The CRLs now held for the CAs the upload covered"),
        (status = 403, response = super::problem::Forbidden),
        (status = 413, response = super::problem::TooLarge),
        (status = 415, response = super::problem::UnsupportedMedia),
        (status = 422, response = super::problem::Unprocessable),
        (status = 503, response = super::problem::Unavailable),
    ))]
#[post("/crls")]
pub async fn upload_crls(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.may_administer()?;
    caller.may_write(&state)?;
    let media = media_type(&req);
    if !matches!(media.as_str(), "application/pkix-crl" | "application/x-pem-file" | "text/plain") {
        return Err(ApiError::UnsupportedMediaType {
            expected: "a CRL: application/pkix-crl (DER), application/x-pem-file or text/plain (PEM)",
        });
    }
    // A declared size over the limit is refused before a byte of it is read.
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_CRL_BYTES) {
        return Err(ApiError::PayloadTooLarge { limit: MAX_CRL_BYTES });
    }
    let body = read_body(payload.into_inner(), MAX_CRL_BYTES).await?;
    let crls = web::block(move || Crl::parse_body(&body)).await?.map_err(|r| Invalid::one(r.at("body")))?;
    let stored = db::transaction(&state.pool, move |conn| {
        let source = Source { name: "upload".into(), fetched: None };
        let stored = store_all(conn, &crls, &source, OffsetDateTime::now_utc())?;
        for (before, after) in &stored {
            record(
                conn,
                &caller,
                Change {
                    action: "crl.upload",
                    site_id: None,
                    resource: "crl",
                    resource_id: Some(after.id),
                    before: before.clone().and_then(|b| json(&CrlBody::from(b))),
                    after: json(&CrlBody::from(after.clone())),
                },
            )?;
        }
        Ok(stored)
    })
    .await?;
    let crls = stored.into_iter().map(|(_, row)| CrlBody::from(row)).collect();
    Ok(HttpResponse::Ok().json(CrlList { crls }))
}

/// List the CRLs held
///
/// One entry per CA that has a CRL: the issuer's DN, the CA's SHA-256, thisUpdate, nextUpdate, the
/// CRL number, how many certificates it revokes, where it came from (`upload` or the distribution
/// point's URL) and the last fetch's outcome and time. A CA with no entry has no CRL: its
/// certificates are `not_checked`.
#[utoipa::path(tag = "revocation", responses(
    (status = 200, body = CrlList),
    (status = 403, response = super::problem::Forbidden),
    (status = 503, response = super::problem::Unavailable),
))]
#[get("/crls")]
pub async fn list_crls(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.may_read()?;
    let rows = db::run(&state.pool, |conn| Ok(q::all(conn)?)).await?;
    Ok(HttpResponse::Ok().json(CrlList { crls: rows.into_iter().map(CrlBody::from).collect() }))
}

/// The PEM CRLs held for the CA certificates `cas` reads (DER): the file a gateway's `ssl_crl`,
/// `crl-file` or `SSLCARevocationFile` names. 404 while none is held, since gateways refuse to
/// start on an empty CRL file.
pub async fn crl_file<F>(
    state: &AppState,
    req: &HttpRequest,
    file_name: String,
    cas: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&mut PgConnection) -> Result<Vec<Vec<u8>>, ApiError> + Send + 'static,
{
    let ders = db::run(&state.pool, move |conn| {
        conn.build_transaction().repeatable_read().read_only().run(|conn| {
            let wanted: Vec<String> = cas(conn)?.iter().map(|der| hex_sha256(der)).collect();
            Ok(q::ders(conn)?.into_iter().filter(|(ca, _)| wanted.contains(ca)).map(|(_, der)| der).collect::<Vec<_>>())
        })
    })
    .await?;
    if ders.is_empty() {
        return Err(ApiError::NotFound {
            what: "CRL file (no CRL is held for these trusted CAs: POST one to /api/v1/crls)",
        });
    }
    let digests: Vec<String> = ders.iter().map(|d| hex_sha256(d)).collect();
    let tag = format!("\"crl-{}\"", &hex_sha256(digests.join(",").as_bytes())[..16]);
    if super::etag::none_match(req.headers(), &tag) {
        return Ok(HttpResponse::NotModified().insert_header((header::ETAG, tag)).finish());
    }
    Ok(HttpResponse::Ok()
        .content_type("application/x-pem-file")
        .insert_header((header::ETAG, tag))
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file_name}\"")))
        .body(super::config::pem_blocks("X509 CRL", &ders)))
}

/// For the ETag of a config that names a CRL file: it moves with every CRL stored, so an agent
/// keeping the CRL file (`certmap pull --crl-out`) fetches it again before the one it holds expires.
pub fn versions_tag(conn: &mut PgConnection) -> Result<String, ApiError> {
    let versions: Vec<String> = q::versions(conn)?.into_iter().map(|(_, digest)| digest).collect();
    Ok(format!("#crls={}", versions.join(",")))
}
