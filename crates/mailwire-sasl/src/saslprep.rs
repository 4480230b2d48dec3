//! A partial SASLprep (RFC 4013) used for SCRAM user names and passwords
//! and for comparing PLAIN/LOGIN passwords.
//!
//! What is implemented:
//! * RFC 4013 §2.1 mapping: non-ASCII space characters (RFC 3454 C.1.2) map
//!   to SPACE, "commonly mapped to nothing" characters (B.1) are removed;
//! * RFC 4013 §2.3 prohibited output: ASCII and non-ASCII control characters
//!   (C.2.1, C.2.2), private use (C.3), non-characters (C.4), characters
//!   inappropriate for plain text (C.6) or canonical representation (C.7),
//!   change-display/deprecated characters (C.8) and tagging characters (C.9).
//!   Surrogates (C.5) cannot occur in a Rust `str`.
//!
//! What is not: NFKC normalisation (§2.2), the bidirectional check (§2.4)
//! and the unassigned-code-point check (§2.5) need Unicode tables this crate
//! does not carry. Non-ASCII strings are therefore passed through (after the
//! mapping step) in whatever normalisation form they arrived in; this
//! interoperates whenever both sides use NFKC-normal strings, which is the
//! case for ASCII and for almost all precomposed text typed on keyboards.
//! Pure printable-ASCII strings (the overwhelmingly common case) are exactly
//! SASLprep-conformant.

use std::borrow::Cow;

use crate::Error;

fn is_non_ascii_space(c: char) -> bool {
    matches!(
        c,
        '\u{00A0}' | '\u{1680}' | '\u{2000}'..='\u{200B}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

fn is_mapped_to_nothing(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{1806}'
            | '\u{180B}'..='\u{180D}'
            | '\u{200C}'
            | '\u{200D}'
            | '\u{2060}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
    )
}

fn is_prohibited(c: char) -> bool {
    let cp = u32::from(c);
    // C.4: the last two code points of every plane are non-characters.
    if cp & 0xFFFE == 0xFFFE {
        return true;
    }
    matches!(
        c,
        // C.2.1
        '\u{0000}'..='\u{001F}' | '\u{007F}'
        // C.2.2
        | '\u{0080}'..='\u{009F}'
        | '\u{06DD}'
        | '\u{070F}'
        | '\u{180E}'
        | '\u{200C}'
        | '\u{200D}'
        | '\u{2028}'
        | '\u{2029}'
        | '\u{2060}'..='\u{2063}'
        | '\u{206A}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFC}'
        | '\u{1D173}'..='\u{1D17A}'
        // C.3
        | '\u{E000}'..='\u{F8FF}'
        | '\u{F0000}'..='\u{FFFFD}'
        | '\u{100000}'..='\u{10FFFD}'
        // C.4 (the rest)
        | '\u{FDD0}'..='\u{FDEF}'
        // C.6
        | '\u{FFFD}'
        // C.7
        | '\u{2FF0}'..='\u{2FFB}'
        // C.8
        | '\u{0340}'
        | '\u{0341}'
        | '\u{200E}'
        | '\u{200F}'
        | '\u{202A}'..='\u{202E}'
        // C.9
        | '\u{E0001}'
        | '\u{E0020}'..='\u{E007F}'
    )
}

/// Prepares `input` as described in the module documentation.
///
/// Returns the input unchanged (borrowed) when it is printable ASCII.
pub(crate) fn saslprep(input: &str) -> Result<Cow<'_, str>, Error> {
    if input.bytes().all(|b| (0x20..0x7F).contains(&b)) {
        return Ok(Cow::Borrowed(input));
    }
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        if is_non_ascii_space(c) {
            out.push(' ');
        } else if is_mapped_to_nothing(c) {
            continue;
        } else if is_prohibited(c) {
            return Err(Error::Saslprep("prohibited character"));
        } else {
            out.push(c);
        }
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4013_examples_we_support() {
        // RFC 4013 §3 examples 1, 2, 5, 6 (the NFKC ones are out of scope).
        assert_eq!(saslprep("I\u{00AD}X").unwrap(), "IX");
        assert_eq!(saslprep("user").unwrap(), "user");
        assert!(saslprep("\u{0007}").is_err());
        assert_eq!(saslprep("a\u{00A0}b").unwrap(), "a b");
        assert_eq!(saslprep("pâss").unwrap(), "pâss");
        assert!(saslprep("x\u{E000}").is_err());
        assert!(saslprep("x\u{FFFF}").is_err());
        assert!(saslprep("x\u{1FFFE}").is_err());
    }
}
