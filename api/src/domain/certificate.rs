//! Client certificates as users paste them, turned into what IIS stores: the base64 of the DER on
//! one line. Anything that is not exactly one X.509 certificate is refused with a precise reason,
//! and private keys are refused loudly, never silently dropped.

use std::borrow::Cow;
use std::fmt::Write as _;

use aws_lc_rs::digest;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::{DecodeError, Engine as _};
use time::OffsetDateTime;
use x509_parser::asn1_rs::{Any, Class, FromBer, Header, Length, Tag, ToDer};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;
use x509_parser::x509::{SubjectPublicKeyInfo, X509Name};

/// Largest input accepted, as text or DER. Real client certificates are a few KiB.
pub const MAX_CERTIFICATE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    info: CertificateInfo,
}

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

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("no certificate was given: the input is empty")]
    Empty,
    #[error("the input is {size} bytes; a certificate may be at most {MAX_CERTIFICATE_BYTES} bytes")]
    TooLarge { size: usize },
    #[error("this is not a certificate: it is neither PEM nor base64 ({reason})")]
    NotBase64 { reason: String },
    #[error("the PEM text is damaged: {reason}")]
    DamagedPem { reason: String },
    #[error("this is a PEM \"{label}\", not a certificate: send the \"BEGIN CERTIFICATE\" block")]
    UnexpectedPem { label: String },
    #[error("this is not a DER X.509 certificate: {reason}")]
    NotCertificate { reason: String },
    #[error("this is {what} — never upload a private key; send only the certificate")]
    PrivateKey { what: String },
    #[error(
        "this is a certificate signing request (CSR), not a certificate: send the certificate the CA issued for it"
    )]
    Csr,
    #[error(
        "this is a PKCS#7 / CMS bundle (.p7b), not a single certificate: export the client certificate alone as .cer (DER or base64)"
    )]
    Pkcs7,
    #[error(
        "this is a PKCS#12 / PFX file: it holds a private key — never upload it; export the certificate alone as .cer, without its private key"
    )]
    Pkcs12,
    #[error("this is a public key alone, not a certificate: send the certificate that contains it")]
    PublicKey,
    #[error("the certificate is followed by {bytes} unexpected byte(s): send exactly one certificate")]
    TrailingData { bytes: usize },
}

impl CertificateError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "certificate-empty",
            Self::TooLarge { .. } => "certificate-too-large",
            Self::NotBase64 { .. }
            | Self::DamagedPem { .. }
            | Self::UnexpectedPem { .. }
            | Self::NotCertificate { .. } => "invalid-certificate",
            Self::PrivateKey { .. } => "certificate-is-private-key",
            Self::Csr => "certificate-is-csr",
            Self::Pkcs7 => "certificate-is-pkcs7",
            Self::Pkcs12 => "certificate-is-pkcs12",
            Self::PublicKey => "certificate-is-public-key",
            Self::TrailingData { .. } => "certificate-trailing-data",
        }
    }
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
            return parse_pem(text);
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

// ---------------------------------------------------------------------------------------------
// Text

/// Uploaded bytes that are text, decoded; `None` for binary. Every DER structure a user might send
/// starts with a SEQUENCE tag, 0x30, while PEM and base64 DER never start with '0'; other binary
/// (an OpenSSH key blob, say) holds control bytes that text does not.
fn as_text(bytes: &[u8]) -> Option<Cow<'_, str>> {
    if bytes.first() == Some(&0x30) {
        return None;
    }
    // Windows PowerShell 5 writes UTF-16 with a byte-order mark by default.
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, u16::from_le_bytes).map(Cow::Owned);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, u16::from_be_bytes).map(Cow::Owned);
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let binary = trim(text).chars().any(|c| c.is_control() && !c.is_whitespace());
    (!binary).then_some(Cow::Borrowed(text))
}

/// White space plus what editors and C programs leave at the ends of a file: a byte-order mark,
/// a NUL terminator, a DOS end-of-file mark.
fn trim(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || matches!(c, '\u{feff}' | '\0' | '\u{1a}'))
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Option<String> {
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    let units = bytes.chunks_exact(2).map(|pair| unit([pair[0], pair[1]]));
    char::decode_utf16(units).collect::<Result<String, _>>().ok()
}

