//! The credentials-file parser (`~/.fluxloop/credentials`, YAML): never a panic, and an error
//! message never quotes 8 characters of a `flux_` key's secret (a legacy plaintext profile
//! holds one).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fluxloop_fuzz::targets::credentials(data));
