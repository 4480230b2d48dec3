//! IMAP message framing: lines and the literals they announce, in both directions.

use crate::FramingError;

/// Whether the sender waits for a continuation request before sending the literal octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteralMode {
    /// `{n}`: the sender waits for `+` (a server answers `+` or refuses with `BAD`/`NO`).
    Sync,
    /// `{n+}` (LITERAL+ / LITERAL-, RFC 7888): the octets follow at once.
    NonSync,
}

/// A literal announced at the end of a line, reported before any of its octets is buffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiteralAnnouncement {
    /// The announced number of octets.
    pub size: u64,
    /// Synchronising or not.
    pub mode: LiteralMode,
    /// `~{n}`: a `literal8` (RFC 3516 BINARY), which may contain NUL.
    pub binary: bool,
}

/// Settings of an [`ImapFramer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImapFramerConfig {
    /// The longest line (the text between literals), counting its `CRLF`.
    ///
    /// Default: 64 KiB, as Dovecot's `imap_max_line_length`. Memory cost: per connection.
    pub max_line_len: usize,
    /// The largest literal accepted. Larger announcements get
    /// [`FramingError::LiteralTooLarge`] before any octet is buffered.
    ///
    /// Default: 64 MiB (servers set it to their APPENDLIMIT; clients to the largest message
    /// they want to download in one piece).
    pub max_literal_len: u64,
    /// The largest message (all lines and literals of one command or response).
    ///
    /// Default: 80 MiB. Bounds a chain of small literals that would otherwise grow forever.
    pub max_message_len: usize,
    /// Accept a bare `LF` as a line ending (clients facing broken servers only). Default: no.
    pub accept_bare_lf: bool,
}

impl Default for ImapFramerConfig {
    fn default() -> Self {
        Self {
            max_line_len: 64 * 1024,
            max_literal_len: 64 * 1024 * 1024,
            max_message_len: 80 * 1024 * 1024,
            accept_bare_lf: false,
        }
    }
}

