//! Windows account passwords: validated on the way in, encrypted at rest with AES-256-GCM, and
//! never printable. The keys come from `CERTMAP_SECRET_KEY` (plus `CERTMAP_SECRET_KEY_OLD`) or a
//! key file in the data directory.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{compiler_fence, Ordering};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

pub const KEY_ENV: &str = "CERTMAP_SECRET_KEY";
pub const OLD_KEYS_ENV: &str = "CERTMAP_SECRET_KEY_OLD";
pub const KEY_FILE: &str = "secret.key";
pub const OLD_KEYS_FILE: &str = "secret.key.old";

const KEY_LEN: usize = 32;
const KEY_HINT: &str = "a key is 32 random bytes in standard base64, e.g. from `openssl rand -base64 32`";
const MAX_PASSWORD_CHARS: usize = 256;
/// Version 1: associated data named only the kind of record, and the plaintext was stored as is.
const VERSION_1: u8 = 1;
/// Version 2: associated data names the row (see [`SecretOwner`]), and the plaintext is padded.
const VERSION: u8 = 2;
/// Padded plaintext is a multiple of this: a 256-character password is at most 1,024 bytes, so
/// ciphertexts fall into 17 sizes, and every password up to 62 bytes looks the same.
const PAD_BLOCK: usize = 64;
const LENGTH_PREFIX: usize = 2;
const KEY_ID_LEN: usize = 8;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

/// A clear-text account password. Debug prints `Password(***)`; there is deliberately no Display
/// and no Serialize. `expose()` is the only way to the text.
pub struct Password(String);

