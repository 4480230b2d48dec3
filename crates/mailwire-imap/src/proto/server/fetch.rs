//! FETCH on the server side (RFC 9051 §6.4.5, §7.5.2; RFC 3501 §6.4.5): which data a request
//! needs from the store, and the `msg-att` items written from a message's metadata, its raw
//! octets and its MIME index (ENVELOPE, BODY, BODYSTRUCTURE, `BODY[section]<partial>`,
//! BINARY, RFC822.*).

use std::num::NonZeroU32;

use bytes::Bytes;
use mailwire_store::{MimeIndex, MimePart, SectionKind};

use super::MessageInfo;
use crate::proto::encode::{binary_prefix, body_section_prefix};
use crate::proto::types::body::{
    Body, BodyFields, BodyStructure, DispositionTail, Envelope, LanguageTail, LocationTail,
    MultiPartExtension, Params, SinglePartExtension, SpecificFields,
};
use crate::proto::types::core::{IString, NString, Vec1};
use crate::proto::types::fetch::{
    FetchItem, FetchItems, FetchMacro, MessageData, MsgText, PartText, Partial, Section,
};
use crate::proto::types::flag::FlagFetch;
use crate::proto::{EncodeOptions, header_fields_section};

/// What a FETCH needs from the store for each message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The sequence map has it all (FLAGS, UID, INTERNALDATE, RFC822.SIZE, MODSEQ).
    Meta,
    /// ENVELOPE, BODY, BODYSTRUCTURE (and metadata): the rendered structure.
    Structure,
    /// The raw octets (`BODY[]`, `RFC822`, partial ranges of them).
    Raw,
    /// The raw octets and the MIME index (sections; raw octets together with the structure).
    Mime,
}

/// The items of a FETCH, macros expanded; `uid` adds `UID` (RFC 9051 §6.4.9: `UID FETCH`
/// always returns it).
pub fn expand(items: &FetchItems, uid: bool) -> Vec<FetchItem> {
    let mut v = match items {
        FetchItems::Macro(m) => {
            let mut v = vec![
                FetchItem::Flags,
                FetchItem::InternalDate,
                FetchItem::Rfc822Size,
            ];
            match m {
                FetchMacro::Fast => {}
                FetchMacro::All => v.push(FetchItem::Envelope),
                FetchMacro::Full => {
                    v.push(FetchItem::Envelope);
                    v.push(FetchItem::Body);
                }
            }
            v
        }
        FetchItems::Items(items) => items.to_vec(),
    };
    if uid && !v.contains(&FetchItem::Uid) {
        v.insert(0, FetchItem::Uid);
    }
    v
}

/// The store data the items need.
pub fn need(items: &[FetchItem]) -> Need {
    let (mut structure, mut raw) = (false, false);
    for i in items {
        match i {
            FetchItem::Flags
            | FetchItem::Uid
            | FetchItem::InternalDate
            | FetchItem::Rfc822Size
            | FetchItem::ModSeq
            | FetchItem::EmailId
            | FetchItem::ThreadId => {}
            FetchItem::Envelope | FetchItem::Body | FetchItem::BodyStructure => structure = true,
            FetchItem::Rfc822
            | FetchItem::BodySection {
                section: Section::Top(None),
                ..
            } => raw = true,
            _ => return Need::Mime,
        }
    }
    match (structure, raw) {
        (true, true) => Need::Mime,
        (false, true) => Need::Raw,
        (true, false) => Need::Structure,
        (false, false) => Need::Meta,
    }
}

/// ENVELOPE, BODY and BODYSTRUCTURE of a message, encoded once (strings above 0x7F as
/// literals, as a session without UTF-8 sends them) in one buffer a store can keep: three
/// little-endian `u32` lengths, then the three encodings, each with its item name.
pub fn render_structure(raw: &[u8], mime: &MimeIndex) -> Bytes {
    let opts = EncodeOptions::default();
    let env = MessageData::Envelope(Box::new(envelope(&mime.root, raw))).encode(&opts);
    let body = MessageData::Body(Box::new(structure(&mime.root, raw, false, 0))).encode(&opts);
    let bs =
        MessageData::BodyStructure(Box::new(structure(&mime.root, raw, true, 0))).encode(&opts);
    let parts = [env.as_bytes(), body.as_bytes(), bs.as_bytes()];
    let mut out = Vec::with_capacity(12 + parts.iter().map(|p| p.len()).sum::<usize>());
    for p in parts {
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
    }
    for p in parts {
        out.extend_from_slice(p);
    }
    Bytes::from(out)
}

