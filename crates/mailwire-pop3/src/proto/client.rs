//! The client session: a pure state machine that writes commands and routes the server's
//! responses to them, in order, however many are pipelined.
//!
//! ```text
//!   enqueue(cmd) ──► poll_transmit ──► bytes ──► server
//!   server ──► bytes ──► handle_input ──► poll_event: Greeting, Status, Continuation,
//!                                                     BodyStarted, BodyData…, BodyEnded
//! ```
//!
//! Each [`enqueue`](ClientSession::enqueue) returns a [`CommandHandle`]; every event names the
//! handle it answers. A multi-line response (`RETR`, `TOP`, `LIST`, `UIDL`, `CAPA`, `AUTH`
//! without arguments) arrives as [`Event::BodyStarted`], then the unstuffed body in
//! [`Event::BodyData`] chunks, then [`Event::BodyEnded`]: a driver can stream it to disk
//! without holding it.

use std::collections::VecDeque;

use mailwire_codec::{DataError, DataStatus, LineConfig, LineFramer, MultiLineReceiver};
use thiserror::Error;

use crate::proto::{Command, EncodeError, ResponseLine, Status, SyntaxError};

/// Identifies one enqueued command in the events that answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandHandle(u64);

/// What the server said.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The greeting. `apop_timestamp` is the `<...>` part, when the server offers APOP.
    Greeting {
        /// The status line.
        status: Status,
        /// The APOP timestamp, angle brackets included.
        apop_timestamp: Option<String>,
    },
    /// A single-line response (or `-ERR` to a multi-line command): the command is done.
    Status {
        /// The command answered.
        handle: CommandHandle,
        /// The status line.
        status: Status,
    },
    /// A SASL challenge (`+ base64`) to an `AUTH` command: answer it with
    /// [`ClientSession::send_auth_response`].
    Continuation {
        /// The AUTH command.
        handle: CommandHandle,
        /// The base64 challenge (possibly empty).
        challenge: String,
    },
    /// `+OK` to a multi-line command: the body follows.
    BodyStarted {
        /// The command answered.
        handle: CommandHandle,
        /// The status line.
        status: Status,
    },
    /// The next chunk of a body, unstuffed.
    BodyData {
        /// The command answered.
        handle: CommandHandle,
        /// The octets.
        data: Vec<u8>,
    },
    /// The `.` terminator: the command is done. `Err` when the body exceeded the size
    /// limit (the connection stays usable).
    BodyEnded {
        /// The command answered.
        handle: CommandHandle,
        /// The body size, or why it was refused.
        result: Result<u64, DataError>,
    },
}

/// A response that makes the connection unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// A line that is not a status line (or a continuation where none may be).
    #[error("malformed response: {0}")]
    Malformed(#[from] SyntaxError),
    /// A response arrived when no command was waiting for one.
    #[error("unsolicited response from the server")]
    Unsolicited,
    /// A status line longer than the limit, or ending with a bare LF.
    #[error("response line refused: {0}")]
    Line(#[from] mailwire_codec::LineError),
}

/// Limits of a client session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientConfig {
    /// The longest status line accepted, CRLF included. Default 8192 (RFC 2449 §4 says 512;
    /// some servers send long greetings).
    pub max_status_line: usize,
    /// The largest body accepted (unstuffed). Default 1 GiB; beyond it the body is read and
    /// dropped and [`Event::BodyEnded`] carries [`DataError::TooLarge`].
    pub max_body: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            max_status_line: 8192,
            max_body: 1 << 30,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Single,
    Multi,
    Auth,
    Stls,
}

/// The POP3 client session. See the [module documentation](self).
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    framer: LineFramer,
    greeted: bool,
    next: u64,
    pending: VecDeque<(CommandHandle, Kind)>,
    body: Option<(CommandHandle, MultiLineReceiver)>,
    events: VecDeque<Event>,
    output: Vec<u8>,
}

impl Default for ClientSession {
    fn default() -> Self {
        Self::new(ClientConfig::default())
    }
}

