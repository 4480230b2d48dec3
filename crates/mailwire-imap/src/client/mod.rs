//! The tokio IMAP client: connect (`imaps://`, or `imap://` with STARTTLS), log in the
//! safest way the server's capabilities allow, then share one connection between tasks. The
//! protocol decisions (tags, §5.5 pipelining, literals, completions routed by tag) are the
//! sans-I/O [`ClientSession`]'s; this module owns the socket, the TLS upgrade, a timeout on
//! every read and write, and a connection task that serves every [`Client`] handle.
//!
//! Secure by default: [`Security::Implicit`] (`imaps://`) or STARTTLS under
//! [`TlsPolicy::Required`] (a server that does not offer STARTTLS, or greets with `PREAUTH`
//! on cleartext, is refused); LOGIN and the plaintext SASL mechanisms only under TLS unless
//! [`Login::allow_plaintext_without_tls`] says otherwise.
//!
//! [`Client`] is `Clone + Send`: several tasks issue commands at once, each awaits its own
//! answer; the commands are pipelined on the wire and the answers routed by tag. Untagged data
//! a command asked for (its FETCH, SEARCH, LIST… responses) comes back with it in a
//! [`Reply`]; everything else (EXISTS, EXPUNGE, VANISHED, FETCH FLAGS from other sessions,
//! alerts, BYE) is an [`Unsolicited`] event on [`Client::events`].
//!
//! ```no_run
//! use mailwire_imap::client::{Client, ClientConfig, Login};
//!
//! # async fn run() -> Result<(), mailwire_imap::client::Error> {
//! let config = ClientConfig::from_url("imaps://mail.example.org")?;
//! let client = Client::connect(config, &Login::password("alice", "secret")).await?;
//! let inbox = client.select("INBOX").await?;
//! println!("{} messages", inbox.exists);
//! let reply = client.command("UID FETCH 1:* (FLAGS)").await?;
//! println!("{} FETCH responses", reply.data.len());
//! client.logout().await?;
//! # Ok(()) }
//! ```

mod url;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailwire_codec::Secret;
use mailwire_sasl::{AvailableCredentials, ClientCredentials, Mechanism};
use mailwire_tls::{Security, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::proto::client::{
    ClientConfig as SessionConfig, ClientSession, CommandHandle, Event, ProtocolError,
};
use crate::proto::{
    AString, AppendData, AppendMessage, Atom, Capability, Code, CommandBody, Completion, Data,
    DateTime, DecodeOptions, ESearchData, FetchItems, FetchModifier, Flag, GreetingKind, IString,
    InitialResponse, ListData, ListMailbox, ListReturnOption, ListSelectOption, Mailbox,
    MailboxAttr, MessageData, NamespaceDescr, SearchKey, SearchReturnOption, SelectParam, SeqNum,
    SeqRange, SequenceSet, SortCriterion, StatusItem, StatusValue, StoreKind, Tag, Tagged, Text,
    Thread, ThreadAlgorithm, Untagged, UntaggedKind, Vec1, decode_command,
};

/// A completion not received yet.
fn placeholder() -> Tagged {
    Tagged {
        tag: Tag::unvalidated(b"A0"),
        kind: Completion::Ok,
        code: None,
        text: Text::unvalidated(b""),
    }
}

fn empty_reply() -> Reply {
    Reply {
        data: Vec::new(),
        status: Vec::new(),
        done: placeholder(),
    }
}

pub use url::{ImapUrl, UrlError};

/// Everything that can go wrong on the client side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The socket failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A read, write or connect did not complete within [`ClientConfig::timeout`].
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// TLS failed: configuration, handshake, certificate, STARTTLS not offered under
    /// [`TlsPolicy::Required`], or bytes injected after the STARTTLS go-ahead.
    #[error("TLS: {0}")]
    Tls(#[from] mailwire_tls::Error),
    /// The server answered `NO` (with its response code, if any).
    #[error("server said NO: {0:?}")]
    No(Box<Tagged>),
    /// The server answered `BAD`.
    #[error("server said BAD: {0:?}")]
    Bad(Box<Tagged>),
    /// The server greeted with `BYE`, or `PREAUTH` on cleartext while TLS is required.
    #[error("refused at greeting: {0}")]
    Greeting(String),
    /// The server broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The connection is closed (by the server, or after an earlier error).
    #[error("connection closed")]
    Closed,
    /// SASL failed on the client side (e.g. the SCRAM server signature did not verify).
    #[error("SASL: {0}")]
    Sasl(#[from] mailwire_sasl::Error),
    /// No login method is both offered and safe here (e.g. only LOGIN over cleartext).
    #[error("no safe login method: {0}")]
    NoLoginMethod(String),
    /// The command text does not parse as an IMAP command.
    #[error("not a valid command: {0}")]
    Command(String),
    /// The URL is not an IMAP URL.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// A well-formed answer the client cannot use: a response it needs is missing, or a set
    /// is larger than [`ClientConfig::max_set_numbers`].
    #[error("unusable answer: {0}")]
    Answer(String),
}

impl From<mailwire_tls::OpenError> for Error {
    fn from(e: mailwire_tls::OpenError) -> Self {
        match e {
            mailwire_tls::OpenError::Io(e) => Self::Io(e),
            mailwire_tls::OpenError::Timeout(t) => Self::Timeout(t),
            mailwire_tls::OpenError::Tls(e) => Self::Tls(e),
        }
    }
}

/// Shorthand for client results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Host, port, security, trust anchors and the connect, read/write and handshake
    /// timeouts (60 s and 30 s by default). Its fields read and write through the config
    /// too (`config.timeout`), and `with_tls_policy`, `with_ca_file` and `with_timeout` set
    /// them. Implicit TLS is `imaps://`; `imap://` is STARTTLS, Required by default.
    pub endpoint: mailwire_tls::Endpoint,
    /// Protocol session settings: tag prefix, the largest line and literal accepted from the
    /// server (64 MiB by default), nesting depth.
    pub session: SessionConfig,
    /// Unsolicited events kept for a slow [`Client::events`] reader before the oldest are
    /// dropped (it then sees a lag). Default 1024.
    pub event_capacity: usize,
    /// How long one IDLE lasts before the client ends and re-issues it by itself. Default
    /// 29 minutes, under the 30-minute autologout of RFC 9051 §5.4 (RFC 2177 §3).
    pub idle_reissue: Duration,
    /// Turn on COMPRESS=DEFLATE (RFC 4978) after login when the server offers it. Default off.
    pub compress: bool,
    /// The most numbers one set from the server (ESEARCH `ALL`, `APPENDUID`, `COPYUID`,
    /// `MODIFIED`) may expand to; a larger one (`1:4294967295` from a hostile server) is an
    /// [`Error::Answer`] instead of gigabytes. Default 4 Mi numbers (16 MiB).
    pub max_set_numbers: usize,
    /// Extensions to ENABLE right after login (RFC 5161), those of them the server offers:
    /// `CONDSTORE`, `QRESYNC`, `UTF8=ACCEPT` (then mailbox names and strings travel as UTF-8,
    /// RFC 6855), `IMAP4rev2` (RFC 9051). [`Client::enabled`] says what the server turned
    /// on. Default none.
    pub enable: Vec<Capability>,
}

impl std::ops::Deref for ClientConfig {
    type Target = mailwire_tls::Endpoint;

    fn deref(&self) -> &mailwire_tls::Endpoint {
        &self.endpoint
    }
}

impl std::ops::DerefMut for ClientConfig {
    fn deref_mut(&mut self) -> &mut mailwire_tls::Endpoint {
        &mut self.endpoint
    }
}

impl ClientConfig {
    /// Settings for `host:port` with the given security and the defaults otherwise.
    pub fn new(host: impl Into<String>, port: u16, security: Security) -> Self {
        Self {
            endpoint: mailwire_tls::Endpoint::new(host, port, security),
            session: SessionConfig::default(),
            event_capacity: 1024,
            idle_reissue: IDLE_REISSUE,
            compress: false,
            max_set_numbers: MAX_SET_NUMBERS,
            enable: Vec::new(),
        }
    }

    /// Builder: ENABLE these after login when offered ([`ClientConfig::enable`]).
    pub fn with_enable(mut self, caps: &[Capability]) -> Self {
        self.enable = caps.to_vec();
        self
    }

    /// From `imap://host[:port]` (STARTTLS required) or `imaps://host[:port]`.
    pub fn from_url(url: &str) -> Result<Self> {
        let u = ImapUrl::parse(url)?;
        Ok(Self::new(u.host, u.port, u.security))
    }

    mailwire_tls::endpoint_builders!();
}

/// Credentials and how they may be used.
#[derive(Debug, Clone)]
pub struct Login {
    user: String,
    password: Option<Secret<String>>,
    token: Option<Secret<String>>,
    mechanism: Option<Mechanism>,
    allow_plaintext: bool,
}

impl Login {
    /// A user name and password: the strongest SASL mechanism offered (SCRAM-SHA-256,
    /// SCRAM-SHA-1, CRAM-MD5, PLAIN), else LOGIN.
    pub fn password(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            password: Some(Secret::new(password.into())),
            token: None,
            mechanism: None,
            allow_plaintext: false,
        }
    }

    /// An OAuth 2.0 bearer token (OAUTHBEARER, else XOAUTH2).
    pub fn oauth(user: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            password: None,
            token: Some(Secret::new(token.into())),
            mechanism: None,
            allow_plaintext: false,
        }
    }

    /// Builder: this SASL mechanism and no other.
    pub fn with_mechanism(mut self, mechanism: Mechanism) -> Self {
        self.mechanism = Some(mechanism);
        self
    }

    /// Builder: allow LOGIN, PLAIN and bearer tokens without TLS (for test servers on
    /// 127.0.0.1; never over a network).
    pub fn allow_plaintext_without_tls(mut self, allow: bool) -> Self {
        self.allow_plaintext = allow;
        self
    }
}

