//! The `Received:` trace header (RFC 5321 §4.4) and RFC 5322 dates.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::proto::ForwardPath;
use crate::server::ConnectionInfo;

/// Formats a time as an RFC 5322 `date-time` in UTC: `Tue, 25 Nov 2026 02:34:55 +0000`.
pub fn rfc5322_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = WEEKDAYS[(days % 7) as usize];
    let month_name = MONTHS[(month - 1).clamp(0, 11) as usize];
    format!("{weekday}, {day} {month_name} {year} {h:02}:{m:02}:{s:02} +0000")
}

/// The `Received:` header for a message accepted on this connection, CRLF-terminated and
/// folded. `with` follows RFC 3848 (ESMTP, ESMTPS, ESMTPA, ESMTPSA, LMTP…).
pub fn received_header(
    info: &ConnectionInfo,
    hostname: &str,
    id: u64,
    recipient: Option<&ForwardPath<'_>>,
) -> Vec<u8> {
    let s = &info.session;
    let base = if info.mode == crate::proto::Mode::Lmtp {
        "LMTP"
    } else if s.esmtp {
        "ESMTP"
    } else {
        "SMTP"
    };
    let with = format!(
        "{base}{}{}",
        if s.tls { "S" } else { "" },
        if s.authenticated.is_some() { "A" } else { "" }
    );
    let helo = s.helo.as_deref().unwrap_or("unknown");
    let mut h = format!(
        "Received: from {helo} ([{}])\r\n\tby {hostname} (mailwire) with {with} id {id:016x}",
        info.peer.ip()
    );
    if let Some(r) = recipient {
        h.push_str(&format!("\r\n\tfor {r}"));
    }
    h.push_str(&format!(";\r\n\t{}\r\n", rfc5322_date(SystemTime::now())));
    h.into_bytes()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(UNIX_EPOCH), "Thu, 1 Jan 1970 00:00:00 +0000");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_574_095);
        assert_eq!(rfc5322_date(t), "Wed, 25 Nov 2026 02:34:55 +0000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc5322_date(leap), "Tue, 29 Feb 2000 00:00:00 +0000");
        let at = |secs| rfc5322_date(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 +0000");
        assert_eq!(at(4_107_542_399), "Sun, 28 Feb 2100 23:59:59 +0000");
        assert_eq!(at(4_133_980_799), "Fri, 31 Dec 2100 23:59:59 +0000");
    }
}
