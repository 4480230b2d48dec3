//! Commands (RFC 5321 §4.1.1, RFC 2033 LHLO, RFC 3030 BDAT, RFC 3207 STARTTLS, RFC 4954 AUTH).

use std::borrow::Cow;
use std::fmt;

use crate::proto::address::{self, Address, Charset, ForwardPath, ReversePath};
use crate::proto::ascii::{self, DIGIT, HELO};
use crate::proto::params::{MailParams, RcptParams};
use crate::proto::{EncodeError, SyntaxError};

/// `AUTH`'s optional initial response (RFC 4954 §4).
#[derive(Clone, PartialEq, Eq)]
pub enum InitialResponse<'a> {
    /// `=`: an empty initial response.
    Empty,
    /// Base64 text, as sent (not decoded: the SASL layer decodes).
    Base64(Cow<'a, str>),
}

impl fmt::Debug for InitialResponse<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("Empty"),
            // It may carry a password.
            Self::Base64(_) => f.write_str("Base64([REDACTED])"),
        }
    }
}

/// An SMTP, ESMTP or LMTP command.
///
/// [`Command::parse`] borrows its text from the line it parses (`Command<'line>`): parsing
/// allocates nothing for the common commands. [`Command::into_owned`] gives a
/// `Command<'static>` to keep; a client builds one from `String`s or `&str`s alike
/// (`Command::Ehlo("client.example".into())`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command<'a> {
    /// `EHLO domain`
    Ehlo(Cow<'a, str>),
    /// `HELO domain`
    Helo(Cow<'a, str>),
    /// `LHLO domain` (RFC 2033)
    Lhlo(Cow<'a, str>),
    /// `MAIL FROM:<path> params`
    Mail {
        /// The reverse path.
        from: ReversePath<'a>,
        /// Its parameters.
        params: MailParams<'a>,
    },
    /// `RCPT TO:<path> params`
    Rcpt {
        /// The forward path.
        to: ForwardPath<'a>,
        /// Its parameters.
        params: RcptParams<'a>,
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
    Noop(Option<Cow<'a, str>>),
    /// `QUIT`
    Quit,
    /// `VRFY string`
    Vrfy(Cow<'a, str>),
    /// `EXPN string`
    Expn(Cow<'a, str>),
    /// `HELP [string]`
    Help(Option<Cow<'a, str>>),
    /// `STARTTLS` (RFC 3207)
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954)
    Auth {
        /// The SASL mechanism name, upper-cased.
        mechanism: Cow<'a, str>,
        /// The initial response, if given.
        initial_response: Option<InitialResponse<'a>>,
    },
}

impl<'a> Command<'a> {
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
    pub fn parse(line: &'a [u8]) -> Result<Self, SyntaxError> {
        Self::parse_fast(line, Self::parse_general)
    }

    /// The fast path of [`Command::parse`]: the common shapes of the frequent commands, in
    /// ASCII, checked in one pass with the tables of [`ascii`]. It never rejects: whatever it
    /// does not take (UTF-8, quoted local parts, source routes, free text, and every error) it
    /// hands whole to `general`, the general parser, which accepts or words the error. Whatever
    /// it accepts, the general parser accepts with the same result; the tests check this octet
    /// by octet.
    ///
    /// (The result is built in place, rather than returned as an `Option` and then wrapped:
    /// a `Command` is large, and those copies cost more than the parsing.)
    #[inline(always)]
    fn parse_fast(
        line: &'a [u8],
        general: impl FnOnce(&'a [u8]) -> Result<Self, SyntaxError>,
    ) -> Result<Self, SyntaxError> {
        /// Unwraps a step of the fast path, or hands the line to the general parser.
        macro_rules! fast {
            ($step:expr) => {
                match $step {
                    Some(v) => v,
                    None => return general(line),
                }
            };
        }
        /// A verb as [`verb_bits`] packs it.
        const fn verb(v: &[u8; 4]) -> u32 {
            u32::from_le_bytes(*v)
        }
        let (head, after) = fast!(line.split_first_chunk::<4>());
        let args = match after {
            [] => None,
            [b' ', args @ ..] => Some(args),
            // STARTTLS is the one verb longer than four letters.
            _ => match line.first_chunk::<8>() {
                Some(long)
                    if line.len() == 8
                        && u64::from_le_bytes(*long) & 0xdfdf_dfdf_dfdf_dfdf
                            == u64::from_le_bytes(*b"STARTTLS") =>
                {
                    return Ok(Self::StartTls);
                }
                _ => return general(line),
            },
        };
        match (verb_bits(head), args) {
            (v, None) if v == verb(b"DATA") => Ok(Self::Data),
            (v, None) if v == verb(b"RSET") => Ok(Self::Rset),
            (v, None) if v == verb(b"QUIT") => Ok(Self::Quit),
            (v, None) if v == verb(b"NOOP") => Ok(Self::Noop(None)),
            (v, None) if v == verb(b"HELP") => Ok(Self::Help(None)),
            (v, Some(args)) if v == verb(b"MAIL") => Self::mail_fast(line, args, general),
            (v, Some(args)) if v == verb(b"RCPT") => Self::rcpt_fast(line, args, general),
            (v, Some(args)) if v == verb(b"EHLO") => Ok(Self::Ehlo(fast!(helo_domain_ascii(args)))),
            (v, Some(args)) if v == verb(b"HELO") => Ok(Self::Helo(fast!(helo_domain_ascii(args)))),
            (v, Some(args)) if v == verb(b"LHLO") => Ok(Self::Lhlo(fast!(helo_domain_ascii(args)))),
            (v, Some(args)) if v == verb(b"BDAT") => {
                // size [SP "LAST"], exactly.
                let (size, last) = args.split_at(ascii::count(DIGIT, args));
                let last = match last {
                    [] => false,
                    [b' ', last @ ..] if ascii::is_word(last, b"LAST") => true,
                    _ => return general(line),
                };
                Ok(Self::Bdat {
                    size: fast!(ascii::decimal(size)),
                    last,
                })
            }
            _ => general(line),
        }
    }

    /// The fast path of `MAIL` (see [`Command::parse_fast`]); `args` follows "MAIL ".
    ///
    /// (`MAIL` and `RCPT` fill in the value they return in place: a `Command` is large, and
    /// copying one built elsewhere costs more than parsing it.)
    fn mail_fast(
        line: &'a [u8],
        args: &'a [u8],
        general: impl FnOnce(&'a [u8]) -> Result<Self, SyntaxError>,
    ) -> Result<Self, SyntaxError> {
        let mut out = Ok(Self::Mail {
            from: ReversePath::Null,
            params: MailParams::default(),
        });
        if let Ok(Self::Mail { from, params }) = &mut out {
            let parsed = (|| {
                let path = strip_prefix_ci_bytes(args, b"FROM:")?;
                let path = path.strip_prefix(b" ").unwrap_or(path);
                let (mailbox, after) = address::simple_path(path)?;
                MailParams::parse_ascii(params, params_ascii(after)?)?;
                if let Some(a) = mailbox {
                    *from = ReversePath::Address(a);
                }
                Some(())
            })();
            if parsed.is_some() {
                return out;
            }
        }
        general(line)
    }

    /// The fast path of `RCPT` (see [`Command::parse_fast`]); `args` follows "RCPT ".
    fn rcpt_fast(
        line: &'a [u8],
        args: &'a [u8],
        general: impl FnOnce(&'a [u8]) -> Result<Self, SyntaxError>,
    ) -> Result<Self, SyntaxError> {
        let mut out = Ok(Self::Rcpt {
            to: ForwardPath::Postmaster,
            params: RcptParams::default(),
        });
        if let Ok(Self::Rcpt { to, params }) = &mut out {
            let parsed = (|| {
                let path = strip_prefix_ci_bytes(args, b"TO:")?;
                let path = path.strip_prefix(b" ").unwrap_or(path);
                // The null path and <Postmaster> are left to the general parser.
                let (mailbox, after) = address::simple_path(path)?;
                RcptParams::parse_ascii(params, params_ascii(after)?)?;
                *to = ForwardPath::Address(mailbox?);
                Some(())
            })();
            if parsed.is_some() {
                return out;
            }
        }
        general(line)
    }

    /// The general parser: every command, every form, every error.
    pub(crate) fn parse_general(line: &'a [u8]) -> Result<Self, SyntaxError> {
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
        let needs = |what: &str| -> Result<&'a str, SyntaxError> {
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
                let d = Cow::Borrowed(domain);
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
                rest.map(free_text).transpose()?.map(Cow::Borrowed),
            )),
            "HELP" => Ok(Self::Help(
                rest.map(free_text).transpose()?.map(Cow::Borrowed),
            )),
            "VRFY" => Ok(Self::Vrfy(Cow::Borrowed(needs("a string")?))),
            "EXPN" => Ok(Self::Expn(Cow::Borrowed(needs("a string")?))),
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
                        Some(InitialResponse::Base64(Cow::Borrowed(b64)))
                    }
                    Some(_) => return Err(SyntaxError::new("initial response is not base64")),
                };
                if words.next().is_some() {
                    return Err(SyntaxError::new(
                        "syntax: AUTH mechanism [initial-response]",
                    ));
                }
                let mechanism = if mechanism.bytes().any(|b| b.is_ascii_lowercase()) {
                    Cow::Owned(mechanism.to_ascii_uppercase())
                } else {
                    Cow::Borrowed(mechanism)
                };
                Ok(Self::Auth {
                    mechanism,
                    initial_response,
                })
            }
            _ => Err(SyntaxError::unknown_command()),
        }
    }

    /// The same command, owning its text.
    pub fn into_owned(self) -> Command<'static> {
        let own = |s: Cow<'_, str>| -> Cow<'static, str> { Cow::Owned(s.into_owned()) };
        match self {
            Self::Ehlo(d) => Command::Ehlo(own(d)),
            Self::Helo(d) => Command::Helo(own(d)),
            Self::Lhlo(d) => Command::Lhlo(own(d)),
            Self::Mail { from, params } => Command::Mail {
                from: from.into_owned(),
                params: params.into_owned(),
            },
            Self::Rcpt { to, params } => Command::Rcpt {
                to: to.into_owned(),
                params: params.into_owned(),
            },
            Self::Data => Command::Data,
            Self::Bdat { size, last } => Command::Bdat { size, last },
            Self::Rset => Command::Rset,
            Self::Noop(s) => Command::Noop(s.map(own)),
            Self::Quit => Command::Quit,
            Self::Vrfy(s) => Command::Vrfy(own(s)),
            Self::Expn(s) => Command::Expn(own(s)),
            Self::Help(s) => Command::Help(s.map(own)),
            Self::StartTls => Command::StartTls,
            Self::Auth {
                mechanism,
                initial_response,
            } => Command::Auth {
                mechanism: own(mechanism),
                initial_response: initial_response.map(|r| match r {
                    InitialResponse::Empty => InitialResponse::Empty,
                    InitialResponse::Base64(b) => InitialResponse::Base64(own(b)),
                }),
            },
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

/// The first four octets of a line, upper-cased, as one number to compare with a verb's. Each
/// octet loses bit 5 (`0x20`): that upper-cases a letter, and no octet but a letter's two cases
/// becomes an upper-case letter, so for the verbs (all letters) this is an exact
/// case-insensitive comparison.
#[inline]
fn verb_bits(head: &[u8; 4]) -> u32 {
    u32::from_le_bytes(*head) & 0xdfdf_dfdf
}

/// A case-insensitive ASCII `strip_prefix` on octets; `prefix` is upper-case ASCII (see
/// [`ascii::is_word`]). The general parser's [`strip_prefix_ci`] on text uses it too.
#[inline(always)]
fn strip_prefix_ci_bytes<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let (head, rest) = s.split_at_checked(prefix.len())?;
    ascii::is_word(head, prefix).then_some(rest)
}

/// The fast path of the `EHLO`/`HELO`/`LHLO` argument: only a domain of the octets
/// [`address::client_domain`] takes, nothing around it.
#[inline(always)]
fn helo_domain_ascii(s: &[u8]) -> Option<Cow<'_, str>> {
    if s.is_empty() || s.len() > address::MAX_DOMAIN || !ascii::all(HELO, s) {
        return None;
    }
    ascii::to_str(s).map(Cow::Borrowed)
}

/// The fast path of [`params_text`].
#[inline]
fn params_ascii(after: &[u8]) -> Option<&[u8]> {
    match after {
        [] => Some(after),
        [b' ', params @ ..] => Some(params),
        _ => None,
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
    strip_prefix_ci_bytes(s.as_bytes(), prefix.as_bytes())?;
    s.get(prefix.len()..)
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

    fn rt(line: &str) -> Command<'_> {
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

    /// Whether `text` points into `line` (borrowed from it, not a copy).
    fn within(line: &[u8], text: &str) -> bool {
        line.as_ptr_range().contains(&text.as_ptr())
    }

    #[test]
    fn parsing_borrows_from_the_line() {
        // The fast path and the general parser (quoted local part, source route) alike.
        for line in [
            &b"MAIL FROM:<sender.name@example.com> SIZE=10240 ENVID=abc AUTH=x@y X-A=b"[..],
            b"MAIL FROM:<\"quoted name\"@example.com> ENVID=abc X-A=b",
        ] {
            let Command::Mail { from, params } = Command::parse(line).unwrap() else {
                panic!()
            };
            let a = from.address().unwrap();
            assert!(within(line, a.as_str()), "{a}");
            assert!(matches!(params.envid, Some(Cow::Borrowed(e)) if within(line, e)));
            assert!(matches!(params.unknown[0].keyword, Cow::Borrowed("X-A")));
            assert!(matches!(params.unknown[0].value, Some(Cow::Borrowed("b"))));
        }
        let line = b"RCPT TO:<@relay.example:two@example.net> ORCPT=rfc822;two@example.net";
        let Command::Rcpt { to, params } = Command::parse(line).unwrap() else {
            panic!()
        };
        assert!(within(line, to.address().unwrap().as_str()));
        let (ty, orcpt) = params.orcpt.unwrap();
        assert!(
            matches!((ty, orcpt), (Cow::Borrowed(t), Cow::Borrowed(o)) if within(line, t) && within(line, o))
        );
        let line = b"EHLO client.example.com";
        assert!(
            matches!(Command::parse(line).unwrap(), Command::Ehlo(Cow::Borrowed(d)) if within(line, d))
        );
        // What decoding or upper-casing changes is owned; the value is the same either way.
        let line = b"RCPT TO:<a@b.c> ORCPT=rfc822;a+40b.c x-lower=1";
        let cmd = Command::parse(line).unwrap();
        let Command::Rcpt { params, .. } = &cmd else {
            panic!()
        };
        assert!(
            matches!(&params.orcpt, Some((Cow::Borrowed("rfc822"), Cow::Owned(o))) if o == "a@b.c")
        );
        assert!(matches!(&params.unknown[0].keyword, Cow::Owned(k) if k == "X-LOWER"));
        let line = b"AUTH plain dGVzdA==";
        assert!(matches!(
            Command::parse(line).unwrap(),
            Command::Auth { mechanism: Cow::Owned(m), initial_response: Some(InitialResponse::Base64(Cow::Borrowed(_))) } if m == "PLAIN"
        ));
        // into_owned keeps the value and drops the borrow.
        let owned: Command<'static> = {
            let copy = line.to_vec();
            Command::parse(&copy).unwrap().into_owned()
        };
        assert_eq!(owned, Command::parse(line).unwrap());
        let owned = cmd.clone().into_owned();
        assert_eq!(owned, cmd);
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

    /// The fast path alone: `Some` where it took the line, `None` where it handed it on.
    fn fast(line: &[u8]) -> Option<Command<'_>> {
        Command::parse_fast(line, |_| {
            Err(SyntaxError::new("handed to the general parser"))
        })
        .ok()
    }

    /// The fast path's contract: whatever it takes, the general parser takes with the same
    /// result; and `parse` answers exactly as the general parser does, errors included.
    fn agrees(line: &[u8]) {
        let general = Command::parse_general(line);
        if let Some(cmd) = fast(line) {
            assert_eq!(
                general.as_ref(),
                Ok(&cmd),
                "fast path took {:?}",
                String::from_utf8_lossy(line)
            );
        }
        assert_eq!(
            Command::parse(line),
            general,
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }

    /// Lines of every shape the fast path takes.
    const FAST: &[&str] = &[
        "EHLO client.example.com",
        "ehlo under_score-host.x",
        "HELO a",
        "LHLO lmtp.example.org",
        "MAIL FROM:<sender.name@example.com> SIZE=10240 BODY=8BITMIME",
        "mail from: <a@b.c>",
        "MAIL FROM:<>",
        "MAIL FROM:<> BODY=7bit RET=HDRS ENVID=QQ+2B AUTH=<> SMTPUTF8",
        "MAIL FROM:<x@y.z> REQUIRETLS RET=full AUTH=e+2Bf BODY=BINARYMIME X-FOO=bar X-FLAG",
        "MAIL FROM:<a.b!#$%&'*+/=?^_`{|}~-@x-1.y2.z3>  SIZE=0 ",
        "RCPT TO:<recipient.number.one@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;r1+40example.org",
        "RCPT TO:<two@example.net>",
        "rcpt to:<a@b> notify=never orcpt=x-y;",
        "RCPT TO:<a@b> NOTIFY=delay,success,DELAY X-Y=1 ORCPT=rfc822;a+2Bb",
        "DATA",
        "data",
        "RSET",
        "QUIT",
        "NOOP",
        "HELP",
        "STARTTLS",
        "starttls",
        "BDAT 100",
        "BDAT 0 LAST",
        "bdat 18446744073709551615 last",
    ];

    #[test]
    fn fast_path_takes_the_common_shapes() {
        for line in FAST {
            assert!(fast(line.as_bytes()).is_some(), "{line} was handed on");
            agrees(line.as_bytes());
        }
        // The result is the general parser's, field by field.
        let Some(Command::Rcpt { to, params }) = fast(
            b"RCPT TO:<recipient.number.one@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;r1+40example.org",
        ) else {
            panic!()
        };
        let a = to.address().unwrap();
        assert_eq!(
            (a.local_part(), a.domain()),
            ("recipient.number.one", "example.org")
        );
        assert_eq!(
            params.orcpt,
            Some(("rfc822".into(), "r1@example.org".into()))
        );
        assert!(
            params
                .notify
                .is_some_and(|n| n.success && n.failure && !n.delay)
        );
    }

    #[test]
    fn fast_path_hands_on_what_it_does_not_take() {
        for line in [
            // UTF-8, valid or not.
            "MAIL FROM:<用户@例子.广告> SMTPUTF8",
            "EHLO bücher.example",
            "RCPT TO:<a@b> ORCPT=utf-8;caf\u{e9}",
            "RCPT TO:<a@b> ORCPT=rfc822;+C3+A9",
            // Shapes left to the general parser.
            "RCPT TO:<Postmaster>",
            "RCPT TO:<@relay.org:bob@c.org>",
            "MAIL FROM:<\"quoted\"@x.y>",
            "MAIL FROM:<a@[192.0.2.1]>",
            "EHLO [127.0.0.1]",
            "EHLO client.example.com some text",
            "NOOP hi",
            "VRFY alice",
            "AUTH PLAIN",
            // Errors.
            "MAIL FROM:<a@b.c> junk!",
            "MAIL FROM:<a@b.c>junk",
            "MAIL FROM:<a@b.c> SIZE=1 SIZE=2",
            "MAIL FROM:<a@b.c> SIZE=",
            "MAIL FROM:<a@b.c> ENVID=",
            "MAIL FROM:<a@b.c> AUTH=",
            "MAIL FROM:<a@b.c> SMTPUTF8=yes",
            "MAIL FROM:<a@b.c> BODY",
            "MAIL FROM:<a@b.c> X==1",
            "RCPT TO:<a@b> NOTIFY=NEVER,SUCCESS",
            "RCPT TO:<a@b> NOTIFY=SUCCESS,",
            "RCPT TO:<a@b> ORCPT=;x",
            "RCPT TO:<a@b> ORCPT=rfc822",
            "RCPT TO:<a@b> ORCPT=rfc822;a+2b",
            "RCPT TO:<>",
            "BDAT 18446744073709551616",
            "BDAT 1  LAST",
            "DATA ",
            "FROB",
        ] {
            assert!(fast(line.as_bytes()).is_none(), "{line} was taken");
            agrees(line.as_bytes());
        }
        assert!(fast(&[0xff, 0xfe]).is_none());
        assert!(Command::parse(b"MAIL FROM:<a@b.c> SIZE=1 \xff").is_err());
        assert!(Command::parse("MAIL FROM:<用户@例子.广告>".as_bytes()).is_ok());
    }

    #[test]
    fn fast_path_limits() {
        let label = |n: usize| "d".repeat(n);
        // Local part: 64 octets, not 65.
        for (local, ok) in [(64, true), (65, false)] {
            let line = format!("MAIL FROM:<{}@x.y>", "a".repeat(local));
            assert_eq!(fast(line.as_bytes()).is_some(), ok, "{local}");
            assert_eq!(Command::parse(line.as_bytes()).is_ok(), ok, "{local}");
            agrees(line.as_bytes());
        }
        // Domain labels: 63 octets, not 64.
        for (n, ok) in [(63, true), (64, false)] {
            let line = format!("RCPT TO:<a@{}.y>", label(n));
            assert_eq!(fast(line.as_bytes()).is_some(), ok, "{n}");
            assert_eq!(Command::parse(line.as_bytes()).is_ok(), ok, "{n}");
            agrees(line.as_bytes());
        }
        // The path, brackets included: 256 octets, not 257.
        for (last, ok) in [(61, true), (62, false)] {
            let domain = format!("{}.{}.{}", label(63), label(63), label(last));
            let path = format!("<{}@{domain}>", "a".repeat(64));
            assert_eq!(path.len(), if ok { 256 } else { 257 });
            let line = format!("RCPT TO:{path}");
            assert_eq!(fast(line.as_bytes()).is_some(), ok, "{}", path.len());
            assert_eq!(
                Command::parse(line.as_bytes()).is_ok(),
                ok,
                "{}",
                path.len()
            );
            agrees(line.as_bytes());
        }
        // The domain: 255 octets, not 256 (through EHLO, where no path limit comes first).
        for (n, ok) in [(255, true), (256, false)] {
            let line = format!("EHLO {}", label(n));
            assert_eq!(fast(line.as_bytes()).is_some(), ok, "{n}");
            assert_eq!(Command::parse(line.as_bytes()).is_ok(), ok, "{n}");
            agrees(line.as_bytes());
        }
    }

    /// Every octet value, at every position of every fast shape, replacing or inserted, and
    /// some UTF-8 sequences: the fast path never disagrees with the general parser. A class
    /// table that took one octet too many fails here.
    #[test]
    fn fast_path_agrees_octet_by_octet() {
        const SEQUENCES: &[&[u8]] = &[
            "é".as_bytes(),
            "用".as_bytes(),
            "\u{85}".as_bytes(), // NEL: a control character, and white space to `trim`
            "\u{a0}".as_bytes(), // NO-BREAK SPACE
            "\u{2028}".as_bytes(), // LINE SEPARATOR
            &[0xc3],             // truncated
            &[0xc0, 0x80],       // overlong
            &[0xed, 0xa0, 0x80], // a surrogate
            &[0xf4, 0x90, 0x80, 0x80],
            b"\r\n",
            b"  ",
            b"..",
            b"+4",
            b"=",
        ];
        for template in FAST {
            let t = template.as_bytes();
            for i in 0..=t.len() {
                let (head, tail) = t.split_at(i);
                for b in 0..=255u8 {
                    if let Some((_, after)) = tail.split_first() {
                        agrees(&[head, &[b], after].concat());
                    }
                    agrees(&[head, &[b], tail].concat());
                }
                for seq in SEQUENCES {
                    agrees(&[head, seq, tail].concat());
                }
                if let Some((_, after)) = tail.split_first() {
                    agrees(&[head, after].concat());
                }
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Lines put together from pieces of the grammar: the fast path agrees with the
        /// general parser.
        #[test]
        fn fast_path_agrees_on_assembled_lines(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                "MAIL ", "RCPT ", "EHLO ", "BDAT ", "FROM:", "TO:", "from:", " ", "  ", "<", ">",
                "@", ".", "a", "Z", "9", "-", "_", "=", "+", "+4", "0", "+C3+A9", ";", ",",
                "SIZE=", "BODY=", "8BITMIME", "NOTIFY=", "NEVER", "SUCCESS", "ORCPT=",
                "rfc822;", "AUTH=", "<>", "ENVID=", "SMTPUTF8", "RET=", "HDRS", "LAST", "X-",
                "é", "\u{85}", "\"", "\\", "[", "]", ":", "\t", "\0", "\u{7f}",
            ]), 0..24),
        ) {
            agrees(pieces.concat().as_bytes());
        }

        /// Arbitrary octets after a verb the fast path knows.
        #[test]
        fn fast_path_agrees_on_arbitrary_octets(
            verb in proptest::sample::select(vec![
                "MAIL FROM:<a@b.c> ", "RCPT TO:<a@b.c> ", "MAIL FROM:<", "RCPT TO:<", "EHLO ",
                "BDAT ", "DATA",
            ]),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
        ) {
            agrees(&[verb.as_bytes(), &tail].concat());
        }
    }
}
