//! `fluxloop completions <shell>` and `fluxloop man` (issue 10): each script parses in its shell,
//! bash completes the profiles of the credentials file in a real terminal (and fish through its
//! own `complete -C`), the answers read the file without touching it, and every man page renders
//! without a groff warning. None of this needs a keychain or the network.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use std::time::Duration;

use common::env::{Run, TestEnv, keys};
use common::secret_service::run_with_timeout;
use common::terminal::Terminal;

/// Generous: a shell and the binary start in milliseconds, but CI machines can be slow. Only a
/// hang reaches it.
const TIMEOUT: Duration = Duration::from_secs(20);

/// The credentials file of the tests: three usable profiles, and one name fluxloop refuses,
/// which must never be offered.
const CREDENTIALS: &str = "\
version: 1
profiles:
  default:
    account: dev@example.com
  work:
    account: work@example.com
  staging:
    account: qa@example.com
  'bad name':
    account: nobody@example.com
";

/// Writes [`CREDENTIALS`] group-readable (0640): a mode `auth status` would tighten, so a
/// completion that changed it would show.
fn write_credentials(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let path = dir.join("credentials");
    std::fs::write(&path, CREDENTIALS).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    path
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The shell's path. A shell missing here is a skip on a developer's machine, and a failure in
/// CI (`.ci/run` installs bash, zsh and fish).
fn shell(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v != "true"),
            "{name} is not installed; CI must have it (.ci/run installs it)"
        );
        #[allow(clippy::print_stderr)]
        {
            eprintln!("SKIPPED: {name} is not installed");
        }
    }
    found
}

/// `fluxloop completions <shell>`, which must succeed with a script on stdout and nothing on
/// stderr.
fn script(env: &TestEnv, shell: &str) -> String {
    let run = env.run(&["completions", shell]);
    run.assert_ok();
    assert!(run.stderr.is_empty(), "{}", run.whole_output());
    assert!(run.stdout.contains("FLUXLOOP_COMPLETE"), "{}", run.stdout);
    // The scripts call back `fluxloop` from PATH: nothing of where this binary was built.
    assert!(
        !run.stdout.contains(env!("CARGO_BIN_EXE_fluxloop")),
        "{}",
        run.stdout
    );
    run.stdout
}

/// Runs `program args` with the test's environment and `script` in a file, returning the run.
fn check_syntax(env: &TestEnv, program: &Path, args: &[&str], script: &str) -> Run {
    let file = env.tmp().join("completion-script");
    std::fs::write(&file, script).unwrap();
    let mut cmd = env.ss.command(program.to_str().unwrap());
    cmd.args(args).arg(&file);
    let done = run_with_timeout(&mut cmd, None, TIMEOUT);
    Run {
        args: args.iter().map(|a| a.to_string()).collect(),
        envs: Vec::new(),
        code: done.code(),
        stdout: done.stdout,
        stderr: done.stderr,
        elapsed: Duration::ZERO,
    }
}

#[test]
fn each_completion_script_parses_in_its_shell() {
    let env = TestEnv::without_keychain();
    for (name, args) in [
        ("bash", &["--norc", "--noprofile", "-n"][..]),
        ("zsh", &["--no-rcs", "-n"]),
        ("fish", &["--no-config", "--no-execute"]),
    ] {
        let text = script(&env, name);
        let Some(program) = shell(name) else { continue };
        let run = check_syntax(&env, &program, args, &text);
        assert!(
            run.code == Some(0) && run.stderr.is_empty(),
            "{name} rejects its completion script:\n{}",
            run.whole_output()
        );
        // A broken script must be rejected, or the check above proves nothing.
        let run = check_syntax(&env, &program, args, &format!("{text}\nif ( then\n"));
        assert_ne!(run.code, Some(0), "{name} -n accepted a broken script");
    }
    // No PowerShell or elvish here: their scripts register the same callback.
    let powershell = script(&env, "powershell");
    assert!(powershell.contains("Register-ArgumentCompleter -Native -CommandName fluxloop"));
    let elvish = script(&env, "elvish");
    assert!(elvish.contains("set edit:completion:arg-completer[fluxloop]"));
    assert!(!env.fluxloop_dir().exists());
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let env = TestEnv::without_keychain();
    let run = env.run(&["completions", "tcsh"]);
    run.assert_code(2).stderr_has("invalid value 'tcsh'");
    assert!(run.stdout.is_empty());
}

