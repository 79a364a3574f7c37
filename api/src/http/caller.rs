//! Who is calling, and what they may do: the bearer token's role and site list, checked before
//! any work and again against each site touched.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{dev::Payload, web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::{ready, Either, Ready};

use super::problem::ApiError;
use super::AppState;
use crate::auth::{Role, LEEWAY_SECONDS};
use crate::domain::client_identity::ClientIdentity;
use crate::domain::names::fold;
use crate::locks::{lock, read, write};
use crate::tls::PeerCertificate;

/// Cheap to clone (the request log keeps a copy): who it is, shared, and where it called from.
#[derive(Debug, Clone)]
pub struct Caller {
    who: Arc<Who>,
    pub address: Option<IpAddr>,
}

#[derive(Debug)]
pub struct Who {
    /// The token's subject, or the registered name of a client certificate.
    pub subject: String,
    /// True when the caller authenticated with a registered client certificate.
    pub by_certificate: bool,
    pub role: Role,
    /// Folded site names (`domain::names::fold`) the token is limited to; None means every site.
    sites: Option<Vec<String>>,
    /// The client-identity form the credential declares; None means the role's default.
    declared_form: Option<ClientIdentity>,
}

impl std::ops::Deref for Caller {
    type Target = Who;

    fn deref(&self) -> &Who {
        &self.who
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

impl FromRequest for Caller {
    type Error = ApiError;
    /// A token is checked at once (no boxed future per request, as gateways call ten thousand
    /// times a second); only a client certificate may need the database.
    type Future = Either<Ready<Result<Self, ApiError>>, Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
            return Either::Left(ready(Err(ApiError::Internal("no application state".into()))));
        };
        // A token, when sent, decides; otherwise a registered client certificate may.
        if req.headers().contains_key(header::AUTHORIZATION) {
            return Either::Left(ready(authenticate(req, &state).map(|caller| remembered(req, caller))));
        }
        let req = req.clone();
        Either::Right(Box::pin(async move {
            let caller = match req.conn_data::<PeerCertificate>().cloned() {
                Some(PeerCertificate(sha256)) => by_certificate(&req, &state, sha256).await,
                None => Err(ApiError::Unauthorized {
                    detail: "send a bearer token: Authorization: Bearer <token> (issue one with `certmap token issue`)"
                        .into(),
                }),
            }?;
            Ok(remembered(&req, caller))
        }))
    }
}

/// For the request log line, which names whose request was refused.
fn remembered(req: &HttpRequest, caller: Caller) -> Caller {
    req.extensions_mut().insert(caller.clone());
    caller
}

async fn by_certificate(req: &HttpRequest, state: &AppState, sha256: String) -> Result<Caller, ApiError> {
    let found = state.cache.api_client(&state.pool, &sha256).await?;
    let client = found.ok_or_else(|| ApiError::Unauthorized {
        detail: format!(
            "the client certificate {sha256} is not registered (certmap api-client add) and no token was sent"
        ),
    })?;
    let name = client.name;
    let role = <Role as clap::ValueEnum>::from_str(&client.role, false)
        .map_err(|_| ApiError::Internal(format!("api client {name} has an unknown role")))?;
    let declared_form = client
        .client_identity
        .map(|form| form.parse())
        .transpose()
        .map_err(|_| ApiError::Internal(format!("api client {name} has an unknown client-identity form")))?;
    let who = Who {
        subject: name,
        by_certificate: true,
        role,
        sites: client.sites.map(|s| s.iter().map(|n| fold(n)).collect()),
        declared_form,
    };
    Ok(Caller { who: Arc::new(who), address: req.peer_addr().map(|a| a.ip()) })
}

fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Caller, ApiError> {
    let unauthorized = |detail: String| ApiError::Unauthorized { detail };
    let value =
        req.headers().get(header::AUTHORIZATION).ok_or_else(|| unauthorized("no Authorization header".into()))?;
    let value = value.to_str().map_err(|_| unauthorized("the Authorization header is not readable text".into()))?;
    let token = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`".into()))?;
    let who = state.callers.who(token, |token| {
        let claims = state.auth.verify(token).map_err(|e| unauthorized(e.to_string()))?;
        let who = Who {
            subject: claims.sub.clone(),
            by_certificate: false,
            role: claims.role,
            sites: claims.sites.as_ref().map(|s| s.iter().map(|n| fold(n)).collect()),
            declared_form: claims.client_identity,
        };
        Ok((who, Validity { not_before: claims.nbf - LEEWAY, expires: claims.exp + LEEWAY }))
    })?;
    Ok(Caller { who, address: req.peer_addr().map(|a| a.ip()) })
}

const LEEWAY: i64 = LEEWAY_SECONDS as i64;

/// When a remembered token may be used: its `nbf` and `exp` with the leeway the signature check
/// allows, in Unix seconds.
#[derive(Clone, Copy)]
struct Validity {
    not_before: i64,
    expires: i64,
}

/// Tokens already verified, by their exact text, with who they make the caller: a gateway sends
/// the same token on every request, and checking a signature, parsing claims and building the
/// caller each time was a measurable part of authorize. A hit is still held to its `exp` and `nbf`.
#[derive(Default)]
pub struct TokenMemo {
    // Read by every request: readers never wait on each other.
    verified: RwLock<HashMap<Box<str>, Remembered, foldhash::fast::RandomState>>,
}

struct Remembered {
    who: Arc<Who>,
    valid: Validity,
}

/// Past this many remembered tokens the memo starts again, so random tokens cannot grow it.
const MAX_REMEMBERED_TOKENS: usize = 10_000;

impl TokenMemo {
    fn who(
        &self,
        token: &str,
        verify: impl FnOnce(&str) -> Result<(Who, Validity), ApiError>,
    ) -> Result<Arc<Who>, ApiError> {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let held = read(&self.verified).get(token).map(|r| (r.who.clone(), r.valid));
        match held {
            Some((who, valid)) if valid.not_before <= now && now <= valid.expires => return Ok(who),
            Some(_) => {
                write(&self.verified).remove(token);
            }
            None => {}
        }
        let (who, valid) = verify(token)?;
        let who = Arc::new(who);
        let mut verified = write(&self.verified);
        if verified.len() >= MAX_REMEMBERED_TOKENS {
            verified.clear();
        }
        verified.insert(token.into(), Remembered { who: who.clone(), valid });
        Ok(who)
    }
}

impl Caller {
    /// How the audit log names this caller.
    pub fn actor(&self) -> String {
        let kind = if self.by_certificate { "client-cert" } else { "token" };
        format!("{kind}:{}", self.subject)
    }

    /// The one form authorize reads from this caller: what its credential declares, else the
    /// default for its role.
    pub fn client_identity(&self) -> ClientIdentity {
        self.declared_form.unwrap_or(match self.role {
            Role::Gateway => ClientIdentity::DEFAULT_FOR_GATEWAYS,
            Role::Admin | Role::Editor | Role::Reader => ClientIdentity::DEFAULT_FOR_PEOPLE,
        })
    }

    fn forbidden(&self, what: &str) -> ApiError {
        ApiError::Forbidden { detail: format!("role {} may not {what}", self.role.as_str()) }
    }

    /// Reading sites, directories and mappings (never secrets).
    pub fn may_read(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin | Role::Editor | Role::Reader => Ok(()),
            Role::Gateway => Err(self.forbidden("read the management API (gateways read snapshots and config)")),
        }
    }

    /// Rendered config and snapshots: what gateways exist for, and anyone who may read.
    pub fn may_read_config(&self) -> Result<(), ApiError> {
        Ok(())
    }

    /// Writing, at most `limit` times a minute per caller.
    pub fn may_write(&self, state: &AppState) -> Result<(), ApiError> {
        match self.role {
            Role::Admin | Role::Editor => state.write_limiter.admit(&self.subject),
            Role::Reader | Role::Gateway => Err(self.forbidden("change anything")),
        }
    }

    pub fn may_administer(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            _ => Err(self.forbidden("do this (admin only)")),
        }
    }

    pub fn is_site_scoped(&self) -> bool {
        self.sites.is_some()
    }

    /// The folded names the token is limited to, for filtering in SQL (`certmap_fold`).
    pub fn site_names(&self) -> Option<Vec<String>> {
        self.sites.clone()
    }

    pub fn sees(&self, site_name: &str) -> bool {
        self.sites.as_ref().is_none_or(|sites| sites.contains(&fold(site_name)))
    }

    pub fn out_of_scope() -> ApiError {
        ApiError::Forbidden { detail: "this token is limited to other sites".into() }
    }

    /// A site outside the token's list does not exist for reads, and is forbidden for writes.
    pub fn check_site(&self, site_name: &str, access: Access) -> Result<(), ApiError> {
        match (self.sees(site_name), access) {
            (true, _) => Ok(()),
            (false, Access::Read) => Err(ApiError::NotFound { what: "site" }),
            (false, Access::Write) => Err(Self::out_of_scope()),
        }
    }
}

/// A fixed one-minute window per caller: enough to stop a runaway script without state that
/// outlives the process.
pub struct WriteLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl WriteLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self { per_minute, windows: Mutex::new(HashMap::new()) }
    }

    fn admit(&self, subject: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut windows = lock(&self.windows);
        if windows.len() > 10_000 {
            windows.retain(|_, (start, _)| now.duration_since(*start) < Duration::from_secs(60));
        }
        let (start, count) = windows.entry(subject.to_owned()).or_insert((now, 0));
        if now.duration_since(*start) >= Duration::from_secs(60) {
            *start = now;
            *count = 0;
        }
        if *count >= self.per_minute {
            return Err(ApiError::TooManyRequests { per_minute: self.per_minute });
        }
        *count += 1;
        Ok(())
    }
}
