//! The bronze load's binary COPY: every supported type arrives as PostgreSQL's own cast of the
//! same text would make it; a bad value fails the file (policy fatal) or loads as NULL
//! (policy warning); a column type binary does not cover falls back to text COPY.

use muara_batch::model::{BatchRef, Deps, FileInput, FileItem, Mode};
use muara_core::ports::ObjectStore;
use muara_testkit::postgres;
use std::sync::Arc;

const COLUMNS: &[(&str, &str)] = &[
    ("t", "text"),
    ("i2", "smallint"),
    ("i4", "integer"),
    ("i8", "bigint"),
    ("f4", "real"),
    ("f8", "double precision"),
    ("b", "boolean"),
    ("d", "date"),
    ("ts", "timestamp"),
    ("tz", "timestamptz"),
    ("n", "numeric(20,4)"),
    ("j", "json"),
    ("jb", "jsonb"),
    ("u", "uuid"),
];

const ROWS: &[[&str; 14]] = &[
    [
        "Budi \"B\", Jr.",
        "7",
        "-42",
        "9007199254740993",
        "1.5",
        "-2.25",
        "yes",
        "2024-02-29",
        "2025-02-28 10:00:00.123456",
        "2025-02-28T10:00:00+07:00",
        "1500000.5",
        "{\"a\":[1,2]}",
        "{\"b\": true}",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
    ],
    [
        "",
        "0",
        "0",
        "0",
        "0",
        "0",
        "f",
        "1999-12-31",
        "1999-12-31 23:59",
        "2000-01-01T00:00:00Z",
        "-0.0001",
        "[]",
        "null",
        "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
    ],
    [
        "ünïcode",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
    ],
];

struct Fx {
    deps: Deps,
    config_id: i32,
    client_id: i32,
    _dir: tempfile::TempDir,
}

async fn fixture(extra_column: Option<(&str, &str)>, policy: &str) -> anyhow::Result<Fx> {
    let pool = postgres().await?.fresh_pool().await?;
    let dir = tempfile::tempdir()?;
    let store = muara_local::dirstore::DirStore::open(dir.path().join("lake")).await?;
    let mut cols: Vec<(&str, &str)> = COLUMNS.to_vec();
    cols.extend(extra_column);
    let c = pool.get().await?;
    let defs: Vec<String> = cols.iter().map(|(n, t)| format!("{n} {t}")).collect();
    c.batch_execute(&format!(
        "CREATE SCHEMA bronze_t; CREATE TABLE bronze_t.typed ({}, dwh_batch_id text NOT NULL, dwh_load_ts timestamptz NOT NULL);
         CREATE TABLE bronze_t.expected ({});",
        defs.join(", "),
        defs.join(", ")
    ))
    .await?;
    let client_id: i32 = c
        .query_one(
            "INSERT INTO tools.client_reference (client_schema) VALUES ('t') RETURNING client_id",
            &[],
        )
        .await?
        .get(0);
    let config_id: i32 = c
        .query_one(
            "INSERT INTO tools.client_config (client_id, logical_source_file, source_system, source_type, target_schema, target_table, row_validation_policy)
             VALUES ($1, 'typed', 's', 'csv', 'bronze_t', 'typed', $2) RETURNING config_id",
            &[&client_id, &policy],
        )
        .await?
        .get(0);
    for (i, (name, _)) in cols.iter().enumerate() {
        let ordinal = i32::try_from(i)?;
        c.execute(
            "INSERT INTO tools.column_mapping (config_id, source_column, target_column, ordinal) VALUES ($1, $2, $2, $3)",
            &[&config_id, name, &ordinal],
        )
        .await?;
    }
    // The CSV, converted as the convert stage would, uploaded as the batch's Parquet.
    let mut csv = cols.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(",") + "\n";
    for row in ROWS {
        let mut fields: Vec<String> = row
            .iter()
            .map(|v| format!("\"{}\"", v.replace('"', "\"\"")))
            .collect();
        if extra_column.is_some() {
            fields.push("\"(1,2)\"".into());
        }
        csv += &(fields.join(",") + "\n");
    }
    std::fs::write(dir.path().join("typed.csv"), &csv)?;
    muara_convert::convert_file(
        &dir.path().join("typed.csv"),
        &muara_convert::source_format("csv", None)?,
        &dir.path().join("typed.parquet"),
        &Default::default(),
    )?;
    store
        .upload(
            "data/t/s/incoming/typed_BATCH000001.parquet",
            &dir.path().join("typed.parquet"),
            &Default::default(),
        )
        .await?;
    muara_batch::repo::audit_begin(
        &pool,
        client_id,
        "BATCH000001",
        "typed_BATCH000001.csv",
        Some("typed"),
        "s",
    )
    .await?;
    let orchestrator = Arc::new(muara_local::orchestrator::LocalOrchestrator::new(
        pool.clone(),
        Arc::new(muara_local::tasks::NoTasksYet),
    ));
    let deps =
        muara_host::pipelines::local_batch_deps(Arc::new(store), pool, orchestrator, dir.path())
            .await?;
    Ok(Fx {
        deps,
        config_id,
        client_id,
        _dir: dir,
    })
}

