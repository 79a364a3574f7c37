//! The facts a certificate carries that mappings, gateways and people match on: digests, names,
//! serial, subjectAltNames, validity dates, key type and size.

use aws_lc_rs::digest;
use time::OffsetDateTime;
use x509_parser::asn1_rs::Tag;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::ber::tlv;
use super::dn::{attributes, openssl_rfc2253};
use super::CertificateError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Lowercase hex SHA-1 of the DER: nginx's `$ssl_client_fingerprint`.
    pub sha1: String,
    pub sha256: String,
    /// SHA-256 of the DER SubjectPublicKeyInfo: stays the same when a certificate is renewed with
    /// the same key.
    pub spki_sha256: String,
    /// As OpenSSL prints it with `XN_FLAG_RFC2253` (nginx's `$ssl_client_s_dn`): most specific RDN
    /// first, `emailAddress=` for e-mail, bytes outside printable ASCII as `\XX`.
    pub subject: String,
    pub issuer: String,
    /// (short name, value) in certificate order. Short names are CN, OU, O, L, ST, C, E, DC;
    /// other attributes are named by their dotted OID.
    pub subject_attrs: Vec<(String, String)>,
    pub issuer_attrs: Vec<(String, String)>,
    /// Lowercase hex of the serial's magnitude without leading zero bytes, even length.
    pub serial: String,
    pub san_dns: Vec<String>,
    pub san_email: Vec<String>,
    pub san_uri: Vec<String>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// "RSA", "RSA-PSS", "EC P-256", "EC P-384", "EC P-521", "Ed25519", ... or the dotted OID of an
    /// unknown algorithm.
    pub key_type: String,
    /// Modulus size for RSA, curve size for EC and EdDSA.
    pub key_bits: Option<u32>,
    pub is_ca: bool,
}

fn hex_digest(algorithm: &'static digest::Algorithm, data: &[u8]) -> String {
    hex::encode(digest::digest(algorithm, data))
}

pub(super) fn describe(cert: &X509Certificate<'_>, der: &[u8]) -> Result<CertificateInfo, CertificateError> {
    let unreadable = |what: &str, e: x509_parser::error::X509Error| CertificateError::NotCertificate {
        reason: format!("its {what} extension cannot be read ({e})"),
    };
    let (mut san_dns, mut san_email, mut san_uri) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(san) = cert.subject_alternative_name().map_err(|e| unreadable("subjectAltName", e))? {
        for name in &san.value.general_names {
            let (list, value) = match name {
                GeneralName::DNSName(s) => (&mut san_dns, *s),
                GeneralName::RFC822Name(s) => (&mut san_email, *s),
                GeneralName::URI(s) => (&mut san_uri, *s),
                _ => continue,
            };
            // IA5String allows control characters (a NUL hides the rest of a name from C code);
            // no honest SAN has one.
            if value.chars().any(char::is_control) {
                return Err(CertificateError::NotCertificate {
                    reason: "a subjectAltName holds a control character".into(),
                });
            }
            list.push(value.to_owned());
        }
    }
    let is_ca = cert.basic_constraints().map_err(|e| unreadable("basicConstraints", e))?.is_some_and(|bc| bc.value.ca);
    let spki = cert.public_key();
    let (key_type, key_bits) = key_description(spki);
    Ok(CertificateInfo {
        sha1: hex_digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der),
        sha256: hex_digest(&digest::SHA256, der),
        spki_sha256: hex_digest(&digest::SHA256, spki.raw),
        subject: openssl_rfc2253(cert.subject()),
        issuer: openssl_rfc2253(cert.issuer()),
        subject_attrs: attributes(cert.subject()),
        issuer_attrs: attributes(cert.issuer()),
        serial: serial_hex(cert.raw_serial()),
        san_dns,
        san_email,
        san_uri,
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        key_type,
        key_bits,
        is_ca,
    })
}

/// The magnitude of the two's-complement serial: CAs emit positive serials, but a negative one
/// must still print as a plain hex number.
pub(crate) fn serial_hex(raw: &[u8]) -> String {
    let mut bytes = raw.to_vec();
    if raw.first().is_some_and(|b| b & 0x80 != 0) {
        bytes.iter_mut().for_each(|b| *b = !*b);
        for b in bytes.iter_mut().rev() {
            let (sum, carry) = b.overflowing_add(1);
            *b = sum;
            if !carry {
                break;
            }
        }
    }
    let significant = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len().saturating_sub(1));
    match bytes.get(significant..) {
        Some(rest) if !rest.is_empty() => hex::encode(rest),
        _ => "00".to_owned(),
    }
}

fn key_description(spki: &SubjectPublicKeyInfo<'_>) -> (String, Option<u32>) {
    let key = spki.subject_public_key.data.as_ref();
    let named = |name: &str, bits: u32| (name.to_owned(), Some(bits));
    match spki.algorithm.algorithm.to_id_string().as_str() {
        "1.2.840.113549.1.1.1" => ("RSA".into(), rsa_bits(key)),
        "1.2.840.113549.1.1.10" => ("RSA-PSS".into(), rsa_bits(key)),
        "1.2.840.10045.2.1" => {
            let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok()).map(|o| o.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => named("EC P-256", 256),
                Some("1.3.132.0.34") => named("EC P-384", 384),
                Some("1.3.132.0.35") => named("EC P-521", 521),
                Some("1.3.132.0.10") => named("EC secp256k1", 256),
                Some("1.3.36.3.3.2.8.1.1.7") => named("EC brainpoolP256r1", 256),
                Some("1.3.36.3.3.2.8.1.1.11") => named("EC brainpoolP384r1", 384),
                Some("1.3.36.3.3.2.8.1.1.13") => named("EC brainpoolP512r1", 512),
                Some(other) => (format!("EC {other}"), ec_point_bits(key)),
                None => ("EC".into(), ec_point_bits(key)),
            }
        }
        "1.3.101.112" => named("Ed25519", 256),
        "1.3.101.113" => named("Ed448", 448),
        "1.3.101.110" => named("X25519", 256),
        "1.3.101.111" => named("X448", 448),
        "1.2.840.10040.4.1" => ("DSA".into(), None),
        other => (other.to_owned(), None),
    }
}

