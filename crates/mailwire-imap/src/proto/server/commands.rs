//! The commands: what each one checks, asks the store and answers.

use super::*;

impl ServerSession {
    pub(super) fn command(&mut self, cmd: Command, more: bool) {
        let Command { tag, body } = cmd;
        let state = self.state;
        let auth = matches!(state, State::Authenticated | State::Selected);
        let sel = state == State::Selected;
        match body {
            CommandBody::Capability => {
                let caps = self.capabilities();
                self.data(Data::Capability(caps));
                self.finish(tag, "CAPABILITY completed", true);
            }
            CommandBody::Noop => self.finish(tag, "NOOP completed", true),
            CommandBody::Check if sel => self.finish(tag, "CHECK completed", true),
            CommandBody::Logout => {
                self.untagged(UntaggedKind::Bye, None, "Logging out");
                self.ok(&tag, "LOGOUT completed");
                if self.selected.is_some() {
                    self.events.push_back(Event::Request(Request::Unselect));
                }
                self.close();
            }
            CommandBody::Id(_) => {
                let name = IString::new(b"name".to_vec()).ok();
                let value = IString::new(self.config.id_name.clone().into_bytes()).ok();
                let params = match (name, value) {
                    (Some(n), Some(v)) => Some(vec![(n, Some(v))]),
                    _ => None,
                };
                self.data(Data::Id(params));
                self.finish(tag, "ID completed", true);
            }
            CommandBody::StartTls if state == State::NotAuthenticated => {
                if self.tls {
                    return self.bad(Some(&tag), "TLS is already active");
                }
                if !self.config.starttls_available {
                    return self.bad(Some(&tag), "STARTTLS is not available");
                }
                if more {
                    // Commands sent before the handshake must never run after it.
                    self.bye("Commands pipelined after STARTTLS");
                    return;
                }
                self.ok(&tag, "Begin TLS negotiation now");
                self.events.push_back(Event::StartTls);
            }
            CommandBody::Login { username, password } if state == State::NotAuthenticated => {
                if !self.plaintext_allowed() {
                    return self.no(
                        &tag,
                        Some(Code::PrivacyRequired),
                        "LOGIN is disabled before TLS: use STARTTLS",
                    );
                }
                if self.auth_refused {
                    return self.refuse_login(&tag);
                }
                let user = username.to_str_lossy().into_owned();
                let pass = String::from_utf8_lossy(password.expose().as_bytes()).into_owned();
                if self.auth.verify_plain(&user, &pass) {
                    self.logged_in(tag, user);
                } else {
                    self.auth_failed(&tag, "Invalid credentials");
                }
            }
            CommandBody::Authenticate { mechanism, initial }
                if state == State::NotAuthenticated =>
            {
                self.authenticate(tag, mechanism.as_str(), initial);
            }
            CommandBody::Enable(caps) if state == State::Authenticated => {
                let mut enabled = Vec::new();
                for c in caps.iter() {
                    match c {
                        Capability::CondStore => {
                            self.condstore = true;
                            enabled.push(c.clone());
                        }
                        Capability::Imap4Rev2 => {
                            // RFC 9051: UTF-8 mailbox names and quoted strings, ESEARCH for
                            // every SEARCH, no RECENT or UNSEEN at SELECT, an untagged LIST
                            // at SELECT, UID in every unsolicited FETCH.
                            self.rev2 = true;
                            self.utf8 = true;
                            enabled.push(c.clone());
                        }
                        Capability::QResync => {
                            // RFC 7162 §3.2.3: QRESYNC enables CONDSTORE too.
                            self.qresync = true;
                            self.condstore = true;
                            enabled.push(c.clone());
                        }
                        Capability::Utf8Accept => {
                            self.utf8 = true;
                            enabled.push(c.clone());
                        }
                        _ => {}
                    }
                }
                self.data(Data::Enabled(enabled));
                self.finish(tag, "ENABLE completed", true);
            }
            CommandBody::Namespace if auth => {
                let personal = vec![NamespaceDescr {
                    prefix: IString::default(),
                    delimiter: QuotedChar::new(DELIMITER).ok(),
                    extensions: Vec::new(),
                }];
                self.data(Data::Namespace {
                    personal,
                    other: Vec::new(),
                    shared: Vec::new(),
                });
                self.finish(tag, "NAMESPACE completed", true);
            }
            CommandBody::Select { mailbox, params } if auth => {
                self.select(tag, &mailbox, &params, false);
            }
            CommandBody::Examine { mailbox, params } if auth => {
                self.select(tag, &mailbox, &params, true);
            }
            CommandBody::Create {
                mailbox,
                special_use,
            } if auth => {
                let name = self.name(&mailbox);
                let name = name.trim_end_matches(DELIMITER).to_owned();
                if special_use.len() > 1 {
                    return self.no(&tag, Some(Code::UseAttr), "One special use per mailbox");
                }
                let su = special_use.into_iter().next();
                if let Some(a) = &su
                    && !matches!(
                        a,
                        MailboxAttr::Sent
                            | MailboxAttr::Drafts
                            | MailboxAttr::Trash
                            | MailboxAttr::Junk
                            | MailboxAttr::Archive
                    )
                {
                    return self.no(
                        &tag,
                        Some(Code::UseAttr),
                        "That special use is not supported",
                    );
                }
                self.request(
                    Pending::Simple {
                        tag,
                        what: "CREATE",
                    },
                    Request::Create {
                        mailbox: name,
                        special_use: su,
                    },
                );
            }
            CommandBody::Delete(mailbox) if auth => {
                let name = self.name(&mailbox);
                if self.selected.as_ref().is_some_and(|s| s.name == name) {
                    // RFC 9051 §6.3.4 allows it; the session then has nothing selected.
                    self.selected = None;
                    self.state = State::Authenticated;
                    self.events.push_back(Event::Request(Request::Unselect));
                    self.untagged(UntaggedKind::Ok, Some(Code::Closed), "Mailbox closed");
                }
                self.request(
                    Pending::Simple {
                        tag,
                        what: "DELETE",
                    },
                    Request::Delete { mailbox: name },
                );
            }
            CommandBody::Rename { from, to } if auth => {
                let from = self.name(&from);
                let to = self.name(&to);
                self.request(
                    Pending::Simple {
                        tag,
                        what: "RENAME",
                    },
                    Request::Rename { from, to },
                );
            }
            CommandBody::Subscribe(mailbox) if auth => {
                let name = self.name(&mailbox);
                self.request(
                    Pending::Simple {
                        tag,
                        what: "SUBSCRIBE",
                    },
                    Request::Subscribe {
                        mailbox: name,
                        subscribe: true,
                    },
                );
            }
            CommandBody::Unsubscribe(mailbox) if auth => {
                let name = self.name(&mailbox);
                self.request(
                    Pending::Simple {
                        tag,
                        what: "UNSUBSCRIBE",
                    },
                    Request::Subscribe {
                        mailbox: name,
                        subscribe: false,
                    },
                );
            }
            CommandBody::List {
                select,
                reference,
                patterns,
                returns,
            } if auth => {
                let extended = !select.is_empty() || !returns.is_empty() || patterns.len() > 1;
                let mut spec = ListSpec {
                    lsub: false,
                    patterns: patterns
                        .iter()
                        .map(|p| self.pattern(p.as_bytes()))
                        .collect(),
                    reference: self.name(&reference),
                    subscribed_only: false,
                    special_only: false,
                    recursive: false,
                    ret_subscribed: false,
                    ret_children: true,
                    ret_special: true,
                    extended,
                    status: None,
                };
                for o in &select {
                    match o {
                        ListSelectOption::Subscribed => {
                            spec.subscribed_only = true;
                            spec.ret_subscribed = true;
                        }
                        ListSelectOption::SpecialUse => spec.special_only = true,
                        ListSelectOption::RecursiveMatch => spec.recursive = true,
                        ListSelectOption::Remote => {}
                        ListSelectOption::Other(_) => {
                            return self.bad(Some(&tag), "Unknown LIST selection option");
                        }
                    }
                }
                if spec.recursive && !spec.subscribed_only {
                    return self.bad(Some(&tag), "RECURSIVEMATCH needs another selection option");
                }
                for o in &returns {
                    match o {
                        ListReturnOption::Subscribed => spec.ret_subscribed = true,
                        ListReturnOption::Children => spec.ret_children = true,
                        ListReturnOption::SpecialUse => spec.ret_special = true,
                        ListReturnOption::Status(items) => spec.status = Some(items.to_vec()),
                        ListReturnOption::Other(_) => {
                            return self.bad(Some(&tag), "Unsupported LIST return option");
                        }
                    }
                }
                self.request(
                    Pending::List {
                        tag,
                        spec: Box::new(spec),
                    },
                    Request::List,
                );
            }
            CommandBody::Lsub { reference, pattern } if auth => {
                let spec = ListSpec {
                    lsub: true,
                    patterns: vec![self.pattern(pattern.as_bytes())],
                    reference: self.name(&reference),
                    subscribed_only: true,
                    special_only: false,
                    recursive: false,
                    ret_subscribed: false,
                    ret_children: false,
                    ret_special: false,
                    extended: false,
                    status: None,
                };
                self.request(
                    Pending::List {
                        tag,
                        spec: Box::new(spec),
                    },
                    Request::List,
                );
            }
            CommandBody::Status { mailbox, items } if auth => {
                let name = self.name(&mailbox);
                self.request(
                    Pending::Status {
                        tag,
                        mailbox,
                        items: items.to_vec(),
                    },
                    Request::Status { mailbox: name },
                );
            }
            CommandBody::Append { mailbox, messages } if auth => {
                let name = self.name(&mailbox);
                let mut rest: VecDeque<AppendMessage> = messages.into_vec().into();
                let first = rest.pop_front().expect("Vec1 is never empty");
                self.append_next(tag, name, first, rest, Vec::new());
            }
            CommandBody::Idle if auth => {
                self.output.extend_from_slice(b"+ idling\r\n");
                self.phase = Phase::Idle { tag };
                // Report what changed before IDLE at once.
                self.mailbox_changed();
            }
            CommandBody::Close if sel => {
                let read_only = self.selected.as_ref().is_some_and(|s| s.read_only);
                if read_only {
                    self.unselect(tag, "CLOSE completed");
                } else {
                    self.request(
                        Pending::Expunge {
                            tag,
                            silent: true,
                            then_unselect: true,
                        },
                        Request::Expunge { uids: None },
                    );
                }
            }
            CommandBody::Unselect if sel => self.unselect(tag, "UNSELECT completed"),
            CommandBody::Expunge { uids } if sel => {
                if self.selected.as_ref().is_some_and(|s| s.read_only) {
                    return self.no(&tag, Some(Code::ReadOnly), "Mailbox is read-only");
                }
                let uids = match uids {
                    None => None,
                    Some(set) => match self.resolve(&set, true) {
                        Ok(ix) => Some(self.uids_of(&ix)),
                        Err(e) => return self.bad(Some(&tag), e),
                    },
                };
                self.request(
                    Pending::Expunge {
                        tag,
                        silent: false,
                        then_unselect: false,
                    },
                    Request::Expunge { uids },
                );
            }
            CommandBody::Fetch {
                set,
                items,
                modifiers,
                uid,
            } if sel => self.fetch(tag, &set, &items, &modifiers, uid),
            CommandBody::Store {
                set,
                kind,
                silent,
                flags,
                unchanged_since,
                uid,
            } if sel => self.store(tag, &set, kind, silent, flags, unchanged_since, uid),
            CommandBody::Copy { set, mailbox, uid } if sel => {
                self.copy(tag, &set, &mailbox, uid, false);
            }
            CommandBody::Move { set, mailbox, uid } if sel => {
                self.copy(tag, &set, &mailbox, uid, true);
            }
            CommandBody::Search {
                returns,
                charset,
                criteria,
                uid,
            } if sel => {
                if let Some(cs) = &charset
                    && !self.charset_ok(&tag, cs)
                {
                    return;
                }
                self.search(tag, and(criteria), returns, uid, None);
            }
            CommandBody::Sort {
                criteria,
                charset,
                search,
                uid,
            } if sel => {
                if self.charset_ok(&tag, &charset) {
                    let order = Order::Sort(criteria.to_vec());
                    self.search(tag, and(search), None, uid, Some(order));
                }
            }
            CommandBody::Thread {
                algorithm,
                charset,
                search,
                uid,
            } if sel => {
                if let ThreadAlgorithm::Other(_) = algorithm {
                    return self.bad(Some(&tag), "Unknown THREAD algorithm");
                }
                if self.charset_ok(&tag, &charset) {
                    let order = Order::Thread(algorithm);
                    self.search(tag, and(search), None, uid, Some(order));
                }
            }
            CommandBody::GetQuotaRoot(mailbox) if auth => {
                let name = self.name(&mailbox);
                self.request(
                    Pending::Quota {
                        tag,
                        mailbox: Some(mailbox),
                    },
                    Request::Quota {
                        mailbox: Some(name),
                    },
                );
            }
            CommandBody::GetQuota(root) if auth => {
                // One quota root per user: "" (RFC 9208 §3.2).
                if !root.as_bytes().is_empty() {
                    return self.no(&tag, Some(Code::NonExistent), "No such quota root");
                }
                self.request(
                    Pending::Quota { tag, mailbox: None },
                    Request::Quota { mailbox: None },
                );
            }
            CommandBody::SetQuota { .. } if auth => {
                // §4.1.3: changing limits is for the administrator (`--config`).
                self.no(
                    &tag,
                    Some(Code::NoPerm),
                    "Quotas are set by the administrator",
                );
            }
            CommandBody::Compress(alg) if auth => {
                // RFC 4978 §3: BAD for an unknown algorithm or when already on.
                if !alg.eq_ignore_case("DEFLATE") {
                    return self.bad(Some(&tag), "Only DEFLATE is supported");
                }
                if self.compressed {
                    return self.bad(Some(&tag), "DEFLATE is active already");
                }
                self.compressed = true;
                self.ok(&tag, "DEFLATE active");
                self.events.push_back(Event::Compress);
            }
            body @ CommandBody::Experimental { .. } => {
                let t = format!("{} is not supported", body.name());
                self.bad(Some(&tag), &t);
            }
            body => {
                let t = match state {
                    State::NotAuthenticated => "not allowed before login",
                    State::Authenticated => "needs a selected mailbox",
                    State::Selected if matches!(body, CommandBody::StartTls) => {
                        "not allowed after login"
                    }
                    _ => "not allowed now",
                };
                let t = format!("{} {t}", body.name());
                // RFC 5530: a command the client should know it cannot send now.
                self.bad_code(Some(&tag), Some(Code::ClientBug), &t);
            }
        }
    }

