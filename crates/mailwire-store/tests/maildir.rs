//! What only the maildir backend has: the on-disk layout, index rebuilds, torn index tails,
//! changes made by other programs, and compaction.

use std::fs;
use std::path::Path;

use mailwire_store::{Change, Flag, FlagOp, Flags, Origin, Store, User};

async fn open(dir: &Path) -> (Store, User) {
    let s = Store::maildir(dir).unwrap();
    let u = s.add_user("alice", "pw").await.unwrap();
    (s, u)
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test]
async fn layout_is_maildir_plus_plus() {
    let d = tempfile::tempdir().unwrap();
    let (store, u) = open(d.path()).await;
    let home = d.path().join("alice");
    for sub in ["cur", "new", "tmp"] {
        assert!(home.join(sub).is_dir());
    }
    for f in [".Sent", ".Drafts", ".Trash", ".Junk", ".Archive"] {
        assert!(home.join(f).join("cur").is_dir(), "{f}");
        assert!(home.join(f).join("maildirfolder").is_file(), "{f}");
    }
    u.create_mailbox("Work/Sub").await.unwrap();
    u.create_mailbox("a.b/Entwürfe").await.unwrap();
    assert!(home.join(".Work.Sub/cur").is_dir());
    assert!(home.join(".a&AC4-b.Entw&APw-rfe/cur").is_dir());

    store
        .deliver("alice", &b"Subject: x\r\n\r\nhi\r\n"[..])
        .await
        .unwrap();
    let new = names(&home.join("new"));
    assert_eq!(new.len(), 1);
    assert!(new[0].ends_with(",S=18,U=1"), "{}", new[0]);
    assert!(names(&home.join("tmp")).is_empty());

    let inbox = u.mailbox("INBOX").await.unwrap();
    let flags = Flags::parse(&[
        "\\Seen",
        "\\Flagged",
        "\\Answered",
        "\\Deleted",
        "\\Draft",
        "$kw",
    ])
    .unwrap();
    inbox
        .store_flags(&[1], FlagOp::Replace, flags, None)
        .await
        .unwrap();
    assert!(names(&home.join("new")).is_empty());
    let cur = names(&home.join("cur"));
    assert_eq!(cur.len(), 1);
    assert!(cur[0].ends_with(":2,DFRST"), "{}", cur[0]);
    inbox
        .store_flags(
            &[1],
            FlagOp::Remove,
            Flags::parse(&["\\Deleted", "\\Draft", "\\Answered"]).unwrap(),
            None,
        )
        .await
        .unwrap();
    assert!(names(&home.join("cur"))[0].ends_with(":2,FS"));
    assert!(home.join("mailwire-index").is_file());
    let file = home.join("cur").join(&names(&home.join("cur"))[0]);
    assert_eq!(fs::read(file).unwrap(), b"Subject: x\r\n\r\nhi\r\n");
}

#[tokio::test]
async fn lost_or_corrupt_index_is_rebuilt_with_a_new_uidvalidity() {
    let d = tempfile::tempdir().unwrap();
    let home = d.path().join("alice");
    let (_, u) = open(d.path()).await;
    let inbox = u.mailbox("INBOX").await.unwrap();
    for i in 0..5 {
        inbox
            .append(
                format!("Subject: {i}\r\n\r\n").into_bytes(),
                Flags::new(),
                None,
            )
            .await
            .unwrap();
    }
    inbox
        .store_flags(&[2], FlagOp::Add, Flags::new().with(Flag::Seen), None)
        .await
        .unwrap();
    let uv = inbox.select().await.unwrap().uidvalidity;

    fs::remove_file(home.join("mailwire-index")).unwrap();
    let (_, u2) = open(d.path()).await;
    let i2 = u2.mailbox("INBOX").await.unwrap();
    let s = i2.select().await.unwrap();
    assert_eq!(s.exists, 5);
    assert_ne!(s.uidvalidity, uv, "a rebuilt index must change UIDVALIDITY");
    let metas = i2.messages().await.unwrap();
    assert_eq!(
        metas.iter().filter(|m| m.flags.is_seen()).count(),
        1,
        "flags come from the file names"
    );
    let subjects: Vec<String> = {
        let mut v = Vec::new();
        for m in &metas {
            v.push(String::from_utf8_lossy(&i2.fetch(m.uid).await.unwrap()).into_owned());
        }
        v
    };
    assert_eq!(
        subjects[0], "Subject: 0\r\n\r\n",
        "rebuilt in delivery order"
    );

    // Garbage instead of an index: same.
    fs::write(home.join("mailwire-index"), b"\0\0garbage\n").unwrap();
    let (_, u3) = open(d.path()).await;
    let s3 = u3.mailbox("INBOX").await.unwrap().select().await.unwrap();
    assert_eq!(s3.exists, 5);
    assert!(s3.uidvalidity > s.uidvalidity);
}

