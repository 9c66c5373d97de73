//! The `--json` documents, one typed struct each, and the JSON Schemas published from them in
//! docs/schema/ (README.md, "JSON output"). The schemas are generated from these types, so they
//! cannot drift; `tests/json_schema.rs` fails when docs/schema/ is stale.
//!
//! Field order here is the order in the output. The structs borrow from what the command already
//! holds: building a document copies nothing but the few strings it computes.

use chrono::{DateTime, Utc};
use schemars::{JsonSchema, Schema, SchemaGenerator, generate::SchemaSettings, json_schema};
use serde::Serialize;

use crate::api::{KeyInfo, Whoami};
use crate::cli::{AuthCommand, Command};
use crate::error::{CliError, ErrorCode};
use crate::output;
use crate::secrets::{Backend, KeySource, StoreKind};

/// The `schema_version` of every document. Bumped only on incompatible changes: fields may be
/// added, never removed or changed in meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// The commands that print a document, so a failure prints one too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    Status,
    Whoami,
    List,
    Doctor,
}

/// Which document the command prints, if it was asked for one (`--json`).
pub fn requested(command: &Command) -> Option<DocumentKind> {
    match command {
        Command::Auth(AuthCommand::Status(args)) => args.json.then_some(DocumentKind::Status),
        Command::Auth(AuthCommand::Whoami(args)) => args.json.then_some(DocumentKind::Whoami),
        Command::Auth(AuthCommand::List(args)) => args.json.then_some(DocumentKind::List),
        Command::Auth(AuthCommand::Doctor(args)) => args.json.then_some(DocumentKind::Doctor),
        Command::Auth(
            AuthCommand::Login(_)
            | AuthCommand::Logout(_)
            | AuthCommand::Migrate(_)
            | AuthCommand::Token(_)
            | AuthCommand::Switch(_)
            | AuthCommand::Rotate(_),
        ) => None,
        Command::Completions(_) | Command::Man(_) | Command::Exec(_) => None,
    }
}

/// `fluxloop auth login --web --no-wait --json`: a browser login waiting for approval. Failures
/// print the usual error text on stderr.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(title = "fluxloop auth login --web --no-wait --json")]
pub struct LoginPendingDocument<'a> {
    #[schemars(extend("const" = SCHEMA_VERSION))]
    pub schema_version: u32,
    /// The profile the key will be saved to.
    pub profile: &'a str,
    /// The code to compare with (or type into) the approval page, `XXXX-XXXX`.
    pub user_code: &'a str,
    /// The approval page.
    pub verification_uri: &'a str,
    /// The approval page with the code filled in, when the platform gives one.
    pub verification_uri_complete: Option<&'a str>,
    /// When the code expires; `--resume` after that says so.
    pub expires_at: DateTime<Utc>,
    /// The command that finishes the login once it is approved.
    pub resume_command: &'a str,
}

/// `fluxloop auth status --json` when the key works.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(title = "fluxloop auth status --json")]
pub struct StatusDocument<'a> {
    #[schemars(extend("const" = SCHEMA_VERSION))]
    pub schema_version: u32,
    /// Always `true` here; when the key does not work, `status --json` prints the error document,
    /// where it is `false`.
    #[schemars(extend("const" = true))]
    pub authenticated: bool,
    /// The selected profile (`--profile`, `FLUXLOOP_PROFILE`, else `default`), even when the key
    /// comes from `FLUXLOOP_API_KEY`.
    pub profile: &'a str,
    /// The platform that answered, without a trailing slash.
    pub api_url: &'a str,
    pub key: StatusKey<'a>,
    pub account: Account<'a>,
    pub organizations: Vec<Organization<'a>>,
    pub scopes: Scopes<'a>,
    /// In the platform's order, names this release does not know included.
    pub permissions: Vec<Permission<'a>>,
}

