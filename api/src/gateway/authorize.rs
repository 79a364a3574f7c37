//! The per-request decision: which client the gateway presented, and whether it may pass the
//! path's directory as whom — decided from the cached site, with the same code as `resolve`.

use actix_web::http::header::{AsHeaderName, HeaderMap};
use certmap_db::PgPool;
use time::OffsetDateTime;

use super::client_identity::Presented;
use super::ocsp::{Der, Ocsp};
use super::revocations::Held;
use super::site_view::SiteView;
use crate::domain::directory::ClientCertificates;
use crate::domain::request_path::RequestPath;
use crate::domain::resolve::Decision;
use crate::domain::revocation::{decide, Revocation, Status, WhenUnknown};
use crate::http::db;
use crate::http::problem::ApiError;

pub fn header(headers: &HeaderMap, name: impl AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty())
}

pub enum Verdict {
    /// `revocation_unknown`: the site's policy lets a certificate whose revocation cannot be
    /// decided pass, and this one's could not.
    Pass {
        user: Option<(String, i64)>,
        revocation_unknown: bool,
    },
    CertificateRequired,
    Refused(String),
    /// Whatever maps it: a mapping never outranks the CA's word.
    Revoked(Revocation),
    RevocationUnknown,
}

fn refusal(decision: &Decision) -> String {
    match decision {
        Decision::Denied { name, .. } => format!("denied by many-to-one mapping {name:?}"),
        Decision::NoMapping { reason } => format!("no mapping: {}", reason.as_str()),
        _ => String::new(),
    }
}

/// By the CRLs held (`crl`, from memory) and OCSP (its cache, or the responder on a miss).
async fn status_of(
    site: &SiteView,
    ocsp: &Ocsp,
    crl: Status,
    (issuer, serial): (&str, &str),
    der: Der<'_>,
) -> Result<Status, ApiError> {
    let ocsp = ocsp.for_site(site, issuer, serial, der).await?;
    Ok(decide(site.revocation, crl, ocsp).0)
}

/// From the cached site alone, except for a certificate known only by fingerprint whose answer
/// depends on many-to-one rules: those need its names, read from the database.
pub async fn judge(
    pool: &PgPool,
    site: &SiteView,
    (crls, ocsp): (&Held, &Ocsp),
    path: &RequestPath,
    client: Presented,
) -> Result<Verdict, ApiError> {
    let needs = path.directory(&site.directories).map_or(ClientCertificates::Ignore, |d| d.policy.client_certificates);
    let now = OffsetDateTime::now_utc();
    // Known by fingerprint alone: the stored mapping, looked up once for revocation and decision.
    let stored = match &client {
        Presented::Fingerprint(fp) if needs != ClientCertificates::Ignore => site.index_of(*fp),
        _ => None,
    };
    let revocation = match &client {
        _ if needs == ClientCertificates::Ignore => None,
        Presented::None => None,
        Presented::Certificate(cert) => {
            let info = cert.info();
            let crl = crls.status(site.revocation, &info.issuer, &info.serial, now);
            Some(status_of(site, ocsp, crl, (&info.issuer, &info.serial), Der::Presented(cert.der())).await?)
        }
        // Only a stored certificate's issuer and serial are known.
        Presented::Fingerprint(_) => match stored {
            Some(index) => {
                let m = &site.mappings[index as usize];
                let (c, der) = (m.certificate.info(), Der::Stored { pool, site_id: site.id, mapping_id: m.id });
                let crl = site.crl_status(index, crls, now);
                Some(status_of(site, ocsp, crl, (&c.issuer, &c.serial), der).await?)
            }
            None => None,
        },
    };
    match revocation {
        Some(Status::Revoked(r)) => return Ok(Verdict::Revoked(r)),
        Some(Status::Unknown) if site.revocation.when_unknown == WhenUnknown::Deny => {
            return Ok(Verdict::RevocationUnknown)
        }
        _ => {}
    }
    let pass = |user| Verdict::Pass { user, revocation_unknown: revocation == Some(Status::Unknown) };
    let decision = match client {
        Presented::None if needs == ClientCertificates::Require => return Ok(Verdict::CertificateRequired),
        _ if needs == ClientCertificates::Ignore => return Ok(pass(None)),
        Presented::None => return Ok(pass(None)),
        Presented::Certificate(cert) => site.decide(cert.info(), now),
        Presented::Fingerprint(_) => match stored.map(|index| &*site.mappings[index as usize]) {
            None if needs == ClientCertificates::Require => {
                return Ok(Verdict::Refused("no mapping for this fingerprint".into()))
            }
            None => return Ok(pass(None)),
            Some(m) => match site.decide_stored(m, now) {
                Some(decision) => decision,
                None => {
                    let (site_id, mapping_id) = (site.id, m.id);
                    let info =
                        db::run(pool, move |conn| SiteView::stored_certificate(conn, site_id, mapping_id)).await?;
                    site.decide(info.info(), now)
                }
            },
        },
    };
    Ok(match &decision {
        _ if !needs.admits(&decision) => Verdict::Refused(refusal(&decision)),
        Decision::OneToOne { mapping_id, user_name } | Decision::ManyToOne { mapping_id, user_name, .. } => {
            pass(Some((user_name.clone(), *mapping_id)))
        }
        _ => pass(None),
    })
}