#[tokio::test]
async fn torn_index_tail_is_ignored() {
    let d = tempfile::tempdir().unwrap();
    let home = d.path().join("alice");
    let (_, u) = open(d.path()).await;
    let inbox = u.mailbox("INBOX").await.unwrap();
    for i in 0..3 {
        inbox
            .append(
                format!("Subject: {i}\r\n\r\n").into_bytes(),
                Flags::new(),
                None,
            )
            .await
            .unwrap();
    }
    let before = inbox.select().await.unwrap();
    let idx = home.join("mailwire-index");
    let mut data = fs::read(&idx).unwrap();
    data.extend_from_slice(b"F 1 99 1 - c, something-torn");
    fs::write(&idx, &data).unwrap();
    let (_, u2) = open(d.path()).await;
    let i2 = u2.mailbox("INBOX").await.unwrap();
    let after = i2.select().await.unwrap();
    assert_eq!(after.uidvalidity, before.uidvalidity);
    assert_eq!(after.exists, 3);
    assert!(!i2.message(1).await.unwrap().flags.is_seen());
    // Appends go on after the cut.
    assert_eq!(
        i2.append(&b"x"[..], Flags::new(), None).await.unwrap().uid,
        4
    );
    let (_, u3) = open(d.path()).await;
    assert_eq!(
        u3.mailbox("INBOX")
            .await
            .unwrap()
            .select()
            .await
            .unwrap()
            .exists,
        4
    );
}

#[tokio::test]
async fn changes_by_other_programs_are_noticed() {
    let d = tempfile::tempdir().unwrap();
    let home = d.path().join("alice");
    let (_, u) = open(d.path()).await;
    let inbox = u.mailbox("INBOX").await.unwrap();
    inbox
        .append(&b"Subject: ours\r\n\r\n"[..], Flags::new(), None)
        .await
        .unwrap();
    let mut rx = inbox.subscribe().await.unwrap();

    // A delivery agent drops a file into new/.
    fs::write(
        home.join("tmp/1700000000.X1.other"),
        b"Subject: theirs\r\n\r\n",
    )
    .unwrap();
    fs::rename(
        home.join("tmp/1700000000.X1.other"),
        home.join("new/1700000000.X1.other"),
    )
    .unwrap();
    let s = inbox.select().await.unwrap();
    assert_eq!(s.exists, 2);
    assert_eq!(
        inbox.fetch(2).await.unwrap(),
        &b"Subject: theirs\r\n\r\n"[..]
    );
    let e = rx.recv().await.unwrap();
    assert_eq!(e.origin, Origin::EXTERNAL);
    assert_eq!(
        e.change,
        Change::Exists {
            uids: vec![2],
            exists: 2
        }
    );

    // A mail client marks it read and moves it to cur/ (as mutt does).
    fs::rename(
        home.join("new/1700000000.X1.other"),
        home.join("cur/1700000000.X1.other:2,S"),
    )
    .unwrap();
    let m0 = inbox.select().await.unwrap().highest_modseq;
    assert!(inbox.message(2).await.unwrap().flags.is_seen());
    assert!(inbox.message(2).await.unwrap().modseq <= m0);
    assert!(matches!(
        rx.recv().await.unwrap().change,
        Change::FlagsChanged { uid: 2, .. }
    ));

    // ... and deletes our message.
    let ours = names(&home.join("new"));
    fs::remove_file(home.join("new").join(&ours[0])).unwrap();
    let s = inbox.select().await.unwrap();
    assert_eq!(s.exists, 1);
    assert_eq!(
        rx.recv().await.unwrap().change,
        Change::Expunged { uids: vec![1] }
    );
    assert_eq!(inbox.changes_since(m0).await.unwrap().vanished, [1..=1]);
    // Our flag change on a file renamed under us still works.
    inbox
        .store_flags(&[2], FlagOp::Add, Flags::new().with(Flag::Flagged), None)
        .await
        .unwrap();
    assert_eq!(names(&home.join("cur")), ["1700000000.X1.other:2,FS"]);
}

