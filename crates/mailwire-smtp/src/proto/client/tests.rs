//! The client session against scripted server replies, line by line.

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use mailwire_codec::{DataConfig, DataReceiver, DataStatus};
use mailwire_sasl::{ClientCredentials, Mechanism};
use mailwire_tls::TlsPolicy;

use super::*;
use crate::proto::{Body, EnhancedCode, ForwardPath, Notify, Ret};

const EHLO_PIPE: &str =
    "250-mx.example Hello\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 1000\r\n";
const EHLO_PLAIN: &str = "250-mx.example Hello\r\n250-8BITMIME\r\n250 SIZE 1000\r\n";

/// A session and a fake clock.
struct H {
    s: ClientSession,
    now: Instant,
}

impl H {
    fn new(config: ClientConfig, tls: bool) -> Self {
        let mut h = Self {
            s: ClientSession::new(config, tls),
            now: Instant::now(),
        };
        assert_eq!(h.flights(), Vec::<String>::new());
        h
    }

    /// Plaintext, TLS disabled, greeted and EHLO answered with `ehlo`.
    fn ready(ehlo: &str) -> Self {
        Self::ready_with(plain_config(), ehlo)
    }

    fn ready_with(config: ClientConfig, ehlo: &str) -> Self {
        let mut h = Self::new(config, false);
        h.input("220 mx.example ESMTP\r\n");
        let hello = h.flights();
        assert_eq!(hello.len(), 1);
        assert!(hello[0].ends_with(" localhost\r\n"), "{hello:?}");
        h.input(ehlo);
        assert!(matches!(h.s.poll_event(), Some(Event::Established)));
        h
    }

    fn input(&mut self, bytes: &str) {
        self.s.handle_input(self.now, bytes.as_bytes());
    }

    fn input_bytes(&mut self, bytes: &[u8]) {
        self.s.handle_input(self.now, bytes);
    }

    /// Every flight waiting, one string each.
    fn flights(&mut self) -> Vec<String> {
        self.raw_flights()
            .into_iter()
            .map(|f| String::from_utf8_lossy(&f).into_owned())
            .collect()
    }

    fn raw_flights(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let mut buf = Vec::new();
            match self.s.poll_transmit(self.now, &mut buf) {
                Some(t) => {
                    assert_eq!(t.size, buf.len());
                    out.push(buf);
                }
                None => return out,
            }
        }
    }

    /// The one flight waiting.
    fn flight(&mut self) -> String {
        let f = self.flights();
        assert_eq!(f.len(), 1, "expected one flight: {f:?}");
        f.into_iter().next().unwrap_or_default()
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.s.poll_event()).collect()
    }

    fn report(&mut self) -> SendReport {
        let events = self.events();
        match events.as_slice() {
            [Event::TransactionCompleted { report, .. }, ..] => report.clone(),
            other => panic!("expected a completed transaction, got {other:?}"),
        }
    }

    fn failure(&mut self) -> Error {
        let events = self.events();
        match events.into_iter().find_map(|e| match e {
            Event::Failed(e) => Some(e),
            _ => None,
        }) {
            Some(e) => e,
            None => panic!("expected the session to fail"),
        }
    }
}

fn plain_config() -> ClientConfig {
    ClientConfig {
        tls_policy: TlsPolicy::Disabled,
        ..ClientConfig::default()
    }
}

fn env(from: &str, to: &[&str]) -> Envelope {
    Envelope::new(
        from.parse().unwrap(),
        to.iter().map(|t| t.parse::<ForwardPath>().unwrap()),
    )
}

const MSG: &[u8] = b"Subject: hi\r\n\r\nhello\r\n";

#[test]
fn pipelined_transaction_is_one_flight() {
    let mut h = H::ready(EHLO_PIPE);
    let m =
        h.s.enqueue_message(env("a@x.org", &["b@y.org", "c@y.org"]), MSG.to_vec());
    assert_eq!(
        h.flight(),
        "MAIL FROM:<a@x.org> SIZE=22\r\nRCPT TO:<b@y.org>\r\nRCPT TO:<c@y.org>\r\nDATA\r\n"
    );
    // Replies may arrive split anywhere.
    for b in b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n354 go\r\n" {
        h.input_bytes(&[*b]);
    }
    assert_eq!(h.flight(), "Subject: hi\r\n\r\nhello\r\n.\r\n");
    h.input("250 2.0.0 queued as X\r\n");
    let events = h.events();
    let [Event::TransactionCompleted { handle, report }] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(*handle, m);
    assert_eq!(report.mail.code(), 250);
    assert_eq!(report.recipients.len(), 2);
    assert_eq!(report.recipients[0].1.code(), 250);
    // No ENHANCEDSTATUSCODES announced: the code stays in the text.
    assert_eq!(report.recipients[0].1.text(), "2.0.0 queued as X");
    assert_eq!(report.recipients[1].1.code(), 550);
    assert_eq!(report.final_reply.as_ref().map(Reply::code), Some(250));
    assert!(!report.is_delivered_to_all());
    h.s.enqueue_quit();
    assert_eq!(h.flight(), "QUIT\r\n");
    h.input("221 bye\r\n");
    assert!(matches!(h.events().as_slice(), [Event::Closed]));
    assert!(h.s.is_closed());
}

