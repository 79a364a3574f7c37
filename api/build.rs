//! Records the git revision certmap is built from, for `certmap --version`. A build from a
//! tarball (no .git, or no git) says so instead of failing; packagers may set
//! CERTMAP_GIT_REVISION themselves.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CERTMAP_GIT_REVISION");
    let given = std::env::var("CERTMAP_GIT_REVISION").ok().filter(|r| !r.trim().is_empty());
    let revision = given.or_else(|| {
        // A tarball unpacked inside some other checkout must not report that checkout's commit.
        let ours = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?.canonicalize().ok()?;
        let top = git(&["rev-parse", "--show-toplevel"])?;
        if Path::new(&top).canonicalize().ok()? != ours {
            return None;
        }
        watch_git_head();
        git(&["rev-parse", "--short=12", "HEAD"]).map(|r| format!("git {r}"))
    });
    println!("cargo:rustc-env=CERTMAP_GIT_REVISION={}", revision.as_deref().unwrap_or("git revision unknown"));
}

/// Rebuild when HEAD moves: HEAD itself, the branch it points to, and packed refs.
fn watch_git_head() {
    let mut paths = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    paths.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for path in paths {
        if let Some(file) = git(&["rev-parse", "--path-format=absolute", "--git-path", &path]) {
            if Path::new(&file).exists() {
                println!("cargo:rerun-if-changed={file}");
            }
        }
    }
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}
