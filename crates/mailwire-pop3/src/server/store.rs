//! The adapter to mailwire's embedded store: its POP3 view ([`mailwire_store::Pop3Maildrop`])
//! as a [`MaildropProvider`].

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
                    uid: UniqueId::new(m.unique_id.clone())
                        .map_err(|e| LockError::Unavailable(e.to_string()))?,
                });
            }
            let view: Box<dyn MaildropView> = Box::new(StoreView {
                maildrop: Arc::new(maildrop),
                list,
                prefetch: None,
            });
            Ok(view)
        })
    }
}

/// A message being read ahead: POP3 clients fetch in order, so while message `n` is sent,
/// `n + 1` is read from the store (one message of memory, disk and network overlapped).
type Prefetch = (usize, JoinHandle<Result<Bytes, StoreError>>);

struct StoreView {
    maildrop: Arc<Pop3Maildrop>,
    list: Vec<MessageInfo>,
    prefetch: Option<Prefetch>,
}

impl StoreView {
    fn fetch(&self, index: usize) -> JoinHandle<Result<Bytes, StoreError>> {
        let maildrop = Arc::clone(&self.maildrop);
        tokio::spawn(async move { maildrop.retrieve(index + 1).await })
    }
}

impl MaildropView for StoreView {
    fn list(&self) -> Vec<MessageInfo> {
        self.list.clone()
    }

    fn read(&mut self, index: usize) -> BoxFuture<'_, io::Result<MessageReader>> {
        Box::pin(async move {
            let task = match self.prefetch.take() {
                Some((i, task)) if i == index => task,
                Some((_, task)) => {
                    task.abort();
                    self.fetch(index)
                }
                None => self.fetch(index),
            };
            if index + 1 < self.list.len() {
                self.prefetch = Some((index + 1, self.fetch(index + 1)));
            }
            let bytes = task
                .await
                .map_err(io::Error::other)?
                .map_err(io::Error::other)?;
            let reader: MessageReader = Box::new(io::Cursor::new(bytes));
            Ok(reader)
        })
    }

    fn commit_deletions(
        self: Box<Self>,
        indexes: Vec<usize>,
    ) -> BoxFuture<'static, Result<(), CommitError>> {
        let mut this = *self;
        let prefetch = this.prefetch.take();
        let maildrop = Arc::clone(&this.maildrop);
        drop(this);
        Box::pin(async move {
            if let Some((_, task)) = prefetch {
                // Let it finish: it holds a reference to the maildrop.
                let _ = task.await;
            }
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
        if let Some((_, task)) = self.prefetch.take() {
            task.abort();
        }
    }
}