#[test]
fn the_message_opens_the_next_group() {
    let mut h = H::ready(EHLO_PIPE);
    h.s.enqueue_message(env("a@x.org", &["b@y.org"]), b"one\r\n".to_vec());
    h.s.enqueue_message(env("a@x.org", &["c@y.org"]), b"two\r\n".to_vec());
    h.s.enqueue_quit();
    assert_eq!(
        h.flight(),
        "MAIL FROM:<a@x.org> SIZE=5\r\nRCPT TO:<b@y.org>\r\nDATA\r\n"
    );
    h.input("250 ok\r\n250 ok\r\n354 go\r\n");
    // Message 1, then MAIL/RCPT/DATA of message 2, in one write.
    assert_eq!(
        h.flight(),
        "one\r\n.\r\nMAIL FROM:<a@x.org> SIZE=5\r\nRCPT TO:<c@y.org>\r\nDATA\r\n"
    );
    h.input("250 one done\r\n250 ok\r\n250 ok\r\n354 go\r\n");
    assert_eq!(h.flight(), "two\r\n.\r\nQUIT\r\n");
    h.input("250 two done\r\n221 bye\r\n");
    let events = h.events();
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(matches!(&events[2], Event::Closed));
    for (i, e) in events[..2].iter().enumerate() {
        let Event::TransactionCompleted { report, .. } = e else {
            panic!("{e:?}")
        };
        assert!(report.is_delivered_to_all());
        let want = ["one done", "two done"][i];
        assert_eq!(report.recipients[0].1.text(), want);
    }
}

#[test]
fn rfc2920_all_recipients_refused_but_data_accepted() {
    let mut h = H::ready(EHLO_PIPE);
    h.s.enqueue_message(env("a@x.org", &["b@y.org", "c@y.org"]), MSG.to_vec());
    h.flight();
    h.input("250 ok\r\n550 no\r\n551 no\r\n354 go ahead anyway\r\n");
    // A lone "." : an empty message nobody receives.
    assert_eq!(h.flight(), ".\r\n");
    h.input("554 no valid recipients\r\n");
    let r = h.report();
    assert_eq!(r.delivered().count(), 0);
    assert_eq!(r.recipients[0].1.code(), 550);
    assert_eq!(r.recipients[1].1.code(), 551);
    // The transaction ended with the final reply: no RSET needed.
    h.s.enqueue_message(env("a@x.org", &["b@y.org"]), MSG.to_vec());
    assert!(h.flight().starts_with("MAIL FROM:"));
}

#[test]
fn rfc2920_data_refused_then_rset() {
    let mut h = H::ready(EHLO_PIPE);
    h.s.enqueue_message(env("a@x.org", &["b@y.org"]), MSG.to_vec());
    h.s.enqueue_message(env("a@x.org", &["c@y.org"]), MSG.to_vec());
    h.flight();
    h.input("250 ok\r\n550 5.1.1 unknown\r\n554 5.5.1 no valid recipients\r\n");
    let r = h.report();
    assert_eq!(r.final_reply.as_ref().map(Reply::code), Some(554));
    assert_eq!(r.recipients[0].1.code(), 550);
    // The server still holds the sender: RSET opens the next group.
    assert_eq!(
        h.flight(),
        "RSET\r\nMAIL FROM:<a@x.org> SIZE=22\r\nRCPT TO:<c@y.org>\r\nDATA\r\n"
    );
    h.input("250 reset\r\n250 ok\r\n250 ok\r\n354 go\r\n");
    assert!(h.flight().ends_with("\r\n.\r\n"));
    h.input("250 done\r\n");
    assert!(h.report().is_delivered_to_all());
}

#[test]
fn mail_refused_in_a_pipelined_group() {
    let mut h = H::ready(EHLO_PIPE);
    h.s.enqueue_message(env("a@x.org", &["b@y.org"]), MSG.to_vec());
    h.flight();
    h.input("553 sender refused\r\n503 need MAIL\r\n503 need MAIL\r\n");
    let r = h.report();
    assert_eq!(r.mail.code(), 553);
    assert_eq!(r.recipients[0].1.code(), 503);
    assert_eq!(r.final_reply.as_ref().map(Reply::code), Some(503));
    // No transaction was open: no RSET.
    h.s.enqueue_message(env("a@x.org", &["b@y.org"]), MSG.to_vec());
    assert!(h.flight().starts_with("MAIL "));
}

#[test]
fn without_pipelining_one_command_at_a_time() {
    let mut h = H::ready(EHLO_PLAIN);
    h.s.enqueue_message(
        env("a@x.org", &["b@y.org", "c@y.org", "d@y.org"]),
        MSG.to_vec(),
    );
    assert_eq!(h.flight(), "MAIL FROM:<a@x.org> SIZE=22\r\n");
    h.input("250 ok\r\n");
    assert_eq!(h.flight(), "RCPT TO:<b@y.org>\r\n");
    h.input("550 no\r\n");
    assert_eq!(h.flight(), "RCPT TO:<c@y.org>\r\n");
    h.input("250 ok\r\n");
    assert_eq!(h.flight(), "RCPT TO:<d@y.org>\r\n");
    h.input("250 ok\r\n");
    assert_eq!(h.flight(), "DATA\r\n");
    h.input("354 go\r\n");
    assert_eq!(h.flight(), "Subject: hi\r\n\r\nhello\r\n.\r\n");
    h.input("250 done\r\n");
    let r = h.report();
    assert_eq!(r.delivered().count(), 2);
    // All refused: no DATA, RSET before the next message, alone.
    h.s.enqueue_message(env("a@x.org", &["b@y.org"]), MSG.to_vec());
    h.s.enqueue_message(env("a@x.org", &["c@y.org"]), MSG.to_vec());
    assert_eq!(h.flight(), "MAIL FROM:<a@x.org> SIZE=22\r\n");
    h.input("250 ok\r\n");
    assert_eq!(h.flight(), "RCPT TO:<b@y.org>\r\n");
    h.input("550 no\r\n");
    assert_eq!(h.report().delivered().count(), 0);
    assert_eq!(h.flight(), "RSET\r\n");
    h.input("250 ok\r\n");
    assert_eq!(h.flight(), "MAIL FROM:<a@x.org> SIZE=22\r\n");
    // MAIL refused: nothing else for that message.
    h.input("451 try later\r\n");
    let r = h.report();
    assert_eq!(r.recipients[0].1.code(), 451);
    assert_eq!(h.flights(), Vec::<String>::new());
}

