//! The tokio server: listeners, connections, timeouts, TLS. No protocol decisions are made here;
//! they live in [`ServerSession`](crate::proto::ServerSession). What happens to an envelope and
//! a message is decided by a [`Policy`] and a [`DeliverySink`], so a library user can run a
//! server that delivers anywhere.

mod received;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::BufMut;
use mailwire_sasl::Authenticator;
pub use mailwire_tls::ConnectionError;
use mailwire_tls::{AcceptLimits, TlsAcceptor, Transport, serve_connections, write_out};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, info};

/// The most octets one read takes from the socket.
const READ_CHUNK: usize = 64 * 1024;

use crate::proto::{
    EnhancedCode, Envelope, Event, ForwardPath, MailParams, Mode, RcptParams, Reply, ReversePath,
    ServerConfig, ServerSession, SessionInfo,
};

pub use received::{received_header, rfc5322_date};

/// What a policy or sink knows about the connection.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// The listener's address.
    pub local: SocketAddr,
    /// SMTP, Submission or LMTP.
    pub mode: Mode,
    /// EHLO domain, TLS state and authenticated identity.
    pub session: SessionInfo,
}

/// Decides on senders and recipients. Every method has a permissive default, except that
/// parameters the session does not know are refused with `555 5.5.4` (RFC 5321 §4.1.1.11).
pub trait Policy: Send + Sync + 'static {
    /// `MAIL FROM`: `Ok` to accept (`250 2.1.0`), or the refusal.
    fn check_mail(
        &self,
        info: &ConnectionInfo,
        from: &ReversePath<'_>,
        params: &MailParams<'_>,
    ) -> impl Future<Output = Result<(), Reply>> + Send {
        let _ = (info, from);
        let unknown = params.unknown.first().map(|u| u.keyword.clone());
        async move {
            match unknown {
                Some(k) => Err(Reply::new(
                    555,
                    Some(EnhancedCode::new(5, 5, 4)),
                    &format!("Parameter {k} not supported"),
                )),
                None => Ok(()),
            }
        }
    }

    /// `RCPT TO`: `Ok` to accept (`250 2.1.5`), or the refusal (`550 5.1.1` for an unknown user).
    fn check_rcpt(
        &self,
        info: &ConnectionInfo,
        envelope: &Envelope,
        to: &ForwardPath<'_>,
        params: &RcptParams<'_>,
    ) -> impl Future<Output = Result<(), Reply>> + Send {
        let _ = (info, envelope, to);
        let unknown = params.unknown.first().map(|u| u.keyword.clone());
        async move {
            match unknown {
                Some(k) => Err(Reply::new(
                    555,
                    Some(EnhancedCode::new(5, 5, 4)),
                    &format!("Parameter {k} not supported"),
                )),
                None => Ok(()),
            }
        }
    }
}

/// Accepts every sender and recipient (apart from unknown parameters).
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAll;

impl Policy for AcceptAll {}

/// Where accepted messages go.
pub trait DeliverySink: Send + Sync + 'static {
    /// Stores `message` (which starts with the `Received:` header) for the envelope's
    /// recipients. Return only once the message is durable: the session answers `250` with
    /// what this returns. SMTP uses the first reply; LMTP one per recipient, in order.
    fn deliver(
        &self,
        info: &ConnectionInfo,
        envelope: &Envelope,
        message: Vec<u8>,
    ) -> impl Future<Output = Vec<Reply>> + Send;
}

/// Driver settings: the session's limits plus timeouts and connection limits.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The session settings (mode is set per listener).
    pub session: ServerConfig,
    /// Idle time allowed while waiting for a command. Default 5 minutes (RFC 5321 §4.5.3.2.7).
    pub idle_timeout: Duration,
    /// Time allowed for one write to the client. Default 5 minutes.
    pub write_timeout: Duration,
    /// Time allowed for a TLS handshake. Default 30 seconds.
    pub handshake_timeout: Duration,
    /// Connections served at once per server; more get `421 4.3.2` and are closed.
    /// Default 256.
    pub max_connections: usize,
    /// Output buffered before it is written even though more pipelined input is waiting.
    /// Default 64 KiB (bounds memory when a client pipelines without reading).
    pub max_pending_output: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            session: ServerConfig::default(),
            idle_timeout: Duration::from_secs(300),
            write_timeout: Duration::from_secs(300),
            handshake_timeout: Duration::from_secs(30),
            max_connections: 256,
            max_pending_output: 64 * 1024,
        }
    }
}

