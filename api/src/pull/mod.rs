//! `certmap pull`: keeps a gateway's config file in step with certmap. It long-polls the rendered
//! config, replaces the file atomically, lets the gateway check it, and only then reloads; the
//! gateway keeps serving its last good file whenever certmap is unreachable or the check fails.

mod backoff;
mod client;
mod hook;
mod install;

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use backoff::Backoff;
use client::{Credentials, Failure, Fetched, Server};

/// No Debug: it holds the token.
pub struct PullConfig {
    pub server: String,
    pub token: Option<String>,
    /// A registered client certificate and its key (PEM), instead of or besides the token.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// A numeric id or a name.
    pub site: String,
    pub format: String,
    pub out: PathBuf,
    /// Where the site's client CA bundle goes, replaced together with `out`.
    pub ca_out: Option<PathBuf>,
    /// Where the CRLs of the site's trusted CAs go (`config/crl`), replaced together with `out`.
    pub crl_out: Option<PathBuf>,
    /// Query options of the config endpoint, in the order given (the ETag covers them).
    pub options: Vec<(String, String)>,
    pub check: Option<String>,
    pub reload: Option<String>,
    pub ca_cert: Option<PathBuf>,
    /// How long the server may hold a request while nothing changes.
    pub wait: Duration,
    /// The least time between two requests, whatever the server does with `wait`.
    pub interval: Duration,
    pub command_timeout: Duration,
    pub once: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PullError(String);

/// What the agent holds between requests.
#[derive(Default)]
struct State {
    /// The ETag of the config now in place.
    etag: Option<String>,
    /// A reload that failed after its config was accepted: retried before anything else.
    reload_pending: bool,
}

/// Resolves when SIGTERM or SIGINT arrives; the agent then stops between two exchanges, never
/// halfway through replacing a file. The handlers are in place when this returns (inside a runtime).
pub fn signalled() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut term, mut int) = (signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?);
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// Runs until `stop` resolves (Ok), or a refusal no retry can fix (Err). With `once`, one
/// exchange and any failure is an Err.
pub async fn run(config: PullConfig, stop: impl Future<Output = ()>) -> Result<(), PullError> {
    let once = config.once;
    let result = run_until(config, stop).await;
    if result.is_ok() && !once {
        tracing::info!("certmap pull stopped; the gateway keeps serving its current config");
    }
    result
}

async fn run_until(config: PullConfig, stop: impl Future<Output = ()>) -> Result<(), PullError> {
    let mut stop = std::pin::pin!(stop);
    let credentials = Credentials {
        token: config.token.clone(),
        ca_cert: config.ca_cert.as_deref(),
        client_cert: config.client_cert.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
    };
    let server = Server::new(&config.server, credentials).map_err(PullError)?;
    let mut backoff = Backoff::default();
    let site_id = loop {
        let found = tokio::select! {
            found = server.site_id(&config.site) => found,
            _ = &mut stop => return Ok(()),
        };
        match found {
            Ok(id) => break id,
            Err(Failure::Fatal(m)) => return Err(PullError(m)),
            Err(Failure::Retry(m)) if config.once => return Err(PullError(m)),
            Err(Failure::Retry(m)) => {
                let delay = backoff.next();
                tracing::warn!(retry_in_ms = delay.as_millis() as u64, "cannot look up the site: {m}");
                if sleep_or_stop(delay, &mut stop).await {
                    return Ok(());
                }
            }
        }
    };
    tracing::info!(
        site_id,
        format = %config.format,
        out = %config.out.display(),
        server = %config.server,
        "keeping the gateway config in step with certmap"
    );
    let mut state = State::default();
    // Set by a failed exchange, so the first one to succeed afterwards says the outage is over.
    let mut failing = false;
    loop {
        let started = Instant::now();
        // Only the request may be cut short by a stop; once an answer is in, it is installed,
        // checked and either kept or rolled back before the agent looks at `stop` again.
        let outcome = if state.reload_pending {
            reload(&config).await.map(|()| state.reload_pending = false)
        } else {
            let fetched = tokio::select! {
                fetched = fetch(&config, &server, site_id, &state) => fetched,
                _ = &mut stop => return Ok(()),
            };
            match fetched {
                Ok(Some((etag, files))) => install_and_reload(&config, &mut state, etag, files).await,
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            }
        };
        let delay = match outcome {
            Ok(()) if config.once => return Ok(()),
            Ok(()) => {
                if std::mem::take(&mut failing) {
                    tracing::info!(server = %config.server, "back in step: certmap answers again and the gateway has its current config");
                }
                backoff.reset();
                config.interval.saturating_sub(started.elapsed())
            }
            Err(Failure::Fatal(m)) => return Err(PullError(m)),
            Err(Failure::Retry(m)) if config.once => return Err(PullError(m)),
            Err(Failure::Retry(m)) => {
                failing = true;
                let delay = backoff.next();
                tracing::warn!(retry_in_ms = delay.as_millis() as u64, "{m}; the gateway keeps its last good config");
                delay
            }
        };
        if sleep_or_stop(delay, &mut stop).await {
            return Ok(());
        }
    }
}

/// True if `stop` came first.
async fn sleep_or_stop(delay: Duration, stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => false,
        _ = stop => true,
    }
}

type Files = Vec<(PathBuf, Vec<u8>)>;