#[test]
fn starttls_response_injection_is_fatal() {
    let mut h = H::new(ClientConfig::default(), false);
    h.input("220 mx ESMTP\r\n");
    h.flight();
    h.input("250-mx\r\n250 STARTTLS\r\n");
    assert_eq!(h.flight(), "STARTTLS\r\n");
    h.input("220 go ahead\r\n250 fake\r\n");
    let events = h.events();
    assert!(
        !events.iter().any(|e| matches!(e, Event::StartTlsAccepted)),
        "{events:?}"
    );
    assert!(
        matches!(events.last(), Some(Event::Failed(Error::ResponseInjection))),
        "{events:?}"
    );
    assert!(h.s.is_closed());
    assert_eq!(h.flights(), Vec::<String>::new());
}

#[test]
fn starttls_injection_in_a_later_read_is_fatal_too() {
    let mut h = H::new(ClientConfig::default(), false);
    h.input("220 mx ESMTP\r\n");
    h.flight();
    h.input("250-mx\r\n250 STARTTLS\r\n");
    h.flight();
    // A partial line buffered with the go-ahead.
    h.input("220 go ahead\r\n2");
    assert!(matches!(h.failure(), Error::ResponseInjection));

    let mut h = H::new(ClientConfig::default(), false);
    h.input("220 mx ESMTP\r\n");
    h.flight();
    h.input("250-mx\r\n250 STARTTLS\r\n");
    h.flight();
    h.input("220 go ahead\r\n");
    assert!(matches!(h.events().as_slice(), [Event::StartTlsAccepted]));
    // Bytes before the driver ran the handshake.
    h.input("250 fake\r\n");
    assert!(matches!(h.failure(), Error::ResponseInjection));
}

