use std::process::ExitCode;

use certmap::cli::{Cli, Command};
use certmap::startup::{self, Application};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    certmap::telemetry::init(cli.log_format);
    let result = match cli.command {
        Command::Serve(args) => actix_web::rt::System::new().block_on(async move {
            let app = Application::build(args.config()).await?;
            app.run_until_stopped().await
        }),
        Command::Migrate(args) => startup::migrate_only(&args.source()),
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