impl Password {
    /// 1..=256 characters, no NUL and no other control characters (they cannot be written into
    /// applicationHost.config).
    pub fn parse(raw: String) -> Result<Password, PasswordError> {
        // Wrapped before checking so a rejected password is wiped on drop too.
        let password = Password(raw);
        let invalid = |message: &str| Err(PasswordError { code: "invalid-password", message: message.to_owned() });
        let text = password.expose();
        if text.is_empty() {
            return invalid("the password is empty");
        }
        if text.chars().nth(MAX_PASSWORD_CHARS).is_some() {
            return invalid("the password is longer than 256 characters");
        }
        if text.chars().any(char::is_control) {
            return invalid(
                "the password contains a control character (NUL, tab, line break...), which IIS cannot store",
            );
        }
        Ok(password)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Drop for Password {
    fn drop(&mut self) {
        wipe(std::mem::take(&mut self.0).into_bytes());
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct PasswordError {
    pub code: &'static str,
    pub message: String,
}

/// Which kind of record a password belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    OneToOne,
    ManyToOne,
}

impl SecretKind {
    /// Part of every stored ciphertext: changing these makes existing passwords undecryptable.
    fn label(self) -> &'static [u8] {
        match self {
            SecretKind::OneToOne => b"certmap:one-to-one",
            SecretKind::ManyToOne => b"certmap:many-to-one",
        }
    }
}

/// The row a password belongs to, bound into its ciphertext as AEAD associated data: a blob
/// copied to another row (another mapping, site or kind) fails to decrypt instead of giving
/// that row someone else's password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretOwner {
    pub kind: SecretKind,
    pub site_id: i64,
    pub id: i64,
}

impl SecretOwner {
    fn aad(self) -> Vec<u8> {
        let mut aad = self.kind.label().to_vec();
        aad.extend_from_slice(b":v2:");
        aad.extend_from_slice(&self.site_id.to_be_bytes());
        aad.extend_from_slice(&self.id.to_be_bytes());
        aad
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// `origin` names the variable or file (and entry); the key text itself is never repeated.
    #[error("{origin} does not hold a valid key: {reason}; {KEY_HINT}")]
    BadKey { origin: String, reason: String },
    #[error("cannot {action} key file {}: {reason}", path.display())]
    KeyFile { path: PathBuf, action: &'static str, reason: io::Error },
    #[error("key file {shown} is open to other users (mode {mode:o}); run `chmod 600 {shown}`", shown = path.display())]
    InsecureKeyFile { path: PathBuf, mode: u32 },
    #[error("the key that encrypted this value (key id {key_id}) is not configured; set {OLD_KEYS_ENV} to that key")]
    UnknownKey { key_id: String },
    #[error("the stored password could not be decrypted: it was altered or belongs to another record")]
    DecryptionFailed,
    #[error("the stored password is not in a known encrypted format: {0}")]
    MalformedBlob(&'static str),
}

struct Key {
    id: [u8; KEY_ID_LEN],
    aead: LessSafeKey,
}

impl Key {
    fn new(bytes: &[u8; KEY_LEN]) -> Key {
        let mut id = [0; KEY_ID_LEN];
        id.copy_from_slice(&digest(&SHA256, bytes).as_ref()[..KEY_ID_LEN]);
        // Only the key length can make this fail, and the type fixes it.
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).expect("a 32-byte key suits AES-256-GCM");
        Key { id, aead: LessSafeKey::new(unbound) }
    }
}

/// The current key, which encrypts, and older keys still accepted for decryption.
pub struct SecretKeys {
    current: Key,
    previous: Vec<Key>,
}

impl fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKeys")
            .field("current", &hex(&self.current.id))
            .field("previous", &self.previous.iter().map(|k| hex(&k.id)).collect::<Vec<_>>())
            .finish()
    }
}

impl SecretKeys {
    /// `current`: the text of CERTMAP_SECRET_KEY if set and non-empty, otherwise
    /// `<data_dir>/secret.key`, created on first use. `previous`: CERTMAP_SECRET_KEY_OLD
    /// (comma-separated) plus, if present, `<data_dir>/secret.key.old` (one key per line).
    pub fn load(current: Option<&str>, previous: Option<&str>, data_dir: &Path) -> Result<SecretKeys, SecretError> {
        let current = match current.map(str::trim).filter(|text| !text.is_empty()) {
            Some(text) => decode_key(text, || KEY_ENV.to_owned())?,
            None => current_key_from_file(&data_dir.join(KEY_FILE))?,
        };
        let mut older = Vec::new();
        let listed = previous.unwrap_or_default().split(',').map(str::trim).filter(|text| !text.is_empty());
        for (i, text) in listed.enumerate() {
            older.push(decode_key(text, || format!("{OLD_KEYS_ENV} (entry {} of the comma-separated list)", i + 1))?);
        }
        let old_file = data_dir.join(OLD_KEYS_FILE);
        if let Some(text) = read_private(&old_file)? {
            let decoded = text
                .lines()
                .enumerate()
                .filter(|(_, line)| !line.trim().is_empty())
                .map(|(i, line)| decode_key(line.trim(), || format!("{} line {}", old_file.display(), i + 1)))
                .collect::<Result<Vec<_>, _>>();
            wipe(text.into_bytes());
            older.extend(decoded?);
        }
        Ok(SecretKeys::from_keys(current, older))
    }

    /// For tests and tools: explicit raw keys.
    pub fn from_keys(current: [u8; 32], previous: Vec<[u8; 32]>) -> SecretKeys {
        SecretKeys { current: Key::new(&current), previous: previous.iter().map(Key::new).collect() }
    }

