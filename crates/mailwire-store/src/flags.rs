//! Message flags: the IMAP system flags and keywords, and their Maildir spelling.

use std::collections::BTreeSet;
use std::fmt;

use crate::error::StoreError;

/// One message flag.
///
/// `\Recent` is not a flag of this store (IMAP4rev2 removed it; see the crate notes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flag {
    /// `\Seen`
    Seen,
    /// `\Answered`
    Answered,
    /// `\Flagged`
    Flagged,
    /// `\Deleted`
    Deleted,
    /// `\Draft`
    Draft,
    /// A keyword (an IMAP atom not starting with `\`).
    Keyword(String),
}

const SYSTEM: [(Flag, u8, &str, char); 5] = [
    (Flag::Seen, 1, "\\Seen", 'S'),
    (Flag::Answered, 2, "\\Answered", 'R'),
    (Flag::Flagged, 4, "\\Flagged", 'F'),
    (Flag::Deleted, 8, "\\Deleted", 'T'),
    (Flag::Draft, 16, "\\Draft", 'D'),
];

/// Longest accepted keyword.
pub const MAX_KEYWORD_LEN: usize = 128;

impl Flag {
    /// Parses an IMAP flag: a system flag (case-insensitive, with the backslash) or a keyword.
    /// `\Recent`, unknown `\` flags and keywords that are not IMAP atoms are refused with
    /// [`StoreError::InvalidFlag`].
    pub fn parse(s: &str) -> Result<Flag, StoreError> {
        if let Some(rest) = s.strip_prefix('\\') {
            for (f, _, name, _) in &SYSTEM {
                if name[1..].eq_ignore_ascii_case(rest) {
                    return Ok(f.clone());
                }
            }
            return Err(StoreError::InvalidFlag(s.to_owned()));
        }
        Flag::keyword(s)
    }

    /// A keyword flag, validated as an IMAP atom.
    pub fn keyword(s: &str) -> Result<Flag, StoreError> {
        let ok = !s.is_empty()
            && s.len() <= MAX_KEYWORD_LEN
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b));
        if ok {
            Ok(Flag::Keyword(s.to_owned()))
        } else {
            Err(StoreError::InvalidFlag(s.to_owned()))
        }
    }

    fn bit(&self) -> Option<u8> {
        SYSTEM.iter().find(|(f, ..)| f == self).map(|(_, b, ..)| *b)
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Flag::Keyword(k) => f.write_str(k),
            other => {
                let name = SYSTEM
                    .iter()
                    .find(|(x, ..)| x == other)
                    .map_or("", |(_, _, n, _)| n);
                f.write_str(name)
            }
        }
    }
}

/// A set of flags.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Flags {
    system: u8,
    keywords: BTreeSet<String>,
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(|x| x.to_string()))
            .finish()
    }
}

/// How [`store_flags`](crate::Mailbox::store_flags) combines the given flags with a message's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    /// `+FLAGS`
    Add,
    /// `-FLAGS`
    Remove,
    /// `FLAGS`
    Replace,
}

impl Flags {
    /// The empty set.
    pub fn new() -> Flags {
        Flags::default()
    }

    /// Parses IMAP flag strings (see [`Flag::parse`]).
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Flags, StoreError> {
        let mut f = Flags::new();
        for s in items {
            f.insert(Flag::parse(s.as_ref())?);
        }
        Ok(f)
    }

    /// Builder: adds a flag.
    pub fn with(mut self, flag: Flag) -> Flags {
        self.insert(flag);
        self
    }

    /// Adds a flag; true if it was not there.
    pub fn insert(&mut self, flag: Flag) -> bool {
        match flag.bit() {
            Some(b) => {
                let had = self.system & b != 0;
                self.system |= b;
                !had
            }
            None => match flag {
                Flag::Keyword(k) => self.keywords.insert(k),
                _ => false,
            },
        }
    }

    /// Removes a flag; true if it was there.
    pub fn remove(&mut self, flag: &Flag) -> bool {
        match flag.bit() {
            Some(b) => {
                let had = self.system & b != 0;
                self.system &= !b;
                had
            }
            None => match flag {
                Flag::Keyword(k) => self.keywords.remove(k),
                _ => false,
            },
        }
    }

