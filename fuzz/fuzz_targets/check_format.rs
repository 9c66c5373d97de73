//! `keys::check_format` and `keys::mask`: never a panic; a key accepted is exactly the
//! contract's shape; its mask shows the environment and 4 + 5 characters of the secret.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fluxloop_fuzz::targets::check_format(data));
