//! Deterministic crash points (issue 11, part 1): each command runs once with
//! `FLUXLOOP_DEBUG_CRASH_TRACE` to count its steps (every keychain call, every file operation of
//! the atomic write, every HTTP request; src/crash_points.rs), then once per step with
//! `FLUXLOOP_DEBUG_CRASH_AT=N`, which SIGKILLs it just before step N. After each kill:
//! * the credentials file parses;
//! * no plaintext key is on disk where there was none before;
//! * every profile is wholly as before the command or wholly as after it (its metadata and its
//!   keychain entry), or else the next run of the same command repairs it and says so;
//! * after that next run the state is the uninterrupted run's, and no temp file is left.
//!
//! Every kill point is enumerated and taken, `logout --all` with 50 profiles included (on
//! gnome-keyring its deletions are batches, one step each); a case not marked small would be
//! thinned out to every 4th point and the file's write (`FLUXLOOP_CRASH_STRIDE`, 1 in
//! scripts/reliability).
//! With `FLUXLOOP_CRASH_TALLY=<file>` each command appends `<command>\t<points>\t<runs>` there,
//! for the figures in docs/reliability.md.
//!
//! The kernel keyring's cases run every command, killed or not, and read the kernel keys inside
//! one private user namespace ([`KernelKeyrings`]), each run in a fresh session keyring; the
//! keychain's private D-Bus session is reached from there as from outside.
#![allow(
    clippy::print_stderr,
    reason = "prints the figures of docs/reliability.md"
)]

mod common;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use common::env::{Platform, Run, SERVICE, TestEnv, keys, walk};
use common::kernel_keyring::KernelKeyrings;

/// A key in the keychain, compared whole but never printed.
#[derive(Clone, PartialEq, Eq)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A fingerprint that shows no piece of the key.
        let sum: u32 = self.0.bytes().map(u32::from).sum();
        write!(f, "<key of {} chars, sum {sum}>", self.0.len())
    }
}

/// One profile as a command sees it: what its metadata says, and what the keychain, its
/// encrypted key file and the kernel keyring hold.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ProfileState {
    /// account, key hint, storage and whether a plaintext key is in the file; `None`: no
    /// metadata.
    meta: Option<String>,
    secret: Option<Secret>,
    /// `--storage encrypted-file`: the key in `keys/<profile>.age`, opened with [`PASSPHRASE`].
    encrypted: Option<Secret>,
    /// `--storage keyutils`: the key `keyring:<profile>@fluxloop` a new login session reaches.
    kernel: Option<Secret>,
}

impl ProfileState {
    const ABSENT: ProfileState = ProfileState {
        meta: None,
        secret: None,
        encrypted: None,
        kernel: None,
    };
}

/// The passphrase of the encrypted-file cases.
const PASSPHRASE: &str = "correct-horse-battery-staple";

/// The key in an encrypted key file; a file the passphrase does not open fails the test.
fn open_key_file(path: &Path) -> Secret {
    use std::io::Read;
    let bytes = std::fs::read(path).unwrap();
    let decryptor = age::Decryptor::new_buffered(&bytes[..])
        .unwrap_or_else(|e| panic!("{} is not an age file after a kill: {e}", path.display()));
    let identity = age::scrypt::Identity::new(age::secrecy::SecretString::from(PASSPHRASE));
    let mut reader = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .unwrap_or_else(|e| panic!("{} does not open after a kill: {e}", path.display()));
    let mut key = String::new();
    reader
        .read_to_string(&mut key)
        .unwrap_or_else(|e| panic!("{} is torn after a kill: {e}", path.display()));
    Secret(key.trim().to_owned())
}

/// Everything a command may change: the profiles, and the file's own fields.
#[derive(Clone, Debug, PartialEq, Eq)]
struct World {
    profiles: BTreeMap<String, ProfileState>,
    /// `current_profile` and whether a top-level (legacy) key is present.
    top: String,
}

