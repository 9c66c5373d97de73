//! `fluxloop auth whoami` end to end (issue 2): the documented report and JSON, the unlimited
//! plan, a key without the permission (403), and the expiry warning of issue 3.

mod common;

use common::env::{SERVICE, TestEnv, keys};
use common::schema::Schema;
use common::{assert_runs_snapshot, fluxloop_snapshot};

#[test]
fn whoami_text_is_the_documented_report() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    // A key far from expiry: no warning on stderr.
    fluxloop_snapshot!(env, ["auth", "whoami"]);
    let sent: Vec<String> = env
        .platform
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    assert_eq!(
        sent.last().map(String::as_str),
        Some("GET /api/auth/whoami")
    );
}

#[test]
fn whoami_says_when_the_plan_is_unlimited() {
    let env = TestEnv::new();
    env.login(keys::PROJECT_SCOPED, None);
    // No made-up limit: no "/ N runs", no "runs/month".
    fluxloop_snapshot!(env, ["auth", "whoami"]);
}

#[test]
fn whoami_json_follows_the_documented_schema() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let run = fluxloop_snapshot!(env, ["auth", "whoami", "--json"]);
    assert_eq!(run.json_valid(Schema::Whoami)["schema_version"], 1);
}

#[test]
fn whoami_json_of_an_unlimited_plan() {
    let env = TestEnv::new();
    let run = fluxloop_snapshot!(
        env,
        ["auth", "whoami", "--json"],
        envs = &[("FLUXLOOP_API_KEY", keys::PROJECT_SCOPED)]
    );
    assert_eq!(run.json_valid(Schema::Whoami)["plan"]["unlimited"], true);
}

#[test]
fn whoami_without_the_permission_exits_4_and_names_it() {
    let env = TestEnv::new();
    env.login(keys::READ_ONLY, None);
    let before = env.snapshot();
    fluxloop_snapshot!("whoami_permission_denied", env, ["auth", "whoami"]);
    // A permission problem is not a reason to touch the stored key.
    assert_eq!(env.snapshot(), before);
    fluxloop_snapshot!(
        "whoami_json_permission_denied",
        env,
        ["auth", "whoami", "--json"]
    );
    assert_eq!(env.snapshot(), before);
}

#[test]
fn whoami_not_logged_in_exits_3() {
    let env = TestEnv::new();
    let before = env.snapshot();
    fluxloop_snapshot!(env, ["auth", "whoami"]);
    assert_eq!(env.snapshot(), before);
    assert!(env.platform.requests().is_empty());
}

#[test]
fn whoami_with_an_expired_key_says_expired() {
    let env = TestEnv::new();
    env.ss.store(SERVICE, "default", keys::EXPIRED);
    fluxloop_snapshot!(env, ["auth", "whoami"]);
}

#[test]
fn whoami_uses_fluxloop_api_key_first() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    fluxloop_snapshot!(
        env,
        ["auth", "whoami"],
        envs = &[("FLUXLOOP_API_KEY", keys::PROJECT_SCOPED)]
    );
    let last = env.platform.requests().pop().unwrap();
    assert_eq!(
        last.header("authorization"),
        Some(format!("Bearer {}", keys::PROJECT_SCOPED).as_str())
    );
}

#[test]
fn whoami_selects_the_profile() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    env.login(keys::PROJECT_SCOPED, Some("work"));
    let flag = env.run(&["auth", "whoami", "--profile", "work"]);
    let from_env = env.run_with(&["auth", "whoami"], None, &[("FLUXLOOP_PROFILE", "work")]);
    let default = env.run(&["auth", "whoami"]);
    assert_runs_snapshot!(
        env,
        [flag, from_env, default],
        "work by flag, work by FLUXLOOP_PROFILE, then default"
    );
}

#[test]
fn whoami_warns_when_the_stored_key_expires_soon() {
    let env = TestEnv::new();
    env.login(keys::EXPIRING_SOON, None);
    fluxloop_snapshot!(env, ["auth", "whoami"]);
}

#[test]
fn whoami_warns_when_the_env_key_expires_soon() {
    let env = TestEnv::new();
    fluxloop_snapshot!(
        env,
        ["auth", "whoami"],
        envs = &[("FLUXLOOP_API_KEY", keys::EXPIRING_SOON)]
    );
}

#[test]
fn whoami_does_not_warn_about_a_stored_key_it_is_not_using() {
    let env = TestEnv::new();
    // The saved profile's key expires soon, but FLUXLOOP_API_KEY (far from expiry) is in use.
    env.login(keys::EXPIRING_SOON, None);
    let run = fluxloop_snapshot!(
        env,
        ["auth", "whoami"],
        envs = &[("FLUXLOOP_API_KEY", keys::VALID)]
    );
    assert_eq!(run.stderr, "");
}

#[test]
fn whoami_json_not_logged_in_prints_the_failure_document_and_exits_3() {
    let env = TestEnv::new();
    let run = fluxloop_snapshot!(env, ["auth", "whoami", "--json"]);
    // No `authenticated` in whoami's documents (README.md, "When a command fails").
    let doc = run.json_valid(Schema::Error);
    assert!(doc.get("authenticated").is_none(), "{doc:#}");
    assert_eq!(doc["error"]["code"], "not_logged_in");
    assert!(env.platform.requests().is_empty());
}

#[test]
fn whoami_json_without_the_permission_prints_the_failure_document_and_exits_4() {
    let env = TestEnv::new();
    env.login(keys::READ_ONLY, Some("ci"));
    let run = fluxloop_snapshot!(env, ["auth", "whoami", "--json", "--profile", "ci"]);
    let doc = run.json_valid(Schema::Error);
    assert_eq!(doc["error"]["code"], "permission_denied");
    assert!(doc.get("authenticated").is_none(), "{doc:#}");
}
