//! Everything a renderer may use about one site, already validated and in a stable order, so the
//! same revision always renders the same bytes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::domain::certificate::{Certificate, Validity};
use crate::domain::directory::DirectorySpec;
use crate::domain::names::{Hostname, SiteName, UserName};
use crate::domain::resolve::{PermissionMode, Rule};
use crate::domain::revocation::Policy;
use crate::domain::site::MappingSettings;
use crate::secrets::Password;

#[derive(Debug)]
pub struct SiteSnapshot {
    pub id: i64,
    pub revision: i64,
    pub name: SiteName,
    pub hostnames: Vec<Hostname>,
    pub mapping: MappingSettings,
    /// Whether gateways check OCSP themselves at the handshake follows it.
    pub revocation: Policy,
    /// Sorted by path.
    pub directories: Vec<DirectorySpec>,
    /// Sorted by id. Shared with the gateway cache's view of the site, so rendering from memory
    /// copies no mapping.
    pub one_to_one: Vec<Arc<OneToOne>>,
    /// Sorted by id: the order IIS evaluates them in.
    pub many_to_one: Vec<ManyToOne>,
}

#[derive(Debug)]
pub struct OneToOne {
    pub id: i64,
    pub user_name: UserName,
    pub enabled: bool,
    pub certificate: StoredCertificate,
    /// Present only when an admin asked for secrets; renderers otherwise leave a placeholder.
    pub password: Option<Password>,
    /// Whether a password is stored at all (so a renderer can say "set it" or "none stored").
    pub has_password: bool,
    /// When certmap stops honouring the mapping, if before the certificate's own notAfter.
    pub expires_at: Option<time::OffsetDateTime>,
}

#[derive(Debug)]
pub struct ManyToOne {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub mode: PermissionMode,
    pub user_name: Option<UserName>,
    pub password: Option<Password>,
    pub has_password: bool,
    pub rules: Vec<Rule>,
}

/// A mapped certificate as certmap stored it: the facts read from it when it was parsed on the way
/// in, and its DER where a format carries the certificate itself. A site of 100,000 mappings is
/// rendered often; parsing every certificate again each time would cost more than everything else
/// together, and the gateway formats, which name a certificate by its facts, are rendered from the
/// gateway cache's copy of the site, which holds no DER at all.
#[derive(Debug, Clone)]
pub struct StoredCertificate {
    der: Option<Vec<u8>>,
    facts: CertificateFacts,
}

/// The parts of [`crate::domain::certificate::CertificateInfo`] that are stored with a mapping.
#[derive(Debug, Clone)]
pub struct CertificateFacts {
    pub sha1: String,
    pub sha256: String,
    pub spki_sha256: String,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl StoredCertificate {
    /// `facts` must be what [`Certificate`] found in `der` when it was stored.
    pub fn new(der: Vec<u8>, facts: CertificateFacts) -> Self {
        Self { der: Some(der), facts }
    }

    /// For the formats that name a certificate by its facts alone.
    pub fn facts_only(facts: CertificateFacts) -> Self {
        Self { der: None, facts }
    }

    pub fn der(&self) -> Option<&[u8]> {
        self.der.as_deref()
    }

    pub fn info(&self) -> &CertificateFacts {
        &self.facts
    }

    /// Standard base64 of the DER with padding, on one line: the form IIS stores.
    pub fn iis_form(&self) -> Option<String> {
        self.der.as_ref().map(|der| STANDARD.encode(der))
    }

    pub fn validity_at(&self, now: OffsetDateTime) -> Validity {
        if now < self.facts.not_before {
            Validity::NotYetValid
        } else if now > self.facts.not_after {
            Validity::Expired
        } else {
            Validity::Valid
        }
    }
}

/// The formats that carry the certificate itself (IIS, PowerShell) or need what only its DER
/// says (Apache: the serial's sign) must be given a site read with its DER.
pub(crate) fn require_der(site: &SiteSnapshot) -> Result<(), super::RenderError> {
    match site.one_to_one.iter().find(|o| o.certificate.der.is_none()) {
        Some(o) => Err(super::RenderError::unsupported(format!(
            "one-to-one mapping {} without its stored certificate (read the site with certificates for this format)",
            o.id
        ))),
        None => Ok(()),
    }
}

impl From<&Certificate> for StoredCertificate {
    fn from(cert: &Certificate) -> Self {
        let i = cert.info();
        Self::new(
            cert.der().to_vec(),
            CertificateFacts {
                sha1: i.sha1.clone(),
                sha256: i.sha256.clone(),
                spki_sha256: i.spki_sha256.clone(),
                subject: i.subject.clone(),
                issuer: i.issuer.clone(),
                serial: i.serial.clone(),
                not_before: i.not_before,
                not_after: i.not_after,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::fixture;

    #[test]
    fn stored_certificate_answers_as_the_parsed_one() {
        let cert = fixture::cert(fixture::ALICE);
        let stored = StoredCertificate::from(&cert);
        assert_eq!(stored.der(), Some(cert.der()));
        assert_eq!(stored.iis_form(), Some(cert.iis_form()));
        assert_eq!(stored.info().sha1, cert.info().sha1);
        for now in [
            cert.info().not_before - time::Duration::SECOND,
            cert.info().not_before,
            cert.info().not_after,
            cert.info().not_after + time::Duration::SECOND,
        ] {
            assert_eq!(stored.validity_at(now), cert.validity_at(now), "{now}");
        }
    }
}
