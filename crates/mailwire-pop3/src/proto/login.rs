//! The client's security and login decisions, kept out of the tokio driver: whether to send
//! STLS and what a refusal means (RFC 2595 §4, RFC 8314), which login method to use
//! ([`plan_login`]), and the SASL exchange with its 255-octet rule ([`SaslLogin`],
//! RFC 5034 §4). Pure: no sockets, no clocks.

use mailwire_sasl::{AvailableCredentials, ClientCredentials, Mechanism};
use mailwire_tls::{StartTlsDecision, TlsPolicy};

use crate::proto::{Capabilities, Command, InitialResponse};

/// The longest `AUTH` command line with its initial response, CRLF included
/// (RFC 5034 §4: "the client MUST NOT send an initial response ... if the AUTH command,
/// including the initial response, would exceed 255 octets").
pub const MAX_AUTH_LINE: usize = 255;

/// How to log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AuthMethod {
    /// The strongest safe method the server offers: SASL (SCRAM-SHA-256 > SCRAM-SHA-1 >
    /// CRAM-MD5 > PLAIN > LOGIN, or XOAUTH2/OAUTHBEARER with a token), then USER/PASS. PLAIN,
    /// LOGIN, USER/PASS and tokens only under TLS unless allowed.
    #[default]
    Auto,
    /// This SASL mechanism (it must be offered and safe).
    Sasl(Mechanism),
    /// USER/PASS (only under TLS unless allowed).
    UserPass,
    /// APOP (RFC 1939 §7): only when the greeting has a timestamp. Never chosen by `Auto`.
    Apop,
}

/// The login [`plan_login`] chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginPlan {
    /// `AUTH` with this mechanism ([`SaslLogin`]).
    Sasl(Mechanism),
    /// `USER`, then `PASS` once `USER` is accepted (never pipelined: the password is not
    /// sent for a user the server refused).
    UserPass,
    /// `APOP` with the greeting's timestamp.
    Apop {
        /// The greeting's `<...>` timestamp.
        timestamp: String,
    },
}

/// Why no login can be made safely (the driver reports it; nothing was sent).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NoLoginMethod(pub String);

/// Chooses how to log in: `method` as asked, checked against what the server offers
/// (`caps`, `apop_timestamp`), what credentials there are (`have`) and whether replayable
/// credentials may go out (`tls`, or `allow_plaintext` without it).
pub fn plan_login(
    method: AuthMethod,
    caps: &Capabilities,
    have: AvailableCredentials,
    tls: bool,
    allow_plaintext: bool,
    apop_timestamp: Option<&str>,
) -> Result<LoginPlan, NoLoginMethod> {
    let plaintext_ok = tls || allow_plaintext;
    let no = |s: &str| Err(NoLoginMethod(s.to_owned()));
    match method {
        AuthMethod::Auto => {
            match mailwire_sasl::choose_mechanism(&caps.sasl, have, tls, allow_plaintext) {
                Some(m) => Ok(LoginPlan::Sasl(m)),
                None if have.password && plaintext_ok => Ok(LoginPlan::UserPass),
                None => Err(NoLoginMethod(format!(
                    "the server offers SASL {:?}{}; USER/PASS needs TLS",
                    caps.sasl,
                    if caps.user { " and USER" } else { "" }
                ))),
            }
        }
        AuthMethod::Sasl(m) if m.needs_confidentiality() && !plaintext_ok => {
            Err(NoLoginMethod(format!("{m} needs TLS")))
        }
        AuthMethod::Sasl(m) => Ok(LoginPlan::Sasl(m)),
        AuthMethod::UserPass if !plaintext_ok => no("USER/PASS needs TLS"),
        AuthMethod::UserPass if !have.password => no("no password"),
        AuthMethod::UserPass => Ok(LoginPlan::UserPass),
        AuthMethod::Apop => match apop_timestamp {
            None => no("the greeting has no APOP timestamp"),
            Some(_) if !have.password => no("no password"),
            Some(ts) => Ok(LoginPlan::Apop {
                timestamp: ts.to_owned(),
            }),
        },
    }
}

/// Whether to send STLS after the first CAPA: the policy's decision on what the server
/// announced (`Err` when TLS is required and STLS is not offered).
pub fn wants_stls(policy: TlsPolicy, caps: &Capabilities) -> Result<bool, mailwire_tls::Error> {
    Ok(policy.decide(caps.stls)? == StartTlsDecision::Upgrade)
}

/// The server answered STLS with `-ERR`: an opportunistic client goes on in cleartext, any
/// other stops.
pub fn stls_refused(policy: TlsPolicy) -> Result<(), mailwire_tls::Error> {
    match policy {
        TlsPolicy::Opportunistic => Ok(()),
        _ => Err(mailwire_tls::Error::StartTlsUnavailable),
    }
}

/// One SASL `AUTH` exchange on the client side.
pub struct SaslLogin {
    sasl: mailwire_sasl::ClientSession,
}

impl std::fmt::Debug for SaslLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslLogin")
            .field("mechanism", &self.sasl.mechanism())
            .finish_non_exhaustive()
    }
}

