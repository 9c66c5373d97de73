//! `keys::redact` and `keys::redact_key`: whatever the text, the result holds no 8-character
//! piece of the secret of any `flux_` key in it, nor of the presented key; redacting twice
//! changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fluxloop_fuzz::targets::redact(data));
