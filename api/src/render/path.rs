//! Which directory governs a request, and the case-insensitive path regex the gateways use.
//!
//! IIS compares paths case-insensitively, gateways compare bytes. A secured `/secure` that a
//! gateway matches case-sensitively is open at `/SECURE`, so every gateway matches directories
//! with a regex whose letters are spelled as `[sS]` classes (and non-ASCII letters as
//! alternations of their UTF-8 forms), never with a flag whose reach differs between PCRE builds.

use std::fmt::Write as _;
use std::sync::OnceLock;

use regex_syntax::utf8::Utf8Sequences;

use crate::domain::directory::DirectorySpec;
use crate::domain::names::VirtualPath;
use crate::domain::request_path::refused_non_ascii;

/// What a gateway refuses with 400, the same paths [`RequestPath::parse`] refuses, as PCRE over
/// bytes (nginx, HAProxy and Apache compile without UTF mode, so a non-ASCII character is its
/// UTF-8 bytes).
///
/// [`RequestPath::parse`]: crate::domain::request_path::RequestPath::parse
pub(crate) struct Refusals {
    /// Matches a raw path (still percent-encoded; a query may follow) that is refused: see
    /// [`raw_pcre`].
    pub raw: String,
    /// Matches a decoded path that is refused: control characters, `%` (double encoding), `;`,
    /// `:`, a segment ending in `.` or a space, and every refused non-ASCII character.
    pub decoded: String,
    /// Matches a decoded path that is valid UTF-8; one that does not match is refused.
    pub utf8: &'static str,
}

const DECODED_ASCII: &str = r"[\x00-\x1f\x7f%;:]|[. ](?:[/\\]|$)";
const UTF8: &str = r"^(?:[\x00-\x7f]|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}|\xf4[\x80-\x8f][\x80-\xbf]{2})*$";

/// Computed once: finding the refused characters walks all of Unicode.
pub(crate) fn refusals() -> &'static Refusals {
    static REFUSALS: OnceLock<Refusals> = OnceLock::new();
    REFUSALS.get_or_init(|| Refusals {
        raw: raw_pcre(r"^[^?]*", r"[/\\?]|$"),
        decoded: decoded_pcre_parts(usize::MAX).join("|"),
        utf8: UTF8,
    })
}

/// Matches a raw path that is refused: a malformed escape, an encoded separator, or a segment
/// ending in `.` (`.` and `..` segments too, which a gateway may have resolved before its decoded
/// path is seen), `%2e` or `%20`. `prefix` reaches each character of the path and nothing
/// after it; `end` is what may follow a segment.
pub(crate) fn raw_pcre(prefix: &str, end: &str) -> String {
    format!(r"{prefix}(?:%(?![0-9a-fA-F]{{2}})|%(?:2[fF]|5[cC])|(?:\.|%2[eE]|%20)(?:{end}))")
}

/// The decoded refusal as alternatives joined into parts of at most `max` bytes each, for
/// gateways whose configuration lines are short (HAProxy's are 2,048 bytes).
pub(crate) fn decoded_pcre_parts(max: usize) -> Vec<String> {
    let mut alternatives = vec![DECODED_ASCII.to_owned()];
    for (first, last) in refused_non_ascii() {
        for seq in Utf8Sequences::new(first, last) {
            let mut alt = String::new();
            for r in seq.as_slice() {
                if r.start == r.end {
                    let _ = write!(alt, r"\x{:02x}", r.start);
                } else {
                    let _ = write!(alt, r"[\x{:02x}-\x{:02x}]", r.start, r.end);
                }
            }
            alternatives.push(alt);
        }
    }
    let mut parts: Vec<String> = Vec::new();
    for alt in alternatives {
        match parts.last_mut() {
            Some(part) if part.len() + 1 + alt.len() <= max => {
                part.push('|');
                part.push_str(&alt);
            }
            _ => parts.push(alt),
        }
    }
    parts
}

/// [`Refusals`] for Go's regexp (Caddy): no lookahead, and runes rather than bytes.
pub(crate) struct GoRefusals {
    /// Matches a raw request URI that is refused, as [`raw_pcre`] without the malformed escape,
    /// which Go's HTTP server answers with 400 itself.
    pub raw: &'static str,
    /// Matches a decoded path that is refused; a byte that is no UTF-8 reads as U+FFFD, refused.
    pub decoded: String,
}

pub(crate) fn refusals_go() -> &'static GoRefusals {
    static GO: OnceLock<GoRefusals> = OnceLock::new();
    GO.get_or_init(|| {
        let mut class = String::from(r"[\x00-\x1f\x7f%;:");
        for (first, last) in refused_non_ascii() {
            let _ = write!(class, r"\x{{{:x}}}-\x{{{:x}}}", u32::from(first), u32::from(last));
        }
        class.push_str(r"]|[. ](?:[/\\]|$)");
        GoRefusals { raw: r"^[^?]*(?:%(?:2[fF]|5[cC])|(?:\.|%2[eE]|%20)(?:[/\\?]|$))", decoded: class }
    })
}

