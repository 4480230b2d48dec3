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

use mailwire_sasl::Authenticator;
pub use mailwire_tls::ConnectionError;
use mailwire_tls::{AcceptLimits, TlsAcceptor, Transport, serve_connections, write_out};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::proto::{Event, ResponseCode, ServerConfig, ServerSession, Status};

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
        Arc::new(Self {
            options,
            maildrops: Arc::new(maildrops),
            auth,
            tls,
            counter: AtomicU64::new(0),
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
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), ConnectionError> {
        let o = &self.options;
        let mut io = if kind == Listener::Pop3s {
            let acceptor = self.tls.as_ref().ok_or(ConnectionError::NoTls)?;
            Transport::accept(stream, acceptor, o.handshake_timeout).await?
        } else {
            Transport::Plain(stream)
        };
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
        let mut maildrop: Option<Box<dyn MaildropView>> = None;
        let mut input: Vec<u8> = Vec::with_capacity(16 * 1024);
        let mut start = 0;
        let mut out = Vec::with_capacity(16 * 1024);
        let mut chunk = vec![0u8; 16 * 1024];
        let mut message_buf = Vec::new();
        let max_output = o.session.max_output.max(1);
        loop {
            loop {
                let used = session.handle_input(&input[start..]);
                start += used;
                let mut answered = false;
                while let Some(event) = session.poll_event() {
                    answered = true;
                    match event {
                        Event::LockMaildrop { user } => {
                            let result = match self.maildrops.lock(&user).await {
                                Ok(view) => {
                                    let list = view.list();
                                    maildrop = Some(view);
                                    info!(%peer, %user, messages = list.len(), "maildrop locked");
                                    Ok(list)
                                }
                                Err(LockError::InUse) => Err(Status::err_code(
                                    ResponseCode::InUse,
                                    "maildrop already locked by another session",
                                )),
                                Err(e) => {
                                    warn!(%peer, %user, error = %e, "maildrop unavailable");
                                    Err(Status::err_code(
                                        ResponseCode::SysTemp,
                                        "maildrop unavailable, try again later",
                                    ))
                                }
                            };
                            session.resolve_lock(result);
                        }
                        Event::Retrieve { index, .. } => {
                            let Some(view) = maildrop.as_mut() else {
                                session.fail_retrieve(Status::err_code(
                                    ResponseCode::SysTemp,
                                    "no maildrop",
                                ));
                                continue;
                            };
                            let mut reader = match view.read(index).await {
                                Ok(r) => r,
                                Err(e) => {
                                    warn!(%peer, error = %e, "cannot read message");
                                    session.fail_retrieve(Status::err_code(
                                        ResponseCode::SysTemp,
                                        "cannot read the message now",
                                    ));
                                    continue;
                                }
                            };
                            session.start_message();
                            message_buf.resize(o.message_chunk.max(512), 0);
                            loop {
                                // A backend read that fails mid-message cannot be reported
                                // in-band (the +OK is out): the connection is dropped.
                                let n = reader.read(&mut message_buf).await?;
                                if n == 0 {
                                    break;
                                }
                                let more = session.handle_message_data(&message_buf[..n]);
                                if session.output_len() >= max_output {
                                    session.poll_output(&mut out);
                                    write_out(&mut io, &mut out, o.write_timeout).await?;
                                }
                                if !more {
                                    break;
                                }
                            }
                            session.end_message();
                        }
                        Event::Commit { deleted } => {
                            let result = match maildrop.take() {
                                Some(view) => {
                                    let n = deleted.len();
                                    match view.commit_deletions(deleted).await {
                                        Ok(()) => {
                                            info!(%peer, deleted = n, "deletions committed");
                                            Ok(())
                                        }
                                        Err(e) => {
                                            warn!(%peer, error = %e, "commit failed");
                                            Err(Status::err_code(
                                                ResponseCode::SysTemp,
                                                "some deleted messages not removed",
                                            ))
                                        }
                                    }
                                }
                                None => Ok(()),
                            };
                            session.resolve_commit(result);
                        }
                        Event::StartTls => {
                            session.poll_output(&mut out);
                            write_out(&mut io, &mut out, o.write_timeout).await?;
                            let acceptor = self.tls.as_ref().ok_or(ConnectionError::NoTls)?;
                            // Anything already read past the STLS line is refused.
                            io.upgrade_server(acceptor, &input[start..], o.handshake_timeout)
                                .await?;
                            input.clear();
                            start = 0;
                            session.tls_established();
                        }
                        Event::Close => {
                            // An uncommitted maildrop is released here, deleting nothing.
                            drop(maildrop.take());
                            session.poll_output(&mut out);
                            write_out(&mut io, &mut out, o.write_timeout).await?;
                            let _ = tokio::time::timeout(o.write_timeout, io.shutdown()).await;
                            return Ok(());
                        }
                    }
                }
                if session.output_len() >= max_output {
                    // Back-pressure: a pipelining client gets its answers before more of
                    // its commands are read.
                    session.poll_output(&mut out);
                    write_out(&mut io, &mut out, o.write_timeout).await?;
                    continue;
                }
                if !answered && (used == 0 || start == input.len()) {
                    break;
                }
            }
            session.poll_output(&mut out);
            write_out(&mut io, &mut out, o.write_timeout).await?;
            input.drain(..start);
            start = 0;
            let read = tokio::select! {
                r = tokio::time::timeout(o.idle_timeout, io.read(&mut chunk)) => r,
                _ = shutdown.changed() => {
                    session.close_with(&Status::err_code(ResponseCode::SysTemp, "server shutting down, nothing deleted"));
                    continue;
                }
            };
            match read {
                Err(_) => {
                    info!(%peer, "autologout: idle timeout");
                    session.handle_idle_timeout();
                }
                Ok(Ok(0)) => return Ok(()),
                Ok(Ok(n)) => input.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) => return Err(e.into()),
            }
        }
    }
}
