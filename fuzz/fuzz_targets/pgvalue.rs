//! The typed value parser / binary COPY encoder `muara_batch::pgvalue::Kind::encode` for
//! every column kind: the first input byte picks the kind, the rest (as UTF-8, lossily) is
//! the value. Also `parse_date`, `parse_timestamp`, `Kind::named` and `cast::castable`, which
//! validation uses on the same text.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use muara_batch::cast::castable;
use muara_batch::pgvalue::{Kind, parse_date, parse_timestamp};

const KINDS: [(Kind, &str); 14] = [
    (Kind::Text, "text"),
    (Kind::Int2, "smallint"),
    (Kind::Int4, "integer"),
    (Kind::Int8, "bigint"),
    (Kind::Float4, "real"),
    (Kind::Float8, "double precision"),
    (Kind::Bool, "boolean"),
    (Kind::Date, "date"),
    (Kind::Timestamp, "timestamp"),
    (Kind::Timestamptz, "timestamptz"),
    (Kind::Numeric, "numeric(18,2)"),
    (Kind::Json, "json"),
    (Kind::Jsonb, "jsonb"),
    (Kind::Uuid, "uuid"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(body);
    let (kind, name) = KINDS[usize::from(sel) % KINDS.len()];
    assert_eq!(Kind::named(name), Some(kind));
    let _ = Kind::named(&text);
    let mut out = BytesMut::new();
    let ok = kind.encode(&text, &mut out).is_some();
    assert_eq!(ok, kind.parse_ok(&text), "encode and parse_ok disagree");
    let _ = castable(&text, name);
    let _ = parse_date(&text);
    let _ = parse_timestamp(&text);
});
