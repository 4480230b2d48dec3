//! IMAP clients, same run, same Dovecot, the same 2000 messages of 10 KiB:
//!
//! 1. One command per message, `UID FETCH n (BODY.PEEK[])` for every UID: mailwire's client
//!    (the commands pipelined from one task) beside Python's imaplib and imapclient (one command
//!    after the other, the only way they work) and the Rust crates async-imap (tokio) and imap
//!    (blocking), which also keep one command in flight, in messages/s.
//!    A raw-socket reader sending every command in one write shows what Dovecot allows.
//! 2. One `UID FETCH 1:* (BODY.PEEK[])`: mailwire's client (`fetch_stream`, every response
//!    parsed) beside a raw-socket reader that only looks for the tagged OK at the end, in MB/s.
//!
//! Cleartext on 127.0.0.1 (TLS would measure rustls and OpenSSL). Each variant runs `ROUNDS`
//! times and its best round counts.
//!
//! ```text
//! cargo bench -p mailwire-bench --bench imap_client
//! MAILWIRE_BENCH_MESSAGES=500 MAILWIRE_BENCH_ROUNDS=2 cargo bench ...
//! ```

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mailwire_bench::env_usize;
use mailwire_imap::client::{Client, ClientConfig, Login};
use mailwire_imap::proto::{Data, FetchItem, FetchItems, MessageData, Section, SequenceSet, Vec1};
use mailwire_testkit::Dovecot;
use mailwire_tls::{Security, TlsPolicy};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const SIZE: usize = 10 * 1024;

fn body_len(d: &Data) -> u64 {
    let Data::Fetch { items, .. } = d else {
        return 0;
    };
    items
        .as_slice()
        .iter()
        .map(|i| match i {
            MessageData::BodySection { data, .. } => {
                data.as_ref().map_or(0, |b| b.as_bytes().len() as u64)
            }
            _ => 0,
        })
        .sum()
}

async fn connect(addr: SocketAddr) -> Client {
    let cfg = ClientConfig::new(
        "127.0.0.1",
        addr.port(),
        Security::StartTls(TlsPolicy::Disabled),
    );
    let login = Login::password("alice", "secret").allow_plaintext_without_tls(true);
    let c = Client::connect(cfg, &login).await.expect("connect");
    c.examine("INBOX").await.expect("examine");
    c
}

/// `UID FETCH n (BODY.PEEK[])` for n in 1..=count, all in flight: (time, octets).
async fn mailwire_per_message(addr: SocketAddr, count: usize) -> (Duration, u64) {
    let c = connect(addr).await;
    let start = Instant::now();
    let tasks: Vec<_> = (1..=count)
        .map(|uid| {
            let c = c.clone();
            tokio::spawn(async move {
                let r = c
                    .command(&format!("UID FETCH {uid} (BODY.PEEK[])"))
                    .await
                    .expect("fetch");
                r.data.iter().map(body_len).sum::<u64>()
            })
        })
        .collect();
    let mut octets = 0;
    for t in tasks {
        octets += t.await.expect("task");
    }
    let d = start.elapsed();
    c.logout().await.expect("logout");
    (d, octets)
}

/// One `UID FETCH 1:* (BODY.PEEK[])` through `fetch_stream`: (time, octets).
async fn mailwire_one_command(addr: SocketAddr) -> (Duration, u64) {
    let c = connect(addr).await;
    let items = FetchItems::Items(Vec1::one(FetchItem::BodySection {
        peek: true,
        section: Section::Top(None),
        partial: None,
    }));
    let start = Instant::now();
    let mut s = c
        .fetch_stream(&SequenceSet::all(), items, true, 256)
        .await
        .expect("fetch");
    let mut octets = 0;
    while let Some(d) = s.next().await {
        octets += body_len(&d);
    }
    s.finish().await.expect("completion");
    let d = start.elapsed();
    c.logout().await.expect("logout");
    (d, octets)
}

