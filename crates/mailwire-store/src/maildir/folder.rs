//! One Maildir folder with its `mailwire-index`: loading, re-reading other processes' changes,
//! noticing files changed by other programs, and the durable write paths.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::core::{Core, Msg};
use crate::error::{Result, StoreError};
use crate::flags::{FlagOp, Flags};
use crate::maildir::journal::{self, INDEX, Loc, Rec};
use crate::mime::MimeIndex;
use crate::types::{Change, FlagUpdate, InternalDate, Origin};

/// The lock file beside the index (the index itself is replaced on compaction).
pub(crate) const LOCK: &str = "mailwire-index.lock";

/// Compact when the journal is larger than this and than 3× the last snapshot.
const COMPACT_MIN: u64 = 256 * 1024;

pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(StoreError::io(dir))
}

fn mtime(p: &Path) -> Option<SystemTime> {
    fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// An exclusive `flock` held until drop.
pub(crate) struct FileLock(File);

impl FileLock {
    pub fn acquire(file: &File, path: &Path) -> Result<FileLock> {
        let f = file.try_clone().map_err(StoreError::io(path))?;
        f.lock().map_err(StoreError::io(path))?;
        Ok(FileLock(f))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// A file found in `new/` or `cur/`.
pub(crate) struct Found {
    pub loc: Loc,
    pub flags: Flags,
    pub name: String,
}

/// The size of a message file as the protocols send it. A file mailwire wrote (its name
/// carries `,U=`) is served byte for byte: its length. One another program put in the folder
/// is read once, when first found, and its bare LFs count as CRLF.
fn wire_size(dir: &Path, f: &Found, len: u64) -> u64 {
    if uid_in_name(&f.loc.base).is_some() {
        return len;
    }
    match fs::read(dir.join(&f.name)) {
        Ok(d) => len + crate::maildir::bare_lfs(&d) as u64,
        Err(_) => len,
    }
}

/// Lists the message files of a Maildir folder, by base name.
pub(crate) fn list_files(dir: &Path) -> Result<HashMap<String, Found>> {
    let mut out = HashMap::new();
    for (sub, in_new) in [("new", true), ("cur", false)] {
        let d = dir.join(sub);
        let rd = match fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StoreError::io(&d)(e)),
        };
        for entry in rd {
            let entry = entry.map_err(StoreError::io(&d))?;
            let Ok(name) = entry.file_name().into_string() else {
                tracing::warn!(dir = %d.display(), "skipping a message file whose name is not UTF-8");
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let (loc, flags) = Loc::from_file_name(&name, in_new);
            out.insert(
                loc.base.clone(),
                Found {
                    loc,
                    flags,
                    name: format!("{sub}/{name}"),
                },
            );
        }
    }
    Ok(out)
}

/// Writes a complete index file atomically: tmp, fsync, rename, fsync the folder.
pub(crate) fn write_index(dir: &Path, core: &Core<Loc>) -> Result<u64> {
    let mut buf = String::new();
    buf.push_str(
        &Rec::Header {
            uidvalidity: core.uidvalidity,
            uidnext: core.uidnext,
            highest: core.highest_modseq,
        }
        .line(),
    );
    for m in &core.msgs {
        buf.push_str(
            &Rec::Add {
                uid: m.uid,
                modseq: m.modseq,
                date: m.date,
                size: m.size,
                flags: m.flags.clone(),
                loc: m.extra.clone(),
            }
            .line(),
        );
    }
    if core.history.floor() > 0 {
        buf.push_str(
            &Rec::Forgotten {
                floor: core.history.floor(),
            }
            .line(),
        );
    }
    let history: Vec<(u64, u32)> = core.history.entries().collect();
    let mut i = 0;
    while i < history.len() {
        let modseq = history[i].0;
        let mut uids = Vec::new();
        while i < history.len() && history[i].0 == modseq && uids.len() < 2000 {
            uids.push(history[i].1);
            i += 1;
        }
        buf.push_str(&Rec::Expunge { modseq, uids }.line());
    }
    let tmp = dir.join(format!("{INDEX}.tmp"));
    let path = dir.join(INDEX);
    let mut f = File::create(&tmp).map_err(StoreError::io(&tmp))?;
    f.write_all(buf.as_bytes()).map_err(StoreError::io(&tmp))?;
    f.sync_all().map_err(StoreError::io(&tmp))?;
    drop(f);
    fs::rename(&tmp, &path).map_err(StoreError::io(&path))?;
    fsync_dir(dir)?;
    Ok(buf.len() as u64)
}

/// Issues a UIDVALIDITY for a folder of the user at `user_dir`: above every value issued
/// before for that user (kept in `mailwire-uidvalidity`), above `above`, and at least the
/// current time in seconds.
pub(crate) fn next_uidvalidity(user_dir: &Path, above: Option<u32>) -> Result<u32> {
    let path = user_dir.join("mailwire-uidvalidity");
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(StoreError::io(&path))?;
    let _lock = FileLock::acquire(&f, &path)?;
    let mut s = String::new();
    f.read_to_string(&mut s).map_err(StoreError::io(&path))?;
    let last: u32 = s.trim().parse().unwrap_or(0);
    let now = u32::try_from(InternalDate::now().timestamp.max(1)).unwrap_or(u32::MAX - 1);
    let v = now
        .max(last.saturating_add(1))
        .max(above.map_or(1, |a| a.saturating_add(1)));
    f.set_len(0).map_err(StoreError::io(&path))?;
    f.seek(SeekFrom::Start(0)).map_err(StoreError::io(&path))?;
    f.write_all(format!("{v}\n").as_bytes())
        .map_err(StoreError::io(&path))?;
    f.sync_all().map_err(StoreError::io(&path))?;
    Ok(v)
}

/// A Maildir folder as this process knows it.
pub(crate) struct Folder {
    pub dir: PathBuf,
    pub user_dir: PathBuf,
    pub lock_file: File,
    pub core: Core<Loc>,
    journal: Option<File>,
    ino: u64,
    len: u64,
    snapshot_len: u64,
    mtimes: [Option<SystemTime>; 2],
    /// The UIDVALIDITY whose `mailwire-cache` records are in `core` (`None`: not loaded).
    pub cache_for: Option<u32>,
    /// Appends staged (written and fsynced) and waiting to be committed: whoever holds the
    /// folder next commits all of them with one directory fsync (group commit).
    pub pending: Arc<std::sync::Mutex<Vec<Queued>>>,
}

/// A staged append waiting in [`Folder::pending`], and where its result goes.
pub(crate) struct Queued {
    pub staged: Staged,
    pub origin: Origin,
    pub done: std::sync::mpsc::SyncSender<Result<(u32, u32)>>,
}

/// A message about to be added: a file in the folder's `tmp/` (already synced).
pub(crate) struct Staged {
    pub tmp: PathBuf,
    pub base: String,
    pub size: u64,
    pub flags: Flags,
    pub date: InternalDate,
    pub mime: Option<Arc<MimeIndex>>,
}

impl Folder {
    /// Opens the folder at `dir` (which must be a Maildir); nothing is read until
    /// [`refresh`](Folder::refresh).
    /// It remembers at most `history_limit` expunges.
    pub fn open(dir: PathBuf, user_dir: PathBuf, history_limit: usize) -> Result<Folder> {
        if !dir.join("cur").is_dir() {
            return Err(StoreError::NoSuchMailbox(dir.display().to_string()));
        }
        let lp = dir.join(LOCK);
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lp)
            .map_err(StoreError::io(&lp))?;
        Ok(Folder {
            dir,
            user_dir,
            lock_file,
            core: Core::new(0, history_limit),
            journal: None,
            ino: 0,
            len: 0,
            snapshot_len: 0,
            mtimes: [None, None],
            cache_for: None,
            pending: Arc::default(),
        })
    }

    pub fn lock(&self) -> Result<FileLock> {
        FileLock::acquire(&self.lock_file, &self.dir.join(LOCK))
    }

    pub fn path_of(&self, m: &Msg<Loc>) -> PathBuf {
        self.dir.join(m.extra.rel_path(&m.flags))
    }

    /// Brings the state up to date with the disk. Call with the lock held.
    pub fn refresh(&mut self) -> Result<()> {
        let ipath = self.dir.join(INDEX);
        match fs::metadata(&ipath) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !self.dir.join("cur").is_dir() {
                    return Err(StoreError::NoSuchMailbox(self.dir.display().to_string()));
                }
                let empty = |sub: &str| {
                    fs::read_dir(self.dir.join(sub)).map_or(true, |mut d| d.next().is_none())
                };
                if empty("cur") && empty("new") {
                    tracing::debug!(dir = %self.dir.display(), "new folder: creating its index");
                } else {
                    tracing::warn!(dir = %self.dir.display(), "index missing: rebuilding it, UIDVALIDITY changes");
                }
                let old = (self.ino != 0).then_some(self.core.uidvalidity);
                self.rebuild(old)?;
            }
            Err(e) => return Err(StoreError::io(&ipath)(e)),
            Ok(md) => {
                if md.ino() != self.ino || md.len() < self.len {
                    let fp = self.core.fingerprint();
                    let old_uv = self.core.uidvalidity;
                    self.load_full()?;
                    if old_uv == self.core.uidvalidity {
                        self.core.publish_diff(&fp, Origin::EXTERNAL);
                    }
                } else if md.len() > self.len {
                    let fp = self.core.fingerprint();
                    self.load_tail()?;
                    self.core.publish_diff(&fp, Origin::EXTERNAL);
                }
            }
        }
        let now = [mtime(&self.dir.join("new")), mtime(&self.dir.join("cur"))];
        if now != self.mtimes {
            self.scan()?;
            self.mtimes = [mtime(&self.dir.join("new")), mtime(&self.dir.join("cur"))];
        }
        Ok(())
    }

    fn open_journal(&mut self) -> Result<()> {
        let p = self.dir.join(INDEX);
        let f = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&p)
            .map_err(StoreError::io(&p))?;
        self.ino = f.metadata().map_err(StoreError::io(&p))?.ino();
        self.journal = Some(f);
        Ok(())
    }

    fn load_full(&mut self) -> Result<()> {
        self.open_journal()?;
        let p = self.dir.join(INDEX);
        let mut data = Vec::new();
        if let Some(f) = self.journal.as_mut() {
            f.seek(SeekFrom::Start(0)).map_err(StoreError::io(&p))?;
            f.read_to_end(&mut data).map_err(StoreError::io(&p))?;
        }
        let (recs, valid) = journal::parse(&data);
        let uidvalidity = match recs.first() {
            Some(Rec::Header { uidvalidity, .. }) => *uidvalidity,
            _ => {
                tracing::warn!(dir = %self.dir.display(), "index corrupt: rebuilding it, UIDVALIDITY changes");
                let old =
                    (self.ino != 0 && self.core.uidvalidity != 0).then_some(self.core.uidvalidity);
                return self.rebuild(old);
            }
        };
        let mut core: Core<Loc> = Core::new(uidvalidity, self.core.history.limit());
        core.events = self.core.events.clone();
        let mut unlink = Vec::new();
        for r in recs {
            apply(&mut core, r, &self.dir, &mut unlink);
        }
        // Keep the parsed MIME indexes of messages we already knew.
        if core.uidvalidity == self.core.uidvalidity {
            for m in &mut core.msgs {
                if let Some(old) = self.core.get(m.uid) {
                    m.mime = old.mime.clone();
                }
            }
        }
        self.core = core;
        self.cache_for = None;
        self.cut_tail(valid as u64, data.len() as u64)?;
        self.snapshot_len = self.len;
        finish_unlinks(&self.dir, unlink);
        Ok(())
    }

    fn load_tail(&mut self) -> Result<()> {
        let p = self.dir.join(INDEX);
        let mut data = Vec::new();
        if let Some(f) = self.journal.as_mut() {
            f.seek(SeekFrom::Start(self.len))
                .map_err(StoreError::io(&p))?;
            f.read_to_end(&mut data).map_err(StoreError::io(&p))?;
        }
        let (recs, valid) = journal::parse(&data);
        let mut unlink = Vec::new();
        for r in recs {
            apply(&mut self.core, r, &self.dir, &mut unlink);
        }
        let start = self.len;
        self.cut_tail(start + valid as u64, start + data.len() as u64)?;
        finish_unlinks(&self.dir, unlink);
        Ok(())
    }

    /// Records `valid` as the applied length and cuts off a torn tail.
    fn cut_tail(&mut self, valid: u64, total: u64) -> Result<()> {
        self.len = valid;
        if valid < total {
            tracing::warn!(dir = %self.dir.display(), cut = total - valid, "index: cutting off a torn tail");
            if let Some(f) = self.journal.as_ref() {
                let p = self.dir.join(INDEX);
                f.set_len(valid).map_err(StoreError::io(&p))?;
                f.sync_all().map_err(StoreError::io(&p))?;
            }
        }
        Ok(())
    }

    /// Rebuilds the index from the files (new UIDVALIDITY, UIDs in delivery order).
    fn rebuild(&mut self, old_uidvalidity: Option<u32>) -> Result<()> {
        let uv = next_uidvalidity(&self.user_dir, old_uidvalidity)?;
        let mut core: Core<Loc> = Core::new(uv, self.core.history.limit());
        core.events = self.core.events.clone();
        let files = list_files(&self.dir)?;
        let mut entries: Vec<(SystemTime, String, Found, u64)> = Vec::new();
        for (_, f) in files {
            let md = match fs::metadata(self.dir.join(&f.name)) {
                Ok(md) => md,
                Err(_) => continue,
            };
            let t = md.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let size = wire_size(&self.dir, &f, md.len());
            entries.push((t, f.loc.base.clone(), f, size));
        }
        entries.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        for (t, _, f, size) in entries {
            let uid = core.uidnext;
            let modseq = core.next_modseq();
            core.push(Msg {
                uid,
                modseq,
                flags: f.flags,
                date: InternalDate::from_system_time(t),
                size,
                mime: None,
                derived: None,
                extra: f.loc,
            });
        }
        self.snapshot_len = write_index(&self.dir, &core)?;
        self.core = core;
        self.cache_for = None;
        self.open_journal()?;
        self.len = self.snapshot_len;
        Ok(())
    }

    /// Appends records to the journal and makes them durable.
    fn write(&mut self, recs: &[Rec]) -> Result<()> {
        self.write_opt(recs, true)
    }

    /// Appends records; with `sync`, fdatasyncs them. Without, they must be recoverable from
    /// the folder itself (file names carry UID and system flags) should they be lost.
    fn write_opt(&mut self, recs: &[Rec], sync: bool) -> Result<()> {
        if recs.is_empty() {
            return Ok(());
        }
        if self.journal.is_none() {
            self.open_journal()?;
        }
        let text: String = recs.iter().map(Rec::line).collect();
        let p = self.dir.join(INDEX);
        if let Some(f) = self.journal.as_mut() {
            f.write_all(text.as_bytes()).map_err(StoreError::io(&p))?;
            if sync {
                f.sync_data().map_err(StoreError::io(&p))?;
            }
        }
        self.len += text.len() as u64;
        Ok(())
    }

    /// Compacts the journal when it has grown large. Call with the lock held, at the end of an
    /// operation (never between an index record and the file changes it commits).
    pub fn maybe_compact(&mut self) -> Result<()> {
        if self.len > COMPACT_MIN && self.len > 3 * self.snapshot_len {
            self.compact()?;
        }
        Ok(())
    }

    /// Replaces the index by a snapshot of the current state.
    pub fn compact(&mut self) -> Result<()> {
        self.snapshot_len = write_index(&self.dir, &self.core)?;
        self.open_journal()?;
        self.len = self.snapshot_len;
        Ok(())
    }

    /// Notices files added, removed or renamed by other programs.
    fn scan(&mut self) -> Result<()> {
        let mut files = list_files(&self.dir)?;
        let fp = self.core.fingerprint();
        let mut recs = Vec::new();
        let mut gone = Vec::new();
        let mut changed: Vec<(usize, Flags, Loc)> = Vec::new();
        let mut moved: Vec<(usize, Loc)> = Vec::new();
        for (i, m) in self.core.msgs.iter().enumerate() {
            match files.remove(&m.extra.base) {
                None => gone.push(m.uid),
                Some(f) => {
                    if f.flags.system_bits() != m.flags.system_bits() {
                        let kws = m.flags.keywords().map(str::to_owned).collect();
                        changed.push((i, Flags::from_parts(f.flags.system_bits(), kws), f.loc));
                    } else if f.loc != m.extra {
                        moved.push((i, f.loc));
                    }
                }
            }
        }
        if gone.is_empty() && changed.is_empty() && moved.is_empty() && files.is_empty() {
            return Ok(());
        }
        // New files: those named with a UID at or above UIDNEXT are ours whose index record
        // was lost in a crash: they get that UID back, in UID order. The others (delivered by
        // other programs) follow in delivery order.
        let mut recovered: Vec<(u32, SystemTime, Found, u64)> = Vec::new();
        let mut fresh: Vec<(SystemTime, String, Found, u64)> = Vec::new();
        for (_, f) in files {
            if let Ok(md) = fs::metadata(self.dir.join(&f.name)) {
                let t = md.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                match uid_in_name(&f.loc.base) {
                    Some(u) if u >= self.core.uidnext => {
                        let size = wire_size(&self.dir, &f, md.len());
                        recovered.push((u, t, f, size));
                    }
                    _ => {
                        let size = wire_size(&self.dir, &f, md.len());
                        fresh.push((t, f.loc.base.clone(), f, size));
                    }
                }
            }
        }
        recovered.sort_by_key(|r| r.0);
        recovered.dedup_by_key(|r| r.0);
        fresh.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        if !recovered.is_empty() {
            // Modseqs given out with the lost records are unknown: jump far past them so that
            // no modseq is ever reused.
            tracing::warn!(dir = %self.dir.display(), n = recovered.len(), "index: recovering lost records from file names");
            self.core.highest_modseq += 1 << 20;
        }
        let modseq =
            if gone.is_empty() && changed.is_empty() && fresh.is_empty() && recovered.is_empty() {
                0
            } else {
                self.core.next_modseq()
            };
        for (i, flags, loc) in changed {
            let m = &mut self.core.msgs[i];
            m.flags = flags;
            m.extra = loc;
            m.modseq = modseq;
            recs.push(Rec::Flags {
                uid: m.uid,
                modseq,
                flags: m.flags.clone(),
                loc: m.extra.clone(),
            });
        }
        for (i, loc) in moved {
            let m = &mut self.core.msgs[i];
            m.extra = loc;
            recs.push(Rec::Loc {
                uid: m.uid,
                loc: m.extra.clone(),
            });
        }
        if !gone.is_empty() {
            self.core.remove(&gone, modseq);
            recs.push(Rec::Expunge { modseq, uids: gone });
        }
        let fresh = recovered
            .into_iter()
            .map(|(u, t, f, size)| (Some(u), t, f, size))
            .chain(fresh.into_iter().map(|(t, _, f, size)| (None, t, f, size)));
        for (known, t, f, size) in fresh {
            let uid = known.unwrap_or(self.core.uidnext);
            let date = InternalDate::from_system_time(t);
            recs.push(Rec::Add {
                uid,
                modseq,
                date,
                size,
                flags: f.flags.clone(),
                loc: f.loc.clone(),
            });
            self.core.push(Msg {
                uid,
                modseq,
                flags: f.flags,
                date,
                size,
                mime: None,
                derived: None,
                extra: f.loc,
            });
        }
        self.write(&recs)?;
        self.core.publish_diff(&fp, Origin::EXTERNAL);
        Ok(())
    }

    /// Applies changes by other programs now (call with the lock held, after a refresh).
    pub fn rescan(&mut self) -> Result<()> {
        self.mtimes = [None, None];
        self.scan()?;
        self.touched();
        Ok(())
    }

    fn touched(&mut self) {
        self.mtimes = [mtime(&self.dir.join("new")), mtime(&self.dir.join("cur"))];
    }

    /// Moves staged files into `new/` (no flags) or `cur/` (flags), makes that durable, then
    /// records them in the index. Returns the UIDs. Call with the lock held, after refresh.
    pub fn commit_new(&mut self, staged: Vec<Staged>, origin: Origin) -> Result<Vec<u32>> {
        if staged.is_empty() {
            return Ok(Vec::new());
        }
        let mut recs = Vec::with_capacity(staged.len());
        let mut msgs = Vec::with_capacity(staged.len());
        let (mut sync_new, mut sync_cur) = (false, false);
        let modseq = self.core.next_modseq();
        let mut done = 0;
        let mut result = Ok(());
        for (uid, s) in (self.core.uidnext..).zip(staged.iter()) {
            let letters = s.flags.maildir_letters();
            let loc = Loc {
                base: format!("{},U={uid}", s.base),
                new: letters.is_empty(),
                info: !letters.is_empty(),
                extra: String::new(),
            };
            let dest = self.dir.join(loc.rel_path(&s.flags));
            if let Err(e) = fs::rename(&s.tmp, &dest) {
                result = Err(StoreError::io(&dest)(e));
                break;
            }
            done += 1;
            if loc.new {
                sync_new = true;
            } else {
                sync_cur = true;
            }
            recs.push(Rec::Add {
                uid,
                modseq,
                date: s.date,
                size: s.size,
                flags: s.flags.clone(),
                loc: loc.clone(),
            });
            msgs.push(Msg {
                uid,
                modseq,
                flags: s.flags.clone(),
                date: s.date,
                size: s.size,
                mime: s.mime.clone(),
                derived: None,
                extra: loc,
            });
        }
        for s in &staged[done..] {
            let _ = fs::remove_file(&s.tmp);
        }
        if sync_new {
            fsync_dir(&self.dir.join("new"))?;
        }
        if sync_cur {
            fsync_dir(&self.dir.join("cur"))?;
        }
        // The UID and system flags are in the file names, made durable by the directory fsync
        // above: the index records need no fsync of their own unless they carry keywords.
        let keywords = staged.iter().any(|s| s.flags.keywords().next().is_some());
        self.write_opt(&recs, keywords)?;
        let uids: Vec<u32> = msgs.iter().map(|m| m.uid).collect();
        for m in msgs {
            self.core.push(m);
        }
        self.touched();
        if !uids.is_empty() {
            let exists = u32::try_from(self.core.msgs.len()).unwrap_or(u32::MAX);
            self.core.publish(
                origin,
                Change::Exists {
                    uids: uids.clone(),
                    exists,
                },
            );
        }
        result.map(|()| uids)
    }

    /// Changes flags: renames the files, makes that durable, records it.
    pub fn store_flags(
        &mut self,
        uids: &[u32],
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<u64>,
        origin: Origin,
    ) -> Result<(Vec<FlagUpdate>, Vec<u32>)> {
        let mut plan = self.core.plan_flags(uids, op, flags, unchanged_since);
        if plan.changes.is_empty() {
            let updated = self
                .core
                .commit_flags(&plan, self.core.highest_modseq, origin);
            return Ok((updated, plan.modified));
        }
        let modseq = self.core.highest_modseq + 1;
        let mut recs = Vec::new();
        let (mut sync_new, mut sync_cur) = (false, false);
        let mut vanished = false;
        let mut kept = Vec::new();
        for (i, new_flags) in std::mem::take(&mut plan.changes) {
            let m = &self.core.msgs[i];
            let old_path = self.path_of(m);
            let loc = Loc {
                new: false,
                info: true,
                ..m.extra.clone()
            };
            let new_path = self.dir.join(loc.rel_path(&new_flags));
            if old_path != new_path {
                match fs::rename(&old_path, &new_path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        vanished = true;
                        continue;
                    }
                    Err(e) => return Err(StoreError::io(&old_path)(e)),
                }
                sync_cur = true;
                sync_new |= m.extra.new;
            }
            recs.push(Rec::Flags {
                uid: m.uid,
                modseq,
                flags: new_flags.clone(),
                loc: loc.clone(),
            });
            kept.push((i, new_flags, loc));
        }
        if sync_new {
            fsync_dir(&self.dir.join("new"))?;
        }
        if sync_cur {
            fsync_dir(&self.dir.join("cur"))?;
        }
        self.write(&recs)?;
        for (i, _, loc) in &kept {
            self.core.msgs[*i].extra = loc.clone();
        }
        plan.changes = kept.into_iter().map(|(i, f, _)| (i, f)).collect();
        if !plan.changes.is_empty() {
            self.core.next_modseq();
        }
        let updated = self.core.commit_flags(&plan, modseq, origin);
        self.touched();
        if vanished {
            // Another program removed or renamed a file under us: pick that up.
            self.rescan()?;
        }
        Ok((updated, plan.modified))
    }

    /// Expunges: the index record is the commit point (all or nothing), then the files go.
    pub fn expunge(&mut self, victims: &[u32], origin: Origin) -> Result<()> {
        if victims.is_empty() {
            return Ok(());
        }
        let modseq = self.core.highest_modseq + 1;
        self.write(&[Rec::Expunge {
            modseq,
            uids: victims.to_vec(),
        }])?;
        self.core.next_modseq();
        let removed = self.core.remove(victims, modseq);
        let paths: Vec<PathBuf> = removed.iter().map(|m| self.path_of(m)).collect();
        finish_unlinks(&self.dir, paths);
        self.touched();
        self.core.publish(
            origin,
            Change::Expunged {
                uids: victims.to_vec(),
            },
        );
        Ok(())
    }
}

