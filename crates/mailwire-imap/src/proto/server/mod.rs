//! The IMAP server session: a pure state machine from command octets to responses and store
//! requests (RFC 9051 §3 states, RFC 3501).
//!
//! ```text
//!        bytes ──► handle_input ──► poll_output ──► bytes
//!                       │
//!                       ▼
//!                  poll_event ──► Request(r) ──► (the store) ──► answer(result)
//!                                 StartTls   ──► tls_established
//!                                 Close
//! ```
//!
//! The session frames commands with [`mailwire_codec::ImapFramer`] (literal announcements are
//! checked against the limits before any literal octet is buffered), parses each with
//! [`decode_command`](crate::proto::decode_command()), and answers what it can by itself. What
//! needs the mailbox store becomes an [`Event::Request`]; the session stops reading input until
//! [`ServerSession::answer`] brings the [`Answer`]. It keeps the per-session sequence map of the
//! selected mailbox, and after every command (and at once during IDLE) brings it in step with
//! the store through [`Request::Poll`], sending EXISTS, EXPUNGE and FETCH FLAGS at the moments
//! RFC 9051 §7.5.1 allows: never an EXPUNGE while answering a FETCH, STORE or SEARCH by
//! sequence number.
//!
//! No tokio, no sockets, no clock: the driver says what time it is where a command needs it
//! ([`ServerSession::set_now`], for SEARCH OLDER/YOUNGER).
//!
//! ```
//! use std::sync::Arc;
//! use mailwire_imap::proto::server::{Answer, Event, Request, ServerConfig, ServerSession};
//!
//! let auth = Arc::new(mailwire_sasl::StaticAuthenticator::new().with_user("alice", "pw"));
//! let config = ServerConfig { allow_insecure_auth: true, ..ServerConfig::default() };
//! let mut s = ServerSession::new(config, auth, false);
//! let mut out = Vec::new();
//! s.poll_output(&mut out);
//! assert!(out.starts_with(b"* OK [CAPABILITY IMAP4rev1"));
//!
//! s.handle_input(b"a1 LOGIN alice pw\r\na2 NOOP\r\n");
//! let Some(Event::Request(Request::Login { user })) = s.poll_event() else { panic!() };
//! assert_eq!(user, "alice");
//! s.answer(Ok(Answer::Done));
//! // The NOOP was held back while the login was answered; it runs now.
//! s.handle_input(b"a2 NOOP\r\n");
//! out.clear();
//! s.poll_output(&mut out);
//! let text = String::from_utf8(out).unwrap();
//! assert!(text.contains("a1 OK [CAPABILITY IMAP4rev1"));
//! assert!(text.ends_with("a2 OK NOOP completed\r\n"));
//! ```

mod commands;
pub mod fetch;
mod ranges;
pub mod search;
pub mod sort;

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mailwire_codec::{ImapFrame, ImapFramer, ImapFramerConfig, LiteralMode};
use mailwire_sasl::{Authenticator, Mechanism, ServerParams, ServerStep};
use mailwire_store::MimeIndex;

use crate::proto::types::capability::Capability;
use crate::proto::types::command::{
    AppendMessage, AuthenticateData, Command, CommandBody, InitialResponse, ListReturnOption,
    ListSelectOption, SelectParam, StatusItem,
};
use crate::proto::types::core::{Atom, IString, Tag, Text, Vec1};
use crate::proto::types::datetime::DateTime;
use crate::proto::types::fetch::{FetchItem, FetchModifier};
use crate::proto::types::flag::{Flag, FlagPerm, MailboxAttr, StoreKind};
use crate::proto::types::mailbox::{Mailbox, list_matches};
use crate::proto::types::response::{
    Code, Completion, Data, ESearch, ESearchData, ExtValue, Greeting, GreetingKind, ListData,
    NamespaceDescr, QuotaResource, QuotedChar, Response, StatusValue, Tagged, Untagged,
    UntaggedKind,
};
use crate::proto::types::search::{
    SearchKey, SearchReturnOption, SortCriterion, SortKey, ThreadAlgorithm,
};
use crate::proto::types::sequence::{SeqNum, SeqRange, SequenceSet};
use crate::proto::{
    DecodeError, DecodeOptions, EncodeOptions, decode_authenticate_data, decode_command,
    decode_idle_done,
};

use fetch::{Content, Need};

