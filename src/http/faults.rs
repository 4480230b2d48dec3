//! Faults on request (chaos): rules that make the SMTP, Submission and LMTP listeners answer
//! a stage (connect, MAIL, RCPT, DATA, AUTH) with a reply code, wait, or drop the connection,
//! and the IMAP and POP3 listeners do the same at login, with a probability. Set in
//! `--config` (`[[fault]]`) and through the API (`/api/v1/faults`), seen at `GET`, cleared by
//! `DELETE`.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use mailwire_imap::proto::server::{Failure, FailureKind};
use mailwire_net::LoginFaults;
use mailwire_pop3::proto::Status;
use mailwire_smtp::proto::{
    EnhancedCode, Envelope, ForwardPath, MailParams, RcptParams, Reply, ReversePath,
};
use mailwire_smtp::server::{ConnectionInfo, Fault, Policy, Stage};
use serde::{Deserialize, Serialize};

/// One fault rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// `smtp` (every SMTP, SMTPS, Submission and LMTP listener), `imap` (IMAP and IMAPS) or
    /// `pop3` (POP3 and POP3S).
    pub protocol: String,
    /// For `smtp`: `connect`, `mail`, `rcpt`, `data` or `auth`. For `imap` and `pop3`:
    /// `login` (a login whose credentials were right).
    pub stage: String,
    /// The answer to give instead. SMTP: `CODE [x.y.z] text` with a 4xx or 5xx code. IMAP:
    /// `NO [CODE] text` (CODE one of AUTHENTICATIONFAILED, UNAVAILABLE, LIMIT; UNAVAILABLE
    /// when none is given). POP3: `-ERR [CODE] text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// Wait this many milliseconds first, then go on as usual.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Close the connection without a word.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drop: bool,
    /// How often the rule applies, 0 to 1 (default 1: always).
    #[serde(default = "one")]
    pub probability: f64,
}

fn one() -> f64 {
    1.0
}

/// The longest delay a rule may ask for.
pub const MAX_DELAY_MS: u64 = 600_000;

/// What a fault of one protocol refuses with, parsed from a rule's `reply`.
trait Refusal: Sized {
    fn parse(reply: &str) -> Result<Self, String>;
}

impl Refusal for Reply {
    fn parse(reply: &str) -> Result<Self, String> {
        parse_smtp_reply(reply)
    }
}

impl Refusal for Failure {
    fn parse(reply: &str) -> Result<Self, String> {
        parse_imap_reply(reply)
    }
}

impl Refusal for Status {
    fn parse(reply: &str) -> Result<Self, String> {
        parse_pop3_reply(reply)
    }
}

impl FaultRule {
    /// Checks the rule; the error says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        match self.protocol.as_str() {
            "smtp" => {
                smtp_stage(&self.stage)?;
            }
            "imap" | "pop3" => {
                if self.stage != "login" {
                    return Err(format!(
                        "stage {:?}: {} has faults at \"login\" only",
                        self.stage, self.protocol
                    ));
                }
            }
            other => {
                return Err(format!(
                    "protocol {other:?}: one of \"smtp\", \"imap\", \"pop3\""
                ));
            }
        }
        let actions = usize::from(self.reply.is_some())
            + usize::from(self.delay_ms.is_some())
            + usize::from(self.drop);
        if actions != 1 {
            return Err("give exactly one of reply, delay_ms, drop".into());
        }
        if !(0.0..=1.0).contains(&self.probability) || self.probability.is_nan() {
            return Err(format!("probability {}: between 0 and 1", self.probability));
        }
        if let Some(r) = &self.reply {
            match self.protocol.as_str() {
                "smtp" => parse_smtp_reply(r).map(drop)?,
                "imap" => parse_imap_reply(r).map(drop)?,
                _ => parse_pop3_reply(r).map(drop)?,
            }
        }
        if self.delay_ms.is_some_and(|d| d > MAX_DELAY_MS) {
            return Err(format!("delay_ms: at most {MAX_DELAY_MS}"));
        }
        Ok(())
    }

    fn fault<R: Refusal>(&self) -> Option<mailwire_net::Fault<R>> {
        if let Some(r) = &self.reply {
            return R::parse(r).ok().map(mailwire_net::Fault::Reply);
        }
        if let Some(d) = self.delay_ms {
            return Some(mailwire_net::Fault::Delay(Duration::from_millis(d)));
        }
        self.drop.then_some(mailwire_net::Fault::Drop)
    }
}

