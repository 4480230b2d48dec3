//! The POP3 view of a user's INBOX.

use std::fmt;
use std::future::Future;

use bytes::Bytes;

use crate::backend::LockGuard;
use crate::error::{Result, StoreError};
use crate::name::MailboxName;
use crate::store::User;

/// One message of a maildrop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pop3Message {
    /// The IMAP UID of the message in INBOX.
    pub uid: u32,
    /// Its size in octets (exactly the stored bytes).
    pub size: u64,
    /// INBOX's UIDVALIDITY: with [`uid`](Self::uid), what a stable unique id (POP3 UIDL) is
    /// made from, for as long as the mailbox keeps its UIDVALIDITY.
    pub uidvalidity: u32,
}

/// A POP3 session's snapshot of INBOX (RFC 1939 TRANSACTION state).
///
/// Holds the user's exclusive maildrop lock until dropped. Message numbers are 1-based and
/// fixed for the session. [`delete`](Pop3Maildrop::delete) only marks; the deletions are
/// applied all together by [`commit`](Pop3Maildrop::commit) (QUIT), atomically and durably.
/// Dropping the maildrop without committing deletes nothing.
pub struct Pop3Maildrop {
    user: User,
    _lock: LockGuard,
    messages: Vec<Pop3Message>,
    deleted: Vec<bool>,
}

impl fmt::Debug for Pop3Maildrop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pop3Maildrop")
            .field("user", &self.user.login())
            .field("messages", &self.messages.len())
            .finish_non_exhaustive()
    }
}

impl Pop3Maildrop {
    pub(crate) async fn open(user: User) -> Result<Pop3Maildrop> {
        let (lock, metas, uidvalidity) = user
            .run_pub(|b, l| {
                let lock = b.lock_maildrop(l)?;
                let inbox = MailboxName::inbox();
                let status = b.status(l, &inbox)?;
                let metas = b.messages(l, &inbox, None)?;
                Ok((lock, metas, status.uidvalidity))
            })
            .await?;
        let messages: Vec<Pop3Message> = metas
            .into_iter()
            .map(|m| Pop3Message {
                uid: m.uid,
                size: m.size,
                uidvalidity,
            })
            .collect();
        Ok(Pop3Maildrop {
            user,
            _lock: lock,
            deleted: vec![false; messages.len()],
            messages,
        })
    }

    /// Every message of the snapshot, deleted ones included (message *n* is element *n − 1*).
    pub fn all(&self) -> &[Pop3Message] {
        &self.messages
    }

    /// Message `number` (1-based), unless it does not exist or is marked deleted.
    pub fn message(&self, number: usize) -> Option<&Pop3Message> {
        let i = number.checked_sub(1)?;
        if *self.deleted.get(i)? {
            None
        } else {
            self.messages.get(i)
        }
    }

    /// Is message `number` marked deleted?
    pub fn is_deleted(&self, number: usize) -> bool {
        number
            .checked_sub(1)
            .and_then(|i| self.deleted.get(i))
            .copied()
            .unwrap_or(false)
    }

    /// STAT: the number and total size of the messages not marked deleted.
    pub fn stat(&self) -> (usize, u64) {
        self.messages
            .iter()
            .zip(&self.deleted)
            .filter(|(_, d)| !**d)
            .fold((0, 0), |(n, s), (m, _)| (n + 1, s + m.size))
    }

    /// The bytes of message `number`.
    pub async fn retrieve(&self, number: usize) -> Result<Bytes> {
        let uid = self
            .message(number)
            .ok_or(StoreError::NoSuchMessage(
                u32::try_from(number).unwrap_or(u32::MAX),
            ))?
            .uid;
        self.user
            .run_pub(move |b, l| b.read(l, &MailboxName::inbox(), uid, None))
            .await
    }

    /// The bytes of several messages, in order, read in one go (one trip to the blocking pool
    /// for the disk backend): what a server reading ahead of a client's RETRs asks for. A
    /// number that does not exist or is marked deleted fails the whole call.
    pub async fn retrieve_many(&self, numbers: &[usize]) -> Result<Vec<Bytes>> {
        self.retrieve_many_detached(numbers).await
    }

    /// [`retrieve_many`](Self::retrieve_many) as a future that owns what it needs and does
    /// not borrow the maildrop: a read-ahead task running it never keeps the maildrop (and
    /// so its lock) alive after the session that started it has dropped the maildrop.
    pub fn retrieve_many_detached(
        &self,
        numbers: &[usize],
    ) -> impl Future<Output = Result<Vec<Bytes>>> + Send + 'static {
        let uids: Result<Vec<u32>> = numbers
            .iter()
            .map(|&number| {
                self.message(number)
                    .map(|m| m.uid)
                    .ok_or(StoreError::NoSuchMessage(
                        u32::try_from(number).unwrap_or(u32::MAX),
                    ))
            })
            .collect();
        let user = self.user.clone();
        async move {
            let uids = uids?;
            user.run_pub(move |b, l| {
                let inbox = MailboxName::inbox();
                uids.into_iter()
                    .map(|uid| b.read(l, &inbox, uid, None))
                    .collect()
            })
            .await
        }
    }

    /// DELE: marks message `number`; false if it does not exist or is already marked.
    pub fn delete(&mut self, number: usize) -> bool {
        match number.checked_sub(1).and_then(|i| self.deleted.get_mut(i)) {
            Some(d) if !*d => {
                *d = true;
                true
            }
            _ => false,
        }
    }

    /// RSET: unmarks every message.
    pub fn reset(&mut self) {
        self.deleted.iter_mut().for_each(|d| *d = false);
    }

    /// QUIT in the UPDATE state: removes every marked message, all or nothing, durably, then
    /// releases the lock. Returns the removed UIDs (messages already expunged by someone else
    /// are skipped).
    pub async fn commit(self) -> Result<Vec<u32>> {
        let uids: Vec<u32> = self
            .messages
            .iter()
            .zip(&self.deleted)
            .filter(|(_, d)| **d)
            .map(|(m, _)| m.uid)
            .collect();
        if uids.is_empty() {
            return Ok(uids);
        }
        let origin = self.user.origin();
        let removed = self
            .user
            .run_pub(move |b, l| b.expunge(l, &MailboxName::inbox(), Some(&uids), false, origin))
            .await?;
        self.user.removed(&MailboxName::inbox(), &removed);
        drop(self);
        Ok(removed)
    }
}