fn text_of(value: Option<&serde_json::Value>) -> String {
    match value {
        None | Some(serde_json::Value::Null) => "-".to_owned(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Reads the credentials file (which must parse), our keychain entries, key files and (in the
/// kernel keyring's cases) kernel keys.
fn world(env: &TestEnv, ctx: &Ctx) -> World {
    let file: serde_json::Value = match env.credentials() {
        None => serde_json::Value::Null,
        Some(text) => serde_saphyr::from_str(&text)
            .unwrap_or_else(|e| panic!("the credentials file does not parse after a kill: {e}")),
    };
    let mut profiles: BTreeMap<String, ProfileState> = BTreeMap::new();
    if let Some(map) = file.get("profiles").and_then(|p| p.as_object()) {
        for (name, p) in map {
            let meta = format!(
                "account={} hint={} storage={} plaintext={}",
                text_of(p.get("account")),
                text_of(p.get("key_hint")),
                text_of(p.get("storage")),
                p.get("api_key").is_some(),
            );
            profiles.insert(
                name.clone(),
                ProfileState {
                    meta: Some(meta),
                    ..ProfileState::ABSENT
                },
            );
        }
    }
    for item in env.keychain() {
        let name = item.attributes.get("username").cloned().unwrap_or_default();
        let entry = profiles.entry(name).or_insert(ProfileState::ABSENT);
        assert!(
            entry.secret.is_none(),
            "two keychain entries for one profile"
        );
        entry.secret = item.secret.map(Secret);
    }
    let keys_dir = env.fluxloop_dir().join("keys");
    for entry in std::fs::read_dir(&keys_dir).into_iter().flatten().flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(name) = file_name
            .strip_suffix(".age")
            .filter(|n| !n.starts_with('.'))
        else {
            continue;
        };
        let state = profiles
            .entry(name.to_owned())
            .or_insert(ProfileState::ABSENT);
        state.encrypted = Some(open_key_file(&entry.path()));
    }
    if let Some(kr) = &ctx.kernel {
        for (name, key) in kernel_keys(env, kr) {
            profiles.entry(name).or_insert(ProfileState::ABSENT).kernel = Some(key);
        }
    }
    World {
        profiles,
        top: format!(
            "current_profile={} legacy_key={}",
            text_of(file.get("current_profile")),
            file.get("api_key").is_some()
        ),
    }
}

/// Our kernel keys (`keyring:<profile>@fluxloop`) that a new login session of the namespace
/// reaches, by profile: read in the namespace, as fluxloop reads them.
fn kernel_keys(env: &TestEnv, kr: &KernelKeyrings) -> BTreeMap<String, Secret> {
    // One line per key: its description, a tab, its payload.
    let script = "for ring in \"$(keyctl get_persistent @s)\" @u; do \
            for id in $(keyctl rlist \"$ring\"); do \
                d=$(keyctl rdescribe \"$id\") || continue; \
                case \"$d\" in user\\;*) printf '%s\\t%s\\n' \"${d##*;}\" \"$(keyctl pipe \"$id\")\";; esac; \
            done; \
        done";
    let mut keys = BTreeMap::new();
    for line in kr.shell(env, script).lines() {
        let Some((description, payload)) = line.split_once('\t') else {
            continue;
        };
        let Some(name) = description
            .strip_prefix("keyring:")
            .and_then(|d| d.strip_suffix(&format!("@{SERVICE}")))
        else {
            continue;
        };
        let key = Secret(payload.trim().to_owned());
        if let Some(other) = keys.insert(name.to_owned(), key.clone()) {
            // One key linked into both keyrings is listed twice; two keys would be a fault.
            assert_eq!(other, key, "two kernel keys for profile {name}");
        }
    }
    keys
}

/// Deletes every entry of ours, the kernel keys and the credentials directory.
fn reset(env: &TestEnv, ctx: &Ctx) {
    let out = env.ss.secret_tool(&["clear", "service", SERVICE], None);
    assert!(out.success() || out.code() == Some(1), "{out:?}");
    let _ = std::fs::remove_dir_all(env.fluxloop_dir());
    assert!(env.keychain().is_empty());
    if let Some(kr) = &ctx.kernel {
        kr.shell(
            env,
            "keyctl clear \"$(keyctl get_persistent @s)\"; keyctl clear @u",
        );
        assert!(kernel_keys(env, kr).is_empty());
    }
}

/// Temp files of the credentials file's and the key files' atomic writes, in the credentials
/// directory and its `keys` folder.
fn temp_files(dir: &Path) -> Vec<String> {
    [dir.to_path_buf(), dir.join("keys")]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".credentials.tmp-") || n.contains(".age.tmp-"))
        .collect()
}

/// Files under HOME and TMPDIR that hold one of `keys` in plain text.
fn plaintext_files(env: &TestEnv, keys: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for root in [env.home(), env.tmp()] {
        for file in walk(&root) {
            let Ok(bytes) = std::fs::read(&file) else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes);
            if keys.iter().any(|k| text.contains(k.as_str())) {
                found.push(file.display().to_string());
            }
        }
    }
    found.sort();
    found
}