/// Undoes the escaping a certificate picks up on its way to the user: JSON (`\n`, `\/`) and URL
/// escaping (nginx's `$ssl_client_escaped_cert`). Neither `\` nor `%` can occur in PEM or base64,
/// so undoing them never changes a well-formed input.
fn unescape(text: &str) -> Cow<'_, str> {
    let mut text = Cow::Borrowed(text);
    if text.contains('\\') {
        text = Cow::Owned(text.replace("\\r", "\r").replace("\\n", "\n").replace("\\/", "/"));
    }
    let upper = text.to_ascii_uppercase();
    let url_escaped = ["-----BEGIN%20", "%0A", "%0D", "%2B", "%2F", "%3D"].iter().any(|m| upper.contains(m));
    if url_escaped {
        text = Cow::Owned(percent_decode(&text));
    }
    text
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: Option<&u8>| b.and_then(|&b| char::from(b).to_digit(16));
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let (Some(hi), Some(lo)) = (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                // Both digits are below 16, so the byte cannot overflow.
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// OpenSSH and PuTTY keys are not base64 DER; recognise them so the user hears what they sent.
fn refuse_ssh_key(text: &str) -> Option<CertificateError> {
    if text.starts_with("PuTTY-User-Key-File-") {
        return Some(CertificateError::PrivateKey { what: "a PuTTY private key (.ppk)".into() });
    }
    let ssh_public = ["ssh-rsa ", "ssh-dss ", "ssh-ed25519 ", "ssh-ed448 ", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"];
    ssh_public.iter().any(|p| text.starts_with(p)).then_some(CertificateError::PublicKey)
}

const BASE64_CONFIG: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const BASE64_STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, BASE64_CONFIG);
const BASE64_URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, BASE64_CONFIG);

/// Base64 as people paste it: white space anywhere, padding optional, standard or URL-safe
/// alphabet. The error says what is wrong, in words.
fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    let is_base64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_' | '=');
    for (line_no, line) in text.lines().enumerate() {
        if let Some((col, bad)) = line.chars().enumerate().find(|&(_, c)| !is_base64(c) && !c.is_whitespace()) {
            return Err(format!("{bad:?} at line {}, column {} is not a base64 character", line_no + 1, col + 1));
        }
    }
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let standard = compact.contains(['+', '/']);
    let url_safe = compact.contains(['-', '_']);
    let engine = match (standard, url_safe) {
        (true, true) => return Err("it mixes the standard (+ /) and URL-safe (- _) base64 alphabets".into()),
        (false, true) => &BASE64_URL_SAFE,
        _ => &BASE64_STANDARD,
    };
    let bytes = engine.decode(&compact).map_err(|e| match e {
        DecodeError::InvalidByte(_, b'=') => "it has '=' padding before its end".to_owned(),
        DecodeError::InvalidByte(_, b) => format!("{:?} is not a base64 character", char::from(b)),
        DecodeError::InvalidLength(_) | DecodeError::InvalidLastSymbol(..) => {
            "its length is impossible for base64: characters are missing or extra (was it cut short?)".to_owned()
        }
        DecodeError::InvalidPadding => "its '=' padding is wrong".to_owned(),
    })?;
    if bytes.is_empty() {
        return Err("it holds no data".into());
    }
    Ok(bytes)
}

// ---------------------------------------------------------------------------------------------
// PEM
//
// x509_parser::pem is not used here: it needs each delimiter at the start of its own line, and
// when a body fails to decode it loses the label — and the label is what tells a damaged private
// key (which must be refused as a key) from a damaged certificate.

const BEGIN: &str = "-----BEGIN ";
const END: &str = "-----END ";
const DASHES: &str = "-----";
/// Real labels are short ("ENCRYPTED PRIVATE KEY"); a longer one means the closing dashes are missing.
const MAX_LABEL: usize = 64;

struct PemBlock<'a> {
    label: &'a str,
    /// The base64 body, or what is wrong with the block's framing.
    body: Result<&'a str, String>,
}

