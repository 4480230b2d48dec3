//! OAUTHBEARER (RFC 7628) and XOAUTH2 message formats.
//!
//! OAUTHBEARER: `gs2-header %x01 *(key "=" value %x01) %x01`, e.g.
//! `n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer TOKEN\x01\x01`.
//! XOAUTH2: `user=USER\x01auth=Bearer TOKEN\x01\x01`.
//!
//! On an invalid token the server sends a JSON error challenge
//! ([`TokenError::to_json`](crate::TokenError::to_json)); the client answers
//! with `\x01` (OAUTHBEARER, RFC 7628 §3.2.3) or an empty response (XOAUTH2)
//! and the server then fails the exchange.

use crate::Error;
use crate::scram::{decode_saslname, encode_saslname};

/// The key/value separator.
pub const KVSEP: u8 = 0x01;

/// XOAUTH2 initial response.
pub fn xoauth2_initial_response(user: &str, token: &str) -> Vec<u8> {
    format!("user={user}\x01auth=Bearer {token}\x01\x01").into_bytes()
}

/// OAUTHBEARER initial response; `host`/`port` are included when given.
pub fn oauthbearer_initial_response(
    authzid: Option<&str>,
    host: Option<&str>,
    port: Option<u16>,
    token: &str,
) -> Vec<u8> {
    let mut out = match authzid {
        Some(a) if !a.is_empty() => format!("n,a={},\x01", encode_saslname(a)),
        _ => "n,,\x01".to_owned(),
    };
    if let Some(host) = host {
        out.push_str(&format!("host={host}\x01"));
    }
    if let Some(port) = port {
        out.push_str(&format!("port={port}\x01"));
    }
    out.push_str(&format!("auth=Bearer {token}\x01\x01"));
    out.into_bytes()
}

/// A parsed XOAUTH2 initial response.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct XOAuth2Message<'a> {
    /// `user=`.
    pub user: &'a str,
    /// The bearer token from `auth=Bearer ...`.
    pub token: &'a str,
}

impl core::fmt::Debug for XOAuth2Message<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("XOAuth2Message")
            .field("user", &self.user)
            .field("token", &"[REDACTED]")
            .finish()
    }
}

/// A parsed OAUTHBEARER initial response.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthBearerMessage<'a> {
    /// The gs2 header's authzid (`a=`), decoded; empty when absent.
    pub authzid: String,
    /// `host=`, if present.
    pub host: Option<&'a str>,
    /// `port=`, if present.
    pub port: Option<u16>,
    /// The bearer token from `auth=Bearer ...`; empty when the client sent
    /// an empty `auth=` (RFC 7628 §4.3).
    pub token: &'a str,
}

impl core::fmt::Debug for OAuthBearerMessage<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OAuthBearerMessage")
            .field("authzid", &self.authzid)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("token", &"[REDACTED]")
            .finish()
    }
}

/// Parses `*(key "=" value %x01)`; `pairs` is the text between the leading
/// and the final separator.
fn parse_kvpairs(pairs: &str) -> Result<Vec<(&str, &str)>, Error> {
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    let body = pairs
        .strip_suffix('\x01')
        .ok_or(Error::Malformed("key/value pair not terminated"))?;
    body.split('\x01')
        .map(|pair| {
            let (key, value) = pair
                .split_once('=')
                .ok_or(Error::Malformed("key/value pair without ="))?;
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(Error::Malformed("bad key in key/value pair"));
            }
            // RFC 7628 allows VCHAR / SP / HTAB / CR / LF; non-ASCII UTF-8
            // is accepted too (internationalised user names in XOAUTH2).
            let value_ok = value
                .bytes()
                .all(|b| matches!(b, 0x21..=0x7E | 0x80..=0xFF | b' ' | b'\t' | b'\r' | b'\n'));
            if !value_ok {
                return Err(Error::Malformed("bad character in key/value pair"));
            }
            Ok((key, value))
        })
        .collect()
}

/// Extracts the token from an `auth` value `Bearer TOKEN` (scheme
/// case-insensitive). An empty value gives an empty token: RFC 7628 §4.3
/// uses an empty `auth=` to query the required scope, so it must reach the
/// validator (which rejects it and produces the error challenge).
fn bearer_token(auth: &str) -> Result<&str, Error> {
    if auth.is_empty() {
        return Ok("");
    }
    let (scheme, token) = auth
        .split_once(' ')
        .ok_or(Error::Malformed("auth value is not `Bearer <token>`"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Error::Malformed("auth scheme is not Bearer"));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(Error::Malformed("empty bearer token"));
    }
    Ok(token)
}

fn lookup<'a>(pairs: &[(&str, &'a str)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

fn utf8(msg: &[u8]) -> Result<&str, Error> {
    core::str::from_utf8(msg).map_err(|_| Error::Malformed("OAuth message is not UTF-8"))
}

