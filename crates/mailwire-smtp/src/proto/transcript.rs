//! `mailwire parse smtp-command|smtp-reply`: splits a recorded byte stream into commands (with
//! their DATA and BDAT payloads) or replies, prints each parsed value and its re-encoding, and
//! stops at the first failure, naming its byte offset.

use std::io::Write;

use mailwire_codec::{BareLineEndings, DataConfig, DataReceiver, DataStatus};

use crate::proto::{Command, ReplyParser};

/// Which side of the conversation the transcript holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// What a client sent.
    Commands,
    /// What a server sent.
    Replies,
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

/// Parses every message of `input`, writing `parsed:` and `encoded:` lines to `out`. Returns the
/// number of messages.
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
    let mut replies = ReplyParser::new(true);
    let mut reply_start = 0;
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
        pos = line_end + 1;
        match side {
            Side::Replies => {
                if !replies.is_partial() {
                    reply_start = start;
                }
                match replies.push_line(line) {
                    Ok(None) => {}
                    Ok(Some(r)) => {
                        count += 1;
                        writeln!(out, "parsed:  {r:?}").map_err(io)?;
                        writeln!(out, "encoded: {:?}", String::from_utf8_lossy(&r.to_bytes()))
                            .map_err(io)?;
                    }
                    Err(e) => {
                        return Err(TranscriptError {
                            offset: reply_start,
                            message: e.to_string(),
                        });
                    }
                }
            }
            Side::Commands => {
                let cmd = Command::parse(line).map_err(|e| TranscriptError {
                    offset: start,
                    message: e.to_string(),
                })?;
                count += 1;
                let mut enc = Vec::new();
                cmd.encode(&mut enc).map_err(|e| TranscriptError {
                    offset: start,
                    message: e.to_string(),
                })?;
                writeln!(out, "parsed:  {cmd:?}").map_err(io)?;
                writeln!(out, "encoded: {:?}", String::from_utf8_lossy(&enc)).map_err(io)?;
                match cmd {
                    Command::Data => {
                        let mut rx = DataReceiver::new(DataConfig {
                            max_message_size: u64::MAX,
                            bare_line_endings: BareLineEndings::Accept,
                            max_line_len: None,
                        });
                        let mut body = Vec::new();
                        match rx.feed(&input[pos..], &mut body) {
                            DataStatus::Done { consumed, .. } => {
                                writeln!(out, "data:    {} octets after unstuffing", body.len())
                                    .map_err(io)?;
                                pos += consumed;
                            }
                            DataStatus::NeedMore => {
                                return Err(TranscriptError {
                                    offset: pos,
                                    message: "DATA without CRLF.CRLF".into(),
                                });
                            }
                        }
                    }
                    Command::Bdat { size, .. } => {
                        let n = usize::try_from(size).unwrap_or(usize::MAX);
                        if input.len() - pos < n {
                            return Err(TranscriptError {
                                offset: pos,
                                message: format!("BDAT chunk of {size} octets is cut short"),
                            });
                        }
                        writeln!(out, "chunk:   {size} octets").map_err(io)?;
                        pos += n;
                    }
                    _ => {}
                }
            }
        }
    }
    if replies.is_partial() {
        return Err(TranscriptError {
            offset: reply_start,
            message: "multi-line reply without its last line".into(),
        });
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_with_payloads() {
        let t = b"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nhi\r\n..\r\n.\r\nBDAT 3 LAST\r\nabcQUIT\r\n";
        let mut out = Vec::new();
        assert_eq!(parse_transcript(Side::Commands, t, &mut out).unwrap(), 6);
        let bad = b"EHLO x\r\nMAIL FROM:<a@b.c>junk\r\n";
        assert_eq!(
            parse_transcript(Side::Commands, bad, &mut out)
                .unwrap_err()
                .offset,
            8
        );
    }

    #[test]
    fn replies() {
        let t = b"220 hi\r\n250-a\r\n250 b\r\n354 go\r\n";
        let mut out = Vec::new();
        assert_eq!(parse_transcript(Side::Replies, t, &mut out).unwrap(), 3);
        assert_eq!(
            parse_transcript(Side::Replies, b"220 hi\r\n25x\r\n", &mut out)
                .unwrap_err()
                .offset,
            8
        );
    }
}
