//! The `certmap` command line: one file per command, each parsing its flags and calling down into
//! the library. Every flag has a `CERTMAP_*` variable. Nothing outside this module imports it.

mod api_client;
mod database;
mod lint;
mod pull;
mod rotate;
mod serve;
mod token;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

pub use api_client::{ApiClientArgs, ApiClientCommand};
pub use database::{DataDirArg, DatabaseArgs};
pub use lint::LintArgs;
pub use pull::PullArgs;
pub use serve::ServeArgs;
pub use token::{TokenArgs, TokenCommand};

use crate::startup::{self, Application, StartError};
use crate::telemetry::LogFormat;

/// The release and the commit it was built from (api/build.rs; "git revision unknown" from a
/// tarball without .git), so a bug report names exactly what ran.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("CERTMAP_GIT_REVISION"), ")");

#[derive(Debug, Parser)]
#[command(name = "certmap", version = VERSION, about = "System of record for IIS client-certificate mappings and mTLS gateways")]
pub struct Cli {
    #[arg(long, env = "CERTMAP_LOG_FORMAT", value_enum, default_value = "human", global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (migrations run first).
    Serve(ServeArgs),
    /// Run pending database migrations and exit.
    Migrate(DatabaseArgs),
    /// Print the OpenAPI document and exit.
    Openapi,
    /// Re-encrypt every stored password under the current secret key. With a key file (no
    /// CERTMAP_SECRET_KEY), first generate a new key and keep the old one in secret.key.old.
    RotateSecretKey(DatabaseArgs),
    /// Bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Callers that authenticate with a client certificate (mTLS) instead of a token.
    #[command(subcommand)]
    ApiClient(ApiClientCommand),
    /// Lint an IIS applicationHost.config, exported <location> or web.config, offline: prints
    /// `file:line: severity: message` with IIS's symptom and the fix; exits 1 when any finding is
    /// an error, 2 when the file cannot be read.
    Lint(LintArgs),
    /// Keep a gateway's config file in step with certmap: long-poll, replace atomically, check,
    /// then reload. The gateway keeps its last good file whenever certmap is down or the check fails.
    Pull(PullArgs),
    /// Print a shell completion script: `certmap completions bash > /etc/bash_completion.d/certmap`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `certmap man > /usr/local/share/man/man1/certmap.1`.
    Man,
}

/// Runs the parsed command; the process exits with what this returns.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Lint(args) => return lint::run(&args),
        Command::Serve(args) => actix_web::rt::System::new().block_on(async move {
            let app = Application::build(args.config()?).await?;
            app.run_until_stopped().await
        }),
        Command::Migrate(args) => {
            args.resolve().map_err(StartError::from).and_then(|(_, source)| startup::migrate_only(&source))
        }
        Command::RotateSecretKey(args) => rotate::run(&args),
        Command::Token(TokenCommand::Issue(args)) => token::issue(&args).map(|token| println!("{token}")),
        Command::ApiClient(command) => api_client::run(&command),
        Command::Pull(args) => actix_web::rt::System::new().block_on(async move {
            let stop = crate::pull::signalled()?;
            crate::pull::run(args.config(), stop).await.map_err(|e| StartError::Input(e.to_string()))
        }),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "certmap", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()).map_err(StartError::from),
        Command::Openapi => {
            println!("{}", crate::openapi::spec().to_pretty_json().unwrap_or_default());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Once, on stderr: a log line as well would say it twice on a terminal.
        Err(e) => {
            eprintln!("certmap: {e}");
            ExitCode::FAILURE
        }
    }
}
