//! The parsers: nom functions named after the ABNF rules, streaming (`Incomplete` on any proper
//! prefix), returning [`DecodeError::NeedLiteral`] when the input stops right after a literal
//! announcement and a [`SyntaxError`] that carries the tag when one was read.
//!
//! A parser is normally handed one whole message by [`mailwire_codec::ImapFramer`] (frame
//! first, parse second), so it never re-scans a growing buffer; it can also be called on a
//! raw buffer, where `Incomplete` and `NeedLiteral` say what is missing.

pub(crate) mod command;
pub(crate) mod core;
pub(crate) mod fetch;
pub(crate) mod response;
pub(crate) mod search;

use mailwire_codec::LiteralAnnouncement;
use nom::Err;
use thiserror::Error;

use self::core::{PError, PErrorKind};
use crate::proto::types::command::{AuthenticateData, Command};
use crate::proto::types::core::{Tag, Text};
use crate::proto::types::response::{
    Completion, Greeting, Response, Tagged, Untagged, UntaggedKind,
};

/// Settings of the parsers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// How deeply search keys (`NOT`, `OR`, parentheses), body structures, body extensions,
    /// THREAD lists and extension values may nest.
    ///
    /// Default: 48. Real messages nest MIME parts a handful of levels deep; each level costs a
    /// few hundred octets of stack, so this bound keeps a hostile peer from overflowing it.
    pub max_depth: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self { max_depth: 48 }
    }
}

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is a proper prefix of a message: more octets are needed.
    #[error("incomplete message")]
    Incomplete,
    /// The input stops right after a literal announcement: the literal's octets are needed
    /// (after a `+` for a synchronising literal).
    #[error("literal of {} octets announced", .0.size)]
    NeedLiteral(LiteralAnnouncement),
    /// The message breaks the grammar.
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
}

/// A message that breaks the grammar. Knows the tag (when one was read) and so the reply a
/// server sends: [`SyntaxError::response`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("syntax error at octet {offset}: expected {expected}")]
pub struct SyntaxError {
    tag: Option<Tag>,
    offset: usize,
    expected: &'static str,
    too_deep: bool,
}

impl SyntaxError {
    /// The tag of the broken command, when it was read.
    pub fn tag(&self) -> Option<&Tag> {
        self.tag.as_ref()
    }

    /// Where in the message the error was found.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// What the parser expected there.
    pub fn expected(&self) -> &'static str {
        self.expected
    }

    /// Whether the nesting limit ([`DecodeOptions::max_depth`]) was exceeded.
    pub fn is_too_deep(&self) -> bool {
        self.too_deep
    }

    /// The server's answer: `tag BAD …` when the tag is known, `* BAD …` otherwise.
    pub fn response(&self) -> Response {
        let text = if self.too_deep {
            Text::unvalidated(b"Too deeply nested")
        } else {
            let msg = format!(
                "Syntax error at octet {}: expected {}",
                self.offset, self.expected
            );
            Text::new(msg).unwrap_or_default()
        };
        match &self.tag {
            Some(tag) => Response::Tagged(Tagged {
                tag: tag.clone(),
                kind: Completion::Bad,
                code: None,
                text,
            }),
            None => Response::Untagged(Untagged {
                kind: UntaggedKind::Bad,
                code: None,
                text,
            }),
        }
    }
}

fn convert(e: Err<PError>, total: usize, tag: Option<Tag>) -> DecodeError {
    match e {
        Err::Incomplete(_) => DecodeError::Incomplete,
        Err::Error(p) | Err::Failure(p) => match p.kind {
            PErrorKind::NeedLiteral(l) => DecodeError::NeedLiteral(l),
            PErrorKind::Expected(what) => DecodeError::Syntax(SyntaxError {
                tag,
                offset: total.saturating_sub(p.remaining),
                expected: what,
                too_deep: false,
            }),
            PErrorKind::TooDeep => DecodeError::Syntax(SyntaxError {
                tag,
                offset: total.saturating_sub(p.remaining),
                expected: "less nesting",
                too_deep: true,
            }),
        },
    }
}

