//! `keys::check_format` and `keys::mask`: never a panic; a key accepted is exactly the
//! contract's shape; its mask shows the environment and 4 + 5 characters of the secret.
#![no_main]

use fluxloop::keys;
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

/// `flux_<lowercase env>_<20..=128 [A-Za-z0-9]>`, checked the plain way.
fn well_formed(key: &str) -> bool {
    let Some(rest) = key.strip_prefix("flux_") else {
        return false;
    };
    let Some((env, secret)) = rest.split_once('_') else {
        return false;
    };
    !env.is_empty()
        && env.bytes().all(|b| b.is_ascii_lowercase())
        && (20..=128).contains(&secret.len())
        && secret.bytes().all(|b| b.is_ascii_alphanumeric())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let key = SecretString::from(text.to_string());
    let result = keys::check_format(&key);
    assert_eq!(result.is_ok(), well_formed(text), "{text:?}: {result:?}");

    // Error messages are fixed text (unit test keys::tests::errors_never_echo_the_key). The
    // mask of an accepted key shows its environment and 4 + 5 characters of the secret, no
    // more: an 8-character piece of the secret may only appear where the environment itself
    // repeats it (first found by this target: `flux_wwwwwwwwwwwwvwww_...wwwwwwww...`).
    if result.is_ok() {
        let masked = keys::mask(&key);
        let (env, secret) = text["flux_".len()..].split_once('_').unwrap();
        // An environment longer than 16 characters is masked harder (found by this target).
        let expected = if env.len() > 16 {
            "****".to_string()
        } else {
            format!(
                "flux_{env}_{}...{}",
                &secret[..4],
                &secret[secret.len() - 5..]
            )
        };
        assert_eq!(masked, expected);
    }
});
