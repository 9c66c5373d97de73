//! `fluxloop auth login`: read a key, validate it with the platform, then store it.

use std::io::{IsTerminal, Read};

use chrono::Utc;
use secrecy::SecretString;
use zeroize::{Zeroize, Zeroizing};

use super::{load_profiles, warn_expiry};
use crate::api::KeyInfo;
use crate::cli::{LoginArgs, env};
use crate::context::Context;
use crate::error::{CliError, CliResult, ErrorCode, ExitStatus, KEYS_PAGE, KeyUsed, capitalise};
use crate::keys;
use crate::output::{Printer, bold, green, red};
use crate::profiles::{CredentialsFile, Expiry, Profile};
use crate::secrets::SecretStore as _;
use crate::secrets::{Backend, SecretStoreError, StoreError, StoreKind};
#[cfg(unix)]
use crate::terminal;
use crate::terminal::{HiddenLine, MAX_LINE};

/// A line longer than this on stdin is not a key.
const MAX_STDIN: u64 = 64 * 1024;

pub async fn run(mut args: LoginArgs, ctx: &Context, p: &Printer) -> CliResult {
    if args.web {
        return super::web::run(&args, ctx, p).await;
    }
    let save = args.should_save();
    let storage = args.storage.or(ctx.storage).unwrap_or(StoreKind::Keychain);
    check_cache_flag(args.cache, storage)?;
    // Check the places we will write before asking for a key, so nobody pastes one for nothing.
    let file = load_profiles(ctx, p)?;
    if save {
        file.check_new_name(ctx.profile.as_str())?;
    }
    if save && let Some(store) = ctx.store(storage) {
        store.check_ready()?;
    }
    if save && storage == StoreKind::EncryptedFile {
        choose_passphrase(ctx)?;
    }
    warn_env_key(ctx, p);

    let key = read_key(args.api_key.take(), p)?;
    let used = KeyUsed::input(ctx.profile.as_str());
    keys::check_format(&key).map_err(|e| CliError::for_key(e, &used))?;

    let existing = file.profile(ctx.profile.as_str());
    let base = ctx.api_url(existing.as_ref())?;
    let client = ctx.client(base.clone())?;
    let info = p
        .while_waiting(
            "Checking the key with FluxLoop…",
            client.introspect_key(&key),
        )
        .await
        .map_err(|e| CliError::for_key(e, &used))?;

    if !save {
        p.info(format!("✅ {}", green("Successfully authenticated!")));
        p.info("   Not saved (--no-save): nothing was stored on this machine.");
        print_account(p, &info);
        warn_expiry(p, info.key.expires_at);
        return Ok(ExitStatus::Success);
    }
    store(
        ctx,
        p,
        ValidatedKey {
            key,
            info,
            base,
            existing,
            storage,
            cache: args.cache,
            minted: false,
        },
    )
}

pub(super) fn warn_env_key(ctx: &Context, p: &Printer) {
    if ctx.env_key.is_some() {
        p.warn(format!(
            "{} is set; it will keep taking precedence over the key saved here",
            env::API_KEY
        ));
    } else if ctx.env_key_empty {
        p.warn(format!(
            "{} is set but empty; commands refuse to run until it is unset or holds a key",
            env::API_KEY
        ));
    }
}

/// A key the platform has vouched for, about to be saved to a profile.
pub(super) struct ValidatedKey {
    pub key: SecretString,
    pub info: KeyInfo,
    /// The platform that vouched for it.
    pub base: url::Url,
    /// The profile as it was before the login.
    pub existing: Option<Profile>,
    pub storage: StoreKind,
    /// `--cache`: how long an opened encrypted file's key is kept in the kernel keyring.
    pub cache: Option<std::time::Duration>,
    /// Minted for this device by a browser login (the output names the new key).
    pub minted: bool,
}

