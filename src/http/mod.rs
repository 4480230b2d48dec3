//! The test server's HTTP API and web page (`mailwire serve --http ADDR`): see, wait for,
//! purge and mark the mail a test sends, over the same [`Store`] that SMTP, POP3 and IMAP
//! use, so a message seen in the browser is the message an IMAP client sees.
//!
//! JSON over HTTP/1.1 under `/api/v1` (described in `docs/openapi.json`, which the tests check
//! the server against); the web page at `/`.
//! The same operations are a Rust API on [`Api`], so a Rust test needs no HTTP client:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::time::Duration;
//! use mailwire::http::{Api, Query};
//! use mailwire_store::Store;
//!
//! let store = Store::memory();
//! store.add_user("alice", "secret").await.unwrap();
//! let api = Api::start(store.clone());
//! let waiter = {
//!     let api = api.clone();
//!     tokio::spawn(async move {
//!         let q = Query { subject: Some("hello".into()), ..Query::default() };
//!         api.wait(&q, None, Duration::from_secs(5)).await
//!     })
//! };
//! store.deliver("alice@example.com", &b"Subject: hello\r\n\r\nhi\r\n"[..]).await.unwrap();
//! let found = waiter.await.unwrap().expect("delivered within the timeout");
//! assert_eq!(found.user, "alice");
//! assert_eq!(api.list(&Query::default(), 10, None, None).messages.len(), 1);
//! assert_eq!(api.purge(&Query::default()).await.unwrap(), 1);
//! # }
//! ```

mod faults;
mod index;
mod routes;

use std::sync::Arc;
use std::time::Duration;

use mailwire_store::{FlagOp, Flags, Store, StoreError};
use serde::{Deserialize, Serialize};

pub use faults::{FaultPolicy, FaultRule, Faults, MAX_DELAY_MS};
pub use index::{Address, IndexEvent, MessageSummary};
pub use routes::{HttpOptions, router, serve};

use index::Index;
pub(crate) use index::{rfc3339, summarize};

/// The most messages one list answers with.
pub const MAX_LIMIT: usize = 1000;

/// Which messages: every field that is set must match (substrings are case-insensitive).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Query {
    /// The user (login).
    pub user: Option<String>,
    /// The mailbox name.
    pub mailbox: Option<String>,
    /// A substring of a `From:` address or name.
    pub from: Option<String>,
    /// A substring of a `To:` or `Cc:` address or name.
    pub to: Option<String>,
    /// A substring of the subject.
    pub subject: Option<String>,
    /// A substring of the decoded text or HTML bodies (reads each candidate message).
    pub text: Option<String>,
    /// Stored at or after this time (Unix seconds).
    #[serde(skip)]
    pub since: Option<i64>,
    /// Stored before this time (Unix seconds).
    #[serde(skip)]
    pub until: Option<i64>,
    /// `true`: only messages without `\Seen`; `false`: only with it.
    pub unread: Option<bool>,
}

impl Query {
    fn matches_summary(&self, s: &MessageSummary) -> bool {
        let has = |hay: &str, needle: &str| hay.to_lowercase().contains(&needle.to_lowercase());
        let addr_has = |list: &[Address], needle: &str| {
            list.iter().any(|a| {
                has(&a.address, needle) || a.name.as_deref().is_some_and(|n| has(n, needle))
            })
        };
        self.user
            .as_ref()
            .is_none_or(|u| s.user.eq_ignore_ascii_case(u))
            && self.mailbox.as_ref().is_none_or(|m| &s.mailbox == m)
            && self.from.as_ref().is_none_or(|f| addr_has(&s.from, f))
            && self
                .to
                .as_ref()
                .is_none_or(|t| addr_has(&s.to, t) || addr_has(&s.cc, t))
            && self.subject.as_ref().is_none_or(|x| has(&s.subject, x))
            && self.since.is_none_or(|t| s.received_unix >= t)
            && self.until.is_none_or(|t| s.received_unix < t)
            && self.unread.is_none_or(|u| u != s.seen)
    }
}

/// One page of a listing, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    /// The messages.
    pub messages: Vec<Arc<MessageSummary>>,
    /// How many match in all.
    pub total: usize,
    /// Pass as `before` for the next page; absent on the last.
    pub next_before: Option<u64>,
}

