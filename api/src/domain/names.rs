//! Names and paths as IIS and the gateways understand them. Each newtype's constructor is the only
//! way in, so a value that exists has already passed IIS's own rules.

use std::fmt;

use super::violation::Rejection;

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// How names are compared everywhere — site names in scopes, lookups and uniqueness, account and
/// rule names: ASCII letters fold, nothing else does. The database's `certmap_fold()` is the same
/// function, so a check in Rust and a lookup in SQL never disagree (Unicode lowercasing maps the
/// Kelvin sign to `k` and `İ` to two characters; PostgreSQL's `lower()` follows the locale).
pub fn fold(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// An IIS site name ("Default Web Site"). IIS compares names case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteName(String);

impl SiteName {
    pub const MAX_CHARS: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, Rejection> {
        let fail = |m: &str| Err(Rejection::new("invalid-site-name", m));
        if raw.is_empty() {
            return fail("a site name must not be empty");
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return fail("a site name has at most 255 characters");
        }
        if raw.trim() != raw {
            return fail("a site name must not start or end with white space (IIS Manager refuses it)");
        }
        if raw.contains(['/', '?']) {
            return fail("a site name must not contain '/' or '?': IIS uses them to separate the site from its paths");
        }
        if has_control(raw) {
            return fail("a site name must not contain control characters");
        }
        if raw == "." || raw == ".." {
            return fail(
                "a site name must not be '.' or '..': <location path=\".\"> is the server level in IIS, not a site",
            );
        }
        Ok(Self(raw.to_owned()))
    }

    /// A name for a new or renamed site: also refuses names a gateway's `X-Certmap-Site` would read
    /// as a site id (`2`, `+1`, `0001`) or as the explicit `id:`/`name:` forms, so a header never
    /// means two sites. Stored names from before this rule still load through [`SiteName::parse`];
    /// lint reports them.
    pub fn parse_new(raw: &str) -> Result<Self, Rejection> {
        let name = Self::parse(raw)?;
        if name.reads_as_site_key() {
            return Err(Rejection::new(
                "ambiguous-site-name",
                format!(
                    "{raw:?} reads as a site id in X-Certmap-Site: a site name must not be an integer or start with \"id:\" or \"name:\""
                ),
            ));
        }
        Ok(name)
    }

    /// True when `X-Certmap-Site: <this name>` would not name this site by name.
    pub fn reads_as_site_key(&self) -> bool {
        let s = self.0.as_str();
        let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
        let integer = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        let prefixed =
            ["id:", "name:"].iter().any(|p| s.get(..p.len()).is_some_and(|head| head.eq_ignore_ascii_case(p)));
        integer || prefixed
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a gateway names a site in `X-Certmap-Site`: `id:N`, `name:S`, or bare — an integer is an
/// id, anything else a name (new sites cannot have integer names, see [`SiteName::parse_new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteKey {
    Id(i64),
    Name(String),
}

impl SiteKey {
    pub fn parse(raw: &str) -> Result<Self, Rejection> {
        let bad_id = || {
            Rejection::new("invalid-site-key", format!("{raw:?}: after \"id:\" comes a site id (a positive integer)"))
        };
        let head = |p: &str| raw.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
        if head("id:") {
            let id = raw[3..].parse::<i64>().ok().filter(|id| *id > 0 && raw[3..].bytes().all(|b| b.is_ascii_digit()));
            return id.map(Self::Id).ok_or_else(bad_id);
        }
        if head("name:") {
            return Ok(Self::Name(raw[5..].to_owned()));
        }
        match raw.parse::<i64>() {
            Ok(id) => Ok(Self::Id(id)),
            Err(_) => Ok(Self::Name(raw.to_owned())),
        }
    }
}

impl fmt::Display for SiteName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A virtual path inside a site, normalized to a leading `/` and no trailing `/` ("/" is the site
/// root). Characters IIS request filtering or Windows file names refuse are refused here too, so a
/// path that is saved is one IIS can serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualPath(String);

impl VirtualPath {
    pub const MAX_CHARS: usize = 1024;
    const FORBIDDEN: [char; 10] = ['\\', '?', '#', '%', '<', '>', ':', '"', '|', '*'];

    pub fn parse(raw: &str) -> Result<Self, Rejection> {
        let fail = |m: String| Err(Rejection::new("invalid-path", m));
        if raw.is_empty() {
            return fail("a path must not be empty; use \"/\" for the site root".into());
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return fail(format!("a path has at most {} characters", Self::MAX_CHARS));
        }
        if has_control(raw) {
            return fail("a path must not contain control characters".into());
        }
        if let Some(c) = raw.chars().find(|c| Self::FORBIDDEN.contains(c)) {
            return fail(format!(
                "a path must not contain {c:?}: IIS refuses it in a URL path (give the path decoded, without percent-encoding)"
            ));
        }
        if raw == "/" {
            return Ok(Self("/".into()));
        }
        let trimmed = raw.strip_prefix('/').unwrap_or(raw);
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        for segment in trimmed.split('/') {
            match segment {
                "" => return fail("a path must not contain an empty segment (\"//\")".into()),
                "." | ".." => return fail("a path must not contain \".\" or \"..\" segments".into()),
                s if s.trim() != s => return fail("a path segment must not start or end with white space".into()),
                _ => {}
            }
        }
        Ok(Self(format!("/{trimmed}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The `<location path>` IIS uses for this directory: the site name, then the path without its
    /// leading slash.
    pub fn location(&self, site: &SiteName) -> String {
        if self.is_root() {
            site.as_str().to_owned()
        } else {
            format!("{}{}", site.as_str(), self.0)
        }
    }
}

impl fmt::Display for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A host name a site answers to (an IIS binding's host header), lowercased. A leading `*.`
/// wildcard is allowed as in IIS 10 bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hostname(String);

impl Hostname {
    pub fn parse(raw: &str) -> Result<Self, Rejection> {
        let fail = || {
            Err(Rejection::new(
                "invalid-hostname",
                format!("{raw:?} is not a host name: use letters, digits, '-' and '.', labels of at most 63 characters, optionally starting with \"*.\""),
            ))
        };
        let lower = raw.to_ascii_lowercase();
        let body = lower.strip_prefix("*.").unwrap_or(&lower);
        if body.is_empty() || lower.len() > 253 {
            return fail();
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if !body.split('.').all(label_ok) {
            return fail();
        }
        Ok(Self(lower))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters Windows refuses in a sAMAccountName or a NetBIOS domain name.
const ACCOUNT_FORBIDDEN: [char; 15] = ['"', '/', '\\', '[', ']', ':', ';', '|', '=', ',', '+', '*', '?', '<', '>'];

/// A Windows logon domain (NetBIOS `CONTOSO` or DNS `contoso.com`), as IIS's `defaultLogonDomain`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogonDomain(String);

impl LogonDomain {
    /// Empty means "no default domain", IIS's default.
    pub fn parse(raw: &str) -> Result<Self, Rejection> {
        if raw.is_empty() {
            return Ok(Self::default());
        }
        if raw.len() > 255
            || raw.trim() != raw
            || has_control(raw)
            || raw.contains(ACCOUNT_FORBIDDEN)
            || raw.contains(' ')
        {
            return Err(Rejection::new(
                "invalid-logon-domain",
                format!("{raw:?} is not a Windows domain name (NetBIOS like CONTOSO or DNS like contoso.com)"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Windows account as IIS's `userName` takes it: `DOMAIN\user`, `user@domain` or `user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    pub fn parse(raw: &str) -> Result<Self, Rejection> {
        let fail = |m: String| Err(Rejection::new("invalid-user-name", m));
        if raw.is_empty() {
            return fail("a user name must not be empty".into());
        }
        if raw.chars().count() > 256 {
            return fail("a user name has at most 256 characters".into());
        }
        if raw.trim() != raw || has_control(raw) {
            return fail("a user name must not contain control characters or start or end with white space".into());
        }
        let (domain, account) = match (raw.split_once('\\'), raw.split_once('@')) {
            (Some(_), Some(_)) => return fail(format!("{raw:?} mixes DOMAIN\\user and user@domain forms; use one")),
            (Some((d, a)), None) => (Some(d), a),
            (None, Some((a, d))) => (Some(d), a),
            (None, None) => (None, raw),
        };
        if let Some(d) = domain {
            if LogonDomain::parse(d).is_err() || d.is_empty() {
                return fail(format!("{d:?} is not a valid domain in user name {raw:?}"));
            }
        }
        if account.is_empty() || account.contains(ACCOUNT_FORBIDDEN) || account.contains('@') || account.ends_with('.')
        {
            return fail(format!(
                "{account:?} is not a valid Windows account name: it must not be empty, end with '.', or contain any of \" / \\ [ ] : ; | = , + * ? < > @"
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_names_follow_iis() {
        assert_eq!(SiteName::parse("Default Web Site").unwrap().as_str(), "Default Web Site");
        assert!(SiteName::parse("Contoso & <Partners>").is_ok(), "XML metacharacters are legal; renderers escape them");
        for bad in ["", " lead", "trail ", "a/b", "a?b", "tab\there", ".", "..", &"x".repeat(256)] {
            assert_eq!(SiteName::parse(bad).unwrap_err().code, "invalid-site-name", "{bad:?}");
        }
        assert!(SiteName::parse(&"é".repeat(255)).is_ok(), "the limit counts characters, not bytes");
    }

    #[test]
    fn new_site_names_never_read_as_an_id() {
        for bad in ["2", "+1", "0001", "-3", "99999999999999999999999", "id:4", "ID:x", "name:Shop", "Name:"] {
            assert_eq!(SiteName::parse_new(bad).unwrap_err().code, "ambiguous-site-name", "{bad:?}");
            assert!(SiteName::parse(bad).is_ok(), "stored names still load: {bad:?}");
        }
        for ok in ["2nd site", "Site 2", "1.5", "0x10", "ids:1", "named"] {
            assert!(SiteName::parse_new(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn site_keys() {
        assert_eq!(SiteKey::parse("2").unwrap(), SiteKey::Id(2));
        assert_eq!(SiteKey::parse("id:2").unwrap(), SiteKey::Id(2));
        assert_eq!(SiteKey::parse("name:2").unwrap(), SiteKey::Name("2".into()));
        assert_eq!(SiteKey::parse("NAME:id:3").unwrap(), SiteKey::Name("id:3".into()));
        assert_eq!(SiteKey::parse("Shop").unwrap(), SiteKey::Name("Shop".into()));
        for bad in ["id:", "id:x", "id:+2", "id:-2", "id: 2"] {
            assert_eq!(SiteKey::parse(bad).unwrap_err().code, "invalid-site-key", "{bad:?}");
        }
    }

    #[test]
    fn paths_are_normalized() {
        for (raw, want) in
            [("/secure", "/secure"), ("secure/", "/secure"), ("/a/b/", "/a/b"), ("/", "/"), ("/My App", "/My App")]
        {
            assert_eq!(VirtualPath::parse(raw).unwrap().as_str(), want, "{raw:?}");
        }
    }

    #[test]
    fn paths_refuse_what_iis_refuses() {
        for bad in ["", "//", "/a//b", "/./a", "/a/..", "/a\\b", "/a?b", "/a#b", "/a%2e", "/a\nb", "/a<b", "/a*", "/ a"]
        {
            assert_eq!(VirtualPath::parse(bad).unwrap_err().code, "invalid-path", "{bad:?}");
        }
    }

    #[test]
    fn location_joins_site_and_path() {
        let site = SiteName::parse("Default Web Site").unwrap();
        assert_eq!(VirtualPath::parse("/secure").unwrap().location(&site), "Default Web Site/secure");
        assert_eq!(VirtualPath::parse("/").unwrap().location(&site), "Default Web Site");
    }

    #[test]
    fn hostnames() {
        assert_eq!(Hostname::parse("WWW.Contoso.com").unwrap().as_str(), "www.contoso.com");
        assert!(Hostname::parse("*.contoso.com").is_ok());
        for bad in ["", "*.", "a..b", "-a.com", "a_b.com", "a b", "a.com;", &format!("{}.com", "a".repeat(64))] {
            assert_eq!(Hostname::parse(bad).unwrap_err().code, "invalid-hostname", "{bad:?}");
        }
    }

    #[test]
    fn user_names() {
        for ok in ["CONTOSO\\alice", "alice@contoso.com", "alice", "svc-web.01", "Jane Doe"] {
            assert!(UserName::parse(ok).is_ok(), "{ok:?}");
        }
        for bad in
            ["", "\\alice", "CONTOSO\\", "a@b\\c", "CONTOSO\\al:ice", "al\"ice", " alice", "alice\n", "a@", "bob."]
        {
            assert_eq!(UserName::parse(bad).unwrap_err().code, "invalid-user-name", "{bad:?}");
        }
    }

    #[test]
    fn logon_domains() {
        assert!(LogonDomain::parse("").is_ok());
        assert!(LogonDomain::parse("CONTOSO").is_ok());
        assert!(LogonDomain::parse("contoso.com").is_ok());
        for bad in ["CON TOSO", "a\\b", " x", "a:b"] {
            assert_eq!(LogonDomain::parse(bad).unwrap_err().code, "invalid-logon-domain", "{bad:?}");
        }
    }
}
