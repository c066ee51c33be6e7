//! The console in a real browser: Debian's headless Chromium, driven through ChromeDriver,
//! against `muara up --demo` in-process. The demo's first batch fails one file on purpose (its
//! mapping says COUNTRY, the file says CNTRY). A viewer sees the failure and its reason and
//! can change nothing; an admin fixes the mapping in the console and restarts the batch, which
//! then succeeds. Screenshots of the main pages are saved as test artefacts
//! (`MUARA_ARTIFACTS_DIR`, default `target/artifacts/console/`).

use crate::local_runtime::{Up, test_config};
use muara_host::runtime::UpConfig;
use muara_testkit::browser::{Browser, Element};
use muara_testkit::{eventually, postgres, request_as, workspace_root};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn artifacts() -> PathBuf {
    std::env::var("MUARA_ARTIFACTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target/artifacts"))
        .join("console")
}

async fn api(
    base: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Value,
) -> anyhow::Result<(u16, Value)> {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let (status, text) = request_as(base, Some(token), method, path, &body).await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

async fn token(base: &str, admin: &str, name: &str, role: &str) -> anyhow::Result<String> {
    let (status, made) = api(
        base,
        admin,
        "POST",
        "/tokens",
        json!({"name": name, "role": role}),
    )
    .await?;
    anyhow::ensure!(status == 201, "token {name}: {status} {made}");
    Ok(made["token"].as_str().unwrap_or_default().to_string())
}

async fn log_in(b: &Browser, base: &str, token: &str) -> anyhow::Result<()> {
    // Forget any earlier session, then load the console afresh: it asks for a token.
    b.goto(&format!("{base}/console")).await?;
    b.run("sessionStorage.clear(); return true;", json!([]))
        .await?;
    b.goto(&format!("{base}/console?login")).await?;
    let field = b.wait_for("#login-token", WAIT).await?;
    b.type_text(&field, token).await?;
    b.click(&b.wait_for("#login-submit", WAIT).await?).await?;
    b.wait_text("#whoami", WAIT, |t| !t.trim().is_empty())
        .await?;
    Ok(())
}

/// The `column_mapping` row whose source column reads `source`.
async fn mapping_row(b: &Browser, source: &str) -> anyhow::Result<Element> {
    eventually(WAIT, &format!("the mapping row of {source}"), || async {
        Ok(find_row(b, source).await)
    })
    .await
}

/// Looks the row up now; `None` also when the table is being redrawn (stale elements).
async fn find_row(b: &Browser, source: &str) -> Option<Element> {
    for row in b
        .find_all("table[data-table=column_mapping] tr[data-key]")
        .await
        .ok()?
    {
        for cell in b
            .find_in(&row, "td[data-field=source_column]")
            .await
            .unwrap_or_default()
        {
            if b.text(&cell).await.ok().as_deref() == Some(source) {
                return Some(row.clone());
            }
        }
    }
    None
}

/// Clicks the button `css` in the mapping row of `source`, retrying while the table redraws.
async fn click_in_row(b: &Browser, source: &str, css: &str) -> anyhow::Result<()> {
    eventually(WAIT, &format!("{css} in the row of {source}"), || async {
        let Some(row) = find_row(b, source).await else {
            return Ok(None);
        };
        let Some(button) = b
            .find_in(&row, css)
            .await
            .ok()
            .and_then(|v| v.into_iter().next())
        else {
            return Ok(None);
        };
        Ok(b.click(&button).await.ok())
    })
    .await
}

async fn shot(b: &Browser, name: &str) -> anyhow::Result<()> {
    b.screenshot(&artifacts().join(format!("{name}.png"))).await
}

#[test]
fn in_the_console_an_admin_fixes_the_broken_demo_mapping_and_reruns_the_batch_a_viewer_cannot()
-> anyhow::Result<()> {
    // One long scenario: its poll frame is large in a debug build, so it runs on a thread with
    // room for it.
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .enable_all()
                .build()?
                .block_on(scenario())
        })?
        .join()
        .map_err(|_| anyhow::anyhow!("the scenario panicked"))?
}

