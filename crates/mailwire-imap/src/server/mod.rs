//! The tokio IMAP server: listeners, connections, timeouts, STARTTLS and implicit TLS, on the
//! shared driver of `mailwire-net`. It makes no protocol decision: those are the
//! [`ServerSession`]'s; what the session asks of the mail store is answered by the store
//! adapter ([`store`]) over a [`mailwire_store::Store`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use mailwire_imap::server::{Listener, Server, ServerOptions};
//!
//! # async fn run() -> std::io::Result<()> {
//! let store = mailwire_store::Store::memory();
//! store.add_user("alice", "secret").await.map_err(std::io::Error::other)?;
//! let cert = mailwire_tls::SelfSigned::localhost().map_err(std::io::Error::other)?;
//! let server = Server::new(ServerOptions::default(), store, Some(cert.acceptor()));
//! let (_stop, shutdown) = tokio::sync::watch::channel(false);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3143").await?;
//! server.serve(listener, Listener::Imap, shutdown, Duration::from_secs(5)).await
//! # }
//! ```

pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use mailwire_net::ConnectionError;
use mailwire_net::{AcceptLimits, DriverOptions, Fault, Handler, LoginFaults, Step, Writer};
use mailwire_net::{drive, open, serve_connections};
use mailwire_sasl::Authenticator;
use mailwire_store::Store;
use mailwire_tls::TlsAcceptor;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, info};

use crate::proto::server::{Event, Failure, Request, ServerConfig, ServerSession};

/// Driver settings: the session's limits plus timeouts and connection limits.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The session settings (`starttls_available` is set from the TLS configuration).
    pub session: ServerConfig,
    /// The autologout timer: idle time allowed while waiting for a command. Default 30
    /// minutes, the least RFC 9051 §5.4 allows (IDLE included: clients re-issue it every 29
    /// minutes).
    pub idle_timeout: Duration,
    /// Time allowed for one write to the client. Default 2 minutes.
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
    /// Connections served at once per listener; more get `* BYE` and are closed. Default 1024.
    pub max_connections: usize,
    /// Connections served at once from one client address per listener. Default 512 (a test
    /// server's clients all come from 127.0.0.1).
    pub max_connections_per_address: usize,
    /// Sessions logged in at once as one user (over all listeners of this server); one more
    /// login gets `NO [LIMIT]`. Default 256.
    pub max_sessions_per_user: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            session: ServerConfig::default(),
            idle_timeout: Duration::from_secs(30 * 60),
            write_timeout: Duration::from_secs(120),
            command_timeout: Duration::from_secs(60),
            min_input_rate: 1024,
            auth_throttle: Some(std::sync::Arc::new(mailwire_net::AuthThrottle::default())),
            handshake_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_connections_per_address: 512,
            max_sessions_per_user: 256,
        }
    }
}

/// How a listener starts its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// IMAP (port 143), STARTTLS offered when a TLS acceptor is configured.
    Imap,
    /// IMAP over implicit TLS (port 993, RFC 8314).
    Imaps,
}

/// An IMAP server over a [`Store`] (which is also its [`Authenticator`]).
pub struct Server {
    options: ServerOptions,
    sessions: Arc<store::UserSessions>,
    store: Store,
    auth: Arc<dyn Authenticator + Send + Sync>,
    tls: Option<TlsAcceptor>,
    login_faults: Option<LoginFaults<Failure>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("options", &self.options)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server over `store`; `tls` enables STARTTLS and implicit-TLS listeners.
    pub fn new(options: ServerOptions, store: Store, tls: Option<TlsAcceptor>) -> Arc<Self> {
        Self::with_login_faults(options, store, tls, None)
    }

