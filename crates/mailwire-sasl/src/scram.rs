//! SCRAM-SHA-1 (RFC 5802) and SCRAM-SHA-256 (RFC 7677) without channel
//! binding.
//!
//! * The client sends the gs2 header `n,,` (or `n,a=authzid,`); the server
//!   accepts `n` and `y` and rejects `p=` with
//!   [`Error::ChannelBindingUnsupported`] (RFC 5802 §6: we never advertise
//!   the `-PLUS` variants, so `y` is legitimate).
//! * Mandatory extensions (`m=`) are rejected; optional extensions ignored.
//! * User names and passwords go through a partial SASLprep, see the
//!   [crate documentation](crate#saslprep).
//! * The server can work from stored [`ScramVerifier`]s instead of passwords.

use core::fmt;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::authenticator::{Authenticated, Authenticator, Credentials};
use crate::saslprep::saslprep;
use crate::wire::{decode_std, encode_std};
use crate::{Error, Mechanism, Secret};

/// The hash function of a SCRAM variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScramHash {
    /// SHA-1 (SCRAM-SHA-1).
    Sha1,
    /// SHA-256 (SCRAM-SHA-256).
    Sha256,
}

impl ScramHash {
    /// The SASL mechanism using this hash.
    pub const fn mechanism(self) -> Mechanism {
        match self {
            ScramHash::Sha1 => Mechanism::ScramSha1,
            ScramHash::Sha256 => Mechanism::ScramSha256,
        }
    }

    /// The hash of a SCRAM mechanism, `None` for other mechanisms.
    pub const fn from_mechanism(mechanism: Mechanism) -> Option<Self> {
        match mechanism {
            Mechanism::ScramSha1 => Some(ScramHash::Sha1),
            Mechanism::ScramSha256 => Some(ScramHash::Sha256),
            _ => None,
        }
    }

    /// Output length in octets (20 or 32).
    pub const fn output_len(self) -> usize {
        match self {
            ScramHash::Sha1 => 20,
            ScramHash::Sha256 => 32,
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
        match self {
            ScramHash::Sha1 => {
                let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key)
                    .expect("HMAC accepts keys of any length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            ScramHash::Sha256 => {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
                    .expect("HMAC accepts keys of any length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha1 => Sha1::digest(data).to_vec(),
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    /// `Hi(str, salt, i)` of RFC 5802 §2.2, i.e. PBKDF2-HMAC.
    fn hi(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0u8; self.output_len()];
        match self {
            ScramHash::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut out),
            ScramHash::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out)
            }
        }
        out
    }
}

/// Iteration-count policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScramConfig {
    /// The client refuses server-first messages with a smaller `i=`; the
    /// server uses it as the iteration count when it derives verifiers from
    /// plaintext passwords on the fly. Default 4096 (RFC 7677 §4).
    pub min_iterations: u32,
    /// The client refuses larger `i=` values (protects against a malicious
    /// server making the client spin). Default 10 000 000.
    pub max_iterations: u32,
}

impl Default for ScramConfig {
    fn default() -> Self {
        ScramConfig {
            min_iterations: 4096,
            max_iterations: 10_000_000,
        }
    }
}

/// What a server stores instead of a password (RFC 5802 §3, §5.1):
/// `StoredKey = H(HMAC(SaltedPassword, "Client Key"))`,
/// `ServerKey = HMAC(SaltedPassword, "Server Key")`.
///
/// The keys are zeroized on drop and redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramVerifier {
    /// The salt.
    pub salt: Vec<u8>,
    /// The PBKDF2 iteration count.
    pub iterations: u32,
    /// `StoredKey`.
    pub stored_key: Vec<u8>,
    /// `ServerKey`.
    pub server_key: Vec<u8>,
}

impl fmt::Debug for ScramVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramVerifier")
            .field("salt", &encode_std(&self.salt))
            .field("iterations", &self.iterations)
            .field("stored_key", &"[REDACTED]")
            .field("server_key", &"[REDACTED]")
            .finish()
    }
}

impl Drop for ScramVerifier {
    fn drop(&mut self) {
        self.stored_key.zeroize();
        self.server_key.zeroize();
    }
}

