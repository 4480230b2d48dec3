//! Many appenders at once: UIDs unique and ascending, nothing lost. Both backends, and for
//! maildir also two `Store` instances on one folder (as two processes would be).

use std::collections::BTreeMap;

use mailwire_store::{Change, Flag, FlagOp, Flags, Origin, Store};

const TASKS: u32 = 8;
const PER_TASK: u32 = 40;

fn body(task: u32, i: u32, tag: &str) -> Vec<u8> {
    format!(
        "Subject: {tag} {task}/{i}\r\n\r\n{}\r\n",
        "z".repeat((i * 37 % 500) as usize)
    )
    .into_bytes()
}

/// Appends from `TASKS` tasks per store concurrently; returns acknowledged uid → bytes.
async fn hammer(stores: &[Store]) -> BTreeMap<u32, Vec<u8>> {
    let mut handles = Vec::new();
    for (si, store) in stores.iter().enumerate() {
        for t in 0..TASKS {
            let user = store.user("alice").unwrap();
            handles.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..PER_TASK {
                    let data = body(t, i, &format!("s{si}"));
                    let r = user
                        .append("INBOX", data.clone(), Flags::new(), None)
                        .await
                        .unwrap();
                    acked.push((r.uid, data));
                }
                acked
            }));
        }
    }
    let mut all = BTreeMap::new();
    for h in handles {
        for (uid, data) in h.await.unwrap() {
            assert!(all.insert(uid, data).is_none(), "UID {uid} given twice");
        }
    }
    all
}

async fn verify(store: &Store, acked: &BTreeMap<u32, Vec<u8>>) {
    let inbox = store.user("alice").unwrap().mailbox("INBOX").await.unwrap();
    let metas = inbox.messages().await.unwrap();
    let uids: Vec<u32> = metas.iter().map(|m| m.uid).collect();
    assert!(uids.windows(2).all(|w| w[0] < w[1]), "UIDs ascend");
    assert_eq!(
        uids,
        acked.keys().copied().collect::<Vec<_>>(),
        "nothing lost, nothing extra"
    );
    for (uid, data) in acked {
        assert_eq!(
            &inbox.fetch(*uid).await.unwrap()[..],
            &data[..],
            "uid {uid}"
        );
    }
    let s = inbox.select().await.unwrap();
    assert_eq!(s.uidnext, acked.keys().last().unwrap() + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_memory() {
    let store = Store::memory();
    store.add_user("alice", "pw").await.unwrap();
    let acked = hammer(std::slice::from_ref(&store)).await;
    assert_eq!(acked.len() as u32, TASKS * PER_TASK);
    verify(&store, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_maildir() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::maildir(dir.path()).unwrap();
    store.add_user("alice", "pw").await.unwrap();
    let acked = hammer(std::slice::from_ref(&store)).await;
    assert_eq!(acked.len() as u32, TASKS * PER_TASK);
    verify(&store, &acked).await;
    // And after reopening.
    let again = Store::maildir(dir.path()).unwrap();
    again.add_user("alice", "pw").await.unwrap();
    verify(&again, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_maildir_stores_on_one_folder() {
    let dir = tempfile::tempdir().unwrap();
    let a = Store::maildir(dir.path()).unwrap();
    let b = Store::maildir(dir.path()).unwrap();
    a.add_user("alice", "pw").await.unwrap();
    b.add_user("alice", "pw").await.unwrap();
    let acked = hammer(&[a.clone(), b.clone()]).await;
    assert_eq!(acked.len() as u32, 2 * TASKS * PER_TASK);
    verify(&a, &acked).await;
    verify(&b, &acked).await;

    // Changes made through one store are seen, as EXTERNAL events, by the other.
    let ia = a.user("alice").unwrap().mailbox("INBOX").await.unwrap();
    let ib = b.user("alice").unwrap().mailbox("INBOX").await.unwrap();
    let mut rx = ia.subscribe().await.unwrap();
    let r = ib
        .append(&b"Subject: from b\r\n\r\n"[..], Flags::new(), None)
        .await
        .unwrap();
    ib.store_flags(&[1], FlagOp::Add, Flags::new().with(Flag::Flagged), None)
        .await
        .unwrap();
    let sa = ia.select().await.unwrap(); // re-reads the index
    assert_eq!(sa.uidnext, r.uid + 1);
    assert!(ia.message(1).await.unwrap().flags.contains(&Flag::Flagged));
    let mut saw_exists = false;
    let mut saw_flags = false;
    while let Ok(e) = rx.try_recv() {
        assert_eq!(e.origin, Origin::EXTERNAL);
        match e.change {
            Change::Exists { uids, .. } => saw_exists |= uids == [r.uid],
            Change::FlagsChanged { uid: 1, .. } => saw_flags = true,
            _ => {}
        }
    }
    assert!(saw_exists && saw_flags);

    // The POP3 maildrop lock holds across stores.
    let pop = a.user("alice").unwrap().pop3().await.unwrap();
    assert!(matches!(
        b.user("alice").unwrap().pop3().await,
        Err(mailwire_store::StoreError::MaildropInUse(_))
    ));
    drop(pop);
    assert!(b.user("alice").unwrap().pop3().await.is_ok());
}