fn parse_pem(text: &str) -> Result<Parsed, CertificateError> {
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

fn damaged(reason: String) -> CertificateError {
    CertificateError::DamagedPem { reason }
}

fn decode_block(block: &PemBlock) -> Result<Vec<u8>, CertificateError> {
    let body = block.body.as_ref().map_err(|reason| damaged(reason.clone()))?;
    decode_base64(body)
        .map_err(|reason| damaged(format!("the base64 inside the {} block is invalid: {reason}", block.label)))
}

fn is_certificate_label(label: &str) -> bool {
    ["CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"].iter().any(|l| label.eq_ignore_ascii_case(l))
}

fn refusal_for_label(label: &str) -> CertificateError {
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
fn pem_blocks(text: &str) -> Vec<PemBlock<'_>> {
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
fn markers(text: &str) -> Vec<(usize, bool)> {
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
fn marker_label(after: &str) -> Option<(&str, usize)> {
    let window = after.char_indices().nth(MAX_LABEL + DASHES.len()).map_or(after, |(i, _)| &after[..i]);
    let len = window.find(DASHES)?;
    let label = &window[..len];
    (!label.contains(['\r', '\n'])).then(|| (label.trim(), len))
}

// ---------------------------------------------------------------------------------------------
// DER

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

/// One BER element, read leniently: indefinite lengths and truncation are tolerated because
/// sniffing only needs the first few elements to name what the user sent.
struct Tlv<'a> {
    class: Class,
    tag: Tag,
    body: &'a [u8],
}

impl Tlv<'_> {
    fn is(&self, tag: Tag) -> bool {
        self.class == Class::Universal && self.tag == tag
    }

    fn is_integer(&self, value: u8) -> bool {
        self.is(Tag::Integer) && self.body == [value]
    }

    fn first_child(&self) -> Option<Tlv<'_>> {
        children(self.body, 1).into_iter().next()
    }

    /// AlgorithmIdentifier: a SEQUENCE starting with an OID.
    fn is_algorithm(&self) -> bool {
        self.is(Tag::Sequence) && self.first_child().is_some_and(|c| c.is(Tag::Oid))
    }
}

fn tlv(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (rest, header) = Header::from_ber(input).ok()?;
    let (body, next) = match header.length() {
        Length::Definite(n) if n <= rest.len() => rest.split_at(n),
        // Indefinite or cut short: the body runs to the end of what we have.
        _ => (rest, &[][..]),
    };
    Some((Tlv { class: header.class(), tag: header.tag(), body }, next))
}

fn children(body: &[u8], max: usize) -> Vec<Tlv<'_>> {
    let mut out = Vec::new();
    let mut rest = body;
    while out.len() < max {
        match tlv(rest) {
            Some((child, _)) if child.is(Tag::EndOfContent) => break,
            Some((child, next)) => {
                out.push(child);
                rest = next;
            }
            None => break,
        }
    }
    out
}

/// OIDs 1.2.840.113549.1.7.x (PKCS#7) and 1.2.840.113549.1.9.16.1.x (CMS content types).
fn is_pkcs7_oid(oid: &Tlv) -> bool {
    const PKCS7: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07];
    const CMS: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x10, 0x01];
    oid.is(Tag::Oid)
        && ((oid.body.len() == PKCS7.len() + 1 && oid.body.starts_with(PKCS7))
            || (oid.body.len() == CMS.len() + 1 && oid.body.starts_with(CMS)))
}

