//! `fluxloop auth status` end to end (issue 2; expiry and FLUXLOOP_API_KEY rules of issue 3): the
//! documented text and JSON reports, every way of not being authenticated, and where the key
//! and the API URL come from.

mod common;

use chrono::{Days, Utc};
use common::env::{Platform, Run, TestEnv, keys};
use common::schema::Schema;
use common::secret_service::SecretService;
use serde_json::{Value, json};

/// The lines after `Permissions:` that carry a ✅/❌ mark, in the order printed.
fn permission_lines(run: &Run) -> Vec<String> {
    run.lines()
        .into_iter()
        .skip_while(|l| l != "Permissions:")
        .skip(1)
        .take_while(|l| l.starts_with('✅') || l.starts_with('❌'))
        .collect()
}

/// The expiry date the stand-in gives a key with `days` left (23:59:59Z, `days` from today).
fn date_in(days: u64) -> String {
    (Utc::now().date_naive() + Days::new(days))
        .format("%Y-%m-%d")
        .to_string()
}

fn authorizations(platform: &Platform) -> Vec<String> {
    platform
        .requests()
        .iter()
        .map(|r| r.header("authorization").unwrap_or_default().to_string())
        .collect()
}

#[test]
fn status_text_is_the_documented_report() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let run = env.run(&["auth", "status"]);
    run.assert_ok().never_shows(keys::VALID);
    assert_eq!(run.lines()[0], "✅ Authenticated");
    for line in [
        "Profile: default",
        "Account: john@example.com",
        "Organizations:",
        "• Acme Inc (owner)",
        "• Personal (member)",
        "API key: flux_dev_abc1...mno34",
        "Key source: Secret Service",
        &format!(
            "Expires: {} ({} days remaining)",
            date_in(84),
            keys::VALID_DAYS_REMAINING
        ),
        "Scopes: All Projects",
        &format!("API URL: {}", env.platform.url()),
    ] {
        run.assert_line(line);
    }
    // The contract example's five permissions, in its order, granted or not.
    assert_eq!(
        permission_lines(&run),
        [
            "✅ Read scenarios",
            "✅ Upload results",
            "✅ Create scenarios",
            "❌ Delete scenarios",
            "❌ Manage projects",
        ]
    );
    // A valid key far from expiry gets no warning.
    assert!(!run.stderr.contains("expires"), "{}", run.stderr);
}

#[test]
fn status_shows_unknown_permissions_in_the_platforms_order() {
    let env = TestEnv::new();
    env.login(keys::UNKNOWN_PERMISSION, None);
    let run = env.run(&["auth", "status"]);
    run.assert_ok().never_shows(keys::UNKNOWN_PERMISSION);
    run.assert_line("Account: future@example.com");
    assert_eq!(
        permission_lines(&run),
        [
            "✅ Read scenarios",
            "✅ Upload results",
            "✅ Create scenarios",
            "❌ Delete scenarios",
            "❌ Manage projects",
            "✅ Manage billing",
            "❌ Export traces",
        ]
    );
}

#[test]
fn status_of_a_project_scoped_key_that_never_expires() {
    let env = TestEnv::new();
    env.login(keys::PROJECT_SCOPED, None);
    let run = env.run(&["auth", "status"]);
    run.assert_ok().never_shows(keys::PROJECT_SCOPED);
    run.assert_line("Account: scoped@example.com");
    run.assert_line("• Acme Inc (admin)");
    run.assert_line("API key: flux_prod_scop...Xd1Lg");
    run.assert_line("Expires: never");
    run.assert_line("Scopes: customer-support-bot, sales-assistant");
    assert!(!run.stdout.contains("All Projects"), "{}", run.stdout);
}

