//! `Store::watch`: every change made through the store, on both backends, in order.

use mailwire_store::{FlagOp, Flags, MailboxName, Store, StoreEvent, StoreEventKind};
use tokio::sync::broadcast::Receiver;

fn next(rx: &mut Receiver<StoreEvent>) -> StoreEvent {
    rx.try_recv().expect("an event")
}

async fn script(store: Store) {
    store.add_user("alice", "secret").await.unwrap();
    let mut rx = store.watch();
    let inbox = MailboxName::inbox();

    let r = store
        .deliver("alice@example.com", &b"Subject: one\r\n\r\n1\r\n"[..])
        .await
        .unwrap();
    let ev = next(&mut rx);
    assert_eq!(ev.login, "alice");
    assert_eq!(ev.mailbox, inbox);
    assert_eq!(
        ev.kind,
        StoreEventKind::Added {
            uidvalidity: r.uidvalidity,
            uids: vec![r.uid]
        }
    );

    let user = store.user("alice").unwrap();
    let mb = user.mailbox("INBOX").await.unwrap();
    mb.store_flags(
        &[r.uid],
        FlagOp::Add,
        Flags::parse(&["\\Seen"]).unwrap(),
        None,
    )
    .await
    .unwrap();
    match next(&mut rx).kind {
        StoreEventKind::FlagsChanged { updates } => {
            assert_eq!(updates.len(), 1);
            assert_eq!(updates[0].0, r.uid);
            assert!(updates[0].1.is_seen());
        }
        other => panic!("{other:?}"),
    }
    // A STORE that changes nothing says nothing.
    mb.store_flags(
        &[r.uid],
        FlagOp::Add,
        Flags::parse(&["\\Seen"]).unwrap(),
        None,
    )
    .await
    .unwrap();
    assert!(rx.try_recv().is_err());

    let copied = mb.copy_to(&[r.uid], "Archive").await.unwrap();
    let ev = next(&mut rx);
    assert_eq!(ev.mailbox.as_str(), "Archive");
    assert_eq!(
        ev.kind,
        StoreEventKind::Added {
            uidvalidity: copied.uidvalidity,
            uids: vec![copied.uids[0].1]
        }
    );
    mb.move_to(&[r.uid], "Trash").await.unwrap();
    assert_eq!(next(&mut rx).mailbox.as_str(), "Trash");
    assert_eq!(
        next(&mut rx),
        StoreEvent {
            login: "alice".into(),
            mailbox: inbox.clone(),
            kind: StoreEventKind::Removed { uids: vec![r.uid] }
        }
    );

    user.create_mailbox("Work").await.unwrap();
    user.rename_mailbox("Work", "Play").await.unwrap();
    assert_eq!(
        next(&mut rx).kind,
        StoreEventKind::MailboxRenamed {
            to: MailboxName::new("Play").unwrap()
        }
    );
    user.delete_mailbox("Play").await.unwrap();
    assert_eq!(next(&mut rx).kind, StoreEventKind::MailboxDeleted);

    // POP3 deletions at QUIT.
    let r2 = store
        .deliver("alice", &b"Subject: two\r\n\r\n2\r\n"[..])
        .await
        .unwrap();
    next(&mut rx);
    let mut drop_ = user.pop3().await.unwrap();
    assert!(drop_.delete(1));
    drop_.commit().await.unwrap();
    assert_eq!(
        next(&mut rx).kind,
        StoreEventKind::Removed { uids: vec![r2.uid] }
    );

    // Removing the user purges every mailbox, then says so.
    store.remove_user("alice").await.unwrap();
    let mut kinds = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        kinds.push(ev.kind);
    }
    assert_eq!(
        kinds.last(),
        Some(&StoreEventKind::UserRemoved),
        "{kinds:?}"
    );
    assert!(
        kinds
            .iter()
            .filter(|k| matches!(k, StoreEventKind::Removed { .. }))
            .count()
            >= 2,
        "Archive and Trash purged: {kinds:?}"
    );
    assert!(store.user("alice").is_none());
    assert!(store.deliver("alice", &b"x\r\n"[..]).await.is_err());
}

#[tokio::test]
async fn watch_reports_every_change_memory() {
    script(Store::memory()).await;
}

#[tokio::test]
async fn watch_reports_every_change_maildir() {
    let dir = tempfile::tempdir().unwrap();
    script(Store::maildir(dir.path()).unwrap()).await;
}
