//! Errors that speak to the machine they happen on (issue 9): an empty FLUXLOOP_API_KEY (a CI
//! secret withheld from a fork's pull request) is named as such, and "no keychain" advice fits
//! a CI runner, an SSH session, a container, WSL or a machine without a desktop, naming the
//! store that fits with the exact command.
#![cfg(target_os = "linux")]

mod common;

use common::env::{Run, TestEnv, keys, labelled_transcript};

/// `status` with no session bus at all (the variable unset), plus `envs`.
fn status_without_a_bus(env: &TestEnv, envs: &[(&str, &str)]) -> Run {
    let mut cmd = env.cmd();
    cmd.args(["auth", "status"])
        .env_remove("DBUS_SESSION_BUS_ADDRESS");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    env.run_cmd(&mut cmd, None)
}

fn plant(env: &TestEnv, path: &str, text: &str) {
    let file = env.ss.system_root().join(path.trim_start_matches('/'));
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, text).unwrap();
}

#[test]
fn an_empty_api_key_variable_is_named_not_taken_for_unset() {
    let env = TestEnv::new();
    // A saved key that an empty variable must not silently fall back to.
    env.login(keys::VALID, None);
    let runs = [
        env.run_with(&["auth", "status"], None, &[("FLUXLOOP_API_KEY", "")]),
        env.run_with(&["auth", "whoami"], None, &[("FLUXLOOP_API_KEY", "  ")]),
        env.run_with(
            &["auth", "status"],
            None,
            &[
                ("FLUXLOOP_API_KEY", ""),
                ("CI", "true"),
                ("GITHUB_ACTIONS", "true"),
            ],
        ),
        env.run_with(
            &["exec", "--", "true"],
            None,
            &[("FLUXLOOP_API_KEY", ""), ("CI", "true")],
        ),
    ];
    for run in &runs {
        run.assert_code(3);
        run.stderr_has("FLUXLOOP_API_KEY is set but empty");
    }
    // The other variables keep the one rule: empty is unset.
    env.run_with(&["auth", "status"], None, &[("FLUXLOOP_PROFILE", "")])
        .assert_ok();
    common::assert_runs_snapshot!(
        env,
        runs,
        "an empty FLUXLOOP_API_KEY, on a desktop and in CI"
    );
}

#[test]
fn a_ci_runner_without_a_keychain_is_told_to_use_a_secret() {
    let env = TestEnv::without_keychain();
    let generic = status_without_a_bus(&env, &[("CI", "true")]);
    let github = status_without_a_bus(&env, &[("CI", "true"), ("GITHUB_ACTIONS", "true")]);
    let login = {
        let mut cmd = env.cmd();
        cmd.args(["auth", "login"])
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env("GITLAB_CI", "true");
        env.run_cmd(&mut cmd, Some(&format!("{}\n", keys::VALID)))
    };
    for run in [&generic, &github, &login] {
        run.assert_code(6);
        run.stderr_has("This is a CI runner");
        run.stderr_has("A pull request from a fork gets no secrets");
        assert!(!run.stderr.contains("desktop"), "{}", run.stderr);
    }
    let text = labelled_transcript([
        ("no session bus, CI=true", &generic),
        ("no session bus, CI=true GITHUB_ACTIONS=true", &github),
        ("no session bus, GITLAB_CI=true", &login),
    ]);
    env.transcript_settings("no keychain on CI runners")
        .bind(|| insta::assert_snapshot!(text));
}

#[test]
fn ssh_without_a_session_bus_is_offered_the_kernel_keyring() {
    let env = TestEnv::without_keychain();
    let run = status_without_a_bus(&env, &[("SSH_CONNECTION", "10.0.0.2 51000 10.0.0.1 22")]);
    run.assert_code(6)
        .stderr_has("This is an SSH session without a D-Bus session bus")
        .stderr_has("`fluxloop auth login --storage keyutils`")
        .stderr_has("Or skip the keychain: set FLUXLOOP_API_KEY");
    let text = labelled_transcript([("no session bus, SSH_CONNECTION set", &run)]);
    env.transcript_settings("no keychain over SSH")
        .bind(|| insta::assert_snapshot!(text));
}

#[test]
fn containers_wsl_and_headless_machines_get_the_store_that_fits() {
    let headless_env = TestEnv::without_keychain();
    let headless = status_without_a_bus(&headless_env, &[]);
    headless
        .assert_code(6)
        .stderr_has("no desktop session")
        .stderr_has("`fluxloop auth login --storage encrypted-file`");

    let docker_env = TestEnv::without_keychain();
    plant(&docker_env, "/.dockerenv", "");
    let docker = status_without_a_bus(&docker_env, &[]);
    docker
        .assert_code(6)
        .stderr_has("This is a container (Docker)")
        .stderr_has("FLUXLOOP_PASSPHRASE");

    let wsl_env = TestEnv::without_keychain();
    plant(
        &wsl_env,
        "/proc/version",
        "Linux version 5.15.153.1-microsoft-standard-WSL2 (root@1c602f52c2e4)\n",
    );
    let wsl = status_without_a_bus(&wsl_env, &[]);
    wsl.assert_code(6).stderr_has("This is WSL");

    // A desktop session keeps the desktop advice.
    let desktop_env = TestEnv::without_keychain();
    let desktop = status_without_a_bus(&desktop_env, &[("WAYLAND_DISPLAY", "wayland-0")]);
    desktop
        .assert_code(6)
        .stderr_has("On a desktop, run fluxloop inside your graphical login session");

    let text = labelled_transcript([
        ("no session bus, no DISPLAY", &headless),
        ("no session bus, /.dockerenv", &docker),
        ("no session bus, WSL2 kernel", &wsl),
        ("no session bus, WAYLAND_DISPLAY=wayland-0", &desktop),
    ]);
    headless_env
        .transcript_settings("no keychain on a headless machine, in Docker, in WSL, on a desktop")
        .bind(|| insta::assert_snapshot!(text));
}
