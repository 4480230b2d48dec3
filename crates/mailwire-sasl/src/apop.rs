//! POP3 APOP (RFC 1939 §7): `MD5(timestamp || secret)` in hex.
//!
//! The banner timestamp is built with [`make_challenge`](crate::cram::make_challenge)
//! (`<random.timestamp@host>`), like a CRAM-MD5 challenge. APOP needs a
//! plaintext-equivalent secret: offer it only when
//! [`Authenticator::supports_apop`] is true.

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

use crate::Error;
use crate::authenticator::{Authenticator, Credentials};
use crate::wire::{decode_hex, hex_lower};

/// The APOP digest: 32 lower-case hex digits of `MD5(timestamp || secret)`.
/// `timestamp` includes the angle brackets.
pub fn apop_digest(timestamp: &str, secret: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(timestamp.as_bytes());
    md5.update(secret.as_bytes());
    hex_lower(&md5.finalize())
}

/// Checks a client's digest (hex, either case) in constant time.
pub fn verify_apop(timestamp: &str, secret: &str, digest: &str) -> bool {
    let Some(received) = decode_hex(digest.trim()) else {
        return false;
    };
    let expected = decode_hex(&apop_digest(timestamp, secret)).unwrap_or_default();
    bool::from(expected.ct_eq(&received))
}

/// Verifies `APOP user digest` against an [`Authenticator`]: succeeds when
/// the backend has a plaintext-equivalent secret for `user`, the digest
/// matches, and `user` may act as itself ([`Authenticator::authorize`] with
/// an empty authzid). APOP is not a SASL mechanism, so there is no
/// [`Authenticated`](crate::Authenticated) value: the identity is `user`.
pub fn authenticate_apop<A: Authenticator + ?Sized>(
    auth: &A,
    user: &str,
    timestamp: &str,
    digest: &str,
) -> Result<(), Error> {
    if !auth.supports_apop() {
        return Err(Error::AuthenticationFailed);
    }
    match auth.credentials(user) {
        Some(Credentials::Password(secret)) if verify_apop(timestamp, secret.expose(), digest) => {
            if auth.authorize(user, "") {
                Ok(())
            } else {
                Err(Error::AuthorizationFailed)
            }
        }
        _ => Err(Error::AuthenticationFailed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1939_example() {
        let ts = "<1896.697170952@dbc.mtview.ca.us>";
        assert_eq!(
            apop_digest(ts, "tanstaaf"),
            "c4c9334bac560ecc979e58001b3e22fb"
        );
        assert!(verify_apop(
            ts,
            "tanstaaf",
            "c4c9334bac560ecc979e58001b3e22fb"
        ));
        assert!(verify_apop(
            ts,
            "tanstaaf",
            "C4C9334BAC560ECC979E58001B3E22FB"
        ));
        assert!(!verify_apop(
            ts,
            "tanstaaf",
            "c4c9334bac560ecc979e58001b3e22fc"
        ));
        assert!(!verify_apop(ts, "tanstaaf", "c4c9"));
        assert!(!verify_apop(ts, "tanstaaf", "zz"));
        assert!(!verify_apop(
            ts,
            "wrong",
            "c4c9334bac560ecc979e58001b3e22fb"
        ));
    }

    #[test]
    fn with_authenticator() {
        let ts = "<1896.697170952@dbc.mtview.ca.us>";
        let auth = crate::StaticAuthenticator::new().with_user("mrose", "tanstaaf");
        assert_eq!(
            authenticate_apop(&auth, "mrose", ts, "c4c9334bac560ecc979e58001b3e22fb"),
            Ok(())
        );
        assert_eq!(
            authenticate_apop(&auth, "mrose", ts, "00000000000000000000000000000000"),
            Err(Error::AuthenticationFailed)
        );
        assert_eq!(
            authenticate_apop(&auth, "nobody", ts, "c4c9334bac560ecc979e58001b3e22fb"),
            Err(Error::AuthenticationFailed)
        );
    }
}
