//! KeePassXC as the Secret Service (issue 14): the harness itself, the core lifecycle run
//! against KeePassXC, KWallet and gnome-keyring from one function (same transcript), and what a
//! locked KeePassXC database must not be mistaken for.
//!
//! KeePassXC differs from gnome-keyring where it matters here: items carry its own attributes
//! too (`Title`, `UserName`, `Path`, `Uuid`, …), and a search of a locked database returns
//! nothing at all, where gnome-keyring lists the items as locked.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::env::{MARKER, Run, SERVICE, TestEnv, keys};
use common::secret_service::{
    KEEPASSXC_COLLECTION, KEEPASSXC_SECOND_COLLECTION, Provider, SecretService,
};
use common::{assert_runs_snapshot, fluxloop_snapshot};

/// What an entry is, whichever program serves it: the profile it is for, its key, and the
/// attributes fluxloop sets (service, username, its marker), without the ones a provider adds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    profile: String,
    key: Option<String>,
    attributes: BTreeMap<String, String>,
}

fn entries(env: &TestEnv) -> Vec<Entry> {
    let mut found: Vec<Entry> = env
        .keychain()
        .into_iter()
        .map(|item| Entry {
            profile: item.attributes.get("username").cloned().unwrap_or_default(),
            key: item.secret.map(|s| s.trim_end().to_owned()),
            attributes: item
                .attributes
                .into_iter()
                .filter(|(name, _)| {
                    ["service", "username", MARKER.0, "fluxloop-home"].contains(&name.as_str())
                })
                .collect(),
        })
        .collect();
    found.sort();
    found
}

/// `(profile, key)` of every entry under our service.
fn keys_by_profile(env: &TestEnv) -> Vec<(String, Option<String>)> {
    entries(env)
        .into_iter()
        .map(|e| (e.profile, e.key))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, Option<String>)> {
    list.iter()
        .map(|(p, k)| ((*p).to_owned(), Some((*k).to_owned())))
        .collect()
}

/// Profile names in the credentials file.
fn metadata_profiles(env: &TestEnv) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        profiles: BTreeMap<String, serde_json::Value>,
    }
    let Some(text) = env.credentials() else {
        return Vec::new();
    };
    let file: File = serde_saphyr::from_str(&text)
        .unwrap_or_else(|e| panic!("credentials file is not valid YAML ({e}):\n{text}"));
    file.profiles.into_keys().collect()
}

// --- The harness ------------------------------------------------------------------------------

#[test]
fn the_keepassxc_harness_serves_a_private_database_and_locks_it_on_request() {
    let ss = SecretService::start_keepassxc();
    assert_eq!(ss.provider(), Provider::KeePassXC);
    assert_eq!(ss.default_alias().as_deref(), Some(KEEPASSXC_COLLECTION));
    assert_eq!(ss.login_locked(), Some(false));
    assert!(ss.items(SERVICE).is_empty());

    ss.store(SERVICE, "dev", "s3cret");
    assert_eq!(ss.lookup(SERVICE, "dev").as_deref(), Some("s3cret"));
    let items = ss.items(SERVICE);
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(
        items[0].attributes.get("username").map(String::as_str),
        Some("dev")
    );

    // Locked, KeePassXC's search finds nothing at all: the fact behind issue 14's point 1.
    ss.lock();
    assert_eq!(ss.login_locked(), Some(true));
    assert!(ss.items(SERVICE).is_empty());
    assert_eq!(ss.lookup(SERVICE, "dev"), None);

    ss.unlock();
    assert_eq!(ss.lookup(SERVICE, "dev").as_deref(), Some("s3cret"));
}

#[test]
fn two_keepassxc_instances_do_not_see_each_other() {
    let a = SecretService::start_keepassxc();
    let b = SecretService::start_keepassxc();
    assert_ne!(a.bus_address(), b.bus_address());
    assert_ne!(a.keyring_pid(), b.keyring_pid());
    a.store(SERVICE, "dev", "only in a");
    assert_eq!(b.lookup(SERVICE, "dev"), None);
    assert_eq!(a.lookup(SERVICE, "dev").as_deref(), Some("only in a"));
}

// --- The core lifecycle, on every provider ---------------------------------------------------

/// login, status, whoami, a second profile, rotation by logging in again, logout of one
/// profile, then `logout --all` with an orphan, asserting the entries and the credentials file
/// after each step. Every provider prints the same transcript, except that on KeePassXC each
/// logout says the key is still in its Recycle Bin (issue 14, point 5).
/// `-v`'s log line of a read in fluxloop's own Secret Service session.
const OWN_SESSION_READ: &str =
    "keychain get of profile 'default': found (read in fluxloop's own session)";

