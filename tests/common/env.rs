//! One isolated world per test: a private Secret Service (its own D-Bus and gnome-keyring), a
//! stand-in platform on 127.0.0.1, and a temporary HOME and TMPDIR. The `fluxloop` binary runs
//! with a cleared environment, so nothing of the developer's machine leaks in or out.
//!
//! Three things happen without a test asking:
//! * every run is checked for leaks: no 8-character piece of a known key in stdout or stderr
//!   (known keys: the stand-in's fixtures, every `flux_…` key in the run's args, environment and
//!   stdin, and [`TestEnv::know_key`]);
//! * when the test ends (`Drop`), HOME, TMPDIR, XDG_RUNTIME_DIR, new files in /dev/shm and the
//!   keychain's labels and attributes are checked the same way
//!   ([`TestEnv::allow_plaintext_on_disk`] for the tests that put a key in a file on purpose);
//! * [`TestEnv::snapshot_text`] / `assert_run_snapshot!` turn a run into the whole-output text
//!   (exit status, stdout, stderr) with the variable parts filtered ([`TestEnv::filters`]).
//!
//! ```ignore
//! let env = TestEnv::new();                        // or TestEnv::without_keychain() for help
//! env.login(keys::VALID, None);
//! let run = env.run(&["auth", "status"]);
//! assert_run_snapshot!(env, run);                  // tests/snapshots/<file>__<test>.snap
//! fluxloop_snapshot!(env, ["auth", "whoami"]);     // run and snapshot in one line
//! assert_run_snapshot!("after_logout", env, run);  // named, when a test has several
//! ```

// Each test binary uses a different subset, re-exports included.
#![allow(dead_code, unused_imports)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{Days, Utc};
pub use fluxloop_stand_in::{Fault, Platform, keys};

use super::leak::{self, KnownKey};
use super::secret_service::{Item, SecretService, run_with_timeout};

/// The keychain service name the CLI uses by default.
pub const SERVICE: &str = "fluxloop";
/// The attribute and value that mark every Secret Service item the CLI writes.
pub const MARKER: (&str, &str) = ("application", "fluxloop");
/// Every run of the binary is killed after this long; a hang is a failure, not a stuck suite.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

pub struct TestEnv {
    pub ss: SecretService,
    pub platform: Platform,
    /// Keys no piece of which may show up in output or on disk (see [`super::leak`]).
    known_keys: Mutex<Vec<KnownKey>>,
    /// Keychain services to look through at the end (the default, and any
    /// FLUXLOOP_KEYRING_SERVICE a run used).
    services: Mutex<BTreeSet<String>>,
    /// Files and directories where the test put a plaintext key on purpose.
    plaintext_allowed: Mutex<Vec<PathBuf>>,
    /// Files in /dev/shm before the test, so that only the ones created during it are checked.
    shm_before: BTreeSet<PathBuf>,
    /// Filters a test added ([`TestEnv::filter`]), applied before the standard ones.
    extra_filters: Mutex<Vec<(String, String)>>,
}

/// What a run of `fluxloop` did.
#[derive(Debug)]
pub struct Run {
    /// The arguments after the program, for the snapshot's description.
    pub args: Vec<String>,
    /// Environment variables the test added to the harness's, for the same. Here and in
    /// `args`, keys are replaced by `[KEY]`.
    pub envs: Vec<(String, String)>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// The documented exit statuses (README "Exit codes"), by name.
pub fn exit_name(code: i32) -> &'static str {
    match code {
        0 => "success",
        1 => "failure",
        2 => "usage",
        3 => "auth",
        4 => "permission",
        5 => "network",
        6 => "keychain",
        7 => "wrong passphrase",
        101 => "crash",
        _ => "undocumented",
    }
}

