//! What the client sends and what it learns about it: envelope constructors, the checks a
//! message must pass before a command is sent for it, and the per-recipient report.

use thiserror::Error;

use crate::proto::{
    Body, Envelope, Extensions, ForwardPath, MailParams, Notify, RcptParams, Recipient, Reply, Ret,
    ReversePath, Unknown,
};

impl Envelope {
    /// An envelope from `from` to every path of `to`, without parameters. The client adds
    /// `SIZE`, `BODY` and `SMTPUTF8` itself from the message and the server's extensions.
    ///
    /// ```
    /// use mailwire_smtp::proto::Envelope;
    ///
    /// let env = Envelope::new("alice@example.com".parse()?, ["bob@example.org".parse()?]);
    /// assert_eq!(env.recipients[0].path.to_string(), "<bob@example.org>");
    /// # Ok::<(), mailwire_smtp::proto::SyntaxError>(())
    /// ```
    pub fn new(
        from: ReversePath<'static>,
        to: impl IntoIterator<Item = ForwardPath<'static>>,
    ) -> Self {
        Self {
            from,
            params: MailParams::default(),
            recipients: to
                .into_iter()
                .map(|path| Recipient {
                    path,
                    params: RcptParams::default(),
                })
                .collect(),
        }
    }

    /// Adds a recipient with its own parameters (`NOTIFY`, `ORCPT`).
    pub fn with_recipient(
        mut self,
        path: ForwardPath<'static>,
        params: RcptParams<'static>,
    ) -> Self {
        self.recipients.push(Recipient { path, params });
        self
    }

    /// Asks for delivery status notifications (RFC 3461 `NOTIFY`) for every recipient. Sent only
    /// when the server announces `DSN`; see [`SendReport::dsn_dropped`].
    pub fn with_notify(mut self, notify: Notify) -> Self {
        for r in &mut self.recipients {
            r.params.notify = Some(notify);
        }
        self
    }

    /// RFC 3461 `RET`: how much of the message a DSN returns. Sent only under `DSN`.
    pub fn with_ret(mut self, ret: Ret) -> Self {
        self.params.ret = Some(ret);
        self
    }

    /// RFC 3461 `ENVID`: an identifier returned in DSNs (xtext-encoded on the wire). Sent only
    /// under `DSN`.
    pub fn with_envid(mut self, envid: impl Into<String>) -> Self {
        self.params.envid = Some(std::borrow::Cow::Owned(envid.into()));
        self
    }

    /// Declares the body type. Only [`Body::BinaryMime`] changes anything: the message is then
    /// sent unaltered with `BDAT` (RFC 3030), and refused locally unless the server announces
    /// both `BINARYMIME` and `CHUNKING`. `7BIT`/`8BITMIME` are detected from the bytes.
    pub fn with_body(mut self, body: Body) -> Self {
        self.params.body = Some(body);
        self
    }
}

/// Why a message was refused by the client itself, before any command was sent for it (or why
/// it never completed). The session stays usable after the first kinds.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The envelope has no recipient.
    #[error("the envelope has no recipient")]
    NoRecipients,
    /// The message is larger than the limit the server announced with `SIZE` (RFC 1870 §4).
    #[error("the message has {size} octets but the server accepts at most {limit} (SIZE)")]
    TooLarge {
        /// The message size as it would be declared (line endings normalised to CRLF).
        size: u64,
        /// The server's limit.
        limit: u64,
    },
    /// The message has octets above 127 but the server does not announce `8BITMIME`
    /// (RFC 6152 §3: such a message must not be sent as is).
    #[error("the message has 8-bit content but the server does not announce 8BITMIME")]
    NeedsEightBitMime,
    /// An address is not ASCII but the server does not announce `SMTPUTF8` (RFC 6531 §3.2).
    #[error("the address {address} needs SMTPUTF8, which the server does not announce")]
    NeedsSmtpUtf8 {
        /// The first such address.
        address: String,
    },
    /// `BODY=BINARYMIME` was asked for but the server lacks `BINARYMIME` or `CHUNKING`.
    #[error(
        "BODY=BINARYMIME needs BINARYMIME and CHUNKING, which the server does not both announce"
    )]
    NeedsBinaryMime,
    /// `REQUIRETLS` was asked for but the server does not announce it (RFC 8689 §4.1).
    #[error("REQUIRETLS was requested but the server does not announce it")]
    NeedsRequireTls,
    /// A parameter given by the caller cannot be written safely: a keyword that is not
    /// `(ALPHA / DIGIT) *(ALPHA / DIGIT / "-")` or a value with a space, `=` or control
    /// character (RFC 5321 §4.1.2). Refused so that a parameter can never smuggle a command.
    #[error("invalid ESMTP parameter {keyword:?}")]
    InvalidParameter {
        /// The parameter's keyword as given.
        keyword: String,
    },
    /// The session failed or closed before the message's transaction completed: whether the
    /// server delivered it is unknown. The session's own error says why.
    #[error("the session ended before the message's transaction completed")]
    Aborted,
}

