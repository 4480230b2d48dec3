//! The server session: a pure state machine from command bytes to responses and events.
//!
//! ```text
//!           bytes ──► handle_input ──► poll_output ──► bytes
//!                          │
//!                          ▼
//!                     poll_event ──► LockMaildrop ──► resolve_lock
//!                                    Retrieve     ──► start_message, handle_message_data…,
//!                                                     end_message   (or fail_retrieve)
//!                                    Commit       ──► resolve_commit
//!                                    StartTls     ──► tls_established
//!                                    Close
//! ```
//!
//! [`ServerSession::handle_input`] consumes what it can and stops at the first command that
//! needs the driver (locking the maildrop, reading a message, making deletions durable, a TLS
//! handshake), or once [`ServerConfig::max_output`] octets of responses wait to be sent: the
//! driver writes them, then calls `handle_input` again with the rest. Pipelined commands are
//! thus all answered, in order, in bounded memory.
//!
//! The session knows the maildrop only as the list of sizes and unique ids the driver hands
//! to [`resolve_lock`](ServerSession::resolve_lock); message contents flow through
//! [`handle_message_data`](ServerSession::handle_message_data), chunk by chunk.

use std::collections::VecDeque;
use std::sync::Arc;

use mailwire_codec::{LineConfig, LineError, LineFramer};
use mailwire_sasl::{Authenticator, Mechanism, ServerParams, ServerStep};

use crate::proto::{
    Command, InitialResponse, MessageEncoder, ResponseCode, ScanListing, Status, UidListing,
    UniqueId,
};

/// Why a maildrop cannot be locked (what a maildrop backend reports; the session answers it
/// with the [`Status`] it converts to).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another session holds the lock (POP3 `-ERR [IN-USE]`, RFC 2449 §8.1.2).
    #[error("maildrop in use by another session")]
    InUse,
    /// Anything else (POP3 `-ERR [SYS/TEMP]`, RFC 3206 §4).
    #[error("maildrop unavailable: {0}")]
    Unavailable(String),
}

impl From<LockError> for Status {
    fn from(e: LockError) -> Self {
        match e {
            LockError::InUse => Status::err_code(
                ResponseCode::InUse,
                "maildrop already locked by another session",
            ),
            LockError::Unavailable(_) => Status::err_code(
                ResponseCode::SysTemp,
                "maildrop unavailable, try again later",
            ),
        }
    }
}

/// Why deletions could not be made durable (POP3 `-ERR [SYS/TEMP]` to QUIT, RFC 1939 §6).
#[derive(Debug, thiserror::Error)]
#[error("deletions not committed: {0}")]
pub struct CommitError(pub String);

impl From<CommitError> for Status {
    fn from(_: CommitError) -> Self {
        Status::err_code(ResponseCode::SysTemp, "some deleted messages not removed")
    }
}

/// Limits and settings of a server session. Every limit has a safe default.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The host name in the APOP timestamp and the greeting. Default `localhost`.
    pub hostname: String,
    /// The longest command line, CRLF included. Default 255 (RFC 2449 §4). Longer lines get
    /// `-ERR` and count as errors; at most this many octets (or `max_auth_line` during AUTH)
    /// are buffered.
    pub max_command_line: usize,
    /// The longest line of an AUTH exchange (the AUTH command with its initial response, and
    /// the client's answers). Default 12288 (RFC 4954's figure: SCRAM and XOAUTH2 lines grow
    /// past 255).
    pub max_auth_line: usize,
    /// Failed logins (USER/PASS, APOP, AUTH) before `-ERR [AUTH]` and close. Default 3: a
    /// password guesser must reconnect, which the connection limit and logs see.
    pub max_auth_failures: u32,
    /// Protocol errors (bad syntax, wrong state) before the connection is closed. Default 10.
    pub max_errors: u32,
    /// Commands per connection before `-ERR [SYS/PERM]` and close. Default 2 000 000 (a
    /// client that fetches and deletes 1 000 000 messages).
    pub max_commands: u64,
    /// Response octets buffered before `handle_input` stops consuming pipelined commands
    /// and waits for the driver to send them. Default 64 KiB: bounds memory per connection
    /// however many commands (or `LIST`s of a large maildrop) a client pipelines.
    pub max_output: usize,
    /// Offer USER/PASS and the plaintext SASL mechanisms without TLS. Default `false`
    /// (RFC 2595 §2; DESIGN "secure by default").
    pub allow_insecure_auth: bool,
    /// A TLS configuration exists, so STLS is offered on cleartext. Default `false`.
    pub stls_available: bool,
    /// Offer APOP (a timestamp in the greeting) when the authenticator holds
    /// plaintext-equivalent secrets. Default `true`: APOP never sends the password.
    pub apop: bool,
    /// The `IMPLEMENTATION` capability. Default `mailwire`.
    pub implementation: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            hostname: "localhost".to_owned(),
            max_command_line: 255,
            max_auth_line: 12288,
            max_auth_failures: 3,
            max_errors: 10,
            max_commands: 2_000_000,
            max_output: 64 * 1024,
            allow_insecure_auth: false,
            stls_available: false,
            apop: true,
            implementation: "mailwire".to_owned(),
        }
    }
}

