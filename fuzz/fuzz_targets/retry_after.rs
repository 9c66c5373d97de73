//! `api::parse_retry_after`: never a panic, whatever the header bytes; digits always give a
//! (saturating) number of seconds; the result can be added to "now" and compared with a
//! deadline the way the client does, without overflow.
#![no_main]

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use fluxloop::api::parse_retry_after;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first 8 bytes choose "now", anywhere chrono can represent.
    let (clock, value) = data.split_at(data.len().min(8));
    let mut seconds = [0u8; 8];
    seconds[..clock.len()].copy_from_slice(clock);
    let secs = i64::from_le_bytes(seconds) % 8_000_000_000_000;
    let Some(now) = Utc.timestamp_opt(secs, 0).single() else {
        return;
    };

    let parsed = parse_retry_after(value, now);
    if let Ok(text) = std::str::from_utf8(value) {
        let t = text.trim();
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            let expected = t.parse::<u64>().unwrap_or(u64::MAX);
            assert_eq!(parsed, Some(Duration::from_secs(expected)), "{t:?}");
        }
    }
    if let Some(wait) = parsed {
        let deadline = Instant::now() + Duration::from_secs(30);
        let _ = Instant::now()
            .checked_add(wait)
            .is_none_or(|resume| resume >= deadline);
    }
});
