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

/// Modified UTF-7 (RFC 3501 §5.1.3): the codec's, shared with the store.
pub use mailwire_codec::{decode_utf7, encode_utf7};

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
