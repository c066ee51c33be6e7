//! Logging as every Lambda does it: JSON lines (CloudWatch adds the time), `RUST_LOG` filter
//! (default `info`).

/// Installs the Lambda log format; call once, first thing in `main`.
pub fn init_lambda() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        // The innermost span's fields (a stage's client, batch and file) on every line.
        .with_current_span(true)
        .with_span_list(false)
        .without_time()
        .with_target(false)
        .init();
}
