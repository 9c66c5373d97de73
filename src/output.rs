//! All terminal output: data to stdout, messages to stderr. Colour decisions are anstream's
//! (`--color`, then `NO_COLOR` / `CLICOLOR_FORCE`, then whether the stream is a terminal).

use std::cell::RefCell;
use std::io::Write;

use anstyle::{AnsiColor, Style};
use chrono::{DateTime, Utc};

use crate::cli::ColorChoice;
use crate::error::{CliError, ExitStatus};

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

/// Where output goes: the process's stdout and stderr, or buffers a test supplies.
///
/// Data goes to stdout, messages to stderr. A failed write to stdout (a full disk, a closed pipe)
/// is remembered, so the command cannot report success for output nobody got; stderr write
/// errors are ignored, as there is nowhere left to report them.
pub struct Printer {
    out: RefCell<Box<dyn Write>>,
    err: RefCell<Box<dyn Write>>,
    out_error: RefCell<Option<std::io::Error>>,
    /// Stdout is a terminal, where a printed key would stay in the scrollback.
    out_is_terminal: bool,
}

impl Printer {
    /// The process's stdout and stderr, with anstream's colour decisions.
    pub fn stdio() -> Self {
        use std::io::IsTerminal;
        Self {
            out_is_terminal: std::io::stdout().is_terminal(),
            ..Self::new(Box::new(anstream::stdout()), Box::new(anstream::stderr()))
        }
    }

    /// Output into any writers (colour codes are written as they are).
    pub fn new(out: Box<dyn Write>, err: Box<dyn Write>) -> Self {
        Self {
            out: RefCell::new(out),
            err: RefCell::new(err),
            out_error: RefCell::new(None),
            out_is_terminal: false,
        }
    }

    pub fn stdout_is_terminal(&self) -> bool {
        self.out_is_terminal
    }

    /// The API key and a newline on stdout. `auth token` is the only caller: no other command
    /// ever prints a key.
    pub fn api_key(&self, key: &secrecy::SecretString) {
        use secrecy::ExposeSecret;
        // One write, so a reader never sees the key without its newline; the buffer is wiped.
        let line = zeroize::Zeroizing::new(format!("{}\n", key.expose_secret()));
        self.write_out(&line);
    }

    fn write_out(&self, text: &str) {
        if self.out_error.borrow().is_some() {
            return;
        }
        let mut out = self.out.borrow_mut();
        if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            *self.out_error.borrow_mut() = Some(e);
        }
    }

    fn write_err(&self, text: &str) {
        let mut err = self.err.borrow_mut();
        let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
    }

    /// A line of data (what scripts read) on stdout.
    pub fn data(&self, line: impl AsRef<str>) {
        self.write_out(&format!("{}\n", line.as_ref()));
    }

    /// Data as it is, without an added newline (a generated script or page), on stdout.
    pub fn text(&self, text: impl AsRef<str>) {
        self.write_out(text.as_ref());
    }

    /// A line of information for people, on stderr.
    pub fn info(&self, line: impl AsRef<str>) {
        self.write_err(&format!("{}\n", line.as_ref()));
    }

    /// A question for people, on stderr, with the cursor left after it on the same line.
    pub fn prompt(&self, text: impl AsRef<str>) {
        self.write_err(text.as_ref());
    }

    pub fn warn(&self, message: impl AsRef<str>) {
        self.write_err(&format!(
            "{YELLOW}warning{YELLOW:#}: {}\n",
            message.as_ref()
        ));
    }

    /// A `--json` document on stdout.
    pub fn json(&self, document: &impl serde::Serialize) {
        match serde_json::to_string_pretty(document) {
            Ok(text) => self.write_out(&format!("{text}\n")),
            Err(e) => {
                *self.out_error.borrow_mut() = Some(std::io::Error::other(e));
            }
        }
    }

    pub fn error(&self, e: &CliError) {
        let mut text = format!("❌ {RED}Error{RED:#}: {}\n", e.title);
        for d in &e.details {
            text.push_str(d);
            text.push('\n');
        }
        if !e.hints.is_empty() {
            text.push('\n');
        }
        for h in &e.hints {
            text.push_str(&format!("{CYAN}hint{CYAN:#}: {h}\n"));
        }
        self.write_err(&text);
    }

    /// The exit status once the command is done: `status`, unless writing its output failed.
    pub fn finish(&self, status: ExitStatus) -> ExitStatus {
        let Some(e) = self.out_error.borrow_mut().take() else {
            return status;
        };
        self.error(
            &CliError::failure(format!("Could not write to standard output: {e}"))
                .detail("The command's output is incomplete or missing.")
                .hint("Check where the output goes (a full disk, a closed pipe), then retry"),
        );
        if status == ExitStatus::Success {
            ExitStatus::Failure
        } else {
            status
        }
    }
}

/// A [`Write`] into a shared buffer, for tests that read what a [`Printer`] wrote.
#[cfg(test)]
#[derive(Clone, Default)]
pub struct Capture(std::rc::Rc<RefCell<Vec<u8>>>);

#[cfg(test)]
impl Capture {
    /// What was written, without colour codes.
    pub fn text(&self) -> String {
        anstream::adapter::strip_str(&String::from_utf8_lossy(&self.0.borrow())).to_string()
    }
}

#[cfg(test)]
impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
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

/// Only the Unix key prompt's help line is cyan (commands/auth/login.rs); Windows has inquire's.
#[cfg(unix)]
pub fn cyan(s: impl std::fmt::Display) -> String {
    format!("{CYAN}{s}{CYAN:#}")
}

pub fn red(s: impl std::fmt::Display) -> String {
    format!("{RED}{s}{RED:#}")
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
