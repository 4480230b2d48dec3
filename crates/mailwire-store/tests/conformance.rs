//! One conformance suite, run against both backends: every `async fn check_*(Store)` below
//! runs once with `Store::memory()` and once with `Store::maildir(<temp dir>)`.

use mailwire_sasl::{Authenticator, Credentials, ScramHash, ScramVerifier, SecretKind};
use mailwire_store::{
    Change, Flag, FlagOp, Flags, InternalDate, ListAttribute, MailboxName, Origin, SectionKind,
    SpecialUse, Store, StoreError, StoreOptions,
};

/// IMAP LIST over the store: the store lists every mailbox, the IMAP crate's matcher picks
/// (the store knows no protocol).
trait ListExt {
    async fn list(
        &self,
        reference: &str,
        pattern: &str,
    ) -> mailwire_store::Result<Vec<mailwire_store::ListEntry>>;
}

impl ListExt for mailwire_store::User {
    async fn list(
        &self,
        reference: &str,
        pattern: &str,
    ) -> mailwire_store::Result<Vec<mailwire_store::ListEntry>> {
        if pattern.is_empty() {
            return Ok(Vec::new());
        }
        let full = format!("{reference}{pattern}");
        let all = self.mailboxes().await?;
        Ok(all
            .into_iter()
            .filter(|e| {
                mailwire_imap::proto::list_matches(
                    &full,
                    e.name.as_str(),
                    mailwire_store::DELIMITER,
                )
            })
            .collect())
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(mailwire_store::Store::memory()).await;
                }
            )*
        }
        mod maildir {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    super::$name(mailwire_store::Store::maildir(dir.path()).unwrap()).await;
                }
            )*
        }
    };
}

conformance!(
    users_and_auth,
    uids_ascend_and_are_never_reused,
    flags_and_modseq,
    expunge_and_vanished,
    copy_and_move,
    mailbox_hierarchy_and_list,
    rename_and_delete,
    rename_inbox,
    bad_names_are_refused,
    events_carry_origin,
    pop3_view,
    bytes_are_stored_as_sent,
    mime_sections,
    deliver_and_internal_date,
);

