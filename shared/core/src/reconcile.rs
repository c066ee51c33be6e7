//! What the ledgers of accepted inputs (recordings, funnel messages) share: the lake objects
//! to account for, and which of them are too young to judge.

use crate::Result;
use crate::ports::ObjectStore;
use std::collections::HashSet;
use std::time::Duration;
use time::OffsetDateTime;

/// Objects under a prefix that a ledger accounts for.
#[derive(Debug, Default)]
pub struct Listed {
    /// Their keys, in listing order.
    pub keys: Vec<String>,
    /// Those written within the settle time (their notification or queue message may still
    /// be on its way).
    pub young: HashSet<String>,
}

/// The objects under `prefix` that `wanted` accepts, written since `since` (all when `None`).
pub async fn list(
    store: &dyn ObjectStore,
    prefix: &str,
    wanted: impl Fn(&str) -> bool,
    since: Option<OffsetDateTime>,
    settle: Duration,
) -> Result<Listed> {
    let settled = OffsetDateTime::now_utc() - settle;
    let mut out = Listed::default();
    for o in store.list(prefix).await? {
        if !wanted(&o.key) {
            continue;
        }
        if let (Some(since), Some(at)) = (since, o.last_modified)
            && at < since
        {
            continue;
        }
        if o.last_modified.is_some_and(|at| at > settled) {
            out.young.insert(o.key.clone());
        }
        out.keys.push(o.key);
    }
    Ok(out)
}
