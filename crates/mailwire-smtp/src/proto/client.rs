//! The client session: a pure state machine from server replies to client commands, with
//! RFC 2920 pipelining. It does no I/O and reads no clock.
//!
//! ```text
//!   enqueue_message ─┐                        ┌─► poll_transmit ──► bytes to write
//!   enqueue_quit ────┼──►  ClientSession  ────┼─► poll_event    ──► Established, StartTlsAccepted,
//!   bytes read ──► handle_input               │                     TransactionCompleted, Closed…
//!   handle_tls_established, handle_eof ──┘    └─► poll_timeout  ──► handle_timeout
//! ```
//!
//! # Calling it
//!
//! [`ClientSession::new`] starts waiting for the greeting. Then, in a loop:
//! 1. feed what the socket gave to [`handle_input`](ClientSession::handle_input) (end of
//!    stream: [`handle_eof`](ClientSession::handle_eof));
//! 2. drain [`poll_transmit`](ClientSession::poll_transmit): each call hands out one *flight*,
//!    bytes the driver writes in one write; call it again once the write is done (the reply timer
//!    of what was written starts at that call);
//! 3. drain [`poll_event`](ClientSession::poll_event); on [`Event::StartTlsAccepted`] run the
//!    TLS handshake, then call [`handle_tls_established`](ClientSession::handle_tls_established);
//! 4. read again, but no later than [`poll_timeout`](ClientSession::poll_timeout); when it
//!    passes, call [`handle_timeout`](ClientSession::handle_timeout).
//!
//! # What it decides
//!
//! * `EHLO` (`LHLO` for LMTP), falling back to `HELO` on a 5yz reply only when
//!   [`ClientConfig::allow_helo_fallback`] says so.
//! * STARTTLS per [`TlsPolicy`]: with [`TlsPolicy::Required`] a server that does not announce
//!   or refuses STARTTLS ends the session ([`Error::StartTlsUnavailable`],
//!   [`Error::StartTlsRefused`]); a `220` go-ahead followed by any further byte ends it too
//!   ([`Error::ResponseInjection`]). After the handshake everything learnt is forgotten and
//!   `EHLO` is sent again (RFC 3207 §4.2).
//! * `AUTH` (RFC 4954) when credentials are configured: SCRAM-SHA-256 > SCRAM-SHA-1 > CRAM-MD5 >
//!   PLAIN > LOGIN, PLAIN and LOGIN never without TLS unless
//!   [`ClientConfig::allow_plaintext_auth`]; an initial response when the mechanism allows and
//!   the line stays within 512 octets.
//! * Transactions. With `PIPELINING`, `MAIL`, every `RCPT` and `DATA` (or `BDAT … LAST` and the
//!   message) leave in one flight; after the `354`, the message, the next message's `MAIL`,
//!   `RCPT`s and `DATA` leave in one flight too (RFC 2920 §3.1: the message is allowed as the
//!   first "command" of a group). Replies are matched in order. If `DATA` is accepted although
//!   every recipient was refused, a lone `.` is sent and nothing is delivered; if `DATA` or a
//!   `BDAT` is refused, `RSET` opens the next transaction. Without `PIPELINING` one command at
//!   a time.
//! * `CHUNKING`: `BDAT` (one `LAST` chunk, or [`ClientConfig::bdat_chunk_size`]) when
//!   announced; always for `BODY=BINARYMIME`. `SIZE`, `8BITMIME`, `SMTPUTF8`, `DSN` and
//!   `REQUIRETLS` from the message and the server's extensions; see [`MessageError`].
//! * The message is dot-stuffed after *every* line ending, and bare CR and bare LF are sent as
//!   CRLF, so it can never contain an early `CRLF.CRLF` for any receiver (SMTP smuggling).

mod message;
#[cfg(test)]
mod tests;
mod transaction;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use mailwire_codec::{LineConfig, LineError, LineFramer};
use mailwire_sasl::{ClientCredentials, Mechanism};
use mailwire_tls::TlsPolicy;
use thiserror::Error;