impl SaslLogin {
    /// Starts `mechanism` with `creds`; returns the exchange and the `AUTH` command to send.
    /// A client-first mechanism's initial response goes on the `AUTH` line when the line fits
    /// in [`MAX_AUTH_LINE`] octets; otherwise it follows the server's empty challenge.
    pub fn start(
        mechanism: Mechanism,
        creds: ClientCredentials,
    ) -> Result<(Self, Command), mailwire_sasl::Error> {
        let mut sasl = mailwire_sasl::ClientSession::new(mechanism, creds.clone())?;
        let mut initial = if mechanism.is_client_first() {
            sasl.initial_response_base64()?
        } else {
            None
        };
        let line_len = |ir: &str| "AUTH  \r\n".len() + mechanism.name().len() + ir.len();
        if initial
            .as_deref()
            .is_some_and(|ir| line_len(ir) > MAX_AUTH_LINE)
        {
            // A fresh session, so the response is made again when the server asks for it.
            sasl = mailwire_sasl::ClientSession::new(mechanism, creds)?;
            initial = None;
        }
        let command = Command::Auth {
            mechanism: mechanism.name().to_owned(),
            initial_response: initial.map(|ir| {
                if ir == "=" {
                    InitialResponse::Empty
                } else {
                    InitialResponse::Base64(ir)
                }
            }),
        };
        Ok((Self { sasl }, command))
    }

    /// The mechanism in use.
    pub fn mechanism(&self) -> Mechanism {
        self.sasl.mechanism()
    }

    /// Answers a `+ ` continuation (base64). On `Err`, send [`cancel`](Self::cancel) and
    /// read the server's `-ERR`.
    pub fn answer(&mut self, challenge: &str) -> Result<String, mailwire_sasl::Error> {
        self.sasl.step_base64(challenge)
    }

    /// The line that cancels the exchange (`*`, RFC 5034 §4).
    pub fn cancel(&mut self) -> &'static str {
        self.sasl.cancel()
    }

    /// The server said `+OK`: checks the exchange is complete (a SCRAM client verifies the
    /// server's signature here).
    pub fn finish(mut self) -> Result<(), mailwire_sasl::Error> {
        self.sasl.finish(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(sasl: &[Mechanism], user: bool) -> Capabilities {
        Capabilities {
            sasl: sasl.to_vec(),
            user,
            ..Capabilities::default()
        }
    }

    const PASSWORD: AvailableCredentials = AvailableCredentials {
        password: true,
        oauth_token: false,
        external: false,
    };

    #[test]
    fn auto_prefers_the_strongest_safe_method() {
        let c = caps(&[Mechanism::Plain, Mechanism::ScramSha256], true);
        assert_eq!(
            plan_login(AuthMethod::Auto, &c, PASSWORD, false, false, None),
            Ok(LoginPlan::Sasl(Mechanism::ScramSha256))
        );
        // Only PLAIN and USER over cleartext: nothing is safe.
        let c = caps(&[Mechanism::Plain], true);
        let e = plan_login(AuthMethod::Auto, &c, PASSWORD, false, false, None).unwrap_err();
        assert!(e.0.contains("USER/PASS needs TLS"), "{e}");
        // Under TLS, PLAIN.
        assert_eq!(
            plan_login(AuthMethod::Auto, &c, PASSWORD, true, false, None),
            Ok(LoginPlan::Sasl(Mechanism::Plain))
        );
        // No SASL at all, TLS: USER/PASS.
        assert_eq!(
            plan_login(
                AuthMethod::Auto,
                &caps(&[], true),
                PASSWORD,
                true,
                false,
                None
            ),
            Ok(LoginPlan::UserPass)
        );
    }

    #[test]
    fn explicit_methods_are_checked() {
        let c = caps(&[], true);
        assert!(plan_login(AuthMethod::UserPass, &c, PASSWORD, false, false, None).is_err());
        assert_eq!(
            plan_login(AuthMethod::UserPass, &c, PASSWORD, false, true, None),
            Ok(LoginPlan::UserPass)
        );
        assert!(
            plan_login(
                AuthMethod::Sasl(Mechanism::Login),
                &c,
                PASSWORD,
                false,
                false,
                None
            )
            .is_err()
        );
        assert!(plan_login(AuthMethod::Apop, &c, PASSWORD, false, false, None).is_err());
        assert_eq!(
            plan_login(AuthMethod::Apop, &c, PASSWORD, false, false, Some("<1@x>")),
            Ok(LoginPlan::Apop {
                timestamp: "<1@x>".into()
            })
        );
        let none = AvailableCredentials {
            password: false,
            ..PASSWORD
        };
        assert!(plan_login(AuthMethod::Apop, &c, none, true, false, Some("<1@x>")).is_err());
    }

    #[test]
    fn stls_follows_the_policy() {
        let offered = Capabilities {
            stls: true,
            ..Capabilities::default()
        };
        let not = Capabilities::default();
        assert!(wants_stls(TlsPolicy::Required, &offered).unwrap());
        assert!(wants_stls(TlsPolicy::Required, &not).is_err());
        assert!(!wants_stls(TlsPolicy::Opportunistic, &not).unwrap());
        assert!(!wants_stls(TlsPolicy::Disabled, &offered).unwrap());
        assert!(stls_refused(TlsPolicy::Opportunistic).is_ok());
        assert!(stls_refused(TlsPolicy::Required).is_err());
    }

    /// RFC 5034 §4: the initial response rides on AUTH only while the line fits in 255
    /// octets.
    #[test]
    fn initial_response_only_within_255_octets() {
        let short = ClientCredentials::password("alice", "secret");
        let (_, cmd) = SaslLogin::start(Mechanism::Plain, short).unwrap();
        match &cmd {
            Command::Auth {
                initial_response: Some(InitialResponse::Base64(ir)),
                ..
            } => assert!(ir.len() + "AUTH PLAIN \r\n".len() <= MAX_AUTH_LINE),
            other => panic!("{other:?}"),
        }
        let long = ClientCredentials::password("alice", "p".repeat(200));
        let (mut login, cmd) = SaslLogin::start(Mechanism::Plain, long).unwrap();
        assert!(matches!(
            cmd,
            Command::Auth {
                initial_response: None,
                ..
            }
        ));
        // The response comes after the empty challenge.
        let answer = login.answer("").unwrap();
        assert!(answer.len() > 255);
    }
}
