//! The adapter to mailwire's embedded store: its POP3 view ([`mailwire_store::Pop3Maildrop`])
//! as a [`MaildropProvider`].

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use mailwire_store::{Pop3Maildrop, Store, StoreError};
use tokio::task::JoinHandle;

use crate::proto::{MessageInfo, UniqueId};
use crate::server::{
    BoxFuture, CommitError, LockError, MaildropProvider, MaildropView, MessageReader,
};

/// The maildrops of a [`mailwire_store::Store`]: each user's INBOX, locked exclusively per
/// user by the store, with its stable `UIDVALIDITY.UID` unique ids and atomic, durable
/// deletions. The store is also the server's [`Authenticator`](mailwire_sasl::Authenticator).
///
/// ```
/// use std::sync::Arc;
/// use mailwire_pop3::server::{MaildropProvider, StoreMaildrops, LockError};
/// use mailwire_store::Store;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = Store::memory();
/// store.add_user("alice", "secret").await.unwrap();
/// store.deliver("alice@example.com", &b"Subject: hi\r\n\r\nhello\r\n"[..]).await.unwrap();
/// let drops = StoreMaildrops::new(store.clone());
/// let view = drops.lock("alice").await.unwrap();
/// assert_eq!(view.list().len(), 1);
/// // UIDL: UIDVALIDITY.UID.
/// let status = store.user("alice").unwrap().status("INBOX").await.unwrap();
/// assert_eq!(view.list()[0].uid.as_str(), format!("{}.1", status.uidvalidity));
/// assert!(matches!(drops.lock("alice").await, Err(LockError::InUse)));
/// view.commit_deletions(vec![0]).await.unwrap();
/// assert!(drops.lock("alice").await.unwrap().list().is_empty());
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct StoreMaildrops {
    store: Store,
}

impl StoreMaildrops {
    /// Serves the maildrops of `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

impl MaildropProvider for StoreMaildrops {
    fn lock<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn MaildropView>, LockError>> {
        Box::pin(async move {
            let u = match self.store.user(user) {
                Some(u) => u,
                // `serve --accept-any-auth`: any login works, so its maildrop is made on demand.
                None if self.store.accepts_any_password() => self
                    .store
                    .create_user_if_missing(user)
                    .await
                    .map_err(|e| LockError::Unavailable(e.to_string()))?,
                None => return Err(LockError::Unavailable(format!("no maildrop for {user}"))),
            };
            let maildrop = u.pop3().await.map_err(|e| match e {
                StoreError::MaildropInUse(_) => LockError::InUse,
                other => LockError::Unavailable(other.to_string()),
            })?;
            let mut list = Vec::with_capacity(maildrop.all().len());
            for m in maildrop.all() {
                list.push(MessageInfo {
                    size: m.size,
                    uid: UniqueId::new(uidl(m.uidvalidity, m.uid))
                        .map_err(|e| LockError::Unavailable(e.to_string()))?,
                });
            }
            let view: Box<dyn MaildropView> = Box::new(StoreView {
                maildrop: Arc::new(maildrop),
                list,
                ready: VecDeque::new(),
                inflight: None,
                last: None,
            });
            Ok(view)
        })
    }
}

/// The UIDL unique id of a stored message, `UIDVALIDITY.UID` (RFC 1939 §7: "uniquely
/// identifies a message in a maildrop and persists across sessions"): stable for as long as
/// INBOX keeps its UIDVALIDITY, and changed with it when the UIDs are renumbered.
fn uidl(uidvalidity: u32, uid: u32) -> String {
    format!("{uidvalidity}.{uid}")
}

/// Read-ahead limits. POP3 clients fetch in order (poplib, fetchmail, `mailwire fetch`): while
/// one message is sent, the next ones are read from the store in one batch (one trip to the
/// blocking pool for many files). At most two batches are held: the one being served and the
/// one being read.
const AHEAD_MESSAGES: usize = 64;
/// See [`AHEAD_MESSAGES`]; a single larger message is still read alone.
const AHEAD_BYTES: u64 = 1 << 20;

type Batch = (Vec<usize>, JoinHandle<Result<Vec<Bytes>, StoreError>>);

struct StoreView {
    maildrop: Arc<Pop3Maildrop>,
    list: Vec<MessageInfo>,
    /// Messages read ahead, in index order.
    ready: VecDeque<(usize, Bytes)>,
    /// The batch being read.
    inflight: Option<Batch>,
    /// The last message asked for, to see whether the client reads in order.
    last: Option<usize>,
}

impl StoreView {
    /// Starts reading `count` messages from `from` on, within [`AHEAD_BYTES`] (at least one).
    fn spawn(&self, from: usize, count: usize) -> Batch {
        let mut indexes = Vec::new();
        let mut bytes = 0;
        for (i, m) in self.list.iter().enumerate().skip(from) {
            if !indexes.is_empty() && (indexes.len() >= count || bytes + m.size > AHEAD_BYTES) {
                break;
            }
            bytes += m.size;
            indexes.push(i);
        }
        let numbers: Vec<usize> = indexes.iter().map(|i| i + 1).collect();
        // Detached: the task holds no reference to the maildrop, so dropping the view (a
        // client gone mid-fetch) releases the maildrop lock at once.
        let task = tokio::spawn(self.maildrop.retrieve_many_detached(&numbers));
        (indexes, task)
    }
}

impl StoreView {
    /// Hands out message `index`, which is at the front of what is ready.
    fn take(&mut self, index: usize) -> io::Result<MessageReader> {
        match self.ready.pop_front() {
            Some((i, bytes)) if i == index => Ok(Box::new(io::Cursor::new(bytes))),
            _ => Err(io::Error::other("read-ahead lost a message")),
        }
    }
}

impl MaildropView for StoreView {
    fn list(&self) -> Vec<MessageInfo> {
        self.list.clone()
    }

