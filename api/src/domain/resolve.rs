//! What IIS does with a presented client certificate: which mapping it uses and the account it logs
//! on as, or why it refuses. The `resolve` endpoint and the gateways' authorize endpoint both call
//! [`resolve`], so what certmap shows and what a gateway enforces cannot drift apart.

use time::OffsetDateTime;

use super::certificate::CertificateInfo;
use super::names::UserName;
use super::site::MappingSettings;
use super::violation::{Invalid, Rejection};

/// The most rules one many-to-one mapping may carry: every rule is checked on every request.
pub const MAX_RULES: usize = 64;

/// Which name of the certificate a rule looks at (IIS's `certificateField`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateField {
    Subject,
    Issuer,
}

impl CertificateField {
    pub const ALL: [Self; 2] = [Self::Subject, Self::Issuer];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subject => "Subject",
            Self::Issuer => "Issuer",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Rejection> {
        Self::ALL.into_iter().find(|f| f.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| {
            Rejection::new(
                "invalid-certificate-field",
                format!("{s:?} is not a certificate field: use Subject or Issuer"),
            )
        })
    }

    fn attributes(self, cert: &CertificateInfo) -> &[(String, String)] {
        match self {
            Self::Subject => &cert.subject_attrs,
            Self::Issuer => &cert.issuer_attrs,
        }
    }
}

/// Which attribute of that name a rule looks at (IIS's `certificateSubField`), by IIS's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubField {
    CN,
    OU,
    O,
    L,
    /// State or province: the certificate's `ST` attribute.
    S,
    C,
    /// The `emailAddress` attribute of the name — not the e-mail subject alternative name.
    E,
}

impl SubField {
    pub const ALL: [Self; 7] = [Self::CN, Self::OU, Self::O, Self::L, Self::S, Self::C, Self::E];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CN => "CN",
            Self::OU => "OU",
            Self::O => "O",
            Self::L => "L",
            Self::S => "S",
            Self::C => "C",
            Self::E => "E",
        }
    }

    /// Case-insensitive. `ST` is refused rather than taken as `S`, so what certmap stores is
    /// always what IIS expects.
    pub fn parse(s: &str) -> Result<Self, Rejection> {
        Self::ALL.into_iter().find(|f| f.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| {
            Rejection::new(
                "invalid-certificate-sub-field",
                format!(
                    "{s:?} is not an IIS certificate sub-field: use CN, OU, O, L, S (state or province), C or E (e-mail address)"
                ),
            )
        })
    }

    /// The short name [`CertificateInfo`] gives this attribute.
    pub fn attribute(self) -> &'static str {
        match self {
            Self::S => "ST",
            other => other.as_str(),
        }
    }
}

/// A validated `matchCriteria`: `*` matches any run of characters, including none; every other
/// character stands for itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchCriteria(String);

impl MatchCriteria {
    pub const MAX_CHARS: usize = 256;

    /// Surrounding white space is trimmed: certificate values practically never carry it, so it is
    /// a copy-and-paste accident that would otherwise make the rule silently never match.
    pub fn parse(raw: &str) -> Result<Self, Rejection> {
        let fail = |m: &str| Err(Rejection::new("invalid-match-criteria", m));
        let s = raw.trim();
        if s.is_empty() {
            return fail("a match criteria must not be empty; use * to match any value");
        }
        if s.chars().count() > Self::MAX_CHARS {
            return fail("a match criteria has at most 256 characters");
        }
        if s.chars().any(char::is_control) {
            return fail("a match criteria must not contain control characters");
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One many-to-one rule. IIS's `compareCaseSensitive` defaults to true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub field: CertificateField,
    pub sub_field: SubField,
    pub criteria: MatchCriteria,
    pub case_sensitive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermissionMode {
    Allow,
    Deny,
}

impl PermissionMode {
    pub const ALL: [Self; 2] = [Self::Allow, Self::Deny];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "Allow",
            Self::Deny => "Deny",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Rejection> {
        Self::ALL.into_iter().find(|m| m.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| {
            Rejection::new("invalid-permission-mode", format!("{s:?} is not a permission mode: use Allow or Deny"))
        })
    }
}

/// Every problem at once, so the user fixes them in one round trip. A Deny mapping may keep a user
/// name (it is stored but never used).
pub fn check_many_to_one(mode: PermissionMode, user_name: Option<&UserName>, rules: &[Rule]) -> Result<(), Invalid> {
    let mut violations = Vec::new();
    if rules.is_empty() {
        violations.push(
            Rejection::new(
                "rules-required",
                "a many-to-one mapping needs at least one rule to say which certificates it applies to",
            )
            .at("rules"),
        );
    } else if rules.len() > MAX_RULES {
        violations.push(
            Rejection::new("too-many-rules", format!("a many-to-one mapping has at most {MAX_RULES} rules"))
                .at("rules"),
        );
    }
    if mode == PermissionMode::Allow && user_name.is_none() {
        violations.push(
            Rejection::new("user-name-required", "an Allow mapping needs the user name IIS logs certificates on as")
                .at("user_name"),
        );
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(Invalid(violations))
    }
}

/// What [`resolve`] needs of the one-to-one mapping the caller found by certificate SHA-256.
#[derive(Debug, Clone, Copy)]
pub struct OneToOneView<'a> {
    pub id: i64,
    pub enabled: bool,
    pub user_name: &'a str,
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Copy)]
pub struct ManyToOneView<'a> {
    pub id: i64,
    pub name: &'a str,
    pub enabled: bool,
    pub mode: PermissionMode,
    pub user_name: Option<&'a str>,
    pub rules: &'a [Rule],
}

