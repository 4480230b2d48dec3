#![forbid(unsafe_code)]
//! mailwire: IMAP, POP3 and SMTP/LMTP/Submission clients and servers, built
//! as sans-I/O protocol cores with tokio drivers.
//!
//! Besides the protocol crates, this umbrella crate provides [`Runtime`]: a
//! tokio runtime running on a background thread, so that programs whose main
//! thread runs something else (a GUI event loop, a game loop, synchronous
//! code) can submit async work from any thread and collect the results
//! without blocking: polling a [`Pending`], or draining a channel once per
//! frame.
//!
//! # Example
//!
//! ```
//! use std::sync::mpsc;
//! use std::time::Duration;
//! use mailwire::{Runtime, RuntimeError};
//!
//! let rt = Runtime::builder().worker_threads(1).thread_name("net").build()?;
//!
//! // Wait for a result (never from inside the runtime itself).
//! let sum = rt.block_on(async {
//!     tokio::time::sleep(Duration::from_millis(5)).await;
//!     2 + 2
//! })?;
//! assert_eq!(sum, 4);
//!
//! // Or have results delivered into a channel that a loop drains.
//! let (tx, rx) = mpsc::channel();
//! rt.spawn_to(async { "async work" }, tx.clone());
//! let blocking = rt.spawn_blocking(|| "blocking work"); // deferToThread
//! let mut received = Vec::new();
//! while received.len() < 1 {
//!     while let Ok(result) = rx.try_recv() {
//!         received.push(result?);
//!     }
//!     std::thread::sleep(Duration::from_millis(1)); // one frame of the loop
//! }
//! assert_eq!(received, ["async work"]);
//! assert_eq!(blocking.wait()?, "blocking work");
//!
//! // Panics come back as errors.
//! let result: Result<(), _> = rt.block_on(async { panic!("oops") });
//! assert!(matches!(result, Err(RuntimeError::Panicked(message)) if message == "oops"));
//!
//! rt.shutdown(Duration::from_secs(1))?;
//! assert!(matches!(rt.block_on(async {}), Err(RuntimeError::ShutDown)));
//! # Ok::<(), RuntimeError>(())
//! ```

pub mod http;
pub mod imap;
pub mod pop3;
pub mod runtime;
pub mod serve;
pub mod smtp;

/// Sans-I/O framing shared by every protocol (`mailwire-codec`).
pub use mailwire_codec as codec;
/// SASL client and server step machines (`mailwire-sasl`).
pub use mailwire_sasl as sasl;
/// TLS configuration, policy and STARTTLS upgrades (`mailwire-tls`).
pub use mailwire_tls as tls;

pub use mailwire_codec::Secret;

pub use runtime::{Builder as RuntimeBuilder, Pending, Runtime, RuntimeError, TaskHandle};
