//! [`Store`], [`User`] and [`Mailbox`]: the API the servers use.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use mailwire_sasl::Credentials;
use tokio::sync::broadcast;

use crate::backend::{Backend, NewMessage};
use crate::error::{Result, StoreError};
use crate::flags::{FlagOp, Flags};
use crate::maildir::MaildirBackend;
use crate::memory::MemoryBackend;
use crate::mime::{MimeIndex, SectionKind};
use crate::name::MailboxName;
use crate::pop3::Pop3Maildrop;
use crate::types::{
    AppendResult, BackendKind, Changes, CopyResult, InternalDate, ListAttribute, ListEntry,
    MailboxEvent, MailboxStatus, MessageMeta, Origin, Quota, SpecialUse, StoreEvent,
    StoreEventKind, StoreFlagsResult, Usage,
};

/// Longest accepted login.
pub const MAX_LOGIN_LEN: usize = 128;

/// The default of [`StoreOptions::expunge_history`].
pub const DEFAULT_EXPUNGE_HISTORY: usize = 100_000;

/// Settings of a [`Store`].
///
/// ```
/// use mailwire_store::{Store, StoreOptions};
///
/// let store = Store::memory_with(StoreOptions::default().expunge_history(1000));
/// # let _ = store;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreOptions {
    /// How many expunges each mailbox remembers (UID and modseq) for QRESYNC's VANISHED and
    /// CHANGEDSINCE. Older ones are forgotten, as RFC 7162 §6 suggests, so memory (and, on
    /// Maildir, the index) stays bounded; asked about changes since before them, the store
    /// answers with every missing UID ([`Changes::vanished_exact`] is `false`). Default
    /// [`DEFAULT_EXPUNGE_HISTORY`]; 0 remembers none.
    pub expunge_history: usize,
    /// The quota of every user without one of their own ([`Store::set_quota`]); none by
    /// default.
    pub quota: Quota,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            expunge_history: DEFAULT_EXPUNGE_HISTORY,
            quota: Quota::default(),
        }
    }
}

impl StoreOptions {
    /// Sets [`StoreOptions::quota`].
    pub fn quota(mut self, quota: Quota) -> Self {
        self.quota = quota;
        self
    }

    /// Sets [`StoreOptions::expunge_history`].
    pub fn expunge_history(mut self, n: usize) -> Self {
        self.expunge_history = n;
        self
    }
}

pub(crate) struct UserRecord {
    pub login: String,
    pub credentials: Option<Credentials>,
    /// Set by [`Store::set_quota`]; otherwise [`StoreOptions::quota`].
    pub quota: Option<Quota>,
    /// Extra addresses delivered to this user ([`Store::add_address`]), lower-cased.
    pub addresses: Vec<String>,
}

/// Events a [`Store::watch`] receiver may fall behind by before it sees `Lagged`.
pub const WATCH_CAPACITY: usize = 4096;

pub(crate) struct Inner {
    pub backend: Arc<dyn Backend>,
    pub quota: Quota,
    pub users: RwLock<BTreeMap<String, UserRecord>>,
    pub accept_any_password: AtomicBool,
    /// Every change, for [`Store::watch`].
    pub watch: broadcast::Sender<StoreEvent>,
}

/// The mail store: users, their mailboxes and messages. Cheap to clone (an `Arc`), `Send` and
/// `Sync`; every clone is the same store.
///
/// All operations are `async`. With the maildir backend they run on tokio's blocking thread
/// pool (`spawn_blocking`), because they wait for `fsync`; called outside a tokio runtime they
/// run in place. The memory backend runs in place.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.inner.backend.kind())
            .finish_non_exhaustive()
    }
}

/// Lower-cases and checks a login: 1 to [`MAX_LOGIN_LEN`] bytes, no control characters,
/// whitespace or `/`, not starting with `.`, not `mailwire-...`.
pub fn normalize_login(login: &str) -> Result<String> {
    let l = login.to_lowercase();
    let ok = !l.is_empty()
        && l.len() <= MAX_LOGIN_LEN
        && !l.starts_with('.')
        && !l.starts_with("mailwire-")
        && !l
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '/' || c == '\\');
    if ok {
        Ok(l)
    } else {
        Err(StoreError::InvalidLogin(login.to_owned()))
    }
}

impl Store {
    fn with_backend(backend: Arc<dyn Backend>, options: StoreOptions) -> Store {
        Store {
            inner: Arc::new(Inner {
                backend,
                quota: options.quota,
                users: RwLock::new(BTreeMap::new()),
                accept_any_password: AtomicBool::new(false),
                watch: broadcast::channel(WATCH_CAPACITY).0,
            }),
        }
    }

    /// A new, empty in-memory store.
    pub fn memory() -> Store {
        Store::memory_with(StoreOptions::default())
    }

    /// A new, empty in-memory store with these settings.
    pub fn memory_with(options: StoreOptions) -> Store {
        Store::with_backend(
            Arc::new(MemoryBackend::new(options.expunge_history)),
            options,
        )
    }

