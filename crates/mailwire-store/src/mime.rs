//! The MIME index: a message parsed once into a part tree with byte offsets, so that
//! BODYSTRUCTURE, ENVELOPE, `BODY[1.2.MIME]`, `HEADER.FIELDS` and partial fetches are served
//! later without reparsing.
//!
//! The header fields come from the [`mail_parser`] crate (its raw header offsets: names,
//! values, folding, odd lines). What this module adds is what a store serving IMAP needs
//! exactly and `mail-parser` does not give:
//! - **the part tree, split at the delimiters here** (RFC 2046 §5.1.1): a part's body ends
//!   before the line break of the next delimiter. `mail-parser`'s own tree loses parts after a
//!   `message/rfc822` nested in a `message/rfc822` inside a multipart, and loses the
//!   `multipart/digest` default after the first implicit `message/rfc822` part (both found by
//!   `tests/mime_properties.rs`), so its part offsets are not used;
//! - the values **as written**: media type, subtype and parameters from the raw `Content-Type`
//!   (RFC 2047/2231 left encoded, as BODYSTRUCTURE requires), and the other `Content-*` fields;
//! - the RFC 2045/2046 **defaults** (`text/plain; charset=us-ascii`, `message/rfc822` inside
//!   `multipart/digest`), and a multipart without usable parts served as one `text/plain` part;
//! - an **encapsulated message** for every `message/rfc822` (and `message/global`) part, with
//!   offsets into the stored bytes even when the part was sent with a transfer encoding (then
//!   its raw body is read as the message, as IMAP servers do);
//! - nesting cut at [`MAX_DEPTH`], boundaries longer than [`MAX_BOUNDARY_LEN`] not followed.
//!
//! The index never fails: a message that is not valid MIME still gets one (at worst a single
//! `text/plain` part spanning the body). The message bytes themselves are never changed; bytes
//! that are not UTF-8 are replaced by U+FFFD in the index strings.
//!
//! ```
//! use mailwire_store::{MimeIndex, SectionKind};
//!
//! let raw = b"Subject: hi\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
//! --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n--b--\r\n";
//! let index = MimeIndex::parse(raw);
//! assert!(index.root.is_multipart());
//! assert_eq!(index.section_bytes(raw, &[1], SectionKind::Full), Some(&b"hello"[..]));
//! assert_eq!(index.root.children[0].param("charset"), Some("utf-8"));
//! assert_eq!(index.root.header_value(raw, "SUBJECT"), Some(&b" hi\r\n"[..]));
//! ```
//!
//! The IMAP-shaped values (ENVELOPE addresses, `HEADER.FIELDS` selection) are made by the IMAP
//! crate from [`MimePart::fields`]; the store knows no protocol.

use std::ops::Range;

use mail_parser::MessageParser;

/// How deep multiparts and encapsulated messages are followed; deeper parts are leaves.
pub const MAX_DEPTH: usize = 40;

/// The longest multipart boundary followed (RFC 2046 §5.1.1 allows 70 characters).
pub const MAX_BOUNDARY_LEN: usize = 200;

/// The parsed structure of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MimeIndex {
    /// The whole message as a MIME entity (its header is the message header).
    pub root: MimePart,
    /// The message size in bytes.
    pub size: usize,
}

/// One header field of an entity, as byte ranges into the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderField {
    /// The field name (before the colon).
    pub name: Range<usize>,
    /// The raw value after the colon, folding and the final line break included.
    pub value: Range<usize>,
}

impl HeaderField {
    /// The field name.
    pub fn name<'a>(&self, raw: &'a [u8]) -> &'a [u8] {
        raw.get(self.name.clone()).unwrap_or_default()
    }

    /// The raw value (after the colon, line breaks included).
    pub fn value<'a>(&self, raw: &'a [u8]) -> &'a [u8] {
        raw.get(self.value.clone()).unwrap_or_default()
    }

    /// The whole field, name to final line break, as it is in the message.
    pub fn line<'a>(&self, raw: &'a [u8]) -> &'a [u8] {
        raw.get(self.name.start..self.value.end).unwrap_or_default()
    }
}

