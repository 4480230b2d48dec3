//! The mailbox state both backends share: messages by UID with flags and modseqs, the expunge
//! history, and the event channel.

use std::collections::{BTreeSet, VecDeque};
use std::ops::RangeInclusive;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::flags::{Flag, FlagOp, Flags};
use crate::mime::MimeIndex;
use crate::name::MailboxName;
use crate::types::{
    Change, Changes, FlagUpdate, InternalDate, MailboxEvent, MailboxStatus, MessageMeta, Origin,
};

/// How many events a slow subscriber may fall behind before it sees `Lagged`.
pub const EVENT_CAPACITY: usize = 1024;

/// The newest expunges of a mailbox, for VANISHED (RFC 7162 §3.2.10) and CHANGEDSINCE: at
/// most `limit` `(modseq, uid)` pairs, oldest first. Older ones are forgotten as RFC 7162 §6
/// suggests, leaving one number, `floor`: the highest modseq among the forgotten. The history
/// is exact for any "since modseq M" with M ≥ `floor`.
#[derive(Debug)]
pub(crate) struct ExpungeHistory {
    entries: VecDeque<(u64, u32)>,
    floor: u64,
    limit: usize,
}

impl ExpungeHistory {
    pub fn new(limit: usize) -> ExpungeHistory {
        ExpungeHistory {
            entries: VecDeque::new(),
            floor: 0,
            limit,
        }
    }

    /// Records `uid` as expunged at `modseq`, forgetting the oldest entry past the limit.
    pub fn push(&mut self, modseq: u64, uid: u32) {
        self.entries.push_back((modseq, uid));
        while self.entries.len() > self.limit {
            if let Some((m, _)) = self.entries.pop_front() {
                self.floor = self.floor.max(m);
            }
        }
    }

    /// Raises the floor (a snapshot that forgot entries before it was written).
    pub fn raise_floor(&mut self, floor: u64) {
        self.floor = self.floor.max(floor);
    }

    /// How many entries it keeps.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The highest modseq among the forgotten entries (0: none forgotten).
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.entries.iter().copied()
    }

    /// UIDs expunged after `modseq`, ascending, or `None` if some may have been forgotten.
    fn since(&self, modseq: u64) -> Option<Vec<u32>> {
        if modseq < self.floor {
            return None;
        }
        let mut uids: Vec<u32> = self
            .entries
            .iter()
            .filter(|(ms, _)| *ms > modseq)
            .map(|(_, u)| *u)
            .collect();
        uids.sort_unstable();
        uids.dedup();
        Some(uids)
    }
}

/// Ascending, distinct UIDs as inclusive ranges.
fn ranges(uids: &[u32]) -> Vec<RangeInclusive<u32>> {
    let mut out: Vec<RangeInclusive<u32>> = Vec::new();
    for &u in uids {
        match out.last_mut() {
            Some(r) if r.end().checked_add(1) == Some(u) => *r = *r.start()..=u,
            _ => out.push(u..=u),
        }
    }
    out
}

#[derive(Debug, Clone)]
pub(crate) struct Msg<X> {
    pub uid: u32,
    pub modseq: u64,
    pub flags: Flags,
    pub date: InternalDate,
    pub size: u64,
    pub mime: Option<Arc<MimeIndex>>,
    /// Opaque data a protocol layer derived from the message (see `Mailbox::fetch_batch`).
    pub derived: Option<Bytes>,
    pub extra: X,
}

