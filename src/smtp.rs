//! SMTP, Submission and LMTP: the async client and server (`mailwire-smtp`), and a blocking
//! client for programs without async.
//!
//! The async API is [`client::Client`]; [`blocking::Client`] runs the same client on a
//! [`Runtime`](crate::Runtime) thread and waits for each call.

pub use mailwire_smtp::{client, proto};

/// A blocking SMTP/LMTP client for synchronous programs.
///
/// Every call runs the async [`client::Client`] on a [`Runtime`] (a tokio runtime on a
/// background thread) and waits for it, so it can be used from a GUI thread's worker, a
/// script, or any code without an executor. Do not call it from inside that runtime's own
/// tasks ([`RuntimeError::InsideRuntime`]).
///
/// ```no_run
/// use mailwire::smtp::blocking::Client;
/// use mailwire::smtp::client::ClientOptions;
/// use mailwire::smtp::proto::Envelope;
/// use mailwire::Secret;
///
/// let options = ClientOptions::from_url("smtp://mail.example.org:587")?
///     .credentials("alice", Secret::new("secret".to_owned()));
/// let mut client = Client::connect_with(options)?; // STARTTLS (required), then AUTH
/// let envelope = Envelope::new("alice@example.org".parse()?, ["bob@example.net".parse()?]);
/// let report = client.send(envelope, b"Subject: hi\r\n\r\nHello Bob\r\n".to_vec())?;
/// for (recipient, reply) in &report.recipients {
///     println!("{recipient}: {reply}");
/// }
/// client.quit()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub mod blocking {
    use std::sync::Arc;

    use mailwire_smtp::client::{self as async_client, ClientOptions, MessageError, SendReport};
    use mailwire_smtp::proto::{Envelope, Extensions};
    use thiserror::Error;
    use tokio::sync::Mutex;

    use crate::{Runtime, RuntimeError};

    /// Why a blocking call failed.
    #[derive(Debug, Error)]
    #[non_exhaustive]
    pub enum Error {
        /// The SMTP client failed (see [`async_client::Error`]).
        #[error(transparent)]
        Smtp(#[from] async_client::Error),
        /// The runtime could not run the call: shut down, or called from one of its own async
        /// threads ([`RuntimeError::InsideRuntime`]; the client is unharmed then).
        #[error(transparent)]
        Runtime(#[from] RuntimeError),
        /// The client was closed by `quit`, or lost in a call the runtime abandoned.
        #[error("the SMTP client is closed")]
        Closed,
    }

    /// A connected SMTP/LMTP client whose methods block. See the [module docs](self).
    #[derive(Debug)]
    pub struct Client {
        runtime: Runtime,
        /// Shared with the call in progress, so that a call the runtime refuses to run leaves
        /// the client here.
        inner: Arc<Mutex<Option<async_client::Client>>>,
    }

    impl Client {
        /// Connects to `smtp://`, `smtps://` or `lmtp://HOST[:PORT]` with default options
        /// (STARTTLS required on `smtp://`), on a runtime of its own with one worker thread.
        pub fn connect(url: &str) -> Result<Self, Error> {
            Self::connect_with(ClientOptions::from_url(url)?)
        }

        /// Connects with explicit options on a runtime of its own.
        pub fn connect_with(options: ClientOptions) -> Result<Self, Error> {
            let runtime = Runtime::builder()
                .worker_threads(1)
                .thread_name("mailwire-smtp")
                .build()?;
            Self::connect_on(&runtime, options)
        }

        /// Connects with explicit options on a shared runtime.
        pub fn connect_on(runtime: &Runtime, options: ClientOptions) -> Result<Self, Error> {
            let inner = runtime.block_on(async_client::Client::connect_with(options))??;
            Ok(Self {
                runtime: runtime.clone(),
                inner: Arc::new(Mutex::new(Some(inner))),
            })
        }

        /// The server's extensions (`None` while a call is running or after `quit`).
        pub fn extensions(&self) -> Option<Extensions> {
            let guard = self.inner.try_lock().ok()?;
            guard.as_ref()?.extensions().cloned()
        }

        /// Whether the connection is encrypted.
        pub fn is_tls(&self) -> bool {
            self.inner
                .try_lock()
                .is_ok_and(|g| g.as_ref().is_some_and(async_client::Client::is_tls))
        }

        /// Sends one message; see [`async_client::Client::send`].
        pub fn send(
            &mut self,
            envelope: Envelope,
            message: impl Into<Vec<u8>>,
        ) -> Result<SendReport, Error> {
            let message = message.into();
            let inner = self.inner.clone();
            self.runtime.block_on(async move {
                let mut guard = inner.lock().await;
                let client = guard.as_mut().ok_or(Error::Closed)?;
                Ok(client.send(envelope, message).await?)
            })?
        }

        /// Sends several messages, pipelined; see [`async_client::Client::send_many`].
        pub fn send_many(
            &mut self,
            messages: Vec<(Envelope, Vec<u8>)>,
        ) -> Result<Vec<Result<SendReport, MessageError>>, Error> {
            let inner = self.inner.clone();
            self.runtime.block_on(async move {
                let mut guard = inner.lock().await;
                let client = guard.as_mut().ok_or(Error::Closed)?;
                Ok(client.send_many(messages).await?)
            })?
        }

        /// Sends `QUIT` and closes the connection. A runtime of its own stops when the
        /// client is dropped (its last [`Runtime`] handle).
        pub fn quit(self) -> Result<(), Error> {
            let inner = self.inner.clone();
            self.runtime.block_on(async move {
                let client = inner.lock().await.take().ok_or(Error::Closed)?;
                Ok(client.quit().await?)
            })?
        }
    }
}
