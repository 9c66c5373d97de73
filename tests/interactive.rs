//! The interactive `fluxloop auth login` in a real pseudo-terminal: a private tmux server per
//! test runs the binary, and the test reads the screen and types like a person would.

mod common;

use std::time::Duration;

use common::assert_screen_snapshot;
use common::env::{Fault, SERVICE, TestEnv, keys};
use common::secret_service::SecretService;
use common::terminal::{Terminal, screen_text};

const PROMPT: &str = "Please enter your API key:";
/// Neither the key nor its secret part (everything after `flux_<env>_`) is on the screen.
#[track_caller]
fn assert_hidden(screen: &str, key: &str) {
    let secret = key.rsplit('_').next().unwrap();
    assert!(
        !screen.contains(key) && !screen.contains(secret),
        "the typed key is visible on the terminal:\n{screen}"
    );
    // Not even a recognisable piece of it.
    for piece in secret.as_bytes().chunks(8).filter(|c| c.len() == 8) {
        let piece = std::str::from_utf8(piece).unwrap();
        assert!(
            !screen.contains(piece),
            "part of the typed key ({piece}) is visible:\n{screen}"
        );
    }
}

#[test]
fn prompt_hides_the_typed_key_and_saves_it() {
    let env = TestEnv::new();
    let term = Terminal::start(&env, &["auth", "login"], &[]);
    let screen = term.wait_for(PROMPT);
    assert_screen_snapshot!(
        "prompt_1_welcome",
        env,
        screen_text(&env, &screen, None),
        "login in a terminal: the prompt"
    );

    term.type_text(keys::VALID);
    // Typed but not submitted: nothing of it shows.
    std::thread::sleep(Duration::from_millis(200));
    let screen = term.screen();
    assert_hidden(&screen, keys::VALID);
    assert_screen_snapshot!(
        "prompt_2_typed",
        env,
        screen_text(&env, &screen, None),
        "login in a terminal: the key typed, before Enter"
    );
    term.press("Enter");

    let (code, screen) = term.wait_for_exit();
    assert_hidden(&screen, keys::VALID);
    assert_screen_snapshot!(
        "prompt_3_saved",
        env,
        screen_text(&env, &screen, Some(code)),
        "login in a terminal: after Enter"
    );
    assert_eq!(
        env.ss.lookup(SERVICE, "default").as_deref(),
        Some(keys::VALID)
    );
    env.assert_not_on_disk(keys::VALID);
}

#[test]
fn api_key_dash_on_a_terminal_prompts_too() {
    let env = TestEnv::new();
    let term = Terminal::start(
        &env,
        &["auth", "login", "--api-key", "-", "--profile", "work"],
        &[],
    );
    term.wait_for(PROMPT);
    term.type_text(&format!("  {}  ", keys::EXPIRING_SOON));
    term.press("Enter");
    let (code, screen) = term.wait_for_exit();
    assert_hidden(&screen, keys::EXPIRING_SOON);
    assert_screen_snapshot!(
        "api_key_dash_prompt",
        env,
        screen_text(&env, &screen, Some(code)),
        "login --api-key - --profile work in a terminal, a key with spaces around it typed"
    );
    assert_eq!(env.keychain_profiles(), ["work"]);
    assert_eq!(
        env.ss.lookup(SERVICE, "work").as_deref(),
        Some(keys::EXPIRING_SOON)
    );
}

#[test]
fn malformed_key_at_the_prompt_explains_and_lets_the_user_retype() {
    let env = TestEnv::new();
    let term = Terminal::start(&env, &["auth", "login"], &[]);
    term.wait_for(PROMPT);

    let truncated = &keys::VALID[..20];
    term.type_text(truncated);
    term.press("Enter");
    let screen = term.wait_for("too short");
    assert!(!screen.contains(truncated), "{screen}");
    // Still prompting: no EXIT= on it.
    assert_screen_snapshot!(
        "retype_1_truncated",
        env,
        screen_text(&env, &screen, None),
        "login in a terminal: a truncated key entered"
    );
    assert!(
        env.platform.requests().is_empty(),
        "a malformed key was sent"
    );

    // Another paste error, then the right key.
    term.type_text(&format!("{}\"", keys::VALID));
    term.press("Enter");
    let screen = term.wait_for("a quote");
    assert_hidden(&screen, keys::VALID);
    assert_screen_snapshot!(
        "retype_2_quote",
        env,
        screen_text(&env, &screen, None),
        "login in a terminal: then a key with a quote after it entered"
    );
    assert!(env.platform.requests().is_empty());
    assert!(env.keychain().is_empty());

    term.type_text(keys::VALID);
    term.press("Enter");
    let (code, screen) = term.wait_for_exit();
    assert_hidden(&screen, keys::VALID);
    assert_screen_snapshot!(
        "retype_3_saved",
        env,
        screen_text(&env, &screen, Some(code)),
        "login in a terminal: then the right key entered"
    );
    assert_eq!(env.platform.requests().len(), 1);
    assert_eq!(
        env.ss.lookup(SERVICE, "default").as_deref(),
        Some(keys::VALID)
    );
}

