use std::process::ExitCode;

use certmap::cli::Cli;
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
    certmap::cli::run(cli)
}