/// Bits of the modulus in an RSAPublicKey { n, e }.
fn rsa_bits(key: &[u8]) -> Option<u32> {
    let (sequence, _) = tlv(key)?;
    let modulus = sequence.first_child().filter(|n| n.is(Tag::Integer))?;
    let start = modulus.body.iter().position(|&b| b != 0)?;
    let significant = &modulus.body[start..];
    let bytes = u32::try_from(significant.len()).ok()?;
    Some(bytes * 8 - significant[0].leading_zeros())
}

/// Curve size from an uncompressed point 04 || X || Y, for curves not named above.
fn ec_point_bits(point: &[u8]) -> Option<u32> {
    match point.split_first() {
        Some((4, xy)) if !xy.is_empty() => u32::try_from(xy.len() / 2 * 8).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, KeyPair, PublicKeyData};
    use time::macros::datetime;

    use super::*;
    use crate::domain::certificate::fixtures::*;
    use crate::domain::certificate::Certificate;

    #[test]
    fn digests_match_independent_computation() {
        let pki = pki();
        let info = Certificate::from_der(&pki.leaf_der).unwrap().info().clone();
        let sha256 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &pki.leaf_der);
        assert_eq!(info.sha256, hex::encode(sha256.as_ref()));
        let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &pki.leaf_der);
        assert_eq!(info.sha1, hex::encode(sha1.as_ref()));
        assert_eq!(info.sha1.len(), 40);
        let spki = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &pki.leaf_key.subject_public_key_info());
        assert_eq!(info.spki_sha256, hex::encode(spki.as_ref()));
        assert_ne!(info.spki_sha256, info.sha256);
    }

    #[test]
    fn ca_flag() {
        let pki = pki();
        assert!(Certificate::from_der(&pki.ca_der).unwrap().info().is_ca);
        assert!(!Certificate::from_der(&pki.leaf_der).unwrap().info().is_ca);
    }

    #[test]
    fn serial_sans_and_validity_dates() {
        let pki = pki();
        let info = Certificate::from_der(&pki.leaf_der).unwrap().info().clone();
        assert_eq!(info.serial, "8f010203");
        assert_eq!(info.san_dns, ["alice.contoso.com"]);
        assert_eq!(info.san_email, ["alice@contoso.com"]);
        assert_eq!(info.san_uri, ["https://contoso.com/users/alice"]);
        assert_eq!(info.not_before, datetime!(2024-01-01 0:00 UTC));
        assert_eq!(info.not_after, datetime!(2034-01-01 0:00 UTC));
    }

    #[test]
    fn serial_hex_forms() {
        assert_eq!(serial_hex(&[0x00, 0x8f, 0x01]), "8f01");
        assert_eq!(serial_hex(&[0x00, 0x00, 0x00]), "00");
        assert_eq!(serial_hex(&[0x01]), "01");
        assert_eq!(serial_hex(&[]), "00");
        assert_eq!(serial_hex(&[0xFF]), "01"); // -1
        assert_eq!(serial_hex(&[0xFF, 0x00]), "0100"); // -256
    }

    #[test]
    fn key_types() {
        let pki = pki();
        let leaf = Certificate::from_der(&pki.leaf_der).unwrap();
        assert_eq!((leaf.info().key_type.as_str(), leaf.info().key_bits), ("Ed25519", Some(256)));
        let ca = Certificate::from_der(&pki.ca_der).unwrap();
        assert_eq!((ca.info().key_type.as_str(), ca.info().key_bits), ("EC P-256", Some(256)));
        let cases: [(&'static rcgen::SignatureAlgorithm, &str, u32); 2] =
            [(&rcgen::PKCS_ECDSA_P384_SHA384, "EC P-384", 384), (&rcgen::PKCS_ECDSA_P521_SHA512, "EC P-521", 521)];
        for (alg, key_type, bits) in cases {
            let key = KeyPair::generate_for(alg).unwrap();
            let cert = Certificate::from_der(&self_signed(CertificateParams::default(), &key)).unwrap();
            assert_eq!((cert.info().key_type.as_str(), cert.info().key_bits), (key_type, Some(bits)));
        }
        let rsa = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap();
        let cert = Certificate::from_der(&self_signed(CertificateParams::default(), &rsa)).unwrap();
        assert_eq!((cert.info().key_type.as_str(), cert.info().key_bits), ("RSA", Some(2048)));
    }

    #[test]
    fn control_characters_in_a_san_are_refused() {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["aXb.example.com".into()]).unwrap();
        let mut der = params.self_signed(&key).unwrap().der().to_vec();
        let at = der.windows(3).position(|w| w == b"aXb").unwrap();
        der[at + 1] = 0;
        assert_eq!(Certificate::from_der(&der).unwrap_err().code(), "invalid-certificate");
    }
}
