//! `MAIL` and `RCPT` parameters (RFC 5321 §4.1.2 `esmtp-param`) and the xtext codec
//! (RFC 3461 §4).

use std::borrow::Cow;
use std::fmt;

use crate::proto::ascii::{self, DIGIT, LDH, LET_DIG, VALUE, XCHAR};
use crate::proto::{EnhancedCode, Reply, SyntaxError};

/// `BODY=` (RFC 6152, RFC 3030).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `7BIT`
    SevenBit,
    /// `8BITMIME`
    EightBitMime,
    /// `BINARYMIME` (requires BDAT)
    BinaryMime,
}

impl Body {
    fn as_str(self) -> &'static str {
        match self {
            Self::SevenBit => "7BIT",
            Self::EightBitMime => "8BITMIME",
            Self::BinaryMime => "BINARYMIME",
        }
    }
}

/// `RET=` (RFC 3461 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    /// `FULL`: return the whole message in a DSN.
    Full,
    /// `HDRS`: return the headers only.
    Headers,
}

/// `NOTIFY=` (RFC 3461 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Notify {
    /// `SUCCESS`
    pub success: bool,
    /// `FAILURE`
    pub failure: bool,
    /// `DELAY`
    pub delay: bool,
}

impl Notify {
    /// `NOTIFY=NEVER`
    pub const NEVER: Self = Self {
        success: false,
        failure: false,
        delay: false,
    };

    /// Whether this is `NEVER`.
    pub fn is_never(&self) -> bool {
        *self == Self::NEVER
    }
}

/// A parameter the parser does not know, kept for a policy to decide on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown<'a> {
    /// The keyword, upper-cased.
    pub keyword: Cow<'a, str>,
    /// The value, if `=value` was given.
    pub value: Option<Cow<'a, str>>,
}

impl Unknown<'_> {
    /// The refusal of a parameter the server does not support: `555 5.5.4`
    /// (RFC 5321 §4.1.1.11, RFC 3463 §3.6).
    pub fn refusal(&self) -> Reply {
        Reply::new(
            555,
            Some(EnhancedCode::new(5, 5, 4)),
            &format!("Parameter {} not supported", self.keyword),
        )
    }

    /// The same parameter, owning its text.
    pub fn into_owned(self) -> Unknown<'static> {
        Unknown {
            keyword: owned(self.keyword),
            value: self.value.map(owned),
        }
    }
}

/// `text`, owned.
fn owned(text: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(text.into_owned())
}

/// `k` upper-cased, borrowed when it already is.
fn upper(k: &str) -> Cow<'_, str> {
    if k.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Owned(k.to_ascii_uppercase())
    } else {
        Cow::Borrowed(k)
    }
}

/// Parameters of `MAIL FROM`. The parsers borrow text from the command line
/// (xtext-decoded values are owned only when decoding changed them);
/// [`MailParams::into_owned`] gives a value to keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailParams<'a> {
    /// `SIZE=n` (RFC 1870).
    pub size: Option<u64>,
    /// `BODY=` (RFC 6152 / RFC 3030).
    pub body: Option<Body>,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// `RET=` (RFC 3461).
    pub ret: Option<Ret>,
    /// `ENVID=`, xtext-decoded (RFC 3461).
    pub envid: Option<Cow<'a, str>>,
    /// `AUTH=`, xtext-decoded; `Some(None)` for `AUTH=<>` (RFC 4954 §5).
    pub auth: Option<Option<Cow<'a, str>>>,
    /// `REQUIRETLS` (RFC 8689).
    pub requiretls: bool,
    /// Anything else, in order.
    pub unknown: Vec<Unknown<'a>>,
}

/// Parameters of `RCPT TO`, borrowing from the command line as [`MailParams`] do;
/// [`RcptParams::into_owned`] gives a value to keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RcptParams<'a> {
    /// `NOTIFY=` (RFC 3461).
    pub notify: Option<Notify>,
    /// `ORCPT=addr-type;xtext`, decoded: (address type, original recipient).
    pub orcpt: Option<(Cow<'a, str>, Cow<'a, str>)>,
    /// Anything else, in order.
    pub unknown: Vec<Unknown<'a>>,
}

