//! `fluxloop auth whoami` end to end (issue 2): the documented report and JSON, the unlimited
//! plan, a key without the permission (403), and the expiry warning of issue 3.

mod common;

use common::env::{TestEnv, keys};
use common::schema::Schema;
use serde_json::json;

#[test]
fn whoami_text_is_the_documented_report() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let run = env.run(&["auth", "whoami"]);
    run.assert_ok().never_shows(keys::VALID);
    for line in [
        "Email: john@example.com",
        "Organizations:",
        "• Acme Inc (owner)",
        "• Personal (member)",
        "Projects:",
        "• customer-support-bot (Acme Inc)",
        "• sales-assistant (Acme Inc)",
        "• analytics-agent (Personal)",
        "API Access: Enabled",
        "Plan: Team (1,000 runs/month)",
        "Usage this month: 234 / 1,000 runs",
    ] {
        run.assert_line(line);
    }
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
    assert!(!run.stderr.contains("expires"), "{}", run.stderr);
}

#[test]
fn whoami_says_when_the_plan_is_unlimited() {
    let env = TestEnv::new();
    env.login(keys::PROJECT_SCOPED, None);
    let run = env.run(&["auth", "whoami"]);
    run.assert_ok().never_shows(keys::PROJECT_SCOPED);
    run.assert_line("Email: scoped@example.com");
    run.assert_line("• Acme Inc (admin)");
    let plan = run
        .lines()
        .into_iter()
        .find(|l| l.starts_with("Plan:"))
        .expect("a Plan line");
    assert!(plan.starts_with("Plan: Enterprise"), "{plan}");
    assert!(plan.contains("unlimited"), "{plan}");
    let usage = run
        .lines()
        .into_iter()
        .find(|l| l.starts_with("Usage this month:"))
        .expect("a usage line");
    assert!(usage.contains("5,120"), "{usage}");
    // No made-up limit.
    assert!(!usage.contains(" / "), "{usage}");
    assert!(!run.stdout.contains("runs/month"), "{}", run.stdout);
}

#[test]
fn whoami_json_follows_the_documented_schema() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let run = env.run(&["auth", "whoami", "--json"]);
    run.assert_ok().never_shows(keys::VALID);
    assert_eq!(
        run.json_valid(Schema::Whoami),
        json!({
            "schema_version": 1,
            "account": { "id": "usr_42", "email": "john@example.com" },
            "organizations": [
                { "id": "org_1", "name": "Acme Inc", "role": "owner" },
                { "id": "org_2", "name": "Personal", "role": "member" },
            ],
            "projects": [
                { "id": "prj_1", "name": "customer-support-bot", "organization": "Acme Inc" },
                { "id": "prj_2", "name": "sales-assistant", "organization": "Acme Inc" },
                { "id": "prj_3", "name": "analytics-agent", "organization": "Personal" },
            ],
            "api_access": true,
            "plan": { "name": "Team", "runs_per_month": 1000, "unlimited": false },
            "usage": { "runs_this_month": 234, "period_start": "2024-01-01T00:00:00Z" },
        })
    );
}

#[test]
fn whoami_json_of_an_unlimited_plan() {
    let env = TestEnv::new();
    let run = env.run_with(
        &["auth", "whoami", "--json"],
        None,
        &[("FLUXLOOP_API_KEY", keys::PROJECT_SCOPED)],
    );
    run.assert_ok().never_shows(keys::PROJECT_SCOPED);
    let doc = run.json_valid(Schema::Whoami);
    assert_eq!(
        doc["plan"],
        json!({ "name": "Enterprise", "runs_per_month": null, "unlimited": true })
    );
    assert_eq!(doc["usage"]["runs_this_month"], 5120);
    assert_eq!(doc["account"]["email"], "scoped@example.com");
}

#[test]
fn whoami_without_the_permission_exits_4_and_names_it() {
    let env = TestEnv::new();
    env.login(keys::READ_ONLY, None);
    let before = env.snapshot();
    let run = env.run(&["auth", "whoami"]);
    run.assert_code(4)
        .stderr_has("❌ Error: Permission denied")
        .stderr_has("Required permission: read_account")
        .stderr_has("Your permissions: read_scenarios")
        .never_shows(keys::READ_ONLY);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    // A permission problem is not a reason to touch the stored key.
    assert_eq!(env.snapshot(), before);

    env.run(&["auth", "whoami", "--json"])
        .assert_code(4)
        .stderr_has("Required permission: read_account");
}