/// What a script's callback prints for the words typed so far, the last being the one under
/// the cursor (bash's protocol: the index of that word in `_CLAP_COMPLETE_INDEX`).
fn bash_candidates(env: &TestEnv, words: &[&str], extra: &[(&str, &str)]) -> Vec<String> {
    let index = (words.len() - 1).to_string();
    let mut envs = vec![
        ("FLUXLOOP_COMPLETE", "bash"),
        ("_CLAP_COMPLETE_INDEX", index.as_str()),
    ];
    envs.extend_from_slice(extra);
    let mut args = vec!["--"];
    args.extend_from_slice(words);
    let run = env.run_with(&args, None, &envs);
    run.assert_ok();
    assert!(run.stderr.is_empty(), "{}", run.whole_output());
    run.stdout.lines().map(str::to_owned).collect()
}

#[test]
fn the_callback_offers_the_profiles_of_the_credentials_file_and_changes_nothing() {
    let env = TestEnv::without_keychain();
    let path = write_credentials(&env.fluxloop_dir());
    let words = ["fluxloop", "auth", "status", "--profile", ""];
    assert_eq!(
        bash_candidates(&env, &words, &[]),
        ["default", "staging", "work"]
    );
    let words = ["fluxloop", "--profile", "w"];
    assert_eq!(bash_candidates(&env, &words, &[]), ["work"]);
    // `auth switch PROFILE` too.
    let words = ["fluxloop", "auth", "switch", "s"];
    assert_eq!(bash_candidates(&env, &words, &[]), ["staging"]);
    // Read, not checked and fixed as a command would: the mode is as it was.
    assert_eq!(mode(&path), 0o640);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), CREDENTIALS);
    assert!(!env.fluxloop_dir().join("credentials.lock").exists());

    // FLUXLOOP_HOME chooses the file, as for every command.
    let other = env.home().join("elsewhere");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(other.join("credentials"), "profiles:\n  ci: {}\n").unwrap();
    let home = other.to_str().unwrap();
    let words = ["fluxloop", "auth", "whoami", "--profile", ""];
    assert_eq!(
        bash_candidates(&env, &words, &[("FLUXLOOP_HOME", home)]),
        ["ci"]
    );
}

#[test]
fn the_callback_completes_commands_and_offers_nothing_without_a_credentials_file() {
    let env = TestEnv::without_keychain();
    assert_eq!(
        bash_candidates(&env, &["fluxloop", "auth", "st"], &[]),
        ["status"]
    );
    assert_eq!(
        bash_candidates(&env, &["fluxloop", "completions", "z"], &[]),
        ["zsh"]
    );
    let words = ["fluxloop", "auth", "status", "--profile", ""];
    assert!(bash_candidates(&env, &words, &[]).is_empty());
    // A file that cannot be read is no candidates, and no message in the middle of the line.
    std::fs::create_dir_all(env.fluxloop_dir()).unwrap();
    std::fs::write(env.credentials_path(), "profiles: [not, a, map\n").unwrap();
    assert!(bash_candidates(&env, &words, &[]).is_empty());
    std::fs::remove_file(env.credentials_path()).unwrap();
    assert!(walk_files(&env.fluxloop_dir()).is_empty());
}

/// A key in the file (the legacy top-level `api_key:` of earlier releases, `storage: file`) is
/// read with the names, and never printed: only the profile names it stands for are.
#[test]
fn the_callback_never_prints_a_plaintext_key_of_the_file() {
    let env = TestEnv::without_keychain();
    env.allow_plaintext_on_disk();
    let dir = env.fluxloop_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let text = format!(
        "api_key: {}\nprofiles:\n  ci:\n    storage: file\n    api_key: {}\n",
        keys::VALID,
        keys::EXPIRING_SOON
    );
    std::fs::write(env.credentials_path(), &text).unwrap();
    std::fs::set_permissions(
        env.credentials_path(),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    // The harness checks every run's output for any piece of either key.
    let words = ["fluxloop", "auth", "status", "--profile", ""];
    assert_eq!(bash_candidates(&env, &words, &[]), ["ci", "default"]);
    assert_eq!(
        std::fs::read_to_string(env.credentials_path()).unwrap(),
        text
    );
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    common::env::walk(dir)
        .into_iter()
        .filter(|p| p.is_file())
        .collect()
}

/// Only FLUXLOOP_COMPLETE asks for candidates: clap's usual `COMPLETE`, set for some other
/// program, changes nothing.
#[test]
fn an_unrelated_complete_variable_is_ignored() {
    let env = TestEnv::without_keychain();
    let plain = env.run(&["completions", "bash"]);
    let with = env.run_with(&["completions", "bash"], None, &[("COMPLETE", "bash")]);
    with.assert_ok();
    assert_eq!(with.whole_output(), plain.whole_output());
}

/// A private tmux server running an interactive shell with the test's environment, the built
/// `fluxloop` first on PATH, and no startup files. `shell` is the command line that starts the
/// shell, e.g. `bash --norc --noprofile -i`.
fn shell_terminal<'a>(env: &'a TestEnv, shell: &str) -> Terminal<'a> {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_fluxloop")).parent().unwrap();
    let mut line = String::from("exec env -i TERM=\"$TERM\" INPUTRC=/dev/null PS1='$ '");
    for (k, v) in env
        .cmd()
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_str()?, v?.to_str()?)))
    {
        let v = if k == "PATH" {
            format!("{}:{v}", bin_dir.display())
        } else {
            v.to_owned()
        };
        line.push(' ');
        line.push_str(&quote(&format!("{k}={v}")));
    }
    line.push(' ');
    line.push_str(shell);
    let script = env.ss.dir().join("completion-terminal.sh");
    std::fs::write(&script, format!("#!/bin/sh\n{line}\n")).unwrap();
    Terminal::run_script(env, &script, "tmux-completions.sock")
}