/// The three encodings of a [`render_structure`] buffer (`None` if it is not one).
fn rendered(buf: &[u8]) -> Option<[&[u8]; 3]> {
    let len = |i: usize| -> Option<usize> {
        Some(u32::from_le_bytes(buf.get(i * 4..i * 4 + 4)?.try_into().ok()?) as usize)
    };
    let (a, b, c) = (len(0)?, len(1)?, len(2)?);
    let rest = buf.get(12..)?;
    if rest.len() != a + b + c {
        return None;
    }
    Some([&rest[..a], &rest[a..a + b], &rest[a + b..]])
}

/// Whether an item sets `\Seen` (a non-PEEK body section, RFC822, RFC822.TEXT, BINARY).
pub fn sets_seen(items: &[FetchItem]) -> bool {
    items.iter().any(|i| {
        matches!(
            i,
            FetchItem::Rfc822
                | FetchItem::Rfc822Text
                | FetchItem::BodySection { peek: false, .. }
                | FetchItem::Binary { peek: false, .. }
        )
    })
}

/// Why an item could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemError {
    /// BINARY of a part whose Content-Transfer-Encoding is not known (`NO [UNKNOWN-CTE]`,
    /// RFC 3516 §4.3).
    UnknownCte,
}

/// The content of one message handed to [`write_fetch`].
pub struct Content<'a> {
    /// The raw message.
    pub raw: &'a [u8],
    /// Its MIME index.
    pub mime: Option<&'a MimeIndex>,
    /// Its [`render_structure`] buffer, used when the session does not send UTF-8.
    pub structure: Option<&'a [u8]>,
}

/// Writes `* seq FETCH (…)\r\n` for one message into `out`.
#[allow(clippy::too_many_arguments)]
pub fn write_fetch(
    out: &mut Vec<u8>,
    seq: u32,
    msg: &MessageInfo,
    items: &[FetchItem],
    content: Option<&Content<'_>>,
    add_flags: bool,
    condstore: bool,
    opts: &EncodeOptions,
) -> Result<(), ItemError> {
    let start = out.len();
    out.extend_from_slice(b"* ");
    out.extend_from_slice(seq.to_string().as_bytes());
    out.extend_from_slice(b" FETCH (");
    let mut first = true;
    let mut sep = |out: &mut Vec<u8>| {
        if !std::mem::replace(&mut first, false) {
            out.push(b' ');
        }
    };
    let mut wrote_flags = false;
    let mut wrote_modseq = false;
    for item in items {
        sep(out);
        let r = write_item(out, msg, item, content, opts);
        if let Err(e) = r {
            out.truncate(start);
            return Err(e);
        }
        wrote_flags |= matches!(item, FetchItem::Flags);
        wrote_modseq |= matches!(item, FetchItem::ModSeq);
    }
    let wrote_uid = items.contains(&FetchItem::Uid);
    if add_flags && !wrote_flags {
        sep(out);
        put(out, &MessageData::Flags(flag_fetch(msg)), opts);
        // RFC 7162 §3.2.4: a FETCH that set `\Seen` reports UID and MODSEQ under CONDSTORE.
        if condstore && !wrote_uid {
            sep(out);
            put(out, &MessageData::Uid(nz_uid(msg.uid)), opts);
        }
    }
    // RFC 7162 §3.1.4: under CONDSTORE, MODSEQ goes with every FLAGS.
    if condstore && (wrote_flags || add_flags) && !wrote_modseq {
        sep(out);
        put(out, &MessageData::ModSeq(msg.modseq), opts);
    }
    out.extend_from_slice(b")\r\n");
    Ok(())
}

fn nz_uid(uid: u32) -> NonZeroU32 {
    NonZeroU32::new(uid).unwrap_or(NonZeroU32::MIN)
}

/// Writes an unsolicited or STORE-caused `* seq FETCH (…)` of metadata items only (UID,
/// FLAGS, MODSEQ), which cannot fail.
pub fn write_flags(
    out: &mut Vec<u8>,
    seq: u32,
    msg: &MessageInfo,
    items: &[FetchItem],
    opts: &EncodeOptions,
) {
    debug_assert!(need(items) == Need::Meta);
    let _ = write_fetch(out, seq, msg, items, None, false, false, opts);
}

