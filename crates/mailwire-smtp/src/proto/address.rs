//! Addresses and paths of RFC 5321 §4.1.2, with RFC 6531's UTF-8 extension.
//!
//! ```text
//! Reverse-path   = Path / "<>"
//! Forward-path   = Path
//! Path           = "<" [ A-d-l ":" ] Mailbox ">"
//! A-d-l          = At-domain *( "," At-domain )   ; accepted and ignored
//! Mailbox        = Local-part "@" ( Domain / address-literal )
//! Local-part     = Dot-string / Quoted-string
//! ```

use std::borrow::Cow;
use std::fmt;

use crate::proto::SyntaxError;
use crate::proto::ascii::{self, ATEXT, LDH};

/// The longest local part (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL_PART: usize = 64;
/// The longest domain (RFC 5321 §4.5.3.1.2).
pub const MAX_DOMAIN: usize = 255;
/// The longest path, brackets included (RFC 5321 §4.5.3.1.3).
pub const MAX_PATH: usize = 256;

/// A mailbox, `local-part@domain`, validated: it cannot hold CR, LF, or anything the grammar
/// forbids, so it can always be written back on the wire.
///
/// The parsers borrow the text from the command line they parse (`Address<'line>`);
/// [`Address::into_owned`] gives an `Address<'static>` to keep.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address<'a> {
    /// `local@domain` as on the wire: a dot-string or quoted string, then a domain or an
    /// address literal (`[192.0.2.1]`).
    text: Cow<'a, str>,
    /// Where the `@` between them is.
    at: usize,
}

/// Whether UTF-8 is allowed in addresses (RFC 6531 SMTPUTF8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// ASCII only (RFC 5321).
    Ascii,
    /// UTF-8 allowed in local parts and domains (RFC 6531 §3.3).
    Utf8,
}

impl<'a> Address<'a> {
    /// Parses `local@domain` (no angle brackets), borrowing `s`.
    pub fn parse(s: &'a str, charset: Charset) -> Result<Self, SyntaxError> {
        let (local, rest) = local_part(s, charset)?;
        let Some(domain) = rest.strip_prefix('@') else {
            return Err(SyntaxError::new("address needs local-part@domain"));
        };
        if domain.starts_with('[') {
            address_literal(domain)?;
        } else {
            self::domain(domain, charset)?;
        }
        Ok(Self {
            text: Cow::Borrowed(s),
            at: local.len(),
        })
    }

    /// The same address, owning its text.
    pub fn into_owned(self) -> Address<'static> {
        Address {
            text: Cow::Owned(self.text.into_owned()),
            at: self.at,
        }
    }

    /// `local@domain` as on the wire.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The local part as on the wire (quoted strings keep their quotes and escapes).
    pub fn local_part(&self) -> &str {
        &self.text[..self.at]
    }

    /// The local part with quoting removed: `"a\"b"` becomes `a"b`. RFC 5321 §4.1.2 says all
    /// quoted forms of a local part are equivalent; compare this form.
    pub fn local_part_unquoted(&self) -> String {
        match self
            .local_part()
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
        {
            None => self.local_part().to_owned(),
            Some(inner) => {
                let mut out = String::with_capacity(inner.len());
                let mut chars = inner.chars();
                while let Some(c) = chars.next() {
                    if c == '\\' {
                        if let Some(n) = chars.next() {
                            out.push(n);
                        }
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }

    /// The domain or address literal.
    pub fn domain(&self) -> &str {
        &self.text[self.at + 1..]
    }

    /// Whether the address needs SMTPUTF8 (non-ASCII characters).
    pub fn is_utf8(&self) -> bool {
        !self.text.is_ascii()
    }
}

impl fmt::Display for Address<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Address<'static> {
    type Err = SyntaxError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Address::parse(s, Charset::Utf8).map(Address::into_owned)
    }
}

/// The `MAIL FROM` path: an address, or the null path `<>` of bounces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReversePath<'a> {
    /// `<>`
    Null,
    /// `<local@domain>`
    Address(Address<'a>),
}

impl ReversePath<'_> {
    /// The address, unless this is the null path.
    pub fn address(&self) -> Option<&Address<'_>> {
        match self {
            Self::Null => None,
            Self::Address(a) => Some(a),
        }
    }

    /// The same path, owning its text.
    pub fn into_owned(self) -> ReversePath<'static> {
        match self {
            Self::Null => ReversePath::Null,
            Self::Address(a) => ReversePath::Address(a.into_owned()),
        }
    }
}

