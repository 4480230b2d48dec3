//! Model-based property test: random sequences of append / store flags / expunge / copy /
//! move / rename / create / delete run against a simple in-test model and against both
//! backends; after every step both backends must agree with the model (mailboxes, UIDs,
//! UIDNEXT, flags, bytes, and whether the operation succeeded).

use std::collections::BTreeMap;

use mailwire_store::{Flag, FlagOp, Flags, MailboxName, Store, User};
use proptest::prelude::*;

const NAMES: [&str; 8] = ["INBOX", "A", "A/B", "A/B/C", "B", "Sent", "C/D", "inbox/x"];

#[derive(Debug, Clone)]
enum Op {
    Append {
        mbox: usize,
        body: u8,
        flags: u8,
    },
    Store {
        mbox: usize,
        uids: Vec<u32>,
        op: u8,
        flags: u8,
    },
    Expunge {
        mbox: usize,
    },
    ExpungeUids {
        mbox: usize,
        uids: Vec<u32>,
    },
    Copy {
        from: usize,
        to: usize,
        uids: Vec<u32>,
    },
    Move {
        from: usize,
        to: usize,
        uids: Vec<u32>,
    },
    Create {
        name: usize,
    },
    Delete {
        name: usize,
    },
    Rename {
        from: usize,
        to: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let n = 0..NAMES.len();
    let uids = proptest::collection::vec(1u32..12, 0..4);
    prop_oneof![
        4 => (n.clone(), any::<u8>(), 0u8..64).prop_map(|(mbox, body, flags)| Op::Append { mbox, body, flags }),
        3 => (n.clone(), uids.clone(), 0u8..3, 0u8..64).prop_map(|(mbox, uids, op, flags)| Op::Store { mbox, uids, op, flags }),
        1 => n.clone().prop_map(|mbox| Op::Expunge { mbox }),
        1 => (n.clone(), uids.clone()).prop_map(|(mbox, uids)| Op::ExpungeUids { mbox, uids }),
        2 => (n.clone(), n.clone(), uids.clone()).prop_map(|(from, to, uids)| Op::Copy { from, to, uids }),
        2 => (n.clone(), n.clone(), uids).prop_map(|(from, to, uids)| Op::Move { from, to, uids }),
        2 => n.clone().prop_map(|name| Op::Create { name }),
        1 => n.clone().prop_map(|name| Op::Delete { name }),
        1 => (n.clone(), n).prop_map(|(from, to)| Op::Rename { from, to }),
    ]
}

fn flags_of(bits: u8) -> Flags {
    let mut f = Flags::new();
    let all = [
        Flag::Seen,
        Flag::Answered,
        Flag::Flagged,
        Flag::Deleted,
        Flag::Draft,
    ];
    for (i, fl) in all.into_iter().enumerate() {
        if bits & (1 << i) != 0 {
            f.insert(fl);
        }
    }
    if bits & 32 != 0 {
        f.insert(Flag::Keyword("$kw".into()));
    }
    f
}

fn body(b: u8) -> Vec<u8> {
    format!("Subject: {b}\r\n\r\n{}\r\n", "x".repeat(b as usize)).into_bytes()
}

#[derive(Debug, Clone, Default, PartialEq)]
struct MBox {
    uidnext: u32,
    msgs: BTreeMap<u32, (Vec<u8>, Flags)>,
}

impl MBox {
    fn new() -> MBox {
        MBox {
            uidnext: 1,
            msgs: BTreeMap::new(),
        }
    }
    fn add(&mut self, data: Vec<u8>, flags: Flags) -> u32 {
        let uid = self.uidnext;
        self.uidnext += 1;
        self.msgs.insert(uid, (data, flags));
        uid
    }
}

#[derive(Debug, Clone)]
struct Model {
    boxes: BTreeMap<MailboxName, MBox>,
}

fn n(s: &str) -> MailboxName {
    MailboxName::new(s).unwrap()
}

impl Model {
    fn new() -> Model {
        let mut boxes = BTreeMap::new();
        for s in ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"] {
            boxes.insert(n(s), MBox::new());
        }
        Model { boxes }
    }

