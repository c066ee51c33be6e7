//! Set lookups: which of many keys a table holds.

use muara_core::Result;

/// Which of `keys` a query finds: `sql` selects one text column for `$1` (a text array), e.g.
/// `SELECT raw_key FROM funnel.message WHERE raw_key = ANY($1)`; asked 1,000 keys at a time.
pub async fn present(
    client: &deadpool_postgres::Object,
    sql: &str,
    keys: &[String],
    what: &str,
) -> Result<std::collections::HashSet<String>> {
    let mut found = std::collections::HashSet::new();
    for chunk in keys.chunks(1000) {
        let chunk = chunk.to_vec();
        for r in client
            .query(sql, &[&chunk])
            .await
            .map_err(|e| crate::pg_error(what, e))?
        {
            found.insert(r.get::<_, String>(0));
        }
    }
    Ok(found)
}
