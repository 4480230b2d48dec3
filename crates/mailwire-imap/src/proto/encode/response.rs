//! Encoding responses (server side). A server's literals never wait for anything.

use super::command::{id_params, part, section};
use super::{Enc, EncodeOptions, Encoded};
use crate::proto::types::body::{
    Address, BodyExtension, BodyStructure, DispositionTail, Envelope, Params, SpecificFields,
};
use crate::proto::types::capability::Capability;
use crate::proto::types::core::{Text, Vec1};
use crate::proto::types::fetch::MessageData;
use crate::proto::types::response::{
    Code, Completion, Continue, Data, ESearchData, ExtValue, Greeting, GreetingKind, ListData,
    NamespaceDescr, Response, StatusValue, Thread, UntaggedKind,
};

impl Response {
    /// Encodes the response as fragments (a server writes them all at once).
    pub fn encode(&self, options: &EncodeOptions) -> Encoded {
        let mut e = Enc::new(*options, true);
        response(&mut e, self);
        e.finish()
    }

    /// The wire form with default options.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode(&EncodeOptions::default()).into_bytes()
    }
}

impl Greeting {
    /// Encodes the greeting.
    pub fn encode(&self, options: &EncodeOptions) -> Encoded {
        let mut e = Enc::new(*options, true);
        e.raw(match self.kind {
            GreetingKind::Ok => b"* OK",
            GreetingKind::PreAuth => b"* PREAUTH",
            GreetingKind::Bye => b"* BYE",
        });
        resp_text(&mut e, self.code.as_ref(), &self.text);
        e.crlf();
        e.finish()
    }

    /// The wire form with default options.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode(&EncodeOptions::default()).into_bytes()
    }
}

fn response(e: &mut Enc, r: &Response) {
    match r {
        Response::Tagged(t) => {
            e.raw(t.tag.as_bytes());
            e.raw(match t.kind {
                Completion::Ok => b" OK",
                Completion::No => b" NO",
                Completion::Bad => b" BAD",
            });
            resp_text(e, t.code.as_ref(), &t.text);
        }
        Response::Untagged(u) => {
            e.raw(match u.kind {
                UntaggedKind::Ok => b"* OK",
                UntaggedKind::No => b"* NO",
                UntaggedKind::Bad => b"* BAD",
                UntaggedKind::Bye => b"* BYE",
            });
            resp_text(e, u.code.as_ref(), &u.text);
        }
        Response::Continue(Continue { code, text }) => {
            e.byte(b'+');
            if code.is_none() && text.is_empty() {
                // "+" SP with nothing after it is what most servers send.
                e.sp();
            } else {
                resp_text(e, code.as_ref(), text);
            }
        }
        Response::Data(d) => {
            e.raw(b"* ");
            data(e, d);
        }
    }
    e.crlf();
}

/// `[SP ["[" resp-text-code "]"] [SP text]]`
fn resp_text(e: &mut Enc, code: Option<&Code>, text: &Text) {
    if code.is_none() && text.is_empty() {
        return;
    }
    e.sp();
    if let Some(c) = code {
        e.byte(b'[');
        resp_code(e, c);
        e.byte(b']');
        if !text.is_empty() {
            e.sp();
        }
    }
    e.text(text.as_bytes());
}

fn capabilities(e: &mut Enc, caps: &Vec1<Capability>) {
    for (k, c) in caps.iter().enumerate() {
        if k > 0 {
            e.sp();
        }
        e.raw(c.to_atom_string().as_bytes());
    }
}

