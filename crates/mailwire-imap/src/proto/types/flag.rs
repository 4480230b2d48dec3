//! Message flags (RFC 9051 §2.3.2) and mailbox attributes (RFC 9051 §7.3.1, RFC 6154
//! SPECIAL-USE, RFC 5258 LIST-EXTENDED, RFC 3348 CHILDREN).

use super::core::{Atom, ValidationError};

/// A flag that can be stored: `flag = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" /
/// "\Draft" / flag-keyword / flag-extension`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Flag {
    /// `\Answered`
    Answered,
    /// `\Flagged`
    Flagged,
    /// `\Deleted`
    Deleted,
    /// `\Seen`
    Seen,
    /// `\Draft`
    Draft,
    /// A keyword (`$Forwarded`, `Junk`, ...): an atom without a backslash.
    Keyword(Atom),
    /// `"\" atom`, a system flag this crate does not name (never `\Recent` or a named one).
    Extension(Atom),
}

impl Flag {
    /// A flag from its text (`\Seen`, `$Junk`), case-insensitive for system flags.
    pub fn new(text: &str) -> Result<Self, ValidationError> {
        match text.strip_prefix('\\') {
            Some(name) => Self::system(Atom::new(name)?)
                .ok_or(ValidationError::new("flag", "\\Recent cannot be stored")),
            None => Ok(Self::Keyword(Atom::new(text)?)),
        }
    }

    /// `"\" atom`: a named system flag or an extension; `None` for `\Recent`.
    pub(crate) fn system(name: Atom) -> Option<Self> {
        Some(
            match lower::<8>(name.as_bytes())
                .as_ref()
                .map(|l| &l[..name.as_bytes().len()])
            {
                Some(b"answered") => Self::Answered,
                Some(b"flagged") => Self::Flagged,
                Some(b"deleted") => Self::Deleted,
                Some(b"seen") => Self::Seen,
                Some(b"draft") => Self::Draft,
                Some(b"recent") => return None,
                _ => Self::Extension(name),
            },
        )
    }

    /// The flag as written on the wire.
    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        match self {
            Self::Answered => Cow::Borrowed("\\Answered"),
            Self::Flagged => Cow::Borrowed("\\Flagged"),
            Self::Deleted => Cow::Borrowed("\\Deleted"),
            Self::Seen => Cow::Borrowed("\\Seen"),
            Self::Draft => Cow::Borrowed("\\Draft"),
            Self::Keyword(a) => Cow::Borrowed(a.as_str()),
            Self::Extension(a) => Cow::Owned(format!("\\{}", a.as_str())),
        }
    }
}

/// A flag in a FETCH response: `flag-fetch = flag / "\Recent"` (IMAP4rev1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FlagFetch {
    /// A flag.
    Flag(Flag),
    /// `\Recent` (IMAP4rev1 only).
    Recent,
}

/// A flag in PERMANENTFLAGS: `flag-perm = flag / "\*"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FlagPerm {
    /// A flag.
    Flag(Flag),
    /// `\*`: new keywords can be created.
    Asterisk,
}

/// A mailbox attribute in a LIST response (`mbx-list-flags`), including the SPECIAL-USE uses
/// and the CHILDREN / LIST-EXTENDED attributes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MailboxAttr {
    /// `\Noinferiors`
    NoInferiors,
    /// `\Noselect`
    NoSelect,
    /// `\Marked`
    Marked,
    /// `\Unmarked`
    Unmarked,
    /// `\NonExistent` (RFC 5258)
    NonExistent,
    /// `\Subscribed` (RFC 5258)
    Subscribed,
    /// `\Remote` (RFC 5258)
    Remote,
    /// `\HasChildren` (RFC 3348, RFC 5258)
    HasChildren,
    /// `\HasNoChildren`
    HasNoChildren,
    /// `\All` (RFC 6154)
    All,
    /// `\Archive`
    Archive,
    /// `\Drafts`
    Drafts,
    /// `\Flagged`
    Flagged,
    /// `\Junk`
    Junk,
    /// `\Sent`
    Sent,
    /// `\Trash`
    Trash,
    /// Another `"\" atom`.
    Extension(Atom),
}

