//! The fuzz targets' checks, written independently of the code under test: each target in
//! fuzz_targets/ is one call of a function in [`targets`], on fluxloop-formats (the pure part of
//! fluxloop, so a cold build of the targets is short). The main crate's test
//! tests/fuzz_corpus.rs includes this file too and replays the committed corpus
//! (fuzz/corpus/<target>/) through the same functions, so a regression fails the normal suite.

/// The secret of every `flux_` token in `text`, as a careful reader would find them: `flux_`,
/// then letters, digits and underscores; the secret is what follows the first underscore
/// after the prefix (all of it when there is none). Overlapping starts count too.
pub fn flux_secrets(text: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("flux_") {
        let start = from + i + "flux_".len();
        let run: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let secret = match run.find('_') {
            Some(u) => run[u + 1..].to_string(),
            None => run,
        };
        secrets.push(secret);
        from = from + i + 1;
    }
    secrets
}

/// The first 8-byte piece of `secret` that `text` contains.
pub fn leaked_piece<'s>(text: &str, secret: &'s str) -> Option<&'s [u8]> {
    secret
        .as_bytes()
        .windows(8)
        .find(|w| text.as_bytes().windows(8).any(|t| t == *w))
}

/// Panics if `text` holds a piece of any of `secrets`.
pub fn assert_no_piece(text: &str, secrets: &[String], what: &str) {
    for secret in secrets {
        if let Some(piece) = leaked_piece(text, secret) {
            panic!(
                "{what} holds {:?}, a piece of secret {secret:?}:\n{text:?}",
                String::from_utf8_lossy(piece)
            );
        }
    }
}

/// The secret part of a well-formed key.
pub fn key_secret(key: &str) -> &str {
    key.splitn(3, '_').nth(2).unwrap_or(key)
}

/// One function per fuzz target, named as the target; each panics on a finding.
pub mod targets {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use chrono::{TimeZone, Utc};
    use fluxloop_formats::api::{ErrorBody, KeyInfo, Whoami, decode, parse_retry_after};
    use fluxloop_formats::keys;
    use fluxloop_formats::profiles::{disagreement_with_serde_saphyr, parse_credentials};
    use secrecy::SecretString;

    use super::{assert_no_piece, flux_secrets, key_secret};

    /// A target's check: panics on a finding.
    pub type Check = fn(&[u8]);

    /// Every target, by name, for the corpus replay.
    pub const ALL: &[(&str, Check)] = &[
        ("check_format", check_format),
        ("credentials", credentials),
        ("decode", decode_responses),
        ("redact", redact),
        ("retry_after", retry_after),
    ];

    /// The credentials-file parser (`~/.fluxloop/credentials`, YAML): never a panic, and an
    /// error message never quotes 8 characters of a `flux_` key's secret (a legacy plaintext
    /// profile holds one).
    pub fn credentials(data: &[u8]) {
        if let Err(e) = parse_credentials(data, Path::new("credentials")) {
            let text = String::from_utf8_lossy(data);
            assert_no_piece(&e.to_string(), &flux_secrets(&text), "the error");
        }
        // The quick reader of the shape fluxloop writes must read what serde-saphyr reads,
        // wherever it reads at all.
        if let Ok(text) = std::str::from_utf8(data)
            && let Some(difference) = disagreement_with_serde_saphyr(text)
        {
            panic!("{difference}");
        }
    }

    /// The key the request carried; a hostile body may echo it in any shape.
    const KEY: &str = "flux_dev_abc123def456ghi789jkl012mno34";

    fn check_shown(text: &str, what: &str) {
        assert_no_piece(text, &[key_secret(KEY).to_string()], what);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{what} has a control character: {text:?}"
        );
    }

    /// Response decoding (`api::decode` into KeyInfo and Whoami, serde_json into ErrorBody):
    /// never a panic; what decodes, and every error message, holds no piece of the presented
    /// key and no control character.
    pub fn decode_responses(data: &[u8]) {
        let key = SecretString::from(KEY);
        match decode::<KeyInfo>(data, &key) {
            Ok(info) => check_shown(&format!("{info:?}"), "KeyInfo"),
            Err(e) => check_shown(&e.to_string(), "the KeyInfo error"),
        }
        match decode::<Whoami>(data, &key) {
            Ok(w) => check_shown(&format!("{w:?}"), "Whoami"),
            Err(e) => check_shown(&e.to_string(), "the Whoami error"),
        }
        // Error bodies are decoded raw, then each field shown passes through ServerText.
        let _ = serde_json::from_slice::<ErrorBody>(data);
    }

    /// `api::parse_retry_after`: never a panic, whatever the header bytes; digits always give
    /// a (saturating) number of seconds; the result can be added to "now" and compared with a
    /// deadline the way the client does, without overflow.
    pub fn retry_after(data: &[u8]) {
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
    }

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

    /// `keys::check_format` and `keys::mask`: never a panic; a key accepted is exactly the
    /// contract's shape; its mask shows the environment and 4 + 5 characters of the secret.
    pub fn check_format(data: &[u8]) {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let key = SecretString::from(text.to_string());
        let result = keys::check_format(&key);
        assert_eq!(result.is_ok(), well_formed(text), "{text:?}: {result:?}");

        // Error messages are fixed text (unit test keys::tests::errors_never_echo_the_key). The
        // mask of an accepted key shows its environment and 4 + 5 characters of the secret, no
        // more: an 8-character piece of the secret may only appear where the environment
        // itself repeats it (first found by this target: `flux_wwwwwwwwwwwwvwww_...wwwwwwww...`).
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
    }

    /// `keys::redact` and `keys::redact_key`: whatever the text, the result holds no
    /// 8-character piece of the secret of any `flux_` key in it, nor of the presented key;
    /// redacting twice changes nothing.
    pub fn redact(data: &[u8]) {
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
    }
}
