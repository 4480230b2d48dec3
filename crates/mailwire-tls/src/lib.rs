#![forbid(unsafe_code)]
//! TLS for mailwire: rustls configurations, the client's TLS policy, the
//! STARTTLS upgrade with its injection check, and self-signed certificates.
//!
//! * **Configurations.** [`server_config_from_pem_files`] /
//!   [`server_config_from_pem`] for servers; [`ClientConfigBuilder`] (or
//!   [`client_config`]) for clients, trusting the compiled-in webpki roots
//!   ([`Roots::WebPki`], the default) or the system's ([`Roots::System`]),
//!   plus optional extra CA files. Host name verification is always on;
//!   [`server_name`] accepts host names and IP literals. Every configuration
//!   uses rustls' `ring` provider explicitly ([`crypto_provider`]); the
//!   process-wide default provider is never consulted.
//! * **Policy.** [`Security`] chooses implicit TLS (ports 465/993/995, the
//!   default, per RFC 8314) or STARTTLS with a [`TlsPolicy`]
//!   ([`TlsPolicy::Required`] by default; [`TlsPolicy::Opportunistic`] allows
//!   a silent downgrade, see its docs).
//! * **Handshakes.** [`accept`] / [`connect`] for implicit TLS,
//!   [`upgrade_server`] / [`upgrade_client`] for STARTTLS. The upgrade
//!   functions refuse to start TLS when plaintext bytes are already buffered
//!   past the STARTTLS command or its go-ahead reply
//!   ([`Error::BufferedAfterStartTls`], the CVE-2011-0411 class). All run the
//!   handshake under a time limit and work on any
//!   `AsyncRead + AsyncWrite + Unpin` stream.
//! * **Transport.** [`Transport`]: a cleartext or TLS stream behind one type, upgraded in
//!   place by STARTTLS. The accept loop and the connection driver built on it are in
//!   `mailwire-net`.
//! * **Test certificates.** [`SelfSigned::localhost`] generates a
//!   certificate for `localhost` and `127.0.0.1` with matching server and
//!   client configurations.
//!
//! # The STARTTLS buffered-bytes rule
//!
//! A protocol driver reads from the socket into a buffer and frames lines
//! out of it. When the line it just handled was `STARTTLS` (server) or the
//! go-ahead reply to it (client), any byte still sitting in that buffer
//! arrived in *plaintext* but would be processed *after* the upgrade, as if
//! it had come over TLS. An attacker can pipeline `STARTTLS\r\nRCPT TO:...`
//! into a single TCP segment and have the second command run inside the
//! "secure" session (CVE-2011-0411 in Postfix, and many siblings). The same
//! trick works against clients with injected responses. RFC 9051 §6.2.1
//! requires IMAP servers either to feed such bytes to the TLS handshake or to
//! throw them away; RFC 3207 (§4: STARTTLS must end a pipelined group; §6:
//! discard everything learnt before the handshake) and RFC 2595 (§3.1, §4:
//! no further command until the handshake completes) make them illegitimate
//! anyway.
//!
//! The upgrade functions therefore take the driver's leftover bytes and fail
//! with [`Error::BufferedAfterStartTls`] when there are any; the driver must
//! then close the connection. A server can call [`check_nothing_buffered`]
//! *before* sending its go-ahead and answer with an error instead.
//!
//! Bytes that reach the socket only after the check are consumed by rustls
//! as handshake records and make the handshake fail: they can never be
//! taken for protocol data.
//!
//! This is stricter than RFC 9051's first option: a client that sends its
//! TLS ClientHello in the same segment as `STARTTLS`, without waiting for
//! the go-ahead, is refused rather than served.
//!
//! # Example
//!
//! ```
//! use mailwire_tls::{SelfSigned, server_config_from_pem, ClientConfigBuilder, Roots, server_name};
//!
//! // A certificate for localhost / 127.0.0.1, with ready-made configurations.
//! let cert = SelfSigned::localhost()?;
//! let _acceptor = cert.acceptor();
//! let _connector = cert.connector();
//!
//! // The same configurations built from the PEM text, as from files on disk.
//! let server = server_config_from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes())?;
//! let client = ClientConfigBuilder::new()
//!     .roots(Roots::OnlyExtra)
//!     .extra_ca_pem(cert.cert_pem.as_bytes())
//!     .build()?;
//! assert!(server.alpn_protocols.is_empty());
//! assert!(client.alpn_protocols.is_empty());
//! let _name = server_name("127.0.0.1")?;
//! # Ok::<(), mailwire_tls::Error>(())
//! ```
//!
//! A STARTTLS server, given a driver that knows what it has buffered:
//!
//! ```no_run
//! # async fn serve(stream: tokio::net::TcpStream, acceptor: tokio_rustls::TlsAcceptor,
//! #                leftover: Vec<u8>) -> Result<(), mailwire_tls::Error> {
//! use mailwire_tls::{upgrade_server, DEFAULT_HANDSHAKE_TIMEOUT};
//! // ... "STARTTLS\r\n" read, "220 2.0.0 Ready to start TLS\r\n" written ...
//! let tls = upgrade_server(stream, &acceptor, &leftover, DEFAULT_HANDSHAKE_TIMEOUT).await?;
//! // ... reset the SMTP session state and carry on over `tls` ...
//! # drop(tls); Ok(()) }
//! ```

mod config;
mod endpoint;
mod error;
mod policy;
mod selfsigned;
mod transport;
mod upgrade;

pub use config::{
    ClientConfigBuilder, Roots, certs_from_pem, certs_from_pem_file, client_config,
    crypto_provider, private_key_from_pem, private_key_from_pem_file, server_config,
    server_config_from_pem, server_config_from_pem_files, server_name,
};
pub use endpoint::{Endpoint, OpenError};
pub use error::{Error, PemItem, PemOrigin};
pub use policy::{Security, Service, StartTlsDecision, TlsPolicy};
pub use selfsigned::{LOCALHOST_NAMES, PemFiles, SelfSigned, generate_self_signed};
pub use transport::Transport;
pub use upgrade::{
    DEFAULT_HANDSHAKE_TIMEOUT, accept, check_nothing_buffered, connect, upgrade_client,
    upgrade_server,
};

/// The rustls version this crate builds on, re-exported for its types.
pub use rustls;
/// The rustls-pki-types version this crate builds on (certificates, keys,
/// [`ServerName`](rustls_pki_types::ServerName)).
pub use rustls_pki_types;
/// The tokio-rustls version this crate builds on.
pub use tokio_rustls;
/// Acceptor and connector types, re-exported from tokio-rustls.
pub use tokio_rustls::{TlsAcceptor, TlsConnector};
