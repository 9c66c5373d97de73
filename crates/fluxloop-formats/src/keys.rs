//! API key format checks and masking. Nothing here ever returns or formats the whole key.

use secrecy::{ExposeSecret, SecretString};

/// The secret part's length bounds, from the platform contract.
const SECRET_MIN: usize = 20;
const SECRET_MAX: usize = 128;

/// Why a string cannot be a FluxLoop API key. Messages describe the mistake without echoing input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    #[error("the API key is empty")]
    Empty,
    #[error("the API key does not start with `flux_`")]
    MissingPrefix,
    #[error("the API key has no environment part (expected `flux_<environment>_<secret>`)")]
    MissingEnvironment,
    #[error("the API key's environment part must be lowercase letters (like `dev` or `prod`)")]
    BadEnvironment,
    #[error(
        "the API key is too short: its secret part has {len} characters, at least {SECRET_MIN} expected (was it cut off while copying?)"
    )]
    TooShort { len: usize },
    #[error(
        "the API key is too long: its secret part has {len} characters, at most {SECRET_MAX} expected (was something pasted twice?)"
    )]
    TooLong { len: usize },
    #[error(
        "the API key contains {what} at character {position} (only letters and digits follow the environment; extra characters were probably pasted with it)"
    )]
    BadCharacter { position: usize, what: &'static str },
}

/// Checks the contract's shape `flux_<environment>_<20-128 of [A-Za-z0-9]>`. The platform remains
/// the judge of validity; this only catches paste errors before anything is sent.
pub fn check_format(key: &SecretString) -> Result<(), KeyFormatError> {
    let key = key.expose_secret();
    if key.is_empty() {
        return Err(KeyFormatError::Empty);
    }
    let Some(rest) = key.strip_prefix("flux_") else {
        // A quote or stray character pasted before the key is the likelier story.
        if let Some(first) = key.chars().next()
            && let Some(what) = stray(first)
            && key
                .trim_start_matches(|c| stray(c).is_some())
                .starts_with("flux_")
        {
            return Err(KeyFormatError::BadCharacter { position: 1, what });
        }
        return Err(KeyFormatError::MissingPrefix);
    };
    let Some((env, secret)) = rest.split_once('_') else {
        return Err(KeyFormatError::MissingEnvironment);
    };
    if env.is_empty() {
        return Err(KeyFormatError::MissingEnvironment);
    }
    if !env.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(KeyFormatError::BadEnvironment);
    }
    let offset = "flux_".len() + env.len() + 1;
    if let Some((i, c)) = secret
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii_alphanumeric())
    {
        return Err(KeyFormatError::BadCharacter {
            position: offset + i + 1,
            what: stray(c).unwrap_or("punctuation"),
        });
    }
    let len = secret.len();
    if len < SECRET_MIN {
        return Err(KeyFormatError::TooShort { len });
    }
    if len > SECRET_MAX {
        return Err(KeyFormatError::TooLong { len });
    }
    Ok(())
}

/// Names a character that cannot be part of a key, for the error message.
fn stray(c: char) -> Option<&'static str> {
    Some(match c {
        c if c.is_ascii_alphanumeric() => return None,
        c if c.is_whitespace() => "white space",
        '"' | '\'' | '`' | '\u{201c}' | '\u{201d}' | '\u{2018}' | '\u{2019}' => "a quote",
        '_' | '-' => "an extra separator",
        c if c.is_control() => "a control character",
        c if !c.is_ascii() => "a non-ASCII character",
        _ => "punctuation",
    })
}