struct Keys {
    client_key: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl Drop for Keys {
    fn drop(&mut self) {
        self.client_key.zeroize();
        self.stored_key.zeroize();
        self.server_key.zeroize();
    }
}

fn derive_keys(
    hash: ScramHash,
    password: &str,
    salt: &[u8],
    iterations: u32,
) -> Result<Keys, Error> {
    let prepared = saslprep(password)?;
    let mut salted = hash.hi(prepared.as_bytes(), salt, iterations);
    let client_key = hash.hmac(&salted, b"Client Key");
    let server_key = hash.hmac(&salted, b"Server Key");
    salted.zeroize();
    let stored_key = hash.hash(&client_key);
    Ok(Keys {
        client_key,
        stored_key,
        server_key,
    })
}

impl ScramVerifier {
    /// Derives the verifier of `password` (after SASLprep) with the given
    /// salt and iteration count.
    pub fn derive(
        hash: ScramHash,
        password: &str,
        salt: &[u8],
        iterations: u32,
    ) -> Result<Self, Error> {
        if iterations == 0 {
            return Err(Error::IterationCount {
                got: 0,
                min: 1,
                max: u32::MAX,
            });
        }
        let keys = derive_keys(hash, password, salt, iterations)?;
        Ok(ScramVerifier {
            salt: salt.to_vec(),
            iterations,
            stored_key: keys.stored_key.clone(),
            server_key: keys.server_key.clone(),
        })
    }

    /// Derives a verifier with a fresh random 16-octet salt from `rng`.
    pub fn generate<R: RngCore + ?Sized>(
        hash: ScramHash,
        password: &str,
        iterations: u32,
        rng: &mut R,
    ) -> Result<Self, Error> {
        let mut salt = [0u8; 16];
        rng.fill_bytes(&mut salt);
        Self::derive(hash, password, &salt, iterations)
    }

    /// True when `password` produces this verifier's StoredKey.
    pub fn verify_password(&self, hash: ScramHash, password: &str) -> bool {
        if self.iterations == 0 {
            return false;
        }
        match derive_keys(hash, password, &self.salt, self.iterations) {
            Ok(keys) => bool::from(keys.stored_key.ct_eq(&self.stored_key)),
            Err(_) => false,
        }
    }

    /// Serialises as `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`
    /// (base64 fields; the format PostgreSQL uses).
    pub fn encode(&self, hash: ScramHash) -> String {
        format!(
            "{}${}:{}${}:{}",
            hash.mechanism().name(),
            self.iterations,
            encode_std(&self.salt),
            encode_std(&self.stored_key),
            encode_std(&self.server_key)
        )
    }

    /// Parses the format written by [`encode`](Self::encode).
    pub fn parse(text: &str) -> Result<(ScramHash, Self), Error> {
        const BAD: Error = Error::Malformed("bad SCRAM verifier encoding");
        let mut parts = text.trim().split('$');
        let (Some(mech), Some(params), Some(keys), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(BAD);
        };
        let hash = Mechanism::from_name(mech)
            .and_then(ScramHash::from_mechanism)
            .ok_or(BAD)?;
        let (iterations, salt) = params.split_once(':').ok_or(BAD)?;
        let (stored, server) = keys.split_once(':').ok_or(BAD)?;
        let iterations: u32 = iterations.parse().map_err(|_| BAD)?;
        let verifier = ScramVerifier {
            salt: decode_std(salt)?,
            iterations,
            stored_key: decode_std(stored)?,
            server_key: decode_std(server)?,
        };
        if iterations == 0
            || verifier.stored_key.len() != hash.output_len()
            || verifier.server_key.len() != hash.output_len()
        {
            return Err(BAD);
        }
        Ok((hash, verifier))
    }
}

/// A fresh printable nonce (24 base64 characters, never `,`).
pub(crate) fn random_nonce() -> String {
    let mut bytes = [0u8; 18];
    rand::thread_rng().fill_bytes(&mut bytes);
    encode_std(&bytes)
}

/// `printable = %x21-2B / %x2D-7E` (RFC 5802 §7).
fn is_valid_nonce(nonce: &str) -> bool {
    !nonce.is_empty()
        && nonce
            .bytes()
            .all(|b| (0x21..=0x7E).contains(&b) && b != b',')
}

/// `saslname` encoding: `,` → `=2C`, `=` → `=3D`.
pub(crate) fn encode_saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// `saslname` decoding; rejects any other `=` sequence.
pub(crate) fn decode_saslname(name: &str) -> Result<String, Error> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(pos) = rest.find('=') {
        out.push_str(rest.get(..pos).unwrap_or(""));
        let tail = rest.get(pos..).unwrap_or("");
        if tail.starts_with("=2C") {
            out.push(',');
        } else if tail.starts_with("=3D") {
            out.push('=');
        } else {
            return Err(Error::Malformed("bad escape in saslname"));
        }
        rest = tail.get(3..).unwrap_or("");
    }
    out.push_str(rest);
    Ok(out)
}