    fn read(&mut self, index: usize) -> BoxFuture<'_, io::Result<MessageReader>> {
        Box::pin(async move {
            let in_order = self.last.is_none_or(|l| l + 1 == index);
            self.last = Some(index);
            while self.ready.front().is_some_and(|(i, _)| *i < index) {
                self.ready.pop_front();
            }
            if self.ready.front().is_none_or(|(i, _)| *i != index) {
                self.ready.clear();
                let (indexes, task) = match self.inflight.take() {
                    Some(batch) if batch.0.contains(&index) => batch,
                    Some((_, task)) => {
                        task.abort();
                        self.spawn(index, 1)
                    }
                    None => self.spawn(index, 1),
                };
                let bytes = match task.await.map_err(io::Error::other)? {
                    Ok(bytes) => bytes,
                    // A batch fails as a whole: another message of it may be the bad one.
                    Err(_) if indexes.len() > 1 => {
                        let numbers = [index + 1];
                        let one = self.maildrop.retrieve_many(&numbers).await;
                        let bytes = one.map_err(io::Error::other)?;
                        self.ready.extend(std::iter::once(index).zip(bytes));
                        return self.take(index);
                    }
                    Err(e) => return Err(io::Error::other(e)),
                };
                self.ready
                    .extend(indexes.into_iter().zip(bytes).filter(|(i, _)| *i >= index));
            }
            // Read on: a batch when the client goes in order, the next message otherwise.
            let next = self.ready.back().map_or(index + 1, |(i, _)| i + 1);
            if self.inflight.is_none() && next < self.list.len() {
                let count = if in_order { AHEAD_MESSAGES } else { 1 };
                self.inflight = Some(self.spawn(next, count));
            }
            self.take(index)
        })
    }

    fn commit_deletions(
        self: Box<Self>,
        indexes: Vec<usize>,
    ) -> BoxFuture<'static, Result<(), CommitError>> {
        let maildrop = Arc::clone(&self.maildrop);
        // Dropping the view stops its read-ahead, which holds no reference to the maildrop.
        drop(self);
        Box::pin(async move {
            let mut maildrop = Arc::try_unwrap(maildrop)
                .map_err(|_| CommitError("the maildrop is still in use".to_owned()))?;
            for i in indexes {
                maildrop.delete(i + 1);
            }
            maildrop
                .commit()
                .await
                .map(|_| ())
                .map_err(|e| CommitError(e.to_string()))
        })
    }
}

impl Drop for StoreView {
    fn drop(&mut self) {
        if let Some((_, task)) = self.inflight.take() {
            task.abort();
        }
    }
}
