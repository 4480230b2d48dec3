//! The response parser (client side). It follows RFC 9051 / RFC 3501 §9 and accepts the
//! server quirks listed in `rfc-notes/rfc3501.md` ("Client quirks accepted").

use nom::Err;

use super::command::{id_params, status_item};
use super::core::{
    PResult, astring, atom, atom_bytes, byte, charset, crlf, fail, flag, flag_perm, incomplete,
    keyword, mailbox, mailbox_attr, nil, number, number64, nz_number, paren_list, peek, quoted,
    sequence_set, sp, string, tag, text, too_deep,
};
use super::fetch::msg_atts;
use super::search::{paren_objectid, upper};
use crate::proto::types::capability::Capability;
use crate::proto::types::command::StatusItem;
use crate::proto::types::core::{Tag, Text, Vec1};
use crate::proto::types::response::{
    Code, Completion, Continue, Data, ESearch, ESearchData, ExtValue, Greeting, GreetingKind,
    ListData, NamespaceDescr, QuotaResource, QuotedChar, Response, StatusValue, Tagged, Thread,
    Untagged, UntaggedKind,
};

/// Skips spaces before CRLF (quirk: trailing space), then reads CRLF.
fn end(mut i: &[u8]) -> PResult<'_, ()> {
    while peek(i)? == b' ' {
        i = &i[1..];
    }
    crlf(i)
}

/// `resp-text = ["[" resp-text-code "]" SP] [text]`, after the status keyword; the leading SP
/// may be missing when there is no text (quirk).
fn resp_text(i: &[u8]) -> PResult<'_, (Option<Code>, Text)> {
    if peek(i)? != b' ' {
        return Ok((i, (None, Text::default())));
    }
    let i = &i[1..];
    if peek(i)? == b'[' {
        match code(&i[1..]) {
            Ok((rest, c)) => {
                if let Ok((rest, ())) = byte(rest, b']', "]") {
                    let rest = if peek(rest)? == b' ' {
                        &rest[1..]
                    } else {
                        rest
                    };
                    let (rest, t) = text(rest)?;
                    return Ok((rest, (Some(c), t)));
                }
                if rest.is_empty() {
                    return incomplete();
                }
            }
            Err(Err::Error(_)) => {}
            Err(e) => return Err(e),
        }
        // Not a code after all (quirk): the bracket is part of the text.
    }
    let (i, t) = text(i)?;
    Ok((i, (None, t)))
}

/// Text of an unknown code: `1*<any TEXT-CHAR except "]">`.
fn code_text(i: &[u8]) -> PResult<'_, &[u8]> {
    match i
        .iter()
        .position(|&b| b == b']' || b == b'\r' || b == b'\n' || b == 0)
    {
        Some(0) => fail(i, "code text"),
        Some(n) => Ok((&i[n..], &i[..n])),
        None => incomplete(),
    }
}

/// `resp-text-code`. A known code whose arguments do not parse is kept as [`Code::Other`].
fn code(i: &[u8]) -> PResult<'_, Code> {
    let (rest, name) = atom_bytes(i)?;
    match known_code(name, rest) {
        Ok(r) => Ok(r),
        Err(Err::Error(_)) => {
            let a = crate::proto::types::core::Atom::unvalidated(name);
            if peek(rest)? == b' ' {
                let (rest, t) = code_text(&rest[1..])?;
                Ok((rest, Code::Other(a, Some(t.to_vec()))))
            } else {
                Ok((rest, Code::Other(a, None)))
            }
        }
        Err(e) => Err(e),
    }
}

