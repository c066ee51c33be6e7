//! Pipeline B end to end: the real `statemachines/batch-lifecycle.asl.json`, run by the local
//! interpreter with the real stage handlers, over a real PostgreSQL and a lake folder.

use muara_batch::model::{Deps, MACHINE, Mode};
use muara_batch::runner::{RunOutcome, request};
use muara_core::ports::{ExecutionInfo, Orchestrator};
use muara_host::pipelines::BatchTasks;
use muara_local::dirstore::DirStore;
use muara_local::orchestrator::LocalOrchestrator;
use muara_testkit::{eventually, postgres, workspace_root};
use std::sync::Arc;
use std::time::Duration;

pub(crate) struct Fx {
    pub(crate) deps: Deps,
    pub(crate) orch: Arc<LocalOrchestrator>,
    pub(crate) _dir: tempfile::TempDir,
}

pub(crate) async fn fixture() -> anyhow::Result<Fx> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(DirStore::open(dir.path().join("lake")).await?);
    fixture_on(store, dir).await
}

/// The same lifecycle with the lake in S3 (the emulator) instead of a folder.
async fn fixture_on_s3() -> anyhow::Result<Fx> {
    let cfg = muara_testkit::moto().await?.sdk_config().await;
    let client = muara_aws::s3_client(&cfg);
    let bucket = muara_testkit::unique("muara-lake");
    client.create_bucket().bucket(&bucket).send().await?;
    let store = Arc::new(muara_aws::s3::S3Store::new(client, bucket));
    fixture_on(store, tempfile::tempdir()?).await
}

pub(crate) async fn fixture_on(
    store: Arc<dyn muara_core::ports::ObjectStore>,
    dir: tempfile::TempDir,
) -> anyhow::Result<Fx> {
    let pool = postgres().await?.fresh_pool().await?;
    let orch = Arc::new(LocalOrchestrator::new(
        pool.clone(),
        Arc::new(muara_local::tasks::NoTasksYet),
    ));
    let deps =
        muara_host::pipelines::local_batch_deps(store, pool, orch.clone(), dir.path()).await?;
    orch.set_invoker(Arc::new(BatchTasks(deps.clone())));
    let definition =
        std::fs::read_to_string(workspace_root().join("statemachines/batch-lifecycle.asl.json"))?;
    orch.register(
        MACHINE,
        &definition,
        &muara_batch::tasks::local_substitutions(),
    )?;
    Ok(Fx {
        deps,
        orch,
        _dir: dir,
    })
}

pub(crate) async fn finished(fx: &Fx, id: &str) -> anyhow::Result<ExecutionInfo> {
    eventually(
        Duration::from_secs(120),
        "the batch execution to finish",
        || async {
            let info = fx.orch.describe(id).await?;
            Ok(info.status.is_terminal().then_some(info))
        },
    )
    .await
}

/// Requests a run of the demo client and waits for it; returns the execution's output.
pub(crate) async fn run(
    fx: &Fx,
    mode: Mode,
    batch: Option<&str>,
) -> anyhow::Result<serde_json::Value> {
    let outcome = request(&fx.deps, "demo", mode, batch).await?;
    let RunOutcome::Started { execution_id, .. } = outcome else {
        anyhow::bail!("expected a started run, got {outcome:?}");
    };
    let info = finished(fx, &execution_id).await?;
    assert_eq!(
        info.status,
        muara_core::ports::ExecutionStatus::Succeeded,
        "{info:?}"
    );
    Ok(info.output.unwrap_or_default())
}

pub(crate) async fn count(fx: &Fx, sql: &str) -> anyhow::Result<i64> {
    Ok(fx.deps.pool.get().await?.query_one(sql, &[]).await?.get(0))
}

pub(crate) async fn keys(fx: &Fx, prefix: &str) -> anyhow::Result<Vec<String>> {
    Ok(fx
        .deps
        .store
        .list(prefix)
        .await?
        .into_iter()
        .map(|o| o.key)
        .collect())
}

