//! SMTP server ingest, same run, same load generator: mailwire's server (memory store) vs
//! Postfix `smtp-sink` (which accepts and discards) vs `aiosmtpd` (its Sink handler, which also
//! discards). Postfix `smtp-source` sends `MESSAGES` messages of 10 KiB over 4 parallel
//! sessions to each; the best of `ROUNDS` rounds counts (the machine is shared).
//!
//! Two ways of sending, each measured: smtp-source's default, a new connection for every
//! message (connect, banner, EHLO, MAIL, RCPT, DATA, QUIT: connection handling dominates), and
//! `-d`, every session sending all its messages over one connection (message ingest dominates).
//!
//! Every server runs on one thread, as smtp-sink and aiosmtpd (single-threaded event loops) do:
//! mailwire's on a one-worker tokio runtime (`MAILWIRE_BENCH_WORKERS=2` gives it both cores,
//! which on this 2-core machine takes CPU from smtp-source and adds cross-thread wake-ups).
//!
//! ```text
//! cargo bench -p mailwire-bench --bench smtp_ingest
//! MAILWIRE_BENCH_MESSAGES=500 MAILWIRE_BENCH_ROUNDS=1 cargo bench -p mailwire-bench --bench smtp_ingest
//! ```

use mailwire_bench::{env_usize, smtp_source};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailwire_smtp::server::{Listener, Server, ServerOptions};
use mailwire_smtp::store::{StorePolicy, StoreSink};
use mailwire_store::Store;
use mailwire_testkit::{Aiosmtpd, AiosmtpdOptions, SmtpSink};

/// Runs smtp-source against `addr` (with `extra` options); returns messages per second.
fn load(addr: SocketAddr, messages: usize, extra: &[&str]) -> f64 {
    let t = Instant::now();
    let out = std::process::Command::new(smtp_source())
        .args(extra)
        .args(["-s", "4", "-m", &messages.to_string(), "-l", "10240"])
        .args(["-f", "sender@example.org", "-t", "alice@example.org"])
        .arg(addr.to_string())
        .output()
        .expect("smtp-source runs");
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "smtp-source failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    messages as f64 / took.as_secs_f64()
}

fn main() {
    let messages = env_usize("MAILWIRE_BENCH_MESSAGES", 2000);
    let rounds = env_usize("MAILWIRE_BENCH_ROUNDS", 3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(env_usize("MAILWIRE_BENCH_WORKERS", 1))
        .enable_all()
        .build()
        .unwrap();

    // mailwire's server over the memory store.
    let store = Store::memory();
    rt.block_on(store.add_user("alice", "secret")).unwrap();
    let server = Server::new(
        ServerOptions::default(),
        StorePolicy::new(store.clone(), false),
        StoreSink::new(store.clone()),
        Arc::new(store.clone()),
        None,
    );
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let mailwire = listener.local_addr().unwrap();
    let (_stop, rx) = tokio::sync::watch::channel(false);
    rt.spawn(server.serve(listener, Listener::Smtp, rx, Duration::from_secs(1)));

    let sink = SmtpSink::start(false).expect("smtp-sink starts");
    let aio = Aiosmtpd::start(AiosmtpdOptions {
        discard: true,
        ..AiosmtpdOptions::default()
    })
    .expect("aiosmtpd starts");

    let only: Option<usize> = std::env::var("MAILWIRE_BENCH_ONLY")
        .ok()
        .and_then(|v| v.parse().ok());
    let modes: [(&str, &[&str]); 2] = [
        ("a connection per message", &[]),
        ("one connection per session (-d)", &["-d"]),
    ];
    let mut best = [[0f64; 3]; 2];
    for round in 0..rounds {
        for (m, (mode, extra)) in modes.iter().enumerate() {
            for (i, addr) in [mailwire, sink.addr(), aio.addr()].into_iter().enumerate() {
                if only.is_some_and(|o| o != i) {
                    continue;
                }
                let rate = load(addr, messages, extra);
                eprintln!("round {round} {mode} target {i}: {rate:.0} msg/s");
                best[m][i] = best[m][i].max(rate);
            }
        }
    }
    if only.is_some() {
        return;
    }
    let stored = rt.block_on(async {
        store
            .user("alice")
            .unwrap()
            .mailbox("INBOX")
            .await
            .unwrap()
            .select()
            .await
            .unwrap()
            .exists
    });
    assert_eq!(
        stored as usize,
        messages * rounds * modes.len(),
        "every message reached the store"
    );
    let counters = sink.counters();
    assert_eq!(
        counters.messages as usize,
        messages * rounds * modes.len(),
        "smtp-sink counted every message"
    );

    for (m, (mode, _)) in modes.iter().enumerate() {
        let best = best[m];
        println!("smtp-source -s 4 -m {messages} -l 10240, {mode}, best of {rounds}:");
        println!("  mailwire (memory store)  {:>9.0} msg/s", best[0]);
        println!(
            "  Postfix smtp-sink        {:>9.0} msg/s   mailwire/smtp-sink = {:.2}x",
            best[1],
            best[0] / best[1]
        );
        println!(
            "  aiosmtpd (Sink)          {:>9.0} msg/s   mailwire/aiosmtpd  = {:.2}x",
            best[2],
            best[0] / best[2]
        );
    }
}
