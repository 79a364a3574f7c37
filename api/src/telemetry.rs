use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

/// Level from `CERTMAP_LOG` (tracing's filter syntax), `info` by default.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("CERTMAP_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only for a person at a terminal, never in files or pipes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