/// `n` well-formed keys the stand-in does not know (enough for commands that never ask it).
fn made_up_keys(n: usize) -> Vec<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    (0..n)
        .map(|i| {
            let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ (i as u64 + 1).wrapping_mul(0xBF58_476D);
            let secret: String = (0..32)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    ALPHABET[(state % ALPHABET.len() as u64) as usize] as char
                })
                .collect();
            format!("flux_dev_{secret}")
        })
        .collect()
}

/// Writes the credentials file by hand, as fluxloop would (0700 directory, 0600 file).
fn plant(env: &TestEnv, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    let dir = env.fluxloop_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(env.credentials_path(), text).unwrap();
    std::fs::set_permissions(
        env.credentials_path(),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
}

/// `n` profiles with their keys in the keychain: planted in the file, then moved by `migrate`
/// (one process for all of them).
fn keychain_profiles(env: &TestEnv, keys: &[String]) {
    let mut text = String::from("profiles:\n");
    for (i, key) in keys.iter().enumerate() {
        text.push_str(&format!(
            "  p{i:02}:\n    account: p{i:02}@example.com\n    storage: file\n    api_key: {key}\n"
        ));
    }
    plant(env, &text);
    env.run(&["auth", "migrate"]).assert_ok();
}

/// One command to kill at every step.
struct Case {
    name: &'static str,
    args: &'static [&'static str],
    stdin: Option<&'static str>,
    /// Brings a clean world (no file, no entries) to the state before the command, logging in
    /// (if it does) to the stand-in at the given URL.
    setup: fn(&TestEnv, &Ctx, &str),
    /// Keys that may be on disk before the command (migrate's plaintext).
    plaintext_before: bool,
    /// Run every kill point even under FLUXLOOP_CRASH_STRIDE.
    small: bool,
    /// Variables of every run of the case (setup excluded).
    envs: &'static [(&'static str, &'static str)],
}

/// What setups need: the made-up keys of the 50-profile and migrate cases, and the kernel
/// keyrings the kernel keyring's cases run in.
struct Ctx {
    many: Vec<String>,
    kernel: Option<KernelKeyrings>,
}

impl Ctx {
    fn new(kernel: Option<KernelKeyrings>) -> Self {
        Self {
            many: made_up_keys(53),
            kernel,
        }
    }

    /// `fluxloop args…`: in the kernel keyrings' namespace (a fresh login session) when the
    /// case has them, else as usual.
    fn run(&self, env: &TestEnv, args: &[&str], stdin: Option<&str>, envs: &[(&str, &str)]) -> Run {
        match &self.kernel {
            Some(kr) => kr.run_stdin(env, args, stdin, envs),
            None => env.run_with(args, stdin, envs),
        }
    }
}

fn login(env: &TestEnv, url: &str, key: &str, profile: &str) {
    env.run_with(
        &["auth", "login", "--profile", profile],
        Some(&format!("{key}\n")),
        &[("FLUXLOOP_API_URL", url)],
    )
    .assert_ok();
}

fn setup_nothing(_: &TestEnv, _: &Ctx, _: &str) {}

