//! Commands (RFC 5321 §4.1.1, RFC 2033 LHLO, RFC 3030 BDAT, RFC 3207 STARTTLS, RFC 4954 AUTH).

use std::fmt;

use crate::proto::address::{self, Address, Charset, ForwardPath, ReversePath};
use crate::proto::params::{MailParams, RcptParams};
use crate::proto::{EncodeError, SyntaxError};

/// `AUTH`'s optional initial response (RFC 4954 §4).
#[derive(Clone, PartialEq, Eq)]
pub enum InitialResponse {
    /// `=`: an empty initial response.
    Empty,
    /// Base64 text, as sent (not decoded: the SASL layer decodes).
    Base64(String),
}

impl fmt::Debug for InitialResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("Empty"),
            // It may carry a password.
            Self::Base64(_) => f.write_str("Base64([REDACTED])"),
        }
    }
}

/// An SMTP, ESMTP or LMTP command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `EHLO domain`
    Ehlo(String),
    /// `HELO domain`
    Helo(String),
    /// `LHLO domain` (RFC 2033)
    Lhlo(String),
    /// `MAIL FROM:<path> params`
    Mail {
        /// The reverse path.
        from: ReversePath,
        /// Its parameters.
        params: MailParams,
    },
    /// `RCPT TO:<path> params`
    Rcpt {
        /// The forward path.
        to: ForwardPath,
        /// Its parameters.
        params: RcptParams,
    },
    /// `DATA`
    Data,
    /// `BDAT size [LAST]` (RFC 3030)
    Bdat {
        /// The chunk size in octets.
        size: u64,
        /// Whether this is the last chunk.
        last: bool,
    },
    /// `RSET`
    Rset,
    /// `NOOP [string]`
    Noop(Option<String>),
    /// `QUIT`
    Quit,
    /// `VRFY string`
    Vrfy(String),
    /// `EXPN string`
    Expn(String),
    /// `HELP [string]`
    Help(Option<String>),
    /// `STARTTLS` (RFC 3207)
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954)
    Auth {
        /// The SASL mechanism name, upper-cased.
        mechanism: String,
        /// The initial response, if given.
        initial_response: Option<InitialResponse>,
    },
}