/// Saves a validated key, pasted or minted, the one way: the account-change check, the store
/// with its rollback, and the documented output.
pub(super) fn store(ctx: &Context, p: &Printer, login: ValidatedKey) -> CliResult {
    let ValidatedKey {
        key,
        info,
        base,
        existing,
        storage,
        cache,
        minted,
    } = login;
    let confirmed = confirm_account_change(ctx, existing.as_ref(), &info, p)?;

    let mut meta = profile_meta(&key, &info, &base, storage);
    meta.unlock_cache_seconds = cache.map(|d| d.as_secs());
    let replaced = match storage {
        StoreKind::File => save_to_file(ctx, meta)?,
        kind => save_to_store(ctx, kind, &key, meta, p)?,
    };
    // The passphrase was just typed: the cache starts now.
    let cached = match cache {
        Some(ttl) if storage == StoreKind::EncryptedFile => Some(ctx.unlock_cache.set_expiring(
            ctx.profile.as_str(),
            &key,
            ttl,
        )),
        _ => None,
    };
    // Said once the change is made (a failed save changes nothing), of the account the file held
    // under the lock, unless the question at the terminal already named it.
    if let Some(before) = replaced
        && before != info.account.email
        && confirmed.as_deref() != Some(before.as_str())
    {
        p.warn(format!(
            "profile '{}' was {before}, now {}",
            ctx.profile, info.account.email
        ));
    }

    p.info(format!("✅ {}", green("Successfully authenticated!")));
    let what = if minted { "New API key" } else { "API key" };
    match storage {
        StoreKind::Keychain => p.info(format!(
            "   {what} saved to {} (profile: {})",
            ctx.keychain.backend(),
            ctx.profile
        )),
        StoreKind::Keyutils => {
            p.info(format!(
                "   API key saved to the kernel keyring (profile: {}, --storage keyutils)",
                ctx.profile
            ));
            p.info(format!(
                "   It is kept until this machine reboots{}; then run `{} --storage keyutils` again",
                unused_limit(),
                super::login_command(ctx)
            ));
        }
        StoreKind::EncryptedFile => {
            p.info(format!(
                "   {what} saved to the encrypted file {} (profile: {}, --storage encrypted-file)",
                ctx.encrypted_file_store
                    .path(ctx.profile.as_str())
                    .display(),
                ctx.profile
            ));
            match (&cached, cache) {
                (Some(Ok(())), Some(ttl)) => p.info(format!(
                    "   Unlocked for {} at a time: the opened key is kept in the kernel keyring, then the passphrase is asked again",
                    crate::output::duration_text(ttl)
                )),
                (Some(Err(e)), _) => p.warn(format!(
                    "the kernel keyring cannot keep the opened key ({e}); going on without the unlock cache, so the passphrase is asked every time"
                )),
                _ => p.info(
                    "   Every command that uses it asks for the passphrase (or reads FLUXLOOP_PASSPHRASE)",
                ),
            }
        }
        StoreKind::File => p.info(format!(
            "   {what} saved IN PLAINTEXT to {} (profile: {}, --storage file)",
            ctx.profiles.path().display(),
            ctx.profile,
        )),
    }
    p.info(format!(
        "   Profile metadata saved to {}",
        ctx.profiles.path().display()
    ));
    if minted {
        p.info(format!(
            "   Key name: {}, expires {}",
            info.key.name.as_deref().unwrap_or("(not named)"),
            crate::output::expiry_text(info.key.expires_at, Utc::now())
        ));
    }
    print_account(p, &info);
    if storage == StoreKind::File {
        p.info("");
        p.warn(format!(
            "anyone who can read {} can use this key; `fluxloop auth migrate` moves it into the {} later.",
            ctx.profiles.path().display(),
            ctx.keychain.backend()
        ));
    }
    warn_expiry(p, info.key.expires_at);
    Ok(ExitStatus::Success)
}

/// The metadata saved with a key.
pub(super) fn profile_meta(
    key: &SecretString,
    info: &KeyInfo,
    base: &url::Url,
    storage: StoreKind,
) -> Profile {
    Profile {
        account: Some(info.account.email.clone()),
        expires: Some(Expiry::from_api(info.key.expires_at)),
        api_url: Some(base.as_str().trim_end_matches('/').to_string()),
        key_hint: Some(keys::mask(key)),
        key_id: info.key.id.clone(),
        key_name: info.key.name.clone(),
        key_created: info.key.created_at,
        environment: Some(info.key.environment.clone()),
        organizations: info.organizations.iter().map(|o| o.name.clone()).collect(),
        storage: Some(storage),
        saved_at: Some(Utc::now()),
        unlock_cache_seconds: None,
        api_key: (storage == StoreKind::File).then(|| key.clone()),
        unknown: Default::default(),
    }
}