use crate::proto::{
    Command, EncodeError, Envelope, Extensions, InitialResponse, Reply, ReplyError, ReplyParser,
};

pub use message::{MessageError, SendReport};
use transaction::Txn;

/// The time limits of RFC 5321 §4.5.3.2, one per thing awaited. Each is the longest the client
/// waits for a complete reply (a server that sends part of a reply and stalls is caught too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// The `220` greeting. Default 5 minutes (§4.5.3.2.1).
    pub greeting: Duration,
    /// The reply to `MAIL`. Default 5 minutes (§4.5.3.2.2).
    pub mail: Duration,
    /// The reply to each `RCPT`. Default 5 minutes (§4.5.3.2.3).
    pub rcpt: Duration,
    /// The `354` to `DATA`, and the reply to a `BDAT` chunk that is not the last.
    /// Default 2 minutes (§4.5.3.2.4).
    pub data_initiation: Duration,
    /// How long one write of message data may make no progress. Default 3 minutes
    /// (§4.5.3.2.5). Command flights use [`command`](Self::command).
    pub data_block: Duration,
    /// The reply after the end of the data (`.` or `BDAT … LAST`). Default 10 minutes
    /// (§4.5.3.2.6): the server may be delivering.
    pub data_termination: Duration,
    /// Every other command (`EHLO`, `STARTTLS`, `AUTH`, `RSET`, `QUIT`), and stalled command
    /// writes. Default 5 minutes, like `MAIL`.
    pub command: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        const MIN: u64 = 60;
        Self {
            greeting: Duration::from_secs(5 * MIN),
            mail: Duration::from_secs(5 * MIN),
            rcpt: Duration::from_secs(5 * MIN),
            data_initiation: Duration::from_secs(2 * MIN),
            data_block: Duration::from_secs(3 * MIN),
            data_termination: Duration::from_secs(10 * MIN),
            command: Duration::from_secs(5 * MIN),
        }
    }
}

impl Timeouts {
    /// The same limit for everything (tests, interactive tools).
    pub fn uniform(limit: Duration) -> Self {
        Self {
            greeting: limit,
            mail: limit,
            rcpt: limit,
            data_initiation: limit,
            data_block: limit,
            data_termination: limit,
            command: limit,
        }
    }
}

/// Settings of a client session. Secure by default.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The domain or address literal given in `EHLO`/`LHLO`/`HELO`. Default `localhost`; the
    /// tokio driver uses the address literal of the local socket address instead.
    pub hello_name: String,
    /// Speak LMTP (RFC 2033): `LHLO`, and one reply per accepted recipient after the data.
    /// Default `false`.
    pub lmtp: bool,
    /// What to do about STARTTLS on a plaintext connection. Default [`TlsPolicy::Required`]:
    /// no STARTTLS, no session. [`TlsPolicy::Opportunistic`] allows a silent downgrade by
    /// anyone on the path and [`TlsPolicy::Disabled`] sends everything in plaintext: both are
    /// dangerous outside tests and trusted links. Ignored on an implicit-TLS connection.
    pub tls_policy: TlsPolicy,
    /// Authenticate with these. Default `None` (no `AUTH`). When set, a server that offers no
    /// usable mechanism ends the session: mail is never sent unauthenticated by accident.
    pub credentials: Option<ClientCredentials>,
    /// Allow PLAIN and LOGIN (which send the password) without TLS. Default `false`: they are
    /// then never chosen and, if nothing else is offered, the session fails with
    /// [`Error::NoUsableMechanism`]. Dangerous: anyone on the path reads the password.
    pub allow_plaintext_auth: bool,
    /// Retry with `HELO` when the server answers `EHLO` with a 5yz reply (RFC 5321 §3.2).
    /// Default `false`: a server without ESMTP has no STARTTLS, no AUTH, no SIZE. Never for LMTP.
    pub allow_helo_fallback: bool,
    /// Use `BDAT` (RFC 3030) when the server announces `CHUNKING`. Default `true`: no
    /// dot-stuffing, and the size is announced up front. `BODY=BINARYMIME` always uses it.
    pub chunking: bool,
    /// Split `BDAT` data into chunks of at most this many octets (all pipelined when the
    /// server allows). Default `None`: one `BDAT n LAST` chunk per message.
    pub bdat_chunk_size: Option<NonZeroUsize>,
    /// Time limits; see [`Timeouts`]. Defaults are RFC 5321's.
    pub timeouts: Timeouts,
    /// The longest reply line accepted, CRLF included. Default 8192 octets (RFC 5321 §4.5.3.1.5
    /// says 512; servers exceed it with long EHLO keywords). Memory cost: this much per
    /// connection; a reply has at most 1000 lines.
    pub max_reply_line: usize,
    /// When the server refuses some recipients with `452` (too many recipients, RFC 5321
    /// §4.5.3.1.10) but takes the message for others, send it again to the refused ones in a
    /// new transaction, as many times as the server keeps making progress. Default `true`.
    /// The [`SendReport`] then covers every transaction
    /// ([`transactions`](SendReport::transactions)).
    pub retry_too_many_recipients: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            hello_name: "localhost".to_owned(),
            lmtp: false,
            tls_policy: TlsPolicy::Required,
            credentials: None,
            allow_plaintext_auth: false,
            allow_helo_fallback: false,
            chunking: true,
            bdat_chunk_size: None,
            timeouts: Timeouts::default(),
            max_reply_line: 8192,
            retry_too_many_recipients: true,
        }
    }
}

