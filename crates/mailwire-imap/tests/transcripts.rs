//! Real transcripts recorded from Dovecot and Twisted's IMAP4Server talking to Python's
//! imaplib, imapclient and Twisted's IMAP4Client (`tests/record/record.py`, kept in
//! `tests/data/transcripts/`): every message parses, consumes its whole frame and round-trips,
//! its proper prefixes are `Incomplete`/`NeedLiteral`,
//! and `parse_transcript` (the logic of `mailwire parse`) accepts each file.

mod common;

use std::path::PathBuf;

use common::{
    ServerMessage, command_prefixes, command_round_trip, done, escape, frame, response_prefixes,
    response_round_trip,
};
use mailwire_imap::proto::transcript::{TranscriptKind, parse_transcript};
use mailwire_imap::proto::{AuthenticateData, CommandBody};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/transcripts")
}

fn files(ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("transcripts folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    assert!(
        v.len() >= 6,
        "expected the recorded transcripts, found {v:?}"
    );
    v
}

#[test]
fn client_commands_parse_and_round_trip() {
    let mut total = 0;
    for path in files("client") {
        let bytes = std::fs::read(&path).expect("transcript");
        let mut after_auth = false;
        let mut after_idle = false;
        let mut n = 0;
        for msg in frame(&bytes) {
            match command_round_trip(&msg) {
                Ok(cmd) => {
                    command_prefixes(&msg).unwrap_or_else(|e| panic!("{}: {e}", escape(&msg)));
                    after_auth = matches!(cmd.body, CommandBody::Authenticate { .. });
                    after_idle = matches!(cmd.body, CommandBody::Idle);
                }
                Err(e) if after_auth && AuthenticateData::decode(&msg).is_ok() => {
                    let _ = e;
                }
                Err(e) if after_idle => {
                    done(&msg).unwrap_or_else(|d| panic!("{}: {e} / {d}", escape(&msg)))
                }
                Err(e) => panic!("{}: {}\n  {e}", path.display(), escape(&msg)),
            }
            n += 1;
        }
        assert!(n > 0, "{} is empty", path.display());
        let mut out = Vec::new();
        let parsed = parse_transcript(TranscriptKind::Command, &bytes, &mut out)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(parsed, n);
        total += n;
    }
    assert!(total > 150, "{total} commands");
}

#[test]
fn server_responses_parse_and_round_trip() {
    let mut total = 0;
    let mut fetches_with_structure = 0;
    for path in files("server") {
        let bytes = std::fs::read(&path).expect("transcript");
        let msgs = frame(&bytes);
        for (k, msg) in msgs.iter().enumerate() {
            match response_round_trip(msg) {
                Ok(ServerMessage::Greeting(_)) => assert_eq!(k, 0, "a greeting mid-stream"),
                Ok(ServerMessage::Response(_)) => {}
                Err(e) => panic!("{}: {}\n  {e}", path.display(), escape(msg)),
            }
            response_prefixes(msg).unwrap_or_else(|e| panic!("{}: {e}", escape(msg)));
            if msg.windows(13).any(|w| w == b"BODYSTRUCTURE") && msg.starts_with(b"* ") {
                fetches_with_structure += 1;
            }
        }
        let mut out = Vec::new();
        let parsed = parse_transcript(TranscriptKind::Response, &bytes, &mut out)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(parsed, msgs.len());
        total += msgs.len();
    }
    assert!(total > 400, "{total} responses");
    assert!(fetches_with_structure >= 10, "{fetches_with_structure}");
}

/// Twisted's BODYSTRUCTURE for a message without Content-Type has NIL type and subtype, and
/// for a message/rfc822 part it puts the extension data before the envelope: both parse.
#[test]
fn twisted_body_structure_quirks_are_in_the_recording() {
    let bytes = std::fs::read(dir().join("twisted-imaplib.server")).expect("transcript");
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("BODYSTRUCTURE (NIL NIL"),
        "NIL media type recorded"
    );
    assert!(
        text.contains("(\"message\" \"rfc822\" NIL NIL NIL"),
        "message/rfc822 recorded"
    );
}
