//! The sans-I/O IMAP server session without a network: pipelining, limits and bad input.

use std::sync::Arc;

use mailwire_imap::proto::server::{Answer, Event, Request, ServerConfig, ServerSession};

fn session(config: ServerConfig) -> ServerSession {
    let auth = mailwire_sasl::StaticAuthenticator::new().with_user("alice", "secret");
    let mut s = ServerSession::new(config, Arc::new(auth), false);
    let mut greeting = Vec::new();
    s.poll_output(&mut greeting);
    s
}

fn insecure() -> ServerConfig {
    ServerConfig {
        allow_insecure_auth: true,
        ..ServerConfig::default()
    }
}

/// Feeds `input`, answering a login with Done and every other request with what `answer`
/// gives; returns the output.
fn run(s: &mut ServerSession, input: &[u8]) -> String {
    let mut rest = input;
    let mut out = Vec::new();
    loop {
        let n = s.handle_input(rest);
        rest = &rest[n..];
        let mut any = false;
        while let Some(ev) = s.poll_event() {
            any = true;
            if let Event::Request(r) = ev {
                s.answer(Ok(match r {
                    Request::Poll => Answer::Unchanged,
                    _ => Answer::Done,
                }));
            }
        }
        s.poll_output(&mut out);
        if !any && (n == 0 || rest.is_empty()) {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn pipelined_commands_are_answered_in_order_in_one_batch() {
    let mut s = session(insecure());
    let out = run(
        &mut s,
        b"a1 LOGIN alice secret\r\na2 NOOP\r\na3 CAPABILITY\r\na4 NAMESPACE\r\na5 LOGOUT\r\n",
    );
    let tags: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with('a'))
        .map(|l| &l[..2])
        .collect();
    assert_eq!(tags, ["a1", "a2", "a3", "a4", "a5"], "{out}");
    assert!(out.contains("* NAMESPACE ((\"\" \"/\")) NIL NIL"), "{out}");
    assert!(s.is_closed());
}

#[test]
fn login_is_disabled_before_tls_and_failures_close() {
    let mut s = session(ServerConfig::default());
    let out = run(&mut s, b"a1 CAPABILITY\r\na2 LOGIN alice secret\r\n");
    assert!(out.contains("LOGINDISABLED"), "{out}");
    assert!(!out.contains("AUTH=PLAIN"), "{out}");
    assert!(out.contains("a2 NO [PRIVACYREQUIRED]"), "{out}");
    let mut s = session(insecure());
    let out = run(
        &mut s,
        b"a1 LOGIN alice x\r\na2 LOGIN alice y\r\na3 LOGIN alice z\r\na4 NOOP\r\n",
    );
    assert_eq!(out.matches("NO [AUTHENTICATIONFAILED]").count(), 3, "{out}");
    assert!(out.contains("* BYE"), "{out}");
    assert!(!out.contains("a4 "), "nothing runs after BYE: {out}");
}

#[test]
fn oversized_literals_are_refused_before_any_octet_is_buffered() {
    let mut s = session(ServerConfig {
        max_literal_before_auth: 16,
        ..insecure()
    });
    // Synchronising, before login: NO [TOOBIG]/BAD instead of "+".
    let out = run(&mut s, b"a1 LOGIN {100}\r\n");
    assert!(!out.contains("+ "), "{out}");
    assert!(out.contains("a1 BAD [TOOBIG]"), "{out}");
    // Within the limit: "+" then the command runs.
    let out = run(&mut s, b"a2 LOGIN {5}\r\n");
    assert!(out.starts_with("+ "), "{out}");
    let out = run(&mut s, b"alice secret\r\n");
    assert!(out.contains("a2 OK"), "{out}");
    // After login, APPEND over the limit: tagged NO [TOOBIG] and no "+".
    let mut s = session(ServerConfig {
        max_literal_len: 1000,
        ..insecure()
    });
    run(&mut s, b"a1 LOGIN alice secret\r\n");
    let out = run(&mut s, b"a2 APPEND INBOX {5000}\r\n");
    assert!(
        out.contains("a2 NO [TOOBIG]") && !out.contains("+ "),
        "{out}"
    );
    // Non-synchronising over the limit: BAD, its octets skipped, the session goes on.
    let mut input = b"a3 APPEND INBOX {2000+}\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', 2000));
    input.extend_from_slice(b"\r\na4 NOOP\r\n");
    let out = run(&mut s, &input);
    assert!(out.contains("a3 BAD [TOOBIG]"), "{out}");
    assert!(out.contains("a4 OK"), "{out}");
    assert!(!out.contains("xxx"), "{out}");
    // With the defaults: one octet over APPENDLIMIT is NO [TOOBIG] too (the framer's own
    // bound is the whole command, larger).
    let mut s = session(insecure());
    run(&mut s, b"a1 LOGIN alice secret\r\n");
    let limit = ServerConfig::default().max_literal_len;
    let out = run(
        &mut s,
        format!("a2 APPEND INBOX {{{}}}\r\n", limit + 1).as_bytes(),
    );
    assert!(
        out.contains("a2 NO [TOOBIG]") && !out.contains("+ "),
        "{out}"
    );
}

#[test]
fn deep_nesting_and_garbage_get_bad_and_the_session_goes_on() {
    let mut s = session(insecure());
    run(&mut s, b"a1 LOGIN alice secret\r\n");
    let mut deep = b"a2 SEARCH ".to_vec();
    deep.extend(std::iter::repeat_n(b'(', 10_000));
    deep.extend_from_slice(b"ALL");
    deep.extend(std::iter::repeat_n(b')', 10_000));
    deep.extend_from_slice(b"\r\n");
    let out = run(&mut s, &deep);
    assert!(out.contains("a2 BAD"), "{out}");
    let out = run(&mut s, b"a3 FROB\r\n\r\n* x\r\na4 NOOP\r\n");
    assert!(out.contains("a3 BAD"), "{out}");
    assert!(out.contains("a4 OK NOOP completed"), "{out}");
    // Commands that need a selected mailbox say so.
    let out = run(&mut s, b"a5 FETCH 1 FLAGS\r\n");
    assert!(out.contains("a5 BAD"), "{out}");
}

#[test]
fn nothing_sent_after_starttls_in_plaintext_is_executed() {
    let auth = mailwire_sasl::StaticAuthenticator::new().with_user("alice", "secret");
    let config = ServerConfig {
        starttls_available: true,
        ..ServerConfig::default()
    };
    let mut s = ServerSession::new(config, Arc::new(auth), false);
    let n = s.handle_input(b"a1 STARTTLS\r\na2 LOGIN alice secret\r\n");
    let mut out = Vec::new();
    s.poll_output(&mut out);
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("* BYE"), "{out}");
    assert!(!out.contains("a2 "), "{out}");
    assert!(matches!(s.poll_event(), Some(Event::Close)));
    assert!(n <= 13, "the LOGIN was not consumed as a command");
}

#[test]
fn commands_in_the_wrong_state_get_bad_clientbug() {
    let mut s = session(insecure());
    let out = run(&mut s, b"a1 SELECT INBOX\r\n");
    assert!(
        out.starts_with("a1 BAD [CLIENTBUG] SELECT not allowed before login"),
        "{out}"
    );
    run(&mut s, b"a2 LOGIN alice secret\r\n");
    let out = run(&mut s, b"a3 FETCH 1 FLAGS\r\na4 NOOP\r\n");
    assert!(
        out.contains("a3 BAD [CLIENTBUG] FETCH needs a selected mailbox"),
        "{out}"
    );
    assert!(out.contains("a4 OK"), "{out}");
}