fn core_lifecycle(env: &TestEnv) {
    let mut runs: Vec<Run> = Vec::new();
    let mut step = |run: Run, code: i32| {
        run.assert_code(code);
        runs.push(run);
    };

    step(
        env.run_stdin(&["auth", "login"], &format!("{}\n", keys::VALID)),
        0,
    );
    assert_eq!(keys_by_profile(env), pairs(&[("default", keys::VALID)]));
    assert_eq!(metadata_profiles(env), ["default"]);
    let entry = &entries(env)[0];
    assert_eq!(
        entry.attributes.get("service").map(String::as_str),
        Some(SERVICE)
    );
    assert_eq!(
        entry.attributes.get(MARKER.0).map(String::as_str),
        Some(MARKER.1)
    );

    step(env.run(&["auth", "status"]), 0);
    step(env.run(&["auth", "whoami"]), 0);
    // The plain case (one unlocked item) is read in fluxloop's own encrypted session, not the
    // store crate's, on every provider (issue 12): `-v` names the path that read the key.
    let verbose = env.run(&["auth", "whoami", "-v"]);
    verbose.assert_code(0);
    assert!(
        verbose.stderr.contains(OWN_SESSION_READ),
        "{:?}: not read in fluxloop's own session:\n{}",
        env.ss.provider(),
        verbose.stderr
    );

    step(
        env.run_stdin(
            &["auth", "login", "--profile", "work"],
            &format!("{}\n", keys::EXPIRING_SOON),
        ),
        0,
    );
    assert_eq!(
        keys_by_profile(env),
        pairs(&[("default", keys::VALID), ("work", keys::EXPIRING_SOON)])
    );
    assert_eq!(metadata_profiles(env), ["default", "work"]);
    step(env.run(&["auth", "status", "--profile", "work"]), 0);

    // Rotation: the same profile, a new key, still one entry.
    step(
        env.run_stdin(&["auth", "login"], &format!("{}\n", keys::PROJECT_SCOPED)),
        0,
    );
    assert_eq!(
        keys_by_profile(env),
        pairs(&[
            ("default", keys::PROJECT_SCOPED),
            ("work", keys::EXPIRING_SOON)
        ])
    );
    step(env.run(&["auth", "whoami"]), 0);

    step(env.run(&["auth", "logout", "--profile", "work"]), 0);
    assert_eq!(
        keys_by_profile(env),
        pairs(&[("default", keys::PROJECT_SCOPED)])
    );
    assert_eq!(metadata_profiles(env), ["default"]);
    step(env.run(&["auth", "status", "--profile", "work"]), 3);

    // An entry of ours without metadata, as a crash would leave it.
    env.ss.store(SERVICE, "ghost", keys::UNKNOWN);
    env.ss.store("other-app", "default", "another secret");
    step(env.run(&["auth", "logout", "--all"]), 0);
    assert!(entries(env).is_empty(), "{:?}", entries(env));
    assert!(metadata_profiles(env).is_empty());
    assert_eq!(
        env.ss
            .lookup("other-app", "default")
            .map(|s| s.trim_end().to_owned()),
        Some("another secret".to_owned())
    );
    step(env.run(&["auth", "status"]), 3);

    assert!(env.platform.revoked().is_empty());
    let logouts: Vec<&Run> = runs
        .iter()
        .filter(|run| run.stderr.contains("Logged out of"))
        .collect();
    assert_eq!(logouts.len(), 2);
    for run in logouts {
        assert_eq!(
            run.stderr.contains("Recycle Bin"),
            env.ss.provider() == Provider::KeePassXC,
            "{}",
            run.stderr
        );
    }
    match env.ss.provider() {
        Provider::KeePassXC => assert_runs_snapshot!(
            "core_lifecycle_keepassxc",
            env,
            runs,
            "the core lifecycle on KeePassXC: gnome-keyring's, plus where deleted keys go"
        ),
        _ => assert_runs_snapshot!(
            "core_lifecycle",
            env,
            runs,
            "the core lifecycle, the same on every Secret Service"
        ),
    }
}

#[test]
fn core_lifecycle_on_keepassxc() {
    core_lifecycle(&TestEnv::with(SecretService::start_keepassxc()));
}

#[test]
fn core_lifecycle_on_kwallet() {
    core_lifecycle(&TestEnv::with(SecretService::start_kwallet()));
}

#[test]
fn core_lifecycle_on_gnome_keyring() {
    core_lifecycle(&TestEnv::with(SecretService::start()));
}

