//! The server side of RETR and TOP: a message, chunk by chunk, into dot-stuffed output that
//! ends in `CRLF.CRLF`; for TOP, cut after the header and `n` body lines.

use mailwire_codec::DotStuffer;

/// Encodes one message for a multi-line RETR or TOP response (RFC 1939 §3, §7).
///
/// Feed the stored message in chunks of any size with [`encode`](Self::encode), then call
/// [`finish`](Self::finish). Bytes are passed through unchanged apart from dot-stuffing (a `.`
/// starting a line is doubled), so what a client unstuffs equals what was stored when the
/// message ends with CRLF (a final CRLF is added otherwise). For TOP, `encode` returns `false`
/// once the wanted lines are out: the rest of the message need not be read.
///
/// ```
/// use mailwire_pop3::proto::MessageEncoder;
///
/// let mut out = Vec::new();
/// let mut top = MessageEncoder::top(2);
/// assert!(top.encode(b"Subject: x\r\n\r\n.one\r\n", &mut out));
/// assert!(!top.encode(b"two\r\nthree\r\n", &mut out));
/// top.finish(&mut out);
/// assert_eq!(out, b"Subject: x\r\n\r\n..one\r\ntwo\r\n.\r\n");
/// ```
#[derive(Debug, Clone)]
pub struct MessageEncoder {
    stuffer: DotStuffer,
    /// TOP: body lines still to send; `None` for RETR.
    remaining: Option<u64>,
    /// Still in the header (TOP only).
    in_header: bool,
    /// The previous octet ended a line (or nothing was seen yet).
    at_line_start: bool,
    /// The octet before was a CR at the start of a line (a CRLF empty line may follow).
    cr_at_line_start: bool,
    done: bool,
}

impl MessageEncoder {
    /// For RETR: the whole message.
    pub fn retr() -> Self {
        Self {
            stuffer: DotStuffer::new(false),
            remaining: None,
            in_header: false,
            at_line_start: true,
            cr_at_line_start: false,
            done: false,
        }
    }

    /// For `TOP msg n`: the header, the empty line, and `lines` lines of the body.
    pub fn top(lines: u64) -> Self {
        Self {
            remaining: Some(lines),
            in_header: true,
            ..Self::retr()
        }
    }

    /// Whether everything wanted has been encoded (TOP reached its line count).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Encodes the next chunk of the message into `out`; returns whether more is wanted.
    pub fn encode(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> bool {
        if self.done {
            return false;
        }
        let Some(mut remaining) = self.remaining else {
            self.stuffer.encode(chunk, out);
            return true;
        };
        let mut end = chunk.len();
        let mut i = 0;
        while i < chunk.len() {
            if self.in_header {
                // Look for an empty line: LF at a line start, or CR LF at a line start.
                let b = chunk[i];
                if b == b'\n' && (self.at_line_start || self.cr_at_line_start) {
                    self.in_header = false;
                    self.at_line_start = true;
                    self.cr_at_line_start = false;
                    i += 1;
                    if remaining == 0 {
                        end = i;
                        self.done = true;
                        break;
                    }
                    continue;
                }
                self.cr_at_line_start = b == b'\r' && self.at_line_start;
                self.at_line_start = b == b'\n';
                i += 1;
                continue;
            }
            // In the body: count line ends.
            match memchr::memchr(b'\n', &chunk[i..]) {
                None => break,
                Some(k) => {
                    i += k + 1;
                    remaining -= 1;
                    if remaining == 0 {
                        end = i;
                        self.done = true;
                        break;
                    }
                }
            }
        }
        if !self.in_header && remaining == 0 {
            self.done = true;
        }
        self.remaining = Some(remaining);
        self.stuffer.encode(&chunk[..end], out);
        !self.done
    }

    /// Ends the response: CRLF if the last line lacks one, then `.CRLF`.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.stuffer.finish(out);
        self.done = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn top(msg: &[u8], n: u64, chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = MessageEncoder::top(n);
        for c in msg.chunks(chunk.max(1)) {
            if !e.encode(c, &mut out) {
                break;
            }
        }
        e.finish(&mut out);
        out
    }

    #[test]
    fn top_counts_lines_in_any_chunking() {
        let msg = b"From: a\r\nSubject: b\r\n\r\nl1\r\n.l2\r\nl3\r\n";
        for chunk in [1, 2, 3, 7, 100] {
            assert_eq!(top(msg, 0, chunk), b"From: a\r\nSubject: b\r\n\r\n.\r\n");
            assert_eq!(
                top(msg, 2, chunk),
                b"From: a\r\nSubject: b\r\n\r\nl1\r\n..l2\r\n.\r\n"
            );
            assert_eq!(
                top(msg, 99, chunk),
                b"From: a\r\nSubject: b\r\n\r\nl1\r\n..l2\r\nl3\r\n.\r\n"
            );
        }
        // No body at all, and a header without a final CRLF.
        assert_eq!(top(b"From: a\r\n", 3, 1), b"From: a\r\n.\r\n");
        assert_eq!(top(b"From: a", 3, 1), b"From: a\r\n.\r\n");
        // LF-only messages still find the header end.
        assert_eq!(top(b"A: b\n\nx\ny\n", 1, 1), b"A: b\n\nx\n\r\n.\r\n");
    }

    #[test]
    fn retr_passes_bytes_through() {
        let msg = b".a\r\n..b\r\n.\r\nend\r\n";
        let mut out = Vec::new();
        let mut e = MessageEncoder::retr();
        for c in msg.chunks(3) {
            assert!(e.encode(c, &mut out));
        }
        e.finish(&mut out);
        assert_eq!(out, b"..a\r\n...b\r\n..\r\nend\r\n.\r\n");
        let mut rx = mailwire_codec::MultiLineReceiver::new(1 << 20);
        let mut back = Vec::new();
        rx.feed(&out, &mut back);
        assert_eq!(back, msg);
    }
}
