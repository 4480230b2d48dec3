#![forbid(unsafe_code)]
//! Real mail peers for mailwire's interop tests.
//!
//! Each peer is a handle that starts a real server on 127.0.0.1 through the scripts in the
//! repository's `tests/peers/` folder, in a fresh temporary folder and on ports nobody else in
//! this process got ([`free_port_base`]), and stops it by pid when dropped:
//!
//! | handle | server | for testing |
//! |---|---|---|
//! | [`Dovecot`] | Dovecot: IMAP, IMAPS, POP3, POP3S, LMTP | IMAP, POP3 and LMTP clients |
//! | [`SmtpSink`] | Postfix smtp-sink: counts and discards | SMTP/LMTP client throughput, pipelining |
//! | [`Aiosmtpd`] | Python aiosmtpd: keeps each message as a file | what an SMTP client sent, byte for byte |
//! | [`Twisted`] | Twisted ESMTP + POP3 + IMAP4 over one store | a second, independent implementation of all three |
//! | [`Postgres`] | PostgreSQL (initdb in a temporary folder) | the postgres store |
//!
//! Every peer knows the users in [`USERS`] (alice and bob, password `secret`). The TLS ones use a
//! self-signed certificate for `localhost` and `127.0.0.1` (`cert_pem_path()`): trust it as the
//! only CA. A peer that is not installed makes `start` fail with [`Error::NotInstalled`], whose
//! message names the package: tests fail loudly and never skip. `tests/peers/install.sh`
//! installs them all (Debian 12, as root).
//!
//! [`run_tool`] and [`python`] run reference clients (swaks, curl, `smtplib`/`imaplib`/`poplib`,
//! ...) with a time limit.
//!
//! If a test process is killed before its handles drop, each peer's watchdog stops it within a
//! second or so. Set `MAILWIRE_KEEP_PEER_DIRS=1` to keep the peers' folders (configs, logs, mail)
//! after the test for a look; their paths are printed on stderr.
//!
//! # Example
//!
//! ```
//! use std::io::{BufRead, BufReader, Write};
//! use std::net::TcpStream;
//! use std::time::Duration;
//! use mailwire_testkit::{Dovecot, python};
//!
//! let dovecot = Dovecot::start()?;
//! dovecot.add_message("alice", b"Subject: hi\r\n\r\nhello\r\n")?;
//!
//! // Talk to it directly...
//! let stream = TcpStream::connect(dovecot.imap())?;
//! let mut reader = BufReader::new(stream.try_clone()?);
//! let mut line = String::new();
//! reader.read_line(&mut line)?;
//! assert!(line.starts_with("* OK"), "{line}");
//! (&stream).write_all(b"a LOGIN alice secret\r\n")?;
//! line.clear();
//! reader.read_line(&mut line)?;
//! assert!(line.starts_with("a OK"), "{line}");
//!
//! // ...or through a reference client.
//! let count = python(
//!     &format!(
//!         "import poplib; p = poplib.POP3('127.0.0.1', {}); p.user('alice'); p.pass_('secret'); print(p.stat()[0])",
//!         dovecot.pop3().port()
//!     ),
//!     Duration::from_secs(30),
//! )?;
//! assert_eq!(count.trim(), "1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod aiosmtpd;
mod dovecot;
mod error;
mod peer;
mod ports;
mod postgres;
mod smtp_sink;
mod tmux;
mod tools;
mod twisted;

pub use aiosmtpd::{Aiosmtpd, AiosmtpdOptions, Envelope};
pub use dovecot::Dovecot;
pub use error::{Error, Result};
pub use peer::{peers_dir, pid_alive};
pub use ports::{PORT_RANGE_END, PORT_RANGE_START, free_port, free_port_base};
pub use postgres::Postgres;
pub use smtp_sink::{SinkCounters, SmtpSink};
pub use tmux::Tmux;
pub use tools::{python, run_command, run_tool, run_tool_ok};
pub use twisted::Twisted;

/// The users every peer knows, as (user, password).
pub const USERS: [(&str, &str); 2] = [("alice", "secret"), ("bob", "secret")];

/// The password of every user in [`USERS`].
pub const PASSWORD: &str = "secret";
