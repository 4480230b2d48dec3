//! A tokio runtime on a background thread, for programs whose main thread
//! belongs to something else (a GUI toolkit's event loop, a game loop, a
//! plain synchronous program).
//!
//! This is the pattern Twisted users know as running the reactor in a thread
//! beside the GUI: [`Runtime::spawn`] / [`Runtime::block_on`] play the part
//! of `callFromThread` / `blockingCallFromThread`, and
//! [`Runtime::spawn_blocking`] the part of `deferToThread`.
//!
//! # Threads
//!
//! [`Runtime::new`] starts one *owner* thread (named `<name>-owner`) that
//! builds nothing itself but owns a tokio **multi-thread** runtime: the
//! owner parks until shutdown, then shuts the runtime down and exits. The
//! runtime's worker threads (by default one per CPU, see
//! [`Builder::worker_threads`]) and its blocking-pool threads are all named
//! `<name>`. Because the tokio runtime is owned and dropped by that thread,
//! dropping a [`Runtime`] is safe from any thread, including from inside
//! another tokio runtime.
//!
//! # Results
//!
//! Every submission produces exactly one `Result<T, RuntimeError>`: the
//! value, [`RuntimeError::Panicked`] when the task panicked,
//! [`RuntimeError::Cancelled`] when it was cancelled, or
//! [`RuntimeError::ShutDown`] when the runtime was (or got) shut down before
//! the task finished. Results arrive through a [`Pending`] (poll it from your
//! loop with [`Pending::try_result`], or block with [`Pending::wait`]), a
//! callback ([`Runtime::spawn_with_callback`]) or a channel
//! ([`Runtime::spawn_to`]).

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, mpsc};
use std::thread;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::{AbortHandle, JoinError};

/// Errors reported by [`Runtime`] and [`Pending`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The runtime was shut down before the work could run or finish.
    #[error("the runtime has been shut down")]
    ShutDown,
    /// The task panicked; the panic message.
    #[error("task panicked: {0}")]
    Panicked(String),
    /// A blocking call ([`Runtime::block_on`], [`Pending::wait`],
    /// [`Runtime::shutdown`]) was made from one of the runtime's own async
    /// threads, where it could deadlock. Use `.await` there instead.
    #[error(
        "blocking call from inside the runtime's own threads (it could deadlock); await instead"
    )]
    InsideRuntime,
    /// The task was cancelled ([`Pending::cancel`], [`TaskHandle::cancel`]).
    #[error("the task was cancelled")]
    Cancelled,
    /// [`Pending::wait`] was called after the result had already been taken
    /// by [`Pending::try_result`] or [`Pending::wait_timeout`].
    #[error("the result has already been taken")]
    AlreadyTaken,
    /// The runtime or its thread could not be started.
    #[error("cannot start the runtime: {0}")]
    Start(#[source] std::io::Error),
}

static NEXT_RUNTIME_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Id of the [`Runtime`] owning the current thread, 0 for other threads.
    static CURRENT_RUNTIME: Cell<u64> = const { Cell::new(0) };
    /// Set while a closure submitted through `Runtime::spawn_blocking` runs:
    /// blocking is fine there.
    static IN_BLOCKING_WORK: Cell<bool> = const { Cell::new(false) };
}

/// Whether blocking on runtime `id` from this thread could deadlock: true on
/// its workers and owner thread, false on other threads and inside closures
/// submitted with [`Runtime::spawn_blocking`].
fn would_deadlock(id: u64) -> bool {
    CURRENT_RUNTIME.with(Cell::get) == id && !IN_BLOCKING_WORK.with(Cell::get)
}

fn on_own_thread(id: u64) -> bool {
    CURRENT_RUNTIME.with(Cell::get) == id
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Configures and starts a [`Runtime`].
#[derive(Debug, Clone)]
pub struct Builder {
    worker_threads: Option<usize>,
    max_blocking_threads: Option<usize>,
    thread_name: String,
    drop_timeout: Duration,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            worker_threads: None,
            max_blocking_threads: None,
            thread_name: "mailwire-rt".to_owned(),
            drop_timeout: Duration::from_secs(2),
        }
    }
}

