//! The client step machine, [`ClientSession`].

use core::fmt;

use crate::mechanism::AvailableCredentials;
use crate::scram::{ScramClient, ScramConfig, ScramHash};
use crate::{Error, Mechanism, Secret};
use crate::{cram, login, oauth, plain, wire};

/// What the client authenticates with. Build it with one of the
/// constructors and the `with_*` methods.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ClientCredentials {
    /// The authentication identity (user name). Used by PLAIN, LOGIN,
    /// CRAM-MD5, SCRAM and XOAUTH2 (`user=`); OAUTHBEARER sends it as `a=`
    /// when no [`authzid`](Self::authzid) is set.
    pub authcid: String,
    /// The password.
    pub password: Option<Secret<String>>,
    /// The OAuth 2.0 bearer token.
    pub token: Option<Secret<String>>,
    /// The authorization identity to act as (PLAIN, SCRAM, OAUTHBEARER,
    /// EXTERNAL); `None` to act as oneself.
    pub authzid: Option<String>,
    /// OAUTHBEARER `host=`.
    pub host: Option<String>,
    /// OAUTHBEARER `port=`.
    pub port: Option<u16>,
    /// ANONYMOUS trace information.
    pub trace: Option<String>,
}

impl ClientCredentials {
    /// User name and password.
    pub fn password(authcid: impl Into<String>, password: impl Into<String>) -> Self {
        ClientCredentials {
            authcid: authcid.into(),
            password: Some(Secret::new(password.into())),
            ..Self::default()
        }
    }

    /// User name and OAuth 2.0 bearer token.
    pub fn oauth(authcid: impl Into<String>, token: impl Into<String>) -> Self {
        ClientCredentials {
            authcid: authcid.into(),
            token: Some(Secret::new(token.into())),
            ..Self::default()
        }
    }

    /// ANONYMOUS with optional trace information.
    pub fn anonymous(trace: Option<String>) -> Self {
        ClientCredentials {
            trace,
            ..Self::default()
        }
    }

    /// EXTERNAL (identity from outside SASL) with no authzid.
    pub fn external() -> Self {
        Self::default()
    }

    /// Sets the authorization identity.
    pub fn with_authzid(mut self, authzid: impl Into<String>) -> Self {
        self.authzid = Some(authzid.into());
        self
    }

    /// Adds a password.
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(Secret::new(password.into()));
        self
    }

    /// Adds an OAuth bearer token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Secret::new(token.into()));
        self
    }

    /// Sets the OAUTHBEARER host and port.
    pub fn with_host_port(mut self, host: impl Into<String>, port: u16) -> Self {
        self.host = Some(host.into());
        self.port = Some(port);
        self
    }

    /// The kinds of credential present, for [`choose_mechanism`](crate::choose_mechanism).
    /// `external` is always false: whether a TLS client certificate was
    /// presented is known to the caller, who sets it.
    pub fn available(&self) -> AvailableCredentials {
        AvailableCredentials {
            password: self.password.is_some() && !self.authcid.is_empty(),
            oauth_token: self.token.is_some(),
            external: false,
        }
    }
}

/// Options for [`ClientSession::with_options`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientOptions {
    /// SCRAM iteration bounds.
    pub scram: ScramConfig,
    /// Fixed SCRAM client nonce (tests only; `None` = random).
    pub scram_nonce: Option<String>,
}

impl ClientOptions {
    /// Builder: sets a fixed SCRAM client nonce.
    pub fn with_scram_nonce(mut self, nonce: impl Into<String>) -> Self {
        self.scram_nonce = Some(nonce.into());
        self
    }

    /// Builder: sets the SCRAM iteration bounds.
    pub fn with_scram_config(mut self, scram: ScramConfig) -> Self {
        self.scram = scram;
        self
    }
}

enum Kind {
    Plain(Vec<u8>),
    Login {
        user: String,
        password: Secret<String>,
        next: u8,
    },
    Cram {
        user: String,
        password: Secret<String>,
        answered: bool,
    },
    Scram(Box<ScramClient>),
    OAuth {
        initial: Vec<u8>,
        error: Option<String>,
    },
    Single(Vec<u8>),
}

/// The client side of one SASL exchange.
///
/// Call order:
/// 1. [`ClientSession::new`] with the chosen mechanism;
/// 2. [`initial_response`](Self::initial_response): if it returns `Some`,
///    send it with the command (SASL-IR), otherwise send the command alone;
///    if the protocol cannot carry it, skip this call: the first
///    [`step`](Self::step) then answers the server's empty challenge with it;
/// 3. for every server challenge, send [`step`](Self::step)'s answer;
/// 4. when the server reports success, call [`finish`](Self::finish) with
///    the additional data, if any: for SCRAM it fails unless the server
///    proved knowledge of the password.
///
/// `*_base64` variants take and return wire text; [`cancel`](Self::cancel)
/// gives the `*` line.
pub struct ClientSession {
    mechanism: Mechanism,
    kind: Kind,
    started: bool,
    finished: bool,
    complete: bool,
}

