//! The adapter to mailwire's embedded store: answers the session's [`Request`]s with a
//! [`mailwire_store::User`] and the selected [`mailwire_store::Mailbox`], and listens to the
//! selected mailbox's change events for IDLE and for the updates after every command.
//!
//! ```
//! use mailwire_imap::proto::server::{Answer, Request};
//! use mailwire_imap::server::store::StoreAdapter;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = mailwire_store::Store::memory();
//! store.add_user("alice", "pw").await.unwrap();
//! store.deliver("alice", &b"Subject: hi\r\n\r\nhello\r\n"[..]).await.unwrap();
//! let mut a = StoreAdapter::new(store);
//! assert!(matches!(a.answer(Request::Login { user: "alice".into() }).await, Ok(Answer::Done)));
//! let r = a.answer(Request::Select { mailbox: "INBOX".into(), read_only: false }).await;
//! let Ok(Answer::Selected { messages, .. }) = r else { panic!() };
//! assert_eq!(messages[0].uid, 1);
//! # });
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use mailwire_store::{
    FetchWant, FlagOp, Flags, InternalDate, Mailbox, MessageMeta, SpecialUse, Store, StoreError,
    User,
};
use tokio::sync::broadcast;

use crate::proto::server::{
    Answer, Failure, FailureKind, FetchContent, MailboxEntry, MailboxState, MessageContent,
    MessageInfo, Request, fetch,
};
use crate::proto::types::datetime::{Date, DateTime};
use crate::proto::types::flag::{Flag, MailboxAttr, StoreKind};
use mailwire_codec::calendar::{civil_from_days, days_from_civil};

/// The sessions logged in per user, shared by the connections of one server.
#[derive(Debug, Default)]
pub struct UserSessions {
    counts: Mutex<HashMap<String, usize>>,
}

impl UserSessions {
    /// A slot for one more session of `user`, unless `max` are logged in already.
    fn enter(self: &Arc<Self>, user: &str, max: usize) -> Option<SessionSlot> {
        let mut m = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(user.to_owned()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(SessionSlot {
            owner: Arc::clone(self),
            user: user.to_owned(),
        })
    }

    /// How many sessions of `user` are logged in.
    pub fn count(&self, user: &str) -> usize {
        let m = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        m.get(user).copied().unwrap_or(0)
    }
}

/// One logged-in session's place in [`UserSessions`], given back when dropped.
#[derive(Debug)]
struct SessionSlot {
    owner: Arc<UserSessions>,
    user: String,
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut m = self.owner.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.user);
            }
        }
    }
}

/// One connection's view of the store.
#[derive(Debug)]
pub struct StoreAdapter {
    store: Store,
    sessions: Option<(Arc<UserSessions>, usize)>,
    slot: Option<SessionSlot>,
    user: Option<User>,
    mailbox: Option<Mailbox>,
    events: Option<broadcast::Receiver<mailwire_store::MailboxEvent>>,
    /// The selected mailbox changed since the session last looked.
    dirty: bool,
}

