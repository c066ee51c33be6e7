//! A demo day of messages for the funnel, with its known truth.
//!
//! Leads arrive over five channels through the day (08:00–21:00 WIB): an opening (Indonesian
//! or English, with emoji), then for some a booking, then for some of those a transaction with
//! an amount written the ways customers write it (`Rp 1.500.000`, `1,5jt`, `IDR 250000`,
//! `Rp1.500.000,00`, `250rb`). Around them: chatter that is no keyword ("ok kak 👍"), typos
//! the classifier must not guess ("mau bokking"), repeats of the same message id, WhatsApp
//! delivery statuses, a number that cannot be a phone, a body of no known shape. Phones are
//! written in every Indonesian notation. Everything is sent in a shuffled order, so the funnel
//! rows are built out of order. [`Truth`] holds what the report must show.

use muara_core::lcg::Lcg;
use muara_funnel::classify::{Keyword, Kind};
use serde_json::json;
use std::collections::BTreeMap;
use time::{Date, Duration, OffsetDateTime, UtcOffset};

/// The channels of the demo.
pub const CHANNELS: &[&str] = &["whatsapp", "ads", "website", "blast", "direct"];

/// The demo's keyword lists (loaded when the set is empty).
pub fn keywords() -> Vec<Keyword> {
    let k = |kind, w: &str| Keyword {
        kind,
        keyword: w.into(),
        channel: None,
    };
    let mut out = Vec::new();
    for w in [
        "halo",
        "hai",
        "info",
        "tanya",
        "promo",
        "harga",
        "hello",
        "hi",
        "price",
        "interested",
    ] {
        out.push(k(Kind::Opening, w));
    }
    for w in [
        "booking",
        "book",
        "pesan",
        "reservasi",
        "jadwal",
        "appointment",
        "daftar",
    ] {
        out.push(k(Kind::Booking, w));
    }
    for w in [
        "transfer",
        "bayar",
        "sudah bayar",
        "paid",
        "payment",
        "lunas",
    ] {
        out.push(k(Kind::Transaction, w));
    }
    out
}

/// One webhook call: channel, body.
#[derive(Debug, Clone)]
pub struct Call {
    pub channel: String,
    pub body: String,
}

/// What the report for the demo day must show, per first-touch channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Truth {
    /// channel → (leads, bookings, transactions, revenue)
    pub channels: BTreeMap<String, (i64, i64, i64, i64)>,
    /// Distinct new message ids among the calls (what the worker stores).
    pub messages: usize,
    pub calls: usize,
}

impl Truth {
    pub fn total(&self) -> (i64, i64, i64, i64) {
        self.channels.values().fold((0, 0, 0, 0), |a, v| {
            (a.0 + v.0, a.1 + v.1, a.2 + v.2, a.3 + v.3)
        })
    }
}

/// Openings the demo and the benchmark's load send.
pub const OPENINGS: &[&str] = &[
    "Halo kak, mau tanya info promo 😊",
    "hai min, harga paket berapa ya?",
    "Hello, I'm interested in the package",
    "Hi! price list please 🙏",
    "halo, info dong kak",
    "Selamat siang, mau tanya kak",
];
/// Bookings.
pub const BOOKINGS: &[&str] = &[
    "Oke kak saya mau booking untuk besok ya",
    "mau pesan 2 orang untuk sabtu",
    "Can I book for Friday?",
    "reservasi atas nama Budi ya kak 🙏",
    "daftar untuk kelas minggu depan",
];
/// Chatter no keyword matches (a typo among it).
pub const CHATTER: &[&str] = &[
    "ok kak 👍",
    "makasih ya",
    "thanks!",
    "sip",
    "mau bokking kak",
    "🙏🙏",
];

