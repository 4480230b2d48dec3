//! Mailbox names: `mailbox = "INBOX" / astring` (RFC 3501 §5.1, RFC 9051 §5.1), modified
//! UTF-7 (RFC 3501 §5.1.3) and UTF-8 names (RFC 9051 §5.1, RFC 6855 UTF8=ACCEPT), and the LIST
//! pattern `list-mailbox`.

use std::borrow::Cow;

use super::core::{AString, C_LIST, ValidationError, all};

/// A mailbox name as it appears on the wire. `INBOX` is case-insensitive and always
/// [`Mailbox::Inbox`]; other names keep their octets (modified UTF-7 for IMAP4rev1, UTF-8
/// once IMAP4rev2 or UTF8=ACCEPT is in force).
///
/// ```
/// use mailwire_imap::proto::Mailbox;
/// assert_eq!(Mailbox::new("inbox").unwrap(), Mailbox::Inbox);
/// let m = Mailbox::from_utf8("Entwürfe", false).unwrap();
/// assert_eq!(m.as_bytes(), b"Entw&APw-rfe");
/// assert_eq!(m.to_utf8(), "Entwürfe");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mailbox {
    /// `INBOX`, in any case.
    Inbox,
    /// Any other name (never `INBOX` in any case).
    Other(OtherMailbox),
}

/// A mailbox name other than INBOX.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OtherMailbox(AString);

impl OtherMailbox {
    /// The name's octets.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The name as an `astring`.
    pub fn as_astring(&self) -> &AString {
        &self.0
    }
}

impl Mailbox {
    /// A mailbox from its wire octets; `INBOX` in any case becomes [`Mailbox::Inbox`].
    pub fn new(name: impl Into<Vec<u8>>) -> Result<Self, ValidationError> {
        Ok(Self::from_astring(AString::new(name)?))
    }

    /// A mailbox from an `astring`.
    pub fn from_astring(name: AString) -> Self {
        if name.as_bytes().eq_ignore_ascii_case(b"INBOX") {
            Self::Inbox
        } else {
            Self::Other(OtherMailbox(name))
        }
    }

    /// A mailbox from a Unicode name: encoded in modified UTF-7 unless `utf8` (IMAP4rev2 or
    /// UTF8=ACCEPT) is in force.
    pub fn from_utf8(name: &str, utf8: bool) -> Result<Self, ValidationError> {
        if utf8 {
            Self::new(name)
        } else {
            Self::new(encode_utf7(name))
        }
    }

    /// The wire octets (`INBOX` for the inbox).
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inbox => b"INBOX",
            Self::Other(o) => o.as_bytes(),
        }
    }

    /// The name as Unicode: decoded from modified UTF-7 when it is valid modified UTF-7,
    /// otherwise the octets as UTF-8 (invalid sequences replaced).
    pub fn to_utf8(&self) -> Cow<'_, str> {
        let bytes = self.as_bytes();
        match decode_utf7(bytes) {
            Some(s) => Cow::Owned(s),
            None => String::from_utf8_lossy(bytes),
        }
    }
}

impl TryFrom<&str> for Mailbox {
    type Error = ValidationError;
    fn try_from(s: &str) -> Result<Self, ValidationError> {
        Self::new(s)
    }
}

/// A LIST/LSUB pattern: `list-mailbox = 1*list-char / string`, which may hold the wildcards
/// `%` and `*`. Any octets but NUL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListMailbox(Vec<u8>);

impl ListMailbox {
    /// Validates `pattern` (no NUL).
    pub fn new(pattern: impl Into<Vec<u8>>) -> Result<Self, ValidationError> {
        let p = pattern.into();
        if p.contains(&0) {
            return Err(ValidationError::new("list pattern", "NUL is not allowed"));
        }
        Ok(Self(p))
    }

    pub(crate) fn unvalidated(p: Vec<u8>) -> Self {
        Self(p)
    }

    /// The pattern's octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether the pattern can be sent as `1*list-char` (no quoting needed).
    pub(crate) fn is_bare(&self) -> bool {
        !self.0.is_empty() && all(&self.0, C_LIST)
    }
}

impl TryFrom<&str> for ListMailbox {
    type Error = ValidationError;
    fn try_from(s: &str) -> Result<Self, ValidationError> {
        Self::new(s)
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Encodes a Unicode mailbox name in modified UTF-7 (RFC 3501 §5.1.3): printable ASCII stands
/// for itself (`&` as `&-`), everything else is UTF-16 in modified base64 between `&` and `-`.
pub fn encode_utf7(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        out.push('&');
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        for chunk in bytes.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            let chars = chunk.len() + 1;
            for i in 0..chars {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out.push('-');
        pending.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Decodes a modified UTF-7 name; `None` when it is not valid modified UTF-7 (octets outside
/// printable ASCII, a bad base64 run, an unpaired surrogate, or a non-canonical encoding).
pub fn decode_utf7(name: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    while i < name.len() {
        let b = name[i];
        if !(0x20..=0x7e).contains(&b) {
            return None;
        }
        if b != b'&' {
            out.push(b as char);
            i += 1;
            continue;
        }
        let end = i + 1 + name[i + 1..].iter().position(|&c| c == b'-')?;
        let run = &name[i + 1..end];
        if run.is_empty() {
            out.push('&');
        } else {
            let mut bits: u32 = 0;
            let mut nbits = 0;
            let mut units = Vec::new();
            for &c in run {
                let v = B64.iter().position(|&x| x == c)? as u32;
                bits = (bits << 6) | v;
                nbits += 6;
                if nbits >= 16 {
                    nbits -= 16;
                    units.push((bits >> nbits) as u16);
                    bits &= (1 << nbits) - 1;
                }
            }
            if nbits >= 6 || bits != 0 {
                return None;
            }
            let s = String::from_utf16(&units).ok()?;
            // A run must not encode printable ASCII (the encoding would not be canonical).
            if s.chars().any(|c| (' '..='~').contains(&c)) {
                return None;
            }
            out.push_str(&s);
        }
        i = end + 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3501_example() {
        // RFC 3501 §5.1.3.
        let name = "~peter/mail/台北/日本語";
        assert_eq!(encode_utf7(name), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
        assert_eq!(
            decode_utf7(b"~peter/mail/&U,BTFw-/&ZeVnLIqe-").as_deref(),
            Some(name)
        );
        assert_eq!(encode_utf7("a&b"), "a&-b");
        assert_eq!(decode_utf7(b"a&-b").as_deref(), Some("a&b"));
        assert_eq!(decode_utf7(b"&Jjo!"), None);
        assert_eq!(
            decode_utf7(b"&AGE-"),
            None,
            "ASCII in base64 is not canonical"
        );
        assert_eq!(encode_utf7("😀"), "&2D3eAA-");
        assert_eq!(decode_utf7(b"&2D3eAA-").as_deref(), Some("😀"));
        assert_eq!(decode_utf7(b"&2D0-"), None, "unpaired surrogate");
    }

    #[test]
    fn inbox_is_case_insensitive() {
        assert_eq!(Mailbox::new("InBoX"), Ok(Mailbox::Inbox));
        assert_ne!(Mailbox::new("INBOX.x"), Ok(Mailbox::Inbox));
    }
}
