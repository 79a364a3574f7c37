//! One database per test, cloned from a template migrated once per test process — the shape of
//! crates.io's test-db crate. The server is `CERTMAP_TEST_DATABASE_URL` when set, otherwise a private
//! cluster of this checkout's target directory, started on first use and left running for the next
//! run; the first test process prints where it is and how to stop it.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use diesel::prelude::*;
use diesel::sql_query;
use diesel::sql_types::Text;

use crate::cluster::{ClusterOptions, LocalCluster};

const PREFIX: &str = "certmap_test_";

pub struct TestServer {
    admin_url: String,
    template: String,
    next: AtomicU32,
}

/// A database that exists for as long as this value does.
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
}

impl TestDatabase {
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin_url) {
            let _ = sql_query(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)).execute(&mut conn);
        }
    }
}

/// The process-wide test server, started and templated on first use.
pub fn server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        TestServer::start().unwrap_or_else(|e| {
            panic!("cannot prepare the test database server (cluster in {}): {e}", cluster_location().display())
        })
    })
}

impl TestServer {
    fn start() -> Result<Self, Box<dyn std::error::Error>> {
        let admin_url = match std::env::var("CERTMAP_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => shared_cluster()?.url("postgres"),
        };
        let mut admin = PgConnection::establish(&admin_url)?;
        drop_abandoned(&mut admin)?;
        let template = format!("{PREFIX}{}_tmpl", std::process::id());
        sql_query(format!("DROP DATABASE IF EXISTS \"{template}\" WITH (FORCE)")).execute(&mut admin)?;
        sql_query(format!("CREATE DATABASE \"{template}\"")).execute(&mut admin)?;
        {
            let mut conn = PgConnection::establish(&with_database(&admin_url, &template))?;
            crate::migrate(&mut conn).map_err(|e| e.to_string())?;
        }
        Ok(Self { admin_url, template, next: AtomicU32::new(0) })
    }

    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    pub fn create_database(&self) -> TestDatabase {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{}_{n}", std::process::id());
        let mut admin = PgConnection::establish(&self.admin_url).expect("connect to the test server");
        sql_query(format!("CREATE DATABASE \"{name}\" TEMPLATE \"{}\"", self.template))
            .execute(&mut admin)
            .expect("clone the template database");
        TestDatabase { url: with_database(&self.admin_url, &name), name, admin_url: self.admin_url.clone() }
    }
}

/// A private cluster shared by the test processes of one target directory (so two checkouts, or
/// two users, never share one); a file lock keeps two processes from initialising it at once.
fn shared_cluster() -> Result<LocalCluster, Box<dyn std::error::Error>> {
    let (dir, target) = cluster_dir();
    let lock = File::create(dir.with_extension("lock"))?;
    lock.lock()?;
    if !dir.join("postgres").join("PG_VERSION").exists() {
        eprintln!("creating the test PostgreSQL cluster of {} in {}", target.display(), dir.display());
    }
    let options = ClusterOptions {
        // Throwaway data: durability only costs time here.
        extra_settings: vec![
            "fsync = off".into(),
            "synchronous_commit = off".into(),
            "full_page_writes = off".into(),
            "max_connections = 300".into(),
        ],
    };
    Ok(LocalCluster::ensure_running(&dir, &options)?)
}

/// `$TMPDIR/certmap-test-pg-<hash of the target directory>`: in the temp directory because the
/// `postgres` user must reach it when the tests run as root (a target directory in root's home is
/// out of its reach) and the socket path must stay short; named after the target directory
/// because that is what a checkout owns.
fn cluster_dir() -> (PathBuf, PathBuf) {
    let exe = std::env::current_exe().unwrap_or_default();
    // Test binaries live in <target>/<profile>/deps.
    let target = exe
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "deps"))
        .and_then(|deps| deps.parent()?.parent())
        .unwrap_or_else(|| exe.parent().unwrap_or(&exe))
        .to_path_buf();
    let target = target.canonicalize().unwrap_or(target);
    // FNV-1a: stable across Rust releases, unlike DefaultHasher, so the name stays the same.
    let hash = target
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3));
    (std::env::temp_dir().join(format!("certmap-test-pg-{:08x}", hash as u32)), target)
}

/// Where this process's test cluster lives, for messages.
pub fn cluster_location() -> PathBuf {
    cluster_dir().0
}

/// Databases left by test processes that no longer run (killed, or aborted before dropping).
fn drop_abandoned(admin: &mut PgConnection) -> QueryResult<()> {
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        datname: String,
    }
    let names: Vec<Name> =
        sql_query(format!("SELECT datname FROM pg_database WHERE datname LIKE '{PREFIX}%'")).load(admin)?;
    for Name { datname } in names {
        let pid = datname[PREFIX.len()..].split('_').next().unwrap_or_default();
        let alive = pid
            .parse::<u32>()
            .is_ok_and(|p| p == std::process::id() || std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            sql_query(format!("DROP DATABASE IF EXISTS \"{datname}\" WITH (FORCE)")).execute(admin)?;
        }
    }
    Ok(())
}

/// The same URL naming another database.
pub fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority = before_query.split_once('/').map_or(before_query, |(a, _)| a);
    let mut out = format!("{scheme}://{authority}/{database}");
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A fresh directory under the system temp dir (world-traversable, so a cluster run as the
/// `postgres` user can live in it).
pub fn scratch_dir(label: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "certmap-{label}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn with_database_replaces_only_the_path() {
        assert_eq!(
            with_database("postgres://postgres@/postgres?host=/tmp/x&port=5432", "t1"),
            "postgres://postgres@/t1?host=/tmp/x&port=5432"
        );
        assert_eq!(with_database("postgres://u:p@db:5432/app", "t2"), "postgres://u:p@db:5432/t2");
        assert_eq!(with_database("postgres://u@db", "t3"), "postgres://u@db/t3");
    }
}
