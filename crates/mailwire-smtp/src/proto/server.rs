//! The server session: a pure state machine from bytes to replies and events.
//!
//! ```text
//!             bytes ──► handle_input ──► poll_output ──► bytes
//!                            │
//!                            ▼
//!                       poll_event ──► CheckMail / CheckRcpt  ──► resolve_check
//!                                      Deliver                ──► resolve_delivery
//!                                      StartTls               ──► tls_established
//!                                      Close
//! ```
//!
//! [`ServerSession::handle_input`] consumes what it can and stops at the first command that
//! needs a decision from outside (a policy check, a durable delivery, a TLS handshake). The
//! driver answers it, then calls `handle_input` again with the rest: pipelined commands are
//! answered in order, and nothing is acknowledged before the decision is in.

use std::collections::VecDeque;
use std::sync::Arc;

use mailwire_codec::{
    BareLineEndings, BdatReceiver, DataConfig, DataError, DataReceiver, DataStatus, LineConfig,
    LineError, LineFramer,
};
use mailwire_sasl::{Authenticated, Authenticator, Mechanism, ServerParams, ServerStep};

use crate::proto::{
    Body, Command, EnhancedCode, ForwardPath, InitialResponse, MailParams, RcptParams, Reply,
    ReversePath,
};

/// Which service a listener offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// SMTP (port 25): STARTTLS offered, AUTH optional.
    Smtp,
    /// Submission (RFC 6409, port 587/465): AUTH required before MAIL.
    Submission,
    /// LMTP (RFC 2033): LHLO, one reply per recipient after the data.
    Lmtp,
}

/// Limits and settings of a server session. Every limit has a safe default.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The name the server gives in its greeting and EHLO reply. Default `localhost`.
    pub hostname: String,
    /// SMTP, Submission or LMTP. Default SMTP.
    pub mode: Mode,
    /// The longest command line, CRLF included. Default 512 (RFC 5321 §4.5.3.1.4).
    pub max_command_line: usize,
    /// The longest `AUTH` exchange line. Default 12288 (RFC 4954 §4).
    pub max_auth_line: usize,
    /// The longest text line in `DATA`, CRLF included; `None` for no limit.
    /// Default 1000 (RFC 5321 §4.5.3.1.6).
    pub max_text_line: Option<usize>,
    /// The largest message, advertised as `SIZE`. Default 35 MiB. Memory cost: a message is
    /// held whole until the store has it, so this bounds memory per connection.
    pub max_message_size: u64,
    /// Recipients per message; more get `452 4.5.3`. Default 100 (the RFC 5321 minimum).
    pub max_recipients: usize,
    /// Protocol errors before `421` and close. Default 10.
    pub max_errors: u32,
    /// Commands per connection before `421` and close. Default 100 000.
    pub max_commands: u64,
    /// Bare CR / LF in DATA. Default [`BareLineEndings::Reject`].
    pub bare_line_endings: BareLineEndings,
    /// Bare CR / LF in DATA on [`Mode::Submission`] once the client has authenticated: an MSA
    /// may repair what it is given (RFC 6409 §8). Default [`BareLineEndings::Normalise`],
    /// as Postfix does; an MX (SMTP, LMTP) keeps [`bare_line_endings`](Self::bare_line_endings).
    pub submission_bare_line_endings: BareLineEndings,
    /// Offer PLAIN and LOGIN without TLS. Default `false` (`538 5.7.11` instead).
    pub allow_insecure_auth: bool,
    /// Whether a TLS configuration exists, so STARTTLS can be offered. Default `false`.
    pub starttls_available: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            hostname: "localhost".to_owned(),
            mode: Mode::Smtp,
            max_command_line: 512,
            max_auth_line: 12288,
            max_text_line: Some(1000),
            max_message_size: 35 * 1024 * 1024,
            max_recipients: 100,
            max_errors: 10,
            max_commands: 100_000,
            bare_line_endings: BareLineEndings::Reject,
            submission_bare_line_endings: BareLineEndings::Normalise,
            allow_insecure_auth: false,
            starttls_available: false,
        }
    }
}

/// A recipient accepted for the current transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The forward path.
    pub path: ForwardPath<'static>,
    /// Its parameters.
    pub params: RcptParams<'static>,
}

/// The envelope of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse path.
    pub from: ReversePath<'static>,
    /// The MAIL parameters.
    pub params: MailParams<'static>,
    /// The accepted recipients, in order.
    pub recipients: Vec<Recipient>,
}

