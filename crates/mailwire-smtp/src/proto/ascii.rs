//! Character classes for the ASCII fast paths of the command parser: one table lookup per octet.
//!
//! Every octet from 0x80 up is in no class, so a fast path that meets one stops and leaves the
//! line to the general parser, which checks UTF-8.

/// RFC 5322 `atext`, ASCII only.
pub(crate) const ATEXT: u8 = 1 << 0;
/// `Let-dig = ALPHA / DIGIT`.
pub(crate) const LET_DIG: u8 = 1 << 1;
/// `Ldh-str` octets: `ALPHA / DIGIT / "-"`; also `esmtp-keyword` octets after the first.
pub(crate) const LDH: u8 = 1 << 2;
/// The octets of a greeting's domain that [`client_domain`](super::address) takes:
/// `ALPHA / DIGIT / "-" / "." / "_"`.
pub(crate) const HELO: u8 = 1 << 3;
/// `esmtp-value` octets, ASCII only: `%d33-60 / %d62-126`.
pub(crate) const VALUE: u8 = 1 << 4;
/// `xchar` octets taken as they are in xtext: `%d33-42 / %d44-60 / %d62-126` (not `+`, `=`).
pub(crate) const XCHAR: u8 = 1 << 5;
/// `DIGIT`.
pub(crate) const DIGIT: u8 = 1 << 6;

const TABLE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 128 {
        let b = i as u8;
        let mut c = 0;
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'/'
                    | b'='
                    | b'?'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'{'
                    | b'|'
                    | b'}'
                    | b'~'
            )
        {
            c |= ATEXT;
        }
        if b.is_ascii_alphanumeric() {
            c |= LET_DIG | LDH | HELO;
        }
        if b == b'-' {
            c |= LDH | HELO;
        }
        if b == b'.' || b == b'_' {
            c |= HELO;
        }
        if matches!(b, 33..=60 | 62..=126) {
            c |= VALUE;
            if b != b'+' {
                c |= XCHAR;
            }
        }
        if b.is_ascii_digit() {
            c |= DIGIT;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Whether octet `b` is in `class` (one of the constants above, or several or-ed together).
#[inline(always)]
pub(crate) fn is(class: u8, b: u8) -> bool {
    TABLE[usize::from(b)] & class != 0
}

/// Whether every octet of `s` is in `class`.
#[inline(always)]
pub(crate) fn all(class: u8, s: &[u8]) -> bool {
    count(class, s) == s.len()
}

/// How many octets at the start of `s` are in `class` (one of the constants above).
///
/// Eight octets at a time: eight lookups without a branch, gathered into a mask, then one
/// branch on the mask. Runs in commands are long (addresses, domains, values), and a branch
/// per octet cost more than the lookups.
#[inline(always)]
pub(crate) fn count(class: u8, s: &[u8]) -> usize {
    let mut chunks = s.chunks_exact(8);
    let mut n = 0;
    for c in &mut chunks {
        let mut m = 0u32;
        for (k, &b) in c.iter().enumerate() {
            m |= u32::from(TABLE[usize::from(b)] & class != 0) << k;
        }
        if m != 0xff {
            return n + m.trailing_ones() as usize;
        }
        n += 8;
    }
    n + chunks
        .remainder()
        .iter()
        .take_while(|&&b| is(class, b))
        .count()
}

/// Whether `w` is `name` (upper-case ASCII) ignoring ASCII case. With `name` a constant, each
/// octet is one comparison: for a letter, clearing bit 5 (`0x20`) upper-cases it, and no octet
/// but that letter's two cases gives the upper-case one; anything else is compared as it is.
#[inline(always)]
pub(crate) fn is_word(w: &[u8], name: &[u8]) -> bool {
    w.len() == name.len()
        && w.iter().zip(name).all(|(&b, &n)| {
            if n.is_ascii_uppercase() {
                b & !0x20 == n
            } else {
                b == n
            }
        })
}

/// A decimal number of 1 to 20 digits that fits a `u64` (what `str::parse` takes from at most
/// 20 digits).
#[inline]
pub(crate) fn decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !all(DIGIT, s) {
        return None;
    }
    let digit = |b: u8| u64::from(b - b'0');
    // Up to 19 digits cannot overflow (`u64::MAX` has 20); only the 20th needs checking.
    let (head, last) = s.split_at(s.len().min(19));
    let n = head.iter().fold(0u64, |n, &b| n * 10 + digit(b));
    match last {
        [] => Some(n),
        [b] => n.checked_mul(10)?.checked_add(digit(*b)),
        _ => None,
    }
}

