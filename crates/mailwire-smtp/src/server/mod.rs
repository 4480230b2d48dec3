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

pub use mailwire_net::ConnectionError;
use mailwire_net::{AcceptLimits, DriverOptions, Handler, Step, Writer};
use mailwire_net::{drive, open, serve_connections};
use mailwire_sasl::{Authenticated, Authenticator};
use mailwire_tls::TlsAcceptor;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, info};

use crate::proto::{
    Envelope, Event, ForwardPath, MailParams, Mode, RcptParams, Reply, ReversePath, ServerConfig,
    ServerSession, SessionInfo,
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
/// parameters the session does not know are refused with `555 5.5.4` (RFC 5321 §4.1.1.11,
/// [`MailParams::refuse_unknown`]).
pub trait Policy: Send + Sync + 'static {
    /// `MAIL FROM`: `Ok` to accept (`250 2.1.0`), or the refusal.
    fn check_mail(
        &self,
        info: &ConnectionInfo,
        from: &ReversePath<'_>,
        params: &MailParams<'_>,
    ) -> impl Future<Output = Result<(), Reply>> + Send {
        let _ = (info, from);
        std::future::ready(params.refuse_unknown())
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
        std::future::ready(params.refuse_unknown())
    }

    /// `AUTH` succeeded as `who`: `Ok` to accept (`235 2.7.0`), or the refusal (the client
    /// stays unauthenticated). Accepts by default.
    fn check_auth(
        &self,
        info: &ConnectionInfo,
        who: &Authenticated,
    ) -> impl Future<Output = Result<(), Reply>> + Send {
        let _ = (info, who);
        std::future::ready(Ok(()))
    }

    /// A fault to inject at `stage` (a test server's chaos settings); none by default.
    fn fault(&self, stage: Stage, info: &ConnectionInfo) -> Option<Fault> {
        let _ = (stage, info);
        None
    }
}

/// A point of an SMTP session where a test server may inject a fault ([`Policy::fault`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Right after the TCP (and implicit TLS) connection, before the greeting.
    Connect,
    /// `MAIL FROM`.
    Mail,
    /// `RCPT TO`.
    Rcpt,
    /// The end of DATA (or the last BDAT), before the message is stored.
    Data,
    /// `AUTH` whose credentials were right, before `235`.
    Auth,
}

/// What to do at a [`Stage`]: a [`Fault::Reply`] (4xx or 5xx) answers instead (at
/// [`Stage::Connect`] it is the greeting and the connection is closed after it; at
/// [`Stage::Data`] nothing is stored; at [`Stage::Auth`] the client stays unauthenticated).
pub type Fault = mailwire_net::Fault<Reply>;

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
            command_timeout: Duration::from_secs(60),
            min_input_rate: 1024,
            auth_throttle: Some(std::sync::Arc::new(mailwire_net::AuthThrottle::default())),
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
            max_per_address: usize::MAX,
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
        shutdown: watch::Receiver<bool>,
    ) -> Result<(), ConnectionError> {
        let o = &self.options;
        let mut io = open(
            stream,
            kind.implicit_tls(),
            self.tls.as_ref(),
            o.handshake_timeout,
        )
        .await?;
        let config = ServerConfig {
            mode: kind.mode(),
            starttls_available: self.tls.is_some(),
            ..o.session.clone()
        };
        let mut session = ServerSession::new(config, Arc::clone(&self.auth), io.is_tls());
        info!(%peer, ?kind, "connection");
        let info = self.info(&session, peer, local);
        match self.policy.fault(Stage::Connect, &info) {
            Some(Fault::Reply(r)) => {
                use tokio::io::AsyncWriteExt;
                let _ = tokio::time::timeout(o.write_timeout, async {
                    io.write_all(&r.to_bytes()).await?;
                    io.shutdown().await
                })
                .await;
                return Ok(());
            }
            Some(Fault::Drop) => return Ok(()),
            Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
            None => {}
        }
        let options = DriverOptions {
            idle_timeout: o.idle_timeout,
            write_timeout: o.write_timeout,
            command_timeout: o.command_timeout,
            min_input_rate: o.min_input_rate,
            handshake_timeout: o.handshake_timeout,
            max_pending_output: o.max_pending_output,
            ..DriverOptions::default()
        };
        let mut handler = Connection {
            server: self,
            peer,
            local,
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

    fn info(&self, session: &ServerSession, peer: SocketAddr, local: SocketAddr) -> ConnectionInfo {
        ConnectionInfo {
            peer,
            local,
            mode: session.config().mode,
            session: session.info().clone(),
        }
    }
}

/// A fault at MAIL, RCPT or AUTH: its refusal resolves the check, a drop closes, a delay waits;
/// `Some` when the handler is done with the event.
async fn check_fault<P: Policy, S>(
    server: &Server<P, S>,
    stage: Stage,
    info: &ConnectionInfo,
    session: &mut ServerSession,
) -> Option<Step> {
    match server.policy.fault(stage, info) {
        Some(Fault::Reply(r)) => {
            session.resolve_check(Err(r));
            Some(Step::Continue)
        }
        Some(Fault::Drop) => Some(Step::Close),
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            None
        }
        None => None,
    }
}

