//! `fluxloop exec -- COMMAND`: runs a command with the profile's key in the child's environment
//! only, the key masked in its output, signals forwarded, and its exit status passed on.
//! No network call: the child starts right after one keychain read.

#[cfg(any(unix, windows))]
use std::ffi::OsString;
#[cfg(any(unix, windows))]
use std::io::{Read, Write};
#[cfg(any(unix, windows))]
use std::process::{Child, ExitStatus as ChildStatus, Stdio};

#[cfg(any(unix, windows))]
use secrecy::ExposeSecret;
use secrecy::SecretString;

use super::auth::{ResolvedKey, load_profiles, resolve_key, warn_expiry};
use crate::cli::{ExecArgs, env};
use crate::context::{Context, ProfileOrigin};
use crate::error::{CliError, CliResult};
#[cfg(any(unix, windows))]
use crate::error::{ErrorCode, ExitStatus};
use crate::output::Printer;
use crate::secrets::KeySource;
#[cfg(any(unix, windows))]
use crate::stream_mask::StreamMasker;

/// Shells' exit statuses for a command that could not be started.
#[cfg(any(unix, windows))]
const NOT_FOUND: u8 = 127;
#[cfg(any(unix, windows))]
const NOT_EXECUTABLE: u8 = 126;

/// Runs the command; `Ok` is the exit status to leave with (the child's, or 126/127).
pub fn run(args: ExecArgs, mut ctx: Context, p: &Printer) -> CliResult<u8> {
    check_nesting(&mut ctx)?;
    check_env_name(&args.env_name)?;
    let file = load_profiles(&ctx, p)?;
    if ctx.env_key.is_none() && !ctx.env_key_empty {
        // From the metadata, before the keychain is read: nothing is unlocked for a refusal.
        let expires = file
            .profile(ctx.profile.as_str())
            .and_then(|prof| prof.expires)
            .and_then(|e| e.at());
        check_expiry(expires, args.allow_expired, p)?;
    }
    let resolved = resolve_key(&ctx, &file, p)?;
    say_where_the_key_is_from(&resolved, &ctx);
    let api_url = resolved.api_url(&ctx)?;
    run_child(
        &args,
        &ctx,
        &resolved.key,
        api_url.as_str().trim_end_matches('/'),
        p,
    )
}

/// A nested `fluxloop exec` proceeds only with `--profile` naming another profile (as aws-vault
/// does); the key it then injects is that profile's, not the one inherited from the outer exec.
fn check_nesting(ctx: &mut Context) -> CliResult<()> {
    // Our own marker, read here alone: it concerns no other command.
    let Some(outer) = std::env::var_os(env::EXEC_PROFILE).filter(|v| !v.is_empty()) else {
        return Ok(());
    };
    let outer = outer.to_string_lossy().into_owned();
    if ctx.profile_origin != ProfileOrigin::Flag || ctx.profile.as_str() == outer {
        return Err(CliError::usage(format!(
            "Already inside `fluxloop exec` with profile '{outer}'"
        ))
        .detail(format!(
            "This environment already holds that profile's key ({} is set).",
            env::EXEC_PROFILE
        ))
        .hint("Run the command directly, or pass --profile NAME to use another profile's key"));
    }
    tracing::info!(
        "inside `fluxloop exec` with profile '{outer}'; its key in {} is not used",
        env::API_KEY
    );
    ctx.env_key = None;
    ctx.env_key_empty = false;
    Ok(())
}

fn check_env_name(name: &str) -> CliResult<()> {
    if name.is_empty() || name.contains(['=', '\0']) {
        return Err(CliError::usage(format!(
            "Invalid --env-name {name:?}: a variable name cannot be empty or contain '=' or NUL"
        )));
    }
    Ok(())
}

fn check_expiry(
    expires: Option<chrono::DateTime<chrono::Utc>>,
    allow_expired: bool,
    p: &Printer,
) -> CliResult<()> {
    let now = chrono::Utc::now();
    match expires {
        Some(at) if at <= now && !allow_expired => Err(CliError::key_expired(Some(at))
            .detail("As recorded at login; the command was not started.")
            .hint("Or pass --allow-expired to run it anyway")),
        Some(at) if at <= now => {
            p.warn(format!(
                "this API key expired {}, as recorded at login; running the command anyway (--allow-expired)",
                crate::output::expiry_text(Some(at), now)
            ));
            Ok(())
        }
        _ => {
            warn_expiry(p, expires);
            Ok(())
        }
    }
}