impl Command {
    /// Parses one command line (without its CRLF).
    ///
    /// ```
    /// use mailwire_smtp::proto::Command;
    ///
    /// let cmd = Command::parse(b"MAIL FROM:<alice@example.com> SIZE=1024").unwrap();
    /// let Command::Mail { from, params } = cmd else { panic!() };
    /// assert_eq!(from.to_string(), "<alice@example.com>");
    /// assert_eq!(params.size, Some(1024));
    /// assert!(Command::parse(b"MAIL FROM:<a@b.c> junk!").is_err());
    /// ```
    pub fn parse(line: &[u8]) -> Result<Self, SyntaxError> {
        let line = std::str::from_utf8(line)
            .map_err(|_| SyntaxError::new("command is not valid UTF-8"))?;
        // Control characters: every argument grammar below refuses them (paths, parameters,
        // domains, base64); free text (NOOP, HELP, VRFY, EXPN) is checked where it is taken.
        let (verb, rest) = match memchr::memchr(b' ', line.as_bytes()) {
            Some(sp) => (&line[..sp], Some(&line[sp + 1..])),
            None => (line, None),
        };
        // The verb, upper-cased without allocating (verbs are at most 8 octets).
        let mut upper = [0u8; 8];
        let verb = match verb.as_bytes() {
            v if v.len() <= upper.len() => {
                for (u, b) in upper.iter_mut().zip(v) {
                    *u = b.to_ascii_uppercase();
                }
                std::str::from_utf8(&upper[..v.len()]).unwrap_or_default()
            }
            _ => return Err(SyntaxError::unknown_command()),
        };
        let no_args = |cmd: Self| match rest {
            None => Ok(cmd),
            Some(_) => Err(SyntaxError::new(&format!("{verb} takes no arguments"))),
        };
        let needs = |what: &str| -> Result<&str, SyntaxError> {
            match rest.map(str::trim) {
                Some(r) if !r.is_empty() => free_text(r),
                _ => Err(SyntaxError::new(&format!("{verb} needs {what}"))),
            }
        };
        match verb {
            "EHLO" | "HELO" | "LHLO" => {
                let domain = needs("a domain")?;
                // RFC 5321 allows only the domain; some clients add text after it: ignore it.
                let domain = domain.split(' ').next().unwrap_or(domain);
                address::client_domain(domain)?;
                let d = domain.to_owned();
                Ok(match verb {
                    "EHLO" => Self::Ehlo(d),
                    "HELO" => Self::Helo(d),
                    _ => Self::Lhlo(d),
                })
            }
            "MAIL" => {
                let arg = rest.unwrap_or_default();
                let path_text = strip_prefix_ci(arg, "FROM:").ok_or_else(|| {
                    SyntaxError::new("syntax: MAIL FROM:<reverse-path> [parameters]")
                })?;
                let path_text = path_text.strip_prefix(' ').unwrap_or(path_text);
                let (mailbox, after) = address::path(path_text)?;
                let params = MailParams::parse(params_text(after)?)?;
                let from = match mailbox {
                    None => ReversePath::Null,
                    Some(m) => ReversePath::Address(
                        Address::parse(m, Charset::Utf8).map_err(|e| e.sender())?,
                    ),
                };
                Ok(Self::Mail { from, params })
            }
            "RCPT" => {
                let arg = rest.unwrap_or_default();
                let path_text = strip_prefix_ci(arg, "TO:").ok_or_else(|| {
                    SyntaxError::new("syntax: RCPT TO:<forward-path> [parameters]")
                })?;
                let path_text = path_text.strip_prefix(' ').unwrap_or(path_text);
                let (mailbox, after) = address::path(path_text)?;
                let params = RcptParams::parse(params_text(after)?)?;
                let to = match mailbox {
                    None => {
                        return Err(
                            SyntaxError::new("the null path is not a recipient").recipient()
                        );
                    }
                    Some(m) if m.eq_ignore_ascii_case("postmaster") => ForwardPath::Postmaster,
                    Some(m) => ForwardPath::Address(
                        Address::parse(m, Charset::Utf8).map_err(|e| e.recipient())?,
                    ),
                };
                Ok(Self::Rcpt { to, params })
            }
            "DATA" => no_args(Self::Data),
            "BDAT" => {
                let arg = needs("a chunk size")?;
                let mut words = arg.split(' ');
                let size = words.next().unwrap_or_default();
                if size.is_empty() || size.len() > 20 || !size.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(SyntaxError::new("BDAT chunk size must be a number"));
                }
                let size = size
                    .parse()
                    .map_err(|_| SyntaxError::new("BDAT chunk size too large"))?;
                let last = match words.next() {
                    None => false,
                    Some(w) if w.eq_ignore_ascii_case("LAST") => true,
                    Some(_) => return Err(SyntaxError::new("syntax: BDAT size [LAST]")),
                };
                if words.next().is_some() {
                    return Err(SyntaxError::new("syntax: BDAT size [LAST]"));
                }
                Ok(Self::Bdat { size, last })
            }
            "RSET" => no_args(Self::Rset),
            "QUIT" => no_args(Self::Quit),
            "STARTTLS" => no_args(Self::StartTls),
            "NOOP" => Ok(Self::Noop(
                rest.map(free_text).transpose()?.map(str::to_owned),
            )),
            "HELP" => Ok(Self::Help(
                rest.map(free_text).transpose()?.map(str::to_owned),
            )),
            "VRFY" => Ok(Self::Vrfy(needs("a string")?.to_owned())),
            "EXPN" => Ok(Self::Expn(needs("a string")?.to_owned())),
            "AUTH" => {
                let arg = needs("a mechanism")?;
                let mut words = arg.split(' ');
                let mechanism = words.next().unwrap_or_default();
                if mechanism.is_empty()
                    || mechanism.len() > 20
                    || !mechanism
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(SyntaxError::new("bad SASL mechanism name"));
                }
                let initial_response = match words.next() {
                    None => None,
                    Some("=") => Some(InitialResponse::Empty),
                    Some(b64)
                        if !b64.is_empty()
                            && b64.bytes().all(|b| {
                                b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
                            }) =>
                    {
                        Some(InitialResponse::Base64(b64.to_owned()))
                    }
                    Some(_) => return Err(SyntaxError::new("initial response is not base64")),
                };
                if words.next().is_some() {
                    return Err(SyntaxError::new(
                        "syntax: AUTH mechanism [initial-response]",
                    ));
                }
                Ok(Self::Auth {
                    mechanism: mechanism.to_ascii_uppercase(),
                    initial_response,
                })
            }
            _ => Err(SyntaxError::unknown_command()),
        }
    }

    /// The command's verb, for logs and replies.
    pub fn verb(&self) -> &'static str {
        match self {
            Self::Ehlo(_) => "EHLO",
            Self::Helo(_) => "HELO",
            Self::Lhlo(_) => "LHLO",
            Self::Mail { .. } => "MAIL",
            Self::Rcpt { .. } => "RCPT",
            Self::Data => "DATA",
            Self::Bdat { .. } => "BDAT",
            Self::Rset => "RSET",
            Self::Noop(_) => "NOOP",
            Self::Quit => "QUIT",
            Self::Vrfy(_) => "VRFY",
            Self::Expn(_) => "EXPN",
            Self::Help(_) => "HELP",
            Self::StartTls => "STARTTLS",
            Self::Auth { .. } => "AUTH",
        }
    }

    /// Writes the command line, CRLF included. Free-text arguments are checked: a CR, LF or
    /// other control character is refused, so a command can never smuggle a second one.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let text = |s: &str| -> Result<(), EncodeError> {
            if s.chars().any(char::is_control) {
                Err(EncodeError::ControlCharacter)
            } else {
                Ok(())
            }
        };
        let line = match self {
            Self::Ehlo(d) | Self::Helo(d) | Self::Lhlo(d) => {
                address::client_domain(d).map_err(|_| EncodeError::BadDomain)?;
                format!("{} {d}", self.verb())
            }
            Self::Mail { from, params } => format!("MAIL FROM:{from}{params}"),
            Self::Rcpt { to, params } => format!("RCPT TO:{to}{params}"),
            Self::Bdat { size, last: true } => format!("BDAT {size} LAST"),
            Self::Bdat { size, last: false } => format!("BDAT {size}"),
            Self::Noop(Some(s)) | Self::Help(Some(s)) | Self::Vrfy(s) | Self::Expn(s) => {
                text(s)?;
                format!("{} {s}", self.verb())
            }
            Self::Auth {
                mechanism,
                initial_response,
            } => {
                text(mechanism)?;
                match initial_response {
                    None => format!("AUTH {mechanism}"),
                    Some(InitialResponse::Empty) => format!("AUTH {mechanism} ="),
                    Some(InitialResponse::Base64(b)) => {
                        text(b)?;
                        format!("AUTH {mechanism} {b}")
                    }
                }
            }
            _ => self.verb().to_owned(),
        };
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
        Ok(())
    }
}

