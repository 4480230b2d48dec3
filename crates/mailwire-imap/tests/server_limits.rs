//! The IMAP server's connection limits over the wire: the short idle time before login, the
//! delay after a failed login, sessions per user and connections per client address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailwire_imap::proto::server::{ServerConfig, ServerSession, State};
use mailwire_imap::server::ServerOptions;
use mailwire_store::Store;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

#[path = "common/wire.rs"]
mod wire;
use wire::Client;

async fn server(options: ServerOptions) -> (SocketAddr, watch::Sender<bool>) {
    wire::serve(options, Store::memory()).await
}

fn options() -> ServerOptions {
    wire::insecure()
}

#[test]
fn the_session_asks_for_a_short_idle_time_only_before_login() {
    let auth = mailwire_sasl::StaticAuthenticator::new().with_user("alice", "secret");
    let config = ServerConfig {
        login_timeout: Duration::from_secs(7),
        allow_insecure_auth: true,
        ..ServerConfig::default()
    };
    let mut s = ServerSession::new(config, Arc::new(auth), false);
    assert_eq!(s.state(), State::NotAuthenticated);
    assert_eq!(s.idle_timeout(), Some(Duration::from_secs(7)));
    s.handle_input(b"a LOGIN alice secret\r\n");
    while let Some(ev) = s.poll_event() {
        if let mailwire_imap::proto::server::Event::Request(_) = ev {
            s.answer(Ok(mailwire_imap::proto::server::Answer::Done));
        }
    }
    assert_eq!(s.state(), State::Authenticated);
    assert_eq!(
        s.idle_timeout(),
        None,
        "the driver's 30-minute autologout counts"
    );
}

#[tokio::test]
async fn an_idle_connection_is_closed_before_login_but_not_after() {
    let mut o = options();
    o.session.login_timeout = Duration::from_millis(500);
    let (addr, _stop) = server(o).await;
    let (mut idle, _) = Client::connect(addr).await;
    let (mut logged_in, _) = Client::connect(addr).await;
    let r = logged_in.cmd("a", "LOGIN alice secret").await;
    assert!(r.last().unwrap().starts_with("a OK"), "{r:?}");
    let bye = idle.line().await;
    assert!(bye.starts_with("* BYE"), "{bye}");
    assert_eq!(idle.line().await, "", "closed after BYE");
    // The logged-in one is still served.
    let r = logged_in.cmd("b", "NOOP").await;
    assert!(r.last().unwrap().starts_with("b OK"), "{r:?}");
}

#[tokio::test]
async fn a_failed_login_waits_before_its_no() {
    let mut o = options();
    o.session.auth_failure_delay = Duration::from_millis(400);
    let (addr, _stop) = server(o).await;
    let (mut c, _) = Client::connect(addr).await;
    let t = Instant::now();
    let r = c.cmd("a", "LOGIN alice wrong").await;
    assert!(
        r.last().unwrap().starts_with("a NO [AUTHENTICATIONFAILED]"),
        "{r:?}"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );
    // A right password is not delayed by the setting.
    let r = c.cmd("b", "LOGIN alice secret").await;
    assert!(r.last().unwrap().starts_with("b OK"), "{r:?}");
}