    /// Blob: version byte (2) | key id (8 bytes of SHA-256 of the key) | 96-bit random nonce |
    /// AES-256-GCM ciphertext and tag, with the owner as associated data. The plaintext is the
    /// password's length (2 bytes, big-endian), the password, and zeros up to a multiple of
    /// [`PAD_BLOCK`], so the blob's length does not give the password's away.
    pub fn encrypt(&self, owner: SecretOwner, password: &Password) -> Vec<u8> {
        let mut nonce = [0; NONCE_LEN];
        // Without working randomness no password can be stored safely; there is nothing to recover.
        SystemRandom::new().fill(&mut nonce).expect("the system random number generator failed");
        let plain = password.expose().as_bytes();
        let padded = (LENGTH_PREFIX + plain.len()).div_ceil(PAD_BLOCK) * PAD_BLOCK;
        // Sized up front so the buffer holding clear text is never reallocated and left behind.
        let mut blob = Vec::with_capacity(HEADER_LEN + padded + TAG_LEN);
        blob.push(VERSION);
        blob.extend_from_slice(&self.current.id);
        blob.extend_from_slice(&nonce);
        // At most 1,024 bytes (256 characters of up to 4 bytes): the prefix always fits.
        blob.extend_from_slice(&(plain.len() as u16).to_be_bytes());
        blob.extend_from_slice(plain);
        blob.resize(HEADER_LEN + padded, 0);
        let tag = self
            .current
            .aead
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(owner.aad()),
                &mut blob[HEADER_LEN..],
            )
            // Only inputs of many gigabytes are refused; a password is at most 1 KiB.
            .expect("AES-GCM sealing of a short input");
        blob.extend_from_slice(tag.as_ref());
        blob
    }

    /// Version 1 blobs (bound to the kind only, not padded) are still read, until `rotate-secret-key`
    /// writes them again as version 2.
    pub fn decrypt(&self, owner: SecretOwner, blob: &[u8]) -> Result<Password, SecretError> {
        let parsed = Blob::parse(blob)?;
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.id == parsed.key_id)
            .ok_or_else(|| SecretError::UnknownKey { key_id: hex(&parsed.key_id) })?;
        let mut buf = parsed.sealed.to_vec();
        let nonce = Nonce::assume_unique_for_key(parsed.nonce);
        let aad = match parsed.version {
            VERSION_1 => owner.kind.label().to_vec(),
            _ => owner.aad(),
        };
        let Ok(plain_len) = key.aead.open_in_place(nonce, Aad::from(aad), &mut buf).map(|plain| plain.len()) else {
            wipe(buf);
            return Err(SecretError::DecryptionFailed);
        };
        buf.truncate(plain_len);
        if parsed.version != VERSION_1 {
            let Some(len) = buf.first_chunk::<LENGTH_PREFIX>().map(|p| usize::from(u16::from_be_bytes(*p))) else {
                wipe(buf);
                return Err(SecretError::MalformedBlob("the padded password has no length"));
            };
            if LENGTH_PREFIX + len > buf.len() {
                wipe(buf);
                return Err(SecretError::MalformedBlob("the padded password is shorter than its length"));
            }
            // Shifted in place, so no second buffer holds the clear text.
            buf.copy_within(LENGTH_PREFIX..LENGTH_PREFIX + len, 0);
            buf[len..].fill(0);
            buf.truncate(len);
        }
        String::from_utf8(buf).map(Password).map_err(|e| {
            wipe(e.into_bytes());
            SecretError::MalformedBlob("the decrypted password is not UTF-8")
        })
    }

    /// True when the blob was not encrypted under the current key or not in the current format,
    /// including blobs that cannot be parsed at all, so a rotation surfaces them instead of
    /// counting them as current.
    pub fn is_stale(&self, blob: &[u8]) -> bool {
        Blob::parse(blob).map_or(true, |parsed| parsed.key_id != self.current.id || parsed.version != VERSION)
    }

    /// Decrypts with whichever key fits and encrypts again with the current key and format.
    pub fn reencrypt(&self, owner: SecretOwner, blob: &[u8]) -> Result<Vec<u8>, SecretError> {
        Ok(self.encrypt(owner, &self.decrypt(owner, blob)?))
    }

    /// Base64 of a fresh random 32-byte key.
    pub fn generate_key_base64() -> String {
        let mut key = vec![0; KEY_LEN];
        SystemRandom::new().fill(&mut key).expect("the system random number generator failed");
        let text = STANDARD.encode(&key);
        wipe(key);
        text
    }
}

