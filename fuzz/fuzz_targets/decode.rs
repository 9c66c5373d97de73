//! Response decoding (`api::decode` into KeyInfo and Whoami, serde_json into ErrorBody):
//! never a panic; what decodes, and every error message, holds no piece of the presented key
//! and no control character.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fluxloop_fuzz::targets::decode_responses(data));
