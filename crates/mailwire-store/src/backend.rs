//! The trait both backends implement.
//!
//! It is synchronous: the maildir backend blocks on the filesystem (fsync), so
//! [`Store`](crate::Store) runs its calls on tokio's blocking thread pool
//! (`spawn_blocking`); the memory backend never blocks for long and is called in place.
//! Logins are already normalised (lower case) when they reach a backend.

use std::any::Any;
use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::error::Result;
use crate::flags::{FlagOp, Flags};
use crate::mime::MimeIndex;
use crate::name::MailboxName;
use crate::types::{
    AppendResult, BackendKind, Changes, CopyResult, InternalDate, MailboxEvent, MailboxStatus,
    MessageMeta, Origin, SpecialUse, StoreFlagsResult,
};

/// A message to add.
pub(crate) struct NewMessage {
    pub data: Bytes,
    pub flags: Flags,
    pub date: InternalDate,
    /// The MIME index when the caller already has one (a copy); otherwise it is made on the
    /// first FETCH that needs it and kept.
    pub mime: Option<Arc<MimeIndex>>,
}

/// A held maildrop lock; released on drop.
pub(crate) type LockGuard = Box<dyn Any + Send + Sync>;

pub(crate) trait Backend: Send + Sync + 'static {
    fn kind(&self) -> BackendKind;
    /// Whether calls may block on I/O (and so belong on the blocking pool).
    fn blocking(&self) -> bool;

    /// Makes sure the user's INBOX exists; true if the user's storage was created now.
    fn ensure_user(&self, login: &str) -> Result<bool>;
    /// The existing (selectable) mailboxes, INBOX included, with their special use.
    fn list_mailboxes(&self, login: &str) -> Result<Vec<(MailboxName, Option<SpecialUse>)>>;
    fn create_mailbox(
        &self,
        login: &str,
        name: &MailboxName,
        special: Option<SpecialUse>,
    ) -> Result<()>;
    fn set_special_use(
        &self,
        login: &str,
        name: &MailboxName,
        special: Option<SpecialUse>,
    ) -> Result<()>;
    /// Deletes one mailbox (not its children); not INBOX.
    fn delete_mailbox(&self, login: &str, name: &MailboxName) -> Result<()>;
    /// Renames `from` (if it exists) and every mailbox below it; not INBOX.
    fn rename_mailbox(&self, login: &str, from: &MailboxName, to: &MailboxName) -> Result<()>;
    fn subscriptions(&self, login: &str) -> Result<BTreeSet<String>>;
    fn set_subscribed(&self, login: &str, name: &str, on: bool) -> Result<()>;

    fn status(&self, login: &str, name: &MailboxName) -> Result<MailboxStatus>;
    fn messages(
        &self,
        login: &str,
        name: &MailboxName,
        uids: Option<&[u32]>,
    ) -> Result<Vec<MessageMeta>>;
    fn append(
        &self,
        login: &str,
        name: &MailboxName,
        msg: NewMessage,
        origin: Origin,
    ) -> Result<AppendResult>;
    fn read(
        &self,
        login: &str,
        name: &MailboxName,
        uid: u32,
        range: Option<Range<u64>>,
    ) -> Result<Bytes>;
    fn mime(&self, login: &str, name: &MailboxName, uid: u32) -> Result<Arc<MimeIndex>>;
    /// The MIME index and derived data kept for `uid`, without reading the message.
    fn cached(&self, login: &str, name: &MailboxName, uid: u32) -> Result<Cached>;
    /// Keeps a MIME index parsed outside (returns the one kept) .
    fn keep_mime(
        &self,
        login: &str,
        name: &MailboxName,
        uid: u32,
        idx: Arc<MimeIndex>,
    ) -> Result<Arc<MimeIndex>>;
    /// Keeps derived data for messages (unknown UIDs are ignored).
    fn keep_derived(&self, login: &str, name: &MailboxName, items: Vec<(u32, Bytes)>)
    -> Result<()>;
    #[allow(clippy::too_many_arguments)]
    fn store_flags(
        &self,
        login: &str,
        name: &MailboxName,
        uids: &[u32],
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<u64>,
        origin: Origin,
    ) -> Result<StoreFlagsResult>;
    /// Expunges `uids` (all messages when `None`); with `require_deleted` only those with
    /// `\Deleted`. Atomic: all or nothing. Returns the expunged UIDs, ascending.
    fn expunge(
        &self,
        login: &str,
        name: &MailboxName,
        uids: Option<&[u32]>,
        require_deleted: bool,
        origin: Origin,
    ) -> Result<Vec<u32>>;
    fn copy(
        &self,
        login: &str,
        from: &MailboxName,
        uids: &[u32],
        to: &MailboxName,
        origin: Origin,
    ) -> Result<CopyResult>;
    fn changes_since(&self, login: &str, name: &MailboxName, modseq: u64) -> Result<Changes>;
    fn events(&self, login: &str, name: &MailboxName) -> Result<broadcast::Receiver<MailboxEvent>>;
    /// Takes the user's exclusive POP3 maildrop lock, or fails with `MaildropInUse`.
    fn lock_maildrop(&self, login: &str) -> Result<LockGuard>;
}

/// Sorted, deduplicated copy of a UID list.
/// What [`Backend::cached`] returns: the kept MIME index and derived data.
pub(crate) type Cached = (Option<Arc<MimeIndex>>, Option<Bytes>);

pub(crate) fn sorted(uids: &[u32]) -> Vec<u32> {
    let mut v = uids.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

/// Clamps a byte range to a length.
pub(crate) fn clamp(range: Option<Range<u64>>, len: usize) -> Range<usize> {
    match range {
        None => 0..len,
        Some(r) => {
            let s = usize::try_from(r.start).unwrap_or(usize::MAX).min(len);
            let e = usize::try_from(r.end).unwrap_or(usize::MAX).min(len).max(s);
            s..e
        }
    }
}
