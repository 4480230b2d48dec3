//! The connection driver every mailwire server runs: it owns the socket, the input and output
//! buffers, the timeouts and the STARTTLS upgrade, and feeds a sans-I/O [`Session`]. Every
//! protocol decision is the session's; what an event needs from the outside world (a store, a
//! policy) is the [`Handler`]'s.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use bytes::BufMut;
use mailwire_tls::{TlsAcceptor, Transport};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

/// Why a server connection ended abnormally (the error of every mailwire server's connection
/// task).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The socket failed (or the store, mid-message).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// TLS failed (the handshake, or bytes buffered after STARTTLS/STLS).
    #[error("TLS: {0}")]
    Tls(#[from] mailwire_tls::Error),
    /// A write did not complete in time.
    #[error("write timed out")]
    WriteTimeout,
    /// TLS was needed but not configured.
    #[error("no TLS configuration")]
    NoTls,
}

/// Writes all of `out` to `io` and flushes it, within `timeout`; `out` is cleared once written.
/// Nothing to write returns at once.
pub async fn write_out<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut Transport<S>,
    out: &mut Vec<u8>,
    timeout: Duration,
) -> Result<(), ConnectionError> {
    if out.is_empty() {
        return Ok(());
    }
    match tokio::time::timeout(timeout, async {
        io.write_all(out).await?;
        io.flush().await
    })
    .await
    {
        Ok(r) => {
            out.clear();
            r.map_err(ConnectionError::from)
        }
        Err(_) => Err(ConnectionError::WriteTimeout),
    }
}

/// COMPRESS=DEFLATE (RFC 4978) on a connection: raw DEFLATE (RFC 1951) both ways, the output
/// flushed (sync flush) at every write so each batch reaches the peer whole. The server driver
/// uses it after [`Step::Compress`]; a client installs it after the server's OK.
pub struct Deflate {
    compress: flate2::Compress,
    decompress: flate2::Decompress,
    /// Compressed octets read and not yet inflated.
    raw_in: Vec<u8>,
    /// The last inflate filled its output: more may be waiting in the decompressor.
    more: bool,
    wire: Vec<u8>,
}

impl std::fmt::Debug for Deflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflate")
            .field("raw_in", &self.raw_in.len())
            .finish_non_exhaustive()
    }
}

impl Deflate {
    /// A layer whose peer already sent `already_read` (compressed) octets.
    pub fn new(already_read: &[u8]) -> Self {
        Self {
            compress: flate2::Compress::new(flate2::Compression::fast(), false),
            decompress: flate2::Decompress::new(false),
            raw_in: already_read.to_vec(),
            more: !already_read.is_empty(),
            wire: Vec::new(),
        }
    }

    /// Compressed octets read from the socket and not inflated yet: read into this.
    pub fn raw_in(&mut self) -> &mut Vec<u8> {
        &mut self.raw_in
    }

    /// What [`deflate`](Self::deflate) produced, to write.
    pub fn wire(&mut self) -> &mut Vec<u8> {
        &mut self.wire
    }

    /// Whether inflating may give more input without reading the socket.
    pub fn pending(&self) -> bool {
        self.more || !self.raw_in.is_empty()
    }

    /// Inflates at most `max` octets of what was read onto `out` (so a small compressed
    /// input never becomes a large buffer at once).
    ///
    /// # Errors
    /// `InvalidData` for a stream that is not DEFLATE.
    pub fn inflate(&mut self, out: &mut Vec<u8>, max: usize) -> std::io::Result<()> {
        let mut tmp = Vec::with_capacity(max);
        let before = self.decompress.total_in();
        self.decompress
            .decompress_vec(&self.raw_in, &mut tmp, flate2::FlushDecompress::Sync)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let used = (self.decompress.total_in() - before) as usize;
        self.raw_in.drain(..used);
        // A full output buffer may leave output behind; no progress means more input is needed.
        self.more = tmp.len() == max;
        if used == 0 && tmp.is_empty() {
            self.more = false;
            if !self.raw_in.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the compressed stream does not progress",
                ));
            }
        }
        out.extend_from_slice(&tmp);
        Ok(())
    }

    /// Compresses `data` with a sync flush into the wire buffer ([`wire`](Self::wire)).
    ///
    /// # Errors
    /// A compressor failure (does not happen with valid state).
    pub fn deflate(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.wire.clear();
        let mut pos = 0;
        loop {
            self.wire.reserve(data.len() - pos + 64);
            let before = self.compress.total_in();
            self.compress
                .compress_vec(&data[pos..], &mut self.wire, flate2::FlushCompress::Sync)
                .map_err(std::io::Error::other)?;
            pos += (self.compress.total_in() - before) as usize;
            if pos == data.len() && self.wire.len() < self.wire.capacity() {
                return Ok(());
            }
        }
    }
}

