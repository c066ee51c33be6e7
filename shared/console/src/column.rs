//! Typed columns the console's answers are built from. Times are selected as PostgreSQL's JSON
//! writes them (`to_json(t) #>> '{}' AS t`) and read keeping the session's offset, so an
//! answer built from the row shows the times the API always showed (see
//! [`muara_core::timestamp`]); roles are read into [`Role`].

use muara_core::ports::Role;
use muara_core::{Error, ErrorKind, Result};
use time::OffsetDateTime;
use tokio_postgres::Row;

/// A non-null time column.
pub(crate) fn time(row: &Row, column: &str) -> Result<OffsetDateTime> {
    let text: String = row.get(column);
    parse(column, &text)
}

/// A nullable time column.
pub(crate) fn time_opt(row: &Row, column: &str) -> Result<Option<OffsetDateTime>> {
    row.get::<_, Option<String>>(column)
        .map(|text| parse(column, &text))
        .transpose()
}

fn parse(column: &str, text: &str) -> Result<OffsetDateTime> {
    muara_core::timestamp::parse(text).map_err(|e| {
        Error::with_source(
            ErrorKind::Fatal,
            format!("{column}: {text:?} is not a time as PostgreSQL writes it"),
            e,
        )
    })
}

/// A role column (`viewer`, `operator`, `admin`).
pub(crate) fn role(row: &Row, column: &str) -> Result<Role> {
    let text: String = row.get(column);
    text.parse()
        .map_err(|e| Error::with_source(ErrorKind::Fatal, format!("{column}: {text:?}"), e))
}
