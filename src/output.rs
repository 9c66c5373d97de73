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
    /// `-q`: nothing on stderr but errors and prompts.
    quiet: bool,
    /// The locale is not UTF-8: symbols are written in ASCII (`ascii_symbols`).
    ascii: bool,
    /// A spinner may be drawn on stderr (`Printer::while_waiting`).
    spinner: bool,
}

/// How long a network wait runs before a spinner shows: shorter waits would only flicker.
pub const SPINNER_AFTER: std::time::Duration = std::time::Duration::from_millis(300);

impl Printer {
    /// The process's stdout and stderr, with anstream's colour decisions.
    pub fn stdio() -> Self {
        use std::io::IsTerminal;
        Self {
            out_is_terminal: std::io::stdout().is_terminal(),
            ascii: !locale_is_utf8(),
            spinner: spinner_fits(),
            ..Self::new(Box::new(anstream::stdout()), Box::new(anstream::stderr()))
        }
    }

    /// `-q/--quiet`: information and warnings are not printed; errors, prompts and data are.
    pub fn quiet(mut self, quiet: bool) -> Self {
        self.quiet = quiet;
        self.spinner &= !quiet;
        self
    }

    /// Waits for `work`; once it has taken [`SPINNER_AFTER`], shows a spinner with `message` on
    /// stderr until it is done, then erases it. Only where a person watches (`spinner_fits`).
    pub async fn while_waiting<T>(&self, message: &str, work: impl Future<Output = T>) -> T {
        if !self.spinner {
            return work.await;
        }
        let mut work = std::pin::pin!(work);
        tokio::select! {
            done = &mut work => return done,
            () = tokio::time::sleep(SPINNER_AFTER) => {}
        }
        let spinner =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        let ticks = if self.ascii {
            "|/-\\ "
        } else {
            "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ "
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg}") {
            spinner.set_style(style.tick_chars(ticks));
        }
        spinner.set_message(self.symbols(message).into_owned());
        // Its own thread draws it: this one is busy with the request.
        spinner.enable_steady_tick(std::time::Duration::from_millis(100));
        let done = work.await;
        spinner.finish_and_clear();
        done
    }

    /// Output into any writers (colour codes are written as they are).
    pub fn new(out: Box<dyn Write>, err: Box<dyn Write>) -> Self {
        Self {
            out: RefCell::new(out),
            err: RefCell::new(err),
            out_error: RefCell::new(None),
            out_is_terminal: false,
            quiet: false,
            ascii: false,
            spinner: false,
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
        let text = self.symbols(text);
        let mut err = self.err.borrow_mut();
        let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
    }

    /// A line of data (what scripts read) on stdout.
    pub fn data(&self, line: impl AsRef<str>) {
        self.write_out(&format!("{}\n", self.symbols(line.as_ref())));
    }

    /// Data as it is, without an added newline (a generated script or page), on stdout.
    pub fn text(&self, text: impl AsRef<str>) {
        self.write_out(text.as_ref());
    }

    /// The text as the locale can show it.
    fn symbols<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        if self.ascii && !text.is_ascii() {
            std::borrow::Cow::Owned(ascii_symbols(text))
        } else {
            std::borrow::Cow::Borrowed(text)
        }
    }

    /// A line of information for people, on stderr (not with `-q`).
    pub fn info(&self, line: impl AsRef<str>) {
        if self.quiet {
            return;
        }
        self.write_err(&format!("{}\n", line.as_ref()));
    }

    /// A question for people, on stderr, with the cursor left after it on the same line.
    pub fn prompt(&self, text: impl AsRef<str>) {
        self.write_err(text.as_ref());
    }

    /// A warning on stderr (not with `-q`).
    pub fn warn(&self, message: impl AsRef<str>) {
        if self.quiet {
            return;
        }
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
        // Without UTF-8, "Error:" alone: "[no] Error:" would read as a permission line.
        let mark = if self.ascii { "" } else { "❌ " };
        let mut text = format!("{mark}{RED}Error{RED:#}: {}\n", e.title);
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

/// A spinner is for a person at a terminal: stderr is one, it can move the cursor (not
/// `TERM=dumb`), and this is not a CI job (`CI` set), whose log would keep every frame.
fn spinner_fits() -> bool {
    use std::io::IsTerminal;
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    std::io::stderr().is_terminal() && !ci && !dumb
}

/// Whether the locale's character set is UTF-8, as `setlocale` decides it: the first of
/// `LC_ALL`, `LC_CTYPE` and `LANG` that is set and not empty names the locale; with none, it is
/// the POSIX locale, which is ASCII. Windows consoles show these symbols whatever the variables.
pub fn locale_is_utf8() -> bool {
    cfg!(windows) || utf8_locale_in(|name| std::env::var(name).ok())
}

fn utf8_locale_in(var: impl Fn(&str) -> Option<String>) -> bool {
    let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
        .into_iter()
        .find_map(|name| var(name).filter(|v| !v.is_empty()));
    locale.is_some_and(|l| {
        let l = l.to_ascii_lowercase();
        l.contains("utf-8") || l.contains("utf8")
    })
}

/// The symbols we print, in ASCII: ✅ and ❌ as `[ok]` and `[no]` (one width, so the permission
/// lists stay aligned), • as `*`, … as `...`. Other text is left as it is.
pub fn ascii_symbols(text: &str) -> String {
    text.replace('✅', "[ok]")
        .replace('❌', "[no]")
        .replace('•', "*")
        .replace('…', "...")
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
/// `15 min`, `2 s`, `1 h 30 min`: a cache duration as people read it.
pub fn duration_text(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, sec) => format!("{sec} s"),
        (0, min, 0) => format!("{min} min"),
        (h, 0, 0) => format!("{h} h"),
        (h, min, 0) => format!("{h} h {min} min"),
        _ => format!("{s} s"),
    }
}

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
    fn the_first_locale_variable_set_decides_utf8() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(utf8_locale_in(env(&[("LANG", "en_US.UTF-8")])));
        assert!(utf8_locale_in(env(&[("LANG", "de_DE.utf8")])));
        assert!(utf8_locale_in(env(&[("LC_ALL", "C.UTF-8"), ("LANG", "C")])));
        // LC_ALL wins over LANG; an empty LC_ALL does not count.
        assert!(!utf8_locale_in(env(&[
            ("LC_ALL", "C"),
            ("LANG", "en_US.UTF-8")
        ])));
        assert!(utf8_locale_in(env(&[
            ("LC_ALL", ""),
            ("LANG", "en_US.UTF-8")
        ])));
        assert!(!utf8_locale_in(env(&[
            ("LC_CTYPE", "POSIX"),
            ("LANG", "en_US.UTF-8")
        ])));
        assert!(!utf8_locale_in(env(&[("LANG", "C")])));
        assert!(!utf8_locale_in(env(&[])));
    }

    #[test]
    fn symbols_in_ascii_keep_the_permission_list_aligned() {
        assert_eq!(ascii_symbols("✅ Read"), "[ok] Read");
        assert_eq!(ascii_symbols("❌ Delete"), "[no] Delete");
        assert_eq!(ascii_symbols("  • Acme (owner)"), "  * Acme (owner)");
        assert_eq!(ascii_symbols("Approve… é"), "Approve... é");
    }

    #[test]
    fn quiet_prints_errors_and_data_but_no_information_or_warnings() {
        let (out, err) = (Capture::default(), Capture::default());
        let p = Printer::new(Box::new(out.clone()), Box::new(err.clone())).quiet(true);
        p.info("note");
        p.warn("careful");
        p.data("value");
        p.error(&CliError::failure("broken"));
        assert_eq!(out.text(), "value\n");
        assert_eq!(err.text(), "❌ Error: broken\n");
    }

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