/// What IIS does with the certificate. `Denied` means a Deny many-to-one mapping matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    OneToOne { mapping_id: i64, user_name: String },
    ManyToOne { mapping_id: i64, name: String, user_name: String },
    Denied { mapping_id: i64, name: String },
    NoMapping { reason: NoMappingReason },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoMappingReason {
    MappingDisabled,
    CertificateExpired,
    CertificateNotYetValid,
    /// The certificate's one-to-one mapping exists but has `enabled=false`.
    OneToOneDisabled,
    /// The certificate's one-to-one mapping is past its `expires_at`.
    MappingExpired,
    NoMatch,
}

impl NoMappingReason {
    /// Stable code for API answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MappingDisabled => "mapping-disabled",
            Self::CertificateExpired => "certificate-expired",
            Self::CertificateNotYetValid => "certificate-not-yet-valid",
            Self::OneToOneDisabled => "one-to-one-disabled",
            Self::MappingExpired => "mapping-expired",
            Self::NoMatch => "no-match",
        }
    }
}

impl Decision {
    /// The account IIS logs on as; `None` when it refuses.
    pub fn user_name(&self) -> Option<&str> {
        match self {
            Self::OneToOne { user_name, .. } | Self::ManyToOne { user_name, .. } => Some(user_name),
            Self::Denied { .. } | Self::NoMapping { .. } => None,
        }
    }

    /// What the client would see from IIS.
    pub fn iis_symptom(&self) -> &'static str {
        match self {
            Self::OneToOne { .. } | Self::ManyToOne { .. } => "none: IIS logs on as the mapped account",
            Self::Denied { .. } => "401.1 (denied by a many-to-one rule)",
            Self::NoMapping { reason } => match reason {
                NoMappingReason::MappingDisabled => {
                    "401.2 Unauthorized: logon failed due to server configuration (certificate mapping is not enabled on the site)"
                }
                NoMappingReason::CertificateExpired | NoMappingReason::CertificateNotYetValid => {
                    "403.17 client certificate expired or not yet valid"
                }
                NoMappingReason::OneToOneDisabled => {
                    "401.1 Unauthorized: logon failed (the one-to-one mapping for this certificate is disabled)"
                }
                NoMappingReason::MappingExpired => {
                    "401.1 Unauthorized: logon failed (the one-to-one mapping for this certificate has expired)"
                }
                NoMappingReason::NoMatch => "401.1 Unauthorized: logon failed (no mapping for this certificate)",
            },
        }
    }
}