    /// [`new`](Self::new), with faults injected at login (a test server's chaos settings):
    /// asked once a LOGIN or AUTHENTICATE has passed the credential check, a
    /// [`Fault::Reply`] is the tagged `NO` (`[AUTHENTICATIONFAILED]`, `[LIMIT]` or
    /// `[UNAVAILABLE]` from its kind) and the client stays unauthenticated.
    pub fn with_login_faults(
        options: ServerOptions,
        store: Store,
        tls: Option<TlsAcceptor>,
        login_faults: Option<LoginFaults<Failure>>,
    ) -> Arc<Self> {
        let auth: Arc<dyn Authenticator + Send + Sync> = Arc::new(store.clone());
        Arc::new(Self {
            options,
            sessions: Arc::default(),
            store,
            auth,
            tls,
            login_faults,
        })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Accepts connections on `listener` until `shutdown` turns `true`, then stops accepting,
    /// says `* BYE` to idle sessions and waits up to `grace` for the others.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        kind: Listener,
        shutdown: watch::Receiver<bool>,
        grace: Duration,
    ) -> std::io::Result<()> {
        if kind == Listener::Imaps && self.tls.is_none() {
            return Err(std::io::Error::other(
                "an implicit-TLS listener needs a TLS configuration",
            ));
        }
        let limits = AcceptLimits {
            max_connections: self.options.max_connections,
            max_per_address: self.options.max_connections_per_address,
            busy_reply: b"* BYE [UNAVAILABLE] Too many connections, try again later\r\n",
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
            kind == Listener::Imaps,
            self.tls.as_ref(),
            o.handshake_timeout,
        )
        .await?;
        let config = ServerConfig {
            starttls_available: self.tls.is_some(),
            ..o.session.clone()
        };
        let max_output = config.max_output.max(1);
        let mut session = ServerSession::new(config, Arc::clone(&self.auth), io.is_tls());
        info!(%peer, ?kind, "connection");
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
            adapter: store::StoreAdapter::new(self.store.clone())
                .with_session_limit(Arc::clone(&self.sessions), o.max_sessions_per_user),
            peer,
            max_output,
            login_faults: self.login_faults.clone(),
            auth_throttle: o.auth_throttle.clone(),
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
mailwire_net::impl_session!(ServerSession, Event, idle_timeout);

/// One connection's answers to its session's events.
struct Connection {
    adapter: store::StoreAdapter,
    peer: SocketAddr,
    max_output: usize,
    login_faults: Option<LoginFaults<Failure>>,
    auth_throttle: Option<Arc<mailwire_net::AuthThrottle>>,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Handler<ServerSession> for Connection {
    fn auth_throttle(&self) -> Option<(&mailwire_net::AuthThrottle, std::net::IpAddr)> {
        self.auth_throttle.as_deref().map(|t| (t, self.peer.ip()))
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
        match event {
            Event::Request(r) => {
                if let Request::Login { user } = &r {
                    match self.login_faults.as_ref().and_then(|f| f(self.peer, user)) {
                        Some(Fault::Reply(failure)) => {
                            info!(peer = %self.peer, %user, "login refused by a fault");
                            session.answer(Err(failure));
                            return Ok(Step::Continue);
                        }
                        Some(Fault::Drop) => return Ok(Step::Close),
                        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
                        None => {}
                    }
                    info!(peer = %self.peer, %user, "logged in");
                }
                session.set_now(now());
                let answer = self.adapter.answer(r).await;
                session.answer(answer);
                if session.output_len() >= self.max_output {
                    writer.flush(session).await?;
                }
                Ok(Step::Continue)
            }
            Event::StartTls => Ok(Step::StartTls),
            Event::Compress => Ok(Step::Compress),
            Event::Close => Ok(Step::Close),
            Event::Pause(d) => {
                tokio::time::sleep(d).await;
                Ok(Step::Continue)
            }
        }
    }

    fn wait(&mut self) -> impl std::future::Future<Output = ()> + Send {
        self.adapter.changed()
    }

    async fn woken(&mut self, session: &mut ServerSession) -> Result<(), ConnectionError> {
        session.mailbox_changed();
        Ok(())
    }
}
