//! `certmap pull`: the flags of the gateway agent in `crate::pull`.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Where certmap answers, e.g. https://certmap.contoso.com.
    #[arg(long, env = "CERTMAP_SERVER")]
    pub server: String,
    /// A bearer token (`certmap token issue --role gateway --site NAME`). Prefer the variable to
    /// the flag: command lines are visible to every user of the host.
    #[arg(long, env = "CERTMAP_TOKEN", hide_env_values = true, required_unless_present = "client_cert")]
    pub token: Option<String>,
    /// Authenticate with this client certificate (PEM) instead, registered with `certmap
    /// api-client add --role gateway`; needs an https --server.
    #[arg(long, env = "CERTMAP_CLIENT_CERT", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// The private key (PEM) of --client-cert.
    #[arg(long, env = "CERTMAP_CLIENT_KEY", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// The site's numeric id, or its name (case-insensitive, as IIS compares them).
    #[arg(long, env = "CERTMAP_SITE")]
    pub site: String,
    #[arg(long, env = "CERTMAP_PULL_FORMAT", value_parser = ["nginx", "haproxy", "haproxy-map", "apache", "caddy", "iis", "powershell"])]
    pub format: String,
    /// The file the gateway reads; replaced atomically (its mode and owner are kept).
    #[arg(long, env = "CERTMAP_PULL_OUT")]
    pub out: PathBuf,
    /// Also keep the site's client CA bundle (`config/ca-bundle`) in this file, replaced, checked
    /// and rolled back together with --out.
    #[arg(long, env = "CERTMAP_PULL_CA_OUT")]
    pub ca_out: Option<PathBuf>,
    /// Also keep the CRLs of the site's trusted CAs (`config/crl`) in this file, replaced, checked
    /// and rolled back together with --out. Pass `--option crl_file=` naming the same file, so the
    /// config names it and its ETag moves with every new CRL.
    #[arg(long, env = "CERTMAP_PULL_CRL_OUT")]
    pub crl_out: Option<PathBuf>,
    /// An option of the config endpoint as key=value (listen, upstream, header, server_cert,
    /// server_key, ca_bundle, verify_depth, crl_file, map_file, standalone, mode, certmap, certmap_auth,
    /// token_file, client_cert, client_key, certmap_ca); repeat for several.
    /// CERTMAP_PULL_OPTIONS takes them comma-separated.
    #[arg(
        long = "option",
        env = "CERTMAP_PULL_OPTIONS",
        value_delimiter = ',',
        value_name = "KEY=VALUE",
        value_parser = crate::pull::parse_option
    )]
    pub options: Vec<(String, String)>,
    /// Run by `sh -c` with the new file in place, e.g. 'nginx -t -q'; a failure puts the previous
    /// file back and skips the reload.
    #[arg(long, env = "CERTMAP_PULL_CHECK")]
    pub check: Option<String>,
    /// Run by `sh -c` once the check passed, e.g. 'nginx -s reload'.
    #[arg(long, env = "CERTMAP_PULL_RELOAD")]
    pub reload: Option<String>,
    /// Trust only these CAs (PEM) for an https --server, e.g. a private certmap CA. Default: the
    /// system's CA certificates.
    #[arg(long, env = "CERTMAP_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Seconds the server may hold a request while nothing changes (it caps this at 60).
    #[arg(long, env = "CERTMAP_PULL_WAIT", default_value_t = 55)]
    pub wait: u64,
    /// The least milliseconds between two requests, whatever the server does with --wait.
    #[arg(long, env = "CERTMAP_PULL_INTERVAL_MS", default_value_t = 1000)]
    pub interval_ms: u64,
    /// Seconds --check or --reload may run before it is killed (and counts as failed).
    #[arg(long, env = "CERTMAP_PULL_COMMAND_TIMEOUT", default_value_t = 60)]
    pub command_timeout: u64,
    /// One exchange (fetch, write, check, reload) and exit: non-zero if any step failed.
    #[arg(long)]
    pub once: bool,
}

impl PullArgs {
    pub fn config(self) -> crate::pull::PullConfig {
        use std::time::Duration;
        crate::pull::PullConfig {
            server: self.server,
            token: self.token,
            client_cert: self.client_cert.zip(self.client_key),
            site: self.site,
            format: self.format,
            out: self.out,
            ca_out: self.ca_out,
            crl_out: self.crl_out,
            options: self.options,
            check: self.check,
            reload: self.reload,
            ca_cert: self.ca_cert,
            wait: Duration::from_secs(self.wait),
            interval: Duration::from_millis(self.interval_ms),
            command_timeout: Duration::from_secs(self.command_timeout),
            once: self.once,
        }
    }
}
