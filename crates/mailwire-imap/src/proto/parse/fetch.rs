//! FETCH items (`fetch-att`), FETCH data (`msg-att`), ENVELOPE and BODYSTRUCTURE.

use std::num::NonZeroU32;

use nom::Err;

use super::core::{
    PResult, astring, byte, date_time, fail, flag_fetch, incomplete, literal, nil, nstring, number,
    number64, nz_number, paren_list, peek, sp, string, too_deep,
};
use super::search::paren_objectid;
use crate::proto::types::body::{
    Address, Body, BodyExtension, BodyFields, BodyStructure, DispositionTail, Envelope,
    LanguageTail, LocationTail, MultiPartExtension, Params, SinglePartExtension, SpecificFields,
};
use crate::proto::types::core::{IString, NString, Vec1};
use crate::proto::types::fetch::{
    FetchItem, FetchItems, FetchMacro, MessageData, MsgText, PartText, Partial, Section,
};

/// A fetch attribute name: letters, digits and dots (`BODY.PEEK`, `RFC822.SIZE`).
fn att_name(i: &[u8]) -> PResult<'_, &[u8]> {
    match i
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'.'))
    {
        Some(0) => fail(i, "fetch attribute"),
        Some(n) => Ok((&i[n..], &i[..n])),
        None => incomplete(),
    }
}

#[inline]
fn is(name: &[u8], kw: &str) -> bool {
    name.eq_ignore_ascii_case(kw.as_bytes())
}

/// `section-part = nz-number *("." nz-number)`, stopping before `.TEXT`-like words.
fn section_part(i: &[u8]) -> PResult<'_, Vec<NonZeroU32>> {
    let (mut i, first) = nz_number(i)?;
    let mut part = vec![first];
    loop {
        if peek(i)? != b'.' {
            return Ok((i, part));
        }
        if !peek(&i[1..])?.is_ascii_digit() {
            return Ok((i, part));
        }
        let (rest, n) = nz_number(&i[1..])?;
        part.push(n);
        i = rest;
    }
}

/// `header-list = "(" header-fld-name *(SP header-fld-name) ")"`
fn header_list(i: &[u8]) -> PResult<'_, Vec1<crate::proto::types::core::AString>> {
    let (rest, names) = paren_list(i, false, astring)?;
    match Vec1::try_from(names) {
        Ok(n) => Ok((rest, n)),
        Err(_) => fail(i, "header field name"),
    }
}

/// `section-msgtext`, and `MIME` when `mime` is allowed.
fn section_text(i: &[u8], mime: bool) -> PResult<'_, PartText> {
    let (rest, word) = att_name(i)?;
    if is(word, "HEADER") {
        Ok((rest, PartText::Msg(MsgText::Header)))
    } else if is(word, "TEXT") {
        Ok((rest, PartText::Msg(MsgText::Text)))
    } else if mime && is(word, "MIME") {
        Ok((rest, PartText::Mime))
    } else if is(word, "HEADER.FIELDS") {
        let (rest, ()) = sp(rest)?;
        let (rest, l) = header_list(rest)?;
        Ok((rest, PartText::Msg(MsgText::HeaderFields(l))))
    } else if is(word, "HEADER.FIELDS.NOT") {
        let (rest, ()) = sp(rest)?;
        let (rest, l) = header_list(rest)?;
        Ok((rest, PartText::Msg(MsgText::HeaderFieldsNot(l))))
    } else {
        fail(i, "section-text")
    }
}

/// `section = "[" [section-spec] "]"`
pub(crate) fn section(i: &[u8]) -> PResult<'_, Section> {
    let (i, ()) = byte(i, b'[', "[")?;
    let b = peek(i)?;
    let (i, s) = if b == b']' {
        (i, Section::Top(None))
    } else if b.is_ascii_digit() {
        let (i, part) = section_part(i)?;
        let part = Vec1::unvalidated(part);
        if peek(i)? == b'.' {
            let (i, t) = section_text(&i[1..], true)?;
            (i, Section::Part(part, Some(t)))
        } else {
            (i, Section::Part(part, None))
        }
    } else {
        let (i, t) = section_text(i, false)?;
        match t {
            PartText::Msg(m) => (i, Section::Top(Some(m))),
            PartText::Mime => return fail(i, "section"),
        }
    };
    let (i, ()) = byte(i, b']', "]")?;
    Ok((i, s))
}

