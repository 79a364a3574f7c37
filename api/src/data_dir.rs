//! Where certmap keeps its private PostgreSQL cluster and its secrets. One rule, used by `serve`
//! and by every command that needs the server's secrets (`token issue`), so that a token issued
//! next to a server is signed with the secret that server verifies with.
//!
//! `--data-dir` / `CERTMAP_DATA_DIR` always wins. Otherwise `./certmap-data`, unless certmap runs
//! as root and the `postgres` user (which PostgreSQL then runs as) cannot reach the current
//! directory — the usual case being a checkout in root's mode-700 home — and then
//! `/var/lib/certmap`. The rule does not depend on whether the server uses the private cluster,
//! because `token issue` cannot know that.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const DEFAULT: &str = "./certmap-data";
pub const SYSTEM: &str = "/var/lib/certmap";
/// The user PostgreSQL runs as when certmap is root (see `certmap_db::cluster`).
const SERVICE_USER: &str = "postgres";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    pub path: PathBuf,
    pub chosen: Chosen,
}

/// Why this directory: printed in the first log lines and in every error that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chosen {
    Given,
    Default,
    /// `./certmap-data` would sit where the `postgres` user cannot reach.
    SystemBecauseUnreachable,
}

impl DataDir {
    pub fn resolve(given: Option<PathBuf>) -> Self {
        Self::choose(given, || !is_root() || postgres_can_reach(Path::new(".")))
    }

    fn choose(given: Option<PathBuf>, default_reachable: impl FnOnce() -> bool) -> Self {
        match given.filter(|p| !p.as_os_str().is_empty()) {
            Some(path) => Self { path, chosen: Chosen::Given },
            None if default_reachable() => Self { path: DEFAULT.into(), chosen: Chosen::Default },
            None => Self { path: SYSTEM.into(), chosen: Chosen::SystemBecauseUnreachable },
        }
    }

    /// Creates the system location if it was chosen and is missing: owned by root, mode 0711, so
    /// the `postgres` user can pass through to the cluster's own subdirectory but nobody else can
    /// list the secrets next to it. A directory the operator named is left to the operator.
    pub fn create_if_system(&self) -> std::io::Result<()> {
        if self.chosen == Chosen::SystemBecauseUnreachable && !self.path.exists() {
            fs::DirBuilder::new().recursive(true).mode(0o711).create(&self.path)?;
        }
        Ok(())
    }
}

impl fmt::Display for DataDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match self.chosen {
            Chosen::Given => write!(f, "{path} (from --data-dir / CERTMAP_DATA_DIR)"),
            Chosen::Default => write!(f, "{path} (the default)"),
            Chosen::SystemBecauseUnreachable => write!(
                f,
                "{path} (the default {DEFAULT} is not reachable by the '{SERVICE_USER}' user PostgreSQL runs as when \
                 certmap is root; --data-dir / CERTMAP_DATA_DIR chooses another)"
            ),
        }
    }
}

/// Held by the one `certmap serve` that runs the private cluster in a data directory. A second
/// server there would share the first one's PostgreSQL, and lose it when the first one stops.
#[derive(Debug)]
pub struct ServeLock {
    /// The lock lasts as long as the open file.
    _file: fs::File,
}

pub const LOCK_FILE: &str = "serve.lock";

impl ServeLock {
    pub fn acquire(dir: &Path) -> Result<Self, String> {
        let path = dir.join(LOCK_FILE);
        let io = |e: std::io::Error| format!("cannot lock {}: {e}", path.display());
        fs::create_dir_all(dir).map_err(io)?;
        let mut file =
            fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {
                // Who holds it, for the message the next one prints.
                file.set_len(0).and_then(|()| writeln!(file, "{}", std::process::id())).map_err(io)?;
                Ok(Self { _file: file })
            }
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim();
                let pid = if holder.is_empty() { String::new() } else { format!(" (pid {holder})") };
                Err(format!(
                    "another certmap serve{pid} is already serving {}: a second one would share its private PostgreSQL \
                     and lose it when the first stops. Stop that one first, give this one its own --data-dir, or run \
                     replicas against one PostgreSQL with --database-url",
                    dir.display()
                ))
            }
            Err(fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }
}

fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Whether `postgres` may traverse `dir` and every parent. Without that user (or `runuser`) the
/// answer is yes: the cluster then fails with the message that names what is missing.
fn postgres_can_reach(dir: &Path) -> bool {
    let Ok(dir) = dir.canonicalize() else { return true };
    match Command::new("runuser")
        .args(["-u", SERVICE_USER, "--", "test", "-x"])
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) => status.success() || !user_exists(),
        Err(_) => true,
    }
}

fn user_exists() -> bool {
    Command::new("id").arg(SERVICE_USER).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_directory_always_wins() {
        let dir = DataDir::choose(Some("/srv/cm".into()), || false);
        assert_eq!(dir, DataDir { path: "/srv/cm".into(), chosen: Chosen::Given });
    }

    #[test]
    fn the_default_unless_postgres_cannot_reach_it() {
        assert_eq!(DataDir::choose(None, || true).path, Path::new(DEFAULT));
        assert_eq!(DataDir::choose(Some("".into()), || true).chosen, Chosen::Default);
        let system = DataDir::choose(None, || false);
        assert_eq!(system.path, Path::new(SYSTEM));
        assert!(system.to_string().contains("not reachable by the 'postgres' user"), "{system}");
    }

    #[test]
    fn postgres_reaches_a_world_traversable_directory() {
        // Only root runs PostgreSQL as another user; /tmp is what the README calls reachable.
        assert!(!is_root() || postgres_can_reach(Path::new("/tmp")));
    }

    #[test]
    fn postgres_cannot_reach_below_a_private_directory() {
        use std::os::unix::fs::PermissionsExt;
        if !is_root() {
            return; // PostgreSQL runs as ourselves: every directory we can use, it can.
        }
        let home = std::env::temp_dir().join(format!("certmap-private-home-{}", std::process::id()));
        let clone = home.join("clone");
        fs::create_dir_all(&clone).unwrap();
        fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).unwrap();
        let reachable = postgres_can_reach(&clone);
        fs::remove_dir_all(&home).unwrap();
        assert!(!reachable, "a checkout under a mode-700 directory is out of the postgres user's reach");
    }
}