/// The UID this backend wrote into a file name (`,U=<uid>`), if any.
fn uid_in_name(base: &str) -> Option<u32> {
    base.split(',')
        .find_map(|p| p.strip_prefix("U="))
        .and_then(|v| v.parse().ok())
}

/// Applies one record (loading). Expunged messages' files are collected for unlinking.
fn apply(core: &mut Core<Loc>, r: Rec, dir: &Path, unlink: &mut Vec<PathBuf>) {
    match r {
        Rec::Header {
            uidnext, highest, ..
        } => {
            core.uidnext = core.uidnext.max(uidnext);
            core.highest_modseq = core.highest_modseq.max(highest);
        }
        Rec::Add {
            uid,
            modseq,
            date,
            size,
            flags,
            loc,
        } => {
            if core.msgs.last().is_none_or(|m| m.uid < uid) {
                core.push(Msg {
                    uid,
                    modseq,
                    flags,
                    date,
                    size,
                    mime: None,
                    derived: None,
                    extra: loc,
                });
            }
        }
        Rec::Flags {
            uid,
            modseq,
            flags,
            loc,
        } => {
            core.highest_modseq = core.highest_modseq.max(modseq);
            core.keywords.extend(flags.keywords().map(str::to_owned));
            if let Some(i) = core.find(uid) {
                let m = &mut core.msgs[i];
                m.flags = flags;
                m.modseq = modseq;
                m.extra = loc;
            }
        }
        Rec::Loc { uid, loc } => {
            if let Some(i) = core.find(uid) {
                core.msgs[i].extra = loc;
            }
        }
        Rec::Expunge { modseq, uids } => {
            let removed = core.remove(&uids, modseq);
            // History-only entries (compacted snapshot) still count for VANISHED.
            for u in &uids {
                if !removed.iter().any(|m| m.uid == *u) {
                    core.history.push(modseq, *u);
                }
            }
            unlink.extend(removed.iter().map(|m| dir.join(m.extra.rel_path(&m.flags))));
        }
        Rec::Forgotten { floor } => core.history.raise_floor(floor),
        Rec::Bump { uidnext, highest } => {
            core.uidnext = core.uidnext.max(uidnext);
            core.highest_modseq = core.highest_modseq.max(highest);
        }
    }
}