/// `section-binary = "[" [section-part] "]"`
fn section_binary(i: &[u8]) -> PResult<'_, Vec<NonZeroU32>> {
    let (i, ()) = byte(i, b'[', "[")?;
    let (i, part) = if peek(i)? == b']' {
        (i, Vec::new())
    } else {
        section_part(i)?
    };
    let (i, ()) = byte(i, b']', "]")?;
    Ok((i, part))
}

/// `partial = "<" number "." nz-number ">"`, if present.
fn partial(i: &[u8]) -> PResult<'_, Option<Partial>> {
    if peek(i)? != b'<' {
        return Ok((i, None));
    }
    let (i, origin) = number(&i[1..])?;
    let (i, ()) = byte(i, b'.', ".")?;
    let (i, count) = nz_number(i)?;
    let (i, ()) = byte(i, b'>', ">")?;
    Ok((i, Some(Partial { origin, count })))
}

/// `fetch-att`
pub(crate) fn fetch_att(i: &[u8]) -> PResult<'_, FetchItem> {
    let start = i;
    let (i, name) = att_name(i)?;
    let simple = [
        ("ENVELOPE", FetchItem::Envelope),
        ("FLAGS", FetchItem::Flags),
        ("INTERNALDATE", FetchItem::InternalDate),
        ("RFC822", FetchItem::Rfc822),
        ("RFC822.HEADER", FetchItem::Rfc822Header),
        ("RFC822.SIZE", FetchItem::Rfc822Size),
        ("RFC822.TEXT", FetchItem::Rfc822Text),
        ("BODYSTRUCTURE", FetchItem::BodyStructure),
        ("UID", FetchItem::Uid),
        ("MODSEQ", FetchItem::ModSeq),
        ("EMAILID", FetchItem::EmailId),
        ("THREADID", FetchItem::ThreadId),
    ];
    if let Some((_, item)) = simple.iter().find(|(n, _)| is(name, n)) {
        return Ok((i, item.clone()));
    }
    let body = is(name, "BODY");
    if body || is(name, "BODY.PEEK") {
        if peek(i)? != b'[' {
            return if body {
                Ok((i, FetchItem::Body))
            } else {
                fail(i, "[")
            };
        }
        let (i, section) = section(i)?;
        let (i, partial) = partial(i)?;
        return Ok((
            i,
            FetchItem::BodySection {
                peek: !body,
                section,
                partial,
            },
        ));
    }
    let bin = is(name, "BINARY");
    if bin || is(name, "BINARY.PEEK") {
        let (i, part) = section_binary(i)?;
        let (i, partial) = partial(i)?;
        return Ok((
            i,
            FetchItem::Binary {
                peek: !bin,
                part,
                partial,
            },
        ));
    }
    if is(name, "BINARY.SIZE") {
        let (i, part) = section_binary(i)?;
        return Ok((i, FetchItem::BinarySize { part }));
    }
    fail(start, "fetch attribute")
}

/// `"ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")"`
pub(crate) fn fetch_items(i: &[u8]) -> PResult<'_, FetchItems> {
    if peek(i)? == b'(' {
        let (rest, items) = paren_list(i, false, fetch_att)?;
        return match Vec1::try_from(items) {
            Ok(v) => Ok((rest, FetchItems::Items(v))),
            Err(_) => fail(i, "fetch attribute"),
        };
    }
    let (rest, name) = att_name(i)?;
    for (n, m) in [
        ("ALL", FetchMacro::All),
        ("FAST", FetchMacro::Fast),
        ("FULL", FetchMacro::Full),
    ] {
        if is(name, n) {
            return Ok((rest, FetchItems::Macro(m)));
        }
    }
    let (rest, item) = fetch_att(i)?;
    Ok((rest, FetchItems::Items(Vec1::one(item))))
}