struct Blob<'a> {
    version: u8,
    key_id: [u8; KEY_ID_LEN],
    nonce: [u8; NONCE_LEN],
    sealed: &'a [u8],
}

impl<'a> Blob<'a> {
    fn parse(blob: &'a [u8]) -> Result<Blob<'a>, SecretError> {
        let truncated = || SecretError::MalformedBlob("it is truncated");
        let Some((&version, rest)) = blob.split_first() else {
            return Err(SecretError::MalformedBlob("it is empty"));
        };
        if version != VERSION && version != VERSION_1 {
            return Err(SecretError::MalformedBlob("unknown format version (written by a newer certmap?)"));
        }
        let (key_id, rest) = rest.split_first_chunk::<KEY_ID_LEN>().ok_or_else(truncated)?;
        let (nonce, sealed) = rest.split_first_chunk::<NONCE_LEN>().ok_or_else(truncated)?;
        if sealed.len() < TAG_LEN {
            return Err(truncated());
        }
        Ok(Blob { version, key_id: *key_id, nonce: *nonce, sealed })
    }
}

pub(crate) fn decode_key(text: &str, origin: impl Fn() -> String) -> Result<[u8; KEY_LEN], SecretError> {
    // The base64 crate's error names the offending byte, which would leak part of the key.
    let bytes = STANDARD
        .decode(text)
        .map_err(|_| SecretError::BadKey { origin: origin(), reason: "it is not standard base64".to_owned() })?;
    let key = <[u8; KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| SecretError::BadKey {
        origin: origin(),
        reason: format!("it decodes to {} bytes instead of {KEY_LEN}", bytes.len()),
    });
    wipe(bytes);
    key
}

pub(crate) fn current_key_from_file(path: &Path) -> Result<[u8; KEY_LEN], SecretError> {
    let origin = || path.display().to_string();
    if let Some(text) = read_private(path)? {
        let key = decode_key(text.trim(), origin);
        wipe(text.into_bytes());
        return key;
    }
    let file_error = |action| move |reason| SecretError::KeyFile { path: path.to_owned(), action, reason };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(file_error("create the directory of"))?;
    }
    let text = SecretKeys::generate_key_base64();
    // create_new: never clobber a key another process wrote meanwhile; mode 0600 from the start.
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(mut file) => {
            // Synced because losing this key later means losing every password encrypted with it.
            let written =
                file.write_all(text.as_bytes()).and_then(|()| file.write_all(b"\n")).and_then(|()| file.sync_all());
            let key = decode_key(&text, origin);
            wipe(text.into_bytes());
            written.map_err(file_error("write"))?;
            key
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            wipe(text.into_bytes());
            current_key_from_file(path)
        }
        Err(e) => Err(file_error("create")(e)),
    }
}

/// The file's text, or None if it does not exist; refuses files other users may read.
fn read_private(path: &Path) -> Result<Option<String>, SecretError> {
    let file_error = |reason| SecretError::KeyFile { path: path.to_owned(), action: "read", reason };
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(file_error(e)),
    };
    // Checked on the open handle, so the file checked is the file read.
    let mode = file.metadata().map_err(file_error)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretError::InsecureKeyFile { path: path.to_owned(), mode });
    }
    let mut text = String::new();
    if let Err(e) = file.read_to_string(&mut text) {
        wipe(text.into_bytes());
        return Err(file_error(e));
    }
    Ok(Some(text))
}