/// Writes `out` as [`write_out`] does, compressed when COMPRESS is on.
async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut Transport<S>,
    z: &mut Option<Deflate>,
    out: &mut Vec<u8>,
    timeout: Duration,
) -> Result<(), ConnectionError> {
    match z {
        Some(z) if !out.is_empty() => {
            z.deflate(out)?;
            out.clear();
            write_out(io, &mut z.wire, timeout).await
        }
        _ => write_out(io, out, timeout).await,
    }
}

/// Starts a server connection's transport: the TLS handshake first for implicit TLS
/// (`implicit_tls`, ports 465/993/995), cleartext otherwise.
pub async fn open<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    implicit_tls: bool,
    tls: Option<&TlsAcceptor>,
    handshake_timeout: Duration,
) -> Result<Transport<S>, ConnectionError> {
    if implicit_tls {
        let acceptor = tls.ok_or(ConnectionError::NoTls)?;
        Ok(Transport::accept(stream, acceptor, handshake_timeout).await?)
    } else {
        Ok(Transport::Plain(stream))
    }
}

/// A sans-I/O server session as the driver sees it: bytes in, bytes and events out. SMTP's,
/// POP3's and IMAP's server sessions implement it.
pub trait Session {
    /// What the session asks of the driver (a check, a delivery, a STARTTLS, the end).
    type Event: Send;

    /// Consumes input; returns how many octets were used. A session may stop early (while an
    /// event waits for its answer): the driver feeds the rest after handling the events.
    fn handle_input(&mut self, input: &[u8]) -> usize;
    /// The next event to handle.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// Octets waiting to be sent.
    fn output_len(&self) -> usize;
    /// Moves the octets to send into `out`.
    fn poll_output(&mut self, out: &mut Vec<u8>);
    /// The STARTTLS handshake succeeded: forget what was learnt in cleartext.
    fn tls_established(&mut self);
    /// No input came within the idle timeout: the session says what it says and closes
    /// (it must queue its close event).
    fn handle_idle_timeout(&mut self);
    /// The server is shutting down: the session closes now or at the end of what it is in the
    /// middle of (a mail transaction); called once.
    fn handle_shutdown(&mut self);
    /// The idle time allowed now, when the session's state calls for another one than
    /// [`DriverOptions::idle_timeout`] (IMAP: a short one before login, RFC 9051 §5.4's 30
    /// minutes after). Default: `None`, the driver's.
    fn idle_timeout(&self) -> Option<Duration> {
        None
    }
    /// Logins failed since the last call, counted by the driver's [`AuthThrottle`] against
    /// the connection's address. Default: none.
    fn take_auth_failures(&mut self) -> u32 {
        0
    }
    /// The [`AuthThrottle`] refuses logins from this connection's address (or no longer
    /// does): the session answers login attempts with its protocol's "try again later".
    fn set_auth_refused(&mut self, refused: bool) {
        let _ = refused;
    }
}

/// What the driver does after a [`Handler`] handled an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Go on feeding the session.
    Continue,
    /// The session queued its go-ahead to STARTTLS: flush it, refuse anything read past the
    /// command (command injection), run the handshake, then
    /// [`Session::tls_established`].
    StartTls,
    /// Flush the output and close the connection (TLS with `close_notify`).
    Close,
    /// The session queued its go-ahead to COMPRESS DEFLATE (RFC 4978): flush it as it is,
    /// then compress everything after it and inflate everything read.
    Compress,
}

/// Answers a session's events with the outside world (a store, a policy, a maildrop). It makes
/// no protocol decision: it reports facts back to the session, which decides what to say.
pub trait Handler<S: Session> {
    /// Handles one event, answering the session before it returns. A handler that streams a
    /// large answer (a POP3 RETR) sends the output as it grows with [`Writer::flush`].
    fn handle<IO>(
        &mut self,
        session: &mut S,
        event: S::Event,
        writer: &mut Writer<'_, IO>,
    ) -> impl Future<Output = Result<Step, ConnectionError>> + Send
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send;

    /// Completes when something outside the connection has news for the session while the
    /// driver waits for input (IMAP: a mailbox change during IDLE). It must be cancel-safe:
    /// it is dropped whenever input comes first. The default never completes.
    fn wait(&mut self) -> impl Future<Output = ()> + Send {
        std::future::pending()
    }

    /// The per-address login throttle of this connection's server and the client's address;
    /// `None` (the default): no throttle.
    fn auth_throttle(&self) -> Option<(&crate::AuthThrottle, std::net::IpAddr)> {
        None
    }

