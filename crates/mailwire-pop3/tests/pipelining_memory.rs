//! A million pipelined commands against the real server driver: every one is answered, in
//! order, and the process's memory stays flat even though the client reads nothing for the
//! first two seconds (the server stops reading commands while its answers cannot be sent).
//! Alone in its own test binary so that the memory measurement sees nothing else.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use mailwire_pop3::proto::ServerConfig;
use mailwire_pop3::server::{Listener, MemoryMaildrops, Server, ServerOptions};
use mailwire_sasl::StaticAuthenticator;

const COMMANDS: usize = 1_000_000;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn a_million_pipelined_commands_in_bounded_memory() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let drops = MemoryMaildrops::new();
    for i in 0..3 {
        drops.add_message(
            "alice",
            format!("Subject: {i}\r\n\r\nbody\r\n").into_bytes(),
        );
    }
    let options = ServerOptions {
        session: ServerConfig {
            allow_insecure_auth: true,
            ..ServerConfig::default()
        },
        ..ServerOptions::default()
    };
    let auth = Arc::new(StaticAuthenticator::new().with_user("alice", "secret"));
    let server = Server::new(options, drops, auth, None);
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (_stop, rx) = tokio::sync::watch::channel(false);
    rt.spawn(server.serve(listener, Listener::Pop3, rx, Duration::from_secs(1)));

    // A fixed, small send buffer (no autotuning): what the client manages to write while it
    // reads nothing then depends on the server, not on how far the kernel grows its buffers.
    let stream: TcpStream = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_send_buffer_size(64 * 1024).unwrap();
        let s = socket.connect(addr).await.unwrap();
        let s = s.into_std().unwrap();
        s.set_nonblocking(false).unwrap();
        s
    });
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut reader = BufReader::with_capacity(64 * 1024, stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut writer = stream.try_clone().unwrap();
    writer.write_all(b"USER alice\r\nPASS secret\r\n").unwrap();
    for _ in 0..2 {
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with("+OK"), "{line}");
    }

    let baseline = rss_kib();
    let peak = Arc::new(AtomicU64::new(baseline));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (Arc::clone(&peak), Arc::clone(&done));
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let written = Arc::new(AtomicU64::new(0));
    let writer_thread = {
        let written = Arc::clone(&written);
        std::thread::spawn(move || {
            // LIST answers ~12 times its own size: an amplifier if the server did not push back.
            let block = b"LIST\r\n".repeat(10_000);
            for _ in 0..COMMANDS / 10_000 {
                writer.write_all(&block).unwrap();
                written.fetch_add(block.len() as u64, Ordering::Relaxed);
            }
            writer.write_all(b"QUIT\r\n").unwrap();
        })
    };
    // A slow reader: nothing is read for two seconds.
    std::thread::sleep(Duration::from_secs(2));
    let written_while_stalled = written.load(Ordering::Relaxed);
    let mut listings = 0usize;
    let mut in_listing = false;
    let mut lines_in = 0;
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if in_listing {
            if line == ".\r\n" {
                assert_eq!(lines_in, 3, "a listing had {lines_in} lines");
                in_listing = false;
                listings += 1;
            } else {
                lines_in += 1;
                assert!(line.starts_with(&format!("{lines_in} ")), "{line:?}");
            }
        } else if line == "+OK scan listing follows\r\n" {
            in_listing = true;
            lines_in = 0;
        } else {
            assert!(
                line.starts_with("+OK localhost POP3 server signing off"),
                "{line:?}"
            );
        }
    }
    writer_thread.join().unwrap();
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    assert_eq!(
        listings, COMMANDS,
        "every pipelined command answered, in order"
    );
    let growth_mib = (peak.load(Ordering::Relaxed).saturating_sub(baseline)) / 1024;
    eprintln!(
        "RSS growth {growth_mib} MiB; {written_while_stalled} of {} command octets were accepted while the client did not read",
        COMMANDS * 6
    );
    // Without back-pressure the server would hold ~40 MB of answers.
    assert!(growth_mib < 24, "memory grew by {growth_mib} MiB");
    assert!(
        written_while_stalled < (COMMANDS * 6 / 2) as u64,
        "the server swallowed every command while its answers could not be sent"
    );
}