    /// A store on Maildir++ folders under `dir` (created if missing): `dir/<login>/` per user.
    ///
    /// Mail already there is kept. Credentials are not kept on disk: users are registered
    /// with [`add_user`](Store::add_user) (or [`create_user_if_missing`](Store::create_user_if_missing))
    /// at every start, which adopts an existing `dir/<login>/`.
    pub fn maildir(dir: impl Into<PathBuf>) -> Result<Store> {
        Store::maildir_with(dir, StoreOptions::default())
    }

    /// [`Store::maildir`] with these settings.
    pub fn maildir_with(dir: impl Into<PathBuf>, options: StoreOptions) -> Result<Store> {
        Ok(Store::with_backend(
            Arc::new(MaildirBackend::open(dir.into(), options.expunge_history)?),
            options,
        ))
    }

    /// Opens a store from the `--store` syntax of `mailwire serve`: `memory` or
    /// `maildir:DIR`.
    pub fn open(spec: &str) -> Result<Store> {
        Store::open_with(spec, StoreOptions::default())
    }

    /// [`Store::open`] with these settings.
    pub fn open_with(spec: &str, options: StoreOptions) -> Result<Store> {
        if spec == "memory" {
            Ok(Store::memory_with(options))
        } else if let Some(dir) = spec.strip_prefix("maildir:") {
            if dir.is_empty() {
                return Err(StoreError::NotAllowed("maildir: needs a folder"));
            }
            Store::maildir_with(dir, options)
        } else {
            Err(StoreError::NotAllowed(
                "store must be `memory` or `maildir:DIR`",
            ))
        }
    }

