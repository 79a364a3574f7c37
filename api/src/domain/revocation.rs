//! What certmap knows of revocation and what it decides from it: a site's policy, whether a new
//! CRL may replace the one held, and a certificate's status against the CRLs held.
//!
//! A certificate is `not_checked` while no CRL is held for its issuer, so sites that existed
//! before revocation was known keep working; once a CRL is held it is `good` or `revoked`, and
//! `unknown` when that CRL is past its nextUpdate (what `when_unknown` then decides). OCSP is
//! alike: `not_checked` when the certificate names no responder, `unknown` when none answered in
//! a way that counts; [`decide`] joins the two for `crl_and_ocsp`.

use std::collections::HashMap;
use std::str::FromStr;

use time::OffsetDateTime;

use super::crl::{Crl, CrlNumber, Reason};
use super::lint::{Finding, Severity};
use super::violation::Rejection;

/// How far a CRL's thisUpdate may lie ahead of this host's clock before it is refused as being
/// from the future: clocks of CA hosts and certmap hosts differ by seconds, not minutes.
pub const CLOCK_SKEW: time::Duration = time::Duration::minutes(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Check {
    Off,
    #[default]
    Crl,
    Ocsp,
    CrlAndOcsp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenUnknown {
    #[default]
    Deny,
    Allow,
}

impl Check {
    pub const ALL: [Check; 4] = [Self::Off, Self::Crl, Self::Ocsp, Self::CrlAndOcsp];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Crl => "crl",
            Self::Ocsp => "ocsp",
            Self::CrlAndOcsp => "crl_and_ocsp",
        }
    }

    pub fn asks_crl(self) -> bool {
        matches!(self, Self::Crl | Self::CrlAndOcsp)
    }

    pub fn asks_ocsp(self) -> bool {
        matches!(self, Self::Ocsp | Self::CrlAndOcsp)
    }
}

impl FromStr for Check {
    type Err = Rejection;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            Rejection::new(
                "invalid-revocation-check",
                format!("{s:?} is not a check: use off, crl, ocsp or crl_and_ocsp"),
            )
        })
    }
}

impl WhenUnknown {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deny => "deny",
            Self::Allow => "allow",
        }
    }
}

impl FromStr for WhenUnknown {
    type Err = Rejection;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "deny" => Ok(Self::Deny),
            "allow" => Ok(Self::Allow),
            _ => Err(Rejection::new("invalid-when-unknown", format!("{s:?} is not deny or allow"))),
        }
    }
}

/// A site's revocation policy: default check by CRL, deny when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    pub check: Check,
    pub when_unknown: WhenUnknown,
}

/// What is held for one issuer, as far as replacing it is concerned.
pub struct HeldVersion<'a> {
    pub number: Option<&'a CrlNumber>,
    pub this_update: OffsetDateTime,
}

/// A new CRL may replace the held one when it is not older (by CRL number when both carry one,
/// else by thisUpdate), and it may be held at all only once it is in force.
pub fn may_replace(new: &Crl, held: Option<HeldVersion<'_>>, now: OffsetDateTime) -> Result<(), Rejection> {
    if new.this_update > now + CLOCK_SKEW {
        return Err(Rejection::new(
            "crl-not-yet-valid",
            format!("the CRL's thisUpdate is {}, in the future; check the CA's clock", new.this_update),
        ));
    }
    let Some(held) = held else { return Ok(()) };
    let older = match (new.number.as_ref(), held.number) {
        (Some(new_number), Some(held_number)) => new_number < held_number,
        _ => new.this_update < held.this_update,
    };
    if older {
        return Err(Rejection::new(
            "crl-older-than-current",
            format!(
                "a newer CRL is held for this CA (number {}, thisUpdate {}); this one would undo revocations",
                held.number.map_or("none", CrlNumber::as_str),
                held.this_update
            ),
        ));
    }
    Ok(())
}

/// A revoked certificate's facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    pub revoked_at: OffsetDateTime,
    pub reason: Option<Reason>,
}

/// The CRL held for one issuer, indexed by serial.
#[derive(Debug, Clone)]
pub struct HeldCrl {
    pub ca_sha256: String,
    pub this_update: OffsetDateTime,
    pub next_update: Option<OffsetDateTime>,
    pub source: String,
    /// Looked up on every authorize call, by serials the CA chose: a seeded fast hasher.
    pub revoked: HashMap<String, Revocation, foldhash::fast::RandomState>,
}