impl Builder {
    /// Defaults: tokio's worker count (one per CPU), tokio's blocking-pool
    /// limit, thread name `mailwire-rt`, 2 s shutdown timeout on drop.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of async worker threads (at least 1).
    pub fn worker_threads(mut self, n: usize) -> Self {
        self.worker_threads = Some(n);
        self
    }

    /// Upper limit on threads running [`Runtime::spawn_blocking`] work (at
    /// least 1).
    pub fn max_blocking_threads(mut self, n: usize) -> Self {
        self.max_blocking_threads = Some(n);
        self
    }

    /// Name of the runtime's threads; the owner thread gets `-owner`
    /// appended.
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// How long dropping the last [`Runtime`] clone waits for running tasks
    /// (see [`Runtime::shutdown`]).
    pub fn drop_timeout(mut self, timeout: Duration) -> Self {
        self.drop_timeout = timeout;
        self
    }

    /// Starts the runtime and its owner thread.
    pub fn build(self) -> Result<Runtime, RuntimeError> {
        let invalid = |what: &str| {
            RuntimeError::Start(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{what} must be at least 1"),
            ))
        };
        let id = NEXT_RUNTIME_ID.fetch_add(1, Ordering::Relaxed);
        let mut tokio_builder = tokio::runtime::Builder::new_multi_thread();
        tokio_builder
            .enable_all()
            .thread_name(self.thread_name.clone())
            .on_thread_start(move || CURRENT_RUNTIME.with(|c| c.set(id)));
        if let Some(n) = self.worker_threads {
            if n == 0 {
                return Err(invalid("worker_threads"));
            }
            tokio_builder.worker_threads(n);
        }
        if let Some(n) = self.max_blocking_threads {
            if n == 0 {
                return Err(invalid("max_blocking_threads"));
            }
            tokio_builder.max_blocking_threads(n);
        }
        let runtime = tokio_builder.build().map_err(RuntimeError::Start)?;
        let handle = runtime.handle().clone();
        let (stop_tx, stop_rx) = oneshot::channel::<Duration>();
        let owner = thread::Builder::new()
            .name(format!("{}-owner", self.thread_name))
            .spawn(move || {
                CURRENT_RUNTIME.with(|c| c.set(id));
                let timeout = runtime.block_on(async move { stop_rx.await.unwrap_or_default() });
                runtime.shutdown_timeout(timeout);
            })
            .map_err(RuntimeError::Start)?;
        tracing::debug!(runtime = id, name = %self.thread_name, "runtime started");
        Ok(Runtime {
            inner: Arc::new(Inner {
                id,
                handle: RwLock::new(Some(handle)),
                control: Mutex::new(Control {
                    stop: Some(stop_tx),
                    owner: Some(owner),
                }),
                closing: Arc::new(AtomicBool::new(false)),
                drop_timeout: self.drop_timeout,
            }),
        })
    }
}

struct Control {
    stop: Option<oneshot::Sender<Duration>>,
    owner: Option<thread::JoinHandle<()>>,
}

struct Inner {
    id: u64,
    /// `None` once shutdown has begun: no new work is accepted.
    handle: RwLock<Option<tokio::runtime::Handle>>,
    control: Mutex<Control>,
    /// Set when shutdown begins; tells dropped tasks to report `ShutDown`
    /// rather than `Cancelled`.
    closing: Arc<AtomicBool>,
    drop_timeout: Duration,
}

impl Inner {
    fn stop(&self, timeout: Duration, join: bool) -> Result<(), RuntimeError> {
        self.closing.store(true, Ordering::SeqCst);
        self.handle
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let mut control = lock(&self.control);
        if let Some(stop) = control.stop.take() {
            let _ = stop.send(timeout);
        }
        let owner = control.owner.take();
        if !join {
            return Ok(()); // detached: the owner thread finishes on its own
        }
        // Keep holding the lock while joining so that a concurrent
        // `shutdown` returns only once the thread is gone.
        if let Some(owner) = owner {
            owner
                .join()
                .map_err(|p| RuntimeError::Panicked(panic_message(p)))?;
            tracing::debug!(runtime = self.id, "runtime stopped");
        }
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // On one of our own threads the owner cannot be joined (it waits for
        // this very thread): detach it instead.
        let join = !on_own_thread(self.id);
        let _ = self.stop(self.drop_timeout, join);
    }
}

