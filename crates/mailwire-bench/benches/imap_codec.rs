//! IMAP decoding and encoding beside imap-codec and imap-proto, on the same bytes.
//!
//! * `imap_response_decode`: a mix of 200 FETCH ENVELOPE+BODYSTRUCTURE, 200 LIST and 4 FETCH
//!   BODY[] with 64 KiB literals, each a complete message (framing excluded for everyone).
//!   mailwire builds owned values; imap-codec is measured borrowing (`decode`) and owning
//!   (`decode_static`); imap-proto borrows.
//! * `imap_response_parts`: the same per kind of message.
//! * `imap_command_decode` / `imap_command_encode`: a client command mix (imap-proto has no
//!   command parser).
//! * `imap_response_chunked`: mailwire's `ImapFramer` + parser over the response stream fed in
//!   1-, 16- and 1460-byte chunks (cost must stay linear); `imap_framer_only`: the framer alone.
//!
//! Run: `cargo bench -p mailwire-bench --bench imap_codec`.

// criterion_group!/criterion_main! generate undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use imap_codec::decode::Decoder;
use imap_codec::encode::Encoder;
use mailwire_bench::{
    imap_command_mix, imap_fetch_envelope, imap_fetch_literal, imap_list, imap_response_mix,
};
use mailwire_codec::{ImapFrame, ImapFramer, ImapFramerConfig};
use mailwire_imap::proto::{
    Command, DecodeOptions, EncodeOptions, decode_command, decode_response,
};

fn total(msgs: &[Vec<u8>]) -> u64 {
    msgs.iter().map(|m| m.len() as u64).sum()
}

fn mailwire_responses(msgs: &[Vec<u8>]) -> usize {
    let opts = DecodeOptions::default();
    msgs.iter()
        .map(|m| decode_response(m, &opts).map(|(_, n)| n).unwrap_or(0))
        .sum()
}

fn imap_codec_responses(msgs: &[Vec<u8>]) -> usize {
    let codec = imap_codec::ResponseCodec::new();
    msgs.iter()
        .map(|m| {
            codec
                .decode(m)
                .map(|(rest, r)| {
                    black_box(&r);
                    m.len() - rest.len()
                })
                .unwrap_or(0)
        })
        .sum()
}

fn imap_codec_responses_static(msgs: &[Vec<u8>]) -> usize {
    let codec = imap_codec::ResponseCodec::new();
    msgs.iter()
        .map(|m| {
            codec
                .decode_static(m)
                .map(|(rest, r)| {
                    black_box(&r);
                    m.len() - rest.len()
                })
                .unwrap_or(0)
        })
        .sum()
}

fn imap_proto_responses(msgs: &[Vec<u8>]) -> usize {
    msgs.iter()
        .map(|m| {
            imap_proto::Response::parse(m)
                .map(|(rest, r)| {
                    black_box(&r);
                    m.len() - rest.len()
                })
                .unwrap_or(0)
        })
        .sum()
}

fn check_all_parse(msgs: &[Vec<u8>]) {
    let n = total(msgs) as usize;
    assert_eq!(mailwire_responses(msgs), n, "mailwire parses everything");
    assert_eq!(
        imap_codec_responses(msgs),
        n,
        "imap-codec parses everything"
    );
    assert_eq!(
        imap_proto_responses(msgs),
        n,
        "imap-proto parses everything"
    );
}

fn response_decode(c: &mut Criterion) {
    let msgs = imap_response_mix();
    check_all_parse(&msgs);
    let mut group = c.benchmark_group("imap_response_decode");
    group.throughput(Throughput::Bytes(total(&msgs)));
    group.bench_function("mailwire", |b| {
        b.iter(|| black_box(mailwire_responses(black_box(&msgs))))
    });
    group.bench_function("imap-codec", |b| {
        b.iter(|| black_box(imap_codec_responses(black_box(&msgs))))
    });
    group.bench_function("imap-codec-static", |b| {
        b.iter(|| black_box(imap_codec_responses_static(black_box(&msgs))))
    });
    group.bench_function("imap-proto", |b| {
        b.iter(|| black_box(imap_proto_responses(black_box(&msgs))))
    });
    group.finish();
}

