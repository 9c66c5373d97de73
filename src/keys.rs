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
    let (a, b) = (a.expose_secret().as_bytes(), b.expose_secret().as_bytes());
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

/// Replaces anything that looks like a FluxLoop key in free text (error messages from parsers,
/// panic payloads) with its masked form, so such text can be shown safely.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("flux_") {
        out.push_str(&rest[..start]);
        let candidate = &rest[start..];
        let end = candidate
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
            .map(|(i, _)| i)
            .unwrap_or(candidate.len());
        let token = &candidate[..end];
        let looks_like_key = token.len() > "flux_x_".len() + 8;
        if looks_like_key {
            let masked = mask_str(token);
            out.push_str(if masked == "****" {
                "flux_****"
            } else {
                &masked
            });
        } else {
            out.push_str(token);
        }
        rest = &candidate[end..];
    }
    out.push_str(rest);
    out
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
}
