//! `certmap lint FILE`: the IIS configuration findings without a server or database.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use time::OffsetDateTime;

use crate::domain::names::SiteName;
use crate::iis_config::{self, report, xml::MAX_INPUT_BYTES, Options};

#[derive(Debug, Args)]
pub struct LintArgs {
    /// The configuration file; `-` reads standard input.
    pub file: PathBuf,
    /// For a web.config, which names no site: the IIS site it belongs to.
    #[arg(long)]
    pub site: Option<String>,
}

pub fn run(args: &LintArgs) -> ExitCode {
    let name = args.file.display().to_string();
    let site = match args.site.as_deref().map(SiteName::parse).transpose() {
        Ok(site) => site,
        Err(r) => {
            eprintln!("certmap lint: --site: {}", r.message);
            return ExitCode::from(2);
        }
    };
    let mut bytes = Vec::new();
    // One byte over the limit is enough to refuse the file as too large.
    let read = if name == "-" {
        std::io::stdin().take(MAX_INPUT_BYTES as u64 + 1).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(&args.file).and_then(|f| f.take(MAX_INPUT_BYTES as u64 + 1).read_to_end(&mut bytes))
    };
    if let Err(e) = read {
        eprintln!("certmap lint: cannot read {name}: {e}");
        return ExitCode::from(2);
    }
    let analysis = iis_config::analyze(&bytes, &Options { now: OffsetDateTime::now_utc(), web_config_site: site });
    print!("{}", report::compiler_style(&name, &analysis.findings));
    if analysis.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
