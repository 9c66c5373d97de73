//! `api::parse_retry_after`: never a panic, whatever the header bytes; digits always give a
//! (saturating) number of seconds; the result can be added to "now" and compared with a
//! deadline the way the client does, without overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fluxloop_fuzz::targets::retry_after(data));
