//! Mechanism names and negotiation.

use core::fmt;
use core::str::FromStr;

use crate::Error;
use crate::authenticator::Authenticator;

/// The SASL mechanisms this crate implements.
///
/// The declaration order is the client's preference order among password
/// mechanisms (strongest first); see [`choose_mechanism`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Mechanism {
    /// `SCRAM-SHA-256` (RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-1` (RFC 5802).
    ScramSha1,
    /// `CRAM-MD5` (RFC 2195).
    CramMd5,
    /// `PLAIN` (RFC 4616).
    Plain,
    /// `LOGIN` (de-facto, `Username:`/`Password:` challenges).
    Login,
    /// `OAUTHBEARER` (RFC 7628).
    OAuthBearer,
    /// `XOAUTH2` (Google/Microsoft de-facto).
    XOAuth2,
    /// `EXTERNAL` (RFC 4422 appendix A), identity from e.g. a TLS client certificate.
    External,
    /// `ANONYMOUS` (RFC 4505).
    Anonymous,
}

impl Mechanism {
    /// Every mechanism, strongest password mechanism first.
    pub const ALL: [Mechanism; 9] = [
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::CramMd5,
        Mechanism::Plain,
        Mechanism::Login,
        Mechanism::OAuthBearer,
        Mechanism::XOAuth2,
        Mechanism::External,
        Mechanism::Anonymous,
    ];

    /// The registered name, as it appears on the wire (`"SCRAM-SHA-256"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::OAuthBearer => "OAUTHBEARER",
            Mechanism::XOAuth2 => "XOAUTH2",
            Mechanism::External => "EXTERNAL",
            Mechanism::Anonymous => "ANONYMOUS",
        }
    }

    /// Parses a mechanism name, ignoring ASCII case. Unknown names give `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(name.trim()))
    }

    /// True for the mechanisms that send the password itself (PLAIN, LOGIN).
    pub const fn is_plaintext(self) -> bool {
        matches!(self, Mechanism::Plain | Mechanism::Login)
    }

    /// True for the mechanisms whose messages carry a replayable credential
    /// (a password or a bearer token) and so need TLS unless the caller
    /// explicitly allows otherwise: PLAIN, LOGIN, OAUTHBEARER, XOAUTH2.
    pub const fn needs_confidentiality(self) -> bool {
        matches!(
            self,
            Mechanism::Plain | Mechanism::Login | Mechanism::OAuthBearer | Mechanism::XOAuth2
        )
    }

    /// True when the client speaks first (the server answers a missing initial
    /// response with an empty challenge); false for LOGIN and CRAM-MD5, where
    /// the server sends the first challenge.
    pub const fn is_client_first(self) -> bool {
        !matches!(self, Mechanism::Login | Mechanism::CramMd5)
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mechanism {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mechanism::from_name(s).ok_or_else(|| Error::UnknownMechanism(s.trim().to_owned()))
    }
}

/// Parses a whitespace-separated mechanism list such as an SMTP `AUTH` EHLO
/// keyword's value, a POP3 `SASL` capability or IMAP `AUTH=` atoms (the
/// `AUTH=` prefix is stripped). Unknown names and duplicates are skipped.
pub fn parse_mechanism_list(list: &str) -> Vec<Mechanism> {
    let mut out = Vec::new();
    for word in list.split_ascii_whitespace() {
        let name = match word.get(..5) {
            Some(prefix) if prefix.eq_ignore_ascii_case("AUTH=") => word.get(5..).unwrap_or(""),
            _ => word,
        };
        if let Some(m) = Mechanism::from_name(name)
            && !out.contains(&m)
        {
            out.push(m);
        }
    }
    out
}

/// Which kinds of credential a client holds, for [`choose_mechanism`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AvailableCredentials {
    /// The client has a password.
    pub password: bool,
    /// The client has an OAuth 2.0 bearer token.
    pub oauth_token: bool,
    /// The client has an identity established outside SASL (e.g. it presented
    /// a TLS client certificate) and wants EXTERNAL.
    pub external: bool,
}

/// Picks the strongest mechanism the server offers that the client can use.
///
/// Preference: EXTERNAL (when `have.external`), then OAUTHBEARER and XOAUTH2
/// (when the client has a token: a configured token is an explicit choice),
/// then SCRAM-SHA-256 > SCRAM-SHA-1 > CRAM-MD5 > PLAIN > LOGIN (when it has a
/// password). Mechanisms that send a replayable credential (PLAIN, LOGIN and
/// the bearer-token mechanisms, see [`Mechanism::needs_confidentiality`]) are
/// only chosen when `tls_active` or `allow_plaintext_in_cleartext`.
/// ANONYMOUS is never chosen automatically.
pub fn choose_mechanism(
    offered: &[Mechanism],
    have: AvailableCredentials,
    tls_active: bool,
    allow_plaintext_in_cleartext: bool,
) -> Option<Mechanism> {
    const ORDER: [Mechanism; 8] = [
        Mechanism::External,
        Mechanism::OAuthBearer,
        Mechanism::XOAuth2,
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::CramMd5,
        Mechanism::Plain,
        Mechanism::Login,
    ];
    ORDER.into_iter().find(|&m| {
        let usable = match m {
            Mechanism::External => have.external,
            Mechanism::OAuthBearer | Mechanism::XOAuth2 => have.oauth_token,
            _ => have.password,
        };
        usable
            && offered.contains(&m)
            && (!m.needs_confidentiality() || tls_active || allow_plaintext_in_cleartext)
    })
}

