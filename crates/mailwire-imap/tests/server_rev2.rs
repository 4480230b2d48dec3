//! IMAP4rev2 (RFC 9051) after `ENABLE IMAP4rev2`, LIST-STATUS (RFC 5819) and LIST-EXTENDED's
//! RECURSIVEMATCH with CHILDINFO (RFC 5258 §3.5), over the wire.

use std::net::SocketAddr;

use mailwire_store::Store;
use tokio::sync::watch;

#[path = "common/wire.rs"]
mod wire;
use wire::Client;

/// alice with three messages in INBOX, the first one `\Seen`.
async fn server() -> (SocketAddr, watch::Sender<bool>) {
    let store = Store::memory();
    let (addr, stop) = wire::serve(wire::insecure(), store.clone()).await;
    for i in 1..=3 {
        let m = format!("Subject: m{i}\r\n\r\nbody {i}\r\n");
        store
            .deliver("alice@example.com", m.into_bytes())
            .await
            .unwrap();
    }
    let mut c = Client::login(addr, "alice", "secret").await;
    ok(&c.cmd("s", "SELECT INBOX").await, "s");
    ok(&c.cmd("f", "STORE 1 +FLAGS (\\Seen)").await, "f");
    ok(&c.cmd("z", "LOGOUT").await, "z");
    (addr, stop)
}

