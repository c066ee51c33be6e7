//! Component health: each adapter that talks to something can report whether it is reachable.

use async_trait::async_trait;
use std::path::PathBuf;
use std::time::Duration;

/// Why a component is not healthy. Its text is the `error` that `/health` reports for it.
#[derive(Debug, thiserror::Error)]
pub enum Unhealthy {
    /// The adapter's call failed; reported with its whole chain of sources.
    #[error("{}", .0.chain())]
    Failed(#[from] crate::Error),
    /// A directory the component writes to does not take a write.
    #[error("{} is not writable: {source}", path.display())]
    NotWritable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The probe did not answer within the caller's timeout.
    #[error("no answer within {} ms", .0.as_millis())]
    TimedOut(Duration),
}

/// One component whose reachability `/health` reports.
#[async_trait]
pub trait Probe: Send + Sync {
    /// Stable component name (`database`, `object_store`, `queue`…).
    fn name(&self) -> &str;
    /// `Ok(detail)` when healthy, `Err(why)` when not. Must not take longer than a few
    /// seconds; the caller also applies a timeout.
    async fn check(&self) -> Result<String, Unhealthy>;
}

#[cfg(test)]
mod tests {
    use super::Unhealthy;
    use std::time::Duration;

    #[test]
    fn unhealthy_texts_are_the_reported_reasons() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "peer reset");
        let failed = crate::Error::with_source(crate::ErrorKind::Retryable, "health query", io);
        assert_eq!(
            Unhealthy::from(failed).to_string(),
            "Retryable: health query: peer reset"
        );
        let denied = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let not_writable = Unhealthy::NotWritable {
            path: "/lake".into(),
            source: denied,
        };
        assert_eq!(not_writable.to_string(), "/lake is not writable: denied");
        assert_eq!(
            Unhealthy::TimedOut(Duration::from_millis(2500)).to_string(),
            "no answer within 2500 ms"
        );
    }
}