/// Splits `esmtp-param *(SP esmtp-param)` into (keyword, value) pairs, checking the grammar:
/// `esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")`,
/// `esmtp-value = 1*(%d33-60 / %d62-126)` (UTF-8 too under SMTPUTF8, RFC 6531 §3.3).
fn split_params(s: &str) -> Params<'_> {
    Params { rest: s }
}

/// An iterator over `esmtp-param`s that checks each one's grammar, without allocating.
struct Params<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Params<'a> {
    type Item = Result<(&'a str, Option<&'a str>), SyntaxError>;

    fn next(&mut self) -> Option<Self::Item> {
        // Tolerate repeated spaces between parameters.
        let s = self.rest.trim_start_matches(' ');
        if s.is_empty() {
            self.rest = s;
            return None;
        }
        let end = memchr::memchr(b' ', s.as_bytes()).unwrap_or(s.len());
        let word = &s[..end];
        self.rest = &s[end..];
        let (k, v) = match memchr::memchr(b'=', word.as_bytes()) {
            Some(eq) => (&word[..eq], Some(&word[eq + 1..])),
            None => (word, None),
        };
        let kb = k.as_bytes();
        if kb.is_empty()
            || !kb[0].is_ascii_alphanumeric()
            || !kb.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        {
            return Some(Err(SyntaxError::params("bad parameter keyword")));
        }
        if let Some(v) = v {
            let ok = !v.is_empty()
                && if v.is_ascii() {
                    v.bytes().all(|b| matches!(b, 33..=60 | 62..=126))
                } else {
                    v.chars().all(|c| {
                        matches!(c as u32, 33..=60 | 62..=126) || (!c.is_ascii() && !c.is_control())
                    })
                };
            if !ok {
                return Some(Err(SyntaxError::params("bad parameter value")));
            }
        }
        Some(Ok((k, v)))
    }
}

// The ASCII fast path of `MailParams::parse` and `RcptParams::parse`: one pass over the text.
// A known parameter's value is parsed as it is scanned, by a grammar narrower than
// `esmtp-value` (digits, a word, xtext), and must end at a space or at the end of the text.
// Anything else makes the whole parse `None`, for the general parser to decide.

/// Whether a value ends here: at the end of the text, or at the space before the next parameter.
#[inline(always)]
fn at_value_end(rest: &[u8]) -> bool {
    matches!(rest, [] | [b' ', ..])
}

/// What comes next in the parameters.
enum Next<'a> {
    /// A keyword (`esmtp-keyword`), and what follows it.
    Param(&'a [u8], &'a [u8]),
    /// No more parameters.
    End,
    /// Not a keyword: the general parser must decide.
    Fallback,
}

/// The next keyword, after the spaces before it (repeated spaces are tolerated, as by
/// [`split_params`]).
#[inline(always)]
fn next_keyword(mut s: &[u8]) -> Next<'_> {
    while let [b' ', rest @ ..] = s {
        s = rest;
    }
    match s.first() {
        None => Next::End,
        // esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
        Some(&b) if ascii::is(LET_DIG, b) => {
            let (keyword, rest) = s.split_at(1 + ascii::count(LDH, &s[1..]));
            Next::Param(keyword, rest)
        }
        Some(_) => Next::Fallback,
    }
}

/// Runs `one` on each parameter of `s` (its keyword, and what follows the keyword), which
/// returns what follows the parameter; `None` from `one`, or text that is not a parameter,
/// makes the whole parse `None`.
#[inline(always)]
fn each_param_ascii<'a>(
    mut s: &'a [u8],
    mut one: impl FnMut(&'a [u8], &'a [u8]) -> Option<&'a [u8]>,
) -> Option<()> {
    loop {
        s = match next_keyword(s) {
            Next::Param(k, rest) => one(k, rest)?,
            Next::End => return Some(()),
            Next::Fallback => return None,
        };
    }
}

