//! Profile metadata in `~/.fluxloop/credentials` (YAML). Never prints.

mod model;
mod store;

pub use model::{
    CredentialsFile, DEFAULT_PROFILE, Expiry, PlaintextKey, Profile, ProfileName, ProfileNameError,
};
pub use store::{Loaded, ProfileError, ProfileStore, ProfileTx};
