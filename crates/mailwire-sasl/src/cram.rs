//! CRAM-MD5 (RFC 2195) and the `<random.timestamp@host>` challenge shared
//! with POP3 APOP.

use hmac::{Hmac, Mac};
use md5::Md5;
use subtle::ConstantTimeEq;

use crate::Error;
use crate::wire::{decode_hex, hex_lower};

/// Builds a `<random.timestamp@host>` message-id style challenge
/// (RFC 2195 §2, RFC 1939 §7). `host` should be the server's host name.
pub fn make_challenge(random: u64, timestamp: u64, host: &str) -> String {
    format!("<{random}.{timestamp}@{host}>")
}

/// `HMAC-MD5(secret, challenge)` as 32 lower-case hex digits.
pub fn digest(secret: &[u8], challenge: &[u8]) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac =
        <Hmac<Md5> as Mac>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(challenge);
    hex_lower(&mac.finalize().into_bytes())
}

/// The client's response: `user SP digest`.
pub fn response(username: &str, secret: &[u8], challenge: &[u8]) -> Vec<u8> {
    format!("{username} {}", digest(secret, challenge)).into_bytes()
}

/// Splits a client response into user name and digest bytes. The user name
/// is everything before the last space (RFC 2195 allows spaces in it).
pub fn parse_response(msg: &[u8]) -> Result<(&str, [u8; 16]), Error> {
    let text = core::str::from_utf8(msg)
        .map_err(|_| Error::Malformed("CRAM-MD5 response is not UTF-8"))?;
    let (user, hex) = text
        .rsplit_once(' ')
        .ok_or(Error::Malformed("CRAM-MD5 response lacks a space"))?;
    if user.is_empty() {
        return Err(Error::Malformed("empty CRAM-MD5 user name"));
    }
    let bytes = decode_hex(hex).ok_or(Error::Malformed("CRAM-MD5 digest is not hex"))?;
    let digest: [u8; 16] = bytes
        .try_into()
        .map_err(|_| Error::Malformed("CRAM-MD5 digest is not 16 octets"))?;
    Ok((user, digest))
}

/// Checks a received digest against the expected one in constant time.
pub fn verify(secret: &[u8], challenge: &[u8], received: &[u8; 16]) -> bool {
    let expected = decode_hex(&digest(secret, challenge)).unwrap_or_default();
    bool::from(expected.ct_eq(received))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2195_example() {
        let challenge = b"<1896.697170952@postoffice.reston.mci.net>";
        assert_eq!(
            response("tim", b"tanstaaftanstaaf", challenge),
            b"tim b913a602c7eda7a495b4e6e7334d3890"
        );
        let (user, d) = parse_response(b"tim b913a602c7eda7a495b4e6e7334d3890").unwrap();
        assert_eq!(user, "tim");
        assert!(verify(b"tanstaaftanstaaf", challenge, &d));
        assert!(!verify(b"tanstaaf", challenge, &d));
        assert_eq!(
            make_challenge(1896, 697170952, "postoffice.reston.mci.net").as_bytes(),
            challenge
        );
    }

    #[test]
    fn malformed() {
        assert!(parse_response(b"").is_err());
        assert!(parse_response(b"tim").is_err());
        assert!(parse_response(b" b913a602c7eda7a495b4e6e7334d3890").is_err());
        assert!(parse_response(b"tim b913a602c7eda7a495b4e6e7334d38").is_err());
        assert!(parse_response(b"tim b913a602c7eda7a495b4e6e7334d389g").is_err());
        assert!(parse_response(b"tim \xff").is_err());
        let (u, _) = parse_response(b"tim smith B913A602C7EDA7A495B4E6E7334D3890").unwrap();
        assert_eq!(u, "tim smith");
    }
}
