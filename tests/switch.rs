//! `fluxloop auth switch` end to end (issue 8): the default profile and directory bindings kept in
//! the credentials file, the precedence rules (`--profile`, `FLUXLOOP_PROFILE`, the nearest
//! binding, the switched default, `default`), and how `status` and `list` name the rule. Also two
//! items of the "Also" list: a login that changes a profile's account says so, and
//! `status --expires-within DAYS`.

mod common;

use std::path::{Path, PathBuf};

use common::env::{Run, TestEnv, keys, labelled_transcript};
use common::schema::Schema;
use common::{assert_run_snapshot, assert_runs_snapshot, fluxloop_snapshot};
use insta::assert_snapshot;

/// Three keychain profiles: `default` (john@example.com), `work` (scoped@example.com) and `ci`
/// (readonly@example.com).
fn three_profiles() -> TestEnv {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.login(keys::PROJECT_SCOPED, Some("work"));
    env.login(keys::READ_ONLY, Some("ci"));
    env
}

/// `HOME/src/acme/sub/deep`, created; returns `HOME/src/acme`.
fn project(env: &TestEnv) -> PathBuf {
    let acme = env.home().join("src/acme");
    std::fs::create_dir_all(acme.join("sub/deep/x")).unwrap();
    acme
}

fn run_in(env: &TestEnv, dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let mut cmd = env.cmd();
    cmd.current_dir(dir).args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    env.run_cmd(&mut cmd, None)
}

/// The active profile as `list --json` gives it: (name, reason, bound directory).
fn active_in(env: &TestEnv, dir: &Path, envs: &[(&str, &str)]) -> (String, String, String) {
    let run = run_in(env, dir, &["auth", "list", "--json"], envs);
    let doc = run.json_valid(Schema::List);
    let active = &doc["active"];
    let home = env.home().canonicalize().unwrap();
    (
        active["name"].as_str().unwrap().to_owned(),
        active["reason"].as_str().unwrap().to_owned(),
        active["bound_directory"]
            .as_str()
            .map(|d| d.replace(home.to_str().unwrap(), "~"))
            .unwrap_or_default(),
    )
}

/// Where a command runs, its extra flags, and its extra environment.
type Case<'a> = (&'a Path, Vec<&'a str>, Vec<(&'a str, &'a str)>);

fn row(name: &str, reason: &str, dir: &str) -> (String, String, String) {
    (name.into(), reason.into(), dir.into())
}

#[test]
fn switch_sets_the_default_profile_kept_in_the_credentials_file() {
    let env = three_profiles();
    let run = fluxloop_snapshot!(env, ["auth", "switch", "work"]);
    run.assert_ok();
    let text = env.credentials().unwrap();
    assert!(text.contains("current_profile: work"), "{text}");
    assert!(text.contains("version: 1"), "{text}");

    let list = fluxloop_snapshot!("list_after_switch", env, ["auth", "list"]);
    list.assert_ok()
        .assert_line("Active profile: work (the default set by `fluxloop auth switch`)");
    let status = fluxloop_snapshot!("status_after_switch", env, ["auth", "status"]);
    status.assert_ok().stdout_has("scoped@example.com");
    assert_eq!(
        active_in(&env, &env.home(), &[]),
        row("work", "switched", "")
    );

    let unset = fluxloop_snapshot!("unset_default", env, ["auth", "switch", "--unset"]);
    unset.assert_ok();
    assert!(!env.credentials().unwrap().contains("current_profile"));
    assert_eq!(
        active_in(&env, &env.home(), &[]),
        row("default", "default", "")
    );
    // The output of the rule that was there before `switch` is unchanged.
    env.run(&["auth", "list"]).assert_ok().assert_line(
        "Active profile: default (the default; choose another with --profile or FLUXLOOP_PROFILE)",
    );
}

