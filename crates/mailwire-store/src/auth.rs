//! The store as the SASL [`Authenticator`].

use mailwire_sasl::{Authenticator, Credentials, SecretKind};

use crate::store::Store;

impl Authenticator for Store {
    /// The credentials of the user `authcid` names (case-insensitive; `LOGIN@domain` resolves
    /// to LOGIN). Users created without credentials have none.
    fn credentials(&self, authcid: &str) -> Option<Credentials> {
        let login = self.resolve_login(authcid)?;
        self.credentials_of(&login)
    }

    fn secret_kind(&self) -> SecretKind {
        let users = self.inner.users.read().unwrap_or_else(|e| e.into_inner());
        let creds: Vec<&Credentials> = users
            .values()
            .filter_map(|u| u.credentials.as_ref())
            .collect();
        if creds.is_empty() {
            return if self.accepts_any_password() {
                SecretKind::VerifyOnly
            } else {
                SecretKind::Plaintext
            };
        }
        if creds.iter().all(|c| matches!(c, Credentials::Password(_))) {
            return SecretKind::Plaintext;
        }
        let all_have = |hash| {
            creds.iter().all(|c| match c {
                Credentials::Password(_) => true,
                other => other.scram_verifier(hash).is_some(),
            })
        };
        SecretKind::ScramVerifiers {
            sha1: all_have(mailwire_sasl::ScramHash::Sha1),
            sha256: all_have(mailwire_sasl::ScramHash::Sha256),
        }
    }

    /// With [`Store::set_accept_any_password`], every non-empty user name and password
    /// passes (the server then creates the user with
    /// [`Store::create_user_if_missing`]).
    fn verify_plain(&self, authcid: &str, password: &str) -> bool {
        if self.accepts_any_password() {
            return !authcid.is_empty();
        }
        mailwire_sasl::verify_or_pretend(self.credentials(authcid), self.secret_kind(), password)
    }
}