impl fmt::Display for ReversePath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("<>"),
            Self::Address(a) => write!(f, "<{a}>"),
        }
    }
}

impl std::str::FromStr for ReversePath<'static> {
    type Err = SyntaxError;

    /// Parses `<>` or an empty string as the null path, and `addr` or `<addr>` as an address
    /// (UTF-8 allowed; the client checks for SMTPUTF8 before sending).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let inner = strip_brackets(s.trim());
        if inner.is_empty() {
            return Ok(Self::Null);
        }
        Address::parse(inner, Charset::Utf8).map(|a| Self::Address(a.into_owned()))
    }
}

/// The `RCPT TO` path: an address, or the bare `<Postmaster>` every server must accept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ForwardPath<'a> {
    /// `<Postmaster>` without a domain (RFC 5321 §4.5.1).
    Postmaster,
    /// `<local@domain>`
    Address(Address<'a>),
}

impl ForwardPath<'_> {
    /// The address, unless this is the bare `<Postmaster>`.
    pub fn address(&self) -> Option<&Address<'_>> {
        match self {
            Self::Postmaster => None,
            Self::Address(a) => Some(a),
        }
    }

    /// The same path, owning its text.
    pub fn into_owned(self) -> ForwardPath<'static> {
        match self {
            Self::Postmaster => ForwardPath::Postmaster,
            Self::Address(a) => ForwardPath::Address(a.into_owned()),
        }
    }
}

impl fmt::Display for ForwardPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Postmaster => f.write_str("<Postmaster>"),
            Self::Address(a) => write!(f, "<{a}>"),
        }
    }
}

impl std::str::FromStr for ForwardPath<'static> {
    type Err = SyntaxError;

    /// Parses `addr` or `<addr>`; a bare `Postmaster` (any case) is [`ForwardPath::Postmaster`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let inner = strip_brackets(s.trim());
        if inner.eq_ignore_ascii_case("postmaster") {
            return Ok(Self::Postmaster);
        }
        Address::parse(inner, Charset::Utf8).map(|a| Self::Address(a.into_owned()))
    }
}

/// `<x>` without its brackets; anything else unchanged.
fn strip_brackets(s: &str) -> &str {
    s.strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(s)
}

/// Splits `<path>` off the front of `s`, returning the mailbox text and the rest.
/// A source route (`<@a,@b:user@c>`) is accepted and dropped.
pub(crate) fn path(s: &str) -> Result<(Option<&str>, &str), SyntaxError> {
    let Some(inner) = s.strip_prefix('<') else {
        return Err(SyntaxError::new("path must be enclosed in <>"));
    };
    // The closing '>' is the first one outside a quoted string.
    let bytes = inner.as_bytes();
    let mut i = 0;
    let mut quoted = false;
    let end = loop {
        match bytes.get(i) {
            None => return Err(SyntaxError::new("path is missing its closing >")),
            Some(b'\\') if quoted => i += 2,
            Some(b'"') => {
                quoted = !quoted;
                i += 1;
            }
            Some(b'>') if !quoted => break i,
            Some(_) => i += 1,
        }
    };
    if end + 2 > MAX_PATH {
        return Err(SyntaxError::path_too_long());
    }
    let mut mailbox = &inner[..end];
    let rest = &inner[end + 1..];
    if mailbox.is_empty() {
        return Ok((None, rest));
    }
    if mailbox.starts_with('@') {
        // A-d-l ":" — check the route's syntax, then ignore it.
        let Some((route, m)) = mailbox.split_once(':') else {
            return Err(SyntaxError::new("source route without ':'"));
        };
        for hop in route.split(',') {
            let Some(d) = hop.strip_prefix('@') else {
                return Err(SyntaxError::new("bad source route"));
            };
            domain(d, Charset::Utf8)?;
        }
        mailbox = m;
    }
    Ok((Some(mailbox), rest))
}

