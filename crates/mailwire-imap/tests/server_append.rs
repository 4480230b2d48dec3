//! MULTIAPPEND (RFC 3502) over the wire: several messages in one APPEND get one APPENDUID;
//! when one of them fails, none of them stays.

use mailwire_store::{Quota, Store, StoreOptions};

#[path = "common/wire.rs"]
mod wire;
use wire::Client;

fn lit(m: &str) -> String {
    format!("{{{}+}}\r\n{m}", m.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiappend_is_all_or_nothing() {
    let store = Store::memory_with(StoreOptions::default().quota(Quota {
        storage: None,
        messages: Some(4),
    }));
    let (addr, _stop) = wire::serve(wire::insecure(), store.clone()).await;
    let mut c = Client::login(addr, "alice", "secret").await;
    let (a, b, d) = (
        "Subject: a\r\n\r\na\r\n",
        "Subject: b\r\n\r\nb\r\n",
        "Subject: d\r\n\r\nd\r\n",
    );
    let r = c
        .cmd(
            "a1",
            &format!("APPEND Drafts (\\Seen) {} {}", lit(a), lit(b)),
        )
        .await;
    let last = r.last().unwrap();
    assert!(
        last.starts_with("a1 OK [APPENDUID ") && last.contains(" 1:2]"),
        "{r:?}"
    );
    // Three more would make five: the third fails, and the first two are taken back.
    let r = c
        .cmd(
            "a2",
            &format!("APPEND Drafts {} {} {}", lit(a), lit(b), lit(d)),
        )
        .await;
    assert!(r.last().unwrap().starts_with("a2 NO [OVERQUOTA]"), "{r:?}");
    let r = c.cmd("s", "STATUS Drafts (MESSAGES UIDNEXT)").await;
    // UIDs 3 and 4 were used and are never given again.
    assert_eq!(r[0], "* STATUS Drafts (MESSAGES 2 UIDNEXT 5)\r\n", "{r:?}");
    let r = c
        .cmd("a3", &format!("APPEND Drafts {} {}", lit(d), lit(a)))
        .await;
    let last = r.last().unwrap();
    assert!(last.contains(" 5:6]"), "{r:?}");
    let r = c.cmd("x", "EXAMINE Drafts").await;
    assert!(r.iter().any(|l| l == "* 4 EXISTS\r\n"), "{r:?}");
    let r = c
        .cmd("f", "FETCH 1:* (FLAGS BODY[HEADER.FIELDS (SUBJECT)])")
        .await;
    let subjects: Vec<&String> = r.iter().filter(|l| l.starts_with("Subject:")).collect();
    assert_eq!(
        subjects,
        [
            "Subject: a\r\n",
            "Subject: b\r\n",
            "Subject: d\r\n",
            "Subject: a\r\n"
        ],
        "{r:?}"
    );
}
