//! Building rustls server and client configurations, always with the `ring`
//! crypto provider passed explicitly (never the process-wide default).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::error::{Error, PemItem, PemOrigin};

/// The crypto provider every configuration of this crate uses: rustls'
/// `ring` provider, constructed explicitly.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_file(path: &Path, item: PemItem) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::ReadFile {
        item,
        path: path.to_path_buf(),
        source,
    })
}

fn parse_certs(
    pem: &[u8],
    item: PemItem,
    origin: &PemOrigin,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| Error::InvalidPem {
            item,
            origin: origin.clone(),
            source,
        })?;
    if certs.is_empty() {
        return Err(Error::NoPemItems {
            item,
            origin: origin.clone(),
        });
    }
    Ok(certs)
}

fn parse_key(pem: &[u8], origin: &PemOrigin) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|source| match source {
        rustls_pki_types::pem::Error::NoItemsFound => Error::NoPemItems {
            item: PemItem::PrivateKey,
            origin: origin.clone(),
        },
        source => Error::InvalidPem {
            item: PemItem::PrivateKey,
            origin: origin.clone(),
            source,
        },
    })
}

/// Parses every `CERTIFICATE` block of in-memory PEM data (at least one is
/// required).
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    parse_certs(pem, PemItem::CertificateChain, &PemOrigin::Memory)
}

/// Reads and parses every `CERTIFICATE` block of a PEM file (at least one is
/// required). Errors name the file.
pub fn certs_from_pem_file(path: impl AsRef<Path>) -> Result<Vec<CertificateDer<'static>>, Error> {
    let path = path.as_ref();
    let pem = read_file(path, PemItem::CertificateChain)?;
    parse_certs(
        &pem,
        PemItem::CertificateChain,
        &PemOrigin::File(path.to_path_buf()),
    )
}

/// Parses the first private key (PKCS#8, PKCS#1 or SEC1) of in-memory PEM
/// data.
pub fn private_key_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>, Error> {
    parse_key(pem, &PemOrigin::Memory)
}

/// Reads and parses the first private key (PKCS#8, PKCS#1 or SEC1) of a PEM
/// file. Errors name the file.
pub fn private_key_from_pem_file(path: impl AsRef<Path>) -> Result<PrivateKeyDer<'static>, Error> {
    let path = path.as_ref();
    let pem = read_file(path, PemItem::PrivateKey)?;
    parse_key(&pem, &PemOrigin::File(path.to_path_buf()))
}

fn build_server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_origin: PemOrigin,
    key_origin: PemOrigin,
) -> Result<Arc<ServerConfig>, Error> {
    let config = ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(Error::Config)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|source| Error::CertifiedKey {
            cert: cert_origin,
            key: key_origin,
            source,
        })?;
    Ok(Arc::new(config))
}

/// Builds a server configuration (TLS 1.2 and 1.3, no client certificates)
/// from an already parsed certificate chain (leaf first) and private key.
pub fn server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, Error> {
    build_server_config(cert_chain, key, PemOrigin::Memory, PemOrigin::Memory)
}

/// Builds a server configuration from in-memory PEM: a certificate chain
/// (leaf first) and its private key.
pub fn server_config_from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<ServerConfig>, Error> {
    let chain = certs_from_pem(cert_pem)?;
    let key = private_key_from_pem(key_pem)?;
    server_config(chain, key)
}

/// Builds a server configuration from two PEM files: a certificate chain
/// (leaf first) and its private key. Every error names the offending file.
pub fn server_config_from_pem_files(
    cert_path: impl AsRef<Path>,
    key_path: impl AsRef<Path>,
) -> Result<Arc<ServerConfig>, Error> {
    let (cert_path, key_path) = (cert_path.as_ref(), key_path.as_ref());
    let chain = certs_from_pem_file(cert_path)?;
    let key = private_key_from_pem_file(key_path)?;
    build_server_config(
        chain,
        key,
        PemOrigin::File(cert_path.to_path_buf()),
        PemOrigin::File(key_path.to_path_buf()),
    )
}

