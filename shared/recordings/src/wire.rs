//! Pipeline A's one wiring: the indexer, digest and search built from their ports, the same way
//! by every host (the recordings Lambdas, `muara up`, the tests), and the entry points those
//! hosts serve.

use crate::Deps;
use std::sync::Arc;

/// What pipeline A needs: the lake, the database, operator mail.
pub type Ports = Deps;

/// The wired pipeline: its routes, its indexer and its ledger.
#[derive(Debug, Clone)]
pub struct Recordings {
    pub deps: Deps,
}

/// Pipeline A from its ports.
pub fn wire(ports: Ports) -> Recordings {
    Recordings { deps: ports }
}

impl Recordings {
    /// `GET /recordings`, `GET /recordings/daily`.
    pub fn routes(&self) -> Vec<muara_api::Route> {
        crate::http::routes(Arc::new(crate::search::Service {
            pool: self.deps.pool.clone(),
        }))
    }

    /// The indexer as the queue's Lambda event source runs it.
    pub async fn on_sqs_event(&self, payload: serde_json::Value) -> muara_core::sqs::BatchResponse {
        crate::on_sqs_event(&self.deps, payload).await
    }

    /// One object created in the lake (a local host's lake watcher calls this).
    pub async fn on_object_created(&self, key: &str) -> muara_core::Result<()> {
        crate::on_object_created(&self.deps, key).await
    }

    /// The ledger of the last two days: every sidecar indexed, refused with a reason or a
    /// duplicate; one that is none of these is indexed now (and logged as an error).
    pub async fn reconcile(&self) -> muara_core::Result<crate::ledger::Ledger> {
        let since = time::OffsetDateTime::now_utc() - time::Duration::days(2);
        crate::ledger::reconcile(
            &self.deps,
            crate::key::PREFIX,
            Some(since),
            crate::ledger::SETTLE,
            true,
        )
        .await
    }
}
