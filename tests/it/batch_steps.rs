//! Pipeline B part 2: the configured SQL steps after bronze — transform (silver), integrate
//! (gold), refresh materialised views — through the real state machine and stage handlers;
//! failure mail; refresh runs; housekeeping.

use crate::batch_lifecycle::{Fx, count, finished, fixture, keys, run};
use crate::support::ses_mailer;
use muara_batch::model::{BatchRef, Mode};
use muara_batch::runner::{RunOutcome, request};
use muara_batch::steps::{self, Family};
use muara_core::ErrorKind;
use muara_core::ports::{PutOptions, SentMail};
use std::time::Duration;

/// The default retention, with local archives purged.
fn ninety_days() -> muara_batch::housekeeping::Retention {
    muara_batch::housekeeping::Retention {
        max_age: muara_batch::housekeeping::DEFAULT_RETENTION,
        purge_archives: true,
    }
}

/// The statuses of a transform step's runs, oldest first.
async fn step_statuses(fx: &Fx, step: &str) -> anyhow::Result<Vec<String>> {
    Ok(fx
        .deps
        .pool
        .get()
        .await?
        .query(
            "SELECT status FROM tools.transformation_log WHERE procedure_name = $1 ORDER BY log_id",
            &[&step],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// A fingerprint of every silver and gold table and view of the demo (load times left out).
async fn snapshot(fx: &Fx) -> anyhow::Result<Vec<(String, i64, String)>> {
    let c = fx.deps.pool.get().await?;
    let rels = c
        .query(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname IN ('silver_demo', 'gold_demo') AND c.relkind IN ('r', 'm') ORDER BY 1",
            &[],
        )
        .await?;
    let mut out = Vec::new();
    for r in rels {
        let rel: String = r.get(0);
        let row = c
            .query_one(
                &format!(
                    "SELECT count(*), coalesce(md5(string_agg((to_jsonb(t) - 'dwh_load_ts')::text, ',' ORDER BY (to_jsonb(t) - 'dwh_load_ts')::text)), '')
                     FROM {rel} t"
                ),
                &[],
            )
            .await?;
        out.push((rel, row.get(0), row.get(1)));
    }
    Ok(out)
}

fn rows_of(snap: &[(String, i64, String)], rel: &str) -> i64 {
    snap.iter()
        .find(|(r, ..)| r == rel)
        .map(|(_, n, _)| *n)
        .unwrap_or(-1)
}

/// The only mail in the fixture's outbox, as (subject, body).
fn outbox_mail(fx: &Fx) -> anyhow::Result<Vec<(String, String)>> {
    let dir = fx._dir.path().join("outbox");
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let path = e?.path();
        if path.extension().is_some_and(|x| x == "eml") {
            let raw = std::fs::read_to_string(&path)?;
            let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
            let subject = head
                .lines()
                .find_map(|l| l.strip_prefix("Subject: "))
                .unwrap_or_default()
                .to_string();
            out.push((subject, body.replace("=\r\n", "").replace("\r\n", "\n")));
        }
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_files_reach_silver_gold_and_views_and_a_refresh_leaves_them_identical()
-> anyhow::Result<()> {
    let fx = fixture().await?;
    muara_demo::batch::seed(&fx.deps).await?;

    let out = run(&fx, Mode::Start, None).await?;
    // One file fails mapping, so the batch is PARTIAL; the loaded five go all the way.
    assert_eq!(out["status"], "PARTIAL", "{out}");
    assert_eq!(out["mailed"], true, "{out}");
    let first = snapshot(&fx).await?;
    assert_eq!(
        rows_of(&first, "silver_demo.crm_cust_info"),
        499,
        "{first:?}"
    );
    assert_eq!(rows_of(&first, "gold_demo.dim_customers"), 499);
    assert_eq!(rows_of(&first, "gold_demo.dim_products"), 60);
    assert_eq!(rows_of(&first, "gold_demo.fact_sales"), 2000);
    assert_eq!(
        count(
            &fx,
            "SELECT count(*) FROM gold_demo.dim_products WHERE category IS NOT NULL"
        )
        .await?,
        60,
        "every product finds its ERP category"
    );
    assert!(rows_of(&first, "gold_demo.mv_customer_lifetime_value") > 400);
    assert!(rows_of(&first, "gold_demo.mv_order_gap") > 400);

    // Every step is logged once, with its duration; rows where the step reports them.
    for (table, n) in [
        ("tools.transformation_log", 6),
        ("tools.integration_log", 3),
        ("tools.mv_refresh_log", 2),
    ] {
        assert_eq!(
            count(&fx, &format!("SELECT count(*) FROM {table} WHERE status = 'SUCCESS' AND duration_ms IS NOT NULL AND execution_name = 'demo-BATCH000001-start'")).await?,
            n,
            "{table}"
        );
    }
    assert_eq!(
        count(&fx, "SELECT rows_affected FROM tools.integration_log WHERE procedure_name = 'gold_demo.fact_sales'").await?,
        2000
    );

    // The partial batch's mail lists files and steps and says how to run the failed file again.
    let mails = outbox_mail(&fx)?;
    assert_eq!(mails.len(), 1, "{mails:?}");
    let (subject, body) = &mails[0];
    assert_eq!(
        subject,
        "[muara] demo BATCH000001 PARTIAL (start): 1 of 6 files failed"
    );
    assert!(
        body.contains("muara batch restart demo --batch-id BATCH000001"),
        "{body}"
    );
    assert!(body.contains("LOC_A101_BATCH000001.csv"), "{body}");
    assert!(body.contains("gold_demo.fact_sales"), "{body}");

    // WHEN only the SQL steps run again (twice), THEN silver, gold and views are identical.
    for n in 1..=2 {
        let out = run(&fx, Mode::Refresh, Some("BATCH000001")).await?;
        assert_eq!(out["status"], "SUCCESS", "{out}");
        assert_eq!(snapshot(&fx).await?, first, "after refresh {n}");
    }
    assert_eq!(
        keys(&fx, "batch_info/demo/refreshed/").await?,
        ["batch_info/demo/refreshed/batch_output_demo_BATCH000001.json"]
    );
    let manifest: serde_json::Value = serde_json::from_slice(
        &fx.deps
            .store
            .get("batch_info/demo/refreshed/batch_output_demo_BATCH000001.json")
            .await?,
    )?;
    assert_eq!(manifest["mode"], "refresh");
    assert_eq!(manifest["steps"].as_array().map(Vec::len), Some(11));
    assert_eq!(manifest["files"].as_array().map(Vec::len), Some(6));
    assert_eq!(outbox_mail(&fx)?.len(), 1, "a successful run sends no mail");

    // The operator's view over the same tables.
    let detail = muara_batch::report::batch(&fx.deps.pool, "demo", "BATCH000001").await?;
    assert_eq!(detail.executions.len(), 3);
    assert_eq!(detail.files.len(), 6);
    assert_eq!(detail.steps.len(), 33);
    assert_eq!(detail.mails[0].status, "SENT");
    let list = muara_batch::report::batches(&fx.deps.pool, "demo", 10).await?;
    assert_eq!(list.batches[0].status, "SUCCESS", "{list:?}");
    assert_eq!(list.batches[0].files_loaded, 5, "{list:?}");
    Ok(())
}

/// A client whose integration steps sleep, so concurrency and order show in the log times.
async fn sleepy_client(fx: &Fx) -> anyhow::Result<BatchRef> {
    let c = fx.deps.pool.get().await?;
    c.batch_execute(
        "INSERT INTO tools.client_reference (client_schema) VALUES ('acme');
         CREATE SCHEMA gold_acme;
         CREATE FUNCTION gold_acme.dim(p text) RETURNS bigint LANGUAGE sql AS $$ SELECT 7::bigint FROM pg_sleep(0.6) $$;
         CREATE PROCEDURE gold_acme.fact(p text) LANGUAGE plpgsql AS $$
           BEGIN PERFORM set_config('muara.rows_affected', '42', true); END $$;
         INSERT INTO tools.integration_config (client_id, procedure_name, step_kind, integration_type)
         SELECT client_id, n, k, t FROM tools.client_reference,
           (VALUES ('gold_acme.dim', 'function', 'dimension'), ('gold_acme.fact', 'procedure', 'fact')) v(n, k, t)
         WHERE client_schema = 'acme';
         INSERT INTO tools.integration_config (client_id, procedure_name, step_kind, sql_text, integration_type)
         SELECT client_id, 'gold_acme.dim_two', 'sql', 'SELECT pg_sleep(0.6)', 'dimension' FROM tools.client_reference
         WHERE client_schema = 'acme';",
    )
    .await?;
    let client_id: i32 = c
        .query_one(
            "SELECT client_id FROM tools.client_reference WHERE client_schema = 'acme'",
            &[],
        )
        .await?
        .get(0);
    Ok(BatchRef {
        client: "acme".parse().expect("a valid name"),
        client_id,
        batch_id: "BATCH000001".parse().expect("a valid name"),
        mode: Mode::Refresh,
        execution_name: muara_testkit::unique("acme-BATCH000001-refresh"),
        manifest_key: "batch_info/acme/incoming/batch_output_acme_BATCH000001.json".into(),
        lock: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dimensions_run_together_before_the_fact_and_bad_steps_fail_clearly() -> anyhow::Result<()>
{
    let fx = fixture().await?;
    let batch = sleepy_client(&fx).await?;
    let summary = steps::run(&fx.deps, &batch, Family::Integrate).await?;
    assert_eq!(summary.steps, 3);
    assert_eq!(
        summary.rows,
        7 + 1 + 42,
        "function result, SQL rows, procedure report"
    );
    let c = fx.deps.pool.get().await?;
    let at = |name: &'static str| {
        let c = &c;
        let exec = batch.execution_name.clone();
        async move {
            let r = c
                .query_one(
                    "SELECT extract(epoch FROM started_at)::float8, extract(epoch FROM finished_at)::float8
                     FROM tools.integration_log WHERE procedure_name = $1 AND execution_name = $2",
                    &[&name, &exec],
                )
                .await?;
            anyhow::Ok((r.get::<_, f64>(0), r.get::<_, f64>(1)))
        }
    };
    let (d1, d2, fact) = (
        at("gold_acme.dim").await?,
        at("gold_acme.dim_two").await?,
        at("gold_acme.fact").await?,
    );
    assert!(
        d1.0 < d2.1 && d2.0 < d1.1,
        "the two dimensions overlap: {d1:?} {d2:?}"
    );
    assert!(
        fact.0 >= d1.1 && fact.0 >= d2.1,
        "the fact starts after both dimensions: {fact:?} {d1:?} {d2:?}"
    );

    // A re-run of the same execution skips what it finished.
    let again = steps::run(&fx.deps, &batch, Family::Integrate).await?;
    assert_eq!(again.already_done, 3);

    // A cycle is refused before anything runs, naming it.
    c.batch_execute(
        "INSERT INTO tools.integration_dependencies (integration_id, depends_on_id)
         SELECT a.integration_id, b.integration_id FROM tools.integration_config a, tools.integration_config b
         WHERE a.procedure_name = 'gold_acme.dim' AND b.procedure_name = 'gold_acme.fact'",
    )
    .await?;
    let err = steps::plan(&fx.deps.pool, batch.client_id, Family::Integrate)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(
        err.to_string().contains("dependency cycle: ")
            && err.to_string().contains("gold_acme.dim")
            && err.to_string().contains("gold_acme.fact"),
        "{err}"
    );
    c.batch_execute("DELETE FROM tools.integration_dependencies")
        .await?;

    // A missing procedure, a step that raises, a statement timeout: not retryable, logged.
    c.batch_execute(
        "INSERT INTO tools.transformation_config (client_id, procedure_name, execution_order, step_kind, sql_text, timeout_seconds)
         SELECT client_id, v.n, v.o, v.k, v.s, v.t FROM tools.client_reference,
           (VALUES ('gold_acme.nowhere', 1, 'procedure', NULL, 900),
                   ('gold_acme.raises', 1, 'sql', $q$DO $b$ BEGIN RAISE EXCEPTION 'silver rule broken: % rows', 3; END $b$$q$, 900),
                   ('gold_acme.slow', 1, 'sql', 'SELECT pg_sleep(5)', 1),
                   ('gold_acme.after', 2, 'sql', 'SELECT 1', 900)) v(n, o, k, s, t)
         WHERE client_schema = 'acme'",
    )
    .await?;
    let err = steps::run(&fx.deps, &batch, Family::Transform)
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    let log: Vec<(String, String, Option<String>)> = c
        .query(
            "SELECT procedure_name, status, error_message FROM tools.transformation_log
             WHERE execution_name = $1 ORDER BY procedure_name",
            &[&batch.execution_name],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let find = |n: &str| log.iter().find(|l| l.0 == n).cloned().unwrap();
    let (_, status, error) = find("gold_acme.nowhere");
    assert_eq!(status, "FAILED");
    assert!(error.unwrap().contains("does not exist"));
    let (_, status, error) = find("gold_acme.raises");
    assert_eq!(status, "FAILED");
    assert!(error.unwrap().contains("silver rule broken: 3 rows"));
    let (_, status, error) = find("gold_acme.slow");
    assert_eq!(status, "FAILED");
    assert!(error.unwrap().contains("timed out after 1 s"), "{log:?}");
    let (_, status, error) = find("gold_acme.after");
    assert_eq!(
        status, "SKIPPED",
        "a later step does not start after a failure"
    );
    assert!(error.unwrap().starts_with("not run: transform step"));
    Ok(())
}

/// Configured SQL runs as the client's own role, through its runner: it reaches the tables of
/// its own layers and nothing else, and cannot climb back to the platform's role.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sql_steps_run_as_the_clients_role_and_reach_nothing_else() -> anyhow::Result<()> {
    let fx = fixture().await?;
    muara_demo::batch::seed(&fx.deps).await?;
    let c = fx.deps.pool.get().await?;
    c.batch_execute(
        "INSERT INTO tools.client_reference (client_schema) VALUES ('other');
         CREATE SCHEMA bronze_other;
         CREATE TABLE bronze_other.secret AS SELECT 1 AS x;",
    )
    .await?;
    let demo: i32 = c
        .query_one(
            "SELECT client_id FROM tools.client_reference WHERE client_schema = 'demo'",
            &[],
        )
        .await?
        .get(0);
    let runner = steps::sandbox::prepare(&fx.deps.pool, demo, "demo").await?;
    // Twice is harmless (every stage prepares).
    assert_eq!(
        steps::sandbox::prepare(&fx.deps.pool, demo, "demo").await?,
        runner
    );
    let as_client = |script: &'static str| {
        let (pool, runner) = (fx.deps.pool.clone(), runner.clone());
        async move {
            let mut c = pool.get().await?;
            let tx = c.transaction().await?;
            let r = tx
                .query_one(&format!("SELECT {runner}($1::text)"), &[&script])
                .await;
            tx.rollback().await?;
            anyhow::Ok(r.map(|_| ()).map_err(|e| {
                e.as_db_error()
                    .map(|d| d.message().to_string())
                    .unwrap_or_else(|| e.to_string())
            }))
        }
    };
    for script in [
        "SELECT count(*) FROM bronze_demo.crm_cust_info",
        "DELETE FROM bronze_demo.crm_cust_info WHERE false",
        "CREATE TABLE silver_demo.scratch AS SELECT 1 AS x",
        "DELETE FROM gold_demo.fact_sales WHERE false",
        "CALL silver_demo.load_crm_cust_info('BATCH000000')",
    ] {
        assert_eq!(as_client(script).await?, Ok(()), "{script}");
    }
    for (script, refused) in [
        (
            "SELECT count(*) FROM tools.client_reference",
            "permission denied for schema tools",
        ),
        (
            "SELECT 1 FROM auth.api_token",
            "permission denied for schema auth",
        ),
        (
            "SELECT 1 FROM events.event",
            "permission denied for schema events",
        ),
        (
            "SELECT * FROM bronze_other.secret",
            "permission denied for schema bronze_other",
        ),
        (
            "RESET ROLE",
            "cannot set parameter \"role\" within security-definer function",
        ),
        (
            "SET SESSION AUTHORIZATION DEFAULT",
            "cannot set parameter \"session_authorization\" within security-definer function",
        ),
        (
            "COPY (SELECT 1) TO PROGRAM 'true'",
            "pg_execute_server_program",
        ),
        (
            "SELECT pg_read_file('PG_VERSION')",
            "permission denied for function pg_read_file",
        ),
        ("CREATE SCHEMA sneaky", "permission denied for database"),
        (
            "CREATE TABLE bronze_demo.mine (x int)",
            "permission denied for schema bronze_demo",
        ),
        ("CREATE ROLE sneaky", "permission denied to create role"),
        (
            "SELECT muara_steps.run_1('SELECT 1')",
            "permission denied for schema muara_steps",
        ),
    ] {
        match as_client(script).await? {
            Ok(()) => panic!("{script} ran as the client"),
            Err(e) => assert!(e.contains(refused), "{script}: {e}"),
        }
    }

    // Through a batch: a step reaching for the tools schema fails, saying why.
    c.batch_execute(
        "INSERT INTO tools.transformation_config (client_id, procedure_name, execution_order, step_kind, sql_text)
         SELECT client_id, 'silver_demo.peek', 2, 'sql', 'SELECT count(*) FROM tools.client_reference'
         FROM tools.client_reference WHERE client_schema = 'demo'",
    )
    .await?;
    let out = run(&fx, Mode::Start, None).await?;
    assert_eq!(out["status"], "FAILED", "{out}");
    let error: String = c
        .query_one(
            "SELECT error_message FROM tools.transformation_log WHERE procedure_name = 'silver_demo.peek'",
            &[],
        )
        .await?
        .get(0);
    assert!(
        error.contains("silver_demo.peek was refused: permission denied for schema tools")
            && error.contains("the client's own role"),
        "{error}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transient_step_failure_is_retried_and_the_batch_completes() -> anyhow::Result<()> {
    let fx = fixture().await?;
    muara_demo::batch::seed(&fx.deps).await?;
    // A step that hits a serialization failure on its first run only.
    fx.deps
        .pool
        .get()
        .await?
        .batch_execute(
            "CREATE SEQUENCE silver_demo.flaky_seq;
             CREATE PROCEDURE silver_demo.flaky_once(p text) LANGUAGE plpgsql AS $$
             BEGIN
               -- A sequence is not rolled back with the failing transaction: it counts runs.
               IF nextval('silver_demo.flaky_seq') = 1 THEN
                 RAISE EXCEPTION 'could not serialize access' USING ERRCODE = '40001';
               END IF;
             END $$;
             INSERT INTO tools.transformation_config (client_id, procedure_name, execution_order)
             SELECT client_id, 'silver_demo.flaky_once', 2 FROM tools.client_reference WHERE client_schema = 'demo';",
        )
        .await?;
    let out = run(&fx, Mode::Start, None).await?;
    assert_eq!(
        out["status"], "PARTIAL",
        "only the unmapped file failed: {out}"
    );
    let statuses = step_statuses(&fx, "silver_demo.flaky_once").await?;
    assert_eq!(
        statuses,
        ["RETRIED", "SUCCESS"],
        "the failed run is superseded"
    );
    // The retry did not run the finished steps again.
    assert_eq!(
        count(&fx, "SELECT count(*) FROM tools.transformation_log WHERE procedure_name = 'silver_demo.load_crm_cust_info'").await?,
        1
    );
    assert_eq!(
        count(&fx, "SELECT count(*) FROM gold_demo.fact_sales").await?,
        2000
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broken_step_mails_the_refresh_command_through_ses_and_it_completes_the_batch()
-> anyhow::Result<()> {
    let mut fx = fixture().await?;
    let mail_fx = ses_mailer().await?;
    fx.deps.notify.mailer = mail_fx.mailer.clone();
    fx.deps.notify.from = crate::support::SENDER.into();
    fx.orch
        .set_invoker(std::sync::Arc::new(muara_host::pipelines::BatchTasks(
            fx.deps.clone(),
        )));
    muara_demo::batch::seed(&fx.deps).await?;
    let c = fx.deps.pool.get().await?;
    c.batch_execute(
        "CREATE OR REPLACE FUNCTION gold_demo.load_dim_products(p_batch_id text) RETURNS bigint
         LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'product dimension broken on purpose'; END $$;",
    )
    .await?;

    let out = run(&fx, Mode::Start, None).await?;
    assert_eq!(out["status"], "FAILED", "{out}");
    assert_eq!(
        count(&fx, "SELECT count(*) FROM gold_demo.fact_sales").await?,
        0,
        "the fact waits for its dimensions"
    );
    let (message_id, subject, status): (Option<String>, String, String) = {
        let r = c
            .query_one(
                "SELECT message_id, subject, status FROM tools.batch_notification WHERE batch_id = 'BATCH000001'",
                &[],
            )
            .await?;
        (r.get(0), r.get(1), r.get(2))
    };
    assert_eq!(status, "SENT");
    assert_eq!(
        subject,
        "[muara] demo BATCH000001 FAILED (start): integrate step gold_demo.load_dim_products failed"
    );
    let sent = SentMail {
        message_id: message_id.unwrap_or_default(),
        location: None,
    };
    let back = mail_fx.read_back(&sent).await?;
    assert_eq!(back.subject, subject);
    assert_eq!(back.to, ["operators@example.com"]);
    let body = back.body.replace("\r\n", "\n").replace("=\n", "");
    for want in [
        "Client:     demo",
        "Mode:       start",
        "product dimension broken on purpose",
        "SKIPPED",
        "muara batch refresh demo --batch-id BATCH000001",
    ] {
        assert!(body.contains(want), "{want:?} missing from:\n{body}");
    }

    // The operator fixes the step and runs the command from the mail.
    c.batch_execute(include_str!("../../shared/demo/src/demo_downstream.sql"))
        .await?;
    let out = run(&fx, Mode::Refresh, Some("BATCH000001")).await?;
    assert_eq!(out["status"], "SUCCESS", "{out}");
    assert_eq!(
        count(&fx, "SELECT count(*) FROM gold_demo.fact_sales").await?,
        2000
    );
    assert!(
        count(
            &fx,
            "SELECT count(*) FROM gold_demo.mv_customer_lifetime_value"
        )
        .await?
            > 400
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mail_waits_while_the_mail_service_is_down_and_housekeeping_sends_it() -> anyhow::Result<()>
{
    let mut fx = fixture().await?;
    // A real SMTP client pointed at a port nobody listens on.
    let port = muara_local::postgres::free_port()?;
    fx.deps.notify.mailer = std::sync::Arc::new(muara_local::mailer::SmtpMailer::from_url(
        &format!("smtp://127.0.0.1:{port}"),
    )?);
    fx.orch
        .set_invoker(std::sync::Arc::new(muara_host::pipelines::BatchTasks(
            fx.deps.clone(),
        )));
    muara_demo::batch::seed(&fx.deps).await?;
    let out = run(&fx, Mode::Start, None).await?;
    // The outcome is recorded regardless; the mail is kept, not lost.
    assert_eq!(out["status"], "PARTIAL", "{out}");
    assert_eq!(
        count(
            &fx,
            "SELECT count(*) FROM tools.job_execution_log WHERE status = 'PARTIAL'"
        )
        .await?,
        1
    );
    let (status, attempts, error): (String, i32, Option<String>) = {
        let r = fx
            .deps
            .pool
            .get()
            .await?
            .query_one(
                "SELECT status, attempts, last_error FROM tools.batch_notification",
                &[],
            )
            .await?;
        (r.get(0), r.get(1), r.get(2))
    };
    assert_eq!((status.as_str(), attempts), ("PENDING", 1));
    assert!(error.is_some());
    // The next attempt waits (backoff); housekeeping before then sends nothing.
    let retention = ninety_days();
    let early = muara_batch::housekeeping::run(&fx.deps, &retention).await?;
    assert_eq!(early.mail, Default::default());
    // … a minute later:
    fx.deps
        .pool
        .get()
        .await?
        .batch_execute("UPDATE tools.batch_notification SET next_attempt_at = now()")
        .await?;

    // The mail service is back: housekeeping sends what was pending.
    fx.deps.notify.mailer = std::sync::Arc::new(
        muara_local::mailer::OutboxMailer::open(fx._dir.path().join("outbox")).await?,
    );
    let report = muara_batch::housekeeping::run(&fx.deps, &ninety_days()).await?;
    assert_eq!(report.mail.sent, 1);
    assert_eq!(outbox_mail(&fx)?.len(), 1);
    let again = muara_batch::housekeeping::run(&fx.deps, &ninety_days()).await?;
    assert_eq!(again.mail.sent, 0, "sent once");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_removes_exactly_what_is_old() -> anyhow::Result<()> {
    let fx = fixture().await?;
    let c = fx.deps.pool.get().await?;
    c.batch_execute(
        "INSERT INTO tools.client_reference (client_schema) VALUES ('acme');
         INSERT INTO tools.job_execution_log (client_id, batch_id, mode, execution_name, status, started_at, finished_at)
         SELECT client_id, 'BATCH000001', 'start', 'old', 'SUCCESS', now() - interval '100 days', now() - interval '100 days'
         FROM tools.client_reference;
         INSERT INTO tools.job_execution_log (client_id, batch_id, mode, execution_name, status, started_at)
         SELECT client_id, 'BATCH000002', 'start', 'old-but-running', 'RUNNING', now() - interval '100 days'
         FROM tools.client_reference;
         INSERT INTO tools.job_execution_log (client_id, batch_id, mode, execution_name, status, started_at, finished_at)
         SELECT client_id, 'BATCH000003', 'start', 'new', 'SUCCESS', now() - interval '89 days', now()
         FROM tools.client_reference;
         INSERT INTO tools.transformation_log (client_id, batch_id, procedure_name, status, started_at)
         VALUES (1, 'BATCH000001', 'a', 'SUCCESS', now() - interval '91 days'),
                (1, 'BATCH000001', 'b', 'SUCCESS', now() - interval '91 days'),
                (1, 'BATCH000003', 'a', 'SUCCESS', now() - interval '1 day');
         INSERT INTO tools.load_error_log (client_id, batch_id, physical_file_name, error_message, logged_at)
         VALUES (1, 'BATCH000001', 'f.csv', 'x', now() - interval '200 days');
         INSERT INTO tools.batch_notification (client_id, batch_id, execution_name, recipients, sender, subject, body, status, created_at)
         VALUES (1, 'BATCH000001', 'old', '{a@example.com}', 's@example.com', 's', 'b', 'SENT', now() - interval '100 days'),
                (1, 'BATCH000002', 'old-pending', '{}', 's@example.com', 's', 'b', 'PENDING', now() - interval '100 days');",
    )
    .await?;
    // Archived files: one old, one recent; an old file outside archive/ stays.
    let old = std::time::SystemTime::now() - Duration::from_secs(100 * 86400);
    for (key, aged) in [
        ("raw/acme/crm/archive/old_BATCH000001.csv", true),
        ("data/acme/crm/archive/old_BATCH000001.parquet", true),
        ("raw/acme/crm/archive/new_BATCH000003.csv", false),
        ("raw/acme/crm/failed/old_BATCH000001.csv", true),
    ] {
        fx.deps
            .store
            .put(key, bytes::Bytes::from_static(b"x"), &PutOptions::default())
            .await?;
        if aged {
            let path = fx._dir.path().join("lake").join(key);
            std::fs::File::options()
                .write(true)
                .open(&path)?
                .set_modified(old)?;
        }
    }
    // A file copied in with its timestamps preserved (cp -p, rsync -t), archived today: its
    // age counts from the archiving, not from its old modification time.
    let copied = "raw/acme/crm/incoming/copied_BATCH000002.csv";
    fx.deps
        .store
        .put(
            copied,
            bytes::Bytes::from_static(b"x"),
            &PutOptions::default(),
        )
        .await?;
    std::fs::File::options()
        .write(true)
        .open(fx._dir.path().join("lake").join(copied))?
        .set_modified(old)?;
    fx.deps
        .store
        .rename(copied, &copied.replace("/incoming/", "/archive/"))
        .await?;
    let report = muara_batch::housekeeping::run(&fx.deps, &ninety_days()).await?;
    assert_eq!(report.rows["tools.job_execution_log"], 1, "{report:?}");
    assert_eq!(report.rows["tools.transformation_log"], 2);
    assert_eq!(report.rows["tools.load_error_log"], 1);
    assert_eq!(
        report.rows["tools.batch_notification"], 1,
        "pending mail is kept"
    );
    let mut files = report.archived_files.clone();
    files.sort();
    assert_eq!(
        files,
        [
            "data/acme/crm/archive/old_BATCH000001.parquet",
            "raw/acme/crm/archive/old_BATCH000001.csv"
        ]
    );
    let names: Vec<String> = c
        .query(
            "SELECT execution_name FROM tools.job_execution_log ORDER BY 1",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(names, ["new", "old-but-running"]);
    assert_eq!(
        keys(&fx, "raw/acme/").await?.len(),
        3,
        "the recent archive, the one archived today and the failed file stay"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn objects_moved_to_archive_in_s3_carry_the_lifecycle_tag() -> anyhow::Result<()> {
    let cfg = muara_testkit::moto().await?.sdk_config().await;
    let client = muara_aws::s3_client(&cfg);
    let bucket = muara_testkit::unique("muara-lake");
    client.create_bucket().bucket(&bucket).send().await?;
    let store = muara_aws::s3::S3Store::new(client.clone(), bucket.clone());
    use muara_core::ports::ObjectStore as _;
    for key in ["raw/acme/crm/incoming/a.csv", "raw/acme/crm/incoming/b.csv"] {
        store
            .put(
                key,
                bytes::Bytes::from_static(b"id\n1\n"),
                &PutOptions::default(),
            )
            .await?;
    }
    store
        .rename("raw/acme/crm/incoming/a.csv", "raw/acme/crm/archive/a.csv")
        .await?;
    store
        .rename("raw/acme/crm/incoming/b.csv", "raw/acme/crm/failed/b.csv")
        .await?;
    let tags = |key: &'static str| {
        let (client, bucket) = (client.clone(), bucket.clone());
        async move {
            let t = client
                .get_object_tagging()
                .bucket(bucket)
                .key(key)
                .send()
                .await?;
            anyhow::Ok(
                t.tag_set()
                    .iter()
                    .map(|t| format!("{}={}", t.key(), t.value()))
                    .collect::<Vec<_>>(),
            )
        }
    };
    assert_eq!(
        tags("raw/acme/crm/archive/a.csv").await?,
        ["muara:archive=true"]
    );
    assert!(tags("raw/acme/crm/failed/b.csv").await?.is_empty());
    Ok(())
}

/// The demo client with the batch's database on a server of its own (to be restarted or
/// stopped); the orchestrator and the locks stay on the shared one, as Step Functions and
/// DynamoDB do in AWS.
async fn demo_on_private_cluster() -> anyhow::Result<(muara_local::postgres::Cluster, Fx)> {
    let (cluster, url) = muara_testkit::private_cluster().await?;
    let mut fx = fixture().await?;
    fx.deps.pool = muara_db::connect(&url, 8, Duration::from_secs(30)).await?;
    fx.orch
        .set_invoker(std::sync::Arc::new(muara_host::pipelines::BatchTasks(
            fx.deps.clone(),
        )));
    muara_demo::batch::seed(&fx.deps).await?;
    Ok((cluster, fx))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_in_the_middle_of_a_step_is_retried_and_the_batch_completes()
-> anyhow::Result<()> {
    let (cluster, fx) = demo_on_private_cluster().await?;
    fx.deps
        .pool
        .get()
        .await?
        .batch_execute(
            "INSERT INTO tools.transformation_config (client_id, procedure_name, execution_order, step_kind, sql_text)
             SELECT client_id, 'public.slow_step', 2, 'sql', 'SELECT pg_sleep(3)'
             FROM tools.client_reference WHERE client_schema = 'demo'",
        )
        .await?;
    let RunOutcome::Started { execution_id, .. } =
        request(&fx.deps, "demo", Mode::Start, None).await?
    else {
        anyhow::bail!("not started");
    };
    muara_testkit::eventually(
        Duration::from_secs(60),
        "the slow step to be running",
        || async {
            let c = fx.deps.pool.get().await?;
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM tools.transformation_log WHERE procedure_name = 'public.slow_step' AND status = 'RUNNING'",
                    &[],
                )
                .await?
                .get(0);
            Ok((n > 0).then_some(()))
        },
    )
    .await?;
    // WHEN the server restarts under the running step
    cluster.stop().await?;
    let _restarted =
        muara_local::postgres::Cluster::start(&cluster.data_dir, cluster.port, false).await?;

    // THEN the stage is retried and the batch completes.
    let info = finished(&fx, &execution_id).await?;
    let out = info.output.unwrap_or_default();
    assert_eq!(
        out["status"], "PARTIAL",
        "only the unmapped file failed: {out}"
    );
    let statuses = step_statuses(&fx, "public.slow_step").await?;
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("SUCCESS"),
        "{statuses:?}"
    );
    assert!(statuses.len() >= 2, "{statuses:?}");
    assert_eq!(
        count(&fx, "SELECT count(*) FROM gold_demo.fact_sales").await?,
        2000
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stage_out_of_time_asks_for_a_retry_which_runs_only_what_is_left() -> anyhow::Result<()> {
    let mut fx = fixture().await?;
    let batch = sleepy_client(&fx).await?;
    fx.deps
        .pool
        .get()
        .await?
        .batch_execute(
            "INSERT INTO tools.transformation_config (client_id, procedure_name, execution_order, step_kind, sql_text)
             SELECT client_id, v.n, v.o, 'sql', 'SELECT pg_sleep(2)' FROM tools.client_reference,
               (VALUES ('acme.first', 1), ('acme.second', 2)) v(n, o)
             WHERE client_schema = 'acme'",
        )
        .await?;
    // 11 s of budget: the first step (2 s) starts; the second would start with under 10 s left.
    fx.deps.stage_budget = Some(Duration::from_secs(11));
    let err = steps::run(&fx.deps, &batch, Family::Transform)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("time budget"), "{err}");
    // The retry (a fresh invocation, a fresh budget) runs only the second step.
    let summary = steps::run(&fx.deps, &batch, Family::Transform).await?;
    assert_eq!((summary.steps, summary.already_done), (2, 1));
    let statuses: Vec<(String, String)> = fx
        .deps
        .pool
        .get()
        .await?
        .query(
            "SELECT procedure_name, status FROM tools.transformation_log WHERE execution_name = $1 ORDER BY log_id",
            &[&batch.execution_name],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        statuses,
        [
            ("acme.first".to_string(), "SUCCESS".to_string()),
            ("acme.second".to_string(), "SUCCESS".to_string())
        ]
    );
    Ok(())
}

/// Waits until a COPY into the demo's customer table runs on the batch's database.
async fn copy_running(fx: &Fx) -> anyhow::Result<()> {
    muara_testkit::eventually(
        Duration::from_secs(120),
        "the bronze COPY to run",
        || async {
            let c = fx.deps.pool.get().await?;
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'
                   AND query ILIKE 'COPY %crm_cust_info%'",
                    &[],
                )
                .await?
                .get(0);
            Ok((n > 0).then_some(()))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_restart_or_a_30_s_stop_mid_copy_is_ridden_out_and_every_row_loads_once()
-> anyhow::Result<()> {
    const ROWS: u64 = 150_000;
    let (cluster, fx) = demo_on_private_cluster().await?;
    let (data_dir, port) = (cluster.data_dir.clone(), cluster.port);
    let mut restarted = Vec::new();

    for (batch, pause) in [
        ("BATCH000001", Duration::ZERO),
        ("BATCH000002", Duration::from_secs(30)),
    ] {
        fx.deps
            .store
            .put(
                "raw/demo/crm/incoming/cust_info.csv",
                bytes::Bytes::from(muara_demo::batch::customers_csv(1_000_000, ROWS)),
                &PutOptions::default(),
            )
            .await?;
        let RunOutcome::Started { execution_id, .. } =
            request(&fx.deps, "demo", Mode::Start, None).await?
        else {
            anyhow::bail!("not started");
        };
        copy_running(&fx).await?;
        // WHEN the server goes away under the COPY (a fast restart, then a 30 s outage)
        match restarted.last() {
            None => cluster.stop().await?,
            Some(c) => muara_local::postgres::Cluster::stop(c).await?,
        }
        tokio::time::sleep(pause).await; // the outage itself, not a wait for a result
        restarted.push(muara_local::postgres::Cluster::start(&data_dir, port, false).await?);

        // THEN the load is retried once the database is back, and every row is there once.
        let info = finished(&fx, &execution_id).await?;
        let out = info.output.clone().unwrap_or_default();
        assert_eq!(
            info.status,
            muara_core::ports::ExecutionStatus::Succeeded,
            "{batch}: {info:?}"
        );
        assert!(
            matches!(out["status"].as_str(), Some("SUCCESS" | "PARTIAL")),
            "{batch}: {out}"
        );
        assert_eq!(
            count(
                &fx,
                &format!(
                    "SELECT count(*) FROM bronze_demo.crm_cust_info WHERE dwh_batch_id = '{batch}'"
                )
            )
            .await?,
            i64::try_from(ROWS)?,
            "{batch}: every row once"
        );
        assert_eq!(
            count(
                &fx,
                &format!(
                    "SELECT count(*) FROM tools.file_ledger WHERE batch_id = '{batch}' AND NOT balanced"
                )
            )
            .await?,
            0,
            "{batch}: the ledger holds"
        );
    }
    Ok(())
}