fn input(fx: &Fx, policy: muara_batch::model::RowPolicy) -> FileInput {
    FileInput {
        batch: BatchRef {
            client: "t".parse().expect("a valid name"),
            client_id: fx.client_id,
            batch_id: "BATCH000001".parse().expect("a valid name"),
            mode: Mode::Start,
            execution_name: "t".into(),
            manifest_key: "batch_info/t/incoming/x.json".into(),
            lock: None,
        },
        file: FileItem {
            physical_file_name: "typed_BATCH000001.csv".into(),
            logical_source_file: "typed".into(),
            source_system: "s".into(),
            source_type: muara_batch::model::SourceType::Csv,
            source_config: None,
            target_schema: "bronze_t".into(),
            target_table: "typed".into(),
            config_id: fx.config_id,
            row_validation_policy: policy,
            raw_key: "raw/t/s/incoming/typed_BATCH000001.csv".into(),
            parquet_key: "data/t/s/incoming/typed_BATCH000001.parquet".into(),
        },
        error: None,
        rows: None,
    }
}

/// Every row as text, ordered, for a table.
async fn dump(fx: &Fx, table: &str) -> anyhow::Result<Vec<String>> {
    let cols: Vec<&str> = COLUMNS.iter().map(|(n, _)| *n).collect();
    let sql = format!(
        "SELECT concat_ws('|', {}) FROM bronze_t.{table} ORDER BY t NULLS FIRST",
        cols.iter()
            .map(|c| format!("coalesce({c}::text, 'NULL')"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(fx
        .deps
        .pool
        .get()
        .await?
        .query(&sql, &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_supported_type_loads_as_postgres_would_cast_it() -> anyhow::Result<()> {
    let fx = fixture(None, "fatal").await?;
    // What PostgreSQL makes of the same text (empty non-text values are NULL, as in the load).
    let c = fx.deps.pool.get().await?;
    c.execute("SET TIME ZONE 'UTC'", &[]).await?;
    for row in ROWS {
        let vals: Vec<String> = row
            .iter()
            .zip(COLUMNS)
            .map(|(v, (_, ty))| {
                if v.is_empty() && *ty != "text" {
                    "NULL".to_string()
                } else {
                    format!("'{}'::{ty}", v.replace('\'', "''"))
                }
            })
            .map(|v| if v == "''::text" { "NULL".into() } else { v })
            .collect();
        c.execute(
            &format!("INSERT INTO bronze_t.expected VALUES ({})", vals.join(", ")),
            &[],
        )
        .await?;
    }
    let result = muara_batch::stages::load_bronze(
        &fx.deps,
        input(&fx, muara_batch::model::RowPolicy::Fatal),
    )
    .await?;
    assert_eq!(result.rows, Some(3));
    c.execute("SET TIME ZONE 'UTC'", &[]).await?;
    let (got, want) = (dump(&fx, "typed").await?, dump(&fx, "expected").await?);
    assert_eq!(got, want);
    // Loading the batch again (its Parquet put back, as reprocessing does) replaces its rows.
    fx.deps
        .store
        .rename(
            "data/t/s/archive/typed_BATCH000001.parquet",
            "data/t/s/incoming/typed_BATCH000001.parquet",
        )
        .await?;
    let again = muara_batch::stages::load_bronze(
        &fx.deps,
        input(&fx, muara_batch::model::RowPolicy::Fatal),
    )
    .await?;
    assert_eq!(again.rows, Some(3));
    assert_eq!(dump(&fx, "typed").await?, want, "replaced, not duplicated");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_column_type_falls_back_to_text_copy() -> anyhow::Result<()> {
    let fx = fixture(Some(("p", "point")), "fatal").await?;
    let result = muara_batch::stages::load_bronze(
        &fx.deps,
        input(&fx, muara_batch::model::RowPolicy::Fatal),
    )
    .await?;
    assert_eq!(result.rows, Some(3));
    let p: String = fx
        .deps
        .pool
        .get()
        .await?
        .query_one("SELECT min(p::text) FROM bronze_t.typed", &[])
        .await?
        .get(0);
    assert_eq!(p, "(1,2)");
    Ok(())
}
