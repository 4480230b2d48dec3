//! UID sets as sorted, merged inclusive ranges, for QRESYNC (RFC 7162 §3.2.5): the store's
//! vanished ranges can span most of `1:UIDNEXT`, so they are cut and intersected as ranges,
//! never expanded.

use std::num::NonZeroU32;
use std::ops::RangeInclusive;

use crate::proto::types::sequence::{SeqNum, SeqRange, SequenceSet};

/// Sorts and merges ranges (touching ones too); empty ones are dropped.
fn merge(mut v: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    v.retain(|(a, b)| a <= b);
    v.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The store's ranges, sorted and merged.
pub(super) fn normalise(v: Vec<RangeInclusive<u32>>) -> Vec<(u32, u32)> {
    merge(v.into_iter().map(|r| (*r.start(), *r.end())).collect())
}

/// A sequence set's ranges with `*` as `largest` (`$` is empty).
pub(super) fn of_set(set: &SequenceSet, largest: u32) -> Vec<(u32, u32)> {
    let v = |s: &SeqNum| match s {
        SeqNum::Value(n) => n.get(),
        SeqNum::Largest => largest,
    };
    match set {
        SequenceSet::Saved => Vec::new(),
        SequenceSet::Set(r) => merge(
            r.iter()
                .map(|r| match r {
                    SeqRange::Single(s) => (v(s), v(s)),
                    SeqRange::Range(a, b) => (v(a).min(v(b)), v(a).max(v(b))),
                })
                .collect(),
        ),
    }
}

/// The numbers of `r` in order, at most `cap` of them.
pub(super) fn expand(r: &[(u32, u32)], cap: usize) -> Vec<u32> {
    r.iter().flat_map(|&(a, b)| a..=b).take(cap).collect()
}

/// The intersection of two merged range lists.
pub(super) fn intersect(a: &[(u32, u32)], b: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        let lo = a[i].0.max(b[j].0);
        let hi = a[i].1.min(b[j].1);
        if lo <= hi {
            out.push((lo, hi));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// `r` without the numbers of `points` (ascending).
pub(super) fn remove_points(r: &[(u32, u32)], points: &[u32]) -> Vec<(u32, u32)> {
    let mut out = Vec::with_capacity(r.len());
    let mut p = points.iter().map(|&x| u64::from(x)).peekable();
    for &(a, b) in r {
        // In u64, so that one past u32::MAX exists.
        let (mut start, end) = (u64::from(a), u64::from(b));
        while p.peek().is_some_and(|&x| x < start) {
            p.next();
        }
        while let Some(&x) = p.peek() {
            if x > end {
                break;
            }
            if x > start {
                out.push((start as u32, (x - 1) as u32));
            }
            start = x + 1;
            p.next();
        }
        if start <= end {
            out.push((start as u32, end as u32));
        }
    }
    out
}

/// Whether `n` is in the merged list.
pub(super) fn contains(r: &[(u32, u32)], n: u32) -> bool {
    let i = r.partition_point(|&(_, b)| b < n);
    r.get(i).is_some_and(|&(a, _)| a <= n)
}

/// The list as a sequence set (`None` when empty or when it holds only zero).
pub(super) fn to_set(r: &[(u32, u32)]) -> Option<SequenceSet> {
    let ranges: Vec<SeqRange> = r
        .iter()
        .filter_map(|&(a, b)| {
            let a = NonZeroU32::new(a.max(1))?;
            let b = NonZeroU32::new(b)?;
            Some(if a == b {
                SeqRange::Single(SeqNum::Value(a))
            } else {
                SeqRange::Range(SeqNum::Value(a), SeqNum::Value(b))
            })
        })
        .collect();
    SequenceSet::new(ranges).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_sorts_and_joins_touching_ranges() {
        assert_eq!(
            normalise(vec![
                5..=6,
                1..=2,
                3..=3,
                RangeInclusive::new(9, 8),
                10..=12,
                11..=11
            ]),
            vec![(1, 3), (5, 6), (10, 12)]
        );
    }

    #[test]
    fn intersect_and_remove_points() {
        let a = vec![(1, 10), (20, 30)];
        let b = vec![(5, 22), (29, u32::MAX)];
        assert_eq!(intersect(&a, &b), vec![(5, 10), (20, 22), (29, 30)]);
        assert_eq!(
            remove_points(&[(1, 10), (20, 20)], &[1, 5, 6, 10, 20, 40]),
            vec![(2, 4), (7, 9)]
        );
        assert_eq!(
            remove_points(&[(u32::MAX - 1, u32::MAX)], &[u32::MAX]),
            vec![(u32::MAX - 1, u32::MAX - 1)]
        );
        assert!(contains(&a, 25) && contains(&a, 1) && !contains(&a, 11) && !contains(&a, 31));
    }

    #[test]
    fn sets_round_trip() {
        let s: SequenceSet = SequenceSet::new(vec![
            SeqRange::Range(SeqNum::Value(NonZeroU32::new(7).unwrap()), SeqNum::Largest),
            SeqRange::Single(SeqNum::Value(NonZeroU32::new(2).unwrap())),
        ])
        .unwrap();
        let r = of_set(&s, 9);
        assert_eq!(r, vec![(2, 2), (7, 9)]);
        assert_eq!(to_set(&r).unwrap().to_string(), "2,7:9");
        assert_eq!(expand(&r, 3), vec![2, 7, 8]);
        assert!(to_set(&[]).is_none());
    }
}
