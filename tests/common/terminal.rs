//! A real pseudo-terminal for tests: a private tmux server per test runs the binary, and the
//! test reads the screen and types like a person would (`tests/interactive.rs`,
//! `tests/token.rs`).

// Each test binary uses a different subset.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use super::env::{TestEnv, exit_name};

/// Generous: the binary starts in milliseconds, but CI machines can be slow. Only a hang
/// reaches it.
pub const SCREEN_TIMEOUT: Duration = Duration::from_secs(20);

/// A private tmux server running one `fluxloop` command in a 120x30 terminal. Dropping it
/// kills the server, also when the test panics.
pub struct Terminal<'a> {
    env: &'a TestEnv,
    socket: PathBuf,
}

impl<'a> Terminal<'a> {
    /// Starts `fluxloop <args>` with the test's isolated environment plus `extra` variables.
    /// Each start has its own server: one test may run several terminals in turn, and a server
    /// that is still going away would refuse a new session on its socket.
    pub fn start(env: &'a TestEnv, args: &[&str], extra: &[(&str, &str)]) -> Self {
        Self::run_script_numbered(env, args, extra, "")
    }

    /// Like [`Terminal::start`], for a test that presses Ctrl-C as a signal (outside a raw-mode
    /// prompt): the terminal sends SIGINT to the whole foreground group, and the wrapper shell
    /// outlives it (a no-op trap, which the binary does not inherit) to print the exit status.
    pub fn start_for_interrupt(env: &'a TestEnv, args: &[&str]) -> Self {
        Self::run_script_numbered(env, args, &[], "trap : INT\n")
    }

    /// Writes the wrapper script under a name of its own and runs it on its own tmux server.
    fn run_script_numbered(
        env: &'a TestEnv,
        args: &[&str],
        extra: &[(&str, &str)],
        prelude: &str,
    ) -> Self {
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let script = env.ss.dir().join(format!("interactive-{n}.sh"));
        std::fs::write(&script, wrapper_script(env, args, extra, prelude)).unwrap();
        Self::run_script(env, &script, &format!("tmux-{n}.sock"))
    }

    /// Runs `sh <script>` in a fresh private tmux server (socket `socket` in the test's
    /// directory), in a 120x30 terminal.
    pub fn run_script(env: &'a TestEnv, script: &std::path::Path, socket: &str) -> Self {
        let term = Terminal {
            env,
            socket: env.ss.dir().join(socket),
        };
        let out = term.tmux(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "30",
            &format!("sh {}", script.display()),
        ]);
        assert!(out.status.success(), "tmux new-session failed: {out:?}");
        term
    }

    pub fn tmux(&self, args: &[&str]) -> std::process::Output {
        let mut cmd: Command = self.env.ss.command("tmux");
        cmd.arg("-S").arg(&self.socket).args(args);
        cmd.output().expect("run tmux")
    }

    /// The whole pane, scrollback included, joined lines.
    pub fn screen(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-J", "-S", "-"]);
        assert!(out.status.success(), "capture-pane failed: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The whole pane with its colours and attributes as escape sequences (`capture-pane -e`).
    pub fn screen_with_escapes(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-e", "-J", "-S", "-"]);
        assert!(out.status.success(), "capture-pane failed: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `text`; a hang fails the test with the screen.
    #[track_caller]
    pub fn wait_for(&self, text: &str) -> String {
        self.wait_until(&format!("{text:?}"), |screen| screen.contains(text))
    }

    /// Waits until the screen satisfies `ok`; a hang fails the test with the screen.
    #[track_caller]
    pub fn wait_until(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + SCREEN_TIMEOUT;
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the screen never showed {what}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Waits for the command to end; returns its exit code and the final screen.
    #[track_caller]
    pub fn wait_for_exit(&self) -> (i32, String) {
        let screen = self.wait_for("EXIT=");
        let code = screen
            .split("EXIT=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no exit code on the screen:\n{screen}"));
        (code, screen)
    }

    /// Types `text` literally (no key-name interpretation).
    pub fn type_text(&self, text: &str) {
        let out = self.tmux(&["send-keys", "-l", "--", text]);
        assert!(out.status.success(), "send-keys failed: {out:?}");
    }

    /// Presses a named key: `Enter`, `Escape`, `C-c`.
    pub fn press(&self, key: &str) {
        let out = self.tmux(&["send-keys", key]);
        assert!(out.status.success(), "send-keys {key} failed: {out:?}");
    }
}

impl Drop for Terminal<'_> {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// `sh` script that runs the binary with exactly the test's environment (plus the terminal
/// type tmux gives the pane), then prints its exit status and stays alive to be read.
fn wrapper_script(env: &TestEnv, args: &[&str], extra: &[(&str, &str)], prelude: &str) -> String {
    let line = command_line(env, &[], args, extra);
    format!("#!/bin/sh\n{prelude}{line}\necho \"EXIT=$?\"\nsleep 30\n")
}

/// One `sh` line that runs `prefix… fluxloop args…` with exactly the test's environment plus
/// `extra` (and the terminal type tmux gives the pane): for scripts of several commands, run by
/// [`Terminal::run_script`]. `prefix` is a wrapper such as `nsenter … keyctl session -`.
pub fn command_line(
    env: &TestEnv,
    prefix: &[String],
    args: &[&str],
    extra: &[(&str, &str)],
) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let cmd = env.cmd();
    let mut line = String::from("env -i TERM=\"$TERM\"");
    let vars = cmd
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_str()?.to_string(), v?.to_str()?.to_string())))
        .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    for (k, v) in vars {
        line.push(' ');
        line.push_str(&quote(&format!("{k}={v}")));
    }
    for word in prefix
        .iter()
        .map(String::as_str)
        .chain([env!("CARGO_BIN_EXE_fluxloop")])
        .chain(args.iter().copied())
    {
        line.push(' ');
        line.push_str(&quote(word));
    }
    line
}

/// The screen as a snapshot holds it: `exit: <name> (<code>)` when the command has ended, then
/// the pane without the blank lines below the output and without trailing spaces. Checked for
/// leaks like any output.
#[track_caller]
pub fn screen_text(env: &TestEnv, screen: &str, code: Option<i32>) -> String {
    env.assert_no_leak_in_text("the terminal", screen);
    let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
    let end = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(0, |i| i + 1);
    let mut text = match code {
        Some(code) => format!("exit: {} ({code})\n", exit_name(code)),
        None => String::new(),
    };
    text.push_str("--- screen\n");
    for line in &lines[..end] {
        text.push_str(line);
        text.push('\n');
    }
    text
}
