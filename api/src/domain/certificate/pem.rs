//! PEM: finding every block in pasted text, however mangled its line breaks, and telling
//! certificates from keys, requests and bundles by their label.
//!
//! x509_parser::pem is not used here: it needs each delimiter at the start of its own line, and
//! when a body fails to decode it loses the label — and the label is what tells a damaged private
//! key (which must be refused as a key) from a damaged certificate.

use super::sniff::sniff;
use super::text::decode_base64;
use super::{parse_der, CertificateError, Parsed};

const BEGIN: &str = "-----BEGIN ";
const END: &str = "-----END ";
const DASHES: &str = "-----";
/// Real labels are short ("ENCRYPTED PRIVATE KEY"); a longer one means the closing dashes are missing.
const MAX_LABEL: usize = 64;

pub(super) struct PemBlock<'a> {
    pub(super) label: &'a str,
    /// The base64 body, or what is wrong with the block's framing.
    body: Result<&'a str, String>,
}

pub(super) fn parse_pem(text: &str) -> Result<Parsed, CertificateError> {
    let blocks = pem_blocks(text);
    let is_certificate = |b: &&PemBlock| is_certificate_label(b.label);
    // Checked before anything else, so a key next to a certificate is never silently dropped.
    if let Some(key) = blocks.iter().find(|b| b.label.to_ascii_uppercase().contains("PRIVATE KEY")) {
        let what = if blocks.iter().any(|b| is_certificate(&b)) {
            format!("a certificate together with a private key (PEM \"{}\")", key.label)
        } else {
            format!("a private key (PEM \"{}\")", key.label)
        };
        return Err(CertificateError::PrivateKey { what });
    }
    let mut certificates = blocks.iter().filter(is_certificate);
    let Some(first) = certificates.next() else {
        return Err(match blocks.first() {
            Some(block) => refusal_for_label(block.label),
            None => damaged("there is no \"-----BEGIN CERTIFICATE-----\" line".into()),
        });
    };
    // OpenSSL's TRUSTED CERTIFICATE appends trust settings after the certificate itself.
    let trusted = first.label.eq_ignore_ascii_case("TRUSTED CERTIFICATE");
    let certificate = parse_der(&decode_block(first)?, trusted)?;
    let mut ignored_certificates = 0;
    for other in certificates {
        // A key hidden under a CERTIFICATE label must not pass just because it came second.
        if let Ok(der) = decode_block(other) {
            if let Some(e @ (CertificateError::PrivateKey { .. } | CertificateError::Pkcs12)) = sniff(&der) {
                return Err(e);
            }
        }
        ignored_certificates += 1;
    }
    Ok(Parsed { certificate, ignored_certificates })
}

pub(super) fn damaged(reason: String) -> CertificateError {
    CertificateError::DamagedPem { reason }
}

pub(super) fn decode_block(block: &PemBlock) -> Result<Vec<u8>, CertificateError> {
    let body = block.body.as_ref().map_err(|reason| damaged(reason.clone()))?;
    decode_base64(body)
        .map_err(|reason| damaged(format!("the base64 inside the {} block is invalid: {reason}", block.label)))
}

pub(super) fn is_certificate_label(label: &str) -> bool {
    ["CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"].iter().any(|l| label.eq_ignore_ascii_case(l))
}

pub(super) fn refusal_for_label(label: &str) -> CertificateError {
    match label.to_ascii_uppercase().as_str() {
        "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => CertificateError::Csr,
        "PKCS7" | "PKCS #7 SIGNED DATA" | "CMS" => CertificateError::Pkcs7,
        "PKCS12" => CertificateError::Pkcs12,
        "PUBLIC KEY" | "RSA PUBLIC KEY" => CertificateError::PublicKey,
        _ => CertificateError::UnexpectedPem { label: label.to_owned() },
    }
}

