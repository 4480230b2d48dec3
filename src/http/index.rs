//! The message index behind the HTTP API: one summary per stored message (who, where, the
//! envelope headers, size, `\Seen`), kept up to date from [`Store::watch`], with a run-stable
//! numeric id in arrival order, so that listing newest first, paging by id and waiting for a
//! match never parse a message again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use mailwire_codec::calendar::civil_from_days;
use mailwire_store::{MailboxName, Store, StoreEvent, StoreEventKind};
use serde::Serialize;
use tokio::sync::{broadcast, watch};

/// The header bytes read to summarise a message: enough for any real header block.
const HEADER_READ: u64 = 64 * 1024;

/// Index events kept for slow SSE readers and waiters before they see a lag.
const EVENT_CAPACITY: usize = 4096;

/// A mailbox address as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    /// The display name, decoded (RFC 2047), if any.
    pub name: Option<String>,
    /// `local@domain`.
    pub address: String,
}

/// One stored message, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageSummary {
    /// The id: unique and stable while the server runs, ascending in arrival order.
    pub id: u64,
    /// The user whose mailbox holds it.
    pub user: String,
    /// The mailbox.
    pub mailbox: String,
    /// The mailbox's UIDVALIDITY and the message's UID: how IMAP names it.
    pub uidvalidity: u32,
    /// The UID.
    pub uid: u32,
    /// Octets stored.
    pub size: u64,
    /// When it was stored (IMAP INTERNALDATE), RFC 3339.
    pub received: String,
    /// `received` as seconds since 1970.
    #[serde(skip)]
    pub received_unix: i64,
    /// The `Date:` field as sent, if any.
    pub date: Option<String>,
    /// `From:`.
    pub from: Vec<Address>,
    /// `To:`.
    pub to: Vec<Address>,
    /// `Cc:`.
    pub cc: Vec<Address>,
    /// `Subject:`, decoded.
    pub subject: String,
    /// `Message-ID:` without the angle brackets.
    pub message_id: Option<String>,
    /// `\Seen`: what IMAP shows.
    pub seen: bool,
}

impl MessageSummary {
    fn key(&self) -> Key {
        (self.user.clone(), self.mailbox.clone(), self.uid)
    }
}

/// What happened to the index.
#[derive(Debug, Clone)]
pub enum IndexEvent {
    /// A message was stored.
    Stored(Arc<MessageSummary>),
    /// A message's `\Seen` changed.
    Changed(Arc<MessageSummary>),
    /// A message was removed.
    Deleted(u64),
}

type Key = (String, String, u32);

#[derive(Default)]
struct Inner {
    by_id: BTreeMap<u64, Arc<MessageSummary>>,
    by_key: HashMap<Key, u64>,
    next: u64,
}

/// The index; cheap to share.
pub struct Index {
    store: Store,
    inner: RwLock<Inner>,
    events: broadcast::Sender<IndexEvent>,
    ready: watch::Sender<bool>,
}

fn lock_err<T>(e: std::sync::PoisonError<T>) -> T {
    e.into_inner()
}

impl Index {
    /// Starts indexing `store`: every message already there, then every change. Returns at
    /// once; [`ready`](Self::ready) says when the first scan is complete.
    pub fn start(store: Store) -> Arc<Index> {
        let index = Arc::new(Index {
            store: store.clone(),
            inner: RwLock::new(Inner {
                next: 1,
                ..Inner::default()
            }),
            events: broadcast::channel(EVENT_CAPACITY).0,
            ready: watch::channel(false).0,
        });
        // Subscribed before the scan, so nothing stored meanwhile is missed (a message seen
        // by both is indexed once).
        let rx = store.watch();
        let i = Arc::clone(&index);
        tokio::spawn(async move { i.run(rx).await });
        index
    }

    /// Waits until the first scan is complete.
    pub async fn ready(&self) {
        let mut rx = self.ready.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }

