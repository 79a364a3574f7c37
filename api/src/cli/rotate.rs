//! `certmap rotate-secret-key`: move every stored password to the current key.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use certmap_db::queries::{many_to_one, mappings};
use diesel::Connection;

use super::DatabaseArgs;
use crate::config::{DatabaseSource, SecretConfig};
use crate::secrets::{SecretKeys, SecretKind, SecretOwner};
use crate::startup::{Database, StartError};

/// Prints what was done.
pub fn run(args: &DatabaseArgs) -> Result<(), StartError> {
    let (data_dir, source) = args.resolve()?;
    let r = rotate(&source, &data_dir.path, &SecretConfig::from_env())?;
    if r.new_key_file {
        println!("generated a new key in secret.key; the previous key is kept in secret.key.old");
    }
    println!("re-encrypted {} passwords ({} were already under the current key)", r.reencrypted, r.already_current);
    Ok(())
}

struct RotationReport {
    reencrypted: usize,
    already_current: usize,
    new_key_file: bool,
}

/// With CERTMAP_SECRET_KEY the operator has already put the new key there and the old one in
/// CERTMAP_SECRET_KEY_OLD; with the key file, a new key is generated and the old one kept in
/// `secret.key.old`, so a failure half-way leaves every password still decryptable.
fn rotate(source: &DatabaseSource, data_dir: &Path, secrets: &SecretConfig) -> Result<RotationReport, StartError> {
    let new_key_file = secrets.key.is_none();
    if new_key_file {
        // Loading first makes sure a current key exists (and is valid) before it is retired.
        SecretKeys::load(None, secrets.old_keys.as_deref(), data_dir)?;
        let current = fs::read_to_string(data_dir.join("secret.key"))?;
        append_private(&data_dir.join("secret.key.old"), current.trim())?;
        let next = data_dir.join("secret.key.next");
        write_private(&next, &SecretKeys::generate_key_base64())?;
        fs::rename(&next, data_dir.join("secret.key"))?;
        sync_dir(data_dir)?;
    }
    let keys = SecretKeys::load(secrets.key.as_deref(), secrets.old_keys.as_deref(), data_dir)?;
    let database = Database::open(source)?;
    let mut report = None;
    let database = database.or_close(|database| {
        report = Some(reencrypt_all(&mut database.connect()?, &keys, new_key_file)?);
        Ok(())
    })?;
    database.close();
    Ok(report.expect("set when or_close succeeds"))
}

fn reencrypt_all(
    conn: &mut diesel::PgConnection,
    keys: &SecretKeys,
    new_key_file: bool,
) -> Result<RotationReport, StartError> {
    conn.transaction(|conn| {
        let mut report = RotationReport { reencrypted: 0, already_current: 0, new_key_file };
        for (kind, rows) in
            [(SecretKind::OneToOne, mappings::passwords(conn)?), (SecretKind::ManyToOne, many_to_one::passwords(conn)?)]
        {
            for (site_id, id, blob) in rows {
                if !keys.is_stale(&blob) {
                    report.already_current += 1;
                    continue;
                }
                let fresh = keys
                    .reencrypt(SecretOwner { kind, site_id, id }, &blob)
                    .map_err(|e| RotateError(format!("password of {kind:?} mapping {id}: {e}")))?;
                match kind {
                    SecretKind::OneToOne => mappings::set_password(conn, id, &fresh)?,
                    SecretKind::ManyToOne => many_to_one::set_password(conn, id, &fresh)?,
                };
                report.reencrypted += 1;
            }
        }
        Ok::<_, RotateError>(report)
    })
    .map_err(|e| StartError::Rotate(e.0))
}

#[derive(Debug)]
struct RotateError(String);

impl From<diesel::result::Error> for RotateError {
    fn from(e: diesel::result::Error) -> Self {
        Self(e.to_string())
    }
}

// Synced, file and directory, before any password is re-encrypted: losing a key after the
// database moved to it would lose every password.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    writeln!(f, "{text}")?;
    f.sync_all()
}

fn append_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = OpenOptions::new().append(true).create(true).mode(0o600).open(path)?;
    writeln!(f, "{text}")?;
    f.sync_all()
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::{version_1, SecretOwner};
    use diesel::RunQueryDsl;

    /// Rows written before format version 2 keep working and are rewritten by the next rotation.
    #[test]
    fn version_1_rows_are_read_and_rewritten() {
        let database = certmap_db::testdb::server().create_database();
        let mut conn = diesel::PgConnection::establish(database.url()).unwrap();
        let key = [5; 32];
        let keys = SecretKeys::from_keys(key, vec![]);
        diesel::sql_query("INSERT INTO sites (name) VALUES ('S')").execute(&mut conn).unwrap();
        let site_id: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>("(SELECT id FROM sites)"))
            .get_result(&mut conn)
            .unwrap();
        let old = version_1(key, SecretKind::ManyToOne, "hunter2");
        let sql = format!(
            "INSERT INTO many_to_one_mappings (site_id, name, permission_mode, user_name, password_enc, rules) \
             VALUES ({site_id}, 'm', 'Allow', 'u', '\\x{}', '[]')",
            old.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        diesel::sql_query(sql).execute(&mut conn).unwrap();
        let (_, id, stored) = many_to_one::passwords(&mut conn).unwrap().remove(0);
        let owner = SecretOwner { kind: SecretKind::ManyToOne, site_id, id };
        assert_eq!(keys.decrypt(owner, &stored).unwrap().expose(), "hunter2", "read as it is");

        let report = reencrypt_all(&mut conn, &keys, false).unwrap();
        assert_eq!((report.reencrypted, report.already_current), (1, 0));
        let (_, _, fresh) = many_to_one::passwords(&mut conn).unwrap().remove(0);
        assert!(!keys.is_stale(&fresh) && fresh != old);
        assert_eq!(keys.decrypt(owner, &fresh).unwrap().expose(), "hunter2");
        let report = reencrypt_all(&mut conn, &keys, false).unwrap();
        assert_eq!((report.reencrypted, report.already_current), (0, 1), "nothing left to rewrite");
    }
}