#[test]
fn starttls_then_ehlo_again_with_capabilities_forgotten() {
    let config = ClientConfig {
        credentials: Some(ClientCredentials::password("alice", "secret")),
        ..ClientConfig::default()
    };
    let mut h = H::new(config, false);
    h.input("220 mx ESMTP\r\n");
    assert_eq!(h.flight(), "EHLO localhost\r\n");
    // Before TLS: PLAIN only (not usable in cleartext), and an extension lost after TLS.
    h.input("250-mx\r\n250-CHUNKING\r\n250-AUTH PLAIN\r\n250 STARTTLS\r\n");
    assert_eq!(h.flight(), "STARTTLS\r\n");
    h.input("220 2.0.0 ready\r\n");
    assert!(matches!(h.events().as_slice(), [Event::StartTlsAccepted]));
    assert_eq!(h.flights(), Vec::<String>::new());
    assert_eq!(h.s.poll_timeout(), None);
    h.s.handle_tls_established();
    assert!(h.s.is_tls());
    assert!(h.s.extensions().is_none());
    assert_eq!(h.flight(), "EHLO localhost\r\n");
    h.input("250-mx\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n");
    // PLAIN over TLS, with an initial response: \0alice\0secret.
    assert_eq!(h.flight(), "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
    h.input("235 2.7.0 ok\r\n");
    assert!(matches!(h.events().as_slice(), [Event::Established]));
    assert_eq!(h.s.authenticated(), Some(Mechanism::Plain));
    let ext = h.s.extensions().cloned().unwrap_or_default();
    assert!(!ext.chunking() && ext.pipelining());
}

#[test]
fn required_tls_without_starttls_fails_closed() {
    let mut h = H::new(ClientConfig::default(), false);
    h.input("220 mx ESMTP\r\n");
    h.flight();
    h.input("250-mx\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n");
    assert!(matches!(h.failure(), Error::StartTlsUnavailable));
    assert_eq!(h.flights(), Vec::<String>::new());
    // A message queued before is aborted, never sent in plaintext.
    let mut h = H::new(ClientConfig::default(), false);
    let m =
        h.s.enqueue_message(env("a@x.org", &["b@y.org"]), MSG.to_vec());
    h.input("220 mx ESMTP\r\n");
    h.flight();
    h.input("250 mx\r\n");
    let events = h.events();
    assert!(
        matches!(
            events.as_slice(),
            [Event::MessageFailed { handle, error: MessageError::Aborted }, Event::Failed(Error::StartTlsUnavailable)] if *handle == m
        ),
        "{events:?}"
    );
    // Refused STARTTLS: also fatal.
    let mut h = H::new(ClientConfig::default(), false);
    h.input("220 mx ESMTP\r\n");
    h.flight();
    h.input("250-mx\r\n250 STARTTLS\r\n");
    h.flight();
    h.input("454 4.7.0 TLS not available\r\n");
    assert!(matches!(h.failure(), Error::StartTlsRefused(r) if r.code() == 454));
}

#[test]
fn opportunistic_tls_carries_on_in_plaintext() {
    let config = ClientConfig {
        tls_policy: TlsPolicy::Opportunistic,
        ..ClientConfig::default()
    };
    let mut h = H::new(config.clone(), false);
    h.input("220 mx ESMTP\r\n");
    h.flight();
    h.input("250 mx\r\n");
    assert!(matches!(h.events().as_slice(), [Event::Established]));
    assert!(!h.s.is_tls());
    let mut h = H::new(config, false);
    h.input("220 mx ESMTP\r\n");
    h.flight();
    h.input("250-mx\r\n250 STARTTLS\r\n");
    assert_eq!(h.flight(), "STARTTLS\r\n");
    h.input("454 not now\r\n");
    assert!(matches!(h.events().as_slice(), [Event::Established]));
}

#[test]
fn implicit_tls_skips_starttls() {
    let mut h = H::new(ClientConfig::default(), true);
    h.input("220 mx ESMTP\r\n");
    h.flight();
    h.input("250-mx\r\n250 STARTTLS\r\n");
    assert!(matches!(h.events().as_slice(), [Event::Established]));
    assert_eq!(h.flights(), Vec::<String>::new());
}

#[test]
fn plain_is_never_sent_in_cleartext_unless_allowed() {
    let mut config = plain_config();
    config.credentials = Some(ClientCredentials::password("alice", "secret"));
    let mut h = H::new(config.clone(), false);
    h.input("220 mx\r\n");
    h.flight();
    h.input("250-mx\r\n250 AUTH PLAIN LOGIN\r\n");
    let e = h.failure();
    assert!(
        matches!(&e, Error::NoUsableMechanism { needs_tls: true, offered } if offered.len() == 2),
        "{e:?}"
    );
    assert!(e.to_string().contains("without TLS"));
    assert_eq!(h.flights(), Vec::<String>::new());

    config.allow_plaintext_auth = true;
    let mut h = H::new(config.clone(), false);
    h.input("220 mx\r\n");
    h.flight();
    h.input("250-mx\r\n250 AUTH LOGIN\r\n");
    // LOGIN: no initial response; answers the prompts.
    assert_eq!(h.flight(), "AUTH LOGIN\r\n");
    h.input("334 VXNlcm5hbWU6\r\n");
    assert_eq!(h.flight(), "YWxpY2U=\r\n");
    h.input("334 UGFzc3dvcmQ6\r\n");
    assert_eq!(h.flight(), "c2VjcmV0\r\n");
    h.input("235 ok\r\n");
    assert_eq!(h.s.authenticated(), Some(Mechanism::Login));

    // No AUTH at all: credentials were given, so that is an error too.
    let mut h = H::new(config, false);
    h.input("220 mx\r\n");
    h.flight();
    h.input("250 mx\r\n");
    assert!(matches!(h.failure(), Error::AuthUnavailable));
}

#[test]
fn auth_prefers_the_strongest_mechanism_and_cram_md5_works_in_cleartext() {
    let mut config = plain_config();
    config.credentials = Some(ClientCredentials::password("tim", "tanstaaftanstaaf"));
    let mut h = H::new(config.clone(), false);
    h.input("220 mx\r\n");
    h.flight();
    h.input("250-mx\r\n250 AUTH LOGIN PLAIN CRAM-MD5\r\n");
    assert_eq!(h.flight(), "AUTH CRAM-MD5\r\n");
    // RFC 2195 §2's example.
    h.input("334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n");
    assert_eq!(
        h.flight(),
        "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n"
    );
    h.input("535 5.7.8 bad credentials\r\n");
    assert!(matches!(h.failure(), Error::AuthFailed(r) if r.code() == 535));

    let mut h = H::new(config, false);
    h.input("220 mx\r\n");
    h.flight();
    h.input("250-mx\r\n250 AUTH PLAIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256\r\n");
    assert!(h.flight().starts_with("AUTH SCRAM-SHA-256 "));
}

#[test]
fn oauth_bearer_token_over_tls() {
    let config = ClientConfig {
        credentials: Some(ClientCredentials::oauth("alice@x.org", "tok")),
        ..ClientConfig::default()
    };
    let mut h = H::new(config, true);
    h.input("220 mx\r\n");
    h.flight();
    h.input("250-mx\r\n250 AUTH PLAIN XOAUTH2 OAUTHBEARER\r\n");
    let line = h.flight();
    let b64 = line
        .strip_prefix("AUTH OAUTHBEARER ")
        .and_then(|l| l.strip_suffix("\r\n"))
        .unwrap_or_else(|| panic!("{line}"));
    let raw = mailwire_sasl::wire::decode(b64).unwrap();
    assert_eq!(raw, b"n,a=alice@x.org,\x01auth=Bearer tok\x01\x01");
    h.input("235 ok\r\n");
    assert_eq!(h.s.authenticated(), Some(Mechanism::OAuthBearer));
}

#[test]
fn message_larger_than_size_is_refused_locally() {
    let mut h = H::ready(EHLO_PIPE);
    let big =
        h.s.enqueue_message(env("a@x.org", &["b@y.org"]), vec![b'x'; 999]);
    let ok =
        h.s.enqueue_message(env("a@x.org", &["b@y.org"]), MSG.to_vec());
    let events = h.events();
    assert!(
        matches!(events.as_slice(), [Event::MessageFailed { handle, error: MessageError::TooLarge { size: 1001, limit: 1000 } }] if *handle == big),
        "{events:?}"
    );
    // Nothing was sent for it; the next message goes out.
    assert!(h.flight().starts_with("MAIL FROM:<a@x.org> SIZE=22\r\n"));
    h.input("250 ok\r\n250 ok\r\n354 go\r\n");
    h.flight();
    h.input("250 ok\r\n");
    let events = h.events();
    assert!(
        matches!(events.as_slice(), [Event::TransactionCompleted { handle, .. }] if *handle == ok)
    );
}

#[test]
fn eight_bit_and_utf8_need_their_extensions() {
    let latin = b"Subject: x\r\n\r\ncaf\xc3\xa9\r\n".to_vec();
    let mut h = H::ready("250-mx\r\n250 PIPELINING\r\n");
    h.s.enqueue_message(env("a@x.org", &["b@y.org"]), latin.clone());
    h.s.enqueue_message(env("a@x.org", &["用户@例子.广告"]), MSG.to_vec());
    let events = h.events();
    assert!(
        matches!(
            events.as_slice(),
            [
                Event::MessageFailed {
                    error: MessageError::NeedsEightBitMime,
                    ..
                },
                Event::MessageFailed {
                    error: MessageError::NeedsSmtpUtf8 { .. },
                    ..
                }
            ]
        ),
        "{events:?}"
    );
    assert_eq!(h.flights(), Vec::<String>::new());

    let mut h = H::ready("250-mx\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n");
    h.s.enqueue_message(env("a@x.org", &["b@y.org"]), latin);
    assert_eq!(
        h.flight(),
        "MAIL FROM:<a@x.org> BODY=8BITMIME\r\nRCPT TO:<b@y.org>\r\nDATA\r\n"
    );
    h.input("250 ok\r\n250 ok\r\n354 go\r\n");
    h.flight();
    h.input("250 ok\r\n");
    h.report();
    h.s.enqueue_message(env("a@x.org", &["用户@例子.广告"]), MSG.to_vec());
    assert_eq!(
        h.flight(),
        "MAIL FROM:<a@x.org> SMTPUTF8\r\nRCPT TO:<用户@例子.广告>\r\nDATA\r\n"
    );
}

#[test]
fn dot_stuffing_leaves_no_early_terminator() {
    let mut h = H::ready(EHLO_PIPE);
    let nasty: &[u8] = b".starts with a dot\r\n\r\n.\r\nbare lf\n.\nbare cr\r.\rmixed\n.\r\n..\r\n.x\n\r.\r\n\r\n.";
    h.s.enqueue_message(env("a@x.org", &["b@y.org"]), nasty.to_vec());
    h.flight();
    h.input("250 ok\r\n250 ok\r\n354 go\r\n");
    let wire = h.raw_flights().concat();
    // Exactly one CRLF.CRLF, at the very end; no bare CR or LF anywhere.
    let pos: Vec<usize> = wire
        .windows(5)
        .enumerate()
        .filter(|(_, w)| *w == b"\r\n.\r\n")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        pos,
        [wire.len() - 5],
        "{:?}",
        String::from_utf8_lossy(&wire)
    );
    for (i, &b) in wire.iter().enumerate() {
        if b == b'\n' {
            assert_eq!(wire.get(i.wrapping_sub(1)), Some(&b'\r'), "bare LF at {i}");
        }
        if b == b'\r' {
            assert_eq!(wire.get(i + 1), Some(&b'\n'), "bare CR at {i}");
        }
    }
    // A strict server reads back the message with its line endings made CRLF.
    let mut got = Vec::new();
    let mut rx = DataReceiver::new(DataConfig::default());
    let DataStatus::Done { consumed, result } = rx.feed(&wire, &mut got) else {
        panic!("no terminator")
    };
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(consumed, wire.len());
    assert_eq!(got, mailwire_codec::normalise_line_endings(nasty));
}

