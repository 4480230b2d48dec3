//! The pure server session, driven line by line without a network.

use std::sync::Arc;

use mailwire_sasl::StaticAuthenticator;
use mailwire_smtp::proto::{Event, Mode, Reply, ServerConfig, ServerSession};

struct Harness {
    s: ServerSession,
    out: Vec<u8>,
    delivered: Vec<Vec<u8>>,
    /// Recipients to refuse in CheckRcpt.
    refuse: Vec<&'static str>,
    /// At each CheckRcpt: the recipient asked about, and the envelope so far (reverse path,
    /// accepted recipients).
    checks: Vec<(String, String, Vec<String>)>,
}

impl Harness {
    fn new(config: ServerConfig, tls: bool) -> Self {
        let auth = StaticAuthenticator::new().with_user("alice", "secret");
        let mut h = Self {
            s: ServerSession::new(config, Arc::new(auth), tls),
            out: Vec::new(),
            delivered: Vec::new(),
            refuse: vec![],
            checks: vec![],
        };
        let greeting = h.take();
        assert!(greeting.starts_with("220 "), "{greeting}");
        h
    }

    fn smtp() -> Self {
        Self::new(ServerConfig::default(), false)
    }

    fn take(&mut self) -> String {
        self.s.poll_output(&mut self.out);
        String::from_utf8(std::mem::take(&mut self.out)).unwrap()
    }

    /// Feeds input, answering every event like a permissive driver; returns the output.
    fn send(&mut self, input: &[u8]) -> String {
        let mut rest = input;
        loop {
            let n = self.s.handle_input(rest);
            rest = &rest[n..];
            let mut progressed = false;
            while let Some(ev) = self.s.poll_event() {
                progressed = true;
                match ev {
                    Event::CheckMail { .. } | Event::CheckAuth { .. } => {
                        self.s.resolve_check(Ok(()))
                    }
                    Event::CheckRcpt { to, .. } => {
                        let env = self.s.envelope().expect("RCPT is checked in a transaction");
                        self.checks.push((
                            to.to_string(),
                            env.from.to_string(),
                            env.recipients.iter().map(|r| r.path.to_string()).collect(),
                        ));
                        let refused = self.refuse.iter().any(|r| to.to_string().contains(r));
                        self.s.resolve_check(if refused {
                            Err(Reply::new(550, None, "No such user"))
                        } else {
                            Ok(())
                        })
                    }
                    Event::Deliver { message, envelope } => {
                        self.delivered.push(message);
                        let n = envelope.recipients.len();
                        self.s
                            .resolve_delivery(vec![Reply::new(250, None, "stored"); n]);
                    }
                    Event::StartTls => self.s.tls_established(),
                    Event::Close => {}
                    _ => {}
                }
            }
            if rest.is_empty() || self.s.is_closed() || (!progressed && n == 0) {
                break;
            }
        }
        self.take()
    }

    fn codes(&mut self, input: &str) -> Vec<u16> {
        let out = self.send(input.as_bytes());
        out.lines()
            .filter(|l| l.as_bytes().get(3) == Some(&b' '))
            .map(|l| l[..3].parse().unwrap())
            .collect()
    }
}

#[test]
fn a_whole_transaction_pipelined() {
    let mut h = Harness::smtp();
    let out = h.send(b"EHLO client.example\r\nMAIL FROM:<a@example.com> SIZE=20\r\nRCPT TO:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nSubject: x\r\n\r\n..dot\r\n.\r\nQUIT\r\n");
    let codes: Vec<&str> = out
        .lines()
        .filter(|l| l.as_bytes().get(3) == Some(&b' '))
        .map(|l| &l[..3])
        .collect();
    assert_eq!(
        codes,
        ["250", "250", "250", "250", "354", "250", "221"],
        "{out}"
    );
    assert_eq!(h.delivered, vec![b"Subject: x\r\n\r\n.dot\r\n".to_vec()]);
    assert!(
        out.contains("250-PIPELINING")
            && out.contains("250-SIZE 36700160")
            && out.contains("250-CHUNKING")
    );
    assert!(
        out.contains("250 2.1.0 Sender OK"),
        "enhanced codes after EHLO: {out}"
    );
    assert!(h.s.is_closed());
}

