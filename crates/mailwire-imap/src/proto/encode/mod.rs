//! The encoder: writes values as fragments — lines, and literals that may have to wait for a
//! continuation request — choosing an atom, a quoted string or a literal for each string from
//! its content.

mod command;
mod response;
pub(crate) use response::{binary_prefix, body_section_prefix};

use std::num::NonZeroU32;

use mailwire_codec::LiteralMode;

use crate::proto::types::core::{AString, C_ASTRING, C_ATOM, C_QUOTED, IString, NString, all, is};
use crate::proto::types::datetime::{Date, DateTime, MONTHS};
use crate::proto::types::flag::{Flag, FlagFetch, FlagPerm, MailboxAttr};
use crate::proto::types::mailbox::{ListMailbox, Mailbox};
use crate::proto::types::sequence::{SeqNum, SeqRange, SequenceSet};

/// Longest string sent quoted; longer ones go as literals (a peer's line limit is typically
/// 8 KiB or more, so short strings never endanger it).
const MAX_QUOTED: usize = 1024;

/// What the peer allows the encoder to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EncodeOptions {
    /// `LITERAL+` (RFC 7888) was announced: every literal a client sends is non-synchronising.
    pub literal_plus: bool,
    /// `LITERAL-` (RFC 7888) was announced: literals up to 4096 octets are non-synchronising.
    pub literal_minus: bool,
    /// UTF-8 is allowed in quoted strings (IMAP4rev2, or after `ENABLE UTF8=ACCEPT`).
    /// Otherwise strings with octets above 0x7F are sent as literals.
    pub utf8: bool,
}

/// One piece of an encoded message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fragment<'a> {
    /// Octets to send now: a whole line, or the start of one up to and including a literal
    /// announcement `{n}` `CRLF`.
    Line(&'a [u8]),
    /// The octets of a literal. A client sends a [`LiteralMode::Sync`] literal only after the
    /// server's `+`; a server never waits.
    Literal {
        /// The octets.
        data: &'a [u8],
        /// Whether the sender must wait for a continuation request first.
        mode: LiteralMode,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    end: usize,
    literal: Option<LiteralMode>,
}

/// An encoded message: its fragments in order. [`Encoded::as_bytes`] is the whole wire form
/// (what a server writes at once, or a client with no synchronising literal).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Encoded {
    buf: Vec<u8>,
    spans: Vec<Span>,
}

impl Encoded {
    /// The fragments in order.
    pub fn fragments(&self) -> impl Iterator<Item = Fragment<'_>> {
        let mut start = 0;
        self.spans.iter().map(move |s| {
            let data = &self.buf[start..s.end];
            start = s.end;
            match s.literal {
                None => Fragment::Line(data),
                Some(mode) => Fragment::Literal { data, mode },
            }
        })
    }

    /// Whether a fragment must wait for a continuation request (a client's sync literal).
    pub fn has_sync_literal(&self) -> bool {
        self.spans
            .iter()
            .any(|s| s.literal == Some(LiteralMode::Sync))
    }

    /// The whole message as sent on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The whole message as sent on the wire.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// The octet offsets where each fragment ends.
    pub(crate) fn boundaries(&self) -> impl Iterator<Item = (usize, Option<LiteralMode>)> + '_ {
        self.spans.iter().map(|s| (s.end, s.literal))
    }
}

/// The writer behind every `encode` function.
pub(crate) struct Enc {
    pub(crate) buf: Vec<u8>,
    spans: Vec<Span>,
    opts: EncodeOptions,
    /// A server's literals never wait and never use `+`.
    server: bool,
}

impl Enc {
    pub(crate) fn new(opts: EncodeOptions, server: bool) -> Self {
        Self {
            buf: Vec::with_capacity(64),
            spans: Vec::new(),
            opts,
            server,
        }
    }

    pub(crate) fn finish(mut self) -> Encoded {
        if self.spans.last().map_or(0, |s| s.end) < self.buf.len() || self.spans.is_empty() {
            self.spans.push(Span {
                end: self.buf.len(),
                literal: None,
            });
        }
        Encoded {
            buf: self.buf,
            spans: self.spans,
        }
    }

    #[inline]
    pub(crate) fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    #[inline]
    pub(crate) fn byte(&mut self, b: u8) {
        self.buf.push(b);
    }

    #[inline]
    pub(crate) fn sp(&mut self) {
        self.buf.push(b' ');
    }

    pub(crate) fn crlf(&mut self) {
        self.buf.extend_from_slice(b"\r\n");
    }

    pub(crate) fn num(&mut self, n: u64) {
        write_num(&mut self.buf, n);
    }

    pub(crate) fn nz(&mut self, n: NonZeroU32) {
        self.num(u64::from(n.get()));
    }