/// Limits and settings of a server session. Every limit has a safe default.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The host name in the greeting.
    pub hostname: String,
    /// The longest command line (the text between literals), CRLF included. Default 64 KiB.
    pub max_line_len: usize,
    /// The largest literal after login, and the APPENDLIMIT advertised (RFC 7889). Default
    /// 64 MiB.
    pub max_literal_len: u64,
    /// The largest literal before login (a LOGIN password sent as a literal). Default 8 KiB.
    pub max_literal_before_auth: u64,
    /// The largest command, all its lines and literals together. Default 80 MiB.
    pub max_command_len: usize,
    /// How deeply parenthesised lists and SEARCH keys may nest. Default 48.
    pub max_depth: usize,
    /// Failed authentications before `BYE` and close. Default 3.
    pub max_auth_failures: u32,
    /// Commands that got `BAD` before `BYE` and close. Default 20.
    pub max_bad_commands: u32,
    /// Commands per connection before `BYE`. Default 10 000 000.
    pub max_commands: u64,
    /// Response octets buffered before the session stops reading pipelined commands until the
    /// driver has written them. Default 256 KiB.
    pub max_output: usize,
    /// Messages asked of the store at once by FETCH and SEARCH (bounds the memory of one
    /// response batch). Default 64.
    pub fetch_batch: usize,
    /// Offer LOGIN and the plaintext SASL mechanisms without TLS. Default `false`: before
    /// TLS the server says `LOGINDISABLED` (RFC 9051 §6.2.3).
    pub allow_insecure_auth: bool,
    /// A TLS configuration exists, so STARTTLS is offered on cleartext. Default `false`.
    pub starttls_available: bool,
    /// The `ID` the server sends (RFC 2971), as `name` and `version`.
    pub id_name: String,
    /// Idle time allowed before login; then `* BYE` (after login the driver's autologout
    /// timer counts, at least 30 minutes by RFC 9051 §5.4). Default 60 seconds.
    pub login_timeout: Duration,
    /// How long a failed authentication waits before its `NO` is sent (slows password
    /// guessing; zero: none). Default 1 second.
    pub auth_failure_delay: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            hostname: "localhost".to_owned(),
            max_line_len: 64 * 1024,
            max_literal_len: 64 * 1024 * 1024,
            max_literal_before_auth: 8 * 1024,
            max_command_len: 80 * 1024 * 1024,
            max_depth: 48,
            max_auth_failures: 3,
            max_bad_commands: 20,
            max_commands: 10_000_000,
            max_output: 256 * 1024,
            fetch_batch: 64,
            allow_insecure_auth: false,
            starttls_available: false,
            id_name: "mailwire".to_owned(),
            login_timeout: Duration::from_secs(60),
            auth_failure_delay: Duration::from_secs(1),
        }
    }
}

/// The RFC 9051 §3 states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Before login.
    NotAuthenticated,
    /// Logged in, no mailbox selected.
    Authenticated,
    /// A mailbox is selected.
    Selected,
    /// The session is ending.
    Logout,
}

/// One message as the session's sequence map holds it (and the store reports it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// The UID.
    pub uid: u32,
    /// Its modseq (RFC 7162).
    pub modseq: u64,
    /// Its flags.
    pub flags: Vec<Flag>,
    /// INTERNALDATE.
    pub internal_date: DateTime,
    /// INTERNALDATE as seconds since the epoch (for OLDER/YOUNGER).
    pub internal_timestamp: i64,
    /// RFC822.SIZE.
    pub size: u64,
}

/// A mailbox's counters, as SELECT and STATUS report them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxState {
    /// Messages.
    pub exists: u32,
    /// UIDVALIDITY.
    pub uidvalidity: u32,
    /// UIDNEXT.
    pub uidnext: u32,
    /// HIGHESTMODSEQ.
    pub highest_modseq: u64,
    /// Messages without `\Seen`.
    pub unseen: u32,
    /// Messages with `\Deleted`.
    pub deleted: u32,
    /// The sum of the message sizes.
    pub size: u64,
    /// FLAGS: the flags in use (system flags and keywords).
    pub flags: Vec<Flag>,
}

/// One mailbox of a LIST answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxEntry {
    /// The name in UTF-8, `/` as delimiter.
    pub name: String,
    /// False for a name that exists only as a parent of others (`\Noselect`).
    pub selectable: bool,
    /// Whether other mailboxes are below it.
    pub has_children: bool,
    /// Whether the user subscribed to it.
    pub subscribed: bool,
    /// Its special use (`\Sent`, ...), RFC 6154.
    pub special_use: Option<MailboxAttr>,
    /// False for a name known only from the subscriptions (a deleted mailbox, or a parent of
    /// one): RFC 3501 §6.3.6 keeps such subscriptions, and LSUB and LIST (SUBSCRIBED) show
    /// them; other LISTs do not.
    pub exists: bool,
}

/// What a [`Request::Fetch`] needs of each message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchContent {
    /// [`MessageContent::raw`].
    Raw,
    /// `raw` and [`MessageContent::mime`].
    Mime,
    /// Only what ENVELOPE, BODY and BODYSTRUCTURE show: [`MessageContent::structure`] as
    /// [`render_structure`](fetch::render_structure) makes it (a store keeps it, so a second
    /// FETCH reads no message), or else `raw` and `mime`, from which the session renders it.
    Structure,
}

/// One message's content handed back for FETCH and SEARCH.
#[derive(Debug, Clone)]
pub struct MessageContent {
    /// The UID.
    pub uid: u32,
    /// The raw octets.
    pub raw: Bytes,
    /// The MIME index, when asked for.
    pub mime: Option<Arc<MimeIndex>>,
    /// For [`FetchContent::Structure`]: the rendered ENVELOPE, BODY and BODYSTRUCTURE.
    pub structure: Option<Bytes>,
}

