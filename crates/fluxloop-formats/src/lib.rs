//! fluxloop's formats, as pure functions of their input: the API key's format, masking and
//! redaction (`keys`); the credentials file's model and parser (`profiles`); the platform's
//! answers and the decoding of their bytes (`api`). No file, network, keychain or terminal:
//! fluxloop re-exports these where its modules had them, and the fuzz targets (fuzz/) build
//! this crate alone.

pub mod api;
pub mod keys;
pub mod profiles;
