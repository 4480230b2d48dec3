//! POP3, same run, same machine: two comparisons on 2000 messages of 10 KiB.
//!
//! 1. **Servers, same client.** mailwire's POP3 client (pipelined RETR, release build) fetches
//!    every message from Dovecot (started by the project's script through `mailwire-testkit`,
//!    reading its Maildir) and from mailwire's POP3 server, which serves the same messages from
//!    the embedded store's Maildir backend (`Store::maildir`: files read from disk, like
//!    Dovecot) and, as a second row, from its memory backend. RETR throughput in MB/s.
//! 2. **Clients, same server.** mailwire's client against Python's `poplib` (one RETR at a
//!    time, as poplib works; its time is measured inside Python, interpreter start excluded),
//!    both fetching everything from Dovecot; and, as a control where the server is not the
//!    bottleneck, both fetching from mailwire's server over the memory store.
//!
//! Every client logs in with USER/PASS over cleartext on 127.0.0.1 (TLS would measure
//! rustls/OpenSSL, not POP3). Each variant runs `ROUNDS` times, interleaved, and its best round
//! counts (the machine is shared); every run checks the byte count.
//!
//! ```text
//! cargo bench -p mailwire-bench --bench pop3
//! MAILWIRE_BENCH_MESSAGES=500 MAILWIRE_BENCH_ROUNDS=2 cargo bench -p mailwire-bench --bench pop3
//! MAILWIRE_BENCH_WINDOW=256 cargo bench ...          # RETRs in flight (default 64)
//! MAILWIRE_BENCH_DOVECOT='mail_fsync = never' cargo bench ...   # appended to dovecot.conf
//! MAILWIRE_BENCH_DOVECOT=' ' cargo bench ...       # Dovecot's defaults, flag updates included
//! ```
//!
//! Dovecot runs with `pop3_no_flag_updates = yes` unless `MAILWIRE_BENCH_DOVECOT` says otherwise:
//! by default Dovecot marks every retrieved message `\Seen` at QUIT, renaming each of the 2000
//! Maildir files, work mailwire's POP3 server does not do (it changes no flags). The setting
//! makes both servers do the same work; it makes the server comparison harder for mailwire and
//! takes a fixed ~25 ms out of every client's QUIT. Both configurations are worth reporting.
//!
//! Against Dovecot, both clients wait for Dovecot: the client ratio there is bounded by how
//! fast Dovecot serves, which is why the control row (both clients against mailwire's memory
//! store) is printed too, and a floor: a raw socket that sends every RETR at once and only
//! counts bytes, the best any client could do against this Dovecot.

use mailwire_bench::env_usize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailwire_pop3::client::{BatchItem, Client, ClientConfig, Login};
use mailwire_pop3::proto::ServerConfig;
use mailwire_pop3::server::{Listener, Server, ServerOptions, StoreMaildrops};
use mailwire_testkit::{Dovecot, python};
use mailwire_tls::{Security, TlsPolicy};

const SIZE: usize = 10 * 1024;

/// A 10 KiB message with dot-stuffed lines; `i` in the subject.
fn message(i: usize) -> Vec<u8> {
    let mut m = format!(
        "From: sender@example.org\r\nTo: alice@example.net\r\nSubject: bench message {i}\r\n\
         Message-ID: <{i}.bench@example.org>\r\n\r\n"
    )
    .into_bytes();
    let mut n = 0;
    while m.len() < SIZE {
        if n % 20 == 0 {
            m.push(b'.');
        }
        m.extend_from_slice(
            format!("line {n:04} of message {i:05}, some text to fill it up\r\n").as_bytes(),
        );
        n += 1;
    }
    m
}

