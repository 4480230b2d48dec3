//! Mail transactions: `MAIL`, `RCPT`, `DATA` or `BDAT`, in pipelined flights (RFC 2920) or one
//! command at a time, with the replies matched in order.

use mailwire_codec::{DotStuffer, normalise_line_endings};

use super::message::{self, Plan};
use super::{ClientSession, Event, Expect, MessageHandle, Phase, Queued, SendReport};
use crate::proto::{Command, EnhancedCode, Envelope, Extensions, Reply};

/// A message whose transaction has begun.
pub(super) struct Txn {
    pub(super) handle: MessageHandle,
    envelope: Envelope,
    /// The message; for `BDAT` without `BINARYMIME`, already normalised to CRLF.
    message: Vec<u8>,
    plan: Plan,
    mail: Option<Reply>,
    rcpt: Vec<Option<Reply>>,
    accepted: usize,
    /// The refusal of `DATA` or of a `BDAT` chunk.
    data_refusal: Option<Reply>,
    /// SMTP: the reply after the data.
    final_reply: Option<Reply>,
    /// LMTP: the replies after the data, one per accepted recipient.
    lmtp: Vec<Reply>,
    /// How many replies the end of the data gets (0: not known yet).
    final_expected: usize,
    final_received: usize,
    /// `DATA` got `354` although nothing could be delivered: a lone `.` was sent.
    emptied: bool,
    /// `BDAT`: where the next chunk starts.
    next_offset: usize,
}

impl Txn {
    /// Whether the server has a sender and at least one recipient.
    fn delivering(&self) -> bool {
        self.mail.as_ref().is_some_and(Reply::is_positive) && self.accepted > 0
    }

    fn mail_accepted(&self) -> bool {
        self.mail.as_ref().is_some_and(Reply::is_positive)
    }

    fn into_report(self, lmtp: bool) -> SendReport {
        let missing = || Reply::new(451, Some(EnhancedCode::new(4, 0, 0)), "No reply received");
        let mail = self.mail.unwrap_or_else(missing);
        let mail_ok = mail.is_positive();
        let mut lmtp_replies = self.lmtp.into_iter();
        let data_refusal = self.data_refusal;
        let final_reply = self.final_reply;
        let recipients = self
            .envelope
            .recipients
            .into_iter()
            .zip(self.rcpt)
            .map(|(r, rcpt)| {
                let decided = match rcpt {
                    // MAIL was refused before this RCPT was sent.
                    None => mail.clone(),
                    Some(reply) if !reply.is_positive() => reply,
                    Some(_) if !mail_ok => mail.clone(),
                    Some(_) if lmtp => lmtp_replies
                        .next()
                        .or_else(|| data_refusal.clone())
                        .or_else(|| final_reply.clone())
                        .unwrap_or_else(missing),
                    Some(_) => final_reply
                        .clone()
                        .or_else(|| data_refusal.clone())
                        .unwrap_or_else(missing),
                };
                (r.path, decided)
            })
            .collect();
        SendReport {
            mail,
            recipients,
            final_reply: if lmtp {
                data_refusal
            } else {
                final_reply.or(data_refusal)
            },
            dsn_dropped: self.plan.dsn_dropped,
            transactions: 1,
        }
    }

    /// The recipients (by position) to send the message to again in a new transaction: those
    /// refused with `452` (too many recipients, RFC 5321 §4.5.3.1.10), when this transaction
    /// delivered to someone — so every retry makes progress and the retries end.
    fn too_many_recipients(&self, lmtp: bool) -> Vec<usize> {
        let delivered = self.delivering()
            && !self.emptied
            && if lmtp {
                self.lmtp.iter().any(Reply::is_positive)
            } else {
                self.final_reply.as_ref().is_some_and(Reply::is_positive)
            };
        if !delivered {
            return Vec::new();
        }
        self.rcpt
            .iter()
            .enumerate()
            .filter(|(_, r)| r.as_ref().is_some_and(|r| r.code() == 452))
            .map(|(i, _)| i)
            .collect()
    }
}

impl ClientSession {
    fn pipelining(&self) -> bool {
        self.extensions.as_ref().is_some_and(Extensions::pipelining)
    }

    /// Starts what can start now that nothing is awaited: `RSET`, the next transaction, `QUIT`.
    pub(super) fn pump(&mut self) {
        if self.phase != Phase::Ready || !self.expect.is_empty() {
            return;
        }
        if self.needs_rset && !self.queue.is_empty() {
            self.needs_rset = false;
            if !self.send(&Command::Rset, Expect::Rset) || !self.pipelining() {
                return;
            }
        }
        if self.start_next() {
            return;
        }
        if self.quit_requested && self.queue.is_empty() && self.active.is_empty() {
            self.send_quit();
        }
    }