/// What the session asks of the store. Mailbox names are UTF-8 with `/` as delimiter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// `user` authenticated: open their mailboxes ([`Answer::Done`]).
    Login {
        /// The authorization identity.
        user: String,
    },
    /// Every mailbox ([`Answer::Mailboxes`]).
    List,
    /// CREATE ([`Answer::Done`]).
    Create {
        /// The name.
        mailbox: String,
        /// CREATE-SPECIAL-USE.
        special_use: Option<MailboxAttr>,
    },
    /// DELETE ([`Answer::Done`]).
    Delete {
        /// The name.
        mailbox: String,
    },
    /// RENAME ([`Answer::Done`]).
    Rename {
        /// The existing name.
        from: String,
        /// The new name.
        to: String,
    },
    /// SUBSCRIBE or UNSUBSCRIBE ([`Answer::Done`]).
    Subscribe {
        /// The name.
        mailbox: String,
        /// Subscribe (`true`) or unsubscribe.
        subscribe: bool,
    },
    /// STATUS ([`Answer::Status`]).
    Status {
        /// The name.
        mailbox: String,
    },
    /// SELECT or EXAMINE: open it and listen for its changes ([`Answer::Selected`]).
    Select {
        /// The name.
        mailbox: String,
        /// EXAMINE.
        read_only: bool,
    },
    /// The selected mailbox is closed (stop listening; [`Answer::Done`]).
    Unselect,
    /// APPEND one message, durably ([`Answer::Appended`]).
    Append {
        /// The destination.
        mailbox: String,
        /// The octets.
        data: Vec<u8>,
        /// Its flags.
        flags: Vec<Flag>,
        /// Its INTERNALDATE (now when absent).
        date: Option<DateTime>,
    },
    /// The content of these messages of the selected mailbox ([`Answer::Messages`]; messages
    /// gone meanwhile are left out).
    Fetch {
        /// The UIDs, ascending.
        uids: Vec<u32>,
        /// What is needed of each.
        want: FetchContent,
    },
    /// STORE in the selected mailbox ([`Answer::Stored`]).
    Store {
        /// The UIDs.
        uids: Vec<u32>,
        /// Replace, add or remove.
        kind: StoreKind,
        /// The flags.
        flags: Vec<Flag>,
        /// CONDSTORE UNCHANGEDSINCE.
        unchanged_since: Option<u64>,
    },
    /// COPY or MOVE from the selected mailbox ([`Answer::Copied`]).
    Copy {
        /// The UIDs.
        uids: Vec<u32>,
        /// The destination.
        mailbox: String,
        /// MOVE.
        r#move: bool,
    },
    /// EXPUNGE (all `\Deleted`, or those of these UIDs; [`Answer::Expunged`]).
    Expunge {
        /// UID EXPUNGE's set.
        uids: Option<Vec<u32>>,
    },
    /// Has the selected mailbox changed? ([`Answer::Unchanged`] or [`Answer::Snapshot`].)
    Poll,
    /// Removes messages this session appended ([`Answer::Done`]): a MULTIAPPEND whose later
    /// message failed is undone (RFC 3502 §6.3.11: all or none).
    Discard {
        /// The mailbox appended to.
        mailbox: String,
        /// The UIDs the earlier messages got.
        uids: Vec<u32>,
    },
    /// The user's quota and usage ([`Answer::Quota`]); with a mailbox, it must exist
    /// (GETQUOTAROOT, RFC 9208 §4.3).
    Quota {
        /// The mailbox GETQUOTAROOT names.
        mailbox: Option<String>,
    },
    /// The UIDs expunged from the selected mailbox since this modseq ([`Answer::Vanished`];
    /// QRESYNC, RFC 7162 §3.2.5.1 and §3.2.6).
    Vanished {
        /// The modseq the client knows.
        since: u64,
    },
}

/// The store's answer to a [`Request`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Answer {
    /// Done.
    Done,
    /// LIST: every mailbox, parents included.
    Mailboxes(Vec<MailboxEntry>),
    /// STATUS.
    Status(MailboxState),
    /// SELECT: the counters and every message, ascending UID.
    Selected {
        /// The counters.
        state: MailboxState,
        /// The messages.
        messages: Vec<MessageInfo>,
    },
    /// APPEND.
    Appended {
        /// The mailbox's UIDVALIDITY.
        uidvalidity: u32,
        /// The new UID.
        uid: u32,
    },
    /// FETCH content.
    Messages(Vec<MessageContent>),
    /// STORE: the messages changed (UID, flags now, modseq now) and those left alone because
    /// of UNCHANGEDSINCE.
    Stored {
        /// Updated messages.
        updated: Vec<(u32, Vec<Flag>, u64)>,
        /// UIDs not changed (RFC 7162 MODIFIED).
        modified: Vec<u32>,
    },
    /// COPY/MOVE: the destination's UIDVALIDITY and (source, destination) UID pairs.
    Copied {
        /// UIDVALIDITY of the destination.
        uidvalidity: u32,
        /// The pairs.
        uids: Vec<(u32, u32)>,
    },
    /// EXPUNGE: the UIDs removed.
    Expunged(Vec<u32>),
    /// The UIDs expunged since the modseq asked about, ascending ranges.
    Vanished {
        /// Inclusive ranges, ascending.
        uids: Vec<std::ops::RangeInclusive<u32>>,
        /// Whether the store remembered every expunge since then; if not, `uids` holds
        /// every UID below UIDNEXT that is not in the mailbox (a superset).
        exact: bool,
    },
    /// The one quota root's resources, `(usage, limit)` of each that is limited.
    Quota {
        /// Octets stored and the most allowed.
        storage: Option<(u64, u64)>,
        /// Messages stored and the most allowed.
        messages: Option<(u64, u64)>,
    },
    /// Poll: nothing happened.
    Unchanged,
    /// Poll: the selected mailbox now, every message, ascending UID, and its FLAGS.
    Snapshot {
        /// The messages.
        messages: Vec<MessageInfo>,
        /// The flags in use.
        flags: Vec<Flag>,
    },
}