fn smtp_stage(s: &str) -> Result<Stage, String> {
    match s {
        "connect" => Ok(Stage::Connect),
        "mail" => Ok(Stage::Mail),
        "rcpt" => Ok(Stage::Rcpt),
        "data" => Ok(Stage::Data),
        "auth" => Ok(Stage::Auth),
        other => Err(format!(
            "stage {other:?}: one of connect, mail, rcpt, data, auth"
        )),
    }
}

/// `451 4.3.0 text` or `554 text`.
fn parse_smtp_reply(r: &str) -> Result<Reply, String> {
    let (code, rest) = r.trim().split_once(' ').unwrap_or((r.trim(), ""));
    let code: u16 = code
        .parse()
        .ok()
        .filter(|c| (400..600).contains(c))
        .ok_or_else(|| format!("reply {r:?}: it starts with a 4xx or 5xx code"))?;
    one_line(r)?;
    let (enhanced, text) = match EnhancedCode::parse_prefix(rest) {
        Some((e, t)) => (Some(e), t),
        None => (None, rest),
    };
    Ok(Reply::new(code, enhanced, or_default(text)))
}

/// `NO [AUTHENTICATIONFAILED] text`, `[LIMIT] text`, `NO text`.
fn parse_imap_reply(r: &str) -> Result<Failure, String> {
    one_line(r)?;
    let t = r.trim();
    let t = t
        .strip_prefix("NO ")
        .or_else(|| t.strip_prefix("no "))
        .unwrap_or(if t.eq_ignore_ascii_case("NO") { "" } else { t })
        .trim_start();
    let (kind, text) = match t.strip_prefix('[') {
        Some(rest) => {
            let (code, text) = rest
                .split_once(']')
                .ok_or_else(|| format!("reply {r:?}: the code has no closing ]"))?;
            let kind = match code.to_ascii_uppercase().as_str() {
                "AUTHENTICATIONFAILED" => FailureKind::AuthenticationFailed,
                "UNAVAILABLE" => FailureKind::Unavailable,
                "LIMIT" => FailureKind::Limit,
                _ => {
                    return Err(format!(
                        "reply {r:?}: the code is one of AUTHENTICATIONFAILED, UNAVAILABLE, LIMIT"
                    ));
                }
            };
            (kind, text.trim_start())
        }
        None => (FailureKind::Unavailable, t),
    };
    Ok(Failure::new(kind, or_default(text)))
}

/// `-ERR [SYS/TEMP] text`, `-ERR text`.
fn parse_pop3_reply(r: &str) -> Result<Status, String> {
    one_line(r)?;
    let t = r.trim();
    if t.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("+OK")) {
        return Err(format!("reply {r:?}: a fault answers -ERR"));
    }
    let line = if t.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("-ERR")) {
        t.to_owned()
    } else {
        format!("-ERR {t}")
    };
    let st = Status::parse(line.as_bytes()).map_err(|e| format!("reply {r:?}: {e}"))?;
    if st.is_ok() {
        return Err(format!("reply {r:?}: a fault answers -ERR"));
    }
    Ok(match (st.text().is_empty(), st.code()) {
        (false, _) => st,
        (true, Some(code)) => Status::err_code(code.clone(), or_default("")),
        (true, None) => Status::err(or_default("")),
    })
}

fn one_line(r: &str) -> Result<(), String> {
    if r.contains(['\r', '\n']) {
        return Err(format!("reply {r:?}: one line"));
    }
    Ok(())
}

fn or_default(text: &str) -> &str {
    if text.is_empty() {
        "fault injected by mailwire"
    } else {
        text
    }
}

/// The rules in force; cheap to clone, every clone the same.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    rules: Arc<RwLock<Vec<FaultRule>>>,
}