/// A tokio runtime running on a background thread it owns, accepting work
/// from any thread.
///
/// Cheap to clone (an `Arc` inside) and `Send + Sync`. The runtime stops when
/// [`shutdown`](Self::shutdown) is called or the last clone is dropped
/// (waiting up to [`Builder::drop_timeout`]). A clone captured by a task that
/// never finishes keeps the runtime alive until `shutdown` is called.
///
/// ```
/// use std::time::Duration;
/// use mailwire::Runtime;
///
/// let rt = Runtime::new()?;
/// let mut pending = rt.spawn(async {
///     tokio::time::sleep(Duration::from_millis(10)).await;
///     6 * 7
/// });
/// // From a GUI loop: poll without blocking, once per frame.
/// let answer = loop {
///     if let Some(result) = pending.try_result() {
///         break result?;
///     }
///     std::thread::sleep(Duration::from_millis(1)); // render a frame
/// };
/// assert_eq!(answer, 42);
/// rt.shutdown(Duration::from_secs(1))?;
/// # Ok::<(), mailwire::RuntimeError>(())
/// ```
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("id", &self.inner.id)
            .field("shut_down", &self.is_shut_down())
            .finish()
    }
}

/// A result's receiver.
type Callback<T> = Box<dyn FnOnce(Result<T, RuntimeError>) + Send>;

/// Where a task's result goes: called exactly once, with the outcome of the task's
/// [`JoinHandle`](tokio::task::JoinHandle), or, when shutdown drops the task that awaits it,
/// with [`RuntimeError::ShutDown`] (this guarantee is what tokio does not give: a dropped
/// task's callback would otherwise never be called).
struct Deliver<T> {
    to: Option<Callback<T>>,
    closing: Arc<AtomicBool>,
}

impl<T> Deliver<T> {
    fn new(
        closing: Arc<AtomicBool>,
        to: impl FnOnce(Result<T, RuntimeError>) + Send + 'static,
    ) -> Self {
        Deliver {
            to: Some(Box::new(to)),
            closing,
        }
    }

    /// Delivers a task's outcome: a panic is [`RuntimeError::Panicked`] (tokio caught it), an
    /// abort [`RuntimeError::Cancelled`], or [`RuntimeError::ShutDown`] during shutdown.
    fn complete(mut self, outcome: Result<T, JoinError>) {
        let result = outcome.map_err(|e| {
            if e.is_panic() {
                RuntimeError::Panicked(panic_message(e.into_panic()))
            } else {
                self.ended()
            }
        });
        if let Some(to) = self.to.take() {
            to(result);
        }
    }

    fn ended(&self) -> RuntimeError {
        if self.closing.load(Ordering::SeqCst) {
            RuntimeError::ShutDown
        } else {
            RuntimeError::Cancelled
        }
    }
}

impl<T> Drop for Deliver<T> {
    fn drop(&mut self) {
        if let Some(to) = self.to.take() {
            let err = self.ended();
            // A panicking callback must not escape from a destructor.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| to(Err(err))));
        }
    }
}

/// Marks the current thread as running [`Runtime::spawn_blocking`] work (where blocking on
/// the runtime is fine) until dropped, also when the work panics.
struct BlockingWork;

impl BlockingWork {
    fn enter() -> Self {
        IN_BLOCKING_WORK.with(|b| b.set(true));
        BlockingWork
    }
}

impl Drop for BlockingWork {
    fn drop(&mut self) {
        IN_BLOCKING_WORK.with(|b| b.set(false));
    }
}

impl Runtime {
    /// Starts a runtime with the default [`Builder`] settings.
    pub fn new() -> Result<Runtime, RuntimeError> {
        Builder::new().build()
    }

    /// A [`Builder`] for worker count, thread name and timeouts.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Whether [`shutdown`](Self::shutdown) has begun; submissions then fail
    /// with [`RuntimeError::ShutDown`].
    pub fn is_shut_down(&self) -> bool {
        self.inner.closing.load(Ordering::SeqCst)
    }

