//! Every clap type, and every environment variable name, in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::secrets::StoreKind;

/// Environment variables read by fluxloop, all in `context::Settings::from_env` and by one rule
/// (unset and empty are the same). Documented in README.md ("Environment").
pub mod env {
    pub const API_KEY: &str = "FLUXLOOP_API_KEY";
    pub const API_URL: &str = "FLUXLOOP_API_URL";
    pub const PROFILE: &str = "FLUXLOOP_PROFILE";
    pub const HOME: &str = "FLUXLOOP_HOME";
    pub const TIMEOUT: &str = "FLUXLOOP_TIMEOUT";
    pub const STORAGE: &str = "FLUXLOOP_STORAGE";
    /// The encrypted-file store's passphrase, for containers and CI (never a flag: argv is
    /// visible to every user of the machine).
    pub const PASSPHRASE: &str = "FLUXLOOP_PASSPHRASE";
    /// Seconds a keychain call may take before fluxloop gives up (an unlock prompt needs longer).
    pub const KEYCHAIN_TIMEOUT: &str = "FLUXLOOP_KEYCHAIN_TIMEOUT";
    /// Keychain service name; lets the demo and tests keep their entries apart from real ones.
    pub const KEYRING_SERVICE: &str = "FLUXLOOP_KEYRING_SERVICE";
    pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";
    pub const SSL_CERT_DIR: &str = "SSL_CERT_DIR";
    pub const RUST_LOG: &str = "RUST_LOG";
    /// Set by the completion scripts (`fluxloop completions`) to the shell's name when they ask
    /// `fluxloop` for the candidates of the word under the cursor. Our own name, not clap's
    /// default `COMPLETE`, so that an unrelated `COMPLETE` in the environment changes nothing.
    pub const COMPLETE: &str = "FLUXLOOP_COMPLETE";
    /// Set by `fluxloop exec` in its child's environment to the profile it injected, so that a
    /// nested `fluxloop exec` can tell (read by `commands::exec` alone).
    pub const EXEC_PROFILE: &str = "FLUXLOOP_EXEC_PROFILE";
    /// Not ours: what `login --web` looks at before opening a browser (a desktop session, not
    /// over SSH, not in CI).
    pub const DISPLAY: &str = "DISPLAY";
    pub const WAYLAND_DISPLAY: &str = "WAYLAND_DISPLAY";
    pub const SSH_CONNECTION: &str = "SSH_CONNECTION";
    pub const SSH_TTY: &str = "SSH_TTY";
    pub const CI: &str = "CI";
}

pub const DEFAULT_API_URL: &str = "https://api.fluxloop.ai";

/// The clap id of the global `--profile` option, for completers and argument groups.
pub const PROFILE_ARG: &str = "profile";

