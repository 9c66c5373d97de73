//! The platform's HTTP contract (docs/platform-api.yaml): types and client. Never prints.

mod client;
mod proxy;

// The contract's types, and what turns a server's bytes into them, are pure and live in
// fluxloop-formats (fuzzed on their own); the HTTP client is here.
use fluxloop_formats::api::{text, types};

pub(crate) use client::{
    ApiClient, ApiError, BrowserLogin, ClientOptions, NewKey, Poll, Revocation,
    new_idempotency_key, parse_base_url,
};
pub(crate) use proxy::{ProxyRoute, ProxyVars};
pub use text::neutralise_controls;
pub use types::{Account, KeyDetails, KeyInfo, Organization, Plan, Project, Scopes, Usage, Whoami};
pub use types::{DeviceAuthorization, RotateRequest, StartRequest};
pub use types::{ErrorBody, ErrorDetails};
