//! The pipelining client session: a pure state machine between the application and the
//! socket.
//!
//! It has four kinds of methods. Getters take `&self`. [`ClientSession::handle_input`] takes
//! the server's bytes. Plain verbs ([`ClientSession::enqueue`],
//! [`ClientSession::authenticate_continue`], [`ClientSession::idle_done`], ...) are the
//! application's commands. `poll_*` drain output: after any call that changes the session,
//! call [`ClientSession::poll_transmit`] until it returns `None` and write what it gave, then
//! [`ClientSession::poll_event`] until it returns `None`.
//!
//! ```
//! use mailwire_imap::proto::client::{ClientConfig, ClientSession, Event};
//! use mailwire_imap::proto::{CommandBody, Completion};
//!
//! let mut s = ClientSession::new(ClientConfig::default());
//! s.handle_input(b"* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n");
//! let noop = s.enqueue(CommandBody::Noop);
//! let cap = s.enqueue(CommandBody::Capability);
//! let mut wire = Vec::new();
//! while s.poll_transmit(&mut wire).is_some() {}
//! assert_eq!(wire, b"A1 NOOP\r\nA2 CAPABILITY\r\n"); // pipelined
//! s.handle_input(b"* 3 EXISTS\r\nA2 OK done\r\nA1 OK done\r\n");
//! let mut completed = Vec::new();
//! while let Some(ev) = s.poll_event() {
//!     if let Event::Completed { handle, status } = ev {
//!         assert_eq!(status.kind, Completion::Ok);
//!         completed.push(handle);
//!     }
//! }
//! assert_eq!(completed, [cap, noop]); // routed by tag, in the server's order
//! ```
//!
//! Pipelining follows RFC 9051 §5.5: commands are sent without waiting, except that
//! * STARTTLS, AUTHENTICATE, IDLE and COMPRESS are sent only when nothing is in flight, and
//!   nothing is sent after them until they complete;
//! * a command that uses message sequence numbers (FETCH, STORE, SEARCH, COPY, MOVE, SORT,
//!   THREAD without UID, or a UID SEARCH/SORT/THREAD whose keys hold sequence numbers) waits
//!   until every command in flight is a FETCH, STORE or SEARCH (without UID), since any other
//!   command may cause EXPUNGE responses that renumber the messages;
//! * a synchronising literal is sent only after the server's `+`.

use std::collections::VecDeque;

use mailwire_codec::{ImapFrame, ImapFramer, ImapFramerConfig, LiteralMode};
use thiserror::Error;

use super::encode::{EncodeOptions, Encoded};
use super::parse::{DecodeError, DecodeOptions, decode_greeting, decode_response};
use super::types::capability::Capability;
use super::types::command::{Command, CommandBody};
use super::types::core::Tag;
use super::types::response::{
    Code, Completion, Continue, Data, Greeting, GreetingKind, Response, Tagged, Untagged,
};
use super::types::search::SearchKey;

/// Settings of a [`ClientSession`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Prefix of generated tags (`A1`, `A2`, ...). Must be valid tag characters.
    ///
    /// Default: `"A"`.
    pub tag_prefix: String,
    /// Framing limits for the server's messages. Default: [`ImapFramerConfig::default`]
    /// (64 KiB lines, 64 MiB literals); raise `max_literal_len` to download larger messages in
    /// one piece.
    pub framer: ImapFramerConfig,
    /// Parser settings (nesting limit).
    pub decode: DecodeOptions,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            tag_prefix: "A".into(),
            framer: ImapFramerConfig::default(),
            decode: DecodeOptions::default(),
        }
    }
}

/// Names one enqueued command; its [`Event::Completed`] carries the same handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandHandle(u64);

/// Bytes appended to the caller's buffer by [`ClientSession::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "the bytes must be written to the server"]
pub struct Transmit {
    /// How many octets were appended.
    pub len: usize,
}

