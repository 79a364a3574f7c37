//! Naming what a blob is when it is not a certificate — a private key, a CSR, a public key, a
//! PKCS#7 or PKCS#12 bundle — so the user hears what they sent, and a key is refused loudly.

use x509_parser::asn1_rs::{Class, Tag};

use super::ber::{children, tlv, Tlv};
use super::CertificateError;

/// OIDs 1.2.840.113549.1.7.x (PKCS#7) and 1.2.840.113549.1.9.16.1.x (CMS content types).
fn is_pkcs7_oid(oid: &Tlv) -> bool {
    const PKCS7: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07];
    const CMS: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x10, 0x01];
    oid.is(Tag::Oid)
        && ((oid.body.len() == PKCS7.len() + 1 && oid.body.starts_with(PKCS7))
            || (oid.body.len() == CMS.len() + 1 && oid.body.starts_with(CMS)))
}

/// Names what a DER blob is when it is not a certificate, from its outer shape alone.
pub(super) fn sniff(der: &[u8]) -> Option<CertificateError> {
    let key = |what: &str| Some(CertificateError::PrivateKey { what: what.into() });
    if der.starts_with(b"openssh-key-v1\0") {
        return key("an OpenSSH private key");
    }
    let (outer, _) = tlv(der)?;
    if !outer.is(Tag::Sequence) {
        return None;
    }
    let kids = children(outer.body, 10);
    let kid = |i: usize| kids.get(i);
    let kid_is = |i: usize, tag: Tag| kid(i).is_some_and(|k| k.is(tag));
    let version = |i: usize, v: u8| kid(i).is_some_and(|k| k.is_integer(v));
    let algorithm = |i: usize| kid(i).is_some_and(|k| k.is_algorithm());

    // ContentInfo { contentType OID, [0] content }
    if kid(0).is_some_and(is_pkcs7_oid) {
        return Some(CertificateError::Pkcs7);
    }
    // PFX { version 3, authSafe ContentInfo, macData }
    if version(0, 3) && kid(1).is_some_and(|k| k.is(Tag::Sequence) && k.first_child().is_some_and(|c| is_pkcs7_oid(&c)))
    {
        return Some(CertificateError::Pkcs12);
    }
    // PrivateKeyInfo / OneAsymmetricKey { version 0|1, AlgorithmIdentifier, OCTET STRING }
    if (version(0, 0) || version(0, 1)) && algorithm(1) && kid_is(2, Tag::OctetString) {
        return key("a private key (PKCS#8)");
    }
    // EncryptedPrivateKeyInfo { AlgorithmIdentifier, OCTET STRING }
    if kids.len() == 2 && algorithm(0) && kid_is(1, Tag::OctetString) {
        return key("an encrypted private key (PKCS#8)");
    }
    // ECPrivateKey { version 1, OCTET STRING, ... }
    if version(0, 1) && kid_is(1, Tag::OctetString) {
        return key("an EC private key (SEC1)");
    }
    // RSAPrivateKey { 0, n, e, d, p, q, dp, dq, qinv } and OpenSSL's DSA key { 0, p, q, g, y, x }
    if kids.len() >= 6 && version(0, 0) && kids.iter().all(|k| k.is(Tag::Integer)) {
        return key(if kids.len() >= 9 { "an RSA private key (PKCS#1)" } else { "a DSA private key" });
    }
    // SubjectPublicKeyInfo { AlgorithmIdentifier, BIT STRING } and RSAPublicKey { n, e }
    if kids.len() == 2 && ((algorithm(0) && kid_is(1, Tag::BitString)) || kids.iter().all(|k| k.is(Tag::Integer))) {
        return Some(CertificateError::PublicKey);
    }
    // CertificationRequestInfo { version 0, subject, SubjectPublicKeyInfo, [0] attributes }
    let info = kid(0).filter(|k| k.is(Tag::Sequence)).map(|k| children(k.body, 4)).unwrap_or_default();
    let is_request = info.len() == 4
        && info[0].is_integer(0)
        && info[1].is(Tag::Sequence)
        && info[2].is(Tag::Sequence)
        && info[3].class == Class::ContextSpecific
        && info[3].tag == Tag(0);
    is_request.then_some(CertificateError::Csr)
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, DnType, KeyPair, PublicKeyData};

    use super::children;
    use crate::domain::certificate::fixtures::*;
    use crate::domain::certificate::Certificate;

    #[test]
    fn private_key_der() {
        let ec = KeyPair::generate().unwrap();
        let pkcs8 = ec.serialize_der();
        assert_eq!(bytes_code(&pkcs8), "certificate-is-private-key");
        assert_eq!(text_code(&b64(&pkcs8)), "certificate-is-private-key");
        let ed = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        assert_eq!(bytes_code(&ed.serialize_der()), "certificate-is-private-key");

        // PKCS#8 wraps the algorithm-specific key in its OCTET STRING.
        let inner = |pkcs8: &[u8]| {
            let (outer, _) = super::tlv(pkcs8).unwrap();
            children(outer.body, 3)[2].body.to_vec()
        };
        let sec1 = inner(&pkcs8);
        let err = Certificate::parse_bytes(&sec1).unwrap_err();
        assert_eq!(err.code(), "certificate-is-private-key");
        assert!(err.to_string().contains("SEC1"), "{err}");
        let rsa = KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap();
        let pkcs1 = inner(&rsa.serialize_der());
        let err = Certificate::parse_bytes(&pkcs1).unwrap_err();
        assert_eq!(err.code(), "certificate-is-private-key");
        assert!(err.to_string().contains("PKCS#1"), "{err}");
        assert_eq!(bytes_code(&rsa.serialize_der()), "certificate-is-private-key");

        // EncryptedPrivateKeyInfo { PBES2 AlgorithmIdentifier, OCTET STRING }
        let pbes2 = seq(&[&[0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0D], &seq(&[])]);
        assert_eq!(bytes_code(&seq(&[&pbes2, &tlv(0x04, &[0xAB; 64])])), "certificate-is-private-key");
        assert_eq!(bytes_code(b"openssh-key-v1\0\0\0\0\x04none"), "certificate-is-private-key");
    }

    #[test]
    fn csr() {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = name(&[(DnType::CommonName, "alice")]);
        let csr = params.serialize_request(&key).unwrap();
        let err = Certificate::parse_text(&csr.pem().unwrap()).unwrap_err();
        assert_eq!(err.code(), "certificate-is-csr");
        assert!(err.to_string().contains("signing request"), "{err}");
        assert_eq!(bytes_code(csr.der()), "certificate-is-csr");
        assert_eq!(text_code(&b64(csr.der())), "certificate-is-csr");
        let new_label = csr.pem().unwrap().replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST");
        assert_eq!(text_code(&new_label), "certificate-is-csr");
    }

    #[test]
    fn public_key() {
        let key = KeyPair::generate().unwrap();
        let err = Certificate::parse_text(&key.public_key_pem()).unwrap_err();
        assert_eq!(err.code(), "certificate-is-public-key");
        assert!(err.to_string().contains("public key"), "{err}");
        assert_eq!(bytes_code(&key.subject_public_key_info()), "certificate-is-public-key");
        let rsa_public = seq(&[&tlv(0x02, &[0x00, 0xC3, 0x11, 0x42]), &tlv(0x02, &[0x01, 0x00, 0x01])]);
        assert_eq!(bytes_code(&rsa_public), "certificate-is-public-key");
        assert_eq!(text_code("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEx alice@laptop"), "certificate-is-public-key");
    }

    #[test]
    fn pkcs7() {
        let pki = pki();
        let signed_data =
            seq(&[&[0x02, 0x01, 0x01], &tlv(0x31, &[]), &seq(&[OID_DATA]), &tlv(0xA0, &pki.leaf_der), &tlv(0x31, &[])]);
        let p7b = seq(&[OID_SIGNED_DATA, &tlv(0xA0, &signed_data)]);
        let err = Certificate::parse_bytes(&p7b).unwrap_err();
        assert_eq!(err.code(), "certificate-is-pkcs7");
        assert!(err.to_string().contains(".cer"), "{err}");
        assert_eq!(text_code(&b64(&p7b)), "certificate-is-pkcs7");
        // Cut short, or BER with indefinite lengths as some tools write it: the OID is enough.
        assert_eq!(bytes_code(&p7b[..20]), "certificate-is-pkcs7");
        let ber = [&[0x30, 0x80][..], OID_SIGNED_DATA, &[0xA0, 0x80, 0x30, 0x80, 0x02, 0x01, 0x01]].concat();
        assert_eq!(bytes_code(&ber), "certificate-is-pkcs7");
        for label in ["PKCS7", "CMS"] {
            let pem = format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", b64(&p7b));
            assert_eq!(text_code(&pem), "certificate-is-pkcs7", "{label}");
        }
    }

    #[test]
    fn pkcs12() {
        let auth_safe = seq(&[OID_DATA, &tlv(0xA0, &tlv(0x04, &seq(&[&seq(&[OID_DATA])])))]);
        let mac_data = seq(&[
            &seq(&[&seq(&[&[0x06, 0x05, 0x2B, 0x0E, 0x03, 0x02, 0x1A], &[0x05, 0x00]]), &tlv(0x04, &[0; 20])]),
            &tlv(0x04, &[1; 8]),
        ]);
        let pfx = seq(&[&[0x02, 0x01, 0x03], &auth_safe, &mac_data]);
        let err = Certificate::parse_bytes(&pfx).unwrap_err();
        assert_eq!(err.code(), "certificate-is-pkcs12");
        assert!(err.to_string().contains("private key"), "{err}");
        assert_eq!(text_code(&b64(&pfx)), "certificate-is-pkcs12");
        assert_eq!(bytes_code(&pfx[..20]), "certificate-is-pkcs12");
    }
}
