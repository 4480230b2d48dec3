//! Encoding commands (client side).

use base64::Engine;

use super::{Enc, EncodeOptions, Encoded};
use crate::proto::types::command::{
    AppendData, AuthenticateData, Command, CommandBody, InitialResponse, ListReturnOption,
    ListSelectOption, SelectParam,
};
use crate::proto::types::fetch::{
    FetchItem, FetchItems, FetchMacro, FetchModifier, MsgText, PartText, Partial, Section,
};
use crate::proto::types::flag::StoreKind;
use crate::proto::types::search::{
    EntryType, SearchKey, SearchReturnOption, SortKey, ThreadAlgorithm,
};

impl Command {
    /// Encodes the command as fragments; `options` says which literals the server accepts
    /// without a continuation request and whether UTF-8 may be quoted.
    ///
    /// ```
    /// use mailwire_imap::proto::{Command, CommandBody, EncodeOptions, Fragment, Tag, AString, Secret};
    ///
    /// let cmd = Command {
    ///     tag: Tag::new("a1").unwrap(),
    ///     body: CommandBody::Login {
    ///         username: AString::new("alice").unwrap(),
    ///         password: Secret::new(AString::new("p\u{e4}ss").unwrap()),
    ///     },
    /// };
    /// let enc = cmd.encode(&EncodeOptions::default());
    /// let frags: Vec<_> = enc.fragments().collect();
    /// assert_eq!(frags[0], Fragment::Line(b"a1 LOGIN alice {5}\r\n"));
    /// assert!(matches!(frags[1], Fragment::Literal { .. }));
    /// assert_eq!(frags[2], Fragment::Line(b"\r\n"));
    /// ```
    pub fn encode(&self, options: &EncodeOptions) -> Encoded {
        let mut e = Enc::new(*options, false);
        e.raw(self.tag.as_bytes());
        e.sp();
        body(&mut e, &self.body);
        e.crlf();
        e.finish()
    }

    /// The whole wire form with default options (sync literals inline).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode(&EncodeOptions::default()).into_bytes()
    }
}

impl AuthenticateData {
    /// The continuation line: base64 and CRLF, or `*` CRLF.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = match self {
            Self::Continue(d) => base64::engine::general_purpose::STANDARD
                .encode(d.expose())
                .into_bytes(),
            Self::Cancel => b"*".to_vec(),
        };
        out.extend_from_slice(b"\r\n");
        out
    }
}

