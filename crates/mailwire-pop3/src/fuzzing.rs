//! The bodies of the POP3 cargo-fuzz targets (`fuzz/fuzz_targets/pop3_*.rs`), kept here so
//! that the ordinary test run replays the committed corpora through the same code. Each
//! panics only when an invariant breaks.

use std::sync::Arc;

use crate::proto::client::Event as ClientEvent;
use crate::proto::{
    ClientSession, Command, Event, MessageInfo, ResponseLine, ScanListing, ServerConfig,
    ServerSession, Status, UidListing, UniqueId,
};

/// Command parser: never panics; what parses re-encodes as one CRLF line that parses back to
/// the same command.
pub fn command(data: &[u8]) {
    if let Ok(cmd) = Command::parse(data) {
        let mut out = Vec::new();
        if cmd.encode(&mut out).is_ok() {
            let line = out
                .strip_suffix(b"\r\n")
                .expect("encoded commands end with CRLF");
            assert!(
                !line.contains(&b'\n') && !line.contains(&b'\r'),
                "encoded command holds CR/LF"
            );
            let again = Command::parse(line).expect("an encoded command parses");
            assert_eq!(again, cmd, "command round trip");
        }
    }
}

/// Response parsers (status lines, continuations, listings) and the client session fed the
/// input as server bytes after a pipelined batch of commands: never panic; a parsed status
/// line re-encodes to one line that parses back to the same status.
pub fn response(data: &[u8]) {
    for line in data.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Ok(r) = ResponseLine::parse(line) {
            let mut out = Vec::new();
            r.encode(&mut out);
            let wire = out.strip_suffix(b"\r\n").expect("CRLF");
            assert!(!wire.contains(&b'\n') && !wire.contains(&b'\r'));
            assert_eq!(ResponseLine::parse(wire).expect("re-parses"), r);
        }
        let _ = ScanListing::parse(line);
        let _ = UidListing::parse(line);
    }
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let mut c = ClientSession::default();
    for cmd in [
        Command::Capa,
        Command::Stat,
        Command::List(None),
        Command::Retr(1),
        Command::Auth {
            mechanism: "PLAIN".into(),
            initial_response: None,
        },
        Command::Top {
            message: 1,
            lines: 2,
        },
        Command::Uidl(None),
        Command::Quit,
    ] {
        c.enqueue(&cmd).expect("fixed commands encode");
    }
    let mut out = Vec::new();
    c.poll_transmit(&mut out);
    for chunk in mailwire_codec::fuzzing::chunks(rest, seed) {
        let mut input = chunk;
        while !input.is_empty() {
            match c.handle_input(input) {
                Ok(0) | Err(_) => return,
                Ok(n) => input = &input[n..],
            }
            while let Some(e) = c.poll_event() {
                if let ClientEvent::Continuation { .. } = e {
                    c.send_auth_response("*").expect("* encodes");
                }
            }
        }
    }
}

/// The server session fed arbitrary bytes in arbitrary chunks, with every decision answered
/// alternately yes and no: never panics, never writes a line without CRLF, and every line
/// outside a multi-line body is a status line or a `+ ` continuation.
pub fn server_session(data: &[u8]) {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let config = ServerConfig {
        stls_available: seed & 1 == 1,
        allow_insecure_auth: seed & 2 == 2,
        max_output: 256,
        ..ServerConfig::default()
    };
    let auth = mailwire_sasl::StaticAuthenticator::new().with_user("alice", "secret");
    let mut s = ServerSession::new(
        config,
        Arc::new(auth),
        seed & 4 == 4,
        Some("<1.2@localhost>".to_owned()),
    );
    let messages: [&[u8]; 3] = [b"Subject: a\r\n\r\n.body\r\n", b"", b"x\r\n.\r\ny"];
    let mut yes = false;
    let mut out = Vec::new();
    for chunk in mailwire_codec::fuzzing::chunks(rest, seed) {
        let mut input = chunk;
        while !input.is_empty() && !s.is_closed() {
            let n = s.handle_input(input);
            input = &input[n..];
            let mut answered = false;
            while let Some(ev) = s.poll_event() {
                answered = true;
                yes = !yes;
                match ev {
                    Event::LockMaildrop { .. } => s.resolve_lock(if yes {
                        Ok(messages
                            .iter()
                            .enumerate()
                            .map(|(i, m)| MessageInfo {
                                size: m.len() as u64,
                                uid: UniqueId::new(format!("u{i}")).expect("valid id"),
                            })
                            .collect())
                    } else {
                        Err(Status::err("in use"))
                    }),
                    Event::Retrieve { index, .. } => {
                        if yes {
                            s.start_message();
                            for c in messages[index].chunks(2) {
                                if !s.handle_message_data(c) {
                                    break;
                                }
                            }
                            s.end_message();
                        } else {
                            s.fail_retrieve(Status::err("no"));
                        }
                    }
                    Event::Commit { .. } => {
                        s.resolve_commit(if yes { Ok(()) } else { Err(Status::err("no")) })
                    }
                    Event::StartTls => s.tls_established(),
                    Event::Close => {}
                }
            }
            s.poll_output(&mut out);
            if n == 0 && !answered {
                break;
            }
        }
    }
    s.poll_output(&mut out);
    if !out.is_empty() {
        assert!(out.ends_with(b"\r\n"), "output ends mid-line");
        for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            assert!(line.ends_with(b"\r"), "line without CRLF: {line:?}");
        }
    }
}
