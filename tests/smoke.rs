//! The whole journey once: login, status, whoami, logout --all, on the real Secret Service.

mod common;

use common::env::{TestEnv, keys};

#[test]
fn login_status_whoami_logout_all() {
    let env = TestEnv::new();
    env.login(keys::VALID, None)
        .stderr_has("✅ Successfully authenticated!")
        .stderr_has("API key saved to Secret Service (profile: default)")
        .stderr_has("Your account: john@example.com")
        .stderr_has("Organizations: Acme Inc, Personal")
        .never_shows(keys::VALID);
    assert_eq!(env.keychain_profiles(), ["default"]);
    assert_eq!(env.keychain()[0].secret.as_deref(), Some(keys::VALID));

    env.run(&["auth", "status"])
        .assert_ok()
        .stdout_has("✅ Authenticated")
        .stdout_has("flux_dev_abc1...mno34")
        .stdout_has("(84 days remaining)")
        .never_shows(keys::VALID);
    env.run(&["auth", "whoami"])
        .assert_ok()
        .stdout_has("Usage this month: 234 / 1,000 runs");

    env.run(&["auth", "logout", "--all"]).assert_ok();
    assert!(env.keychain().is_empty());
    env.assert_not_on_disk(keys::VALID);
}
