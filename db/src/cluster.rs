//! A private PostgreSQL cluster under a data directory, driven by the system's `initdb` and
//! `pg_ctl`: the embedded default of `certmap serve`, and the server the tests run against.
//! It listens on a unix socket inside the directory only, so it never collides with a port.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// PostgreSQL refuses to run as root; when we are root it runs as this system user.
const SERVICE_USER: &str = "postgres";
/// Only names the socket file (`.s.PGSQL.5432`); nothing listens on TCP.
const SOCKET_PORT: u16 = 5432;
/// `sun_path` is 108 bytes on Linux, including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;
const SETTINGS_FILE: &str = "certmap.conf";

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "PostgreSQL server programs (initdb, pg_ctl) were not found in PATH or /usr/lib/postgresql/*/bin. \
         Install them (Debian/Ubuntu: `apt-get install postgresql`) or point certmap at a running server with \
         --database-url / CERTMAP_DATABASE_URL"
    )]
    BinariesNotFound,
    #[error("{0}")]
    Unreachable(String),
    #[error("{step} failed: {detail}")]
    Command { step: String, detail: String },
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
}

/// Extra `postgresql.conf` lines, e.g. durability off for throwaway test clusters.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    pub extra_settings: Vec<String>,
}

#[derive(Debug)]
pub struct LocalCluster {
    pgdata: PathBuf,
    socket_dir: PathBuf,
    log_file: PathBuf,
    bin_dir: PathBuf,
    as_service_user: bool,
    started_here: bool,
}

impl LocalCluster {
    /// Initialises the cluster under `dir` if it does not exist and starts it unless it is
    /// already running (another certmap process may share it).
    pub fn ensure_running(dir: &Path, options: &ClusterOptions) -> Result<Self, ClusterError> {
        let mut cluster = Self::at(dir)?;
        if !cluster.pgdata.join("PG_VERSION").exists() {
            cluster.init()?;
        }
        cluster.write_settings(options)?;
        if !cluster.is_running()? {
            cluster.start()?;
            cluster.started_here = true;
        }
        Ok(cluster)
    }

    /// A streaming standby of the cluster listening on 127.0.0.1:`primary_port`, copied by
    /// `pg_basebackup -R` into `dir` (which must not hold a cluster yet) and started with
    /// `options` (which must give it a port of its own).
    pub fn standby_of(primary_port: u16, dir: &Path, options: &ClusterOptions) -> Result<Self, ClusterError> {
        let mut cluster = Self::at(dir)?;
        // PostgreSQL refuses to start on a data directory others may read.
        fs::set_permissions(&cluster.pgdata, fs::Permissions::from_mode(0o700))
            .map_err(|source| ClusterError::Io { what: "cannot restrict", path: cluster.pgdata.clone(), source })?;
        let data = cluster.pgdata.to_string_lossy().into_owned();
        let port = primary_port.to_string();
        let args = ["-h", "127.0.0.1", "-p", &port, "-U", SERVICE_USER, "-D", &data, "-R", "-X", "stream"];
        let out = cluster.run(cluster.bin_dir.join("pg_basebackup"), &args)?;
        if !out.status.success() {
            return Err(command_error("pg_basebackup", &out));
        }
        cluster.write_settings(options)?;
        cluster.start()?;
        cluster.started_here = true;
        Ok(cluster)
    }

    /// A standby becomes a primary (`pg_ctl promote`, waiting until it accepts writes).
    pub fn promote(&self) -> Result<(), ClusterError> {
        let data = self.pgdata.to_string_lossy().into_owned();
        self.pg_ctl("promote PostgreSQL", &["promote", "-w", "-t", "60", "-D", &data])?;
        Ok(())
    }

    /// SIGKILL to the postmaster, as a crashed host would leave it: no shutdown, no goodbye.
    pub fn kill(&self) -> Result<(), ClusterError> {
        let pid_file = self.pgdata.join("postmaster.pid");
        let text = fs::read_to_string(&pid_file)
            .map_err(|source| ClusterError::Io { what: "cannot read", path: pid_file.clone(), source })?;
        let pid = text.lines().next().unwrap_or_default().trim().to_owned();
        let out = Command::new("kill").args(["-KILL", &pid]).output().map_err(|source| ClusterError::Io {
            what: "cannot run kill for",
            path: pid_file,
            source,
        })?;
        if !out.status.success() {
            return Err(command_error("kill the postmaster", &out));
        }
        Ok(())
    }