#[tokio::test]
async fn the_index_is_compacted_and_survives() {
    let d = tempfile::tempdir().unwrap();
    let home = d.path().join("alice");
    let (_, u) = open(d.path()).await;
    let inbox = u.mailbox("INBOX").await.unwrap();
    for i in 0..200 {
        inbox
            .append(
                format!("Subject: {i}\r\n\r\n").into_bytes(),
                Flags::new(),
                None,
            )
            .await
            .unwrap();
    }
    let uids: Vec<u32> = (1..=200).collect();
    let mut max_len = 0;
    for round in 0..30 {
        let op = if round % 2 == 0 {
            FlagOp::Add
        } else {
            FlagOp::Remove
        };
        inbox
            .store_flags(&uids, op, Flags::new().with(Flag::Seen), None)
            .await
            .unwrap();
        max_len = max_len.max(fs::metadata(home.join("mailwire-index")).unwrap().len());
    }
    let len = fs::metadata(home.join("mailwire-index")).unwrap().len();
    assert!(max_len > 128 * 1024, "journal grew to {max_len}");
    assert!(len < max_len, "compacted: {len} < {max_len}");
    let s = inbox.select().await.unwrap();
    let (_, u2) = open(d.path()).await;
    let s2 = u2.mailbox("INBOX").await.unwrap().select().await.unwrap();
    assert_eq!(
        (s2.exists, s2.uidvalidity, s2.highest_modseq, s2.unseen),
        (s.exists, s.uidvalidity, s.highest_modseq, s.unseen)
    );
    assert_eq!(s2.unseen, 200);
}

#[tokio::test]
async fn lost_index_records_are_recovered_from_file_names() {
    let d = tempfile::tempdir().unwrap();
    let home = d.path().join("alice");
    let (_, u) = open(d.path()).await;
    let inbox = u.mailbox("INBOX").await.unwrap();
    inbox
        .append(&b"Subject: 1\r\n\r\n"[..], Flags::new(), None)
        .await
        .unwrap();
    let idx = home.join("mailwire-index");
    let keep = fs::read(&idx).unwrap();
    inbox
        .append(
            &b"Subject: 2\r\n\r\n"[..],
            Flags::new().with(Flag::Flagged),
            None,
        )
        .await
        .unwrap();
    inbox
        .append(&b"Subject: 3\r\n\r\n"[..], Flags::new(), None)
        .await
        .unwrap();
    let before = inbox.select().await.unwrap();
    // A power loss takes the unsynced index records of appends 2 and 3; the files (synced,
    // named with their UID) stay.
    fs::write(&idx, &keep).unwrap();
    let (_, u2) = open(d.path()).await;
    let i2 = u2.mailbox("INBOX").await.unwrap();
    let after = i2.select().await.unwrap();
    assert_eq!(after.uidvalidity, before.uidvalidity);
    assert_eq!((after.exists, after.uidnext), (3, 4));
    assert!(
        after.highest_modseq > before.highest_modseq,
        "modseqs are never reused"
    );
    assert_eq!(i2.fetch(2).await.unwrap(), &b"Subject: 2\r\n\r\n"[..]);
    assert_eq!(i2.fetch(3).await.unwrap(), &b"Subject: 3\r\n\r\n"[..]);
    assert!(i2.message(2).await.unwrap().flags.contains(&Flag::Flagged));
    assert_eq!(
        i2.append(&b"x"[..], Flags::new(), None).await.unwrap().uid,
        4
    );
}