/// A completed command: the untagged data it asked for and its tagged `OK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The untagged data responses that belong to the command, in order.
    pub data: Vec<Data>,
    /// Untagged `OK`/`NO` status responses that came with it (response codes such as
    /// `UIDVALIDITY`, `PERMANENTFLAGS`, `HIGHESTMODSEQ`).
    pub status: Vec<Untagged>,
    /// The tagged completion (always `OK`: `NO` and `BAD` are [`Error::No`]/[`Error::Bad`]).
    pub done: Tagged,
}

/// What LIST answered: the mailboxes, and the STATUS of each when asked for (LIST-STATUS or
/// the STATUS fallback of [`Client::list_status`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// The LIST responses, in the order received.
    pub mailboxes: Vec<ListData>,
    /// `(mailbox, values)` of each STATUS response.
    pub status: Vec<(Mailbox, Vec<StatusValue>)>,
}

impl Listing {
    fn from_data(data: Vec<Data>) -> Self {
        let mut out = Self::default();
        for d in data {
            match d {
                Data::List(l) => out.mailboxes.push(l),
                Data::Status { mailbox, items } => out.status.push((mailbox, items)),
                _ => {}
            }
        }
        out
    }

    /// The STATUS values of one listed mailbox.
    pub fn status_of(&self, mailbox: &Mailbox) -> Option<&[StatusValue]> {
        self.status
            .iter()
            .find(|(m, _)| m == mailbox)
            .map(|(_, v)| v.as_slice())
    }
}

/// What NAMESPACE answered (RFC 2342).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespaces {
    /// The user's own namespaces.
    pub personal: Vec<NamespaceDescr>,
    /// Other users' namespaces.
    pub other: Vec<NamespaceDescr>,
    /// Shared namespaces.
    pub shared: Vec<NamespaceDescr>,
}

/// One message for [`Client::append_many`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Appendable {
    /// The flags to set.
    pub flags: Vec<Flag>,
    /// The internal date (`None`: the server's time of arrival).
    pub date: Option<DateTime>,
    /// The message octets.
    pub message: Vec<u8>,
}

impl Appendable {
    /// A message without flags or date.
    pub fn new(message: impl Into<Vec<u8>>) -> Self {
        Self {
            message: message.into(),
            ..Self::default()
        }
    }

    /// With these flags.
    pub fn with_flags(mut self, flags: &[Flag]) -> Self {
        self.flags = flags.to_vec();
        self
    }
}

/// What SELECT or EXAMINE reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selected {
    /// Messages in the mailbox.
    pub exists: u32,
    /// UIDVALIDITY.
    pub uidvalidity: Option<u32>,
    /// UIDNEXT.
    pub uidnext: Option<u32>,
    /// HIGHESTMODSEQ (CONDSTORE).
    pub highest_modseq: Option<u64>,
    /// Opened read-only (EXAMINE, or `[READ-ONLY]`).
    pub read_only: bool,
}

/// What [`Client::fetch_with`] returned: the FETCH responses, and under QRESYNC the UIDs
/// expunged meanwhile (`VANISHED (EARLIER)`, RFC 7162 §3.2.6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetched {
    /// `(sequence number, items)` of each message, in the order sent.
    pub messages: Vec<(u32, Vec1<MessageData>)>,
    /// The UID sets reported gone.
    pub vanished: Vec<SequenceSet>,
}

/// What [`Client::search_return`] returned (RFC 4731 ESEARCH, or worked out from a plain
/// SEARCH answer when the server has no ESEARCH).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchResult {
    /// The lowest match (`MIN`).
    pub min: Option<u32>,
    /// The highest match (`MAX`).
    pub max: Option<u32>,
    /// How many matched (`COUNT`).
    pub count: Option<u32>,
    /// Every match (`ALL`), in ascending order.
    pub all: Vec<u32>,
    /// The highest MODSEQ of the matches, when the search used MODSEQ (RFC 7162 §3.1.5).
    pub modseq: Option<u64>,
}

/// What [`Client::select_qresync`] learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resync {
    /// The mailbox, as SELECT reported it.
    pub selected: Selected,
    /// UIDs expunged since the modseq given (`VANISHED (EARLIER)`).
    pub vanished: Vec<SequenceSet>,
    /// Messages changed since then: sequence number and items (UID, FLAGS, MODSEQ).
    pub changed: Vec<(u32, Vec1<MessageData>)>,
}

/// Something the server said that no command asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unsolicited {
    /// Untagged data: `EXISTS`, `EXPUNGE`, `VANISHED`, `FETCH (FLAGS …)` of another
    /// session's change, …
    Data(Data),
    /// An untagged status (`* OK [ALERT] …`, `* BYE …`).
    Status(Untagged),
    /// The connection ended; no more events come.
    Closed,
}

/// The mailbox state the client keeps from what the server sends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxView {
    /// The selected mailbox, if any.
    pub selected: Option<String>,
    /// EXISTS as last reported.
    pub exists: u32,
    /// UIDVALIDITY of the selected mailbox.
    pub uidvalidity: Option<u32>,
    /// HIGHESTMODSEQ as last reported (SELECT, or MODSEQ of FETCH responses).
    pub highest_modseq: Option<u64>,
}

struct Job {
    body: CommandBody,
    reply: oneshot::Sender<Result<Reply>>,
    /// IDLE: told when the server idles, and when to end it.
    idle: Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>,
    /// Data handed out as it arrives instead of collected ([`Client::fetch_stream`]).
    stream: Option<mpsc::Sender<Data>>,
}

/// A FETCH whose responses are handed out one by one as they are read
/// ([`Client::fetch_stream`]): a mailbox of any size is fetched in bounded memory.
#[derive(Debug)]
pub struct FetchStream {
    data: mpsc::Receiver<Data>,
    done: oneshot::Receiver<Result<Reply>>,
}

impl FetchStream {
    /// The next FETCH response, `None` once the command completed.
    pub async fn next(&mut self) -> Option<Data> {
        self.data.recv().await
    }

    /// Waits for the completion (after [`next`](Self::next) returned `None`, or dropping the
    /// rest).
    pub async fn finish(mut self) -> Result<Tagged> {
        self.data.close();
        while self.data.recv().await.is_some() {}
        let r = self.done.await.map_err(|_| Error::Closed)??;
        Ok(r.done)
    }
}

/// The default [`ClientConfig::idle_reissue`].
/// [`ClientConfig::max_set_numbers`] by default.
pub const MAX_SET_NUMBERS: usize = 4 << 20;

const IDLE_REISSUE: Duration = Duration::from_secs(29 * 60);

/// A running IDLE ([`Client::idle`]): events arrive on [`Client::events`] meanwhile. Ended by
/// [`Idle::done`], or by dropping it (DONE is then sent all the same).
#[derive(Debug)]
pub struct Idle {
    stop: Option<oneshot::Sender<()>>,
    done: Option<oneshot::Receiver<Result<Reply>>>,
}

impl Idle {
    /// Sends DONE and waits for IDLE's completion.
    pub async fn done(mut self) -> Result<Reply> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.done.take() {
            Some(rx) => rx.await.map_err(|_| Error::Closed)?,
            None => Err(Error::Closed),
        }
    }
}

impl Drop for Idle {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// The connection task's IDLE in progress.
struct IdleCtl {
    handle: CommandHandle,
    started: Option<oneshot::Sender<()>>,
    stop: oneshot::Receiver<()>,
    stopping: bool,
    since: Option<tokio::time::Instant>,
    /// DONE was sent to re-issue IDLE, not because the caller asked.
    reissue: bool,
}

struct Shared {
    capabilities: Mutex<Vec<Capability>>,
    /// What ENABLE turned on.
    enabled: Mutex<Vec<Capability>>,
    view: Mutex<MailboxView>,
    /// The UID of each message by sequence number (index + 1), 0 where not learnt yet.
    uids: Mutex<Vec<u32>>,
    tls: bool,
    compressed: bool,
    max_set_numbers: usize,
}

/// A connected, logged-in IMAP client; clone it to use the connection from several tasks.
#[derive(Clone)]
pub struct Client {
    jobs: mpsc::Sender<Job>,
    events: broadcast::Sender<Unsolicited>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("tls", &self.shared.tls)
            .field("view", &self.view())
            .finish_non_exhaustive()
    }
}

/// The connection before it is handed to its task: used one command at a time for the
/// greeting, STARTTLS and the login.
struct Conn {
    io: Transport<TcpStream>,
    session: ClientSession,
    config: ClientConfig,
    read: Vec<u8>,
    out: Vec<u8>,
    events: VecDeque<Event>,
    /// COMPRESS=DEFLATE, once on (RFC 4978).
    z: Option<mailwire_net::Deflate>,
}