    /// The backend in use.
    pub fn backend_kind(&self) -> BackendKind {
        self.inner.backend.kind()
    }

    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Backend) -> Result<T> + Send + 'static,
    {
        let b = self.inner.backend.clone();
        if b.blocking()
            && let Ok(h) = tokio::runtime::Handle::try_current()
        {
            return h
                .spawn_blocking(move || f(&*b))
                .await
                .map_err(|_| StoreError::TaskFailed)?;
        }
        f(&*b)
    }

    /// Accept every password for PLAIN/LOGIN (`mailwire serve --accept-any-auth`); see
    /// [`Authenticator::verify_plain`](mailwire_sasl::Authenticator::verify_plain). The
    /// server should then call [`create_user_if_missing`](Store::create_user_if_missing) for
    /// the authenticated name.
    pub fn set_accept_any_password(&self, accept: bool) {
        self.inner
            .accept_any_password
            .store(accept, Ordering::Relaxed);
    }

    /// Whether every password is accepted.
    pub fn accepts_any_password(&self) -> bool {
        self.inner.accept_any_password.load(Ordering::Relaxed)
    }

    /// Resolves a login or an address to a registered login: exact (case-insensitive) first,
    /// then the part before the last `@` (`LOGIN@any-domain` → LOGIN).
    pub fn resolve_login(&self, login_or_address: &str) -> Option<String> {
        let users = self.inner.users.read().unwrap_or_else(|e| e.into_inner());
        let l = login_or_address.to_lowercase();
        if users.contains_key(&l) {
            return Some(l);
        }
        if let Some(u) = users.values().find(|u| u.addresses.contains(&l)) {
            return Some(u.login.clone());
        }
        let (local, _) = l.rsplit_once('@')?;
        users.contains_key(local).then(|| local.to_owned())
    }

    pub(crate) fn credentials_of(&self, login: &str) -> Option<Credentials> {
        let users = self.inner.users.read().unwrap_or_else(|e| e.into_inner());
        users.get(login).and_then(|u| u.credentials.clone())
    }

    /// A handle for `login_or_address` (see [`resolve_login`](Store::resolve_login)), with a
    /// fresh [`Origin`]; `None` for an unknown user.
    pub fn user(&self, login_or_address: &str) -> Option<User> {
        let login = self.resolve_login(login_or_address)?;
        Some(User {
            store: self.clone(),
            login: login.into(),
            origin: Origin::new(),
        })
    }

    /// Whether a user exists (login or address).
    pub fn has_user(&self, login_or_address: &str) -> bool {
        self.resolve_login(login_or_address).is_some()
    }

    /// The registered logins, sorted.
    pub fn logins(&self) -> Vec<String> {
        let users = self.inner.users.read().unwrap_or_else(|e| e.into_inner());
        users.values().map(|u| u.login.clone()).collect()
    }

    async fn register(
        &self,
        login: &str,
        credentials: Option<Credentials>,
        replace: bool,
    ) -> Result<User> {
        let login = normalize_login(login)?;
        {
            let users = self.inner.users.read().unwrap_or_else(|e| e.into_inner());
            if users.contains_key(&login) && !replace {
                return Err(StoreError::UserExists(login));
            }
        }
        let l = login.clone();
        self.run(move |b| {
            if b.ensure_user(&l)? {
                let existing: BTreeMap<MailboxName, Option<SpecialUse>> =
                    b.list_mailboxes(&l)?.into_iter().collect();
                for use_ in SpecialUse::ALL {
                    if existing.values().any(|s| *s == Some(use_)) {
                        continue;
                    }
                    let name = MailboxName::new(use_.default_name())?;
                    if existing.contains_key(&name) {
                        b.set_special_use(&l, &name, Some(use_))?;
                    } else {
                        match b.create_mailbox(&l, &name, Some(use_)) {
                            Ok(()) | Err(StoreError::MailboxExists(_)) => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
            }
            Ok(())
        })
        .await?;
        let mut users = self.inner.users.write().unwrap_or_else(|e| e.into_inner());
        match users.get_mut(&login) {
            Some(u) if !replace => {
                // Registered concurrently.
                let _ = u;
                return Err(StoreError::UserExists(login));
            }
            Some(u) => u.credentials = credentials,
            None => {
                users.insert(
                    login.clone(),
                    UserRecord {
                        login: login.clone(),
                        credentials,
                        quota: None,
                        addresses: Vec::new(),
                    },
                );
            }
        }
        drop(users);
        Ok(User {
            store: self.clone(),
            login: login.into(),
            origin: Origin::new(),
        })
    }

    /// Adds a user with a plaintext-equivalent password (kept as a
    /// [`Secret`](mailwire_codec::Secret)), creating its INBOX and the special-use mailboxes
    /// `Sent`, `Drafts`, `Trash`, `Junk`, `Archive` (RFC 6154). Logins are case-insensitive.
    pub async fn add_user(&self, login: &str, password: impl Into<String>) -> Result<User> {
        self.register(login, Some(Credentials::password(password)), false)
            .await
    }

    /// Adds a user with any [`Credentials`] (e.g. SCRAM verifiers only).
    pub async fn add_user_with_credentials(
        &self,
        login: &str,
        credentials: Credentials,
    ) -> Result<User> {
        self.register(login, Some(credentials), false).await
    }

    /// Replaces (or sets) a user's credentials, adding the user if needed.
    pub async fn set_credentials(&self, login: &str, credentials: Credentials) -> Result<User> {
        self.register(login, Some(credentials), true).await
    }

    /// The user for `login_or_address`, created (without credentials: it can receive mail, and
    /// log in only with accept-any-password) when unknown. An address creates the user named
    /// by its local part (`--accept-any-recipient`).
    pub async fn create_user_if_missing(&self, login_or_address: &str) -> Result<User> {
        if let Some(u) = self.user(login_or_address) {
            return Ok(u);
        }
        let l = login_or_address.to_lowercase();
        let login = l.rsplit_once('@').map_or(l.as_str(), |(local, _)| local);
        match self.register(login, None, false).await {
            Ok(u) => Ok(u),
            Err(StoreError::UserExists(_)) => self
                .user(login)
                .ok_or_else(|| StoreError::NoSuchUser(login.to_owned())),
            Err(e) => Err(e),
        }
    }

    /// Delivers mail for `address` (any `local@domain`, case-insensitive) to `login` too,
    /// beside `LOGIN@any-domain`. An address another user has is refused.
    pub fn add_address(&self, login: &str, address: &str) -> Result<()> {
        let address = address.trim().to_lowercase();
        let valid = address
            .rsplit_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
            && !address.contains(|c: char| c.is_whitespace() || c.is_control() || "<>".contains(c));
        if !valid {
            return Err(StoreError::InvalidLogin(address));
        }
        let login = self
            .resolve_login(login)
            .ok_or_else(|| StoreError::NoSuchUser(login.to_owned()))?;
        let mut users = self.inner.users.write().unwrap_or_else(|e| e.into_inner());
        if users
            .values()
            .any(|u| u.login != login && u.addresses.contains(&address))
        {
            return Err(StoreError::UserExists(address));
        }
        match users.get_mut(&login) {
            Some(u) => {
                if !u.addresses.contains(&address) {
                    u.addresses.push(address);
                }
                Ok(())
            }
            None => Err(StoreError::NoSuchUser(login)),
        }
    }

    /// The extra addresses of a user ([`add_address`](Self::add_address)).
    pub fn addresses(&self, login: &str) -> Vec<String> {
        let Some(login) = self.resolve_login(login) else {
            return Vec::new();
        };
        let users = self.inner.users.read().unwrap_or_else(|e| e.into_inner());
        users
            .get(&login)
            .map(|u| u.addresses.clone())
            .unwrap_or_default()
    }

    /// Sets the quota of one user (RFC 9208 STORAGE and MESSAGE), in place of
    /// [`StoreOptions::quota`]. Not kept on disk: set it at every start, as users are.
    pub fn set_quota(&self, login: &str, quota: Quota) -> Result<()> {
        let login = self
            .resolve_login(login)
            .ok_or_else(|| StoreError::NoSuchUser(login.to_owned()))?;
        let mut users = self.inner.users.write().unwrap_or_else(|e| e.into_inner());
        match users.get_mut(&login) {
            Some(u) => {
                u.quota = Some(quota);
                Ok(())
            }
            None => Err(StoreError::NoSuchUser(login)),
        }
    }

    /// Every change made through this store from now on, in order: what the test server's
    /// HTTP API waits on and streams. A receiver more than [`WATCH_CAPACITY`] events behind
    /// gets `Lagged` and should re-read what it keeps.
    pub fn watch(&self) -> broadcast::Receiver<StoreEvent> {
        self.inner.watch.subscribe()
    }

    pub(crate) fn notify(&self, login: &str, mailbox: &MailboxName, kind: StoreEventKind) {
        // No watcher is not an error.
        let _ = self.inner.watch.send(StoreEvent {
            login: login.to_owned(),
            mailbox: mailbox.clone(),
            kind,
        });
    }

    /// Removes a user: every message in every mailbox is expunged and the login is
    /// forgotten (it can neither log in nor receive mail afterwards; a Maildir keeps its
    /// empty folders). Sessions already open keep their handles until they end.
    pub async fn remove_user(&self, login: &str) -> Result<()> {
        let user = self
            .user(login)
            .ok_or_else(|| StoreError::NoSuchUser(login.to_owned()))?;
        for entry in user.mailboxes().await? {
            if !entry.selectable {
                continue;
            }
            user.purge(entry.name.as_str()).await?;
        }
        let mut users = self.inner.users.write().unwrap_or_else(|e| e.into_inner());
        users.remove(user.login());
        drop(users);
        self.notify(
            user.login(),
            &MailboxName::inbox(),
            StoreEventKind::UserRemoved,
        );
        Ok(())
    }

    /// Delivers a message (SMTP/LMTP) into the INBOX of `recipient` (login or
    /// `LOGIN@any-domain`). Durable before it returns. The internal date is now.
    pub async fn deliver(&self, recipient: &str, data: impl Into<Bytes>) -> Result<AppendResult> {
        let user = self
            .user(recipient)
            .ok_or_else(|| StoreError::NoSuchUser(recipient.to_owned()))?
            .with_origin(Origin::DELIVERY);
        user.append("INBOX", data, Flags::new(), None).await
    }
}

/// One user, as seen by one session: every change made through this handle (and the
/// [`Mailbox`] handles it opens) carries its [`Origin`].
#[derive(Clone)]
pub struct User {
    pub(crate) store: Store,
    pub(crate) login: Arc<str>,
    pub(crate) origin: Origin,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("login", &self.login)
            .field("origin", &self.origin)
            .finish()
    }
}

impl User {
    /// The login (lower case).
    pub fn login(&self) -> &str {
        &self.login
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The origin carried by this handle's changes.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// The same user with another origin.
    pub fn with_origin(&self, origin: Origin) -> User {
        User {
            origin,
            ..self.clone()
        }
    }

    pub(crate) async fn run_pub<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Backend, &str) -> Result<T> + Send + 'static,
    {
        self.run(f).await
    }

    async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Backend, &str) -> Result<T> + Send + 'static,
    {
        let login = self.login.clone();
        self.store.run(move |b| f(b, &login)).await
    }

    /// Every mailbox with its LIST attributes, implied parents (`\Noselect`) included, INBOX
    /// first, then by name.
    pub async fn mailboxes(&self) -> Result<Vec<ListEntry>> {
        let (boxes, subs) = self
            .run(|b, l| Ok((b.list_mailboxes(l)?, b.subscriptions(l)?)))
            .await?;
        Ok(build_list(boxes, &subs))
    }

    /// Creates a mailbox. Superior names are not created (they list as `\Noselect` implied
    /// parents); a trailing delimiter must be stripped by the caller.
    pub async fn create_mailbox(&self, name: &str) -> Result<MailboxName> {
        self.create(name, None).await
    }

    /// Creates a mailbox with a special-use attribute (RFC 6154 CREATE-SPECIAL-USE).
    pub async fn create_special_mailbox(
        &self,
        name: &str,
        use_: SpecialUse,
    ) -> Result<MailboxName> {
        self.create(name, Some(use_)).await
    }

    async fn create(&self, name: &str, special: Option<SpecialUse>) -> Result<MailboxName> {
        let n = MailboxName::new(name)?;
        if n.is_inbox() {
            return Err(StoreError::MailboxExists(n.to_string()));
        }
        let n2 = n.clone();
        self.run(move |b, l| b.create_mailbox(l, &n2, special))
            .await?;
        Ok(n)
    }

    /// Deletes a mailbox (RFC 3501 §6.3.4): its messages go; its children stay (the name then
    /// lists as a `\Noselect` implied parent). INBOX cannot be deleted; nor can a name that
    /// exists only as an implied parent.
    pub async fn delete_mailbox(&self, name: &str) -> Result<()> {
        let n = MailboxName::new(name)?;
        if n.is_inbox() {
            return Err(StoreError::NotAllowed("INBOX cannot be deleted"));
        }
        let n2 = n.clone();
        self.run(move |b, l| {
            let boxes = b.list_mailboxes(l)?;
            if boxes.iter().any(|(x, _)| *x == n) {
                b.delete_mailbox(l, &n)
            } else if boxes.iter().any(|(x, _)| x.is_under(&n)) {
                Err(StoreError::NotAllowed(
                    "the name has inferior names and is \\Noselect",
                ))
            } else {
                Err(StoreError::NoSuchMailbox(n.to_string()))
            }
        })
        .await?;
        self.notify(&n2, StoreEventKind::MailboxDeleted);
        Ok(())
    }

    /// Renames a mailbox and every mailbox below it (RFC 3501 §6.3.5). Renaming INBOX moves
    /// its messages to a new mailbox `to` and leaves INBOX empty (its children stay).
    pub async fn rename_mailbox(&self, from: &str, to: &str) -> Result<()> {
        let from = MailboxName::new(from)?;
        let to = MailboxName::new(to)?;
        if to.is_inbox() || from == to {
            return Err(StoreError::MailboxExists(to.to_string()));
        }
        if to.is_under(&from) {
            return Err(StoreError::NotAllowed(
                "cannot rename a mailbox below itself",
            ));
        }
        let origin = self.origin;
        let (f2, t2) = (from.clone(), to.clone());
        let inbox_moved = self
            .run(move |b, l| {
                if f2.is_inbox() {
                    b.create_mailbox(l, &t2, None)?;
                    let uids: Vec<u32> = b.messages(l, &f2, None)?.iter().map(|m| m.uid).collect();
                    let copied = b.copy(l, &f2, &uids, &t2, origin)?;
                    let moved: Vec<u32> = copied.uids.iter().map(|p| p.0).collect();
                    b.expunge(l, &f2, Some(&moved), false, origin)?;
                    Ok(Some(copied))
                } else {
                    b.rename_mailbox(l, &f2, &t2)?;
                    Ok(None)
                }
            })
            .await?;
        match inbox_moved {
            Some(copied) => {
                let (src, dst): (Vec<u32>, Vec<u32>) = copied.uids.iter().copied().unzip();
                self.removed(&from, &src);
                self.notify(
                    &to,
                    StoreEventKind::Added {
                        uidvalidity: copied.uidvalidity,
                        uids: dst,
                    },
                );
            }
            None => self.notify(&from, StoreEventKind::MailboxRenamed { to }),
        }
        Ok(())
    }

    /// Subscribes to a name (which need not exist).
    pub async fn subscribe(&self, name: &str) -> Result<()> {
        let n = MailboxName::new(name)?;
        self.run(move |b, l| b.set_subscribed(l, n.as_str(), true))
            .await
    }

    /// Unsubscribes.
    pub async fn unsubscribe(&self, name: &str) -> Result<()> {
        let n = MailboxName::new(name)?;
        self.run(move |b, l| b.set_subscribed(l, n.as_str(), false))
            .await
    }

    /// The subscribed names, sorted.
    pub async fn subscriptions(&self) -> Result<Vec<String>> {
        Ok(self
            .run(|b, l| b.subscriptions(l))
            .await?
            .into_iter()
            .collect())
    }

    /// Opens a mailbox (it must exist and be selectable).
    pub async fn mailbox(&self, name: &str) -> Result<Mailbox> {
        let n = MailboxName::new(name)?;
        let n2 = n.clone();
        self.run(move |b, l| b.status(l, &n2).map(|_| ())).await?;
        Ok(Mailbox {
            user: self.clone(),
            name: n,
        })
    }

    /// This user's quota ([`Store::set_quota`], else [`StoreOptions::quota`]).
    pub fn quota(&self) -> Quota {
        let users = self
            .store
            .inner
            .users
            .read()
            .unwrap_or_else(|e| e.into_inner());
        users
            .get(&*self.login)
            .and_then(|u| u.quota)
            .unwrap_or(self.store.inner.quota)
    }

    /// What this user's mailboxes hold: the sum of message sizes and the number of messages.
    pub async fn usage(&self) -> Result<Usage> {
        self.run(usage).await
    }

    /// STATUS of a mailbox.
    pub async fn status(&self, name: &str) -> Result<MailboxStatus> {
        let n = MailboxName::new(name)?;
        self.run(move |b, l| b.status(l, &n)).await
    }

    /// APPEND: adds a message, exactly these bytes, to `mailbox`; durable before it returns.
    /// `internal_date` defaults to now. The MIME index is made on the first FETCH that needs
    /// it, not here: delivery does no parsing.
    pub async fn append(
        &self,
        mailbox: &str,
        data: impl Into<Bytes>,
        flags: Flags,
        internal_date: Option<InternalDate>,
    ) -> Result<AppendResult> {
        let n = MailboxName::new(mailbox)?;
        let data = data.into();
        let origin = self.origin;
        let quota = self.quota();
        let n2 = n.clone();
        let r = self
            .run(move |b, l| {
                check_quota(b, l, quota, data.len() as u64, 1)?;
                b.append(
                    l,
                    &n2,
                    NewMessage {
                        data,
                        flags,
                        date: internal_date.unwrap_or_else(InternalDate::now),
                        mime: None,
                    },
                    origin,
                )
            })
            .await?;
        self.notify(
            &n,
            StoreEventKind::Added {
                uidvalidity: r.uidvalidity,
                uids: vec![r.uid],
            },
        );
        Ok(r)
    }

    fn notify(&self, mailbox: &MailboxName, kind: StoreEventKind) {
        self.store.notify(&self.login, mailbox, kind);
    }

    /// Removes every message of `mailbox`, `\Deleted` or not (what the HTTP API's purge
    /// does); returns the UIDs removed.
    pub async fn purge(&self, mailbox: &str) -> Result<Vec<u32>> {
        let n = MailboxName::new(mailbox)?;
        let uids: Vec<u32> = self
            .mailbox(mailbox)
            .await?
            .messages()
            .await?
            .iter()
            .map(|m| m.uid)
            .collect();
        if uids.is_empty() {
            return Ok(uids);
        }
        let origin = self.origin;
        let n2 = n.clone();
        let removed = self
            .run(move |b, l| b.expunge(l, &n2, Some(&uids), false, origin))
            .await?;
        self.removed(&n, &removed);
        Ok(removed)
    }

    pub(crate) fn removed(&self, mailbox: &MailboxName, uids: &[u32]) {
        if !uids.is_empty() {
            self.notify(
                mailbox,
                StoreEventKind::Removed {
                    uids: uids.to_vec(),
                },
            );
        }
    }

    /// Removes these messages from `mailbox`, `\Deleted` or not: how an APPEND of several
    /// messages (RFC 3502 MULTIAPPEND) that failed part way is undone. Returns the UIDs
    /// removed.
    pub async fn discard(&self, mailbox: &str, uids: &[u32]) -> Result<Vec<u32>> {
        let n = MailboxName::new(mailbox)?;
        let uids = uids.to_vec();
        let origin = self.origin;
        let n2 = n.clone();
        let removed = self
            .run(move |b, l| b.expunge(l, &n2, Some(&uids), false, origin))
            .await?;
        self.removed(&n, &removed);
        Ok(removed)
    }

    /// Opens the user's POP3 maildrop (INBOX), taking the exclusive maildrop lock; a second
    /// attempt while it is held fails with [`StoreError::MaildropInUse`].
    pub async fn pop3(&self) -> Result<Pop3Maildrop> {
        Pop3Maildrop::open(self.clone()).await
    }
}

