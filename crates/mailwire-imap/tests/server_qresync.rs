//! QRESYNC (RFC 7162 §3.2) over the wire: `SELECT … (QRESYNC …)` with VANISHED (EARLIER) and
//! the changed FLAGS, known UIDs, sequence match data when the history is forgotten, VANISHED
//! instead of EXPUNGE, and `UID FETCH … (CHANGEDSINCE n VANISHED)`.

use std::net::SocketAddr;

use mailwire_store::{Store, StoreOptions};
use tokio::sync::watch;

#[path = "common/wire.rs"]
mod wire;
use wire::Client;

/// A server whose alice has six messages (UIDs 1–6) in INBOX.
async fn server(store: Store) -> (SocketAddr, watch::Sender<bool>) {
    let (addr, stop) = wire::serve(wire::insecure(), store.clone()).await;
    for i in 1..=6 {
        let m = format!("Subject: m{i}\r\nMessage-ID: <{i}@x>\r\n\r\nbody {i}\r\n");
        store
            .deliver("alice@example.com", m.into_bytes())
            .await
            .expect("delivered");
    }
    (addr, stop)
}

/// The number in `[NAME n]` among `lines`.
fn code(lines: &[String], name: &str) -> u64 {
    let pat = format!("[{name} ");
    let l = lines
        .iter()
        .find(|l| l.contains(&pat))
        .unwrap_or_else(|| panic!("no {name} in {lines:?}"));
    let rest = &l[l.find(&pat).unwrap() + pat.len()..];
    rest[..rest.find(']').unwrap()].parse().unwrap()
}

fn ok(r: &[String], tag: &str) {
    assert!(
        r.last().unwrap().starts_with(&format!("{tag} OK")),
        "{tag} failed: {r:?}"
    );
}

/// Logs in, enables QRESYNC and checks the ENABLED answer.
async fn qresync_client(addr: SocketAddr) -> Client {
    let mut c = Client::login(addr, "alice", "secret").await;
    let r = c.cmd("e", "ENABLE QRESYNC").await;
    assert_eq!(r[0], "* ENABLED QRESYNC\r\n", "{r:?}");
    ok(&r, "e");
    c
}