/// The key `status` checked. Never the key itself.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StatusKey<'a> {
    /// The masked key, as `status` shows it: `flux_dev_abc1...mno34`.
    pub hint: String,
    pub id: Option<&'a str>,
    pub name: Option<&'a str>,
    pub environment: &'a str,
    /// Where the key came from: `keychain`, `keyutils` (the Linux kernel keyring),
    /// `encrypted-file` (a passphrase-encrypted file under the credentials directory), `env`
    /// (`FLUXLOOP_API_KEY`), `file` (the `--storage file` opt-in) or `plaintext-file` (a legacy
    /// `api_key:`).
    #[schemars(extend("enum" = key_source_ids()))]
    pub source: &'static str,
    /// The keychain that holds the key; `null` unless `source` is `keychain`.
    #[schemars(extend("enum" = backend_ids()))]
    pub backend: Option<&'static str>,
    pub created_at: Option<DateTime<Utc>>,
    /// `null`: the key never expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Whole days until `expires_at`, rounded down; `null` when the key never expires.
    pub days_remaining: Option<i64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Account<'a> {
    pub id: Option<&'a str>,
    pub email: &'a str,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Organization<'a> {
    pub id: Option<&'a str>,
    pub name: &'a str,
    /// As the platform names it (`owner`, `admin`, `member`, ...).
    pub role: &'a str,
}

/// The projects the key may use.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Scopes<'a> {
    pub all_projects: bool,
    /// Project names; empty when `all_projects` is true.
    pub projects: &'a [String],
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Permission<'a> {
    /// The platform's name: `read_scenarios`.
    pub name: &'a str,
    /// The name as `status` shows it: `Read scenarios`.
    pub label: String,
    pub granted: bool,
}

/// `fluxloop auth whoami --json` when the request succeeds.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(title = "fluxloop auth whoami --json")]
pub struct WhoamiDocument<'a> {
    #[schemars(extend("const" = SCHEMA_VERSION))]
    pub schema_version: u32,
    pub account: Account<'a>,
    pub organizations: Vec<Organization<'a>>,
    pub projects: Vec<Project<'a>>,
    pub api_access: bool,
    pub plan: Plan<'a>,
    pub usage: Usage,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Project<'a> {
    pub id: Option<&'a str>,
    pub name: &'a str,
    /// The organization's name; `null` for a project outside any organization.
    pub organization: Option<&'a str>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Plan<'a> {
    pub name: &'a str,
    /// `null`: no limit.
    pub runs_per_month: Option<u64>,
    /// `true` exactly when `runs_per_month` is `null`.
    pub unlimited: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Usage {
    pub runs_this_month: u64,
    pub period_start: Option<DateTime<Utc>>,
}

/// `fluxloop auth list --json`: the profiles as the credentials file describes them. No key, and
/// no keychain read unless `--check`.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(title = "fluxloop auth list --json")]
pub struct ListDocument<'a> {
    #[schemars(extend("const" = SCHEMA_VERSION))]
    pub schema_version: u32,
    /// Sorted by name; empty when nobody has logged in.
    pub profiles: Vec<ListedProfile<'a>>,
    pub active: ActiveProfile<'a>,
    /// `FLUXLOOP_API_KEY` is set: commands use that key, not the active profile's.
    pub environment_key: bool,
    /// What the keychain holds (`--check`); `null` without `--check`.
    pub check: Option<KeychainCheck<'a>>,
}

