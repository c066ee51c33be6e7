//! `muara up --demo`: a demo client (`demo`) with CRM and ERP sources — customers, products,
//! sales orders; customer demographics, locations, product categories — whose files carry the
//! dirt real extracts have: duplicate keys, null keys, stray whitespace, inconsistent codes,
//! bad dates, and one file with a column nobody mapped. Generated here, never committed.

use bytes::Bytes;
use muara_batch::model::Deps;
use muara_core::Result;
use muara_core::lcg::Lcg;
use muara_core::ports::PutOptions;
use muara_db::pg_error;
use muara_db::pool::pool_error;

pub const CLIENT: &str = "demo";

/// `(source, logical file, extension, table, policy, [(source column, target column, type)], [required], [keys])`
type Spec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str, &'static str)],
    &'static [&'static str],
    &'static [&'static str],
);

const SPECS: &[Spec] = &[
    (
        "crm",
        "cust_info",
        "csv",
        "crm_cust_info",
        "warning",
        &[
            ("cst_id", "cst_id", "integer"),
            ("cst_key", "cst_key", "text"),
            ("cst_firstname", "cst_firstname", "text"),
            ("cst_lastname", "cst_lastname", "text"),
            ("cst_marital_status", "cst_marital_status", "text"),
            ("cst_gndr", "cst_gndr", "text"),
            ("cst_create_date", "cst_create_date", "date"),
        ],
        &["cst_id"],
        &["cst_id"],
    ),
    (
        "crm",
        "prd_info",
        "csv",
        "crm_prd_info",
        "warning",
        &[
            ("prd_id", "prd_id", "integer"),
            ("prd_key", "prd_key", "text"),
            ("prd_nm", "prd_nm", "text"),
            ("prd_cost", "prd_cost", "numeric"),
            ("prd_line", "prd_line", "text"),
            ("prd_start_dt", "prd_start_dt", "date"),
        ],
        &["prd_id", "prd_key"],
        &["prd_id"],
    ),
    (
        "crm",
        "sales_details",
        "ndjson",
        "crm_sales_details",
        "fatal",
        &[
            ("sls_ord_num", "sls_ord_num", "text"),
            ("sls_prd_key", "sls_prd_key", "text"),
            ("sls_cust_id", "sls_cust_id", "integer"),
            ("sls_order_dt", "sls_order_dt", "date"),
            ("sls_quantity", "sls_quantity", "integer"),
            ("sls_price", "sls_price", "numeric"),
        ],
        &["sls_ord_num"],
        &[],
    ),
    (
        "erp",
        "cust_az12",
        "csv",
        "erp_cust_az12",
        "warning",
        &[
            ("CID", "cid", "text"),
            ("BDATE", "bdate", "date"),
            ("GEN", "gen", "text"),
        ],
        &["CID"],
        &["CID"],
    ),
    (
        "erp",
        "loc_a101",
        "csv",
        "erp_loc_a101",
        "warning",
        // Deliberately broken: the files say CNTRY. The failed file, its reason and the fix
        // (one mapping row, then a restart) are the console's walkthrough.
        &[("CID", "cid", "text"), ("COUNTRY", "cntry", "text")],
        &["CID"],
        &["CID"],
    ),
    (
        "erp",
        "px_cat_g1v2",
        "json",
        "erp_px_cat_g1v2",
        "warning",
        &[
            ("ID", "id", "text"),
            ("CAT", "cat", "text"),
            ("SUBCAT", "subcat", "text"),
            ("MAINTENANCE", "maintenance", "text"),
        ],
        &["ID"],
        &["ID"],
    ),
];

const FIRST: &[&str] = &[
    "Budi", "Siti", "Agus", "Dewi", "Rina", "Joko", "Putri", "Andi", "Maya", "Hendra",
];
const LAST: &[&str] = &[
    "Santoso", "Wijaya", "Pratama", "Lestari", "Saputra", "Hidayat", "Kusuma", "Nugroho",
];
const COUNTRIES: &[&str] = &[
    "Indonesia",
    "ID",
    "Malaysia",
    "Singapore",
    "SG",
    " Indonesia ",
    "",
];

/// The header of the demo's customer file (`crm/cust_info.csv`).
pub const CUSTOMERS_HEADER: &str =
    "cst_id,cst_key,cst_firstname,cst_lastname,cst_marital_status,cst_gndr,cst_create_date\n";