    /// Index events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<IndexEvent> {
        self.events.subscribe()
    }

    /// The summary with this id.
    pub fn get(&self, id: u64) -> Option<Arc<MessageSummary>> {
        self.inner
            .read()
            .unwrap_or_else(lock_err)
            .by_id
            .get(&id)
            .cloned()
    }

    /// How many messages are indexed.
    pub(crate) fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(lock_err).by_id.len()
    }

    /// Visits summaries newest first (ids below `before`, above `after`) until `f` says stop.
    /// The lock is held only to copy out a batch at a time.
    pub fn scan(
        &self,
        before: Option<u64>,
        after: Option<u64>,
        mut f: impl FnMut(&Arc<MessageSummary>) -> bool,
    ) {
        let mut upper = before.unwrap_or(u64::MAX);
        let lower = after.unwrap_or(0);
        loop {
            let batch: Vec<Arc<MessageSummary>> = {
                let g = self.inner.read().unwrap_or_else(lock_err);
                g.by_id
                    .range(lower.saturating_add(1)..upper)
                    .rev()
                    .take(1024)
                    .map(|(_, s)| Arc::clone(s))
                    .collect()
            };
            let Some(last) = batch.last() else {
                return;
            };
            upper = last.id;
            for s in &batch {
                if !f(s) {
                    return;
                }
            }
        }
    }

    async fn run(self: Arc<Self>, mut rx: broadcast::Receiver<StoreEvent>) {
        self.rescan().await;
        self.ready.send_replace(true);
        loop {
            match rx.recv().await {
                Ok(ev) => self.apply(ev).await,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "HTTP index fell behind the store; rescanning");
                    self.rescan().await;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Reads every user's every mailbox; drops what is gone, adds what is new.
    async fn rescan(&self) {
        let mut seen: Vec<Key> = Vec::new();
        let mut logins = self.store.logins();
        logins.sort();
        for login in logins {
            let Some(user) = self.store.user(&login) else {
                continue;
            };
            let Ok(boxes) = user.mailboxes().await else {
                continue;
            };
            for entry in boxes.into_iter().filter(|e| e.selectable) {
                let Ok(mb) = user.mailbox(entry.name.as_str()).await else {
                    continue;
                };
                let (Ok(status), Ok(metas)) = (mb.select().await, mb.messages().await) else {
                    continue;
                };
                let mut metas = metas;
                metas.sort_by_key(|m| (m.internal_date.timestamp, m.uid));
                let uids: Vec<u32> = metas.iter().map(|m| m.uid).collect();
                seen.extend(
                    uids.iter()
                        .map(|&u| (login.clone(), entry.name.to_string(), u)),
                );
                self.add(&login, &entry.name, status.uidvalidity, &uids)
                    .await;
            }
        }
        let gone: Vec<u64> = {
            let keep: std::collections::HashSet<&Key> = seen.iter().collect();
            let g = self.inner.read().unwrap_or_else(lock_err);
            g.by_key
                .iter()
                .filter(|(k, _)| !keep.contains(k))
                .map(|(_, id)| *id)
                .collect()
        };
        for id in gone {
            self.remove_id(id);
        }
    }

    async fn apply(&self, ev: StoreEvent) {
        match ev.kind {
            StoreEventKind::Added { uidvalidity, uids } => {
                self.add(&ev.login, &ev.mailbox, uidvalidity, &uids).await;
            }
            StoreEventKind::Removed { uids } => {
                for uid in uids {
                    let key = (ev.login.clone(), ev.mailbox.to_string(), uid);
                    let id = self
                        .inner
                        .read()
                        .unwrap_or_else(lock_err)
                        .by_key
                        .get(&key)
                        .copied();
                    if let Some(id) = id {
                        self.remove_id(id);
                    }
                }
            }
            StoreEventKind::FlagsChanged { updates } => {
                for (uid, flags) in updates {
                    let key = (ev.login.clone(), ev.mailbox.to_string(), uid);
                    let changed = {
                        let mut g = self.inner.write().unwrap_or_else(lock_err);
                        let Some(id) = g.by_key.get(&key).copied() else {
                            continue;
                        };
                        let Some(s) = g.by_id.get_mut(&id) else {
                            continue;
                        };
                        let seen = flags.is_seen();
                        if s.seen == seen {
                            continue;
                        }
                        Arc::make_mut(s).seen = seen;
                        Arc::clone(s)
                    };
                    let _ = self.events.send(IndexEvent::Changed(changed));
                }
            }
            StoreEventKind::MailboxDeleted => {
                self.remove_where(|s| s.user == ev.login && s.mailbox == ev.mailbox.as_str());
            }
            StoreEventKind::UserRemoved => self.remove_where(|s| s.user == ev.login),
            StoreEventKind::MailboxRenamed { to } => {
                let from = ev.mailbox;
                let mut g = self.inner.write().unwrap_or_else(lock_err);
                let moved: Vec<u64> = g
                    .by_id
                    .values()
                    .filter(|s| {
                        s.user == ev.login
                            && MailboxName::new(&s.mailbox)
                                .is_ok_and(|n| n == from || n.is_under(&from))
                    })
                    .map(|s| s.id)
                    .collect();
                for id in moved {
                    let Some(mut s) = g.by_id.remove(&id) else {
                        continue;
                    };
                    g.by_key.remove(&s.key());
                    let rest = &s.mailbox[from.as_str().len()..];
                    Arc::make_mut(&mut s).mailbox = format!("{}{rest}", to.as_str());
                    g.by_key.insert(s.key(), id);
                    g.by_id.insert(id, s);
                }
            }
            _ => {}
        }
    }

    /// Sets `\Seen` of an indexed message at once (the store's event then changes nothing):
    /// the API's own writes are visible to its next read.
    pub(crate) fn mark_seen(&self, id: u64, seen: bool) {
        let changed = {
            let mut g = self.inner.write().unwrap_or_else(lock_err);
            match g.by_id.get_mut(&id) {
                Some(s) if s.seen != seen => {
                    Arc::make_mut(s).seen = seen;
                    Some(Arc::clone(s))
                }
                _ => None,
            }
        };
        if let Some(s) = changed {
            let _ = self.events.send(IndexEvent::Changed(s));
        }
    }

    /// Forgets a message at once (see [`mark_seen`](Self::mark_seen)).
    pub(crate) fn forget(&self, id: u64) {
        self.remove_id(id);
    }

    fn remove_where(&self, pred: impl Fn(&MessageSummary) -> bool) {
        let ids: Vec<u64> = {
            let g = self.inner.read().unwrap_or_else(lock_err);
            g.by_id.values().filter(|s| pred(s)).map(|s| s.id).collect()
        };
        for id in ids {
            self.remove_id(id);
        }
    }

    fn remove_id(&self, id: u64) {
        let removed = {
            let mut g = self.inner.write().unwrap_or_else(lock_err);
            match g.by_id.remove(&id) {
                Some(s) => {
                    g.by_key.remove(&s.key());
                    true
                }
                None => false,
            }
        };
        if removed {
            let _ = self.events.send(IndexEvent::Deleted(id));
        }
    }

    /// Summarises and indexes these messages of one mailbox (those not indexed yet).
    async fn add(&self, login: &str, mailbox: &MailboxName, uidvalidity: u32, uids: &[u32]) {
        let todo: Vec<u32> = {
            let g = self.inner.read().unwrap_or_else(lock_err);
            uids.iter()
                .copied()
                .filter(|&u| {
                    !g.by_key
                        .contains_key(&(login.to_owned(), mailbox.to_string(), u))
                })
                .collect()
        };
        if todo.is_empty() {
            return;
        }
        let Some(user) = self.store.user(login) else {
            return;
        };
        let Ok(mb) = user.mailbox(mailbox.as_str()).await else {
            return;
        };
        let Ok(metas) = mb.messages_by_uid(&todo).await else {
            return;
        };
        for meta in metas {
            let Ok(head) = mb
                .fetch_range(meta.uid, 0..HEADER_READ.min(meta.size))
                .await
            else {
                continue;
            };
            let mut s = summarize(&head);
            s.user = login.to_owned();
            s.mailbox = mailbox.to_string();
            s.uidvalidity = uidvalidity;
            s.uid = meta.uid;
            s.size = meta.size;
            s.received_unix = meta.internal_date.timestamp;
            s.received = rfc3339(meta.internal_date.timestamp);
            s.seen = meta.flags.is_seen();
            let s = {
                let mut g = self.inner.write().unwrap_or_else(lock_err);
                if g.by_key.contains_key(&s.key()) {
                    continue;
                }
                s.id = g.next;
                g.next += 1;
                let s = Arc::new(s);
                g.by_key.insert(s.key(), s.id);
                g.by_id.insert(s.id, Arc::clone(&s));
                s
            };
            let _ = self.events.send(IndexEvent::Stored(s));
        }
    }
}

/// The envelope fields of a message's header block.
pub(crate) fn summarize(raw: &[u8]) -> MessageSummary {
    let parsed = mail_parser::MessageParser::new().parse_headers(raw);
    let addrs = |a: Option<&mail_parser::Address<'_>>| -> Vec<Address> {
        a.map(|a| {
            a.iter()
                .filter_map(|x| {
                    Some(Address {
                        name: x.name().map(str::to_owned),
                        address: x.address()?.to_owned(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
    };
    let (from, to, cc, subject, message_id, date) = match &parsed {
        Some(m) => (
            addrs(m.from()),
            addrs(m.to()),
            addrs(m.cc()),
            m.subject().unwrap_or("").to_owned(),
            m.message_id().map(str::to_owned),
            m.header_raw("Date").map(|d| d.trim().to_owned()),
        ),
        None => Default::default(),
    };
    MessageSummary {
        id: 0,
        user: String::new(),
        mailbox: String::new(),
        uidvalidity: 0,
        uid: 0,
        size: raw.len() as u64,
        received: String::new(),
        received_unix: 0,
        date,
        from,
        to,
        cc,
        subject,
        message_id,
        seen: false,
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time.
pub(crate) fn rfc3339(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_601_600), "2026-12-07T00:00:00Z");
    }

    #[test]
    fn summary_of_encoded_headers() {
        let s = summarize(
            b"From: =?utf-8?q?J=C3=B6rg?= <j@example.com>\r\nTo: a@example.com, B <b@example.org>\r\n\
              Subject: =?iso-8859-1?q?caf=E9?=\r\nMessage-ID: <x@y>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n\r\nbody",
        );
        assert_eq!(s.from[0].name.as_deref(), Some("Jörg"));
        assert_eq!(s.from[0].address, "j@example.com");
        assert_eq!(s.to.len(), 2);
        assert_eq!(s.subject, "café");
        assert_eq!(s.message_id.as_deref(), Some("x@y"));
        assert_eq!(s.date.as_deref(), Some("Mon, 7 Dec 2026 10:00:00 +0000"));
        // Garbage gives an empty summary, not a panic.
        let s = summarize(b"\xff\xfe\x00 not a header");
        assert!(s.from.is_empty());
    }
}
