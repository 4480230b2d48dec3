//! The framing errors. Each says which limit or rule was broken, so a server can put it in its
//! reply (`500 5.5.2 Line too long (max 512)`, `* BAD`, `-ERR`).

use thiserror::Error;

/// A line refused by [`LineFramer`](crate::LineFramer).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LineError {
    /// The line is longer than the configured limit (which counts the `CRLF`). The rest of the
    /// line is dropped; framing resumes after its `LF`.
    #[error("line too long (the limit is {limit} octets including CRLF)")]
    TooLong {
        /// The limit in force.
        limit: usize,
    },
    /// The line ended with a bare `LF` (no `CR` before it) under [`BareLf::Reject`](crate::BareLf).
    #[error("line ended with a bare LF; lines must end with CRLF")]
    BareLf,
}

/// A message refused by [`ImapFramer`](crate::ImapFramer). After an error the rest of the
/// message (including literals the peer sends without waiting) is dropped unparsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FramingError {
    /// One line of the message is longer than the configured limit (counting its `CRLF`).
    #[error("line too long (the limit is {limit} octets including CRLF)")]
    LineTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// A line ended with a bare `LF`.
    #[error("line ended with a bare LF; lines must end with CRLF")]
    BareLf,
    /// The line ends in something that looks like a literal announcement but is not one:
    /// `{-1}`, `{}`, `{1+2}`, or a size beyond 2^63-1 (RFC 9051 `number64`).
    #[error("invalid literal announcement")]
    InvalidLiteral,
    /// The announced literal is larger than the configured limit.
    #[error("literal of {size} octets is larger than the limit of {limit}")]
    LiteralTooLarge {
        /// The announced size.
        size: u64,
        /// The limit in force.
        limit: u64,
    },
    /// The message (all its lines and literals) would be larger than the configured limit.
    #[error("message larger than the limit of {limit} octets")]
    MessageTooLarge {
        /// The limit in force.
        limit: usize,
    },
}

/// Why an SMTP DATA transfer (or a POP3 multi-line response) was refused. Reported when the
/// terminating `CRLF.CRLF` has been read, so the server answers in step with the client.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DataError {
    /// The unstuffed message exceeded the limit (SMTP `552 5.3.4`).
    #[error("message exceeds the size limit of {limit} octets")]
    TooLarge {
        /// The limit in force.
        limit: u64,
    },
    /// A `CR` not followed by `LF` (RFC 5321 §2.3.8).
    #[error("bare CR in message data")]
    BareCr,
    /// An `LF` not preceded by `CR` (RFC 5321 §2.3.8).
    #[error("bare LF in message data")]
    BareLf,
    /// A text line longer than the configured limit (RFC 5321 §4.5.3.1.6: 1000 octets).
    #[error("message line longer than {limit} octets")]
    LineTooLong {
        /// The limit in force (counting the `CRLF`).
        limit: usize,
    },
}