/// The floor of figure 1: every `UID FETCH n (BODY.PEEK[])` in one write, read until the last
/// tag's OK, parsing nothing.
async fn raw_per_message(addr: SocketAddr, count: usize) -> Duration {
    let s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (r, mut w) = s.into_split();
    let mut r = BufReader::with_capacity(256 << 10, r);
    let mut line = String::new();
    r.read_line(&mut line).await.expect("greeting");
    w.write_all(b"a LOGIN alice secret\r\nb EXAMINE INBOX\r\n")
        .await
        .expect("write");
    loop {
        line.clear();
        r.read_line(&mut line).await.expect("read");
        if line.starts_with("b ") {
            break;
        }
    }
    let mut cmds = Vec::new();
    for uid in 1..=count {
        cmds.extend_from_slice(format!("t{uid} UID FETCH {uid} (BODY.PEEK[])\r\n").as_bytes());
    }
    let last = format!("\nt{count} OK ");
    let start = Instant::now();
    w.write_all(&cmds).await.expect("write");
    let mut buf = vec![0u8; 256 << 10];
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let n = r.read(&mut buf).await.expect("read");
        assert!(n > 0, "closed");
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 64 {
            tail.drain(..tail.len() - 64);
        }
        if tail.windows(last.len()).any(|w| w == last.as_bytes()) {
            break;
        }
    }
    start.elapsed()
}

/// The floor: a socket reader that sends the command and reads until `x OK`, parsing nothing.
async fn raw_one_command(addr: SocketAddr) -> (Duration, u64) {
    let s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (r, mut w) = s.into_split();
    let mut r = BufReader::with_capacity(256 << 10, r);
    let mut line = String::new();
    r.read_line(&mut line).await.expect("greeting");
    w.write_all(b"a LOGIN alice secret\r\nb EXAMINE INBOX\r\n")
        .await
        .expect("write");
    loop {
        line.clear();
        r.read_line(&mut line).await.expect("read");
        if line.starts_with("b ") {
            break;
        }
    }
    let start = Instant::now();
    w.write_all(b"x UID FETCH 1:* (BODY.PEEK[])\r\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 256 << 10];
    let mut total = 0u64;
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let n = r.read(&mut buf).await.expect("read");
        assert!(n > 0, "closed");
        total += n as u64;
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 64 {
            tail.drain(..tail.len() - 64);
        }
        if tail.windows(6).any(|w| w == b"\nx OK ") {
            break;
        }
    }
    (start.elapsed(), total)
}

/// async-imap (tokio): `uid_fetch` for each UID, each awaited before the next (its session
/// takes `&mut self`, so one command is in flight at a time): (time, octets).
async fn async_imap_per_message(addr: SocketAddr, count: usize) -> (Duration, u64) {
    use futures_util::TryStreamExt;
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut client = async_imap::Client::new(tcp);
    client
        .read_response()
        .await
        .expect("greeting")
        .expect("greeting");
    let mut session = client
        .login("alice", "secret")
        .await
        .map_err(|(e, _)| e)
        .expect("login");
    session.examine("INBOX").await.expect("examine");
    let start = Instant::now();
    let mut octets = 0u64;
    for uid in 1..=count {
        let fetches: Vec<_> = session
            .uid_fetch(uid.to_string(), "(BODY.PEEK[])")
            .await
            .expect("fetch")
            .try_collect()
            .await
            .expect("fetch");
        octets += fetches
            .iter()
            .map(|f| f.body().map_or(0, |b| b.len() as u64))
            .sum::<u64>();
    }
    let d = start.elapsed();
    session.logout().await.expect("logout");
    (d, octets)
}

/// The `imap` crate (blocking): `uid_fetch` for each UID: (time, octets).
fn imap_crate_per_message(addr: SocketAddr, count: usize) -> (Duration, u64) {
    let tcp = std::net::TcpStream::connect(addr).expect("connect");
    let mut client = imap::Client::new(tcp);
    client.read_greeting().expect("greeting");
    let mut session = client
        .login("alice", "secret")
        .map_err(|e| e.0)
        .expect("login");
    session.examine("INBOX").expect("examine");
    let start = Instant::now();
    let mut octets = 0u64;
    for uid in 1..=count {
        let fetches = session
            .uid_fetch(uid.to_string(), "(BODY.PEEK[])")
            .expect("fetch");
        octets += fetches
            .iter()
            .map(|f| f.body().map_or(0, |b| b.len() as u64))
            .sum::<u64>();
    }
    let d = start.elapsed();
    session.logout().expect("logout");
    (d, octets)
}

