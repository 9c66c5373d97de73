//! The platform's HTTP contract (docs/platform-api.yaml): types and client. Never prints.

mod client;
mod proxy;
mod text;
mod types;

pub(crate) use client::{
    ApiClient, ApiError, BrowserLogin, ClientOptions, NewKey, Poll, Revocation,
    new_idempotency_key, parse_base_url,
};
pub(crate) use proxy::{ProxyRoute, ProxyVars};
// For the fuzz targets: the decoding and header parsing applied to what a server sends.
pub use client::{decode, parse_retry_after};
pub use text::neutralise_controls;
pub use types::{Account, KeyDetails, KeyInfo, Organization, Plan, Project, Scopes, Usage, Whoami};
pub use types::{DeviceAuthorization, RotateRequest, StartRequest};
pub use types::{ErrorBody, ErrorDetails};
