//! `imap://HOST[:PORT][/MAILBOX]` and `imaps://…` (RFC 5092 without the parts a client that
//! connects does not need): the scheme says how TLS is used, the port defaults to 143 / 993.

use mailwire_tls::{Security, TlsPolicy};

/// An IMAP URL that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an IMAP URL: {0}")]
pub struct UrlError(pub String);

/// What an IMAP URL says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapUrl {
    /// The host (brackets kept off an IPv6 literal).
    pub host: String,
    /// The port (143 or 993 when absent).
    pub port: u16,
    /// `imaps`: implicit TLS; `imap`: STARTTLS, required.
    pub security: Security,
    /// The mailbox after the `/`, percent-decoded, if any.
    pub mailbox: Option<String>,
}

impl ImapUrl {
    /// Parses `imap://host[:port][/mailbox]` or `imaps://…`.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let bad = || UrlError(url.to_owned());
        let (security, rest, default) = if let Some(r) = url.strip_prefix("imaps://") {
            (Security::Implicit, r, 993)
        } else if let Some(r) = url.strip_prefix("imap://") {
            (Security::StartTls(TlsPolicy::Required), r, 143)
        } else {
            return Err(bad());
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        // A user part (`user@`) is not used for connecting.
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(bad)?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad())?,
                None if after.is_empty() => default,
                None => return Err(bad()),
            };
            (h.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad())?),
                None => (authority.to_owned(), default),
            }
        };
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        let mailbox = (!path.is_empty()).then(|| percent_decode(path));
        Ok(Self {
            host,
            port,
            security,
            mailbox,
        })
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = ImapUrl::parse("imaps://mail.example.org").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.security),
            ("mail.example.org", 993, Security::Implicit)
        );
        let u = ImapUrl::parse("imap://alice@127.0.0.1:3143/Sent%20Items").unwrap();
        assert_eq!(u.port, 3143);
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!(u.security, Security::StartTls(TlsPolicy::Required));
        assert_eq!(u.mailbox.as_deref(), Some("Sent Items"));
        let u = ImapUrl::parse("imap://[::1]:143").unwrap();
        assert_eq!(u.host, "::1");
        for bad in [
            "pop3://x",
            "imap://",
            "imap://h:x",
            "imap://[::1",
            "imap://h:0",
        ] {
            assert!(ImapUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
