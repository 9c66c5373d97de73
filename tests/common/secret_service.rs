//! A private, real Secret Service for one test.
//!
//! Every [`SecretService`] owns a temporary directory, its own `dbus-daemon` (session bus
//! configured by a file we write, listening on a socket inside the temporary directory) and,
//! depending on the constructor, its own `gnome-keyring-daemon --components=secrets` with
//! `HOME`, `XDG_*` and `XDG_RUNTIME_DIR` pointing into the temporary directory. Tests can
//! therefore run in parallel without seeing each other's entries, and nothing ever touches the
//! developer's real keychain: the bus configuration has no `<servicedir>` and no
//! `<standard_session_servicedirs/>`, so D-Bus can never auto-activate anything (no stray
//! gnome-keyring, no `gcr-prompter`).
//!
//! Point the program under test at it with [`SecretService::envs`] (only
//! `DBUS_SESSION_BUS_ADDRESS` is needed by libdbus clients).
//!
//! Observed behaviour of each variant (gnome-keyring 42.1, libsecret-tools 0.20.5,
//! dbus 1.14.10; asserted in `tests/secret_service_harness.rs`):
//!
//! * [`SecretService::start`]: collections `session` and `login`; `login` is the `default`
//!   alias and is unlocked. `secret-tool store/lookup/search/clear` work.
//! * [`SecretService::start_locked`]: as `start`, then the `login` collection is locked with
//!   `org.freedesktop.Secret.Service.Lock`. Unlocking needs a prompt; gnome-keyring tries to
//!   reach `org.gnome.keyring.SystemPrompter`, which is not on our bus, and immediately
//!   completes the prompt as *dismissed* (its log says "couldn't create system prompt: ...
//!   The name org.gnome.keyring.SystemPrompter was not provided by any .service files").
//!   Nothing hangs:
//!   - `secret-tool lookup` exits 1 with empty stdout and stderr;
//!   - `secret-tool store` exits 1: `secret-tool: Cannot create an item in a locked collection`;
//!   - `secret-tool search --all` (with or without `--unlock`) exits 0, lists the items with
//!     their label and attributes but no `secret = ` line, and prints
//!     `secret-tool: Cannot get secret of a locked object` per item.
//! * [`SecretService::start_without_login_collection`]: gnome-keyring started without
//!   `--unlock` on an empty home: only the `session` collection exists and the `default` alias
//!   is `/`. `secret-tool store` exits 1:
//!   `secret-tool: Object does not exist at path “/org/freedesktop/secrets/collection/login”`;
//!   `lookup` exits 1 silently; `search --all` exits 0 with no items.
//! * [`SecretService::start_bus_only`]: no Secret Service on the bus. Every `secret-tool`
//!   command exits 1 at once with `secret-tool: The name org.freedesktop.secrets was not
//!   provided by any .service files`.
//! * [`SecretService::start_keepassxc`]: KeePassXC 2.7.4 instead of gnome-keyring, headless
//!   (`QT_QPA_PLATFORM=offscreen`, password on stdin), serving a database made for the test by
//!   `scripts/keepassxc-test-db.py` (once per test process, then copied); its collection `/org/freedesktop/secrets/collection/fluxloop`
//!   is the `default` alias. [`SecretService::lock`] and [`SecretService::unlock`] go through
//!   KeePassXC's own interface (`org.keepassxc.KeePassXC.MainWindow` at `/keepassxc`). Items
//!   carry KeePassXC's attributes too (`Title`, `UserName`, `URL`, `Notes`, `Path`, `Uuid`,
//!   `FDO_SECRETS_CONTENT_TYPE`). Locked (with "unlock before search" off), `secret-tool search`
//!   exits 0 with no items and `lookup` exits 1: KeePassXC's `SearchItems` returns nothing for a
//!   locked database. Each start costs about 0.5 s (gnome-keyring: under 0.1 s), plus 1 to 2 s of
//!   python3 once per test process for the database every instance copies; under load, 10 to
//!   20 s has been seen. Teardown SIGKILLs it (2.7.4 can wedge).
//! * [`SecretService::start_kwallet`]: KDE's `kwalletd5` 5.103 instead of gnome-keyring,
//!   headless (`QT_QPA_PLATFORM=offscreen`), started as pam_kwallet starts it at login
//!   (`--pam-login` with the wallet key on a pipe, by `scripts/kwalletd-test-launch.py`), so it
//!   opens its one wallet, `kdewallet`, with no dialog. Its collection
//!   `/org/freedesktop/secrets/collection/kdewallet` is the `default` alias. That collection
//!   reads `Locked` until a client unlocks it: `Unlock` returns a prompt, which completes with
//!   no dialog while the wallet is open (`secret-tool store` does this; `lookup` of a missing
//!   item exits 1 at once and `search` lists the items with empty secrets meanwhile). On a fresh home
//!   the first start creates the wallet but does not list it as a collection, so the first
//!   instance of a test process starts kwalletd5 twice and later ones start from a copy of
//!   that wallet (about 0.4 s per start; 0.8 s for the first). [`SecretService::lock`] closes
//!   the wallet through the Secret Service; reopening it needs its password dialog, which
//!   nobody can answer offscreen: `secret-tool lookup` then waits (killed at 10 s), while
//!   `secret-tool search --all` still lists the items, with empty secrets.
//! * [`SecretService::stop_daemon`]: gnome-keyring is SIGSTOPped; the bus still queues calls
//!   for it, so clients block until their own D-Bus timeout (libdbus default 25 s; the
//!   `dbus-secret-service` crate uses 2 s per call).
//!
//! What the CLI's own client (keyring-core 1.1 + dbus-secret-service-keyring-store 1.0.1,
//! `Store::new()` then `Entry::new("fluxloop", user)`) saw in each variant (checked by hand
//! with a small probe program, not asserted here):
//!
//! * `start`: everything works; items get attributes `service`, `username` and the label
//!   `keyring:<user>@<service>`.
//! * `start_locked`: `get_password`, `set_password`, `delete_credential` and `search` on an
//!   existing item fail within a few ms with `NoStorageAccess(Prompt)`, displayed as
//!   "Couldn't access platform storage: Secret Service: unlock prompt was dismissed". With no
//!   matching item, `get_password`/`delete_credential` give `NoEntry` and `set_password` gives
//!   `NoStorageAccess(Prompt)`.
//! * `start_without_login_collection`: `get_password` gives `NoEntry`; `set_password` gives
//!   `NoStorageAccess(NoResult)` ("... Secret Service: no result found").
//! * `start_bus_only`: `Store::new()` itself fails with `PlatformFailure(Dbus(...))`,
//!   "DBus error: The name org.freedesktop.secrets was not provided by any .service files".
//! * `stop_daemon`: `Store::new()` (or any later call) fails after 2 s with
//!   `PlatformFailure(Dbus(...))`, "... Did not receive a reply ... (NoReply)".
//! * No bus at all (`DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent`): `Store::new()` fails
//!   at once, "Failed to connect to socket /nonexistent: No such file or directory"; with
//!   the variable unset: "Using X11 for dbus-daemon autolaunch was disabled at compile time, set
//!   your DBUS_SESSION_BUS_ADDRESS instead" (libdbus is built from source, without X11).
//!
//! Every external command run here has a deadline (see [`run_with_timeout`]), so a broken
//! daemon makes a test fail, never hang. If the test process dies without running `Drop`
//! (killed by a test runner), a small watchdog `sh` notices its stdin closing, SIGKILLs the
//! daemons and removes the temporary directory.