/// The fast path of [`path`] followed by [`Address::parse`] with [`Charset::Utf8`], for the
/// common shape: `<>` or `<Dot-string@Domain>` in ASCII, without a quoted local part, a source
/// route or an address literal. `s` starts at the `<`. Returns the mailbox (`None` for `<>`)
/// and what follows the `>`.
///
/// It never rejects: anything else gives `None`, and the caller hands the input to the general
/// parser, which decides (and words the error). Whatever this accepts, the general parser
/// accepts with the same result.
///
/// ```text
/// Dot-string = Atom *("."  Atom)
/// Domain     = sub-domain *("." sub-domain)
/// sub-domain = Let-dig [Ldh-str]
/// ```
#[inline(always)]
pub(crate) fn simple_path(s: &[u8]) -> Option<(Option<Address<'_>>, &[u8])> {
    let rest = s.strip_prefix(b"<")?;
    if let Some(after) = rest.strip_prefix(b">") {
        return Some((None, after));
    }
    // Dot-string: atoms of `atext` joined by single dots, up to the `@`.
    let mut i = 0;
    let at = loop {
        let atom = ascii::count(ATEXT, &rest[i..]);
        if atom == 0 {
            return None;
        }
        i += atom;
        match rest.get(i) {
            Some(b'.') => i += 1,
            Some(b'@') => break i,
            _ => return None,
        }
    };
    if at > MAX_LOCAL_PART {
        return None;
    }
    // Domain: sub-domains of `Let-dig [Ldh-str]` (1 to 63 octets, no `-` at either end)
    // joined by single dots, up to the `>`.
    i = at + 1;
    let close = loop {
        let label = ascii::count(LDH, &rest[i..]);
        if label == 0 || label > 63 || rest[i] == b'-' || rest[i + label - 1] == b'-' {
            return None;
        }
        i += label;
        match rest.get(i) {
            Some(b'.') => i += 1,
            Some(b'>') => break i,
            _ => return None,
        }
    };
    // `close` is the index of the `>` in `rest`: the path, brackets included, is
    // `close + 2` octets.
    if close - (at + 1) > MAX_DOMAIN || close + 2 > MAX_PATH {
        return None;
    }
    let text = Cow::Borrowed(ascii::to_str(&rest[..close])?);
    Some((Some(Address { text, at }), &rest[close + 1..]))
}

/// `Local-part = Dot-string / Quoted-string`; returns it and the rest of the input.
fn local_part(s: &str, charset: Charset) -> Result<(&str, &str), SyntaxError> {
    let end = if s.starts_with('"') {
        let bytes = s.as_bytes();
        let mut i = 1;
        loop {
            match bytes.get(i) {
                None => return Err(SyntaxError::new("unterminated quoted local part")),
                Some(b'"') => break i + 1,
                Some(b'\\') => match bytes.get(i + 1) {
                    Some(32..=126) => i += 2,
                    _ => return Err(SyntaxError::new("bad quoted-pair in local part")),
                },
                Some(&b) if (32..=126).contains(&b) => i += 1,
                Some(&b) if b >= 0x80 && charset == Charset::Utf8 => i += 1,
                Some(_) => return Err(SyntaxError::new("bad character in quoted local part")),
            }
        }
    } else {
        let end = s.rfind('@').unwrap_or(s.len());
        let dot_string = &s.as_bytes()[..end];
        let mut prev_dot = true;
        for &b in dot_string {
            let ok = if b == b'.' {
                !std::mem::replace(&mut prev_dot, true)
            } else {
                prev_dot = false;
                ascii::is(ATEXT, b) || (b >= 0x80 && charset == Charset::Utf8)
            };
            if !ok {
                return Err(SyntaxError::new("bad local part"));
            }
        }
        if prev_dot {
            return Err(SyntaxError::new("bad local part"));
        }
        if b_non_ascii_invalid(&s[..end], charset) {
            return Err(SyntaxError::new("bad local part"));
        }
        end
    };
    if end > MAX_LOCAL_PART {
        return Err(SyntaxError::new("local part longer than 64 octets"));
    }
    Ok(s.split_at(end))
}

/// Under SMTPUTF8, non-ASCII text must not hold control characters (RFC 6531 `UTF8-non-ascii`).
fn b_non_ascii_invalid(s: &str, charset: Charset) -> bool {
    charset == Charset::Utf8 && !s.is_ascii() && s.chars().any(|c| !c.is_ascii() && c.is_control())
}

