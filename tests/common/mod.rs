//! Support code shared by the integration tests (`mod common;` in a test file).

pub mod env;
pub mod schema;
pub mod secret_service;
