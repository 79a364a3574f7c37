//! Certificate revocation lists as an admin uploads them (or a distribution point serves them):
//! parsed once into the facts certmap keeps — issuer, dates, CRL number, revoked serials — and
//! checked against the CA that must have signed them. Parsing and signature checking are
//! x509-parser's (with aws-lc for the signature); nothing here reads ASN.1 by hand.

use std::cmp::Ordering;

use time::OffsetDateTime;
use x509_parser::oid_registry::{OID_X509_EXT_CRL_NUMBER, OID_X509_EXT_DELTA_CRL_INDICATOR};
use x509_parser::pem::Pem;
use x509_parser::prelude::{parse_x509_certificate, parse_x509_crl, FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use super::certificate::serial_hex;
use super::violation::Rejection;

/// The largest CRL accepted, uploaded or fetched: a CA with a few hundred thousand revocations
/// fits; anything bigger is refused before it is parsed.
pub const MAX_CRL_BYTES: usize = 20 * 1024 * 1024;

/// RFC 5280 5.3.1 reason codes, by their ASN.1 names (code 7 is unused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    CertificateHold,
    RemoveFromCrl,
    PrivilegeWithdrawn,
    AaCompromise,
}

impl Reason {
    const ALL: [(Reason, &'static str); 10] = [
        (Self::Unspecified, "unspecified"),
        (Self::KeyCompromise, "keyCompromise"),
        (Self::CaCompromise, "cACompromise"),
        (Self::AffiliationChanged, "affiliationChanged"),
        (Self::Superseded, "superseded"),
        (Self::CessationOfOperation, "cessationOfOperation"),
        (Self::CertificateHold, "certificateHold"),
        (Self::RemoveFromCrl, "removeFromCRL"),
        (Self::PrivilegeWithdrawn, "privilegeWithdrawn"),
        (Self::AaCompromise, "aACompromise"),
    ];

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        let index = match code {
            0..=6 => code,
            8..=10 => code - 1,
            _ => return None,
        };
        Self::ALL.get(usize::from(index)).map(|(r, _)| *r)
    }

    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(r, _)| *r == self).map_or("unspecified", |(_, name)| name)
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(r, _)| *r)
    }
}

/// One revoked certificate: its serial in the same form as a mapping's (lowercase hex of the
/// magnitude), when, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    pub serial: String,
    pub revoked_at: OffsetDateTime,
    pub reason: Option<Reason>,
}

/// The CRL number (RFC 5280 5.2.3): a non-negative integer, kept as lowercase hex of its
/// magnitude so any size compares correctly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlNumber(String);

