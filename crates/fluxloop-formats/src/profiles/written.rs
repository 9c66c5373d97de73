//! A quick reader for the credentials file in the shape fluxloop writes it (serde-saphyr's block
//! style: one `key: value` per line, two spaces per level, sequences at their key's indent).
//! serde-saphyr takes milliseconds for 200 profiles, most of what `list` and `status` spend on
//! such a file (docs/benchmarks.md); this reads the same text in a fraction of that. It gives up
//! (`None`) on anything outside that shape (a field it does not know, a comment after the first
//! key, flow style, escapes, a scalar YAML could read as other than text), and serde-saphyr then
//! reads the file as before, errors included. What it returns is what serde-saphyr would: each
//! typed field goes through the same `Deserialize` impl, from the same text
//! (`written_files_read_as_serde_saphyr_reads_them` checks it on generated files).

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::IntoDeserializer;
use serde::de::value::{Error as ValueError, StrDeserializer};

use super::model::{CredentialsFile, Expiry, Profile, StoreKind};

/// The file read from `text`, or `None` when it is not in the shape fluxloop writes.
pub fn read(text: &str) -> Option<CredentialsFile> {
    let lines = significant_lines(text)?;
    let mut file = CredentialsFile::default();
    let mut seen: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let (indent, content) = lines[i];
        if indent != 0 {
            return None;
        }
        let (key, value) = entry(content)?;
        if seen.contains(&key) {
            return None;
        }
        seen.push(key);
        i += 1;
        match (key, value) {
            ("version", Some(v)) => file.version = Some(number(v)?.try_into().ok()?),
            // Legacy plaintext key: trimmed as `de_secret` trims it, never copied elsewhere.
            ("api_key", Some(v)) => file.api_key = Some(SecretString::from(scalar(v)?.trim())),
            ("api_url", Some(v)) => file.api_url = Some(scalar(v)?.to_string()),
            ("current_profile", Some(v)) => file.current_profile = Some(scalar(v)?.to_string()),
            ("profiles", None) => {
                while i < lines.len() && lines[i].0 != 0 {
                    let (indent, content) = lines[i];
                    let (name, None) = entry(content)? else {
                        return None;
                    };
                    if indent != 2 || file.profiles.contains_key(name) {
                        return None;
                    }
                    i += 1;
                    let profile = read_profile(&lines, &mut i)?;
                    file.profiles.insert(name.to_string(), profile);
                }
                if file.profiles.is_empty() {
                    return None;
                }
            }
            ("directories", None) => {
                while i < lines.len() && lines[i].0 != 0 {
                    let (indent, content) = lines[i];
                    let (dir, Some(name)) = entry(content)? else {
                        return None;
                    };
                    if indent != 2 || file.directories.contains_key(dir) {
                        return None;
                    }
                    file.directories
                        .insert(dir.to_string(), scalar(name)?.to_string());
                    i += 1;
                }
                if file.directories.is_empty() {
                    return None;
                }
            }
            _ => return None,
        }
    }
    // A file of comments only is not one fluxloop writes.
    (!seen.is_empty()).then_some(file)
}

