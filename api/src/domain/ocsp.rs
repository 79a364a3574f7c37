//! OCSP (RFC 6960) as certmap asks it and judges the answer: one request per certificate, sent to
//! the responder its Authority Information Access names, and an answer that counts only when the
//! issuing CA (or a responder it delegated with `id-kp-OCSPSigning`) signed it, it is about this
//! very certificate, and it is current. Anything else is a reason, and the status stays unknown.
//!
//! The ASN.1 is RustCrypto's `x509-ocsp` (decoded and encoded by `der`); certificates and
//! signatures are checked with x509-parser and aws-lc, as for CRLs.

use der::asn1::{Null, OctetString};
use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use x509_cert::serial_number::SerialNumber;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse, OcspResponseStatus, Request,
    TbsRequest, Version,
};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{OID_PKIX_ACCESS_DESCRIPTOR_OCSP, OID_X509_EXT_EXTENDED_KEY_USAGE};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo};

use super::certificate::serial_hex;
use super::crl::{issued_by, Reason};
use super::revocation::{Revocation, CLOCK_SKEW};

/// id-sha1 (1.3.14.3.2.26): the CertID hash every responder understands (RFC 6960 4.1.1; RFC 5019
/// 2.1.1 makes it the one a lightweight responder must support).
const SHA1: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
/// id-pkix-ocsp-basic: the only response type RFC 6960 requires.
const BASIC: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");

/// The largest response read: a basic response with a responder certificate is a few KiB.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// What to ask, and where: a certificate the trusted CA `issuer` signed, and the `http`
/// responders it names.
#[derive(Debug, Clone)]
pub struct Query {
    cert_id: CertId,
    request: Vec<u8>,
    pub responders: Vec<String>,
}

/// Why a certificate is not asked about at all: then its OCSP status is `not_checked`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotAsked {
    /// Its Authority Information Access names no `http` OCSP responder.
    NoResponder,
    /// The site's CA did not sign it; a responder URL it names is nobody's word (and asking it
    /// would let whoever made the certificate direct certmap's requests).
    NotSignedByIssuer,
}

/// A current answer about one certificate, with how long it may be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Good,
    Revoked(Revocation),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Judged {
    pub answer: Answer,
    pub next_update: Option<OffsetDateTime>,
}

fn sha1(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, data).as_ref().to_vec()
}

/// The `http` OCSP responders a certificate's Authority Information Access names, in order.
pub fn responders(cert: &X509Certificate<'_>) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    for ext in cert.extensions() {
        let ParsedExtension::AuthorityInfoAccess(aia) = ext.parsed_extension() else { continue };
        for access in &aia.accessdescs {
            if access.access_method != OID_PKIX_ACCESS_DESCRIPTOR_OCSP {
                continue;
            }
            if let GeneralName::URI(uri) = &access.access_location {
                if uri.starts_with("http://") && !urls.iter().any(|u| u == uri) {
                    urls.push((*uri).to_owned());
                }
            }
        }
    }
    urls
}

impl Query {
    /// The request for `cert_der`, whose issuer is the CA `issuer_der`.
    pub fn new(issuer_der: &[u8], cert_der: &[u8]) -> Result<Query, NotAsked> {
        if !issued_by(cert_der, issuer_der) {
            return Err(NotAsked::NotSignedByIssuer);
        }
        let (Ok((_, issuer)), Ok((_, cert))) =
            (X509Certificate::from_der(issuer_der), X509Certificate::from_der(cert_der))
        else {
            return Err(NotAsked::NotSignedByIssuer);
        };
        let responders = responders(&cert);
        if responders.is_empty() {
            return Err(NotAsked::NoResponder);
        }
        let serial = SerialNumber::new(cert.raw_serial()).map_err(|_| NotAsked::NotSignedByIssuer)?;
        let cert_id = CertId {
            hash_algorithm: AlgorithmIdentifierOwned { oid: SHA1, parameters: Some(Null.into()) },
            issuer_name_hash: OctetString::new(sha1(issuer.subject().as_raw())).expect("20 bytes"),
            // The hash of the subjectPublicKey BIT STRING's contents, without tag and length.
            issuer_key_hash: OctetString::new(sha1(&issuer.public_key().subject_public_key.data)).expect("20 bytes"),
            serial_number: serial,
        };
        let request = OcspRequest {
            tbs_request: TbsRequest {
                version: Version::V1,
                requestor_name: None,
                request_list: vec![Request { req_cert: cert_id.clone(), single_request_extensions: None }],
                request_extensions: None,
            },
            optional_signature: None,
        }
        .to_der()
        .map_err(|_| NotAsked::NotSignedByIssuer)?;
        Ok(Query { cert_id, request, responders })
    }

