//! Profile metadata in `~/.fluxloop/credentials` (YAML). Never prints.

mod secure_fs;
mod store;

// The file's model and parser are pure, in fluxloop-formats (fuzzed on their own); reading,
// checking, locking and writing the file are here.
use fluxloop_formats::profiles::model;

pub use model::{
    CredentialsFile, DEFAULT_PROFILE, Expiry, PlaintextKey, Profile, ProfileCaseClash, ProfileName,
    ProfileNameError,
};
pub use store::ProfileError;
pub(crate) use store::{Peeked, ProfileStore, ProfileTx};
