//! The server-side credential backend: [`Authenticator`], [`Credentials`],
//! OAuth [`TokenValidator`]s, and the in-memory [`StaticAuthenticator`].

use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

use subtle::ConstantTimeEq;

use crate::saslprep::saslprep;
use crate::scram::{ScramHash, ScramVerifier};
use crate::{Mechanism, Secret};

/// The result of a successful server-side exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Authenticated {
    /// The mechanism that was used.
    pub mechanism: Mechanism,
    /// The authentication identity: whose credentials were checked. For
    /// ANONYMOUS this is `"anonymous"`; for EXTERNAL it is the identity the
    /// caller supplied in [`ServerParams::external_identity`](crate::ServerParams::external_identity);
    /// for the OAuth mechanisms it is what the [`TokenValidator`] returned.
    pub authcid: String,
    /// The resolved authorization identity, i.e. the identity to act as: the
    /// authzid the client requested (already approved by
    /// [`Authenticator::authorize`]), or `authcid` when none was requested.
    pub authzid: String,
    /// The ANONYMOUS trace information, if the client sent any.
    pub trace: Option<String>,
}

impl Authenticated {
    /// Builds an outcome; `authzid` empty means "same as `authcid`".
    pub fn new(mechanism: Mechanism, authcid: impl Into<String>, authzid: &str) -> Self {
        let authcid = authcid.into();
        let authzid = if authzid.is_empty() {
            authcid.clone()
        } else {
            authzid.to_owned()
        };
        Authenticated {
            mechanism,
            authcid,
            authzid,
            trace: None,
        }
    }

    /// True when the client acts as someone other than itself.
    pub fn is_proxy(&self) -> bool {
        self.authcid != self.authzid
    }
}

/// What a backend stores for one user.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Credentials {
    /// A plaintext-equivalent secret: serves every password mechanism,
    /// including CRAM-MD5 and APOP (SCRAM verifiers are derived on the fly
    /// with a fresh salt).
    Password(Secret<String>),
    /// SCRAM verifiers only: serves SCRAM (for the hashes present) and
    /// PLAIN/LOGIN (by deriving the verifier from the offered password), but
    /// not CRAM-MD5 or APOP.
    Scram {
        /// Verifier for SCRAM-SHA-1.
        sha1: Option<ScramVerifier>,
        /// Verifier for SCRAM-SHA-256.
        sha256: Option<ScramVerifier>,
    },
}

impl Credentials {
    /// Plaintext-equivalent credentials.
    pub fn password(password: impl Into<String>) -> Self {
        Credentials::Password(Secret::new(password.into()))
    }

    /// The SCRAM verifier for `hash`, if this entry has one.
    pub fn scram_verifier(&self, hash: ScramHash) -> Option<&ScramVerifier> {
        match (self, hash) {
            (Credentials::Scram { sha1, .. }, ScramHash::Sha1) => sha1.as_ref(),
            (Credentials::Scram { sha256, .. }, ScramHash::Sha256) => sha256.as_ref(),
            (Credentials::Password(_), _) => None,
        }
    }
}

/// Verifies `password` against stored `credentials` in constant time (with
/// respect to the password contents).
///
/// Plaintext secrets are compared after SASLprep of both sides (raw bytes
/// when either side is rejected by SASLprep). SCRAM verifiers are checked by
/// deriving the StoredKey from the password (SHA-256 preferred).
pub fn verify_password(credentials: &Credentials, password: &str) -> bool {
    match credentials {
        Credentials::Password(stored) => {
            let stored = stored.expose();
            match (saslprep(stored), saslprep(password)) {
                (Ok(a), Ok(b)) => bool::from(a.as_bytes().ct_eq(b.as_bytes())),
                _ => bool::from(stored.as_bytes().ct_eq(password.as_bytes())),
            }
        }
        Credentials::Scram { sha1, sha256 } => {
            if let Some(v) = sha256 {
                v.verify_password(ScramHash::Sha256, password)
            } else if let Some(v) = sha1 {
                v.verify_password(ScramHash::Sha1, password)
            } else {
                false
            }
        }
    }
}

