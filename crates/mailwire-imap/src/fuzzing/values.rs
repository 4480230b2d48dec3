//! Builds valid values from arbitrary bytes, for the structure-aware fuzz targets and the
//! property tests: every value built here must encode and parse back to itself.

use std::num::NonZeroU32;

use crate::proto::*;

/// A reader of arbitrary bytes that never fails: past the end it yields zeros.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Source<'a> {
    /// Reads from `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Whether all bytes were used.
    pub fn is_exhausted(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The next byte (0 past the end).
    pub fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        let v = (usize::from(self.byte()) << 8) | usize::from(self.byte());
        v % n.max(1)
    }

    /// A coin toss.
    pub fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    /// A length up to `max`, biased to short.
    pub fn len(&mut self, max: usize) -> usize {
        if self.is_exhausted() {
            return 0;
        }
        let b = usize::from(self.byte());
        (b % 8).min(max) + if b > 250 { self.below(max + 1) } else { 0 }.min(max)
    }

    /// A u32.
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    /// A u64 within `number64` (up to 2^63-1).
    pub fn u63(&mut self) -> u64 {
        let hi = u64::from(self.u32()) & 0x7fff_ffff;
        (hi << 32) | u64::from(self.u32())
    }

    /// A non-zero u32.
    pub fn nz(&mut self) -> NonZeroU32 {
        NonZeroU32::new(self.u32()).unwrap_or(NonZeroU32::MIN)
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    fn string_from(&mut self, alphabet: &[u8], min: usize, max: usize) -> Vec<u8> {
        let n = (min + self.len(max)).min(max.max(min));
        (0..n)
            .map(|_| alphabet[self.below(alphabet.len())])
            .collect()
    }
}

const ATOM_CHARS: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#&'+,-./:;<=>?@^_`|~$";
const TEXT_CHARS: &[u8] = b"abc XYZ 012 .,;:!?()-_/ \"\\'*%]#";

