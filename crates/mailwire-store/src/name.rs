//! Mailbox names: validation, the `/` hierarchy, modified UTF-7 (RFC 3501 §5.1.3) and the
//! Maildir++ folder names used on disk.

use std::fmt;

use mailwire_codec::{decode_utf7, decode_utf7_lenient, encode_utf7, encode_utf7_with};

use crate::error::StoreError;

/// The hierarchy delimiter of mailbox names in this API.
pub const DELIMITER: char = '/';

/// Longest accepted mailbox name, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 512;

/// A validated mailbox name: UTF-8, components separated by `/`.
///
/// Refused (with [`StoreError::InvalidMailboxName`]): the empty name, empty components (a
/// leading, trailing or doubled `/`), the components `.` and `..`, NUL and other control
/// characters, the LIST wildcards `*` and `%`, and names longer than [`MAX_NAME_LEN`] or whose
/// Maildir++ folder name would not fit in one directory entry. The first component `INBOX` is
/// case-insensitive and normalised to upper case (`inbox/x` is `INBOX/x`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxName(String);

impl fmt::Debug for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for MailboxName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

fn invalid(name: &str, reason: &'static str) -> StoreError {
    StoreError::InvalidMailboxName {
        name: name.to_owned(),
        reason,
    }
}

impl MailboxName {
    /// The INBOX.
    pub fn inbox() -> MailboxName {
        MailboxName("INBOX".to_owned())
    }

    /// Validates a UTF-8 mailbox name (see the type's documentation for the rules).
    pub fn new(name: &str) -> Result<MailboxName, StoreError> {
        if name.is_empty() {
            return Err(invalid(name, "empty name"));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(invalid(name, "name too long"));
        }
        if name.chars().any(|c| c.is_control()) {
            return Err(invalid(name, "control character"));
        }
        if name.contains(['*', '%']) {
            return Err(invalid(name, "wildcard character"));
        }
        let mut out = String::with_capacity(name.len());
        for (i, comp) in name.split(DELIMITER).enumerate() {
            if comp.is_empty() {
                return Err(invalid(name, "empty hierarchy level (misplaced '/')"));
            }
            if comp == "." || comp == ".." {
                return Err(invalid(name, "'.' or '..' as a hierarchy level"));
            }
            if i > 0 {
                out.push(DELIMITER);
            }
            if i == 0 && comp.eq_ignore_ascii_case("INBOX") {
                out.push_str("INBOX");
            } else {
                out.push_str(comp);
            }
        }
        let n = MailboxName(out);
        if n.maildir_folder().len() > 250 {
            return Err(invalid(name, "name too long for a Maildir++ folder"));
        }
        Ok(n)
    }

    /// Decodes a name given in modified UTF-7 (as IMAP clients without UTF8=ACCEPT send it) and
    /// validates it. Invalid modified UTF-7 is refused.
    pub fn from_utf7(name: &str) -> Result<MailboxName, StoreError> {
        let decoded =
            decode_utf7(name.as_bytes()).ok_or_else(|| invalid(name, "invalid modified UTF-7"))?;
        MailboxName::new(&decoded)
    }

    /// The name in modified UTF-7.
    pub fn to_utf7(&self) -> String {
        encode_utf7(&self.0)
    }

    /// The name as UTF-8.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Is this the INBOX itself?
    pub fn is_inbox(&self) -> bool {
        self.0 == "INBOX"
    }

