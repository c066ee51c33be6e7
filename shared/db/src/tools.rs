//! Reads of the `tools` schema more than one crate needs.

use crate::pg_error;
use muara_core::{Error, Result};

/// A client's id from its name (`tools.client_reference.client_schema`); not found otherwise.
pub async fn client_id(c: &impl tokio_postgres::GenericClient, client: &str) -> Result<i32> {
    c.query_opt(
        "SELECT client_id FROM tools.client_reference WHERE client_schema = $1",
        &[&client],
    )
    .await
    .map_err(|e| pg_error("reading tools.client_reference", e))?
    .map(|r| r.get(0))
    .ok_or_else(|| Error::not_found(format!("no client {client:?}")))
}
