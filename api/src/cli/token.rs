//! `certmap token issue`: bearer tokens signed with the server's own secret.

use clap::{Args, Subcommand};
use time::Duration;

use super::database::DataDirArg;
use crate::auth::{AuthConfig, JwtKeys, SECRET_FILE};
use crate::domain::client_identity::ClientIdentity;
use crate::startup::StartError;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a token signed with the server's secret (CERTMAP_JWT_SECRET or <data-dir>/jwt.secret).
    Issue(TokenArgs),
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[arg(long, value_enum)]
    pub role: crate::auth::Role,
    /// Limit the token to this site (by name); repeat for several. Without it, every site.
    #[arg(long = "site")]
    pub sites: Vec<String>,
    /// Lifetime: a number and a unit, s, m, h, d or w (e.g. 30s, 90m, 12h, 30d).
    #[arg(long, default_value = "12h", value_parser = parse_ttl)]
    pub ttl: Duration,
    /// The one form in which the holder sends client certificates to authorize: nginx, envoy,
    /// traefik, caddy, haproxy, apache, rfc9440 or fingerprint. Authorize refuses every other
    /// form's headers. Without it: nginx. A bare fingerprint is read only when declared here.
    #[arg(long, value_name = "FORM")]
    pub client_identity: Option<ClientIdentity>,
    /// Who the token is for; recorded in the audit log.
    #[arg(long, default_value = "certmap-cli")]
    pub subject: String,
    #[command(flatten)]
    pub data_dir: DataDirArg,
}

/// `certmap token issue`: signs with the same secret the server verifies with, and never makes
/// one up: a token signed with a new secret is one no running server accepts.
pub fn issue(args: &TokenArgs) -> Result<String, StartError> {
    let config = AuthConfig::from_env();
    let data_dir = args.data_dir.resolve();
    let secret_file = data_dir.path.join(SECRET_FILE);
    if config.secret.is_none() && !secret_file.exists() {
        return Err(StartError::Input(format!(
            "no token secret in {data_dir}: {} does not exist, so there is no server here to sign a token for. \
             `certmap serve` creates it on its first start; point this command at that server's data directory with \
             --data-dir DIR or CERTMAP_DATA_DIR=DIR, or give the secret the server uses in CERTMAP_JWT_SECRET",
            secret_file.display()
        )));
    }
    let keys = JwtKeys::load(&config, &data_dir.path)?;
    let sites = (!args.sites.is_empty()).then(|| args.sites.clone());
    Ok(keys.issue_declaring(&args.subject, args.role, sites, args.client_identity, args.ttl))
}

fn parse_ttl(raw: &str) -> Result<Duration, String> {
    let bad =
        || format!("{raw:?} is not a lifetime: give a number and a unit, s, m, h, d or w, e.g. 30s, 90m, 12h, 30d");
    let split = raw.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (digits, unit) = raw.split_at(split);
    let n: i64 = digits.parse().map_err(|_| bad())?;
    // Past ten years in any unit; also keeps the multiplication below from overflowing.
    if n > 1_000_000_000 {
        return Err(format!("{raw:?}: at most ten years"));
    }
    let ttl = match unit {
        "s" => Duration::seconds(n),
        "m" => Duration::minutes(n),
        "h" => Duration::hours(n),
        "d" => Duration::days(n),
        "w" => Duration::weeks(n),
        _ => return Err(bad()),
    };
    match ttl {
        t if t <= Duration::ZERO => Err(format!("{raw:?}: a token must live longer than zero")),
        t if t > Duration::days(3660) => Err(format!("{raw:?}: at most ten years")),
        t => Ok(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_in_every_unit() {
        assert_eq!(parse_ttl("30s"), Ok(Duration::seconds(30)));
        assert_eq!(parse_ttl("90m"), Ok(Duration::minutes(90)));
        assert_eq!(parse_ttl("12h"), Ok(Duration::hours(12)));
        assert_eq!(parse_ttl("90d"), Ok(Duration::days(90)));
        assert_eq!(parse_ttl("2w"), Ok(Duration::weeks(2)));
        for bad in ["", "30", "h", "30 s", "30sec", "-5m", "1.5h", "99999999999999999999d"] {
            assert!(parse_ttl(bad).unwrap_err().contains("not a lifetime"), "{bad}");
        }
        assert!(parse_ttl("0s").unwrap_err().contains("longer than zero"));
        assert!(parse_ttl("5000w").unwrap_err().contains("ten years"));
        assert!(parse_ttl("999999999999999w").unwrap_err().contains("ten years"));
    }
}
