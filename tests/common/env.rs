//! One isolated world per test: a private Secret Service (its own D-Bus and gnome-keyring), a
//! stand-in platform on 127.0.0.1, and a temporary HOME and TMPDIR. The `fluxloop` binary runs
//! with a cleared environment, so nothing of the developer's machine leaks in or out.

// Each test binary uses a different subset, re-exports included.
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub use fluxloop_stand_in::{Fault, Platform, keys};

use super::secret_service::{Item, SecretService, run_with_timeout};

/// The keychain service name the CLI uses by default.
pub const SERVICE: &str = "fluxloop";
/// Every run of the binary is killed after this long; a hang is a failure, not a stuck suite.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

pub struct TestEnv {
    pub ss: SecretService,
    pub platform: Platform,
}

/// What a run of `fluxloop` did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
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

    pub fn with(ss: SecretService) -> Self {
        let env = Self {
            ss,
            platform: Platform::start(),
        };
        std::fs::create_dir_all(env.tmp()).unwrap();
        env
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
    pub fn run_with(&self, args: &[&str], stdin: Option<&str>, envs: &[(&str, &str)]) -> Run {
        let mut cmd = self.cmd();
        cmd.args(args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        self.run_cmd(&mut cmd, stdin)
    }

    pub fn run_cmd(&self, cmd: &mut Command, stdin: Option<&str>) -> Run {
        let done = run_with_timeout(cmd, stdin.map(str::as_bytes), RUN_TIMEOUT);
        assert!(
            !done.timed_out(),
            "fluxloop did not finish within {RUN_TIMEOUT:?}\n--- stderr\n{}",
            done.stderr
        );
        Run {
            code: done.code(),
            stdout: done.stdout,
            stderr: done.stderr,
            elapsed: done.elapsed,
        }
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