/// One request: None when nothing changed, else the new ETag and the files to put in place.
async fn fetch(
    config: &PullConfig,
    server: &Server,
    site_id: i64,
    state: &State,
) -> Result<Option<(Option<String>, Files)>, Failure> {
    let wait = if config.once { Duration::ZERO } else { config.wait };
    let fetched = server.config(site_id, &config.format, &config.options, state.etag.as_deref(), wait).await?;
    let Fetched::Changed { etag, body } = fetched else {
        return Ok(None);
    };
    let mut files = vec![(config.out.clone(), body)];
    if let Some(ca_out) = &config.ca_out {
        // The bundle moves with the site's revision, and so does the config's ETag: fetching it
        // whenever the config changed keeps the two in step without a second long poll.
        match server.config(site_id, "ca-bundle", &[], None, Duration::ZERO).await? {
            Fetched::Changed { body, .. } => files.push((ca_out.clone(), body)),
            Fetched::Unchanged => return Err(Failure::Retry("the CA bundle answered 304 to a plain GET".into())),
        }
    }
    if let Some(crl_out) = &config.crl_out {
        // The config's ETag moves with every CRL stored when its options name a crl_file.
        match server.config(site_id, "crl", &[], None, Duration::ZERO).await? {
            Fetched::Changed { body, .. } => files.push((crl_out.clone(), body)),
            Fetched::Unchanged => return Err(Failure::Retry("the CRL file answered 304 to a plain GET".into())),
        }
    }
    Ok(Some((etag, files)))
}

async fn install_and_reload(
    config: &PullConfig,
    state: &mut State,
    etag: Option<String>,
    files: Files,
) -> Result<(), Failure> {
    match apply(&files, etag.as_deref(), config).await {
        Applied::Unchanged | Applied::Reloaded => {
            state.etag = etag;
            Ok(())
        }
        Applied::ReloadFailed(m) => {
            state.etag = etag;
            state.reload_pending = true;
            Err(Failure::Retry(m))
        }
        Applied::Refused(m) => Err(Failure::Retry(m)),
    }
}

enum Applied {
    Unchanged,
    Reloaded,
    /// The check refused the config, or it could not be written: the previous files are back.
    Refused(String),
    /// The config is in place and checked, but the gateway did not take it yet.
    ReloadFailed(String),
}

/// Puts the changed files in place, lets the check judge them, and reloads the gateway.
async fn apply(files: &Files, etag: Option<&str>, config: &PullConfig) -> Applied {
    let etag = etag.unwrap_or("none");
    let mut changed = Vec::new();
    for (path, body) in files {
        match install::current(path) {
            Ok(Some(current)) if current == *body => {}
            Ok(_) => changed.push((path.as_path(), body.as_slice())),
            Err(e) => return Applied::Refused(format!("{}: {e}", path.display())),
        }
    }
    if changed.is_empty() {
        tracing::info!(etag, "the gateway config is already up to date");
        return Applied::Unchanged;
    }
    let mut installed = Vec::new();
    for (path, body) in &changed {
        match install::install(path, body) {
            Ok(i) => installed.push(i),
            Err(e) => {
                restore(installed);
                return Applied::Refused(format!("cannot write {}: {e}", path.display()));
            }
        }
    }
    if let Some(check) = &config.check {
        if let Err(e) = hook::run(check, config.command_timeout).await {
            restore(installed);
            tracing::error!(etag, "the check refused the new config: {e}");
            return Applied::Refused("the new config was refused by the check and rolled back".into());
        }
    }
    for i in installed {
        if let Err(e) = i.keep() {
            tracing::warn!("cannot remove the copy of the previous config: {e}");
        }
    }
    for (path, body) in &changed {
        let what =
            if Some(*path) == config.ca_out.as_deref() { "installed the CA bundle" } else { "installed a new config" };
        tracing::info!(etag, bytes = body.len(), file = %path.display(), "{what}");
    }
    match reload(config).await {
        Ok(()) => Applied::Reloaded,
        Err(Failure::Retry(m) | Failure::Fatal(m)) => Applied::ReloadFailed(m),
    }
}

async fn reload(config: &PullConfig) -> Result<(), Failure> {
    if let Some(command) = &config.reload {
        hook::run(command, config.command_timeout).await.map_err(|e| Failure::Retry(e.to_string()))?;
        tracing::info!(command = %command, "the gateway reloaded");
    }
    Ok(())
}

fn restore(installed: Vec<install::Installed>) {
    for i in installed.into_iter().rev() {
        if let Err(e) = i.restore() {
            tracing::error!("cannot put the previous config back: {e}");
        }
    }
}

/// `key=value` for `--option`; `wait` belongs to the agent, `include_secrets` never goes to a gateway.
pub fn parse_option(s: &str) -> Result<(String, String), String> {
    let (key, value) = s.split_once('=').ok_or_else(|| format!("{s:?}: expected key=value"))?;
    match key {
        "" => Err(format!("{s:?}: expected key=value")),
        "wait" => Err("wait is set by --wait".into()),
        "include_secrets" => Err("a gateway never needs passwords; include_secrets is not passed on".into()),
        _ => Ok((key.to_owned(), value.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_key_value_pairs() {
        assert_eq!(parse_option("listen=0.0.0.0:8443"), Ok(("listen".into(), "0.0.0.0:8443".into())));
        assert_eq!(parse_option("upstream=http://a/?x=1"), Ok(("upstream".into(), "http://a/?x=1".into())));
        assert!(parse_option("listen").is_err());
        assert!(parse_option("=x").is_err());
        assert!(parse_option("wait=5").is_err());
        assert!(parse_option("include_secrets=true").is_err());
    }
}
