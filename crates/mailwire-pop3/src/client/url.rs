//! `pop3://` and `pop3s://` URLs (curl's schemes; RFC 2384 without the auth parameters).

use mailwire_tls::{Security, TlsPolicy};

/// A URL that is not a POP3 URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a POP3 URL ({reason}): {url}")]
pub struct UrlError {
    url: String,
    reason: &'static str,
}

/// A parsed `pop3[s]://[user@]host[:port][/]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pop3Url {
    /// The host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// The port: as given, or 110 / 995.
    pub port: u16,
    /// `pop3s://`: implicit TLS; `pop3://`: STLS, required.
    pub security: Security,
    /// The user name before `@`, if any (percent-decoding is not done).
    pub user: Option<String>,
}

impl Pop3Url {
    /// Parses a URL.
    ///
    /// ```
    /// use mailwire_pop3::client::Pop3Url;
    /// use mailwire_tls::{Security, TlsPolicy};
    ///
    /// let u = Pop3Url::parse("pop3s://alice@mail.example.org").unwrap();
    /// assert_eq!((u.host.as_str(), u.port, u.user.as_deref()), ("mail.example.org", 995, Some("alice")));
    /// let u = Pop3Url::parse("pop3://[::1]:3110/").unwrap();
    /// assert_eq!((u.host.as_str(), u.port), ("::1", 3110));
    /// assert_eq!(u.security, Security::StartTls(TlsPolicy::Required));
    /// assert!(Pop3Url::parse("imap://x").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let err = |reason| UrlError {
            url: url.to_owned(),
            reason,
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| err("no scheme"))?;
        let (security, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "pop3" => (Security::StartTls(TlsPolicy::Required), 110),
            "pop3s" => (Security::Implicit, 995),
            _ => return Err(err("the scheme must be pop3 or pop3s")),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.split(';').next().unwrap_or(u).to_owned()), h),
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| err("unclosed ["))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(err("junk after ]")),
            };
            (h, port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() || host.chars().any(|c| c.is_control() || c == ' ') {
            return Err(err("no host"));
        }
        let port = match port {
            None => default_port,
            Some(p) => p.parse().map_err(|_| err("bad port"))?,
        };
        Ok(Self {
            host: host.to_owned(),
            port,
            security,
            user: user.filter(|u| !u.is_empty()),
        })
    }
}