#[test]
fn recipient_checks_see_the_envelope_so_far() {
    let mut h = Harness::smtp();
    h.refuse = vec!["c@x.org"];
    let codes = h.codes(
        "EHLO c\r\nMAIL FROM:<a@x.org>\r\nRCPT TO:<b@x.org>\r\nRCPT TO:<c@x.org>\r\n\
         RCPT TO:<d@x.org>\r\nRSET\r\n",
    );
    assert_eq!(codes, [250, 250, 250, 550, 250, 250]);
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        h.checks,
        [
            ("<b@x.org>".into(), "<a@x.org>".into(), s(&[])),
            ("<c@x.org>".into(), "<a@x.org>".into(), s(&["<b@x.org>"])),
            // The refused recipient is not in the envelope.
            ("<d@x.org>".into(), "<a@x.org>".into(), s(&["<b@x.org>"])),
        ]
    );
    assert!(h.s.envelope().is_none(), "RSET ends the transaction");
}

#[test]
fn sequence_errors_and_limits() {
    let mut h = Harness::smtp();
    assert_eq!(h.codes("MAIL FROM:<a@b.c>\r\n"), [503]);
    assert_eq!(
        h.codes("EHLO x\r\nRCPT TO:<a@b.c>\r\nDATA\r\n"),
        [250, 503, 503]
    );
    assert_eq!(h.codes("MAIL FROM:<a@b.c> SIZE=999999999999\r\n"), [552]);
    assert_eq!(
        h.codes("MAIL FROM:<a@b.c>\r\nMAIL FROM:<a@b.c>\r\n"),
        [250, 503]
    );
    assert_eq!(
        h.codes("RSET\r\nVRFY alice\r\nEXPN x\r\nHELP\r\nNOOP\r\n"),
        [250, 252, 502, 214, 250]
    );
    let long = format!("NOOP {}\r\nNOOP\r\n", "x".repeat(600));
    assert_eq!(h.codes(&long), [500, 250]);
    let huge = format!("NOOP {}\r\nNOOP\r\n", "x".repeat(100_000));
    assert_eq!(h.codes(&huge), [500, 250]);
}

#[test]
fn recipient_limit() {
    let mut h = Harness::smtp();
    let mut cmds = String::from("EHLO x\r\nMAIL FROM:<a@b.c>\r\n");
    for i in 0..10_000 {
        cmds.push_str(&format!("RCPT TO:<r{i}@b.c>\r\n"));
    }
    let codes = h.codes(&cmds);
    assert_eq!(codes.iter().filter(|&&c| c == 250).count(), 2 + 100);
    assert_eq!(codes.iter().filter(|&&c| c == 452).count(), 10_000 - 100);
    assert!(
        !h.s.is_closed(),
        "452 is not an error that closes the session"
    );
}

#[test]
fn too_many_errors_close() {
    let mut h = Harness::smtp();
    let out = h.send("FROB\r\n".repeat(20).as_bytes());
    assert_eq!(out.lines().filter(|l| l.starts_with("500")).count(), 10);
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with("421 localhost Too many errors"),
        "{out}"
    );
    assert!(h.s.is_closed());
}

#[test]
fn pipelined_data_after_refused_recipients() {
    let mut h = Harness::smtp();
    h.refuse = vec!["nobody"];
    let codes = h.codes(
        "EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<nobody@b.c>\r\nDATA\r\nhello\r\n.\r\nNOOP\r\n",
    );
    // 554 for DATA; the message text then reads as (unknown) commands: 500 500? "hello" and "."
    assert_eq!(&codes[..4], [250, 250, 550, 554]);
    assert!(h.delivered.is_empty());
}