/// One MIME entity: a message, a part of a multipart, or an encapsulated message's top entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MimePart {
    /// The header, from its first byte to the end of the blank line that ends it (what IMAP
    /// returns for `BODY[HEADER]` or `BODY[n.MIME]`).
    pub header: Range<usize>,
    /// The body, after the blank line; for a part of a multipart, up to (not including) the line
    /// break before the next boundary.
    pub body: Range<usize>,
    /// The header fields in order, duplicates included.
    pub fields: Vec<HeaderField>,
    /// The media type as written (`text`, `multipart`, ...), defaulted when absent.
    pub media_type: String,
    /// The media subtype as written (`plain`, `mixed`, ...), defaulted when absent.
    pub media_subtype: String,
    /// Content-Type parameters in order, names as written, values unquoted.
    pub params: Vec<(String, String)>,
    /// Whether the part had a Content-Type header (false: the values above are defaults).
    pub has_content_type: bool,
    /// Content-ID.
    pub id: Option<String>,
    /// Content-Description.
    pub description: Option<String>,
    /// Content-Transfer-Encoding as written; `None` means 7BIT.
    pub encoding: Option<String>,
    /// Content-MD5.
    pub md5: Option<String>,
    /// Content-Disposition.
    pub disposition: Option<Disposition>,
    /// Content-Language tags.
    pub language: Vec<String>,
    /// Content-Location.
    pub location: Option<String>,
    /// Body size in lines (counted for every part; IMAP reports it for `text/*` and
    /// `message/rfc822`).
    pub lines: u32,
    /// The parts of a multipart, in order (empty otherwise).
    pub children: Vec<MimePart>,
    /// For `message/rfc822` (and `message/global`): the encapsulated message's top entity
    /// (its header is the encapsulated message header).
    pub message: Option<Box<MimePart>>,
}

/// Content-Disposition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disposition {
    /// `inline`, `attachment`, ... as written.
    pub kind: String,
    /// Parameters, names as written, values unquoted.
    pub params: Vec<(String, String)>,
}

/// Which bytes of a part a FETCH section names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    /// `BODY[path]` (the whole message for an empty path).
    Full,
    /// `BODY[path.HEADER]` (also `HEADER.FIELDS`): the message header, for the root or a
    /// `message/rfc822` part.
    Header,
    /// `BODY[path.TEXT]`: the message body, for the root or a `message/rfc822` part.
    Text,
    /// `BODY[path.MIME]`: the MIME header of a part (not valid for an empty path).
    Mime,
}

impl MimeIndex {
    /// Parses `raw`. Never fails.
    pub fn parse(raw: &[u8]) -> MimeIndex {
        MimeIndex {
            root: entity(raw, 0..raw.len(), DefaultType::TextPlain, 0),
            size: raw.len(),
        }
    }

    /// The part at `path` (IMAP part numbers, 1-based); the root for an empty path.
    ///
    /// For a non-multipart message (or encapsulated message), part `1` is the message itself.
    pub fn part(&self, path: &[u32]) -> Option<&MimePart> {
        let mut entity = &self.root;
        if path.is_empty() {
            return Some(entity);
        }
        for (i, &n) in path.iter().enumerate() {
            let child = if entity.is_multipart() {
                entity.children.get((n as usize).checked_sub(1)?)?
            } else if n == 1 {
                entity
            } else {
                return None;
            };
            if i + 1 == path.len() {
                return Some(child);
            }
            entity = if let Some(m) = &child.message {
                m
            } else if child.is_multipart() {
                child
            } else {
                return None;
            };
        }
        None
    }

