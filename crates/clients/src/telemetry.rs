//! The log subscriber of every deployable, host and Lambdas alike: lines on
//! stderr (CloudWatch takes a Lambda's stderr like its stdout), JSON when
//! `NUMBERING_LOG_FORMAT=json` (Terraform sets it everywhere), filtered by
//! `RUST_LOG` (default `info`, with sqlx's statements at `warn`); with
//! `NUMBERING_REGION` set, every line carries the region
//! ([`crate::region::TaggedStderr`]); and, when an OTLP endpoint is
//! configured, the spans of [`crate::traces`].

use std::{io::IsTerminal, sync::OnceLock};

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::region::TaggedStderr;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// `NUMBERING_LOG_FORMAT`: `json`, or anything else for text (default).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        match get("NUMBERING_LOG_FORMAT").as_deref().map(str::trim) {
            Some("json") => Self::Json,
            _ => Self::Text,
        }
    }
}

/// Installs the log subscriber once per process, in the format the
/// environment names, with the OpenTelemetry layer when traces are on;
/// later calls do nothing. Call it first in `main` (and
/// [`crate::traces::flush`] last).
pub fn init_logging() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // RUST_LOG filters the log lines only: the exported spans have
        // their own target (see `traces`)
        let filter = || {
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"))
        };
        let registry =
            tracing_subscriber::registry().with(crate::traces::layer(crate::config::env));
        let _ = match LogFormat::from_lookup(crate::config::env) {
            LogFormat::Json => registry
                .with(
                    fmt::layer()
                        .json()
                        .with_writer(TaggedStderr { json: true })
                        .with_filter(filter()),
                )
                .try_init(),
            LogFormat::Text => registry
                .with(
                    fmt::layer()
                        .with_ansi(std::io::stderr().is_terminal())
                        .with_writer(TaggedStderr { json: false })
                        .with_filter(filter()),
                )
                .try_init(),
        };
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_log_format_json_means_json_lines_and_anything_else_text() {
        let format = |v: Option<&str>| LogFormat::from_lookup(|_| v.map(str::to_owned));
        assert_eq!(format(Some("json")), LogFormat::Json);
        assert_eq!(format(None), LogFormat::Text);
        assert_eq!(format(Some("text")), LogFormat::Text);
    }
}