#[test]
fn smuggling_does_not_end_data() {
    let mut h = Harness::smtp();
    let out = h.send(b"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<alice@b.c>\r\nDATA\r\nbody\n.\r\nMAIL FROM:<evil@b.c>\r\nRCPT TO:<alice@b.c>\r\nDATA\r\nevil\r\n.\r\n");
    assert!(
        h.delivered.is_empty(),
        "bare LF message must be refused as a whole"
    );
    assert!(out.contains("550 5.6.0"), "{out}");
    let mut lenient = Harness::new(
        ServerConfig {
            bare_line_endings: mailwire_codec::BareLineEndings::Accept,
            ..ServerConfig::default()
        },
        false,
    );
    lenient.send(b"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<alice@b.c>\r\nDATA\r\nbody\n.\r\nMAIL FROM:<evil@b.c>\r\n.\r\n");
    assert_eq!(lenient.delivered.len(), 1, "exactly one message");
    assert!(lenient.delivered[0].windows(10).any(|w| w == b"MAIL FROM:"));
}

#[test]
fn size_limit_during_data() {
    let mut h = Harness::new(
        ServerConfig {
            max_message_size: 1000,
            ..ServerConfig::default()
        },
        false,
    );
    let mut input = b"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<alice@b.c>\r\nDATA\r\n".to_vec();
    for _ in 0..10_000 {
        input.extend_from_slice(b"0123456789012345678901234567890123456789\r\n");
    }
    input.extend_from_slice(b".\r\nNOOP\r\n");
    let codes = h.codes(std::str::from_utf8(&input).unwrap());
    assert_eq!(codes, [250, 250, 250, 354, 552, 250]);
}

#[test]
fn bdat_chunks() {
    let mut h = Harness::smtp();
    let codes = h.codes("EHLO x\r\nMAIL FROM:<a@b.c> BODY=BINARYMIME\r\nRCPT TO:<alice@b.c>\r\nBDAT 5\r\nhel\r\nBDAT 3 LAST\r\nlo!NOOP\r\n");
    assert_eq!(codes, [250, 250, 250, 250, 250, 250]);
    assert_eq!(h.delivered, vec![b"hel\r\nlo!".to_vec()]);
    // BDAT without a transaction still reads its chunk, so the chunk is never run as commands.
    let codes = h.codes("BDAT 6\r\nQUIT\r\nNOOP\r\n");
    assert_eq!(codes, [503, 250]);
    assert!(!h.s.is_closed());
    // DATA is refused for BINARYMIME.
    let codes =
        h.codes("MAIL FROM:<a@b.c> BODY=BINARYMIME\r\nRCPT TO:<alice@b.c>\r\nDATA\r\nRSET\r\n");
    assert_eq!(codes, [250, 250, 503, 250]);
}

#[test]
fn starttls_resets_and_refuses_pipelined_commands() {
    let config = ServerConfig {
        starttls_available: true,
        ..ServerConfig::default()
    };
    let mut h = Harness::new(config.clone(), false);
    let out = h.send(b"EHLO x\r\n");
    assert!(out.contains("STARTTLS"));
    assert!(
        !out.contains("AUTH PLAIN") && !out.contains(" LOGIN"),
        "no plaintext AUTH in cleartext: {out}"
    );
    assert!(out.contains("CRAM-MD5"), "{out}");
    let out = h.send(b"STARTTLS\r\n");
    assert!(out.starts_with("220 2.0.0"));
    assert_eq!(
        h.codes("MAIL FROM:<a@b.c>\r\n"),
        [503],
        "EHLO needed again after TLS"
    );
    let out = h.send(b"EHLO x\r\n");
    assert!(
        !out.contains("STARTTLS") && out.contains("AUTH") && out.contains("PLAIN"),
        "{out}"
    );

    let mut h = Harness::new(config, false);
    let out = h.send(b"EHLO x\r\nSTARTTLS\r\nMAIL FROM:<evil@b.c>\r\n");
    assert!(out.lines().last().unwrap().starts_with("421"), "{out}");
    assert!(h.s.is_closed());
}

