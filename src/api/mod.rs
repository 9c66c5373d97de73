//! The platform's HTTP contract (docs/platform-api.yaml): types and client. Never prints.

mod client;
mod types;

pub use client::{ApiClient, ApiError, ClientOptions, MAX_BODY, parse_base_url, user_agent};
pub use types::{Account, KeyDetails, KeyInfo, Organization, Plan, Project, Scopes, Usage, Whoami};
