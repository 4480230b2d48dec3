//! Base64 at the protocol edge.
//!
//! IMAP (`AUTHENTICATE`), POP3 (`AUTH`) and SMTP (`AUTH`) all carry SASL
//! messages as base64 text; a client line consisting of `*` cancels the
//! exchange, and an *initial* response that is empty is sent as `=`
//! (RFC 4959, RFC 4954, RFC 5034). These helpers implement exactly that so
//! the step machines can work on raw bytes.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::Error;

/// What a client sends to cancel an exchange.
pub const CANCEL: &str = "*";

/// Standard alphabet, padding written, padding optional when reading (some
/// clients omit it).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes a challenge or response as base64 (empty input gives `""`).
pub fn encode(data: &[u8]) -> String {
    LENIENT.encode(data)
}

/// Encodes an initial response: like [`encode`] but an empty response is `=`.
pub fn encode_initial_response(data: &[u8]) -> String {
    if data.is_empty() {
        "=".to_owned()
    } else {
        encode(data)
    }
}

/// Returns true when a client line is the `*` cancellation.
pub fn is_cancel(text: &str) -> bool {
    text.trim() == CANCEL
}

/// Decodes a client response or server challenge line.
///
/// Surrounding whitespace (including a trailing CRLF) is ignored. A lone `*`
/// yields [`Error::Cancelled`]; a lone `=` (empty initial response) yields an
/// empty vector.
pub fn decode(text: &str) -> Result<Vec<u8>, Error> {
    let text = text.trim();
    if text == CANCEL {
        return Err(Error::Cancelled);
    }
    if text == "=" {
        return Ok(Vec::new());
    }
    LENIENT.decode(text).map_err(|_| Error::Base64)
}

/// Decodes a server challenge: like [`decode`] but `*` is not special.
pub(crate) fn decode_challenge(text: &str) -> Result<Vec<u8>, Error> {
    let text = text.trim();
    if text == "=" {
        return Ok(Vec::new());
    }
    LENIENT.decode(text).map_err(|_| Error::Base64)
}

/// Strict base64 as used inside SCRAM attributes.
pub(crate) fn encode_std(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Strict base64 decoding as used inside SCRAM attributes.
pub(crate) fn decode_std(text: &str) -> Result<Vec<u8>, Error> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| Error::Base64)
}

/// Lower-case hexadecimal.
pub(crate) fn hex_lower(data: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(data.len() * 2);
    for &b in data {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Decodes hexadecimal (either case); `None` on odd length or bad digits.
pub(crate) fn decode_hex(text: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| match pair {
            [hi, lo] => Some((nibble(*hi)? << 4) | nibble(*lo)?),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_edges() {
        assert_eq!(encode(b""), "");
        assert_eq!(encode_initial_response(b""), "=");
        assert_eq!(decode("=").unwrap(), b"");
        assert_eq!(decode(" dGlt \r\n").unwrap(), b"tim");
        assert_eq!(decode("dGltMQ").unwrap(), b"tim1");
        assert_eq!(decode("*"), Err(Error::Cancelled));
        assert_eq!(decode("*\r\n"), Err(Error::Cancelled));
        assert_eq!(decode("!!!"), Err(Error::Base64));
        assert!(is_cancel(" * "));
    }

    #[test]
    fn hex() {
        assert_eq!(hex_lower(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(decode_hex("00ABff"), Some(vec![0, 0xab, 0xff]));
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex("zz"), None);
    }
}