/// The key from the environment is said here; a stored key's source is said by `resolve_key`.
fn say_where_the_key_is_from(resolved: &ResolvedKey, ctx: &Context) {
    if resolved.source == KeySource::Env {
        tracing::info!(
            "using the key in {} (it wins over profile '{}', which is not read)",
            env::API_KEY,
            ctx.profile
        );
    }
}

#[cfg(not(any(unix, windows)))]
fn run_child(
    _args: &ExecArgs,
    _ctx: &Context,
    _key: &SecretString,
    _api_url: &str,
    _p: &Printer,
) -> CliResult<u8> {
    Err(CliError::failure(
        "`fluxloop exec` is not available on this platform yet",
    ))
}

/// The command to run, with the key, URL, profile and nesting marker in its environment alone.
#[cfg(any(unix, windows))]
fn child_command(
    args: &ExecArgs,
    ctx: &Context,
    key: &SecretString,
    api_url: &str,
) -> CliResult<(std::process::Command, OsString)> {
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| CliError::usage("No command to run"))?;
    let mut command = std::process::Command::new(program);
    command
        .args(rest)
        .env(&args.env_name, key.expose_secret())
        .env(env::API_URL, api_url)
        .env(env::PROFILE, ctx.profile.as_str())
        .env(env::EXEC_PROFILE, ctx.profile.as_str())
        .stdin(Stdio::inherit());
    if !args.no_masking {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    Ok((command, program.clone()))
}

/// Windows: no signals to forward; Ctrl-C and Ctrl-Break reach the command through the console
/// it shares with us, and end us too (README.md, "fluxloop exec").
#[cfg(windows)]
fn run_child(
    args: &ExecArgs,
    ctx: &Context,
    key: &SecretString,
    api_url: &str,
    p: &Printer,
) -> CliResult<u8> {
    let (mut command, program) = child_command(args, ctx, key, api_url)?;
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return Ok(cannot_start(&program, &e, p)),
    };
    let pumps = if args.no_masking {
        Vec::new()
    } else {
        start_pumps(&mut child, key)
    };
    let status = child.wait();
    for pump in pumps {
        let _ = pump.join();
    }
    let status =
        status.map_err(|e| CliError::failure(format!("Could not wait for the command: {e}")))?;
    Ok(exit_code(status))
}

#[cfg(unix)]
fn run_child(
    args: &ExecArgs,
    ctx: &Context,
    key: &SecretString,
    api_url: &str,
    p: &Printer,
) -> CliResult<u8> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    use signal_hook::iterator::SignalsInfo;
    use signal_hook::iterator::exfiltrator::WithOrigin;

    let masking = !args.no_masking;
    let (mut command, program) = child_command(args, ctx, key, api_url)?;
    // Registered before the child exists, so a signal that arrives meanwhile is queued and
    // forwarded instead of ending us with the child still to come.
    let mut signals = SignalsInfo::<WithOrigin>::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT])
        .map_err(|e| CliError::failure(format!("Could not set up signal forwarding: {e}")))?;
    #[cfg(target_os = "linux")]
    die_with_us(&mut command);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return Ok(cannot_start(&program, &e, p)),
    };
    let child_pid = rustix::process::Pid::from_child(&child);
    let child_reaped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let handle = signals.handle();
    let forwarder = {
        let child_reaped = child_reaped.clone();
        std::thread::spawn(move || {
            for origin in signals.forever() {
                if child_reaped.load(std::sync::atomic::Ordering::SeqCst) {
                    // Still draining its output (a grandchild may hold the pipe): the signal is
                    // ours, with its default effect, and its pid may be another process's now.
                    let _ = signal_hook::low_level::emulate_default_handler(origin.signal);
                    continue;
                }
                // The terminal sends Ctrl-C (and Ctrl-\, a hang-up) to the whole foreground
                // group, the child included, which shares ours: forwarding would send it twice.
                if origin.cause == signal_hook::low_level::siginfo::Cause::Kernel {
                    continue;
                }
                if let Some(signal) = rustix::process::Signal::from_named_raw(origin.signal) {
                    // The child may have just exited; there is nothing left to stop then.
                    let _ = rustix::process::kill_process(child_pid, signal);
                }
            }
        })
    };
    let pumps = if masking {
        start_pumps(&mut child, key)
    } else {
        Vec::new()
    };
    let status = child.wait();
    child_reaped.store(true, std::sync::atomic::Ordering::SeqCst);
    for pump in pumps {
        let _ = pump.join();
    }
    handle.close();
    let _ = forwarder.join();
    let status =
        status.map_err(|e| CliError::failure(format!("Could not wait for the command: {e}")))?;
    Ok(exit_code(status))
}