#[test]
fn the_nearest_directory_binding_wins_at_every_depth() {
    let env = three_profiles();
    let acme = project(&env);
    let deep = acme.join("sub/deep");
    let bind_acme = run_in(
        &env,
        &env.home(),
        &["auth", "switch", "work", "--dir", acme.to_str().unwrap()],
        &[],
    );
    bind_acme.assert_ok();
    let bind_deep = run_in(&env, &deep, &["auth", "switch", "ci", "--here"], &[]);
    bind_deep.assert_ok();
    assert_runs_snapshot!(
        env,
        [bind_acme, bind_deep],
        "binding ~/src/acme to work, and ~/src/acme/sub/deep to ci"
    );

    let depths = [
        ("~", env.home()),
        ("~/src/acme", acme.clone()),
        ("~/src/acme/sub", acme.join("sub")),
        ("~/src/acme/sub/deep", deep.clone()),
        ("~/src/acme/sub/deep/x", deep.join("x")),
    ];
    let found: Vec<_> = depths
        .iter()
        .map(|(_, dir)| active_in(&env, dir, &[]))
        .collect();
    assert_eq!(
        found,
        [
            row("default", "default", ""),
            row("work", "directory", "~/src/acme"),
            row("work", "directory", "~/src/acme"),
            row("ci", "directory", "~/src/acme/sub/deep"),
            row("ci", "directory", "~/src/acme/sub/deep"),
        ]
    );
    let runs: Vec<(String, Run)> = depths
        .iter()
        .map(|(label, dir)| {
            (
                format!("in {label}"),
                run_in(&env, dir, &["auth", "list"], &[]),
            )
        })
        .collect();
    let text = labelled_transcript(runs.iter().map(|(l, r)| (l.as_str(), r)));
    env.transcript_settings("auth list at every depth of ~/src/acme")
        .bind(|| assert_snapshot!("list_at_every_depth", text));
    // The same directory reached through a symbolic link is the same binding.
    let link = env.home().join("acme-link");
    std::os::unix::fs::symlink(&acme, &link).unwrap();
    assert_eq!(active_in(&env, &link.join("sub"), &[]).0, "work");

    let status = run_in(&env, &deep.join("x"), &["auth", "status"], &[]);
    status.assert_ok().stdout_has("readonly@example.com");
    assert_run_snapshot!("status_in_a_bound_directory", env, status);
}

