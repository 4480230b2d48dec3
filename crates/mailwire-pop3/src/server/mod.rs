//! The tokio POP3 server: listeners, connections, timeouts, STLS and implicit TLS. No protocol
//! decisions are made here; they live in [`ServerSession`].
//! Maildrops come from a [`MaildropProvider`]; credentials from a
//! [`mailwire_sasl::Authenticator`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use mailwire_pop3::server::{Listener, MemoryMaildrops, Server, ServerOptions};
//!
//! # async fn run() -> std::io::Result<()> {
//! let drops = MemoryMaildrops::new();
//! drops.add_message("alice", &b"Subject: hi\r\n\r\nhello\r\n"[..]);
//! let auth = Arc::new(mailwire_sasl::StaticAuthenticator::new().with_user("alice", "secret"));
//! let cert = mailwire_tls::SelfSigned::localhost().map_err(std::io::Error::other)?;
//! let server = Server::new(ServerOptions::default(), drops, auth, Some(cert.acceptor()));
//! let (_stop, shutdown) = tokio::sync::watch::channel(false);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3110").await?;
//! server.serve(listener, Listener::Pop3, shutdown, Duration::from_secs(5)).await
//! # }
//! ```

mod maildrop;
mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use mailwire_net::ConnectionError;
use mailwire_net::{AcceptLimits, DriverOptions, Fault, Handler, LoginFaults, Step, Writer};
use mailwire_net::{drive, open, serve_connections};
use mailwire_sasl::Authenticator;
use mailwire_tls::TlsAcceptor;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::proto::{Event, ServerConfig, ServerSession, Status};

pub use maildrop::{
    BoxFuture, CommitError, LockError, MaildropProvider, MaildropView, MemoryMaildrops,
    MessageReader,
};
pub use store::StoreMaildrops;

/// Driver settings: the session's limits plus timeouts and connection limits.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The session settings (`stls_available` is set from the TLS configuration).
    pub session: ServerConfig,
    /// The autologout timer: idle time allowed while waiting for a command. Default 10
    /// minutes, the minimum RFC 1939 §3 allows. On expiry the connection is closed without a
    /// response and nothing is deleted.
    pub idle_timeout: Duration,
    /// Time allowed for one write to the client (a client that stops reading in the middle
    /// of a RETR is dropped after it). Default 2 minutes.
    pub write_timeout: Duration,
    /// A command whose input started but is not answered within this long is cut off unless
    /// it arrives at [`min_input_rate`](Self::min_input_rate) (slow clients, slowloris).
    /// Default 60 s.
    pub command_timeout: Duration,
    /// Octets per second such a command must average. Default 1024.
    pub min_input_rate: u64,
    /// Logins failed per client address, over all connections (and over every server given
    /// the same one): past its allowance a failure is answered later and later, then the
    /// address is refused for a while. Default: a throttle of this server's own with
    /// [`AuthThrottleOptions::default`](mailwire_net::AuthThrottleOptions); `None`: none.
    pub auth_throttle: Option<std::sync::Arc<mailwire_net::AuthThrottle>>,
    /// Time allowed for a TLS handshake. Default 30 seconds.
    pub handshake_timeout: Duration,
    /// Connections served at once per server; more get `-ERR [SYS/TEMP]` and are closed.
    /// Default 256. Memory cost: about 130 KiB per connection (read buffer, output, RETR chunk).
    pub max_connections: usize,
    /// Octets read from the backend per RETR/TOP chunk. Default 64 KiB.
    pub message_chunk: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            session: ServerConfig::default(),
            idle_timeout: Duration::from_secs(600),
            write_timeout: Duration::from_secs(120),
            command_timeout: Duration::from_secs(60),
            min_input_rate: 1024,
            auth_throttle: Some(std::sync::Arc::new(mailwire_net::AuthThrottle::default())),
            handshake_timeout: Duration::from_secs(30),
            max_connections: 256,
            message_chunk: 64 * 1024,
        }
    }
}

/// How a listener starts its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// POP3 (port 110), STLS offered when a TLS acceptor is configured.
    Pop3,
    /// POP3 over implicit TLS (port 995, RFC 8314).
    Pop3s,
}