/// A value that is one word of letters and digits, and what follows it.
#[inline(always)]
fn word_value(v: &[u8]) -> Option<(&[u8], &[u8])> {
    let (word, rest) = v.split_at(ascii::count(LET_DIG, v));
    at_value_end(rest).then_some((word, rest))
}

/// The `MAIL` parameters the fast path knows.
#[derive(Clone, Copy)]
enum MailKey {
    Size,
    Body,
    SmtpUtf8,
    RequireTls,
    Ret,
    EnvId,
    Auth,
}

impl MailKey {
    /// Told apart by length and first letter, then compared in full.
    #[inline(always)]
    fn of(k: &[u8]) -> Option<Self> {
        let (key, name): (_, &[u8]) = match (k.len(), k.first()? | 0x20) {
            (4, b's') => (Self::Size, b"SIZE"),
            (4, b'b') => (Self::Body, b"BODY"),
            (4, b'a') => (Self::Auth, b"AUTH"),
            (8, b's') => (Self::SmtpUtf8, b"SMTPUTF8"),
            (10, b'r') => (Self::RequireTls, b"REQUIRETLS"),
            (3, b'r') => (Self::Ret, b"RET"),
            (5, b'e') => (Self::EnvId, b"ENVID"),
            _ => return None,
        };
        ascii::is_word(k, name).then_some(key)
    }
}

/// The `RCPT` parameters the fast path knows.
#[derive(Clone, Copy)]
enum RcptKey {
    Notify,
    Orcpt,
}

impl RcptKey {
    /// Told apart by length and first letter, then compared in full.
    #[inline(always)]
    fn of(k: &[u8]) -> Option<Self> {
        let (key, name): (_, &[u8]) = match (k.len(), k.first()? | 0x20) {
            (6, b'n') => (Self::Notify, b"NOTIFY"),
            (5, b'o') => (Self::Orcpt, b"ORCPT"),
            _ => return None,
        };
        ascii::is_word(k, name).then_some(key)
    }
}

/// The fast path of [`xtext_decode`], for ASCII xtext that decodes to ASCII; `None` for
/// anything else. Borrowed when there is nothing to decode.
#[inline(always)]
fn xtext_decode_ascii(v: &str) -> Option<Cow<'_, str>> {
    let run = ascii::count(XCHAR, v.as_bytes());
    if run == v.len() {
        return Some(Cow::Borrowed(v));
    }
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    loop {
        let run = ascii::count(XCHAR, rest.as_bytes());
        out.push_str(rest.get(..run)?);
        rest = match rest.as_bytes()[run..] {
            [] => return Some(Cow::Owned(out)),
            [b'+', hi, lo, ..] => {
                let c = hex_digit(hi)? << 4 | hex_digit(lo)?;
                if !c.is_ascii() {
                    return None;
                }
                out.push(char::from(c));
                rest.get(run + 3..)?
            }
            _ => return None,
        };
    }
}

/// An xtext `hexchar` digit: `0-9` or upper-case `A-F`.
#[inline]
fn hex_digit(h: u8) -> Option<u8> {
    match h {
        b'0'..=b'9' => Some(h - b'0'),
        b'A'..=b'F' => Some(h - b'A' + 10),
        _ => None,
    }
}

/// A non-empty xtext value, decoded, and what follows it.
#[inline]
fn xtext_value(v: &[u8]) -> Option<(Cow<'_, str>, &[u8])> {
    let (x, rest) = v.split_at(ascii::count(VALUE, v));
    if x.is_empty() || !at_value_end(rest) {
        return None;
    }
    Some((xtext_decode_ascii(std::str::from_utf8(x).ok()?)?, rest))
}