impl fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSession")
            .field("mechanism", &self.mechanism)
            .field("started", &self.started)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

fn need_password(creds: &ClientCredentials) -> Result<Secret<String>, Error> {
    creds
        .password
        .clone()
        .ok_or(Error::MissingCredential("password"))
}

fn need_user(creds: &ClientCredentials) -> Result<String, Error> {
    if creds.authcid.is_empty() {
        Err(Error::MissingCredential("user name"))
    } else {
        Ok(creds.authcid.clone())
    }
}

fn need_token(creds: &ClientCredentials) -> Result<Secret<String>, Error> {
    creds
        .token
        .clone()
        .ok_or(Error::MissingCredential("OAuth token"))
}

impl ClientSession {
    /// Prepares an exchange with default options. Fails with
    /// [`Error::MissingCredential`] when `credentials` lack what the
    /// mechanism needs.
    pub fn new(mechanism: Mechanism, credentials: ClientCredentials) -> Result<Self, Error> {
        Self::with_options(mechanism, credentials, ClientOptions::default())
    }

    /// Prepares an exchange with explicit options.
    pub fn with_options(
        mechanism: Mechanism,
        creds: ClientCredentials,
        options: ClientOptions,
    ) -> Result<Self, Error> {
        let authzid = creds.authzid.as_deref().filter(|a| !a.is_empty());
        let kind = match mechanism {
            Mechanism::Plain => {
                let password = need_password(&creds)?;
                Kind::Plain(plain::encode(
                    authzid,
                    &need_user(&creds)?,
                    password.expose(),
                )?)
            }
            Mechanism::Login => Kind::Login {
                user: need_user(&creds)?,
                password: need_password(&creds)?,
                next: 0,
            },
            Mechanism::CramMd5 => Kind::Cram {
                user: need_user(&creds)?,
                password: need_password(&creds)?,
                answered: false,
            },
            Mechanism::ScramSha1 | Mechanism::ScramSha256 => {
                let hash = ScramHash::from_mechanism(mechanism)
                    .ok_or(Error::InvalidState("not a SCRAM mechanism"))?;
                let password = need_password(&creds)?;
                Kind::Scram(Box::new(ScramClient::new(
                    hash,
                    &need_user(&creds)?,
                    password.expose(),
                    authzid,
                    options.scram_nonce,
                    options.scram,
                )?))
            }
            Mechanism::XOAuth2 => {
                let token = need_token(&creds)?;
                Kind::OAuth {
                    initial: oauth::xoauth2_initial_response(&need_user(&creds)?, token.expose()),
                    error: None,
                }
            }
            Mechanism::OAuthBearer => {
                let token = need_token(&creds)?;
                let user = authzid.or(Some(creds.authcid.as_str()).filter(|a| !a.is_empty()));
                Kind::OAuth {
                    initial: oauth::oauthbearer_initial_response(
                        user,
                        creds.host.as_deref(),
                        creds.port,
                        token.expose(),
                    ),
                    error: None,
                }
            }
            Mechanism::Anonymous => {
                let trace = creds.trace.unwrap_or_default();
                crate::anonymous::parse_trace(trace.as_bytes())?;
                Kind::Single(trace.into_bytes())
            }
            Mechanism::External => {
                let authzid = authzid.unwrap_or("");
                crate::external::parse_authzid(authzid.as_bytes())?;
                Kind::Single(authzid.as_bytes().to_vec())
            }
        };
        Ok(ClientSession {
            mechanism,
            kind,
            started: false,
            finished: false,
            complete: false,
        })
    }

    /// The mechanism in use.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// The JSON error challenge an OAuth server sent, if any.
    pub fn server_error(&self) -> Option<&str> {
        match &self.kind {
            Kind::OAuth { error, .. } => error.as_deref(),
            _ => None,
        }
    }