fn python_per_message(addr: SocketAddr, count: usize, client: &str) -> Duration {
    let code = match client {
        "imaplib" => format!(
            "import imaplib, time\nm = imaplib.IMAP4('127.0.0.1', {port})\nm.login('alice', 'secret')\nm.select('INBOX', readonly=True)\n\
             t = time.perf_counter()\nn = 0\nfor uid in range(1, {count} + 1):\n    typ, data = m.uid('FETCH', str(uid), '(BODY.PEEK[])')\n    n += len(data[0][1])\n\
             print(time.perf_counter() - t, n)\nm.logout()\n",
            port = addr.port()
        ),
        _ => format!(
            "import imapclient, time\nc = imapclient.IMAPClient('127.0.0.1', port={port}, ssl=False)\nc.login('alice', 'secret')\nc.select_folder('INBOX', readonly=True)\n\
             t = time.perf_counter()\nn = 0\nfor uid in range(1, {count} + 1):\n    r = c.fetch([uid], ['BODY.PEEK[]'])\n    n += sum(len(v[b'BODY[]']) for v in r.values())\n\
             print(time.perf_counter() - t, n)\nc.logout()\n",
            port = addr.port()
        ),
    };
    let out = mailwire_testkit::python(&code, Duration::from_secs(600)).expect("python client");
    let secs: f64 = out
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .expect("python timing");
    Duration::from_secs_f64(secs)
}

fn main() {
    // `cargo test --benches` runs this with --bench absent: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let messages = env_usize("MAILWIRE_BENCH_MESSAGES", 2000);
    let rounds = env_usize("MAILWIRE_BENCH_ROUNDS", 3);
    let dovecot = Dovecot::start().expect("Dovecot (tests/peers/install.sh)");
    let mut total = 0u64;
    for i in 0..messages {
        let m = mailwire_bench::sample_message(i, SIZE);
        total += m.len() as u64;
        dovecot.add_message("alice", &m).expect("seed Dovecot");
    }
    let addr = dovecot.imap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // Warm Dovecot's index and the page cache.
    let (_, octets) = rt.block_on(raw_one_command(addr));
    assert!(octets > total);

    let mut best = [Duration::MAX; 6];
    let mut one = [Duration::MAX; 2];
    for round in 0..rounds {
        let (d, octets) = rt.block_on(mailwire_per_message(addr, messages));
        assert_eq!(octets, total, "mailwire: octets");
        best[0] = best[0].min(d);
        best[1] = best[1].min(python_per_message(addr, messages, "imaplib"));
        best[2] = best[2].min(python_per_message(addr, messages, "imapclient"));
        best[3] = best[3].min(rt.block_on(raw_per_message(addr, messages)));
        let (d, octets) = rt.block_on(async_imap_per_message(addr, messages));
        assert_eq!(octets, total, "async-imap: octets");
        best[4] = best[4].min(d);
        let (d, octets) = imap_crate_per_message(addr, messages);
        assert_eq!(octets, total, "imap crate: octets");
        best[5] = best[5].min(d);
        let (d, octets) = rt.block_on(mailwire_one_command(addr));
        assert_eq!(octets, total, "mailwire stream: octets");
        one[0] = one[0].min(d);
        let (d, _) = rt.block_on(raw_one_command(addr));
        one[1] = one[1].min(d);
        eprintln!("round {round}: {best:?} {one:?}");
    }
    let rate = |d: Duration| messages as f64 / d.as_secs_f64();
    println!("\n{messages} x UID FETCH n (BODY.PEEK[]) against Dovecot, best of {rounds}:");
    for (i, name) in [
        "mailwire (pipelined)",
        "imaplib",
        "imapclient",
        "raw socket (floor)",
        "async-imap 0.12",
        "imap 3.0.0-alpha.15",
    ]
    .iter()
    .enumerate()
    {
        println!(
            "  {name:<22} {:>9.0} messages/s   mailwire is {:.1}x",
            rate(best[i]),
            best[i].as_secs_f64() / best[0].as_secs_f64()
        );
    }
    println!("\nOne UID FETCH 1:* (BODY.PEEK[]), {messages} x {SIZE} B, best of {rounds}:");
    println!(
        "  mailwire (fetch_stream) {:>8.1} MB/s\n  raw socket reader       {:>8.1} MB/s   mailwire at {:.0}% of it",
        total as f64 / one[0].as_secs_f64() / 1e6,
        total as f64 / one[1].as_secs_f64() / 1e6,
        100.0 * one[1].as_secs_f64() / one[0].as_secs_f64()
    );
}
