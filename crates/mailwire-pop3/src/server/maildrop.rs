//! The maildrop backend the server reads from: [`MaildropProvider`] (lock a user's maildrop)
//! and [`MaildropView`] (one locked session's snapshot), with [`MemoryMaildrops`], an
//! in-memory implementation for tests and examples.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::io::AsyncRead;

pub use crate::proto::{CommitError, LockError};
use crate::proto::{MessageInfo, UniqueId};

/// A boxed, sendable future (the backend traits are object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A message's bytes, read as a stream: the server dot-stuffs and sends it chunk by chunk,
/// so a backend never needs to hold more than it wants to.
pub type MessageReader = Box<dyn AsyncRead + Send + Unpin>;

/// Where the server finds maildrops.
pub trait MaildropProvider: Send + Sync + 'static {
    /// Locks `user`'s maildrop exclusively (RFC 1939 §4: "the POP3 server then acquires an
    /// exclusive-access lock on the maildrop"). The lock is held until the view is committed
    /// or dropped. A second lock of the same user fails with [`LockError::InUse`] meanwhile.
    fn lock<'a>(&'a self, user: &'a str)
    -> BoxFuture<'a, Result<Box<dyn MaildropView>, LockError>>;
}

/// One session's view of a locked maildrop. Message indexes are 0-based positions in
/// [`list`](Self::list), fixed for the session.
pub trait MaildropView: Send {
    /// The messages: size (exactly the bytes [`read`](Self::read) yields) and a unique id
    /// that stays the same across sessions.
    fn list(&self) -> Vec<MessageInfo>;

    /// Opens message `index` for reading.
    fn read(&mut self, index: usize) -> BoxFuture<'_, io::Result<MessageReader>>;

    /// Removes the messages at `indexes` (ascending) all together, and returns only once the
    /// removal is durable; then releases the lock. An error means nothing is known to be
    /// removed. Dropping a view without calling this removes nothing.
    fn commit_deletions(
        self: Box<Self>,
        indexes: Vec<usize>,
    ) -> BoxFuture<'static, Result<(), CommitError>>;
}

#[derive(Default)]
struct UserDrop {
    /// (unique id, message)
    messages: Vec<(String, Bytes)>,
    locked: bool,
    next_id: u64,
}

#[derive(Default)]
struct Shared {
    users: HashMap<String, UserDrop>,
    uid_prefix: u64,
}

/// In-memory maildrops: an exclusive lock per user, unique ids that never repeat, and
/// deletions applied at commit. For tests, examples and benchmarks.
///
/// ```
/// use mailwire_pop3::server::{MaildropProvider, MemoryMaildrops, LockError};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let drops = MemoryMaildrops::new();
/// drops.add_message("alice", &b"Subject: hi\r\n\r\nhello\r\n"[..]);
/// let view = drops.lock("alice").await.unwrap();
/// assert_eq!(view.list().len(), 1);
/// assert!(matches!(drops.lock("alice").await, Err(LockError::InUse)));
/// view.commit_deletions(vec![0]).await.unwrap();
/// assert!(drops.messages("alice").is_empty());
/// # });
/// ```
#[derive(Clone, Default)]
pub struct MemoryMaildrops {
    shared: Arc<Mutex<Shared>>,
}

impl std::fmt::Debug for MemoryMaildrops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryMaildrops").finish_non_exhaustive()
    }
}

impl MemoryMaildrops {
    /// No users, no messages.
    pub fn new() -> Self {
        let shared = Shared {
            users: HashMap::new(),
            uid_prefix: std::process::id().into(),
        };
        Self {
            shared: Arc::new(Mutex::new(shared)),
        }
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends a message to `user`'s maildrop; returns its unique id.
    pub fn add_message(&self, user: &str, message: impl Into<Bytes>) -> String {
        let mut shared = self.shared();
        let prefix = shared.uid_prefix;
        let drop = shared.users.entry(user.to_owned()).or_default();
        drop.next_id += 1;
        let id = format!("{prefix}.{}", drop.next_id);
        drop.messages.push((id.clone(), message.into()));
        id
    }

    /// The messages in `user`'s maildrop now, in order.
    pub fn messages(&self, user: &str) -> Vec<Bytes> {
        self.shared()
            .users
            .get(user)
            .map(|d| d.messages.iter().map(|(_, m)| m.clone()).collect())
            .unwrap_or_default()
    }

    /// Whether a session holds `user`'s maildrop.
    pub fn is_locked(&self, user: &str) -> bool {
        self.shared().users.get(user).is_some_and(|d| d.locked)
    }
}

impl MaildropProvider for MemoryMaildrops {
    fn lock<'a>(
        &'a self,
        user: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn MaildropView>, LockError>> {
        Box::pin(async move {
            let mut shared = self.shared();
            let drop = shared.users.entry(user.to_owned()).or_default();
            if drop.locked {
                return Err(LockError::InUse);
            }
            drop.locked = true;
            let snapshot = drop.messages.clone();
            let mut list = Vec::with_capacity(snapshot.len());
            for (id, m) in &snapshot {
                let uid =
                    UniqueId::new(id.clone()).map_err(|e| LockError::Unavailable(e.to_string()))?;
                list.push(MessageInfo {
                    size: m.len() as u64,
                    uid,
                });
            }
            let view: Box<dyn MaildropView> = Box::new(MemoryView {
                guard: Guard {
                    shared: Arc::clone(&self.shared),
                    user: user.to_owned(),
                },
                snapshot,
                list,
            });
            Ok(view)
        })
    }
}

/// Releases the lock when dropped.
struct Guard {
    shared: Arc<Mutex<Shared>>,
    user: String,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(d) = shared.users.get_mut(&self.user) {
            d.locked = false;
        }
    }
}

struct MemoryView {
    guard: Guard,
    snapshot: Vec<(String, Bytes)>,
    list: Vec<MessageInfo>,
}

impl MaildropView for MemoryView {
    fn list(&self) -> Vec<MessageInfo> {
        self.list.clone()
    }

    fn read(&mut self, index: usize) -> BoxFuture<'_, io::Result<MessageReader>> {
        let message = self.snapshot.get(index).map(|(_, m)| m.clone());
        Box::pin(async move {
            let m = message.ok_or_else(|| io::Error::other("no such message"))?;
            let reader: MessageReader = Box::new(io::Cursor::new(m));
            Ok(reader)
        })
    }

    fn commit_deletions(
        self: Box<Self>,
        indexes: Vec<usize>,
    ) -> BoxFuture<'static, Result<(), CommitError>> {
        Box::pin(async move {
            let ids: Vec<&String> = indexes
                .iter()
                .filter_map(|&i| self.snapshot.get(i).map(|(id, _)| id))
                .collect();
            {
                let mut shared = self
                    .guard
                    .shared
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if let Some(d) = shared.users.get_mut(&self.guard.user) {
                    d.messages.retain(|(id, _)| !ids.contains(&id));
                }
            }
            drop(self);
            Ok(())
        })
    }
}
