//! Running TLS handshakes: implicit TLS and the STARTTLS upgrade with its
//! buffered-bytes check.

use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{TlsAcceptor, TlsConnector, client, server};

use crate::error::Error;

/// A reasonable handshake time limit for interactive mail protocols.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Fails with [`Error::BufferedAfterStartTls`] if `buffered` is not empty.
///
/// `buffered` is whatever the protocol driver holds beyond the STARTTLS
/// command line (server) or the go-ahead reply line (client), for example
/// the unconsumed tail of its line framer's buffer.
pub fn check_nothing_buffered(buffered: &[u8]) -> Result<(), Error> {
    if buffered.is_empty() {
        Ok(())
    } else {
        Err(Error::BufferedAfterStartTls {
            bytes: buffered.len(),
        })
    }
}

/// Server side of implicit TLS: runs the handshake on a freshly accepted
/// stream, within `handshake_timeout`.
pub async fn accept<S>(
    stream: S,
    acceptor: &TlsAcceptor,
    handshake_timeout: Duration,
) -> Result<server::TlsStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(e)) => Err(Error::Handshake(e)),
        Err(_) => Err(Error::HandshakeTimeout {
            timeout: handshake_timeout,
        }),
    }
}

/// Client side of implicit TLS: runs the handshake on a freshly connected
/// stream, within `handshake_timeout`, verifying the certificate against
/// `server_name`.
pub async fn connect<S>(
    stream: S,
    connector: &TlsConnector,
    server_name: ServerName<'static>,
    handshake_timeout: Duration,
) -> Result<client::TlsStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::time::timeout(handshake_timeout, connector.connect(server_name, stream)).await {
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(e)) => Err(Error::Handshake(e)),
        Err(_) => Err(Error::HandshakeTimeout {
            timeout: handshake_timeout,
        }),
    }
}

/// Server side of STARTTLS: call after the go-ahead reply (SMTP `220`, IMAP
/// `OK`, POP3 `+OK`) has been written and flushed.
///
/// `buffered_after_command` is every byte the driver has already read past
/// the end of the STARTTLS command line; if it is not empty this fails with
/// [`Error::BufferedAfterStartTls`] without starting the handshake (the
/// stream is dropped, closing the connection). Otherwise runs the handshake
/// within `handshake_timeout`.
///
/// After success the protocol state must be reset as the RFCs require
/// (forget EHLO / authentication / capabilities); the new stream starts with
/// an empty read buffer.
pub async fn upgrade_server<S>(
    stream: S,
    acceptor: &TlsAcceptor,
    buffered_after_command: &[u8],
    handshake_timeout: Duration,
) -> Result<server::TlsStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    check_nothing_buffered(buffered_after_command)?;
    accept(stream, acceptor, handshake_timeout).await
}

/// Client side of STARTTLS: call after the server's go-ahead reply has been
/// read.
///
/// `buffered_after_go_ahead` is every byte already read past the end of the
/// go-ahead reply; if it is not empty this fails with
/// [`Error::BufferedAfterStartTls`] (response injection) without starting
/// the handshake. Otherwise runs the handshake within `handshake_timeout`,
/// verifying the certificate against `server_name`.
///
/// After success the client must discard what it learnt in plaintext
/// (capabilities in particular) and ask again.
pub async fn upgrade_client<S>(
    stream: S,
    connector: &TlsConnector,
    server_name: ServerName<'static>,
    buffered_after_go_ahead: &[u8],
    handshake_timeout: Duration,
) -> Result<client::TlsStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    check_nothing_buffered(buffered_after_go_ahead)?;
    connect(stream, connector, server_name, handshake_timeout).await
}
