//! Connection security modes and the client's STARTTLS policy.

use crate::error::Error;

/// What a client does about STARTTLS (SMTP `STARTTLS`, IMAP `STARTTLS`,
/// POP3 `STLS`) on a connection that starts in plaintext.
///
/// Only meaningful with [`Security::StartTls`]; with [`Security::Implicit`]
/// TLS is always used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsPolicy {
    /// Upgrade with STARTTLS or fail: if the server does not advertise
    /// STARTTLS, refuses the command, or the handshake fails, the connection
    /// is abandoned. The default, and what RFC 8314 asks of mail user agents.
    #[default]
    Required,
    /// Upgrade when the server advertises STARTTLS, otherwise carry on in
    /// plaintext.
    ///
    /// **This allows a silent downgrade.** The capability list (the EHLO
    /// reply, IMAP `CAPABILITY`, POP3 `CAPA`) and the reply to the STARTTLS
    /// command both arrive in plaintext, unauthenticated. An active attacker
    /// on the path can delete `STARTTLS` from the list or turn the go-ahead
    /// into an error reply; the client then continues in plaintext without
    /// noticing, and everything after that, including `AUTH`/`LOGIN`/
    /// `USER`/`PASS` credentials and message contents, is readable and
    /// modifiable. Use it only where plaintext would be acceptable anyway
    /// (e.g. SMTP relay to an MX without DANE/MTA-STS), never for
    /// authenticated submission or mailbox access.
    ///
    /// Once TLS *is* attempted, certificate and host name verification apply
    /// as usual: a failed handshake is an error, never a fallback.
    Opportunistic,
    /// Never use TLS; everything, credentials included, is sent in
    /// plaintext. For tests and trusted local links only.
    Disabled,
}

/// What to do after looking at the server's capabilities, as decided by
/// [`TlsPolicy::decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StartTlsDecision {
    /// Send STARTTLS / STLS and upgrade the connection.
    Upgrade,
    /// Carry on in plaintext.
    Plaintext,
}

impl TlsPolicy {
    /// Decides whether to upgrade, given whether the server advertised
    /// STARTTLS. A server that advertises it but answers the command with an
    /// error must be handled as `starttls_offered == false`.
    ///
    /// Returns [`Error::StartTlsUnavailable`] when the policy is
    /// [`TlsPolicy::Required`] and STARTTLS is not available.
    pub fn decide(self, starttls_offered: bool) -> Result<StartTlsDecision, Error> {
        match (self, starttls_offered) {
            (TlsPolicy::Disabled, _) => Ok(StartTlsDecision::Plaintext),
            (_, true) => Ok(StartTlsDecision::Upgrade),
            (TlsPolicy::Opportunistic, false) => Ok(StartTlsDecision::Plaintext),
            (TlsPolicy::Required, false) => Err(Error::StartTlsUnavailable),
        }
    }

    /// Whether this policy can end with a plaintext session.
    pub fn allows_plaintext(self) -> bool {
        !matches!(self, TlsPolicy::Required)
    }
}

/// How a connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Security {
    /// Implicit TLS: the TLS handshake starts as soon as TCP connects, before
    /// any protocol byte (smtps/submissions 465, imaps 993, pop3s 995). No
    /// plaintext phase, so no downgrade and no injection window. Preferred
    /// by RFC 8314 and the default.
    #[default]
    Implicit,
    /// A plaintext session upgraded with STARTTLS (SMTP, IMAP) or STLS
    /// (POP3), under the given client policy (submission 587, imap 143,
    /// pop3 110). Servers ignore the policy.
    StartTls(TlsPolicy),
}

/// The mail services whose ports RFC 8314 discusses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Service {
    /// Message submission (RFC 6409).
    Submission,
    /// IMAP.
    Imap,
    /// POP3.
    Pop3,
}

impl Security {
    /// The well-known port for `service` in this mode: 465/993/995 for
    /// implicit TLS, 587/143/110 for STARTTLS.
    pub fn default_port(self, service: Service) -> u16 {
        match (self, service) {
            (Security::Implicit, Service::Submission) => 465,
            (Security::Implicit, Service::Imap) => 993,
            (Security::Implicit, Service::Pop3) => 995,
            (Security::StartTls(_), Service::Submission) => 587,
            (Security::StartTls(_), Service::Imap) => 143,
            (Security::StartTls(_), Service::Pop3) => 110,
        }
    }

    /// Whether the connection starts with a plaintext phase.
    pub fn is_starttls(self) -> bool {
        matches!(self, Security::StartTls(_))
    }
}