/// A key of another account replacing a profile's is said (after saving, by `run`), and at a
/// terminal asked first: the profile's name no longer says whose key it holds. Returns the
/// account the user agreed to replace.
fn confirm_account_change(
    ctx: &Context,
    existing: Option<&Profile>,
    info: &KeyInfo,
    p: &Printer,
) -> CliResult<Option<String>> {
    let Some(before) = existing.and_then(|e| e.account.as_deref()) else {
        return Ok(None);
    };
    let after = info.account.email.as_str();
    if before == after || !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Ok(None);
    }
    let change = format!("profile '{}' was {before}, now {after}", ctx.profile);
    p.prompt(format!(
        "{} {}; replace its key? [y/N] ",
        green("?"),
        capitalise(&change)
    ));
    let mut answer = String::new();
    // The answer is not secret: an ordinary line read of the terminal.
    let read = std::io::stdin().read_line(&mut answer);
    if read.is_ok() && matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES") {
        return Ok(Some(before.to_string()));
    }
    Err(CliError::new(
        ExitStatus::Failure,
        ErrorCode::Cancelled,
        format!(
            "Login cancelled; profile '{}' still holds the key of {before}",
            ctx.profile
        ),
    ))
}

fn print_account(p: &Printer, info: &KeyInfo) {
    p.info("");
    p.info(format!("Your account: {}", bold(&info.account.email)));
    if !info.organizations.is_empty() {
        let names: Vec<&str> = info.organizations.iter().map(|o| o.name.as_str()).collect();
        p.info(format!("Organizations: {}", names.join(", ")));
    }
}

/// ", or after 3 days unused": how long the persistent keyring outlives its last use here.
pub(super) fn unused_limit() -> String {
    match crate::secrets::persistent_keyring_expiry() {
        Some(d) if d.as_secs() >= 86_400 && d.as_secs() % 86_400 == 0 => {
            let days = d.as_secs() / 86_400;
            format!(
                ", or after {days} {} unused",
                if days == 1 { "day" } else { "days" }
            )
        }
        Some(d) if d.as_secs() > 0 => format!(", or after {} s unused", d.as_secs()),
        _ => String::new(),
    }
}

/// `--cache` keeps an opened encrypted file's key: it means nothing for another store.
pub(super) fn check_cache_flag(
    cache: Option<std::time::Duration>,
    storage: StoreKind,
) -> CliResult<()> {
    if cache.is_some() && storage != StoreKind::EncryptedFile {
        return Err(
            CliError::usage("--cache is for --storage encrypted-file only").hint(format!(
                "The {} store needs no passphrase, so there is nothing to cache",
                storage.id()
            )),
        );
    }
    Ok(())
}

/// `--storage encrypted-file`: the passphrase to encrypt with, asked (twice) before the key is,
/// so a mismatch costs nothing typed.
pub(super) fn choose_passphrase(ctx: &Context) -> CliResult<()> {
    ctx.encrypted_file_store
        .choose_passphrase(ctx.profile.as_str())
        .map_err(|kind| store_error(Backend::EncryptedFile, kind).into())
}

/// A failure of a store used directly rather than through its [`crate::secrets::Keychain`].
fn store_error(backend: Backend, kind: SecretStoreError) -> StoreError {
    StoreError {
        backend,
        provider: None,
        kind,
    }
}

