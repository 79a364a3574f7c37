//! Client certificates as users paste them, turned into what IIS stores: the base64 of the DER on
//! one line. Anything that is not exactly one X.509 certificate is refused with a precise reason,
//! and private keys are refused loudly, never silently dropped.

//!
//! The parser is split by idea: `text` decodes what a certificate arrives as, `pem` finds the
//! blocks, `sniff` (over the lenient `ber` reader) names what is not a certificate, `facts` and `dn`
//! describe one that is.

mod ber;
mod dn;
mod error;
mod facts;
#[cfg(test)]
mod fixtures;
mod pem;
mod sniff;
mod text;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

pub use error::CertificateError;
pub(crate) use facts::serial_hex;
pub use facts::CertificateInfo;

use facts::describe;
use pem::{damaged, decode_block, is_certificate_label, pem_blocks, refusal_for_label};
use sniff::sniff;
use text::{as_text, decode_base64, refuse_ssh_key, trim, unescape};

/// Largest input accepted, as text or DER. Real client certificates are a few KiB.
pub const MAX_CERTIFICATE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    info: CertificateInfo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    Valid,
    Expired,
    NotYetValid,
}

/// A parsed input. A PEM may carry a chain: the first certificate is taken and the others are
/// counted so the caller can tell the user they were ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub certificate: Certificate,
    pub ignored_certificates: usize,
}

impl Certificate {
    /// Text as a user pastes it: PEM (one or more blocks), base64 DER wrapped at any width, the
    /// one-line IIS form, or nginx's URL-escaped PEM (`$ssl_client_escaped_cert`).
    pub fn parse_text(input: &str) -> Result<Parsed, CertificateError> {
        check_size(input.len())?;
        let text = trim(input);
        if text.is_empty() {
            return Err(CertificateError::Empty);
        }
        let text = unescape(text);
        let text = trim(&text);
        if let Some(refusal) = refuse_ssh_key(text) {
            return Err(refusal);
        }
        if text.contains("-----BEGIN") || text.contains("-----END") {
            return pem::parse_pem(text);
        }
        let der = decode_base64(text).map_err(|reason| CertificateError::NotBase64 { reason })?;
        Ok(Parsed { certificate: Self::from_der(&der)?, ignored_certificates: 0 })
    }

    /// Bytes as uploaded (`application/pkix-cert`): DER, or a text file holding PEM or base64.
    pub fn parse_bytes(input: &[u8]) -> Result<Parsed, CertificateError> {
        check_size(input.len())?;
        if let Some(text) = as_text(input) {
            return Self::parse_text(&text);
        }
        Ok(Parsed { certificate: Self::from_der(input)?, ignored_certificates: 0 })
    }

    pub fn from_der(der: &[u8]) -> Result<Certificate, CertificateError> {
        parse_der(der, false)
    }

    pub fn der(&self) -> &[u8] {
        &self.der
    }

    pub fn info(&self) -> &CertificateInfo {
        &self.info
    }

    /// Standard base64 of the DER with padding, on one line: the form IIS stores.
    pub fn iis_form(&self) -> String {
        STANDARD.encode(&self.der)
    }

    pub fn validity_at(&self, now: OffsetDateTime) -> Validity {
        if now < self.info.not_before {
            Validity::NotYetValid
        } else if now > self.info.not_after {
            Validity::Expired
        } else {
            Validity::Valid
        }
    }
}

impl Certificate {
    /// A PEM bundle, such as the client CAs a gateway should trust: every certificate block is
    /// parsed, and a private key anywhere refuses the whole bundle.
    pub fn parse_bundle(input: &str) -> Result<Vec<Certificate>, CertificateError> {
        if input.len() > MAX_BUNDLE_BYTES {
            return Err(CertificateError::TooLarge { size: input.len() });
        }
        let text = trim(input);
        if text.is_empty() {
            return Err(CertificateError::Empty);
        }
        let blocks = pem_blocks(text);
        if let Some(key) = blocks.iter().find(|b| b.label.to_ascii_uppercase().contains("PRIVATE KEY")) {
            return Err(CertificateError::PrivateKey {
                what: format!("a bundle holding a private key (PEM \"{}\")", key.label),
            });
        }
        let certificates = blocks
            .iter()
            .filter(|b| is_certificate_label(b.label))
            .map(|b| parse_der(&decode_block(b)?, b.label.eq_ignore_ascii_case("TRUSTED CERTIFICATE")))
            .collect::<Result<Vec<_>, _>>()?;
        if certificates.is_empty() {
            return Err(match blocks.first() {
                Some(block) => refusal_for_label(block.label),
                None => damaged("there is no \"-----BEGIN CERTIFICATE-----\" line".into()),
            });
        }
        Ok(certificates)
    }
}