/// Something that happened, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The server's greeting arrived.
    GreetingReceived(Greeting),
    /// A command was handed to [`ClientSession::poll_transmit`] in full.
    CommandSent {
        /// The command.
        handle: CommandHandle,
    },
    /// Untagged data (solicited or not: `EXISTS`, `EXPUNGE`, `FETCH (FLAGS …)` may come at
    /// any time).
    DataReceived(Data),
    /// An untagged `OK`/`NO`/`BAD`/`BYE`.
    StatusReceived(Untagged),
    /// A continuation request for AUTHENTICATE (a challenge: answer with
    /// [`ClientSession::authenticate_continue`]) or IDLE (the server is idling: end it with
    /// [`ClientSession::idle_done`]).
    ContinuationReceived {
        /// The AUTHENTICATE or IDLE command.
        handle: CommandHandle,
        /// The request.
        request: Continue,
    },
    /// A command completed.
    Completed {
        /// The command.
        handle: CommandHandle,
        /// The tagged status.
        status: Tagged,
    },
    /// The server broke the protocol; the session goes on with the next message.
    ProtocolError(ProtocolError),
}

/// A server's violation of the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A message does not parse.
    #[error("unparsable response: {0}")]
    Unparsable(DecodeError),
    /// A message broke a framing limit.
    #[error("framing: {0}")]
    Framing(mailwire_codec::FramingError),
    /// A framed message held more octets than the response it starts with (for example a
    /// text that ended like a literal announcement).
    #[error("{extra} octets after the end of a response")]
    TrailingData {
        /// How many octets were left over.
        extra: usize,
    },
    /// A tagged response whose tag matches no command in flight.
    #[error("tagged response for unknown tag {0}")]
    UnknownTag(Tag),
    /// A continuation request nothing waits for.
    #[error("unexpected continuation request")]
    UnexpectedContinuation,
    /// The server sent more bytes right after accepting STARTTLS (a command-injection
    /// attempt, CVE-2011-0411 class): they are dropped.
    #[error("bytes received after the STARTTLS go-ahead")]
    DataAfterStartTls,
}

/// A caller mistake (never caused by the server's bytes).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ApiMisuse {
    /// The handle names no AUTHENTICATE/IDLE command awaiting this step.
    #[error("the command is not waiting for this")]
    NotWaiting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// STARTTLS, AUTHENTICATE, IDLE, COMPRESS: alone on the wire.
    Exclusive,
    /// Uses message sequence numbers.
    SeqNumbers,
    /// FETCH, STORE, SEARCH without UID: no EXPUNGE while in progress. Uses sequence numbers.
    NoExpunge,
    /// Anything else.
    Other,
}

#[derive(Debug)]
struct Outgoing {
    handle: CommandHandle,
    tag: Tag,
    kind: Kind,
    body_name: &'static str,
    /// Encoded when the command starts, with the options then in force.
    command: Command,
    encoded: Encoded,
    /// Fragments already sent.
    sent: usize,
    started: bool,
    /// A `+` arrived for the synchronising literal that comes next.
    literal_go: bool,
}

#[derive(Debug, Clone)]
struct InFlight {
    handle: CommandHandle,
    tag: Tag,
    kind: Kind,
    name: &'static str,
    /// Fully sent.
    sent: bool,
}

/// The client side of one IMAP connection (see the module documentation).
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    framer: ImapFramer,
    encode: EncodeOptions,
    greeted: bool,
    next_tag: u64,
    queue: VecDeque<Outgoing>,
    in_flight: Vec<InFlight>,
    /// The head of the queue waits for `+` before its next (literal) fragment.
    awaiting_literal: bool,
    out: Vec<u8>,
    events: VecDeque<Event>,
    capabilities: Vec<Capability>,
    /// STARTTLS was accepted: nothing more may be read before the TLS handshake.
    tls_pending: bool,
    /// COMPRESS was accepted: what follows is compressed; the octets already received are kept
    /// for the driver to inflate.
    compression_pending: bool,
    after_compress: Vec<u8>,
}

impl ClientSession {
    /// A session before the greeting.
    pub fn new(config: ClientConfig) -> Self {
        Self {
            framer: ImapFramer::new(config.framer),
            config,
            encode: EncodeOptions::default(),
            greeted: false,
            next_tag: 1,
            queue: VecDeque::new(),
            in_flight: Vec::new(),
            awaiting_literal: false,
            out: Vec::new(),
            events: VecDeque::new(),
            capabilities: Vec::new(),
            tls_pending: false,
            compression_pending: false,
            after_compress: Vec::new(),
        }
    }

    /// The capabilities last announced (CAPABILITY response or response code).
    pub fn capabilities(&self) -> &[Capability] {
        &self.capabilities
    }