    /// The byte range of a FETCH section, or `None` when it does not exist.
    ///
    /// `Header` and `Text` are valid for the empty path and for `message/rfc822` parts; `Mime`
    /// for non-empty paths; `Full` everywhere.
    pub fn section(&self, path: &[u32], kind: SectionKind) -> Option<Range<usize>> {
        if path.is_empty() {
            return match kind {
                SectionKind::Full => Some(0..self.size),
                SectionKind::Header => Some(self.root.header.clone()),
                SectionKind::Text => Some(self.root.body.clone()),
                SectionKind::Mime => None,
            };
        }
        let part = self.part(path)?;
        match kind {
            SectionKind::Full => Some(part.body.clone()),
            SectionKind::Mime => Some(part.header.clone()),
            SectionKind::Header => part.message.as_ref().map(|m| m.header.clone()),
            SectionKind::Text => part.message.as_ref().map(|m| m.body.clone()),
        }
    }

    /// The bytes of a FETCH section of `raw` (the message this index was made from).
    pub fn section_bytes<'a>(
        &self,
        raw: &'a [u8],
        path: &[u32],
        kind: SectionKind,
    ) -> Option<&'a [u8]> {
        let r = self.section(path, kind)?;
        raw.get(r)
    }
}

impl MimePart {
    /// True for `multipart/*` with parts.
    pub fn is_multipart(&self) -> bool {
        self.media_type.eq_ignore_ascii_case("multipart") && !self.children.is_empty()
    }

    /// True for `message/rfc822` (and `message/global`) with an encapsulated message.
    pub fn is_message(&self) -> bool {
        self.message.is_some()
    }

    /// True for `text/*`.
    pub fn is_text(&self) -> bool {
        self.media_type.eq_ignore_ascii_case("text")
    }

    /// The body size in bytes.
    pub fn size(&self) -> usize {
        self.body.end - self.body.start
    }

    /// A Content-Type parameter, by case-insensitive name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The raw value of the first header field called `name` (case-insensitive).
    pub fn header_value<'a>(&self, raw: &'a [u8], name: &str) -> Option<&'a [u8]> {
        self.fields
            .iter()
            .find(|f| f.name(raw).eq_ignore_ascii_case(name.as_bytes()))
            .map(|f| f.value(raw))
    }

    /// Every part below this one (children, encapsulated messages, recursively), depth first.
    pub fn descendants(&self) -> Vec<&MimePart> {
        let mut out = Vec::new();
        let mut stack: Vec<&MimePart> = vec![self];
        while let Some(p) = stack.pop() {
            if !std::ptr::eq(p, self) {
                out.push(p);
            }
            if let Some(m) = &p.message {
                stack.push(m);
            }
            stack.extend(p.children.iter().rev());
        }
        out
    }
}

#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum DefaultType {
    #[default]
    TextPlain,
    MessageRfc822,
}

/// The entity that `raw[range]` holds: its header up to the first empty line (RFC 5322 §2.1),
/// the fields in it as `mail-parser` reads them, and below it the parts of a multipart or the
/// encapsulated message.
fn entity(raw: &[u8], range: Range<usize>, default: DefaultType, depth: usize) -> MimePart {
    let body_start = header_end(raw, range.start, range.end);
    let header = range.start..body_start;
    let fields = header_fields(raw, header.clone());
    let mut part = describe(raw, header, body_start..range.end, fields, default);
    if depth >= MAX_DEPTH {
        return part;
    }
    if part.media_type.eq_ignore_ascii_case("multipart") {
        let child_default = if part.media_subtype.eq_ignore_ascii_case("digest") {
            DefaultType::MessageRfc822
        } else {
            DefaultType::TextPlain
        };
        if let Some(b) = part
            .param("boundary")
            .filter(|b| !b.is_empty() && b.len() <= MAX_BOUNDARY_LEN)
            .map(|b| b.as_bytes().to_vec())
        {
            for (s, e) in split_multipart(raw, part.body.start, part.body.end, &b) {
                part.children
                    .push(entity(raw, s..e, child_default, depth + 1));
            }
        }
        if part.children.is_empty() {
            // Malformed multipart: serve it as a single text/plain part.
            set_text_plain(&mut part);
        }
    } else if is_message_type(&part) {
        // Sent with a transfer encoding or not, the raw body is read as the message.
        part.message = Some(Box::new(entity(
            raw,
            part.body.clone(),
            DefaultType::TextPlain,
            depth + 1,
        )));
    }
    part
}