/// [`verify_password`] for a user found, and for one not found the same work on a stand-in
/// of the backend's kind of secret before `false`: an unknown user and a wrong password then
/// cost the same time (a PBKDF2 of 4096 rounds for SCRAM verifiers), so the answer's timing
/// does not tell whether a user exists.
pub fn verify_or_pretend(
    credentials: Option<Credentials>,
    kind: SecretKind,
    password: &str,
) -> bool {
    match credentials {
        Some(c) => verify_password(&c, password),
        None => {
            if let SecretKind::ScramVerifiers { sha256, .. } = kind {
                let hash = if sha256 {
                    ScramHash::Sha256
                } else {
                    ScramHash::Sha1
                };
                let _ = stand_in(hash).verify_password(hash, password);
            } else {
                let _ = bool::from(b"stand-in password".ct_eq(password.as_bytes()));
            }
            false
        }
    }
}

/// A SCRAM verifier of no one's password, made once per hash, with the iteration count
/// stored verifiers use (4096).
pub(crate) fn stand_in(hash: ScramHash) -> &'static ScramVerifier {
    static SHA1: std::sync::OnceLock<ScramVerifier> = std::sync::OnceLock::new();
    static SHA256: std::sync::OnceLock<ScramVerifier> = std::sync::OnceLock::new();
    let cell = match hash {
        ScramHash::Sha1 => &SHA1,
        ScramHash::Sha256 => &SHA256,
    };
    cell.get_or_init(|| {
        ScramVerifier::generate(hash, "\u{0}stand-in\u{0}", 4096, &mut rand::thread_rng())
            .unwrap_or(ScramVerifier {
                salt: vec![0; 16],
                iterations: 4096,
                stored_key: vec![0; 32],
                server_key: vec![0; 32],
            })
    })
}

/// What kind of secrets a backend can hand out, which decides the
/// challenge-response mechanisms it can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretKind {
    /// Plaintext-equivalent passwords: every password mechanism, CRAM-MD5 and
    /// APOP included.
    Plaintext,
    /// SCRAM verifiers for the listed hashes (plus PLAIN/LOGIN).
    ScramVerifiers {
        /// SCRAM-SHA-1 verifiers are available.
        sha1: bool,
        /// SCRAM-SHA-256 verifiers are available.
        sha256: bool,
    },
    /// No stored secrets; passwords can only be checked through
    /// [`Authenticator::verify_plain`] (LDAP bind, PAM, "accept any password"):
    /// PLAIN and LOGIN only.
    VerifyOnly,
}

/// What the server's OAuth mechanisms hand to a [`TokenValidator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenRequest<'a> {
    /// OAUTHBEARER or XOAUTH2.
    pub mechanism: Mechanism,
    /// The user the client claims: XOAUTH2's `user=`, OAUTHBEARER's `a=`.
    pub user: Option<&'a str>,
    /// The bearer token.
    pub token: &'a str,
    /// OAUTHBEARER `host=`, if sent.
    pub host: Option<&'a str>,
    /// OAUTHBEARER `port=`, if sent and valid.
    pub port: Option<u16>,
}

/// Why a token was rejected; serialised into the JSON error challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenError {
    /// `status`: `"401"` in XOAUTH2 practice, `"invalid_token"`,
    /// `"insufficient_scope"`... for OAUTHBEARER (RFC 7628 §3.2.2).
    pub status: String,
    /// `schemes`, e.g. `"bearer"`.
    pub schemes: Option<String>,
    /// `scope`: the scope the client should request.
    pub scope: Option<String>,
    /// `openid-configuration` discovery URL (RFC 7628 §3.2.2).
    pub openid_configuration: Option<String>,
}

