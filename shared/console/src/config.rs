//! The batch pipeline's configuration tables as data. Each [`Table`] says what its columns
//! hold and how a value is checked; every value reaches PostgreSQL as a bound parameter and
//! every column and table name comes from these constants, never from a request. Rows are
//! scoped to one client: a row of another client is "not found", a reference to another
//! client's configuration is refused.

use muara_core::names::is_sql_identifier as is_ident;
use muara_core::ports::{AuditEntry, Principal};
use muara_core::{Error, Result};
use muara_db::pg_error;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use tokio_postgres::types::{Json, ToSql};

/// One row of a configuration table, as PostgreSQL's `to_jsonb` writes it, plus the compound
/// `dependency_id` (`a:b`) of a dependency. Its columns are the table's, which [`TABLES`]
/// describes and [`schema`] tells the console, so it is kept as a JSON object: the generic
/// editor draws any table from the schema, and a column a migration adds reaches it unchanged.
pub type ConfigRow = Map<String, Value>;

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A SQL identifier (`[A-Za-z_][A-Za-z0-9_$]{0,62}`), as the pipeline quotes it.
    Ident,
    /// An identifier, optionally schema-qualified (`schema.name`).
    QualifiedIdent,
    /// Free text without control characters, at most `MAX_TEXT` characters.
    Text,
    /// SQL text (a step's script): may span lines.
    Sql,
    /// A PostgreSQL type name for a mapped column (`numeric(12,2)`, `timestamptz`, `text[]`).
    TypeName,
    Int {
        min: i32,
        max: i32,
    },
    Bool,
    Json,
    Enum(&'static [&'static str]),
    /// A `client_config.config_id` of the same client.
    ConfigRef,
    /// An `integration_config.integration_id` of the same client.
    IntegrationRef,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    /// Must be given when a row is created (otherwise the column's default applies).
    pub required: bool,
    /// May be set to null.
    pub nullable: bool,
}

/// How a table's rows belong to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The table has a `client_id` column.
    Client,
    /// Through `config_id` → `client_config`.
    Config,
    /// Through both `integration_id`s → `integration_config`.
    Integration,
}

#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    /// The key the routes use: a column, or `dependency_id` (`a:b`) for dependencies.
    pub key: &'static str,
    pub scope: Scope,
    pub fields: &'static [Field],
    pub has_updated_at: bool,
    /// Rows can be changed in place (dependencies are only added or removed).
    pub updatable: bool,
}

const MAX_TEXT: usize = 500;
const MAX_SQL: usize = 100_000;

const fn f(name: &'static str, kind: Kind, required: bool, nullable: bool) -> Field {
    Field {
        name,
        kind,
        required,
        nullable,
    }
}

const STEP_KINDS: &[&str] = &["procedure", "function", "sql"];
const TIMEOUT: Kind = Kind::Int {
    min: 1,
    max: 86_400,
};
const ORDER: Kind = Kind::Int {
    min: -1_000_000,
    max: 1_000_000,
};

