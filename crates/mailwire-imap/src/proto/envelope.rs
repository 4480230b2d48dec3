//! ENVELOPE from a message header (RFC 9051 §7.5.2 / RFC 3501 §7.4.2, `FETCH ENVELOPE`), and
//! the `HEADER.FIELDS` selection (RFC 9051 §6.4.5): the IMAP-shaped views of a header that a
//! server makes from the fields its store hands out (`mailwire_store::MimePart::fields`).
//!
//! Values are kept as sent: RFC 2047 encoded-words are **not** decoded (ENVELOPE requires
//! the raw strings); folding is removed; NUL octets, which an IMAP string cannot carry, are
//! dropped. The address parser is tolerant (RFC 5322 §3.4 with the obsolete forms of §4.4):
//! it never fails, and what it cannot read becomes what it can.
//!
//! ```
//! use mailwire_imap::proto::{Envelope, header_fields_section};
//!
//! let fields: [(&[u8], &[u8]); 3] = [
//!     (b"From", b" Joe <joe@example.com>\r\n"),
//!     (b"Subject", b" =?utf-8?q?hi?=\r\n there\r\n"),
//!     (b"To", b" team: a@x.test, b@y.test;\r\n"),
//! ];
//! let env = Envelope::from_fields(fields);
//! assert_eq!(env.subject.unwrap().as_bytes(), b"=?utf-8?q?hi?= there");
//! assert_eq!(env.sender, env.from); // defaults to From (RFC 3501 §7.4.2)
//! assert_eq!(env.to.len(), 4); // group start, two members, group end
//!
//! let lines: [(&[u8], &[u8]); 2] = [(b"From", b"From: a\r\n"), (b"To", b"To: b\r\n")];
//! assert_eq!(header_fields_section(lines, &[b"to"], false), b"To: b\r\n\r\n");
//! ```

use super::types::body::{Address, Envelope};
use super::types::core::{IString, NString};

impl Envelope {
    /// The ENVELOPE of a header given as its fields in order, `(name, raw value)` with the
    /// value as it follows the colon (folding and line breaks included). The first of each
    /// field counts; `Sender` and `Reply-To` default to `From` when absent or empty.
    pub fn from_fields<'a>(fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Envelope {
        let mut env = Envelope::default();
        let mut seen = [false; 10];
        const NAMES: [&[u8]; 10] = [
            b"date",
            b"subject",
            b"from",
            b"sender",
            b"reply-to",
            b"to",
            b"cc",
            b"bcc",
            b"in-reply-to",
            b"message-id",
        ];
        for (name, value) in fields {
            let name = trim(name);
            let Some(i) = NAMES.iter().position(|n| n.eq_ignore_ascii_case(name)) else {
                continue;
            };
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            let v = unfold(value);
            match i {
                0 => env.date = nstring(&v),
                1 => env.subject = nstring(&v),
                2 => env.from = parse_address_list(&v),
                3 => env.sender = parse_address_list(&v),
                4 => env.reply_to = parse_address_list(&v),
                5 => env.to = parse_address_list(&v),
                6 => env.cc = parse_address_list(&v),
                7 => env.bcc = parse_address_list(&v),
                8 => env.in_reply_to = nstring(&v),
                _ => env.message_id = nstring(&v),
            }
        }
        if env.sender.is_empty() {
            env.sender = env.from.clone();
        }
        if env.reply_to.is_empty() {
            env.reply_to = env.from.clone();
        }
        env
    }
}

