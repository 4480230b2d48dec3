//! SORT and THREAD on the server side (RFC 5256, with the DISPLAYFROM and DISPLAYTO keys of
//! RFC 5957): what the algorithms look at in a message header ([`SortFields`]), the base
//! subject (RFC 5256 §2.1), the sent date (§2.2), SORT (§3) and the ORDEREDSUBJECT and
//! REFERENCES threading algorithms (§4). Pure: no I/O, no clock.
//!
//! Strings are compared as octets of a case-mapped form computed once per message (see
//! [`base_subject`]): ASCII and every character with a one-character Unicode upper-case
//! mapping are upper-cased; there is no Unicode normalisation. That is the comparison of
//! `i;unicode-casemap` (RFC 5051) for text without decomposable characters; for ASCII it is
//! `i;ascii-casemap`.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::num::NonZeroU32;

use mailwire_store::MimeIndex;

use super::fetch::{decode_base64, decode_qp};
use super::search::days_from_civil;
use crate::proto::types::body::{Address, Envelope};
use crate::proto::types::core::{IString, NString};
use crate::proto::types::response::Thread;
use crate::proto::types::search::{SortCriterion, SortKey};

/// What SORT and THREAD look at for one message: taken from its header by
/// [`SortFields::parse`].
///
/// The string fields hold the case-mapped form described in the [module](self) docs, so
/// comparing them as octets is the collation comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortFields {
    /// The sequence number (or another index) identifying the message in the results; `0`
    /// cannot be written in a THREAD response, and such messages are left out of threads.
    pub seq: u32,
    /// The UID.
    pub uid: u32,
    /// INTERNALDATE, seconds since the epoch (the `ARRIVAL` key).
    pub arrival: i64,
    /// RFC822.SIZE (the `SIZE` key).
    pub size: u64,
    /// The `Date:` header in seconds since the epoch, UTC (RFC 5256 §2.2); `None` when it is
    /// missing or cannot be read, and then [`sent_date`](Self::sent_date) is `arrival`.
    pub sent: Option<i64>,
    /// The base subject (RFC 5256 §2.1), case-mapped (the `SUBJECT` key).
    pub base_subject: Vec<u8>,
    /// Whether base subject extraction removed a reply or forward marker (`Re:`, `Fw:`,
    /// `Fwd:`, a `(fwd)` trailer or a `[Fwd: …]` wrapper): REFERENCES step 5 (§4) prefers
    /// the thread of a message that is not a reply or forward.
    pub reply_or_forward: bool,
    /// The `FROM` key (§3): the addr-mailbox (local part) of the first From address as
    /// ENVELOPE gives it (for a group, the group name), case-mapped; empty when absent.
    pub from: Vec<u8>,
    /// The `TO` key: the addr-mailbox of the first To address, as for [`from`](Self::from).
    pub to: Vec<u8>,
    /// The `CC` key: the addr-mailbox of the first Cc address, as for [`from`](Self::from).
    pub cc: Vec<u8>,
    /// The `DISPLAYFROM` key (RFC 5957): the display name of the first From address (RFC 2047
    /// decoded, white space collapsed), else its `mailbox@host`; case-mapped.
    pub display_from: Vec<u8>,
    /// The `DISPLAYTO` key (RFC 5957), as [`display_from`](Self::display_from) for To.
    pub display_to: Vec<u8>,
    /// The first valid msg-id of `Message-ID:`, without `<>`, comments and white space
    /// removed, case kept (REFERENCES compares message IDs case-sensitively).
    pub message_id: Option<Vec<u8>>,
    /// The message's references (REFERENCES step 1, §4): the msg-ids of `References:` in
    /// order, or, when it has no valid one, the first valid msg-id of `In-Reply-To:`;
    /// normalised as [`message_id`](Self::message_id).
    pub references: Vec<Vec<u8>>,
}

impl SortFields {
    /// Reads what SORT and THREAD need from a message header (the raw octets up to and
    /// including the blank line; a header without it is read to its end). Never fails:
    /// missing or unreadable fields give empty keys and a `None` sent date.
    pub fn parse(seq: u32, uid: u32, arrival: i64, size: u64, header: &[u8]) -> SortFields {
        let index = MimeIndex::parse(header);
        let fields = || {
            index
                .root
                .fields
                .iter()
                .map(|f| (f.name(header), f.value(header)))
        };
        let env = Envelope::from_fields(fields());
        let (base_subject, reply_or_forward) = extract_base_subject(bytes(&env.subject));
        let mut references = fields()
            .find(|(n, _)| n.trim_ascii().eq_ignore_ascii_case(b"references"))
            .map(|(_, v)| msg_ids(v))
            .unwrap_or_default();
        if references.is_empty() {
            references = msg_ids(bytes(&env.in_reply_to))
                .into_iter()
                .take(1)
                .collect();
        }
        SortFields {
            seq,
            uid,
            arrival,
            size,
            sent: env.date.as_ref().and_then(|d| parse_date(d.as_bytes())),
            base_subject,
            reply_or_forward,
            from: mailbox_key(&env.from),
            to: mailbox_key(&env.to),
            cc: mailbox_key(&env.cc),
            display_from: display_key(&env.from),
            display_to: display_key(&env.to),
            message_id: msg_ids(bytes(&env.message_id)).into_iter().next(),
            references,
        }
    }

    /// The sent date (RFC 5256 §2.2): the `Date:` header in UTC, or INTERNALDATE when the
    /// header is missing or cannot be read.
    pub fn sent_date(&self) -> i64 {
        self.sent.unwrap_or(self.arrival)
    }

    /// Sent date, then sequence number (§2.2: "the order in which the two messages appear
    /// in the mailbox … is used as a tie-breaker").
    fn date_key(&self) -> (i64, u32) {
        (self.sent_date(), self.seq)
    }
}

fn bytes(s: &NString) -> &[u8] {
    s.as_ref().map_or(&[][..], IString::as_bytes)
}

fn field(s: &NString) -> &[u8] {
    bytes(s).trim_ascii()
}

/// §3 FROM, TO, CC: "addr-mailbox of the first … address".
fn mailbox_key(list: &[Address]) -> Vec<u8> {
    list.first()
        .map(|a| casemap(field(&a.mailbox)))
        .unwrap_or_default()
}

/// RFC 5957: the display name, else the address.
fn display_key(list: &[Address]) -> Vec<u8> {
    let Some(a) = list.first() else {
        return Vec::new();
    };
    let name = collapse_ws(&decode_encoded_words(bytes(&a.name)));
    let name = name.trim_ascii();
    if !name.is_empty() {
        return casemap(name);
    }
    let mut spec = field(&a.mailbox).to_vec();
    let host = field(&a.host);
    if !host.is_empty() {
        spec.push(b'@');
        spec.extend_from_slice(host);
    }
    casemap(&spec)
}

// ---------------------------------------------------------------------------------------
// Base subject (§2.1)

/// The base subject of a `Subject:` value (RFC 5256 §2.1), case-mapped, so that two
/// messages have the same base subject exactly when these octets are equal, and SUBJECT
/// sorts by comparing them.
///
/// 1. RFC 2047 encoded-words are decoded to UTF-8 (charsets UTF-8, US-ASCII and ISO-8859-1,
///    `B` and `Q` encodings; white space between adjacent encoded-words is dropped; an
///    encoded-word in another charset is left as written); tabs, line breaks and runs of
///    spaces become one space. The result is case-mapped: ASCII letters and the characters
///    whose Unicode upper case is one character are upper-cased (`é` → `É`; `ß`, whose
///    upper case is `SS`, stays), without normalisation; octets that are not UTF-8 are
///    kept, ASCII upper-cased.
/// 2. Trailing `(fwd)` and white space are removed, repeatedly.
/// 3. Leading white space and `*subj-blob subj-refwd` (`Re:`, `Fw:`, `Fwd:`, `Re[2]:`,
///    `[list] Re:` …) are removed, repeatedly.
/// 4. A leading `[blob]` is removed when something is left after it; 3 and 4 repeat.
/// 6. A `[Fwd: …]` wrapper is removed, and extraction starts again at 2.
pub fn base_subject(subject: &[u8]) -> Vec<u8> {
    extract_base_subject(subject).0
}

