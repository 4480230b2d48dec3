//! Slowing and then refusing logins from an address that keeps failing them, over all of its
//! connections: the answer to password guessing that a per-connection failure limit alone
//! does not give (a guesser reconnects).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The throttle's settings. Failures are counted per client address over
/// [`window`](Self::window); the counts of an address go when its window passes with no
/// new failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthThrottleOptions {
    /// How long an address's failures are remembered after its last one. Default 15 minutes.
    pub window: Duration,
    /// Failures answered at once; each one after these waits
    /// [`delay_step`](Self::delay_step) more than the one before. Default 5.
    pub slow_after: u32,
    /// The added wait per failure past [`slow_after`](Self::slow_after). Default 500 ms.
    pub delay_step: Duration,
    /// The longest wait before a failure is answered. Default 5 s.
    pub max_delay: Duration,
    /// Failures after which the address's logins are refused unchecked, for
    /// [`lockout`](Self::lockout). 0: never. Default 30.
    pub lockout_after: u32,
    /// How long a locked-out address stays refused. Default 5 minutes.
    pub lockout: Duration,
}

impl Default for AuthThrottleOptions {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(15 * 60),
            slow_after: 5,
            delay_step: Duration::from_millis(500),
            max_delay: Duration::from_secs(5),
            lockout_after: 30,
            lockout: Duration::from_secs(5 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Login failures per client address, shared by every connection of a server (or of several
/// servers: SMTP, POP3 and IMAP of one `mailwire serve` share one).
///
/// ```
/// use std::net::IpAddr;
/// use std::time::Duration;
/// use mailwire_net::{AuthThrottle, AuthThrottleOptions};
///
/// let t = AuthThrottle::new(AuthThrottleOptions {
///     slow_after: 1,
///     lockout_after: 3,
///     ..AuthThrottleOptions::default()
/// });
/// let ip: IpAddr = "192.0.2.7".parse().unwrap();
/// assert_eq!(t.failed(ip, 1), Duration::ZERO);
/// assert_eq!(t.failed(ip, 1), Duration::from_millis(500));
/// assert!(!t.refused(ip));
/// t.failed(ip, 1);
/// assert!(t.refused(ip));
/// ```
#[derive(Debug)]
pub struct AuthThrottle {
    options: AuthThrottleOptions,
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

/// Addresses kept before the expired ones are swept out.
const SWEEP_AT: usize = 4096;

impl AuthThrottle {
    /// A throttle with these settings.
    pub fn new(options: AuthThrottleOptions) -> Self {
        Self {
            options,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The settings.
    pub fn options(&self) -> &AuthThrottleOptions {
        &self.options
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether logins from `ip` are refused now.
    pub fn refused(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        self.lock()
            .get(&ip)
            .and_then(|e| e.locked_until)
            .is_some_and(|until| now < until)
    }

    /// Records `n` failed logins from `ip`; returns how long to wait before answering the
    /// last of them.
    pub fn failed(&self, ip: IpAddr, n: u32) -> Duration {
        let o = &self.options;
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() >= SWEEP_AT {
            map.retain(|_, e| {
                now.duration_since(e.last) < o.window
                    || e.locked_until.is_some_and(|until| now < until)
            });
        }
        let e = map.entry(ip).or_insert(Entry {
            failures: 0,
            last: now,
            locked_until: None,
        });
        if now.duration_since(e.last) >= o.window && e.locked_until.is_none_or(|u| now >= u) {
            e.failures = 0;
            e.locked_until = None;
        }
        e.failures = e.failures.saturating_add(n);
        e.last = now;
        if o.lockout_after > 0 && e.failures >= o.lockout_after {
            e.locked_until = Some(now + o.lockout);
        }
        let over = e.failures.saturating_sub(o.slow_after);
        o.delay_step.saturating_mul(over).min(o.max_delay)
    }
}

impl Default for AuthThrottle {
    fn default() -> Self {
        Self::new(AuthThrottleOptions::default())
    }
}
