//! SEARCH keys as a tree (RFC 9051 §6.4.4, RFC 3501 §6.4.4), with the CONDSTORE `MODSEQ`
//! key (RFC 7162), OBJECTID's `EMAILID`/`THREADID` (RFC 8474), ESEARCH return options (RFC
//! 4731), SEARCHRES `SAVE` (RFC 5182), and SORT/THREAD criteria (RFC 5256).

use super::core::{AString, Atom, IString, ObjectId, Vec1};
use super::datetime::Date;
use super::sequence::SequenceSet;

/// One search key. A list of keys means all of them (`AND`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SearchKey {
    /// `ALL`
    All,
    /// `ANSWERED`
    Answered,
    /// `BCC string`
    Bcc(AString),
    /// `BEFORE date`
    Before(Date),
    /// `BODY string`
    Body(AString),
    /// `CC string`
    Cc(AString),
    /// `DELETED`
    Deleted,
    /// `DRAFT`
    Draft,
    /// `FLAGGED`
    Flagged,
    /// `FROM string`
    From(AString),
    /// `HEADER field-name string`
    Header(AString, AString),
    /// `KEYWORD flag-keyword`
    Keyword(Atom),
    /// `LARGER n`
    Larger(u64),
    /// `NEW` (IMAP4rev1)
    New,
    /// `NOT key`
    Not(Box<SearchKey>),
    /// `OLD` (IMAP4rev1)
    Old,
    /// `ON date`
    On(Date),
    /// `OR key key`
    Or(Box<SearchKey>, Box<SearchKey>),
    /// `RECENT` (IMAP4rev1)
    Recent,
    /// `SEEN`
    Seen,
    /// `SENTBEFORE date`
    SentBefore(Date),
    /// `SENTON date`
    SentOn(Date),
    /// `SENTSINCE date`
    SentSince(Date),
    /// `SINCE date`
    Since(Date),
    /// `SMALLER n`
    Smaller(u64),
    /// `SUBJECT string`
    Subject(AString),
    /// `TEXT string`
    Text(AString),
    /// `TO string`
    To(AString),
    /// `UID sequence-set`
    Uid(SequenceSet),
    /// `UNANSWERED`
    Unanswered,
    /// `UNDELETED`
    Undeleted,
    /// `UNDRAFT`
    Undraft,
    /// `UNFLAGGED`
    Unflagged,
    /// `UNKEYWORD flag-keyword`
    Unkeyword(Atom),
    /// `UNSEEN`
    Unseen,
    /// A bare sequence set (or `$`).
    SequenceSet(SequenceSet),
    /// `( key *(SP key) )`.
    And(Vec1<SearchKey>),
    /// `MODSEQ [entry-name SP entry-type-req] mod-sequence-valzer` (RFC 7162).
    ModSeq {
        /// The metadata item and its type (`"/flags/\\draft" all`).
        entry: Option<(IString, EntryType)>,
        /// The modification sequence.
        modseq: u64,
    },
    /// `EMAILID objectid` (RFC 8474)
    EmailId(ObjectId),
    /// `THREADID objectid` (RFC 8474)
    ThreadId(ObjectId),
    /// `OLDER n` (RFC 5032 WITHIN)
    Older(u32),
    /// `YOUNGER n` (RFC 5032 WITHIN)
    Younger(u32),
}

/// `entry-type-req = entry-type-resp / "all"` (RFC 7162).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryType {
    /// `priv`
    Private,
    /// `shared`
    Shared,
    /// `all`
    All,
}

/// An ESEARCH return option (RFC 4731, RFC 5182): `RETURN (MIN MAX ALL COUNT SAVE)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchReturnOption {
    /// `MIN`
    Min,
    /// `MAX`
    Max,
    /// `ALL`
    All,
    /// `COUNT`
    Count,
    /// `SAVE` (SEARCHRES)
    Save,
}

/// A SORT key (RFC 5256, RFC 5957).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortKey {
    /// `ARRIVAL`
    Arrival,
    /// `CC`
    Cc,
    /// `DATE`
    Date,
    /// `FROM`
    From,
    /// `SIZE`
    Size,
    /// `SUBJECT`
    Subject,
    /// `TO`
    To,
    /// `DISPLAYFROM` (RFC 5957)
    DisplayFrom,
    /// `DISPLAYTO` (RFC 5957)
    DisplayTo,
}

/// `sort-criterion = ["REVERSE" SP] sort-key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SortCriterion {
    /// `REVERSE`.
    pub reverse: bool,
    /// The key.
    pub key: SortKey,
}

/// A THREAD algorithm: `ORDEREDSUBJECT`, `REFERENCES`, or another atom.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ThreadAlgorithm {
    /// `ORDEREDSUBJECT`
    OrderedSubject,
    /// `REFERENCES`
    References,
    /// Another algorithm.
    Other(Atom),
}

impl ThreadAlgorithm {
    pub(crate) fn from_atom(a: Atom) -> Self {
        if a.eq_ignore_case("ORDEREDSUBJECT") {
            Self::OrderedSubject
        } else if a.eq_ignore_case("REFERENCES") {
            Self::References
        } else {
            Self::Other(a)
        }
    }
}