/// Store entry and metadata change together under the file lock. If the metadata cannot be
/// written, the store goes back to what it held, so a failed rotation loses nothing. Returns
/// the account the replaced profile was for.
pub(super) fn save_to_store(
    ctx: &Context,
    kind: StoreKind,
    key: &SecretString,
    mut meta: Profile,
    p: &Printer,
) -> CliResult<Option<String>> {
    let name = ctx.profile.as_str();
    let Some(store) = ctx.store(kind) else {
        return save_to_file(ctx, meta);
    };
    let mut tx = ctx.profiles.lock()?;
    keep_unknown_fields(&tx.file, name, &mut meta);
    let replaced = replaced_account(&tx.file, name);
    let moved_from = tx
        .file
        .profile(name)
        .map(|p| p.store())
        .filter(|old| *old != kind);
    // An encrypted file is replaced without opening it (whoever logs in again may have lost its
    // passphrase); its bytes are kept to put back.
    let old_file = if kind == StoreKind::EncryptedFile {
        Some(
            ctx.encrypted_file_store
                .raw(name)
                .map_err(|kind| store_error(Backend::EncryptedFile, kind))?,
        )
    } else {
        None
    };
    let previous = match old_file {
        Some(_) => Ok(None),
        None => store.get(name),
    };
    let previous = match previous {
        Ok(found) => found,
        // A new profile (no metadata): the default keyring was found unlocked before the
        // prompt, so the key can be stored; only another, locked keyring could not be searched.
        // A profile the file knows may have its key in that keyring: that stays an error, so no
        // second copy is made.
        Err(e) if matches!(e.kind, SecretStoreError::Locked) && tx.file.profile(name).is_none() => {
            p.warn(format!(
                "a locked keyring could not be searched for an earlier key of profile '{name}'; if it holds one, unlock it and run `fluxloop auth list --check`"
            ));
            None
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(found) = &previous
        && unrecorded(tx.file.profile(name).as_ref(), found)
    {
        p.warn(format!(
            "the {} held a key for profile '{name}' that its metadata did not record (left by an interrupted login, or stored outside fluxloop); it is replaced now",
            store.backend()
        ));
    }
    store.set(name, key)?;
    tx.file.insert(name, meta);
    let Err(e) = tx.commit() else {
        // The key the profile kept in another store is no longer the profile's: best effort,
        // as that store may not be reachable from here.
        if let Some(old) = moved_from.and_then(|old| ctx.store(old)) {
            let _ = old.delete(name);
        }
        // An opened copy of the key this one replaces is no longer the profile's.
        if kind == StoreKind::EncryptedFile || moved_from == Some(StoreKind::EncryptedFile) {
            let _ = ctx.unlock_cache.delete(name);
        }
        return Ok(replaced);
    };
    let restored = match (&old_file, &previous) {
        (Some(bytes), _) => ctx
            .encrypted_file_store
            .restore_raw(name, bytes.as_deref())
            .map_err(|kind| store_error(Backend::EncryptedFile, kind)),
        (None, Some(old)) => store.set(name, old),
        (None, None) => store.delete(name).map(|_| ()),
    };
    let err = CliError::from(e);
    let what = match kind {
        StoreKind::Keyutils => "kernel keyring",
        StoreKind::EncryptedFile => "encrypted file",
        _ => "keychain",
    };
    Err(match restored {
        Ok(()) => err.detail(format!(
            "The {what} was restored to what it held before; nothing changed."
        )),
        Err(_) => err.detail(format!(
            "The new key is in the {what}, but the metadata file could not be updated."
        )),
    })
}

/// Whether the keychain's key for a profile is one its metadata does not know: no metadata at
/// all, or a different key hint. A login killed between the keychain write and the file write
/// leaves this; the next login repairs it and says so. (Profiles of releases before key hints
/// have none to compare.)
fn unrecorded(meta: Option<&Profile>, found: &SecretString) -> bool {
    match meta {
        None => true,
        Some(meta) => meta
            .key_hint
            .as_deref()
            .is_some_and(|hint| hint != keys::mask(found)),
    }
}

/// Returns the account the replaced profile was for.
pub(super) fn save_to_file(ctx: &Context, mut meta: Profile) -> CliResult<Option<String>> {
    let name = ctx.profile.as_str();
    let mut tx = ctx.profiles.lock()?;
    keep_unknown_fields(&tx.file, name, &mut meta);
    let replaced = replaced_account(&tx.file, name);
    tx.file.insert(name, meta);
    tx.commit()?;
    // A keychain entry left from an earlier login would shadow nothing but confuse `logout`;
    // remove it if the keychain is reachable at all. Its absence is the point of file storage.
    let _ = ctx.keychain.delete(name);
    let _ = ctx.kernel_keyring.delete(name);
    Ok(replaced)
}

/// The account of the profile about to be replaced, read under the lock: what this login
/// actually replaces, even if another login ran since the file was first read.
fn replaced_account(file: &CredentialsFile, name: &str) -> Option<String> {
    file.profile(name).and_then(|p| p.account)
}

/// A newer fluxloop's fields of the profile being replaced survive this login.
fn keep_unknown_fields(file: &CredentialsFile, name: &str, meta: &mut Profile) {
    if let Some(old) = file.profiles.get(name) {
        meta.unknown = old.unknown.clone();
    }
}

/// From `--api-key <key>`, `--api-key -` / piped stdin, or the hidden prompt on a terminal.
fn read_key(flag: Option<String>, p: &Printer) -> CliResult<SecretString> {
    let stdin_is_tty = std::io::stdin().is_terminal();
    match flag {
        Some(mut value) if value != "-" => {
            p.warn(
                "a key given with --api-key is visible in shell history and the process list; prefer `fluxloop auth login` (prompt) or piping it on stdin",
            );
            let key = SecretString::from(value.trim());
            value.zeroize();
            Ok(key)
        }
        Some(_) if stdin_is_tty => prompt(p),
        Some(_) => read_stdin(),
        None if stdin_is_tty => prompt(p),
        None => read_stdin(),
    }
}

fn read_stdin() -> CliResult<SecretString> {
    // Read into a buffer we wipe, never through std's stdin buffer, which would keep a copy of
    // the key until exit: a read at least as large as that 8 KiB buffer bypasses it.
    let mut buf = Zeroizing::new(vec![0u8; MAX_STDIN as usize]);
    let mut len = 0;
    let mut stdin = std::io::stdin().lock();
    while len < buf.len() && !buf[..len].contains(&b'\n') {
        match stdin.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(CliError::usage(format!(
                    "Could not read the API key from standard input: {e}"
                )));
            }
        }
    }
    let first = buf[..len].split(|b| *b == b'\n').next().unwrap_or_default();
    let line = std::str::from_utf8(first).map_err(|_| {
        CliError::usage("Could not read the API key from standard input: it is not UTF-8 text")
    })?;
    if line.trim().is_empty() {
        return Err(CliError::new(
            ExitStatus::Usage,
            ErrorCode::NoKey,
            "No API key on standard input",
        )
        .detail("Standard input was empty; nothing was stored.")
        .hint("Pipe the key in: `printf '%s\\n' \"$FLUXLOOP_KEY\" | fluxloop auth login`")
        .hint("Or run `fluxloop auth login` in a terminal to be prompted"));
    }
    Ok(SecretString::from(line.trim()))
}

