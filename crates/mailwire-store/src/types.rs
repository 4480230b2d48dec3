//! The data types of the store's API.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::flags::{Flag, Flags};
use crate::name::MailboxName;

/// Which backend a [`Store`](crate::Store) uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendKind {
    /// Everything in memory, lost at exit.
    Memory,
    /// Durable Maildir++ folders on disk.
    Maildir,
}

/// The INTERNALDATE of a message: a point in time and the time zone it was given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InternalDate {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub timestamp: i64,
    /// The zone offset east of UTC, in minutes (`+0200` is 120), for display.
    pub offset_minutes: i16,
}

impl InternalDate {
    /// The current time, in UTC.
    pub fn now() -> InternalDate {
        InternalDate::from_system_time(SystemTime::now())
    }

    /// A UTC time from a [`SystemTime`].
    pub fn from_system_time(t: SystemTime) -> InternalDate {
        let timestamp = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
        };
        InternalDate {
            timestamp,
            offset_minutes: 0,
        }
    }

    /// A time given as Unix seconds and a zone offset in minutes.
    pub fn from_unix(timestamp: i64, offset_minutes: i16) -> InternalDate {
        InternalDate {
            timestamp,
            offset_minutes,
        }
    }

    /// The time as a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        if self.timestamp >= 0 {
            UNIX_EPOCH + Duration::from_secs(self.timestamp.unsigned_abs())
        } else {
            UNIX_EPOCH - Duration::from_secs(self.timestamp.unsigned_abs())
        }
    }
}

/// What the store knows about one message without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMeta {
    /// The UID: unique in its mailbox for its UIDVALIDITY, ascending, never reused.
    pub uid: u32,
    /// The modification sequence of the last change of this message (RFC 7162).
    pub modseq: u64,
    /// The flags.
    pub flags: Flags,
    /// INTERNALDATE.
    pub internal_date: InternalDate,
    /// The size in bytes (RFC822.SIZE): exactly the bytes stored.
    pub size: u64,
}

/// The state of a mailbox, as SELECT, EXAMINE and STATUS report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxStatus {
    /// The mailbox.
    pub name: MailboxName,
    /// Number of messages (EXISTS).
    pub exists: u32,
    /// UIDVALIDITY.
    pub uidvalidity: u32,
    /// UIDNEXT: the UID the next message will get (at least).
    pub uidnext: u32,
    /// HIGHESTMODSEQ (RFC 7162).
    pub highest_modseq: u64,
    /// Messages without `\Seen`.
    pub unseen: u32,
    /// Sequence number of the first message without `\Seen`.
    pub first_unseen: Option<u32>,
    /// Messages with `\Deleted`.
    pub deleted: u32,
    /// Sum of the message sizes.
    pub size: u64,
    /// FLAGS: the system flags and every keyword ever used in this mailbox.
    pub flags: Vec<Flag>,
    /// PERMANENTFLAGS: every flag in `flags` is permanent; new keywords can be created (`\*`).
    pub permanent_flags: Vec<Flag>,
    /// Whether clients may create new keywords (`\*` in PERMANENTFLAGS). Always true.
    pub allows_new_keywords: bool,
}

/// One message in the result of [`store_flags`](crate::Mailbox::store_flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagUpdate {
    /// The message.
    pub uid: u32,
    /// Its flags now.
    pub flags: Flags,
    /// Its modseq now.
    pub modseq: u64,
    /// Whether its flags actually changed (a no-op STORE keeps the modseq).
    pub changed: bool,
}

/// The result of [`store_flags`](crate::Mailbox::store_flags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreFlagsResult {
    /// Messages that matched and passed the UNCHANGEDSINCE test, in UID order.
    pub updated: Vec<FlagUpdate>,
    /// Messages not changed because their modseq was above UNCHANGEDSINCE (the `MODIFIED`
    /// response code of RFC 7162 §3.1.3), in UID order.
    pub modified: Vec<u32>,
    /// HIGHESTMODSEQ after the operation.
    pub highest_modseq: u64,
}