    /// `literal` or `literal8`.
    pub(crate) fn literal(&mut self, data: &[u8], binary: bool) {
        let mode = if self.server {
            LiteralMode::Sync
        } else if self.opts.literal_plus || (self.opts.literal_minus && data.len() <= 4096) {
            LiteralMode::NonSync
        } else {
            LiteralMode::Sync
        };
        if binary {
            self.byte(b'~');
        }
        self.byte(b'{');
        self.num(data.len() as u64);
        if mode == LiteralMode::NonSync && !self.server {
            self.byte(b'+');
        }
        self.raw(b"}\r\n");
        self.spans.push(Span {
            end: self.buf.len(),
            literal: None,
        });
        self.raw(data);
        self.spans.push(Span {
            end: self.buf.len(),
            literal: Some(mode),
        });
    }

    fn quotable(&self, data: &[u8]) -> bool {
        data.len() <= MAX_QUOTED
            && data
                .iter()
                .all(|&b| (b < 0x80 || self.opts.utf8) && b != 0 && b != b'\r' && b != b'\n')
    }

    fn quoted(&mut self, data: &[u8]) {
        self.byte(b'"');
        if all(data, C_QUOTED) {
            self.raw(data);
        } else {
            for &b in data {
                if b == b'"' || b == b'\\' {
                    self.byte(b'\\');
                }
                self.byte(b);
            }
        }
        self.byte(b'"');
    }

    /// `string`: quoted when it can be, a literal otherwise.
    pub(crate) fn string(&mut self, data: &[u8]) {
        if self.quotable(data) {
            self.quoted(data);
        } else {
            self.literal(data, false);
        }
    }

    pub(crate) fn istring(&mut self, s: &IString) {
        self.string(s.as_bytes());
    }

    /// `astring`: an atom when it can be, else a string.
    pub(crate) fn astring_bytes(&mut self, data: &[u8]) {
        if !data.is_empty() && all(data, C_ASTRING) {
            self.raw(data);
        } else {
            self.string(data);
        }
    }

    pub(crate) fn astring(&mut self, s: &AString) {
        self.astring_bytes(s.as_bytes());
    }

    /// `atom / quoted` (charsets).
    pub(crate) fn atom_or_string(&mut self, data: &[u8]) {
        if !data.is_empty() && all(data, C_ATOM) {
            self.raw(data);
        } else {
            self.string(data);
        }
    }

    pub(crate) fn nstring(&mut self, s: &NString) {
        match s {
            Some(s) => self.istring(s),
            None => self.raw(b"NIL"),
        }
    }

    pub(crate) fn mailbox(&mut self, m: &Mailbox) {
        match m {
            Mailbox::Inbox => self.raw(b"INBOX"),
            Mailbox::Other(o) => self.astring_bytes(o.as_bytes()),
        }
    }

    pub(crate) fn list_mailbox(&mut self, m: &ListMailbox) {
        if m.is_bare() {
            self.raw(m.as_bytes());
        } else {
            self.string(m.as_bytes());
        }
    }

    pub(crate) fn seq_set(&mut self, s: &SequenceSet) {
        write_seq_set(&mut self.buf, s);
    }

    pub(crate) fn flag(&mut self, f: &Flag) {
        match f {
            Flag::Answered => self.raw(b"\\Answered"),
            Flag::Flagged => self.raw(b"\\Flagged"),
            Flag::Deleted => self.raw(b"\\Deleted"),
            Flag::Seen => self.raw(b"\\Seen"),
            Flag::Draft => self.raw(b"\\Draft"),
            Flag::Keyword(a) => self.raw(a.as_bytes()),
            Flag::Extension(a) => {
                self.byte(b'\\');
                self.raw(a.as_bytes());
            }
        }
    }

    pub(crate) fn flag_fetch(&mut self, f: &FlagFetch) {
        match f {
            FlagFetch::Flag(f) => self.flag(f),
            FlagFetch::Recent => self.raw(b"\\Recent"),
        }
    }

    pub(crate) fn flag_perm(&mut self, f: &FlagPerm) {
        match f {
            FlagPerm::Flag(f) => self.flag(f),
            FlagPerm::Asterisk => self.raw(b"\\*"),
        }
    }

    pub(crate) fn mailbox_attr(&mut self, a: &MailboxAttr) {
        self.byte(b'\\');
        self.raw(a.name().as_bytes());
    }

    /// `"(" item *(SP item) ")"`
    pub(crate) fn list<T>(&mut self, items: &[T], mut f: impl FnMut(&mut Self, &T)) {
        self.byte(b'(');
        self.join(items, &mut f);
        self.byte(b')');
    }