impl Conn {
    async fn connect(config: ClientConfig) -> Result<Self> {
        let io = config.endpoint.open().await?;
        Ok(Self {
            io,
            session: ClientSession::new(config.session.clone()),
            config,
            read: Vec::with_capacity(64 * 1024),
            out: Vec::new(),
            events: VecDeque::new(),
            z: None,
        })
    }

    async fn flush(&mut self) -> Result<()> {
        while self.session.poll_transmit(&mut self.out).is_some() {}
        if self.out.is_empty() {
            return Ok(());
        }
        let t = self.config.timeout;
        let wire = match self.z.as_mut() {
            Some(z) => {
                z.deflate(&self.out)?;
                self.out.clear();
                z.wire()
            }
            None => &mut self.out,
        };
        tokio::time::timeout(t, self.io.write_all(wire))
            .await
            .map_err(|_| Error::Timeout(t))??;
        wire.clear();
        Ok(())
    }

    /// Reads what the server sent into `read` (inflated under COMPRESS): the number of
    /// octets, 0 at the end of the stream. Cancel-safe: the only wait is the socket read.
    async fn read_some(&mut self) -> std::io::Result<usize> {
        self.read.clear();
        let Some(z) = self.z.as_mut() else {
            return self.io.read_buf(&mut self.read).await;
        };
        if !z.pending() {
            let raw = z.raw_in();
            raw.reserve(64 * 1024);
            if self.io.read_buf(raw).await? == 0 {
                return Ok(0);
            }
        }
        z.inflate(&mut self.read, 64 * 1024)?;
        // Inflating may give nothing yet (a partial block): not the end of the stream.
        Ok(self.read.len().max(1))
    }

    /// The next event, reading (within the timeout) when none is queued.
    async fn next(&mut self) -> Result<Event> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Ok(e);
            }
            if let Some(e) = self.session.poll_event() {
                return Ok(e);
            }
            self.flush().await?;
            let t = self.config.timeout;
            let n = tokio::time::timeout(t, self.read_some())
                .await
                .map_err(|_| Error::Timeout(t))??;
            if n == 0 {
                return Err(Error::Closed);
            }
            self.session.handle_input(&self.read);
        }
    }

    /// Runs one command to its completion, collecting its data.
    async fn run(&mut self, body: CommandBody) -> Result<Reply> {
        let h = self.session.enqueue(body);
        let mut reply = empty_reply();
        loop {
            match self.next().await? {
                Event::Completed { handle, status } if handle == h => {
                    return finish(reply, status);
                }
                Event::DataReceived(d) => reply.data.push(d),
                Event::StatusReceived(u) if u.kind == UntaggedKind::Bye => {
                    return Err(Error::Closed);
                }
                Event::StatusReceived(u) => reply.status.push(u),
                Event::ProtocolError(e) => return Err(Error::Protocol(e)),
                _ => {}
            }
        }
    }

    async fn greeting(&mut self) -> Result<GreetingKind> {
        loop {
            match self.next().await? {
                Event::GreetingReceived(g) => {
                    if g.kind == GreetingKind::Bye {
                        return Err(Error::Greeting(g.text.to_string()));
                    }
                    return Ok(g.kind);
                }
                Event::ProtocolError(e) => return Err(Error::Protocol(e)),
                _ => {}
            }
        }
    }

    fn has(&self, c: &Capability) -> bool {
        self.session.capabilities().contains(c)
    }

    async fn capabilities(&mut self) -> Result<()> {
        if self.session.capabilities().is_empty() {
            self.run(CommandBody::Capability).await?;
        }
        Ok(())
    }

    /// COMPRESS DEFLATE (RFC 4978): after the OK both directions are compressed.
    async fn compress(&mut self) -> Result<()> {
        let deflate = Atom::new("DEFLATE").map_err(invalid)?;
        self.run(CommandBody::Compress(deflate)).await?;
        let already = self.session.compression_established();
        self.z = Some(mailwire_net::Deflate::new(&already));
        // What the server sent compressed right behind the OK.
        if let Some(z) = self.z.as_mut()
            && z.pending()
        {
            self.read.clear();
            z.inflate(&mut self.read, 64 * 1024)?;
            self.session.handle_input(&self.read);
        }
        Ok(())
    }

    async fn starttls(&mut self) -> Result<()> {
        let h = self.session.enqueue(CommandBody::StartTls);
        loop {
            match self.next().await? {
                Event::Completed { handle, status } if handle == h => {
                    finish(empty_reply(), status)?;
                    break;
                }
                Event::ProtocolError(e) => return Err(Error::Protocol(e)),
                _ => {}
            }
        }
        // Octets after the go-ahead would be read as TLS: refused (response injection).
        while let Some(ev) = self.session.poll_event() {
            if let Event::ProtocolError(e) = ev {
                return Err(Error::Protocol(e));
            }
        }
        let name = mailwire_tls::server_name(&self.config.host)?;
        let connector = self.config.connector()?;
        let t = self.config.handshake_timeout;
        self.io.upgrade_client(&connector, name, &[], t).await?;
        self.session.tls_established();
        Ok(())
    }

    async fn login(&mut self, login: &Login) -> Result<()> {
        let tls = self.io.is_tls();
        let offered: Vec<Mechanism> = self
            .session
            .capabilities()
            .iter()
            .filter_map(|c| match c {
                Capability::Auth(a) => Mechanism::from_name(a.as_str()),
                _ => None,
            })
            .collect();
        let have = AvailableCredentials {
            password: login.password.is_some(),
            oauth_token: login.token.is_some(),
            external: false,
        };
        let chosen = match login.mechanism {
            // Named by the caller, and still never a replayable secret in cleartext unless
            // the caller said so too.
            Some(m) if m.needs_confidentiality() && !tls && !login.allow_plaintext => {
                return Err(Error::NoLoginMethod(format!(
                    "{} would send the credential in cleartext",
                    m.name()
                )));
            }
            Some(m) if offered.contains(&m) => Some(m),
            Some(m) => {
                return Err(Error::NoLoginMethod(format!("{} is not offered", m.name())));
            }
            None => mailwire_sasl::choose_mechanism(&offered, have, tls, login.allow_plaintext),
        };
        match chosen {
            Some(m) => self.authenticate(m, login).await?,
            None => {
                let Some(password) = &login.password else {
                    return Err(Error::NoLoginMethod("no mechanism for a token".into()));
                };
                if self.has(&Capability::LoginDisabled) {
                    return Err(Error::NoLoginMethod("LOGINDISABLED".into()));
                }
                if !tls && !login.allow_plaintext {
                    return Err(Error::NoLoginMethod(
                        "LOGIN would send the password in cleartext".into(),
                    ));
                }
                let user =
                    AString::new(login.user.clone()).map_err(|e| Error::Command(e.to_string()))?;
                let pass = AString::new(password.expose().clone())
                    .map_err(|e| Error::Command(e.to_string()))?;
                let r = self
                    .run(CommandBody::Login {
                        username: user,
                        password: Secret::new(pass),
                    })
                    .await?;
                drop(r);
            }
        }
        // Capabilities change at login (RFC 9051 §6.2.2): the OK's code, or ask again.
        self.capabilities().await
    }

    async fn authenticate(&mut self, m: Mechanism, login: &Login) -> Result<()> {
        let mut creds = ClientCredentials::password(
            login.user.clone(),
            login
                .password
                .as_ref()
                .map(|p| p.expose().clone())
                .unwrap_or_default(),
        )
        .with_host_port(self.config.host.clone(), self.config.port);
        if login.password.is_none() {
            creds.password = None;
        }
        if let Some(t) = &login.token {
            creds = creds.with_token(t.expose().clone());
        }
        let mut sasl = mailwire_sasl::ClientSession::new(m, creds)?;
        let initial = if self.has(&Capability::SaslIr) {
            sasl.initial_response()?.map(|ir| {
                if ir.is_empty() {
                    InitialResponse::Empty
                } else {
                    InitialResponse::Data(Secret::new(ir))
                }
            })
        } else {
            None
        };
        let mechanism = Atom::new(m.name()).map_err(|e| Error::Command(e.to_string()))?;
        let h = self
            .session
            .enqueue(CommandBody::Authenticate { mechanism, initial });
        loop {
            match self.next().await? {
                Event::ContinuationReceived { handle, request } if handle == h => {
                    let challenge = request.decode_base64().unwrap_or_default();
                    match sasl.step(&challenge) {
                        Ok(answer) => {
                            let _ = self.session.authenticate_continue(h, &answer);
                        }
                        Err(e) => {
                            let _ = self.session.authenticate_cancel(h);
                            return Err(Error::Sasl(e));
                        }
                    }
                }
                Event::Completed { handle, status } if handle == h => {
                    finish(empty_reply(), status)?;
                    return Ok(());
                }
                Event::ProtocolError(e) => return Err(Error::Protocol(e)),
                _ => {}
            }
        }
    }
}

fn finish(mut reply: Reply, status: Tagged) -> Result<Reply> {
    match status.kind {
        Completion::Ok => {
            reply.done = status;
            Ok(reply)
        }
        Completion::No => Err(Error::No(Box::new(status))),
        Completion::Bad => Err(Error::Bad(Box::new(status))),
    }
}

impl Client {
    /// Connects, reads the greeting, secures the connection as configured (implicit TLS, or
    /// STARTTLS under the policy, capabilities read again after it), logs in, and starts the
    /// connection task.
    pub async fn connect(config: ClientConfig, login: &Login) -> Result<Self> {
        Self::start(config, Some(login)).await
    }