#[test]
fn auth_rules() {
    let mut h = Harness::smtp();
    // PLAIN in cleartext: 538.
    assert_eq!(
        h.codes("EHLO x\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
        [250, 538]
    );
    // CRAM-MD5 works in cleartext.
    let out = h.send(b"AUTH CRAM-MD5\r\n");
    assert!(out.starts_with("334 "), "{out}");
    let challenge = base64_decode(out[4..].trim());
    let digest = mailwire_sasl::cram::response("alice", b"secret", &challenge);
    let answer = base64_encode(&digest);
    assert_eq!(h.codes(&format!("{answer}\r\n")), [235]);
    assert_eq!(h.codes("AUTH CRAM-MD5\r\n"), [503]);
    // Under TLS, PLAIN works; a bad password gets 535; `*` cancels.
    let mut t = Harness::new(ServerConfig::default(), true);
    assert_eq!(
        t.codes("EHLO x\r\nAUTH PLAIN AGFsaWNlAHdyb25n\r\n"),
        [250, 535]
    );
    let out = t.send(b"AUTH LOGIN\r\n");
    assert!(out.starts_with("334 "));
    assert_eq!(t.codes("*\r\n"), [501]);
    assert_eq!(t.codes("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"), [235]);
    // Submission requires AUTH before MAIL.
    let mut s = Harness::new(
        ServerConfig {
            mode: Mode::Submission,
            ..ServerConfig::default()
        },
        true,
    );
    assert_eq!(s.codes("EHLO x\r\nMAIL FROM:<a@b.c>\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nMAIL FROM:<a@b.c>\r\n"), [250, 530, 235, 250]);
}

/// Right credentials are put to the driver (`CheckAuth`) before `235`: a refusal is sent as
/// given and leaves the client unauthenticated; nothing else is read meanwhile.
#[test]
fn auth_is_checked_by_the_driver_before_235() {
    let auth = StaticAuthenticator::new().with_user("alice", "secret");
    let config = ServerConfig {
        mode: Mode::Submission,
        ..ServerConfig::default()
    };
    let mut s = ServerSession::new(config, Arc::new(auth), true);
    let mut out = Vec::new();
    s.poll_output(&mut out);
    out.clear();
    let input = b"EHLO x\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nMAIL FROM:<a@b.c>\r\n";
    let used = s.handle_input(input);
    let Some(Event::CheckAuth { authenticated }) = s.poll_event() else {
        panic!("expected CheckAuth")
    };
    assert_eq!(authenticated.authcid, "alice");
    assert!(
        s.info().authenticated.is_none(),
        "not before the driver says so"
    );
    s.poll_output(&mut out);
    assert!(!String::from_utf8_lossy(&out).contains("235"));
    s.resolve_check(Err(Reply::new(454, None, "4.7.0 try later")));
    let used = used + s.handle_input(&input[used..]);
    assert_eq!(used, input.len());
    s.poll_output(&mut out);
    let text = String::from_utf8(std::mem::take(&mut out)).unwrap();
    assert!(text.contains("454 4.7.0 try later\r\n530 "), "{text}");
    assert!(s.info().authenticated.is_none());
    s.handle_input(b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
    assert!(matches!(s.poll_event(), Some(Event::CheckAuth { .. })));
    s.resolve_check(Ok(()));
    s.poll_output(&mut out);
    assert!(String::from_utf8_lossy(&out).starts_with("235 2.7.0"));
    assert_eq!(s.info().authenticated.as_ref().unwrap().authzid, "alice");
}

#[test]
fn lmtp_replies_per_recipient() {
    let mut h = Harness::new(
        ServerConfig {
            mode: Mode::Lmtp,
            ..ServerConfig::default()
        },
        false,
    );
    h.refuse = vec!["nobody"];
    let codes = h.codes("EHLO x\r\nLHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<alice@b.c>\r\nRCPT TO:<nobody@b.c>\r\nRCPT TO:<bob@b.c>\r\nDATA\r\nhi\r\n.\r\n");
    assert_eq!(codes, [500, 250, 250, 250, 550, 250, 354, 250, 250]);
    assert_eq!(h.delivered.len(), 1);
}

#[test]
fn smtputf8_rules() {
    let mut h = Harness::smtp();
    assert_eq!(
        h.codes("EHLO x\r\nMAIL FROM:<用户@例子.广告>\r\n"),
        [250, 553]
    );
    assert_eq!(
        h.codes("MAIL FROM:<a@b.c>\r\nRCPT TO:<用户@例子.广告>\r\nRSET\r\n"),
        [250, 553, 250]
    );
    assert_eq!(
        h.codes("MAIL FROM:<用户@例子.广告> SMTPUTF8\r\nRCPT TO:<用户@例子.广告>\r\n"),
        [250, 250]
    );
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[test]
fn shutdown_between_transactions_closes_at_once() {
    let mut h = Harness::smtp();
    assert_eq!(h.codes("EHLO c\r\n"), [250]);
    h.s.handle_shutdown();
    let out = h.take();
    assert!(
        out.starts_with("421 4.3.2 localhost Service shutting down"),
        "{out}"
    );
    assert!(h.s.is_closed());
    assert!(matches!(h.s.poll_event(), Some(Event::Close)));
    // A second signal says nothing more.
    h.s.handle_shutdown();
    assert_eq!(h.take(), "");
}

#[test]
fn shutdown_lets_the_transaction_in_flight_finish() {
    let mut h = Harness::smtp();
    assert_eq!(
        h.codes("EHLO c\r\nMAIL FROM:<a@x.org>\r\nRCPT TO:<b@x.org>\r\n"),
        [250, 250, 250]
    );
    h.s.handle_shutdown();
    assert_eq!(h.take(), "", "no 421 in the middle of a transaction");
    assert!(!h.s.is_closed());
    // The message arrives, is delivered and acknowledged; then the 421; a pipelined
    // command after it is not read.
    let out = h.send(b"DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nNOOP\r\n");
    let codes: Vec<&str> = out.lines().map(|l| &l[..3]).collect();
    assert_eq!(codes, ["354", "250", "421"], "{out}");
    assert_eq!(h.delivered.len(), 1);
    assert!(h.s.is_closed());

    // RSET ends a transaction too.
    let mut h = Harness::smtp();
    h.codes("EHLO c\r\nMAIL FROM:<a@x.org>\r\n");
    h.s.handle_shutdown();
    assert_eq!(h.codes("RSET\r\nNOOP\r\n"), [250, 421]);
}

#[test]
fn idle_timeout_says_421() {
    let mut h = Harness::smtp();
    h.codes("EHLO c\r\nMAIL FROM:<a@x.org>\r\n");
    h.s.handle_idle_timeout();
    let out = h.take();
    assert!(out.starts_with("421 4.4.2 localhost Idle timeout"), "{out}");
    assert!(h.s.is_closed());
}

#[test]
fn unknown_parameters_are_refused_with_555() {
    use mailwire_smtp::proto::{MailParams, RcptParams};
    let p = MailParams::parse("SIZE=10 X-FOO=1 X-BAR").unwrap();
    let r = p.refuse_unknown().unwrap_err();
    assert_eq!(r.code(), 555);
    assert!(
        r.to_string()
            .contains("5.5.4 Parameter X-FOO not supported"),
        "{r}"
    );
    assert!(
        MailParams::parse("SIZE=10")
            .unwrap()
            .refuse_unknown()
            .is_ok()
    );
    let r = RcptParams::parse("NOTIFY=NEVER X-Q")
        .unwrap()
        .refuse_unknown();
    assert_eq!(r.unwrap_err().code(), 555);
    assert!(
        RcptParams::parse("NOTIFY=NEVER")
            .unwrap()
            .refuse_unknown()
            .is_ok()
    );
}