/// How a listener starts its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// SMTP with STARTTLS (when a TLS acceptor is configured).
    Smtp,
    /// SMTP over implicit TLS.
    Smtps,
    /// Submission (AUTH required) with STARTTLS.
    Submission,
    /// Submission over implicit TLS (RFC 8314).
    Submissions,
    /// LMTP (STARTTLS offered when TLS is configured).
    Lmtp,
}

impl Listener {
    fn mode(self) -> Mode {
        match self {
            Self::Smtp | Self::Smtps => Mode::Smtp,
            Self::Submission | Self::Submissions => Mode::Submission,
            Self::Lmtp => Mode::Lmtp,
        }
    }

    fn implicit_tls(self) -> bool {
        matches!(self, Self::Smtps | Self::Submissions)
    }
}

/// An SMTP/Submission/LMTP server over a [`Policy`] and a [`DeliverySink`].
pub struct Server<P, S> {
    options: ServerOptions,
    policy: Arc<P>,
    sink: Arc<S>,
    auth: Arc<dyn Authenticator + Send + Sync>,
    tls: Option<TlsAcceptor>,
    ids: AtomicU64,
}

impl<P: Policy, S: DeliverySink> Server<P, S> {
    /// A server. `tls` enables STARTTLS and implicit-TLS listeners.
    pub fn new(
        options: ServerOptions,
        policy: P,
        sink: S,
        auth: Arc<dyn Authenticator + Send + Sync>,
        tls: Option<TlsAcceptor>,
    ) -> Arc<Self> {
        Arc::new(Self {
            options,
            policy: Arc::new(policy),
            sink: Arc::new(sink),
            auth,
            tls,
            ids: AtomicU64::new(1),
        })
    }