/// A message read and decoded.
#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    /// Its summary.
    #[serde(flatten)]
    pub summary: MessageSummary,
    /// Every header field in order, `(name, value as sent, unfolded)`.
    pub headers: Vec<(String, String)>,
    /// The text bodies, decoded from their transfer encoding and charset, joined.
    pub text: Option<String>,
    /// The first HTML body, decoded.
    pub html: Option<String>,
    /// The attachments.
    pub attachments: Vec<Attachment>,
    /// The MIME tree.
    pub mime: MimeNode,
}

/// An attachment of a [`MessageView`].
#[derive(Debug, Clone, Serialize)]
pub struct Attachment {
    /// Its number, for `/attachments/{n}`.
    pub index: usize,
    /// The file name, if given.
    pub name: Option<String>,
    /// `type/subtype`.
    pub content_type: String,
    /// Decoded octets.
    pub size: usize,
    /// The inline part's `Content-ID`, without angle brackets.
    pub content_id: Option<String>,
}

/// A node of the MIME tree.
#[derive(Debug, Clone, Serialize)]
pub struct MimeNode {
    /// `type/subtype`.
    pub content_type: String,
    /// Decoded octets of a leaf; 0 for a multipart.
    pub size: usize,
    /// The file name, if any.
    pub name: Option<String>,
    /// The children of a multipart or message/rfc822.
    pub parts: Vec<MimeNode>,
}

/// Why an API operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No such message, user or attachment.
    #[error("{0} not found")]
    NotFound(String),
    /// The request cannot be done (a user that exists, a bad name).
    #[error("{0}")]
    Conflict(String),
    /// The request is well-formed JSON but cannot be done as asked.
    #[error("{0}")]
    Invalid(String),
    /// Another server (a relay target) failed.
    #[error("relay: {0}")]
    Upstream(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// The test server's operations: listing, waiting, reading, marking and purging the captured
/// mail. Cheap to clone; every clone is the same.
#[derive(Clone)]
pub struct Api {
    store: Store,
    index: Arc<Index>,
    faults: Faults,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("messages", &self.index.len())
            .finish_non_exhaustive()
    }
}

impl Api {
    /// Starts indexing `store` (in the background; [`ready`](Self::ready) waits for the
    /// first scan). Needs a tokio runtime.
    pub fn start(store: Store) -> Api {
        Self::with_faults(store, Faults::default())
    }

    /// Like [`start`](Self::start), managing these fault rules (the ones the servers use).
    pub fn with_faults(store: Store, faults: Faults) -> Api {
        Api {
            index: Index::start(store.clone()),
            store,
            faults,
        }
    }