/// The result of a COPY or MOVE: what COPYUID (RFC 4315) reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyResult {
    /// UIDVALIDITY of the destination.
    pub uidvalidity: u32,
    /// `(source UID, destination UID)` in ascending source UID order. Source UIDs that did not
    /// exist are absent.
    pub uids: Vec<(u32, u32)>,
}

/// The result of an append: what APPENDUID (RFC 4315) reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    /// UIDVALIDITY of the mailbox.
    pub uidvalidity: u32,
    /// The UID of the new message.
    pub uid: u32,
}

/// Changes since a modseq (CONDSTORE's CHANGEDSINCE, QRESYNC).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// HIGHESTMODSEQ now.
    pub highest_modseq: u64,
    /// Messages whose modseq is above the given one, in UID order.
    pub changed: Vec<MessageMeta>,
    /// UIDs expunged with a modseq above the given one, ascending, as inclusive ranges (for
    /// VANISHED).
    pub vanished: Vec<std::ops::RangeInclusive<u32>>,
    /// Whether `vanished` is exact. The store remembers the newest expunges only (at most
    /// [`StoreOptions::expunge_history`](crate::StoreOptions::expunge_history) per mailbox);
    /// asked about changes since before the oldest it remembers, it answers with every UID
    /// below UIDNEXT that is not in the mailbox, a superset, and `false` here (RFC 7162
    /// §3.2.5.1).
    pub vanished_exact: bool,
}

/// RFC 6154 special-use attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SpecialUse {
    /// `\Sent`
    Sent,
    /// `\Drafts`
    Drafts,
    /// `\Trash`
    Trash,
    /// `\Junk`
    Junk,
    /// `\Archive`
    Archive,
}

impl SpecialUse {
    /// All of them, in the order mailboxes are created for a new user.
    pub const ALL: [SpecialUse; 5] = [
        SpecialUse::Sent,
        SpecialUse::Drafts,
        SpecialUse::Trash,
        SpecialUse::Junk,
        SpecialUse::Archive,
    ];

    /// The attribute as IMAP spells it (`\Sent`).
    pub fn attribute(self) -> &'static str {
        match self {
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Trash => "\\Trash",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Archive => "\\Archive",
        }
    }

    /// The mailbox name created for a new user (`Sent`, `Drafts`, ...).
    pub fn default_name(self) -> &'static str {
        match self {
            SpecialUse::Sent => "Sent",
            SpecialUse::Drafts => "Drafts",
            SpecialUse::Trash => "Trash",
            SpecialUse::Junk => "Junk",
            SpecialUse::Archive => "Archive",
        }
    }

    /// Parses `\Sent` etc. (case-insensitive).
    pub fn from_attribute(s: &str) -> Option<SpecialUse> {
        SpecialUse::ALL
            .into_iter()
            .find(|u| u.attribute().eq_ignore_ascii_case(s))
    }
}

/// A LIST attribute of a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ListAttribute {
    /// `\Noselect`: an implied parent that does not exist itself.
    Noselect,
    /// `\HasChildren`
    HasChildren,
    /// `\HasNoChildren`
    HasNoChildren,
    /// `\Subscribed` (RFC 5258)
    Subscribed,
    /// A special use (RFC 6154).
    SpecialUse(SpecialUse),
}

impl ListAttribute {
    /// The attribute as IMAP spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ListAttribute::Noselect => "\\Noselect",
            ListAttribute::HasChildren => "\\HasChildren",
            ListAttribute::HasNoChildren => "\\HasNoChildren",
            ListAttribute::Subscribed => "\\Subscribed",
            ListAttribute::SpecialUse(u) => u.attribute(),
        }
    }
}

/// One line of a LIST result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// The mailbox name.
    pub name: MailboxName,
    /// Its attributes.
    pub attributes: Vec<ListAttribute>,
    /// Whether it is selectable (false for implied parents).
    pub selectable: bool,
    /// Its special use, if any.
    pub special_use: Option<SpecialUse>,
    /// Whether the user is subscribed to it.
    pub subscribed: bool,
}