/// The value of `NOTIFY=`, and what follows it.
#[inline(always)]
fn notify_value(v: &[u8]) -> Option<(Notify, &[u8])> {
    let mut n = Notify::default();
    let mut rest = v;
    loop {
        let (w, after) = rest.split_at(ascii::count(LET_DIG, rest));
        match (w.len(), w.first()? | 0x20) {
            (7, b's') if ascii::is_word(w, b"SUCCESS") => n.success = true,
            (7, b'f') if ascii::is_word(w, b"FAILURE") => n.failure = true,
            (5, b'd') if ascii::is_word(w, b"DELAY") => n.delay = true,
            // NEVER stands alone.
            (5, b'n')
                if rest.len() == v.len() && at_value_end(after) && ascii::is_word(w, b"NEVER") => {}
            _ => return None,
        }
        match after {
            [b',', more @ ..] => rest = more,
            _ if at_value_end(after) => return Some((n, after)),
            _ => return None,
        }
    }
}

/// The value of `ORCPT=`, `addr-type ";" xtext`, decoded, and what follows it.
#[inline(always)]
#[allow(clippy::type_complexity)]
fn orcpt_value(v: &[u8]) -> Option<((Cow<'_, str>, Cow<'_, str>), &[u8])> {
    let ty = ascii::count(LDH, v);
    let [b';', x @ ..] = &v[ty..] else {
        return None;
    };
    let (x, rest) = x.split_at(ascii::count(VALUE, x));
    if ty == 0 || !at_value_end(rest) {
        return None;
    }
    // One UTF-8 check for both parts.
    let text = std::str::from_utf8(&v[..ty + 1 + x.len()]).ok()?;
    let (ty, x) = (text.get(..ty)?, text.get(ty + 1..)?);
    Some(((Cow::Borrowed(ty), xtext_decode_ascii(x)?), rest))
}

/// An unknown parameter, and what follows it; `rest` follows its keyword `k`.
#[inline]
fn unknown_param<'a>(k: &'a [u8], rest: &'a [u8]) -> Option<(Unknown<'a>, &'a [u8])> {
    let (value, rest) = match rest {
        [b'=', v @ ..] => {
            let (value, rest) = v.split_at(ascii::count(VALUE, v));
            if value.is_empty() {
                return None;
            }
            (Some(value), rest)
        }
        _ => (None, rest),
    };
    if !at_value_end(rest) {
        return None;
    }
    let unknown = Unknown {
        keyword: upper(ascii::to_str(k)?),
        value: match value {
            Some(v) => Some(Cow::Borrowed(ascii::to_str(v)?)),
            None => None,
        },
    };
    Some((unknown, rest))
}

/// A parameter keyword upper-cased on the stack (known keywords are short; longer ones are
/// kept as an impossible value and end up as unknown parameters).
struct Keyword {
    buf: [u8; 12],
    len: usize,
}

impl Keyword {
    fn new(k: &str) -> Self {
        let mut buf = [0u8; 12];
        if k.len() > buf.len() {
            return Self { buf, len: 0 };
        }
        for (d, s) in buf.iter_mut().zip(k.bytes()) {
            *d = s.to_ascii_uppercase();
        }
        Self { buf, len: k.len() }
    }