/// Decodes one command from the start of `input`; returns it and the octets consumed.
///
/// ```
/// use mailwire_imap::proto::{CommandBody, DecodeError, DecodeOptions, decode_command};
///
/// let (cmd, n) = decode_command(b"a1 SELECT INBOX\r\n", &DecodeOptions::default()).unwrap();
/// assert_eq!(n, 17);
/// assert!(matches!(cmd.body, CommandBody::Select { .. }));
/// assert_eq!(decode_command(b"a1 SELE", &DecodeOptions::default()), Err(DecodeError::Incomplete));
/// let Err(DecodeError::Syntax(e)) = decode_command(b"a1 FROB\r\n", &DecodeOptions::default())
/// else { panic!() };
/// assert_eq!(e.tag().map(|t| t.as_str()), Some("a1"));
/// ```
pub fn decode_command(
    input: &[u8],
    options: &DecodeOptions,
) -> Result<(Command, usize), DecodeError> {
    let total = input.len();
    let (rest, tag) = command::command_tag(input).map_err(|e| convert(e, total, None))?;
    match command::command_body(rest, options.max_depth) {
        Ok((rest, body)) => Ok((Command { tag, body }, total - rest.len())),
        Err(e) => Err(convert(e, total, Some(tag))),
    }
}

/// Decodes one response (after the greeting) from the start of `input`.
pub fn decode_response(
    input: &[u8],
    options: &DecodeOptions,
) -> Result<(Response, usize), DecodeError> {
    let total = input.len();
    match response::response(input, options.max_depth) {
        Ok((rest, r)) => Ok((r, total - rest.len())),
        Err(e) => {
            let tag = command::command_tag(input).ok().map(|(_, t)| t);
            Err(convert(e, total, tag))
        }
    }
}

/// Decodes the greeting.
pub fn decode_greeting(input: &[u8]) -> Result<(Greeting, usize), DecodeError> {
    let total = input.len();
    match response::greeting(input) {
        Ok((rest, g)) => Ok((g, total - rest.len())),
        Err(e) => Err(convert(e, total, None)),
    }
}

/// Decodes a client's AUTHENTICATE continuation line (`base64 CRLF` or `* CRLF`).
pub fn decode_authenticate_data(input: &[u8]) -> Result<(AuthenticateData, usize), DecodeError> {
    let total = input.len();
    match command::authenticate_data(input) {
        Ok((rest, d)) => Ok((d, total - rest.len())),
        Err(e) => Err(convert(e, total, None)),
    }
}

/// Decodes the `DONE CRLF` that ends IDLE (RFC 2177).
pub fn decode_idle_done(input: &[u8]) -> Result<usize, DecodeError> {
    let total = input.len();
    match command::idle_done(input) {
        Ok((rest, ())) => Ok(total - rest.len()),
        Err(e) => Err(convert(e, total, None)),
    }
}

impl Command {
    /// Decodes one command with the default [`DecodeOptions`].
    pub fn decode(input: &[u8]) -> Result<(Self, usize), DecodeError> {
        decode_command(input, &DecodeOptions::default())
    }
}

impl Response {
    /// Decodes one response with the default [`DecodeOptions`].
    pub fn decode(input: &[u8]) -> Result<(Self, usize), DecodeError> {
        decode_response(input, &DecodeOptions::default())
    }
}

impl Greeting {
    /// Decodes the greeting.
    pub fn decode(input: &[u8]) -> Result<(Self, usize), DecodeError> {
        decode_greeting(input)
    }
}

impl AuthenticateData {
    /// Decodes an AUTHENTICATE continuation line.
    pub fn decode(input: &[u8]) -> Result<(Self, usize), DecodeError> {
        decode_authenticate_data(input)
    }
}
