//! Responses (RFC 9051 §7, RFC 3501 §7): the greeting, status responses with every response
//! code, untagged data and continuation requests.

use std::num::NonZeroU32;

use super::capability::Capability;
use super::command::StatusItem;
use super::core::{AString, Atom, IString, NString, ObjectId, Tag, Text, Vec1};
use super::fetch::MessageData;
use super::flag::{Flag, FlagPerm, MailboxAttr};
use super::mailbox::Mailbox;
use super::sequence::SequenceSet;

/// The server's first message: `greeting = "*" SP (resp-cond-auth / resp-cond-bye) CRLF`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// `OK`, `PREAUTH` or `BYE`.
    pub kind: GreetingKind,
    /// An optional response code (often `CAPABILITY`).
    pub code: Option<Code>,
    /// Human-readable text.
    pub text: Text,
}

/// The kind of greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GreetingKind {
    /// `OK`: not authenticated yet.
    Ok,
    /// `PREAUTH`: already authenticated.
    PreAuth,
    /// `BYE`: the server refuses the connection.
    Bye,
}

/// Any message a server sends after the greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// A tagged completion (`tag OK/NO/BAD`).
    Tagged(Tagged),
    /// An untagged status (`* OK/NO/BAD/BYE`).
    Untagged(Untagged),
    /// Untagged data (`* 3 EXISTS`, `* LIST …`).
    Data(Data),
    /// A continuation request (`+ …`).
    Continue(Continue),
}

/// `OK`, `NO`, `BAD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Completion {
    /// `OK`
    Ok,
    /// `NO`
    No,
    /// `BAD`
    Bad,
}

/// A tagged status response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    /// The command's tag.
    pub tag: Tag,
    /// The outcome.
    pub kind: Completion,
    /// The response code.
    pub code: Option<Code>,
    /// Human-readable text.
    pub text: Text,
}

/// The kind of an untagged status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UntaggedKind {
    /// `OK`
    Ok,
    /// `NO`
    No,
    /// `BAD`
    Bad,
    /// `BYE`
    Bye,
}

/// An untagged status response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untagged {
    /// OK, NO, BAD or BYE.
    pub kind: UntaggedKind,
    /// The response code.
    pub code: Option<Code>,
    /// Human-readable text.
    pub text: Text,
}

/// A continuation request: `"+" SP (resp-text / base64) CRLF`. The text is kept as sent;
/// during AUTHENTICATE it is a base64 challenge ([`Continue::decode_base64`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continue {
    /// A response code.
    pub code: Option<Code>,
    /// The text (or base64 challenge).
    pub text: Text,
}

impl Continue {
    /// A request carrying a SASL challenge.
    pub fn base64(challenge: &[u8]) -> Self {
        use base64::Engine;
        let text = base64::engine::general_purpose::STANDARD.encode(challenge);
        Self {
            code: None,
            text: Text::unvalidated(text.as_bytes()),
        }
    }

    /// The text decoded as a base64 challenge, when it is one.
    pub fn decode_base64(&self) -> Option<Vec<u8>> {
        use base64::Engine;
        if self.code.is_some() {
            return None;
        }
        base64::engine::general_purpose::STANDARD
            .decode(self.text.as_bytes())
            .ok()
    }
}

