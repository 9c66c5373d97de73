//! The interactive `fluxloop auth login` in a real pseudo-terminal: a private tmux server per
//! test runs the binary, and the test reads the screen and types like a person would.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::env::{SERVICE, TestEnv, keys};
use common::secret_service::SecretService;

const PROMPT: &str = "Please enter your API key:";
/// Generous: the binary starts in milliseconds, but CI machines can be slow. Only a hang
/// reaches it.
const SCREEN_TIMEOUT: Duration = Duration::from_secs(20);

/// A private tmux server running one `fluxloop` command in a 120x30 terminal. Dropping it
/// kills the server, also when the test panics.
struct Terminal<'a> {
    env: &'a TestEnv,
    socket: PathBuf,
}

impl<'a> Terminal<'a> {
    /// Starts `fluxloop <args>` with the test's isolated environment plus `extra` variables.
    fn start(env: &'a TestEnv, args: &[&str], extra: &[(&str, &str)]) -> Self {
        let dir = env.ss.dir().to_path_buf();
        let script = dir.join("interactive.sh");
        std::fs::write(&script, wrapper_script(env, args, extra)).unwrap();
        let term = Terminal {
            env,
            socket: dir.join("tmux.sock"),
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

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        let mut cmd: Command = self.env.ss.command("tmux");
        cmd.arg("-S").arg(&self.socket).args(args);
        cmd.output().expect("run tmux")
    }

    /// The whole pane, scrollback included, joined lines.
    fn screen(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-J", "-S", "-"]);
        assert!(out.status.success(), "capture-pane failed: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows `text`; a hang fails the test with the screen.
    #[track_caller]
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + SCREEN_TIMEOUT;
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "the screen never showed {text:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Waits for the command to end; returns its exit code and the final screen.
    #[track_caller]
    fn wait_for_exit(&self) -> (i32, String) {
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
    fn type_text(&self, text: &str) {
        let out = self.tmux(&["send-keys", "-l", text]);
        assert!(out.status.success(), "send-keys failed: {out:?}");
    }

    /// Presses a named key: `Enter`, `Escape`, `C-c`.
    fn press(&self, key: &str) {
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
fn wrapper_script(env: &TestEnv, args: &[&str], extra: &[(&str, &str)]) -> String {
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
    line.push(' ');
    line.push_str(&quote(env!("CARGO_BIN_EXE_fluxloop")));
    for a in args {
        line.push(' ');
        line.push_str(&quote(a));
    }
    format!("#!/bin/sh\n{line}\necho \"EXIT=$?\"\nsleep 30\n")
}

/// Neither the key nor its secret part (everything after `flux_<env>_`) is on the screen.
#[track_caller]
fn assert_hidden(screen: &str, key: &str) {
    let secret = key.rsplit('_').next().unwrap();
    assert!(
        !screen.contains(key) && !screen.contains(secret),
        "the typed key is visible on the terminal:\n{screen}"
    );
    // Not even a recognisable piece of it.
    for piece in secret.as_bytes().chunks(8).filter(|c| c.len() == 8) {
        let piece = std::str::from_utf8(piece).unwrap();
        assert!(
            !screen.contains(piece),
            "part of the typed key ({piece}) is visible:\n{screen}"
        );
    }
}

#[test]
fn prompt_hides_the_typed_key_and_saves_it() {
    let env = TestEnv::new();
    let term = Terminal::start(&env, &["auth", "login"], &[]);
    let screen = term.wait_for(PROMPT);
    assert!(screen.contains("Welcome to FluxLoop!"), "{screen}");
    assert!(
        screen.contains("https://app.fluxloop.ai/settings/api-keys"),
        "{screen}"
    );

    term.type_text(keys::VALID);
    // Typed but not submitted: nothing of it shows.
    std::thread::sleep(Duration::from_millis(200));
    assert_hidden(&term.screen(), keys::VALID);
    term.press("Enter");

    let (code, screen) = term.wait_for_exit();
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("✅ Successfully authenticated!"),
        "{screen}"
    );
    assert!(
        screen.contains("Your account: john@example.com"),
        "{screen}"
    );
    assert_hidden(&screen, keys::VALID);
    assert_eq!(
        env.ss.lookup(SERVICE, "default").as_deref(),
        Some(keys::VALID)
    );
    env.assert_not_on_disk(keys::VALID);
}

#[test]
fn api_key_dash_on_a_terminal_prompts_too() {
    let env = TestEnv::new();
    let term = Terminal::start(
        &env,
        &["auth", "login", "--api-key", "-", "--profile", "work"],
        &[],
    );
    term.wait_for(PROMPT);
    term.type_text(&format!("  {}  ", keys::EXPIRING_SOON));
    term.press("Enter");
    let (code, screen) = term.wait_for_exit();
    assert_eq!(code, 0, "{screen}");
    assert_hidden(&screen, keys::EXPIRING_SOON);
    assert_eq!(env.keychain_profiles(), ["work"]);
    assert_eq!(
        env.ss.lookup(SERVICE, "work").as_deref(),
        Some(keys::EXPIRING_SOON)
    );
}

#[test]
fn malformed_key_at_the_prompt_explains_and_lets_the_user_retype() {
    let env = TestEnv::new();
    let term = Terminal::start(&env, &["auth", "login"], &[]);
    term.wait_for(PROMPT);

    let truncated = &keys::VALID[..20];
    term.type_text(truncated);
    term.press("Enter");
    let screen = term.wait_for("too short");
    assert!(screen.contains("cut off"), "{screen}");
    assert!(!screen.contains(truncated), "{screen}");
    assert!(!screen.contains("EXIT="), "the prompt gave up:\n{screen}");
    assert!(
        env.platform.requests().is_empty(),
        "a malformed key was sent"
    );

    // Another paste error, then the right key.
    term.type_text(&format!("{}\"", keys::VALID));
    term.press("Enter");
    term.wait_for("a quote");
    assert!(env.platform.requests().is_empty());
    assert!(env.keychain().is_empty());

    term.type_text(keys::VALID);
    term.press("Enter");
    let (code, screen) = term.wait_for_exit();
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("✅ Successfully authenticated!"),
        "{screen}"
    );
    assert_hidden(&screen, keys::VALID);
    assert_eq!(env.platform.requests().len(), 1);
    assert_eq!(
        env.ss.lookup(SERVICE, "default").as_deref(),
        Some(keys::VALID)
    );
}

/// Starts a prompt over an existing profile, types part of a key, presses `key`.
fn cancel_with(key: &str) {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let before = env.snapshot();
    let requests = env.platform.requests().len();

    let term = Terminal::start(&env, &["auth", "login"], &[]);
    term.wait_for(PROMPT);
    term.type_text(&keys::EXPIRING_SOON[..15]);
    term.press(key);
    let (code, screen) = term.wait_for_exit();
    assert_ne!(code, 0, "cancelling with {key} succeeded:\n{screen}");
    assert!(screen.contains("cancelled"), "{screen}");
    assert!(screen.contains("nothing was stored"), "{screen}");
    assert!(!screen.contains("Successfully"), "{screen}");
    assert!(
        !screen.contains(&keys::EXPIRING_SOON[..15]),
        "the typed text is visible:\n{screen}"
    );
    assert_eq!(
        env.snapshot(),
        before,
        "cancelling with {key} changed something"
    );
    assert_eq!(env.platform.requests().len(), requests);
}

#[test]
fn escape_cancels_and_stores_nothing() {
    cancel_with("Escape");
}

#[test]
fn ctrl_c_cancels_and_stores_nothing() {
    cancel_with("C-c");
}

#[test]
fn key_rejected_by_the_platform_after_the_prompt_stores_nothing() {
    let env = TestEnv::new();
    let term = Terminal::start(&env, &["auth", "login"], &[]);
    term.wait_for(PROMPT);
    term.type_text(keys::UNKNOWN);
    term.press("Enter");
    let (code, screen) = term.wait_for_exit();
    assert_eq!(code, 3, "{screen}");
    assert!(screen.contains("Invalid API key"), "{screen}");
    assert_hidden(&screen, keys::UNKNOWN);
    assert!(env.keychain().is_empty());
    assert!(env.credentials().is_none());
}

#[test]
fn no_keychain_fails_before_prompting() {
    let env = TestEnv::with(SecretService::start_bus_only());
    let term = Terminal::start(&env, &["auth", "login"], &[]);
    let (code, screen) = term.wait_for_exit();
    assert_eq!(code, 6, "{screen}");
    assert!(
        !screen.contains(PROMPT),
        "prompted for a key it cannot store:\n{screen}"
    );
    assert!(screen.contains("FLUXLOOP_API_KEY"), "{screen}");
    assert!(env.credentials().is_none());
}