// Each test binary that includes `mod common;` uses a different subset of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// Password of the `login` collection created by [`SecretService::start`].
pub const LOGIN_PASSWORD: &str = "fluxloop-test-login-password";
/// D-Bus object path of the `login` collection.
pub const LOGIN_COLLECTION: &str = "/org/freedesktop/secrets/collection/login";
/// D-Bus object path of the collection KeePassXC makes of `fluxloop.kdbx` (named after the
/// file).
pub const KEEPASSXC_COLLECTION: &str = "/org/freedesktop/secrets/collection/fluxloop";
/// D-Bus object path of the collection of [`SecretService::open_second_keepassxc_database`].
pub const KEEPASSXC_SECOND_COLLECTION: &str = "/org/freedesktop/secrets/collection/second";
/// Password of the KeePassXC database made by [`SecretService::start_keepassxc`].
pub const KEEPASSXC_PASSWORD: &str = "fluxloop-test-keepassxc-password";
/// D-Bus object path of the collection of KWallet's one wallet, `kdewallet`.
pub const KWALLET_COLLECTION: &str = "/org/freedesktop/secrets/collection/kdewallet";
/// Deadline for the daemons to come up.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline for KeePassXC (a Qt application, and python3 making its database) to come up: it
/// has been seen to need 10 to 20 s while several tests start one at once on 2 busy cores.
const KEEPASSXC_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How many more times a `secret-tool` run on KWallet is made when kwalletd could not use its
/// encrypted session (see [`kwallet_session_fault`]): about one session in 60 fails, so five
/// in a row is as good as never.
const KWALLET_SESSION_TRIES: usize = 5;

/// Whether libsecret's output tells of an encrypted session kwalletd 5.103 could not use: its
/// public key refused (127 bytes, sent without leading zeros), or the two sides' AES keys
/// different (kwalletd says "Can't find session" when it cannot decrypt what it was sent, and
/// libsecret "Received invalid secret" when it cannot decrypt what kwalletd sent).
fn kwallet_session_fault(output: &str) -> bool {
    [
        "Client public key size is invalid",
        "Can't find session",
        "Received invalid secret",
    ]
    .iter()
    .any(|fault| output.contains(fault))
}

/// Deadline for kwalletd5 (a Qt application too, behind a python3 launcher) to come up.
const KWALLET_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Deadline for every helper command (`secret-tool`, `dbus-send`, `kill`) run by this module.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the "person" of [`SecretService::answer_keepassxc_access_request`] takes to answer:
/// well beyond the moment fluxloop says whom to approve (after 0.5 s of silence).
const PERSON_READS_THE_DIALOG: Duration = Duration::from_secs(2);

/// One private session bus, optionally with a private gnome-keyring on it.
pub struct SecretService {
    dir: tempfile::TempDir,
    address: String,
    /// `None` for [`SecretService::no_bus`].
    dbus: Option<Child>,
    keyring: Option<Child>,
    /// Xvfb, for [`SecretService::start_keepassxc_on_display`].
    display: Option<Child>,
    /// Its X display, e.g. `:3`.
    display_name: Option<String>,
    watchdog: Option<Child>,
    provider: Provider,
}

/// Which program owns `org.freedesktop.secrets` on the private bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Nobody (bus only, or no bus).
    None,
    GnomeKeyring,
    KeePassXC,
    KWallet,
}

/// An item as seen by `secret-tool search --all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// What secret-tool prints in brackets: the item's object path relative to its
    /// collection, e.g. `/1`.
    pub path: String,
    pub label: String,
    /// `None` when the secret could not be read (locked collection).
    pub secret: Option<String>,
    /// The attributes, e.g. `service` and `username`. The `xdg:schema` attribute is left
    /// out: gnome-keyring reports it (as `org.freedesktop.Secret.Generic`) only sometimes,
    /// apparently after re-reading the keyring file.
    pub attributes: BTreeMap<String, String>,
}

/// Result of [`run_with_timeout`].
#[derive(Debug)]
pub struct Finished {
    /// `None` if the deadline passed and the process was killed.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Finished {
    pub fn timed_out(&self) -> bool {
        self.status.is_none()
    }

    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// Exit code; `None` if killed by a signal or timed out.
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Keyring {
    None,
    Unlocked,
    WithoutLogin,
    KeePassXC,
    /// KeePassXC asking a person before each new client reads an item (`ConfirmAccessItem`).
    KeePassXCConfirmingAccess,
    /// The same, on a virtual X display (Xvfb) where a script can answer the dialog.
    KeePassXCConfirmingAccessOnDisplay,
    KWallet,
    /// kwalletd5 on first use: no wallet yet, so no collection and no `default` alias.
    KWalletWithoutWallet,
}

impl SecretService {
    /// gnome-keyring with an unlocked `login` collection (the `default` alias), ready to use.
    pub fn start() -> Self {
        Self::launch(Keyring::Unlocked)
    }

    /// gnome-keyring whose `login` collection exists but is locked; unlocking it fails at
    /// once (the prompt is dismissed, see the module docs).
    pub fn start_locked() -> Self {
        let ss = Self::launch(Keyring::Unlocked);
        ss.lock();
        ss
    }

    /// gnome-keyring running with no `login` collection and no `default` alias (only the
    /// in-memory `session` collection).
    pub fn start_without_login_collection() -> Self {
        Self::launch(Keyring::WithoutLogin)
    }

    /// KeePassXC 2.7 (headless, `QT_QPA_PLATFORM=offscreen`) serving one unlocked database,
    /// `fluxloop.kdbx`, whose collection is the `default` alias. The database is made for this
    /// instance by `scripts/keepassxc-test-db.py` (pykeepass), exposing its `fluxloop` group.
    /// Its settings: no notifications, no access or delete confirmation, and "unlock before
    /// search" off, so a search of a locked database returns nothing instead of prompting.
    pub fn start_keepassxc() -> Self {
        Self::launch(Keyring::KeePassXC)
    }

    /// [`SecretService::start_keepassxc`] with "Confirm when passwords are retrieved by
    /// clients" on (`ConfirmAccessItem=true`, KeePassXC's default): each new client's first
    /// read of an item waits on an access dialog that nobody here can answer.
    pub fn start_keepassxc_confirming_access() -> Self {
        Self::launch(Keyring::KeePassXCConfirmingAccess)
    }

    /// [`SecretService::start_keepassxc_confirming_access`] on a private virtual X display
    /// (`Xvfb`, Qt's `xcb` platform), so that the test can answer the access dialog like a
    /// person, with [`SecretService::answer_keepassxc_access_request`].
    pub fn start_keepassxc_on_display() -> Self {
        Self::launch(Keyring::KeePassXCConfirmingAccessOnDisplay)
    }