fn setup_one_encrypted(env: &TestEnv, _: &Ctx, url: &str) {
    env.run_with(
        &["auth", "login", "--storage", "encrypted-file"],
        Some(&format!("{}\n", keys::VALID)),
        &[
            ("FLUXLOOP_API_URL", url),
            ("FLUXLOOP_PASSPHRASE", PASSPHRASE),
        ],
    )
    .assert_ok();
}

fn setup_one(env: &TestEnv, _: &Ctx, url: &str) {
    login(env, url, keys::VALID, "default");
}

fn setup_one_kernel(env: &TestEnv, ctx: &Ctx, url: &str) {
    ctx.run(
        env,
        &["auth", "login", "--storage", "keyutils"],
        Some(&format!("{}\n", keys::VALID)),
        &[("FLUXLOOP_API_URL", url)],
    )
    .assert_ok();
}

fn setup_two(env: &TestEnv, _: &Ctx, url: &str) {
    login(env, url, keys::VALID, "default");
    login(env, url, keys::EXPIRING_SOON, "work");
}

fn setup_fifty(env: &TestEnv, ctx: &Ctx, _: &str) {
    keychain_profiles(env, &ctx.many[..50]);
}

fn setup_plaintext(env: &TestEnv, ctx: &Ctx, _: &str) {
    plant(
        env,
        &format!(
            "api_key: {}\nprofiles:\n  work:\n    account: work@example.com\n    storage: file\n    api_key: {}\n  ci:\n    account: ci@example.com\n    storage: file\n    api_key: {}\n",
            ctx.many[50], ctx.many[51], ctx.many[52]
        ),
    );
}

const CASES: &[Case] = &[
    Case {
        name: "login (new profile)",
        args: &["auth", "login", "--profile", "work"],
        stdin: Some(keys::VALID),
        setup: setup_nothing,
        plaintext_before: false,
        small: true,
        envs: &[],
    },
    Case {
        name: "login (rotation)",
        args: &["auth", "login"],
        stdin: Some(keys::EXPIRING_SOON),
        setup: setup_one,
        plaintext_before: false,
        small: true,
        envs: &[],
    },
    Case {
        name: "logout",
        args: &["auth", "logout", "--profile", "work"],
        stdin: None,
        setup: setup_two,
        plaintext_before: false,
        small: true,
        envs: &[],
    },
    Case {
        name: "logout --revoke",
        args: &["auth", "logout", "--revoke"],
        stdin: None,
        setup: setup_two,
        plaintext_before: false,
        small: true,
        envs: &[],
    },
    Case {
        name: "logout --all (50 profiles)",
        args: &["auth", "logout", "--all"],
        stdin: None,
        setup: setup_fifty,
        plaintext_before: false,
        // On gnome-keyring its deletions are two batches (two steps), not 50: 10 kill points.
        small: true,
        envs: &[],
    },
    Case {
        name: "migrate",
        args: &["auth", "migrate"],
        stdin: None,
        setup: setup_plaintext,
        plaintext_before: true,
        small: true,
        envs: &[],
    },
    Case {
        name: "switch",
        args: &["auth", "switch", "work"],
        stdin: None,
        setup: setup_two,
        plaintext_before: false,
        small: true,
        envs: &[],
    },
    Case {
        name: "migrate --to encrypted-file",
        args: &["auth", "migrate", "--to", "encrypted-file", "--all"],
        stdin: None,
        setup: setup_one,
        plaintext_before: false,
        small: true,
        envs: &[("FLUXLOOP_PASSPHRASE", PASSPHRASE)],
    },
    Case {
        name: "migrate encrypted-file --to keychain",
        args: &["auth", "migrate", "--to", "keychain", "--all"],
        stdin: None,
        setup: setup_one_encrypted,
        plaintext_before: false,
        small: true,
        envs: &[("FLUXLOOP_PASSPHRASE", PASSPHRASE)],
    },
    Case {
        name: "migrate --to keyutils",
        args: &["auth", "migrate", "--to", "keyutils", "--all"],
        stdin: None,
        setup: setup_one,
        plaintext_before: false,
        small: true,
        envs: &[],
    },
    Case {
        name: "migrate keyutils --to keychain",
        args: &["auth", "migrate", "--to", "keychain", "--all"],
        stdin: None,
        setup: setup_one_kernel,
        plaintext_before: false,
        small: true,
        envs: &[],
    },
    Case {
        name: "migrate keyutils --to encrypted-file",
        args: &["auth", "migrate", "--to", "encrypted-file", "--all"],
        stdin: None,
        setup: setup_one_kernel,
        plaintext_before: false,
        small: true,
        envs: &[("FLUXLOOP_PASSPHRASE", PASSPHRASE)],
    },
    Case {
        name: "migrate encrypted-file --to keyutils",
        args: &["auth", "migrate", "--to", "keyutils", "--all"],
        stdin: None,
        setup: setup_one_encrypted,
        plaintext_before: false,
        small: true,
        envs: &[("FLUXLOOP_PASSPHRASE", PASSPHRASE)],
    },
    // The plaintext file as source or destination: `plaintext_before` lets the key be on disk
    // mid-way (it is there before the command, or the command is asked to put it there).
    Case {
        name: "migrate file --to keyutils",
        args: &["auth", "migrate", "--to", "keyutils", "--all"],
        stdin: None,
        setup: setup_plaintext,
        plaintext_before: true,
        small: true,
        envs: &[],
    },
    Case {
        name: "migrate keyutils --to file",
        args: &["auth", "migrate", "--to", "file", "--all"],
        stdin: None,
        setup: setup_one_kernel,
        plaintext_before: true,
        small: true,
        envs: &[],
    },
    Case {
        name: "migrate file --to encrypted-file",
        args: &["auth", "migrate", "--to", "encrypted-file", "--all"],
        stdin: None,
        setup: setup_plaintext,
        plaintext_before: true,
        small: true,
        envs: &[("FLUXLOOP_PASSPHRASE", PASSPHRASE)],
    },
    Case {
        name: "migrate encrypted-file --to file",
        args: &["auth", "migrate", "--to", "file", "--all"],
        stdin: None,
        setup: setup_one_encrypted,
        plaintext_before: true,
        small: true,
        envs: &[("FLUXLOOP_PASSPHRASE", PASSPHRASE)],
    },
    Case {
        name: "migrate --to file",
        args: &["auth", "migrate", "--to", "file", "--all"],
        stdin: None,
        setup: setup_one,
        plaintext_before: true,
        small: true,
        envs: &[],
    },
];

