//! The SMTP protocol layer: pure and synchronous, no tokio, no sockets, no clocks.
//!
//! Typed [`Command`]s and [`Reply`]s with parsers and encoders, the EHLO [`Extensions`], the
//! xtext codec, and the server and client session state machines.

mod address;
mod ascii;
pub mod client;
mod command;
mod params;
mod reply;
pub mod server;
pub mod transcript;

use thiserror::Error;

pub use address::{
    Address, Charset, ForwardPath, MAX_DOMAIN, MAX_LOCAL_PART, MAX_PATH, ReversePath,
};
pub use client::{ClientConfig, ClientSession};
pub use command::{Command, InitialResponse};
pub use params::{Body, MailParams, Notify, RcptParams, Ret, Unknown, xtext_decode, xtext_encode};
pub use reply::{EnhancedCode, Extensions, Reply, ReplyError, ReplyParser};
pub use server::{Envelope, Event, Mode, Recipient, ServerConfig, ServerSession, SessionInfo};

/// What kind of syntax error a command has; decides the reply code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyntaxKind {
    /// 500 5.5.1
    UnknownCommand,
    /// 501 5.5.4 (5.1.7 / 5.1.3 for addresses)
    Arguments,
    /// 555 5.5.4
    Parameters,
}

/// A command that does not follow the grammar. Knows its reply ([`SyntaxError::reply`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct SyntaxError {
    kind: SyntaxKind,
    enhanced: EnhancedCode,
    message: String,
}

impl SyntaxError {
    pub(crate) fn new(message: &str) -> Self {
        Self {
            kind: SyntaxKind::Arguments,
            enhanced: EnhancedCode::new(5, 5, 4),
            message: message.to_owned(),
        }
    }

    pub(crate) fn params(message: &str) -> Self {
        Self {
            kind: SyntaxKind::Parameters,
            ..Self::new(message)
        }
    }

    pub(crate) fn unknown_command() -> Self {
        Self {
            kind: SyntaxKind::UnknownCommand,
            enhanced: EnhancedCode::new(5, 5, 1),
            message: "command not recognized".to_owned(),
        }
    }

    pub(crate) fn path_too_long() -> Self {
        Self {
            enhanced: EnhancedCode::new(5, 5, 4),
            ..Self::new("path too long")
        }
    }

    /// Marks an address error as the sender's (5.1.7).
    pub(crate) fn sender(mut self) -> Self {
        self.enhanced = EnhancedCode::new(5, 1, 7);
        self
    }

    /// Marks an address error as a recipient's (5.1.3).
    pub(crate) fn recipient(mut self) -> Self {
        self.enhanced = EnhancedCode::new(5, 1, 3);
        self
    }

    /// The reply a server sends for this error.
    pub fn reply(&self) -> Reply {
        let code = match self.kind {
            SyntaxKind::UnknownCommand => 500,
            SyntaxKind::Arguments => 501,
            SyntaxKind::Parameters => 555,
        };
        Reply::new(
            code,
            Some(self.enhanced),
            &format!("Syntax error: {}", self.message),
        )
    }
}

/// A command that cannot be written safely.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A free-text argument holds CR, LF or another control character.
    #[error("control character in a command argument")]
    ControlCharacter,
    /// The EHLO/HELO/LHLO domain is not a domain or address literal.
    #[error("invalid domain in greeting command")]
    BadDomain,
}