const BRONZE: &[(&str, i64)] = &[
    ("crm_cust_info", 506),
    ("crm_prd_info", 60),
    ("crm_sales_details", 2000),
    ("erp_cust_az12", 500),
    ("erp_px_cat_g1v2", 37),
];

async fn assert_bronze(fx: &Fx) -> anyhow::Result<()> {
    for (table, rows) in BRONZE {
        let n = count(
            fx,
            &format!("SELECT count(*) FROM bronze_demo.{table} WHERE dwh_batch_id = 'BATCH000001'"),
        )
        .await?;
        assert_eq!(n, *rows, "rows in bronze_demo.{table}");
    }
    assert_eq!(
        count(fx, "SELECT count(*) FROM bronze_demo.erp_loc_a101").await?,
        0,
        "the unmapped file is not loaded"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_files_become_bronze_rows_with_audit_and_the_bad_file_lands_in_failed()
-> anyhow::Result<()> {
    demo_run(fixture().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_lake_in_s3_the_same_files_become_the_same_rows() -> anyhow::Result<()> {
    demo_run(fixture_on_s3().await?).await
}

async fn demo_run(fx: Fx) -> anyhow::Result<()> {
    assert!(muara_demo::batch::seed(&fx.deps).await?);

    // WHEN the client's files are picked up
    let outcome = request(&fx.deps, "demo", Mode::Start, None).await?;
    let RunOutcome::Started {
        execution_id,
        name,
        batch_id,
    } = outcome
    else {
        panic!("expected a started run, got {outcome:?}");
    };
    assert_eq!(name, "demo-BATCH000001-start");
    assert_eq!(batch_id, "BATCH000001");
    let info = finished(&fx, &execution_id).await?;
    assert_eq!(
        info.status,
        muara_core::ports::ExecutionStatus::Succeeded,
        "{info:?}"
    );
    let out = info.output.clone().unwrap_or_default();
    assert_eq!(out["status"], "PARTIAL", "{out}");
    assert_eq!(out["loaded"], 5, "{out}");
    assert_eq!(out["failed"], 1, "{out}");

    // THEN the good files are in bronze, exactly once, with their batch id
    assert_bronze(&fx).await?;
    // … archived, raw and Parquet; the bad one in failed/ with its Parquet
    let archived = keys(&fx, "raw/demo/crm/archive/").await?;
    assert!(
        archived.contains(&"raw/demo/crm/archive/cust_info_BATCH000001.csv".to_string()),
        "{archived:?}"
    );
    assert_eq!(
        keys(&fx, "raw/demo/erp/failed/").await?,
        ["raw/demo/erp/failed/LOC_A101_BATCH000001.csv"]
    );
    assert_eq!(
        keys(&fx, "data/demo/erp/failed/").await?,
        ["data/demo/erp/failed/LOC_A101_BATCH000001.parquet"]
    );
    assert_eq!(keys(&fx, "data/demo/crm/archive/").await?.len(), 3);
    assert!(keys(&fx, "raw/demo/crm/incoming/").await?.is_empty());
    // … the manifest moved with every file's outcome
    let manifest: serde_json::Value = serde_json::from_slice(
        &fx.deps
            .store
            .get("batch_info/demo/failed/batch_output_demo_BATCH000001.json")
            .await?,
    )?;
    assert_eq!(manifest["status"], "PARTIAL");
    assert_eq!(manifest["files"].as_array().map(Vec::len), Some(6));
    let cust = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["logical_source_file"] == "cust_info")
        .unwrap();
    assert_eq!(cust["parquet_name"], "cust_info_BATCH000001.parquet");
    assert_eq!(cust["target_table"], "crm_cust_info");
    // … every loaded file's rows are accounted for (the demo's warnings land in their buckets)
    assert_eq!(
        count(&fx, "SELECT count(*) FROM tools.file_ledger WHERE balanced").await?,
        5
    );
    assert_eq!(
        count(
            &fx,
            "SELECT count(*) FROM tools.file_ledger WHERE balanced = false"
        )
        .await?,
        0
    );
    // … and the file that failed has every row refused (it loaded nothing)
    assert_eq!(
        count(&fx, "SELECT rows_refused FROM tools.file_ledger WHERE physical_file_name = 'LOC_A101_BATCH000001.csv' AND rows_as_is = 0 AND rows_parquet = 500").await?,
        500
    );
    assert_eq!(
        count(&fx, "SELECT rows_nulled + rows_flagged FROM tools.file_ledger WHERE physical_file_name = 'cust_info_BATCH000001.csv'").await?,
        count(&fx, "SELECT sum(failed_rows)::bigint FROM tools.row_validation_log WHERE physical_file_name = 'cust_info_BATCH000001.csv'").await?,
        "each row the validation flagged (repeated and missing keys, a bad date; one finding per row in the demo) is in a warning bucket"
    );
    // … and every step is audited
    assert_eq!(
        count(
            &fx,
            "SELECT count(*) FROM tools.file_audit_log WHERE batch_id = 'BATCH000001'"
        )
        .await?,
        6
    );
    assert_eq!(
        count(
            &fx,
            "SELECT count(*) FROM tools.file_audit_log WHERE load_status = 'SUCCESS'"
        )
        .await?,
        5
    );
    assert_eq!(
        count(&fx, "SELECT count(*) FROM tools.mapping_validation_log WHERE status = 'FAILED' AND extra_columns = '{CNTRY}' AND missing_columns = '{COUNTRY}'").await?,
        1
    );
    assert_eq!(
        count(&fx, "SELECT failed_rows FROM tools.row_validation_log WHERE rule = 'unique_key' AND physical_file_name = 'cust_info_BATCH000001.csv'").await?,
        6
    );
    assert_eq!(
        count(&fx, "SELECT failed_rows FROM tools.row_validation_log WHERE rule = 'type_cast' AND column_name = 'cst_create_date'").await?,
        1
    );
    assert_eq!(count(&fx, "SELECT count(*) FROM tools.job_execution_log WHERE status = 'PARTIAL' AND execution_name = 'demo-BATCH000001-start'").await?, 1);
    // … and the client's lock is free again
    assert!(
        fx.deps
            .locks
            .acquire(
                &muara_batch::runner::lock_key("demo"),
                "probe",
                Duration::from_secs(5)
            )
            .await?
            .is_some()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reprocessing_and_duplicate_triggers_leave_the_same_rows() -> anyhow::Result<()> {
    let fx = fixture().await?;
    muara_demo::batch::seed(&fx.deps).await?;
    run(&fx, Mode::Start, None).await?;

    // A duplicate trigger: the orchestrator itself refuses the name.
    let again = fx
        .orch
        .start(MACHINE, "demo-BATCH000001-start", &serde_json::json!({}))
        .await?;
    assert!(matches!(
        again,
        muara_core::ports::Started::AlreadyExists { .. }
    ));
    // Nothing new in incoming: nothing to do.
    assert_eq!(
        request(&fx.deps, "demo", Mode::Start, None).await?,
        RunOutcome::NothingToDo
    );

    // The operator puts the Parquet back and reprocesses the batch: same rows, not twice.
    for key in keys(&fx, "data/demo/")
        .await?
        .into_iter()
        .filter(|k| k.contains("/archive/"))
    {
        fx.deps
            .store
            .rename(&key, &key.replace("/archive/", "/incoming/"))
            .await?;
    }
    let RunOutcome::Started {
        execution_id, name, ..
    } = request(&fx.deps, "demo", Mode::Reprocessing, Some("BATCH000001")).await?
    else {
        panic!("reprocessing not started");
    };
    assert_eq!(name, "demo-BATCH000001-reprocessing-1");
    let info = finished(&fx, &execution_id).await?;
    let out = info.output.unwrap_or_default();
    assert_eq!(out["loaded"], 5, "{out}");
    assert_bronze(&fx).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_files_and_unknown_clients_are_set_aside_with_a_reason() -> anyhow::Result<()> {
    let fx = fixture().await?;
    muara_demo::batch::seed(&fx.deps).await?;
    let put = |key: &'static str, body: &'static str| {
        let store = fx.deps.store.clone();
        async move {
            store
                .put(
                    key,
                    bytes::Bytes::from_static(body.as_bytes()),
                    &Default::default(),
                )
                .await
        }
    };
    put("raw/demo/crm/incoming/mystery file.csv", "a,b\n1,2\n").await?;
    put("raw/demo/hr/incoming/staff.csv", "a\n1\n").await?;
    put("raw/nobody/crm/incoming/x.csv", "a\n1\n").await?;

    assert_eq!(
        request(&fx.deps, "nobody", Mode::Start, None).await?,
        RunOutcome::UnknownClient { moved: 1 }
    );
    assert_eq!(
        keys(&fx, "raw/nobody/crm/failed/").await?,
        ["raw/nobody/crm/failed/x.csv"]
    );

    let RunOutcome::Started { execution_id, .. } =
        request(&fx.deps, "demo", Mode::Start, None).await?
    else {
        panic!("not started");
    };
    let info = finished(&fx, &execution_id).await?;
    let out = info.output.unwrap_or_default();
    assert_eq!(
        out["failed"], 3,
        "LOC_A101, the mystery file and the unknown source: {out}"
    );
    assert_eq!(
        keys(&fx, "raw/demo/crm/failed/").await?,
        ["raw/demo/crm/failed/mystery file.csv"]
    );
    assert_eq!(
        keys(&fx, "raw/demo/hr/failed/").await?,
        ["raw/demo/hr/failed/staff.csv"]
    );
    let reason: String = fx
        .deps
        .pool
        .get()
        .await?
        .query_one("SELECT error_message FROM tools.file_audit_log WHERE physical_file_name = 'mystery file.csv'", &[])
        .await?
        .get(0);
    assert!(
        reason.contains("no client_config for file \"mystery file\""),
        "{reason}"
    );
    assert_bronze(&fx).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_after_fixing_the_mapping_loads_the_failed_file_once() -> anyhow::Result<()> {
    let fx = fixture().await?;
    muara_demo::batch::seed(&fx.deps).await?;
    run(&fx, Mode::Start, None).await?;

    // The operator fixes the mapping (the file says CNTRY, the mapping COUNTRY).
    let c = fx.deps.pool.get().await?;
    c.batch_execute(
        "UPDATE tools.column_mapping SET source_column = 'CNTRY' WHERE source_column = 'COUNTRY'",
    )
    .await?;
    // The restart moves the batch's failed file back from failed/ itself.
    let RunOutcome::Started {
        execution_id, name, ..
    } = request(&fx.deps, "demo", Mode::Restart, None).await?
    else {
        panic!("restart not started");
    };
    assert_eq!(name, "demo-BATCH000001-restart-1");
    let out = finished(&fx, &execution_id)
        .await?
        .output
        .unwrap_or_default();
    assert_eq!(out["status"], "SUCCESS", "{out}");
    assert_eq!(out["loaded"], 1, "{out}");
    assert_eq!(
        count(
            &fx,
            "SELECT count(*) FROM bronze_demo.erp_loc_a101 WHERE dwh_batch_id = 'BATCH000001'"
        )
        .await?,
        500
    );
    assert_bronze_others_unchanged(&fx).await?;
    // Nothing is left to run again: a second restart is refused with what to do.
    let err = request(&fx.deps, "demo", Mode::Restart, None)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("move the ones to run again into incoming/"),
        "{err}"
    );
    // The same audit row was updated, not a second one added.
    assert_eq!(
        count(&fx, "SELECT count(*) FROM tools.file_audit_log WHERE physical_file_name = 'LOC_A101_BATCH000001.csv'").await?,
        1
    );
    assert_eq!(
        count(&fx, "SELECT count(*) FROM tools.file_audit_log WHERE physical_file_name = 'LOC_A101_BATCH000001.csv' AND load_status = 'SUCCESS'").await?,
        1
    );
    Ok(())
}

async fn assert_bronze_others_unchanged(fx: &Fx) -> anyhow::Result<()> {
    for (table, rows) in BRONZE {
        let n = count(fx, &format!("SELECT count(*) FROM bronze_demo.{table}")).await?;
        assert_eq!(n, *rows, "rows in bronze_demo.{table}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_files_land_in_failed_with_a_clear_reason_and_the_rest_loads() -> anyhow::Result<()> {
    let fx = fixture().await?;
    muara_demo::batch::seed(&fx.deps).await?;
    let put = |key: &'static str, body: Vec<u8>| {
        let store = fx.deps.store.clone();
        async move {
            store
                .put(key, bytes::Bytes::from(body), &Default::default())
                .await
        }
    };
    // Replace three of the demo's files with broken ones.
    put(
        "raw/demo/crm/incoming/prd_info.csv",
        b"prd_id,prd_key,prd_nm\n1,K1,ok\n2,K2\n3,K3,ok\n".to_vec(),
    )
    .await?;
    put(
        "raw/demo/erp/incoming/CUST_AZ12.csv",
        b"CID,BDATE,GEN\n".to_vec(),
    )
    .await?;
    put(
        "raw/demo/erp/incoming/PX_CAT_G1V2.json",
        br#"{"ID": "CO_01", "CAT": "Bikes"} trailing"#.to_vec(),
    )
    .await?;

    let RunOutcome::Started { execution_id, .. } =
        request(&fx.deps, "demo", Mode::Start, None).await?
    else {
        panic!("not started");
    };
    let out = finished(&fx, &execution_id)
        .await?
        .output
        .unwrap_or_default();
    assert_eq!(out["loaded"], 2, "{out}");
    assert_eq!(out["failed"], 4, "{out}");
    let reason = |file: &'static str| {
        let pool = fx.deps.pool.clone();
        async move {
            let row = pool
                .get()
                .await?
                .query_one(
                    "SELECT error_message FROM tools.file_audit_log WHERE physical_file_name = $1",
                    &[&file],
                )
                .await?;
            anyhow::Ok(row.get::<_, Option<String>>(0).unwrap_or_default())
        }
    };
    let ragged = reason("prd_info_BATCH000001.csv").await?;
    assert!(
        ragged.contains("line 3"),
        "ragged row reported with its line: {ragged}"
    );
    let header_only = reason("CUST_AZ12_BATCH000001.csv").await?;
    assert!(
        header_only.to_lowercase().contains("no data"),
        "{header_only}"
    );
    let json = reason("PX_CAT_G1V2_BATCH000001.json").await?;
    assert!(!json.is_empty(), "{json}");
    for key in [
        "raw/demo/crm/failed/prd_info_BATCH000001.csv",
        "raw/demo/erp/failed/CUST_AZ12_BATCH000001.csv",
        "raw/demo/erp/failed/PX_CAT_G1V2_BATCH000001.json",
    ] {
        assert!(
            fx.deps.store.head(key).await?.is_some(),
            "{key} kept in failed/"
        );
    }
    // The good files loaded, exactly once.
    assert_eq!(
        count(&fx, "SELECT count(*) FROM bronze_demo.crm_cust_info").await?,
        506
    );
    assert_eq!(
        count(&fx, "SELECT count(*) FROM bronze_demo.crm_sales_details").await?,
        2000
    );
    assert_eq!(
        count(&fx, "SELECT count(*) FROM bronze_demo.crm_prd_info").await?,
        0
    );
    Ok(())
}

/// An object store whose first download of a Parquet file fails as a network fault would.
struct FlakyStore {
    inner: Arc<dyn muara_core::ports::ObjectStore>,
    failed_once: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl muara_core::ports::ObjectStore for FlakyStore {
    async fn put(
        &self,
        k: &str,
        b: bytes::Bytes,
        o: &muara_core::ports::PutOptions,
    ) -> muara_core::Result<muara_core::ports::ObjectInfo> {
        self.inner.put(k, b, o).await
    }
    async fn get(&self, k: &str) -> muara_core::Result<bytes::Bytes> {
        self.inner.get(k).await
    }
    async fn head(&self, k: &str) -> muara_core::Result<Option<muara_core::ports::ObjectInfo>> {
        self.inner.head(k).await
    }
    async fn list(&self, p: &str) -> muara_core::Result<Vec<muara_core::ports::ObjectInfo>> {
        self.inner.list(p).await
    }
    async fn delete(&self, k: &str) -> muara_core::Result<()> {
        self.inner.delete(k).await
    }
    async fn rename(&self, f: &str, t: &str) -> muara_core::Result<()> {
        self.inner.rename(f, t).await
    }
    async fn download(&self, k: &str, d: &std::path::Path) -> muara_core::Result<u64> {
        if k.ends_with(".parquet")
            && !self
                .failed_once
                .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return Err(muara_core::Error::retryable(
                "connection reset by peer (injected)",
            ));
        }
        self.inner.download(k, d).await
    }
    async fn upload(
        &self,
        k: &str,
        s: &std::path::Path,
        o: &muara_core::ports::PutOptions,
    ) -> muara_core::Result<muara_core::ports::ObjectInfo> {
        self.inner.upload(k, s, o).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transient_failure_is_retried_and_the_file_still_loads() -> anyhow::Result<()> {
    let fx = fixture().await?;
    let flaky = Deps {
        store: Arc::new(FlakyStore {
            inner: fx.deps.store.clone(),
            failed_once: Default::default(),
        }),
        ..fx.deps.clone()
    };
    fx.orch.set_invoker(Arc::new(BatchTasks(flaky.clone())));
    muara_demo::batch::seed(&flaky).await?;
    let RunOutcome::Started { execution_id, .. } =
        request(&flaky, "demo", Mode::Start, None).await?
    else {
        panic!("not started");
    };
    let out = finished(&fx, &execution_id)
        .await?
        .output
        .unwrap_or_default();
    // The one injected fault was retried (Retry on "Retryable"), not treated as bad data.
    assert_eq!(out["loaded"], 5, "{out}");
    assert_eq!(out["failed"], 1, "only the unmapped file: {out}");
    assert_bronze(&fx).await?;
    Ok(())
}

/// The trigger Lambda's SQS event: a notification of a new file starts the client's batch; a
/// message that is not an S3 notification is reported failed (it comes back and ends in the
/// dead-letter queue), never dropped; S3's test event is nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_trigger_lambda_reports_only_the_messages_it_could_not_handle() -> anyhow::Result<()> {
    let fx = fixture().await?;
    muara_demo::batch::seed(&fx.deps).await?;
    let notification = serde_json::to_string(&muara_core::s3event::S3Event {
        records: vec![muara_core::s3event::S3EventRecord::object_created(
            "lake",
            "raw/demo/crm/incoming/cust_info.csv",
            1,
            "2026-11-22T00:00:00Z",
        )],
    })?;
    let event = serde_json::json!({"Records": [
        {"messageId": "m-file", "body": notification},
        {"messageId": "m-garbage", "body": "this is not an S3 notification"},
        {"messageId": "m-test", "body": "{\"Event\":\"s3:TestEvent\"}"},
    ]});
    let out = muara_batch::runner::on_sqs_event(&fx.deps, event).await;
    let failed = out.failed_ids();
    assert_eq!(failed, ["m-garbage"]);
    let status = muara_testkit::eventually(
        std::time::Duration::from_secs(120),
        "the triggered batch to end",
        || async {
            let c = fx.deps.pool.get().await?;
            Ok(c.query_opt(
                "SELECT status FROM tools.job_execution_log WHERE batch_id = 'BATCH000001' AND status <> 'RUNNING'",
                &[],
            )
            .await?
            .map(|r| r.get::<_, String>(0)))
        },
    )
    .await?;
    assert_eq!(
        status, "PARTIAL",
        "the demo's first batch (one file unmapped)"
    );
    Ok(())
}
