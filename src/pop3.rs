//! POP3: the async client and server (`mailwire-pop3`), and a blocking client for programs
//! without async.
//!
//! The async API is [`client::Client`]; [`blocking::Client`] runs the same client on a
//! [`Runtime`](crate::Runtime) thread and waits for each call.

pub use mailwire_pop3::{client, proto, server};

/// A blocking POP3 client for synchronous programs.
///
/// Every call runs the async [`client::Client`] on a [`Runtime`] (a tokio runtime on a
/// background thread) and waits for it. Messages are streamed: [`Client::retr_to`] writes
/// each chunk into a [`std::io::Write`] as it arrives, so a large message never sits whole in
/// memory. Do not call it from inside an async runtime ([`RuntimeError::InsideRuntime`]).
///
/// ```no_run
/// use mailwire::pop3::blocking::Client;
/// use mailwire::pop3::client::Login;
///
/// let mut client = Client::connect("pop3s://mail.example.org")?; // implicit TLS
/// client.login(Login::password("alice", "secret"))?;
/// let (count, _) = client.stat()?;
/// for n in 1..=count {
///     let mut file = std::fs::File::create(format!("{n}.eml"))?;
///     client.retr_to(n, &mut file)?;
/// }
/// client.quit()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub mod blocking {
    use std::collections::HashSet;
    use std::future::Future;
    use std::io::Write;
    use std::sync::Arc;

    use bytes::Bytes;
    use futures_util::SinkExt;
    use mailwire_pop3::client::{self as async_client, ClientConfig, Login};
    use mailwire_pop3::proto::{Capabilities, ScanListing, Status, UidListing};
    use thiserror::Error;
    use tokio::sync::{Mutex, mpsc};
    use tokio_util::io::{CopyToBytes, SinkWriter};
    use tokio_util::sync::PollSender;

    use crate::{Runtime, RuntimeError};

    /// Why a blocking call failed.
    #[derive(Debug, Error)]
    #[non_exhaustive]
    pub enum Error {
        /// The POP3 client failed (see [`async_client::Error`]).
        #[error(transparent)]
        Pop3(#[from] async_client::Error),
        /// The runtime could not run the call: shut down, or called from inside an async
        /// runtime ([`RuntimeError::InsideRuntime`]).
        #[error(transparent)]
        Runtime(#[from] RuntimeError),
        /// Writing a message into the caller's writer failed.
        #[error("writing the message: {0}")]
        Write(#[source] std::io::Error),
        /// The client was closed by `quit`, or lost in a call the runtime abandoned.
        #[error("the POP3 client is closed")]
        Closed,
    }

    /// A connected POP3 client whose methods block. See the [module docs](self).
    #[derive(Debug)]
    pub struct Client {
        runtime: Runtime,
        inner: Arc<Mutex<Option<async_client::Client>>>,
    }

    impl Client {
        /// Connects to `pop3s://HOST[:PORT]` (implicit TLS) or `pop3://HOST[:PORT]` (STLS,
        /// required) on a runtime of its own with one worker thread.
        pub fn connect(url: &str) -> Result<Self, Error> {
            Self::connect_with(ClientConfig::from_url(url)?)
        }

        /// Connects with explicit settings on a runtime of its own.
        pub fn connect_with(config: ClientConfig) -> Result<Self, Error> {
            let runtime = Runtime::builder()
                .worker_threads(1)
                .thread_name("mailwire-pop3")
                .build()?;
            Self::connect_on(&runtime, config)
        }

        /// Connects with explicit settings on a shared runtime.
        pub fn connect_on(runtime: &Runtime, config: ClientConfig) -> Result<Self, Error> {
            let inner = runtime.block_on(async_client::Client::connect(config))??;
            Ok(Self {
                runtime: runtime.clone(),
                inner: Arc::new(Mutex::new(Some(inner))),
            })
        }

        fn call<T, F, Fut>(&self, f: F) -> Result<T, Error>
        where
            T: Send + 'static,
            F: FnOnce(async_client::Client) -> Fut + Send + 'static,
            Fut: Future<Output = (async_client::Client, Result<T, async_client::Error>)>
                + Send
                + 'static,
        {
            let inner = Arc::clone(&self.inner);
            self.runtime.block_on(async move {
                let mut guard = inner.lock().await;
                let client = guard.take().ok_or(Error::Closed)?;
                let (client, result) = f(client).await;
                *guard = Some(client);
                Ok(result?)
            })?
        }

        /// The server's capabilities (`None` while a call is running or after `quit`).
        pub fn capabilities(&self) -> Option<Capabilities> {
            let guard = self.inner.try_lock().ok()?;
            Some(guard.as_ref()?.capabilities().clone())
        }

        /// Whether the connection is encrypted.
        pub fn is_tls(&self) -> bool {
            self.inner
                .try_lock()
                .is_ok_and(|g| g.as_ref().is_some_and(async_client::Client::is_tls))
        }

        /// Logs in; see [`async_client::Client::login`].
        pub fn login(&mut self, login: Login) -> Result<(), Error> {
            self.call(|mut c| async move {
                let r = c.login(&login).await;
                (c, r)
            })
        }

        /// STAT: number of messages and total size.
        pub fn stat(&mut self) -> Result<(u32, u64), Error> {
            self.call(|mut c| async move {
                let r = c.stat().await;
                (c, r)
            })
        }

        /// LIST.
        pub fn list(&mut self) -> Result<Vec<ScanListing>, Error> {
            self.call(|mut c| async move {
                let r = c.list().await;
                (c, r)
            })
        }

        /// UIDL.
        pub fn uidl(&mut self) -> Result<Vec<UidListing>, Error> {
            self.call(|mut c| async move {
                let r = c.uidl().await;
                (c, r)
            })
        }

        /// The messages whose unique id is not in `seen`.
        pub fn new_messages(&mut self, seen: HashSet<String>) -> Result<Vec<UidListing>, Error> {
            self.call(|mut c| async move {
                let r = c.new_messages(&seen).await;
                (c, r)
            })
        }

        /// RETR into memory.
        pub fn retr(&mut self, message: u32) -> Result<Vec<u8>, Error> {
            self.call(move |mut c| async move {
                let r = c.retr(message).await;
                (c, r)
            })
        }

        /// RETR streamed into `w` chunk by chunk (unstuffed); returns the message size.
        pub fn retr_to<W: Write>(&mut self, message: u32, w: &mut W) -> Result<u64, Error> {
            if tokio::runtime::Handle::try_current().is_ok() {
                return Err(Error::Runtime(RuntimeError::InsideRuntime));
            }
            let (tx, mut rx) = mpsc::channel::<Bytes>(4);
            let inner = Arc::clone(&self.inner);
            let pending = self.runtime.spawn(async move {
                let mut guard = inner.lock().await;
                let client = guard.as_mut().ok_or(Error::Closed)?;
                let mut writer = channel_writer(tx);
                Ok::<_, Error>(client.retr_to(message, &mut writer).await?)
            });
            let mut write_error = None;
            while let Some(chunk) = rx.blocking_recv() {
                if let Err(e) = w.write_all(&chunk) {
                    write_error = Some(e);
                    break;
                }
            }
            drop(rx);
            let result = pending.wait()?;
            match write_error {
                Some(e) => Err(Error::Write(e)),
                None => result,
            }
        }

        /// DELE: marks a message; it is removed at QUIT.
        pub fn dele(&mut self, message: u32) -> Result<(), Error> {
            self.call(move |mut c| async move {
                let r = c.dele(message).await;
                (c, r)
            })
        }

        /// RSET.
        pub fn rset(&mut self) -> Result<(), Error> {
            self.call(|mut c| async move {
                let r = c.rset().await;
                (c, r)
            })
        }

        /// NOOP.
        pub fn noop(&mut self) -> Result<(), Error> {
            self.call(|mut c| async move {
                let r = c.noop().await;
                (c, r)
            })
        }

        /// QUIT: marked messages are removed; `+OK` comes once that is durable.
        pub fn quit(self) -> Result<Status, Error> {
            let inner = self.inner.clone();
            self.runtime.block_on(async move {
                let client = inner.lock().await.take().ok_or(Error::Closed)?;
                Ok(client.quit().await?)
            })?
        }
    }

    /// An `AsyncWrite` that hands each write to the blocked caller's thread through a small
    /// channel, waiting for room in it (back-pressure from the caller's writer to the socket).
    /// A caller that stopped reading is a broken pipe.
    fn channel_writer(tx: mpsc::Sender<Bytes>) -> impl tokio::io::AsyncWrite + Unpin + Send {
        SinkWriter::new(CopyToBytes::new(PollSender::new(tx).sink_map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the caller stopped reading the message",
            )
        })))
    }
}
