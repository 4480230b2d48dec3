//! SMTP DATA / BDAT / POP3 multi-line receivers and the dot-stuffer.

use mailwire_codec::fuzzing::{chunks, receive_data};
use mailwire_codec::{
    BareLineEndings, BdatReceiver, DataConfig, DataError, DataStatus, DotStuffer,
    MultiLineReceiver, dot_stuff, normalise_line_endings,
};
use proptest::prelude::*;

fn strict() -> DataConfig {
    DataConfig::default()
}

fn lenient() -> DataConfig {
    DataConfig {
        bare_line_endings: BareLineEndings::Accept,
        ..DataConfig::default()
    }
}

/// Feeds every chunking the tests use and checks they agree.
fn receive(config: DataConfig, wire: &[u8]) -> (Vec<u8>, Option<Result<u64, DataError>>, usize) {
    let whole = receive_data(config, &[wire]);
    for seed in 0..5 {
        let split = receive_data(config, &chunks(wire, seed));
        assert_eq!((&split.1, split.2), (&whole.1, whole.2), "chunking {seed}");
        if let Some(Ok(_)) = whole.1 {
            assert_eq!(split.0, whole.0, "chunking {seed}");
        }
    }
    whole
}

#[test]
fn ends_only_at_crlf_dot_crlf() {
    let wire = b"a\r\n..b\r\n.c\r\n.\r\nMAIL FROM:<>\r\n";
    let (body, result, consumed) = receive(strict(), wire);
    assert_eq!(body, b"a\r\n.b\r\nc\r\n");
    assert_eq!(result, Some(Ok(10)));
    assert_eq!(&wire[consumed..], b"MAIL FROM:<>\r\n");
    // An empty message.
    assert_eq!(receive(strict(), b".\r\n"), (vec![], Some(Ok(0)), 3));
}

#[test]
fn smuggling_vectors_never_end_the_message() {
    for vector in [
        &b"\n.\r\n"[..],
        b"\n.\n",
        b"\r.\r\n",
        b"\r\n.\r",
        b"\r\n.\n",
    ] {
        let repair = DataConfig {
            bare_line_endings: BareLineEndings::Normalise,
            ..DataConfig::default()
        };
        for config in [strict(), lenient(), repair] {
            let mut wire = b"Subject: a\r\n\r\nbody".to_vec();
            wire.extend_from_slice(vector);
            wire.extend_from_slice(
                b"MAIL FROM:<evil@example.com>\r\nRCPT TO:<x@example.com>\r\nDATA\r\n",
            );
            let (_, result, _) = receive(config, &wire);
            assert_eq!(result, None, "{vector:?} ended the message ({config:?})");
            // Only a real CRLF.CRLF ends it, after the smuggled text.
            wire.extend_from_slice(b"smuggled\r\n.\r\n");
            let (body, result, consumed) = receive(config, &wire);
            assert_eq!(consumed, wire.len(), "{vector:?}");
            match config.bare_line_endings {
                BareLineEndings::Reject => {
                    assert!(
                        matches!(result, Some(Err(DataError::BareCr | DataError::BareLf))),
                        "{vector:?}: {result:?}"
                    )
                }
                BareLineEndings::Accept | BareLineEndings::Normalise => {
                    assert_eq!(result, Some(Ok(body.len() as u64)));
                    assert!(
                        body.windows(9).any(|w| w == b"MAIL FROM"),
                        "smuggled text is data"
                    );
                }
            }
        }
    }
}

#[test]
fn bare_cr_and_lf_are_named_errors() {
    assert_eq!(
        receive(strict(), b"a\nb\r\n.\r\n").1,
        Some(Err(DataError::BareLf))
    );
    assert_eq!(
        receive(strict(), b"a\rb\r\n.\r\n").1,
        Some(Err(DataError::BareCr))
    );
    assert_eq!(
        receive(strict(), b"a\r\n.\rx\r\n.\r\n").1,
        Some(Err(DataError::BareCr))
    );
    let (body, result, _) = receive(lenient(), b"a\nb\rc\r\n.\r\n");
    assert_eq!(body, b"a\nb\rc\r\n");
    assert_eq!(result, Some(Ok(7)));
}