    /// Does the set contain `flag`?
    pub fn contains(&self, flag: &Flag) -> bool {
        match flag.bit() {
            Some(b) => self.system & b != 0,
            None => match flag {
                Flag::Keyword(k) => self.keywords.contains(k),
                _ => false,
            },
        }
    }

    /// Shorthand for `contains(&Flag::Seen)`.
    pub fn is_seen(&self) -> bool {
        self.system & 1 != 0
    }

    /// Shorthand for `contains(&Flag::Deleted)`.
    pub fn is_deleted(&self) -> bool {
        self.system & 8 != 0
    }

    /// True when no flag is set.
    pub fn is_empty(&self) -> bool {
        self.system == 0 && self.keywords.is_empty()
    }

    /// The flags, system flags first (in the order Seen, Answered, Flagged, Deleted, Draft),
    /// then keywords in byte order.
    pub fn iter(&self) -> impl Iterator<Item = Flag> + '_ {
        SYSTEM
            .iter()
            .filter(|(_, b, ..)| self.system & b != 0)
            .map(|(f, ..)| f.clone())
            .chain(self.keywords.iter().map(|k| Flag::Keyword(k.clone())))
    }

    /// The keywords.
    pub fn keywords(&self) -> impl Iterator<Item = &str> {
        self.keywords.iter().map(String::as_str)
    }

    /// The IMAP spelling of each flag.
    pub fn to_strings(&self) -> Vec<String> {
        self.iter().map(|f| f.to_string()).collect()
    }

    /// Applies `op` with `other`; returns the result.
    pub fn apply(&self, op: FlagOp, other: &Flags) -> Flags {
        match op {
            FlagOp::Replace => other.clone(),
            FlagOp::Add => Flags {
                system: self.system | other.system,
                keywords: self.keywords.union(&other.keywords).cloned().collect(),
            },
            FlagOp::Remove => Flags {
                system: self.system & !other.system,
                keywords: self.keywords.difference(&other.keywords).cloned().collect(),
            },
        }
    }

    pub(crate) fn system_bits(&self) -> u8 {
        self.system
    }

    pub(crate) fn from_parts(system: u8, keywords: BTreeSet<String>) -> Flags {
        Flags {
            system: system & 31,
            keywords,
        }
    }

    /// The system flags as Maildir info letters, sorted (`DFRST`).
    pub fn maildir_letters(&self) -> String {
        let mut v: Vec<char> = SYSTEM
            .iter()
            .filter(|(_, b, ..)| self.system & b != 0)
            .map(|(.., c)| *c)
            .collect();
        v.sort_unstable();
        v.into_iter().collect()
    }

    /// The system flags named by Maildir info letters (unknown letters are ignored).
    pub fn from_maildir_letters(letters: &str) -> Flags {
        let mut f = Flags::new();
        for c in letters.chars() {
            if let Some((flag, ..)) = SYSTEM.iter().find(|(.., l)| *l == c) {
                f.insert(flag.clone());
            }
        }
        f
    }
}

impl FromIterator<Flag> for Flags {
    fn from_iter<I: IntoIterator<Item = Flag>>(iter: I) -> Self {
        let mut f = Flags::new();
        for x in iter {
            f.insert(x);
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_letters() {
        let f = Flags::parse(&["\\seen", "\\Deleted", "$Junk", "\\Draft"]).unwrap();
        assert_eq!(f.maildir_letters(), "DST");
        assert_eq!(f.to_strings(), ["\\Seen", "\\Deleted", "\\Draft", "$Junk"]);
        assert!(Flags::parse(&["\\Recent"]).is_err());
        assert!(Flags::parse(&["a b"]).is_err());
        assert!(Flags::parse(&["\\Foo"]).is_err());
        let g = Flags::from_maildir_letters("FRSTDPa");
        assert_eq!(g.maildir_letters(), "DFRST");
        let h = g.apply(FlagOp::Remove, &Flags::new().with(Flag::Seen));
        assert!(!h.is_seen() && h.contains(&Flag::Flagged));
    }
}
