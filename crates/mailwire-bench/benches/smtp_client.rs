//! SMTP client throughput, same run, same server: mailwire vs lettre vs Python's smtplib.
//!
//! Each client connects to Postfix smtp-sink on 127.0.0.1 (started by the project's script
//! through `mailwire-testkit`), sends `MESSAGES` messages of about 2 KiB to `RECIPIENTS`
//! recipients each on one connection, and quits. The time covers connect, every transaction
//! and QUIT; messages are built before the clock starts. Each client runs `ROUNDS` times,
//! interleaved, and its best round counts (the machine is shared). smtp-sink's counters
//! confirm every message arrived.
//!
//! ```text
//! cargo bench -p mailwire-bench --bench smtp_client
//! MAILWIRE_BENCH_MESSAGES=200 MAILWIRE_BENCH_ROUNDS=1 cargo bench -p mailwire-bench --bench smtp_client
//! MAILWIRE_BENCH_ONLY=0,4 cargo bench -p mailwire-bench --bench smtp_client   # rows 0 and 4 only
//! ```
//!
//! Variants: mailwire `send_many` (all messages in one call: each message's data carries the
//! next message's commands, RFC 2920), mailwire `send` (one call per message: MAIL, the RCPTs
//! and DATA still in one write), lettre 0.11 `AsyncSmtpTransport` with its connection pool
//! (one command at a time: lettre does not pipeline), and `smtplib.SMTP.sendmail` (one command
//! at a time).
//!
//! lettre writes each message's data and its `CRLF.CRLF` in two writes without `TCP_NODELAY`:
//! Nagle's algorithm holds the terminator until the server acknowledges the data, which a
//! Linux receiver delays by up to 40 ms, so every lettre message waits for that timer. That is
//! how lettre behaves against smtp-sink or Postfix on Linux, and the "direct" rows show it. The
//! "relay" rows are a control: both clients go through a loopback relay that acknowledges at
//! once (`TCP_QUICKACK` after every read), which removes the stall and leaves the cost of the
//! round trips (one per message for mailwire, 14 for lettre: NOOP, MAIL, 10 RCPT, DATA, data).

use mailwire_bench::env_usize;
use std::time::{Duration, Instant};

use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use mailwire_smtp::client::{Client, ClientOptions, TlsPolicy};
use mailwire_smtp::proto::Envelope;
use mailwire_testkit::{SmtpSink, python};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const FROM: &str = "sender@example.org";
const RECIPIENTS: usize = 10;

fn recipients() -> Vec<String> {
    (0..RECIPIENTS)
        .map(|i| format!("user{i}@example.net"))
        .collect()
}

/// A 2 KiB-ish message; `i` goes in the subject.
fn message(i: usize) -> Vec<u8> {
    let mut m = format!(
        "From: {FROM}\r\nTo: user0@example.net\r\nSubject: bench message {i}\r\n\
         Message-ID: <{i}.bench@example.org>\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n\r\n"
    );
    for line in 0..26 {
        m.push_str(&format!(
            "{line:02} The quick brown fox jumps over the lazy dog, again and again.\r\n"
        ));
    }
    m.into_bytes()
}

fn mailwire_options(port: u16) -> ClientOptions {
    // smtp-sink has no STARTTLS: plaintext, as for every client here.
    ClientOptions::new("127.0.0.1", port).tls_policy(TlsPolicy::Disabled)
}

fn envelopes(n: usize) -> Vec<(Envelope, Vec<u8>)> {
    let to = recipients();
    (0..n)
        .map(|i| {
            let env = Envelope::new(
                FROM.parse().expect("sender"),
                to.iter().map(|t| t.parse().expect("recipient")),
            );
            (env, message(i))
        })
        .collect()
}

async fn mailwire_send_many(port: u16, batch: Vec<(Envelope, Vec<u8>)>) -> Duration {
    let start = Instant::now();
    let mut c = Client::connect_with(mailwire_options(port))
        .await
        .expect("connect");
    let results = c.send_many(batch).await.expect("send_many");
    c.quit().await.expect("quit");
    let took = start.elapsed();
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|r| r.is_delivered_to_all()))
    );
    took
}

async fn mailwire_send(port: u16, batch: Vec<(Envelope, Vec<u8>)>) -> Duration {
    let start = Instant::now();
    let mut c = Client::connect_with(mailwire_options(port))
        .await
        .expect("connect");
    for (env, m) in batch {
        let r = c.send(env, m).await.expect("send");
        assert!(r.is_delivered_to_all());
    }
    c.quit().await.expect("quit");
    start.elapsed()
}

async fn lettre(port: u16, messages: &[Vec<u8>]) -> Duration {
    let envelope = lettre::address::Envelope::new(
        Some(FROM.parse().expect("sender")),
        recipients()
            .iter()
            .map(|t| t.parse().expect("recipient"))
            .collect(),
    )
    .expect("envelope");
    let start = Instant::now();
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .build();
    for m in messages {
        transport.send_raw(&envelope, m).await.expect("lettre send");
    }
    drop(transport);
    start.elapsed()
}