/// `Domain = sub-domain *("." sub-domain)`; RFC 6531 allows U-labels.
pub(crate) fn domain(s: &str, charset: Charset) -> Result<(), SyntaxError> {
    if s.is_empty() || s.len() > MAX_DOMAIN {
        return Err(SyntaxError::new("bad domain length"));
    }
    let ascii = s.is_ascii();
    for label in s.split('.') {
        let l = label.as_bytes();
        let ok = !l.is_empty()
            && l.len() <= 63
            && l[0] != b'-'
            && l[l.len() - 1] != b'-'
            && if ascii {
                l.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            } else {
                label.chars().all(|c| {
                    c.is_ascii_alphanumeric()
                        || c == '-'
                        || (charset == Charset::Utf8 && !c.is_ascii() && c.is_alphanumeric())
                })
            };
        if !ok {
            return Err(SyntaxError::new("bad domain"));
        }
    }
    Ok(())
}

/// `address-literal = "[" ( IPv4 / "IPv6:" IPv6 / General ) "]"` (RFC 5321 §4.1.3).
pub(crate) fn address_literal(s: &str) -> Result<(), SyntaxError> {
    let Some(inner) = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')) else {
        return Err(SyntaxError::new("bad address literal"));
    };
    let ok = if let Some(v6) = inner.strip_prefix("IPv6:") {
        v6.parse::<std::net::Ipv6Addr>().is_ok()
    } else if inner.contains(':') {
        // General-address-literal = Standardized-tag ":" 1*dcontent
        let (tag, content) = inner.split_once(':').unwrap_or_default();
        !tag.is_empty()
            && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !content.is_empty()
            && content
                .bytes()
                .all(|b| (33..=90).contains(&b) || (94..=126).contains(&b))
    } else {
        inner.parse::<std::net::Ipv4Addr>().is_ok()
    };
    if ok {
        Ok(())
    } else {
        Err(SyntaxError::new("bad address literal"))
    }
}

/// Parses the argument of `EHLO`/`HELO`/`LHLO`: a domain or an address literal. Lenient in one
/// respect: many clients send a bare host name with underscores, which is accepted.
pub(crate) fn client_domain(s: &str) -> Result<(), SyntaxError> {
    if s.starts_with('[') {
        return address_literal(s);
    }
    if s.is_empty()
        || s.len() > MAX_DOMAIN
        || !s
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err(SyntaxError::new("bad domain in greeting"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = Address::parse("alice@example.com", Charset::Ascii).unwrap();
        assert_eq!((a.local_part(), a.domain()), ("alice", "example.com"));
        let q = Address::parse(r#""Joe\,Smith"@example.com"#, Charset::Ascii).unwrap();
        assert_eq!(q.local_part_unquoted(), "Joe,Smith");
        assert_eq!(q.to_string(), r#""Joe\,Smith"@example.com"#);
        assert!(Address::parse("a@[192.0.2.1]", Charset::Ascii).is_ok());
        assert!(Address::parse("a@[IPv6:2001:db8::1]", Charset::Ascii).is_ok());
        assert!(Address::parse("a@[300.0.0.1]", Charset::Ascii).is_err());
        assert!(Address::parse("a..b@example.com", Charset::Ascii).is_err());
        assert!(Address::parse("a@-x.com", Charset::Ascii).is_err());
        assert!(Address::parse("@example.com", Charset::Ascii).is_err());
        assert!(Address::parse("a b@example.com", Charset::Ascii).is_err());
        assert!(Address::parse("a@b\r\n", Charset::Ascii).is_err());
        assert!(Address::parse("用户@例子.广告", Charset::Ascii).is_err());
        assert!(
            Address::parse("用户@例子.广告", Charset::Utf8)
                .unwrap()
                .is_utf8()
        );
        let long = format!("{}@example.com", "a".repeat(65));
        assert!(Address::parse(&long, Charset::Ascii).is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(path("<>").unwrap(), (None, ""));
        assert_eq!(path("<a@b> SIZE=1").unwrap(), (Some("a@b"), " SIZE=1"));
        assert_eq!(path("<@x.org,@y.org:a@b>").unwrap(), (Some("a@b"), ""));
        assert_eq!(path(r#"<"a>b"@c>"#).unwrap(), (Some(r#""a>b"@c"#), ""));
        assert!(path("a@b").is_err());
        assert!(path("<a@b").is_err());
        assert!(path(&format!("<{}@b.com>", "a".repeat(300))).is_err());
    }
}