/// `n` valid customer lines for the demo's customer file, ids `first_id..first_id + n` (no
/// header): a load of any size whose row count is known, for tests and drills.
pub fn customer_rows(first_id: u64, n: u64) -> String {
    (first_id..first_id.saturating_add(n))
        .map(|id| {
            format!(
                "{id},AW{id:08},First{},Last{},M,F,2025-{:02}-{:02}\n",
                id % 97,
                id % 89,
                1 + id % 12,
                1 + id % 28
            )
        })
        .collect()
}

/// A whole customer file: header and [`customer_rows`].
pub fn customers_csv(first_id: u64, n: u64) -> String {
    format!("{CUSTOMERS_HEADER}{}", customer_rows(first_id, n))
}

fn csv_line(fields: &[String]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect();
    quoted.join(",") + "\n"
}

/// The key of demo product `i` (its category is `CO_{i % 37}`).
fn product_key(i: u64) -> String {
    format!("CO-{:02}-FR-R92B-{i:02}", i % 37)
}

fn files() -> Vec<(&'static str, String, String)> {
    let mut r = Lcg(42);
    let mut out = Vec::new();
    // CRM customers: duplicates, a null key, stray whitespace, M/F/Male/Female/blank, a bad date.
    let mut s = String::from(
        "cst_id,cst_key,cst_firstname,cst_lastname,cst_marital_status,cst_gndr,cst_create_date\n",
    );
    for i in 0..500u64 {
        let id = if i == 17 {
            String::new()
        } else {
            (11000 + i).to_string()
        };
        let gndr = ["M", "F", "Male", "Female", ""][r.next(5) as usize];
        let date = if i == 99 {
            "2025-02-30".to_string()
        } else {
            format!("2025-{:02}-{:02}", 1 + r.next(12), 1 + r.next(28))
        };
        let first = format!(
            "{}{}",
            if i % 50 == 0 { "  " } else { "" },
            FIRST[r.next(10) as usize]
        );
        s += &csv_line(&[
            id,
            format!("AW{:08}", 11000 + i),
            first,
            LAST[r.next(8) as usize].into(),
            ["S", "M", "Single", ""][r.next(4) as usize].into(),
            gndr.into(),
            date,
        ]);
        if i % 97 == 0 {
            s += &csv_line(&[
                (11000 + i).to_string(),
                format!("AW{:08}", 11000 + i),
                "Duplicate".into(),
                "Row".into(),
                "M".into(),
                "M".into(),
                "2025-06-01".into(),
            ]);
        }
    }
    out.push(("crm", "cust_info.csv".to_string(), s));
    // CRM products: inconsistent line codes, a missing cost, one bad start date.
    let mut s = String::from("prd_id,prd_key,prd_nm,prd_cost,prd_line,prd_start_dt\n");
    for i in 0..60u64 {
        let cost = if i == 5 {
            String::new()
        } else {
            format!("{}", 10 + r.next(990))
        };
        let start = if i == 33 {
            "31/12/2024".to_string()
        } else {
            format!("2024-{:02}-01", 1 + r.next(12))
        };
        s += &csv_line(&[
            (200 + i).to_string(),
            product_key(i),
            format!("Product {i}, \"edition\" {}", r.next(9)),
            cost,
            ["M", "R", "S", "T", " M "][r.next(5) as usize].into(),
            start,
        ]);
    }
    out.push(("crm", "prd_info.csv".to_string(), s));
    // CRM sales (NDJSON): clean, typed.
    let mut s = String::new();
    for i in 0..2000u64 {
        s += &serde_json::json!({
            "sls_ord_num": format!("SO{}", 43697 + i),
            "sls_prd_key": product_key(r.next(60)),
            "sls_cust_id": 11000 + r.next(500),
            "sls_order_dt": format!("2025-{:02}-{:02}", 1 + r.next(12), 1 + r.next(28)),
            "sls_quantity": 1 + r.next(5),
            "sls_price": format!("{}.{:02}", 10 + r.next(2000), r.next(100)),
        })
        .to_string();
        s.push('\n');
    }
    out.push(("crm", "sales_details.ndjson".to_string(), s));
    // ERP demographics: 'NAS' prefixes, future birth dates, gender codes.
    let mut s = String::from("CID,BDATE,GEN\n");
    for i in 0..500u64 {
        let cid = if i % 3 == 0 {
            format!("NASAW{:08}", 11000 + i)
        } else {
            format!("AW{:08}", 11000 + i)
        };
        let bdate = if i == 7 {
            "2090-01-01".into()
        } else {
            format!(
                "19{}-{:02}-{:02}",
                50 + r.next(50),
                1 + r.next(12),
                1 + r.next(28)
            )
        };
        s += &csv_line(&[
            cid,
            bdate,
            ["M", "F", "Male", "Female", " "][r.next(5) as usize].into(),
        ]);
    }
    out.push(("erp", "CUST_AZ12.csv".to_string(), s));
    // ERP locations: CNTRY, which the demo's mapping calls COUNTRY — this file fails mapping
    // validation until the mapping is fixed.
    let mut s = String::from("CID,CNTRY\n");
    for i in 0..500u64 {
        s += &csv_line(&[
            format!("AW-{:08}", 11000 + i),
            COUNTRIES[r.next(7) as usize].into(),
        ]);
    }
    out.push(("erp", "LOC_A101.csv".to_string(), s));
    // ERP categories: a JSON array.
    let cats: Vec<serde_json::Value> = (0..37)
        .map(|i| {
            let cat = ["Bikes", "Components", "Clothing", "Accessories"][i % 4];
            let maintenance = if i % 2 == 0 { "Yes" } else { "No" };
            serde_json::json!({"ID": format!("CO_{i:02}"), "CAT": cat, "SUBCAT": format!("Sub {i}"), "MAINTENANCE": maintenance})
        })
        .collect();
    out.push((
        "erp",
        "PX_CAT_G1V2.json".to_string(),
        serde_json::to_string_pretty(&cats).unwrap_or_default(),
    ));
    out
}