/// Whether two keys are the same, compared in constant time for equal lengths.
pub fn same(a: &SecretString, b: &SecretString) -> bool {
    let [a, b] = [a, b].map(|k| k.expose_secret().as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `flux_dev_abc123...xyz` becomes `flux_dev_abc1...mno34`: the prefix and environment, the first
/// four and last five characters of the secret. Short or odd input is masked harder, never less.
pub fn mask(key: &SecretString) -> String {
    mask_str(key.expose_secret())
}

fn mask_str(key: &str) -> String {
    if let Some(rest) = key.strip_prefix("flux_")
        && let Some((env, secret)) = rest.split_once('_')
        && secret.is_ascii()
        && secret.len() >= SECRET_MIN
        && env.len() <= 16
        && env.is_ascii()
    {
        return format!(
            "flux_{env}_{}...{}",
            &secret[..4],
            &secret[secret.len() - 5..]
        );
    }
    "****".to_string()
}

/// How many consecutive characters of a key's secret count as a leak: a shorter run could be
/// coincidence, and the masked form shows at most five at either end.
pub const LEAK_WINDOW: usize = 8;

/// Replaces anything that looks like a FluxLoop key in free text (error messages from parsers,
/// panic payloads) with its masked form, so such text can be shown safely. Every `flux_`-prefixed
/// token is masked, and so is every other run of text that repeats 8 characters of such a
/// token's secret (the same key quoted twice, once without its prefix).
pub fn redact(text: &str) -> String {
    redact_secrets(text, None)
}

/// [`redact`], and also every piece of `key` (the key just presented) that the text repeats: a
/// server or proxy that echoes the key may drop its prefix or cut it anywhere, so any 8
/// consecutive characters of its secret are taken out.
pub fn redact_key(text: &str, key: &SecretString) -> String {
    redact_secrets(text, Some(key.expose_secret()))
}

/// [`redact`], for a message that quotes pieces of `source` (a parser's error with a snippet
/// of its input): a snippet can start in the middle of a key and so lose its `flux_`, so every
/// piece of a key found in `source` is taken out too.
pub fn redact_quoting(text: &str, source: &str) -> String {
    let mut secrets: Vec<&str> = flux_tokens(source)
        .map(|(_, token)| token_secret(token))
        .collect();
    secrets.extend(flux_tokens(text).map(|(_, token)| token_secret(token)));
    redact_with(text, secrets)
}

fn redact_secrets(text: &str, key: Option<&str>) -> String {
    let mut secrets: Vec<&str> = flux_tokens(text)
        .map(|(_, token)| token_secret(token))
        .collect();
    if let Some(key) = key {
        let secret = key_secret(key);
        // A malformed key has no known secret part: then all of it is secret.
        secrets.push(if secret.len() >= LEAK_WINDOW {
            secret
        } else {
            key
        });
    }
    redact_with(text, secrets)
}

/// Masks every `flux_` token of `text` and every 8-character piece of `secrets` in it, pass
/// after pass until nothing changes: a pass's last step can cut a masked form short (`flux_d`
/// then `****`), which the next pass masks again, and redacting twice must change nothing.
fn redact_with(text: &str, secrets: Vec<&str>) -> String {
    let mut out = redact_pass(text, &secrets);
    for _ in 0..8 {
        let found: Vec<String> = flux_tokens(&out)
            .map(|(_, token)| token_secret(token).to_string())
            .collect();
        let mut all = secrets.clone();
        all.extend(found.iter().map(String::as_str));
        let next = redact_pass(&out, &all);
        if next == out {
            break;
        }
        out = next;
    }
    out
}

fn redact_pass(text: &str, secrets: &[&str]) -> String {
    let covered = covered_bytes(text, secrets);

    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for (start, token) in flux_tokens(text) {
        if start < pos {
            continue; // inside the previous token (`flux_flux_...`)
        }
        push_uncovered(&mut out, text, pos, start, &covered);
        let end = start + token.len();
        if is_masked_form(token, &text[end..]) {
            out.push_str(token); // already masked: redacting twice changes nothing
        } else {
            out.push_str(&mask_token(token));
        }
        pos = end;
    }
    push_uncovered(&mut out, text, pos, text.len(), &covered);
    // A masked form kept as it is can still repeat a piece of another secret in the text
    // (`flux_a_dev_abcd1234` next to `flux_dev_abcd...vwxyz`): a last pass over the result
    // makes sure none survives.
    let covered = covered_bytes(&out, secrets);
    if covered.contains(&true) {
        let mut last = String::with_capacity(out.len());
        push_uncovered(&mut last, &out, 0, out.len(), &covered);
        return last;
    }
    out
}

/// Every `flux_` in `text` with the token it starts: `flux_` and the letters, digits and
/// underscores that follow. Overlapping starts (`flux_flux_dev_...`) are all reported.
fn flux_tokens(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.match_indices("flux_").map(move |(start, _)| {
        let rest = &text[start + "flux_".len()..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        (start, &text[start..start + "flux_".len() + len])
    })
}

/// The part of a `flux_` token after its environment; all of what follows `flux_` when it has
/// no environment separator.
fn token_secret(token: &str) -> &str {
    let rest = &token["flux_".len()..];
    rest.split_once('_').map_or(rest, |(_, secret)| secret)
}

/// The secret part of a presented key, `flux_<env>_<secret>`.
fn key_secret(key: &str) -> &str {
    key.strip_prefix("flux_")
        .and_then(|rest| rest.split_once('_'))
        .map_or(key, |(_, secret)| secret)
}

/// Which bytes of `text` belong to an occurrence of some 8-byte window of one of `secrets`.
fn covered_bytes(text: &str, secrets: &[&str]) -> Vec<bool> {
    let windows: std::collections::HashSet<&[u8]> = secrets
        .iter()
        .flat_map(|s| s.as_bytes().windows(LEAK_WINDOW))
        .collect();
    let bytes = text.as_bytes();
    let mut covered = vec![false; bytes.len()];
    if windows.is_empty() {
        return covered;
    }
    for (i, window) in bytes.windows(LEAK_WINDOW).enumerate() {
        if windows.contains(window) {
            covered[i..i + LEAK_WINDOW].fill(true);
        }
    }
    covered
}

/// Appends `text[from..to]` with every covered run replaced by `****`. Runs are widened to
/// character boundaries, since a presented key may hold non-ASCII characters.
fn push_uncovered(out: &mut String, text: &str, from: usize, to: usize, covered: &[bool]) {
    let mut in_run = false;
    for (i, c) in text[from..to].char_indices() {
        let at = from + i;
        if covered[at..at + c.len_utf8()].iter().any(|&b| b) {
            if !in_run {
                out.push_str("****");
                in_run = true;
            }
        } else {
            in_run = false;
            out.push(c);
        }
    }
}

/// `flux_<env>_abcd` followed by `...vwxyz`: what [`mask`] makes of a key.
fn is_masked_form(token: &str, after: &str) -> bool {
    let rest = &token["flux_".len()..];
    let tail = after.strip_prefix("...").unwrap_or_default();
    rest.split_once('_').is_some_and(|(env, head)| {
        maskable_environment(env)
            && head.len() == 4
            && head.bytes().all(|b| b.is_ascii_alphanumeric())
    }) && tail.len() >= 5
        && tail.as_bytes()[..5].iter().all(u8::is_ascii_alphanumeric)
        && !tail
            .as_bytes()
            .get(5)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// A key-shaped token becomes its masked form; any other `flux_` token with something after
/// the prefix (a cut key) becomes `flux_****`; `flux_` alone stays.
fn mask_token(token: &str) -> String {
    if token.len() == "flux_".len() {
        return token.to_string();
    }
    let rest = &token["flux_".len()..];
    let shown = rest.split_once('_').is_some_and(|(env, secret)| {
        maskable_environment(env) && secret.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    match mask_str(token) {
        masked if shown && masked != "****" => masked,
        _ => "flux_****".to_string(),
    }
}

/// An environment that a masked form in free text may show: what [`is_masked_form`] takes
/// back as masked, so that redacting twice changes nothing.
fn maskable_environment(env: &str) -> bool {
    !env.is_empty() && env.len() <= 16 && env.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> SecretString {
        SecretString::from(v)
    }

    #[test]
    fn accepts_contract_example() {
        assert_eq!(
            check_format(&s("flux_dev_abc123def456ghi789jkl012mno34")),
            Ok(())
        );
        assert_eq!(
            check_format(&s(&format!("flux_prod_{}", "a".repeat(128)))),
            Ok(())
        );
        assert_eq!(
            check_format(&s(&format!("flux_x_{}", "Z9".repeat(10)))),
            Ok(())
        );
    }

    #[test]
    fn rejects_paste_errors() {
        assert_eq!(check_format(&s("")), Err(KeyFormatError::Empty));
        assert_eq!(check_format(&s("abc")), Err(KeyFormatError::MissingPrefix));
        assert_eq!(
            check_format(&s("flux_dev")),
            Err(KeyFormatError::MissingEnvironment)
        );
        assert_eq!(
            check_format(&s("flux__abc")),
            Err(KeyFormatError::MissingEnvironment)
        );
        assert_eq!(
            check_format(&s("flux_DEV_abcdefghijabcdefghij")),
            Err(KeyFormatError::BadEnvironment)
        );
        assert_eq!(
            check_format(&s("flux_dev_abc123")),
            Err(KeyFormatError::TooShort { len: 6 })
        );
        let long = format!("flux_dev_{}", "a".repeat(129));
        assert_eq!(
            check_format(&s(&long)),
            Err(KeyFormatError::TooLong { len: 129 })
        );
        assert!(matches!(
            check_format(&s("flux_dev_abc123def456ghi789 jkl012")),
            Err(KeyFormatError::BadCharacter {
                what: "white space",
                position: 28
            })
        ));
        assert!(matches!(
            check_format(&s("flux_dev_abc123def456ghi789jkl012\"")),
            Err(KeyFormatError::BadCharacter {
                what: "a quote",
                ..
            })
        ));
        let at_start = |k: &str, what: &str| {
            matches!(check_format(&s(k)),
                Err(KeyFormatError::BadCharacter { what: w, position: 1 }) if w == what)
        };
        assert!(at_start("\"flux_dev_abc123def456ghi789jkl012\"", "a quote"));
        assert!(at_start(
            "\u{201c}flux_dev_abc123def456ghi789jkl012",
            "a quote"
        ));
        assert!(at_start(
            " flux_dev_abc123def456ghi789jkl012",
            "white space"
        ));
        assert_eq!(
            check_format(&s("\"hello")),
            Err(KeyFormatError::MissingPrefix)
        );
    }

    #[test]
    fn errors_never_echo_the_key() {
        for bad in [
            "flux_dev_SECRETSECRET",
            "flux_dev_SECRETSECRETSECRETSECRET!",
            "SECRETSECRET",
        ] {
            let msg = check_format(&s(bad)).unwrap_err().to_string();
            assert!(!msg.contains("SECRET"), "{msg}");
        }
    }

    #[test]
    fn masks_like_the_docs() {
        assert_eq!(
            mask(&s("flux_dev_abc123def456ghi789jkl012mno34")),
            "flux_dev_abc1...mno34"
        );
        assert_eq!(mask(&s("garbage")), "****");
        assert_eq!(mask(&s("flux_dev_short")), "****");
        // From the check_format fuzz target: a long environment is shown whole, even where it
        // repeats part of the secret; the secret itself still shows only 4 + 5 characters.
        assert_eq!(
            mask(&s("flux_wwwwwwwwwwwwvwww_bwfuwwwwwwwwwwlhi88jkl02efo34")),
            "flux_wwwwwwwwwwwwvwww_bwfu...efo34"
        );
    }

    #[test]
    fn redacts_keys_in_text() {
        let text = "bad value \"flux_dev_abc123def456ghi789jkl012mno34\" at line 3; flux_ alone";
        let out = redact(text);
        assert!(!out.contains("abc123def456ghi789jkl012mno34"));
        assert!(out.contains("flux_dev_abc1...mno34"));
        assert!(out.contains("flux_ alone"));
        assert_eq!(redact("flux_dev_tooshort!"), "flux_****!");
    }

    #[test]
    fn redacting_twice_changes_nothing() {
        for text in [
            "bad value \"flux_dev_abc123def456ghi789jkl012mno34\" and flux_dev_cut",
            "flux_dev_abc1...mno34 flux_dev_abc1...mno345",
            // Found by fuzzing (redact): an environment with digits was masked, then its
            // masked form was not recognised.
            "\"flux_prod01_readmmmmmmmmmmmmmmmmmoa",
            // Found by fuzzing (redact): no environment at all (`flux__...`).
            "flux__adev6666666666666666666666666666666\u{1d}66666666666667_abcb\u{fffd}cd...vwxy\u{fffd}",
            // Found by fuzzing (redact): the last step of a pass cut a masked form short.
            "flux_d346ghi789jklev_abc123def456ghi789jkl012mno346ghi789jkl012mno34$and f56ghil9k6de",
        ] {
            let once = redact(text);
            assert_eq!(redact(&once), once, "{text}");
        }
    }

    #[test]
    fn redacts_fragments_and_repeats_of_keys_in_the_text() {
        // A cut key, and the secret of a key quoted again without its prefix.
        assert_eq!(
            redact("got flux_dev_abc123, want more"),
            "got flux_****, want more"
        );
        let text =
            "key flux_dev_abc123def456ghi789jkl012mno34 (secret abc123def456ghi789jkl012mno34)";
        assert_eq!(redact(text), "key flux_dev_abc1...mno34 (secret ****)");
        assert_eq!(
            redact("flux_ alone, flux_<env>_<secret>"),
            "flux_ alone, flux_<env>_<secret>"
        );
    }

    #[test]
    fn a_parser_snippet_that_cuts_a_key_loses_the_piece_it_shows() {
        // Found by fuzzing (credentials): serde-saphyr's snippet began inside a key, so the
        // piece it showed had no `flux_` for redact to see.
        let source = "pProfiles: [flux_dev_abc123derofpProfiles: [flux_dev_abc123derofiles: [flu1iles: [flu1m20no34\n";
        let message = "line 1 column 82: unclosed bracket '['\n 1 | \u{2026}dev_abc123derofpProfiles: [flux_dev_abc123derofiles: [flu";
        let out = redact_quoting(message, source);
        assert!(
            !out.contains("pProfile") && !out.contains("abc123de"),
            "{out}"
        );
        assert!(
            out.starts_with("line 1 column 82: unclosed bracket"),
            "{out}"
        );

        // The fuzz target's input itself, through the credentials parser.
        let err = crate::profiles::parse_credentials(source.as_bytes(), "credentials".as_ref())
            .err()
            .unwrap()
            .to_string();
        for piece in ["pProfile", "Profiles", "abc123de", "derofile"] {
            assert!(!err.contains(piece), "{err}");
        }
    }

    #[test]
    fn redact_key_takes_out_every_8_character_piece_of_the_presented_key() {
        let key = s("flux_dev_abc123def456ghi789jkl012mno34");
        assert_eq!(
            redact_key("echo: abc123def456ghi789jkl012mno34!", &key),
            "echo: ****!"
        );
        assert_eq!(redact_key("cut: x789jkl01y", &key), "cut: x****y");
        assert_eq!(
            redact_key("short: 789jkl0 stays", &key),
            "short: 789jkl0 stays"
        );
        assert_eq!(redact_key("dev_abc123def456ghi", &key), "dev_****");
        // A key that is not key-shaped is taken as all secret.
        assert_eq!(
            redact_key("x-SECRETSECRET-x", &s("SECRETSECRET")),
            "x-****-x"
        );
    }
}