/// `FLAGS (…)` values of a message.
pub fn flag_fetch(msg: &MessageInfo) -> Vec<FlagFetch> {
    msg.flags.iter().cloned().map(FlagFetch::Flag).collect()
}

fn put(out: &mut Vec<u8>, d: &MessageData, opts: &EncodeOptions) {
    out.extend_from_slice(d.encode(opts).as_bytes());
}

fn literal(out: &mut Vec<u8>, data: &[u8]) {
    out.push(b'{');
    out.extend_from_slice(data.len().to_string().as_bytes());
    out.extend_from_slice(b"}\r\n");
    out.extend_from_slice(data);
}

fn partial_of<'a>(data: &'a [u8], p: Option<&Partial>) -> &'a [u8] {
    match p {
        None => data,
        Some(p) => {
            let start = (p.origin as usize).min(data.len());
            let end = start.saturating_add(p.count.get() as usize).min(data.len());
            &data[start..end]
        }
    }
}

fn write_item(
    out: &mut Vec<u8>,
    msg: &MessageInfo,
    item: &FetchItem,
    content: Option<&Content<'_>>,
    opts: &EncodeOptions,
) -> Result<(), ItemError> {
    let raw = content.map_or(&[][..], |c| c.raw);
    let mime = content.and_then(|c| c.mime);
    let cached = if opts.utf8 {
        None
    } else {
        content.and_then(|c| c.structure).and_then(rendered)
    };
    match item {
        FetchItem::Flags => put(out, &MessageData::Flags(flag_fetch(msg)), opts),
        FetchItem::Uid => put(out, &MessageData::Uid(nz_uid(msg.uid)), opts),
        FetchItem::InternalDate => {
            put(out, &MessageData::InternalDate(msg.internal_date), opts);
        }
        FetchItem::Rfc822Size => put(out, &MessageData::Rfc822Size(msg.size), opts),
        FetchItem::ModSeq => put(out, &MessageData::ModSeq(msg.modseq), opts),
        FetchItem::EmailId | FetchItem::ThreadId => {
            // OBJECTID is not offered; a client that asks anyway gets NIL-free nothing.
            out.pop();
        }
        FetchItem::Envelope if cached.is_some() => {
            out.extend_from_slice(cached.map_or(&[][..], |c| c[0]));
        }
        FetchItem::Body if cached.is_some() => {
            out.extend_from_slice(cached.map_or(&[][..], |c| c[1]));
        }
        FetchItem::BodyStructure if cached.is_some() => {
            out.extend_from_slice(cached.map_or(&[][..], |c| c[2]));
        }
        FetchItem::Envelope => {
            let env = mime.map(|m| envelope(&m.root, raw)).unwrap_or_default();
            put(out, &MessageData::Envelope(Box::new(env)), opts);
        }
        FetchItem::Body | FetchItem::BodyStructure => {
            let ext = matches!(item, FetchItem::BodyStructure);
            let bs = match mime {
                Some(m) => structure(&m.root, raw, ext, 0),
                None => empty_text(ext),
            };
            let d = if ext {
                MessageData::BodyStructure(Box::new(bs))
            } else {
                MessageData::Body(Box::new(bs))
            };
            put(out, &d, opts);
        }
        FetchItem::Rfc822 => {
            out.extend_from_slice(b"RFC822 ");
            literal(out, raw);
        }
        FetchItem::Rfc822Header => {
            out.extend_from_slice(b"RFC822.HEADER ");
            let h = mime.map_or(&[][..], |m| &raw[m.root.header.clone()]);
            literal(out, h);
        }
        FetchItem::Rfc822Text => {
            out.extend_from_slice(b"RFC822.TEXT ");
            let t = mime.map_or(&[][..], |m| &raw[m.root.body.clone()]);
            literal(out, t);
        }
        FetchItem::BodySection {
            section, partial, ..
        } => {
            let data = section_bytes(raw, mime, section);
            body_section_prefix(out, b"BODY", section, partial.map(|p| p.origin));
            match data {
                Some(d) => literal(out, partial_of(&d, partial.as_ref())),
                // A part that does not exist is empty (RFC 9051 §6.4.5 leaves it open;
                // Dovecot and Cyrus answer an empty string too).
                None => literal(out, b""),
            }
        }
        FetchItem::Binary { part, partial, .. } => {
            let decoded = binary(raw, mime, part)?;
            binary_prefix(out, b"BINARY", part, partial.map(|p| p.origin));
            match decoded {
                None => out.extend_from_slice(b"NIL"),
                Some(d) => {
                    let d = partial_of(&d, partial.as_ref());
                    if d.contains(&0) {
                        out.push(b'~');
                    }
                    literal(out, d);
                }
            }
        }
        FetchItem::BinarySize { part } => {
            let size = binary(raw, mime, part)?.map_or(0, |d| d.len() as u64);
            put(
                out,
                &MessageData::BinarySize {
                    part: part.clone(),
                    size,
                },
                opts,
            );
        }
    }
    Ok(())
}

