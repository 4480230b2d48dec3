//! FETCH: the items a client asks for (`fetch-att`) and the data a server returns
//! (`msg-att`), RFC 9051 §6.4.5 / §7.5.2, with BINARY (RFC 3516), CONDSTORE `MODSEQ` (RFC
//! 7162) and OBJECTID `EMAILID`/`THREADID` (RFC 8474).

use std::num::NonZeroU32;

use super::body::{BodyStructure, Envelope};
use super::core::{AString, NString, ObjectId, ValidationError, Vec1};
use super::datetime::DateTime;
use super::flag::FlagFetch;

/// `section-part = nz-number *("." nz-number)`: a MIME part path.
pub type Part = Vec1<NonZeroU32>;

/// `section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MsgText {
    /// `HEADER`
    Header,
    /// `HEADER.FIELDS (names)`
    HeaderFields(Vec1<AString>),
    /// `HEADER.FIELDS.NOT (names)`
    HeaderFieldsNot(Vec1<AString>),
    /// `TEXT`
    Text,
}

/// What follows a part number: `section-text = section-msgtext / "MIME"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PartText {
    /// A message-text specifier (for a part that is a `message/rfc822`).
    Msg(MsgText),
    /// `MIME`: the part's MIME header.
    Mime,
}

/// `section = "[" [section-spec] "]"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Section {
    /// `[]`, `[HEADER]`, `[TEXT]`, `[HEADER.FIELDS (…)]`: the whole message or its top level.
    Top(Option<MsgText>),
    /// `[1.2]`, `[1.2.MIME]`, `[3.HEADER]`: a part.
    Part(Part, Option<PartText>),
}

/// `<origin.count>` of a partial fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Partial {
    /// The first octet (0-based).
    pub origin: u32,
    /// How many octets.
    pub count: NonZeroU32,
}

/// The macros `ALL`, `FAST`, `FULL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FetchMacro {
    /// `ALL` = `(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)`
    All,
    /// `FAST` = `(FLAGS INTERNALDATE RFC822.SIZE)`
    Fast,
    /// `FULL` = `(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY)`
    Full,
}

/// What FETCH asks for: a macro, or one or more items.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FetchItems {
    /// A macro.
    Macro(FetchMacro),
    /// Items; one is written without parentheses.
    Items(Vec1<FetchItem>),
}

/// One `fetch-att`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FetchItem {
    /// `ENVELOPE`
    Envelope,
    /// `FLAGS`
    Flags,
    /// `INTERNALDATE`
    InternalDate,
    /// `RFC822` (IMAP4rev1)
    Rfc822,
    /// `RFC822.HEADER` (IMAP4rev1)
    Rfc822Header,
    /// `RFC822.SIZE`
    Rfc822Size,
    /// `RFC822.TEXT` (IMAP4rev1)
    Rfc822Text,
    /// `BODY` (the structure without extension data)
    Body,
    /// `BODYSTRUCTURE`
    BodyStructure,
    /// `UID`
    Uid,
    /// `BODY[section]<partial>` or `BODY.PEEK[...]`.
    BodySection {
        /// `BODY.PEEK`: do not set `\Seen`.
        peek: bool,
        /// The section.
        section: Section,
        /// The octet range.
        partial: Option<Partial>,
    },
    /// `BINARY[part]<partial>` or `BINARY.PEEK[...]` (RFC 3516).
    Binary {
        /// `BINARY.PEEK`.
        peek: bool,
        /// The part (empty: the whole message).
        part: Vec<NonZeroU32>,
        /// The octet range.
        partial: Option<Partial>,
    },
    /// `BINARY.SIZE[part]` (RFC 3516).
    BinarySize {
        /// The part.
        part: Vec<NonZeroU32>,
    },
    /// `MODSEQ` (RFC 7162)
    ModSeq,
    /// `EMAILID` (RFC 8474)
    EmailId,
    /// `THREADID` (RFC 8474)
    ThreadId,
}

/// A FETCH modifier (RFC 4466 `fetch-modifier`): `CHANGEDSINCE n`, `VANISHED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FetchModifier {
    /// `CHANGEDSINCE mod-sequence` (RFC 7162)
    ChangedSince(u64),
    /// `VANISHED` (RFC 7162 QRESYNC, UID FETCH only)
    Vanished,
}

/// One item of a FETCH response (`msg-att`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageData {
    /// `FLAGS (…)`
    Flags(Vec<FlagFetch>),
    /// `ENVELOPE (…)`
    Envelope(Box<Envelope>),
    /// `INTERNALDATE "…"`
    InternalDate(DateTime),
    /// `RFC822 nstring`
    Rfc822(NString),
    /// `RFC822.HEADER nstring`
    Rfc822Header(NString),
    /// `RFC822.TEXT nstring`
    Rfc822Text(NString),
    /// `RFC822.SIZE n`
    Rfc822Size(u64),
    /// `BODY (…)`: the structure (servers send no extension data here).
    Body(Box<BodyStructure>),
    /// `BODYSTRUCTURE (…)`
    BodyStructure(Box<BodyStructure>),
    /// `BODY[section]<origin> nstring`
    BodySection {
        /// The section.
        section: Section,
        /// The origin octet of a partial fetch.
        origin: Option<u32>,
        /// The data.
        data: NString,
    },
    /// `BINARY[part]<origin> (nstring / literal8)` (RFC 3516 §4.2); `None` is `NIL`.
    Binary {
        /// The part.
        part: Vec<NonZeroU32>,
        /// The origin octet of a partial fetch (`BINARY[1]<0>`).
        origin: Option<u32>,
        /// The decoded octets (may hold NUL: sent as `~{n}`).
        data: Option<Vec<u8>>,
    },
    /// `BINARY.SIZE[part] n`
    BinarySize {
        /// The part.
        part: Vec<NonZeroU32>,
        /// The decoded size.
        size: u64,
    },
    /// `UID n`
    Uid(NonZeroU32),
    /// `MODSEQ (n)` (RFC 7162)
    ModSeq(u64),
    /// `EMAILID (id)` (RFC 8474)
    EmailId(ObjectId),
    /// `THREADID (id)` or `THREADID NIL` (RFC 8474)
    ThreadId(Option<ObjectId>),
}

impl Section {
    /// `[part]` from a path of part numbers (none of them zero).
    pub fn part(path: &[u32]) -> Result<Self, ValidationError> {
        let nums: Option<Vec<NonZeroU32>> = path.iter().map(|&n| NonZeroU32::new(n)).collect();
        let nums = nums.ok_or(ValidationError::new("section", "part numbers start at 1"))?;
        Ok(Self::Part(Vec1::try_from(nums)?, None))
    }
}