    /// Waits (up to [`KEEPASSXC_READY_TIMEOUT`]) for KeePassXC's "Access Request" dialog and
    /// answers it as a person would: after [`PERSON_READS_THE_DIALOG`], presses `key`
    /// (`Return`: its default button, allow; `Escape`: deny). Returns once the dialog is gone.
    ///
    /// Xvfb has no window manager, so nothing gives the dialog the keyboard: `xdotool` focuses
    /// it (`windowfocus`) and then types through XTEST, as a real keyboard would. A key sent to
    /// the window instead (`key --window`, an X SendEvent) was seen not to land.
    pub fn answer_keepassxc_access_request(&self, key: &str) {
        let display = self
            .display_name
            .as_deref()
            .expect("answer_keepassxc_access_request: no display (start_keepassxc_on_display)");
        let xdotool = |args: &[&str]| {
            run_with_timeout(
                Command::new("xdotool")
                    .args(args)
                    .env_clear()
                    .env("PATH", path_var())
                    .env("DISPLAY", display),
                None,
                COMMAND_TIMEOUT,
            )
        };
        let dialogs = || {
            let out = xdotool(&["search", "--onlyvisible", "--name", "Access Request"]);
            out.stdout.lines().map(str::to_owned).collect::<Vec<_>>()
        };
        let deadline = Instant::now() + KEEPASSXC_READY_TIMEOUT;
        while dialogs().is_empty() {
            assert!(
                Instant::now() < deadline,
                "no KeePassXC access dialog appeared\n{}",
                self.logs()
            );
            thread::sleep(Duration::from_millis(50));
        }
        thread::sleep(PERSON_READS_THE_DIALOG);
        // Pressed again while the dialog is still open half a second later, so that one lost key
        // press does not fail the test.
        loop {
            let open = dialogs();
            if open.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the KeePassXC access dialog is still open after {key}\n{}",
                self.logs()
            );
            for window in &open {
                xdotool(&["windowfocus", "--sync", window]);
            }
            xdotool(&["key", "--clearmodifiers", key]);
            thread::sleep(Duration::from_millis(500));
        }
    }

    /// KWallet (`kwalletd5`, headless) with its one wallet, `kdewallet`, open and the
    /// `default` alias, as after a KDE login with pam_kwallet.
    pub fn start_kwallet() -> Self {
        Self::launch(Keyring::KWallet)
    }

    /// KWallet before its first use: kwalletd5 running with no wallet (none was made at a KDE
    /// login, nor in KWallet's dialog), so it serves no collection and `default` is `/`.
    pub fn start_kwallet_without_wallet() -> Self {
        Self::launch(Keyring::KWalletWithoutWallet)
    }

    /// Only the session bus; nobody owns `org.freedesktop.secrets`.
    pub fn start_bus_only() -> Self {
        Self::launch(Keyring::None)
    }

    /// Only the isolated directories (HOME, XDG_*, runtime dir): no bus, no daemon, so it
    /// costs nothing to start. `DBUS_SESSION_BUS_ADDRESS` names a socket that does not exist,
    /// so a client that tries the keychain fails at once instead of finding the developer's.
    /// For help and usage tests, which must never need a keychain.
    pub fn no_bus() -> Self {
        let dir = Self::make_dir();
        let address = format!("unix:path={}", dir.path().join("bus/none").display());
        let mut ss = SecretService {
            dir,
            address,
            dbus: None,
            keyring: None,
            display: None,
            display_name: None,
            watchdog: None,
            provider: Provider::None,
        };
        ss.watchdog = Some(ss.spawn_watchdog());
        ss
    }

    /// Who provides the Secret Service here.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The bus address, e.g. `unix:path=/tmp/fluxloop-ss-XXXX/bus/dbus-XXXX,guid=...`.
    pub fn bus_address(&self) -> &str {
        &self.address
    }

    /// Environment variables a Secret Service client needs to use this instance.
    pub fn envs(&self) -> Vec<(String, String)> {
        vec![("DBUS_SESSION_BUS_ADDRESS".to_owned(), self.address.clone())]
    }

    /// The temporary directory owned by this instance (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where a debug build of fluxloop looks for `/.dockerenv`, `/proc/version` and the like
    /// (src/situation.rs), instead of `/`: empty unless a test plants files, so every test sees
    /// a plain Linux machine, whatever machine runs it (the CI's container included).
    pub fn system_root(&self) -> PathBuf {
        self.dir().join("system-root")
    }

    /// Pid of gnome-keyring-daemon, if this variant runs one.
    pub fn keyring_pid(&self) -> Option<u32> {
        self.keyring.as_ref().map(Child::id)
    }

    /// Pid of dbus-daemon.
    pub fn dbus_pid(&self) -> u32 {
        self.dbus
            .as_ref()
            .expect("this variant runs no dbus-daemon")
            .id()
    }

    /// For a run that found no keychain on a bus where this instance started one: whether
    /// gnome-keyring still runs, and the daemons' logs. A daemon that vanished after start-up
    /// was seen once in CI under load, with nothing recorded to say why.
    pub fn vanished_daemon_report(&self) -> Option<String> {
        let pid = self.keyring_pid()?;
        let state = match process_state(pid) {
            Some('Z') | None => "gone (exited or reaped)".to_owned(),
            Some(state) => format!("still running (state {state})"),
        };
        Some(format!(
            "the test's gnome-keyring-daemon (pid {pid}) is {state}\n{}",
            self.logs()
        ))
    }

    /// Whether a D-Bus daemon (and so possibly a keychain) runs for this instance.
    pub fn has_bus(&self) -> bool {
        self.dbus.is_some()
    }

    /// Whether gnome-keyring is SIGSTOPped ([`SecretService::stop_daemon`]), so that asking it
    /// anything would only wait for a timeout.
    pub fn daemon_stopped(&self) -> bool {
        self.keyring_pid()
            .is_some_and(|pid| process_state(pid) == Some('T'))
    }

