//! The `AuditSink` contract: what is recorded comes back newest first, whole (actor, role, via,
//! action, target, before, after), at most `limit` entries — in `audit.change` and in the
//! memory twin alike.

use crate::support::{contract, pg_pool};
use muara_core::ports::{AuditEntry, AuditRow, AuditSink, Principal, Role};
use muara_testkit::unique;
use serde_json::json;

contract!(
    [recorded_changes_come_back_newest_first_and_whole],
    local_pg => pg_audit,
    memory => mem_audit,
);

pub struct AuditFx {
    sink: Box<dyn AuditSink>,
}

async fn pg_audit() -> anyhow::Result<AuditFx> {
    Ok(AuditFx {
        sink: Box::new(muara_console::PgAudit::new(pg_pool().await?)),
    })
}

async fn mem_audit() -> anyhow::Result<AuditFx> {
    Ok(AuditFx {
        sink: Box::new(muara_core::memory::MemAudit::default()),
    })
}

async fn recorded_changes_come_back_newest_first_and_whole(fx: &AuditFx) -> anyhow::Result<()> {
    let target = unique("client");
    for n in 1..=3 {
        fx.sink
            .record(AuditEntry {
                actor: Principal {
                    subject: "ayu".into(),
                    role: Role::Operator,
                    via: "token",
                },
                action: format!("batch.step{n}"),
                target: target.clone(),
                before: (n > 1).then(|| json!({"n": n - 1})),
                after: Some(json!({"n": n})),
            })
            .await?;
    }
    let all = fx.sink.entries(100).await?;
    let ours: Vec<&AuditRow> = all.entries.iter().filter(|e| e.target == target).collect();
    assert_eq!(ours.len(), 3, "{all:?}");
    let newest = ours[0];
    assert_eq!(newest.action, "batch.step3");
    assert_eq!(newest.actor, "ayu");
    assert_eq!(newest.role, Role::Operator);
    assert_eq!(newest.via, "token");
    assert_eq!(newest.before, Some(json!({"n": 2})));
    assert_eq!(newest.after, Some(json!({"n": 3})));
    assert!(
        newest.id > ours[1].id && ours[1].id > ours[2].id,
        "{ours:?}"
    );
    assert!(newest.at >= ours[2].at, "{ours:?}");
    assert_eq!(ours[2].before, None);
    // As the API answers it: the time as PostgreSQL's JSON writes it, a missing before as null.
    let answered = serde_json::to_value(newest)?;
    assert_eq!(
        answered["at"].as_str(),
        Some(muara_core::timestamp::format(newest.at).as_str())
    );
    assert_eq!(answered["role"], "operator");
    assert_eq!(
        serde_json::to_value(ours[2])?["before"],
        serde_json::Value::Null
    );
    let two = fx.sink.entries(2).await?;
    assert_eq!(two.entries.len(), 2);
    Ok(())
}
