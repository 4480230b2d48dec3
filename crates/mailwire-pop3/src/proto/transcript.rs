//! `mailwire parse pop3-command|pop3-response`: reads one side of a POP3 conversation, prints
//! each parsed value and its re-encoding, and stops at the first failure, naming its byte
//! offset.
//!
//! A transcript holds one side only, so two things are inferred. Commands: after `AUTH mech`,
//! lines that are not commands but base64 (or `*`) are the client's SASL responses. Responses:
//! a `+OK` followed by a line that is neither a status line nor a continuation starts a
//! multi-line body, read (and unstuffed) up to its `.` line.

use std::io::Write;

use mailwire_codec::{DataStatus, MultiLineReceiver};

use crate::proto::{Command, ResponseLine};

/// Which side of the conversation the transcript holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// What a client sent.
    Commands,
    /// What a server sent.
    Responses,
}

/// The first place the transcript does not parse.
#[derive(Debug, thiserror::Error)]
#[error("byte offset {offset}: {message}")]
pub struct TranscriptError {
    /// Offset of the first byte of the message that failed.
    pub offset: usize,
    /// What was wrong.
    pub message: String,
}

fn is_sasl_line(line: &[u8]) -> bool {
    line == b"*"
        || (!line.is_empty()
            && line
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')))
}

/// Parses every message of `input`, writing `parsed:` and `encoded:` lines to `out`. Returns
/// the number of messages.
///
/// ```
/// use mailwire_pop3::proto::transcript::{Side, parse_transcript};
/// let mut out = Vec::new();
/// let n = parse_transcript(Side::Responses, b"+OK hi\r\n+OK\r\n1 10\r\n.\r\n-ERR [IN-USE] no\r\n", &mut out).unwrap();
/// assert_eq!(n, 3);
/// let err = parse_transcript(Side::Commands, b"STAT\r\nRETR x\r\n", &mut out).unwrap_err();
/// assert_eq!(err.offset, 6);
/// ```
pub fn parse_transcript(
    side: Side,
    input: &[u8],
    out: &mut dyn Write,
) -> Result<usize, TranscriptError> {
    let io = |e: std::io::Error| TranscriptError {
        offset: 0,
        message: format!("output: {e}"),
    };
    let mut pos = 0;
    let mut count = 0;
    let mut in_auth = false;
    let mut last_ok = false;
    while pos < input.len() {
        let Some(nl) = memchr::memchr(b'\n', &input[pos..]) else {
            return Err(TranscriptError {
                offset: pos,
                message: "incomplete line at the end".into(),
            });
        };
        let line_end = pos + nl;
        if line_end == pos || input[line_end - 1] != b'\r' {
            return Err(TranscriptError {
                offset: pos,
                message: "line does not end with CRLF".into(),
            });
        }
        let line = &input[pos..line_end - 1];
        let start = pos;
        match side {
            Side::Commands => {
                pos = line_end + 1;
                let cmd = match Command::parse(line) {
                    Ok(cmd) => cmd,
                    Err(_) if in_auth && is_sasl_line(line) => {
                        count += 1;
                        writeln!(out, "sasl:    {} octets of base64", line.len()).map_err(io)?;
                        in_auth = line != b"*";
                        continue;
                    }
                    Err(e) => {
                        return Err(TranscriptError {
                            offset: start,
                            message: e.to_string(),
                        });
                    }
                };
                in_auth = matches!(cmd, Command::Auth { .. });
                count += 1;
                let mut enc = Vec::new();
                cmd.encode(&mut enc).map_err(|e| TranscriptError {
                    offset: start,
                    message: e.to_string(),
                })?;
                writeln!(out, "parsed:  {cmd:?}").map_err(io)?;
                let shown = match cmd {
                    Command::Pass(_) => "PASS [REDACTED]\r\n".to_owned(),
                    _ => String::from_utf8_lossy(&enc).into_owned(),
                };
                writeln!(out, "encoded: {shown:?}").map_err(io)?;
            }
            Side::Responses => {
                let starts_status = line.starts_with(b"+") || line.starts_with(b"-");
                if last_ok && !starts_status {
                    // The body of a multi-line response, from this line to the `.` line.
                    let mut rx = MultiLineReceiver::new(u64::MAX);
                    let mut body = Vec::new();
                    match rx.feed(&input[pos..], &mut body) {
                        DataStatus::Done { consumed, .. } => {
                            writeln!(out, "body:    {} octets after unstuffing", body.len())
                                .map_err(io)?;
                            pos += consumed;
                            last_ok = false;
                            continue;
                        }
                        DataStatus::NeedMore => {
                            return Err(TranscriptError {
                                offset: pos,
                                message: "multi-line response without its . line".into(),
                            });
                        }
                    }
                }
                pos = line_end + 1;
                let r = ResponseLine::parse(line).map_err(|e| TranscriptError {
                    offset: start,
                    message: e.to_string(),
                })?;
                last_ok = matches!(&r, ResponseLine::Status(s) if s.is_ok());
                count += 1;
                let mut enc = Vec::new();
                r.encode(&mut enc);
                writeln!(out, "parsed:  {r:?}").map_err(io)?;
                writeln!(out, "encoded: {:?}", String::from_utf8_lossy(&enc)).map_err(io)?;
            }
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_with_sasl_responses() {
        let t =
            b"CAPA\r\nAUTH CRAM-MD5\r\ndGltIGI5MTNhNjAy\r\nSTAT\r\nPASS secret word\r\nQUIT\r\n";
        let mut out = Vec::new();
        assert_eq!(parse_transcript(Side::Commands, t, &mut out).unwrap(), 6);
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("secret"), "{text}");
        let mut out = Vec::new();
        let e = parse_transcript(Side::Commands, b"STAT\r\ndGltIGI5\r\n", &mut out).unwrap_err();
        assert_eq!(e.offset, 6);
        assert_eq!(
            parse_transcript(Side::Commands, b"STAT\n", &mut out)
                .unwrap_err()
                .offset,
            0
        );
    }

    #[test]
    fn responses_with_bodies() {
        let t = b"+OK ready <1.2@x>\r\n+OK\r\n.\r\n+OK\r\nSubject: x\r\n\r\n..dot\r\n.\r\n+ PDE+\r\n-ERR [SYS/TEMP] later\r\n";
        let mut out = Vec::new();
        assert_eq!(parse_transcript(Side::Responses, t, &mut out).unwrap(), 5);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("body:    0 octets"), "{text}");
        assert!(text.contains("body:    20 octets"), "{text}");
        let mut out = Vec::new();
        let e = parse_transcript(Side::Responses, b"+OK\r\nx\r\n", &mut out).unwrap_err();
        assert_eq!(e.offset, 5);
        let e = parse_transcript(Side::Responses, b"+OK\r\n* OK\r\n", &mut out).unwrap_err();
        assert_eq!(e.offset, 5);
    }
}