#[test]
fn size_limit_drains_with_bounded_memory() {
    let config = DataConfig {
        max_message_size: 1 << 20,
        ..strict()
    };
    let mut rx = mailwire_codec::DataReceiver::new(config);
    let mut out = Vec::new();
    let line = [vec![b'x'; 78], b"\r\n".to_vec()].concat();
    let chunk: Vec<u8> = line.iter().copied().cycle().take(80 * 820).collect();
    // 256 MiB of data without a terminator.
    for _ in 0..4096 {
        // 80 * 820 * 4096 octets
        assert_eq!(rx.feed(&chunk, &mut out), DataStatus::NeedMore);
        assert!(out.len() <= 1 << 20);
        out.clear();
    }
    assert_eq!(rx.error(), Some(&DataError::TooLarge { limit: 1 << 20 }));
    let status = rx.feed(b".\r\nQUIT\r\n", &mut out);
    assert_eq!(
        status,
        DataStatus::Done {
            consumed: 3,
            result: Err(DataError::TooLarge { limit: 1 << 20 })
        }
    );
}

#[test]
fn text_line_limit() {
    let config = DataConfig {
        max_line_len: Some(10),
        ..strict()
    };
    assert_eq!(receive(config, b"12345678\r\n.\r\n").1, Some(Ok(10)));
    assert_eq!(
        receive(config, b"123456789\r\n.\r\n").1,
        Some(Err(DataError::LineTooLong { limit: 10 }))
    );
}

#[test]
fn bdat_counts_exactly() {
    let mut rx = BdatReceiver::new(4, 0, 100);
    let mut out = Vec::new();
    assert_eq!(
        rx.feed(b"\r\n.\r", &mut out),
        DataStatus::Done {
            consumed: 4,
            result: Ok(4)
        }
    );
    assert_eq!(out, b"\r\n.\r");
    let mut rx = BdatReceiver::new(60, 50, 100);
    let mut out = Vec::new();
    assert_eq!(rx.feed(&[b'a'; 59], &mut out), DataStatus::NeedMore);
    assert_eq!(
        rx.feed(b"abc", &mut out),
        DataStatus::Done {
            consumed: 1,
            result: Err(DataError::TooLarge { limit: 100 })
        }
    );
    assert!(out.is_empty());
    let mut rx = BdatReceiver::new(0, 0, 100);
    assert_eq!(
        rx.feed(b"", &mut out),
        DataStatus::Done {
            consumed: 0,
            result: Ok(0)
        }
    );
}

#[test]
fn pop3_multiline() {
    let mut rx = MultiLineReceiver::new(1000);
    let mut out = Vec::new();
    assert_eq!(rx.feed(b"1 120\r\n2 2", &mut out), DataStatus::NeedMore);
    assert_eq!(rx.feed(b"00\r\n.", &mut out), DataStatus::NeedMore);
    assert_eq!(
        rx.feed(b"\r\n+OK", &mut out),
        DataStatus::Done {
            consumed: 2,
            result: Ok(14)
        }
    );
    assert!(rx.is_finished());
    assert_eq!(out, b"1 120\r\n2 200\r\n");
}

#[test]
fn stuffer_edges() {
    assert_eq!(dot_stuff(b"", true), b".\r\n");
    assert_eq!(dot_stuff(b".", true), b"..\r\n.\r\n");
    assert_eq!(dot_stuff(b"a\n.b", false), b"a\n..b\r\n.\r\n");
    assert_eq!(dot_stuff(b"a\r.b", false), b"a\r..b\r\n.\r\n");
    assert_eq!(dot_stuff(b"a\r\n", false), b"a\r\n.\r\n");
    // A dot at a chunk edge.
    let mut out = Vec::new();
    let mut s = DotStuffer::new(false);
    s.encode(b"x\r\n", &mut out);
    s.encode(b".", &mut out);
    s.encode(b"\r", &mut out);
    s.encode(b"\n", &mut out);
    s.finish(&mut out);
    assert_eq!(out, b"x\r\n..\r\n.\r\n");
}

