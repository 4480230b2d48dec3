//! The CAPA response (RFC 2449 §5, §6; RFC 2595 §4 STLS; RFC 5034 §5 SASL).

use mailwire_sasl::{Mechanism, parse_mechanism_list};

/// What a server said it can do, parsed from the lines of a `CAPA` response.
///
/// Unknown capabilities are kept in [`other`](Self::other). A server that does not know
/// `CAPA` (it answers `-ERR`) is described by `Capabilities::default()`: nothing assumed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// `TOP`
    pub top: bool,
    /// `USER`: USER/PASS is allowed now.
    pub user: bool,
    /// `SASL mech...`: the known mechanisms, in the server's order.
    pub sasl: Vec<Mechanism>,
    /// `SASL` listed names mailwire does not know (e.g. `GSSAPI`).
    pub sasl_unknown: Vec<String>,
    /// `RESP-CODES`
    pub resp_codes: bool,
    /// `AUTH-RESP-CODE` (RFC 3206)
    pub auth_resp_code: bool,
    /// `LOGIN-DELAY n`: minimum seconds between logins.
    pub login_delay: Option<u64>,
    /// `PIPELINING`. (`PIPELINE`, as Twisted writes it, is not the registered name and is
    /// kept in [`other`](Self::other).)
    pub pipelining: bool,
    /// `EXPIRE days|NEVER`: `Some(None)` for NEVER.
    pub expire: Option<Option<u64>>,
    /// `UIDL`
    pub uidl: bool,
    /// `IMPLEMENTATION text`
    pub implementation: Option<String>,
    /// `STLS` (RFC 2595)
    pub stls: bool,
    /// Every other capability line, as sent.
    pub other: Vec<String>,
}

impl Capabilities {
    /// Parses the lines of a CAPA response (without the status line and the `.`).
    ///
    /// ```
    /// use mailwire_pop3::proto::Capabilities;
    /// use mailwire_sasl::Mechanism;
    /// let caps = Capabilities::parse_lines(["TOP", "SASL CRAM-MD5 PLAIN GSSAPI", "STLS", "PIPELINING"]);
    /// assert!(caps.top && caps.stls && caps.pipelining);
    /// assert_eq!(caps.sasl, vec![Mechanism::CramMd5, Mechanism::Plain]);
    /// assert_eq!(caps.sasl_unknown, vec!["GSSAPI"]);
    /// ```
    pub fn parse_lines<I, S>(lines: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut caps = Self::default();
        for line in lines {
            let line = line.as_ref().trim_end();
            let (tag, args) = match line.split_once(' ') {
                Some((t, a)) => (t, a.trim()),
                None => (line, ""),
            };
            match tag.to_ascii_uppercase().as_str() {
                "TOP" => caps.top = true,
                "USER" => caps.user = true,
                "SASL" => {
                    caps.sasl = parse_mechanism_list(args);
                    caps.sasl_unknown = args
                        .split_ascii_whitespace()
                        .filter(|w| Mechanism::from_name(w).is_none())
                        .map(str::to_owned)
                        .collect();
                }
                "RESP-CODES" => caps.resp_codes = true,
                "AUTH-RESP-CODE" => caps.auth_resp_code = true,
                "LOGIN-DELAY" => {
                    caps.login_delay = args.split(' ').next().and_then(|n| n.parse().ok());
                }
                "PIPELINING" => caps.pipelining = true,
                "EXPIRE" => {
                    let word = args.split(' ').next().unwrap_or_default();
                    caps.expire = if word.eq_ignore_ascii_case("NEVER") {
                        Some(None)
                    } else {
                        word.parse().ok().map(Some)
                    };
                }
                "UIDL" => caps.uidl = true,
                "IMPLEMENTATION" => caps.implementation = Some(args.to_owned()),
                "STLS" => caps.stls = true,
                "" => {}
                _ => caps.other.push(line.to_owned()),
            }
        }
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2449_example() {
        let caps = Capabilities::parse_lines([
            "TOP",
            "USER",
            "SASL CRAM-MD5 KERBEROS_V4",
            "RESP-CODES",
            "LOGIN-DELAY 900",
            "PIPELINING",
            "EXPIRE 60",
            "UIDL",
            "IMPLEMENTATION Shlemazle-Plotz-v302",
        ]);
        assert!(caps.top && caps.user && caps.resp_codes && caps.pipelining && caps.uidl);
        assert_eq!(caps.sasl, vec![Mechanism::CramMd5]);
        assert_eq!(caps.sasl_unknown, vec!["KERBEROS_V4"]);
        assert_eq!(caps.login_delay, Some(900));
        assert_eq!(caps.expire, Some(Some(60)));
        assert_eq!(caps.implementation.as_deref(), Some("Shlemazle-Plotz-v302"));
        assert!(!caps.stls);
        let twisted = Capabilities::parse_lines(["PIPELINE", "EXPIRE NEVER", "STLS"]);
        assert!(!twisted.pipelining && twisted.stls);
        assert_eq!(twisted.expire, Some(None));
        assert_eq!(twisted.other, vec!["PIPELINE"]);
    }
}