    /// The DER request, POSTed as `application/ocsp-request` (RFC 6960 A.1).
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// The responder's answer about this certificate, when it counts; else why not.
    pub fn judge(&self, issuer_der: &[u8], response: &[u8], now: OffsetDateTime) -> Result<Judged, String> {
        let response = OcspResponse::from_der(response).map_err(|e| format!("not an OCSP response: {e}"))?;
        if response.response_status != OcspResponseStatus::Successful {
            return Err(format!("the responder answered {:?}", response.response_status));
        }
        let bytes = response.response_bytes.ok_or("a successful response without a body")?;
        if bytes.response_type != BASIC {
            return Err(format!("response type {} is not the basic one", bytes.response_type));
        }
        let basic = BasicOcspResponse::from_der(bytes.response.as_bytes())
            .map_err(|e| format!("unreadable basic response: {e}"))?;
        let (_, issuer) = X509Certificate::from_der(issuer_der).map_err(|_| "unreadable CA certificate")?;
        if !signed_by_issuer_or_delegate(&basic, &issuer, now) {
            return Err("the response is signed neither by the certificate's CA nor by a responder it delegated".into());
        }
        let single = basic
            .tbs_response_data
            .responses
            .iter()
            .find(|r| same_certificate(&r.cert_id, &self.cert_id))
            .ok_or("the response is about another certificate")?;
        let this_update = datetime(&single.this_update)?;
        let next_update = single.next_update.as_ref().map(datetime).transpose()?;
        if this_update > now + CLOCK_SKEW {
            return Err(format!("the response's thisUpdate {this_update} is in the future"));
        }
        if next_update.is_some_and(|next| next < now) {
            return Err("the response is past its nextUpdate".into());
        }
        let answer = match single.cert_status {
            CertStatus::Good(_) => Answer::Good,
            CertStatus::Revoked(info) => Answer::Revoked(Revocation {
                revoked_at: datetime(&info.revocation_time)?,
                reason: info.revocation_reason.and_then(|r| Reason::from_code(r as u8)),
            }),
            CertStatus::Unknown(_) => return Err("the responder does not know the certificate".into()),
        };
        Ok(Judged { answer, next_update })
    }
}

fn same_certificate(theirs: &CertId, ours: &CertId) -> bool {
    theirs.hash_algorithm.oid == ours.hash_algorithm.oid
        && theirs.issuer_name_hash == ours.issuer_name_hash
        && theirs.issuer_key_hash == ours.issuer_key_hash
        && serial_hex(theirs.serial_number.as_bytes()) == serial_hex(ours.serial_number.as_bytes())
}

fn datetime(t: &OcspGeneralizedTime) -> Result<OffsetDateTime, String> {
    let secs = t.0.to_unix_duration().as_secs();
    OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(i64::MAX)).map_err(|e| e.to_string())
}