impl<'a> TokenRequest<'a> {
    /// A request with only a mechanism, claimed user and token (for testing
    /// validators).
    pub fn new(mechanism: Mechanism, user: Option<&'a str>, token: &'a str) -> Self {
        TokenRequest {
            mechanism,
            user,
            token,
            host: None,
            port: None,
        }
    }
}

impl TokenError {
    /// An error with only a status.
    pub fn new(status: impl Into<String>) -> Self {
        TokenError {
            status: status.into(),
            schemes: None,
            scope: None,
            openid_configuration: None,
        }
    }

    /// `{"status":"401","schemes":"bearer","scope":...}`, the XOAUTH2-style
    /// error, which OAUTHBEARER clients also accept.
    pub fn unauthorized(scope: Option<String>) -> Self {
        TokenError {
            status: "401".to_owned(),
            schemes: Some("bearer".to_owned()),
            scope,
            openid_configuration: None,
        }
    }

    /// `{"status":"invalid_token","schemes":"bearer","scope":...}`: the
    /// RFC 7628 §3.2.2 form (`status` from the OAuth error registry).
    pub fn invalid_token(scope: Option<String>) -> Self {
        TokenError {
            status: "invalid_token".to_owned(),
            ..Self::unauthorized(scope)
        }
    }

    /// The JSON text of the error challenge.
    pub fn to_json(&self) -> String {
        let mut map = serde_json::Map::new();
        map.insert("status".into(), self.status.clone().into());
        if let Some(s) = &self.schemes {
            map.insert("schemes".into(), s.clone().into());
        }
        if let Some(s) = &self.scope {
            map.insert("scope".into(), s.clone().into());
        }
        if let Some(s) = &self.openid_configuration {
            map.insert("openid-configuration".into(), s.clone().into());
        }
        serde_json::Value::Object(map).to_string()
    }
}

/// Validates OAuth 2.0 bearer tokens for OAUTHBEARER and XOAUTH2.
pub trait TokenValidator {
    /// Checks the token and returns the authentication identity it belongs
    /// to. The server then calls [`Authenticator::authorize`] with that
    /// identity and the claimed user (as authzid, when it differs), so
    /// returning the owner of the token is enough; the validator need not
    /// compare it with `request.user`. On `Err` the server sends
    /// [`TokenError::to_json`] as a challenge and fails after the client's
    /// acknowledgement.
    fn validate(&self, request: &TokenRequest<'_>) -> Result<String, TokenError>;
}

/// The server's credential backend.
///
/// Only [`credentials`](Authenticator::credentials) and
/// [`secret_kind`](Authenticator::secret_kind) are required; the other
/// methods have defaults derived from them.
pub trait Authenticator {
    /// The stored credentials of `authcid`, or `None` for an unknown user.
    fn credentials(&self, authcid: &str) -> Option<Credentials>;

    /// What kind of secrets [`credentials`](Authenticator::credentials)
    /// returns; decides which mechanisms are advertised.
    fn secret_kind(&self) -> SecretKind;

    /// Checks a password received by PLAIN or LOGIN. The default looks up
    /// [`credentials`](Authenticator::credentials) and uses
    /// [`verify_password`]. Override it for backends that can only verify
    /// (LDAP bind, PAM) or to accept any password.
    fn verify_plain(&self, authcid: &str, password: &str) -> bool {
        verify_or_pretend(self.credentials(authcid), self.secret_kind(), password)
    }

    /// May `authcid` act as `authzid`? `authzid` is empty when the client
    /// did not ask for one. Default: only when it is empty or equal.
    fn authorize(&self, authcid: &str, authzid: &str) -> bool {
        authzid.is_empty() || authzid == authcid
    }

    /// The validator for OAUTHBEARER and XOAUTH2; `None` (the default)
    /// disables those mechanisms.
    fn token_validator(&self) -> Option<&dyn TokenValidator> {
        None
    }