/// One message of a locked maildrop, as the backend lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// The size in octets of the stored message (what RETR sends, before dot-stuffing).
    pub size: u64,
    /// The UIDL unique id: stable across sessions.
    pub uid: UniqueId,
}

/// The RFC 1939 session states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Before a successful login.
    Authorization,
    /// Logged in, maildrop locked.
    Transaction,
    /// After QUIT in TRANSACTION: deletions are being made durable.
    Update,
    /// The session has ended.
    Closed,
}

/// Something the driver must act on.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// `user` logged in: lock their maildrop, then call [`ServerSession::resolve_lock`].
    LockMaildrop {
        /// The authorization identity.
        user: String,
    },
    /// RETR or TOP of an existing message: open it, then call
    /// [`ServerSession::start_message`] and stream it through
    /// [`ServerSession::handle_message_data`], or call [`ServerSession::fail_retrieve`].
    Retrieve {
        /// 0-based index into the listing given to `resolve_lock`.
        index: usize,
        /// Its listed size.
        size: u64,
        /// `Some(n)` for `TOP msg n`.
        top: Option<u64>,
    },
    /// QUIT in TRANSACTION: remove these messages (0-based, ascending; possibly none) all
    /// together and durably, then call [`ServerSession::resolve_commit`]. The maildrop lock
    /// is released after that.
    Commit {
        /// The messages marked by DELE.
        deleted: Vec<usize>,
    },
    /// `+OK` to STLS is queued: flush it, run the TLS handshake, then call
    /// [`ServerSession::tls_established`]. Nothing was buffered past the command.
    StartTls,
    /// The session is over: flush the output and close the connection (a maildrop that was
    /// not committed is released with nothing deleted).
    Close,
}

#[derive(Debug)]
enum Pending {
    Lock,
    Retrieve { top: Option<u64> },
    Message(Box<MessageEncoder>),
    Commit,
    StartTls,
}

enum Phase {
    Command,
    Auth(Box<mailwire_sasl::ServerSession<Arc<dyn Authenticator + Send + Sync>>>),
}

struct Entry {
    info: MessageInfo,
    deleted: bool,
}

/// The POP3 server session. See the [module documentation](self).
pub struct ServerSession {
    config: ServerConfig,
    auth: Arc<dyn Authenticator + Send + Sync>,
    framer: LineFramer,
    phase: Phase,
    state: State,
    tls: bool,
    apop_timestamp: Option<String>,
    /// USER given, waiting for PASS.
    user: Option<String>,
    /// The identity that logged in (set with the maildrop lock).
    authenticated: Option<String>,
    maildrop: Vec<Entry>,
    pending: Option<Pending>,
    events: VecDeque<Event>,
    output: Vec<u8>,
    errors: u32,
    auth_failures: u32,
    /// Failures not yet taken by the driver ([`Self::take_auth_failures`]).
    new_auth_failures: u32,
    /// Logins refused for this connection's address ([`Self::set_auth_refused`]).
    auth_refused: bool,
    commands: u64,
}