fn body(e: &mut Enc, b: &CommandBody) {
    match b {
        CommandBody::Capability
        | CommandBody::Noop
        | CommandBody::Logout
        | CommandBody::StartTls
        | CommandBody::Check
        | CommandBody::Close
        | CommandBody::Unselect
        | CommandBody::Namespace
        | CommandBody::Idle
        | CommandBody::Expunge { uids: None } => e.raw(b.name().as_bytes()),
        CommandBody::Expunge { uids: Some(set) } => {
            e.raw(b"UID EXPUNGE ");
            e.seq_set(set);
        }
        CommandBody::Id(params) => {
            e.raw(b"ID ");
            id_params(e, params.as_deref());
        }
        CommandBody::Enable(caps) => {
            e.raw(b"ENABLE");
            for c in caps.iter() {
                e.sp();
                e.raw(c.to_atom_string().as_bytes());
            }
        }
        CommandBody::Compress(a) => {
            e.raw(b"COMPRESS ");
            e.raw(a.as_bytes());
        }
        CommandBody::Authenticate { mechanism, initial } => {
            e.raw(b"AUTHENTICATE ");
            e.raw(mechanism.as_bytes());
            match initial {
                None => {}
                Some(InitialResponse::Empty) => e.raw(b" ="),
                Some(InitialResponse::Data(d)) => {
                    e.sp();
                    let s = base64::engine::general_purpose::STANDARD.encode(d.expose());
                    e.raw(s.as_bytes());
                }
            }
        }
        CommandBody::Login { username, password } => {
            e.raw(b"LOGIN ");
            e.astring(username);
            e.sp();
            e.astring(password.expose());
        }
        CommandBody::Select { mailbox, params } | CommandBody::Examine { mailbox, params } => {
            e.raw(b.name().as_bytes());
            e.sp();
            e.mailbox(mailbox);
            if !params.is_empty() {
                e.sp();
                e.list(params, select_param);
            }
        }
        CommandBody::Create {
            mailbox,
            special_use,
        } => {
            e.raw(b"CREATE ");
            e.mailbox(mailbox);
            if !special_use.is_empty() {
                e.raw(b" (USE ");
                e.list(special_use, |e, a| e.mailbox_attr(a));
                e.byte(b')');
            }
        }
        CommandBody::Delete(m)
        | CommandBody::Subscribe(m)
        | CommandBody::Unsubscribe(m)
        | CommandBody::GetQuotaRoot(m) => {
            e.raw(b.name().as_bytes());
            e.sp();
            e.mailbox(m);
        }
        CommandBody::GetQuota(root) => {
            e.raw(b"GETQUOTA ");
            e.astring(root);
        }
        CommandBody::SetQuota { root, limits } => {
            e.raw(b"SETQUOTA ");
            e.astring(root);
            e.sp();
            e.list(limits, |e, (name, n)| {
                e.raw(name.as_bytes());
                e.sp();
                e.num(*n);
            });
        }
        CommandBody::Rename { from, to } => {
            e.raw(b"RENAME ");
            e.mailbox(from);
            e.sp();
            e.mailbox(to);
        }
        CommandBody::List {
            select,
            reference,
            patterns,
            returns,
        } => {
            e.raw(b"LIST ");
            if !select.is_empty() {
                e.list(select, |e, o| {
                    e.raw(match o {
                        ListSelectOption::Subscribed => b"SUBSCRIBED",
                        ListSelectOption::Remote => b"REMOTE",
                        ListSelectOption::RecursiveMatch => b"RECURSIVEMATCH",
                        ListSelectOption::SpecialUse => b"SPECIAL-USE",
                        ListSelectOption::Other(a) => a.as_bytes(),
                    })
                });
                e.sp();
            }
            e.mailbox(reference);
            e.sp();
            if patterns.len() == 1 {
                e.list_mailbox(patterns.first());
            } else {
                e.list(patterns, |e, p| e.list_mailbox(p));
            }
            if !returns.is_empty() {
                e.raw(b" RETURN ");
                e.list(returns, |e, o| match o {
                    ListReturnOption::Subscribed => e.raw(b"SUBSCRIBED"),
                    ListReturnOption::Children => e.raw(b"CHILDREN"),
                    ListReturnOption::SpecialUse => e.raw(b"SPECIAL-USE"),
                    ListReturnOption::Status(items) => {
                        e.raw(b"STATUS ");
                        e.list(items, |e, i| e.raw(i.name().as_bytes()));
                    }
                    ListReturnOption::Other(a) => e.raw(a.as_bytes()),
                });
            }
        }
        CommandBody::Lsub { reference, pattern } => {
            e.raw(b"LSUB ");
            e.mailbox(reference);
            e.sp();
            e.list_mailbox(pattern);
        }
        CommandBody::Status { mailbox, items } => {
            e.raw(b"STATUS ");
            e.mailbox(mailbox);
            e.sp();
            e.list(items, |e, i| e.raw(i.name().as_bytes()));
        }
        CommandBody::Append { mailbox, messages } => {
            e.raw(b"APPEND ");
            e.mailbox(mailbox);
            for m in messages.iter() {
                e.sp();
                if let Some(flags) = &m.flags {
                    e.list(flags, |e, f| e.flag(f));
                    e.sp();
                }
                if let Some(d) = &m.date {
                    e.date_time(d);
                    e.sp();
                }
                match &m.data {
                    AppendData::Literal(d) => {
                        let binary = d.contains(&0);
                        e.literal(d, binary);
                    }
                    AppendData::Binary(d) => e.literal(d, true),
                    AppendData::Utf8(d) => {
                        e.raw(b"UTF8 (");
                        e.literal(d, true);
                        e.byte(b')');
                    }
                }
            }
        }
        CommandBody::Search {
            returns,
            charset,
            criteria,
            uid,
        } => {
            if *uid {
                e.raw(b"UID ");
            }
            e.raw(b"SEARCH");
            if let Some(r) = returns {
                e.raw(b" RETURN ");
                e.list(r, |e, o| {
                    e.raw(match o {
                        SearchReturnOption::Min => b"MIN",
                        SearchReturnOption::Max => b"MAX",
                        SearchReturnOption::All => b"ALL",
                        SearchReturnOption::Count => b"COUNT",
                        SearchReturnOption::Save => b"SAVE",
                    })
                });
            }
            if let Some(c) = charset {
                e.raw(b" CHARSET ");
                e.atom_or_string(c.as_bytes());
            }
            for k in criteria.iter() {
                e.sp();
                search_key(e, k);
            }
        }
        CommandBody::Fetch {
            set,
            items,
            modifiers,
            uid,
        } => {
            if *uid {
                e.raw(b"UID ");
            }
            e.raw(b"FETCH ");
            e.seq_set(set);
            e.sp();
            match items {
                FetchItems::Macro(m) => e.raw(match m {
                    FetchMacro::All => b"ALL",
                    FetchMacro::Fast => b"FAST",
                    FetchMacro::Full => b"FULL",
                }),
                FetchItems::Items(items) if items.len() == 1 => fetch_item(e, items.first()),
                FetchItems::Items(items) => e.list(items, fetch_item),
            }
            if !modifiers.is_empty() {
                e.sp();
                e.list(modifiers, |e, m| match m {
                    FetchModifier::ChangedSince(n) => {
                        e.raw(b"CHANGEDSINCE ");
                        e.num(*n);
                    }
                    FetchModifier::Vanished => e.raw(b"VANISHED"),
                });
            }
        }
        CommandBody::Store {
            set,
            kind,
            silent,
            flags,
            unchanged_since,
            uid,
        } => {
            if *uid {
                e.raw(b"UID ");
            }
            e.raw(b"STORE ");
            e.seq_set(set);
            if let Some(n) = unchanged_since {
                e.raw(b" (UNCHANGEDSINCE ");
                e.num(*n);
                e.byte(b')');
            }
            e.sp();
            e.raw(match kind {
                StoreKind::Replace => b"FLAGS",
                StoreKind::Add => b"+FLAGS",
                StoreKind::Remove => b"-FLAGS",
            });
            if *silent {
                e.raw(b".SILENT");
            }
            e.sp();
            e.list(flags, |e, f| e.flag(f));
        }
        CommandBody::Copy { set, mailbox, uid } | CommandBody::Move { set, mailbox, uid } => {
            if *uid {
                e.raw(b"UID ");
            }
            e.raw(if matches!(b, CommandBody::Copy { .. }) {
                b"COPY "
            } else {
                b"MOVE "
            });
            e.seq_set(set);
            e.sp();
            e.mailbox(mailbox);
        }
        CommandBody::Sort {
            criteria,
            charset,
            search,
            uid,
        } => {
            if *uid {
                e.raw(b"UID ");
            }
            e.raw(b"SORT ");
            e.list(criteria, |e, c| {
                if c.reverse {
                    e.raw(b"REVERSE ");
                }
                e.raw(match c.key {
                    SortKey::Arrival => b"ARRIVAL",
                    SortKey::Cc => b"CC",
                    SortKey::Date => b"DATE",
                    SortKey::From => b"FROM",
                    SortKey::Size => b"SIZE",
                    SortKey::Subject => b"SUBJECT",
                    SortKey::To => b"TO",
                    SortKey::DisplayFrom => b"DISPLAYFROM",
                    SortKey::DisplayTo => b"DISPLAYTO",
                });
            });
            e.sp();
            e.astring(charset);
            for k in search.iter() {
                e.sp();
                search_key(e, k);
            }
        }
        CommandBody::Experimental { name, arguments } => {
            e.raw(name.as_bytes());
            if !arguments.is_empty() {
                e.sp();
                e.text(arguments.as_bytes());
            }
        }
        CommandBody::Thread {
            algorithm,
            charset,
            search,
            uid,
        } => {
            if *uid {
                e.raw(b"UID ");
            }
            e.raw(b"THREAD ");
            e.raw(match algorithm {
                ThreadAlgorithm::OrderedSubject => b"ORDEREDSUBJECT",
                ThreadAlgorithm::References => b"REFERENCES",
                ThreadAlgorithm::Other(a) => a.as_bytes(),
            });
            e.sp();
            e.astring(charset);
            for k in search.iter() {
                e.sp();
                search_key(e, k);
            }
        }
    }
}

