//! One mapping section's entries converted to certmap's values: one-to-one certificates and
//! passwords, many-to-one rules, each refusal named in IIS's terms.

use super::super::model::{self, Collection, MappingSection, PasswordAttr, Scope};
use super::{place, Analyzer, F, SYMPTOM_500_19, SYMPTOM_BAD_BLOB};
use crate::domain::certificate::{Certificate, Validity};
use crate::domain::mapping::{parse_description, parse_mapping_name, rfc3339};
use crate::domain::names::{LogonDomain, UserName};
use crate::domain::resolve::{CertificateField, MatchCriteria, PermissionMode, Rule, SubField, MAX_RULES};
use crate::domain::site::LogonMethod;

/// One mapping section's entries, converted once (so their findings are reported once) and then
/// merged into every site that inherits them.
pub(super) struct Converted {
    pub(super) one_to_one: Collection<Option<OneToOneDraft>>,
    pub(super) many_to_one: Collection<Option<ManyToOneDraft>>,
}

pub(super) struct OneToOneDraft {
    pub(super) line: u32,
    pub(super) user_name: UserName,
    pub(super) enabled: bool,
    pub(super) certificate: Certificate,
    pub(super) password: Option<String>,
}

#[derive(Clone)]
pub(super) struct ManyToOneDraft {
    pub(super) line: u32,
    pub(super) name: String,
    pub(super) description: Option<String>,
    pub(super) enabled: bool,
    pub(super) mode: PermissionMode,
    pub(super) user_name: Option<UserName>,
    pub(super) password: Option<String>,
    pub(super) rules: Vec<Rule>,
}

