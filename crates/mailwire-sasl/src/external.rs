//! EXTERNAL (RFC 4422 appendix A): the identity comes from outside SASL (a
//! TLS client certificate, a Unix socket peer...); the client only sends an
//! optional authorization identity.

use crate::Error;

/// Validates the client's message: an authzid (UTF-8, no NUL), empty when
/// the client wants to act as the external identity itself.
pub fn parse_authzid(msg: &[u8]) -> Result<&str, Error> {
    let text =
        core::str::from_utf8(msg).map_err(|_| Error::Malformed("EXTERNAL authzid is not UTF-8"))?;
    if text.contains('\0') {
        return Err(Error::Malformed("NUL in EXTERNAL authzid"));
    }
    Ok(text)
}