fn build_list(
    boxes: Vec<(MailboxName, Option<SpecialUse>)>,
    subs: &BTreeSet<String>,
) -> Vec<ListEntry> {
    let mut all: BTreeMap<MailboxName, (bool, Option<SpecialUse>)> = BTreeMap::new();
    for (n, s) in &boxes {
        all.insert(n.clone(), (true, *s));
    }
    for (n, _) in &boxes {
        for a in n.ancestors() {
            all.entry(a).or_insert((false, None));
        }
    }
    let names: Vec<MailboxName> = all.keys().cloned().collect();
    let mut out: Vec<ListEntry> = all
        .into_iter()
        .map(|(name, (selectable, special))| {
            let has_children = names.iter().any(|x| x.is_under(&name));
            let subscribed = subs.contains(name.as_str());
            let mut attributes = Vec::new();
            if !selectable {
                attributes.push(ListAttribute::Noselect);
            }
            attributes.push(if has_children {
                ListAttribute::HasChildren
            } else {
                ListAttribute::HasNoChildren
            });
            if subscribed {
                attributes.push(ListAttribute::Subscribed);
            }
            if let Some(s) = special {
                attributes.push(ListAttribute::SpecialUse(s));
            }
            ListEntry {
                name,
                attributes,
                selectable,
                special_use: special,
                subscribed,
            }
        })
        .collect();
    out.sort_by(|a, b| (!a.name.is_inbox(), &a.name).cmp(&(!b.name.is_inbox(), &b.name)));
    out
}