/// A new profile's key is created in fluxloop's own encrypted session (issue 12; KeePassXC's
/// prompt sends it through the store): an independent client (secret-tool, libsecret's own
/// session) reads it back with the label and the marker the store's write and `mark` would have
/// left, and there is one item; replacing it (a second login) goes through the store, and the
/// key is then read in fluxloop's own session. `-v` names each path.
fn new_keys_are_created_in_fluxloops_own_session(env: &TestEnv) {
    let provider = env.ss.provider();
    let login = |key: &str| {
        env.run_stdin(
            &["auth", "login", "--profile", "work", "-v"],
            &format!("{key}\n"),
        )
    };
    let created = login(keys::VALID);
    created.assert_code(0);
    // KeePassXC answers every `CreateItem` with a prompt (one that needs no person unless its
    // access confirmation is on): fluxloop dismisses it and the store writes, prompt and all.
    let path = match provider {
        Provider::KeePassXC => "saved (in the store's session)",
        _ => "saved (created in fluxloop's own session)",
    };
    assert!(
        created
            .stderr
            .contains(&format!("keychain set of profile 'work': {path}")),
        "{provider:?}:\n{}",
        created.stderr
    );
    let items = env.ss.items(SERVICE);
    assert_eq!(items.len(), 1, "{provider:?}: {items:?}");
    assert_eq!(items[0].label, "FluxLoop API key (work)");
    assert_eq!(env.ss.lookup(SERVICE, "work").as_deref(), Some(keys::VALID));
    assert_eq!(
        items[0].attributes.get(MARKER.0).map(String::as_str),
        Some(MARKER.1),
        "{provider:?}: {items:?}"
    );

    let replaced = login(keys::PROJECT_SCOPED);
    replaced.assert_code(0);
    assert!(
        replaced
            .stderr
            .contains("keychain set of profile 'work': saved (in the store's session)"),
        "{provider:?}:\n{}",
        replaced.stderr
    );
    assert_eq!(env.ss.items(SERVICE).len(), 1);
    assert_eq!(
        env.ss.lookup(SERVICE, "work").as_deref(),
        Some(keys::PROJECT_SCOPED)
    );
    let status = env.run(&["auth", "status", "--profile", "work", "-v"]);
    status.assert_code(0);
    assert!(
        status
            .stderr
            .contains("keychain get of profile 'work': found (read in fluxloop's own session)"),
        "{provider:?}:\n{}",
        status.stderr
    );
}

#[test]
fn new_keys_are_created_in_fluxloops_own_session_on_keepassxc() {
    new_keys_are_created_in_fluxloops_own_session(&TestEnv::with(SecretService::start_keepassxc()));
}

#[test]
fn new_keys_are_created_in_fluxloops_own_session_on_kwallet() {
    new_keys_are_created_in_fluxloops_own_session(&TestEnv::with(SecretService::start_kwallet()));
}

#[test]
fn new_keys_are_created_in_fluxloops_own_session_on_gnome_keyring() {
    new_keys_are_created_in_fluxloops_own_session(&TestEnv::with(SecretService::start()));
}

// --- A locked database (issue 14, point 1) ----------------------------------------------------

#[test]
fn logout_all_on_a_locked_keepassxc_database_fails_and_keeps_everything() {
    let env = TestEnv::with(SecretService::start_keepassxc());
    env.login(keys::VALID, None);
    env.login(keys::EXPIRING_SOON, Some("work"));
    env.ss.store(SERVICE, "ghost", keys::UNKNOWN);
    let keys_before = keys_by_profile(&env);
    assert_eq!(keys_before.len(), 3);
    let file_before = env.credentials();
    env.ss.lock();

    let mut runs = Vec::new();
    for args in [
        &["auth", "logout", "--all"][..],
        &["auth", "logout", "--all", "--revoke"],
    ] {
        let run = env.run(args);
        run.assert_code(6);
        assert_eq!(env.credentials(), file_before, "{args:?} changed the file");
        runs.push(run);
    }
    assert!(
        env.platform.requests().iter().all(|r| r.method != "DELETE"),
        "a revocation was sent"
    );
    assert_runs_snapshot!(env, runs, "logout --all with the KeePassXC database locked");

    env.ss.unlock();
    assert_eq!(keys_by_profile(&env), keys_before);
}

