//! Commands (RFC 1939 §§4-7, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH).

use std::fmt;

use mailwire_codec::Secret;

use crate::proto::{EncodeError, SyntaxError};

/// The longest argument RFC 2449 §4 allows (`40 character argument`). The server accepts
/// longer user names and passwords (real ones are), up to the command line limit.
pub const MAX_ARGUMENT: usize = 40;

/// `AUTH`'s optional initial response (RFC 5034 §4).
#[derive(Clone, PartialEq, Eq)]
pub enum InitialResponse {
    /// `=`: an empty initial response.
    Empty,
    /// Base64 text, as sent (the SASL layer decodes it).
    Base64(String),
}

impl fmt::Debug for InitialResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("Empty"),
            // It may carry a password (PLAIN) or a token (XOAUTH2).
            Self::Base64(_) => f.write_str("Base64([REDACTED])"),
        }
    }
}

/// A POP3 command. Message numbers are 1-based, as on the wire.
///
/// ```abnf
/// command = keyword *(SP param) CRLF    ; 255 octets maximum (RFC 2449 §4)
/// keyword = 3*4VCHAR
/// param   = 1*VCHAR
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `USER name`
    User(String),
    /// `PASS string` (the rest of the line, spaces included; redacted in `Debug`)
    Pass(Secret<String>),
    /// `APOP name digest`
    Apop {
        /// The mailbox name.
        user: String,
        /// 32 lower-case hex digits of `MD5(timestamp || secret)`.
        digest: String,
    },
    /// `AUTH mechanism [initial-response]` (RFC 5034)
    Auth {
        /// The SASL mechanism name, upper-cased.
        mechanism: String,
        /// The initial response, if given.
        initial_response: Option<InitialResponse>,
    },
    /// `AUTH` without arguments: list the SASL mechanisms (a common extension, used by
    /// fetchmail and Outlook; not in RFC 5034).
    AuthList,
    /// `STLS` (RFC 2595 §4)
    Stls,
    /// `CAPA` (RFC 2449 §5)
    Capa,
    /// `STAT`
    Stat,
    /// `LIST [msg]`
    List(Option<u32>),
    /// `RETR msg`
    Retr(u32),
    /// `DELE msg`
    Dele(u32),
    /// `NOOP`
    Noop,
    /// `RSET`
    Rset,
    /// `QUIT`
    Quit,
    /// `TOP msg n`
    Top {
        /// The message number.
        message: u32,
        /// How many lines of the body to send after the header.
        lines: u64,
    },
    /// `UIDL [msg]`
    Uidl(Option<u32>),
}