fn resp_code(e: &mut Enc, c: &Code) {
    let simple: &[u8] = match c {
        Code::Alert => b"ALERT",
        Code::Parse => b"PARSE",
        Code::ReadOnly => b"READ-ONLY",
        Code::ReadWrite => b"READ-WRITE",
        Code::TryCreate => b"TRYCREATE",
        Code::Unavailable => b"UNAVAILABLE",
        Code::AuthenticationFailed => b"AUTHENTICATIONFAILED",
        Code::AuthorizationFailed => b"AUTHORIZATIONFAILED",
        Code::Expired => b"EXPIRED",
        Code::PrivacyRequired => b"PRIVACYREQUIRED",
        Code::ContactAdmin => b"CONTACTADMIN",
        Code::NoPerm => b"NOPERM",
        Code::InUse => b"INUSE",
        Code::ExpungeIssued => b"EXPUNGEISSUED",
        Code::Corruption => b"CORRUPTION",
        Code::ServerBug => b"SERVERBUG",
        Code::ClientBug => b"CLIENTBUG",
        Code::CanNot => b"CANNOT",
        Code::Limit => b"LIMIT",
        Code::OverQuota => b"OVERQUOTA",
        Code::AlreadyExists => b"ALREADYEXISTS",
        Code::NonExistent => b"NONEXISTENT",
        Code::UidNotSticky => b"UIDNOTSTICKY",
        Code::NoModSeq => b"NOMODSEQ",
        Code::Closed => b"CLOSED",
        Code::NotSaved => b"NOTSAVED",
        Code::CompressionActive => b"COMPRESSIONACTIVE",
        Code::UnknownCte => b"UNKNOWN-CTE",
        Code::UseAttr => b"USEATTR",
        Code::TooBig => b"TOOBIG",
        Code::HasChildren => b"HASCHILDREN",
        _ => b"",
    };
    if !simple.is_empty() {
        e.raw(simple);
        return;
    }
    match c {
        Code::BadCharset(l) => {
            e.raw(b"BADCHARSET");
            if !l.is_empty() {
                e.sp();
                e.list(l, |e, c| e.atom_or_string(c.as_bytes()));
            }
        }
        Code::Capability(caps) => {
            e.raw(b"CAPABILITY ");
            capabilities(e, caps);
        }
        Code::PermanentFlags(f) => {
            e.raw(b"PERMANENTFLAGS ");
            e.list(f, |e, f| e.flag_perm(f));
        }
        Code::UidNext(n) => {
            e.raw(b"UIDNEXT ");
            e.nz(*n);
        }
        Code::UidValidity(n) => {
            e.raw(b"UIDVALIDITY ");
            e.nz(*n);
        }
        Code::Unseen(n) => {
            e.raw(b"UNSEEN ");
            e.nz(*n);
        }
        Code::HighestModSeq(n) => {
            e.raw(b"HIGHESTMODSEQ ");
            e.num(*n);
        }
        Code::Modified(s) => {
            e.raw(b"MODIFIED ");
            e.seq_set(s);
        }
        Code::MailboxId(id) => {
            e.raw(b"MAILBOXID (");
            e.raw(id.as_bytes());
            e.byte(b')');
        }
        Code::Referral(url) => {
            e.raw(b"REFERRAL ");
            e.raw(url);
        }
        Code::AppendUid { uid_validity, uids } => {
            e.raw(b"APPENDUID ");
            e.nz(*uid_validity);
            e.sp();
            e.seq_set(uids);
        }
        Code::CopyUid {
            uid_validity,
            source,
            destination,
        } => {
            e.raw(b"COPYUID ");
            e.nz(*uid_validity);
            e.sp();
            e.seq_set(source);
            e.sp();
            e.seq_set(destination);
        }
        Code::Other(a, t) => {
            e.raw(a.as_bytes());
            if let Some(t) = t {
                e.sp();
                e.raw(t);
            }
        }
        _ => {}
    }
}