#[test]
fn status_json_follows_the_documented_schema() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let run = env.run(&["auth", "status", "--json"]);
    run.assert_ok().never_shows(keys::VALID);
    let doc = run.json_valid(Schema::Status);
    let expires_at = doc["key"]["expires_at"]
        .as_str()
        .expect("expires_at")
        .to_string();
    assert!(
        expires_at.starts_with(&date_in(84)),
        "expires_at {expires_at}"
    );
    assert_eq!(
        doc,
        json!({
            "schema_version": 1,
            "authenticated": true,
            "profile": "default",
            "api_url": env.platform.url(),
            "key": {
                "hint": "flux_dev_abc1...mno34",
                "id": "key_01HV8Y3M2N",
                "name": "laptop",
                "environment": "dev",
                "source": "keychain",
                "backend": "secret-service",
                "created_at": "2024-01-16T09:12:00Z",
                "expires_at": expires_at,
                "days_remaining": keys::VALID_DAYS_REMAINING,
            },
            "account": { "id": "usr_42", "email": "john@example.com" },
            "organizations": [
                { "id": "org_1", "name": "Acme Inc", "role": "owner" },
                { "id": "org_2", "name": "Personal", "role": "member" },
            ],
            "scopes": { "all_projects": true, "projects": [] },
            "permissions": [
                { "name": "read_scenarios", "label": "Read scenarios", "granted": true },
                { "name": "upload_results", "label": "Upload results", "granted": true },
                { "name": "create_scenarios", "label": "Create scenarios", "granted": true },
                { "name": "delete_scenarios", "label": "Delete scenarios", "granted": false },
                { "name": "manage_projects", "label": "Manage projects", "granted": false },
            ],
        })
    );
    // Nothing on stdout but the document: scripts pipe it to jq.
    assert!(run.stdout.trim_start().starts_with('{'));
}

#[test]
fn status_json_for_an_env_key_without_expiry_and_with_unknown_permissions() {
    let env = TestEnv::new();
    let run = env.run_with(
        &["auth", "status", "--json"],
        None,
        &[("FLUXLOOP_API_KEY", keys::PROJECT_SCOPED)],
    );
    run.assert_ok().never_shows(keys::PROJECT_SCOPED);
    let doc = run.json_valid(Schema::Status);
    assert_eq!(doc["key"]["source"], "env");
    assert_eq!(doc["key"]["backend"], Value::Null);
    assert_eq!(doc["key"]["expires_at"], Value::Null);
    assert_eq!(doc["key"]["days_remaining"], Value::Null);
    assert_eq!(
        doc["scopes"],
        json!({ "all_projects": false, "projects": ["customer-support-bot", "sales-assistant"] })
    );

    let run = env.run_with(
        &["auth", "status", "--json"],
        None,
        &[("FLUXLOOP_API_KEY", keys::UNKNOWN_PERMISSION)],
    );
    run.assert_ok().never_shows(keys::UNKNOWN_PERMISSION);
    let names: Vec<(String, String, bool)> = run.json_valid(Schema::Status)["permissions"]
        .as_array()
        .expect("permissions array")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["label"].as_str().unwrap().to_string(),
                p["granted"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names[5..],
        [
            ("manage_billing".into(), "Manage billing".into(), true),
            ("export_traces".into(), "Export traces".into(), false),
        ]
    );
}

#[test]
fn status_not_logged_in_says_so_and_exits_3() {
    let env = TestEnv::new();
    let before = env.snapshot();
    env.run(&["auth", "status"])
        .assert_code(3)
        .stderr_has("❌ Error: Not logged in (profile 'default')")
        .stderr_has("fluxloop auth login")
        .stderr_has("FLUXLOOP_API_KEY");
    assert_eq!(env.snapshot(), before);
    assert!(env.platform.requests().is_empty(), "nothing to send");
}

#[test]
fn status_json_not_logged_in_prints_a_document_and_exits_3() {
    let env = TestEnv::new();
    let run = env.run(&["auth", "status", "--json"]);
    run.assert_code(3);
    let doc = run.json_valid(Schema::Error);
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["authenticated"], false);
    assert_eq!(doc["profile"], "default");
    assert_eq!(doc["error"]["code"], "not_logged_in");
    assert!(
        doc["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Not logged in")),
        "{doc}"
    );
    assert!(env.platform.requests().is_empty());
}

#[test]
fn status_when_the_keychain_entry_is_gone_but_metadata_remains() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let cleared = env.ss.secret_tool(
        &[
            "clear",
            "service",
            common::env::SERVICE,
            "username",
            "default",
        ],
        None,
    );
    assert!(cleared.success(), "{cleared:?}");
    let before = env.snapshot();
    env.run(&["auth", "status"])
        .assert_code(3)
        .stderr_has("Not logged in (profile 'default')")
        .stderr_has("its key is missing from the Secret Service")
        .stderr_has("fluxloop auth login");
    assert_eq!(env.snapshot(), before);
}