/// What the server said about one message.
///
/// Every recipient of the envelope appears once in [`recipients`](Self::recipients), with the
/// reply that decided its fate: its `RCPT` refusal; or, for a recipient the server accepted,
/// the reply after the data (SMTP: the one final reply; LMTP: the recipient's own reply,
/// RFC 2033 §4.2); or the refusal of `MAIL`, `DATA` or `BDAT` that ended the transaction
/// first. A recipient was delivered exactly when its reply is positive (2yz).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReport {
    /// The reply to `MAIL FROM`.
    pub mail: Reply,
    /// Every recipient, in envelope order, with its deciding reply.
    pub recipients: Vec<(ForwardPath<'static>, Reply)>,
    /// SMTP: the reply that ended the data transfer (to the end of `DATA` or to `BDAT LAST`),
    /// or the refusal of `DATA`/`BDAT`. LMTP: only such a refusal (the replies after the data
    /// are per recipient). `None` when no data was sent.
    pub final_reply: Option<Reply>,
    /// DSN parameters (`NOTIFY`, `ORCPT`, `RET`, `ENVID`) were asked for but left out because
    /// the server does not announce `DSN` (RFC 3461 §4).
    pub dsn_dropped: bool,
    /// How many mail transactions the message took: more than one when the server refused
    /// recipients with `452` (too many recipients) and the client sent the message again to
    /// them ([`ClientConfig::retry_too_many_recipients`](crate::proto::ClientConfig)). `mail`
    /// is then the first transaction's reply and `final_reply` the last one's.
    pub transactions: u32,
}

impl SendReport {
    /// Whether every recipient was delivered.
    pub fn is_delivered_to_all(&self) -> bool {
        !self.recipients.is_empty() && self.recipients.iter().all(|(_, r)| r.is_positive())
    }

    /// The recipients the server took responsibility for.
    pub fn delivered(&self) -> impl Iterator<Item = &ForwardPath<'static>> {
        self.recipients
            .iter()
            .filter(|(_, r)| r.is_positive())
            .map(|(p, _)| p)
    }

    /// The recipients that were not delivered, with the reason.
    pub fn refused(&self) -> impl Iterator<Item = (&ForwardPath<'static>, &Reply)> {
        self.recipients
            .iter()
            .filter(|(_, r)| !r.is_positive())
            .map(|(p, r)| (p, r))
    }
}

/// The facts about a message the client needs before sending it, from one pass over it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Its size once bare CR and bare LF are turned into CRLF and a final CRLF added.
    pub canonical_len: u64,
    /// Already in that form (nothing to normalise).
    pub canonical: bool,
    /// Some octet is above 127.
    pub eight_bit: bool,
    /// Some octet of the header section is above 127 (RFC 6532 headers).
    pub eight_bit_headers: bool,
}