/// Flags UID 2, expunges UIDs 3 and 5 from another session; returns (UIDVALIDITY, the
/// HIGHESTMODSEQ before).
async fn change(addr: SocketAddr) -> (u64, u64) {
    let mut b = Client::login(addr, "alice", "secret").await;
    let r = b.cmd("s", "SELECT INBOX").await;
    ok(&r, "s");
    let (v, m) = (code(&r, "UIDVALIDITY"), code(&r, "HIGHESTMODSEQ"));
    ok(&b.cmd("f", "UID STORE 2 +FLAGS (\\Flagged)").await, "f");
    ok(&b.cmd("d", "UID STORE 3,5 +FLAGS (\\Deleted)").await, "d");
    ok(&b.cmd("x", "EXPUNGE").await, "x");
    ok(&b.cmd("z", "LOGOUT").await, "z");
    (v, m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_with_qresync_sends_vanished_earlier_and_the_changed_flags() {
    let (addr, _stop) = server(Store::memory()).await;
    let (v, m) = change(addr).await;
    let mut c = qresync_client(addr).await;
    let r = c
        .cmd("a", &format!("SELECT INBOX (QRESYNC ({v} {m}))"))
        .await;
    ok(&r, "a");
    assert!(r.iter().any(|l| l == "* 4 EXISTS\r\n"), "{r:?}");
    let vanished: Vec<&String> = r.iter().filter(|l| l.contains("VANISHED")).collect();
    assert_eq!(vanished, ["* VANISHED (EARLIER) 3,5\r\n"], "{r:?}");
    let fetches: Vec<&String> = r.iter().filter(|l| l.contains("FETCH")).collect();
    assert_eq!(fetches.len(), 1, "{r:?}");
    assert!(
        fetches[0].starts_with("* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ ("),
        "{r:?}"
    );
    // RFC 7162 §3.2.5.1: the changes come after the untagged SELECT data, before the OK.
    let vix = r.iter().position(|l| l.contains("VANISHED")).unwrap();
    let hix = r.iter().position(|l| l.contains("HIGHESTMODSEQ")).unwrap();
    assert!(hix < vix, "{r:?}");

    // Known UIDs narrow what is reported.
    let r = c
        .cmd("b", &format!("EXAMINE INBOX (QRESYNC ({v} {m} 1,4:6))"))
        .await;
    ok(&r, "b");
    assert!(r[0].starts_with("* OK [CLOSED]"), "{r:?}");
    assert!(r.iter().any(|l| l == "* VANISHED (EARLIER) 5\r\n"), "{r:?}");
    assert!(!r.iter().any(|l| l.contains("FETCH")), "{r:?}");

    // Nothing changed since the current HIGHESTMODSEQ.
    let now = code(&r, "HIGHESTMODSEQ");
    let r = c
        .cmd("c", &format!("SELECT INBOX (QRESYNC ({v} {now}))"))
        .await;
    ok(&r, "c");
    assert!(
        !r.iter()
            .any(|l| l.contains("VANISHED") || l.contains("FETCH")),
        "{r:?}"
    );

    // Another UIDVALIDITY: the parameters are ignored (§3.2.5).
    let r = c
        .cmd("d", &format!("SELECT INBOX (QRESYNC ({} {m}))", v + 1))
        .await;
    ok(&r, "d");
    assert!(
        !r.iter()
            .any(|l| l.contains("VANISHED") || l.contains("FETCH")),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qresync_parameters_and_vanished_need_enable() {
    let (addr, _stop) = server(Store::memory()).await;
    let mut c = Client::login(addr, "alice", "secret").await;
    let r = c.cmd("a", "SELECT INBOX (QRESYNC (1 1))").await;
    assert!(r.last().unwrap().starts_with("a BAD"), "{r:?}");
    ok(&c.cmd("b", "SELECT INBOX").await, "b");
    let r = c
        .cmd("c", "UID FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)")
        .await;
    assert!(r.last().unwrap().starts_with("c BAD"), "{r:?}");
    ok(&c.cmd("u", "UNSELECT").await, "u");
    let r = c.cmd("e", "ENABLE QRESYNC").await;
    ok(&r, "e");
    ok(&c.cmd("s", "SELECT INBOX").await, "s");
    // §3.2.6: UID FETCH only, and with CHANGEDSINCE.
    let r = c
        .cmd("f", "FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)")
        .await;
    assert!(r.last().unwrap().starts_with("f BAD"), "{r:?}");
    let r = c.cmd("g", "UID FETCH 1:* FLAGS (VANISHED)").await;
    assert!(r.last().unwrap().starts_with("g BAD"), "{r:?}");
    // A bad parameter leaves nothing selected.
    let r = c.cmd("h", "SELECT INBOX (QRESYNC (0 1))").await;
    assert!(r.last().unwrap().starts_with("h BAD"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uid_fetch_changedsince_vanished_reports_the_expunged_uids_of_the_set() {
    let (addr, _stop) = server(Store::memory()).await;
    let mut c = qresync_client(addr).await;
    let r = c.cmd("s", "SELECT INBOX").await;
    ok(&r, "s");
    let m = code(&r, "HIGHESTMODSEQ");
    // Changes while this session is away from the mailbox.
    ok(&c.cmd("u", "UNSELECT").await, "u");
    change(addr).await;
    ok(&c.cmd("s2", "SELECT INBOX").await, "s2");
    let r = c
        .cmd(
            "f",
            &format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {m} VANISHED)"),
        )
        .await;
    ok(&r, "f");
    assert_eq!(r[0], "* VANISHED (EARLIER) 3,5\r\n", "{r:?}");
    assert!(
        r[1].starts_with("* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ ("),
        "{r:?}"
    );
    assert_eq!(r.len(), 3, "{r:?}");
    // Only the UIDs of the set.
    let r = c
        .cmd(
            "g",
            &format!("UID FETCH 4:6 (FLAGS) (CHANGEDSINCE {m} VANISHED)"),
        )
        .await;
    ok(&r, "g");
    assert_eq!(r[0], "* VANISHED (EARLIER) 5\r\n", "{r:?}");
    assert_eq!(r.len(), 2, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_replaces_expunge_and_unsolicited_fetch_carries_uid_and_modseq() {
    let (addr, _stop) = server(Store::memory()).await;
    let mut a = qresync_client(addr).await;
    ok(&a.cmd("s", "SELECT INBOX").await, "s");
    let mut b = Client::login(addr, "alice", "secret").await;
    ok(&b.cmd("s", "SELECT INBOX").await, "s");
    ok(&b.cmd("f", "STORE 6 +FLAGS (\\Seen)").await, "f");
    ok(&b.cmd("d", "UID STORE 2,4 +FLAGS (\\Deleted)").await, "d");
    let r = b.cmd("x", "EXPUNGE").await;
    ok(&r, "x");
    // The session without QRESYNC gets EXPUNGE.
    assert!(r.contains(&"* 2 EXPUNGE\r\n".to_owned()), "{r:?}");

    let r = a.cmd("n", "NOOP").await;
    ok(&r, "n");
    assert!(!r.iter().any(|l| l.contains("EXPUNGE")), "{r:?}");
    assert!(r.iter().any(|l| l == "* VANISHED 2,4\r\n"), "{r:?}");
    // RFC 7162 §3.2.4: UID and MODSEQ in unsolicited FETCH (after the VANISHED, 6 is now 4;
    // the FETCH may come before the VANISHED with the old number 6).
    assert!(
        r.iter().any(|l| (l.starts_with("* 6 FETCH (UID 6 FLAGS (")
            || l.starts_with("* 4 FETCH (UID 6 FLAGS ("))
            && l.contains("MODSEQ (")),
        "{r:?}"
    );
    // Its own EXPUNGE: VANISHED too.
    ok(&a.cmd("d", "UID STORE 1 +FLAGS (\\Deleted)").await, "d");
    let r = a.cmd("x", "EXPUNGE").await;
    ok(&r, "x");
    assert!(r.iter().any(|l| l == "* VANISHED 1\r\n"), "{r:?}");
    assert!(!r.iter().any(|l| l.contains("EXPUNGE\r\n")), "{r:?}");
    let r = a.cmd("c", "STATUS INBOX (MESSAGES)").await;
    assert!(r[0].contains("MESSAGES 3"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgotten_expunges_are_narrowed_by_the_sequence_match_data() {
    // The store remembers no expunge: VANISHED (EARLIER) lists every missing UID, unless
    // matching sequence numbers show the client knew them (§3.2.5.2).
    let (addr, _stop) = server(Store::memory_with(
        StoreOptions::default().expunge_history(0),
    ))
    .await;
    let mut b = Client::login(addr, "alice", "secret").await;
    let r = b.cmd("s", "SELECT INBOX").await;
    let (v, m) = (code(&r, "UIDVALIDITY"), code(&r, "HIGHESTMODSEQ"));
    ok(&b.cmd("d", "UID STORE 1,5 +FLAGS (\\Deleted)").await, "d");
    ok(&b.cmd("x", "EXPUNGE").await, "x");
    // Now UIDs 2 3 4 6 are messages 1 2 3 4; UIDNEXT is 7.
    let mut c = qresync_client(addr).await;
    let r = c
        .cmd("a", &format!("EXAMINE INBOX (QRESYNC ({v} {m}))"))
        .await;
    ok(&r, "a");
    assert!(
        r.iter().any(|l| l == "* VANISHED (EARLIER) 1,5\r\n"),
        "{r:?}"
    );
    // The client knows message 2 is UID 3 (still true) and message 4 is UID 5 (no longer):
    // nothing at or below UID 3 is reported.
    let r = c
        .cmd(
            "b",
            &format!("EXAMINE INBOX (QRESYNC ({v} {m} 1:6 (2,4 3,5)))"),
        )
        .await;
    ok(&r, "b");
    assert!(r.iter().any(|l| l == "* VANISHED (EARLIER) 5\r\n"), "{r:?}");
}
