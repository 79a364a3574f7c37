//! Distinguished names written as OpenSSL writes them, byte for byte, because gateways match on
//! the string nginx hands them (`$ssl_client_s_dn`), and as (short name, value) pairs.

use std::fmt::Write as _;

use x509_parser::asn1_rs::{Any, Tag, ToDer};
use x509_parser::x509::X509Name;

/// (short name, value) pairs in certificate order, values decoded to text.
pub(super) fn attributes(name: &X509Name<'_>) -> Vec<(String, String)> {
    name.iter_attributes()
        .map(|attr| {
            let oid = attr.attr_type().to_id_string();
            let short = match oid.as_str() {
                "2.5.4.3" => "CN",
                "2.5.4.11" => "OU",
                "2.5.4.10" => "O",
                "2.5.4.7" => "L",
                "2.5.4.8" => "ST",
                "2.5.4.6" => "C",
                "1.2.840.113549.1.9.1" => "E",
                "0.9.2342.19200300.100.1.25" => "DC",
                _ => oid.as_str(),
            };
            let value = match value_utf8(attr.attr_value()) {
                Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                None => hex_dump(attr.attr_value()),
            };
            (short.to_owned(), value)
        })
        .collect()
}

/// The name exactly as OpenSSL's `X509_NAME_print_ex(.., XN_FLAG_RFC2253)` writes it, which is
/// what nginx puts in `$ssl_client_s_dn`: attributes in reverse certificate order (also inside a
/// multi-valued RDN), "," between RDNs and "+" inside one, OpenSSL short names, and attributes
/// OpenSSL has no name for written as dotted OID = #hex of their DER.
pub(super) fn openssl_rfc2253(name: &X509Name<'_>) -> String {
    let flat: Vec<_> = name.iter_rdn().enumerate().flat_map(|(i, rdn)| rdn.iter().map(move |a| (i, a))).collect();
    let mut out = String::new();
    let mut previous_rdn = None;
    for (rdn, attr) in flat.into_iter().rev() {
        if let Some(previous) = previous_rdn {
            out.push(if previous == rdn { '+' } else { ',' });
        }
        previous_rdn = Some(rdn);
        let oid = attr.attr_type().to_id_string();
        match openssl_short_name(&oid) {
            Some(short) => {
                out.push_str(short);
                out.push('=');
                match value_utf8(attr.attr_value()) {
                    Some(bytes) => push_escaped(&mut out, &bytes),
                    None => out.push_str(&hex_dump(attr.attr_value())),
                }
            }
            None => {
                out.push_str(&oid);
                out.push('=');
                out.push_str(&hex_dump(attr.attr_value()));
            }
        }
    }
    out
}

/// A string value as UTF-8 bytes the way OpenSSL converts it: UTF8String as is (even if invalid),
/// one-byte string types as Latin-1, BMPString and UniversalString per code unit, dropping units
/// that are not characters. `None` for non-string types, which are dumped as hex instead.
fn value_utf8(value: &Any<'_>) -> Option<Vec<u8>> {
    let data = value.data;
    let from_units =
        |units: &mut dyn Iterator<Item = u32>| units.filter_map(char::from_u32).collect::<String>().into_bytes();
    match value.tag() {
        Tag::Utf8String => Some(data.to_vec()),
        Tag::NumericString
        | Tag::PrintableString
        | Tag::T61String
        | Tag::Ia5String
        | Tag::UtcTime
        | Tag::GeneralizedTime
        | Tag::VisibleString => Some(data.iter().map(|&b| char::from(b)).collect::<String>().into_bytes()),
        Tag::BmpString if data.len().is_multiple_of(2) => {
            Some(from_units(&mut data.chunks_exact(2).map(|u| u32::from(u16::from_be_bytes([u[0], u[1]])))))
        }
        Tag::UniversalString if data.len().is_multiple_of(4) => {
            Some(from_units(&mut data.chunks_exact(4).map(|u| u32::from_be_bytes([u[0], u[1], u[2], u[3]]))))
        }
        _ => None,
    }
}

/// OpenSSL's ASN1_STRFLGS_RFC2253 escaping, byte by byte over the UTF-8: RFC 2253 specials get a
/// backslash ('#' only first, space only first or last), control bytes and bytes above 0x7F
/// become \XX. OpenSSL's one quirk is kept: a one-character value is only treated as "last".
fn push_escaped(out: &mut String, bytes: &[u8]) {
    let n = bytes.len();
    for (i, &b) in bytes.iter().enumerate() {
        let last = i + 1 == n;
        let first = i == 0 && !last;
        let special = matches!(b, b'"' | b'+' | b',' | b';' | b'<' | b'>' | b'\\')
            || (b == b'#' && first)
            || (b == b' ' && (first || last));
        if special {
            out.push('\\');
            out.push(char::from(b));
        } else if !(0x20..0x7F).contains(&b) {
            let _ = write!(out, "\\{b:02X}");
        } else {
            out.push(char::from(b));
        }
    }
}