    /// The fault rules in force (add, list, clear).
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Waits until every message stored before the start is indexed.
    pub async fn ready(&self) {
        self.index.ready().await;
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Index events (stored, changed, deleted) from now on.
    pub fn events(&self) -> tokio::sync::broadcast::Receiver<IndexEvent> {
        self.index.subscribe()
    }

    /// How many messages are stored.
    pub fn count(&self) -> usize {
        self.index.len()
    }

    /// The messages matching `q`, newest first, at most `limit` (capped at [`MAX_LIMIT`]),
    /// with ids below `before` and above `after`. A `text` query is not applied here (it
    /// reads bodies): use [`search`](Self::search).
    pub fn list(&self, q: &Query, limit: usize, before: Option<u64>, after: Option<u64>) -> Page {
        let limit = limit.clamp(1, MAX_LIMIT);
        let mut messages = Vec::new();
        let mut total = 0;
        self.index.scan(before, after, |s| {
            if q.matches_summary(s) {
                total += 1;
                if messages.len() < limit {
                    messages.push(Arc::clone(s));
                }
            }
            true
        });
        let next_before = (total > messages.len())
            .then(|| messages.last().map(|s| s.id))
            .flatten();
        Page {
            messages,
            total,
            next_before,
        }
    }

    /// Like [`list`](Self::list), with the `text` query applied (each candidate's bodies are
    /// read and decoded).
    pub async fn search(
        &self,
        q: &Query,
        limit: usize,
        before: Option<u64>,
        after: Option<u64>,
    ) -> Result<Page, ApiError> {
        let Some(text) = q.text.as_deref().map(str::to_lowercase) else {
            return Ok(self.list(q, limit, before, after));
        };
        let limit = limit.clamp(1, MAX_LIMIT);
        let mut candidates = Vec::new();
        self.index.scan(before, after, |s| {
            if q.matches_summary(s) {
                candidates.push(Arc::clone(s));
            }
            true
        });
        let mut messages = Vec::new();
        let mut total = 0;
        for s in candidates {
            let Ok(raw) = self.raw(s.id).await else {
                continue;
            };
            if body_contains(&raw, &text) {
                total += 1;
                if messages.len() < limit {
                    messages.push(s);
                }
            }
        }
        let next_before = (total > messages.len())
            .then(|| messages.last().map(|s| s.id))
            .flatten();
        Ok(Page {
            messages,
            total,
            next_before,
        })
    }

    /// The newest message matching `q` with an id above `after`, as soon as one is stored;
    /// `None` at the timeout.
    pub async fn wait(
        &self,
        q: &Query,
        after: Option<u64>,
        timeout: Duration,
    ) -> Option<Arc<MessageSummary>> {
        let deadline = tokio::time::Instant::now() + timeout;
        // Subscribed before looking, so a message stored in between is not missed.
        let mut rx = self.index.subscribe();
        self.index.ready().await;
        loop {
            if let Some(s) = self.first_match(q, after).await {
                return Some(s);
            }
            loop {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Err(_) => return None,
                    Ok(Ok(IndexEvent::Stored(s))) => {
                        if after.is_none_or(|a| s.id > a) && self.full_match(q, &s).await {
                            return Some(s);
                        }
                    }
                    Ok(Ok(_)) => {}
                    // Fell behind: look at the index again.
                    Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => break,
                    Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return None,
                }
            }
        }
    }

    async fn first_match(&self, q: &Query, after: Option<u64>) -> Option<Arc<MessageSummary>> {
        let page = self.search(q, 1, None, after).await.ok()?;
        page.messages.into_iter().next()
    }

    async fn full_match(&self, q: &Query, s: &MessageSummary) -> bool {
        if !q.matches_summary(s) {
            return false;
        }
        match &q.text {
            None => true,
            Some(t) => self
                .raw(s.id)
                .await
                .is_ok_and(|raw| body_contains(&raw, &t.to_lowercase())),
        }
    }

    /// The summary of one message.
    pub fn summary(&self, id: u64) -> Result<Arc<MessageSummary>, ApiError> {
        self.index
            .get(id)
            .ok_or_else(|| ApiError::NotFound(format!("message {id}")))
    }

    /// A message's summary and the user whose mailbox holds it.
    fn owner(&self, id: u64) -> Result<(Arc<MessageSummary>, mailwire_store::User), ApiError> {
        let s = self.summary(id)?;
        let user = self
            .store
            .user(&s.user)
            .ok_or_else(|| ApiError::NotFound(format!("user {}", s.user)))?;
        Ok((s, user))
    }

    /// The octets of one message, exactly as stored (what IMAP `BODY[]` returns).
    pub async fn raw(&self, id: u64) -> Result<bytes::Bytes, ApiError> {
        let (s, user) = self.owner(id)?;
        let mb = user.mailbox(&s.mailbox).await?;
        Ok(mb.fetch(s.uid).await?)
    }

    /// One message parsed: headers, decoded bodies, attachments, MIME tree.
    pub async fn message(&self, id: u64) -> Result<MessageView, ApiError> {
        let summary = (*self.summary(id)?).clone();
        let raw = self.raw(id).await?;
        Ok(view(summary, &raw))
    }

    /// The decoded octets, name and type of attachment `n` of a message.
    pub async fn attachment(
        &self,
        id: u64,
        n: usize,
    ) -> Result<(Option<String>, String, Vec<u8>), ApiError> {
        let raw = self.raw(id).await?;
        let m = mail_parser::MessageParser::new()
            .parse(&raw[..])
            .ok_or_else(|| ApiError::NotFound(format!("attachment {n}")))?;
        let part = m
            .attachments()
            .nth(n)
            .ok_or_else(|| ApiError::NotFound(format!("attachment {n}")))?;
        use mail_parser::MimeHeaders;
        Ok((
            part.attachment_name().map(str::to_owned),
            content_type(part),
            part.contents().to_vec(),
        ))
    }