#[test]
fn bdat_when_chunking_is_announced() {
    let ehlo = "250-mx\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250 SIZE\r\n";
    let mut h = H::ready(ehlo);
    h.s.enqueue_message(env("a@x.org", &["b@y.org"]), b"a\nb".to_vec());
    // One flight: MAIL, RCPT, BDAT LAST and the (normalised) message; no dot-stuffing.
    assert_eq!(
        h.flight(),
        "MAIL FROM:<a@x.org> SIZE=6\r\nRCPT TO:<b@y.org>\r\nBDAT 6 LAST\r\na\r\nb\r\n"
    );
    h.input("250 ok\r\n250 ok\r\n250 2.0.0 done\r\n");
    assert!(h.report().is_delivered_to_all());

    // Configured chunks, all pipelined.
    let config = ClientConfig {
        bdat_chunk_size: NonZeroUsize::new(4),
        ..plain_config()
    };
    let mut h = H::ready_with(config, ehlo);
    h.s.enqueue_message(env("a@x.org", &["b@y.org"]), b"0123456789\r\n".to_vec());
    assert_eq!(
        h.flight(),
        "MAIL FROM:<a@x.org> SIZE=12\r\nRCPT TO:<b@y.org>\r\nBDAT 4\r\n0123BDAT 4\r\n4567BDAT 4 LAST\r\n89\r\n"
    );
    h.input("250 ok\r\n250 ok\r\n250 4\r\n250 8\r\n250 12\r\n");
    assert!(h.report().is_delivered_to_all());

    // BINARYMIME: bytes unaltered, declared.
    let mut h = H::ready(ehlo);
    h.s.enqueue_message(
        env("a@x.org", &["b@y.org"]).with_body(Body::BinaryMime),
        b"\x00\r\xff\n".to_vec(),
    );
    assert_eq!(
        h.raw_flights().concat(),
        b"MAIL FROM:<a@x.org> SIZE=4 BODY=BINARYMIME\r\nRCPT TO:<b@y.org>\r\nBDAT 4 LAST\r\n\x00\r\xff\n"
    );
    // ...and refused where not announced.
    let mut h = H::ready(EHLO_PIPE);
    h.s.enqueue_message(
        env("a@x.org", &["b@y.org"]).with_body(Body::BinaryMime),
        b"x".to_vec(),
    );
    assert!(matches!(
        h.events().as_slice(),
        [Event::MessageFailed {
            error: MessageError::NeedsBinaryMime,
            ..
        }]
    ));
}

#[test]
fn bdat_failure_then_rset() {
    let ehlo = "250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n";
    let mut h = H::ready(ehlo);
    h.s.enqueue_message(env("a@x.org", &["b@y.org"]), MSG.to_vec());
    h.s.enqueue_message(env("a@x.org", &["b@y.org"]), MSG.to_vec());
    assert!(h.flight().starts_with("MAIL"));
    h.input("250 ok\r\n550 no\r\n554 no valid recipients\r\n");
    let r = h.report();
    assert_eq!(r.recipients[0].1.code(), 550);
    assert!(h.flight().starts_with("RSET\r\nMAIL"));

    // Without pipelining: chunk by chunk.
    let config = ClientConfig {
        bdat_chunk_size: NonZeroUsize::new(10),
        ..plain_config()
    };
    let mut h = H::ready_with(config, "250-mx\r\n250 CHUNKING\r\n");
    h.s.enqueue_message(env("a@x.org", &["b@y.org"]), MSG.to_vec());
    assert_eq!(h.flight(), "MAIL FROM:<a@x.org>\r\n");
    h.input("250 ok\r\n");
    h.flight();
    h.input("250 ok\r\n");
    assert_eq!(h.flight(), "BDAT 10\r\nSubject: h");
    h.input("250 ok\r\n");
    assert_eq!(h.flight(), "BDAT 10\r\ni\r\n\r\nhello");
    h.input("552 too big\r\n");
    let r = h.report();
    assert_eq!(r.final_reply.as_ref().map(Reply::code), Some(552));
    assert_eq!(r.delivered().count(), 0);
}

