//! The funnel report (`GET /funnel-report`): per first-touch channel and day of the lead, the
//! leads, how many of them booked and transacted, their revenue and the conversion rates; and
//! the rows themselves as CSV (`GET /funnel-report.csv`, `muara funnel export`), streamed.

use bytes::Bytes;
use deadpool_postgres::Pool;
use futures::StreamExt as _;
use muara_core::{Error, Result};
use muara_db::pg_error;
use muara_db::pool::pool_error;
use serde::Serialize;
use time::{Date, OffsetDateTime};

/// Days are counted in this time zone unless `MUARA_FUNNEL_TIMEZONE` says otherwise.
pub const DEFAULT_TIMEZONE: &str = "Asia/Jakarta";

/// `from` (inclusive) and `to` (exclusive) lead dates, an optional channel.
#[derive(Debug, Clone)]
pub struct Filter {
    pub from: Date,
    pub to: Date,
    pub channel: Option<String>,
    pub timezone: String,
}

impl Filter {
    /// From query parameters: `from`/`to` as `YYYY-MM-DD` (default: the last 30 days up to
    /// today, `to` exclusive), `channel`.
    pub fn from_params(
        params: &std::collections::BTreeMap<String, String>,
        timezone: &str,
    ) -> Result<Self> {
        let known = ["from", "to", "channel"];
        if let Some(k) = params.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(Error::invalid(format!(
                "unknown parameter {k:?}; use from, to, channel"
            )));
        }
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        let date = |name: &str| -> Result<Option<Date>> {
            match params.get(name).map(String::as_str) {
                None | Some("") => Ok(None),
                Some(v) => Date::parse(v, fmt).map(Some).map_err(|_| {
                    Error::invalid(format!("{name}={v:?} is not a date like 2026-11-22"))
                }),
            }
        };
        let today = OffsetDateTime::now_utc().date();
        let to = date("to")?.unwrap_or_else(|| today.next_day().unwrap_or(today));
        let from = date("from")?.unwrap_or(to - time::Duration::days(30));
        if from >= to {
            return Err(Error::invalid(format!(
                "from ({from}) must be before to ({to})"
            )));
        }
        if (to - from).whole_days() > 3660 {
            return Err(Error::invalid("the range is longer than ten years"));
        }
        Ok(Self {
            from,
            to,
            channel: params.get("channel").cloned().filter(|c| !c.is_empty()),
            timezone: timezone.to_string(),
        })
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Line {
    pub day: String,
    pub channel: String,
    pub leads: i64,
    pub bookings: i64,
    pub transactions: i64,
    pub revenue: i64,
    pub lead_to_booking: Option<f64>,
    pub booking_to_transaction: Option<f64>,
    pub lead_to_transaction: Option<f64>,
}

fn rate(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| ((a as f64 / b as f64) * 10_000.0).round() / 10_000.0)
}

impl Line {
    fn new(
        day: String,
        channel: String,
        leads: i64,
        bookings: i64,
        transactions: i64,
        revenue: i64,
    ) -> Self {
        Self {
            day,
            channel,
            leads,
            bookings,
            transactions,
            revenue,
            lead_to_booking: rate(bookings, leads),
            booking_to_transaction: rate(transactions, bookings),
            lead_to_transaction: rate(transactions, leads),
        }
    }
}

time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

/// The funnel report as `GET /funnel-report` answers it: the filter it was read with, a
/// [`Line`] per day and channel, one per channel (`day` empty) and the total (`day` and
/// `channel` empty).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FunnelReport {
    /// First lead date (inclusive), `2026-11-22`.
    #[serde(with = "iso_date")]
    pub from: Date,
    /// Last lead date (exclusive).
    #[serde(with = "iso_date")]
    pub to: Date,
    /// The time zone days are counted in.
    pub timezone: String,
    /// The channel asked for; `null` for all.
    pub channel: Option<String>,
    /// Per day and channel, by day then channel.
    pub days: Vec<Line>,
    /// Per channel, by channel.
    pub channels: Vec<Line>,
    pub total: Line,
}

