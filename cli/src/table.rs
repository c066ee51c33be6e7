//! Readable tables for `muara batch status|logs` from the API's JSON.

use serde_json::Value;

/// Left-aligned columns, two spaces apart; missing values print as `-`.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                let pad = widths[i].saturating_sub(c.chars().count());
                out.push_str(c);
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = vec![line(headers.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.iter().map(|r| line(r.clone())));
    out.join("\n")
}

/// A JSON value as a cell: strings bare, null as `-`, long text cut.
pub fn cell(v: &Value) -> String {
    let s = match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    };
    let s = s.replace('\n', " ");
    if s.chars().count() > 120 {
        format!("{}…", s.chars().take(119).collect::<String>())
    } else {
        s
    }
}

/// Timestamps as `YYYY-MM-DD HH:MM:SS`.
fn time(v: &Value) -> String {
    match v.as_str() {
        Some(s) if s.len() >= 19 => s[..19].replace('T', " "),
        _ => cell(v),
    }
}

fn rows(v: &Value, f: impl Fn(&Value) -> Vec<String>) -> Vec<Vec<String>> {
    v.as_array()
        .map(|a| a.iter().map(f).collect())
        .unwrap_or_default()
}

pub fn batches(v: &Value) -> String {
    let r = rows(&v["batches"], |b| {
        vec![
            cell(&b["batch_id"]),
            cell(&b["status"]),
            cell(&b["mode"]),
            cell(&b["executions"]),
            format!("{}/{}", cell(&b["files_loaded"]), cell(&b["files"])),
            time(&b["first_started_at"]),
            time(&b["finished_at"]),
        ]
    });
    if r.is_empty() {
        return format!("client {} has no batch yet", cell(&v["client"]));
    }
    render(
        &[
            "BATCH", "STATUS", "LAST RUN", "RUNS", "LOADED", "STARTED", "FINISHED",
        ],
        &r,
    )
}

pub fn batch(v: &Value) -> String {
    let mut out = vec![format!("{} {}", cell(&v["client"]), cell(&v["batch_id"]))];
    out.push(String::new());
    out.push(render(
        &["EXECUTION", "MODE", "STATUS", "STARTED", "MS", "ERROR"],
        &rows(&v["executions"], |e| {
            vec![
                cell(&e["execution_name"]),
                cell(&e["mode"]),
                cell(&e["status"]),
                time(&e["started_at"]),
                cell(&e["duration_ms"]),
                cell(&e["error_message"]),
            ]
        }),
    ));
    out.push(String::new());
    out.push(render(
        &[
            "SOURCE", "FILE", "CONVERT", "MAPPING", "ROWS", "LOAD", "ROWS", "ERROR",
        ],
        &rows(&v["files"], |f| {
            vec![
                cell(&f["source_system"]),
                cell(&f["physical_file_name"]),
                cell(&f["convert_status"]),
                cell(&f["mapping_validation_status"]),
                cell(&f["row_validation_status"]),
                cell(&f["load_status"]),
                cell(&f["total_rows"]),
                cell(&f["error_message"]),
            ]
        }),
    ));
    out.push(String::new());
    out.push(render(
        &[
            "ROW LEDGER",
            "READ",
            "BLANK",
            "PARQUET",
            "CHECKED",
            "AS IS",
            "NULLED",
            "FLAGGED",
            "REFUSED",
            "COPIED",
            "IN BRONZE",
            "AT FINALISE",
            "RECONCILIATION",
        ],
        &rows(&v["files"], |f| {
            let l = &f["ledger"];
            vec![
                cell(&f["physical_file_name"]),
                cell(&l["rows_read"]),
                cell(&l["rows_blank"]),
                cell(&l["rows_parquet"]),
                cell(&l["rows_checked"]),
                cell(&l["rows_as_is"]),
                cell(&l["rows_nulled"]),
                cell(&l["rows_flagged"]),
                cell(&l["rows_refused"]),
                cell(&l["rows_copied"]),
                cell(&l["rows_in_bronze"]),
                cell(&l["rows_at_finalise"]),
                match f["reconciliation"].as_str() {
                    Some("broken") => format!("BROKEN: {}", cell(&l["problem"])),
                    Some(r) => r.to_string(),
                    None => "-".into(),
                },
            ]
        }),
    ));
    out.push(String::new());
    out.push(steps(&v["steps"]));
    let mails = rows(&v["mails"], |m| {
        vec![
            cell(&m["execution_name"]),
            cell(&m["status"]),
            cell(&m["attempts"]),
            cell(&m["last_error"]),
        ]
    });
    if !mails.is_empty() {
        out.push(String::new());
        out.push(render(&["MAIL FOR", "STATUS", "ATTEMPTS", "ERROR"], &mails));
    }
    out.join("\n")
}

fn steps(v: &Value) -> String {
    let r = rows(v, |s| {
        vec![
            cell(&s["family"]),
            cell(&s["name"]),
            cell(&s["status"]),
            cell(&s["rows_affected"]),
            cell(&s["duration_ms"]),
            cell(&s["execution_name"]),
            cell(&s["error_message"]),
        ]
    });
    if r.is_empty() {
        return "no SQL step has run".into();
    }
    render(
        &[
            "STAGE",
            "STEP",
            "STATUS",
            "ROWS",
            "MS",
            "EXECUTION",
            "ERROR",
        ],
        &r,
    )
}

