//! Property tests: arbitrary values encode and parse back equal; every proper prefix of a
//! valid message is `Incomplete`/`NeedLiteral`; the result does not depend on how the input
//! is chunked; arbitrary bytes never panic a parser. The value generators live in
//! `mailwire_imap::fuzzing::values` (shared with the structure-aware fuzz targets).

use mailwire_codec::{ImapFrame, ImapFramer, ImapFramerConfig};
use mailwire_imap::fuzzing;
use mailwire_imap::fuzzing::values::{self, Source};
use mailwire_imap::proto::{DecodeOptions, Response, decode_response};
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    /// Commands: encode → parse gives an equal value; prefixes are incomplete.
    #[test]
    fn commands_round_trip(data in bytes(400)) {
        fuzzing::command_round_trip(&data);
    }

    /// Responses and greetings: encode → parse gives an equal value; prefixes are incomplete.
    #[test]
    fn responses_round_trip(data in bytes(600)) {
        fuzzing::response_round_trip(&data);
    }

    /// A stream of commands framed in any chunking gives the same commands.
    #[test]
    fn framed_commands_do_not_depend_on_chunking(seed in any::<u8>(), data in bytes(600)) {
        let mut input = vec![seed];
        input.extend_from_slice(&data);
        fuzzing::framed_commands(&input);
    }

    /// A stream of responses split at arbitrary points frames and parses to the same
    /// responses.
    #[test]
    fn framed_responses_do_not_depend_on_chunking(
        data in bytes(800),
        cuts in proptest::collection::vec(any::<u16>(), 0..20),
    ) {
        let mut src = Source::new(&data);
        let mut expected = Vec::new();
        let mut wire = Vec::new();
        while !src.is_exhausted() && expected.len() < 12 {
            let r = values::response(&mut src);
            wire.extend_from_slice(r.to_bytes().as_slice());
            expected.push(r);
        }
        let mut points: Vec<usize> = cuts.iter().map(|c| usize::from(*c) % (wire.len() + 1)).collect();
        points.push(0);
        points.push(wire.len());
        points.sort_unstable();
        let mut framer = ImapFramer::new(ImapFramerConfig::default());
        let mut got: Vec<Response> = Vec::new();
        for w in points.windows(2) {
            let mut input = &wire[w[0]..w[1]];
            while let Some(f) = framer.next_frame(&mut input) {
                match f {
                    ImapFrame::Message(m) => {
                        let (r, n) = decode_response(m, &DecodeOptions::default()).expect("parses");
                        prop_assert_eq!(n, m.len());
                        got.push(r);
                    }
                    ImapFrame::LiteralAnnounced(_) => {}
                    ImapFrame::Error { error, .. } => prop_assert!(false, "framing error {}", error),
                }
            }
        }
        prop_assert_eq!(got, expected);
    }

    /// Arbitrary bytes never panic any parser, and what parses round-trips.
    #[test]
    fn arbitrary_bytes_never_panic(data in bytes(300)) {
        fuzzing::command(&data);
        fuzzing::response(&data);
        fuzzing::greeting(&data);
        fuzzing::authenticate_data(&data);
        fuzzing::idle_done(&data);
    }

    /// Arbitrary bytes shaped like IMAP (made of grammar tokens) never panic and round-trip.
    #[test]
    fn token_soup_never_panics(tokens in proptest::collection::vec(0usize..TOKENS.len(), 0..40)) {
        let mut data: Vec<u8> = Vec::new();
        for t in tokens {
            data.extend_from_slice(TOKENS[t]);
        }
        data.extend_from_slice(b"\r\n");
        fuzzing::command(&data);
        fuzzing::response(&data);
        let mut with_tag = b"a1 ".to_vec();
        with_tag.extend_from_slice(&data);
        fuzzing::command(&with_tag);
        let mut untagged = b"* ".to_vec();
        untagged.extend_from_slice(&data);
        fuzzing::response(&untagged);
    }

    /// The client session survives arbitrary server bytes.
    #[test]
    fn client_session_survives_anything(data in bytes(600)) {
        fuzzing::client_session(&data);
    }
}