    /// The cluster's paths, its directories prepared; neither created nor started.
    fn at(dir: &Path) -> Result<Self, ClusterError> {
        let bin_dir = find_bin_dir().ok_or(ClusterError::BinariesNotFound)?;
        fs::create_dir_all(dir).map_err(|source| ClusterError::Io {
            what: "cannot create",
            path: dir.into(),
            source,
        })?;
        let dir = dir.canonicalize().map_err(|source| ClusterError::Io {
            what: "cannot resolve",
            path: dir.into(),
            source,
        })?;
        let cluster = Self {
            pgdata: dir.join("postgres"),
            socket_dir: dir.join("run"),
            log_file: dir.join("postgres.log"),
            bin_dir,
            as_service_user: is_root(),
            started_here: false,
        };
        cluster.check_socket_path()?;
        cluster.prepare_dirs()?;
        Ok(cluster)
    }

    /// A libpq URL for `database` over the cluster's socket.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SERVICE_USER}@/{database}?host={}&port={SOCKET_PORT}", self.socket_dir.display())
    }

    /// Whether this process started the server (and so should stop it on shutdown).
    pub fn started_here(&self) -> bool {
        self.started_here
    }

    pub fn start(&self) -> Result<(), ClusterError> {
        let log = self.log_file.to_string_lossy().into_owned();
        let data = self.pgdata.to_string_lossy().into_owned();
        self.pg_ctl("start PostgreSQL", &["start", "-w", "-t", "60", "-D", &data, "-l", &log])
            .map_err(|e| self.with_log_tail(e))?;
        Ok(())
    }

    pub fn stop(&self) -> Result<(), ClusterError> {
        let data = self.pgdata.to_string_lossy().into_owned();
        self.pg_ctl("stop PostgreSQL", &["stop", "-w", "-t", "60", "-m", "fast", "-D", &data])?;
        Ok(())
    }

    pub fn is_running(&self) -> Result<bool, ClusterError> {
        let data = self.pgdata.to_string_lossy().into_owned();
        let out = self.run(self.bin_dir.join("pg_ctl"), &["status", "-D", &data])?;
        // pg_ctl status: 0 running, 3 not running, 4 no usable data directory.
        match out.status.code() {
            Some(0) => Ok(true),
            Some(3) => Ok(false),
            _ => Err(command_error("check PostgreSQL status", &out)),
        }
    }

    fn init(&self) -> Result<(), ClusterError> {
        let data = self.pgdata.to_string_lossy().into_owned();
        let initdb = self.bin_dir.join("initdb");
        let out =
            self.run(initdb, &["-D", &data, "-U", SERVICE_USER, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"])?;
        if !out.status.success() {
            return Err(command_error("initdb", &out));
        }
        self.include_settings_file()
    }

    /// Our settings live in a file of their own, rewritten at every start, so a cluster made by an
    /// older certmap gets today's settings; `pg_ctl start` then needs no shell-quoted options (a
    /// data dir with spaces would break them).
    fn write_settings(&self, options: &ClusterOptions) -> Result<(), ClusterError> {
        self.include_settings_file()?;
        let mut settings = vec![
            "# written by certmap at every start; edit postgresql.conf instead".to_owned(),
            "listen_addresses = ''".to_owned(),
            format!("unix_socket_directories = '{}'", self.socket_dir.display().to_string().replace('\'', "''")),
            format!("port = {SOCKET_PORT}"),
            // The cluster trusts every local connection, so only its owner (and root) may reach the
            // socket; anyone else on the machine would otherwise be a superuser.
            "unix_socket_permissions = 0700".to_owned(),
        ];
        settings.extend(options.extra_settings.iter().cloned());
        let path = self.pgdata.join(SETTINGS_FILE);
        fs::write(&path, settings.join("\n") + "\n").map_err(|source| ClusterError::Io {
            what: "cannot write",
            path: path.clone(),
            source,
        })?;
        if self.as_service_user {
            let (uid, gid) = service_user_ids()?;
            chown_tree(&path, uid, gid)?;
        }
        Ok(())
    }

    fn include_settings_file(&self) -> Result<(), ClusterError> {
        let conf = self.pgdata.join("postgresql.conf");
        let io = |what: &'static str, conf: &Path| {
            let path = conf.to_path_buf();
            move |source| ClusterError::Io { what, path, source }
        };
        let text = fs::read_to_string(&conf).map_err(io("cannot read", &conf))?;
        let include = format!("include_if_exists = '{SETTINGS_FILE}'");
        if !text.lines().any(|l| l.trim() == include) {
            fs::write(&conf, format!("{text}\n{include}\n")).map_err(io("cannot write", &conf))?;
        }
        Ok(())
    }

    fn prepare_dirs(&self) -> Result<(), ClusterError> {
        for dir in [&self.pgdata, &self.socket_dir] {
            fs::create_dir_all(dir).map_err(|source| ClusterError::Io {
                what: "cannot create",
                path: dir.clone(),
                source,
            })?;
        }
        // Belt and braces with unix_socket_permissions: the socket's directory is private too.
        fs::set_permissions(&self.socket_dir, fs::Permissions::from_mode(0o700))
            .map_err(|source| ClusterError::Io { what: "cannot restrict", path: self.socket_dir.clone(), source })?;
        if !self.as_service_user {
            return Ok(());
        }
        let (uid, gid) = service_user_ids()?;
        for path in [&self.pgdata, &self.socket_dir] {
            chown_tree(path, uid, gid)?;
        }
        if !self.log_file.exists() {
            fs::write(&self.log_file, b"").map_err(|source| ClusterError::Io {
                what: "cannot create",
                path: self.log_file.clone(),
                source,
            })?;
        }
        chown_tree(&self.log_file, uid, gid)?;
        // PostgreSQL needs to traverse every parent; root's home (mode 700) is the usual trap.
        let probe =
            Command::new("runuser").args(["-u", SERVICE_USER, "--", "test", "-w"]).arg(&self.pgdata).output().map_err(
                |source| ClusterError::Io { what: "cannot run runuser for", path: self.pgdata.clone(), source },
            )?;
        if !probe.status.success() {
            return Err(ClusterError::Unreachable(format!(
                "PostgreSQL refuses to run as root, so certmap runs it as the '{SERVICE_USER}' user, which cannot reach {}: \
                 a parent directory is not traversable by others (root's home is mode 700). Choose a data directory in a \
                 world-traversable place, e.g. --data-dir /var/lib/certmap, or pass --database-url",
                self.pgdata.display()
            )));
        }
        Ok(())
    }

    fn check_socket_path(&self) -> Result<(), ClusterError> {
        let socket = self.socket_dir.join(format!(".s.PGSQL.{SOCKET_PORT}"));
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(ClusterError::Unreachable(format!(
                "the PostgreSQL socket path {} is longer than the {MAX_SOCKET_PATH} bytes a unix socket allows; choose a shorter --data-dir",
                socket.display()
            )));
        }
        Ok(())
    }

    fn pg_ctl(&self, step: &str, args: &[&str]) -> Result<Output, ClusterError> {
        let out = self.run(self.bin_dir.join("pg_ctl"), args)?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(command_error(step, &out))
        }
    }

    fn run(&self, program: PathBuf, args: &[&str]) -> Result<Output, ClusterError> {
        let mut cmd = if self.as_service_user {
            let mut c = Command::new("runuser");
            c.args(["-u", SERVICE_USER, "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        // The server must not inherit our stdout/stderr: a test harness waiting for them to close
        // would otherwise wait for PostgreSQL to exit.
        cmd.args(args).stdin(std::process::Stdio::null()).output().map_err(|source| ClusterError::Io {
            what: "cannot run",
            path: program,
            source,
        })
    }

    fn with_log_tail(&self, error: ClusterError) -> ClusterError {
        let tail = fs::read_to_string(&self.log_file)
            .map(|log| log.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n"))
            .unwrap_or_default();
        match error {
            ClusterError::Command { step, detail } if !tail.is_empty() => ClusterError::Command {
                step,
                detail: format!("{detail}\nlast lines of {}:\n{tail}", self.log_file.display()),
            },
            other => other,
        }
    }
}

fn command_error(step: &str, out: &Output) -> ClusterError {
    let mut detail = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if detail.is_empty() {
        detail = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    }
    ClusterError::Command { step: step.into(), detail: format!("{} ({})", detail, out.status) }
}

fn is_root() -> bool {
    fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

fn service_user_ids() -> Result<(u32, u32), ClusterError> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, SERVICE_USER]).output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    match (id("-u"), id("-g")) {
        (Some(u), Some(g)) => Ok((u, g)),
        _ => Err(ClusterError::Unreachable(format!(
            "running as root, certmap must run PostgreSQL as the '{SERVICE_USER}' user, which does not exist \
             (installing the postgresql package creates it), or pass --database-url"
        ))),
    }
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> Result<(), ClusterError> {
    let io = |source| ClusterError::Io { what: "cannot chown", path: path.into(), source };
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(io)?;
    if path.is_dir() && !path.is_symlink() {
        for entry in fs::read_dir(path).map_err(io)? {
            chown_tree(&entry.map_err(io)?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// `pg_ctl` from PATH, else the newest `/usr/lib/postgresql/N/bin`.
fn find_bin_dir() -> Option<PathBuf> {
    let has_tools = |d: &Path| d.join("pg_ctl").is_file() && d.join("initdb").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_tools(&dir) {
                // pg_ctl finds `postgres` next to its real location, so resolve links.
                let real = dir.join("pg_ctl").canonicalize().ok()?;
                return real.parent().map(Path::to_path_buf);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has_tools(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}