impl StoreAdapter {
    /// An adapter over `store`; nobody is logged in yet.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            sessions: None,
            slot: None,
            user: None,
            mailbox: None,
            events: None,
            dirty: false,
        }
    }

    /// Counts this connection's login in `sessions`, refusing it (`NO [LIMIT]`) when `max`
    /// sessions of the user are logged in already.
    pub fn with_session_limit(mut self, sessions: Arc<UserSessions>, max: usize) -> Self {
        self.sessions = Some((sessions, max));
        self
    }

    /// Completes when the selected mailbox changes through another session or program (never
    /// when nothing is selected). Cancel-safe.
    pub async fn changed(&mut self) {
        let origin = self.user.as_ref().map(User::origin);
        loop {
            let Some(rx) = self.events.as_mut() else {
                return std::future::pending().await;
            };
            match rx.recv().await {
                Ok(e) if Some(e.origin) == origin => {}
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.dirty = true;
                    // One wake for a burst of changes.
                    self.drain();
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => {
                    self.events = None;
                    self.dirty = true;
                    return;
                }
            }
        }
    }

    fn drain(&mut self) {
        let origin = self.user.as_ref().map(User::origin);
        if let Some(rx) = self.events.as_mut() {
            loop {
                match rx.try_recv() {
                    Ok(e) if Some(e.origin) == origin => {}
                    Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => self.dirty = true,
                    Err(broadcast::error::TryRecvError::Empty) => break,
                    Err(broadcast::error::TryRecvError::Closed) => {
                        self.dirty = true;
                        break;
                    }
                }
            }
        }
    }

    fn user(&self) -> Result<&User, Failure> {
        self.user
            .as_ref()
            .ok_or_else(|| Failure::new(FailureKind::NotAllowed, "Not logged in"))
    }

    fn mailbox(&self) -> Result<&Mailbox, Failure> {
        self.mailbox
            .as_ref()
            .ok_or_else(|| Failure::new(FailureKind::NotAllowed, "No mailbox selected"))
    }

    /// Carries out one request.
    pub async fn answer(&mut self, r: Request) -> Result<Answer, Failure> {
        self.run(r).await.map_err(|e| match e {
            Fail::Store(e) => failure(&e),
            Fail::Session(f) => f,
        })
    }

    async fn run(&mut self, r: Request) -> Result<Answer, Fail> {
        match r {
            Request::Login { user } => {
                let u = match self.store.user(&user) {
                    Some(u) => u,
                    None if self.store.accepts_any_password() => {
                        self.store.create_user_if_missing(&user).await?
                    }
                    None => {
                        return Err(Fail::Session(Failure::new(
                            FailureKind::Unavailable,
                            "No mailboxes for this user",
                        )));
                    }
                };
                if let Some((sessions, max)) = &self.sessions {
                    match sessions.enter(u.login(), *max) {
                        Some(slot) => self.slot = Some(slot),
                        None => {
                            return Err(Fail::Session(Failure::new(
                                FailureKind::Limit,
                                "Too many sessions for this user",
                            )));
                        }
                    }
                }
                self.user = Some(u);
                Ok(Answer::Done)
            }
            Request::List => {
                let user = self.user()?;
                let list = user.mailboxes().await?;
                let mut out: Vec<MailboxEntry> = list
                    .into_iter()
                    .map(|e| MailboxEntry {
                        name: e.name.as_str().to_owned(),
                        selectable: e.selectable,
                        has_children: e
                            .attributes
                            .contains(&mailwire_store::ListAttribute::HasChildren),
                        subscribed: e.subscribed,
                        special_use: e.special_use.map(attr),
                        exists: true,
                    })
                    .collect();
                // Subscriptions outlive their mailboxes (RFC 3501 §6.3.6): the names, and
                // the parents they imply, that no mailbox has.
                let known: std::collections::BTreeSet<String> =
                    out.iter().map(|e| e.name.clone()).collect();
                let mut extra: std::collections::BTreeMap<String, bool> = Default::default();
                for sub in user.subscriptions().await? {
                    if known.contains(&sub) {
                        continue;
                    }
                    let mut parent = sub.as_str();
                    while let Some((p, _)) = parent.rsplit_once('/') {
                        if !known.contains(p) {
                            extra.entry(p.to_owned()).or_insert(false);
                        }
                        parent = p;
                    }
                    extra.insert(sub, true);
                }
                for (name, subscribed) in extra {
                    let prefix = format!("{name}/");
                    out.push(MailboxEntry {
                        has_children: !subscribed || known.iter().any(|k| k.starts_with(&prefix)),
                        name,
                        selectable: false,
                        subscribed,
                        special_use: None,
                        exists: false,
                    });
                }
                Ok(Answer::Mailboxes(out))
            }
            Request::Create {
                mailbox,
                special_use,
            } => {
                let u = self.user()?;
                match special_use
                    .and_then(|a| SpecialUse::from_attribute(&format!("\\{}", a.name())))
                {
                    Some(s) => u.create_special_mailbox(&mailbox, s).await?,
                    None => u.create_mailbox(&mailbox).await?,
                };
                Ok(Answer::Done)
            }
            Request::Delete { mailbox } => {
                self.user()?.delete_mailbox(&mailbox).await?;
                Ok(Answer::Done)
            }
            Request::Rename { from, to } => {
                self.user()?.rename_mailbox(&from, &to).await?;
                Ok(Answer::Done)
            }
            Request::Subscribe { mailbox, subscribe } => {
                let u = self.user()?;
                if subscribe {
                    u.subscribe(&mailbox).await?;
                } else {
                    u.unsubscribe(&mailbox).await?;
                }
                Ok(Answer::Done)
            }
            Request::Status { mailbox } => {
                let st = self.user()?.status(&mailbox).await?;
                Ok(Answer::Status(state(&st)))
            }
            Request::Select { mailbox, .. } => {
                self.mailbox = None;
                self.events = None;
                let mb = self.user()?.mailbox(&mailbox).await?;
                // Listen first, so nothing between the listing and the first event is lost.
                let rx = mb.subscribe().await?;
                let st = mb.select().await?;
                let messages = mb.messages().await?.iter().map(info).collect();
                self.mailbox = Some(mb);
                self.events = Some(rx);
                self.dirty = false;
                Ok(Answer::Selected {
                    state: state(&st),
                    messages,
                })
            }
            Request::Unselect => {
                self.mailbox = None;
                self.events = None;
                self.dirty = false;
                Ok(Answer::Done)
            }
            Request::Append {
                mailbox,
                data,
                flags,
                date,
            } => {
                let flags = store_flags(&flags)?;
                let r = self
                    .user()?
                    .append(&mailbox, data, flags, date.map(internal))
                    .await?;
                if self.mailbox.as_ref().is_some_and(|m| {
                    m.name().as_str() == mailbox
                        || (m.name().is_inbox() && mailbox.eq_ignore_ascii_case("INBOX"))
                }) {
                    self.dirty = true;
                }
                Ok(Answer::Appended {
                    uidvalidity: r.uidvalidity,
                    uid: r.uid,
                })
            }
            Request::Fetch { uids, want } => {
                let mb = self.mailbox()?;
                let structure = want == FetchContent::Structure;
                let fw = FetchWant {
                    raw: true,
                    mime: want != FetchContent::Raw,
                    derived: structure,
                };
                let list = mb.fetch_batch(uids, fw).await?;
                let mut keep = Vec::new();
                let out = list
                    .into_iter()
                    .map(|f| {
                        if !structure {
                            return MessageContent {
                                uid: f.uid,
                                raw: f.raw.unwrap_or_default(),
                                mime: f.mime,
                                structure: None,
                            };
                        }
                        // Rendered once per message, then kept by the store.
                        let rendered = f.derived.or_else(|| {
                            let s = fetch::render_structure(f.raw.as_deref()?, f.mime.as_deref()?);
                            keep.push((f.uid, s.clone()));
                            Some(s)
                        });
                        MessageContent {
                            uid: f.uid,
                            raw: Bytes::new(),
                            mime: None,
                            structure: rendered,
                        }
                    })
                    .collect();
                if !keep.is_empty() {
                    mb.keep_derived(keep).await?;
                }
                Ok(Answer::Messages(out))
            }
            Request::Store {
                uids,
                kind,
                flags,
                unchanged_since,
            } => {
                let op = match kind {
                    StoreKind::Replace => FlagOp::Replace,
                    StoreKind::Add => FlagOp::Add,
                    StoreKind::Remove => FlagOp::Remove,
                };
                let flags = store_flags(&flags)?;
                let r = self
                    .mailbox()?
                    .store_flags(&uids, op, flags, unchanged_since)
                    .await?;
                Ok(Answer::Stored {
                    updated: r
                        .updated
                        .iter()
                        .map(|u| (u.uid, imap_flags(&u.flags), u.modseq))
                        .collect(),
                    modified: r.modified,
                })
            }
            Request::Copy {
                uids,
                mailbox,
                r#move,
            } => {
                let mb = self.mailbox()?;
                let r = if r#move {
                    mb.move_to(&uids, &mailbox).await?
                } else {
                    mb.copy_to(&uids, &mailbox).await?
                };
                if !r#move && mb.name().as_str() == mailbox {
                    self.dirty = true;
                }
                Ok(Answer::Copied {
                    uidvalidity: r.uidvalidity,
                    uids: r.uids,
                })
            }
            Request::Expunge { uids } => {
                let mb = self.mailbox()?;
                let r = match uids {
                    None => mb.expunge().await?,
                    Some(u) => mb.expunge_uids(&u).await?,
                };
                Ok(Answer::Expunged(r))
            }
            Request::Discard { mailbox, uids } => {
                self.user()?.discard(&mailbox, &uids).await?;
                Ok(Answer::Done)
            }
            Request::Quota { mailbox } => {
                let user = self.user()?;
                if let Some(m) = mailbox {
                    user.status(&m).await?;
                }
                let q = user.quota();
                let u = if q.is_limited() {
                    user.usage().await?
                } else {
                    mailwire_store::Usage::default()
                };
                Ok(Answer::Quota {
                    storage: q.storage.map(|l| (u.storage, l)),
                    messages: q.messages.map(|l| (u.messages, l)),
                })
            }
            Request::Vanished { since } => {
                let c = self.mailbox()?.changes_since(since).await?;
                Ok(Answer::Vanished {
                    uids: c.vanished,
                    exact: c.vanished_exact,
                })
            }
            Request::Poll => {
                self.drain();
                if !std::mem::take(&mut self.dirty) {
                    return Ok(Answer::Unchanged);
                }
                let mb = self.mailbox()?;
                let st = mb.select().await?;
                let messages = mb.messages().await?.iter().map(info).collect();
                Ok(Answer::Snapshot {
                    messages,
                    flags: imap_flag_list(&st.flags),
                })
            }
        }
    }
}