/// Silver and gold for the demo: the schemas, procedures, functions and views
/// (`demo_downstream.sql`), and their configuration — every step kind, a dependency, and two
/// materialised views.
async fn seed_steps(tx: &tokio_postgres::Transaction<'_>, client_id: i32) -> Result<()> {
    tx.batch_execute(include_str!("demo_downstream.sql"))
        .await
        .map_err(|e| pg_error("demo: silver and gold objects", e))?;
    // Bronze -> silver: one procedure per table, all at the same order (they run together).
    for table in [
        "crm_cust_info",
        "crm_prd_info",
        "crm_sales_details",
        "erp_cust_az12",
        "erp_loc_a101",
        "erp_px_cat_g1v2",
    ] {
        tx.execute(
            "INSERT INTO tools.transformation_config (client_id, procedure_name, execution_order, step_kind)
             VALUES ($1, $2, 1, 'procedure')",
            &[&client_id, &format!("silver_demo.load_{table}")],
        )
        .await
        .map_err(|e| pg_error("demo: transformation_config", e))?;
    }
    // Silver -> gold: two dimension functions, then the fact as SQL text.
    let mut ids = Vec::new();
    for (name, kind, sql, ty) in [
        (
            "gold_demo.load_dim_customers",
            "function",
            None,
            "dimension",
        ),
        ("gold_demo.load_dim_products", "function", None, "dimension"),
        (
            "gold_demo.fact_sales",
            "sql",
            Some(include_str!("demo_fact_sales.sql")),
            "fact",
        ),
    ] {
        let row = tx
            .query_one(
                "INSERT INTO tools.integration_config (client_id, procedure_name, step_kind, sql_text, integration_type)
                 VALUES ($1, $2, $3, $4, $5) RETURNING integration_id",
                &[&client_id, &name, &kind, &sql, &ty],
            )
            .await
            .map_err(|e| pg_error("demo: integration_config", e))?;
        ids.push(row.get::<_, i32>(0));
    }
    for dim in &ids[..2] {
        tx.execute(
            "INSERT INTO tools.integration_dependencies (integration_id, depends_on_id) VALUES ($1, $2)",
            &[&ids[2], dim],
        )
        .await
        .map_err(|e| pg_error("demo: integration_dependencies", e))?;
    }
    for mv in [
        "gold_demo.mv_customer_lifetime_value",
        "gold_demo.mv_order_gap",
    ] {
        tx.execute(
            "INSERT INTO tools.mv_refresh_config (client_id, mv_name, refresh_order, refresh_concurrently)
             VALUES ($1, $2, 1, true)",
            &[&client_id, &mv],
        )
        .await
        .map_err(|e| pg_error("demo: mv_refresh_config", e))?;
    }
    Ok(())
}