#[derive(Debug, Parser)]
#[command(
    name = "fluxloop",
    version,
    about = "The FluxLoop command-line tool",
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    #[command(flatten)]
    pub global: GlobalArgs,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Profile to use [env: FLUXLOOP_PROFILE] [default: the nearest directory binding, else the
    /// `fluxloop auth switch` default, else `default`]
    // The one definition of `--profile`, global so that every command shares it: a dynamic
    // completer of profile names (clap_complete's `ArgValueCompleter`, listing
    // `CredentialsFile::names()`) is attached here once, by id `PROFILE_ARG`.
    #[arg(id = PROFILE_ARG, long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// FluxLoop API base URL [env: FLUXLOOP_API_URL] [default: https://api.fluxloop.ai, or the URL
    /// saved at login]
    #[arg(long, global = true, value_name = "URL")]
    pub api_url: Option<String>,

    /// More diagnostics on stderr (-v the profile and why it was chosen, the credentials file, the
    /// key's source, requests with their host and keychain calls with timings; -vv also retries and
    /// TLS set-up; -vvv everything, the HTTP stack's included)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Print only errors on stderr: no notes, warnings or spinner (data on stdout is printed as
    /// usual)
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// When to use colours (NO_COLOR is honoured in `auto`)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in, log out and inspect credentials
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Print a shell completion script (profile names included)
    #[command(after_help = "Examples:\n  \
        source <(fluxloop completions bash)     # in ~/.bashrc\n  \
        fluxloop completions zsh > ~/.zfunc/_fluxloop\n  \
        fluxloop completions fish > ~/.config/fish/completions/fluxloop.fish")]
    Completions(CompletionsArgs),
    /// Print the man page, or write one page per command to a directory
    #[command(after_help = "Examples:\n  \
        fluxloop man | man -l -\n  \
        fluxloop man --out-dir ~/.local/share/man/man1")]
    Man(ManArgs),
    /// Run a command with the profile's API key in its environment, masked in its output
    #[command(
        override_usage = "fluxloop exec [OPTIONS] -- <COMMAND>...",
        after_help = "Examples:\n  \
        fluxloop exec -- pytest -x\n  \
        fluxloop exec --profile work -- npm test\n  \
        fluxloop exec --env-name FLUX_KEY -- ./deploy.sh\n  \
        fluxloop exec --no-masking -- vim        # full-screen programs get the terminal"
    )]
    Exec(ExecArgs),
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The environment variable that holds the key in the command's environment
    #[arg(long, value_name = "NAME", default_value = env::API_KEY)]
    pub env_name: String,

    /// Do not mask the key in the command's output: it gets our stdout and stderr directly
    /// (for full-screen programs)
    #[arg(long)]
    pub no_masking: bool,

    /// Run the command even if the key expired, as recorded at login
    #[arg(long)]
    pub allow_expired: bool,

    /// The command to run, and its arguments (after `--`)
    #[arg(
        value_name = "COMMAND",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `fluxloop.1` and a page per command (`fluxloop-auth-login.1`, ...) into DIR,
    /// created if missing, instead of printing the top page
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Validate an API key and save it to the OS keychain
    #[command(after_help = "Examples:\n  \
        fluxloop auth login                            # prompts, input hidden\n  \
        echo \"$KEY\" | fluxloop auth login              # reads one line from stdin\n  \
        fluxloop auth login --api-key - < key.txt\n  \
        fluxloop auth login --profile work\n  \
        fluxloop auth login --no-save                  # check a key, store nothing\n  \
        fluxloop auth login --web                      # approve in the browser; a new key for this device\n  \
        fluxloop auth login --web --no-wait --json     # for agents: print the code, finish later\n  \
        fluxloop auth login --web --resume")]
    Login(LoginArgs),
    /// Remove saved credentials from this machine
    #[command(after_help = "Examples:\n  \
        fluxloop auth logout                           # the active profile\n  \
        fluxloop auth logout --profile work\n  \
        fluxloop auth logout --revoke                  # revoke on the platform, then remove\n  \
        fluxloop auth logout --all                     # every profile and keychain entry")]
    Logout(LogoutArgs),
    /// Show whether you are authenticated, and what the key may do
    #[command(after_help = "Examples:\n  \
        fluxloop auth status\n  \
        fluxloop auth status --profile work\n  \
        fluxloop auth status --json | jq .account\n  \
        fluxloop auth status --expires-within 14       # exit 3 if the key expires within 14 days")]
    Status(StatusArgs),
    /// Show the account behind the key, its plan and usage
    #[command(after_help = "Examples:\n  \
        fluxloop auth whoami\n  \
        fluxloop auth whoami --profile work\n  \
        fluxloop auth whoami --json | jq .plan")]
    Whoami(WhoamiArgs),
    /// Move keys between stores; with no --to, plaintext keys into the OS keychain
    #[command(after_help = "Examples:\n  \
        fluxloop auth migrate                          # every plaintext key into the keychain\n  \
        fluxloop auth migrate --to keyutils            # the profile in use, into the kernel keyring\n  \
        fluxloop auth migrate --to keychain --all      # every profile, from wherever it is\n  \
        fluxloop auth migrate --to file --profile ci --dry-run\n  \
        fluxloop auth list                             # where each key is kept now\n\n\
        Each key is read, written to STORE, read back and compared; only then does the profile\n\
        point at STORE and is the old copy deleted. A failure at any step leaves it where it was.")]
    Migrate(MigrateArgs),
    /// Print the profile's API key on stdout, for other tools
    #[command(after_help = "Examples:\n  \
        FLUXLOOP_API_KEY=$(fluxloop auth token) pytest\n  \
        FLUXLOOP_API_KEY=$(fluxloop auth token --profile work) npm test\n  \
        fluxloop auth token --force      # at a terminal, on purpose")]
    Token(TokenArgs),
    /// List the profiles on this machine, and which one is active
    #[command(after_help = "Examples:\n  \
        fluxloop auth list                             # profiles, from the metadata only\n  \
        fluxloop auth list --check                     # also ask the keychain for orphans\n  \
        fluxloop auth list --json | jq '.profiles[].name'")]
    List(ListArgs),
    /// Replace the profile's key with a new one, then revoke the old one
    #[command(after_help = "Examples:\n  \
        fluxloop auth rotate\n  \
        fluxloop auth rotate --profile work --expires-in 90\n\n\
        The new key is verified and stored before the old one is revoked; whatever fails, the\n\
        profile keeps a working key.")]
    Rotate(RotateArgs),
    /// Choose the profile to use by default, or in a directory and everything below it
    #[command(after_help = "Examples:\n  \
        fluxloop auth switch work                    # the default everywhere\n  \
        fluxloop auth switch work --here             # this directory and below\n  \
        fluxloop auth switch ci --dir ~/src/acme\n  \
        fluxloop auth switch --unset --here          # remove this directory's binding\n  \
        fluxloop auth switch --unset                 # back to profile `default`\n\n\
        Which profile a command uses, first to last: --profile, FLUXLOOP_PROFILE, the nearest\n\
        directory bound with --here/--dir, the default set by `switch`, the profile `default`.")]
    Switch(SwitchArgs),
    /// Find out why authentication does not work here, and what to do about it
    #[command(after_help = "Examples:\n  \
        fluxloop auth doctor                           # every check, with the exact fix\n  \
        fluxloop auth doctor --fix                     # also apply the safe fixes\n  \
        fluxloop auth doctor --json | jq '.findings[] | select(.severity != \"info\")'\n\n\
        Exit status: 0 when nothing is wrong, 1 when something is.")]
    Doctor(DoctorArgs),
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The API key; `-` reads it from stdin. Prefer stdin or the prompt: a key on the command line
    /// is visible in shell history and the process list
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,

    /// Save the key after validating it (the default)
    #[arg(long, conflicts_with = "no_save")]
    pub save: bool,

    /// Validate the key and show the account, but store nothing
    #[arg(long)]
    pub no_save: bool,

    /// Where to keep the key: the OS keychain, the kernel keyring, a passphrase-encrypted file,
    /// or (opt-in, plaintext) the credentials file [env: FLUXLOOP_STORAGE] [default: keychain]
    #[arg(long, value_enum, value_name = "STORE", conflicts_with = "no_save")]
    pub storage: Option<StoreKind>,

    /// With --storage encrypted-file: after the passphrase is typed once, keep the opened key in
    /// the kernel keyring this long (e.g. 15m, 1h, 90s; at most 24h), so commands in that time do
    /// not ask again [default: off]
    #[arg(long, value_name = "DURATION", conflicts_with = "no_save", value_parser = cache_duration)]
    pub cache: Option<std::time::Duration>,

    /// Log in through the browser: the platform mints a new key for this device, which goes
    /// straight into the store, never shown
    #[arg(long, conflicts_with_all = ["api_key", "no_save"])]
    pub web: bool,

    /// With --web: the name of the new key, shown on the approval page [default: the host name]
    #[arg(long, value_name = "NAME", requires = "web", value_parser = device_name)]
    pub device_name: Option<String>,

    /// With --web: days until the new key expires [default: the organization's]
    #[arg(long, value_name = "DAYS", requires = "web", value_parser = clap::value_parser!(u32).range(1..=365))]
    pub expires_in: Option<u32>,

    /// With --web: print the address instead of opening a browser
    #[arg(long, requires = "web")]
    pub no_browser: bool,

    /// With --web: print the address and code, keep the pending login in the keychain, and exit;
    /// finish with --resume (for agents and scripts without a terminal)
    #[arg(long, requires = "web", conflicts_with = "resume")]
    pub no_wait: bool,

    /// With --web: finish the login that --no-wait started
    #[arg(long, requires = "web", conflicts_with_all = ["device_name", "expires_in"])]
    pub resume: bool,

    /// With --no-wait: print a JSON document (schema in docs/schema/login-pending.schema.json)
    #[arg(long, requires = "no_wait")]
    pub json: bool,
}