fn known_code<'a>(name: &[u8], i: &'a [u8]) -> PResult<'a, Code> {
    let up = upper(name);
    let word = &up[..name.len().min(24)];
    let simple = match word {
        b"ALERT" => Some(Code::Alert),
        b"PARSE" => Some(Code::Parse),
        b"READ-ONLY" => Some(Code::ReadOnly),
        b"READ-WRITE" => Some(Code::ReadWrite),
        b"TRYCREATE" => Some(Code::TryCreate),
        b"UNAVAILABLE" => Some(Code::Unavailable),
        b"AUTHENTICATIONFAILED" => Some(Code::AuthenticationFailed),
        b"AUTHORIZATIONFAILED" => Some(Code::AuthorizationFailed),
        b"EXPIRED" => Some(Code::Expired),
        b"PRIVACYREQUIRED" => Some(Code::PrivacyRequired),
        b"CONTACTADMIN" => Some(Code::ContactAdmin),
        b"NOPERM" => Some(Code::NoPerm),
        b"INUSE" => Some(Code::InUse),
        b"EXPUNGEISSUED" => Some(Code::ExpungeIssued),
        b"CORRUPTION" => Some(Code::Corruption),
        b"SERVERBUG" => Some(Code::ServerBug),
        b"CLIENTBUG" => Some(Code::ClientBug),
        b"CANNOT" => Some(Code::CanNot),
        b"LIMIT" => Some(Code::Limit),
        b"OVERQUOTA" => Some(Code::OverQuota),
        b"ALREADYEXISTS" => Some(Code::AlreadyExists),
        b"NONEXISTENT" => Some(Code::NonExistent),
        b"UIDNOTSTICKY" => Some(Code::UidNotSticky),
        b"NOMODSEQ" => Some(Code::NoModSeq),
        b"CLOSED" => Some(Code::Closed),
        b"NOTSAVED" => Some(Code::NotSaved),
        b"COMPRESSIONACTIVE" => Some(Code::CompressionActive),
        b"UNKNOWN-CTE" => Some(Code::UnknownCte),
        b"USEATTR" => Some(Code::UseAttr),
        b"TOOBIG" => Some(Code::TooBig),
        b"HASCHILDREN" => Some(Code::HasChildren),
        _ => None,
    };
    if let Some(c) = simple {
        // A known argument-less code followed by text is not that code.
        return if peek(i)? == b']' {
            Ok((i, c))
        } else {
            fail(i, "]")
        };
    }
    let (i, c) = match word {
        b"BADCHARSET" => {
            if peek(i)? == b' ' {
                let (i, l) = paren_list(&i[1..], false, code_charset)?;
                if l.is_empty() {
                    return fail(i, "charset");
                }
                (i, Code::BadCharset(l))
            } else {
                (i, Code::BadCharset(Vec::new()))
            }
        }
        b"CAPABILITY" => {
            let (i, caps) = capability_list(i)?;
            (i, Code::Capability(caps))
        }
        b"PERMANENTFLAGS" => {
            let (i, ()) = sp(i)?;
            let (i, f) = paren_list(i, true, flag_perm)?;
            (i, Code::PermanentFlags(f))
        }
        b"UIDNEXT" => arg(i, nz_number, Code::UidNext)?,
        b"UIDVALIDITY" => arg(i, nz_number, Code::UidValidity)?,
        b"UNSEEN" => arg(i, nz_number, Code::Unseen)?,
        b"HIGHESTMODSEQ" => arg(i, number64, Code::HighestModSeq)?,
        b"MODIFIED" => arg(i, sequence_set, Code::Modified)?,
        b"MAILBOXID" => arg(i, paren_objectid, Code::MailboxId)?,
        b"REFERRAL" => {
            let (i, ()) = sp(i)?;
            let (i, t) = code_text(i)?;
            (i, Code::Referral(t.to_vec()))
        }
        b"APPENDUID" => {
            let (i, ()) = sp(i)?;
            let (i, uid_validity) = nz_number(i)?;
            let (i, ()) = sp(i)?;
            let (i, uids) = sequence_set(i)?;
            (i, Code::AppendUid { uid_validity, uids })
        }
        b"COPYUID" => {
            let (i, ()) = sp(i)?;
            let (i, uid_validity) = nz_number(i)?;
            let (i, ()) = sp(i)?;
            let (i, source) = sequence_set(i)?;
            let (i, ()) = sp(i)?;
            let (i, destination) = sequence_set(i)?;
            (
                i,
                Code::CopyUid {
                    uid_validity,
                    source,
                    destination,
                },
            )
        }
        _ => return fail(i, "known code"),
    };
    if peek(i)? == b']' {
        Ok((i, c))
    } else {
        fail(i, "]")
    }
}