/// Scans a message once (memchr for line endings, `is_ascii` for 8-bit content).
pub(crate) fn scan(message: &[u8]) -> Scan {
    let mut len = message.len() as u64;
    let mut canonical = true;
    let mut header_end = None;
    let mut prev_line_empty_at = Some(0usize);
    let mut i = 0;
    while let Some(k) = memchr::memchr2(b'\r', b'\n', &message[i..]) {
        let at = i + k;
        let crlf = message[at] == b'\r' && message.get(at + 1) == Some(&b'\n');
        if !crlf {
            // A bare CR or LF becomes CRLF.
            len += 1;
            canonical = false;
        }
        let next = at + if crlf { 2 } else { 1 };
        if header_end.is_none() {
            if prev_line_empty_at == Some(at) {
                header_end = Some(at);
            }
            prev_line_empty_at = Some(next);
        }
        i = next;
    }
    if let Some(&last) = message.last()
        && last != b'\r'
        && last != b'\n'
    {
        len += 2;
        canonical = false;
    }
    let eight_bit = !message.is_ascii();
    let headers = &message[..header_end.unwrap_or(message.len())];
    Scan {
        canonical_len: len,
        canonical,
        eight_bit,
        eight_bit_headers: eight_bit && !headers.is_ascii(),
    }
}

/// How a message will be sent, decided before its first command.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// `MAIL` parameters as sent.
    pub mail_params: MailParams<'static>,
    /// `RCPT` parameters as sent, one per recipient.
    pub rcpt_params: Vec<RcptParams<'static>>,
    /// `BDAT` instead of `DATA`.
    pub bdat: bool,
    /// Send the bytes unaltered (`BINARYMIME`); otherwise line endings are normalised.
    pub binary: bool,
    /// Already canonical: BDAT can send the caller's bytes without a copy.
    pub canonical: bool,
    /// DSN parameters were left out.
    pub dsn_dropped: bool,
}

/// Checks a message against the server's extensions and computes its parameters.
/// `esmtp` is false after a `HELO` fallback (no parameters at all then).
pub(crate) fn plan(
    envelope: &Envelope,
    message: &[u8],
    ext: &Extensions,
    esmtp: bool,
    chunking: bool,
) -> Result<Plan, MessageError> {
    if envelope.recipients.is_empty() {
        return Err(MessageError::NoRecipients);
    }
    check_unknown(&envelope.params.unknown)?;
    for r in &envelope.recipients {
        check_unknown(&r.params.unknown)?;
        if let Some((ty, _)) = &r.params.orcpt
            && !is_keyword(ty)
        {
            return Err(MessageError::InvalidParameter {
                keyword: "ORCPT".to_owned(),
            });
        }
    }
    let s = scan(message);
    let user = &envelope.params;
    let mut p = MailParams {
        unknown: user.unknown.clone(),
        ..MailParams::default()
    };

    // RFC 6531: a non-ASCII address needs SMTPUTF8.
    let utf8_address = envelope
        .from
        .address()
        .filter(|a| a.is_utf8())
        .map(ToString::to_string)
        .or_else(|| {
            envelope
                .recipients
                .iter()
                .filter_map(|r| r.path.address())
                .find(|a| a.is_utf8())
                .map(ToString::to_string)
        });
    let smtputf8 = esmtp && ext.smtputf8();
    if let Some(address) = utf8_address {
        if !smtputf8 {
            return Err(MessageError::NeedsSmtpUtf8 { address });
        }
        p.smtputf8 = true;
    }
    // RFC 6532 headers: say so when the server understands it (8BITMIME still decides below).
    if smtputf8 && (s.eight_bit_headers || user.smtputf8) {
        p.smtputf8 = true;
    }

    // The body: BINARYMIME on request, 8BITMIME when the bytes need it (RFC 6152, RFC 3030).
    let binary = user.body == Some(Body::BinaryMime);
    if binary {
        if !(esmtp && ext.binary_mime() && ext.chunking()) {
            return Err(MessageError::NeedsBinaryMime);
        }
        p.body = Some(Body::BinaryMime);
    } else if s.eight_bit {
        if !(esmtp && ext.eight_bit_mime()) {
            return Err(MessageError::NeedsEightBitMime);
        }
        p.body = Some(Body::EightBitMime);
    } else if esmtp && ext.eight_bit_mime() && user.body.is_some() {
        // 7-bit content: keep the caller's declaration where the server understands it.
        p.body = user.body;
    }

    // RFC 1870: refuse locally what the server announced it would refuse; declare the size.
    let size = if binary {
        message.len() as u64
    } else {
        s.canonical_len
    };
    if esmtp && let Some(limit) = ext.size() {
        if let Some(limit) = limit
            && size > limit
        {
            return Err(MessageError::TooLarge { size, limit });
        }
        p.size = Some(size);
    }

    // RFC 3461: DSN parameters only where announced.
    let dsn = esmtp && ext.dsn();
    let asked_dsn = user.ret.is_some()
        || user.envid.is_some()
        || envelope
            .recipients
            .iter()
            .any(|r| r.params.notify.is_some() || r.params.orcpt.is_some());
    if dsn {
        p.ret = user.ret;
        p.envid.clone_from(&user.envid);
    }
    // RFC 4954 §5: AUTH= only to a server that has AUTH.
    if esmtp && ext.has("AUTH") {
        p.auth.clone_from(&user.auth);
    }
    // RFC 8689 §4.1.
    if user.requiretls {
        if !(esmtp && ext.requiretls()) {
            return Err(MessageError::NeedsRequireTls);
        }
        p.requiretls = true;
    }
    let rcpt_params = envelope
        .recipients
        .iter()
        .map(|r| RcptParams {
            notify: r.params.notify.filter(|_| dsn),
            orcpt: r.params.orcpt.clone().filter(|_| dsn),
            unknown: r.params.unknown.clone(),
        })
        .collect();
    Ok(Plan {
        mail_params: p,
        rcpt_params,
        bdat: binary || (chunking && esmtp && ext.chunking()),
        binary,
        canonical: s.canonical,
        dsn_dropped: asked_dsn && !dsn,
    })
}