    /// Sets or clears `\Seen` (the flag IMAP shows).
    pub async fn set_seen(&self, id: u64, seen: bool) -> Result<(), ApiError> {
        let (s, user) = self.owner(id)?;
        let mb = user.mailbox(&s.mailbox).await?;
        let op = if seen { FlagOp::Add } else { FlagOp::Remove };
        let flags = Flags::parse(&["\\Seen"]).map_err(ApiError::Store)?;
        mb.store_flags(&[s.uid], op, flags, None).await?;
        self.index.mark_seen(id, seen);
        Ok(())
    }

    /// Deletes one message (expunged at once).
    pub async fn delete(&self, id: u64) -> Result<(), ApiError> {
        let (s, user) = self.owner(id)?;
        user.discard(&s.mailbox, &[s.uid]).await?;
        self.index.forget(id);
        Ok(())
    }

    /// Deletes every message matching `q` (all of them for an empty query); returns how
    /// many.
    pub async fn purge(&self, q: &Query) -> Result<usize, ApiError> {
        self.index.ready().await;
        let mut victims: Vec<Arc<MessageSummary>> = Vec::new();
        if q.text.is_some() {
            let mut before = None;
            loop {
                let page = self.search(q, MAX_LIMIT, before, None).await?;
                victims.extend(page.messages);
                match page.next_before {
                    Some(b) => before = Some(b),
                    None => break,
                }
            }
        } else {
            self.index.scan(None, None, |s| {
                if q.matches_summary(s) {
                    victims.push(Arc::clone(s));
                }
                true
            });
        }
        // One expunge per mailbox.
        let mut groups: std::collections::BTreeMap<(String, String), Vec<u32>> =
            std::collections::BTreeMap::new();
        for s in &victims {
            groups
                .entry((s.user.clone(), s.mailbox.clone()))
                .or_default()
                .push(s.uid);
        }
        let mut n = 0;
        for ((login, mailbox), uids) in groups {
            let Some(user) = self.store.user(&login) else {
                continue;
            };
            n += user.discard(&mailbox, &uids).await?.len();
        }
        for s in &victims {
            self.index.forget(s.id);
        }
        Ok(n)
    }

