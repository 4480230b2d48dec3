//! PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`.

use crate::Error;

/// The per-field limit servers must accept (RFC 4616 §2); we also reject
/// anything longer.
pub const MAX_FIELD_LEN: usize = 255;

/// A parsed PLAIN message; fields borrow from the input.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PlainMessage<'a> {
    /// The authorization identity; empty when absent.
    pub authzid: &'a str,
    /// The authentication identity (never empty).
    pub authcid: &'a str,
    /// The password (never empty).
    pub password: &'a str,
}

impl core::fmt::Debug for PlainMessage<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PlainMessage")
            .field("authzid", &self.authzid)
            .field("authcid", &self.authcid)
            .field("password", &"[REDACTED]")
            .finish()
    }
}

fn check_field(field: &'static str, value: &str, may_be_empty: bool) -> Result<(), Error> {
    if value.len() > MAX_FIELD_LEN {
        return Err(Error::FieldTooLong {
            field,
            max: MAX_FIELD_LEN,
        });
    }
    if value.contains('\0') {
        return Err(Error::Malformed("NUL inside a PLAIN field"));
    }
    if value.is_empty() && !may_be_empty {
        return Err(Error::Malformed("empty PLAIN authcid or password"));
    }
    Ok(())
}

/// Builds the PLAIN message, validating it as the server would.
pub fn encode(authzid: Option<&str>, authcid: &str, password: &str) -> Result<Vec<u8>, Error> {
    let authzid = authzid.unwrap_or("");
    check_field("authzid", authzid, true)?;
    check_field("authcid", authcid, false)?;
    check_field("passwd", password, false)?;
    let mut out = Vec::with_capacity(authzid.len() + authcid.len() + password.len() + 2);
    out.extend_from_slice(authzid.as_bytes());
    out.push(0);
    out.extend_from_slice(authcid.as_bytes());
    out.push(0);
    out.extend_from_slice(password.as_bytes());
    Ok(out)
}

/// Parses a PLAIN message: exactly two NULs, UTF-8 fields, non-empty authcid
/// and password, at most 255 octets each.
pub fn parse(msg: &[u8]) -> Result<PlainMessage<'_>, Error> {
    let text =
        core::str::from_utf8(msg).map_err(|_| Error::Malformed("PLAIN message is not UTF-8"))?;
    let mut fields = text.split('\0');
    let (Some(authzid), Some(authcid), Some(password), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(Error::Malformed("PLAIN message needs exactly two NULs"));
    };
    check_field("authzid", authzid, true)?;
    check_field("authcid", authcid, false)?;
    check_field("passwd", password, false)?;
    Ok(PlainMessage {
        authzid,
        authcid,
        password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4616_examples() {
        // RFC 4616 §4.
        let m = parse(b"\0tim\0tanstaaftanstaaf").unwrap();
        assert_eq!(
            (m.authzid, m.authcid, m.password),
            ("", "tim", "tanstaaftanstaaf")
        );
        let m = parse(b"Ursel\0Kurt\0xipj3plmq").unwrap();
        assert_eq!(
            (m.authzid, m.authcid, m.password),
            ("Ursel", "Kurt", "xipj3plmq")
        );
        assert_eq!(
            encode(Some("Ursel"), "Kurt", "xipj3plmq").unwrap(),
            b"Ursel\0Kurt\0xipj3plmq"
        );
        assert!(!format!("{m:?}").contains("xipj3plmq"));
    }

    #[test]
    fn malformed() {
        assert!(parse(b"").is_err());
        assert!(parse(b"tim").is_err());
        assert!(parse(b"\0tim").is_err());
        assert!(parse(b"\0\0pw").is_err());
        assert!(parse(b"\0tim\0").is_err());
        assert!(parse(b"\0tim\0pw\0").is_err());
        assert!(parse(b"\0ti\xffm\0pw").is_err());
        let long = "x".repeat(256);
        let ok = "x".repeat(255);
        assert!(parse(format!("{ok}\0{ok}\0{ok}").as_bytes()).is_ok());
        for msg in [
            format!("{long}\0a\0b"),
            format!("\0{long}\0b"),
            format!("\0a\0{long}"),
        ] {
            assert!(matches!(
                parse(msg.as_bytes()),
                Err(Error::FieldTooLong { .. })
            ));
        }
        assert!(encode(None, "", "pw").is_err());
        assert!(encode(None, "a\0b", "pw").is_err());
        assert!(encode(None, "a", &long).is_err());
    }
}