/// Splits `attr=value`, checking the attribute letter.
fn attr<'a>(part: Option<&'a str>, name: char, what: &'static str) -> Result<&'a str, Error> {
    let part = part.ok_or(Error::Malformed(what))?;
    let mut chars = part.chars();
    if chars.next() == Some(name) && chars.next() == Some('=') {
        Ok(part.get(2..).unwrap_or(""))
    } else {
        Err(Error::Malformed(what))
    }
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

fn utf8(msg: &[u8]) -> Result<&str, Error> {
    core::str::from_utf8(msg).map_err(|_| Error::Malformed("SCRAM message is not UTF-8"))
}

enum ClientState {
    Initial,
    AwaitServerFirst,
    AwaitServerFinal { server_signature: Vec<u8> },
    Done,
    Failed,
}

/// The client side of one SCRAM exchange.
///
/// Call order: [`client_first`](Self::client_first) →
/// [`handle_server_first`](Self::handle_server_first) →
/// [`handle_server_final`](Self::handle_server_final).
pub struct ScramClient {
    hash: ScramHash,
    config: ScramConfig,
    password: Secret<String>,
    gs2_header: String,
    client_first_bare: String,
    nonce: String,
    state: ClientState,
}

impl fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramClient")
            .field("hash", &self.hash)
            .field("client_first_bare", &self.client_first_bare)
            .finish_non_exhaustive()
    }
}

impl ScramClient {
    /// Prepares an exchange. `nonce` is the client nonce (`None`: a fresh
    /// random one; fixed values are for tests). The user name and password
    /// go through SASLprep here, so errors surface early.
    pub fn new(
        hash: ScramHash,
        username: &str,
        password: &str,
        authzid: Option<&str>,
        nonce: Option<String>,
        config: ScramConfig,
    ) -> Result<Self, Error> {
        let user = saslprep(username)?;
        if user.is_empty() {
            return Err(Error::MissingCredential("user name"));
        }
        saslprep(password)?;
        let nonce = nonce.unwrap_or_else(random_nonce);
        if !is_valid_nonce(&nonce) {
            return Err(Error::Malformed("invalid client nonce"));
        }
        let gs2_header = match authzid {
            Some(a) if !a.is_empty() => format!("n,a={},", encode_saslname(&saslprep(a)?)),
            _ => "n,,".to_owned(),
        };
        let client_first_bare = format!("n={},r={}", encode_saslname(&user), nonce);
        Ok(ScramClient {
            hash,
            config,
            password: Secret::new(password.to_owned()),
            gs2_header,
            client_first_bare,
            nonce,
            state: ClientState::Initial,
        })
    }

    /// The client-first-message (`n,,n=user,r=nonce`).
    pub fn client_first(&mut self) -> Result<Vec<u8>, Error> {
        match self.state {
            ClientState::Initial => {
                self.state = ClientState::AwaitServerFirst;
                Ok(format!("{}{}", self.gs2_header, self.client_first_bare).into_bytes())
            }
            _ => Err(Error::InvalidState("SCRAM client-first already sent")),
        }
    }