    /// True once [`finish`](Self::finish) succeeded.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    fn initial_payload(&mut self) -> Result<Option<Vec<u8>>, Error> {
        Ok(match &mut self.kind {
            Kind::Plain(msg) | Kind::Single(msg) | Kind::OAuth { initial: msg, .. } => {
                Some(msg.clone())
            }
            Kind::Scram(client) => Some(client.client_first()?),
            Kind::Login { .. } | Kind::Cram { .. } => None,
        })
    }

    /// The initial response (SASL-IR), or `None` for LOGIN and CRAM-MD5,
    /// where the server speaks first. May be called once, before any
    /// [`step`](Self::step).
    pub fn initial_response(&mut self) -> Result<Option<Vec<u8>>, Error> {
        if self.started || self.finished {
            return Err(Error::InvalidState("initial response already produced"));
        }
        self.started = true;
        self.initial_payload()
    }

    /// Answers a server challenge (raw bytes).
    pub fn step(&mut self, challenge: &[u8]) -> Result<Vec<u8>, Error> {
        if self.finished {
            return Err(Error::InvalidState("exchange already finished"));
        }
        if !self.started {
            self.started = true;
            if self.mechanism.is_client_first() {
                if !challenge.is_empty() {
                    return Err(Error::Malformed(
                        "expected an empty challenge before the initial response",
                    ));
                }
                return Ok(self.initial_payload()?.unwrap_or_default());
            }
        }
        match &mut self.kind {
            Kind::Plain(_) | Kind::Single(_) => Err(Error::InvalidState("no challenge expected")),
            Kind::Login {
                user,
                password,
                next,
            } => {
                let want_user = match login::classify_challenge(challenge) {
                    Some(is_user) => is_user,
                    None => *next == 0,
                };
                if *next >= 2 {
                    return Err(Error::InvalidState(
                        "LOGIN already answered both challenges",
                    ));
                }
                *next += 1;
                Ok(if want_user {
                    user.as_bytes().to_vec()
                } else {
                    password.expose().as_bytes().to_vec()
                })
            }
            Kind::Cram {
                user,
                password,
                answered,
            } => {
                if *answered {
                    return Err(Error::InvalidState("CRAM-MD5 already answered"));
                }
                *answered = true;
                Ok(cram::response(
                    user,
                    password.expose().as_bytes(),
                    challenge,
                ))
            }
            Kind::Scram(client) => {
                if client.is_complete() {
                    return Err(Error::InvalidState("SCRAM exchange already complete"));
                }
                match client.handle_server_first(challenge) {
                    Err(Error::InvalidState(_)) => {
                        client.handle_server_final(challenge)?;
                        Ok(Vec::new())
                    }
                    other => other,
                }
            }
            Kind::OAuth { error, .. } => {
                if error.is_some() {
                    return Err(Error::InvalidState("OAuth error already acknowledged"));
                }
                *error = Some(String::from_utf8_lossy(challenge).into_owned());
                Ok(if self.mechanism == Mechanism::OAuthBearer {
                    vec![oauth::KVSEP]
                } else {
                    Vec::new()
                })
            }
        }
    }

    /// Records the server's success. `additional_data` is the "additional
    /// data with success", if the protocol carried any. For SCRAM this
    /// verifies the server signature (from here or from an earlier
    /// challenge) and fails with [`Error::MissingServerSignature`] or
    /// [`Error::ServerSignatureMismatch`].
    pub fn finish(&mut self, additional_data: Option<&[u8]>) -> Result<(), Error> {
        if self.finished {
            return Err(Error::InvalidState("exchange already finished"));
        }
        if let Kind::Scram(client) = &mut self.kind {
            if let Some(data) = additional_data.filter(|d| !d.is_empty()) {
                if client.is_complete() {
                    return Err(Error::Malformed("server signature sent twice"));
                }
                client.handle_server_final(data).map_err(|e| match e {
                    Error::InvalidState(_) => Error::MissingServerSignature,
                    other => other,
                })?;
            }
            if !client.is_complete() {
                return Err(Error::MissingServerSignature);
            }
        }
        self.finished = true;
        self.complete = true;
        Ok(())
    }

    /// [`initial_response`](Self::initial_response) as wire text: base64,
    /// with an empty response written as `=`.
    pub fn initial_response_base64(&mut self) -> Result<Option<String>, Error> {
        Ok(self
            .initial_response()?
            .map(|r| wire::encode_initial_response(&r)))
    }

    /// [`step`](Self::step) with the base64 challenge text the server sent
    /// (the part after `+ ` or `334 `); returns the base64 answer.
    pub fn step_base64(&mut self, challenge: &str) -> Result<String, Error> {
        let raw = wire::decode_challenge(challenge)?;
        self.step(&raw).map(|r| wire::encode(&r))
    }

    /// [`finish`](Self::finish) with base64 additional data.
    pub fn finish_base64(&mut self, additional_data: Option<&str>) -> Result<(), Error> {
        let raw = additional_data.map(wire::decode_challenge).transpose()?;
        self.finish(raw.as_deref())
    }

    /// Abandons the exchange; returns the `*` line to send.
    pub fn cancel(&mut self) -> &'static str {
        self.finished = true;
        wire::CANCEL
    }
}
