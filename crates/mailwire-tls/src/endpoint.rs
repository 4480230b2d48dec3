//! Where a client connects and how it protects the connection: the settings and the connect
//! step that mailwire's POP3 and IMAP clients share.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::{ClientConfigBuilder, Error, Security, TlsPolicy, Transport, server_name};

/// A server to connect to: host, port, implicit TLS or STARTTLS with a policy, the trust
/// anchors and the timeouts.
///
/// ```
/// use mailwire_tls::{Endpoint, Security, TlsPolicy};
///
/// let mut e = Endpoint::new("mail.example.com", 143, Security::StartTls(TlsPolicy::Required));
/// e.set_tls_policy(TlsPolicy::Opportunistic);
/// assert_eq!(e.security, Security::StartTls(TlsPolicy::Opportunistic));
/// // Implicit TLS has no policy to change.
/// let mut e = Endpoint::new("mail.example.com", 993, Security::Implicit);
/// e.set_tls_policy(TlsPolicy::Disabled);
/// assert_eq!(e.security, Security::Implicit);
/// ```
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Host name or IP literal (`[::1]` too); the certificate is verified against it.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Implicit TLS, or STARTTLS (STLS) with a policy.
    pub security: Security,
    /// The rustls configuration; `None` builds one trusting the webpki roots plus
    /// [`ca_file`](Self::ca_file).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// An extra CA certificate (PEM) to trust.
    pub ca_file: Option<PathBuf>,
    /// Limit for the TCP connect and for every read and write afterwards. Default 60 s.
    pub timeout: Duration,
    /// Limit for a TLS handshake. Default 30 s.
    pub handshake_timeout: Duration,
}

/// Why [`Endpoint::open`] failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The TCP connect failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The TCP connect did not complete within [`Endpoint::timeout`].
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The TLS configuration or the implicit-TLS handshake failed.
    #[error("TLS: {0}")]
    Tls(#[from] Error),
}

impl Endpoint {
    /// `host:port` with the given security, the system's default trust and the default
    /// timeouts.
    pub fn new(host: impl Into<String>, port: u16, security: Security) -> Self {
        Self {
            host: host.into(),
            port,
            security,
            tls: None,
            ca_file: None,
            timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(30),
        }
    }

    /// Sets the STARTTLS policy; implicit TLS stays implicit.
    pub fn set_tls_policy(&mut self, policy: TlsPolicy) {
        if self.security.is_starttls() {
            self.security = Security::StartTls(policy);
        }
    }

    /// The connector for this endpoint: [`tls`](Self::tls) when given, otherwise the webpki
    /// roots plus [`ca_file`](Self::ca_file).
    pub fn connector(&self) -> Result<TlsConnector, Error> {
        let config = match &self.tls {
            Some(c) => Arc::clone(c),
            None => {
                let mut b = ClientConfigBuilder::new();
                if let Some(ca) = &self.ca_file {
                    b = b.extra_ca_file(ca);
                }
                b.build()?
            }
        };
        Ok(TlsConnector::from(config))
    }

    /// Connects over TCP (Nagle off) within [`timeout`](Self::timeout) and, for implicit
    /// TLS, completes the handshake with the host name verified. STARTTLS is the
    /// protocol's business afterwards.
    pub async fn open(&self) -> Result<Transport<TcpStream>, OpenError> {
        let addr = (self.host.trim_matches(['[', ']']), self.port);
        let tcp = tokio::time::timeout(self.timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| OpenError::Timeout(self.timeout))??;
        let _ = tcp.set_nodelay(true);
        if self.security != Security::Implicit {
            return Ok(Transport::Plain(tcp));
        }
        let name = server_name(&self.host)?;
        let tls = crate::connect(tcp, &self.connector()?, name, self.handshake_timeout).await?;
        Ok(Transport::Tls(Box::new(tokio_rustls::TlsStream::Client(
            tls,
        ))))
    }
}

/// The builder methods of a client configuration that holds an [`Endpoint`] in a field
/// named `endpoint`: `with_tls_policy`, `with_ca_file`, `with_timeout`. One copy for every
/// mailwire client.
#[macro_export]
macro_rules! endpoint_builders {
    () => {
        /// Builder: the STARTTLS policy (implicit TLS stays implicit).
        pub fn with_tls_policy(mut self, policy: $crate::TlsPolicy) -> Self {
            self.endpoint.set_tls_policy(policy);
            self
        }

        /// Builder: trust this CA file (PEM) too.
        pub fn with_ca_file(mut self, path: impl Into<::std::path::PathBuf>) -> Self {
            self.endpoint.ca_file = Some(path.into());
            self
        }

        /// Builder: the timeout of the connect and of every read and write.
        pub fn with_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.endpoint.timeout = timeout;
            self
        }
    };
}
