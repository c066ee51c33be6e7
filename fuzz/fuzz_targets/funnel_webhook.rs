//! Pipeline D webhook bodies: `muara_funnel::webhook::parse` (WhatsApp Cloud API and generic
//! JSON); every message read is then taken where the worker takes it: phone to E.164
//! (`phone::normalize`), amount (`amount::find_amount`), keyword folding, idempotency and raw
//! archive keys. The raw bytes also go, as text, to the phone and amount parsers directly,
//! and the signature check runs with the first line as the header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use muara_funnel::amount::find_amount;
use muara_funnel::classify::fold;
use muara_funnel::ingest::{claim_hash, claim_key, key_segment, raw_key, valid_channel};
use muara_funnel::phone::normalize;
use muara_funnel::webhook::{Body, parse, verify_signature};

fuzz_target!(|data: &[u8]| {
    let channel = if data.first().is_some_and(|b| b & 1 == 1) {
        "whatsapp"
    } else {
        "web"
    };
    if let Ok(Body::Messages { messages, .. }) = parse(data, channel) {
        for m in &messages {
            let _ = normalize(&m.phone);
            let _ = find_amount(&m.text);
            let _ = fold(&m.text);
            let _ = valid_channel(&m.channel);
            let _ = claim_key(m);
            let _ = claim_hash(m);
            let _ = raw_key(m);
        }
    }
    let text = String::from_utf8_lossy(data);
    let _ = normalize(&text);
    let _ = find_amount(&text);
    let _ = key_segment(&text);
    let header = text.lines().next();
    let _ = verify_signature(b"secret", data, header);
});
