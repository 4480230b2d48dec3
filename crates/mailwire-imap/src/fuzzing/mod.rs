//! The bodies of the IMAP cargo-fuzz targets (`fuzz/fuzz_targets/imap_*.rs`), kept here so the
//! ordinary test run replays the committed corpora (`tests/fuzz_corpus.rs`) through the same
//! code. Each function panics only when an invariant breaks.

pub mod values;

use mailwire_codec::{ImapFrame, ImapFramer, ImapFramerConfig};

use crate::proto::client::{ClientConfig, ClientSession, Event};
use crate::proto::{
    AuthenticateData, Command, CommandBody, DecodeError, DecodeOptions, EncodeOptions, Greeting,
    Response, decode_command, decode_greeting, decode_idle_done, decode_response,
};

/// Checks the prefix property: every proper prefix of a valid message is `Incomplete` or
/// `NeedLiteral`, never a syntax error.
fn prefixes(wire: &[u8], decode: impl Fn(&[u8]) -> Result<usize, DecodeError>) {
    for end in 0..wire.len() {
        match decode(&wire[..end]) {
            Err(DecodeError::Incomplete | DecodeError::NeedLiteral(_)) => {}
            other => panic!(
                "prefix {} of {} gave {other:?}",
                wire[..end].escape_ascii(),
                wire.escape_ascii()
            ),
        }
    }
}

/// Command parser on arbitrary bytes: never panics; what parses re-encodes (with and without
/// LITERAL+ / UTF-8) and parses back equal, consuming the whole encoding.
pub fn command(data: &[u8]) {
    let options = DecodeOptions { max_depth: 8 };
    if let Ok((cmd, _)) = decode_command(data, &options) {
        check_command(&cmd, &options);
    }
}

fn check_command(cmd: &Command, options: &DecodeOptions) {
    for enc in [
        EncodeOptions::default(),
        EncodeOptions {
            literal_plus: true,
            utf8: true,
            ..Default::default()
        },
    ] {
        let wire = cmd.encode(&enc).into_bytes();
        match decode_command(&wire, options) {
            Ok((again, n)) => {
                assert_eq!(n, wire.len(), "{}", wire.escape_ascii());
                assert_eq!(&again, cmd, "{}", wire.escape_ascii());
            }
            Err(e) => panic!("{} does not parse: {e:?}", wire.escape_ascii()),
        }
    }
}

/// Response parser on arbitrary bytes: never panics; what parses round-trips.
pub fn response(data: &[u8]) {
    let options = DecodeOptions { max_depth: 8 };
    if let Ok((r, _)) = decode_response(data, &options) {
        check_response(&r, &options);
    }
}

fn check_response(r: &Response, options: &DecodeOptions) {
    let wire = r.to_bytes();
    match decode_response(&wire, options) {
        Ok((again, n)) => {
            assert_eq!(n, wire.len(), "{}", wire.escape_ascii());
            assert_eq!(&again, r, "{}", wire.escape_ascii());
        }
        Err(e) => panic!("{} does not parse: {e:?}", wire.escape_ascii()),
    }
}

/// Greeting parser: never panics; what parses round-trips.
pub fn greeting(data: &[u8]) {
    if let Ok((g, _)) = decode_greeting(data) {
        let wire = g.to_bytes();
        let (again, _) = decode_greeting(&wire).expect("an encoded greeting parses");
        assert_eq!(again, g);
    }
}

/// AUTHENTICATE continuation lines: never panic; what parses round-trips.
pub fn authenticate_data(data: &[u8]) {
    if let Ok((d, _)) = AuthenticateData::decode(data) {
        let (again, _) = AuthenticateData::decode(&d.to_bytes()).expect("re-encoding parses");
        assert_eq!(again, d);
    }
}

/// IDLE's `DONE`: never panics; accepts exactly `DONE CRLF` (any case) at the start.
pub fn idle_done(data: &[u8]) {
    if let Ok(n) = decode_idle_done(data) {
        assert_eq!(n, 6);
        assert!(data[..4].eq_ignore_ascii_case(b"DONE") && &data[4..6] == b"\r\n");
    }
}

/// Structure-aware: a command built from the bytes encodes, parses back equal, and every
/// proper prefix of its encoding is incomplete.
pub fn command_round_trip(data: &[u8]) {
    let cmd = values::command(&mut values::Source::new(data));
    let options = DecodeOptions::default();
    check_command(&cmd, &options);
    let wire = cmd.encode(&EncodeOptions::default()).into_bytes();
    if wire.len() <= 4096 {
        prefixes(&wire, |p| decode_command(p, &options).map(|(_, n)| n));
    }
}

/// Structure-aware: a response built from the bytes encodes, parses back equal, and every
/// proper prefix of its encoding is incomplete.
pub fn response_round_trip(data: &[u8]) {
    let mut src = values::Source::new(data);
    let r = values::response(&mut src);
    let options = DecodeOptions::default();
    check_response(&r, &options);
    let wire = r.to_bytes();
    if wire.len() <= 4096 {
        prefixes(&wire, |p| decode_response(p, &options).map(|(_, n)| n));
    }
    let g: Greeting = values::greeting(&mut src);
    let (again, _) = decode_greeting(&g.to_bytes()).expect("an encoded greeting parses");
    assert_eq!(again, g);
}

/// Frames a stream of generated commands in chunks chosen by the first byte, and checks that
/// each framed message parses to the command that was encoded.
pub fn framed_commands(data: &[u8]) {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let mut src = values::Source::new(rest);
    let mut commands = Vec::new();
    let mut wire = Vec::new();
    while !src.is_exhausted() && commands.len() < 16 {
        let c = values::command(&mut src);
        wire.extend_from_slice(c.encode(&EncodeOptions::default()).as_bytes());
        commands.push(c);
    }
    let mut framer = ImapFramer::new(ImapFramerConfig::default());
    let mut got = Vec::new();
    for chunk in mailwire_codec::fuzzing::chunks(&wire, seed) {
        let mut input = chunk;
        while let Some(f) = framer.next_frame(&mut input) {
            match f {
                ImapFrame::Message(m) => {
                    let (c, _) = Command::decode(m).expect("a framed command parses");
                    got.push(c);
                }
                ImapFrame::LiteralAnnounced(_) => {}
                ImapFrame::Error { error, .. } => panic!("framing error {error}"),
            }
        }
    }
    assert_eq!(got, commands);
}

/// The client session fed arbitrary server bytes in arbitrary chunks, with commands enqueued
/// between them: never panics, every transmitted command line ends with CRLF.
pub fn client_session(data: &[u8]) {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let mut s = ClientSession::new(ClientConfig::default());
    let mut out = Vec::new();
    let mut src = values::Source::new(rest);
    for (k, chunk) in mailwire_codec::fuzzing::chunks(rest, seed)
        .into_iter()
        .enumerate()
    {
        if k % 3 == 0 {
            let c = values::command(&mut src);
            if !matches!(c.body, CommandBody::Authenticate { .. } | CommandBody::Idle) {
                s.enqueue(c.body);
            }
        }
        s.handle_input(chunk);
        while s.poll_transmit(&mut out).is_some() {}
        while let Some(ev) = s.poll_event() {
            if let Event::ContinuationReceived { handle, .. } = ev {
                let _ = s.authenticate_cancel(handle);
            }
        }
    }
    // Whatever was sent is whole lines (a literal's octets end before its line goes on).
    assert!(
        out.is_empty() || out.ends_with(b"\r\n"),
        "{}",
        out.escape_ascii()
    );
}
