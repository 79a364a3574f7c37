use std::process::ExitCode;

use certmap::cli::Cli;
use clap::Parser;

/// glibc's malloc either gives every thread that allocates its own arena and keeps freed memory
/// in them (a 100,000-mapping server grew from 260 to 411 MB resident) or, capped, makes the
/// workers queue on the arena locks on every request (futex waits were 5 % of authorize's
/// profile). jemalloc keeps per-thread caches without either; mimalloc, also tried, answered as
/// fast but held a third more memory per waiting long-poll (32 KB against jemalloc's 21).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    certmap::telemetry::init(cli.log_format);
    certmap::cli::run(cli)
}