    /// The underlying tokio handle, for APIs that need one (entering the
    /// runtime context, spawning without result plumbing). `None` after
    /// shutdown.
    pub fn tokio_handle(&self) -> Option<tokio::runtime::Handle> {
        self.inner
            .handle
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Spawns `spawn`'s task on the runtime and a second task that awaits its `JoinHandle`
    /// and delivers the outcome; `None` (and `ShutDown` delivered) after shutdown.
    fn submit<T: Send + 'static>(
        &self,
        deliver: Deliver<T>,
        spawn: impl FnOnce(&tokio::runtime::Handle) -> tokio::task::JoinHandle<T>,
    ) -> Option<AbortHandle> {
        let handle = self
            .inner
            .handle
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        // Spawning under the read lock: `shutdown` cannot begin in between.
        if let Some(h) = handle.as_ref() {
            let task = spawn(h);
            let abort = task.abort_handle();
            h.spawn(async move { deliver.complete(task.await) });
            return Some(abort);
        }
        drop(handle);
        drop(deliver); // delivers ShutDown
        None
    }

    fn submit_async<F, T>(&self, fut: F, deliver: Deliver<T>) -> Option<AbortHandle>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.submit(deliver, |h| h.spawn(fut))
    }

    fn submit_blocking<F, T>(&self, f: F, deliver: Deliver<T>) -> Option<AbortHandle>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.submit(deliver, |h| {
            h.spawn_blocking(move || {
                let _blocking = BlockingWork::enter();
                f()
            })
        })
    }

    fn pending<T: Send + 'static>(&self) -> (Deliver<T>, mpsc::Receiver<Result<T, RuntimeError>>) {
        // A std channel, not a tokio oneshot: `Pending::wait_timeout` needs `recv_timeout`,
        // and `wait` may be called on another runtime's thread, where a oneshot's
        // `blocking_recv` panics.
        let (tx, rx) = mpsc::sync_channel(1);
        let deliver = Deliver::new(self.inner.closing.clone(), move |r| {
            let _ = tx.send(r);
        });
        (deliver, rx)
    }

    /// Runs `fut` on the runtime and returns at once; the result is picked
    /// up through the returned [`Pending`]. After shutdown the `Pending`
    /// holds [`RuntimeError::ShutDown`].
    pub fn spawn<F, T>(&self, fut: F) -> Pending<T>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let (deliver, rx) = self.pending();
        let abort = self.submit_async(fut, deliver);
        Pending::new(rx, abort, self.inner.id)
    }

    /// Runs `fut` on the runtime and calls `callback` with its result, on a
    /// runtime thread (keep it short: typically a channel send or a GUI
    /// toolkit's "wake up" call).
    ///
    /// `callback` is called exactly once. If the runtime is already shut
    /// down it is called immediately, on the calling thread, with
    /// [`RuntimeError::ShutDown`].
    pub fn spawn_with_callback<F, T, C>(&self, fut: F, callback: C) -> TaskHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
        C: FnOnce(Result<T, RuntimeError>) + Send + 'static,
    {
        let deliver = Deliver::new(self.inner.closing.clone(), callback);
        TaskHandle {
            abort: self.submit_async(fut, deliver),
        }
    }

    /// Runs `fut` on the runtime and sends its result into `sender`, so that
    /// a loop can drain one channel with `try_recv`. For channels carrying an
    /// enum of several result kinds, use
    /// [`spawn_with_callback`](Self::spawn_with_callback) and wrap the result.
    pub fn spawn_to<F, T>(
        &self,
        fut: F,
        sender: mpsc::Sender<Result<T, RuntimeError>>,
    ) -> TaskHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_with_callback(fut, move |r| {
            let _ = sender.send(r);
        })
    }

    /// Runs the blocking function `f` on the runtime's blocking thread pool
    /// (Twisted's `deferToThread`). `f` may itself call
    /// [`block_on`](Self::block_on) on this runtime.
    ///
    /// A blocking function that has started cannot be cancelled, and
    /// shutdown only waits for it up to its timeout.
    pub fn spawn_blocking<F, T>(&self, f: F) -> Pending<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (deliver, rx) = self.pending();
        let abort = self.submit_blocking(f, deliver);
        Pending::new(rx, abort, self.inner.id)
    }

    /// [`spawn_blocking`](Self::spawn_blocking) with the result delivered to
    /// `callback`, as with [`spawn_with_callback`](Self::spawn_with_callback).
    pub fn spawn_blocking_with_callback<F, T, C>(&self, f: F, callback: C) -> TaskHandle
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
        C: FnOnce(Result<T, RuntimeError>) + Send + 'static,
    {
        let deliver = Deliver::new(self.inner.closing.clone(), callback);
        TaskHandle {
            abort: self.submit_blocking(f, deliver),
        }
    }

    /// Runs `fut` on the runtime and waits for its result.
    ///
    /// Fails with [`RuntimeError::InsideRuntime`] (instead of deadlocking)
    /// when called from one of this runtime's async threads; it may be
    /// called from any other thread, including from inside
    /// [`spawn_blocking`](Self::spawn_blocking) work. Calling it from another
    /// async runtime's thread works but blocks that thread.
    pub fn block_on<F, T>(&self, fut: F) -> Result<T, RuntimeError>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        if would_deadlock(self.inner.id) {
            return Err(RuntimeError::InsideRuntime);
        }
        self.spawn(fut).wait()
    }

    /// Stops the runtime and joins its owner thread.
    ///
    /// New submissions fail with [`RuntimeError::ShutDown`] from now on.
    /// Async tasks are dropped at their next `.await` (their results become
    /// [`RuntimeError::ShutDown`]); running blocking work is waited for up to
    /// `timeout`, then left to finish on its own. Calling it again, or from
    /// several threads, is fine: every call returns once the thread is gone.
    ///
    /// Fails with [`RuntimeError::InsideRuntime`], doing nothing, when
    /// called from one of the runtime's own threads.
    pub fn shutdown(&self, timeout: Duration) -> Result<(), RuntimeError> {
        if on_own_thread(self.inner.id) {
            return Err(RuntimeError::InsideRuntime);
        }
        self.inner.stop(timeout, true)
    }
}