const TOKENS: &[&[u8]] = &[
    b" ",
    b"(",
    b")",
    b"[",
    b"]",
    b"{3}\r\nabc",
    b"{0}\r\n",
    b"~{1}\r\n\0",
    b"\"q\\\"\"",
    b"NIL",
    b"1",
    b"1:*",
    b"*",
    b"$",
    b"FETCH",
    b"BODY",
    b"BODYSTRUCTURE",
    b"ENVELOPE",
    b"OK",
    b"LIST",
    b"SEARCH",
    b"OR",
    b"NOT",
    b"UID",
    b"FLAGS",
    b"\\Seen",
    b"\\*",
    b"HEADER.FIELDS",
    b"<0.5>",
    b"\"text\"",
    b"\"plain\"",
    b"SELECT",
    b"INBOX",
    b"STATUS",
    b"MESSAGES",
    b"ESEARCH",
    b"MIN",
    b"THREAD",
    b"NAMESPACE",
    b"ID",
    b"CAPABILITY",
    b"IMAP4rev2",
    b"17-Jul-1996",
    b"\"17-Jul-1996 02:44:25 -0700\"",
    b"APPEND",
    b"EXPUNGE",
    b"VANISHED",
    b"(EARLIER)",
    b"MODSEQ",
    b"QRESYNC",
    b"ENABLE",
];

/// Deep nesting is refused cleanly, never a stack overflow.
#[test]
fn deep_nesting_is_bounded() {
    let deep_search = format!(
        "a1 SEARCH {}ALL{}\r\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    let Err(mailwire_imap::proto::DecodeError::Syntax(e)) =
        mailwire_imap::proto::Command::decode(deep_search.as_bytes())
    else {
        panic!("deep search accepted")
    };
    assert!(e.is_too_deep());
    assert_eq!(e.tag().map(|t| t.as_str()), Some("a1"));
    let nots = format!("a2 SEARCH {}ALL\r\n", "NOT ".repeat(100_000));
    assert!(mailwire_imap::proto::Command::decode(nots.as_bytes()).is_err());
    // Multiparts nested 50 000 deep (valid if there were no limit).
    let deep_body = format!(
        "* 1 FETCH (BODYSTRUCTURE {}\"a\" \"b\" NIL NIL NIL \"7bit\" 1){})\r\n",
        "(".repeat(50_000),
        " \"mixed\")".repeat(49_999)
    );
    assert!(Response::decode(deep_body.as_bytes()).is_err());
    let deep_ext = format!(
        "* LIST () \"/\" a (\"x\" {}1{})\r\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    assert!(Response::decode(deep_ext.as_bytes()).is_err());
    let deep_thread = format!(
        "* THREAD {}1{}\r\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    assert!(Response::decode(deep_thread.as_bytes()).is_err());
    // Within the limit, nesting parses.
    let ok = format!("a3 SEARCH {}ALL{}\r\n", "(".repeat(40), ")".repeat(40));
    assert!(mailwire_imap::proto::Command::decode(ok.as_bytes()).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A real server transcript (Dovecot, recorded) fed to the client session at arbitrary
    /// split points gives exactly the events of feeding it whole.
    #[test]
    fn client_events_do_not_depend_on_chunking(cuts in proptest::collection::vec(any::<u32>(), 0..64)) {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/transcripts/dovecot-imaplib.server");
        let wire = std::fs::read(path).expect("transcript");
        let run = |points: &[usize]| {
            let mut s = mailwire_imap::proto::client::ClientSession::new(Default::default());
            for w in points.windows(2) {
                s.handle_input(&wire[w[0]..w[1]]);
            }
            std::iter::from_fn(|| s.poll_event()).collect::<Vec<_>>()
        };
        let whole = run(&[0, wire.len()]);
        let mut points: Vec<usize> = cuts.iter().map(|c| *c as usize % (wire.len() + 1)).collect();
        points.extend([0, wire.len()]);
        points.sort_unstable();
        prop_assert_eq!(run(&points), whole);
    }
}