#[test]
fn dsn_parameters_only_when_announced() {
    let dsn_env = || {
        env("a@x.org", &["b@y.org"])
            .with_notify(Notify {
                success: true,
                failure: true,
                delay: false,
            })
            .with_ret(Ret::Headers)
            .with_envid("id+1")
    };
    let mut h = H::ready("250-mx\r\n250-PIPELINING\r\n250 DSN\r\n");
    h.s.enqueue_message(dsn_env(), MSG.to_vec());
    assert_eq!(
        h.flight(),
        "MAIL FROM:<a@x.org> RET=HDRS ENVID=id+2B1\r\nRCPT TO:<b@y.org> NOTIFY=SUCCESS,FAILURE\r\nDATA\r\n"
    );
    h.input("250 ok\r\n250 ok\r\n354 go\r\n");
    h.flight();
    h.input("250 ok\r\n");
    assert!(!h.report().dsn_dropped);

    let mut h = H::ready("250-mx\r\n250 PIPELINING\r\n");
    h.s.enqueue_message(dsn_env(), MSG.to_vec());
    assert_eq!(
        h.flight(),
        "MAIL FROM:<a@x.org>\r\nRCPT TO:<b@y.org>\r\nDATA\r\n"
    );
    h.input("250 ok\r\n250 ok\r\n354 go\r\n");
    h.flight();
    h.input("250 ok\r\n");
    assert!(h.report().dsn_dropped);
}

#[test]
fn caller_parameters_cannot_smuggle_commands() {
    let mut h = H::ready(EHLO_PIPE);
    let mut e = env("a@x.org", &["b@y.org"]);
    e.params.unknown.push(crate::proto::Unknown {
        keyword: "X-A".into(),
        value: Some("1\r\nRCPT TO:<evil@x.org>".into()),
    });
    h.s.enqueue_message(e, MSG.to_vec());
    assert!(matches!(
        h.events().as_slice(),
        [Event::MessageFailed {
            error: MessageError::InvalidParameter { .. },
            ..
        }]
    ));
    assert_eq!(h.flights(), Vec::<String>::new());
}

#[test]
fn lmtp_one_reply_per_accepted_recipient() {
    let config = ClientConfig {
        lmtp: true,
        ..plain_config()
    };
    let mut h = H::new(config, false);
    h.input("220 lmtp ready\r\n");
    assert_eq!(h.flight(), "LHLO localhost\r\n");
    h.input("250-lmtp\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n");
    assert!(matches!(h.events().as_slice(), [Event::Established]));
    h.s.enqueue_message(
        env("a@x.org", &["alice@x", "nobody@x", "bob@x"]),
        MSG.to_vec(),
    );
    h.s.enqueue_message(env("a@x.org", &["alice@x"]), MSG.to_vec());
    assert!(h.flight().ends_with("DATA\r\n"));
    h.input("250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 unknown user\r\n250 2.1.5 ok\r\n354 go\r\n");
    h.flight();
    // Two replies, one per accepted recipient, then the next message's group.
    h.input("250 2.0.0 <alice> saved\r\n");
    assert!(h.events().is_empty());
    h.input("452 4.2.2 <bob> over quota\r\n250 ok\r\n250 ok\r\n354 go\r\n");
    let r = h.report();
    let codes: Vec<u16> = r.recipients.iter().map(|(_, r)| r.code()).collect();
    assert_eq!(codes, [250, 550, 452]);
    assert_eq!(r.recipients[0].1.text(), "<alice> saved");
    assert_eq!(
        r.recipients[2].1.enhanced(),
        Some(EnhancedCode::new(4, 2, 2))
    );
    assert!(r.final_reply.is_none());
    h.flight();
    h.input("250 2.0.0 saved\r\n");
    assert!(h.report().is_delivered_to_all());
}

#[test]
fn lmtp_with_bdat() {
    let config = ClientConfig {
        lmtp: true,
        ..plain_config()
    };
    let mut h = H::new(config, false);
    h.input("220 lmtp\r\n");
    h.flight();
    h.input("250-lmtp\r\n250-PIPELINING\r\n250 CHUNKING\r\n");
    h.events();
    h.s.enqueue_message(env("a@x.org", &["alice@x", "bob@x"]), MSG.to_vec());
    assert!(h.flight().contains("BDAT 22 LAST\r\n"));
    h.input("250 ok\r\n250 ok\r\n250 ok\r\n250 alice\r\n");
    assert!(h.events().is_empty());
    h.input("550 bob\r\n");
    let r = h.report();
    assert_eq!(r.delivered().count(), 1);
    assert_eq!(r.recipients[1].1.text(), "bob");
}

#[test]
fn a_silent_or_stalled_server_times_out() {
    let config = ClientConfig {
        timeouts: Timeouts {
            greeting: Duration::from_secs(30),
            ..Timeouts::default()
        },
        ..plain_config()
    };
    let mut h = H::new(config, false);
    let start = h.now;
    assert_eq!(h.s.poll_timeout(), Some(start + Duration::from_secs(30)));
    h.s.handle_timeout(start + Duration::from_secs(29));
    assert!(h.events().is_empty());
    // Half a greeting does not restart the timer.
    h.now += Duration::from_secs(10);
    h.input("220-mx\r\n22");
    assert_eq!(h.s.poll_timeout(), Some(start + Duration::from_secs(30)));
    h.s.handle_timeout(start + Duration::from_secs(30));
    let e = h.failure();
    assert!(
        matches!(e, Error::Timeout { waiting_for: "the greeting", after } if after == Duration::from_secs(30))
    );

    // Each awaited reply has its own RFC 5321 limit.
    let mut h = H::ready(EHLO_PIPE);
    h.s.enqueue_message(env("a@x.org", &["b@y.org"]), MSG.to_vec());
    h.flight();
    assert_eq!(h.s.poll_timeout(), Some(h.now + Duration::from_secs(300)));
    h.input("250 ok\r\n250 ok\r\n");
    assert_eq!(h.s.poll_timeout(), Some(h.now + Duration::from_secs(120)));
    h.input("354 go\r\n");
    let mut buf = Vec::new();
    let t = h.s.poll_transmit(h.now, &mut buf);
    assert!(
        matches!(t, Some(Transmit { has_message_data: true, stall_timeout, .. }) if stall_timeout == Duration::from_secs(180))
    );
    // The write took a while: the termination timer starts once it is done.
    h.now += Duration::from_secs(100);
    assert!(h.s.poll_transmit(h.now, &mut buf).is_none());
    assert_eq!(h.s.poll_timeout(), Some(h.now + Duration::from_secs(600)));
    h.s.handle_timeout(h.now + Duration::from_secs(600));
    assert!(matches!(
        h.failure(),
        Error::Timeout {
            waiting_for: "the end of the message data",
            ..
        }
    ));
}