fn response_parts(c: &mut Criterion) {
    let parts: [(&str, Vec<Vec<u8>>); 3] = [
        (
            "fetch_envelope_bodystructure",
            (1..=100).map(imap_fetch_envelope).collect(),
        ),
        ("list", (0..200).map(imap_list).collect()),
        (
            "fetch_literal_64k",
            (1..=4).map(|k| imap_fetch_literal(k, 64 * 1024)).collect(),
        ),
    ];
    for (name, msgs) in parts {
        check_all_parse(&msgs);
        let mut group = c.benchmark_group(format!("imap_response_{name}"));
        group.throughput(Throughput::Bytes(total(&msgs)));
        group.bench_function("mailwire", |b| {
            b.iter(|| black_box(mailwire_responses(black_box(&msgs))))
        });
        group.bench_function("imap-codec", |b| {
            b.iter(|| black_box(imap_codec_responses(black_box(&msgs))))
        });
        group.bench_function("imap-proto", |b| {
            b.iter(|| black_box(imap_proto_responses(black_box(&msgs))))
        });
        group.finish();
    }
}

fn command_decode_encode(c: &mut Criterion) {
    let msgs = imap_command_mix();
    let opts = DecodeOptions::default();
    let codec = imap_codec::CommandCodec::new();
    let ours: Vec<Command> = msgs
        .iter()
        .map(|m| decode_command(m, &opts).expect("parses").0)
        .collect();
    let theirs: Vec<_> = msgs
        .iter()
        .map(|m| match codec.decode_static(m) {
            Ok((_, c)) => c,
            Err(e) => panic!("imap-codec: {e:?} on {}", m.escape_ascii()),
        })
        .collect();
    let mut group = c.benchmark_group("imap_command_decode");
    group.throughput(Throughput::Bytes(total(&msgs)));
    group.bench_function("mailwire", |b| {
        b.iter(|| {
            msgs.iter()
                .map(|m| {
                    decode_command(black_box(m), &opts)
                        .map(|(_, n)| n)
                        .unwrap_or(0)
                })
                .sum::<usize>()
        })
    });
    group.bench_function("imap-codec", |b| {
        b.iter(|| {
            msgs.iter()
                .map(|m| {
                    codec
                        .decode(black_box(m))
                        .map(|(rest, c)| {
                            black_box(&c);
                            m.len() - rest.len()
                        })
                        .unwrap_or(0)
                })
                .sum::<usize>()
        })
    });
    group.finish();
    let mut group = c.benchmark_group("imap_command_encode");
    group.throughput(Throughput::Bytes(total(&msgs)));
    let enc = EncodeOptions::default();
    group.bench_function("mailwire", |b| {
        b.iter(|| {
            ours.iter()
                .map(|c| black_box(c.encode(&enc)).as_bytes().len())
                .sum::<usize>()
        })
    });
    group.bench_function("imap-codec", |b| {
        b.iter(|| {
            theirs
                .iter()
                .map(|c| codec.encode(black_box(c)).dump().len())
                .sum::<usize>()
        })
    });
    group.finish();
}

fn framed(stream: &[u8], chunk: usize) -> usize {
    let opts = DecodeOptions::default();
    let mut framer = ImapFramer::new(ImapFramerConfig::default());
    let mut n = 0;
    for part in stream.chunks(chunk) {
        let mut input = part;
        while let Some(f) = framer.next_frame(&mut input) {
            if let ImapFrame::Message(m) = f {
                n += decode_response(m, &opts).map(|(_, k)| k).unwrap_or(0);
            }
        }
    }
    n
}

fn response_chunked(c: &mut Criterion) {
    let stream: Vec<u8> = imap_response_mix().concat();
    assert_eq!(framed(&stream, 1), stream.len());
    assert_eq!(framed(&stream, 1460), stream.len());
    let mut group = c.benchmark_group("imap_response_chunked");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.sample_size(10);
    for chunk in [1460usize, 16, 1] {
        group.bench_function(format!("mailwire/{chunk}"), |b| {
            b.iter(|| black_box(framed(black_box(&stream), chunk)))
        });
    }
    group.finish();
}

/// The framer alone (no parsing), to attribute the per-chunk cost.
fn frame_only(stream: &[u8], chunk: usize) -> usize {
    let mut framer = ImapFramer::new(ImapFramerConfig::default());
    let mut n = 0;
    for part in stream.chunks(chunk) {
        let mut input = part;
        while let Some(f) = framer.next_frame(&mut input) {
            if let ImapFrame::Message(m) = f {
                n += m.len();
            }
        }
    }
    n
}

fn framer_only(c: &mut Criterion) {
    let stream: Vec<u8> = imap_response_mix().concat();
    assert_eq!(frame_only(&stream, 1), stream.len());
    let mut group = c.benchmark_group("imap_framer_only");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.sample_size(10);
    for chunk in [1460usize, 16, 1] {
        group.bench_function(format!("mailwire/{chunk}"), |b| {
            b.iter(|| black_box(frame_only(black_box(&stream), chunk)))
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    response_decode,
    response_parts,
    command_decode_encode,
    response_chunked,
    framer_only
);
criterion_main!(benches);