    /// Whether ANONYMOUS logins are accepted. Default: no.
    fn allow_anonymous(&self) -> bool {
        false
    }

    /// Can this backend serve `mechanism`? The default derives it from
    /// [`secret_kind`](Authenticator::secret_kind),
    /// [`token_validator`](Authenticator::token_validator) and
    /// [`allow_anonymous`](Authenticator::allow_anonymous); EXTERNAL is
    /// reported as supported (whether an identity exists is a property of the
    /// connection, see [`ServerParams`](crate::ServerParams)).
    fn supports(&self, mechanism: Mechanism) -> bool {
        let kind = self.secret_kind();
        match mechanism {
            Mechanism::Plain | Mechanism::Login => true,
            Mechanism::CramMd5 => kind == SecretKind::Plaintext,
            Mechanism::ScramSha1 => matches!(
                kind,
                SecretKind::Plaintext | SecretKind::ScramVerifiers { sha1: true, .. }
            ),
            Mechanism::ScramSha256 => matches!(
                kind,
                SecretKind::Plaintext | SecretKind::ScramVerifiers { sha256: true, .. }
            ),
            Mechanism::OAuthBearer | Mechanism::XOAuth2 => self.token_validator().is_some(),
            Mechanism::Anonymous => self.allow_anonymous(),
            Mechanism::External => true,
        }
    }

    /// Can this backend serve POP3 APOP? Default: with plaintext secrets only.
    fn supports_apop(&self) -> bool {
        self.secret_kind() == SecretKind::Plaintext
    }
}

macro_rules! forward_authenticator {
    ($($ptr:ty),*) => {$(
        impl<T: Authenticator + ?Sized> Authenticator for $ptr {
            fn credentials(&self, authcid: &str) -> Option<Credentials> {
                (**self).credentials(authcid)
            }
            fn secret_kind(&self) -> SecretKind {
                (**self).secret_kind()
            }
            fn verify_plain(&self, authcid: &str, password: &str) -> bool {
                (**self).verify_plain(authcid, password)
            }
            fn authorize(&self, authcid: &str, authzid: &str) -> bool {
                (**self).authorize(authcid, authzid)
            }
            fn token_validator(&self) -> Option<&dyn TokenValidator> {
                (**self).token_validator()
            }
            fn allow_anonymous(&self) -> bool {
                (**self).allow_anonymous()
            }
            fn supports(&self, mechanism: Mechanism) -> bool {
                (**self).supports(mechanism)
            }
            fn supports_apop(&self) -> bool {
                (**self).supports_apop()
            }
        }
    )*};
}

forward_authenticator!(&T, Box<T>, Arc<T>, Rc<T>);

/// An in-memory [`Authenticator`] for tests, examples and `mailwire serve`.
///
/// ```
/// use mailwire_sasl::{Authenticator, Mechanism, StaticAuthenticator};
///
/// let auth = StaticAuthenticator::new()
///     .with_user("tim", "tanstaaftanstaaf")
///     .with_token("tok123", "tim");
/// assert!(auth.verify_plain("tim", "tanstaaftanstaaf"));
/// assert!(auth.supports(Mechanism::CramMd5));
/// assert!(auth.supports(Mechanism::OAuthBearer));
/// ```
#[derive(Debug, Default, Clone)]
pub struct StaticAuthenticator {
    users: HashMap<String, Credentials>,
    tokens: HashMap<String, String>,
    proxies: HashSet<(String, String)>,
    accept_any_password: bool,
    anonymous: bool,
    oauth_scope: Option<String>,
}

impl StaticAuthenticator {
    /// An empty authenticator (no users, nothing accepted).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a user with a plaintext password (builder style).
    pub fn with_user(mut self, authcid: impl Into<String>, password: impl Into<String>) -> Self {
        self.add_user(authcid, password);
        self
    }

    /// Adds a user with a plaintext password.
    pub fn add_user(&mut self, authcid: impl Into<String>, password: impl Into<String>) {
        self.users
            .insert(authcid.into(), Credentials::password(password));
    }

