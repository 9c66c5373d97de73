//! The credentials-file parser (`~/.fluxloop/credentials`, YAML): never a panic, and an error
//! message never quotes 8 characters of a `flux_` key's secret (a legacy plaintext profile
//! holds one).
#![no_main]

use std::path::Path;

use fluxloop::profiles::parse_credentials;
use fluxloop_fuzz::{assert_no_piece, flux_secrets};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = parse_credentials(data, Path::new("credentials")) {
        let text = String::from_utf8_lossy(data);
        assert_no_piece(&e.to_string(), &flux_secrets(&text), "the error");
    }
});
