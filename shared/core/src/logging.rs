//! Logging as every Lambda does it: JSON lines (CloudWatch adds the time), `RUST_LOG` filter
//! (default `info`). Each line carries the fields of every span it is logged in: the Lambda
//! runtime's invocation span (`requestId`) and ours (a stage's client, batch and file; a
//! worker round's queue; an ingest's topic or channel).

use tracing_subscriber::fmt::MakeWriter;

/// The Lambda log format, writing to `writer` (tests capture a run's lines with it).
pub fn lambda_format<W>(writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .with_span_list(true)
        .without_time()
        .with_target(false)
        .with_writer(writer)
        .finish()
}

/// Installs the Lambda log format; call once, first thing in `main`.
pub fn init_lambda() {
    if tracing::subscriber::set_global_default(lambda_format(std::io::stdout)).is_err() {
        tracing::warn!("a log subscriber was already installed");
    }
}

/// Log lines kept in memory, for a test to read what a run logged (with [`lambda_format`]).
#[cfg(any(test, feature = "memory"))]
#[derive(Debug, Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(any(test, feature = "memory"))]
impl Captured {
    /// Everything written so far.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[cfg(any(test, feature = "memory"))]
impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::ErrorKind::Other)?
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(any(test, feature = "memory"))]
impl<'w> MakeWriter<'w> for Captured {
    type Writer = Captured;
    fn make_writer(&'w self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_carries_the_request_id_and_the_stages_ids() {
        let buffer = Captured::default();
        tracing::subscriber::with_default(lambda_format(buffer.clone()), || {
            let invoke = tracing::info_span!("Lambda runtime invoke", requestId = "req-1");
            let _i = invoke.enter();
            let stage = tracing::info_span!("stage", client = "demo", batch = "BATCH000001");
            let _s = stage.enter();
            tracing::info!("converted");
        });
        let text = buffer.text();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["fields"]["message"], "converted", "{line}");
        assert_eq!(line["spans"][0]["requestId"], "req-1", "{line}");
        assert_eq!(line["spans"][1]["client"], "demo", "{line}");
        assert_eq!(line["spans"][1]["batch"], "BATCH000001", "{line}");
    }
}
