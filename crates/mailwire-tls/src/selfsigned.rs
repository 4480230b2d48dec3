//! Self-signed certificates for tests, examples and local development.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use rustls::{ClientConfig, ServerConfig};
use rustls_pki_types::CertificateDer;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::config::{ClientConfigBuilder, Roots, server_config_from_pem};
use crate::error::Error;

/// The names [`SelfSigned::localhost`] puts in the certificate: DNS
/// `localhost` and IP `127.0.0.1`.
pub const LOCALHOST_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// A freshly generated self-signed certificate (ECDSA P-256) with its key
/// and ready-made configurations: a server configuration presenting it and a
/// client configuration trusting it (and nothing else).
///
/// `Debug` does not print the private key.
#[non_exhaustive]
pub struct SelfSigned {
    /// The certificate, PEM encoded.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM encoded. Secret.
    pub key_pem: String,
    /// The certificate, DER encoded.
    pub cert_der: CertificateDer<'static>,
    /// A server configuration presenting the certificate.
    pub server_config: Arc<ServerConfig>,
    /// A client configuration trusting only this certificate.
    pub client_config: Arc<ClientConfig>,
}

/// Paths written by [`SelfSigned::write_to_dir`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PemFiles {
    /// `cert.pem`.
    pub cert: PathBuf,
    /// `key.pem` (mode 0600 on Unix).
    pub key: PathBuf,
}

/// Generates a self-signed certificate for `localhost` and `127.0.0.1`.
/// Same as [`SelfSigned::localhost`].
pub fn generate_self_signed() -> Result<SelfSigned, Error> {
    SelfSigned::localhost()
}

impl SelfSigned {
    /// Generates a certificate whose subject alternative names are DNS
    /// `localhost` and IP address `127.0.0.1`.
    pub fn localhost() -> Result<Self, Error> {
        Self::for_names(LOCALHOST_NAMES)
    }

    /// Generates a certificate for the given names; each one that parses as
    /// an IP address becomes an IP address SAN, the others DNS SANs. The
    /// first name is also the subject common name.
    pub fn for_names<I, S>(names: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        let mut params = CertificateParams::new(names.clone())?;
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            names.first().map_or("mailwire self-signed", String::as_str),
        );
        params.distinguished_name = dn;
        let key_pair = KeyPair::generate()?;
        let cert = params.self_signed(&key_pair)?;
        let cert_pem = cert.pem();
        let key_pem = key_pair.serialize_pem();
        let server_config = server_config_from_pem(cert_pem.as_bytes(), key_pem.as_bytes())?;
        let client_config = ClientConfigBuilder::new()
            .roots(Roots::OnlyExtra)
            .extra_ca_pem(cert_pem.as_bytes())
            .build()?;
        Ok(SelfSigned {
            cert_der: cert.der().clone(),
            cert_pem,
            key_pem,
            server_config,
            client_config,
        })
    }

    /// A TLS acceptor for [`server_config`](Self::server_config).
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.server_config.clone())
    }

    /// A TLS connector for [`client_config`](Self::client_config).
    pub fn connector(&self) -> TlsConnector {
        TlsConnector::from(self.client_config.clone())
    }

    /// Writes `cert.pem` and `key.pem` into `dir` (created if missing),
    /// replacing existing files. On Unix the key file gets mode 0600.
    pub fn write_to_dir(&self, dir: impl AsRef<Path>) -> Result<PemFiles, Error> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| Error::WriteFile {
            path: dir.to_path_buf(),
            source,
        })?;
        let files = PemFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        };
        write_file(&files.cert, self.cert_pem.as_bytes(), false)?;
        write_file(&files.key, self.key_pem.as_bytes(), true)?;
        Ok(files)
    }
}

fn write_file(path: &Path, contents: &[u8], private: bool) -> Result<(), Error> {
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path)?;
        #[cfg(unix)]
        if private {
            // `mode` only applies to newly created files: tighten an
            // existing one before writing the secret into it.
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        #[cfg(not(unix))]
        let _ = private;
        file.write_all(contents)?;
        file.sync_all()
    })();
    result.map_err(|source| Error::WriteFile {
        path: path.to_path_buf(),
        source,
    })
}

impl fmt::Debug for SelfSigned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelfSigned")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}