impl HeldCrl {
    fn absorb(&mut self, other: HeldCrl) {
        for (serial, revocation) in other.revoked {
            self.revoked.entry(serial).or_insert(revocation);
        }
        self.next_update = match (self.next_update, other.next_update) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Good,
    Revoked(Revocation),
    Unknown,
    NotChecked,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Good => "good",
            Self::Revoked(_) => "revoked",
            Self::Unknown => "unknown",
            Self::NotChecked => "not_checked",
        }
    }
}

/// Which check a status came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decider {
    Crl,
    Ocsp,
}

/// A certificate's status under a site's policy, from its CRL status and its OCSP status (each
/// `NotChecked` when not asked), and which of them decided. Under `crl_and_ocsp` a revocation
/// by either wins; else a current answer of either vouches for the certificate; it is `unknown`
/// only when one could be asked but neither gave a current answer, and `not_checked` when
/// neither could be asked (no CRL held for the issuer, no responder named).
pub fn decide(policy: Policy, crl: Status, ocsp: Status) -> (Status, Option<Decider>) {
    let by = |status: Status, decider| (status, (status != Status::NotChecked).then_some(decider));
    match policy.check {
        Check::Off => (Status::NotChecked, None),
        Check::Crl => by(crl, Decider::Crl),
        Check::Ocsp => by(ocsp, Decider::Ocsp),
        Check::CrlAndOcsp => {
            let both = [(crl, Decider::Crl), (ocsp, Decider::Ocsp)];
            let first = |wanted: fn(&Status) -> bool| both.into_iter().find(|(s, _)| wanted(s));
            let (status, decider) = first(|s| matches!(s, Status::Revoked(_)))
                .or_else(|| first(|s| *s == Status::Good))
                .or_else(|| first(|s| *s == Status::Unknown))
                .unwrap_or((Status::NotChecked, Decider::Crl));
            by(status, decider)
        }
    }
}

/// Every CRL held, by the issuer's DN as certmap writes it (the CA's subject, which is what its
/// certificates name as issuer).
#[derive(Debug, Default)]
pub struct RevocationIndex {
    by_issuer: HashMap<String, HeldCrl, foldhash::fast::RandomState>,
}

impl RevocationIndex {
    /// Two CAs of one name (a key rollover, or a CA one site's editor made to look like another
    /// site's) each hold a CRL: their revocations add up and the earlier nextUpdate counts, so no
    /// CRL can take back what another of its name revoked. A lookalike can still add revocations
    /// (failing closed); keying CRLs by the CA that verified them, looked up through each site's
    /// trusted CAs, would end that too.
    pub fn new(crls: impl IntoIterator<Item = (String, HeldCrl)>) -> Self {
        let mut by_issuer: HashMap<String, HeldCrl, foldhash::fast::RandomState> = HashMap::default();
        for (issuer, crl) in crls {
            match by_issuer.entry(issuer) {
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(crl);
                }
                std::collections::hash_map::Entry::Occupied(mut held) => held.get_mut().absorb(crl),
            }
        }
        Self { by_issuer }
    }

    pub fn is_empty(&self) -> bool {
        self.by_issuer.is_empty()
    }

    pub fn crl_for(&self, issuer: &str) -> Option<&HeldCrl> {
        self.by_issuer.get(issuer)
    }

    pub fn crls(&self) -> impl Iterator<Item = (&str, &HeldCrl)> {
        self.by_issuer.iter().map(|(issuer, crl)| (issuer.as_str(), crl))
    }

    /// A revoked certificate stays revoked whatever the CRL's age: a CA never un-revokes except
    /// for a hold, and the next CRL says so.
    pub fn status(&self, policy: Policy, issuer: &str, serial: &str, now: OffsetDateTime) -> Status {
        if policy.check == Check::Off {
            return Status::NotChecked;
        }
        self.listing(issuer, serial).status(now)
    }

    /// Where a certificate stands in the CRLs held, whatever the time.
    pub fn listing(&self, issuer: &str, serial: &str) -> Listing {
        let Some(crl) = self.by_issuer.get(issuer) else { return Listing::NotHeld };
        match crl.revoked.get(serial) {
            Some(revocation) => Listing::Revoked(*revocation),
            None => Listing::NotListed { next_update: crl.next_update },
        }
    }
}

