//! Profile metadata in `~/.fluxloop/credentials` (YAML). Never prints.

mod model;
mod secure_fs;
mod store;

pub use model::{CredentialsFile, Expiry, KeyLocation, Profile, ProfileName, Storage};
pub(crate) use store::{ProfileError, ProfileStore};