/// A CA bundle holds a handful of certificates, not thousands.
pub const MAX_BUNDLE_BYTES: usize = 1024 * 1024;

fn check_size(len: usize) -> Result<(), CertificateError> {
    match len {
        0 => Err(CertificateError::Empty),
        n if n > MAX_CERTIFICATE_BYTES => Err(CertificateError::TooLarge { size: n }),
        _ => Ok(()),
    }
}

fn parse_der(der: &[u8], allow_trailing: bool) -> Result<Certificate, CertificateError> {
    check_size(der.len())?;
    match X509Certificate::from_der(der) {
        Ok((rest, _)) if !rest.is_empty() && !allow_trailing => {
            Err(CertificateError::TrailingData { bytes: rest.len() })
        }
        Ok((rest, cert)) => {
            let der = &der[..der.len() - rest.len()];
            Ok(Certificate { der: der.to_vec(), info: describe(&cert, der)? })
        }
        Err(e) => Err(sniff(der).unwrap_or_else(|| {
            let reason = match e {
                x509_parser::nom::Err::Incomplete(_) => "the data is cut short".to_owned(),
                // The parser's own words ("nom error: Eof") name its internals, not the input.
                x509_parser::nom::Err::Error(x509_parser::error::X509Error::NomError(_))
                | x509_parser::nom::Err::Failure(x509_parser::error::X509Error::NomError(_)) => {
                    "its DER encoding ends early or is damaged: the base64 was cut short or altered".to_owned()
                }
                x509_parser::nom::Err::Error(e) | x509_parser::nom::Err::Failure(e) => e.to_string(),
            };
            CertificateError::NotCertificate { reason }
        })),
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use rcgen::{CertificateParams, KeyPair};
    use time::macros::datetime;

    use super::fixtures::*;
    use super::*;

    #[test]
    fn raw_der_through_parse_bytes() {
        let pki = pki();
        let parsed = Certificate::parse_bytes(&pki.leaf_der).unwrap();
        assert_eq!(parsed.certificate.der(), pki.leaf_der);
        assert_eq!(Certificate::from_der(&pki.leaf_der).unwrap(), parsed.certificate);
    }

    #[test]
    fn iis_form_is_one_line_and_round_trips() {
        let pki = pki();
        let cert = text_ok(&pki.leaf_pem).certificate;
        let iis = cert.iis_form();
        assert!(!iis.chars().any(char::is_whitespace));
        assert!(!iis.contains("-----"));
        assert_eq!(STANDARD.decode(&iis).unwrap(), pki.leaf_der);
        assert_eq!(text_ok(&iis).certificate, cert);
    }

    #[test]
    fn validity_at() {
        let key = KeyPair::generate().unwrap();
        let mut expired = CertificateParams::default();
        expired.not_before = datetime!(2020-01-01 0:00 UTC);
        expired.not_after = datetime!(2021-01-01 0:00 UTC);
        let expired = Certificate::from_der(&self_signed(expired, &key)).unwrap();
        assert_eq!(expired.validity_at(datetime!(2022-06-01 0:00 UTC)), Validity::Expired);
        assert_eq!(expired.validity_at(datetime!(2020-06-01 0:00 UTC)), Validity::Valid);
        assert_eq!(expired.validity_at(datetime!(2021-01-01 0:00 UTC)), Validity::Valid);
        assert_eq!(expired.validity_at(datetime!(2021-01-01 0:00:01 UTC)), Validity::Expired);

        let mut future = CertificateParams::default();
        future.not_before = datetime!(2090-01-01 0:00 UTC);
        future.not_after = datetime!(2091-01-01 0:00 UTC);
        let future = Certificate::from_der(&self_signed(future, &key)).unwrap();
        assert_eq!(future.validity_at(datetime!(2026-01-01 0:00 UTC)), Validity::NotYetValid);
        assert_eq!(future.info().not_before, datetime!(2090-01-01 0:00 UTC));
    }

    #[test]
    fn empty_and_whitespace_only() {
        assert_eq!(text_code(""), "certificate-empty");
        assert_eq!(text_code(" \t\r\n  "), "certificate-empty");
        assert_eq!(bytes_code(b""), "certificate-empty");
        assert_eq!(bytes_code(b"\n\n"), "certificate-empty");
        assert_eq!(Certificate::from_der(&[]).unwrap_err().code(), "certificate-empty");
    }

    #[test]
    fn too_large() {
        let pki = pki();
        let huge = format!("{}{}", pki.leaf_pem, " ".repeat(MAX_CERTIFICATE_BYTES));
        let err = Certificate::parse_text(&huge).unwrap_err();
        assert_eq!(err.code(), "certificate-too-large");
        assert!(err.to_string().contains("65536"), "{err}");
        assert_eq!(bytes_code(&vec![0x30; MAX_CERTIFICATE_BYTES + 1]), "certificate-too-large");
        assert_eq!(
            Certificate::from_der(&vec![0; MAX_CERTIFICATE_BYTES + 1]).unwrap_err().code(),
            "certificate-too-large"
        );
    }

    #[test]
    fn base64_of_random_bytes() {
        let random: Vec<u8> = (0..300u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let err = Certificate::parse_text(&b64(&random)).unwrap_err();
        assert_eq!(err.code(), "invalid-certificate");
        assert!(err.to_string().contains("not a DER X.509 certificate"), "{err}");
        // Random bytes that happen to start like a SEQUENCE.
        let err = Certificate::parse_bytes(&[0x30, 0x82, 0x01, 0x00, 1, 2, 3]).unwrap_err();
        assert_eq!(err.code(), "invalid-certificate");
    }

    #[test]
    fn trailing_data() {
        let pki = pki();
        let der = [pki.leaf_der.clone(), vec![0, 0, 0]].concat();
        let err = Certificate::parse_bytes(&der).unwrap_err();
        assert_eq!(err.code(), "certificate-trailing-data");
        assert!(err.to_string().contains("3 unexpected byte"), "{err}");
        assert_eq!(text_code(&b64(&der)), "certificate-trailing-data");
        let two = [pki.leaf_der.clone(), pki.ca_der.clone()].concat();
        assert_eq!(text_code(&b64(&two)), "certificate-trailing-data");
        let pem = format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", b64(&der));
        assert_eq!(text_code(&pem), "certificate-trailing-data");
    }

    /// xorshift64*: deterministic, so a failure reproduces.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn never_panics_on_mangled_input() {
        let pki = pki();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let der = &pki.leaf_der;
        let pem = pki.leaf_pem.as_bytes();
        let mut inputs: Vec<Vec<u8>> = (0..=der.len()).map(|n| der[..n].to_vec()).collect();
        inputs.extend((0..pem.len()).step_by(7).map(|n| pem[..n].to_vec()));
        for round in 0..3000 {
            let source = if round % 2 == 0 { der } else { pem };
            let mut bytes = source.to_vec();
            for _ in 0..=rng.below(8) {
                let at = rng.below(bytes.len());
                match rng.below(4) {
                    0 => bytes[at] = rng.next() as u8,
                    1 => bytes.insert(at, rng.next() as u8),
                    2 => {
                        bytes.remove(at);
                    }
                    // Length bytes are where parsers overflow.
                    _ => bytes[at] = [0x80, 0x81, 0x82, 0x84, 0x88, 0xFF, 0x00][rng.below(7)],
                }
            }
            inputs.push(bytes);
            inputs.push((0..rng.below(64)).map(|_| rng.next() as u8).collect());
        }
        for input in &inputs {
            let _ = Certificate::parse_bytes(input);
            let _ = Certificate::parse_text(&String::from_utf8_lossy(input));
            let _ = Certificate::parse_text(&b64(input));
        }
    }
}
