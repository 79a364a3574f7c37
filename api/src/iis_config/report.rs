//! Findings as a compiler prints diagnostics, for `certmap lint`: `file:line: severity: message`,
//! then what IIS does and the fix, indented, so editors and CI logs can jump to the line.

use super::Finding;

pub fn compiler_style(file: &str, findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let at = match f.line {
            Some(line) => format!("{file}:{line}"),
            None => file.to_owned(),
        };
        out.push_str(&format!("{at}: {}: {} [{}]\n", f.severity.as_str(), f.message, f.code));
        if let Some(path) = &f.location_path {
            out.push_str(&format!("    location: <location path=\"{path}\">\n"));
        }
        out.push_str(&format!("    IIS: {}\n", f.iis_symptom));
        out.push_str(&format!("    fix: {}\n", f.fix));
    }
    let count = |s| findings.iter().filter(|f| f.severity == s).count();
    use crate::domain::lint::Severity;
    out.push_str(&format!(
        "{file}: {} error(s), {} warning(s), {} note(s)\n",
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info)
    ));
    out
}