/// Every BEGIN marker in the text becomes a block, damaged or not, so that no label is missed.
/// Delimiters are found anywhere, not only at line starts: pasted PEM often loses its line breaks
/// or gains indentation. One pass over the markers keeps this linear in the input, whatever it is.
pub(super) fn pem_blocks(text: &str) -> Vec<PemBlock<'_>> {
    let markers = markers(text);
    let mut blocks = Vec::new();
    for (k, &(at, is_begin)) in markers.iter().enumerate() {
        if !is_begin {
            continue;
        }
        let after_begin = &text[at + BEGIN.len()..];
        let Some((label, label_len)) = marker_label(after_begin) else {
            let start = after_begin.char_indices().nth(MAX_LABEL).map_or(after_begin, |(i, _)| &after_begin[..i]);
            let label = start.split(['\r', '\n']).next().unwrap_or_default().trim();
            let body = Err(format!("the line \"-----BEGIN {label}\" does not end with \"-----\""));
            blocks.push(PemBlock { label, body });
            continue;
        };
        let body_start = at + BEGIN.len() + label_len + DASHES.len();
        let body = match markers.get(k + 1) {
            Some(&(end_at, false)) => match marker_label(&text[end_at + END.len()..]) {
                // The body is empty when the BEGIN line's closing dashes are the END marker's own.
                Some((end_label, _)) if end_label == label => Ok(text.get(body_start..end_at).unwrap_or_default()),
                Some((end_label, _)) => Err(format!("the block begins as {label} but ends as {end_label}")),
                None => Err(format!("the END line of the {label} block does not end with \"-----\"")),
            },
            _ => Err(format!("the {label} block has no \"-----END {label}-----\" line")),
        };
        blocks.push(PemBlock { label, body });
    }
    blocks
}

/// Positions of every BEGIN (true) and END (false) marker, in order.
pub(super) fn markers(text: &str) -> Vec<(usize, bool)> {
    let mut markers = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find(DASHES) {
        let at = from + found;
        let rest = &text[at..];
        from = if rest.starts_with(BEGIN) {
            markers.push((at, true));
            at + BEGIN.len()
        } else if rest.starts_with(END) {
            markers.push((at, false));
            at + END.len()
        } else {
            at + 1
        };
    }
    markers
}

/// The label after "-----BEGIN " or "-----END " and its length up to the closing dashes, which must
/// be on the same line and close by.
pub(super) fn marker_label(after: &str) -> Option<(&str, usize)> {
    let window = after.char_indices().nth(MAX_LABEL + DASHES.len()).map_or(after, |(i, _)| &after[..i]);
    let len = window.find(DASHES)?;
    let label = &window[..len];
    (!label.contains(['\r', '\n'])).then(|| (label.trim(), len))
}

#[cfg(test)]
mod tests {
    use crate::domain::certificate::fixtures::*;
    use crate::domain::certificate::Certificate;
    use rcgen::KeyPair;

    #[test]
    fn pem_with_line_breaks() {
        let pki = pki();
        let parsed = text_ok(&pki.leaf_pem);
        assert_eq!(parsed.certificate.der(), pki.leaf_der);
        assert_eq!(parsed.ignored_certificates, 0);
    }

    #[test]
    fn pem_with_crlf_indentation_and_surrounding_text() {
        let pki = pki();
        let crlf = pki.leaf_pem.replace('\n', "\r\n");
        assert_eq!(text_ok(&crlf).certificate.der(), pki.leaf_der);
        let indented: String = pki.leaf_pem.lines().map(|l| format!("    {l}\n")).collect();
        let noisy = format!("subject=CN=alice\nissuer=CN=Contoso CA\n{indented}trailing words\n");
        assert_eq!(text_ok(&noisy).certificate.der(), pki.leaf_der);
    }

    #[test]
    fn pem_flattened_onto_one_line() {
        let pki = pki();
        assert_eq!(text_ok(&pki.leaf_pem.replace('\n', " ")).certificate.der(), pki.leaf_der);
        assert_eq!(text_ok(&pki.leaf_pem.replace('\n', "")).certificate.der(), pki.leaf_der);
    }

    #[test]
    fn two_pem_blocks_take_the_first() {
        let pki = pki();
        let ca_pem =
            format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", wrap(&b64(&pki.ca_der), 64, "\n"));
        let parsed = text_ok(&format!("{}{ca_pem}", pki.leaf_pem));
        assert_eq!(parsed.certificate.der(), pki.leaf_der);
        assert_eq!(parsed.ignored_certificates, 1);
    }

