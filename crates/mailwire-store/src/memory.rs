//! The `memory` backend: everything in process memory, fast and ephemeral.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::backend::{Backend, Cached, LockGuard, NewMessage, clamp, sorted};
use crate::core::{Core, Msg};
use crate::error::{Result, StoreError};
use crate::flags::{FlagOp, Flags};
use crate::mime::MimeIndex;
use crate::name::MailboxName;
use crate::types::{
    AppendResult, BackendKind, Change, Changes, CopyResult, InternalDate, MailboxEvent,
    MailboxStatus, MessageMeta, Origin, SpecialUse, StoreFlagsResult,
};

type MemBox = Arc<Mutex<Core<Bytes>>>;

#[derive(Default)]
struct MemUser {
    mailboxes: BTreeMap<MailboxName, MemBox>,
    special: BTreeMap<MailboxName, SpecialUse>,
    subscriptions: BTreeSet<String>,
}

struct UserSlot {
    inner: Mutex<MemUser>,
    pop3: Arc<AtomicBool>,
}

/// The in-memory backend.
pub(crate) struct MemoryBackend {
    users: RwLock<HashMap<String, Arc<UserSlot>>>,
    uidvalidity: AtomicU32,
    /// Expunges remembered per mailbox.
    history_limit: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Pop3Guard(Arc<AtomicBool>);

impl Drop for Pop3Guard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl MemoryBackend {
    pub fn new(history_limit: usize) -> MemoryBackend {
        let now = InternalDate::now().timestamp;
        MemoryBackend {
            users: RwLock::new(HashMap::new()),
            uidvalidity: AtomicU32::new(u32::try_from(now.max(1)).unwrap_or(1)),
            history_limit,
        }
    }

    fn user(&self, login: &str) -> Result<Arc<UserSlot>> {
        self.users
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(login)
            .cloned()
            .ok_or_else(|| StoreError::NoSuchUser(login.to_owned()))
    }

    fn mailbox(&self, login: &str, name: &MailboxName) -> Result<MemBox> {
        let u = self.user(login)?;
        let g = lock(&u.inner);
        g.mailboxes
            .get(name)
            .cloned()
            .ok_or_else(|| StoreError::NoSuchMailbox(name.to_string()))
    }

    fn new_uidvalidity(&self) -> u32 {
        self.uidvalidity.fetch_add(1, Ordering::Relaxed)
    }

