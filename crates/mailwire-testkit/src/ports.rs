//! Port allocation on 127.0.0.1 that does not collide between tests running in parallel.

use std::collections::BTreeSet;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::TcpListener;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, Result};

/// Lowest base port handed out.
pub const PORT_RANGE_START: u16 = 20000;
/// Highest port handed out (a base plus its largest offset stays at or below this).
pub const PORT_RANGE_END: u16 = 60000;
const TRIES: u32 = 500;

/// Ports handed out by this process: never handed out twice, even after their peer stopped, so a
/// test can never race another test of the same process for a port.
static RESERVED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A random base `B` in 20000–60000 such that every `B + offset` is free on 127.0.0.1 now and was
/// never handed out before by this process.
///
/// Each port is probed by binding it (and letting it go at once); the ports are then reserved for
/// the life of the process. Another *process* could still take one of them between this probe and
/// the peer's own bind: the peer handles in this crate then retry with a new base, and anyone else
/// should be ready to do the same.
///
/// ```
/// // Dovecot's layout: IMAP +143, IMAPS +993, POP3 +110, POP3S +995, LMTP +24.
/// let base = mailwire_testkit::free_port_base(&[24, 110, 143, 993, 995]).unwrap();
/// assert!(base >= 20000 && base + 995 <= 60000);
/// ```
///
/// # Errors
/// [`Error::NoFreePorts`] if 500 random bases all had a busy port, or if an offset is so large
/// that no base fits in the range.
pub fn free_port_base(offsets: &[u16]) -> Result<u16> {
    let no_ports = || Error::NoFreePorts {
        offsets: offsets.to_vec(),
        tries: TRIES,
    };
    let max = offsets.iter().copied().max().unwrap_or(0);
    let span = (PORT_RANGE_END - PORT_RANGE_START)
        .checked_sub(max)
        .filter(|s| *s > 0)
        .ok_or_else(no_ports)?;
    for _ in 0..TRIES {
        let base = PORT_RANGE_START + (random() % u64::from(span)) as u16;
        let ports: Vec<u16> = offsets.iter().map(|o| base + o).collect();
        let mut reserved = RESERVED.lock().unwrap_or_else(|e| e.into_inner());
        if ports.iter().any(|p| reserved.contains(p)) {
            continue;
        }
        if ports
            .iter()
            .all(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
        {
            reserved.extend(ports);
            return Ok(base);
        }
    }
    Err(no_ports())
}

/// One free port on 127.0.0.1 (see [`free_port_base`]).
///
/// # Errors
/// [`Error::NoFreePorts`] if none was found.
pub fn free_port() -> Result<u16> {
    free_port_base(&[0])
}

/// A random number from the standard library's per-process random hash keys, a counter and the clock.
fn random() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_do_not_repeat_and_stay_in_range() {
        let mut seen = BTreeSet::new();
        for _ in 0..50 {
            let base = free_port_base(&[0, 7, 900]).unwrap();
            assert!(base >= PORT_RANGE_START && base + 900 <= PORT_RANGE_END);
            for p in [base, base + 7, base + 900] {
                assert!(seen.insert(p), "port {p} handed out twice");
            }
        }
    }

    #[test]
    fn a_busy_port_is_never_handed_out() {
        let busy = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = busy.local_addr().unwrap().port();
        for _ in 0..200 {
            let base = free_port_base(&[0]).unwrap();
            assert_ne!(base, port);
        }
    }

    #[test]
    fn impossible_offsets_fail() {
        assert!(matches!(
            free_port_base(&[50000]),
            Err(Error::NoFreePorts { .. })
        ));
    }
}
