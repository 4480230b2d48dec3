//! Where and how to connect: [`ClientOptions`], from a URL or built field by field.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mailwire_codec::Secret;
use mailwire_sasl::ClientCredentials;
use mailwire_tls::{Security, TlsPolicy, rustls};

use super::Error;
use crate::proto::ClientConfig;
use crate::proto::client::Timeouts;

/// Settings of a [`Client`](super::Client) connection. Secure by default: STARTTLS
/// [`Required`](TlsPolicy::Required) on `smtp://`, host names verified, PLAIN and LOGIN only
/// over TLS.
///
/// ```
/// use mailwire_smtp::client::ClientOptions;
/// use mailwire_smtp::client::Secret;
///
/// let opts = ClientOptions::from_url("smtp://mail.example.org:587")?
///     .credentials("alice", Secret::new("secret".to_owned()));
/// assert_eq!((opts.host.as_str(), opts.port), ("mail.example.org", 587));
/// # Ok::<(), mailwire_smtp::client::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Host name or IP address; also the name the server certificate must match.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Implicit TLS (`smtps://`, port 465), or STARTTLS with a policy (`smtp://`). Default
    /// `StartTls(Required)`. [`TlsPolicy::Opportunistic`] and [`TlsPolicy::Disabled`] are
    /// dangerous: the first allows a silent downgrade by anyone on the path, the second sends
    /// everything, credentials included, in plaintext.
    pub security: Security,
    /// Speak LMTP (RFC 2033). Default `false` (`lmtp://` sets it).
    pub lmtp: bool,
    /// The name given in `EHLO`. Default: the address literal of the local end of the
    /// connection (`[192.0.2.1]`), which is always syntactically valid (RFC 5321 §4.1.4).
    pub hello_name: Option<String>,
    /// Authenticate with these. Default none. When set, the session fails rather than send
    /// unauthenticated.
    pub credentials: Option<ClientCredentials>,
    /// Allow PLAIN and LOGIN without TLS. Default `false`. Dangerous: the password crosses the
    /// network in the clear.
    pub allow_plaintext_auth: bool,
    /// Fall back to `HELO` when `EHLO` is refused. Default `false`.
    pub allow_helo_fallback: bool,
    /// Use `BDAT` when `CHUNKING` is announced. Default `true`.
    pub chunking: bool,
    /// `BDAT` chunk size; default one chunk per message.
    pub bdat_chunk_size: Option<NonZeroUsize>,
    /// An extra CA certificate file (PEM) to trust, besides the webpki roots (a private CA,
    /// a self-signed test server).
    pub ca_file: Option<PathBuf>,
    /// A complete rustls configuration to use instead of the one built from the webpki roots
    /// and [`ca_file`](Self::ca_file).
    pub tls_config: Option<Arc<rustls::ClientConfig>>,
    /// Reply time limits (RFC 5321 §4.5.3.2 defaults).
    pub timeouts: Timeouts,
    /// TCP connection time limit. Default 60 s.
    pub connect_timeout: Duration,
    /// TLS handshake time limit (implicit TLS and STARTTLS). Default 30 s.
    pub tls_handshake_timeout: Duration,
}

