//! Sequence sets: `sequence-set = (seq-number / seq-range) ["," sequence-set]` with `*`
//! (RFC 9051 §9) and `$` (RFC 5182 SEARCHRES).

use std::num::NonZeroU32;

use super::core::ValidationError;

/// A message sequence number or UID in a set, or `*` (the largest in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeqNum {
    /// A number (`nz-number`).
    Value(NonZeroU32),
    /// `*`.
    Largest,
}

/// One element of a set: a number or `a:b` (either order, both inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeqRange {
    /// `n` or `*`.
    Single(SeqNum),
    /// `a:b`.
    Range(SeqNum, SeqNum),
}

/// A sequence set, or `$`: the result saved by `SEARCH RETURN (SAVE)` (RFC 5182).
///
/// ```
/// use mailwire_imap::proto::SequenceSet;
/// let set = SequenceSet::range(1, 5).unwrap();
/// assert_eq!(set.to_string(), "1:5");
/// assert!(set.contains(3, 10));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SequenceSet {
    /// Explicit ranges (at least one).
    Set(Vec<SeqRange>),
    /// `$`.
    Saved,
}

impl SequenceSet {
    /// The set of ranges; at least one is required.
    pub fn new(ranges: Vec<SeqRange>) -> Result<Self, ValidationError> {
        if ranges.is_empty() {
            return Err(ValidationError::new(
                "sequence set",
                "at least one element is required",
            ));
        }
        Ok(Self::Set(ranges))
    }

    /// `n`; zero is refused.
    pub fn single(n: u32) -> Result<Self, ValidationError> {
        Ok(Self::Set(vec![SeqRange::Single(SeqNum::Value(nz(n)?))]))
    }

    /// `a:b`; zero is refused.
    pub fn range(a: u32, b: u32) -> Result<Self, ValidationError> {
        Ok(Self::Set(vec![SeqRange::Range(
            SeqNum::Value(nz(a)?),
            SeqNum::Value(nz(b)?),
        )]))
    }

    /// `1:*`: every message.
    pub fn all() -> Self {
        Self::Set(vec![SeqRange::Range(
            SeqNum::Value(NonZeroU32::MIN),
            SeqNum::Largest,
        )])
    }

    /// Whether `n` is in the set when the largest number in use is `largest` (`*`).
    /// `$` contains nothing (the server resolves it).
    pub fn contains(&self, n: u32, largest: u32) -> bool {
        let v = |s: &SeqNum| match s {
            SeqNum::Value(v) => v.get(),
            SeqNum::Largest => largest,
        };
        match self {
            Self::Saved => false,
            Self::Set(r) => r.iter().any(|r| match r {
                SeqRange::Single(s) => v(s) == n,
                SeqRange::Range(a, b) => {
                    let (lo, hi) = (v(a).min(v(b)), v(a).max(v(b)));
                    (lo..=hi).contains(&n)
                }
            }),
        }
    }
}

impl std::fmt::Display for SequenceSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = Vec::new();
        crate::proto::encode::write_seq_set(&mut out, self);
        f.write_str(&String::from_utf8_lossy(&out))
    }
}

fn nz(n: u32) -> Result<NonZeroU32, ValidationError> {
    NonZeroU32::new(n).ok_or(ValidationError::new(
        "sequence number",
        "zero is not allowed",
    ))
}
