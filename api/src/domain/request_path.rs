//! A request path as the backend behind a gateway will serve it — or a refusal.
//!
//! A secured directory is only as safe as the weakest reading of its paths: a gateway that
//! matched `/public/..;/secure/a` as public passes it to a Tomcat that serves `/secure/a`. So a
//! path is either canonicalized exactly as IIS does, or refused (`path-not-canonical`, 400),
//! never passed as "not secured". [`RequestPath::parse`] is the only way in; authorize and
//! resolve decide with it, and the renderers emit the same refusal in each gateway's terms
//! (`render/path.rs`).
//!
//! What IIS does, and this module copies:
//! - http.sys percent-decodes the path once and reads `\` as `/`; empty segments fold away, and
//!   IIS compares paths case-insensitively (`[`directory_for`]`, ASCII folding as
//!   [`fold`](super::names::fold)).
//!   Source: "IIS URL canonicalization" (http.sys decodes `%XX`, converts backslashes), and
//!   every IIS `<location path>` match being case-insensitive.
//!
//! What IIS refuses or reads differently from the backends a gateway fronts, refused here:
//! - a `%` left after decoding once (`%2573`): IIS request filtering with its default
//!   `allowDoubleEscaping="false"` normalizes twice and answers 404.11 when the two differ
//!   (learn.microsoft.com/iis/manage/configuring-security/use-request-filtering); a backend that
//!   decodes twice would serve `/secure` for `/%2573ecure`. Stricter than IIS: any `%` left.
//! - an escape that is no escape (`%zz`, `%u0073`: IIS's non-standard `%u` form).
//! - an encoded separator (`%2f`, `%5c`): backends disagree whether it separates.
//! - `;` (servlet containers strip `;params` from each segment, `..;` becomes `..`), `:`
//!   (`::$DATA` names an NTFS stream: the file's own content), a segment ending in `.` or a
//!   space (Win32 path normalization strips them: `secure.` is `secure`), and `.`/`..` segments
//!   (what they resolve to depends on who resolves them; browsers never send one).
//! - control characters (TAB, NUL, DEL, C1), and bytes that are no UTF-8 (http.sys then falls back
//!   to the ANSI code page, where `%AA` is `ª`).
//! - a non-ASCII character whose NFKC compatibility form or whose case mapping holds ASCII (`ſ`
//!   upper-cases to `S`, the Kelvin sign lower-cases to `k`, fullwidth `ｓ` is `s` under NFKC):
//!   a backend that normalizes or folds Unicode would read it as the ASCII directory name.
//!
//! Refusing is always allowed to be stricter than IIS; canonicalizing is never allowed to differ.

use std::borrow::Cow;
use std::fmt;

use unicode_normalization::UnicodeNormalization;

use super::directory::DirectorySpec;
use super::violation::Rejection;

pub const NOT_CANONICAL: &str = "path-not-canonical";

/// Why a path is refused: one variant per spelling class, so tests and gateways name the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotCanonical {
    NotAbsolute,
    MalformedEscape,
    EncodedSeparator,
    DoubleEncoding,
    PathParameter,
    StreamName,
    DotSegment,
    TrailingDotOrSpace,
    Control,
    NotUtf8,
    Confusable(char),
}

impl fmt::Display for NotCanonical {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAbsolute => f.write_str("the path does not start with \"/\""),
            Self::MalformedEscape => f.write_str("a \"%\" that is not followed by two hex digits"),
            Self::EncodedSeparator => f.write_str("an encoded separator (%2F or %5C)"),
            Self::DoubleEncoding => {
                f.write_str("a \"%\" left after decoding once (double encoding; IIS answers 404.11)")
            }
            Self::PathParameter => f.write_str("a \";\" (servlet containers strip path parameters)"),
            Self::StreamName => f.write_str("a \":\" (Windows reads ::$DATA as the file's stream)"),
            Self::DotSegment => f.write_str("a \".\" or \"..\" segment"),
            Self::TrailingDotOrSpace => f.write_str("a segment ending in \".\" or a space (Windows strips them)"),
            Self::Control => f.write_str("a control character"),
            Self::NotUtf8 => f.write_str("bytes that are not UTF-8"),
            Self::Confusable(c) => {
                write!(f, "{c:?} (U+{:04X}), which Unicode case mapping or NFKC turns into ASCII", u32::from(*c))
            }
        }
    }
}

