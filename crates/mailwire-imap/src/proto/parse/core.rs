//! Streaming primitives: every function returns `Incomplete` when the input ends where more
//! could follow, so any proper prefix of a valid message is `Incomplete` (or `NeedLiteral`),
//! never an error.

use std::num::NonZeroU32;

use mailwire_codec::{LiteralAnnouncement, LiteralMode};
use nom::{Err, IResult, Needed};

use crate::proto::types::core::{
    AString, Atom, C_ASTRING, C_ATOM, C_LIST, C_TAG, C_TEXT, IString, NString, SmallBytes, Tag,
    Text, is,
};
use crate::proto::types::datetime::{Date, DateTime, MONTHS};
use crate::proto::types::flag::{Flag, FlagFetch, FlagPerm, MailboxAttr};
use crate::proto::types::mailbox::{ListMailbox, Mailbox};
use crate::proto::types::sequence::{SeqNum, SeqRange, SequenceSet};

/// The error of the internal parsers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PError {
    pub(crate) kind: PErrorKind,
    /// Octets left when the error was found (the offset is `len - remaining`).
    pub(crate) remaining: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PErrorKind {
    Expected(&'static str),
    NeedLiteral(LiteralAnnouncement),
    TooDeep,
}

impl<'a> nom::error::ParseError<&'a [u8]> for PError {
    fn from_error_kind(input: &'a [u8], _kind: nom::error::ErrorKind) -> Self {
        Self {
            kind: PErrorKind::Expected("valid syntax"),
            remaining: input.len(),
        }
    }

    fn append(_: &'a [u8], _: nom::error::ErrorKind, other: Self) -> Self {
        other
    }

    fn or(self, other: Self) -> Self {
        // Keep the error found furthest into the input.
        if other.remaining <= self.remaining {
            other
        } else {
            self
        }
    }
}

pub(crate) type PResult<'a, T> = IResult<&'a [u8], T, PError>;

#[inline]
pub(crate) fn fail<'a, T>(i: &'a [u8], what: &'static str) -> PResult<'a, T> {
    Err(Err::Error(PError {
        kind: PErrorKind::Expected(what),
        remaining: i.len(),
    }))
}

#[inline]
pub(crate) fn incomplete<T>() -> PResult<'static, T> {
    Err(Err::Incomplete(Needed::Unknown))
}

pub(crate) fn too_deep<T>(i: &[u8]) -> PResult<'_, T> {
    Err(Err::Failure(PError {
        kind: PErrorKind::TooDeep,
        remaining: i.len(),
    }))
}

/// The next octet, or `Incomplete`.
#[inline]
pub(crate) fn peek(i: &[u8]) -> Result<u8, Err<PError>> {
    match i.first() {
        Some(&b) => Ok(b),
        None => Err(Err::Incomplete(Needed::new(1))),
    }
}

/// One given octet.
#[inline]
pub(crate) fn byte<'a>(i: &'a [u8], c: u8, what: &'static str) -> PResult<'a, ()> {
    match i.first() {
        Some(&b) if b == c => Ok((&i[1..], ())),
        Some(_) => fail(i, what),
        None => incomplete(),
    }
}

/// `SP`
#[inline]
pub(crate) fn sp(i: &[u8]) -> PResult<'_, ()> {
    byte(i, b' ', "SP")
}

/// `CRLF`
#[inline]
pub(crate) fn crlf(i: &[u8]) -> PResult<'_, ()> {
    match i {
        [b'\r', b'\n', rest @ ..] => Ok((rest, ())),
        [b'\r'] | [] => incomplete(),
        _ => fail(i, "CRLF"),
    }
}

/// A case-insensitive keyword (`kw` must be upper-case ASCII).
#[inline]
pub(crate) fn keyword<'a>(i: &'a [u8], kw: &'static str) -> PResult<'a, ()> {
    let kw = kw.as_bytes();
    let n = kw.len().min(i.len());
    if !i[..n].eq_ignore_ascii_case(&kw[..n]) {
        return fail(i, "keyword");
    }
    if n < kw.len() {
        return incomplete();
    }
    Ok((&i[n..], ()))
}