/// What [`Mailbox::fetch_batch`] loads for each message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchWant {
    /// The message's octets.
    pub raw: bool,
    /// Its MIME index.
    pub mime: bool,
    /// The derived data kept by [`Mailbox::keep_derived`], instead of the two above when
    /// there is some.
    pub derived: bool,
}

/// One message loaded by [`Mailbox::fetch_batch`].
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The UID.
    pub uid: u32,
    /// The octets, when asked for (and no derived data replaced them).
    pub raw: Option<Bytes>,
    /// The MIME index, when asked for (and no derived data replaced it).
    pub mime: Option<Arc<MimeIndex>>,
    /// The derived data kept for the message, if any.
    pub derived: Option<Bytes>,
}

/// A mailbox as seen by one session (the [`User`] handle's origin).
///
/// Sequence numbers are the session's business: [`messages`](Mailbox::messages) lists the
/// messages in ascending UID order (message *n* is element *n − 1* of a fresh listing), and a
/// session keeps its own view in step with the [`subscribe`](Mailbox::subscribe) events.
#[derive(Clone, Debug)]
pub struct Mailbox {
    user: User,
    name: MailboxName,
}

impl Mailbox {
    /// The mailbox name.
    pub fn name(&self) -> &MailboxName {
        &self.name
    }