pub const TABLES: &[Table] = &[
    Table {
        name: "client_config",
        key: "config_id",
        scope: Scope::Client,
        fields: &[
            f("logical_source_file", Kind::Text, true, false),
            f("source_system", Kind::Text, true, false),
            f(
                "source_type",
                Kind::Enum(&["csv", "xlsx", "json", "ndjson"]),
                true,
                false,
            ),
            f("target_schema", Kind::Ident, true, false),
            f("target_table", Kind::Ident, true, false),
            f("source_config", Kind::Json, false, true),
            f(
                "row_validation_policy",
                Kind::Enum(&["fatal", "warning"]),
                false,
                false,
            ),
            f("is_active", Kind::Bool, false, false),
        ],
        has_updated_at: true,
        updatable: true,
    },
    Table {
        name: "column_mapping",
        key: "mapping_id",
        scope: Scope::Config,
        fields: &[
            f("config_id", Kind::ConfigRef, true, false),
            f("source_column", Kind::Text, true, false),
            f("target_column", Kind::Ident, true, false),
            f("target_data_type", Kind::TypeName, false, true),
            f(
                "ordinal",
                Kind::Int {
                    min: 0,
                    max: 100_000,
                },
                false,
                true,
            ),
        ],
        has_updated_at: false,
        updatable: true,
    },
    Table {
        name: "required_columns",
        key: "required_id",
        scope: Scope::Config,
        fields: &[
            f("config_id", Kind::ConfigRef, true, false),
            f("column_name", Kind::Text, true, false),
            f("is_key", Kind::Bool, false, false),
        ],
        has_updated_at: false,
        updatable: true,
    },
    Table {
        name: "transformation_config",
        key: "transformation_id",
        scope: Scope::Client,
        fields: &[
            f("procedure_name", Kind::QualifiedIdent, true, false),
            f("step_kind", Kind::Enum(STEP_KINDS), false, false),
            f("sql_text", Kind::Sql, false, true),
            f("execution_order", ORDER, false, false),
            f("timeout_seconds", TIMEOUT, false, false),
            f("is_active", Kind::Bool, false, false),
        ],
        has_updated_at: false,
        updatable: true,
    },
    Table {
        name: "integration_config",
        key: "integration_id",
        scope: Scope::Client,
        fields: &[
            f("procedure_name", Kind::QualifiedIdent, true, false),
            f(
                "integration_type",
                Kind::Enum(&["dimension", "fact", "other"]),
                false,
                false,
            ),
            f("step_kind", Kind::Enum(STEP_KINDS), false, false),
            f("sql_text", Kind::Sql, false, true),
            f("execution_order", ORDER, false, false),
            f("timeout_seconds", TIMEOUT, false, false),
            f("is_active", Kind::Bool, false, false),
        ],
        has_updated_at: false,
        updatable: true,
    },
    Table {
        name: "integration_dependencies",
        key: "dependency_id",
        scope: Scope::Integration,
        fields: &[
            f("integration_id", Kind::IntegrationRef, true, false),
            f("depends_on_id", Kind::IntegrationRef, true, false),
        ],
        has_updated_at: false,
        updatable: false,
    },
    Table {
        name: "mv_refresh_config",
        key: "mv_id",
        scope: Scope::Client,
        fields: &[
            f("mv_name", Kind::QualifiedIdent, true, false),
            f("refresh_order", ORDER, false, false),
            f("refresh_concurrently", Kind::Bool, false, false),
            f("timeout_seconds", TIMEOUT, false, false),
            f("is_active", Kind::Bool, false, false),
        ],
        has_updated_at: false,
        updatable: true,
    },
];

pub fn table(name: &str) -> Result<&'static Table> {
    TABLES.iter().find(|t| t.name == name).ok_or_else(|| {
        Error::not_found(format!(
            "no configuration table {name:?} (tables: {})",
            TABLES.iter().map(|t| t.name).collect::<Vec<_>>().join(", ")
        ))
    })
}

/// How the console edits a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Input {
    Text,
    Int,
    Bool,
    Json,
    Sql,
    Enum,
    /// A row of another table of the same client (`ref` names it).
    Ref,
}

/// One field of a table, as the console's forms draw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldSchema {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub input: Input,
    /// The choices of an `enum` field.
    pub options: Option<&'static [&'static str]>,
    pub required: bool,
    pub nullable: bool,
    /// The table a `ref` field points into.
    #[serde(rename = "ref")]
    pub reference: Option<&'static str>,
    /// A boolean field's initial value.
    pub default: Option<bool>,
}

/// One table, as the console's forms draw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSchema {
    pub key: &'static str,
    /// The field tying a row to its parent row (`config_id`), if any.
    pub parent: Option<&'static str>,
    pub updatable: bool,
    pub fields: Vec<FieldSchema>,
}

/// Every table by name.
pub type Schema = BTreeMap<&'static str, TableSchema>;

/// The schema the console draws its forms from: [`TABLES`] as the page reads it.
pub fn schema() -> Schema {
    TABLES
        .iter()
        .map(|t| {
            let fields = t
                .fields
                .iter()
                .map(|f| {
                    let reference = match f.kind {
                        Kind::ConfigRef => Some("client_config"),
                        Kind::IntegrationRef => Some("integration_config"),
                        _ => None,
                    };
                    let default = match (f.kind, f.name) {
                        (Kind::Bool, "is_active") => Some(true),
                        (Kind::Bool, _) => Some(false),
                        _ => None,
                    };
                    let (input, options) = match f.kind {
                        Kind::Int { .. } => (Input::Int, None),
                        Kind::Bool => (Input::Bool, None),
                        Kind::Json => (Input::Json, None),
                        Kind::Sql => (Input::Sql, None),
                        Kind::Enum(o) => (Input::Enum, Some(o)),
                        Kind::ConfigRef | Kind::IntegrationRef => (Input::Ref, None),
                        Kind::Ident | Kind::QualifiedIdent | Kind::Text | Kind::TypeName => {
                            (Input::Text, None)
                        }
                    };
                    FieldSchema {
                        name: f.name,
                        input,
                        options,
                        required: f.required,
                        nullable: f.nullable,
                        reference,
                        default,
                    }
                })
                .collect();
            let parent = (t.scope == Scope::Config).then_some("config_id");
            let table = TableSchema {
                key: t.key,
                parent,
                updatable: t.updatable,
                fields,
            };
            (t.name, table)
        })
        .collect()
}

