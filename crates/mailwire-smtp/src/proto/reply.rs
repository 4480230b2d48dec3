//! Replies: `Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF`
//! (RFC 5321 §4.2), with RFC 3463 enhanced status codes and the EHLO response (§4.1.1.1).

use std::collections::BTreeMap;
use std::fmt;

use thiserror::Error;

/// An RFC 3463 enhanced status code, `class.subject.detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedCode {
    /// 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    pub class: u8,
    /// The subject (0-999).
    pub subject: u16,
    /// The detail (0-999).
    pub detail: u16,
}

impl EnhancedCode {
    /// A code; `class` must be 2, 4 or 5 and the others below 1000 (checked in debug builds).
    pub const fn new(class: u8, subject: u16, detail: u16) -> Self {
        debug_assert!(matches!(class, 2 | 4 | 5) && subject < 1000 && detail < 1000);
        Self {
            class,
            subject,
            detail,
        }
    }

    /// Parses `2.1.5` at the start of `text`, returning the code and the text after it.
    pub fn parse_prefix(text: &str) -> Option<(Self, &str)> {
        let (word, rest) = text.split_once(' ').unwrap_or((text, ""));
        let mut parts = word.split('.');
        let class: u8 = parts.next()?.parse().ok()?;
        let subject = parts.next()?;
        let detail = parts.next()?;
        if parts.next().is_some() || !matches!(class, 2 | 4 | 5) {
            return None;
        }
        let num = |s: &str| -> Option<u16> {
            (!s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        Some((Self::new(class, num(subject)?, num(detail)?), rest))
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// A complete reply: a three-digit code, an optional enhanced code, and its text lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    code: u16,
    enhanced: Option<EnhancedCode>,
    lines: Vec<String>,
}

impl Reply {
    /// A reply; `code` must be 200-599 and text lines may not contain CR or LF (they are
    /// replaced by spaces, so a reply can always be written back safely).
    pub fn new(code: u16, enhanced: Option<EnhancedCode>, text: &str) -> Self {
        Self::multi(
            code,
            enhanced,
            text.split('\n').map(str::to_owned).collect(),
        )
    }

    /// A multi-line reply.
    pub fn multi(code: u16, enhanced: Option<EnhancedCode>, lines: Vec<String>) -> Self {
        debug_assert!((200..600).contains(&code));
        let lines = if lines.is_empty() {
            vec![String::new()]
        } else {
            lines
                .into_iter()
                .map(|l| l.replace(['\r', '\n'], " "))
                .collect()
        };
        Self {
            code: code.clamp(200, 599),
            enhanced,
            lines,
        }
    }

    /// The three-digit code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The enhanced status code, if any.
    pub fn enhanced(&self) -> Option<EnhancedCode> {
        self.enhanced
    }

    /// The text lines, without code and enhanced code.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// All text joined with a space.
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }

    /// 2yz.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// 3yz (354, 334).
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// 4yz.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// 5yz.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// Writes the reply in wire form; `enhanced` says whether to include the enhanced code
    /// (only after ENHANCEDSTATUSCODES was advertised, RFC 2034 §3).
    pub fn encode(&self, enhanced: bool, out: &mut Vec<u8>) {
        let n = self.lines.len();
        for (i, line) in self.lines.iter().enumerate() {
            out.extend_from_slice(self.code.to_string().as_bytes());
            out.push(if i + 1 == n { b' ' } else { b'-' });
            if let (true, Some(e)) = (enhanced, self.enhanced) {
                out.extend_from_slice(e.to_string().as_bytes());
                if !line.is_empty() {
                    out.push(b' ');
                }
            }
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The reply in wire form, with its enhanced code.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(true, &mut out);
        out
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(e) = self.enhanced {
            write!(f, " {e}")?;
        }
        write!(f, " {}", self.text())
    }
}

/// A reply line that is not `Reply-code [ SP / "-" text ]`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// The line does not start with a three-digit code 200-599 followed by SP, `-` or CRLF.
    #[error("malformed reply line")]
    Malformed,
    /// A continuation line carried a different code than the first line.
    #[error("reply code changed within a multi-line reply")]
    CodeMismatch,
    /// More lines than the configured limit.
    #[error("reply has too many lines")]
    TooManyLines,
}

/// Accumulates reply lines (as framed by a line framer, without CRLF) into replies.
///
/// ```
/// use mailwire_smtp::proto::ReplyParser;
///
/// let mut p = ReplyParser::new(true);
/// assert_eq!(p.push_line(b"250-mail.example.com").unwrap(), None);
/// let reply = p.push_line(b"250 2.0.0 PIPELINING").unwrap().unwrap();
/// assert_eq!(reply.code(), 250);
/// assert_eq!(reply.lines(), ["mail.example.com", "PIPELINING"]);
/// ```
#[derive(Debug, Clone)]
pub struct ReplyParser {
    enhanced: bool,
    code: Option<u16>,
    lines: Vec<String>,
    max_lines: usize,
}

impl ReplyParser {
    /// A parser; `enhanced` strips a leading enhanced status code from each line.
    pub fn new(enhanced: bool) -> Self {
        Self {
            enhanced,
            code: None,
            lines: Vec::new(),
            max_lines: 1000,
        }
    }

    /// Whether enhanced codes are being recognised.
    pub fn set_enhanced(&mut self, enhanced: bool) {
        self.enhanced = enhanced;
    }

    /// Whether a multi-line reply is partly read.
    pub fn is_partial(&self) -> bool {
        self.code.is_some()
    }

    /// Feeds one line; returns the reply when this was its last line.
    pub fn push_line(&mut self, line: &[u8]) -> Result<Option<Reply>, ReplyError> {
        let (code, last, text) = split_reply_line(line)?;
        match self.code {
            Some(c) if c != code => {
                self.code = None;
                self.lines.clear();
                return Err(ReplyError::CodeMismatch);
            }
            _ => self.code = Some(code),
        }
        if self.lines.len() >= self.max_lines {
            self.code = None;
            self.lines.clear();
            return Err(ReplyError::TooManyLines);
        }
        self.lines.push(text);
        if !last {
            return Ok(None);
        }
        self.code = None;
        let mut lines = std::mem::take(&mut self.lines);
        let mut enhanced = None;
        if self.enhanced {
            // Take the enhanced code from the first line; strip it from every line.
            for (i, l) in lines.iter_mut().enumerate() {
                if let Some((e, rest)) = EnhancedCode::parse_prefix(l)
                    && u16::from(e.class) == code / 100
                {
                    if i == 0 {
                        enhanced = Some(e);
                    }
                    *l = rest.to_owned();
                }
            }
        }
        Ok(Some(Reply {
            code,
            enhanced,
            lines,
        }))
    }
}

/// Splits one reply line into (code, is-last, text).
fn split_reply_line(line: &[u8]) -> Result<(u16, bool, String), ReplyError> {
    let digits = line.get(..3).ok_or(ReplyError::Malformed)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(ReplyError::Malformed);
    }
    let code = u16::from(digits[0] - b'0') * 100
        + u16::from(digits[1] - b'0') * 10
        + u16::from(digits[2] - b'0');
    if !(200..600).contains(&code) {
        return Err(ReplyError::Malformed);
    }
    let (last, text) = match line.get(3) {
        None => (true, &line[3..3]),
        Some(b' ') => (true, &line[4..]),
        Some(b'-') => (false, &line[4..]),
        Some(_) => return Err(ReplyError::Malformed),
    };
    if text.iter().any(|&b| b == b'\r' || b == b'\n') {
        return Err(ReplyError::Malformed);
    }
    Ok((code, last, String::from_utf8_lossy(text).into_owned()))
}

/// The extensions a server announced in its EHLO reply (RFC 5321 §4.1.1.1):
/// `ehlo-line = ehlo-keyword *( SP ehlo-param )`, keywords case-insensitive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    /// The domain the server gave on the first line.
    pub domain: String,
    map: BTreeMap<String, Vec<String>>,
}

