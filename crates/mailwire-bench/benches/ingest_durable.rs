//! Durable ingest, same run, same load generator: mailwire's SMTP server storing into its
//! Maildir store (each `250` only after the message file, its folder and the index are
//! fsynced; concurrent appends to one folder share its fsync) vs Dovecot's LMTP delivering into its own Maildir (`mail_fsync = optimized`,
//! the Debian default), both on the same filesystem. Postfix `smtp-source` sends `MESSAGES`
//! messages of 10 KiB over 4 parallel sessions, each session on one connection (`-d`), all
//! to one user (`-L` speaks LMTP to Dovecot). Each round delivers to both, so both mailboxes
//! have the same size in a round; the best of `ROUNDS` rounds and the per-round ratios are
//! printed (Dovecot slows as its mailbox grows; mailwire's first round is its slowest).
//!
//! ```text
//! cargo bench -p mailwire-bench --bench ingest_durable
//! MAILWIRE_BENCH_MESSAGES=500 MAILWIRE_BENCH_ROUNDS=1 cargo bench -p mailwire-bench --bench ingest_durable
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailwire_bench::{env_usize, smtp_source};
use mailwire_smtp::server::{Listener, Server, ServerOptions};
use mailwire_smtp::store::{StorePolicy, StoreSink};
use mailwire_store::Store;
use mailwire_testkit::Dovecot;

/// smtp-source against `addr`; messages per second.
fn load(addr: SocketAddr, messages: usize, to: &str, lmtp: bool) -> f64 {
    let t = Instant::now();
    let mut c = std::process::Command::new(smtp_source());
    if lmtp {
        c.arg("-L");
    }
    let out = c
        .args(["-d", "-s", "4", "-m", &messages.to_string(), "-l", "10240"])
        .args(["-f", "sender@example.org", "-t", to])
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
        .enable_all()
        .build()
        .unwrap();
    let dovecot = Dovecot::start().expect("Dovecot (tests/peers/install.sh)");
    // mailwire's Maildir beside Dovecot's, on the same filesystem.
    let dir = tempfile::tempdir_in(dovecot.dir()).unwrap();
    let store = Store::maildir(dir.path().join("mail")).unwrap();
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

    let mut best = [0f64; 2];
    let mut ratios = Vec::new();
    for round in 0..rounds {
        // Same round, same mailbox sizes: both mailboxes grow by `messages` each round.
        let m = load(mailwire, messages, "alice@example.org", false);
        let d = load(dovecot.lmtp(), messages, "alice@example.com", true);
        eprintln!(
            "round {round}: mailwire {m:.0} msg/s, Dovecot LMTP {d:.0} msg/s ({:.2}x)",
            m / d
        );
        best[0] = best[0].max(m);
        best[1] = best[1].max(d);
        ratios.push(m / d);
    }
    ratios.sort_by(f64::total_cmp);
    let stored = rt.block_on(async {
        store
            .user("alice")
            .unwrap()
            .status("INBOX")
            .await
            .unwrap()
            .exists
    });
    assert_eq!(stored as usize, messages * rounds, "every message stored");
    println!("smtp-source -d -s 4 -m {messages} -l 10240 to one user, durable, best of {rounds}:");
    println!("  mailwire SMTP into its Maildir   {:>7.0} msg/s", best[0]);
    println!(
        "  Dovecot LMTP into its Maildir    {:>7.0} msg/s   mailwire/Dovecot = {:.2}x (best/best)",
        best[1],
        best[0] / best[1]
    );
    println!(
        "  per round (same mailbox sizes): {:.2}x to {:.2}x, median {:.2}x",
        ratios[0],
        ratios[ratios.len() - 1],
        ratios[ratios.len() / 2]
    );
}
