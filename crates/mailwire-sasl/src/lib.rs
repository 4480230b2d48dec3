#![forbid(unsafe_code)]
//! SASL client and server step machines for mailwire's IMAP, POP3 and SMTP
//! implementations, without I/O: no sockets, no async runtime. Randomness
//! comes from `rand`; the only clock read is the CRAM-MD5 challenge
//! timestamp when [`ServerParams::timestamp`] is not given.
//!
//! Mechanisms: PLAIN (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195), SCRAM-SHA-1 and
//! SCRAM-SHA-256 (RFC 5802, RFC 7677, without channel binding), XOAUTH2,
//! OAUTHBEARER (RFC 7628), ANONYMOUS (RFC 4505) and EXTERNAL (RFC 4422
//! appendix A); plus the POP3 APOP digest (RFC 1939 §7, in [`apop`]).
//!
//! # Layers
//!
//! * [`ServerSession`] and [`ClientSession`] drive one exchange for any
//!   [`Mechanism`], on raw bytes ([`ServerSession::step`],
//!   [`ClientSession::step`]) or on the base64 text the protocols carry
//!   (`*_base64` methods, which also handle `*` cancellation and the `=`
//!   empty initial response).
//! * Per-mechanism modules ([`plain`], [`cram`], [`scram`], [`oauth`], ...)
//!   expose the message formats and, for SCRAM, [`scram::ScramClient`] /
//!   [`scram::ScramServer`] directly.
//! * The server asks an [`Authenticator`] for [`Credentials`] (plaintext
//!   secrets or [`ScramVerifier`]s), to [`authorize`](Authenticator::authorize)
//!   an authzid, and for a [`TokenValidator`]. [`StaticAuthenticator`] is an
//!   in-memory implementation.
//! * [`choose_mechanism`] (client) and [`ServerParams::mechanisms`] /
//!   [`server_mechanisms`] (server) do the negotiation policy: PLAIN, LOGIN
//!   and bearer tokens only over TLS unless explicitly allowed; CRAM-MD5 and
//!   APOP only when the backend has plaintext-equivalent secrets.
//!
//! # Call order
//!
//! Server (e.g. on `AUTHENTICATE mech [ir]`):
//! 1. [`ServerSession::new`]`(mechanism, &authenticator, params)`;
//! 2. `step(initial_response)` (`None` when the client sent none);
//! 3. while it returns [`ServerStep::Challenge`]: send it, read the client's
//!    line, `step(Some(answer))`;
//! 4. [`ServerStep::Success`] carries the [`Authenticated`] identity; any
//!    `Err` ends the exchange with the protocol's failure reply
//!    ([`Error::Cancelled`] when the client sent `*`).
//!
//! Client:
//! 1. [`ClientSession::new`]`(mechanism, credentials)`;
//! 2. [`ClientSession::initial_response`] (send it with the command if
//!    `Some` and the protocol allows; otherwise the first `step` with the
//!    server's empty challenge produces it);
//! 3. [`ClientSession::step`] for every challenge;
//! 4. [`ClientSession::finish`] when the server reports success (SCRAM
//!    checks the server's signature here).
//!
//! # Example: SCRAM-SHA-256 over IMAP-style base64
//!
//! ```
//! use mailwire_sasl::{
//!     ClientCredentials, ClientSession, Mechanism, ServerParams, ServerSession, ServerStep,
//!     StaticAuthenticator,
//! };
//!
//! let users = StaticAuthenticator::new().with_user("user", "pencil");
//! let mut server = ServerSession::new(Mechanism::ScramSha256, &users, ServerParams::new("imap.example"))?;
//! let mut client = ClientSession::new(Mechanism::ScramSha256, ClientCredentials::password("user", "pencil"))?;
//!
//! // C: a1 AUTHENTICATE SCRAM-SHA-256 <initial response>
//! let mut line = client.initial_response_base64()?;
//! let authenticated = loop {
//!     match server.step_base64(line.as_deref())? {
//!         // S: + <challenge>       C: <answer>
//!         ServerStep::Challenge(challenge) => line = Some(client.step_base64(&challenge)?),
//!         // S: a1 OK
//!         ServerStep::Success { additional_data, authenticated } => {
//!             client.finish_base64(additional_data.as_deref())?;
//!             break authenticated;
//!         }
//!     }
//! };
//! assert_eq!(authenticated.authcid, "user");
//! assert_eq!(authenticated.authzid, "user");
//! assert!(client.is_complete());
//! # Ok::<(), mailwire_sasl::Error>(())
//! ```
//!
//! # SASLprep
//!
//! SCRAM user names and passwords, and PLAIN/LOGIN password comparisons, use
//! a partial SASLprep (RFC 4013): the mapping step and the prohibited-output
//! check are implemented; NFKC normalisation, the bidi check and the
//! unassigned-code-point check are not (they need Unicode tables). ASCII is
//! handled exactly; non-ASCII text is passed through unnormalised, which
//! interoperates when both sides use NFKC-normal strings.

mod authenticator;
mod client;
mod error;
mod mechanism;
mod saslprep;
mod server;

pub mod anonymous;
pub mod apop;
pub mod cram;
pub mod external;
pub mod login;
pub mod oauth;
pub mod plain;
pub mod scram;
pub mod wire;

pub use authenticator::{
    Authenticated, Authenticator, Credentials, SecretKind, StaticAuthenticator, TokenError,
    TokenRequest, TokenValidator, verify_or_pretend, verify_password,
};
pub use client::{ClientCredentials, ClientOptions, ClientSession};
pub use error::Error;
/// Re-exported from `mailwire-codec`: credentials redacted in `Debug`, zeroized on drop.
pub use mailwire_codec::Secret;
pub use mechanism::{
    AvailableCredentials, Mechanism, choose_mechanism, login_mechanisms, parse_mechanism_list,
    server_mechanisms,
};
pub use scram::{ScramConfig, ScramHash, ScramVerifier};
pub use server::{ServerParams, ServerSession, ServerStep};