/// One profile of the credentials file.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ListedProfile<'a> {
    pub name: &'a str,
    /// The profile in use (see `active`).
    pub active: bool,
    /// The account's email, as last seen at login; `null` if unknown (a legacy profile).
    pub account: Option<&'a str>,
    /// The key's environment (`dev`, `prod`, ...), as last seen at login.
    pub environment: Option<&'a str>,
    /// The key's name on the platform, as last seen at login; `null` if not recorded.
    pub key_name: Option<&'a str>,
    /// When the platform created the key, as last seen at login; `null` if not recorded.
    pub key_created_at: Option<DateTime<Utc>>,
    /// `date`: the key expires at `expires_at`; `never`; `unknown` (not recorded).
    #[schemars(extend("enum" = ["date", "never", "unknown"]))]
    pub expiry: &'static str,
    pub expires_at: Option<DateTime<Utc>>,
    /// Whole days until `expires_at`, rounded down, negative once expired; `null` unless
    /// `expiry` is `date`.
    pub days_remaining: Option<i64>,
    /// Where the key is kept: the OS keychain, the Linux kernel keyring (`keyutils`, emptied at
    /// reboot), a passphrase-encrypted file (`encrypted-file`), the credentials file
    /// (`--storage file`), or the credentials file's plaintext `api_key:` of an earlier release
    /// (`legacy`).
    #[schemars(extend("enum" = ["keychain", "keyutils", "encrypted-file", "file", "legacy"]))]
    pub storage: &'static str,
    /// The platform the profile's key is for: the URL saved at login, else the default.
    pub api_url: &'a str,
    /// The keychain has an entry for this profile (`--check`); `null` without `--check`.
    pub keychain_entry: Option<bool>,
}

/// The profile commands use, and which rule chose it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ActiveProfile<'a> {
    pub name: &'a str,
    /// `flag`: `--profile`; `env`: `FLUXLOOP_PROFILE`; `directory`: a directory binding of
    /// `fluxloop auth switch --here/--dir` (see `bound_directory`); `switched`: the default set by
    /// `fluxloop auth switch`; `default`: none of these, so `default`.
    #[schemars(extend("enum" = ["flag", "env", "directory", "switched", "default"]))]
    pub reason: &'static str,
    /// The directory whose binding chose the profile (canonical); `null` unless `reason` is
    /// `directory`.
    pub bound_directory: Option<&'a str>,
    /// The credentials file has this profile.
    pub exists: bool,
}

/// What `--check` found in the keychain.
#[derive(Debug, Serialize, JsonSchema)]
pub struct KeychainCheck<'a> {
    #[schemars(extend("enum" = keychain_ids()))]
    pub backend: &'static str,
    /// Keychain entries of ours with no profile in the credentials file (orphaned entries;
    /// `fluxloop auth logout --all` removes them).
    pub entries_without_profile: Vec<&'a str>,
    /// Profiles whose key should be in the keychain but is not (they cannot authenticate).
    pub profiles_without_entry: Vec<&'a str>,
    /// Keys of ours in the Linux kernel keyring with no profile (`fluxloop auth logout
    /// --profile NAME` removes one); `null` where the kernel keyring cannot be searched.
    pub kernel_keyring_entries_without_profile: Option<Vec<&'a str>>,
    /// Encrypted key files (`~/.fluxloop/keys/<profile>.age`) with no profile.
    pub encrypted_files_without_profile: Vec<&'a str>,
}

/// `fluxloop auth doctor --json`: what the checks found. Printed whatever they found; `ok` (and
/// the exit status, 0 or 1) says whether anything is wrong.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(title = "fluxloop auth doctor --json")]
pub struct DoctorDocument<'a> {
    #[schemars(extend("const" = SCHEMA_VERSION))]
    pub schema_version: u32,
    /// No finding of severity `error` or `warning` is left (fixed ones do not count).
    pub ok: bool,
    pub machine: DoctorMachine,
    /// One entry per store kind, in `--storage` order.
    pub stores: Vec<DoctorStore<'a>>,
    /// In the order of the text report: machine, stores, consistency, hygiene, platform.
    pub findings: Vec<DoctorFinding<'a>>,
    /// What `--fix` did, one line each (`chmod 600 <path>`, `removed <path>`); empty without
    /// `--fix`.
    pub fixed: Vec<&'a str>,
}