/// The base set of trust anchors of a client configuration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Roots {
    /// The Mozilla root program, compiled in (`webpki-roots`). Same result on
    /// every machine.
    #[default]
    WebPki,
    /// The operating system's trust store (`rustls-native-certs`; honours
    /// `SSL_CERT_FILE` / `SSL_CERT_DIR`).
    System,
    /// No base roots: only the CAs added with
    /// [`ClientConfigBuilder::extra_ca_file`] / [`ClientConfigBuilder::extra_ca_pem`]
    /// (private CA, self-signed test certificate).
    OnlyExtra,
}

/// Builder for a client configuration.
///
/// Server certificate verification, including host name verification
/// against the [`ServerName`] passed when connecting, is always on; there is
/// deliberately no way to switch it off.
#[derive(Debug, Clone, Default)]
pub struct ClientConfigBuilder {
    roots: Roots,
    extra_ca_files: Vec<PathBuf>,
    extra_ca_pems: Vec<Vec<u8>>,
}

impl ClientConfigBuilder {
    /// A builder trusting the [`Roots::WebPki`] roots and nothing else.
    pub fn new() -> Self {
        Self::default()
    }

    /// Chooses the base trust anchors.
    pub fn roots(mut self, roots: Roots) -> Self {
        self.roots = roots;
        self
    }

    /// Also trusts every certificate of this PEM file (read by
    /// [`build`](Self::build)).
    pub fn extra_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.extra_ca_files.push(path.into());
        self
    }

    /// Also trusts every certificate of this in-memory PEM data.
    pub fn extra_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_ca_pems.push(pem.into());
        self
    }

    /// Loads the roots and builds the configuration (TLS 1.2 and 1.3, no
    /// client certificate).
    pub fn build(&self) -> Result<Arc<ClientConfig>, Error> {
        let mut store = RootCertStore::empty();
        match self.roots {
            Roots::WebPki => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Roots::System => {
                let loaded = rustls_native_certs::load_native_certs();
                let (added, _ignored) = store.add_parsable_certificates(loaded.certs);
                if added == 0 {
                    return Err(Error::SystemRoots {
                        errors: loaded.errors.iter().map(|e| e.to_string()).collect(),
                    });
                }
            }
            Roots::OnlyExtra => {}
        }
        for path in &self.extra_ca_files {
            let pem = read_file(path, PemItem::CaCertificates)?;
            add_cas(&mut store, &pem, PemOrigin::File(path.clone()))?;
        }
        for pem in &self.extra_ca_pems {
            add_cas(&mut store, pem, PemOrigin::Memory)?;
        }
        if store.is_empty() {
            return Err(Error::NoRootCertificates);
        }
        let config = ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(Error::Config)?
            .with_root_certificates(store)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

fn add_cas(store: &mut RootCertStore, pem: &[u8], origin: PemOrigin) -> Result<(), Error> {
    for cert in parse_certs(pem, PemItem::CaCertificates, &origin)? {
        store
            .add(cert)
            .map_err(|source| Error::InvalidCaCertificate {
                origin: origin.clone(),
                source,
            })?;
    }
    Ok(())
}

/// Builds a client configuration from a choice of base roots plus an
/// optional extra CA PEM file. Shorthand for [`ClientConfigBuilder`].
pub fn client_config(
    roots: Roots,
    extra_ca_file: Option<&Path>,
) -> Result<Arc<ClientConfig>, Error> {
    let mut builder = ClientConfigBuilder::new().roots(roots);
    if let Some(path) = extra_ca_file {
        builder = builder.extra_ca_file(path);
    }
    builder.build()
}

/// Turns a host name or an IP address literal (`mail.example.org`,
/// `127.0.0.1`, `::1` or `[::1]`) into the name the client verifies the
/// server certificate against.
pub fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    let trimmed = host.trim();
    let unbracketed = trimmed
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(trimmed);
    ServerName::try_from(unbracketed.to_owned()).map_err(|_| Error::InvalidServerName {
        name: host.to_owned(),
    })
}