/// The expunge history keeps its limit (3 here), and answers for older modseqs with every
/// missing UID, marked inexact; on Maildir the same after the store is opened again.
async fn expunge_history_is_bounded(open: impl Fn() -> Store) {
    let store = open();
    let u = store.add_user("alice", "pw").await.unwrap();
    let inbox = u.mailbox("INBOX").await.unwrap();
    for n in 1..=8 {
        inbox.append(msg(n), Flags::new(), None).await.unwrap();
    }
    let m0 = inbox.select().await.unwrap().highest_modseq;
    // Expunge UIDs 2, 3, 4, 6, 7 one at a time; `ms[i]` is HIGHESTMODSEQ after the i-th.
    let mut ms = vec![m0];
    for uid in [2, 3, 4, 6, 7] {
        inbox
            .store_flags(&[uid], FlagOp::Add, Flags::new().with(Flag::Deleted), None)
            .await
            .unwrap();
        assert_eq!(inbox.expunge().await.unwrap(), [uid]);
        ms.push(inbox.select().await.unwrap().highest_modseq);
    }
    let check = |c: mailwire_store::Changes, vanished: &[std::ops::RangeInclusive<u32>], exact| {
        assert_eq!((c.vanished.as_slice(), c.vanished_exact), (vanished, exact));
    };
    for inbox in [inbox, {
        // Opened again (a new store on the same Maildir; the memory store is the same one).
        let again = open();
        let u = again.create_user_if_missing("alice").await.unwrap();
        u.mailbox("INBOX").await.unwrap()
    }] {
        // The last three expunges (UIDs 4, 6, 7) are remembered: exact since ms[2].
        check(
            inbox.changes_since(ms[2]).await.unwrap(),
            &[4..=4, 6..=7],
            true,
        );
        check(inbox.changes_since(ms[4]).await.unwrap(), &[7..=7], true);
        check(inbox.changes_since(ms[5]).await.unwrap(), &[], true);
        // Before that, some are forgotten: every UID below UIDNEXT (9) not in the mailbox.
        check(
            inbox.changes_since(ms[1]).await.unwrap(),
            &[2..=4, 6..=7],
            false,
        );
        check(
            inbox.changes_since(0).await.unwrap(),
            &[2..=4, 6..=7],
            false,
        );
        assert_eq!(inbox.select().await.unwrap().exists, 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expunge_history_is_bounded_memory() {
    let store = Store::memory_with(StoreOptions::default().expunge_history(3));
    expunge_history_is_bounded(|| store.clone()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expunge_history_is_bounded_maildir() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions::default().expunge_history(3);
    expunge_history_is_bounded(|| Store::maildir_with(dir.path(), options).unwrap()).await;
}

fn msg(n: u32) -> Vec<u8> {
    format!("From: a@example.com\r\nSubject: message {n}\r\n\r\nbody {n}\r\n").into_bytes()
}

fn seen() -> Flags {
    Flags::new().with(Flag::Seen)
}

async fn users_and_auth(store: Store) {
    let alice = store.add_user("Alice", "secret").await.unwrap();
    assert_eq!(alice.login(), "alice");
    assert!(matches!(
        store.add_user("ALICE", "x").await,
        Err(StoreError::UserExists(_))
    ));
    for bad in ["", ".hidden", "a/b", "a b", "a\0b", "mailwire-index"] {
        assert!(
            matches!(
                store.add_user(bad, "x").await,
                Err(StoreError::InvalidLogin(_))
            ),
            "{bad:?}"
        );
    }
    assert_eq!(store.user("alice@example.org").unwrap().login(), "alice");
    assert_eq!(store.user("ALICE@Other.Domain").unwrap().login(), "alice");
    assert!(store.user("carol@example.org").is_none());

    // Special-use mailboxes of a new user.
    let boxes = alice.mailboxes().await.unwrap();
    let names: Vec<&str> = boxes.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        ["INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"]
    );
    for u in SpecialUse::ALL {
        let e = boxes
            .iter()
            .find(|e| e.name.as_str() == u.default_name())
            .unwrap();
        assert_eq!(e.special_use, Some(u));
        assert!(e.attributes.contains(&ListAttribute::SpecialUse(u)));
    }

    // The Authenticator.
    assert!(store.verify_plain("alice", "secret"));
    assert!(store.verify_plain("ALICE@example.com", "secret"));
    assert!(!store.verify_plain("alice", "wrong"));
    assert!(!store.verify_plain("nobody", "secret"));
    assert_eq!(store.secret_kind(), SecretKind::Plaintext);
    assert!(store.credentials("alice").is_some());

    let v = ScramVerifier::derive(ScramHash::Sha256, "pw", b"salt", 4096).unwrap();
    store
        .add_user_with_credentials(
            "scram",
            Credentials::Scram {
                sha1: None,
                sha256: Some(v),
            },
        )
        .await
        .unwrap();
    assert!(store.verify_plain("scram", "pw"));
    assert_eq!(
        store.secret_kind(),
        SecretKind::ScramVerifiers {
            sha1: false,
            sha256: true
        }
    );

    // --accept-any-recipient / --accept-any-auth
    let bob = store
        .create_user_if_missing("Bob@example.net")
        .await
        .unwrap();
    assert_eq!(bob.login(), "bob");
    assert!(store.credentials("bob").is_none());
    assert!(!store.verify_plain("bob", "anything"));
    store.set_accept_any_password(true);
    assert!(store.verify_plain("bob", "anything"));
    assert!(store.verify_plain("whoever", "x"));
    assert!(!store.verify_plain("", "x"));
    assert_eq!(
        store.create_user_if_missing("bob").await.unwrap().login(),
        "bob"
    );
    assert_eq!(store.logins(), ["alice", "bob", "scram"]);
}

async fn uids_ascend_and_are_never_reused(store: Store) {
    let u = store.add_user("alice", "pw").await.unwrap();
    let inbox = u.mailbox("INBOX").await.unwrap();
    let s0 = inbox.select().await.unwrap();
    assert_eq!((s0.exists, s0.uidnext), (0, 1));
    assert!(s0.highest_modseq >= 1);
    for n in 1..=3 {
        let r = inbox.append(msg(n), Flags::new(), None).await.unwrap();
        assert_eq!(r.uid, n);
        assert_eq!(r.uidvalidity, s0.uidvalidity);
    }
    inbox
        .store_flags(&[3], FlagOp::Add, Flags::new().with(Flag::Deleted), None)
        .await
        .unwrap();
    assert_eq!(inbox.expunge().await.unwrap(), [3]);
    let r = inbox.append(msg(4), Flags::new(), None).await.unwrap();
    assert_eq!(r.uid, 4, "UID 3 must never be reused");
    let s = inbox.select().await.unwrap();
    assert_eq!((s.exists, s.uidnext, s.uidvalidity), (3, 5, s0.uidvalidity));
    let uids: Vec<u32> = inbox
        .messages()
        .await
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(uids, [1, 2, 4]);

    // A mailbox deleted and created again gets a new UIDVALIDITY and starts over.
    u.create_mailbox("box").await.unwrap();
    let b = u.mailbox("box").await.unwrap();
    let uv1 = b.select().await.unwrap().uidvalidity;
    b.append(msg(1), Flags::new(), None).await.unwrap();
    u.delete_mailbox("box").await.unwrap();
    assert!(matches!(
        b.select().await,
        Err(StoreError::NoSuchMailbox(_))
    ));
    u.create_mailbox("box").await.unwrap();
    let b = u.mailbox("box").await.unwrap();
    let s = b.select().await.unwrap();
    assert_ne!(s.uidvalidity, uv1);
    assert_eq!((s.exists, s.uidnext), (0, 1));
}

async fn flags_and_modseq(store: Store) {
    let u = store.add_user("alice", "pw").await.unwrap();
    let inbox = u.mailbox("INBOX").await.unwrap();
    for n in 1..=3 {
        inbox.append(msg(n), Flags::new(), None).await.unwrap();
    }
    let m0 = inbox.select().await.unwrap().highest_modseq;
    let kw = Flags::parse(&["\\Flagged", "$Label1"]).unwrap();
    let r = inbox
        .store_flags(&[1, 2, 99], FlagOp::Add, kw.clone(), None)
        .await
        .unwrap();
    assert_eq!(r.updated.len(), 2);
    assert!(r.updated.iter().all(|u| u.changed && u.flags == kw));
    let m1 = r.highest_modseq;
    assert!(m1 > m0);
    assert!(r.updated.iter().all(|u| u.modseq == m1));

    // A no-op STORE changes no modseq.
    let r = inbox
        .store_flags(&[1], FlagOp::Add, kw.clone(), None)
        .await
        .unwrap();
    assert!(!r.updated[0].changed);
    assert_eq!(r.highest_modseq, m1);

    // Remove and replace.
    let r = inbox
        .store_flags(&[1], FlagOp::Remove, Flags::new().with(Flag::Flagged), None)
        .await
        .unwrap();
    assert_eq!(r.updated[0].flags.to_strings(), ["$Label1"]);
    let m2 = r.highest_modseq;
    let r = inbox
        .store_flags(&[2], FlagOp::Replace, seen(), None)
        .await
        .unwrap();
    assert_eq!(r.updated[0].flags, seen());
    let m3 = r.highest_modseq;
    assert!(m3 > m2);

    // UNCHANGEDSINCE (RFC 7162 §3.1.3): message 2 changed at m3 > m2, message 1 at m2.
    let r = inbox
        .store_flags(
            &[1, 2],
            FlagOp::Add,
            Flags::new().with(Flag::Answered),
            Some(m2),
        )
        .await
        .unwrap();
    assert_eq!(r.modified, [2]);
    assert_eq!(r.updated.len(), 1);
    assert_eq!(r.updated[0].uid, 1);

    let metas = inbox.messages().await.unwrap();
    assert!(metas[0].flags.contains(&Flag::Answered));
    assert!(metas[1].flags.is_seen());
    assert!(metas[2].flags.is_empty());
    assert!(metas.windows(2).all(|w| w[0].uid < w[1].uid));

    let s = inbox.select().await.unwrap();
    assert!(s.flags.contains(&Flag::Keyword("$Label1".into())));
    assert!(s.allows_new_keywords);
    assert_eq!((s.unseen, s.first_unseen), (2, Some(1)));

    // changes since m2: messages 1 (m4) and 2 (m3)
    let c = inbox.changes_since(m2).await.unwrap();
    let uids: Vec<u32> = c.changed.iter().map(|m| m.uid).collect();
    assert_eq!(uids, [1, 2]);
    assert!(c.vanished.is_empty());

    assert!(matches!(
        Flags::parse(&["\\Recent"]),
        Err(StoreError::InvalidFlag(_))
    ));
    assert!(Flag::keyword("bad(kw").is_err());
    // Flags persist through a fresh handle.
    let again = store.user("alice").unwrap().mailbox("inbox").await.unwrap();
    assert_eq!(again.message(2).await.unwrap().flags, seen());
}

async fn expunge_and_vanished(store: Store) {
    let u = store.add_user("alice", "pw").await.unwrap();
    let inbox = u.mailbox("INBOX").await.unwrap();
    for n in 1..=6 {
        inbox.append(msg(n), Flags::new(), None).await.unwrap();
    }
    let deleted = Flags::new().with(Flag::Deleted);
    inbox
        .store_flags(&[2, 3, 5], FlagOp::Add, deleted, None)
        .await
        .unwrap();
    let before = inbox.select().await.unwrap();
    assert_eq!(before.deleted, 3);
    // UID EXPUNGE only touches \Deleted messages in the set.
    assert_eq!(inbox.expunge_uids(&[1, 2, 3, 4]).await.unwrap(), [2, 3]);
    assert_eq!(inbox.expunge().await.unwrap(), [5]);
    assert!(inbox.expunge().await.unwrap().is_empty());
    let after = inbox.select().await.unwrap();
    assert_eq!(after.exists, 3);
    assert!(after.highest_modseq > before.highest_modseq);
    let c = inbox.changes_since(before.highest_modseq).await.unwrap();
    assert_eq!(c.vanished, [2..=3, 5..=5]);
    assert!(c.vanished_exact);
    assert!(c.changed.is_empty());
    let c = inbox.changes_since(after.highest_modseq).await.unwrap();
    assert!(c.vanished.is_empty() && c.changed.is_empty());
    assert!(matches!(
        inbox.fetch(2).await,
        Err(StoreError::NoSuchMessage(2))
    ));
}

async fn copy_and_move(store: Store) {
    let u = store.add_user("alice", "pw").await.unwrap();
    let inbox = u.mailbox("INBOX").await.unwrap();
    for n in 1..=4 {
        let f = if n % 2 == 0 { seen() } else { Flags::new() };
        inbox.append(msg(n), f, None).await.unwrap();
    }
    u.create_mailbox("Dest").await.unwrap();
    let dest = u.mailbox("Dest").await.unwrap();
    let dv = dest.select().await.unwrap().uidvalidity;
    let r = inbox.copy_to(&[4, 2, 77], "Dest").await.unwrap();
    assert_eq!(r.uidvalidity, dv);
    assert_eq!(r.uids, [(2, 1), (4, 2)]);
    assert_eq!(dest.fetch(2).await.unwrap(), msg(4));
    assert!(dest.message(1).await.unwrap().flags.is_seen());
    assert_eq!(inbox.select().await.unwrap().exists, 4);

    let r = inbox.move_to(&[1, 3], "Dest").await.unwrap();
    assert_eq!(r.uids, [(1, 3), (3, 4)]);
    let left: Vec<u32> = inbox
        .messages()
        .await
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(left, [2, 4]);
    assert_eq!(dest.fetch(4).await.unwrap(), msg(3));
    assert_eq!(dest.select().await.unwrap().exists, 4);
    assert!(matches!(
        inbox.copy_to(&[2], "Nope").await,
        Err(StoreError::NoSuchMailbox(_))
    ));
    // Copy into the same mailbox.
    let r = inbox.copy_to(&[2], "INBOX").await.unwrap();
    assert_eq!(r.uids, [(2, 5)]);
}

async fn mailbox_hierarchy_and_list(store: Store) {
    let u = store.add_user("alice", "pw").await.unwrap();
    u.create_mailbox("Work/Projects/2024").await.unwrap();
    u.create_mailbox("Work/Notes").await.unwrap();
    u.create_mailbox("Entwürfe").await.unwrap();
    u.create_mailbox("a.b").await.unwrap();
    assert!(matches!(
        u.create_mailbox("Work/Notes").await,
        Err(StoreError::MailboxExists(_))
    ));
    assert!(matches!(
        u.create_mailbox("inbox").await,
        Err(StoreError::MailboxExists(_))
    ));
    let all = u.mailboxes().await.unwrap();
    let get = |n: &str| all.iter().find(|e| e.name.as_str() == n).cloned().unwrap();
    let work = get("Work");
    assert!(!work.selectable);
    assert_eq!(
        work.attributes,
        [ListAttribute::Noselect, ListAttribute::HasChildren]
    );
    assert!(
        get("Work/Projects")
            .attributes
            .contains(&ListAttribute::Noselect)
    );
    assert_eq!(get("Work/Notes").attributes, [ListAttribute::HasNoChildren]);
    assert!(get("Entwürfe").selectable);
    assert!(get("a.b").selectable);
    assert!(matches!(
        u.mailbox("Work").await,
        Err(StoreError::NoSuchMailbox(_))
    ));

    let names = |v: Vec<mailwire_store::ListEntry>| -> Vec<String> {
        v.into_iter().map(|e| e.name.to_string()).collect()
    };
    assert_eq!(
        names(u.list("", "Work/%").await.unwrap()),
        ["Work/Notes", "Work/Projects"]
    );
    assert_eq!(
        names(u.list("Work/", "*").await.unwrap()),
        ["Work/Notes", "Work/Projects", "Work/Projects/2024"]
    );
    assert_eq!(names(u.list("", "inBOX").await.unwrap()), ["INBOX"]);
    assert_eq!(u.list("", "%").await.unwrap().len(), 9);
    assert!(u.list("", "").await.unwrap().is_empty());

    // Subscriptions.
    u.subscribe("Work/Notes").await.unwrap();
    u.subscribe("NotThere").await.unwrap();
    u.unsubscribe("NotThere").await.unwrap();
    assert_eq!(u.subscriptions().await.unwrap(), ["Work/Notes"]);
    let notes = u.list("", "Work/Notes").await.unwrap();
    assert!(notes[0].subscribed && notes[0].attributes.contains(&ListAttribute::Subscribed));

    // Special use on create.
    u.create_special_mailbox("Old", SpecialUse::Archive)
        .await
        .unwrap();
    let old = u.list("", "Old").await.unwrap();
    assert_eq!(old[0].special_use, Some(SpecialUse::Archive));

    // UTF-7 round trip of a name known to the store.
    let n = MailboxName::from_utf7("Entw&APw-rfe").unwrap();
    assert!(u.mailbox(n.as_str()).await.is_ok());
    assert_eq!(n.to_utf7(), "Entw&APw-rfe");
}

async fn rename_and_delete(store: Store) {
    let u = store.add_user("alice", "pw").await.unwrap();
    u.create_mailbox("A").await.unwrap();
    u.create_mailbox("A/B").await.unwrap();
    u.create_mailbox("A/B/C").await.unwrap();
    u.create_mailbox("AB").await.unwrap();
    let a = u.mailbox("A/B").await.unwrap();
    a.append(msg(1), seen(), None).await.unwrap();
    let uv = a.select().await.unwrap().uidvalidity;

    u.rename_mailbox("A", "Z/Y").await.unwrap();
    let names: Vec<String> = u
        .mailboxes()
        .await
        .unwrap()
        .iter()
        .map(|e| e.name.to_string())
        .collect();
    for n in ["Z/Y", "Z/Y/B", "Z/Y/B/C", "AB", "Z"] {
        assert!(names.contains(&n.to_owned()), "{n} in {names:?}");
    }
    assert!(!names.iter().any(|n| n == "A" || n.starts_with("A/")));
    let moved = u.mailbox("Z/Y/B").await.unwrap();
    let s = moved.select().await.unwrap();
    assert_eq!((s.exists, s.uidvalidity), (1, uv));
    assert_eq!(moved.fetch(1).await.unwrap(), msg(1));
    assert!(moved.message(1).await.unwrap().flags.is_seen());

    assert!(matches!(
        u.rename_mailbox("Nope", "X").await,
        Err(StoreError::NoSuchMailbox(_))
    ));
    assert!(matches!(
        u.rename_mailbox("AB", "Z/Y").await,
        Err(StoreError::MailboxExists(_))
    ));
    assert!(matches!(
        u.rename_mailbox("AB", "Sent").await,
        Err(StoreError::MailboxExists(_))
    ));
    assert!(matches!(
        u.rename_mailbox("AB", "AB/x").await,
        Err(StoreError::NotAllowed(_))
    ));
    assert!(matches!(
        u.rename_mailbox("AB", "INBOX").await,
        Err(StoreError::MailboxExists(_))
    ));

    // Deleting a parent keeps its children; it becomes \Noselect.
    u.delete_mailbox("Z/Y").await.unwrap();
    let all = u.mailboxes().await.unwrap();
    let y = all.iter().find(|e| e.name.as_str() == "Z/Y").unwrap();
    assert!(!y.selectable);
    assert!(u.mailbox("Z/Y/B").await.is_ok());
    // ... and a \Noselect name with children cannot be deleted.
    assert!(matches!(
        u.delete_mailbox("Z/Y").await,
        Err(StoreError::NotAllowed(_))
    ));
    assert!(matches!(
        u.delete_mailbox("INBOX").await,
        Err(StoreError::NotAllowed(_))
    ));
    assert!(matches!(
        u.delete_mailbox("nope").await,
        Err(StoreError::NoSuchMailbox(_))
    ));
    // Renaming an implied parent renames its children.
    u.rename_mailbox("Z", "Q").await.unwrap();
    assert!(u.mailbox("Q/Y/B/C").await.is_ok());
    // Special use follows a rename and goes with a delete.
    u.rename_mailbox("Sent", "Sent Items").await.unwrap();
    let e = u.list("", "Sent Items").await.unwrap();
    assert_eq!(e[0].special_use, Some(SpecialUse::Sent));
    u.delete_mailbox("Sent Items").await.unwrap();
    u.create_mailbox("Sent Items").await.unwrap();
    assert_eq!(u.list("", "Sent Items").await.unwrap()[0].special_use, None);
}

async fn rename_inbox(store: Store) {
    let u = store.add_user("alice", "pw").await.unwrap();
    u.create_mailbox("INBOX/child").await.unwrap();
    let inbox = u.mailbox("INBOX").await.unwrap();
    for n in 1..=3 {
        inbox
            .append(msg(n), if n == 2 { seen() } else { Flags::new() }, None)
            .await
            .unwrap();
    }
    let before = inbox.select().await.unwrap();
    u.rename_mailbox("inbox", "Old Inbox").await.unwrap();
    let after = inbox.select().await.unwrap();
    assert_eq!(after.exists, 0);
    assert_eq!(after.uidvalidity, before.uidvalidity);
    assert_eq!(after.uidnext, 4);
    let old = u.mailbox("Old Inbox").await.unwrap();
    let metas = old.messages().await.unwrap();
    assert_eq!(metas.len(), 3);
    assert!(metas[1].flags.is_seen());
    assert_eq!(old.fetch(metas[2].uid).await.unwrap(), msg(3));
    assert!(
        u.mailbox("INBOX/child").await.is_ok(),
        "INBOX's children are not renamed"
    );
    assert_eq!(
        inbox.append(msg(9), Flags::new(), None).await.unwrap().uid,
        4
    );
}

async fn bad_names_are_refused(store: Store) {
    let u = store.add_user("alice", "pw").await.unwrap();
    for bad in [
        "",
        "/",
        "/etc",
        "a/",
        "a//b",
        "..",
        "../x",
        "a/../../b",
        ".",
        "a\0b",
        "a\nb",
        "a\rb",
        "tab\there",
        "\u{7f}",
        "*",
        "a%b",
    ] {
        assert!(
            matches!(
                u.create_mailbox(bad).await,
                Err(StoreError::InvalidMailboxName { .. })
            ),
            "{bad:?}"
        );
        assert!(matches!(
            u.append(bad, msg(1), Flags::new(), None).await,
            Err(StoreError::InvalidMailboxName { .. })
        ));
        assert!(matches!(
            u.rename_mailbox("Sent", bad).await,
            Err(StoreError::InvalidMailboxName { .. })
        ));
    }
    for bad in ["&", "&Jjo", "&AGE-", "&U,BTFw-&ZeVnLIqe-", "\u{e9}"] {
        assert!(
            matches!(
                MailboxName::from_utf7(bad),
                Err(StoreError::InvalidMailboxName { .. })
            ),
            "{bad:?}"
        );
    }
    // Dots, tildes, names that look like paths inside a level stay inside.
    for odd in [
        "..a", "a..", ".hidden", "cur", "new", "tmp", "~root", "a.b.c", "x:2,S",
    ] {
        u.create_mailbox(odd).await.unwrap();
        let b = u.mailbox(odd).await.unwrap();
        b.append(msg(1), Flags::new(), None).await.unwrap();
        assert_eq!(b.select().await.unwrap().exists, 1, "{odd}");
    }
    assert_eq!(
        u.mailbox("INBOX")
            .await
            .unwrap()
            .select()
            .await
            .unwrap()
            .exists,
        0
    );
    let names: Vec<String> = u
        .mailboxes()
        .await
        .unwrap()
        .iter()
        .map(|e| e.name.to_string())
        .collect();
    for odd in [
        "..a", "a..", ".hidden", "cur", "new", "tmp", "~root", "a.b.c", "x:2,S",
    ] {
        assert!(names.contains(&odd.to_owned()), "{odd} in {names:?}");
    }
}

async fn events_carry_origin(store: Store) {
    store.add_user("alice", "pw").await.unwrap();
    let s1 = store.user("alice").unwrap();
    let s2 = store.user("alice").unwrap();
    assert_ne!(s1.origin(), s2.origin());
    let b1 = s1.mailbox("INBOX").await.unwrap();
    let b2 = s2.mailbox("INBOX").await.unwrap();
    let mut rx = b1.subscribe().await.unwrap();
    b2.append(msg(1), Flags::new(), None).await.unwrap();
    store.deliver("alice", msg(2)).await.unwrap();
    b1.store_flags(&[1], FlagOp::Add, seen(), None)
        .await
        .unwrap();
    b2.store_flags(&[2], FlagOp::Add, Flags::new().with(Flag::Deleted), None)
        .await
        .unwrap();
    b2.expunge().await.unwrap();

    let e = rx.recv().await.unwrap();
    assert_eq!(e.origin, s2.origin());
    assert_eq!(
        e.change,
        Change::Exists {
            uids: vec![1],
            exists: 1
        }
    );
    let e = rx.recv().await.unwrap();
    assert_eq!(e.origin, Origin::DELIVERY);
    assert_eq!(
        e.change,
        Change::Exists {
            uids: vec![2],
            exists: 2
        }
    );
    let e = rx.recv().await.unwrap();
    assert_eq!(e.origin, s1.origin());
    assert!(matches!(e.change, Change::FlagsChanged { uid: 1, ref flags, .. } if flags.is_seen()));
    let e = rx.recv().await.unwrap();
    assert!(matches!(e.change, Change::FlagsChanged { uid: 2, .. }));
    let e = rx.recv().await.unwrap();
    assert_eq!(e.origin, s2.origin());
    assert_eq!(e.change, Change::Expunged { uids: vec![2] });
    assert!(rx.try_recv().is_err());
}

async fn pop3_view(store: Store) {
    let u = store.add_user("alice", "pw").await.unwrap();
    for n in 1..=3 {
        store.deliver("alice", msg(n)).await.unwrap();
    }
    let mut drop1 = u.pop3().await.unwrap();
    assert!(matches!(
        store.user("alice").unwrap().pop3().await,
        Err(StoreError::MaildropInUse(_))
    ));
    assert_eq!(drop1.stat(), (3, msg(1).len() as u64 * 3));
    let ids: Vec<(u32, u32)> = drop1.all().iter().map(|m| (m.uidvalidity, m.uid)).collect();
    assert_eq!(drop1.retrieve(2).await.unwrap(), msg(2));
    assert_eq!(
        drop1.retrieve_many(&[3, 1, 2]).await.unwrap(),
        [msg(3), msg(1), msg(2)]
    );
    assert!(drop1.retrieve_many(&[1, 4]).await.is_err());
    assert!(drop1.retrieve_many(&[]).await.unwrap().is_empty());
    assert!(drop1.delete(2));
    assert!(drop1.retrieve_many(&[1, 2]).await.is_err());
    assert!(!drop1.delete(2));
    assert!(drop1.message(2).is_none());
    assert!(drop1.retrieve(2).await.is_err());
    assert_eq!(drop1.stat().0, 2);
    drop1.reset();
    assert!(drop1.message(2).is_some());
    assert!(drop1.delete(1));
    drop(drop1); // no commit: nothing deleted, lock released

    // Mail arriving meanwhile is not in an open snapshot.
    let mut drop2 = u.pop3().await.unwrap();
    assert_eq!(drop2.all().len(), 3);
    let ids2: Vec<(u32, u32)> = drop2.all().iter().map(|m| (m.uidvalidity, m.uid)).collect();
    assert_eq!(ids, ids2, "UIDL ids are stable across sessions");
    store.deliver("alice", msg(4)).await.unwrap();
    assert_eq!(drop2.all().len(), 3);
    assert!(drop2.delete(1) && drop2.delete(3));
    assert!(!drop2.delete(0) && !drop2.delete(4));
    assert_eq!(drop2.commit().await.unwrap(), [1, 3]);

    let drop3 = u.pop3().await.unwrap();
    let ids3: Vec<(u32, u32)> = drop3.all().iter().map(|m| (m.uidvalidity, m.uid)).collect();
    assert_eq!(ids3.len(), 2);
    assert_eq!(ids3[0], ids[1]);
    assert_eq!(drop3.retrieve(2).await.unwrap(), msg(4));
}

async fn bytes_are_stored_as_sent(store: Store) {
    let u = store.add_user("alice", "pw").await.unwrap();
    let inbox = u.mailbox("INBOX").await.unwrap();
    let mut odd: Vec<u8> = (0..=255u8).collect();
    odd.extend_from_slice(b"\n.\r\n\r\r\n\0\0no header at all\xff\xfe");
    let cases: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"x".to_vec(),
        odd,
        b"Content-Type: multipart/mixed; boundary=\"\r\n\r\n--\r\n--\r\n".to_vec(),
        b"Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n".to_vec(),
        vec![b'a'; 300_000],
    ];
    for (i, c) in cases.iter().enumerate() {
        let r = inbox.append(c.clone(), Flags::new(), None).await.unwrap();
        assert_eq!(inbox.fetch(r.uid).await.unwrap(), &c[..], "case {i}");
        assert_eq!(inbox.message(r.uid).await.unwrap().size, c.len() as u64);
        let _ = inbox.mime(r.uid).await.unwrap();
    }
    let big = inbox.messages().await.unwrap().last().unwrap().uid;
    assert_eq!(
        inbox.fetch_range(big, 10..20).await.unwrap(),
        vec![b'a'; 10]
    );
    assert_eq!(
        inbox
            .fetch_range(big, 299_995..400_000)
            .await
            .unwrap()
            .len(),
        5
    );
    assert!(
        inbox
            .fetch_range(big, 500_000..600_000)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn mime_sections(store: Store) {
    let u = store.add_user("alice", "pw").await.unwrap();
    let raw = b"From: Joe <joe@example.com>\r\nTo: alice@example.org\r\nSubject: parts\r\n\
Message-ID: <1@x>\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n\
Content-Type: text/plain\r\n\r\none\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\n<b>two</b>\r\n--b1--\r\n";
    let r = u
        .append("INBOX", &raw[..], Flags::new(), None)
        .await
        .unwrap();
    let inbox = u.mailbox("INBOX").await.unwrap();
    let idx = inbox.mime(r.uid).await.unwrap();
    // Made on the first call and kept: the second call hands out the same index.
    let again = inbox.mime(r.uid).await.unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&idx, &again),
        "the MIME index is parsed once"
    );
    assert_eq!(
        idx.root.header_value(raw, "subject"),
        Some(&b" parts\r\n"[..])
    );
    assert_eq!(
        idx.root
            .fields
            .iter()
            .map(|f| f.name(raw))
            .collect::<Vec<_>>(),
        [
            &b"From"[..],
            b"To",
            b"Subject",
            b"Message-ID",
            b"Content-Type"
        ]
    );
    assert_eq!(idx.root.children.len(), 2);
    assert_eq!(
        idx.root.children[1].encoding.as_deref(),
        Some("quoted-printable")
    );
    let sec = |p: &'static [u32], k| {
        let inbox = inbox.clone();
        async move { inbox.fetch_section(r.uid, p, k).await.unwrap() }
    };
    assert_eq!(
        sec(&[2], SectionKind::Full).await.unwrap(),
        &b"<b>two</b>"[..]
    );
    assert_eq!(
        sec(&[1], SectionKind::Mime).await.unwrap(),
        &b"Content-Type: text/plain\r\n\r\n"[..]
    );
    assert!(
        sec(&[], SectionKind::Header)
            .await
            .unwrap()
            .starts_with(b"From: Joe")
    );
    assert!(sec(&[3], SectionKind::Full).await.is_none());
    assert!(sec(&[1], SectionKind::Text).await.is_none());
}

async fn deliver_and_internal_date(store: Store) {
    assert!(matches!(
        store.deliver("nobody@example.com", msg(1)).await,
        Err(StoreError::NoSuchUser(_))
    ));
    let u = store.add_user("alice", "pw").await.unwrap();
    let r = store.deliver("Alice@Example.COM", msg(1)).await.unwrap();
    assert_eq!(r.uid, 1);
    let date = InternalDate::from_unix(1_000_000_000, 120);
    let r = u.append("Sent", msg(2), seen(), Some(date)).await.unwrap();
    let sent = u.mailbox("Sent").await.unwrap();
    let m = sent.message(r.uid).await.unwrap();
    assert_eq!(m.internal_date, date);
    assert!(m.flags.is_seen());
    let now = InternalDate::now().timestamp;
    let d = u
        .mailbox("INBOX")
        .await
        .unwrap()
        .message(1)
        .await
        .unwrap()
        .internal_date;
    assert!((now - d.timestamp).abs() < 60);
}