    /// SIGSTOP gnome-keyring: the bus name stays owned but calls are never answered.
    /// Returns once the process is really stopped. `Drop` resumes and kills it.
    pub fn stop_daemon(&self) {
        let pid = self
            .keyring_pid()
            .expect("stop_daemon: this variant runs no gnome-keyring");
        signal(pid, "STOP");
        let deadline = Instant::now() + READY_TIMEOUT;
        while process_state(pid) != Some('T') {
            assert!(
                Instant::now() < deadline,
                "gnome-keyring-daemon (pid {pid}) did not stop"
            );
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// SIGCONT gnome-keyring after [`SecretService::stop_daemon`].
    pub fn resume_daemon(&self) {
        let pid = self
            .keyring_pid()
            .expect("resume_daemon: this variant runs no gnome-keyring");
        signal(pid, "CONT");
    }

    /// Lock the collection keys are stored in (gnome-keyring's `login`, KeePassXC's database;
    /// no prompt needed for locking) and check that it is locked.
    pub fn lock(&self) {
        let out = if self.provider == Provider::KeePassXC {
            self.dbus_send(&[
                "--dest=org.keepassxc.KeePassXC.MainWindow",
                "/keepassxc",
                "org.keepassxc.KeePassXC.MainWindow.lockAllDatabases",
            ])
        } else {
            self.dbus_send(&[
                "--dest=org.freedesktop.secrets",
                "/org/freedesktop/secrets",
                "org.freedesktop.Secret.Service.Lock",
                &format!("array:objpath:{}", self.collection()),
            ])
        };
        assert!(out.success(), "Lock failed: {out:?}\n{}", self.logs());
        // KeePassXC has been seen to answer before the database reads as locked (2 busy cores).
        let deadline = Instant::now() + self.ready_timeout();
        while self.login_locked() != Some(true) {
            assert!(
                Instant::now() < deadline,
                "collection {} still unlocked {:?} after Lock\n{}",
                self.collection(),
                self.ready_timeout(),
                self.logs()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Unlock KeePassXC's database again (KeePassXC's own `openDatabase` with the password,
    /// no prompt) and wait until its collection says it is unlocked.
    pub fn unlock(&self) {
        assert_eq!(
            self.provider,
            Provider::KeePassXC,
            "unlock: only KeePassXC can be unlocked without a prompt here"
        );
        let db = self.keepassxc_database();
        let out = self.dbus_send(&[
            "--dest=org.keepassxc.KeePassXC.MainWindow",
            "/keepassxc",
            "org.keepassxc.KeePassXC.MainWindow.openDatabase",
            &format!("string:{}", db.display()),
            &format!("string:{KEEPASSXC_PASSWORD}"),
        ]);
        assert!(
            out.success(),
            "openDatabase failed: {out:?}\n{}",
            self.logs()
        );
        let deadline = Instant::now() + self.ready_timeout();
        while self.login_locked() != Some(false) {
            assert!(
                Instant::now() < deadline,
                "KeePassXC database still locked after openDatabase\n{}",
                self.logs()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Opens a second KeePassXC database, `second.kdbx` (made like the first), through
    /// KeePassXC's `openDatabase`; KeePassXC makes it the active one, so the `default` alias
    /// moves to its collection ([`KEEPASSXC_SECOND_COLLECTION`]). Returns once it is.
    pub fn open_second_keepassxc_database(&self) {
        assert_eq!(
            self.provider,
            Provider::KeePassXC,
            "only KeePassXC has databases"
        );
        let db = self.dir.path().join("keepassxc").join("second.kdbx");
        self.make_keepassxc_database(&db);
        let out = self.dbus_send(&[
            "--dest=org.keepassxc.KeePassXC.MainWindow",
            "/keepassxc",
            "org.keepassxc.KeePassXC.MainWindow.openDatabase",
            &format!("string:{}", db.display()),
            &format!("string:{KEEPASSXC_PASSWORD}"),
        ]);
        assert!(
            out.success(),
            "openDatabase failed: {out:?}\n{}",
            self.logs()
        );
        let deadline = Instant::now() + self.ready_timeout();
        while self.default_alias().as_deref() != Some(KEEPASSXC_SECOND_COLLECTION) {
            assert!(
                Instant::now() < deadline,
                "the default alias is {:?}, not the second database, after openDatabase\n{}",
                self.default_alias(),
                self.logs()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// A database at `db`: a copy of the one this test process made with
    /// `scripts/keepassxc-test-db.py` ([`keepassxc_template`]). KeePassXC names a collection
    /// after its file, so the copies differ only where it matters.
    fn make_keepassxc_database(&self, db: &Path) {
        fs::create_dir_all(db.parent().expect("database dir")).expect("create keepassxc dir");
        fs::copy(keepassxc_template(), db).expect("copy the KeePassXC test database");
    }

    /// How long the provider may take to come up, lock or unlock.
    fn ready_timeout(&self) -> Duration {
        match self.provider {
            Provider::KeePassXC => KEEPASSXC_READY_TIMEOUT,
            Provider::KWallet => KWALLET_READY_TIMEOUT,
            _ => READY_TIMEOUT,
        }
    }

    /// The object path of the collection keys are stored in: gnome-keyring's `login`,
    /// KeePassXC's `fluxloop.kdbx`, or KWallet's `kdewallet`.
    pub fn collection(&self) -> &'static str {
        match self.provider {
            Provider::KeePassXC => KEEPASSXC_COLLECTION,
            Provider::KWallet => KWALLET_COLLECTION,
            _ => LOGIN_COLLECTION,
        }
    }

    /// The KeePassXC database file of [`SecretService::start_keepassxc`].
    pub fn keepassxc_database(&self) -> PathBuf {
        self.dir.path().join("keepassxc").join("fluxloop.kdbx")
    }

    /// `Some(locked)` for the collection keys are stored in ([`SecretService::collection`]),
    /// `None` if it does not exist (or there is no Secret Service).
    pub fn login_locked(&self) -> Option<bool> {
        let out = self.dbus_send(&[
            "--dest=org.freedesktop.secrets",
            self.collection(),
            "org.freedesktop.DBus.Properties.Get",
            "string:org.freedesktop.Secret.Collection",
            "string:Locked",
        ]);
        if !out.success() {
            return None;
        }
        if out.stdout.contains("boolean true") {
            Some(true)
        } else if out.stdout.contains("boolean false") {
            Some(false)
        } else {
            panic!("unexpected reply to Get(Locked): {out:?}")
        }
    }

    /// A command with a cleared environment plus PATH, HOME/XDG_* (inside our temp dir),
    /// `LC_ALL=C.UTF-8`, our bus address, and [`SecretService::system_root`] as the root that
    /// fluxloop's machine detection looks at.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", path_var())
            .env("LC_ALL", "C.UTF-8")
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("FLUXLOOP_DEBUG_SYSTEM_ROOT", self.system_root());
        for (k, v) in self.home_envs() {
            cmd.env(k, v);
        }
        cmd
    }

    /// Run `secret-tool <args>` against this instance, with [`COMMAND_TIMEOUT`].
    pub fn secret_tool(&self, args: &[&str], stdin: Option<&str>) -> Finished {
        let run = || {
            run_with_timeout(
                self.command("secret-tool").args(args),
                stdin.map(str::as_bytes),
                COMMAND_TIMEOUT,
            )
        };
        let mut out = run();
        // kwalletd 5.103 cannot use about one encrypted session in 60 that libsecret opens
        // (docs/design.md, "KWallet's encrypted sessions"): a fault of the test's tool and
        // KWallet, not of fluxloop, and each run opens a fresh session, so the tool asks again.
        // A lookup whose secret did not decrypt finds "nothing" without a word, so on KWallet a
        // lookup that finds nothing is asked again too (an absent item costs a few runs).
        let lookup = args.first() == Some(&"lookup");
        for _ in 0..KWALLET_SESSION_TRIES {
            let silent_miss = lookup && !out.success() && out.stdout.is_empty();
            if self.provider != Provider::KWallet
                || !(kwallet_session_fault(&out.stderr) || silent_miss)
            {
                break;
            }
            out = run();
        }
        out
    }

    /// All items whose `service` attribute is `service`, sorted by attributes then label.
    /// Panics if `secret-tool` fails (e.g. no Secret Service).
    pub fn items(&self, service: &str) -> Vec<Item> {
        self.search(service)
            .unwrap_or_else(|out| panic!("secret-tool search failed: {out:?}\n{}", self.logs()))
    }

    /// [`SecretService::items`], or what secret-tool said when it failed (no Secret Service).
    pub fn search(&self, service: &str) -> Result<Vec<Item>, Finished> {
        self.search_where(&[("service", service)])
    }

    /// Every item with all of these attributes (`secret-tool search --all a1 v1 a2 v2 …`),
    /// or what secret-tool said when it failed.
    pub fn search_where(&self, attributes: &[(&str, &str)]) -> Result<Vec<Item>, Finished> {
        let mut cmd = self.command("secret-tool");
        cmd.args(["search", "--all"]);
        for (name, value) in attributes {
            cmd.args([name, value]);
        }
        // Attributes go to stderr, everything else to stdout; both are flushed per line,
        // so one shared pipe keeps them in order.
        let mut out = run(&mut cmd, None, COMMAND_TIMEOUT, true);
        // See `secret_tool`: a secret that did not decrypt is left out, with libsecret's word.
        for _ in 0..KWALLET_SESSION_TRIES {
            if self.provider != Provider::KWallet || !kwallet_session_fault(&out.stdout) {
                break;
            }
            out = run(&mut cmd, None, COMMAND_TIMEOUT, true);
        }
        if !out.success() {
            return Err(out);
        }
        let mut items = parse_search_output(&out.stdout);
        items.sort_by(|a, b| (&a.attributes, &a.label).cmp(&(&b.attributes, &b.label)));
        Ok(items)
    }

    /// `secret-tool lookup service <service> username <user>`: `Some(secret)` if found.
    pub fn lookup(&self, service: &str, user: &str) -> Option<String> {
        let out = self.secret_tool(&["lookup", "service", service, "username", user], None);
        assert!(
            !out.timed_out(),
            "secret-tool lookup timed out\n{}",
            self.logs()
        );
        out.success().then_some(out.stdout)
    }

    /// Plant an entry the way the CLI (keyring crate) would: attributes `service` and
    /// `username`, label `keyring:<user>@<service>`, in the default collection.
    pub fn store(&self, service: &str, user: &str, secret: &str) {
        let label = format!("--label=keyring:{user}@{service}");
        let saved_before = self.keepassxc_saved_at();
        let out = self.secret_tool(
            &["store", &label, "service", service, "username", user],
            Some(secret),
        );
        assert!(
            out.success(),
            "secret-tool store failed: {out:?}\n{}",
            self.logs()
        );
        self.wait_until_keepassxc_saved(saved_before);
        self.wait_until_kwallet_serves(&["service", service, "username", user], secret);
    }

    /// Plant an item the way another program might: `label`, then these attributes (`service`
    /// and `username` among them, or not), in the default collection.
    pub fn store_with(&self, label: &str, attributes: &[(&str, &str)], secret: &str) {
        let label = format!("--label={label}");
        let mut args = vec!["store", label.as_str()];
        for (name, value) in attributes {
            args.extend([*name, *value]);
        }
        let saved_before = self.keepassxc_saved_at();
        let out = self.secret_tool(&args, Some(secret));
        assert!(
            out.success(),
            "secret-tool store failed: {out:?}\n{}",
            self.logs()
        );
        self.wait_until_keepassxc_saved(saved_before);
        let attrs: Vec<&str> = attributes.iter().flat_map(|(n, v)| [*n, *v]).collect();
        self.wait_until_kwallet_serves(&attrs, secret);
    }

    /// kwalletd answers `CreateItem` before a lookup by the same attributes finds the item
    /// (seen once in CI): a test that plants an item waits until it can be read back.
    fn wait_until_kwallet_serves(&self, attributes: &[&str], secret: &str) {
        if self.provider != Provider::KWallet {
            return;
        }
        let mut args = vec!["lookup"];
        args.extend_from_slice(attributes);
        let deadline = Instant::now() + self.ready_timeout();
        loop {
            let out = self.secret_tool(&args, None);
            if out.success() && out.stdout == secret {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "KWallet did not serve the planted item within {:?}: {out:?}\n{}",
                self.ready_timeout(),
                self.logs()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// When KeePassXC last wrote its database file (`None` for other providers).
    fn keepassxc_saved_at(&self) -> Option<std::time::SystemTime> {
        if self.provider != Provider::KeePassXC {
            return None;
        }
        fs::metadata(self.keepassxc_database())
            .and_then(|m| m.modified())
            .ok()
    }

    /// KeePassXC saves a change to its file a moment after the D-Bus call that made it returns,
    /// and a database locked before that moment loses the change. An item is several changes
    /// (the entry, then its attributes and secret), each saved in turn, so a test that plants an
    /// item and then locks waits here until the file has changed and then stayed unchanged for
    /// [`KEEPASSXC_SETTLE`].
    fn wait_until_keepassxc_saved(&self, before: Option<std::time::SystemTime>) {
        let Some(before) = before else { return };
        let deadline = Instant::now() + self.ready_timeout();
        let mut last = before;
        let mut unchanged_since = Instant::now();
        loop {
            let now = self.keepassxc_saved_at().unwrap_or(before);
            if now != last {
                last = now;
                unchanged_since = Instant::now();
            } else if last != before && unchanged_since.elapsed() >= KEEPASSXC_SETTLE {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "KeePassXC did not save the new item within {:?}\n{}",
                self.ready_timeout(),
                self.logs()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The daemons' logs, for panic messages.
    pub fn logs(&self) -> String {
        let read = |name: &str| fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        let provider = match self.provider {
            Provider::KeePassXC => "keepassxc",
            Provider::KWallet => "kwalletd5",
            _ => "gnome-keyring-daemon",
        };
        format!(
            "--- dbus-daemon log ---\n{}--- {provider} log ---\n{}",
            read("dbus.log"),
            read("keyring.log")
        )
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn runtime_dir(&self) -> PathBuf {
        self.dir.path().join("runtime")
    }

    fn home_envs(&self) -> Vec<(&'static str, PathBuf)> {
        let home = self.home();
        vec![
            ("HOME", home.clone()),
            ("XDG_DATA_HOME", home.join(".local/share")),
            ("XDG_CONFIG_HOME", home.join(".config")),
            ("XDG_CACHE_HOME", home.join(".cache")),
            ("XDG_RUNTIME_DIR", self.runtime_dir()),
        ]
    }

    fn dbus_send(&self, args: &[&str]) -> Finished {
        run_with_timeout(
            self.command("dbus-send")
                .args(["--session", "--print-reply", "--type=method_call"])
                .args(args),
            None,
            COMMAND_TIMEOUT,
        )
    }

    fn secrets_name_has_owner(&self) -> bool {
        let out = self.dbus_send(&[
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            "string:org.freedesktop.secrets",
        ]);
        assert!(
            out.success(),
            "NameHasOwner failed: {out:?}\n{}",
            self.logs()
        );
        out.stdout.contains("boolean true")
    }

    /// Starts the daemons; a start-up that fails (gnome-keyring has been seen to die while
    /// starting on a heavily loaded machine) is retried with fresh daemons, twice at most, so
    /// such a failure is reported only when it is not a fluke.
    fn launch(keyring: Keyring) -> Self {
        const ATTEMPTS: u32 = 3;
        for attempt in 1..ATTEMPTS {
            // Unwinding drops the half-started instance, which kills its daemons.
            match std::panic::catch_unwind(|| Self::launch_once(keyring)) {
                Ok(ss) => return ss,
                Err(_) => {
                    #[allow(clippy::print_stderr)]
                    {
                        eprintln!("secret service start-up failed (attempt {attempt}); retrying");
                    }
                }
            }
        }
        Self::launch_once(keyring)
    }

    /// A fresh temporary directory with `bus`, `home` and `runtime` (mode 0700) in it.
    fn make_dir() -> tempfile::TempDir {
        let dir = tempfile::Builder::new()
            .prefix("fluxloop-ss-")
            .tempdir()
            .expect("create temp dir for the Secret Service");
        let root = dir.path().to_owned();
        let root_str = root.to_str().unwrap_or_default();
        assert!(
            !root_str.is_empty()
                && root_str
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c)),
            "temp dir path {root:?} needs escaping in a D-Bus address; set TMPDIR to a plain path"
        );
        for d in ["bus", "home", "runtime"] {
            fs::create_dir(root.join(d)).expect("create dir in temp dir");
        }
        fs::set_permissions(root.join("runtime"), fs::Permissions::from_mode(0o700))
            .expect("chmod runtime dir");
        dir
    }

    fn launch_once(keyring: Keyring) -> Self {
        let dir = Self::make_dir();
        let root = dir.path().to_owned();
        let bus_dir = root.join("bus");
        let config = root.join("bus.conf");
        fs::write(&config, bus_config(&bus_dir)).expect("write bus config");

        let mut dbus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--nopidfile", "--print-address=1"])
            .env_clear()
            .env("PATH", path_var())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file(&root, "dbus.log"))
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run dbus-daemon ({e}); install the Debian package `dbus`")
            });
        let stdout = dbus.stdout.take().expect("dbus-daemon stdout");
        let mut ss = SecretService {
            dir,
            address: String::new(),
            dbus: Some(dbus),
            keyring: None,
            display: None,
            display_name: None,
            watchdog: None,
            provider: match keyring {
                Keyring::None => Provider::None,
                Keyring::KeePassXC
                | Keyring::KeePassXCConfirmingAccess
                | Keyring::KeePassXCConfirmingAccessOnDisplay => Provider::KeePassXC,
                Keyring::KWallet | Keyring::KWalletWithoutWallet => Provider::KWallet,
                Keyring::Unlocked | Keyring::WithoutLogin => Provider::GnomeKeyring,
            },
        };
        // From here on a panic drops `ss`, which kills whatever was started.
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        ss.address = match rx.recv_timeout(READY_TIMEOUT) {
            Ok(line) if line.starts_with("unix:") => line.trim().to_owned(),
            other => panic!(
                "dbus-daemon did not print its address (got {other:?})\n{}",
                ss.logs()
            ),
        };

        if keyring == Keyring::KWallet {
            ss.start_kwallet_process();
        } else if keyring == Keyring::KWalletWithoutWallet {
            ss.start_kwallet_without_wallet_process();
        } else if keyring == Keyring::KeePassXC {
            ss.start_keepassxc_process(KEEPASSXC_INI);
        } else if keyring == Keyring::KeePassXCConfirmingAccess {
            let ini = KEEPASSXC_INI.replace("ConfirmAccessItem=false", "ConfirmAccessItem=true");
            ss.start_keepassxc_process(&ini);
        } else if keyring == Keyring::KeePassXCConfirmingAccessOnDisplay {
            ss.start_display();
            let ini = KEEPASSXC_INI.replace("ConfirmAccessItem=false", "ConfirmAccessItem=true");
            ss.start_keepassxc_process(&ini);
        } else if keyring != Keyring::None {
            let unlock = keyring == Keyring::Unlocked;
            ss.spawn_gnome_keyring(unlock);
            ss.wait_until_ready(unlock);
        }
        ss.watchdog = Some(ss.spawn_watchdog());
        ss
    }

    /// Starts gnome-keyring-daemon on our bus (`unlock`: with the login password on stdin).
    fn spawn_gnome_keyring(&mut self, unlock: bool) {
        let log = log_file(self.dir.path(), "keyring.log");
        let mut cmd = Command::new("gnome-keyring-daemon");
        cmd.args(["--foreground", "--components=secrets"]);
        if unlock {
            // Reads the password from stdin, creates the `login` collection if needed,
            // unlocks it and makes it the default.
            cmd.arg("--unlock");
        }
        cmd.env_clear()
            .env("PATH", path_var())
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .envs(self.home_envs())
            .stdin(if unlock {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(log.try_clone().expect("dup log file"))
            .stderr(log);
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot run gnome-keyring-daemon ({e}); install the Debian package \
                 `gnome-keyring`"
            )
        });
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(LOGIN_PASSWORD.as_bytes())
                .expect("write password to gnome-keyring-daemon");
        }
        self.keyring = Some(child);
    }

    /// SIGKILL gnome-keyring: the bus name is released and calls fail at once. Its items are
    /// on disk; [`SecretService::restart_daemon`] brings them back.
    pub fn kill_daemon(&mut self) {
        let mut child = self
            .keyring
            .take()
            .expect("kill_daemon: this variant runs no gnome-keyring");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts gnome-keyring again after [`SecretService::kill_daemon`], on the same files,
    /// unlocked, and waits until it answers.
    pub fn restart_daemon(&mut self) {
        assert!(self.keyring.is_none(), "restart_daemon: it still runs");
        self.spawn_gnome_keyring(true);
        self.wait_until_ready(true);
        // The watchdog kills what it was given at start: give it the new daemon.
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        self.watchdog = Some(self.spawn_watchdog());
    }

    /// Makes the database and configuration, starts KeePassXC on our bus with the password on
    /// stdin, and waits until its collection is the unlocked `default`.
    fn start_keepassxc_process(&mut self, ini: &str) {
        let root = self.dir.path().to_owned();
        let db = self.keepassxc_database();
        self.make_keepassxc_database(&db);
        let config_dir = self.home().join(".config/keepassxc");
        fs::create_dir_all(&config_dir).expect("create keepassxc config dir");
        fs::write(config_dir.join("keepassxc.ini"), ini).expect("write keepassxc.ini");

        let log = log_file(&root, "keyring.log");
        let mut cmd = Command::new("keepassxc");
        cmd.env_clear();
        match &self.display_name {
            Some(display) => cmd.env("QT_QPA_PLATFORM", "xcb").env("DISPLAY", display),
            None => cmd.env("QT_QPA_PLATFORM", "offscreen"),
        };
        let mut child = cmd
            .arg("--pw-stdin")
            .arg(&db)
            .env("PATH", path_var())
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("LC_ALL", "C.UTF-8")
            .envs(self.home_envs())
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("dup log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run keepassxc ({e}); install the Debian package `keepassxc`")
            });
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(format!("{KEEPASSXC_PASSWORD}\n").as_bytes())
                .expect("write password to keepassxc");
        }
        self.keyring = Some(child);

        let started = Instant::now();
        loop {
            if self.secrets_name_has_owner()
                && self.default_alias().as_deref() == Some(KEEPASSXC_COLLECTION)
                && self.login_locked() == Some(false)
            {
                return;
            }
            let child = self.keyring.as_mut().expect("keepassxc child");
            if let Ok(Some(status)) = child.try_wait() {
                panic!("keepassxc exited early ({status})\n{}", self.logs());
            }
            assert!(
                started.elapsed() < KEEPASSXC_READY_TIMEOUT,
                "keepassxc not ready after {KEEPASSXC_READY_TIMEOUT:?} (waiting for an unlocked \
                 {KEEPASSXC_COLLECTION} as the default alias)\n{}",
                self.logs()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Starts Xvfb on a free display (it writes the number it chose to `-displayfd`).
    fn start_display(&mut self) {
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-nolisten",
                "tcp",
                "-screen",
                "0",
                "1024x768x24",
            ])
            .env_clear()
            .env("PATH", path_var())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file(self.dir.path(), "xvfb.log"))
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run Xvfb ({e}); install the Debian packages `xvfb` and `xdotool`")
            });
        let stdout = child.stdout.take().expect("Xvfb stdout");
        self.display = Some(child);
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        match rx.recv_timeout(KEEPASSXC_READY_TIMEOUT) {
            Ok(line) if !line.trim().is_empty() => {
                self.display_name = Some(format!(":{}", line.trim()));
            }
            other => panic!("Xvfb did not say its display (got {other:?})"),
        }
    }

    /// Starts kwalletd5 on our bus with its wallet open (see the module docs) and waits until
    /// the wallet's collection is the unlocked `default`.
    fn start_kwallet_process(&mut self) {
        let config_dir = self.home().join(".config");
        fs::create_dir_all(&config_dir).expect("create config dir");
        fs::write(config_dir.join("kwalletrc"), KWALLETRC).expect("write kwalletrc");
        let wallet_dir = self.home().join(".local/share/kwalletd");
        let wallet = wallet_dir.join("kdewallet.kwl");
        match KWALLET_TEMPLATE.get() {
            Some(bytes) => {
                fs::create_dir_all(&wallet_dir).expect("create kwalletd dir");
                fs::write(&wallet, bytes).expect("write the KWallet test wallet");
            }
            None => {
                // First start on a fresh home: kwalletd5 creates the wallet, then must be
                // started again before it serves it.
                self.spawn_kwalletd();
                self.wait_for_kwallet(|_| wallet.metadata().is_ok_and(|m| m.len() > 0));
                self.stop_kwalletd();
            }
        }
        self.spawn_kwalletd();
        self.wait_for_kwallet(|ss| {
            ss.secrets_name_has_owner()
                && ss.default_alias().as_deref() == Some(KWALLET_COLLECTION)
                && ss.kwallet_open()
        });
        if let Ok(bytes) = fs::read(&wallet) {
            let _ = KWALLET_TEMPLATE.set(bytes);
        }
    }

    /// Starts kwalletd5 on our bus as a desktop's first D-Bus call would, not at a login: it
    /// opens no wallet, and has none to open. Waits until it serves the Secret Service.
    fn start_kwallet_without_wallet_process(&mut self) {
        let config_dir = self.home().join(".config");
        fs::create_dir_all(&config_dir).expect("create config dir");
        fs::write(config_dir.join("kwalletrc"), KWALLETRC).expect("write kwalletrc");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("keyring.log"))
            .expect("open kwalletd log");
        let child = Command::new("kwalletd5")
            .env_clear()
            .env("PATH", path_var())
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("QT_QPA_PLATFORM", "offscreen")
            .env("LC_ALL", "C.UTF-8")
            .envs(self.home_envs())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run kwalletd5 ({e})"));
        self.keyring = Some(child);
        self.wait_for_kwallet(|ss| ss.secrets_name_has_owner());
    }

    fn spawn_kwalletd(&mut self) {
        let launcher =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kwalletd-test-launch.py");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("keyring.log"))
            .expect("open kwalletd log");
        let child = Command::new("python3")
            .arg(&launcher)
            .env_clear()
            .env("PATH", path_var())
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("QT_QPA_PLATFORM", "offscreen")
            .env("LC_ALL", "C.UTF-8")
            .env(
                "PAM_KWALLET5_LOGIN",
                self.runtime_dir().join("kwallet5.socket"),
            )
            .envs(self.home_envs())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run python3 {} ({e})", launcher.display()));
        self.keyring = Some(child);
    }

    /// Waits until `ready`, failing if kwalletd5 exits or takes longer than
    /// [`KWALLET_READY_TIMEOUT`].
    fn wait_for_kwallet(&mut self, ready: impl Fn(&Self) -> bool) {
        let started = Instant::now();
        while !ready(self) {
            let child = self.keyring.as_mut().expect("kwalletd child");
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "kwalletd5 exited early ({status}); it needs the Debian packages                      `libkf5wallet-bin` and `libqca-qt5-2-plugins`\n{}",
                    self.logs()
                );
            }
            assert!(
                started.elapsed() < KWALLET_READY_TIMEOUT,
                "kwalletd5 not ready after {KWALLET_READY_TIMEOUT:?} (waiting for an open \
                 {KWALLET_COLLECTION} as the default alias)\n{}",
                self.logs()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Whether kwalletd5 has its wallet open (its own interface, `org.kde.KWallet.isOpen`).
    /// The Secret Service's `Locked` says `true` until a client's `Unlock` (whose prompt an
    /// open wallet completes with no dialog), so it cannot tell.
    pub fn kwallet_open(&self) -> bool {
        let out = self.dbus_send(&[
            "--dest=org.kde.kwalletd5",
            "/modules/kwalletd5",
            "org.kde.KWallet.isOpen",
            "string:kdewallet",
        ]);
        out.success() && out.stdout.contains("boolean true")
    }

    /// SIGKILLs kwalletd5 and waits until its name is off the bus.
    fn stop_kwalletd(&mut self) {
        if let Some(mut child) = self.keyring.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + KWALLET_READY_TIMEOUT;
        while self.secrets_name_has_owner() {
            assert!(
                Instant::now() < deadline,
                "kwalletd5 still on the bus after SIGKILL"
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// The object path the `default` alias names (`/` for none), or `None` if the call failed.
    pub fn default_alias(&self) -> Option<String> {
        let out = self.dbus_send(&[
            "--dest=org.freedesktop.secrets",
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service.ReadAlias",
            "string:default",
        ]);
        if !out.success() {
            return None;
        }
        let (_, rest) = out.stdout.split_once("object path \"")?;
        rest.split_once('"').map(|(path, _)| path.to_owned())
    }

    /// Wait until gnome-keyring owns `org.freedesktop.secrets` (and, if `unlock`, until the
    /// `login` collection exists unlocked).
    fn wait_until_ready(&mut self, unlock: bool) {
        let started = Instant::now();
        loop {
            let ready = if unlock {
                self.login_locked() == Some(false)
            } else {
                self.secrets_name_has_owner()
            };
            if ready {
                return;
            }
            let keyring = self.keyring.as_mut().expect("keyring child");
            if let Ok(Some(status)) = keyring.try_wait() {
                panic!(
                    "gnome-keyring-daemon exited early ({status})\n{}",
                    self.logs()
                );
            }
            if started.elapsed() > READY_TIMEOUT {
                panic!(
                    "gnome-keyring-daemon not ready after {READY_TIMEOUT:?} \
                     (waiting for {})\n{}",
                    if unlock {
                        "an unlocked login collection"
                    } else {
                        "the name org.freedesktop.secrets"
                    },
                    self.logs()
                );
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// `sh` that SIGKILLs the daemons and removes the temp dir when its stdin (held by us,
    /// close-on-exec) reaches EOF, i.e. when this process dies without running `Drop`.
    fn spawn_watchdog(&self) -> Child {
        const SCRIPT: &str = r#"read -r line
dir=$1; shift
kill -s KILL "$@" 2>/dev/null
rm -rf -- "$dir" 2>/dev/null || { sleep 1; rm -rf -- "$dir"; }"#;
        let mut pids: Vec<String> = self.dbus.iter().map(|c| c.id().to_string()).collect();
        pids.extend(self.keyring_pid().map(|p| p.to_string()));
        pids.extend(self.display.iter().map(|c| c.id().to_string()));
        Command::new("sh")
            .args(["-c", SCRIPT, "fluxloop-secret-service-watchdog"])
            .arg(self.dir.path())
            .args(pids)
            .env_clear()
            .env("PATH", path_var())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn watchdog sh")
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        // Watchdog first, so it cannot kill a recycled pid later.
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        if let Some(mut keyring) = self.keyring.take() {
            // SIGKILL also ends a stopped process; SIGCONT anyway so nothing lingers stopped.
            if process_state(keyring.id()) == Some('T') {
                signal(keyring.id(), "CONT");
            }
            let _ = keyring.kill();
            let _ = keyring.wait();
        }
        if let Some(mut dbus) = self.dbus.take() {
            let _ = dbus.kill();
            let _ = dbus.wait();
        }
        if let Some(mut display) = self.display.take() {
            let _ = display.kill();
            let _ = display.wait();
        }
        // `dir` is removed when the TempDir field drops.
    }
}

/// Run `cmd` with `stdin` (or /dev/null), capturing stdout and stderr; SIGKILL it once
/// `timeout` has passed (then `status` is `None`). Never blocks much longer than `timeout`.
pub fn run_with_timeout(cmd: &mut Command, stdin: Option<&[u8]>, timeout: Duration) -> Finished {
    run(cmd, stdin, timeout, false)
}

fn run(cmd: &mut Command, stdin: Option<&[u8]>, timeout: Duration, merge: bool) -> Finished {
    let started = Instant::now();
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let merged_reader = if merge {
        let (reader, writer) = std::io::pipe().expect("create pipe");
        cmd.stdout(writer.try_clone().expect("dup pipe"))
            .stderr(writer);
        Some(reader)
    } else {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        None
    };
    let spawned = cmd.spawn();
    // Drop the Command's copies of the pipe's write end, or we would never see EOF.
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = spawned.unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let bytes = bytes.to_vec();
        thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    let stdout = match merged_reader {
        Some(reader) => read_in_background(reader),
        None => read_in_background(child.stdout.take().expect("stdout")),
    };
    let stderr = (!merge).then(|| read_in_background(child.stderr.take().expect("stderr")));

    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(2)),
            Err(e) => panic!("waiting for {:?}: {e}", cmd.get_program()),
        }
    };
    // A grandchild may still hold the pipes; don't wait for it for long.
    let collect = |rx: mpsc::Receiver<Vec<u8>>| {
        rx.recv_timeout(Duration::from_secs(1))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|_| "<output unavailable: pipe still held open>".to_owned())
    };
    Finished {
        status,
        stdout: collect(stdout),
        stderr: stderr.map(collect).unwrap_or_default(),
        elapsed: started.elapsed(),
    }
}

fn read_in_background(mut source: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = source.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// Parse the (stdout+stderr merged) output of `secret-tool search --all`:
///
/// ```text
/// [/1]
/// label = keyring:dev@fluxloop
/// secret = s3cret                  (absent if locked; may span lines)
/// created = 2026-11-26 15:48:54
/// modified = 2026-11-26 15:48:54
/// schema = org.freedesktop.Secret.Generic   (only sometimes; ignored)
/// attribute.service = fluxloop     (from stderr)
/// attribute.username = dev         (from stderr)
/// ```
///
/// plus `secret-tool: <message>` lines (e.g. for locked items), which are skipped.
/// A secret containing a newline is read up to the following `created = ` line.
pub fn parse_search_output(output: &str) -> Vec<Item> {
    let mut items: Vec<Item> = Vec::new();
    let mut in_secret = false;
    let bad = |line: &str| -> ! {
        panic!("unexpected line {line:?} in secret-tool search output:\n{output}")
    };
    for line in output.lines() {
        if in_secret {
            if !line.starts_with("created = ") {
                let secret = items.last_mut().and_then(|i| i.secret.as_mut());
                let secret = secret.expect("secret being read");
                secret.push('\n');
                secret.push_str(line);
                continue;
            }
            in_secret = false;
        }
        if line.starts_with("secret-tool: ") {
            continue;
        }
        if let Some(path) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            items.push(Item {
                path: path.to_owned(),
                label: String::new(),
                secret: None,
                attributes: BTreeMap::new(),
            });
            continue;
        }
        let Some(item) = items.last_mut() else {
            bad(line)
        };
        if let Some(label) = line.strip_prefix("label = ") {
            item.label = label.to_owned();
        } else if let Some(secret) = line.strip_prefix("secret = ") {
            item.secret = Some(secret.to_owned());
            in_secret = true;
        } else if let Some(attr) = line.strip_prefix("attribute.") {
            let Some((key, value)) = attr.split_once(" = ") else {
                bad(line)
            };
            item.attributes.insert(key.to_owned(), value.to_owned());
        } else if !["created = ", "modified = ", "schema = "]
            .iter()
            .any(|p| line.starts_with(p))
        {
            bad(line);
        }
    }
    items
}

/// The KeePassXC database every [`SecretService::start_keepassxc`] of this test process copies,
/// made once by `scripts/keepassxc-test-db.py` (python3 with pykeepass: about 1 s of CPU, too
/// much to spend per test on 2 shared cores). Made in each test run, never kept in the
/// repository.
fn keepassxc_template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let db = dir.join("keepassxc-template.kdbx");
        // Made under a name of its own, then renamed: another test binary may be copying it.
        let fresh = dir.join(format!("keepassxc-template-{}.kdbx", std::process::id()));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/keepassxc-test-db.py");
        let made = run_with_timeout(
            Command::new("python3")
                .arg(&script)
                .arg(&fresh)
                .env_clear()
                .env("PATH", path_var())
                .env("LC_ALL", "C.UTF-8"),
            Some(format!("{KEEPASSXC_PASSWORD}\n").as_bytes()),
            KEEPASSXC_READY_TIMEOUT,
        );
        assert!(
            made.success(),
            "cannot make the KeePassXC test database with {} (needs python3 and \
             `pip install pykeepass`): {made:?}",
            script.display()
        );
        fs::rename(&fresh, &db).expect("rename the KeePassXC test database");
        db
    })
}

/// KeePassXC's settings for the tests: its Secret Service on, one instance per bus, and nothing
/// that would need a person (notifications, confirmations, an unlock prompt on search).
/// How long KeePassXC's database file must stay unchanged after a save before a planted item
/// counts as saved (see `wait_until_keepassxc_saved`).
const KEEPASSXC_SETTLE: Duration = Duration::from_millis(500);

const KEEPASSXC_INI: &str = "[General]
SingleInstance=false

[FdoSecrets]
Enabled=true
ShowNotification=false
ConfirmAccessItem=false
ConfirmDeleteItem=false
UnlockBeforeSearch=false
";

/// The wallet file the first [`SecretService::start_kwallet`] of this test process made (an
/// empty wallet whose key is the launcher's all-zero hash); later instances start from a copy,
/// which saves a start of kwalletd5 each.
static KWALLET_TEMPLATE: OnceLock<Vec<u8>> = OnceLock::new();

/// KWallet's settings for the tests: the Secret Service on, one wallet that stays open, and
/// nothing that would need a person (first-use wizard, prompt on open).
const KWALLETRC: &str = "[org.freedesktop.secrets]
apiEnabled=true

[Wallet]
Enabled=true
First Use=false
Use One Wallet=true
Default Wallet=kdewallet
Close When Idle=false
Prompt on Open=false
Leave Open=true
";

fn bus_config(listen_dir: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<!-- Private session bus for one test: no service directories, so nothing is ever
     auto-activated. -->
<busconfig>
  <type>session</type>
  <listen>unix:dir={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
        listen_dir.display()
    )
}

fn log_file(dir: &Path, name: &str) -> File {
    File::create(dir.join(name)).expect("create log file")
}

fn path_var() -> OsString {
    std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into())
}

/// Send SIGSTOP/SIGCONT/... via the shell's `kill` builtin (no extra crates needed).
fn signal(pid: u32, name: &str) {
    let out = run_with_timeout(
        Command::new("sh")
            .args(["-c", r#"kill -s "$0" "$1""#, name, &pid.to_string()])
            .env_clear()
            .env("PATH", path_var()),
        None,
        COMMAND_TIMEOUT,
    );
    assert!(
        out.success() || name == "CONT",
        "kill -s {name} {pid} failed: {out:?}"
    );
}

/// The state letter from /proc/<pid>/stat (`R`, `S`, `T`, `Z`, ...).
fn process_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ..." — comm may contain spaces and parentheses.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}