/// Identifies a message given to [`ClientSession::enqueue_message`] in the events about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageHandle(u64);

/// One flight of bytes appended by [`ClientSession::poll_transmit`]: write it in one go.
#[must_use = "the bytes appended to the buffer must be written to the connection"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// How many octets were appended to the buffer.
    pub size: usize,
    /// The longest the write may go without progress before the connection is abandoned.
    pub stall_timeout: Duration,
    /// Whether the flight carries message data (`DATA` content or `BDAT` chunks).
    pub has_message_data: bool,
}

/// What happened, for the driver and the application. Past tense.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// The server said `220` to `STARTTLS` and nothing followed it: run the TLS handshake now
    /// on the same connection, then call [`ClientSession::handle_tls_established`]. No byte
    /// read before the handshake may be used after it (the session has none).
    StartTlsAccepted,
    /// The session is ready for mail: greeted, `EHLO` answered, TLS and `AUTH` done as
    /// configured. See [`ClientSession::extensions`].
    Established,
    /// A message's transaction is over; the report says which recipients have it.
    TransactionCompleted {
        /// The message.
        handle: MessageHandle,
        /// The server's replies.
        report: SendReport,
    },
    /// A message was refused by the client (nothing was sent for it), or the session ended
    /// before its transaction completed ([`MessageError::Aborted`]).
    MessageFailed {
        /// The message.
        handle: MessageHandle,
        /// Why.
        error: MessageError,
    },
    /// `QUIT` was answered (or the server closed the connection after it). Close the socket.
    Closed,
    /// The session failed; close the socket. Messages not completed got
    /// [`Event::MessageFailed`] first.
    Failed(Error),
}

