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

/// LIST/LSUB matching (RFC 3501 §6.3.8, RFC 9051 §6.3.9): whether mailbox `name` matches
/// `pattern` (the reference and the pattern joined, both as Unicode), where `*` matches any
/// characters and `%` any characters but `delimiter`. A leading `INBOX` component matches
/// case-insensitively in both.
///
/// Time is O(pattern length × name length) whatever the pattern (a naive backtracking matcher
/// is exponential in the number of `*`s, which a client chooses).
///
/// ```
/// use mailwire_imap::proto::list_matches;
/// assert!(list_matches("Work/%", "Work/Notes", '/'));
/// assert!(!list_matches("Work/%", "Work/Projects/2024", '/'));
/// assert!(list_matches("*", "Work/Projects/2024", '/'));
/// assert!(list_matches("inbox", "INBOX", '/'));
/// ```
pub fn list_matches(pattern: &str, name: &str, delimiter: char) -> bool {
    let pattern = inbox_folded(pattern, delimiter);
    let name = inbox_folded(name, delimiter);
    // can[j]: the pattern read so far matches the first j characters of the name.
    let mut can = vec![false; name.len() + 1];
    can[0] = true;
    for &p in &pattern {
        let mut next = vec![false; name.len() + 1];
        match p {
            '*' => {
                let mut any = false;
                for j in 0..=name.len() {
                    any |= can[j];
                    next[j] = any;
                }
            }
            '%' => {
                let mut any = false;
                for j in 0..=name.len() {
                    if j > 0 && name[j - 1] == delimiter {
                        any = false;
                    }
                    any |= can[j];
                    next[j] = any;
                }
            }
            c => {
                for j in 1..=name.len() {
                    next[j] = can[j - 1] && name[j - 1] == c;
                }
            }
        }
        can = next;
    }
    can[name.len()]
}

/// `s` as characters, its first component upper-cased when it is `INBOX` in any case.
fn inbox_folded(s: &str, delimiter: char) -> Vec<char> {
    let first = s.split(delimiter).next().unwrap_or("");
    if first.eq_ignore_ascii_case("INBOX") {
        "INBOX".chars().chain(s[first.len()..].chars()).collect()
    } else {
        s.chars().collect()
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
    fn unicode_names_in_modified_utf7() {
        // The codec's encoding (tested there), applied unless UTF-8 is in force.
        let m = Mailbox::from_utf8("~peter/mail/台北/日本語", false).unwrap();
        assert_eq!(m.as_bytes(), b"~peter/mail/&U,BTFw-/&ZeVnLIqe-");
        assert_eq!(m.to_utf8(), "~peter/mail/台北/日本語");
        let raw = Mailbox::from_utf8("台北", true).unwrap();
        assert_eq!(raw.as_bytes(), "台北".as_bytes());
        assert_eq!(
            Mailbox::new("&Jjo").unwrap().to_utf8(),
            "&Jjo",
            "invalid UTF-7 as is"
        );
    }

    /// The backtracking definition, for comparison.
    fn naive(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| naive(rest, &n[i..])),
            Some(('%', rest)) => (0..=n.len())
                .take_while(|&i| i == 0 || n[i - 1] != '/')
                .any(|i| naive(rest, &n[i..])),
            Some((c, rest)) => n.first() == Some(c) && naive(rest, &n[1..]),
        }
    }

    proptest::proptest! {
        #[test]
        fn list_matching_is_the_backtracking_definition(
            p in "[ab/*%]{0,8}",
            n in "[ab/]{0,8}",
        ) {
            let (pc, nc): (Vec<char>, Vec<char>) = (p.chars().collect(), n.chars().collect());
            proptest::prop_assert_eq!(list_matches(&p, &n, '/'), naive(&pc, &nc));
        }
    }

    #[test]
    fn list_matching() {
        assert!(list_matches("Work/%", "Work/Notes", '/'));
        assert!(!list_matches("Work/%", "Work/Projects/2024", '/'));
        assert!(list_matches("Work/*", "Work/Projects/2024", '/'));
        assert!(list_matches("%", "Entwürfe", '/'));
        assert!(list_matches("inBOX", "INBOX", '/'));
        assert!(list_matches("INBOX/%", "inbox/Sub", '/'));
        assert!(!list_matches("inboxes", "INBOX", '/'));
        assert!(!list_matches("", "INBOX", '/'));
        assert!(list_matches("", "", '/'));
        assert!(list_matches("a.%", "a.b", '.'));
        assert!(!list_matches("a.%", "a.b.c", '.'));
        // Many stars against a long name that does not match: quick, not exponential.
        let name = "a".repeat(200);
        let pattern = format!("{}b", "*a".repeat(30));
        assert!(!list_matches(&pattern, &name, '/'));
    }

    #[test]
    fn inbox_is_case_insensitive() {
        assert_eq!(Mailbox::new("InBoX"), Ok(Mailbox::Inbox));
        assert_ne!(Mailbox::new("INBOX.x"), Ok(Mailbox::Inbox));
    }
}
