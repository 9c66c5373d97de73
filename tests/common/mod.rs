//! Support code shared by the integration tests (`mod common;` in a test file).
//!
//! Whole-output snapshots: `use common::{assert_run_snapshot, fluxloop_snapshot};` and see
//! the examples in [`env`].

// Not every test binary uses both macros.
#![allow(unused_macros, unused_imports)]

pub mod env;
pub mod kernel_keyring;
pub mod leak;
pub mod schema;
pub mod secret_service;
pub mod terminal;

/// Snapshots a whole [`env::Run`] (exit status, stdout, stderr; filtered by
/// [`env::TestEnv::filters`]) in tests/snapshots/<test file>__<test name>.snap, or
/// <test file>__<name>.snap when named:
///
/// ```ignore
/// assert_run_snapshot!(env, run);
/// assert_run_snapshot!("status_after_logout", env, run);
/// ```
macro_rules! assert_run_snapshot {
    ($name:literal, $env:expr, $run:expr $(,)?) => {{
        let (env, run) = (&$env, &$run);
        let text = run.whole_output();
        env.snapshot_settings(run)
            .bind(|| ::insta::assert_snapshot!($name, text));
    }};
    ($env:expr, $run:expr $(,)?) => {{
        let (env, run) = (&$env, &$run);
        let text = run.whole_output();
        env.snapshot_settings(run)
            .bind(|| ::insta::assert_snapshot!(text));
    }};
}
pub(crate) use assert_run_snapshot;

/// Runs `fluxloop <args>` in `env` and snapshots the whole run; evaluates to the
/// [`env::Run`] for further checks. Optional, in this order: `stdin = "..."`,
/// `envs = &[("NAME", "value")]`, and a snapshot name first, as for `assert_run_snapshot!`.
///
/// ```ignore
/// fluxloop_snapshot!(env, ["auth", "status"]);
/// fluxloop_snapshot!("login_work", env, ["auth", "login", "--profile", "work"],
///     stdin = &format!("{}\n", keys::VALID));
/// let run = fluxloop_snapshot!(env, ["auth", "status"], envs = &[("NO_COLOR", "1")]);
/// ```
macro_rules! fluxloop_snapshot {
    ($name:literal, $env:expr, [$($arg:expr),* $(,)?] $(, stdin = $stdin:expr)? $(, envs = $envs:expr)? $(,)?) => {{
        let env = &$env;
        // `let`s of their own, so that `stdin = &format!(..)` lives to the end of the block.
        #[allow(unused_variables)]
        let stdin: Option<&str> = None;
        $(let stdin_text = $stdin; let stdin: Option<&str> = Some(stdin_text);)?
        #[allow(unused_variables)]
        let envs: &[(&str, &str)] = &[];
        $(let envs_list = $envs; let envs: &[(&str, &str)] = envs_list;)?
        let run = env.run_with(&[$($arg),*], stdin, envs);
        $crate::common::assert_run_snapshot!($name, env, run);
        run
    }};
    ($env:expr, [$($arg:expr),* $(,)?] $(, stdin = $stdin:expr)? $(, envs = $envs:expr)? $(,)?) => {{
        let env = &$env;
        // `let`s of their own, so that `stdin = &format!(..)` lives to the end of the block.
        #[allow(unused_variables)]
        let stdin: Option<&str> = None;
        $(let stdin_text = $stdin; let stdin: Option<&str> = Some(stdin_text);)?
        #[allow(unused_variables)]
        let envs: &[(&str, &str)] = &[];
        $(let envs_list = $envs; let envs: &[(&str, &str)] = envs_list;)?
        let run = env.run_with(&[$($arg),*], stdin, envs);
        $crate::common::assert_run_snapshot!(env, run);
        run
    }};
}
pub(crate) use fluxloop_snapshot;

/// Snapshots several runs as one transcript (`$ fluxloop <args>` then each whole output), for a
/// test that loops over variations; `what` becomes the snapshot's description.
///
/// ```ignore
/// let runs: Vec<Run> = cases.iter().map(|args| env.run(args)).collect();
/// assert_runs_snapshot!(env, runs, "every usage error");
/// assert_runs_snapshot!("usage_errors", env, runs, "every usage error");
/// ```
macro_rules! assert_runs_snapshot {
    ($name:literal, $env:expr, $runs:expr, $what:expr $(,)?) => {{
        let env = &$env;
        let text = $crate::common::env::transcript(&$runs);
        env.transcript_settings($what)
            .bind(|| ::insta::assert_snapshot!($name, text));
    }};
    ($env:expr, $runs:expr, $what:expr $(,)?) => {{
        let env = &$env;
        let text = $crate::common::env::transcript(&$runs);
        env.transcript_settings($what)
            .bind(|| ::insta::assert_snapshot!(text));
    }};
}
pub(crate) use assert_runs_snapshot;

/// Snapshots a screen from [`terminal::screen_text`], filtered like every run of the test's environment;
/// `what` says which moment it is.
macro_rules! assert_screen_snapshot {
    ($name:literal, $env:expr, $text:expr, $what:expr $(,)?) => {{
        let text = $text;
        $env.transcript_settings($what)
            .bind(|| ::insta::assert_snapshot!($name, text));
    }};
}
pub(crate) use assert_screen_snapshot;