    /// Like [`connect`](Self::connect) without logging in: the caller sends LOGIN (or the
    /// server greeted with PREAUTH). For consoles and tests of the not-authenticated state.
    pub async fn connect_without_login(config: ClientConfig) -> Result<Self> {
        Self::start(config, None).await
    }

    async fn start(config: ClientConfig, login: Option<&Login>) -> Result<Self> {
        let security = config.security;
        let mut c = Conn::connect(config).await?;
        let kind = c.greeting().await?;
        if let Security::StartTls(policy) = security {
            if kind == GreetingKind::PreAuth && !policy.allows_plaintext() {
                // A PREAUTH session cannot STARTTLS (RFC 9051 §6.2.1): refused, never a
                // silent downgrade.
                return Err(Error::Greeting(
                    "PREAUTH on cleartext while TLS is required".into(),
                ));
            }
            c.capabilities().await?;
            let offered = c.has(&Capability::StartTls);
            if policy.decide(offered)? == mailwire_tls::StartTlsDecision::Upgrade {
                c.starttls().await?;
                c.capabilities().await?;
            }
        } else {
            c.capabilities().await?;
        }
        if kind != GreetingKind::PreAuth
            && let Some(login) = login
        {
            c.login(login).await?;
        }
        let mut enabled = Vec::new();
        let wanted: Vec<Capability> = c
            .config
            .enable
            .iter()
            .filter(|cap| c.has(cap))
            .cloned()
            .collect();
        let authenticated = kind == GreetingKind::PreAuth || login.is_some();
        if let Ok(wanted) = Vec1::try_from(wanted)
            && authenticated
            && c.has(&Capability::Enable)
        {
            let r = c.run(CommandBody::Enable(wanted)).await?;
            for d in r.data {
                if let Data::Enabled(on) = d {
                    enabled.extend(on);
                }
            }
        }
        if c.config.compress
            && c.session
                .capabilities()
                .iter()
                .any(|cap| matches!(cap, Capability::Compress(a) if a.eq_ignore_case("DEFLATE")))
        {
            c.compress().await?;
        }
        Ok(Self::spawn(c, enabled))
    }

    fn spawn(c: Conn, enabled: Vec<Capability>) -> Self {
        let (jobs, rx) = mpsc::channel(256);
        let (events, _) = broadcast::channel(c.config.event_capacity.max(1));
        let shared = Arc::new(Shared {
            capabilities: Mutex::new(c.session.capabilities().to_vec()),
            enabled: Mutex::new(enabled),
            view: Mutex::new(MailboxView::default()),
            uids: Mutex::new(Vec::new()),
            tls: c.io.is_tls(),
            compressed: c.z.is_some(),
            max_set_numbers: c.config.max_set_numbers,
        });
        tokio::spawn(task(c, rx, events.clone(), Arc::clone(&shared)));
        Self {
            jobs,
            events,
            shared,
        }
    }

    /// Unsolicited responses from now on (EXISTS, EXPUNGE, VANISHED, FETCH FLAGS, alerts,
    /// BYE), then [`Unsolicited::Closed`].
    pub fn events(&self) -> broadcast::Receiver<Unsolicited> {
        self.events.subscribe()
    }

    /// The capabilities last announced.
    pub fn capabilities(&self) -> Vec<Capability> {
        lock(&self.shared.capabilities).clone()
    }

    /// A mailbox name as this session sends it: UTF-8 once `UTF8=ACCEPT` or `IMAP4rev2` is
    /// enabled (RFC 6855 §3, RFC 9051 §5.1), modified UTF-7 otherwise (RFC 3501 §5.1.3).
    fn mailbox(&self, name: &str) -> Result<Mailbox> {
        let utf8 = lock(&self.shared.enabled)
            .iter()
            .any(|c| matches!(c, Capability::Utf8Accept | Capability::Imap4Rev2));
        Mailbox::from_utf8(name, utf8).map_err(invalid)
    }

    /// What ENABLE turned on so far ([`ClientConfig::enable`], [`enable`](Self::enable)).
    pub fn enabled(&self) -> Vec<Capability> {
        lock(&self.shared.enabled).clone()
    }

    /// Whether the server announced `c`.
    pub fn has_capability(&self, c: &Capability) -> bool {
        lock(&self.shared.capabilities).contains(c)
    }