/// The base subject and whether a reply or forward marker was removed (§4 REFERENCES step
/// 5: "its original subject contains a subj-refwd, a "(fwd)" subj-trailer, or a
/// subj-fwd-hdr and subj-fwd-trl").
fn extract_base_subject(subject: &[u8]) -> (Vec<u8>, bool) {
    // (1)
    let s = casemap(&collapse_ws(&decode_encoded_words(subject)));
    let mut s = &s[..];
    let mut reply = false;
    loop {
        // (2) subj-trailer = "(fwd)" / WSP
        loop {
            if let Some(r) = s.strip_suffix(b" ") {
                s = r;
            } else if let Some(r) = s.strip_suffix(b"(FWD)") {
                s = r;
                reply = true;
            } else {
                break;
            }
        }
        // (3), (4), (5)
        loop {
            if let Some(r) = s.strip_prefix(b" ") {
                s = r;
                continue;
            }
            // subj-leader = (*subj-blob subj-refwd) / WSP
            let mut end = 0;
            let mut last = 0;
            while let Some(n) = blob(&s[end..]) {
                last = end;
                end += n;
            }
            if let Some(n) = refwd(&s[end..]) {
                s = &s[end + n..];
                reply = true;
                continue;
            }
            // (4) repeated over the leading blobs (step 3 cannot match between them, as the
            // text after the last one is no subj-refwd): all of them go, except the last
            // one when nothing follows it.
            let cut = if end < s.len() { end } else { last };
            s = &s[cut..];
            break;
        }
        // (6) subj-fwd-hdr = "[fwd:", subj-fwd-trl = "]"
        match s.strip_prefix(b"[FWD:").and_then(|r| r.strip_suffix(b"]")) {
            Some(inner) => {
                s = inner;
                reply = true;
            }
            None => break,
        }
    }
    (s.to_vec(), reply)
}

/// `subj-blob = "[" *BLOBCHAR "]" *WSP` at the start of `s`: its length.
fn blob(s: &[u8]) -> Option<usize> {
    if s.first() != Some(&b'[') {
        return None;
    }
    let close = 1 + s[1..].iter().position(|&b| b == b'[' || b == b']')?;
    if s[close] != b']' {
        return None;
    }
    let mut n = close + 1;
    while s.get(n) == Some(&b' ') {
        n += 1;
    }
    Some(n)
}

/// `subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"` (upper-cased) at the start of
/// `s`: its length.
fn refwd(s: &[u8]) -> Option<usize> {
    let mut n = if s.starts_with(b"RE") {
        2
    } else if s.starts_with(b"FWD") {
        3
    } else if s.starts_with(b"FW") {
        2
    } else {
        return None;
    };
    while s.get(n) == Some(&b' ') {
        n += 1;
    }
    if let Some(b) = blob(&s[n..]) {
        n += b;
    }
    (s.get(n) == Some(&b':')).then_some(n + 1)
}

/// Tabs and line breaks become spaces; runs of spaces become one.
fn collapse_ws(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &b in s {
        let b = if matches!(b, b'\t' | b'\r' | b'\n') {
            b' '
        } else {
            b
        };
        if !(b == b' ' && out.last() == Some(&b' ')) {
            out.push(b);
        }
    }
    out
}

/// The case-mapped form compared as octets (see the [module](self) docs).
fn casemap(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut buf = [0u8; 4];
    for chunk in s.utf8_chunks() {
        for c in chunk.valid().chars() {
            let mapped = if c.is_ascii() {
                c.to_ascii_uppercase()
            } else {
                let mut up = c.to_uppercase();
                match (up.next(), up.next()) {
                    (Some(u), None) => u,
                    _ => c,
                }
            };
            out.extend_from_slice(mapped.encode_utf8(&mut buf).as_bytes());
        }
        out.extend_from_slice(chunk.invalid());
    }
    out
}

/// A charset this module decodes encoded-words from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Charset {
    /// UTF-8 and US-ASCII (a subset).
    Utf8,
    /// ISO-8859-1.
    Latin1,
}

impl Charset {
    fn from_name(name: &[u8]) -> Option<Charset> {
        // RFC 2231 §5: charset*language.
        let name = name.split(|&b| b == b'*').next().unwrap_or_default();
        let is = |n: &[&[u8]]| n.iter().any(|x| x.eq_ignore_ascii_case(name));
        if is(&[b"utf-8", b"utf8", b"us-ascii", b"ascii", b"ansi_x3.4-1968"]) {
            Some(Charset::Utf8)
        } else if is(&[
            b"iso-8859-1",
            b"iso8859-1",
            b"iso_8859-1",
            b"latin1",
            b"latin-1",
            b"l1",
            b"cp819",
        ]) {
            Some(Charset::Latin1)
        } else {
            None
        }
    }

    fn to_utf8(self, octets: &[u8], out: &mut Vec<u8>) {
        match self {
            Charset::Utf8 => out.extend_from_slice(String::from_utf8_lossy(octets).as_bytes()),
            Charset::Latin1 => {
                let mut buf = [0u8; 4];
                for &b in octets {
                    out.extend_from_slice(char::from(b).encode_utf8(&mut buf).as_bytes());
                }
            }
        }
    }
}

/// One encoded-word starting at `s[i]` (`=?charset?enc?text?=`, RFC 2047 §2) in a charset
/// this module knows: the charset, the decoded octets and where the word ends.
fn encoded_word(s: &[u8], i: usize) -> Option<(Charset, Vec<u8>, usize)> {
    let rest = s.get(i..)?.strip_prefix(b"=?")?;
    let q1 = rest
        .iter()
        .position(|&b| b == b'?' || b.is_ascii_whitespace())?;
    if rest[q1] != b'?' || q1 == 0 {
        return None;
    }
    let charset = Charset::from_name(&rest[..q1])?;
    let enc = *rest.get(q1 + 1)?;
    if rest.get(q1 + 2) != Some(&b'?') {
        return None;
    }
    let text_start = q1 + 3;
    let text_len = rest[text_start..]
        .iter()
        .position(|&b| b == b'?' || b.is_ascii_whitespace())?;
    let end = text_start + text_len;
    if rest[end] != b'?' || rest.get(end + 1) != Some(&b'=') {
        return None;
    }
    let text = &rest[text_start..end];
    let octets = match enc {
        b'B' | b'b' => decode_base64(text),
        b'Q' | b'q' => {
            // RFC 2047 §4.2: "_" is a space; the rest is quoted-printable.
            let t: Vec<u8> = text
                .iter()
                .map(|&b| if b == b'_' { b' ' } else { b })
                .collect();
            decode_qp(&t)
        }
        _ => return None,
    };
    Some((charset, octets, i + 2 + end + 2))
}

/// RFC 2047 encoded-words decoded to UTF-8 (the charsets of [`Charset`]; others are left as
/// written). White space between two encoded-words is dropped (RFC 2047 §6.2), and the
/// octets of adjacent encoded-words in one charset are joined before conversion, so a
/// character split across two words survives. Text outside encoded-words is kept as is.
fn decode_encoded_words(s: &[u8]) -> Vec<u8> {
    fn flush(out: &mut Vec<u8>, pending: &mut Option<(Charset, Vec<u8>)>) {
        if let Some((cs, octets)) = pending.take() {
            cs.to_utf8(&octets, out);
        }
    }
    let mut out = Vec::with_capacity(s.len());
    let mut pending: Option<(Charset, Vec<u8>)> = None;
    let mut text_start = 0;
    let mut i = 0;
    while i + 1 < s.len() {
        if s[i] == b'='
            && s[i + 1] == b'?'
            && let Some((cs, octets, end)) = encoded_word(s, i)
        {
            let between = &s[text_start..i];
            let adjacent = pending.is_some() && between.iter().all(u8::is_ascii_whitespace);
            if !adjacent {
                flush(&mut out, &mut pending);
                out.extend_from_slice(between);
            }
            match &mut pending {
                Some((c, o)) if *c == cs => o.extend_from_slice(&octets),
                _ => {
                    flush(&mut out, &mut pending);
                    pending = Some((cs, octets));
                }
            }
            i = end;
            text_start = end;
        } else {
            i += 1;
        }
    }
    flush(&mut out, &mut pending);
    out.extend_from_slice(&s[text_start..]);
    out
}

// ---------------------------------------------------------------------------------------
// Message IDs

