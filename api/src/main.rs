use std::process::ExitCode;

use certmap::cli::{ApiClientCommand, Cli, Command, TokenCommand};
use certmap::startup::{self, Application};
use clap::Parser;

/// glibc gives threads that allocate their own arenas and keeps freed memory in them: with the
/// blocking pool's threads loading and rendering large sites, that grew a 100,000-mapping server
/// from 260 to 411 MB resident (bench/run). Two arenas, unless the operator chose a number.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes allocator settings; called before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

fn main() -> ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    limit_malloc_arenas();
    let cli = Cli::parse();
    certmap::telemetry::init(cli.log_format);
    let result = match cli.command {
        Command::Lint(args) => return certmap::lint_command::run(&args),
        Command::Serve(args) => actix_web::rt::System::new().block_on(async move {
            let app = Application::build(args.config()).await?;
            app.run_until_stopped().await
        }),
        Command::Migrate(args) => startup::migrate_only(&args.source()),
        Command::RotateSecretKey(args) => {
            certmap::rotate::rotate(&args.source(), &args.data_dir, &certmap::config::SecretConfig::from_env()).map(
                |r| {
                    if r.new_key_file {
                        println!("generated a new key in secret.key; the previous key is kept in secret.key.old");
                    }
                    println!(
                        "re-encrypted {} passwords ({} were already under the current key)",
                        r.reencrypted, r.already_current
                    );
                },
            )
        }
        Command::Token(TokenCommand::Issue(args)) => {
            certmap::auth::issue_from_cli(&args).map(|token| println!("{token}"))
        }
        Command::ApiClient(ApiClientCommand::Add(args)) => certmap::api_clients::add(&args).map(|(id, sha256)| {
            println!(
                "registered api client {id} ({}, role {}) for certificate sha256 {sha256}",
                args.name,
                args.role.as_str()
            )
        }),
        Command::Pull(args) => actix_web::rt::System::new().block_on(async move {
            let stop = certmap::pull::signalled()?;
            certmap::pull::run(args.config(), stop).await.map_err(|e| startup::StartError::Input(e.to_string()))
        }),
        Command::Openapi => {
            println!("{}", certmap::openapi::spec().to_pretty_json().unwrap_or_default());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("certmap: {e}");
            ExitCode::FAILURE
        }
    }
}
