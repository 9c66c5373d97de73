//! Profile metadata in `~/.fluxloop/credentials` (YAML). Never prints.

mod model;
mod secure_fs;
mod store;

pub use model::{
    CredentialsFile, DEFAULT_PROFILE, Expiry, PlaintextKey, Profile, ProfileName, ProfileNameError,
};
pub(crate) use store::{ProfileError, ProfileStore};