    /// `item *(SP item)`
    pub(crate) fn join<T>(&mut self, items: &[T], mut f: impl FnMut(&mut Self, &T)) {
        for (k, item) in items.iter().enumerate() {
            if k > 0 {
                self.sp();
            }
            f(self, item);
        }
    }

    pub(crate) fn date(&mut self, d: &Date) {
        self.num(u64::from(d.day()));
        self.byte(b'-');
        self.raw(MONTHS[usize::from(d.month() - 1)].as_bytes());
        self.byte(b'-');
        self.pad(u64::from(d.year()), 4);
    }

    pub(crate) fn date_time(&mut self, dt: &DateTime) {
        let d = dt.date();
        self.byte(b'"');
        self.pad(u64::from(d.day()), 2);
        self.byte(b'-');
        self.raw(MONTHS[usize::from(d.month() - 1)].as_bytes());
        self.byte(b'-');
        self.pad(u64::from(d.year()), 4);
        self.sp();
        let (h, m, s) = dt.time();
        self.pad(u64::from(h), 2);
        self.byte(b':');
        self.pad(u64::from(m), 2);
        self.byte(b':');
        self.pad(u64::from(s), 2);
        self.sp();
        let z = dt.zone_minutes();
        self.byte(if z < 0 { b'-' } else { b'+' });
        let z = u64::from(z.unsigned_abs());
        self.pad(z / 60, 2);
        self.pad(z % 60, 2);
        self.byte(b'"');
    }

    fn pad(&mut self, n: u64, width: usize) {
        let mut tmp = Vec::with_capacity(20);
        write_num(&mut tmp, n);
        for _ in tmp.len()..width {
            self.byte(b'0');
        }
        self.raw(&tmp);
    }

    /// `Text`-like octets that need no quoting (validated on construction).
    pub(crate) fn text(&mut self, t: &[u8]) {
        debug_assert!(t.iter().all(|&b| is(b, crate::proto::types::core::C_TEXT)));
        self.raw(t);
    }
}

/// Writes a decimal number.
pub(crate) fn write_num(out: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut k = tmp.len();
    loop {
        k -= 1;
        tmp[k] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[k..]);
}

/// Writes a sequence set.
pub(crate) fn write_seq_set(out: &mut Vec<u8>, s: &SequenceSet) {
    let one = |out: &mut Vec<u8>, n: &SeqNum| match n {
        SeqNum::Value(v) => write_num(out, u64::from(v.get())),
        SeqNum::Largest => out.push(b'*'),
    };
    match s {
        SequenceSet::Saved => out.push(b'$'),
        SequenceSet::Set(ranges) => {
            for (k, r) in ranges.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                match r {
                    SeqRange::Single(n) => one(out, n),
                    SeqRange::Range(a, b) => {
                        one(out, a);
                        out.push(b':');
                        one(out, b);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_pick_their_form() {
        let mut e = Enc::new(EncodeOptions::default(), false);
        e.astring_bytes(b"INBOX.a]");
        e.sp();
        e.astring_bytes(b"two words");
        e.sp();
        e.astring_bytes(b"");
        e.sp();
        e.astring_bytes("caf\u{e9}".as_bytes());
        e.sp();
        e.astring_bytes(b"q\"b\\");
        let enc = e.finish();
        let frags: Vec<_> = enc.fragments().collect();
        assert_eq!(
            frags,
            [
                Fragment::Line(b"INBOX.a] \"two words\" \"\" {5}\r\n"),
                Fragment::Literal {
                    data: "caf\u{e9}".as_bytes(),
                    mode: LiteralMode::Sync
                },
                Fragment::Line(b" \"q\\\"b\\\\\""),
            ]
        );
    }

    #[test]
    fn literal_plus_and_minus() {
        let big = vec![b'\n'; 5000];
        for (opts, small, large) in [
            (EncodeOptions::default(), "{1}", "{5000}"),
            (
                EncodeOptions {
                    literal_plus: true,
                    ..Default::default()
                },
                "{1+}",
                "{5000+}",
            ),
            (
                EncodeOptions {
                    literal_minus: true,
                    ..Default::default()
                },
                "{1+}",
                "{5000}",
            ),
        ] {
            let mut e = Enc::new(opts, false);
            e.string(b"\n");
            e.string(&big);
            let wire = e.finish().into_bytes();
            let s = String::from_utf8_lossy(&wire);
            assert!(s.starts_with(small), "{s}");
            assert!(s.contains(large), "{opts:?}");
        }
        let mut e = Enc::new(
            EncodeOptions {
                literal_plus: true,
                ..Default::default()
            },
            true,
        );
        e.string(b"\n");
        assert!(
            e.finish().as_bytes().starts_with(b"{1}\r\n"),
            "servers never send {{n+}}"
        );
    }
}