    /// Accepts connections on `listener` until `shutdown` turns `true`, then stops accepting,
    /// tells idle sessions `421 4.3.2` and waits up to `grace` for transactions in flight.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        kind: Listener,
        shutdown: watch::Receiver<bool>,
        grace: Duration,
    ) -> std::io::Result<()> {
        if kind.implicit_tls() && self.tls.is_none() {
            return Err(std::io::Error::other(
                "an implicit-TLS listener needs a TLS configuration",
            ));
        }
        let local = listener.local_addr()?;
        let limits = AcceptLimits {
            max_connections: self.options.max_connections,
            busy_reply: b"421 4.3.2 Too many connections, try again later\r\n",
            grace,
        };
        serve_connections(listener, limits, shutdown, |stream, peer, shutdown| {
            let server = Arc::clone(&self);
            async move {
                if let Err(e) = server.connection(stream, peer, local, kind, shutdown).await {
                    debug!(%peer, error = %e, "connection ended with an error");
                }
            }
        })
        .await
    }

    /// Serves one accepted connection to its end.
    pub async fn connection(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        local: SocketAddr,
        kind: Listener,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), ConnectionError> {
        let o = &self.options;
        let mut io = if kind.implicit_tls() {
            let acceptor = self.tls.as_ref().ok_or(ConnectionError::NoTls)?;
            Transport::accept(stream, acceptor, o.handshake_timeout).await?
        } else {
            Transport::Plain(stream)
        };
        let config = ServerConfig {
            mode: kind.mode(),
            starttls_available: self.tls.is_some(),
            ..o.session.clone()
        };
        let mut session = ServerSession::new(config, Arc::clone(&self.auth), io.is_tls());
        info!(%peer, ?kind, "connection");
        let mut input: Vec<u8> = Vec::with_capacity(16 * 1024);
        let mut start = 0;
        let mut out = Vec::with_capacity(4096);
        // After a shutdown signal: finish the transaction in flight, then say 421.
        let mut draining = false;
        loop {
            // Process what is buffered, answering events as they come.
            loop {
                let used = session.handle_input(&input[start..]);
                start += used;
                let mut answered = false;
                while let Some(event) = session.poll_event() {
                    answered = true;
                    match event {
                        Event::CheckMail { from, params } => {
                            let info = self.info(&session, peer, local);
                            let r = self.policy.check_mail(&info, &from, &params).await;
                            session.resolve_check(r);
                        }
                        Event::CheckRcpt { to, params } => {
                            let info = self.info(&session, peer, local);
                            let r = match session.envelope() {
                                Some(envelope) => {
                                    self.policy.check_rcpt(&info, envelope, &to, &params).await
                                }
                                // The session asks only inside a transaction.
                                None => Err(Reply::new(
                                    503,
                                    Some(EnhancedCode::new(5, 5, 1)),
                                    "Need MAIL before RCPT",
                                )),
                            };
                            session.resolve_check(r);
                        }
                        Event::Deliver { envelope, message } => {
                            let info = self.info(&session, peer, local);
                            let id = self.ids.fetch_add(1, Ordering::Relaxed);
                            let one = match envelope.recipients.as_slice() {
                                [r] => Some(&r.path),
                                _ => None,
                            };
                            let mut full = received_header(&info, &o.session.hostname, id, one);
                            full.extend_from_slice(&message);
                            drop(message);
                            let replies = self.sink.deliver(&info, &envelope, full).await;
                            session.resolve_delivery(replies);
                        }
                        Event::StartTls => {
                            session.poll_output(&mut out);
                            write_out(&mut io, &mut out, o.write_timeout).await?;
                            let acceptor = self.tls.as_ref().ok_or(ConnectionError::NoTls)?;
                            // Anything already read past the STARTTLS line is refused.
                            io.upgrade_server(acceptor, &input[start..], o.handshake_timeout)
                                .await?;
                            input.clear();
                            start = 0;
                            session.tls_established();
                        }
                        Event::Close => {
                            session.poll_output(&mut out);
                            write_out(&mut io, &mut out, o.write_timeout).await?;
                            // TLS says close_notify; plain TCP's FIN comes with the close.
                            if io.is_tls() {
                                let _ = tokio::time::timeout(o.write_timeout, io.shutdown()).await;
                            }
                            return Ok(());
                        }
                    }
                }
                if session.output_len() >= o.max_pending_output {
                    session.poll_output(&mut out);
                    write_out(&mut io, &mut out, o.write_timeout).await?;
                }
                if !answered && (used == 0 || start == input.len()) {
                    break;
                }
            }
            if draining && session.is_between_transactions() && !session.is_closed() {
                session.close_with(
                    421,
                    EnhancedCode::new(4, 3, 2),
                    "Service shutting down, closing connection",
                );
                continue;
            }
            // All input is consumed (into the session's framer or receivers): flush, then read.
            session.poll_output(&mut out);
            write_out(&mut io, &mut out, o.write_timeout).await?;
            input.drain(..start);
            start = 0;
            // Read straight into the input buffer (no bounce through a second one), up to
            // READ_CHUNK octets at a time.
            input.reserve(READ_CHUNK);
            let mut room = (&mut input).limit(READ_CHUNK);
            let read = tokio::select! {
                r = tokio::time::timeout(o.idle_timeout, io.read_buf(&mut room)) => r,
                _ = shutdown.changed(), if !draining => {
                    draining = true;
                    continue;
                }
            };
            match read {
                Err(_) => {
                    session.close_with(
                        421,
                        EnhancedCode::new(4, 4, 2),
                        "Idle timeout, closing connection",
                    );
                }
                Ok(Ok(0)) => return Ok(()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.into()),
            }
        }
    }

    fn info(&self, session: &ServerSession, peer: SocketAddr, local: SocketAddr) -> ConnectionInfo {
        ConnectionInfo {
            peer,
            local,
            mode: session.config().mode,
            session: session.info().clone(),
        }
    }
}