    /// SEARCH, SORT and THREAD take UTF-8 and US-ASCII; otherwise `NO [BADCHARSET]`.
    fn charset_ok(&mut self, tag: &Tag, cs: &crate::proto::AString) -> bool {
        let c = cs.to_str_lossy();
        if c.eq_ignore_ascii_case("UTF-8") || c.eq_ignore_ascii_case("US-ASCII") {
            return true;
        }
        let known = ["UTF-8", "US-ASCII"]
            .iter()
            .filter_map(|s| crate::proto::AString::new(*s).ok())
            .collect();
        self.no(tag, Some(Code::BadCharset(known)), "Unsupported charset");
        false
    }

    /// A mailbox name in UTF-8 (modified UTF-7 decoded unless UTF8=ACCEPT is on).
    pub(super) fn name(&self, m: &Mailbox) -> String {
        match m {
            Mailbox::Inbox => "INBOX".to_owned(),
            other if self.utf8 => String::from_utf8_lossy(other.as_bytes()).into_owned(),
            other => other.to_utf8().into_owned(),
        }
    }

    fn pattern(&self, p: &[u8]) -> String {
        if self.utf8 {
            String::from_utf8_lossy(p).into_owned()
        } else {
            crate::proto::decode_utf7(p).unwrap_or_else(|| String::from_utf8_lossy(p).into_owned())
        }
    }

    fn wire_name(&self, name: &str) -> Option<Mailbox> {
        if name.eq_ignore_ascii_case("INBOX") {
            return Some(Mailbox::Inbox);
        }
        Mailbox::from_utf8(name, self.utf8).ok()
    }

    // ---- authentication

    fn logged_in(&mut self, tag: Tag, user: String) {
        self.request(
            Pending::Login { tag },
            Request::Login { user: user.clone() },
        );
        self.user = Some(user);
    }

    /// A login from an address that failed too often: refused unchecked (RFC 5530
    /// `UNAVAILABLE`: try again later).
    fn refuse_login(&mut self, tag: &Tag) {
        self.no(
            tag,
            Some(Code::Unavailable),
            "Too many failed logins from your address: try again later",
        );
    }

    fn auth_failed(&mut self, tag: &Tag, t: &str) {
        self.auth_failures += 1;
        self.new_auth_failures += 1;
        if !self.config.auth_failure_delay.is_zero() {
            self.events
                .push_back(Event::Pause(self.config.auth_failure_delay));
        }
        self.no(tag, Some(Code::AuthenticationFailed), t);
        if self.auth_failures >= self.config.max_auth_failures {
            self.bye("Too many failed logins");
        }
    }

    fn authenticate(&mut self, tag: Tag, mechanism: &str, initial: Option<InitialResponse>) {
        if self.auth_refused {
            return self.refuse_login(&tag);
        }
        let Some(mech) = Mechanism::from_name(mechanism) else {
            return self.no(
                &tag,
                Some(Code::CanNot),
                "Unsupported authentication mechanism",
            );
        };
        if !self.mechanisms().contains(&mech) {
            if mech.needs_confidentiality() && !self.plaintext_allowed() {
                return self.no(
                    &tag,
                    Some(Code::PrivacyRequired),
                    "This mechanism needs TLS: use STARTTLS",
                );
            }
            return self.no(
                &tag,
                Some(Code::CanNot),
                "Authentication mechanism not available",
            );
        }
        let params = ServerParams::new(self.config.hostname.clone())
            .with_tls(self.tls)
            .with_insecure_auth(self.config.allow_insecure_auth);
        let mut sasl = match mailwire_sasl::ServerSession::new(mech, Arc::clone(&self.auth), params)
        {
            Ok(s) => Box::new(s),
            Err(_) => {
                return self.no(
                    &tag,
                    Some(Code::CanNot),
                    "Authentication mechanism not available",
                );
            }
        };
        let first: Option<Vec<u8>> = match initial {
            None => None,
            Some(InitialResponse::Empty) => Some(Vec::new()),
            Some(InitialResponse::Data(d)) => Some(d.expose().clone()),
        };
        let result = sasl.step(first.as_deref());
        self.phase = Phase::Auth {
            tag: tag.clone(),
            sasl,
        };
        self.auth_step(result);
    }

    pub(super) fn auth_data(&mut self, m: &[u8]) {
        let Phase::Auth { tag, sasl } = &mut self.phase else {
            return;
        };
        let tag = tag.clone();
        let result = match decode_authenticate_data(m) {
            Ok((AuthenticateData::Cancel, _)) => {
                self.phase = Phase::Command;
                return self.bad(Some(&tag), "Authentication cancelled");
            }
            Ok((AuthenticateData::Continue(d), _)) => sasl.step(Some(d.expose())),
            Err(_) => {
                self.phase = Phase::Command;
                return self.bad(Some(&tag), "Malformed authentication response");
            }
        };
        self.auth_step(result);
    }