/// Per channel and day, plus per channel and overall totals.
pub async fn report(pool: &Pool, f: &Filter) -> Result<FunnelReport> {
    let client = pool.get().await.map_err(pool_error)?;
    let rows = client
        .query(
            "SELECT (leads_date AT TIME ZONE $1)::date::text AS day, channel,
                    count(*), count(booking_date), count(*) FILTER (WHERE transaction_count > 0),
                    coalesce(sum(transaction_value), 0)::bigint
               FROM funnel.lead
              WHERE leads_date >= ($2::date::timestamp AT TIME ZONE $1)
                AND leads_date < ($3::date::timestamp AT TIME ZONE $1)
                AND ($4::text IS NULL OR channel = $4)
              GROUP BY 1, 2 ORDER BY 1, 2",
            &[&f.timezone, &f.from, &f.to, &f.channel],
        )
        .await
        .map_err(|e| pg_error("reading the funnel report", e))?;
    let lines: Vec<Line> = rows
        .iter()
        .map(|r| Line::new(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect();
    let mut by_channel: std::collections::BTreeMap<String, (i64, i64, i64, i64)> =
        Default::default();
    for l in &lines {
        let e = by_channel.entry(l.channel.clone()).or_default();
        e.0 += l.leads;
        e.1 += l.bookings;
        e.2 += l.transactions;
        e.3 += l.revenue;
    }
    let total = by_channel.values().fold((0, 0, 0, 0), |a, v| {
        (a.0 + v.0, a.1 + v.1, a.2 + v.2, a.3 + v.3)
    });
    let channels: Vec<Line> = by_channel
        .into_iter()
        .map(|(c, v)| Line::new(String::new(), c, v.0, v.1, v.2, v.3))
        .collect();
    Ok(FunnelReport {
        from: f.from,
        to: f.to,
        timezone: f.timezone.clone(),
        channel: f.channel.clone(),
        days: lines,
        channels,
        total: Line::new(
            String::new(),
            String::new(),
            total.0,
            total.1,
            total.2,
            total.3,
        ),
    })
}

/// The CSV header of the export.
pub const CSV_HEADER: &str = "phone,leads_date,channel,last_channel,booking_date,transaction_date,last_transaction_date,transaction_value,transaction_count,messages\r\n";

/// A CSV field: quoted when it holds a comma, quote or line break; a leading `=`, `+`, `-` or
/// `@` is prefixed with `'` so a spreadsheet does not run it as a formula.
pub fn csv_field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@']) && !v.starts_with('+') {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if v.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// The funnel rows whose lead date (first opening) is in the filter's range, as CSV, streamed
/// from PostgreSQL row by row. A phone with no opening yet is not a lead and is not exported.
pub async fn export(
    pool: &Pool,
    f: &Filter,
) -> Result<futures::stream::BoxStream<'static, Result<Bytes>>> {
    let client = pool.get().await.map_err(pool_error)?;
    let params: Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>> = vec![
        Box::new(f.timezone.clone()),
        Box::new(f.from),
        Box::new(f.to),
        Box::new(f.channel.clone()),
    ];
    let rows = client
        .query_raw(
            "SELECT phone,
                    to_char(leads_date AT TIME ZONE $1, 'YYYY-MM-DD HH24:MI:SS'), channel, last_channel,
                    to_char(booking_date AT TIME ZONE $1, 'YYYY-MM-DD HH24:MI:SS'),
                    to_char(transaction_date AT TIME ZONE $1, 'YYYY-MM-DD HH24:MI:SS'),
                    to_char(last_transaction_date AT TIME ZONE $1, 'YYYY-MM-DD HH24:MI:SS'),
                    transaction_value::text, transaction_count::text, messages::text
               FROM funnel.lead
              WHERE leads_date >= ($2::date::timestamp AT TIME ZONE $1)
                AND leads_date < ($3::date::timestamp AT TIME ZONE $1)
                AND ($4::text IS NULL OR channel = $4)
              ORDER BY leads_date, phone",
            params.iter().map(|p| p.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync)),
        )
        .await
        .map_err(|e| pg_error("exporting the funnel", e))?;
    let header = futures::stream::once(async { Ok(Bytes::from_static(CSV_HEADER.as_bytes())) });
    // The pooled connection travels with the stream and goes back to the pool when it ends.
    let body = futures::stream::unfold(
        (Box::pin(rows), Some(client)),
        |(mut rows, client)| async move {
            let client = client?;
            match rows.next().await {
                Some(Ok(row)) => {
                    let line: Vec<String> = (0..10)
                        .map(|i| csv_field(row.get::<_, Option<&str>>(i).unwrap_or("")))
                        .collect();
                    let mut s = line.join(",");
                    s.push_str("\r\n");
                    Some((Ok(Bytes::from(s)), (rows, Some(client))))
                }
                Some(Err(e)) => Some((Err(pg_error("exporting the funnel", e)), (rows, None))),
                None => None,
            }
        },
    );
    Ok(header.chain(body).boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(
            csv_field("+6281234"),
            "+6281234",
            "E.164 stays a phone number"
        );
        assert_eq!(rate(1, 3), Some(0.3333));
        assert_eq!(rate(1, 0), None);
    }

    #[test]
    fn a_report_keeps_its_dates_as_strings_and_empty_rates_as_null() {
        let none = |day: &str, channel: &str| Line::new(day.into(), channel.into(), 0, 0, 0, 0);
        let r = FunnelReport {
            from: time::macros::date!(2026 - 11 - 02),
            to: time::macros::date!(2026 - 11 - 03),
            timezone: DEFAULT_TIMEZONE.into(),
            channel: None,
            days: vec![Line::new("2026-11-02".into(), "ads".into(), 2, 1, 1, 500)],
            channels: vec![],
            total: none("", ""),
        };
        let v = serde_json::to_value(&r).ok();
        assert_eq!(
            v,
            Some(serde_json::json!({
                "from": "2026-11-02", "to": "2026-11-03", "timezone": "Asia/Jakarta",
                "channel": null, "channels": [],
                "days": [{"day": "2026-11-02", "channel": "ads", "leads": 2, "bookings": 1,
                          "transactions": 1, "revenue": 500, "lead_to_booking": 0.5,
                          "booking_to_transaction": 1.0, "lead_to_transaction": 0.5}],
                "total": {"day": "", "channel": "", "leads": 0, "bookings": 0,
                          "transactions": 0, "revenue": 0, "lead_to_booking": null,
                          "booking_to_transaction": null, "lead_to_transaction": null},
            }))
        );
    }
}