/// A certificate's place in the CRLs held, apart from the time it is asked at: what a cached site
/// works out once per mapping for each load of the CRLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// No CRL is held for its issuer.
    NotHeld,
    Revoked(Revocation),
    /// Its issuer's CRL does not list it; good until that CRL's nextUpdate, unknown after.
    NotListed {
        next_update: Option<OffsetDateTime>,
    },
}

impl Listing {
    pub fn status(self, now: OffsetDateTime) -> Status {
        match self {
            Self::NotHeld => Status::NotChecked,
            Self::Revoked(revocation) => Status::Revoked(revocation),
            Self::NotListed { next_update: Some(next) } if now > next => Status::Unknown,
            Self::NotListed { .. } => Status::Good,
        }
    }
}

/// How long before a CRL's nextUpdate lint warns: nginx and HAProxy refuse every client of the CA
/// once the CRL file they hold is past it.
pub const CRL_EXPIRY_WARNING: time::Duration = time::Duration::days(1);

/// Revocation findings for a site: each enabled mapping whose certificate is revoked, and each CRL
/// of its trusted CAs that is past, or close to, its nextUpdate.
pub fn lint(
    policy: Policy,
    revoked_mappings: &[i64],
    crls: &[(&str, Option<OffsetDateTime>)],
    now: OffsetDateTime,
) -> Vec<Finding> {
    if policy.check == Check::Off {
        return Vec::new();
    }
    let mut findings: Vec<Finding> = revoked_mappings
        .iter()
        .map(|&id| Finding {
            code: "certificate-revoked",
            severity: Severity::Error,
            message: format!("mapping {id}'s certificate is revoked by its CA: certmap and the gateways refuse it; delete the mapping"),
            iis_symptom: "403.13 Client certificate revoked (Schannel checks revocation itself)",
            fix: "delete the mapping; map the user's new certificate when the CA has issued one",
            path: None,
            mapping_id: Some(id),
        })
        .collect();
    for &(issuer, next_update) in crls {
        let Some(next) = next_update else { continue };
        let (code, severity, when) = if now > next {
            ("crl-expired", Severity::Error, "passed")
        } else if next - now < CRL_EXPIRY_WARNING {
            ("crl-expiring", Severity::Warning, "is less than a day away")
        } else {
            continue;
        };
        findings.push(Finding {
            code,
            severity,
            message: format!(
                "the CRL held for {issuer} has a nextUpdate ({next}) that {when}: its certificates are `unknown` after it, \
                 and nginx and HAProxy holding that CRL refuse every client of the CA; upload or fetch a newer one"
            ),
            iis_symptom: "Schannel cannot complete the revocation check once the CA's CRL is stale",
            fix: "upload the CA's current CRL, or let certmap fetch it from the CA's distribution point",
            path: None,
            mapping_id: None,
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::crl::tests::{ca, crl};

    fn held(next_update: Option<OffsetDateTime>) -> RevocationIndex {
        let at = OffsetDateTime::now_utc() - time::Duration::days(1);
        let revoked = [("0b".to_owned(), Revocation { revoked_at: at, reason: Some(Reason::KeyCompromise) })];
        RevocationIndex::new([(
            "CN=CA".to_owned(),
            HeldCrl {
                ca_sha256: "00".into(),
                this_update: at,
                next_update,
                source: "upload".into(),
                revoked: revoked.into_iter().collect(),
            },
        )])
    }

    #[test]
    fn statuses() {
        let now = OffsetDateTime::now_utc();
        let index = held(Some(now + time::Duration::days(1)));
        let policy = Policy::default();
        assert!(matches!(index.status(policy, "CN=CA", "0b", now), Status::Revoked(_)));
        assert_eq!(index.status(policy, "CN=CA", "0c", now), Status::Good);
        assert_eq!(index.status(policy, "CN=Other", "0b", now), Status::NotChecked);
        let off = Policy { check: Check::Off, ..policy };
        assert_eq!(index.status(off, "CN=CA", "0b", now), Status::NotChecked);
        let stale = held(Some(now - time::Duration::seconds(1)));
        assert_eq!(stale.status(policy, "CN=CA", "0c", now), Status::Unknown);
        assert!(matches!(stale.status(policy, "CN=CA", "0b", now), Status::Revoked(_)));
    }

    #[test]
    fn a_second_ca_of_the_same_name_cannot_take_back_a_revocation() {
        let now = OffsetDateTime::now_utc();
        let soon = now + time::Duration::hours(1);
        let real = held(Some(now + time::Duration::days(1))).by_issuer.remove("CN=CA").unwrap();
        let lookalike = HeldCrl {
            ca_sha256: "ff".into(),
            this_update: now,
            next_update: Some(soon),
            source: "http://lookalike.example/ca.crl".into(),
            revoked: Default::default(),
        };
        let policy = Policy::default();
        for order in [[real.clone(), lookalike.clone()], [lookalike, real]] {
            let index = RevocationIndex::new(order.map(|crl| ("CN=CA".to_owned(), crl)));
            assert!(matches!(index.status(policy, "CN=CA", "0b", now), Status::Revoked(_)));
            assert_eq!(index.crl_for("CN=CA").unwrap().next_update, Some(soon));
        }
    }

    #[test]
    fn older_and_future_crls_are_refused() {
        let ca = ca("Test CA");
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let c5 = Crl::from_der(&crl(&ca, 5, now, &[])).unwrap();
        let c4 = Crl::from_der(&crl(&ca, 4, now + time::Duration::minutes(1), &[])).unwrap();
        fn held(c: &Crl) -> Option<HeldVersion<'_>> {
            Some(HeldVersion { number: c.number.as_ref(), this_update: c.this_update })
        }
        assert_eq!(may_replace(&c4, held(&c5), now).unwrap_err().code, "crl-older-than-current");
        may_replace(&c5, held(&c4), now).unwrap();
        may_replace(&c5, held(&c5), now).unwrap();
        let future = Crl::from_der(&crl(&ca, 6, now + time::Duration::hours(1), &[])).unwrap();
        assert_eq!(may_replace(&future, None, now).unwrap_err().code, "crl-not-yet-valid");
    }

    #[test]
    fn lint_names_revoked_mappings_and_stale_crls() {
        let now = OffsetDateTime::now_utc();
        let crls = [
            ("CN=Old", Some(now - time::Duration::hours(1))),
            ("CN=Soon", Some(now + time::Duration::hours(2))),
            ("CN=Fine", Some(now + time::Duration::days(6))),
        ];
        let codes: Vec<_> = lint(Policy::default(), &[7], &crls, now).iter().map(|f| (f.code, f.mapping_id)).collect();
        assert_eq!(codes, [("certificate-revoked", Some(7)), ("crl-expired", None), ("crl-expiring", None)]);
        assert!(lint(Policy { check: Check::Off, ..Policy::default() }, &[7], &crls, now).is_empty());
    }

    #[test]
    fn checks_parse() {
        assert_eq!("crl_and_ocsp".parse::<Check>().unwrap(), Check::CrlAndOcsp);
        assert_eq!("sometimes".parse::<Check>().unwrap_err().code, "invalid-revocation-check");
    }

    #[test]
    fn crl_and_ocsp_joined() {
        let revoked = Status::Revoked(Revocation { revoked_at: OffsetDateTime::UNIX_EPOCH, reason: None });
        let (good, unknown, none) = (Status::Good, Status::Unknown, Status::NotChecked);
        let policy = |check| Policy { check, when_unknown: WhenUnknown::Deny };
        let both = policy(Check::CrlAndOcsp);
        assert_eq!(decide(both, good, revoked), (revoked, Some(Decider::Ocsp)));
        assert_eq!(decide(both, revoked, good), (revoked, Some(Decider::Crl)));
        assert_eq!(decide(both, unknown, good), (good, Some(Decider::Ocsp)));
        assert_eq!(decide(both, none, unknown), (unknown, Some(Decider::Ocsp)));
        assert_eq!(decide(both, none, none), (none, None));
        assert_eq!(decide(policy(Check::Ocsp), revoked, good), (good, Some(Decider::Ocsp)));
        assert_eq!(decide(policy(Check::Crl), good, revoked), (good, Some(Decider::Crl)));
        assert_eq!(decide(policy(Check::Off), revoked, revoked), (none, None));
    }
}