/// What an [`ImapFramer`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum ImapFrame<'a> {
    /// A whole message: its lines (with their `CRLF`) and literals, exactly as received.
    Message(&'a [u8]),
    /// The last line ends with a literal announcement within the limits. Nothing of the literal
    /// is buffered yet. A server answers `+` to accept a synchronising literal, or calls
    /// [`ImapFramer::reject_literal`] and answers `BAD`/`NO`; otherwise framing continues with
    /// the literal octets on the next call.
    LiteralAnnounced(LiteralAnnouncement),
    /// The message broke a rule. Its remaining octets, literals included, are dropped until
    /// its true end; framing then goes on with the next message.
    Error {
        /// What was wrong.
        error: FramingError,
        /// The message's first word, when it was read: the tag a server puts in `tag BAD`.
        tag: Option<Vec<u8>>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading a line.
    Line,
    /// Reading literal octets.
    Literal { remaining: u64 },
    /// Dropping the rest of an overlong line.
    DiscardLine,
}

/// A resumable framer that splits an IMAP byte stream into messages (commands or responses),
/// literals included, looking at each byte once however the input is chunked.
///
/// A line that ends in `{n}`, `{n+}` or `~{n}` is reported as
/// [`ImapFrame::LiteralAnnounced`] before any octet of the literal is buffered, so a server can
/// refuse it. After an error the framer is *poisoned* until the message's true end: it keeps
/// framing (skipping the octets of non-synchronising literals) but delivers nothing, so literal
/// data can never be mistaken for commands.
///
/// ```
/// use mailwire_codec::{ImapFrame, ImapFramer, ImapFramerConfig, LiteralMode};
///
/// let mut framer = ImapFramer::new(ImapFramerConfig::default());
/// let mut input = &b"a1 LOGIN {5}\r\n"[..];
/// match framer.next_frame(&mut input) {
///     Some(ImapFrame::LiteralAnnounced(lit)) => {
///         assert_eq!((lit.size, lit.mode), (5, LiteralMode::Sync));
///         // a server would now send "+ go ahead\r\n"
///     }
///     other => panic!("{other:?}"),
/// }
/// assert!(framer.next_frame(&mut input).is_none());
/// let mut input = &b"alice {6+}\r\nsecret\r\na2 NOOP\r\n"[..];
/// assert!(matches!(framer.next_frame(&mut input), Some(ImapFrame::LiteralAnnounced(_))));
/// assert_eq!(
///     framer.next_frame(&mut input),
///     Some(ImapFrame::Message(&b"a1 LOGIN {5}\r\nalice {6+}\r\nsecret\r\n"[..]))
/// );
/// assert_eq!(framer.next_frame(&mut input), Some(ImapFrame::Message(&b"a2 NOOP\r\n"[..])));
/// ```
#[derive(Debug, Clone)]
pub struct ImapFramer {
    config: ImapFramerConfig,
    buf: Vec<u8>,
    phase: Phase,
    /// Length of the current line segment so far (counting a trailing CR).
    line_len: usize,
    /// The message is poisoned: drop everything until its end.
    poisoned: bool,
    /// The last announcement, kept until the caller accepts or rejects it.
    pending: Option<LiteralAnnouncement>,
    /// `buf` holds a message handed out by the last call.
    handed_out: bool,
    /// The last octets of a line being dropped: enough to see a literal announcement.
    tail: Vec<u8>,
}

/// The first LF: a plain loop for a few octets (no call through memchr's dispatch per octet
/// when a peer sends one at a time), memchr beyond.
#[inline]
fn find_lf(s: &[u8]) -> Option<usize> {
    if s.len() < 16 {
        s.iter().position(|&b| b == b'\n')
    } else {
        memchr::memchr(b'\n', s)
    }
}

/// Octets of a discarded line kept to recognise `~{number64+}` at its end.
const TAIL: usize = 32;

impl ImapFramer {
    /// A framer with the given settings.
    pub fn new(config: ImapFramerConfig) -> Self {
        Self {
            config,
            buf: Vec::new(),
            phase: Phase::Line,
            line_len: 0,
            poisoned: false,
            pending: None,
            handed_out: false,
            tail: Vec::new(),
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &ImapFramerConfig {
        &self.config
    }

    /// Octets of an incomplete message held from earlier input.
    pub fn buffered_len(&self) -> usize {
        if self.handed_out { 0 } else { self.buf.len() }
    }

    /// The octets of the message in progress (its lines so far, literals included): after
    /// [`ImapFrame::LiteralAnnounced`], the command line whose tag a refusal carries. Empty
    /// between messages.
    pub fn buffered(&self) -> &[u8] {
        if self.handed_out { &[] } else { &self.buf }
    }

    /// Whether the framer is between messages.
    pub fn is_idle(&self) -> bool {
        self.buffered_len() == 0 && self.phase == Phase::Line && !self.poisoned
    }

    /// Forgets the message in progress, e.g. after a TLS upgrade.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.phase = Phase::Line;
        self.line_len = 0;
        self.poisoned = false;
        self.pending = None;
        self.handed_out = false;
        self.tail.clear();
    }

    /// Refuses the literal just announced by [`ImapFrame::LiteralAnnounced`].
    ///
    /// A synchronising literal is never sent by a well-behaved peer once refused, so the
    /// message ends here. The octets of a non-synchronising literal arrive anyway: they are
    /// skipped, and the rest of the message with them. Does nothing when no literal is pending.
    pub fn reject_literal(&mut self) {
        let Some(lit) = self.pending.take() else {
            return;
        };
        match lit.mode {
            LiteralMode::Sync => self.end_message(),
            LiteralMode::NonSync => {
                self.buf.clear();
                self.poisoned = true;
            }
        }
    }

    /// Frames from `input`, advancing it past what was consumed. `None` means more input is
    /// needed. Call it in a loop until it returns `None`.
    #[inline]
    pub fn next_frame<'s, 'i: 's>(&'s mut self, input: &mut &'i [u8]) -> Option<ImapFrame<'s>> {
        // One octet inside a line or a literal, the whole of the input: what a peer sending one
        // octet at a time makes of almost every call. It can end nothing and cross no limit
        // here (limits on literals were checked when they were announced).
        if let [b] = **input
            && !self.handed_out
            && !self.poisoned
        {
            match self.phase {
                Phase::Line
                    if b != b'\n'
                        && self.line_len + 1 < self.config.max_line_len
                        && self.buf.len() < self.config.max_message_len =>
                {
                    self.pending = None;
                    self.buf.push(b);
                    self.line_len += 1;
                    *input = &[];
                    return None;
                }
                Phase::Literal { remaining } if remaining > 0 => {
                    self.pending = None;
                    self.buf.push(b);
                    self.phase = match remaining - 1 {
                        0 => Phase::Line,
                        remaining => Phase::Literal { remaining },
                    };
                    *input = &[];
                    return None;
                }
                _ => {}
            }
        }
        self.next_frame_general(input)
    }

    /// Everything but the one-octet case of [`ImapFramer::next_frame`], out of line so that
    /// case inlines into the caller's read loop.
    #[inline(never)]
    fn next_frame_general<'s, 'i: 's>(&'s mut self, input: &mut &'i [u8]) -> Option<ImapFrame<'s>> {
        if self.handed_out {
            self.buf.clear();
            self.handed_out = false;
        }
        // An announcement not rejected before this call is accepted.
        self.pending = None;
        loop {
            if input.is_empty() {
                return None;
            }
            let data: &'i [u8] = input;
            match self.phase {
                Phase::Literal { remaining } => {
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(data.len());
                    if !self.poisoned {
                        crate::append(&mut self.buf, &data[..take]);
                    }
                    *input = &data[take..];
                    // `take` fits in u64 as it is at most `remaining`.
                    let remaining = remaining - take as u64;
                    self.phase = if remaining == 0 {
                        Phase::Line
                    } else {
                        Phase::Literal { remaining }
                    };
                }
                Phase::DiscardLine => match find_lf(data) {
                    None => {
                        self.keep_tail(data);
                        *input = &[];
                    }
                    Some(pos) => {
                        self.keep_tail(&data[..pos]);
                        *input = &data[pos + 1..];
                        self.finish_discarded_line();
                    }
                },
                Phase::Line if self.poisoned => {
                    self.phase = Phase::DiscardLine;
                    self.tail.clear();
                }
                Phase::Line => {
                    let max = self.config.max_line_len;
                    let max_message = self.config.max_message_len;
                    let window = max.saturating_sub(self.line_len).min(data.len());
                    let Some(pos) = find_lf(&data[..window]) else {
                        // The octet at which each limit is crossed: the earlier one is the
                        // error, whatever the chunking (a tie goes to the line limit).
                        let line_at = (self.line_len + data.len() >= max)
                            .then(|| max.saturating_sub(1).saturating_sub(self.line_len));
                        let room = max_message.saturating_sub(self.buf.len());
                        let message_at = (data.len() > room).then_some(room);
                        match (line_at, message_at) {
                            (Some(l), m) if m.is_none_or(|m| l <= m) => {
                                // Keep what fits (at most the line limit) so the tag can be read.
                                self.buf.extend_from_slice(&data[..window]);
                                self.line_len += window;
                                self.start_discard(&[]);
                                *input = &data[window..];
                                return self.fail(FramingError::LineTooLong { limit: max });
                            }
                            (_, Some(m)) => {
                                // Only the window is known to hold no LF: the rest of the
                                // input is left to the discard scan.
                                let m = m.min(window);
                                self.buf.extend_from_slice(&data[..m]);
                                self.line_len += m;
                                self.start_discard(&data[m..window]);
                                *input = &data[window..];
                                let limit = max_message;
                                return self.fail(FramingError::MessageTooLarge { limit });
                            }
                            _ => {}
                        }
                        *input = &[];
                        crate::append(&mut self.buf, data);
                        self.line_len += data.len();
                        continue;
                    };
                    *input = &data[pos + 1..];
                    if self.buf.len() + pos + 1 > max_message {
                        let room = max_message.saturating_sub(self.buf.len()).min(pos);
                        self.buf.extend_from_slice(&data[..room]);
                        self.line_len += room;
                        self.start_discard(&data[room..pos]);
                        let frame = self.fail(FramingError::MessageTooLarge { limit: max_message });
                        self.finish_discarded_line();
                        return frame;
                    }
                    let line_start = self.buf.len() - self.line_len;
                    self.buf.extend_from_slice(&data[..=pos]);
                    let has_cr =
                        self.buf.len() >= line_start + 2 && self.buf[self.buf.len() - 2] == b'\r';
                    let text_end = self.buf.len() - 1 - usize::from(has_cr);
                    let announced = literal_at_end(&self.buf[line_start..text_end]);
                    self.line_len = 0;
                    if !has_cr && !self.config.accept_bare_lf {
                        let frame = self.fail(FramingError::BareLf);
                        self.after_line(announced);
                        return frame;
                    }
                    match announced {
                        Announcement::None => {
                            self.handed_out = true;
                            return Some(ImapFrame::Message(&self.buf));
                        }
                        Announcement::Invalid => {
                            let frame = self.fail(FramingError::InvalidLiteral);
                            // The size is unknown, so the message can only end here.
                            self.end_message();
                            return frame;
                        }
                        Announcement::Literal(lit) => {
                            let room = max_message.saturating_sub(self.buf.len()) as u64;
                            let error = if lit.size > self.config.max_literal_len {
                                let limit = self.config.max_literal_len;
                                FramingError::LiteralTooLarge {
                                    size: lit.size,
                                    limit,
                                }
                            } else if lit.size > room {
                                FramingError::MessageTooLarge { limit: max_message }
                            } else {
                                if lit.size > 0 {
                                    self.phase = Phase::Literal {
                                        remaining: lit.size,
                                    };
                                }
                                self.pending = Some(lit);
                                return Some(ImapFrame::LiteralAnnounced(lit));
                            };
                            let frame = self.fail(error);
                            self.after_line(announced);
                            return frame;
                        }
                    }
                }
            }
        }
    }

    /// Starts dropping the rest of the current line, remembering its last octets (from what is
    /// buffered of it, then `bytes`) to see whether it announces a literal.
    fn start_discard(&mut self, bytes: &[u8]) {
        let line_start = self.buf.len() - self.line_len.min(self.buf.len());
        let from = line_start.max(self.buf.len().saturating_sub(TAIL));
        self.tail.clear();
        self.tail.extend_from_slice(&self.buf[from..]);
        self.keep_tail(bytes);
        self.line_len = 0;
        self.phase = Phase::DiscardLine;
    }

    /// The dropped line ended: skip its literal, or end the message.
    fn finish_discarded_line(&mut self) {
        let tail = std::mem::take(&mut self.tail);
        let text = tail.strip_suffix(b"\r").unwrap_or(&tail);
        self.after_line(literal_at_end(text));
    }

    /// Poisons the message and reports `error` (once: a poisoned message reports nothing more).
    fn fail(&mut self, error: FramingError) -> Option<ImapFrame<'static>> {
        if self.poisoned {
            return None;
        }
        let tag = tag_of(&self.buf);
        self.buf.clear();
        self.poisoned = true;
        Some(ImapFrame::Error { error, tag })
    }

    /// Decides what follows a line of a poisoned message: its literal (skipped) or its end.
    fn after_line(&mut self, announced: Announcement) {
        self.line_len = 0;
        match announced {
            Announcement::Literal(LiteralAnnouncement {
                size,
                mode: LiteralMode::NonSync,
                ..
            }) if size > 0 => {
                // The peer sends these octets without waiting: skip them.
                self.phase = Phase::Literal { remaining: size };
            }
            Announcement::Literal(LiteralAnnouncement { size: 0, .. }) => {
                self.phase = Phase::Line;
            }
            // A refused synchronising literal is never sent; an invalid one has no known size.
            _ => self.end_message(),
        }
    }

    fn end_message(&mut self) {
        self.buf.clear();
        self.phase = Phase::Line;
        self.line_len = 0;
        self.poisoned = false;
        self.pending = None;
        self.tail.clear();
    }

    fn keep_tail(&mut self, bytes: &[u8]) {
        if bytes.len() >= TAIL {
            self.tail.clear();
            self.tail.extend_from_slice(&bytes[bytes.len() - TAIL..]);
        } else {
            self.tail.extend_from_slice(bytes);
            if self.tail.len() > TAIL {
                let excess = self.tail.len() - TAIL;
                self.tail.drain(..excess);
            }
        }
    }
}

/// What the end of a line announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Announcement {
    None,
    Invalid,
    Literal(LiteralAnnouncement),
}