/// A transaction text in one of the notations customers use, and the amount in it.
pub fn amount_text(rng: &mut Lcg) -> (String, i64) {
    match rng.next(5) {
        0 => {
            let v = (1 + rng.next(30)) as i64 * 100_000;
            (format!("Sudah transfer Rp {} ya kak", thousands(v)), v)
        }
        1 => {
            let tenths = 5 + rng.next(30) as i64; // 0,5–3,4 juta
            (
                format!("sudah bayar {},{}jt", tenths / 10, tenths % 10),
                tenths * 100_000,
            )
        }
        2 => {
            let v = (1 + rng.next(20)) as i64 * 50_000;
            (format!("Payment done, IDR {v}"), v)
        }
        3 => {
            let v = (1 + rng.next(30)) as i64 * 100_000;
            (format!("transfer Rp{},00 sudah ya", thousands(v)), v)
        }
        _ => {
            let v = (1 + rng.next(9)) as i64 * 50_000;
            (format!("lunas kak {}rb 🙏", v / 1000), v)
        }
    }
}

fn thousands(v: i64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

/// An Indonesian mobile's national part (`812…`) written in one of four notations.
pub fn written(national: &str, style: u64) -> String {
    match style {
        0 => format!("0{national}"),
        1 => format!(
            "+62 {} {} {}",
            &national[..3],
            &national[3..7],
            &national[7..]
        ),
        2 => format!("62{national}"),
        _ => format!("0{}-{}-{}", &national[..3], &national[3..7], &national[7..]),
    }
}

fn phone_notation(n: u64, style: u64) -> (String, String) {
    let national = format!("812{:08}", 10_000_000 + n * 7_919 % 89_999_999);
    (written(&national, style), format!("+62{national}"))
}

/// A demo day: `leads` leads on `day` (WIB), deterministic for a seed.
pub fn day(day: Date, leads: usize, seed: u64) -> (Vec<Call>, Truth) {
    let mut rng = Lcg(seed);
    let wib = UtcOffset::from_hms(7, 0, 0).unwrap_or(UtcOffset::UTC);
    let start = day.midnight().assume_offset(wib) + Duration::hours(8);
    let mut truth = Truth::default();
    let mut calls: Vec<Call> = Vec::new();
    let mut id = 0u64;
    let mut next_id = |prefix: &str| {
        id += 1;
        format!("{prefix}-{id:05}")
    };
    let message = |channel: &str,
                   message_id: &str,
                   phone_written: &str,
                   e164: &str,
                   at: OffsetDateTime,
                   text: &str| {
        if channel == "whatsapp" {
            let wa_id = e164.trim_start_matches('+');
            json!({"object": "whatsapp_business_account", "entry": [{"id": "demo", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp", "metadata": {"display_phone_number": "62215550100", "phone_number_id": "demo"},
                "contacts": [{"profile": {"name": "Pelanggan"}, "wa_id": wa_id}],
                "messages": [{"from": wa_id, "id": message_id, "timestamp": at.unix_timestamp().to_string(), "type": "text", "text": {"body": text}}]
            }}]}]})
            .to_string()
        } else {
            json!({"message_id": message_id, "phone": phone_written, "text": text,
                   "timestamp": at.unix_timestamp(), "campaign": format!("{channel}-nov")})
            .to_string()
        }
    };
    for n in 0..leads as u64 {
        let channel = CHANNELS[usize::try_from(rng.next(CHANNELS.len() as u64)).unwrap_or(0)];
        let (written, e164) = phone_notation(n, rng.next(4));
        let opened = start + Duration::minutes(i64::try_from(rng.next(13 * 60)).unwrap_or(0));
        let t = truth.channels.entry(channel.to_string()).or_default();
        t.0 += 1;
        let mut sends: Vec<(String, OffsetDateTime, String)> = Vec::new();
        let opening = OPENINGS[usize::try_from(rng.next(OPENINGS.len() as u64)).unwrap_or(0)];
        sends.push((next_id(channel), opened, opening.to_string()));
        if rng.next(10) < 3 {
            let chat = CHATTER[usize::try_from(rng.next(CHATTER.len() as u64)).unwrap_or(0)];
            sends.push((
                next_id(channel),
                opened + Duration::minutes(2),
                chat.to_string(),
            ));
        }
        // Later messages come from the same channel for most leads, another for some (the
        // row keeps the first touch).
        let later_channel = if rng.next(5) == 0 {
            CHANNELS[usize::try_from(rng.next(CHANNELS.len() as u64)).unwrap_or(0)]
        } else {
            channel
        };
        let mut later: Vec<(String, OffsetDateTime, String)> = Vec::new();
        if rng.next(10) < 4 {
            t.1 += 1;
            let booked =
                opened + Duration::minutes(i64::try_from(10 + rng.next(120)).unwrap_or(10));
            let text = BOOKINGS[usize::try_from(rng.next(BOOKINGS.len() as u64)).unwrap_or(0)];
            later.push((next_id(later_channel), booked, text.to_string()));
            if rng.next(10) < 5 {
                let (text, value) = amount_text(&mut rng);
                t.2 += 1;
                t.3 += value;
                later.push((next_id(later_channel), booked + Duration::minutes(30), text));
            }
        }
        for (mid, at, text) in &sends {
            calls.push(Call {
                channel: channel.to_string(),
                body: message(channel, mid, &written, &e164, *at, text),
            });
        }
        for (mid, at, text) in &later {
            calls.push(Call {
                channel: later_channel.to_string(),
                body: message(later_channel, mid, &written, &e164, *at, text),
            });
        }
        truth.messages += sends.len() + later.len();
    }
    // Repeats of some messages (a sender retrying), delivery statuses, and bad input.
    let repeats: Vec<Call> = (0..leads / 10)
        .filter_map(|_| {
            calls
                .get(usize::try_from(rng.next(calls.len() as u64)).unwrap_or(0))
                .cloned()
        })
        .collect();
    calls.extend(repeats);
    for i in 0..5 {
        calls.push(Call {
            channel: "whatsapp".into(),
            body: json!({"object": "whatsapp_business_account", "entry": [{"id": "demo", "changes": [{"field": "messages",
                "value": {"messaging_product": "whatsapp", "statuses": [{"id": format!("wamid.status-{i}"), "status": "delivered",
                "timestamp": start.unix_timestamp().to_string(), "recipient_id": "6281200000000"}]}}]}]})
            .to_string(),
        });
    }
    calls.push(Call {
        channel: "website".into(),
        body: json!({"message_id": "bad-phone-1", "phone": "tanya admin", "text": "halo", "timestamp": start.unix_timestamp()}).to_string(),
    });
    calls.push(Call {
        channel: "ads".into(),
        body: json!({"lead": {"name": "form without a message id"}}).to_string(),
    });
    // Shuffled: rows are built out of order.
    for i in (1..calls.len()).rev() {
        calls.swap(i, usize::try_from(rng.next(i as u64 + 1)).unwrap_or(0));
    }
    truth.calls = calls.len();
    (calls, truth)
}

