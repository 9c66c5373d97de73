//! KeePassXC as the Secret Service (issue 14): the harness itself, the core lifecycle run
//! against KeePassXC and gnome-keyring from one function (same transcript), and what a locked
//! KeePassXC database must not be mistaken for.
//!
//! KeePassXC differs from gnome-keyring where it matters here: items carry its own attributes
//! too (`Title`, `UserName`, `Path`, `Uuid`, …), and a search of a locked database returns
//! nothing at all, where gnome-keyring lists the items as locked.

mod common;

use std::time::Instant;

use common::env::SERVICE;
use common::secret_service::{KEEPASSXC_COLLECTION, Provider, SecretService};

// --- The harness ------------------------------------------------------------------------------

#[test]
fn the_keepassxc_harness_serves_a_private_database_and_locks_it_on_request() {
    let started = Instant::now();
    let ss = SecretService::start_keepassxc();
    let start_up = started.elapsed();
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
    // A generous bound on start-up (database made with pykeepass, KeePassXC up, unlocked):
    // about 1 s here on 2 busy cores.
    assert!(
        start_up.as_secs() < 10,
        "KeePassXC took {start_up:?} to start"
    );
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