    /// Adds a user with arbitrary credentials (e.g. SCRAM verifiers only).
    pub fn add_credentials(&mut self, authcid: impl Into<String>, credentials: Credentials) {
        self.users.insert(authcid.into(), credentials);
    }

    /// Registers a bearer token belonging to `authcid`; enables OAUTHBEARER
    /// and XOAUTH2 (builder style).
    pub fn with_token(mut self, token: impl Into<String>, authcid: impl Into<String>) -> Self {
        self.tokens.insert(token.into(), authcid.into());
        self
    }

    /// Sets the `scope` reported in the OAuth JSON error challenge.
    pub fn with_oauth_scope(mut self, scope: impl Into<String>) -> Self {
        self.oauth_scope = Some(scope.into());
        self
    }

    /// Lets `authcid` act as `authzid` (builder style).
    pub fn with_proxy(mut self, authcid: impl Into<String>, authzid: impl Into<String>) -> Self {
        self.proxies.insert((authcid.into(), authzid.into()));
        self
    }

    /// Accept ANONYMOUS logins (builder style).
    pub fn with_anonymous(mut self, allow: bool) -> Self {
        self.anonymous = allow;
        self
    }

    /// "Accept any password" mode for `mailwire serve --accept-any-auth`:
    /// PLAIN and LOGIN succeed for any non-empty user name and any password.
    /// Challenge-response mechanisms still need real stored secrets (they
    /// cannot work without one), so with no users only PLAIN and LOGIN are
    /// advertised.
    pub fn with_accept_any_password(mut self, accept: bool) -> Self {
        self.accept_any_password = accept;
        self
    }
}

impl Authenticator for StaticAuthenticator {
    fn credentials(&self, authcid: &str) -> Option<Credentials> {
        self.users.get(authcid).cloned()
    }

    fn secret_kind(&self) -> SecretKind {
        if self.users.is_empty() {
            return if self.accept_any_password {
                SecretKind::VerifyOnly
            } else {
                SecretKind::Plaintext
            };
        }
        let all_plain = self
            .users
            .values()
            .all(|c| matches!(c, Credentials::Password(_)));
        if all_plain {
            return SecretKind::Plaintext;
        }
        let all_have = |hash| {
            self.users.values().all(|c| match c {
                Credentials::Password(_) => true,
                other => other.scram_verifier(hash).is_some(),
            })
        };
        SecretKind::ScramVerifiers {
            sha1: all_have(ScramHash::Sha1),
            sha256: all_have(ScramHash::Sha256),
        }
    }

    fn verify_plain(&self, authcid: &str, password: &str) -> bool {
        if self.accept_any_password {
            return !authcid.is_empty();
        }
        self.users
            .get(authcid)
            .is_some_and(|c| verify_password(c, password))
    }

    fn authorize(&self, authcid: &str, authzid: &str) -> bool {
        authzid.is_empty()
            || authzid == authcid
            || self
                .proxies
                .contains(&(authcid.to_owned(), authzid.to_owned()))
    }

    fn token_validator(&self) -> Option<&dyn TokenValidator> {
        if self.tokens.is_empty() {
            None
        } else {
            Some(self)
        }
    }