/// An atom.
pub fn atom(s: &mut Source<'_>) -> Atom {
    let mut v = s.string_from(ATOM_CHARS, 1, 12);
    if v.is_empty() {
        v.push(b'a');
    }
    Atom::new(String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_else(|_| Atom::new("a").unwrap_or_else(|_| unreachable!()))
}

/// An atom no extension or keyword of this crate uses (`X-` prefix).
pub fn x_atom(s: &mut Source<'_>) -> Atom {
    let a = atom(s);
    Atom::new(format!("X-{}", a.as_str())).unwrap_or(a)
}

/// A tag.
pub fn tag(s: &mut Source<'_>) -> Tag {
    let v: String = s
        .string_from(b"abcXYZ0123456789.]-", 1, 8)
        .into_iter()
        .map(char::from)
        .collect();
    Tag::new(format!("t{v}")).unwrap_or_else(|_| unreachable!("tag characters"))
}

/// String content: anything but NUL, including CR, LF, quotes, UTF-8 and long runs.
pub fn content(s: &mut Source<'_>) -> Vec<u8> {
    match s.below(6) {
        0 => Vec::new(),
        1 => s.string_from(ATOM_CHARS, 1, 10),
        2 => s.string_from(TEXT_CHARS, 0, 20),
        3 => "Grüße 日本 \r\n\"x\\".as_bytes().to_vec(),
        4 => {
            let n = s.len(40) * 50;
            vec![b'z'; n]
        }
        _ => (0..s.len(16)).map(|_| s.byte().max(1)).collect(),
    }
}

/// An astring.
pub fn astring(s: &mut Source<'_>) -> AString {
    AString::new(content(s)).unwrap_or_default()
}

/// A string.
pub fn istring(s: &mut Source<'_>) -> IString {
    IString::new(content(s)).unwrap_or_default()
}

/// An nstring.
pub fn nstring(s: &mut Source<'_>) -> NString {
    if s.bool() { Some(istring(s)) } else { None }
}

/// Text for resp-text: no CR/LF, never starting with `[`, never ending with `}`.
pub fn text(s: &mut Source<'_>) -> Text {
    let mut v = s.string_from(TEXT_CHARS, 0, 30);
    if v.first() == Some(&b'[') {
        v[0] = b'x';
    }
    if s.bool() {
        v.extend_from_slice("ü".as_bytes());
    }
    Text::new(v).unwrap_or_default()
}

/// A mailbox.
pub fn mailbox(s: &mut Source<'_>) -> Mailbox {
    if s.below(4) == 0 {
        return Mailbox::Inbox;
    }
    Mailbox::new(content(s)).unwrap_or(Mailbox::Inbox)
}

/// A LIST pattern.
pub fn list_mailbox(s: &mut Source<'_>) -> ListMailbox {
    let v = if s.bool() {
        s.string_from(b"abc%*/.]", 1, 8)
    } else {
        content(s)
    };
    ListMailbox::new(v).unwrap_or_else(|_| unreachable!("no NUL"))
}

fn seq_num(s: &mut Source<'_>) -> SeqNum {
    if s.below(5) == 0 {
        SeqNum::Largest
    } else {
        SeqNum::Value(s.nz())
    }
}

/// A sequence set (or `$` when `saved`).
pub fn seq_set(s: &mut Source<'_>, saved: bool) -> SequenceSet {
    if saved && s.below(6) == 0 {
        return SequenceSet::Saved;
    }
    let n = 1 + s.len(4);
    let ranges = (0..n)
        .map(|_| {
            if s.bool() {
                SeqRange::Single(seq_num(s))
            } else {
                SeqRange::Range(seq_num(s), seq_num(s))
            }
        })
        .collect();
    SequenceSet::new(ranges).unwrap_or_else(|_| SequenceSet::all())
}

/// A storable flag.
pub fn flag(s: &mut Source<'_>) -> Flag {
    match s.below(7) {
        0 => Flag::Seen,
        1 => Flag::Answered,
        2 => Flag::Flagged,
        3 => Flag::Deleted,
        4 => Flag::Draft,
        5 => Flag::Keyword(atom(s)),
        _ => Flag::Extension(x_atom(s)),
    }
}

/// A date.
pub fn date(s: &mut Source<'_>) -> Date {
    Date::new(
        (s.u32() % 10000) as u16,
        1 + (s.byte() % 12),
        1 + (s.byte() % 28),
    )
    .unwrap_or_else(|_| unreachable!("valid by construction"))
}

/// A date-time.
pub fn date_time(s: &mut Source<'_>) -> DateTime {
    let zone = (s.u32() % 11999) as i16 - 5999;
    DateTime::new(date(s), s.byte() % 24, s.byte() % 60, s.byte() % 61, zone)
        .unwrap_or_else(|_| unreachable!("valid by construction"))
}

fn boxed(k: SearchKey) -> Box<SearchKey> {
    Box::new(k)
}

/// A search key, at most `depth` levels deep.
pub fn search_key(s: &mut Source<'_>, depth: usize) -> SearchKey {
    let leaf = s.below(if depth == 0 { 40 } else { 44 });
    match leaf {
        0 => SearchKey::All,
        1 => SearchKey::Answered,
        2 => SearchKey::Bcc(astring(s)),
        3 => SearchKey::Before(date(s)),
        4 => SearchKey::Body(astring(s)),
        5 => SearchKey::Cc(astring(s)),
        6 => SearchKey::Deleted,
        7 => SearchKey::Draft,
        8 => SearchKey::Flagged,
        9 => SearchKey::From(astring(s)),
        10 => SearchKey::Header(astring(s), astring(s)),
        11 => SearchKey::Keyword(atom(s)),
        12 => SearchKey::Larger(s.u63()),
        13 => SearchKey::New,
        14 => SearchKey::Old,
        15 => SearchKey::On(date(s)),
        16 => SearchKey::Recent,
        17 => SearchKey::Seen,
        18 => SearchKey::SentBefore(date(s)),
        19 => SearchKey::SentOn(date(s)),
        20 => SearchKey::SentSince(date(s)),
        21 => SearchKey::Since(date(s)),
        22 => SearchKey::Smaller(s.u63()),
        23 => SearchKey::Subject(astring(s)),
        24 => SearchKey::Text(astring(s)),
        25 => SearchKey::To(astring(s)),
        26 => SearchKey::Uid(seq_set(s, true)),
        27 => SearchKey::Unanswered,
        28 => SearchKey::Undeleted,
        29 => SearchKey::Undraft,
        30 => SearchKey::Unflagged,
        31 => SearchKey::Unkeyword(atom(s)),
        32 => SearchKey::Unseen,
        33 => SearchKey::SequenceSet(seq_set(s, true)),
        34 => SearchKey::ModSeq {
            entry: if s.bool() {
                Some((
                    istring(s),
                    s.pick(&[EntryType::Private, EntryType::Shared, EntryType::All]),
                ))
            } else {
                None
            },
            modseq: s.u63(),
        },
        35 => SearchKey::EmailId(objectid(s)),
        36 => SearchKey::ThreadId(objectid(s)),
        37 => SearchKey::Older(s.u32()),
        38 => SearchKey::Younger(s.u32()),
        39 => SearchKey::Unseen,
        40 => SearchKey::Not(boxed(search_key(s, depth - 1))),
        41 => SearchKey::Or(
            boxed(search_key(s, depth - 1)),
            boxed(search_key(s, depth - 1)),
        ),
        _ => {
            let n = 1 + s.len(3);
            let keys = (0..n).map(|_| search_key(s, depth - 1)).collect::<Vec<_>>();
            SearchKey::And(Vec1::try_from(keys).unwrap_or_else(|_| Vec1::one(SearchKey::All)))
        }
    }
}

/// An object id.
pub fn objectid(s: &mut Source<'_>) -> ObjectId {
    let v: String = s
        .string_from(b"abcXYZ019_-", 1, 20)
        .into_iter()
        .map(char::from)
        .collect();
    ObjectId::new(format!("M{v}")).unwrap_or_else(|_| unreachable!("objectid characters"))
}

fn vec1<T>(s: &mut Source<'_>, max: usize, mut f: impl FnMut(&mut Source<'_>) -> T) -> Vec1<T> {
    let first = f(s);
    let mut v = Vec1::one(first);
    for _ in 0..s.len(max) {
        v.push(f(s));
    }
    v
}