impl CrlNumber {
    pub fn parse(hex: &str) -> Option<Self> {
        let trimmed = hex.trim_start_matches('0');
        (hex.bytes().all(|b| b.is_ascii_hexdigit()) && !hex.is_empty())
            .then(|| Self(if trimmed.is_empty() { "0".into() } else { trimmed.to_ascii_lowercase() }))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Ord for CrlNumber {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.len().cmp(&other.0.len()).then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for CrlNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A parsed CRL: its DER as received and what certmap keeps of it.
#[derive(Debug, Clone)]
pub struct Crl {
    der: Vec<u8>,
    issuer_name: Vec<u8>,
    pub this_update: OffsetDateTime,
    pub next_update: Option<OffsetDateTime>,
    pub number: Option<CrlNumber>,
    pub entries: Vec<Revoked>,
}

fn invalid(message: impl Into<String>) -> Rejection {
    Rejection::new("invalid-crl", message)
}

/// Whether a CA certificate signed a CRL.
#[derive(Debug, PartialEq, Eq)]
pub enum Signer {
    /// The CA's subject is not the CRL's issuer.
    NotIssuer,
    /// The names match but the signature does not verify with the CA's key.
    BadSignature,
    Verified,
}

impl Crl {
    /// A request body: one DER CRL, or text holding one or more PEM `X509 CRL` blocks.
    pub fn parse_body(body: &[u8]) -> Result<Vec<Crl>, Rejection> {
        if body.len() > MAX_CRL_BYTES {
            return Err(invalid(format!("a CRL is at most {MAX_CRL_BYTES} bytes")));
        }
        if body.first() == Some(&0x30) {
            return Ok(vec![Self::from_der(body)?]);
        }
        if !body.windows(11).any(|w| w == b"-----BEGIN ") {
            return Err(invalid("the body is neither a DER CRL nor PEM text with an X509 CRL block"));
        }
        let mut crls = Vec::new();
        for block in Pem::iter_from_buffer(body) {
            let block = block.map_err(|e| invalid(format!("unreadable PEM block: {e}")))?;
            match block.label.as_str() {
                "X509 CRL" => crls.push(Self::from_der(&block.contents)?),
                "CERTIFICATE" | "TRUSTED CERTIFICATE" | "X509 CERTIFICATE" => {
                    return Err(invalid(
                        "this is a certificate, not a CRL: upload the CA certificate to the site's trusted-cas and its CRL here",
                    ))
                }
                // The label of a key is named, its contents never.
                other => return Err(invalid(format!("a PEM \"{other}\" block is not a CRL"))),
            }
        }
        if crls.is_empty() {
            return Err(invalid("no X509 CRL block was found"));
        }
        Ok(crls)
    }

    pub fn from_der(der: &[u8]) -> Result<Crl, Rejection> {
        let (rest, crl) = parse_x509_crl(der).map_err(|e| match parse_x509_certificate(der) {
            Ok(_) => invalid("this is a certificate, not a CRL"),
            Err(_) => invalid(format!("not a DER X.509 CRL: {e}")),
        })?;
        if !rest.is_empty() {
            return Err(invalid(format!("{} bytes follow the CRL", rest.len())));
        }
        if crl.extensions().iter().any(|e| e.oid == OID_X509_EXT_DELTA_CRL_INDICATOR) {
            return Err(Rejection::new(
                "crl-delta-unsupported",
                "a delta CRL only lists changes since a base CRL; upload the complete CRL instead",
            ));
        }
        if let Some(ext) = crl.extensions().iter().find(|e| e.oid != OID_X509_EXT_CRL_NUMBER && e.critical) {
            // A critical extension certmap does not act on (an issuing distribution point that
            // limits the CRL's scope) would make every "good" answer a guess.
            if !is_understood(&ext.oid) {
                return Err(invalid(format!(
                    "the CRL carries a critical extension certmap does not understand ({})",
                    ext.oid
                )));
            }
        }
        let number = match crl.crl_number() {
            Some(n) => Some(CrlNumber::parse(&format!("{n:x}")).ok_or_else(|| invalid("unreadable CRL number"))?),
            None if crl.extensions().iter().any(|e| e.oid == OID_X509_EXT_CRL_NUMBER) => {
                return Err(invalid("unreadable CRL number"))
            }
            None => None,
        };
        let entries = crl
            .iter_revoked_certificates()
            .map(|r| Revoked {
                serial: serial_hex(r.raw_serial()),
                revoked_at: r.revocation_date.to_datetime(),
                reason: r.reason_code().and_then(|(_, code)| Reason::from_code(code.0)),
            })
            .collect();
        Ok(Crl {
            der: der.to_vec(),
            issuer_name: crl.issuer().as_raw().to_vec(),
            this_update: crl.last_update().to_datetime(),
            next_update: crl.next_update().map(|t| t.to_datetime()),
            number,
            entries,
        })
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    fn parsed(&self) -> CertificateRevocationList<'_> {
        parse_x509_crl(&self.der).expect("parsed when built").1
    }

    /// Whether `ca_der` (a CA certificate) issued and signed this CRL: its subject is the CRL's
    /// issuer, byte for byte, and the signature verifies with its key.
    pub fn signer(&self, ca_der: &[u8]) -> Signer {
        let Ok((_, ca)) = X509Certificate::from_der(ca_der) else { return Signer::NotIssuer };
        if ca.subject().as_raw() != self.issuer_name.as_slice() {
            return Signer::NotIssuer;
        }
        match self.parsed().verify_signature(ca.public_key()) {
            Ok(()) => Signer::Verified,
            Err(_) => Signer::BadSignature,
        }
    }
}

/// The CRL distribution points a certificate names as URIs (RFC 5280 4.2.1.13), in order, whatever
/// their scheme: the fetcher says which it can use.
pub fn distribution_points(cert_der: &[u8]) -> Vec<String> {
    use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
    let Ok((_, cert)) = X509Certificate::from_der(cert_der) else { return Vec::new() };
    let mut urls = Vec::new();
    for ext in cert.extensions() {
        let ParsedExtension::CRLDistributionPoints(points) = ext.parsed_extension() else { continue };
        for point in points.iter() {
            let Some(DistributionPointName::FullName(names)) = &point.distribution_point else { continue };
            for name in names {
                if let GeneralName::URI(uri) = name {
                    if !urls.iter().any(|u| u == uri) {
                        urls.push((*uri).to_owned());
                    }
                }
            }
        }
    }
    urls
}

/// Whether the CA `ca_der` issued `cert_der`: its subject is the certificate's issuer and its key
/// verifies the certificate's signature. What such a certificate names (distribution points,
/// OCSP responders) is the CA's word, not the word of whoever uploaded it.
pub fn issued_by(cert_der: &[u8], ca_der: &[u8]) -> bool {
    let (Ok((_, cert)), Ok((_, ca))) = (X509Certificate::from_der(cert_der), X509Certificate::from_der(ca_der)) else {
        return false;
    };
    cert.issuer().as_raw() == ca.subject().as_raw() && cert.verify_signature(Some(ca.public_key())).is_ok()
}

fn is_understood(oid: &x509_parser::der_parser::oid::Oid<'_>) -> bool {
    use x509_parser::oid_registry::{OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER, OID_X509_EXT_ISSUER_ALT_NAME};
    *oid == OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER || *oid == OID_X509_EXT_ISSUER_ALT_NAME
}

#[cfg(test)]
pub(crate) mod tests {
    use rcgen::{
        BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint, IsCa, Issuer,
        KeyIdMethod, KeyPair, RevocationReason, RevokedCertParams, SerialNumber,
    };

    use super::*;

    pub(crate) struct Ca {
        pub der: Vec<u8>,
        issuer: Issuer<'static, KeyPair>,
    }

    pub(crate) fn ca(cn: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.crl_distribution_points = vec![CrlDistributionPoint { uris: vec!["http://127.0.0.1/ca.crl".into()] }];
        let cert = params.self_signed(&key).unwrap();
        Ca { der: cert.der().to_vec(), issuer: Issuer::new(params, key) }
    }

    pub(crate) fn crl(ca: &Ca, number: u64, this_update: OffsetDateTime, revoked: &[u64]) -> Vec<u8> {
        let params = CertificateRevocationListParams {
            this_update,
            next_update: this_update + time::Duration::days(7),
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|&s| RevokedCertParams {
                    serial_number: SerialNumber::from(s.to_be_bytes().to_vec()),
                    revocation_time: this_update - time::Duration::hours(1),
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params.signed_by(&ca.issuer).unwrap().der().to_vec()
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
    }

    #[test]
    fn facts_of_a_crl() {
        let ca = ca("Test CA");
        let at = now();
        let crl = Crl::from_der(&crl(&ca, 7, at, &[2, 0x8f01])).unwrap();
        assert_eq!(crl.this_update, at);
        assert_eq!(crl.next_update, Some(at + time::Duration::days(7)));
        assert_eq!(crl.number.as_ref().unwrap().as_str(), "7");
        let serials: Vec<&str> = crl.entries.iter().map(|e| e.serial.as_str()).collect();
        assert_eq!(serials, ["02", "8f01"]);
        assert_eq!(crl.entries[0].reason, Some(Reason::KeyCompromise));
        assert_eq!(crl.signer(&ca.der), Signer::Verified);
    }

    #[test]
    fn another_ca_or_another_key_does_not_sign_it() {
        let ca1 = ca("Test CA");
        let same_name_other_key = ca("Test CA");
        let other = ca("Other CA");
        let crl = Crl::from_der(&crl(&ca1, 1, now(), &[])).unwrap();
        assert_eq!(crl.signer(&other.der), Signer::NotIssuer);
        assert_eq!(crl.signer(&same_name_other_key.der), Signer::BadSignature);
    }

    #[test]
    fn pem_bodies_with_one_or_several_blocks() {
        use base64::Engine;
        let ca = ca("Test CA");
        let pem = |der: &[u8]| {
            format!(
                "-----BEGIN X509 CRL-----\n{}\n-----END X509 CRL-----\n",
                base64::engine::general_purpose::STANDARD.encode(der)
            )
        };
        let two = format!("{}{}", pem(&crl(&ca, 1, now(), &[1])), pem(&crl(&ca, 2, now(), &[1, 2])));
        assert_eq!(Crl::parse_body(two.as_bytes()).unwrap().len(), 2);
        let der = crl(&ca, 1, now(), &[]);
        assert_eq!(Crl::parse_body(&der).unwrap().len(), 1);
    }

    #[test]
    fn garbage_certificates_and_keys_are_refused() {
        let ca = ca("Test CA");
        let code = |body: &[u8]| Crl::parse_body(body).unwrap_err().code;
        assert_eq!(code(b"hello"), "invalid-crl");
        assert_eq!(code(&[0x30, 0x82, 0xff, 0xff, 0x01]), "invalid-crl");
        assert_eq!(code(&ca.der), "invalid-crl");
        assert!(Crl::parse_body(&ca.der).unwrap_err().message.contains("certificate, not a CRL"));
        let key = KeyPair::generate().unwrap().serialize_pem();
        let refusal = Crl::parse_body(key.as_bytes()).unwrap_err();
        assert_eq!(refusal.code, "invalid-crl");
        assert!(!refusal.message.contains(&key[40..80]), "a key's contents are never echoed");
        let mut trailing = crl(&ca, 1, now(), &[]);
        trailing.push(0);
        assert_eq!(code(&trailing), "invalid-crl");
    }

    #[test]
    fn an_asn1_bomb_is_refused_quickly() {
        // Deeply nested indefinite-length SEQUENCEs: refused without recursion trouble.
        let mut bomb = Vec::new();
        for _ in 0..100_000 {
            bomb.extend_from_slice(&[0x30, 0x80]);
        }
        let started = std::time::Instant::now();
        assert_eq!(Crl::parse_body(&bomb).unwrap_err().code, "invalid-crl");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn distribution_points_of_a_certificate() {
        assert_eq!(distribution_points(&ca("Test CA").der), ["http://127.0.0.1/ca.crl"]);
        assert!(distribution_points(b"junk").is_empty());
    }

    #[test]
    fn issued_by_needs_the_name_and_the_key() {
        let (ca1, same_name) = (ca("Test CA"), ca("Test CA"));
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["a.example".into()]).unwrap().signed_by(&key, &ca1.issuer).unwrap();
        assert!(issued_by(leaf.der(), &ca1.der));
        assert!(!issued_by(leaf.der(), &same_name.der));
        assert!(!issued_by(&ca1.der, &ca("Other CA").der));
        assert!(!issued_by(b"junk", &ca1.der));
    }

    #[test]
    fn crl_numbers_compare_as_integers() {
        let n = |s| CrlNumber::parse(s).unwrap();
        assert!(n("ff") > n("0f"));
        assert!(n("100") > n("ff"));
        assert_eq!(n("000a"), n("a"));
        assert!(CrlNumber::parse("xyz").is_none());
    }

    #[test]
    fn reasons_round_trip() {
        for code in [0, 1, 2, 3, 4, 5, 6, 8, 9, 10] {
            let reason = Reason::from_code(code).unwrap();
            assert_eq!(Reason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(Reason::from_code(7), None);
        assert_eq!(Reason::from_code(8), Some(Reason::RemoveFromCrl));
    }
}
