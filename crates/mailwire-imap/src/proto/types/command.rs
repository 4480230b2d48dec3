//! Commands (RFC 9051 §6, RFC 3501 §6) and those of the extensions.

use super::capability::Capability;
use super::core::{AString, Atom, IString, NString, Tag, Text, Vec1};
use super::datetime::DateTime;
use super::fetch::{FetchItems, FetchModifier};
use super::flag::{Flag, MailboxAttr, StoreKind};
use super::mailbox::{ListMailbox, Mailbox};
use super::search::{SearchKey, SearchReturnOption, SortCriterion, ThreadAlgorithm};
use super::sequence::SequenceSet;

/// A tagged command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The tag the completion will carry.
    pub tag: Tag,
    /// What the command does.
    pub body: CommandBody,
}

/// A password or other secret octets: `Debug` never shows them and they are wiped on drop
/// (the codec's [`Secret`](mailwire_codec::Secret), one type for every protocol).
pub use mailwire_codec::Secret;

/// The SASL initial response of `AUTHENTICATE mechanism initial` (RFC 4959 SASL-IR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitialResponse {
    /// `=`: an empty initial response.
    Empty,
    /// Decoded base64 octets (never empty).
    Data(Secret<Vec<u8>>),
}

/// What a command does, with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandBody {
    // ---- any state
    /// `CAPABILITY`
    Capability,
    /// `NOOP`
    Noop,
    /// `LOGOUT`
    Logout,
    /// `ID (…)` / `ID NIL` (RFC 2971)
    Id(Option<Vec<(IString, NString)>>),
    /// `ENABLE cap…` (RFC 5161)
    Enable(Vec1<Capability>),
    /// `COMPRESS mechanism` (RFC 4978)
    Compress(Atom),
    // ---- not authenticated
    /// `STARTTLS`
    StartTls,
    /// `AUTHENTICATE mechanism [initial-response]`
    Authenticate {
        /// The SASL mechanism.
        mechanism: Atom,
        /// SASL-IR.
        initial: Option<InitialResponse>,
    },
    /// `LOGIN userid password`
    Login {
        /// The user name.
        username: AString,
        /// The password.
        password: Secret<AString>,
    },
    // ---- authenticated
    /// `SELECT mailbox [(params)]`
    Select {
        /// The mailbox.
        mailbox: Mailbox,
        /// CONDSTORE / QRESYNC parameters.
        params: Vec<SelectParam>,
    },
    /// `EXAMINE mailbox [(params)]`
    Examine {
        /// The mailbox.
        mailbox: Mailbox,
        /// CONDSTORE / QRESYNC parameters.
        params: Vec<SelectParam>,
    },
    /// `CREATE mailbox [(USE (attrs))]`
    Create {
        /// The mailbox.
        mailbox: Mailbox,
        /// CREATE-SPECIAL-USE (RFC 6154): the special uses.
        special_use: Vec<MailboxAttr>,
    },
    /// `DELETE mailbox`
    Delete(Mailbox),
    /// `RENAME from to`
    Rename {
        /// The existing name.
        from: Mailbox,
        /// The new name.
        to: Mailbox,
    },
    /// `SUBSCRIBE mailbox`
    Subscribe(Mailbox),
    /// `UNSUBSCRIBE mailbox`
    Unsubscribe(Mailbox),
    /// `LIST [(select-opts)] reference pattern(s) [RETURN (opts)]` (RFC 5258, 6154, 5819)
    List {
        /// Selection options (LIST-EXTENDED).
        select: Vec<ListSelectOption>,
        /// The reference name.
        reference: Mailbox,
        /// One pattern, or several in parentheses.
        patterns: Vec1<ListMailbox>,
        /// Return options (LIST-EXTENDED, LIST-STATUS).
        returns: Vec<ListReturnOption>,
    },
    /// `LSUB reference pattern` (IMAP4rev1)
    Lsub {
        /// The reference name.
        reference: Mailbox,
        /// The pattern.
        pattern: ListMailbox,
    },
    /// `NAMESPACE` (RFC 2342)
    Namespace,
    /// `STATUS mailbox (items)`
    Status {
        /// The mailbox.
        mailbox: Mailbox,
        /// The attributes asked for.
        items: Vec1<StatusItem>,
    },
    /// `APPEND mailbox [flags] [date] literal` (MULTIAPPEND: several messages).
    Append {
        /// The mailbox.
        mailbox: Mailbox,
        /// The messages (MULTIAPPEND, RFC 3502, allows more than one).
        messages: Vec1<AppendMessage>,
    },
    /// `IDLE` (RFC 2177); the client ends it with `DONE`.
    Idle,
    /// `GETQUOTA root` (RFC 9208)
    GetQuota(AString),
    /// `GETQUOTAROOT mailbox`
    GetQuotaRoot(Mailbox),
    /// `SETQUOTA root (resource limit …)`
    SetQuota {
        /// The quota root.
        root: AString,
        /// Resource names and limits.
        limits: Vec<(Atom, u64)>,
    },
    // ---- selected
    /// `CHECK` (IMAP4rev1)
    Check,
    /// `CLOSE`
    Close,
    /// `UNSELECT` (RFC 3691)
    Unselect,
    /// `EXPUNGE`, or `UID EXPUNGE set` (RFC 4315)
    Expunge {
        /// UIDPLUS: only these UIDs.
        uids: Option<SequenceSet>,
    },
    /// `[UID] SEARCH [RETURN (…)] [CHARSET x] keys`
    Search {
        /// ESEARCH / SEARCHRES return options (`None`: no RETURN).
        returns: Option<Vec<SearchReturnOption>>,
        /// The charset.
        charset: Option<AString>,
        /// The keys, all of which must match.
        criteria: Vec1<SearchKey>,
        /// `UID SEARCH`.
        uid: bool,
    },
    /// `[UID] FETCH set items [(modifiers)]`
    Fetch {
        /// The messages.
        set: SequenceSet,
        /// What to fetch.
        items: FetchItems,
        /// CONDSTORE / QRESYNC modifiers.
        modifiers: Vec<FetchModifier>,
        /// `UID FETCH`.
        uid: bool,
    },
    /// `[UID] STORE set [(UNCHANGEDSINCE n)] ±FLAGS[.SILENT] flags`
    Store {
        /// The messages.
        set: SequenceSet,
        /// Replace, add or remove.
        kind: StoreKind,
        /// `.SILENT`.
        silent: bool,
        /// The flags.
        flags: Vec<Flag>,
        /// CONDSTORE `UNCHANGEDSINCE`.
        unchanged_since: Option<u64>,
        /// `UID STORE`.
        uid: bool,
    },
    /// `[UID] COPY set mailbox`
    Copy {
        /// The messages.
        set: SequenceSet,
        /// The destination.
        mailbox: Mailbox,
        /// `UID COPY`.
        uid: bool,
    },
    /// `[UID] MOVE set mailbox` (RFC 6851)
    Move {
        /// The messages.
        set: SequenceSet,
        /// The destination.
        mailbox: Mailbox,
        /// `UID MOVE`.
        uid: bool,
    },
    /// `[UID] SORT (criteria) charset keys` (RFC 5256)
    Sort {
        /// The sort order.
        criteria: Vec1<SortCriterion>,
        /// The charset.
        charset: AString,
        /// The search keys.
        search: Vec1<SearchKey>,
        /// `UID SORT`.
        uid: bool,
    },
    /// `[UID] THREAD algorithm charset keys` (RFC 5256)
    Thread {
        /// The algorithm.
        algorithm: ThreadAlgorithm,
        /// The charset.
        charset: AString,
        /// The search keys.
        search: Vec1<SearchKey>,
        /// `UID THREAD`.
        uid: bool,
    },
    /// `x-command = "X" atom <experimental command arguments>` (RFC 3501): the name must
    /// start with `X`; the arguments are kept as text (no literals).
    Experimental {
        /// The command name, starting with `X`.
        name: Atom,
        /// Everything after the name and a space, up to CRLF (may be empty).
        arguments: Text,
    },
}

