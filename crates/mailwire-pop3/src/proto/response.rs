//! Responses: status lines with RFC 2449 extended response codes, SASL continuations, and the
//! lines of multi-line responses (scan listings, unique-id listings).

use std::fmt;

use crate::proto::SyntaxError;

/// The longest status line RFC 2449 §4 allows, CRLF included. Longer text is cut on encoding.
pub const MAX_STATUS_LINE: usize = 512;

/// An extended response code (RFC 2449 §8, RFC 3206), the bracketed word after `-ERR`.
///
/// ```abnf
/// resp-code = "[" resp-level *("/" resp-level) "]"
/// resp-level = 1*rchar
/// rchar = %x21-2E / %x30-5C / %x5E-7F     ; printable, not "/" or "]"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResponseCode {
    /// `[IN-USE]`: the maildrop is locked by another session (RFC 2449 §8.1.2).
    InUse,
    /// `[LOGIN-DELAY]`: logged in too recently (RFC 2449 §8.1.1).
    LoginDelay,
    /// `[SYS/TEMP]`: a temporary system failure (RFC 3206 §4).
    SysTemp,
    /// `[SYS/PERM]`: a permanent system failure (RFC 3206 §4).
    SysPerm,
    /// `[AUTH]`: a problem with the credentials (RFC 3206 §5).
    Auth,
    /// Any other well-formed code, as sent.
    Other(String),
}

impl ResponseCode {
    /// Parses the text between the brackets.
    pub fn parse(code: &str) -> Result<Self, SyntaxError> {
        let valid_level =
            |l: &str| !l.is_empty() && l.bytes().all(|b| (0x21..=0x7f).contains(&b) && b != b']');
        if !code.split('/').all(valid_level) {
            return Err(SyntaxError::new("bad response code"));
        }
        Ok(match code.to_ascii_uppercase().as_str() {
            "IN-USE" => Self::InUse,
            "LOGIN-DELAY" => Self::LoginDelay,
            "SYS/TEMP" => Self::SysTemp,
            "SYS/PERM" => Self::SysPerm,
            "AUTH" => Self::Auth,
            _ => Self::Other(code.to_owned()),
        })
    }

    /// Whether the condition may go away by itself (retry later): `IN-USE`, `LOGIN-DELAY`,
    /// `SYS/TEMP`.
    pub fn is_temporary(&self) -> bool {
        matches!(self, Self::InUse | Self::LoginDelay | Self::SysTemp)
    }
}

impl fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InUse => "IN-USE",
            Self::LoginDelay => "LOGIN-DELAY",
            Self::SysTemp => "SYS/TEMP",
            Self::SysPerm => "SYS/PERM",
            Self::Auth => "AUTH",
            Self::Other(s) => s,
        })
    }
}

/// A status line: `+OK [text]` or `-ERR [[code]] [text]`.
///
/// The text cannot hold CR, LF or other control characters: [`Status::ok`] and
/// [`Status::err`] replace them, so an encoded status is always exactly one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    ok: bool,
    code: Option<ResponseCode>,
    text: String,
}