    fn auth_step(&mut self, result: Result<ServerStep, mailwire_sasl::Error>) {
        let Phase::Auth { tag, .. } = &self.phase else {
            return;
        };
        let tag = tag.clone();
        match result {
            Ok(ServerStep::Challenge(c)) => {
                use base64::Engine;
                self.output.extend_from_slice(b"+ ");
                self.output.extend_from_slice(
                    base64::engine::general_purpose::STANDARD
                        .encode(&c)
                        .as_bytes(),
                );
                self.output.extend_from_slice(b"\r\n");
            }
            Ok(ServerStep::Success { authenticated, .. }) => {
                self.phase = Phase::Command;
                self.logged_in(tag, authenticated.authzid);
            }
            Err(mailwire_sasl::Error::Cancelled) => {
                self.phase = Phase::Command;
                self.bad(Some(&tag), "Authentication cancelled");
            }
            Err(mailwire_sasl::Error::Base64 | mailwire_sasl::Error::Malformed(_)) => {
                self.phase = Phase::Command;
                self.bad(Some(&tag), "Malformed authentication response");
                self.auth_failures += 1;
            }
            Err(_) => {
                self.phase = Phase::Command;
                self.auth_failed(&tag, "Authentication failed");
            }
        }
    }

    // ---- completion and mailbox synchronisation

    /// Completes a command with OK, bringing the selected mailbox in step first.
    pub(super) fn finish(&mut self, tag: Tag, t: &str, allow_expunge: bool) {
        self.complete(Done {
            tag,
            kind: Completion::Ok,
            code: None,
            text: t.to_owned(),
            allow_expunge,
        });
    }

    pub(super) fn complete(&mut self, done: Done) {
        if self.selected.is_some() && !self.closed {
            self.stale = false;
            self.request(Pending::Poll { done: Some(done) }, Request::Poll);
        } else {
            self.write_done(done);
        }
    }

    fn write_done(&mut self, done: Done) {
        if done.allow_expunge {
            self.report_expunges();
        }
        self.tagged(&done.tag, done.kind, done.code, &done.text);
        if self.pending_shutdown && self.pending.is_none() {
            self.bye("Server shutting down");
        }
    }

    /// Sends EXPUNGE (or nothing more) for messages the store no longer has.
    fn report_expunges(&mut self) {
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        if !sel.pending_expunge {
            return;
        }
        sel.pending_expunge = false;
        let mut lines = Vec::new();
        let mut gone = Vec::new();
        let mut kept = Vec::with_capacity(sel.msgs.len());
        for m in sel.msgs.drain(..) {
            if m.expunged {
                // Each EXPUNGE renumbers the rest: the number is where it sits now.
                lines.push(kept.len() as u32 + 1);
                gone.push(m.info.uid);
            } else {
                kept.push(m);
            }
        }
        sel.msgs = kept;
        if self.qresync {
            // RFC 7162 §3.2.10.2: one VANISHED instead of EXPUNGEs.
            if let Some(uids) = uid_set(&gone) {
                self.data(Data::Vanished {
                    earlier: false,
                    uids,
                });
            }
            return;
        }
        for n in lines {
            if let Some(n) = NonZeroU32::new(n) {
                self.data(Data::Expunge(n));
            }
        }
    }

    /// Applies a snapshot of the selected mailbox: new messages (EXISTS), flag changes (FETCH
    /// FLAGS), expunges (held until they may be sent). Before a command (`expunge` false) a
    /// message that is gone is only noted: the command still sees it as it was, and the
    /// completion's poll marks it expunged.
    fn apply_snapshot(&mut self, messages: Vec<MessageInfo>, flags: Vec<Flag>, expunge: bool) {
        let condstore = self.condstore;
        let rev2 = self.rev2;
        let opts = self.enc();
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        let mut out = Vec::new();
        if flags != sel.flags {
            sel.flags = flags.clone();
            out.extend_from_slice(Response::Data(Data::Flags(flags)).encode(&opts).as_bytes());
        }
        let mut snap = messages.into_iter().peekable();
        let mut i = 0;
        while i < sel.msgs.len() {
            let m = &mut sel.msgs[i];
            if m.expunged {
                i += 1;
                continue;
            }
            // Skip store messages below this one (cannot happen: UIDs only ascend).
            while snap.peek().is_some_and(|s| s.uid < m.info.uid) {
                snap.next();
            }
            match snap.peek() {
                Some(s) if s.uid == m.info.uid => {
                    let s = snap.next().expect("peeked");
                    if s.flags != m.info.flags || s.modseq != m.info.modseq {
                        let changed = s.flags != m.info.flags;
                        m.info.flags = s.flags;
                        m.info.modseq = s.modseq;
                        sel.highest_modseq = sel.highest_modseq.max(m.info.modseq);
                        if changed || condstore {
                            // RFC 7162 §3.2.4: UID and MODSEQ in every unsolicited FETCH;
                            // RFC 9051 (Appendix E.21): UID in every one.
                            let items: &[FetchItem] = if condstore {
                                &[FetchItem::Uid, FetchItem::Flags, FetchItem::ModSeq]
                            } else if rev2 {
                                &[FetchItem::Uid, FetchItem::Flags]
                            } else {
                                &[FetchItem::Flags]
                            };
                            fetch::write_flags(&mut out, i as u32 + 1, &m.info, items, &opts);
                        }
                    }
                }
                _ if expunge => {
                    m.expunged = true;
                    sel.pending_expunge = true;
                }
                _ => sel.gone.push(m.info.uid),
            }
            i += 1;
        }
        let before = sel.msgs.len();
        for s in snap {
            if s.uid > sel.max_uid() {
                sel.highest_modseq = sel.highest_modseq.max(s.modseq);
                sel.msgs.push(Msg {
                    info: s,
                    expunged: false,
                });
            }
        }
        if sel.msgs.len() != before {
            let n = sel.msgs.len() as u32;
            out.extend_from_slice(Response::Data(Data::Exists(n)).encode(&opts).as_bytes());
        }
        self.output.extend_from_slice(&out);
    }

    /// Marks expunged what a poll before the command found gone.
    fn mark_gone(&mut self) {
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        for uid in std::mem::take(&mut sel.gone) {
            if let Some(i) = sel.index_of_uid(uid)
                && !sel.msgs[i].expunged
            {
                sel.msgs[i].expunged = true;
                sel.pending_expunge = true;
            }
        }
    }