#[test]
fn closing_server_aborts_pending_messages() {
    let mut h = H::ready(EHLO_PIPE);
    let m =
        h.s.enqueue_message(env("a@x.org", &["b@y.org"]), MSG.to_vec());
    h.flight();
    h.input("250 ok\r\n421 4.3.2 shutting down\r\n");
    let events = h.events();
    assert!(
        matches!(
            events.as_slice(),
            [Event::MessageFailed { handle, error: MessageError::Aborted }, Event::Failed(Error::ServiceClosing(r))] if *handle == m && r.code() == 421
        ),
        "{events:?}"
    );

    let mut h = H::ready(EHLO_PIPE);
    h.s.enqueue_message(env("a@x.org", &["b@y.org"]), MSG.to_vec());
    h.flight();
    h.input("250 ok\r\n250 ok\r\n354 go\r\n");
    h.flight();
    h.s.handle_eof();
    let e = h.failure();
    assert!(e.to_string().contains("end of the message data"), "{e}");
    // Garbage is an error, not a guess.
    let mut h = H::ready(EHLO_PIPE);
    h.input("hello\r\n");
    assert!(matches!(h.failure(), Error::MalformedReply(_)));
    let mut h = H::ready(EHLO_PIPE);
    h.input("250 unsolicited\r\n");
    assert!(matches!(h.failure(), Error::UnexpectedReply(_)));
    let mut h = H::ready(EHLO_PIPE);
    h.input("250 bare lf\n");
    assert!(matches!(h.failure(), Error::ReplyLine(_)));
}

#[test]
fn helo_fallback_only_when_allowed() {
    let mut h = H::new(plain_config(), false);
    h.input("220 old\r\n");
    h.flight();
    h.input("500 what is EHLO\r\n");
    assert!(matches!(h.failure(), Error::Hello(_)));

    let config = ClientConfig {
        allow_helo_fallback: true,
        ..plain_config()
    };
    let mut h = H::new(config, false);
    h.input("220 old\r\n");
    h.flight();
    h.input("500 what is EHLO\r\n");
    assert_eq!(h.flight(), "HELO localhost\r\n");
    h.input("250 hi\r\n");
    assert!(matches!(h.events().as_slice(), [Event::Established]));
    h.s.enqueue_message(env("a@x.org", &["b@y.org"]), MSG.to_vec());
    // No extensions: no SIZE, no pipelining.
    assert_eq!(h.flight(), "MAIL FROM:<a@x.org>\r\n");

    // Under the default policy a HELO server cannot do STARTTLS: fail closed.
    let config = ClientConfig {
        allow_helo_fallback: true,
        ..ClientConfig::default()
    };
    let mut h = H::new(config, false);
    h.input("220 old\r\n");
    h.flight();
    h.input("502 no\r\n");
    h.flight();
    h.input("250 hi\r\n");
    assert!(matches!(h.failure(), Error::StartTlsUnavailable));
}

#[test]
fn greeting_refused() {
    let mut h = H::new(plain_config(), false);
    h.input("554 5.7.1 go away\r\n");
    assert!(matches!(h.failure(), Error::Greeting(r) if r.code() == 554));
}

#[test]
fn empty_recipient_list_is_refused() {
    let mut h = H::ready(EHLO_PIPE);
    h.s.enqueue_message(env("a@x.org", &[]), MSG.to_vec());
    assert!(matches!(
        h.events().as_slice(),
        [Event::MessageFailed {
            error: MessageError::NoRecipients,
            ..
        }]
    ));
}

