//! Profile metadata in `~/.fluxloop/credentials` (YAML). Never prints.

mod model;
mod store;

pub use model::{CredentialsFile, Expiry, KeyLocation, Profile, ProfileName, Storage};
pub use store::{Loaded, ProfileError, ProfileStore, parse_credentials};
