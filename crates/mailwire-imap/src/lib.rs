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
//! tokio client is [`client`] (`rfc-notes/imap-client.md`). An embedded IMAP server, spoken to
//! over the wire:
//!
//! ```
//! use std::time::Duration;
//! use mailwire_imap::server::{Listener, Server, ServerOptions};
//! use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = mailwire_store::Store::memory();
//! store.add_user("alice", "secret").await?;
//! store.deliver("alice@example.com", &b"Subject: hi\r\n\r\nhello\r\n"[..]).await?;
//! let mut options = ServerOptions::default();
//! options.session.allow_insecure_auth = true; // LOGIN without TLS, for this example only
//! let server = Server::new(options, store, None);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! let (stop, shutdown) = tokio::sync::watch::channel(false);
//! tokio::spawn(server.serve(listener, Listener::Imap, shutdown, Duration::from_secs(1)));
//!
//! let (r, mut w) = tokio::net::TcpStream::connect(addr).await?.into_split();
//! let mut lines = BufReader::new(r).lines();
//! assert!(lines.next_line().await?.unwrap().starts_with("* OK [CAPABILITY IMAP4rev1"));
//! // Pipelined: the answers come back in order.
//! w.write_all(b"a LOGIN alice secret\r\nb SELECT INBOX\r\nc LOGOUT\r\n").await?;
//! let mut seen = Vec::new();
//! while let Some(l) = lines.next_line().await? {
//!     seen.push(l);
//! }
//! assert!(seen.iter().any(|l| l == "* 1 EXISTS"));
//! assert!(seen.last().unwrap().starts_with("c OK"));
//! stop.send(true)?;
//! # Ok(()) }
//! ```
//!
//! | specification | status |
//! |---|---|
//! | IMAP4rev1 (RFC 3501), IMAP4rev2 (RFC 9051) | commands, responses, all response codes, §5.5 pipelining rules in the client |
//! | IDLE, LITERAL+/LITERAL-, UIDPLUS, MOVE, UNSELECT, ENABLE, ID, NAMESPACE, SASL-IR | parsed, encoded, used by the client session |
//! | ESEARCH, SEARCHRES, SPECIAL-USE / CREATE-SPECIAL-USE, LIST-EXTENDED, LIST-STATUS, CHILDREN | parsed, encoded, served |
//! | CONDSTORE / QRESYNC, COMPRESS=DEFLATE, APPENDLIMIT, BINARY | parsed, encoded, served |
//! | STATUS=SIZE, QUOTA, MULTIAPPEND, SORT / THREAD, RFC 5530 codes | parsed, encoded, served |
//! | UTF8=ACCEPT, OBJECTID | parsed and encoded (UTF8=ACCEPT enabled by the server) |
//!
//! [`client::Client`] is the tokio client (`Clone + Send`, commands from many tasks pipelined
//! on one connection, unsolicited responses as events):
//!
//! ```
//! use std::time::Duration;
//! use mailwire_imap::client::{Client, ClientConfig, Login, Unsolicited};
//! use mailwire_imap::proto::Data;
//! use mailwire_imap::server::{Listener, Server, ServerOptions};
//! use mailwire_tls::{Security, TlsPolicy};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let store = mailwire_store::Store::memory();
//! # store.add_user("alice", "secret").await?;
//! # let mut options = ServerOptions::default();
//! # options.session.allow_insecure_auth = true;
//! # let server = Server::new(options, store.clone(), None);
//! # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let port = listener.local_addr()?.port();
//! # let (_stop, shutdown) = tokio::sync::watch::channel(false);
//! # tokio::spawn(server.serve(listener, Listener::Imap, shutdown, Duration::from_secs(1)));
//! // A test server on 127.0.0.1 without TLS (use imaps:// or STARTTLS anywhere else).
//! let config = ClientConfig::new("127.0.0.1", port, Security::StartTls(TlsPolicy::Disabled));
//! let login = Login::password("alice", "secret").allow_plaintext_without_tls(true);
//! let client = Client::connect(config, &login).await?;
//! client.append("INBOX", &[], b"Subject: hi\r\n\r\nhello\r\n".to_vec()).await?;
//! assert_eq!(client.select("INBOX").await?.exists, 1);
//!
//! // Two tasks, one connection: both commands are on the wire at once.
//! let (a, b) = (client.clone(), client.clone());
//! let (flags, size) = tokio::join!(
//!     a.command("FETCH 1 (FLAGS)"),
//!     b.command("FETCH 1 (RFC822.SIZE)"),
//! );
//! assert_eq!(flags?.data.len(), 1);
//! assert_eq!(size?.data.len(), 1);
//!
//! // IDLE: a delivery shows up as an event at once.
//! let mut events = client.events();
//! let idle = client.idle().await?;
//! store.deliver("alice@example.com", &b"Subject: new\r\n\r\nmail\r\n"[..]).await?;
//! assert_eq!(events.recv().await?, Unsolicited::Data(Data::Exists(2)));
//! idle.done().await?;
//! client.logout().await?;
//! # Ok(()) }
//! ```
//!
//! What is parsed, with section numbers, what is not, and the server quirks the client accepts:
//! `rfc-notes/rfc3501.md`, `rfc-notes/rfc9051.md` and one note per extension.
//! `fuzzing` (feature `fuzzing`, for fuzzing and tests only) holds the bodies of the cargo-fuzz
//! targets (`fuzz/fuzz_targets/imap_*.rs`) and the value generators shared with the property
//! tests.
pub mod client;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod proto;
pub mod server;
