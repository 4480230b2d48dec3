//! The IMAP protocol layer: pure and synchronous, no tokio, no sockets, no clocks.
//!
//! * [`types`]: the typed values of both directions ([`Command`], [`Response`], [`Greeting`]
//!   and everything inside them). Constructors validate: a `Tag`, `Atom`, `Text` or
//!   `Mailbox` cannot hold CR or LF or anything else the grammar forbids, so a value that can
//!   be built can be encoded and parsed back.
//! * Parsing: [`decode_command`] (strict: servers), [`decode_response`] (accepts the server
//!   quirks listed in `rfc-notes/rfc3501.md`), [`decode_greeting`],
//!   [`decode_authenticate_data`], [`decode_idle_done`]. They return
//!   [`DecodeError::Incomplete`] on any proper prefix, [`DecodeError::NeedLiteral`] at a
//!   literal announcement, and a [`SyntaxError`] that knows its `BAD` reply.
//! * Encoding: [`Command::encode`] / [`Response::encode`] give [`Encoded`] fragments; a
//!   client waits for `+` before each [`Fragment::Literal`] in [`LiteralMode::Sync`].
//! * [`client::ClientSession`]: tags, pipelining, completions routed by tag.
//! * [`transcript`]: the logic of `mailwire parse imap-command|imap-response`.
//!
//! Frame first, parse second: a driver feeds bytes to [`mailwire_codec::ImapFramer`], which
//! hands out whole messages (literals included), and parses each once.

pub mod client;
mod encode;
mod envelope;
mod parse;
pub mod server;
pub mod transcript;
pub mod types;

pub use mailwire_codec::{LiteralAnnouncement, LiteralMode};

pub use encode::{EncodeOptions, Encoded, Fragment};
pub use envelope::{header_fields_section, parse_address_list};
pub use parse::{
    DecodeError, DecodeOptions, SyntaxError, decode_authenticate_data, decode_command,
    decode_greeting, decode_idle_done, decode_response,
};
pub use types::body::{
    Address, Body, BodyExtension, BodyFields, BodyStructure, DispositionTail, Envelope,
    LanguageTail, LocationTail, MultiPartExtension, SinglePartExtension, SpecificFields,
};
pub use types::capability::Capability;
pub use types::command::{
    AppendData, AppendMessage, AuthenticateData, Command, CommandBody, InitialResponse,
    ListReturnOption, ListSelectOption, Secret, SelectParam, StatusItem,
};
pub use types::core::{
    AString, Atom, IString, NString, ObjectId, Tag, Text, ValidationError, Vec1,
};
pub use types::datetime::{Date, DateTime};
pub use types::fetch::{
    FetchItem, FetchItems, FetchMacro, FetchModifier, MessageData, MsgText, PartText, Partial,
    Section,
};
pub use types::flag::{Flag, FlagFetch, FlagPerm, MailboxAttr, StoreKind};
pub use types::mailbox::{
    ListMailbox, Mailbox, OtherMailbox, decode_utf7, encode_utf7, list_matches,
};
pub use types::response::{
    Code, Completion, Continue, Data, ESearch, ESearchData, ExtValue, Greeting, GreetingKind,
    ListData, NamespaceDescr, QuotaResource, QuotedChar, Response, StatusValue, Tagged, Thread,
    Untagged, UntaggedKind,
};
pub use types::search::{
    EntryType, SearchKey, SearchReturnOption, SortCriterion, SortKey, ThreadAlgorithm,
};
pub use types::sequence::{SeqNum, SeqRange, SequenceSet};