/// RFC 6960 4.2.2.2: the CA itself, or a certificate in the response that the CA issued for
/// OCSP signing (and that is valid now).
fn signed_by_issuer_or_delegate(basic: &BasicOcspResponse, ca: &X509Certificate<'_>, now: OffsetDateTime) -> bool {
    let Ok(tbs) = basic.tbs_response_data.to_der() else { return false };
    let (Ok(algorithm), Ok(signature)) = (basic.signature_algorithm.to_der(), basic.signature.to_der()) else {
        return false;
    };
    // The same types x509-parser checks CRL and certificate signatures with, read from the
    // response's own DER (x509-ocsp only decodes DER, so encoding it again gives the signed bytes).
    let (Ok((_, algorithm)), Ok((_, signature))) =
        (AlgorithmIdentifier::from_der(&algorithm), x509_parser::der_parser::asn1_rs::BitString::from_der(&signature))
    else {
        return false;
    };
    let verifies = |key: &SubjectPublicKeyInfo<'_>| {
        x509_parser::verify::verify_signature(key, &algorithm, &signature, &tbs).is_ok()
    };
    if verifies(ca.public_key()) {
        return true;
    }
    let delegates = basic.certs.iter().flatten().filter_map(|c| c.to_der().ok());
    delegates.into_iter().any(|der| {
        let Ok((_, responder)) = X509Certificate::from_der(&der) else { return false };
        responder.issuer().as_raw() == ca.subject().as_raw()
            && responder.verify_signature(Some(ca.public_key())).is_ok()
            && responder.validity().is_valid_at(x509_parser::time::ASN1Time::from(now))
            && is_ocsp_signer(&responder)
            && verifies(responder.public_key())
    })
}

fn is_ocsp_signer(cert: &X509Certificate<'_>) -> bool {
    cert.extensions()
        .iter()
        .filter(|e| e.oid == OID_X509_EXT_EXTENDED_KEY_USAGE)
        .any(|e| matches!(e.parsed_extension(), ParsedExtension::ExtendedKeyUsage(eku) if eku.ocsp_signing))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SerialNumber as RcSerial,
    };

    struct Ca {
        der: Vec<u8>,
        issuer: Issuer<'static, KeyPair>,
    }

    fn ca(cn: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        Ca { der: cert.der().to_vec(), issuer: Issuer::new(params, key) }
    }

    /// rcgen writes no Authority Information Access: certificates with a responder are made by
    /// openssl in the integration tests.
    fn leaf(ca: &Ca, serial: u64) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["alice.example".into()]).unwrap();
        params.serial_number = Some(RcSerial::from(serial));
        params.signed_by(&key, &ca.issuer).unwrap().der().to_vec()
    }

    #[test]
    fn only_certificates_the_ca_signed_with_a_responder_are_asked_about() {
        let (ca1, other) = (ca("Test CA"), ca("Other CA"));
        assert_eq!(Query::new(&ca1.der, &leaf(&ca1, 5)).unwrap_err(), NotAsked::NoResponder);
        assert_eq!(Query::new(&other.der, &leaf(&ca1, 5)).unwrap_err(), NotAsked::NotSignedByIssuer);
        assert_eq!(Query::new(&ca1.der, b"junk").unwrap_err(), NotAsked::NotSignedByIssuer);
    }

    #[test]
    fn delegated_signers_need_the_ocsp_signing_purpose() {
        let ca1 = ca("Test CA");
        let signer = |purposes: Vec<ExtendedKeyUsagePurpose>| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.extended_key_usages = purposes;
            params.signed_by(&key, &ca1.issuer).unwrap().der().to_vec()
        };
        let parse = |der: &[u8]| X509Certificate::from_der(der).map(|(_, c)| is_ocsp_signer(&c)).unwrap();
        assert!(parse(&signer(vec![ExtendedKeyUsagePurpose::OcspSigning])));
        assert!(!parse(&signer(vec![ExtendedKeyUsagePurpose::ServerAuth])));
        assert!(!parse(&signer(Vec::new())));
    }

    #[test]
    fn garbage_is_no_answer() {
        let ca1 = ca("Test CA");
        let query = Query {
            cert_id: CertId {
                hash_algorithm: AlgorithmIdentifierOwned { oid: SHA1, parameters: None },
                issuer_name_hash: OctetString::new(vec![0; 20]).unwrap(),
                issuer_key_hash: OctetString::new(vec![0; 20]).unwrap(),
                serial_number: SerialNumber::new(&[1]).unwrap(),
            },
            request: Vec::new(),
            responders: Vec::new(),
        };
        let now = OffsetDateTime::now_utc();
        assert!(query.judge(&ca1.der, b"<html>", now).unwrap_err().contains("not an OCSP response"));
        // OCSPResponse { responseStatus tryLater(3) }
        assert!(query.judge(&ca1.der, &[0x30, 0x03, 0x0a, 0x01, 0x03], now).unwrap_err().contains("TryLater"));
    }
}
