//! cargo-fuzz target: see `mailwire_imap::fuzzing::server_session` for the invariants checked.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mailwire_imap::fuzzing::server_session(data));
