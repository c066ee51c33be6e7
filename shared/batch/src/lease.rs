//! The client's batch lease: never two runs of one client at once, and never a run stranded
//! by a holder that is gone.
//!
//! - A request takes the lease as `request:{uuid}` for [`PENDING_TTL`], then hands it to the
//!   execution it starts (`execution:{name}`, [`LOCK_TTL`]); every stage renews it, finalise
//!   releases it.
//! - A request that finds the lease held asks the orchestrator about the holder: an execution
//!   that has ended (failed, aborted, timed out — or succeeded without releasing) is gone, and
//!   its lease is taken over at once. Under `muara up`, an execution whose host died is resumed
//!   by the next host (see the local orchestrator), so it keeps its lease.
//! - The lease's token is mirrored in `tools.batch_lease`, the fence: every write transaction
//!   of a batch checks it ([`check`]), so a superseded holder can never write again.
//! - `muara batch unlock CLIENT` ([`unlock`]) is the manual way out; it fences the old holder.

use crate::model::{Deps, LeaseRef, MACHINE};
use muara_core::ports::{Holder, Lease};
use muara_core::{Error, ErrorKind, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;
use std::time::Duration;

/// How long an execution's lease lasts without renewal. Every stage renews it and finalise
/// releases it; the TTL only matters when the holder's fate cannot be asked.
pub const LOCK_TTL: Duration = Duration::from_secs(2 * 3600);

/// How long a request holds the lease before handing it to the execution it starts.
pub const PENDING_TTL: Duration = Duration::from_secs(120);

/// An execution the orchestrator does not know yet may be starting right now: its lease is
/// taken over only once it is older than this.
const START_GRACE: Duration = Duration::from_secs(60);

pub fn lock_key(client: &str) -> String {
    format!("batch:{client}")
}

fn execution_owner(name: &str) -> String {
    format!("execution:{name}")
}

/// Takes the client's lease for a new request, or takes it over from a holder that is gone.
/// `Ok(Err(holder))`: a live run holds it.
pub async fn acquire(
    deps: &Deps,
    client: &str,
) -> Result<std::result::Result<Lease, Option<String>>> {
    let key = lock_key(client);
    let owner = format!("request:{}", uuid::Uuid::new_v4());
    for _ in 0..2 {
        if let Some(lease) = deps.locks.acquire(&key, &owner, PENDING_TTL).await? {
            fence(deps, client, &lease, "acquired").await?;
            return Ok(Ok(lease));
        }
        let Some(holder) = deps.locks.holder(&key).await? else {
            continue; // released or expired in between: try again
        };
        if !is_gone(deps, &holder).await? {
            return Ok(Err(Some(holder.owner)));
        }
        settle_ended(deps, client).await?;
        if let Some(lease) = deps
            .locks
            .take_over(&key, &holder.token, &owner, PENDING_TTL)
            .await?
        {
            tracing::warn!(%client, previous = %holder.owner, "took over the batch lease of a run that is gone");
            fence(deps, client, &lease, "taken_over").await?;
            return Ok(Ok(lease));
        }
    }
    Ok(Err(None))
}

/// Executions the audit still shows `RUNNING` although the orchestrator says they ended (a
/// run that died without reaching finalise: a crash it could not resume, a data limit, an
/// abort) are marked `FAILED` with the orchestrator's reason, so no dead run looks alive.
pub async fn settle_ended(deps: &Deps, client: &str) -> Result<usize> {
    let db = deps.pool.get().await.map_err(pool_error)?;
    let rows = db
        .query(
            "SELECT j.execution_name FROM tools.job_execution_log j
             JOIN tools.client_reference c USING (client_id)
             WHERE c.client_schema = $1 AND j.status = 'RUNNING' AND j.execution_name IS NOT NULL",
            &[&client],
        )
        .await
        .map_err(|e| pg_error("reading running executions", e))?;
    let mut settled = 0;
    for row in rows {
        let name: String = row.get(0);
        let id = deps.orchestrator.execution_id(MACHINE, &name)?;
        let info = match deps.orchestrator.describe(&id).await {
            Ok(info) => info,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if !info.status.is_terminal() {
            continue;
        }
        let why = format!(
            "the execution ended ({}) without finalising: {}{}",
            info.status.as_str(),
            info.error.as_deref().unwrap_or("no error recorded"),
            info.cause
                .as_deref()
                .map(|c| format!(": {c}"))
                .unwrap_or_default()
        );
        let n = db
            .execute(
                "UPDATE tools.job_execution_log SET status = 'FAILED', error_message = $2,
                   finished_at = now() WHERE execution_name = $1 AND status = 'RUNNING'",
                &[&name, &why],
            )
            .await
            .map_err(|e| pg_error("settling an ended execution", e))?;
        if n > 0 {
            tracing::warn!(%client, execution = %name, reason = %why, "execution marked failed");
            settled += 1;
        }
    }
    Ok(settled)
}

/// Whether the lease's holder can no longer act: its execution has ended, or never started.
async fn is_gone(deps: &Deps, holder: &Holder) -> Result<bool> {
    let Some(name) = holder.owner.strip_prefix("execution:") else {
        // A request between taking the lease and starting its execution: it expires soon.
        return Ok(false);
    };
    let id = deps.orchestrator.execution_id(MACHINE, name)?;
    match deps.orchestrator.describe(&id).await {
        Ok(info) => Ok(info.status.is_terminal()),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let age = LOCK_TTL.saturating_sub(holder.expires_in);
            Ok(age > START_GRACE)
        }
        Err(e) => Err(e),
    }
}

/// Hands the request's lease to the execution about to start as `name`.
pub async fn hand_over(deps: &Deps, lease: &mut Lease, name: &str) -> Result<()> {
    lease.owner = execution_owner(name);
    if deps.locks.renew(lease, LOCK_TTL).await? {
        Ok(())
    } else {
        Err(Error::retryable(format!(
            "the batch lease of {} expired before its execution started; request the run again",
            lease.key
        )))
    }
}

/// Records `lease` as the client's fence (waits for a superseded holder's open write
/// transaction to end).
async fn fence(deps: &Deps, client: &str, lease: &Lease, how: &str) -> Result<()> {
    let db = deps.pool.get().await.map_err(pool_error)?;
    db.execute(
        "INSERT INTO tools.batch_lease (client, token, owner, how) VALUES ($1, $2, $3, $4)
         ON CONFLICT (client) DO UPDATE
           SET token = excluded.token, owner = excluded.owner, how = excluded.how, fenced_at = now()",
        &[&client, &lease.token, &lease.owner, &how],
    )
    .await
    .map_err(|e| pg_error("fencing the batch lease", e))?;
    Ok(())
}

fn superseded(client: &str) -> Error {
    Error::conflict(format!(
        "superseded: another run of client {client} holds the batch lease now (this run's holder \
         was taken for gone, or the client was unlocked); this run writes nothing more"
    ))
}

/// Fails unless `lock` is still the client's fence. Inside a write transaction, the row lock
/// taken here keeps a new holder's fence waiting until the transaction ends. Runs without a
/// lease (tools that drive stages by hand) are not fenced.
pub async fn check(
    db: &impl deadpool_postgres::GenericClient,
    client: &str,
    lock: Option<&LeaseRef>,
) -> Result<()> {
    let Some(lock) = lock else {
        return Ok(());
    };
    let row = db
        .query_opt(
            "SELECT token FROM tools.batch_lease WHERE client = $1 FOR SHARE",
            &[&client],
        )
        .await
        .map_err(|e| pg_error("checking the batch lease", e))?;
    match row {
        Some(r) if r.get::<_, String>(0) != lock.token => Err(superseded(client)),
        _ => Ok(()),
    }
}

/// The client and lease a stage's input carries: `batch` (file and SQL stages, finalise),
/// `input` (finalise after a failed start) or the execution input itself (start).
pub fn carried(input: &serde_json::Value) -> Option<(String, LeaseRef)> {
    let holder = batch_of(input);
    let client = holder.get("client")?.as_str()?.to_string();
    let lock = serde_json::from_value(holder.get("lock")?.clone()).ok()?;
    Some((client, lock))
}

/// The object of a stage's input that describes its batch: `batch` (file stages), `input`
/// (wrapped inputs) or the input itself (start).
pub fn batch_of(input: &serde_json::Value) -> &serde_json::Value {
    ["batch", "input"]
        .iter()
        .filter_map(|k| input.get(k))
        .find(|v| v.is_object())
        .unwrap_or(input)
}

/// At every stage's start: renews the execution's lease, and stops a run whose lease was
/// taken over.
pub async fn keep(deps: &Deps, client: &str, lock: &LeaseRef) -> Result<()> {
    if !deps
        .locks
        .renew(&Lease::from(lock.clone()), LOCK_TTL)
        .await?
    {
        tracing::warn!(%client, "the batch lease had lapsed; going on while the fence is still ours");
    }
    let db = deps.pool.get().await.map_err(pool_error)?;
    check(&db, client, Some(lock)).await
}

/// Frees the client's lease whoever holds it, and fences that holder out. Returns the holder
/// that was there.
pub async fn unlock(deps: &Deps, client: &str) -> Result<Option<Holder>> {
    let key = lock_key(client);
    let Some(holder) = deps.locks.holder(&key).await? else {
        return Ok(None);
    };
    let owner = format!("unlocked:{}", uuid::Uuid::new_v4());
    if let Some(lease) = deps
        .locks
        .take_over(&key, &holder.token, &owner, PENDING_TTL)
        .await?
    {
        fence(deps, client, &lease, "unlocked").await?;
        deps.locks.release(&lease).await?;
        tracing::warn!(%client, previous = %holder.owner, "batch lease unlocked by an operator");
        Ok(Some(holder))
    } else {
        Err(Error::conflict(format!(
            "the batch lease of {client} changed hands while unlocking; look again"
        )))
    }
}