fn arg<'a, T>(
    i: &'a [u8],
    p: impl Fn(&'a [u8]) -> PResult<'a, T>,
    make: impl Fn(T) -> Code,
) -> PResult<'a, Code> {
    let (i, ()) = sp(i)?;
    let (i, v) = p(i)?;
    Ok((i, make(v)))
}

/// `1*(SP capability)` (at least one).
fn capability_list(i: &[u8]) -> PResult<'_, Vec1<Capability>> {
    let (i, ()) = sp(i)?;
    let (i, first) = atom(i)?;
    let (i, rest) = super::core::sp_separated(i, |b| b != b']' && b != b' ', atom)?;
    let caps = std::iter::once(first)
        .chain(rest)
        .map(Capability::from_atom)
        .collect();
    Ok((i, Vec1::unvalidated(caps)))
}

/// `greeting = "*" SP (resp-cond-auth / resp-cond-bye) CRLF`
pub(crate) fn greeting(i: &[u8]) -> PResult<'_, Greeting> {
    let (i, ()) = byte(i, b'*', "*")?;
    let (i, ()) = sp(i)?;
    let start = i;
    let (i, word) = atom_bytes(i)?;
    let kind = if word.eq_ignore_ascii_case(b"OK") {
        GreetingKind::Ok
    } else if word.eq_ignore_ascii_case(b"PREAUTH") {
        GreetingKind::PreAuth
    } else if word.eq_ignore_ascii_case(b"BYE") {
        GreetingKind::Bye
    } else {
        return fail(start, "OK, PREAUTH or BYE");
    };
    let (i, (code, text)) = resp_text(i)?;
    let (i, ()) = crlf(i)?;
    Ok((i, Greeting { kind, code, text }))
}

/// `response = continue-req / response-data / response-tagged` (one of them).
pub(crate) fn response(i: &[u8], depth: usize) -> PResult<'_, Response> {
    match peek(i)? {
        b'+' => {
            let i = &i[1..];
            let (i, (code, text)) = resp_text(i)?;
            let (i, ()) = crlf(i)?;
            Ok((i, Response::Continue(Continue { code, text })))
        }
        b'*' => {
            let (i, ()) = sp(&i[1..])?;
            untagged(i, depth)
        }
        _ => {
            let (i, t) = tag(i)?;
            let (i, ()) = sp(i)?;
            let (i, kind) = completion(i)?;
            let (i, (code, text)) = resp_text(i)?;
            let (i, ()) = crlf(i)?;
            Ok((
                i,
                Response::Tagged(Tagged {
                    tag: t,
                    kind,
                    code,
                    text,
                }),
            ))
        }
    }
}

fn completion(i: &[u8]) -> PResult<'_, Completion> {
    let (rest, w) = atom_bytes(i)?;
    if w.eq_ignore_ascii_case(b"OK") {
        Ok((rest, Completion::Ok))
    } else if w.eq_ignore_ascii_case(b"NO") {
        Ok((rest, Completion::No))
    } else if w.eq_ignore_ascii_case(b"BAD") {
        Ok((rest, Completion::Bad))
    } else {
        fail(i, "OK, NO or BAD")
    }
}