impl Analyzer<'_> {
    pub(super) fn convert_section(&mut self, scope: &Scope, m: &MappingSection) -> Converted {
        self.bool_attr(scope, m.line, "enabled", m.enabled.as_deref());
        self.bool_attr(scope, m.line, "oneToOneCertificateMappingsEnabled", m.one_to_one_enabled.as_deref());
        self.bool_attr(scope, m.line, "manyToOneCertificateMappingsEnabled", m.many_to_one_enabled.as_deref());
        if let Some(raw) = &m.logon_method {
            if raw.parse::<LogonMethod>().is_err() {
                self.invalid_value(scope, m.line, "logonMethod", raw, "Interactive, Batch, Network or ClearText");
            }
        }
        if let Some(raw) = &m.default_logon_domain {
            if LogonDomain::parse(raw).is_err() {
                self.invalid_value(scope, m.line, "defaultLogonDomain", raw, "a Windows domain name such as CONTOSO");
            }
        }
        let one_to_one = Collection {
            cleared: m.one_to_one.cleared,
            items: m.one_to_one.items.iter().map(|e| self.one_to_one(scope, e)).collect(),
        };
        let many_to_one = Collection {
            cleared: m.many_to_one.cleared,
            items: m.many_to_one.items.iter().map(|e| self.many_to_one(scope, e)).collect(),
        };
        Converted { one_to_one, many_to_one }
    }

    pub(super) fn password(
        &mut self,
        scope: &Scope,
        line: u32,
        owner: &str,
        p: Option<&PasswordAttr>,
    ) -> Option<String> {
        match p? {
            PasswordAttr::Encrypted => {
                self.push(F::warning("password-not-imported", Some(scope), line)
                    .says(format!("the password of {owner} is encrypted by IIS's configuration provider, whose key never leaves that server: certmap cannot read it and does not import it"))
                    .symptom("401.1 Unauthorized (logon failure) once certmap's rendered config replaces this one without a password")
                    .fix(format!("after import, set the password of {owner} in certmap (PATCH the mapping with \"password\"), or keep setting it in IIS Manager")));
                None
            }
            PasswordAttr::Clear(pw) => {
                self.push(F::warning("clear-text-password", Some(scope), line)
                    .says(format!("the password of {owner} is in clear text: anyone who can read applicationHost.config can read it"))
                    .symptom("none: IIS accepts it, but the account's password is exposed")
                    .fix("set it with IIS Manager or the PowerShell script certmap renders, so IIS encrypts it; certmap imports it encrypted at rest"));
                Some(pw.expose().to_owned())
            }
            PasswordAttr::Invalid => {
                self.push(F::warning("invalid-password", Some(scope), line)
                    .says(format!("the password of {owner} is empty, longer than 256 characters or holds control characters: not imported"))
                    .symptom("401.1 Unauthorized: logon failure")
                    .fix(format!("set the password of {owner} again")));
                None
            }
        }
    }

    pub(super) fn one_to_one(&mut self, scope: &Scope, e: &model::OneToOneEntry) -> Option<OneToOneDraft> {
        // An error blocks the entry it names: a flag IIS cannot read is not guessed.
        let enabled = match e.enabled.as_deref() {
            None => true,
            raw => self.bool_attr(scope, e.line, "enabled of a one-to-one mapping; the entry is not imported", raw)?,
        };
        let Some(raw) = &e.certificate else {
            self.push(
                F::error("certificate-missing", Some(scope), e.line)
                    .says("a one-to-one mapping has no certificate attribute (it is required: the collection's key)")
                    .symptom(SYMPTOM_500_19)
                    .fix("add the client certificate as base64 of its DER on one line, or remove the entry"),
            );
            return None;
        };
        let certificate = self.certificate(scope, e.line, raw)?;
        let who = e.user_name.as_deref().unwrap_or("");
        let owner = format!("the one-to-one mapping of {} ({who})", certificate.info().subject);
        let password = self.password(scope, e.line, &owner, e.password.as_ref());
        let user_name =
            match UserName::parse(who) {
                Ok(u) => u,
                Err(r) => {
                    self.push(F::error("invalid-user-name", Some(scope), e.line)
                    .says(format!(
                        "the certificate {} is mapped to an invalid account: {}",
                        certificate.info().subject,
                        r.message
                    ))
                    .symptom("401.1 Unauthorized: IIS cannot log the account on")
                    .fix("set userName to DOMAIN\\user, user@domain or user; the entry is not imported until then"));
                    return None;
                }
            };
        let info = certificate.info();
        if info.is_ca {
            self.push(F::warning("certificate-is-ca", Some(scope), e.line)
                .says(format!(
                    "{} is a CA certificate, not a client certificate; certmap does not import it",
                    info.subject
                ))
                .symptom("the mapping only matches a client presenting the CA certificate itself")
                .fix("map the client certificates the CA issues (one-to-one), or use a many-to-one rule on the Issuer"));
            return None;
        }
        match certificate.validity_at(self.options.now) {
            Validity::Valid => {}
            v => self.push(F::warning("certificate-expired", Some(scope), e.line)
                .says(match v {
                    Validity::Expired => format!("the certificate mapped to {user_name} ({}) expired on {}", info.subject, rfc3339(info.not_after)),
                    _ => format!("the certificate mapped to {user_name} ({}) is not valid before {}", info.subject, rfc3339(info.not_before)),
                })
                .symptom("403.17: the client certificate has expired or is not yet valid")
                .fix("map the client's renewed certificate (a renewed certificate is a new mapping) and remove this one; certmap imports it with allow_expired")),
        }
        Some(OneToOneDraft { line: e.line, user_name, enabled, certificate, password })
    }

    /// The certificate as IIS stores it; a damaged blob is named precisely and imported cleaned
    /// when it still holds a certificate.
    pub(super) fn certificate(&mut self, scope: &Scope, line: u32, raw: &str) -> Option<Certificate> {
        let damage = if raw.contains("-----BEGIN") || raw.contains("-----END") {
            Some("it still has its PEM armour (-----BEGIN CERTIFICATE-----)".to_owned())
        } else if raw.contains(['\n', '\r']) {
            Some("it holds line breaks".to_owned())
        } else if raw.contains(char::is_whitespace) {
            Some("it holds spaces".to_owned())
        } else {
            use base64::Engine as _;
            match base64::engine::general_purpose::STANDARD.decode(raw) {
                Err(e) => Some(format!("it is not valid base64 ({e})")),
                Ok(der) => Certificate::from_der(&der).err().map(|e| e.to_string()),
            }
        };
        let lenient = Certificate::parse_text(raw).map(|p| p.certificate);
        if let Some(damage) = damage {
            let fix = match &lenient {
                Ok(_) => "give IIS the base64 of the DER on one line, without armour, spaces or line breaks; certmap import with repair=true imports it in that form, so deploying certmap's rendered configuration fixes it".to_owned(),
                Err(_) => "export the client certificate again as Base-64 encoded X.509 (.cer) and paste its base64 on one line, without the BEGIN/END lines; this entry is not imported".to_owned(),
            };
            let message = match &lenient {
                Err(e) if e.to_string() == damage => format!("a one-to-one certificate cannot be decoded: {damage}"),
                Err(e) => format!("a one-to-one certificate cannot be decoded: {damage}; {e}"),
                Ok(c) => format!("the certificate of {} is damaged as IIS reads it: {damage}", c.info().subject),
            };
            // An error blocks its entry: the cleaned certificate is imported only as a repair.
            self.push(
                (if lenient.is_ok() { F::blocking } else { F::error })("certificate-damaged", Some(scope), line)
                    .says(message)
                    .symptom(SYMPTOM_BAD_BLOB)
                    .fix(fix),
            );
            if let Ok(c) = &lenient {
                self.repairs.push(format!("{}: re-encoded the certificate of {}", place(scope), c.info().subject));
            }
        }
        lenient.ok()
    }

    pub(super) fn many_to_one(&mut self, scope: &Scope, e: &model::ManyToOneEntry) -> Option<ManyToOneDraft> {
        let bad = |a: &mut Self, code, message: String, symptom, fix: &str| {
            a.push(F::error(code, Some(scope), e.line).says(message).symptom(symptom).fix(fix))
        };
        let Some(name) = e.name.as_deref().and_then(|n| parse_mapping_name(n).ok()) else {
            bad(
                self,
                "invalid-value",
                format!(
                    "a many-to-one mapping has no valid name ({:?}): the name is the collection's key",
                    e.name.as_deref().unwrap_or("")
                ),
                SYMPTOM_500_19,
                "give it a unique name of 1 to 255 characters",
            );
            return None;
        };
        let label = format!("many-to-one mapping {name:?}");
        let enabled = match e.enabled.as_deref() {
            None => true,
            raw => self.bool_attr(scope, e.line, &format!("enabled of {label}; the mapping is not imported"), raw)?,
        };
        let mode = match e.permission_mode.as_deref().map(PermissionMode::parse) {
            None => PermissionMode::Allow,
            Some(Ok(m)) => m,
            Some(Err(_)) => {
                self.invalid_value(
                    scope,
                    e.line,
                    &format!("permissionMode of {label}"),
                    e.permission_mode.as_deref().unwrap_or(""),
                    "Allow or Deny",
                );
                return None;
            }
        };
        let description = match e.description.as_deref().map(parse_description) {
            None => None,
            Some(Ok(d)) => Some(d),
            Some(Err(r)) => {
                self.push(
                    F::warning("invalid-description", Some(scope), e.line)
                        .says(format!("the description of {label} is not imported: {}", r.message))
                        .symptom("none: IIS does not use the description")
                        .fix("shorten the description to 1024 characters without control characters"),
                );
                None
            }
        };
        let password = self.password(scope, e.line, &label, e.password.as_ref());
        let user_name = match e.user_name.as_deref().filter(|u| !u.is_empty()) {
            None => None,
            Some(u) => match UserName::parse(u) {
                Ok(u) => Some(u),
                Err(r) => {
                    bad(
                        self,
                        "invalid-user-name",
                        format!("{label} names an invalid account: {}", r.message),
                        "401.1 Unauthorized: IIS cannot log the account on",
                        "set userName to DOMAIN\\user, user@domain or user; not imported until then",
                    );
                    return None;
                }
            },
        };
        if mode == PermissionMode::Allow && user_name.is_none() {
            bad(
                self,
                "allow-without-user",
                format!("{label} allows certificates but names no account to log them on as"),
                "401.1 Unauthorized: logon failure for every certificate it matches",
                "set userName (and its password), or make it a Deny mapping; not imported until then",
            );
            return None;
        }
        let mut rules = Vec::new();
        let mut ok = true;
        for r in &e.rules.items {
            ok &= self.rule(scope, &label, r, &mut rules);
        }
        if !ok {
            return None;
        }
        if rules.is_empty() {
            self.push(F::warning("many-to-one-without-rules", Some(scope), e.line)
                .says(format!("{label} has no rules, so nothing says which certificates it applies to; certmap does not import it"))
                .symptom("the mapping is not limited to any issuer or subject")
                .fix("add at least one rule (e.g. Issuer CN = your issuing CA)"));
            return None;
        }
        if rules.len() > MAX_RULES {
            bad(
                self,
                "too-many-rules",
                format!("{label} has {} rules; certmap stores at most {MAX_RULES}", rules.len()),
                "every rule is checked on every request",
                "split the mapping",
            );
            return None;
        }
        Some(ManyToOneDraft { line: e.line, name, description, enabled, mode, user_name, password, rules })
    }

    /// A rule converted, or its finding; false when the mapping cannot be imported.
    pub(super) fn rule(&mut self, scope: &Scope, label: &str, r: &model::RuleEntry, out: &mut Vec<Rule>) -> bool {
        let finding = |a: &mut Self, code, message: String, symptom, fix: &str| {
            a.push(F::error(code, Some(scope), r.line).says(message).symptom(symptom).fix(fix));
            false
        };
        let field = match CertificateField::parse(r.field.as_deref().unwrap_or("")) {
            Ok(f) => f,
            Err(_) => {
                return finding(
                    self,
                    "unknown-certificate-field",
                    format!(
                        "a rule of {label} has certificateField {:?}: IIS knows only Subject and Issuer",
                        r.field.as_deref().unwrap_or("")
                    ),
                    SYMPTOM_500_19,
                    "set certificateField to Subject or Issuer",
                );
            }
        };
        let sub_field = match SubField::parse(r.sub_field.as_deref().unwrap_or("")) {
            Ok(f) => f,
            Err(_) => {
                return finding(self, "unknown-certificate-sub-field", format!("a rule of {label} has certificateSubField {:?}, which names no part of a certificate name IIS compares", r.sub_field.as_deref().unwrap_or("")), "the rule never matches, so the mapping never applies: its certificates get 401.1 or 403.7", "use CN, OU, O, L, S (state or province), C or E");
            }
        };
        let criteria = match MatchCriteria::parse(r.criteria.as_deref().unwrap_or("")) {
            Ok(c) => c,
            Err(_) if r.criteria.as_deref().is_none_or(|c| c.trim().is_empty()) => {
                return finding(
                    self,
                    "empty-match-criteria",
                    format!("a rule of {label} has an empty matchCriteria"),
                    "the rule never matches, so the mapping never applies: its certificates get 401.1",
                    "set matchCriteria to the value to match; * matches any value",
                );
            }
            Err(rej) => {
                return finding(
                    self,
                    "invalid-value",
                    format!("a rule of {label}: {}", rej.message),
                    SYMPTOM_500_19,
                    "shorten the matchCriteria and remove control characters",
                );
            }
        };
        let case_sensitive = match r.case_sensitive.as_deref() {
            None => true,
            raw => match self.bool_attr(
                scope,
                r.line,
                &format!("compareCaseSensitive of a rule of {label}; the mapping is not imported"),
                raw,
            ) {
                Some(b) => b,
                None => return false,
            },
        };
        out.push(Rule { field, sub_field, criteria, case_sensitive });
        true
    }
}