#[test]
fn logout_all_after_unlocking_removes_what_the_locked_database_held() {
    let env = TestEnv::with(SecretService::start_keepassxc());
    env.login(keys::VALID, None);
    env.ss.store(SERVICE, "ghost", keys::UNKNOWN);
    env.ss.lock();
    env.run(&["auth", "logout", "--all"]).assert_code(6);
    env.ss.unlock();
    fluxloop_snapshot!(env, ["auth", "logout", "--all"]).assert_ok();
    assert!(entries(&env).is_empty(), "{:?}", entries(&env));
    assert!(metadata_profiles(&env).is_empty());
}

// --- A locked database that is not the default (issue 14, point 2) ----------------------------

#[test]
fn a_key_in_a_locked_database_that_is_not_the_default_is_not_reported_missing() {
    let env = TestEnv::with(SecretService::start_keepassxc());
    env.login(keys::VALID, None);
    env.ss.lock();
    // KeePassXC moves the default alias to the database it opens last.
    env.ss.open_second_keepassxc_database();
    assert_eq!(
        env.ss.default_alias().as_deref(),
        Some(KEEPASSXC_SECOND_COLLECTION)
    );
    let file_before = env.credentials();

    let runs = [
        env.run(&["auth", "status"]),
        env.run(&["auth", "status", "--json"]),
        env.run(&["auth", "whoami"]),
        // Neither a second copy in the other database, nor metadata dropped for a key it hides.
        env.run_stdin(&["auth", "login"], &format!("{}\n", keys::PROJECT_SCOPED)),
        env.run(&["auth", "logout"]),
    ];
    for run in &runs {
        run.assert_code(6);
    }
    assert_eq!(env.credentials(), file_before);
    assert_runs_snapshot!(
        env,
        runs,
        "status, whoami, login and logout with the key in a locked database that is not the \
         default"
    );

    // Unlocked, it is found where it is, and nothing was copied into the second database.
    env.ss.unlock();
    env.run(&["auth", "status"]).assert_ok();
    assert_eq!(keys_by_profile(&env), pairs(&[("default", keys::VALID)]));
}

/// A new profile can still log in while another database is locked: the key goes into the
/// open one (the default), and the warning says what could not be searched. A profile the file
/// knows is refused instead (above), so no second copy of its key is made.
#[test]
fn a_new_profile_logs_in_beside_a_locked_database_with_a_warning() {
    let env = TestEnv::with(SecretService::start_keepassxc());
    env.login(keys::VALID, None);
    env.ss.lock();
    env.ss.open_second_keepassxc_database();
    let run = env.run_stdin(
        &["auth", "login", "--profile", "work"],
        &format!("{}\n", keys::PROJECT_SCOPED),
    );
    common::assert_run_snapshot!(env, run);
    env.ss.unlock();
    assert_eq!(
        keys_by_profile(&env),
        pairs(&[("default", keys::VALID), ("work", keys::PROJECT_SCOPED)])
    );
}

// --- Hints that fit the provider (issue 14, point 4) -----------------------------------------

/// status and logout with the database or keyring holding the key locked: the hints name the
/// program that serves the Secret Service.
fn locked_runs(env: &TestEnv) -> Vec<Run> {
    env.login(keys::VALID, None);
    env.ss.lock();
    let runs = vec![env.run(&["auth", "status"]), env.run(&["auth", "logout"])];
    for run in &runs {
        run.assert_code(6);
    }
    runs
}