fn data(e: &mut Enc, d: &Data) {
    match d {
        Data::Capability(caps) => {
            e.raw(b"CAPABILITY ");
            capabilities(e, caps);
        }
        Data::Enabled(caps) => {
            e.raw(b"ENABLED");
            for c in caps {
                e.sp();
                e.raw(c.to_atom_string().as_bytes());
            }
        }
        Data::List(l) => {
            e.raw(b"LIST ");
            list_data(e, l);
        }
        Data::Lsub(l) => {
            e.raw(b"LSUB ");
            list_data(e, l);
        }
        Data::Status { mailbox, items } => {
            e.raw(b"STATUS ");
            e.mailbox(mailbox);
            e.sp();
            e.list(items, |e, v| match v {
                StatusValue::Number(item, n) => {
                    e.raw(item.name().as_bytes());
                    e.sp();
                    e.num(*n);
                }
                StatusValue::MailboxId(id) => {
                    e.raw(b"MAILBOXID (");
                    e.raw(id.as_bytes());
                    e.byte(b')');
                }
                StatusValue::NoAppendLimit => e.raw(b"APPENDLIMIT NIL"),
            });
        }
        Data::Search { nums, modseq } | Data::Sort { nums, modseq } => {
            e.raw(if matches!(d, Data::Search { .. }) {
                b"SEARCH"
            } else {
                b"SORT"
            });
            for n in nums {
                e.sp();
                e.nz(*n);
            }
            if let Some(m) = modseq {
                e.raw(b" (MODSEQ ");
                e.num(*m);
                e.byte(b')');
            }
        }
        Data::ESearch(es) => {
            e.raw(b"ESEARCH");
            if let Some(t) = &es.tag {
                e.raw(b" (TAG ");
                e.string(t.as_bytes());
                e.byte(b')');
            }
            if es.uid {
                e.raw(b" UID");
            }
            for d in &es.data {
                e.sp();
                match d {
                    ESearchData::Min(n) => {
                        e.raw(b"MIN ");
                        e.nz(*n);
                    }
                    ESearchData::Max(n) => {
                        e.raw(b"MAX ");
                        e.nz(*n);
                    }
                    ESearchData::All(s) => {
                        e.raw(b"ALL ");
                        e.seq_set(s);
                    }
                    ESearchData::Count(n) => {
                        e.raw(b"COUNT ");
                        e.num(u64::from(*n));
                    }
                    ESearchData::ModSeq(n) => {
                        e.raw(b"MODSEQ ");
                        e.num(*n);
                    }
                    ESearchData::Other(a, v) => {
                        e.raw(a.as_bytes());
                        e.sp();
                        ext_value(e, v);
                    }
                }
            }
        }
        Data::Flags(f) => {
            e.raw(b"FLAGS ");
            e.list(f, |e, f| e.flag(f));
        }
        Data::Exists(n) => {
            e.num(u64::from(*n));
            e.raw(b" EXISTS");
        }
        Data::Recent(n) => {
            e.num(u64::from(*n));
            e.raw(b" RECENT");
        }
        Data::Expunge(n) => {
            e.nz(*n);
            e.raw(b" EXPUNGE");
        }
        Data::Vanished { earlier, uids } => {
            e.raw(if *earlier {
                b"VANISHED (EARLIER) "
            } else {
                b"VANISHED "
            });
            e.seq_set(uids);
        }
        Data::Fetch { seq, items } => {
            e.nz(*seq);
            e.raw(b" FETCH ");
            e.list(items, message_data);
        }
        Data::Id(p) => {
            e.raw(b"ID ");
            id_params(e, p.as_deref());
        }
        Data::Namespace {
            personal,
            other,
            shared,
        } => {
            e.raw(b"NAMESPACE ");
            namespace(e, personal);
            e.sp();
            namespace(e, other);
            e.sp();
            namespace(e, shared);
        }
        Data::Quota { root, resources } => {
            e.raw(b"QUOTA ");
            e.astring(root);
            e.sp();
            e.list(resources, |e, r| {
                e.raw(r.name.as_bytes());
                e.sp();
                e.num(r.usage);
                e.sp();
                e.num(r.limit);
            });
        }
        Data::QuotaRoot { mailbox, roots } => {
            e.raw(b"QUOTAROOT ");
            e.mailbox(mailbox);
            for r in roots {
                e.sp();
                e.astring(r);
            }
        }
        Data::Other { name, text } => {
            e.raw(name.as_bytes());
            if !text.is_empty() {
                e.sp();
                e.text(text.as_bytes());
            }
        }
        Data::Thread(threads) => {
            e.raw(b"THREAD");
            if !threads.is_empty() {
                e.sp();
            }
            for t in threads {
                thread(e, t);
            }
        }
    }
}

fn thread(e: &mut Enc, t: &Thread) {
    e.byte(b'(');
    e.join(&t.members, |e, n| e.nz(*n));
    if !t.members.is_empty() && !t.children.is_empty() {
        e.sp();
    }
    for c in &t.children {
        thread(e, c);
    }
    e.byte(b')');
}

fn namespace(e: &mut Enc, l: &[NamespaceDescr]) {
    if l.is_empty() {
        e.raw(b"NIL");
        return;
    }
    e.byte(b'(');
    for d in l {
        e.byte(b'(');
        e.istring(&d.prefix);
        e.sp();
        delimiter(e, d.delimiter);
        for (name, values) in &d.extensions {
            e.sp();
            e.istring(name);
            e.sp();
            e.list(values, |e, v| e.istring(v));
        }
        e.byte(b')');
    }
    e.byte(b')');
}

fn delimiter(e: &mut Enc, d: Option<crate::proto::types::response::QuotedChar>) {
    match d {
        None => e.raw(b"NIL"),
        Some(c) => {
            let b = c.as_char() as u8;
            e.byte(b'"');
            if b == b'"' || b == b'\\' {
                e.byte(b'\\');
            }
            e.byte(b);
            e.byte(b'"');
        }
    }
}

fn list_data(e: &mut Enc, l: &ListData) {
    e.list(&l.attributes, |e, a| e.mailbox_attr(a));
    e.sp();
    delimiter(e, l.delimiter);
    e.sp();
    e.mailbox(&l.mailbox);
    if !l.extended.is_empty() {
        e.sp();
        e.list(&l.extended, |e, (t, v)| {
            e.astring(t);
            e.sp();
            ext_value(e, v);
        });
    }
}