/// Parses an XOAUTH2 initial response.
pub fn parse_xoauth2(msg: &[u8]) -> Result<XOAuth2Message<'_>, Error> {
    let text = utf8(msg)?;
    let pairs = text
        .strip_suffix('\x01')
        .ok_or(Error::Malformed("XOAUTH2 message not terminated"))?;
    let pairs = parse_kvpairs(pairs)?;
    let user = lookup(&pairs, "user").ok_or(Error::Malformed("XOAUTH2 message lacks user="))?;
    if user.is_empty() {
        return Err(Error::Malformed("empty XOAUTH2 user"));
    }
    let auth = lookup(&pairs, "auth").ok_or(Error::Malformed("XOAUTH2 message lacks auth="))?;
    Ok(XOAuth2Message {
        user,
        token: bearer_token(auth)?,
    })
}

/// Parses an OAUTHBEARER initial client response.
pub fn parse_oauthbearer(msg: &[u8]) -> Result<OAuthBearerMessage<'_>, Error> {
    let text = utf8(msg)?;
    let (flag, rest) = text
        .split_once(',')
        .ok_or(Error::Malformed("missing gs2 header"))?;
    match flag {
        "n" | "y" => {}
        f if f.starts_with("p=") => return Err(Error::ChannelBindingUnsupported),
        _ => return Err(Error::Malformed("bad gs2-cbind-flag")),
    }
    let (authzid, rest) = rest
        .split_once(',')
        .ok_or(Error::Malformed("missing gs2 header"))?;
    let authzid = if authzid.is_empty() {
        String::new()
    } else {
        let raw = authzid
            .strip_prefix("a=")
            .ok_or(Error::Malformed("bad authzid in gs2 header"))?;
        decode_saslname(raw)?
    };
    let inner = rest
        .strip_prefix('\x01')
        .and_then(|r| r.strip_suffix('\x01'))
        .ok_or(Error::Malformed("OAUTHBEARER message not framed by %x01"))?;
    let pairs = parse_kvpairs(inner)?;
    let auth = lookup(&pairs, "auth").ok_or(Error::Malformed("OAUTHBEARER message lacks auth="))?;
    let port = match lookup(&pairs, "port") {
        None => None,
        Some(p)
            if !p.is_empty() && !p.starts_with('0') && p.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(p.parse().map_err(|_| Error::Malformed("bad port"))?)
        }
        Some(_) => return Err(Error::Malformed("bad port")),
    };
    Ok(OAuthBearerMessage {
        authzid,
        host: lookup(&pairs, "host"),
        port,
        token: bearer_token(auth)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire;

    #[test]
    fn rfc7628_example() {
        // RFC 7628 §4.1, the IMAP initial response.
        let b64 = "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB";
        let raw = wire::decode(b64).unwrap();
        let m = parse_oauthbearer(&raw).unwrap();
        assert_eq!(m.authzid, "user@example.com");
        assert_eq!(m.host, Some("server.example.com"));
        assert_eq!(m.port, Some(143));
        assert_eq!(m.token, "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==");
        assert_eq!(
            oauthbearer_initial_response(
                Some("user@example.com"),
                Some("server.example.com"),
                Some(143),
                "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="
            ),
            raw
        );
        // §4.3: an empty auth value parses to an empty token (the
        // validator rejects it with the discovery information).
        let raw = wire::decode(
            "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9AQE=",
        )
        .unwrap();
        assert_eq!(parse_oauthbearer(&raw).unwrap().token, "");
    }

    #[test]
    fn xoauth2() {
        let msg = xoauth2_initial_response(
            "someuser@example.com",
            "ya29.vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg",
        );
        assert_eq!(
            wire::encode(&msg),
            "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2cBAQ=="
        );
        let m = parse_xoauth2(&msg).unwrap();
        assert_eq!(m.user, "someuser@example.com");
        assert_eq!(m.token, "ya29.vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg");
        assert!(!format!("{m:?}").contains("ya29"));
    }

    #[test]
    fn malformed() {
        for bad in [
            &b""[..],
            b"\x01",
            b"n,,",
            b"n,,\x01\x01",
            b"n,,\x01auth=Bearer x\x01",
            b"n,,auth=Bearer x\x01\x01",
            b"p=x,,\x01auth=Bearer x\x01\x01",
            b"n,b=x,\x01auth=Bearer x\x01\x01",
            b"n,,\x01auth=Basic x\x01\x01",
            b"n,,\x01auth=Bearer \x01\x01",
            b"n,,\x01port=0143\x01auth=Bearer x\x01\x01",
            b"n,,\x01port=99999\x01auth=Bearer x\x01\x01",
            b"n,,\x011=2\x01auth=Bearer x\x01\x01",
            b"n,,\x01auth=Bearer x\x01\x01\x01",
            b"n,,\x01auth=Bearer \xff\x01\x01",
        ] {
            assert!(parse_oauthbearer(bad).is_err(), "{bad:?}");
        }
        assert!(parse_oauthbearer(b"y,,\x01unknown=1\x01auth=bearer x\x01\x01").is_ok());
        for bad in [
            &b""[..],
            b"\x01",
            b"user=a\x01\x01",
            b"auth=Bearer x\x01\x01",
            b"user=\x01auth=Bearer x\x01\x01",
            b"user=a\x01auth=Bearer x\x01",
        ] {
            assert!(parse_xoauth2(bad).is_err(), "{bad:?}");
        }
    }
}