    fn add(core: &mut Core<Bytes>, m: NewMessage) -> Msg<Bytes> {
        let uid = core.uidnext;
        let modseq = core.next_modseq();
        Msg {
            uid,
            modseq,
            flags: m.flags,
            date: m.date,
            size: m.data.len() as u64,
            mime: m.mime,
            derived: None,
            extra: m.data,
        }
    }
}

impl Backend for MemoryBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Memory
    }

    fn blocking(&self) -> bool {
        false
    }

    fn ensure_user(&self, login: &str) -> Result<bool> {
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        if users.contains_key(login) {
            return Ok(false);
        }
        let mut u = MemUser::default();
        u.mailboxes.insert(
            MailboxName::inbox(),
            Arc::new(Mutex::new(Core::new(
                self.new_uidvalidity(),
                self.history_limit,
            ))),
        );
        users.insert(
            login.to_owned(),
            Arc::new(UserSlot {
                inner: Mutex::new(u),
                pop3: Arc::new(AtomicBool::new(false)),
            }),
        );
        Ok(true)
    }

    fn list_mailboxes(&self, login: &str) -> Result<Vec<(MailboxName, Option<SpecialUse>)>> {
        let u = self.user(login)?;
        let g = lock(&u.inner);
        Ok(g.mailboxes
            .keys()
            .map(|n| (n.clone(), g.special.get(n).copied()))
            .collect())
    }

    fn create_mailbox(
        &self,
        login: &str,
        name: &MailboxName,
        special: Option<SpecialUse>,
    ) -> Result<()> {
        let u = self.user(login)?;
        let mut g = lock(&u.inner);
        if g.mailboxes.contains_key(name) {
            return Err(StoreError::MailboxExists(name.to_string()));
        }
        g.mailboxes.insert(
            name.clone(),
            Arc::new(Mutex::new(Core::new(
                self.new_uidvalidity(),
                self.history_limit,
            ))),
        );
        if let Some(s) = special {
            g.special.insert(name.clone(), s);
        }
        Ok(())
    }

    fn set_special_use(
        &self,
        login: &str,
        name: &MailboxName,
        special: Option<SpecialUse>,
    ) -> Result<()> {
        let u = self.user(login)?;
        let mut g = lock(&u.inner);
        if !g.mailboxes.contains_key(name) {
            return Err(StoreError::NoSuchMailbox(name.to_string()));
        }
        match special {
            Some(s) => g.special.insert(name.clone(), s),
            None => g.special.remove(name),
        };
        Ok(())
    }

    fn delete_mailbox(&self, login: &str, name: &MailboxName) -> Result<()> {
        let u = self.user(login)?;
        let mut g = lock(&u.inner);
        if g.mailboxes.remove(name).is_none() {
            return Err(StoreError::NoSuchMailbox(name.to_string()));
        }
        g.special.remove(name);
        Ok(())
    }

    fn rename_mailbox(&self, login: &str, from: &MailboxName, to: &MailboxName) -> Result<()> {
        let u = self.user(login)?;
        let mut g = lock(&u.inner);
        let moving: Vec<MailboxName> = g
            .mailboxes
            .keys()
            .filter(|n| *n == from || n.is_under(from))
            .cloned()
            .collect();
        if moving.is_empty() {
            return Err(StoreError::NoSuchMailbox(from.to_string()));
        }
        let targets: Vec<MailboxName> = moving
            .iter()
            .map(|n| {
                n.rebase(from, to)
                    .ok_or(StoreError::NotAllowed("renamed name is invalid"))
            })
            .collect::<Result<_>>()?;
        if let Some(t) = targets.iter().find(|t| g.mailboxes.contains_key(*t)) {
            return Err(StoreError::MailboxExists(t.to_string()));
        }
        for (old, new) in moving.into_iter().zip(targets) {
            if let Some(b) = g.mailboxes.remove(&old) {
                g.mailboxes.insert(new.clone(), b);
            }
            if let Some(s) = g.special.remove(&old) {
                g.special.insert(new, s);
            }
        }
        Ok(())
    }

    fn subscriptions(&self, login: &str) -> Result<BTreeSet<String>> {
        let u = self.user(login)?;
        let g = lock(&u.inner);
        Ok(g.subscriptions.clone())
    }

    fn set_subscribed(&self, login: &str, name: &str, on: bool) -> Result<()> {
        let u = self.user(login)?;
        let mut g = lock(&u.inner);
        if on {
            g.subscriptions.insert(name.to_owned());
        } else {
            g.subscriptions.remove(name);
        }
        Ok(())
    }

    fn status(&self, login: &str, name: &MailboxName) -> Result<MailboxStatus> {
        let b = self.mailbox(login, name)?;
        let g = lock(&b);
        Ok(g.status(name))
    }

    fn messages(
        &self,
        login: &str,
        name: &MailboxName,
        uids: Option<&[u32]>,
    ) -> Result<Vec<MessageMeta>> {
        let b = self.mailbox(login, name)?;
        let g = lock(&b);
        Ok(g.metas(uids))
    }

    fn append(
        &self,
        login: &str,
        name: &MailboxName,
        msg: NewMessage,
        origin: Origin,
    ) -> Result<AppendResult> {
        let b = self.mailbox(login, name)?;
        let mut g = lock(&b);
        let m = Self::add(&mut g, msg);
        let uid = m.uid;
        g.push(m);
        let exists = u32::try_from(g.msgs.len()).unwrap_or(u32::MAX);
        g.publish(
            origin,
            Change::Exists {
                uids: vec![uid],
                exists,
            },
        );
        Ok(AppendResult {
            uidvalidity: g.uidvalidity,
            uid,
        })
    }

    fn read(
        &self,
        login: &str,
        name: &MailboxName,
        uid: u32,
        range: Option<Range<u64>>,
    ) -> Result<Bytes> {
        let b = self.mailbox(login, name)?;
        let g = lock(&b);
        let m = g.get(uid).ok_or(StoreError::NoSuchMessage(uid))?;
        let r = clamp(range, m.extra.len());
        Ok(m.extra.slice(r))
    }

    fn mime(&self, login: &str, name: &MailboxName, uid: u32) -> Result<Arc<MimeIndex>> {
        let b = self.mailbox(login, name)?;
        let data = {
            let g = lock(&b);
            let m = g.get(uid).ok_or(StoreError::NoSuchMessage(uid))?;
            if let Some(x) = &m.mime {
                return Ok(x.clone());
            }
            m.extra.clone()
        };
        // Parsed outside the lock (a large message must not stall the mailbox), then kept.
        let idx = Arc::new(MimeIndex::parse(&data));
        Ok(lock(&b).keep_mime(uid, idx))
    }

    fn cached(&self, login: &str, name: &MailboxName, uid: u32) -> Result<Cached> {
        let b = self.mailbox(login, name)?;
        let g = lock(&b);
        g.cached(uid).ok_or(StoreError::NoSuchMessage(uid))
    }

    fn keep_mime(
        &self,
        login: &str,
        name: &MailboxName,
        uid: u32,
        idx: Arc<MimeIndex>,
    ) -> Result<Arc<MimeIndex>> {
        let b = self.mailbox(login, name)?;
        Ok(lock(&b).keep_mime(uid, idx))
    }

    fn keep_derived(
        &self,
        login: &str,
        name: &MailboxName,
        items: Vec<(u32, Bytes)>,
    ) -> Result<()> {
        let b = self.mailbox(login, name)?;
        let mut g = lock(&b);
        for (uid, d) in items {
            g.keep_derived(uid, d);
        }
        Ok(())
    }

    fn store_flags(
        &self,
        login: &str,
        name: &MailboxName,
        uids: &[u32],
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<u64>,
        origin: Origin,
    ) -> Result<StoreFlagsResult> {
        let b = self.mailbox(login, name)?;
        let mut g = lock(&b);
        let plan = g.plan_flags(uids, op, flags, unchanged_since);
        let modseq = if plan.changes.is_empty() {
            g.highest_modseq
        } else {
            g.next_modseq()
        };
        let updated = g.commit_flags(&plan, modseq, origin);
        Ok(StoreFlagsResult {
            updated,
            modified: plan.modified,
            highest_modseq: g.highest_modseq,
        })
    }

    fn expunge(
        &self,
        login: &str,
        name: &MailboxName,
        uids: Option<&[u32]>,
        require_deleted: bool,
        origin: Origin,
    ) -> Result<Vec<u32>> {
        let b = self.mailbox(login, name)?;
        let mut g = lock(&b);
        let wanted: Vec<u32> = match uids {
            Some(u) => sorted(u),
            None => g.msgs.iter().map(|m| m.uid).collect(),
        };
        let victims: Vec<u32> = wanted
            .into_iter()
            .filter(|&u| {
                g.get(u)
                    .is_some_and(|m| !require_deleted || m.flags.is_deleted())
            })
            .collect();
        if victims.is_empty() {
            return Ok(victims);
        }
        let modseq = g.next_modseq();
        g.remove(&victims, modseq);
        g.publish(
            origin,
            Change::Expunged {
                uids: victims.clone(),
            },
        );
        Ok(victims)
    }

    fn copy(
        &self,
        login: &str,
        from: &MailboxName,
        uids: &[u32],
        to: &MailboxName,
        origin: Origin,
    ) -> Result<CopyResult> {
        let src = self.mailbox(login, from)?;
        let dst = self.mailbox(login, to)?;
        let items: Vec<(u32, NewMessage)> = {
            let g = lock(&src);
            sorted(uids)
                .into_iter()
                .filter_map(|u| g.get(u))
                .map(|m| {
                    (
                        m.uid,
                        NewMessage {
                            data: m.extra.clone(),
                            flags: m.flags.clone(),
                            date: m.date,
                            mime: m.mime.clone(),
                        },
                    )
                })
                .collect()
        };
        let mut g = lock(&dst);
        let mut pairs = Vec::new();
        for (src_uid, nm) in items {
            let m = Self::add(&mut g, nm);
            pairs.push((src_uid, m.uid));
            g.push(m);
        }
        if !pairs.is_empty() {
            let exists = u32::try_from(g.msgs.len()).unwrap_or(u32::MAX);
            g.publish(
                origin,
                Change::Exists {
                    uids: pairs.iter().map(|p| p.1).collect(),
                    exists,
                },
            );
        }
        Ok(CopyResult {
            uidvalidity: g.uidvalidity,
            uids: pairs,
        })
    }

    fn changes_since(&self, login: &str, name: &MailboxName, modseq: u64) -> Result<Changes> {
        let b = self.mailbox(login, name)?;
        let g = lock(&b);
        Ok(g.changes_since(modseq))
    }

    fn events(&self, login: &str, name: &MailboxName) -> Result<broadcast::Receiver<MailboxEvent>> {
        let b = self.mailbox(login, name)?;
        let g = lock(&b);
        Ok(g.events.subscribe())
    }

    fn lock_maildrop(&self, login: &str) -> Result<LockGuard> {
        let u = self.user(login)?;
        if u.pop3
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(StoreError::MaildropInUse(login.to_owned()));
        }
        Ok(Box::new(Pop3Guard(u.pop3.clone())))
    }
}