fn hex_dump(value: &Any<'_>) -> String {
    let der = value.to_der_vec().unwrap_or_else(|_| value.data.to_vec());
    format!("#{}", hex::encode_upper(der))
}

/// OpenSSL's short names (`OBJ_nid2sn`) for the attributes found in certificate names.
fn openssl_short_name(oid: &str) -> Option<&'static str> {
    #[rustfmt::skip]
    const X520: [(&str, &str); 58] = [
        ("3", "CN"), ("4", "SN"), ("5", "serialNumber"), ("6", "C"), ("7", "L"), ("8", "ST"), ("9", "street"),
        ("10", "O"), ("11", "OU"), ("12", "title"), ("13", "description"), ("14", "searchGuide"),
        ("15", "businessCategory"), ("16", "postalAddress"), ("17", "postalCode"), ("18", "postOfficeBox"),
        ("19", "physicalDeliveryOfficeName"), ("20", "telephoneNumber"), ("21", "telexNumber"),
        ("22", "teletexTerminalIdentifier"), ("23", "facsimileTelephoneNumber"), ("24", "x121Address"),
        ("25", "internationaliSDNNumber"), ("26", "registeredAddress"), ("27", "destinationIndicator"),
        ("28", "preferredDeliveryMethod"), ("29", "presentationAddress"), ("30", "supportedApplicationContext"),
        ("31", "member"), ("32", "owner"), ("33", "roleOccupant"), ("34", "seeAlso"), ("35", "userPassword"),
        ("36", "userCertificate"), ("37", "cACertificate"), ("38", "authorityRevocationList"),
        ("39", "certificateRevocationList"), ("40", "crossCertificatePair"), ("41", "name"), ("42", "GN"),
        ("43", "initials"), ("44", "generationQualifier"), ("45", "x500UniqueIdentifier"), ("46", "dnQualifier"),
        ("47", "enhancedSearchGuide"), ("48", "protocolInformation"), ("49", "distinguishedName"),
        ("50", "uniqueMember"), ("51", "houseIdentifier"), ("52", "supportedAlgorithms"),
        ("53", "deltaRevocationList"), ("54", "dmdName"), ("65", "pseudonym"), ("72", "role"),
        ("97", "organizationIdentifier"), ("98", "c3"), ("99", "n3"), ("100", "dnsName"),
    ];
    if let Some(arc) = oid.strip_prefix("2.5.4.") {
        return X520.iter().find(|(a, _)| *a == arc).map(|(_, name)| *name);
    }
    Some(match oid {
        "1.2.840.113549.1.9.1" => "emailAddress",
        "1.2.840.113549.1.9.2" => "unstructuredName",
        "1.2.840.113549.1.9.8" => "unstructuredAddress",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.44" => "uid",
        "1.3.6.1.4.1.311.60.2.1.1" => "jurisdictionL",
        "1.3.6.1.4.1.311.60.2.1.2" => "jurisdictionST",
        "1.3.6.1.4.1.311.60.2.1.3" => "jurisdictionC",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, DnType, DnValue, KeyPair};

    use crate::domain::certificate::fixtures::*;
    use crate::domain::certificate::Certificate;

    #[test]
    fn subject_and_issuer_in_rfc2253_order() {
        let pki = pki();
        let info = Certificate::from_der(&pki.leaf_der).unwrap().info().clone();
        assert_eq!(info.subject, "CN=alice,OU=Engineering,O=Contoso,C=US");
        assert_eq!(info.issuer, "CN=Contoso CA,O=Contoso,C=US");
        let attrs = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
        assert_eq!(info.subject_attrs, attrs(&[("C", "US"), ("O", "Contoso"), ("OU", "Engineering"), ("CN", "alice")]));
        assert_eq!(info.issuer_attrs, attrs(&[("C", "US"), ("O", "Contoso"), ("CN", "Contoso CA")]));
        let ca = Certificate::from_der(&pki.ca_der).unwrap();
        assert_eq!(ca.info().subject, info.issuer);
    }

    #[test]
    fn subject_escaping_matches_openssl() {
        // Expected strings checked against `openssl x509 -noout -subject -nameopt RFC2253`.
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = name(&[
            (DnType::CountryName, "US"),
            (DnType::OrganizationName, "#Contoso, \"Ltd\" <a+b>; x\\y=z"),
            (DnType::CommonName, " René "),
        ]);
        params.distinguished_name.push(
            DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
            DnValue::Ia5String("alice@contoso.com".try_into().unwrap()),
        );
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, DnValue::BmpString("Zürich 東京".try_into().unwrap()));
        params.distinguished_name.push(DnType::CustomDnType(vec![1, 2, 3, 4]), "opaque");
        let info = Certificate::from_der(&self_signed(params, &key)).unwrap().info().clone();
        assert_eq!(
            info.subject,
            "1.2.3.4=#0C066F7061717565,\
             OU=Z\\C3\\BCrich \\E6\\9D\\B1\\E4\\BA\\AC,\
             emailAddress=alice@contoso.com,\
             CN=\\ Ren\\C3\\A9\\ ,\
             O=\\#Contoso\\, \\\"Ltd\\\" \\<a\\+b\\>\\; x\\\\y=z,\
             C=US"
        );
        let short: Vec<&str> = info.subject_attrs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(short, ["C", "O", "CN", "E", "OU", "1.2.3.4"]);
        assert_eq!(info.subject_attrs[2].1, " René ");
        assert_eq!(info.subject_attrs[4].1, "Zürich 東京");
    }

    #[test]
    fn string_types_and_escapes_match_openssl() {
        // Expected string checked against `openssl x509 -noout -subject -nameopt RFC2253`.
        let subject = seq(&[
            &tlv(0x31, &atv(CN, 0x0C, b"a\x01b\x7fc\x00")),
            &tlv(0x31, &atv(O, 0x14, b"caf\xe9 #")), // T61String, read as Latin-1
            &tlv(0x31, &atv(OU, 0x1C, &[0, 0, 0, 0x41, 0, 1, 0xF6, 0x00, 0, 0, 0, 0x20])), // UniversalString
            &tlv(0x31, &atv(OU, 0x1E, &[0x00, 0x41, 0x00, 0xE9, 0x4E, 0x2D])), // BMPString
            &tlv(0x31, &atv(CN, 0x0C, b" ")),
            &tlv(0x31, &atv(CN, 0x0C, b"#")),
            &tlv(0x31, &atv(CN, 0x0C, b"a=b\\c#")),
            &tlv(0x31, &atv(&[0x55, 0x04, 0x05], 0x13, b"123")),
            &tlv(0x31, &atv(&[0x55, 0x04, 0x2A], 0x0C, b"Bob")),
            &tlv(0x31, &atv(&[0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x3C, 0x02, 0x01, 0x03], 0x13, b"US")),
            &tlv(0x31, &atv(&[0x09, 0x92, 0x26, 0x89, 0x93, 0xF2, 0x2C, 0x64, 0x01, 0x01], 0x0C, b"u1")),
            &tlv(0x31, &atv(CN, 0x30, &[0x02, 0x01, 0x01])),
        ]);
        let cert = Certificate::from_der(&cert_with_subject(&subject)).unwrap();
        assert_eq!(
            cert.info().subject,
            "CN=#3003020101,UID=u1,jurisdictionC=US,GN=Bob,serialNumber=123,CN=a=b\\\\c#,CN=#,CN=\\ ,\
             OU=A\\C3\\A9\\E4\\B8\\AD,OU=A\\F0\\9F\\98\\80\\ ,O=caf\\C3\\A9 #,CN=a\\01b\\7Fc\\00"
        );
        let values: Vec<&str> = cert.info().subject_attrs.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(&values[..4], ["a\u{1}b\u{7f}c\0", "café #", "A😀 ", "Aé中"]);
        assert_eq!(values[11], "#3003020101");
    }

    #[test]
    fn multi_valued_and_repeated_attributes() {
        let subject = seq(&[
            &tlv(0x31, &atv(DC, 0x16, b"com")),
            &tlv(0x31, &atv(DC, 0x16, b"contoso")),
            &tlv(0x31, &[atv(OU, 0x0C, b"Users"), atv(CN, 0x0C, b"alice")].concat()),
            &tlv(0x31, &atv(OU, 0x13, b"Staff")),
            &tlv(0x31, &atv(EMAIL, 0x16, b"a@b.c")),
            &tlv(0x31, &atv(UNKNOWN, 0x13, b"x")),
            &tlv(0x31, &atv(C, 0x13, b"#")),
            &tlv(0x31, &atv(O, 0x0C, b"")),
        ]);
        let cert = Certificate::from_der(&cert_with_subject(&subject)).unwrap();
        assert_eq!(
            cert.info().subject,
            "O=,C=#,1.2.3.4=#130178,emailAddress=a@b.c,OU=Staff,CN=alice+OU=Users,DC=contoso,DC=com"
        );
        let short: Vec<&str> = cert.info().subject_attrs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(short, ["DC", "DC", "OU", "CN", "OU", "E", "1.2.3.4", "C", "O"]);
        assert_eq!(cert.info().subject_attrs[6], ("1.2.3.4".to_owned(), "x".to_owned()));
        assert_eq!(cert.info().issuer, "CN=issuer");
    }
}