// The session as the shared driver sees it.
mailwire_net::impl_session!(ServerSession, Event);

/// One connection's answers to its session's events: the policy's checks and the sink's
/// deliveries.
struct Connection<'a, P, S> {
    server: &'a Server<P, S>,
    peer: SocketAddr,
    local: SocketAddr,
}

impl<P: Policy, S: DeliverySink> Handler<ServerSession> for Connection<'_, P, S> {
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
        _writer: &mut Writer<'_, IO>,
    ) -> Result<Step, ConnectionError>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let server = self.server;
        match event {
            Event::CheckMail { from, params } => {
                let info = server.info(session, self.peer, self.local);
                if let Some(step) = check_fault(server, Stage::Mail, &info, session).await {
                    return Ok(step);
                }
                let r = server.policy.check_mail(&info, &from, &params).await;
                session.resolve_check(r);
            }
            Event::CheckRcpt { to, params } => {
                let info = server.info(session, self.peer, self.local);
                if let Some(step) = check_fault(server, Stage::Rcpt, &info, session).await {
                    return Ok(step);
                }
                let r = match session.envelope() {
                    Some(envelope) => {
                        server
                            .policy
                            .check_rcpt(&info, envelope, &to, &params)
                            .await
                    }
                    // No envelope: the session refuses the recipient itself.
                    None => Ok(()),
                };
                session.resolve_check(r);
            }
            Event::CheckAuth { authenticated } => {
                let info = server.info(session, self.peer, self.local);
                if let Some(step) = check_fault(server, Stage::Auth, &info, session).await {
                    return Ok(step);
                }
                let r = server.policy.check_auth(&info, &authenticated).await;
                if r.is_ok() {
                    tracing::info!(
                        user = %authenticated.authzid,
                        mechanism = authenticated.mechanism.name(),
                        "authenticated"
                    );
                }
                session.resolve_check(r);
            }
            Event::Deliver { envelope, message } => {
                let info = server.info(session, self.peer, self.local);
                match server.policy.fault(Stage::Data, &info) {
                    Some(Fault::Reply(r)) => {
                        let n = envelope.recipients.len().max(1);
                        session.resolve_delivery(vec![r; n]);
                        return Ok(Step::Continue);
                    }
                    Some(Fault::Drop) => return Ok(Step::Close),
                    Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
                    None => {}
                }
                let id = server.ids.fetch_add(1, Ordering::Relaxed);
                let one = match envelope.recipients.as_slice() {
                    [r] => Some(&r.path),
                    _ => None,
                };
                let mut full = received_header(&info, &server.options.session.hostname, id, one);
                full.extend_from_slice(&message);
                drop(message);
                let replies = server.sink.deliver(&info, &envelope, full).await;
                session.resolve_delivery(replies);
            }
            Event::StartTls => return Ok(Step::StartTls),
            Event::Close => return Ok(Step::Close),
        }
        Ok(Step::Continue)
    }
}