/// What the session knows about its peer, for policies and `Received:` headers.
#[derive(Debug, Clone, Default)]
pub struct SessionInfo {
    /// The EHLO/HELO/LHLO domain.
    pub helo: Option<String>,
    /// EHLO or LHLO (not HELO) was used.
    pub esmtp: bool,
    /// TLS is active.
    pub tls: bool,
    /// The authenticated identity.
    pub authenticated: Option<Authenticated>,
}

/// Something the driver must act on.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// `MAIL FROM` passed the session's checks; answer with [`ServerSession::resolve_check`].
    CheckMail {
        /// The reverse path.
        from: ReversePath<'static>,
        /// Its parameters (unknown ones included: the policy decides).
        params: MailParams<'static>,
    },
    /// `RCPT TO` passed the session's checks; answer with [`ServerSession::resolve_check`].
    /// The envelope so far is [`ServerSession::envelope`] (not copied into each event: a
    /// transaction of n recipients would copy n²/2 of them).
    CheckRcpt {
        /// The forward path.
        to: ForwardPath<'static>,
        /// Its parameters.
        params: RcptParams<'static>,
    },
    /// `AUTH` succeeded (the credentials are right); answer with
    /// [`ServerSession::resolve_check`]: `Ok` sends `235` and the session is authenticated,
    /// `Err` sends the refusal and it stays as it was.
    CheckAuth {
        /// Who authenticated.
        authenticated: Authenticated,
    },
    /// A complete message; store it durably, then call [`ServerSession::resolve_delivery`].
    Deliver {
        /// The envelope.
        envelope: Envelope,
        /// The message as received (unstuffed), without a `Received:` header.
        message: Vec<u8>,
    },
    /// `220` to STARTTLS was queued: flush it, run the TLS handshake, then call
    /// [`ServerSession::tls_established`]. Nothing was buffered past the command.
    StartTls,
    /// The session is over: flush the output and close the connection.
    Close,
}

/// What stops input processing until the driver answers.
#[derive(Debug)]
enum Pending {
    Mail {
        from: ReversePath<'static>,
        params: MailParams<'static>,
    },
    Rcpt {
        to: ForwardPath<'static>,
        params: RcptParams<'static>,
    },
    Auth(Authenticated),
    Delivery,
    StartTls,
}

enum Phase {
    Command,
    Auth(Box<mailwire_sasl::ServerSession<Arc<dyn Authenticator + Send + Sync>>>),
    Data(DataReceiver),
    Bdat { rx: BdatReceiver, last: bool },
}

/// The SMTP/Submission/LMTP server session. See the [module documentation](self).
pub struct ServerSession {
    config: ServerConfig,
    auth: Arc<dyn Authenticator + Send + Sync>,
    framer: LineFramer,
    phase: Phase,
    info: SessionInfo,
    envelope: Option<Envelope>,
    message: Vec<u8>,
    /// A BDAT chunk of this transaction failed: refuse the rest until RSET.
    bdat_failed: bool,
    /// BDAT was used in this transaction (DATA is then refused).
    bdat_used: bool,
    pending: Option<Pending>,
    events: VecDeque<Event>,
    output: Vec<u8>,
    errors: u32,
    commands: u64,
    closed: bool,
    /// The server is shutting down: close with `421` as soon as no transaction is in flight.
    shutting_down: bool,
    /// AUTH failures not yet taken by the driver ([`Self::take_auth_failures`]).
    new_auth_failures: u32,
    /// AUTH refused for this connection's address ([`Self::set_auth_refused`]).
    auth_refused: bool,
}

const fn ec(class: u8, subject: u16, detail: u16) -> Option<EnhancedCode> {
    Some(EnhancedCode::new(class, subject, detail))
}

impl ServerSession {
    /// A session for a new connection; the greeting is queued. `tls` is whether the
    /// connection is already encrypted (implicit TLS).
    pub fn new(
        config: ServerConfig,
        auth: Arc<dyn Authenticator + Send + Sync>,
        tls: bool,
    ) -> Self {
        let framer = LineFramer::new(LineConfig {
            max_line_len: config.max_command_line.max(config.max_auth_line),
            ..LineConfig::default()
        });
        let mut s = Self {
            config,
            auth,
            framer,
            phase: Phase::Command,
            info: SessionInfo {
                tls,
                ..SessionInfo::default()
            },
            envelope: None,
            message: Vec::new(),
            bdat_failed: false,
            bdat_used: false,
            pending: None,
            events: VecDeque::new(),
            output: Vec::new(),
            errors: 0,
            commands: 0,
            closed: false,
            new_auth_failures: 0,
            auth_refused: false,
            shutting_down: false,
        };
        let service = if s.config.mode == Mode::Lmtp {
            "LMTP"
        } else {
            "ESMTP"
        };
        let greeting = format!("{} {service} mailwire ready", s.config.hostname);
        s.reply(&Reply::new(220, None, &greeting));
        s
    }

