//! ENVELOPE and BODYSTRUCTURE (RFC 9051 §7.5.2, RFC 3501 §7.4.2), with all extension data.

use super::core::{IString, NString, Vec1};

/// `envelope`: the parsed RFC 5322 header. Empty address lists are sent as `NIL`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// `Date:`
    pub date: NString,
    /// `Subject:` (encoded-words are not decoded)
    pub subject: NString,
    /// `From:`
    pub from: Vec<Address>,
    /// `Sender:`
    pub sender: Vec<Address>,
    /// `Reply-To:`
    pub reply_to: Vec<Address>,
    /// `To:`
    pub to: Vec<Address>,
    /// `Cc:`
    pub cc: Vec<Address>,
    /// `Bcc:`
    pub bcc: Vec<Address>,
    /// `In-Reply-To:`
    pub in_reply_to: NString,
    /// `Message-ID:`
    pub message_id: NString,
}

/// `address = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"`. A group start has
/// a NIL host and the group name as mailbox; a group end has NIL mailbox and host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    /// The display name.
    pub name: NString,
    /// The source route (obsolete).
    pub adl: NString,
    /// The local part (or group name).
    pub mailbox: NString,
    /// The domain.
    pub host: NString,
}

/// `body-fld-param`: attribute/value pairs (`NIL` when empty).
pub type Params = Vec<(IString, IString)>;

/// `body`: one part or a multipart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyStructure {
    /// `body-type-1part`
    Single {
        /// The part.
        body: Body,
        /// `body-ext-1part`
        extension: Option<SinglePartExtension>,
    },
    /// `body-type-mpart`
    Multi {
        /// The parts.
        bodies: Vec1<BodyStructure>,
        /// `media-subtype` (`MIXED`, `ALTERNATIVE`, ...)
        subtype: IString,
        /// `body-ext-mpart`
        extension: Option<MultiPartExtension>,
    },
}

/// One non-multipart part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// `body-fields`
    pub fields: BodyFields,
    /// The media type and what goes with it.
    pub specific: SpecificFields,
}

/// `body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP
/// body-fld-octets`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BodyFields {
    /// `Content-Type` parameters.
    pub parameters: Params,
    /// `Content-ID`
    pub id: NString,
    /// `Content-Description`
    pub description: NString,
    /// `Content-Transfer-Encoding` (`7BIT`, `BASE64`, ...)
    pub encoding: IString,
    /// Size in octets (encoded).
    pub octets: u32,
}

/// The type-specific part of a non-multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecificFields {
    /// `body-type-basic`: any type but `TEXT/*` and `MESSAGE/RFC822` (or `GLOBAL`) with their
    /// extra fields. (A `TEXT` part without a line count parses as this too.)
    Basic {
        /// `media-basic` type.
        r#type: IString,
        /// `media-subtype`.
        subtype: IString,
    },
    /// `body-type-msg`: `MESSAGE/RFC822` or `MESSAGE/GLOBAL`.
    Message {
        /// `RFC822` or `GLOBAL`.
        subtype: IString,
        /// The inner message's envelope.
        envelope: Box<Envelope>,
        /// The inner message's structure.
        body: Box<BodyStructure>,
        /// `body-fld-lines`
        lines: u32,
    },
    /// `body-type-text`: `TEXT/subtype`.
    Text {
        /// `media-subtype`.
        subtype: IString,
        /// `body-fld-lines`
        lines: u32,
    },
}

/// `body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc
/// *(SP body-extension)]]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinglePartExtension {
    /// `body-fld-md5`
    pub md5: NString,
    /// What follows.
    pub tail: Option<DispositionTail>,
}

/// `body-ext-mpart = body-fld-param [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc
/// *(SP body-extension)]]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiPartExtension {
    /// `body-fld-param`
    pub parameters: Params,
    /// What follows.
    pub tail: Option<DispositionTail>,
}

/// `body-fld-dsp` and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispositionTail {
    /// `"(" string SP body-fld-param ")" / nil`
    pub disposition: Option<(IString, Params)>,
    /// What follows.
    pub tail: Option<LanguageTail>,
}

/// `body-fld-lang` and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanguageTail {
    /// `nstring / "(" string *(SP string) ")"`; empty is `NIL`.
    pub language: Vec<IString>,
    /// What follows.
    pub tail: Option<LocationTail>,
}

/// `body-fld-loc *(SP body-extension)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationTail {
    /// `body-fld-loc = nstring`
    pub location: NString,
    /// Future extensions.
    pub extensions: Vec<BodyExtension>,
}

/// `body-extension = nstring / number / number64 / "(" body-extension *(SP body-extension) ")"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyExtension {
    /// A string or NIL.
    NString(NString),
    /// A number.
    Number(u64),
    /// A list.
    List(Vec1<BodyExtension>),
}