impl ServerSession {
    /// A session for a new connection; the greeting is queued. `tls` is whether the connection
    /// is already encrypted (implicit TLS). `apop_timestamp` is a fresh, unique
    /// `<process-ID.clock@hostname>` (RFC 1939 §7), put in the greeting when APOP is offered
    /// (the driver makes it: this layer reads no clock).
    pub fn new(
        config: ServerConfig,
        auth: Arc<dyn Authenticator + Send + Sync>,
        tls: bool,
        apop_timestamp: Option<String>,
    ) -> Self {
        let framer = LineFramer::new(LineConfig {
            max_line_len: config.max_command_line.max(config.max_auth_line),
            ..LineConfig::default()
        });
        let apop_timestamp = apop_timestamp.filter(|_| config.apop && auth.supports_apop());
        let mut s = Self {
            config,
            auth,
            framer,
            phase: Phase::Command,
            state: State::Authorization,
            tls,
            apop_timestamp,
            user: None,
            authenticated: None,
            maildrop: Vec::new(),
            pending: None,
            events: VecDeque::new(),
            output: Vec::new(),
            errors: 0,
            auth_failures: 0,
            new_auth_failures: 0,
            auth_refused: false,
            commands: 0,
        };
        let greeting = match &s.apop_timestamp {
            Some(ts) => format!("{} POP3 mailwire ready {ts}", s.config.hostname),
            None => format!("{} POP3 mailwire ready", s.config.hostname),
        };
        s.status(&Status::ok(&greeting));
        s
    }

    /// The settings in use.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The RFC 1939 state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether TLS is active.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The logged-in identity, once the maildrop is locked.
    pub fn user(&self) -> Option<&str> {
        self.authenticated.as_deref()
    }

    /// The APOP timestamp of the greeting, when APOP is offered.
    pub fn apop_timestamp(&self) -> Option<&str> {
        self.apop_timestamp.as_deref()
    }