#[test]
fn status_without_a_login_keyring_says_the_keychain_is_not_set_up() {
    // A missing collection reads as "no entry"; the user must hear the real reason.
    let env = TestEnv::with(SecretService::start_without_login_collection());
    let run = env.run(&["auth", "status"]);
    run.assert_code(6)
        .stderr_has("Secret Service")
        .stderr_has("FLUXLOOP_API_KEY");
    assert!(!run.stderr.contains("Not logged in"), "{}", run.stderr);
    assert!(env.platform.requests().is_empty());
}

#[test]
fn status_with_an_expired_stored_key_says_expired_not_invalid() {
    let env = TestEnv::new();
    // Login refuses an expired key, so plant it as an earlier login would have left it.
    env.ss.store(common::env::SERVICE, "default", keys::EXPIRED);
    let before = env.snapshot();
    let run = env.run(&["auth", "status"]);
    run.assert_code(3)
        .stderr_has("❌ Error: API key expired")
        .stderr_has("fluxloop auth login")
        .never_shows(keys::EXPIRED);
    assert!(!run.stderr.contains("Invalid"), "{}", run.stderr);
    // Reporting is not deleting: the entry stays until the user logs in again or out.
    assert_eq!(env.snapshot(), before);

    let run = env.run(&["auth", "status", "--json"]);
    run.assert_code(3);
    assert_eq!(run.json_valid(Schema::Error)["authenticated"], false);
    assert_eq!(run.json()["error"]["code"], "key_expired");
}

#[test]
fn status_with_an_expired_env_key_says_expired() {
    let env = TestEnv::new();
    let run = env.run_with(
        &["auth", "status"],
        None,
        &[("FLUXLOOP_API_KEY", keys::EXPIRED)],
    );
    run.assert_code(3)
        .stderr_has("API key expired")
        .stderr_has("FLUXLOOP_API_KEY")
        .never_shows(keys::EXPIRED);
    assert!(!run.stderr.contains("Invalid"), "{}", run.stderr);
}

#[test]
fn status_with_a_revoked_key_exits_3() {
    let env = TestEnv::new();
    env.ss.store(common::env::SERVICE, "default", keys::REVOKED);
    let before = env.snapshot();
    env.run(&["auth", "status"])
        .assert_code(3)
        .stderr_has("❌ Error: API key has been revoked")
        .stderr_has("fluxloop auth login")
        .never_shows(keys::REVOKED);
    assert_eq!(env.snapshot(), before);
}

#[test]
fn status_with_a_stored_key_the_platform_rejects_lists_the_three_checks() {
    let env = TestEnv::new();
    env.ss.store(common::env::SERVICE, "default", keys::UNKNOWN);
    let before = env.snapshot();
    let run = env.run(&["auth", "status"]);
    run.assert_code(3)
        .stderr_has("❌ Error: Invalid API key")
        .stderr_has("1. ")
        .stderr_has("2. ")
        .stderr_has("3. ")
        .stderr_has("profile 'default'")
        .stderr_has("https://app.fluxloop.ai/settings/api-keys")
        .never_shows(keys::UNKNOWN);
    assert_eq!(env.snapshot(), before);
    assert_eq!(
        authorizations(&env.platform),
        [format!("Bearer {}", keys::UNKNOWN)]
    );
}

#[test]
fn env_key_takes_precedence_over_the_stored_key() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let sent_by_login = env.platform.requests().len();
    let run = env.run_with(
        &["auth", "status"],
        None,
        &[("FLUXLOOP_API_KEY", keys::PROJECT_SCOPED)],
    );
    run.assert_ok()
        .never_shows(keys::PROJECT_SCOPED)
        .never_shows(keys::VALID);
    run.assert_line("Account: scoped@example.com");
    run.assert_line("API key: flux_prod_scop...Xd1Lg");
    assert!(
        run.lines()
            .iter()
            .any(|l| l.starts_with("Key source:") && l.contains("FLUXLOOP_API_KEY")),
        "{}",
        run.stdout
    );
    assert_eq!(
        authorizations(&env.platform)[sent_by_login..],
        [format!("Bearer {}", keys::PROJECT_SCOPED)]
    );
    // The stored key is still there, untouched.
    assert_eq!(env.keychain()[0].secret.as_deref(), Some(keys::VALID));
}