    /// Answers the outstanding request.
    pub fn answer(&mut self, result: Result<Answer, Failure>) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        match (pending, result) {
            (Pending::Poll { done }, Ok(a)) => {
                // The poll before a command (not during IDLE, not at a completion).
                let deferred = if done.is_none() {
                    self.deferred.take()
                } else {
                    None
                };
                let early = deferred.is_some();
                match a {
                    Answer::Snapshot { messages, flags } => {
                        if !early && let Some(sel) = self.selected.as_mut() {
                            sel.gone.clear();
                        }
                        self.apply_snapshot(messages, flags, !early);
                    }
                    _ if !early => self.mark_gone(),
                    _ => {}
                }
                if let Some((m, more)) = deferred {
                    self.message(&m, more);
                }
                match done {
                    Some(d) => self.write_done(d),
                    None if self.is_idle() => self.report_expunges(),
                    None => {}
                }
            }
            (Pending::Poll { done }, Err(_)) => {
                if let Some(d) = done {
                    self.write_done(d);
                } else if let Some((m, more)) = self.deferred.take() {
                    self.message(&m, more);
                }
            }
            (Pending::Login { tag }, Ok(_)) => {
                self.state = State::Authenticated;
                let caps = self.capabilities();
                self.tagged(
                    &tag,
                    Completion::Ok,
                    Some(Code::Capability(caps)),
                    "Logged in",
                );
            }
            (Pending::Login { tag }, Err(f)) => {
                self.user = None;
                let code = match f.kind {
                    FailureKind::Limit => Code::Limit,
                    FailureKind::AuthenticationFailed => Code::AuthenticationFailed,
                    _ => Code::Unavailable,
                };
                self.no(&tag, Some(code), &f.text);
            }
            (Pending::Simple { tag, what }, Ok(_)) => {
                self.finish(tag, &format!("{what} completed"), true);
            }
            (Pending::Simple { tag, .. }, Err(f)) => self.fail(tag, &f, false),
            (Pending::List { tag, spec }, Ok(Answer::Mailboxes(list))) => {
                let out = self.list_answer(&spec, list);
                match spec.status {
                    Some(items) => self.list_status_next(tag, items, out.into()),
                    None => {
                        for o in out {
                            self.data(o.data);
                        }
                        let what = if spec.lsub { "LSUB" } else { "LIST" };
                        self.finish(tag, &format!("{what} completed"), true);
                    }
                }
            }
            (
                Pending::ListStatus {
                    tag,
                    items,
                    rest,
                    mailbox,
                },
                r,
            ) => {
                // A mailbox gone between LIST and STATUS gets no STATUS line.
                if let Ok(Answer::Status(st)) = r {
                    let items = self.status_values(&items, &st);
                    self.data(Data::Status { mailbox, items });
                }
                self.list_status_next(tag, items, rest);
            }
            (Pending::Quota { tag, mailbox }, Ok(Answer::Quota { storage, messages })) => {
                let root = crate::proto::AString::default();
                let limited = storage.is_some() || messages.is_some();
                if let Some(mailbox) = mailbox {
                    let roots = if limited {
                        vec![root.clone()]
                    } else {
                        Vec::new()
                    };
                    self.data(Data::QuotaRoot { mailbox, roots });
                } else if !limited {
                    return self.no(&tag, Some(Code::NonExistent), "No quota is set");
                }
                if limited {
                    let mut resources = Vec::new();
                    // STORAGE counts units of 1024 octets (RFC 9208 §5.1).
                    let kib = storage.map(|(u, l)| (u.div_ceil(1024), l / 1024));
                    for (name, v) in [("STORAGE", kib), ("MESSAGE", messages)] {
                        if let (Some((usage, limit)), Ok(name)) = (v, Atom::new(name)) {
                            resources.push(QuotaResource { name, usage, limit });
                        }
                    }
                    self.data(Data::Quota { root, resources });
                }
                self.finish(tag, "GETQUOTA completed", true);
            }
            (Pending::Quota { tag, .. }, Err(f)) => self.fail(tag, &f, false),
            (
                Pending::SelectList {
                    name,
                    qresync,
                    done,
                },
                r,
            ) => {
                if let Ok(Answer::Mailboxes(list)) = r {
                    self.select_list(&name, &list);
                }
                self.select_changes(qresync, done);
            }
            (
                Pending::Status {
                    tag,
                    mailbox,
                    items,
                },
                Ok(Answer::Status(st)),
            ) => {
                let values = self.status_values(&items, &st);
                self.data(Data::Status {
                    mailbox,
                    items: values,
                });
                self.finish(tag, "STATUS completed", true);
            }
            (
                Pending::Select {
                    tag,
                    name,
                    read_only,
                    condstore,
                    qresync,
                },
                Ok(Answer::Selected { state, messages }),
            ) => self.selected_answer(tag, name, read_only, condstore, qresync, state, messages),
            (Pending::QResyncSelect { params, done }, Ok(Answer::Vanished { uids, exact })) => {
                self.qresync_changes(&params, uids, exact);
                self.write_done(done);
            }
            (Pending::QResyncSelect { done, .. }, _) => {
                // Without the expunge history the client still gets a selected mailbox; it
                // finds out what vanished with UID SEARCH or FETCH.
                self.write_done(done);
            }
            (Pending::FetchVanished { job, set }, Ok(Answer::Vanished { uids, .. })) => {
                self.fetch_vanished(&set, uids);
                self.fetch_start(job);
            }
            (Pending::FetchVanished { job, .. }, Err(f)) => self.fail(job.tag, &f, false),
            (Pending::Select { tag, .. }, Err(f)) => {
                self.state = State::Authenticated;
                self.fail(tag, &f, false);
            }
            (
                Pending::Append {
                    tag,
                    mailbox,
                    mut rest,
                    mut uids,
                },
                Ok(Answer::Appended { uidvalidity, uid }),
            ) => {
                uids.push(uid);
                match rest.pop_front() {
                    Some(next) => self.append_next(tag, mailbox, next, rest, uids),
                    None => {
                        let set = uid_set(&uids);
                        let code = NonZeroU32::new(uidvalidity).and_then(|v| {
                            set.map(|uids| Code::AppendUid {
                                uid_validity: v,
                                uids,
                            })
                        });
                        self.complete(Done {
                            tag,
                            kind: Completion::Ok,
                            code,
                            text: "APPEND completed".to_owned(),
                            allow_expunge: true,
                        });
                    }
                }
            }
            (Pending::Append { tag, uids, .. }, Err(f)) if uids.is_empty() => {
                self.fail(tag, &f, true);
            }
            (
                Pending::Append {
                    tag, mailbox, uids, ..
                },
                Err(failure),
            ) => {
                // RFC 3502: none of the messages stays when one fails.
                self.request(
                    Pending::AppendUndo { tag, failure },
                    Request::Discard { mailbox, uids },
                );
            }
            (Pending::AppendUndo { tag, failure }, _) => self.fail(tag, &failure, true),
            (Pending::Fetch(job), Ok(Answer::Messages(list))) => self.fetch_answer(job, list),
            (Pending::Fetch(job), Err(f)) => self.fail(job.tag, &f, false),
            (Pending::Store(job), Ok(Answer::Stored { updated, modified })) => {
                self.store_answer(*job, updated, modified);
            }
            (Pending::Store(job), Err(f)) => self.fail(job.tag, &f, false),
            (Pending::Copy { tag, r#move, uid }, Ok(Answer::Copied { uidvalidity, uids })) => {
                let src: Vec<u32> = uids.iter().map(|p| p.0).collect();
                let dst: Vec<u32> = uids.iter().map(|p| p.1).collect();
                let code = match (NonZeroU32::new(uidvalidity), uid_set(&src), uid_set(&dst)) {
                    (Some(v), Some(s), Some(d)) => Some(Code::CopyUid {
                        uid_validity: v,
                        source: s,
                        destination: d,
                    }),
                    _ => None,
                };
                if r#move {
                    // RFC 6851 §4.3: COPYUID in an untagged OK, then the expunges.
                    if let Some(c) = code {
                        self.untagged(UntaggedKind::Ok, Some(c), "Moved UIDs");
                    }
                    self.mark_expunged(&src);
                    self.complete(Done {
                        tag,
                        kind: Completion::Ok,
                        code: None,
                        text: "MOVE completed".to_owned(),
                        allow_expunge: true,
                    });
                } else {
                    self.complete(Done {
                        tag,
                        kind: Completion::Ok,
                        code,
                        text: "COPY completed".to_owned(),
                        allow_expunge: uid,
                    });
                }
            }
            (Pending::Copy { tag, .. }, Err(f)) => self.fail(tag, &f, true),
            (
                Pending::Expunge {
                    tag,
                    silent,
                    then_unselect,
                },
                Ok(Answer::Expunged(uids)),
            ) => {
                if then_unselect {
                    let _ = silent;
                    self.unselect(tag, "CLOSE completed");
                } else {
                    self.mark_expunged(&uids);
                    self.finish(tag, "EXPUNGE completed", true);
                }
            }
            (Pending::Expunge { tag, .. }, Err(f)) => self.fail(tag, &f, false),
            (Pending::Search(job), Ok(Answer::Messages(list))) => self.search_answer(job, list),
            (Pending::Search(job), Err(f)) => self.fail(job.tag, &f, false),
            (Pending::SortHeaders(job), Ok(Answer::Messages(list))) => self.sort_answer(job, list),
            (Pending::SortHeaders(job), Err(f)) => self.fail(job.tag, &f, false),
            (Pending::Unselect { done }, _) => self.write_done(done),
            (p, Ok(a)) => {
                // An answer that does not fit its request: a bug in the store adapter.
                let tag = match p {
                    Pending::Login { tag }
                    | Pending::Simple { tag, .. }
                    | Pending::List { tag, .. }
                    | Pending::ListStatus { tag, .. }
                    | Pending::Quota { tag, .. }
                    | Pending::AppendUndo { tag, .. }
                    | Pending::Status { tag, .. }
                    | Pending::Select { tag, .. }
                    | Pending::Append { tag, .. }
                    | Pending::Copy { tag, .. }
                    | Pending::Expunge { tag, .. } => tag,
                    Pending::Fetch(j) | Pending::FetchVanished { job: j, .. } => j.tag,
                    Pending::QResyncSelect { done, .. } | Pending::SelectList { done, .. } => {
                        done.tag
                    }
                    Pending::Store(j) => j.tag,
                    Pending::Search(j) | Pending::SortHeaders(j) => j.tag,
                    Pending::Poll { .. } | Pending::Unselect { .. } => return,
                };
                let t = format!("Internal error: unexpected answer {a:?}");
                self.no(
                    &tag,
                    Some(Code::ServerBug),
                    &t.chars().take(200).collect::<String>(),
                );
            }
            (p, Err(f)) => {
                let tag = match p {
                    Pending::List { tag, .. } | Pending::Status { tag, .. } => tag,
                    _ => return,
                };
                self.fail(tag, &f, false);
            }
        }
        if self.pending_shutdown && self.pending.is_none() && !self.closed {
            self.bye("Server shutting down");
        }
    }

    fn status_values(&self, items: &[StatusItem], st: &MailboxState) -> Vec<StatusValue> {
        items
            .iter()
            .map(|i| {
                let n = match i {
                    StatusItem::Messages => u64::from(st.exists),
                    StatusItem::Recent => 0,
                    StatusItem::UidNext => u64::from(st.uidnext),
                    StatusItem::UidValidity => u64::from(st.uidvalidity),
                    StatusItem::Unseen => u64::from(st.unseen),
                    StatusItem::Deleted => u64::from(st.deleted),
                    StatusItem::Size => st.size,
                    StatusItem::HighestModSeq => st.highest_modseq,
                    StatusItem::AppendLimit => self.config.max_literal_len,
                    StatusItem::MailboxId | StatusItem::DeletedStorage => 0,
                };
                StatusValue::Number(*i, n)
            })
            .collect()
    }

    /// Sends LIST lines up to the next one whose STATUS must follow, and asks for it.
    fn list_status_next(&mut self, tag: Tag, items: Vec<StatusItem>, mut rest: VecDeque<ListOut>) {
        while let Some(o) = rest.pop_front() {
            self.data(o.data);
            if let Some((mailbox, name)) = o.status {
                return self.request(
                    Pending::ListStatus {
                        tag,
                        items,
                        rest,
                        mailbox,
                    },
                    Request::Status { mailbox: name },
                );
            }
        }
        self.finish(tag, "LIST completed", true);
    }

    /// A store failure as `NO` with the code a client acts on.
    fn fail(&mut self, tag: Tag, f: &Failure, try_create: bool) {
        let code = match f.kind {
            FailureKind::NoSuchMailbox if try_create => Code::TryCreate,
            FailureKind::NoSuchMailbox => Code::NonExistent,
            FailureKind::AlreadyExists => Code::AlreadyExists,
            FailureKind::NotAllowed | FailureKind::InvalidName => Code::CanNot,
            FailureKind::TooBig => Code::TooBig,
            FailureKind::OverQuota => Code::OverQuota,
            FailureKind::InUse => Code::InUse,
            FailureKind::Unavailable => Code::Unavailable,
            FailureKind::Limit => Code::Limit,
            FailureKind::AuthenticationFailed => Code::AuthenticationFailed,
        };
        let t = f.text.clone();
        self.complete(Done {
            tag,
            kind: Completion::No,
            code: Some(code),
            text: t,
            allow_expunge: false,
        });
    }

    fn mark_expunged(&mut self, uids: &[u32]) {
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        for uid in uids {
            if let Some(i) = sel.index_of_uid(*uid) {
                sel.msgs[i].expunged = true;
                sel.pending_expunge = true;
            }
        }
    }

    // ---- SELECT, CLOSE, UNSELECT

    fn select(&mut self, tag: Tag, mailbox: &Mailbox, params: &[SelectParam], read_only: bool) {
        let mut condstore = false;
        let mut qresync = None;
        for p in params {
            match p {
                SelectParam::CondStore => condstore = true,
                SelectParam::QResync { .. } if !self.qresync => {
                    // RFC 7162 §3.2.5: BAD without ENABLE QRESYNC.
                    return self.bad(Some(&tag), "QRESYNC is not enabled");
                }
                SelectParam::QResync {
                    uid_validity,
                    mod_seq,
                    known_uids,
                    seq_match,
                } => {
                    if matches!(known_uids, Some(SequenceSet::Saved)) {
                        return self.bad(Some(&tag), "$ is not a set of known UIDs");
                    }
                    if let Some((a, b)) = seq_match
                        && (matches!(a, SequenceSet::Saved) || matches!(b, SequenceSet::Saved))
                    {
                        return self.bad(Some(&tag), "$ is not valid in sequence match data");
                    }
                    qresync = Some(Box::new(QResync {
                        uidvalidity: uid_validity.get(),
                        modseq: *mod_seq,
                        known_uids: known_uids.clone(),
                        seq_match: seq_match.clone(),
                    }));
                }
            }
        }
        if self.selected.take().is_some() {
            // RFC 7162 §3.2.11 / RFC 9051 §6.3.2: the old mailbox is closed first.
            self.untagged(
                UntaggedKind::Ok,
                Some(Code::Closed),
                "Previous mailbox closed",
            );
        }
        self.state = State::Authenticated;
        let name = self.name(mailbox);
        self.request(
            Pending::Select {
                tag,
                name: name.clone(),
                read_only,
                condstore,
                qresync,
            },
            Request::Select {
                mailbox: name,
                read_only,
            },
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn selected_answer(
        &mut self,
        tag: Tag,
        name: String,
        read_only: bool,
        condstore: bool,
        qresync: Option<Box<QResync>>,
        st: MailboxState,
        messages: Vec<MessageInfo>,
    ) {
        if condstore {
            self.condstore = true;
        }
        let rev2 = self.rev2;
        let exists = messages.len() as u32;
        let first_unseen = messages
            .iter()
            .position(|m| !m.flags.contains(&Flag::Seen))
            .map(|i| i as u32 + 1);
        self.data(Data::Flags(st.flags.clone()));
        self.data(Data::Exists(exists));
        // RFC 9051 §6.3.2 drops RECENT and UNSEEN; IMAP4rev1 clients expect them.
        if !rev2 {
            self.data(Data::Recent(0));
            if let Some(n) = first_unseen.and_then(NonZeroU32::new) {
                self.untagged(UntaggedKind::Ok, Some(Code::Unseen(n)), "First unseen");
            }
        }
        if let Some(v) = NonZeroU32::new(st.uidvalidity) {
            self.untagged(UntaggedKind::Ok, Some(Code::UidValidity(v)), "UIDs valid");
        }
        if let Some(n) = NonZeroU32::new(st.uidnext) {
            self.untagged(
                UntaggedKind::Ok,
                Some(Code::UidNext(n)),
                "Predicted next UID",
            );
        }
        let perm = if read_only {
            Vec::new()
        } else {
            let mut p: Vec<FlagPerm> = st.flags.iter().cloned().map(FlagPerm::Flag).collect();
            p.push(FlagPerm::Asterisk);
            p
        };
        self.untagged(
            UntaggedKind::Ok,
            Some(Code::PermanentFlags(perm)),
            "Limited",
        );
        self.untagged(
            UntaggedKind::Ok,
            Some(Code::HighestModSeq(st.highest_modseq)),
            "Highest",
        );
        self.selected = Some(Selected {
            name,
            read_only,
            msgs: messages
                .into_iter()
                .map(|info| Msg {
                    info,
                    expunged: false,
                })
                .collect(),
            flags: st.flags,
            highest_modseq: st.highest_modseq,
            pending_expunge: false,
            gone: Vec::new(),
        });
        self.state = State::Selected;
        let (code, t) = if read_only {
            (Code::ReadOnly, "EXAMINE completed")
        } else {
            (Code::ReadWrite, "SELECT completed")
        };
        let done = Done {
            tag,
            kind: Completion::Ok,
            code: Some(code),
            text: t.to_owned(),
            allow_expunge: false,
        };
        // RFC 7162 §3.2.5: a different UIDVALIDITY means "resynchronise fully".
        let qresync = qresync.filter(|q| q.uidvalidity == st.uidvalidity);
        if rev2 {
            let name = self
                .selected
                .as_ref()
                .map(|s| s.name.clone())
                .unwrap_or_default();
            return self.request(
                Pending::SelectList {
                    name,
                    qresync,
                    done,
                },
                Request::List,
            );
        }
        self.select_changes(qresync, done);
    }

    /// The QRESYNC part of SELECT, then its completion.
    fn select_changes(&mut self, qresync: Option<Box<QResync>>, done: Done) {
        match qresync {
            Some(params) => {
                let since = params.modseq;
                self.request(
                    Pending::QResyncSelect { params, done },
                    Request::Vanished { since },
                );
            }
            None => self.write_done(done),
        }
    }

    /// RFC 9051 §6.3.2: `* LIST (attributes) "/" name` of the mailbox just selected.
    fn select_list(&mut self, name: &str, list: &[MailboxEntry]) {
        let Some(e) = list.iter().find(|e| e.name == name) else {
            return;
        };
        let Some(mailbox) = self.wire_name(name) else {
            return;
        };
        let mut attributes = vec![if e.has_children {
            MailboxAttr::HasChildren
        } else {
            MailboxAttr::HasNoChildren
        }];
        if e.subscribed {
            attributes.push(MailboxAttr::Subscribed);
        }
        attributes.extend(e.special_use.clone());
        self.data(Data::List(ListData {
            attributes,
            delimiter: QuotedChar::new(DELIMITER).ok(),
            mailbox,
            extended: Vec::new(),
        }));
    }

    /// SELECT (QRESYNC …), RFC 7162 §3.2.5.1–2: `VANISHED (EARLIER)` for the known UIDs
    /// expunged since the client's modseq, then FETCH (UID FLAGS MODSEQ) for those changed.
    fn qresync_changes(
        &mut self,
        params: &QResync,
        vanished: Vec<std::ops::RangeInclusive<u32>>,
        exact: bool,
    ) {
        let opts = self.enc();
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        let top = sel.max_uid().max(1);
        let known = match &params.known_uids {
            Some(set) => ranges::of_set(set, u32::MAX),
            None => vec![(1, u32::MAX)],
        };
        let mut gone = ranges::intersect(&ranges::normalise(vanished), &known);
        if !exact && let Some((seqs, uids)) = &params.seq_match {
            // §3.2.5.2: a pair that still matches shows the client knows every expunge up
            // to that UID.
            let seqs = ranges::expand(&ranges::of_set(seqs, sel.msgs.len() as u32), 100_000);
            let uids = ranges::expand(&ranges::of_set(uids, top), 100_000);
            let mut floor = 0;
            for (seq, uid) in seqs.iter().zip(uids.iter()) {
                let at = (*seq as usize).checked_sub(1).and_then(|i| sel.msgs.get(i));
                if at.is_some_and(|m| m.info.uid == *uid) {
                    floor = floor.max(*uid);
                }
            }
            if floor > 0 {
                gone = ranges::intersect(&gone, &[(floor.saturating_add(1), u32::MAX)]);
            }
        }
        // A UID still in the sequence map was expunged after SELECT: it is reported later,
        // as VANISHED without EARLIER.
        let present: Vec<u32> = sel.msgs.iter().map(|m| m.info.uid).collect();
        let gone = ranges::remove_points(&gone, &present);
        let mut out = Vec::new();
        if let Some(set) = ranges::to_set(&gone) {
            let r = Response::Data(Data::Vanished {
                earlier: true,
                uids: set,
            });
            out.extend_from_slice(r.encode(&opts).as_bytes());
        }
        let items = [FetchItem::Uid, FetchItem::Flags, FetchItem::ModSeq];
        for (i, m) in sel.msgs.iter().enumerate() {
            if m.info.modseq > params.modseq && ranges::contains(&known, m.info.uid) {
                fetch::write_flags(&mut out, i as u32 + 1, &m.info, &items, &opts);
            }
        }
        self.output.extend_from_slice(&out);
    }

    /// UID FETCH (CHANGEDSINCE n VANISHED), RFC 7162 §3.2.6: the UIDs of `set` expunged
    /// since n, as `VANISHED (EARLIER)`.
    fn fetch_vanished(&mut self, set: &SequenceSet, vanished: Vec<std::ops::RangeInclusive<u32>>) {
        let Some(sel) = self.selected.as_ref() else {
            return;
        };
        let wanted = ranges::of_set(set, sel.max_uid());
        let gone = ranges::intersect(&ranges::normalise(vanished), &wanted);
        let present: Vec<u32> = sel.msgs.iter().map(|m| m.info.uid).collect();
        let gone = ranges::remove_points(&gone, &present);
        if let Some(uids) = ranges::to_set(&gone) {
            self.data(Data::Vanished {
                earlier: true,
                uids,
            });
        }
    }

    fn unselect(&mut self, tag: Tag, t: &str) {
        self.selected = None;
        self.state = State::Authenticated;
        self.request(
            Pending::Unselect {
                done: Done {
                    tag,
                    kind: Completion::Ok,
                    code: None,
                    text: t.to_owned(),
                    allow_expunge: false,
                },
            },
            Request::Unselect,
        );
    }

    // ---- LIST

    fn list_answer(&mut self, spec: &ListSpec, list: Vec<MailboxEntry>) -> Vec<ListOut> {
        let delim = QuotedChar::new(DELIMITER).ok();
        let mut out = Vec::new();
        for p in &spec.patterns {
            if p.is_empty() && !spec.lsub {
                // RFC 9051 §6.3.9: the delimiter and the root name.
                out.push(ListOut {
                    data: Data::List(ListData {
                        attributes: vec![MailboxAttr::NoSelect],
                        delimiter: delim,
                        mailbox: Mailbox::new(Vec::new()).unwrap_or(Mailbox::Inbox),
                        extended: Vec::new(),
                    }),
                    status: None,
                });
            }
        }
        let patterns: Vec<String> = spec
            .patterns
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| {
                if p.starts_with(DELIMITER) || spec.reference.is_empty() {
                    p.clone()
                } else if spec.reference.ends_with(DELIMITER) {
                    format!("{}{p}", spec.reference)
                } else {
                    format!("{}{DELIMITER}{p}", spec.reference)
                }
            })
            .collect();
        for e in &list {
            let matched = patterns.iter().any(|p| list_matches(p, &e.name, DELIMITER));
            if !matched {
                continue;
            }
            // RFC 5258 §3.5: with RECURSIVEMATCH, a name whose descendants alone are
            // subscribed is listed with CHILDINFO ("SUBSCRIBED").
            let prefix = format!("{}{DELIMITER}", e.name);
            // Not when every such descendant is listed itself (§3.5: no redundant CHILDINFO).
            // RFC 3501 §6.3.9: LSUB with `%` lists the parent of a subscribed name too.
            let child_subscribed = (spec.recursive || spec.lsub)
                && list.iter().any(|c| {
                    c.subscribed
                        && c.name.starts_with(&prefix)
                        && !patterns.iter().any(|p| list_matches(p, &c.name, DELIMITER))
                });
            if spec.subscribed_only && !e.subscribed && !child_subscribed {
                continue;
            }
            if !e.exists && !spec.subscribed_only {
                continue;
            }
            if spec.special_only && e.special_use.is_none() {
                continue;
            }
            let mut attrs = Vec::new();
            if spec.lsub && !e.subscribed {
                // "MUST be flagged with the \Noselect attribute" (RFC 3501 §6.3.9).
                attrs.push(MailboxAttr::NoSelect);
            } else if !e.selectable || !e.exists {
                // RFC 5258 §3.4: a name that exists only as a parent is \NonExistent in an
                // extended LIST.
                attrs.push(if spec.extended {
                    MailboxAttr::NonExistent
                } else {
                    MailboxAttr::NoSelect
                });
            }
            if spec.ret_children || spec.lsub {
                attrs.push(if e.has_children {
                    MailboxAttr::HasChildren
                } else {
                    MailboxAttr::HasNoChildren
                });
            }
            if spec.ret_subscribed && e.subscribed {
                attrs.push(MailboxAttr::Subscribed);
            }
            if spec.ret_special
                && let Some(s) = &e.special_use
            {
                attrs.push(s.clone());
            }
            let Some(mailbox) = self.wire_name(&e.name) else {
                continue;
            };
            let mut extended = Vec::new();
            if child_subscribed
                && spec.recursive
                && let (Ok(name), Ok(value)) = (
                    crate::proto::AString::new("CHILDINFO"),
                    IString::new(b"SUBSCRIBED".to_vec()),
                )
            {
                extended.push((name, ExtValue::List(vec![ExtValue::String(value)])));
            }
            // RFC 5819 §2: no STATUS for a \Noselect name.
            let status =
                (spec.status.is_some() && e.selectable).then(|| (mailbox.clone(), e.name.clone()));
            let data = ListData {
                attributes: attrs,
                delimiter: delim,
                mailbox,
                extended,
            };
            out.push(ListOut {
                data: if spec.lsub {
                    Data::Lsub(data)
                } else {
                    Data::List(data)
                },
                status,
            });
        }
        let _ = spec.extended;
        out
    }

    // ---- APPEND

    fn append_next(
        &mut self,
        tag: Tag,
        mailbox: String,
        m: AppendMessage,
        rest: VecDeque<AppendMessage>,
        uids: Vec<u32>,
    ) {
        let data = m.data.into_bytes();
        if data.len() as u64 > self.config.max_literal_len {
            let failure = Failure::new(FailureKind::TooBig, "Message too large");
            if uids.is_empty() {
                return self.fail(tag, &failure, false);
            }
            return self.request(
                Pending::AppendUndo { tag, failure },
                Request::Discard { mailbox, uids },
            );
        }
        let flags = m.flags.unwrap_or_default();
        self.request(
            Pending::Append {
                tag,
                mailbox: mailbox.clone(),
                rest,
                uids,
            },
            Request::Append {
                mailbox,
                data,
                flags,
                date: m.date,
            },
        );
    }

    // ---- sequence sets

    /// The sequence-map indices a set names, ascending, without duplicates; messages already
    /// expunged in the store are included (their numbers are still valid).
    pub(super) fn resolve(&self, set: &SequenceSet, uid: bool) -> Result<Vec<usize>, &'static str> {
        let Some(sel) = self.selected.as_ref() else {
            return Err("No mailbox selected");
        };
        let ranges = match set {
            SequenceSet::Saved => {
                return Ok(self
                    .saved
                    .iter()
                    .filter_map(|u| sel.index_of_uid(*u))
                    .collect());
            }
            SequenceSet::Set(r) => r,
        };
        let n = sel.msgs.len();
        let mut out: Vec<usize> = Vec::new();
        if uid {
            let max = sel.max_uid();
            let v = |s: &SeqNum| match s {
                SeqNum::Value(v) => v.get(),
                SeqNum::Largest => max,
            };
            for r in ranges {
                let (lo, hi) = match r {
                    SeqRange::Single(s) => (v(s), v(s)),
                    SeqRange::Range(a, b) => (v(a).min(v(b)), v(a).max(v(b))),
                };
                let start = sel.msgs.partition_point(|m| m.info.uid < lo);
                let end = sel.msgs.partition_point(|m| m.info.uid <= hi);
                out.extend(start..end);
            }
        } else {
            let v = |s: &SeqNum| -> Result<usize, &'static str> {
                match s {
                    SeqNum::Value(v) if (v.get() as usize) <= n => Ok(v.get() as usize),
                    SeqNum::Largest if n > 0 => Ok(n),
                    _ => Err("Invalid message sequence number"),
                }
            };
            for r in ranges {
                let (lo, hi) = match r {
                    SeqRange::Single(s) => (v(s)?, v(s)?),
                    SeqRange::Range(a, b) => {
                        let (a, b) = (v(a)?, v(b)?);
                        (a.min(b), a.max(b))
                    }
                };
                out.extend(lo - 1..hi);
            }
        }
        if ranges.len() > 1 {
            out.sort_unstable();
            out.dedup();
        }
        Ok(out)
    }

    pub(super) fn uids_of(&self, ix: &[usize]) -> Vec<u32> {
        let Some(sel) = self.selected.as_ref() else {
            return Vec::new();
        };
        ix.iter().map(|&i| sel.msgs[i].info.uid).collect()
    }

    // ---- FETCH

    fn fetch(
        &mut self,
        tag: Tag,
        set: &SequenceSet,
        items: &crate::proto::FetchItems,
        modifiers: &[FetchModifier],
        uid: bool,
    ) {
        let ix = match self.resolve(set, uid) {
            Ok(ix) => ix,
            Err(e) => return self.bad(Some(&tag), e),
        };
        let mut items = fetch::expand(items, uid);
        let mut changed_since = None;
        let mut vanished = false;
        for m in modifiers {
            match m {
                FetchModifier::ChangedSince(n) => changed_since = Some(*n),
                FetchModifier::Vanished => vanished = true,
            }
        }
        // RFC 7162 §3.2.6: VANISHED needs ENABLE QRESYNC, UID FETCH and CHANGEDSINCE.
        if vanished {
            if !self.qresync {
                return self.bad(Some(&tag), "VANISHED needs ENABLE QRESYNC");
            }
            if !uid {
                return self.bad(Some(&tag), "VANISHED is allowed with UID FETCH only");
            }
            if changed_since.is_none() {
                return self.bad(Some(&tag), "VANISHED needs CHANGEDSINCE");
            }
        }
        if changed_since.is_some() {
            self.condstore = true;
            if !items.contains(&FetchItem::ModSeq) {
                items.push(FetchItem::ModSeq);
            }
        }
        let sel = self.selected.as_ref().expect("selected");
        let mut expunge_issued = false;
        let todo: VecDeque<u32> = ix
            .iter()
            .filter_map(|&i| {
                let m = &sel.msgs[i];
                if m.expunged {
                    expunge_issued = true;
                    return None;
                }
                if changed_since.is_some_and(|c| m.info.modseq <= c) {
                    return None;
                }
                Some(m.info.uid)
            })
            .collect();
        let read_only = sel.read_only;
        let need = fetch::need(&items);
        let add_modseq = self.condstore;
        let job = Box::new(FetchJob {
            tag,
            uid,
            items,
            need,
            todo,
            seen_set: Vec::new(),
            add_modseq,
            expunge_issued,
            unknown_cte: false,
            read_only,
        });
        if vanished && let Some(since) = changed_since {
            return self.request(
                Pending::FetchVanished {
                    job,
                    set: set.clone(),
                },
                Request::Vanished { since },
            );
        }
        self.fetch_start(job);
    }

    /// Sets `\Seen` first when the items need it, then fetches.
    fn fetch_start(&mut self, job: Box<FetchJob>) {
        let Some(sel) = self.selected.as_ref() else {
            return self.fail(
                job.tag,
                &Failure::new(FailureKind::NotAllowed, "No mailbox selected"),
                false,
            );
        };
        let uid = job.uid;
        if fetch::sets_seen(&job.items) && !job.read_only {
            let unseen: Vec<u32> = job
                .todo
                .iter()
                .copied()
                .filter(|u| {
                    sel.index_of_uid(*u)
                        .is_some_and(|i| !sel.msgs[i].info.flags.contains(&Flag::Seen))
                })
                .collect();
            if !unseen.is_empty() {
                let store = Box::new(StoreJob {
                    tag: job.tag.clone(),
                    uid,
                    silent: true,
                    fetch: Some(job),
                });
                return self.request(
                    Pending::Store(store),
                    Request::Store {
                        uids: unseen,
                        kind: StoreKind::Add,
                        flags: vec![Flag::Seen],
                        unchanged_since: None,
                    },
                );
            }
        }
        self.fetch_next(job);
    }

    fn fetch_next(&mut self, mut job: Box<FetchJob>) {
        if job.need == Need::Meta {
            // Everything comes from the sequence map, in slices that respect max_output.
            let opts = self.enc();
            let sel = self.selected.as_ref().expect("selected");
            let mut out = std::mem::take(&mut self.output);
            while let Some(uid) = job.todo.pop_front() {
                if let Some(i) = sel.index_of_uid(uid) {
                    let add_flags = job.seen_set.contains(&uid);
                    let _ = fetch::write_fetch(
                        &mut out,
                        i as u32 + 1,
                        &sel.msgs[i].info,
                        &job.items,
                        None,
                        add_flags,
                        job.add_modseq,
                        &opts,
                    );
                }
                if out.len() >= self.config.max_output && !job.todo.is_empty() {
                    break;
                }
            }
            self.output = out;
            if job.todo.is_empty() {
                return self.fetch_done(*job);
            }
            // Come back after the driver has written this much: a Poll-free continuation.
            let uids: Vec<u32> = Vec::new();
            self.request(
                Pending::Fetch(job),
                Request::Fetch {
                    uids,
                    want: FetchContent::Raw,
                },
            );
            return;
        }
        if job.todo.is_empty() {
            return self.fetch_done(*job);
        }
        let n = self.config.fetch_batch.max(1).min(job.todo.len());
        let uids: Vec<u32> = job.todo.iter().take(n).copied().collect();
        let want = match job.need {
            Need::Structure => FetchContent::Structure,
            Need::Raw => FetchContent::Raw,
            Need::Meta | Need::Mime => FetchContent::Mime,
        };
        self.request(Pending::Fetch(job), Request::Fetch { uids, want });
    }

    fn fetch_answer(&mut self, mut job: Box<FetchJob>, list: Vec<MessageContent>) {
        if job.need != Need::Meta {
            let opts = self.enc();
            let n = self.config.fetch_batch.max(1).min(job.todo.len());
            let batch: Vec<u32> = job.todo.drain(..n).collect();
            let sel = self.selected.as_ref().expect("selected");
            let mut out = std::mem::take(&mut self.output);
            let mut it = list.iter().peekable();
            for uid in batch {
                while it.peek().is_some_and(|c| c.uid < uid) {
                    it.next();
                }
                let Some(c) = it.peek().filter(|c| c.uid == uid) else {
                    // Gone from the store meanwhile.
                    job.expunge_issued = true;
                    continue;
                };
                let Some(i) = sel.index_of_uid(uid) else {
                    continue;
                };
                let content = Content {
                    raw: &c.raw,
                    mime: c.mime.as_deref(),
                    structure: c.structure.as_deref(),
                };
                let add_flags = job.seen_set.contains(&uid);
                if fetch::write_fetch(
                    &mut out,
                    i as u32 + 1,
                    &sel.msgs[i].info,
                    &job.items,
                    Some(&content),
                    add_flags,
                    job.add_modseq,
                    &opts,
                )
                .is_err()
                {
                    job.unknown_cte = true;
                }
            }
            self.output = out;
        }
        self.fetch_next(job);
    }

    fn fetch_done(&mut self, job: FetchJob) {
        let (kind, code, t) = if job.unknown_cte {
            (
                Completion::No,
                Some(Code::UnknownCte),
                "Unknown Content-Transfer-Encoding",
            )
        } else if job.expunge_issued {
            (
                Completion::No,
                Some(Code::ExpungeIssued),
                "Some messages were expunged meanwhile",
            )
        } else {
            (Completion::Ok, None, "FETCH completed")
        };
        self.complete(Done {
            tag: job.tag,
            kind,
            code,
            text: t.to_owned(),
            allow_expunge: job.uid,
        });
    }

    // ---- STORE

    #[allow(clippy::too_many_arguments)]
    fn store(
        &mut self,
        tag: Tag,
        set: &SequenceSet,
        kind: StoreKind,
        silent: bool,
        flags: Vec<Flag>,
        unchanged_since: Option<u64>,
        uid: bool,
    ) {
        if self.selected.as_ref().is_some_and(|s| s.read_only) {
            return self.no(&tag, Some(Code::ReadOnly), "Mailbox is read-only");
        }
        let ix = match self.resolve(set, uid) {
            Ok(ix) => ix,
            Err(e) => return self.bad(Some(&tag), e),
        };
        if unchanged_since.is_some() {
            self.condstore = true;
        }
        let sel = self.selected.as_ref().expect("selected");
        let uids: Vec<u32> = ix
            .iter()
            .filter(|&&i| !sel.msgs[i].expunged)
            .map(|&i| sel.msgs[i].info.uid)
            .collect();
        let job = Box::new(StoreJob {
            tag,
            uid,
            silent,
            fetch: None,
        });
        self.request(
            Pending::Store(job),
            Request::Store {
                uids,
                kind,
                flags,
                unchanged_since,
            },
        );
    }

    fn store_answer(
        &mut self,
        job: StoreJob,
        updated: Vec<(u32, Vec<Flag>, u64)>,
        modified: Vec<u32>,
    ) {
        let opts = self.enc();
        let condstore = self.condstore;
        let sel = self.selected.as_mut().expect("selected");
        let mut out = Vec::new();
        let mut changed = Vec::new();
        for (uid, flags, modseq) in updated {
            let Some(i) = sel.index_of_uid(uid) else {
                continue;
            };
            let m = &mut sel.msgs[i];
            m.info.flags = flags;
            m.info.modseq = modseq;
            sel.highest_modseq = sel.highest_modseq.max(modseq);
            changed.push(uid);
            // RFC 7162 §3.1.3: with UNCHANGEDSINCE or CONDSTORE, FETCH with MODSEQ even when
            // .SILENT.
            if job.fetch.is_none() && (!job.silent || condstore) {
                let mut items = Vec::new();
                if job.uid || condstore || self.rev2 {
                    items.push(FetchItem::Uid);
                }
                if !job.silent {
                    items.push(FetchItem::Flags);
                }
                if condstore {
                    items.push(FetchItem::ModSeq);
                }
                fetch::write_flags(&mut out, i as u32 + 1, &m.info, &items, &opts);
            }
        }
        // New keywords become part of FLAGS.
        let mut new_flags = sel.flags.clone();
        for m in &sel.msgs {
            for f in &m.info.flags {
                if !new_flags.contains(f) {
                    new_flags.push(f.clone());
                }
            }
        }
        if new_flags != sel.flags {
            sel.flags = new_flags.clone();
            let mut head = Response::Data(Data::Flags(new_flags))
                .encode(&opts)
                .into_bytes();
            head.extend_from_slice(&out);
            out = head;
        }
        self.output.extend_from_slice(&out);
        if let Some(mut fetch) = job.fetch {
            fetch.seen_set = changed;
            return self.fetch_next(fetch);
        }
        let code = if modified.is_empty() {
            None
        } else {
            let nums: Vec<u32> = if job.uid {
                modified
            } else {
                let sel = self.selected.as_ref().expect("selected");
                modified
                    .iter()
                    .filter_map(|u| sel.index_of_uid(*u).map(|i| i as u32 + 1))
                    .collect()
            };
            uid_set(&nums).map(Code::Modified)
        };
        self.complete(Done {
            tag: job.tag,
            kind: Completion::Ok,
            code,
            text: if job.uid {
                "UID STORE completed"
            } else {
                "STORE completed"
            }
            .to_owned(),
            allow_expunge: job.uid,
        });
    }

    // ---- COPY, MOVE

    fn copy(&mut self, tag: Tag, set: &SequenceSet, mailbox: &Mailbox, uid: bool, mv: bool) {
        if mv && self.selected.as_ref().is_some_and(|s| s.read_only) {
            return self.no(&tag, Some(Code::ReadOnly), "Mailbox is read-only");
        }
        let ix = match self.resolve(set, uid) {
            Ok(ix) => ix,
            Err(e) => return self.bad(Some(&tag), e),
        };
        let sel = self.selected.as_ref().expect("selected");
        let uids: Vec<u32> = ix
            .iter()
            .filter(|&&i| !sel.msgs[i].expunged)
            .map(|&i| sel.msgs[i].info.uid)
            .collect();
        let dest = self.name(mailbox);
        self.request(
            Pending::Copy {
                tag,
                r#move: mv,
                uid,
            },
            Request::Copy {
                uids,
                mailbox: dest,
                r#move: mv,
            },
        );
    }

    // ---- SEARCH

    fn search(
        &mut self,
        tag: Tag,
        key: SearchKey,
        returns: Option<Vec<SearchReturnOption>>,
        uid: bool,
        order: Option<Order>,
    ) {
        // Sequence sets inside the key must name existing messages.
        if let Err(e) = self.check_sets(&key) {
            return self.bad(Some(&tag), e);
        }
        let sel = self.selected.as_ref().expect("selected");
        let todo: VecDeque<u32> = sel
            .msgs
            .iter()
            .filter(|m| !m.expunged)
            .map(|m| m.info.uid)
            .collect();
        let job = Box::new(SearchJob {
            tag,
            uid,
            key,
            returns,
            todo,
            hits: Vec::new(),
            order,
            header_todo: VecDeque::new(),
            fields: Vec::new(),
        });
        if search::needs_content(&job.key) {
            self.search_next(job);
        } else {
            self.search_answer(job, Vec::new());
        }
    }

    fn check_sets(&self, key: &SearchKey) -> Result<(), &'static str> {
        match key {
            SearchKey::SequenceSet(s) if !matches!(s, SequenceSet::Saved) => {
                let n = self.selected.as_ref().map_or(0, |s| s.msgs.len());
                if let SequenceSet::Set(r) = s {
                    for r in r {
                        let vals = match r {
                            SeqRange::Single(a) => vec![*a],
                            SeqRange::Range(a, b) => vec![*a, *b],
                        };
                        for v in vals {
                            if let SeqNum::Value(v) = v
                                && v.get() as usize > n
                            {
                                return Err("Invalid message sequence number");
                            }
                        }
                    }
                }
                Ok(())
            }
            SearchKey::Not(k) => self.check_sets(k),
            SearchKey::Or(a, b) => {
                self.check_sets(a)?;
                self.check_sets(b)
            }
            SearchKey::And(ks) => ks.iter().try_for_each(|k| self.check_sets(k)),
            _ => Ok(()),
        }
    }

    fn search_next(&mut self, job: Box<SearchJob>) {
        let n = self.config.fetch_batch.max(1).min(job.todo.len());
        let uids: Vec<u32> = job.todo.iter().take(n).copied().collect();
        self.request(
            Pending::Search(job),
            Request::Fetch {
                uids,
                want: FetchContent::Mime,
            },
        );
    }

    fn search_answer(&mut self, mut job: Box<SearchJob>, list: Vec<MessageContent>) {
        let content = search::needs_content(&job.key);
        let sel = self.selected.as_ref().expect("selected");
        let exists = sel.msgs.len() as u32;
        let max_uid = sel.max_uid();
        let batch: Vec<u32> = if content {
            let n = self.config.fetch_batch.max(1).min(job.todo.len());
            job.todo.drain(..n).collect()
        } else {
            job.todo.drain(..).collect()
        };
        for uid in batch {
            let Some(i) = sel.index_of_uid(uid) else {
                continue;
            };
            let c = if content {
                match list.iter().find(|c| c.uid == uid) {
                    Some(c) => c.mime.as_deref().map(|m| (&c.raw[..], m)),
                    None => continue,
                }
            } else {
                None
            };
            let cand = search::Candidate {
                seq: i as u32 + 1,
                info: &sel.msgs[i].info,
                content: c,
                exists,
                max_uid,
                saved: &self.saved,
                now: self.now,
            };
            if search::matches(&job.key, &cand) {
                job.hits.push(uid);
            }
        }
        if content && !job.todo.is_empty() {
            return self.search_next(job);
        }
        self.search_done(*job);
    }

    /// SORT and THREAD: the headers of the hits, when the order needs them.
    fn sort_start(&mut self, mut job: Box<SearchJob>) {
        let needs_header = match &job.order {
            Some(Order::Sort(c)) => c
                .iter()
                .any(|c| !matches!(c.key, SortKey::Arrival | SortKey::Size)),
            _ => true,
        };
        if needs_header {
            job.header_todo = job.hits.iter().copied().collect();
            return self.sort_next(job);
        }
        let sel = self.selected.as_ref().expect("selected");
        for &uid in &job.hits {
            if let Some(i) = sel.index_of_uid(uid) {
                let m = &sel.msgs[i].info;
                let n = if job.uid { uid } else { i as u32 + 1 };
                let f = sort::SortFields::parse(n, uid, m.internal_timestamp, m.size, b"");
                job.fields.push(f);
            }
        }
        self.sort_done(*job);
    }

    fn sort_next(&mut self, job: Box<SearchJob>) {
        if job.header_todo.is_empty() {
            return self.sort_done(*job);
        }
        let n = self.config.fetch_batch.max(1).min(job.header_todo.len());
        let uids: Vec<u32> = job.header_todo.iter().take(n).copied().collect();
        self.request(
            Pending::SortHeaders(job),
            Request::Fetch {
                uids,
                want: FetchContent::Raw,
            },
        );
    }

    fn sort_answer(&mut self, mut job: Box<SearchJob>, list: Vec<MessageContent>) {
        let n = self.config.fetch_batch.max(1).min(job.header_todo.len());
        let batch: Vec<u32> = job.header_todo.drain(..n).collect();
        let sel = self.selected.as_ref().expect("selected");
        for uid in batch {
            let (Some(i), Some(c)) = (sel.index_of_uid(uid), list.iter().find(|c| c.uid == uid))
            else {
                // Gone meanwhile: left out of the result.
                continue;
            };
            let m = &sel.msgs[i].info;
            let end = memchr::memmem::find(&c.raw, b"\r\n\r\n").map_or(c.raw.len(), |e| e + 2);
            let n = if job.uid { uid } else { i as u32 + 1 };
            let f = sort::SortFields::parse(n, uid, m.internal_timestamp, m.size, &c.raw[..end]);
            job.fields.push(f);
        }
        self.sort_next(job);
    }

    /// `* SORT …` or `* THREAD …` (RFC 5256 §4), then the completion.
    fn sort_done(&mut self, job: SearchJob) {
        let what = match &job.order {
            Some(Order::Sort(criteria)) => {
                let nums = sort::sort(&job.fields, criteria)
                    .into_iter()
                    .filter_map(NonZeroU32::new)
                    .collect();
                let modseq = if search::uses_modseq(&job.key) {
                    let sel = self.selected.as_ref().expect("selected");
                    job.hits
                        .iter()
                        .filter_map(|u| sel.index_of_uid(*u).map(|i| sel.msgs[i].info.modseq))
                        .max()
                } else {
                    None
                };
                self.data(Data::Sort { nums, modseq });
                "SORT completed"
            }
            Some(Order::Thread(alg)) => {
                let threads = match alg {
                    ThreadAlgorithm::OrderedSubject => sort::thread_ordered_subject(&job.fields),
                    _ => sort::thread_references(&job.fields),
                };
                self.data(Data::Thread(threads));
                "THREAD completed"
            }
            None => "SEARCH completed",
        };
        self.complete(Done {
            tag: job.tag,
            kind: Completion::Ok,
            code: None,
            text: what.to_owned(),
            allow_expunge: job.uid,
        });
    }

    fn search_done(&mut self, job: SearchJob) {
        if job.order.is_some() {
            return self.sort_start(Box::new(job));
        }
        let sel = self.selected.as_ref().expect("selected");
        let nums: Vec<u32> = if job.uid {
            job.hits.clone()
        } else {
            job.hits
                .iter()
                .filter_map(|u| sel.index_of_uid(*u).map(|i| i as u32 + 1))
                .collect()
        };
        let modseq = if search::uses_modseq(&job.key) {
            job.hits
                .iter()
                .filter_map(|u| sel.index_of_uid(*u).map(|i| sel.msgs[i].info.modseq))
                .max()
        } else {
            None
        };
        // RFC 9051 §6.4.4: IMAP4rev2 answers every SEARCH with ESEARCH.
        let returns = match &job.returns {
            None if self.rev2 => Some(Vec::new()),
            r => r.clone(),
        };
        match &returns {
            None => {
                let nums = nums.iter().filter_map(|&n| NonZeroU32::new(n)).collect();
                self.data(Data::Search { nums, modseq });
            }
            Some(opts) => {
                let opts: Vec<SearchReturnOption> = if opts.is_empty() {
                    vec![SearchReturnOption::All]
                } else {
                    opts.clone()
                };
                let save = opts.contains(&SearchReturnOption::Save);
                let mut data = Vec::new();
                for o in &opts {
                    match o {
                        SearchReturnOption::Min => {
                            if let Some(n) = nums.iter().min().and_then(|&n| NonZeroU32::new(n)) {
                                data.push(ESearchData::Min(n));
                            }
                        }
                        SearchReturnOption::Max => {
                            if let Some(n) = nums.iter().max().and_then(|&n| NonZeroU32::new(n)) {
                                data.push(ESearchData::Max(n));
                            }
                        }
                        SearchReturnOption::All => {
                            if let Some(s) = uid_set(&nums) {
                                data.push(ESearchData::All(s));
                            }
                        }
                        SearchReturnOption::Count => {
                            data.push(ESearchData::Count(nums.len() as u32));
                        }
                        SearchReturnOption::Save => {}
                    }
                }
                if let Some(m) = modseq
                    && !data.is_empty()
                {
                    data.push(ESearchData::ModSeq(m));
                }
                if save {
                    self.saved = job.hits.clone();
                }
                // RFC 5182 §2.1: SAVE alone returns no ESEARCH response.
                if !(save && opts.len() == 1) {
                    self.data(Data::ESearch(ESearch {
                        tag: Some(job.tag.clone()),
                        uid: job.uid,
                        data,
                    }));
                }
            }
        }
        self.complete(Done {
            tag: job.tag,
            kind: Completion::Ok,
            code: None,
            text: "SEARCH completed".to_owned(),
            allow_expunge: job.uid,
        });
    }
}

/// A compact sequence set of numbers (ascending runs become ranges); `None` when empty.
pub(super) fn uid_set(nums: &[u32]) -> Option<SequenceSet> {
    let mut v: Vec<u32> = nums.iter().copied().filter(|&n| n > 0).collect();
    v.sort_unstable();
    v.dedup();
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        let mut end = start;
        while i + 1 < v.len() && v[i + 1] == end + 1 {
            i += 1;
            end = v[i];
        }
        let a = SeqNum::Value(NonZeroU32::new(start)?);
        ranges.push(if start == end {
            SeqRange::Single(a)
        } else {
            SeqRange::Range(a, SeqNum::Value(NonZeroU32::new(end)?))
        });
        i += 1;
    }
    SequenceSet::new(ranges).ok()
}

/// One search key for a list of them (`AND` when several).
fn and(keys: Vec1<SearchKey>) -> SearchKey {
    if keys.len() == 1 {
        keys.first().clone()
    } else {
        SearchKey::And(keys)
    }
}