/// What kind of machine this is, as the advice for a missing keychain sees it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DoctorMachine {
    /// The one that decides the advice, most specific first.
    #[schemars(extend("enum" = ["ci", "container", "wsl", "ssh-without-bus", "headless", "desktop"]))]
    pub kind: &'static str,
    /// `CI`, `GITHUB_ACTIONS`, `GITLAB_CI` or another CI service's variable is set.
    pub ci: bool,
    /// `/.dockerenv`, `/run/.containerenv`, a `container` variable, Kubernetes or a container
    /// cgroup.
    pub container: bool,
    pub wsl: bool,
    /// `SSH_CONNECTION`, `SSH_CLIENT` or `SSH_TTY` is set.
    pub ssh: bool,
    /// `DBUS_SESSION_BUS_ADDRESS` is set.
    pub session_bus: bool,
    /// `DISPLAY` or `WAYLAND_DISPLAY` is set.
    pub desktop: bool,
}

/// Whether a store can hold a key on this machine.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DoctorStore<'a> {
    /// As `--storage` names it.
    #[schemars(extend("enum" = store_ids()))]
    pub store: &'static str,
    pub usable: bool,
    /// Why, for people: the keychain's provider and latency, or why it is not usable.
    pub detail: &'a str,
}

/// One thing the checks found.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DoctorFinding<'a> {
    /// Stable: what was found (`orphan_keychain_entry`, `key_in_dotenv`, ...). Match on it.
    pub id: &'static str,
    #[schemars(extend("enum" = ["machine", "stores", "consistency", "hygiene", "platform"]))]
    pub area: &'static str,
    /// `error`: something does not work; `warning`: it works, but is unsafe or about to break;
    /// `info`: for the record.
    #[schemars(extend("enum" = ["error", "warning", "info"]))]
    pub severity: &'static str,
    pub title: &'a str,
    /// Why it matters; may be empty.
    pub explanation: &'a str,
    /// The exact command or action that fixes it; `null` when there is nothing to do.
    pub fix: Option<&'a str>,
    /// `--fix` can fix it (safe fixes only).
    pub fixable: bool,
    /// `--fix` fixed it in this run.
    pub fixed: bool,
}

/// What every `--json` command prints on stdout when it fails (exit code 1 to 6), while the
/// message and hints go to stderr as without `--json`. A usage error found by the argument
/// parser itself prints no document.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(title = "fluxloop --json failure")]
pub struct ErrorDocument<'a> {
    #[schemars(extend("const" = SCHEMA_VERSION))]
    pub schema_version: u32,
    /// In `status`'s document only, and always `false` there: status could not confirm the key,
    /// whatever the reason. `whoami` has no such field: on a 403 its key is valid, and its
    /// success document has no `authenticated` either.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "always_false")]
    pub authenticated: Option<bool>,
    /// The selected profile; `null` when the command failed before it was known (an invalid
    /// `--profile` or environment variable).
    pub profile: Option<&'a str>,
    pub error: ErrorDetail<'a>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ErrorDetail<'a> {
    pub code: ErrorCode,
    /// The message's title, as printed on stderr after `Error:`. For people: match on `code`.
    pub message: &'a str,
}

impl<'a> StatusDocument<'a> {
    pub fn new(profile: &'a str, api_url: &'a str, key: StatusKey<'a>, info: &'a KeyInfo) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            authenticated: true,
            profile,
            api_url,
            key,
            account: Account::from(&info.account),
            organizations: info.organizations.iter().map(Organization::from).collect(),
            scopes: Scopes {
                all_projects: info.key.scopes.all_projects,
                projects: &info.key.scopes.projects,
            },
            permissions: info
                .key
                .permissions
                .iter()
                .map(|(name, granted)| Permission {
                    name,
                    label: output::permission_label(name),
                    granted: *granted,
                })
                .collect(),
        }
    }
}

impl<'a> StatusKey<'a> {
    /// `hint` is the masked key; `now` counts `days_remaining`.
    pub fn new(
        info: &'a KeyInfo,
        hint: String,
        source: KeySource,
        backend: Option<Backend>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            hint,
            id: info.key.id.as_deref(),
            name: info.key.name.as_deref(),
            environment: &info.key.environment,
            source: source.id(),
            backend: backend.map(Backend::id),
            created_at: info.key.created_at,
            expires_at: info.key.expires_at,
            days_remaining: info.key.expires_at.map(|at| output::days_until(at, now)),
        }
    }
}

