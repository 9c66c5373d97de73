//! The credentials file (`~/.fluxloop/credentials`, YAML): its model and its parser.

pub mod model;
mod parse;
mod written;

#[doc(hidden)]
pub use written::disagreement_with_serde_saphyr;

pub use model::{
    CredentialsFile, DEFAULT_PROFILE, Expiry, FORMAT_VERSION, PlaintextKey, Profile,
    ProfileCaseClash, ProfileName, ProfileNameError, StoreKind,
};
pub use parse::{ParseError, parse_credentials, parse_credentials_text};