#[test]
fn env_key_works_without_any_keychain() {
    let env = TestEnv::with(SecretService::start_bus_only());
    let run = env.run_with(
        &["auth", "status"],
        None,
        &[("FLUXLOOP_API_KEY", keys::VALID)],
    );
    run.assert_ok().never_shows(keys::VALID);
    run.assert_line("Account: john@example.com");
    let run = env.run_with(
        &["auth", "whoami"],
        None,
        &[("FLUXLOOP_API_KEY", keys::VALID)],
    );
    run.assert_ok().stdout_has("john@example.com");
    assert!(!env.credentials_path().exists());
}

#[test]
fn malformed_env_key_is_refused_before_any_request() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let sent_by_login = env.platform.requests().len();
    let before = env.snapshot();
    let truncated = &keys::VALID[..keys::VALID.len() - 20];
    for bad in [
        truncated,
        "flux_dev_abc123def456ghi789jkl012mno34\"",
        "sk-not-a-flux-key-at-all-x",
    ] {
        let run = env.run_with(&["auth", "status"], None, &[("FLUXLOOP_API_KEY", bad)]);
        run.assert_code(3)
            .stderr_has("FLUXLOOP_API_KEY")
            .stderr_has("Nothing was sent")
            .never_shows(bad);
    }
    assert_eq!(env.platform.requests().len(), sent_by_login);
    assert_eq!(env.snapshot(), before);
}

#[test]
fn a_key_expiring_within_14_days_gets_a_warning() {
    let env = TestEnv::new();
    env.login(keys::EXPIRING_SOON, None);
    let run = env.run(&["auth", "status"]);
    run.assert_ok().stderr_has("warning").stderr_has(&format!(
        "{} ({} days remaining)",
        date_in(3),
        keys::EXPIRING_SOON_DAYS_REMAINING
    ));
    run.assert_line(&format!(
        "Expires: {} ({} days remaining)",
        date_in(3),
        keys::EXPIRING_SOON_DAYS_REMAINING
    ));
    // The warning is for people, on stderr; the JSON on stdout stays parseable.
    let run = env.run(&["auth", "status", "--json"]);
    run.assert_ok().stderr_has("warning");
    assert_eq!(run.json_valid(Schema::Status)["key"]["days_remaining"], 3);
}

#[test]
fn profiles_come_from_the_flag_then_fluxloop_profile() {
    let env = TestEnv::new();
    env.login(keys::PROJECT_SCOPED, None);
    env.login(keys::VALID, Some("work"));

    let default = env.run(&["auth", "status"]);
    default.assert_ok();
    default.assert_line("Profile: default");
    default.assert_line("Account: scoped@example.com");

    let flag = env.run(&["auth", "status", "--profile", "work"]);
    flag.assert_ok();
    flag.assert_line("Profile: work");
    flag.assert_line("Account: john@example.com");

    let from_env = env.run_with(&["auth", "status"], None, &[("FLUXLOOP_PROFILE", "work")]);
    from_env.assert_ok();
    from_env.assert_line("Profile: work");
    from_env.assert_line("Account: john@example.com");

    // The flag wins over the variable.
    let both = env.run_with(
        &["auth", "status", "--profile", "default"],
        None,
        &[("FLUXLOOP_PROFILE", "work")],
    );
    both.assert_ok();
    both.assert_line("Account: scoped@example.com");

    // A profile that does not exist is "not logged in", naming it and the others.
    env.run(&["auth", "status", "--profile", "ci"])
        .assert_code(3)
        .stderr_has("Not logged in (profile 'ci')")
        .stderr_has("fluxloop auth login --profile ci")
        .stderr_has("default, work");
}

