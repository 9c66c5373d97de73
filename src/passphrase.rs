//! Where the encrypted-file store's passphrase comes from: `FLUXLOOP_PASSPHRASE` (containers, CI),
//! else a hidden prompt at the terminal (asked twice when a file is written; on Windows through
//! inquire, as the key's prompt). Never argv.

use std::io::IsTerminal;
use std::path::Path;

use secrecy::SecretString;

use crate::secrets::{PassphrasePurpose, PassphraseSource, SecretStoreError};

/// The passphrase of this run's environment, or the terminal.
pub struct PassphraseFromEnvOrTerminal {
    env: Option<SecretString>,
}

impl PassphraseFromEnvOrTerminal {
    /// `env`: `FLUXLOOP_PASSPHRASE`, already read (unset and empty are the same).
    pub fn new(env: Option<SecretString>) -> Self {
        Self { env }
    }
}

impl PassphraseSource for PassphraseFromEnvOrTerminal {
    fn available(&self) -> bool {
        self.env.is_some() || std::io::stdin().is_terminal()
    }

    fn passphrase(
        &self,
        purpose: PassphrasePurpose,
        path: &Path,
    ) -> Result<SecretString, SecretStoreError> {
        if let Some(p) = &self.env {
            return Ok(p.clone());
        }
        if !self.available() {
            return Err(SecretStoreError::NoPassphrase);
        }
        prompt(purpose, path)
    }
}

/// Asks at the terminal, hidden: once to unlock, twice (compared) to choose.
fn prompt(purpose: PassphrasePurpose, path: &Path) -> Result<SecretString, SecretStoreError> {
    use secrecy::ExposeSecret;

    let question = match purpose {
        PassphrasePurpose::Unlock => format!("Passphrase for {}:", path.display()),
        PassphrasePurpose::Choose => format!("New passphrase for {}:", path.display()),
    };
    let first = ask(&question)?;
    if purpose == PassphrasePurpose::Unlock {
        return Ok(first);
    }
    let again = ask("The same passphrase again:")?;
    if first.expose_secret() != again.expose_secret() {
        return Err(SecretStoreError::PassphraseMismatch);
    }
    Ok(first)
}

/// One hidden line; an empty one, Esc or Ctrl-C cancel.
#[cfg(unix)]
fn ask(question: &str) -> Result<SecretString, SecretStoreError> {
    use secrecy::ExposeSecret;

    use crate::output::{Printer, green};
    use crate::terminal::{HiddenLine, read_hidden_line};

    let p = Printer::stdio();
    let line = read_hidden_line(|| p.prompt(format!("{} {question} ", green("?"))));
    // Enter is not echoed: end the question's line.
    p.info("");
    match line {
        Ok(HiddenLine::Entered(text)) if !text.expose_secret().is_empty() => Ok(text),
        Ok(_) => Err(SecretStoreError::PassphraseCancelled),
        Err(e) => Err(SecretStoreError::Platform(format!(
            "could not read the passphrase from the terminal: {e}"
        ))),
    }
}

/// One hidden line from the console, read by inquire (Windows has no termios), trimmed as the
/// Unix reader trims it; an empty one, Esc or Ctrl-C cancel.
#[cfg(not(unix))]
fn ask(question: &str) -> Result<SecretString, SecretStoreError> {
    use zeroize::Zeroize;

    let answer = inquire::Password::new(question)
        .with_display_mode(inquire::PasswordDisplayMode::Hidden)
        .without_confirmation()
        .prompt();
    match answer {
        Ok(mut text) => {
            let trimmed = text.trim();
            let passphrase = (!trimmed.is_empty()).then(|| SecretString::from(trimmed));
            text.zeroize();
            passphrase.ok_or(SecretStoreError::PassphraseCancelled)
        }
        Err(
            inquire::InquireError::OperationCanceled | inquire::InquireError::OperationInterrupted,
        ) => Err(SecretStoreError::PassphraseCancelled),
        Err(e) => Err(SecretStoreError::Platform(format!(
            "could not read the passphrase from the terminal: {e}"
        ))),
    }
}
