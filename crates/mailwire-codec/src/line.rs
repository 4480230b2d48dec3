//! The CRLF line framer used by SMTP and POP3 (both directions) and by IMAP clients.

use crate::LineError;

/// What a lone `LF` (not preceded by `CR`) means to a [`LineFramer`].
///
/// Mail protocols end lines with `CRLF` only; treating a bare `LF` as a line ending is the root
/// of SMTP smuggling and of command-injection bugs. Servers keep [`BareLf::Reject`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BareLf {
    /// A line that ends in a bare `LF` is an error ([`LineError::BareLf`]); the framer
    /// resynchronises after that `LF`. The default, and the only mode a server should use.
    #[default]
    Reject,
    /// A bare `LF` ends a line like `CRLF` does. Exists only for clients talking to broken
    /// servers; never use it on the receiving side of a server.
    AcceptAsLineEnding,
}

/// Settings of a [`LineFramer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineConfig {
    /// The longest line accepted, counting its `CRLF`.
    ///
    /// Default: 8192 octets. SMTP servers set 512 (RFC 5321 §4.5.3.1.4), POP3 servers 255
    /// (RFC 2449 §4). Memory cost: at most this many octets are buffered per connection; the
    /// rest of an overlong line is examined and dropped.
    pub max_line_len: usize,
    /// What a bare `LF` means. Default: [`BareLf::Reject`].
    pub bare_lf: BareLf,
}

impl Default for LineConfig {
    fn default() -> Self {
        Self {
            max_line_len: 8192,
            bare_lf: BareLf::Reject,
        }
    }
}

/// The first LF: a plain loop for a few octets (a peer sending one octet at a time would
/// otherwise pay memchr's dispatch per octet), memchr beyond.
#[inline]
fn find_lf(s: &[u8]) -> Option<usize> {
    if s.len() < 16 {
        s.iter().position(|&b| b == b'\n')
    } else {
        memchr::memchr(b'\n', s)
    }
}

/// A resumable, single-pass `CRLF` line framer.
///
/// Feed it the bytes read from the socket; it hands back complete lines (without their line
/// ending), borrowing from the input when a line lies whole in it and copying only an
/// incomplete tail. Every input byte is examined once, however the input is chunked. A line
/// longer than [`LineConfig::max_line_len`] yields [`LineError::TooLong`] as soon as the limit
/// is crossed; the rest of it is dropped unbuffered and framing resumes after its `LF`, so a
/// server can answer and carry on.
///
/// ```
/// use mailwire_codec::{LineConfig, LineError, LineFramer};
///
/// let mut framer = LineFramer::new(LineConfig { max_line_len: 16, ..LineConfig::default() });
/// let mut lines = Vec::new();
/// for chunk in [&b"EHLO a\r\nNOOP"[..], b"\r\nMAIL FROM:<x@example.com>\r\nQUIT\r\n"] {
///     let mut input = chunk;
///     while let Some(line) = framer.next_line(&mut input) {
///         lines.push(line.map(|l| l.to_vec()));
///     }
/// }
/// assert_eq!(lines[0], Ok(b"EHLO a".to_vec()));
/// assert_eq!(lines[1], Ok(b"NOOP".to_vec()));
/// assert_eq!(lines[2], Err(LineError::TooLong { limit: 16 }));
/// assert_eq!(lines[3], Ok(b"QUIT".to_vec()));
/// ```
#[derive(Debug, Clone)]
pub struct LineFramer {
    config: LineConfig,
    /// The start of a line whose end has not arrived yet.
    partial: Vec<u8>,
    /// Dropping the rest of an overlong or rejected line until its `LF`.
    discarding: bool,
    /// `partial` holds a line handed out by the last call: clear it on the next one.
    handed_out: bool,
}