enum Fail {
    Store(StoreError),
    Session(Failure),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl From<Failure> for Fail {
    fn from(f: Failure) -> Self {
        Fail::Session(f)
    }
}

/// The session's failure kind for a store error.
pub fn failure(e: &StoreError) -> Failure {
    let kind = match e {
        StoreError::NoSuchMailbox(_) => FailureKind::NoSuchMailbox,
        StoreError::MailboxExists(_) => FailureKind::AlreadyExists,
        StoreError::InvalidMailboxName { .. } => FailureKind::InvalidName,
        StoreError::NotAllowed(_) | StoreError::InvalidFlag(_) => FailureKind::NotAllowed,
        StoreError::MaildropInUse(_) => FailureKind::InUse,
        StoreError::OverQuota(_) => FailureKind::OverQuota,
        StoreError::Io { .. } => FailureKind::Unavailable,
        _ => FailureKind::NotAllowed,
    };
    let text = match kind {
        // Never tell a client about paths on the server.
        FailureKind::Unavailable => "Temporary store failure, try again".to_owned(),
        _ => e.to_string(),
    };
    Failure::new(kind, text)
}

fn attr(s: SpecialUse) -> MailboxAttr {
    match s {
        SpecialUse::Sent => MailboxAttr::Sent,
        SpecialUse::Drafts => MailboxAttr::Drafts,
        SpecialUse::Trash => MailboxAttr::Trash,
        SpecialUse::Junk => MailboxAttr::Junk,
        _ => MailboxAttr::Archive,
    }
}

fn imap_flag_list(flags: &[mailwire_store::Flag]) -> Vec<Flag> {
    flags
        .iter()
        .filter_map(|f| Flag::new(&f.to_string()).ok())
        .collect()
}

fn imap_flags(flags: &Flags) -> Vec<Flag> {
    flags
        .to_strings()
        .iter()
        .filter_map(|s| Flag::new(s).ok())
        .collect()
}

fn store_flags(flags: &[Flag]) -> Result<Flags, Fail> {
    let strings: Vec<String> = flags.iter().map(|f| f.as_str().into_owned()).collect();
    Ok(Flags::parse(&strings)?)
}

fn state(st: &mailwire_store::MailboxStatus) -> MailboxState {
    MailboxState {
        exists: st.exists,
        uidvalidity: st.uidvalidity,
        uidnext: st.uidnext,
        highest_modseq: st.highest_modseq,
        unseen: st.unseen,
        deleted: st.deleted,
        size: st.size,
        flags: imap_flag_list(&st.flags),
    }
}

fn info(m: &MessageMeta) -> MessageInfo {
    MessageInfo {
        uid: m.uid,
        modseq: m.modseq,
        flags: imap_flags(&m.flags),
        internal_date: date_time(m.internal_date),
        internal_timestamp: m.internal_date.timestamp,
        size: m.size,
    }
}

/// An INTERNALDATE as IMAP writes it, in the zone it was given in.
pub fn date_time(d: InternalDate) -> DateTime {
    let local = d.timestamp + i64::from(d.offset_minutes) * 60;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (y, m, day) = civil_from_days(days);
    let fallback = || {
        DateTime::new(Date::new(1970, 1, 1).expect("valid date"), 0, 0, 0, 0).expect("valid time")
    };
    let Ok(y) = u16::try_from(y.clamp(1, 9999)) else {
        return fallback();
    };
    Date::new(y, m as u8, day as u8)
        .and_then(|date| {
            DateTime::new(
                date,
                (secs / 3600) as u8,
                (secs / 60 % 60) as u8,
                (secs % 60) as u8,
                d.offset_minutes,
            )
        })
        .unwrap_or_else(|_| fallback())
}

/// The store's INTERNALDATE of an APPEND date.
pub fn internal(d: DateTime) -> InternalDate {
    let date = d.date();
    let (h, mi, s) = d.time();
    let days = days_from_civil(
        i64::from(date.year()),
        u32::from(date.month()),
        u32::from(date.day()),
    );
    let local = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s);
    InternalDate::from_unix(local - i64::from(d.zone_minutes()) * 60, d.zone_minutes())
}

impl std::fmt::Debug for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fail::Store(e) => write!(f, "{e}"),
            Fail::Session(e) => write!(f, "{}", e.text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        for (ts, off) in [
            (0i64, 0i16),
            (1_700_000_000, 120),
            (951_782_400, -300),
            (-86_400, 0),
        ] {
            let d = InternalDate::from_unix(ts, off);
            let t = date_time(d);
            assert_eq!(internal(t), d, "{ts} {off}");
        }
        let t = date_time(InternalDate::from_unix(1_700_000_000, 120));
        assert_eq!(
            (t.date().year(), t.date().month(), t.date().day(), t.time()),
            (2023, 11, 15, (0, 13, 20))
        );
    }
}