/// Lets the submitter of [`Runtime::spawn_with_callback`] (and friends)
/// cancel the task.
#[derive(Debug, Clone)]
pub struct TaskHandle {
    abort: Option<AbortHandle>,
}

impl TaskHandle {
    /// Cancels the task if it has not finished: its callback then receives
    /// [`RuntimeError::Cancelled`]. Blocking work that has started runs to
    /// completion.
    pub fn cancel(&self) {
        if let Some(abort) = &self.abort {
            abort.abort();
        }
    }
}

/// The future result of work submitted with [`Runtime::spawn`] or
/// [`Runtime::spawn_blocking`], to be polled from the caller's own loop or
/// waited for.
pub struct Pending<T> {
    rx: mpsc::Receiver<Result<T, RuntimeError>>,
    abort: Option<AbortHandle>,
    runtime_id: u64,
    taken: bool,
}

impl<T> fmt::Debug for Pending<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("taken", &self.taken)
            .finish_non_exhaustive()
    }
}

impl<T> Pending<T> {
    fn new(
        rx: mpsc::Receiver<Result<T, RuntimeError>>,
        abort: Option<AbortHandle>,
        runtime_id: u64,
    ) -> Self {
        Pending {
            rx,
            abort,
            runtime_id,
            taken: false,
        }
    }

    fn take(
        &mut self,
        result: Result<Result<T, RuntimeError>, mpsc::RecvTimeoutError>,
    ) -> Option<Result<T, RuntimeError>> {
        match result {
            Ok(result) => {
                self.taken = true;
                Some(result)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            // Every task delivers exactly once; a vanished sender can only
            // mean the task was torn down with the runtime.
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                self.taken = true;
                Some(Err(RuntimeError::ShutDown))
            }
        }
    }

    /// Returns the result if it is ready, `None` if not, never blocking.
    ///
    /// Once the result has been returned, later calls return `None`.
    pub fn try_result(&mut self) -> Option<Result<T, RuntimeError>> {
        if self.taken {
            return None;
        }
        let polled = self.rx.try_recv().map_err(|e| match e {
            mpsc::TryRecvError::Empty => mpsc::RecvTimeoutError::Timeout,
            mpsc::TryRecvError::Disconnected => mpsc::RecvTimeoutError::Disconnected,
        });
        self.take(polled)
    }