/// `^/a/b(?:/|$)`: the directory itself and everything under it, nothing that merely starts with
/// the same letters (`/secure` must not cover `/secured`). The root is `^/`. Every separator is
/// `[/\\]+`: IIS reads a backslash as a slash and collapses repeated ones, so `//secure` and
/// `/secure\x` reach the same directory there and must be secured at the gateway too.
pub(crate) fn path_regex(path: &VirtualPath) -> String {
    const SEP: &str = r"[/\\]+";
    if path.is_root() {
        return format!("^{SEP}");
    }
    let mut out = String::from("^");
    for c in path.as_str().chars() {
        if c == '/' {
            out.push_str(SEP);
        } else {
            push_caseless(&mut out, c);
        }
    }
    out.push_str(&format!("(?:{SEP}|$)"));
    out
}

/// [`path_regex`] for Go's regexp (Caddy), which accepts a backslash before punctuation only: an
/// escaped space becomes `\x20`, and a quote `\x22` so the regex needs no quote of its own in a
/// Caddyfile string; everything else reads the same in both dialects.
pub(crate) fn path_regex_go(path: &VirtualPath) -> String {
    let pcre = path_regex(path);
    let mut out = String::with_capacity(pcre.len());
    let mut chars = pcre.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '\\' {
            match chars.next() {
                Some(' ') => out.replace_range(out.len() - 1.., r"\x20"),
                Some('"') => out.replace_range(out.len() - 1.., r"\x22"),
                Some(next) => out.push(next),
                None => {}
            }
        }
    }
    out
}

/// One character of a literal, matching it in any case IIS would.
fn push_caseless(out: &mut String, c: char) {
    if c.is_ascii_alphabetic() {
        out.push('[');
        out.push(c.to_ascii_lowercase());
        out.push(c.to_ascii_uppercase());
        out.push(']');
    } else if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
        out.push(c);
    } else if c.is_ascii() {
        // PCRE: a backslash before any non-alphanumeric ASCII character makes it literal.
        out.push('\\');
        out.push(c);
    } else {
        let mut forms = vec![c];
        for f in [single(c.to_lowercase()), single(c.to_uppercase())].into_iter().flatten() {
            if !forms.contains(&f) {
                forms.push(f);
            }
        }
        if forms.len() == 1 {
            out.push(c);
        } else {
            out.push_str("(?:");
            for (i, f) in forms.iter().enumerate() {
                if i > 0 {
                    out.push('|');
                }
                out.push(*f);
            }
            out.push(')');
        }
    }
}

fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
    let first = it.next()?;
    it.next().is_none().then_some(first)
}

/// Directories from the most specific to the least: a gateway that takes the first match then
/// applies the innermost directory, as IIS does with nested `<location>`s.
pub(crate) fn innermost_first(dirs: &[DirectorySpec]) -> Vec<&DirectorySpec> {
    let mut out: Vec<&DirectorySpec> = dirs.iter().collect();
    out.sort_by(|a, b| depth(&b.path).cmp(&depth(&a.path)).then_with(|| a.path.as_str().cmp(b.path.as_str())));
    out
}

fn depth(p: &VirtualPath) -> usize {
    if p.is_root() {
        0
    } else {
        p.as_str().matches('/').count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vp(s: &str) -> VirtualPath {
        VirtualPath::parse(s).unwrap()
    }

    #[test]
    fn regex_is_caseless_bounded_and_escaped() {
        let sep = r"[/\\]+";
        let with_sep = |s: &str| s.replace('/', sep);
        assert_eq!(path_regex(&vp("/")), format!("^{sep}"));
        assert_eq!(path_regex(&vp("/Secure")), with_sep("^/[sS][eE][cC][uU][rR][eE](?:/|$)"));
        assert_eq!(path_regex(&vp("/a.b/$x{1};'(")), format!(r"^{sep}[aA]\.[bB]{sep}\$[xX]\{{1\}}\;\'\((?:{sep}|$)"));
        assert_eq!(path_regex(&vp("/été")), with_sep("^/(?:é|É)[tT](?:é|É)(?:/|$)"));
        // No case pair, or a multi-character case mapping: the character alone.
        assert_eq!(path_regex(&vp("/日ß")), with_sep("^/日ß(?:/|$)"));
    }

    #[test]
    fn regex_matches_what_iis_would_serve_from_the_directory() {
        let re = path_regex(&vp("/Secure/App"));
        for (p, want) in [
            ("/secure/app", true),
            ("/SECURE/APP/x", true),
            ("//secure\\app", true),
            ("/secure/app\\", true),
            ("/secure/application", false),
            ("/secure", false),
            ("/x/secure/app", false),
        ] {
            match crate::render::realcheck::pcre_matches(&re, p) {
                Some(got) => assert_eq!(got, want, "{re} on {p}"),
                None => return crate::render::realcheck::no_pcre(),
            }
        }
    }

    #[test]
    fn go_dialect_spells_an_escaped_space_in_hex() {
        let re = path_regex_go(&vp("/a b/c"));
        assert!(re.contains(r"[aA]\x20[bB]"), "{re}");
        assert!(!re.contains(r"\ "), "{re}");
        assert_eq!(path_regex_go(&vp("/secure")), path_regex(&vp("/secure")));
    }

    #[test]
    fn innermost_directories_come_first() {
        let d = |p: &str| DirectorySpec { path: vp(p), policy: Default::default() };
        let dirs = [d("/"), d("/a"), d("/a/b"), d("/c")];
        let order: Vec<&str> = innermost_first(&dirs).iter().map(|d| d.path.as_str()).collect();
        assert_eq!(order, ["/a/b", "/a", "/c", "/"]);
    }
}