    /// The settings in use.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// What is known about the peer.
    pub fn info(&self) -> &SessionInfo {
        &self.info
    }

    /// The transaction in progress: the reverse path, its parameters and the recipients
    /// accepted so far (`None` before `MAIL` and after the transaction ends).
    pub fn envelope(&self) -> Option<&Envelope> {
        self.envelope.as_ref()
    }

    /// Whether the session is waiting for the driver (an event to answer).
    pub fn is_blocked(&self) -> bool {
        self.pending.is_some() || self.closed
    }

    /// Whether no mail transaction is in progress (no envelope, not receiving data or an AUTH
    /// exchange): the moment a shutting-down server may say `421` without losing mail.
    pub fn is_between_transactions(&self) -> bool {
        self.envelope.is_none() && self.pending.is_none() && matches!(self.phase, Phase::Command)
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Octets held by the framer: the start of a command not yet complete.
    pub fn buffered_len(&self) -> usize {
        self.framer.buffered_len()
    }

    /// Consumes input; returns how many octets were used. Stops early when a decision is
    /// pending or the session closed: feed the rest after answering the event.
    pub fn handle_input(&mut self, input: &[u8]) -> usize {
        let mut rest = input;
        self.close_if_shutting_down();
        while !rest.is_empty() && !self.is_blocked() {
            match &mut self.phase {
                Phase::Data(rx) => match rx.feed(rest, &mut self.message) {
                    DataStatus::NeedMore => rest = &[],
                    DataStatus::Done { consumed, result } => {
                        rest = &rest[consumed..];
                        self.phase = Phase::Command;
                        self.finish_message(result.map(|_| ()));
                    }
                },
                Phase::Bdat { rx, last } => {
                    let last = *last;
                    match rx.feed(rest, &mut self.message) {
                        DataStatus::NeedMore => rest = &[],
                        DataStatus::Done { consumed, result } => {
                            rest = &rest[consumed..];
                            self.phase = Phase::Command;
                            self.finish_chunk(result.map(|_| ()), last);
                        }
                    }
                }
                Phase::Command | Phase::Auth(_) => match self.framer.next_line(&mut rest) {
                    None => break,
                    Some(Ok(line)) => {
                        let line = line.to_vec();
                        let more = !rest.is_empty() || self.framer.buffered_len() > 0;
                        self.handle_line(&line, more);
                    }
                    Some(Err(e)) => {
                        let reply = match e {
                            LineError::TooLong { .. } => {
                                Reply::new(500, ec(5, 5, 2), "Line too long")
                            }
                            _ => Reply::new(500, ec(5, 5, 2), "Lines must end with CRLF"),
                        };
                        if matches!(self.phase, Phase::Auth(_)) {
                            self.phase = Phase::Command;
                        }
                        self.error(&reply);
                    }
                },
            }
            self.close_if_shutting_down();
        }
        input.len() - rest.len()
    }

    /// Takes the bytes to send.
    pub fn poll_output(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.output);
    }