impl<'a> From<&'a crate::api::Account> for Account<'a> {
    fn from(a: &'a crate::api::Account) -> Self {
        Self {
            id: a.id.as_deref(),
            email: &a.email,
        }
    }
}

impl<'a> From<&'a crate::api::Organization> for Organization<'a> {
    fn from(o: &'a crate::api::Organization) -> Self {
        Self {
            id: o.id.as_deref(),
            name: &o.name,
            role: &o.role,
        }
    }
}

impl<'a> From<&'a Whoami> for WhoamiDocument<'a> {
    fn from(w: &'a Whoami) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            account: Account::from(&w.account),
            organizations: w.organizations.iter().map(Organization::from).collect(),
            projects: w
                .projects
                .iter()
                .map(|p| Project {
                    id: p.id.as_deref(),
                    name: &p.name,
                    organization: p.organization.as_deref(),
                })
                .collect(),
            api_access: w.api_access,
            plan: Plan {
                name: &w.plan.name,
                runs_per_month: w.plan.runs_per_month,
                unlimited: w.plan.runs_per_month.is_none(),
            },
            usage: Usage {
                runs_this_month: w.usage.runs_this_month,
                period_start: w.usage.period_start,
            },
        }
    }
}

impl<'a> ErrorDocument<'a> {
    /// The failure document of `kind`; `profile` is `None` when the failure came first.
    pub fn new(kind: DocumentKind, profile: Option<&'a str>, e: &'a CliError) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            authenticated: (kind == DocumentKind::Status).then_some(false),
            profile,
            error: ErrorDetail {
                code: e.code,
                message: &e.title,
            },
        }
    }
}

/// The sources `status` can report (a key typed into `login` is never reported).
fn key_source_ids() -> Vec<&'static str> {
    [
        KeySource::Store(StoreKind::Keychain),
        KeySource::Store(StoreKind::Keyutils),
        KeySource::Store(StoreKind::EncryptedFile),
        KeySource::Env,
        KeySource::Store(StoreKind::File),
        KeySource::LegacyFile,
    ]
    .map(KeySource::id)
    .into()
}

/// Every `--storage` value.
fn store_ids() -> Vec<&'static str> {
    <StoreKind as clap::ValueEnum>::value_variants()
        .iter()
        .map(|k| k.id())
        .collect()
}

/// The OS keychains; not the in-memory store, which only unit tests use.
fn keychain_ids() -> Vec<&'static str> {
    [
        Backend::SecretService,
        Backend::MacosKeychain,
        Backend::WindowsCredentialManager,
    ]
    .map(Backend::id)
    .into()
}

/// [`keychain_ids`], or `null`.
fn backend_ids() -> Vec<Option<&'static str>> {
    let mut ids: Vec<Option<&str>> = keychain_ids().into_iter().map(Some).collect();
    ids.push(None);
    ids
}

fn always_false(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "boolean", "const": false })
}

