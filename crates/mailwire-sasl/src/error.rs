//! The error type shared by every mechanism.

use crate::Mechanism;

/// Everything that can go wrong during a SASL exchange.
///
/// Servers should map every variant to the protocol's generic failure reply
/// (`NO`, `-ERR`, `535`, ...) without revealing which check failed; the
/// distinct variants exist for logging and for tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A message did not follow the mechanism's grammar.
    #[error("malformed SASL message: {0}")]
    Malformed(&'static str),
    /// A message on the wire was not valid base64.
    #[error("invalid base64 in SASL message")]
    Base64,
    /// A field was longer than the mechanism allows.
    #[error("SASL field `{field}` longer than {max} octets")]
    FieldTooLong {
        /// Which field (`authcid`, `authzid`, `passwd`, `trace`, ...).
        field: &'static str,
        /// The limit that was exceeded.
        max: usize,
    },
    /// The credentials were wrong (unknown user, wrong password, bad proof,
    /// invalid token, ...).
    #[error("authentication failed")]
    AuthenticationFailed,
    /// The credentials were right but the authentication identity may not act
    /// as the requested authorization identity.
    #[error("authorization identity not permitted")]
    AuthorizationFailed,
    /// The client cancelled the exchange with `*`.
    #[error("authentication cancelled by the client")]
    Cancelled,
    /// A mechanism name was not recognised.
    #[error("unknown SASL mechanism `{0}`")]
    UnknownMechanism(String),
    /// The mechanism is known but not allowed here (not offered, needs TLS,
    /// backend cannot serve it, ...).
    #[error("SASL mechanism {0} not allowed")]
    MechanismNotAllowed(Mechanism),
    /// The client lacks a credential the mechanism needs.
    #[error("missing client credential: {0}")]
    MissingCredential(&'static str),
    /// A string was rejected by SASLprep (RFC 4013) preparation.
    #[error("string rejected by SASLprep: {0}")]
    Saslprep(&'static str),
    /// The SCRAM client asked for channel binding (`p=`), which is not supported.
    #[error("channel binding is not supported")]
    ChannelBindingUnsupported,
    /// A SCRAM peer sent a mandatory extension (`m=`) we do not understand.
    #[error("unsupported mandatory SCRAM extension")]
    UnsupportedExtension,
    /// The SCRAM nonce did not extend or repeat the expected nonce.
    #[error("SCRAM nonce mismatch")]
    NonceMismatch,
    /// The SCRAM iteration count is outside the configured bounds.
    #[error("SCRAM iteration count {got} outside the allowed range {min}..={max}")]
    IterationCount {
        /// The iteration count the server asked for.
        got: u32,
        /// The configured minimum.
        min: u32,
        /// The configured maximum.
        max: u32,
    },
    /// The SCRAM server signature (`v=`) did not verify: the server does not
    /// know the password (or the exchange was tampered with).
    #[error("SCRAM server signature mismatch")]
    ServerSignatureMismatch,
    /// The server reported success without proving itself (no `v=`).
    #[error("server did not send its SCRAM signature")]
    MissingServerSignature,
    /// The SCRAM server sent `e=`; the value is its error string.
    #[error("server reported an error: {0}")]
    ServerError(String),
    /// A step function was called out of order or after the exchange ended.
    #[error("SASL exchange in the wrong state: {0}")]
    InvalidState(&'static str),
}
