//! The bodies of the cargo-fuzz targets in `fuzz/`, kept here so the ordinary test run replays
//! the committed corpora through exactly the same code.
//!
//! Each function takes arbitrary bytes and panics if, and only if, an invariant is broken.
//! The first input byte chooses how the rest is chunked, so the fuzzer explores chunkings too.

use crate::{
    DataConfig, DataReceiver, DataStatus, DotStuffer, ImapFrame, ImapFramer, ImapFramerConfig,
    LineConfig, LineFramer, MultiLineReceiver, normalise_line_endings,
};

/// Runs `run` over every file of a committed corpus directory (`fuzz/corpus/<target>/`), as
/// the crates' `fuzz_corpus` tests do; returns how many inputs it replayed. Panics (failing the
/// test) if the directory is missing, unreadable or empty.
pub fn replay_corpus(dir: &std::path::Path, run: fn(&[u8])) -> usize {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut n = 0;
    for entry in entries {
        let path = entry.expect("readable corpus entry").path();
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        run(&data);
        n += 1;
    }
    assert!(n > 0, "the corpus {} is empty", dir.display());
    n
}

/// Splits `data` into chunks whose sizes cycle through a pattern chosen by `seed`.
pub fn chunks(data: &[u8], seed: u8) -> Vec<&[u8]> {
    let sizes: &[usize] = match seed % 5 {
        0 => &[1],
        1 => &[2, 3, 1, 7],
        2 => &[16, 1, 5],
        3 => &[1460],
        _ => &[usize::MAX],
    };
    let mut out = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].min(rest.len());
        out.push(&rest[..n]);
        rest = &rest[n..];
        i += 1;
    }
    out
}

/// What a [`LineFramer`] produced, owned.
pub fn frame_lines(
    config: LineConfig,
    parts: &[&[u8]],
) -> (Vec<Result<Vec<u8>, crate::LineError>>, usize) {
    let mut framer = LineFramer::new(config);
    let mut out = Vec::new();
    for part in parts {
        let mut input = *part;
        while let Some(r) = framer.next_line(&mut input) {
            out.push(r.map(<[u8]>::to_vec));
        }
        assert!(input.is_empty(), "the framer must consume what it is given");
    }
    (out, framer.buffered_len())
}

/// Line framer: the frames are the same for every chunking, and a line is never longer
/// than the limit.
pub fn line_framer(data: &[u8]) {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let config = LineConfig {
        max_line_len: 1 + usize::from(seed) * 4,
        ..LineConfig::default()
    };
    let whole = frame_lines(config, &[rest]);
    let split = frame_lines(config, &chunks(rest, seed));
    assert_eq!(whole, split, "line frames depend on chunking");
    for line in whole.0.iter().flatten() {
        assert!(
            line.len() + 2 <= config.max_line_len,
            "a line beyond the limit was returned"
        );
        assert!(!line.contains(&b'\n'));
    }
}

/// An owned [`ImapFrame`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedImapFrame {
    /// A whole message.
    Message(Vec<u8>),
    /// A literal announcement.
    Literal(crate::LiteralAnnouncement),
    /// An error with the tag, if read.
    Error(crate::FramingError, Option<Vec<u8>>),
}

/// Runs an [`ImapFramer`] over `parts`, rejecting literals larger than `reject_above`.
pub fn frame_imap(
    config: ImapFramerConfig,
    parts: &[&[u8]],
    reject_above: u64,
) -> Vec<OwnedImapFrame> {
    let mut framer = ImapFramer::new(config);
    let mut out = Vec::new();
    for part in parts {
        let mut input = *part;
        loop {
            let reject = match framer.next_frame(&mut input) {
                None => break,
                Some(ImapFrame::Message(m)) => {
                    assert!(m.len() <= config.max_message_len);
                    out.push(OwnedImapFrame::Message(m.to_vec()));
                    false
                }
                Some(ImapFrame::LiteralAnnounced(l)) => {
                    assert!(l.size <= config.max_literal_len);
                    out.push(OwnedImapFrame::Literal(l));
                    l.size > reject_above
                }
                Some(ImapFrame::Error { error, tag }) => {
                    out.push(OwnedImapFrame::Error(error, tag));
                    false
                }
            };
            if reject {
                framer.reject_literal();
            }
        }
        assert!(input.is_empty());
    }
    out
}