fn untagged(i: &[u8], depth: usize) -> PResult<'_, Response> {
    if peek(i)?.is_ascii_digit() {
        let (i, n) = number(i)?;
        let (i, ()) = sp(i)?;
        let start = i;
        let (i, w) = atom_bytes(i)?;
        let data = if w.eq_ignore_ascii_case(b"EXISTS") {
            (i, Data::Exists(n))
        } else if w.eq_ignore_ascii_case(b"RECENT") {
            (i, Data::Recent(n))
        } else if w.eq_ignore_ascii_case(b"EXPUNGE") {
            match std::num::NonZeroU32::new(n) {
                Some(n) => (i, Data::Expunge(n)),
                None => return fail(start, "non-zero sequence number"),
            }
        } else if w.eq_ignore_ascii_case(b"FETCH") {
            let Some(seq) = std::num::NonZeroU32::new(n) else {
                return fail(start, "non-zero sequence number");
            };
            let (i, ()) = sp(i)?;
            let (i, items) = msg_atts(i, depth)?;
            (i, Data::Fetch { seq, items })
        } else {
            return fail(start, "EXISTS, RECENT, EXPUNGE or FETCH");
        };
        let (i, ()) = end(data.0)?;
        return Ok((i, Response::Data(data.1)));
    }
    let start = i;
    let (i, w) = atom_bytes(i)?;
    let up = upper(w);
    let word = &up[..w.len().min(24)];
    let status = match word {
        b"OK" => Some(UntaggedKind::Ok),
        b"NO" => Some(UntaggedKind::No),
        b"BAD" => Some(UntaggedKind::Bad),
        b"BYE" => Some(UntaggedKind::Bye),
        _ => None,
    };
    if let Some(kind) = status {
        let (i, (code, text)) = resp_text(i)?;
        let (i, ()) = crlf(i)?;
        return Ok((i, Response::Untagged(Untagged { kind, code, text })));
    }
    let (i, data) = match word {
        b"CAPABILITY" => {
            let (i, caps) = capability_list(i)?;
            (i, Data::Capability(caps))
        }
        b"ENABLED" => {
            let (i, caps) = super::core::sp_separated(i, |b| b != b' ' && b != b'\r', atom)?;
            (
                i,
                Data::Enabled(caps.into_iter().map(Capability::from_atom).collect()),
            )
        }
        b"LIST" => {
            let (i, l) = list_data(i, depth)?;
            (i, Data::List(l))
        }
        b"LSUB" => {
            let (i, l) = list_data(i, depth)?;
            (i, Data::Lsub(l))
        }
        b"FLAGS" => {
            let (i, ()) = sp(i)?;
            let (i, f) = paren_list(i, true, flag)?;
            (i, Data::Flags(f))
        }
        b"STATUS" => status_data(i)?,
        b"SEARCH" | b"SORT" => {
            let (i, (nums, modseq)) = numbers_modseq(i)?;
            if word == b"SEARCH" {
                (i, Data::Search { nums, modseq })
            } else {
                (i, Data::Sort { nums, modseq })
            }
        }
        b"ESEARCH" => esearch(i, depth)?,
        b"VANISHED" => {
            let (i, ()) = sp(i)?;
            let (i, earlier) = if peek(i)? == b'(' {
                let (i, ()) = byte(i, b'(', "(")?;
                let (i, ()) = keyword(i, "EARLIER")?;
                let (i, ()) = byte(i, b')', ")")?;
                let (i, ()) = sp(i)?;
                (i, true)
            } else {
                (i, false)
            };
            let (i, uids) = sequence_set(i)?;
            (i, Data::Vanished { earlier, uids })
        }
        b"ID" => {
            let (i, ()) = sp(i)?;
            let (i, p) = id_params(i)?;
            (i, Data::Id(p))
        }
        b"NAMESPACE" => {
            let (i, ()) = sp(i)?;
            let (i, personal) = namespace(i)?;
            let (i, ()) = sp(i)?;
            let (i, other) = namespace(i)?;
            let (i, ()) = sp(i)?;
            let (i, shared) = namespace(i)?;
            (
                i,
                Data::Namespace {
                    personal,
                    other,
                    shared,
                },
            )
        }
        b"QUOTA" => {
            let (i, ()) = sp(i)?;
            let (i, root) = astring(i)?;
            let (i, ()) = sp(i)?;
            let (i, resources) = paren_list(i, true, |i| {
                let (i, name) = atom(i)?;
                let (i, ()) = sp(i)?;
                let (i, usage) = number64(i)?;
                let (i, ()) = sp(i)?;
                let (i, limit) = number64(i)?;
                Ok((i, QuotaResource { name, usage, limit }))
            })?;
            (i, Data::Quota { root, resources })
        }
        b"QUOTAROOT" => {
            let (i, ()) = sp(i)?;
            let (i, mailbox) = mailbox(i)?;
            let (i, roots) = super::core::sp_separated(i, |b| b != b' ' && b != b'\r', astring)?;
            (i, Data::QuotaRoot { mailbox, roots })
        }
        b"THREAD" => {
            let mut i = i;
            if peek(i)? == b' ' {
                i = &i[1..];
            }
            let mut threads = Vec::new();
            while peek(i)? == b'(' {
                let (rest, t) = thread_list(i, depth)?;
                threads.push(t);
                i = rest;
            }
            (i, Data::Thread(threads))
        }
        _ => {
            // Unknown untagged data: kept as text (a literal makes it a syntax error).
            let j = if peek(i)? == b' ' { &i[1..] } else { i };
            let (j, t) = text(j)?;
            if t.as_bytes().ends_with(b"}") {
                return fail(start, "response");
            }
            let name = crate::proto::types::core::Atom::unvalidated(w);
            return crlf(j).map(|(j, ())| (j, Response::Data(Data::Other { name, text: t })));
        }
    };
    let (i, ()) = end(i)?;
    Ok((i, Response::Data(data)))
}