/// Runs `case` against `platform`.
fn run_case(
    env: &TestEnv,
    ctx: &Ctx,
    case: &Case,
    platform: &Platform,
    envs: &[(&str, &str)],
) -> Run {
    let url = platform.url();
    let mut all = vec![("FLUXLOOP_API_URL", url.as_str())];
    all.extend_from_slice(case.envs);
    all.extend_from_slice(envs);
    let stdin = case.stdin.map(|k| format!("{k}\n"));
    ctx.run(env, case.args, stdin.as_deref(), &all)
}

/// A clean world brought to the state before `case`, with a stand-in of its own (a key
/// revoked on one stays revoked there).
fn setup(env: &TestEnv, case: &Case, ctx: &Ctx) -> (World, Platform) {
    reset(env, ctx);
    let platform = Platform::start();
    (case.setup)(env, ctx, &platform.url());
    (world(env, ctx), platform)
}

/// The kill points of `case`, then a kill at each; returns (points, runs).
fn crash_at_every_step(env: &TestEnv, case: &Case, ctx: &Ctx, stride: usize) -> (usize, usize) {
    let all_keys: Vec<String> = ctx
        .many
        .iter()
        .cloned()
        .chain(keys::ALL.iter().map(|(_, k)| (*k).to_owned()))
        .collect();

    let (before, platform) = setup(env, case, ctx);
    let trace = env.tmp().join("crash-trace");
    let _ = std::fs::remove_file(&trace);
    let clean = run_case(
        env,
        ctx,
        case,
        &platform,
        &[("FLUXLOOP_DEBUG_CRASH_TRACE", trace.to_str().unwrap())],
    );
    clean.assert_ok();
    let after = world(env, ctx);
    assert_ne!(before, after, "{}: the command changed nothing", case.name);
    let steps: Vec<String> = std::fs::read_to_string(&trace)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_once('\t').map_or(l, |(_, s)| s).to_owned())
        .collect();
    assert!(
        !steps.is_empty(),
        "{}: no crash points were taken",
        case.name
    );

    let stride = if case.small { 1 } else { stride.max(1) };
    let mut runs = 0;
    // With a stride, the last steps (the file's write) are always taken.
    let tail = steps.len().saturating_sub(6);
    for point in (1..=steps.len()).filter(|p| (p - 1) % stride == 0 || *p > tail) {
        let step = &steps[point - 1];
        let what = format!("{}: killed before step {point} ({step})", case.name);
        let (_, platform) = setup(env, case, ctx);
        let killed = run_case(
            env,
            ctx,
            case,
            &platform,
            &[("FLUXLOOP_DEBUG_CRASH_AT", &point.to_string())],
        );
        runs += 1;
        assert_eq!(
            killed.code, None,
            "{what}: the process was not killed\n{}",
            killed.stderr
        );
        let mid = world(env, ctx);
        if !case.plaintext_before {
            let on_disk = plaintext_files(env, &all_keys);
            assert!(
                on_disk.is_empty(),
                "{what}: a key is on disk in {on_disk:?}"
            );
        }
        // Profiles neither wholly before nor wholly after.
        let names: std::collections::BTreeSet<&String> = before
            .profiles
            .keys()
            .chain(after.profiles.keys())
            .chain(mid.profiles.keys())
            .collect();
        let absent = ProfileState::ABSENT;
        let torn: Vec<&String> = names
            .into_iter()
            .filter(|n| {
                let state = mid.profiles.get(*n).unwrap_or(&absent);
                state != before.profiles.get(*n).unwrap_or(&absent)
                    && state != after.profiles.get(*n).unwrap_or(&absent)
            })
            .collect();
        assert!(
            mid.top == before.top || mid.top == after.top,
            "{what}: the file's own fields are torn: {mid:?}"
        );

        let next = run_case(env, ctx, case, &platform, &[]);
        assert_eq!(
            next.code,
            Some(0),
            "{what}: the next run failed\n{}",
            next.stderr
        );
        let repaired = world(env, ctx);
        assert_eq!(
            repaired, after,
            "{what}: the next run did not finish the job\n{}",
            next.stderr
        );
        if !torn.is_empty() {
            assert!(
                next.stderr.contains("interrupted"),
                "{what}: profiles {torn:?} were torn ({mid:?}) and the next run did not say it repaired them:\n{}",
                next.stderr
            );
        }
        assert_eq!(
            temp_files(&env.fluxloop_dir()),
            Vec::<String>::new(),
            "{what}: a temp file survived the next run"
        );
        let on_disk = plaintext_files(env, &all_keys);
        if !after_has_plaintext(&after) {
            assert!(
                on_disk.is_empty(),
                "{what}: a key is on disk in {on_disk:?}"
            );
        }
    }
    reset(env, ctx);
    if let Some(path) = std::env::var_os("FLUXLOOP_CRASH_TALLY") {
        let line = format!("{}\t{}\t{runs}\n", case.name, steps.len());
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
    }
    (steps.len(), runs)
}

