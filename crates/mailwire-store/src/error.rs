//! The store's error type.

use std::io;
use std::path::PathBuf;

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No user with that login (or address).
    #[error("no such user: {0}")]
    NoSuchUser(String),
    /// A user with that login already exists.
    #[error("user already exists: {0}")]
    UserExists(String),
    /// The login cannot be used (empty, too long, `/`, a leading `.`, control characters...).
    #[error("invalid login name {0:?}")]
    InvalidLogin(String),
    /// The mailbox does not exist (or is only an implied parent, `\Noselect`).
    #[error("no such mailbox: {0}")]
    NoSuchMailbox(String),
    /// The mailbox (or, for a rename, one of the names it would produce) already exists.
    #[error("mailbox already exists: {0}")]
    MailboxExists(String),
    /// The mailbox name is refused; nothing was touched.
    #[error("invalid mailbox name {name:?}: {reason}")]
    InvalidMailboxName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The operation is not allowed on this mailbox (deleting INBOX, renaming a mailbox into
    /// itself...).
    #[error("not allowed: {0}")]
    NotAllowed(&'static str),
    /// A flag that is not a system flag or a valid keyword.
    #[error("invalid flag {0:?}")]
    InvalidFlag(String),
    /// No message with that UID.
    #[error("no such message: UID {0}")]
    NoSuchMessage(u32),
    /// The POP3 maildrop of that user is locked by another session (POP3 `-ERR [IN-USE]`).
    #[error("maildrop of {0} is in use by another session")]
    MaildropInUse(String),
    /// The user's [`Quota`](crate::Quota) would be exceeded (IMAP `NO [OVERQUOTA]`, SMTP
    /// `552 5.2.2`); nothing was stored.
    #[error("quota of {0} exceeded")]
    OverQuota(String),
    /// A filesystem operation failed (maildir backend).
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The background task running a blocking operation panicked or was cancelled.
    #[error("store task failed")]
    TaskFailed,
}

impl StoreError {
    /// The filesystem is full (`ENOSPC`) or the disk quota is spent (`EDQUOT`): a temporary
    /// condition that goes when space returns (SMTP `452 4.3.1`).
    pub fn is_storage_full(&self) -> bool {
        match self {
            StoreError::Io { source, .. } => {
                source.kind() == io::ErrorKind::StorageFull
                    || source.kind() == io::ErrorKind::QuotaExceeded
                    || matches!(source.raw_os_error(), Some(28 | 122))
            }
            _ => false,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> StoreError {
        let path = path.into();
        move |source| StoreError::Io { path, source }
    }
}

/// Shorthand for results of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