/// `90`, `90s`, `15m`, `1h`: 1 second to 24 hours.
fn cache_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err("a duration is a whole number with s, m or h, e.g. 15m".into()),
    };
    let seconds = number
        .parse::<u64>()
        .ok()
        .map(|n| n.saturating_mul(scale))
        .filter(|s| (1..=86_400).contains(s))
        .ok_or("a duration is 1 s to 24 h, e.g. 15m")?;
    Ok(std::time::Duration::from_secs(seconds))
}

/// 1 to 128 characters, none of them control characters.
fn device_name(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() || name.chars().count() > 128 {
        return Err("a device name has 1 to 128 characters".into());
    }
    if name.chars().any(char::is_control) {
        return Err("a device name cannot hold control characters".into());
    }
    Ok(name.to_string())
}

impl LoginArgs {
    pub fn should_save(&self) -> bool {
        !self.no_save
    }
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// Days until the new key expires [default: the old key's lifetime]
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=365))]
    pub expires_in: Option<u32>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Remove every profile and every fluxloop keychain entry, including orphaned ones
    #[arg(long)]
    pub all: bool,

    /// Revoke the key on the platform first, then remove it locally
    #[arg(long)]
    pub revoke: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print a JSON document (schema in README.md) instead of text
    #[arg(long)]
    pub json: bool,

    /// Exit with status 3 when the key expires within DAYS days (for scheduled checks)
    #[arg(long, value_name = "DAYS")]
    pub expires_within: Option<u32>,
}

