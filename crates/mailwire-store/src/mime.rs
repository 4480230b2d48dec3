//! The MIME index: a message parsed once into a part tree with byte offsets, so that ENVELOPE,
//! BODYSTRUCTURE, `BODY[1.2.MIME]`, `HEADER.FIELDS` and partial fetches are served later without
//! reparsing.
//!
//! The parser works on the raw bytes and never fails: a message that is not valid MIME still gets
//! an index (at worst a single `text/plain` part spanning the body). Header values are kept as
//! they were sent (RFC 2047 encoded-words are *not* decoded, as IMAP's ENVELOPE and BODYSTRUCTURE
//! require); bytes that are not UTF-8 are replaced by U+FFFD in the index strings (the message
//! bytes themselves are never changed).

use std::ops::Range;

/// How deep multiparts and encapsulated messages are followed; deeper parts are leaves.
pub const MAX_DEPTH: usize = 40;

/// The parsed structure of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MimeIndex {
    /// The whole message as a MIME entity (its header is the message header).
    pub root: MimePart,
    /// The ENVELOPE of the message.
    pub envelope: Envelope,
    /// The message size in bytes.
    pub size: usize,
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
    /// For `message/rfc822` (and `message/global`): the encapsulated message.
    pub message: Option<Box<Encapsulated>>,
}

/// An encapsulated `message/rfc822`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encapsulated {
    /// Its ENVELOPE.
    pub envelope: Envelope,
    /// Its top entity (header = the encapsulated message header).
    pub root: MimePart,
}

/// Content-Disposition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disposition {
    /// `inline`, `attachment`, ... as written.
    pub kind: String,
    /// Parameters, names as written, values unquoted.
    pub params: Vec<(String, String)>,
}

/// The IMAP ENVELOPE fields, raw (encoded-words kept, folding removed).
///
/// As RFC 3501 §7.4.2 requires of the server, `sender` and `reply_to` default to `from` when
/// their header is absent or empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    /// Date.
    pub date: Option<String>,
    /// Subject.
    pub subject: Option<String>,
    /// From.
    pub from: Vec<Address>,
    /// Sender (defaults to From).
    pub sender: Vec<Address>,
    /// Reply-To (defaults to From).
    pub reply_to: Vec<Address>,
    /// To.
    pub to: Vec<Address>,
    /// Cc.
    pub cc: Vec<Address>,
    /// Bcc.
    pub bcc: Vec<Address>,
    /// In-Reply-To.
    pub in_reply_to: Option<String>,
    /// Message-ID.
    pub message_id: Option<String>,
    /// The raw values of the envelope headers, as `(lowercase name, unfolded value)`.
    pub raw: Vec<(String, String)>,
}

/// One address of an ENVELOPE address list, in IMAP's four-field form.
///
/// Group syntax is represented as IMAP does: a start marker with `mailbox` = the group name and
/// `host` = `None`, then the members, then an end marker with both `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    /// The display name (phrase), unquoted.
    pub name: Option<String>,
    /// The source route (obsolete `@a,@b`), if any.
    pub adl: Option<String>,
    /// The local part (or the group name of a group start marker).
    pub mailbox: Option<String>,
    /// The domain.
    pub host: Option<String>,
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
        let root = parse_entity(raw, 0, raw.len(), Default::default(), 0);
        let envelope = envelope_of(raw, &root.header);
        MimeIndex {
            root,
            envelope,
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
            let child = if is_multipart(entity) {
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
                &m.root
            } else if is_multipart(child) {
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
            SectionKind::Header => part.message.as_ref().map(|m| m.root.header.clone()),
            SectionKind::Text => part.message.as_ref().map(|m| m.root.body.clone()),
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
    /// True for `multipart/*`.
    pub fn is_multipart(&self) -> bool {
        is_multipart(self)
    }

    /// True for `message/rfc822` (and `message/global`) with a parsed encapsulated message.
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
}

fn is_multipart(p: &MimePart) -> bool {
    p.media_type.eq_ignore_ascii_case("multipart") && !p.children.is_empty()
}

#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum DefaultType {
    #[default]
    TextPlain,
    MessageRfc822,
}

/// Iterates over the header fields of a header block as `(name, raw value with folding)`.
///
/// `header` is the header bytes (as returned for `BODY[HEADER]`). Lines that are not fields are
/// skipped.
pub fn header_fields(header: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    FieldIter { rest: header }
}

struct FieldIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for FieldIter<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let (raw, rest) = split_field(self.rest);
            self.rest = rest;
            if raw.is_empty() || raw == b"\n" || raw == b"\r\n" {
                return None; // end of header
            }
            if let Some(colon) = raw.iter().position(|&b| b == b':') {
                let name = trim(&raw[..colon]);
                if !name.is_empty() && !name.iter().any(|b| b.is_ascii_whitespace()) {
                    return Some((name, &raw[colon + 1..]));
                }
            }
        }
    }
}