#[test]
fn api_url_precedence_flag_then_env_then_saved_then_default() {
    let env = TestEnv::new();
    let a = Platform::start();
    let b = Platform::start();
    // Log in against A: its URL is saved with the profile.
    let mut login = env.cmd();
    login
        .args(["auth", "login", "--api-url", &a.url()])
        .env_remove("FLUXLOOP_API_URL");
    env.run_cmd(&mut login, Some(&format!("{}\n", keys::VALID)))
        .assert_ok();
    assert_eq!(a.requests().len(), 1);
    assert!(env.credentials().unwrap().contains(&a.url()));

    // Saved URL.
    let mut saved = env.cmd();
    saved
        .args(["auth", "status"])
        .env_remove("FLUXLOOP_API_URL");
    let run = env.run_cmd(&mut saved, None);
    run.assert_ok();
    run.assert_line(&format!("API URL: {}", a.url()));
    assert_eq!((a.requests().len(), b.requests().len()), (2, 0));

    // FLUXLOOP_API_URL beats the saved URL.
    let mut from_env = env.cmd();
    from_env
        .args(["auth", "status"])
        .env("FLUXLOOP_API_URL", b.url());
    let run = env.run_cmd(&mut from_env, None);
    run.assert_ok();
    run.assert_line(&format!("API URL: {}", b.url()));
    assert_eq!((a.requests().len(), b.requests().len()), (2, 1));

    // --api-url beats FLUXLOOP_API_URL.
    let mut flag = env.cmd();
    flag.args(["auth", "status", "--api-url", &a.url()])
        .env("FLUXLOOP_API_URL", b.url());
    let run = env.run_cmd(&mut flag, None);
    run.assert_ok();
    run.assert_line(&format!("API URL: {}", a.url()));
    assert_eq!((a.requests().len(), b.requests().len()), (3, 1));
    // None of this went to the harness's own platform.
    assert!(env.platform.requests().is_empty());
}

#[test]
fn api_url_defaults_to_production_when_nothing_else_is_set() {
    let env = TestEnv::new();
    // No URL anywhere: the production default. A closed proxy port makes the attempt fail on
    // this machine, and the error names the host it was meant for.
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    drop(proxy);
    let mut cmd = env.cmd();
    cmd.args(["auth", "status"])
        .env_remove("FLUXLOOP_API_URL")
        .env("FLUXLOOP_API_KEY", keys::VALID)
        .env("HTTPS_PROXY", &proxy_url)
        .env("FLUXLOOP_TIMEOUT", "5");
    let run = env.run_cmd(&mut cmd, None);
    run.assert_code(5).stderr_has("api.fluxloop.ai");
    assert!(env.platform.requests().is_empty());
}

#[test]
fn status_json_on_a_network_failure_prints_the_failure_document_and_exits_5() {
    let env = TestEnv::new();
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = env.run_with(
        &["auth", "status", "--json"],
        None,
        &[
            ("FLUXLOOP_API_KEY", keys::VALID),
            ("FLUXLOOP_API_URL", &format!("http://127.0.0.1:{port}")),
        ],
    );
    run.assert_code(5)
        .stderr_has("❌ Error: Unable to connect to FluxLoop API")
        .never_shows(keys::VALID);
    let doc = run.json_valid(Schema::Error);
    assert_eq!(doc["authenticated"], false);
    assert_eq!(doc["profile"], "default");
    assert_eq!(doc["error"]["code"], "connect_failed");
    assert_eq!(doc["error"]["message"], "Unable to connect to FluxLoop API");
}

#[test]
fn status_json_without_a_keychain_prints_the_failure_document_and_exits_6() {
    let env = TestEnv::with(SecretService::start_bus_only());
    let run = env.run(&["auth", "status", "--json", "--profile", "work"]);
    run.assert_code(6).stderr_has("Secret Service");
    let doc = run.json_valid(Schema::Error);
    assert_eq!(doc["authenticated"], false);
    assert_eq!(doc["profile"], "work");
    assert_eq!(doc["error"]["code"], "keychain_unavailable");
    assert!(env.platform.requests().is_empty());
}

#[test]
fn status_json_with_an_invalid_profile_prints_the_failure_document_without_a_profile() {
    let env = TestEnv::new();
    // Refused while reading the settings, before the profile is known: `profile` is null.
    let run = env.run(&["auth", "status", "--json", "--profile", "../etc"]);
    run.assert_code(2).stderr_has("Invalid profile name");
    let doc = run.json_valid(Schema::Error);
    assert_eq!(doc["authenticated"], false);
    assert_eq!(doc["profile"], Value::Null);
    assert_eq!(doc["error"]["code"], "usage");
}

#[test]
fn status_json_with_an_unknown_flag_prints_no_document() {
    let env = TestEnv::new();
    // The argument parser's own usage errors come before any command: usage text only.
    let run = env.run(&["auth", "status", "--json", "--no-such-flag"]);
    run.assert_code(2).stderr_has("--no-such-flag");
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}
