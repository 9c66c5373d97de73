//! `keys::redact` and `keys::redact_key`: whatever the text, the result holds no 8-character
//! piece of the secret of any `flux_` key in it, nor of the presented key; redacting twice
//! changes nothing.
#![no_main]

use fluxloop::keys;
use fluxloop_fuzz::{assert_no_piece, flux_secrets, key_secret};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let secrets: Vec<String> = flux_secrets(&text);

    let once = keys::redact(&text);
    assert_no_piece(&once, &secrets, "redact(text)");
    assert_eq!(
        keys::redact(&once),
        once,
        "redacting twice changed the text"
    );

    // The first line as the presented key, when it is one (the CLI only sends well-formed
    // keys); the text is all of the input, so it may hold the key in any shape.
    let first_line = text.lines().next().unwrap_or_default().trim();
    let key = SecretString::from(first_line.to_string());
    if keys::check_format(&key).is_ok() {
        let with_key = keys::redact_key(&text, &key);
        let mut all = secrets;
        all.push(key_secret(first_line).to_string());
        assert_no_piece(&with_key, &all, "redact_key(text)");
    }
});
