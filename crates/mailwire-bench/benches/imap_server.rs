//! IMAP servers, same run, same machine, same client: mailwire's IMAP server (over the store's
//! Maildir backend, files read from disk like Dovecot, and over its memory backend) beside
//! Dovecot (started by the project's script through `mailwire-testkit`, reading its own
//! Maildir), on the same 2000 messages of 10 KiB (multipart, an attachment, a reply's headers).
//!
//! The client is the load generator of `mailwire_bench::imap_load`: Rust, one connection per
//! session, every response framed and parsed by mailwire's sans-I/O client. Figures:
//!
//! 1. `UID FETCH 1:* (FLAGS BODY.PEEK[])` in MB/s of message text (warm).
//! 2. `FETCH 1:* (ENVELOPE BODYSTRUCTURE)` in responses/s: the first run after the server
//!    restarted, after a first session had asked the same (mailwire reopens the Maildir store,
//!    its `mailwire-cache` included; Dovecot is a new instance over a copy of the first one's
//!    Maildir, its index and cache files included), and warm.
//! 3. Durable APPEND with LITERAL+ from 4 sessions at once into Maildir, in messages/s
//!    (mailwire fsyncs each message before `OK`; Dovecot runs with its default
//!    `mail_fsync = optimized`, which fsyncs saved mail too). Each session pipelines its APPENDs.
//! 4. Pipelining: `UID FETCH i (FLAGS)` for every message, all sent at once, in commands/s,
//!    and the socket reads the client needed per command (the server batches its responses
//!    into few writes: far fewer reads than commands).
//! 5. Memory per idle connection: logged-in sessions with INBOX selected, in IDLE; the server's
//!    proportional set size (PSS, so shared library pages are not counted once per process)
//!    before and after, divided by the connections. mailwire runs in a child process of this
//!    benchmark with 10 000 connections; Dovecot (a process per IMAP session) with 500.
//!
//! Every command is sent in cleartext on 127.0.0.1 (TLS would measure rustls and OpenSSL, not
//! IMAP). Each variant runs `ROUNDS` times, interleaved, and its best round counts (the
//! machine is shared); every run checks the counts.
//!
//! ```text
//! cargo bench -p mailwire-bench --bench imap_server
//! MAILWIRE_BENCH_MESSAGES=500 MAILWIRE_BENCH_ROUNDS=2 MAILWIRE_BENCH_IDLE=1000 cargo bench ...
//! MAILWIRE_BENCH_IDLE_DOVECOT=200 cargo bench ...   # Dovecot's idle connections (default 500)
//! ```

use mailwire_bench::env_usize;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mailwire_bench::imap_load::{ImapConn, body_octets, command};
use mailwire_imap::proto::{
    AppendData, AppendMessage, CommandBody, Completion, Data, Mailbox, Vec1,
};
use mailwire_imap::server::{Listener, Server, ServerOptions};
use mailwire_store::Store;
use mailwire_testkit::Dovecot;

const SIZE: usize = 10 * 1024;
const CHILD: &str = "MAILWIRE_BENCH_IMAP_CHILD";

fn message(i: usize) -> Vec<u8> {
    mailwire_bench::sample_message(i, SIZE)
}

/// Starts mailwire's IMAP server over `store` on a free port of 127.0.0.1.
fn start(rt: &tokio::runtime::Runtime, store: Store, max_connections: usize) -> SocketAddr {
    // Every session is alice's, from 127.0.0.1: the per-user and per-address limits are
    // lifted to the listener's.
    let mut options = ServerOptions {
        max_connections,
        max_connections_per_address: max_connections,
        max_sessions_per_user: max_connections,
        ..ServerOptions::default()
    };
    options.session.allow_insecure_auth = true;
    let server = Server::new(options, store, None);
    let l = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    // The server lives as long as the benchmark.
    std::mem::forget(stop);
    rt.spawn(server.serve(l, Listener::Imap, shutdown, Duration::from_secs(1)));
    addr
}

