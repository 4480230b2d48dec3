//! IMAP literal framing: announcements before buffering, limits, rejection, poisoning.

use mailwire_codec::fuzzing::{OwnedImapFrame as F, chunks, frame_imap};
use mailwire_codec::{
    FramingError, ImapFrame, ImapFramer, ImapFramerConfig, LiteralAnnouncement, LiteralMode,
};
use proptest::prelude::*;

fn cfg() -> ImapFramerConfig {
    ImapFramerConfig {
        max_line_len: 100,
        max_literal_len: 1000,
        max_message_len: 4000,
        accept_bare_lf: false,
    }
}

fn lit(size: u64, mode: LiteralMode) -> F {
    F::Literal(LiteralAnnouncement {
        size,
        mode,
        binary: false,
    })
}

fn msg(m: &[u8]) -> F {
    F::Message(m.to_vec())
}

#[test]
fn announcement_precedes_literal_bytes() {
    let mut f = ImapFramer::new(cfg());
    let mut input = &b"a1 APPEND INBOX {11}\r\nHello"[..];
    let Some(ImapFrame::LiteralAnnounced(l)) = f.next_frame(&mut input) else {
        panic!()
    };
    assert_eq!((l.size, l.mode), (11, LiteralMode::Sync));
    // The literal's octets are still in the caller's input, not buffered.
    assert_eq!(input, b"Hello");
    assert_eq!(f.buffered_len(), 22);
}

#[test]
fn sync_literal_rejected_ends_message() {
    let out = frame_imap(cfg(), &[b"a1 APPEND INBOX {5000}\r\na2 NOOP\r\n"], 0);
    assert_eq!(
        out,
        vec![
            F::Error(
                FramingError::LiteralTooLarge {
                    size: 5000,
                    limit: 1000
                },
                Some(b"a1".to_vec())
            ),
            msg(b"a2 NOOP\r\n"),
        ]
    );
    // Rejected by the caller (e.g. over quota): the client never sends it.
    let out = frame_imap(cfg(), &[b"a1 APPEND INBOX {500}\r\na2 NOOP\r\n"], 100);
    assert_eq!(out, vec![lit(500, LiteralMode::Sync), msg(b"a2 NOOP\r\n")]);
}

#[test]
fn nonsync_literal_rejected_is_skipped_not_parsed() {
    // The literal's content looks like a command; it must never come out as one.
    let evil = b"a1 APPEND INBOX {2000+}\r\n";
    let mut input = evil.to_vec();
    input.extend(std::iter::repeat_n(b"x3 DELETE INBOX\r\n".as_slice(), 2000 / 17).flatten());
    input.resize(evil.len() + 2000, b'.');
    input.extend_from_slice(b" more {3+}\r\nabc\r\na4 NOOP\r\n");
    let out = frame_imap(cfg(), &[&input], 0);
    assert_eq!(
        out,
        vec![
            F::Error(
                FramingError::LiteralTooLarge {
                    size: 2000,
                    limit: 1000
                },
                Some(b"a1".to_vec())
            ),
            msg(b"a4 NOOP\r\n"),
        ]
    );
    let out = frame_imap(
        cfg(),
        &[b"a1 LOGIN {3+}\r\nx\r\n {2+}\r\nyy\r\na2 NOOP\r\n"],
        1,
    );
    assert_eq!(out, vec![lit(3, LiteralMode::NonSync), msg(b"a2 NOOP\r\n")]);
}

#[test]
fn invalid_sizes_are_errors_not_panics() {
    for bad in [
        &b"a {-1}\r\n"[..],
        b"a {99999999999999999999}\r\n",
        b"a {}\r\n",
        b"a {1-}\r\n",
    ] {
        let out = frame_imap(cfg(), &[bad, b"b NOOP\r\n"], u64::MAX);
        assert_eq!(
            out,
            vec![
                F::Error(FramingError::InvalidLiteral, Some(b"a".to_vec())),
                msg(b"b NOOP\r\n")
            ],
            "{bad:?}"
        );
    }
}

#[test]
fn overlong_line_with_nonsync_literal_is_poisoned_through_its_literal() {
    let mut input = b"a1 X ".to_vec();
    input.extend(vec![b'y'; 300]);
    input.extend_from_slice(b" {6+}\r\nb2 BAD\r\nc3 NOOP\r\n");
    let out = frame_imap(cfg(), &[&input], u64::MAX);
    assert_eq!(
        out,
        vec![
            F::Error(
                FramingError::LineTooLong { limit: 100 },
                Some(b"a1".to_vec())
            ),
            msg(b"c3 NOOP\r\n")
        ]
    );
    assert_eq!(frame_imap(cfg(), &chunks(&input, 0), u64::MAX), out);
}