    /// How the session encodes commands (follows LITERAL+/LITERAL- and UTF-8).
    pub fn encode_options(&self) -> EncodeOptions {
        self.encode
    }

    /// Commands enqueued and not yet completed.
    pub fn pending(&self) -> usize {
        self.in_flight.len() + self.queue.iter().filter(|o| !o.started).count()
    }

    /// Whether the greeting has arrived.
    pub fn is_greeted(&self) -> bool {
        self.greeted
    }

    /// Whether STARTTLS was accepted and the driver must now run the TLS handshake (then call
    /// [`ClientSession::tls_established`]).
    pub fn is_tls_pending(&self) -> bool {
        self.tls_pending
    }

    /// Queues a command; its tag is generated here. Returns the handle its completion will
    /// carry.
    pub fn enqueue(&mut self, body: CommandBody) -> CommandHandle {
        let handle = CommandHandle(self.next_tag);
        let tag = Tag::new(format!("{}{}", self.config.tag_prefix, self.next_tag))
            .unwrap_or_else(|_| Tag::unvalidated(format!("A{}", self.next_tag).as_bytes()));
        self.next_tag += 1;
        let kind = kind_of(&body);
        let body_name = body.name();
        let command = Command {
            tag: tag.clone(),
            body,
        };
        self.queue.push_back(Outgoing {
            handle,
            tag,
            kind,
            body_name,
            command,
            encoded: Encoded::default(),
            sent: 0,
            started: false,
            literal_go: false,
        });
        self.pump();
        handle
    }