/// A response code (`resp-text-code`), from RFC 9051 §7.1, RFC 5530 and the extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Code {
    /// `ALERT`
    Alert,
    /// `BADCHARSET [(charsets)]`
    BadCharset(Vec<AString>),
    /// `CAPABILITY …`
    Capability(Vec1<Capability>),
    /// `PARSE`
    Parse,
    /// `PERMANENTFLAGS (…)`
    PermanentFlags(Vec<FlagPerm>),
    /// `READ-ONLY`
    ReadOnly,
    /// `READ-WRITE`
    ReadWrite,
    /// `TRYCREATE`
    TryCreate,
    /// `UIDNEXT n`
    UidNext(NonZeroU32),
    /// `UIDVALIDITY n`
    UidValidity(NonZeroU32),
    /// `UNSEEN n` (IMAP4rev1)
    Unseen(NonZeroU32),
    /// `UNAVAILABLE` (RFC 5530)
    Unavailable,
    /// `AUTHENTICATIONFAILED`
    AuthenticationFailed,
    /// `AUTHORIZATIONFAILED`
    AuthorizationFailed,
    /// `EXPIRED`
    Expired,
    /// `PRIVACYREQUIRED`
    PrivacyRequired,
    /// `CONTACTADMIN`
    ContactAdmin,
    /// `NOPERM`
    NoPerm,
    /// `INUSE`
    InUse,
    /// `EXPUNGEISSUED`
    ExpungeIssued,
    /// `CORRUPTION`
    Corruption,
    /// `SERVERBUG`
    ServerBug,
    /// `CLIENTBUG`
    ClientBug,
    /// `CANNOT`
    CanNot,
    /// `LIMIT`
    Limit,
    /// `OVERQUOTA`
    OverQuota,
    /// `ALREADYEXISTS`
    AlreadyExists,
    /// `NONEXISTENT`
    NonExistent,
    /// `APPENDUID uidvalidity uid-set` (RFC 4315)
    AppendUid {
        /// The destination's UIDVALIDITY.
        uid_validity: NonZeroU32,
        /// The new UIDs.
        uids: SequenceSet,
    },
    /// `COPYUID uidvalidity source-set dest-set` (RFC 4315)
    CopyUid {
        /// The destination's UIDVALIDITY.
        uid_validity: NonZeroU32,
        /// The source UIDs.
        source: SequenceSet,
        /// The destination UIDs.
        destination: SequenceSet,
    },
    /// `UIDNOTSTICKY` (RFC 4315)
    UidNotSticky,
    /// `HIGHESTMODSEQ n` (RFC 7162)
    HighestModSeq(u64),
    /// `NOMODSEQ` (RFC 7162)
    NoModSeq,
    /// `MODIFIED set` (RFC 7162)
    Modified(SequenceSet),
    /// `CLOSED` (RFC 7162 QRESYNC)
    Closed,
    /// `NOTSAVED` (RFC 5182)
    NotSaved,
    /// `COMPRESSIONACTIVE` (RFC 4978)
    CompressionActive,
    /// `UNKNOWN-CTE` (RFC 3516)
    UnknownCte,
    /// `USEATTR` (RFC 6154)
    UseAttr,
    /// `TOOBIG` (RFC 4469, used by APPENDLIMIT)
    TooBig,
    /// `HASCHILDREN` (RFC 9051)
    HasChildren,
    /// `MAILBOXID (id)` (RFC 8474)
    MailboxId(ObjectId),
    /// `REFERRAL url` (RFC 2221)
    Referral(Vec<u8>),
    /// Any other code: an atom and optional text up to `]`.
    Other(Atom, Option<Vec<u8>>),
}

/// Untagged data.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Data {
    /// `CAPABILITY …`
    Capability(Vec1<Capability>),
    /// `ENABLED …` (RFC 5161)
    Enabled(Vec<Capability>),
    /// `LIST …`
    List(ListData),
    /// `LSUB …` (IMAP4rev1)
    Lsub(ListData),
    /// `STATUS mailbox (…)`
    Status {
        /// The mailbox.
        mailbox: Mailbox,
        /// The values.
        items: Vec<StatusValue>,
    },
    /// `SEARCH n…` (with the CONDSTORE `(MODSEQ n)`)
    Search {
        /// The matching numbers.
        nums: Vec<NonZeroU32>,
        /// The highest mod-sequence of the matches.
        modseq: Option<u64>,
    },
    /// `ESEARCH …` (RFC 4731)
    ESearch(ESearch),
    /// `FLAGS (…)`
    Flags(Vec<Flag>),
    /// `n EXISTS`
    Exists(u32),
    /// `n RECENT` (IMAP4rev1)
    Recent(u32),
    /// `n EXPUNGE`
    Expunge(NonZeroU32),
    /// `VANISHED [(EARLIER)] uids` (RFC 7162)
    Vanished {
        /// `(EARLIER)`: about messages expunged before this session.
        earlier: bool,
        /// The UIDs.
        uids: SequenceSet,
    },
    /// `n FETCH (…)`
    Fetch {
        /// The message sequence number.
        seq: NonZeroU32,
        /// The data items.
        items: Vec1<MessageData>,
    },
    /// `ID (…)` / `ID NIL` (RFC 2971)
    Id(Option<Vec<(IString, NString)>>),
    /// `NAMESPACE personal other shared` (RFC 2342)
    Namespace {
        /// Personal namespaces.
        personal: Vec<NamespaceDescr>,
        /// Other users' namespaces.
        other: Vec<NamespaceDescr>,
        /// Shared namespaces.
        shared: Vec<NamespaceDescr>,
    },
    /// `QUOTA root (resource usage limit …)` (RFC 9208)
    Quota {
        /// The quota root.
        root: AString,
        /// The resources.
        resources: Vec<QuotaResource>,
    },
    /// `QUOTAROOT mailbox root…` (RFC 9208)
    QuotaRoot {
        /// The mailbox.
        mailbox: Mailbox,
        /// Its quota roots.
        roots: Vec<AString>,
    },
    /// `SORT n…` (RFC 5256, with the CONDSTORE `(MODSEQ n)`)
    Sort {
        /// The numbers in order.
        nums: Vec<NonZeroU32>,
        /// The highest mod-sequence.
        modseq: Option<u64>,
    },
    /// `THREAD (…)…` (RFC 5256)
    Thread(Vec<Thread>),
    /// Untagged data this crate does not know (`* XPIG-LATIN …`): clients ignore it.
    Other {
        /// The response name.
        name: Atom,
        /// The rest of the line (no literals).
        text: Text,
    },
}