/// Removes expunged files (already gone is fine) and makes that durable.
fn finish_unlinks(dir: &Path, paths: Vec<PathBuf>) {
    if paths.is_empty() {
        return;
    }
    let mut dirs = Vec::new();
    for p in paths {
        match fs::remove_file(&p) {
            Ok(()) => {
                if let Some(parent) = p.parent()
                    && !dirs.iter().any(|d: &PathBuf| d == parent)
                {
                    dirs.push(parent.to_path_buf());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // The file may have been renamed by a mail client: find it by base name.
                if let Some(base) = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .map(|n| n.rsplit_once(":2,").map_or(n, |(b, _)| b).to_owned())
                {
                    for sub in ["new", "cur"] {
                        if let Ok(rd) = fs::read_dir(dir.join(sub)) {
                            for e in rd.flatten() {
                                let name = e.file_name();
                                let name = name.to_string_lossy();
                                if name == base || name.starts_with(&format!("{base}:2,")) {
                                    let _ = fs::remove_file(e.path());
                                    dirs.push(dir.join(sub));
                                }
                            }
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(path = %p.display(), error = %e, "cannot remove an expunged message")
            }
        }
    }
    for d in dirs {
        if let Err(e) = fsync_dir(&d) {
            tracing::warn!(error = %e, "fsync after expunge failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays the index in `dir` into a core that remembers `limit` expunges.
    fn replay(dir: &Path, limit: usize) -> Core<Loc> {
        let data = fs::read(dir.join(INDEX)).unwrap();
        let (recs, _) = journal::parse(&data);
        let mut core: Core<Loc> = Core::new(0, limit);
        let mut unlink = Vec::new();
        for r in recs {
            apply(&mut core, r, dir, &mut unlink);
        }
        core
    }

    #[test]
    fn a_snapshot_keeps_the_expunge_history_and_its_floor() {
        let dir = tempfile::tempdir().unwrap();
        let mut core: Core<Loc> = Core::new(7, 2);
        for (modseq, uid) in [(5, 1), (6, 2), (7, 3), (8, 4)] {
            core.history.push(modseq, uid);
        }
        assert_eq!(core.history.floor(), 6);
        write_index(dir.path(), &core).unwrap();
        let back = replay(dir.path(), 2);
        assert_eq!(back.history.floor(), 6);
        assert_eq!(back.history.entries().collect::<Vec<_>>(), [(7, 3), (8, 4)]);
        // A larger limit cannot bring forgotten expunges back; a smaller one forgets more.
        let larger = replay(dir.path(), 10);
        assert_eq!(larger.history.floor(), 6);
        assert_eq!(larger.history.entries().count(), 2);
        let smaller = replay(dir.path(), 1);
        assert_eq!(smaller.history.floor(), 7);
        assert_eq!(smaller.history.entries().collect::<Vec<_>>(), [(8, 4)]);
    }
}