#[test]
fn stuffer_matches_python_smtplib() {
    let vectors = include_str!("vectors/smtplib_quote.txt");
    let hex = |s: &str| -> Vec<u8> {
        if s == "-" {
            return vec![];
        }
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let mut n = 0;
    for line in vectors.lines() {
        let (input, wire) = line.split_once(' ').unwrap();
        let (input, wire) = (hex(input), hex(wire));
        for seed in 0..5 {
            let mut out = Vec::new();
            let mut s = DotStuffer::new(true);
            for c in chunks(&input, seed) {
                s.encode(c, &mut out);
            }
            s.finish(&mut out);
            assert_eq!(out, wire, "input {input:?}");
        }
        n += 1;
    }
    assert!(n > 300);
}

fn arb_message() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![5 => prop::sample::select(b"a. ".to_vec()), 2 => Just(b'\r'), 2 => Just(b'\n'), 1 => any::<u8>()],
        0..300,
    )
}

proptest! {
    #[test]
    fn unstuff_of_stuff_is_normalise(msg in arb_message(), seed in any::<u8>()) {
        let mut data = vec![seed];
        data.extend_from_slice(&msg);
        mailwire_codec::fuzzing::dot_stuff_roundtrip(&data);
        prop_assert_eq!(normalise_line_endings(&msg).len() >= msg.len(), true);
    }

    #[test]
    fn receiver_independent_of_chunking(msg in arb_message(), seed in any::<u8>()) {
        let mut data = vec![seed];
        data.extend_from_slice(&msg);
        mailwire_codec::fuzzing::data_receiver(&data);
    }

    #[test]
    fn proper_prefixes_are_incomplete(msg in arb_message(), cut in any::<prop::sample::Index>()) {
        let wire = dot_stuff(&msg, true);
        let cut = cut.index(wire.len());
        let (_, result, _) = receive_data(strict(), &[&wire[..cut]]);
        prop_assert_eq!(result, None);
    }
}

#[test]
fn normalise_repairs_bare_line_endings_and_keeps_the_terminator_rule() {
    let repair = DataConfig {
        bare_line_endings: BareLineEndings::Normalise,
        ..DataConfig::default()
    };
    // What a client that turns every LF into CRLF makes of a CRLF message: CR CR LF.
    let wire = b"Subject: x\r\r\nFrom: a\r\r\n\r\r\nbody\r\r\n.\r\nNEXT";
    let (body, result, consumed) = receive(repair, wire);
    assert_eq!(body, b"Subject: x\r\nFrom: a\r\n\r\nbody\r\n");
    assert!(matches!(result, Some(Ok(_))));
    assert_eq!(&wire[consumed..], b"NEXT");
    // Bare LF and bare CR each become CRLF; a run of bare CRs not before LF is one each.
    let (body, _, _) = receive(repair, b"a\nb\rc\r\rd\r\n.\r\n");
    assert_eq!(body, b"a\r\nb\r\nc\r\n\r\nd\r\n");
    // A bare LF does not start a line: neither "LF . LF" nor "LF . CRLF" ends the message,
    // and its dot is not unstuffing.
    let wire = b"a\n.\nb\n.\r\nc\r\n.\r\n";
    let (body, result, consumed) = receive(repair, wire);
    assert_eq!(body, b"a\r\n.\r\nb\r\n.\r\nc\r\n");
    assert!(matches!(result, Some(Ok(_))));
    assert_eq!(consumed, wire.len());
}
