#![forbid(unsafe_code)]
//! POP3 for mailwire: a sans-I/O protocol layer, a tokio server and a tokio client.
//!
//! | module | what | I/O |
//! |---|---|---|
//! | [`proto`] | typed [`Command`](proto::Command)s and responses with parsers and encoders, the server and client session state machines, the RETR/TOP encoder | none: no tokio, no sockets, no clocks |
//! | [`server`] | listeners, connections, timeouts, STLS and implicit TLS, the [`MaildropProvider`](server::MaildropProvider) backend trait and an in-memory backend | tokio |
//! | [`client`] | connect (`pop3://` + STLS or `pop3s://`), CAPA-driven login, streaming RETR/TOP into an `AsyncWrite`, pipelined batches, UIDL "new messages" | tokio |
//! | `fuzzing` | the bodies of the cargo-fuzz targets, replayed by `cargo test` (feature `fuzzing`: fuzzing and tests only) | none |
//!
//! Implemented: RFC 1939 (all commands, APOP; UPDATE state with durable deletions), RFC 2449
//! (CAPA, extended response codes, PIPELINING), RFC 2595 (STLS), RFC 5034 (SASL AUTH with initial
//! response and `*` cancel), RFC 3206 (`[SYS/TEMP]`, `[SYS/PERM]`, `[AUTH]`), RFC 8314 (implicit
//! TLS on `pop3s`). See `rfc-notes/` at the repository root for sections and deviations.
//!
//! The server never accepts USER/PASS or a plaintext SASL mechanism without TLS unless told to
//! (`allow_insecure_auth`), and it answers the `+OK` to a QUIT that deletes only after the
//! backend made the deletions durable. The client requires TLS by default (`pop3s://`, or STLS
//! that fails closed when the server does not offer it) and never prefers APOP.
//!
//! ```
//! use mailwire_pop3::proto::{Command, Status};
//!
//! let cmd = Command::parse(b"TOP 3 10").unwrap();
//! assert_eq!(cmd, Command::Top { message: 3, lines: 10 });
//! let status = Status::parse(b"-ERR [IN-USE] maildrop locked").unwrap();
//! assert!(!status.is_ok());
//! assert_eq!(status.code().map(|c| c.to_string()).as_deref(), Some("IN-USE"));
//! ```

pub mod client;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod proto;
pub mod server;