pub(super) fn id_params(
    e: &mut Enc,
    params: Option<
        &[(
            crate::proto::types::core::IString,
            crate::proto::types::core::NString,
        )],
    >,
) {
    match params {
        None => e.raw(b"NIL"),
        Some(p) => e.list(p, |e, (k, v)| {
            e.istring(k);
            e.sp();
            e.nstring(v);
        }),
    }
}

fn select_param(e: &mut Enc, p: &SelectParam) {
    match p {
        SelectParam::CondStore => e.raw(b"CONDSTORE"),
        SelectParam::QResync {
            uid_validity,
            mod_seq,
            known_uids,
            seq_match,
        } => {
            e.raw(b"QRESYNC (");
            e.nz(*uid_validity);
            e.sp();
            e.num(*mod_seq);
            if let Some(k) = known_uids {
                e.sp();
                e.seq_set(k);
            }
            if let Some((a, b)) = seq_match {
                e.raw(b" (");
                e.seq_set(a);
                e.sp();
                e.seq_set(b);
                e.byte(b')');
            }
            e.byte(b')');
        }
    }
}

pub(super) fn msg_text(e: &mut Enc, t: &MsgText) {
    match t {
        MsgText::Header => e.raw(b"HEADER"),
        MsgText::Text => e.raw(b"TEXT"),
        MsgText::HeaderFields(l) => {
            e.raw(b"HEADER.FIELDS ");
            e.list(l, |e, s| e.astring(s));
        }
        MsgText::HeaderFieldsNot(l) => {
            e.raw(b"HEADER.FIELDS.NOT ");
            e.list(l, |e, s| e.astring(s));
        }
    }
}