/// Whether the input starts with keyword `kw` (`Incomplete` if it may).
pub(crate) fn starts_with_kw(i: &[u8], kw: &'static str) -> Result<bool, Err<PError>> {
    match keyword(i, kw) {
        Ok(_) => Ok(true),
        Err(Err::Error(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `1*c` of a character class; the run must end before the input does.
#[inline]
pub(crate) fn take1<'a>(i: &'a [u8], class: u8, what: &'static str) -> PResult<'a, &'a [u8]> {
    match i.iter().position(|&b| !is(b, class)) {
        Some(0) => fail(i, what),
        Some(n) => Ok((&i[n..], &i[..n])),
        None => incomplete(),
    }
}

/// `atom`
#[inline]
pub(crate) fn atom(i: &[u8]) -> PResult<'_, Atom> {
    let (i, a) = take1(i, C_ATOM, "atom")?;
    Ok((i, Atom::unvalidated(a)))
}

/// An atom's octets (e.g. a command name).
#[inline]
pub(crate) fn atom_bytes(i: &[u8]) -> PResult<'_, &[u8]> {
    take1(i, C_ATOM, "atom")
}

/// `tag`
pub(crate) fn tag(i: &[u8]) -> PResult<'_, Tag> {
    let (i, t) = take1(i, C_TAG, "tag")?;
    Ok((i, Tag::unvalidated(t)))
}

/// `number = 1*DIGIT` within 32 bits.
#[inline]
pub(crate) fn number(i: &[u8]) -> PResult<'_, u32> {
    let (rest, n) = number64(i)?;
    match u32::try_from(n) {
        Ok(n) => Ok((rest, n)),
        Err(_) => fail(i, "32-bit number"),
    }
}

/// `nz-number`
#[inline]
pub(crate) fn nz_number(i: &[u8]) -> PResult<'_, NonZeroU32> {
    let (rest, n) = number(i)?;
    match NonZeroU32::new(n) {
        Some(n) => Ok((rest, n)),
        None => fail(i, "non-zero number"),
    }
}

/// `number64` (up to 2^63-1).
#[inline]
pub(crate) fn number64(i: &[u8]) -> PResult<'_, u64> {
    let mut n: u64 = 0;
    let mut len = 0;
    for &b in i {
        if !b.is_ascii_digit() {
            break;
        }
        n = match n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
        {
            Some(n) if n <= i64::MAX as u64 => n,
            _ => return fail(i, "number in range"),
        };
        len += 1;
    }
    if len == 0 {
        return if i.is_empty() {
            incomplete()
        } else {
            fail(i, "number")
        };
    }
    if len == i.len() {
        return incomplete();
    }
    Ok((&i[len..], n))
}

/// Octets that end the fast scan of a quoted string: `"`, `\`, CR, LF, NUL.
static QUOTED_STOP: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'\n' as usize] = true;
    t[0] = true;
    t
};

/// `quoted = DQUOTE *QUOTED-CHAR DQUOTE`; only `\"` and `\\` are escapes. UTF-8 is accepted
/// (RFC 9051). Without escapes (the common case) a short string costs one scan and no
/// allocation.
#[inline]
pub(crate) fn quoted(i: &[u8]) -> PResult<'_, SmallBytes> {
    let (body, ()) = byte(i, b'"', "quoted string")?;
    let mut owned: Option<Vec<u8>> = None;
    let mut rest = body;
    loop {
        // Short strings: a table scan; past 16 octets, vectorised searches.
        let head = rest.len().min(16);
        let k = match rest[..head]
            .iter()
            .position(|&b| QUOTED_STOP[usize::from(b)])
        {
            Some(k) => k,
            None => {
                let tail = &rest[head..];
                let end = memchr::memchr2(b'"', b'\\', tail).unwrap_or(tail.len());
                let stop = memchr::memchr3(0, b'\r', b'\n', &tail[..end]).unwrap_or(end);
                if stop == tail.len() {
                    return incomplete();
                }
                head + stop
            }
        };
        match rest[k] {
            b'"' => {
                let v = match owned {
                    Some(mut o) => {
                        o.extend_from_slice(&rest[..k]);
                        SmallBytes::from_vec(o)
                    }
                    None => SmallBytes::from_prefix(rest, k),
                };
                return Ok((&rest[k + 1..], v));
            }
            b'\\' => {
                let Some(&e) = rest.get(k + 1) else {
                    return incomplete();
                };
                if e != b'"' && e != b'\\' {
                    return fail(&rest[k..], "quoted-specials after backslash");
                }
                let o = owned.get_or_insert_with(Vec::new);
                o.extend_from_slice(&rest[..k]);
                o.push(e);
                rest = &rest[k + 2..];
            }
            _ => return fail(&rest[k..], "QUOTED-CHAR"),
        }
    }
}