fn ok(r: &[String], tag: &str) {
    assert!(
        r.last().unwrap().starts_with(&format!("{tag} OK")),
        "{tag} failed: {r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enable_imap4rev2_switches_to_the_rev2_forms() {
    let (addr, _stop) = server().await;
    let mut c = Client::login(addr, "alice", "secret").await;
    let r = c.cmd("c", "CAPABILITY").await;
    assert!(
        r[0].contains(" IMAP4rev1 ")
            && r[0].contains(" IMAP4rev2 ")
            && r[0].contains("LIST-STATUS"),
        "{r:?}"
    );
    // Before ENABLE: the IMAP4rev1 forms.
    let r = c.cmd("a", "EXAMINE INBOX").await;
    assert!(r.iter().any(|l| l == "* 0 RECENT\r\n"), "{r:?}");
    assert!(r.iter().any(|l| l.starts_with("* OK [UNSEEN 2]")), "{r:?}");
    let r = c.cmd("b", "SEARCH UNSEEN").await;
    assert_eq!(r[0], "* SEARCH 2 3\r\n", "{r:?}");
    ok(&c.cmd("u", "UNSELECT").await, "u");

    let r = c.cmd("e", "ENABLE IMAP4rev2").await;
    assert_eq!(r[0], "* ENABLED IMAP4rev2\r\n", "{r:?}");
    ok(&r, "e");
    let r = c.cmd("d", "SELECT INBOX").await;
    ok(&r, "d");
    // §6.3.2: no RECENT, no UNSEEN; an untagged LIST of the mailbox.
    assert!(
        !r.iter()
            .any(|l| l.contains("RECENT") || l.contains("UNSEEN")),
        "{r:?}"
    );
    assert!(
        r.iter()
            .any(|l| l.starts_with("* LIST (\\HasNoChildren") && l.ends_with(" \"/\" INBOX\r\n")),
        "{r:?}"
    );
    assert!(r.iter().any(|l| l == "* 3 EXISTS\r\n"), "{r:?}");
    // §6.4.4: ESEARCH for every SEARCH, an empty result included.
    let r = c.cmd("f", "SEARCH UNSEEN").await;
    assert_eq!(r[0], "* ESEARCH (TAG \"f\") ALL 2:3\r\n", "{r:?}");
    let r = c.cmd("g", "UID SEARCH DELETED").await;
    assert_eq!(r[0], "* ESEARCH (TAG \"g\") UID\r\n", "{r:?}");
    // UTF-8 mailbox names, no modified UTF-7 (§5.1).
    ok(&c.cmd("h", "CREATE \"Entwürfe\"").await, "h");
    let r = c.cmd("i", "LIST \"\" \"Entw*\"").await;
    assert_eq!(
        r[0], "* LIST (\\HasNoChildren) \"/\" \"Entwürfe\"\r\n",
        "{r:?}"
    );

    // Appendix E.21: UID in every unsolicited FETCH.
    let mut b = Client::login(addr, "alice", "secret").await;
    ok(&b.cmd("s", "SELECT INBOX").await, "s");
    ok(&b.cmd("f", "STORE 3 +FLAGS (\\Flagged)").await, "f");
    let r = c.cmd("n", "NOOP").await;
    assert!(
        r.iter()
            .any(|l| l == "* 3 FETCH (UID 3 FLAGS (\\Flagged))\r\n"),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_status_follows_each_selectable_mailbox_with_its_status() {
    let (addr, _stop) = server().await;
    let mut c = Client::login(addr, "alice", "secret").await;
    ok(&c.cmd("a", "CREATE Work/2026").await, "a");
    let r = c
        .cmd(
            "l",
            "LIST \"\" \"*\" RETURN (STATUS (MESSAGES UNSEEN UIDNEXT))",
        )
        .await;
    ok(&r, "l");
    let inbox = r.iter().position(|l| l.ends_with(" INBOX\r\n")).unwrap();
    assert_eq!(
        r[inbox + 1],
        "* STATUS INBOX (MESSAGES 3 UNSEEN 2 UIDNEXT 4)\r\n",
        "{r:?}"
    );
    let leaf = r
        .iter()
        .position(|l| l.ends_with(" Work/2026\r\n"))
        .unwrap();
    assert_eq!(
        r[leaf + 1],
        "* STATUS Work/2026 (MESSAGES 0 UNSEEN 0 UIDNEXT 1)\r\n",
        "{r:?}"
    );
    // Work exists only as a parent: \NonExistent, and no STATUS (RFC 5819 §2).
    let parent = r.iter().position(|l| l.ends_with(" Work\r\n")).unwrap();
    assert!(r[parent].contains("\\NonExistent"), "{r:?}");
    assert!(!r[parent + 1].starts_with("* STATUS Work "), "{r:?}");
    let statuses = r.iter().filter(|l| l.starts_with("* STATUS")).count();
    let lists = r.iter().filter(|l| l.starts_with("* LIST")).count();
    assert_eq!(statuses + 1, lists, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursivematch_reports_parents_of_subscribed_children_with_childinfo() {
    let (addr, _stop) = server().await;
    let mut c = Client::login(addr, "alice", "secret").await;
    for m in ["Foo", "Foo/Bar", "Foo/Baz", "Moo"] {
        ok(&c.cmd("c", &format!("CREATE {m}")).await, "c");
    }
    ok(&c.cmd("u", "UNSUBSCRIBE INBOX").await, "u");
    ok(&c.cmd("s", "SUBSCRIBE Foo/Baz").await, "s");
    // RFC 5258 §5 example 8 A (with CHILDREN, as the default return options here include
    // it; the tag `CHILDINFO` is an astring, sent as an atom).
    let r = c.cmd("a", "LIST (SUBSCRIBED) \"\" \"*\"").await;
    let lists: Vec<&String> = r.iter().filter(|l| l.starts_with("* LIST")).collect();
    assert_eq!(lists.len(), 1, "{r:?}");
    assert!(
        lists[0].contains("\\Subscribed") && lists[0].ends_with(" Foo/Baz\r\n"),
        "{r:?}"
    );
    let r = c.cmd("b", "LIST (SUBSCRIBED) \"\" \"%\"").await;
    assert_eq!(r.len(), 1, "{r:?}");
    let r = c
        .cmd("c", "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\"")
        .await;
    assert_eq!(
        r[0], "* LIST (\\HasChildren) \"/\" Foo (CHILDINFO (\"SUBSCRIBED\"))\r\n",
        "{r:?}"
    );
    assert_eq!(r.len(), 2, "{r:?}");
    // A1: the parent subscribed too.
    ok(&c.cmd("s2", "SUBSCRIBE Foo").await, "s2");
    let r = c
        .cmd("d", "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\"")
        .await;
    assert_eq!(
        r[0], "* LIST (\\HasChildren \\Subscribed) \"/\" Foo (CHILDINFO (\"SUBSCRIBED\"))\r\n",
        "{r:?}"
    );
    // With "*" the child is listed itself: no redundant CHILDINFO.
    let r = c
        .cmd("e", "LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"*\"")
        .await;
    assert!(!r.iter().any(|l| l.contains("CHILDINFO")), "{r:?}");
    assert_eq!(r.len(), 3, "{r:?}");
}
