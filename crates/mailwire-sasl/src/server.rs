//! The server step machine, [`ServerSession`].

use core::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;

use crate::authenticator::{Authenticated, Authenticator, Credentials, TokenRequest};
use crate::scram::{ScramConfig, ScramHash, ScramServer};
use crate::{Error, Mechanism};
use crate::{anonymous, cram, external, login, oauth, plain, wire};

/// Per-connection settings for a [`ServerSession`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerParams {
    /// The server's host name, used in CRAM-MD5 challenges.
    pub hostname: String,
    /// TLS is active on the connection.
    pub tls_active: bool,
    /// Allow mechanisms that send replayable credentials (PLAIN, LOGIN,
    /// OAUTHBEARER, XOAUTH2) without TLS.
    pub allow_insecure_auth: bool,
    /// The identity established outside SASL (e.g. the subject of a verified
    /// TLS client certificate); EXTERNAL is only available when this is set.
    pub external_identity: Option<String>,
    /// Unix time for the CRAM-MD5 challenge; `None` reads the system clock
    /// when the challenge is made.
    pub timestamp: Option<u64>,
    /// SCRAM iteration policy (used when deriving verifiers from plaintext
    /// passwords).
    pub scram: ScramConfig,
    /// The protocol can carry "additional data with success" (RFC 4422
    /// §3.6). IMAP4rev1, POP3 and SMTP cannot (the default, `false`): the
    /// SCRAM `v=` message is then sent as a final challenge, answered by an
    /// empty client response, before success is reported.
    pub success_data_supported: bool,
}

impl Default for ServerParams {
    fn default() -> Self {
        ServerParams {
            hostname: "localhost".to_owned(),
            tls_active: false,
            allow_insecure_auth: false,
            external_identity: None,
            timestamp: None,
            scram: ScramConfig::default(),
            success_data_supported: false,
        }
    }
}

impl ServerParams {
    /// Defaults with the given host name.
    pub fn new(hostname: impl Into<String>) -> Self {
        ServerParams {
            hostname: hostname.into(),
            ..Self::default()
        }
    }

    /// Builder: marks TLS as active.
    pub fn with_tls(mut self, tls_active: bool) -> Self {
        self.tls_active = tls_active;
        self
    }

    /// Builder: allows replayable credentials without TLS.
    pub fn with_insecure_auth(mut self, allow: bool) -> Self {
        self.allow_insecure_auth = allow;
        self
    }

    /// Builder: sets the EXTERNAL identity.
    pub fn with_external_identity(mut self, identity: impl Into<String>) -> Self {
        self.external_identity = Some(identity.into());
        self
    }

    /// Builder: fixes the CRAM-MD5 timestamp.
    pub fn with_timestamp(mut self, timestamp: u64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Builder: sets the SCRAM iteration policy.
    pub fn with_scram_config(mut self, scram: ScramConfig) -> Self {
        self.scram = scram;
        self
    }

    /// Builder: sets [`success_data_supported`](Self::success_data_supported).
    pub fn with_success_data(mut self, supported: bool) -> Self {
        self.success_data_supported = supported;
        self
    }

    /// Whether `mechanism` may be used on this connection with `auth`.
    pub fn allows<A: Authenticator + ?Sized>(&self, auth: &A, mechanism: Mechanism) -> bool {
        auth.supports(mechanism)
            && (!mechanism.needs_confidentiality() || self.tls_active || self.allow_insecure_auth)
            && (mechanism != Mechanism::External || self.external_identity.is_some())
    }

    /// The mechanisms to advertise, strongest first.
    pub fn mechanisms<A: Authenticator + ?Sized>(&self, auth: &A) -> Vec<Mechanism> {
        Mechanism::ALL
            .into_iter()
            .filter(|&m| self.allows(auth, m))
            .collect()
    }
}

/// What the server does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerStep<T = Vec<u8>> {
    /// Send this challenge (possibly empty) and feed the client's answer to
    /// the next `step` call.
    Challenge(T),
    /// The exchange succeeded.
    Success {
        /// Additional data with success (only when
        /// [`ServerParams::success_data_supported`]).
        additional_data: Option<T>,
        /// Who logged in.
        authenticated: Authenticated,
    },
}

impl<T> ServerStep<T> {
    /// Converts the payloads.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> ServerStep<U> {
        match self {
            ServerStep::Challenge(c) => ServerStep::Challenge(f(c)),
            ServerStep::Success {
                additional_data,
                authenticated,
            } => ServerStep::Success {
                additional_data: additional_data.map(f),
                authenticated,
            },
        }
    }
}

enum State {
    Start,
    AwaitInitial,
    LoginUser,
    LoginPassword(String),
    Cram(String),
    ScramFinal(Box<ScramServer>),
    OAuthFailed,
    AwaitFinalAck(Authenticated),
    Done,
}