/// A SELECT/EXAMINE parameter (RFC 4466 `select-param`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectParam {
    /// `CONDSTORE` (RFC 7162)
    CondStore,
    /// `QRESYNC (uidvalidity modseq [known-uids [(seq-match)]])` (RFC 7162)
    QResync {
        /// The last known UIDVALIDITY.
        uid_validity: std::num::NonZeroU32,
        /// The last known HIGHESTMODSEQ.
        mod_seq: u64,
        /// The UIDs the client knows.
        known_uids: Option<SequenceSet>,
        /// `(known-sequence-set known-uid-set)`.
        seq_match: Option<(SequenceSet, SequenceSet)>,
    },
}

/// A LIST selection option (RFC 5258, RFC 6154).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListSelectOption {
    /// `SUBSCRIBED`
    Subscribed,
    /// `REMOTE`
    Remote,
    /// `RECURSIVEMATCH`
    RecursiveMatch,
    /// `SPECIAL-USE`
    SpecialUse,
    /// Another option name.
    Other(Atom),
}

/// A LIST return option (RFC 5258, RFC 6154, RFC 5819).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListReturnOption {
    /// `SUBSCRIBED`
    Subscribed,
    /// `CHILDREN`
    Children,
    /// `SPECIAL-USE`
    SpecialUse,
    /// `STATUS (items)` (LIST-STATUS)
    Status(Vec1<StatusItem>),
    /// Another option name.
    Other(Atom),
}

/// A STATUS attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusItem {
    /// `MESSAGES`
    Messages,
    /// `RECENT` (IMAP4rev1)
    Recent,
    /// `UIDNEXT`
    UidNext,
    /// `UIDVALIDITY`
    UidValidity,
    /// `UNSEEN`
    Unseen,
    /// `DELETED` (IMAP4rev2)
    Deleted,
    /// `SIZE` (RFC 8438 STATUS=SIZE)
    Size,
    /// `HIGHESTMODSEQ` (RFC 7162)
    HighestModSeq,
    /// `APPENDLIMIT` (RFC 7889)
    AppendLimit,
    /// `MAILBOXID` (RFC 8474)
    MailboxId,
    /// `DELETED-STORAGE` (RFC 9208)
    DeletedStorage,
}