    /// Releases a stored message to another SMTP server through mailwire's SMTP client: the
    /// octets as stored, to `to` (default: the message's `To` and `Cc` addresses), from
    /// `from` (default: its first `From` address, else the null path). Returns each
    /// recipient's reply; the message stays here.
    pub async fn relay(&self, id: u64, relay: &Relay) -> Result<RelayReport, ApiError> {
        use mailwire_smtp::client::{Client, ClientOptions};
        use mailwire_smtp::proto::{Envelope, ForwardPath, ReversePath};
        let summary = self.summary(id)?;
        let raw = self.raw(id).await?;
        let bad = |e: String| ApiError::Invalid(e);
        let to: Vec<String> = match &relay.to {
            Some(t) => t.clone(),
            None => summary
                .to
                .iter()
                .chain(&summary.cc)
                .map(|a| a.address.clone())
                .collect(),
        };
        if to.is_empty() {
            return Err(bad("no recipients: give \"to\"".into()));
        }
        let to = to
            .iter()
            .map(|a| {
                format!("<{a}>")
                    .parse::<ForwardPath<'static>>()
                    .map_err(|e| bad(format!("to {a:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let from = relay
            .from
            .clone()
            .or_else(|| summary.from.first().map(|a| a.address.clone()))
            .unwrap_or_default();
        let from: ReversePath<'static> = format!("<{from}>")
            .parse()
            .map_err(|e| bad(format!("from {from:?}: {e}")))?;
        let mut options = ClientOptions::from_url(&relay.server)
            .map_err(|e| bad(format!("server {:?}: {e}", relay.server)))?;
        options = match relay.tls.as_deref() {
            None | Some("required") => options,
            Some("opportunistic") => options.tls_policy(mailwire_tls::TlsPolicy::Opportunistic),
            Some("off") => options.tls_policy(mailwire_tls::TlsPolicy::Disabled),
            Some(other) => {
                return Err(bad(format!(
                    "tls {other:?}: required, opportunistic or off"
                )));
            }
        };
        let upstream = |e: mailwire_smtp::client::Error| ApiError::Upstream(e.to_string());
        let mut client = Client::connect_with(options).await.map_err(upstream)?;
        let report = client
            .send(Envelope::new(from, to), raw.to_vec())
            .await
            .map_err(upstream)?;
        let _ = client.quit().await;
        Ok(RelayReport {
            delivered: report.is_delivered_to_all(),
            recipients: report
                .recipients
                .iter()
                .map(|(p, r)| (p.to_string(), r.to_string().trim_end().to_owned()))
                .collect(),
            final_reply: report
                .final_reply
                .as_ref()
                .map(|r| r.to_string().trim_end().to_owned()),
        })
    }

    /// Every user with how many messages it has.
    pub fn users(&self) -> Vec<UserInfo> {
        let mut logins = self.store.logins();
        logins.sort();
        let mut counts: std::collections::HashMap<String, usize> = Default::default();
        self.index.scan(None, None, |s| {
            *counts.entry(s.user.clone()).or_default() += 1;
            true
        });
        logins
            .into_iter()
            .map(|login| UserInfo {
                messages: counts.get(&login).copied().unwrap_or(0),
                addresses: self.store.addresses(&login),
                login,
            })
            .collect()
    }

    /// Adds a user with a password (its INBOX and special-use mailboxes are created) and
    /// extra addresses delivered to it beside `LOGIN@any-domain`.
    pub async fn add_user(
        &self,
        login: &str,
        password: &str,
        addresses: &[String],
    ) -> Result<(), ApiError> {
        for a in addresses {
            if self
                .store
                .resolve_login(a)
                .is_some_and(|l| !l.eq_ignore_ascii_case(login))
                && !self.store.addresses(login).contains(&a.to_lowercase())
            {
                return Err(ApiError::Conflict(format!(
                    "address {a} belongs to another user"
                )));
            }
        }
        match self.store.add_user(login, password).await {
            Ok(_) => {
                for a in addresses {
                    if let Err(e) = self.store.add_address(login, a) {
                        let _ = self.store.remove_user(login).await;
                        return Err(match e {
                            StoreError::InvalidLogin(a) => {
                                ApiError::Invalid(format!("{a:?} is not an address"))
                            }
                            StoreError::UserExists(a) => {
                                ApiError::Conflict(format!("address {a} belongs to another user"))
                            }
                            e => e.into(),
                        });
                    }
                }
                Ok(())
            }
            Err(StoreError::UserExists(l)) => Err(ApiError::Conflict(format!("user {l} exists"))),
            Err(StoreError::InvalidLogin(l)) => {
                Err(ApiError::Conflict(format!("{l:?} is not a valid login")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Removes a user and all its mail.
    pub async fn remove_user(&self, login: &str) -> Result<(), ApiError> {
        match self.store.remove_user(login).await {
            Err(StoreError::NoSuchUser(l)) => Err(ApiError::NotFound(format!("user {l}"))),
            r => Ok(r?),
        }
    }

    /// A user's mailboxes with their counts.
    pub async fn mailboxes(&self, login: &str) -> Result<Vec<MailboxInfo>, ApiError> {
        let user = self
            .store
            .user(login)
            .ok_or_else(|| ApiError::NotFound(format!("user {login}")))?;
        let mut out = Vec::new();
        for e in user.mailboxes().await? {
            if !e.selectable {
                continue;
            }
            let st = user.status(e.name.as_str()).await?;
            out.push(MailboxInfo {
                name: e.name.to_string(),
                special_use: e.special_use.map(|s| s.attribute().to_owned()),
                messages: st.exists,
                unseen: st.unseen,
                size: st.size,
            });
        }
        Ok(out)
    }
}

/// Where [`Api::relay`] sends a message.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relay {
    /// `smtp://HOST:PORT` (STARTTLS) or `smtps://HOST:PORT`.
    pub server: String,
    /// The recipients (default: the message's To and Cc).
    pub to: Option<Vec<String>>,
    /// The sender (default: the message's first From).
    pub from: Option<String>,
    /// STARTTLS policy for `smtp://`: `required` (default), `opportunistic`, `off`.
    pub tls: Option<String>,
}

/// What the other server said to a relayed message.
#[derive(Debug, Clone, Serialize)]
pub struct RelayReport {
    /// Every recipient accepted and the data accepted.
    pub delivered: bool,
    /// `(recipient, reply)` in order.
    pub recipients: Vec<(String, String)>,
    /// The reply to the end of the data, if it was sent.
    pub final_reply: Option<String>,
}

/// A user, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct UserInfo {
    /// The login.
    pub login: String,
    /// Extra addresses delivered to it (beside `LOGIN@any-domain`).
    pub addresses: Vec<String>,
    /// Messages in all its mailboxes.
    pub messages: usize,
}

/// A mailbox, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct MailboxInfo {
    /// The name.
    pub name: String,
    /// Its special use (`\Sent`, …), if any.
    pub special_use: Option<String>,
    /// Messages.
    pub messages: u32,
    /// Messages without `\Seen`.
    pub unseen: u32,
    /// Octets.
    pub size: u64,
}

fn content_type(part: &mail_parser::MessagePart<'_>) -> String {
    use mail_parser::MimeHeaders;
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_lowercase(),
            None => ct.ctype().to_lowercase(),
        },
        None => "text/plain".to_owned(),
    }
}

fn body_contains(raw: &[u8], needle_lower: &str) -> bool {
    let Some(m) = mail_parser::MessageParser::new().parse(raw) else {
        return false;
    };
    m.text_bodies().chain(m.html_bodies()).any(|p| {
        p.text_contents()
            .is_some_and(|t| t.to_lowercase().contains(needle_lower))
    })
}

fn view(summary: MessageSummary, raw: &[u8]) -> MessageView {
    use mail_parser::MimeHeaders;
    let headers = raw_headers(raw);
    let Some(m) = mail_parser::MessageParser::new().parse(raw) else {
        return MessageView {
            summary,
            headers,
            text: None,
            html: None,
            attachments: Vec::new(),
            mime: MimeNode {
                content_type: "text/plain".into(),
                size: raw.len(),
                name: None,
                parts: Vec::new(),
            },
        };
    };
    let texts: Vec<String> = m
        .text_bodies()
        .filter(|p| !p.is_text_html())
        .filter_map(|p| p.text_contents().map(str::to_owned))
        .collect();
    let html = m
        .html_bodies()
        .find(|p| p.is_text_html())
        .and_then(|p| p.text_contents().map(str::to_owned));
    let attachments = m
        .attachments()
        .enumerate()
        .map(|(index, p)| Attachment {
            index,
            name: p.attachment_name().map(str::to_owned),
            content_type: content_type(p),
            size: p.contents().len(),
            content_id: p
                .content_id()
                .map(|c| c.trim_matches(['<', '>']).to_owned()),
        })
        .collect();
    MessageView {
        summary,
        headers,
        text: (!texts.is_empty()).then(|| texts.join("\n")),
        html,
        attachments,
        mime: mime_tree(&m, 0, 0),
    }
}

/// The MIME tree of part `id` (depth-bounded: a hostile nesting stops at 32 levels).
fn mime_tree(m: &mail_parser::Message<'_>, id: u32, depth: usize) -> MimeNode {
    use mail_parser::{MimeHeaders, PartType};
    let Some(part) = m.part(id) else {
        return MimeNode {
            content_type: "text/plain".into(),
            size: 0,
            name: None,
            parts: Vec::new(),
        };
    };
    let mut node = MimeNode {
        content_type: content_type(part),
        size: 0,
        name: part.attachment_name().map(str::to_owned),
        parts: Vec::new(),
    };
    match &part.body {
        PartType::Multipart(children) if depth < 32 => {
            node.parts = children
                .iter()
                .map(|c| mime_tree(m, *c, depth + 1))
                .collect();
        }
        PartType::Message(inner) if depth < 32 => {
            node.parts = vec![mime_tree(inner, 0, depth + 1)];
        }
        PartType::Multipart(_) | PartType::Message(_) => {}
        _ => node.size = part.contents().len(),
    }
    node
}

/// The header fields as sent, unfolded, up to the blank line.
fn raw_headers(raw: &[u8]) -> Vec<(String, String)> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 1))
        .unwrap_or(raw.len());
    let text = String::from_utf8_lossy(&raw[..end]);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    out
}