pub fn logs(v: &Value) -> String {
    let mut out = vec![format!(
        "{} {} — logs",
        cell(&v["client"]),
        cell(&v["batch_id"])
    )];
    let sections: [(&str, &[&str], &str); 3] = [
        (
            "mapping_validation",
            &[
                "physical_file_name",
                "status",
                "missing_columns",
                "extra_columns",
                "message",
            ],
            "MAPPING VALIDATION",
        ),
        (
            "row_validation",
            &[
                "physical_file_name",
                "rule",
                "column_name",
                "failed_rows",
                "severity",
                "sample",
            ],
            "ROW VALIDATION",
        ),
        (
            "load_errors",
            &["physical_file_name", "target_table", "error_message"],
            "LOAD ERRORS",
        ),
    ];
    for (key, cols, title) in sections {
        out.push(String::new());
        out.push(format!("{title}:"));
        let r = rows(&v[key], |l| cols.iter().map(|c| cell(&l[*c])).collect());
        if r.is_empty() {
            out.push("  none".into());
        } else {
            let headers: Vec<String> = cols.iter().map(|c| c.to_uppercase()).collect();
            let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
            out.push(render(&headers, &r));
        }
    }
    out.push(String::new());
    out.push("SQL STEPS:".into());
    out.push(steps(&v["steps"]));
    out.join("\n")
}

/// `muara agent once`: counts, then every failure, then (dry run) the plan.
pub fn agent_run(s: &muara_agent::Summary) -> String {
    let r = &s.report;
    let c = &r.counts;
    let mut out = format!(
        "run {} on {}{}\n",
        r.run_id,
        r.host,
        if r.dry_run {
            " (dry run: nothing changed)"
        } else {
            ""
        }
    );
    out.push_str(&render(
        &[
            "seen",
            "uploaded",
            "already there",
            "unchanged",
            "waiting",
            "failed",
            "orphans",
            "bytes sent",
        ],
        &[vec![
            c.seen.to_string(),
            c.uploaded.to_string(),
            c.already_present.to_string(),
            c.unchanged.to_string(),
            c.waiting.to_string(),
            c.failed.to_string(),
            c.orphans.to_string(),
            c.bytes_uploaded.to_string(),
        ]],
    ));
    if !r.failures.is_empty() {
        out.push_str("\nfailures\n");
        out.push_str(&failures(&r.failures));
    }
    if !s.planned.is_empty() {
        out.push_str("\nwould upload\n");
        let rows: Vec<Vec<String>> = s
            .planned
            .iter()
            .map(|(f, k, b)| vec![f.clone(), k.clone(), b.to_string()])
            .collect();
        out.push_str(&render(&["file", "key", "bytes"], &rows));
    }
    if let Some(k) = &s.report_key {
        out.push_str(&format!("\nreport: {k}\n"));
    }
    out
}

fn failures(list: &[muara_recordings::report::Failure]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|f| {
            vec![
                f.path.clone(),
                f.call_id.clone().unwrap_or_default(),
                f.stage.clone(),
                f.reason.clone(),
                if f.will_retry {
                    "next run"
                } else {
                    "when changed"
                }
                .to_string(),
            ]
        })
        .collect();
    render(&["file", "call", "stage", "reason", "retried"], &rows)
}

/// `muara agent status`.
pub fn agent_status(s: &muara_agent::run::Status) -> String {
    let mut out = format!("journal {}\n", s.journal);
    let rows: Vec<Vec<String>> = s
        .by_state
        .iter()
        .map(|(k, v)| vec![k.clone(), v.to_string()])
        .collect();
    out.push_str(&render(&["state", "recordings"], &rows));
    if !s.failures.is_empty() {
        out.push_str("\nfailures\n");
        out.push_str(&failures(&s.failures));
    }
    out
}

/// The answer to `muara batch start|restart|reprocess|refresh` in a sentence or two.
pub fn run_outcome(client: &str, mode: &str, v: &Value) -> String {
    let text = |k: &str| v[k].as_str().unwrap_or("?").to_string();
    match v["outcome"].as_str().unwrap_or("") {
        "started" => format!(
            "started {mode} of {client} {}: execution {}\nfollow it with: muara batch status {client} {}",
            text("batch_id"),
            text("name"),
            text("batch_id")
        ),
        "duplicate" => format!(
            "not started: execution {} exists already (a run is started once per name)",
            text("name")
        ),
        "busy" => format!("not started: {client} is busy — {}", text("detail")),
        "unlocked" => format!(
            "unlocked {client}: the lease of {} is free",
            text("previous_holder")
        ),
        "not_locked" => format!("nothing to unlock: no run of {client} holds the lease"),
        "nothing_to_do" => format!("nothing to do for {client}: {}", text("detail")),
        "unknown_client" => format!(
            "not started: {client} is not a configured client; {} incoming file(s) moved to failed/",
            v["moved_to_failed"].as_u64().unwrap_or(0)
        ),
        other => format!("{other}: {v}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_line_up_and_nulls_show_as_dashes() {
        let t = render(
            &["A", "LONGER"],
            &[
                vec!["xyz".into(), "1".into()],
                vec![cell(&Value::Null), "22".into()],
            ],
        );
        assert_eq!(t, "A    LONGER\nxyz  1\n-    22");
    }

    #[test]
    fn a_batch_list_reads_as_a_table() {
        let v = json!({"client": "demo", "batches": [
            {"batch_id": "BATCH000001", "status": "PARTIAL", "mode": "start", "executions": 1,
             "files": 6, "files_loaded": 5, "first_started_at": "2026-11-22T05:00:00.123+00:00",
             "finished_at": null}
        ]});
        let t = batches(&v);
        assert!(t.starts_with("BATCH"), "{t}");
        assert!(t.contains("BATCH000001  PARTIAL  start"), "{t}");
        assert!(t.contains("5/6"), "{t}");
        assert!(t.contains("2026-11-22 05:00:00"), "{t}");
        assert_eq!(
            batches(&json!({"client": "x", "batches": []})),
            "client x has no batch yet"
        );
    }
}