/// `msg-att` items: `"(" (msg-att-dynamic / msg-att-static) *(SP …) ")"`.
pub(crate) fn msg_atts(i: &[u8], depth: usize) -> PResult<'_, Vec1<MessageData>> {
    let (rest, items) = paren_list(i, true, |i| msg_att(i, depth))?;
    match Vec1::try_from(items) {
        Ok(v) => Ok((rest, v)),
        Err(_) => fail(i, "message data item"),
    }
}

/// `["<" number ">"]` after `BODY[section]` or `BINARY[part]` in a FETCH response.
fn origin(i: &[u8]) -> PResult<'_, Option<u32>> {
    if peek(i)? != b'<' {
        return Ok((i, None));
    }
    let (i, n) = number(&i[1..])?;
    // Quirk: Twisted echoes the request's `<origin.count>`; the count is dropped.
    let i = if peek(i)? == b'.' {
        number(&i[1..])?.0
    } else {
        i
    };
    let (i, ()) = byte(i, b'>', ">")?;
    Ok((i, Some(n)))
}

fn msg_att(i: &[u8], depth: usize) -> PResult<'_, MessageData> {
    let start = i;
    let (i, name) = att_name(i)?;
    if is(name, "BODY") && peek(i)? == b'[' {
        let (i, section) = section(i)?;
        let (i, origin) = origin(i)?;
        let (i, ()) = sp(i)?;
        let (i, data) = nstring(i)?;
        return Ok((
            i,
            MessageData::BodySection {
                section,
                origin,
                data,
            },
        ));
    }
    if is(name, "BINARY") {
        let (i, part) = section_binary(i)?;
        let (i, origin) = origin(i)?;
        let (i, ()) = sp(i)?;
        let (i, data) = match peek(i)? {
            b'~' => {
                let (i, d) = literal(i, true)?;
                (i, Some(d.to_vec()))
            }
            _ => {
                let (i, d) = nstring(i)?;
                (i, d.map(IString::into_bytes))
            }
        };
        return Ok((i, MessageData::Binary { part, origin, data }));
    }
    if is(name, "BINARY.SIZE") {
        let (i, part) = section_binary(i)?;
        let (i, ()) = sp(i)?;
        let (i, size) = number64(i)?;
        return Ok((i, MessageData::BinarySize { part, size }));
    }
    let (i, ()) = sp(i)?;
    if is(name, "FLAGS") {
        let (i, f) = paren_list(i, true, flag_fetch)?;
        Ok((i, MessageData::Flags(f)))
    } else if is(name, "UID") {
        let (i, n) = nz_number(i)?;
        Ok((i, MessageData::Uid(n)))
    } else if is(name, "RFC822.SIZE") {
        let (i, n) = number64(i)?;
        Ok((i, MessageData::Rfc822Size(n)))
    } else if is(name, "INTERNALDATE") {
        let (i, d) = date_time(i)?;
        Ok((i, MessageData::InternalDate(d)))
    } else if is(name, "ENVELOPE") {
        let (i, e) = envelope(i)?;
        Ok((i, MessageData::Envelope(Box::new(e))))
    } else if is(name, "BODYSTRUCTURE") {
        let (i, b) = body(i, depth)?;
        Ok((i, MessageData::BodyStructure(Box::new(b))))
    } else if is(name, "BODY") {
        let (i, b) = body(i, depth)?;
        Ok((i, MessageData::Body(Box::new(b))))
    } else if is(name, "RFC822") {
        let (i, s) = nstring(i)?;
        Ok((i, MessageData::Rfc822(s)))
    } else if is(name, "RFC822.HEADER") {
        let (i, s) = nstring(i)?;
        Ok((i, MessageData::Rfc822Header(s)))
    } else if is(name, "RFC822.TEXT") {
        let (i, s) = nstring(i)?;
        Ok((i, MessageData::Rfc822Text(s)))
    } else if is(name, "MODSEQ") {
        let (i, ()) = byte(i, b'(', "(")?;
        let (i, n) = number64(i)?;
        let (i, ()) = byte(i, b')', ")")?;
        Ok((i, MessageData::ModSeq(n)))
    } else if is(name, "EMAILID") {
        let (i, id) = paren_objectid(i)?;
        Ok((i, MessageData::EmailId(id)))
    } else if is(name, "THREADID") {
        if peek(i)? == b'(' {
            let (i, id) = paren_objectid(i)?;
            Ok((i, MessageData::ThreadId(Some(id))))
        } else {
            let (i, ()) = nil(i)?;
            Ok((i, MessageData::ThreadId(None)))
        }
    } else {
        fail(start, "message data item")
    }
}

