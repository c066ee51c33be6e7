//! Complete files only: a batch never takes a file that is still being written (SFTP, SMB and
//! `cp` write in place), and a file that changed after it was converted fails with that reason
//! instead of loading a part.

use crate::batch_lifecycle::{Fx, count, finished, fixture, run};
use muara_batch::model::Mode;
use muara_batch::runner::{RunOutcome, request};
use muara_batch::tasks::Stage;
use muara_core::ports::PutOptions;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use muara_demo::batch::{CUSTOMERS_HEADER as HEADER, customer_rows as rows};

/// The fixture with a settle time, as `muara up` and the Lambdas run with.
fn settling(fx: &mut Fx, settle: Duration) {
    fx.deps.settle = settle;
    fx.orch
        .set_invoker(Arc::new(muara_host::pipelines::BatchTasks(fx.deps.clone())));
}

fn lake(fx: &Fx) -> std::path::PathBuf {
    fx._dir.path().join("lake")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_still_being_written_is_left_for_a_later_batch_and_then_loaded_whole()
-> anyhow::Result<()> {
    let mut fx = fixture().await?;
    muara_demo::batch::seed(&fx.deps).await?;
    run(&fx, Mode::Start, None).await?;
    settling(&mut fx, Duration::from_secs(2));

    // An uploader writes cust_info.csv in place, a slice every 300 ms for about 4 s …
    let path = lake(&fx).join("raw/demo/crm/incoming/cust_info.csv");
    let writer = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
            let mut f = std::fs::File::create(&path)?;
            f.write_all(HEADER.as_bytes())?;
            let mut written = 0;
            for slice in 0..14 {
                f.write_all(rows(500_000 + slice * 2_000, 2_000).as_bytes())?;
                f.flush()?;
                written += 2_000;
                std::thread::sleep(Duration::from_millis(300));
            }
            Ok(written)
        })
    };
    // … while another, complete file arrives and starts a batch.
    tokio::time::sleep(Duration::from_millis(500)).await; // let the writer begin
    fx.deps
        .store
        .put(
            "raw/demo/erp/incoming/loc_a101.csv",
            bytes::Bytes::from_static(b"CID,CNTRY\nAW-00011000,Germany\nAW-00011001,France\n"),
            &PutOptions::default(),
        )
        .await?;
    let RunOutcome::Started { execution_id, .. } =
        request(&fx.deps, "demo", Mode::Start, None).await?
    else {
        anyhow::bail!("the complete file starts a batch");
    };
    finished(&fx, &execution_id).await?;
    assert_eq!(
        count(
            &fx,
            "SELECT count(*) FROM tools.file_audit_log WHERE batch_id = 'BATCH000002' AND physical_file_name LIKE 'cust_info%'"
        )
        .await?,
        0,
        "the half-written file was not taken"
    );
    assert_eq!(
        count(
            &fx,
            "SELECT count(*) FROM bronze_demo.crm_cust_info WHERE dwh_batch_id = 'BATCH000002'"
        )
        .await?,
        0
    );

    // Once complete it is the next batch's, whole.
    let written = writer.await??;
    // (Batch 2's finalise may have started it already once it stood still.)
    let execution_id = match request(&fx.deps, "demo", Mode::Start, None).await? {
        RunOutcome::Started { execution_id, .. } => execution_id,
        _ => "local:batch-lifecycle:demo-BATCH000003-start".to_string(),
    };
    let out = finished(&fx, &execution_id)
        .await?
        .output
        .unwrap_or_default();
    assert_eq!(out["batch_id"], "BATCH000003", "{out}");
    assert_eq!(
        count(
            &fx,
            "SELECT count(*) FROM bronze_demo.crm_cust_info WHERE dwh_batch_id = 'BATCH000003'"
        )
        .await?,
        i64::try_from(written)?,
        "every row of the completed file, once"
    );
    Ok(())
}

/// Starts batch 1 of the demo by hand and runs `logical`'s file up to its load; returns the
/// load's input and the file item.
async fn converted_by_hand(
    fx: &Fx,
    logical: &str,
) -> anyhow::Result<(serde_json::Value, serde_json::Value)> {
    let start = muara_batch::tasks::run_stage(
        &fx.deps,
        Stage::Start,
        serde_json::json!({"client": "demo", "batch_id": "BATCH000001", "mode": "start",
                           "execution_name": "demo-BATCH000001-start"}),
    )
    .await?;
    let file = start["files"]
        .as_array()
        .and_then(|files| files.iter().find(|f| f["logical_source_file"] == logical))
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("{logical} is not in the batch"))?;
    let input = serde_json::json!({"batch": start["batch"], "file": file});
    for stage in [Stage::Convert, Stage::ValidateMapping, Stage::ValidateRows] {
        muara_batch::tasks::run_stage(&fx.deps, stage, input.clone()).await?;
    }
    Ok((input, file))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_loads_of_one_file_at_once_leave_its_rows_once() -> anyhow::Result<()> {
    // An attempt that still runs somewhere (an orphaned worker, a Lambda invoked twice) and
    // its retry: both delete the file's rows and COPY them; without serialising them, each
    // delete misses the other's uncommitted rows and bronze holds both sets.
    let fx = fixture().await?;
    muara_demo::batch::seed(&fx.deps).await?;
    let (input, _) = converted_by_hand(&fx, "sales_details").await?;
    let (a, b) = tokio::join!(
        muara_batch::tasks::run_stage(&fx.deps, Stage::LoadBronze, input.clone()),
        muara_batch::tasks::run_stage(&fx.deps, Stage::LoadBronze, input.clone()),
    );
    a?;
    b?;
    assert_eq!(
        count(
            &fx,
            "SELECT count(*) FROM bronze_demo.crm_sales_details WHERE dwh_batch_id = 'BATCH000001'"
        )
        .await?,
        2000,
        "the file's rows once"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_that_changes_after_conversion_fails_with_that_reason_and_loads_nothing()
-> anyhow::Result<()> {
    let fx = fixture().await?;
    muara_demo::batch::seed(&fx.deps).await?;
    // Drive the stages by hand so the file can change between convert and load.
    let (input, file) = converted_by_hand(&fx, "cust_info").await?;
    // The writer was not done: more rows land in the file the batch took.
    let raw = lake(&fx).join(file["raw_key"].as_str().unwrap_or_default());
    std::fs::OpenOptions::new()
        .append(true)
        .open(&raw)?
        .write_all(rows(900_000, 10).as_bytes())?;

    let e = muara_batch::tasks::run_stage(&fx.deps, Stage::LoadBronze, input)
        .await
        .expect_err("a changed file is not loaded");
    assert!(
        e.message().contains("changed while being read"),
        "{}",
        e.message()
    );
    assert_eq!(
        count(
            &fx,
            "SELECT count(*) FROM bronze_demo.crm_cust_info WHERE dwh_batch_id = 'BATCH000001'"
        )
        .await?,
        0,
        "nothing of it loaded"
    );
    assert_eq!(
        count(&fx, "SELECT count(*) FROM tools.file_audit_log WHERE batch_id = 'BATCH000001' AND load_status = 'FAILED' AND error_message LIKE '%changed while being read%'").await?,
        1
    );
    Ok(())
}
