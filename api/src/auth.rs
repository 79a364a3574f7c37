//! Bearer tokens: who may do what, on which sites. HS256 tokens are signed with certmap's own
//! secret; RS256/ES256/EdDSA tokens from an external issuer are verified with its public key. Each
//! key accepts exactly one algorithm, so a token cannot choose how it is checked.

use std::fmt;
use std::path::{Path, PathBuf};

use aws_lc_rs::digest;
use jsonwebtoken::{decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::domain::client_identity::ClientIdentity;
use crate::secrets::{current_key_from_file, SecretError};

pub const ISSUER: &str = "certmap";
pub const AUDIENCE: &str = "certmap";
pub const SECRET_FILE: &str = "jwt.secret";
/// Clock skew tolerated between certmap and whoever issued a token.
pub const LEEWAY_SECONDS: u64 = 30;
const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including secrets, audit and tokens.
    Admin,
    /// Writes sites, directories and mappings.
    Editor,
    /// Reads, without secrets.
    Reader,
    /// Snapshots, rendered config and authorize only.
    Gateway,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Editor => "editor",
            Self::Reader => "reader",
            Self::Gateway => "gateway",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    /// Site names the token is limited to; absent means every site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sites: Option<Vec<String>>,
    /// The one form in which this caller sends client certificates to authorize; absent means
    /// the role's default. An unknown form makes the whole token invalid.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "declared_form")]
    pub client_identity: Option<ClientIdentity>,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
}

mod declared_form {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::domain::client_identity::ClientIdentity;

    pub fn serialize<S: Serializer>(form: &Option<ClientIdentity>, s: S) -> Result<S::Ok, S::Error> {
        match form {
            Some(form) => s.serialize_str(form.as_str()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ClientIdentity>, D::Error> {
        Option::<String>::deserialize(d)?.map(|name| name.parse().map_err(serde::de::Error::custom)).transpose()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the JWT secret: {0}")]
    Secret(#[from] SecretError),
    #[error("CERTMAP_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes long")]
    ShortSecret,
    #[error("public key {path}: {reason}")]
    PublicKey { path: PathBuf, reason: String },
    #[error("{0}")]
    Invalid(String),
}

/// Where the keys come from, read once from the environment by the CLI layer.
#[derive(Clone, Default)]
pub struct AuthConfig {
    /// CERTMAP_JWT_SECRET: signs and verifies HS256 tokens. Without it, `<data-dir>/jwt.secret`.
    pub secret: Option<String>,
    /// CERTMAP_JWT_SECRET_OLD: comma-separated secrets still accepted, not used to sign.
    pub old_secrets: Option<String>,
    /// CERTMAP_JWT_PUBLIC_KEY: comma-separated PEM files of external issuers; a file's stem is its `kid`.
    pub public_keys: Option<String>,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig").field("public_keys", &self.public_keys).finish_non_exhaustive()
    }
}

impl AuthConfig {
    pub fn from_env() -> Self {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        Self {
            secret: var("CERTMAP_JWT_SECRET"),
            old_secrets: var("CERTMAP_JWT_SECRET_OLD"),
            public_keys: var("CERTMAP_JWT_PUBLIC_KEY"),
        }
    }
}

struct VerifyKey {
    kid: String,
    algorithm: Algorithm,
    key: DecodingKey,
}

pub struct JwtKeys {
    signing_kid: String,
    signing: EncodingKey,
    verifying: Vec<VerifyKey>,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.verifying.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("JwtKeys").field("signing_kid", &self.signing_kid).field("kids", &kids).finish()
    }
}

fn hmac_kid(secret: &[u8]) -> String {
    format!("hs-{}", hex::encode(&digest::digest(&digest::SHA256, secret).as_ref()[..4]))
}

impl JwtKeys {
    pub fn load(config: &AuthConfig, data_dir: &Path) -> Result<Self, AuthError> {
        let secret: Vec<u8> = match &config.secret {
            Some(s) if s.len() < MIN_SECRET_BYTES => return Err(AuthError::ShortSecret),
            Some(s) => s.as_bytes().to_vec(),
            None => current_key_from_file(&data_dir.join(SECRET_FILE))?.to_vec(),
        };
        let signing_kid = hmac_kid(&secret);
        let mut verifying = vec![VerifyKey {
            kid: signing_kid.clone(),
            algorithm: Algorithm::HS256,
            key: DecodingKey::from_secret(&secret),
        }];
        for old in config.old_secrets.iter().flat_map(|s| s.split(',')).map(str::trim).filter(|s| !s.is_empty()) {
            verifying.push(VerifyKey {
                kid: hmac_kid(old.as_bytes()),
                algorithm: Algorithm::HS256,
                key: DecodingKey::from_secret(old.as_bytes()),
            });
        }
        for path in config.public_keys.iter().flat_map(|s| s.split(',')).map(str::trim).filter(|s| !s.is_empty()) {
            verifying.push(public_key(Path::new(path))?);
        }
        Ok(Self { signing: EncodingKey::from_secret(&secret), signing_kid, verifying })
    }

    /// A fresh secret for CERTMAP_JWT_SECRET (tests, and people who want one outside the data dir).
    pub fn random_secret() -> String {
        format!("{}{}", hex::encode(random_bytes()), hex::encode(random_bytes()))
    }

    /// A token signed with certmap's own secret.
    pub fn issue(&self, subject: &str, role: Role, sites: Option<Vec<String>>, ttl: Duration) -> String {
        self.issue_declaring(subject, role, sites, None, ttl)
    }

    /// A token that also declares the client-identity form its holder sends to authorize.
    pub fn issue_declaring(
        &self,
        subject: &str,
        role: Role,
        sites: Option<Vec<String>>,
        client_identity: Option<ClientIdentity>,
        ttl: Duration,
    ) -> String {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let claims = Claims {
            sub: subject.to_owned(),
            role,
            sites,
            client_identity,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            exp: now + ttl.whole_seconds(),
            nbf: now,
            iat: now,
            jti: hex::encode(random_bytes()),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.signing_kid.clone());
        // Serializing our own claims with our own HMAC key cannot fail.
        encode(&header, &claims, &self.signing).expect("an HS256 token encodes")
    }

    /// The claims of a valid token: right key for its `kid` and algorithm, signature, `exp`,
    /// `nbf`, `iss` and `aud` all checked.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        refuse_critical_extensions(token)?;
        let header = decode_header(token).map_err(|_| AuthError::Invalid(NOT_A_TOKEN.into()))?;
        let candidates = self
            .verifying
            .iter()
            .filter(|k| k.algorithm == header.alg && header.kid.as_ref().is_none_or(|kid| *kid == k.kid));
        let mut last = AuthError::Invalid(format!(
            "the token was signed with a different secret than this server's (none of its keys accepts {:?} \
             tokens with that kid): issue one for this server with `certmap token issue` reading the server's data \
             directory (--data-dir / CERTMAP_DATA_DIR) or its CERTMAP_JWT_SECRET",
            header.alg
        ));
        for key in candidates {
            let mut validation = Validation::new(key.algorithm);
            validation.set_issuer(&[ISSUER]);
            validation.set_audience(&[AUDIENCE]);
            validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
            validation.validate_nbf = true;
            validation.leeway = LEEWAY_SECONDS;
            match decode::<Claims>(token, &key.key, &validation) {
                Ok(data) if data.claims.sub.trim().is_empty() => {
                    return Err(AuthError::Invalid("the token has no subject".into()))
                }
                Ok(data) => return Ok(data.claims),
                Err(e) => last = AuthError::Invalid(describe(&e)),
            }
        }
        Err(last)
    }
}

/// RFC 7515 §4.1.11: a recipient must refuse a token whose `crit` header names an extension it does
/// not understand, and certmap understands none. jsonwebtoken's `Header` drops unknown members, so
/// the protected header is read again here.
fn refuse_critical_extensions(token: &str) -> Result<(), AuthError> {
    use base64::Engine as _;
    let invalid = |m: &str| AuthError::Invalid(m.into());
    let encoded = token.split('.').next().unwrap_or_default();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded).map_err(|_| invalid(NOT_A_TOKEN))?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&json).map_err(|_| invalid(NOT_A_TOKEN))?;
    if header.contains_key("crit") {
        return Err(invalid("the token's header lists critical extensions (crit), which certmap does not understand"));
    }
    Ok(())
}