#[derive(Debug, Args)]
pub struct WhoamiArgs {
    /// Print a JSON document (schema in README.md) instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The store to move keys into [env: FLUXLOOP_STORAGE]. Without it (or `keychain` with
    /// neither --profile nor --all): every plaintext key of the credentials file into the OS
    /// keychain
    #[arg(long, value_enum, value_name = "STORE")]
    pub to: Option<StoreKind>,

    /// Move the key of every profile (default: the profile in use)
    #[arg(long)]
    pub all: bool,

    /// Say what would move, and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Print the key even when stdout is a terminal (it stays in the scrollback)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct SwitchArgs {
    /// The profile to use; with --unset, optional (the binding or default must name it)
    // Not `profile`: that id is the global `--profile` option's.
    #[arg(value_name = "PROFILE", required_unless_present = "unset")]
    pub name: Option<String>,

    /// Bind the current directory (and everything below it) instead of setting the default
    #[arg(long, conflicts_with = "dir")]
    pub here: bool,

    /// Bind DIR (and everything below it) instead of setting the default
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Remove the binding of the directory (--here, --dir), or the default set by `switch`
    #[arg(long)]
    pub unset: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print a JSON document (schema in docs/schema/doctor.schema.json) instead of text
    #[arg(long)]
    pub json: bool,

    /// Apply the safe fixes (owner-only permissions on the credentials file, removing stale temp
    /// files) and say what was done
    #[arg(long)]
    pub fix: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print a JSON document (schema in docs/schema/list.schema.json) instead of a table
    #[arg(long)]
    pub json: bool,

    /// Also ask the keychain which profiles have an entry, and flag entries without a profile
    /// and profiles without an entry
    #[arg(long)]
    pub check: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
