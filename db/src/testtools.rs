//! The programs tests need besides PostgreSQL: real gateways and tools. A test that cannot run
//! fails and says what to install; it never counts as passed without having run. Setting
//! `CERTMAP_SKIP_GATEWAY_TESTS=1` (CI never does) is the one explicit way to skip them instead.

use std::path::{Path, PathBuf};

pub const SKIP_VARIABLE: &str = "CERTMAP_SKIP_GATEWAY_TESTS";

/// The Debian package that ships each program the tests run.
const PACKAGES: &[(&str, &str)] = &[
    ("apache2", "apache2"),
    ("caddy", "caddy"),
    ("curl", "curl"),
    ("grep", "grep"),
    ("haproxy", "haproxy"),
    ("jq", "jq"),
    ("nginx", "nginx"),
    ("openssl", "openssl"),
    ("systemd-analyze", "systemd"),
    ("xmllint", "libxml2-utils"),
];

/// Whether every program in `programs` is installed. When one is not: a panic that names the
/// `apt-get install` line, or — with CERTMAP_SKIP_GATEWAY_TESTS=1 — false after saying so, and
/// the caller returns.
#[track_caller]
pub fn require(programs: &[&str]) -> bool {
    let missing: Vec<&str> = programs.iter().copied().filter(|p| find(p).is_none()).collect();
    if missing.is_empty() {
        return true;
    }
    let packages: Vec<&str> = missing
        .iter()
        .map(|p| PACKAGES.iter().find(|(program, _)| program == p).map_or(*p, |(_, package)| package))
        .collect();
    let install = format!("apt-get install {}", packages.join(" "));
    if std::env::var(SKIP_VARIABLE).is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED ({SKIP_VARIABLE}=1): {} not installed; `{install}` runs this test", missing.join(", "));
        return false;
    }
    panic!(
        "this test needs {} and cannot run without it: `{install}` (or set {SKIP_VARIABLE}=1 to skip the tests \
         that need real gateways and tools, which then do not count as run)",
        missing.join(", ")
    );
}

/// A program on PATH, or in the sbin directories a non-root PATH lacks (apache2, haproxy).
pub fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_programs_are_found() {
        assert!(require(&["sh"]));
        assert!(find("sh").is_some());
    }

    #[test]
    fn a_missing_program_fails_with_the_install_line() {
        if std::env::var(SKIP_VARIABLE).is_ok_and(|v| v == "1") {
            return; // the opt-out answers false instead; checked by the gateway tests' output
        }
        let failure = std::panic::catch_unwind(|| require(&["certmap-no-such-tool", "xmllint-surely-not"]));
        let message = *failure.expect_err("a missing program fails the test").downcast::<String>().unwrap();
        assert!(message.contains("apt-get install certmap-no-such-tool xmllint-surely-not"), "{message}");
        assert!(message.contains(SKIP_VARIABLE), "{message}");
    }
}
