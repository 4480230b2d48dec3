//! SORT and THREAD (RFC 5256) over the wire: every key, REVERSE, UID SORT with search keys,
//! ORDEREDSUBJECT and REFERENCES on a small discussion, charsets and errors.

use std::net::SocketAddr;

use mailwire_store::Store;
use tokio::sync::watch;

#[path = "common/wire.rs"]
mod wire;
use wire::Client;

/// (From, Subject, Date, Message-ID, References, size padding)
const MESSAGES: &[(&str, &str, &str, &str, &str, usize)] = &[
    (
        "carol@c.example",
        "Lunch",
        "Mon, 1 Jun 2026 10:00:00 +0000",
        "<1@x>",
        "",
        300,
    ),
    (
        "alice@a.example",
        "Re: Lunch",
        "Mon, 1 Jun 2026 11:00:00 +0000",
        "<2@x>",
        "<1@x>",
        10,
    ),
    (
        "bob@b.example",
        "Budget",
        "Sun, 31 May 2026 09:00:00 +0000",
        "<3@x>",
        "",
        50,
    ),
    (
        "dave@d.example",
        "RE: lunch",
        "Mon, 1 Jun 2026 12:30:00 +0200",
        "<4@x>",
        "<1@x> <2@x>",
        0,
    ),
    (
        "alice@a.example",
        "Fwd: Budget",
        "Tue, 2 Jun 2026 08:00:00 +0000",
        "<5@x>",
        "",
        100,
    ),
    (
        "bob@b.example",
        "Re: Lunch",
        "Mon, 1 Jun 2026 13:00:00 +0000",
        "<6@x>",
        "<1@x>",
        20,
    ),
];

async fn server() -> (SocketAddr, watch::Sender<bool>) {
    let store = Store::memory();
    let (addr, stop) = wire::serve(wire::insecure(), store.clone()).await;
    for (from, subject, date, id, refs, pad) in MESSAGES {
        let mut m =
            format!("From: {from}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: {id}\r\n");
        if !refs.is_empty() {
            m.push_str(&format!("References: {refs}\r\n"));
        }
        m.push_str(&format!("\r\n{}\r\n", "x".repeat(*pad)));
        store
            .deliver("alice@example.com", m.into_bytes())
            .await
            .unwrap();
    }
    (addr, stop)
}

async fn one(c: &mut Client, tag: &str, cmd: &str) -> String {
    let r = c.cmd(tag, cmd).await;
    assert!(r.last().unwrap().starts_with(&format!("{tag} OK")), "{r:?}");
    assert_eq!(r.len(), 2, "{r:?}");
    r[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sort_by_every_key_and_reverse() {
    let (addr, _stop) = server().await;
    let mut c = Client::login(addr, "alice", "secret").await;
    let r = c.cmd("c", "CAPABILITY").await;
    assert!(
        r[0].contains(" SORT ")
            && r[0].contains(" THREAD=ORDEREDSUBJECT")
            && r[0].contains(" THREAD=REFERENCES"),
        "{r:?}"
    );
    let r = c.cmd("s", "SELECT INBOX").await;
    assert!(r.last().unwrap().starts_with("s OK"), "{r:?}");
    // Base subjects: Budget (3, 5), Lunch (1, 2, 4, 6); ties by sequence number.
    assert_eq!(
        one(&mut c, "a", "SORT (SUBJECT) UTF-8 ALL").await,
        "* SORT 3 5 1 2 4 6\r\n"
    );
    // Sent dates in UTC: 3 (May 31), 1 10:00, 4 10:30, 2 11:00, 6 13:00, 5 (Jun 2).
    assert_eq!(
        one(&mut c, "b", "SORT (DATE) UTF-8 ALL").await,
        "* SORT 3 1 4 2 6 5\r\n"
    );
    assert_eq!(
        one(&mut c, "d", "SORT (REVERSE DATE) UTF-8 ALL").await,
        "* SORT 5 6 2 4 1 3\r\n"
    );
    // FROM compares the mailbox (local part): alice, alice, bob, bob, carol, dave.
    assert_eq!(
        one(&mut c, "e", "SORT (FROM REVERSE SIZE) US-ASCII ALL").await,
        "* SORT 5 2 3 6 1 4\r\n"
    );
    assert_eq!(
        one(&mut c, "f", "SORT (SIZE) UTF-8 ALL").await,
        "* SORT 4 2 6 3 5 1\r\n"
    );
    // The six arrived within one second: equal keys keep mailbox order, REVERSE or not
    // (§3: REVERSE reverses the key, ties stay by sequence number).
    assert_eq!(
        one(&mut c, "g", "SORT (REVERSE ARRIVAL) UTF-8 ALL").await,
        "* SORT 1 2 3 4 5 6\r\n"
    );
    let m = "Subject: old\r\n\r\nx\r\n";
    let r = c
        .cmd(
            "g2",
            &format!(
                "APPEND INBOX \"01-Jan-2020 00:00:00 +0000\" {{{}+}}\r\n{m}",
                m.len()
            ),
        )
        .await;
    assert!(r.last().unwrap().starts_with("g2 OK"), "{r:?}");
    assert!(r.iter().any(|l| l == "* 7 EXISTS\r\n"), "{r:?}");
    assert_eq!(
        one(&mut c, "g4", "SORT (ARRIVAL) UTF-8 ALL").await,
        "* SORT 7 1 2 3 4 5 6\r\n"
    );
    assert_eq!(
        one(&mut c, "g5", "SORT (REVERSE ARRIVAL) UTF-8 ALL").await,
        "* SORT 1 2 3 4 5 6 7\r\n"
    );
    // UID SORT with search keys answers UIDs (here equal to the sequence numbers).
    assert_eq!(
        one(&mut c, "h", "UID SORT (SUBJECT DATE) UTF-8 FROM alice").await,
        "* SORT 5 2\r\n"
    );
    assert_eq!(
        one(
            &mut c,
            "i",
            "SORT (SUBJECT) UTF-8 SUBJECT nothing-like-this"
        )
        .await,
        "* SORT\r\n"
    );
    let r = c.cmd("j", "SORT (SUBJECT) KOI8-R ALL").await;
    assert!(r[0].starts_with("j NO [BADCHARSET"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thread_by_references_and_ordered_subject() {
    let (addr, _stop) = server().await;
    let mut c = Client::login(addr, "alice", "secret").await;
    let r = c.cmd("s", "SELECT INBOX").await;
    assert!(r.last().unwrap().starts_with("s OK"), "{r:?}");
    // REFERENCES: 1 has the replies 2 and 6 (by References), 4 is a reply to 2; 3 and 5
    // share the base subject "Budget" and are gathered (§4 step 5). Threads by the date of
    // their first message: Budget (May 31) before Lunch.
    assert_eq!(
        one(&mut c, "a", "THREAD REFERENCES UTF-8 ALL").await,
        "* THREAD (3 5)(1 (2 4)(6))\r\n"
    );
    // ORDEREDSUBJECT: by base subject, then date; the first message is the parent of the rest.
    assert_eq!(
        one(&mut c, "b", "THREAD ORDEREDSUBJECT UTF-8 ALL").await,
        "* THREAD (3 5)(1 (4)(2)(6))\r\n"
    );
    assert_eq!(
        one(&mut c, "d", "UID THREAD REFERENCES UTF-8 NOT FROM dave").await,
        "* THREAD (3 5)(1 (2)(6))\r\n"
    );
    let r = c.cmd("e", "THREAD XYZZY UTF-8 ALL").await;
    assert!(r[0].starts_with("e BAD"), "{r:?}");
}