async fn session(addr: SocketAddr, select: &str) -> ImapConn {
    let mut c = ImapConn::connect(addr).await.expect("connect");
    c.login("alice", "secret").await.expect("login");
    let t = c.run(command(select), |_| {}).await.expect("select");
    assert_eq!(t.kind, Completion::Ok, "{select}: {t:?}");
    c
}

/// `UID FETCH 1:* (FLAGS BODY.PEEK[])`: (time of the command, messages, octets).
async fn fetch_bodies(addr: SocketAddr) -> (Duration, u64, u64) {
    let mut c = session(addr, "EXAMINE INBOX").await;
    let (mut n, mut octets) = (0u64, 0u64);
    let start = Instant::now();
    let t = c
        .run(command("UID FETCH 1:* (FLAGS BODY.PEEK[])"), |d| {
            if matches!(d, Data::Fetch { .. }) {
                n += 1;
                octets += body_octets(&d);
            }
        })
        .await
        .expect("fetch");
    let d = start.elapsed();
    assert_eq!(t.kind, Completion::Ok, "{t:?}");
    (d, n, octets)
}

/// `FETCH 1:* (ENVELOPE BODYSTRUCTURE)`: (time of the command, responses).
async fn fetch_structure(addr: SocketAddr) -> (Duration, u64) {
    let mut c = session(addr, "EXAMINE INBOX").await;
    let mut n = 0u64;
    let start = Instant::now();
    let t = c
        .run(command("FETCH 1:* (ENVELOPE BODYSTRUCTURE)"), |d| {
            if matches!(d, Data::Fetch { .. }) {
                n += 1;
            }
        })
        .await
        .expect("fetch");
    let d = start.elapsed();
    assert_eq!(t.kind, Completion::Ok, "{t:?}");
    (d, n)
}

/// Durable APPEND into a new mailbox `name` from `sessions` sessions, `per` messages each,
/// pipelined `window` at a time: the time from the first APPEND to the last OK.
async fn append(
    addr: SocketAddr,
    name: &str,
    sessions: usize,
    per: usize,
    window: usize,
) -> Duration {
    let mut c = session(addr, "EXAMINE INBOX").await;
    let t = c
        .run(command(&format!("CREATE {name}")), |_| {})
        .await
        .expect("create");
    assert_eq!(t.kind, Completion::Ok, "CREATE {name}: {t:?}");
    let mut conns = Vec::new();
    for _ in 0..sessions {
        conns.push(session(addr, "EXAMINE INBOX").await);
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (s, mut conn) in conns.into_iter().enumerate() {
        let name = name.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut sent = 0;
            while sent < per {
                let batch: Vec<CommandBody> = (sent..(sent + window).min(per))
                    .map(|i| CommandBody::Append {
                        mailbox: Mailbox::new(name.clone()).expect("name"),
                        messages: Vec1::one(AppendMessage {
                            flags: None,
                            date: None,
                            data: AppendData::Literal(message(s * per + i)),
                        }),
                    })
                    .collect();
                sent += batch.len();
                for t in conn.pipeline(batch, |_| {}).await.expect("append") {
                    assert_eq!(t.kind, Completion::Ok, "APPEND: {t:?}");
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("append task");
    }
    let d = start.elapsed();
    let mut n = 0u64;
    let t = c
        .run(command(&format!("STATUS {name} (MESSAGES)")), |d| {
            if let Data::Status { .. } = d {
                n += 1;
            }
        })
        .await
        .expect("status");
    assert_eq!(t.kind, Completion::Ok, "{t:?}");
    assert_eq!(n, 1);
    d
}

/// `UID FETCH i (FLAGS)` for `i` in 1..=n, all pipelined: (time, client reads).
async fn pipelined(addr: SocketAddr, n: usize) -> (Duration, u64) {
    let mut c = session(addr, "EXAMINE INBOX").await;
    let batch: Vec<CommandBody> = (1..=n)
        .map(|i| command(&format!("UID FETCH {i} (FLAGS)")))
        .collect();
    let mut responses = 0;
    let reads = c.reads();
    let start = Instant::now();
    let done = c
        .pipeline(batch, |d| {
            if matches!(d, Data::Fetch { .. }) {
                responses += 1;
            }
        })
        .await
        .expect("pipeline");
    let d = start.elapsed();
    assert!(done.iter().all(|t| t.kind == Completion::Ok));
    assert_eq!(responses, n);
    (d, c.reads() - reads)
}

/// The proportional set size of `pid` and every process below it, in KiB.
fn pss_tree(pid: u32) -> u64 {
    let mut pids = vec![pid];
    let mut i = 0;
    while i < pids.len() {
        let parent = pids[i];
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for e in dir.flatten() {
                let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                    continue;
                };
                let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                    continue;
                };
                // pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
                let ppid = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                    .and_then(|s| s.parse::<u32>().ok());
                if ppid == Some(parent) && !pids.contains(&p) {
                    pids.push(p);
                }
            }
        }
        i += 1;
    }
    pids.iter()
        .map(|p| {
            std::fs::read_to_string(format!("/proc/{p}/smaps_rollup"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("Pss:"))
                        .and_then(|l| l.split_whitespace().nth(1))
                        .and_then(|v| v.parse::<u64>().ok())
                })
                .unwrap_or(0)
        })
        .sum()
}

