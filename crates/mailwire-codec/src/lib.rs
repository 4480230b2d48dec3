#![forbid(unsafe_code)]
//! Sans-I/O framing shared by mailwire's IMAP, POP3 and SMTP crates.
//!
//! This crate turns bytes into frames and frames into bytes. It does no I/O, starts no tasks
//! and reads no clock: a driver reads from a socket, hands the bytes to a framer, and acts on
//! what comes back. Every framer is resumable (the input may be split anywhere, down to one
//! byte per call), looks at each input byte a bounded number of times, and checks its limits
//! before it buffers anything.
//!
//! | type | used by | what it does |
//! |---|---|---|
//! | [`LineFramer`] | SMTP, POP3, IMAP clients | `CRLF` lines, a length limit, a bare-`LF` policy |
//! | [`ImapFramer`] | IMAP both ways | lines plus `{n}`, `{n+}`, `~{n}` literals, announced before buffering |
//! | [`DataReceiver`] | SMTP servers | `DATA`: dot-unstuffing, ends only at `CRLF.CRLF` |
//! | [`BdatReceiver`] | SMTP servers | `BDAT`: exact octet counts |
//! | [`MultiLineReceiver`] | POP3 clients | multi-line responses: unstuffing, `.` terminator |
//! | [`DotStuffer`] | SMTP clients, POP3 servers | dot-stuffing, chunk by chunk |
//! | [`Secret`] | everyone | credentials redacted in `Debug`, zeroized on drop |
//! | [`encode_utf7`], [`decode_utf7`] | IMAP, the store | modified UTF-7 mailbox names (RFC 3501 §5.1.3) |
//!
//! ```
//! use mailwire_codec::{DataConfig, DataReceiver, DataStatus, DotStuffer, LineConfig, LineFramer};
//!
//! // A client stuffs a message; the server frames the command and receives the data.
//! let mut wire = b"DATA\r\n".to_vec();
//! let mut stuffer = DotStuffer::new(true);
//! stuffer.encode(b"Subject: hi\r\n\r\n.\r\n", &mut wire);
//! stuffer.finish(&mut wire);
//! wire.extend_from_slice(b"QUIT\r\n");
//!
//! let mut lines = LineFramer::new(LineConfig { max_line_len: 512, ..LineConfig::default() });
//! let mut input = &wire[..];
//! assert_eq!(lines.next_line(&mut input), Some(Ok(&b"DATA"[..])));
//!
//! let mut body = Vec::new();
//! let mut data = DataReceiver::new(DataConfig::default());
//! let DataStatus::Done { consumed, result } = data.feed(input, &mut body) else { panic!() };
//! assert_eq!(body, b"Subject: hi\r\n\r\n.\r\n");
//! assert!(result.is_ok());
//! let mut input = &input[consumed..];
//! assert_eq!(lines.next_line(&mut input), Some(Ok(&b"QUIT"[..])));
//! ```

pub mod calendar;
mod data;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod imap;
mod line;
mod secret;
mod stuff;
mod utf7;

pub use data::{
    BareLineEndings, BdatReceiver, DataConfig, DataReceiver, DataStatus, MultiLineReceiver,
};
pub use error::{DataError, FramingError, LineError};
pub use imap::{ImapFrame, ImapFramer, ImapFramerConfig, LiteralAnnouncement, LiteralMode};
pub use line::{BareLf, LineConfig, LineFramer};
pub use secret::Secret;
pub use stuff::{DotStuffer, dot_stuff, normalise_line_endings};
pub use utf7::{decode_utf7, decode_utf7_lenient, encode_utf7, encode_utf7_with};

/// Appends `bytes` to `buf`. A peer that sends one octet at a time makes this the hottest call
/// of every receiver: a few octets are pushed one by one (no call into `memcpy`), more are
/// copied in one piece.
#[inline(always)]
pub(crate) fn append(buf: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.len() <= 4 {
        for &b in bytes {
            buf.push(b);
        }
    } else {
        buf.extend_from_slice(bytes);
    }
}
