//! The logic of `mailwire parse imap-command|imap-response < TRANSCRIPT`: split the bytes
//! into messages (literals included) with [`ImapFramer`], parse each, print it and its
//! re-encoding, and stop at the first failure, naming its byte offset.

use std::io::Write;

use mailwire_codec::{ImapFrame, ImapFramer, ImapFramerConfig};
use thiserror::Error;

use super::encode::EncodeOptions;
use super::parse::{
    DecodeError, DecodeOptions, decode_authenticate_data, decode_command, decode_greeting,
    decode_idle_done, decode_response,
};
use super::types::command::CommandBody;

/// Which side's messages the transcript holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranscriptKind {
    /// Client commands (with AUTHENTICATE continuation lines and IDLE's `DONE`).
    Command,
    /// Server responses (the first may be the greeting).
    Response,
}

/// Why a transcript stopped.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TranscriptError {
    /// A message did not parse (or broke a framing limit).
    #[error("byte offset {offset}: {message}")]
    Invalid {
        /// Where the message starts in the input.
        offset: usize,
        /// What went wrong.
        message: String,
    },
    /// The input ends inside a message.
    #[error("byte offset {offset}: the transcript ends inside a message")]
    Truncated {
        /// Where the unfinished message starts.
        offset: usize,
    },
    /// Writing the output failed.
    #[error("writing the output: {0}")]
    Io(#[from] std::io::Error),
}

impl TranscriptError {
    /// The byte offset of the failing message (none for I/O errors).
    pub fn offset(&self) -> Option<usize> {
        match self {
            Self::Invalid { offset, .. } | Self::Truncated { offset } => Some(*offset),
            Self::Io(_) => None,
        }
    }
}

/// Parses every message of `input`, writing for each its offset, the parsed value and its
/// re-encoding (escaped) to `out`. Returns the number of messages.
///
/// ```
/// use mailwire_imap::proto::transcript::{TranscriptKind, parse_transcript};
///
/// let mut out = Vec::new();
/// let n = parse_transcript(TranscriptKind::Command, b"a1 LOGIN {5}\r\nalice pw\r\na2 NOOP\r\n", &mut out).unwrap();
/// assert_eq!(n, 2);
/// let text = String::from_utf8(out).unwrap();
/// assert!(text.contains("=> a1 LOGIN alice pw\\r\\n"), "{text}");
/// let err = parse_transcript(TranscriptKind::Command, b"a1 NOOP\r\nbad\r\n", &mut Vec::new()).unwrap_err();
/// assert_eq!(err.offset(), Some(9));
/// ```
pub fn parse_transcript(
    kind: TranscriptKind,
    input: &[u8],
    out: &mut impl Write,
) -> Result<usize, TranscriptError> {
    let options = DecodeOptions::default();
    let mut framer = ImapFramer::new(ImapFramerConfig::default());
    let mut rest = input;
    let mut start = 0;
    let mut count = 0;
    let mut first = true;
    // After AUTHENTICATE (until another command parses): continuation lines; after IDLE: DONE.
    let mut after_authenticate = false;
    let mut after_idle = false;
    while let Some(frame) = framer.next_frame(&mut rest) {
        let msg = match frame {
            ImapFrame::LiteralAnnounced(_) => continue,
            ImapFrame::Error { error, .. } => {
                return Err(TranscriptError::Invalid {
                    offset: start,
                    message: error.to_string(),
                });
            }
            ImapFrame::Message(m) => m.to_vec(),
        };
        let offset = start;
        start = input.len() - rest.len();
        let fail = |e: DecodeError| TranscriptError::Invalid {
            offset,
            message: e.to_string(),
        };
        let trailing = |n: usize| TranscriptError::Invalid {
            offset: offset + n,
            message: format!("{} octets after the end of the message", msg.len() - n),
        };
        let (shown, wire) = match kind {
            TranscriptKind::Command => match decode_command(&msg, &options) {
                Ok((_, n)) if n != msg.len() => return Err(trailing(n)),
                Ok((cmd, _)) => {
                    after_authenticate = matches!(cmd.body, CommandBody::Authenticate { .. });
                    after_idle = matches!(cmd.body, CommandBody::Idle);
                    let wire = cmd.encode(&EncodeOptions::default()).into_bytes();
                    (format!("{cmd:?}"), wire)
                }
                Err(e) if after_authenticate => match decode_authenticate_data(&msg) {
                    Ok((d, _)) => (format!("{d:?}"), d.to_bytes()),
                    Err(_) => return Err(fail(e)),
                },
                Err(e) if after_idle => match decode_idle_done(&msg) {
                    Ok(_) => {
                        after_idle = false;
                        ("IdleDone".to_owned(), b"DONE\r\n".to_vec())
                    }
                    Err(_) => return Err(fail(e)),
                },
                Err(e) => return Err(fail(e)),
            },
            TranscriptKind::Response => match decode_response(&msg, &options) {
                Ok((_, n)) if n != msg.len() => return Err(trailing(n)),
                Ok((r, _)) => (format!("{r:?}"), r.to_bytes()),
                Err(e) if first => match decode_greeting(&msg) {
                    Ok((g, _)) => (format!("{g:?}"), g.to_bytes()),
                    Err(_) => return Err(fail(e)),
                },
                Err(e) => return Err(fail(e)),
            },
        };
        first = false;
        count += 1;
        writeln!(out, "@{offset} {shown}")?;
        writeln!(out, "=> {}", wire.escape_ascii())?;
    }
    if !framer.is_idle() {
        return Err(TranscriptError::Truncated { offset: start });
    }
    Ok(count)
}