impl LineFramer {
    /// A framer with the given settings.
    pub fn new(config: LineConfig) -> Self {
        Self {
            config,
            partial: Vec::new(),
            discarding: false,
            handed_out: false,
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &LineConfig {
        &self.config
    }

    /// Changes the line limit for the lines still to come (e.g. an SMTP server allows longer
    /// `AUTH` continuation lines).
    pub fn set_max_line_len(&mut self, max_line_len: usize) {
        self.config.max_line_len = max_line_len;
    }

    /// Octets held from earlier input: the start of a line not yet complete.
    ///
    /// A STARTTLS driver checks that this and the unconsumed input are both empty right after
    /// the STARTTLS line: anything else was sent before the handshake and must not be trusted.
    pub fn buffered_len(&self) -> usize {
        if self.handed_out {
            0
        } else {
            self.partial.len()
        }
    }

    /// Whether the framer is between lines (nothing buffered, not dropping an overlong line).
    pub fn is_idle(&self) -> bool {
        self.buffered_len() == 0 && !self.discarding
    }

    /// Forgets any partial line, e.g. after a TLS upgrade.
    pub fn reset(&mut self) {
        self.partial.clear();
        self.discarding = false;
        self.handed_out = false;
    }

    /// Frames the next line from `input`, advancing `input` past what was consumed.
    ///
    /// Returns `None` when `input` is exhausted without completing a line (the tail is kept for
    /// the next call), `Some(Ok(line))` for a line without its line ending, and `Some(Err(_))`
    /// for a line that was refused. Call it in a loop until it returns `None`.
    #[inline]
    pub fn next_line<'s, 'i: 's>(
        &'s mut self,
        input: &mut &'i [u8],
    ) -> Option<Result<&'s [u8], LineError>> {
        // One octet inside a line, the whole of the input: what a peer sending one octet at a
        // time makes of almost every call. It can end nothing and cross no limit here.
        if let [b] = **input
            && b != b'\n'
            && !self.handed_out
            && !self.discarding
            && self.partial.len() + 1 < self.config.max_line_len
        {
            self.partial.push(b);
            *input = &[];
            return None;
        }
        self.next_line_general(input)
    }

    /// Everything but the one-octet case of [`LineFramer::next_line`], out of line so that
    /// case inlines into the caller's read loop.
    #[inline(never)]
    fn next_line_general<'s, 'i: 's>(
        &'s mut self,
        input: &mut &'i [u8],
    ) -> Option<Result<&'s [u8], LineError>> {
        if self.handed_out {
            self.partial.clear();
            self.handed_out = false;
        }
        loop {
            if input.is_empty() {
                return None;
            }
            if self.discarding {
                match find_lf(input) {
                    None => {
                        *input = &[];
                        return None;
                    }
                    Some(pos) => {
                        *input = &input[pos + 1..];
                        self.discarding = false;
                        continue;
                    }
                }
            }
            let max = self.config.max_line_len;
            let already = self.partial.len();
            // Never look further than the limit allows: the rest of an overlong line is
            // dropped by the discard scan, so no byte is examined twice.
            let window = max.saturating_sub(already).min(input.len());
            let data: &'i [u8] = input;
            let Some(pos) = find_lf(&data[..window]) else {
                if already + data.len() >= max {
                    // The line, with its terminator still to come, cannot fit.
                    self.partial.clear();
                    self.discarding = true;
                    *input = &data[window..];
                    return Some(Err(LineError::TooLong { limit: max }));
                }
                crate::append(&mut self.partial, data);
                *input = &[];
                return None;
            };
            *input = &data[pos + 1..];
            let has_cr = match pos {
                0 => self.partial.last() == Some(&b'\r'),
                _ => data[pos - 1] == b'\r',
            };
            if !has_cr && self.config.bare_lf == BareLf::Reject {
                self.partial.clear();
                return Some(Err(LineError::BareLf));
            }
            let strip = usize::from(has_cr);
            if already == 0 {
                // The whole line lies in the input: hand it out without copying.
                return Some(Ok(&data[..pos - strip]));
            }
            self.partial.extend_from_slice(&data[..pos]);
            let end = self.partial.len() - strip;
            self.handed_out = true;
            return Some(Ok(&self.partial[..end]));
        }
    }
}