impl Command {
    /// Parses one command line (without its CRLF). The keyword is case-insensitive.
    ///
    /// ```
    /// use mailwire_pop3::proto::Command;
    ///
    /// assert_eq!(Command::parse(b"retr 1").unwrap(), Command::Retr(1));
    /// assert_eq!(Command::parse(b"LIST").unwrap(), Command::List(None));
    /// assert!(Command::parse(b"RETR one").is_err());
    /// assert!(Command::parse(b"STAT now").is_err());
    /// ```
    pub fn parse(line: &[u8]) -> Result<Self, SyntaxError> {
        let line = std::str::from_utf8(line)
            .map_err(|_| SyntaxError::new("command is not valid UTF-8"))?;
        if line.chars().any(char::is_control) {
            return Err(SyntaxError::new("control character in command"));
        }
        let (keyword, rest) = match line.split_once(' ') {
            Some((k, r)) => (k, Some(r)),
            None => (line, None),
        };
        let mut upper = [0u8; 4];
        let keyword = match keyword.as_bytes() {
            k if (3..=4).contains(&k.len()) => {
                for (u, b) in upper.iter_mut().zip(k) {
                    *u = b.to_ascii_uppercase();
                }
                std::str::from_utf8(&upper[..k.len()]).unwrap_or_default()
            }
            _ => return Err(SyntaxError::unknown_command()),
        };
        let no_args = |cmd: Self| match rest {
            None => Ok(cmd),
            Some(_) => Err(SyntaxError::new("this command takes no arguments")),
        };
        let args: Vec<&str> = rest.map(|r| r.split(' ').collect()).unwrap_or_default();
        match keyword {
            "USER" => {
                let name = rest.unwrap_or_default();
                if name.is_empty() || name.starts_with(' ') || name.ends_with(' ') {
                    return Err(SyntaxError::new("syntax: USER name"));
                }
                Ok(Self::User(name.to_owned()))
            }
            "PASS" => match rest {
                // RFC 1939 §7: the password may contain spaces: it is the rest of the line.
                Some(p) if !p.is_empty() => Ok(Self::Pass(Secret::new(p.to_owned()))),
                _ => Err(SyntaxError::new("syntax: PASS password")),
            },
            "APOP" => {
                let rest = rest.unwrap_or_default();
                let (user, digest) = rest
                    .rsplit_once(' ')
                    .ok_or_else(|| SyntaxError::new("syntax: APOP name digest"))?;
                if user.is_empty()
                    || user.starts_with(' ')
                    || user.ends_with(' ')
                    || digest.len() != 32
                    || !digest.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    return Err(SyntaxError::new("syntax: APOP name digest"));
                }
                Ok(Self::Apop {
                    user: user.to_owned(),
                    digest: digest.to_ascii_lowercase(),
                })
            }
            "AUTH" => {
                let Some(rest) = rest else {
                    return Ok(Self::AuthList);
                };
                let mut words = rest.split(' ');
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
                    Some(b64) if is_base64(b64) => Some(InitialResponse::Base64(b64.to_owned())),
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
            "STLS" => no_args(Self::Stls),
            "CAPA" => no_args(Self::Capa),
            "STAT" => no_args(Self::Stat),
            "NOOP" => no_args(Self::Noop),
            "RSET" => no_args(Self::Rset),
            "QUIT" => no_args(Self::Quit),
            "LIST" | "UIDL" => {
                let msg = match args.as_slice() {
                    [] => None,
                    [m] => Some(msg_number(m)?),
                    _ => return Err(SyntaxError::new("syntax: LIST|UIDL [msg]")),
                };
                Ok(if keyword == "LIST" {
                    Self::List(msg)
                } else {
                    Self::Uidl(msg)
                })
            }
            "RETR" | "DELE" => {
                let [m] = args.as_slice() else {
                    return Err(SyntaxError::new("syntax: RETR|DELE msg"));
                };
                let m = msg_number(m)?;
                Ok(if keyword == "RETR" {
                    Self::Retr(m)
                } else {
                    Self::Dele(m)
                })
            }
            "TOP" => {
                let [m, n] = args.as_slice() else {
                    return Err(SyntaxError::new("syntax: TOP msg n"));
                };
                let message = msg_number(m)?;
                if n.is_empty() || n.len() > 19 || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(SyntaxError::new("TOP line count must be a number"));
                }
                let lines = n
                    .parse()
                    .map_err(|_| SyntaxError::new("TOP line count too large"))?;
                Ok(Self::Top { message, lines })
            }
            _ => Err(SyntaxError::unknown_command()),
        }
    }

    /// The command's keyword.
    pub fn keyword(&self) -> &'static str {
        match self {
            Self::User(_) => "USER",
            Self::Pass(_) => "PASS",
            Self::Apop { .. } => "APOP",
            Self::Auth { .. } | Self::AuthList => "AUTH",
            Self::Stls => "STLS",
            Self::Capa => "CAPA",
            Self::Stat => "STAT",
            Self::List(_) => "LIST",
            Self::Retr(_) => "RETR",
            Self::Dele(_) => "DELE",
            Self::Noop => "NOOP",
            Self::Rset => "RSET",
            Self::Quit => "QUIT",
            Self::Top { .. } => "TOP",
            Self::Uidl(_) => "UIDL",
        }
    }

    /// Whether a `+OK` answer to this command is followed by a multi-line body ending in `.`.
    pub fn is_multi_line(&self) -> bool {
        matches!(
            self,
            Self::Capa
                | Self::AuthList
                | Self::List(None)
                | Self::Uidl(None)
                | Self::Retr(_)
                | Self::Top { .. }
        )
    }

    /// Writes the command line, CRLF included. Free-text arguments are checked: CR, LF or any
    /// other control character is refused, so one command can never smuggle a second one.
    ///
    /// ```
    /// use mailwire_pop3::proto::Command;
    /// let mut out = Vec::new();
    /// Command::Top { message: 1, lines: 5 }.encode(&mut out).unwrap();
    /// assert_eq!(out, b"TOP 1 5\r\n");
    /// assert!(Command::User("alice\r\nDELE 1".into()).encode(&mut out).is_err());
    /// ```
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let text = |s: &str| -> Result<(), EncodeError> {
            if s.is_empty() {
                Err(EncodeError::EmptyArgument)
            } else if s.chars().any(char::is_control) {
                Err(EncodeError::ControlCharacter)
            } else {
                Ok(())
            }
        };
        let start = out.len();
        let kw = self.keyword().as_bytes();
        let mut push = |parts: &[&[u8]]| {
            out.extend_from_slice(kw);
            for p in parts {
                out.push(b' ');
                out.extend_from_slice(p);
            }
            out.extend_from_slice(b"\r\n");
        };
        match self {
            Self::User(u) => {
                text(u)?;
                if u.starts_with(' ') || u.ends_with(' ') {
                    return Err(EncodeError::BadArgument);
                }
                push(&[u.as_bytes()]);
            }
            Self::Pass(p) => {
                text(p.expose())?;
                push(&[p.expose().as_bytes()]);
            }
            Self::Apop { user, digest } => {
                text(user)?;
                if user.starts_with(' ')
                    || user.ends_with(' ')
                    || digest.len() != 32
                    || !digest.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    return Err(EncodeError::BadArgument);
                }
                push(&[user.as_bytes(), digest.as_bytes()]);
            }
            Self::Auth {
                mechanism,
                initial_response,
            } => {
                if mechanism.is_empty()
                    || mechanism.len() > 20
                    || !mechanism
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(EncodeError::BadArgument);
                }
                match initial_response {
                    None => push(&[mechanism.as_bytes()]),
                    Some(InitialResponse::Empty) => push(&[mechanism.as_bytes(), b"="]),
                    Some(InitialResponse::Base64(b)) => {
                        if !is_base64(b) {
                            return Err(EncodeError::BadArgument);
                        }
                        push(&[mechanism.as_bytes(), b.as_bytes()]);
                    }
                }
            }
            Self::List(Some(m)) | Self::Uidl(Some(m)) | Self::Retr(m) | Self::Dele(m) => {
                push(&[m.to_string().as_bytes()]);
            }
            Self::Top { message, lines } => {
                push(&[message.to_string().as_bytes(), lines.to_string().as_bytes()]);
            }
            Self::AuthList
            | Self::Stls
            | Self::Capa
            | Self::Stat
            | Self::List(None)
            | Self::Uidl(None)
            | Self::Noop
            | Self::Rset
            | Self::Quit => push(&[]),
        }
        debug_assert!(!out[start..out.len() - 2].contains(&b'\n'));
        Ok(())
    }
}