#[tokio::test]
async fn sessions_per_user_are_limited_and_counted_down_at_logout() {
    let mut o = options();
    o.max_sessions_per_user = 2;
    let (addr, _stop) = server(o).await;
    let mut clients = Vec::new();
    for i in 0..2 {
        let (mut c, _) = Client::connect(addr).await;
        let r = c.cmd("a", "LOGIN alice secret").await;
        assert!(r.last().unwrap().starts_with("a OK"), "{i}: {r:?}");
        clients.push(c);
    }
    let (mut third, _) = Client::connect(addr).await;
    let r = third.cmd("a", "LOGIN alice secret").await;
    assert!(r.last().unwrap().starts_with("a NO [LIMIT]"), "{r:?}");
    // The refused session is still not logged in and may try again later.
    let r = clients[0].cmd("z", "LOGOUT").await;
    assert!(r.last().unwrap().starts_with("z OK"), "{r:?}");
    drop(clients.remove(0));
    let mut ok = false;
    for n in 0..50 {
        let r = third.cmd(&format!("b{n}"), "LOGIN alice secret").await;
        if r.last().unwrap().contains(" OK ") {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "a slot came free when a session logged out");
}

#[tokio::test]
async fn connections_per_address_are_limited() {
    let mut o = options();
    o.max_connections_per_address = 1;
    let (addr, _stop) = server(o).await;
    let (_first, greeting) = Client::connect(addr).await;
    assert!(greeting.starts_with("* OK"), "{greeting}");
    let (_second, busy) = Client::connect(addr).await;
    assert!(busy.starts_with("* BYE [UNAVAILABLE]"), "{busy}");
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// A stream of oversized literals, synchronising (refused instead of `+`) and
/// non-synchronising (refused, their octets skipped unbuffered), leaves the resident memory
/// flat: nothing of them is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rss_stays_flat_under_a_stream_of_oversized_literals() {
    let mut o = options();
    o.session.max_literal_len = 64 * 1024;
    o.session.max_bad_commands = u32::MAX;
    let (addr, _stop) = server(o).await;
    let (mut c, _) = Client::connect(addr).await;
    let r = c.cmd("a", "LOGIN alice secret").await;
    assert!(r.last().unwrap().starts_with("a OK"), "{r:?}");
    oversized(&mut c, 20).await;
    let before = rss_kib();
    oversized(&mut c, 200).await;
    let after = rss_kib();
    // 200 × (1 GiB announced + 4 MiB sent) went by; a few MiB of allocator noise is all
    // that may stay.
    assert!(
        after < before + 16 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    let r = c.cmd("z", "NOOP").await;
    assert!(r.last().unwrap().starts_with("z OK"), "{r:?}");
}

/// `n` rounds of one oversized synchronising literal (NO instead of "+") and one oversized
/// non-synchronising literal (refused, its 4 MiB sent and skipped).
async fn oversized(c: &mut Client, n: usize) {
    let chunk = vec![b'x'; 1 << 20];
    for i in 0..n {
        let r = c.cmd(&format!("s{i}"), "APPEND INBOX {1073741824}").await;
        // Refused (NO [TOOBIG], or BAD: over the whole-command limit too), never "+".
        assert!(
            r.len() == 1
                && (r[0].starts_with(&format!("s{i} NO"))
                    || r[0].starts_with(&format!("s{i} BAD"))),
            "{r:?}"
        );
        c.w.write_all(format!("n{i} APPEND INBOX {{{}+}}\r\n", 4 << 20).as_bytes())
            .await
            .unwrap();
        for _ in 0..4 {
            c.w.write_all(&chunk).await.unwrap();
        }
        c.w.write_all(b"\r\n").await.unwrap();
        loop {
            let l = c.line().await;
            assert!(!l.is_empty(), "closed");
            if l.starts_with(&format!("n{i} ")) {
                assert!(l.starts_with(&format!("n{i} BAD")), "{l}");
                break;
            }
        }
    }
}

/// 10 000 nested parentheses, 300 times over the wire: each gets BAD (nesting over the
/// limit), the session goes on, and the server's memory does not grow with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rss_stays_flat_under_deeply_nested_commands() {
    let mut o = options();
    o.session.max_bad_commands = u32::MAX;
    let (addr, _stop) = server(o).await;
    let (mut c, _) = Client::connect(addr).await;
    let r = c.cmd("a", "LOGIN alice secret").await;
    assert!(r.last().unwrap().starts_with("a OK"), "{r:?}");
    let r = c.cmd("s", "SELECT INBOX").await;
    assert!(r.last().unwrap().starts_with("s OK"), "{r:?}");
    let deep = format!("SEARCH {}ALL{}", "(".repeat(10_000), ")".repeat(10_000));
    for i in 0..30 {
        let r = c.cmd(&format!("w{i}"), &deep).await;
        assert!(r.last().unwrap().starts_with(&format!("w{i} BAD")), "{r:?}");
    }
    let before = rss_kib();
    for i in 0..300 {
        let r = c.cmd(&format!("d{i}"), &deep).await;
        assert!(r.last().unwrap().starts_with(&format!("d{i} BAD")), "{r:?}");
    }
    let after = rss_kib();
    assert!(
        after < before + 8 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    let r = c.cmd("z", "NOOP").await;
    assert!(r.last().unwrap().starts_with("z OK"), "{r:?}");
}