/// Who made a change: lets a session ignore its own changes in the event stream.
///
/// Every [`User`](crate::User) handle gets a fresh origin ([`Origin::new`]); mailboxes opened
/// through it share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin(pub u64);

static NEXT_ORIGIN: AtomicU64 = AtomicU64::new(16);

impl Origin {
    /// Deliveries through [`Store::deliver`](crate::Store::deliver).
    pub const DELIVERY: Origin = Origin(1);
    /// Changes made by another process (another store on the same Maildir, a mail client
    /// working on the files) and noticed when the store re-reads the mailbox.
    pub const EXTERNAL: Origin = Origin(2);
    /// Changes made by the store itself (index rebuilds).
    pub const STORE: Origin = Origin(3);

    /// A new origin, distinct from every other in this process.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Origin {
        Origin(NEXT_ORIGIN.fetch_add(1, Ordering::Relaxed))
    }
}

/// A change in a mailbox, published to its subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxEvent {
    /// Who made it.
    pub origin: Origin,
    /// What it was.
    pub change: Change,
}

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// New messages arrived (`* n EXISTS`).
    Exists {
        /// Their UIDs, ascending.
        uids: Vec<u32>,
        /// The number of messages in the mailbox after the change.
        exists: u32,
    },
    /// Messages were expunged.
    Expunged {
        /// Their UIDs, ascending.
        uids: Vec<u32>,
    },
    /// A message's flags changed.
    FlagsChanged {
        /// The message.
        uid: u32,
        /// Its flags now.
        flags: Flags,
        /// Its modseq now.
        modseq: u64,
    },
}

/// A user's quota (RFC 9208): the most octets (the sum of message sizes) and messages their
/// mailboxes may hold. `None` is no limit. Deliveries, APPEND and COPY past it fail with
/// [`StoreError::OverQuota`](crate::StoreError::OverQuota).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    /// Octets (RFC 9208 `STORAGE` counts in units of 1024 of them).
    pub storage: Option<u64>,
    /// Messages (RFC 9208 `MESSAGE`).
    pub messages: Option<u64>,
}

impl Quota {
    /// Whether either resource is limited.
    pub fn is_limited(&self) -> bool {
        self.storage.is_some() || self.messages.is_some()
    }
}

/// What a user's mailboxes hold, against their [`Quota`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// The sum of the message sizes, in octets.
    pub storage: u64,
    /// The number of messages.
    pub messages: u64,
}

/// A change anywhere in a [`Store`](crate::Store), as [`Store::watch`](crate::Store::watch)
/// reports it: which user's mailbox, and what happened there. Made by the store's own
/// operations (delivery, APPEND, STORE, COPY, MOVE, EXPUNGE, POP3 deletions, mailbox
/// deletion and rename, user removal); files another program adds to a Maildir are seen by
/// the sessions that rescan it, not here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreEvent {
    /// The user.
    pub login: String,
    /// The mailbox.
    pub mailbox: MailboxName,
    /// What happened.
    pub kind: StoreEventKind,
}

/// What a [`StoreEvent`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreEventKind {
    /// Messages were stored (durably) with these UIDs.
    Added {
        /// The mailbox's UIDVALIDITY.
        uidvalidity: u32,
        /// The new UIDs, ascending.
        uids: Vec<u32>,
    },
    /// Messages were removed.
    Removed {
        /// Their UIDs, ascending.
        uids: Vec<u32>,
    },
    /// Flags of these messages changed.
    FlagsChanged {
        /// The messages, with their flags now.
        updates: Vec<(u32, Flags)>,
    },
    /// The mailbox was deleted, with its messages.
    MailboxDeleted,
    /// The mailbox (and those below it) was renamed to this name.
    MailboxRenamed {
        /// The new name.
        to: MailboxName,
    },
    /// The user was removed ([`Store::remove_user`](crate::Store::remove_user)); `mailbox`
    /// is INBOX.
    UserRemoved,
}