fn vec<T>(s: &mut Source<'_>, max: usize, mut f: impl FnMut(&mut Source<'_>) -> T) -> Vec<T> {
    (0..s.len(max)).map(|_| f(s)).collect()
}

fn part(s: &mut Source<'_>) -> Vec<NonZeroU32> {
    vec(s, 3, |s| {
        NonZeroU32::new(1 + s.u32() % 50).unwrap_or(NonZeroU32::MIN)
    })
}

fn msg_text(s: &mut Source<'_>) -> MsgText {
    match s.below(4) {
        0 => MsgText::Header,
        1 => MsgText::Text,
        2 => MsgText::HeaderFields(vec1(s, 3, astring)),
        _ => MsgText::HeaderFieldsNot(vec1(s, 3, astring)),
    }
}

/// A section.
pub fn section(s: &mut Source<'_>) -> Section {
    if s.bool() {
        Section::Top(if s.bool() { Some(msg_text(s)) } else { None })
    } else {
        let p = vec1(s, 3, |s| {
            NonZeroU32::new(1 + s.u32() % 50).unwrap_or(NonZeroU32::MIN)
        });
        let t = match s.below(3) {
            0 => None,
            1 => Some(PartText::Mime),
            _ => Some(PartText::Msg(msg_text(s))),
        };
        Section::Part(p, t)
    }
}

fn partial(s: &mut Source<'_>) -> Option<Partial> {
    s.bool().then(|| Partial {
        origin: s.u32(),
        count: s.nz(),
    })
}