/// The end of the header that starts at `start`: just after the first empty line, or `end`.
/// A part that starts with an empty line has an empty header (that line).
fn header_end(raw: &[u8], start: usize, end: usize) -> usize {
    let mut i = start;
    while i < end {
        let line_end = match raw[i..end].iter().position(|&b| b == b'\n') {
            Some(p) => i + p + 1,
            None => return end,
        };
        if matches!(&raw[i..line_end], b"\n" | b"\r\n") {
            return line_end;
        }
        i = line_end;
    }
    end
}

/// The fields of the header `raw[header]`, as `mail-parser` splits them (folding, names and
/// values), turned into ranges of the stored message.
fn header_fields(raw: &[u8], header: Range<usize>) -> Vec<HeaderField> {
    let Some(message) = MessageParser::new().parse_headers(&raw[header.clone()]) else {
        return Vec::new();
    };
    let Some(first) = message.parts.first() else {
        return Vec::new();
    };
    let at = |o: u32| (header.start + o as usize).min(header.end);
    first
        .headers
        .iter()
        .map(|h| {
            let (field, start) = (at(h.offset_field), at(h.offset_start));
            // The name ends before the colon.
            let name_end = raw[field..start.max(field)]
                .iter()
                .rposition(|&b| b == b':')
                .map_or(start.max(field), |c| field + c);
            let value_end = at(h.offset_end).max(start);
            HeaderField {
                name: field..name_end,
                value: start.max(name_end)..value_end.max(name_end),
            }
        })
        .collect()
}

fn is_message_type(p: &MimePart) -> bool {
    p.media_type.eq_ignore_ascii_case("message")
        && (p.media_subtype.eq_ignore_ascii_case("rfc822")
            || p.media_subtype.eq_ignore_ascii_case("global"))
}

fn set_text_plain(part: &mut MimePart) {
    part.media_type = "text".into();
    part.media_subtype = "plain".into();
    part.params = vec![("charset".into(), "us-ascii".into())];
}