/// A string where servers send `NIL` instead (quirk: Twisted's NIL media type and subtype for
/// messages without Content-Type, NIL encodings): `NIL` reads as the empty string.
#[inline]
fn string_or_nil(i: &[u8]) -> PResult<'_, IString> {
    let (i, s) = nstring(i)?;
    Ok((i, s.unwrap_or_default()))
}

/// `SP` followed by something other than `)` (a trailing space before `)` is a server quirk).
#[inline]
fn more(i: &[u8]) -> Result<Option<&[u8]>, Err<super::core::PError>> {
    if peek(i)? != b' ' {
        return Ok(None);
    }
    let mut j = &i[1..];
    while peek(j)? == b' ' {
        j = &j[1..];
    }
    if peek(j)? == b')' {
        return Ok(None);
    }
    Ok(Some(j))
}

/// Skips spaces before `)` (quirk), then reads `)`.
#[inline]
fn close(mut i: &[u8]) -> PResult<'_, ()> {
    while peek(i)? == b' ' {
        i = &i[1..];
    }
    byte(i, b')', ")")
}

/// `address = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"`. Quirk: Twisted
/// sends fewer fields for a group without members (`(NIL NIL "")`); the missing ones are NIL.
#[inline]
fn address(i: &[u8]) -> PResult<'_, Address> {
    let (mut i, ()) = byte(i, b'(', "(")?;
    let mut fields: [NString; 4] = Default::default();
    for (k, field) in fields.iter_mut().enumerate() {
        if k > 0 {
            if peek(i)? == b')' {
                break;
            }
            i = sp(i)?.0;
        }
        let (rest, v) = nstring(i)?;
        *field = v;
        i = rest;
    }
    let (i, ()) = close(i)?;
    let [name, adl, mailbox, host] = fields;
    Ok((
        i,
        Address {
            name,
            adl,
            mailbox,
            host,
        },
    ))
}

/// `"(" 1*address ")" / nil` (quirks: spaces between addresses, `()`).
fn address_list(i: &[u8]) -> PResult<'_, Vec<Address>> {
    if peek(i)? != b'(' {
        let (i, ()) = nil(i)?;
        return Ok((i, Vec::new()));
    }
    let mut i = &i[1..];
    let mut out = Vec::new();
    loop {
        match peek(i)? {
            b')' => return Ok((&i[1..], out)),
            b' ' => i = &i[1..],
            _ => {
                let (rest, a) = address(i)?;
                out.push(a);
                i = rest;
            }
        }
    }
}

/// `envelope`
pub(crate) fn envelope(i: &[u8]) -> PResult<'_, Envelope> {
    let (i, ()) = byte(i, b'(', "(")?;
    let (i, date) = nstring(i)?;
    let (i, ()) = sp(i)?;
    let (i, subject) = nstring(i)?;
    let (i, ()) = sp(i)?;
    let (i, from) = address_list(i)?;
    let (i, ()) = sp(i)?;
    let (i, sender) = address_list(i)?;
    let (i, ()) = sp(i)?;
    let (i, reply_to) = address_list(i)?;
    let (i, ()) = sp(i)?;
    let (i, to) = address_list(i)?;
    let (i, ()) = sp(i)?;
    let (i, cc) = address_list(i)?;
    let (i, ()) = sp(i)?;
    let (i, bcc) = address_list(i)?;
    let (i, ()) = sp(i)?;
    let (i, in_reply_to) = nstring(i)?;
    let (i, ()) = sp(i)?;
    let (i, message_id) = nstring(i)?;
    let (i, ()) = close(i)?;
    Ok((
        i,
        Envelope {
            date,
            subject,
            from,
            sender,
            reply_to,
            to,
            cc,
            bcc,
            in_reply_to,
            message_id,
        },
    ))
}

