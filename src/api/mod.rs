//! The platform's HTTP contract (docs/platform-api.yaml): types and client. Never prints.

mod client;
mod text;
mod types;

pub use client::{
    ApiClient, ApiError, ClientOptions, MAX_BODY, decode, parse_base_url, parse_retry_after,
    user_agent,
};
pub use text::{ServerText, neutralise_controls};
pub use types::{Account, KeyDetails, KeyInfo, Organization, Plan, Project, Scopes, Usage, Whoami};
pub use types::{ErrorBody, ErrorDetails};