/// A POP3 server over a [`MaildropProvider`] and an [`Authenticator`].
pub struct Server<M> {
    options: ServerOptions,
    maildrops: Arc<M>,
    auth: Arc<dyn Authenticator + Send + Sync>,
    tls: Option<TlsAcceptor>,
    counter: AtomicU64,
    login_faults: Option<LoginFaults<Status>>,
}

impl<M> std::fmt::Debug for Server<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("options", &self.options)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl<M: MaildropProvider> Server<M> {
    /// A server. `tls` enables STLS and implicit-TLS listeners.
    pub fn new(
        options: ServerOptions,
        maildrops: M,
        auth: Arc<dyn Authenticator + Send + Sync>,
        tls: Option<TlsAcceptor>,
    ) -> Arc<Self> {
        Self::with_login_faults(options, maildrops, auth, tls, None)
    }

    /// [`new`](Self::new), with faults injected at login (a test server's chaos settings):
    /// asked once USER/PASS, APOP or AUTH has passed the credential check, before the
    /// maildrop is locked; a [`Fault::Reply`] is the `-ERR` status sent instead of `+OK`
    /// and the client stays in the AUTHORIZATION state.
    pub fn with_login_faults(
        options: ServerOptions,
        maildrops: M,
        auth: Arc<dyn Authenticator + Send + Sync>,
        tls: Option<TlsAcceptor>,
        login_faults: Option<LoginFaults<Status>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            options,
            maildrops: Arc::new(maildrops),
            auth,
            tls,
            counter: AtomicU64::new(0),
            login_faults,
        })
    }

    /// The maildrop backend.
    pub fn maildrops(&self) -> &M {
        &self.maildrops
    }

    /// Accepts connections on `listener` until `shutdown` turns `true`, then stops accepting,
    /// tells idle sessions `-ERR [SYS/TEMP]` (nothing is deleted) and waits up to `grace` for
    /// the others.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        kind: Listener,
        shutdown: watch::Receiver<bool>,
        grace: Duration,
    ) -> std::io::Result<()> {
        if kind == Listener::Pop3s && self.tls.is_none() {
            return Err(std::io::Error::other(
                "an implicit-TLS listener needs a TLS configuration",
            ));
        }
        let limits = AcceptLimits {
            max_per_address: usize::MAX,
            max_connections: self.options.max_connections,
            busy_reply: b"-ERR [SYS/TEMP] Too many connections, try again later\r\n",
            grace,
        };
        serve_connections(listener, limits, shutdown, |stream, peer, shutdown| {
            let server = Arc::clone(&self);
            async move {
                if let Err(e) = server.connection(stream, peer, kind, shutdown).await {
                    debug!(%peer, error = %e, "connection ended with an error");
                }
            }
        })
        .await
    }

    /// A fresh APOP timestamp, `<pid.clock.counter@host>` (RFC 1939 §7: different for every
    /// greeting).
    fn timestamp(&self) -> String {
        let clock = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0);
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!(
            "<{}.{clock}.{n}@{}>",
            std::process::id(),
            self.options.session.hostname
        )
    }

    /// Serves one accepted connection to its end.
    pub async fn connection(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        kind: Listener,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(), ConnectionError> {
        let o = &self.options;
        let mut io = open(
            stream,
            kind == Listener::Pop3s,
            self.tls.as_ref(),
            o.handshake_timeout,
        )
        .await?;
        let config = ServerConfig {
            stls_available: self.tls.is_some(),
            ..o.session.clone()
        };
        let mut session = ServerSession::new(
            config,
            Arc::clone(&self.auth),
            io.is_tls(),
            Some(self.timestamp()),
        );
        info!(%peer, ?kind, "connection");
        let max_output = o.session.max_output.max(1);
        let options = DriverOptions {
            idle_timeout: o.idle_timeout,
            write_timeout: o.write_timeout,
            command_timeout: o.command_timeout,
            min_input_rate: o.min_input_rate,
            handshake_timeout: o.handshake_timeout,
            max_pending_output: max_output,
            ..DriverOptions::default()
        };
        let mut handler = Connection {
            server: self,
            peer,
            maildrop: None,
            message_buf: Vec::new(),
            max_output,
        };
        drive(
            &mut io,
            &mut session,
            &mut handler,
            self.tls.as_ref(),
            &options,
            shutdown,
        )
        .await
    }
}

