//! IMAP: the async client and server (`mailwire-imap`), and a blocking client for programs
//! without async — a GUI's main loop, a script.
//!
//! The async API is [`client::Client`]; [`blocking::Client`] runs the same client on a
//! [`Runtime`](crate::Runtime) thread and waits for each call, and hands unsolicited events
//! (EXISTS, EXPUNGE, FETCH FLAGS while in IDLE) to a [`std::sync::mpsc::Receiver`] that a main
//! loop polls with `try_recv` without ever blocking on the network.

pub use mailwire_imap::{client, proto, server};

/// A blocking IMAP client for synchronous programs.
///
/// Every call runs the async [`client::Client`] on a [`Runtime`](crate::Runtime) and waits
/// for it; clones share the connection (their commands are pipelined). Do not call it from
/// inside an async runtime ([`RuntimeError::InsideRuntime`](crate::RuntimeError)).
///
/// ```no_run
/// use mailwire::imap::blocking::Client;
/// use mailwire::imap::client::Login;
///
/// let client = Client::connect("imaps://mail.example.org", &Login::password("alice", "secret"))?;
/// let inbox = client.select("INBOX")?;
/// let events = client.events();
/// let idle = client.idle()?;
/// // A GUI loop: draw, then look for news without blocking.
/// loop {
///     if let Ok(event) = events.try_recv() {
///         println!("{event:?}");
///         break;
///     }
///     std::thread::sleep(std::time::Duration::from_millis(10));
/// }
/// idle.done()?;
/// client.logout()?;
/// # let _ = inbox;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub mod blocking {
    use std::sync::mpsc;

    use mailwire_imap::client::{
        self as async_client, ClientConfig, Login, Reply, Selected, Unsolicited,
    };
    use mailwire_imap::proto::{
        Capability, FetchItems, Flag, ListData, MessageData, SearchKey, SequenceSet, StatusItem,
        StatusValue, StoreKind, Vec1,
    };
    use thiserror::Error;

    use crate::{Runtime, RuntimeError};

    /// Why a blocking call failed.
    #[derive(Debug, Error)]
    #[non_exhaustive]
    pub enum Error {
        /// The IMAP client failed (see [`async_client::Error`]).
        #[error(transparent)]
        Imap(#[from] async_client::Error),
        /// The runtime could not run the call: shut down, or called from inside an async
        /// runtime ([`RuntimeError::InsideRuntime`]).
        #[error(transparent)]
        Runtime(#[from] RuntimeError),
    }

    /// A connected, logged-in IMAP client whose methods block. See the [module docs](self).
    #[derive(Debug, Clone)]
    pub struct Client {
        runtime: Runtime,
        inner: async_client::Client,
    }

    /// A running IDLE; [`Idle::done`] ends it (so does dropping it).
    #[derive(Debug)]
    pub struct Idle {
        runtime: Runtime,
        inner: Option<async_client::Idle>,
    }

    impl Idle {
        /// Sends DONE and waits for the completion.
        pub fn done(mut self) -> Result<Reply, Error> {
            match self.inner.take() {
                Some(i) => Ok(self.runtime.block_on(i.done())??),
                None => Err(Error::Imap(async_client::Error::Closed)),
            }
        }
    }

    impl Client {
        /// Connects to `imaps://HOST[:PORT]` or `imap://HOST[:PORT]` (STARTTLS, required) and
        /// logs in, on a runtime of its own with one worker thread.
        pub fn connect(url: &str, login: &Login) -> Result<Self, Error> {
            Self::connect_with(ClientConfig::from_url(url)?, login)
        }

        /// Connects with explicit settings on a runtime of its own.
        pub fn connect_with(config: ClientConfig, login: &Login) -> Result<Self, Error> {
            let runtime = Runtime::builder()
                .worker_threads(1)
                .thread_name("mailwire-imap")
                .build()?;
            Self::connect_on(&runtime, config, login)
        }

        /// Connects with explicit settings on a shared runtime.
        pub fn connect_on(
            runtime: &Runtime,
            config: ClientConfig,
            login: &Login,
        ) -> Result<Self, Error> {
            let login = login.clone();
            let inner = runtime
                .block_on(async move { async_client::Client::connect(config, &login).await })??;
            Ok(Self {
                runtime: runtime.clone(),
                inner,
            })
        }

        fn call<T, F, Fut>(&self, f: F) -> Result<T, Error>
        where
            T: Send + 'static,
            F: FnOnce(async_client::Client) -> Fut,
            Fut: std::future::Future<Output = Result<T, async_client::Error>> + Send + 'static,
        {
            Ok(self.runtime.block_on(f(self.inner.clone()))??)
        }

        /// The async client this one drives (to mix blocking calls and tasks).
        pub fn as_async(&self) -> &async_client::Client {
            &self.inner
        }

        /// Unsolicited events from now on, for a main loop to poll with `try_recv`; a
        /// [`Unsolicited::Closed`] comes last.
        pub fn events(&self) -> mpsc::Receiver<Unsolicited> {
            let (tx, rx) = mpsc::channel();
            let mut events = self.inner.events();
            let _ = self.runtime.spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(e) => {
                            let last = e == Unsolicited::Closed;
                            if tx.send(e).is_err() || last {
                                break;
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => {
                            let _ = tx.send(Unsolicited::Closed);
                            break;
                        }
                    }
                }
            });
            rx
        }

        /// Whether the server announced `c`.
        pub fn has_capability(&self, c: &Capability) -> bool {
            self.inner.has_capability(c)
        }

        /// A command as written on the wire, without its tag.
        pub fn command(&self, text: &str) -> Result<Reply, Error> {
            let text = text.to_owned();
            self.call(|c| async move { c.command(&text).await })
        }

        /// SELECT.
        pub fn select(&self, mailbox: &str) -> Result<Selected, Error> {
            let m = mailbox.to_owned();
            self.call(|c| async move { c.select(&m).await })
        }

        /// EXAMINE.
        pub fn examine(&self, mailbox: &str) -> Result<Selected, Error> {
            let m = mailbox.to_owned();
            self.call(|c| async move { c.examine(&m).await })
        }

        /// LIST.
        pub fn list(&self, reference: &str, pattern: &str) -> Result<Vec<ListData>, Error> {
            let (r, p) = (reference.to_owned(), pattern.to_owned());
            self.call(|c| async move { c.list(&r, &p).await })
        }

        /// STATUS.
        pub fn status(
            &self,
            mailbox: &str,
            items: &[StatusItem],
        ) -> Result<Vec<StatusValue>, Error> {
            let (m, i) = (mailbox.to_owned(), items.to_vec());
            self.call(|c| async move { c.status(&m, &i).await })
        }

        /// APPEND one message; `(UIDVALIDITY, UID)` from APPENDUID.
        pub fn append(
            &self,
            mailbox: &str,
            flags: &[Flag],
            message: Vec<u8>,
        ) -> Result<Option<(u32, u32)>, Error> {
            let (m, f) = (mailbox.to_owned(), flags.to_vec());
            self.call(|c| async move { c.append(&m, &f, message).await })
        }

        /// FETCH or UID FETCH.
        pub fn fetch(
            &self,
            set: &SequenceSet,
            items: FetchItems,
            uid: bool,
        ) -> Result<Vec<(u32, Vec1<MessageData>)>, Error> {
            let set = set.clone();
            self.call(|c| async move { c.fetch(&set, items, uid).await })
        }

        /// SEARCH or UID SEARCH.
        pub fn search(&self, criteria: SearchKey, uid: bool) -> Result<Vec<u32>, Error> {
            self.call(|c| async move { c.search(criteria, uid).await })
        }

        /// STORE or UID STORE (silent); see [`async_client::Client::store`].
        pub fn store(
            &self,
            set: &SequenceSet,
            kind: StoreKind,
            flags: &[Flag],
            uid: bool,
        ) -> Result<Vec<u32>, Error> {
            let (set, flags) = (set.clone(), flags.to_vec());
            self.call(|c| async move { c.store(&set, kind, &flags, uid, None).await })
        }

        /// IDLE until [`Idle::done`]; events arrive on [`events`](Self::events) meanwhile.
        pub fn idle(&self) -> Result<Idle, Error> {
            let inner = self.call(|c| async move { c.idle().await })?;
            Ok(Idle {
                runtime: self.runtime.clone(),
                inner: Some(inner),
            })
        }

        /// CREATE.
        pub fn create(&self, mailbox: &str) -> Result<(), Error> {
            let m = mailbox.to_owned();
            self.call(|c| async move { c.create(&m).await })
        }

        /// DELETE.
        pub fn delete(&self, mailbox: &str) -> Result<(), Error> {
            let m = mailbox.to_owned();
            self.call(|c| async move { c.delete(&m).await })
        }

        /// RENAME.
        pub fn rename(&self, from: &str, to: &str) -> Result<(), Error> {
            let (f, t) = (from.to_owned(), to.to_owned());
            self.call(|c| async move { c.rename(&f, &t).await })
        }

        /// SUBSCRIBE (`on`) or UNSUBSCRIBE.
        pub fn subscribe(&self, mailbox: &str, on: bool) -> Result<(), Error> {
            let m = mailbox.to_owned();
            self.call(|c| async move { c.subscribe(&m, on).await })
        }

        /// LIST with a STATUS of every mailbox (LIST-STATUS, or LIST then STATUS).
        pub fn list_status(
            &self,
            reference: &str,
            pattern: &str,
            items: &[StatusItem],
        ) -> Result<async_client::Listing, Error> {
            let (r, p, i) = (reference.to_owned(), pattern.to_owned(), items.to_vec());
            self.call(|c| async move { c.list_status(&r, &p, &i).await })
        }

        /// COPY or UID COPY; the COPYUID pairs when the server says them.
        pub fn copy(
            &self,
            set: &SequenceSet,
            to: &str,
            uid: bool,
        ) -> Result<Vec<(u32, u32)>, Error> {
            let (set, to) = (set.clone(), to.to_owned());
            self.call(|c| async move { c.copy(&set, &to, uid).await })
        }

        /// MOVE or UID MOVE (with the COPY + STORE + EXPUNGE fallback); see
        /// [`async_client::Client::move`].
        pub fn r#move(
            &self,
            set: &SequenceSet,
            to: &str,
            uid: bool,
        ) -> Result<Vec<(u32, u32)>, Error> {
            let (set, to) = (set.clone(), to.to_owned());
            self.call(|c| async move { c.r#move(&set, &to, uid).await })
        }

        /// EXPUNGE, or UID EXPUNGE of `uids` (UIDPLUS).
        pub fn expunge(&self, uids: Option<&SequenceSet>) -> Result<(), Error> {
            let uids = uids.cloned();
            self.call(|c| async move { c.expunge(uids.as_ref()).await })
        }

        /// FETCH or UID FETCH calling `each` with every response as it is read: a mailbox
        /// of any size in bounded memory. Returns how many responses there were.
        pub fn fetch_each(
            &self,
            set: &SequenceSet,
            items: FetchItems,
            uid: bool,
            mut each: impl FnMut(u32, Vec1<MessageData>) + Send + 'static,
        ) -> Result<usize, Error> {
            let set = set.clone();
            self.call(|c| async move {
                let mut stream = c.fetch_stream(&set, items, uid, 16).await?;
                let mut n = 0;
                while let Some(d) = stream.next().await {
                    if let mailwire_imap::proto::Data::Fetch { seq, items } = d {
                        each(seq.get(), items);
                        n += 1;
                    }
                }
                stream.finish().await?;
                Ok(n)
            })
        }

        /// The UID of message `seq`, when known ([`async_client::Client::uid_of`]).
        pub fn uid_of(&self, seq: u32) -> Option<u32> {
            self.inner.uid_of(seq)
        }

        /// NOOP.
        pub fn noop(&self) -> Result<(), Error> {
            self.call(|c| async move { c.noop().await })
        }

        /// LOGOUT.
        pub fn logout(&self) -> Result<(), Error> {
            self.call(|c| async move { c.logout().await })
        }
    }
}