    /// [`wait`](Self::wait) completed: tell the session.
    fn woken(
        &mut self,
        session: &mut S,
    ) -> impl Future<Output = Result<(), ConnectionError>> + Send {
        let _ = session;
        async { Ok(()) }
    }
}

/// The output side of a connection, lent to a [`Handler`] that must send before it returns.
pub struct Writer<'a, IO> {
    io: &'a mut Transport<IO>,
    z: &'a mut Option<Deflate>,
    out: &'a mut Vec<u8>,
    timeout: Duration,
}

impl<IO> std::fmt::Debug for Writer<'_, IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("compressed", &self.z.is_some())
            .field("queued", &self.out.len())
            .finish_non_exhaustive()
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Writer<'_, IO> {
    /// Sends what the session has queued, within the write timeout.
    pub async fn flush<S: Session>(&mut self, session: &mut S) -> Result<(), ConnectionError> {
        session.poll_output(self.out);
        send(self.io, self.z, self.out, self.timeout).await
    }
}

/// The driver's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverOptions {
    /// Idle time allowed while waiting for input; then [`Session::handle_idle_timeout`].
    pub idle_timeout: Duration,
    /// Time allowed for one write (a client that stops reading is dropped after it).
    pub write_timeout: Duration,
    /// Time allowed for the STARTTLS handshake.
    pub handshake_timeout: Duration,
    /// Output held before it is written even though more pipelined input is waiting (bounds
    /// the memory a client that pipelines without reading can make the server use).
    pub max_pending_output: usize,
    /// The most octets one read takes from the socket.
    pub read_chunk: usize,
    /// A command (a line, or a message or literal sent after it) whose input has started but
    /// that the session has not answered within this long is cut off
    /// ([`Session::handle_idle_timeout`]) unless its octets arrive at
    /// [`min_input_rate`](Self::min_input_rate) at least: a client that trickles one octet
    /// every few seconds (slowloris) never holds a connection for the idle timeout. Checked
    /// again every such period while the rate holds. Default 60 s.
    pub command_timeout: Duration,
    /// Octets per second a command still unanswered after
    /// [`command_timeout`](Self::command_timeout) must average. Default 1024 (a 35 MB message
    /// over a link of 100 KB/s takes six minutes and is never cut).
    pub min_input_rate: u64,
}

impl Default for DriverOptions {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(300),
            write_timeout: Duration::from_secs(300),
            handshake_timeout: mailwire_tls::DEFAULT_HANDSHAKE_TIMEOUT,
            max_pending_output: 64 * 1024,
            read_chunk: 64 * 1024,
            command_timeout: Duration::from_secs(60),
            min_input_rate: 1024,
        }
    }
}

/// The first read of a connection, and of one that went quiet: enough for any command line.
const SMALL_READ: usize = 4096;

/// Why a read stopped waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// The idle timeout.
    Idle,
    /// An unanswered command's rate check is due.
    Check,
    /// The command failed its rate check: cut off now.
    Cut,
}

/// How long the next read may wait: the idle timeout, or less when an unanswered command is
/// due for its rate check ([`DriverOptions::command_timeout`]). A check the command passes
/// moves the next one a period on; one it fails is [`Wait::Cut`].
fn read_wait(
    idle: Duration,
    pending: &mut Option<(Instant, u64, Instant)>,
    o: &DriverOptions,
) -> (Duration, Wait) {
    let Some((since, octets, check)) = pending.as_mut() else {
        return (idle, Wait::Idle);
    };
    let now = Instant::now();
    if now >= *check {
        let secs = now.duration_since(*since).as_secs_f64().max(1e-3);
        if (*octets as f64) / secs < o.min_input_rate as f64 {
            return (Duration::ZERO, Wait::Cut);
        }
        *check = now + o.command_timeout;
    }
    let left = check.saturating_duration_since(now);
    if left < idle {
        (left, Wait::Check)
    } else {
        (idle, Wait::Idle)
    }
}