// The session as the shared driver sees it.
mailwire_net::impl_session!(ServerSession, Event);

/// One connection's answers to its session's events: the locked maildrop, and the RETR/TOP
/// streaming.
struct Connection<'a, M> {
    server: &'a Server<M>,
    peer: SocketAddr,
    maildrop: Option<Box<dyn MaildropView>>,
    message_buf: Vec<u8>,
    max_output: usize,
}

impl<M: MaildropProvider> Handler<ServerSession> for Connection<'_, M> {
    fn auth_throttle(&self) -> Option<(&mailwire_net::AuthThrottle, std::net::IpAddr)> {
        self.server
            .options
            .auth_throttle
            .as_deref()
            .map(|t| (t, self.peer.ip()))
    }

    async fn handle<IO>(
        &mut self,
        session: &mut ServerSession,
        event: Event,
        writer: &mut Writer<'_, IO>,
    ) -> Result<Step, ConnectionError>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let peer = self.peer;
        match event {
            Event::LockMaildrop { user } => {
                match self
                    .server
                    .login_faults
                    .as_ref()
                    .and_then(|f| f(peer, &user))
                {
                    Some(Fault::Reply(status)) => {
                        info!(%peer, %user, "login refused by a fault");
                        session.resolve_lock(Err(status));
                        return Ok(Step::Continue);
                    }
                    Some(Fault::Drop) => return Ok(Step::Close),
                    Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
                    None => {}
                }
                let result = match self.server.maildrops.lock(&user).await {
                    Ok(view) => {
                        let list = view.list();
                        self.maildrop = Some(view);
                        info!(%peer, %user, messages = list.len(), "maildrop locked");
                        Ok(list)
                    }
                    Err(e) => {
                        if !matches!(e, LockError::InUse) {
                            warn!(%peer, %user, error = %e, "maildrop unavailable");
                        }
                        Err(Status::from(e))
                    }
                };
                session.resolve_lock(result);
            }
            Event::Retrieve { index, .. } => {
                let Some(view) = self.maildrop.as_mut() else {
                    session.retrieve_unavailable();
                    return Ok(Step::Continue);
                };
                let mut reader = match view.read(index).await {
                    Ok(r) => r,
                    Err(e) => {
                        warn!(%peer, error = %e, "cannot read message");
                        session.retrieve_unavailable();
                        return Ok(Step::Continue);
                    }
                };
                session.start_message();
                self.message_buf
                    .resize(self.server.options.message_chunk.max(512), 0);
                loop {
                    // A backend read that fails mid-message cannot be reported in-band (the
                    // +OK is out): the connection is dropped.
                    let n = reader.read(&mut self.message_buf).await?;
                    if n == 0 {
                        break;
                    }
                    let more = session.handle_message_data(&self.message_buf[..n]);
                    if session.output_len() >= self.max_output {
                        writer.flush(session).await?;
                    }
                    if !more {
                        break;
                    }
                }
                session.end_message();
            }
            Event::Commit { deleted } => {
                let result = match self.maildrop.take() {
                    Some(view) => {
                        let n = deleted.len();
                        match view.commit_deletions(deleted).await {
                            Ok(()) => {
                                info!(%peer, deleted = n, "deletions committed");
                                Ok(())
                            }
                            Err(e) => {
                                warn!(%peer, error = %e, "commit failed");
                                Err(Status::from(e))
                            }
                        }
                    }
                    None => Ok(()),
                };
                session.resolve_commit(result);
            }
            Event::StartTls => return Ok(Step::StartTls),
            Event::Close => {
                // An uncommitted maildrop is released here, deleting nothing.
                drop(self.maildrop.take());
                return Ok(Step::Close);
            }
        }
        Ok(Step::Continue)
    }
}
