//! Checks shared by the fuzz targets, written independently of the code under test.

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