/// Starts a prompt over an existing profile, types part of a key, presses `key`; checks that
/// nothing changed and returns the final screen's snapshot text.
fn cancel_with(env: &TestEnv, key: &str) -> String {
    env.login(keys::VALID, None);
    let before = env.snapshot();
    let requests = env.platform.requests().len();

    let term = Terminal::start(env, &["auth", "login"], &[]);
    term.wait_for(PROMPT);
    term.type_text(&keys::EXPIRING_SOON[..15]);
    term.press(key);
    let (code, screen) = term.wait_for_exit();
    assert!(
        !screen.contains(&keys::EXPIRING_SOON[..15]),
        "the typed text is visible:\n{screen}"
    );
    assert_eq!(
        env.snapshot(),
        before,
        "cancelling with {key} changed something"
    );
    assert_eq!(env.platform.requests().len(), requests);
    screen_text(env, &screen, Some(code))
}

#[test]
fn escape_cancels_and_stores_nothing() {
    let env = TestEnv::new();
    assert_screen_snapshot!(
        "cancelled_with_escape",
        env,
        cancel_with(&env, "Escape"),
        "login in a terminal over a saved profile: part of a key typed, then Escape"
    );
}

#[test]
fn ctrl_c_cancels_and_stores_nothing() {
    let env = TestEnv::new();
    assert_screen_snapshot!(
        "cancelled_with_ctrl_c",
        env,
        cancel_with(&env, "C-c"),
        "login in a terminal over a saved profile: part of a key typed, then Ctrl-C"
    );
}

#[test]
fn key_rejected_by_the_platform_after_the_prompt_stores_nothing() {
    let env = TestEnv::new();
    let term = Terminal::start(&env, &["auth", "login"], &[]);
    term.wait_for(PROMPT);
    term.type_text(keys::UNKNOWN);
    term.press("Enter");
    let (code, screen) = term.wait_for_exit();
    assert_hidden(&screen, keys::UNKNOWN);
    assert_screen_snapshot!(
        "rejected_by_the_platform",
        env,
        screen_text(&env, &screen, Some(code)),
        "login in a terminal: a well-formed key the platform does not know"
    );
    assert!(env.keychain().is_empty());
    assert!(env.credentials().is_none());
}

#[test]
fn no_keychain_fails_before_prompting() {
    let env = TestEnv::with(SecretService::start_bus_only());
    let term = Terminal::start(&env, &["auth", "login"], &[]);
    let (code, screen) = term.wait_for_exit();
    // No prompt for a key it cannot store.
    assert_screen_snapshot!(
        "no_keychain",
        env,
        screen_text(&env, &screen, Some(code)),
        "login in a terminal with no Secret Service"
    );
    assert!(env.credentials().is_none());
}

/// At a terminal, a key of another account for an existing profile is asked about first: "N" (or
/// just Enter) keeps the old key, "y" replaces it.
#[test]
fn a_key_of_another_account_is_asked_about_at_a_terminal() {
    let env = TestEnv::new();
    env.login(keys::PROJECT_SCOPED, Some("work"));
    let question = "replace its key? [y/N]";

    let term = Terminal::start(&env, &["auth", "login", "--profile", "work"], &[]);
    term.wait_for(PROMPT);
    term.type_text(keys::VALID);
    term.press("Enter");
    term.wait_for(question);
    term.press("Enter");
    let (code, screen) = term.wait_for_exit();
    assert_hidden(&screen, keys::VALID);
    assert_screen_snapshot!(
        "other_account_declined",
        env,
        screen_text(&env, &screen, Some(code)),
        "login in a terminal with a key of another account: Enter declines"
    );
    assert_eq!(code, 1);
    assert_eq!(
        env.ss.lookup(SERVICE, "work").as_deref(),
        Some(keys::PROJECT_SCOPED)
    );

    let term = Terminal::start(&env, &["auth", "login", "--profile", "work"], &[]);
    term.wait_for(PROMPT);
    term.type_text(keys::VALID);
    term.press("Enter");
    term.wait_for(question);
    term.type_text("y");
    term.press("Enter");
    let (code, screen) = term.wait_for_exit();
    assert_hidden(&screen, keys::VALID);
    assert_eq!(code, 0, "{screen}");
    // Asked once: not said again after saving.
    assert_eq!(
        screen.matches("was scoped@example.com").count(),
        1,
        "{screen}"
    );
    assert_eq!(env.ss.lookup(SERVICE, "work").as_deref(), Some(keys::VALID));
}

// ---------------------------------------------------------------------------------------------
// Terminal manners (issue 10): colours, NO_COLOR, TERM=dumb, a locale without UTF-8.

/// `auth status` at a terminal with `extra` in its environment: the screen, as text and with
/// its escape sequences.
fn status_at_a_terminal(env: &TestEnv, extra: &[(&str, &str)]) -> (String, String) {
    let term = Terminal::start(env, &["auth", "status"], extra);
    let (code, screen) = term.wait_for_exit();
    assert_eq!(code, 0, "{screen}");
    (screen, term.screen_with_escapes())
}

