//! A load replaces only the rows its own file wrote in its own batch: files of one batch may
//! share a bronze table, a restart of a PARTIAL batch leaves the files that loaded alone, and
//! two files for one configured file (names differing only in case) are refused, never merged
//! or overwritten. Row counts are checked per file.

use crate::batch_lifecycle::{Fx, count, finished, fixture, keys};
use muara_batch::model::Mode;
use muara_batch::runner::{RunOutcome, request, request_files};
use muara_core::ports::ExecutionStatus;

const CLIENT: &str = "acme";

/// Client `acme`: three CSV files (`crm/people_a`, `_b`, `_c`), policy fatal, all loaded
/// into `bronze_acme.people`. With `file_column` false the table is made as tables were before
/// loads were scoped by file (no `dwh_source_file`).
async fn shared_table_client(fx: &Fx, file_column: bool) -> anyhow::Result<()> {
    let c = fx.deps.pool.get().await?;
    c.batch_execute(&format!(
        "CREATE SCHEMA bronze_acme;
         CREATE TABLE bronze_acme.people (id integer, name text, dwh_batch_id text NOT NULL,
                                          dwh_load_ts timestamptz NOT NULL{});
         INSERT INTO tools.client_reference (client_schema) VALUES ('acme');
         INSERT INTO tools.client_config (client_id, logical_source_file, source_system, source_type,
                                          target_schema, target_table, row_validation_policy)
         SELECT client_id, f, 'crm', 'csv', 'bronze_acme', 'people', 'fatal'
         FROM tools.client_reference, unnest(ARRAY['people_a', 'people_b', 'people_c']) AS f
         WHERE client_schema = 'acme';
         INSERT INTO tools.column_mapping (config_id, source_column, target_column, target_data_type, ordinal)
         SELECT config_id, c, c, t, o FROM tools.client_config,
                (VALUES ('id', 'integer', 1), ('name', 'text', 2)) AS m(c, t, o);
         INSERT INTO tools.required_columns (config_id, column_name, is_key)
         SELECT config_id, 'id', true FROM tools.client_config;",
        if file_column {
            ", dwh_source_file text"
        } else {
            ""
        }
    ))
    .await?;
    Ok(())
}

fn people(first: usize, n: usize) -> String {
    let mut s = String::from("id,name\n");
    for i in first..first + n {
        s.push_str(&format!("{i},person {i}\n"));
    }
    s
}

async fn put(fx: &Fx, key: &str, body: String) -> anyhow::Result<()> {
    fx.deps
        .store
        .put(key, bytes::Bytes::from(body), &Default::default())
        .await?;
    Ok(())
}

/// Requests a run of `acme`, waits for it and returns its output.
async fn run(fx: &Fx, mode: Mode, batch: Option<&str>) -> anyhow::Result<serde_json::Value> {
    let RunOutcome::Started { execution_id, .. } = request(&fx.deps, CLIENT, mode, batch).await?
    else {
        anyhow::bail!("expected a started {mode:?} run");
    };
    let info = finished(fx, &execution_id).await?;
    anyhow::ensure!(info.status == ExecutionStatus::Succeeded, "{info:?}");
    Ok(info.output.unwrap_or_default())
}