/// The index after the comment starting at `v[i]` (nested, with quoted pairs).
fn skip_comment(v: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < v.len() {
        match v[i] {
            b'\\' => i += 1,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    v.len()
}

/// The index after the quoted string starting at `v[i]`.
fn skip_quoted(v: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < v.len() {
        match v[i] {
            b'\\' => i += 1,
            b'"' => return i + 1,
            _ => {}
        }
        i += 1;
    }
    v.len()
}

/// The valid msg-ids of a header value in order (`<left@right>`, RFC 5322 §3.6.4), without
/// the angle brackets, comments and white space removed (quoted strings are kept as
/// written). Text outside `<>` (the phrases of an old In-Reply-To) is skipped, and so is
/// anything in `<>` without an `@` between other characters.
fn msg_ids(v: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'(' => i = skip_comment(v, i),
            b'"' => i = skip_quoted(v, i),
            b'<' => {
                let mut id = Vec::new();
                let mut j = i + 1;
                let mut closed = false;
                while j < v.len() {
                    match v[j] {
                        b'>' => {
                            closed = true;
                            j += 1;
                            break;
                        }
                        b'<' => break,
                        b'(' => j = skip_comment(v, j),
                        b'"' => {
                            let e = skip_quoted(v, j);
                            id.extend(v[j..e].iter().filter(|&&b| b != b'\r' && b != b'\n'));
                            j = e;
                        }
                        b if b.is_ascii_whitespace() => j += 1,
                        b => {
                            id.push(b);
                            j += 1;
                        }
                    }
                }
                let at = id.iter().rposition(|&b| b == b'@');
                if closed && at.is_some_and(|a| a > 0 && a + 1 < id.len()) {
                    out.push(id);
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Sent date (§2.2)

/// A `Date:` value (RFC 5322 §3.3 with the obsolete forms of §4.3) in seconds since the
/// epoch, UTC. RFC 5256 §2.2: an invalid time zone is taken as UTC and an invalid time as
/// 00:00:00; without a valid day, month and year there is no date (`None`).
fn parse_date(v: &[u8]) -> Option<i64> {
    // Comments become white space; "1-Jan-2001" reads like "1 Jan 2001".
    let mut text = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'(' {
            i = skip_comment(v, i);
            text.push(b' ');
        } else {
            text.push(v[i]);
            i += 1;
        }
    }
    let text = String::from_utf8_lossy(&text);
    let mut toks: Vec<&str> = Vec::new();
    for t in text.split(|c: char| c.is_ascii_whitespace() || c == ',') {
        if t.is_empty() {
            continue;
        }
        if t.starts_with(|c: char| c.is_ascii_digit()) && t.contains('-') && !t.contains(':') {
            toks.extend(t.split('-').filter(|p| !p.is_empty()));
        } else {
            toks.push(t);
        }
    }
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let month_of = |t: &str| {
        let t = t.get(..3)?.to_ascii_lowercase();
        MONTHS.iter().position(|m| *m == t).map(|p| p as u32 + 1)
    };
    let mut it = toks.into_iter().peekable();
    // [day-of-week ","]
    if it
        .peek()
        .is_some_and(|t| t.starts_with(|c: char| c.is_ascii_alphabetic()) && month_of(t).is_none())
    {
        it.next();
    }
    let digits = |t: &str, n: std::ops::RangeInclusive<usize>| {
        (n.contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse::<i64>())
    };
    let day = digits(it.next()?, 1..=2)?.ok()?;
    let month = month_of(it.next()?)?;
    let year_tok = it.next()?;
    let mut year = digits(year_tok, 2..=4)?.ok()?;
    if !(1..=31).contains(&day) {
        return None;
    }
    // RFC 5322 §4.3: two-digit years below 50 are 20xx, other two- and three-digit years
    // add 1900.
    if year_tok.len() == 2 && year < 50 {
        year += 2000;
    } else if year_tok.len() < 4 {
        year += 1900;
    }
    let mut secs = 0;
    if let Some(t) = it.peek().copied().filter(|t| t.contains(':')) {
        it.next();
        let parts: Vec<Option<i64>> = t.split(':').map(|p| digits(p, 1..=2)?.ok()).collect();
        secs = match parts[..] {
            [Some(h), Some(m)] if h < 24 && m < 60 => h * 3600 + m * 60,
            [Some(h), Some(m), Some(s)] if h < 24 && m < 60 && s <= 60 => h * 3600 + m * 60 + s,
            _ => 0,
        };
    }
    let zone = it.next().map_or(0, zone_offset);
    let days = days_from_civil(year, month, u32::try_from(day).ok()?);
    Some(days * 86_400 + secs - zone)
}

/// A time zone's offset from UTC in seconds; an unknown zone is UTC (RFC 5256 §2.2, and
/// RFC 5322 §4.3 for the military zones).
fn zone_offset(z: &str) -> i64 {
    let b = z.as_bytes();
    if b.len() == 5 && (b[0] == b'+' || b[0] == b'-') && b[1..].iter().all(u8::is_ascii_digit) {
        let n = |i: usize| i64::from(b[i] - b'0');
        let (h, m) = (n(1) * 10 + n(2), n(3) * 10 + n(4));
        if m >= 60 {
            return 0;
        }
        let off = h * 3600 + m * 60;
        return if b[0] == b'-' { -off } else { off };
    }
    let hours = match z.to_ascii_uppercase().as_str() {
        "EDT" => -4,
        "EST" | "CDT" => -5,
        "CST" | "MDT" => -6,
        "MST" | "PDT" => -7,
        "PST" => -8,
        _ => 0,
    };
    hours * 3600
}

// ---------------------------------------------------------------------------------------
// SORT (§3)

fn compare(a: &SortFields, b: &SortFields, key: SortKey) -> Ordering {
    match key {
        SortKey::Arrival => a.arrival.cmp(&b.arrival),
        SortKey::Cc => a.cc.cmp(&b.cc),
        SortKey::Date => a.sent_date().cmp(&b.sent_date()),
        SortKey::From => a.from.cmp(&b.from),
        SortKey::Size => a.size.cmp(&b.size),
        SortKey::Subject => a.base_subject.cmp(&b.base_subject),
        SortKey::To => a.to.cmp(&b.to),
        SortKey::DisplayFrom => a.display_from.cmp(&b.display_from),
        SortKey::DisplayTo => a.display_to.cmp(&b.display_to),
    }
}

/// SORT (RFC 5256 §3): the `seq` of the messages ordered by the criteria, the first
/// deciding, each reversed by its `REVERSE`; messages equal under all of them in ascending
/// `seq` ("sorted in the order in which they appear in the mailbox", not reversed).
pub fn sort(msgs: &[SortFields], criteria: &[SortCriterion]) -> Vec<u32> {
    let mut order: Vec<&SortFields> = msgs.iter().collect();
    order.sort_by(|a, b| {
        criteria
            .iter()
            .map(|c| {
                let o = compare(a, b, c.key);
                if c.reverse { o.reverse() } else { o }
            })
            .find(|o| o.is_ne())
            .unwrap_or_else(|| a.seq.cmp(&b.seq))
    });
    order.into_iter().map(|m| m.seq).collect()
}

// ---------------------------------------------------------------------------------------
// THREAD (§4)

fn leaf(n: NonZeroU32) -> Thread {
    Thread {
        members: vec![n],
        children: Vec::new(),
    }
}

/// THREAD=ORDEREDSUBJECT (RFC 5256 §4): the messages grouped by base subject, each group
/// ordered by sent date; a thread is its first message with every other message of the
/// group as a child ("there are no grandchildren"), so two messages make a chain `(3 6)`
/// and more make `(3 (6)(4)(23))`. Threads come in the order of their first message's sent
/// date.
pub fn thread_ordered_subject(msgs: &[SortFields]) -> Vec<Thread> {
    let mut order: Vec<(NonZeroU32, &SortFields)> = msgs
        .iter()
        .filter_map(|m| Some((NonZeroU32::new(m.seq)?, m)))
        .collect();
    order.sort_by(|(_, a), (_, b)| {
        a.base_subject
            .cmp(&b.base_subject)
            .then_with(|| a.date_key().cmp(&b.date_key()))
    });
    let mut threads: Vec<((i64, u32), Thread)> = order
        .chunk_by(|(_, a), (_, b)| a.base_subject == b.base_subject)
        .map(|group| {
            let (first, m) = group[0];
            let mut t = leaf(first);
            match &group[1..] {
                [(only, _)] => t.members.push(*only),
                rest => t.children = rest.iter().map(|(n, _)| leaf(*n)).collect(),
            }
            (m.date_key(), t)
        })
        .collect();
    threads.sort_by_key(|(k, _)| *k);
    threads.into_iter().map(|(_, t)| t).collect()
}

/// A message or dummy of the REFERENCES algorithm.
struct Node<'a> {
    /// `None` for a dummy.
    msg: Option<(NonZeroU32, &'a SortFields)>,
    parent: Option<usize>,
    children: Vec<usize>,
}

/// The id table and the parent/child links of REFERENCES.
struct Tree<'a> {
    nodes: Vec<Node<'a>>,
}

impl<'a> Tree<'a> {
    fn add(&mut self, msg: Option<(NonZeroU32, &'a SortFields)>) -> usize {
        self.nodes.push(Node {
            msg,
            parent: None,
            children: Vec::new(),
        });
        self.nodes.len() - 1
    }

    /// Whether `a` is `b` or a descendant of `b`.
    fn descends(&self, mut a: usize, b: usize) -> bool {
        if self.nodes[b].children.is_empty() {
            return a == b;
        }
        loop {
            if a == b {
                return true;
            }
            match self.nodes[a].parent {
                Some(p) => a = p,
                None => return false,
            }
        }
    }

    /// Makes `parent` the parent of `child` unless that would make a loop.
    fn link(&mut self, parent: usize, child: usize) {
        if !self.descends(parent, child) {
            self.nodes[child].parent = Some(parent);
            self.nodes[parent].children.push(child);
        }
    }

    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.nodes[child].parent.take() {
            self.nodes[p].children.retain(|&c| c != child);
        }
    }

    fn is_dummy(&self, i: usize) -> bool {
        self.nodes[i].msg.is_none()
    }

    /// The sort key of a node: its sent date and sequence number, for a dummy those of its
    /// first child (§4 REFERENCES steps 4 and 6).
    fn key(&self, mut i: usize) -> (i64, u32) {
        loop {
            if let Some((_, m)) = self.nodes[i].msg {
                return m.date_key();
            }
            match self.nodes[i].children.first() {
                Some(&c) => i = c,
                None => return (i64::MAX, u32::MAX),
            }
        }
    }

    fn sort_children(&mut self, i: usize) {
        let mut ch = std::mem::take(&mut self.nodes[i].children);
        ch.sort_by_key(|&c| self.key(c));
        self.nodes[i].children = ch;
    }

    /// The message giving a root node its thread subject: itself, or a dummy's first child.
    fn subject_msg(&self, i: usize) -> Option<&'a SortFields> {
        match self.nodes[i].msg {
            Some((_, m)) => Some(m),
            None => self.nodes[i]
                .children
                .first()
                .and_then(|&c| self.nodes[c].msg)
                .map(|(_, m)| m),
        }
    }

    fn is_reply(&self, i: usize) -> bool {
        self.nodes[i].msg.is_some_and(|(_, m)| m.reply_or_forward)
    }

    /// Every node below the root nodes, parents before their children.
    fn preorder(&self, roots: &[usize]) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.nodes.len());
        let mut stack: Vec<usize> = roots.iter().rev().copied().collect();
        while let Some(i) = stack.pop() {
            out.push(i);
            stack.extend(self.nodes[i].children.iter().rev());
        }
        out
    }

    /// The RFC 5256 form of the threads under the root nodes: a message followed by its
    /// only child's chain, or by two or more sub-threads. Built bottom-up, without
    /// recursion, so a long chain cannot exhaust the stack.
    fn threads(&self, roots: &[usize]) -> Vec<Thread> {
        let order = self.preorder(roots);
        let mut built: Vec<Option<Thread>> = vec![None; self.nodes.len()];
        for &i in order.iter().rev() {
            let mut children: Vec<Thread> = self.nodes[i]
                .children
                .iter()
                .filter_map(|&c| built[c].take())
                .collect();
            let mut members: Vec<NonZeroU32> =
                self.nodes[i].msg.map(|(n, _)| n).into_iter().collect();
            if children.len() == 1
                && let Some(only) = children.pop()
            {
                members.extend(only.members);
                children = only.children;
            }
            built[i] = Some(Thread { members, children });
        }
        roots.iter().filter_map(|&r| built[r].take()).collect()
    }
}