fn ext_value(e: &mut Enc, v: &ExtValue) {
    match v {
        ExtValue::Number(n) => e.num(*n),
        ExtValue::SequenceSet(s) => e.seq_set(s),
        ExtValue::String(s) => e.istring(s),
        ExtValue::List(l) => e.list(l, ext_value),
    }
}

fn message_data(e: &mut Enc, m: &MessageData) {
    match m {
        MessageData::Flags(f) => {
            e.raw(b"FLAGS ");
            e.list(f, |e, f| e.flag_fetch(f));
        }
        MessageData::Envelope(env) => {
            e.raw(b"ENVELOPE ");
            envelope(e, env);
        }
        MessageData::InternalDate(d) => {
            e.raw(b"INTERNALDATE ");
            e.date_time(d);
        }
        MessageData::Rfc822(s) => {
            e.raw(b"RFC822 ");
            e.nstring(s);
        }
        MessageData::Rfc822Header(s) => {
            e.raw(b"RFC822.HEADER ");
            e.nstring(s);
        }
        MessageData::Rfc822Text(s) => {
            e.raw(b"RFC822.TEXT ");
            e.nstring(s);
        }
        MessageData::Rfc822Size(n) => {
            e.raw(b"RFC822.SIZE ");
            e.num(*n);
        }
        MessageData::Body(b) => {
            e.raw(b"BODY ");
            body(e, b);
        }
        MessageData::BodyStructure(b) => {
            e.raw(b"BODYSTRUCTURE ");
            body(e, b);
        }
        MessageData::BodySection {
            section: s,
            origin,
            data,
        } => {
            e.raw(b"BODY");
            section(e, s);
            if let Some(o) = origin {
                e.byte(b'<');
                e.num(u64::from(*o));
                e.byte(b'>');
            }
            e.sp();
            e.nstring(data);
        }
        MessageData::Binary {
            part: p,
            origin,
            data,
        } => {
            e.raw(b"BINARY[");
            part(e, p);
            e.byte(b']');
            if let Some(o) = origin {
                e.byte(b'<');
                e.num(u64::from(*o));
                e.byte(b'>');
            }
            e.sp();
            match data {
                None => e.raw(b"NIL"),
                Some(d) if d.contains(&0) => e.literal(d, true),
                Some(d) => e.string(d),
            }
        }
        MessageData::BinarySize { part: p, size } => {
            e.raw(b"BINARY.SIZE[");
            part(e, p);
            e.raw(b"] ");
            e.num(*size);
        }
        MessageData::Uid(n) => {
            e.raw(b"UID ");
            e.nz(*n);
        }
        MessageData::ModSeq(n) => {
            e.raw(b"MODSEQ (");
            e.num(*n);
            e.byte(b')');
        }
        MessageData::EmailId(id) => {
            e.raw(b"EMAILID (");
            e.raw(id.as_bytes());
            e.byte(b')');
        }
        MessageData::ThreadId(None) => e.raw(b"THREADID NIL"),
        MessageData::ThreadId(Some(id)) => {
            e.raw(b"THREADID (");
            e.raw(id.as_bytes());
            e.byte(b')');
        }
    }
}

fn addresses(e: &mut Enc, l: &[Address]) {
    if l.is_empty() {
        e.raw(b"NIL");
        return;
    }
    e.byte(b'(');
    for a in l {
        e.byte(b'(');
        e.nstring(&a.name);
        e.sp();
        e.nstring(&a.adl);
        e.sp();
        e.nstring(&a.mailbox);
        e.sp();
        e.nstring(&a.host);
        e.byte(b')');
    }
    e.byte(b')');
}

fn envelope(e: &mut Enc, env: &Envelope) {
    e.byte(b'(');
    e.nstring(&env.date);
    e.sp();
    e.nstring(&env.subject);
    e.sp();
    addresses(e, &env.from);
    e.sp();
    addresses(e, &env.sender);
    e.sp();
    addresses(e, &env.reply_to);
    e.sp();
    addresses(e, &env.to);
    e.sp();
    addresses(e, &env.cc);
    e.sp();
    addresses(e, &env.bcc);
    e.sp();
    e.nstring(&env.in_reply_to);
    e.sp();
    e.nstring(&env.message_id);
    e.byte(b')');
}

fn params(e: &mut Enc, p: &Params) {
    if p.is_empty() {
        e.raw(b"NIL");
    } else {
        e.list(p, |e, (k, v)| {
            e.istring(k);
            e.sp();
            e.istring(v);
        });
    }
}

