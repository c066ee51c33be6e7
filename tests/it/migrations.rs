//! Migrations against a real PostgreSQL.

use muara_testkit::postgres;

const TOOLS_TABLES: &[&str] = &[
    "batch_lease",
    "batch_notification",
    "client_config",
    "client_reference",
    "column_mapping",
    "config_snapshot",
    "file_audit_log",
    "file_ledger",
    "integration_config",
    "integration_dependencies",
    "integration_log",
    "job_execution_log",
    "load_error_log",
    "mapping_validation_log",
    "mv_refresh_config",
    "mv_refresh_log",
    "required_columns",
    "row_validation_log",
    "transformation_config",
    "transformation_log",
];

#[tokio::test]
async fn the_tools_schema_has_every_table_of_the_design() -> anyhow::Result<()> {
    let pool = postgres().await?.fresh_pool().await?;
    let client = pool.get().await?;
    let rows = client
        .query("SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'tools' ORDER BY 1", &[])
        .await?;
    let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(names, TOOLS_TABLES);
    Ok(())
}

#[tokio::test]
async fn applying_twice_applies_nothing_the_second_time() -> anyhow::Result<()> {
    let pool = postgres().await?.fresh_pool().await?;
    // The template was migrated already: nothing is pending.
    assert!(muara_db::PLATFORM.apply(&pool).await?.is_empty());
    assert!(muara_local::LOCAL_MIGRATIONS.apply(&pool).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn an_applied_migration_that_was_edited_is_refused() -> anyhow::Result<()> {
    let pool = postgres().await?.fresh_pool().await?;
    pool.get()
        .await?
        .execute("UPDATE public.muara_schema_migrations SET checksum = 'edited' WHERE set_name = 'platform' AND version = 1", &[])
        .await?;
    let err = muara_db::PLATFORM.apply(&pool).await.unwrap_err();
    assert!(
        err.to_string().contains("was changed after it was applied"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn batch_ids_allocate_atomically_under_concurrency() -> anyhow::Result<()> {
    let pool = postgres().await?.fresh_pool().await?;
    pool.get()
        .await?
        .execute(
            "INSERT INTO tools.client_reference (client_schema) VALUES ('acme')",
            &[],
        )
        .await?;
    let tasks = (0..10).map(|_| {
        let pool = pool.clone();
        tokio::spawn(async move {
            let c = pool.get().await?;
            let row = c
                .query_one(
                    "UPDATE tools.client_reference SET last_batch_id = last_batch_id + 1, updated_at = now()
                     WHERE client_schema = 'acme' RETURNING last_batch_id",
                    &[],
                )
                .await?;
            anyhow::Ok(row.get::<_, i32>(0))
        })
    });
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await??);
    }
    ids.sort();
    assert_eq!(ids, (1..=10).collect::<Vec<_>>());
    Ok(())
}
