//! Bronze load throughput: the `load-bronze` stage on a Parquet file of N rows, into a fresh
//! table, timed. Run by `bench/load/run.sh`, which times `psql \copy` of the same rows beside
//! it.
//!
//! Usage: load_bench DATABASE_URL CSV_FILE

#![allow(clippy::print_stdout)]

use muara_batch::model::{BatchRef, FileInput, FileItem, Mode};
use muara_core::ports::ObjectStore;
use std::sync::Arc;
use std::time::Instant;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(csv)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: load_bench DATABASE_URL CSV_FILE");
    };
    let pool = muara_db::connect(&url, 4, std::time::Duration::from_secs(10)).await?;
    muara_db::PLATFORM.apply(&pool).await?;
    muara_local::LOCAL_MIGRATIONS.apply(&pool).await?;
    let dir = tempfile::tempdir()?;
    let store = muara_local::dirstore::DirStore::open(dir.path().join("lake")).await?;
    let parquet = dir.path().join("orders.parquet");
    let t = Instant::now();
    let report = muara_convert::convert_file(
        std::path::Path::new(&csv),
        &muara_convert::source_format("csv", None)?,
        &parquet,
        &Default::default(),
    )?;
    eprintln!(
        "converted {} rows in {:.1} s (not part of the load figure)",
        report.rows,
        t.elapsed().as_secs_f64()
    );
    let key = "data/bench/orders/incoming/orders_BATCH000001.parquet";
    store.upload(key, &parquet, &Default::default()).await?;

    let c = pool.get().await?;
    c.batch_execute("DROP SCHEMA IF EXISTS bench_muara CASCADE; CREATE SCHEMA bench_muara;")
        .await?;
    let cols: Vec<String> = report.columns.clone();
    let defs: Vec<String> = cols.iter().map(|c| format!("\"{c}\" text")).collect();
    c.batch_execute(&format!(
        "CREATE TABLE bench_muara.orders ({}, dwh_batch_id text NOT NULL, dwh_load_ts timestamptz NOT NULL);",
        defs.join(", ")
    ))
    .await?;
    let client_id: i32 = c
        .query_one(
            "INSERT INTO tools.client_reference (client_schema) VALUES ('bench') ON CONFLICT (client_schema) DO UPDATE SET updated_at = now() RETURNING client_id",
            &[],
        )
        .await?
        .get(0);
    c.execute(
        "DELETE FROM tools.client_config WHERE client_id = $1",
        &[&client_id],
    )
    .await?;
    let config_id: i32 = c
        .query_one(
            "INSERT INTO tools.client_config (client_id, logical_source_file, source_system, source_type, target_schema, target_table, row_validation_policy)
             VALUES ($1, 'orders', 'orders', 'csv', 'bench_muara', 'orders', 'fatal') RETURNING config_id",
            &[&client_id],
        )
        .await?
        .get(0);
    for (i, col) in cols.iter().enumerate() {
        let ordinal = i32::try_from(i)?;
        c.execute(
            "INSERT INTO tools.column_mapping (config_id, source_column, target_column, target_data_type, ordinal) VALUES ($1, $2, $2, 'text', $3)",
            &[&config_id, col, &ordinal],
        )
        .await?;
    }
    let orchestrator = Arc::new(muara_local::orchestrator::LocalOrchestrator::new(
        pool.clone(),
        Arc::new(muara_local::tasks::NoTasksYet),
    ));
    let deps = muara_host::pipelines::local_batch_deps(
        Arc::new(store),
        pool.clone(),
        orchestrator,
        dir.path(),
    )
    .await?;
    let input = FileInput {
        batch: BatchRef {
            client: "bench".parse()?,
            client_id,
            batch_id: "BATCH000001".parse()?,
            mode: Mode::Start,
            execution_name: "bench".into(),
            manifest_key: "batch_info/bench/incoming/x.json".into(),
            lock: None,
        },
        file: FileItem {
            physical_file_name: "orders_BATCH000001.csv".into(),
            logical_source_file: "orders".into(),
            source_system: "orders".into(),
            source_type: muara_batch::model::SourceType::Csv,
            source_config: None,
            target_schema: "bench_muara".into(),
            target_table: "orders".into(),
            config_id,
            row_validation_policy: muara_batch::model::RowPolicy::Fatal,
            raw_key: "raw/bench/orders/incoming/orders_BATCH000001.csv".into(),
            parquet_key: key.into(),
        },
        error: None,
        rows: None,
    };
    muara_batch::repo::audit_begin(
        &pool,
        client_id,
        "BATCH000001",
        "orders_BATCH000001.csv",
        Some("orders"),
        "orders",
    )
    .await?;
    let t = Instant::now();
    let result = muara_batch::stages::load_bronze(&deps, input).await?;
    let secs = t.elapsed().as_secs_f64();
    let rows = result.rows.unwrap_or(0);
    println!(
        "muara load-bronze\t{rows}\t{secs:.2}\t{:.0}",
        rows as f64 / secs
    );
    Ok(())
}