/// Opens `n` sessions in IDLE on `addr`, `parallel` at a time; returns them.
async fn idle_sessions(addr: SocketAddr, n: usize, parallel: usize) -> Vec<ImapConn> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let k = parallel.min(n - out.len());
        let tasks: Vec<_> = (0..k)
            .map(|_| {
                tokio::spawn(async move {
                    let mut c = session(addr, "SELECT INBOX").await;
                    c.idle().await.expect("idle");
                    c
                })
            })
            .collect();
        for t in tasks {
            out.push(t.await.expect("idle task"));
        }
    }
    out
}

/// Memory per idle connection of the server whose processes start at `pid`, in KiB.
fn idle_memory(rt: &tokio::runtime::Runtime, addr: SocketAddr, pid: u32, n: usize) -> f64 {
    // One session first, so that what every server allocates once (caches, the mailbox) is in
    // the baseline.
    let warm = rt.block_on(idle_sessions(addr, 1, 1));
    std::thread::sleep(Duration::from_millis(500));
    let before = pss_tree(pid);
    let conns = rt.block_on(idle_sessions(addr, n, 100));
    std::thread::sleep(Duration::from_secs(2));
    let after = pss_tree(pid);
    eprintln!("  PSS before {before} KiB, after {n} idle sessions {after} KiB");
    drop(conns);
    drop(warm);
    after.saturating_sub(before) as f64 / n as f64
}

/// The child process: mailwire's IMAP server over a memory store with a few messages, for the
/// idle-memory figure. Prints its address, serves until stdin closes.
fn child() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let store = Store::memory();
    rt.block_on(async {
        store.add_user("alice", "secret").await.expect("user");
        for i in 0..20 {
            store
                .deliver("alice@example.net", message(i))
                .await
                .expect("deliver");
        }
    });
    let addr = start(&rt, store, 100_000);
    println!("{addr}");
    std::io::stdout().flush().expect("stdout");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

