//! The accept loop every mailwire server shares: a connection limit with a busy reply, one task
//! per connection, and a graceful shutdown that gives connections in flight a grace period.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

/// Connection numbers for the logs, unique in the process.
static CONNECTIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// How often a lasting accept failure is logged.
const ACCEPT_WARN_EVERY: Duration = Duration::from_secs(10);

/// Settings of [`serve_connections`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptLimits {
    /// Connections served at once. One more is answered with
    /// [`busy_reply`](Self::busy_reply) and closed.
    pub max_connections: usize,
    /// Connections served at once from one client address (IPv4 address, or IPv6 address);
    /// one more gets the busy reply too. `usize::MAX`: only `max_connections` counts.
    pub max_per_address: usize,
    /// What a connection over the limit is told before it is closed, in the protocol's words
    /// (`421 4.3.2 …` for SMTP, `-ERR [SYS/TEMP] …` for POP3, `* BYE …` for IMAP).
    pub busy_reply: &'static [u8],
    /// After shutdown is signalled, how long connections in flight may take to finish before
    /// they are aborted.
    pub grace: Duration,
}

/// Accepts connections on `listener` until `shutdown` turns `true` (or its sender is dropped),
/// running `serve(stream, peer, shutdown)` as a task for each, at most
/// [`max_connections`](AcceptLimits::max_connections) at once. Every accepted socket gets
/// `TCP_NODELAY` (replies are small and must not wait for Nagle's algorithm). On shutdown the
/// listener is closed first, then the tasks get [`grace`](AcceptLimits::grace) to end (each
/// sees `shutdown` change and can finish its transaction), then the rest are aborted.
///
/// An accept error (out of file descriptors, say) is retried after 50 ms; it never ends the
/// loop.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use std::time::Duration;
/// use mailwire_net::{AcceptLimits, serve_connections};
/// use tokio::io::AsyncWriteExt;
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let (_stop, shutdown) = tokio::sync::watch::channel(false);
/// let limits = AcceptLimits {
///     max_connections: 100,
///     max_per_address: 10,
///     busy_reply: b"421 4.3.2 Too many connections\r\n",
///     grace: Duration::from_secs(5),
/// };
/// serve_connections(listener, limits, shutdown, |mut stream, _peer, _shutdown| async move {
///     let _ = stream.write_all(b"220 ready\r\n").await;
/// })
/// .await
/// # }
/// ```
pub async fn serve_connections<F, Fut>(
    listener: TcpListener,
    limits: AcceptLimits,
    mut shutdown: watch::Receiver<bool>,
    mut serve: F,
) -> std::io::Result<()>
where
    F: FnMut(TcpStream, SocketAddr, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_address: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    let mut tasks = JoinSet::new();
    let mut last_warning: Option<tokio::time::Instant> = None;
    let mut failed_since_warning: u64 = 0;
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            accepted = listener.accept() => {
                let (mut stream, peer) = match accepted {
                    Ok(x) => {
                        if failed_since_warning > 0 {
                            tracing::info!(failed = failed_since_warning, "accepting again");
                            failed_since_warning = 0;
                        }
                        x
                    }
                    Err(e) => {
                        // Out of descriptors (EMFILE) lasts: one line, then one every 10 s
                        // with the count, not one per retry.
                        let now = tokio::time::Instant::now();
                        if last_warning.is_none_or(|t| now.duration_since(t) >= ACCEPT_WARN_EVERY) {
                            tracing::warn!(error = %e, failed = failed_since_warning + 1, "accept failed; retrying every 50 ms");
                            last_warning = Some(now);
                        }
                        failed_since_warning += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let ip = peer.ip();
                let admitted = {
                    let mut m = per_address.lock().unwrap_or_else(|e| e.into_inner());
                    let n = m.entry(ip).or_insert(0);
                    if *n < limits.max_per_address {
                        *n += 1;
                        true
                    } else {
                        false
                    }
                };
                let permit = if admitted {
                    Arc::clone(&slots).try_acquire_owned().ok()
                } else {
                    None
                };
                let release = {
                    let per_address = Arc::clone(&per_address);
                    move || {
                        let mut m = per_address.lock().unwrap_or_else(|e| e.into_inner());
                        if let Some(n) = m.get_mut(&ip) {
                            *n -= 1;
                            if *n == 0 {
                                m.remove(&ip);
                            }
                        }
                    }
                };
                match permit {
                    Some(permit) => {
                        // Every line logged about this connection names it and its peer.
                        let id = CONNECTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let span = tracing::info_span!("conn", id, %peer);
                        let connection = serve(stream, peer, shutdown.clone());
                        tasks.spawn(
                            async move {
                                let _counted = Release(Some(release));
                                connection.await;
                                drop(permit);
                            }
                            .instrument(span),
                        );
                    }
                    None => {
                        if admitted {
                            release();
                        }
                        let busy = limits.busy_reply;
                        tasks.spawn(async move {
                            let _ = stream.write_all(busy).await;
                        });
                    }
                }
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(limits.grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    Ok(())
}

/// Runs its closure once when dropped (an aborted task counts down too).
struct Release<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Drop for Release<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    const LIMITS: AcceptLimits = AcceptLimits {
        max_connections: 1,
        max_per_address: usize::MAX,
        busy_reply: b"BUSY\r\n",
        grace: Duration::from_millis(200),
    };

    async fn read_all(stream: &mut TcpStream) -> Vec<u8> {
        let mut got = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut got)).await;
        got
    }

    /// One connection served, the second told it is busy and closed, the first unaffected;
    /// shutdown waits for a connection that finishes within the grace period.
    #[tokio::test]
    async fn limit_busy_reply_and_graceful_shutdown() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, shutdown) = watch::channel(false);
        let server = tokio::spawn(serve_connections(
            listener,
            LIMITS,
            shutdown,
            |mut stream, _, mut shutdown| async move {
                let _ = stream.write_all(b"HELLO\r\n").await;
                // Stay until shutdown, then say goodbye: the grace period lets this finish.
                let _ = shutdown.changed().await;
                let _ = stream.write_all(b"BYE\r\n").await;
            },
        ));
        let mut first = TcpStream::connect(addr).await.unwrap();
        let mut hello = [0u8; 7];
        first.read_exact(&mut hello).await.unwrap();
        assert_eq!(&hello, b"HELLO\r\n");
        let mut second = TcpStream::connect(addr).await.unwrap();
        assert_eq!(read_all(&mut second).await, b"BUSY\r\n");
        stop.send(true).unwrap();
        assert_eq!(read_all(&mut first).await, b"BYE\r\n");
        server.await.unwrap().unwrap();
        // The listener is closed.
        assert!(TcpStream::connect(addr).await.is_err());
    }

    /// The per-address limit refuses a second connection from 127.0.0.1 while the total limit
    /// has room, and counts down when a connection ends.
    #[tokio::test]
    async fn per_address_limit_and_count_down() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (_stop, shutdown) = watch::channel(false);
        let limits = AcceptLimits {
            max_connections: 10,
            max_per_address: 1,
            ..LIMITS
        };
        tokio::spawn(serve_connections(
            listener,
            limits,
            shutdown,
            |mut stream, _, _| async move {
                let _ = stream.write_all(b"HELLO\r\n").await;
                // Served until the client closes.
                let mut b = [0u8; 1];
                let _ = stream.read(&mut b).await;
            },
        ));
        let mut first = TcpStream::connect(addr).await.unwrap();
        let mut hello = [0u8; 7];
        first.read_exact(&mut hello).await.unwrap();
        let mut second = TcpStream::connect(addr).await.unwrap();
        assert_eq!(read_all(&mut second).await, b"BUSY\r\n");
        drop(first);
        // Once the first is gone, a new connection from the address is served.
        let mut served = false;
        for _ in 0..50 {
            let mut c = TcpStream::connect(addr).await.unwrap();
            let mut got = [0u8; 4];
            c.read_exact(&mut got).await.unwrap();
            if &got == b"HELL" {
                served = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            served,
            "the count went down when the first connection ended"
        );
    }

    /// A connection that outlives the grace period is aborted: shutdown does not hang.
    #[tokio::test]
    async fn a_stuck_connection_is_aborted_after_the_grace_period() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, shutdown) = watch::channel(false);
        let server = tokio::spawn(serve_connections(
            listener,
            LIMITS,
            shutdown,
            |_stream, _, _| std::future::pending::<()>(),
        ));
        let mut c = TcpStream::connect(addr).await.unwrap();
        // Make sure it was accepted (the busy reply would be the only other outcome).
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = std::time::Instant::now();
        stop.send(true).unwrap();
        server.await.unwrap().unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        // The aborted task dropped the socket: the client sees the end.
        assert_eq!(read_all(&mut c).await, b"");
    }
}
