//! What every command needs, resolved once from flags and the environment: the profile, the API
//! URL rules, the HTTP budget, the key from `FLUXLOOP_API_KEY`, and the two stores.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::api::{self, ApiClient, ClientOptions};
use crate::cli::{self, GlobalArgs, StorageChoice, env};
use crate::error::{CliError, CliResult};
use crate::profiles::{Profile, ProfileName, ProfileStore};
use crate::secrets::{self, KeyringStore, SecretStore};

/// The default budget for one command's conversation with the platform.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Context {
    pub profile: ProfileName,
    /// `--api-url` or `FLUXLOOP_API_URL`, validated.
    pub api_url_override: Option<Url>,
    pub storage: Option<StorageChoice>,
    pub timeout: Duration,
    pub extra_roots: Option<PathBuf>,
    pub system_cert_dirs: Option<Vec<PathBuf>>,
    pub env_key: Option<SecretString>,
    pub profiles: ProfileStore,
    pub secrets: Box<dyn SecretStore>,
}

impl Context {
    pub fn from_args(global: &GlobalArgs) -> CliResult<Self> {
        let profile =
            ProfileName::parse(global.profile.as_deref().unwrap_or(cli::DEFAULT_PROFILE))?;
        let api_url_override = match global.api_url.as_deref() {
            Some(text) => Some(api::parse_base_url(text).map_err(|e| {
                crate::commands::errors::api_error(e, &crate::commands::errors::KeyOrigin::None)
            })?),
            None => None,
        };
        let timeout = match std::env::var(env::TIMEOUT) {
            Ok(text) => parse_timeout(&text)?,
            Err(_) => DEFAULT_TIMEOUT,
        };
        let env_key = std::env::var(env::API_KEY).ok().and_then(|v| {
            let v = zeroize::Zeroizing::new(v);
            let trimmed = v.trim();
            (!trimmed.is_empty()).then(|| SecretString::from(trimmed))
        });
        let extra_roots = std::env::var_os(env::SSL_CERT_FILE)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        // Empty entries (and an empty SSL_CERT_DIR) count as unset, as in rustls-native-certs.
        let system_cert_dirs = std::env::var_os(env::SSL_CERT_FILE).map(|_| {
            std::env::var_os(env::SSL_CERT_DIR)
                .map(|dirs| std::env::split_paths(&dirs).collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        let dir = match std::env::var_os(env::HOME).filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => dirs::home_dir()
                .ok_or_else(|| {
                    CliError::failure("Cannot find your home directory").hint(format!(
                        "Set {} to the directory for fluxloop's files",
                        env::HOME
                    ))
                })?
                .join(".fluxloop"),
        };
        let service = std::env::var(env::KEYRING_SERVICE)
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| secrets::DEFAULT_SERVICE.to_string());
        Ok(Self {
            profile,
            api_url_override,
            storage: global.storage,
            timeout,
            extra_roots,
            system_cert_dirs,
            env_key,
            profiles: ProfileStore::new(dir),
            secrets: Box::new(KeyringStore::new(&service, secrets::CALL_TIMEOUT)),
        })
    }

    /// First to last: `--api-url`, `FLUXLOOP_API_URL`, the URL saved with the profile, the default.
    pub fn api_url(&self, profile: Option<&Profile>) -> CliResult<Url> {
        if let Some(url) = &self.api_url_override {
            return Ok(url.clone());
        }
        let saved = profile.and_then(|p| p.api_url.as_deref());
        api::parse_base_url(saved.unwrap_or(cli::DEFAULT_API_URL)).map_err(|e| {
            crate::commands::errors::api_error(e, &crate::commands::errors::KeyOrigin::None).hint(
                format!(
                    "The URL comes from profile '{}' in {}; log in again or pass --api-url",
                    self.profile,
                    self.profiles.path().display()
                ),
            )
        })
    }

    pub fn client(&self, base: Url) -> CliResult<ApiClient> {
        let options = ClientOptions {
            timeout: self.timeout,
            extra_roots: self.extra_roots.clone(),
            system_cert_dirs: self.system_cert_dirs.clone(),
        };
        ApiClient::new(base, &options).map_err(|e| {
            crate::commands::errors::api_error(e, &crate::commands::errors::KeyOrigin::None)
        })
    }
}

fn parse_timeout(text: &str) -> CliResult<Duration> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 3600.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            CliError::usage(format!("Invalid {}: {text:?}", env::TIMEOUT))
                .detail("It is a number of seconds greater than 0 and at most 3600.")
                .hint(format!("Example: {}=60", env::TIMEOUT))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_values() {
        assert_eq!(parse_timeout("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_timeout("0.5").unwrap(), Duration::from_millis(500));
        for bad in ["0", "-1", "abc", "", "inf", "NaN", "4000"] {
            assert!(parse_timeout(bad).is_err(), "{bad}");
        }
    }
}
