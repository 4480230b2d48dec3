//! The pure POP3 server session, driven line by line without a network: every RFC 1939
//! example, CAPA in each state, the TLS rules for USER/PASS and SASL, APOP, AUTH with
//! continuations and cancel, locking, durable QUIT, STLS injection, limits and pipelining.

use std::sync::Arc;

use mailwire_codec::fuzzing::chunks;
use mailwire_pop3::proto::{
    Event, MessageInfo, ResponseCode, ServerConfig, ServerSession, State, Status, UniqueId,
};
use mailwire_sasl::{
    Authenticator, ClientCredentials, ClientSession, Mechanism, StaticAuthenticator,
};

const TS: &str = "<1896.697170952@dbc.mtview.ca.us>";

struct Harness {
    s: ServerSession,
    out: Vec<u8>,
    messages: Vec<Vec<u8>>,
    /// What the driver answers to LockMaildrop.
    lock_in_use: bool,
    /// What the driver answers to Commit.
    commit_fails: bool,
    committed: Option<Vec<usize>>,
    locked_user: Option<String>,
    retrieved_chunks: usize,
}

fn maildrop() -> Vec<Vec<u8>> {
    vec![
        b"From: a\r\nSubject: one\r\n\r\nhello\r\n.dot line\r\nthird\r\n".to_vec(),
        b"From: b\r\n\r\n".to_vec(),
        b"Subject: three\r\n\r\nno final crlf".to_vec(),
    ]
}

impl Harness {
    fn with(
        config: ServerConfig,
        auth: impl Authenticator + Send + Sync + 'static,
        tls: bool,
    ) -> Self {
        let mut h = Self {
            s: ServerSession::new(config, Arc::new(auth), tls, Some(TS.to_owned())),
            out: Vec::new(),
            messages: maildrop(),
            lock_in_use: false,
            commit_fails: false,
            committed: None,
            locked_user: None,
            retrieved_chunks: 0,
        };
        let greeting = h.take();
        assert!(greeting.starts_with("+OK "), "{greeting}");
        h
    }

    fn new(tls: bool) -> Self {
        Self::with(
            ServerConfig {
                stls_available: true,
                ..ServerConfig::default()
            },
            StaticAuthenticator::new().with_user("mrose", "tanstaaf"),
            tls,
        )
    }

    fn take(&mut self) -> String {
        self.s.poll_output(&mut self.out);
        String::from_utf8(std::mem::take(&mut self.out)).unwrap()
    }

    /// Feeds input like a driver would: answers events, streams messages in 4-octet chunks,
    /// drains output whenever the session stops. Returns everything written.
    fn send(&mut self, input: &[u8]) -> String {
        let mut rest = input;
        let mut all = String::new();
        loop {
            let n = self.s.handle_input(rest);
            rest = &rest[n..];
            let mut progressed = n > 0;
            while let Some(ev) = self.s.poll_event() {
                progressed = true;
                match ev {
                    Event::LockMaildrop { user } => {
                        self.locked_user = Some(user);
                        if self.lock_in_use {
                            self.s.resolve_lock(Err(Status::err_code(
                                ResponseCode::InUse,
                                "maildrop already locked",
                            )));
                        } else {
                            let list = self
                                .messages
                                .iter()
                                .enumerate()
                                .map(|(i, m)| MessageInfo {
                                    size: m.len() as u64,
                                    uid: UniqueId::new(format!("uid{i}")).unwrap(),
                                })
                                .collect();
                            self.s.resolve_lock(Ok(list));
                        }
                    }
                    Event::Retrieve { index, size, .. } => {
                        assert_eq!(size, self.messages[index].len() as u64);
                        self.s.start_message();
                        let msg = self.messages[index].clone();
                        for c in msg.chunks(4) {
                            self.retrieved_chunks += 1;
                            if !self.s.handle_message_data(c) {
                                break;
                            }
                        }
                        self.s.end_message();
                    }
                    Event::Commit { deleted } => {
                        self.committed = Some(deleted);
                        self.s.resolve_commit(if self.commit_fails {
                            Err(Status::err_code(ResponseCode::SysTemp, "disk full"))
                        } else {
                            Ok(())
                        });
                    }
                    Event::StartTls => self.s.tls_established(),
                    Event::Close => {}
                    _ => unreachable!(),
                }
            }
            all.push_str(&self.take());
            if rest.is_empty() || self.s.is_closed() || !progressed {
                break;
            }
        }
        all
    }