    /// Applies an operation; false when the store must refuse it.
    fn apply(&mut self, op: &Op) -> bool {
        match op {
            Op::Append {
                mbox,
                body: b,
                flags,
            } => match self.boxes.get_mut(&n(NAMES[*mbox])) {
                Some(m) => {
                    m.add(body(*b), flags_of(*flags));
                    true
                }
                None => false,
            },
            Op::Store {
                mbox,
                uids,
                op,
                flags,
            } => match self.boxes.get_mut(&n(NAMES[*mbox])) {
                Some(m) => {
                    let f = flags_of(*flags);
                    let op = [FlagOp::Add, FlagOp::Remove, FlagOp::Replace][*op as usize];
                    for u in uids {
                        if let Some((_, cur)) = m.msgs.get_mut(u) {
                            *cur = cur.apply(op, &f);
                        }
                    }
                    true
                }
                None => false,
            },
            Op::Expunge { mbox } => match self.boxes.get_mut(&n(NAMES[*mbox])) {
                Some(m) => {
                    m.msgs.retain(|_, (_, f)| !f.is_deleted());
                    true
                }
                None => false,
            },
            Op::ExpungeUids { mbox, uids } => match self.boxes.get_mut(&n(NAMES[*mbox])) {
                Some(m) => {
                    m.msgs
                        .retain(|u, (_, f)| !(f.is_deleted() && uids.contains(u)));
                    true
                }
                None => false,
            },
            Op::Copy { from, to, uids } | Op::Move { from, to, uids } => {
                let (f, t) = (n(NAMES[*from]), n(NAMES[*to]));
                if !self.boxes.contains_key(&f) || !self.boxes.contains_key(&t) {
                    return false;
                }
                let mut sorted = uids.clone();
                sorted.sort_unstable();
                sorted.dedup();
                let items: Vec<(u32, Vec<u8>, Flags)> = sorted
                    .iter()
                    .filter_map(|u| {
                        self.boxes[&f]
                            .msgs
                            .get(u)
                            .map(|(d, fl)| (*u, d.clone(), fl.clone()))
                    })
                    .collect();
                for (_, d, fl) in &items {
                    self.boxes.get_mut(&t).unwrap().add(d.clone(), fl.clone());
                }
                if matches!(op, Op::Move { .. }) {
                    let src = self.boxes.get_mut(&f).unwrap();
                    for (u, ..) in items {
                        src.msgs.remove(&u);
                    }
                }
                true
            }
            Op::Create { name } => {
                let nm = n(NAMES[*name]);
                if self.boxes.contains_key(&nm) {
                    return false;
                }
                self.boxes.insert(nm, MBox::new());
                true
            }
            Op::Delete { name } => {
                let nm = n(NAMES[*name]);
                if nm.is_inbox() {
                    return false;
                }
                self.boxes.remove(&nm).is_some()
            }
            Op::Rename { from, to } => {
                let (f, t) = (n(NAMES[*from]), n(NAMES[*to]));
                if t.is_inbox() || f == t || t.is_under(&f) {
                    return false;
                }
                if f.is_inbox() {
                    if self.boxes.contains_key(&t) {
                        return false;
                    }
                    let inbox = self.boxes.get_mut(&f).unwrap();
                    let msgs = std::mem::take(&mut inbox.msgs);
                    let mut nb = MBox::new();
                    for (_, (d, fl)) in msgs {
                        nb.add(d, fl);
                    }
                    self.boxes.insert(t, nb);
                    return true;
                }
                let moving: Vec<MailboxName> = self
                    .boxes
                    .keys()
                    .filter(|x| **x == f || x.is_under(&f))
                    .cloned()
                    .collect();
                if moving.is_empty() {
                    return false;
                }
                let targets: Vec<MailboxName> = moving
                    .iter()
                    .map(|x| n(&format!("{}{}", t, &x.as_str()[f.as_str().len()..])))
                    .collect();
                if targets.iter().any(|x| self.boxes.contains_key(x)) {
                    return false;
                }
                for (a, b) in moving.into_iter().zip(targets) {
                    let v = self.boxes.remove(&a).unwrap();
                    self.boxes.insert(b, v);
                }
                true
            }
        }
    }
}