/// The octets of a section, or `None` when the message has no such part.
pub fn section_bytes(raw: &[u8], mime: Option<&MimeIndex>, section: &Section) -> Option<Vec<u8>> {
    let (path, text): (Vec<u32>, Option<&PartText>) = match section {
        Section::Top(None) => return Some(raw.to_vec()),
        Section::Top(Some(t)) => {
            let m = mime?;
            return msg_text(raw, &m.root, m.section(&[], SectionKind::Text), t);
        }
        Section::Part(p, t) => (p.iter().map(|n| n.get()).collect(), t.as_ref()),
    };
    let m = mime?;
    match text {
        None => m
            .section_bytes(raw, &path, SectionKind::Full)
            .map(<[u8]>::to_vec),
        Some(PartText::Mime) => m
            .section_bytes(raw, &path, SectionKind::Mime)
            .map(<[u8]>::to_vec),
        Some(PartText::Msg(t)) => {
            let part = m.part(&path)?;
            let inner = part.message.as_deref()?;
            msg_text(raw, inner, Some(inner.body.clone()), t)
        }
    }
}

fn msg_text(
    raw: &[u8],
    entity: &MimePart,
    body: Option<std::ops::Range<usize>>,
    t: &MsgText,
) -> Option<Vec<u8>> {
    let lines = || entity.fields.iter().map(|f| (f.name(raw), f.line(raw)));
    Some(match t {
        MsgText::Header => raw.get(entity.header.clone())?.to_vec(),
        MsgText::Text => raw.get(body?)?.to_vec(),
        MsgText::HeaderFields(names) | MsgText::HeaderFieldsNot(names) => {
            let names: Vec<&[u8]> = names.iter().map(|n| n.as_bytes()).collect();
            header_fields_section(lines(), &names, matches!(t, MsgText::HeaderFieldsNot(_)))
        }
    })
}

/// BINARY: the part's body with its Content-Transfer-Encoding removed (RFC 3516 §4.2).
fn binary(
    raw: &[u8],
    mime: Option<&MimeIndex>,
    part: &[NonZeroU32],
) -> Result<Option<Vec<u8>>, ItemError> {
    let Some(m) = mime else {
        return Ok(Some(raw.to_vec()));
    };
    if part.is_empty() {
        return Ok(Some(raw.to_vec()));
    }
    let path: Vec<u32> = part.iter().map(|n| n.get()).collect();
    let Some(p) = m.part(&path) else {
        return Ok(None);
    };
    let body = raw.get(p.body.clone()).unwrap_or_default();
    let enc = p.encoding.as_deref().unwrap_or("7bit").trim();
    if enc.eq_ignore_ascii_case("base64") {
        Ok(Some(decode_base64(body)))
    } else if enc.eq_ignore_ascii_case("quoted-printable") {
        Ok(Some(decode_qp(body)))
    } else if ["7bit", "8bit", "binary"]
        .iter()
        .any(|e| enc.eq_ignore_ascii_case(e))
    {
        Ok(Some(body.to_vec()))
    } else {
        Err(ItemError::UnknownCte)
    }
}

/// Base64 body text, ignoring line breaks and anything outside the alphabet (RFC 2045 §6.8).
pub fn decode_base64(body: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let clean: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'))
        .collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    // A dangling sixth bit group cannot be decoded: drop it.
    let usable = clean.len() - usize::from(clean.len() % 4 == 1);
    engine.decode(&clean[..usable]).unwrap_or_default()
}

