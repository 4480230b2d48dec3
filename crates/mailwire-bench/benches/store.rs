//! Store append throughput (10 KiB messages): mailwire's `memory` and `maildir` backends beside
//! Dovecot's LMTP delivery into its own Maildir, on the same disk, in the same run.
//!
//! Dovecot is started through `tests/peers/dovecot.sh` (mailwire-testkit) with its default
//! `mail_fsync = optimized`; it gets the messages over one LMTP connection from the simple
//! sequential LMTP sender below (LHLO once, then MAIL, RCPT, DATA per message). mailwire's
//! appends are sequential too, each durable (maildir: fsync of the file, of `new/`, and of the
//! index) before the next starts.
//!
//! Besides criterion's per-message timings, `ratios` delivers 500 messages each way, three
//! times, and prints messages/s and the ratios to Dovecot (targets: maildir ≥ 2×, memory ≥ 20×).
//! Run: `cargo bench -p mailwire-bench --bench store` (only the ratios: `... -- ratios`).

// criterion_group!/criterion_main! generate undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mailwire_store::{Flags, Store};
use mailwire_testkit::Dovecot;

const SIZE: usize = 10 * 1024;
const BATCH: usize = 500;

fn message(n: usize) -> Vec<u8> {
    let mut m = format!(
        "From: bench@example.com\r\nTo: alice@example.org\r\nSubject: bench {n}\r\nMessage-ID: <{n}@bench>\r\n\r\n"
    )
    .into_bytes();
    let line =
        b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor\r\n";
    while m.len() + line.len() <= SIZE - 2 {
        m.extend_from_slice(line);
    }
    while m.len() < SIZE - 2 {
        m.push(b'x');
    }
    m.extend_from_slice(b"\r\n");
    m
}

/// One LMTP connection to Dovecot, delivering sequentially.
struct Lmtp {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Lmtp {
    fn connect(dovecot: &Dovecot) -> Lmtp {
        let s = TcpStream::connect(dovecot.lmtp()).expect("connect to Dovecot LMTP");
        s.set_nodelay(true).ok();
        let mut l = Lmtp {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        };
        l.expect(220);
        l.cmd(b"LHLO bench.mailwire\r\n", 250);
        l
    }

    fn expect(&mut self, code: u16) {
        loop {
            let mut line = String::new();
            assert!(self.r.read_line(&mut line).unwrap() > 0, "LMTP closed");
            assert!(
                line.starts_with(&code.to_string()),
                "expected {code}, got {line}"
            );
            if line.as_bytes().get(3) != Some(&b'-') {
                return;
            }
        }
    }

    fn cmd(&mut self, c: &[u8], code: u16) {
        self.w.write_all(c).unwrap();
        self.expect(code);
    }

    /// Delivers one message (already free of lines starting with a dot).
    fn deliver(&mut self, data: &[u8]) {
        self.cmd(b"MAIL FROM:<bench@example.com>\r\n", 250);
        self.cmd(b"RCPT TO:<alice@example.org>\r\n", 250);
        self.cmd(b"DATA\r\n", 354);
        self.w.write_all(data).unwrap();
        self.cmd(b".\r\n", 250);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn append_n(store: &Store, msgs: &[Vec<u8>], n: u64) -> Duration {
    let user = store.user("alice").unwrap();
    let start = Instant::now();
    for i in 0..n as usize {
        let data = msgs[i % msgs.len()].clone();
        black_box(
            user.append("INBOX", data, Flags::new(), None)
                .await
                .unwrap(),
        );
    }
    start.elapsed()
}

fn per_message(c: &mut Criterion) {
    let rt = runtime();
    let msgs: Vec<Vec<u8>> = (0..64).map(message).collect();
    let mut g = c.benchmark_group("store_append_10KiB");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(3));

    let mem = Store::memory();
    rt.block_on(mem.add_user("alice", "pw")).unwrap();
    g.bench_function("mailwire_memory", |b| {
        b.iter_custom(|n| rt.block_on(append_n(&mem, &msgs, n)))
    });

    let dir = tempfile::tempdir().unwrap();
    let md = Store::maildir(dir.path()).unwrap();
    rt.block_on(md.add_user("alice", "pw")).unwrap();
    g.bench_function("mailwire_maildir", |b| {
        b.iter_custom(|n| rt.block_on(append_n(&md, &msgs, n)))
    });

    let dovecot = Dovecot::start().expect("Dovecot is needed for this benchmark");
    let mut lmtp = Lmtp::connect(&dovecot);
    g.bench_function("dovecot_lmtp", |b| {
        b.iter_custom(|n| {
            let start = Instant::now();
            for i in 0..n as usize {
                lmtp.deliver(&msgs[i % msgs.len()]);
            }
            start.elapsed()
        })
    });
    g.finish();
}

fn rate(d: Duration) -> f64 {
    BATCH as f64 / d.as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// 500 messages each way, three times; prints messages/s and the ratios.
fn ratios(_: &mut Criterion) {
    let rt = runtime();
    let msgs: Vec<Vec<u8>> = (0..BATCH).map(message).collect();
    let dovecot = Dovecot::start().expect("Dovecot is needed for this benchmark");
    let (mut d, mut m, mut x) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        let mut lmtp = Lmtp::connect(&dovecot);
        let start = Instant::now();
        for msg in &msgs {
            lmtp.deliver(msg);
        }
        d.push(rate(start.elapsed()));

        let dir = tempfile::tempdir().unwrap();
        let md = Store::maildir(dir.path()).unwrap();
        rt.block_on(md.add_user("alice", "pw")).unwrap();
        x.push(rate(rt.block_on(append_n(&md, &msgs, BATCH as u64))));

        let mem = Store::memory();
        rt.block_on(mem.add_user("alice", "pw")).unwrap();
        m.push(rate(rt.block_on(append_n(&mem, &msgs, BATCH as u64))));
    }
    let (d, x, m) = (median(d), median(x), median(m));
    println!();
    println!("store append, {BATCH} x 10 KiB, median of 3 runs:");
    println!("  dovecot LMTP -> Maildir : {d:>10.0} msg/s");
    println!(
        "  mailwire maildir        : {x:>10.0} msg/s  = {:.2}x Dovecot (target >= 2x)",
        x / d
    );
    println!(
        "  mailwire memory         : {m:>10.0} msg/s  = {:.1}x Dovecot (target >= 20x)",
        m / d
    );
}

criterion_group!(benches, per_message, ratios);
criterion_main!(benches);