    fn as_str(&self) -> &str {
        // Keywords are checked to be ASCII alphanumerics and '-' by `split_params`.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

fn once<T>(slot: &Option<T>, keyword: &str) -> Result<(), SyntaxError> {
    if slot.is_some() {
        return Err(SyntaxError::params(&format!(
            "duplicate {keyword} parameter"
        )));
    }
    Ok(())
}

impl<'a> MailParams<'a> {
    /// Parses the text after the reverse path, borrowing it.
    pub fn parse(s: &'a str) -> Result<Self, SyntaxError> {
        let mut p = Self::default();
        for param in split_params(s) {
            let (k, v) = param?;
            let key = Keyword::new(k);
            match (key.as_str(), v) {
                ("SIZE", Some(v)) => {
                    once(&p.size, "SIZE")?;
                    if !v.bytes().all(|b| b.is_ascii_digit()) || v.len() > 20 {
                        return Err(SyntaxError::params("SIZE must be a number"));
                    }
                    p.size = Some(
                        v.parse()
                            .map_err(|_| SyntaxError::params("SIZE too large"))?,
                    );
                }
                ("BODY", Some(v)) => {
                    once(&p.body, "BODY")?;
                    p.body = Some(match v.to_ascii_uppercase().as_str() {
                        "7BIT" => Body::SevenBit,
                        "8BITMIME" => Body::EightBitMime,
                        "BINARYMIME" => Body::BinaryMime,
                        _ => {
                            return Err(SyntaxError::params(
                                "BODY must be 7BIT, 8BITMIME or BINARYMIME",
                            ));
                        }
                    });
                }
                ("SMTPUTF8", None) => p.smtputf8 = true,
                ("REQUIRETLS", None) => p.requiretls = true,
                ("RET", Some(v)) => {
                    once(&p.ret, "RET")?;
                    p.ret = Some(match v.to_ascii_uppercase().as_str() {
                        "FULL" => Ret::Full,
                        "HDRS" => Ret::Headers,
                        _ => return Err(SyntaxError::params("RET must be FULL or HDRS")),
                    });
                }
                ("ENVID", Some(v)) => {
                    once(&p.envid, "ENVID")?;
                    let id = xtext_decode(v)?;
                    if id.len() > 100 {
                        return Err(SyntaxError::params("ENVID longer than 100 characters"));
                    }
                    p.envid = Some(id);
                }
                ("AUTH", Some(v)) => {
                    once(&p.auth, "AUTH")?;
                    p.auth = Some(if v == "<>" {
                        None
                    } else {
                        Some(xtext_decode(v)?)
                    });
                }
                ("SIZE" | "BODY" | "RET" | "ENVID" | "AUTH", None) => {
                    return Err(SyntaxError::params(&format!(
                        "{} needs a value",
                        key.as_str()
                    )));
                }
                ("SMTPUTF8" | "REQUIRETLS", Some(_)) => {
                    return Err(SyntaxError::params(&format!(
                        "{} takes no value",
                        key.as_str()
                    )));
                }
                _ => p.unknown.push(Unknown {
                    keyword: upper(k),
                    value: v.map(Cow::Borrowed),
                }),
            }
        }
        Ok(p)
    }

    /// The fast path of [`MailParams::parse`] for ASCII text, filling `p` (a default value) in
    /// place: `None` for anything the general parser must decide (errors included); otherwise
    /// the same result. (In place: the struct is large, and moving it costs more than parsing.)
    #[inline(always)]
    pub(crate) fn parse_ascii(p: &mut Self, s: &'a [u8]) -> Option<()> {
        each_param_ascii(s, |k, rest| {
            Some(match (MailKey::of(k), rest) {
                (Some(MailKey::Size), [b'=', v @ ..]) if p.size.is_none() => {
                    let (digits, rest) = v.split_at(ascii::count(DIGIT, v));
                    if !at_value_end(rest) {
                        return None;
                    }
                    p.size = Some(ascii::decimal(digits)?);
                    rest
                }
                (Some(MailKey::Body), [b'=', v @ ..]) if p.body.is_none() => {
                    let (w, rest) = word_value(v)?;
                    p.body = Some(if ascii::is_word(w, b"8BITMIME") {
                        Body::EightBitMime
                    } else if ascii::is_word(w, b"7BIT") {
                        Body::SevenBit
                    } else if ascii::is_word(w, b"BINARYMIME") {
                        Body::BinaryMime
                    } else {
                        return None;
                    });
                    rest
                }
                (Some(MailKey::SmtpUtf8), rest) if at_value_end(rest) => {
                    p.smtputf8 = true;
                    rest
                }
                (Some(MailKey::RequireTls), rest) if at_value_end(rest) => {
                    p.requiretls = true;
                    rest
                }
                (Some(MailKey::Ret), [b'=', v @ ..]) if p.ret.is_none() => {
                    let (w, rest) = word_value(v)?;
                    p.ret = Some(if ascii::is_word(w, b"FULL") {
                        Ret::Full
                    } else if ascii::is_word(w, b"HDRS") {
                        Ret::Headers
                    } else {
                        return None;
                    });
                    rest
                }
                (Some(MailKey::EnvId), [b'=', v @ ..]) if p.envid.is_none() => {
                    let (id, rest) = xtext_value(v)?;
                    if id.len() > 100 {
                        return None;
                    }
                    p.envid = Some(id);
                    rest
                }
                (Some(MailKey::Auth), [b'=', v @ ..]) if p.auth.is_none() => {
                    match v.strip_prefix(b"<>").filter(|rest| at_value_end(rest)) {
                        Some(rest) => {
                            p.auth = Some(None);
                            rest
                        }
                        None => {
                            let (auth, rest) = xtext_value(v)?;
                            p.auth = Some(Some(auth));
                            rest
                        }
                    }
                }
                // A known keyword repeated, or with a value where it takes none or the reverse.
                (Some(_), _) => return None,
                (None, rest) => {
                    let (unknown, rest) = unknown_param(k, rest)?;
                    p.unknown.push(unknown);
                    rest
                }
            })
        })
    }

    /// Whether no parameter is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `Err` with the refusal of the first parameter the parser does not know
    /// ([`Unknown::refusal`]), `Ok` when there is none.
    pub fn refuse_unknown(&self) -> Result<(), Reply> {
        self.unknown.first().map_or(Ok(()), |u| Err(u.refusal()))
    }

    /// The same parameters, owning their text.
    pub fn into_owned(self) -> MailParams<'static> {
        MailParams {
            size: self.size,
            body: self.body,
            smtputf8: self.smtputf8,
            ret: self.ret,
            envid: self.envid.map(owned),
            auth: self.auth.map(|a| a.map(owned)),
            requiretls: self.requiretls,
            unknown: self.unknown.into_iter().map(Unknown::into_owned).collect(),
        }
    }
}

impl fmt::Display for MailParams<'_> {
    /// The parameters in wire form, each preceded by a space.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = self.size {
            write!(f, " SIZE={n}")?;
        }
        if let Some(b) = self.body {
            write!(f, " BODY={}", b.as_str())?;
        }
        if self.smtputf8 {
            f.write_str(" SMTPUTF8")?;
        }
        if let Some(r) = self.ret {
            f.write_str(match r {
                Ret::Full => " RET=FULL",
                Ret::Headers => " RET=HDRS",
            })?;
        }
        if let Some(e) = &self.envid {
            write!(f, " ENVID={}", xtext_encode(e))?;
        }
        match &self.auth {
            // An identity that is literally `<>` is written `<+3E` so that it does not read
            // back as "no identity" (RFC 4954 §5's `AUTH=<>`).
            Some(Some(a)) if a == "<>" => f.write_str(" AUTH=<+3E")?,
            Some(Some(a)) => write!(f, " AUTH={}", xtext_encode(a))?,
            Some(None) => f.write_str(" AUTH=<>")?,
            None => {}
        }
        if self.requiretls {
            f.write_str(" REQUIRETLS")?;
        }
        write_unknown(f, &self.unknown)
    }
}