impl NotCanonical {
    pub fn rejection(self) -> Rejection {
        Rejection::new(
            NOT_CANONICAL,
            format!(
                "the request path holds {self}: certmap refuses a path the backend might read as another directory than the gateway"
            ),
        )
    }
}

/// A decoded request path: `/`-separated, no empty, dot, or suspicious segment. The original
/// letter case is kept; directories are matched with [`fold`](super::names::fold).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPath(String);

impl RequestPath {
    /// `uri` as a gateway sends it (`$request_uri`: still percent-encoded, maybe with a query).
    pub fn parse(uri: &str) -> Result<Self, NotCanonical> {
        let raw = uri.split(['?', '#']).next().unwrap_or_default();
        if !raw.starts_with('/') {
            return Err(NotCanonical::NotAbsolute);
        }
        // Gateways send plain paths on nearly every call: those are checked where they lie.
        let decoded = if raw.contains('%') {
            Cow::Owned(String::from_utf8(decode_once(raw)?).map_err(|_| NotCanonical::NotUtf8)?)
        } else {
            Cow::Borrowed(raw)
        };
        let mut canonical = String::with_capacity(decoded.len());
        for segment in decoded.split(['/', '\\']) {
            check_segment(segment)?;
            if !segment.is_empty() {
                canonical.push('/');
                canonical.push_str(segment);
            }
        }
        if canonical.is_empty() {
            canonical.push('/');
        }
        Ok(Self(canonical))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The directory whose rules apply, as IIS chooses it: the longest directory path that is
    /// this path or a parent of it, compared case-insensitively.
    pub fn directory<'a>(&self, directories: &'a [DirectorySpec]) -> Option<&'a DirectorySpec> {
        // `fold` is ASCII lower case, so comparing bytes ignoring ASCII case is comparing folded
        // names, without folding a copy of each on every call.
        let path = self.0.as_bytes();
        directories
            .iter()
            .filter(|d| {
                let dir = d.path.as_str().as_bytes();
                d.path.is_root()
                    || (path.len() >= dir.len()
                        && path[..dir.len()].eq_ignore_ascii_case(dir)
                        && path.get(dir.len()).is_none_or(|&b| b == b'/'))
            })
            .max_by_key(|d| d.path.as_str().len())
    }
}

fn decode_once(raw: &str) -> Result<Vec<u8>, NotCanonical> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or(NotCanonical::MalformedEscape)?;
        if matches!(byte, b'/' | b'\\') {
            return Err(NotCanonical::EncodedSeparator);
        }
        out.push(byte);
        i += 3;
    }
    Ok(out)
}

fn check_segment(segment: &str) -> Result<(), NotCanonical> {
    if segment == "." || segment == ".." {
        return Err(NotCanonical::DotSegment);
    }
    if segment.ends_with(['.', ' ']) {
        return Err(NotCanonical::TrailingDotOrSpace);
    }
    for c in segment.chars() {
        match c {
            '%' => return Err(NotCanonical::DoubleEncoding),
            ';' => return Err(NotCanonical::PathParameter),
            ':' => return Err(NotCanonical::StreamName),
            '\u{FFFD}' => return Err(NotCanonical::NotUtf8),
            c if c.is_control() => return Err(NotCanonical::Control),
            c if confusable(c) => return Err(NotCanonical::Confusable(c)),
            _ => {}
        }
    }
    Ok(())
}

/// A non-ASCII character some backend may read as ASCII: its NFKC compatibility decomposition,
/// its lower case or its upper case holds an ASCII character.
pub fn confusable(c: char) -> bool {
    if c.is_ascii() {
        return false;
    }
    std::iter::once(c).nfkc().any(|n| n.is_ascii())
        || c.to_lowercase().any(|l| l.is_ascii())
        || c.to_uppercase().any(|u| u.is_ascii())
}