/// The mechanisms a server should advertise, strongest first.
///
/// A mechanism is listed when the authenticator [supports](Authenticator::supports)
/// it and, for those that send a replayable credential, when TLS is active or
/// `allow_insecure_auth` is set. EXTERNAL is never listed here because it
/// also needs an identity from the connection: use
/// [`ServerParams::mechanisms`](crate::ServerParams::mechanisms) for that.
pub fn server_mechanisms<A: Authenticator + ?Sized>(
    auth: &A,
    tls_active: bool,
    allow_insecure_auth: bool,
) -> Vec<Mechanism> {
    Mechanism::ALL
        .into_iter()
        .filter(|&m| m != Mechanism::External)
        .filter(|&m| !m.needs_confidentiality() || tls_active || allow_insecure_auth)
        .filter(|&m| auth.supports(m))
        .collect()
}

/// The mechanisms a mail server offers for a user's login (SMTP AUTH, POP3 AUTH, IMAP
/// AUTHENTICATE): [`server_mechanisms`] without ANONYMOUS, which logs in nobody.
pub fn login_mechanisms<A: Authenticator + ?Sized>(
    auth: &A,
    tls_active: bool,
    allow_insecure_auth: bool,
) -> Vec<Mechanism> {
    let mut v = server_mechanisms(auth, tls_active, allow_insecure_auth);
    v.retain(|&m| m != Mechanism::Anonymous);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in Mechanism::ALL {
            assert_eq!(Mechanism::from_name(m.name()), Some(m));
            assert_eq!(Mechanism::from_name(&m.name().to_lowercase()), Some(m));
            assert_eq!(m.to_string().parse::<Mechanism>(), Ok(m));
        }
        assert_eq!(
            Mechanism::from_name("scram-sha-256"),
            Some(Mechanism::ScramSha256)
        );
        assert_eq!(
            "DIGEST-MD5".parse::<Mechanism>(),
            Err(Error::UnknownMechanism("DIGEST-MD5".into()))
        );
        assert!(Mechanism::Plain.is_plaintext() && Mechanism::Login.is_plaintext());
        assert!(!Mechanism::CramMd5.is_plaintext());
    }

    #[test]
    fn list_parsing() {
        assert_eq!(
            parse_mechanism_list("PLAIN login AUTH=SCRAM-SHA-1 GSSAPI PLAIN"),
            vec![Mechanism::Plain, Mechanism::Login, Mechanism::ScramSha1]
        );
        assert_eq!(parse_mechanism_list(""), vec![]);
        assert_eq!(parse_mechanism_list("AUTH= é AUTH"), vec![]);
    }

    #[test]
    fn choosing() {
        let pw = AvailableCredentials {
            password: true,
            ..Default::default()
        };
        let all = Mechanism::ALL;
        assert_eq!(
            choose_mechanism(&all, pw, false, false),
            Some(Mechanism::ScramSha256)
        );
        let weak = [Mechanism::Login, Mechanism::Plain];
        assert_eq!(choose_mechanism(&weak, pw, false, false), None);
        assert_eq!(
            choose_mechanism(&weak, pw, true, false),
            Some(Mechanism::Plain)
        );
        assert_eq!(
            choose_mechanism(&weak, pw, false, true),
            Some(Mechanism::Plain)
        );
        assert_eq!(
            choose_mechanism(&[Mechanism::Login, Mechanism::CramMd5], pw, false, false),
            Some(Mechanism::CramMd5)
        );
        let tok = AvailableCredentials {
            oauth_token: true,
            ..Default::default()
        };
        assert_eq!(
            choose_mechanism(&all, tok, true, false),
            Some(Mechanism::OAuthBearer)
        );
        assert_eq!(choose_mechanism(&all, tok, false, false), None);
        assert_eq!(
            choose_mechanism(&[Mechanism::XOAuth2, Mechanism::Plain], tok, true, false),
            Some(Mechanism::XOAuth2)
        );
        assert_eq!(choose_mechanism(&[], pw, true, true), None);
        let ext = AvailableCredentials {
            external: true,
            password: true,
            ..Default::default()
        };
        assert_eq!(
            choose_mechanism(&all, ext, true, false),
            Some(Mechanism::External)
        );
    }
}
