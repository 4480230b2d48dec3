//! The tokio SMTP/LMTP client: a thin driver that moves bytes between a socket and the pure
//! [`ClientSession`]. Every protocol decision (STARTTLS, AUTH, pipelining, recovery) is the
//! session's; this module owns the socket, the buffers, the TLS handshakes and the time limits.
//!
//! ```no_run
//! use mailwire_smtp::client::{Client, ClientOptions, Secret};
//! use mailwire_smtp::proto::Envelope;
//!
//! # async fn run() -> Result<(), mailwire_smtp::client::Error> {
//! let options = ClientOptions::from_url("smtp://mail.example.org:587")?
//!     .credentials("alice", Secret::new("secret".to_owned()));
//! let mut client = Client::connect_with(options).await?; // STARTTLS required, then AUTH
//! let envelope = Envelope::new("alice@example.org".parse()?, ["bob@example.net".parse()?]);
//! let report = client.send(envelope, b"Subject: hi\r\n\r\nHello Bob\r\n".to_vec()).await?;
//! for (rcpt, reply) in &report.recipients {
//!     println!("{rcpt}: {reply}");
//! }
//! client.quit().await?;
//! # Ok(()) }
//! ```
//!
//! # Time limits
//!
//! Every read waits at most for the limit of the reply awaited (RFC 5321 §4.5.3.2, see
//! [`Timeouts`]); every write fails when it makes no progress for
//! [`Timeouts::data_block`] (message data) or [`Timeouts::command`]; connecting and TLS
//! handshakes have their own limits. A server that stalls or closes never hangs the client.
//! While a write is blocked the driver keeps reading, so neither side can deadlock on full
//! buffers.

mod options;

use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use mailwire_tls::rustls_pki_types::ServerName;
use mailwire_tls::{ClientConfigBuilder, TlsConnector};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::proto::client::{Event, MessageHandle};
use crate::proto::{ClientSession, Envelope, Extensions};

pub use crate::proto::client::{MessageError, SendReport, Timeouts};
pub use mailwire_codec::Secret;
pub use mailwire_tls::{Security, TlsPolicy};
pub use options::ClientOptions;
/// The connection: the shared cleartext-or-TLS stream of `mailwire-tls`.
type Transport = mailwire_tls::Transport<tokio::net::TcpStream>;