    /// Processes server-first-message, returns client-final-message.
    pub fn handle_server_first(&mut self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        if !matches!(self.state, ClientState::AwaitServerFirst) {
            return Err(Error::InvalidState("not expecting SCRAM server-first"));
        }
        self.state = ClientState::Failed;
        let server_first = utf8(msg)?;
        if let Some(e) = server_first.strip_prefix("e=") {
            return Err(Error::ServerError(e.to_owned()));
        }
        let mut parts = server_first.split(',');
        let first = parts.next();
        if first.is_some_and(|p| p.starts_with("m=")) {
            return Err(Error::UnsupportedExtension);
        }
        let nonce = attr(first, 'r', "expected r= in server-first")?;
        let salt = attr(parts.next(), 's', "expected s= in server-first")?;
        let iterations = attr(parts.next(), 'i', "expected i= in server-first")?;
        if !is_valid_nonce(nonce) {
            return Err(Error::Malformed("invalid server nonce"));
        }
        if nonce.len() <= self.nonce.len() || !nonce.starts_with(self.nonce.as_str()) {
            return Err(Error::NonceMismatch);
        }
        let salt = decode_std(salt)?;
        if salt.is_empty() {
            return Err(Error::Malformed("empty salt"));
        }
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| Error::Malformed("bad iteration count"))?;
        if iterations < self.config.min_iterations.max(1) || iterations > self.config.max_iterations
        {
            return Err(Error::IterationCount {
                got: iterations,
                min: self.config.min_iterations,
                max: self.config.max_iterations,
            });
        }
        let keys = derive_keys(self.hash, self.password.expose(), &salt, iterations)?;
        let without_proof = format!("c={},r={}", encode_std(self.gs2_header.as_bytes()), nonce);
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, server_first, without_proof
        );
        let client_signature = self.hash.hmac(&keys.stored_key, auth_message.as_bytes());
        let proof = xor(&keys.client_key, &client_signature);
        let server_signature = self.hash.hmac(&keys.server_key, auth_message.as_bytes());
        self.state = ClientState::AwaitServerFinal { server_signature };
        Ok(format!("{},p={}", without_proof, encode_std(&proof)).into_bytes())
    }

    /// Verifies server-final-message (`v=` or `e=`).
    pub fn handle_server_final(&mut self, msg: &[u8]) -> Result<(), Error> {
        let ClientState::AwaitServerFinal { server_signature } =
            core::mem::replace(&mut self.state, ClientState::Failed)
        else {
            return Err(Error::InvalidState("not expecting SCRAM server-final"));
        };
        let text = utf8(msg)?;
        let first = text.split(',').next().unwrap_or("");
        if let Some(e) = first.strip_prefix("e=") {
            return Err(Error::ServerError(e.to_owned()));
        }
        let v = first
            .strip_prefix("v=")
            .ok_or(Error::Malformed("expected v= in server-final"))?;
        let v = decode_std(v).map_err(|_| Error::ServerSignatureMismatch)?;
        if bool::from(v.ct_eq(&server_signature)) {
            self.state = ClientState::Done;
            Ok(())
        } else {
            Err(Error::ServerSignatureMismatch)
        }
    }

    /// True once the server signature has been verified.
    pub fn is_complete(&self) -> bool {
        matches!(self.state, ClientState::Done)
    }
}

enum ServerState {
    AwaitClientFirst,
    AwaitClientFinal(Box<PendingFinal>),
    Done,
}

struct PendingFinal {
    authcid: String,
    authzid: String,
    gs2_header: Vec<u8>,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    verifier: ScramVerifier,
    user_known: bool,
}

/// The server side of one SCRAM exchange.
///
/// Call order: [`handle_client_first`](Self::handle_client_first) →
/// [`handle_client_final`](Self::handle_client_final). Unknown users get a
/// made-up salt and fail at the proof, like users with a wrong password.
pub struct ScramServer {
    hash: ScramHash,
    config: ScramConfig,
    server_nonce: String,
    state: ServerState,
}

impl fmt::Debug for ScramServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramServer")
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

impl ScramServer {
    /// A server exchange with a fresh random server nonce.
    pub fn new(hash: ScramHash, config: ScramConfig) -> Self {
        Self::with_nonce(hash, config, random_nonce())
    }

    /// A server exchange with a fixed server nonce (tests). An invalid nonce
    /// (empty, non-printable or containing `,`) is replaced by a random one.
    pub fn with_nonce(hash: ScramHash, config: ScramConfig, server_nonce: String) -> Self {
        let server_nonce = if is_valid_nonce(&server_nonce) {
            server_nonce
        } else {
            random_nonce()
        };
        ScramServer {
            hash,
            config,
            server_nonce,
            state: ServerState::AwaitClientFirst,
        }
    }