/// Names what a DER blob is when it is not a certificate, from its outer shape alone.
fn sniff(der: &[u8]) -> Option<CertificateError> {
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

// ---------------------------------------------------------------------------------------------
// Certificate details

fn hex_digest(algorithm: &'static digest::Algorithm, data: &[u8]) -> String {
    hex::encode(digest::digest(algorithm, data))
}

fn describe(cert: &X509Certificate<'_>, der: &[u8]) -> Result<CertificateInfo, CertificateError> {
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
fn serial_hex(raw: &[u8]) -> String {
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

/// (short name, value) pairs in certificate order, values decoded to text.
fn attributes(name: &X509Name<'_>) -> Vec<(String, String)> {
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
fn openssl_rfc2253(name: &X509Name<'_>) -> String {
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
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, DnValue, IsCa, Issuer, KeyPair, PublicKeyData, SanType,
        SerialNumber,
    };
    use time::macros::datetime;

    // --- fixtures -----------------------------------------------------------------------------

    struct Pki {
        ca_der: Vec<u8>,
        leaf_der: Vec<u8>,
        leaf_pem: String,
        leaf_key: KeyPair,
    }

    fn name(parts: &[(DnType, &str)]) -> rcgen::DistinguishedName {
        let mut dn = rcgen::DistinguishedName::new();
        for (ty, value) in parts {
            dn.push(ty.clone(), *value);
        }
        dn
    }

    /// A CA (P-256) and a leaf (Ed25519) it signed, with DNS, e-mail and URI SANs.
    fn pki() -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::default();
        ca.distinguished_name = name(&[
            (DnType::CountryName, "US"),
            (DnType::OrganizationName, "Contoso"),
            (DnType::CommonName, "Contoso CA"),
        ]);
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

    fn self_signed(params: CertificateParams, key: &KeyPair) -> Vec<u8> {
        params.self_signed(key).unwrap().der().to_vec()
    }

    fn b64(der: &[u8]) -> String {
        STANDARD.encode(der)
    }

    fn wrap(text: &str, width: usize, separator: &str) -> String {
        let lines: Vec<&str> = text.as_bytes().chunks(width).map(|c| std::str::from_utf8(c).unwrap()).collect();
        lines.join(separator)
    }

    fn text_ok(input: &str) -> Parsed {
        Certificate::parse_text(input).unwrap_or_else(|e| panic!("{e} for {input:?}"))
    }

    fn text_code(input: &str) -> &'static str {
        match Certificate::parse_text(input) {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    }

    fn bytes_code(input: &[u8]) -> &'static str {
        match Certificate::parse_bytes(input) {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    }

    /// DER TLV with a definite length, for hand-built structures.
    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
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

    fn seq(parts: &[&[u8]]) -> Vec<u8> {
        tlv(0x30, &parts.concat())
    }

    const OID_DATA: &[u8] = &[0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01];
    const OID_SIGNED_DATA: &[u8] = &[0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];

    /// A certificate with the given subject Name DER, assembled by hand: the parser never checks
    /// signatures, and this is the only way to get multi-valued RDNs and repeated attributes.
    fn cert_with_subject(subject: &[u8]) -> Vec<u8> {
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

    fn atv(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
        seq(&[&tlv(0x06, oid), &tlv(tag, value)])
    }

    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const O: &[u8] = &[0x55, 0x04, 0x0A];
    const OU: &[u8] = &[0x55, 0x04, 0x0B];
    const C: &[u8] = &[0x55, 0x04, 0x06];
    const DC: &[u8] = &[0x09, 0x92, 0x26, 0x89, 0x93, 0xF2, 0x2C, 0x64, 0x01, 0x19];
    const EMAIL: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x01];
    const UNKNOWN: &[u8] = &[0x2A, 0x03, 0x04];

    // --- accepted forms -----------------------------------------------------------------------

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
    fn base64_wrapped_at_64_and_76_columns() {
        let pki = pki();
        for width in [64, 76] {
            for newline in ["\n", "\r\n"] {
                let text = wrap(&b64(&pki.leaf_der), width, newline);
                assert_eq!(text_ok(&text).certificate.der(), pki.leaf_der, "width {width}");
            }
        }
    }

    #[test]
    fn base64_with_spaces_and_tabs() {
        let pki = pki();
        let text = format!("  {}\t\n", wrap(&b64(&pki.leaf_der), 7, " \t "));
        assert_eq!(text_ok(&text).certificate.der(), pki.leaf_der);
    }

    #[test]
    fn base64_unpadded_and_url_safe() {
        let pki = pki();
        let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&pki.leaf_der);
        assert_eq!(text_ok(&unpadded).certificate.der(), pki.leaf_der);
        let url_safe = base64::engine::general_purpose::URL_SAFE.encode(&pki.leaf_der);
        assert_eq!(text_ok(&url_safe).certificate.der(), pki.leaf_der);
    }

    #[test]
    fn iis_one_line_form() {
        let pki = pki();
        let parsed = text_ok(&b64(&pki.leaf_der));
        assert_eq!(parsed.certificate.der(), pki.leaf_der);
    }

    #[test]
    fn raw_der_through_parse_bytes() {
        let pki = pki();
        let parsed = Certificate::parse_bytes(&pki.leaf_der).unwrap();
        assert_eq!(parsed.certificate.der(), pki.leaf_der);
        assert_eq!(Certificate::from_der(&pki.leaf_der).unwrap(), parsed.certificate);
    }

    #[test]
    fn text_through_parse_bytes() {
        let pki = pki();
        let from_pem = Certificate::parse_bytes(pki.leaf_pem.as_bytes()).unwrap();
        assert_eq!(from_pem.certificate.der(), pki.leaf_der);
        let with_bom = [&[0xEF, 0xBB, 0xBF][..], pki.leaf_pem.as_bytes()].concat();
        assert_eq!(Certificate::parse_bytes(&with_bom).unwrap().certificate.der(), pki.leaf_der);
        let from_base64 = Certificate::parse_bytes(b64(&pki.leaf_der).as_bytes()).unwrap();
        assert_eq!(from_base64.certificate.der(), pki.leaf_der);
        // What Windows PowerShell's Out-File writes: UTF-16LE with a byte-order mark.
        let utf16: Vec<u8> =
            [0xFF, 0xFE].into_iter().chain(pki.leaf_pem.encode_utf16().flat_map(u16::to_le_bytes)).collect();
        assert_eq!(Certificate::parse_bytes(&utf16).unwrap().certificate.der(), pki.leaf_der);
    }

    #[test]
    fn file_leftovers_around_the_text() {
        let pki = pki();
        let with_nul = [pki.leaf_pem.as_bytes(), b"\0"].concat();
        assert_eq!(Certificate::parse_bytes(&with_nul).unwrap().certificate.der(), pki.leaf_der);
        let dos_eof = format!("\u{feff}{}\r\n\u{1a}", b64(&pki.leaf_der));
        assert_eq!(text_ok(&dos_eof).certificate.der(), pki.leaf_der);
    }

    #[test]
    fn url_escaped_pem_from_nginx() {
        let pki = pki();
        let escaped: String = pki
            .leaf_pem
            .chars()
            .map(|c| match c {
                'A'..='Z' | 'a'..='z' | '0'..='9' | '-' => c.to_string(),
                other => format!("%{:02X}", other as u32),
            })
            .collect();
        assert!(escaped.starts_with("-----BEGIN%20CERTIFICATE-----%0A"));
        assert_eq!(text_ok(&escaped).certificate.der(), pki.leaf_der);
    }

    #[test]
    fn json_escaped_pem() {
        let pki = pki();
        let escaped = pki.leaf_pem.replace('\n', "\\n").replace('/', "\\/");
        assert_eq!(text_ok(&escaped).certificate.der(), pki.leaf_der);
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
    fn iis_form_is_one_line_and_round_trips() {
        let pki = pki();
        let cert = text_ok(&pki.leaf_pem).certificate;
        let iis = cert.iis_form();
        assert!(!iis.chars().any(char::is_whitespace));
        assert!(!iis.contains("-----"));
        assert_eq!(STANDARD.decode(&iis).unwrap(), pki.leaf_der);
        assert_eq!(text_ok(&iis).certificate, cert);
    }

    // --- details ------------------------------------------------------------------------------

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

    // --- refusals -----------------------------------------------------------------------------

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
    fn not_base64() {
        let err = Certificate::parse_text("hello, world").unwrap_err();
        assert_eq!(err.code(), "invalid-certificate");
        assert!(err.to_string().contains("neither PEM nor base64"), "{err}");
        assert!(err.to_string().contains("','"), "{err}");
        let err = Certificate::parse_text("MIIB\nMII*").unwrap_err();
        assert!(err.to_string().contains("line 2, column 4"), "{err}");
        assert_eq!(text_code("MIIBa+b-"), "invalid-certificate");
        assert_eq!(text_code("MIIBa"), "invalid-certificate");
        assert_eq!(text_code("===="), "invalid-certificate");
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
    fn every_error_has_a_code_and_a_message() {
        let errors = [
            CertificateError::Empty,
            CertificateError::TooLarge { size: 70_000 },
            CertificateError::NotBase64 { reason: "x".into() },
            CertificateError::DamagedPem { reason: "x".into() },
            CertificateError::UnexpectedPem { label: "X509 CRL".into() },
            CertificateError::NotCertificate { reason: "x".into() },
            CertificateError::PrivateKey { what: "a private key".into() },
            CertificateError::Csr,
            CertificateError::Pkcs7,
            CertificateError::Pkcs12,
            CertificateError::PublicKey,
            CertificateError::TrailingData { bytes: 3 },
        ];
        for e in errors {
            assert!(!e.code().is_empty());
            assert!(e.to_string().len() > 20, "{e}");
        }
    }

    // --- robustness ---------------------------------------------------------------------------

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