/// IMAP literal framer: the frames are the same for every chunking; limits hold.
pub fn literal_framer(data: &[u8]) {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let config = ImapFramerConfig {
        max_line_len: 8 + usize::from(seed % 64) * 2,
        max_literal_len: u64::from(seed / 4),
        max_message_len: 64 + usize::from(seed),
        accept_bare_lf: seed & 0x80 != 0,
    };
    let reject_above = u64::from(seed % 16);
    let whole = frame_imap(config, &[rest], reject_above);
    let split = frame_imap(config, &chunks(rest, seed), reject_above);
    assert_eq!(whole, split, "IMAP frames depend on chunking");
}

/// Runs a [`DataReceiver`] over `parts`: (unstuffed data, status, octets consumed in total).
pub fn receive_data(
    config: DataConfig,
    parts: &[&[u8]],
) -> (Vec<u8>, Option<Result<u64, crate::DataError>>, usize) {
    let mut rx = DataReceiver::new(config);
    let mut out = Vec::new();
    let mut total = 0;
    for part in parts {
        match rx.feed(part, &mut out) {
            DataStatus::NeedMore => total += part.len(),
            DataStatus::Done { consumed, result } => {
                assert!(consumed <= part.len());
                return (out, Some(result), total + consumed);
            }
        }
    }
    (out, None, total)
}

/// DATA receiver: independent of chunking; the message never ends before a `CRLF.CRLF`;
/// output within the size limit.
pub fn data_receiver(data: &[u8]) {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let config = DataConfig {
        max_message_size: u64::from(seed) * 8,
        bare_line_endings: match (seed & 1, seed & 4) {
            (0, 0) => crate::BareLineEndings::Reject,
            (0, _) => crate::BareLineEndings::Normalise,
            _ => crate::BareLineEndings::Accept,
        },
        max_line_len: (seed & 2 != 0).then_some(usize::from(seed)),
    };
    let whole = receive_data(config, &[rest]);
    let split = receive_data(config, &chunks(rest, seed));
    // What was written before an error is unspecified (the caller discards it); the result,
    // the octets consumed and an accepted message's content are not.
    assert_eq!(
        (&whole.1, whole.2),
        (&split.1, split.2),
        "DATA result depends on chunking"
    );
    if let Some(Ok(_)) = whole.1 {
        assert_eq!(whole.0, split.0, "DATA content depends on chunking");
    }
    if let (_, Some(_), consumed) = &whole {
        let seen = [b"\r\n".as_slice(), &rest[..*consumed]].concat();
        assert!(
            seen.ends_with(b"\r\n.\r\n"),
            "the message ended without CRLF.CRLF"
        );
        let first_end = seen
            .windows(5)
            .position(|w| w == b"\r\n.\r\n")
            .map(|p| p + 5);
        assert_eq!(
            first_end,
            Some(seen.len()),
            "the message ran past its terminator"
        );
    }
    assert!(whole.0.len() as u64 <= config.max_message_size);
    if config.bare_line_endings == crate::BareLineEndings::Normalise
        && let Some(Ok(_)) = whole.1
    {
        let m = &whole.0;
        let crlf_only = (0..m.len()).all(|i| match m[i] {
            b'\r' => m.get(i + 1) == Some(&b'\n'),
            b'\n' => i > 0 && m[i - 1] == b'\r',
            _ => true,
        });
        assert!(crlf_only, "a repaired message still has a bare CR or LF");
    }
}

/// Dot-stuffer round trip: `unstuff(stuff(x)) == normalise(x)` for any chunking, and the
/// receiver stops exactly at the end of the stuffed data.
pub fn dot_stuff_roundtrip(data: &[u8]) {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let mut wire = Vec::new();
    let mut stuffer = DotStuffer::new(true);
    for part in chunks(rest, seed) {
        stuffer.encode(part, &mut wire);
    }
    stuffer.finish(&mut wire);
    assert_eq!(
        wire,
        crate::dot_stuff(rest, true),
        "stuffing depends on chunking"
    );
    wire.extend_from_slice(b"NEXT\r\n");
    let config = DataConfig {
        max_message_size: u64::MAX,
        ..DataConfig::default()
    };
    let (body, result, consumed) = receive_data(config, &chunks(&wire, seed.wrapping_add(1)));
    assert_eq!(result, Some(Ok(body.len() as u64)));
    assert_eq!(&wire[consumed..], b"NEXT\r\n");
    assert_eq!(body, normalise_line_endings(rest));
    // The POP3 receiver agrees.
    let mut rx = MultiLineReceiver::new(u64::MAX);
    let mut pop = Vec::new();
    assert!(matches!(rx.feed(&wire, &mut pop), DataStatus::Done { .. }));
    assert_eq!(pop, body);
}
