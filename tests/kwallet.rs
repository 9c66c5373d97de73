//! KWallet as the Secret Service (issue 14): the harness itself, and what fluxloop says when
//! KDE's wallet is closed. The core lifecycle on KWallet runs with the other providers' in
//! tests/keepassxc.rs (`core_lifecycle_on_kwallet`), from the same function.

mod common;

use std::time::Duration;

use common::assert_runs_snapshot;
use common::env::{SERVICE, TestEnv, keys};
use common::secret_service::{KWALLET_COLLECTION, Provider, SecretService};

#[test]
fn the_kwallet_harness_serves_an_open_private_wallet() {
    let ss = SecretService::start_kwallet();
    assert_eq!(ss.provider(), Provider::KWallet);
    assert_eq!(ss.default_alias().as_deref(), Some(KWALLET_COLLECTION));
    assert!(ss.kwallet_open());
    // As after a KDE login: the wallet is open, its collection locked until a client asks.
    assert_eq!(ss.login_locked(), Some(true));
    assert!(ss.items(SERVICE).is_empty());

    ss.store(SERVICE, "dev", "s3cret");
    assert_eq!(ss.login_locked(), Some(false));
    assert_eq!(ss.lookup(SERVICE, "dev").as_deref(), Some("s3cret"));
    let items = ss.items(SERVICE);
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(
        items[0].attributes.get("username").map(String::as_str),
        Some("dev")
    );

    // Closed, the wallet still lists its items (unlike KeePassXC), without their secrets.
    ss.lock();
    assert_eq!(ss.login_locked(), Some(true));
    assert!(!ss.kwallet_open());
    let items = ss.items(SERVICE);
    assert_eq!(items.len(), 1, "{items:?}");
    assert_ne!(items[0].secret.as_deref(), Some("s3cret"));
}

#[test]
fn two_kwallet_instances_do_not_see_each_other() {
    let a = SecretService::start_kwallet();
    let b = SecretService::start_kwallet();
    assert_ne!(a.bus_address(), b.bus_address());
    assert_ne!(a.keyring_pid(), b.keyring_pid());
    a.store(SERVICE, "dev", "only in a");
    assert_eq!(b.lookup(SERVICE, "dev"), None);
    assert_eq!(a.lookup(SERVICE, "dev").as_deref(), Some("only in a"));
}

/// Closed, the wallet is locked for fluxloop too (opening it needs its password dialog, which
/// nobody answers here): status and logout fail with KWallet's hints, each after fluxloop's
/// 4 s wait for the keychain, and keep the key and the metadata.
#[test]
fn a_closed_kwallet_gets_kwallet_hints() {
    let env = TestEnv::with(SecretService::start_kwallet());
    env.login(keys::VALID, None);
    let file_before = env.credentials();
    env.ss.lock();
    let runs = [env.run(&["auth", "status"]), env.run(&["auth", "logout"])];
    for run in &runs {
        run.assert_code(6);
        assert!(run.stderr.contains("KWalletManager"), "{}", run.stderr);
        assert!(!run.stderr.contains("Seahorse"), "{}", run.stderr);
        assert!(
            run.elapsed < Duration::from_secs(10),
            "took {:?}",
            run.elapsed
        );
    }
    assert_eq!(env.credentials(), file_before);
    assert_runs_snapshot!(env, runs, "a closed KWallet wallet: KWallet's hints");
    assert_eq!(env.ss.items(SERVICE).len(), 1);
}
