//! Least privilege for configured SQL steps.
//!
//! A client's steps run as its own role, `muara_client_<client_id>` (NOLOGIN), through
//! `muara_steps.run_<client_id>(script text)`: a `SECURITY DEFINER` PL/pgSQL function owned by
//! that role which `EXECUTE`s the script. `SET ROLE` and `RESET ROLE` are refused inside a
//! security-definer function, so — unlike a `SET ROLE` before the script — a step cannot climb
//! back to the platform's own role. The role may read and write the rows of
//! `bronze_<client>`, `silver_<client>` and `gold_<client>` and run their routines, and create
//! objects in silver and gold (not in bronze: no step can own a bronze table or hang a trigger
//! on one the platform loads);
//! it reaches no other schema (`tools`, `auth`, `audit`, the other pipelines', other clients'),
//! no server file or program, and cannot create roles or schemas.
//!
//! [`prepare`] makes the role and its runner on a client's first SQL stage and grants the
//! schemas as they are at every stage (tables made since by the platform included). It needs
//! `CREATEROLE` (an RDS master user has it; the embedded cluster's user is a superuser).
//! Materialised view refreshes are not client SQL and run as the platform (PostgreSQL runs a
//! view's query as the view's owner).

use crate::ident;
use deadpool_postgres::Pool;
use muara_core::Result;
use muara_db::pg_error;
use muara_db::pool::pool_error;

/// The role a client's steps run as.
pub fn role(client_id: i32) -> String {
    format!("muara_client_{client_id}")
}

/// The function a client's steps run through (schema-qualified).
pub fn runner(client_id: i32) -> String {
    format!("muara_steps.run_{client_id}")
}

/// Makes the client's role and runner when missing and grants the role the client's schemas
/// as they are now. Returns the runner's name.
pub async fn prepare(pool: &Pool, client_id: i32, client: &str) -> Result<String> {
    let role = role(client_id);
    let runner = runner(client_id);
    let mut c = pool.get().await.map_err(pool_error)?;
    let tx = c
        .transaction()
        .await
        .map_err(|e| pg_error("preparing the step role", e))?;
    let fail = |e| pg_error(&format!("preparing the step role {role}"), e);
    // One preparer per client at a time: concurrent GRANTs on one object collide.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('muara_steps'), $1)",
        &[&client_id],
    )
    .await
    .map_err(fail)?;
    let exists = tx
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)",
            &[&role],
        )
        .await
        .map_err(fail)?
        .get::<_, bool>(0);
    if !exists {
        tx.batch_execute(&format!("CREATE ROLE {role} NOLOGIN NOINHERIT"))
            .await
            .map_err(fail)?;
    }
    // The platform must be able to act as the role (to hand it the runner, and to refresh a
    // view a step made); a superuser always can.
    let member = tx
        .query_one("SELECT pg_has_role(current_user, $1, 'MEMBER')", &[&role])
        .await
        .map_err(fail)?
        .get::<_, bool>(0);
    if !member {
        tx.batch_execute(&format!("GRANT {role} TO CURRENT_USER"))
            .await
            .map_err(fail)?;
    }
    let has_runner = tx
        .query_one(
            "SELECT to_regprocedure($1) IS NOT NULL",
            &[&format!("{runner}(text)")],
        )
        .await
        .map_err(fail)?
        .get::<_, bool>(0);
    if !has_runner {
        // The owner of a function needs CREATE on its schema: granted for the hand-over only.
        tx.batch_execute(&format!(
            "CREATE FUNCTION {runner}(script text) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER AS $runner$
             DECLARE n bigint;
             BEGIN
                 EXECUTE script;
                 GET DIAGNOSTICS n = ROW_COUNT;
                 RETURN n;
             END
             $runner$;
             REVOKE ALL ON FUNCTION {runner}(text) FROM PUBLIC;
             GRANT CREATE ON SCHEMA muara_steps TO {role};
             ALTER FUNCTION {runner}(text) OWNER TO {role};
             REVOKE CREATE ON SCHEMA muara_steps FROM {role};"
        ))
        .await
        .map_err(fail)?;
    }
    let layers = ["bronze", "silver", "gold"].map(|l| format!("{l}_{client}"));
    let present: Vec<String> = tx
        .query(
            "SELECT nspname::text FROM pg_namespace WHERE nspname = ANY($1)",
            &[&layers.to_vec()],
        )
        .await
        .map_err(fail)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut grants = String::new();
    for schema in &layers {
        if !present.contains(schema) {
            continue;
        }
        let s = ident::quote(schema)?;
        // Bronze tables are the platform's (no CREATE there): a step may change their rows
        // (the row ledger then notices) but can own none, so it can hang no trigger on a
        // table the platform loads.
        let create = if schema.starts_with("bronze_") {
            ""
        } else {
            ", CREATE"
        };
        grants.push_str(&format!(
            "GRANT USAGE{create} ON SCHEMA {s} TO {role};
             GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA {s} TO {role};
             GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {s} TO {role};
             GRANT EXECUTE ON ALL ROUTINES IN SCHEMA {s} TO {role};"
        ));
    }
    if !grants.is_empty() {
        tx.batch_execute(&grants).await.map_err(fail)?;
    }
    tx.commit().await.map_err(fail)?;
    Ok(runner)
}