    /// Processes client-first-message, returns server-first-message.
    pub fn handle_client_first<A: Authenticator + ?Sized>(
        &mut self,
        auth: &A,
        msg: &[u8],
    ) -> Result<Vec<u8>, Error> {
        if !matches!(self.state, ServerState::AwaitClientFirst) {
            return Err(Error::InvalidState("not expecting SCRAM client-first"));
        }
        self.state = ServerState::Done;
        let text = utf8(msg)?;
        let (flag, rest) = text
            .split_once(',')
            .ok_or(Error::Malformed("missing gs2 header"))?;
        match flag {
            "n" | "y" => {}
            f if f.starts_with("p=") => return Err(Error::ChannelBindingUnsupported),
            _ => return Err(Error::Malformed("bad gs2-cbind-flag")),
        }
        let (authzid_part, bare) = rest
            .split_once(',')
            .ok_or(Error::Malformed("missing gs2 header"))?;
        let authzid = if authzid_part.is_empty() {
            String::new()
        } else {
            let raw = authzid_part
                .strip_prefix("a=")
                .ok_or(Error::Malformed("bad authzid in gs2 header"))?;
            let decoded = decode_saslname(raw)?;
            if decoded.is_empty() {
                return Err(Error::Malformed("empty authzid"));
            }
            saslprep(&decoded)?.into_owned()
        };
        let header_len = text.len() - bare.len();
        let gs2_header = text.get(..header_len).unwrap_or("").as_bytes().to_vec();
        let mut parts = bare.split(',');
        let first = parts.next();
        if first.is_some_and(|p| p.starts_with("m=")) {
            return Err(Error::UnsupportedExtension);
        }
        let user = attr(first, 'n', "expected n= in client-first")?;
        let client_nonce = attr(parts.next(), 'r', "expected r= in client-first")?;
        if !is_valid_nonce(client_nonce) {
            return Err(Error::Malformed("invalid client nonce"));
        }
        let authcid = saslprep(&decode_saslname(user)?)?.into_owned();
        if authcid.is_empty() {
            return Err(Error::Malformed("empty user name"));
        }

        let mut rng = rand::thread_rng();
        let iterations = self.config.min_iterations.max(1);
        let found = match auth.credentials(&authcid) {
            Some(Credentials::Password(pw)) => {
                ScramVerifier::generate(self.hash, pw.expose(), iterations, &mut rng).ok()
            }
            Some(creds) => creds
                .scram_verifier(self.hash)
                .filter(|v| v.iterations > 0)
                .cloned(),
            None => {
                // The work a known user's stored password would cost, so that the answer's
                // timing does not tell an unknown user from a known one.
                if auth.secret_kind() == crate::SecretKind::Plaintext {
                    let _ = ScramVerifier::generate(self.hash, "", iterations, &mut rng);
                }
                None
            }
        };
        let user_known = found.is_some();
        let verifier = found.unwrap_or_else(|| {
            let mut salt = vec![0u8; 16];
            rng.fill_bytes(&mut salt);
            let mut key = vec![0u8; self.hash.output_len()];
            rng.fill_bytes(&mut key);
            ScramVerifier {
                salt,
                iterations,
                stored_key: key.clone(),
                server_key: key,
            }
        });
        let nonce = format!("{client_nonce}{}", self.server_nonce);
        let server_first = format!(
            "r={},s={},i={}",
            nonce,
            encode_std(&verifier.salt),
            verifier.iterations
        );
        self.state = ServerState::AwaitClientFinal(Box::new(PendingFinal {
            authcid,
            authzid,
            gs2_header,
            client_first_bare: bare.to_owned(),
            server_first: server_first.clone(),
            nonce,
            verifier,
            user_known,
        }));
        Ok(server_first.into_bytes())
    }