/// A fetch item.
pub fn fetch_item(s: &mut Source<'_>) -> FetchItem {
    match s.below(17) {
        0 => FetchItem::Envelope,
        1 => FetchItem::Flags,
        2 => FetchItem::InternalDate,
        3 => FetchItem::Rfc822,
        4 => FetchItem::Rfc822Header,
        5 => FetchItem::Rfc822Size,
        6 => FetchItem::Rfc822Text,
        7 => FetchItem::Body,
        8 => FetchItem::BodyStructure,
        9 => FetchItem::Uid,
        10 => FetchItem::ModSeq,
        11 => FetchItem::EmailId,
        12 => FetchItem::ThreadId,
        13 | 14 => FetchItem::BodySection {
            peek: s.bool(),
            section: section(s),
            partial: partial(s),
        },
        15 => FetchItem::Binary {
            peek: s.bool(),
            part: part(s),
            partial: partial(s),
        },
        _ => FetchItem::BinarySize { part: part(s) },
    }
}

fn status_item(s: &mut Source<'_>) -> StatusItem {
    s.pick(&[
        StatusItem::Messages,
        StatusItem::Recent,
        StatusItem::UidNext,
        StatusItem::UidValidity,
        StatusItem::Unseen,
        StatusItem::Deleted,
        StatusItem::Size,
        StatusItem::HighestModSeq,
        StatusItem::AppendLimit,
        StatusItem::MailboxId,
        StatusItem::DeletedStorage,
    ])
}

fn capability(s: &mut Source<'_>) -> Capability {
    match s.below(8) {
        0 => Capability::Imap4Rev1,
        1 => Capability::Imap4Rev2,
        2 => Capability::Auth(atom(s)),
        3 => Capability::LiteralPlus,
        4 => Capability::Idle,
        5 => Capability::AppendLimit(if s.bool() { Some(s.u63()) } else { None }),
        6 => Capability::Thread(atom(s)),
        _ => Capability::Other(x_atom(s)),
    }
}

