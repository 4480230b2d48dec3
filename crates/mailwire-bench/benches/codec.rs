//! DATA receiver and line framer throughput, beside smtp-proto's `DataReceiver` on the same input.
//!
//! Input: 10 MiB of dot-stuffed message text, 5% of lines starting with a dot, fed in 1460-byte
//! chunks (one TCP segment) and in 1-byte chunks (the worst case for resumable state).
//! Run: `cargo bench -p mailwire-bench --bench codec`.

// criterion_group!/criterion_main! generate undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mailwire_bench::{command_stream, stuffed_message};
use mailwire_codec::{DataConfig, DataReceiver, DataStatus, LineConfig, LineFramer};

fn mailwire_data(wire: &[u8], chunk: usize, out: &mut Vec<u8>) -> usize {
    let mut rx = DataReceiver::new(DataConfig {
        max_message_size: u64::MAX,
        ..DataConfig::default()
    });
    out.clear();
    for part in wire.chunks(chunk) {
        if let DataStatus::Done { result, .. } = rx.feed(part, out) {
            return result.map(|n| n as usize).unwrap_or(0);
        }
    }
    unreachable!("the terminator is at the end of the input")
}

fn smtp_proto_data(wire: &[u8], chunk: usize, out: &mut Vec<u8>) -> usize {
    let mut rx = smtp_proto::request::receiver::DataReceiver::new();
    out.clear();
    for part in wire.chunks(chunk) {
        if rx.ingest(&mut part.iter(), out) {
            return out.len();
        }
    }
    unreachable!("the terminator is at the end of the input")
}

/// The floor of any receiver that hands the message out in a `Vec`: copy each chunk, look at
/// nothing. No receiver can beat it at 1460-byte chunks; at 1-byte chunks it is the cost of one
/// call per octet. It puts the targets in perspective: a receiver 2x a memmem+memcpy one must
/// beat plain memcpy.
fn copy_only(wire: &[u8], chunk: usize, out: &mut Vec<u8>) -> usize {
    out.clear();
    for part in wire.chunks(chunk) {
        if chunk == 1 {
            out.push(part[0]);
        } else {
            out.extend_from_slice(part);
        }
        black_box(&*out);
    }
    out.len()
}

fn mailwire_lines(wire: &[u8], chunk: usize) -> usize {
    let mut framer = LineFramer::new(LineConfig {
        max_line_len: 1000,
        ..LineConfig::default()
    });
    let mut n = 0;
    for part in wire.chunks(chunk) {
        let mut input = part;
        while let Some(line) = framer.next_line(&mut input) {
            n += line.map_or(0, <[u8]>::len);
        }
    }
    n
}

fn data_receivers(c: &mut Criterion) {
    let wire = stuffed_message(10 << 20, 0.05);
    let mut out = Vec::with_capacity(wire.len());
    let expected = mailwire_data(&wire, wire.len(), &mut out);
    assert_eq!(smtp_proto_data(&wire, wire.len(), &mut out), expected);
    let mut group = c.benchmark_group("data_receiver");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.sample_size(10);
    for chunk in [1460usize, 1] {
        group.bench_function(format!("mailwire/{chunk}"), |b| {
            b.iter(|| black_box(mailwire_data(black_box(&wire), chunk, &mut out)))
        });
        group.bench_function(format!("smtp-proto/{chunk}"), |b| {
            b.iter(|| black_box(smtp_proto_data(black_box(&wire), chunk, &mut out)))
        });
        group.bench_function(format!("copy-floor/{chunk}"), |b| {
            b.iter(|| black_box(copy_only(black_box(&wire), chunk, &mut out)))
        });
    }
    group.finish();
}

fn line_framer(c: &mut Criterion) {
    let wire = command_stream(10 << 20);
    let mut group = c.benchmark_group("line_framer");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.sample_size(10);
    for chunk in [1460usize, 1] {
        group.bench_function(format!("mailwire/{chunk}"), |b| {
            b.iter(|| black_box(mailwire_lines(black_box(&wire), chunk)))
        });
    }
    group.finish();
}

criterion_group!(benches, data_receivers, line_framer);
criterion_main!(benches);