    fn send_quit(&mut self) {
        if self.send(&Command::Quit, Expect::Quit) {
            self.phase = Phase::Quitting;
        }
    }

    /// Begins the next queued message that passes the local checks; false if none.
    fn start_next(&mut self) -> bool {
        while let Some(q) = self.queue.pop_front() {
            let planned = match &self.extensions {
                Some(ext) => message::plan(
                    &q.envelope,
                    &q.message,
                    ext,
                    self.esmtp,
                    self.config.chunking,
                ),
                None => message::plan(
                    &q.envelope,
                    &q.message,
                    &Extensions::default(),
                    false,
                    false,
                ),
            };
            match planned {
                Ok(plan) => {
                    self.begin(q, plan);
                    return true;
                }
                Err(error) => self.events.push_back(Event::MessageFailed {
                    handle: q.handle,
                    error,
                }),
            }
        }
        false
    }

    fn begin(&mut self, q: Queued, plan: Plan) {
        let Queued {
            handle,
            envelope,
            mut message,
        } = q;
        if plan.bdat && !plan.binary && !plan.canonical {
            message = normalise_line_endings(&message);
        }
        let mail = Command::Mail {
            from: envelope.from.clone(),
            params: plan.mail_params.clone(),
        };
        let n = envelope.recipients.len();
        self.active.push_back(Txn {
            handle,
            envelope,
            message,
            plan,
            mail: None,
            rcpt: vec![None; n],
            accepted: 0,
            data_refusal: None,
            final_reply: None,
            lmtp: Vec::new(),
            final_expected: 0,
            final_received: 0,
            emptied: false,
            next_offset: 0,
        });
        if !self.send(&mail, Expect::Mail(handle)) {
            return;
        }
        if self.pipelining() {
            // RFC 2920 §3.1: MAIL, the RCPTs and DATA (the last of a group) in one flight; or
            // the BDAT chunks, which may all be pipelined (RFC 3030 §4.2).
            let idx = self.active.len() - 1;
            for i in 0..n {
                if !self.send_rcpt(idx, i) {
                    return;
                }
            }
            self.send_data_start(idx, true);
        }
    }

    fn send_rcpt(&mut self, idx: usize, i: usize) -> bool {
        let Some(txn) = self.active.get(idx) else {
            return false;
        };
        let (Some(r), Some(params)) = (txn.envelope.recipients.get(i), txn.plan.rcpt_params.get(i))
        else {
            return false;
        };
        let cmd = Command::Rcpt {
            to: r.path.clone(),
            params: params.clone(),
        };
        let handle = txn.handle;
        self.send(&cmd, Expect::Rcpt(handle, i))
    }

    /// `DATA`, or `BDAT` chunks: all of them when `all`, else the next one.
    fn send_data_start(&mut self, idx: usize, all: bool) {
        let Some(txn) = self.active.get_mut(idx) else {
            return;
        };
        if !txn.plan.bdat {
            let handle = txn.handle;
            self.send(&Command::Data, Expect::Data(handle));
            return;
        }
        let total = txn.message.len();
        let size = self.config.bdat_chunk_size.map_or(total, |c| c.get());
        loop {
            let start = txn.next_offset;
            let end = start.saturating_add(size).min(total);
            let last = end == total;
            let cmd = Command::Bdat {
                size: (end - start) as u64,
                last,
            };
            // BDAT encodes a number and a keyword: it cannot fail.
            if cmd.encode(&mut self.out).is_err() {
                return;
            }
            self.out.extend_from_slice(&txn.message[start..end]);
            self.expect.push_back(Expect::Bdat(txn.handle, last));
            txn.next_offset = end;
            if last || !all {
                break;
            }
        }
        self.out_has_data = true;
    }

