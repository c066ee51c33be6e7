//! Versioned SQL migrations.
//!
//! A [`MigrationSet`] is an ordered list of SQL files embedded in the binary. [`MigrationSet::apply`]
//! takes a session advisory lock (two processes starting together apply each migration once),
//! records every applied migration with a SHA-256 of its text, refuses to run when an applied
//! migration's text has changed, and applies each pending migration in its own transaction.

use crate::error::pg_error;
use crate::pool::pool_error;
use deadpool_postgres::Pool;
use muara_core::{Error, Result};
use sha2::{Digest, Sha256};

/// One migration: applied once, in `version` order.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// A named, ordered set of migrations (the platform's own; the local runtime's).
#[derive(Debug, Clone, Copy)]
pub struct MigrationSet {
    pub name: &'static str,
    pub migrations: &'static [Migration],
}

/// The platform's schema: the `tools` control and audit tables, and what later pipelines add.
pub const PLATFORM: MigrationSet = MigrationSet {
    name: "platform",
    migrations: &[
        Migration {
            version: 1,
            name: "tools_schema",
            sql: include_str!("../migrations/0001_tools_schema.sql"),
        },
        Migration {
            version: 2,
            name: "batch_steps",
            sql: include_str!("../migrations/0002_batch_steps.sql"),
        },
        Migration {
            version: 3,
            name: "events",
            sql: include_str!("../migrations/0003_events.sql"),
        },
        Migration {
            version: 4,
            name: "recordings",
            sql: include_str!("../migrations/0004_recordings.sql"),
        },
        Migration {
            version: 5,
            name: "funnel",
            sql: include_str!("../migrations/0005_funnel.sql"),
        },
        Migration {
            version: 6,
            name: "console",
            sql: include_str!("../migrations/0006_console.sql"),
        },
        Migration {
            version: 7,
            name: "config_snapshot",
            sql: include_str!("../migrations/0007_config_snapshot.sql"),
        },
        Migration {
            version: 8,
            name: "funnel_identity",
            sql: include_str!("../migrations/0008_funnel_identity.sql"),
        },
        Migration {
            version: 9,
            name: "row_ledger",
            sql: include_str!("../migrations/0009_row_ledger.sql"),
        },
        Migration {
            version: 10,
            name: "batch_lease",
            sql: include_str!("../migrations/0010_batch_lease.sql"),
        },
        Migration {
            version: 11,
            name: "step_runners",
            sql: include_str!("../migrations/0011_step_runners.sql"),
        },
        Migration {
            version: 12,
            name: "blank_lines",
            sql: include_str!("../migrations/0012_blank_lines.sql"),
        },
    ],
};

const LOCK_KEY: i64 = 0x6d75_6172_615f_6d67; // "muara_mg"

fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

impl MigrationSet {
    /// Applies every pending migration; returns the versions applied now.
    pub async fn apply(&self, pool: &Pool) -> Result<Vec<i32>> {
        let mut client = pool.get().await.map_err(pool_error)?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
            .await
            .map_err(|e| pg_error("taking the migration lock", e))?;
        let result = self.apply_locked(&mut client).await;
        // Unlock even when a migration failed; the session may be reused by the pool.
        let unlock = client
            .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
            .await
            .map_err(|e| pg_error("releasing the migration lock", e));
        let applied = result?;
        unlock?;
        Ok(applied)
    }

    async fn apply_locked(&self, client: &mut deadpool_postgres::Object) -> Result<Vec<i32>> {
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS public.muara_schema_migrations (
                    set_name   text NOT NULL,
                    version    integer NOT NULL,
                    name       text NOT NULL,
                    checksum   text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (set_name, version)
                )",
            )
            .await
            .map_err(|e| pg_error("creating muara_schema_migrations", e))?;
        let rows = client
            .query(
                "SELECT version, checksum FROM public.muara_schema_migrations WHERE set_name = $1",
                &[&self.name],
            )
            .await
            .map_err(|e| pg_error("reading applied migrations", e))?;
        let applied: std::collections::BTreeMap<i32, String> =
            rows.iter().map(|r| (r.get(0), r.get(1))).collect();

        let mut now_applied = Vec::new();
        for m in self.migrations {
            let sum = checksum(m.sql);
            if let Some(existing) = applied.get(&m.version) {
                if *existing != sum {
                    return Err(Error::fatal(format!(
                        "migration {}/{:04}_{} was changed after it was applied; add a new migration instead",
                        self.name, m.version, m.name
                    )));
                }
                continue;
            }
            let tx = client
                .transaction()
                .await
                .map_err(|e| pg_error("beginning a migration", e))?;
            tx.batch_execute(m.sql).await.map_err(|e| {
                pg_error(
                    &format!(
                        "applying migration {}/{:04}_{}",
                        self.name, m.version, m.name
                    ),
                    e,
                )
            })?;
            tx.execute(
                "INSERT INTO public.muara_schema_migrations (set_name, version, name, checksum) VALUES ($1, $2, $3, $4)",
                &[&self.name, &m.version, &m.name, &sum],
            )
            .await
            .map_err(|e| pg_error("recording a migration", e))?;
            tx.commit()
                .await
                .map_err(|e| pg_error("committing a migration", e))?;
            tracing::info!(
                set = self.name,
                version = m.version,
                name = m.name,
                "migration applied"
            );
            now_applied.push(m.version);
        }
        Ok(now_applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_versions_are_strictly_increasing() {
        let v: Vec<i32> = PLATFORM.migrations.iter().map(|m| m.version).collect();
        assert!(v.windows(2).all(|w| w[0] < w[1]), "{v:?}");
        assert!(v.first() == Some(&1));
    }
}