/// Free text in a command: no control characters (tab aside).
fn free_text(s: &str) -> Result<&str, SyntaxError> {
    let bad = s.bytes().fold(false, |bad, b| {
        bad | ((b < 0x20) & (b != b'\t')) | (b == 0x7f)
    });
    if bad || (!s.is_ascii() && s.chars().any(char::is_control)) {
        return Err(SyntaxError::new("control character in command"));
    }
    Ok(s)
}

/// `s` without a case-insensitive ASCII `prefix`.
fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// What follows a path: nothing, or SP and parameters. Anything else is a syntax error
/// (`MAIL FROM:<a@b>junk` must never be silently accepted).
fn params_text(after: &str) -> Result<&str, SyntaxError> {
    match after.strip_prefix(' ') {
        _ if after.is_empty() => Ok(""),
        Some(p) => Ok(p),
        None => Err(SyntaxError::new("unexpected text after the path")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(line: &str) -> Command {
        let cmd = Command::parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"));
        let mut out = Vec::new();
        cmd.encode(&mut out).unwrap();
        let again = Command::parse(out.strip_suffix(b"\r\n").unwrap()).unwrap();
        assert_eq!(again, cmd, "{line}");
        cmd
    }

    #[test]
    fn every_verb() {
        assert_eq!(
            rt("ehlo client.example.com"),
            Command::Ehlo("client.example.com".into())
        );
        assert_eq!(rt("HELO [127.0.0.1]"), Command::Helo("[127.0.0.1]".into()));
        assert_eq!(rt("LHLO x"), Command::Lhlo("x".into()));
        assert!(matches!(
            rt("MAIL FROM:<>"),
            Command::Mail {
                from: ReversePath::Null,
                ..
            }
        ));
        assert!(matches!(rt("mail from: <a@b.c>"), Command::Mail { .. }));
        assert!(matches!(
            rt("RCPT TO:<Postmaster>"),
            Command::Rcpt {
                to: ForwardPath::Postmaster,
                ..
            }
        ));
        assert!(matches!(
            rt("RCPT TO:<@relay.org:bob@c.org> NOTIFY=NEVER"),
            Command::Rcpt { .. }
        ));
        assert_eq!(rt("DATA"), Command::Data);
        assert_eq!(
            rt("BDAT 100 last"),
            Command::Bdat {
                size: 100,
                last: true
            }
        );
        assert_eq!(
            rt("BDAT 0"),
            Command::Bdat {
                size: 0,
                last: false
            }
        );
        assert_eq!(rt("RSET"), Command::Rset);
        assert_eq!(rt("NOOP"), Command::Noop(None));
        assert_eq!(rt("NOOP hi there"), Command::Noop(Some("hi there".into())));
        assert_eq!(rt("QUIT"), Command::Quit);
        assert_eq!(rt("VRFY alice"), Command::Vrfy("alice".into()));
        assert_eq!(rt("EXPN list"), Command::Expn("list".into()));
        assert_eq!(rt("HELP"), Command::Help(None));
        assert_eq!(rt("STARTTLS"), Command::StartTls);
        assert_eq!(
            rt("AUTH plain AGFsaWNlAHNlY3JldA=="),
            Command::Auth {
                mechanism: "PLAIN".into(),
                initial_response: Some(InitialResponse::Base64("AGFsaWNlAHNlY3JldA==".into()))
            }
        );
        assert!(matches!(
            rt("AUTH PLAIN ="),
            Command::Auth {
                initial_response: Some(InitialResponse::Empty),
                ..
            }
        ));
        assert!(matches!(
            rt("MAIL FROM:<用户@例子.广告> SMTPUTF8"),
            Command::Mail { .. }
        ));
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "MAIL FROM:<a@b.c>junk",
            "MAIL FROM:<a@b.c> =x",
            "MAIL FROM:a@b.c",
            "MAIL TO:<a@b.c>",
            "RCPT TO:<>",
            "RCPT TO:<a@b.c",
            "DATA now",
            "QUIT please",
            "BDAT",
            "BDAT -1",
            "BDAT 1 FIRST",
            "BDAT 99999999999999999999999",
            "EHLO",
            "EHLO bad/domain",
            "AUTH",
            "AUTH PLAIN !!!",
            "VRFY",
            "MAIL FROM:<a@b.c>\u{0}",
        ] {
            assert!(
                Command::parse(bad.as_bytes()).is_err(),
                "{bad} was accepted"
            );
        }
        let e = Command::parse(b"FROB").unwrap_err();
        assert_eq!(e.reply().code(), 500);
        assert_eq!(
            Command::parse(b"MAIL FROM:<a@b.c>junk")
                .unwrap_err()
                .reply()
                .code(),
            501
        );
        assert_eq!(
            Command::parse(b"MAIL FROM:<a@b.c> SIZE=x")
                .unwrap_err()
                .reply()
                .code(),
            555
        );
        assert!(Command::parse(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn encoding_refuses_injection() {
        let mut out = Vec::new();
        assert!(
            Command::Vrfy("a\r\nRCPT TO:<x@y>".into())
                .encode(&mut out)
                .is_err()
        );
        assert!(Command::Ehlo("a\r\nb".into()).encode(&mut out).is_err());
        assert!(Command::Noop(Some("\n".into())).encode(&mut out).is_err());
        assert!(out.is_empty());
    }
}