fn clean(text: &str) -> String {
    let mut s: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    // "+OK " + text + CRLF within 512 octets.
    if s.len() > MAX_STATUS_LINE - 32 {
        let mut cut = MAX_STATUS_LINE - 32;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

impl Status {
    /// `+OK text`.
    pub fn ok(text: &str) -> Self {
        Self {
            ok: true,
            code: None,
            text: clean(text),
        }
    }

    /// `-ERR text`.
    pub fn err(text: &str) -> Self {
        Self {
            ok: false,
            code: None,
            text: clean(text),
        }
    }

    /// `-ERR [code] text`.
    pub fn err_code(code: ResponseCode, text: &str) -> Self {
        Self {
            ok: false,
            code: Some(code),
            text: clean(text),
        }
    }

    /// `+OK`?
    pub fn is_ok(&self) -> bool {
        self.ok
    }

    /// The extended response code, if any.
    pub fn code(&self) -> Option<&ResponseCode> {
        self.code.as_ref()
    }

    /// The text after the status indicator (and code).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Parses a status line (without its CRLF). `+OK` and `-ERR` are matched
    /// case-insensitively (RFC 2449 §4: servers use upper case, clients should not insist).
    /// A `[` that does not start a well-formed code is kept as text.
    pub fn parse(line: &[u8]) -> Result<Self, SyntaxError> {
        let line = String::from_utf8_lossy(line);
        let (ok, rest) = if let Some(r) = strip_ci(&line, "+OK") {
            (true, r)
        } else if let Some(r) = strip_ci(&line, "-ERR") {
            (false, r)
        } else {
            return Err(SyntaxError::new("status line must start with +OK or -ERR"));
        };
        let rest = match rest.strip_prefix(' ') {
            Some(r) => r,
            None if rest.is_empty() => rest,
            None => return Err(SyntaxError::new("status indicator not followed by a space")),
        };
        if rest.chars().any(char::is_control) {
            return Err(SyntaxError::new("control character in status line"));
        }
        let mut code = None;
        let mut text = rest;
        if let Some(inner) = rest.strip_prefix('[')
            && let Some((c, after)) = inner.split_once(']')
            && let Ok(parsed) = ResponseCode::parse(c)
        {
            code = Some(parsed);
            text = after.strip_prefix(' ').unwrap_or(after);
        }
        Ok(Self {
            ok,
            code,
            text: text.to_owned(),
        })
    }

    /// Writes the status line, CRLF included.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if self.ok { b"+OK" } else { b"-ERR" });
        if let Some(code) = &self.code {
            out.extend_from_slice(b" [");
            out.extend_from_slice(code.to_string().as_bytes());
            out.push(b']');
        }
        if !self.text.is_empty() {
            out.push(b' ');
            out.extend_from_slice(self.text.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.ok { "+OK" } else { "-ERR" })?;
        if let Some(code) = &self.code {
            write!(f, " [{code}]")?;
        }
        if !self.text.is_empty() {
            write!(f, " {}", self.text)?;
        }
        Ok(())
    }
}

/// The first line of a server response: a status, or a SASL continuation (RFC 5034 §4:
/// `"+" SP base64`, where an empty challenge may be sent as `+` alone or `+ `).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseLine {
    /// `+OK ...` or `-ERR ...`.
    Status(Status),
    /// `+ challenge`: the base64 text (possibly empty).
    Continuation(String),
}

impl ResponseLine {
    /// Parses one response line (without its CRLF).
    ///
    /// ```
    /// use mailwire_pop3::proto::ResponseLine;
    /// assert!(matches!(ResponseLine::parse(b"+ PDE4OTY=").unwrap(), ResponseLine::Continuation(c) if c == "PDE4OTY="));
    /// assert!(matches!(ResponseLine::parse(b"+OK").unwrap(), ResponseLine::Status(s) if s.is_ok()));
    /// ```
    pub fn parse(line: &[u8]) -> Result<Self, SyntaxError> {
        match line {
            [b'+'] => Ok(Self::Continuation(String::new())),
            [b'+', b' ', rest @ ..] => {
                let text = std::str::from_utf8(rest)
                    .map_err(|_| SyntaxError::new("continuation is not ASCII"))?;
                let text = text.trim();
                if !text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
                {
                    return Err(SyntaxError::new("continuation is not base64"));
                }
                Ok(Self::Continuation(text.to_owned()))
            }
            _ => Status::parse(line).map(Self::Status),
        }
    }

    /// Writes the line, CRLF included.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Status(s) => s.encode(out),
            Self::Continuation(c) => {
                out.extend_from_slice(b"+ ");
                out.extend_from_slice(c.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
    }
}

/// A unique-id (RFC 1939 §7): 1 to 70 characters in the range 0x21 to 0x7E.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UniqueId(String);

impl UniqueId {
    /// Checks and wraps a unique-id.
    pub fn new(id: impl Into<String>) -> Result<Self, SyntaxError> {
        let id = id.into();
        if id.is_empty() || id.len() > 70 || !id.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(SyntaxError::new(
                "a unique-id is 1 to 70 printable characters",
            ));
        }
        Ok(Self(id))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UniqueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A scan listing, `msg size` (RFC 1939 §5 LIST), also the text of `+OK` to `LIST msg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanListing {
    /// The message number.
    pub message: u32,
    /// The size in octets.
    pub size: u64,
}

impl ScanListing {
    /// Parses `msg size [anything]` (RFC 1939 allows further information after the size).
    pub fn parse(line: &[u8]) -> Result<Self, SyntaxError> {
        let line =
            std::str::from_utf8(line).map_err(|_| SyntaxError::new("scan listing is not ASCII"))?;
        let mut words = line.split(' ');
        let message = number(words.next())?;
        let size = number(words.next())?;
        Ok(Self { message, size })
    }

    /// Writes `msg size` (no CRLF).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("{} {}", self.message, self.size).as_bytes());
    }
}

/// A unique-id listing, `msg unique-id` (RFC 1939 §7 UIDL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidListing {
    /// The message number.
    pub message: u32,
    /// Its unique id.
    pub id: UniqueId,
}

impl UidListing {
    /// Parses `msg unique-id`.
    pub fn parse(line: &[u8]) -> Result<Self, SyntaxError> {
        let line = std::str::from_utf8(line)
            .map_err(|_| SyntaxError::new("unique-id listing is not ASCII"))?;
        let (m, id) = line
            .split_once(' ')
            .ok_or_else(|| SyntaxError::new("syntax: msg unique-id"))?;
        Ok(Self {
            message: number(Some(m))?,
            id: UniqueId::new(id.trim_end())?,
        })
    }

    /// Writes `msg unique-id` (no CRLF).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("{} {}", self.message, self.id).as_bytes());
    }
}

/// Parses the text of `+OK` to STAT: `nn mm` (count and total size).
pub fn parse_stat(text: &str) -> Result<(u32, u64), SyntaxError> {
    let mut words = text.split(' ');
    Ok((number(words.next())?, number(words.next())?))
}

fn number<T: std::str::FromStr>(word: Option<&str>) -> Result<T, SyntaxError> {
    match word {
        Some(w) if !w.is_empty() && w.len() <= 20 && w.bytes().all(|b| b.is_ascii_digit()) => w
            .parse()
            .map_err(|_| SyntaxError::new("number out of range")),
        _ => Err(SyntaxError::new("expected a number")),
    }
}

fn strip_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(line: &str) -> Status {
        let s = Status::parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"));
        let mut out = Vec::new();
        s.encode(&mut out);
        assert_eq!(
            Status::parse(out.strip_suffix(b"\r\n").unwrap()).unwrap(),
            s
        );
        s
    }

    #[test]
    fn statuses_and_codes() {
        let s = rt("+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>");
        assert!(s.is_ok() && s.code().is_none());
        assert_eq!(rt("+OK").text(), "");
        let s = rt("-ERR [IN-USE] Do you have another POP session running?");
        assert_eq!(s.code(), Some(&ResponseCode::InUse));
        assert_eq!(s.text(), "Do you have another POP session running?");
        assert_eq!(rt("-ERR [SYS/TEMP] x").code(), Some(&ResponseCode::SysTemp));
        assert_eq!(rt("-ERR [sys/perm] x").code(), Some(&ResponseCode::SysPerm));
        assert_eq!(rt("-ERR [AUTH] bad").code(), Some(&ResponseCode::Auth));
        assert_eq!(
            rt("-ERR [LOGIN-DELAY] wait").code(),
            Some(&ResponseCode::LoginDelay)
        );
        assert_eq!(
            rt("-ERR [X/Y/Z] other").code(),
            Some(&ResponseCode::Other("X/Y/Z".into()))
        );
        // Not a code: kept as text.
        assert_eq!(rt("-ERR [oops").text(), "[oops");
        assert_eq!(rt("-ERR [a//b] t").text(), "[a//b] t");
        assert!(ResponseCode::SysTemp.is_temporary() && !ResponseCode::Auth.is_temporary());
        for bad in ["OK", "+OKAY", "-ER", "", "* OK", "+OK\rx"] {
            assert!(Status::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn status_text_cannot_inject() {
        let mut out = Vec::new();
        Status::err("a\r\n+OK forged").encode(&mut out);
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
        let long = "x".repeat(2000);
        out.clear();
        Status::ok(&long).encode(&mut out);
        assert!(out.len() <= MAX_STATUS_LINE);
    }

    #[test]
    fn continuations_and_listings() {
        assert_eq!(
            ResponseLine::parse(b"+").unwrap(),
            ResponseLine::Continuation(String::new())
        );
        assert_eq!(
            ResponseLine::parse(b"+ ").unwrap(),
            ResponseLine::Continuation(String::new())
        );
        assert!(ResponseLine::parse(b"+ not base64!").is_err());
        assert_eq!(
            ScanListing::parse(b"2 200").unwrap(),
            ScanListing {
                message: 2,
                size: 200
            }
        );
        assert_eq!(ScanListing::parse(b"2 200 extra").unwrap().size, 200);
        assert!(ScanListing::parse(b"2").is_err());
        assert!(ScanListing::parse(b"x 1").is_err());
        let u = UidListing::parse(b"1 whqtswO00WBw418f9t5JxYwZ").unwrap();
        assert_eq!(u.id.as_str(), "whqtswO00WBw418f9t5JxYwZ");
        assert!(UidListing::parse(b"1 ").is_err());
        assert!(UniqueId::new("a".repeat(71)).is_err());
        assert!(UniqueId::new("a b").is_err());
        assert_eq!(parse_stat("2 320").unwrap(), (2, 320));
        assert!(parse_stat("2").is_err());
    }
}