/// `s`, known to be ASCII by the caller's class checks, as text.
/// `None` only if that was wrong, so a caller can fall back instead of panicking.
#[inline(always)]
pub(crate) fn to_str(s: &[u8]) -> Option<&str> {
    std::str::from_utf8(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each class against its definition, written out independently, for all 256 octets.
    #[test]
    fn classes_match_their_grammar() {
        const ATEXT_SPECIALS: &[u8] = b"!#$%&'*+-/=?^_`{|}~";
        for b in 0..=255u8 {
            let alpha = b.is_ascii_uppercase() || b.is_ascii_lowercase();
            let digit = b"0123456789".contains(&b);
            assert_eq!(
                is(ATEXT, b),
                alpha || digit || ATEXT_SPECIALS.contains(&b),
                "ATEXT {b:#04x}"
            );
            assert_eq!(is(LET_DIG, b), alpha || digit, "LET_DIG {b:#04x}");
            assert_eq!(is(LDH, b), alpha || digit || b == b'-', "LDH {b:#04x}");
            assert_eq!(
                is(HELO, b),
                alpha || digit || b"-._".contains(&b),
                "HELO {b:#04x}"
            );
            assert_eq!(
                is(VALUE, b),
                (b'!'..=b'~').contains(&b) && b != b'=',
                "VALUE {b:#04x}"
            );
            assert_eq!(
                is(XCHAR, b),
                (b'!'..=b'~').contains(&b) && b != b'=' && b != b'+',
                "XCHAR {b:#04x}"
            );
            assert_eq!(is(DIGIT, b), digit, "DIGIT {b:#04x}");
            if !(0x21..0x7f).contains(&b) {
                assert_eq!(TABLE[usize::from(b)], 0, "{b:#04x} must be in no class");
            }
        }
        // The boundaries of the ranges, spelled out.
        assert!(!is(VALUE, b' ') && is(VALUE, b'!') && is(VALUE, b'~') && !is(VALUE, 0x7f));
        assert!(is(VALUE, b'<') && !is(VALUE, b'=') && is(VALUE, b'>'));
        assert!(!is(LET_DIG, b'/') && is(LET_DIG, b'0') && is(LET_DIG, b'9'));
        assert!(!is(LET_DIG, b':') && !is(LET_DIG, b'@') && is(LET_DIG, b'A'));
        assert!(is(LET_DIG, b'Z') && !is(LET_DIG, b'[') && !is(LET_DIG, b'`'));
        assert!(is(LET_DIG, b'a') && is(LET_DIG, b'z') && !is(LET_DIG, b'{'));
        assert!(!is(ATEXT, b'.') && !is(ATEXT, b'@') && !is(ATEXT, b'"'));
        assert!(!is(ATEXT | HELO | VALUE, 0x80) && !is(ATEXT | HELO | VALUE, 0xff));
    }

    #[test]
    fn count_stops_at_the_first_octet_outside() {
        let line = b"abcdefghij-klm.n";
        for end in 0..=line.len() {
            for stop in [b'.', b' ', 0x80, 0xff, 0] {
                let mut s = line[..end].to_vec();
                s.retain(|&b| b != b'.');
                let n = s.len();
                s.push(stop);
                s.extend_from_slice(b"abcdef");
                assert_eq!(count(LDH, &s), n, "{s:?}");
            }
        }
        assert_eq!(count(LDH, b""), 0);
        assert_eq!(count(LDH, b"abcdefgh"), 8);
        assert_eq!(count(DIGIT, b"0123456789x"), 10);
    }

    /// `count` against the table, one octet at a time, for every class, every octet value at
    /// every position, and every length: the eight-octet checks must agree exactly.
    #[test]
    fn count_agrees_with_the_table() {
        for class in [ATEXT, LET_DIG, LDH, HELO, VALUE, XCHAR, DIGIT] {
            let fill = (0..=255u8).find(|&b| is(class, b)).unwrap();
            for len in 0..=19 {
                for pos in 0..len {
                    for b in 0..=255u8 {
                        let mut s = vec![fill; len];
                        s[pos] = b;
                        let want = s.iter().take_while(|&&b| is(class, b)).count();
                        assert_eq!(count(class, &s), want, "class {class} {s:?}");
                    }
                }
                assert_eq!(count(class, &vec![fill; len]), len);
            }
        }
    }

    #[test]
    fn decimal_takes_what_str_parse_takes_from_20_digits() {
        for s in [
            "0",
            "007",
            "10240",
            "1844674407370955161",
            "9999999999999999999",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999",
            "000000000000000000001",
            "",
            "1a",
            "-1",
            "+1",
        ] {
            let want = (s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u64>().ok())
                .flatten();
            assert_eq!(decimal(s.as_bytes()), want, "{s}");
        }
    }

    #[test]
    fn is_word_ignores_case_of_letters_only() {
        assert!(is_word(b"from:", b"FROM:"));
        assert!(is_word(b"FrOm:", b"FROM:"));
        assert!(is_word(b"8bitMIME", b"8BITMIME"));
        assert!(!is_word(b"FROM", b"FROM:"));
        assert!(!is_word(b"FROM:x", b"FROM:"));
        // Every octet against every letter, digit and punctuation of the names used.
        for n in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-".iter().copied() {
            for b in 0..=255u8 {
                assert_eq!(
                    is_word(&[b], &[n]),
                    b.eq_ignore_ascii_case(&n),
                    "{b:#04x} against {n:#04x}"
                );
            }
        }
    }

    #[test]
    fn all_and_to_str() {
        assert!(all(LDH, b"a-1"));
        assert!(all(LDH, b""));
        assert!(!all(LDH, b"a_1"));
        assert_eq!(to_str(b"abc"), Some("abc"));
        assert_eq!(to_str(&[0xff]), None);
    }
}