/// For text that is no JWT at all: jsonwebtoken's "JSON error: expected value" or "InvalidToken"
/// mean nothing to whoever pasted half a token or the wrong text.
const NOT_A_TOKEN: &str = "the bearer token is not a certmap token (a JWT: three base64url parts joined by dots); \
                           paste the whole output of `certmap token issue`";

fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => "the token has expired".into(),
        K::ImmatureSignature => "the token is not valid yet".into(),
        K::InvalidSignature => "the token's signature does not verify".into(),
        K::InvalidAudience => "the token is not for certmap (aud)".into(),
        K::InvalidIssuer => "the token was not issued for certmap (iss)".into(),
        K::InvalidAlgorithm => "the token's algorithm is not accepted".into(),
        K::MissingRequiredClaim(c) => format!("the token lacks the {c} claim"),
        K::InvalidToken | K::Base64(_) | K::Json(_) | K::Utf8(_) => NOT_A_TOKEN.into(),
        _ => "the token is not valid".into(),
    }
}

fn random_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random source works");
    bytes
}

/// An external issuer's public key; the algorithm follows from the key type.
fn public_key(path: &Path) -> Result<VerifyKey, AuthError> {
    let fail = |reason: String| AuthError::PublicKey { path: path.to_owned(), reason };
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let kid = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
    let (_, parsed) = x509_parser::pem::parse_x509_pem(&pem).map_err(|e| fail(format!("not PEM: {e}")))?;
    let (_, spki) =
        <x509_parser::x509::SubjectPublicKeyInfo as x509_parser::prelude::FromDer<_>>::from_der(&parsed.contents)
            .map_err(|e| fail(format!("not a public key: {e}")))?;
    let oid = spki.algorithm.algorithm.to_id_string();
    let (algorithm, key) = match oid.as_str() {
        "1.2.840.113549.1.1.1" => (Algorithm::RS256, DecodingKey::from_rsa_pem(&pem)),
        "1.2.840.10045.2.1" => (Algorithm::ES256, DecodingKey::from_ec_pem(&pem)),
        "1.3.101.112" => (Algorithm::EdDSA, DecodingKey::from_ed_pem(&pem)),
        other => return Err(fail(format!("unsupported key type {other}: use RSA, EC P-256 or Ed25519"))),
    };
    Ok(VerifyKey { kid, algorithm, key: key.map_err(|e| fail(e.to_string()))? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::load(&AuthConfig { secret: Some("x".repeat(40)), ..Default::default() }, Path::new("/nonexistent"))
            .unwrap()
    }

    #[test]
    fn issued_tokens_verify_with_their_claims() {
        let k = keys();
        let t = k.issue("alice", Role::Editor, Some(vec!["Default Web Site".into()]), Duration::hours(1));
        let c = k.verify(&t).unwrap();
        assert_eq!(
            (c.sub.as_str(), c.role, c.sites.as_deref()),
            ("alice", Role::Editor, Some(&["Default Web Site".to_owned()][..]))
        );
        assert_eq!(decode_header(&t).unwrap().kid.as_deref(), Some(hmac_kid("x".repeat(40).as_bytes()).as_str()));
    }

    #[test]
    fn expired_and_foreign_tokens_are_refused() {
        let k = keys();
        let expired = k.issue("a", Role::Admin, None, Duration::minutes(-5));
        assert!(k.verify(&expired).unwrap_err().to_string().contains("expired"));
        let other =
            JwtKeys::load(&AuthConfig { secret: Some("y".repeat(40)), ..Default::default() }, Path::new("/x")).unwrap();
        assert!(k.verify(&other.issue("a", Role::Admin, None, Duration::hours(1))).is_err());
        assert!(k.verify("not.a.token").is_err());
        assert!(k.verify("").is_err());
    }

    #[test]
    fn an_old_secret_still_verifies_during_rotation() {
        let old =
            JwtKeys::load(&AuthConfig { secret: Some("o".repeat(40)), ..Default::default() }, Path::new("/x")).unwrap();
        let token = old.issue("a", Role::Reader, None, Duration::hours(1));
        let new = JwtKeys::load(
            &AuthConfig { secret: Some("n".repeat(40)), old_secrets: Some("o".repeat(40)), ..Default::default() },
            Path::new("/x"),
        )
        .unwrap();
        assert_eq!(new.verify(&token).unwrap().role, Role::Reader);
    }

    #[test]
    fn a_token_with_critical_extensions_is_refused() {
        let k = keys();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let claims = Claims {
            sub: "a".into(),
            role: Role::Admin,
            sites: None,
            client_identity: None,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            exp: now + 600,
            nbf: now,
            iat: now,
            jti: "j".into(),
        };
        let sign = |header: serde_json::Value| {
            use base64::Engine as _;
            let b64 = |v: &serde_json::Value| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
            };
            let input = format!("{}.{}", b64(&header), b64(&serde_json::to_value(&claims).unwrap()));
            let key = EncodingKey::from_secret("x".repeat(40).as_bytes());
            format!("{input}.{}", jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::HS256).unwrap())
        };
        let plain = sign(serde_json::json!({"alg": "HS256", "typ": "JWT"}));
        assert_eq!(k.verify(&plain).unwrap().sub, "a", "the hand-built token is otherwise valid");
        for crit in [serde_json::json!(["exp"]), serde_json::json!(["b64"]), serde_json::json!([])] {
            let token = sign(serde_json::json!({"alg": "HS256", "typ": "JWT", "crit": crit}));
            let err = k.verify(&token).unwrap_err().to_string();
            assert!(err.contains("crit"), "{crit}: {err}");
        }
    }

    #[test]
    fn a_declared_form_travels_in_the_token_and_an_unknown_one_is_refused() {
        let k = keys();
        let t = k.issue_declaring("gw", Role::Gateway, None, Some(ClientIdentity::Envoy), Duration::hours(1));
        assert_eq!(k.verify(&t).unwrap().client_identity, Some(ClientIdentity::Envoy));
        assert_eq!(k.verify(&k.issue("gw", Role::Gateway, None, Duration::hours(1))).unwrap().client_identity, None);
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let forged = serde_json::json!({"sub": "gw", "role": "gateway", "client_identity": "anything", "iss": ISSUER,
            "aud": AUDIENCE, "exp": now + 60, "nbf": now, "iat": now, "jti": "x"});
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(k.signing_kid.clone());
        let token = encode(&header, &forged, &k.signing).unwrap();
        assert!(k.verify(&token).is_err(), "a token naming an unknown form must not pass as undeclared");
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(matches!(
            JwtKeys::load(&AuthConfig { secret: Some("short".into()), ..Default::default() }, Path::new("/x")),
            Err(AuthError::ShortSecret)
        ));
    }
}