/// `body-fld-param = "(" string SP string *(SP string SP string) ")" / nil` (quirk: `()`).
fn params(i: &[u8]) -> PResult<'_, Params> {
    if peek(i)? != b'(' {
        let (i, ()) = nil(i)?;
        return Ok((i, Vec::new()));
    }
    let mut i = &i[1..];
    let mut out = Vec::new();
    loop {
        match peek(i)? {
            b')' => return Ok((&i[1..], out)),
            b' ' if !out.is_empty() => i = &i[1..],
            _ => {
                let (rest, k) = string_or_nil(i)?;
                let (rest, ()) = sp(rest)?;
                let (rest, v) = string_or_nil(rest)?;
                out.push((k, v));
                i = rest;
            }
        }
    }
}

/// `body-fields`
fn body_fields(i: &[u8]) -> PResult<'_, BodyFields> {
    let (i, parameters) = params(i)?;
    let (i, ()) = sp(i)?;
    let (i, id) = nstring(i)?;
    let (i, ()) = sp(i)?;
    let (i, description) = nstring(i)?;
    let (i, ()) = sp(i)?;
    let (i, encoding) = string_or_nil(i)?;
    let (i, ()) = sp(i)?;
    let (i, octets) = number(i)?;
    Ok((
        i,
        BodyFields {
            parameters,
            id,
            description,
            encoding,
            octets,
        },
    ))
}

/// `body = "(" (body-type-1part / body-type-mpart) ")"`, at most `depth` levels deep.
pub(crate) fn body(i: &[u8], depth: usize) -> PResult<'_, BodyStructure> {
    if depth == 0 {
        return too_deep(i);
    }
    let (i, ()) = byte(i, b'(', "body")?;
    if peek(i)? == b'(' {
        // body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
        let mut i = i;
        let mut bodies = Vec::new();
        loop {
            let (rest, b) = body(i, depth - 1)?;
            bodies.push(b);
            i = rest;
            match peek(i)? {
                b'(' => continue,
                b' ' if peek(&i[1..])? == b'(' => i = &i[1..],
                _ => break,
            }
        }
        let (i, ()) = sp(i)?;
        let (i, subtype) = string_or_nil(i)?;
        let (i, extension) = match more(i)? {
            None => (i, None),
            Some(j) => {
                let (j, parameters) = params(j)?;
                let (j, tail) = disposition_tail(j, depth)?;
                (j, Some(MultiPartExtension { parameters, tail }))
            }
        };
        let (i, ()) = close(i)?;
        return Ok((
            i,
            BodyStructure::Multi {
                bodies: Vec1::unvalidated(bodies),
                subtype,
                extension,
            },
        ));
    }
    let (i, media_type) = string_or_nil(i)?;
    let (i, ()) = sp(i)?;
    let (i, subtype) = string_or_nil(i)?;
    let (i, ()) = sp(i)?;
    let (i, fields) = body_fields(i)?;
    let t = media_type.as_bytes();
    let (i, specific) = if t.eq_ignore_ascii_case(b"TEXT") && starts_number(i)? {
        let (i, ()) = sp(i)?;
        let (i, lines) = number(i)?;
        (i, SpecificFields::Text { subtype, lines })
    } else if t.eq_ignore_ascii_case(b"MESSAGE")
        && (subtype.as_bytes().eq_ignore_ascii_case(b"RFC822")
            || subtype.as_bytes().eq_ignore_ascii_case(b"GLOBAL"))
        && i.len() >= 2
        && i[0] == b' '
        && i[1] == b'('
    {
        let (i, ()) = sp(i)?;
        let (i, envelope) = envelope(i)?;
        let (i, ()) = sp(i)?;
        let (i, inner) = body(i, depth - 1)?;
        let (i, ()) = sp(i)?;
        let (i, lines) = number(i)?;
        (
            i,
            SpecificFields::Message {
                subtype,
                envelope: Box::new(envelope),
                body: Box::new(inner),
                lines,
            },
        )
    } else {
        if t.eq_ignore_ascii_case(b"MESSAGE") && i.len() < 2 {
            return incomplete();
        }
        (
            i,
            SpecificFields::Basic {
                r#type: media_type,
                subtype,
            },
        )
    };
    let (i, extension) = match more(i)? {
        None => (i, None),
        Some(j) => {
            let (j, md5) = nstring(j)?;
            let (j, tail) = disposition_tail(j, depth)?;
            (j, Some(SinglePartExtension { md5, tail }))
        }
    };
    let (i, ()) = close(i)?;
    Ok((
        i,
        BodyStructure::Single {
            body: Body { fields, specific },
            extension,
        },
    ))
}