/// A command.
pub fn command(s: &mut Source<'_>) -> Command {
    let tag = tag(s);
    let depth = 1 + s.below(4);
    let body = match s.below(40) {
        0 => CommandBody::Capability,
        1 => CommandBody::Noop,
        2 => CommandBody::Logout,
        3 => CommandBody::Id(if s.bool() {
            Some(vec(s, 3, |s| (istring(s), nstring(s))))
        } else {
            None
        }),
        4 => CommandBody::Enable(vec1(s, 3, capability)),
        5 => CommandBody::Compress(atom(s)),
        6 => CommandBody::StartTls,
        7 => CommandBody::Authenticate {
            mechanism: atom(s),
            initial: match s.below(3) {
                0 => None,
                1 => Some(InitialResponse::Empty),
                _ => {
                    let mut d = content(s);
                    d.push(0);
                    Some(InitialResponse::Data(Secret::new(d)))
                }
            },
        },
        8 => CommandBody::Login {
            username: astring(s),
            password: Secret::new(astring(s)),
        },
        9 | 10 => {
            let mailbox = mailbox(s);
            let params = vec(s, 2, |s| {
                if s.bool() {
                    SelectParam::CondStore
                } else {
                    SelectParam::QResync {
                        uid_validity: s.nz(),
                        mod_seq: s.u63(),
                        known_uids: s.bool().then(|| seq_set(s, false)),
                        seq_match: s.bool().then(|| (seq_set(s, false), seq_set(s, false))),
                    }
                }
            });
            if s.bool() {
                CommandBody::Select { mailbox, params }
            } else {
                CommandBody::Examine { mailbox, params }
            }
        }
        11 => CommandBody::Create {
            mailbox: mailbox(s),
            special_use: vec(s, 2, |s| {
                s.pick(&[MailboxAttr::Sent, MailboxAttr::Drafts, MailboxAttr::Junk])
            }),
        },
        12 => CommandBody::Delete(mailbox(s)),
        13 => CommandBody::Rename {
            from: mailbox(s),
            to: mailbox(s),
        },
        14 => CommandBody::Subscribe(mailbox(s)),
        15 => CommandBody::Unsubscribe(mailbox(s)),
        16 => CommandBody::List {
            select: vec(s, 3, |s| match s.below(5) {
                0 => ListSelectOption::Subscribed,
                1 => ListSelectOption::Remote,
                2 => ListSelectOption::RecursiveMatch,
                3 => ListSelectOption::SpecialUse,
                _ => ListSelectOption::Other(x_atom(s)),
            }),
            reference: mailbox(s),
            patterns: vec1(s, 2, list_mailbox),
            returns: vec(s, 3, |s| match s.below(5) {
                0 => ListReturnOption::Subscribed,
                1 => ListReturnOption::Children,
                2 => ListReturnOption::SpecialUse,
                3 => ListReturnOption::Status(vec1(s, 3, status_item)),
                _ => ListReturnOption::Other(x_atom(s)),
            }),
        },
        17 => CommandBody::Lsub {
            reference: mailbox(s),
            pattern: list_mailbox(s),
        },
        18 => CommandBody::Namespace,
        19 => CommandBody::Status {
            mailbox: mailbox(s),
            items: vec1(s, 4, status_item),
        },
        20 => CommandBody::Append {
            mailbox: mailbox(s),
            messages: vec1(s, 2, |s| AppendMessage {
                flags: s.bool().then(|| vec(s, 3, flag)),
                date: s.bool().then(|| date_time(s)),
                data: match s.below(3) {
                    0 => AppendData::Literal(content(s)),
                    1 => AppendData::Binary(vec(s, 20, |s| s.byte())),
                    _ => AppendData::Utf8(vec(s, 20, |s| s.byte())),
                },
            }),
        },
        21 => CommandBody::Idle,
        22 => CommandBody::GetQuota(astring(s)),
        23 => CommandBody::GetQuotaRoot(mailbox(s)),
        24 => CommandBody::SetQuota {
            root: astring(s),
            limits: vec(s, 3, |s| (atom(s), s.u63())),
        },
        25 => CommandBody::Check,
        26 => CommandBody::Close,
        27 => CommandBody::Unselect,
        28 => CommandBody::Expunge {
            uids: s.bool().then(|| seq_set(s, true)),
        },
        29 | 30 => CommandBody::Search {
            returns: s.bool().then(|| {
                vec(s, 4, |s| {
                    s.pick(&[
                        SearchReturnOption::Min,
                        SearchReturnOption::Max,
                        SearchReturnOption::All,
                        SearchReturnOption::Count,
                        SearchReturnOption::Save,
                    ])
                })
            }),
            charset: s.bool().then(|| astring(s)),
            criteria: vec1(s, 3, |s| search_key(s, depth)),
            uid: s.bool(),
        },
        31 | 32 => CommandBody::Fetch {
            set: seq_set(s, true),
            items: match s.below(4) {
                0 => FetchItems::Macro(s.pick(&[
                    FetchMacro::All,
                    FetchMacro::Fast,
                    FetchMacro::Full,
                ])),
                _ => FetchItems::Items(vec1(s, 4, fetch_item)),
            },
            modifiers: vec(s, 2, |s| {
                if s.bool() {
                    FetchModifier::ChangedSince(s.u63())
                } else {
                    FetchModifier::Vanished
                }
            }),
            uid: s.bool(),
        },
        33 => CommandBody::Store {
            set: seq_set(s, true),
            kind: s.pick(&[StoreKind::Replace, StoreKind::Add, StoreKind::Remove]),
            silent: s.bool(),
            flags: vec(s, 4, flag),
            unchanged_since: s.bool().then(|| s.u63()),
            uid: s.bool(),
        },
        34 => CommandBody::Copy {
            set: seq_set(s, true),
            mailbox: mailbox(s),
            uid: s.bool(),
        },
        35 => CommandBody::Move {
            set: seq_set(s, true),
            mailbox: mailbox(s),
            uid: s.bool(),
        },
        36 => CommandBody::Sort {
            criteria: vec1(s, 3, |s| SortCriterion {
                reverse: s.bool(),
                key: s.pick(&[
                    SortKey::Arrival,
                    SortKey::Cc,
                    SortKey::Date,
                    SortKey::From,
                    SortKey::Size,
                    SortKey::Subject,
                    SortKey::To,
                    SortKey::DisplayFrom,
                    SortKey::DisplayTo,
                ]),
            }),
            charset: astring(s),
            search: vec1(s, 3, |s| search_key(s, depth)),
            uid: s.bool(),
        },
        37 => CommandBody::Thread {
            algorithm: match s.below(3) {
                0 => ThreadAlgorithm::OrderedSubject,
                1 => ThreadAlgorithm::References,
                _ => ThreadAlgorithm::Other(x_atom(s)),
            },
            charset: astring(s),
            search: vec1(s, 3, |s| search_key(s, depth)),
            uid: s.bool(),
        },
        _ => CommandBody::Experimental {
            name: Atom::new(format!("X{}", atom(s).as_str())).unwrap_or_else(|_| unreachable!()),
            arguments: text(s),
        },
    };
    Command { tag, body }
}