/// `*(SP nz-number) [SP "(" "MODSEQ" SP mod-sequence-value ")"]` (quirk: trailing space).
fn numbers_modseq(mut i: &[u8]) -> PResult<'_, (Vec<std::num::NonZeroU32>, Option<u64>)> {
    let mut nums = Vec::new();
    loop {
        if peek(i)? != b' ' {
            return Ok((i, (nums, None)));
        }
        match peek(&i[1..])? {
            b if b.is_ascii_digit() => {
                let (rest, n) = nz_number(&i[1..])?;
                nums.push(n);
                i = rest;
            }
            b'(' => {
                let (rest, ()) = byte(&i[1..], b'(', "(")?;
                let (rest, ()) = keyword(rest, "MODSEQ")?;
                let (rest, ()) = sp(rest)?;
                let (rest, m) = number64(rest)?;
                let (rest, ()) = byte(rest, b')', ")")?;
                return Ok((rest, (nums, Some(m))));
            }
            _ => return Ok((i, (nums, None))),
        }
    }
}

/// `mailbox-list` after `LIST`: `SP "(" [mbx-list-flags] ")" SP (DQUOTE QUOTED-CHAR DQUOTE /
/// nil) SP mailbox [SP mbox-list-extended]`
fn list_data(i: &[u8], depth: usize) -> PResult<'_, ListData> {
    let (i, ()) = sp(i)?;
    let (i, attributes) = paren_list(i, true, mailbox_attr)?;
    let (i, ()) = sp(i)?;
    let (i, delimiter) = if peek(i)? == b'"' {
        let start = i;
        let (i, q) = quoted(i)?;
        match q.as_slice() {
            [c] if *c < 0x80 => (i, Some(QuotedChar::unvalidated(*c))),
            // Quirk: an empty delimiter for a flat namespace.
            [] => (i, None),
            _ => return fail(start, "one 7-bit character"),
        }
    } else {
        let (i, ()) = nil(i)?;
        (i, None)
    };
    let (i, ()) = sp(i)?;
    let (i, mailbox) = mailbox(i)?;
    let (i, extended) = if peek(i)? == b' ' && peek(&i[1..])? == b'(' {
        // mbox-list-extended = "(" [mbox-list-extended-item *(SP mbox-list-extended-item)] ")"
        paren_list(&i[1..], true, |i| {
            let (i, t) = astring(i)?;
            let (i, ()) = sp(i)?;
            let (i, v) = ext_value(i, depth)?;
            Ok((i, (t, v)))
        })?
    } else {
        (i, Vec::new())
    };
    Ok((
        i,
        ListData {
            attributes,
            delimiter,
            mailbox,
            extended,
        },
    ))
}