impl ClientSession {
    /// A session for a new connection; the first thing expected is the greeting.
    pub fn new(config: ClientConfig) -> Self {
        Self {
            config,
            framer: LineFramer::new(LineConfig {
                max_line_len: config.max_status_line,
                ..LineConfig::default()
            }),
            greeted: false,
            next: 0,
            pending: VecDeque::new(),
            body: None,
            events: VecDeque::new(),
            output: Vec::new(),
        }
    }

    /// Whether the greeting has arrived.
    pub fn is_greeted(&self) -> bool {
        self.greeted
    }

    /// Commands sent and not yet fully answered.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Octets of an incomplete response line held by the framer.
    pub fn buffered_len(&self) -> usize {
        self.framer.buffered_len()
    }

    /// Writes `cmd` to the output and returns the handle its response will carry.
    pub fn enqueue(&mut self, cmd: &Command) -> Result<CommandHandle, EncodeError> {
        cmd.encode(&mut self.output)?;
        let kind = match cmd {
            Command::Auth { .. } => Kind::Auth,
            Command::Stls => Kind::Stls,
            c if c.is_multi_line() => Kind::Multi,
            _ => Kind::Single,
        };
        let handle = CommandHandle(self.next);
        self.next += 1;
        self.pending.push_back((handle, kind));
        Ok(handle)
    }

    /// Answers a SASL challenge with a base64 line (or `*` to cancel).
    pub fn send_auth_response(&mut self, line: &str) -> Result<(), EncodeError> {
        if line.chars().any(char::is_control) {
            return Err(EncodeError::ControlCharacter);
        }
        self.output.extend_from_slice(line.as_bytes());
        self.output.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// Moves the bytes to send into `out`.
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.output);
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// After the TLS handshake that followed STLS: forgets any partial line.
    pub fn tls_established(&mut self) {
        self.framer.reset();
    }

    /// Consumes server bytes; returns how many were used. Stops right after the response to
    /// STLS, so that the driver can check that nothing follows it (response injection).
    pub fn handle_input(&mut self, input: &[u8]) -> Result<usize, ResponseError> {
        let mut rest = input;
        while !rest.is_empty() {
            if let Some((handle, rx)) = &mut self.body {
                let handle = *handle;
                let mut data = Vec::new();
                let status = rx.feed(rest, &mut data);
                if !data.is_empty() {
                    self.events.push_back(Event::BodyData { handle, data });
                }
                match status {
                    DataStatus::NeedMore => rest = &[],
                    DataStatus::Done { consumed, result } => {
                        rest = &rest[consumed..];
                        self.body = None;
                        self.events.push_back(Event::BodyEnded { handle, result });
                    }
                }
                continue;
            }
            let line = match self.framer.next_line(&mut rest) {
                None => break,
                Some(line) => line?.to_vec(),
            };
            if !self.greeted {
                let status = Status::parse(&line)?;
                self.greeted = true;
                let apop_timestamp = apop_timestamp(status.text());
                self.events.push_back(Event::Greeting {
                    status,
                    apop_timestamp,
                });
                continue;
            }
            let Some(&(handle, kind)) = self.pending.front() else {
                return Err(ResponseError::Unsolicited);
            };
            match ResponseLine::parse(&line)? {
                ResponseLine::Continuation(challenge) => {
                    if kind != Kind::Auth {
                        return Err(ResponseError::Malformed(SyntaxError::new(
                            "continuation to a command that is not AUTH",
                        )));
                    }
                    self.events
                        .push_back(Event::Continuation { handle, challenge });
                }
                ResponseLine::Status(status) => {
                    self.pending.pop_front();
                    if status.is_ok() && kind == Kind::Multi {
                        self.events.push_back(Event::BodyStarted { handle, status });
                        self.body = Some((handle, MultiLineReceiver::new(self.config.max_body)));
                    } else {
                        self.events.push_back(Event::Status { handle, status });
                        if kind == Kind::Stls {
                            break;
                        }
                    }
                }
            }
        }
        Ok(input.len() - rest.len())
    }
}