/// `BODY[HEADER.FIELDS (names)]` (`not = false`) or `HEADER.FIELDS.NOT` (`not = true`) of a
/// header given as its fields `(name, whole field line with its line break)`: the selected
/// fields unchanged and in order, then the empty line. Names compare case-insensitively.
pub fn header_fields_section<'a>(
    fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    names: &[&[u8]],
    not: bool,
) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, line) in fields {
        let name = trim(name);
        let listed = names.iter().any(|n| n.eq_ignore_ascii_case(name));
        if !name.is_empty() && listed != not {
            out.extend_from_slice(line);
            if !line.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn trim(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

/// The value without line breaks and NULs, trimmed.
fn unfold(value: &[u8]) -> Vec<u8> {
    let v: Vec<u8> = value
        .iter()
        .copied()
        .filter(|&b| !matches!(b, b'\r' | b'\n' | 0))
        .collect();
    trim(&v).to_vec()
}

fn nstring(v: &[u8]) -> NString {
    IString::new(v.iter().copied().filter(|&b| b != 0).collect::<Vec<u8>>()).ok()
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Atom(Vec<u8>),
    Quoted(Vec<u8>),
    Special(u8),
    /// `[domain literal]`, brackets included.
    Domain(Vec<u8>),
}

impl Tok {
    fn text(&self) -> &[u8] {
        match self {
            Tok::Atom(s) | Tok::Quoted(s) | Tok::Domain(s) => s,
            Tok::Special(c) => std::slice::from_ref(c),
        }
    }
}

const SPECIALS: &[u8] = b"<>@,;:.";

/// RFC 5322 tokens of an address list; comments are skipped, quoted strings unquoted.
fn tokenize(s: &[u8]) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'(' {
            let mut depth = 0usize;
            while i < s.len() {
                match s[i] {
                    b'\\' => i += 1,
                    b'(' => depth += 1,
                    b')' => {
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
        } else if c == b'"' {
            let mut v = Vec::new();
            i += 1;
            while i < s.len() && s[i] != b'"' {
                if s[i] == b'\\' && i + 1 < s.len() {
                    i += 1;
                }
                v.push(s[i]);
                i += 1;
            }
            i += 1;
            out.push(Tok::Quoted(v));
        } else if c == b'[' {
            let mut v = vec![b'['];
            i += 1;
            while i < s.len() && s[i] != b']' {
                v.push(s[i]);
                i += 1;
            }
            v.push(b']');
            i += 1;
            out.push(Tok::Domain(v));
        } else if SPECIALS.contains(&c) {
            out.push(Tok::Special(c));
            i += 1;
        } else {
            // An atom; a stray ')' or other lone octet is an atom of its own, so the
            // scan always moves on.
            let start = i;
            i += 1;
            while i < s.len()
                && !s[i].is_ascii_whitespace()
                && !SPECIALS.contains(&s[i])
                && !b"()\"[".contains(&s[i])
            {
                i += 1;
            }
            out.push(Tok::Atom(s[start..i].to_vec()));
        }
    }
    out
}

/// An RFC 5322 address list (a header value, folded or not) as ENVELOPE addresses. Never fails.
///
/// Groups come out as IMAP writes them: a start marker (group name as `mailbox`, `NIL` host),
/// the members, an end marker (`NIL` mailbox and host).
pub fn parse_address_list(value: &[u8]) -> Vec<Address> {
    let toks = tokenize(&unfold(value));
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_group = false;
    while i < toks.len() {
        // One element, up to ',' or ';' outside <>, or a group's ':'.
        let mut j = i;
        let mut angle = false;
        let mut colon_at = None;
        while j < toks.len() {
            match &toks[j] {
                Tok::Special(b'<') => angle = true,
                Tok::Special(b'>') => angle = false,
                Tok::Special(b':') if !angle && !in_group => {
                    colon_at = Some(j);
                    break;
                }
                Tok::Special(b',' | b';') if !angle => break,
                _ => {}
            }
            j += 1;
        }
        if let Some(c) = colon_at {
            let name = join(&toks[i..c], b" ");
            out.push(Address {
                mailbox: nstring(&name),
                ..Address::default()
            });
            in_group = true;
            i = c + 1;
            continue;
        }
        if let Some(a) = parse_mailbox(&toks[i..j]) {
            out.push(a);
        }
        if in_group && toks.get(j) == Some(&Tok::Special(b';')) {
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

fn join(toks: &[Tok], sep: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, t) in toks.iter().enumerate() {
        if k > 0 {
            out.extend_from_slice(sep);
        }
        out.extend_from_slice(t.text());
    }
    out
}

fn parse_mailbox(toks: &[Tok]) -> Option<Address> {
    if toks.is_empty() {
        return None;
    }
    let (phrase, spec): (&[Tok], &[Tok]) = match toks.iter().position(|t| *t == Tok::Special(b'<'))
    {
        Some(p) => {
            let gt = toks[p..]
                .iter()
                .position(|t| *t == Tok::Special(b'>'))
                .map_or(toks.len(), |q| p + q);
            (&toks[..p], &toks[p + 1..gt])
        }
        None => (&[], toks),
    };
    let name = if phrase.is_empty() {
        None
    } else {
        // Words are joined by one space; a '.' (obsolete phrase) joins without.
        let mut s: Vec<u8> = Vec::new();
        for t in phrase {
            if !s.is_empty() && *t != Tok::Special(b'.') && !s.ends_with(b".") {
                s.push(b' ');
            }
            s.extend_from_slice(t.text());
        }
        Some(s)
    };
    // Obsolete source route: @a,@b:
    let mut spec = spec;
    let mut adl = None;
    if spec.first() == Some(&Tok::Special(b'@'))
        && let Some(c) = spec.iter().position(|t| *t == Tok::Special(b':'))
    {
        adl = Some(join(&spec[..c], b""));
        spec = &spec[c + 1..];
    }
    let (local, domain) = match spec.iter().rposition(|t| *t == Tok::Special(b'@')) {
        Some(a) => (&spec[..a], Some(&spec[a + 1..])),
        None => (spec, None),
    };
    let mailbox = join(local, b"");
    let host = domain.map(|d| join(d, b"")).filter(|h| !h.is_empty());
    if mailbox.is_empty() && host.is_none() && name.is_none() {
        return None;
    }
    Some(Address {
        name: name.as_deref().and_then(nstring),
        adl: adl.as_deref().and_then(nstring),
        mailbox: Some(mailbox)
            .filter(|m| !m.is_empty())
            .as_deref()
            .and_then(nstring),
        host: host.as_deref().and_then(nstring),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &NString) -> Option<&[u8]> {
        v.as_ref().map(IString::as_bytes)
    }

    /// Splits a header into (name, value) and (name, line) the way a store does.
    fn fields(header: &[u8]) -> Vec<(&[u8], &[u8], &[u8])> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut i = 0;
        while i < header.len() {
            let end = header[i..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(header.len(), |p| i + p + 1);
            let next_folds = end < header.len() && matches!(header[end], b' ' | b'\t');
            if !next_folds {
                let line = &header[start..end];
                if let Some(c) = line.iter().position(|&b| b == b':') {
                    out.push((&line[..c], &line[c + 1..], line));
                }
                start = end;
            }
            i = end;
        }
        out
    }

    const HEADER: &[u8] = b"From: \"Joe Q. Public\" <john.q.public@example.com>\r\n\
To: Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>\r\n\
Cc: <boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>\r\n\
Subject: =?utf-8?q?hi?=\r\n\x20there\r\n\
Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n\
Message-ID: <5678.21-Nov-1997@example.com>\r\n\
Subject: second subject is ignored\r\n\
Sender: \r\n\
Reply-To: (comment only)\r\n\r\n";

    #[test]
    fn envelope_fields() {
        let e = Envelope::from_fields(fields(HEADER).into_iter().map(|(n, v, _)| (n, v)));
        assert_eq!(s(&e.subject), Some(&b"=?utf-8?q?hi?= there"[..]));
        assert_eq!(s(&e.date), Some(&b"Tue, 1 Jul 2003 10:52:37 +0200"[..]));
        assert_eq!(s(&e.from[0].name), Some(&b"Joe Q. Public"[..]));
        assert_eq!(s(&e.from[0].mailbox), Some(&b"john.q.public"[..]));
        assert_eq!(s(&e.from[0].host), Some(&b"example.com"[..]));
        // Empty Sender and Reply-To default to From.
        assert_eq!(e.sender, e.from);
        assert_eq!(e.reply_to, e.from);
        assert_eq!(e.to.len(), 3);
        assert_eq!(s(&e.to[2].name), Some(&b"Who?"[..]));
        assert_eq!(s(&e.cc[0].name), None);
        assert_eq!(s(&e.cc[1].name), Some(&b"Giant; \"Big\" Box"[..]));
        assert!(e.bcc.is_empty());
        assert_eq!(s(&e.in_reply_to), None);
        assert_eq!(
            s(&e.message_id),
            Some(&b"<5678.21-Nov-1997@example.com>"[..])
        );
    }

    #[test]
    fn groups_routes_and_literals() {
        let a = parse_address_list(b"A Group:Ed Jones <c@a.test>,joe@where.test;, x@y");
        assert_eq!(a.len(), 5);
        assert_eq!(s(&a[0].mailbox), Some(&b"A Group"[..]));
        assert_eq!(a[0].host, None);
        assert_eq!(a[3], Address::default());
        assert_eq!(s(&a[4].host), Some(&b"y"[..]));
        let a = parse_address_list(b"undisclosed-recipients:;");
        assert_eq!(a.len(), 2);
        assert_eq!(a[1], Address::default());
        let a = parse_address_list(b"<@r1.test,@r2.test:u@[192.0.2.1]>");
        assert_eq!(s(&a[0].adl), Some(&b"@r1.test,@r2.test"[..]));
        assert_eq!(s(&a[0].host), Some(&b"[192.0.2.1]"[..]));
        // 8-bit names are kept byte for byte; NUL is dropped.
        let a = parse_address_list("Zoë <z@x>".as_bytes());
        assert_eq!(s(&a[0].name), Some("Zoë".as_bytes()));
        let a = parse_address_list(b"a\0b@x");
        assert_eq!(s(&a[0].mailbox), Some(&b"ab"[..]));
        // Garbage gives what can be read, never a panic.
        for v in [
            &b""[..],
            b"<<<",
            b"\"unterminated",
            b"(((",
            b"@:",
            b";;;,,,",
            b"[x",
            b")",
            b"a)b",
            b"))) <x@y>",
        ] {
            let _ = parse_address_list(v);
        }
    }

    #[test]
    fn header_fields_selection() {
        let h = b"Subject: a\r\nFrom: b\r\n c\r\nTo: d\r\n\r\n";
        let lines = || fields(h).into_iter().map(|(n, _, l)| (n, l));
        assert_eq!(
            header_fields_section(lines(), &[b"from"], false),
            b"From: b\r\n c\r\n\r\n"
        );
        assert_eq!(
            header_fields_section(lines(), &[b"FROM"], true),
            b"Subject: a\r\nTo: d\r\n\r\n"
        );
        assert_eq!(header_fields_section(lines(), &[b"x-none"], false), b"\r\n");
        // A last field without a line break gets one.
        assert_eq!(
            header_fields_section([(&b"To"[..], &b"To: d"[..])], &[b"to"], false),
            b"To: d\r\n\r\n"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_header_value_gives_addresses(v in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            // Ends (and so terminates) for any input; no field carries what an IMAP string
            // cannot.
            let list = parse_address_list(&v);
            for a in &list {
                for f in [&a.name, &a.adl, &a.mailbox, &a.host] {
                    if let Some(f) = s(f) {
                        proptest::prop_assert!(!f.contains(&0) && !f.contains(&b'\r') && !f.contains(&b'\n'));
                    }
                }
            }
            let e = Envelope::from_fields([(&b"From"[..], &v[..]), (b"Subject", &v[..])]);
            proptest::prop_assert_eq!(e.sender, e.from);
        }

        #[test]
        fn written_addresses_read_back(
            list in proptest::collection::vec(("[A-Za-z][A-Za-z0-9 ]{0,8}[a-z]", "[a-z0-9.+_-]{0,6}[a-z0-9]", "[a-z0-9]{1,8}(\\.[a-z]{2,4})?"), 1..5)
        ) {
            let text: Vec<String> = list.iter().map(|(n, m, h)| format!("\"{n}\" <{m}@{h}>")).collect();
            let got = parse_address_list(text.join(", ").as_bytes());
            proptest::prop_assert_eq!(got.len(), list.len());
            for (a, (n, m, h)) in got.iter().zip(&list) {
                proptest::prop_assert_eq!(s(&a.name), Some(n.as_bytes()));
                proptest::prop_assert_eq!(s(&a.mailbox), Some(m.as_bytes()));
                proptest::prop_assert_eq!(s(&a.host), Some(h.as_bytes()));
            }
        }
    }
}