    fn login(&mut self) {
        let out = self.send(b"USER mrose\r\nPASS tanstaaf\r\n");
        assert!(out.contains("+OK maildrop has 3 messages ("), "{out}");
        assert_eq!(self.s.state(), State::Transaction);
    }
}

#[test]
fn rfc1939_session_under_tls() {
    let mut h = Harness::new(true);
    h.login();
    assert_eq!(h.locked_user.as_deref(), Some("mrose"));
    assert_eq!(h.send(b"STAT\r\n"), "+OK 3 92\r\n");
    assert_eq!(
        h.send(b"LIST\r\n"),
        "+OK scan listing follows\r\n1 50\r\n2 11\r\n3 31\r\n.\r\n"
    );
    assert_eq!(h.send(b"LIST 2\r\n"), "+OK 2 11\r\n");
    assert_eq!(h.send(b"LIST 4\r\n"), "-ERR no such message\r\n");
    assert_eq!(h.send(b"LIST 0\r\n"), "-ERR no such message\r\n");
    assert_eq!(
        h.send(b"UIDL\r\n"),
        "+OK unique-id listing follows\r\n1 uid0\r\n2 uid1\r\n3 uid2\r\n.\r\n"
    );
    assert_eq!(h.send(b"UIDL 3\r\n"), "+OK 3 uid2\r\n");
    assert_eq!(
        h.send(b"RETR 1\r\n"),
        "+OK message follows\r\nFrom: a\r\nSubject: one\r\n\r\nhello\r\n..dot line\r\nthird\r\n.\r\n"
    );
    assert_eq!(
        h.send(b"RETR 3\r\n"),
        "+OK message follows\r\nSubject: three\r\n\r\nno final crlf\r\n.\r\n"
    );
    assert_eq!(
        h.send(b"TOP 1 1\r\n"),
        "+OK top of message follows\r\nFrom: a\r\nSubject: one\r\n\r\nhello\r\n.\r\n"
    );
    assert_eq!(h.send(b"DELE 1\r\n"), "+OK message 1 deleted\r\n");
    assert_eq!(h.send(b"DELE 1\r\n"), "-ERR message 1 already deleted\r\n");
    assert_eq!(h.send(b"RETR 1\r\n"), "-ERR message 1 already deleted\r\n");
    assert_eq!(h.send(b"STAT\r\n"), "+OK 2 42\r\n");
    assert_eq!(
        h.send(b"LIST\r\n"),
        "+OK scan listing follows\r\n2 11\r\n3 31\r\n.\r\n"
    );
    assert_eq!(
        h.send(b"RSET\r\n"),
        "+OK maildrop has 3 messages (92 octets)\r\n"
    );
    assert_eq!(h.send(b"STAT\r\n"), "+OK 3 92\r\n");
    assert_eq!(h.send(b"NOOP\r\n"), "+OK\r\n");
    assert!(
        h.send(b"USER x\r\n")
            .starts_with("-ERR USER not allowed in the TRANSACTION state")
    );
    h.send(b"DELE 3\r\nDELE 2\r\n");
    assert!(h.committed.is_none(), "nothing committed before QUIT");
    let out = h.send(b"QUIT\r\n");
    assert!(
        out.starts_with("+OK ") && out.contains("2 messages deleted"),
        "{out}"
    );
    assert_eq!(h.committed, Some(vec![1, 2]));
    assert!(h.s.is_closed());
}

#[test]
fn top_stops_reading_early() {
    let mut h = Harness::new(true);
    h.messages[0] = [b"A: b\r\n\r\n".as_slice(), &b"line\r\n".repeat(1000)].concat();
    h.login();
    let out = h.send(b"TOP 1 2\r\n");
    assert_eq!(
        out,
        "+OK top of message follows\r\nA: b\r\n\r\nline\r\nline\r\n.\r\n"
    );
    assert!(
        h.retrieved_chunks < 10,
        "read {} chunks for TOP",
        h.retrieved_chunks
    );
}

#[test]
fn commit_failure_is_reported_and_closes() {
    let mut h = Harness::new(true);
    h.commit_fails = true;
    h.login();
    h.send(b"DELE 1\r\n");
    assert_eq!(h.send(b"QUIT\r\n"), "-ERR [SYS/TEMP] disk full\r\n");
    assert!(h.s.is_closed());
}

#[test]
fn quit_in_authorization_commits_nothing() {
    let mut h = Harness::new(true);
    assert!(h.send(b"QUIT\r\n").starts_with("+OK"));
    assert!(h.committed.is_none());
    assert!(h.s.is_closed());
}