fn flag_fetch(s: &mut Source<'_>) -> FlagFetch {
    if s.below(6) == 0 {
        FlagFetch::Recent
    } else {
        FlagFetch::Flag(flag(s))
    }
}

fn address(s: &mut Source<'_>) -> Address {
    Address {
        name: nstring(s),
        adl: nstring(s),
        mailbox: nstring(s),
        host: nstring(s),
    }
}

/// An envelope.
pub fn envelope(s: &mut Source<'_>) -> Envelope {
    Envelope {
        date: nstring(s),
        subject: nstring(s),
        from: vec(s, 2, address),
        sender: vec(s, 2, address),
        reply_to: vec(s, 2, address),
        to: vec(s, 3, address),
        cc: vec(s, 2, address),
        bcc: vec(s, 2, address),
        in_reply_to: nstring(s),
        message_id: nstring(s),
    }
}

fn params(s: &mut Source<'_>) -> Vec<(IString, IString)> {
    vec(s, 2, |s| (istring(s), istring(s)))
}

fn body_extension(s: &mut Source<'_>, depth: usize) -> BodyExtension {
    match s.below(if depth == 0 { 2 } else { 3 }) {
        0 => BodyExtension::NString(nstring(s)),
        1 => BodyExtension::Number(s.u63()),
        _ => BodyExtension::List(vec1(s, 2, |s| body_extension(s, depth - 1))),
    }
}

fn disposition_tail(s: &mut Source<'_>) -> Option<DispositionTail> {
    s.bool().then(|| DispositionTail {
        disposition: s.bool().then(|| (istring(s), params(s))),
        tail: s.bool().then(|| LanguageTail {
            language: vec(s, 3, istring),
            tail: s.bool().then(|| LocationTail {
                location: nstring(s),
                extensions: vec(s, 2, |s| body_extension(s, 2)),
            }),
        }),
    })
}

/// A body structure, at most `depth` levels deep.
pub fn body(s: &mut Source<'_>, depth: usize) -> BodyStructure {
    if depth > 1 && s.below(3) == 0 {
        return BodyStructure::Multi {
            bodies: vec1(s, 3, |s| body(s, depth - 1)),
            subtype: istring(s),
            extension: s.bool().then(|| MultiPartExtension {
                parameters: params(s),
                tail: disposition_tail(s),
            }),
        };
    }
    let specific = match s.below(if depth > 1 { 3 } else { 2 }) {
        0 => SpecificFields::Basic {
            r#type: istring(s),
            subtype: istring(s),
        },
        1 => SpecificFields::Text {
            subtype: istring(s),
            lines: s.u32(),
        },
        _ => SpecificFields::Message {
            subtype: IString::new(if s.bool() { "RFC822" } else { "GLOBAL" }).unwrap_or_default(),
            envelope: Box::new(envelope(s)),
            body: Box::new(body(s, depth - 1)),
            lines: s.u32(),
        },
    };
    BodyStructure::Single {
        body: Body {
            fields: BodyFields {
                parameters: params(s),
                id: nstring(s),
                description: nstring(s),
                encoding: istring(s),
                octets: s.u32(),
            },
            specific,
        },
        extension: s.bool().then(|| SinglePartExtension {
            md5: nstring(s),
            tail: disposition_tail(s),
        }),
    }
}