    /// Whether the session waits for the driver (an event to answer, or a message to stream).
    pub fn is_blocked(&self) -> bool {
        self.pending.is_some() || self.state == State::Closed
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Octets held by the framer: the start of a command not yet complete.
    pub fn buffered_len(&self) -> usize {
        self.framer.buffered_len()
    }

    /// Consumes input; returns how many octets were used. Stops early when the driver must
    /// act (an event, a message to stream), when the session closed, or when
    /// [`ServerConfig::max_output`] octets wait in the output: send them, then feed the rest.
    pub fn handle_input(&mut self, input: &[u8]) -> usize {
        let mut rest = input;
        while !rest.is_empty() && !self.is_blocked() && self.output.len() < self.config.max_output {
            match self.framer.next_line(&mut rest) {
                None => break,
                Some(Ok(line)) => {
                    let line = line.to_vec();
                    let more = !rest.is_empty() || self.framer.buffered_len() > 0;
                    self.handle_line(&line, more);
                }
                Some(Err(e)) => {
                    let text = match e {
                        LineError::TooLong { .. } => "Line too long",
                        _ => "Lines must end with CRLF",
                    };
                    self.phase = Phase::Command;
                    self.error(&Status::err(text));
                }
            }
        }
        input.len() - rest.len()
    }

    /// Moves the bytes to send into `out`.
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

    /// Answers [`Event::LockMaildrop`]: the maildrop's messages, or why it cannot be locked
    /// (`-ERR [IN-USE]` when another session holds it: `Status::from(LockError)` says it).
    /// Does nothing when no lock is pending.
    pub fn resolve_lock(&mut self, result: Result<Vec<MessageInfo>, Status>) {
        if !matches!(self.pending, Some(Pending::Lock)) {
            return;
        }
        self.pending = None;
        match result {
            Ok(list) => {
                let total: u64 = list.iter().map(|m| m.size).sum();
                let n = list.len();
                self.maildrop = list
                    .into_iter()
                    .map(|info| Entry {
                        info,
                        deleted: false,
                    })
                    .collect();
                self.state = State::Transaction;
                self.status(&Status::ok(&format!(
                    "maildrop has {n} messages ({total} octets)"
                )));
            }
            Err(status) => {
                self.authenticated = None;
                self.status(&status);
            }
        }
    }

    /// Answers [`Event::Retrieve`]: the message is open; queues `+OK` and expects its
    /// bytes through [`handle_message_data`](Self::handle_message_data).
    pub fn start_message(&mut self) {
        let Some(Pending::Retrieve { top }) = self.pending.take() else {
            return;
        };
        let encoder = match top {
            Some(n) => {
                self.status(&Status::ok("top of message follows"));
                MessageEncoder::top(n)
            }
            None => {
                self.status(&Status::ok("message follows"));
                MessageEncoder::retr()
            }
        };
        self.pending = Some(Pending::Message(Box::new(encoder)));
    }

    /// Answers [`Event::Retrieve`] when the backend cannot open the message now:
    /// `-ERR [SYS/TEMP]` (RFC 3206 §4), the session goes on.
    pub fn retrieve_unavailable(&mut self) {
        self.fail_retrieve(Status::err_code(
            ResponseCode::SysTemp,
            "cannot read the message now",
        ));
    }

    /// Answers [`Event::Retrieve`] with an error (e.g. `-ERR [SYS/TEMP]`) instead of the
    /// message.
    pub fn fail_retrieve(&mut self, status: Status) {
        if matches!(self.pending, Some(Pending::Retrieve { .. })) {
            self.pending = None;
            self.status(&status);
        }
    }

    /// The next chunk of the message being sent, dot-stuffed into the output. Returns whether
    /// more is wanted (`false` once TOP has its lines). Send the output when it grows large.
    pub fn handle_message_data(&mut self, chunk: &[u8]) -> bool {
        match &mut self.pending {
            Some(Pending::Message(encoder)) => encoder.encode(chunk, &mut self.output),
            _ => false,
        }
    }

    /// The message is complete: queues the terminating `.` and resumes command processing.
    pub fn end_message(&mut self) {
        if let Some(Pending::Message(mut encoder)) = self.pending.take() {
            encoder.finish(&mut self.output);
        }
    }

    /// Answers [`Event::Commit`]: `Ok` once the deletions are durable (`+OK` and close), or
    /// the error to report (`-ERR [SYS/TEMP]`: `Status::from(CommitError)` says it; close;
    /// RFC 1939 §6).
    pub fn resolve_commit(&mut self, result: Result<(), Status>) {
        if !matches!(self.pending, Some(Pending::Commit)) {
            return;
        }
        self.pending = None;
        match result {
            Ok(()) => {
                let n = self.maildrop.iter().filter(|e| e.deleted).count();
                let text = format!(
                    "{} POP3 server signing off ({n} messages deleted)",
                    self.config.hostname
                );
                self.status(&Status::ok(&text));
            }
            Err(status) => self.status(&status),
        }
        self.close();
    }

    /// The TLS handshake after STLS succeeded: what was learnt in cleartext is forgotten
    /// (RFC 2595 §4) and capabilities are those of a TLS session.
    pub fn tls_established(&mut self) {
        if matches!(self.pending, Some(Pending::StartTls)) {
            self.pending = None;
        }
        self.tls = true;
        self.user = None;
        self.framer.reset();
        self.phase = Phase::Command;
    }

    /// The autologout timer expired (RFC 1939 §3): closes without a response, deleting
    /// nothing.
    pub fn handle_idle_timeout(&mut self) {
        if self.state != State::Closed {
            self.close();
        }
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

    /// The server is shutting down: `-ERR [SYS/TEMP]` and close, deleting nothing (the
    /// UPDATE state is never entered, RFC 1939 §6). Called while no command is in flight.
    pub fn handle_shutdown(&mut self) {
        self.close_with(&Status::err_code(
            ResponseCode::SysTemp,
            "server shutting down, nothing deleted",
        ));
    }

    /// Queues `status` and closes (server shutdown, a failed write of a message).
    pub fn close_with(&mut self, status: &Status) {
        if self.state == State::Closed {
            return;
        }
        self.status(status);
        self.close();
    }

    fn close(&mut self) {
        self.state = State::Closed;
        self.pending = None;
        self.events.push_back(Event::Close);
    }

    fn status(&mut self, status: &Status) {
        status.encode(&mut self.output);
    }

    fn error(&mut self, status: &Status) {
        self.status(status);
        self.errors += 1;
        if self.errors >= self.config.max_errors {
            self.close_with(&Status::err("Too many errors, closing connection"));
        }
    }

    /// A login from an address that failed too often: refused unchecked, as a temporary
    /// condition (RFC 3206 `SYS/TEMP`).
    fn refuse_login(&mut self) {
        self.user = None;
        self.status(&Status::err_code(
            ResponseCode::SysTemp,
            "Too many failed logins from your address: try again later",
        ));
    }

    fn auth_failed(&mut self, status: &Status) {
        self.user = None;
        self.status(status);
        self.auth_failures += 1;
        self.new_auth_failures += 1;
        if self.auth_failures >= self.config.max_auth_failures {
            self.close_with(&Status::err_code(
                ResponseCode::Auth,
                "Too many failed logins, closing connection",
            ));
        }
    }

    fn plaintext_allowed(&self) -> bool {
        self.tls || self.config.allow_insecure_auth
    }

    fn mechanisms(&self) -> Vec<Mechanism> {
        mailwire_sasl::login_mechanisms(&*self.auth, self.tls, self.config.allow_insecure_auth)
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
            self.close_with(&Status::err_code(
                ResponseCode::SysPerm,
                "Too many commands, closing connection",
            ));
            return;
        }
        let cmd = match Command::parse(line) {
            Ok(cmd) => cmd,
            Err(e) => return self.error(&e.status()),
        };
        if line.len() + 2 > self.config.max_command_line && !matches!(cmd, Command::Auth { .. }) {
            return self.error(&Status::err("Line too long"));
        }
        match (self.state, cmd) {
            (_, Command::Capa) => self.capa(),
            (_, Command::Noop) if self.state == State::Transaction => {
                self.status(&Status::ok(""));
            }
            (State::Authorization, Command::Quit) => {
                let text = format!("{} POP3 server signing off", self.config.hostname);
                self.status(&Status::ok(&text));
                self.close();
            }
            (State::Authorization, Command::Stls) => self.stls(more_input),
            (State::Authorization, Command::User(name)) => {
                if !self.plaintext_allowed() {
                    return self.error(&Status::err_code(
                        ResponseCode::Auth,
                        "Plaintext authentication requires TLS: use STLS first",
                    ));
                }
                self.user = Some(name);
                self.status(&Status::ok("send PASS"));
            }
            (State::Authorization, Command::Pass(password)) => {
                let Some(user) = self.user.take() else {
                    return self.error(&Status::err("USER first"));
                };
                if !self.plaintext_allowed() {
                    return self.error(&Status::err_code(
                        ResponseCode::Auth,
                        "Plaintext authentication requires TLS: use STLS first",
                    ));
                }
                if self.auth_refused {
                    return self.refuse_login();
                }
                if self.auth.verify_plain(&user, password.expose()) {
                    self.logged_in(user);
                } else {
                    self.auth_failed(&Status::err_code(
                        ResponseCode::Auth,
                        "Authentication failed",
                    ));
                }
            }
            (State::Authorization, Command::Apop { user, digest }) => {
                let Some(ts) = self.apop_timestamp.clone() else {
                    return self.error(&Status::err("APOP not available"));
                };
                if self.auth_refused {
                    return self.refuse_login();
                }
                match mailwire_sasl::apop::authenticate_apop(&*self.auth, &user, &ts, &digest) {
                    Ok(()) => self.logged_in(user),
                    Err(_) => self.auth_failed(&Status::err_code(
                        ResponseCode::Auth,
                        "Authentication failed",
                    )),
                }
            }
            (State::Authorization, Command::AuthList) => {
                self.status(&Status::ok("SASL mechanisms follow"));
                for m in self.mechanisms() {
                    self.output.extend_from_slice(m.name().as_bytes());
                    self.output.extend_from_slice(b"\r\n");
                }
                self.output.extend_from_slice(b".\r\n");
            }
            (
                State::Authorization,
                Command::Auth {
                    mechanism,
                    initial_response,
                },
            ) if self.auth_refused => {
                let _ = (mechanism, initial_response);
                self.refuse_login()
            }
            (
                State::Authorization,
                Command::Auth {
                    mechanism,
                    initial_response,
                },
            ) => self.auth(&mechanism, initial_response),
            (State::Transaction, cmd) => self.transaction(cmd),
            (_, cmd) => self.error(&Status::err(&format!(
                "{} not allowed in the {} state",
                cmd.keyword(),
                match self.state {
                    State::Authorization => "AUTHORIZATION",
                    _ => "TRANSACTION",
                }
            ))),
        }
    }

    fn capa(&mut self) {
        let mut lines = vec![
            "TOP".to_owned(),
            "UIDL".to_owned(),
            "RESP-CODES".to_owned(),
            "AUTH-RESP-CODE".to_owned(),
            "PIPELINING".to_owned(),
            "EXPIRE NEVER".to_owned(),
        ];
        if self.state == State::Authorization {
            if self.plaintext_allowed() {
                lines.push("USER".to_owned());
            }
            let mechs = self.mechanisms();
            if !mechs.is_empty() {
                let names: Vec<&str> = mechs.iter().map(|m| m.name()).collect();
                lines.push(format!("SASL {}", names.join(" ")));
            }
            if self.config.stls_available && !self.tls {
                lines.push("STLS".to_owned());
            }
        }
        lines.push(format!("IMPLEMENTATION {}", self.config.implementation));
        self.status(&Status::ok("Capability list follows"));
        for line in lines {
            let clean: String = line.chars().filter(|c| !c.is_control()).collect();
            self.output.extend_from_slice(clean.as_bytes());
            self.output.extend_from_slice(b"\r\n");
        }
        self.output.extend_from_slice(b".\r\n");
    }

    fn stls(&mut self, more_input: bool) {
        if self.tls {
            return self.error(&Status::err("TLS already active"));
        }
        if !self.config.stls_available {
            return self.error(&Status::err("STLS not available"));
        }
        if self.user.is_some() {
            return self.error(&Status::err("STLS not allowed after USER"));
        }
        if more_input {
            // CVE-2011-0411 class: commands sent before the handshake must not run after it.
            self.close_with(&Status::err(
                "Commands pipelined after STLS, closing connection",
            ));
            return;
        }
        self.status(&Status::ok("Begin TLS negotiation"));
        self.events.push_back(Event::StartTls);
        self.pending = Some(Pending::StartTls);
    }

    fn logged_in(&mut self, user: String) {
        self.user = None;
        self.authenticated = Some(user.clone());
        self.events.push_back(Event::LockMaildrop { user });
        self.pending = Some(Pending::Lock);
    }

    fn auth(&mut self, mechanism: &str, initial: Option<InitialResponse>) {
        let Some(mech) = Mechanism::from_name(mechanism) else {
            return self.error(&Status::err("Unrecognized authentication type"));
        };
        if !self.mechanisms().contains(&mech) {
            if mech.needs_confidentiality() && !self.plaintext_allowed() {
                return self.error(&Status::err_code(
                    ResponseCode::Auth,
                    "Plaintext authentication requires TLS: use STLS first",
                ));
            }
            return self.error(&Status::err("Authentication mechanism not available"));
        }
        let params = ServerParams::new(self.config.hostname.clone())
            .with_tls(self.tls)
            .with_insecure_auth(self.config.allow_insecure_auth);
        let session = match mailwire_sasl::ServerSession::new(mech, Arc::clone(&self.auth), params)
        {
            Ok(s) => s,
            Err(_) => return self.error(&Status::err("Authentication mechanism not available")),
        };
        self.phase = Phase::Auth(Box::new(session));
        let Phase::Auth(sasl) = &mut self.phase else {
            return;
        };
        let first = match &initial {
            None => None,
            Some(InitialResponse::Empty) => Some("="),
            Some(InitialResponse::Base64(b)) => Some(b.as_str()),
        };
        let result = sasl.step_base64(first);
        self.auth_step(result);
    }

    fn auth_step(&mut self, result: Result<ServerStep<String>, mailwire_sasl::Error>) {
        match result {
            Ok(ServerStep::Challenge(challenge)) => {
                self.output.extend_from_slice(b"+ ");
                self.output.extend_from_slice(challenge.as_bytes());
                self.output.extend_from_slice(b"\r\n");
            }
            Ok(ServerStep::Success { authenticated, .. }) => {
                self.phase = Phase::Command;
                self.logged_in(authenticated.authzid);
            }
            Err(mailwire_sasl::Error::Cancelled) => {
                self.phase = Phase::Command;
                self.error(&Status::err("Authentication cancelled"));
            }
            Err(mailwire_sasl::Error::Base64 | mailwire_sasl::Error::Malformed(_)) => {
                self.phase = Phase::Command;
                self.auth_failed(&Status::err_code(
                    ResponseCode::Auth,
                    "Malformed authentication response",
                ));
            }
            Err(_) => {
                self.phase = Phase::Command;
                self.auth_failed(&Status::err_code(
                    ResponseCode::Auth,
                    "Authentication failed",
                ));
            }
        }
    }

    /// The message `number` names, if it exists and is not deleted; or the `-ERR` for it.
    fn message(&self, number: u32) -> Result<usize, Status> {
        let index = (number as usize)
            .checked_sub(1)
            .filter(|&i| i < self.maildrop.len())
            .ok_or_else(|| Status::err("no such message"))?;
        if self.maildrop[index].deleted {
            return Err(Status::err(&format!("message {number} already deleted")));
        }
        Ok(index)
    }

    fn transaction(&mut self, cmd: Command) {
        match cmd {
            Command::Stat => {
                let (n, size) = self
                    .maildrop
                    .iter()
                    .filter(|e| !e.deleted)
                    .fold((0u64, 0u64), |(n, s), e| (n + 1, s + e.info.size));
                self.status(&Status::ok(&format!("{n} {size}")));
            }
            Command::List(Some(m)) => match self.message(m) {
                Ok(i) => {
                    let mut text = Vec::new();
                    ScanListing {
                        message: m,
                        size: self.maildrop[i].info.size,
                    }
                    .encode(&mut text);
                    self.status(&Status::ok(&String::from_utf8_lossy(&text)));
                }
                Err(s) => self.status(&s),
            },
            Command::Uidl(Some(m)) => match self.message(m) {
                Ok(i) => {
                    let mut text = Vec::new();
                    UidListing {
                        message: m,
                        id: self.maildrop[i].info.uid.clone(),
                    }
                    .encode(&mut text);
                    self.status(&Status::ok(&String::from_utf8_lossy(&text)));
                }
                Err(s) => self.status(&s),
            },
            Command::List(None) | Command::Uidl(None) => {
                let uidl = matches!(cmd, Command::Uidl(_));
                self.status(&Status::ok(if uidl {
                    "unique-id listing follows"
                } else {
                    "scan listing follows"
                }));
                for (i, e) in self.maildrop.iter().enumerate() {
                    if e.deleted {
                        continue;
                    }
                    let message = u32::try_from(i + 1).unwrap_or(u32::MAX);
                    if uidl {
                        UidListing {
                            message,
                            id: e.info.uid.clone(),
                        }
                        .encode(&mut self.output);
                    } else {
                        ScanListing {
                            message,
                            size: e.info.size,
                        }
                        .encode(&mut self.output);
                    }
                    self.output.extend_from_slice(b"\r\n");
                }
                self.output.extend_from_slice(b".\r\n");
            }
            Command::Retr(m) => self.retrieve(m, None),
            Command::Top { message, lines } => self.retrieve(message, Some(lines)),
            Command::Dele(m) => match self.message(m) {
                Ok(i) => {
                    self.maildrop[i].deleted = true;
                    self.status(&Status::ok(&format!("message {m} deleted")));
                }
                Err(s) => self.status(&s),
            },
            Command::Rset => {
                self.maildrop.iter_mut().for_each(|e| e.deleted = false);
                let n = self.maildrop.len();
                let size: u64 = self.maildrop.iter().map(|e| e.info.size).sum();
                self.status(&Status::ok(&format!(
                    "maildrop has {n} messages ({size} octets)"
                )));
            }
            Command::Quit => {
                self.state = State::Update;
                let deleted = self
                    .maildrop
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.deleted)
                    .map(|(i, _)| i)
                    .collect();
                self.events.push_back(Event::Commit { deleted });
                self.pending = Some(Pending::Commit);
            }
            other => self.error(&Status::err(&format!(
                "{} not allowed in the TRANSACTION state",
                other.keyword()
            ))),
        }
    }

    fn retrieve(&mut self, number: u32, top: Option<u64>) {
        match self.message(number) {
            Ok(index) => {
                self.events.push_back(Event::Retrieve {
                    index,
                    size: self.maildrop[index].info.size,
                    top,
                });
                self.pending = Some(Pending::Retrieve { top });
            }
            Err(s) => self.status(&s),
        }
    }
}

impl std::fmt::Debug for ServerSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSession")
            .field("state", &self.state)
            .field("tls", &self.tls)
            .field("user", &self.authenticated)
            .field("messages", &self.maildrop.len())
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}