/// RFC 5321 §4.5.3.1.10: recipients refused with `452` (too many recipients) while others were
/// delivered get the message in a further transaction; one report covers both.
#[test]
fn too_many_recipients_are_sent_again() {
    let mut h = H::ready(EHLO_PIPE);
    let m = h.s.enqueue_message(
        env("a@x.org", &["b@y.org", "c@y.org", "d@y.org", "e@y.org"]),
        MSG.to_vec(),
    );
    h.s.enqueue_message(env("a@x.org", &["z@y.org"]), b"next\r\n".to_vec());
    assert_eq!(
        h.flight(),
        "MAIL FROM:<a@x.org> SIZE=22\r\nRCPT TO:<b@y.org>\r\nRCPT TO:<c@y.org>\r\n\
         RCPT TO:<d@y.org>\r\nRCPT TO:<e@y.org>\r\nDATA\r\n"
    );
    h.input("250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n452 4.5.3 too many\r\n452 4.5.3 too many\r\n354 go\r\n");
    // The data, with the second queued message's commands behind it (RFC 2920).
    assert_eq!(
        h.flight(),
        "Subject: hi\r\n\r\nhello\r\n.\r\nMAIL FROM:<a@x.org> SIZE=6\r\nRCPT TO:<z@y.org>\r\nDATA\r\n"
    );
    h.input("250 queued 1\r\n");
    let events = h.events();
    assert!(events.is_empty(), "no report before the retry: {events:?}");
    h.input("250 ok\r\n250 ok\r\n354 go\r\n");
    // The second message's data, then the retry of the first: the two 452 recipients only.
    assert_eq!(
        h.flight(),
        "next\r\n.\r\nMAIL FROM:<a@x.org> SIZE=22\r\nRCPT TO:<d@y.org>\r\nRCPT TO:<e@y.org>\r\nDATA\r\n"
    );
    h.input("250 queued 2\r\n");
    assert!(matches!(
        h.events().as_slice(),
        [Event::TransactionCompleted { .. }]
    ));
    h.input("250 ok\r\n250 ok\r\n452 4.5.3 still too many\r\n354 go\r\n");
    assert_eq!(h.flight(), "Subject: hi\r\n\r\nhello\r\n.\r\n");
    h.input("250 queued 3\r\n");
    // Progress again (d delivered): e is tried a third time.
    assert_eq!(
        h.flight(),
        "MAIL FROM:<a@x.org> SIZE=22\r\nRCPT TO:<e@y.org>\r\nDATA\r\n"
    );
    h.input("250 ok\r\n250 ok\r\n354 go\r\n");
    assert_eq!(h.flight(), "Subject: hi\r\n\r\nhello\r\n.\r\n");
    h.input("250 queued 4\r\n");
    let events = h.events();
    let [Event::TransactionCompleted { handle, report }] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(*handle, m);
    assert_eq!(report.transactions, 3);
    let decided: Vec<(String, u16, String)> = report
        .recipients
        .iter()
        .map(|(p, r)| (p.to_string(), r.code(), r.text()))
        .collect();
    assert_eq!(
        decided,
        [
            ("<b@y.org>".to_owned(), 250, "queued 1".to_owned()),
            ("<c@y.org>".to_owned(), 550, "5.1.1 unknown".to_owned()),
            ("<d@y.org>".to_owned(), 250, "queued 3".to_owned()),
            ("<e@y.org>".to_owned(), 250, "queued 4".to_owned()),
        ]
    );
    assert_eq!(
        report.final_reply.as_ref().map(Reply::text),
        Some("queued 4".to_owned())
    );
    assert!(h.s.is_idle());
}

/// No retry without progress (every recipient 452, or the data refused), nor when disabled.
#[test]
fn too_many_recipients_without_progress_is_reported() {
    // Every recipient refused: RSET, report, nothing sent again.
    let mut h = H::ready(EHLO_PIPE);
    h.s.enqueue_message(env("a@x.org", &["b@y.org", "c@y.org"]), MSG.to_vec());
    h.flight();
    h.input("250 ok\r\n452 4.5.3 too many\r\n452 4.5.3 too many\r\n554 no valid recipients\r\n");
    let r = h.report();
    assert_eq!(r.transactions, 1);
    assert!(r.recipients.iter().all(|(_, r)| r.code() == 452));
    assert_eq!(h.flights(), Vec::<String>::new());
    // The next message starts with RSET and goes to its own recipients only.
    h.s.enqueue_message(env("a@x.org", &["z@y.org"]), b"n\r\n".to_vec());
    assert_eq!(
        h.flights().concat(),
        "RSET\r\nMAIL FROM:<a@x.org> SIZE=3\r\nRCPT TO:<z@y.org>\r\nDATA\r\n"
    );
    // The data refused after the end: nothing was delivered, nothing is sent again.
    let mut h = H::ready(EHLO_PIPE);
    h.s.enqueue_message(env("a@x.org", &["b@y.org", "c@y.org"]), MSG.to_vec());
    h.flight();
    h.input("250 ok\r\n250 ok\r\n452 4.5.3 too many\r\n354 go\r\n");
    h.flight();
    h.input("451 4.3.0 try later\r\n");
    let r = h.report();
    assert_eq!(r.transactions, 1);
    assert_eq!(r.recipients[1].1.code(), 452);
    assert_eq!(h.flights(), Vec::<String>::new());
    // Disabled: one transaction, the 452 reported.
    let mut h = H::ready_with(
        ClientConfig {
            retry_too_many_recipients: false,
            ..plain_config()
        },
        EHLO_PIPE,
    );
    h.s.enqueue_message(env("a@x.org", &["b@y.org", "c@y.org"]), MSG.to_vec());
    h.flight();
    h.input("250 ok\r\n250 ok\r\n452 4.5.3 too many\r\n354 go\r\n");
    h.flight();
    h.input("250 queued\r\n");
    let r = h.report();
    assert_eq!((r.transactions, r.recipients[1].1.code()), (1, 452));
    assert_eq!(h.flights(), Vec::<String>::new());
}

/// Without PIPELINING the retry goes one command at a time; a connection lost during it
/// reports what was delivered, the retried recipients keeping their 452.
#[test]
fn too_many_recipients_retry_one_at_a_time_and_lost_connection() {
    let mut h = H::ready(EHLO_PLAIN);
    h.s.enqueue_message(env("a@x.org", &["b@y.org", "c@y.org"]), MSG.to_vec());
    assert_eq!(h.flight(), "MAIL FROM:<a@x.org> SIZE=22\r\n");
    h.input("250 ok\r\n");
    assert_eq!(h.flight(), "RCPT TO:<b@y.org>\r\n");
    h.input("250 ok\r\n");
    assert_eq!(h.flight(), "RCPT TO:<c@y.org>\r\n");
    h.input("452 4.5.3 too many\r\n");
    assert_eq!(h.flight(), "DATA\r\n");
    h.input("354 go\r\n");
    h.flight();
    h.input("250 queued\r\n");
    assert_eq!(h.flight(), "MAIL FROM:<a@x.org> SIZE=22\r\n");
    h.input("250 ok\r\n");
    assert_eq!(h.flight(), "RCPT TO:<c@y.org>\r\n");
    h.s.handle_eof();
    let events = h.events();
    let Some(report) = events.iter().find_map(|e| match e {
        Event::TransactionCompleted { report, .. } => Some(report),
        _ => None,
    }) else {
        panic!("{events:?}")
    };
    assert_eq!(report.recipients[0].1.code(), 250);
    assert_eq!(report.recipients[1].1.code(), 452);
    assert!(events.iter().any(|e| matches!(e, Event::Failed(_))));
}