/// The last line with something on it: where the cursor's command line is.
fn last_line(screen: &str) -> &str {
    screen
        .lines()
        .map(str::trim_end)
        .rfind(|l| !l.is_empty())
        .unwrap_or("")
}

#[test]
fn bash_completes_profile_names_in_a_terminal() {
    let env = TestEnv::without_keychain();
    let path = write_credentials(&env.fluxloop_dir());
    let term = shell_terminal(&env, "bash --norc --noprofile -i");
    term.wait_until("the prompt", |s| last_line(s) == "$");
    term.type_text("source <(fluxloop completions bash); echo LOADED");
    term.press("Enter");
    term.wait_until("the script loaded", |s| {
        s.lines().any(|l| l == "LOADED") && last_line(s) == "$"
    });

    // Two TABs list the candidates under the line, as bash does when several match.
    term.type_text("fluxloop auth status --profile ");
    term.press("Tab");
    term.press("Tab");
    let screen = term.wait_until("the profile names", |s| {
        s.lines().any(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words == ["default", "staging", "work"]
        })
    });
    assert!(!screen.contains("bad"), "{screen}");

    // One TAB completes a unique prefix, with a space after it.
    term.press("C-u");
    term.type_text("fluxloop auth whoami --profile st");
    term.press("Tab");
    term.wait_until("`staging` completed", |s| {
        last_line(s).ends_with("fluxloop auth whoami --profile staging")
    });
    term.type_text("--js");
    term.press("Tab");
    term.wait_until("`--json` completed", |s| {
        last_line(s).ends_with("fluxloop auth whoami --profile staging --json")
    });
    assert_eq!(mode(&path), 0o640);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), CREDENTIALS);
}

/// zsh with the script installed as README says: a file `_fluxloop` in a directory of `$fpath`,
/// loaded by `compinit` at the first TAB, which must complete too.
#[test]
fn zsh_completes_profile_names_in_a_terminal() {
    let env = TestEnv::without_keychain();
    if shell("zsh").is_none() {
        return;
    }
    write_credentials(&env.fluxloop_dir());
    let functions = env.home().join("zfunc");
    std::fs::create_dir_all(&functions).unwrap();
    std::fs::write(functions.join("_fluxloop"), script(&env, "zsh")).unwrap();
    // No startup files (-f): the set-up is typed, as a ~/.zshrc would have it.
    let term = shell_terminal(&env, "zsh -f -i");
    term.type_text(&format!(
        "fpath=({} $fpath); autoload -U compinit; compinit -u -D; PS1='$ '; echo LOADED",
        functions.display()
    ));
    term.press("Enter");
    term.wait_until("compinit done", |s| {
        s.lines().any(|l| l == "LOADED") && last_line(s) == "$"
    });

    // The first TAB loads _fluxloop and lists the candidates under the line.
    term.type_text("fluxloop auth status --profile ");
    term.press("Tab");
    let screen = term.wait_until("the profile names", |s| {
        s.lines().any(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words == ["default", "staging", "work"]
        })
    });
    assert!(!screen.contains("bad"), "{screen}");
    term.press("C-u");
    term.type_text("fluxloop auth status --profile st");
    term.press("Tab");
    term.wait_until("`staging` completed", |s| {
        s.lines()
            .any(|l| l.trim_end() == "$ fluxloop auth status --profile staging")
    });
}