    fn allow_anonymous(&self) -> bool {
        self.anonymous
    }
}

impl TokenValidator for StaticAuthenticator {
    fn validate(&self, request: &TokenRequest<'_>) -> Result<String, TokenError> {
        let scope = self.oauth_scope.clone();
        let error = || match request.mechanism {
            Mechanism::OAuthBearer => TokenError::invalid_token(scope.clone()),
            _ => TokenError::unauthorized(scope.clone()),
        };
        if request.token.is_empty() {
            return Err(error());
        }
        self.tokens
            .iter()
            .find(|(token, _)| bool::from(token.as_bytes().ct_eq(request.token.as_bytes())))
            .map(|(_, owner)| owner.clone())
            .ok_or_else(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_error_json() {
        let e = TokenError::unauthorized(Some("https://mail.example/".into()));
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["status"], "401");
        assert_eq!(v["schemes"], "bearer");
        assert_eq!(v["scope"], "https://mail.example/");
        assert_eq!(
            TokenError::new("invalid_token").to_json(),
            r#"{"status":"invalid_token"}"#
        );
    }

    #[test]
    fn secret_kinds_and_support() {
        let a = StaticAuthenticator::new().with_user("u", "p");
        assert_eq!(a.secret_kind(), SecretKind::Plaintext);
        assert!(a.supports(Mechanism::CramMd5) && a.supports_apop());
        assert!(!a.supports(Mechanism::OAuthBearer) && !a.supports(Mechanism::Anonymous));

        let mut s = StaticAuthenticator::new();
        let v = ScramVerifier::derive(ScramHash::Sha256, "p", b"salt", 4096).unwrap();
        s.add_credentials(
            "u",
            Credentials::Scram {
                sha1: None,
                sha256: Some(v),
            },
        );
        assert_eq!(
            s.secret_kind(),
            SecretKind::ScramVerifiers {
                sha1: false,
                sha256: true
            }
        );
        assert!(!s.supports(Mechanism::CramMd5) && !s.supports_apop());
        assert!(s.supports(Mechanism::ScramSha256) && !s.supports(Mechanism::ScramSha1));
        assert!(s.verify_plain("u", "p") && !s.verify_plain("u", "q"));

        let any = StaticAuthenticator::new().with_accept_any_password(true);
        assert_eq!(any.secret_kind(), SecretKind::VerifyOnly);
        assert!(any.verify_plain("whoever", "whatever") && !any.verify_plain("", "x"));
        assert!(any.supports(Mechanism::Plain) && !any.supports(Mechanism::ScramSha256));
    }

    #[test]
    fn forwarding_impls() {
        let a = Arc::new(StaticAuthenticator::new().with_proxy("admin", "bob"));
        assert!(a.authorize("admin", "bob"));
        let by_ref: &dyn Authenticator = &&*a;
        assert!(!by_ref.authorize("bob", "admin"));
        let b: Box<dyn Authenticator> = Box::new(StaticAuthenticator::new());
        assert!(b.authorize("x", ""));
    }

    /// The median time of `f` over 9 runs.
    fn median(mut f: impl FnMut()) -> std::time::Duration {
        let mut v: Vec<std::time::Duration> = (0..9)
            .map(|_| {
                let t = std::time::Instant::now();
                f();
                t.elapsed()
            })
            .collect();
        v.sort();
        v[4]
    }

    /// An unknown user costs what a wrong password costs: with SCRAM verifiers stored, both
    /// run a PBKDF2 (without the stand-in, the unknown user answered in microseconds).
    #[test]
    fn unknown_users_cost_what_wrong_passwords_cost() {
        let v = ScramVerifier::generate(ScramHash::Sha256, "right", 4096, &mut rand::thread_rng())
            .unwrap();
        let creds = Credentials::Scram {
            sha1: None,
            sha256: Some(v),
        };
        let kind = SecretKind::ScramVerifiers {
            sha1: false,
            sha256: true,
        };
        // Warm the stand-in once.
        assert!(!verify_or_pretend(None, kind, "x"));
        let wrong = median(|| assert!(!verify_or_pretend(Some(creds.clone()), kind, "wrong")));
        let unknown = median(|| assert!(!verify_or_pretend(None, kind, "wrong")));
        let ratio = unknown.as_secs_f64() / wrong.as_secs_f64();
        assert!(
            (0.33..3.0).contains(&ratio),
            "unknown {unknown:?} vs wrong password {wrong:?}"
        );
        assert!(verify_or_pretend(Some(creds), kind, "right"));
    }
}