/// Why a session failed. After any of these the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// The greeting was not `220` (e.g. `554`: the server does not want this client).
    #[error("the server refused the session: {0}")]
    Greeting(Reply),
    /// `EHLO`/`LHLO` (and `HELO`, if tried) was refused.
    #[error("the server refused EHLO/HELO: {0}")]
    Hello(Reply),
    /// TLS is required but the server does not announce STARTTLS (an attacker may have
    /// removed it: the client does not fall back to plaintext).
    #[error("TLS is required but the server does not announce STARTTLS")]
    StartTlsUnavailable,
    /// TLS is required but the server refused STARTTLS.
    #[error("TLS is required but the server refused STARTTLS: {0}")]
    StartTlsRefused(Reply),
    /// Bytes followed the `220` go-ahead to STARTTLS: they arrived in plaintext and would be
    /// read as if they came over TLS (response injection, the CVE-2011-0411 class).
    #[error("plaintext bytes followed the server's STARTTLS go-ahead (response injection)")]
    ResponseInjection,
    /// Credentials are configured but the server does not announce `AUTH`.
    #[error("credentials are configured but the server does not offer AUTH")]
    AuthUnavailable,
    /// No offered mechanism is usable with these credentials on this connection.
    #[error("no usable AUTH mechanism among {offered:?}{}", if *.needs_tls { " (PLAIN/LOGIN are not used without TLS unless allowed)" } else { "" })]
    NoUsableMechanism {
        /// What the server offered.
        offered: Vec<String>,
        /// A password mechanism was offered but refused because the connection is not
        /// encrypted and [`ClientConfig::allow_plaintext_auth`] is off.
        needs_tls: bool,
    },
    /// The server refused the credentials (or the exchange).
    #[error("authentication failed: {0}")]
    AuthFailed(Reply),
    /// The SASL exchange failed on the client side (bad challenge, SCRAM server signature
    /// wrong: the server does not know the password).
    #[error("authentication failed: {0}")]
    Sasl(mailwire_sasl::Error),
    /// The server said `421`: it is closing the connection.
    #[error("the server is closing the connection: {0}")]
    ServiceClosing(Reply),
    /// A reply came when none was expected.
    #[error("unexpected reply from the server: {0}")]
    UnexpectedReply(Reply),
    /// A reply did not follow the grammar of RFC 5321 §4.2.
    #[error("malformed reply from the server: {0}")]
    MalformedReply(ReplyError),
    /// A reply line was too long or did not end with CRLF.
    #[error("malformed reply line from the server: {0}")]
    ReplyLine(LineError),
    /// A command could not be written (the `EHLO` name is not a domain or address literal).
    #[error("cannot encode a command: {0}")]
    Encode(EncodeError),
    /// The server closed the connection.
    #[error("the server closed the connection{}", .while_waiting.map(|w| format!(" while the client waited for {w}")).unwrap_or_default())]
    ConnectionClosed {
        /// What the client was waiting for, if anything.
        while_waiting: Option<&'static str>,
    },
    /// A reply did not arrive in time.
    #[error("no reply to {waiting_for} within {after:?}")]
    Timeout {
        /// What the client was waiting for.
        waiting_for: &'static str,
        /// The limit.
        after: Duration,
    },
}

/// What the next reply answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Greeting,
    Hello,
    Helo,
    StartTls,
    Auth,
    Rset,
    Mail(MessageHandle),
    Rcpt(MessageHandle, usize),
    Data(MessageHandle),
    DataEnd(MessageHandle),
    Bdat(MessageHandle, bool),
    Quit,
}

