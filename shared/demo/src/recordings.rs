//! A demo day of recordings, as a recorder would leave them in its spool folder: real WAV
//! audio (8 kHz telephone tones) with matching XML in the default profile, across agents,
//! queues and directions, and a few recordings broken on purpose, each in a different way the
//! agent must catch. [`DemoDay`] is the known truth a test checks against.

use muara_core::lcg::Lcg;
use std::path::Path;
use time::{Date, Duration, OffsetDateTime, UtcOffset};

/// What the demo day should give.
#[derive(Debug, Clone, Default)]
pub struct DemoDay {
    /// Call ids that must be indexed.
    pub good: Vec<String>,
    /// `(file name, stage)` of every recording that must be reported as a failure.
    pub broken: Vec<(String, &'static str)>,
}

const AGENTS: &[(&str, &str)] = &[
    ("A-101", "Siti Rahma"),
    ("A-102", "Budi Santoso"),
    ("A-103", "Dewi Lestari"),
    ("A-104", "Agus Pratama"),
    ("A-105", "Rina Wijaya"),
];
const QUEUES: &[&str] = &["billing", "sales", "support", "retention"];

fn xml(call_id: &str, start: OffsetDateTime, secs: u64, agent: (&str, &str), n: u64) -> String {
    let fmt = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let inbound = !n.is_multiple_of(3);
    let customer = format!("+62812{:07}", 1_000_000 + n * 7919 % 9_000_000);
    let line = "+62215550100";
    let (caller, callee) = if inbound {
        (customer.as_str(), line)
    } else {
        (line, customer.as_str())
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<recording>\n  <callId>{call_id}</callId>\n  <startTime>{}</startTime>\n  <endTime>{}</endTime>\n  <agent id=\"{}\">{}</agent>\n  <extension>2{:03}</extension>\n  <caller>{caller}</caller>\n  <callee>{callee}</callee>\n  <direction>{}</direction>\n  <queue>{}</queue>\n</recording>\n",
        fmt(start),
        fmt(start + Duration::seconds(i64::try_from(secs).unwrap_or(0))),
        agent.0,
        agent.1,
        100 + n % 50,
        if inbound { "inbound" } else { "outbound" },
        QUEUES[usize::try_from(n).unwrap_or(0) % QUEUES.len()],
    )
}

/// Writes `good` recordings of `day` (plus the broken ones) under `dir/{yyyy-mm-dd}/`.
pub fn write_day(dir: &Path, day: Date, good: usize, seed: u64) -> std::io::Result<DemoDay> {
    let folder = dir.join(day.to_string());
    std::fs::create_dir_all(&folder)?;
    let mut rng = Lcg(seed);
    let offset = UtcOffset::from_hms(7, 0, 0).unwrap_or(UtcOffset::UTC);
    let open = day.midnight().assume_offset(offset) + Duration::hours(8);
    let mut truth = DemoDay::default();
    let write = |name: &str, wav: &[u8], xml: Option<&[u8]>| -> std::io::Result<()> {
        std::fs::write(folder.join(format!("{name}.wav")), wav)?;
        if let Some(x) = xml {
            std::fs::write(folder.join(format!("{name}.xml")), x)?;
        }
        Ok(())
    };
    let call = |n: u64| format!("C-{}-{n:05}", day.to_string().replace('-', ""));
    let mut at = open;
    for n in 0..good as u64 {
        at += Duration::seconds(i64::try_from(60 + rng.next(900)).unwrap_or(60));
        let secs = 2 + rng.next(10);
        let agent = AGENTS[usize::try_from(rng.next(AGENTS.len() as u64)).unwrap_or(0)];
        let id = call(n);
        let tone = 300.0 + rng.next(600) as f32;
        let wav = muara_recordings::wav::tone_wav(8000, 1, secs * 1000, tone);
        write(&id, &wav, Some(xml(&id, at, secs, agent, n).as_bytes()))?;
        truth.good.push(id);
    }
    // The broken ones, each wrong in its own way.
    let base = good as u64 + 100;
    let tone = |secs: u64| muara_recordings::wav::tone_wav(8000, 1, secs * 1000, 440.0);
    let ok_xml = |n: u64, secs: u64| xml(&call(n), at, secs, AGENTS[0], n);
    let mut broken = |name: String, stage: &'static str| truth.broken.push((name, stage));

    let truncated = tone(4);
    write(
        "truncated",
        &truncated[..truncated.len() / 2],
        Some(ok_xml(base, 4).as_bytes()),
    )?;
    broken("truncated.wav".into(), "wav");

    let mut rifx = tone(3);
    rifx[..4].copy_from_slice(b"RIFX");
    write("wrong-header", &rifx, Some(ok_xml(base + 1, 3).as_bytes()))?;
    broken("wrong-header.wav".into(), "wav");

    write("empty", b"", Some(ok_xml(base + 2, 3).as_bytes()))?;
    broken("empty.wav".into(), "wav");

    write(
        "malformed",
        &tone(3),
        Some(b"<recording><callId>X</callId><startTime>"),
    )?;
    broken("malformed.xml".into(), "xml");

    let no_id = ok_xml(base + 4, 3).replace(&format!("<callId>{}</callId>", call(base + 4)), "");
    write("no-call-id", &tone(3), Some(no_id.as_bytes()))?;
    broken("no-call-id.xml".into(), "xml");

    let feb30 = format!(
        "<?xml version=\"1.0\"?><recording><callId>{}</callId><startTime>2026-02-30T10:00:00+07:00</startTime><duration>3</duration></recording>",
        call(base + 5)
    );
    write("impossible-date", &tone(3), Some(feb30.as_bytes()))?;
    broken("impossible-date.xml".into(), "xml");

    let mut latin1 = ok_xml(base + 6, 3).into_bytes();
    let at_name = latin1.windows(4).position(|w| w == b"Siti").unwrap_or(0);
    latin1[at_name + 1] = 0xED; // "Síti" in ISO-8859-1 inside a document declared UTF-8
    write("wrong-encoding", &tone(3), Some(&latin1))?;
    broken("wrong-encoding.xml".into(), "xml");

    write("orphan", &tone(3), None)?;
    broken("orphan.wav".into(), "pairing");

    write("too-short", &tone(3), Some(ok_xml(base + 8, 30).as_bytes()))?;
    broken("too-short.wav".into(), "duration");

    // The same call id as the first good recording, with other audio.
    let first = truth.good.first().cloned().unwrap_or_else(|| call(0));
    let dup = xml(&first, open + Duration::seconds(61), 5, AGENTS[1], 0);
    write(
        "duplicate",
        &muara_recordings::wav::tone_wav(8000, 1, 5000, 1234.0),
        Some(dup.as_bytes()),
    )?;
    broken("duplicate.wav".into(), "duplicate");

    let unsafe_id = ok_xml(base + 10, 3).replace(&call(base + 10), "../../etc/passwd");
    write("unsafe-key", &tone(3), Some(unsafe_id.as_bytes()))?;
    broken("unsafe-key.wav".into(), "key");

    Ok(truth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_good_recording_passes_the_checks_and_every_broken_one_fails_its_own() {
        let dir = std::env::temp_dir().join(format!("muara-demo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let day = time::macros::date!(2026 - 11 - 21);
        let truth = write_day(&dir, day, 12, 7).expect("written");
        let folder = dir.join("2026-11-21");
        let profile = muara_recordings::xml::Profile::builtin("default").expect("builtin");
        for id in &truth.good {
            let rec = muara_recordings::xml::parse(
                &std::fs::read(folder.join(format!("{id}.xml"))).expect("xml"),
                &profile,
            )
            .expect("good xml");
            let audio = muara_recordings::wav::inspect_file(&folder.join(format!("{id}.wav")))
                .expect("good wav");
            assert!(audio.duration_ms.abs_diff(rec.duration_ms) <= 1000, "{id}");
        }
        assert_eq!(truth.good.len(), 12);
        assert_eq!(truth.broken.len(), 11);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