/// `msg = 1*DIGIT` (a message number; 0 parses but names no message).
fn msg_number(s: &str) -> Result<u32, SyntaxError> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SyntaxError::new("message number must be a number"));
    }
    s.parse()
        .map_err(|_| SyntaxError::new("message number too large"))
}

fn is_base64(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
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
    fn every_command() {
        assert_eq!(rt("USER mrose"), Command::User("mrose".into()));
        assert_eq!(
            rt("pass secret with spaces"),
            Command::Pass(Secret::new("secret with spaces".into()))
        );
        assert_eq!(
            rt("APOP mrose c4c9334bac560ecc979e58001b3e22fb"),
            Command::Apop {
                user: "mrose".into(),
                digest: "c4c9334bac560ecc979e58001b3e22fb".into()
            }
        );
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
        assert_eq!(rt("AUTH"), Command::AuthList);
        assert_eq!(rt("STLS"), Command::Stls);
        assert_eq!(rt("capa"), Command::Capa);
        assert_eq!(rt("STAT"), Command::Stat);
        assert_eq!(rt("LIST"), Command::List(None));
        assert_eq!(rt("LIST 2"), Command::List(Some(2)));
        assert_eq!(rt("RETR 1"), Command::Retr(1));
        assert_eq!(rt("DELE 0"), Command::Dele(0));
        assert_eq!(rt("NOOP"), Command::Noop);
        assert_eq!(rt("RSET"), Command::Rset);
        assert_eq!(rt("QUIT"), Command::Quit);
        assert_eq!(
            rt("TOP 10 0"),
            Command::Top {
                message: 10,
                lines: 0
            }
        );
        assert_eq!(rt("UIDL"), Command::Uidl(None));
        assert_eq!(rt("UIDL 4294967295"), Command::Uidl(Some(u32::MAX)));
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "",
            "ST",
            "STATUS",
            "FROB",
            "STAT 1",
            "QUIT now",
            "LIST a",
            "LIST 1 2",
            "RETR",
            "RETR -1",
            "RETR +1",
            "RETR 4294967296",
            "DELE",
            "TOP 1",
            "TOP 1 x",
            "TOP 1 -1",
            "USER",
            "USER ",
            "PASS",
            "PASS ",
            "APOP mrose",
            "APOP mrose 1234",
            "APOP  c4c9334bac560ecc979e58001b3e22fb",
            "AUTH !!",
            "AUTH PLAIN a b",
            "AUTH PLAIN %%",
            "NOOP\0",
            "RETR 1\r",
            "LIST  1",
        ] {
            assert!(
                Command::parse(bad.as_bytes()).is_err(),
                "{bad:?} was accepted"
            );
        }
        assert!(Command::parse(&[0xff, 0xfe]).is_err());
        assert!(Command::parse(b"FROB").unwrap_err().is_unknown_command());
    }

    #[test]
    fn encoding_refuses_injection() {
        let mut out = Vec::new();
        for cmd in [
            Command::User("a\r\nDELE 1".into()),
            Command::User(String::new()),
            Command::Pass(Secret::new("x\nRETR 1".into())),
            Command::Apop {
                user: "a".into(),
                digest: "x\r\n".into(),
            },
            Command::Auth {
                mechanism: "PLAIN\r\nQUIT".into(),
                initial_response: None,
            },
            Command::Auth {
                mechanism: "PLAIN".into(),
                initial_response: Some(InitialResponse::Base64("a\r\nQUIT".into())),
            },
        ] {
            assert!(cmd.encode(&mut out).is_err(), "{cmd:?}");
        }
        assert!(out.is_empty());
    }

    #[test]
    fn password_is_redacted() {
        let cmd = Command::parse(b"PASS hunter2").unwrap();
        assert!(!format!("{cmd:?}").contains("hunter2"));
        let cmd = Command::parse(b"AUTH PLAIN AGFsaWNlAHNlY3JldA==").unwrap();
        assert!(!format!("{cmd:?}").contains("AGFsaWNl"));
    }
}