/// Every non-ASCII character a path may not hold (C1 controls, U+FFFD, confusables), as inclusive
/// ranges: what the gateways refuse, byte for byte.
pub fn refused_non_ascii() -> Vec<(char, char)> {
    let refused = |c: char| c.is_control() || c == '\u{FFFD}' || confusable(c);
    let mut ranges: Vec<(char, char)> = Vec::new();
    for c in ('\u{80}'..=char::MAX).filter(|&c| refused(c)) {
        match ranges.last_mut() {
            Some((_, end)) if char::from_u32(u32::from(*end) + 1) == Some(c) => *end = c,
            _ => ranges.push((c, c)),
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::directory::DirectoryPolicy;
    use crate::domain::names::VirtualPath;

    fn parsed(uri: &str) -> Result<String, NotCanonical> {
        RequestPath::parse(uri).map(|p| p.0)
    }

    #[test]
    fn canonicalizes_as_iis_does() {
        for (uri, want) in [
            ("/secure/a", "/secure/a"),
            ("/%73ecure/a?x=/../;", "/secure/a"),
            ("/secure\\a", "/secure/a"),
            ("//secure//a/", "/secure/a"),
            ("/", "/"),
            ("/%C3%A9t%C3%A9", "/été"),
            ("/a%20b/c", "/a b/c"),
            ("/.well-known/x", "/.well-known/x"),
        ] {
            assert_eq!(parsed(uri).as_deref(), Ok(want), "{uri}");
        }
    }

    #[test]
    fn refuses_every_spelling_a_backend_reads_otherwise() {
        use NotCanonical::*;
        for (uri, why) in [
            ("secure", NotAbsolute),
            ("/secure%zz", MalformedEscape),
            ("/secure%2", MalformedEscape),
            ("/%u0073ecure", MalformedEscape),
            ("/secure%2fa", EncodedSeparator),
            ("/secure%5Ca", EncodedSeparator),
            ("/%2573ecure/a", DoubleEncoding),
            ("/secure;x=1/a", PathParameter),
            ("/public/..;/secure/a", PathParameter),
            ("/secure::$DATA", StreamName),
            ("/public/../secure/a", DotSegment),
            ("/../secure", DotSegment),
            ("/secure/./a", DotSegment),
            ("/public/%2e%2e/secure", DotSegment),
            ("/secure./a", TrailingDotOrSpace),
            ("/secure%20/a", TrailingDotOrSpace),
            ("/secure.%20/a", TrailingDotOrSpace),
            ("/secure\\..\\x", DotSegment),
            ("/secure%09/a", Control),
            ("/sec%00ure", Control),
            ("/sec%7Fure", Control),
            ("/sec%C2%85ure", Control),
            ("/%E9t%E9", NotUtf8),
            ("/%EF%BF%BD", NotUtf8),
            ("/%C5%BFecure", Confusable('ſ')),
            ("/%E2%84%AAey", Confusable('\u{212A}')),
            ("/%EF%BD%93ecure", Confusable('ｓ')),
            ("/%C4%B0", Confusable('İ')),
            ("/%C4%B1", Confusable('ı')),
            ("/x%C2%B2", Confusable('²')),
            ("/%C3%9F", Confusable('ß')),
            ("/%EF%AC%81le", Confusable('ﬁ')),
        ] {
            assert_eq!(parsed(uri), Err(why), "{uri}");
        }
    }

    #[test]
    fn other_letters_pass() {
        for c in ['é', 'É', '日', 'Ж', 'ω', '\u{212B}'] {
            assert!(!confusable(c), "{c}");
        }
        let ranges = refused_non_ascii();
        assert!(ranges.iter().any(|&(a, b)| a <= 'ſ' && 'ſ' <= b));
        assert!(ranges.len() < 2000, "{}", ranges.len());
    }

    #[test]
    fn finds_the_directory_like_iis() {
        let dirs: Vec<DirectorySpec> = ["/secure", "/secure/inner", "/public"]
            .iter()
            .map(|p| DirectorySpec { path: VirtualPath::parse(p).unwrap(), policy: DirectoryPolicy::default() })
            .collect();
        let found = |uri: &str| RequestPath::parse(uri).unwrap().directory(&dirs).map(|d| d.path.as_str().to_owned());
        assert_eq!(found("/secure"), Some("/secure".into()));
        assert_eq!(found("/SECURE/page?x=1"), Some("/secure".into()));
        assert_eq!(found("/%73ecure/page"), Some("/secure".into()));
        assert_eq!(found("/secure\\inner\\x"), Some("/secure/inner".into()));
        assert_eq!(found("//secure//inner"), Some("/secure/inner".into()));
        assert_eq!(found("/securefoo"), None, "a prefix of a segment is not the directory");
        assert_eq!(found("/other"), None);
    }
}
