//! Receivers for message bodies: SMTP `DATA` (dot-unstuffing, `CRLF.CRLF`), `BDAT` chunks
//! (exact octet counts) and POP3 multi-line responses (client side).

use std::sync::LazyLock;

use memchr::memmem::Finder;

use crate::DataError;

/// What a bare `CR` or bare `LF` inside message data means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BareLineEndings {
    /// The message is refused ([`DataError::BareCr`] / [`DataError::BareLf`]) once its end is
    /// read. The default: RFC 5321 §2.3.8 forbids them and they are how SMTP smuggling works.
    #[default]
    Reject,
    /// Stored as sent. They never end a line for dot-unstuffing and never end the message:
    /// only `CRLF.CRLF` does, in every mode.
    Accept,
    /// Repaired (what a Message Submission Agent may do, RFC 6409 §8): a bare `LF` or bare
    /// `CR` is stored as `CRLF`, and the `CR`s right before a `CRLF` (`CR CR LF`, what a
    /// client that turns every `LF` into `CRLF` makes of a `CRLF` message) are dropped. As in
    /// the other modes, only `CRLF` on the wire starts a line for dot-unstuffing and only
    /// `CRLF.CRLF` ends the message.
    Normalise,
}

/// Settings of a [`DataReceiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataConfig {
    /// The largest message accepted, after unstuffing.
    ///
    /// Default: 64 MiB. Beyond it, data is examined and dropped (memory stays bounded) and the
    /// result is [`DataError::TooLarge`] once the terminator arrives (SMTP `552`).
    pub max_message_size: u64,
    /// Bare `CR`/`LF` policy. Default: [`BareLineEndings::Reject`].
    pub bare_line_endings: BareLineEndings,
    /// The longest text line, counting its `CRLF`; `None` for no limit (the default).
    /// RFC 5321 §4.5.3.1.6 sets 1000 octets for SMTP.
    pub max_line_len: Option<usize>,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            max_message_size: 64 * 1024 * 1024,
            bare_line_endings: BareLineEndings::Reject,
            max_line_len: None,
        }
    }
}

/// Progress of a receiver after a call to `feed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataStatus {
    /// All input was consumed and the end has not been reached.
    NeedMore,
    /// The end was reached after `consumed` octets of this input; what follows them is the next
    /// command (pipelining) and belongs to the caller.
    Done {
        /// Octets of this input that belonged to the message, terminator included.
        consumed: usize,
        /// The message size after unstuffing, or why it is refused.
        result: Result<u64, DataError>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line (after `CRLF`, or at the very start).
    LineStart,
    /// Inside a line.
    Text,
    /// After a `CR` inside a line.
    Cr,
    /// After a `.` at the start of a line.
    Dot,
    /// After `CRLF . CR`.
    DotCr,
    /// The terminator has been read.
    Finished,
}

/// The first CR or LF: a plain loop for a few octets (no call through memchr's dispatch,
/// which dominates when a peer sends one octet at a time), memchr beyond.
#[inline]
fn find_line_end(rest: &[u8]) -> Option<usize> {
    if rest.len() < 16 {
        rest.iter().position(|&b| b == b'\r' || b == b'\n')
    } else {
        memchr::memchr2(b'\r', b'\n', rest)
    }
}

/// The searchers for the start of a dot line, built once: `memmem::find` builds its searcher on
/// every call, which cost more than the search itself on a 1460-octet segment.
static LF_DOT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\n."));
/// See [`LF_DOT`]; with bare line endings accepted only `CRLF.` starts a dot line.
static CRLF_DOT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\r\n."));

/// Inputs shorter than this go through the octet-wise state machine only.
const FAST_MIN: usize = 32;

/// Whether every `CR` in `seg` is followed by `LF` and every `LF` preceded by `CR`, for a
/// segment that starts inside a line (after something other than `CR`) and does not end in
/// `CR`. One branch-free pass the compiler vectorises.
fn only_crlf(seg: &[u8]) -> bool {
    if seg.first() == Some(&b'\n') {
        return false;
    }
    let Some(tail) = seg.get(1..) else {
        return true;
    };
    seg.chunks(512).zip(tail.chunks(512)).all(|(a, b)| {
        a.iter().zip(b).fold(0u8, |bad, (&x, &y)| {
            bad | (u8::from(x == b'\r') ^ u8::from(y == b'\n'))
        }) == 0
    })
}