/// Looks for `literal` / `literal8` syntax at the end of a line's text (without `CRLF`):
///
/// ```text
/// literal  = "{" number64 ["+"] "}" CRLF *CHAR8      ; RFC 9051, "+" from RFC 7888
/// literal8 = "~{" number64 ["+"] "}" CRLF *OCTET     ; RFC 3516 / RFC 9051
/// ```
///
/// Text ending in `}` whose braces hold only digits, `+` and `-` is an attempted announcement:
/// anything but `1*DIGIT ["+"]` with a value up to 2^63-1 is [`Announcement::Invalid`].
fn literal_at_end(line: &[u8]) -> Announcement {
    let Some(body) = line.strip_suffix(b"}") else {
        return Announcement::None;
    };
    let start = body
        .iter()
        .rposition(|b| !(b.is_ascii_digit() || *b == b'+' || *b == b'-'))
        .map_or(0, |p| p + 1);
    if start == 0 || body[start - 1] != b'{' {
        return Announcement::None;
    }
    let inner = &body[start..];
    let (digits, mode) = match inner.strip_suffix(b"+") {
        Some(d) => (d, LiteralMode::NonSync),
        None => (inner, LiteralMode::Sync),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Announcement::Invalid;
    }
    let mut size: u64 = 0;
    for d in digits {
        size = match size
            .checked_mul(10)
            .and_then(|s| s.checked_add(u64::from(d - b'0')))
        {
            Some(s) if s <= i64::MAX as u64 => s,
            _ => return Announcement::Invalid,
        };
    }
    let binary = start >= 2 && body[start - 2] == b'~';
    Announcement::Literal(LiteralAnnouncement { size, mode, binary })
}