fn main() {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    // `cargo test --benches` runs this with --bench absent: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let messages = env_usize("MAILWIRE_BENCH_MESSAGES", 2000);
    let rounds = env_usize("MAILWIRE_BENCH_ROUNDS", 5);
    let idle_n = env_usize("MAILWIRE_BENCH_IDLE", 10_000);
    let idle_dovecot = env_usize("MAILWIRE_BENCH_IDLE_DOVECOT", 500);
    let msgs: Vec<Vec<u8>> = (0..messages).map(message).collect();
    let total: u64 = msgs.iter().map(|m| m.len() as u64).sum();

    let dovecot = Dovecot::start().expect("Dovecot (tests/peers/install.sh)");
    for m in &msgs {
        dovecot.add_message("alice", m).expect("seed Dovecot");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let maildir = tempfile::tempdir().expect("tempdir");
    let mem = Store::memory();
    let disk = Store::maildir(maildir.path()).expect("maildir store");
    for store in [&mem, &disk] {
        rt.block_on(async {
            store.add_user("alice", "secret").await.expect("user");
            for m in &msgs {
                store
                    .deliver("alice@example.net", m.clone())
                    .await
                    .expect("deliver");
            }
        });
    }
    drop(disk);
    // The Maildir server starts on a store opened from disk, as after a restart.
    let disk = Store::maildir(maildir.path()).expect("maildir store");
    if disk.user("alice").is_none() {
        // Users come from the configuration, not the Maildir.
        rt.block_on(disk.add_user("alice", "secret")).expect("user");
    }
    let servers = [
        ("Dovecot", dovecot.imap()),
        ("mailwire (maildir)", start(&rt, disk, 1024)),
        ("mailwire (memory)", start(&rt, mem, 1024)),
    ];

    // 2a. The first FETCH of the structure after a restart. Dovecot first builds its index
    // and cache (a first session), then a second instance starts over a copy of that Maildir.
    let (_, n) = rt.block_on(fetch_structure(servers[0].1));
    assert_eq!(n as usize, messages);
    let dovecot2 = Dovecot::start().expect("second Dovecot");
    let copy = std::process::Command::new("cp")
        .arg("-a")
        .arg(dovecot.maildir("alice"))
        .arg(dovecot2.maildir("alice"))
        .status()
        .expect("cp");
    assert!(copy.success(), "cp -a of Dovecot's Maildir");
    let (d_cold_dovecot, n) = rt.block_on(fetch_structure(dovecot2.imap()));
    assert_eq!(n as usize, messages);
    drop(dovecot2);
    // mailwire the same way: a first session on the running server, then a second server
    // over the same Maildir opened anew (what a restarted `mailwire serve` does).
    let (_, n) = rt.block_on(fetch_structure(servers[1].1));
    assert_eq!(n as usize, messages);
    let reopened = Store::maildir(maildir.path()).expect("maildir store");
    rt.block_on(reopened.add_user("alice", "secret"))
        .expect("user");
    let (d_cold_mw, n) = rt.block_on(fetch_structure(start(&rt, reopened, 16)));
    assert_eq!(n as usize, messages);
    println!(
        "\nFETCH 1:* (ENVELOPE BODYSTRUCTURE), first run after a restart, {messages} messages:"
    );
    let cold_rate = |d: Duration| messages as f64 / d.as_secs_f64();
    println!(
        "  Dovecot              {:>10.0} responses/s\n  mailwire (maildir)   {:>10.0} responses/s   {:.2}x",
        cold_rate(d_cold_dovecot),
        cold_rate(d_cold_mw),
        d_cold_dovecot.as_secs_f64() / d_cold_mw.as_secs_f64()
    );

    // Warm-up: page cache, Dovecot's cache of BODY[].
    for (_, addr) in &servers {
        rt.block_on(fetch_bodies(*addr));
    }

    let mut best_body = [Duration::MAX; 3];
    let mut best_struct = [Duration::MAX; 3];
    for round in 0..rounds {
        for (i, (name, addr)) in servers.iter().enumerate() {
            let (d, n, octets) = rt.block_on(fetch_bodies(*addr));
            assert_eq!(n as usize, messages, "{name}: FETCH responses");
            assert_eq!(octets, total, "{name}: octets of BODY[]");
            best_body[i] = best_body[i].min(d);
            let (d2, n) = rt.block_on(fetch_structure(*addr));
            assert_eq!(n as usize, messages, "{name}: FETCH responses");
            best_struct[i] = best_struct[i].min(d2);
            eprintln!(
                "round {round}: {name}: BODY[] {:.3} s, ENVELOPE BODYSTRUCTURE {:.3} s",
                d.as_secs_f64(),
                d2.as_secs_f64()
            );
        }
    }
    println!("\nUID FETCH 1:* (FLAGS BODY.PEEK[]), {messages} x {SIZE} B, best of {rounds}:");
    for (i, (name, _)) in servers.iter().enumerate() {
        println!(
            "  {name:<20} {:>8.1} MB/s   {:.2}x Dovecot",
            total as f64 / best_body[i].as_secs_f64() / 1e6,
            best_body[0].as_secs_f64() / best_body[i].as_secs_f64()
        );
    }
    println!("\nFETCH 1:* (ENVELOPE BODYSTRUCTURE), warm, best of {rounds}:");
    for (i, (name, _)) in servers.iter().enumerate() {
        println!(
            "  {name:<20} {:>10.0} responses/s   {:.2}x Dovecot",
            messages as f64 / best_struct[i].as_secs_f64(),
            best_struct[0].as_secs_f64() / best_struct[i].as_secs_f64()
        );
    }

    // 3. Durable APPEND, 4 sessions, into Maildir.
    let sessions = 4;
    let per = (messages / sessions).max(1);
    let window = env_usize("MAILWIRE_BENCH_WINDOW", 16);
    let mut best_append = [Duration::MAX; 2];
    for round in 0..rounds {
        for (i, (name, addr)) in servers[..2].iter().enumerate() {
            let d = rt.block_on(append(
                *addr,
                &format!("Bench{round}"),
                sessions,
                per,
                window,
            ));
            eprintln!("round {round}: {name}: APPEND {:.3} s", d.as_secs_f64());
            best_append[i] = best_append[i].min(d);
        }
    }
    println!(
        "\nAPPEND (LITERAL+, durable), {sessions} sessions x {per} messages, {window} in flight each, best of {rounds}:"
    );
    for (i, (name, _)) in servers[..2].iter().enumerate() {
        println!(
            "  {name:<20} {:>8.0} messages/s   {:.2}x Dovecot",
            (sessions * per) as f64 / best_append[i].as_secs_f64(),
            best_append[0].as_secs_f64() / best_append[i].as_secs_f64()
        );
    }

    // 4. Pipelined small commands.
    let mut best_pipe = [(Duration::MAX, 0u64); 3];
    for _ in 0..rounds {
        for (i, (_, addr)) in servers.iter().enumerate() {
            let (d, reads) = rt.block_on(pipelined(*addr, messages));
            if d < best_pipe[i].0 {
                best_pipe[i] = (d, reads);
            }
        }
    }
    println!("\n{messages} x UID FETCH i (FLAGS), pipelined at once, best of {rounds}:");
    for (i, (name, _)) in servers.iter().enumerate() {
        let (d, reads) = best_pipe[i];
        println!(
            "  {name:<20} {:>10.0} commands/s   {:.2}x Dovecot   {:.3} client reads per command",
            messages as f64 / d.as_secs_f64(),
            best_pipe[0].0.as_secs_f64() / d.as_secs_f64(),
            reads as f64 / messages as f64
        );
    }
    drop(dovecot);

    // 5. Memory per idle connection.
    let exe = std::env::current_exe().expect("exe");
    let mut child = std::process::Command::new(exe)
        .env(CHILD, "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("child server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("child address");
    let addr: SocketAddr = line.trim().parse().expect("child address");
    let mw_kib = idle_memory(&rt, addr, child.id(), idle_n);
    drop(child.stdin.take());
    let _ = child.wait();

    let dovecot = Dovecot::start_with_config(&format!(
        "default_process_limit = {}\ndefault_client_limit = {}\n",
        idle_dovecot + 100,
        idle_dovecot * 2 + 100
    ))
    .expect("Dovecot for idle sessions");
    for m in msgs.iter().take(20) {
        dovecot.add_message("alice", m).expect("seed Dovecot");
    }
    let dc_kib = idle_memory(&rt, dovecot.imap(), dovecot.pid(), idle_dovecot);
    println!("\nMemory per idle connection (logged in, INBOX selected, in IDLE), PSS:");
    println!("  mailwire (memory)    {mw_kib:>8.1} KiB   ({idle_n} connections; target <= 32 KiB)");
    println!(
        "  Dovecot              {dc_kib:>8.1} KiB   ({idle_dovecot} connections)   {:.1}x mailwire's",
        dc_kib / mw_kib.max(0.001)
    );
}