    /// Waits up to `timeout` for the result; `None` if it is not ready by
    /// then (or was already taken).
    ///
    /// On the runtime's own async threads it does not block and returns
    /// `Some(Err(RuntimeError::InsideRuntime))`, leaving the result to be
    /// collected later.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<Result<T, RuntimeError>> {
        if self.taken {
            return None;
        }
        if would_deadlock(self.runtime_id) {
            return Some(Err(RuntimeError::InsideRuntime));
        }
        let received = self.rx.recv_timeout(timeout);
        self.take(received)
    }

    /// Waits for the result.
    ///
    /// Fails with [`RuntimeError::InsideRuntime`] on the runtime's own async
    /// threads, and with [`RuntimeError::AlreadyTaken`] if the result was
    /// already returned by [`try_result`](Self::try_result) or
    /// [`wait_timeout`](Self::wait_timeout).
    pub fn wait(mut self) -> Result<T, RuntimeError> {
        if self.taken {
            return Err(RuntimeError::AlreadyTaken);
        }
        if would_deadlock(self.runtime_id) {
            return Err(RuntimeError::InsideRuntime);
        }
        let received = self
            .rx
            .recv()
            .map_err(|_| mpsc::RecvTimeoutError::Disconnected);
        self.take(received).unwrap_or(Err(RuntimeError::ShutDown))
    }

    /// Whether the result has already been returned.
    pub fn is_taken(&self) -> bool {
        self.taken
    }

    /// Cancels the task if it has not finished; its result becomes
    /// [`RuntimeError::Cancelled`]. Blocking work that has started runs to
    /// completion.
    pub fn cancel(&self) {
        if let Some(abort) = &self.abort {
            abort.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    const LONG: Duration = Duration::from_secs(10);

    fn rt() -> Runtime {
        Runtime::builder().worker_threads(2).build().unwrap()
    }

    #[test]
    fn runtime_is_send_sync_and_pending_is_send() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<Runtime>();
        send_sync::<TaskHandle>();
        send::<Pending<String>>();
        send_sync::<RuntimeError>();
    }

    #[test]
    fn results_from_several_threads() {
        let rt = rt();
        let threads: Vec<_> = (0..4u64)
            .map(|i| {
                let rt = rt.clone();
                thread::spawn(move || {
                    let a = rt
                        .block_on(async move {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            i * 10
                        })
                        .unwrap();
                    let b = rt.spawn(async move { i * 100 }).wait().unwrap();
                    let c = rt.spawn_blocking(move || i * 1000).wait().unwrap();
                    a + b + c
                })
            })
            .collect();
        let results: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(results, vec![0, 1110, 2220, 3330]);
        rt.shutdown(LONG).unwrap();
    }

    #[test]
    fn panics_come_back_as_errors() {
        let rt = rt();
        let pending: Pending<()> = rt.spawn(async {
            tokio::task::yield_now().await;
            panic!("boom in async task");
        });
        let err = pending.wait().unwrap_err();
        assert!(
            matches!(&err, RuntimeError::Panicked(m) if m == "boom in async task"),
            "{err:?}"
        );

        let n = 7;
        let err = rt
            .block_on(async move {
                if n == 7 {
                    panic!("formatted {n}");
                }
                n
            })
            .unwrap_err();
        assert!(
            matches!(&err, RuntimeError::Panicked(m) if m == "formatted 7"),
            "{err:?}"
        );

        let err = rt
            .spawn_blocking(|| -> u8 { panic!("boom in blocking work") })
            .wait()
            .unwrap_err();
        assert!(
            matches!(&err, RuntimeError::Panicked(m) if m.contains("blocking")),
            "{err:?}"
        );

        let (tx, rx) = mpsc::channel();
        rt.spawn_with_callback(
            async { panic!("boom for callback") },
            move |r: Result<(), _>| {
                tx.send(r).unwrap();
            },
        );
        let err = rx.recv_timeout(LONG).unwrap().unwrap_err();
        assert!(matches!(err, RuntimeError::Panicked(_)));

        // The runtime is still usable afterwards.
        assert_eq!(rt.block_on(async { 1 }).unwrap(), 1);
        rt.shutdown(LONG).unwrap();
    }

    #[test]
    fn block_on_inside_the_runtime_errors_instead_of_deadlocking() {
        let rt = Runtime::builder().worker_threads(1).build().unwrap();
        let inner = rt.clone();
        let mut pending = rt.spawn(async move {
            let nested = inner.block_on(async { 5 });
            let waited = inner.spawn(async { 6 }).wait();
            let shutdown = inner.shutdown(Duration::ZERO);
            (nested, waited, shutdown)
        });
        let (nested, waited, shutdown) = pending.wait_timeout(LONG).expect("deadlocked").unwrap();
        assert!(matches!(nested, Err(RuntimeError::InsideRuntime)));
        assert!(matches!(waited, Err(RuntimeError::InsideRuntime)));
        assert!(matches!(shutdown, Err(RuntimeError::InsideRuntime)));
        assert!(!rt.is_shut_down());
        rt.shutdown(LONG).unwrap();
    }

    #[test]
    fn block_on_from_blocking_work_is_allowed() {
        let rt = rt();
        let inner = rt.clone();
        let got = rt
            .spawn_blocking(move || inner.block_on(async { "called back" }))
            .wait()
            .unwrap()
            .unwrap();
        assert_eq!(got, "called back");
        rt.shutdown(LONG).unwrap();
    }

    #[test]
    fn pending_polls_none_then_some_without_blocking() {
        let rt = rt();
        let (gate_tx, gate_rx) = oneshot::channel::<u32>();
        let mut pending = rt.spawn(async move { gate_rx.await.unwrap() + 1 });
        let start = Instant::now();
        for _ in 0..10 {
            assert!(pending.try_result().is_none());
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "try_result blocked"
        );
        assert!(pending.wait_timeout(Duration::from_millis(20)).is_none());
        gate_tx.send(41).unwrap();
        let deadline = Instant::now() + LONG;
        let value = loop {
            if let Some(r) = pending.try_result() {
                break r.unwrap();
            }
            assert!(Instant::now() < deadline, "result never arrived");
            thread::sleep(Duration::from_millis(1));
        };
        assert_eq!(value, 42);
        assert!(pending.is_taken());
        assert!(pending.try_result().is_none());
        assert!(matches!(pending.wait(), Err(RuntimeError::AlreadyTaken)));
        rt.shutdown(LONG).unwrap();
    }

    #[test]
    fn spawn_to_delivers_into_one_channel() {
        let rt = rt();
        let (tx, rx) = mpsc::channel();
        for i in 0..5u64 {
            rt.spawn_to(
                async move {
                    tokio::time::sleep(Duration::from_millis(5 * (5 - i))).await;
                    i
                },
                tx.clone(),
            );
        }
        drop(tx);
        let mut got: Vec<u64> = rx.iter().map(Result::unwrap).collect();
        got.sort_unstable();
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
        rt.shutdown(LONG).unwrap();
    }

    #[test]
    fn cancel_reports_cancelled() {
        let rt = rt();
        let pending = rt.spawn(std::future::pending::<()>());
        pending.cancel();
        assert!(matches!(pending.wait(), Err(RuntimeError::Cancelled)));

        let (tx, rx) = mpsc::channel();
        let task = rt.spawn_to(std::future::pending::<()>(), tx);
        task.cancel();
        assert!(matches!(
            rx.recv_timeout(LONG).unwrap(),
            Err(RuntimeError::Cancelled)
        ));
        rt.shutdown(LONG).unwrap();
    }

    thread_local! {
        static MARKER: Cell<Option<DropMarker>> = const { Cell::new(None) };
    }

    struct DropMarker(Arc<AtomicUsize>);

    impl Drop for DropMarker {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn shutdown_joins_threads_and_fails_pending_work() {
        let rt = rt();
        // A thread-local on a runtime thread is destroyed only when that
        // thread exits.
        let thread_exits = Arc::new(AtomicUsize::new(0));
        let marker = DropMarker(thread_exits.clone());
        rt.spawn_blocking(move || MARKER.with(|m| m.set(Some(marker))))
            .wait()
            .unwrap();
        // A task that never finishes is dropped by the shutdown.
        let task_drops = Arc::new(AtomicUsize::new(0));
        let guard = DropMarker(task_drops.clone());
        let forever = rt.spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        let (tx, rx) = mpsc::channel();
        rt.spawn_to(std::future::pending::<()>(), tx);

        assert_eq!(thread_exits.load(Ordering::SeqCst), 0);
        rt.shutdown(LONG).unwrap();
        assert!(rt.is_shut_down());
        assert_eq!(thread_exits.load(Ordering::SeqCst), 1, "thread not joined");
        assert_eq!(task_drops.load(Ordering::SeqCst), 1, "task not dropped");
        assert!(matches!(forever.wait(), Err(RuntimeError::ShutDown)));
        assert!(matches!(
            rx.try_recv().unwrap(),
            Err(RuntimeError::ShutDown)
        ));
        // Idempotent.
        rt.shutdown(LONG).unwrap();
    }

    #[test]
    fn dropping_the_last_clone_joins_threads() {
        let rt = rt();
        let clone = rt.clone();
        let thread_exits = Arc::new(AtomicUsize::new(0));
        let marker = DropMarker(thread_exits.clone());
        rt.spawn_blocking(move || MARKER.with(|m| m.set(Some(marker))))
            .wait()
            .unwrap();
        drop(rt);
        assert_eq!(thread_exits.load(Ordering::SeqCst), 0, "a clone is alive");
        assert_eq!(clone.block_on(async { 3 }).unwrap(), 3);
        drop(clone);
        assert_eq!(thread_exits.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn dropping_inside_the_runtime_does_not_deadlock() {
        let rt = rt();
        let (tx, rx) = mpsc::channel();
        let inner = rt.clone();
        let gate = Arc::new(std::sync::Barrier::new(2));
        let task_gate = gate.clone();
        rt.spawn_blocking(move || {
            task_gate.wait();
            drop(inner); // the last clone, dropped on a runtime thread
            tx.send(()).unwrap();
        });
        drop(rt);
        gate.wait();
        rx.recv_timeout(LONG).expect("drop deadlocked");
    }

    #[test]
    fn submitting_after_shutdown_errors() {
        let rt = rt();
        rt.shutdown(LONG).unwrap();
        assert!(rt.tokio_handle().is_none());
        assert!(matches!(
            rt.block_on(async { 1 }),
            Err(RuntimeError::ShutDown)
        ));
        let mut pending = rt.spawn(async { 1 });
        assert!(matches!(
            pending.try_result(),
            Some(Err(RuntimeError::ShutDown))
        ));
        assert!(matches!(
            rt.spawn_blocking(|| 1).wait(),
            Err(RuntimeError::ShutDown)
        ));
        let (tx, rx) = mpsc::channel();
        rt.spawn_to(async { 1 }, tx);
        assert!(matches!(
            rx.try_recv().unwrap(),
            Err(RuntimeError::ShutDown)
        ));
        let called = Arc::new(AtomicBool::new(false));
        let flag = called.clone();
        rt.spawn_blocking_with_callback(
            || 1,
            move |r| flag.store(matches!(r, Err(RuntimeError::ShutDown)), Ordering::SeqCst),
        );
        assert!(called.load(Ordering::SeqCst));
    }

    #[test]
    fn builder_names_threads_and_validates() {
        let rt = Runtime::builder()
            .thread_name("gui-net")
            .worker_threads(1)
            .max_blocking_threads(2)
            .drop_timeout(Duration::from_millis(100))
            .build()
            .unwrap();
        let name = rt
            .spawn_blocking(|| thread::current().name().map(str::to_owned))
            .wait()
            .unwrap();
        assert_eq!(name.as_deref(), Some("gui-net"));
        let async_name = rt
            .block_on(async { thread::current().name().map(str::to_owned) })
            .unwrap();
        assert_eq!(async_name.as_deref(), Some("gui-net"));
        drop(rt);
        assert!(matches!(
            Runtime::builder().worker_threads(0).build(),
            Err(RuntimeError::Start(_))
        ));
    }
}