pub(super) fn part(e: &mut Enc, part: &[std::num::NonZeroU32]) {
    for (k, n) in part.iter().enumerate() {
        if k > 0 {
            e.byte(b'.');
        }
        e.nz(*n);
    }
}

pub(super) fn section(e: &mut Enc, s: &Section) {
    e.byte(b'[');
    match s {
        Section::Top(None) => {}
        Section::Top(Some(t)) => msg_text(e, t),
        Section::Part(p, t) => {
            part(e, p);
            match t {
                None => {}
                Some(PartText::Mime) => e.raw(b".MIME"),
                Some(PartText::Msg(m)) => {
                    e.byte(b'.');
                    msg_text(e, m);
                }
            }
        }
    }
    e.byte(b']');
}

fn partial(e: &mut Enc, p: &Option<Partial>) {
    if let Some(p) = p {
        e.byte(b'<');
        e.num(u64::from(p.origin));
        e.byte(b'.');
        e.nz(p.count);
        e.byte(b'>');
    }
}

fn fetch_item(e: &mut Enc, i: &FetchItem) {
    match i {
        FetchItem::Envelope => e.raw(b"ENVELOPE"),
        FetchItem::Flags => e.raw(b"FLAGS"),
        FetchItem::InternalDate => e.raw(b"INTERNALDATE"),
        FetchItem::Rfc822 => e.raw(b"RFC822"),
        FetchItem::Rfc822Header => e.raw(b"RFC822.HEADER"),
        FetchItem::Rfc822Size => e.raw(b"RFC822.SIZE"),
        FetchItem::Rfc822Text => e.raw(b"RFC822.TEXT"),
        FetchItem::Body => e.raw(b"BODY"),
        FetchItem::BodyStructure => e.raw(b"BODYSTRUCTURE"),
        FetchItem::Uid => e.raw(b"UID"),
        FetchItem::ModSeq => e.raw(b"MODSEQ"),
        FetchItem::EmailId => e.raw(b"EMAILID"),
        FetchItem::ThreadId => e.raw(b"THREADID"),
        FetchItem::BodySection {
            peek,
            section: s,
            partial: p,
        } => {
            e.raw(if *peek { b"BODY.PEEK" } else { b"BODY" });
            section(e, s);
            partial(e, p);
        }
        FetchItem::Binary {
            peek,
            part: p,
            partial: pa,
        } => {
            e.raw(if *peek { b"BINARY.PEEK[" } else { b"BINARY[" });
            part(e, p);
            e.byte(b']');
            partial(e, pa);
        }
        FetchItem::BinarySize { part: p } => {
            e.raw(b"BINARY.SIZE[");
            part(e, p);
            e.byte(b']');
        }
    }
}