fn message_data(s: &mut Source<'_>) -> MessageData {
    match s.below(17) {
        0 => MessageData::Flags(vec(s, 4, flag_fetch)),
        1 => MessageData::Envelope(Box::new(envelope(s))),
        2 => MessageData::InternalDate(date_time(s)),
        3 => MessageData::Rfc822(nstring(s)),
        4 => MessageData::Rfc822Header(nstring(s)),
        5 => MessageData::Rfc822Text(nstring(s)),
        6 => MessageData::Rfc822Size(s.u63()),
        7 => MessageData::Body(Box::new(body(s, 3))),
        8 => MessageData::BodyStructure(Box::new(body(s, 4))),
        9 => MessageData::BodySection {
            section: section(s),
            origin: s.bool().then(|| s.u32()),
            data: nstring(s),
        },
        10 => MessageData::Binary {
            part: part(s),
            origin: s.bool().then(|| s.u32()),
            data: s.bool().then(|| vec(s, 20, |s| s.byte())),
        },
        11 => MessageData::BinarySize {
            part: part(s),
            size: s.u63(),
        },
        12 => MessageData::Uid(s.nz()),
        13 => MessageData::ModSeq(s.u63()),
        14 => MessageData::EmailId(objectid(s)),
        15 => MessageData::ThreadId(s.bool().then(|| objectid(s))),
        _ => MessageData::Uid(s.nz()),
    }
}

fn code(s: &mut Source<'_>) -> Code {
    match s.below(20) {
        0 => Code::Alert,
        1 => Code::BadCharset(vec(s, 2, |s| {
            AString::new(s.string_from(ATOM_CHARS, 1, 8)).unwrap_or_default()
        })),
        2 => Code::Capability(vec1(s, 4, capability)),
        3 => Code::PermanentFlags(vec(s, 4, |s| {
            if s.bool() {
                FlagPerm::Asterisk
            } else {
                FlagPerm::Flag(flag(s))
            }
        })),
        4 => Code::ReadOnly,
        5 => Code::UidNext(s.nz()),
        6 => Code::UidValidity(s.nz()),
        7 => Code::Unseen(s.nz()),
        8 => Code::AppendUid {
            uid_validity: s.nz(),
            uids: seq_set(s, false),
        },
        9 => Code::CopyUid {
            uid_validity: s.nz(),
            source: seq_set(s, false),
            destination: seq_set(s, false),
        },
        10 => Code::HighestModSeq(s.u63()),
        11 => Code::Modified(seq_set(s, false)),
        12 => Code::MailboxId(objectid(s)),
        13 => Code::Other(
            x_atom(s),
            s.bool().then(|| s.string_from(b"abc 123-", 1, 10)),
        ),
        14 => Code::NoModSeq,
        15 => Code::AuthenticationFailed,
        16 => Code::OverQuota,
        17 => Code::Closed,
        18 => Code::TooBig,
        _ => Code::UseAttr,
    }
}

fn opt_code(s: &mut Source<'_>) -> Option<Code> {
    s.bool().then(|| code(s))
}

fn ext_value(s: &mut Source<'_>, depth: usize) -> ExtValue {
    match s.below(if depth == 0 { 3 } else { 4 }) {
        0 => ExtValue::Number(s.u63()),
        1 => ExtValue::SequenceSet(SequenceSet::Set(vec![SeqRange::Range(
            seq_num(s),
            seq_num(s),
        )])),
        2 => ExtValue::String(istring(s)),
        _ => ExtValue::List(vec(s, 3, |s| ext_value(s, depth - 1))),
    }
}

fn quoted_char(s: &mut Source<'_>) -> Option<QuotedChar> {
    s.bool()
        .then(|| QuotedChar::new(char::from(s.pick(b"/.\\\"|:"))).ok())
        .flatten()
}

fn thread(s: &mut Source<'_>, depth: usize) -> Thread {
    Thread {
        members: vec(s, 3, |s| s.nz()),
        children: if depth == 0 {
            Vec::new()
        } else {
            vec(s, 3, |s| thread(s, depth - 1))
        },
    }
}

fn namespace(s: &mut Source<'_>) -> Vec<NamespaceDescr> {
    vec(s, 2, |s| NamespaceDescr {
        prefix: istring(s),
        delimiter: quoted_char(s),
        extensions: vec(s, 2, |s| (istring(s), vec1(s, 2, istring))),
    })
}