/// mailwire's client: log in, pipelined RETR of every message, QUIT. Returns (time, bytes).
async fn mailwire_client(port: u16) -> (Duration, u64) {
    let start = Instant::now();
    let mut config = ClientConfig::new("127.0.0.1", port, Security::StartTls(TlsPolicy::Disabled));
    config.pipeline_window = env_usize("MAILWIRE_BENCH_WINDOW", config.pipeline_window);
    let mut c = Client::connect(config).await.expect("connect");
    c.login(
        &Login::password("alice", "secret")
            .with_method(mailwire_pop3::client::AuthMethod::UserPass)
            .allow_plaintext_without_tls(true),
    )
    .await
    .expect("login");
    let (count, _) = c.stat().await.expect("STAT");
    let numbers: Vec<u32> = (1..=count).collect();
    let mut bytes = 0u64;
    c.retr_batch(&numbers, |_, item| {
        if let BatchItem::Data(d) = item {
            bytes += d.len() as u64;
        }
        Ok(())
    })
    .await
    .expect("RETR");
    c.quit().await.expect("QUIT");
    (start.elapsed(), bytes)
}

/// Python's poplib, one RETR at a time; time measured inside Python.
fn poplib(port: u16) -> (Duration, u64) {
    let out = python(
        &format!(
            "import poplib, time\n\
             t = time.perf_counter()\n\
             p = poplib.POP3('127.0.0.1', {port})\n\
             p.user('alice'); p.pass_('secret')\n\
             n = p.stat()[0]\n\
             total = 0\n\
             for i in range(1, n + 1):\n\
             \x20   resp, lines, octets = p.retr(i)\n\
             \x20   total += sum(len(l) + 2 for l in lines)\n\
             p.quit()\n\
             print(time.perf_counter() - t, total)"
        ),
        Duration::from_secs(600),
    )
    .expect("poplib");
    let mut w = out.split_whitespace();
    let secs: f64 = w.next().and_then(|s| s.parse().ok()).expect("time");
    let bytes: u64 = w.next().and_then(|s| s.parse().ok()).expect("bytes");
    (Duration::from_secs_f64(secs), bytes)
}

/// The floor any client can reach against a server: a raw socket (Python) that logs in, sends
/// every RETR in one write and only counts the bytes until the last terminator — no parsing,
/// no unstuffing, nothing stored. Returns (time, octets on the wire, protocol lines included).
fn raw_floor(port: u16) -> (Duration, u64) {
    let out = python(
        &format!(
            "import socket, time\n\
             t = time.perf_counter()\n\
             s = socket.create_connection(('127.0.0.1', {port}))\n\
             f = s.makefile('rb')\n\
             f.readline()\n\
             s.sendall(b'USER alice\\r\\n'); f.readline()\n\
             s.sendall(b'PASS secret\\r\\n'); f.readline()\n\
             s.sendall(b'STAT\\r\\n'); n = int(f.readline().split()[1])\n\
             s.sendall(b''.join(b'RETR %d\\r\\n' % i for i in range(1, n + 1)))\n\
             total = 0; ends = 0; tail = b''\n\
             while ends < n:\n\
             \x20   c = s.recv(1 << 20)\n\
             \x20   if not c: break\n\
             \x20   total += len(c); w = tail + c\n\
             \x20   ends += w.count(b'\\r\\n.\\r\\n'); tail = w[-4:]\n\
             s.sendall(b'QUIT\\r\\n'); s.recv(100)\n\
             print(time.perf_counter() - t, total)"
        ),
        Duration::from_secs(600),
    )
    .expect("raw socket client");
    let mut w = out.split_whitespace();
    let secs: f64 = w.next().and_then(|s| s.parse().ok()).expect("time");
    let bytes: u64 = w.next().and_then(|s| s.parse().ok()).expect("bytes");
    (Duration::from_secs_f64(secs), bytes)
}

fn mbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

