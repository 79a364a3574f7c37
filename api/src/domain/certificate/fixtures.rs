//! Certificates, keys and hand-built DER for the tests beside each part of the parser.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PublicKeyData, SanType, SerialNumber};
use time::macros::datetime;

use super::{Certificate, Parsed};

pub(super) struct Pki {
    pub(super) ca_der: Vec<u8>,
    pub(super) leaf_der: Vec<u8>,
    pub(super) leaf_pem: String,
    pub(super) leaf_key: KeyPair,
}

pub(super) fn name(parts: &[(DnType, &str)]) -> rcgen::DistinguishedName {
    let mut dn = rcgen::DistinguishedName::new();
    for (ty, value) in parts {
        dn.push(ty.clone(), *value);
    }
    dn
}

/// A CA (P-256) and a leaf (Ed25519) it signed, with DNS, e-mail and URI SANs.
pub(super) fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::default();
    ca.distinguished_name =
        name(&[(DnType::CountryName, "US"), (DnType::OrganizationName, "Contoso"), (DnType::CommonName, "Contoso CA")]);
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_der = ca.self_signed(&ca_key).unwrap().der().to_vec();

    let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name = name(&[
        (DnType::CountryName, "US"),
        (DnType::OrganizationName, "Contoso"),
        (DnType::OrganizationalUnitName, "Engineering"),
        (DnType::CommonName, "alice"),
    ]);
    leaf.subject_alt_names = vec![
        SanType::DnsName("alice.contoso.com".try_into().unwrap()),
        SanType::Rfc822Name("alice@contoso.com".try_into().unwrap()),
        SanType::URI("https://contoso.com/users/alice".try_into().unwrap()),
    ];
    leaf.serial_number = Some(SerialNumber::from_slice(&[0x8f, 0x01, 0x02, 0x03]));
    leaf.not_before = datetime!(2024-01-01 0:00 UTC);
    leaf.not_after = datetime!(2034-01-01 0:00 UTC);
    let issuer = Issuer::new(ca, ca_key);
    let cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    Pki { ca_der, leaf_der: cert.der().to_vec(), leaf_pem: cert.pem(), leaf_key }
}

pub(super) fn self_signed(params: CertificateParams, key: &KeyPair) -> Vec<u8> {
    params.self_signed(key).unwrap().der().to_vec()
}

pub(super) fn b64(der: &[u8]) -> String {
    STANDARD.encode(der)
}

pub(super) fn wrap(text: &str, width: usize, separator: &str) -> String {
    let lines: Vec<&str> = text.as_bytes().chunks(width).map(|c| std::str::from_utf8(c).unwrap()).collect();
    lines.join(separator)
}

pub(super) fn text_ok(input: &str) -> Parsed {
    Certificate::parse_text(input).unwrap_or_else(|e| panic!("{e} for {input:?}"))
}

pub(super) fn text_code(input: &str) -> &'static str {
    match Certificate::parse_text(input) {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

pub(super) fn bytes_code(input: &[u8]) -> &'static str {
    match Certificate::parse_bytes(input) {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

/// DER TLV with a definite length, for hand-built structures.
pub(super) fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let len = body.len();
    let mut out = vec![tag];
    match len {
        0..=0x7f => out.push(len as u8),
        0x80..=0xff => out.extend([0x81, len as u8]),
        _ => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(body);
    out
}

pub(super) fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

pub(super) const OID_DATA: &[u8] = &[0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01];
pub(super) const OID_SIGNED_DATA: &[u8] = &[0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];

/// A certificate with the given subject Name DER, assembled by hand: the parser never checks
/// signatures, and this is the only way to get multi-valued RDNs and repeated attributes.
pub(super) fn cert_with_subject(subject: &[u8]) -> Vec<u8> {
    let key = KeyPair::generate().unwrap();
    let ecdsa_sha256 = seq(&[&[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02]]);
    let issuer = seq(&[&tlv(0x31, &seq(&[&[0x06, 0x03, 0x55, 0x04, 0x03], &tlv(0x0C, b"issuer")]))]);
    let validity = seq(&[&tlv(0x17, b"240101000000Z"), &tlv(0x17, b"340101000000Z")]);
    let tbs = seq(&[
        &tlv(0xA0, &[0x02, 0x01, 0x02]),
        &[0x02, 0x01, 0x01],
        &ecdsa_sha256,
        &issuer,
        &validity,
        subject,
        &key.subject_public_key_info(),
    ]);
    seq(&[&tbs, &ecdsa_sha256, &tlv(0x03, &[0x00, 0x30, 0x00])])
}

pub(super) fn atv(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
    seq(&[&tlv(0x06, oid), &tlv(tag, value)])
}

pub(super) const CN: &[u8] = &[0x55, 0x04, 0x03];
pub(super) const O: &[u8] = &[0x55, 0x04, 0x0A];
pub(super) const OU: &[u8] = &[0x55, 0x04, 0x0B];
pub(super) const C: &[u8] = &[0x55, 0x04, 0x06];
pub(super) const DC: &[u8] = &[0x09, 0x92, 0x26, 0x89, 0x93, 0xF2, 0x2C, 0x64, 0x01, 0x19];
pub(super) const EMAIL: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x01];
pub(super) const UNKNOWN: &[u8] = &[0x2A, 0x03, 0x04];