impl Extensions {
    /// Parses a positive EHLO reply.
    pub fn from_reply(reply: &Reply) -> Self {
        let mut lines = reply.lines().iter();
        let domain = lines
            .next()
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_default()
            .to_owned();
        let mut map = BTreeMap::new();
        for line in lines {
            let mut words = line.split_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            // Old servers announce "AUTH=PLAIN LOGIN"; treat it as AUTH.
            let (keyword, first) = match keyword.split_once('=') {
                Some((k, v)) if k.eq_ignore_ascii_case("AUTH") => (k, Some(v)),
                _ => (keyword, None),
            };
            let entry: &mut Vec<String> = map.entry(keyword.to_ascii_uppercase()).or_default();
            entry.extend(first.map(str::to_owned));
            entry.extend(words.map(str::to_owned));
        }
        Self { domain, map }
    }

    /// Whether `keyword` was announced.
    pub fn has(&self, keyword: &str) -> bool {
        self.map.contains_key(&keyword.to_ascii_uppercase())
    }

    /// The parameters of `keyword`.
    pub fn params(&self, keyword: &str) -> Option<&[String]> {
        self.map
            .get(&keyword.to_ascii_uppercase())
            .map(Vec::as_slice)
    }

    /// The keywords announced.
    pub fn keywords(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// `SIZE n`: `Some(Some(n))`, `Some(None)` for SIZE without a limit (or 0), `None` if absent.
    pub fn size(&self) -> Option<Option<u64>> {
        self.params("SIZE")
            .map(|p| p.first().and_then(|n| n.parse().ok()).filter(|&n| n > 0))
    }

    /// The SASL mechanisms of `AUTH`, upper-cased.
    pub fn auth_mechanisms(&self) -> Vec<String> {
        self.params("AUTH")
            .map(|p| p.iter().map(|m| m.to_ascii_uppercase()).collect())
            .unwrap_or_default()
    }

    /// PIPELINING (RFC 2920).
    pub fn pipelining(&self) -> bool {
        self.has("PIPELINING")
    }

    /// STARTTLS (RFC 3207).
    pub fn starttls(&self) -> bool {
        self.has("STARTTLS")
    }

    /// CHUNKING (RFC 3030).
    pub fn chunking(&self) -> bool {
        self.has("CHUNKING")
    }

    /// 8BITMIME (RFC 6152).
    pub fn eight_bit_mime(&self) -> bool {
        self.has("8BITMIME")
    }

    /// BINARYMIME (RFC 3030).
    pub fn binary_mime(&self) -> bool {
        self.has("BINARYMIME")
    }

    /// SMTPUTF8 (RFC 6531).
    pub fn smtputf8(&self) -> bool {
        self.has("SMTPUTF8")
    }

    /// DSN (RFC 3461).
    pub fn dsn(&self) -> bool {
        self.has("DSN")
    }

    /// ENHANCEDSTATUSCODES (RFC 2034).
    pub fn enhanced_status_codes(&self) -> bool {
        self.has("ENHANCEDSTATUSCODES")
    }

    /// REQUIRETLS (RFC 8689).
    pub fn requiretls(&self) -> bool {
        self.has("REQUIRETLS")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_and_parse_round_trip() {
        let r = Reply::multi(
            250,
            Some(EnhancedCode::new(2, 0, 0)),
            vec!["first".into(), "second\r\nline".into()],
        );
        let wire = r.to_bytes();
        assert_eq!(wire, b"250-2.0.0 first\r\n250 2.0.0 second  line\r\n");
        let mut p = ReplyParser::new(true);
        let mut out = None;
        for line in wire.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            out = p.push_line(line.strip_suffix(b"\r").unwrap()).unwrap();
        }
        let out = out.unwrap();
        assert_eq!(out.code(), 250);
        assert_eq!(out.enhanced(), Some(EnhancedCode::new(2, 0, 0)));
        assert_eq!(out.lines(), ["first", "second  line"]);
    }

    #[test]
    fn malformed_lines() {
        let mut p = ReplyParser::new(false);
        assert_eq!(p.push_line(b"25"), Err(ReplyError::Malformed));
        assert_eq!(p.push_line(b"abc def"), Err(ReplyError::Malformed));
        assert_eq!(p.push_line(b"250x"), Err(ReplyError::Malformed));
        assert_eq!(p.push_line(b"999 x"), Err(ReplyError::Malformed));
        assert_eq!(p.push_line(b"250-a").unwrap(), None);
        assert_eq!(p.push_line(b"251 b"), Err(ReplyError::CodeMismatch));
        assert_eq!(p.push_line(b"250").unwrap().unwrap().lines(), [""]);
    }

    #[test]
    fn ehlo_response() {
        let mut p = ReplyParser::new(false);
        let mut reply = None;
        for l in [
            &b"250-mx.example.com Hello"[..],
            b"250-PIPELINING",
            b"250-SIZE 10240000",
            b"250-AUTH PLAIN login CRAM-MD5",
            b"250-AUTH=PLAIN LOGIN",
            b"250-8BITMIME",
            b"250 smtputf8",
        ] {
            reply = p.push_line(l).unwrap();
        }
        let ext = Extensions::from_reply(&reply.unwrap());
        assert_eq!(ext.domain, "mx.example.com");
        assert!(ext.pipelining() && ext.eight_bit_mime() && ext.smtputf8());
        assert!(!ext.starttls() && !ext.chunking());
        assert_eq!(ext.size(), Some(Some(10_240_000)));
        assert!(ext.auth_mechanisms().contains(&"LOGIN".to_owned()));
        assert!(ext.auth_mechanisms().contains(&"CRAM-MD5".to_owned()));
    }

    #[test]
    fn enhanced_code_prefix() {
        assert_eq!(
            EnhancedCode::parse_prefix("5.7.11 Encryption required"),
            Some((EnhancedCode::new(5, 7, 11), "Encryption required"))
        );
        assert_eq!(EnhancedCode::parse_prefix("5.7 x"), None);
        assert_eq!(EnhancedCode::parse_prefix("3.0.0 x"), None);
        assert_eq!(EnhancedCode::parse_prefix("2.0.1234 x"), None);
    }
}