/// Whether the input continues with `SP number` (the line count of a TEXT part).
fn starts_number(i: &[u8]) -> Result<bool, Err<super::core::PError>> {
    if peek(i)? != b' ' {
        return Ok(false);
    }
    Ok(peek(&i[1..])?.is_ascii_digit())
}

/// `[SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc *(SP body-extension)]]]`
fn disposition_tail(i: &[u8], depth: usize) -> PResult<'_, Option<DispositionTail>> {
    let Some(i) = more(i)? else {
        return Ok((i, None));
    };
    let (i, disposition) = if peek(i)? == b'(' {
        let (i, ()) = byte(i, b'(', "(")?;
        let (i, d) = string_or_nil(i)?;
        let (i, ()) = sp(i)?;
        let (i, p) = params(i)?;
        let (i, ()) = close(i)?;
        (i, Some((d, p)))
    } else {
        let (i, ()) = nil(i)?;
        (i, None)
    };
    let (i, tail) = match more(i)? {
        None => (i, None),
        Some(j) => {
            let (j, language) = language(j)?;
            let (j, tail) = match more(j)? {
                None => (j, None),
                Some(k) => {
                    let (k, location) = nstring(k)?;
                    let mut k = k;
                    let mut extensions = Vec::new();
                    while let Some(m) = more(k)? {
                        let (m, e) = body_extension(m, depth)?;
                        extensions.push(e);
                        k = m;
                    }
                    (
                        k,
                        Some(LocationTail {
                            location,
                            extensions,
                        }),
                    )
                }
            };
            (j, Some(LanguageTail { language, tail }))
        }
    };
    Ok((i, Some(DispositionTail { disposition, tail })))
}

/// `body-fld-lang = nstring / "(" string *(SP string) ")"`
fn language(i: &[u8]) -> PResult<'_, Vec<IString>> {
    if peek(i)? == b'(' {
        return paren_list(i, true, string);
    }
    let (i, s): (&[u8], NString) = nstring(i)?;
    Ok((i, s.into_iter().collect()))
}

/// `body-extension = nstring / number / "(" body-extension *(SP body-extension) ")"`
fn body_extension(i: &[u8], depth: usize) -> PResult<'_, BodyExtension> {
    let b = peek(i)?;
    if b == b'(' {
        if depth == 0 {
            return too_deep(i);
        }
        let (rest, l) = paren_list(i, true, |i| body_extension(i, depth - 1))?;
        return match Vec1::try_from(l) {
            Ok(l) => Ok((rest, BodyExtension::List(l))),
            Err(_) => fail(i, "body-extension"),
        };
    }
    if b.is_ascii_digit() {
        let (i, n) = number64(i)?;
        return Ok((i, BodyExtension::Number(n)));
    }
    let (i, s) = nstring(i)?;
    Ok((i, BodyExtension::NString(s)))
}