/// Creates the demo client, its configuration and bronze tables, and drops its files into
/// `raw/demo/{crm,erp}/incoming/` — once: a client that exists already is left alone.
pub async fn seed(deps: &Deps) -> Result<bool> {
    let mut c = deps.pool.get().await.map_err(pool_error)?;
    let tx = c
        .transaction()
        .await
        .map_err(|e| pg_error("demo: begin", e))?;
    let inserted = tx
        .query_opt(
            "INSERT INTO tools.client_reference (client_schema) VALUES ($1) ON CONFLICT (client_schema) DO NOTHING RETURNING client_id",
            &[&CLIENT],
        )
        .await
        .map_err(|e| pg_error("demo: client", e))?;
    let Some(row) = inserted else {
        return Ok(false);
    };
    let client_id: i32 = row.get(0);
    tx.batch_execute("CREATE SCHEMA IF NOT EXISTS bronze_demo")
        .await
        .map_err(|e| pg_error("demo: schema", e))?;
    for (source, logical, ext, table, policy, cols, required, keys) in SPECS {
        let source_type = match *ext {
            "ndjson" => "ndjson",
            "json" => "json",
            _ => "csv",
        };
        let defs: Vec<String> = cols
            .iter()
            .map(|(_, t, ty)| {
                format!(
                    "{} {}",
                    muara_batch::ident::quote(t).unwrap_or_default(),
                    ty
                )
            })
            .collect();
        // Bronze keeps what came: typed columns, plus the batch, load time and source file of every row.
        tx.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS bronze_demo.{} ({}, dwh_batch_id text NOT NULL, dwh_load_ts timestamptz NOT NULL, dwh_source_file text);
             CREATE INDEX IF NOT EXISTS {}_batch ON bronze_demo.{} (dwh_batch_id);",
            muara_batch::ident::quote(table)?,
            defs.join(", "),
            table,
            muara_batch::ident::quote(table)?,
        ))
        .await
        .map_err(|e| pg_error("demo: bronze table", e))?;
        let cfg = tx
            .query_one(
                "INSERT INTO tools.client_config (client_id, logical_source_file, source_system, source_type, target_schema, target_table, row_validation_policy)
                 VALUES ($1, $2, $3, $4, 'bronze_demo', $5, $6) RETURNING config_id",
                &[&client_id, logical, source, &source_type, table, policy],
            )
            .await
            .map_err(|e| pg_error("demo: client_config", e))?;
        let config_id: i32 = cfg.get(0);
        for (i, (src, tgt, ty)) in cols.iter().enumerate() {
            let ordinal = i32::try_from(i).unwrap_or(0);
            tx.execute(
                "INSERT INTO tools.column_mapping (config_id, source_column, target_column, target_data_type, ordinal) VALUES ($1, $2, $3, $4, $5)",
                &[&config_id, src, tgt, ty, &ordinal],
            )
            .await
            .map_err(|e| pg_error("demo: column_mapping", e))?;
        }
        for r in *required {
            let is_key = keys.contains(r);
            tx.execute("INSERT INTO tools.required_columns (config_id, column_name, is_key) VALUES ($1, $2, $3)", &[&config_id, r, &is_key])
                .await
                .map_err(|e| pg_error("demo: required_columns", e))?;
        }
    }
    seed_steps(&tx, client_id).await?;
    tx.commit().await.map_err(|e| pg_error("demo: commit", e))?;
    // Written aside first, then moved into incoming/ together (renames are quick), as an
    // uploader should: the batch the files trigger finds all of them there.
    let files = files();
    for (source, name, body) in &files {
        let key = muara_batch::layout::raw_key(CLIENT, source, "staging", name);
        deps.store
            .put(&key, Bytes::from(body.clone()), &PutOptions::default())
            .await?;
    }
    for (source, name, _) in &files {
        deps.store
            .rename(
                &muara_batch::layout::raw_key(CLIENT, source, "staging", name),
                &muara_batch::layout::raw_key(CLIENT, source, "incoming", name),
            )
            .await?;
    }
    tracing::info!(
        client = CLIENT,
        "demo client created; its files are in raw/demo/*/incoming/"
    );
    Ok(true)
}