fn is_type_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || " _(),[]".contains(c))
        && s.matches('(').count() == s.matches(')').count()
}

/// A checked value, ready to bind.
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    Text(Option<String>),
    Int(Option<i32>),
    Bool(Option<bool>),
    Json(Option<Value>),
}

impl Bound {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Bound::Text(v) => v,
            Bound::Int(v) => v,
            Bound::Bool(v) => v,
            Bound::Json(v) => v,
        }
    }
}

/// Checks one field's value from a request.
pub fn check(table: &Table, field: &Field, v: &Value) -> Result<Bound> {
    let bad = |why: &str| Error::invalid(format!("{}.{}: {why}", table.name, field.name));
    if v.is_null() {
        if !field.nullable {
            return Err(bad("must not be empty"));
        }
        return Ok(match field.kind {
            Kind::Int { .. } | Kind::ConfigRef | Kind::IntegrationRef => Bound::Int(None),
            Kind::Bool => Bound::Bool(None),
            Kind::Json => Bound::Json(None),
            _ => Bound::Text(None),
        });
    }
    let text = |max: usize, multiline: bool| -> Result<String> {
        let s = v.as_str().ok_or_else(|| bad("must be a string"))?;
        let s = if multiline { s } else { s.trim() };
        if s.is_empty() {
            return Err(bad("must not be empty"));
        }
        if s.chars().count() > max {
            return Err(bad(&format!("is longer than {max} characters")));
        }
        if s.chars()
            .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t' || c == '\r')))
        {
            return Err(bad("must not contain control characters"));
        }
        Ok(s.to_string())
    };
    Ok(match field.kind {
        Kind::Text => Bound::Text(Some(text(MAX_TEXT, false)?)),
        Kind::Sql => Bound::Text(Some(text(MAX_SQL, true)?)),
        Kind::Ident => {
            let s = text(63, false)?;
            if !is_ident(&s) {
                return Err(bad(&format!(
                    "{s:?} is not an accepted SQL identifier (letters, digits, _ and $, starting with a letter or _)"
                )));
            }
            Bound::Text(Some(s))
        }
        Kind::QualifiedIdent => {
            let s = text(127, false)?;
            let ok = match s.split_once('.') {
                Some((schema, name)) => is_ident(schema) && is_ident(name),
                None => is_ident(&s),
            };
            if !ok {
                return Err(bad(&format!(
                    "{s:?} is not an accepted SQL name (identifier or schema.identifier)"
                )));
            }
            Bound::Text(Some(s))
        }
        Kind::TypeName => {
            let s = text(63, false)?.to_ascii_lowercase();
            if !is_type_name(&s) {
                return Err(bad(&format!("{s:?} is not a PostgreSQL type name")));
            }
            Bound::Text(Some(s))
        }
        Kind::Enum(options) => {
            let s = text(63, false)?;
            if !options.contains(&s.as_str()) {
                return Err(bad(&format!("{s:?} is not one of {}", options.join(", "))));
            }
            Bound::Text(Some(s))
        }
        Kind::Int { min, max } => {
            let n = v.as_i64().ok_or_else(|| bad("must be a whole number"))?;
            if n < i64::from(min) || n > i64::from(max) {
                return Err(bad(&format!("must be between {min} and {max}")));
            }
            Bound::Int(Some(i32::try_from(n).map_err(|_| bad("out of range"))?))
        }
        Kind::ConfigRef | Kind::IntegrationRef => {
            let n = v.as_i64().ok_or_else(|| bad("must be a row id"))?;
            Bound::Int(Some(i32::try_from(n).map_err(|_| bad("is not a row id"))?))
        }
        Kind::Bool => Bound::Bool(Some(
            v.as_bool().ok_or_else(|| bad("must be true or false"))?,
        )),
        Kind::Json => {
            if !v.is_object() {
                return Err(bad("must be a JSON object"));
            }
            Bound::Json(Some(v.clone()))
        }
    })
}