/// The body of a LIST or LSUB response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListData {
    /// Mailbox attributes.
    pub attributes: Vec<MailboxAttr>,
    /// The hierarchy delimiter (`None`: NIL, a flat namespace). A 7-bit character.
    pub delimiter: Option<QuotedChar>,
    /// The mailbox.
    pub mailbox: Mailbox,
    /// LIST-EXTENDED data (`CHILDINFO`, `OLDNAME`, ...).
    pub extended: Vec<(AString, ExtValue)>,
}

/// A character in a quoted string: `QUOTED-CHAR`, 7-bit here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QuotedChar(u8);

impl QuotedChar {
    /// A 7-bit character other than NUL, CR and LF.
    pub fn new(c: char) -> Result<Self, super::core::ValidationError> {
        match u8::try_from(c) {
            Ok(b) if (1..0x80).contains(&b) && b != b'\r' && b != b'\n' => Ok(Self(b)),
            _ => Err(super::core::ValidationError::new(
                "delimiter",
                "must be a 7-bit character other than NUL, CR and LF",
            )),
        }
    }

    pub(crate) fn unvalidated(b: u8) -> Self {
        Self(b)
    }

    /// The character.
    pub fn as_char(self) -> char {
        char::from(self.0)
    }
}

/// `tagged-ext-val` (RFC 4466) of LIST-EXTENDED and ESEARCH extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtValue {
    /// A number.
    Number(u64),
    /// A sequence set.
    SequenceSet(SequenceSet),
    /// A string (always sent quoted or as a literal).
    String(IString),
    /// `( … )`
    List(Vec<ExtValue>),
}

/// One STATUS value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusValue {
    /// A numeric item.
    Number(StatusItem, u64),
    /// `MAILBOXID (id)` (RFC 8474).
    MailboxId(ObjectId),
    /// `APPENDLIMIT NIL` (RFC 7889): no limit.
    NoAppendLimit,
}

/// `ESEARCH [(TAG "tag")] [UID] *(SP search-return-data)` (RFC 4731).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ESearch {
    /// The tag of the SEARCH this answers.
    pub tag: Option<Tag>,
    /// The numbers are UIDs.
    pub uid: bool,
    /// The results.
    pub data: Vec<ESearchData>,
}

/// `search-return-data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ESearchData {
    /// `MIN n`
    Min(NonZeroU32),
    /// `MAX n`
    Max(NonZeroU32),
    /// `ALL set`
    All(SequenceSet),
    /// `COUNT n`
    Count(u32),
    /// `MODSEQ n` (RFC 7162)
    ModSeq(u64),
    /// Another `tagged-ext`.
    Other(Atom, ExtValue),
}

/// `Namespace-Descr = "(" string SP (DQUOTE QUOTED-CHAR DQUOTE / nil) *ext ")"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceDescr {
    /// The prefix.
    pub prefix: IString,
    /// The hierarchy delimiter.
    pub delimiter: Option<QuotedChar>,
    /// `Namespace-Response-Extension`s: a name and one or more values.
    pub extensions: Vec<(IString, Vec1<IString>)>,
}

/// `quota-resource = resource-name SP resource-usage SP resource-limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaResource {
    /// `STORAGE`, `MESSAGE`, ...
    pub name: Atom,
    /// Usage.
    pub usage: u64,
    /// Limit.
    pub limit: u64,
}

/// A thread (RFC 5256): a chain of messages, then two or more sub-threads (or none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    /// The chain (may be empty when the thread starts with sub-threads).
    pub members: Vec<NonZeroU32>,
    /// The sub-threads: none, or at least two.
    pub children: Vec<Thread>,
}