fn write_unknown(f: &mut fmt::Formatter<'_>, unknown: &[Unknown<'_>]) -> fmt::Result {
    for u in unknown {
        match &u.value {
            Some(v) => write!(f, " {}={v}", u.keyword)?,
            None => write!(f, " {}", u.keyword)?,
        }
    }
    Ok(())
}

impl<'a> RcptParams<'a> {
    /// Parses the text after the forward path, borrowing it.
    pub fn parse(s: &'a str) -> Result<Self, SyntaxError> {
        let mut p = Self::default();
        for param in split_params(s) {
            let (k, v) = param?;
            let key = Keyword::new(k);
            match (key.as_str(), v) {
                ("NOTIFY", Some(v)) => {
                    once(&p.notify, "NOTIFY")?;
                    let mut n = Notify::default();
                    let mut never = false;
                    let mut words = 0;
                    for w in v.split(',') {
                        words += 1;
                        if w.eq_ignore_ascii_case("NEVER") {
                            never = true;
                        } else if w.eq_ignore_ascii_case("SUCCESS") {
                            n.success = true;
                        } else if w.eq_ignore_ascii_case("FAILURE") {
                            n.failure = true;
                        } else if w.eq_ignore_ascii_case("DELAY") {
                            n.delay = true;
                        } else {
                            return Err(SyntaxError::params("bad NOTIFY value"));
                        }
                    }
                    if never && words != 1 {
                        return Err(SyntaxError::params("NOTIFY=NEVER stands alone"));
                    }
                    p.notify = Some(n);
                }
                ("ORCPT", Some(v)) => {
                    once(&p.orcpt, "ORCPT")?;
                    let Some((ty, addr)) = v.split_once(';') else {
                        return Err(SyntaxError::params("ORCPT needs addr-type;address"));
                    };
                    if ty.is_empty() || !ty.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    {
                        return Err(SyntaxError::params("bad ORCPT address type"));
                    }
                    p.orcpt = Some((Cow::Borrowed(ty), xtext_decode(addr)?));
                }
                ("NOTIFY" | "ORCPT", None) => {
                    return Err(SyntaxError::params(&format!(
                        "{} needs a value",
                        key.as_str()
                    )));
                }
                _ => p.unknown.push(Unknown {
                    keyword: upper(k),
                    value: v.map(Cow::Borrowed),
                }),
            }
        }
        Ok(p)
    }

