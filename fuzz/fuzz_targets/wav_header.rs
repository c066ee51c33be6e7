//! WAV header checks: `muara_recordings::wav::inspect` over the whole input as the file. A
//! second call claims the file is longer than it is (a recorder still writing it), which
//! must end in an error, never a panic.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use muara_recordings::wav::inspect;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    if let Ok(f) = inspect(&mut Cursor::new(data), len) {
        assert!(f.data_len > 0 && f.data_len <= len, "{f:?}");
        assert!((1..=8).contains(&f.channels), "{f:?}");
    }
    let _ = inspect(&mut Cursor::new(data), len.saturating_add(4096));
});
