//! LOGIN: the de-facto mechanism where the server sends the base64 challenges
//! `Username:` and `Password:` and the client answers each with the plain
//! value. There is no RFC (an expired draft, draft-murchison-sasl-login).

use crate::Error;

/// The first server challenge.
pub const USERNAME_CHALLENGE: &[u8] = b"Username:";
/// The second server challenge.
pub const PASSWORD_CHALLENGE: &[u8] = b"Password:";
/// Longest accepted user name or password, in octets.
pub const MAX_FIELD_LEN: usize = 255;

/// Validates a LOGIN user name or password received by the server.
pub(crate) fn parse_field<'a>(field: &'static str, value: &'a [u8]) -> Result<&'a str, Error> {
    if value.len() > MAX_FIELD_LEN {
        return Err(Error::FieldTooLong {
            field,
            max: MAX_FIELD_LEN,
        });
    }
    let text =
        core::str::from_utf8(value).map_err(|_| Error::Malformed("LOGIN field is not UTF-8"))?;
    if text.is_empty() {
        return Err(Error::Malformed("empty LOGIN field"));
    }
    if text.contains('\0') {
        return Err(Error::Malformed("NUL in LOGIN field"));
    }
    Ok(text)
}

/// What a LOGIN server is asking for, judged from the challenge text;
/// `None` when the text names neither (clients then go by position).
pub(crate) fn classify_challenge(challenge: &[u8]) -> Option<bool> {
    let text = String::from_utf8_lossy(challenge).to_ascii_lowercase();
    if text.contains("user") {
        Some(true)
    } else if text.contains("pass") {
        Some(false)
    } else {
        None
    }
}