/// The SMTP `DATA` receiver: a resumable single pass that removes dot-stuffing and ends only at
/// `CRLF.CRLF` (RFC 5321 §4.5.2), with three states of memory between calls.
///
/// The data begins after the `354` reply, so the receiver starts at the beginning of a line:
/// a lone `.` line ends an empty message. The vectors used for SMTP smuggling (`\n.\r\n`,
/// `\n.\n`, `\r.\r\n`, `\r\n.\r`, `\r\n.\n`) never end the message.
///
/// ```
/// use mailwire_codec::{DataConfig, DataReceiver, DataStatus};
///
/// let mut rx = DataReceiver::new(DataConfig::default());
/// let mut body = Vec::new();
/// let input = b"Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n";
/// let DataStatus::Done { consumed, result } = rx.feed(input, &mut body) else { panic!() };
/// assert_eq!(body, b"Subject: x\r\n\r\n.leading dot\r\n");
/// assert_eq!(result, Ok(body.len() as u64));
/// assert_eq!(&input[consumed..], b"QUIT\r\n");
/// ```
#[derive(Debug, Clone)]
pub struct DataReceiver {
    config: DataConfig,
    state: State,
    size: u64,
    line_len: usize,
    error: Option<DataError>,
    /// [`BareLineEndings::Normalise`]: `CR`s seen after the one [`State::Cr`] stands for.
    extra_cr: u64,
}

impl DataReceiver {
    /// A receiver for one message.
    pub fn new(config: DataConfig) -> Self {
        Self {
            config,
            state: State::LineStart,
            size: 0,
            line_len: 0,
            error: None,
            extra_cr: 0,
        }
    }

    /// The first rule the message broke so far, if any. Once set, nothing more is written to
    /// `out`, and what was written is to be discarded: a server abandons the store write and
    /// waits for the terminator.
    pub fn error(&self) -> Option<&DataError> {
        self.error.as_ref()
    }

    /// Octets of unstuffed data received so far (counted up to the size limit).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether the terminator has been read.
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    /// Consumes message octets from `input`, appending the unstuffed data to `out`.
    #[inline]
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> DataStatus {
        // One ordinary octet inside a line, the whole of the input: what a peer sending one
        // octet at a time makes of almost every call. Only the size limit applies.
        if let [b] = *input
            && self.state == State::Text
            && b != b'\r'
            && b != b'\n'
            && self.config.max_line_len.is_none()
            && self.error.is_none()
            && self.size < self.config.max_message_size
        {
            self.size += 1;
            out.push(b);
            return DataStatus::NeedMore;
        }
        self.feed_general(input, out)
    }