/// Why a connection or a send failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not `smtp://`, `smtps://` or `lmtp://HOST[:PORT]`.
    #[error("invalid URL {url:?}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An address in an envelope built from strings does not parse.
    #[error("invalid address: {0}")]
    Address(#[from] crate::proto::SyntaxError),
    /// The TCP connection could not be made.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The TCP connection was not made in time.
    #[error("connecting to {addr} timed out after {after:?}")]
    ConnectTimeout {
        /// `host:port`.
        addr: String,
        /// The limit.
        after: Duration,
    },
    /// TLS configuration or handshake failure (including the STARTTLS buffered-bytes check).
    #[error(transparent)]
    Tls(#[from] mailwire_tls::Error),
    /// Reading or writing the socket failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// A write made no progress within its limit.
    #[error("writing to the server made no progress for {after:?}")]
    WriteTimeout {
        /// The limit.
        after: Duration,
    },
    /// The SMTP session failed (refusals, STARTTLS or AUTH problems, injection, timeouts, a
    /// closed connection). The connection is closed.
    #[error(transparent)]
    Session(#[from] crate::proto::client::Error),
    /// The client refused this message; the connection is still usable.
    #[error(transparent)]
    Message(#[from] MessageError),
    /// The client was closed (after `quit`, or an earlier failure).
    #[error("the SMTP client is closed")]
    Closed,
}

/// An SMTP, Submission or LMTP client connection. See the [module documentation](self).
pub struct Client {
    stream: Transport,
    session: ClientSession,
    read_buf: Vec<u8>,
    write_buf: Vec<u8>,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    handshake_timeout: Duration,
    /// Replies to read without a session deadline (should not happen) wait this long.
    fallback_timeout: Duration,
    results: HashMap<MessageHandle, Result<SendReport, MessageError>>,
    failed: Option<crate::proto::client::Error>,
    closed: bool,
}

/// Reads at most this much per read call.
const READ_CHUNK: usize = 16 * 1024;

impl Client {
    /// Connects to a URL with default options: `smtp://HOST[:PORT]` (STARTTLS required),
    /// `smtps://HOST[:PORT]` (implicit TLS) or `lmtp://HOST[:PORT]`.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::connect_with(ClientOptions::from_url(url)?).await
    }

    /// Connects, reads the greeting, and runs `EHLO`, STARTTLS and `AUTH` as the options say.
    /// Returns once the session is ready for mail.
    pub async fn connect_with(options: ClientOptions) -> Result<Self, Error> {
        let addr = format!("{}:{}", options.host, options.port);
        let tcp = match tokio::time::timeout(
            options.connect_timeout,
            TcpStream::connect((options.host.as_str(), options.port)),
        )
        .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(source)) => return Err(Error::Connect { addr, source }),
            Err(_) => {
                return Err(Error::ConnectTimeout {
                    addr,
                    after: options.connect_timeout,
                });
            }
        };
        // Commands are small and written whole: no Nagle delay between flights.
        tcp.set_nodelay(true)?;
        let hello = address_literal(tcp.local_addr()?);
        let needs_tls = !matches!(options.security, Security::StartTls(TlsPolicy::Disabled));
        let tls = if needs_tls {
            let config = match &options.tls_config {
                Some(c) => c.clone(),
                None => {
                    let mut b = ClientConfigBuilder::new();
                    if let Some(ca) = &options.ca_file {
                        b = b.extra_ca_file(ca);
                    }
                    b.build()?
                }
            };
            Some((
                TlsConnector::from(config),
                mailwire_tls::server_name(&options.host)?,
            ))
        } else {
            None
        };
        let implicit = matches!(options.security, Security::Implicit);
        let stream = match (&tls, implicit) {
            (Some((connector, name)), true) => {
                Transport::Tls(Box::new(mailwire_tls::tokio_rustls::TlsStream::Client(
                    mailwire_tls::connect(
                        tcp,
                        connector,
                        name.clone(),
                        options.tls_handshake_timeout,
                    )
                    .await?,
                )))
            }
            _ => Transport::Plain(tcp),
        };
        let session = ClientSession::new(options.session_config(hello), implicit);
        let mut client = Self {
            stream,
            session,
            read_buf: vec![0; READ_CHUNK],
            write_buf: Vec::new(),
            tls,
            handshake_timeout: options.tls_handshake_timeout,
            fallback_timeout: options.timeouts.command,
            results: HashMap::new(),
            failed: None,
            closed: false,
        };
        client
            .drive(|c| c.session.is_established() || c.closed)
            .await?;
        if !client.session.is_established() {
            return Err(Error::Closed);
        }
        Ok(client)
    }

    /// The server's extensions (from the last `EHLO`/`LHLO`).
    pub fn extensions(&self) -> Option<&Extensions> {
        self.session.extensions()
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.session.is_tls()
    }

    /// The SASL mechanism used to authenticate, if any.
    pub fn authenticated(&self) -> Option<mailwire_sasl::Mechanism> {
        self.session.authenticated()
    }

    /// Sends one message. `Ok` carries the server's per-recipient replies, refusals included
    /// (see [`SendReport::is_delivered_to_all`]); [`Error::Message`] means the client refused
    /// the message itself (too large, needs an extension) and the connection is still usable;
    /// other errors close it.
    pub async fn send(
        &mut self,
        envelope: Envelope,
        message: impl Into<Vec<u8>>,
    ) -> Result<SendReport, Error> {
        let mut results = self.send_many([(envelope, message.into())]).await?;
        match results.pop() {
            Some(r) => r.map_err(Error::Message),
            None => Err(Error::Closed),
        }
    }

    /// Sends several messages on this connection, pipelined where the server allows (the
    /// next message's commands leave with the previous message's data). One result per
    /// message, in order. A connection failure returns the error: messages already reported
    /// by the server are then not returned, so use [`send`](Self::send) where each outcome
    /// must be known.
    pub async fn send_many(
        &mut self,
        messages: impl IntoIterator<Item = (Envelope, Vec<u8>)>,
    ) -> Result<Vec<Result<SendReport, MessageError>>, Error> {
        self.check_usable()?;
        let handles: Vec<MessageHandle> = messages
            .into_iter()
            .map(|(envelope, message)| self.session.enqueue_message(envelope, message))
            .collect();
        self.drive(|c| handles.iter().all(|h| c.results.contains_key(h)))
            .await?;
        Ok(handles
            .iter()
            .map(|h| self.results.remove(h).unwrap_or(Err(MessageError::Aborted)))
            .collect())
    }

    /// Sends `QUIT`, waits for the reply and closes the connection.
    pub async fn quit(mut self) -> Result<(), Error> {
        self.check_usable()?;
        self.session.enqueue_quit();
        let result = self.drive(|c| c.closed).await;
        // A TLS close_notify, best effort: the server may already have closed.
        let _ = tokio::time::timeout(Duration::from_secs(5), self.stream.shutdown()).await;
        result
    }

    fn check_usable(&self) -> Result<(), Error> {
        if let Some(e) = &self.failed {
            return Err(Error::Session(e.clone()));
        }
        if self.closed || self.session.is_closed() {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Runs the session until `done` holds: events, then writes, then one read.
    async fn drive(&mut self, done: impl Fn(&Self) -> bool) -> Result<(), Error> {
        loop {
            while let Some(event) = self.session.poll_event() {
                match event {
                    Event::StartTlsAccepted => self.upgrade().await?,
                    Event::Established => {}
                    Event::TransactionCompleted { handle, report } => {
                        self.results.insert(handle, Ok(report));
                    }
                    Event::MessageFailed { handle, error } => {
                        self.results.insert(handle, Err(error));
                    }
                    Event::Closed => self.closed = true,
                    Event::Failed(e) => {
                        self.failed = Some(e.clone());
                        self.closed = true;
                        return Err(Error::Session(e));
                    }
                }
            }
            if let Some(t) = self
                .session
                .poll_transmit(Instant::now(), &mut self.write_buf)
            {
                let written = self.write_flight(t.stall_timeout).await;
                self.write_buf.clear();
                written?;
                continue;
            }
            if done(self) {
                return Ok(());
            }
            if self.closed {
                return Err(Error::Closed);
            }
            self.read_once().await?;
        }
    }

    /// One read, bounded by the session's reply deadline.
    async fn read_once(&mut self) -> Result<(), Error> {
        let deadline = self
            .session
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + self.fallback_timeout);
        let read = tokio::time::timeout_at(
            tokio::time::Instant::from_std(deadline),
            tokio::io::AsyncReadExt::read(&mut self.stream, &mut self.read_buf),
        )
        .await;
        match read {
            Err(_) => {
                self.session.handle_timeout(Instant::now());
                if !self.session.is_closed() {
                    // No session deadline was set: give up all the same.
                    self.closed = true;
                    return Err(Error::Session(crate::proto::client::Error::Timeout {
                        waiting_for: "a reply",
                        after: self.fallback_timeout,
                    }));
                }
            }
            Ok(Ok(0)) => self.session.handle_eof(),
            Ok(Ok(n)) => self
                .session
                .handle_input(Instant::now(), &self.read_buf[..n]),
            Ok(Err(e)) => {
                self.closed = true;
                return Err(Error::Io(e));
            }
        }
        Ok(())
    }

    /// Writes `write_buf`, failing when a write makes no progress within `stall`. Reads while
    /// the write is blocked and hands what arrives to the session.
    async fn write_flight(&mut self, stall: Duration) -> Result<(), Error> {
        enum Step {
            Wrote(usize),
            Read(usize),
        }
        let mut written = 0;
        while written < self.write_buf.len() {
            let stream = &mut self.stream;
            let data = &self.write_buf[written..];
            let read_buf = &mut self.read_buf;
            let step = poll_fn(|cx| match Pin::new(&mut *stream).poll_write(cx, data) {
                Poll::Ready(Ok(0)) => Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => Poll::Ready(Ok(Step::Wrote(n))),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => {
                    let mut rb = ReadBuf::new(read_buf);
                    match Pin::new(&mut *stream).poll_read(cx, &mut rb) {
                        Poll::Ready(Ok(())) => Poll::Ready(Ok(Step::Read(rb.filled().len()))),
                        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                        Poll::Pending => Poll::Pending,
                    }
                }
            });
            match tokio::time::timeout(stall, step).await {
                Err(_) => {
                    self.closed = true;
                    return Err(Error::WriteTimeout { after: stall });
                }
                Ok(Err(e)) => {
                    self.closed = true;
                    return Err(Error::Io(e));
                }
                Ok(Ok(Step::Wrote(n))) => written += n,
                Ok(Ok(Step::Read(0))) => {
                    self.session.handle_eof();
                    return Ok(());
                }
                Ok(Ok(Step::Read(n))) => {
                    self.session
                        .handle_input(Instant::now(), &self.read_buf[..n]);
                    if self.session.is_closed() {
                        // The server said 421 or something fatal: stop writing.
                        return Ok(());
                    }
                }
            }
        }
        match tokio::time::timeout(stall, self.stream.flush()).await {
            Ok(r) => r.map_err(Error::Io),
            Err(_) => Err(Error::WriteTimeout { after: stall }),
        }
    }

    /// Runs the TLS handshake after the server's go-ahead to STARTTLS.
    async fn upgrade(&mut self) -> Result<(), Error> {
        let Some((connector, name)) = self.tls.clone() else {
            return Err(Error::Closed);
        };
        let Transport::Plain(tcp) = std::mem::replace(&mut self.stream, Transport::Closed) else {
            return Err(Error::Closed);
        };
        // The driver hands every byte it reads to the session at once, and the session has
        // already failed if anything followed the go-ahead: nothing is buffered here.
        let buffered: &[u8] = &[];
        let tls =
            mailwire_tls::upgrade_client(tcp, &connector, name, buffered, self.handshake_timeout)
                .await;
        match tls {
            Ok(tls) => {
                self.stream =
                    Transport::Tls(Box::new(mailwire_tls::tokio_rustls::TlsStream::Client(tls)));
                self.session.handle_tls_established();
                Ok(())
            }
            Err(e) => {
                self.closed = true;
                Err(Error::Tls(e))
            }
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("session", &self.session)
            .field("closed", &self.closed)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// `[192.0.2.1]` or `[IPv6:2001:db8::1]` (RFC 5321 §4.1.3).
fn address_literal(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("[{}]", a.ip()),
        SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(v4) => format!("[{v4}]"),
            None => format!("[IPv6:{}]", a.ip()),
        },
    }
}