    /// Octets waiting to be sent.
    pub fn output_len(&self) -> usize {
        self.output.len()
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Answers [`Event::CheckMail`], [`Event::CheckRcpt`] or [`Event::CheckAuth`]: `Ok`
    /// accepts, `Err` carries the refusal. Does nothing when no check is pending.
    pub fn resolve_check(&mut self, result: Result<(), Reply>) {
        match self.pending.take() {
            Some(Pending::Auth(authenticated)) => match result {
                Ok(()) => {
                    self.info.authenticated = Some(authenticated);
                    self.reply(&Reply::new(235, ec(2, 7, 0), "Authentication successful"));
                }
                Err(reply) => self.reply(&reply),
            },
            Some(Pending::Mail { from, params }) => match result {
                Ok(()) => {
                    self.envelope = Some(Envelope {
                        from,
                        params,
                        recipients: Vec::new(),
                    });
                    self.reply(&Reply::new(250, ec(2, 1, 0), "Sender OK"));
                }
                Err(reply) => self.reply(&reply),
            },
            Some(Pending::Rcpt { to, params }) => match (result, &mut self.envelope) {
                (Ok(()), Some(env)) => {
                    env.recipients.push(Recipient { path: to, params });
                    self.reply(&Reply::new(250, ec(2, 1, 5), "Recipient OK"));
                }
                // The session asks only inside a transaction; should the envelope have gone,
                // the recipient cannot be accepted.
                (Ok(()), None) => {
                    self.reply(&Reply::new(503, ec(5, 5, 1), "Need MAIL before RCPT"));
                }
                (Err(reply), _) => self.reply(&reply),
            },
            other => self.pending = other,
        }
        self.close_if_shutting_down();
    }

    /// Answers [`Event::Deliver`]. SMTP uses the first reply; LMTP sends one reply per
    /// recipient (the last one is repeated if fewer are given). Call it only once the message
    /// is durably stored (or refused).
    pub fn resolve_delivery(&mut self, replies: Vec<Reply>) {
        if !matches!(self.pending, Some(Pending::Delivery)) {
            return;
        }
        self.pending = None;
        let n = self
            .envelope
            .as_ref()
            .map_or(1, |e| e.recipients.len().max(1));
        let fallback = Reply::new(451, ec(4, 3, 0), "Delivery failed");
        if self.config.mode == Mode::Lmtp {
            for i in 0..n {
                let r = replies
                    .get(i)
                    .or(replies.last())
                    .unwrap_or(&fallback)
                    .clone();
                self.reply(&r);
            }
        } else {
            let r = replies.into_iter().next().unwrap_or(fallback);
            self.reply(&r);
        }
        self.reset_transaction();
        self.close_if_shutting_down();
    }

    /// The TLS handshake after STARTTLS succeeded: everything learnt before is forgotten
    /// (RFC 3207 §4.2) and a new EHLO is required.
    pub fn tls_established(&mut self) {
        if matches!(self.pending, Some(Pending::StartTls)) {
            self.pending = None;
        }
        self.info = SessionInfo {
            tls: true,
            ..SessionInfo::default()
        };
        self.framer.reset();
        self.reset_transaction();
        self.phase = Phase::Command;
    }

    /// The connection's address has failed to log in too often (the driver's
    /// AuthThrottle says so): every login attempt is refused
    /// without looking at the credentials until this is cleared.
    pub fn set_auth_refused(&mut self, refused: bool) {
        self.auth_refused = refused;
    }

    /// How many logins failed since the last call (for the driver's per-address throttle).
    pub fn take_auth_failures(&mut self) -> u32 {
        std::mem::take(&mut self.new_auth_failures)
    }

    /// The server is shutting down: `421 4.3.2` now when no transaction is in flight,
    /// otherwise once the transaction in flight ends (delivered, refused or reset), so no
    /// mail is lost (RFC 5321 §3.8).
    pub fn handle_shutdown(&mut self) {
        self.shutting_down = true;
        self.close_if_shutting_down();
    }

    /// No command came within the idle timeout: `421 4.4.2` and close
    /// (RFC 5321 §4.5.3.2.7).
    pub fn handle_idle_timeout(&mut self) {
        self.close_with(
            421,
            EnhancedCode::new(4, 4, 2),
            "Idle timeout, closing connection",
        );
    }

    fn close_if_shutting_down(&mut self) {
        if self.shutting_down && !self.closed && self.is_between_transactions() {
            self.close_with(
                421,
                EnhancedCode::new(4, 3, 2),
                "Service shutting down, closing connection",
            );
        }
    }

    /// Queues a reply with `code` and closes. `reason` goes in the reply text, after the host
    /// name.
    pub fn close_with(&mut self, code: u16, enhanced: EnhancedCode, reason: &str) {
        if self.closed {
            return;
        }
        let text = format!("{} {reason}", self.config.hostname);
        self.reply(&Reply::new(code, Some(enhanced), &text));
        self.close();
    }

    fn close(&mut self) {
        self.closed = true;
        self.events.push_back(Event::Close);
    }

    fn reply(&mut self, reply: &Reply) {
        reply.encode(self.info.esmtp, &mut self.output);
    }

    /// A protocol error: counted, and the connection closes after too many.
    fn error(&mut self, reply: &Reply) {
        self.reply(reply);
        self.errors += 1;
        if self.errors >= self.config.max_errors {
            self.close_with(
                421,
                EnhancedCode::new(4, 7, 0),
                "Too many errors, closing connection",
            );
        }
    }

    fn reset_transaction(&mut self) {
        self.envelope = None;
        self.message = Vec::new();
        self.bdat_failed = false;
        self.bdat_used = false;
    }

    fn handle_line(&mut self, line: &[u8], more_input: bool) {
        if let Phase::Auth(sasl) = &mut self.phase {
            let text = String::from_utf8_lossy(line);
            let result = sasl.step_base64(Some(text.trim_end()));
            self.auth_step(result);
            return;
        }
        self.commands += 1;
        if self.commands > self.config.max_commands {
            self.close_with(
                421,
                EnhancedCode::new(4, 7, 0),
                "Too many commands, closing connection",
            );
            return;
        }
        let cmd = match Command::parse(line) {
            Ok(cmd) => cmd,
            Err(e) => return self.error(&e.reply()),
        };
        if line.len() + 2 > self.config.max_command_line && !matches!(cmd, Command::Auth { .. }) {
            return self.error(&Reply::new(500, ec(5, 5, 2), "Line too long"));
        }
        match cmd {
            Command::Ehlo(d) | Command::Helo(d) if self.config.mode == Mode::Lmtp => {
                let _ = d;
                self.error(&Reply::new(500, ec(5, 5, 1), "This is LMTP: use LHLO"))
            }
            Command::Lhlo(_) if self.config.mode != Mode::Lmtp => {
                self.error(&Reply::new(500, ec(5, 5, 1), "LHLO is for LMTP: use EHLO"))
            }
            Command::Ehlo(d) | Command::Lhlo(d) => self.ehlo(d.into_owned()),
            Command::Helo(d) => {
                self.reset_transaction();
                self.info.helo = Some(d.into_owned());
                self.info.esmtp = false;
                let text = format!("{} Hello", self.config.hostname);
                self.reply(&Reply::new(250, None, &text));
            }
            Command::Mail { from, params } => self.mail(from, params),
            Command::Rcpt { to, params } => self.rcpt(to, params),
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
            Command::Rset => {
                self.reset_transaction();
                self.reply(&Reply::new(250, ec(2, 0, 0), "OK"));
            }
            Command::Noop(_) => self.reply(&Reply::new(250, ec(2, 0, 0), "OK")),
            Command::Quit => {
                let text = format!("{} closing connection", self.config.hostname);
                self.reply(&Reply::new(221, ec(2, 0, 0), &text));
                self.close();
            }
            Command::Vrfy(_) => self.reply(&Reply::new(
                252,
                ec(2, 5, 0),
                "Cannot VRFY user, but will accept message and attempt delivery",
            )),
            Command::Expn(_) => self.reply(&Reply::new(502, ec(5, 5, 1), "EXPN not supported")),
            Command::Help(_) => self.reply(&Reply::multi(
                214,
                ec(2, 0, 0),
                vec![
                    "Commands: EHLO HELO LHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH".into(),
                    "See RFC 5321".into(),
                ],
            )),
            Command::StartTls => self.starttls(more_input),
            Command::Auth { mechanism, initial_response } => self.auth(&mechanism, initial_response),
        }
    }

    fn ehlo(&mut self, domain: String) {
        self.reset_transaction();
        self.info.helo = Some(domain.clone());
        self.info.esmtp = true;
        let mut lines = vec![format!("{} Hello {domain}", self.config.hostname)];
        lines.extend(
            [
                "PIPELINING",
                "8BITMIME",
                "ENHANCEDSTATUSCODES",
                "SMTPUTF8",
                "CHUNKING",
                "BINARYMIME",
                "DSN",
            ]
            .map(str::to_owned),
        );
        lines.insert(2, format!("SIZE {}", self.config.max_message_size));
        if self.config.starttls_available && !self.info.tls {
            lines.push("STARTTLS".to_owned());
        }
        if self.info.tls {
            lines.push("REQUIRETLS".to_owned());
        }
        if self.config.mode != Mode::Lmtp && self.info.authenticated.is_none() {
            let mechs = self.mechanisms();
            if !mechs.is_empty() {
                let names: Vec<&str> = mechs.iter().map(|m| m.name()).collect();
                lines.push(format!("AUTH {}", names.join(" ")));
            }
        }
        lines.push("HELP".to_owned());
        let reply = Reply::multi(250, None, lines);
        // The EHLO reply carries no enhanced code (RFC 2034 §3), but later ones do.
        reply.encode(false, &mut self.output);
    }

    fn mechanisms(&self) -> Vec<Mechanism> {
        mailwire_sasl::login_mechanisms(&*self.auth, self.info.tls, self.config.allow_insecure_auth)
    }

    fn mail(&mut self, from: ReversePath<'_>, params: MailParams<'_>) {
        if self.info.helo.is_none() {
            return self.error(&Reply::new(503, ec(5, 5, 1), "Send EHLO first"));
        }
        if self.envelope.is_some() {
            return self.error(&Reply::new(503, ec(5, 5, 1), "Sender already given"));
        }
        if self.config.mode == Mode::Submission && self.info.authenticated.is_none() {
            return self.error(&Reply::new(530, ec(5, 7, 0), "Authentication required"));
        }
        if !self.info.esmtp && !params.is_empty() {
            return self.error(&Reply::new(555, ec(5, 5, 4), "Parameters need EHLO"));
        }
        if let Some(size) = params.size
            && size > self.config.max_message_size
        {
            return self.reply(&Reply::new(
                552,
                ec(5, 3, 4),
                "Message size exceeds fixed maximum message size",
            ));
        }
        if from.address().is_some_and(|a| a.is_utf8()) && !params.smtputf8 {
            return self.reply(&Reply::new(
                553,
                ec(5, 6, 7),
                "Non-ASCII address requires SMTPUTF8",
            ));
        }
        if params.requiretls && !self.info.tls {
            return self.reply(&Reply::new(
                530,
                ec(5, 7, 10),
                "REQUIRETLS needs a TLS connection",
            ));
        }
        let (from, params) = (from.into_owned(), params.into_owned());
        self.events.push_back(Event::CheckMail {
            from: from.clone(),
            params: params.clone(),
        });
        self.pending = Some(Pending::Mail { from, params });
    }

    fn rcpt(&mut self, to: ForwardPath<'_>, params: RcptParams<'_>) {
        let Some(envelope) = &self.envelope else {
            return self.error(&Reply::new(503, ec(5, 5, 1), "Need MAIL before RCPT"));
        };
        if self.bdat_used {
            return self.error(&Reply::new(503, ec(5, 5, 1), "RCPT after BDAT"));
        }
        if envelope.recipients.len() >= self.config.max_recipients {
            return self.reply(&Reply::new(452, ec(4, 5, 3), "Too many recipients"));
        }
        if to.address().is_some_and(|a| a.is_utf8()) && !envelope.params.smtputf8 {
            return self.reply(&Reply::new(
                553,
                ec(5, 6, 7),
                "Non-ASCII address requires SMTPUTF8",
            ));
        }
        if !self.info.esmtp && !params.is_empty() {
            return self.error(&Reply::new(555, ec(5, 5, 4), "Parameters need EHLO"));
        }
        let (to, params) = (to.into_owned(), params.into_owned());
        self.events.push_back(Event::CheckRcpt {
            to: to.clone(),
            params: params.clone(),
        });
        self.pending = Some(Pending::Rcpt { to, params });
    }

    fn data(&mut self) {
        let Some(envelope) = &self.envelope else {
            return self.error(&Reply::new(503, ec(5, 5, 1), "Need MAIL before DATA"));
        };
        if envelope.recipients.is_empty() {
            // RFC 2920 §3.1: a pipelined DATA after refused recipients.
            return self.error(&Reply::new(554, ec(5, 5, 1), "No valid recipients"));
        }
        if self.bdat_used {
            return self.error(&Reply::new(503, ec(5, 5, 1), "DATA after BDAT"));
        }
        let declared = envelope.params.size;
        if envelope.params.body == Some(Body::BinaryMime) {
            return self.error(&Reply::new(
                503,
                ec(5, 5, 1),
                "BODY=BINARYMIME requires BDAT",
            ));
        }
        self.reply(&Reply::new(
            354,
            None,
            "Start mail input; end with <CRLF>.<CRLF>",
        ));
        self.message = Vec::with_capacity(message_capacity(declared, self.config.max_message_size));
        let bare_line_endings =
            if self.config.mode == Mode::Submission && self.info.authenticated.is_some() {
                self.config.submission_bare_line_endings
            } else {
                self.config.bare_line_endings
            };
        self.phase = Phase::Data(DataReceiver::new(DataConfig {
            max_message_size: self.config.max_message_size,
            bare_line_endings,
            max_line_len: self.config.max_text_line,
        }));
    }

    fn bdat(&mut self, size: u64, last: bool) {
        // The chunk follows the command at once: it is read whatever the answer (RFC 3030 §2).
        let received = self.message.len() as u64;
        self.phase = Phase::Bdat {
            rx: BdatReceiver::new(size, received, self.config.max_message_size),
            last,
        };
        self.bdat_used = self.envelope.is_some() || self.bdat_used;
        if size == 0 {
            // Nothing to read: finish at once.
            self.phase = Phase::Command;
            let result = if received > self.config.max_message_size {
                Err(DataError::TooLarge {
                    limit: self.config.max_message_size,
                })
            } else {
                Ok(())
            };
            self.finish_chunk(result, last);
        }
    }

    fn finish_chunk(&mut self, result: Result<(), DataError>, last: bool) {
        let refusal = match &self.envelope {
            None => Some(Reply::new(
                503,
                ec(5, 5, 1),
                "Need MAIL and RCPT before BDAT",
            )),
            Some(e) if e.recipients.is_empty() => {
                Some(Reply::new(554, ec(5, 5, 1), "No valid recipients"))
            }
            Some(_) if self.bdat_failed => Some(Reply::new(
                503,
                ec(5, 5, 1),
                "Earlier BDAT failed; send RSET",
            )),
            _ => None,
        };
        if let Some(reply) = refusal {
            self.message = Vec::new();
            self.bdat_failed = self.envelope.is_some();
            return self.error(&reply);
        }
        if let Err(e) = result {
            self.bdat_failed = true;
            self.message = Vec::new();
            let reply = data_error_reply(&e);
            return self.reply_per_recipient(&reply);
        }
        if !last {
            let text = format!("{} octets received", self.message.len());
            return self.reply(&Reply::new(250, ec(2, 0, 0), &text));
        }
        self.deliver();
    }

    fn finish_message(&mut self, result: Result<(), DataError>) {
        match result {
            Ok(()) => self.deliver(),
            Err(e) => {
                self.message = Vec::new();
                let reply = data_error_reply(&e);
                self.reply_per_recipient(&reply);
                self.reset_transaction();
            }
        }
    }

    /// One reply for SMTP; one per recipient for LMTP.
    fn reply_per_recipient(&mut self, reply: &Reply) {
        let n = match self.config.mode {
            Mode::Lmtp => self
                .envelope
                .as_ref()
                .map_or(1, |e| e.recipients.len().max(1)),
            _ => 1,
        };
        for _ in 0..n {
            self.reply(reply);
        }
    }

    fn deliver(&mut self) {
        let Some(envelope) = self.envelope.clone() else {
            return;
        };
        let message = std::mem::take(&mut self.message);
        self.events.push_back(Event::Deliver { envelope, message });
        self.pending = Some(Pending::Delivery);
    }

    fn starttls(&mut self, more_input: bool) {
        if self.info.tls {
            return self.error(&Reply::new(503, ec(5, 5, 1), "TLS already active"));
        }
        if !self.config.starttls_available {
            return self.error(&Reply::new(502, ec(5, 5, 1), "STARTTLS not available"));
        }
        if more_input {
            // CVE-2011-0411 class: commands sent before the handshake must not run after it.
            self.close_with(
                421,
                EnhancedCode::new(4, 7, 0),
                "Commands pipelined after STARTTLS, closing",
            );
            return;
        }
        self.reply(&Reply::new(220, ec(2, 0, 0), "Ready to start TLS"));
        self.events.push_back(Event::StartTls);
        self.pending = Some(Pending::StartTls);
    }

    fn auth(&mut self, mechanism: &str, initial: Option<InitialResponse>) {
        if self.config.mode == Mode::Lmtp {
            return self.error(&Reply::new(
                502,
                ec(5, 5, 1),
                "AUTH not available over LMTP",
            ));
        }
        if self.info.helo.is_none() || !self.info.esmtp {
            return self.error(&Reply::new(503, ec(5, 5, 1), "Send EHLO first"));
        }
        if self.info.authenticated.is_some() {
            return self.error(&Reply::new(503, ec(5, 5, 1), "Already authenticated"));
        }
        if self.envelope.is_some() {
            return self.error(&Reply::new(
                503,
                ec(5, 5, 1),
                "AUTH not allowed during a mail transaction",
            ));
        }
        if self.auth_refused {
            // RFC 4954 §6: 454 is a temporary authentication failure.
            return self.error(&Reply::new(
                454,
                ec(4, 7, 0),
                "Too many failed authentications from your address, try again later",
            ));
        }
        let Some(mech) = Mechanism::from_name(mechanism) else {
            return self.error(&Reply::new(
                504,
                ec(5, 5, 4),
                "Unrecognized authentication type",
            ));
        };
        if !self.mechanisms().contains(&mech) {
            if mech.is_plaintext() && !self.info.tls && !self.config.allow_insecure_auth {
                return self.error(&Reply::new(
                    538,
                    ec(5, 7, 11),
                    "Encryption required for requested authentication mechanism",
                ));
            }
            return self.error(&Reply::new(
                504,
                ec(5, 5, 4),
                "Authentication mechanism not available",
            ));
        }
        let params = ServerParams::new(self.config.hostname.clone())
            .with_tls(self.info.tls)
            .with_insecure_auth(self.config.allow_insecure_auth);
        let session = match mailwire_sasl::ServerSession::new(mech, Arc::clone(&self.auth), params)
        {
            Ok(s) => s,
            Err(_) => {
                return self.error(&Reply::new(
                    504,
                    ec(5, 5, 4),
                    "Authentication mechanism not available",
                ));
            }
        };
        self.phase = Phase::Auth(Box::new(session));
        let Phase::Auth(sasl) = &mut self.phase else {
            return;
        };
        let first = match &initial {
            None => None,
            Some(InitialResponse::Empty) => Some("="),
            Some(InitialResponse::Base64(b)) => Some(b.as_ref()),
        };
        let result = sasl.step_base64(first);
        self.auth_step(result);
    }

    fn auth_step(&mut self, result: Result<ServerStep<String>, mailwire_sasl::Error>) {
        match result {
            Ok(ServerStep::Challenge(challenge)) => {
                let mut line = b"334 ".to_vec();
                line.extend_from_slice(challenge.as_bytes());
                line.extend_from_slice(b"\r\n");
                self.output.extend_from_slice(&line);
            }
            Ok(ServerStep::Success {
                additional_data,
                authenticated,
            }) => {
                // SMTP cannot carry additional data with success; ServerParams said so.
                debug_assert!(additional_data.is_none());
                self.phase = Phase::Command;
                self.pending = Some(Pending::Auth(authenticated.clone()));
                self.events.push_back(Event::CheckAuth { authenticated });
            }
            Err(mailwire_sasl::Error::Cancelled) => {
                self.phase = Phase::Command;
                self.error(&Reply::new(501, ec(5, 0, 0), "Authentication cancelled"));
            }
            Err(mailwire_sasl::Error::Base64 | mailwire_sasl::Error::Malformed(_)) => {
                self.phase = Phase::Command;
                self.error(&Reply::new(
                    501,
                    ec(5, 5, 2),
                    "Malformed authentication response",
                ));
            }
            Err(_) => {
                self.phase = Phase::Command;
                self.new_auth_failures += 1;
                self.error(&Reply::new(
                    535,
                    ec(5, 7, 8),
                    "Authentication credentials invalid",
                ));
            }
        }
    }
}

impl std::fmt::Debug for ServerSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSession")
            .field("mode", &self.config.mode)
            .field("info", &self.info)
            .field("envelope", &self.envelope)
            .field("pending", &self.pending)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

fn data_error_reply(e: &DataError) -> Reply {
    match e {
        DataError::TooLarge { limit } => Reply::new(
            552,
            ec(5, 3, 4),
            &format!("Message size exceeds fixed maximum message size ({limit})"),
        ),
        DataError::BareCr | DataError::BareLf => Reply::new(
            550,
            ec(5, 6, 0),
            "Message contains bare CR or LF; lines must end with CRLF",
        ),
        DataError::LineTooLong { limit } => Reply::new(
            550,
            ec(5, 6, 0),
            &format!("Message line longer than {limit} octets"),
        ),
        _ => Reply::new(550, ec(5, 6, 0), "Message refused"),
    }
}

/// The first allocation for a message's data: the size the client declared (`SIZE=`), within
/// the size limit, or 16 KiB; never more than [`MESSAGE_PREALLOCATION_MAX`], so a declared
/// size costs nothing until the data arrives. It saves the reallocations of a buffer grown
/// from empty.
fn message_capacity(declared: Option<u64>, max_message_size: u64) -> usize {
    let want = declared.unwrap_or(16 * 1024).min(max_message_size);
    usize::try_from(want).map_or(MESSAGE_PREALLOCATION_MAX, |w| {
        w.min(MESSAGE_PREALLOCATION_MAX)
    })
}

/// The most [`message_capacity`] allocates ahead of the data: 1 MiB.
const MESSAGE_PREALLOCATION_MAX: usize = 1 << 20;