/// The `<...>` timestamp of an APOP greeting (RFC 1939 §7), if any.
fn apop_timestamp(text: &str) -> Option<String> {
    let start = text.find('<')?;
    let end = start + text[start..].find('>')?;
    let ts = &text[start..=end];
    ts.contains('@').then(|| ts.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelined_responses_route_in_order() {
        let mut c = ClientSession::default();
        let stat = c.enqueue(&Command::Stat).unwrap();
        let retr = c.enqueue(&Command::Retr(1)).unwrap();
        let bad = c.enqueue(&Command::Retr(9)).unwrap();
        let mut wire = Vec::new();
        c.poll_transmit(&mut wire);
        assert_eq!(wire, b"STAT\r\nRETR 1\r\nRETR 9\r\n");
        let input = b"+OK POP3 ready <1896.697170952@dbc.mtview.ca.us>\r\n+OK 1 20\r\n+OK\r\n..a\r\nb\r\n.\r\n-ERR no such message\r\n";
        let mut events = Vec::new();
        for chunk in input.chunks(3) {
            let n = c.handle_input(chunk).unwrap();
            assert_eq!(n, chunk.len());
            while let Some(e) = c.poll_event() {
                events.push(e);
            }
        }
        assert!(
            matches!(&events[0], Event::Greeting { apop_timestamp: Some(t), .. } if t == "<1896.697170952@dbc.mtview.ca.us>")
        );
        assert!(
            matches!(&events[1], Event::Status { handle, status } if *handle == stat && status.text() == "1 20")
        );
        assert!(matches!(&events[2], Event::BodyStarted { handle, .. } if *handle == retr));
        let body: Vec<u8> = events
            .iter()
            .filter_map(|e| match e {
                Event::BodyData { data, .. } => Some(data.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(body, b".a\r\nb\r\n");
        assert!(
            events.iter().any(
                |e| matches!(e, Event::BodyEnded { handle, result: Ok(7) } if *handle == retr)
            )
        );
        assert!(
            matches!(events.last(), Some(Event::Status { handle, status }) if *handle == bad && !status.is_ok())
        );
        assert_eq!(c.pending_len(), 0);
    }

    #[test]
    fn stls_stops_input_and_unsolicited_fails() {
        let mut c = ClientSession::default();
        c.handle_input(b"+OK hi\r\n").unwrap();
        c.enqueue(&Command::Stls).unwrap();
        let input = b"+OK go\r\n-ERR injected\r\n";
        let n = c.handle_input(input).unwrap();
        assert_eq!(&input[n..], b"-ERR injected\r\n");
        assert!(matches!(
            c.handle_input(&input[n..]),
            Err(ResponseError::Unsolicited)
        ));
        let mut c = ClientSession::default();
        c.handle_input(b"+OK hi\r\n").unwrap();
        c.enqueue(&Command::Noop).unwrap();
        assert!(c.handle_input(b"+ abc\r\n").is_err());
        let mut c = ClientSession::default();
        assert!(c.handle_input(b"* OK imap\r\n").is_err());
    }

    #[test]
    fn auth_continuations() {
        let mut c = ClientSession::default();
        c.handle_input(b"+OK\r\n").unwrap();
        let h = c
            .enqueue(&Command::Auth {
                mechanism: "CRAM-MD5".into(),
                initial_response: None,
            })
            .unwrap();
        c.handle_input(b"+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n")
            .unwrap();
        assert!(matches!(c.poll_event(), Some(Event::Greeting { .. })));
        assert!(matches!(c.poll_event(), Some(Event::Continuation { handle, .. }) if handle == h));
        c.send_auth_response("dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw")
            .unwrap();
        assert!(c.send_auth_response("x\r\nDELE 1").is_err());
        c.handle_input(b"+OK welcome\r\n").unwrap();
        assert!(matches!(c.poll_event(), Some(Event::Status { status, .. }) if status.is_ok()));
    }
}
