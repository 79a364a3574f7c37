//! What makes a certificate acceptable as a one-to-one mapping, and the small values a mapping
//! carries (descriptions, fingerprints, expiry windows).

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::certificate::{Certificate, Validity};
use super::violation::{Rejection, Violation};

pub const MAX_DESCRIPTION_CHARS: usize = 1024;

/// Refuses certificates IIS would never map: a CA certificate is not a client identity, and an
/// expired or not-yet-valid one fails with 403.17 unless the caller says it knows.
pub fn check_client_certificate(cert: &Certificate, now: OffsetDateTime, allow_expired: bool) -> Result<(), Violation> {
    let info = cert.info();
    if info.is_ca {
        return Err(Rejection::new(
            "certificate-is-ca",
            format!("{} is a CA certificate (basicConstraints cA=true), not a client certificate: map the client certificates it issues instead", info.subject),
        )
        .at("certificate"));
    }
    if allow_expired {
        return Ok(());
    }
    let symptom = "403.17: the client certificate has expired or is not yet valid";
    match cert.validity_at(now) {
        Validity::Valid => Ok(()),
        Validity::Expired => Err(Rejection::new(
            "certificate-expired",
            format!(
                "the certificate expired on {}; pass allow_expired: true to store it anyway",
                rfc3339(info.not_after)
            ),
        )
        .at("certificate")
        .with_symptom(symptom)),
        Validity::NotYetValid => Err(Rejection::new(
            "certificate-not-yet-valid",
            format!(
                "the certificate is not valid before {}; pass allow_expired: true to store it anyway",
                rfc3339(info.not_before)
            ),
        )
        .at("certificate")
        .with_symptom(symptom)),
    }
}

/// A mapping may end before its certificate does, never after.
pub fn parse_expires_at(raw: &str, cert_not_after: OffsetDateTime) -> Result<OffsetDateTime, Violation> {
    let at = OffsetDateTime::parse(raw, &Rfc3339).map_err(|_| {
        Rejection::new(
            "invalid-expires-at",
            format!("{raw:?} is not an RFC 3339 timestamp such as 2027-01-31T00:00:00Z"),
        )
        .at("expires_at")
    })?;
    if at > cert_not_after {
        return Err(Rejection::new(
            "expires-after-certificate",
            format!("expires_at {} is later than the certificate's notAfter {}", rfc3339(at), rfc3339(cert_not_after)),
        )
        .at("expires_at"));
    }
    Ok(at)
}

pub fn parse_description(raw: &str) -> Result<String, Rejection> {
    if raw.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Rejection::new(
            "invalid-description",
            format!("a description has at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    if raw.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(Rejection::new("invalid-description", "a description must not contain control characters"));
    }
    Ok(raw.to_owned())
}

/// A many-to-one mapping's name: IIS's collection key, unique per site.
pub fn parse_mapping_name(raw: &str) -> Result<String, Rejection> {
    if raw.trim().is_empty() || raw.trim() != raw || raw.chars().count() > 255 || raw.chars().any(char::is_control) {
        return Err(Rejection::new(
            "invalid-mapping-name",
            "a many-to-one mapping name is 1 to 255 characters, without control characters or surrounding white space",
        ));
    }
    Ok(raw.to_owned())
}

/// A SHA-1 (40) or SHA-256 (64) hex fingerprint in any of the usual spellings
/// (`AB:CD…`, `ab cd…`, upper or lower case), normalized to lowercase hex.
pub fn parse_fingerprint(raw: &str) -> Result<String, Rejection> {
    Fingerprint::parse(raw).map(|f| f.to_hex())
}

/// A certificate's SHA-256 or SHA-1, as bytes: how a gateway that verified the client names it
/// to authorize. Parsed without allocating, since that happens on every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fingerprint {
    Sha256([u8; 32]),
    Sha1([u8; 20]),
}