fn search_key(e: &mut Enc, k: &SearchKey) {
    macro_rules! s {
        ($kw:expr, $v:expr) => {{
            e.raw($kw);
            e.sp();
            e.astring($v);
        }};
    }
    macro_rules! d {
        ($kw:expr, $v:expr) => {{
            e.raw($kw);
            e.sp();
            e.date($v);
        }};
    }
    match k {
        SearchKey::All => e.raw(b"ALL"),
        SearchKey::Answered => e.raw(b"ANSWERED"),
        SearchKey::Bcc(v) => s!(b"BCC", v),
        SearchKey::Before(v) => d!(b"BEFORE", v),
        SearchKey::Body(v) => s!(b"BODY", v),
        SearchKey::Cc(v) => s!(b"CC", v),
        SearchKey::Deleted => e.raw(b"DELETED"),
        SearchKey::Draft => e.raw(b"DRAFT"),
        SearchKey::Flagged => e.raw(b"FLAGGED"),
        SearchKey::From(v) => s!(b"FROM", v),
        SearchKey::Header(f, v) => {
            e.raw(b"HEADER ");
            e.astring(f);
            e.sp();
            e.astring(v);
        }
        SearchKey::Keyword(a) => {
            e.raw(b"KEYWORD ");
            e.raw(a.as_bytes());
        }
        SearchKey::Larger(n) => {
            e.raw(b"LARGER ");
            e.num(*n);
        }
        SearchKey::New => e.raw(b"NEW"),
        SearchKey::Not(k) => {
            e.raw(b"NOT ");
            search_key(e, k);
        }
        SearchKey::Old => e.raw(b"OLD"),
        SearchKey::On(v) => d!(b"ON", v),
        SearchKey::Or(a, b) => {
            e.raw(b"OR ");
            search_key(e, a);
            e.sp();
            search_key(e, b);
        }
        SearchKey::Recent => e.raw(b"RECENT"),
        SearchKey::Seen => e.raw(b"SEEN"),
        SearchKey::SentBefore(v) => d!(b"SENTBEFORE", v),
        SearchKey::SentOn(v) => d!(b"SENTON", v),
        SearchKey::SentSince(v) => d!(b"SENTSINCE", v),
        SearchKey::Since(v) => d!(b"SINCE", v),
        SearchKey::Smaller(n) => {
            e.raw(b"SMALLER ");
            e.num(*n);
        }
        SearchKey::Subject(v) => s!(b"SUBJECT", v),
        SearchKey::Text(v) => s!(b"TEXT", v),
        SearchKey::To(v) => s!(b"TO", v),
        SearchKey::Uid(set) => {
            e.raw(b"UID ");
            e.seq_set(set);
        }
        SearchKey::Unanswered => e.raw(b"UNANSWERED"),
        SearchKey::Undeleted => e.raw(b"UNDELETED"),
        SearchKey::Undraft => e.raw(b"UNDRAFT"),
        SearchKey::Unflagged => e.raw(b"UNFLAGGED"),
        SearchKey::Unkeyword(a) => {
            e.raw(b"UNKEYWORD ");
            e.raw(a.as_bytes());
        }
        SearchKey::Unseen => e.raw(b"UNSEEN"),
        SearchKey::SequenceSet(set) => e.seq_set(set),
        SearchKey::And(keys) => e.list(keys, search_key),
        SearchKey::ModSeq { entry, modseq } => {
            e.raw(b"MODSEQ ");
            if let Some((name, t)) = entry {
                // entry-name = entry-flag-name: a string, never an atom.
                e.istring(name);
                e.sp();
                e.raw(match t {
                    EntryType::Private => b"priv",
                    EntryType::Shared => b"shared",
                    EntryType::All => b"all",
                });
                e.sp();
            }
            e.num(*modseq);
        }
        SearchKey::EmailId(id) => {
            e.raw(b"EMAILID ");
            e.raw(id.as_bytes());
        }
        SearchKey::ThreadId(id) => {
            e.raw(b"THREADID ");
            e.raw(id.as_bytes());
        }
        SearchKey::Older(n) => {
            e.raw(b"OLDER ");
            e.num(u64::from(*n));
        }
        SearchKey::Younger(n) => {
            e.raw(b"YOUNGER ");
            e.num(u64::from(*n));
        }
    }
}
