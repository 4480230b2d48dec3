//! The dot-stuffing encoder used by the SMTP client (`DATA`) and the POP3 server (`RETR`, `TOP`).

/// Encodes a message for a dot-terminated transfer (RFC 5321 §4.5.2, RFC 1939 §3).
///
/// A `.` at the start of every line is doubled, including at the very start of the message and
/// across chunk boundaries. A line starts after *any* line ending, bare `CR` and bare `LF`
/// included, so no receiver, however lenient, can see a terminator inside the message. With
/// `normalise` set, bare `CR` and bare `LF` are turned into `CRLF` (what Python's
/// `smtplib.quotedata` does). [`DotStuffer::finish`] ends the last line if needed and appends
/// `.CRLF`.
///
/// ```
/// use mailwire_codec::DotStuffer;
///
/// let mut out = Vec::new();
/// let mut s = DotStuffer::new(true);
/// s.encode(b".start\r\nline\n.", &mut out);
/// s.encode(b"dot\r\n", &mut out);
/// s.finish(&mut out);
/// assert_eq!(out, b"..start\r\nline\r\n..dot\r\n.\r\n");
/// ```
#[derive(Debug, Clone)]
pub struct DotStuffer {
    normalise: bool,
    at_line_start: bool,
    /// Normalising: the last input octet was a `CR`, already written as `CRLF`.
    after_cr: bool,
    /// The output so far ends with `CRLF` (or is empty).
    ends_with_crlf: bool,
    /// The last octet written was a `CR` (non-normalising mode).
    last_cr: bool,
    empty: bool,
}

impl DotStuffer {
    /// An encoder; `normalise` turns bare `CR`/`LF` into `CRLF`.
    pub fn new(normalise: bool) -> Self {
        Self {
            normalise,
            at_line_start: true,
            after_cr: false,
            ends_with_crlf: true,
            last_cr: false,
            empty: true,
        }
    }

    /// Encodes the next chunk of the message into `out`.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if input.is_empty() {
            return;
        }
        self.empty = false;
        out.reserve(input.len() + input.len() / 64 + 4);
        let mut i = 0;
        while i < input.len() {
            if self.at_line_start {
                self.at_line_start = false;
                if self.normalise && self.after_cr && input[i] == b'\n' {
                    // The LF of a CRLF whose CR was already written as CRLF.
                    self.after_cr = false;
                    self.at_line_start = true;
                    i += 1;
                    continue;
                }
                self.after_cr = false;
                if input[i] == b'.' {
                    out.push(b'.');
                }
            }
            let rest = &input[i..];
            match memchr::memchr2(b'\r', b'\n', rest) {
                None => {
                    out.extend_from_slice(rest);
                    self.ends_with_crlf = false;
                    self.last_cr = false;
                    return;
                }
                Some(k) => {
                    out.extend_from_slice(&rest[..k]);
                    let special = rest[k];
                    i += k + 1;
                    self.at_line_start = true;
                    if self.normalise {
                        out.extend_from_slice(b"\r\n");
                        self.ends_with_crlf = true;
                        self.after_cr = special == b'\r';
                    } else {
                        out.push(special);
                        self.ends_with_crlf = special == b'\n'
                            && (k > 0 && rest[k - 1] == b'\r' || k == 0 && self.last_cr);
                        self.last_cr = special == b'\r';
                    }
                }
            }
        }
    }

    /// Ends the transfer: a `CRLF` if the message does not end with one, then `.CRLF`.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.empty && !self.ends_with_crlf {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        *self = Self::new(self.normalise);
    }
}

/// Stuffs a whole message in one call (see [`DotStuffer`]), terminator included.
pub fn dot_stuff(message: &[u8], normalise: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 8);
    let mut s = DotStuffer::new(normalise);
    s.encode(message, &mut out);
    s.finish(&mut out);
    out
}

/// What a message becomes once stuffed with `normalise` and unstuffed: bare `CR`/`LF` turned
/// into `CRLF`, and a final `CRLF` added to a non-empty message that lacks one.
pub fn normalise_line_endings(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 2);
    let mut i = 0;
    while i < message.len() {
        match message[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if message.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}