/// THREAD=REFERENCES (RFC 5256 §4): threads from the References and In-Reply-To links
/// ([`SortFields::references`]), then gathered by base subject.
///
/// 1. Messages are linked parent to child along each message's references, and the last
///    reference becomes the message's parent. A message without a Message-ID, and every
///    message but the first (lowest `seq`) with a duplicated one, gets a unique ID; a
///    referenced ID no message has becomes a dummy; a reference link does not replace an
///    existing parent; no link that would make a loop is made. IDs compare case-sensitively.
/// 2. The messages without a parent are the root's children.
/// 3. Dummies are pruned: without children they go, otherwise their children take their
///    place, except that a dummy at the root with two or more children stays.
/// 4. The root's children are ordered by sent date (a dummy by its first child's).
/// 5. Threads with the same base subject are merged (a subject-table entry is preferably
///    a dummy, then a message that is not a reply or forward; see
///    [`SortFields::reply_or_forward`]).
/// 6. All siblings are ordered by sent date, then sequence number.
///
/// A dummy at the top comes out as a thread with no members (`((3)(5))`).
pub fn thread_references(msgs: &[SortFields]) -> Vec<Thread> {
    let mut sorted: Vec<(NonZeroU32, &SortFields)> = msgs
        .iter()
        .filter_map(|m| Some((NonZeroU32::new(m.seq)?, m)))
        .collect();
    sorted.sort_by_key(|(n, _)| *n);
    let mut tree = Tree {
        nodes: Vec::with_capacity(sorted.len()),
    };
    // (1) The id table: the first message with an ID keeps it.
    let mut ids: HashMap<&[u8], usize> = HashMap::new();
    for &(n, m) in &sorted {
        let i = tree.add(Some((n, m)));
        if let Some(id) = &m.message_id {
            ids.entry(&id[..]).or_insert(i);
        }
    }
    for (i, &(_, m)) in sorted.iter().enumerate() {
        let refs: Vec<usize> = m
            .references
            .iter()
            .map(|r| match ids.get(&r[..]) {
                Some(&x) => x,
                None => {
                    let d = tree.add(None);
                    ids.insert(&r[..], d);
                    d
                }
            })
            .collect();
        // (1.A)
        for pair in refs.windows(2) {
            if tree.nodes[pair[1]].parent.is_none() {
                tree.link(pair[0], pair[1]);
            }
        }
        // (1.B)
        tree.unlink(i);
        if let Some(&last) = refs.last() {
            tree.link(last, i);
        }
    }
    // (2)
    let roots: Vec<usize> = (0..tree.nodes.len())
        .filter(|&i| tree.nodes[i].parent.is_none())
        .collect();
    // (3) Bottom-up, so a dummy's children are pruned before it is spliced.
    for &i in tree.preorder(&roots).iter().rev() {
        let old = std::mem::take(&mut tree.nodes[i].children);
        let mut new = Vec::with_capacity(old.len());
        for c in old {
            if tree.is_dummy(c) {
                let grand = std::mem::take(&mut tree.nodes[c].children);
                for &g in &grand {
                    tree.nodes[g].parent = Some(i);
                }
                new.extend(grand);
            } else {
                new.push(c);
            }
        }
        tree.nodes[i].children = new;
    }
    let mut top = Vec::with_capacity(roots.len());
    for r in roots {
        if !tree.is_dummy(r) || tree.nodes[r].children.len() > 1 {
            top.push(r);
        } else if let Some(&only) = tree.nodes[r].children.first() {
            tree.nodes[only].parent = None;
            top.push(only);
        }
    }
    // (4)
    for &r in &top {
        if tree.is_dummy(r) {
            tree.sort_children(r);
        }
    }
    top.sort_by_key(|&r| tree.key(r));
    // (5.B) The subject table.
    let mut table: HashMap<&[u8], usize> = HashMap::new();
    for &r in &top {
        let Some(m) = tree.subject_msg(r) else {
            continue;
        };
        if m.base_subject.is_empty() {
            continue;
        }
        let entry = table.entry(&m.base_subject[..]).or_insert(r);
        let t = *entry;
        if !tree.is_dummy(t) && (tree.is_dummy(r) || (tree.is_reply(t) && !tree.is_reply(r))) {
            *entry = r;
        }
    }
    // (5.C) Merging.
    let mut merged_top = Vec::with_capacity(top.len());
    for &r in &top {
        if tree.nodes[r].parent.is_some() {
            continue; // became a child of a dummy made below
        }
        let subject = tree
            .subject_msg(r)
            .map(|m| &m.base_subject[..])
            .filter(|s| !s.is_empty());
        let Some(&t) = subject.and_then(|s| table.get(s)) else {
            merged_top.push(r);
            continue;
        };
        if t == r {
            merged_top.push(r);
            continue;
        }
        match (tree.is_dummy(t), tree.is_dummy(r)) {
            (true, true) => {
                let moved = std::mem::take(&mut tree.nodes[r].children);
                for &c in &moved {
                    tree.nodes[c].parent = Some(t);
                }
                tree.nodes[t].children.extend(moved);
            }
            (true, false) => tree.link(t, r),
            _ if tree.is_reply(r) && !tree.is_reply(t) => tree.link(t, r),
            _ => {
                let d = tree.add(None);
                tree.link(d, t);
                tree.link(d, r);
                if let Some(pos) = merged_top.iter().position(|&x| x == t) {
                    merged_top[pos] = d;
                } else {
                    merged_top.push(d);
                }
                if let Some(s) = subject {
                    table.insert(s, d);
                }
            }
        }
    }
    // (6) Non-dummies first: a dummy's key is its first child's.
    let mut top = merged_top;
    let order = tree.preorder(&top);
    for &i in &order {
        if !tree.is_dummy(i) {
            tree.sort_children(i);
        }
    }
    for &i in &order {
        if tree.is_dummy(i) {
            tree.sort_children(i);
        }
    }
    top.sort_by_key(|&r| tree.key(r));
    tree.threads(&top)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::EncodeOptions;
    use crate::proto::types::response::{Data, Response};

    fn bs(s: &str) -> String {
        String::from_utf8(base_subject(s.as_bytes())).unwrap()
    }

    fn reply(s: &str) -> bool {
        extract_base_subject(s.as_bytes()).1
    }

    fn wire(threads: Vec<Thread>) -> String {
        let bytes = Response::Data(Data::Thread(threads))
            .encode(&EncodeOptions::default())
            .into_bytes();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn base_subject_reply_and_forward_leaders() {
        assert_eq!(bs("Re: foo"), "FOO");
        assert_eq!(bs("RE: Re: re: foo"), "FOO");
        assert_eq!(bs("Fwd: foo"), "FOO");
        assert_eq!(bs("FW: foo"), "FOO");
        assert_eq!(bs("fwd:foo"), "FOO");
        assert_eq!(bs("Re[2]: foo"), "FOO");
        assert_eq!(bs("Re [list]: foo"), "FOO");
        assert_eq!(bs("Re : foo"), "FOO");
        assert_eq!(bs("Re: Fwd: Re: foo bar"), "FOO BAR");
        assert!(reply("Re: foo"));
        assert!(reply("Fwd: foo"));
        assert!(!reply("foo"));
        // Not leaders.
        assert_eq!(bs("Rex: foo"), "REX: FOO");
        assert_eq!(bs("Re foo"), "RE FOO");
        assert_eq!(bs("AW: foo"), "AW: FOO");
        assert_eq!(bs("foo Re: bar"), "FOO RE: BAR");
        assert!(!reply("Rex: foo"));
        // Empty results.
        assert_eq!(bs(""), "");
        assert_eq!(bs("Re:"), "");
        assert_eq!(bs("  Re:  "), "");
        assert_eq!(bs("(fwd)"), "");
    }

    #[test]
    fn base_subject_blobs() {
        assert_eq!(bs("[list] foo"), "FOO");
        assert_eq!(bs("[list] Re: foo"), "FOO");
        assert_eq!(bs("[a][b] [c] foo"), "FOO");
        assert_eq!(bs("Re: [list] Re: foo"), "FOO");
        assert!(reply("[list] Re: foo"));
        assert!(!reply("[list] foo"));
        // A blob that is all there is stays (a subj-base can be a subj-blob).
        assert_eq!(bs("[list]"), "[LIST]");
        assert_eq!(bs("[a] [b]"), "[B]");
        assert_eq!(bs("Re: [list]"), "[LIST]");
        // Unbalanced brackets are no blob.
        assert_eq!(bs("[list foo"), "[LIST FOO");
        assert_eq!(bs("[a[b] foo"), "[A[B] FOO");
        assert_eq!(bs("foo [list]"), "FOO [LIST]");
    }

    #[test]
    fn base_subject_trailers_and_fwd_wrappers() {
        assert_eq!(bs("foo (fwd)"), "FOO");
        assert_eq!(bs("foo(fwd) (FWD)  "), "FOO");
        assert!(reply("foo (fwd)"));
        assert_eq!(bs("foo (fwd) bar"), "FOO (FWD) BAR");
        assert_eq!(bs("[Fwd: foo]"), "FOO");
        assert!(reply("[Fwd: foo]"));
        assert_eq!(bs("[fwd:foo bar]"), "FOO BAR");
        assert_eq!(bs("Re: [Fwd: Re: foo]"), "FOO");
        assert_eq!(bs("[Fwd: Re: [list] foo (fwd)]"), "FOO");
        assert_eq!(bs("[Fwd: [Fwd: foo]]"), "FOO");
        assert_eq!(bs("[Fwd: foo] (fwd)"), "FOO");
        // Not a wrapper: it does not end with ']', so "[Fwd: foo] " is a blob before "bar".
        assert_eq!(bs("[Fwd: foo] bar"), "BAR");
        assert_eq!(bs("[Fwd: foo"), "[FWD: FOO");
    }

    #[test]
    fn base_subject_white_space() {
        assert_eq!(bs("  foo \t  bar  "), "FOO BAR");
        assert_eq!(bs("foo\r\n bar"), "FOO BAR");
        assert_eq!(bs("Re:\tfoo"), "FOO");
        assert_eq!(bs("\tRe:  \t Re:foo"), "FOO");
    }

    #[test]
    fn base_subject_encoded_words() {
        assert_eq!(bs("=?utf-8?q?Re=3A_caf=C3=A9?="), "CAFÉ");
        assert!(reply("=?utf-8?q?Re=3A_caf=C3=A9?="));
        assert_eq!(bs("=?UTF-8?B?UmU6IGNhZsOp?="), "CAFÉ");
        assert_eq!(bs("=?ISO-8859-1?Q?Andr=E9?= Pirard"), "ANDRÉ PIRARD");
        assert_eq!(bs("=?iso-8859-1?b?QW5kcuk=?="), "ANDRÉ");
        assert_eq!(bs("=?us-ascii?q?hello?="), "HELLO");
        assert_eq!(bs("=?utf-8*en?q?lang?="), "LANG");
        // White space between encoded-words goes, other white space stays.
        assert_eq!(bs("=?utf-8?q?a?= =?utf-8?q?b?="), "AB");
        assert_eq!(bs("=?utf-8?q?a?=\r\n =?utf-8?q?b?="), "AB");
        assert_eq!(bs("=?utf-8?q?a?= b =?utf-8?q?c?="), "A B C");
        assert_eq!(bs("(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)"), "(AB)");
        assert_eq!(bs("=?utf-8?q?a_?= =?iso-8859-1?q?b?="), "A B");
        // A character split across two words.
        assert_eq!(bs("=?utf-8?q?=C3?= =?utf-8?q?=A9t=C3=A9?="), "ÉTÉ");
        // Encoded "Re:" and "[list]" are removed like plain ones.
        assert_eq!(bs("=?utf-8?q?=5Blist=5D_Fwd=3A?= foo"), "FOO");
        // Unknown charsets and malformed words are left as written.
        assert_eq!(bs("=?x-unknown?q?abc?="), "=?X-UNKNOWN?Q?ABC?=");
        assert_eq!(bs("=?utf-8?q?abc"), "=?UTF-8?Q?ABC");
        assert_eq!(bs("=?utf-8?x?abc?="), "=?UTF-8?X?ABC?=");
        assert_eq!(bs("=?utf-8?q?a b?="), "=?UTF-8?Q?A B?=");
        assert_eq!(bs("=??q?a?="), "=??Q?A?=");
        assert_eq!(bs("a=?"), "A=?");
        // Invalid UTF-8 inside a UTF-8 word becomes U+FFFD.
        assert_eq!(bs("=?utf-8?q?a=FF?="), "A\u{FFFD}");
    }

    #[test]
    fn base_subject_case_mapping() {
        assert_eq!(bs("école"), "ÉCOLE");
        assert_eq!(
            base_subject("ÉCOLE".as_bytes()),
            base_subject("école".as_bytes())
        );
        assert_eq!(bs("Ωμέγα"), "ΩΜΈΓΑ");
        // ß has no one-character upper case: kept.
        assert_eq!(bs("straße"), "STRAßE");
        // Octets that are not UTF-8 are kept; the ASCII around them is upper-cased.
        assert_eq!(base_subject(b"caf\xe9 x"), b"CAF\xe9 X".to_vec());
    }

    #[test]
    fn message_ids() {
        assert_eq!(msg_ids(b" <a@x.test>\r\n"), vec![b"a@x.test".to_vec()]);
        assert_eq!(
            msg_ids(b"<a@x>\r\n <b@y> (c <bad@z>) <c@z>"),
            vec![b"a@x".to_vec(), b"b@y".to_vec(), b"c@z".to_vec()]
        );
        // Folding and comments inside the brackets are removed; case is kept.
        assert_eq!(msg_ids(b"<A.b@\r\n X (c) >"), vec![b"A.b@X".to_vec()]);
        assert_eq!(msg_ids(b"<\"a b\"@x>"), vec![b"\"a b\"@x".to_vec()]);
        // Old In-Reply-To phrases; invalid ids are skipped.
        assert_eq!(
            msg_ids(b"Your message of \"Mon <x@y>\" <junk> <@x> <x@> <m@h>"),
            vec![b"m@h".to_vec()]
        );
        assert_eq!(msg_ids(b"<a@x <b@y>"), vec![b"b@y".to_vec()]);
        assert!(msg_ids(b"<a@x").is_empty());
        assert!(msg_ids(b"").is_empty());
    }

    #[test]
    fn sent_dates() {
        let d = |s: &str| parse_date(s.as_bytes());
        // The example of §2.2.
        assert_eq!(d("31 Dec 2000 16:01:33 -0800"), Some(978_307_293));
        assert_eq!(d("Mon, 1 Jan 2001 00:01:33 +0000"), Some(978_307_293));
        assert_eq!(
            d("Tue, 1 Jul 2003 10:52:37 +0200 (CEST)"),
            Some(1_057_049_557)
        );
        assert_eq!(d("1 Jan 2001 05:30 +0530"), Some(978_307_200));
        assert_eq!(d("1 Jan 2001 00:00:00 EST"), Some(978_307_200 + 5 * 3600));
        assert_eq!(d("1 Jan 2001 00:00:00 PDT"), Some(978_307_200 + 7 * 3600));
        assert_eq!(d("1 Jan 2001 00:00:00 GMT"), Some(978_307_200));
        assert_eq!(d("(comment) Mon,1 Jan 2001 00:00:00 UT"), Some(978_307_200));
        assert_eq!(d("01-Jan-2001 00:00:00 +0000"), Some(978_307_200));
        assert_eq!(d("1 January 2001"), Some(978_307_200));
        // Obsolete years.
        assert_eq!(d("1 Jan 01 00:00:00 +0000"), Some(978_307_200));
        assert_eq!(d("1 Jan 99 00:00:00 +0000"), Some(915_148_800));
        assert_eq!(d("1 Jan 101 00:00:00 +0000"), Some(978_307_200));
        // An invalid zone is UTC, an invalid time 00:00:00.
        assert_eq!(d("1 Jan 2001 10:00:00 +0099"), Some(978_307_200 + 36_000));
        assert_eq!(d("1 Jan 2001 10:00:00 Mars"), Some(978_307_200 + 36_000));
        assert_eq!(d("1 Jan 2001 25:00:00 +0100"), Some(978_307_200 - 3600));
        assert_eq!(d("1 Jan 2001 x:y +0000"), Some(978_307_200));
        // No valid date.
        for bad in [
            "",
            "garbage",
            "32 Jan 2001",
            "1 Foo 2001",
            "Jan 1 2001",
            "1 Jan",
            "0 Jan 2001",
        ] {
            assert_eq!(d(bad), None, "{bad}");
        }
    }

    const HEADER: &[u8] = b"Return-Path: <x@y>\r\n\
From: =?utf-8?q?Zo=C3=AB?= Smith <Zoe.Smith@Example.COM>\r\n\
To: undisclosed:;\r\n\
Cc: <boss@nil.test>, other@x\r\n\
Subject: =?utf-8?q?Re=3A_=5Blist=5D?=\r\n\t=?utf-8?q?caf=C3=A9?= (fwd)\r\n\
Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n\
Message-ID: <5678.21-Nov-1997@Example.com>\r\n\
In-Reply-To: <ignored@x>\r\n\
References: <1@x>\r\n <2@x>\r\n\
\r\n";

    #[test]
    fn parse_header() {
        let f = SortFields::parse(3, 30, 1000, 512, HEADER);
        assert_eq!((f.seq, f.uid, f.arrival, f.size), (3, 30, 1000, 512));
        assert_eq!(f.base_subject, "CAFÉ".as_bytes());
        assert!(f.reply_or_forward);
        assert_eq!(f.sent, Some(1_057_049_557));
        assert_eq!(f.sent_date(), 1_057_049_557);
        assert_eq!(f.from, b"ZOE.SMITH");
        assert_eq!(f.display_from, "ZOË SMITH".as_bytes());
        // A group: ENVELOPE's first address is the group start, its name the mailbox.
        assert_eq!(f.to, b"UNDISCLOSED");
        assert_eq!(f.display_to, b"UNDISCLOSED");
        assert_eq!(f.cc, b"BOSS");
        assert_eq!(
            f.message_id.as_deref(),
            Some(&b"5678.21-Nov-1997@Example.com"[..])
        );
        assert_eq!(f.references, vec![b"1@x".to_vec(), b"2@x".to_vec()]);

        // In-Reply-To when there is no References (or no valid id in it); the first id.
        let f = SortFields::parse(1, 1, 7, 0, b"In-Reply-To: <a@x> <b@x>\r\n\r\n");
        assert_eq!(f.references, vec![b"a@x".to_vec()]);
        let f = SortFields::parse(
            1,
            1,
            7,
            0,
            b"References: junk\r\nIn-Reply-To: <a@x>\r\n\r\n",
        );
        assert_eq!(f.references, vec![b"a@x".to_vec()]);
        // A header without the blank line, and one with nothing useful.
        let f = SortFields::parse(1, 1, 7, 0, b"Subject: Fwd: hi\r\nFrom: bob@b.test");
        assert_eq!(f.base_subject, b"HI");
        assert_eq!(f.display_from, b"BOB@B.TEST");
        let f = SortFields::parse(2, 2, 7, 0, b"Date: someday\r\n\r\n");
        assert_eq!(f.sent, None);
        assert_eq!(f.sent_date(), 7);
        assert_eq!(f.message_id, None);
        assert!(f.references.is_empty());
        assert!(f.from.is_empty() && f.display_to.is_empty() && f.base_subject.is_empty());
        let f = SortFields::parse(2, 2, 7, 0, b"");
        assert_eq!(f.seq, 2);
    }

    /// The SORT example set: seq, arrival, size, header.
    fn sort_set() -> Vec<SortFields> {
        let m =
            |seq, arrival, size, h: &str| SortFields::parse(seq, seq, arrival, size, h.as_bytes());
        vec![
            m(
                3,
                200,
                200,
                "From: \"Alice\" <zoe@z.test>\r\nTo: bob@b.test\r\nCc: adam@a.test\r\n\
Subject: Fwd: Cherry\r\n\r\n",
            ),
            m(
                1,
                300,
                500,
                "From: \"Zed Zulu\" <zed@z.test>\r\nTo: alice@a.test\r\n\
Cc: Carol <carol@c.test>\r\nSubject: Re: banana\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n",
            ),
            m(
                4,
                400,
                100,
                "From: =?utf-8?q?=C3=89mile?= <emile@e.test>\r\nCc: bob@b.test\r\n\
Subject: [list] APPLE\r\nDate: Mon, 1 Jan 2024 10:30:00 +0100\r\n\r\n",
            ),
            m(
                2,
                100,
                200,
                "From: bob@b.test\r\nTo: Dave <dave@d.test>\r\nSubject: apple\r\n\
Date: Mon, 1 Jan 2024 09:00:00 -0200\r\n\r\n",
            ),
        ]
    }

    fn by(keys: &[(bool, SortKey)]) -> Vec<u32> {
        let criteria: Vec<SortCriterion> = keys
            .iter()
            .map(|&(reverse, key)| SortCriterion { reverse, key })
            .collect();
        sort(&sort_set(), &criteria)
    }

    #[test]
    fn sort_each_key() {
        use SortKey::*;
        assert_eq!(by(&[(false, Arrival)]), [2, 3, 1, 4]);
        // Message 3 has no Date: its INTERNALDATE (1970) is its sent date.
        assert_eq!(by(&[(false, Date)]), [3, 4, 1, 2]);
        // 2 and 3 have the same size: sequence order.
        assert_eq!(by(&[(false, Size)]), [4, 2, 3, 1]);
        assert_eq!(by(&[(false, Subject)]), [2, 4, 1, 3]);
        assert_eq!(by(&[(false, From)]), [2, 4, 1, 3]);
        // A message without To sorts first (empty string).
        assert_eq!(by(&[(false, To)]), [4, 1, 3, 2]);
        assert_eq!(by(&[(false, Cc)]), [2, 3, 4, 1]);
        // "ALICE" < "BOB@B.TEST" < "ZED ZULU" < "ÉMILE" (octets).
        assert_eq!(by(&[(false, DisplayFrom)]), [3, 2, 1, 4]);
        assert_eq!(by(&[(false, DisplayTo)]), [4, 1, 3, 2]);
        assert_eq!(by(&[]), [1, 2, 3, 4]);
    }

    #[test]
    fn sort_reverse_and_several_criteria() {
        use SortKey::*;
        assert_eq!(by(&[(true, Arrival)]), [4, 1, 3, 2]);
        assert_eq!(by(&[(true, Date)]), [2, 1, 4, 3]);
        // REVERSE does not reverse the final tie-break by sequence number.
        assert_eq!(by(&[(true, Size)]), [1, 2, 3, 4]);
        assert_eq!(by(&[(false, Subject), (false, Date)]), [4, 2, 1, 3]);
        assert_eq!(by(&[(false, Subject), (true, Date)]), [2, 4, 1, 3]);
        assert_eq!(by(&[(true, Subject), (false, Arrival)]), [3, 1, 2, 4]);
        assert_eq!(by(&[(false, Size), (true, Arrival)]), [4, 3, 2, 1]);
        assert_eq!(by(&[(false, Size), (false, Arrival)]), [4, 2, 3, 1]);
        assert_eq!(
            by(&[(false, Cc), (true, Size), (false, Arrival)]),
            [2, 3, 4, 1]
        );
        assert!(
            sort(
                &[],
                &[SortCriterion {
                    reverse: true,
                    key: Date
                }]
            )
            .is_empty()
        );
    }

    /// A message of the threading examples: seq, Message-ID, References, In-Reply-To,
    /// Subject, minutes after 2024-01-01 10:00 UTC (`None`: no Date, so the INTERNALDATE).
    fn msg(
        seq: u32,
        id: Option<&str>,
        refs: &str,
        irt: &str,
        subject: &str,
        minutes: Option<i64>,
    ) -> SortFields {
        let mut h = String::new();
        if let Some(id) = id {
            h += &format!("Message-ID: <{id}>\r\n");
        }
        if !refs.is_empty() {
            h += &format!("References: {refs}\r\n");
        }
        if !irt.is_empty() {
            h += &format!("In-Reply-To: {irt}\r\n");
        }
        h += &format!("Subject: {subject}\r\n");
        if let Some(m) = minutes {
            let (hh, mm) = (10 + m.div_euclid(60), m.rem_euclid(60));
            h += &format!("Date: Mon, 1 Jan 2024 {hh:02}:{mm:02}:00 +0000\r\n");
        }
        h += "\r\n";
        SortFields::parse(seq, seq + 100, i64::from(seq), 0, h.as_bytes())
    }

    /// A mailbox with a plain reply tree, a missing parent, an In-Reply-To-only reply, a
    /// References loop between two messages, a References list with a loop in itself, a
    /// duplicated Message-ID, messages without Message-ID or References, and subjects
    /// that gather threads.
    fn mailbox() -> Vec<SortFields> {
        vec![
            msg(1, Some("a@x"), "", "", "Meeting", Some(0)),
            msg(2, Some("b@x"), "<a@x>", "", "Re: Meeting", Some(5)),
            msg(3, Some("c@x"), "<a@x> <b@x>", "", "Re: Meeting", Some(10)),
            msg(4, Some("d@x"), "<a@x>", "", "RE: meeting", Some(7)),
            msg(5, Some("e@x"), "<gone@x>", "", "Re: Lunch", Some(20)),
            msg(6, Some("f@x"), "<gone@x>", "", "Re: Lunch", Some(25)),
            msg(7, Some("g@x"), "", "<e@x>", "Re: Lunch", Some(30)),
            msg(8, Some("h@x"), "<i@x>", "", "Re: Report", Some(40)),
            msg(9, Some("i@x"), "<h@x>", "", "Re: Report", Some(45)),
            msg(10, Some("a@x"), "", "", "Meeting", Some(60)),
            msg(11, Some("l@x"), "<a@x>", "", "Re: Meeting", Some(65)),
            msg(12, Some("k@x"), "", "", "Re: Lunch", Some(50)),
            msg(13, None, "", "", "Re: Budget", Some(-60)),
            msg(14, Some("n@x"), "", "", "[list] Budget", Some(-30)),
            msg(
                15,
                Some("o@x"),
                "<p1@x> <p2@x> <p1@x>",
                "",
                "Misc",
                Some(120),
            ),
        ]
    }

    #[test]
    fn ordered_subject() {
        assert_eq!(
            wire(thread_ordered_subject(&mailbox())),
            "* THREAD (13 14)(1 (2)(4)(3)(10)(11))(5 (6)(7)(12))(8 9)(15)\r\n"
        );
        // Input order does not matter; equal dates go by sequence number; seq 0 is left out.
        let mut set = vec![
            msg(4, None, "", "", "x", Some(0)),
            msg(3, None, "", "", "Re: x", Some(0)),
            msg(0, None, "", "", "x", Some(-5)),
            msg(9, None, "", "", "y", None),
        ];
        assert_eq!(wire(thread_ordered_subject(&set)), "* THREAD (9)(3 4)\r\n");
        set.push(msg(2, None, "", "", "Fwd: X", Some(1)));
        assert_eq!(
            wire(thread_ordered_subject(&set)),
            "* THREAD (9)(3 (4)(2))\r\n"
        );
        assert_eq!(wire(thread_ordered_subject(&[])), "* THREAD\r\n");
    }

    #[test]
    fn references_mailbox() {
        // 13 (a reply) goes under 14 with the same base subject; 10's duplicated id is
        // replaced, so 11 replies to 1, and 1 and 10 (neither a reply) share a dummy; 5
        // and 6 keep the dummy of their missing parent, 7 (In-Reply-To only) is under 5,
        // and 12 joins them by subject; 9 is not made 8's child (a loop); 15's looping
        // References leave it alone.
        assert_eq!(
            wire(thread_references(&mailbox())),
            "* THREAD (14 13)((1 (2 3)(4)(11))(10))((5 7)(6)(12))(9 8)(15)\r\n"
        );
        let mut shuffled = mailbox();
        shuffled.reverse();
        assert_eq!(thread_references(&shuffled), thread_references(&mailbox()));
    }

    #[test]
    fn references_rfc_example_shape() {
        let set = [
            msg(2, Some("m2@x"), "", "", "Alpha", Some(0)),
            msg(3, Some("m3@x"), "", "", "Beta", Some(1)),
            msg(6, Some("m6@x"), "<m3@x>", "", "Re: Beta", Some(2)),
            msg(4, Some("m4@x"), "<m3@x> <m6@x>", "", "Re: Beta", Some(3)),
            msg(
                23,
                Some("m23@x"),
                "<m3@x> <m6@x> <m4@x>",
                "",
                "Re: Beta",
                Some(4),
            ),
            msg(44, Some("m44@x"), "<m3@x> <m6@x>", "", "Re: Beta", Some(5)),
            msg(7, Some("m7@x"), "<m6@x> <m44@x>", "", "Re: Beta", Some(6)),
            msg(96, Some("m96@x"), "<m44@x> <m7@x>", "", "Re: Beta", Some(7)),
        ];
        assert_eq!(
            wire(thread_references(&set)),
            "* THREAD (2)(3 6 (4 23)(44 7 96))\r\n"
        );
    }

    #[test]
    fn references_dummies() {
        // Two replies to a missing message: a dummy at the top stays.
        let set = [
            msg(3, Some("a@x"), "<gone@x>", "", "Re: a", Some(0)),
            msg(5, Some("b@x"), "<gone@x>", "", "Re: b", Some(1)),
        ];
        assert_eq!(wire(thread_references(&set)), "* THREAD ((3)(5))\r\n");
        // One reply to a missing message: promoted to the top.
        let set = [msg(3, Some("a@x"), "<gone@x>", "", "Re: a", Some(0))];
        assert_eq!(wire(thread_references(&set)), "* THREAD (3)\r\n");
        // A missing message in the middle: its child is promoted to its parent.
        let set = [
            msg(1, Some("a@x"), "", "", "a", Some(0)),
            msg(2, Some("c@x"), "<a@x> <gone@x>", "", "Re: a", Some(1)),
            msg(3, Some("d@x"), "<a@x> <gone2@x>", "", "Re: a", Some(2)),
        ];
        assert_eq!(wire(thread_references(&set)), "* THREAD (1 (2)(3))\r\n");
        // Missing ancestors several levels deep.
        let set = [
            msg(1, Some("c@x"), "<g1@x> <g2@x> <g3@x>", "", "q", Some(0)),
            msg(2, Some("d@x"), "<g1@x> <g4@x>", "", "other", Some(1)),
        ];
        assert_eq!(wire(thread_references(&set)), "* THREAD ((1)(2))\r\n");
    }

    #[test]
    fn references_subject_gathering() {
        // Two dummies with one subject merge; a non-reply under a dummy.
        let set = [
            msg(1, Some("a@x"), "<g1@x>", "", "Re: s", Some(0)),
            msg(2, Some("b@x"), "<g1@x>", "", "Re: s", Some(1)),
            msg(3, Some("c@x"), "<g2@x>", "", "Re: s", Some(2)),
            msg(4, Some("d@x"), "<g2@x>", "", "Re: s", Some(3)),
            msg(5, Some("e@x"), "", "", "s", Some(4)),
        ];
        assert_eq!(
            wire(thread_references(&set)),
            "* THREAD ((1)(2)(3)(4)(5))\r\n"
        );
        // Two replies without the original: a dummy holds both.
        let set = [
            msg(1, Some("a@x"), "", "", "Re: s", Some(0)),
            msg(2, Some("b@x"), "", "", "Re: s", Some(1)),
        ];
        assert_eq!(wire(thread_references(&set)), "* THREAD ((1)(2))\r\n");
        // The original (later in date) takes the reply, even a forward.
        let set = [
            msg(1, Some("a@x"), "", "", "s (fwd)", Some(0)),
            msg(2, Some("b@x"), "", "", "S", Some(1)),
            msg(3, Some("c@x"), "", "", "[Fwd: s]", Some(2)),
        ];
        assert_eq!(wire(thread_references(&set)), "* THREAD (2 (1)(3))\r\n");
        // Empty subjects are not gathered.
        let set = [
            msg(1, Some("a@x"), "", "", "", Some(0)),
            msg(2, Some("b@x"), "", "", "Re:", Some(1)),
        ];
        assert_eq!(wire(thread_references(&set)), "* THREAD (1)(2)\r\n");
    }

    #[test]
    fn references_loops_and_duplicates() {
        // A message referring to itself, and two referring to each other.
        let set = [
            msg(1, Some("a@x"), "<a@x>", "", "one", Some(0)),
            msg(2, Some("b@x"), "<c@x>", "", "two", Some(1)),
            msg(3, Some("c@x"), "<b@x>", "", "three", Some(2)),
        ];
        assert_eq!(wire(thread_references(&set)), "* THREAD (1)(3 2)\r\n");
        // A References list that contradicts the tree: the pair that would make a loop
        // (b under a, a under b) is not linked.
        let set = [
            msg(1, Some("a@x"), "", "", "a", Some(0)),
            msg(2, Some("b@x"), "<a@x>", "", "b", Some(1)),
            msg(3, Some("c@x"), "<b@x> <a@x>", "", "c", Some(2)),
        ];
        assert_eq!(wire(thread_references(&set)), "* THREAD (1 (2)(3))\r\n");
        // 1.A does not change an existing parent: b stays under a, not under x.
        let set = [
            msg(1, Some("a@x"), "", "", "a", Some(0)),
            msg(2, Some("b@x"), "<a@x>", "", "b", Some(1)),
            msg(3, Some("c@x"), "<x@x> <b@x>", "", "c", Some(2)),
        ];
        assert_eq!(wire(thread_references(&set)), "* THREAD (1 2 3)\r\n");
        // A later message fixes a truncated References (1.B re-parents).
        let set = [
            msg(1, Some("a@x"), "", "", "a", Some(0)),
            msg(2, Some("b@x"), "<a@x>", "", "b", Some(1)),
            msg(3, Some("c@x"), "<a@x> <b@x> <d@x>", "", "c", Some(2)),
            msg(4, Some("d@x"), "<a@x>", "", "d", Some(3)),
        ];
        assert_eq!(wire(thread_references(&set)), "* THREAD (1 (2)(4 3))\r\n");
        // Identical Message-IDs: the lowest sequence number keeps it; the replies go there;
        // no Message-ID at all is fine.
        let set = [
            msg(5, Some("same@x"), "", "", "x", Some(3)),
            msg(2, Some("same@x"), "", "", "y", Some(0)),
            msg(3, Some("r@x"), "<same@x>", "", "Re: y", Some(1)),
            msg(4, None, "<same@x>", "", "Re: y", Some(2)),
            msg(6, None, "", "", "z", Some(4)),
        ];
        assert_eq!(
            wire(thread_references(&set)),
            "* THREAD (2 (3)(4))(5)(6)\r\n"
        );
        // Message IDs compare case-sensitively.
        let set = [
            msg(1, Some("A@x"), "", "", "p", Some(0)),
            msg(2, Some("b@x"), "<a@x>", "", "q", Some(1)),
        ];
        assert_eq!(wire(thread_references(&set)), "* THREAD (1)(2)\r\n");
    }

    #[test]
    fn references_ties_and_missing_dates() {
        // No Date: INTERNALDATE (here the seq, so 1970) decides; equal dates go by seq.
        let set = [
            msg(7, Some("a@x"), "", "", "a", Some(0)),
            msg(5, Some("b@x"), "", "", "b", Some(0)),
            msg(9, Some("c@x"), "<a@x>", "", "c", None),
            msg(8, Some("d@x"), "<a@x>", "", "d", Some(0)),
        ];
        assert_eq!(wire(thread_references(&set)), "* THREAD (5)(7 (9)(8))\r\n");
        assert_eq!(wire(thread_references(&[])), "* THREAD\r\n");
    }

    /// Every seq once; a thread has no children or at least two; only a top-level thread
    /// may have no members (a dummy), and then it has at least two children.
    fn check_threads(threads: &[Thread], seqs: &[u32]) -> Result<(), String> {
        let mut seen = Vec::new();
        let mut stack: Vec<(&Thread, bool)> = threads.iter().map(|t| (t, true)).collect();
        while let Some((t, top)) = stack.pop() {
            if t.children.len() == 1 {
                return Err(format!("one child: {t:?}"));
            }
            if t.members.is_empty() && (!top || t.children.len() < 2) {
                return Err(format!("empty members: {t:?}"));
            }
            seen.extend(t.members.iter().map(|n| n.get()));
            stack.extend(t.children.iter().map(|c| (c, false)));
        }
        seen.sort_unstable();
        let mut want = seqs.to_vec();
        want.sort_unstable();
        if seen == want {
            Ok(())
        } else {
            Err(format!("members {seen:?}, messages {want:?}"))
        }
    }

    proptest::proptest! {
        #[test]
        fn threads_hold_every_message_once(
            msgs in proptest::collection::vec(
                (
                    proptest::option::of(0u8..8),
                    proptest::collection::vec(0u8..10, 0..5),
                    0usize..6,
                    0i64..5,
                ),
                0..25,
            )
        ) {
            const SUBJECTS: [&str; 6] = ["a", "Re: a", "b", "Fwd: b", "", "[x] Re: a (fwd)"];
            let set: Vec<SortFields> = msgs
                .iter()
                .enumerate()
                .map(|(i, (id, refs, subj, date))| SortFields {
                    seq: i as u32 + 1,
                    sent: Some(*date),
                    message_id: id.map(|id| format!("{id}@x").into_bytes()),
                    references: refs.iter().map(|r| format!("{r}@x").into_bytes()).collect(),
                    ..SortFields::parse(i as u32 + 1, 0, 0, 0, format!("Subject: {}\r\n\r\n", SUBJECTS[*subj]).as_bytes())
                })
                .collect();
            let seqs: Vec<u32> = set.iter().map(|m| m.seq).collect();
            let r = check_threads(&thread_references(&set), &seqs);
            proptest::prop_assert!(r.is_ok(), "REFERENCES {:?}", r);
            let r = check_threads(&thread_ordered_subject(&set), &seqs);
            proptest::prop_assert!(r.is_ok(), "ORDEREDSUBJECT {:?}", r);
            let mut sorted = sort(&set, &[SortCriterion { reverse: true, key: SortKey::Subject }]);
            sorted.sort_unstable();
            proptest::prop_assert_eq!(sorted, seqs);
        }

        #[test]
        fn base_subject_of_anything(v in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let b = base_subject(&v);
            proptest::prop_assert!(!b.starts_with(b" ") && !b.ends_with(b" "));
            let _ = SortFields::parse(1, 1, 0, 0, &v);
            let _ = parse_date(&v);
        }
    }

    #[test]
    fn long_chain() {
        // Deep threads build without recursion.
        let n = 20_000u32;
        let set: Vec<SortFields> = (1..=n)
            .map(|i| SortFields {
                seq: i,
                sent: Some(i64::from(i)),
                base_subject: b"S".to_vec(),
                message_id: Some(format!("{i}@x").into_bytes()),
                references: if i > 1 {
                    vec![format!("{}@x", i - 1).into_bytes()]
                } else {
                    Vec::new()
                },
                ..SortFields::default()
            })
            .collect();
        let t = thread_references(&set);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].members.len(), n as usize);
        assert!(t[0].children.is_empty());
    }
}
