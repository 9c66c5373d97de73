//! In-process tests of the rollback paths: the command runs against the in-memory keychain (with
//! faults aimed at one call), a temporary credentials directory and the stand-in platform. The
//! end-to-end tests in tests/ cover the same commands on a real Secret Service.

use std::sync::Arc;

use clap::Parser;
use fluxloop_stand_in::{Platform, keys};

use crate::cli::Cli;
use crate::context::{Context, Settings};
use crate::error::{ErrorCode, ExitStatus};
use crate::output::{Capture, Printer};
use crate::profiles::ProfileStore;
use crate::secrets::{Keychain, MemoryStore, Op, SecretStore, SecretStoreError};

struct World {
    _dir: tempfile::TempDir,
    home: std::path::PathBuf,
    platform: Platform,
    store: Arc<MemoryStore>,
    /// Stands in for the kernel keyring (`--storage keyutils`).
    kernel: Arc<MemoryStore>,
    failing_writes: bool,
}

struct Outcome {
    status: ExitStatus,
    code: Option<ErrorCode>,
    stdout: String,
    stderr: String,
}

impl World {
    fn new(store: MemoryStore) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join(".fluxloop");
        Self {
            _dir: dir,
            home,
            platform: Platform::start(),
            store: Arc::new(store),
            kernel: Arc::new(MemoryStore::new()),
            failing_writes: false,
        }
    }

    fn profiles(&self) -> ProfileStore {
        let store = ProfileStore::new(self.home.clone());
        if self.failing_writes {
            store.with_failing_writes()
        } else {
            store
        }
    }

    fn write_credentials(&self, text: &str) {
        std::fs::create_dir_all(&self.home).unwrap();
        let path = self.home.join("credentials");
        std::fs::write(&path, text).unwrap();
        // The modes the store checks for on Unix; Windows has no such check.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.home, std::fs::Permissions::from_mode(0o700)).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    fn credentials(&self) -> Option<String> {
        std::fs::read_to_string(self.home.join("credentials")).ok()
    }

    fn run(&self, args: &[&str]) -> Outcome {
        let cli = Cli::try_parse_from(std::iter::once("fluxloop").chain(args.iter().copied()))
            .expect("valid command line");
        let settings = Settings::for_test(self.home.clone(), &self.platform.url());
        let ctx = Context::new(
            settings,
            self.profiles(),
            Keychain::new(Box::new(self.store.clone())),
            Keychain::new(Box::new(self.kernel.clone())),
            std::sync::Arc::new(crate::secrets::EncryptedFileStore::new(
                &self.home,
                std::sync::Arc::new(crate::secrets::NoPassphrase),
            )),
        );
        let (out, err) = (Capture::default(), Capture::default());
        let printer = Printer::new(Box::new(out.clone()), Box::new(err.clone()));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (status, code) =
            match runtime.block_on(crate::commands::run(cli.command, &ctx, &printer)) {
                Ok(status) => (status, None),
                Err(e) => {
                    printer.error(&e);
                    (e.status, Some(e.code))
                }
            };
        Outcome {
            status: printer.finish(status),
            code,
            stdout: out.text(),
            stderr: err.text(),
        }
    }
}

/// The masked form of a key, as the store's hint reports it.
fn hint(key: &str) -> String {
    crate::keys::mask(&secrecy::SecretString::from(key))
}

fn locked() -> SecretStoreError {
    SecretStoreError::Locked
}

#[test]
fn login_puts_the_old_key_back_when_the_metadata_cannot_be_written() {
    let mut world = World::new(MemoryStore::with(&[("default", keys::READ_ONLY)]));
    world.write_credentials("profiles:\n  default:\n    account: old@example.com\n");
    let before = world.credentials();
    world.failing_writes = true;

    let out = world.run(&["auth", "login", "--api-key", keys::VALID]);

    assert_eq!(out.status, ExitStatus::Failure, "{}", out.stderr);
    assert_eq!(out.code, Some(ErrorCode::CredentialsFile));
    assert!(
        out.stderr
            .contains("The keychain was restored to what it held before; nothing changed."),
        "{}",
        out.stderr
    );
    assert_eq!(world.store.hint("default"), Some(hint(keys::READ_ONLY)));
    assert_eq!(world.credentials(), before);
}

#[test]
fn login_removes_its_new_entry_when_the_metadata_cannot_be_written() {
    let mut world = World::new(MemoryStore::new());
    world.failing_writes = true;

    let out = world.run(&["auth", "login", "--api-key", keys::VALID]);

    assert_eq!(out.status, ExitStatus::Failure, "{}", out.stderr);
    assert!(world.store.profiles().is_empty());
    assert_eq!(world.credentials(), None);
}

