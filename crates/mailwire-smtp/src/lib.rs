#![forbid(unsafe_code)]
//! SMTP, Submission and LMTP (work in progress).
pub mod client;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod proto;
pub mod server;
pub mod store;