/// Rows in bronze per source file, as `(file, rows)` in file order.
async fn per_file(fx: &Fx) -> anyhow::Result<Vec<(Option<String>, i64)>> {
    Ok(fx
        .deps
        .pool
        .get()
        .await?
        .query(
            "SELECT dwh_source_file, count(*) FROM bronze_acme.people
             GROUP BY 1 ORDER BY 1 NULLS FIRST",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// `muara batch reprocess acme --batch-id BATCH000001 --files people_b_BATCH000001.csv`:
/// from its archived Parquet, with no file moved by hand; it succeeds with that file loaded.
async fn reprocess_people_b(fx: &Fx) -> anyhow::Result<()> {
    let RunOutcome::Started { execution_id, .. } = request_files(
        &fx.deps,
        CLIENT,
        Mode::Reprocessing,
        Some("BATCH000001"),
        &["people_b_BATCH000001.csv".to_string()],
    )
    .await?
    else {
        anyhow::bail!("reprocessing not started");
    };
    let info = finished(fx, &execution_id).await?;
    let out = info.output.unwrap_or_default();
    anyhow::ensure!(out["status"] == "SUCCESS" && out["loaded"] == 1, "{out}");
    Ok(())
}

/// The batch's manifest: where it is (`success` or `failed`; never both), its status, each
/// file's latest outcome and the runs so far.
async fn manifest(fx: &Fx) -> anyhow::Result<(String, serde_json::Value)> {
    let mut found = Vec::new();
    for area in ["success", "failed"] {
        let key = format!("batch_info/acme/{area}/batch_output_acme_BATCH000001.json");
        if fx.deps.store.head(&key).await?.is_some() {
            found.push((
                area.to_string(),
                serde_json::from_slice(&fx.deps.store.get(&key).await?)?,
            ));
        }
    }
    anyhow::ensure!(found.len() == 1, "one manifest per batch: {found:?}");
    Ok(found.remove(0))
}

/// Pairs of names read from a manifest.
type Pairs = Vec<(String, String)>;

/// `(file, status)` of a manifest's files, and `(mode, status)` of its runs.
fn outline(m: &serde_json::Value) -> (Pairs, Pairs) {
    let pairs = |list: &serde_json::Value, a: &str, b: &str| {
        list.as_array()
            .into_iter()
            .flatten()
            .map(|x| {
                (
                    x[a].as_str().unwrap_or("").to_string(),
                    x[b].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    };
    (
        pairs(&m["files"], "physical_file_name", "status"),
        pairs(&m["runs"], "mode", "status"),
    )
}

fn strings(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// The latest run's row ledger of `file`: (read, parquet, checked, as is, nulled, flagged,
/// refused, copied, in bronze, at finalise); it must have balanced.
async fn ledger(fx: &Fx, file: &str) -> anyhow::Result<[Option<i64>; 10]> {
    let r = fx
        .deps
        .pool
        .get()
        .await?
        .query_one(
            "SELECT rows_read, rows_parquet, rows_checked, rows_as_is, rows_nulled, rows_flagged,
                    rows_refused, rows_copied, rows_in_bronze, rows_at_finalise, balanced
             FROM tools.file_ledger WHERE physical_file_name = $1 ORDER BY updated_at DESC LIMIT 1",
            &[&file],
        )
        .await?;
    anyhow::ensure!(
        r.get::<_, Option<bool>>(10) == Some(true),
        "{file}: not balanced"
    );
    Ok(std::array::from_fn(|i| r.get(i)))
}

/// A balanced ledger of a clean file of `n` rows.
fn clean(n: i64) -> [Option<i64>; 10] {
    [n, n, n, n, 0, 0, 0, n, n, n].map(Some)
}

fn files(list: &[(&str, i64)]) -> Vec<(Option<String>, i64)> {
    list.iter()
        .map(|(f, n)| (Some(f.to_string()), *n))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_files_of_one_batch_share_a_table_and_both_keep_their_rows() -> anyhow::Result<()> {
    let fx = fixture().await?;
    shared_table_client(&fx, true).await?;
    // Two blank lines in people_a: skipped, and counted in their own bucket.
    let a = people(1, 3).replacen("\n2,", "\n\n\n2,", 1);
    put(&fx, "raw/acme/crm/incoming/people_a.csv", a).await?;
    put(
        &fx,
        "raw/acme/crm/incoming/people_b.csv",
        people(1000, 20_000),
    )
    .await?;

    let out = run(&fx, Mode::Start, None).await?;
    assert_eq!(out["status"], "SUCCESS", "{out}");
    assert_eq!(out["loaded"], 2, "{out}");
    let blank: Vec<(String, Option<i64>)> = fx
        .deps
        .pool
        .get()
        .await?
        .query(
            "SELECT physical_file_name, rows_blank FROM tools.file_ledger ORDER BY 1",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        blank,
        [
            ("people_a_BATCH000001.csv".to_string(), Some(2)),
            ("people_b_BATCH000001.csv".to_string(), Some(0))
        ]
    );
    let expected = files(&[
        ("people_a_BATCH000001.csv", 3),
        ("people_b_BATCH000001.csv", 20_000),
    ]);
    assert_eq!(per_file(&fx).await?, expected);
    assert_eq!(
        count(
            &fx,
            "SELECT sum(total_rows)::bigint FROM tools.file_audit_log WHERE load_status = 'SUCCESS'"
        )
        .await?,
        20_003,
        "the audit's row counts are what bronze holds"
    );
    assert_eq!(ledger(&fx, "people_a_BATCH000001.csv").await?, clean(3));
    assert_eq!(
        ledger(&fx, "people_b_BATCH000001.csv").await?,
        clean(20_000)
    );

    // Reprocessing one file, twice, replaces only that file's rows.
    for _ in 0..2 {
        reprocess_people_b(&fx).await?;
        assert_eq!(per_file(&fx).await?, expected);
        // The reprocess's ledger carries the convert figures of the run that made the Parquet.
        assert_eq!(
            ledger(&fx, "people_b_BATCH000001.csv").await?,
            clean(20_000)
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_of_a_partial_batch_leaves_the_loaded_file_untouched() -> anyhow::Result<()> {
    let fx = fixture().await?;
    shared_table_client(&fx, true).await?;
    put(&fx, "raw/acme/crm/incoming/people_a.csv", people(1, 3)).await?;
    // people_b has a value that is not an integer (policy fatal): it fails row validation.
    let mut bad = people(1000, 500);
    bad.push_str("twelve,not a number\n");
    put(&fx, "raw/acme/crm/incoming/people_b.csv", bad).await?;

    let out = run(&fx, Mode::Start, None).await?;
    assert_eq!(out["status"], "PARTIAL", "{out}");
    assert_eq!(
        per_file(&fx).await?,
        files(&[("people_a_BATCH000001.csv", 3)])
    );
    let loaded_at = count(
        &fx,
        "SELECT (extract(epoch FROM max(dwh_load_ts)) * 1e6)::bigint FROM bronze_acme.people",
    )
    .await?;

    // The operator sends the corrected file under the batch's name and restarts.
    put(
        &fx,
        "raw/acme/crm/incoming/people_b_BATCH000001.csv",
        people(1000, 501),
    )
    .await?;
    let out = run(&fx, Mode::Restart, Some("BATCH000001")).await?;
    assert_eq!(out["status"], "SUCCESS", "{out}");
    assert_eq!(
        per_file(&fx).await?,
        files(&[
            ("people_a_BATCH000001.csv", 3),
            ("people_b_BATCH000001.csv", 501)
        ])
    );
    assert_eq!(
        count(
            &fx,
            "SELECT (extract(epoch FROM max(dwh_load_ts)) * 1e6)::bigint FROM bronze_acme.people
             WHERE dwh_source_file = 'people_a_BATCH000001.csv'"
        )
        .await?,
        loaded_at,
        "people_a's rows are the ones loaded by the first run, not reloaded"
    );
    assert_eq!(ledger(&fx, "people_a_BATCH000001.csv").await?, clean(3));
    assert_eq!(ledger(&fx, "people_b_BATCH000001.csv").await?, clean(501));
    // The failed run's ledger says what happened to its rows: all refused (policy fatal).
    assert_eq!(
        count(
            &fx,
            "SELECT rows_refused FROM tools.file_ledger
             WHERE physical_file_name = 'people_b_BATCH000001.csv' AND execution_name LIKE '%-start'"
        )
        .await?,
        501
    );
    // The failed copies of people_b are superseded: set aside, out of reach of later runs.
    for zone in ["raw", "data"] {
        assert!(
            keys(&fx, &format!("{zone}/acme/crm/failed/"))
                .await?
                .iter()
                .all(|k| k.contains("/failed/superseded/")),
            "{zone}"
        );
    }
    assert_eq!(
        keys(&fx, "raw/acme/crm/failed/superseded/").await?,
        ["raw/acme/crm/failed/superseded/people_b_BATCH000001.csv"]
    );
    // The manifest describes the whole batch after the restart: both files, both runs.
    let (area, m) = manifest(&fx).await?;
    assert_eq!(area, "success");
    assert_eq!(m["status"], "SUCCESS", "{m}");
    let both_loaded = strings(&[
        ("people_a_BATCH000001.csv", "LOADED"),
        ("people_b_BATCH000001.csv", "LOADED"),
    ]);
    assert_eq!(
        outline(&m),
        (
            both_loaded.clone(),
            strings(&[("start", "PARTIAL"), ("restart", "SUCCESS")])
        )
    );
    // A later reprocess of the batch runs the good Parquet only, and changes nothing.
    reprocess_people_b(&fx).await?;
    let (area, m) = manifest(&fx).await?;
    assert_eq!(area, "success");
    assert_eq!(
        outline(&m),
        (
            both_loaded,
            strings(&[
                ("start", "PARTIAL"),
                ("restart", "SUCCESS"),
                ("reprocessing", "SUCCESS")
            ])
        )
    );
    assert_eq!(
        per_file(&fx).await?,
        files(&[
            ("people_a_BATCH000001.csv", 3),
            ("people_b_BATCH000001.csv", 501)
        ])
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn names_that_differ_only_in_case_are_both_refused_and_kept() -> anyhow::Result<()> {
    let fx = fixture().await?;
    shared_table_client(&fx, true).await?;
    put(&fx, "raw/acme/crm/incoming/people_a.csv", people(1, 2)).await?;
    put(&fx, "raw/acme/crm/incoming/PEOPLE_A.csv", people(100, 40)).await?;
    put(&fx, "raw/acme/crm/incoming/people_b.csv", people(1000, 7)).await?;

    let out = run(&fx, Mode::Start, None).await?;
    assert_eq!(out["status"], "PARTIAL", "{out}");
    assert_eq!(out["loaded"], 1, "{out}");
    assert_eq!(out["failed"], 2, "{out}");
    assert_eq!(
        per_file(&fx).await?,
        files(&[("people_b_BATCH000001.csv", 7)])
    );
    let mut failed = keys(&fx, "raw/acme/crm/failed/").await?;
    failed.sort();
    assert_eq!(
        failed,
        [
            "raw/acme/crm/failed/PEOPLE_A.csv",
            "raw/acme/crm/failed/people_a.csv"
        ]
    );
    let reasons: Vec<String> = fx
        .deps
        .pool
        .get()
        .await?
        .query(
            "SELECT error_message FROM tools.file_audit_log WHERE physical_file_name ILIKE 'people_a.csv'",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    for r in &reasons {
        assert!(
            r.contains("\"PEOPLE_A.csv\"")
                && r.contains("\"people_a.csv\"")
                && r.contains("send one"),
            "{r}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_table_without_the_file_column_gets_it_and_its_batch_rows_are_replaced_once()
-> anyhow::Result<()> {
    let fx = fixture().await?;
    shared_table_client(&fx, false).await?;
    put(&fx, "raw/acme/crm/incoming/people_b.csv", people(1, 10)).await?;
    // Rows this batch id loaded before loads were scoped (no file name), and another batch's.
    fx.deps
        .pool
        .get()
        .await?
        .batch_execute(
            "INSERT INTO bronze_acme.people SELECT g, 'old', 'BATCH000001', now() FROM generate_series(1, 4) g;
             INSERT INTO bronze_acme.people SELECT g, 'other', 'BATCH000009', now() FROM generate_series(1, 6) g;",
        )
        .await?;

    let out = run(&fx, Mode::Start, None).await?;
    assert_eq!(out["status"], "SUCCESS", "{out}");
    // The only file of its batch for this table replaced the batch's unnamed rows; the other
    // batch's rows are untouched.
    assert_eq!(
        per_file(&fx).await?,
        vec![(None, 6), (Some("people_b_BATCH000001.csv".into()), 10)]
    );
    assert_eq!(
        count(
            &fx,
            "SELECT count(*) FROM bronze_acme.people WHERE name = 'other'"
        )
        .await?,
        6
    );
    Ok(())
}

/// A configured SQL step deletes bronze rows after the load (a bug in a transform): the file's
/// ledger no longer balances at finalise, and the batch fails loudly instead of reporting
/// SUCCESS.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rows_lost_between_load_and_finalise_fail_the_batch_on_its_ledger() -> anyhow::Result<()> {
    let fx = fixture().await?;
    shared_table_client(&fx, true).await?;
    fx.deps
        .pool
        .get()
        .await?
        .batch_execute(
            "INSERT INTO tools.transformation_config (client_id, procedure_name, execution_order, step_kind, sql_text)
             SELECT client_id, 'public.careless_cleanup', 1, 'sql',
                    'DELETE FROM bronze_acme.people WHERE id % 10 = 0'
             FROM tools.client_reference WHERE client_schema = 'acme'",
        )
        .await?;
    put(&fx, "raw/acme/crm/incoming/people_a.csv", people(1, 35)).await?;
    put(&fx, "raw/acme/crm/incoming/people_b.csv", people(1001, 9)).await?;

    let out = run(&fx, Mode::Start, None).await?;
    assert_eq!(out["status"], "PARTIAL", "{out}");
    assert_eq!(out["failed"], 1, "{out}");
    let r = fx
        .deps
        .pool
        .get()
        .await?
        .query_one(
            "SELECT l.problem, a.load_status FROM tools.file_ledger l
             JOIN tools.file_audit_log a USING (client_id, batch_id, physical_file_name)
             WHERE l.physical_file_name = 'people_a_BATCH000001.csv' AND l.balanced = false",
            &[],
        )
        .await?;
    let (problem, load_status): (String, String) = (r.get(0), r.get(1));
    assert_eq!(
        problem,
        "the row ledger does not balance: rows in bronze after commit 35 ≠ rows in bronze at finalise 32"
    );
    assert_eq!(load_status, "FAILED");
    // people_b lost nothing (ids 1001-1009): it balances.
    assert_eq!(ledger(&fx, "people_b_BATCH000001.csv").await?, clean(9));
    // The manifest carries it, and the failure mail names it.
    let manifest: serde_json::Value = serde_json::from_slice(
        &fx.deps
            .store
            .get("batch_info/acme/failed/batch_output_acme_BATCH000001.json")
            .await?,
    )?;
    let files = manifest["files"].as_array().cloned().unwrap_or_default();
    let a = files
        .iter()
        .find(|f| f["physical_file_name"] == "people_a_BATCH000001.csv")
        .ok_or_else(|| anyhow::anyhow!("people_a in the manifest: {manifest}"))?;
    assert_eq!(a["status"], "FAILED", "{a}");
    assert_eq!(a["ledger"]["rows_at_finalise"], 32, "{a}");
    let body: String = fx
        .deps
        .pool
        .get()
        .await?
        .query_one("SELECT body FROM tools.batch_notification", &[])
        .await?
        .get(0);
    assert!(body.contains("the row ledger does not balance"), "{body}");
    Ok(())
}

/// Random sequences of start, restart (of a failed file, corrected) and reprocess (of chosen
/// loaded files, from the archive) over three files sharing one bronze table: after every run,
/// bronze holds exactly the union of each file's latest successful load — no row lost, none
/// twice — and every loaded file's ledger balanced. Bounded: 16 sequences of 4 runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bronze_is_always_the_union_of_each_files_latest_load() -> anyhow::Result<()> {
    use std::collections::BTreeMap;
    const NAMES: [&str; 3] = ["people_a", "people_b", "people_c"];
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for seed in 1..=16u64 {
        let fx = fixture().await?;
        shared_table_client(&fx, true).await?;
        let mut rng = muara_core::lcg::Lcg(seed * 7919);
        let mut pick = |n: u64| usize::try_from(rng.next(n)).unwrap_or(0);
        // (batch, physical file) → the ids its latest successful load wrote.
        let mut model: BTreeMap<(String, String), Vec<i32>> = BTreeMap::new();
        // (batch, logical name) of files whose latest run failed.
        let mut failed: Vec<(String, String)> = Vec::new();
        let mut batches = 0u32;
        let mut history = Vec::new();
        for _ in 0..4 {
            let op = pick(3);
            if op == 1 && !failed.is_empty() {
                // Restart: a corrected file under the batch's name.
                let (batch, name) = failed.remove(pick(failed.len() as u64));
                let (first, n) = (1 + pick(500), 1 + pick(40));
                let physical = format!("{name}_{batch}.csv");
                put(
                    &fx,
                    &format!("raw/acme/crm/incoming/{physical}"),
                    people(first, n),
                )
                .await?;
                let out = run(&fx, Mode::Restart, Some(&batch)).await?;
                history.push(format!("restart {physical} ({n} rows): {}", out["status"]));
                *kinds.entry("restart").or_default() += 1;
                model.insert(
                    (batch, physical),
                    (first..first + n).map(|i| i as i32).collect(),
                );
            } else if op == 2 && !model.is_empty() {
                // Reprocess some loaded files of one batch, from the archive.
                let keys: Vec<(String, String)> = model.keys().cloned().collect();
                let (batch, _) = keys[pick(keys.len() as u64)].clone();
                let files: Vec<String> = keys
                    .iter()
                    .filter(|(b, _)| *b == batch)
                    .filter(|_| pick(2) == 0)
                    .map(|(_, f)| f.clone())
                    .collect();
                let files = if files.is_empty() {
                    keys.iter()
                        .filter(|(b, _)| *b == batch)
                        .map(|(_, f)| f.clone())
                        .take(1)
                        .collect()
                } else {
                    files
                };
                let RunOutcome::Started { execution_id, .. } =
                    request_files(&fx.deps, CLIENT, Mode::Reprocessing, Some(&batch), &files)
                        .await?
                else {
                    anyhow::bail!("seed {seed}: reprocessing not started: {history:?}");
                };
                let info = finished(&fx, &execution_id).await?;
                history.push(format!("reprocess {batch} {files:?}: {:?}", info.output));
                *kinds.entry("reprocess").or_default() += 1;
            } else {
                // Start: one to three of the files, some with a bad row (policy fatal).
                batches += 1;
                let batch = format!("BATCH{batches:06}");
                let mut sent = Vec::new();
                for name in NAMES {
                    if pick(3) == 0 && !sent.is_empty() {
                        continue;
                    }
                    let (first, n) = (1 + pick(500), 1 + pick(40));
                    let bad = pick(4) == 0;
                    let mut body = people(first, n);
                    if bad {
                        body.push_str("not-a-number,bad\n");
                        failed.push((batch.clone(), name.to_string()));
                    } else {
                        model.insert(
                            (batch.clone(), format!("{name}_{batch}.csv")),
                            (first..first + n).map(|i| i as i32).collect(),
                        );
                    }
                    put(&fx, &format!("raw/acme/crm/incoming/{name}.csv"), body).await?;
                    sent.push((name, n, bad));
                }
                let out = run(&fx, Mode::Start, None).await?;
                history.push(format!("start {batch} {sent:?}: {}", out["status"]));
                *kinds.entry("start").or_default() += 1;
            }
            // THEN bronze is exactly the model, and every loaded file's ledger balanced.
            let rows = fx
                .deps
                .pool
                .get()
                .await?
                .query(
                    "SELECT dwh_batch_id, dwh_source_file, array_agg(id ORDER BY id)
                     FROM bronze_acme.people GROUP BY 1, 2",
                    &[],
                )
                .await?;
            let bronze: BTreeMap<(String, String), Vec<i32>> = rows
                .iter()
                .map(|r| ((r.get(0), r.get(1)), r.get(2)))
                .collect();
            let mut expected = model.clone();
            for ids in expected.values_mut() {
                ids.sort_unstable();
            }
            assert_eq!(bronze, expected, "seed {seed}: {history:#?}");
            assert_eq!(
                count(
                    &fx,
                    "SELECT count(*) FROM tools.file_ledger WHERE balanced = false"
                )
                .await?,
                0,
                "seed {seed}: {history:#?}"
            );
        }
    }
    // The sequences did exercise every mode.
    for kind in ["start", "restart", "reprocess"] {
        assert!(kinds.get(kind).copied().unwrap_or(0) >= 3, "{kinds:?}");
    }
    Ok(())
}
