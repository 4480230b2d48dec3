//! The POP3 protocol layer: pure and synchronous, no tokio, no sockets, no clocks.
//!
//! Typed [`Command`]s and responses ([`Status`] with [`ResponseCode`], [`ResponseLine`],
//! [`ScanListing`], [`UidListing`], [`Capabilities`]) with parsers and encoders; the RETR/TOP
//! [`MessageEncoder`]; and the two session state machines, [`ServerSession`] and
//! [`ClientSession`], with the client's STLS and login choices in [`login`]. The drivers in [`crate::server`] and [`crate::client`] only move bytes.

mod capability;
pub mod client;
mod command;
pub mod login;
mod message;
mod response;
pub mod server;
pub mod transcript;

use thiserror::Error;

pub use capability::Capabilities;
pub use client::{ClientSession, CommandHandle};
pub use command::{Command, InitialResponse, MAX_ARGUMENT};
pub use message::MessageEncoder;
pub use response::{
    MAX_STATUS_LINE, ResponseCode, ResponseLine, ScanListing, Status, UidListing, UniqueId,
    parse_stat,
};
pub use server::{CommitError, Event, LockError, MessageInfo, ServerConfig, ServerSession, State};

/// Input that does not follow the grammar. A server answers it with
/// [`SyntaxError::status`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct SyntaxError {
    message: String,
    unknown: bool,
}

impl SyntaxError {
    pub(crate) fn new(message: &str) -> Self {
        Self {
            message: message.to_owned(),
            unknown: false,
        }
    }

    pub(crate) fn unknown_command() -> Self {
        Self {
            message: "unknown command".to_owned(),
            unknown: true,
        }
    }

    /// Whether the keyword itself was not recognised (rather than its arguments).
    pub fn is_unknown_command(&self) -> bool {
        self.unknown
    }

    /// The `-ERR` a server sends for this error.
    pub fn status(&self) -> Status {
        Status::err(&format!("Syntax error: {}", self.message))
    }
}

/// A command that cannot be written safely.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// An argument holds CR, LF or another control character.
    #[error("control character in a command argument")]
    ControlCharacter,
    /// An argument that must not be empty is.
    #[error("empty command argument")]
    EmptyArgument,
    /// An argument does not fit its grammar (APOP digest, mechanism name, base64).
    #[error("malformed command argument")]
    BadArgument,
}
