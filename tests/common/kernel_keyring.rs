//! Kernel keyrings of one test's own: a user namespace (`unshare --user`) has its own user and
//! persistent keyrings, so a test never sees nor touches the developer's keys, nor another
//! test's. Every run enters that namespace (`nsenter`) in a fresh session keyring (`keyctl
//! session -`), like a separate SSH login of the same user: what one run saved reaches the next
//! only through the persistent keyring, as it would for a real user.

// Each test binary uses a different subset.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};

use super::env::{Run, TestEnv};

pub struct KernelKeyrings {
    /// Holds the namespace open for the test's lifetime.
    holder: Child,
}

impl KernelKeyrings {
    pub fn start() -> Self {
        let holder = Command::new("unshare")
            .args(["--user", "--map-current-user", "sleep", "3600"])
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare (util-linux) starts a user namespace");
        let this = Self { holder };
        // The namespace exists once `sleep` runs in it: its user namespace differs from ours.
        let ours = std::fs::read_link("/proc/self/ns/user").unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let theirs = std::fs::read_link(format!("/proc/{}/ns/user", this.pid()));
            if theirs.is_ok_and(|t| t != ours) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "unshare did not start a user namespace"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        this
    }

    fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// The words that run a program in the namespace, in a new session keyring: for a shell
    /// line (tests/common/terminal.rs `command_line`).
    pub fn enter(&self) -> Vec<String> {
        [
            "nsenter",
            "--user",
            "--preserve-credentials",
            "--target",
            &self.pid().to_string(),
            "--",
            "keyctl",
            "session",
            "-",
        ]
        .map(str::to_string)
        .to_vec()
    }

    /// `program args…` inside the namespace, in a new session keyring, with `env`'s isolated
    /// environment.
    pub fn command(&self, env: &TestEnv, program: &str) -> Command {
        let template = env.cmd();
        let mut cmd = env.ss.command("nsenter");
        cmd.args(["--user", "--preserve-credentials", "--target"])
            .arg(self.pid().to_string())
            .args(["--", "keyctl", "session", "-", program]);
        for (k, v) in template.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd
    }

    /// `fluxloop args…` as one login session.
    pub fn run(&self, env: &TestEnv, args: &[&str], envs: &[(&str, &str)]) -> Run {
        self.run_stdin(env, args, None, envs)
    }

    /// `fluxloop auth login --storage keyutils [--profile NAME]` with `key` on stdin, in these
    /// keyrings; asserts success.
    pub fn login(&self, env: &TestEnv, key: &str, profile: Option<&str>) -> Run {
        let mut args = vec!["auth", "login", "--storage", "keyutils"];
        if let Some(name) = profile {
            args.extend(["--profile", name]);
        }
        let run = self.run_stdin(env, &args, Some(&format!("{key}\n")), &[]);
        run.assert_ok();
        run
    }

    pub fn run_stdin(
        &self,
        env: &TestEnv,
        args: &[&str],
        stdin: Option<&str>,
        envs: &[(&str, &str)],
    ) -> Run {
        let mut cmd = self.command(env, env!("CARGO_BIN_EXE_fluxloop"));
        cmd.args(args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut run = env.run_cmd(&mut cmd, stdin);
        // Described as the test wrote it, not as the wrapper ran it; keyctl's own line is not
        // fluxloop's output.
        run.args = args.iter().map(|a| a.to_string()).collect();
        run.stderr = run
            .stderr
            .lines()
            .filter(|l| !l.starts_with("Joined session keyring: "))
            .map(|l| format!("{l}\n"))
            .collect();
        run
    }

    /// `keyctl args…` in the namespace (a fresh session keyring too); its stdout.
    pub fn keyctl(&self, env: &TestEnv, args: &[&str]) -> String {
        self.shell(env, &format!("keyctl {}", args.join(" ")))
    }

    /// `sh -c script` in the namespace; its stdout, after checking it succeeded.
    pub fn shell(&self, env: &TestEnv, script: &str) -> String {
        let out = self
            .command(env, "sh")
            .args(["-c", script])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The descriptions of the user keys in this namespace's persistent and user keyrings,
    /// sorted: what a new login session can reach. (`/proc/keys` would also list other tests'
    /// keys, and keys not yet collected after an unlink.)
    pub fn descriptions(&self, env: &TestEnv) -> Vec<String> {
        let script = "for ring in \"$(keyctl get_persistent @s)\" @u; do \
                for id in $(keyctl rlist \"$ring\"); do keyctl rdescribe \"$id\"; echo; done; \
            done";
        let text = self.shell(env, script);
        let mut found: Vec<String> = text
            .lines()
            // type;uid;gid;perm;description
            .filter_map(|line| line.strip_prefix("user;"))
            .filter_map(|rest| Some(rest.splitn(4, ';').nth(3)?.to_string()))
            .collect();
        found.sort();
        found.dedup();
        found
    }
}

impl Drop for KernelKeyrings {
    fn drop(&mut self) {
        // Clean what the test made, then let the namespace (and its keyrings) go.
        let _ = Command::new("nsenter")
            .args(["--user", "--preserve-credentials", "--target"])
            .arg(self.pid().to_string())
            .args([
                "--",
                "keyctl",
                "session",
                "-",
                "sh",
                "-c",
                "keyctl clear \"$(keyctl get_persistent @s)\"; keyctl clear @u",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