/// Why the store could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// A description for the log and the response text.
    pub text: String,
}

/// The kinds of [`Failure`], each with the response code the session answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// The mailbox does not exist (`NONEXISTENT`, or `TRYCREATE` for APPEND/COPY/MOVE).
    NoSuchMailbox,
    /// It exists already (`ALREADYEXISTS`).
    AlreadyExists,
    /// Not allowed (`CANNOT`).
    NotAllowed,
    /// The name is not valid (`CANNOT`).
    InvalidName,
    /// Too large (`TOOBIG`).
    TooBig,
    /// Out of space (`OVERQUOTA`).
    OverQuota,
    /// In use (`INUSE`).
    InUse,
    /// A temporary failure (`UNAVAILABLE`).
    Unavailable,
    /// A soft limit, such as sessions per user (`LIMIT`, RFC 5530).
    Limit,
    /// A login refused after all (`AUTHENTICATIONFAILED`, RFC 5530): what a test server's
    /// login fault may answer.
    AuthenticationFailed,
}

impl Failure {
    /// A failure.
    pub fn new(kind: FailureKind, text: impl Into<String>) -> Self {
        Self {
            kind,
            text: text.into(),
        }
    }
}

/// Something the driver must act on.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// Ask the store, then call [`ServerSession::answer`].
    Request(Request),
    /// The go-ahead to STARTTLS is queued: flush it, run the handshake, then
    /// [`ServerSession::tls_established`].
    StartTls,
    /// The session is over: flush the output and close.
    Close,
    /// Wait this long before writing what is queued (a failed authentication's delay).
    Pause(Duration),
    /// The OK to `COMPRESS DEFLATE` is queued: flush it, then compress both ways (RFC 4978).
    Compress,
}

/// The selected mailbox as this session sees it.
#[derive(Debug)]
struct Selected {
    name: String,
    read_only: bool,
    /// Messages by sequence number (index + 1), ascending UID; `expunged` ones are gone from
    /// the store but not yet reported.
    msgs: Vec<Msg>,
    flags: Vec<Flag>,
    highest_modseq: u64,
    /// A message was expunged in the store and not yet reported.
    pending_expunge: bool,
    /// UIDs a poll before a command found gone from the store, marked expunged at the
    /// command's completion.
    gone: Vec<u32>,
}

#[derive(Debug, Clone)]
struct Msg {
    info: MessageInfo,
    expunged: bool,
}

impl Selected {
    fn index_of_uid(&self, uid: u32) -> Option<usize> {
        self.msgs.binary_search_by_key(&uid, |m| m.info.uid).ok()
    }

    fn max_uid(&self) -> u32 {
        self.msgs.last().map_or(0, |m| m.info.uid)
    }
}

/// What an outstanding request is for.
#[derive(Debug)]
enum Pending {
    Login {
        tag: Tag,
    },
    Simple {
        tag: Tag,
        what: &'static str,
    },
    List {
        tag: Tag,
        spec: Box<ListSpec>,
    },
    /// LIST … RETURN (STATUS …), RFC 5819: the LIST lines still to send, a STATUS after each
    /// selectable one.
    ListStatus {
        tag: Tag,
        items: Vec<StatusItem>,
        rest: VecDeque<ListOut>,
        mailbox: Mailbox,
    },
    /// Undoing the first messages of a MULTIAPPEND, then `failure`.
    AppendUndo {
        tag: Tag,
        failure: Failure,
    },
    /// GETQUOTA (`mailbox` None) or GETQUOTAROOT.
    Quota {
        tag: Tag,
        mailbox: Option<Mailbox>,
    },
    /// SELECT under IMAP4rev2: the untagged LIST of the mailbox (RFC 9051 §6.3.2).
    SelectList {
        name: String,
        qresync: Option<Box<QResync>>,
        done: Done,
    },
    Status {
        tag: Tag,
        mailbox: Mailbox,
        items: Vec<StatusItem>,
    },
    Select {
        tag: Tag,
        name: String,
        read_only: bool,
        condstore: bool,
        qresync: Option<Box<QResync>>,
    },
    /// SELECT (QRESYNC …): the mailbox is open; VANISHED (EARLIER) and the changed FLAGS come
    /// before the completion.
    QResyncSelect {
        params: Box<QResync>,
        done: Done,
    },
    /// UID FETCH (CHANGEDSINCE n VANISHED): VANISHED (EARLIER) first, then the FETCH.
    FetchVanished {
        job: Box<FetchJob>,
        set: SequenceSet,
    },
    Append {
        tag: Tag,
        mailbox: String,
        rest: VecDeque<AppendMessage>,
        uids: Vec<u32>,
    },
    Fetch(Box<FetchJob>),
    Store(Box<StoreJob>),
    Copy {
        tag: Tag,
        r#move: bool,
        uid: bool,
    },
    Expunge {
        tag: Tag,
        silent: bool,
        then_unselect: bool,
    },
    Search(Box<SearchJob>),
    /// SORT or THREAD reading the headers of the hits.
    SortHeaders(Box<SearchJob>),
    /// Bringing the sequence map in step before the completion (`None`: woken in IDLE).
    Poll {
        done: Option<Done>,
    },
    Unselect {
        done: Done,
    },
}