/// The fields of one profile, at indent 4, from `lines[*i]` on.
fn read_profile(lines: &[(usize, &str)], i: &mut usize) -> Option<Profile> {
    let mut profile = Profile::default();
    let mut seen: Vec<&str> = Vec::new();
    while *i < lines.len() && lines[*i].0 > 2 {
        let (indent, content) = lines[*i];
        if indent != 4 {
            return None;
        }
        let (field, value) = entry(content)?;
        if seen.contains(&field) {
            return None;
        }
        seen.push(field);
        *i += 1;
        match (field, value) {
            ("account", Some(v)) => profile.account = Some(scalar(v)?.to_string()),
            ("expires", Some(v)) => profile.expires = Some(typed::<Expiry>(scalar(v)?)?),
            ("api_url", Some(v)) => profile.api_url = Some(scalar(v)?.to_string()),
            ("key_hint", Some(v)) => profile.key_hint = Some(scalar(v)?.to_string()),
            ("key_id", Some(v)) => profile.key_id = Some(scalar(v)?.to_string()),
            ("key_name", Some(v)) => profile.key_name = Some(scalar(v)?.to_string()),
            ("key_created", Some(v)) => {
                profile.key_created = Some(typed::<DateTime<Utc>>(scalar(v)?)?);
            }
            ("environment", Some(v)) => profile.environment = Some(scalar(v)?.to_string()),
            ("storage", Some(v)) => profile.storage = Some(typed::<StoreKind>(scalar(v)?)?),
            ("saved_at", Some(v)) => profile.saved_at = Some(typed::<DateTime<Utc>>(scalar(v)?)?),
            ("unlock_cache_seconds", Some(v)) => profile.unlock_cache_seconds = Some(number(v)?),
            ("api_key", Some(v)) => profile.api_key = Some(SecretString::from(scalar(v)?.trim())),
            ("organizations", None) => {
                while *i < lines.len() && lines[*i].0 == 4 {
                    let Some(item) = lines[*i].1.strip_prefix("- ") else {
                        break;
                    };
                    profile.organizations.push(scalar(item)?.to_string());
                    *i += 1;
                }
                if profile.organizations.is_empty() {
                    return None;
                }
            }
            _ => return None,
        }
    }
    // A profile without fields is written `name: {}`, which is not read here.
    (!seen.is_empty()).then_some(profile)
}

/// For the fuzz target of the credentials file (fuzz/): where [`read`] reads `text`, whether
/// serde-saphyr reads the same file from it. `None` when they agree or when [`read`] leaves the
/// text to serde-saphyr; else what differs (never a piece of the text: it may hold a key).
#[doc(hidden)]
pub fn disagreement_with_serde_saphyr(text: &str) -> Option<&'static str> {
    let quick = read(text)?;
    let Ok(slow) = super::parse::parse_with_serde_saphyr(text, std::path::Path::new("c")) else {
        return Some("the quick reader read a file serde-saphyr refuses");
    };
    let (quick, slow) = (
        serde_saphyr::to_string(&quick),
        serde_saphyr::to_string(&slow),
    );
    match (quick, slow) {
        (Ok(quick), Ok(slow)) if quick == slow => None,
        (Ok(_), Ok(_)) => Some("the two readers read different files"),
        _ => Some("a file read could not be written back"),
    }
}

/// Every line that is not blank and not a comment in the first column, as (indent, content).
/// Tabs, carriage returns, indented comments and trailing spaces are left to serde-saphyr.
fn significant_lines(text: &str) -> Option<Vec<(usize, &str)>> {
    if !text.chars().all(|c| c == '\n' || printable(c)) {
        return None;
    }
    let mut lines = Vec::with_capacity(text.len() / 24);
    for line in text.split('\n') {
        if line.bytes().all(|b| b == b' ') || line.starts_with('#') {
            continue;
        }
        let content = line.trim_start_matches(' ');
        if content.starts_with('#') || content.ends_with(' ') {
            return None;
        }
        lines.push((line.len() - content.len(), content));
    }
    Some(lines)
}