const ATTRS: &[(&str, MailboxAttr)] = &[
    ("Noinferiors", MailboxAttr::NoInferiors),
    ("Noselect", MailboxAttr::NoSelect),
    ("Marked", MailboxAttr::Marked),
    ("Unmarked", MailboxAttr::Unmarked),
    ("NonExistent", MailboxAttr::NonExistent),
    ("Subscribed", MailboxAttr::Subscribed),
    ("Remote", MailboxAttr::Remote),
    ("HasChildren", MailboxAttr::HasChildren),
    ("HasNoChildren", MailboxAttr::HasNoChildren),
    ("All", MailboxAttr::All),
    ("Archive", MailboxAttr::Archive),
    ("Drafts", MailboxAttr::Drafts),
    ("Flagged", MailboxAttr::Flagged),
    ("Junk", MailboxAttr::Junk),
    ("Sent", MailboxAttr::Sent),
    ("Trash", MailboxAttr::Trash),
];

impl MailboxAttr {
    /// The attribute named by `"\" name` (case-insensitive).
    pub fn from_name(name: Atom) -> Self {
        let b = name.as_bytes();
        // Dispatch on the length, then one case-insensitive comparison or two.
        let candidates: &[(&[u8], Self)] = match b.len() {
            3 => &[(b"all", Self::All)],
            4 => &[(b"junk", Self::Junk), (b"sent", Self::Sent)],
            5 => &[(b"trash", Self::Trash)],
            6 => &[
                (b"marked", Self::Marked),
                (b"remote", Self::Remote),
                (b"drafts", Self::Drafts),
            ],
            7 => &[(b"archive", Self::Archive), (b"flagged", Self::Flagged)],
            8 => &[(b"noselect", Self::NoSelect), (b"unmarked", Self::Unmarked)],
            10 => &[(b"subscribed", Self::Subscribed)],
            11 => &[
                (b"noinferiors", Self::NoInferiors),
                (b"nonexistent", Self::NonExistent),
                (b"haschildren", Self::HasChildren),
            ],
            13 => &[(b"hasnochildren", Self::HasNoChildren)],
            _ => &[],
        };
        candidates
            .iter()
            .find(|(n, _)| eq_letters(b, n))
            .map_or(Self::Extension(name), |(_, a)| a.clone())
    }

    /// The attribute's name without the backslash.
    pub fn name(&self) -> &str {
        match self {
            Self::Extension(a) => a.as_str(),
            known => ATTRS
                .iter()
                .find(|(_, a)| a == known)
                .map_or("", |(n, _)| n),
        }
    }
}

/// How STORE changes flags: `["+" / "-"] "FLAGS" [".SILENT"]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// `FLAGS`: replace.
    Replace,
    /// `+FLAGS`: add.
    Add,
    /// `-FLAGS`: remove.
    Remove,
}

/// `word` in lower case in a fixed buffer, or `None` when it is longer than `N` (then it is
/// none of the names compared against).
fn lower<const N: usize>(b: &[u8]) -> Option<[u8; N]> {
    if b.len() > N {
        return None;
    }
    let mut out = [0u8; N];
    for (d, s) in out.iter_mut().zip(b) {
        *d = s.to_ascii_lowercase();
    }
    Some(out)
}

/// Case-insensitive equality of `input` with `lower`, a lower-case alphabetic word of the same
/// length: `b | 0x20` equals a lower-case letter only for that letter and its capital, so one
/// branch-free pass decides.
#[inline]
fn eq_letters(input: &[u8], lower: &[u8]) -> bool {
    input.len() == lower.len()
        && input
            .iter()
            .zip(lower)
            .fold(0u8, |acc, (a, b)| acc | ((a | 0x20) ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_and_flags_compare_case_insensitively() {
        let attr = |s: &str| MailboxAttr::from_name(Atom::new(s).expect("atom"));
        assert_eq!(attr("HasNoChildren"), MailboxAttr::HasNoChildren);
        assert_eq!(attr("hasnochildren"), MailboxAttr::HasNoChildren);
        assert_eq!(attr("NOSELECT"), MailboxAttr::NoSelect);
        assert_eq!(attr("Sent"), MailboxAttr::Sent);
        // Same length, one character off (and '@' | 0x20 is '`', not a letter).
        assert!(matches!(attr("Sena"), MailboxAttr::Extension(_)));
        assert!(matches!(attr("@ll"), MailboxAttr::Extension(_)));
        for a in ATTRS.iter().map(|(_, a)| a) {
            assert_eq!(&attr(a.name()), a);
        }
        assert_eq!(Flag::new("\\SEEN"), Ok(Flag::Seen));
        assert_eq!(Flag::new("\\draft"), Ok(Flag::Draft));
        assert!(Flag::new("\\recent").is_err());
        assert!(matches!(Flag::new("\\Seenx"), Ok(Flag::Extension(_))));
    }
}