    /// Whether the connection runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.shared.tls
    }

    /// Whether COMPRESS=DEFLATE is on ([`ClientConfig::compress`]).
    pub fn is_compressed(&self) -> bool {
        self.shared.compressed
    }

    /// The numbers of a set without `*` (as servers send them in codes and ESEARCH),
    /// bounded by [`ClientConfig::max_set_numbers`].
    fn numbers(&self, set: &SequenceSet) -> Result<Vec<u32>> {
        let SequenceSet::Set(ranges) = set else {
            return Ok(Vec::new());
        };
        let v = |n: &SeqNum| match n {
            SeqNum::Value(v) => v.get(),
            SeqNum::Largest => 0,
        };
        let max = self.shared.max_set_numbers;
        let mut out = Vec::new();
        for r in ranges {
            let (a, b) = match r {
                SeqRange::Single(a) => (v(a), v(a)),
                SeqRange::Range(a, b) => (v(a).min(v(b)), v(a).max(v(b))),
            };
            let a = a.max(1);
            if b < a {
                continue;
            }
            if out.len() + (b - a) as usize + 1 > max {
                return Err(Error::Answer(format!(
                    "a set of more than {max} numbers (ClientConfig::max_set_numbers)"
                )));
            }
            out.extend(a..=b);
        }
        Ok(out)
    }

    /// The COPYUID pairs `(source, destination)` of a response code.
    fn copyuid(&self, code: Option<&Code>) -> Result<Vec<(u32, u32)>> {
        Ok(match code {
            Some(Code::CopyUid {
                source,
                destination,
                ..
            }) => self
                .numbers(source)?
                .into_iter()
                .zip(self.numbers(destination)?)
                .collect(),
            _ => Vec::new(),
        })
    }

    /// The selected mailbox as the client last saw it.
    pub fn view(&self) -> MailboxView {
        lock(&self.shared.view).clone()
    }

    /// The UID of message `seq` of the selected mailbox, if the server has said it (in a
    /// FETCH response's UID); kept current through EXISTS, EXPUNGE and VANISHED.
    pub fn uid_of(&self, seq: u32) -> Option<u32> {
        let i = usize::try_from(seq).ok()?.checked_sub(1)?;
        lock(&self.shared.uids).get(i).copied().filter(|&u| u != 0)
    }

    /// The sequence number of the message with `uid`, if its UID is known
    /// ([`uid_of`](Self::uid_of)).
    pub fn seq_of(&self, uid: u32) -> Option<u32> {
        if uid == 0 {
            return None;
        }
        let uids = lock(&self.shared.uids);
        let i = uids.iter().position(|&u| u == uid)?;
        u32::try_from(i + 1).ok()
    }

    /// Sends a command and waits for its completion. Commands from several tasks are
    /// pipelined.
    pub async fn run(&self, body: CommandBody) -> Result<Reply> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Job {
                body,
                reply: tx,
                idle: None,
                stream: None,
            })
            .await
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Starts IDLE (RFC 2177) and returns once the server idles; changes then arrive on
    /// [`events`](Self::events) at once. The client re-issues IDLE every 29 minutes by
    /// itself. Other commands wait until it ends.
    pub async fn idle(&self) -> Result<Idle> {
        let (tx, mut rx) = oneshot::channel();
        let (started_tx, started_rx) = oneshot::channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        self.jobs
            .send(Job {
                body: CommandBody::Idle,
                reply: tx,
                idle: Some((started_tx, stop_rx)),
                stream: None,
            })
            .await
            .map_err(|_| Error::Closed)?;
        tokio::select! {
            s = started_rx => match s {
                Ok(()) => Ok(Idle { stop: Some(stop_tx), done: Some(rx) }),
                Err(_) => Err(Error::Closed),
            },
            r = &mut rx => match r {
                // Completed without idling: refused.
                Ok(Ok(_)) => Err(Error::Closed),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(Error::Closed),
            },
        }
    }

    /// A command written as on the wire without its tag (`UID FETCH 1:* (FLAGS)`); literals
    /// are sent for you.
    pub async fn command(&self, text: &str) -> Result<Reply> {
        let line = format!("T {}\r\n", text.trim_end_matches(['\r', '\n']));
        let (cmd, _) = decode_command(line.as_bytes(), &DecodeOptions::default())
            .map_err(|e| Error::Command(e.to_string()))?;
        self.run(cmd.body).await
    }

    /// SELECT a mailbox.
    pub async fn select(&self, mailbox: &str) -> Result<Selected> {
        self.open(mailbox, false).await
    }

    /// EXAMINE a mailbox (read-only).
    pub async fn examine(&self, mailbox: &str) -> Result<Selected> {
        self.open(mailbox, true).await
    }

    async fn open(&self, name: &str, read_only: bool) -> Result<Selected> {
        self.open_with(name, read_only, Vec::new())
            .await
            .map(|(s, _)| s)
    }

    async fn open_with(
        &self,
        name: &str,
        read_only: bool,
        params: Vec<SelectParam>,
    ) -> Result<(Selected, Reply)> {
        let mailbox = self.mailbox(name)?;
        let body = if read_only {
            CommandBody::Examine { mailbox, params }
        } else {
            CommandBody::Select { mailbox, params }
        };
        let r = self.run(body).await?;
        let mut s = Selected {
            read_only,
            ..Selected::default()
        };
        for d in &r.data {
            if let Data::Exists(n) = d {
                s.exists = *n;
            }
        }
        for u in &r.status {
            match &u.code {
                Some(Code::UidValidity(v)) => s.uidvalidity = Some(v.get()),
                Some(Code::UidNext(v)) => s.uidnext = Some(v.get()),
                Some(Code::HighestModSeq(m)) => s.highest_modseq = Some(*m),
                _ => {}
            }
        }
        if matches!(r.done.code, Some(Code::ReadOnly)) {
            s.read_only = true;
        }
        let mut v = lock(&self.shared.view);
        *v = MailboxView {
            selected: Some(name.to_owned()),
            exists: s.exists,
            uidvalidity: s.uidvalidity,
            highest_modseq: s.highest_modseq,
        };
        drop(v);
        // A new mailbox: no UID known until FETCH says them (QRESYNC's changes included).
        let mut uids = lock(&self.shared.uids);
        uids.clear();
        uids.resize(s.exists as usize, 0);
        for d in &r.data {
            if let Data::Fetch { seq, items } = d {
                for i in items.iter() {
                    if let MessageData::Uid(u) = i
                        && let Some(slot) = uids.get_mut(seq.get() as usize - 1)
                    {
                        *slot = u.get();
                    }
                }
            }
        }
        drop(uids);
        Ok((s, r))
    }

    /// SELECT (or EXAMINE) with the CONDSTORE parameter (RFC 7162 §3.1.8): the server
    /// turns CONDSTORE on and reports HIGHESTMODSEQ (in [`Selected::highest_modseq`]).
    pub async fn select_condstore(&self, name: &str, read_only: bool) -> Result<Selected> {
        if !self.has_capability(&Capability::CondStore) {
            return Err(Error::Command("the server does not offer CONDSTORE".into()));
        }
        self.open_with(name, read_only, vec![SelectParam::CondStore])
            .await
            .map(|(s, _)| s)
    }

    /// SELECT (or EXAMINE) with QRESYNC (RFC 7162 §3.2.5): `ENABLE QRESYNC` first (once), then
    /// what changed since `modseq` comes back with the mailbox: the UIDs expunged meanwhile
    /// (`VANISHED (EARLIER)`, as sets) and the messages whose flags changed. A different
    /// UIDVALIDITY reports nothing: the client must then forget what it knew.
    pub async fn select_qresync(
        &self,
        name: &str,
        read_only: bool,
        uidvalidity: u32,
        modseq: u64,
        known_uids: Option<SequenceSet>,
    ) -> Result<Resync> {
        if !lock(&self.shared.enabled).contains(&Capability::QResync) {
            // ENABLE is only valid with nothing selected (RFC 5161 §3.1): leave the mailbox
            // without expunging it.
            if lock(&self.shared.view).selected.is_some() {
                if !self.has_capability(&Capability::Unselect) {
                    return Err(Error::Command(
                        "ENABLE QRESYNC needs nothing selected, and UNSELECT is not offered: \
                         call enable() before selecting"
                            .into(),
                    ));
                }
                self.run(CommandBody::Unselect).await?;
                lock(&self.shared.view).selected = None;
            }
            let on = self.enable(&[Capability::QResync]).await?;
            if !on.contains(&Capability::QResync) {
                return Err(Error::NoLoginMethod(
                    "the server did not enable QRESYNC".into(),
                ));
            }
            lock(&self.shared.enabled).push(Capability::QResync);
        }
        let uid_validity =
            std::num::NonZeroU32::new(uidvalidity).ok_or_else(|| invalid("UIDVALIDITY 0"))?;
        let params = vec![SelectParam::QResync {
            uid_validity,
            mod_seq: modseq,
            known_uids,
            seq_match: None,
        }];
        let (selected, reply) = self.open_with(name, read_only, params).await?;
        let mut out = Resync {
            selected,
            vanished: Vec::new(),
            changed: Vec::new(),
        };
        for d in reply.data {
            match d {
                Data::Vanished { uids, .. } => out.vanished.push(uids),
                Data::Fetch { seq, items } => out.changed.push((seq.get(), items)),
                _ => {}
            }
        }
        Ok(out)
    }

    /// SORT or UID SORT (RFC 5256), UTF-8: the numbers in order.
    pub async fn sort(
        &self,
        criteria: &[SortCriterion],
        search: SearchKey,
        uid: bool,
    ) -> Result<Vec<u32>> {
        let r = self
            .run(CommandBody::Sort {
                criteria: Vec1::try_from(criteria.to_vec()).map_err(invalid)?,
                charset: AString::new("UTF-8").map_err(invalid)?,
                search: Vec1::one(search),
                uid,
            })
            .await?;
        Ok(r.data
            .into_iter()
            .flat_map(|d| match d {
                Data::Sort { nums, .. } => nums.into_iter().map(|n| n.get()).collect(),
                _ => Vec::new(),
            })
            .collect())
    }

    /// THREAD or UID THREAD (RFC 5256), UTF-8.
    pub async fn thread(
        &self,
        algorithm: ThreadAlgorithm,
        search: SearchKey,
        uid: bool,
    ) -> Result<Vec<Thread>> {
        let r = self
            .run(CommandBody::Thread {
                algorithm,
                charset: AString::new("UTF-8").map_err(invalid)?,
                search: Vec1::one(search),
                uid,
            })
            .await?;
        Ok(r.data
            .into_iter()
            .flat_map(|d| match d {
                Data::Thread(t) => t,
                _ => Vec::new(),
            })
            .collect())
    }

    /// ID (RFC 2971): sends `fields` and returns the server's.
    pub async fn id(&self, fields: &[(&str, &str)]) -> Result<Vec<(String, Option<String>)>> {
        let params = if fields.is_empty() {
            None
        } else {
            Some(
                fields
                    .iter()
                    .map(|(k, v)| {
                        Ok((
                            IString::new(k.as_bytes().to_vec()).map_err(invalid)?,
                            Some(IString::new(v.as_bytes().to_vec()).map_err(invalid)?),
                        ))
                    })
                    .collect::<Result<Vec<_>>>()?,
            )
        };
        let r = self.run(CommandBody::Id(params)).await?;
        Ok(r.data
            .into_iter()
            .flat_map(|d| match d {
                Data::Id(Some(p)) => p
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            k.to_str_lossy().into_owned(),
                            v.map(|v| v.to_str_lossy().into_owned()),
                        )
                    })
                    .collect(),
                _ => Vec::new(),
            })
            .collect())
    }

    /// LIST `reference` `pattern`: the mailboxes, as the server described them.
    pub async fn list(&self, reference: &str, pattern: &str) -> Result<Vec<ListData>> {
        let r = self
            .run(CommandBody::List {
                select: Vec::new(),
                reference: self.mailbox(reference)?,
                patterns: Vec1::one(ListMailbox::new(pattern).map_err(invalid)?),
                returns: Vec::new(),
            })
            .await?;
        Ok(r.data
            .into_iter()
            .filter_map(|d| match d {
                Data::List(l) => Some(l),
                _ => None,
            })
            .collect())
    }

    /// LIST with LIST-EXTENDED selection and return options (RFC 5258, RFC 6154) and several
    /// patterns. `STATUS` return options (LIST-STATUS, RFC 5819) come back in
    /// [`Listing::status`]. Options the server does not offer are refused here rather than
    /// sent (`Error::Command`); [`list_status`](Self::list_status) falls back by itself.
    pub async fn list_extended(
        &self,
        reference: &str,
        patterns: &[&str],
        select: Vec<ListSelectOption>,
        returns: Vec<ListReturnOption>,
    ) -> Result<Listing> {
        let extended = !select.is_empty()
            || patterns.len() > 1
            || returns
                .iter()
                .any(|r| !matches!(r, ListReturnOption::Status(_)));
        if extended && !self.has_capability(&Capability::ListExtended) {
            return Err(Error::Command(
                "LIST selection or return options need LIST-EXTENDED, which the server does not offer"
                    .into(),
            ));
        }
        if returns
            .iter()
            .any(|r| matches!(r, ListReturnOption::Status(_)))
            && !self.has_capability(&Capability::ListStatus)
        {
            return Err(Error::Command(
                "LIST RETURN (STATUS) needs LIST-STATUS, which the server does not offer".into(),
            ));
        }
        let patterns = patterns
            .iter()
            .map(|p| ListMailbox::new(*p).map_err(invalid))
            .collect::<Result<Vec<_>>>()?;
        let r = self
            .run(CommandBody::List {
                select,
                reference: self.mailbox(reference)?,
                patterns: Vec1::try_from(patterns).map_err(invalid)?,
                returns,
            })
            .await?;
        Ok(Listing::from_data(r.data))
    }

    /// Every mailbox matching `pattern` with the STATUS values asked for: one LIST-STATUS
    /// command when the server offers it, otherwise LIST and then one pipelined STATUS per
    /// selectable mailbox.
    pub async fn list_status(
        &self,
        reference: &str,
        pattern: &str,
        items: &[StatusItem],
    ) -> Result<Listing> {
        let items_v = Vec1::try_from(items.to_vec()).map_err(invalid)?;
        if self.has_capability(&Capability::ListStatus) {
            return self
                .list_extended(
                    reference,
                    &[pattern],
                    Vec::new(),
                    vec![ListReturnOption::Status(items_v)],
                )
                .await;
        }
        let mailboxes = self.list(reference, pattern).await?;
        let mut pending = Vec::new();
        for l in &mailboxes {
            if l.attributes
                .iter()
                .any(|a| matches!(a, MailboxAttr::NoSelect | MailboxAttr::NonExistent))
            {
                continue;
            }
            let c = self.clone();
            let body = CommandBody::Status {
                mailbox: l.mailbox.clone(),
                items: items_v.clone(),
            };
            // Queued at once, so the STATUS commands go out pipelined.
            pending.push(tokio::spawn(async move { c.run(body).await }));
        }
        let mut listing = Listing {
            mailboxes,
            status: Vec::new(),
        };
        for p in pending {
            let r = p.await.map_err(|_| Error::Closed)?;
            match r {
                Ok(r) => listing.status.extend(Listing::from_data(r.data).status),
                // A mailbox deleted between LIST and STATUS is left out, as the server
                // would leave it out of a LIST-STATUS answer.
                Err(Error::No(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(listing)
    }

    /// NAMESPACE (RFC 2342): the personal, other users' and shared namespaces.
    pub async fn namespace(&self) -> Result<Namespaces> {
        let r = self.run(CommandBody::Namespace).await?;
        r.data
            .into_iter()
            .find_map(|d| match d {
                Data::Namespace {
                    personal,
                    other,
                    shared,
                } => Some(Namespaces {
                    personal,
                    other,
                    shared,
                }),
                _ => None,
            })
            .ok_or_else(|| Error::Answer("NAMESPACE completed without a NAMESPACE response".into()))
    }

    /// STATUS of a mailbox: the values asked for.
    pub async fn status(&self, name: &str, items: &[StatusItem]) -> Result<Vec<StatusValue>> {
        let items = Vec1::try_from(items.to_vec()).map_err(invalid)?;
        let r = self
            .run(CommandBody::Status {
                mailbox: self.mailbox(name)?,
                items,
            })
            .await?;
        Ok(r.data
            .into_iter()
            .find_map(|d| match d {
                Data::Status { items, .. } => Some(items),
                _ => None,
            })
            .unwrap_or_default())
    }

    /// CREATE.
    pub async fn create(&self, name: &str) -> Result<()> {
        self.run(CommandBody::Create {
            mailbox: self.mailbox(name)?,
            special_use: Vec::new(),
        })
        .await
        .map(drop)
    }

    /// DELETE.
    pub async fn delete(&self, name: &str) -> Result<()> {
        self.run(CommandBody::Delete(self.mailbox(name)?))
            .await
            .map(drop)
    }

    /// RENAME.
    pub async fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.run(CommandBody::Rename {
            from: self.mailbox(from)?,
            to: self.mailbox(to)?,
        })
        .await
        .map(drop)
    }

    /// SUBSCRIBE (`true`) or UNSUBSCRIBE.
    pub async fn subscribe(&self, name: &str, on: bool) -> Result<()> {
        let m = self.mailbox(name)?;
        let body = if on {
            CommandBody::Subscribe(m)
        } else {
            CommandBody::Unsubscribe(m)
        };
        self.run(body).await.map(drop)
    }

    /// ENABLE (RFC 5161): the capabilities the server enabled.
    pub async fn enable(&self, caps: &[Capability]) -> Result<Vec<Capability>> {
        let caps = Vec1::try_from(caps.to_vec()).map_err(invalid)?;
        let r = self.run(CommandBody::Enable(caps)).await?;
        let on: Vec<Capability> = r
            .data
            .into_iter()
            .flat_map(|d| match d {
                Data::Enabled(c) => c,
                _ => Vec::new(),
            })
            .collect();
        lock(&self.shared.enabled).extend(on.iter().cloned());
        Ok(on)
    }

    /// APPEND one message (LITERAL+ when the server offers it, otherwise after its `+`).
    /// Returns `(UIDVALIDITY, UID)` when the server says APPENDUID (RFC 4315).
    pub async fn append(
        &self,
        name: &str,
        flags: &[Flag],
        message: Vec<u8>,
    ) -> Result<Option<(u32, u32)>> {
        let r = self
            .run(CommandBody::Append {
                mailbox: self.mailbox(name)?,
                messages: Vec1::one(AppendMessage {
                    // Always a flag list, `()` when empty: Twisted's IMAP4Server answers
                    // an APPEND without one with `BAD Server error` (rfc-notes/imap-client.md).
                    flags: Some(flags.to_vec()),
                    date: None,
                    data: AppendData::Literal(message),
                }),
            })
            .await?;
        Ok(match r.done.code {
            Some(Code::AppendUid { uid_validity, uids }) => self
                .numbers(&uids)?
                .first()
                .map(|&u| (uid_validity.get(), u)),
            _ => None,
        })
    }

    /// APPEND several messages in one command (MULTIAPPEND, RFC 3502): the server stores all
    /// of them or none. Returns `(UIDVALIDITY, UIDs)` when the server says APPENDUID. A server
    /// without MULTIAPPEND is refused here (`Error::Command`), since one APPEND each would not
    /// be all or nothing; send them with [`append`](Self::append) if that is acceptable.
    pub async fn append_many(
        &self,
        name: &str,
        messages: Vec<Appendable>,
    ) -> Result<Option<(u32, Vec<u32>)>> {
        if messages.len() > 1 && !self.has_capability(&Capability::MultiAppend) {
            return Err(Error::Command(
                "several messages in one APPEND need MULTIAPPEND, which the server does not offer"
                    .into(),
            ));
        }
        let messages = messages
            .into_iter()
            .map(|m| AppendMessage {
                flags: Some(m.flags),
                date: m.date,
                data: AppendData::Literal(m.message),
            })
            .collect::<Vec<_>>();
        let r = self
            .run(CommandBody::Append {
                mailbox: self.mailbox(name)?,
                messages: Vec1::try_from(messages).map_err(invalid)?,
            })
            .await?;
        Ok(match r.done.code {
            Some(Code::AppendUid { uid_validity, uids }) => {
                Some((uid_validity.get(), self.numbers(&uids)?))
            }
            _ => None,
        })
    }

    /// FETCH or UID FETCH: `(sequence number, items)` of each message, in the order sent.
    pub async fn fetch(
        &self,
        set: &SequenceSet,
        items: FetchItems,
        uid: bool,
    ) -> Result<Vec<(u32, Vec1<MessageData>)>> {
        let r = self
            .run(CommandBody::Fetch {
                set: set.clone(),
                items,
                modifiers: Vec::new(),
                uid,
            })
            .await?;
        Ok(r.data
            .into_iter()
            .filter_map(|d| match d {
                Data::Fetch { seq, items } => Some((seq.get(), items)),
                _ => None,
            })
            .collect())
    }

    /// FETCH or UID FETCH with modifiers (RFC 7162): `CHANGEDSINCE n` returns only the
    /// messages whose MODSEQ is above `n`; `VANISHED` (UID FETCH after `ENABLE QRESYNC`) also
    /// reports the UIDs of the set expunged since then.
    pub async fn fetch_with(
        &self,
        set: &SequenceSet,
        items: FetchItems,
        uid: bool,
        modifiers: &[FetchModifier],
    ) -> Result<Fetched> {
        if modifiers.contains(&FetchModifier::Vanished) && !uid {
            return Err(Error::Command("VANISHED needs UID FETCH".into()));
        }
        let r = self
            .run(CommandBody::Fetch {
                set: set.clone(),
                items,
                modifiers: modifiers.to_vec(),
                uid,
            })
            .await?;
        let mut out = Fetched::default();
        for d in r.data {
            match d {
                Data::Fetch { seq, items } => out.messages.push((seq.get(), items)),
                Data::Vanished { uids, .. } => out.vanished.push(uids),
                _ => {}
            }
        }
        Ok(out)
    }

    /// FETCH or UID FETCH with every response handed out as it is read, through a bounded
    /// channel of `window` responses: nothing of the mailbox is held beyond that. A reader
    /// that stops reading for [`ClientConfig::timeout`] fails this FETCH with
    /// [`Error::Timeout`] (the rest of its responses are dropped) and the connection's other
    /// commands go on.
    pub async fn fetch_stream(
        &self,
        set: &SequenceSet,
        items: FetchItems,
        uid: bool,
        window: usize,
    ) -> Result<FetchStream> {
        let (tx, rx) = oneshot::channel();
        let (dtx, drx) = mpsc::channel(window.max(1));
        self.jobs
            .send(Job {
                body: CommandBody::Fetch {
                    set: set.clone(),
                    items,
                    modifiers: Vec::new(),
                    uid,
                },
                reply: tx,
                idle: None,
                stream: Some(dtx),
            })
            .await
            .map_err(|_| Error::Closed)?;
        Ok(FetchStream {
            data: drx,
            done: rx,
        })
    }

    /// SEARCH or UID SEARCH: the matching numbers (from SEARCH or ESEARCH).
    pub async fn search(&self, criteria: SearchKey, uid: bool) -> Result<Vec<u32>> {
        let r = self
            .run(CommandBody::Search {
                returns: None,
                charset: None,
                criteria: Vec1::one(criteria),
                uid,
            })
            .await?;
        let mut out = Vec::new();
        for d in r.data {
            match d {
                Data::Search { nums, .. } => out.extend(nums.iter().map(|n| n.get())),
                Data::ESearch(e) => {
                    for item in e.data {
                        if let ESearchData::All(set) = item {
                            out.extend(self.numbers(&set)?);
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// SEARCH or UID SEARCH with `RETURN (…)` (RFC 4731) and a charset (`UTF-8` for
    /// non-ASCII strings under IMAP4rev1). Without ESEARCH the plain SEARCH answer is
    /// summarised the same way; `SAVE` then needs SEARCHRES and is refused without it.
    pub async fn search_return(
        &self,
        criteria: SearchKey,
        uid: bool,
        returns: &[SearchReturnOption],
        charset: Option<&str>,
    ) -> Result<SearchResult> {
        let esearch = self.has_capability(&Capability::ESearch);
        if returns.contains(&SearchReturnOption::Save)
            && !self.has_capability(&Capability::SearchRes)
        {
            return Err(Error::Command("SAVE needs SEARCHRES".into()));
        }
        let charset = charset
            .map(|c| AString::new(c.to_owned()).map_err(invalid))
            .transpose()?;
        let r = self
            .run(CommandBody::Search {
                returns: esearch.then(|| returns.to_vec()),
                charset,
                criteria: Vec1::one(criteria),
                uid,
            })
            .await?;
        let mut out = SearchResult::default();
        let mut plain: Option<Vec<u32>> = None;
        for d in r.data {
            match d {
                Data::Search { nums, modseq } => {
                    plain
                        .get_or_insert_with(Vec::new)
                        .extend(nums.iter().map(|n| n.get()));
                    out.modseq = modseq.or(out.modseq);
                }
                Data::ESearch(e) => {
                    for item in e.data {
                        match item {
                            ESearchData::Min(n) => out.min = Some(n.get()),
                            ESearchData::Max(n) => out.max = Some(n.get()),
                            ESearchData::Count(n) => out.count = Some(n),
                            ESearchData::All(set) => out.all = self.numbers(&set)?,
                            ESearchData::ModSeq(m) => out.modseq = Some(m),
                            ESearchData::Other(..) => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(mut nums) = plain {
            nums.sort_unstable();
            // RETURN () means ALL (RFC 4731 §3.1).
            let wants = |o| returns.is_empty() || returns.contains(&o);
            if wants(SearchReturnOption::Min) {
                out.min = nums.first().copied();
            }
            if wants(SearchReturnOption::Max) {
                out.max = nums.last().copied();
            }
            if wants(SearchReturnOption::Count) {
                out.count = Some(nums.len() as u32);
            }
            if wants(SearchReturnOption::All) {
                out.all = nums;
            }
        }
        Ok(out)
    }

    /// STORE or UID STORE (`.SILENT`): the UIDs or numbers UNCHANGEDSINCE left alone
    /// (RFC 7162 `MODIFIED`), empty when all were changed.
    pub async fn store(
        &self,
        set: &SequenceSet,
        kind: StoreKind,
        flags: &[Flag],
        uid: bool,
        unchanged_since: Option<u64>,
    ) -> Result<Vec<u32>> {
        let r = self
            .run(CommandBody::Store {
                set: set.clone(),
                kind,
                silent: true,
                flags: flags.to_vec(),
                unchanged_since,
                uid,
            })
            .await?;
        Ok(match &r.done.code {
            Some(Code::Modified(set)) => self.numbers(set)?,
            _ => Vec::new(),
        })
    }

    /// COPY or UID COPY; the COPYUID pairs `(source, destination)` when the server says them.
    pub async fn copy(&self, set: &SequenceSet, to: &str, uid: bool) -> Result<Vec<(u32, u32)>> {
        let r = self
            .run(CommandBody::Copy {
                set: set.clone(),
                mailbox: self.mailbox(to)?,
                uid,
            })
            .await?;
        self.copyuid(r.done.code.as_ref())
    }

    /// MOVE or UID MOVE (RFC 6851); without MOVE, COPY, STORE `\Deleted` and UID EXPUNGE
    /// (or EXPUNGE without UIDPLUS). Returns the COPYUID pairs when known.
    pub async fn r#move(&self, set: &SequenceSet, to: &str, uid: bool) -> Result<Vec<(u32, u32)>> {
        if self.has_capability(&Capability::Move) {
            let r = self
                .run(CommandBody::Move {
                    set: set.clone(),
                    mailbox: self.mailbox(to)?,
                    uid,
                })
                .await?;
            let pairs = self.copyuid(r.done.code.as_ref())?;
            if !pairs.is_empty() {
                return Ok(pairs);
            }
            for u in &r.status {
                let pairs = self.copyuid(u.code.as_ref())?;
                if !pairs.is_empty() {
                    return Ok(pairs);
                }
            }
            return Ok(Vec::new());
        }
        let pairs = self.copy(set, to, uid).await?;
        self.store(set, StoreKind::Add, &[Flag::Deleted], uid, None)
            .await?;
        if uid && self.has_capability(&Capability::UidPlus) {
            self.run(CommandBody::Expunge {
                uids: Some(set.clone()),
            })
            .await?;
        } else {
            self.run(CommandBody::Expunge { uids: None }).await?;
        }
        Ok(pairs)
    }

    /// EXPUNGE (or UID EXPUNGE of `uids`).
    pub async fn expunge(&self, uids: Option<&SequenceSet>) -> Result<()> {
        self.run(CommandBody::Expunge {
            uids: uids.cloned(),
        })
        .await
        .map(drop)
    }

    /// NOOP: lets the server report changes (as [`Unsolicited`] events).
    pub async fn noop(&self) -> Result<()> {
        self.run(CommandBody::Noop).await.map(drop)
    }

    /// LOGOUT; the connection task ends after it.
    pub async fn logout(&self) -> Result<()> {
        match self.run(CommandBody::Logout).await {
            Ok(_) | Err(Error::Closed) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Which untagged data a command asks for: the rest is unsolicited.
fn asks_for(body_name: &str, d: &Data) -> bool {
    match d {
        // A SELECT's FETCH responses are QRESYNC's changes.
        Data::Fetch { .. } => {
            body_name.ends_with("FETCH")
                || body_name.ends_with("STORE")
                || body_name == "SELECT"
                || body_name == "EXAMINE"
        }
        Data::Search { .. } | Data::ESearch(_) => body_name.ends_with("SEARCH"),
        Data::Sort { .. } => body_name.ends_with("SORT"),
        Data::Thread(_) => body_name.ends_with("THREAD"),
        Data::List(_) => body_name == "LIST" || body_name == "SELECT" || body_name == "EXAMINE",
        Data::Lsub(_) => body_name == "LSUB",
        Data::Status { .. } => body_name == "STATUS" || body_name == "LIST",
        Data::Capability(_) => body_name == "CAPABILITY",
        Data::Enabled(_) => body_name == "ENABLE",
        Data::Id(_) => body_name == "ID",
        Data::Namespace { .. } => body_name == "NAMESPACE",
        Data::Quota { .. } | Data::QuotaRoot { .. } => body_name.starts_with("GETQUOTA"),
        Data::Flags(_)
        | Data::Exists(_)
        | Data::Recent(_)
        | Data::Vanished { earlier: true, .. } => {
            body_name == "SELECT" || body_name == "EXAMINE" || body_name.ends_with("FETCH")
        }
        _ => false,
    }
}

/// How long the connection task waits for the server when no command is in flight (the
/// server may still send: EXISTS, BYE).
const IDLE_WAIT: Duration = Duration::from_secs(365 * 24 * 3600);

struct InFlight {
    handle: CommandHandle,
    name: &'static str,
    reply: Reply,
    tx: oneshot::Sender<Result<Reply>>,
    stream: Option<mpsc::Sender<Data>>,
    /// The stream's reader stopped reading for a whole timeout: the rest of this command's
    /// data is dropped and it fails with [`Error::Timeout`]; the connection goes on.
    stalled: Option<Duration>,
}

/// The connection task: takes commands from every handle, pipelines them, routes the answers.
async fn task(
    mut c: Conn,
    mut jobs: mpsc::Receiver<Job>,
    events: broadcast::Sender<Unsolicited>,
    shared: Arc<Shared>,
) {
    let mut flight: Vec<InFlight> = Vec::new();
    let mut idle: Option<IdleCtl> = None;
    let mut open = true;
    let end = loop {
        // Everything the session has to say, first.
        while let Some(ev) = c.session.poll_event() {
            c.events.push_back(ev);
        }
        while let Some(ev) = c.events.pop_front() {
            match ev {
                Event::Completed { handle, status } => {
                    if let Some(ctl) = idle.as_mut().filter(|i| i.handle == handle)
                        && ctl.reissue
                        && status.kind == Completion::Ok
                    {
                        // IDLE again, for the same caller.
                        let h = c.session.enqueue(CommandBody::Idle);
                        ctl.handle = h;
                        ctl.reissue = false;
                        ctl.since = None;
                        if let Some(f) = flight.iter_mut().find(|f| f.handle == handle) {
                            f.handle = h;
                        }
                        continue;
                    }
                    if idle.as_ref().is_some_and(|i| i.handle == handle) {
                        idle = None;
                    }
                    if let Some(i) = flight.iter().position(|f| f.handle == handle) {
                        // Capabilities a completion's code carried are in place before its
                        // caller is told (a raw LOGIN, then has_capability).
                        sync_capabilities(&c, &shared);
                        let f = flight.remove(i);
                        let _ = f.tx.send(match f.stalled {
                            Some(t) => Err(Error::Timeout(t)),
                            None => finish(f.reply, status),
                        });
                    }
                }
                Event::ContinuationReceived { handle, .. }
                    if idle.as_ref().is_none_or(|i| i.handle != handle) =>
                {
                    // An AUTHENTICATE sent as a raw command: this task holds no SASL
                    // exchange, so it is cancelled (`*`, RFC 9051 §6.2.2) and its BAD comes
                    // back to the caller instead of a wait until the timeout. An IDLE sent
                    // raw ends at once (use Client::idle).
                    let _ = c
                        .session
                        .authenticate_cancel(handle)
                        .or_else(|_| c.session.idle_done(handle));
                }
                Event::ContinuationReceived { handle, .. } => {
                    if let Some(ctl) = idle.as_mut().filter(|i| i.handle == handle) {
                        ctl.since = Some(tokio::time::Instant::now());
                        if let Some(s) = ctl.started.take() {
                            let _ = s.send(());
                        }
                        if ctl.stopping {
                            let _ = c.session.idle_done(handle);
                        }
                    }
                }
                Event::DataReceived(d) => {
                    update_view(&shared, &d);
                    match flight.iter_mut().find(|f| asks_for(f.name, &d)) {
                        Some(f) => match &f.stream {
                            // The reader's pace is the connection's (TCP flow control), for
                            // one timeout at most.
                            Some(tx) => {
                                let t = c.config.timeout;
                                if tokio::time::timeout(t, tx.send(d)).await.is_err() {
                                    f.stream = None;
                                    f.stalled = Some(t);
                                }
                            }
                            None if f.stalled.is_some() => {}
                            None => f.reply.data.push(d),
                        },
                        None => {
                            let _ = events.send(Unsolicited::Data(d));
                        }
                    }
                }
                Event::StatusReceived(u) => {
                    if let Some(Code::HighestModSeq(m)) = &u.code {
                        let mut v = lock(&shared.view);
                        v.highest_modseq = Some(v.highest_modseq.unwrap_or(0).max(*m));
                    }
                    let bye = u.kind == UntaggedKind::Bye;
                    // An alert is for the person using the program (RFC 9051 §7.1): always
                    // an event, and part of the reply of the command it came with too.
                    let alert = matches!(u.code, Some(Code::Alert));
                    match flight.first_mut() {
                        Some(f) if !bye && u.code.is_some() => {
                            if alert {
                                let _ = events.send(Unsolicited::Status(u.clone()));
                            }
                            f.reply.status.push(u);
                        }
                        _ => {
                            let _ = events.send(Unsolicited::Status(u));
                        }
                    }
                }
                // The oldest command in flight is the one the garbled answer was for.
                Event::ProtocolError(e) if !flight.is_empty() => {
                    let f = flight.remove(0);
                    let _ = f.tx.send(Err(Error::Protocol(e)));
                }
                _ => {}
            }
        }
        // Capabilities as the session last learnt them: untagged CAPABILITY, or the
        // CAPABILITY code of a greeting, a tagged OK (LOGIN sent as a raw command) or an
        // untagged OK.
        sync_capabilities(&c, &shared);
        if let Err(e) = c.flush().await {
            break Some(e);
        }
        if !open && flight.is_empty() {
            break None;
        }
        let timeout = c.config.timeout;
        // While the server idles, only its news is awaited (until the re-issue time).
        let idling = idle
            .as_ref()
            .and_then(|i| i.since.filter(|_| !i.stopping && !i.reissue))
            .filter(|_| flight.len() == 1);
        let wait = match idling {
            Some(since) => c.config.idle_reissue.saturating_sub(since.elapsed()),
            None if flight.is_empty() => IDLE_WAIT,
            None => timeout,
        };
        let stop = async {
            match idle.as_mut() {
                Some(i) if !i.stopping => {
                    let _ = (&mut i.stop).await;
                }
                _ => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            job = jobs.recv(), if open => match job {
                Some(job) => {
                    accept(&mut c, &mut flight, &mut idle, job);
                    // Everything else already queued goes out in the same write.
                    while let Ok(job) = jobs.try_recv() {
                        accept(&mut c, &mut flight, &mut idle, job);
                    }
                }
                None => open = false,
            },
            () = stop => {
                if let Some(i) = idle.as_mut() {
                    i.stopping = true;
                    if i.since.is_some() {
                        let _ = c.session.idle_done(i.handle);
                    }
                }
            }
            r = tokio::time::timeout(wait, c.read_some()) => match r {
                Err(_) if idling.is_some() => {
                    if let Some(i) = idle.as_mut() {
                        i.reissue = true;
                        let _ = c.session.idle_done(i.handle);
                    }
                }
                Err(_) => break Some(Error::Timeout(timeout)),
                Ok(Ok(0)) => break None,
                Ok(Ok(_)) => c.session.handle_input(&c.read),
                Ok(Err(e)) => break Some(Error::Io(e)),
            },
        }
    };
    // Every command in flight fails with the reason; later ones find the channel closed.
    for f in flight {
        let _ = f.tx.send(Err(end.as_ref().map_or(Error::Closed, lost)));
    }
    let _ = events.send(Unsolicited::Closed);
}

/// The shared capabilities as the session last learnt them.
fn sync_capabilities(c: &Conn, shared: &Shared) {
    let now = c.session.capabilities();
    let mut caps = lock(&shared.capabilities);
    if caps.as_slice() != now {
        *caps = now.to_vec();
    }
}

/// Queues a job's command in the session.
fn accept(c: &mut Conn, flight: &mut Vec<InFlight>, idle: &mut Option<IdleCtl>, job: Job) {
    let Job {
        body,
        reply,
        idle: ctl,
        stream,
    } = job;
    let name = body.name();
    let handle = c.session.enqueue(body);
    if let Some((started, stop)) = ctl {
        *idle = Some(IdleCtl {
            handle,
            started: Some(started),
            stop,
            stopping: false,
            since: None,
            reissue: false,
        });
    }
    flight.push(InFlight {
        handle,
        name,
        reply: empty_reply(),
        tx: reply,
        stream,
        stalled: None,
    });
}

fn update_view(shared: &Shared, d: &Data) {
    let mut v = lock(&shared.view);
    let mut uids = lock(&shared.uids);
    match d {
        Data::Exists(n) => {
            v.exists = *n;
            // New messages: UIDs not known yet.
            uids.resize(*n as usize, 0);
        }
        Data::Expunge(seq) => {
            v.exists = v.exists.saturating_sub(1);
            let i = seq.get() as usize - 1;
            if i < uids.len() {
                uids.remove(i);
            }
        }
        // Each UID of a VANISHED without EARLIER is one message fewer (RFC 7162 §3.2.10.2).
        Data::Vanished {
            earlier: false,
            uids: set,
        } => {
            let gone = set_len(set);
            v.exists = v
                .exists
                .saturating_sub(gone.min(u64::from(u32::MAX)) as u32);
            let before = uids.len();
            uids.retain(|&u| u == 0 || !set_contains(set, u));
            let found = (before - uids.len()) as u64;
            if found < gone {
                // Some were messages whose UIDs this client never learnt: where they were
                // is unknown, so every position is.
                uids.clear();
            }
            uids.resize(v.exists as usize, 0);
        }
        Data::Fetch { seq, items } => {
            for i in items.iter() {
                match i {
                    MessageData::ModSeq(m) => {
                        v.highest_modseq = Some(v.highest_modseq.unwrap_or(0).max(*m));
                    }
                    MessageData::Uid(u) => {
                        let at = seq.get() as usize;
                        if at <= v.exists as usize {
                            if uids.len() < at {
                                uids.resize(at, 0);
                            }
                            uids[at - 1] = u.get();
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// How many numbers a set without `*` holds, counted without expanding it.
fn set_len(set: &SequenceSet) -> u64 {
    let SequenceSet::Set(ranges) = set else {
        return 0;
    };
    let v = |n: &SeqNum| match n {
        SeqNum::Value(v) => u64::from(v.get()),
        SeqNum::Largest => u64::from(u32::MAX),
    };
    ranges
        .iter()
        .map(|r| match r {
            SeqRange::Single(_) => 1,
            SeqRange::Range(a, b) => v(a).abs_diff(v(b)) + 1,
        })
        .sum()
}

fn set_contains(set: &SequenceSet, n: u32) -> bool {
    let SequenceSet::Set(ranges) = set else {
        return false;
    };
    let v = |x: &SeqNum| match x {
        SeqNum::Value(v) => v.get(),
        SeqNum::Largest => u32::MAX,
    };
    ranges.iter().any(|r| match r {
        SeqRange::Single(a) => v(a) == n,
        SeqRange::Range(a, b) => (v(a).min(v(b))..=v(a).max(v(b))).contains(&n),
    })
}

/// What each command in flight is told when the connection ended with `e`: the same kind
/// of error (the timeout's length, the I/O error's kind and text), since one error cannot be
/// handed to several waiters.
fn lost(e: &Error) -> Error {
    match e {
        Error::Timeout(t) => Error::Timeout(*t),
        Error::Io(io) => Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        Error::Protocol(p) => Error::Protocol(p.clone()),
        _ => Error::Closed,
    }
}

fn invalid(e: impl std::fmt::Display) -> Error {
    Error::Command(e.to_string())
}
