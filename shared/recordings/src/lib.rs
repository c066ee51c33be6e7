//! Pipeline A, recording migration: the parts shared by the on-prem agent and the functions.
//!
//! - [`model`]: the normalised [`Recording`](model::Recording) and audio format.
//! - [`xml`]: recorder XML → `Recording` through a per-vendor [`Profile`](xml::Profile).
//! - [`wav`]: the WAV header check (RIFF/WAVE, codec, rate, channels, data length, duration),
//!   and a tone generator for demos and tests.
//! - [`key`]: object key templates and their safety checks.
//! - [`sidecar`]: the metadata JSON written next to each audio object, last.
//! - [`report`]: the agent's run report and the digest mail made from it.
//! - [`index`]: the indexer (sidecar → verified audio → `recordings.recording`).
//! - [`digest`]: a run report → `recordings.agent_run` and one digest mail when it failed.
//! - [`search`]: the recording search and the per-day counts.
//! - [`http`]: `GET /recordings`, `GET /recordings/daily`.
//! - [`ledger`]: every sidecar in the lake indexed, refused with a reason, or repaired.
//! - [`wire`]: the pipeline from its ports, as every host builds it.

pub mod digest;
pub mod http;
pub mod index;
pub mod key;
pub mod ledger;
pub mod model;
pub mod report;
pub mod search;
pub mod sidecar;
pub mod wav;
pub mod wire;
pub mod xml;

use std::sync::Arc;

/// What the indexer and the digest need; the same in Lambda and under `muara up`.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn muara_core::ports::ObjectStore>,
    pub pool: deadpool_postgres::Pool,
    pub notify: muara_core::ports::Notify,
}

impl std::fmt::Debug for Deps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deps")
            .field("notify", &self.notify)
            .finish_non_exhaustive()
    }
}

/// An object created in the lake: a sidecar is indexed, an agent report recorded (and mailed
/// as a digest when it lists failures); anything else (the audio itself) is not this
/// pipeline's business. Transient faults are errors (the queue redelivers); bad objects are
/// recorded with their reason and acknowledged.
pub async fn on_object_created(deps: &Deps, key: &str) -> muara_core::Result<()> {
    if key::is_sidecar(key) {
        index::index_sidecar(deps.store.as_ref(), &deps.pool, key).await?;
    } else if key.starts_with(report::REPORTS_PREFIX) && key.ends_with(".json") {
        let d = digest::handle_report(deps.store.as_ref(), &deps.pool, &deps.notify, key).await?;
        tracing::info!(%key, outcome = ?d, "agent report handled");
    }
    Ok(())
}

/// The recordings queue's Lambda event: each SQS message carries one S3 notification. A
/// message whose objects could not all be handled is reported failed
/// (`ReportBatchItemFailures`): a transient fault passes on redelivery, and a message that can
/// never be handled (not an S3 notification) is kept in the dead-letter queue after its
/// receives, with its reason in the log. Bad objects themselves are not failures (see
/// [`on_object_created`]).
pub async fn on_sqs_event(
    deps: &Deps,
    payload: serde_json::Value,
) -> muara_core::sqs::BatchResponse {
    let (response, _) = muara_core::sqs::handle_each(payload, "recordings", |m| async move {
        let s3 = muara_core::s3event::S3Event::parse(&m.body)?;
        for r in s3.records.iter().filter(|r| r.is_object_created()) {
            on_object_created(deps, &r.key()?).await?;
        }
        Ok(())
    })
    .await;
    response
}