impl ClientOptions {
    /// SMTP to `host:port` with STARTTLS required.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            security: Security::StartTls(TlsPolicy::Required),
            lmtp: false,
            hello_name: None,
            credentials: None,
            allow_plaintext_auth: false,
            allow_helo_fallback: false,
            chunking: true,
            bdat_chunk_size: None,
            ca_file: None,
            tls_config: None,
            timeouts: Timeouts::default(),
            connect_timeout: Duration::from_secs(60),
            tls_handshake_timeout: mailwire_tls::DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// Parses `smtp://HOST[:PORT][/EHLO-NAME]` (port 25, STARTTLS required), `smtps://…`
    /// (port 465, implicit TLS) or `lmtp://…` (port 24, LMTP, STARTTLS required). `HOST` may
    /// be an IPv6 literal in brackets. The optional path is the `EHLO` name, as in curl.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let bad = |reason: &'static str| Error::Url {
            url: url.to_owned(),
            reason,
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let (port, security, lmtp) = match scheme.to_ascii_lowercase().as_str() {
            "smtp" => (25, Security::StartTls(TlsPolicy::Required), false),
            "smtps" => (465, Security::Implicit, false),
            "lmtp" => (24, Security::StartTls(TlsPolicy::Required), true),
            _ => return Err(bad("the scheme must be smtp, smtps or lmtp")),
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.contains('@') {
            return Err(bad("credentials do not go in the URL"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            match after.strip_prefix(':') {
                Some(p) => (host, p.parse().map_err(|_| bad("bad port"))?),
                None if after.is_empty() => (host, port),
                None => return Err(bad("junk after the host")),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, p.parse().map_err(|_| bad("bad port"))?),
                None => (authority, port),
            }
        };
        if host.is_empty() || port == 0 {
            return Err(bad("no host or port"));
        }
        let mut opts = Self::new(host, port);
        opts.security = security;
        opts.lmtp = lmtp;
        let path = path.trim_end_matches('/');
        if !path.is_empty() {
            opts.hello_name = Some(path.to_owned());
        }
        Ok(opts)
    }

    /// Sets the STARTTLS policy (for `smtp://` and `lmtp://`).
    pub fn tls_policy(mut self, policy: TlsPolicy) -> Self {
        self.security = Security::StartTls(policy);
        self
    }

    /// Uses implicit TLS.
    pub fn implicit_tls(mut self) -> Self {
        self.security = Security::Implicit;
        self
    }

    /// Speaks LMTP.
    pub fn lmtp(mut self, lmtp: bool) -> Self {
        self.lmtp = lmtp;
        self
    }

    /// Authenticates as `user` with `password`.
    pub fn credentials(mut self, user: impl Into<String>, password: Secret<String>) -> Self {
        self.credentials = Some(ClientCredentials::password(
            user,
            password.expose().as_str(),
        ));
        self
    }

    /// Allows PLAIN and LOGIN without TLS (dangerous; see the field).
    pub fn allow_plaintext_auth(mut self, allow: bool) -> Self {
        self.allow_plaintext_auth = allow;
        self
    }

    /// Also trusts the CA certificates of this PEM file.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Sets every time limit (see [`Timeouts`]).
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Sets the `EHLO` name.
    pub fn hello_name(mut self, name: impl Into<String>) -> Self {
        self.hello_name = Some(name.into());
        self
    }

    /// The session settings these options stand for, with `hello_name` resolved.
    pub(super) fn session_config(&self, default_hello: String) -> ClientConfig {
        ClientConfig {
            hello_name: self.hello_name.clone().unwrap_or(default_hello),
            lmtp: self.lmtp,
            tls_policy: match self.security {
                Security::StartTls(p) => p,
                // Implicit TLS: the session starts encrypted; the policy is not consulted.
                _ => TlsPolicy::Required,
            },
            credentials: self.credentials.clone(),
            allow_plaintext_auth: self.allow_plaintext_auth,
            allow_helo_fallback: self.allow_helo_fallback,
            chunking: self.chunking,
            bdat_chunk_size: self.bdat_chunk_size,
            timeouts: self.timeouts,
            ..ClientConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let o = ClientOptions::from_url("smtp://mail.example.org").unwrap();
        assert_eq!((o.host.as_str(), o.port), ("mail.example.org", 25));
        assert_eq!(o.security, Security::StartTls(TlsPolicy::Required));
        let o = ClientOptions::from_url("smtps://127.0.0.1:3465/client.example").unwrap();
        assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 3465));
        assert_eq!(o.security, Security::Implicit);
        assert_eq!(o.hello_name.as_deref(), Some("client.example"));
        let o = ClientOptions::from_url("lmtp://[::1]:2424").unwrap();
        assert_eq!((o.host.as_str(), o.port, o.lmtp), ("::1", 2424, true));
        for bad in [
            "mail.example.org",
            "http://x",
            "smtp://",
            "smtp://x:y",
            "smtp://x:0",
            "smtp://u:p@x",
            "smtp://[::1",
            "smtp://[::1]x",
        ] {
            assert!(ClientOptions::from_url(bad).is_err(), "{bad}");
        }
    }
}
