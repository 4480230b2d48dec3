#![forbid(unsafe_code)]
//! IMAP4rev1 (RFC 3501) and IMAP4rev2 (RFC 9051) with their common extensions.
//!
//! [`proto`] is the sans-I/O protocol layer: typed commands and responses, a streaming nom
//! parser, an encoder that emits fragments (lines and literals), and a pipelining client
//! session. It does no networking, starts no tasks and reads no clock: a driver reads bytes,
//! hands them to the session, and writes what the session says to write.
//!
//! ```text
//!        enqueue(command) ──►┌───────────────┐── poll_transmit() ──► socket
//!                            │ ClientSession │
//!   socket ── handle_input ─►└───────────────┘── poll_event() ──► Completed / Data / ...
//! ```
//!
//! [`proto::server::ServerSession`] is the server's sans-I/O session and [`server`] its tokio
//! driver over the embedded store (`rfc-notes/imap-server.md` says what it implements); the
//! client's tokio driver is not built yet.
//!
//! | specification | status |
//! |---|---|
//! | IMAP4rev1 (RFC 3501), IMAP4rev2 (RFC 9051) | commands, responses, all response codes, §5.5 pipelining rules in the client |
//! | IDLE, LITERAL+/LITERAL-, UIDPLUS, MOVE, UNSELECT, ENABLE, ID, NAMESPACE, SASL-IR | parsed, encoded, used by the client session |
//! | ESEARCH, SEARCHRES, SPECIAL-USE / CREATE-SPECIAL-USE, LIST-EXTENDED, LIST-STATUS, CHILDREN | parsed and encoded |
//! | CONDSTORE / QRESYNC, COMPRESS=DEFLATE (command and code), APPENDLIMIT, BINARY, UTF8=ACCEPT | parsed and encoded |
//! | STATUS=SIZE, QUOTA, MULTIAPPEND, OBJECTID, SORT / THREAD, RFC 5530 codes | parsed and encoded |
//!
//! What is parsed, with section numbers, what is not, and the server quirks the client accepts:
//! `rfc-notes/rfc3501.md`, `rfc-notes/rfc9051.md` and one note per extension.
//! `fuzzing` (feature `fuzzing`, for fuzzing and tests only) holds the bodies of the cargo-fuzz
//! targets (`fuzz/fuzz_targets/imap_*.rs`) and the value generators shared with the property
//! tests.
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod proto;
pub mod server;