async fn run_op(u: &User, op: &Op) -> bool {
    match op {
        Op::Append {
            mbox,
            body: b,
            flags,
        } => u
            .append(NAMES[*mbox], body(*b), flags_of(*flags), None)
            .await
            .is_ok(),
        Op::Store {
            mbox,
            uids,
            op,
            flags,
        } => match u.mailbox(NAMES[*mbox]).await {
            Ok(m) => {
                let op = [FlagOp::Add, FlagOp::Remove, FlagOp::Replace][*op as usize];
                m.store_flags(uids, op, flags_of(*flags), None)
                    .await
                    .is_ok()
            }
            Err(_) => false,
        },
        Op::Expunge { mbox } => match u.mailbox(NAMES[*mbox]).await {
            Ok(m) => m.expunge().await.is_ok(),
            Err(_) => false,
        },
        Op::ExpungeUids { mbox, uids } => match u.mailbox(NAMES[*mbox]).await {
            Ok(m) => m.expunge_uids(uids).await.is_ok(),
            Err(_) => false,
        },
        Op::Copy { from, to, uids } => match u.mailbox(NAMES[*from]).await {
            Ok(m) => m.copy_to(uids, NAMES[*to]).await.is_ok(),
            Err(_) => false,
        },
        Op::Move { from, to, uids } => match u.mailbox(NAMES[*from]).await {
            Ok(m) => m.move_to(uids, NAMES[*to]).await.is_ok(),
            Err(_) => false,
        },
        Op::Create { name } => u.create_mailbox(NAMES[*name]).await.is_ok(),
        Op::Delete { name } => u.delete_mailbox(NAMES[*name]).await.is_ok(),
        Op::Rename { from, to } => u.rename_mailbox(NAMES[*from], NAMES[*to]).await.is_ok(),
    }
}

async fn check(u: &User, model: &Model, label: &str) -> Result<(), TestCaseError> {
    let listed: Vec<MailboxName> = u
        .mailboxes()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.selectable)
        .map(|e| e.name)
        .collect();
    let mut expected: Vec<MailboxName> = model.boxes.keys().cloned().collect();
    let mut got = listed.clone();
    expected.sort();
    got.sort();
    prop_assert_eq!(&got, &expected, "{}: mailboxes", label);
    for (name, mb) in &model.boxes {
        let m = u.mailbox(name.as_str()).await.unwrap();
        let s = m.select().await.unwrap();
        prop_assert_eq!(s.uidnext, mb.uidnext, "{}: uidnext of {}", label, name);
        let metas = m.messages().await.unwrap();
        let got: Vec<(u32, Flags)> = metas.iter().map(|x| (x.uid, x.flags.clone())).collect();
        let want: Vec<(u32, Flags)> = mb.msgs.iter().map(|(u, (_, f))| (*u, f.clone())).collect();
        prop_assert_eq!(got, want, "{}: messages of {}", label, name);
        for (uid, (data, _)) in &mb.msgs {
            let bytes = m.fetch(*uid).await.unwrap();
            prop_assert_eq!(
                &bytes[..],
                &data[..],
                "{}: bytes of {} uid {}",
                label,
                name,
                uid
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, .. ProptestConfig::default() })]

    #[test]
    fn backends_agree_with_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let mem = Store::memory().add_user("alice", "pw").await.unwrap();
            let md = Store::maildir(dir.path()).unwrap().add_user("alice", "pw").await.unwrap();
            let mut model = Model::new();
            for (i, op) in ops.iter().enumerate() {
                let want = model.apply(op);
                let got_mem = run_op(&mem, op).await;
                let got_md = run_op(&md, op).await;
                prop_assert_eq!(got_mem, want, "memory, step {} {:?}", i, op);
                prop_assert_eq!(got_md, want, "maildir, step {} {:?}", i, op);
                check(&mem, &model, &format!("memory step {i} {op:?}")).await?;
                check(&md, &model, &format!("maildir step {i} {op:?}")).await?;
            }
            // The maildir state survives reopening the store.
            let reopened = Store::maildir(dir.path()).unwrap().add_user("alice", "pw").await.unwrap();
            check(&reopened, &model, "maildir reopened").await?;
            Ok(())
        })?;
    }
}