fn after_has_plaintext(after: &World) -> bool {
    after.top.contains("legacy_key=true")
        || after.profiles.values().any(|p| {
            p.meta
                .as_deref()
                .is_some_and(|m| m.contains("plaintext=true"))
        })
}

/// Every kill point of the small commands is always taken; of the others every 4th by default,
/// every one with FLUXLOOP_CRASH_STRIDE=1 (scripts/reliability). `logout --all` of 50 profiles
/// was such a case while it deleted one profile per step; in batches it is small.
fn stride() -> usize {
    std::env::var("FLUXLOOP_CRASH_STRIDE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4)
}

fn run_cases(names: &[&str]) {
    run_cases_in(names, None, false);
}

/// The cases `names`, in `kernel`'s namespace when given; `plaintext`: cases that put keys in
/// the plaintext file or take them from it.
fn run_cases_in(names: &[&str], kernel: Option<KernelKeyrings>, plaintext: bool) {
    let env = TestEnv::new();
    if plaintext {
        env.allow_plaintext_on_disk();
    }
    let ctx = Ctx::new(kernel);
    for key in &ctx.many {
        env.know_key(key);
    }
    for case in CASES.iter().filter(|c| names.contains(&c.name)) {
        let (points, runs) = crash_at_every_step(&env, case, &ctx, stride());
        eprintln!("{}: {points} kill points, {runs} runs", case.name);
    }
}

#[test]
fn login_survives_a_kill_at_every_step() {
    run_cases(&["login (new profile)", "login (rotation)"]);
}

#[test]
fn logout_survives_a_kill_at_every_step() {
    run_cases(&["logout", "logout --revoke"]);
}

#[test]
fn logout_all_of_fifty_profiles_survives_a_kill_at_every_step() {
    run_cases(&["logout --all (50 profiles)"]);
}

#[test]
fn migrate_and_switch_survive_a_kill_at_every_step() {
    env_allow_plaintext_then(|env| {
        let ctx = Ctx::new(None);
        for key in &ctx.many {
            env.know_key(key);
        }
        for case in CASES
            .iter()
            .filter(|c| ["migrate", "switch"].contains(&c.name))
        {
            let (points, runs) = crash_at_every_step(env, case, &ctx, stride());
            eprintln!("{}: {points} kill points, {runs} runs", case.name);
        }
    });
}

#[test]
fn migrate_to_and_from_encrypted_files_survives_a_kill_at_every_step() {
    run_cases(&[
        "migrate --to encrypted-file",
        "migrate encrypted-file --to keychain",
    ]);
}

#[test]
fn migrate_to_and_from_the_kernel_keyring_survives_a_kill_at_every_step() {
    run_cases_in(
        &[
            "migrate --to keyutils",
            "migrate keyutils --to keychain",
            "migrate keyutils --to encrypted-file",
            "migrate encrypted-file --to keyutils",
        ],
        Some(KernelKeyrings::start()),
        false,
    );
}

/// The plaintext file to and from the kernel keyring, in the test's user namespace.
#[test]
fn migrate_between_the_plaintext_file_and_the_kernel_keyring_survives_a_kill_at_every_step() {
    run_cases_in(
        &["migrate file --to keyutils", "migrate keyutils --to file"],
        Some(KernelKeyrings::start()),
        true,
    );
}

/// The plaintext file to and from encrypted files, and from the keychain.
#[test]
fn migrate_between_the_plaintext_file_and_the_other_stores_survives_a_kill_at_every_step() {
    run_cases_in(
        &[
            "migrate file --to encrypted-file",
            "migrate encrypted-file --to file",
            "migrate --to file",
        ],
        None,
        true,
    );
}

/// Migrate starts from plaintext keys on purpose; they are gone at the end (reset), and the
/// checks above look for them where they must not be.
fn env_allow_plaintext_then(f: impl FnOnce(&TestEnv)) {
    let env = TestEnv::new();
    env.allow_plaintext_on_disk();
    f(&env);
}

/// Every case is in one of the tests above.
#[test]
fn every_case_is_run() {
    let covered = [
        "login (new profile)",
        "login (rotation)",
        "logout",
        "logout --revoke",
        "logout --all (50 profiles)",
        "migrate",
        "switch",
        "migrate --to encrypted-file",
        "migrate encrypted-file --to keychain",
        "migrate --to keyutils",
        "migrate keyutils --to keychain",
        "migrate keyutils --to encrypted-file",
        "migrate encrypted-file --to keyutils",
        "migrate file --to keyutils",
        "migrate keyutils --to file",
        "migrate file --to encrypted-file",
        "migrate encrypted-file --to file",
        "migrate --to file",
    ];
    let names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
    assert_eq!(names, covered);
}