/// Relays every connection to `upstream`, acknowledging the client's data at once.
async fn quickack_relay(upstream: u16) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
    let port = listener.local_addr().expect("relay address").port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let server = TcpStream::connect(("127.0.0.1", upstream))
                    .await
                    .expect("relay to smtp-sink");
                client.set_nodelay(true).expect("nodelay");
                server.set_nodelay(true).expect("nodelay");
                let (mut sr, mut sw) = server.into_split();
                let (mut cr, mut cw) = client.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                });
                let mut buf = vec![0; 64 * 1024];
                loop {
                    // Not permanent: set again after every read.
                    let _ = socket2::SockRef::from(cr.as_ref()).set_tcp_quickack(true);
                    match cr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if sw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = sw.shutdown().await;
            });
        }
    });
    port
}

fn smtplib(port: u16, n: usize, dir: &std::path::Path) -> Duration {
    let file = dir.join("message.eml");
    std::fs::write(&file, message(0)).expect("write message");
    let tos = recipients()
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(",");
    let code = format!(
        "import smtplib, time\n\
         msg = open('{}', 'rb').read()\n\
         tos = [{tos}]\n\
         t = time.perf_counter()\n\
         s = smtplib.SMTP('127.0.0.1', {port})\n\
         for i in range({n}):\n\
         \x20   s.sendmail('{FROM}', tos, msg)\n\
         s.quit()\n\
         print(time.perf_counter() - t)\n",
        file.display()
    );
    let out = python(&code, Duration::from_secs(600)).expect("python smtplib");
    Duration::from_secs_f64(out.trim().parse().expect("seconds"))
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing and wants it quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = env_usize("MAILWIRE_BENCH_MESSAGES", if quick { 20 } else { 1000 });
    let rounds = env_usize("MAILWIRE_BENCH_ROUNDS", if quick { 1 } else { 3 }).max(1);
    let sink = SmtpSink::start(false).expect("Postfix smtp-sink (install postfix)");
    let port = sink.addr().port();
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let messages: Vec<Vec<u8>> = (0..n).map(message).collect();
    let relay = rt.block_on(quickack_relay(port));

    let names = [
        "mailwire send_many",
        "mailwire send",
        "lettre",
        "smtplib",
        "mailwire send_many, relay",
        "lettre, relay",
    ];
    let only: Option<Vec<usize>> = std::env::var("MAILWIRE_BENCH_ONLY")
        .ok()
        .map(|v| v.split(',').filter_map(|k| k.trim().parse().ok()).collect());
    let mut best = [Duration::MAX; 6];
    let mut expected = 0u64;
    for _ in 0..rounds {
        for (k, b) in best.iter_mut().enumerate() {
            if only.as_ref().is_some_and(|o| !o.contains(&k)) {
                continue;
            }
            let took = match k {
                0 => rt.block_on(mailwire_send_many(port, envelopes(n))),
                1 => rt.block_on(mailwire_send(port, envelopes(n))),
                2 => rt.block_on(lettre(port, &messages)),
                3 => smtplib(port, n, dir.path()),
                4 => rt.block_on(mailwire_send_many(relay, envelopes(n))),
                _ => rt.block_on(lettre(relay, &messages)),
            };
            expected += n as u64;
            let counted = sink
                .wait_for_messages(expected, Duration::from_secs(30))
                .expect("smtp-sink counted every message");
            assert_eq!(counted.messages, expected, "{}", names[k]);
            *b = (*b).min(took);
        }
    }

    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "\nSMTP client: {n} messages x {RECIPIENTS} recipients, ~{} B each, to smtp-sink on loopback; best of {rounds}",
        messages[0].len()
    );
    println!(
        "{:<26} {:>10} {:>12} {:>20}",
        "client", "time", "messages/s", "mailwire is faster"
    );
    for (k, (name, d)) in names.iter().zip(best).enumerate() {
        // Relay rows compare with mailwire through the same relay.
        let base = if k >= 4 { best[4] } else { best[0] };
        println!(
            "{name:<26} {:>9.3}s {:>12.0} {:>19.2}x",
            d.as_secs_f64(),
            rate(d),
            rate(base) / rate(d)
        );
    }
    let vs_lettre = rate(best[0]) / rate(best[2]);
    let vs_lettre_relay = rate(best[4]) / rate(best[5]);
    let vs_smtplib = rate(best[0]) / rate(best[3]);
    let verdict = |r: f64, t: f64| if r >= t { "met" } else { "MISSED" };
    println!(
        "targets: >= 3x lettre: {vs_lettre:.2}x direct ({}), {vs_lettre_relay:.2}x through the relay ({}); \
         >= 10x smtplib: {vs_smtplib:.2}x ({})",
        verdict(vs_lettre, 3.0),
        verdict(vs_lettre_relay, 3.0),
        verdict(vs_smtplib, 10.0)
    );
}
