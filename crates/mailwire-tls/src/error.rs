//! The crate's error type and the small enums it uses to say *what* failed
//! and *where* the data came from.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Which kind of PEM item was being loaded when an error occurred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PemItem {
    /// A server's certificate chain (`-----BEGIN CERTIFICATE-----` blocks).
    CertificateChain,
    /// A private key (PKCS#8, PKCS#1 or SEC1 PEM block).
    PrivateKey,
    /// Extra trust anchors for a client (`-----BEGIN CERTIFICATE-----` blocks).
    CaCertificates,
}

impl fmt::Display for PemItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PemItem::CertificateChain => "certificate chain",
            PemItem::PrivateKey => "private key",
            PemItem::CaCertificates => "CA certificates",
        })
    }
}

/// Where PEM data came from: a file (named in error messages) or memory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PemOrigin {
    /// Read from this file.
    File(PathBuf),
    /// Passed in as an in-memory buffer.
    Memory,
}

impl fmt::Display for PemOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PemOrigin::File(path) => write!(f, "file `{}`", path.display()),
            PemOrigin::Memory => f.write_str("in-memory PEM"),
        }
    }
}

/// Errors from building TLS configurations, generating certificates and
/// running (STARTTLS or implicit) TLS handshakes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A PEM file could not be read (missing, unreadable, ...).
    #[error("cannot read {item} from file `{}`: {source}", path.display())]
    ReadFile {
        /// What the file was supposed to contain.
        item: PemItem,
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },

    /// PEM data was malformed (bad base64, unterminated block, ...).
    #[error("invalid {item} in {origin}: {source}")]
    InvalidPem {
        /// What the data was supposed to contain.
        item: PemItem,
        /// Where the data came from.
        origin: PemOrigin,
        /// The PEM parser's error.
        #[source]
        source: rustls_pki_types::pem::Error,
    },

    /// PEM data contained no block of the expected kind (for example a file
    /// of garbage, or a certificate file given where a key was expected).
    #[error("no {item} found in {origin}: expected a PEM block such as `-----BEGIN {}-----`", item_label(*item))]
    NoPemItems {
        /// What the data was supposed to contain.
        item: PemItem,
        /// Where the data came from.
        origin: PemOrigin,
    },

    /// A CA certificate could not be added to the client's trust store.
    #[error("unusable CA certificate in {origin}: {source}")]
    InvalidCaCertificate {
        /// Where the certificate came from.
        origin: PemOrigin,
        /// Why rustls rejected it.
        #[source]
        source: rustls::Error,
    },

    /// The certificate chain and private key cannot be used together (key
    /// does not match the certificate, unsupported key type, ...).
    #[error(
        "certificate chain from {cert} and private key from {key} are not usable together: {source}"
    )]
    CertifiedKey {
        /// Where the certificate chain came from.
        cert: PemOrigin,
        /// Where the private key came from.
        key: PemOrigin,
        /// Why rustls rejected the pair.
        #[source]
        source: rustls::Error,
    },

    /// rustls rejected a configuration for another reason.
    #[error("TLS configuration rejected: {0}")]
    Config(#[source] rustls::Error),

    /// A STARTTLS upgrade was asked for on a connection that is already TLS.
    #[error("TLS is already active on this connection")]
    AlreadyTls,

    /// The client configuration would trust no certificate at all.
    #[error("no root certificates: the client configuration would trust no server")]
    NoRootCertificates,

    /// The operating system's trust store yielded no usable certificate.
    #[error("no usable system root certificates ({} error(s): {})", errors.len(), errors.join("; "))]
    SystemRoots {
        /// The loader's error messages, if any.
        errors: Vec<String>,
    },

    /// A string is neither a DNS name nor an IP address literal.
    #[error("invalid TLS server name `{name}`: not a DNS name or IP address")]
    InvalidServerName {
        /// The rejected input.
        name: String,
    },

    /// Self-signed certificate generation failed.
    #[error("certificate generation failed: {0}")]
    CertificateGeneration(#[from] rcgen::Error),

    /// Writing a generated certificate or key failed.
    #[error("cannot write `{}`: {source}", path.display())]
    WriteFile {
        /// The file that could not be written.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },

    /// Plaintext bytes were already buffered after the STARTTLS command
    /// (server side) or after the server's go-ahead reply (client side).
    ///
    /// Continuing would let an attacker inject plaintext that is later
    /// processed as if it had arrived over TLS: command injection on the
    /// server (CVE-2011-0411 and its many siblings), response injection on
    /// the client. The connection must be closed.
    #[error(
        "{bytes} plaintext byte(s) already buffered after the STARTTLS exchange; \
         refusing to start TLS (plaintext command/response injection, CVE-2011-0411 class)"
    )]
    BufferedAfterStartTls {
        /// How many bytes were buffered.
        bytes: usize,
    },

    /// The TLS handshake did not complete within the allowed time.
    #[error("TLS handshake timed out after {timeout:?}")]
    HandshakeTimeout {
        /// The limit that was exceeded.
        timeout: Duration,
    },

    /// The TLS handshake failed (certificate not trusted, name mismatch,
    /// peer closed the connection, protocol error, ...).
    #[error("TLS handshake failed: {0}")]
    Handshake(#[source] io::Error),

    /// The policy is [`TlsPolicy::Required`](crate::TlsPolicy::Required) but
    /// the server did not offer (or refused) STARTTLS.
    #[error("TLS is required but the server did not offer STARTTLS (or refused it)")]
    StartTlsUnavailable,
}

fn item_label(item: PemItem) -> &'static str {
    match item {
        PemItem::CertificateChain | PemItem::CaCertificates => "CERTIFICATE",
        PemItem::PrivateKey => "PRIVATE KEY",
    }
}

impl Error {
    /// For a [`Error::Handshake`] error caused by rustls (for example a
    /// certificate that is not valid for the requested name), the rustls
    /// error.
    pub fn rustls_error(&self) -> Option<&rustls::Error> {
        match self {
            Error::Handshake(io) => io.get_ref()?.downcast_ref::<rustls::Error>(),
            Error::Config(e)
            | Error::CertifiedKey { source: e, .. }
            | Error::InvalidCaCertificate { source: e, .. } => Some(e),
            _ => None,
        }
    }
}