#[test]
fn whoami_not_logged_in_exits_3() {
    let env = TestEnv::new();
    let before = env.snapshot();
    env.run(&["auth", "whoami"])
        .assert_code(3)
        .stderr_has("Not logged in (profile 'default')")
        .stderr_has("fluxloop auth login");
    assert_eq!(env.snapshot(), before);
    assert!(env.platform.requests().is_empty());
}

#[test]
fn whoami_with_an_expired_key_says_expired() {
    let env = TestEnv::new();
    env.ss.store(common::env::SERVICE, "default", keys::EXPIRED);
    let run = env.run(&["auth", "whoami"]);
    run.assert_code(3)
        .stderr_has("API key expired")
        .never_shows(keys::EXPIRED);
    assert!(!run.stderr.contains("Invalid"), "{}", run.stderr);
}

#[test]
fn whoami_uses_fluxloop_api_key_first() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let run = env.run_with(
        &["auth", "whoami"],
        None,
        &[("FLUXLOOP_API_KEY", keys::PROJECT_SCOPED)],
    );
    run.assert_ok();
    run.assert_line("Email: scoped@example.com");
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
    let run = env.run(&["auth", "whoami", "--profile", "work"]);
    run.assert_ok();
    run.assert_line("Email: scoped@example.com");
    let run = env.run_with(&["auth", "whoami"], None, &[("FLUXLOOP_PROFILE", "work")]);
    run.assert_ok();
    run.assert_line("Email: scoped@example.com");
    let run = env.run(&["auth", "whoami"]);
    run.assert_ok();
    run.assert_line("Email: john@example.com");
}

#[test]
fn whoami_warns_when_the_stored_key_expires_soon() {
    let env = TestEnv::new();
    env.login(keys::EXPIRING_SOON, None);
    let run = env.run(&["auth", "whoami"]);
    run.assert_ok().stderr_has("warning").stderr_has(&format!(
        "({} days remaining)",
        keys::EXPIRING_SOON_DAYS_REMAINING
    ));
    run.assert_line("Email: soon@example.com");
}

#[test]
fn whoami_warns_when_the_env_key_expires_soon() {
    let env = TestEnv::new();
    let run = env.run_with(
        &["auth", "whoami"],
        None,
        &[("FLUXLOOP_API_KEY", keys::EXPIRING_SOON)],
    );
    run.assert_ok().stderr_has("warning").stderr_has(&format!(
        "({} days remaining)",
        keys::EXPIRING_SOON_DAYS_REMAINING
    ));
}

#[test]
fn whoami_does_not_warn_about_a_stored_key_it_is_not_using() {
    let env = TestEnv::new();
    // The saved profile's key expires soon, but FLUXLOOP_API_KEY (far from expiry) is in use.
    env.login(keys::EXPIRING_SOON, None);
    let run = env.run_with(
        &["auth", "whoami"],
        None,
        &[("FLUXLOOP_API_KEY", keys::VALID)],
    );
    run.assert_ok();
    run.assert_line("Email: john@example.com");
    assert!(!run.stderr.contains("expires"), "{}", run.stderr);
}

#[test]
fn whoami_json_not_logged_in_prints_the_failure_document_and_exits_3() {
    let env = TestEnv::new();
    let run = env.run(&["auth", "whoami", "--json"]);
    run.assert_code(3)
        .stderr_has("Not logged in (profile 'default')")
        .stderr_has("fluxloop auth login");
    // No `authenticated` in whoami's documents (README.md, "When a command fails").
    assert_eq!(
        run.json_valid(Schema::Error),
        json!({
            "schema_version": 1,
            "profile": "default",
            "error": { "code": "not_logged_in", "message": "Not logged in (profile 'default')" },
        })
    );
    assert!(env.platform.requests().is_empty());
}

#[test]
fn whoami_json_without_the_permission_prints_the_failure_document_and_exits_4() {
    let env = TestEnv::new();
    env.login(keys::READ_ONLY, Some("ci"));
    let run = env.run(&["auth", "whoami", "--json", "--profile", "ci"]);
    run.assert_code(4)
        .stderr_has("❌ Error: Permission denied")
        .stderr_has("Required permission: read_account")
        .never_shows(keys::READ_ONLY);
    let doc = run.json_valid(Schema::Error);
    assert_eq!(doc["profile"], "ci");
    assert_eq!(doc["error"]["code"], "permission_denied");
    assert!(doc.get("authenticated").is_none(), "{doc:#}");
    assert!(
        doc["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Permission denied")),
        "{doc:#}"
    );
}
