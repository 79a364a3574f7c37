//! Input decoding: the text a certificate arrives as — uploaded bytes in UTF-8 or UTF-16, JSON- or
//! URL-escaped PEM (nginx's `$ssl_client_escaped_cert`), base64 wrapped at any width, SSH keys
//! recognised for what they are.

use std::borrow::Cow;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{DecodeError, Engine as _};

use super::CertificateError;

/// Uploaded bytes that are text, decoded; `None` for binary. Every DER structure a user might send
/// starts with a SEQUENCE tag, 0x30, while PEM and base64 DER never start with '0'; other binary
/// (an OpenSSH key blob, say) holds control bytes that text does not.
pub(super) fn as_text(bytes: &[u8]) -> Option<Cow<'_, str>> {
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
pub(super) fn trim(text: &str) -> &str {
    text.trim_matches(|c: char| c.is_whitespace() || matches!(c, '\u{feff}' | '\0' | '\u{1a}'))
}

pub(super) fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Option<String> {
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    let units = bytes.chunks_exact(2).map(|pair| unit([pair[0], pair[1]]));
    char::decode_utf16(units).collect::<Result<String, _>>().ok()
}

/// Undoes the escaping a certificate picks up on its way to the user: JSON (`\n`, `\/`) and URL
/// escaping (nginx's `$ssl_client_escaped_cert`). Neither `\` nor `%` can occur in PEM or base64,
/// so undoing them never changes a well-formed input.
pub(super) fn unescape(text: &str) -> Cow<'_, str> {
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

pub(super) fn percent_decode(text: &str) -> String {
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
pub(super) fn refuse_ssh_key(text: &str) -> Option<CertificateError> {
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
pub(super) fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    let is_base64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_' | '=');
    // A bulk import reads 100,000 of these: plain ASCII is compacted byte by byte; anything else
    // (a bad character to point at, Unicode white space) takes the character-wise path.
    let ascii_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let compact = if text.bytes().all(|b| is_base64(char::from(b)) || ascii_space(b)) {
        text.bytes().filter(|&b| !ascii_space(b)).map(char::from).collect::<String>()
    } else {
        for (line_no, line) in text.lines().enumerate() {
            if let Some((col, bad)) = line.chars().enumerate().find(|&(_, c)| !is_base64(c) && !c.is_whitespace()) {
                return Err(format!("{bad:?} at line {}, column {} is not a base64 character", line_no + 1, col + 1));
            }
        }
        text.chars().filter(|c| !c.is_whitespace()).collect()
    };
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

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use crate::domain::certificate::fixtures::*;
    use crate::domain::certificate::Certificate;

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
}
