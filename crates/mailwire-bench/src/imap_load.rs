//! A small IMAP load client for the server benchmarks (`benches/imap_server.rs`): one TCP
//! connection driven by mailwire's sans-I/O [`ClientSession`], so every response is framed and
//! parsed (a client that only counted bytes would flatter the server), with commands pipelined
//! as RFC 9051 §5.5 allows.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use mailwire_bench::imap_load::{ImapConn, command};
//! let mut c = ImapConn::connect("127.0.0.1:3143".parse().unwrap()).await?;
//! c.login("alice", "secret").await?;
//! c.run(command("SELECT INBOX"), |_| {}).await?;
//! let mut octets = 0;
//! c.run(command("UID FETCH 1:* (FLAGS BODY.PEEK[])"), |d| {
//!     octets += mailwire_bench::imap_load::body_octets(&d)
//! })
//! .await?;
//! # Ok(()) }
//! ```

use std::io;
use std::net::SocketAddr;

use mailwire_imap::proto::client::{ClientConfig, ClientSession, CommandHandle, Event};
use mailwire_imap::proto::{
    CommandBody, Completion, Data, DecodeOptions, MessageData, Tagged, decode_command,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Parses the text of one command (without tag and CRLF, no literals), e.g.
/// `"UID FETCH 1:* (FLAGS BODY.PEEK[])"`.
///
/// # Panics
/// If the text is not a valid command: benchmark inputs are fixed.
pub fn command(text: &str) -> CommandBody {
    let line = format!("X {text}\r\n");
    decode_command(line.as_bytes(), &DecodeOptions::default())
        .unwrap_or_else(|e| panic!("bad benchmark command {text:?}: {e:?}"))
        .0
        .body
}

/// Octets of message text in one untagged FETCH response (`BODY[...]`, `RFC822`, `BINARY`).
pub fn body_octets(data: &Data) -> u64 {
    let Data::Fetch { items, .. } = data else {
        return 0;
    };
    items
        .as_slice()
        .iter()
        .map(|item| match item {
            MessageData::BodySection { data, .. } | MessageData::Rfc822(data) => {
                data.as_ref().map_or(0, |b| b.as_bytes().len() as u64)
            }
            MessageData::Binary { data, .. } => data.as_ref().map_or(0, |b| b.len() as u64),
            _ => 0,
        })
        .sum()
}

/// One client connection.
pub struct ImapConn {
    stream: TcpStream,
    session: ClientSession,
    read: Vec<u8>,
    write: Vec<u8>,
    reads: u64,
}

fn broken(what: impl std::fmt::Display) -> io::Error {
    io::Error::other(what.to_string())
}

impl ImapConn {
    /// Connects and waits for the greeting.
    ///
    /// # Errors
    /// Connection errors, or a server that closes before greeting.
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut config = ClientConfig::default();
        config.framer.max_literal_len = 256 << 20;
        let mut c = Self {
            stream,
            session: ClientSession::new(config),
            read: Vec::with_capacity(256 << 10),
            write: Vec::new(),
            reads: 0,
        };
        while !c.session.is_greeted() {
            c.fill().await?;
            while let Some(ev) = c.session.poll_event() {
                if let Event::ProtocolError(e) = ev {
                    return Err(broken(e));
                }
            }
        }
        Ok(c)
    }

    /// Socket reads that returned data so far: with [`pipeline`](Self::pipeline), fewer
    /// reads than responses show the server batching its writes.
    pub fn reads(&self) -> u64 {
        self.reads
    }

    async fn fill(&mut self) -> io::Result<()> {
        self.read.clear();
        self.reads += 1;
        if self.stream.read_buf(&mut self.read).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.session.handle_input(&self.read);
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.write.clear();
        while self.session.poll_transmit(&mut self.write).is_some() {}
        if !self.write.is_empty() {
            self.stream.write_all(&self.write).await?;
        }
        Ok(())
    }

    /// `LOGIN user password`.
    ///
    /// # Errors
    /// I/O errors, or a refused login.
    pub async fn login(&mut self, user: &str, password: &str) -> io::Result<()> {
        let t = self
            .run(command(&format!("LOGIN {user} {password}")), |_| {})
            .await?;
        if t.kind != Completion::Ok {
            return Err(broken(format!("login refused: {t:?}")));
        }
        Ok(())
    }

    /// Sends `body` and waits for its completion, handing every untagged data response to
    /// `on_data` on the way.
    ///
    /// # Errors
    /// I/O errors or a protocol error from the server.
    pub async fn run(
        &mut self,
        body: CommandBody,
        on_data: impl FnMut(Data),
    ) -> io::Result<Tagged> {
        Ok(self.pipeline(vec![body], on_data).await?.remove(0))
    }

    /// Sends every command without waiting (as far as §5.5 allows) and waits for all of them;
    /// the statuses come back in the order of `bodies`.
    ///
    /// # Errors
    /// I/O errors or a protocol error from the server.
    pub async fn pipeline(
        &mut self,
        bodies: Vec<CommandBody>,
        mut on_data: impl FnMut(Data),
    ) -> io::Result<Vec<Tagged>> {
        let handles: Vec<CommandHandle> = bodies
            .into_iter()
            .map(|b| self.session.enqueue(b))
            .collect();
        let mut done: Vec<Option<Tagged>> = vec![None; handles.len()];
        let mut left = handles.len();
        loop {
            self.flush().await?;
            while let Some(ev) = self.session.poll_event() {
                match ev {
                    Event::DataReceived(d) => on_data(d),
                    Event::Completed { handle, status } => {
                        if let Some(i) = handles.iter().position(|h| *h == handle) {
                            done[i] = Some(status);
                            left -= 1;
                        }
                    }
                    Event::ProtocolError(e) => return Err(broken(e)),
                    _ => {}
                }
            }
            if left == 0 {
                return Ok(done.into_iter().map(|t| t.expect("completed")).collect());
            }
            self.flush().await?;
            self.fill().await?;
        }
    }

    /// Starts IDLE and returns once the server's `+` arrived; the connection then stays idle
    /// until dropped.
    ///
    /// # Errors
    /// I/O errors, or a server that completes IDLE instead of idling.
    pub async fn idle(&mut self) -> io::Result<()> {
        let handle = self.session.enqueue(CommandBody::Idle);
        loop {
            self.flush().await?;
            while let Some(ev) = self.session.poll_event() {
                match ev {
                    Event::ContinuationReceived { handle: h, .. } if h == handle => return Ok(()),
                    Event::Completed { handle: h, status } if h == handle => {
                        return Err(broken(format!("IDLE refused: {status:?}")));
                    }
                    Event::ProtocolError(e) => return Err(broken(e)),
                    _ => {}
                }
            }
            self.fill().await?;
        }
    }
}
