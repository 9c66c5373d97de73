//! All terminal output: data to stdout, messages to stderr. Colour decisions are anstream's
//! (`--color`, then `NO_COLOR` / `CLICOLOR_FORCE`, then whether the stream is a terminal).

use std::io::Write;

use anstyle::{AnsiColor, Style};
use chrono::{DateTime, Utc};

use crate::cli::ColorChoice;
use crate::error::CliError;

const BOLD: Style = Style::new().bold();
const RED: Style = AnsiColor::Red.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default().bold();
const GREEN: Style = AnsiColor::Green.on_default().bold();
const CYAN: Style = AnsiColor::Cyan.on_default().bold();
const DIM: Style = Style::new().dimmed();

pub fn init_color(choice: ColorChoice) {
    let c = match choice {
        ColorChoice::Auto => anstream::ColorChoice::Auto,
        ColorChoice::Always => anstream::ColorChoice::Always,
        ColorChoice::Never => anstream::ColorChoice::Never,
    };
    c.write_global();
}

/// Writes to the process's stdout and stderr. Write errors (a closed pipe) are ignored: there is
/// nowhere left to report them.
#[derive(Debug, Default, Clone, Copy)]
pub struct Printer;

impl Printer {
    /// A line of data (what scripts read) on stdout.
    pub fn data(&self, line: impl AsRef<str>) {
        let _ = writeln!(anstream::stdout(), "{}", line.as_ref());
    }

    /// A line of information for people, on stderr.
    pub fn info(&self, line: impl AsRef<str>) {
        let _ = writeln!(anstream::stderr(), "{}", line.as_ref());
    }

    pub fn warn(&self, message: impl AsRef<str>) {
        let _ = writeln!(
            anstream::stderr(),
            "{YELLOW}warning{YELLOW:#}: {}",
            message.as_ref()
        );
    }

    pub fn json(&self, value: &serde_json::Value) {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".into());
        let _ = writeln!(anstream::stdout(), "{text}");
    }

    pub fn error(&self, e: &CliError) {
        let mut err = anstream::stderr().lock();
        let _ = writeln!(err, "❌ {RED}Error{RED:#}: {}", e.title);
        for d in &e.details {
            let _ = writeln!(err, "{d}");
        }
        if !e.hints.is_empty() {
            let _ = writeln!(err);
        }
        for h in &e.hints {
            let _ = writeln!(err, "{CYAN}hint{CYAN:#}: {h}");
        }
    }
}

pub fn bold(s: impl std::fmt::Display) -> String {
    format!("{BOLD}{s}{BOLD:#}")
}

pub fn green(s: impl std::fmt::Display) -> String {
    format!("{GREEN}{s}{GREEN:#}")
}

pub fn dim(s: impl std::fmt::Display) -> String {
    format!("{DIM}{s}{DIM:#}")
}

/// `1234567` becomes `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Whole days left before `at`, rounded down; negative once passed.
pub fn days_until(at: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (at - now).num_days()
}

/// `2024-04-15 (84 days remaining)`, `never`, or `2024-04-15 (expired 3 days ago)`.
pub fn expiry_text(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(at) = at else {
        return "never".to_string();
    };
    let date = at.format("%Y-%m-%d");
    if at <= now {
        let ago = (now - at).num_days();
        return match ago {
            0 => format!("{date} (expired today)"),
            1 => format!("{date} (expired 1 day ago)"),
            n => format!("{date} (expired {n} days ago)"),
        };
    }
    match days_until(at, now) {
        0 => format!("{date} (expires in less than a day)"),
        1 => format!("{date} (1 day remaining)"),
        n => format!("{date} ({n} days remaining)"),
    }
}

/// `read_scenarios` becomes `Read scenarios`; names the CLI does not know read the same way.
pub fn permission_label(name: &str) -> String {
    let spaced = name.replace(['_', '-', '.'], " ");
    let mut chars = spaced.trim().chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn expiry_wording() {
        let now = Utc.with_ymd_and_hms(2024, 1, 21, 12, 0, 0).unwrap();
        let at = Utc.with_ymd_and_hms(2024, 4, 15, 0, 0, 0).unwrap();
        assert_eq!(expiry_text(Some(at), now), "2024-04-15 (84 days remaining)");
        assert_eq!(expiry_text(None, now), "never");
        assert_eq!(
            expiry_text(Some(now - chrono::Duration::days(3)), now),
            format!(
                "{} (expired 3 days ago)",
                (now - chrono::Duration::days(3)).format("%Y-%m-%d")
            )
        );
        assert!(
            expiry_text(Some(now + chrono::Duration::hours(3)), now)
                .ends_with("(expires in less than a day)")
        );
    }

    #[test]
    fn permission_labels() {
        assert_eq!(permission_label("read_scenarios"), "Read scenarios");
        assert_eq!(permission_label("manage_billing"), "Manage billing");
        assert_eq!(permission_label("x"), "X");
    }
}