/// Checks a request body: known fields only; on create, every required field.
pub fn check_row(
    table: &Table,
    body: &Value,
    create: bool,
) -> Result<Vec<(&'static Field, Bound)>> {
    let obj = body
        .as_object()
        .ok_or_else(|| Error::invalid(format!("{}: the body must be a JSON object", table.name)))?;
    let mut out = Vec::new();
    for (name, v) in obj {
        if name == table.key {
            continue; // the key in the body is ignored; the path names the row
        }
        let field = table
            .fields
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "{} has no editable field {name:?} (fields: {})",
                    table.name,
                    table
                        .fields
                        .iter()
                        .map(|f| f.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        out.push((field, check(table, field, v)?));
    }
    if create {
        for f in table.fields.iter().filter(|f| f.required) {
            if !out.iter().any(|(g, _)| g.name == f.name) {
                return Err(Error::invalid(format!(
                    "{}.{} is required",
                    table.name, f.name
                )));
            }
        }
    }
    if out.is_empty() {
        return Err(Error::invalid(format!("{}: nothing to change", table.name)));
    }
    Ok(out)
}

/// The SQL condition tying a row (`t`) to the client (`$1`).
fn scope_sql(t: &Table) -> &'static str {
    match t.scope {
        Scope::Client => "t.client_id = $1",
        Scope::Config => {
            "t.config_id IN (SELECT config_id FROM tools.client_config WHERE client_id = $1)"
        }
        Scope::Integration => {
            "t.integration_id IN (SELECT integration_id FROM tools.integration_config WHERE client_id = $1)"
        }
    }
}

/// The row as JSON, with the dependency's compound key spelt out.
fn row_json(t: &Table) -> &'static str {
    if t.scope == Scope::Integration {
        "to_jsonb(t) || jsonb_build_object('dependency_id', t.integration_id || ':' || t.depends_on_id)"
    } else {
        "to_jsonb(t)"
    }
}

/// The row a statement returned (its first column: [`row_json`]).
fn config_row(row: &tokio_postgres::Row, t: &Table) -> Result<ConfigRow> {
    row.try_get::<_, Json<ConfigRow>>(0)
        .map(|Json(r)| r)
        .map_err(|e| pg_error(&format!("reading a row of tools.{}", t.name), e))
}

/// All rows of one table for a client.
pub async fn rows(
    c: &impl tokio_postgres::GenericClient,
    client_id: i32,
    t: &Table,
) -> Result<Vec<ConfigRow>> {
    let order = if t.scope == Scope::Integration {
        "t.integration_id, t.depends_on_id".to_string()
    } else {
        format!("t.{}", t.key)
    };
    let sql = format!(
        "SELECT {} FROM tools.{} t WHERE {} ORDER BY {order}",
        row_json(t),
        t.name,
        scope_sql(t)
    );
    c.query(&sql, &[&client_id])
        .await
        .map_err(|e| pg_error(&format!("reading tools.{}", t.name), e))?
        .iter()
        .map(|r| config_row(r, t))
        .collect()
}