fn body(e: &mut Enc, b: &BodyStructure) {
    e.byte(b'(');
    match b {
        BodyStructure::Multi {
            bodies,
            subtype,
            extension,
        } => {
            for part in bodies.iter() {
                body(e, part);
            }
            e.sp();
            e.istring(subtype);
            if let Some(ext) = extension {
                e.sp();
                params(e, &ext.parameters);
                disposition_tail(e, ext.tail.as_ref());
            }
        }
        BodyStructure::Single { body: b, extension } => {
            match &b.specific {
                SpecificFields::Basic { r#type, subtype } => {
                    e.istring(r#type);
                    e.sp();
                    e.istring(subtype);
                }
                SpecificFields::Message { subtype, .. } => {
                    e.raw(b"\"MESSAGE\" ");
                    e.istring(subtype);
                }
                SpecificFields::Text { subtype, .. } => {
                    e.raw(b"\"TEXT\" ");
                    e.istring(subtype);
                }
            }
            let f = &b.fields;
            e.sp();
            params(e, &f.parameters);
            e.sp();
            e.nstring(&f.id);
            e.sp();
            e.nstring(&f.description);
            e.sp();
            e.istring(&f.encoding);
            e.sp();
            e.num(u64::from(f.octets));
            match &b.specific {
                SpecificFields::Basic { .. } => {}
                SpecificFields::Message {
                    envelope: env,
                    body: inner,
                    lines,
                    ..
                } => {
                    e.sp();
                    envelope(e, env);
                    e.sp();
                    body(e, inner);
                    e.sp();
                    e.num(u64::from(*lines));
                }
                SpecificFields::Text { lines, .. } => {
                    e.sp();
                    e.num(u64::from(*lines));
                }
            }
            if let Some(ext) = extension {
                e.sp();
                e.nstring(&ext.md5);
                disposition_tail(e, ext.tail.as_ref());
            }
        }
    }
    e.byte(b')');
}

fn disposition_tail(e: &mut Enc, t: Option<&DispositionTail>) {
    let Some(t) = t else { return };
    e.sp();
    match &t.disposition {
        None => e.raw(b"NIL"),
        Some((d, p)) => {
            e.byte(b'(');
            e.istring(d);
            e.sp();
            params(e, p);
            e.byte(b')');
        }
    }
    let Some(l) = &t.tail else { return };
    e.sp();
    match l.language.as_slice() {
        [] => e.raw(b"NIL"),
        [one] => e.istring(one),
        many => e.list(many, |e, s| e.istring(s)),
    }
    let Some(loc) = &l.tail else { return };
    e.sp();
    e.nstring(&loc.location);
    for x in &loc.extensions {
        e.sp();
        body_extension(e, x);
    }
}

fn body_extension(e: &mut Enc, x: &BodyExtension) {
    match x {
        BodyExtension::NString(s) => e.nstring(s),
        BodyExtension::Number(n) => e.num(*n),
        BodyExtension::List(l) => e.list(l, body_extension),
    }
}

impl MessageData {
    /// Encodes one FETCH data item (`msg-att` element), as a server writes it inside
    /// `* n FETCH (…)`.
    pub fn encode(&self, options: &EncodeOptions) -> Encoded {
        let mut e = Enc::new(*options, true);
        message_data(&mut e, self);
        e.finish()
    }
}

/// Writes `BODY[section]<origin> ` (with the space) into `out`: what precedes the literal of a
/// body section the server writes straight from the stored octets.
pub(crate) fn body_section_prefix(
    out: &mut Vec<u8>,
    name: &[u8],
    s: &crate::proto::types::fetch::Section,
    origin: Option<u32>,
) {
    let mut e = Enc::new(EncodeOptions::default(), true);
    e.raw(name);
    section(&mut e, s);
    if let Some(o) = origin {
        e.byte(b'<');
        e.num(u64::from(o));
        e.byte(b'>');
    }
    e.sp();
    out.extend_from_slice(&e.buf);
}

/// Writes `BINARY[part]<origin> ` (with the space) into `out`.
pub(crate) fn binary_prefix(
    out: &mut Vec<u8>,
    name: &[u8],
    p: &[std::num::NonZeroU32],
    origin: Option<u32>,
) {
    let mut e = Enc::new(EncodeOptions::default(), true);
    e.raw(name);
    e.byte(b'[');
    part(&mut e, p);
    e.byte(b']');
    if let Some(o) = origin {
        e.byte(b'<');
        e.num(u64::from(o));
        e.byte(b'>');
    }
    e.sp();
    out.extend_from_slice(&e.buf);
}