/// Decides in IIS's order:
///
/// 1. the site's mapping must be enabled, else `MappingDisabled`;
/// 2. a certificate outside its validity (bounds inclusive, as [`Certificate::validity_at`]) is
///    refused before any mapping is looked at (403.17);
/// 3. if one-to-one mapping is enabled and the caller found one: disabled → `OneToOneDisabled`,
///    `now >= expires_at` → `MappingExpired`, else `OneToOne`. IIS found the entry, so neither
///    refusal falls through to many-to-one;
/// 4. if many-to-one mapping is enabled, the enabled mappings in the caller's order (by id): a
///    mapping matches when all its rules match; any matching Deny gives `Denied` (the first one,
///    even after a matching Allow), else the first matching Allow gives the account;
/// 5. otherwise `NoMatch`.
///
/// A many-to-one mapping without rules, or an Allow without a user name, is skipped: neither can
/// be stored ([`check_many_to_one`]), so such a view means damaged data, never "allow everyone".
///
/// [`Certificate::validity_at`]: super::certificate::Certificate::validity_at
pub fn resolve(
    cert: &CertificateInfo,
    now: OffsetDateTime,
    settings: &MappingSettings,
    one_to_one: Option<OneToOneView<'_>>,
    many_to_one: &[ManyToOneView<'_>],
) -> Decision {
    resolve_before_rules((cert.not_before, cert.not_after), now, settings, one_to_one)
        .unwrap_or_else(|| resolve_by_rules(cert, many_to_one))
}

/// Steps 1 to 3 and the many-to-one switch of [`resolve`], which need only the certificate's
/// validity: `None` means the answer depends on matching many-to-one rules against its names. A
/// gateway that knows a certificate by fingerprint alone can decide most requests with this.
pub fn resolve_before_rules(
    (not_before, not_after): (OffsetDateTime, OffsetDateTime),
    now: OffsetDateTime,
    settings: &MappingSettings,
    one_to_one: Option<OneToOneView<'_>>,
) -> Option<Decision> {
    let refuse = |reason| Some(Decision::NoMapping { reason });
    if !settings.enabled {
        return refuse(NoMappingReason::MappingDisabled);
    }
    if now < not_before {
        return refuse(NoMappingReason::CertificateNotYetValid);
    }
    if now > not_after {
        return refuse(NoMappingReason::CertificateExpired);
    }
    if let Some(m) = one_to_one.filter(|_| settings.one_to_one_enabled) {
        if !m.enabled {
            return refuse(NoMappingReason::OneToOneDisabled);
        }
        if m.expires_at.is_some_and(|at| now >= at) {
            return refuse(NoMappingReason::MappingExpired);
        }
        return Some(Decision::OneToOne { mapping_id: m.id, user_name: m.user_name.to_owned() });
    }
    if !settings.many_to_one_enabled {
        return refuse(NoMappingReason::NoMatch);
    }
    None
}

/// Step 4 and 5 of [`resolve`].
fn resolve_by_rules(cert: &CertificateInfo, many_to_one: &[ManyToOneView<'_>]) -> Decision {
    // A mapping without rules matches nothing: it cannot be stored, and an authorize endpoint
    // must not turn a damaged row into "every certificate".
    let matches = |m: &ManyToOneView| !m.rules.is_empty() && m.rules.iter().all(|r| rule_matches(r, cert));
    let mut allow = None;
    for m in many_to_one.iter().filter(|m| m.enabled) {
        match (m.mode, m.user_name) {
            (PermissionMode::Deny, _) if matches(m) => {
                return Decision::Denied { mapping_id: m.id, name: m.name.to_owned() };
            }
            // Once an Allow is chosen only a Deny can change the answer, so later Allows are not
            // worth matching.
            (PermissionMode::Allow, Some(user)) if allow.is_none() && matches(m) => allow = Some((m, user)),
            _ => {}
        }
    }
    match allow {
        Some((m, user)) => {
            Decision::ManyToOne { mapping_id: m.id, name: m.name.to_owned(), user_name: user.to_owned() }
        }
        None => Decision::NoMapping { reason: NoMappingReason::NoMatch },
    }
}

/// True when any value of the rule's attribute in the rule's name matches: a subject may carry
/// several OU values, and each is tried on its own (they are never joined). A certificate without
/// that attribute matches no rule on it, not even `*`.
pub fn rule_matches(rule: &Rule, cert: &CertificateInfo) -> bool {
    let attribute = rule.sub_field.attribute();
    rule.field
        .attributes(cert)
        .iter()
        .filter(|(name, _)| name == attribute)
        .any(|(_, value)| wildcard_match(rule.criteria.as_str(), value, rule.case_sensitive))
}

/// `*` matches any run of characters (including none); every other character matches itself, or
/// its Unicode lowercase when `case_sensitive` is false. Greedy, backtracking only to the last
/// star: at most |pattern|·|text| steps, never exponential, and no allocation.
pub fn wildcard_match(pattern: &str, text: &str, case_sensitive: bool) -> bool {
    let same = |p: char, t: char| p == t || (!case_sensitive && fold(p) == fold(t));
    let (mut p, mut t) = (0, 0);
    // Where the pattern resumes after the last star, and where in the text that star's run ends.
    let mut last_star: Option<(usize, usize)> = None;
    while let Some(tc) = text[t..].chars().next() {
        match pattern[p..].chars().next() {
            Some('*') => {
                p += 1;
                last_star = Some((p, t));
                continue;
            }
            Some(pc) if same(pc, tc) => {
                p += pc.len_utf8();
                t += tc.len_utf8();
                continue;
            }
            _ => {}
        }
        // Earlier stars never need revisiting: whatever they could have swallowed instead, the
        // last star can swallow too.
        let Some((resume, run_end)) = last_star else { return false };
        let run_end = run_end + text[run_end..].chars().next().map_or(1, char::len_utf8);
        last_star = Some((resume, run_end));
        (p, t) = (resume, run_end);
    }
    pattern[p..].bytes().all(|b| b == b'*')
}

/// Unicode's simple lowercase mapping: one character to one, so comparing needs no allocation.
/// `char::to_lowercase` gives more than one character only for U+0130 (İ → i + U+0307), whose
/// simple mapping is the first of them.
fn fold(c: char) -> char {
    if c.is_ascii() {
        c.to_ascii_lowercase()
    } else {
        c.to_lowercase().next().unwrap_or(c)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    use rcgen::{BasicConstraints, CertificateParams, DnType, DnValue, IsCa, Issuer, KeyPair};
    use time::macros::datetime;

    use super::*;
    use crate::domain::certificate::Certificate;

    // --- fixtures -----------------------------------------------------------------------------

    const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);
    const OU: [u64; 4] = [2, 5, 4, 11];
    const EMAIL: [u64; 7] = [1, 2, 840, 113549, 1, 9, 1];

    fn dn(parts: Vec<(DnType, DnValue)>) -> rcgen::DistinguishedName {
        let mut dn = rcgen::DistinguishedName::new();
        for (ty, value) in parts {
            dn.push(ty, value);
        }
        dn
    }

    fn utf8(s: &str) -> DnValue {
        DnValue::Utf8String(s.to_owned())
    }

    /// A leaf signed by "CN=Contoso Issuing CA, OU=PKI, O=Contoso Ltd, C=US", parsed the way the
    /// API parses uploads.
    fn issue(
        subject: rcgen::DistinguishedName,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> CertificateInfo {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::default();
        ca.distinguished_name = dn(vec![
            (DnType::CountryName, utf8("US")),
            (DnType::OrganizationName, utf8("Contoso Ltd")),
            (DnType::OrganizationalUnitName, utf8("PKI")),
            (DnType::CommonName, utf8("Contoso Issuing CA")),
        ]);
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = Issuer::new(ca, ca_key);

        let mut leaf = CertificateParams::default();
        leaf.distinguished_name = subject;
        leaf.not_before = not_before;
        leaf.not_after = not_after;
        let der = leaf.signed_by(&KeyPair::generate().unwrap(), &issuer).unwrap().der().to_vec();
        Certificate::parse_bytes(&der).unwrap().certificate.info().clone()
    }

    /// Subject C=US, ST=Washington, L=Seattle, O=Contoso, OU=Engineering, OU=Ops, CN=alice,
    /// E=alice@contoso.com; valid 2024–2034.
    fn alice() -> &'static CertificateInfo {
        static ALICE: OnceLock<CertificateInfo> = OnceLock::new();
        ALICE.get_or_init(|| {
            // rcgen keeps one value per DnType; the OU's OID as a custom type gives a second OU.
            let subject = dn(vec![
                (DnType::CountryName, utf8("US")),
                (DnType::StateOrProvinceName, utf8("Washington")),
                (DnType::LocalityName, utf8("Seattle")),
                (DnType::OrganizationName, utf8("Contoso")),
                (DnType::OrganizationalUnitName, utf8("Engineering")),
                (DnType::CustomDnType(OU.to_vec()), utf8("Ops")),
                (DnType::CommonName, utf8("alice")),
                (DnType::CustomDnType(EMAIL.to_vec()), DnValue::Ia5String("alice@contoso.com".try_into().unwrap())),
            ]);
            issue(subject, datetime!(2024-01-01 0:00 UTC), datetime!(2034-01-01 0:00 UTC))
        })
    }

    fn rule(field: CertificateField, sub_field: SubField, criteria: &str) -> Rule {
        Rule { field, sub_field, criteria: MatchCriteria::parse(criteria).unwrap(), case_sensitive: true }
    }

    fn subject(sub_field: SubField, criteria: &str) -> Rule {
        rule(CertificateField::Subject, sub_field, criteria)
    }

    fn enabled() -> MappingSettings {
        MappingSettings { enabled: true, ..MappingSettings::default() }
    }

    fn allow<'a>(id: i64, name: &'a str, user: &'a str, rules: &'a [Rule]) -> ManyToOneView<'a> {
        ManyToOneView { id, name, enabled: true, mode: PermissionMode::Allow, user_name: Some(user), rules }
    }

    fn deny<'a>(id: i64, name: &'a str, rules: &'a [Rule]) -> ManyToOneView<'a> {
        ManyToOneView { id, name, enabled: true, mode: PermissionMode::Deny, user_name: None, rules }
    }

    fn one_to_one(user_name: &str) -> OneToOneView<'_> {
        OneToOneView { id: 7, enabled: true, user_name, expires_at: None }
    }

    fn no_mapping(reason: NoMappingReason) -> Decision {
        Decision::NoMapping { reason }
    }

    // --- wildcard_match -----------------------------------------------------------------------

    #[test]
    fn wildcard_table() {
        let cases: &[(&str, &str, bool, bool)] = &[
            ("alice", "alice", true, true),
            ("alice", "alic", true, false),
            ("alic", "alice", true, false),
            ("*", "anything at all", true, true),
            ("*", "", true, true),
            ("**", "", true, true),
            ("a", "", true, false),
            ("*a", "", true, false),
            ("Eng*", "Engineering", true, true),
            ("Eng*", "Sales Engineering", true, false),
            ("*ing", "Engineering", true, true),
            ("*ing", "Engineers", true, false),
            ("a*b*c", "abc", true, true),
            ("a*b*c", "aXXbYYc", true, true),
            ("a*b*c", "aXXbYYcZ", true, false),
            ("a*b*c", "acb", true, false),
            ("*@contoso.com", "alice@contoso.com", true, true),
            ("*@*.contoso.*", "bob@eu.contoso.com", true, true),
            ("a**b", "ab", true, true),
            ("*ab*ab*", "xabyab", true, true),
            ("*aab", "aaaab", true, true),
            ("longer than text", "longer", true, false),
            ("ALICE", "alice", true, false),
            ("ALICE", "alice", false, true),
            ("Al*CE", "alice", false, true),
            ("É*", "école", true, false),
            ("É*", "école", false, true),
            ("*é", "CAFÉ", false, true),
            ("MÜNCHEN", "münchen", false, true),
            ("ΣΟΦΊΑ", "σοφία", false, true),
            // Simple case mapping, one character to one: no ß ↔ SS expansion.
            ("STRASSE", "straße", false, false),
            ("İSTANBUL", "istanbul", false, true),
            ("?", "a", true, false),
        ];
        for &(pattern, text, case_sensitive, want) in cases {
            assert_eq!(
                wildcard_match(pattern, text, case_sensitive),
                want,
                "{pattern:?} ~ {text:?} cs={case_sensitive}"
            );
        }
    }

    #[test]
    fn wildcard_pathological_pattern_is_fast() {
        let text = "a".repeat(10_000);
        let start = Instant::now();
        assert!(!wildcard_match("*a*a*a*a*a*b", &text, true));
        assert!(!wildcard_match("*A*A*A*A*A*B", &text, false));
        assert!(wildcard_match("*a*a*a*a*a*a", &text, true));
        assert!(start.elapsed() < Duration::from_millis(500), "took {:?}", start.elapsed());
    }

    // --- parsing ------------------------------------------------------------------------------

    #[test]
    fn fields_parse_case_insensitively() {
        assert_eq!(CertificateField::parse("issuer").unwrap(), CertificateField::Issuer);
        assert_eq!(CertificateField::parse("SUBJECT").unwrap().as_str(), "Subject");
        assert_eq!(CertificateField::parse("SubjectAltName").unwrap_err().code, "invalid-certificate-field");
        for f in SubField::ALL {
            assert_eq!(SubField::parse(&f.as_str().to_lowercase()).unwrap(), f);
        }
        assert_eq!(SubField::S.attribute(), "ST");
        for bad in ["ST", "email", "DC", ""] {
            assert_eq!(SubField::parse(bad).unwrap_err().code, "invalid-certificate-sub-field", "{bad:?}");
        }
        assert_eq!(PermissionMode::parse("deny").unwrap(), PermissionMode::Deny);
        assert_eq!(PermissionMode::parse("Allow").unwrap().as_str(), "Allow");
        assert_eq!(PermissionMode::parse("Block").unwrap_err().code, "invalid-permission-mode");
    }

    #[test]
    fn match_criteria() {
        assert_eq!(MatchCriteria::parse("  *@contoso.com ").unwrap().as_str(), "*@contoso.com");
        assert!(MatchCriteria::parse(&"é".repeat(256)).is_ok(), "the limit counts characters, not bytes");
        for bad in ["", "   ", "a\tb", "a\nb", "\u{7f}", &"x".repeat(257)] {
            assert_eq!(MatchCriteria::parse(bad).unwrap_err().code, "invalid-match-criteria", "{bad:?}");
        }
    }

    // --- rule_matches -------------------------------------------------------------------------

    #[test]
    fn every_sub_field_of_the_subject() {
        let cert = alice();
        let cases = [
            (SubField::CN, "alice"),
            (SubField::OU, "Engineering"),
            (SubField::O, "Contoso"),
            (SubField::L, "Seattle"),
            (SubField::S, "Washington"),
            (SubField::C, "US"),
            (SubField::E, "alice@contoso.com"),
        ];
        for (sub_field, value) in cases {
            assert!(rule_matches(&subject(sub_field, value), cert), "{sub_field:?} = {value:?}");
            assert!(!rule_matches(&subject(sub_field, "nobody"), cert), "{sub_field:?}");
        }
        assert!(rule_matches(&subject(SubField::E, "*@contoso.com"), cert));
        assert!(!rule_matches(&subject(SubField::O, "Contoso Ltd"), cert), "that is the issuer's O");
    }

    #[test]
    fn case_sensitivity_follows_the_rule() {
        let mut r = subject(SubField::CN, "ALICE");
        assert!(!rule_matches(&r, alice()));
        r.case_sensitive = false;
        assert!(rule_matches(&r, alice()));
    }

    #[test]
    fn any_of_several_values_matches_but_values_are_not_joined() {
        let cert = alice();
        assert!(rule_matches(&subject(SubField::OU, "Ops"), cert));
        assert!(rule_matches(&subject(SubField::OU, "Engineering"), cert));
        assert!(rule_matches(&subject(SubField::OU, "O*"), cert));
        assert!(!rule_matches(&subject(SubField::OU, "Engineering*Ops"), cert));
        assert!(!rule_matches(&subject(SubField::OU, "Sales"), cert));
    }

    #[test]
    fn issuer_and_subject_are_distinct() {
        let cert = alice();
        let issuer = |sub, c| rule(CertificateField::Issuer, sub, c);
        assert!(rule_matches(&issuer(SubField::CN, "Contoso Issuing CA"), cert));
        assert!(rule_matches(&issuer(SubField::OU, "PKI"), cert));
        assert!(rule_matches(&issuer(SubField::O, "Contoso Ltd"), cert));
        assert!(!rule_matches(&issuer(SubField::CN, "alice"), cert));
        assert!(!rule_matches(&subject(SubField::CN, "Contoso*"), cert));
        assert!(!rule_matches(&issuer(SubField::E, "*"), cert), "an absent attribute matches nothing, not even *");
    }

    #[test]
    fn non_ascii_values_fold_case() {
        let cert = issue(
            dn(vec![(DnType::CommonName, utf8("Élodie")), (DnType::LocalityName, utf8("Montréal"))]),
            datetime!(2024-01-01 0:00 UTC),
            datetime!(2034-01-01 0:00 UTC),
        );
        let mut r = subject(SubField::CN, "élodie");
        assert!(!rule_matches(&r, &cert));
        r.case_sensitive = false;
        assert!(rule_matches(&r, &cert));
        assert!(rule_matches(&subject(SubField::L, "*tréal"), &cert));
    }

    // --- check_many_to_one --------------------------------------------------------------------

    #[test]
    fn many_to_one_refusals() {
        let user = UserName::parse("CONTOSO\\engineers").unwrap();
        let rules = [subject(SubField::OU, "Engineering")];
        assert!(check_many_to_one(PermissionMode::Allow, Some(&user), &rules).is_ok());
        assert!(check_many_to_one(PermissionMode::Deny, None, &rules).is_ok());
        assert!(check_many_to_one(PermissionMode::Deny, Some(&user), &rules).is_ok(), "kept but unused");

        let codes = |r: Result<(), Invalid>| -> Vec<(&'static str, String)> {
            r.unwrap_err().0.into_iter().map(|v| (v.code, v.field)).collect()
        };
        assert_eq!(
            codes(check_many_to_one(PermissionMode::Allow, None, &[])),
            [("rules-required", "rules".to_owned()), ("user-name-required", "user_name".to_owned())]
        );
        assert_eq!(codes(check_many_to_one(PermissionMode::Deny, None, &[])), [("rules-required", "rules".to_owned())]);
        let too_many = vec![subject(SubField::CN, "*"); MAX_RULES + 1];
        assert_eq!(
            codes(check_many_to_one(PermissionMode::Allow, Some(&user), &too_many)),
            [("too-many-rules", "rules".to_owned())]
        );
        assert!(check_many_to_one(PermissionMode::Allow, Some(&user), &too_many[..MAX_RULES]).is_ok());
    }

    // --- resolve ------------------------------------------------------------------------------

    #[test]
    fn mapping_disabled_refuses_everything() {
        let rules = [subject(SubField::CN, "*")];
        let d =
            resolve(alice(), NOW, &MappingSettings::default(), Some(one_to_one("u")), &[allow(1, "all", "u", &rules)]);
        assert_eq!(d, no_mapping(NoMappingReason::MappingDisabled));
        assert!(d.iis_symptom().starts_with("401.2"));
        assert_eq!(d.user_name(), None);
    }

    #[test]
    fn certificate_validity_comes_before_any_mapping() {
        let cert = alice();
        let rules = [subject(SubField::CN, "*")];
        let m2o = [allow(1, "all", "u", &rules)];
        let at = |now| resolve(cert, now, &enabled(), Some(one_to_one("u")), &m2o);
        assert_eq!(at(datetime!(2034-01-01 0:00:01 UTC)), no_mapping(NoMappingReason::CertificateExpired));
        assert_eq!(at(datetime!(2023-12-31 23:59:59 UTC)), no_mapping(NoMappingReason::CertificateNotYetValid));
        assert!(at(datetime!(2034-01-01 0:00 UTC)).user_name().is_some(), "not_after is inclusive");
        assert!(at(datetime!(2024-01-01 0:00 UTC)).user_name().is_some(), "not_before is inclusive");
        assert!(at(datetime!(2040-01-01 0:00 UTC)).iis_symptom().starts_with("403.17"));
    }

    #[test]
    fn one_to_one_found_and_enabled() {
        let rules = [subject(SubField::CN, "*")];
        let d =
            resolve(alice(), NOW, &enabled(), Some(one_to_one("CONTOSO\\alice")), &[allow(1, "all", "other", &rules)]);
        assert_eq!(d, Decision::OneToOne { mapping_id: 7, user_name: "CONTOSO\\alice".into() });
        assert_eq!(d.user_name(), Some("CONTOSO\\alice"));
    }

    #[test]
    fn disabled_one_to_one_does_not_fall_through() {
        let rules = [subject(SubField::CN, "*")];
        let o2o = OneToOneView { enabled: false, ..one_to_one("CONTOSO\\alice") };
        let d = resolve(alice(), NOW, &enabled(), Some(o2o), &[allow(1, "all", "other", &rules)]);
        assert_eq!(d, no_mapping(NoMappingReason::OneToOneDisabled));
        assert!(d.iis_symptom().starts_with("401.1"));
    }

    #[test]
    fn expired_one_to_one_does_not_fall_through() {
        let rules = [subject(SubField::CN, "*")];
        let m2o = [allow(1, "all", "other", &rules)];
        let expiring = |at| OneToOneView { expires_at: Some(at), ..one_to_one("CONTOSO\\alice") };
        let d = resolve(alice(), NOW, &enabled(), Some(expiring(datetime!(2026-05-31 0:00 UTC))), &m2o);
        assert_eq!(d, no_mapping(NoMappingReason::MappingExpired));
        assert_eq!(resolve(alice(), NOW, &enabled(), Some(expiring(NOW)), &m2o), d, "expires_at is exclusive");
        let later = resolve(alice(), NOW, &enabled(), Some(expiring(datetime!(2026-07-01 0:00 UTC))), &m2o);
        assert_eq!(later.user_name(), Some("CONTOSO\\alice"));
    }

    #[test]
    fn one_to_one_disabled_in_settings_falls_to_many_to_one() {
        let settings = MappingSettings { one_to_one_enabled: false, ..enabled() };
        let rules = [subject(SubField::OU, "Engineering")];
        // Even a disabled entry is not consulted when the site turned one-to-one off.
        let o2o = OneToOneView { enabled: false, ..one_to_one("CONTOSO\\alice") };
        let d = resolve(alice(), NOW, &settings, Some(o2o), &[allow(3, "engineers", "CONTOSO\\eng", &rules)]);
        assert_eq!(
            d,
            Decision::ManyToOne { mapping_id: 3, name: "engineers".into(), user_name: "CONTOSO\\eng".into() }
        );
    }

    #[test]
    fn first_matching_allow_in_order() {
        let sales = [subject(SubField::OU, "Sales")];
        let eng = [subject(SubField::OU, "Engineering")];
        let ops = [subject(SubField::OU, "Ops")];
        let m2o = [allow(1, "sales", "S", &sales), allow(2, "eng", "E", &eng), allow(3, "ops", "O", &ops)];
        let d = resolve(alice(), NOW, &enabled(), None, &m2o);
        assert_eq!(d, Decision::ManyToOne { mapping_id: 2, name: "eng".into(), user_name: "E".into() });
        assert!(d.iis_symptom().starts_with("none"));
    }

    #[test]
    fn deny_wins_over_an_earlier_allow() {
        let eng = [subject(SubField::OU, "Engineering")];
        let ops = [subject(SubField::OU, "Ops")];
        let contoso = [subject(SubField::O, "Contoso")];
        let m2o = [allow(1, "eng", "E", &eng), deny(2, "no ops", &ops), deny(3, "no contoso", &contoso)];
        let d = resolve(alice(), NOW, &enabled(), None, &m2o);
        assert_eq!(d, Decision::Denied { mapping_id: 2, name: "no ops".into() });
        assert_eq!(d.user_name(), None);
        assert_eq!(d.iis_symptom(), "401.1 (denied by a many-to-one rule)");
    }

    #[test]
    fn disabled_many_to_one_is_ignored() {
        let eng = [subject(SubField::OU, "Engineering")];
        fn off(m: ManyToOneView<'_>) -> ManyToOneView<'_> {
            ManyToOneView { enabled: false, ..m }
        }
        let m2o = [off(deny(1, "no eng", &eng)), off(allow(2, "eng", "E", &eng))];
        assert_eq!(resolve(alice(), NOW, &enabled(), None, &m2o), no_mapping(NoMappingReason::NoMatch));
        let m2o = [off(deny(1, "no eng", &eng)), allow(2, "eng", "E", &eng)];
        assert_eq!(resolve(alice(), NOW, &enabled(), None, &m2o).user_name(), Some("E"));
    }

    #[test]
    fn all_rules_must_match() {
        let partly = [subject(SubField::OU, "Engineering"), subject(SubField::L, "Redmond")];
        let fully = [
            subject(SubField::OU, "Engineering"),
            subject(SubField::L, "Seattle"),
            rule(CertificateField::Issuer, SubField::CN, "Contoso*"),
        ];
        let m2o = [allow(1, "redmond eng", "R", &partly), allow(2, "seattle eng", "S", &fully)];
        assert_eq!(resolve(alice(), NOW, &enabled(), None, &m2o).user_name(), Some("S"));
        assert_eq!(resolve(alice(), NOW, &enabled(), None, &m2o[..1]), no_mapping(NoMappingReason::NoMatch));
    }

    #[test]
    fn many_to_one_disabled_in_settings() {
        let settings = MappingSettings { many_to_one_enabled: false, ..enabled() };
        let eng = [subject(SubField::OU, "Engineering")];
        let m2o = [allow(1, "eng", "E", &eng)];
        assert_eq!(resolve(alice(), NOW, &settings, None, &m2o), no_mapping(NoMappingReason::NoMatch));
        assert_eq!(resolve(alice(), NOW, &settings, Some(one_to_one("A")), &m2o).user_name(), Some("A"));
    }

    #[test]
    fn no_match() {
        let sales = [subject(SubField::OU, "Sales")];
        let fabrikam = [rule(CertificateField::Issuer, SubField::O, "Fabrikam*")];
        let no_user = [subject(SubField::CN, "alice")];
        let unnamed = ManyToOneView { user_name: None, ..allow(3, "no user", "", &no_user) };
        let m2o = [
            allow(1, "sales", "S", &sales),
            deny(2, "fabrikam", &fabrikam),
            unnamed,
            allow(4, "no rules", "N", &[]),
            deny(5, "no rules", &[]),
        ];
        let d = resolve(alice(), NOW, &enabled(), None, &m2o);
        assert_eq!(d, no_mapping(NoMappingReason::NoMatch));
        assert_eq!(d.iis_symptom(), "401.1 Unauthorized: logon failed (no mapping for this certificate)");
        assert_eq!(resolve(alice(), NOW, &enabled(), None, &[]), d);
    }
}