    /// Processes client-final-message; on success returns the
    /// server-final-message (`v=...`) and the outcome.
    pub fn handle_client_final<A: Authenticator + ?Sized>(
        &mut self,
        auth: &A,
        msg: &[u8],
    ) -> Result<(Vec<u8>, Authenticated), Error> {
        let ServerState::AwaitClientFinal(pending) =
            core::mem::replace(&mut self.state, ServerState::Done)
        else {
            return Err(Error::InvalidState("not expecting SCRAM client-final"));
        };
        let text = utf8(msg)?;
        let idx = text
            .rfind(",p=")
            .ok_or(Error::Malformed("missing proof in client-final"))?;
        let without_proof = text.get(..idx).unwrap_or("");
        let proof = decode_std(text.get(idx + 3..).unwrap_or(""))?;
        let mut parts = without_proof.split(',');
        let cbind = attr(parts.next(), 'c', "expected c= in client-final")?;
        let nonce = attr(parts.next(), 'r', "expected r= in client-final")?;
        if decode_std(cbind)? != pending.gs2_header {
            return Err(Error::Malformed("channel binding data mismatch"));
        }
        if nonce != pending.nonce {
            return Err(Error::NonceMismatch);
        }
        if proof.len() != self.hash.output_len() {
            return Err(Error::AuthenticationFailed);
        }
        let auth_message = format!(
            "{},{},{}",
            pending.client_first_bare, pending.server_first, without_proof
        );
        let verifier = &pending.verifier;
        let client_signature = self
            .hash
            .hmac(&verifier.stored_key, auth_message.as_bytes());
        let mut client_key = xor(&proof, &client_signature);
        let computed = self.hash.hash(&client_key);
        client_key.zeroize();
        let proof_ok = bool::from(computed.ct_eq(&verifier.stored_key));
        if !(proof_ok && pending.user_known) {
            return Err(Error::AuthenticationFailed);
        }
        if !auth.authorize(&pending.authcid, &pending.authzid) {
            return Err(Error::AuthorizationFailed);
        }
        let server_signature = self
            .hash
            .hmac(&verifier.server_key, auth_message.as_bytes());
        let outcome = Authenticated::new(
            self.hash.mechanism(),
            pending.authcid.clone(),
            &pending.authzid,
        );
        Ok((
            format!("v={}", encode_std(&server_signature)).into_bytes(),
            outcome,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StaticAuthenticator;

    #[test]
    fn saslname_codec() {
        assert_eq!(encode_saslname("a,b=c"), "a=2Cb=3Dc");
        assert_eq!(decode_saslname("a=2Cb=3Dc").unwrap(), "a,b=c");
        assert!(decode_saslname("a=2").is_err());
        assert!(decode_saslname("a=41").is_err());
        assert!(decode_saslname("=").is_err());
    }

    #[test]
    fn verifier_encoding_round_trip() {
        let v = ScramVerifier::derive(ScramHash::Sha1, "pencil", b"salt", 4096).unwrap();
        let text = v.encode(ScramHash::Sha1);
        assert!(text.starts_with("SCRAM-SHA-1$4096:"));
        let (hash, back) = ScramVerifier::parse(&text).unwrap();
        assert_eq!(hash, ScramHash::Sha1);
        assert_eq!(back, v);
        assert!(!format!("{v:?}").contains(&encode_std(&v.stored_key)));
        for bad in [
            "",
            "SCRAM-SHA-1$x:c2FsdA==$a:b",
            "PLAIN$1:c2FsdA==$AA==:AA==",
            "a$b$c$d",
        ] {
            assert!(ScramVerifier::parse(bad).is_err(), "{bad}");
        }
        assert!(ScramVerifier::derive(ScramHash::Sha1, "p", b"s", 0).is_err());
    }

    #[test]
    fn server_rejects_gs2_variants() {
        let auth = StaticAuthenticator::new().with_user("user", "pencil");
        let mut s = ScramServer::new(ScramHash::Sha256, ScramConfig::default());
        assert_eq!(
            s.handle_client_first(&auth, b"p=tls-unique,,n=user,r=abc"),
            Err(Error::ChannelBindingUnsupported)
        );
        let mut s = ScramServer::new(ScramHash::Sha256, ScramConfig::default());
        assert_eq!(
            s.handle_client_first(&auth, b"n,,m=ext,n=user,r=abc"),
            Err(Error::UnsupportedExtension)
        );
        let mut s = ScramServer::new(ScramHash::Sha256, ScramConfig::default());
        assert!(s.handle_client_first(&auth, b"y,,n=user,r=abc").is_ok());
        let mut s = ScramServer::new(ScramHash::Sha256, ScramConfig::default());
        assert!(s.handle_client_first(&auth, b"x,,n=user,r=abc").is_err());
        let mut s = ScramServer::new(ScramHash::Sha256, ScramConfig::default());
        assert!(s.handle_client_first(&auth, b"n,,n=user,r=a,b").is_ok());
    }
}