/// Runs `session` over `io` to its end.
///
/// Each round feeds everything buffered to the session and handles its events in order
/// (pipelined commands are answered in order, in as few writes as possible), writes the
/// output (earlier when it reaches [`max_pending_output`](DriverOptions::max_pending_output)),
/// then reads straight into the input buffer, at most
/// [`read_chunk`](DriverOptions::read_chunk) octets at a time, within the idle timeout.
/// `shutdown` turning `true` (or its sender going away) is passed to the session once, by
/// [`Session::handle_shutdown`]. `tls` is what [`Step::StartTls`] upgrades with.
///
/// Returns when the session closes (after its last output is written) or the peer does.
pub async fn drive<IO, S, H>(
    io: &mut Transport<IO>,
    session: &mut S,
    handler: &mut H,
    tls: Option<&TlsAcceptor>,
    options: &DriverOptions,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ConnectionError>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send,
    S: Session,
    H: Handler<S>,
{
    let o = options;
    let read_chunk = o.read_chunk.max(1);
    // Buffers start small and grow with the traffic: an idle connection (10 000 of them in
    // IDLE) holds a few KiB, a busy one reads `read_chunk` at a time.
    let mut input: Vec<u8> = Vec::new();
    let mut start = 0;
    let mut out = Vec::new();
    let mut room_wanted = SMALL_READ.min(read_chunk);
    // Input of a command not answered yet: since when, how many octets, the next check.
    let mut pending: Option<(Instant, u64, Instant)> = None;
    let mut z: Option<Deflate> = None;
    // A shutdown signalled before the connection started is not a change any more.
    let mut shutting_down = *shutdown.borrow_and_update();
    if shutting_down {
        session.handle_shutdown();
    }
    let mut refused = false;
    loop {
        // Whether this address may log in now: told to the session before it reads.
        if let Some((t, ip)) = handler.auth_throttle() {
            let now = t.refused(ip);
            if now != refused {
                refused = now;
                session.set_auth_refused(now);
            }
        }
        // Feed what is buffered, answering events as they come.
        let mut progress = false;
        loop {
            let before = session.output_len();
            let used = session.handle_input(&input[start..]);
            start += used;
            let mut answered = false;
            if session.output_len() > before {
                progress = true;
            }
            while let Some(event) = session.poll_event() {
                answered = true;
                progress = true;
                let mut writer = Writer {
                    io,
                    z: &mut z,
                    out: &mut out,
                    timeout: o.write_timeout,
                };
                match handler.handle(session, event, &mut writer).await? {
                    Step::Continue => {}
                    Step::StartTls => {
                        if z.is_some() {
                            // RFC 4978 §3: TLS goes below compression; not after it.
                            return Err(ConnectionError::NoTls);
                        }
                        session.poll_output(&mut out);
                        write_out(io, &mut out, o.write_timeout).await?;
                        let acceptor = tls.ok_or(ConnectionError::NoTls)?;
                        // Anything already read past the STARTTLS line is refused.
                        io.upgrade_server(acceptor, &input[start..], o.handshake_timeout)
                            .await?;
                        input.clear();
                        start = 0;
                        session.tls_established();
                    }
                    Step::Compress => {
                        // The OK goes out as it is; what follows it is compressed. Anything
                        // read past the command was compressed by the client already.
                        session.poll_output(&mut out);
                        send(io, &mut z, &mut out, o.write_timeout).await?;
                        if z.is_none() {
                            z = Some(Deflate::new(&input[start..]));
                            input.truncate(start);
                        }
                    }
                    Step::Close => {
                        session.poll_output(&mut out);
                        send(io, &mut z, &mut out, o.write_timeout).await?;
                        // TLS says close_notify; plain TCP's FIN comes with the close.
                        if io.is_tls() {
                            let _ = tokio::time::timeout(o.write_timeout, io.shutdown()).await;
                        }
                        return Ok(());
                    }
                }
            }
            if session.output_len() >= o.max_pending_output {
                // Back-pressure: a pipelining client gets its answers before more of its
                // commands are read.
                session.poll_output(&mut out);
                send(io, &mut z, &mut out, o.write_timeout).await?;
                continue;
            }
            if !answered && (used == 0 || start == input.len()) {
                break;
            }
        }
        // The session answered: the command the pending input was for is done.
        if progress {
            pending = None;
        }
        // Failed logins count against the address; past its allowance the answer waits.
        let failures = session.take_auth_failures();
        if failures > 0
            && let Some((t, ip)) = handler.auth_throttle()
        {
            let wait = t.failed(ip, failures);
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        // Everything buffered is consumed (by the session's framer): write, then read.
        session.poll_output(&mut out);
        send(io, &mut z, &mut out, o.write_timeout).await?;
        input.drain(..start);
        start = 0;
        // Nothing held between commands: give back what a big one needed.
        if input.is_empty() && input.capacity() > 4 * SMALL_READ {
            input = Vec::new();
        }
        if out.capacity() > 4 * SMALL_READ {
            out = Vec::new();
        }
        if let Some(d) = z.as_mut()
            && d.pending()
        {
            d.inflate(&mut input, read_chunk)?;
            continue;
        }
        let buf = match z.as_mut() {
            Some(d) => &mut d.raw_in,
            None => &mut input,
        };
        buf.reserve(room_wanted);
        let mut room = buf.limit(room_wanted);
        let (wait, why) = read_wait(
            session.idle_timeout().unwrap_or(o.idle_timeout),
            &mut pending,
            o,
        );
        // Biased: news from outside (shutdown, a change made elsewhere) is taken before input
        // that is ready at the same moment, so a command sent after a change sees it.
        let read = tokio::select! {
            biased;
            _ = shutdown.changed(), if !shutting_down => {
                shutting_down = true;
                session.handle_shutdown();
                continue;
            }
            () = handler.wait() => {
                handler.woken(session).await?;
                continue;
            }
            r = tokio::time::timeout(wait, io.read_buf(&mut room)) => r,
        };
        match read {
            // The rate check is due: made by the next read_wait.
            Err(_) if why == Wait::Check => {}
            Err(_) => {
                if why == Wait::Cut {
                    tracing::debug!("a command too slow in coming: cut off");
                    pending = None;
                }
                session.handle_idle_timeout();
            }
            Ok(Ok(0)) => return Ok(()),
            Ok(Ok(n)) => {
                let now = Instant::now();
                let p = pending.get_or_insert((now, 0, now + o.command_timeout));
                p.1 += n as u64;
                // A read that filled its room asks for a bigger one next (up to read_chunk);
                // a short one goes back to the small size.
                room_wanted = if n >= room_wanted {
                    (room_wanted * 4).min(read_chunk)
                } else {
                    SMALL_READ.min(read_chunk)
                };
                if let Some(d) = z.as_mut() {
                    d.inflate(&mut input, read_chunk)?;
                }
            }
            Ok(Err(e)) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use mailwire_tls::SelfSigned;
    use tokio::io::DuplexStream;
    use tokio::sync::mpsc;

    use super::*;

    /// A line protocol: every line is an event the handler answers (the session then stops
    /// until it is answered, as a session waiting on a check does); `STARTTLS` asks for TLS,
    /// `QUIT` closes.
    #[derive(Debug, Default)]
    struct Lines {
        out: Vec<u8>,
        events: std::collections::VecDeque<Ev>,
        waiting: bool,
        closed: bool,
        /// The most output held when the driver took it.
        max_held: usize,
        shutdowns: usize,
        tls: bool,
    }

    #[derive(Debug)]
    enum Ev {
        Line(Vec<u8>),
        StartTls,
        Close,
    }

    impl Lines {
        fn close(&mut self, text: &[u8]) {
            if !self.closed {
                self.closed = true;
                self.out.extend_from_slice(text);
                self.events.push_back(Ev::Close);
            }
        }
    }

    impl Session for Lines {
        type Event = Ev;

        fn handle_input(&mut self, input: &[u8]) -> usize {
            if self.waiting || self.closed {
                return 0;
            }
            let Some(end) = input.iter().position(|&b| b == b'\n') else {
                return 0;
            };
            let line = input[..end].strip_suffix(b"\r").unwrap_or(&input[..end]);
            match line {
                b"QUIT" => self.close(b"BYE\r\n"),
                b"STARTTLS" => {
                    self.out.extend_from_slice(b"GO\r\n");
                    self.events.push_back(Ev::StartTls);
                }
                _ => {
                    self.waiting = true;
                    self.events.push_back(Ev::Line(line.to_vec()));
                }
            }
            end + 1
        }

        fn poll_event(&mut self) -> Option<Ev> {
            self.events.pop_front()
        }

        fn output_len(&self) -> usize {
            self.out.len()
        }

        fn poll_output(&mut self, out: &mut Vec<u8>) {
            self.max_held = self.max_held.max(self.out.len());
            out.append(&mut self.out);
        }

        fn tls_established(&mut self) {
            self.tls = true;
        }

        fn handle_idle_timeout(&mut self) {
            self.close(b"IDLE\r\n");
        }

        fn handle_shutdown(&mut self) {
            self.shutdowns += 1;
            self.close(b"SHUTDOWN\r\n");
        }
    }

    /// Answers each line with `reply_len` octets: the line repeated, then CRLF. News from
    /// `news` is said as `NEWS`.
    struct Answer {
        reply_len: usize,
        seen: Vec<Vec<u8>>,
        news: Option<mpsc::Receiver<()>>,
    }

    impl Answer {
        fn new(reply_len: usize) -> Self {
            Self {
                reply_len,
                seen: Vec::new(),
                news: None,
            }
        }
    }

    impl Handler<Lines> for Answer {
        async fn handle<IO>(
            &mut self,
            session: &mut Lines,
            event: Ev,
            _writer: &mut Writer<'_, IO>,
        ) -> Result<Step, ConnectionError>
        where
            IO: AsyncRead + AsyncWrite + Unpin + Send,
        {
            match event {
                Ev::Line(line) => {
                    let mut reply: Vec<u8> =
                        line.iter().copied().cycle().take(self.reply_len).collect();
                    reply.extend_from_slice(b"\r\n");
                    session.out.extend_from_slice(&reply);
                    session.waiting = false;
                    self.seen.push(line);
                    Ok(Step::Continue)
                }
                Ev::StartTls => Ok(Step::StartTls),
                Ev::Close => Ok(Step::Close),
            }
        }

        fn wait(&mut self) -> impl Future<Output = ()> + Send {
            let news = self.news.as_mut();
            async move {
                let got = match news {
                    Some(rx) => rx.recv().await,
                    None => None,
                };
                if got.is_none() {
                    std::future::pending::<()>().await;
                }
            }
        }

        async fn woken(&mut self, session: &mut Lines) -> Result<(), ConnectionError> {
            session.out.extend_from_slice(b"NEWS\r\n");
            Ok(())
        }
    }

    /// A stream that counts the writes that reach it.
    struct Counted {
        inner: DuplexStream,
        writes: Arc<std::sync::atomic::AtomicUsize>,
    }

    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    impl AsyncRead for Counted {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.inner).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Counted {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.writes.fetch_add(1, Ordering::Relaxed);
            Pin::new(&mut self.inner).poll_write(cx, buf)
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }

        fn poll_shutdown(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }

    async fn read_all<R: AsyncRead + Unpin>(r: &mut R) -> Vec<u8> {
        let mut v = Vec::new();
        r.read_to_end(&mut v).await.unwrap();
        v
    }

    /// Pipelined lines are all answered, in order, in one write; `QUIT` ends the connection.
    #[tokio::test]
    async fn pipelined_lines_are_answered_in_order_in_one_write() {
        let (server, mut client) = tokio::io::duplex(1 << 16);
        let writes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut io = Transport::Plain(Counted {
            inner: server,
            writes: Arc::clone(&writes),
        });
        client
            .write_all(b"a\r\nbb\r\nccc\r\nQUIT\r\n")
            .await
            .unwrap();
        let (_stop, shutdown) = watch::channel(false);
        let mut session = Lines::default();
        let mut handler = Answer::new(4);
        let options = DriverOptions::default();
        drive(
            &mut io,
            &mut session,
            &mut handler,
            None,
            &options,
            shutdown,
        )
        .await
        .unwrap();
        drop(io);
        assert_eq!(
            read_all(&mut client).await,
            b"aaaa\r\nbbbb\r\ncccc\r\nBYE\r\n"
        );
        assert_eq!(handler.seen, [&b"a"[..], b"bb", b"ccc"]);
        assert_eq!(
            writes.load(Ordering::Relaxed),
            1,
            "one write for the whole pipeline"
        );
        assert_eq!(session.shutdowns, 0);
    }

    /// A client that pipelines without reading cannot make the server hold more output
    /// than `max_pending_output` (plus one answer): the rest waits in the socket.
    #[tokio::test]
    async fn output_is_written_before_it_passes_the_limit() {
        let (server, mut client) = tokio::io::duplex(1 << 20);
        let mut io = Transport::Plain(server);
        let mut pipeline = Vec::new();
        for i in 0..2000 {
            pipeline.extend_from_slice(format!("{i}\r\n").as_bytes());
        }
        pipeline.extend_from_slice(b"QUIT\r\n");
        client.write_all(&pipeline).await.unwrap();
        let (_stop, shutdown) = watch::channel(false);
        let mut session = Lines::default();
        let mut handler = Answer::new(100);
        let options = DriverOptions {
            max_pending_output: 1000,
            ..DriverOptions::default()
        };
        drive(
            &mut io,
            &mut session,
            &mut handler,
            None,
            &options,
            shutdown,
        )
        .await
        .unwrap();
        drop(io);
        let got = read_all(&mut client).await;
        assert_eq!(got.len(), 2000 * 102 + 5);
        assert!(got.ends_with(b"BYE\r\n"));
        assert_eq!(handler.seen.len(), 2000);
        assert!(session.max_held <= 1000 + 102, "held {}", session.max_held);
    }

    /// No input within the idle timeout: the session says its last words and the connection
    /// ends.
    #[tokio::test(start_paused = true)]
    async fn idle_timeout_is_the_sessions_to_answer() {
        let (server, mut client) = tokio::io::duplex(1024);
        let mut io = Transport::Plain(server);
        let (_stop, shutdown) = watch::channel(false);
        let mut session = Lines::default();
        let options = DriverOptions {
            idle_timeout: Duration::from_secs(60),
            ..DriverOptions::default()
        };
        let started = tokio::time::Instant::now();
        drive(
            &mut io,
            &mut session,
            &mut Answer::new(1),
            None,
            &options,
            shutdown,
        )
        .await
        .unwrap();
        assert!(started.elapsed() >= Duration::from_secs(60));
        drop(io);
        assert_eq!(read_all(&mut client).await, b"IDLE\r\n");
    }

    /// A command trickled in an octet every 2 s is cut off at the first rate check after
    /// `command_timeout`, long before the idle timeout; one that keeps the rate (a long
    /// unanswered line sent steadily) is checked again and never cut, and is answered.
    #[tokio::test(start_paused = true)]
    async fn slow_commands_are_cut_off_and_steady_ones_are_not() {
        let options = DriverOptions {
            idle_timeout: Duration::from_secs(300),
            command_timeout: Duration::from_secs(10),
            min_input_rate: 100,
            ..DriverOptions::default()
        };
        // Slowloris: one octet every 2 s, never a line end.
        let (server, mut client) = tokio::io::duplex(64 * 1024);
        let task = tokio::spawn(async move {
            let mut io = Transport::Plain(server);
            let (_stop, shutdown) = watch::channel(false);
            let mut session = Lines::default();
            let started = Instant::now();
            drive(
                &mut io,
                &mut session,
                &mut Answer::new(1),
                None,
                &options,
                shutdown,
            )
            .await
            .unwrap();
            started.elapsed()
        });
        for _ in 0..100 {
            if client.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            if task.is_finished() {
                break;
            }
        }
        let took = task.await.unwrap();
        assert!(
            took >= Duration::from_secs(10) && took < Duration::from_secs(14),
            "{took:?}"
        );
        assert_eq!(read_all(&mut client).await, b"IDLE\r\n");

        // Steady: 200 octets a second for 35 s, then the line end: answered, not cut.
        let (server, mut client) = tokio::io::duplex(64 * 1024);
        let task = tokio::spawn(async move {
            let mut io = Transport::Plain(server);
            let (_stop, shutdown) = watch::channel(false);
            let mut session = Lines::default();
            drive(
                &mut io,
                &mut session,
                &mut Answer::new(1),
                None,
                &options,
                shutdown,
            )
            .await
            .unwrap();
        });
        for _ in 0..35 {
            client.write_all(&[b'y'; 200]).await.unwrap();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        client.write_all(b"\r\nQUIT\r\n").await.unwrap();
        let got = read_all(&mut client).await;
        task.await.unwrap();
        assert!(
            got.ends_with(b"BYE\r\n"),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
        assert!(
            !got.starts_with(b"IDLE"),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
    }

    /// Shutdown reaches the session once, whether it comes while the connection waits or
    /// came before it started; a closed peer ends the connection quietly.
    #[tokio::test]
    async fn shutdown_is_passed_to_the_session_once() {
        let (server, mut client) = tokio::io::duplex(1024);
        let (stop, shutdown) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut io = Transport::Plain(server);
            let mut session = Lines::default();
            let options = DriverOptions::default();
            let r = drive(
                &mut io,
                &mut session,
                &mut Answer::new(1),
                None,
                &options,
                shutdown,
            )
            .await;
            (r, session.shutdowns)
        });
        client.write_all(b"x\r\n").await.unwrap();
        let mut first = [0u8; 3];
        client.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"x\r\n");
        stop.send(true).unwrap();
        assert_eq!(read_all(&mut client).await, b"SHUTDOWN\r\n");
        let (r, shutdowns) = task.await.unwrap();
        r.unwrap();
        assert_eq!(shutdowns, 1);

        // Already shut down when the connection starts.
        let (server, mut client) = tokio::io::duplex(1024);
        let mut io = Transport::Plain(server);
        let mut session = Lines::default();
        let shutdown = stop.subscribe();
        drive(
            &mut io,
            &mut session,
            &mut Answer::new(1),
            None,
            &DriverOptions::default(),
            shutdown,
        )
        .await
        .unwrap();
        drop(io);
        assert_eq!(read_all(&mut client).await, b"SHUTDOWN\r\n");
        assert_eq!(session.shutdowns, 1);

        // The peer goes away: no error, no last words.
        let (server, client) = tokio::io::duplex(1024);
        drop(client);
        let mut io = Transport::Plain(server);
        let (_stop, shutdown) = watch::channel(false);
        drive(
            &mut io,
            &mut Lines::default(),
            &mut Answer::new(1),
            None,
            &DriverOptions::default(),
            shutdown,
        )
        .await
        .unwrap();
    }

    /// News from outside reaches a session waiting for input (IMAP IDLE's path), and input
    /// still works after it.
    #[tokio::test]
    async fn news_while_waiting_reaches_the_session() {
        let (server, mut client) = tokio::io::duplex(1024);
        let (news_tx, news_rx) = mpsc::channel(4);
        let (_stop, shutdown) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut io = Transport::Plain(server);
            let mut handler = Answer::new(1);
            handler.news = Some(news_rx);
            drive(
                &mut io,
                &mut Lines::default(),
                &mut handler,
                None,
                &DriverOptions::default(),
                shutdown,
            )
            .await
        });
        news_tx.send(()).await.unwrap();
        let mut news = [0u8; 6];
        client.read_exact(&mut news).await.unwrap();
        assert_eq!(&news, b"NEWS\r\n");
        news_tx.send(()).await.unwrap();
        client.read_exact(&mut news).await.unwrap();
        assert_eq!(&news, b"NEWS\r\n");
        client.write_all(b"y\r\nQUIT\r\n").await.unwrap();
        assert_eq!(read_all(&mut client).await, b"y\r\nBYE\r\n");
        task.await.unwrap().unwrap();
    }

    /// STARTTLS: the go-ahead is sent in cleartext, the handshake runs, the session hears of
    /// it, and the close is a TLS close_notify (the client reads a clean end).
    #[tokio::test]
    async fn starttls_upgrades_and_closes_with_close_notify() {
        let cert = SelfSigned::localhost().unwrap();
        let acceptor = cert.acceptor();
        let (server, client) = tokio::io::duplex(1 << 16);
        let (_stop, shutdown) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut io = Transport::Plain(server);
            let mut session = Lines::default();
            let options = DriverOptions::default();
            let r = drive(
                &mut io,
                &mut session,
                &mut Answer::new(1),
                Some(&acceptor),
                &options,
                shutdown,
            )
            .await;
            (r, session.tls)
        });
        let mut client = Transport::Plain(client);
        client.write_all(b"STARTTLS\r\n").await.unwrap();
        let mut go = [0u8; 4];
        client.read_exact(&mut go).await.unwrap();
        assert_eq!(&go, b"GO\r\n");
        let name = mailwire_tls::server_name("localhost").unwrap();
        client
            .upgrade_client(&cert.connector(), name, &[], Duration::from_secs(10))
            .await
            .unwrap();
        client.write_all(b"z\r\nQUIT\r\n").await.unwrap();
        client.flush().await.unwrap();
        // read_to_end over TLS fails on an end without close_notify.
        assert_eq!(read_all(&mut client).await, b"z\r\nBYE\r\n");
        let (r, tls) = task.await.unwrap();
        r.unwrap();
        assert!(tls);
    }

    /// Bytes pipelined after STARTTLS are refused (command injection, RFC 3207 §5): the
    /// connection ends with a TLS error and the session never sees them.
    #[tokio::test]
    async fn bytes_after_starttls_are_refused() {
        let cert = SelfSigned::localhost().unwrap();
        let (server, mut client) = tokio::io::duplex(1 << 16);
        let mut io = Transport::Plain(server);
        client.write_all(b"STARTTLS\r\nINJECTED\r\n").await.unwrap();
        let (_stop, shutdown) = watch::channel(false);
        let mut handler = Answer::new(1);
        let r = drive(
            &mut io,
            &mut Lines::default(),
            &mut handler,
            Some(&cert.acceptor()),
            &DriverOptions::default(),
            shutdown,
        )
        .await;
        assert!(matches!(r, Err(ConnectionError::Tls(_))), "{r:?}");
        assert!(handler.seen.is_empty());
        drop(io);
        assert_eq!(read_all(&mut client).await, b"GO\r\n");
    }

    /// STARTTLS without a TLS configuration is an error, not a hang.
    #[tokio::test]
    async fn starttls_without_tls_is_an_error() {
        let (server, mut client) = tokio::io::duplex(1024);
        let mut io = Transport::Plain(server);
        client.write_all(b"STARTTLS\r\n").await.unwrap();
        let (_stop, shutdown) = watch::channel(false);
        let r = drive(
            &mut io,
            &mut Lines::default(),
            &mut Answer::new(1),
            None,
            &DriverOptions::default(),
            shutdown,
        )
        .await;
        assert!(matches!(r, Err(ConnectionError::NoTls)), "{r:?}");
    }

    /// `write_out` writes everything and clears the buffer; a peer that stops reading gets
    /// `WriteTimeout`, not a hang.
    #[tokio::test]
    async fn write_out_writes_or_times_out() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut io = Transport::Plain(a);
        let mut out = b"hello\r\n".to_vec();
        write_out(&mut io, &mut out, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(out.is_empty());
        let mut got = [0u8; 7];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello\r\n");
        // Nothing to write: returns at once.
        write_out(&mut io, &mut out, Duration::ZERO).await.unwrap();
        // 1 MiB into a 64-octet pipe nobody reads.
        let mut out = vec![b'x'; 1 << 20];
        let r = write_out(&mut io, &mut out, Duration::from_millis(100)).await;
        assert!(matches!(r, Err(ConnectionError::WriteTimeout)), "{r:?}");
    }
}