pub(crate) const STATUS_ITEMS: &[(&str, StatusItem)] = &[
    ("MESSAGES", StatusItem::Messages),
    ("RECENT", StatusItem::Recent),
    ("UIDNEXT", StatusItem::UidNext),
    ("UIDVALIDITY", StatusItem::UidValidity),
    ("UNSEEN", StatusItem::Unseen),
    ("DELETED", StatusItem::Deleted),
    ("SIZE", StatusItem::Size),
    ("HIGHESTMODSEQ", StatusItem::HighestModSeq),
    ("APPENDLIMIT", StatusItem::AppendLimit),
    ("MAILBOXID", StatusItem::MailboxId),
    ("DELETED-STORAGE", StatusItem::DeletedStorage),
];

impl StatusItem {
    /// The item's name.
    pub fn name(self) -> &'static str {
        STATUS_ITEMS
            .iter()
            .find(|(_, i)| *i == self)
            .map_or("", |(n, _)| n)
    }
}

/// One message of APPEND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    /// The flags to set.
    pub flags: Option<Vec<Flag>>,
    /// The internal date.
    pub date: Option<DateTime>,
    /// The message.
    pub data: AppendData,
}

/// The octets of an appended message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendData {
    /// `literal`: no NUL.
    Literal(Vec<u8>),
    /// `literal8` (RFC 3516 BINARY): any octets.
    Binary(Vec<u8>),
    /// `UTF8 (literal8)` (RFC 6855 UTF8=ACCEPT).
    Utf8(Vec<u8>),
}

impl AppendData {
    /// The message octets.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Literal(d) | Self::Binary(d) | Self::Utf8(d) => d,
        }
    }

    /// The message octets, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Self::Literal(d) | Self::Binary(d) | Self::Utf8(d) => d,
        }
    }
}

impl CommandBody {
    /// The command's name as sent (`UID FETCH`, `SELECT`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Capability => "CAPABILITY",
            Self::Noop => "NOOP",
            Self::Logout => "LOGOUT",
            Self::Id(_) => "ID",
            Self::Enable(_) => "ENABLE",
            Self::Compress(_) => "COMPRESS",
            Self::StartTls => "STARTTLS",
            Self::Authenticate { .. } => "AUTHENTICATE",
            Self::Login { .. } => "LOGIN",
            Self::Select { .. } => "SELECT",
            Self::Examine { .. } => "EXAMINE",
            Self::Create { .. } => "CREATE",
            Self::Delete(_) => "DELETE",
            Self::Rename { .. } => "RENAME",
            Self::Subscribe(_) => "SUBSCRIBE",
            Self::Unsubscribe(_) => "UNSUBSCRIBE",
            Self::List { .. } => "LIST",
            Self::Lsub { .. } => "LSUB",
            Self::Namespace => "NAMESPACE",
            Self::Status { .. } => "STATUS",
            Self::Append { .. } => "APPEND",
            Self::Idle => "IDLE",
            Self::GetQuota(_) => "GETQUOTA",
            Self::GetQuotaRoot(_) => "GETQUOTAROOT",
            Self::SetQuota { .. } => "SETQUOTA",
            Self::Check => "CHECK",
            Self::Close => "CLOSE",
            Self::Unselect => "UNSELECT",
            Self::Expunge { uids: None } => "EXPUNGE",
            Self::Expunge { uids: Some(_) } => "UID EXPUNGE",
            Self::Search { uid: false, .. } => "SEARCH",
            Self::Search { uid: true, .. } => "UID SEARCH",
            Self::Fetch { uid: false, .. } => "FETCH",
            Self::Fetch { uid: true, .. } => "UID FETCH",
            Self::Store { uid: false, .. } => "STORE",
            Self::Store { uid: true, .. } => "UID STORE",
            Self::Copy { uid: false, .. } => "COPY",
            Self::Copy { uid: true, .. } => "UID COPY",
            Self::Move { uid: false, .. } => "MOVE",
            Self::Move { uid: true, .. } => "UID MOVE",
            Self::Sort { uid: false, .. } => "SORT",
            Self::Sort { uid: true, .. } => "UID SORT",
            Self::Thread { uid: false, .. } => "THREAD",
            Self::Thread { uid: true, .. } => "UID THREAD",
            Self::Experimental { .. } => "X-COMMAND",
        }
    }
}

/// A line a client sends during AUTHENTICATE (`authenticate` continuation, RFC 9051 §6.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthenticateData {
    /// Decoded base64 (possibly empty).
    Continue(Secret<Vec<u8>>),
    /// `*`: the client cancels.
    Cancel,
}