/// `literal = "{" number64 ["+"] "}" CRLF *CHAR8` (and `literal8` when `binary`).
/// At the end of the input right after the announcement: `NeedLiteral`.
pub(crate) fn literal(i: &[u8], binary: bool) -> PResult<'_, &[u8]> {
    let start = i;
    let i = if binary {
        byte(i, b'~', "literal8")?.0
    } else {
        i
    };
    let (i, ()) = byte(i, b'{', "literal")?;
    let (i, size) = number64(i)?;
    let (i, mode) = match peek(i)? {
        b'+' => (&i[1..], LiteralMode::NonSync),
        _ => (i, LiteralMode::Sync),
    };
    let (i, ()) = byte(i, b'}', "}")?;
    let (i, ()) = crlf(i)?;
    let Ok(n) = usize::try_from(size) else {
        return fail(start, "literal size in range");
    };
    if i.len() < n {
        if i.is_empty() {
            return Err(Err::Failure(PError {
                kind: PErrorKind::NeedLiteral(LiteralAnnouncement { size, mode, binary }),
                remaining: 0,
            }));
        }
        return incomplete();
    }
    let data = &i[..n];
    if !binary && memchr::memchr(0, data).is_some() {
        return fail(start, "literal without NUL");
    }
    Ok((&i[n..], data))
}

/// `string = quoted / literal`
#[inline]
pub(crate) fn string(i: &[u8]) -> PResult<'_, IString> {
    match peek(i)? {
        b'"' => {
            let (i, v) = quoted(i)?;
            Ok((i, IString::from_small(v)))
        }
        b'{' => {
            let (i, v) = literal(i, false)?;
            Ok((i, IString::from_small(SmallBytes::from_slice(v))))
        }
        _ => fail(i, "string"),
    }
}

/// `astring = 1*ASTRING-CHAR / string`
#[inline]
pub(crate) fn astring(i: &[u8]) -> PResult<'_, AString> {
    match peek(i)? {
        b'"' | b'{' => {
            let (i, s) = string(i)?;
            Ok((i, s.into()))
        }
        _ => {
            let (rest, a) = take1(i, C_ASTRING, "astring")?;
            Ok((
                rest,
                AString::from_small(SmallBytes::from_prefix(i, a.len())),
            ))
        }
    }
}

/// `nil = "NIL"`
#[inline]
pub(crate) fn nil(i: &[u8]) -> PResult<'_, ()> {
    keyword(i, "NIL")
}

/// `nstring = string / nil`
#[inline]
pub(crate) fn nstring(i: &[u8]) -> PResult<'_, NString> {
    match peek(i)? {
        b'"' | b'{' => {
            let (i, s) = string(i)?;
            Ok((i, Some(s)))
        }
        _ => {
            let (i, ()) = nil(i)?;
            Ok((i, None))
        }
    }
}

/// `mailbox = "INBOX" / astring`
#[inline]
pub(crate) fn mailbox(i: &[u8]) -> PResult<'_, Mailbox> {
    let (i, s) = astring(i)?;
    Ok((i, Mailbox::from_astring(s)))
}

/// `list-mailbox = 1*list-char / string`
pub(crate) fn list_mailbox(i: &[u8]) -> PResult<'_, ListMailbox> {
    match peek(i)? {
        b'"' | b'{' => {
            let (i, s) = string(i)?;
            Ok((i, ListMailbox::unvalidated(s.into_bytes())))
        }
        _ => {
            let (i, a) = take1(i, C_LIST, "list-mailbox")?;
            Ok((i, ListMailbox::unvalidated(a.to_vec())))
        }
    }
}