impl Run {
    /// `NAME=value fluxloop <args>` as typed, without stdin; values with spaces or nothing
    /// are quoted.
    pub fn command_line(&self) -> String {
        let quote = |s: &str| {
            if s.is_empty() || s.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
                format!("{s:?}")
            } else {
                s.to_owned()
            }
        };
        self.envs
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .chain(std::iter::once("fluxloop".to_owned()))
            .chain(self.args.iter().map(|a| quote(a)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The whole run as one text, unfiltered: `exit: <name> (<code>)`, then `--- stdout` and the
    /// stdout, then `--- stderr` and the stderr. Output without a final newline is marked, since
    /// that is a difference too.
    pub fn whole_output(&self) -> String {
        let mut text = match self.code {
            Some(code) => format!("exit: {} ({code})\n", exit_name(code)),
            None => "exit: killed by a signal\n".to_owned(),
        };
        for (name, output) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            text.push_str(&format!("--- {name}\n"));
            text.push_str(output);
            if !output.is_empty() && !output.ends_with('\n') {
                text.push_str("\n[no newline at end]\n");
            }
        }
        text
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        self.assert_code(0)
    }

    #[track_caller]
    pub fn stderr_has(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}\n--- stderr\n{}\n--- stdout\n{}",
            self.stderr,
            self.stdout
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn never_shows(&self, secret: &str) -> &Self {
        assert!(
            !self.stdout.contains(secret) && !self.stderr.contains(secret),
            "output contains the key\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Stdout lines with label padding collapsed, so `Profile:       default` reads
    /// `Profile: default`.
    pub fn lines(&self) -> Vec<String> {
        self.stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }

    /// Stdout has exactly this line (padding collapsed, see [`Run::lines`]).
    #[track_caller]
    pub fn assert_line(&self, line: &str) -> &Self {
        assert!(
            self.lines().iter().any(|l| l == line),
            "stdout has no line {line:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Everything the CLI may change on the machine, to prove a failure changed nothing.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub credentials: Option<Vec<u8>>,
    pub keychain: Vec<Item>,
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv {
    pub fn new() -> Self {
        Self::with(SecretService::start())
    }

    /// The isolated HOME, TMPDIR and stand-in, but no D-Bus and no Secret Service: for help and
    /// usage tests, which must work (and start fast) without a keychain.
    pub fn without_keychain() -> Self {
        Self::with(SecretService::no_bus())
    }

    pub fn with(ss: SecretService) -> Self {
        let known = keys::ALL
            .iter()
            .map(|(name, key)| KnownKey {
                origin: format!("fixture key keys::{name}"),
                key: (*key).to_owned(),
            })
            .collect();
        let env = Self {
            ss,
            platform: Platform::start(),
            known_keys: Mutex::new(known),
            services: Mutex::new(BTreeSet::from([SERVICE.to_owned()])),
            plaintext_allowed: Mutex::new(Vec::new()),
            shm_before: walk(Path::new(SHM)).into_iter().collect(),
            extra_filters: Mutex::new(Vec::new()),
        };
        std::fs::create_dir_all(env.tmp()).unwrap();
        env
    }

    /// Adds a key the leak checks look for (fixture keys and keys passed to the binary are
    /// known without this).
    pub fn know_key(&self, key: &str) {
        self.learn_key("a key the test registered", key);
    }

    fn learn_key(&self, origin: &str, key: &str) {
        let mut known = lock(&self.known_keys);
        if !known.iter().any(|k| k.key == key) {
            let origin = format!("{origin} (#{})", known.len() + 1);
            known.push(KnownKey {
                origin,
                key: key.to_owned(),
            });
        }
    }

    /// The keys the leak checks look for so far, with the secrets the stand-in has handed out
    /// (keys minted by browser logins and rotations, device codes) learnt on the way.
    pub fn known_keys(&self) -> Vec<KnownKey> {
        for minted in self.platform.minted() {
            self.learn_key("a key the stand-in minted", &minted.api_key);
        }
        for code in self.platform.device_codes() {
            self.learn_key("a device code of a browser login", &code);
        }
        lock(&self.known_keys).clone()
    }

    /// Declares that this test keeps a key in plain text under ~/.fluxloop on purpose (the
    /// `--storage file` and legacy tests); the end-of-test check skips that directory only.
    pub fn allow_plaintext_on_disk(&self) {
        self.allow_plaintext_in(self.fluxloop_dir());
    }

    /// Declares a file, or a directory and everything below it, that may hold a plaintext key.
    pub fn allow_plaintext_in(&self, path: impl Into<PathBuf>) {
        lock(&self.plaintext_allowed).push(path.into());
    }

    /// The HOME the harness gives every process of this test.
    pub fn home(&self) -> PathBuf {
        self.ss
            .command("true")
            .get_envs()
            .find(|(k, _)| *k == "HOME")
            .and_then(|(_, v)| v)
            .map(PathBuf::from)
            .expect("the harness sets HOME")
    }

    /// TMPDIR for the binary, inside the test's directory so it can be searched for leaks.
    pub fn tmp(&self) -> PathBuf {
        self.ss.dir().join("tmp")
    }

    pub fn fluxloop_dir(&self) -> PathBuf {
        self.home().join(".fluxloop")
    }

    pub fn credentials_path(&self) -> PathBuf {
        self.fluxloop_dir().join("credentials")
    }

    pub fn credentials(&self) -> Option<String> {
        std::fs::read_to_string(self.credentials_path()).ok()
    }

    /// The `fluxloop` binary with the isolated environment and the stand-in's URL.
    pub fn cmd(&self) -> Command {
        let mut cmd = self.ss.command(env!("CARGO_BIN_EXE_fluxloop"));
        cmd.env("TMPDIR", self.tmp())
            .env("FLUXLOOP_API_URL", self.platform.url());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, None, &[])
    }

    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        self.run_with(args, Some(stdin), &[])
    }

    /// Runs with extra environment variables; `("NAME", None)` style removal is done by
    /// passing an empty value only where the CLI treats empty as unset.
    /// Browser logins (`login --web`) on the stand-in that poll every second and, with
    /// `auto_approve`, approve themselves at the first poll.
    pub fn quick_web_logins(&self, auto_approve: bool) {
        self.platform
            .set_connect(fluxloop_stand_in::ConnectSettings {
                interval: 1,
                expires_in: 900,
                auto_approve_after: auto_approve.then_some(Duration::ZERO),
            });
    }

    pub fn run_with(&self, args: &[&str], stdin: Option<&str>, envs: &[(&str, &str)]) -> Run {
        let mut cmd = self.cmd();
        cmd.args(args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        self.run_cmd(&mut cmd, stdin)
    }

    /// Runs `cmd` (made by [`TestEnv::cmd`] or with the same environment) and checks its
    /// output for leaks of every known key, including the ones in its args, environment and
    /// stdin.
    pub fn run_cmd(&self, cmd: &mut Command, stdin: Option<&str>) -> Run {
        self.run_checked(cmd, stdin, KeyOnStdout::Never)
    }

    /// Runs `fluxloop auth token <args>`, the one command whose stdout is a key: its stdout may
    /// be exactly one known key and a newline (or nothing), and its stderr is checked for leaks
    /// like any run's. Any other command fails the test.
    pub fn run_expecting_key_on_stdout(&self, args: &[&str], envs: &[(&str, &str)]) -> Run {
        assert!(
            args.windows(2).any(|w| w == ["auth", "token"]),
            "only `fluxloop auth token` may print a key, not {args:?}"
        );
        let mut cmd = self.cmd();
        cmd.args(args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        self.run_checked(&mut cmd, None, KeyOnStdout::WholeStdout)
    }

    fn run_checked(
        &self,
        cmd: &mut Command,
        stdin: Option<&str>,
        key_on_stdout: KeyOnStdout,
    ) -> Run {
        self.learn_keys_of(cmd, stdin);
        let done = run_with_timeout(cmd, stdin.map(str::as_bytes), RUN_TIMEOUT);
        let timed_out = done.timed_out();
        let run = Run {
            args: cmd
                .get_args()
                .map(|a| hide_keys(&a.to_string_lossy()))
                .collect(),
            envs: self.added_envs(cmd),
            code: done.code(),
            stdout: done.stdout,
            stderr: done.stderr,
            elapsed: done.elapsed,
        };
        match key_on_stdout {
            KeyOnStdout::Never => self.assert_no_leak(&run),
            KeyOnStdout::WholeStdout => self.assert_stdout_is_at_most_one_key(&run),
        }
        tally(&run, self.known_keys().len());
        if run
            .stderr
            .contains("Nothing on the session bus provides org.freedesktop.secrets")
            && let Some(report) = self.ss.vanished_daemon_report()
        {
            // Printed with the test's output if it fails, to tell a daemon that died from a
            // harness fault (the logs hold no key: the daemons never see one in plain text).
            #[allow(clippy::print_stderr)]
            {
                eprintln!("--- no keychain answered this run ---\n{report}");
            }
        }
        assert!(
            !timed_out,
            "fluxloop did not finish within {RUN_TIMEOUT:?}\n--- stderr\n{}",
            leak::redacted(&self.known_keys(), &run.stderr)
        );
        run
    }

    /// The variables `cmd` sets beyond what [`TestEnv::cmd`] sets, keys hidden.
    fn added_envs(&self, cmd: &Command) -> Vec<(String, String)> {
        let base = self.cmd();
        let base: Vec<_> = base.get_envs().collect();
        let mut added: Vec<(String, String)> = cmd
            .get_envs()
            .filter(|e| !base.contains(e))
            .map(|(k, v)| {
                let v = v.map(|v| v.to_string_lossy().into_owned());
                let v = match v {
                    None => "(unset)".to_owned(),
                    // Shown in snapshots' command lines: a secret like a key.
                    Some(_) if k == "FLUXLOOP_PASSPHRASE" => "[PASSPHRASE]".to_owned(),
                    Some(v) => hide_keys(&v),
                };
                (k.to_string_lossy().into_owned(), v)
            })
            .collect();
        added.sort();
        added
    }

    /// Learns the keys in a command's args, environment and stdin, and the keychain service it
    /// names, before it runs.
    pub fn learn_keys_of(&self, cmd: &Command, stdin: Option<&str>) {
        for arg in cmd.get_args() {
            for key in leak::keys_in(&arg.to_string_lossy()) {
                self.learn_key("a key in the args", &key);
            }
        }
        for (name, value) in cmd.get_envs() {
            let Some(value) = value else { continue };
            let value = value.to_string_lossy();
            for key in leak::keys_in(&value) {
                self.learn_key(&format!("a key in ${}", name.to_string_lossy()), &key);
            }
            // The encrypted-file store's passphrase is a secret like a key: no output may show
            // a piece of it either.
            if name == "FLUXLOOP_PASSPHRASE" && value.trim().len() >= 8 {
                self.learn_key("the passphrase in $FLUXLOOP_PASSPHRASE", value.trim());
            }
            if name == "FLUXLOOP_KEYRING_SERVICE" && !value.is_empty() {
                lock(&self.services).insert(value.into_owned());
            }
        }
        for key in leak::keys_in(stdin.unwrap_or_default()) {
            self.learn_key("a key on stdin", &key);
        }
    }

    /// The pieces of known keys in a run's stdout or stderr, as "stdout: <origin>" lines.
    pub fn leaks_in(&self, run: &Run) -> Vec<String> {
        let keys = self.known_keys();
        let mut found = Vec::new();
        for (name, output) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            for origin in leak::leaked(&keys, output.as_bytes()) {
                found.push(format!("{name}: {origin}"));
            }
        }
        found
    }

    /// Fails if a run's output holds an 8-character piece of a known key; the message shows
    /// the output with the pieces replaced by `[LEAK]`.
    #[track_caller]
    pub fn assert_no_leak(&self, run: &Run) {
        let found = self.leaks_in(run);
        if !found.is_empty() {
            let keys = self.known_keys();
            panic!(
                "the output shows part of a key: {}\n{}",
                found.join(", "),
                leak::redacted(&keys, &run.whole_output())
            );
        }
    }

    /// For `auth token`: stdout is empty or exactly one known key and `\n`; stderr shows no
    /// piece of any key.
    #[track_caller]
    pub fn assert_stdout_is_at_most_one_key(&self, run: &Run) {
        let keys = self.known_keys();
        let stdout_ok = run.stdout.is_empty()
            || run
                .stdout
                .strip_suffix('\n')
                .is_some_and(|line| keys.iter().any(|k| k.key == line));
        assert!(
            stdout_ok,
            "stdout of `auth token` is not exactly one known key and a newline:\n{}",
            leak::redacted(&keys, &run.stdout)
        );
        self.assert_no_leak_in_text("stderr", &run.stderr);
    }

    /// The same check for output that did not come through [`TestEnv::run_cmd`] (a terminal
    /// captured by tmux, a log file): `what` names it in the message.
    #[track_caller]
    pub fn assert_no_leak_in_text(&self, what: &str, text: &str) {
        let keys = self.known_keys();
        let found = leak::leaked(&keys, text.as_bytes());
        assert!(
            found.is_empty(),
            "{what} shows part of a key: {}\n{}",
            found.join(", "),
            leak::redacted(&keys, text)
        );
    }

    /// Where a piece of a known key is at rest: files under HOME, TMPDIR and XDG_RUNTIME_DIR,
    /// files created in /dev/shm during the test, and the labels and attributes of keychain
    /// items (their secrets are where keys belong). Paths allowed by
    /// [`TestEnv::allow_plaintext_in`] are skipped.
    pub fn leaks_at_rest(&self) -> Vec<String> {
        let keys = self.known_keys();
        let allowed = lock(&self.plaintext_allowed).clone();
        let mut files = Vec::new();
        for root in [self.home(), self.tmp(), self.runtime_dir()] {
            files.extend(walk(&root));
        }
        files.extend(
            walk(Path::new(SHM))
                .into_iter()
                .filter(|f| !self.shm_before.contains(f)),
        );
        let mut found = Vec::new();
        for file in files {
            if allowed.iter().any(|a| file.starts_with(a)) {
                continue;
            }
            let Ok(bytes) = std::fs::read(&file) else {
                continue;
            };
            for origin in leak::leaked(&keys, &bytes) {
                found.push(format!("{}: {origin}", file.display()));
            }
        }
        for item in self.keychain_items_for_leak_check() {
            let mut public = format!("label = {}\n", item.label);
            for (name, value) in &item.attributes {
                public.push_str(&format!("attribute.{name} = {value}\n"));
            }
            for origin in leak::leaked(&keys, public.as_bytes()) {
                found.push(format!(
                    "keychain item {} label/attributes: {origin}",
                    item.path
                ));
            }
        }
        found
    }

    /// Every item of every service the test used, or none when there is no keychain to ask
    /// (no bus, no Secret Service, or a stopped daemon that would only time out).
    fn keychain_items_for_leak_check(&self) -> Vec<Item> {
        if !self.ss.has_bus() || self.ss.daemon_stopped() {
            return Vec::new();
        }
        let services = lock(&self.services).clone();
        let mut items: Vec<Item> = services
            .iter()
            .flat_map(|s| self.ss.search(s).unwrap_or_default())
            .collect();
        // Entries of other credentials directories are under their own service names.
        items.extend(self.ss.search_where(&[MARKER]).unwrap_or_default());
        items
    }

    /// Fails if [`TestEnv::leaks_at_rest`] finds anything. Runs by itself when the test ends.
    #[track_caller]
    pub fn assert_no_leaks_at_rest(&self) {
        let found = self.leaks_at_rest();
        assert!(
            found.is_empty(),
            "part of a key is stored in plain text (a test that does this on purpose says \
             env.allow_plaintext_on_disk()):\n{}",
            found.join("\n")
        );
    }

    /// XDG_RUNTIME_DIR of the binary.
    pub fn runtime_dir(&self) -> PathBuf {
        self.env_of_harness("XDG_RUNTIME_DIR")
    }

    fn env_of_harness(&self, name: &str) -> PathBuf {
        self.ss
            .command("true")
            .get_envs()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v)
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("the harness sets {name}"))
    }

    /// Adds a filter for something only this test knows (a second platform's URL, a port):
    /// every `text` in snapshots becomes `replacement`. Applied before the standard filters.
    pub fn filter(&self, text: &str, replacement: &str) {
        lock(&self.extra_filters).push((regex_escape(text), replacement.to_owned()));
    }

    /// [`TestEnv::filter`] for a regular expression, for text that varies by more than one
    /// value (a latency: `answered in \d+ ms`).
    pub fn filter_pattern(&self, pattern: &str, replacement: &str) {
        lock(&self.extra_filters).push((pattern.to_owned(), replacement.to_owned()));
    }

    /// The filters that make a run's text the same on every machine and every day, in the
    /// order they apply. Each replaces one exact thing; keep them few, since a filter that
    /// hides a real difference makes a test unable to fail.
    pub fn filters(&self) -> Vec<(String, String)> {
        let url = self.platform.url();
        let host = url.split_once("://").map_or(url.as_str(), |(_, h)| h);
        let mut filters = lock(&self.extra_filters).clone();
        filters.extend([
            (regex_escape(&url), "[API_URL]".to_owned()),
            (regex_escape(host), "[API_HOST]".to_owned()),
            // The same port reached by another loopback name.
            (
                format!(r"(localhost|127\.0\.0\.1|\[::1\]):{}", self.platform.port()),
                "$1:[API_PORT]".to_owned(),
            ),
            (
                regex_escape(&self.home().to_string_lossy()),
                "[HOME]".to_owned(),
            ),
            (
                regex_escape(&self.tmp().to_string_lossy()),
                "[TMP]".to_owned(),
            ),
            // The rest of the test's directory (runtime dir, bus socket).
            (
                regex_escape(&self.ss.dir().to_string_lossy()),
                "[TEMP]".to_owned(),
            ),
            // Other temporary directories made by tests (tempfile's `.tmpXXXXXX`).
            (
                format!(
                    "{}/\\.tmp[A-Za-z0-9]{{6}}",
                    regex_escape(std::env::temp_dir().to_string_lossy().trim_end_matches('/'))
                ),
                "[TEMP]".to_owned(),
            ),
        ]);
        // Colour: ESC is invisible in a .snap; show it (one exact character for another).
        filters.push(("\x1b".to_owned(), "␛".to_owned()));
        // Expiry dates of the stand-in's fixtures, which move with today.
        let today = Utc::now().date_naive();
        for days in FIXTURE_DAY_OFFSETS {
            let date = if days >= 0 {
                today + Days::new(days.unsigned_abs())
            } else {
                today - Days::new(days.unsigned_abs())
            };
            filters.push((
                // No `\b`: after a colour code (`␛[0m2027-02-19`) there is no word boundary.
                date.format("%Y-%m-%d").to_string(),
                format!("[TODAY{days:+}d]"),
            ));
        }
        filters
    }

    /// The text a snapshot of `run` holds: [`Run::whole_output`] with [`TestEnv::filters`]
    /// applied. (The snapshot macros hand the filters to insta instead, which applies the same
    /// list.)
    pub fn snapshot_text(&self, run: &Run) -> String {
        apply_filters(&self.filters(), &run.whole_output())
    }

    /// insta settings for snapshots of this environment's runs: the filters, and the command
    /// line (filtered) as the description.
    pub fn snapshot_settings(&self, run: &Run) -> insta::Settings {
        let mut settings = insta::Settings::clone_current();
        settings.set_prepend_module_to_snapshot(true);
        settings.set_omit_expression(true);
        settings.clear_filters();
        for (pattern, replacement) in self.filters() {
            settings.add_filter(&pattern, replacement);
        }
        settings.set_description(apply_filters(&self.filters(), &run.command_line()));
        settings
    }

    /// insta settings for a snapshot of several runs ([`transcript`]).
    pub fn transcript_settings(&self, what: &str) -> insta::Settings {
        let mut settings = self.snapshot_settings(&Run {
            args: Vec::new(),
            envs: Vec::new(),
            code: None,
            stdout: String::new(),
            stderr: String::new(),
            elapsed: Duration::ZERO,
        });
        settings.set_description(what);
        settings
    }

    /// Runs `fluxloop <args>` with stdout on /dev/full (every write fails: no space left);
    /// returns the exit code and stderr, which is checked for leaks.
    pub fn run_to_full_stdout(&self, args: &[&str]) -> (Option<i32>, String) {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let mut cmd = self.cmd();
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .stdout(full)
            .stderr(std::process::Stdio::piped());
        let out = cmd.spawn().unwrap().wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        self.assert_no_leak_in_text("stderr", &stderr);
        (out.status.code(), stderr)
    }

    /// `fluxloop auth login` with the key on stdin; asserts success.
    pub fn login(&self, key: &str, profile: Option<&str>) -> Run {
        let mut args = vec!["auth", "login"];
        if let Some(p) = profile {
            args.extend(["--profile", p]);
        }
        let run = self.run_stdin(&args, &format!("{key}\n"));
        run.assert_ok();
        run
    }

    /// Our entries in the keychain, as an independent tool (secret-tool) sees them.
    pub fn keychain(&self) -> Vec<Item> {
        self.ss.items(SERVICE)
    }

    /// The entries the CLI wrote for the credentials directory `dir` (whatever service name
    /// they are under), found by the directory they name.
    pub fn keychain_of(&self, dir: &Path) -> Vec<Item> {
        let dir = dir
            .canonicalize()
            .expect("the credentials directory exists");
        let dir = dir.to_str().expect("a UTF-8 path");
        self.ss
            .search_where(&[MARKER, ("fluxloop-home", dir)])
            .unwrap_or_else(|out| panic!("secret-tool search failed: {out:?}"))
    }

    /// The profile names that have a keychain entry.
    pub fn keychain_profiles(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .keychain()
            .into_iter()
            .filter_map(|i| i.attributes.get("username").cloned())
            .collect();
        names.sort();
        names
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            credentials: std::fs::read(self.credentials_path()).ok(),
            keychain: self.keychain(),
        }
    }

    /// Fails if any file under HOME or TMPDIR contains `secret` in plain text.
    #[track_caller]
    pub fn assert_not_on_disk(&self, secret: &str) {
        for root in [self.home(), self.tmp()] {
            for file in walk(&root) {
                let Ok(bytes) = std::fs::read(&file) else {
                    continue;
                };
                assert!(
                    !contains(&bytes, secret.as_bytes()),
                    "{} contains the API key in plain text",
                    file.display()
                );
            }
        }
    }
}

/// Several runs as one text, each `$ fluxloop <args>` then its [`Run::whole_output`], for tests
/// that run many variations of one thing (`assert_runs_snapshot!`).
pub fn transcript<'a>(runs: impl IntoIterator<Item = &'a Run>) -> String {
    runs.into_iter()
        .map(|run| format!("$ {}\n{}", run.command_line(), run.whole_output()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// [`transcript`] with a `# <label>` line before each run, for runs whose command lines alone
/// do not tell them apart (the same command with different stdin, or several cases in a loop).
pub fn labelled_transcript<'a>(runs: impl IntoIterator<Item = (&'a str, &'a Run)>) -> String {
    runs.into_iter()
        .map(|(label, run)| {
            format!(
                "# {label}\n$ {}\n{}",
                run.command_line(),
                run.whole_output()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        // A failing test has already said what went wrong; a second panic would abort.
        if !std::thread::panicking() {
            self.assert_no_leaks_at_rest();
        }
    }
}

/// Whether a run's stdout may hold a key: never, except for `auth token`
/// ([`TestEnv::run_expecting_key_on_stdout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyOnStdout {
    Never,
    WholeStdout,
}

/// Days from today of the expiry dates the stand-in's fixtures report.
const FIXTURE_DAY_OFFSETS: [i64; 5] = [
    keys::VALID_DAYS_REMAINING,
    keys::EXPIRING_SOON_DAYS_REMAINING,
    keys::LAST_WARNED_DAYS_REMAINING,
    keys::FIRST_UNWARNED_DAYS_REMAINING,
    -keys::EXPIRED_DAYS_AGO,
];

const SHM: &str = "/dev/shm";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `text` with every `flux_…` key in it replaced by `[KEY]`, for descriptions of runs.
fn hide_keys(text: &str) -> String {
    leak::keys_in(text)
        .iter()
        .fold(text.to_owned(), |text, key| {
            text.replace(key.as_str(), "[KEY]")
        })
}

fn regex_escape(text: &str) -> String {
    regex::escape(text)
}

/// What insta does with the filters, for texts that are not snapshots.
fn apply_filters(filters: &[(String, String)], text: &str) -> String {
    filters
        .iter()
        .fold(text.to_owned(), |text, (pattern, replacement)| {
            let re = regex::Regex::new(pattern).expect("filter is a valid regex");
            re.replace_all(&text, replacement.as_str()).into_owned()
        })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every regular file below `root`, not following symlinks.
pub fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                stack.push(entry.path());
            } else if ft.is_file() {
                out.push(entry.path());
            }
        }
    }
    out
}

/// With `FLUXLOOP_LEAK_TALLY=<file>` in the test's environment, one line per checked run: the
/// command (subcommand words only), its exit code, and how many keys it was checked for. For
/// the figures of the leak check (how many runs and commands it covers); never read by a test.
fn tally(run: &Run, keys: usize) {
    let Some(path) = std::env::var_os("FLUXLOOP_LEAK_TALLY") else {
        return;
    };
    let words: Vec<&str> = run
        .args
        .iter()
        .map(String::as_str)
        .filter(|a| {
            matches!(
                *a,
                "auth"
                    | "login"
                    | "logout"
                    | "status"
                    | "whoami"
                    | "migrate"
                    | "token"
                    | "list"
                    | "help"
            ) || a.starts_with("--")
        })
        .collect();
    let line = format!(
        "{}\t{}\t{keys}\n",
        words.join(" "),
        run.code.map_or("signal".to_owned(), |c| c.to_string())
    );
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
}
