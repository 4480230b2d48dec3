//! The `maildir` backend: durable Maildir++ folders, readable by mutt and Dovecot.
//!
//! Layout (fixed by DESIGN.md): `DIR/<login>/` is the user's INBOX as a Maildir (`cur/ new/
//! tmp/`); every other mailbox `A/B` is the Maildir++ folder `DIR/<login>/.A.B/` (levels in
//! modified UTF-7, `.` inside a level encoded too, see [`MailboxName::maildir_folder`]).
//! Per folder: `mailwire-index` (UIDVALIDITY, UIDs, modseqs, keywords; see `journal`) and
//! `mailwire-index.lock`. Per user: `mailwire-uidvalidity`, `mailwire-subscriptions`,
//! `mailwire-special-use`, `mailwire-user.lock`, `mailwire-pop3.lock`.

pub(crate) mod cache;
pub(crate) mod folder;
pub(crate) mod journal;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::backend::{Backend, Cached, LockGuard, NewMessage, clamp, sorted};
use crate::core::Core;
use crate::error::{Result, StoreError};
use crate::flags::{FlagOp, Flags};
use crate::mime::MimeIndex;
use crate::name::MailboxName;
use crate::types::{
    AppendResult, BackendKind, Changes, CopyResult, MailboxEvent, MailboxStatus, MessageMeta,
    Origin, SpecialUse, StoreFlagsResult,
};
use folder::{FileLock, Folder, Queued, Staged, fsync_dir, next_uidvalidity, write_index};

/// How many LFs in `data` have no CR before them.
pub(crate) fn bare_lfs(data: &[u8]) -> usize {
    let mut n = 0;
    let mut prev = 0u8;
    for &b in data {
        if b == b'\n' && prev != b'\r' {
            n += 1;
        }
        prev = b;
    }
    n
}