/// The server side of one SASL exchange.
///
/// Call order:
/// 1. [`ServerSession::new`] when the client names a mechanism (fails with
///    [`Error::MechanismNotAllowed`] if it is not allowed here);
/// 2. [`step`](Self::step) with the initial response (`None` if the client
///    sent none, `Some(b"")` for an empty one);
/// 3. on [`ServerStep::Challenge`], send it, and call `step` with the
///    client's answer; repeat;
/// 4. stop at [`ServerStep::Success`] or at the first `Err` (answer the
///    protocol's failure reply; [`Error::Cancelled`] for `*`).
///
/// [`step_base64`](Self::step_base64) does the same with wire text.
pub struct ServerSession<A: Authenticator> {
    auth: A,
    params: ServerParams,
    mechanism: Mechanism,
    state: State,
}

impl<A: Authenticator> fmt::Debug for ServerSession<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSession")
            .field("mechanism", &self.mechanism)
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl<A: Authenticator> ServerSession<A> {
    /// Starts an exchange. `auth` may be a reference, `Arc`, `Box`... (the
    /// trait is implemented for those).
    pub fn new(mechanism: Mechanism, auth: A, params: ServerParams) -> Result<Self, Error> {
        if !params.allows(&auth, mechanism) {
            return Err(Error::MechanismNotAllowed(mechanism));
        }
        Ok(ServerSession {
            auth,
            params,
            mechanism,
            state: State::Start,
        })
    }

    /// Starts an exchange from a mechanism name as sent by the client.
    pub fn from_name(name: &str, auth: A, params: ServerParams) -> Result<Self, Error> {
        Self::new(name.parse()?, auth, params)
    }

    /// The mechanism in use.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// The authenticator.
    pub fn authenticator(&self) -> &A {
        &self.auth
    }

    /// True once the exchange has succeeded, failed or been cancelled.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Ends the exchange because the client cancelled it; returns
    /// [`Error::Cancelled`] for convenience.
    pub fn cancel(&mut self) -> Error {
        self.state = State::Done;
        Error::Cancelled
    }

    /// Feeds the next client response (raw bytes) and returns what to do next.
    /// See the type documentation for the call order.
    ///
    /// On the first call `response` is the initial response: `None` when the
    /// client sent none (client-first mechanisms then get an empty
    /// challenge), `Some(b"")` for an empty one. LOGIN takes a non-empty
    /// initial response as the user name; CRAM-MD5 rejects one. On later
    /// calls `None` is treated like an empty response. After success or an
    /// error every further call returns [`Error::InvalidState`].
    pub fn step(&mut self, response: Option<&[u8]>) -> Result<ServerStep, Error> {
        let state = core::mem::replace(&mut self.state, State::Done);
        let (next, step) = self.advance(state, response)?;
        self.state = next;
        Ok(step)
    }

    /// Like [`step`](Self::step) but takes the base64 line the client sent
    /// (`*` cancels, `=` is an empty initial response) and returns base64.
    pub fn step_base64(&mut self, response: Option<&str>) -> Result<ServerStep<String>, Error> {
        let raw = match response.map(wire::decode).transpose() {
            Ok(raw) => raw,
            Err(e) => {
                self.state = State::Done;
                return Err(e);
            }
        };
        self.step(raw.as_deref())
            .map(|s| s.map(|b| wire::encode(&b)))
    }

    fn advance(
        &mut self,
        state: State,
        response: Option<&[u8]>,
    ) -> Result<(State, ServerStep), Error> {
        let resp = response.unwrap_or(&[]);
        match state {
            State::Start => match self.mechanism {
                Mechanism::Login => match response {
                    None | Some([]) => Ok((
                        State::LoginUser,
                        ServerStep::Challenge(login::USERNAME_CHALLENGE.to_vec()),
                    )),
                    // Many clients send the user name as initial response.
                    Some(user) => self.login_user(user),
                },
                Mechanism::CramMd5 => {
                    if !resp.is_empty() {
                        return Err(Error::Malformed("CRAM-MD5 takes no initial response"));
                    }
                    let timestamp = self.params.timestamp.unwrap_or_else(now);
                    let random: u64 = rand::thread_rng().gen_range(0..10_000_000_000);
                    let challenge = cram::make_challenge(random, timestamp, &self.params.hostname);
                    let bytes = challenge.clone().into_bytes();
                    Ok((State::Cram(challenge), ServerStep::Challenge(bytes)))
                }
                _ => match response {
                    None => Ok((State::AwaitInitial, ServerStep::Challenge(Vec::new()))),
                    Some(r) => self.initial(r),
                },
            },
            State::AwaitInitial => self.initial(resp),
            State::LoginUser => self.login_user(resp),
            State::LoginPassword(user) => {
                let password = login::parse_field("password", resp)?;
                if !self.auth.verify_plain(&user, password) {
                    return Err(Error::AuthenticationFailed);
                }
                self.succeed(Mechanism::Login, user, "")
            }
            State::Cram(challenge) => {
                let (user, digest) = cram::parse_response(resp)?;
                let ok = match self.auth.credentials(user) {
                    Some(Credentials::Password(secret)) => {
                        cram::verify(secret.expose().as_bytes(), challenge.as_bytes(), &digest)
                    }
                    _ => false,
                };
                if !ok {
                    return Err(Error::AuthenticationFailed);
                }
                self.succeed(Mechanism::CramMd5, user.to_owned(), "")
            }
            State::ScramFinal(mut server) => {
                let (data, outcome) = server.handle_client_final(&self.auth, resp)?;
                if self.params.success_data_supported {
                    Ok((
                        State::Done,
                        ServerStep::Success {
                            additional_data: Some(data),
                            authenticated: outcome,
                        },
                    ))
                } else {
                    Ok((State::AwaitFinalAck(outcome), ServerStep::Challenge(data)))
                }
            }
            State::OAuthFailed => Err(Error::AuthenticationFailed),
            State::AwaitFinalAck(outcome) => {
                if resp.is_empty() {
                    Ok((
                        State::Done,
                        ServerStep::Success {
                            additional_data: None,
                            authenticated: outcome,
                        },
                    ))
                } else {
                    Err(Error::Malformed(
                        "expected an empty response after the final challenge",
                    ))
                }
            }
            State::Done => Err(Error::InvalidState("exchange already finished")),
        }
    }

    fn login_user(&self, resp: &[u8]) -> Result<(State, ServerStep), Error> {
        let user = login::parse_field("username", resp)?;
        Ok((
            State::LoginPassword(user.to_owned()),
            ServerStep::Challenge(login::PASSWORD_CHALLENGE.to_vec()),
        ))
    }

    fn succeed(
        &self,
        mechanism: Mechanism,
        authcid: String,
        authzid: &str,
    ) -> Result<(State, ServerStep), Error> {
        if !self.auth.authorize(&authcid, authzid) {
            return Err(Error::AuthorizationFailed);
        }
        Ok((
            State::Done,
            ServerStep::Success {
                additional_data: None,
                authenticated: Authenticated::new(mechanism, authcid, authzid),
            },
        ))
    }

    /// Handles the first client message of a client-first mechanism.
    fn initial(&mut self, resp: &[u8]) -> Result<(State, ServerStep), Error> {
        match self.mechanism {
            Mechanism::Plain => {
                let msg = plain::parse(resp)?;
                if !self.auth.verify_plain(msg.authcid, msg.password) {
                    return Err(Error::AuthenticationFailed);
                }
                self.succeed(Mechanism::Plain, msg.authcid.to_owned(), msg.authzid)
            }
            Mechanism::ScramSha1 | Mechanism::ScramSha256 => {
                let hash = ScramHash::from_mechanism(self.mechanism)
                    .ok_or(Error::InvalidState("not a SCRAM mechanism"))?;
                let mut server = Box::new(ScramServer::new(hash, self.params.scram));
                let first = server.handle_client_first(&self.auth, resp)?;
                Ok((State::ScramFinal(server), ServerStep::Challenge(first)))
            }
            Mechanism::XOAuth2 => {
                let msg = oauth::parse_xoauth2(resp)?;
                let request = TokenRequest {
                    mechanism: Mechanism::XOAuth2,
                    user: Some(msg.user),
                    token: msg.token,
                    host: None,
                    port: None,
                };
                self.oauth(&request, msg.user)
            }
            Mechanism::OAuthBearer => {
                if resp == [oauth::KVSEP] {
                    return Err(Error::AuthenticationFailed);
                }
                let msg = oauth::parse_oauthbearer(resp)?;
                let request = TokenRequest {
                    mechanism: Mechanism::OAuthBearer,
                    user: Some(msg.authzid.as_str()).filter(|a| !a.is_empty()),
                    token: msg.token,
                    host: msg.host,
                    port: msg.port,
                };
                self.oauth(&request, &msg.authzid)
            }
            Mechanism::Anonymous => {
                let trace = anonymous::parse_trace(resp)?;
                let mut outcome = Authenticated::new(Mechanism::Anonymous, "anonymous", "");
                outcome.trace = trace;
                Ok((
                    State::Done,
                    ServerStep::Success {
                        additional_data: None,
                        authenticated: outcome,
                    },
                ))
            }
            Mechanism::External => {
                let authzid = external::parse_authzid(resp)?;
                let identity = self
                    .params
                    .external_identity
                    .clone()
                    .ok_or(Error::AuthenticationFailed)?;
                self.succeed(Mechanism::External, identity, authzid)
            }
            Mechanism::Login | Mechanism::CramMd5 => {
                Err(Error::InvalidState("server-first mechanism"))
            }
        }
    }

    fn oauth(
        &self,
        request: &TokenRequest<'_>,
        claimed: &str,
    ) -> Result<(State, ServerStep), Error> {
        let validator = self
            .auth
            .token_validator()
            .ok_or(Error::MechanismNotAllowed(request.mechanism))?;
        match validator.validate(request) {
            Ok(identity) => {
                let authzid = if claimed == identity { "" } else { claimed };
                self.succeed(request.mechanism, identity, authzid)
            }
            Err(e) => Ok((
                State::OAuthFailed,
                ServerStep::Challenge(e.to_json().into_bytes()),
            )),
        }
    }
}