    #[test]
    fn trusted_certificate_label_drops_the_trust_settings() {
        let pki = pki();
        let aux = seq(&[&seq(&[&[0x06, 0x08, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02]])]);
        let body = b64(&[pki.leaf_der.clone(), aux].concat());
        let pem = format!(
            "-----BEGIN TRUSTED CERTIFICATE-----\n{}\n-----END TRUSTED CERTIFICATE-----\n",
            wrap(&body, 64, "\n")
        );
        assert_eq!(text_ok(&pem).certificate.der(), pki.leaf_der);
    }

    #[test]
    fn private_key_pem() {
        let key = KeyPair::generate().unwrap();
        let err = Certificate::parse_text(&key.serialize_pem()).unwrap_err();
        assert_eq!(err.code(), "certificate-is-private-key");
        assert!(err.to_string().contains("private key") && err.to_string().contains("never upload"), "{err}");
        for label in
            ["RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "OPENSSH PRIVATE KEY", "DSA PRIVATE KEY"]
        {
            // Refused on the label alone, even when the body is not valid base64.
            let pem = format!("-----BEGIN {label}-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END {label}-----\n");
            assert_eq!(text_code(&pem), "certificate-is-private-key", "{label}");
        }
        assert_eq!(text_code("-----BEGIN PRIVATE KEY-----\nMIIE"), "certificate-is-private-key");
        assert_eq!(text_code("PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n"), "certificate-is-private-key");
    }

    #[test]
    fn certificate_with_private_key_is_refused() {
        let pki = pki();
        for pem in [
            format!("{}{}", pki.leaf_pem, pki.leaf_key.serialize_pem()),
            format!("{}{}", pki.leaf_key.serialize_pem(), pki.leaf_pem),
        ] {
            let err = Certificate::parse_text(&pem).unwrap_err();
            assert_eq!(err.code(), "certificate-is-private-key");
            assert!(err.to_string().contains("certificate together with a private key"), "{err}");
        }
        // A key disguised as the second "certificate" of a chain.
        let disguised = format!(
            "{}-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            pki.leaf_pem,
            b64(&pki.leaf_key.serialize_der())
        );
        assert_eq!(text_code(&disguised), "certificate-is-private-key");
    }

    #[test]
    fn damaged_pem() {
        let pki = pki();
        let body_start = pki.leaf_pem.find('\n').unwrap() + 1;
        let mut broken = pki.leaf_pem.clone();
        broken.replace_range(body_start + 10..body_start + 11, "*");
        let err = Certificate::parse_text(&broken).unwrap_err();
        assert_eq!(err.code(), "invalid-certificate");
        assert!(err.to_string().contains("damaged") && err.to_string().contains("'*'"), "{err}");

        let cut = &pki.leaf_pem[..pki.leaf_pem.len() / 2];
        let err = Certificate::parse_text(cut).unwrap_err();
        assert!(err.to_string().contains("no \"-----END CERTIFICATE-----\" line"), "{err}");

        let mismatched = pki.leaf_pem.replace("END CERTIFICATE", "END X509 CRL");
        assert_eq!(text_code(&mismatched), "invalid-certificate");
        let lines: Vec<&str> = pki.leaf_pem.lines().collect();
        let missing_line = [&lines[..2], &lines[3..]].concat().join("\n");
        assert_eq!(text_code(&missing_line), "invalid-certificate");
        assert_eq!(text_code("-----END CERTIFICATE-----"), "invalid-certificate");
    }

    #[test]
    fn other_pem_labels() {
        let err = Certificate::parse_text("-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----").unwrap_err();
        assert_eq!(err.code(), "invalid-certificate");
        assert!(err.to_string().contains("X509 CRL"), "{err}");
    }

    #[test]
    fn many_pem_markers_neither_panic_nor_crawl() {
        let inputs = [
            "-----BEGIN ".repeat(5000),
            "-----BEGIN CERTIFICATE-----".repeat(2400),
            format!("{}-----END CERTIFICATE-----", "-----BEGIN CERTIFICATE-----\n".repeat(2000)),
            format!("-----BEGIN {}", "A".repeat(60_000)),
            "-----END -----".repeat(4000),
        ];
        let started = std::time::Instant::now();
        for input in &inputs {
            let err = Certificate::parse_text(input).unwrap_err();
            assert_eq!(err.code(), "invalid-certificate", "{err}");
            assert!(err.to_string().len() < 300, "{err}");
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