/// The first word of a message, if it looks like a tag a server can echo in `tag BAD`.
fn tag_of(buf: &[u8]) -> Option<Vec<u8>> {
    let end = memchr::memchr(b' ', buf)?;
    let tag = &buf[..end];
    let ok = !tag.is_empty()
        && tag.len() <= 64
        && tag.iter().all(|b| {
            b.is_ascii_graphic()
                && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b'+')
        });
    ok.then(|| tag.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(size: u64, mode: LiteralMode, binary: bool) -> Announcement {
        Announcement::Literal(LiteralAnnouncement { size, mode, binary })
    }

    #[test]
    fn announcement_syntax() {
        assert_eq!(
            literal_at_end(b"a LOGIN {5}"),
            lit(5, LiteralMode::Sync, false)
        );
        assert_eq!(
            literal_at_end(b"a APPEND x {10+}"),
            lit(10, LiteralMode::NonSync, false)
        );
        assert_eq!(
            literal_at_end(b"* 1 FETCH (BINARY[] ~{3}"),
            lit(3, LiteralMode::Sync, true)
        );
        assert_eq!(literal_at_end(b"{0}"), lit(0, LiteralMode::Sync, false));
        assert_eq!(literal_at_end(b"a NOOP"), Announcement::None);
        assert_eq!(literal_at_end(b"a SELECT \"{5}\""), Announcement::None);
        assert_eq!(literal_at_end(b"a X {abc}"), Announcement::None);
        assert_eq!(literal_at_end(b"}"), Announcement::None);
        assert_eq!(literal_at_end(b"a X {-1}"), Announcement::Invalid);
        assert_eq!(literal_at_end(b"a X {}"), Announcement::Invalid);
        assert_eq!(literal_at_end(b"a X {+}"), Announcement::Invalid);
        assert_eq!(literal_at_end(b"a X {1+2}"), Announcement::Invalid);
        assert_eq!(literal_at_end(b"a X {5-}"), Announcement::Invalid);
        assert_eq!(
            literal_at_end(b"a X {99999999999999999999}"),
            Announcement::Invalid
        );
        assert_eq!(
            literal_at_end(b"a X {9223372036854775807}"),
            lit(i64::MAX as u64, LiteralMode::Sync, false)
        );
        assert_eq!(
            literal_at_end(b"a X {9223372036854775808}"),
            Announcement::Invalid
        );
    }

    #[test]
    fn tags() {
        assert_eq!(tag_of(b"a1 NOOP"), Some(b"a1".to_vec()));
        assert_eq!(tag_of(b"NOOP"), None);
        assert_eq!(tag_of(b"* OK"), None);
        assert_eq!(tag_of(b"+ x"), None);
    }
}