impl Faults {
    /// The rules in force.
    pub fn list(&self) -> Vec<FaultRule> {
        self.rules.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Adds a rule (checked first).
    pub fn add(&self, rule: FaultRule) -> Result<(), String> {
        rule.validate()?;
        self.rules
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(rule);
        Ok(())
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.rules
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The first rule of `protocol` at `stage` whose probability comes up.
    fn pick<R: Refusal>(&self, protocol: &str, stage: &str) -> Option<mailwire_net::Fault<R>> {
        let rules = self.rules.read().unwrap_or_else(|e| e.into_inner());
        rules
            .iter()
            .filter(|r| r.protocol == protocol && r.stage == stage)
            .find(|r| r.probability >= 1.0 || fastrand::f64() < r.probability)
            .and_then(FaultRule::fault)
    }

    /// The fault for `stage` of SMTP, if a rule's probability comes up.
    pub fn smtp(&self, at: Stage) -> Option<Fault> {
        let stage = match at {
            Stage::Connect => "connect",
            Stage::Mail => "mail",
            Stage::Rcpt => "rcpt",
            Stage::Data => "data",
            Stage::Auth => "auth",
        };
        self.pick("smtp", stage)
    }

    /// The fault for an IMAP login, if a rule's probability comes up.
    pub fn imap_login(&self) -> Option<mailwire_net::Fault<Failure>> {
        self.pick("imap", "login")
    }

    /// The fault for a POP3 login, if a rule's probability comes up.
    pub fn pop3_login(&self) -> Option<mailwire_net::Fault<Status>> {
        self.pick("pop3", "login")
    }

    /// The IMAP server's login hook over these rules
    /// ([`mailwire_imap::server::Server::with_login_faults`]).
    pub fn imap_hook(&self) -> LoginFaults<Failure> {
        let f = self.clone();
        Arc::new(move |_: SocketAddr, _: &str| f.imap_login())
    }

    /// The POP3 server's login hook over these rules
    /// ([`mailwire_pop3::server::Server::with_login_faults`]).
    pub fn pop3_hook(&self) -> LoginFaults<Status> {
        let f = self.clone();
        Arc::new(move |_: SocketAddr, _: &str| f.pop3_login())
    }
}

/// A [`Policy`] with the faults in front of another.
#[derive(Debug, Clone)]
pub struct FaultPolicy<P> {
    inner: P,
    faults: Faults,
}

impl<P> FaultPolicy<P> {
    /// `inner`, with `faults` applied first.
    pub fn new(inner: P, faults: Faults) -> Self {
        Self { inner, faults }
    }
}

impl<P: Policy> Policy for FaultPolicy<P> {
    fn check_mail(
        &self,
        info: &ConnectionInfo,
        from: &ReversePath<'_>,
        params: &MailParams<'_>,
    ) -> impl Future<Output = Result<(), Reply>> + Send {
        self.inner.check_mail(info, from, params)
    }

    fn check_rcpt(
        &self,
        info: &ConnectionInfo,
        envelope: &Envelope,
        to: &ForwardPath<'_>,
        params: &RcptParams<'_>,
    ) -> impl Future<Output = Result<(), Reply>> + Send {
        self.inner.check_rcpt(info, envelope, to, params)
    }

    fn fault(&self, stage: Stage, info: &ConnectionInfo) -> Option<Fault> {
        self.faults
            .smtp(stage)
            .or_else(|| self.inner.fault(stage, info))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: &str) -> FaultRule {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn rules_are_checked() {
        assert!(
            rule(r#"{"protocol":"smtp","stage":"rcpt","reply":"451 4.3.0 try later"}"#)
                .validate()
                .is_ok()
        );
        for bad in [
            r#"{"protocol":"imap","stage":"rcpt","drop":true}"#,
            r#"{"protocol":"nntp","stage":"login","drop":true}"#,
            r#"{"protocol":"imap","stage":"login","reply":"NO [TRYCREATE] x"}"#,
            r#"{"protocol":"pop3","stage":"login","reply":"+OK fine"}"#,
            r#"{"protocol":"pop3","stage":"auth","drop":true}"#,
            r#"{"protocol":"smtp","stage":"helo","drop":true}"#,
            r#"{"protocol":"smtp","stage":"rcpt"}"#,
            r#"{"protocol":"smtp","stage":"rcpt","drop":true,"delay_ms":5}"#,
            r#"{"protocol":"smtp","stage":"rcpt","reply":"250 ok"}"#,
            r#"{"protocol":"smtp","stage":"rcpt","reply":"abc"}"#,
            r#"{"protocol":"smtp","stage":"rcpt","drop":true,"probability":1.5}"#,
            r#"{"protocol":"smtp","stage":"rcpt","delay_ms":99999999}"#,
        ] {
            assert!(rule(bad).validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn probability_zero_never_and_one_always() {
        let f = Faults::default();
        f.add(rule(
            r#"{"protocol":"smtp","stage":"mail","drop":true,"probability":0}"#,
        ))
        .unwrap();
        assert!((0..1000).all(|_| f.smtp(Stage::Mail).is_none()));
        f.clear();
        f.add(rule(
            r#"{"protocol":"smtp","stage":"mail","reply":"421 4.7.0 bye"}"#,
        ))
        .unwrap();
        let Some(Fault::Reply(r)) = f.smtp(Stage::Mail) else {
            panic!()
        };
        assert_eq!(r.code(), 421);
        assert!(f.smtp(Stage::Rcpt).is_none());
        f.clear();
        f.add(rule(
            r#"{"protocol":"smtp","stage":"data","drop":true,"probability":0.5}"#,
        ))
        .unwrap();
        let hits = (0..4000).filter(|_| f.smtp(Stage::Data).is_some()).count();
        assert!((1600..2400).contains(&hits), "{hits} of 4000 at 0.5");
    }

    #[test]
    fn imap_and_pop3_login_replies() {
        let f = parse_imap_reply("NO [AUTHENTICATIONFAILED] go away").unwrap();
        assert_eq!(
            (f.kind, f.text.as_str()),
            (FailureKind::AuthenticationFailed, "go away")
        );
        let f = parse_imap_reply("[limit] too many").unwrap();
        assert_eq!((f.kind, f.text.as_str()), (FailureKind::Limit, "too many"));
        let f = parse_imap_reply("NO").unwrap();
        assert_eq!(f.kind, FailureKind::Unavailable);
        assert_eq!(f.text, "fault injected by mailwire");
        assert!(parse_imap_reply("NO [ALERT] x").is_err());
        assert!(parse_imap_reply("NO [LIMIT x").is_err());
        assert!(parse_imap_reply("NO x\r\n* BYE").is_err());

        let st = parse_pop3_reply("-ERR [SYS/TEMP] later").unwrap();
        assert_eq!(st.to_string(), "-ERR [SYS/TEMP] later");
        let st = parse_pop3_reply("[AUTH] no").unwrap();
        assert_eq!(st.to_string(), "-ERR [AUTH] no");
        let st = parse_pop3_reply("-ERR [IN-USE]").unwrap();
        assert_eq!(st.to_string(), "-ERR [IN-USE] fault injected by mailwire");
        assert!(parse_pop3_reply("+OK welcome").is_err());
        assert!(
            parse_pop3_reply("é").is_ok(),
            "no panic on a multi-byte start"
        );

        let f = Faults::default();
        f.add(rule(
            r#"{"protocol":"imap","stage":"login","reply":"NO [UNAVAILABLE] down"}"#,
        ))
        .unwrap();
        f.add(rule(r#"{"protocol":"pop3","stage":"login","drop":true}"#))
            .unwrap();
        f.add(rule(
            r#"{"protocol":"smtp","stage":"auth","reply":"454 4.7.0 later"}"#,
        ))
        .unwrap();
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(matches!(
            f.imap_hook()(peer, "alice"),
            Some(mailwire_net::Fault::Reply(Failure {
                kind: FailureKind::Unavailable,
                ..
            }))
        ));
        assert_eq!(
            f.pop3_hook()(peer, "alice"),
            Some(mailwire_net::Fault::Drop)
        );
        let Some(Fault::Reply(r)) = f.smtp(Stage::Auth) else {
            panic!()
        };
        assert_eq!(r.code(), 454);
        assert!(f.smtp(Stage::Mail).is_none());
    }
}