async fn scenario() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let database_url = postgres().await?.fresh_db().await?;
    let up = Up::start(
        UpConfig {
            statemachines_dir: Some(workspace_root().join("statemachines")),
            demo: true,
            ..test_config(dir.path(), database_url)
        },
        vec![],
    )
    .await?;
    let base = format!("http://{}", up.running.http);
    let admin = up
        .running
        .admin_token
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the first start makes an admin token"))?;
    let viewer = token(&base, &admin, "vera", "viewer").await?;

    // The demo's first batch finishes with one failed file.
    eventually(
        Duration::from_secs(120),
        "the demo batch to finish",
        || async {
            let (_, v) = api(&base, &admin, "GET", "/clients/demo/batches", Value::Null).await?;
            Ok((v["batches"][0]["status"] == "PARTIAL").then_some(()))
        },
    )
    .await?;

    let b = Browser::start().await?;

    // A viewer sees the failed file and why …
    log_in(&b, &base, &viewer).await?;
    let who = b.text(&b.wait_for("#whoami", WAIT).await?).await?;
    let who = who.to_lowercase();
    assert!(who.contains("vera") && who.contains("viewer"), "{who}");
    b.goto(&format!("{base}/console#/clients/demo/batches/BATCH000001"))
        .await?;
    let reason = b
        .wait_text(
            "tr[data-file='LOC_A101_BATCH000001.csv'] td[data-field=error_message]",
            WAIT,
            |t| t.contains("COUNTRY"),
        )
        .await?;
    assert!(
        reason.contains("CNTRY"),
        "the reason names both columns: {reason}"
    );
    b.wait_text("#batch-status", WAIT, |t| t.contains("PARTIAL"))
        .await?;
    shot(&b, "viewer-batch-failure").await?;
    assert!(
        b.find_all("button[data-action=restart], button[data-action=reprocessing]")
            .await?
            .is_empty(),
        "a viewer gets no run buttons"
    );
    // … and the mapping, without edit buttons.
    b.goto(&format!("{base}/console#/clients/demo")).await?;
    mapping_row(&b, "COUNTRY").await?;
    assert!(b.find_all("button[data-action=edit]").await?.is_empty());
    // Going around the page does not help: the API refuses the viewer's change.
    let row_id: i64 = b
        .run(
            "return document.evaluate(\"//table[@data-table='column_mapping']//tr[td[@data-field='source_column' and text()='COUNTRY']]\", document, null, 9, null).singleNodeValue.getAttribute('data-key')",
            json!([]),
        )
        .await?
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("the COUNTRY row's key"))?;
    let refused = b
        .run_async(
            "const done = arguments[arguments.length - 1];
             fetch('/clients/demo/config/column_mapping/' + arguments[0], {method: 'PUT',
                   headers: {'authorization': 'Bearer ' + sessionStorage.getItem('muara.token'),
                             'content-type': 'application/json'},
                   body: JSON.stringify({source_column: 'CNTRY'})}).then(r => done(r.status));",
            json!([row_id]),
        )
        .await?;
    assert_eq!(refused, json!(403));
    let (status, _) = api(
        &base,
        &viewer,
        "POST",
        "/clients/demo/batches",
        json!({"mode": "restart"}),
    )
    .await?;
    assert_eq!(status, 403, "a viewer cannot re-run a batch");

    // A page of another site posting a form carries no token: CSRF has nothing to ride on.
    b.goto(&format!(
        "data:text/html,<form method=post action='{base}/clients/demo/batches' enctype=text/plain><input name='{{\"mode\":\"restart\",\"x\":\"' value='\"}}'></form><script>document.forms[0].submit()</script>"
    ))
    .await?;
    b.wait_text("body", WAIT, |t| t.contains("bearer token"))
        .await?;

    // An admin fixes the mapping in the console …
    log_in(&b, &base, &admin).await?;
    b.goto(&format!("{base}/console#/clients/demo")).await?;
    click_in_row(&b, "COUNTRY", "button[data-action=edit]").await?;
    let input = b
        .wait_for(
            "table[data-table=column_mapping] input[name=source_column]",
            WAIT,
        )
        .await?;
    b.clear(&input).await?;
    b.type_text(&input, "CNTRY").await?;
    shot(&b, "admin-edits-mapping").await?;
    b.click(
        &b.wait_for(
            "table[data-table=column_mapping] button[data-action=save]",
            WAIT,
        )
        .await?,
    )
    .await?;
    mapping_row(&b, "CNTRY").await?;
    shot(&b, "client-config").await?;

    // … and restarts the batch, confirming first; it succeeds.
    b.goto(&format!("{base}/console#/clients/demo/batches"))
        .await?;
    let restart = b
        .wait_for(
            "tr[data-batch=BATCH000001] button[data-action=restart]",
            WAIT,
        )
        .await?;
    b.click(&restart).await?;
    b.click(&b.wait_for("#confirm-yes", WAIT).await?).await?;
    b.wait_text("#flash", WAIT, |t| t.contains("started"))
        .await?;
    shot(&b, "batches").await?;
    b.goto(&format!("{base}/console#/clients/demo/batches/BATCH000001"))
        .await?;
    b.wait_text("#batch-status", Duration::from_secs(120), |t| {
        t.contains("SUCCESS")
    })
    .await?;
    b.wait_text(
        "tr[data-file='LOC_A101_BATCH000001.csv'] td[data-field=load_status]",
        WAIT,
        |t| t.contains("SUCCESS"),
    )
    .await?;
    shot(&b, "batch-succeeded").await?;
    // The batch's lake objects are listed and can be fetched; nothing else can.
    b.wait_for(
        "tr[data-object$='.parquet'] button[data-action=download]",
        WAIT,
    )
    .await?;
    let (status, objects) = api(
        &base,
        &viewer,
        "GET",
        "/clients/demo/batches/BATCH000001/objects",
        Value::Null,
    )
    .await?;
    assert_eq!(status, 200, "{objects}");
    let manifests: Vec<String> = objects["objects"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|o| o["kind"] == "manifest")
                .filter_map(|o| o["key"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    assert!(!manifests.is_empty(), "a manifest among {objects}");
    let mut statuses = vec![];
    for key in &manifests {
        let (status, body) = request_as(
            &base,
            Some(&viewer),
            "GET",
            &format!("/clients/demo/batches/BATCH000001/object?key={key}"),
            "",
        )
        .await?;
        assert_eq!(status, 200, "{key}");
        let v: Value = serde_json::from_str(&body)?;
        statuses.push(v["status"].as_str().unwrap_or_default().to_string());
    }
    assert!(statuses.iter().any(|s| s == "SUCCESS"), "{statuses:?}");
    for key in [
        "raw/other/crm/incoming/x.csv",
        "../../etc/passwd",
        "batch_info/demo/x.json",
    ] {
        let (status, _) = request_as(
            &base,
            Some(&viewer),
            "GET",
            &format!("/clients/demo/batches/BATCH000001/object?key={key}"),
            "",
        )
        .await?;
        assert_eq!(status, 404, "{key}");
    }

    // The rows are loaded once, and the audit log says who did what.
    let pool = muara_db::connect(&up.running.database_url, 2, Duration::from_secs(10)).await?;
    let loaded: i64 = pool
        .get()
        .await?
        .query_one("SELECT count(*) FROM bronze_demo.erp_loc_a101", &[])
        .await?
        .get(0);
    assert_eq!(loaded, 500);
    let (_, audit) = api(&base, &admin, "GET", "/audit", Value::Null).await?;
    let actions: Vec<(String, String)> = audit["entries"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["action"].as_str().unwrap_or_default().to_string(),
                        e["actor"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(
        actions.contains(&("config.update".into(), "admin".into())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("batch.restart".into(), "admin".into())),
        "{actions:?}"
    );
    assert!(
        !actions.iter().any(|(_, who)| who == "vera"),
        "the viewer changed nothing"
    );

    // Markup in configuration values is shown as text, never run.
    let evil = "<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script>";
    let (status, _) = api(&base, &admin, "POST", "/clients", json!({"client": "xss"})).await?;
    assert_eq!(status, 201);
    let (status, row) = api(
        &base,
        &admin,
        "POST",
        "/clients/xss/config/client_config",
        json!({"logical_source_file": evil, "source_system": "s", "source_type": "csv",
               "target_schema": "bronze_xss", "target_table": "t"}),
    )
    .await?;
    assert_eq!(status, 201, "{row}");
    b.goto(&format!("{base}/console#/clients/xss")).await?;
    b.wait_text(
        "table[data-table=client_config] td[data-field=logical_source_file]",
        WAIT,
        |t| t == evil,
    )
    .await?;
    assert_eq!(
        b.run("return window.__xss === undefined;", json!([]))
            .await?,
        json!(true)
    );

    // Screenshots of the other pages.
    for page in [
        "clients",
        "kpis",
        "recordings",
        "events",
        "funnel",
        "dead-letters",
        "audit",
        "tokens",
    ] {
        b.goto(&format!("{base}/console#/{page}")).await?;
        b.wait_for(&format!("a[data-nav='{page}'].active"), WAIT)
            .await?;
        eventually(WAIT, &format!("the {page} page to load"), || async {
            Ok(b.find_all(".loading").await?.is_empty().then_some(()))
        })
        .await?;
        shot(&b, page).await?;
    }
    drop(b);
    up.stop().await
}