#[cfg(test)]
mod tests {
    use super::*;
    use muara_funnel::classify::{Classifier, default_precedence};
    use muara_funnel::webhook::{Body, parse};

    #[test]
    fn every_demo_message_reads_and_classifies_as_the_truth_says() {
        let (calls, truth) = day(time::macros::date!(2026 - 11 - 21), 200, 5);
        let c = Classifier::new(&keywords(), &default_precedence()).expect("keywords");
        let mut kinds: BTreeMap<&str, i64> = BTreeMap::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut revenue = 0;
        for call in &calls {
            let Ok(Body::Messages { messages, .. }) = parse(call.body.as_bytes(), &call.channel)
            else {
                continue;
            };
            for m in messages {
                if !seen.insert(m.message_id.clone())
                    || muara_funnel::phone::normalize(&m.phone).is_err()
                {
                    continue;
                }
                if let Some(hit) = c.classify(&m.text, &m.channel) {
                    *kinds.entry(hit.kind.as_str()).or_default() += 1;
                    if hit.kind == Kind::Transaction {
                        revenue += muara_funnel::amount::find_amount(&m.text)
                            .expect("readable")
                            .expect("an amount");
                    }
                }
            }
        }
        let (leads, bookings, transactions, value) = truth.total();
        assert_eq!(kinds.get("opening").copied().unwrap_or(0), leads);
        assert_eq!(kinds.get("booking").copied().unwrap_or(0), bookings);
        assert_eq!(kinds.get("transaction").copied().unwrap_or(0), transactions);
        assert_eq!(revenue, value);
        assert!(
            leads == 200 && bookings > 40 && transactions > 15,
            "{truth:?}"
        );
    }
}
