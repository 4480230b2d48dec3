//! The test server's HTTP API with a big store, over real HTTP on 127.0.0.1: 100 000 messages
//! stored, then the time to index them, to list a page (first, deep, filtered), to open one,
//! and 1 000 clients waiting on `/messages/wait` all woken by one delivery. Mailpit's
//! published figures (its README): "approximately 70-100 emails per second" stored, "easily
//! handling tens of thousands of emails", 500 kept by default.
//!
//! ```text
//! cargo bench --bench http_api
//! MAILWIRE_BENCH_MESSAGES=20000 MAILWIRE_BENCH_WAITERS=200 cargo bench --bench http_api
//! ```

use std::time::{Duration, Instant};

use mailwire::http::{Api, HttpOptions};
use mailwire_bench::env_usize;
use mailwire_store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP/1.1 GET on a new connection; the status and the body length.
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, usize) {
    answer(ask(addr, path).await).await
}

/// Connects and sends the request.
async fn ask(addr: std::net::SocketAddr, path: &str) -> tokio::net::TcpStream {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .expect("write");
    s
}

/// Reads the whole answer: the status and the body length.
async fn answer(mut s: tokio::net::TcpStream) -> (u16, usize) {
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    let status = std::str::from_utf8(&buf[9..12])
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |p| buf.len() - p - 4);
    (status, body)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn timed<F: std::future::Future>(f: F) -> (F::Output, Duration) {
    let t = Instant::now();
    let r = f.await;
    (r, t.elapsed())
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n = env_usize("MAILWIRE_BENCH_MESSAGES", 100_000);
    let waiters = env_usize("MAILWIRE_BENCH_WAITERS", 1000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let store = Store::memory();
        store.add_user("alice", "secret").await.expect("user");
        let rss0 = rss_kib();
        let t = Instant::now();
        for i in 0..n {
            store
                .deliver("alice", mailwire_bench::sample_message(i, 2048))
                .await
                .expect("deliver");
        }
        let stored = t.elapsed();
        let rss_store = rss_kib();
        let (api, index_time) = timed(async {
            let api = Api::start(store.clone());
            api.ready().await;
            api
        })
        .await;
        assert_eq!(api.count(), n);
        let rss_index = rss_kib();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let (_stop, stop_rx) = tokio::sync::watch::channel(false);
        let options = HttpOptions { auth: None, local: Some(addr) };
        tokio::spawn(mailwire::http::serve(l, api.clone(), options, stop_rx));

        let best = |ds: Vec<Duration>| ds.into_iter().min().unwrap_or_default();
        let mut first = Vec::new();
        let mut deep = Vec::new();
        let mut filtered = Vec::new();
        let mut open = Vec::new();
        let middle = (n / 2) as u64;
        for _ in 0..5 {
            let ((st, len), d) = timed(get(addr, "/api/v1/messages?limit=50")).await;
            assert!(st == 200 && len > 1000);
            first.push(d);
            let ((st, _), d) = timed(get(addr, &format!("/api/v1/messages?limit=50&before={middle}"))).await;
            assert_eq!(st, 200);
            deep.push(d);
            let ((st, _), d) = timed(get(addr, "/api/v1/messages?subject=no-such-subject&limit=50")).await;
            assert_eq!(st, 200);
            filtered.push(d);
            let ((st, _), d) = timed(get(addr, &format!("/api/v1/messages/{middle}"))).await;
            assert_eq!(st, 200);
            open.push(d);
        }

        // Waiters, each on its own connection, all woken by one delivery.
        let mut tasks = Vec::new();
        // Connected one after the other (a thousand SYNs at once overflow the accept queue).
        for _ in 0..waiters {
            let s = ask(addr, "/api/v1/messages/wait?subject=needle&timeout=60s").await;
            tasks.push(tokio::spawn(answer(s)));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_waiting = rss_kib();
        let t = Instant::now();
        store
            .deliver("alice", &b"Subject: needle\r\n\r\nfound\r\n"[..])
            .await
            .expect("deliver");
        for task in tasks {
            let (st, _) = task.await.expect("waiter");
            assert_eq!(st, 200);
        }
        let woken = t.elapsed();

        println!("\nHTTP API, {n} messages of 2 KiB in the memory store, best of 5 over HTTP:");
        println!("  stored by Store::deliver      {:>10.0} messages/s (in process; Mailpit publishes 70-100/s over SMTP)", n as f64 / stored.as_secs_f64());
        println!("  index built at start          {:>10.1} ms ({:.0} messages/s)", index_time.as_secs_f64() * 1e3, n as f64 / index_time.as_secs_f64());
        println!("  index memory                  {:>10.0} B/message", (rss_index.saturating_sub(rss_store) * 1024) as f64 / n as f64);
        println!("  store memory                  {:>10.0} B/message", (rss_store.saturating_sub(rss0) * 1024) as f64 / n as f64);
        println!("  first page (50)               {:>10.2} ms", best(first).as_secs_f64() * 1e3);
        println!("  page at the middle (before=)  {:>10.2} ms", best(deep).as_secs_f64() * 1e3);
        println!("  filter matching nothing       {:>10.2} ms (a scan of all {n})", best(filtered).as_secs_f64() * 1e3);
        println!("  open one (parsed)             {:>10.2} ms", best(open).as_secs_f64() * 1e3);
        println!("  {waiters} waiters woken by one delivery: all answered in {:.1} ms; {:.1} KiB per waiting connection",
            woken.as_secs_f64() * 1e3,
            rss_waiting.saturating_sub(rss_index) as f64 / waiters as f64);
    });
}