/// Refuses references to another client's rows.
async fn check_refs(
    c: &impl tokio_postgres::GenericClient,
    client_id: i32,
    t: &Table,
    values: &[(&'static Field, Bound)],
) -> Result<()> {
    for (f, v) in values {
        let sql = match f.kind {
            Kind::ConfigRef => {
                "SELECT 1 FROM tools.client_config WHERE config_id = $1 AND client_id = $2"
            }
            Kind::IntegrationRef => {
                "SELECT 1 FROM tools.integration_config WHERE integration_id = $1 AND client_id = $2"
            }
            _ => continue,
        };
        let Bound::Int(Some(id)) = v else { continue };
        if c.query_opt(sql, &[id, &client_id])
            .await
            .map_err(|e| pg_error("checking a reference", e))?
            .is_none()
        {
            return Err(Error::invalid(format!(
                "{}.{}: the client has no row {id}",
                t.name, f.name
            )));
        }
    }
    Ok(())
}

/// `$1` = the client, then the key's parameters.
fn keyed<'a>(client_id: &'a i32, key: &'a [i32]) -> Vec<&'a (dyn ToSql + Sync)> {
    std::iter::once(client_id as &(dyn ToSql + Sync))
        .chain(key.iter().map(|k| k as &(dyn ToSql + Sync)))
        .collect()
}

/// The key condition and its parameters (after `$1` = client id).
fn key_sql(t: &Table, id: &str) -> Result<(String, Vec<i32>)> {
    let bad = || Error::invalid(format!("{:?} is not a {} of {}", id, t.key, t.name));
    if t.scope == Scope::Integration {
        let (a, b) = id.split_once(':').ok_or_else(bad)?;
        let a: i32 = a.parse().map_err(|_| bad())?;
        let b: i32 = b.parse().map_err(|_| bad())?;
        Ok((
            "t.integration_id = $2 AND t.depends_on_id = $3".into(),
            vec![a, b],
        ))
    } else {
        let n: i32 = id.parse().map_err(|_| bad())?;
        Ok((format!("t.{} = $2", t.key), vec![n]))
    }
}

fn audit_entry(
    actor: &Principal,
    action: &str,
    client: &str,
    t: &Table,
    id: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> AuditEntry {
    AuditEntry {
        actor: actor.clone(),
        action: format!("config.{action}"),
        target: format!("client {client} / {} {id}", t.name),
        before,
        after,
    }
}

/// Inserts a row; returns it. Audited in the same transaction.
pub async fn create(
    tx: &tokio_postgres::Transaction<'_>,
    actor: &Principal,
    client: &str,
    client_id: i32,
    t: &Table,
    body: &Value,
) -> Result<ConfigRow> {
    let values = check_row(t, body, true)?;
    check_refs(tx, client_id, t, &values).await?;
    let mut cols: Vec<&str> = Vec::new();
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
    if t.scope == Scope::Client {
        cols.push("client_id");
        params.push(&client_id);
    }
    for (f, v) in &values {
        cols.push(f.name);
        params.push(v.as_sql());
    }
    let placeholders: Vec<String> = (1..=params.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO tools.{} AS t ({}) VALUES ({}) RETURNING {}",
        t.name,
        cols.join(", "),
        placeholders.join(", "),
        row_json(t)
    );
    let row = tx
        .query_one(&sql, &params)
        .await
        .map_err(|e| pg_error(&format!("adding to tools.{}", t.name), e))?;
    let row = config_row(&row, t)?;
    let id = row
        .get(t.key)
        .map(|v| v.to_string().trim_matches('"').to_string())
        .unwrap_or_default();
    crate::audit::record_in(
        tx,
        &audit_entry(
            actor,
            "create",
            client,
            t,
            &id,
            None,
            Some(Value::Object(row.clone())),
        ),
    )
    .await?;
    Ok(row)
}

/// Changes the given fields of one row; returns it. Audited with the before and after.
pub async fn update(
    tx: &tokio_postgres::Transaction<'_>,
    actor: &Principal,
    client: &str,
    client_id: i32,
    t: &Table,
    id: &str,
    body: &Value,
) -> Result<ConfigRow> {
    if !t.updatable {
        return Err(Error::invalid(format!(
            "rows of {} are added or removed, not changed",
            t.name
        )));
    }
    let values = check_row(t, body, false)?;
    check_refs(tx, client_id, t, &values).await?;
    let (key_cond, key_params) = key_sql(t, id)?;
    let before = tx
        .query_opt(
            &format!(
                "SELECT {} FROM tools.{} t WHERE {} AND {key_cond} FOR UPDATE",
                row_json(t),
                t.name,
                scope_sql(t)
            ),
            &keyed(&client_id, &key_params),
        )
        .await
        .map_err(|e| pg_error(&format!("reading tools.{}", t.name), e))?
        .ok_or_else(|| Error::not_found(format!("client {client:?} has no {} {id}", t.name)))?;
    let before = config_row(&before, t)?;
    let mut params = keyed(&client_id, &key_params);
    let mut sets = Vec::new();
    for (f, v) in &values {
        params.push(v.as_sql());
        sets.push(format!("{} = ${}", f.name, params.len()));
    }
    if t.has_updated_at {
        sets.push("updated_at = now()".into());
    }
    let sql = format!(
        "UPDATE tools.{} t SET {} WHERE {} AND {key_cond} RETURNING {}",
        t.name,
        sets.join(", "),
        scope_sql(t),
        row_json(t)
    );
    let after = tx
        .query_one(&sql, &params)
        .await
        .map_err(|e| pg_error(&format!("changing tools.{}", t.name), e))?;
    let after = config_row(&after, t)?;
    crate::audit::record_in(
        tx,
        &audit_entry(
            actor,
            "update",
            client,
            t,
            id,
            Some(Value::Object(before)),
            Some(Value::Object(after.clone())),
        ),
    )
    .await?;
    Ok(after)
}

/// Deletes one row (and, through the foreign keys, what hangs on it); returns it.
pub async fn delete(
    tx: &tokio_postgres::Transaction<'_>,
    actor: &Principal,
    client: &str,
    client_id: i32,
    t: &Table,
    id: &str,
) -> Result<ConfigRow> {
    let (key_cond, key_params) = key_sql(t, id)?;
    let params = keyed(&client_id, &key_params);
    let sql = format!(
        "DELETE FROM tools.{} t WHERE {} AND {key_cond} RETURNING {}",
        t.name,
        scope_sql(t),
        row_json(t)
    );
    let before = tx
        .query_opt(&sql, &params)
        .await
        .map_err(|e| pg_error(&format!("deleting from tools.{}", t.name), e))?
        .ok_or_else(|| Error::not_found(format!("client {client:?} has no {} {id}", t.name)))?;
    let before = config_row(&before, t)?;
    crate::audit::record_in(
        tx,
        &audit_entry(
            actor,
            "delete",
            client,
            t,
            id,
            Some(Value::Object(before.clone())),
            None,
        ),
    )
    .await?;
    Ok(before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping() -> &'static Table {
        table("column_mapping").expect("table")
    }

    #[test]
    fn identifiers_and_types_are_checked_before_any_sql() {
        let t = mapping();
        let ok = check_row(
            t,
            &json!({"config_id": 1, "source_column": "Order Date", "target_column": "order_date",
                    "target_data_type": "NUMERIC(12,2)"}),
            true,
        )
        .expect("valid");
        assert_eq!(ok.len(), 4);
        assert!(ok.contains(&(&t.fields[3], Bound::Text(Some("numeric(12,2)".into())))));
        for bad in [
            json!({"config_id": 1, "source_column": "a", "target_column": "x; DROP TABLE tools.client_config"}),
            json!({"config_id": 1, "source_column": "a", "target_column": "b", "target_data_type": "int; --"}),
            json!({"config_id": "1 OR 1=1", "source_column": "a", "target_column": "b"}),
            json!({"config_id": 1, "source_column": "a\u{0}", "target_column": "b"}),
            json!({"config_id": 1, "source_column": "a", "target_column": "b", "client_id": 2}),
            json!({"config_id": 1, "target_column": "b"}),
            json!([1, 2]),
        ] {
            assert!(check_row(t, &bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn enums_names_and_numbers_have_their_ranges() {
        let steps = table("transformation_config").expect("table");
        assert!(check_row(steps, &json!({"procedure_name": "silver.load_sales"}), true).is_ok());
        assert!(check_row(steps, &json!({"procedure_name": "a.b.c"}), true).is_err());
        assert!(check_row(steps, &json!({"step_kind": "shell"}), false).is_err());
        assert!(check_row(steps, &json!({"timeout_seconds": 0}), false).is_err());
        assert!(check_row(steps, &json!({"is_active": "yes"}), false).is_err());
        assert!(check_row(steps, &json!({}), false).is_err());
        assert!(table("pg_authid").is_err());
    }

    #[test]
    fn the_schema_describes_every_table() {
        let s = schema();
        for t in TABLES {
            assert_eq!(s[t.name].key, t.key);
            assert_eq!(s[t.name].fields.len(), t.fields.len());
        }
        assert_eq!(s["column_mapping"].parent, Some("config_id"));
        assert_eq!(
            serde_json::to_value(&s["transformation_config"].fields[1]).ok(),
            Some(
                json!({"name": "step_kind", "type": "enum", "options": ["procedure", "function", "sql"],
                        "required": false, "nullable": false, "ref": null, "default": null})
            )
        );
        assert_eq!(
            serde_json::to_value(&s["column_mapping"].fields[0]).ok(),
            Some(
                json!({"name": "config_id", "type": "ref", "options": null, "required": true,
                        "nullable": false, "ref": "client_config", "default": null})
            )
        );
    }
}