/// Overwrites the whole allocation, spare capacity included, before it is freed.
fn wipe(mut bytes: Vec<u8>) {
    // Filling up to capacity never reallocates, so it touches only the existing buffer.
    bytes.resize(bytes.capacity(), 0);
    for byte in bytes.iter_mut() {
        // SAFETY: `byte` is a valid, aligned, exclusive reference. Volatile so the stores are not
        // removed as dead writes to memory about to be freed.
        unsafe { std::ptr::write_volatile(byte, 0) };
    }
    compiler_fence(Ordering::SeqCst);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
/// As certmap wrote passwords before version 2: the kind alone as associated data, no padding.
pub(crate) fn version_1(key: [u8; 32], kind: SecretKind, text: &str) -> Vec<u8> {
    let key = Key::new(&key);
    let nonce = [3; NONCE_LEN];
    let mut blob = vec![VERSION_1];
    blob.extend_from_slice(&key.id);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(text.as_bytes());
    let aad = Aad::from(kind.label());
    let tag =
        key.aead.seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), aad, &mut blob[HEADER_LEN..]).unwrap();
    blob.extend_from_slice(tag.as_ref());
    blob
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    const OWNER: SecretOwner = SecretOwner { kind: SecretKind::OneToOne, site_id: 1, id: 7 };
    const MANY: SecretOwner = SecretOwner { kind: SecretKind::ManyToOne, site_id: 1, id: 7 };

    fn password(text: &str) -> Password {
        Password::parse(text.to_owned()).unwrap()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// A fresh directory under the system temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let n = COUNTER.fetch_add(1, Ordering::SeqCst);
            let path = std::env::temp_dir().join(format!("certmap-secrets-test-{}-{n}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn round_trip() {
        let keys = SecretKeys::from_keys([7; 32], vec![]);
        for text in ["hunter2", "pässwörd with spaces ✓", &"x".repeat(256)] {
            let blob = keys.encrypt(MANY, &password(text));
            assert_eq!(blob[0], VERSION);
            assert_eq!(keys.decrypt(MANY, &blob).unwrap().expose(), text);
        }
    }

    #[test]
    fn encryptions_differ_and_hide_the_plaintext() {
        let keys = SecretKeys::from_keys([7; 32], vec![]);
        let secret = "correct horse battery staple";
        let a = keys.encrypt(OWNER, &password(secret));
        let b = keys.encrypt(OWNER, &password(secret));
        assert_ne!(a, b);
        assert!(!contains(&a, secret.as_bytes()) && !contains(&b, secret.as_bytes()));
    }

    #[test]
    fn another_row_cannot_decrypt() {
        let keys = SecretKeys::from_keys([7; 32], vec![]);
        let blob = keys.encrypt(OWNER, &password("hunter2"));
        let others = [MANY, SecretOwner { id: 8, ..OWNER }, SecretOwner { site_id: 2, ..OWNER }];
        for other in others {
            let error = keys.decrypt(other, &blob).unwrap_err();
            assert!(matches!(error, SecretError::DecryptionFailed), "{other:?}: {error}");
            assert!(!error.to_string().contains("hunter2"));
        }
    }

    #[test]
    fn length_does_not_show() {
        let keys = SecretKeys::from_keys([7; 32], vec![]);
        let lengths: Vec<usize> = ["abc", "a password of 20 ch.", &"x".repeat(62)]
            .iter()
            .map(|p| keys.encrypt(OWNER, &password(p)).len())
            .collect();
        assert_eq!(lengths, [lengths[0]; 3]);
        assert!(keys.encrypt(OWNER, &password(&"x".repeat(63))).len() > lengths[0]);
        assert_eq!(keys.encrypt(OWNER, &password(&"𝄞".repeat(256))).len(), HEADER_LEN + 1024 + PAD_BLOCK + TAG_LEN);
    }

    #[test]
    fn version_1_blobs_are_read_and_count_as_stale() {
        let keys = SecretKeys::from_keys([7; 32], vec![]);
        let old = version_1([7; 32], SecretKind::ManyToOne, "hunter2");
        assert_eq!(keys.decrypt(MANY, &old).unwrap().expose(), "hunter2");
        assert!(matches!(keys.decrypt(OWNER, &old), Err(SecretError::DecryptionFailed)), "still bound to its kind");
        assert!(keys.is_stale(&old), "the current key, but the old format");
        let fresh = keys.reencrypt(MANY, &old).unwrap();
        assert!(fresh[0] == VERSION && !keys.is_stale(&fresh));
        assert_eq!(keys.decrypt(MANY, &fresh).unwrap().expose(), "hunter2");
    }

    #[test]
    fn every_tampered_byte_fails() {
        let keys = SecretKeys::from_keys([7; 32], vec![]);
        let blob = keys.encrypt(OWNER, &password("hunter2"));
        for i in 0..blob.len() {
            let mut tampered = blob.clone();
            tampered[i] ^= 0x01;
            let error = keys.decrypt(OWNER, &tampered).unwrap_err().to_string();
            assert!(!error.contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn truncated_blobs_fail_without_panic() {
        let keys = SecretKeys::from_keys([7; 32], vec![]);
        let blob = keys.encrypt(OWNER, &password("hunter2"));
        for len in 0..blob.len() {
            assert!(keys.decrypt(OWNER, &blob[..len]).is_err(), "length {len}");
            if len < HEADER_LEN + TAG_LEN {
                assert!(keys.is_stale(&blob[..len]), "length {len}");
            }
        }
    }

    #[test]
    fn unknown_version_fails() {
        let keys = SecretKeys::from_keys([7; 32], vec![]);
        let mut blob = keys.encrypt(OWNER, &password("hunter2"));
        blob[0] = 3;
        assert!(keys.decrypt(OWNER, &blob).unwrap_err().to_string().contains("version"));
    }

    #[test]
    fn rotation() {
        let old = SecretKeys::from_keys([1; 32], vec![]);
        let blob = old.encrypt(OWNER, &password("hunter2"));
        let keys = SecretKeys::from_keys([2; 32], vec![[3; 32], [1; 32]]);
        assert!(!old.is_stale(&blob));
        assert!(keys.is_stale(&blob));
        assert_eq!(keys.decrypt(OWNER, &blob).unwrap().expose(), "hunter2");
        let fresh = keys.reencrypt(OWNER, &blob).unwrap();
        assert!(!keys.is_stale(&fresh));
        assert_eq!(keys.decrypt(OWNER, &fresh).unwrap().expose(), "hunter2");
        assert!(matches!(old.decrypt(OWNER, &fresh), Err(SecretError::UnknownKey { .. })));
    }

    #[test]
    fn unknown_key_names_the_old_key_variable() {
        let blob = SecretKeys::from_keys([1; 32], vec![]).encrypt(OWNER, &password("hunter2"));
        let error = SecretKeys::from_keys([2; 32], vec![]).decrypt(OWNER, &blob).unwrap_err();
        assert!(matches!(error, SecretError::UnknownKey { .. }));
        assert!(error.to_string().contains("CERTMAP_SECRET_KEY_OLD"), "{error}");
        assert!(SecretKeys::from_keys([2; 32], vec![]).reencrypt(OWNER, &blob).is_err());
    }

    #[test]
    fn load_creates_a_private_key_file_and_reuses_it() {
        let dir = TempDir::new();
        let data_dir = dir.0.join("nested");
        let first = SecretKeys::load(None, None, &data_dir).unwrap();
        let path = data_dir.join(KEY_FILE);
        assert_eq!(mode(&path), 0o600);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(STANDARD.decode(text.trim()).unwrap().len(), 32);

        let blob = first.encrypt(OWNER, &password("hunter2"));
        let second = SecretKeys::load(Some(" "), None, &data_dir).unwrap();
        assert!(!second.is_stale(&blob));
        assert_eq!(second.decrypt(OWNER, &blob).unwrap().expose(), "hunter2");
        assert!(!format!("{second:?}").contains(text.trim()));
    }

    #[test]
    fn load_refuses_a_key_file_others_can_read() {
        let dir = TempDir::new();
        SecretKeys::load(None, None, &dir.0).unwrap();
        let path = dir.0.join(KEY_FILE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let error = SecretKeys::load(None, None, &dir.0).unwrap_err();
        assert!(matches!(error, SecretError::InsecureKeyFile { mode: 0o644, .. }));
        assert!(error.to_string().contains(&format!("chmod 600 {}", path.display())), "{error}");
    }

    #[test]
    fn load_refuses_bad_environment_keys_without_echoing_them() {
        let dir = TempDir::new();
        let short = STANDARD.encode([9; 16]);
        for bad in ["not base64 at all!", short.as_str()] {
            let error = SecretKeys::load(Some(bad), None, &dir.0).unwrap_err();
            let (display, debug) = (error.to_string(), format!("{error:?}"));
            assert!(display.contains("CERTMAP_SECRET_KEY"), "{display}");
            assert!(!display.contains(bad) && !debug.contains(bad), "{display} / {debug}");
        }
        let error = SecretKeys::load(Some(&SecretKeys::generate_key_base64()), Some("AAAA"), &dir.0).unwrap_err();
        assert!(error.to_string().contains("CERTMAP_SECRET_KEY_OLD"), "{error}");
        assert!(!dir.0.exists(), "an environment key must not create a key file");
    }

    #[test]
    fn load_reads_previous_keys_from_the_list_and_the_old_key_file() {
        let dir = TempDir::new();
        let (k1, k2, k3, k4) = ([1; 32], [2; 32], [3; 32], [4; 32]);
        let blob = |key| SecretKeys::from_keys(key, vec![]).encrypt(OWNER, &password("hunter2"));
        let list = format!("{}, {},", STANDARD.encode(k1), STANDARD.encode(k2));
        fs::create_dir_all(&dir.0).unwrap();
        let old_file = dir.0.join(OLD_KEYS_FILE);
        fs::write(&old_file, format!("{}\n\n", STANDARD.encode(k4))).unwrap();
        fs::set_permissions(&old_file, fs::Permissions::from_mode(0o600)).unwrap();

        let keys = SecretKeys::load(Some(&STANDARD.encode(k3)), Some(&list), &dir.0).unwrap();
        for key in [k1, k2, k3, k4] {
            assert_eq!(keys.decrypt(OWNER, &blob(key)).unwrap().expose(), "hunter2");
        }
        assert!(!keys.is_stale(&blob(k3)) && keys.is_stale(&blob(k1)) && keys.is_stale(&blob(k4)));
    }

    #[test]
    fn generated_keys_are_fresh_32_byte_base64() {
        let (a, b) = (SecretKeys::generate_key_base64(), SecretKeys::generate_key_base64());
        assert_ne!(a, b);
        assert_eq!(STANDARD.decode(&a).unwrap().len(), 32);
    }

    #[test]
    fn password_rules() {
        for bad in [String::new(), "x".repeat(257), "a\0b".to_owned(), "line\nbreak".to_owned()] {
            let error = Password::parse(bad.clone()).unwrap_err();
            assert_eq!(error.code, "invalid-password");
            assert!(bad.is_empty() || !error.message.contains(&bad), "{}", error.message);
        }
        let error = Password::parse("s3cr3t\t".to_owned()).unwrap_err();
        assert!(!error.to_string().contains("s3cr3t") && !format!("{error:?}").contains("s3cr3t"));
        for good in ["pass word", "日本語のパスワード", "ümlaut €", &"é".repeat(256)] {
            assert_eq!(password(good).expose(), good);
        }
    }

    #[test]
    fn debug_output_holds_no_secret() {
        assert_eq!(format!("{:?}", password("hunter2")), "Password(***)");
        let key = [0xab; 32];
        let debug = format!("{:?}", SecretKeys::from_keys(key, vec![[0xcd; 32]]));
        assert!(debug.contains(&hex(&Key::new(&key).id)), "{debug}");
        assert!(!debug.contains(&STANDARD.encode(key)) && !debug.contains(&hex(&key)), "{debug}");
        assert!(!debug.contains(&hex(&[0xcd; 32])), "{debug}");
    }
}
