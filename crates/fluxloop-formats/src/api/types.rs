//! Request and response types of docs/platform-api.yaml. Unknown fields are ignored, as the
//! contract requires; fields the contract marks required are required here too.

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// What `GET /api/auth/key` says about a key; also the rest of a `NewKey` once its
/// `api_key` is taken out.
#[derive(Debug, Clone, Deserialize)]
pub struct KeyInfo {
    pub key: KeyDetails,
    pub account: Account,
    pub organizations: Vec<Organization>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct KeyDetails {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    pub environment: String,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// Required by the contract but nullable: `null` means the key never expires.
    #[serde(deserialize_with = "required_nullable")]
    pub expires_at: Option<DateTime<Utc>>,
    pub scopes: Scopes,
    /// In the platform's order, which clients must keep.
    pub permissions: IndexMap<String, bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scopes {
    pub all_projects: bool,
    #[serde(default)]
    pub projects: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    #[serde(default)]
    pub id: Option<String>,
    pub email: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Organization {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    pub role: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Whoami {
    pub account: Account,
    pub organizations: Vec<Organization>,
    pub projects: Vec<Project>,
    pub api_access: bool,
    pub plan: Plan,
    pub usage: Usage,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Project {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub organization: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub name: String,
    /// `null` (or absent) means unlimited.
    #[serde(default)]
    pub runs_per_month: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Usage {
    pub runs_this_month: u64,
    #[serde(default)]
    pub period_start: Option<DateTime<Utc>>,
}

/// The body of `POST /api/cli-connect/start`.
#[derive(Debug, Clone, Serialize)]
pub struct StartRequest {
    /// Always `fluxloop`.
    pub client_name: &'static str,
    pub client_version: &'static str,
    /// Shown on the approval page and used as the key's name.
    pub device_name: String,
    /// `None`: the organization's default (sent as `null`).
    pub expires_in_days: Option<u32>,
}

/// The answer of `POST /api/cli-connect/start`, except `device_code`, which the client takes
/// out before anything else reads the answer (see `ApiClient::start_browser_login`).
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceAuthorization {
    pub user_code: String,
    pub verification_uri: String,
    #[serde(default)]
    pub verification_uri_complete: Option<String>,
    /// Seconds until the device code expires.
    pub expires_in: u64,
    /// Seconds between polls.
    pub interval: u64,
}

/// The body of `POST /api/auth/key/rotate`.
#[derive(Debug, Clone, Serialize)]
pub struct RotateRequest {
    /// Absent: the same lifetime as the presented key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in_days: Option<u32>,
}

/// The platform's error body: `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetails,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ErrorDetails {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub required_permission: Option<String>,
    #[serde(default)]
    pub permissions: Vec<String>,
}

fn required_nullable<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_contract_example_and_keeps_permission_order() {
        let json = r#"{"key":{"id":"key_01HV8Y3M2N","name":"laptop","environment":"dev",
            "created_at":"2024-01-16T09:12:00Z","expires_at":"2024-04-15T00:00:00Z",
            "scopes":{"all_projects":true,"projects":[]},
            "permissions":{"upload_results":true,"read_scenarios":true,"zeta":false,"alpha":true}},
            "account":{"id":"usr_42","email":"john@example.com","new_field":1},
            "organizations":[{"id":"org_1","name":"Acme Inc","role":"owner"}]}"#;
        let k: KeyInfo = serde_json::from_str(json).unwrap();
        let names: Vec<&str> = k.key.permissions.keys().map(String::as_str).collect();
        assert_eq!(names, ["upload_results", "read_scenarios", "zeta", "alpha"]);
        assert!(k.key.expires_at.is_some());
    }

    #[test]
    fn expires_at_is_required_but_nullable() {
        let base = r#"{"key":{"environment":"dev",EXP"scopes":{"all_projects":true},"permissions":{}},
            "account":{"email":"a@b"},"organizations":[]}"#;
        let null: KeyInfo =
            serde_json::from_str(&base.replace("EXP", r#""expires_at":null,"#)).unwrap();
        assert!(null.key.expires_at.is_none());
        assert!(serde_json::from_str::<KeyInfo>(&base.replace("EXP", "")).is_err());
    }
}