/// Characters YAML reads as text wherever they stand, comments included: its printable set
/// less the tab, the carriage return, NEL, the line and paragraph separators (line breaks to
/// YAML 1.1) and the byte-order mark. Anything else is left to serde-saphyr, which refuses some
/// of them (U+007F, U+FFFE) where a line reader would not notice.
fn printable(c: char) -> bool {
    matches!(c, ' '..='~' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
        && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// The longest key read here: YAML looks at most 1,024 characters ahead for an implicit key's
/// `:`, so a longer key (a deep directory's path) is left to serde-saphyr.
const MAX_KEY: usize = 1000;

/// `key: value` or `key:` (a block follows); the key plain or double-quoted.
fn entry(content: &str) -> Option<(&str, Option<&str>)> {
    let (key, rest) = match content.strip_prefix('"') {
        Some(quoted) => {
            let end = quoted.find('"')?;
            (double_quoted(&quoted[..end])?, &quoted[end + 1..])
        }
        None => {
            let end = content.find(':')?;
            (plain(&content[..end])?, &content[end..])
        }
    };
    if content.len() - rest.len() > MAX_KEY {
        return None;
    }
    let rest = rest.strip_prefix(':')?;
    if rest.is_empty() {
        return Some((key, None));
    }
    let value = rest.strip_prefix(' ')?;
    if value.is_empty() || value.starts_with(' ') {
        return None;
    }
    Some((key, Some(value)))
}

/// A value as text: double-quoted without escapes, or plain.
fn scalar(value: &str) -> Option<&str> {
    match value.strip_prefix('"') {
        Some(quoted) => double_quoted(quoted.strip_suffix('"')?),
        None => plain(value),
    }
}

fn double_quoted(inner: &str) -> Option<&str> {
    (!inner.contains(['"', '\\']) && !inner.chars().any(char::is_control)).then_some(inner)
}

/// A plain scalar that YAML can only read as this very text: printable ASCII starting with a
/// letter, `_` or `/` (no number, no indicator), without anything that could end it or start a
/// comment, and none of the words YAML schemas read as null, booleans or numbers.
fn plain(text: &str) -> Option<&str> {
    let first = text.chars().next()?;
    if !(first.is_ascii_alphabetic() || first == '_' || first == '/') {
        return None;
    }
    let ok = text.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        && !text.contains(['#', ',', '[', ']', '{', '}', '"', '\'', '`', '\\'])
        && !text.contains(": ")
        && !text.ends_with([':', ' ']);
    const SPECIAL: [&str; 12] = [
        "null", "true", "false", "yes", "no", "on", "off", "y", "n", "nan", "inf", "infinity",
    ];
    (ok && !SPECIAL.iter().any(|w| text.eq_ignore_ascii_case(w))).then_some(text)
}

/// A plain decimal number without sign or leading zero.
fn number(text: &str) -> Option<u64> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse().ok()
}

/// `text` through `T`'s own `Deserialize`, as serde-saphyr hands it a string.
fn typed<T: for<'de> Deserialize<'de>>(text: &str) -> Option<T> {
    let d: StrDeserializer<'_, ValueError> = text.into_deserializer();
    T::deserialize(d).ok()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::profiles::parse::parse_with_serde_saphyr;

    /// The file as the writer writes it (plaintext keys included), for comparing two reads.
    fn written(file: &CredentialsFile) -> String {
        serde_saphyr::to_string(file).unwrap()
    }

    fn both(text: &str) -> (Option<CredentialsFile>, CredentialsFile) {
        let slow = parse_with_serde_saphyr(text, std::path::Path::new("credentials")).unwrap();
        (read(text), slow)
    }

    const RICH: &str = r#"# FluxLoop CLI profiles. Managed by `fluxloop auth`.
# comments are not.
version: 1
profiles:
  default:
    account: john@example.com
    expires: "2027-02-19T23:59:59Z"
    api_url: http://127.0.0.1:40055
    key_hint: flux_dev_abc1...mno34
    key_id: key_01HV8Y3M2N
    key_name: laptop
    key_created: "2024-01-16T09:12:00Z"
    environment: dev
    organizations:
    - Acme Inc
    - Personal
    storage: keychain
    saved_at: "2026-11-27T20:19:27.970746663Z"
  old.one:
    account: ops@example.com
    expires: never
    storage: file
    api_key: flux_dev_zzz123def456ghi789jkl012mno34
  vault_1:
    storage: encrypted-file
    unlock_cache_seconds: 900
    expires: "2025-04-15"
api_url: https://api.example.com
current_profile: old.one
directories:
  /home/john/work: default
  "/home/john/a b": vault_1
"#;

    #[test]
    fn the_writers_shape_is_read_as_serde_saphyr_reads_it() {
        let (quick, slow) = both(RICH);
        let quick = quick.expect("read quickly");
        assert_eq!(written(&quick), written(&slow));
        assert_eq!(quick.profiles.len(), 3);
        assert_eq!(quick.directories.len(), 2);
        assert_eq!(quick.profiles["vault_1"].unlock_cache_seconds, Some(900));
        assert_eq!(quick.profiles["old.one"].expires, Some(Expiry::Never));
    }

    #[test]
    fn anything_else_is_left_to_serde_saphyr() {
        for (what, text) in [
            (
                "an unknown field",
                "profiles:\n  a:\n    account: x\n    colour: red\n",
            ),
            ("an unknown top-level key", "version: 1\nextra: 1\n"),
            ("flow style", "profiles: {a: {account: x}}\n"),
            ("an empty profile", "profiles:\n  a: {}\n"),
            ("an escape", "profiles:\n  a:\n    account: \"x\\ty\"\n"),
            ("single quotes", "profiles:\n  a:\n    account: 'x'\n"),
            (
                "an indented comment",
                "profiles:\n  # hi\n  a:\n    account: x\n",
            ),
            (
                "a trailing comment",
                "profiles:\n  a:\n    account: x # hi\n",
            ),
            ("a null", "profiles:\n  a:\n    account: null\n"),
            ("a boolean", "profiles:\n  a:\n    account: TRUE\n"),
            ("a number as text", "profiles:\n  a:\n    account: 12\n"),
            ("a tab", "profiles:\n\ta:\n    account: x\n"),
            ("CRLF", "profiles:\r\n  a:\r\n    account: x\r\n"),
            (
                "a duplicate field",
                "profiles:\n  a:\n    account: x\n    account: y\n",
            ),
            (
                "a duplicate profile",
                "profiles:\n  a:\n    account: x\n  a:\n    account: y\n",
            ),
            ("other indentation", "profiles:\n   a:\n      account: x\n"),
            (
                "an indented sequence",
                "profiles:\n  a:\n    organizations:\n      - x\n",
            ),
            ("a document marker", "---\nversion: 1\n"),
            ("a leading zero", "version: 01\n"),
            (
                "a bad date",
                "profiles:\n  a:\n    saved_at: \"yesterday\"\n",
            ),
            ("comments only", "# nothing\n"),
            ("an anchor", "profiles:\n  a: &x\n    account: x\n"),
            ("DEL in a comment", "# \u{7f}\nversion: 1\n"),
            ("C1 control in a comment", "# \u{85}\nversion: 1\n"),
            (
                "a noncharacter in quotes",
                "profiles:\n  a:\n    account: \"\u{fffe}\"\n",
            ),
            (
                "a line separator",
                "profiles:\n  a:\n    account: x\u{2028}y\n",
            ),
        ] {
            assert!(read(text).is_none(), "{what}: {text:?}");
        }
        let long = format!("directories:\n  /{}: default\n", "a".repeat(1100));
        assert!(read(&long).is_none(), "a key over 1,000 characters");
    }

    /// Texts serde-saphyr refuses are never read here (found by review: each was read before).
    #[test]
    fn what_serde_saphyr_refuses_is_not_read() {
        let long = format!("directories:\n  /{}: default\n", "a".repeat(1100));
        for text in [
            "# \u{7f}\nversion: 1\n",
            "profiles:\n  a:\n    account: \"\u{fffe}\"\n",
            long.as_str(),
        ] {
            assert!(
                parse_with_serde_saphyr(text, std::path::Path::new("c")).is_err(),
                "serde-saphyr now reads {text:?}: this test's premise changed"
            );
            assert!(read(text).is_none(), "{text:?}");
        }
    }

    /// A small deterministic generator (xorshift), so the test needs no crate and fails the
    /// same way every time.
    struct Rng(u64, bool);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        /// Text from pieces chosen to hit YAML's corners: indicators, quotes, colons, spaces,
        /// words YAML reads as other types, numbers, non-ASCII.
        fn text(&mut self) -> String {
            // In half the files (`self.1` false) only text the quick reader takes, so that both
            // paths are exercised; the other half mix in YAML's corners.
            const PLAIN: [&str; 8] = [
                "acme",
                "john@example.com",
                "http://h:1/x",
                "Acme Inc",
                "/home/x/p",
                "key_01",
                "flux_dev_abc1...mno34",
                "p.1-x",
            ];
            if !self.1 || self.below(2) == 0 {
                return PLAIN[self.below(PLAIN.len())].to_string();
            }
            const PIECES: [&str; 40] = [
                "a",
                "Z",
                "john@example.com",
                "http://h:1/x",
                " ",
                ": ",
                ":",
                "#",
                " #",
                "-",
                "- ",
                "?",
                "'",
                "\"",
                "\\",
                "\\n",
                "[",
                "]",
                "{",
                "}",
                ",",
                "&a",
                "*a",
                "!t",
                "|",
                ">",
                "%",
                "@",
                "`",
                "null",
                "true",
                "No",
                "~",
                "12",
                "0x1F",
                "1e3",
                ".inf",
                "é",
                "/home/x y",
                "\t",
            ];
            (0..1 + self.below(4))
                .map(|_| PIECES[self.below(PIECES.len())])
                .collect()
        }
        fn maybe<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
            (self.below(3) > 0).then(|| f(self))
        }
    }

    #[test]
    fn written_files_read_as_serde_saphyr_reads_them() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15, false);
        let mut quick_reads = 0;
        for _ in 0..400 {
            rng.1 = rng.below(2) == 0;
            let mut file = CredentialsFile {
                version: rng.maybe(|r| r.below(3) as u32),
                api_url: rng.maybe(Rng::text),
                current_profile: rng.maybe(Rng::text),
                api_key: rng.maybe(|r| SecretString::from(r.text())),
                ..CredentialsFile::default()
            };
            for _ in 0..rng.below(4) {
                let dir = rng.text();
                let name = rng.text();
                file.directories.insert(dir, name);
            }
            for _ in 0..rng.below(5) {
                let profile = Profile {
                    account: rng.maybe(Rng::text),
                    expires: rng.maybe(|r| match r.below(2) {
                        0 => Expiry::Never,
                        _ => Expiry::At(
                            DateTime::from_timestamp(r.below(1 << 34) as i64, 0).unwrap(),
                        ),
                    }),
                    api_url: rng.maybe(Rng::text),
                    key_hint: rng.maybe(Rng::text),
                    key_id: rng.maybe(Rng::text),
                    key_name: rng.maybe(Rng::text),
                    key_created: rng.maybe(|r| {
                        DateTime::from_timestamp(
                            r.below(1 << 34) as i64,
                            r.below(1_000_000_000) as u32,
                        )
                        .unwrap()
                    }),
                    environment: rng.maybe(Rng::text),
                    organizations: (0..rng.below(3)).map(|_| rng.text()).collect(),
                    storage: rng.maybe(|r| {
                        [
                            StoreKind::Keychain,
                            StoreKind::Keyutils,
                            StoreKind::EncryptedFile,
                            StoreKind::File,
                        ][r.below(4)]
                    }),
                    saved_at: rng
                        .maybe(|r| DateTime::from_timestamp(r.below(1 << 34) as i64, 7).unwrap()),
                    unlock_cache_seconds: rng.maybe(|r| r.next() >> r.below(64)),
                    api_key: rng.maybe(|r| SecretString::from(r.text())),
                    unknown: BTreeMap::new(),
                };
                let name = rng.text();
                file.profiles.insert(name, profile);
            }
            let text = serde_saphyr::to_string(&file).unwrap();
            let Ok(slow) = parse_with_serde_saphyr(&text, std::path::Path::new("c")) else {
                assert!(
                    read(&text).is_none(),
                    "read what serde-saphyr refuses: {text}"
                );
                continue;
            };
            if let Some(quick) = read(&text) {
                quick_reads += 1;
                assert_eq!(written(&quick), written(&slow), "{text}");
            }
        }
        // The generator must reach the quick path often, or the test proves little.
        assert!(quick_reads > 40, "only {quick_reads} files read quickly");
    }
}
