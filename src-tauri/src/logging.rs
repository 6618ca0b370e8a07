//! Logs: stderr and daily-rotated files in the data directory (a week kept).
//! Tokens never reach a log line: they are `Token`s, whose Debug is redacted,
//! and no code formats their text.

use std::path::Path;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Keeps the file writer flushing until the app exits.
pub type LogGuard = tracing_appender::non_blocking::WorkerGuard;

/// Installs the global subscriber; returns the guard to keep alive.
pub fn init(log_dir: &Path) -> Option<LogGuard> {
    let filter = || {
        EnvFilter::try_from_env("VESTIBULE_LOG")
            .unwrap_or_else(|_| EnvFilter::new("info,tao=warn,wry=warn"))
    };
    let _ = std::fs::create_dir_all(log_dir);
    let file = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("vestibule")
        .filename_suffix("log")
        .max_log_files(7)
        .build(log_dir);
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter());
    match file {
        Ok(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let file_layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer)
                .with_filter(filter());
            let _ = tracing_subscriber::registry()
                .with(stderr)
                .with(file_layer)
                .try_init();
            Some(guard)
        }
        Err(e) => {
            let _ = tracing_subscriber::registry().with(stderr).try_init();
            tracing::warn!(error = %e, dir = %log_dir.display(), "logging to stderr only");
            None
        }
    }
}

use tracing_subscriber::Layer as _;