/// `text = 1*TEXT-CHAR` (may be empty here), up to `CRLF` (not consumed).
#[inline]
pub(crate) fn text(i: &[u8]) -> PResult<'_, Text> {
    match i.iter().position(|&b| !is(b, C_TEXT)) {
        Some(n) => Ok((&i[n..], Text::unvalidated(&i[..n]))),
        None => incomplete(),
    }
}

/// `seq-number = nz-number / "*"`
fn seq_number(i: &[u8]) -> PResult<'_, SeqNum> {
    if peek(i)? == b'*' {
        return Ok((&i[1..], SeqNum::Largest));
    }
    let (i, n) = nz_number(i)?;
    Ok((i, SeqNum::Value(n)))
}

/// `sequence-set = (seq-number / seq-range) ["," sequence-set]` or `$` (RFC 5182).
pub(crate) fn sequence_set(i: &[u8]) -> PResult<'_, SequenceSet> {
    if peek(i)? == b'$' {
        return Ok((&i[1..], SequenceSet::Saved));
    }
    let mut ranges = Vec::new();
    let mut i = i;
    loop {
        let (rest, a) = seq_number(i)?;
        let (rest, r) = if peek(rest)? == b':' {
            let (rest, b) = seq_number(&rest[1..])?;
            (rest, SeqRange::Range(a, b))
        } else {
            (rest, SeqRange::Single(a))
        };
        ranges.push(r);
        if peek(rest)? == b',' {
            i = &rest[1..];
        } else {
            return Ok((rest, SequenceSet::Set(ranges)));
        }
    }
}

/// `flag` (a stored flag): `"\" atom` or a keyword atom. `\Recent` is refused.
#[inline]
pub(crate) fn flag(i: &[u8]) -> PResult<'_, Flag> {
    if peek(i)? == b'\\' {
        let (rest, a) = atom(&i[1..])?;
        match Flag::system(a) {
            Some(f) => Ok((rest, f)),
            None => fail(i, "a flag other than \\Recent"),
        }
    } else {
        let (i, a) = atom(i)?;
        Ok((i, Flag::Keyword(a)))
    }
}

/// `flag-fetch = flag / "\Recent"`
#[inline]
pub(crate) fn flag_fetch(i: &[u8]) -> PResult<'_, FlagFetch> {
    if peek(i)? == b'\\' {
        let (rest, a) = atom(&i[1..])?;
        if a.eq_ignore_case("Recent") {
            return Ok((rest, FlagFetch::Recent));
        }
        match Flag::system(a) {
            Some(f) => Ok((rest, FlagFetch::Flag(f))),
            None => fail(i, "flag"),
        }
    } else {
        let (i, a) = atom(i)?;
        Ok((i, FlagFetch::Flag(Flag::Keyword(a))))
    }
}

/// `flag-perm = flag / "\*"`
pub(crate) fn flag_perm(i: &[u8]) -> PResult<'_, FlagPerm> {
    if i.starts_with(b"\\*") {
        return Ok((&i[2..], FlagPerm::Asterisk));
    }
    if i == b"\\" {
        return incomplete();
    }
    let (i, f) = flag(i)?;
    Ok((i, FlagPerm::Flag(f)))
}

/// `mbx-list-flag = "\" atom`
pub(crate) fn mailbox_attr(i: &[u8]) -> PResult<'_, MailboxAttr> {
    let (i, ()) = byte(i, b'\\', "mailbox attribute")?;
    let (i, a) = atom(i)?;
    Ok((i, MailboxAttr::from_name(a)))
}