/// `tagged-ext-val = tagged-ext-simple / "(" [tagged-ext-comp] ")"` (RFC 4466), read as
/// numbers, sequence sets, strings and lists.
pub(crate) fn ext_value(i: &[u8], depth: usize) -> PResult<'_, ExtValue> {
    let b = peek(i)?;
    if b == b'(' {
        if depth == 0 {
            return too_deep(i);
        }
        let (i, l) = paren_list(i, true, |i| ext_value(i, depth - 1))?;
        return Ok((i, ExtValue::List(l)));
    }
    if b.is_ascii_digit() {
        let (rest, n) = number64(i)?;
        if !matches!(peek(rest)?, b':' | b',') {
            return Ok((rest, ExtValue::Number(n)));
        }
    }
    if b.is_ascii_digit() || b == b'*' || b == b'$' {
        let (rest, s) = sequence_set(i)?;
        return Ok((rest, ExtValue::SequenceSet(s)));
    }
    let (i, s) = astring(i)?;
    Ok((i, ExtValue::String(s.into())))
}

/// `STATUS mailbox (att value …)`
fn status_data(i: &[u8]) -> PResult<'_, Data> {
    let (i, ()) = sp(i)?;
    let (i, mailbox) = mailbox(i)?;
    let (i, ()) = sp(i)?;
    let (i, items) = paren_list(i, true, |i| {
        let (i, item) = status_item(i)?;
        let (i, ()) = sp(i)?;
        match item {
            StatusItem::MailboxId => {
                let (i, id) = paren_objectid(i)?;
                Ok((i, StatusValue::MailboxId(id)))
            }
            StatusItem::AppendLimit if peek(i)? == b'N' || peek(i)? == b'n' => {
                let (i, ()) = nil(i)?;
                Ok((i, StatusValue::NoAppendLimit))
            }
            _ => {
                let (i, n) = number64(i)?;
                Ok((i, StatusValue::Number(item, n)))
            }
        }
    })?;
    Ok((i, Data::Status { mailbox, items }))
}

/// `esearch-response = "ESEARCH" [search-correlator] [SP "UID"] *(SP search-return-data)`
fn esearch(i: &[u8], depth: usize) -> PResult<'_, Data> {
    let mut i = i;
    let mut tag_: Option<Tag> = None;
    if peek(i)? == b' ' && peek(&i[1..])? == b'(' {
        // search-correlator = SP "(" "TAG" SP tag-string ")"
        let (rest, ()) = byte(&i[1..], b'(', "(")?;
        let (rest, ()) = keyword(rest, "TAG")?;
        let (rest, ()) = sp(rest)?;
        let (rest, s) = string(rest)?;
        let Ok(t) = Tag::new(s.to_str_lossy().into_owned()) else {
            return fail(rest, "tag");
        };
        let (rest, ()) = byte(rest, b')', ")")?;
        tag_ = Some(t);
        i = rest;
    }
    let mut uid = false;
    if peek(i)? == b' ' {
        let j = &i[1..];
        if j.len() >= 4 && j[..3].eq_ignore_ascii_case(b"UID") && !j[3].is_ascii_alphanumeric() {
            uid = true;
            i = &j[3..];
        } else if j.len() < 4 && b"UID"[..j.len().min(3)].eq_ignore_ascii_case(&j[..j.len().min(3)])
        {
            return incomplete();
        }
    }
    let mut data = Vec::new();
    loop {
        if peek(i)? != b' ' {
            break;
        }
        let j = &i[1..];
        if matches!(peek(j)?, b'\r' | b' ') {
            break;
        }
        let (j, name) = atom(j)?;
        let (j, ()) = sp(j)?;
        let n = name.as_str();
        let (j, d) = if n.eq_ignore_ascii_case("MIN") {
            let (j, v) = nz_number(j)?;
            (j, ESearchData::Min(v))
        } else if n.eq_ignore_ascii_case("MAX") {
            let (j, v) = nz_number(j)?;
            (j, ESearchData::Max(v))
        } else if n.eq_ignore_ascii_case("ALL") {
            let (j, v) = sequence_set(j)?;
            (j, ESearchData::All(v))
        } else if n.eq_ignore_ascii_case("COUNT") {
            let (j, v) = number(j)?;
            (j, ESearchData::Count(v))
        } else if n.eq_ignore_ascii_case("MODSEQ") {
            let (j, v) = number64(j)?;
            (j, ESearchData::ModSeq(v))
        } else {
            let (j, v) = ext_value(j, depth)?;
            (j, ESearchData::Other(name, v))
        };
        data.push(d);
        i = j;
    }
    Ok((
        i,
        Data::ESearch(ESearch {
            tag: tag_,
            uid,
            data,
        }),
    ))
}

