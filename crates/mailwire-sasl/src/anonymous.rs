//! ANONYMOUS (RFC 4505): the client sends optional trace information (an
//! email address or an opaque token of at most 255 characters).

use crate::Error;

/// Longest trace accepted, in characters (RFC 4505 §3).
pub const MAX_TRACE_CHARS: usize = 255;

/// Validates the trace: UTF-8, at most 255 characters, no control
/// characters. An empty message means no trace.
pub fn parse_trace(msg: &[u8]) -> Result<Option<String>, Error> {
    let text =
        core::str::from_utf8(msg).map_err(|_| Error::Malformed("ANONYMOUS trace is not UTF-8"))?;
    if text.is_empty() {
        return Ok(None);
    }
    if text.chars().count() > MAX_TRACE_CHARS {
        return Err(Error::FieldTooLong {
            field: "trace",
            max: MAX_TRACE_CHARS,
        });
    }
    if text.chars().any(char::is_control) {
        return Err(Error::Malformed("control character in ANONYMOUS trace"));
    }
    Ok(Some(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces() {
        assert_eq!(parse_trace(b"").unwrap(), None);
        assert_eq!(parse_trace(b"sirhc").unwrap().as_deref(), Some("sirhc"));
        assert_eq!(
            parse_trace("é".repeat(255).as_bytes())
                .unwrap()
                .map(|s| s.chars().count()),
            Some(255)
        );
        assert!(parse_trace("é".repeat(256).as_bytes()).is_err());
        assert!(parse_trace(b"a\0b").is_err());
        assert!(parse_trace(b"\xff").is_err());
    }
}
