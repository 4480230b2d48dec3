//! The SMTP/LMTP side of the embedded store: a [`Policy`] that accepts mail for the store's
//! users (or creates them, with `accept_any_recipient`) and a [`DeliverySink`] that appends to
//! their INBOX durably before the `250`.

use bytes::Bytes;
use mailwire_store::Store;

use crate::proto::{EnhancedCode, Envelope, ForwardPath, RcptParams, Reply};
use crate::server::{ConnectionInfo, DeliverySink, Policy};

/// Accepts recipients that are users of the store: `LOGIN@any-domain` goes to LOGIN.
#[derive(Clone)]
pub struct StorePolicy {
    store: Store,
    accept_any_recipient: bool,
}

impl StorePolicy {
    /// A policy over `store`; with `accept_any_recipient`, unknown recipients become users
    /// (`mailwire serve --accept-any-recipient`), otherwise they get `550 5.1.1`.
    pub fn new(store: Store, accept_any_recipient: bool) -> Self {
        Self {
            store,
            accept_any_recipient,
        }
    }
}

/// The store login name a forward path is for: the unquoted local part and the domain.
fn recipient_key(to: &ForwardPath<'_>) -> String {
    match to.address() {
        None => "postmaster".to_owned(),
        Some(a) => format!("{}@{}", a.local_part_unquoted(), a.domain()),
    }
}

impl Policy for StorePolicy {
    async fn check_rcpt(
        &self,
        _info: &ConnectionInfo,
        _envelope: &Envelope,
        to: &ForwardPath<'_>,
        params: &RcptParams<'_>,
    ) -> Result<(), Reply> {
        if let Some(u) = params.unknown.first() {
            let text = format!("Parameter {} not supported", u.keyword);
            return Err(Reply::new(555, Some(EnhancedCode::new(5, 5, 4)), &text));
        }
        let key = recipient_key(to);
        if self.store.has_user(&key) {
            return Ok(());
        }
        if self.accept_any_recipient {
            return match self.store.create_user_if_missing(&key).await {
                Ok(_) => Ok(()),
                Err(e) => Err(Reply::new(
                    550,
                    Some(EnhancedCode::new(5, 1, 1)),
                    &format!("Cannot create mailbox: {e}"),
                )),
            };
        }
        Err(Reply::new(
            550,
            Some(EnhancedCode::new(5, 1, 1)),
            &format!("{to}: no such user here"),
        ))
    }
}

/// Appends each message to every recipient's INBOX in the store.
#[derive(Clone)]
pub struct StoreSink {
    store: Store,
}

impl StoreSink {
    /// A sink over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

impl DeliverySink for StoreSink {
    async fn deliver(
        &self,
        info: &ConnectionInfo,
        envelope: &Envelope,
        message: Vec<u8>,
    ) -> Vec<Reply> {
        let message = Bytes::from(message);
        let mut replies = Vec::with_capacity(envelope.recipients.len());
        // SMTP answers the whole message once: when one recipient fails, the copies already
        // stored are taken back, so the client's retry does not duplicate them. LMTP answers
        // each recipient (RFC 2033 §4.2), so what was stored stays.
        let atomic = info.mode != crate::proto::Mode::Lmtp;
        let mut stored: Vec<(String, u32)> = Vec::new();
        for r in &envelope.recipients {
            let key = recipient_key(&r.path);
            if atomic && replies.iter().any(|r: &Reply| !r.is_positive()) {
                break;
            }
            let reply = match self.store.deliver(&key, message.clone()).await {
                Ok(done) => {
                    stored.push((key.clone(), done.uid));
                    Reply::new(
                        250,
                        Some(EnhancedCode::new(2, 0, 0)),
                        &format!("{} stored as UID {}", r.path, done.uid),
                    )
                }
                // RFC 5321 §4.2.2 452, RFC 3463 4.3.1 "mail system full": try again later.
                Err(e) if e.is_storage_full() => {
                    tracing::warn!(recipient = %r.path, error = %e, "storage full");
                    Reply::new(
                        452,
                        Some(EnhancedCode::new(4, 3, 1)),
                        "Insufficient system storage, try again later",
                    )
                }
                // RFC 3463 X.2.2 "mailbox full"; RFC 5321 §4.5.3.1.10 lets clients retry a 552.
                Err(mailwire_store::StoreError::OverQuota(_)) => Reply::new(
                    552,
                    Some(EnhancedCode::new(5, 2, 2)),
                    &format!("{}: mailbox full", r.path),
                ),
                Err(e) => {
                    tracing::warn!(recipient = %r.path, error = %e, "delivery failed");
                    Reply::new(
                        451,
                        Some(EnhancedCode::new(4, 3, 0)),
                        "Delivery failed, try again later",
                    )
                }
            };
            replies.push(reply);
        }
        if atomic && replies.iter().any(|r| !r.is_positive()) {
            for (key, uid) in stored {
                if let Some(user) = self.store.user(&key)
                    && let Err(e) = user.discard("INBOX", &[uid]).await
                {
                    tracing::warn!(recipient = %key, uid, error = %e, "could not take back a partial delivery");
                }
            }
            // One reply per recipient is expected: those not tried share the failure.
            let failed = replies
                .iter()
                .find(|r| !r.is_positive())
                .cloned()
                .unwrap_or_else(|| {
                    Reply::new(451, Some(EnhancedCode::new(4, 3, 0)), "Delivery failed")
                });
            replies.resize(envelope.recipients.len(), failed);
        }
        // LMTP: one reply per recipient, in order, nothing in front.
        if !atomic {
            return replies;
        }
        // SMTP gets one reply: success only if every recipient has the message.
        if let Some(failed) = replies.iter().find(|r| !r.is_positive()).cloned() {
            if envelope.recipients.len() > 1 {
                replies.push(failed);
                replies.rotate_right(1);
            }
        } else if envelope.recipients.len() > 1 {
            replies.insert(
                0,
                Reply::new(
                    250,
                    Some(EnhancedCode::new(2, 0, 0)),
                    "Message stored for every recipient",
                ),
            );
        }
        replies
    }
}