/// `Namespace = nil / "(" 1*Namespace-Descr ")"`
fn namespace(i: &[u8]) -> PResult<'_, Vec<NamespaceDescr>> {
    if peek(i)? != b'(' {
        let (i, ()) = nil(i)?;
        return Ok((i, Vec::new()));
    }
    let mut i = &i[1..];
    let mut out = Vec::new();
    loop {
        match peek(i)? {
            b')' if !out.is_empty() => return Ok((&i[1..], out)),
            b' ' if !out.is_empty() => i = &i[1..],
            _ => {
                let (rest, d) = namespace_descr(i)?;
                out.push(d);
                i = rest;
            }
        }
    }
}

fn namespace_descr(i: &[u8]) -> PResult<'_, NamespaceDescr> {
    let (i, ()) = byte(i, b'(', "(")?;
    let (i, prefix) = string(i)?;
    let (i, ()) = sp(i)?;
    let (i, delimiter) = if peek(i)? == b'"' {
        let start = i;
        let (i, q) = quoted(i)?;
        match q.as_slice() {
            [c] if *c < 0x80 => (i, Some(QuotedChar::unvalidated(*c))),
            _ => return fail(start, "one 7-bit character"),
        }
    } else {
        let (i, ()) = nil(i)?;
        (i, None)
    };
    let mut i = i;
    let mut extensions = Vec::new();
    while peek(i)? == b' ' {
        let (rest, name) = string(&i[1..])?;
        let (rest, ()) = sp(rest)?;
        let (rest, values) = paren_list(rest, true, string)?;
        let Ok(values) = Vec1::try_from(values) else {
            return fail(rest, "namespace extension value");
        };
        extensions.push((name, values));
        i = rest;
    }
    let (i, ()) = byte(i, b')', ")")?;
    Ok((
        i,
        NamespaceDescr {
            prefix,
            delimiter,
            extensions,
        },
    ))
}

/// `thread-list = "(" (thread-members / thread-nested) ")"` (lenient: one nested list, `()`).
fn thread_list(i: &[u8], depth: usize) -> PResult<'_, Thread> {
    if depth == 0 {
        return too_deep(i);
    }
    let (mut i, ()) = byte(i, b'(', "(")?;
    let mut members = Vec::new();
    let mut children = Vec::new();
    loop {
        match peek(i)? {
            b')' => {
                return Ok((&i[1..], Thread { members, children }));
            }
            b' ' => i = &i[1..],
            b'(' => {
                let (rest, t) = thread_list(i, depth - 1)?;
                children.push(t);
                i = rest;
            }
            _ if !children.is_empty() => return fail(i, "thread-list"),
            _ => {
                let (rest, n) = nz_number(i)?;
                members.push(n);
                i = rest;
            }
        }
    }
}

/// A charset in `BADCHARSET (…)`: `charset = atom / quoted` (RFC 9051 §9). A literal would
/// put a line break inside a status response's code, which no encoder can give back.
fn code_charset(i: &[u8]) -> PResult<'_, crate::proto::types::core::AString> {
    if i.starts_with(b"{") || i.starts_with(b"~{") {
        return fail(i, "charset (atom or quoted string)");
    }
    charset(i)
}