/// The child is killed (SIGKILL, which it cannot catch or ignore) when we die, even by a
/// SIGKILL that gives us no chance to forward anything: an orphan would keep running with the
/// key in its environment and its output unmasked. Linux only; macOS has no parent-death signal
/// (README.md, "fluxloop exec").
///
/// The kernel sends it when the *thread* that forked the child ends: this is the main thread,
/// which then waits for the child, so it ends only when we do.
#[cfg(target_os = "linux")]
fn die_with_us(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let parent = rustix::process::getpid();
    // `pre_exec` is the only way to run code in the child between fork and exec.
    #[allow(unsafe_code)]
    // SAFETY: the closure runs in the forked child, where only async-signal-safe calls are
    // allowed: it makes two raw system calls (prctl, getppid) through rustix, which neither
    // allocates nor takes locks, and builds an `io::Error` from an errno, which does not
    // allocate either. It touches no memory shared with other threads.
    unsafe {
        command.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            // We may have died between fork and prctl, before there was a signal to send: the
            // child has been handed to another parent by now, so it must not run.
            if rustix::process::getppid() != Some(parent) {
                return Err(rustix::io::Errno::SRCH.into());
            }
            Ok(())
        });
    }
}

/// One thread per output stream: reads, masks, writes and flushes at once.
#[cfg(any(unix, windows))]
fn start_pumps(child: &mut Child, key: &SecretString) -> Vec<std::thread::JoinHandle<()>> {
    let replacement = format!("<redacted:{}>", crate::keys::mask(key));
    let mut pumps = Vec::new();
    if let Some(out) = child.stdout.take() {
        let masker = StreamMasker::new(key.expose_secret().as_bytes(), replacement.clone());
        pumps.push(std::thread::spawn(move || {
            pump(out, masker, std::io::stdout())
        }));
    }
    if let Some(err) = child.stderr.take() {
        let masker = StreamMasker::new(key.expose_secret().as_bytes(), replacement);
        pumps.push(std::thread::spawn(move || {
            pump(err, masker, std::io::stderr())
        }));
    }
    pumps
}

/// Copies `from` to `to` through `masker` until the end of the stream. If `to` fails (a closed
/// pipe), `from` is closed too, so the child sees its own output fail as it would without us.
#[cfg(any(unix, windows))]
fn pump(mut from: impl Read, mut masker: StreamMasker, to: impl Write) {
    let mut to = to;
    let mut buf = zeroize::Zeroizing::new(vec![0u8; 16 * 1024]);
    let mut out = zeroize::Zeroizing::new(Vec::with_capacity(16 * 1024));
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        out.clear();
        masker.push(&buf[..n], &mut out);
        if to.write_all(&out).and_then(|()| to.flush()).is_err() {
            return;
        }
    }
    out.clear();
    masker.finish(&mut out);
    let _ = to.write_all(&out).and_then(|()| to.flush());
}

/// Reports a command that could not be started; the status is the shell's for the case.
#[cfg(any(unix, windows))]
fn cannot_start(program: &OsString, e: &std::io::Error, p: &Printer) -> u8 {
    let name = program.to_string_lossy();
    let (status, title) = match e.kind() {
        std::io::ErrorKind::NotFound => (NOT_FOUND, format!("Command not found: {name}")),
        std::io::ErrorKind::PermissionDenied => (
            NOT_EXECUTABLE,
            format!("Command cannot be run (permission denied): {name}"),
        ),
        _ => (
            NOT_EXECUTABLE,
            format!("Command cannot be run: {name}: {e}"),
        ),
    };
    p.error(&CliError::new(
        ExitStatus::Failure,
        ErrorCode::Failure,
        title,
    ));
    status
}

/// The child's exit status, or 128 + N when a signal N killed it, as shells report it.
#[cfg(unix)]
fn exit_code(status: ChildStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => (code & 0xff) as u8,
        (None, Some(signal)) => (128 + signal).clamp(0, 255) as u8,
        (None, None) => 1,
    }
}

/// The child's exit status. Windows has 32-bit exit codes and we can only leave with 8 bits:
/// 0 to 255 are passed on, anything else (an NTSTATUS such as 0xC000013A for Ctrl-C) becomes 1.
#[cfg(windows)]
fn exit_code(status: ChildStatus) -> u8 {
    status
        .code()
        .and_then(|code| u8::try_from(code).ok())
        .unwrap_or(1)
}