    /// The user handle it was opened through.
    pub fn user(&self) -> &User {
        &self.user
    }

    async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Backend, &str, &MailboxName, Origin) -> Result<T> + Send + 'static,
    {
        let name = self.name.clone();
        let origin = self.user.origin;
        self.user.run(move |b, l| f(b, l, &name, origin)).await
    }

    /// SELECT/EXAMINE data: EXISTS, UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, FLAGS,
    /// PERMANENTFLAGS, unseen counts.
    pub async fn select(&self) -> Result<MailboxStatus> {
        self.run(|b, l, n, _| b.status(l, n)).await
    }

    /// Every message, ascending UID.
    pub async fn messages(&self) -> Result<Vec<MessageMeta>> {
        self.run(|b, l, n, _| b.messages(l, n, None)).await
    }

    /// The messages with these UIDs (those that exist), ascending UID.
    pub async fn messages_by_uid(&self, uids: &[u32]) -> Result<Vec<MessageMeta>> {
        let uids = uids.to_vec();
        self.run(move |b, l, n, _| b.messages(l, n, Some(&uids)))
            .await
    }

    /// One message's metadata.
    pub async fn message(&self, uid: u32) -> Result<MessageMeta> {
        self.messages_by_uid(&[uid])
            .await?
            .pop()
            .ok_or(StoreError::NoSuchMessage(uid))
    }

    /// The raw message, exactly as stored.
    pub async fn fetch(&self, uid: u32) -> Result<Bytes> {
        self.run(move |b, l, n, _| b.read(l, n, uid, None)).await
    }

    /// A byte range of the raw message (clamped to its size), for partial fetches.
    pub async fn fetch_range(&self, uid: u32, range: Range<u64>) -> Result<Bytes> {
        self.run(move |b, l, n, _| b.read(l, n, uid, Some(range)))
            .await
    }

    /// The MIME index, made on the first call for each message and kept.
    pub async fn mime(&self, uid: u32) -> Result<Arc<MimeIndex>> {
        self.run(move |b, l, n, _| b.mime(l, n, uid)).await
    }

    /// Several messages at once, in one call to the backend (one blocking task for Maildir):
    /// for each UID still in the mailbox, in the order given, what `want` asks for. A message
    /// whose derived data is kept comes back with it and, when `want.derived` is set, without
    /// its octets and MIME index (the caller derived what it needs from them before). UIDs no
    /// longer in the mailbox are left out.
    pub async fn fetch_batch(&self, uids: Vec<u32>, want: FetchWant) -> Result<Vec<Fetched>> {
        self.run(move |b, l, n, _| {
            let mut out = Vec::with_capacity(uids.len());
            for uid in uids {
                let (mime, derived) = match b.cached(l, n, uid) {
                    Ok(c) => c,
                    Err(StoreError::NoSuchMessage(_)) => continue,
                    Err(e) => return Err(e),
                };
                if want.derived && derived.is_some() {
                    out.push(Fetched {
                        uid,
                        raw: None,
                        mime: None,
                        derived,
                    });
                    continue;
                }
                let raw = if want.raw || (want.mime && mime.is_none()) {
                    match b.read(l, n, uid, None) {
                        Ok(r) => Some(r),
                        Err(StoreError::NoSuchMessage(_)) => continue,
                        Err(e) => return Err(e),
                    }
                } else {
                    None
                };
                let mime = match (want.mime, mime, &raw) {
                    (false, _, _) => None,
                    (true, Some(m), _) => Some(m),
                    (true, None, Some(r)) => {
                        Some(b.keep_mime(l, n, uid, Arc::new(MimeIndex::parse(r)))?)
                    }
                    (true, None, None) => None,
                };
                out.push(Fetched {
                    uid,
                    raw: if want.raw { raw } else { None },
                    mime,
                    derived,
                });
            }
            Ok(out)
        })
        .await
    }

    /// Keeps data a protocol layer derived from messages (the IMAP server's rendered ENVELOPE
    /// and BODYSTRUCTURE), handed back by [`fetch_batch`](Self::fetch_batch) until the
    /// message is expunged. It is opaque to the store and kept in memory.
    pub async fn keep_derived(&self, items: Vec<(u32, Bytes)>) -> Result<()> {
        self.run(move |b, l, n, _| b.keep_derived(l, n, items))
            .await
    }

    /// The bytes of a FETCH section (`BODY[1.2.MIME]` is `(&[1, 2], SectionKind::Mime)`);
    /// `None` when the message has no such part.
    pub async fn fetch_section(
        &self,
        uid: u32,
        path: &[u32],
        kind: SectionKind,
    ) -> Result<Option<Bytes>> {
        let idx = self.mime(uid).await?;
        match idx.section(path, kind) {
            None => Ok(None),
            Some(r) => Ok(Some(
                self.fetch_range(uid, r.start as u64..r.end as u64).await?,
            )),
        }
    }

    /// STORE: changes the flags of the messages with these UIDs. With `unchanged_since`
    /// (CONDSTORE), messages whose modseq is above it are left alone and reported in
    /// [`StoreFlagsResult::modified`]. All changed messages get one new modseq.
    pub async fn store_flags(
        &self,
        uids: &[u32],
        op: FlagOp,
        flags: Flags,
        unchanged_since: Option<u64>,
    ) -> Result<StoreFlagsResult> {
        let uids = uids.to_vec();
        let r = self
            .run(move |b, l, n, o| b.store_flags(l, n, &uids, op, &flags, unchanged_since, o))
            .await?;
        let updates: Vec<(u32, Flags)> = r
            .updated
            .iter()
            .filter(|u| u.changed)
            .map(|u| (u.uid, u.flags.clone()))
            .collect();
        if !updates.is_empty() {
            self.user
                .notify(&self.name, StoreEventKind::FlagsChanged { updates });
        }
        Ok(r)
    }

    /// APPEND to this mailbox (see [`User::append`]).
    pub async fn append(
        &self,
        data: impl Into<Bytes>,
        flags: Flags,
        internal_date: Option<InternalDate>,
    ) -> Result<AppendResult> {
        self.user
            .append(self.name.as_str(), data, flags, internal_date)
            .await
    }

    /// COPY to `dest`: returns the COPYUID map.
    pub async fn copy_to(&self, uids: &[u32], dest: &str) -> Result<CopyResult> {
        let dest = MailboxName::new(dest)?;
        let d2 = dest.clone();
        let uids = uids.to_vec();
        let quota = self.user.quota();
        let r = self
            .run(move |b, l, n, o| {
                if quota.is_limited() {
                    let size: u64 = b.messages(l, n, Some(&uids))?.iter().map(|m| m.size).sum();
                    check_quota(b, l, quota, size, uids.len() as u64)?;
                }
                b.copy(l, n, &uids, &d2, o)
            })
            .await?;
        self.added(&dest, &r);
        Ok(r)
    }

    fn added(&self, dest: &MailboxName, r: &CopyResult) {
        if !r.uids.is_empty() {
            self.user.notify(
                dest,
                StoreEventKind::Added {
                    uidvalidity: r.uidvalidity,
                    uids: r.uids.iter().map(|p| p.1).collect(),
                },
            );
        }
    }

    /// MOVE to `dest` (RFC 6851): copies, then expunges the copied messages here. Returns the
    /// COPYUID map; the expunged source UIDs are its first elements. Not atomic across a
    /// crash: the messages may then be in both mailboxes, never in neither.
    pub async fn move_to(&self, uids: &[u32], dest: &str) -> Result<CopyResult> {
        let dest = MailboxName::new(dest)?;
        let d2 = dest.clone();
        let uids = uids.to_vec();
        let (r, removed) = self
            .run(move |b, l, n, o| {
                let r = b.copy(l, n, &uids, &d2, o)?;
                let src: Vec<u32> = r.uids.iter().map(|p| p.0).collect();
                let removed = b.expunge(l, n, Some(&src), false, o)?;
                Ok((r, removed))
            })
            .await?;
        self.added(&dest, &r);
        self.user.removed(&self.name, &removed);
        Ok(r)
    }

    /// EXPUNGE: removes every message with `\Deleted`; returns their UIDs, ascending.
    pub async fn expunge(&self) -> Result<Vec<u32>> {
        let removed = self
            .run(|b, l, n, o| b.expunge(l, n, None, true, o))
            .await?;
        self.user.removed(&self.name, &removed);
        Ok(removed)
    }

    /// UID EXPUNGE (RFC 4315): removes the messages with these UIDs that have `\Deleted`.
    pub async fn expunge_uids(&self, uids: &[u32]) -> Result<Vec<u32>> {
        let uids = uids.to_vec();
        let removed = self
            .run(move |b, l, n, o| b.expunge(l, n, Some(&uids), true, o))
            .await?;
        self.user.removed(&self.name, &removed);
        Ok(removed)
    }

    /// Messages changed and UIDs expunged since `modseq` (CONDSTORE CHANGEDSINCE, QRESYNC
    /// VANISHED).
    pub async fn changes_since(&self, modseq: u64) -> Result<Changes> {
        self.run(move |b, l, n, _| b.changes_since(l, n, modseq))
            .await
    }

    /// Subscribes to this mailbox's change events (for IDLE and NOOP). Events made through a
    /// handle carry its origin; compare with [`User::origin`] to skip your own. A receiver that
    /// falls more than [`EVENT_CAPACITY`](crate::EVENT_CAPACITY) events behind gets `Lagged`
    /// and should re-read the mailbox.
    pub async fn subscribe(&self) -> Result<broadcast::Receiver<MailboxEvent>> {
        self.run(|b, l, n, _| b.events(l, n)).await
    }
}

/// The sum over every selectable mailbox.
fn usage(b: &dyn Backend, login: &str) -> Result<Usage> {
    let mut u = Usage::default();
    for (name, _) in b.list_mailboxes(login)? {
        match b.status(login, &name) {
            Ok(st) => {
                u.storage += st.size;
                u.messages += u64::from(st.exists);
            }
            // A name that exists only as a parent holds nothing.
            Err(StoreError::NoSuchMailbox(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(u)
}

/// [`StoreError::OverQuota`] when `size` more octets in `count` more messages would exceed
/// the quota. Checked before the message is written; two sessions appending at once may
/// each pass the check and end up over the quota by one message each (a soft limit, as
/// with Dovecot's default).
fn check_quota(b: &dyn Backend, login: &str, quota: Quota, size: u64, count: u64) -> Result<()> {
    if !quota.is_limited() {
        return Ok(());
    }
    let u = usage(b, login)?;
    let over_storage = quota.storage.is_some_and(|max| u.storage + size > max);
    let over_messages = quota.messages.is_some_and(|max| u.messages + count > max);
    if over_storage || over_messages {
        return Err(StoreError::OverQuota(login.to_owned()));
    }
    Ok(())
}