impl Fingerprint {
    /// Any spelling [`parse_fingerprint`] accepts.
    pub fn parse(raw: &str) -> Result<Self, Rejection> {
        let invalid = || {
            Rejection::new(
                "invalid-fingerprint",
                "a fingerprint is the SHA-1 (40 hex digits) or SHA-256 (64 hex digits) of the certificate",
            )
        };
        // What gateways send: plain hex, read in one go.
        let mut bytes = [0u8; 32];
        match raw.len() {
            64 if hex::decode_to_slice(raw, &mut bytes).is_ok() => return Ok(Self::Sha256(bytes)),
            40 if hex::decode_to_slice(raw, &mut bytes[..20]).is_ok() => {
                return Ok(Self::Sha1(bytes[..20].try_into().expect("20 bytes")))
            }
            _ => bytes = [0; 32],
        }
        let mut digits = 0;
        for b in raw.bytes().filter(|b| !matches!(b, b':' | b' ' | b'-')) {
            let value = (b as char).to_digit(16).ok_or_else(invalid)? as u8;
            let byte = bytes.get_mut(digits / 2).ok_or_else(invalid)?;
            *byte |= if digits % 2 == 0 { value << 4 } else { value };
            digits += 1;
        }
        match digits {
            64 => Ok(Self::Sha256(bytes)),
            40 => Ok(Self::Sha1(bytes[..20].try_into().expect("20 bytes"))),
            _ => Err(invalid()),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Sha256(b) => b,
            Self::Sha1(b) => b,
        }
    }

    /// Lowercase hex, as certmap stores fingerprints.
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }
}

/// `30d`, `12h`, `2w`, `90m`: a window such as "expiring within 30 days".
pub fn parse_window(raw: &str) -> Result<Duration, Rejection> {
    let bad = || Rejection::new("invalid-duration", format!("{raw:?} is not a duration such as 30d, 12h, 2w or 90m"));
    if !raw.is_ascii() {
        return Err(bad());
    }
    let (digits, unit) = raw.split_at(raw.len().saturating_sub(1));
    let n: i64 = digits.parse().map_err(|_| bad())?;
    if !(0..=36_500).contains(&n) {
        return Err(bad());
    }
    match unit {
        "m" => Ok(Duration::minutes(n)),
        "h" => Ok(Duration::hours(n)),
        "d" => Ok(Duration::days(n)),
        "w" => Ok(Duration::weeks(n)),
        _ => Err(bad()),
    }
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_in_any_spelling() {
        let sha1 = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01";
        assert_eq!(parse_fingerprint(sha1).unwrap(), "abcdef0123456789abcdef0123456789abcdef01");
        assert_eq!(parse_fingerprint(&"a".repeat(64)).unwrap().len(), 64);
        assert_eq!(parse_fingerprint("AB:cd-EF 01".repeat(8).as_str()).unwrap(), "abcdef01".repeat(8));
        for bad in ["", "abc", &"g".repeat(40), &"a".repeat(41)] {
            assert_eq!(parse_fingerprint(bad).unwrap_err().code, "invalid-fingerprint", "{bad:?}");
        }
    }

    #[test]
    fn windows() {
        assert_eq!(parse_window("30d").unwrap(), Duration::days(30));
        assert_eq!(parse_window("12h").unwrap(), Duration::hours(12));
        assert_eq!(parse_window("2w").unwrap(), Duration::weeks(2));
        for bad in ["", "d", "30", "30y", "-1d", "99999999d", "1.5d", "1é", "é"] {
            assert_eq!(parse_window(bad).unwrap_err().code, "invalid-duration", "{bad:?}");
        }
    }

    #[test]
    fn descriptions() {
        assert!(parse_description("line one\nline two").is_ok());
        assert_eq!(parse_description("bell\u{7}").unwrap_err().code, "invalid-description");
        assert_eq!(parse_description(&"x".repeat(1025)).unwrap_err().code, "invalid-description");
    }

    #[test]
    fn expires_at_must_not_outlive_the_certificate() {
        let not_after = OffsetDateTime::parse("2030-01-01T00:00:00Z", &Rfc3339).unwrap();
        assert!(parse_expires_at("2029-06-01T00:00:00Z", not_after).is_ok());
        assert_eq!(parse_expires_at("2031-01-01T00:00:00Z", not_after).unwrap_err().code, "expires-after-certificate");
        assert_eq!(parse_expires_at("tomorrow", not_after).unwrap_err().code, "invalid-expires-at");
    }
}
