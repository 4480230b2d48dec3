//! The embedded mail store of mailwire: one [`Store`] that SMTP/LMTP deliver into and POP3
//! and IMAP read and change.
//!
//! # What it is
//! - **Users** with a plaintext-equivalent password (a [`Secret`](mailwire_codec::Secret)) or
//!   SCRAM verifiers; the store *is* the SASL [`Authenticator`](mailwire_sasl::Authenticator).
//!   Logins are case-insensitive and `LOGIN@any-domain` resolves to LOGIN. A new user gets
//!   INBOX and the RFC 6154 special-use mailboxes `Sent`, `Drafts`, `Trash`, `Junk`, `Archive`.
//! - **Mailboxes** named in UTF-8 with `/` as the hierarchy delimiter ([`MailboxName`];
//!   modified UTF-7 conversions included): create, delete, rename (INBOX too, RFC 3501
//!   §6.3.5), subscriptions, LIST with `\HasChildren`/`\HasNoChildren`/`\Noselect` and
//!   special-use attributes.
//! - **Messages** stored byte for byte: per-mailbox UIDs that only ascend and are never
//!   reused, UIDVALIDITY, INTERNALDATE, size, flags (system flags and keywords), a modseq per
//!   message and HIGHESTMODSEQ (RFC 7162), append returning APPENDUID data, copy and move
//!   returning COPYUID data (RFC 4315), EXPUNGE and UID EXPUNGE, STORE with UNCHANGEDSINCE,
//!   and "changes since modseq N" including expunged UIDs (QRESYNC VANISHED), from a history
//!   of the newest expunges bounded by [`StoreOptions::expunge_history`] (RFC 7162 §6).
//! - **Change events** per mailbox ([`MailboxEvent`]: exists, expunged, flags changed with
//!   modseq), tagged with the [`Origin`] (session) that made them, for IDLE and NOOP.
//! - A **POP3 view** ([`Pop3Maildrop`]): an exclusive maildrop lock, a snapshot of INBOX with
//!   stable UIDL ids, deletions applied all together and durably at commit.
//! - A **MIME index** ([`MimeIndex`]) made once per message, on the first FETCH that needs it
//!   (delivery does no parsing), and kept: the part tree with
//!   byte offsets, the header fields and the BODYSTRUCTURE fields (built on `mail-parser`), so FETCH of `BODY[1.2.MIME]`,
//!   `HEADER.FIELDS` or partial ranges needs no reparsing. Malformed MIME never fails a
//!   delivery.
//! - Two **backends** behind one internal (synchronous) trait, run by one conformance test
//!   suite: `memory` ([`Store::memory`], the default for `mailwire serve`, ephemeral) and
//!   `maildir` ([`Store::maildir`], durable).
//!
//! Every operation is `async`. The maildir backend's calls run on tokio's blocking pool
//! (`spawn_blocking`) because they wait for `fsync`; they never block the runtime's workers.
//!
//! # The maildir backend
//! **Layout** (DESIGN.md): `DIR/<login>/` is the user's INBOX as a Maildir (`cur/ new/ tmp/`);
//! mailbox `A/B` is the Maildir++ folder `DIR/<login>/.A.B/` (with a `maildirfolder` file).
//! Each level is modified UTF-7, with `.` also encoded (`a.b` is `.a&AC4-b`), see
//! [`MailboxName::maildir_folder`]. Message files are named
//! `<secs>.M<usecs>P<pid>Q<n>.<host>,S=<size>,U=<uid>` and carry the system flags in the
//! standard info suffix (`:2,DFRST`, sorted; other letters found there are kept), so mutt and
//! Dovecot see the messages and flags. Mail written by other programs is adopted.
//!
//! **Index**: per folder, `mailwire-index` holds UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, and per
//! message its UID, modseq, INTERNALDATE (with zone), size, flags with keywords and file name,
//! plus the expunge history (for VANISHED). It is a snapshot (written tmp + fsync + rename +
//! fsync of the folder) followed by appended records, each line checksummed; a torn last line
//! is cut off. When the records outgrow the snapshot it is compacted. A missing or
//! unreadable index is rebuilt from the files, with a new UIDVALIDITY (issued from the per-user
//! `mailwire-uidvalidity`, always above every earlier one).
//!
//! **Locking**: an exclusive `flock` (std `File::lock`) on `mailwire-index.lock` around every
//! operation on a folder, so several `Store`s and processes can share a directory; each
//! operation first re-reads what others appended to the index (by inode and length) and, when
//! `new/` or `cur/` changed (mtime), rescans the files to pick up deliveries, flag renames and
//! deletions by other programs; those changes are published as events with
//! [`Origin::EXTERNAL`]. User-level changes (create, delete, rename, subscriptions) take
//! `mailwire-user.lock`; the POP3 maildrop lock is a `try_lock` on `mailwire-pop3.lock`.
//!
//! **Durability** (before an append returns): the message is written to `tmp/` and
//! fdatasynced, renamed into `new/` (or `cur/` when it has flags) under its UID-bearing name,
//! and the directory is fsynced; then the index record is appended (fdatasynced too when it
//! carries keywords, which no file name records). Should a crash lose index records, the
//! UIDs and system flags come back from the file names, and HIGHESTMODSEQ jumps ahead by 2^20
//! so no modseq is reused. Flag changes rename the file, fsync the directory and fdatasync
//! the record. An expunge fdatasyncs its index record first (the commit point: all or
//! nothing), then unlinks the files and fsyncs the directories; an interrupted expunge is
//! finished at the next open. A MOVE is a copy (hard links) then an expunge: a crash between
//! leaves the messages in both mailboxes, never in neither.
//!
//! # What it does not do
//! - No `\Recent` flag: IMAP4rev2 (RFC 9051) removed it; an IMAP4rev1 server may report
//!   `RECENT 0`.
//! - Sequence numbers are per session: the store lists messages by UID and publishes events;
//!   the IMAP session keeps its own sequence map.
//! - No quotas, ACLs, METADATA, SEARCH or SORT (a server searches over [`MessageMeta`] and
//!   [`MimeIndex`]), no shared or public namespaces.
//! - Credentials are never written to disk: with the maildir backend, users are registered
//!   again at each start (their mail stays).
//! - Maildir keywords are kept in `mailwire-index` only (no `dovecot-keywords` file): Dovecot
//!   and mutt see the system flags, not the keywords. The zone of an INTERNALDATE recovered
//!   from a file's mtime is UTC.
//! - Renaming a folder with children renames one directory at a time: a crash in the middle
//!   leaves some children under the old name.
//! - The MIME index is parsed on first use and kept in memory, not persisted: after a
//!   restart, mail on disk is parsed again when first fetched.
//!
//! # Example
//! ```
//! use mailwire_store::{Change, Flag, FlagOp, Flags, Store};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = Store::memory();
//! store.add_user("alice", "secret").await?;
//!
//! // Session 1 selects INBOX and listens for changes.
//! let session1 = store.user("alice").unwrap();
//! let inbox = session1.mailbox("INBOX").await?;
//! let mut events = inbox.subscribe().await?;
//!
//! // SMTP delivers (alice@example.com is alice).
//! let delivered = store
//!     .deliver("alice@example.com", &b"Subject: hi\r\n\r\nHello\r\n"[..])
//!     .await?;
//! assert_eq!(delivered.uid, 1);
//!
//! // Another session marks it \Seen.
//! let session2 = store.user("ALICE").unwrap();
//! let inbox2 = session2.mailbox("INBOX").await?;
//! inbox2
//!     .store_flags(&[1], FlagOp::Add, Flags::new().with(Flag::Seen), None)
//!     .await?;
//!
//! // Session 1 sees both changes, and who made them.
//! let e = events.recv().await.unwrap();
//! assert!(matches!(e.change, Change::Exists { exists: 1, .. }));
//! let e = events.recv().await.unwrap();
//! assert_eq!(e.origin, session2.origin());
//! assert!(matches!(e.change, Change::FlagsChanged { uid: 1, .. }));
//!
//! let meta = inbox.message(1).await?;
//! assert!(meta.flags.is_seen());
//! assert_eq!(inbox.fetch(1).await?, &b"Subject: hi\r\n\r\nHello\r\n"[..]);
//! assert_eq!(inbox.mime(1).await?.root.header_value(b"Subject: hi\r\n\r\nHello\r\n", "subject"), Some(&b" hi\r\n"[..]));
//! # Ok::<(), mailwire_store::StoreError>(())
//! # }).unwrap();
//! ```

#![forbid(unsafe_code)]

mod auth;
mod backend;
mod core;
mod error;
mod flags;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod maildir;
mod memory;
pub mod mime;
mod name;
mod pop3;
pub mod postgres;
mod store;
mod types;

pub use crate::core::EVENT_CAPACITY;
pub use error::{Result, StoreError};
pub use flags::{Flag, FlagOp, Flags, MAX_KEYWORD_LEN};
pub use mime::{Disposition, HeaderField, MimeIndex, MimePart, SectionKind};
pub use name::{DELIMITER, MAX_NAME_LEN, MailboxName};
pub use pop3::{Pop3Maildrop, Pop3Message};
pub use store::{
    DEFAULT_EXPUNGE_HISTORY, FetchWant, Fetched, MAX_LOGIN_LEN, Mailbox, Store, StoreOptions, User,
    WATCH_CAPACITY, normalize_login,
};
pub use types::{
    AppendResult, BackendKind, Change, Changes, CopyResult, FlagUpdate, InternalDate,
    ListAttribute, ListEntry, MailboxEvent, MailboxStatus, MessageMeta, Origin, Quota, SpecialUse,
    StoreEvent, StoreEventKind, StoreFlagsResult, Usage,
};
