//! Profile metadata in `~/.fluxloop/credentials` (YAML). Never prints.

mod model;
mod secure_fs;
mod store;

pub use model::{
    CredentialsFile, DEFAULT_PROFILE, Expiry, PlaintextKey, Profile, ProfileCaseClash, ProfileName,
    ProfileNameError,
};
pub(crate) use store::{Peeked, ProfileStore, ProfileTx};
// For the fuzz target: the credentials file's parser, and its error.
pub use store::{ProfileError, parse_credentials};
