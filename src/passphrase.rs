//! Where the encrypted-file store's passphrase comes from: `FLUXLOOP_PASSPHRASE` (containers, CI),
//! else a hidden prompt at the terminal (asked twice when a file is written). Never argv.

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
        self.env.is_some() || (cfg!(unix) && std::io::stdin().is_terminal())
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

#[cfg(unix)]
fn prompt(purpose: PassphrasePurpose, path: &Path) -> Result<SecretString, SecretStoreError> {
    use secrecy::ExposeSecret;

    use crate::output::{Printer, green};

    let p = Printer::stdio();
    let question = match purpose {
        PassphrasePurpose::Unlock => format!("Passphrase for {}:", path.display()),
        PassphrasePurpose::Choose => format!("New passphrase for {}:", path.display()),
    };
    let first = ask(&p, &format!("{} {question} ", green("?")))?;
    if purpose == PassphrasePurpose::Unlock {
        return Ok(first);
    }
    let again = ask(&p, &format!("{} The same passphrase again: ", green("?")))?;
    if first.expose_secret() != again.expose_secret() {
        return Err(SecretStoreError::PassphraseMismatch);
    }
    Ok(first)
}

/// One hidden line; an empty one, Esc or Ctrl-C cancel.
#[cfg(unix)]
fn ask(p: &crate::output::Printer, question: &str) -> Result<SecretString, SecretStoreError> {
    use secrecy::ExposeSecret;

    use crate::terminal::{HiddenLine, read_hidden_line};

    p.prompt(question);
    let line = read_hidden_line();
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

/// No terminal reader off Unix: the passphrase comes from the environment there.
#[cfg(not(unix))]
fn prompt(_purpose: PassphrasePurpose, _path: &Path) -> Result<SecretString, SecretStoreError> {
    Err(SecretStoreError::NoPassphrase)
}