/// `"(" [item *(SP item)] ")"`; with `lenient`, extra spaces before `)` are accepted
/// (a server quirk).
#[inline]
pub(crate) fn paren_list<'a, T>(
    i: &'a [u8],
    lenient: bool,
    mut item: impl FnMut(&'a [u8]) -> PResult<'a, T>,
) -> PResult<'a, Vec<T>> {
    let (mut i, ()) = byte(i, b'(', "(")?;
    let mut out = Vec::new();
    if peek(i)? == b')' {
        return Ok((&i[1..], out));
    }
    loop {
        let (rest, v) = item(i)?;
        out.push(v);
        match peek(rest)? {
            b')' => return Ok((&rest[1..], out)),
            b' ' => {
                i = &rest[1..];
                if lenient {
                    while peek(i)? == b' ' {
                        i = &i[1..];
                    }
                    if peek(i)? == b')' {
                        return Ok((&i[1..], out));
                    }
                }
            }
            _ => return fail(rest, "SP or )"),
        }
    }
}

/// Items separated by SP, as long as the next one starts with an octet `starts` accepts.
pub(crate) fn sp_separated<'a, T>(
    mut i: &'a [u8],
    starts: impl Fn(u8) -> bool,
    mut item: impl FnMut(&'a [u8]) -> PResult<'a, T>,
) -> PResult<'a, Vec<T>> {
    let mut out = Vec::new();
    loop {
        if peek(i)? != b' ' {
            return Ok((i, out));
        }
        let next = peek(&i[1..])?;
        if !starts(next) {
            return Ok((i, out));
        }
        let (rest, v) = item(&i[1..])?;
        out.push(v);
        i = rest;
    }
}

fn two_digits(i: &[u8]) -> PResult<'_, u8> {
    match i {
        [a, b, ..] if a.is_ascii_digit() && b.is_ascii_digit() => {
            Ok((&i[2..], (a - b'0') * 10 + (b - b'0')))
        }
        [a] | [a, _] if !a.is_ascii_digit() => fail(i, "2DIGIT"),
        [] | [_] => incomplete(),
        [_, b] if b.is_ascii_digit() => incomplete(),
        _ => fail(i, "2DIGIT"),
    }
}

fn month(i: &[u8]) -> PResult<'_, u8> {
    for (k, m) in MONTHS.iter().enumerate() {
        match keyword(i, m) {
            Ok((rest, ())) => return Ok((rest, k as u8 + 1)),
            Err(Err::Error(_)) => continue,
            Err(e) => {
                // A prefix of this month: others may still match a longer input.
                let _ = e;
                return incomplete();
            }
        }
    }
    fail(i, "month")
}

fn year(i: &[u8]) -> PResult<'_, u16> {
    match i {
        [a, b, c, d, ..] if [a, b, c, d].iter().all(|x| x.is_ascii_digit()) => {
            let y = [a, b, c, d]
                .iter()
                .fold(0u16, |acc, &&x| acc * 10 + u16::from(x - b'0'));
            Ok((&i[4..], y))
        }
        _ if i.len() < 4 && i.iter().all(u8::is_ascii_digit) => incomplete(),
        _ => fail(i, "4DIGIT year"),
    }
}

/// `date-text = date-day "-" date-month "-" date-year`, date-day = 1*2DIGIT.
fn date_text(i: &[u8]) -> PResult<'_, Date> {
    let start = i;
    let (i, day) = match i {
        [a, b'-', ..] if a.is_ascii_digit() => (&i[1..], a - b'0'),
        [a, b, ..] if a.is_ascii_digit() && b.is_ascii_digit() => {
            (&i[2..], (a - b'0') * 10 + (b - b'0'))
        }
        [a] if a.is_ascii_digit() => return incomplete(),
        [] => return incomplete(),
        _ => return fail(i, "date-day"),
    };
    let (i, ()) = byte(i, b'-', "-")?;
    let (i, m) = month(i)?;
    let (i, ()) = byte(i, b'-', "-")?;
    let (i, y) = year(i)?;
    match Date::new(y, m, day) {
        Ok(d) => Ok((i, d)),
        Err(_) => fail(start, "valid date"),
    }
}

/// `date = date-text / DQUOTE date-text DQUOTE`
pub(crate) fn date(i: &[u8]) -> PResult<'_, Date> {
    if peek(i)? == b'"' {
        let (i, d) = date_text(&i[1..])?;
        let (i, ()) = byte(i, b'"', "\"")?;
        Ok((i, d))
    } else {
        date_text(i)
    }
}

