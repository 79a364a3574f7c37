//! Replacing a file a gateway reads: the new content appears whole or not at all (a temporary file
//! in the same directory, fsync, rename), and the previous content is kept aside until the
//! gateway's own check has accepted the new one, so a refused config is rolled back by a rename.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A file replaced but not yet accepted: call `keep` or `restore`.
#[must_use]
#[derive(Debug)]
pub struct Installed {
    path: PathBuf,
    /// A hard link to the previous content; None when there was no file before.
    previous: Option<PathBuf>,
}

/// The real file behind `path`: a symlink (e.g. sites-enabled -> sites-available) stays a symlink.
fn target(path: &Path) -> io::Result<PathBuf> {
    match fs::canonicalize(path) {
        Ok(real) => Ok(real),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(path.to_owned()),
        Err(e) => Err(e),
    }
}

/// `dir/.name.suffix`: hidden and not ending in `.conf`, so no `include *.conf` picks it up.
fn side_file(path: &Path, suffix: &str) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{suffix}"))
}

fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

/// The current content of `path`, None if there is no file yet.
pub fn current(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Puts `content` at `path` atomically, with the mode and owner of the file it replaces.
pub fn install(path: &Path, content: &[u8]) -> io::Result<Installed> {
    let path = target(path)?;
    let existing = match fs::metadata(&path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let temp = side_file(&path, "certmap-new");
    let _ = fs::remove_file(&temp);
    let written = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o644).open(&temp)?;
        if let Some(m) = &existing {
            file.set_permissions(fs::Permissions::from_mode(m.mode() & 0o7777))?;
            let mine = file.metadata()?;
            if (mine.uid(), mine.gid()) != (m.uid(), m.gid()) {
                std::os::unix::fs::fchown(&file, Some(m.uid()), Some(m.gid()))?;
            }
        }
        file.write_all(content)?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    let previous = match existing {
        Some(_) => {
            let previous = side_file(&path, "certmap-previous");
            let _ = fs::remove_file(&previous);
            if let Err(e) = fs::hard_link(&path, &previous) {
                let _ = fs::remove_file(&temp);
                return Err(e);
            }
            Some(previous)
        }
        None => None,
    };
    if let Err(e) = fs::rename(&temp, &path) {
        let _ = fs::remove_file(&temp);
        if let Some(p) = &previous {
            let _ = fs::remove_file(p);
        }
        return Err(e);
    }
    sync_dir(&path)?;
    Ok(Installed { path, previous })
}

impl Installed {
    /// The new content stays; the copy of the previous one goes.
    pub fn keep(self) -> io::Result<()> {
        match &self.previous {
            Some(p) => fs::remove_file(p),
            None => Ok(()),
        }
    }

    /// Back to the content before `install` (no file, if there was none), atomically.
    pub fn restore(self) -> io::Result<()> {
        match &self.previous {
            Some(p) => fs::rename(p, &self.path)?,
            None => fs::remove_file(&self.path)?,
        }
        sync_dir(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("certmap-install-{label}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn keep_replaces_and_preserves_the_mode() {
        let dir = scratch("keep");
        let file = dir.join("certmap.conf");
        fs::write(&file, "old").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
        let installed = install(&file, b"new").unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "new");
        installed.keep().unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "new");
        assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o640);
        assert_eq!(names(&dir), ["certmap.conf"], "no side file left behind");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn restore_brings_back_the_previous_content() {
        let dir = scratch("restore");
        let file = dir.join("certmap.conf");
        fs::write(&file, "good").unwrap();
        let installed = install(&file, b"broken").unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "broken");
        installed.restore().unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "good");
        assert_eq!(names(&dir), ["certmap.conf"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_first_file_is_created_and_removed_again_on_restore() {
        let dir = scratch("first");
        let file = dir.join("certmap.map");
        assert_eq!(current(&file).unwrap(), None);
        install(&file, b"one").unwrap().keep().unwrap();
        assert_eq!(current(&file).unwrap().as_deref(), Some(&b"one"[..]));
        fs::remove_file(&file).unwrap();
        install(&file, b"two").unwrap().restore().unwrap();
        assert!(names(&dir).is_empty());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_symlink_stays_a_symlink() {
        let dir = scratch("symlink");
        let real = dir.join("available.conf");
        let link = dir.join("enabled.conf");
        fs::write(&real, "old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        install(&link, b"new").unwrap().keep().unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_to_string(&real).unwrap(), "new");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_directory_fails_without_touching_anything() {
        let dir = scratch("missing");
        let file = dir.join("nowhere").join("certmap.conf");
        assert!(install(&file, b"x").is_err());
        assert!(names(&dir).is_empty());
        fs::remove_dir_all(dir).unwrap();
    }
}