impl<X> Msg<X> {
    pub fn meta(&self) -> MessageMeta {
        MessageMeta {
            uid: self.uid,
            modseq: self.modseq,
            flags: self.flags.clone(),
            internal_date: self.date,
            size: self.size,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Core<X> {
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub highest_modseq: u64,
    pub msgs: Vec<Msg<X>>,
    /// The newest expunges.
    pub history: ExpungeHistory,
    pub keywords: BTreeSet<String>,
    pub events: broadcast::Sender<MailboxEvent>,
}

/// A planned flag change: index into `msgs` and the new flags.
pub(crate) struct FlagPlan {
    pub changes: Vec<(usize, Flags)>,
    pub unchanged: Vec<usize>,
    pub modified: Vec<u32>,
}

impl<X> Core<X> {
    /// An empty mailbox that remembers at most `history_limit` expunges.
    pub fn new(uidvalidity: u32, history_limit: usize) -> Core<X> {
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        Core {
            uidvalidity,
            uidnext: 1,
            highest_modseq: 1,
            msgs: Vec::new(),
            history: ExpungeHistory::new(history_limit),
            keywords: BTreeSet::new(),
            events,
        }
    }

    pub fn find(&self, uid: u32) -> Option<usize> {
        self.msgs.binary_search_by_key(&uid, |m| m.uid).ok()
    }

    /// Keeps `idx` as the MIME index of `uid` (parsed outside the lock) unless one was kept
    /// meanwhile; returns the one kept.
    pub fn keep_mime(&mut self, uid: u32, idx: Arc<MimeIndex>) -> Arc<MimeIndex> {
        match self.find(uid) {
            Some(i) => self.msgs[i].mime.get_or_insert(idx).clone(),
            None => idx,
        }
    }

    /// Keeps `data` as the derived data of `uid` (replacing what was kept).
    pub fn keep_derived(&mut self, uid: u32, data: Bytes) {
        if let Some(i) = self.find(uid) {
            self.msgs[i].derived = Some(data);
        }
    }

    /// The kept MIME index and derived data of `uid`.
    pub fn cached(&self, uid: u32) -> Option<(Option<Arc<MimeIndex>>, Option<Bytes>)> {
        self.get(uid).map(|m| (m.mime.clone(), m.derived.clone()))
    }

    pub fn get(&self, uid: u32) -> Option<&Msg<X>> {
        self.find(uid).map(|i| &self.msgs[i])
    }

    pub fn next_modseq(&mut self) -> u64 {
        self.highest_modseq += 1;
        self.highest_modseq
    }

    /// Adds a message with a UID above every existing one.
    pub fn push(&mut self, msg: Msg<X>) {
        debug_assert!(self.msgs.last().is_none_or(|m| m.uid < msg.uid));
        self.uidnext = self.uidnext.max(msg.uid.saturating_add(1));
        self.highest_modseq = self.highest_modseq.max(msg.modseq);
        self.keywords
            .extend(msg.flags.keywords().map(str::to_owned));
        self.msgs.push(msg);
    }

    pub fn publish(&self, origin: Origin, change: Change) {
        // No subscribers is not an error.
        let _ = self.events.send(MailboxEvent { origin, change });
    }

    pub fn status(&self, name: &MailboxName) -> MailboxStatus {
        let mut unseen = 0;
        let mut first_unseen = None;
        let mut deleted = 0;
        let mut size = 0;
        for (i, m) in self.msgs.iter().enumerate() {
            if !m.flags.is_seen() {
                unseen += 1;
                if first_unseen.is_none() {
                    first_unseen = u32::try_from(i + 1).ok();
                }
            }
            if m.flags.is_deleted() {
                deleted += 1;
            }
            size += m.size;
        }
        let mut flags = vec![
            Flag::Answered,
            Flag::Flagged,
            Flag::Deleted,
            Flag::Seen,
            Flag::Draft,
        ];
        flags.extend(self.keywords.iter().map(|k| Flag::Keyword(k.clone())));
        MailboxStatus {
            name: name.clone(),
            exists: u32::try_from(self.msgs.len()).unwrap_or(u32::MAX),
            uidvalidity: self.uidvalidity,
            uidnext: self.uidnext,
            highest_modseq: self.highest_modseq,
            unseen,
            first_unseen,
            deleted,
            size,
            permanent_flags: flags.clone(),
            flags,
            allows_new_keywords: true,
        }
    }

    pub fn metas(&self, uids: Option<&[u32]>) -> Vec<MessageMeta> {
        match uids {
            None => self.msgs.iter().map(Msg::meta).collect(),
            Some(uids) => {
                let mut v: Vec<u32> = uids.to_vec();
                v.sort_unstable();
                v.dedup();
                v.into_iter()
                    .filter_map(|u| self.get(u).map(Msg::meta))
                    .collect()
            }
        }
    }

    /// Indexes of the messages with these UIDs (sorted, deduplicated, existing only).
    pub fn indexes(&self, uids: &[u32]) -> Vec<usize> {
        let mut v: Vec<usize> = uids.iter().filter_map(|&u| self.find(u)).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    pub fn plan_flags(
        &self,
        uids: &[u32],
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<u64>,
    ) -> FlagPlan {
        let mut plan = FlagPlan {
            changes: Vec::new(),
            unchanged: Vec::new(),
            modified: Vec::new(),
        };
        for i in self.indexes(uids) {
            let m = &self.msgs[i];
            if unchanged_since.is_some_and(|u| m.modseq > u) {
                plan.modified.push(m.uid);
                continue;
            }
            let new = m.flags.apply(op, flags);
            if new == m.flags {
                plan.unchanged.push(i);
            } else {
                plan.changes.push((i, new));
            }
        }
        plan
    }

    /// Applies a planned change with one new modseq for all; publishes events.
    pub fn commit_flags(
        &mut self,
        plan: &FlagPlan,
        modseq: u64,
        origin: Origin,
    ) -> Vec<FlagUpdate> {
        self.highest_modseq = self.highest_modseq.max(modseq);
        let mut out = Vec::new();
        for (i, f) in &plan.changes {
            let m = &mut self.msgs[*i];
            m.flags = f.clone();
            m.modseq = modseq;
            self.keywords.extend(f.keywords().map(str::to_owned));
        }
        let mut all: Vec<(usize, bool)> = plan
            .changes
            .iter()
            .map(|(i, _)| (*i, true))
            .chain(plan.unchanged.iter().map(|&i| (i, false)))
            .collect();
        all.sort_unstable();
        for (i, changed) in all {
            let m = &self.msgs[i];
            out.push(FlagUpdate {
                uid: m.uid,
                flags: m.flags.clone(),
                modseq: m.modseq,
                changed,
            });
            if changed {
                self.publish(
                    origin,
                    Change::FlagsChanged {
                        uid: m.uid,
                        flags: m.flags.clone(),
                        modseq: m.modseq,
                    },
                );
            }
        }
        out
    }

    /// Removes the messages with these UIDs, recording them as expunged at `modseq`.
    /// Returns the removed messages in UID order. Does not publish.
    pub fn remove(&mut self, uids: &[u32], modseq: u64) -> Vec<Msg<X>> {
        let set: BTreeSet<u32> = uids.iter().copied().collect();
        let mut removed = Vec::new();
        let mut kept = Vec::with_capacity(self.msgs.len());
        for m in self.msgs.drain(..) {
            if set.contains(&m.uid) {
                removed.push(m);
            } else {
                kept.push(m);
            }
        }
        self.msgs = kept;
        self.highest_modseq = self.highest_modseq.max(modseq);
        for m in &removed {
            self.history.push(modseq, m.uid);
        }
        removed
    }

    pub fn changes_since(&self, modseq: u64) -> Changes {
        let changed = self
            .msgs
            .iter()
            .filter(|m| m.modseq > modseq)
            .map(Msg::meta)
            .collect();
        let (vanished, vanished_exact) = match self.history.since(modseq) {
            Some(uids) => (ranges(&uids), true),
            // Forgotten expunges: every UID below UIDNEXT not in the mailbox (RFC 7162
            // §3.2.5.1: as if asked for all expunged messages).
            None => (self.missing_uids(), false),
        };
        Changes {
            highest_modseq: self.highest_modseq,
            changed,
            vanished,
            vanished_exact,
        }
    }

    /// The UIDs below UIDNEXT that are not in the mailbox, as ranges (at most one more than
    /// there are messages).
    fn missing_uids(&self) -> Vec<RangeInclusive<u32>> {
        let mut out = Vec::new();
        let mut next = 1u32;
        for m in &self.msgs {
            if m.uid > next {
                out.push(next..=m.uid - 1);
            }
            next = m.uid.saturating_add(1);
        }
        if self.uidnext > next {
            out.push(next..=self.uidnext - 1);
        }
        out
    }

    /// The `(uid, modseq)` pairs, for computing the events of an external reload.
    pub fn fingerprint(&self) -> Vec<(u32, u64)> {
        self.msgs.iter().map(|m| (m.uid, m.modseq)).collect()
    }

    /// Publishes the difference between `old` (a fingerprint) and the current state.
    pub fn publish_diff(&self, old: &[(u32, u64)], origin: Origin) {
        let mut added = Vec::new();
        let mut gone = Vec::new();
        let mut changed = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < self.msgs.len() {
            match (old.get(i), self.msgs.get(j)) {
                (Some(&(ou, om)), Some(m)) if ou == m.uid => {
                    if om != m.modseq {
                        changed.push(j);
                    }
                    i += 1;
                    j += 1;
                }
                (Some(&(ou, _)), Some(m)) if ou < m.uid => {
                    gone.push(ou);
                    i += 1;
                }
                (Some(&(ou, _)), None) => {
                    gone.push(ou);
                    i += 1;
                }
                (_, Some(m)) => {
                    added.push(m.uid);
                    j += 1;
                }
                (None, None) => break,
            }
        }
        if !gone.is_empty() {
            self.publish(origin, Change::Expunged { uids: gone });
        }
        for j in changed {
            let m = &self.msgs[j];
            self.publish(
                origin,
                Change::FlagsChanged {
                    uid: m.uid,
                    flags: m.flags.clone(),
                    modseq: m.modseq,
                },
            );
        }
        if !added.is_empty() {
            self.publish(
                origin,
                Change::Exists {
                    uids: added,
                    exists: u32::try_from(self.msgs.len()).unwrap_or(u32::MAX),
                },
            );
        }
    }
}