    pub(super) fn on_transaction_reply(&mut self, expect: Expect, reply: Reply) {
        let handle = match expect {
            Expect::Mail(h)
            | Expect::Rcpt(h, _)
            | Expect::Data(h)
            | Expect::DataEnd(h)
            | Expect::Bdat(h, _) => h,
            _ => return,
        };
        let Some(idx) = self.active.iter().position(|t| t.handle == handle) else {
            return self.fail(super::Error::UnexpectedReply(reply));
        };
        let pipelining = self.pipelining();
        let lmtp = self.config.lmtp;
        let txn = &mut self.active[idx];
        match expect {
            Expect::Mail(_) => {
                let ok = reply.is_positive();
                txn.mail = Some(reply);
                if !pipelining {
                    if ok {
                        self.send_rcpt(idx, 0);
                    } else {
                        self.complete(idx);
                    }
                }
            }
            Expect::Rcpt(_, i) => {
                if reply.is_positive() {
                    txn.accepted += 1;
                }
                if let Some(slot) = txn.rcpt.get_mut(i) {
                    *slot = Some(reply);
                }
                if !pipelining {
                    if i + 1 < txn.rcpt.len() {
                        self.send_rcpt(idx, i + 1);
                    } else if txn.accepted > 0 {
                        self.send_data_start(idx, false);
                    } else {
                        // MAIL was accepted: the transaction must be reset.
                        self.needs_rset = true;
                        self.complete(idx);
                    }
                }
            }
            Expect::Data(_) if reply.code() == 354 => {
                if txn.delivering() {
                    let mut stuffer = DotStuffer::new(true);
                    stuffer.encode(&txn.message, &mut self.out);
                    stuffer.finish(&mut self.out);
                } else {
                    // RFC 2920 §3.1: DATA accepted although no recipient was: send an empty
                    // message, which the server cannot deliver to anyone.
                    txn.emptied = true;
                    self.out.extend_from_slice(b".\r\n");
                }
                self.out_has_data = true;
                self.expect.push_back(Expect::DataEnd(handle));
                if pipelining {
                    // The message may open the next group: the next transaction, or QUIT.
                    if !self.start_next() && self.quit_requested && self.queue.is_empty() {
                        self.send_quit();
                    }
                }
            }
            Expect::Data(_) => {
                self.needs_rset |= txn.mail_accepted();
                txn.data_refusal = Some(reply);
                self.complete(idx);
            }
            Expect::Bdat(_, false) => {
                if reply.is_positive() {
                    if !pipelining {
                        self.send_data_start(idx, false);
                    }
                } else {
                    // RFC 3030 §2: the transaction failed; no further chunk, RSET before the next.
                    self.needs_rset = true;
                    if txn.data_refusal.is_none() {
                        txn.data_refusal = Some(reply);
                    }
                    if !pipelining {
                        self.complete(idx);
                    }
                }
            }
            Expect::DataEnd(_) | Expect::Bdat(_, true) => {
                let bdat = matches!(expect, Expect::Bdat(..));
                if bdat && !reply.is_positive() {
                    self.needs_rset = true;
                }
                let per_recipient = lmtp && txn.delivering() && !txn.emptied;
                if txn.final_expected == 0 {
                    // LMTP (RFC 2033 §4.2): one reply per accepted recipient, unless an earlier
                    // chunk failed.
                    txn.final_expected = if per_recipient && txn.data_refusal.is_none() {
                        txn.accepted
                    } else {
                        1
                    };
                    for _ in 1..txn.final_expected {
                        self.expect.push_front(Expect::DataEnd(handle));
                    }
                }
                if per_recipient && txn.data_refusal.is_none() {
                    txn.lmtp.push(reply);
                } else if txn.final_reply.is_none() {
                    txn.final_reply = Some(reply);
                }
                txn.final_received += 1;
                if txn.final_received >= txn.final_expected {
                    self.complete(idx);
                }
            }
            _ => {}
        }
    }

    /// The transaction is over: report it (or send the message again to the recipients the
    /// server had too many of) and start what can start.
    fn complete(&mut self, idx: usize) {
        let Some(mut txn) = self.active.remove(idx) else {
            return;
        };
        let handle = txn.handle;
        let lmtp = self.config.lmtp;
        let again = if self.config.retry_too_many_recipients {
            txn.too_many_recipients(lmtp)
        } else {
            Vec::new()
        };
        // What the retry needs, taken before the report consumes the transaction.
        let retry = (!again.is_empty()).then(|| {
            let envelope = Envelope {
                from: txn.envelope.from.clone(),
                params: txn.envelope.params.clone(),
                recipients: again
                    .iter()
                    .filter_map(|&i| txn.envelope.recipients.get(i).cloned())
                    .collect(),
            };
            (envelope, std::mem::take(&mut txn.message))
        });
        let report = txn.into_report(lmtp);
        // Fold this transaction into the message's report so far, if it was a retry.
        let (report, positions) = match self.partial.remove(&handle) {
            Some((mut so_far, positions)) => {
                for (k, &at) in positions.iter().enumerate() {
                    if let (Some(slot), Some(decided)) =
                        (so_far.recipients.get_mut(at), report.recipients.get(k))
                    {
                        *slot = decided.clone();
                    }
                }
                so_far.transactions += 1;
                so_far.final_reply = report.final_reply.or(so_far.final_reply);
                so_far.dsn_dropped |= report.dsn_dropped;
                (so_far, positions)
            }
            None => {
                let n = report.recipients.len();
                (report, (0..n).collect())
            }
        };
        match retry {
            Some((envelope, message)) => {
                let positions = again
                    .iter()
                    .filter_map(|&i| positions.get(i).copied())
                    .collect();
                self.partial.insert(handle, (report, positions));
                // Next, before messages queued after it.
                self.queue.push_front(Queued {
                    handle,
                    envelope,
                    message,
                });
            }
            None => self
                .events
                .push_back(Event::TransactionCompleted { handle, report }),
        }
        self.pump();
    }
}