fn list_data(s: &mut Source<'_>) -> ListData {
    ListData {
        attributes: vec(s, 3, |s| {
            s.pick(&[
                MailboxAttr::NoSelect,
                MailboxAttr::HasChildren,
                MailboxAttr::Sent,
                MailboxAttr::Subscribed,
            ])
        }),
        delimiter: quoted_char(s),
        mailbox: mailbox(s),
        extended: vec(s, 2, |s| (astring(s), ext_value(s, 2))),
    }
}

/// A response (any of the four kinds).
pub fn response(s: &mut Source<'_>) -> Response {
    match s.below(6) {
        0 => Response::Tagged(Tagged {
            tag: tag(s),
            kind: s.pick(&[Completion::Ok, Completion::No, Completion::Bad]),
            code: opt_code(s),
            text: text(s),
        }),
        1 => Response::Untagged(Untagged {
            kind: s.pick(&[
                UntaggedKind::Ok,
                UntaggedKind::No,
                UntaggedKind::Bad,
                UntaggedKind::Bye,
            ]),
            code: opt_code(s),
            text: text(s),
        }),
        2 => Response::Continue(Continue {
            code: opt_code(s),
            text: text(s),
        }),
        _ => Response::Data(data(s)),
    }
}

fn data(s: &mut Source<'_>) -> Data {
    match s.below(22) {
        0 => Data::Capability(vec1(s, 5, capability)),
        1 => Data::Enabled(vec(s, 3, capability)),
        2 => Data::List(list_data(s)),
        3 => Data::Lsub(list_data(s)),
        4 => Data::Status {
            mailbox: mailbox(s),
            items: vec(s, 4, |s| match s.below(3) {
                0 => StatusValue::MailboxId(objectid(s)),
                1 => StatusValue::NoAppendLimit,
                _ => {
                    let mut item = status_item(s);
                    if item == StatusItem::MailboxId {
                        item = StatusItem::Messages;
                    }
                    StatusValue::Number(item, s.u63())
                }
            }),
        },
        5 => Data::Search {
            nums: vec(s, 5, |s| s.nz()),
            modseq: s.bool().then(|| s.u63()),
        },
        6 => Data::ESearch(ESearch {
            tag: s.bool().then(|| tag(s)),
            uid: s.bool(),
            data: vec(s, 4, |s| match s.below(6) {
                0 => ESearchData::Min(s.nz()),
                1 => ESearchData::Max(s.nz()),
                2 => ESearchData::All(seq_set(s, false)),
                3 => ESearchData::Count(s.u32()),
                4 => ESearchData::ModSeq(s.u63()),
                _ => ESearchData::Other(x_atom(s), ext_value(s, 2)),
            }),
        }),
        7 => Data::Flags(vec(s, 5, flag)),
        8 => Data::Exists(s.u32()),
        9 => Data::Recent(s.u32()),
        10 => Data::Expunge(s.nz()),
        11 => Data::Vanished {
            earlier: s.bool(),
            uids: seq_set(s, false),
        },
        12..=15 => Data::Fetch {
            seq: s.nz(),
            items: vec1(s, 4, message_data),
        },
        16 => Data::Id(s.bool().then(|| vec(s, 3, |s| (istring(s), nstring(s))))),
        17 => Data::Namespace {
            personal: namespace(s),
            other: namespace(s),
            shared: namespace(s),
        },
        18 => Data::Quota {
            root: astring(s),
            resources: vec(s, 3, |s| QuotaResource {
                name: atom(s),
                usage: s.u63(),
                limit: s.u63(),
            }),
        },
        19 => Data::QuotaRoot {
            mailbox: mailbox(s),
            roots: vec(s, 3, astring),
        },
        20 => Data::Sort {
            nums: vec(s, 5, |s| s.nz()),
            modseq: s.bool().then(|| s.u63()),
        },
        _ => Data::Thread(vec(s, 3, |s| thread(s, 3))),
    }
}

/// A greeting.
pub fn greeting(s: &mut Source<'_>) -> Greeting {
    Greeting {
        kind: s.pick(&[GreetingKind::Ok, GreetingKind::PreAuth, GreetingKind::Bye]),
        code: opt_code(s),
        text: text(s),
    }
}