    /// The fast path of [`RcptParams::parse`] for ASCII text, filling `p` (a default value) in
    /// place: `None` for anything the general parser must decide (errors included); otherwise
    /// the same result. (In place: the struct is large, and moving it costs more than parsing.)
    #[inline(always)]
    pub(crate) fn parse_ascii(p: &mut Self, s: &'a [u8]) -> Option<()> {
        each_param_ascii(s, |k, rest| {
            Some(match (RcptKey::of(k), rest) {
                (Some(RcptKey::Notify), [b'=', v @ ..]) if p.notify.is_none() => {
                    let (notify, rest) = notify_value(v)?;
                    p.notify = Some(notify);
                    rest
                }
                (Some(RcptKey::Orcpt), [b'=', v @ ..]) if p.orcpt.is_none() => {
                    let (orcpt, rest) = orcpt_value(v)?;
                    p.orcpt = Some(orcpt);
                    rest
                }
                // A known keyword repeated, or without its value.
                (Some(_), _) => return None,
                (None, rest) => {
                    let (unknown, rest) = unknown_param(k, rest)?;
                    p.unknown.push(unknown);
                    rest
                }
            })
        })
    }

    /// Whether no parameter is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `Err` with the refusal of the first parameter the parser does not know
    /// ([`Unknown::refusal`]), `Ok` when there is none.
    pub fn refuse_unknown(&self) -> Result<(), Reply> {
        self.unknown.first().map_or(Ok(()), |u| Err(u.refusal()))
    }

    /// The same parameters, owning their text.
    pub fn into_owned(self) -> RcptParams<'static> {
        RcptParams {
            notify: self.notify,
            orcpt: self.orcpt.map(|(ty, addr)| (owned(ty), owned(addr))),
            unknown: self.unknown.into_iter().map(Unknown::into_owned).collect(),
        }
    }
}

impl fmt::Display for RcptParams<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = self.notify {
            if n.is_never() {
                f.write_str(" NOTIFY=NEVER")?;
            } else {
                let words: Vec<&str> = [
                    (n.success, "SUCCESS"),
                    (n.failure, "FAILURE"),
                    (n.delay, "DELAY"),
                ]
                .into_iter()
                .filter_map(|(on, w)| on.then_some(w))
                .collect();
                write!(f, " NOTIFY={}", words.join(","))?;
            }
        }
        if let Some((ty, addr)) = &self.orcpt {
            write!(f, " ORCPT={ty};{}", xtext_encode(addr))?;
        }
        write_unknown(f, &self.unknown)
    }
}