#[test]
fn in_use_maildrop() {
    let mut h = Harness::new(true);
    h.lock_in_use = true;
    let out = h.send(b"USER mrose\r\nPASS tanstaaf\r\n");
    assert!(
        out.ends_with("-ERR [IN-USE] maildrop already locked\r\n"),
        "{out}"
    );
    assert_eq!(h.s.state(), State::Authorization);
    assert!(h.s.user().is_none());
}

#[test]
fn capabilities_per_state_and_tls() {
    let mut h = Harness::new(false);
    let capa = h.send(b"CAPA\r\n");
    for cap in [
        "TOP",
        "UIDL",
        "RESP-CODES",
        "AUTH-RESP-CODE",
        "PIPELINING",
        "EXPIRE NEVER",
        "IMPLEMENTATION mailwire",
        "STLS",
    ] {
        assert!(
            capa.contains(&format!("\r\n{cap}\r\n")),
            "{cap} missing: {capa}"
        );
    }
    assert!(!capa.contains("PIPELINE\r\n"));
    assert!(
        !capa.contains("\r\nUSER\r\n"),
        "USER offered in cleartext: {capa}"
    );
    assert!(
        capa.contains("\r\nSASL SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5\r\n"),
        "{capa}"
    );
    assert!(capa.ends_with("\r\n.\r\n"));

    let mut t = Harness::new(true);
    let capa = t.send(b"CAPA\r\n");
    assert!(capa.contains("\r\nUSER\r\n"), "{capa}");
    assert!(!capa.contains("STLS"), "{capa}");
    assert!(capa.contains("PLAIN") && capa.contains("LOGIN"), "{capa}");
    t.login();
    let capa = t.send(b"CAPA\r\n");
    assert!(!capa.contains("SASL") && !capa.contains("USER"), "{capa}");
    assert!(capa.contains("\r\nTOP\r\n"));

    let mut i = Harness::with(
        ServerConfig {
            allow_insecure_auth: true,
            ..ServerConfig::default()
        },
        StaticAuthenticator::new().with_user("mrose", "tanstaaf"),
        false,
    );
    let capa = i.send(b"CAPA\r\n");
    assert!(
        capa.contains("\r\nUSER\r\n") && capa.contains("PLAIN"),
        "{capa}"
    );
    assert!(!capa.contains("STLS"), "no TLS configured: {capa}");
}

#[test]
fn plaintext_login_needs_tls() {
    let mut h = Harness::new(false);
    let out = h.send(b"USER mrose\r\n");
    assert!(
        out.starts_with("-ERR [AUTH] Plaintext authentication requires TLS"),
        "{out}"
    );
    let out = h.send(b"AUTH PLAIN AG1yb3NlAHRhbnN0YWFm\r\n");
    assert!(out.starts_with("-ERR [AUTH]"), "{out}");
    assert_eq!(h.s.state(), State::Authorization);
    // After STLS, the same login works.
    assert_eq!(h.send(b"STLS\r\n"), "+OK Begin TLS negotiation\r\n");
    assert!(h.s.is_tls());
    h.login();
}

#[test]
fn stls_with_pipelined_commands_closes() {
    let mut h = Harness::new(false);
    let out = h.send(b"STLS\r\nUSER mrose\r\n");
    assert!(
        out.starts_with("-ERR Commands pipelined after STLS"),
        "{out}"
    );
    assert!(h.s.is_closed());
    assert!(!h.s.is_tls());
    // Split across reads: the STLS line is complete but its tail waits in the framer.
    let mut h = Harness::new(false);
    let out = h.send(b"STLS\r\nUS");
    assert!(out.starts_with("-ERR"), "{out}");
    assert!(h.s.is_closed());
    // STLS twice, and without TLS configured.
    let mut h = Harness::new(true);
    assert!(h.send(b"STLS\r\n").starts_with("-ERR TLS already active"));
    let mut h = Harness::with(ServerConfig::default(), StaticAuthenticator::new(), false);
    assert!(h.send(b"STLS\r\n").starts_with("-ERR STLS not available"));
}