/// The entity's own fields: the `Content-*` values as written, and the defaults.
fn describe(
    raw: &[u8],
    header: Range<usize>,
    body: Range<usize>,
    fields: Vec<HeaderField>,
    default: DefaultType,
) -> MimePart {
    let mut part = MimePart {
        lines: count_lines(&raw[body.clone()]),
        header,
        body,
        fields: Vec::new(),
        media_type: String::new(),
        media_subtype: String::new(),
        params: Vec::new(),
        has_content_type: false,
        id: None,
        description: None,
        encoding: None,
        md5: None,
        disposition: None,
        language: Vec::new(),
        location: None,
        children: Vec::new(),
        message: None,
    };
    for f in &fields {
        let lname = String::from_utf8_lossy(f.name(raw)).to_ascii_lowercase();
        if !lname.starts_with("content-") {
            continue;
        }
        let value = unfold(f.value(raw));
        match lname.as_str() {
            "content-type" if !part.has_content_type => {
                if let Some((t, s, params)) = parse_content_type(&value) {
                    part.media_type = t;
                    part.media_subtype = s;
                    part.params = params;
                    part.has_content_type = true;
                }
            }
            "content-id" => part.id = Some(value),
            "content-description" => part.description = Some(value),
            "content-transfer-encoding" => {
                let v = strip_comments(&value);
                if !v.is_empty() {
                    part.encoding = Some(v);
                }
            }
            "content-md5" => part.md5 = Some(value),
            "content-disposition" => {
                let (kind, params) = split_params(&value);
                if !kind.is_empty() {
                    part.disposition = Some(Disposition { kind, params });
                }
            }
            "content-language" => {
                part.language = strip_comments(&value)
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "content-location" => part.location = Some(value),
            _ => {}
        }
    }
    part.fields = fields;
    if !part.has_content_type {
        match default {
            DefaultType::TextPlain => set_text_plain(&mut part),
            DefaultType::MessageRfc822 => {
                part.media_type = "message".into();
                part.media_subtype = "rfc822".into();
            }
        }
    }
    part
}

/// Removes the line breaks of folded lines and trims the value.
fn unfold(value: &[u8]) -> String {
    let v: Vec<u8> = value
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    String::from_utf8_lossy(&v).trim().to_owned()
}

type Params = Vec<(String, String)>;

fn strip_comments(v: &str) -> String {
    let mut out = String::new();
    let mut depth = 0u32;
    let mut quoted = false;
    let mut esc = false;
    for c in v.chars() {
        if esc {
            esc = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' if quoted || depth > 0 => esc = true,
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim().to_owned()
}

fn parse_content_type(v: &str) -> Option<(String, String, Params)> {
    let (main, params) = split_params(v);
    let (t, s) = main.split_once('/')?;
    let t = t.trim();
    let s = s.trim();
    let token = |x: &str| {
        !x.is_empty()
            && x.bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
    };
    if !token(t) || !token(s) {
        return None;
    }
    Some((t.to_owned(), s.to_owned(), params))
}

/// Splits `value; a=b; c="d"` into the value and its parameters.
fn split_params(v: &str) -> (String, Vec<(String, String)>) {
    let v = strip_comments(v);
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut esc = false;
    for c in v.chars() {
        if esc {
            cur.push(c);
            esc = false;
            continue;
        }
        match c {
            '\\' if quoted => {
                cur.push(c);
                esc = true;
            }
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ';' if !quoted => items.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    items.push(cur);
    let mut it = items.into_iter();
    let main = it.next().unwrap_or_default().trim().to_owned();
    let mut params = Vec::new();
    for item in it {
        let Some((n, val)) = item.split_once('=') else {
            continue;
        };
        let n = n.trim();
        if n.is_empty() {
            continue;
        }
        params.push((n.to_owned(), unquote(val.trim())));
    }
    (main, params)
}

fn unquote(v: &str) -> String {
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        let inner = &v[1..v.len() - 1];
        let mut out = String::with_capacity(inner.len());
        let mut esc = false;
        for c in inner.chars() {
            if esc {
                out.push(c);
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else {
                out.push(c);
            }
        }
        out
    } else {
        v.to_owned()
    }
}

fn count_lines(body: &[u8]) -> u32 {
    let n = body.iter().filter(|&&b| b == b'\n').count();
    let extra = usize::from(!body.is_empty() && !body.ends_with(b"\n"));
    u32::try_from(n + extra).unwrap_or(u32::MAX)
}

/// Splits a multipart body into the byte ranges of its parts.
fn split_multipart(raw: &[u8], start: usize, end: usize, boundary: &[u8]) -> Vec<(usize, usize)> {
    let mut parts = Vec::new();
    let mut i = start;
    let mut current: Option<usize> = None; // start of the current part
    while i < end {
        let line_end = match raw[i..end].iter().position(|&b| b == b'\n') {
            Some(p) => i + p + 1,
            None => end,
        };
        let line = &raw[i..line_end];
        if line.len() >= 2 + boundary.len()
            && line.starts_with(b"--")
            && &line[2..2 + boundary.len()] == boundary
        {
            let rest = &line[2 + boundary.len()..];
            let closing = rest.starts_with(b"--");
            let tail = if closing { &rest[2..] } else { rest };
            if tail.iter().all(|b| b.is_ascii_whitespace()) {
                if let Some(s) = current.take() {
                    // The line break before the delimiter belongs to the delimiter.
                    let mut e = i;
                    if e > s && raw[e - 1] == b'\n' {
                        e -= 1;
                        if e > s && raw[e - 1] == b'\r' {
                            e -= 1;
                        }
                    }
                    parts.push((s, e.max(s)));
                }
                if closing {
                    return parts;
                }
                current = Some(line_end);
            }
        }
        i = line_end;
    }
    if let Some(s) = current {
        // No closing delimiter: the last part runs to the end.
        parts.push((s, end));
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    const MULTI: &[u8] = b"From: \"Joe Q. Public\" <john.q.public@example.com>\r\n\
To: Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>\r\n\
Cc: <boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>\r\n\
Subject: =?utf-8?q?hi?=\r\n\x20there\r\n\
Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n\
Message-ID: <5678.21-Nov-1997@example.com>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"XX\"\r\n\
\r\n\
preamble\r\n\
--XX\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-ID: <id1>\r\n\
\r\n\
hello\r\n\
world\r\n\
--XX\r\n\
Content-Type: message/rfc822\r\n\
Content-Disposition: attachment; filename=\"a b.eml\"\r\n\
\r\n\
Subject: inner\r\n\
From: a@b.c\r\n\
Content-Type: multipart/alternative; boundary=YY\r\n\
\r\n\
--YY\r\n\
\r\n\
plain inner\r\n\
--YY\r\n\
Content-Type: text/html\r\n\
\r\n\
<p>x</p>\r\n\
--YY--\r\n\
--XX--\r\n\
epilogue\r\n";

    fn s(raw: &[u8], r: Option<Range<usize>>) -> &[u8] {
        &raw[r.unwrap()]
    }

    #[test]
    fn multipart_tree_and_sections() {
        let idx = MimeIndex::parse(MULTI);
        assert!(idx.root.is_multipart());
        assert_eq!(idx.root.children.len(), 2);
        assert_eq!(
            s(MULTI, idx.section(&[1], SectionKind::Full)),
            b"hello\r\nworld"
        );
        assert_eq!(
            s(MULTI, idx.section(&[1], SectionKind::Mime)),
            b"Content-Type: text/plain; charset=utf-8\r\nContent-ID: <id1>\r\n\r\n"
        );
        let p1 = idx.part(&[1]).unwrap();
        assert_eq!(p1.id.as_deref(), Some("<id1>"));
        assert_eq!(p1.param("CHARSET"), Some("utf-8"));
        assert_eq!(p1.lines, 2);
        let p2 = idx.part(&[2]).unwrap();
        assert!(p2.is_message());
        assert_eq!(
            p2.disposition.as_ref().unwrap().params,
            vec![("filename".to_owned(), "a b.eml".to_owned())]
        );
        assert_eq!(
            s(MULTI, idx.section(&[2], SectionKind::Header)),
            b"Subject: inner\r\nFrom: a@b.c\r\nContent-Type: multipart/alternative; boundary=YY\r\n\r\n"
        );
        assert_eq!(
            s(MULTI, idx.section(&[2, 1], SectionKind::Full)),
            b"plain inner"
        );
        assert_eq!(
            s(MULTI, idx.section(&[2, 2], SectionKind::Full)),
            b"<p>x</p>"
        );
        assert_eq!(s(MULTI, idx.section(&[2, 1], SectionKind::Mime)), b"\r\n");
        assert!(idx.section(&[3], SectionKind::Full).is_none());
        assert!(idx.section(&[1], SectionKind::Header).is_none());
        let inner = p2.message.as_ref().unwrap();
        assert_eq!(
            inner.header_value(MULTI, "subject"),
            Some(&b" inner\r\n"[..])
        );
        assert_eq!(inner.fields.len(), 3);
        assert_eq!(inner.fields[1].line(MULTI), b"From: a@b.c\r\n");
        // The root's fields, folded value and duplicates as written.
        assert_eq!(
            idx.root.header_value(MULTI, "Subject"),
            Some(&b" =?utf-8?q?hi?=\r\n there\r\n"[..])
        );
        assert_eq!(idx.root.fields[0].name(MULTI), b"From");
    }

    #[test]
    fn simple_and_malformed() {
        let raw = b"Subject: x\n\nbody\n";
        let idx = MimeIndex::parse(raw);
        assert_eq!(idx.root.media_type, "text");
        assert_eq!(s(raw, idx.section(&[1], SectionKind::Full)), b"body\n");
        assert_eq!(
            s(raw, idx.section(&[1], SectionKind::Mime)),
            b"Subject: x\n\n"
        );
        // multipart without boundary falls back to text/plain
        let raw = b"Content-Type: multipart/mixed\r\n\r\nstuff";
        let idx = MimeIndex::parse(raw);
        assert_eq!(idx.root.media_type, "text");
        // garbage never panics
        for raw in [
            &b""[..],
            b"\r\n",
            b":::\r\n\r\n",
            b"\xff\xfe\x00",
            b"Content-Type: message/rfc822\r\n\r\n",
        ] {
            let _ = MimeIndex::parse(raw);
        }
    }

    #[test]
    fn digest_parts_default_to_messages() {
        let raw = b"Content-Type: multipart/digest; boundary=D\r\n\r\n--D\r\n\r\nSubject: d1\r\n\r\nb1\r\n\
--D\r\n\r\nSubject: d2\r\n\r\nb2\r\n--D\r\n\r\nSubject: d3\r\n\r\nb3\r\n--D--\r\n";
        let idx = MimeIndex::parse(raw);
        assert_eq!(idx.root.children.len(), 3);
        for (i, body) in [&b"b1"[..], b"b2", b"b3"].into_iter().enumerate() {
            let n = i as u32 + 1;
            let part = idx.part(&[n]).unwrap();
            assert_eq!(
                (part.media_type.as_str(), part.media_subtype.as_str()),
                ("message", "rfc822")
            );
            assert!(!part.has_content_type);
            assert_eq!(s(raw, idx.section(&[n], SectionKind::Text)), body);
        }
        // The second part is not a text part that runs over the closing delimiter.
        assert_eq!(
            s(raw, idx.section(&[2], SectionKind::Full)),
            b"Subject: d2\r\n\r\nb2"
        );
    }

    #[test]
    fn nested_messages_keep_the_parts_after_them() {
        let raw = b"Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\
Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nSubject: deep\r\n\r\ndeep\r\n\
--q\r\nContent-Type: text/plain\r\n\r\nafter\r\n--q--\r\n";
        let idx = MimeIndex::parse(raw);
        assert_eq!(idx.root.children.len(), 2);
        assert_eq!(s(raw, idx.section(&[2], SectionKind::Full)), b"after");
        assert_eq!(s(raw, idx.section(&[1, 1], SectionKind::Text)), b"deep");
    }

    #[test]
    fn encoded_message_parts_and_values_as_written() {
        let raw = b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n\
Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeAoKYgo=\r\n\
--z\r\nContent-Type: Application/PDF; name*0=\"a\"; name*1=\"b.pdf\" (c)\r\n\
Content-Disposition: attachment; filename*=utf-8''%e2%82%ac.pdf\r\nContent-Language: en, de\r\n\
\r\nJVBERi0=\r\n--z--\r\n";
        let idx = MimeIndex::parse(raw);
        let m = idx.part(&[1]).unwrap();
        assert_eq!(m.encoding.as_deref(), Some("base64"));
        // The raw (encoded) body is the encapsulated message, inside the part's body.
        let inner = m.message.as_ref().unwrap();
        assert_eq!(inner.body.end, m.body.end);
        let pdf = idx.part(&[2]).unwrap();
        assert_eq!(
            (pdf.media_type.as_str(), pdf.media_subtype.as_str()),
            ("Application", "PDF")
        );
        assert_eq!(
            pdf.params,
            [
                ("name*0".to_owned(), "a".to_owned()),
                ("name*1".to_owned(), "b.pdf".to_owned())
            ]
        );
        let d = pdf.disposition.as_ref().unwrap();
        assert_eq!(d.params[0].1, "utf-8''%e2%82%ac.pdf");
        assert_eq!(pdf.language, ["en", "de"]);
    }

    #[test]
    fn depth_is_bounded() {
        let mut raw = Vec::new();
        for _ in 0..200 {
            raw.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
        }
        raw.extend_from_slice(b"Subject: x\r\n\r\nbody\r\n");
        let idx = MimeIndex::parse(&raw);
        let mut depth = 0;
        let mut p = &idx.root;
        while let Some(m) = &p.message {
            p = m;
            depth += 1;
        }
        assert_eq!(depth, MAX_DEPTH);
    }
}