const ESC: char = '\u{1b}';

#[test]
fn a_terminal_gets_colours_unless_no_color_or_term_dumb() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let (_, coloured) = status_at_a_terminal(&env, &[]);
    assert!(
        coloured.contains(ESC),
        "no colour at a terminal:\n{coloured}"
    );
    for extra in [[("NO_COLOR", "1")], [("TERM", "dumb")]] {
        let (text, escapes) = status_at_a_terminal(&env, &extra);
        assert!(text.contains("Authenticated"), "{text}");
        assert!(
            !escapes.contains(ESC),
            "colour with {extra:?}:\n{escapes:?}"
        );
    }
    // --color=always wins over NO_COLOR.
    let term = Terminal::start(
        &env,
        &["auth", "status", "--color", "always"],
        &[("NO_COLOR", "1")],
    );
    term.wait_for_exit();
    assert!(term.screen_with_escapes().contains(ESC));
}

#[test]
fn clicolor_force_colours_a_pipe() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    let piped = env.run(&["auth", "status"]);
    assert!(!piped.stdout.contains(ESC), "{:?}", piped.stdout);
    let forced = env.run_with(&["auth", "status"], None, &[("CLICOLOR_FORCE", "1")]);
    assert!(forced.stdout.contains(ESC), "{:?}", forced.stdout);
    // NO_COLOR wins over CLICOLOR_FORCE.
    let both = env.run_with(
        &["auth", "status"],
        None,
        &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")],
    );
    assert!(!both.stdout.contains(ESC), "{:?}", both.stdout);
}

#[test]
fn symbols_fall_back_to_ascii_when_the_locale_is_not_utf8() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    // The test environment sets LC_ALL=C.UTF-8; empty, it does not count, and LANG decides.
    let (text, _) = status_at_a_terminal(&env, &[("LC_ALL", ""), ("LANG", "C")]);
    for ascii in [
        "[ok] Authenticated",
        "  * Acme Inc (owner)",
        "  [ok] Read scenarios",
        "  [no] Delete scenarios",
    ] {
        assert!(text.contains(ascii), "no {ascii:?} with LANG=C:\n{text}");
    }
    assert!(!text.contains('✅') && !text.contains('•'), "{text}");
    // An error has no symbol at all.
    let term = Terminal::start(
        &env,
        &["auth", "status", "--profile", "nobody"],
        &[("LC_ALL", ""), ("LANG", "C")],
    );
    let (code, screen) = term.wait_for_exit();
    assert_eq!(code, 3, "{screen}");
    assert!(screen.lines().any(|l| l.starts_with("Error: ")), "{screen}");
    assert!(screen.is_ascii(), "{screen}");

    // A UTF-8 locale through LANG alone, or LC_CTYPE, keeps the symbols.
    for extra in [
        [("LC_ALL", ""), ("LANG", "en_US.UTF-8")],
        [("LC_ALL", ""), ("LC_CTYPE", "C.UTF-8")],
    ] {
        let (text, _) = status_at_a_terminal(&env, &extra);
        assert!(text.contains("✅ Authenticated"), "{extra:?}:\n{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// The spinner (issue 10): on a terminal only, once a network wait passes 300 ms.

const SPINNER: &str = "Checking the key with FluxLoop";

#[test]
fn a_slow_platform_shows_a_spinner_at_a_terminal_and_erases_it() {
    let env = TestEnv::new();
    env.login(keys::VALID, None);
    // The platform never answers: the wait ends at FLUXLOOP_TIMEOUT.
    env.platform.set_fault(Some(Fault::Silent));
    let slow = [("FLUXLOOP_TIMEOUT", "6")];
    let term = Terminal::start(&env, &["auth", "status"], &slow);
    term.wait_for(SPINNER);
    let (code, screen) = term.wait_for_exit();
    assert_ne!(code, 0, "{screen}");
    assert!(
        !screen.contains(SPINNER),
        "the spinner was left on the screen:\n{screen}"
    );
    assert!(screen.contains("Error"), "{screen}");

    // Never in a pipe, in CI, with TERM=dumb or with -q: the screen is read halfway through
    // the wait, when a spinner would be showing.
    let piped = env.run_with(&["auth", "status"], None, &slow);
    assert!(!piped.stderr.contains(SPINNER), "{}", piped.stderr);
    for (args, extra) in [
        (vec!["auth", "status"], vec![("CI", "true")]),
        (vec!["auth", "status"], vec![("TERM", "dumb")]),
        (vec!["auth", "status", "-q"], vec![]),
    ] {
        let mut extra = extra;
        extra.extend(slow);
        let term = Terminal::start(&env, &args, &extra);
        std::thread::sleep(Duration::from_secs(3));
        let midway = term.screen();
        let (code, screen) = term.wait_for_exit();
        assert_ne!(code, 0, "{screen}");
        assert!(
            !midway.contains(SPINNER) && !screen.contains(SPINNER),
            "{args:?} {extra:?}:\n{midway}"
        );
    }
}