/// Files other programs write (Dovecot, mutt, mbsync) often end lines with LF alone: they are
/// served with CRLF, their size is the CRLF size, and ranges and MIME offsets apply to that.
#[tokio::test]
async fn files_with_lf_line_ends_are_served_with_crlf() {
    let d = tempfile::tempdir().unwrap();
    let (store, u) = open(d.path()).await;
    let lf = b"Subject: lf\n\nline one\nline two\r\nmixed\n";
    fs::write(d.path().join("alice/cur/1704189600.M1P2.host:2,S"), lf).unwrap();
    let mb = u.mailbox("INBOX").await.unwrap();
    let metas = mb.messages().await.unwrap();
    assert_eq!(metas.len(), 1);
    let want = b"Subject: lf\r\n\r\nline one\r\nline two\r\nmixed\r\n";
    assert_eq!(metas[0].size, want.len() as u64);
    let uid = metas[0].uid;
    assert_eq!(&mb.fetch(uid).await.unwrap()[..], want);
    assert_eq!(&mb.fetch_range(uid, 15..23).await.unwrap()[..], b"line one");
    let idx = mb.mime(uid).await.unwrap();
    assert_eq!(
        &want[idx.root.body.clone()],
        b"line one\r\nline two\r\nmixed\r\n"
    );
    // After a restart (the index holds the CRLF size) nothing changes.
    drop((mb, u, store));
    let (_store, u) = open(d.path()).await;
    let mb = u.mailbox("INBOX").await.unwrap();
    assert_eq!(mb.messages().await.unwrap()[0].size, want.len() as u64);
    assert_eq!(&mb.fetch(uid).await.unwrap()[..], want);
}

/// Derived data (the IMAP server's rendered structure) is kept in `mailwire-cache` and comes
/// back after a restart without the message being read; expunged messages' records go.
#[tokio::test]
async fn derived_data_survives_a_restart() {
    use mailwire_store::FetchWant;
    let d = tempfile::tempdir().unwrap();
    let (store, u) = open(d.path()).await;
    for i in 0..3 {
        store
            .deliver(
                "alice",
                format!("Subject: {i}\r\n\r\nbody\r\n").into_bytes(),
            )
            .await
            .unwrap();
    }
    let mb = u.mailbox("INBOX").await.unwrap();
    let want = FetchWant {
        raw: true,
        mime: true,
        derived: true,
    };
    let first = mb.fetch_batch(vec![1, 2, 3, 9], want).await.unwrap();
    assert_eq!(first.len(), 3, "UID 9 does not exist");
    assert!(
        first
            .iter()
            .all(|f| f.derived.is_none() && f.raw.is_some() && f.mime.is_some())
    );
    mb.keep_derived(vec![(1, "one".into()), (2, "two".into())])
        .await
        .unwrap();
    mb.store_flags(&[2], FlagOp::Add, Flags::new().with(Flag::Deleted), None)
        .await
        .unwrap();
    assert_eq!(mb.expunge_uids(&[2]).await.unwrap(), vec![2]);
    drop((mb, u, store));
    let (_store, u) = open(d.path()).await;
    let mb = u.mailbox("INBOX").await.unwrap();
    let got = mb.fetch_batch(vec![1, 2, 3], want).await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].derived.as_deref(), Some(&b"one"[..]));
    assert!(
        got[0].raw.is_none() && got[0].mime.is_none(),
        "not read again"
    );
    assert!(got[1].derived.is_none() && got[1].raw.is_some());
}

/// A message mailwire stored with bare LFs (bytes are stored as sent) stays byte for byte
/// after the index is lost and rebuilt from the files: only other programs' files are
/// converted to CRLF.
#[tokio::test]
async fn our_own_lf_message_survives_an_index_rebuild_unchanged() {
    let d = tempfile::tempdir().unwrap();
    let (store, u) = open(d.path()).await;
    let sent = b"Subject: lf\n\nsent with bare LFs\n".to_vec();
    u.append("INBOX", sent.clone(), Flags::new(), None)
        .await
        .unwrap();
    drop((u, store));
    fs::remove_file(d.path().join("alice/mailwire-index")).unwrap();
    let (_store, u) = open(d.path()).await;
    let mb = u.mailbox("INBOX").await.unwrap();
    let metas = mb.messages().await.unwrap();
    assert_eq!(metas.len(), 1);
    assert_eq!(metas[0].size, sent.len() as u64);
    assert_eq!(&mb.fetch(metas[0].uid).await.unwrap()[..], &sent[..]);
}
