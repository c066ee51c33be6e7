//! The funnel's metrics: what the webhook saw (ingress, acked, duplicates, statuses, refused
//! bodies) and what the worker did (classified by kind, duplicates, rejected by stage, failed).
//! Locally they go to the process's registry (`GET /metrics`, with `muara_funnel_pending`, the
//! queue depth, set by the worker loop); in Lambda each call writes one CloudWatch Embedded
//! Metric Format record (namespace `muara/funnel`); PostgreSQL's `funnel.counter` keeps the
//! durable totals either way.

use muara_core::metrics::{Metrics, emit_emf};
use std::sync::Arc;

pub const NAMESPACE: &str = "muara/funnel";

#[derive(Debug, Clone, Default)]
pub struct Observe {
    pub registry: Option<Arc<Metrics>>,
    /// Write EMF records to stdout (Lambda).
    pub emf: bool,
}

impl Observe {
    /// Local: the process's registry.
    pub fn local(registry: Arc<Metrics>) -> Self {
        registry.describe(
            "muara_funnel_webhook_total",
            "counter",
            "Webhook messages and bodies by channel and outcome (ingress, acked, duplicates, statuses, bad_signature, invalid_json, unknown_shape)",
        );
        registry.describe(
            "muara_funnel_worker_total",
            "counter",
            "Funnel messages handled by the worker, by outcome (opening, booking, transaction, unclassified, duplicate, rejected_<stage>, failed)",
        );
        registry.describe(
            "muara_funnel_pending",
            "gauge",
            "Messages waiting in the funnel queue",
        );
        Self {
            registry: Some(registry),
            emf: false,
        }
    }

    /// Lambda: EMF records.
    pub fn lambda() -> Self {
        Self {
            registry: None,
            emf: true,
        }
    }

    pub fn webhook(&self, channel: &str, counts: &[(&str, i64)]) {
        if let Some(r) = &self.registry {
            for (outcome, n) in counts.iter().filter(|(_, n)| *n > 0) {
                r.add(
                    "muara_funnel_webhook_total",
                    &[("channel", channel), ("outcome", outcome)],
                    *n as f64,
                );
            }
        }
        if self.emf {
            let values: Vec<(&str, f64)> = counts.iter().map(|(k, v)| (*k, *v as f64)).collect();
            emit_emf(NAMESPACE, &[("channel", channel)], &values);
        }
    }

    /// Outcomes of one worker round or Lambda batch.
    pub fn worker(&self, outcomes: &[(String, i64)]) {
        if let Some(r) = &self.registry {
            for (outcome, n) in outcomes {
                r.add(
                    "muara_funnel_worker_total",
                    &[("outcome", outcome)],
                    *n as f64,
                );
            }
        }
        if self.emf && !outcomes.is_empty() {
            let values: Vec<(&str, f64)> = outcomes
                .iter()
                .map(|(k, v)| (k.as_str(), *v as f64))
                .collect();
            emit_emf(NAMESPACE, &[], &values);
        }
    }

    pub fn pending(&self, n: u64) {
        if let Some(r) = &self.registry {
            r.set("muara_funnel_pending", &[], n as f64);
        }
    }
}

/// The outcome name of a handled message.
pub fn outcome(h: &crate::worker::Handled) -> String {
    use crate::worker::Handled;
    match h {
        Handled::Applied { kind: Some(k) } => k.as_str().to_string(),
        Handled::Applied { kind: None } => "unclassified".into(),
        Handled::Duplicate => "duplicate".into(),
        Handled::Rejected { stage, .. } => format!("rejected_{stage}"),
    }
}

/// Counts outcomes.
pub fn tally(outcomes: impl IntoIterator<Item = String>) -> Vec<(String, i64)> {
    let mut m = std::collections::BTreeMap::new();
    for o in outcomes {
        *m.entry(o).or_insert(0) += 1;
    }
    m.into_iter().collect()
}
