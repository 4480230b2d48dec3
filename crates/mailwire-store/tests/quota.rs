//! Quotas (RFC 9208 STORAGE and MESSAGE) on both backends: deliveries, APPEND and COPY past
//! the limit fail with `OverQuota` and store nothing; usage is the sum over the mailboxes.

use mailwire_store::{Flag, FlagOp, Flags, Quota, Store, StoreError, StoreOptions};

fn stores(quota: Quota) -> Vec<(Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions::default().quota(quota);
    vec![
        (Store::memory_with(options), None),
        (
            Store::maildir_with(dir.path().join("s"), options).unwrap(),
            Some(dir),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_quota_refuses_what_would_exceed_it_and_stores_nothing() {
    for (store, _dir) in stores(Quota {
        storage: Some(250),
        messages: None,
    }) {
        let u = store.add_user("alice", "pw").await.unwrap();
        assert_eq!(u.quota().storage, Some(250));
        store.deliver("alice", vec![b'a'; 100]).await.unwrap();
        u.append("Sent", vec![b'b'; 100], Flags::new(), None)
            .await
            .unwrap();
        let usage = u.usage().await.unwrap();
        assert_eq!((usage.storage, usage.messages), (200, 2));
        let e = store.deliver("alice", vec![b'c'; 51]).await.unwrap_err();
        assert!(
            matches!(e, StoreError::OverQuota(ref l) if l == "alice"),
            "{e:?}"
        );
        assert_eq!(u.status("INBOX").await.unwrap().exists, 1);
        // Exactly up to the limit is allowed.
        store.deliver("alice", vec![b'c'; 50]).await.unwrap();
        // A copy counts too.
        let inbox = u.mailbox("INBOX").await.unwrap();
        let e = inbox.copy_to(&[1], "Archive").await.unwrap_err();
        assert!(matches!(e, StoreError::OverQuota(_)), "{e:?}");
        assert_eq!(u.status("Archive").await.unwrap().exists, 0);
        // Room again after an expunge.
        inbox
            .store_flags(&[1], FlagOp::Add, Flags::new().with(Flag::Deleted), None)
            .await
            .unwrap();
        inbox.expunge().await.unwrap();
        store.deliver("alice", vec![b'd'; 90]).await.unwrap();
        assert_eq!(u.usage().await.unwrap().storage, 240);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_quota_and_a_per_user_quota() {
    for (store, _dir) in stores(Quota {
        storage: None,
        messages: Some(2),
    }) {
        let alice = store.add_user("alice", "pw").await.unwrap();
        let bob = store.add_user("bob", "pw").await.unwrap();
        store
            .set_quota(
                "bob",
                Quota {
                    storage: None,
                    messages: Some(3),
                },
            )
            .unwrap();
        assert_eq!(bob.quota().messages, Some(3));
        for _ in 0..2 {
            store.deliver("alice", b"x\r\n".to_vec()).await.unwrap();
        }
        for _ in 0..3 {
            store.deliver("bob", b"x\r\n".to_vec()).await.unwrap();
        }
        assert!(matches!(
            store.deliver("alice", b"x\r\n".to_vec()).await,
            Err(StoreError::OverQuota(_))
        ));
        assert!(matches!(
            store.deliver("bob", b"x\r\n".to_vec()).await,
            Err(StoreError::OverQuota(_))
        ));
        assert_eq!(alice.usage().await.unwrap().messages, 2);
        assert!(matches!(
            store.set_quota("nobody", Quota::default()),
            Err(StoreError::NoSuchUser(_))
        ));
    }
}
