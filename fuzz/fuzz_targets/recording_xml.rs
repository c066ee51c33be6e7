//! Recorder XML sidecars: `muara_recordings::xml::parse` through a profile chosen by the first
//! input byte (built-in `default` or `attributes`, with each time format and duration unit);
//! the rest is the document. A parsed recording is rendered through the agent's key template.
//! The same bytes also go to `sidecar::Sidecar::parse` (the JSON sidecar the indexer reads).
#![no_main]

use libfuzzer_sys::fuzz_target;
use muara_recordings::key::{KeyTemplate, sidecar_key};
use muara_recordings::sidecar::{Sidecar, checksum_matches};
use muara_recordings::xml::{DurationUnit, Profile, TimeFormat, parse};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let name = if sel & 0x01 == 0 {
        "default"
    } else {
        "attributes"
    };
    let mut profile = Profile::builtin(name).expect("built-in profile");
    match (sel >> 1) & 0x03 {
        0 => {}
        1 => profile.time_format = TimeFormat::Epoch,
        2 => profile.time_format = TimeFormat::EpochMs,
        _ => {
            profile.time_format = TimeFormat::Custom(
                "[day]/[month]/[year] [hour]:[minute]:[second] [offset_hour]:[offset_minute]"
                    .to_owned(),
            )
        }
    }
    if sel & 0x08 != 0 {
        profile.duration_unit = match profile.duration_unit {
            DurationUnit::Seconds => DurationUnit::Milliseconds,
            DurationUnit::Milliseconds => DurationUnit::Seconds,
        };
    }
    if let Ok(rec) = parse(body, &profile) {
        let template = KeyTemplate::parse("recordings/{yyyy}/{mm}/{dd}/{agent_id}/{call_id}.wav")
            .expect("template");
        if let Ok(key) = template.render(&rec, "host-1") {
            let _ = sidecar_key(&key);
        }
    }
    if let Ok(s) = Sidecar::parse(body) {
        let _ = checksum_matches(&s.audio.checksum, &s.audio.sha256);
    }
});
