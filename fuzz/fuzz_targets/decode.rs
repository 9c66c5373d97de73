//! Response decoding (`api::decode` into KeyInfo and Whoami, serde_json into ErrorBody):
//! never a panic; what decodes, and every error message, holds no piece of the presented key
//! and no control character.
#![no_main]

use fluxloop::api::{ErrorBody, KeyInfo, Whoami, decode};
use fluxloop_fuzz::{assert_no_piece, key_secret};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

/// The key the request carried; a hostile body may echo it in any shape.
const KEY: &str = "flux_dev_abc123def456ghi789jkl012mno34";

fn check(text: &str, what: &str) {
    assert_no_piece(text, &[key_secret(KEY).to_string()], what);
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{what} has a control character: {text:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let key = SecretString::from(KEY);
    match decode::<KeyInfo>(data, &key) {
        Ok(info) => check(&format!("{info:?}"), "KeyInfo"),
        Err(e) => check(&e.to_string(), "the KeyInfo error"),
    }
    match decode::<Whoami>(data, &key) {
        Ok(w) => check(&format!("{w:?}"), "Whoami"),
        Err(e) => check(&e.to_string(), "the Whoami error"),
    }
    // Error bodies are decoded raw, then each field shown passes through ServerText.
    let _ = serde_json::from_slice::<ErrorBody>(data);
});
