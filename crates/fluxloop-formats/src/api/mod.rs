//! The platform's answers (docs/platform-api.yaml) and what turns a server's bytes into them.

pub mod decode;
pub mod text;
pub mod types;

pub use decode::{DecodeError, decode, decode_value, parse_json, parse_retry_after};
pub use text::{ServerText, neutralise_controls};
pub use types::{Account, KeyDetails, KeyInfo, Organization, Plan, Project, Scopes, Usage, Whoami};
pub use types::{DeviceAuthorization, RotateRequest, StartRequest};
pub use types::{ErrorBody, ErrorDetails};
