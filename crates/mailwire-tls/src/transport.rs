//! [`Transport`]: a connection that starts in cleartext and may become TLS (STARTTLS), or starts
//! in TLS (implicit TLS), behind one `AsyncRead + AsyncWrite` type for the protocol drivers.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::Error;

/// A cleartext or TLS connection over `S` (usually a `TcpStream`).
#[derive(Debug)]
pub enum Transport<S> {
    /// Cleartext.
    Plain(S),
    /// TLS, client or server side.
    Tls(Box<tokio_rustls::TlsStream<S>>),
    /// Transitional: the stream was handed to a handshake that failed.
    Closed,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Transport<S> {
    /// Whether TLS is active.
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tls(_))
    }

    /// Server side of implicit TLS.
    pub async fn accept(
        stream: S,
        acceptor: &TlsAcceptor,
        timeout: Duration,
    ) -> Result<Self, Error> {
        let tls = crate::accept(stream, acceptor, timeout).await?;
        Ok(Self::Tls(Box::new(tokio_rustls::TlsStream::Server(tls))))
    }

    /// Server side of STARTTLS: refuses if `buffered_after_command` is not empty (command
    /// injection), then runs the handshake. On error the connection is gone (`Closed`).
    pub async fn upgrade_server(
        &mut self,
        acceptor: &TlsAcceptor,
        buffered_after_command: &[u8],
        timeout: Duration,
    ) -> Result<(), Error> {
        match std::mem::replace(self, Self::Closed) {
            Self::Plain(s) => {
                let tls =
                    crate::upgrade_server(s, acceptor, buffered_after_command, timeout).await?;
                *self = Self::Tls(Box::new(tokio_rustls::TlsStream::Server(tls)));
                Ok(())
            }
            other => {
                *self = other;
                Err(Error::AlreadyTls)
            }
        }
    }

    /// Client side of STARTTLS: refuses if `buffered_after_go_ahead` is not empty (response
    /// injection), then runs the handshake verifying `server_name`.
    pub async fn upgrade_client(
        &mut self,
        connector: &TlsConnector,
        server_name: rustls_pki_types::ServerName<'static>,
        buffered_after_go_ahead: &[u8],
        timeout: Duration,
    ) -> Result<(), Error> {
        match std::mem::replace(self, Self::Closed) {
            Self::Plain(s) => {
                let tls = crate::upgrade_client(
                    s,
                    connector,
                    server_name,
                    buffered_after_go_ahead,
                    timeout,
                )
                .await?;
                *self = Self::Tls(Box::new(tokio_rustls::TlsStream::Client(tls)));
                Ok(())
            }
            other => {
                *self = other;
                Err(Error::AlreadyTls)
            }
        }
    }
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "connection closed after a failed TLS handshake",
    )
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Transport<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Self::Closed => Poll::Ready(Err(closed())),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Transport<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Self::Closed => Poll::Ready(Err(closed())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Self::Closed => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Self::Closed => Poll::Ready(Ok(())),
        }
    }
}