fn main() {
    // `cargo test --benches` runs this with --bench absent: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let messages = env_usize("MAILWIRE_BENCH_MESSAGES", 2000);
    let rounds = env_usize("MAILWIRE_BENCH_ROUNDS", 5);
    let msgs: Vec<Vec<u8>> = (0..messages).map(message).collect();
    let total: u64 = msgs.iter().map(|m| m.len() as u64).sum();

    let extra = std::env::var("MAILWIRE_BENCH_DOVECOT")
        .unwrap_or_else(|_| "pop3_no_flag_updates = yes".to_owned());
    println!("Dovecot configuration added: {:?}", extra.trim());
    let dovecot = Dovecot::start_with_config(&extra).expect("Dovecot (tests/peers/install.sh)");
    for m in &msgs {
        dovecot.add_message("alice", m).expect("seed Dovecot");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // mailwire's server over the store's Maildir backend, and over its memory backend.
    let maildir = tempfile::tempdir().expect("tempdir");
    let mut ports = Vec::new();
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    for spec in ["maildir", "memory"] {
        let store = if spec == "maildir" {
            mailwire_store::Store::maildir(maildir.path()).expect("maildir store")
        } else {
            mailwire_store::Store::memory()
        };
        rt.block_on(async {
            store.add_user("alice", "secret").await.expect("user");
            for m in &msgs {
                store
                    .deliver("alice@example.net", m.clone())
                    .await
                    .expect("deliver");
            }
        });
        let options = ServerOptions {
            session: ServerConfig {
                allow_insecure_auth: true,
                ..ServerConfig::default()
            },
            ..ServerOptions::default()
        };
        let server = Server::new(
            options,
            StoreMaildrops::new(store.clone()),
            Arc::new(store),
            None,
        );
        let l = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        ports.push(l.local_addr().expect("addr").port());
        rt.spawn(server.serve(l, Listener::Pop3, shutdown.clone(), Duration::from_secs(1)));
    }

    // Warm-up: Dovecot builds its index and caches, the page cache fills.
    rt.block_on(mailwire_client(dovecot.pop3().port()));
    rt.block_on(mailwire_client(ports[0]));

    let names = [
        "mailwire client <- Dovecot",
        "mailwire client <- mailwire server (store: maildir)",
        "mailwire client <- mailwire server (store: memory)",
        "poplib          <- Dovecot",
        "poplib          <- mailwire server (store: memory)",
        "raw socket      <- Dovecot (the floor: no client work)",
    ];
    let mut best = [Duration::MAX; 6];
    for round in 0..rounds {
        for (i, name) in names.iter().enumerate() {
            let (d, bytes) = match i {
                0 => rt.block_on(mailwire_client(dovecot.pop3().port())),
                1 => rt.block_on(mailwire_client(ports[0])),
                2 => rt.block_on(mailwire_client(ports[1])),
                3 => poplib(dovecot.pop3().port()),
                4 => poplib(ports[1]),
                _ => raw_floor(dovecot.pop3().port()),
            };
            if i == 5 {
                // Status lines and stuffed dots are counted too.
                assert!(bytes >= total, "{name}: byte count {bytes} < {total}");
            } else {
                assert_eq!(bytes, total, "{name}: byte count");
            }
            eprintln!("round {round}: {name}: {:.3} s", d.as_secs_f64());
            best[i] = best[i].min(d);
        }
    }
    println!("\nPOP3, {messages} messages x {SIZE} B = {total} B, best of {rounds} rounds:");
    for (name, d) in names.iter().zip(best) {
        println!(
            "  {name:<55} {:>8.3} s  {:>8.1} MB/s",
            d.as_secs_f64(),
            mbps(total, d)
        );
    }
    println!(
        "\n  server: mailwire (maildir) / Dovecot RETR throughput = {:.2}x  (target >= 1.5x)",
        best[0].as_secs_f64() / best[1].as_secs_f64()
    );
    println!(
        "  server: mailwire (memory)  / Dovecot RETR throughput = {:.2}x",
        best[0].as_secs_f64() / best[2].as_secs_f64()
    );
    println!(
        "  client: mailwire / poplib against Dovecot           = {:.2}x  (target >= 5x)",
        best[3].as_secs_f64() / best[0].as_secs_f64()
    );
    println!(
        "  client: mailwire / poplib against mailwire (memory) = {:.2}x  (server out of the way)",
        best[4].as_secs_f64() / best[2].as_secs_f64()
    );
    println!(
        "  floor:  raw socket / poplib against Dovecot         = {:.2}x  (no client can do better)",
        best[3].as_secs_f64() / best[5].as_secs_f64()
    );
    println!(
        "  client: mailwire time / raw-socket floor            = {:.2}",
        best[0].as_secs_f64() / best[5].as_secs_f64()
    );
}
