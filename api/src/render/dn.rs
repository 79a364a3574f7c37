//! Many-to-one rules as regexes over a distinguished name printed the way OpenSSL prints it with
//! `XN_FLAG_RFC2253` (nginx's `$ssl_client_s_dn`, HAProxy's `ssl_c_s_dn(,0,rfc2253)`).
//!
//! That form is `CN=alice,OU=Staff,O=Contoso`: attributes joined by `,` (or `+` inside one RDN),
//! short names (`ST`, `emailAddress`), and inside a value `, + " \ < > ;` escaped with a
//! backslash, `#` and space escaped at the start and space at the end, and every byte of a
//! non-ASCII character as `\XX` (uppercase hex). A rule must match one value, never text that
//! straddles two attributes, so the regex walks the name as tokens: a backslash always takes the
//! next character with it, which keeps an escaped `\,` from ever passing for a separator (a
//! subject `O=x\,CN=admin` must not satisfy a rule on CN).

use crate::domain::resolve::{Rule, SubField};

use super::RenderError;

/// One character of a value as it appears in the printed name: either a plain character or an
/// escape pair. `\n` is excluded so a match never leaves its line (nginx joins subject and issuer
/// with a newline, which OpenSSL would print escaped inside a name).
const VALUE_TOKEN: &str = r"(?:[^\\,+\n]|\\.)";
/// Any run of tokens, separators included: what may stand before an attribute on its line.
const LINE_TOKENS: &str = r"(?:[^\\\n]|\\.)*";

/// The short name OpenSSL prints for the sub-field.
fn attribute_name(sub: SubField) -> &'static str {
    match sub {
        SubField::E => "emailAddress",
        SubField::S => "ST",
        other => other.as_str(),
    }
}

/// A regex for "some attribute of this rule's type, anywhere on the current line, has a value the
/// rule's wildcard matches", to be placed where a line starts. It ends before the value's end
/// boundary, which the caller supplies (`(?:[,+]|$)` for one name, `(?:[,+]|\n)` before another
/// line).
pub(crate) fn rule_body(rule: &Rule, mapping: &str) -> Result<String, RenderError> {
    let mut out = format!("(?:{LINE_TOKENS}[,+])?{}=", attribute_name(rule.sub_field));
    let criteria = rule.criteria.as_str();
    for c in criteria.chars() {
        push_value_char(&mut out, c, rule.case_sensitive).map_err(|c| {
            RenderError::unsupported(format!(
                "many-to-one mapping {mapping:?}: a case-insensitive rule on {}/{} with the non-ASCII letter {c:?} \
                 (gateways see it only as escaped UTF-8 bytes and cannot fold its case)",
                rule.field.as_str(),
                rule.sub_field.as_str()
            ))
        })?;
    }
    Ok(out)
}

/// Err(c) when `c` cannot be matched faithfully.
fn push_value_char(out: &mut String, c: char, case_sensitive: bool) -> Result<(), char> {
    match c {
        '*' => {
            out.push_str(VALUE_TOKEN);
            out.push('*');
        }
        ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
            out.push_str(r"\\");
            push_literal(out, c);
        }
        // Escaped only at the start (and space at the end): optional backslash. A lone
        // backslash never appears unescaped, so this accepts nothing IIS would not.
        '#' | ' ' => {
            out.push_str(r"\\?");
            push_literal(out, c);
        }
        c if c.is_ascii_alphabetic() && !case_sensitive => {
            let (lo, up) = (c.to_ascii_lowercase(), c.to_ascii_uppercase());
            // The two non-ASCII letters whose lowercase is ASCII: certmap's resolver (Unicode
            // simple lowercase) lets them match `k` and `i` case-insensitively, so must the
            // gateway.
            match lo {
                'k' => out.push_str(&format!(r"(?:[{lo}{up}]|\\E2\\84\\AA)")),
                'i' => out.push_str(&format!(r"(?:[{lo}{up}]|\\C4\\B0)")),
                _ => out.push_str(&format!("[{lo}{up}]")),
            }
        }
        c if c.is_ascii() => push_literal(out, c),
        c => {
            let has_case = c.to_lowercase().ne(std::iter::once(c)) || c.to_uppercase().ne(std::iter::once(c));
            if !case_sensitive && has_case {
                return Err(c);
            }
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!(r"\\{b:02X}"));
            }
        }
    }
    Ok(())
}

fn push_literal(out: &mut String, c: char) {
    if !c.is_ascii_alphanumeric() {
        out.push('\\');
    }
    out.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::resolve::{CertificateField, MatchCriteria};

    /// The rule over one whole name.
    fn rule_regex(rule: &Rule, mapping: &str) -> Result<String, RenderError> {
        Ok(format!("^{}(?:[,+]|$)", rule_body(rule, mapping)?))
    }

    fn rule(sub: SubField, criteria: &str, case_sensitive: bool) -> Rule {
        Rule {
            field: CertificateField::Subject,
            sub_field: sub,
            criteria: MatchCriteria::parse(criteria).unwrap(),
            case_sensitive,
        }
    }

    #[test]
    fn shapes() {
        assert_eq!(
            rule_regex(&rule(SubField::CN, "a*", true), "m").unwrap(),
            r"^(?:(?:[^\\\n]|\\.)*[,+])?CN=a(?:[^\\,+\n]|\\.)*(?:[,+]|$)"
        );
        assert_eq!(
            rule_regex(&rule(SubField::S, "x", true), "m").unwrap(),
            r"^(?:(?:[^\\\n]|\\.)*[,+])?ST=x(?:[,+]|$)"
        );
        assert!(rule_regex(&rule(SubField::E, "x", true), "m").unwrap().contains("emailAddress="));
        assert_eq!(
            rule_regex(&rule(SubField::O, "Ab", false), "m").unwrap(),
            r"^(?:(?:[^\\\n]|\\.)*[,+])?O=[aA][bB](?:[,+]|$)"
        );
    }

    #[test]
    fn rfc2253_escapes_and_metacharacters() {
        let r = rule_regex(&rule(SubField::O, r#"a,b+c"d\e<f>g;h#i j.k$l(m)[n]{o}|p?q^r/s'"#, true), "m").unwrap();
        assert!(
            r.contains(r#"a\\\,b\\\+c\\\"d\\\\e\\\<f\\\>g\\\;h\\?\#i\\?\ j\.k\$l\(m\)\[n\]\{o\}\|p\?q\^r\/s\'"#),
            "{r}"
        );
    }

    #[test]
    fn non_ascii_is_matched_as_escaped_utf8() {
        let r = rule_regex(&rule(SubField::CN, "Évil", true), "m").unwrap();
        assert!(r.contains(r"=\\C3\\89vil("), "{r}");
        let r = rule_regex(&rule(SubField::CN, "日本", false), "m").unwrap();
        assert!(r.contains(r"=\\E6\\97\\A5\\E6\\9C\\AC("), "uncased letters need no folding: {r}");
        let err = rule_regex(&rule(SubField::CN, "Évil", false), "evil-ca").unwrap_err();
        let RenderError::Unsupported { what } = err else { panic!() };
        assert!(what.contains("evil-ca") && what.contains("'É'"), "{what}");
    }

    #[test]
    fn ascii_letters_fold_like_the_resolver() {
        let r = rule_regex(&rule(SubField::CN, "ki", false), "m").unwrap();
        assert!(r.contains(r"(?:[kK]|\\E2\\84\\AA)(?:[iI]|\\C4\\B0)"), "{r}");
    }
}