/// Quoted-printable body text (RFC 2045 §6.7): `=XX` octets and soft line breaks; malformed
/// escapes are kept as written.
pub fn decode_qp(body: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if b == b'=' {
            let rest = &body[i + 1..];
            if rest.starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            if rest.starts_with(b"\n") {
                i += 2;
                continue;
            }
            if let (Some(&h), Some(&l)) = (rest.first(), rest.get(1))
                && let (Some(h), Some(l)) = (hex(h), hex(l))
            {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

/// A string for ENVELOPE or BODYSTRUCTURE: NUL octets, which no IMAP string carries, dropped.
fn istr(s: &str) -> IString {
    IString::new(s.bytes().filter(|&b| b != 0).collect::<Vec<u8>>()).unwrap_or_default()
}

fn nstr(s: Option<&str>) -> NString {
    s.map(istr)
}

fn params(p: &[(String, String)]) -> Params {
    p.iter().map(|(n, v)| (istr(n), istr(v))).collect()
}

/// The ENVELOPE of an entity (a message or an encapsulated message).
pub fn envelope(entity: &MimePart, raw: &[u8]) -> Envelope {
    Envelope::from_fields(entity.fields.iter().map(|f| (f.name(raw), f.value(raw))))
}

fn empty_text(ext: bool) -> BodyStructure {
    BodyStructure::Single {
        body: Body {
            fields: BodyFields {
                parameters: vec![(istr("charset"), istr("us-ascii"))],
                id: None,
                description: None,
                encoding: istr("7bit"),
                octets: 0,
            },
            specific: SpecificFields::Text {
                subtype: istr("plain"),
                lines: 0,
            },
        },
        extension: ext.then_some(SinglePartExtension {
            md5: None,
            tail: None,
        }),
    }
}

fn tail(part: &MimePart) -> Option<DispositionTail> {
    Some(DispositionTail {
        disposition: part
            .disposition
            .as_ref()
            .map(|d| (istr(&d.kind), params(&d.params))),
        tail: Some(LanguageTail {
            language: part.language.iter().map(|l| istr(l)).collect(),
            tail: Some(LocationTail {
                location: nstr(part.location.as_deref()),
                extensions: Vec::new(),
            }),
        }),
    })
}

/// BODY (`ext = false`) or BODYSTRUCTURE (`ext = true`) of an entity.
pub fn structure(part: &MimePart, raw: &[u8], ext: bool, depth: usize) -> BodyStructure {
    if part.is_multipart() && depth < mailwire_store::mime::MAX_DEPTH {
        let bodies: Vec<BodyStructure> = part
            .children
            .iter()
            .map(|c| structure(c, raw, ext, depth + 1))
            .collect();
        if let Ok(bodies) = Vec1::try_from(bodies) {
            return BodyStructure::Multi {
                bodies,
                subtype: istr(&part.media_subtype),
                extension: ext.then(|| MultiPartExtension {
                    parameters: params(&part.params),
                    tail: tail(part),
                }),
            };
        }
    }
    let fields = BodyFields {
        parameters: params(&part.params),
        id: nstr(part.id.as_deref()),
        description: nstr(part.description.as_deref()),
        encoding: istr(part.encoding.as_deref().unwrap_or("7bit")),
        octets: u32::try_from(part.size()).unwrap_or(u32::MAX),
    };
    let specific = match &part.message {
        Some(inner) if depth < mailwire_store::mime::MAX_DEPTH => SpecificFields::Message {
            subtype: istr(&part.media_subtype),
            envelope: Box::new(envelope(inner, raw)),
            body: Box::new(structure(inner, raw, ext, depth + 1)),
            lines: part.lines,
        },
        _ if part.is_text() => SpecificFields::Text {
            subtype: istr(&part.media_subtype),
            lines: part.lines,
        },
        _ => SpecificFields::Basic {
            r#type: istr(&part.media_type),
            subtype: istr(&part.media_subtype),
        },
    };
    BodyStructure::Single {
        body: Body { fields, specific },
        extension: ext.then(|| SinglePartExtension {
            md5: nstr(part.md5.as_deref()),
            tail: tail(part),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::types::datetime::DateTime;

    const MSG: &[u8] =
        b"From: A <a@x.test>\r\nSubject: hi\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: base64\r\n\r\naGVs\r\nbG8=\r\n--b--\r\n";

    fn info() -> MessageInfo {
        MessageInfo {
            uid: 7,
            modseq: 3,
            flags: vec![crate::proto::Flag::Seen],
            internal_date: DateTime::new(crate::proto::Date::new(2024, 1, 2).unwrap(), 3, 4, 5, 60)
                .unwrap(),
            internal_timestamp: 1_704_164_645,
            size: MSG.len() as u64,
        }
    }

    fn fetch(items: &[FetchItem]) -> Result<String, ItemError> {
        let idx = MimeIndex::parse(MSG);
        let c = Content {
            raw: MSG,
            mime: Some(&idx),
            structure: None,
        };
        let mut out = Vec::new();
        write_fetch(
            &mut out,
            1,
            &info(),
            items,
            Some(&c),
            false,
            false,
            &EncodeOptions::default(),
        )?;
        Ok(String::from_utf8(out).unwrap())
    }

    /// A rendered structure buffer writes exactly what rendering from the message writes, for
    /// ASCII and 8-bit headers, and is not used by a UTF-8 session.
    #[test]
    fn rendered_structure_writes_the_same_items() {
        let eight = "Subject: Gr\u{fc}\u{df}e\r\nFrom: J\u{f6}rg <j@example.com>\r\n\r\nbody\r\n";
        let items = [
            FetchItem::Uid,
            FetchItem::Envelope,
            FetchItem::Body,
            FetchItem::BodyStructure,
            FetchItem::Flags,
        ];
        for raw in [MSG, eight.as_bytes()] {
            let idx = MimeIndex::parse(raw);
            let buf = render_structure(raw, &idx);
            assert!(rendered(&buf).is_some());
            for utf8 in [false, true] {
                let opts = EncodeOptions {
                    utf8,
                    ..EncodeOptions::default()
                };
                let write = |c: &Content<'_>| {
                    let mut out = Vec::new();
                    write_fetch(&mut out, 1, &info(), &items, Some(c), false, false, &opts)
                        .unwrap();
                    out
                };
                let fresh = write(&Content {
                    raw,
                    mime: Some(&idx),
                    structure: None,
                });
                let cached = write(&Content {
                    raw: b"",
                    mime: None,
                    structure: Some(&buf),
                });
                if utf8 {
                    // Not used: rendered again, and without the message there is nothing.
                    assert_ne!(cached, fresh);
                } else {
                    assert_eq!(
                        String::from_utf8_lossy(&cached),
                        String::from_utf8_lossy(&fresh)
                    );
                }
            }
        }
        assert!(rendered(b"\x01\0\0\0").is_none());
    }

    #[test]
    fn items_and_sections() {
        let s = fetch(&[FetchItem::Uid, FetchItem::Flags, FetchItem::Rfc822Size]).unwrap();
        assert_eq!(
            s,
            format!(
                "* 1 FETCH (UID 7 FLAGS (\\Seen) RFC822.SIZE {})\r\n",
                MSG.len()
            )
        );
        let s = fetch(&[FetchItem::BodySection {
            peek: true,
            section: Section::part(&[1]).unwrap(),
            partial: None,
        }])
        .unwrap();
        assert_eq!(s, "* 1 FETCH (BODY[1] {5}\r\nhello)\r\n");
        let s = fetch(&[FetchItem::BodySection {
            peek: true,
            section: Section::Top(Some(MsgText::HeaderFields(Vec1::one(
                crate::proto::AString::new("subject").unwrap(),
            )))),
            partial: Some(Partial {
                origin: 2,
                count: NonZeroU32::new(5).unwrap(),
            }),
        }])
        .unwrap();
        assert!(
            s.starts_with("* 1 FETCH (BODY[HEADER.FIELDS (subject)]<2> {5}\r\nbject)"),
            "{s}"
        );
        let s = fetch(&[FetchItem::Binary {
            peek: true,
            part: vec![NonZeroU32::new(2).unwrap()],
            partial: None,
        }])
        .unwrap();
        assert_eq!(s, "* 1 FETCH (BINARY[2] {5}\r\nhello)\r\n");
        let s = fetch(&[FetchItem::BodyStructure]).unwrap();
        assert!(
            s.contains("(\"TEXT\" \"plain\" NIL NIL NIL \"7bit\" 5 1 NIL NIL NIL NIL)")
                && s.contains("\"mixed\" (\"boundary\" \"b\")"),
            "{s}"
        );
        let s = fetch(&[FetchItem::Envelope]).unwrap();
        assert!(s.contains("\"hi\" ((\"A\" NIL \"a\" \"x.test\"))"), "{s}");
    }

    #[test]
    fn transfer_decoding() {
        assert_eq!(decode_qp(b"a=3Db=\r\nc=ZZ"), b"a=bc=ZZ");
        assert_eq!(decode_base64(b"aGVs\r\nbG8\r\n"), b"hello");
        assert_eq!(decode_base64(b"!!"), b"");
    }
}
