//! Faults on request (chaos): rules that make the SMTP, Submission and LMTP listeners answer
//! a stage with a reply code, wait, or drop the connection, with a probability. Set in
//! `--config` (`[[fault]]`) and through the API (`/api/v1/faults`), seen at `GET`, cleared by
//! `DELETE`.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use mailwire_smtp::proto::{
    EnhancedCode, Envelope, ForwardPath, MailParams, RcptParams, Reply, ReversePath,
};
use mailwire_smtp::server::{ConnectionInfo, Fault, Policy, Stage};
use serde::{Deserialize, Serialize};

/// One fault rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// `smtp` (every SMTP, SMTPS, Submission and LMTP listener). The only protocol with
    /// faults so far.
    pub protocol: String,
    /// `connect`, `mail`, `rcpt` or `data`.
    pub stage: String,
    /// The reply to give instead, `CODE [x.y.z] text` with a 4xx or 5xx code.
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

impl FaultRule {
    /// Checks the rule; the error says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.protocol != "smtp" {
            return Err(format!(
                "protocol {:?}: only \"smtp\" has faults so far",
                self.protocol
            ));
        }
        stage(&self.stage)?;
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
            parse_reply(r)?;
        }
        if self.delay_ms.is_some_and(|d| d > MAX_DELAY_MS) {
            return Err(format!("delay_ms: at most {MAX_DELAY_MS}"));
        }
        Ok(())
    }

    fn fault(&self) -> Option<Fault> {
        if let Some(r) = &self.reply {
            return parse_reply(r).ok().map(Fault::Reply);
        }
        if let Some(d) = self.delay_ms {
            return Some(Fault::Delay(Duration::from_millis(d)));
        }
        self.drop.then_some(Fault::Drop)
    }
}

fn stage(s: &str) -> Result<Stage, String> {
    match s {
        "connect" => Ok(Stage::Connect),
        "mail" => Ok(Stage::Mail),
        "rcpt" => Ok(Stage::Rcpt),
        "data" => Ok(Stage::Data),
        other => Err(format!("stage {other:?}: one of connect, mail, rcpt, data")),
    }
}

/// `451 4.3.0 text` or `554 text`.
fn parse_reply(r: &str) -> Result<Reply, String> {
    let (code, rest) = r.trim().split_once(' ').unwrap_or((r.trim(), ""));
    let code: u16 = code
        .parse()
        .ok()
        .filter(|c| (400..600).contains(c))
        .ok_or_else(|| format!("reply {r:?}: it starts with a 4xx or 5xx code"))?;
    if rest.contains(['\r', '\n']) {
        return Err(format!("reply {r:?}: one line"));
    }
    let (enhanced, text) = match EnhancedCode::parse_prefix(rest) {
        Some((e, t)) => (Some(e), t),
        None => (None, rest),
    };
    let text = if text.is_empty() {
        "fault injected by mailwire"
    } else {
        text
    };
    Ok(Reply::new(code, enhanced, text))
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

    /// The first rule for `stage` of SMTP whose probability comes up.
    pub fn smtp(&self, at: Stage) -> Option<Fault> {
        let rules = self.rules.read().unwrap_or_else(|e| e.into_inner());
        rules
            .iter()
            .filter(|r| r.protocol == "smtp" && stage(&r.stage).is_ok_and(|s| s == at))
            .find(|r| r.probability >= 1.0 || fastrand::f64() < r.probability)
            .and_then(FaultRule::fault)
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
}