#[test]
fn message_limit_bounds_literal_chains() {
    let mut input = b"a1 LOGIN".to_vec();
    for _ in 0..100 {
        input.extend_from_slice(b" {50+}\r\n");
        input.extend(vec![b'z'; 50]);
    }
    input.extend_from_slice(b"\r\na2 NOOP\r\n");
    let out = frame_imap(cfg(), &[&input], u64::MAX);
    assert!(matches!(out.last(), Some(F::Message(m)) if m == b"a2 NOOP\r\n"));
    assert!(out.contains(&F::Error(
        FramingError::MessageTooLarge { limit: 4000 },
        Some(b"a1".to_vec())
    )));
}

#[test]
fn binary_literal_and_responses() {
    let out = frame_imap(
        cfg(),
        &[b"* 1 FETCH (BINARY[1] ~{3}\r\n\0\x01\x02)\r\n"],
        u64::MAX,
    );
    assert_eq!(
        out,
        vec![
            F::Literal(LiteralAnnouncement {
                size: 3,
                mode: LiteralMode::Sync,
                binary: true
            }),
            msg(b"* 1 FETCH (BINARY[1] ~{3}\r\n\0\x01\x02)\r\n"),
        ]
    );
    // A zero-length literal.
    let out = frame_imap(cfg(), &[b"a LOGIN {0}\r\n {0+}\r\n\r\n"], u64::MAX);
    assert_eq!(
        out,
        vec![
            lit(0, LiteralMode::Sync),
            lit(0, LiteralMode::NonSync),
            msg(b"a LOGIN {0}\r\n {0+}\r\n\r\n")
        ]
    );
}

#[test]
fn bare_lf_is_an_error_unless_accepted() {
    let out = frame_imap(cfg(), &[b"a NOOP\nb NOOP\r\n"], u64::MAX);
    assert_eq!(
        out,
        vec![
            F::Error(FramingError::BareLf, Some(b"a".to_vec())),
            msg(b"b NOOP\r\n")
        ]
    );
    let lenient = ImapFramerConfig {
        accept_bare_lf: true,
        ..cfg()
    };
    assert_eq!(
        frame_imap(lenient, &[b"* OK\n"], u64::MAX),
        vec![msg(b"* OK\n")]
    );
}

fn arb_message() -> impl Strategy<Value = Vec<u8>> {
    let part = prop_oneof![
        "[a-zA-Z0-9 ()\\[\\]\"]{0,30}".prop_map(|s| s.into_bytes()),
        (prop::collection::vec(any::<u8>(), 0..40), any::<bool>()).prop_map(|(lit, plus)| {
            let mut v =
                format!(" {{{}{}}}\r\n", lit.len(), if plus { "+" } else { "" }).into_bytes();
            v.extend(lit);
            v
        }),
    ];
    prop::collection::vec(part, 1..5).prop_map(|parts| {
        let mut m = b"t1 X".to_vec();
        for p in parts {
            m.extend(p);
        }
        m.extend_from_slice(b"\r\n");
        m
    })
}

proptest! {
    #[test]
    fn chunking_does_not_change_frames(data in prop::collection::vec(prop_oneof![
        6 => prop::sample::select(b"a {}+~1023\r\n ".to_vec()), 1 => any::<u8>()], 0..300),
        seed in any::<u8>()) {
        let small = ImapFramerConfig { max_line_len: 20, max_literal_len: 30, max_message_len: 120, accept_bare_lf: false };
        let whole = frame_imap(small, &[&data], 20);
        prop_assert_eq!(&whole, &frame_imap(small, &chunks(&data, seed), 20));
        prop_assert_eq!(&whole, &frame_imap(small, &chunks(&data, 0), 20));
    }

    #[test]
    fn valid_stream_prefixes_never_error(msgs in prop::collection::vec(arb_message(), 1..4), cut in any::<prop::sample::Index>(), seed in any::<u8>()) {
        let stream: Vec<u8> = msgs.concat();
        // Limits the generated messages stay within (a line may reach 5 x 30 octets).
        let roomy = ImapFramerConfig { max_line_len: 1000, max_literal_len: 1000, max_message_len: 10_000, accept_bare_lf: false };
        let full = frame_imap(roomy, &chunks(&stream, seed), u64::MAX);
        let messages: Vec<_> = full.iter().filter_map(|f| match f { F::Message(m) => Some(m.clone()), _ => None }).collect();
        prop_assert_eq!(messages, msgs.clone());
        let cut = cut.index(stream.len());
        let prefix = frame_imap(roomy, &[&stream[..cut]], u64::MAX);
        prop_assert!(prefix.iter().all(|f| !matches!(f, F::Error(..))));
        prop_assert_eq!(&full[..prefix.len()], &prefix[..]);
    }
}