/// Splits off one field including its continuation lines and final line break.
fn split_field(s: &[u8]) -> (&[u8], &[u8]) {
    let mut i = 0;
    loop {
        match memchr_lf(&s[i..]) {
            None => return (s, &[]),
            Some(p) => {
                let end = i + p + 1;
                // A line that is only a line break ends the header; do not join it.
                if i == 0 && (end == 1 || (end == 2 && s[0] == b'\r')) {
                    return (&s[..end], &s[end..]);
                }
                if end < s.len() && (s[end] == b' ' || s[end] == b'\t') {
                    i = end;
                    continue;
                }
                return (&s[..end], &s[end..]);
            }
        }
    }
}

fn memchr_lf(s: &[u8]) -> Option<usize> {
    s.iter().position(|&b| b == b'\n')
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |p| p + 1);
    &s[start..end.max(start)]
}

/// Removes CR and LF of folded lines and trims the value.
pub fn unfold(value: &[u8]) -> String {
    let mut out = Vec::with_capacity(value.len());
    for &b in value {
        if b != b'\r' && b != b'\n' {
            out.push(b);
        }
    }
    String::from_utf8_lossy(trim(&out)).into_owned()
}

/// Selects header lines for `HEADER.FIELDS (names)` (`not = false`) or
/// `HEADER.FIELDS.NOT (names)` (`not = true`): the selected fields, unchanged and in order, then
/// the blank line, as IMAP returns them. Names compare case-insensitively.
pub fn filter_header_fields(header: &[u8], names: &[&str], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = header;
    while !rest.is_empty() {
        let (raw, r) = split_field(rest);
        rest = r;
        if raw == b"\n" || raw == b"\r\n" {
            break;
        }
        let name = raw
            .iter()
            .position(|&b| b == b':')
            .map(|c| trim(&raw[..c]))
            .unwrap_or(b"");
        let listed = names
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(name));
        if !name.is_empty() && listed != not {
            out.extend_from_slice(raw);
            if !raw.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Finds the end of the header starting at `start`: returns (end of header incl. blank line).
fn header_end(raw: &[u8], start: usize, end: usize) -> usize {
    let mut i = start;
    // A part that starts with a blank line has an empty header.
    loop {
        if i >= end {
            return end;
        }
        let line_end = match memchr_lf(&raw[i..end]) {
            Some(p) => i + p + 1,
            None => return end,
        };
        let line = &raw[i..line_end];
        if line == b"\n" || line == b"\r\n" {
            return line_end;
        }
        i = line_end;
    }
}

fn count_lines(body: &[u8]) -> u32 {
    let n = body.iter().filter(|&&b| b == b'\n').count();
    let extra = usize::from(!body.is_empty() && !body.ends_with(b"\n"));
    u32::try_from(n + extra).unwrap_or(u32::MAX)
}

fn parse_entity(
    raw: &[u8],
    start: usize,
    end: usize,
    default: DefaultType,
    depth: usize,
) -> MimePart {
    let body_start = header_end(raw, start, end);
    let header = &raw[start..body_start];
    let mut part = MimePart {
        header: start..body_start,
        body: body_start..end,
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
        lines: count_lines(&raw[body_start..end]),
        children: Vec::new(),
        message: None,
    };
    for (name, value) in header_fields(header) {
        let lname = String::from_utf8_lossy(name).to_ascii_lowercase();
        let value = unfold(value);
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
    if !part.has_content_type {
        match default {
            DefaultType::TextPlain => {
                part.media_type = "text".into();
                part.media_subtype = "plain".into();
                part.params = vec![("charset".into(), "us-ascii".into())];
            }
            DefaultType::MessageRfc822 => {
                part.media_type = "message".into();
                part.media_subtype = "rfc822".into();
            }
        }
    }
    if depth >= MAX_DEPTH {
        return part;
    }
    if part.media_type.eq_ignore_ascii_case("multipart") {
        let boundary = part.param("boundary").map(str::to_owned);
        let child_default = if part.media_subtype.eq_ignore_ascii_case("digest") {
            DefaultType::MessageRfc822
        } else {
            DefaultType::TextPlain
        };
        if let Some(b) = boundary.filter(|b| !b.is_empty() && b.len() <= 200) {
            for (s, e) in split_multipart(raw, body_start, end, b.as_bytes()) {
                part.children
                    .push(parse_entity(raw, s, e, child_default, depth + 1));
            }
        }
        if part.children.is_empty() {
            // Malformed multipart: serve it as a single text/plain part.
            part.media_type = "text".into();
            part.media_subtype = "plain".into();
            part.params = vec![("charset".into(), "us-ascii".into())];
        }
    } else if part.media_type.eq_ignore_ascii_case("message")
        && (part.media_subtype.eq_ignore_ascii_case("rfc822")
            || part.media_subtype.eq_ignore_ascii_case("global"))
    {
        let inner = parse_entity(raw, body_start, end, DefaultType::TextPlain, depth + 1);
        let envelope = envelope_of(raw, &inner.header);
        part.message = Some(Box::new(Encapsulated {
            envelope,
            root: inner,
        }));
    }
    part
}

/// Splits a multipart body into the byte ranges of its parts.
fn split_multipart(raw: &[u8], start: usize, end: usize, boundary: &[u8]) -> Vec<(usize, usize)> {
    let mut parts = Vec::new();
    let mut i = start;
    let mut current: Option<usize> = None; // start of the current part
    while i < end {
        let line_end = match memchr_lf(&raw[i..end]) {
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

type Params = Vec<(String, String)>;

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

fn envelope_of(raw: &[u8], header: &Range<usize>) -> Envelope {
    let mut env = Envelope::default();
    let mut sender_set = false;
    let mut reply_set = false;
    for (name, value) in header_fields(&raw[header.clone()]) {
        let lname = String::from_utf8_lossy(name).to_ascii_lowercase();
        let known = matches!(
            lname.as_str(),
            "date"
                | "subject"
                | "from"
                | "sender"
                | "reply-to"
                | "to"
                | "cc"
                | "bcc"
                | "in-reply-to"
                | "message-id"
        );
        if !known {
            continue;
        }
        let v = unfold(value);
        // The first occurrence of each field wins.
        if env.raw.iter().any(|(n, _)| *n == lname) {
            continue;
        }
        env.raw.push((lname.clone(), v.clone()));
        match lname.as_str() {
            "date" => env.date = Some(v),
            "subject" => env.subject = Some(v),
            "from" => env.from = parse_address_list(&v),
            "sender" => {
                env.sender = parse_address_list(&v);
                sender_set = !env.sender.is_empty();
            }
            "reply-to" => {
                env.reply_to = parse_address_list(&v);
                reply_set = !env.reply_to.is_empty();
            }
            "to" => env.to = parse_address_list(&v),
            "cc" => env.cc = parse_address_list(&v),
            "bcc" => env.bcc = parse_address_list(&v),
            "in-reply-to" => env.in_reply_to = Some(v),
            "message-id" => env.message_id = Some(v),
            _ => {}
        }
    }
    if !sender_set {
        env.sender = env.from.clone();
    }
    if !reply_set {
        env.reply_to = env.from.clone();
    }
    env
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Atom(String),
    Quoted(String),
    Special(char),
    Domain(String), // [literal]
}

fn tokenize(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let cs: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            let mut depth = 0;
            while i < cs.len() {
                match cs[i] {
                    '\\' => i += 1,
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            i += 1;
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        } else if c == '"' {
            let mut v = String::new();
            i += 1;
            while i < cs.len() && cs[i] != '"' {
                if cs[i] == '\\' && i + 1 < cs.len() {
                    i += 1;
                }
                v.push(cs[i]);
                i += 1;
            }
            i += 1;
            out.push(Tok::Quoted(v));
        } else if c == '[' {
            let mut v = String::from("[");
            i += 1;
            while i < cs.len() && cs[i] != ']' {
                v.push(cs[i]);
                i += 1;
            }
            v.push(']');
            i += 1;
            out.push(Tok::Domain(v));
        } else if "<>@,;:.".contains(c) {
            out.push(Tok::Special(c));
            i += 1;
        } else {
            let mut v = String::new();
            while i < cs.len() && !cs[i].is_whitespace() && !"()<>@,;:.\"[".contains(cs[i]) {
                v.push(cs[i]);
                i += 1;
            }
            out.push(Tok::Atom(v));
        }
    }
    out
}

fn tok_text(t: &Tok) -> String {
    match t {
        Tok::Atom(s) | Tok::Quoted(s) | Tok::Domain(s) => s.clone(),
        Tok::Special(c) => c.to_string(),
    }
}

/// Parses an RFC 5322 address list into IMAP ENVELOPE addresses (tolerant; never fails).
pub fn parse_address_list(s: &str) -> Vec<Address> {
    let toks = tokenize(s);
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_group = false;
    while i < toks.len() {
        // Collect one element up to ',' or ';' (outside <>), noting ':' for groups.
        let mut j = i;
        let mut angle = false;
        let mut colon_at = None;
        while j < toks.len() {
            match &toks[j] {
                Tok::Special('<') => angle = true,
                Tok::Special('>') => angle = false,
                Tok::Special(':') if !angle && !in_group && colon_at.is_none() => {
                    colon_at = Some(j);
                }
                Tok::Special(',') if !angle => break,
                Tok::Special(';') if !angle => break,
                _ => {}
            }
            if colon_at == Some(j) {
                break;
            }
            j += 1;
        }
        if let Some(c) = colon_at {
            let name: Vec<String> = toks[i..c].iter().map(tok_text).collect();
            out.push(Address {
                name: None,
                adl: None,
                mailbox: Some(name.join(" ")),
                host: None,
            });
            in_group = true;
            i = c + 1;
            continue;
        }
        if let Some(a) = parse_mailbox(&toks[i..j]) {
            out.push(a);
        }
        if j < toks.len() && toks[j] == Tok::Special(';') && in_group {
            out.push(Address::default());
            in_group = false;
        }
        i = j + 1;
    }
    if in_group {
        out.push(Address::default());
    }
    out
}

fn parse_mailbox(toks: &[Tok]) -> Option<Address> {
    if toks.is_empty() {
        return None;
    }
    let lt = toks.iter().position(|t| *t == Tok::Special('<'));
    let (phrase, spec): (&[Tok], &[Tok]) = match lt {
        Some(p) => {
            let gt = toks[p..]
                .iter()
                .position(|t| *t == Tok::Special('>'))
                .map_or(toks.len(), |q| p + q);
            (&toks[..p], &toks[p + 1..gt])
        }
        None => (&[], toks),
    };
    let name = if phrase.is_empty() {
        None
    } else {
        let mut s = String::new();
        for t in phrase {
            let text = tok_text(t);
            if !s.is_empty() && *t != Tok::Special('.') && !s.ends_with('.') {
                s.push(' ');
            }
            s.push_str(&text);
        }
        Some(s)
    };
    // Source route: @a,@b:
    let mut spec = spec;
    let mut adl = None;
    if spec.first() == Some(&Tok::Special('@'))
        && let Some(c) = spec.iter().position(|t| *t == Tok::Special(':'))
    {
        adl = Some(spec[..c].iter().map(tok_text).collect::<String>());
        spec = &spec[c + 1..];
    }
    let at = spec.iter().rposition(|t| *t == Tok::Special('@'));
    let (local, domain) = match at {
        Some(a) => (&spec[..a], Some(&spec[a + 1..])),
        None => (spec, None),
    };
    let join = |ts: &[Tok]| ts.iter().map(tok_text).collect::<String>();
    let mailbox = join(local);
    let host = domain.map(join).filter(|h| !h.is_empty());
    if mailbox.is_empty() && host.is_none() && name.is_none() {
        return None;
    }
    Some(Address {
        name,
        adl,
        mailbox: Some(mailbox).filter(|m| !m.is_empty()),
        host,
    })
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
        let inner = &p2.message.as_ref().unwrap().envelope;
        assert_eq!(inner.subject.as_deref(), Some("inner"));
        assert_eq!(inner.from[0].host.as_deref(), Some("b.c"));
    }

    #[test]
    fn envelope_fields() {
        let e = MimeIndex::parse(MULTI).envelope;
        assert_eq!(e.subject.as_deref(), Some("=?utf-8?q?hi?= there"));
        assert_eq!(e.from[0].name.as_deref(), Some("Joe Q. Public"));
        assert_eq!(e.from[0].mailbox.as_deref(), Some("john.q.public"));
        assert_eq!(e.sender, e.from);
        assert_eq!(e.reply_to, e.from);
        assert_eq!(e.to.len(), 3);
        assert_eq!(e.to[2].name.as_deref(), Some("Who?"));
        assert_eq!(e.cc[1].name.as_deref(), Some("Giant; \"Big\" Box"));
        assert_eq!(
            e.message_id.as_deref(),
            Some("<5678.21-Nov-1997@example.com>")
        );
    }

    #[test]
    fn groups() {
        let a = parse_address_list("A Group:Ed Jones <c@a.test>,joe@where.test;, x@y");
        assert_eq!(a.len(), 5);
        assert_eq!(a[0].mailbox.as_deref(), Some("A Group"));
        assert_eq!(a[0].host, None);
        assert_eq!(a[3], Address::default());
        assert_eq!(a[4].host.as_deref(), Some("y"));
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
    fn header_fields_filter() {
        let h = b"Subject: a\r\nFrom: b\r\n c\r\nTo: d\r\n\r\n";
        assert_eq!(
            filter_header_fields(h, &["from"], false),
            b"From: b\r\n c\r\n\r\n"
        );
        assert_eq!(
            filter_header_fields(h, &["FROM"], true),
            b"Subject: a\r\nTo: d\r\n\r\n"
        );
    }
}