impl Expect {
    fn describe(self) -> &'static str {
        match self {
            Self::Greeting => "the greeting",
            Self::Hello => "EHLO",
            Self::Helo => "HELO",
            Self::StartTls => "STARTTLS",
            Self::Auth => "AUTH",
            Self::Rset => "RSET",
            Self::Mail(_) => "MAIL",
            Self::Rcpt(..) => "RCPT",
            Self::Data(_) => "DATA",
            Self::DataEnd(_) | Self::Bdat(_, true) => "the end of the message data",
            Self::Bdat(_, false) => "BDAT",
            Self::Quit => "QUIT",
        }
    }

    fn timeout(self, t: &Timeouts) -> Duration {
        match self {
            Self::Greeting => t.greeting,
            Self::Mail(_) => t.mail,
            Self::Rcpt(..) => t.rcpt,
            Self::Data(_) | Self::Bdat(_, false) => t.data_initiation,
            Self::DataEnd(_) | Self::Bdat(_, true) => t.data_termination,
            _ => t.command,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Greeting, EHLO, STARTTLS or AUTH in progress.
    Opening,
    /// Waiting for the driver's TLS handshake.
    Handshake,
    /// Mail transactions.
    Ready,
    /// QUIT sent.
    Quitting,
    /// Over (closed or failed).
    Closed,
}

/// A message waiting for its transaction.
struct Queued {
    handle: MessageHandle,
    envelope: Envelope,
    message: Vec<u8>,
}

/// An SMTP/LMTP client session. See the [module documentation](self).
pub struct ClientSession {
    config: ClientConfig,
    framer: LineFramer,
    parser: ReplyParser,
    phase: Phase,
    tls: bool,
    esmtp: bool,
    extensions: Option<Extensions>,
    authenticated: Option<Mechanism>,
    sasl: Option<mailwire_sasl::ClientSession>,
    /// An initial response too long for the AUTH line, sent after the first (empty) 334.
    withheld_ir: Option<String>,
    expect: VecDeque<Expect>,
    queue: VecDeque<Queued>,
    active: VecDeque<Txn>,
    needs_rset: bool,
    quit_requested: bool,
    next_handle: u64,
    out: Vec<u8>,
    out_has_data: bool,
    events: VecDeque<Event>,
    deadline: Option<Instant>,
    /// A flight was handed out and no later call has anchored its reply timer yet.
    unanchored: bool,
    /// Messages sent again to recipients refused with `452`: the report so far, and where in
    /// its recipients each recipient of the new transaction belongs.
    partial: HashMap<MessageHandle, (SendReport, Vec<usize>)>,
}

impl ClientSession {
    /// A session on a new connection, waiting for the greeting. `tls` says whether the
    /// connection is already encrypted (implicit TLS, `smtps://`).
    pub fn new(config: ClientConfig, tls: bool) -> Self {
        let framer = LineFramer::new(LineConfig {
            max_line_len: config.max_reply_line.max(64),
            ..LineConfig::default()
        });
        Self {
            config,
            framer,
            parser: ReplyParser::new(false),
            phase: Phase::Opening,
            tls,
            esmtp: false,
            extensions: None,
            authenticated: None,
            sasl: None,
            withheld_ir: None,
            expect: VecDeque::from([Expect::Greeting]),
            queue: VecDeque::new(),
            active: VecDeque::new(),
            needs_rset: false,
            quit_requested: false,
            next_handle: 0,
            out: Vec::new(),
            out_has_data: false,
            events: VecDeque::new(),
            deadline: None,
            unanchored: true,
            partial: HashMap::new(),
        }
    }

    // ---- getters -------------------------------------------------------------------------

    /// The settings in use.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The extensions of the last `EHLO`/`LHLO` reply (empty after a `HELO` fallback); `None`
    /// before it and right after STARTTLS.
    pub fn extensions(&self) -> Option<&Extensions> {
        self.extensions.as_ref()
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The mechanism the session authenticated with.
    pub fn authenticated(&self) -> Option<Mechanism> {
        self.authenticated
    }

    /// Whether the session is ready for (or busy with) mail transactions.
    pub fn is_established(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// Whether the session is over: closed after `QUIT`, or failed.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Whether no message is queued or in progress.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.active.is_empty()
    }

    /// Octets held from earlier input: the start of a reply line not complete yet.
    pub fn buffered_len(&self) -> usize {
        self.framer.buffered_len()
    }

    // ---- commands ------------------------------------------------------------------------

    /// Queues a message; it is sent once the session is established and the messages before
    /// it are done. `message` is the RFC 5322 message (headers and body); line endings are
    /// sent as CRLF whatever they are. The answer comes as [`Event::TransactionCompleted`] or
    /// [`Event::MessageFailed`] with the returned handle.
    pub fn enqueue_message(&mut self, envelope: Envelope, message: Vec<u8>) -> MessageHandle {
        let handle = MessageHandle(self.next_handle);
        self.next_handle += 1;
        if self.phase == Phase::Closed || self.quit_requested {
            self.events.push_back(Event::MessageFailed {
                handle,
                error: MessageError::Aborted,
            });
            return handle;
        }
        self.queue.push_back(Queued {
            handle,
            envelope,
            message,
        });
        self.pump();
        handle
    }

    /// Queues `QUIT`, sent once every queued message is done.
    pub fn enqueue_quit(&mut self) {
        if self.phase == Phase::Closed {
            return;
        }
        self.quit_requested = true;
        self.pump();
    }

    // ---- input ---------------------------------------------------------------------------

    /// Consumes bytes read from the server. `now` restarts the reply timer after each complete
    /// reply.
    pub fn handle_input(&mut self, now: Instant, input: &[u8]) {
        if self.phase == Phase::Closed || input.is_empty() {
            return;
        }
        if self.phase == Phase::Handshake {
            // Plaintext after the go-ahead, read before the handshake.
            self.fail(Error::ResponseInjection);
            return;
        }
        let mut rest = input;
        loop {
            let reply = match self.framer.next_line(&mut rest) {
                None => break,
                Some(Err(e)) => return self.fail(Error::ReplyLine(e)),
                Some(Ok(line)) => self.parser.push_line(line),
            };
            match reply {
                Ok(None) => {}
                Err(e) => return self.fail(Error::MalformedReply(e)),
                Ok(Some(reply)) => {
                    let more = !rest.is_empty() || self.framer.buffered_len() > 0;
                    self.on_reply(reply, more);
                    self.arm(now);
                    if matches!(self.phase, Phase::Closed | Phase::Handshake) {
                        break;
                    }
                }
            }
        }
    }

    /// The server closed the connection (end of stream).
    pub fn handle_eof(&mut self) {
        match self.phase {
            Phase::Closed => {}
            Phase::Quitting => self.close(),
            _ => {
                let while_waiting = self.expect.front().map(|e| e.describe());
                self.fail(Error::ConnectionClosed { while_waiting });
            }
        }
    }

    /// The TLS handshake after [`Event::StartTlsAccepted`] succeeded: forget the plaintext
    /// session (RFC 3207 §4.2) and send `EHLO` again.
    pub fn handle_tls_established(&mut self) {
        if self.phase != Phase::Handshake {
            return;
        }
        self.tls = true;
        self.phase = Phase::Opening;
        self.extensions = None;
        self.esmtp = false;
        self.framer.reset();
        self.parser = ReplyParser::new(false);
        self.send_hello();
    }

    /// Checks the reply timer; fails the session with [`Error::Timeout`] when it has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|d| now >= d)
            && let Some(&front) = self.expect.front()
        {
            let after = front.timeout(&self.config.timeouts);
            self.fail(Error::Timeout {
                waiting_for: front.describe(),
                after,
            });
        }
    }

    // ---- output --------------------------------------------------------------------------

    /// Appends the next flight to `buf`, or returns `None` when there is nothing to send.
    /// Each call (even one returning `None`) also starts the reply timer of the flight handed
    /// out before, which the driver has written by then.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if self.out.is_empty() {
            if self.unanchored {
                self.unanchored = false;
                self.arm(now);
            }
            return None;
        }
        let size = self.out.len();
        if buf.is_empty() {
            std::mem::swap(buf, &mut self.out);
        } else {
            buf.append(&mut self.out);
        }
        let has_message_data = std::mem::take(&mut self.out_has_data);
        self.arm(now);
        self.unanchored = true;
        let t = &self.config.timeouts;
        Some(Transmit {
            size,
            stall_timeout: if has_message_data {
                t.data_block
            } else {
                t.command
            },
            has_message_data,
        })
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When the reply now awaited is overdue; call [`handle_timeout`](Self::handle_timeout)
    /// then. `None` when nothing is awaited.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    // ---- internals -----------------------------------------------------------------------

    /// Restarts the reply timer for what is awaited now.
    fn arm(&mut self, now: Instant) {
        self.deadline = match (self.phase, self.expect.front()) {
            (Phase::Closed | Phase::Handshake, _) | (_, None) => None,
            (_, Some(e)) => Some(now + e.timeout(&self.config.timeouts)),
        };
    }

    fn send(&mut self, cmd: &Command, expect: Expect) -> bool {
        match cmd.encode(&mut self.out) {
            Ok(()) => {
                self.expect.push_back(expect);
                true
            }
            Err(e) => {
                self.fail(Error::Encode(e));
                false
            }
        }
    }

    fn fail(&mut self, error: Error) {
        if self.phase == Phase::Closed {
            return;
        }
        self.phase = Phase::Closed;
        for handle in self
            .active
            .drain(..)
            .map(|t| t.handle)
            .chain(self.queue.drain(..).map(|q| q.handle))
        {
            // A message that was delivered to some recipients and was being sent again to
            // those refused with 452 is reported as far as it got: those keep their 452.
            self.events.push_back(match self.partial.remove(&handle) {
                Some((report, _)) => Event::TransactionCompleted { handle, report },
                None => Event::MessageFailed {
                    handle,
                    error: MessageError::Aborted,
                },
            });
        }
        self.events.push_back(Event::Failed(error));
        self.expect.clear();
        self.out.clear();
        self.deadline = None;
        self.sasl = None;
        self.withheld_ir = None;
    }

    fn close(&mut self) {
        if self.phase == Phase::Closed {
            return;
        }
        self.phase = Phase::Closed;
        self.expect.clear();
        self.deadline = None;
        self.events.push_back(Event::Closed);
    }

    fn on_reply(&mut self, reply: Reply, more_input: bool) {
        let Some(expect) = self.expect.pop_front() else {
            return self.fail(if reply.code() == 421 {
                Error::ServiceClosing(reply)
            } else {
                Error::UnexpectedReply(reply)
            });
        };
        if reply.code() == 421 && expect != Expect::Quit {
            return self.fail(Error::ServiceClosing(reply));
        }
        match expect {
            Expect::Greeting => {
                if reply.code() == 220 {
                    self.send_hello();
                } else {
                    self.fail(Error::Greeting(reply));
                }
            }
            Expect::Hello => {
                if reply.is_positive() {
                    let ext = Extensions::from_reply(&reply);
                    self.parser.set_enhanced(ext.enhanced_status_codes());
                    self.extensions = Some(ext);
                    self.esmtp = true;
                    self.after_hello();
                } else if reply.is_permanent()
                    && self.config.allow_helo_fallback
                    && !self.config.lmtp
                {
                    let name = self.config.hello_name.clone();
                    self.send(&Command::Helo(name.into()), Expect::Helo);
                } else {
                    self.fail(Error::Hello(reply));
                }
            }
            Expect::Helo => {
                if reply.is_positive() {
                    self.extensions = Some(Extensions::default());
                    self.esmtp = false;
                    self.after_hello();
                } else {
                    self.fail(Error::Hello(reply));
                }
            }
            Expect::StartTls => {
                if reply.code() == 220 {
                    if more_input || self.framer.buffered_len() > 0 {
                        return self.fail(Error::ResponseInjection);
                    }
                    self.phase = Phase::Handshake;
                    self.deadline = None;
                    self.events.push_back(Event::StartTlsAccepted);
                } else if self.config.tls_policy == TlsPolicy::Required {
                    self.fail(Error::StartTlsRefused(reply));
                } else {
                    // Opportunistic: refused STARTTLS counts as not offered.
                    self.start_auth();
                }
            }
            Expect::Auth => self.on_auth_reply(reply),
            Expect::Quit => self.close(),
            Expect::Rset => {
                // Whatever the answer, the next transaction starts (a refused RSET is rare;
                // MAIL's reply will tell).
                self.pump();
            }
            Expect::Mail(_)
            | Expect::Rcpt(..)
            | Expect::Data(_)
            | Expect::DataEnd(_)
            | Expect::Bdat(..) => self.on_transaction_reply(expect, reply),
        }
    }

    fn send_hello(&mut self) {
        let name = self.config.hello_name.clone();
        let cmd = if self.config.lmtp {
            Command::Lhlo(name.into())
        } else {
            Command::Ehlo(name.into())
        };
        self.send(&cmd, Expect::Hello);
    }

    fn after_hello(&mut self) {
        if self.tls {
            return self.start_auth();
        }
        let offered = self.extensions.as_ref().is_some_and(Extensions::starttls);
        match self.config.tls_policy {
            TlsPolicy::Disabled => self.start_auth(),
            _ if offered => {
                self.send(&Command::StartTls, Expect::StartTls);
            }
            TlsPolicy::Required => self.fail(Error::StartTlsUnavailable),
            _ => self.start_auth(),
        }
    }

    fn start_auth(&mut self) {
        let Some(creds) = self.config.credentials.clone() else {
            return self.established();
        };
        let ext = self.extensions.clone().unwrap_or_default();
        if !ext.has("AUTH") {
            return self.fail(Error::AuthUnavailable);
        }
        let names = ext.auth_mechanisms();
        let offered: Vec<Mechanism> = names
            .iter()
            .filter_map(|n| Mechanism::from_name(n))
            .collect();
        let Some(mechanism) = mailwire_sasl::choose_mechanism(
            &offered,
            creds.available(),
            self.tls,
            self.config.allow_plaintext_auth,
        ) else {
            let needs_tls = !self.tls
                && !self.config.allow_plaintext_auth
                && offered.iter().any(|m| m.needs_confidentiality());
            return self.fail(Error::NoUsableMechanism {
                offered: names,
                needs_tls,
            });
        };
        let mut sasl = match mailwire_sasl::ClientSession::new(mechanism, creds) {
            Ok(s) => s,
            Err(e) => return self.fail(Error::Sasl(e)),
        };
        let mut initial = None;
        if mechanism.is_client_first() {
            match sasl.initial_response_base64() {
                Ok(ir) => initial = ir,
                Err(e) => return self.fail(Error::Sasl(e)),
            }
        }
        // RFC 4954 §4: an AUTH line with its initial response stays within 512 octets;
        // otherwise the response follows the server's empty 334.
        let line_len = |ir: &str| "AUTH  \r\n".len() + mechanism.name().len() + ir.len();
        let initial_response = match initial {
            Some(ir) if ir == "=" => Some(InitialResponse::Empty),
            Some(ir) if line_len(&ir) <= 512 => Some(InitialResponse::Base64(ir.into())),
            Some(ir) => {
                self.withheld_ir = Some(ir);
                None
            }
            None => None,
        };
        self.sasl = Some(sasl);
        self.send(
            &Command::Auth {
                mechanism: mechanism.name().into(),
                initial_response,
            },
            Expect::Auth,
        );
    }

    fn on_auth_reply(&mut self, reply: Reply) {
        let Some(sasl) = self.sasl.as_mut() else {
            return self.fail(Error::UnexpectedReply(reply));
        };
        match reply.code() {
            334 => {
                let answer = match self.withheld_ir.take() {
                    Some(ir) => Ok(ir),
                    None => sasl.step_base64(&reply.text()),
                };
                match answer {
                    Ok(answer) => {
                        self.out.extend_from_slice(answer.as_bytes());
                        self.out.extend_from_slice(b"\r\n");
                        self.expect.push_back(Expect::Auth);
                    }
                    Err(e) => self.fail(Error::Sasl(e)),
                }
            }
            235 => match sasl.finish(None) {
                Ok(()) => {
                    self.authenticated = Some(sasl.mechanism());
                    self.sasl = None;
                    self.established();
                }
                Err(e) => self.fail(Error::Sasl(e)),
            },
            _ => self.fail(Error::AuthFailed(reply)),
        }
    }

    fn established(&mut self) {
        self.phase = Phase::Ready;
        self.events.push_back(Event::Established);
        self.pump();
    }
}

impl fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSession")
            .field("phase", &self.phase)
            .field("tls", &self.tls)
            .field("authenticated", &self.authenticated)
            .field("queued", &self.queue.len())
            .field("active", &self.active.len())
            .field("expect", &self.expect)
            .finish_non_exhaustive()
    }
}