    /// The hierarchy levels.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split(DELIMITER)
    }

    /// The parent name, if this name has more than one level.
    pub fn parent(&self) -> Option<MailboxName> {
        self.0
            .rfind(DELIMITER)
            .map(|p| MailboxName(self.0[..p].to_owned()))
    }

    /// All ancestors, nearest first.
    pub fn ancestors(&self) -> Vec<MailboxName> {
        let mut out = Vec::new();
        let mut cur = self.parent();
        while let Some(p) = cur {
            cur = p.parent();
            out.push(p);
        }
        out
    }

    /// Is `self` strictly below `other` in the hierarchy?
    pub fn is_under(&self, other: &MailboxName) -> bool {
        self.0.len() > other.0.len()
            && self.0.starts_with(&other.0)
            && self.0.as_bytes()[other.0.len()] == DELIMITER as u8
    }

    /// `self` with the prefix `from` replaced by `to` (for renames of children).
    pub(crate) fn rebase(&self, from: &MailboxName, to: &MailboxName) -> Option<MailboxName> {
        if self == from {
            Some(to.clone())
        } else if self.is_under(from) {
            MailboxName::new(&format!("{}{}", to.0, &self.0[from.0.len()..])).ok()
        } else {
            None
        }
    }

    /// The Maildir++ folder directory name (`.A.B` for `A/B`); each level is modified UTF-7
    /// with `.` additionally encoded (so that it cannot be taken for the hierarchy separator).
    pub fn maildir_folder(&self) -> String {
        let mut out = String::new();
        for comp in self.components() {
            out.push('.');
            out.push_str(&encode_utf7_with(comp, |c| c == '.'));
        }
        out
    }

    /// The mailbox name of a Maildir++ folder directory name (`.A.B` → `A/B`); `None` when it is
    /// not one (no leading dot, undecodable, or an invalid name).
    pub fn from_maildir_folder(dir: &str) -> Option<MailboxName> {
        let rest = dir.strip_prefix('.')?;
        if rest.is_empty() {
            return None;
        }
        let mut name = String::new();
        for (i, comp) in rest.split('.').enumerate() {
            if i > 0 {
                name.push(DELIMITER);
            }
            name.push_str(&decode_utf7_lenient(comp.as_bytes())?);
        }
        MailboxName::new(&name).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        for bad in [
            "", "/", "a/", "/a", "a//b", "..", "a/../b", ".", "a\0b", "a\nb", "x*", "%",
        ] {
            assert!(MailboxName::new(bad).is_err(), "{bad:?}");
        }
        assert_eq!(MailboxName::new("inbox").unwrap().as_str(), "INBOX");
        assert_eq!(MailboxName::new("InBox/Sub").unwrap().as_str(), "INBOX/Sub");
        assert_eq!(MailboxName::new("a.b/c").unwrap().as_str(), "a.b/c");
        assert!(MailboxName::new(&"x".repeat(300)).is_err());
    }

    #[test]
    fn utf7_roundtrip() {
        for s in [
            "Entwürfe",
            "台北",
            "a&b",
            "~peter/mail/日本語",
            "😀x",
            "plain",
        ] {
            let e = encode_utf7(s);
            assert_eq!(decode_utf7(e.as_bytes()).as_deref(), Some(s), "{e}");
        }
        assert_eq!(encode_utf7("Entwürfe"), "Entw&APw-rfe");
        assert_eq!(encode_utf7("a&b"), "a&-b");
        assert_eq!(encode_utf7("台北"), "&U,BTFw-");
        for bad in ["&", "&Jjo", "&AGE-", "&U,BTFw-&ZeVnLIqe-", "&Jj-", "é"] {
            assert_eq!(decode_utf7(bad.as_bytes()), None, "{bad}");
        }
        assert!(MailboxName::from_utf7("&U,BTFw-").is_ok());
        assert!(MailboxName::from_utf7("&Jjo").is_err());
    }

    #[test]
    fn maildir_folders() {
        let n = MailboxName::new("a.b/Entwürfe").unwrap();
        let f = n.maildir_folder();
        assert!(!f[1..].contains("..") && f.matches('.').count() == 2, "{f}");
        assert_eq!(MailboxName::from_maildir_folder(&f), Some(n));
        assert_eq!(
            MailboxName::new("Sent/x").unwrap().maildir_folder(),
            ".Sent.x"
        );
        assert_eq!(MailboxName::from_maildir_folder("."), None);
        assert_eq!(MailboxName::from_maildir_folder(".."), None);
        assert_eq!(MailboxName::from_maildir_folder("cur"), None);
    }

    #[test]
    fn hierarchy() {
        let a = MailboxName::new("a").unwrap();
        let ab = MailboxName::new("a/b").unwrap();
        let abc = MailboxName::new("ab").unwrap();
        assert!(ab.is_under(&a) && !abc.is_under(&a) && !a.is_under(&a));
        assert_eq!(ab.parent(), Some(a.clone()));
        let z = MailboxName::new("z").unwrap();
        assert_eq!(ab.rebase(&a, &z).unwrap().as_str(), "z/b");
    }
}