#[test]
fn apop_rfc1939_example() {
    let mut h = Harness::new(false);
    assert_eq!(h.s.apop_timestamp(), Some(TS));
    let out = h.send(b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n");
    assert_eq!(out, "+OK maildrop has 3 messages (92 octets)\r\n");
    let mut h = Harness::new(false);
    let out = h.send(b"APOP mrose 00000000000000000000000000000000\r\n");
    assert_eq!(out, "-ERR [AUTH] Authentication failed\r\n");
}

#[test]
fn apop_not_offered_without_plaintext_secrets() {
    struct VerifyOnly;
    impl Authenticator for VerifyOnly {
        fn credentials(&self, _: &str) -> Option<mailwire_sasl::Credentials> {
            None
        }
        fn secret_kind(&self) -> mailwire_sasl::SecretKind {
            mailwire_sasl::SecretKind::VerifyOnly
        }
    }
    let s = ServerSession::new(
        ServerConfig::default(),
        Arc::new(VerifyOnly),
        false,
        Some(TS.to_owned()),
    );
    assert_eq!(s.apop_timestamp(), None);
    let mut out = Vec::new();
    let mut s = s;
    s.poll_output(&mut out);
    assert!(!String::from_utf8_lossy(&out).contains('<'));
    assert!(s.handle_input(b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n") > 0);
    out.clear();
    s.poll_output(&mut out);
    assert_eq!(out, b"-ERR APOP not available\r\n");
}

#[test]
fn sasl_scram_and_cancel() {
    let mut h = Harness::new(false);
    let mut client = ClientSession::new(
        Mechanism::ScramSha256,
        ClientCredentials::password("mrose", "tanstaaf"),
    )
    .unwrap();
    let ir = client.initial_response_base64().unwrap().unwrap();
    let mut out = h.send(format!("AUTH SCRAM-SHA-256 {ir}\r\n").as_bytes());
    loop {
        let line = out.trim_end();
        if let Some(challenge) = line.strip_prefix("+ ") {
            let answer = client.step_base64(challenge).unwrap();
            out = h.send(format!("{answer}\r\n").as_bytes());
        } else {
            assert_eq!(line, "+OK maildrop has 3 messages (92 octets)");
            break;
        }
    }
    assert_eq!(h.s.state(), State::Transaction);

    let mut h = Harness::new(false);
    let out = h.send(b"AUTH CRAM-MD5\r\n");
    assert!(out.starts_with("+ "), "{out}");
    assert_eq!(h.send(b"*\r\n"), "-ERR Authentication cancelled\r\n");
    assert_eq!(h.s.state(), State::Authorization);
    let out = h.send(b"AUTH\r\n");
    assert_eq!(
        out,
        "+OK SASL mechanisms follow\r\nSCRAM-SHA-256\r\nSCRAM-SHA-1\r\nCRAM-MD5\r\n.\r\n"
    );
    assert!(h.send(b"AUTH GSSAPI\r\n").starts_with("-ERR Unrecognized"));
}

#[test]
fn failed_logins_close_the_connection() {
    let mut h = Harness::new(true);
    for i in 1..=3 {
        let out = h.send(b"USER mrose\r\nPASS wrong\r\n");
        assert!(out.contains("-ERR [AUTH] Authentication failed"), "{out}");
        assert_eq!(h.s.is_closed(), i == 3, "after {i} failures: {out}");
        if i == 3 {
            assert!(out.ends_with("-ERR [AUTH] Too many failed logins, closing connection\r\n"));
        }
    }
    // PASS without USER is an error, not a login attempt.
    let mut h = Harness::new(true);
    assert_eq!(h.send(b"PASS tanstaaf\r\n"), "-ERR USER first\r\n");
}

#[test]
fn overlong_lines_and_errors() {
    let mut h = Harness::new(true);
    let long = format!("USER {}\r\n", "a".repeat(300));
    assert_eq!(h.send(long.as_bytes()), "-ERR Line too long\r\n");
    let huge = format!("NOOP {}\r\nCAPA\r\n", "x".repeat(100_000));
    let out = h.send(huge.as_bytes());
    assert!(
        out.starts_with("-ERR Line too long\r\n+OK Capability list follows"),
        "{out}"
    );
    assert!(h.s.buffered_len() <= 12288);
    assert!(
        h.send(b"STAT\n")
            .starts_with("-ERR Lines must end with CRLF")
    );
    assert!(h.send(b"FROB\r\n").starts_with("-ERR Syntax error"));
    let mut h = Harness::new(true);
    let out = h.send(&b"FROB\r\n".repeat(10));
    assert!(
        out.ends_with("-ERR Too many errors, closing connection\r\n"),
        "{out}"
    );
    assert!(h.s.is_closed());
}

#[test]
fn pipelined_commands_all_answered_in_order_with_bounded_output() {
    let mut h = Harness::new(true);
    h.login();
    let mut input = Vec::new();
    for i in 0..5000 {
        input.extend_from_slice(format!("LIST\r\nUIDL {}\r\nNOOP\r\n", i % 3 + 1).as_bytes());
    }
    input.extend_from_slice(b"RETR 2\r\nQUIT\r\n");
    // Feed it the way the driver does, checking the output never exceeds the limit plus one
    // response.
    let mut rest = &input[..];
    let mut out = Vec::new();
    let mut max_seen = 0;
    while !rest.is_empty() && !h.s.is_closed() {
        let n = h.s.handle_input(rest);
        rest = &rest[n..];
        max_seen = max_seen.max(h.s.output_len());
        while let Some(ev) = h.s.poll_event() {
            match ev {
                Event::Retrieve { index, .. } => {
                    h.s.start_message();
                    let m = h.messages[index].clone();
                    h.s.handle_message_data(&m);
                    h.s.end_message();
                }
                Event::Commit { .. } => h.s.resolve_commit(Ok(())),
                _ => {}
            }
        }
        h.s.poll_output(&mut out);
    }
    assert!(max_seen <= 64 * 1024 + 1024, "output grew to {max_seen}");
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.matches("+OK scan listing follows").count(), 5000);
    assert_eq!(text.matches("+OK 2 uid1\r\n").count(), 5000 / 3 + 1);
    assert!(text.ends_with(
        "From: b\r\n\r\n.\r\n+OK localhost POP3 server signing off (0 messages deleted)\r\n"
    ));
}

#[test]
fn any_chunking_gives_the_same_transcript() {
    let script = b"CAPA\r\nUSER mrose\r\nPASS tanstaaf\r\nSTAT\r\nLIST\r\nRETR 1\r\nTOP 3 0\r\nDELE 2\r\nUIDL\r\nQUIT\r\n";
    let mut reference = Harness::new(true);
    let expected = reference.send(script);
    for seed in 0..5u8 {
        let mut h = Harness::new(true);
        let mut got = String::new();
        for chunk in chunks(script, seed) {
            got.push_str(&h.send(chunk));
        }
        assert_eq!(got, expected, "chunking {seed}");
    }
    assert_eq!(reference.committed, Some(vec![1]));
}

#[test]
fn idle_timeout_closes_silently_and_deletes_nothing() {
    let mut h = Harness::new(true);
    h.login();
    h.send(b"DELE 1\r\n");
    h.s.handle_idle_timeout();
    assert!(h.s.is_closed());
    assert!(matches!(h.s.poll_event(), Some(Event::Close)));
    assert_eq!(h.take(), "");
    assert!(h.committed.is_none());
}

#[test]
fn shutdown_says_sys_temp_and_deletes_nothing() {
    let mut h = Harness::new(true);
    h.login();
    h.send(b"DELE 1\r\n");
    h.s.handle_shutdown();
    assert_eq!(
        h.take(),
        "-ERR [SYS/TEMP] server shutting down, nothing deleted\r\n"
    );
    assert!(h.s.is_closed());
    assert!(matches!(h.s.poll_event(), Some(Event::Close)));
    assert!(h.committed.is_none());
}

#[test]
fn backend_errors_become_response_codes() {
    use mailwire_pop3::proto::{CommitError, LockError};
    let s = Status::from(LockError::InUse);
    assert_eq!(
        s.to_string(),
        "-ERR [IN-USE] maildrop already locked by another session"
    );
    let s = Status::from(LockError::Unavailable("disk gone".into()));
    assert_eq!(
        s.to_string(),
        "-ERR [SYS/TEMP] maildrop unavailable, try again later",
        "the backend's detail is logged, not told to the client"
    );
    let s = Status::from(CommitError("fsync failed".into()));
    assert_eq!(
        s.to_string(),
        "-ERR [SYS/TEMP] some deleted messages not removed"
    );

    // A message the backend cannot open now: -ERR [SYS/TEMP], the session goes on.
    let mut h = Harness::new(true);
    h.login();
    h.s.handle_input(b"RETR 1\r\n");
    assert!(matches!(h.s.poll_event(), Some(Event::Retrieve { .. })));
    h.s.retrieve_unavailable();
    assert_eq!(h.take(), "-ERR [SYS/TEMP] cannot read the message now\r\n");
    assert!(h.send(b"NOOP\r\n").starts_with("+OK"));
}