/// A command's completion, written once the mailbox is in step.
#[derive(Debug)]
struct Done {
    tag: Tag,
    kind: Completion,
    code: Option<Code>,
    text: String,
    /// EXPUNGE responses may be sent now (not after FETCH, STORE, SEARCH by number).
    allow_expunge: bool,
}

/// The QRESYNC parameter of SELECT/EXAMINE (RFC 7162 §3.2.5).
#[derive(Debug)]
struct QResync {
    uidvalidity: u32,
    modseq: u64,
    known_uids: Option<SequenceSet>,
    seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// One LIST line and, for LIST-STATUS, the mailbox whose STATUS follows it.
#[derive(Debug)]
struct ListOut {
    data: Data,
    status: Option<(Mailbox, String)>,
}

#[derive(Debug)]
struct ListSpec {
    lsub: bool,
    patterns: Vec<String>,
    reference: String,
    subscribed_only: bool,
    special_only: bool,
    recursive: bool,
    ret_subscribed: bool,
    ret_children: bool,
    ret_special: bool,
    extended: bool,
    /// RETURN (STATUS (…)), RFC 5819.
    status: Option<Vec<StatusItem>>,
}

#[derive(Debug)]
struct FetchJob {
    tag: Tag,
    uid: bool,
    items: Vec<FetchItem>,
    need: Need,
    /// UIDs still to write, ascending.
    todo: VecDeque<u32>,
    /// UIDs whose `\Seen` this FETCH set (their FLAGS are sent).
    seen_set: Vec<u32>,
    add_modseq: bool,
    expunge_issued: bool,
    unknown_cte: bool,
    read_only: bool,
}

#[derive(Debug)]
struct StoreJob {
    tag: Tag,
    uid: bool,
    silent: bool,
    /// Set for the `\Seen` of a non-PEEK FETCH: the FETCH goes on afterwards.
    fetch: Option<Box<FetchJob>>,
}

#[derive(Debug)]
struct SearchJob {
    tag: Tag,
    uid: bool,
    key: SearchKey,
    returns: Option<Vec<SearchReturnOption>>,
    /// Candidates still to look at (indices into the sequence map), for keys that need the
    /// content.
    todo: VecDeque<u32>,
    hits: Vec<u32>,
    /// SORT or THREAD (RFC 5256): what to do with the hits.
    order: Option<Order>,
    /// The hits whose header SORT or THREAD still has to read.
    header_todo: VecDeque<u32>,
    fields: Vec<sort::SortFields>,
}

/// SORT criteria or a THREAD algorithm.
#[derive(Debug)]
enum Order {
    Sort(Vec<SortCriterion>),
    Thread(ThreadAlgorithm),
}

enum Phase {
    Command,
    Auth {
        tag: Tag,
        sasl: Box<mailwire_sasl::ServerSession<Arc<dyn Authenticator + Send + Sync>>>,
    },
    Idle {
        tag: Tag,
    },
}

/// The server side of one IMAP connection.
pub struct ServerSession {
    config: ServerConfig,
    auth: Arc<dyn Authenticator + Send + Sync>,
    framer: ImapFramer,
    decode: DecodeOptions,
    output: Vec<u8>,
    events: VecDeque<Event>,
    state: State,
    tls: bool,
    phase: Phase,
    pending: Option<Pending>,
    user: Option<String>,
    selected: Option<Selected>,
    condstore: bool,
    /// ENABLE QRESYNC (RFC 7162 §3.2.3): VANISHED instead of EXPUNGE.
    qresync: bool,
    /// ENABLE IMAP4rev2 (RFC 9051 §6.3.1).
    rev2: bool,
    /// COMPRESS DEFLATE is on (RFC 4978).
    compressed: bool,
    utf8: bool,
    auth_failures: u32,
    /// Failures not yet taken by the driver ([`Self::take_auth_failures`]).
    new_auth_failures: u32,
    /// Logins refused for this connection's address ([`Self::set_auth_refused`]).
    auth_refused: bool,
    bad_commands: u32,
    commands: u64,
    /// SEARCHRES (RFC 5182): the saved result, as UIDs.
    saved: Vec<u32>,
    now: i64,
    closed: bool,
    pending_shutdown: bool,
    /// Another session changed the selected mailbox since the last poll: the next command
    /// starts with one, so it sees the flags and messages as they are now.
    stale: bool,
    /// The command waiting for the poll `stale` asked for.
    deferred: Option<(Vec<u8>, bool)>,
}

impl std::fmt::Debug for ServerSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSession")
            .field("state", &self.state)
            .field("user", &self.user)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

const DELIMITER: char = '/';

/// Whether a command (`tag SP name ...`) reads the selected mailbox's messages and flags.
fn reads_selected(message: &[u8]) -> bool {
    let mut words = message.splitn(3, |&b| b == b' ');
    let _tag = words.next();
    let Some(name) = words.next() else {
        return false;
    };
    let name = name.strip_suffix(b"\r\n").unwrap_or(name);
    [
        &b"FETCH"[..],
        b"STORE",
        b"SEARCH",
        b"SORT",
        b"THREAD",
        b"COPY",
        b"MOVE",
        b"UID",
    ]
    .iter()
    .any(|c| name.eq_ignore_ascii_case(c))
}

fn text(s: &str) -> Text {
    let clean: Vec<u8> = s
        .bytes()
        .filter(|&b| b != b'\r' && b != b'\n' && b != 0)
        .collect();
    Text::unvalidated(&clean)
}

impl ServerSession {
    /// A session for a new connection (`tls`: implicit TLS is already up). The greeting is
    /// queued.
    pub fn new(
        config: ServerConfig,
        auth: Arc<dyn Authenticator + Send + Sync>,
        tls: bool,
    ) -> Self {
        let framer = ImapFramer::new(ImapFramerConfig {
            max_line_len: config.max_line_len,
            // The session checks each announced literal against the limit of its state
            // (`literal_announced`, with TOOBIG); the framer's own bound is the whole command.
            max_literal_len: (config.max_command_len as u64)
                .max(config.max_literal_len)
                .max(config.max_literal_before_auth),
            max_message_len: config.max_command_len,
            accept_bare_lf: false,
        });
        let decode = DecodeOptions {
            max_depth: config.max_depth,
        };
        let mut s = Self {
            config,
            auth,
            framer,
            decode,
            output: Vec::with_capacity(1024),
            events: VecDeque::new(),
            state: State::NotAuthenticated,
            tls,
            phase: Phase::Command,
            pending: None,
            user: None,
            selected: None,
            condstore: false,
            qresync: false,
            rev2: false,
            compressed: false,
            utf8: false,
            auth_failures: 0,
            new_auth_failures: 0,
            auth_refused: false,
            bad_commands: 0,
            commands: 0,
            saved: Vec::new(),
            now: 0,
            closed: false,
            pending_shutdown: false,
            stale: false,
            deferred: None,
        };
        let greeting = Greeting {
            kind: GreetingKind::Ok,
            code: Some(Code::Capability(s.capabilities())),
            text: text(&format!("{} IMAP4rev1 server ready", s.config.hostname)),
        };
        s.output
            .extend_from_slice(greeting.encode(&s.enc()).as_bytes());
        s
    }