    /// Everything but the one-octet case of [`DataReceiver::feed`], kept out of line so that
    /// case inlines into the caller's read loop.
    #[inline(never)]
    fn feed_general(&mut self, input: &[u8], out: &mut Vec<u8>) -> DataStatus {
        let accept_bare = self.config.bare_line_endings == BareLineEndings::Accept;
        let normalise = self.config.bare_line_endings == BareLineEndings::Normalise;
        let mut i = 0;
        while i < input.len() {
            if self.state == State::Text && input.len() - i >= FAST_MIN {
                let n = self.bulk(&input[i..], out);
                if n > 0 {
                    i += n;
                    continue;
                }
            }
            match self.state {
                State::LineStart => {
                    if input[i] == b'.' {
                        self.state = State::Dot;
                        i += 1;
                    } else {
                        self.state = State::Text;
                    }
                }
                State::Text => match find_line_end(&input[i..]) {
                    None => {
                        self.emit_text(&input[i..], out);
                        i = input.len();
                    }
                    Some(k) => {
                        self.emit_text(&input[i..i + k], out);
                        let special = input[i + k];
                        i += k + 1;
                        if special == b'\r' {
                            self.state = State::Cr;
                        } else if accept_bare {
                            self.emit_text(b"\n", out);
                        } else if normalise {
                            self.repaired_line_end(out);
                        } else {
                            self.fail(DataError::BareLf);
                        }
                    }
                },
                State::Cr => {
                    if input[i] == b'\n' {
                        i += 1;
                        // CR CR LF, repaired: one line end.
                        self.extra_cr = 0;
                        self.end_line(out);
                    } else if normalise && input[i] == b'\r' {
                        self.extra_cr += 1;
                        i += 1;
                    } else if normalise {
                        // Bare CRs, each a line end; the octet after them is text.
                        self.state = State::Text;
                        for _ in 0..=std::mem::take(&mut self.extra_cr) {
                            self.repaired_line_end(out);
                        }
                    } else {
                        // A bare CR; the octet after it is looked at again as text.
                        self.state = State::Text;
                        if accept_bare {
                            self.emit_text(b"\r", out);
                        } else {
                            self.fail(DataError::BareCr);
                        }
                    }
                }
                State::Dot => {
                    if input[i] == b'\r' {
                        self.state = State::DotCr;
                        i += 1;
                    } else {
                        // A stuffed dot: dropped. What follows is ordinary text.
                        self.state = State::Text;
                    }
                }
                State::DotCr => {
                    if input[i] == b'\n' {
                        self.state = State::Finished;
                        return DataStatus::Done {
                            consumed: i + 1,
                            result: self.result(),
                        };
                    }
                    // `CRLF . CR x`: the dot was stuffing and the CR is bare.
                    self.state = State::Cr;
                }
                State::Finished => {
                    return DataStatus::Done {
                        consumed: 0,
                        result: self.result(),
                    };
                }
            }
        }
        if self.state == State::Finished {
            return DataStatus::Done {
                consumed: 0,
                result: self.result(),
            };
        }
        DataStatus::NeedMore
    }

    /// The fast path, inside a line: copies in one piece everything up to the next line that
    /// starts with a dot, once a single vectorisable pass has shown its line endings are all
    /// `CRLF`. Returns the octets consumed; 0 hands the input to the octet-wise state machine
    /// (a line limit to count, an error to name, a dot line to unstuff, a `CR` at the edge).
    fn bulk(&mut self, rest: &[u8], out: &mut Vec<u8>) -> usize {
        if self.config.max_line_len.is_some() || self.error.is_some() {
            return 0;
        }
        let accept_bare = self.config.bare_line_endings == BareLineEndings::Accept;
        let mut end = if accept_bare {
            CRLF_DOT.find(rest).map_or(rest.len(), |p| p + 2)
        } else {
            LF_DOT.find(rest).map_or(rest.len(), |p| p + 1)
        };
        if rest[..end].last() == Some(&b'\r') {
            // Its LF is in the next input: let the state machine pair them.
            end -= 1;
        }
        let seg = &rest[..end];
        if seg.is_empty() || (!accept_bare && !only_crlf(seg)) {
            return 0;
        }
        self.emit(seg, out);
        let ends_line = seg.ends_with(b"\n") && (!accept_bare || seg.ends_with(b"\r\n"));
        if ends_line {
            self.state = State::LineStart;
        }
        end
    }

    fn result(&self) -> Result<u64, DataError> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(self.size),
        }
    }

    fn fail(&mut self, error: DataError) {
        if self.error.is_none() {
            self.error = Some(error);
        }
    }

    #[inline]
    fn emit_text(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        if let Some(max) = self.config.max_line_len {
            // Which limit this run crosses first, octet by octet, decides the error, so the
            // result does not depend on how the input was split (a tie goes to the line).
            let line_at = (max.saturating_sub(2)).saturating_sub(self.line_len);
            self.line_len += bytes.len();
            if self.line_len + 2 > max {
                let size_at = self.config.max_message_size.saturating_sub(self.size);
                if self.error.is_none() && (size_at as u128) < line_at as u128 {
                    self.emit(bytes, out);
                    return;
                }
                self.fail(DataError::LineTooLong { limit: max });
            }
        }
        self.emit(bytes, out);
    }

    /// A bare line end stored as `CRLF` ([`BareLineEndings::Normalise`]). It does not start a
    /// line for unstuffing: only a `CRLF` on the wire does.
    fn repaired_line_end(&mut self, out: &mut Vec<u8>) {
        self.line_len = 0;
        self.emit(b"\r\n", out);
    }

    #[inline]
    fn end_line(&mut self, out: &mut Vec<u8>) {
        self.state = State::LineStart;
        self.line_len = 0;
        self.emit(b"\r\n", out);
    }

    #[inline]
    fn emit(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        if self.error.is_some() {
            return;
        }
        self.size += bytes.len() as u64;
        if self.size > self.config.max_message_size {
            self.fail(DataError::TooLarge {
                limit: self.config.max_message_size,
            });
            return;
        }
        crate::append(out, bytes);
    }
}