const PROMPT: &str = "Please enter your API key:";
const PROMPT_HELP: &str = "input is hidden; paste and press Enter, Esc to cancel";

/// Asks until the input has the shape of a key: a malformed one is explained and asked again,
/// before anything is sent.
fn prompt(p: &Printer) -> CliResult<SecretString> {
    p.info(format!("{}\n", bold("Welcome to FluxLoop!")));
    p.info("To get your API key:");
    p.info(format!("  1. Visit {KEYS_PAGE}"));
    p.info("  2. Create a new key (or copy an existing one)");
    p.info("");
    let mut first = true;
    loop {
        let reason = match ask_hidden(p, first)? {
            HiddenLine::Entered(key) => match keys::check_format(&key) {
                Ok(()) => return Ok(key),
                Err(e) => capitalise(&e.to_string()),
            },
            HiddenLine::TooLong => format!(
                "The input is longer than {MAX_LINE} bytes, far longer than an API key (was something else pasted?)"
            ),
            HiddenLine::NotUtf8 => "The input is not UTF-8 text".to_string(),
            HiddenLine::Cancelled => break,
        };
        p.info(format!("{} {reason}", red("#")));
        first = false;
    }
    Err(CliError::new(
        ExitStatus::Failure,
        ErrorCode::Cancelled,
        "Login cancelled; nothing was stored",
    ))
}

/// One hidden line from the terminal, read by our own raw-mode reader (src/terminal.rs). The
/// help comes before the first question, so no cursor movement is needed: the screen reads the
/// same whatever the colour choice strips.
#[cfg(unix)]
fn ask_hidden(p: &Printer, first: bool) -> CliResult<HiddenLine> {
    use crate::output::cyan;

    let line = terminal::read_hidden_line(|| {
        if first {
            p.info(cyan(format!("[{PROMPT_HELP}]")));
        }
        p.prompt(format!("{} {PROMPT} ", green("?")));
    });
    if matches!(line, Ok(HiddenLine::Cancelled)) {
        p.prompt(red("<cancelled>"));
    }
    // Enter is not echoed: end the question's line.
    p.info("");
    Ok(line?)
}

/// One hidden line from the console, read by inquire: Windows has no termios.
#[cfg(not(unix))]
fn ask_hidden(_p: &Printer, _first: bool) -> CliResult<HiddenLine> {
    let answer = inquire::Password::new(PROMPT)
        .with_display_mode(inquire::PasswordDisplayMode::Hidden)
        .without_confirmation()
        .with_help_message(PROMPT_HELP)
        .prompt();
    match answer {
        Ok(mut text) => {
            let key = SecretString::from(text.trim());
            text.zeroize();
            Ok(HiddenLine::Entered(key))
        }
        Err(
            inquire::InquireError::OperationCanceled | inquire::InquireError::OperationInterrupted,
        ) => Ok(HiddenLine::Cancelled),
        Err(e) => Err(CliError::failure(format!(
            "Could not read the API key from the terminal: {e}"
        ))
        .hint("Pipe the key on stdin instead: `printf '%s\\n' \"$KEY\" | fluxloop auth login`")),
    }
}