    /// Answers an AUTHENTICATE challenge with `response` (sent in base64).
    pub fn authenticate_continue(
        &mut self,
        handle: CommandHandle,
        response: &[u8],
    ) -> Result<(), ApiMisuse> {
        self.check_waiting(handle, "AUTHENTICATE")?;
        use base64::Engine;
        let line = base64::engine::general_purpose::STANDARD.encode(response);
        self.out.extend_from_slice(line.as_bytes());
        self.out.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// Cancels an AUTHENTICATE exchange (`*`); the server answers `BAD`.
    pub fn authenticate_cancel(&mut self, handle: CommandHandle) -> Result<(), ApiMisuse> {
        self.check_waiting(handle, "AUTHENTICATE")?;
        self.out.extend_from_slice(b"*\r\n");
        Ok(())
    }

    /// Ends IDLE (`DONE`); the IDLE command then completes.
    pub fn idle_done(&mut self, handle: CommandHandle) -> Result<(), ApiMisuse> {
        self.check_waiting(handle, "IDLE")?;
        self.out.extend_from_slice(b"DONE\r\n");
        Ok(())
    }

    /// The TLS handshake after STARTTLS succeeded: cached capabilities are forgotten (ask
    /// again), framing starts afresh.
    pub fn tls_established(&mut self) {
        self.tls_pending = false;
        self.capabilities.clear();
        self.encode = EncodeOptions::default();
        self.framer.reset();
        self.pump();
    }

    /// Whether COMPRESS was accepted and the driver must now install the DEFLATE layer (then
    /// call [`ClientSession::compression_established`]). Nothing is framed or sent meanwhile.
    pub fn is_compression_pending(&self) -> bool {
        self.compression_pending
    }

    /// The DEFLATE layer is in place (RFC 4978 §4): returns the octets that arrived after the
    /// COMPRESS completion (already compressed), which the driver inflates and passes to
    /// [`ClientSession::handle_input`]; sending resumes, compressed by the driver.
    pub fn compression_established(&mut self) -> Vec<u8> {
        self.compression_pending = false;
        self.pump();
        std::mem::take(&mut self.after_compress)
    }

    fn check_waiting(&self, handle: CommandHandle, name: &str) -> Result<(), ApiMisuse> {
        match self.in_flight.iter().find(|f| f.handle == handle) {
            Some(f) if f.name == name && f.sent => Ok(()),
            _ => Err(ApiMisuse::NotWaiting),
        }
    }

    /// Appends the bytes to send to `buf`; `None` when there is nothing to send.
    pub fn poll_transmit(&mut self, buf: &mut Vec<u8>) -> Option<Transmit> {
        if self.out.is_empty() {
            return None;
        }
        let len = self.out.len();
        buf.append(&mut self.out);
        Some(Transmit { len })
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Takes bytes received from the server.
    pub fn handle_input(&mut self, bytes: &[u8]) {
        let mut input = bytes;
        loop {
            if self.compression_pending {
                self.after_compress.extend_from_slice(input);
                return;
            }
            if self.tls_pending {
                if !input.is_empty() {
                    self.events
                        .push_back(Event::ProtocolError(ProtocolError::DataAfterStartTls));
                }
                return;
            }
            let Some(frame) = self.framer.next_frame(&mut input) else {
                break;
            };
            match frame {
                ImapFrame::LiteralAnnounced(_) => {}
                ImapFrame::Error { error, .. } => {
                    self.events
                        .push_back(Event::ProtocolError(ProtocolError::Framing(error)));
                }
                ImapFrame::Message(m) => {
                    let msg = m.to_vec();
                    self.handle_message(&msg);
                }
            }
        }
        self.pump();
    }

    fn handle_message(&mut self, msg: &[u8]) {
        if !self.greeted {
            match decode_greeting(msg) {
                Ok((g, _)) => {
                    self.greeted = true;
                    if let Some(Code::Capability(c)) = &g.code {
                        self.set_capabilities(c.to_vec());
                    }
                    if g.kind == GreetingKind::Bye {
                        self.greeted = false;
                    }
                    self.events.push_back(Event::GreetingReceived(g));
                }
                Err(e) => self
                    .events
                    .push_back(Event::ProtocolError(ProtocolError::Unparsable(e))),
            }
            self.pump();
            return;
        }
        let response = match decode_response(msg, &self.config.decode) {
            Ok((r, n)) if n == msg.len() => r,
            Ok((_, n)) => {
                self.events
                    .push_back(Event::ProtocolError(ProtocolError::TrailingData {
                        extra: msg.len() - n,
                    }));
                return;
            }
            Err(e) => {
                self.events
                    .push_back(Event::ProtocolError(ProtocolError::Unparsable(e)));
                return;
            }
        };
        match response {
            Response::Data(d) => {
                match &d {
                    Data::Capability(c) => self.set_capabilities(c.to_vec()),
                    Data::Enabled(c)
                        if c.iter().any(|c| {
                            matches!(c, Capability::Utf8Accept | Capability::Imap4Rev2)
                        }) =>
                    {
                        self.encode.utf8 = true;
                    }
                    _ => {}
                }
                self.events.push_back(Event::DataReceived(d));
            }
            Response::Untagged(u) => {
                if let Some(Code::Capability(c)) = &u.code {
                    self.set_capabilities(c.to_vec());
                }
                self.events.push_back(Event::StatusReceived(u));
            }
            Response::Continue(c) => self.handle_continue(c),
            Response::Tagged(t) => self.handle_tagged(t),
        }
    }

    fn set_capabilities(&mut self, caps: Vec<Capability>) {
        self.encode.literal_plus = caps.contains(&Capability::LiteralPlus);
        self.encode.literal_minus = caps.contains(&Capability::LiteralMinus);
        if caps.contains(&Capability::Imap4Rev2) && !caps.contains(&Capability::Imap4Rev1) {
            self.encode.utf8 = true;
        }
        self.capabilities = caps;
    }

    fn handle_continue(&mut self, c: Continue) {
        if self.awaiting_literal {
            self.awaiting_literal = false;
            if let Some(head) = self.queue.front_mut() {
                head.literal_go = true;
            }
            self.pump();
            return;
        }
        // An AUTHENTICATE or IDLE in flight (alone on the wire, fully sent).
        if let Some(f) = self
            .in_flight
            .iter()
            .find(|f| f.sent && matches!(f.name, "AUTHENTICATE" | "IDLE"))
        {
            self.events.push_back(Event::ContinuationReceived {
                handle: f.handle,
                request: c,
            });
            return;
        }
        self.events
            .push_back(Event::ProtocolError(ProtocolError::UnexpectedContinuation));
    }

    fn handle_tagged(&mut self, t: Tagged) {
        let Some(pos) = self.in_flight.iter().position(|f| f.tag == t.tag) else {
            self.events
                .push_back(Event::ProtocolError(ProtocolError::UnknownTag(t.tag)));
            return;
        };
        let f = self.in_flight.remove(pos);
        if !f.sent {
            // A synchronising literal was refused: the rest of the command is never sent.
            if self.queue.front().is_some_and(|h| h.handle == f.handle) {
                self.queue.pop_front();
                self.awaiting_literal = false;
            }
        }
        if let Some(Code::Capability(c)) = &t.code {
            self.set_capabilities(c.to_vec());
        }
        if f.name == "STARTTLS" && t.kind == Completion::Ok {
            self.tls_pending = true;
        }
        if f.name == "COMPRESS" && t.kind == Completion::Ok {
            self.compression_pending = true;
        }
        self.events.push_back(Event::Completed {
            handle: f.handle,
            status: t,
        });
    }

    /// Whether the command at the head of the queue may start now.
    fn can_start(&self, kind: Kind) -> bool {
        if self.in_flight.iter().any(|f| f.kind == Kind::Exclusive) {
            return false;
        }
        match kind {
            Kind::Exclusive => self.in_flight.is_empty(),
            Kind::SeqNumbers | Kind::NoExpunge => {
                self.in_flight.iter().all(|f| f.kind == Kind::NoExpunge)
            }
            Kind::Other => true,
        }
    }

    /// Moves as much of the queue as the rules allow into the output.
    fn pump(&mut self) {
        if !self.greeted || self.tls_pending || self.compression_pending {
            return;
        }
        while !self.awaiting_literal {
            let Some(head) = self.queue.front() else {
                return;
            };
            if !head.started {
                if !self.can_start(head.kind) {
                    return;
                }
                let (handle, tag, kind, name) =
                    (head.handle, head.tag.clone(), head.kind, head.body_name);
                self.in_flight.push(InFlight {
                    handle,
                    tag,
                    kind,
                    name,
                    sent: false,
                });
                let options = self.encode;
                if let Some(h) = self.queue.front_mut() {
                    h.started = true;
                    h.encoded = h.command.encode(&options);
                }
            }
            let Some(head) = self.queue.front_mut() else {
                return;
            };
            let spans: Vec<(usize, Option<LiteralMode>)> = head.encoded.boundaries().collect();
            while head.sent < spans.len() {
                let start = if head.sent == 0 {
                    0
                } else {
                    spans[head.sent - 1].0
                };
                let (end, mode) = spans[head.sent];
                if mode == Some(LiteralMode::Sync) {
                    if !head.literal_go {
                        // The announcement is out: wait for "+".
                        self.awaiting_literal = true;
                        return;
                    }
                    head.literal_go = false;
                }
                self.out
                    .extend_from_slice(&head.encoded.as_bytes()[start..end]);
                head.sent += 1;
            }
            let handle = head.handle;
            self.queue.pop_front();
            if let Some(f) = self.in_flight.iter_mut().find(|f| f.handle == handle) {
                f.sent = true;
            }
            self.events.push_back(Event::CommandSent { handle });
        }
    }
}

/// How a command takes part in pipelining.
fn kind_of(body: &CommandBody) -> Kind {
    match body {
        CommandBody::StartTls
        | CommandBody::Authenticate { .. }
        | CommandBody::Idle
        | CommandBody::Compress(_) => Kind::Exclusive,
        CommandBody::Fetch { uid: false, .. }
        | CommandBody::Store { uid: false, .. }
        | CommandBody::Search { uid: false, .. } => Kind::NoExpunge,
        CommandBody::Copy { uid: false, .. }
        | CommandBody::Move { uid: false, .. }
        | CommandBody::Sort { uid: false, .. }
        | CommandBody::Thread { uid: false, .. } => Kind::SeqNumbers,
        CommandBody::Search {
            uid: true,
            criteria,
            ..
        } if criteria.iter().any(uses_seq_numbers) => Kind::SeqNumbers,
        CommandBody::Sort {
            uid: true, search, ..
        }
        | CommandBody::Thread {
            uid: true, search, ..
        } if search.iter().any(uses_seq_numbers) => Kind::SeqNumbers,
        _ => Kind::Other,
    }
}

/// Whether a search key holds message sequence numbers.
fn uses_seq_numbers(k: &SearchKey) -> bool {
    match k {
        SearchKey::SequenceSet(s) => !matches!(s, super::types::sequence::SequenceSet::Saved),
        SearchKey::Not(k) => uses_seq_numbers(k),
        SearchKey::Or(a, b) => uses_seq_numbers(a) || uses_seq_numbers(b),
        SearchKey::And(keys) => keys.iter().any(uses_seq_numbers),
        _ => false,
    }
}