    /// The settings.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The logged-in user.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Whether TLS is active.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The name of the selected mailbox.
    pub fn selected(&self) -> Option<&str> {
        self.selected.as_ref().map(|s| s.name.as_str())
    }

    /// The idle time allowed now: [`ServerConfig::login_timeout`] before login, `None` (the
    /// driver's autologout timer) after.
    pub fn idle_timeout(&self) -> Option<Duration> {
        (self.state == State::NotAuthenticated).then_some(self.config.login_timeout)
    }

    /// Whether the session is in IDLE (the driver then wakes it on mailbox changes).
    pub fn is_idle(&self) -> bool {
        matches!(self.phase, Phase::Idle { .. })
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The current time, seconds since the epoch (SEARCH OLDER/YOUNGER).
    pub fn set_now(&mut self, now: i64) {
        self.now = now;
    }

    fn enc(&self) -> EncodeOptions {
        EncodeOptions {
            utf8: self.utf8,
            ..EncodeOptions::default()
        }
    }

    fn plaintext_allowed(&self) -> bool {
        self.tls || self.config.allow_insecure_auth
    }

    fn mechanisms(&self) -> Vec<Mechanism> {
        mailwire_sasl::login_mechanisms(&*self.auth, self.tls, self.config.allow_insecure_auth)
    }

    /// The capabilities for the current state (RFC 9051 §7.2.2).
    pub fn capabilities(&self) -> Vec1<Capability> {
        let mut v = Vec1::one(Capability::Imap4Rev1);
        v.push(Capability::Imap4Rev2);
        let atom = |s: &str| Atom::new(s).ok();
        if self.state == State::NotAuthenticated {
            if self.config.starttls_available && !self.tls {
                v.push(Capability::StartTls);
            }
            if !self.plaintext_allowed() {
                v.push(Capability::LoginDisabled);
            }
            for m in self.mechanisms() {
                if let Some(a) = atom(m.name()) {
                    v.push(Capability::Auth(a));
                }
            }
            v.push(Capability::SaslIr);
        }
        for c in [
            Capability::LiteralPlus,
            Capability::Id,
            Capability::Enable,
            Capability::Idle,
            Capability::Namespace,
            Capability::Unselect,
            Capability::UidPlus,
            Capability::Move,
            Capability::Children,
            Capability::SpecialUse,
            Capability::CreateSpecialUse,
            Capability::ListExtended,
            Capability::ListStatus,
            Capability::CondStore,
            Capability::QResync,
            Capability::ESearch,
            Capability::SearchRes,
            Capability::StatusSize,
            Capability::MultiAppend,
            Capability::Binary,
            Capability::Quota,
            Capability::Sort,
            Capability::AppendLimit(Some(self.config.max_literal_len)),
        ] {
            v.push(c);
        }
        // RFC 4978 after login (as Dovecot offers it), until it is on.
        if self.state != State::NotAuthenticated
            && !self.compressed
            && let Some(a) = atom("DEFLATE")
        {
            v.push(Capability::Compress(a));
        }
        for t in ["ORDEREDSUBJECT", "REFERENCES"] {
            if let Some(a) = atom(t) {
                v.push(Capability::Thread(a));
            }
        }
        for r in ["STORAGE", "MESSAGE"] {
            if let Some(a) = atom(r) {
                v.push(Capability::QuotaRes(a));
            }
        }
        v
    }

    /// Octets of responses waiting to be sent.
    pub fn output_len(&self) -> usize {
        self.output.len()
    }

    /// Moves the responses to send into `out`.
    pub fn poll_output(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.output);
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn blocked(&self) -> bool {
        self.closed || self.pending.is_some() || !self.events.is_empty()
    }

    /// Consumes input; returns how many octets were used. Stops at a command that needs the
    /// store (until [`answer`](Self::answer)), at STARTTLS, or once
    /// [`ServerConfig::max_output`] octets wait to be sent.
    pub fn handle_input(&mut self, input: &[u8]) -> usize {
        let mut rest = input;
        while !self.blocked() && self.output.len() < self.config.max_output && !rest.is_empty() {
            let before = rest.len();
            let Some(frame) = self.framer.next_frame(&mut rest) else {
                break;
            };
            let more = !rest.is_empty();
            match frame {
                ImapFrame::Message(m) => {
                    let m = m.to_vec();
                    if self.stale && reads_selected(&m) && self.poll_before(&m, more) {
                        break;
                    }
                    self.message(&m, more);
                }
                ImapFrame::LiteralAnnounced(lit) => self.literal_announced(lit),
                ImapFrame::Error { error, tag } => {
                    let tag = tag.and_then(|t| Tag::new(String::from_utf8_lossy(&t)).ok());
                    self.bad(tag.as_ref(), &format!("{error}"));
                }
            }
            if rest.len() == before && !self.blocked() {
                // The framer used nothing and gave something: go round once more only if it
                // can make progress.
                continue;
            }
        }
        input.len() - rest.len()
    }

    fn literal_announced(&mut self, lit: mailwire_codec::LiteralAnnouncement) {
        let limit = if self.state == State::NotAuthenticated {
            self.config.max_literal_before_auth
        } else {
            self.config.max_literal_len
        };
        if lit.size <= limit {
            if lit.mode == LiteralMode::Sync {
                self.output
                    .extend_from_slice(b"+ Ready for literal data\r\n");
            }
            return;
        }
        let line = self.framer.buffered();
        let tag = line
            .split(|&b| b == b' ')
            .next()
            .and_then(|t| Tag::new(String::from_utf8_lossy(t)).ok());
        let is_append = line
            .split(|&b| b == b' ')
            .nth(1)
            .is_some_and(|c| c.eq_ignore_ascii_case(b"APPEND"));
        self.framer.reject_literal();
        let msg = format!(
            "Literal of {} octets is over the limit of {limit}",
            lit.size
        );
        match (tag, lit.mode, is_append) {
            (Some(tag), LiteralMode::Sync, true) => {
                self.tagged(&tag, Completion::No, Some(Code::TooBig), &msg);
            }
            (Some(tag), _, _) => {
                self.bad_code(Some(&tag), Some(Code::TooBig), &msg);
            }
            (None, _, _) => self.bad(None, &msg),
        }
    }

    fn message(&mut self, m: &[u8], more: bool) {
        match &mut self.phase {
            Phase::Auth { .. } => return self.auth_data(m),
            Phase::Idle { tag } => {
                let tag = tag.clone();
                match decode_idle_done(m) {
                    Ok(_) => {
                        self.phase = Phase::Command;
                        self.complete(Done {
                            tag,
                            kind: Completion::Ok,
                            code: None,
                            text: "IDLE terminated".to_owned(),
                            allow_expunge: true,
                        });
                    }
                    Err(_) => {
                        self.phase = Phase::Command;
                        self.bad(Some(&tag), "Expected DONE");
                    }
                }
                return;
            }
            Phase::Command => {}
        }
        match decode_command(m, &self.decode) {
            Ok((cmd, _)) => {
                self.commands += 1;
                if self.commands > self.config.max_commands {
                    self.bye("Too many commands");
                    return;
                }
                self.command(cmd, more);
            }
            Err(DecodeError::Syntax(e)) => {
                let r = e.response();
                self.write(&r);
                self.count_bad();
            }
            Err(_) => {
                // A framed message is whole: incomplete means it is not a command.
                let tag = m
                    .split(|&b| b == b' ')
                    .next()
                    .and_then(|t| Tag::new(String::from_utf8_lossy(t)).ok());
                self.bad(tag.as_ref(), "Malformed command");
            }
        }
    }

    // ---- output helpers

    fn write(&mut self, r: &Response) {
        let opts = self.enc();
        self.output.extend_from_slice(r.encode(&opts).as_bytes());
    }

    fn data(&mut self, d: Data) {
        self.write(&Response::Data(d));
    }

    fn untagged(&mut self, kind: UntaggedKind, code: Option<Code>, t: &str) {
        self.write(&Response::Untagged(Untagged {
            kind,
            code,
            text: text(t),
        }));
    }

    fn tagged(&mut self, tag: &Tag, kind: Completion, code: Option<Code>, t: &str) {
        self.write(&Response::Tagged(Tagged {
            tag: tag.clone(),
            kind,
            code,
            text: text(t),
        }));
    }

    fn ok(&mut self, tag: &Tag, t: &str) {
        self.tagged(tag, Completion::Ok, None, t);
    }

    fn no(&mut self, tag: &Tag, code: Option<Code>, t: &str) {
        self.tagged(tag, Completion::No, code, t);
    }

    fn bad(&mut self, tag: Option<&Tag>, t: &str) {
        self.bad_code(tag, None, t);
    }

    fn bad_code(&mut self, tag: Option<&Tag>, code: Option<Code>, t: &str) {
        match tag {
            Some(tag) => self.tagged(tag, Completion::Bad, code, t),
            None => self.untagged(UntaggedKind::Bad, code, t),
        }
        self.count_bad();
    }

    fn count_bad(&mut self) {
        self.bad_commands += 1;
        if self.bad_commands >= self.config.max_bad_commands {
            self.bye("Too many invalid commands");
        }
    }

    fn bye(&mut self, t: &str) {
        if self.closed {
            return;
        }
        self.untagged(UntaggedKind::Bye, None, t);
        self.close();
    }

    fn close(&mut self) {
        self.closed = true;
        self.state = State::Logout;
        self.events.push_back(Event::Close);
    }

    fn request(&mut self, pending: Pending, r: Request) {
        self.pending = Some(pending);
        self.events.push_back(Event::Request(r));
    }

    /// The STARTTLS handshake succeeded.
    pub fn tls_established(&mut self) {
        self.tls = true;
        self.framer.reset();
    }

    /// No command came within the idle time: `* BYE` and close (RFC 9051 §5.4).
    pub fn handle_idle_timeout(&mut self) {
        self.bye("Autologout; idle for too long");
    }

    /// The connection's address has failed to log in too often (the driver's
    /// [`AuthThrottle`](AuthThrottle) says so): every login attempt is refused
    /// without looking at the credentials until this is cleared.
    pub fn set_auth_refused(&mut self, refused: bool) {
        self.auth_refused = refused;
    }

    /// How many logins failed since the last call (for the driver's per-address throttle).
    pub fn take_auth_failures(&mut self) -> u32 {
        std::mem::take(&mut self.new_auth_failures)
    }

    /// The server is shutting down.
    pub fn handle_shutdown(&mut self) {
        if self.pending.is_none() {
            self.bye("Server shutting down");
        } else {
            // Finish what the store is doing; the session closes after the answer.
            self.pending_shutdown = true;
        }
    }

    /// The driver was woken by a change of the selected mailbox: during IDLE the session asks
    /// at once ([`Request::Poll`]); otherwise the next command that reads the mailbox (FETCH,
    /// STORE, SEARCH, SORT, THREAD, COPY, MOVE, UID …) starts with a poll, so that a FETCH of
    /// flags another session (or the HTTP API) just changed answers with the new ones. That
    /// early poll reports new messages and flags but no expunge (RFC 9051 §7.5.1: the command
    /// may use sequence numbers); expunges wait for the command's completion.
    pub fn mailbox_changed(&mut self) {
        if self.closed || self.selected.is_none() {
            return;
        }
        if self.is_idle() && self.pending.is_none() {
            self.stale = false;
            self.pending = Some(Pending::Poll { done: None });
            self.events.push_back(Event::Request(Request::Poll));
        } else {
            self.stale = true;
        }
    }

    /// Before a command that reads the selected mailbox, when it changed elsewhere (see
    /// [`mailbox_changed`](Self::mailbox_changed)): poll first, then run the command (kept
    /// in `deferred` until the answer).
    fn poll_before(&mut self, message: &[u8], more: bool) -> bool {
        if self.selected.is_none() || !matches!(self.phase, Phase::Command) || self.blocked() {
            return false;
        }
        self.deferred = Some((message.to_vec(), more));
        self.stale = false;
        self.pending = Some(Pending::Poll { done: None });
        self.events.push_back(Event::Request(Request::Poll));
        true
    }
}
