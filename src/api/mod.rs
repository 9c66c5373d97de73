//! The platform's HTTP contract (docs/platform-api.yaml): types and client. Never prints.

mod client;
mod types;

pub(crate) use client::{ApiClient, ApiError, ClientOptions, Revocation, parse_base_url};
pub use types::{Account, KeyDetails, KeyInfo, Organization, Plan, Project, Scopes, Usage, Whoami};