/// The receiver of one `BDAT` chunk (RFC 3030): exactly the announced number of octets, no
/// unstuffing, no terminator.
///
/// ```
/// use mailwire_codec::{BdatReceiver, DataStatus};
///
/// let mut rx = BdatReceiver::new(5, 0, 1024);
/// let mut body = Vec::new();
/// assert_eq!(rx.feed(b"hel", &mut body), DataStatus::NeedMore);
/// assert_eq!(
///     rx.feed(b"loQUIT\r\n", &mut body),
///     DataStatus::Done { consumed: 2, result: Ok(5) }
/// );
/// assert_eq!(body, b"hello");
/// ```
#[derive(Debug, Clone)]
pub struct BdatReceiver {
    remaining: u64,
    chunk: u64,
    too_large: Option<u64>,
}

impl BdatReceiver {
    /// A receiver for a chunk of `chunk_size` octets, when `received` octets of the message
    /// came in earlier chunks and the message may not exceed `max_message_size`. An oversized
    /// chunk is still read to its end (and dropped) so the session stays in step.
    pub fn new(chunk_size: u64, received: u64, max_message_size: u64) -> Self {
        let too_large =
            (received.saturating_add(chunk_size) > max_message_size).then_some(max_message_size);
        Self {
            remaining: chunk_size,
            chunk: chunk_size,
            too_large,
        }
    }

    /// Octets of the chunk still expected.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Consumes chunk octets from `input`, appending them to `out`.
    /// On completion the result holds the chunk size.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> DataStatus {
        let take = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(input.len());
        if self.too_large.is_none() {
            out.extend_from_slice(&input[..take]);
        }
        // `take` is at most `remaining`, so this cannot underflow.
        self.remaining -= take as u64;
        if self.remaining > 0 {
            return DataStatus::NeedMore;
        }
        DataStatus::Done {
            consumed: take,
            result: match self.too_large {
                Some(limit) => Err(DataError::TooLarge { limit }),
                None => Ok(self.chunk),
            },
        }
    }
}

/// The client-side receiver of a POP3 multi-line response body (RFC 1939 §3): byte-unstuffing
/// and the `.` terminator line, after the `+OK` status line has been read.
///
/// By default bare `CR`/`LF` in the body are kept as sent (servers pass stored messages
/// through), but only `CRLF.CRLF` ends the response.
///
/// ```
/// use mailwire_codec::{DataStatus, MultiLineReceiver};
///
/// let mut rx = MultiLineReceiver::new(1 << 20);
/// let mut msg = Vec::new();
/// let status = rx.feed(b"From: a\r\n\r\n..dot\r\n.\r\n", &mut msg);
/// assert!(matches!(status, DataStatus::Done { consumed: 21, result: Ok(_) }));
/// assert_eq!(msg, b"From: a\r\n\r\n.dot\r\n");
/// ```
#[derive(Debug, Clone)]
pub struct MultiLineReceiver(DataReceiver);

impl MultiLineReceiver {
    /// A receiver that refuses a body larger than `max_size` octets (it still reads to the
    /// terminator, so the connection stays usable).
    pub fn new(max_size: u64) -> Self {
        Self(DataReceiver::new(DataConfig {
            max_message_size: max_size,
            bare_line_endings: BareLineEndings::Accept,
            max_line_len: None,
        }))
    }

    /// A receiver with full control over the settings.
    pub fn with_config(config: DataConfig) -> Self {
        Self(DataReceiver::new(config))
    }

    /// Consumes response octets from `input`, appending the unstuffed body to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> DataStatus {
        self.0.feed(input, out)
    }

    /// Whether the terminator has been read.
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}