/// `esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")`.
fn is_keyword(k: &str) -> bool {
    k.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Caller-supplied parameters must follow `esmtp-param`; values are `1*(%d33-60 / %d62-126)`
/// (UTF-8 allowed, RFC 6531 §3.3), so never a space, CR or LF.
fn check_unknown(params: &[Unknown<'_>]) -> Result<(), MessageError> {
    for u in params {
        let value_ok = u.value.as_deref().is_none_or(|v| {
            !v.is_empty()
                && v.chars().all(|c| {
                    matches!(c as u32, 33..=60 | 62..=126) || (!c.is_ascii() && !c.is_control())
                })
        });
        if !is_keyword(&u.keyword) || !value_ok {
            return Err(MessageError::InvalidParameter {
                keyword: u.keyword.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailwire_codec::normalise_line_endings;

    #[test]
    fn scan_matches_normalisation() {
        for m in [
            &b""[..],
            b"a",
            b"a\r\n",
            b"a\n",
            b"a\r",
            b"a\r\r\nb",
            b"\n\n",
            b"Subject: x\r\n\r\nbody\xc3\xa9\r\n",
            b"Subject: caf\xc3\xa9\r\n\r\nbody\r\n",
            b"From: a\nTo: b\n\nx",
        ] {
            let s = scan(m);
            let n = normalise_line_endings(m);
            assert_eq!(s.canonical_len, n.len() as u64, "{m:?}");
            assert_eq!(s.canonical, n == m, "{m:?}");
        }
        assert!(!scan(b"Subject: x\r\n\r\nbody\xc3\xa9\r\n").eight_bit_headers);
        assert!(scan(b"Subject: x\r\n\r\nbody\xc3\xa9\r\n").eight_bit);
        assert!(scan(b"Subject: caf\xc3\xa9\r\n\r\nbody\r\n").eight_bit_headers);
        assert!(scan(b"Subject: caf\xc3\xa9").eight_bit_headers);
    }

    #[test]
    fn report_helpers() {
        let ok = Reply::new(250, None, "ok");
        let no = Reply::new(550, None, "no");
        let a: ForwardPath = "a@x.org".parse().unwrap();
        let b: ForwardPath = "b@x.org".parse().unwrap();
        let r = SendReport {
            mail: ok.clone(),
            recipients: vec![(a.clone(), ok.clone()), (b.clone(), no.clone())],
            final_reply: Some(ok),
            dsn_dropped: false,
            transactions: 1,
        };
        assert!(!r.is_delivered_to_all());
        assert_eq!(r.delivered().collect::<Vec<_>>(), [&a]);
        assert_eq!(r.refused().collect::<Vec<_>>(), [(&b, &no)]);
    }
}