#[test]
fn login_says_so_when_the_keychain_cannot_be_put_back() {
    let mut world = World::new(MemoryStore::with(&[("default", keys::READ_ONLY)]));
    world.failing_writes = true;
    // The first set stores the new key; the second, putting the old one back, fails.
    world.store.fail_from(Op::Set, 2, locked);

    let out = world.run(&["auth", "login", "--api-key", keys::VALID]);

    assert_eq!(out.status, ExitStatus::Failure);
    assert!(
        out.stderr.contains(
            "The new key is in the keychain, but the metadata file could not be updated."
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn logout_all_removes_orphans_and_every_profile() {
    let world = World::new(MemoryStore::with(&[
        ("default", keys::VALID),
        ("work", keys::READ_ONLY),
        ("lost", keys::PROJECT_SCOPED),
    ]));
    world.write_credentials("profiles:\n  default: {}\n  work: {}\n");

    let out = world.run(&["auth", "logout", "--all"]);

    assert_eq!(out.status, ExitStatus::Success, "{}", out.stderr);
    assert!(world.store.profiles().is_empty());
    assert!(
        out.stderr
            .contains("Removed 3 entries from the in-memory store (1 had no profile metadata)"),
        "{}",
        out.stderr
    );
    let left = world.credentials().unwrap();
    assert!(
        !left.contains("default") && !left.contains("work"),
        "{left}"
    );
}

#[test]
fn logout_all_keeps_the_metadata_when_the_keychain_fails() {
    let world = World::new(MemoryStore::with(&[("default", keys::VALID)]));
    world.write_credentials("profiles:\n  default: {}\n");
    let before = world.credentials();
    world.store.fail_from(Op::Delete, 1, locked);

    let out = world.run(&["auth", "logout", "--all"]);

    assert_eq!(out.status, ExitStatus::Keychain, "{}", out.stderr);
    assert_eq!(world.credentials(), before);
    assert_eq!(world.store.hint("default"), Some(hint(keys::VALID)));
}

/// A keychain that fails part way: the profiles whose keys went lose their metadata too, the
/// others keep both, and the error names each group.
#[test]
fn logout_all_that_fails_part_way_leaves_whole_profiles_and_names_them() {
    let world = World::new(MemoryStore::with(&[
        ("a", keys::VALID),
        ("b", keys::READ_ONLY),
        ("c", keys::EXPIRING_SOON),
    ]));
    world.write_credentials("profiles:\n  a: {}\n  b: {}\n  c: {}\n");
    world.store.fail_from(Op::Delete, 2, locked);

    let out = world.run(&["auth", "logout", "--all"]);

    assert_eq!(out.status, ExitStatus::Keychain, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("Removed from the in-memory store: 1 profile (a)."),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("Still logged in: 2 profiles (b, c)."),
        "{}",
        out.stderr
    );
    let left = world.credentials().unwrap();
    assert!(
        !left.contains("a:") && left.contains("b:") && left.contains("c:"),
        "{left}"
    );
    assert_eq!(world.store.hint("a"), None);
    assert_eq!(world.store.hint("b"), Some(hint(keys::READ_ONLY)));
}

#[test]
fn migrate_is_all_or_nothing() {
    let world = World::new(MemoryStore::new());
    let text = format!(
        "profiles:\n  a:\n    storage: file\n    api_key: {}\n  b:\n    storage: file\n    api_key: {}\n",
        keys::VALID,
        keys::READ_ONLY
    );
    world.write_credentials(&text);
    world.store.fail_from(Op::Set, 2, locked);

    let out = world.run(&["auth", "migrate"]);

    assert_eq!(out.status, ExitStatus::Keychain, "{}", out.stderr);
    assert_eq!(world.credentials().as_deref(), Some(text.as_str()));
    assert!(out.stderr.contains("was left untouched"), "{}", out.stderr);
}

#[test]
fn migrate_moves_every_plaintext_key() {
    let world = World::new(MemoryStore::new());
    world.write_credentials(&format!(
        "api_key: {}\nprofiles:\n  b:\n    storage: file\n    api_key: {}\n",
        keys::VALID,
        keys::READ_ONLY
    ));

    let out = world.run(&["auth", "migrate"]);

    assert_eq!(out.status, ExitStatus::Success, "{}", out.stderr);
    assert_eq!(world.store.hint("default"), Some(hint(keys::VALID)));
    assert_eq!(world.store.hint("b"), Some(hint(keys::READ_ONLY)));
    let left = world.credentials().unwrap();
    assert!(!left.contains("api_key"), "{left}");
    assert!(out.stderr.contains("Moved 2 keys into"), "{}", out.stderr);
    // Messages for people go to stderr; stdout is for data only.
    assert_eq!(out.stdout, "");
}

#[test]
fn a_failed_write_to_stdout_is_a_failure() {
    struct Full;
    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(28))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let err = Capture::default();
    let printer = Printer::new(Box::new(Full), Box::new(err.clone()));
    printer.data("something a script reads");
    assert_eq!(printer.finish(ExitStatus::Success), ExitStatus::Failure);
    assert!(
        err.text().contains("Could not write to standard output"),
        "{}",
        err.text()
    );
}

#[test]
fn a_blocked_keyctl_is_named_and_nothing_is_saved() {
    let world = World::new(MemoryStore::new());
    world.kernel.fail_from(Op::CheckReady, 1, || {
        SecretStoreError::KeyctlBlocked("EPERM".into())
    });

    let out = world.run(&[
        "auth",
        "login",
        "--storage",
        "keyutils",
        "--api-key",
        keys::VALID,
    ]);

    assert_eq!(out.status, ExitStatus::Keychain, "{}", out.stderr);
    assert_eq!(out.code, Some(ErrorCode::KeychainUnavailable));
    assert!(
        out.stderr
            .contains("the keyctl system call is blocked here (EPERM)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("seccomp"), "{}", out.stderr);
    assert!(world.kernel.profiles().is_empty());
    assert!(world.store.profiles().is_empty());
    assert_eq!(world.credentials(), None);
}

#[test]
fn login_to_the_kernel_keyring_puts_the_old_key_back_when_the_metadata_cannot_be_written() {
    let mut world = World::new(MemoryStore::new());
    world.write_credentials(
        "profiles:\n  default:\n    account: old@example.com\n    storage: keyutils\n",
    );
    world
        .kernel
        .set("default", &secrecy::SecretString::from(keys::READ_ONLY))
        .unwrap();
    let before = world.credentials();
    world.failing_writes = true;

    let out = world.run(&[
        "auth",
        "login",
        "--storage",
        "keyutils",
        "--api-key",
        keys::VALID,
    ]);

    assert_eq!(out.status, ExitStatus::Failure, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("The kernel keyring was restored to what it held before; nothing changed."),
        "{}",
        out.stderr
    );
    assert_eq!(world.kernel.hint("default"), Some(hint(keys::READ_ONLY)));
    assert!(world.store.profiles().is_empty());
    assert_eq!(world.credentials(), before);
}

fn kernel_world() -> World {
    let world = World::new(MemoryStore::with(&[("default", keys::VALID)]));
    world.write_credentials(
        "profiles:\n  default:\n    account: john@example.com\n    storage: keychain\n",
    );
    world
}

#[test]
fn migrate_to_moves_the_key_reads_it_back_then_empties_the_source() {
    let world = kernel_world();

    let out = world.run(&["auth", "migrate", "--to", "keyutils"]);

    assert_eq!(out.status, ExitStatus::Success, "{}", out.stderr);
    assert_eq!(world.kernel.hint("default"), Some(hint(keys::VALID)));
    assert!(world.store.profiles().is_empty());
    assert!(world.credentials().unwrap().contains("storage: keyutils"));
    assert!(
        out.stderr
            .contains("Moved 1 key to the kernel keyring: default"),
        "{}",
        out.stderr
    );
}

/// A failure at any step before the metadata changes leaves the source as it was and the
/// destination as it was.
#[test]
fn migrate_to_leaves_the_source_as_it_was_when_any_step_fails() {
    let steps: [(&str, Op, usize); 4] = [
        ("reading the source", Op::Get, 1),
        ("writing the destination", Op::Set, 1),
        ("reading the destination back", Op::Get, 2),
        ("checking the destination", Op::CheckReady, 1),
    ];
    for (what, op, n) in steps {
        let world = kernel_world();
        let before = world.credentials();
        // The source is the keychain for the first step, the kernel keyring for the others.
        if what == "reading the source" {
            world.store.fail_from(op, n, locked);
        } else {
            world.kernel.fail_from(op, n, locked);
        }

        let out = world.run(&["auth", "migrate", "--to", "keyutils"]);

        assert_ne!(out.status, ExitStatus::Success, "{what}: {}", out.stderr);
        assert_eq!(
            world.store.hint("default"),
            Some(hint(keys::VALID)),
            "{what}"
        );
        assert!(world.kernel.profiles().is_empty(), "{what}");
        assert_eq!(world.credentials(), before, "{what}");
    }
}

#[test]
fn migrate_to_undoes_the_destination_when_the_metadata_cannot_be_written() {
    let mut world = kernel_world();
    let before = world.credentials();
    world.failing_writes = true;

    let out = world.run(&["auth", "migrate", "--to", "keyutils"]);

    assert_eq!(out.status, ExitStatus::Failure, "{}", out.stderr);
    assert!(
        out.stderr.contains("Every source is as it was"),
        "{}",
        out.stderr
    );
    assert_eq!(world.store.hint("default"), Some(hint(keys::VALID)));
    assert!(world.kernel.profiles().is_empty());
    assert_eq!(world.credentials(), before);
}

#[test]
fn migrate_to_says_so_when_the_old_copy_cannot_be_removed() {
    let world = kernel_world();
    world.store.fail_from(Op::Delete, 1, locked);

    let out = world.run(&["auth", "migrate", "--to", "keyutils"]);

    assert_eq!(out.status, ExitStatus::Success, "{}", out.stderr);
    assert_eq!(world.kernel.hint("default"), Some(hint(keys::VALID)));
    assert!(world.credentials().unwrap().contains("storage: keyutils"));
    assert!(out.stderr.contains("is still in the"), "{}", out.stderr);
}

#[test]
fn migrate_all_is_all_or_nothing() {
    let world = World::new(MemoryStore::with(&[
        ("a", keys::VALID),
        ("b", keys::READ_ONLY),
    ]));
    world
        .write_credentials("profiles:\n  a:\n    storage: keychain\n  b:\n    storage: keychain\n");
    let before = world.credentials();
    // The second profile's write fails: the first one's is undone.
    world.kernel.fail_from(Op::Set, 2, locked);

    let out = world.run(&["auth", "migrate", "--to", "keyutils", "--all"]);

    assert_ne!(out.status, ExitStatus::Success);
    assert!(
        world.kernel.profiles().is_empty(),
        "{:?}",
        world.kernel.profiles()
    );
    assert_eq!(
        world.store.profiles(),
        vec!["a".to_string(), "b".to_string()]
    );
    assert_eq!(world.credentials(), before);
}

#[test]
fn migrate_between_the_file_and_the_kernel_keyring_both_ways() {
    let world = World::new(MemoryStore::new());
    world.write_credentials(&format!(
        "profiles:\n  default:\n    storage: file\n    api_key: {}\n",
        keys::VALID
    ));

    let out = world.run(&["auth", "migrate", "--to", "keyutils"]);
    assert_eq!(out.status, ExitStatus::Success, "{}", out.stderr);
    assert_eq!(world.kernel.hint("default"), Some(hint(keys::VALID)));
    let text = world.credentials().unwrap();
    assert!(
        !text.contains(keys::VALID) && text.contains("storage: keyutils"),
        "{text}"
    );

    let out = world.run(&["auth", "migrate", "--to", "file"]);
    assert_eq!(out.status, ExitStatus::Success, "{}", out.stderr);
    assert!(world.kernel.profiles().is_empty());
    assert!(world.credentials().unwrap().contains(keys::VALID));
}

#[test]
fn migrate_dry_run_changes_nothing() {
    let world = kernel_world();
    let before = world.credentials();

    let out = world.run(&["auth", "migrate", "--to", "keyutils", "--dry-run"]);

    assert_eq!(out.status, ExitStatus::Success, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "Would move the key of profile 'default' from the in-memory store to the kernel keyring"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(world.store.hint("default"), Some(hint(keys::VALID)));
    assert!(world.kernel.profiles().is_empty());
    assert_eq!(world.credentials(), before);
}

#[test]
fn logout_all_revokes_and_removes_a_kernel_key_without_metadata() {
    let world = World::new(MemoryStore::new());
    world
        .kernel
        .set("lost", &secrecy::SecretString::from(keys::VALID))
        .unwrap();

    let out = world.run(&["auth", "logout", "--all", "--revoke"]);

    assert_eq!(out.status, ExitStatus::Success, "{}", out.stderr);
    assert!(
        out.stderr.contains("Revoked 1 key on the platform."),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("Removed 1 key from the kernel keyring (1 had no profile metadata)"),
        "{}",
        out.stderr
    );
    assert!(world.kernel.profiles().is_empty());
}

#[test]
fn login_to_the_kernel_keyring_removes_the_profiles_old_keychain_entry() {
    let world = kernel_world();

    let out = world.run(&[
        "auth",
        "login",
        "--storage",
        "keyutils",
        "--api-key",
        keys::READ_ONLY,
    ]);

    assert_eq!(out.status, ExitStatus::Success, "{}", out.stderr);
    assert_eq!(world.kernel.hint("default"), Some(hint(keys::READ_ONLY)));
    assert!(
        world.store.profiles().is_empty(),
        "{:?}",
        world.store.profiles()
    );
    assert!(world.credentials().unwrap().contains("storage: keyutils"));
}