/// fish completes a command line on request (`complete -C`), with the script loaded the way the
/// README says, so the whole path from script to candidates is checked without a terminal.
#[test]
fn fish_completes_profile_names() {
    let env = TestEnv::without_keychain();
    let Some(fish) = shell("fish") else { return };
    write_credentials(&env.fluxloop_dir());
    let file = env.tmp().join("fluxloop.fish");
    std::fs::write(&file, script(&env, "fish")).unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_fluxloop")).parent().unwrap();
    let mut cmd = env.ss.command(fish.to_str().unwrap());
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.env("PATH", path).args([
        "--no-config",
        "-c",
        &format!(
            "source {}; complete -C 'fluxloop auth status --profile '",
            file.display()
        ),
    ]);
    let done = run_with_timeout(&mut cmd, None, TIMEOUT);
    assert!(done.success(), "{done:?}");
    let names: Vec<String> = done
        .stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap_or("").to_owned())
        .collect();
    assert_eq!(names, ["default", "staging", "work"]);
}

/// The pages `fluxloop man --out-dir` writes, one per command, named as `man` looks them up.
const PAGES: [&str; 15] = [
    "fluxloop.1",
    "fluxloop-auth.1",
    "fluxloop-auth-login.1",
    "fluxloop-auth-logout.1",
    "fluxloop-auth-status.1",
    "fluxloop-auth-whoami.1",
    "fluxloop-auth-migrate.1",
    "fluxloop-auth-token.1",
    "fluxloop-auth-list.1",
    "fluxloop-auth-rotate.1",
    "fluxloop-auth-switch.1",
    "fluxloop-auth-doctor.1",
    "fluxloop-completions.1",
    "fluxloop-man.1",
    "fluxloop-exec.1",
];

#[test]
fn man_writes_a_page_per_command_that_renders_without_warnings() {
    let env = TestEnv::without_keychain();
    let dir = env.tmp().join("man/man1");
    let run = env.run(&["man", "--out-dir", dir.to_str().unwrap()]);
    run.assert_ok();
    assert!(run.stderr.is_empty(), "{}", run.whole_output());
    let listed: Vec<String> = run.stdout.lines().map(str::to_owned).collect();
    let expected: Vec<String> = PAGES
        .iter()
        .map(|p| dir.join(p).display().to_string())
        .collect();
    assert_eq!(listed, expected);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut sorted = PAGES.map(str::to_owned).to_vec();
    sorted.sort();
    assert_eq!(names, sorted);

    for page in PAGES {
        let path = dir.join(page);
        // groff with every warning on: none may be printed.
        let mut groff = env.ss.command("groff");
        groff.args(["-man", "-Tutf8", "-ww", "-z"]).arg(&path);
        let done = run_with_timeout(&mut groff, None, TIMEOUT);
        assert!(
            done.success() && done.stderr.clone().is_empty(),
            "groff warns about {page}: {done:?}"
        );
        // And man itself, as a user reads it.
        let mut man = env.ss.command("man");
        man.env("MANPAGER", "cat")
            .env("MANWIDTH", "80")
            .args(["--warnings", "-l"])
            .arg(&path);
        let done = run_with_timeout(&mut man, None, TIMEOUT);
        let text = done.stdout.clone();
        assert!(
            done.success() && done.stderr.clone().is_empty(),
            "man -l {page}: {done:?}"
        );
        let title = page.trim_end_matches(".1");
        assert!(text.contains("NAME") && text.contains(title), "{text}");
    }

    // Each page has its command's options, from the same definition as --help.
    let login = std::fs::read_to_string(dir.join("fluxloop-auth-login.1")).unwrap();
    for option in ["api\\-key", "no\\-save", "storage", "profile"] {
        assert!(login.contains(option), "{option} missing:\n{login}");
    }
    // Without --out-dir, the top page on stdout, the same as the file.
    let top = env.run(&["man"]);
    top.assert_ok();
    assert_eq!(
        top.stdout,
        std::fs::read_to_string(dir.join("fluxloop.1")).unwrap()
    );
}

/// Neither command reads the settings: an environment no `auth` command would accept does not
/// stop them, and neither needs a keychain or the platform.
#[test]
fn completions_and_man_need_no_settings_keychain_or_network() {
    let env = TestEnv::without_keychain();
    let bad = [
        ("FLUXLOOP_TIMEOUT", "soon"),
        ("FLUXLOOP_API_URL", "nonsense"),
    ];
    for args in [&["completions", "zsh"][..], &["man"]] {
        let run = env.run_with(args, None, &bad);
        run.assert_ok();
        assert!(run.stderr.is_empty(), "{}", run.whole_output());
    }
    let status = env.run_with(&["auth", "status"], None, &bad);
    status.assert_code(2);
    assert!(env.platform.requests().is_empty());
    assert!(!env.fluxloop_dir().exists());
}