#[test]
fn a_locked_keepassxc_database_gets_keepassxc_hints() {
    let env = TestEnv::with(SecretService::start_keepassxc());
    let runs = locked_runs(&env);
    for run in &runs {
        assert!(
            run.stderr.contains("Unlock the database in KeePassXC"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("Seahorse"), "{}", run.stderr);
    }
    assert_runs_snapshot!(env, runs, "a locked KeePassXC database: KeePassXC's hints");
}

#[test]
fn a_locked_gnome_keyring_gets_gnome_keyring_hints() {
    let env = TestEnv::with(SecretService::start());
    let runs = locked_runs(&env);
    for run in &runs {
        assert!(
            run.stderr.contains("gnome-keyring-daemon --unlock"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("KeePassXC"), "{}", run.stderr);
    }
    assert_runs_snapshot!(env, runs, "a locked gnome-keyring: gnome-keyring's hints");
}

/// A KeePassXC that does not answer (stopped with SIGSTOP here, standing in for one busy with a
/// dialog) is not called a "keyring daemon": the hints say to answer its dialog.
#[test]
fn a_keepassxc_that_does_not_answer_gets_keepassxc_hints() {
    let env = TestEnv::with(SecretService::start_keepassxc());
    env.login(keys::VALID, None);
    env.ss.stop_daemon();
    let run = env.run(&["auth", "status"]);
    env.ss.resume_daemon();
    run.assert_code(6);
    // Bounded at 5 s per call (docs/design.md), with generous slack for finding the provider.
    assert!(
        run.elapsed < Duration::from_secs(10),
        "took {:?}",
        run.elapsed
    );
    assert!(
        run.stderr.contains("Answer KeePassXC's dialog"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("keyring daemon"), "{}", run.stderr);
    common::assert_run_snapshot!(env, run);
}

// --- KeePassXC's access confirmation (issue 14, point 3) -------------------------------------

/// With "Confirm when passwords are retrieved by clients" on, KeePassXC answers a new client's
/// read with an access dialog. fluxloop says on stderr whom to approve, and waits for the
/// person far beyond its normal 5 s bound instead of calling the keychain hung. Nobody can
/// answer the dialog here (KeePassXC runs offscreen), so the test stops fluxloop at 15 s.
#[test]
fn keepassxc_asking_for_approval_is_waited_for_and_said() {
    let env = TestEnv::with(SecretService::start_keepassxc_confirming_access());
    // A new item needs no approval: login stores it at once.
    env.login(keys::VALID, None);
    let mut cmd = env.cmd();
    cmd.args(["auth", "status"]);
    let run = common::secret_service::run_with_timeout(&mut cmd, None, Duration::from_secs(15));
    assert!(
        run.timed_out(),
        "fluxloop gave up before 15 s instead of waiting for the person ({:?}):\n{}",
        run.elapsed,
        run.stderr
    );
    assert_eq!(
        run.stderr.trim_end(),
        "Approve fluxloop in KeePassXC… (waiting up to 120 s; to stop KeePassXC asking each \
         time, turn off \"Confirm when passwords are retrieved by clients\" in its Tools > \
         Settings > Secret Service Integration)"
    );
    assert!(!run.stdout.contains(keys::VALID) && !run.stderr.contains(keys::VALID));
}

/// The same database without the confirmation: nothing is said, and status answers at once.
#[test]
fn keepassxc_without_access_confirmation_says_nothing_of_approval() {
    let env = TestEnv::with(SecretService::start_keepassxc());
    env.login(keys::VALID, None);
    let run = env.run(&["auth", "status"]);
    run.assert_code(0);
    assert!(!run.stderr.contains("Approve"), "{}", run.stderr);
}

// --- A person answering KeePassXC's access dialog (issue 14, point 3) ------------------------

/// KeePassXC on a virtual display, where a script presses the dialog's keys as a person would.
/// Approved (Return: its default button), status succeeds after saying whom to approve.
#[test]
fn keepassxc_access_approved_by_a_person_lets_status_through() {
    let env = TestEnv::with(SecretService::start_keepassxc_on_display());
    env.login(keys::VALID, None);
    let run = std::thread::scope(|scope| {
        let status = scope.spawn(|| env.run(&["auth", "status"]));
        env.ss.answer_keepassxc_access_request("Return");
        status.join().expect("status thread")
    });
    run.assert_code(0);
    assert!(
        run.stderr.starts_with("Approve fluxloop in KeePassXC…"),
        "{}",
        run.stderr
    );
}

/// Denied (Escape), status fails with its own error (exit 6, `keychain_access_denied`), not
/// "locked", and loses nothing: the credentials file is unchanged and, approved the next time,
/// the key is still there. KeePassXC does not remember a denial, so each run asks again.
#[test]
fn keepassxc_access_denied_by_a_person_is_a_clear_error_and_loses_nothing() {
    let env = TestEnv::with(SecretService::start_keepassxc_on_display());
    env.login(keys::VALID, None);
    let file_before = env.credentials();
    let answered = |args: &[&str], key: &str| {
        std::thread::scope(|scope| {
            let status = scope.spawn(|| env.run(args));
            env.ss.answer_keepassxc_access_request(key);
            status.join().expect("status thread")
        })
    };
    let run = answered(&["auth", "status"], "Escape");
    run.assert_code(6);
    assert!(
        run.stderr
            .contains("KeePassXC refused fluxloop access to its key"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("locked"), "{}", run.stderr);
    assert_eq!(env.credentials(), file_before);
    common::assert_run_snapshot!(env, run);

    let json = answered(&["auth", "status", "--json"], "Escape");
    json.assert_code(6);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("status --json");
    assert_eq!(doc["error"]["code"], "keychain_access_denied", "{doc}");
    assert_eq!(env.credentials(), file_before);

    answered(&["auth", "status"], "Return").assert_code(0);
}