/// Decodes xtext (RFC 3461 §4): `xchar` as is, `+XX` (upper-case hex) for the others.
/// Borrows `s` when it holds no `+XX`.
pub fn xtext_decode(s: &str) -> Result<Cow<'_, str>, SyntaxError> {
    let b = s.as_bytes();
    if !b.contains(&b'+') {
        // UTF-8 is allowed under SMTPUTF8 (RFC 6533 utf-8-addr-xtext); `s` is text already.
        return if b
            .iter()
            .all(|&c| c >= 0x80 || (c != b'=' && (33..=126).contains(&c)))
        {
            Ok(Cow::Borrowed(s))
        } else {
            Err(SyntaxError::params("bad xtext character"))
        };
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .ok_or_else(|| SyntaxError::params("bad xtext"))?;
                let digit = |h: u8| match h {
                    b'0'..=b'9' => Some(h - b'0'),
                    b'A'..=b'F' => Some(h - b'A' + 10),
                    _ => None,
                };
                match (digit(hex[0]), digit(hex[1])) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => return Err(SyntaxError::params("bad xtext hexchar")),
                }
                i += 3;
            }
            c @ 33..=126 if c != b'=' => {
                out.push(c);
                i += 1;
            }
            // UTF-8 is allowed in parameter values under SMTPUTF8 (RFC 6533 utf-8-addr-xtext).
            c if c >= 0x80 => {
                out.push(c);
                i += 1;
            }
            _ => return Err(SyntaxError::params("bad xtext character")),
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| SyntaxError::params("xtext is not UTF-8"))
}

/// Encodes xtext: `+`, `=` and anything outside `!`..`~` become `+XX`.
pub fn xtext_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xtext() {
        assert_eq!(xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(xtext_decode("a+2Bb+3Dc+20d").unwrap(), "a+b=c d");
        assert!(xtext_decode("a+2").is_err());
        assert!(xtext_decode("a+zz").is_err());
        assert!(xtext_decode("a+2b").is_err(), "lower-case hex is not xtext");
    }

    #[test]
    fn mail_params() {
        let p = MailParams::parse(
            "SIZE=1000 BODY=8bitmime SMTPUTF8 RET=HDRS ENVID=QQ+2B AUTH=<> X-FOO=bar X-FLAG",
        )
        .unwrap();
        assert_eq!(p.size, Some(1000));
        assert_eq!(p.body, Some(Body::EightBitMime));
        assert!(p.smtputf8);
        assert_eq!(p.ret, Some(Ret::Headers));
        assert_eq!(p.envid.as_deref(), Some("QQ+"));
        assert_eq!(p.auth, Some(None));
        assert_eq!(p.unknown.len(), 2);
        assert_eq!(MailParams::parse(&p.to_string()).unwrap(), p);
        assert!(MailParams::parse("SIZE=abc").is_err());
        assert!(MailParams::parse("SIZE=1 SIZE=2").is_err());
        assert!(MailParams::parse("SIZE=99999999999999999999999").is_err());
        assert!(MailParams::parse("BODY=9BIT").is_err());
        assert!(MailParams::parse("=x").is_err());
        assert!(MailParams::parse("-X=1").is_err());
        assert!(MailParams::parse("SMTPUTF8=yes").is_err());
    }

    #[test]
    fn rcpt_params() {
        let p = RcptParams::parse("NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+40b").unwrap();
        assert_eq!(
            p.notify,
            Some(Notify {
                success: true,
                failure: true,
                delay: false
            })
        );
        assert_eq!(p.orcpt, Some(("rfc822".into(), "a@b".into())));
        assert_eq!(RcptParams::parse(&p.to_string()).unwrap(), p);
        assert!(RcptParams::parse("NOTIFY=NEVER,SUCCESS").is_err());
        assert!(RcptParams::parse("NOTIFY=SOMETIMES").is_err());
        assert_eq!(
            RcptParams::parse("NOTIFY=never").unwrap().notify,
            Some(Notify::NEVER)
        );
    }
}