/// `date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE`
pub(crate) fn date_time(i: &[u8]) -> PResult<'_, DateTime> {
    let start = i;
    let (i, ()) = byte(i, b'"', "date-time")?;
    let (i, day) = match i {
        [b' ', d, ..] if d.is_ascii_digit() => (&i[2..], d - b'0'),
        [b' '] | [] => return incomplete(),
        _ => two_digits(i)?,
    };
    let (i, ()) = byte(i, b'-', "-")?;
    let (i, m) = month(i)?;
    let (i, ()) = byte(i, b'-', "-")?;
    let (i, y) = year(i)?;
    let (i, ()) = sp(i)?;
    let (i, h) = two_digits(i)?;
    let (i, ()) = byte(i, b':', ":")?;
    let (i, min) = two_digits(i)?;
    let (i, ()) = byte(i, b':', ":")?;
    let (i, s) = two_digits(i)?;
    let (i, ()) = sp(i)?;
    let (i, sign) = match peek(i)? {
        b'+' => (&i[1..], 1i16),
        b'-' => (&i[1..], -1i16),
        _ => return fail(i, "zone"),
    };
    let (i, zh) = two_digits(i)?;
    let (i, zm) = two_digits(i)?;
    let (i, ()) = byte(i, b'"', "\"")?;
    if zm >= 60 {
        return fail(start, "zone minutes below 60");
    }
    let zone = sign * (i16::from(zh) * 60 + i16::from(zm));
    match Date::new(y, m, day).and_then(|d| DateTime::new(d, h, min, s, zone)) {
        Ok(dt) => Ok((i, dt)),
        Err(_) => fail(start, "valid date-time"),
    }
}

/// `charset = atom / quoted` (read as an astring, which includes both).
pub(crate) fn charset(i: &[u8]) -> PResult<'_, AString> {
    astring(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_escapes() {
        assert_eq!(
            quoted(b"\"a\\\"b\\\\c\" ").map(|r| r.1.into_vec()),
            Ok(b"a\"b\\c".to_vec())
        );
        assert!(matches!(quoted(b"\"a\\nb\""), Err(Err::Error(_))));
        assert!(matches!(quoted(b"\"abc"), Err(Err::Incomplete(_))));
        assert!(matches!(quoted(b"\"a\\"), Err(Err::Incomplete(_))));
    }

    #[test]
    fn literals() {
        assert_eq!(literal(b"{3}\r\nabc)", false).map(|r| r.1), Ok(&b"abc"[..]));
        assert!(matches!(
            literal(b"{3}\r\nab", false),
            Err(Err::Incomplete(_))
        ));
        assert!(matches!(
            literal(b"{3+}\r\n", false),
            Err(Err::Failure(PError {
                kind: PErrorKind::NeedLiteral(LiteralAnnouncement {
                    size: 3,
                    mode: LiteralMode::NonSync,
                    binary: false
                }),
                ..
            }))
        ));
        assert!(matches!(literal(b"{1}\r\n\0 ", false), Err(Err::Error(_))));
        assert_eq!(literal(b"~{1}\r\n\0 ", true).map(|r| r.1), Ok(&b"\0"[..]));
    }

    #[test]
    fn dates() {
        let (_, d) = date_time(b"\"17-Jul-1996 02:44:25 -0700\"").unwrap();
        assert_eq!(d.zone_minutes(), -420);
        let (_, d) = date_time(b"\" 1-Feb-2024 00:00:00 +0000\"").unwrap();
        assert_eq!(d.date().day(), 1);
        assert!(date_time(b"\"31-Feb-2024 00:00:00 +0000\"").is_err());
        assert_eq!(date(b"1-Feb-1994 ").map(|r| r.1.month()), Ok(2));
        assert!(matches!(date(b"1-Fe"), Err(Err::Incomplete(_))));
    }

    #[test]
    fn sequence_sets() {
        let (_, s) = sequence_set(b"1:*,5 ").unwrap();
        assert_eq!(s.to_string(), "1:*,5");
        assert!(matches!(sequence_set(b"1:"), Err(Err::Incomplete(_))));
        assert!(matches!(sequence_set(b"0 "), Err(Err::Error(_))));
    }
}