/// The published schemas: file name under docs/schema/, and the schema.
pub fn schemas() -> [(&'static str, Schema); 6] {
    [
        ("status.schema.json", schema_for::<StatusDocument>()),
        ("whoami.schema.json", schema_for::<WhoamiDocument>()),
        ("list.schema.json", schema_for::<ListDocument>()),
        ("doctor.schema.json", schema_for::<DoctorDocument>()),
        ("error.schema.json", schema_for::<ErrorDocument>()),
        (
            "login-pending.schema.json",
            schema_for::<LoginPendingDocument>(),
        ),
    ]
}

/// Draft 2020-12, describing what is serialized (not what would be accepted as input).
fn schema_for<T: JsonSchema>() -> Schema {
    SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<T>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_info() -> KeyInfo {
        serde_json::from_str(
            r#"{"key":{"id":"key_1","name":"laptop","environment":"dev",
            "created_at":"2024-01-16T09:12:00Z","expires_at":null,
            "scopes":{"all_projects":false,"projects":["bot"]},
            "permissions":{"upload_results":true,"read_scenarios":false}},
            "account":{"email":"a@example.com"},
            "organizations":[{"id":"org_1","name":"Acme","role":"owner"}]}"#,
        )
        .unwrap()
    }

    // Byte for byte what the hand-written `json!` documents printed before the types existed:
    // scripts may compare text, not only parse it.
    #[test]
    fn status_document_is_byte_identical_to_the_documented_format() {
        let info = key_info();
        let key = StatusKey::new(
            &info,
            "flux_dev_abc1...mno34".into(),
            KeySource::Store(StoreKind::Keychain),
            Some(Backend::SecretService),
            Utc::now(),
        );
        let doc = StatusDocument::new("default", "http://127.0.0.1:1", key, &info);
        let expected = r#"{
  "schema_version": 1,
  "authenticated": true,
  "profile": "default",
  "api_url": "http://127.0.0.1:1",
  "key": {
    "hint": "flux_dev_abc1...mno34",
    "id": "key_1",
    "name": "laptop",
    "environment": "dev",
    "source": "keychain",
    "backend": "secret-service",
    "created_at": "2024-01-16T09:12:00Z",
    "expires_at": null,
    "days_remaining": null
  },
  "account": {
    "id": null,
    "email": "a@example.com"
  },
  "organizations": [
    {
      "id": "org_1",
      "name": "Acme",
      "role": "owner"
    }
  ],
  "scopes": {
    "all_projects": false,
    "projects": [
      "bot"
    ]
  },
  "permissions": [
    {
      "name": "upload_results",
      "label": "Upload results",
      "granted": true
    },
    {
      "name": "read_scenarios",
      "label": "Read scenarios",
      "granted": false
    }
  ]
}"#;
        assert_eq!(serde_json::to_string_pretty(&doc).unwrap(), expected);
    }

    #[test]
    fn whoami_document_is_byte_identical_to_the_documented_format() {
        let who: Whoami = serde_json::from_str(
            r#"{"account":{"id":"usr_1","email":"a@example.com"},"organizations":[],
            "projects":[{"id":"prj_1","name":"bot","organization":"Acme"},{"name":"solo"}],
            "api_access":true,"plan":{"name":"Enterprise"},
            "usage":{"runs_this_month":5,"period_start":"2024-01-01T00:00:00Z"}}"#,
        )
        .unwrap();
        let expected = r#"{
  "schema_version": 1,
  "account": {
    "id": "usr_1",
    "email": "a@example.com"
  },
  "organizations": [],
  "projects": [
    {
      "id": "prj_1",
      "name": "bot",
      "organization": "Acme"
    },
    {
      "id": null,
      "name": "solo",
      "organization": null
    }
  ],
  "api_access": true,
  "plan": {
    "name": "Enterprise",
    "runs_per_month": null,
    "unlimited": true
  },
  "usage": {
    "runs_this_month": 5,
    "period_start": "2024-01-01T00:00:00Z"
  }
}"#;
        assert_eq!(
            serde_json::to_string_pretty(&WhoamiDocument::from(&who)).unwrap(),
            expected
        );
    }

    #[test]
    fn error_documents_have_authenticated_only_for_status() {
        let e = CliError::new(
            crate::error::ExitStatus::Auth,
            ErrorCode::NotLoggedIn,
            "Not logged in (profile 'default')",
        );
        assert_eq!(
            serde_json::to_string(&ErrorDocument::new(
                DocumentKind::Status,
                Some("default"),
                &e
            ))
            .unwrap(),
            r#"{"schema_version":1,"authenticated":false,"profile":"default","error":{"code":"not_logged_in","message":"Not logged in (profile 'default')"}}"#
        );
        assert_eq!(
            serde_json::to_string(&ErrorDocument::new(DocumentKind::Whoami, None, &e)).unwrap(),
            r#"{"schema_version":1,"profile":null,"error":{"code":"not_logged_in","message":"Not logged in (profile 'default')"}}"#
        );
    }
}
