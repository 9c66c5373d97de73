//! The whole journey once: login, status, whoami, logout --all, on the real Secret Service.

mod common;

use common::env::{TestEnv, keys};
use common::{assert_run_snapshot, fluxloop_snapshot};

#[test]
fn login_status_whoami_logout_all() {
    let env = TestEnv::new();
    let login = env.login(keys::VALID, None);
    assert_run_snapshot!("journey_1_login", env, login);
    assert_eq!(env.keychain_profiles(), ["default"]);
    assert_eq!(env.keychain()[0].secret.as_deref(), Some(keys::VALID));

    fluxloop_snapshot!("journey_2_status", env, ["auth", "status"]);
    fluxloop_snapshot!("journey_3_whoami", env, ["auth", "whoami"]);
    fluxloop_snapshot!("journey_4_logout_all", env, ["auth", "logout", "--all"]);
    assert!(env.keychain().is_empty());
    env.assert_not_on_disk(keys::VALID);
}