#[test]
fn flag_and_variable_come_before_bindings_which_come_before_the_switched_default() {
    let env = three_profiles();
    let acme = project(&env);
    env.run(&["auth", "switch", "ci"]).assert_ok();
    run_in(&env, &acme, &["auth", "switch", "work", "--here"], &[]).assert_ok();
    let sub = acme.join("sub");
    let home = env.home();
    let cases: Vec<Case> = vec![
        (
            &sub,
            vec!["--profile", "default"],
            vec![("FLUXLOOP_PROFILE", "ci")],
        ),
        (&sub, vec![], vec![("FLUXLOOP_PROFILE", "default")]),
        (&sub, vec![], vec![]),
        // Empty is unset, as for every variable.
        (&sub, vec![], vec![("FLUXLOOP_PROFILE", "")]),
        (&home, vec![], vec![]),
    ];
    let found: Vec<_> = cases
        .iter()
        .map(|(dir, flags, envs)| {
            let mut args = vec!["auth", "list", "--json"];
            args.extend(flags);
            let doc = run_in(&env, dir, &args, envs).json_valid(Schema::List);
            (
                doc["active"]["name"].as_str().unwrap().to_owned(),
                doc["active"]["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        found,
        pairs(&[
            ("default", "flag"),
            ("default", "env"),
            ("work", "directory"),
            ("work", "directory"),
            ("ci", "switched"),
        ])
    );
    // Commands use the chosen profile's key: `whoami` in the bound directory is `work`'s.
    run_in(&env, &sub, &["auth", "whoami"], &[])
        .assert_ok()
        .stdout_has("scoped@example.com");
    // -v says which rule chose the profile, and where the key came from.
    let verbose = run_in(&env, &sub, &["auth", "status", "-v"], &[]);
    verbose
        .assert_ok()
        .stderr_has("profile 'work' (bound to ~/src/acme by `fluxloop auth switch --here`); credentials file ")
        .stderr_has("using the key of profile 'work' from the Secret Service")
        .stderr_has("host=\"127.0.0.1\"");
    // A new default does not apply where a binding is stronger, and says so.
    let run = run_in(&env, &sub, &["auth", "switch", "default"], &[]);
    run.assert_ok()
        .stderr_has("the binding of ~/src/acme to profile 'work' still takes precedence");
    assert_run_snapshot!("switch_where_a_binding_is_stronger", env, run);
}

#[test]
fn unset_removes_only_the_binding_of_that_directory() {
    let env = three_profiles();
    let acme = project(&env);
    let deep = acme.join("sub/deep");
    run_in(&env, &acme, &["auth", "switch", "work", "--here"], &[]).assert_ok();
    run_in(&env, &deep, &["auth", "switch", "ci", "--here"], &[]).assert_ok();

    // Naming another profile than the binding's changes nothing.
    let before = env.credentials();
    let wrong = run_in(
        &env,
        &deep,
        &["auth", "switch", "work", "--here", "--unset"],
        &[],
    );
    wrong.assert_code(2);
    assert_eq!(env.credentials(), before);

    let unset = run_in(&env, &deep, &["auth", "switch", "--unset", "--here"], &[]);
    unset.assert_ok();
    let again = run_in(&env, &deep, &["auth", "switch", "--unset", "--here"], &[]);
    again.assert_ok();
    assert_runs_snapshot!(
        env,
        [wrong, unset, again],
        "unsetting ~/src/acme/sub/deep's binding"
    );
    // Now the parent's binding applies below it.
    assert_eq!(
        active_in(&env, &deep, &[]),
        row("work", "directory", "~/src/acme")
    );
    let text = env.credentials().unwrap();
    assert!(!text.contains("sub/deep"), "{text}");
}

#[test]
fn switching_to_an_unknown_profile_is_refused_with_the_list() {
    let env = three_profiles();
    let acme = project(&env);
    let before = env.credentials();
    let run = fluxloop_snapshot!(env, ["auth", "switch", "wrok"]);
    run.assert_code(2).stderr_has("Profiles: ci, default, work");
    let here = run_in(&env, &acme, &["auth", "switch", "wrok", "--here"], &[]);
    here.assert_code(2)
        .stderr_has("Profiles: ci, default, work");
    assert_eq!(env.credentials(), before, "a refused switch wrote the file");

    let missing_dir = fluxloop_snapshot!(
        "missing_directory",
        env,
        [
            "auth",
            "switch",
            "work",
            "--dir",
            "/nonexistent/fluxloop-test"
        ]
    );
    missing_dir.assert_code(2);
    assert_eq!(env.credentials(), before);

    let nobody = TestEnv::new();
    let run = fluxloop_snapshot!("no_profiles_at_all", nobody, ["auth", "switch", "work"]);
    run.assert_code(2);
    assert_eq!(nobody.credentials(), None);
}

#[test]
fn a_malformed_file_is_reported_by_the_command_not_by_the_profile_choice() {
    let env = three_profiles();
    let acme = project(&env);
    run_in(&env, &acme, &["auth", "switch", "work", "--here"], &[]).assert_ok();
    let text = env.credentials().unwrap();
    std::fs::write(env.credentials_path(), format!("{text}\n: [unclosed\n")).unwrap();
    // Completions and help do not read the file at all; `list` reports it, with exit 1, the
    // same in the bound directory as elsewhere.
    let bound = run_in(&env, &acme, &["auth", "list"], &[]);
    let elsewhere = run_in(&env, &env.home(), &["auth", "list"], &[]);
    bound.assert_code(1).stderr_has("is not valid");
    assert_eq!(bound.stderr, elsewhere.stderr);
    // With the variable, which needs no file, the command still reports the file.
    run_in(
        &env,
        &acme,
        &["auth", "list"],
        &[("FLUXLOOP_PROFILE", "work")],
    )
    .assert_code(1);
}

#[test]
fn login_with_a_key_of_another_account_says_so_when_piped() {
    let env = three_profiles();
    let run = fluxloop_snapshot!(
        env,
        ["auth", "login", "--profile", "work"],
        stdin = &format!("{}\n", keys::VALID)
    );
    run.assert_ok()
        .stderr_has("profile 'work' was scoped@example.com, now john@example.com");
    // The same account again: nothing to say.
    let same = env.run_stdin(
        &["auth", "login", "--profile", "work"],
        &format!("{}\n", keys::VALID),
    );
    same.assert_ok();
    assert!(!same.stderr.contains(" was "), "{}", same.stderr);
    // A new profile has no earlier account.
    let new = env.run_stdin(
        &["auth", "login", "--profile", "fresh"],
        &format!("{}\n", keys::VALID),
    );
    new.assert_ok();
    assert!(!new.stderr.contains(" was "), "{}", new.stderr);
}

#[test]
fn status_expires_within_exits_3_when_the_key_expires_within_days() {
    let env = TestEnv::new();
    env.login(keys::EXPIRING_SOON, None); // 3 days left
    env.login(keys::LAST_WARNED, Some("last")); // 13
    env.login(keys::FIRST_UNWARNED, Some("first")); // 14
    env.login(keys::VALID, Some("long")); // 84

    let soon = fluxloop_snapshot!(env, ["auth", "status", "--expires-within", "7"]);
    soon.assert_code(3);
    let codes: Vec<(&str, &str, Option<i32>)> = [
        ("default", "3"),
        ("default", "4"),
        ("last", "14"),
        ("first", "14"),
        ("first", "15"),
        ("long", "30"),
        ("long", "0"),
    ]
    .into_iter()
    .map(|(profile, days)| {
        let run = env.run(&[
            "auth",
            "status",
            "--profile",
            profile,
            "--expires-within",
            days,
        ]);
        (profile, days, run.code)
    })
    .collect();
    assert_eq!(
        codes,
        [
            ("default", "3", Some(0)),
            ("default", "4", Some(3)),
            ("last", "14", Some(3)),
            ("first", "14", Some(0)),
            ("first", "15", Some(3)),
            ("long", "30", Some(0)),
            ("long", "0", Some(0)),
        ]
    );
    // With --json the document is printed as for any valid key; the exit status says it.
    let json = env.run(&["auth", "status", "--json", "--expires-within", "7"]);
    json.assert_code(3);
    let doc = json.json_valid(Schema::Status);
    assert_eq!(doc["authenticated"], true);
    let bad = env.run(&["auth", "status", "--expires-within", "soon"]);
    bad.assert_code(2);
}

#[test]
fn logout_of_a_profile_forgets_the_default_and_the_bindings_that_named_it() {
    let env = three_profiles();
    let acme = project(&env);
    let deep = acme.join("sub/deep");
    env.run(&["auth", "switch", "work"]).assert_ok();
    run_in(&env, &acme, &["auth", "switch", "work", "--here"], &[]).assert_ok();
    run_in(&env, &deep, &["auth", "switch", "ci", "--here"], &[]).assert_ok();

    let logout = env.run(&["auth", "logout", "--profile", "work"]);
    logout
        .assert_ok()
        .stderr_has("'work' is no longer the default profile set by `fluxloop auth switch`")
        .stderr_has("~/src/acme is no longer bound to a profile");
    let text = env.credentials().unwrap();
    assert!(!text.contains("current_profile"), "{text}");
    assert!(!text.contains("work"), "{text}");
    // The next rule applies at once: `default` here and in acme, ci's binding below it.
    assert_eq!(
        active_in(&env, &env.home(), &[]),
        row("default", "default", "")
    );
    assert_eq!(active_in(&env, &acme, &[]), row("default", "default", ""));
    assert_eq!(
        active_in(&env, &deep, &[]),
        row("ci", "directory", "~/src/acme/sub/deep")
    );
    let status = run_in(&env, &acme, &["auth", "status"], &[]);
    status.assert_ok().stdout_has("john@example.com");
    assert_runs_snapshot!(
        env,
        [logout, status],
        "logout of the switched default bound to ~/src/acme, then status in ~/src/acme"
    );
}

#[test]
fn logout_all_forgets_every_default_and_binding() {
    let env = three_profiles();
    let acme = project(&env);
    env.run(&["auth", "switch", "ci"]).assert_ok();
    run_in(&env, &acme, &["auth", "switch", "work", "--here"], &[]).assert_ok();
    run_in(
        &env,
        &acme.join("sub"),
        &["auth", "switch", "ci", "--here"],
        &[],
    )
    .assert_ok();

    let logout = env.run(&["auth", "logout", "--all"]);
    logout
        .assert_ok()
        .stderr_has("'ci' is no longer the default profile set by `fluxloop auth switch`")
        .stderr_has("~/src/acme, ~/src/acme/sub are no longer bound to a profile");
    let text = env.credentials().unwrap_or_default();
    assert!(!text.contains("current_profile"), "{text}");
    assert!(!text.contains("directories"), "{text}");
    assert_run_snapshot!("logout_all_with_a_default_and_bindings", env, logout);
}

#[test]
fn logout_all_clears_bindings_left_without_any_profile() {
    let env = three_profiles();
    let acme = project(&env);
    env.run(&["auth", "logout", "--all"]).assert_ok();
    // A file left with a binding and no profile (edited by hand, or written by an older
    // fluxloop whose logout kept bindings), and nothing in the keychain.
    let binding_only = format!(
        "version: 1\ndirectories:\n  {}: work\n",
        acme.canonicalize().unwrap().display()
    );
    std::fs::write(env.credentials_path(), binding_only).unwrap();
    let logout = env.run(&["auth", "logout", "--all"]);
    logout
        .assert_ok()
        .stderr_has("~/src/acme is no longer bound to a profile");
    assert!(
        !env.credentials()
            .unwrap_or_default()
            .contains("directories"),
        "{:?}",
        env.credentials()
    );
}
