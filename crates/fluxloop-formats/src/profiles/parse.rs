//! The credentials file's parser: text in, [`CredentialsFile`] or an error that quotes no key
//! out. Reading the file, its checks and its lock are fluxloop's (`profiles::store`).

use std::path::{Path, PathBuf};

use super::model::{CredentialsFile, FORMAT_VERSION};

/// Why the credentials file's text is not a credentials file. The messages are those of
/// fluxloop's `ProfileError::Read` and `ProfileError::Malformed`, which these become.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("cannot read {path}: {source}")]
    NotUtf8 {
        path: PathBuf,
        source: std::str::Utf8Error,
    },
    #[error("{path} is not valid: {reason}")]
    Malformed { path: PathBuf, reason: String },
}

/// The credentials file's parser applied to its bytes (which must be UTF-8): the entry point of
/// the fuzz target.
pub fn parse_credentials(bytes: &[u8], path: &Path) -> Result<CredentialsFile, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|source| ParseError::NotUtf8 {
        path: path.to_path_buf(),
        source,
    })?;
    parse_credentials_text(text, path)
}

/// The credentials file's parser, as fluxloop's store applies it to the file's text; `path`
/// only names the file in errors.
pub fn parse_credentials_text(text: &str, path: &Path) -> Result<CredentialsFile, ParseError> {
    if text.trim().is_empty() {
        return Ok(CredentialsFile::default());
    }
    // The shape fluxloop writes is read quickly; anything else (and every error) by serde-saphyr.
    let file = match super::written::read(text) {
        Some(file) => file,
        None => parse_with_serde_saphyr(text, path)?,
    };
    if let Some(v) = file.version
        && v > FORMAT_VERSION
    {
        return Err(ParseError::Malformed {
            path: path.to_path_buf(),
            reason: format!(
                "format version {v} is newer than this fluxloop understands ({FORMAT_VERSION})"
            ),
        });
    }
    Ok(file)
}

/// The whole YAML parser, for any file [`super::written::read`] does not read.
pub(super) fn parse_with_serde_saphyr(
    text: &str,
    path: &Path,
) -> Result<CredentialsFile, ParseError> {
    // YAML 1.2 booleans only: a newer version's field `y` or `on` is kept as the text it is.
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| ParseError::Malformed {
        path: path.to_path_buf(),
        reason: parse_error_text(&e, text),
    })
}

/// The parser's message and position ("… at line 2, column 96"), never its snippet of the file:
/// the file may hold a plaintext key, and a snippet cropped in the middle of one is no longer
/// recognisable as a key. Quoted values in the message are left out for the same reason.
fn parse_error_text(e: &serde_saphyr::Error, source: &str) -> String {
    let message = e.without_snippet().to_string();
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        match (c, quoted) {
            ('"', false) => {
                quoted = true;
                out.push_str("\"…");
            }
            ('"', true) => {
                quoted = false;
                out.push('"');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    crate::keys::redact_quoting(&out, source)
}
