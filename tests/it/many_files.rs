//! A drop of 2,000 files on the local interpreter with Step Functions' limits enforced (256 KiB
//! state, 25,000 transitions): it becomes batches of at most MAX_FILES_PER_BATCH, one after
//! the other, none over a limit, and every file's row lands once.

use crate::batch_lifecycle::{count, fixture};
use muara_batch::model::Mode;
use muara_batch::runner::request;
use muara_batch::stages::MAX_FILES_PER_BATCH;
use muara_core::ports::PutOptions;
use std::time::Duration;

const FILES: usize = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_files_become_batches_within_the_state_limit_and_every_row_loads_once()
-> anyhow::Result<()> {
    let fx = fixture().await?;
    // A client with one configured file per store: store0000 … store1999, all into one table.
    fx.deps
        .pool
        .get()
        .await?
        .batch_execute(&format!(
            "CREATE SCHEMA bronze_many;
             CREATE TABLE bronze_many.sales (store text, amount numeric, dwh_batch_id text NOT NULL,
                                             dwh_load_ts timestamptz NOT NULL, dwh_source_file text);
             INSERT INTO tools.client_reference (client_schema) VALUES ('many');
             INSERT INTO tools.client_config (client_id, logical_source_file, source_system, source_type,
                                              target_schema, target_table, row_validation_policy)
               SELECT client_id, 'store' || lpad(n::text, 4, '0'), 'pos', 'csv', 'bronze_many', 'sales', 'fatal'
               FROM tools.client_reference, generate_series(0, {}) n WHERE client_schema = 'many';
             INSERT INTO tools.column_mapping (config_id, source_column, target_column, target_data_type, ordinal)
               SELECT config_id, c.src, c.tgt, c.ty, c.o FROM tools.client_config,
                 (VALUES ('STORE', 'store', 'text', 0), ('AMOUNT', 'amount', 'numeric', 1)) c(src, tgt, ty, o)
               WHERE target_schema = 'bronze_many';",
            FILES - 1
        ))
        .await?;
    for n in 0..FILES {
        fx.deps
            .store
            .put(
                &format!("raw/many/pos/incoming/store{n:04}.csv"),
                bytes::Bytes::from(format!("STORE,AMOUNT\nstore{n:04},{n}.50\n")),
                &PutOptions::default(),
            )
            .await?;
    }

    // One trigger; each batch's finalise starts the next while files wait.
    request(&fx.deps, "many", Mode::Start, None).await?;
    let batches = FILES.div_ceil(MAX_FILES_PER_BATCH);
    muara_testkit::eventually(
        Duration::from_secs(900),
        "every batch to finish",
        || async {
            let done = count(
                &fx,
                "SELECT count(*) FROM tools.job_execution_log j JOIN tools.client_reference c USING (client_id)
                 WHERE c.client_schema = 'many' AND j.status <> 'RUNNING'",
            )
            .await?;
            Ok((done >= i64::try_from(batches)?).then_some(()))
        },
    )
    .await?;
    assert_eq!(
        count(&fx, "SELECT count(*) FROM tools.job_execution_log j JOIN tools.client_reference c USING (client_id)
                    WHERE c.client_schema = 'many' AND j.status = 'SUCCESS'").await?,
        i64::try_from(batches)?,
        "every batch succeeded (none hit States.DataLimitExceeded)"
    );
    assert_eq!(
        count(&fx, "SELECT count(*) FROM bronze_many.sales").await?,
        i64::try_from(FILES)?,
        "one row per file, once"
    );
    assert_eq!(
        count(
            &fx,
            "SELECT count(DISTINCT dwh_source_file) FROM bronze_many.sales"
        )
        .await?,
        i64::try_from(FILES)?
    );
    assert_eq!(
        count(
            &fx,
            "SELECT max(n) FROM (SELECT count(*) n FROM bronze_many.sales GROUP BY dwh_batch_id) b"
        )
        .await?,
        i64::try_from(MAX_FILES_PER_BATCH)?
    );
    Ok(())
}
