//! The network layer every mailwire server shares, so SMTP, POP3 and IMAP run one connection
//! loop rather than a copy each:
//!
//! - [`serve_connections`]: the accept loop, with a connection limit answered in the
//!   protocol's words, one task per connection and a graceful shutdown;
//! - [`drive`]: the connection driver a sans-I/O [`Session`] plugs into. It owns the socket,
//!   the buffers, the idle and write timeouts, back-pressure and the STARTTLS upgrade; every
//!   protocol decision stays in the session, and what an event needs from outside (a store, a
//!   policy) is its [`Handler`]'s;
//! - [`open`] (implicit TLS or cleartext), [`write_out`] (a write with a timeout) and
//!   [`ConnectionError`];
//! - [`Fault`] and [`LoginFaults`]: the faults a test server injects on request.
//!
//! TLS itself (certificates, the handshake, [`Transport`](mailwire_tls::Transport)) is
//! `mailwire-tls`'s.
//!
//! # Example
//!
//! A line-echo protocol: the session is plain state, the driver moves its bytes.
//!
//! ```
//! use mailwire_net::{ConnectionError, DriverOptions, Handler, Session, Step, Writer, drive};
//! use mailwire_tls::Transport;
//! use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
//!
//! /// Answers each line with itself; `QUIT` ends the session.
//! #[derive(Default)]
//! struct Echo {
//!     out: Vec<u8>,
//!     quit: bool,
//! }
//!
//! impl Session for Echo {
//!     type Event = ();
//!     fn handle_input(&mut self, input: &[u8]) -> usize {
//!         let mut used = 0;
//!         while let Some(end) = input[used..].iter().position(|&b| b == b'\n') {
//!             let line = &input[used..used + end + 1];
//!             used += end + 1;
//!             if line.starts_with(b"QUIT") {
//!                 self.out.extend_from_slice(b"bye\r\n");
//!                 self.quit = true;
//!                 break;
//!             }
//!             self.out.extend_from_slice(line);
//!         }
//!         used
//!     }
//!     fn poll_event(&mut self) -> Option<()> {
//!         std::mem::take(&mut self.quit).then_some(())
//!     }
//!     fn output_len(&self) -> usize {
//!         self.out.len()
//!     }
//!     fn poll_output(&mut self, out: &mut Vec<u8>) {
//!         out.append(&mut self.out);
//!     }
//!     fn tls_established(&mut self) {}
//!     fn handle_idle_timeout(&mut self) {
//!         self.quit = true;
//!     }
//!     fn handle_shutdown(&mut self) {
//!         self.quit = true;
//!     }
//! }
//!
//! /// The only event is the end.
//! struct Close;
//!
//! impl Handler<Echo> for Close {
//!     async fn handle<IO>(
//!         &mut self,
//!         _: &mut Echo,
//!         _: (),
//!         _: &mut Writer<'_, IO>,
//!     ) -> Result<Step, ConnectionError>
//!     where
//!         IO: AsyncRead + AsyncWrite + Unpin + Send,
//!     {
//!         Ok(Step::Close)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ConnectionError> {
//! let (server_end, mut client) = tokio::io::duplex(1024);
//! let (_stop, shutdown) = tokio::sync::watch::channel(false);
//! let server = tokio::spawn(async move {
//!     let mut io = Transport::Plain(server_end);
//!     let options = DriverOptions::default();
//!     drive(&mut io, &mut Echo::default(), &mut Close, None, &options, shutdown).await
//! });
//! client.write_all(b"hello\r\nQUIT\r\n").await?;
//! let mut answer = Vec::new();
//! client.read_to_end(&mut answer).await?;
//! assert_eq!(answer, b"hello\r\nbye\r\n");
//! server.await.expect("the driver does not panic")?;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod accept;
mod driver;
mod fault;
mod throttle;

pub use accept::{AcceptLimits, serve_connections};
pub use driver::{
    ConnectionError, Deflate, DriverOptions, Handler, Session, Step, Writer, drive, open, write_out,
};
pub use fault::{Fault, LoginFaults};
pub use throttle::{AuthThrottle, AuthThrottleOptions};

/// Implements [`Session`] for a sans-I/O server session whose inherent methods already have
/// the trait's names and signatures (`handle_input`, `poll_event`, `output_len`, `poll_output`,
/// `tls_established`, `handle_idle_timeout`, `handle_shutdown`): the SMTP, POP3 and IMAP
/// sessions, which keep those methods for callers that drive them without this crate.
///
/// ```text
/// mailwire_net::impl_session!(crate::proto::ServerSession, crate::proto::Event);
/// ```
#[macro_export]
macro_rules! impl_session {
    ($session:ty, $event:ty) => {
        $crate::impl_session!($session, $event, {});
    };
    // `idle_timeout`: the session has an inherent `idle_timeout(&self) -> Option<Duration>`.
    ($session:ty, $event:ty, idle_timeout) => {
        $crate::impl_session!($session, $event, {
            fn idle_timeout(&self) -> Option<::std::time::Duration> {
                <$session>::idle_timeout(self)
            }
        });
    };
    ($session:ty, $event:ty, { $($extra:tt)* }) => {
        impl $crate::Session for $session {
            type Event = $event;

            fn handle_input(&mut self, input: &[u8]) -> usize {
                <$session>::handle_input(self, input)
            }

            fn poll_event(&mut self) -> Option<$event> {
                <$session>::poll_event(self)
            }

            fn output_len(&self) -> usize {
                <$session>::output_len(self)
            }

            fn poll_output(&mut self, out: &mut Vec<u8>) {
                <$session>::poll_output(self, out);
            }

            fn tls_established(&mut self) {
                <$session>::tls_established(self);
            }

            fn handle_idle_timeout(&mut self) {
                <$session>::handle_idle_timeout(self);
            }

            fn handle_shutdown(&mut self) {
                <$session>::handle_shutdown(self);
            }

            fn take_auth_failures(&mut self) -> u32 {
                <$session>::take_auth_failures(self)
            }

            fn set_auth_refused(&mut self, refused: bool) {
                <$session>::set_auth_refused(self, refused);
            }

            $($extra)*
        }
    };
}
