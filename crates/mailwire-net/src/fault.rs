//! Faults on request: what a test server's chaos settings make a session do at one point
//! (the SMTP stages, the IMAP and POP3 logins), in the words of each protocol.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// What to do at a point of a session where a test server injects a fault. `R` is the
/// protocol's refusal: an SMTP reply, an IMAP failure, a POP3 `-ERR` status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault<R> {
    /// Answer with this refusal instead of going on.
    Reply(R),
    /// Wait this long, then go on as usual.
    Delay(Duration),
    /// Close the connection without a word.
    Drop,
}

/// Asked when a login (IMAP LOGIN or AUTHENTICATE, POP3 PASS, APOP or AUTH) has passed the
/// credential check, with the client's address and the user: `None` lets it through.
pub type LoginFaults<R> = Arc<dyn Fn(SocketAddr, &str) -> Option<Fault<R>> + Send + Sync>;
