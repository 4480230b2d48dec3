//! The line framer: limits, resynchronisation, bare LF, chunking independence, prefixes.

use mailwire_codec::fuzzing::{chunks, frame_lines};
use mailwire_codec::{BareLf, LineConfig, LineError, LineFramer};
use proptest::prelude::*;

fn cfg(max: usize) -> LineConfig {
    LineConfig {
        max_line_len: max,
        ..LineConfig::default()
    }
}

fn lines(config: LineConfig, input: &[u8]) -> Vec<Result<Vec<u8>, LineError>> {
    frame_lines(config, &[input]).0
}

#[test]
fn limit_counts_crlf_and_resyncs() {
    // 10 octets with CRLF is allowed, 11 is not.
    let out = lines(cfg(10), b"12345678\r\n123456789\r\nNOOP\r\n");
    assert_eq!(out[0], Ok(b"12345678".to_vec()));
    assert_eq!(out[1], Err(LineError::TooLong { limit: 10 }));
    assert_eq!(out[2], Ok(b"NOOP".to_vec()));
    assert_eq!(out.len(), 3);
}

#[test]
fn overlong_line_reported_before_its_end_and_never_buffered() {
    let mut f = LineFramer::new(cfg(512));
    let big = vec![b'A'; 100_000];
    let mut input = &big[..];
    assert_eq!(
        f.next_line(&mut input),
        Some(Err(LineError::TooLong { limit: 512 }))
    );
    assert_eq!(f.next_line(&mut input), None);
    assert_eq!(f.buffered_len(), 0, "nothing of an overlong line is kept");
    let mut input = &b"AAAA\r\nQUIT\r\n"[..];
    assert_eq!(f.next_line(&mut input), Some(Ok(&b"QUIT"[..])));
}

#[test]
fn bare_lf_policy() {
    let out = lines(cfg(100), b"A\nB\r\n");
    assert_eq!(out, vec![Err(LineError::BareLf), Ok(b"B".to_vec())]);
    let lenient = LineConfig {
        bare_lf: BareLf::AcceptAsLineEnding,
        ..cfg(100)
    };
    assert_eq!(
        lines(lenient, b"A\nB\r\n\n"),
        vec![Ok(b"A".to_vec()), Ok(b"B".to_vec()), Ok(vec![])]
    );
    // A CR split from its LF across reads still makes a CRLF.
    let (out, _) = frame_lines(cfg(100), &[b"A\r", b"\nB\r", b"\n"]);
    assert_eq!(out, vec![Ok(b"A".to_vec()), Ok(b"B".to_vec())]);
}

#[test]
fn buffered_len_reports_the_tail() {
    let mut f = LineFramer::new(cfg(100));
    let mut input = &b"STARTTLS\r\nEHLO inject"[..];
    assert_eq!(f.next_line(&mut input), Some(Ok(&b"STARTTLS"[..])));
    // The driver sees the unconsumed input; after feeding it the framer holds it.
    assert_eq!(input, b"EHLO inject");
    assert_eq!(f.next_line(&mut input), None);
    assert_eq!(f.buffered_len(), 11);
    f.reset();
    assert!(f.is_idle());
}

#[test]
fn each_byte_examined_a_bounded_number_of_times() {
    // 1-byte feeding of a long (but allowed) line must not be quadratic: 1 MiB in 1-byte
    // chunks would take minutes if the buffer were rescanned from its start on each call.
    let mut f = LineFramer::new(cfg(2 << 20));
    let mut line = vec![b'x'; 1 << 20];
    line.extend_from_slice(b"\r\n");
    let mut n = 0;
    for b in line.chunks(1) {
        let mut input = b;
        while let Some(r) = f.next_line(&mut input) {
            assert_eq!(r.map(<[u8]>::len), Ok(1 << 20));
            n += 1;
        }
    }
    assert_eq!(n, 1);
}

fn arb_stream() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            8 => prop::sample::select(b"abc .\t".to_vec()),
            2 => Just(b'\r'),
            2 => Just(b'\n'),
        ],
        0..400,
    )
}

proptest! {
    #[test]
    fn chunking_does_not_change_frames(data in arb_stream(), seed in any::<u8>(), max in 1usize..40) {
        let whole = frame_lines(cfg(max), &[&data]);
        let split = frame_lines(cfg(max), &chunks(&data, seed));
        prop_assert_eq!(&whole, &split);
        let ones = frame_lines(cfg(max), &chunks(&data, 0));
        prop_assert_eq!(&whole, &ones);
    }

    #[test]
    fn proper_prefixes_are_incomplete(raw in prop::collection::vec("[a-z .]{0,20}", 1..10), cut in any::<prop::sample::Index>()) {
        let valid: Vec<u8> = raw.iter().flat_map(|l| [l.as_bytes(), b"\r\n"].concat()).collect();
        let full = lines(cfg(64), &valid);
        prop_assert!(full.iter().all(Result::is_ok));
        let cut = cut.index(valid.len());
        let prefix = lines(cfg(64), &valid[..cut]);
        prop_assert!(prefix.iter().all(Result::is_ok), "a prefix of valid input gave an error");
        prop_assert_eq!(&full[..prefix.len()], &prefix[..]);
    }
}
