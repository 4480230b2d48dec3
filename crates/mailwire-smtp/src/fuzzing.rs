//! The bodies of the SMTP cargo-fuzz targets (`fuzz/fuzz_targets/smtp_*.rs`), kept here so the
//! ordinary test run replays the committed corpora through the same code. Each panics only
//! when an invariant breaks.

use std::sync::Arc;

use crate::proto::{Command, Event, Extensions, Reply, ReplyParser, ServerConfig, ServerSession};

/// Command parser: never panics; it answers exactly as the general parser does (the ASCII fast
/// path never changes a result, errors included); what parses re-encodes and parses back to
/// the same command.
pub fn command(data: &[u8]) {
    let parsed = Command::parse(data);
    assert_eq!(
        parsed,
        Command::parse_general(data),
        "the fast path disagrees with the general parser"
    );
    if let Ok(cmd) = parsed {
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

/// Reply parser and EHLO parser: never panic; a parsed reply re-encodes and parses back.
pub fn reply(data: &[u8]) {
    let mut parser = ReplyParser::new(data.first().is_some_and(|b| b & 1 == 1));
    for line in data.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Ok(Some(r)) = parser.push_line(line) {
            let _ = Extensions::from_reply(&r);
            let wire = r.to_bytes();
            let mut again = ReplyParser::new(true);
            let mut parsed = None;
            for l in wire.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                parsed = again
                    .push_line(l.strip_suffix(b"\r").unwrap_or(l))
                    .expect("encoded replies parse");
            }
            let parsed: Reply = parsed.expect("a whole reply");
            assert_eq!(parsed.code(), r.code());
        }
    }
}

/// The server session fed arbitrary bytes in arbitrary chunks, with every decision answered
/// alternately yes and no: never panics, never emits a line without CRLF, and each reply line
/// has a three-digit code.
pub fn server_session(data: &[u8]) {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let config = ServerConfig {
        max_message_size: 200,
        max_recipients: 3,
        starttls_available: seed & 1 == 1,
        mode: match seed % 3 {
            0 => crate::proto::Mode::Smtp,
            1 => crate::proto::Mode::Submission,
            _ => crate::proto::Mode::Lmtp,
        },
        allow_insecure_auth: seed & 2 == 2,
        ..ServerConfig::default()
    };
    let auth = mailwire_sasl::StaticAuthenticator::new().with_user("alice", "secret");
    let mut s = ServerSession::new(config, Arc::new(auth), seed & 4 == 4);
    let mut yes = false;
    let mut out = Vec::new();
    for chunk in mailwire_codec::fuzzing::chunks(rest, seed) {
        let mut input = chunk;
        while !input.is_empty() && !s.is_closed() {
            let n = s.handle_input(input);
            input = &input[n..];
            while let Some(ev) = s.poll_event() {
                yes = !yes;
                match ev {
                    Event::CheckMail { .. } | Event::CheckRcpt { .. } | Event::CheckAuth { .. } => {
                        s.resolve_check(if yes {
                            Ok(())
                        } else {
                            Err(Reply::new(550, None, "no"))
                        })
                    }
                    Event::Deliver { message, .. } => {
                        assert!(message.len() <= 200);
                        s.resolve_delivery(vec![Reply::new(250, None, "ok")]);
                    }
                    Event::StartTls => s.tls_established(),
                    Event::Close => {}
                }
            }
            if n == 0 && s.is_blocked() {
                break;
            }
        }
    }
    s.poll_output(&mut out);
    if !out.is_empty() {
        assert!(out.ends_with(b"\r\n"), "output ends mid-line");
        for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            assert!(line.ends_with(b"\r"), "reply line without CRLF");
            assert!(
                line.len() >= 4 && line[..3].iter().all(u8::is_ascii_digit),
                "bad reply line {line:?}"
            );
        }
    }
}