/// `data` with every LF that has no CR before it made CRLF (unchanged when there is none).
pub(crate) fn to_crlf(data: Vec<u8>) -> Vec<u8> {
    let n = bare_lfs(&data);
    if n == 0 {
        return data;
    }
    let mut out = Vec::with_capacity(data.len() + n);
    let mut prev = 0u8;
    for &b in &data {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type FolderRef = Arc<Mutex<Folder>>;

struct MdUser {
    dir: PathBuf,
    /// Serialises this process's user-level changes (create, delete, rename...).
    ops: Mutex<()>,
    folders: Mutex<HashMap<MailboxName, FolderRef>>,
}

/// The Maildir backend.
pub(crate) struct MaildirBackend {
    root: PathBuf,
    users: Mutex<HashMap<String, Arc<MdUser>>>,
    host: String,
    counter: AtomicU64,
    /// Expunges remembered per folder.
    history_limit: usize,
}

fn host_name() -> String {
    let h = fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let h = h.trim();
    let h = if h.is_empty() { "localhost" } else { h };
    // Maildir: '/' and ':' in the host name are written as octal escapes.
    h.replace('/', "\\057")
        .replace(':', "\\072")
        .replace(',', "\\054")
}

/// The same error again, for each of several waiters one failure reaches.
fn again(e: &StoreError) -> StoreError {
    match e {
        StoreError::Io { path, source } => StoreError::Io {
            path: path.clone(),
            source: match source.raw_os_error() {
                Some(code) => io::Error::from_raw_os_error(code),
                None => io::Error::new(source.kind(), source.to_string()),
            },
        },
        StoreError::OverQuota(u) => StoreError::OverQuota(u.clone()),
        StoreError::NoSuchMailbox(m) => StoreError::NoSuchMailbox(m.clone()),
        StoreError::NoSuchUser(u) => StoreError::NoSuchUser(u.clone()),
        _ => StoreError::TaskFailed,
    }
}

/// Writes `data` atomically (tmp + fsync + rename + fsync of the folder).
fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(StoreError::io(&tmp))?;
    f.write_all(data).map_err(StoreError::io(&tmp))?;
    f.sync_all().map_err(StoreError::io(&tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(StoreError::io(path))?;
    fsync_dir(dir)
}

struct UserLock {
    _file: FileLock,
}

struct Pop3Lock {
    _file: File,
}

impl MaildirBackend {
    pub fn open(root: PathBuf, history_limit: usize) -> Result<MaildirBackend> {
        fs::create_dir_all(&root).map_err(StoreError::io(&root))?;
        Ok(MaildirBackend {
            root,
            users: Mutex::new(HashMap::new()),
            host: host_name(),
            counter: AtomicU64::new(0),
            history_limit,
        })
    }

    fn user(&self, login: &str) -> Result<Arc<MdUser>> {
        let mut users = lock(&self.users);
        if let Some(u) = users.get(login) {
            return Ok(u.clone());
        }
        let dir = self.root.join(login);
        if !dir.join("cur").is_dir() {
            return Err(StoreError::NoSuchUser(login.to_owned()));
        }
        let u = Arc::new(MdUser {
            dir,
            ops: Mutex::new(()),
            folders: Mutex::new(HashMap::new()),
        });
        users.insert(login.to_owned(), u.clone());
        Ok(u)
    }

    fn user_lock(u: &MdUser) -> Result<UserLock> {
        let p = u.dir.join("mailwire-user.lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(StoreError::io(&p))?;
        Ok(UserLock {
            _file: FileLock::acquire(&f, &p)?,
        })
    }

    fn folder_dir(u: &MdUser, name: &MailboxName) -> PathBuf {
        if name.is_inbox() {
            u.dir.clone()
        } else {
            u.dir.join(name.maildir_folder())
        }
    }

    fn folder(&self, login: &str, name: &MailboxName) -> Result<(Arc<MdUser>, FolderRef)> {
        let u = self.user(login)?;
        let mut folders = lock(&u.folders);
        if let Some(f) = folders.get(name) {
            return Ok((u.clone(), f.clone()));
        }
        let dir = Self::folder_dir(&u, name);
        let f = Folder::open(dir, u.dir.clone(), self.history_limit)
            .map_err(|_| StoreError::NoSuchMailbox(name.to_string()))?;
        let f = Arc::new(Mutex::new(f));
        folders.insert(name.clone(), f.clone());
        Ok((u.clone(), f))
    }

    /// Runs `op` on a refreshed folder, with the folder's file lock held.
    fn with<T>(
        &self,
        login: &str,
        name: &MailboxName,
        op: impl FnOnce(&mut Folder) -> Result<T>,
    ) -> Result<T> {
        let (u, f) = self.folder(login, name)?;
        let mut g = lock(&f);
        let _fl = g.lock()?;
        match g.refresh() {
            Ok(()) => {}
            Err(StoreError::NoSuchMailbox(_)) => {
                drop(g);
                lock(&u.folders).remove(name);
                return Err(StoreError::NoSuchMailbox(name.to_string()));
            }
            Err(e) => return Err(e),
        }
        let r = op(&mut g)?;
        if let Err(e) = g.maybe_compact() {
            tracing::warn!(error = %e, "index compaction failed");
        }
        Ok(r)
    }

    fn unique_base(&self, size: u64) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!(
            "{}.M{}P{}Q{}.{},S={}",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            n,
            self.host,
            size
        )
    }

    /// Writes a message into `dir/tmp/`, fsynced, with its mtime set to the internal date.
    fn stage(&self, dir: &Path, msg: NewMessage) -> Result<Staged> {
        let size = msg.data.len() as u64;
        let base = self.unique_base(size);
        let tmp = dir.join("tmp").join(&base);
        let write = || -> io::Result<()> {
            let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            f.write_all(&msg.data)?;
            f.set_modified(msg.date.to_system_time())?;
            f.sync_data()
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(StoreError::io(&tmp)(e));
        }
        Ok(Staged {
            tmp,
            base,
            size,
            flags: msg.flags,
            date: msg.date,
            mime: msg.mime,
        })
    }

    fn read_special(u: &MdUser) -> Result<BTreeMap<MailboxName, SpecialUse>> {
        let p = u.dir.join("mailwire-special-use");
        let s = match fs::read_to_string(&p) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(StoreError::io(&p)(e)),
        };
        Ok(s.lines()
            .filter_map(|l| {
                let (attr, name) = l.split_once('\t')?;
                Some((
                    MailboxName::new(name).ok()?,
                    SpecialUse::from_attribute(attr)?,
                ))
            })
            .collect())
    }

    fn write_special(u: &MdUser, map: &BTreeMap<MailboxName, SpecialUse>) -> Result<()> {
        let mut s = String::new();
        for (n, use_) in map {
            s.push_str(use_.attribute());
            s.push('\t');
            s.push_str(n.as_str());
            s.push('\n');
        }
        write_atomic(&u.dir.join("mailwire-special-use"), s.as_bytes())
    }

    fn folders_on_disk(u: &MdUser) -> Result<Vec<MailboxName>> {
        let mut out = vec![MailboxName::inbox()];
        let rd = fs::read_dir(&u.dir).map_err(StoreError::io(&u.dir))?;
        for e in rd {
            let e = e.map_err(StoreError::io(&u.dir))?;
            let Ok(fname) = e.file_name().into_string() else {
                continue;
            };
            if let Some(n) = MailboxName::from_maildir_folder(&fname)
                && !n.is_inbox()
                && e.path().join("cur").is_dir()
            {
                out.push(n);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Creates an empty Maildir folder with a fresh index at `dir`, atomically.
    fn make_folder(&self, u: &MdUser, dir: &Path, subfolder: bool) -> Result<()> {
        let staging = u.dir.join(format!(
            "mailwire-new-{}",
            self.unique_base(0).replace(',', "_")
        ));
        let build = || -> Result<()> {
            for sub in ["cur", "new", "tmp"] {
                let d = staging.join(sub);
                fs::create_dir_all(&d).map_err(StoreError::io(&d))?;
            }
            if subfolder {
                let m = staging.join("maildirfolder");
                File::create(&m).map_err(StoreError::io(&m))?;
            }
            let core: Core<journal::Loc> =
                Core::new(next_uidvalidity(&u.dir, None)?, self.history_limit);
            write_index(&staging, &core)?;
            Ok(())
        };
        if let Err(e) = build() {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
        match fs::rename(&staging, dir) {
            Ok(()) => fsync_dir(&u.dir),
            Err(e) => {
                let _ = fs::remove_dir_all(&staging);
                if dir.exists() {
                    Err(StoreError::MailboxExists(dir.display().to_string()))
                } else {
                    Err(StoreError::io(dir)(e))
                }
            }
        }
    }
}

impl Backend for MaildirBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Maildir
    }

    fn blocking(&self) -> bool {
        true
    }

    fn ensure_user(&self, login: &str) -> Result<bool> {
        let dir = self.root.join(login);
        if !dir.join("cur").is_dir() {
            fs::create_dir_all(&dir).map_err(StoreError::io(&dir))?;
            for sub in ["cur", "new", "tmp"] {
                let d = dir.join(sub);
                fs::create_dir_all(&d).map_err(StoreError::io(&d))?;
            }
            fsync_dir(&dir)?;
            fsync_dir(&self.root)?;
        }
        let u = self.user(login)?;
        let _g = lock(&u.ops);
        let _l = Self::user_lock(&u)?;
        if !dir.join(journal::INDEX).exists() {
            let (_, f) = self.folder(login, &MailboxName::inbox())?;
            let mut g = lock(&f);
            let _fl = g.lock()?;
            g.refresh()?;
        }
        Ok(!dir.join("mailwire-special-use").exists())
    }

    fn list_mailboxes(&self, login: &str) -> Result<Vec<(MailboxName, Option<SpecialUse>)>> {
        let u = self.user(login)?;
        let special = Self::read_special(&u)?;
        Ok(Self::folders_on_disk(&u)?
            .into_iter()
            .map(|n| {
                let s = special.get(&n).copied();
                (n, s)
            })
            .collect())
    }

    fn create_mailbox(
        &self,
        login: &str,
        name: &MailboxName,
        special: Option<SpecialUse>,
    ) -> Result<()> {
        let u = self.user(login)?;
        let _g = lock(&u.ops);
        let _l = Self::user_lock(&u)?;
        let dir = Self::folder_dir(&u, name);
        if name.is_inbox() || dir.exists() {
            return Err(StoreError::MailboxExists(name.to_string()));
        }
        self.make_folder(&u, &dir, true).map_err(|e| match e {
            StoreError::MailboxExists(_) => StoreError::MailboxExists(name.to_string()),
            e => e,
        })?;
        let mut map = Self::read_special(&u)?;
        let had = map.remove(name).is_some();
        if let Some(s) = special {
            map.insert(name.clone(), s);
        }
        if had || special.is_some() || !u.dir.join("mailwire-special-use").exists() {
            Self::write_special(&u, &map)?;
        }
        Ok(())
    }

    fn set_special_use(
        &self,
        login: &str,
        name: &MailboxName,
        special: Option<SpecialUse>,
    ) -> Result<()> {
        let u = self.user(login)?;
        let _g = lock(&u.ops);
        let _l = Self::user_lock(&u)?;
        if !Self::folder_dir(&u, name).join("cur").is_dir() {
            return Err(StoreError::NoSuchMailbox(name.to_string()));
        }
        let mut map = Self::read_special(&u)?;
        match special {
            Some(s) => map.insert(name.clone(), s),
            None => map.remove(name),
        };
        Self::write_special(&u, &map)
    }

    fn delete_mailbox(&self, login: &str, name: &MailboxName) -> Result<()> {
        if name.is_inbox() {
            return Err(StoreError::NotAllowed("INBOX cannot be deleted"));
        }
        let u = self.user(login)?;
        let _g = lock(&u.ops);
        let _l = Self::user_lock(&u)?;
        let dir = Self::folder_dir(&u, name);
        if !dir.join("cur").is_dir() {
            return Err(StoreError::NoSuchMailbox(name.to_string()));
        }
        let trash = u.dir.join(format!(
            "mailwire-deleted-{}",
            self.unique_base(0).replace(',', "_")
        ));
        {
            // Wait for operations of other processes on this folder to finish.
            let lp = dir.join(folder::LOCK);
            let lf = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lp)
                .map_err(StoreError::io(&lp))?;
            let _fl = FileLock::acquire(&lf, &lp)?;
            fs::rename(&dir, &trash).map_err(StoreError::io(&dir))?;
        }
        fsync_dir(&u.dir)?;
        lock(&u.folders).remove(name);
        if let Err(e) = fs::remove_dir_all(&trash) {
            tracing::warn!(path = %trash.display(), error = %e, "cannot remove a deleted folder");
        }
        let mut map = Self::read_special(&u)?;
        if map.remove(name).is_some() {
            Self::write_special(&u, &map)?;
        }
        Ok(())
    }

    fn rename_mailbox(&self, login: &str, from: &MailboxName, to: &MailboxName) -> Result<()> {
        let u = self.user(login)?;
        let _g = lock(&u.ops);
        let _l = Self::user_lock(&u)?;
        let existing = Self::folders_on_disk(&u)?;
        let moving: Vec<MailboxName> = existing
            .iter()
            .filter(|n| (*n == from || n.is_under(from)) && !n.is_inbox())
            .cloned()
            .collect();
        if moving.is_empty() {
            return Err(StoreError::NoSuchMailbox(from.to_string()));
        }
        let targets: Vec<MailboxName> = moving
            .iter()
            .map(|n| {
                n.rebase(from, to)
                    .ok_or(StoreError::NotAllowed("renamed name is invalid"))
            })
            .collect::<Result<_>>()?;
        for t in &targets {
            if existing.contains(t) || Self::folder_dir(&u, t).exists() {
                return Err(StoreError::MailboxExists(t.to_string()));
            }
        }
        {
            let mut folders = lock(&u.folders);
            for (old, new) in moving.iter().zip(&targets) {
                let a = Self::folder_dir(&u, old);
                let b = Self::folder_dir(&u, new);
                fs::rename(&a, &b).map_err(StoreError::io(&a))?;
                folders.remove(old);
                folders.remove(new);
            }
        }
        fsync_dir(&u.dir)?;
        let mut map = Self::read_special(&u)?;
        let mut changed = false;
        for (old, new) in moving.iter().zip(&targets) {
            if let Some(s) = map.remove(old) {
                map.insert(new.clone(), s);
                changed = true;
            }
        }
        if changed {
            Self::write_special(&u, &map)?;
        }
        Ok(())
    }

    fn subscriptions(&self, login: &str) -> Result<BTreeSet<String>> {
        let u = self.user(login)?;
        let p = u.dir.join("mailwire-subscriptions");
        match fs::read_to_string(&p) {
            Ok(s) => Ok(s
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeSet::new()),
            Err(e) => Err(StoreError::io(&p)(e)),
        }
    }

    fn set_subscribed(&self, login: &str, name: &str, on: bool) -> Result<()> {
        let u = self.user(login)?;
        let _g = lock(&u.ops);
        let _l = Self::user_lock(&u)?;
        let mut set = self.subscriptions(login)?;
        let changed = if on {
            set.insert(name.to_owned())
        } else {
            set.remove(name)
        };
        if changed {
            let s: String = set.iter().map(|n| format!("{n}\n")).collect();
            write_atomic(&u.dir.join("mailwire-subscriptions"), s.as_bytes())?;
        }
        Ok(())
    }

    fn status(&self, login: &str, name: &MailboxName) -> Result<MailboxStatus> {
        self.with(login, name, |f| Ok(f.core.status(name)))
    }

    fn messages(
        &self,
        login: &str,
        name: &MailboxName,
        uids: Option<&[u32]>,
    ) -> Result<Vec<MessageMeta>> {
        self.with(login, name, |f| Ok(f.core.metas(uids)))
    }

    fn append(
        &self,
        login: &str,
        name: &MailboxName,
        msg: NewMessage,
        origin: Origin,
    ) -> Result<AppendResult> {
        let (_, f) = self.folder(login, name)?;
        let (dir, pending) = {
            let g = lock(&f);
            (g.dir.clone(), Arc::clone(&g.pending))
        };
        // Written and fsynced in parallel with other appends; then queued for the folder.
        let staged = self.stage(&dir, msg)?;
        let tmp = staged.tmp.clone();
        let (done, result) = std::sync::mpsc::sync_channel(1);
        lock(&pending).push(Queued {
            staged,
            origin,
            done,
        });
        // Group commit: whoever holds the folder commits everything queued so far, with one
        // rename each and one fsync of the folder for all; the others find their result sent.
        let r = self.with(login, name, |f| {
            let batch = std::mem::take(&mut *lock(&f.pending));
            let mut rest = batch.into_iter().peekable();
            while let Some(first) = rest.next() {
                // One commit per run of the same origin (its change event names the origin).
                let origin = first.origin;
                let mut run = vec![first];
                while let Some(q) = rest.next_if(|q| q.origin == origin) {
                    run.push(q);
                }
                let (staged, waiting): (Vec<Staged>, Vec<_>) =
                    run.into_iter().map(|q| (q.staged, q.done)).unzip();
                match f.commit_new(staged, origin) {
                    Ok(uids) => {
                        for (w, uid) in waiting.into_iter().zip(uids) {
                            let _ = w.send(Ok((f.core.uidvalidity, uid)));
                        }
                    }
                    Err(e) => {
                        for w in waiting {
                            let _ = w.send(Err(again(&e)));
                        }
                    }
                }
            }
            Ok(())
        });
        match result.try_recv() {
            Ok(r) => r.map(|(uidvalidity, uid)| AppendResult { uidvalidity, uid }),
            Err(_) => {
                // Not committed: the folder could not be taken. Ours is taken back out of the
                // queue, unless someone else has it now (then their result comes).
                let mine = {
                    let mut q = lock(&pending);
                    q.iter()
                        .position(|q| q.staged.tmp == tmp)
                        .map(|i| q.remove(i))
                };
                if mine.is_some() {
                    let _ = fs::remove_file(&tmp);
                    return Err(r.err().unwrap_or(StoreError::TaskFailed));
                }
                result
                    .recv()
                    .unwrap_or(Err(StoreError::TaskFailed))
                    .map(|(uidvalidity, uid)| AppendResult { uidvalidity, uid })
            }
        }
    }

    fn read(
        &self,
        login: &str,
        name: &MailboxName,
        uid: u32,
        range: Option<Range<u64>>,
    ) -> Result<Bytes> {
        let (_, f) = self.folder(login, name)?;
        let path = {
            let g = lock(&f);
            g.core.get(uid).map(|m| (g.path_of(m), m.size))
        };
        let read = |p: &Path, size: u64| -> io::Result<Vec<u8>> {
            let mut file = File::open(p)?;
            let len = file.metadata()?.len();
            if len < size {
                // A file another program wrote (Dovecot, mutt, mbsync) with lines ending in
                // LF alone, found with its CRLF size: served with CRLF, as RFC 5322 lines
                // are, and ranges apply to the converted text. Files mailwire wrote are
                // served byte for byte.
                let mut v = Vec::new();
                file.read_to_end(&mut v)?;
                let v = to_crlf(v);
                return Ok(match &range {
                    None => v,
                    Some(r) => v[clamp(Some(r.clone()), v.len())].to_vec(),
                });
            }
            match &range {
                None => {
                    let mut v = Vec::with_capacity(len as usize);
                    file.read_to_end(&mut v)?;
                    Ok(v)
                }
                Some(r) => {
                    file.seek(SeekFrom::Start(r.start))?;
                    let mut v = Vec::new();
                    file.take(r.end.saturating_sub(r.start))
                        .read_to_end(&mut v)?;
                    Ok(v)
                }
            }
        };
        if let Some((p, size)) = &path {
            match read(p, *size) {
                Ok(v) => return Ok(Bytes::from(v)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io(p)(e)),
            }
        }
        // Unknown here or moved: look again with the disk state.
        let (p, size) = self.with(login, name, |f| {
            f.core
                .get(uid)
                .map(|m| (f.path_of(m), m.size))
                .ok_or(StoreError::NoSuchMessage(uid))
        })?;
        read(&p, size).map(Bytes::from).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::NoSuchMessage(uid)
            } else {
                StoreError::io(&p)(e)
            }
        })
    }

    fn mime(&self, login: &str, name: &MailboxName, uid: u32) -> Result<Arc<MimeIndex>> {
        let (_, f) = self.folder(login, name)?;
        if let Some(Some(m)) = lock(&f).core.get(uid).map(|m| m.mime.clone()) {
            return Ok(m);
        }
        let data = self.read(login, name, uid, None)?;
        let idx = Arc::new(MimeIndex::parse(&data));
        Ok(lock(&f).core.keep_mime(uid, idx))
    }

    fn cached(&self, login: &str, name: &MailboxName, uid: u32) -> Result<Cached> {
        let (_, f) = self.folder(login, name)?;
        let mut g = lock(&f);
        let uv = g.core.uidvalidity;
        if g.cache_for != Some(uv) && uv != 0 {
            // The first look after opening (or after the index was reloaded): what an earlier
            // run derived. A cache that cannot be read is only a slower start.
            let loaded = {
                let core = &g.core;
                cache::load(&g.dir, uv, |u| core.find(u).is_some())
            };
            match loaded {
                Ok(items) => {
                    for (u, d) in items {
                        g.core.keep_derived(u, d);
                    }
                }
                Err(e) => tracing::warn!(dir = %g.dir.display(), error = %e, "cache unreadable"),
            }
            g.cache_for = Some(uv);
        }
        g.core.cached(uid).ok_or(StoreError::NoSuchMessage(uid))
    }

    fn keep_mime(
        &self,
        login: &str,
        name: &MailboxName,
        uid: u32,
        idx: Arc<MimeIndex>,
    ) -> Result<Arc<MimeIndex>> {
        let (_, f) = self.folder(login, name)?;
        Ok(lock(&f).core.keep_mime(uid, idx))
    }

    fn keep_derived(
        &self,
        login: &str,
        name: &MailboxName,
        items: Vec<(u32, Bytes)>,
    ) -> Result<()> {
        let (_, f) = self.folder(login, name)?;
        let mut g = lock(&f);
        if let Err(e) = cache::append(&g.dir, g.core.uidvalidity, &items) {
            tracing::warn!(dir = %g.dir.display(), error = %e, "cache not written");
        }
        for (uid, d) in items {
            g.core.keep_derived(uid, d);
        }
        Ok(())
    }

    fn store_flags(
        &self,
        login: &str,
        name: &MailboxName,
        uids: &[u32],
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<u64>,
        origin: Origin,
    ) -> Result<StoreFlagsResult> {
        self.with(login, name, |f| {
            let (updated, modified) = f.store_flags(uids, op, flags, unchanged_since, origin)?;
            Ok(StoreFlagsResult {
                updated,
                modified,
                highest_modseq: f.core.highest_modseq,
            })
        })
    }

    fn expunge(
        &self,
        login: &str,
        name: &MailboxName,
        uids: Option<&[u32]>,
        require_deleted: bool,
        origin: Origin,
    ) -> Result<Vec<u32>> {
        self.with(login, name, |f| {
            let wanted: Vec<u32> = match uids {
                Some(u) => sorted(u),
                None => f.core.msgs.iter().map(|m| m.uid).collect(),
            };
            let victims: Vec<u32> = wanted
                .into_iter()
                .filter(|&u| {
                    f.core
                        .get(u)
                        .is_some_and(|m| !require_deleted || m.flags.is_deleted())
                })
                .collect();
            f.expunge(&victims, origin)?;
            Ok(victims)
        })
    }

    fn copy(
        &self,
        login: &str,
        from: &MailboxName,
        uids: &[u32],
        to: &MailboxName,
        origin: Origin,
    ) -> Result<CopyResult> {
        let sources = self.with(login, from, |f| {
            Ok(sorted(uids)
                .into_iter()
                .filter_map(|u| f.core.get(u))
                .map(|m| {
                    (
                        m.uid,
                        f.path_of(m),
                        m.flags.clone(),
                        m.date,
                        m.size,
                        m.mime.clone(),
                    )
                })
                .collect::<Vec<_>>())
        })?;
        let (_, dst) = self.folder(login, to)?;
        let dst_dir = lock(&dst).dir.clone();
        let mut staged = Vec::new();
        let mut src_uids = Vec::new();
        let cleanup = |staged: &[Staged]| {
            for s in staged {
                let _ = fs::remove_file(&s.tmp);
            }
        };
        for (uid, path, flags, date, size, mime) in sources {
            let base = self.unique_base(size);
            let tmp = dst_dir.join("tmp").join(&base);
            let linked = fs::hard_link(&path, &tmp);
            if let Err(e) = linked {
                if e.kind() == io::ErrorKind::NotFound {
                    continue; // expunged meanwhile
                }
                let copied = (|| -> io::Result<()> {
                    fs::copy(&path, &tmp)?;
                    let f = OpenOptions::new().write(true).open(&tmp)?;
                    f.set_modified(date.to_system_time())?;
                    f.sync_data()
                })();
                if let Err(e) = copied {
                    let _ = fs::remove_file(&tmp);
                    if e.kind() == io::ErrorKind::NotFound {
                        continue;
                    }
                    cleanup(&staged);
                    return Err(StoreError::io(&path)(e));
                }
            }
            src_uids.push(uid);
            staged.push(Staged {
                tmp,
                base,
                size,
                flags,
                date,
                mime,
            });
        }
        let tmps: Vec<PathBuf> = staged.iter().map(|s| s.tmp.clone()).collect();
        let r = self.with(login, to, |f| {
            let new = f.commit_new(staged, origin)?;
            Ok(CopyResult {
                uidvalidity: f.core.uidvalidity,
                uids: src_uids.into_iter().zip(new).collect(),
            })
        });
        if r.is_err() {
            for t in tmps {
                let _ = fs::remove_file(t);
            }
        }
        r
    }

    fn changes_since(&self, login: &str, name: &MailboxName, modseq: u64) -> Result<Changes> {
        self.with(login, name, |f| Ok(f.core.changes_since(modseq)))
    }

    fn events(&self, login: &str, name: &MailboxName) -> Result<broadcast::Receiver<MailboxEvent>> {
        let (_, f) = self.folder(login, name)?;
        let g = lock(&f);
        Ok(g.core.events.subscribe())
    }

    fn lock_maildrop(&self, login: &str) -> Result<LockGuard> {
        let u = self.user(login)?;
        let p = u.dir.join("mailwire-pop3.lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(StoreError::io(&p))?;
        match f.try_lock() {
            Ok(()) => Ok(Box::new(Pop3Lock { _file: f })),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(StoreError::MaildropInUse(login.to_owned()))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::io(&p)(e)),
        }
    }
}
