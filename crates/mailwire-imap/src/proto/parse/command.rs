//! The strict command parser: `command = tag SP (command-any / command-auth / command-nonauth /
//! command-select) CRLF` (RFC 9051 §9, RFC 3501 §9) and the extension commands.

use base64::Engine;

use super::core::{
    PResult, astring, atom, atom_bytes, byte, charset, crlf, date_time, fail, flag, incomplete,
    list_mailbox, literal, mailbox, mailbox_attr, nil, nstring, number64, nz_number, paren_list,
    peek, sequence_set, sp, starts_with_kw, string, tag,
};
use super::fetch::fetch_items;
use super::search::{search_key, upper};
use crate::proto::types::capability::Capability;
use crate::proto::types::command::{
    AppendData, AppendMessage, AuthenticateData, CommandBody, InitialResponse, ListReturnOption,
    ListSelectOption, STATUS_ITEMS, Secret, SelectParam, StatusItem,
};
use crate::proto::types::core::{C_BASE64, Tag, Vec1, is};
use crate::proto::types::fetch::FetchModifier;
use crate::proto::types::flag::{Flag, StoreKind};
use crate::proto::types::search::{SearchKey, SearchReturnOption, SortCriterion, SortKey};

/// `tag SP`, the start of every command (parsed first so errors can carry the tag).
pub(crate) fn command_tag(i: &[u8]) -> PResult<'_, Tag> {
    let (i, t) = tag(i)?;
    let (i, ()) = sp(i)?;
    Ok((i, t))
}

/// Everything after `tag SP`, through `CRLF`.
pub(crate) fn command_body(i: &[u8], depth: usize) -> PResult<'_, CommandBody> {
    let start = i;
    let (i, name) = atom_bytes(i)?;
    let up = upper(name);
    let word = &up[..name.len().min(24)];
    let (i, body) = match word {
        b"CAPABILITY" => (i, CommandBody::Capability),
        b"NOOP" => (i, CommandBody::Noop),
        b"LOGOUT" => (i, CommandBody::Logout),
        b"STARTTLS" => (i, CommandBody::StartTls),
        b"CHECK" => (i, CommandBody::Check),
        b"CLOSE" => (i, CommandBody::Close),
        b"UNSELECT" => (i, CommandBody::Unselect),
        b"EXPUNGE" => (i, CommandBody::Expunge { uids: None }),
        b"NAMESPACE" => (i, CommandBody::Namespace),
        b"IDLE" => (i, CommandBody::Idle),
        b"ID" => {
            let (i, ()) = sp(i)?;
            id_params(i).map(|(i, p)| (i, CommandBody::Id(p)))?
        }
        b"ENABLE" => {
            let (i, ()) = sp(i)?;
            let (i, first) = atom(i)?;
            let (i, rest) = super::core::sp_separated(i, |_| true, atom)?;
            let caps: Vec<Capability> = std::iter::once(first)
                .chain(rest)
                .map(Capability::from_atom)
                .collect();
            (i, CommandBody::Enable(Vec1::unvalidated(caps)))
        }
        b"COMPRESS" => {
            let (i, ()) = sp(i)?;
            let (i, a) = atom(i)?;
            (i, CommandBody::Compress(a))
        }
        b"AUTHENTICATE" => {
            let (i, ()) = sp(i)?;
            let (i, mechanism) = atom(i)?;
            let (i, initial) = if peek(i)? == b' ' {
                let (i, ir) = initial_response(&i[1..])?;
                (i, Some(ir))
            } else {
                (i, None)
            };
            (i, CommandBody::Authenticate { mechanism, initial })
        }
        b"LOGIN" => {
            let (i, ()) = sp(i)?;
            let (i, username) = astring(i)?;
            let (i, ()) = sp(i)?;
            let (i, password) = astring(i)?;
            (
                i,
                CommandBody::Login {
                    username,
                    password: Secret::new(password),
                },
            )
        }
        b"SELECT" | b"EXAMINE" => {
            let (i, ()) = sp(i)?;
            let (i, mailbox) = mailbox(i)?;
            let (i, params) = select_params(i)?;
            if word == b"SELECT" {
                (i, CommandBody::Select { mailbox, params })
            } else {
                (i, CommandBody::Examine { mailbox, params })
            }
        }
        b"CREATE" => {
            let (i, ()) = sp(i)?;
            let (i, mailbox) = mailbox(i)?;
            let (i, special_use) = if peek(i)? == b' ' {
                // create-param = "USE" SP "(" [use-attr *(SP use-attr)] ")"
                let (i, ()) = byte(&i[1..], b'(', "(")?;
                let (i, ()) = super::core::keyword(i, "USE")?;
                let (i, ()) = sp(i)?;
                let (i, attrs) = paren_list(i, false, mailbox_attr)?;
                let (i, ()) = byte(i, b')', ")")?;
                (i, attrs)
            } else {
                (i, Vec::new())
            };
            (
                i,
                CommandBody::Create {
                    mailbox,
                    special_use,
                },
            )
        }
        b"DELETE" => one_mailbox(i, CommandBody::Delete)?,
        b"SUBSCRIBE" => one_mailbox(i, CommandBody::Subscribe)?,
        b"UNSUBSCRIBE" => one_mailbox(i, CommandBody::Unsubscribe)?,
        b"GETQUOTAROOT" => one_mailbox(i, CommandBody::GetQuotaRoot)?,
        b"GETQUOTA" => {
            let (i, ()) = sp(i)?;
            let (i, root) = astring(i)?;
            (i, CommandBody::GetQuota(root))
        }
        b"SETQUOTA" => {
            let (i, ()) = sp(i)?;
            let (i, root) = astring(i)?;
            let (i, ()) = sp(i)?;
            let (i, limits) = paren_list(i, false, |i| {
                let (i, name) = atom(i)?;
                let (i, ()) = sp(i)?;
                let (i, n) = number64(i)?;
                Ok((i, (name, n)))
            })?;
            (i, CommandBody::SetQuota { root, limits })
        }
        b"RENAME" => {
            let (i, ()) = sp(i)?;
            let (i, from) = mailbox(i)?;
            let (i, ()) = sp(i)?;
            let (i, to) = mailbox(i)?;
            (i, CommandBody::Rename { from, to })
        }
        b"LIST" => list(i)?,
        b"LSUB" => {
            let (i, ()) = sp(i)?;
            let (i, reference) = mailbox(i)?;
            let (i, ()) = sp(i)?;
            let (i, pattern) = list_mailbox(i)?;
            (i, CommandBody::Lsub { reference, pattern })
        }
        b"STATUS" => {
            let (i, ()) = sp(i)?;
            let (i, mailbox) = mailbox(i)?;
            let (i, ()) = sp(i)?;
            let (i, items) = status_items(i)?;
            (i, CommandBody::Status { mailbox, items })
        }
        b"APPEND" => append(i)?,
        b"UID" => {
            let (i, ()) = sp(i)?;
            let sub_start = i;
            let (i, sub) = atom_bytes(i)?;
            let up = upper(sub);
            match &up[..sub.len().min(24)] {
                b"FETCH" => fetch(i, true)?,
                b"STORE" => store(i, true)?,
                b"COPY" => copy_move(i, true, false)?,
                b"MOVE" => copy_move(i, true, true)?,
                b"SEARCH" => search(i, true, depth)?,
                b"SORT" => sort(i, true, depth)?,
                b"THREAD" => thread(i, true, depth)?,
                b"EXPUNGE" => {
                    let (i, ()) = sp(i)?;
                    let (i, set) = sequence_set(i)?;
                    (i, CommandBody::Expunge { uids: Some(set) })
                }
                _ => return fail(sub_start, "UID command"),
            }
        }
        b"FETCH" => fetch(i, false)?,
        b"STORE" => store(i, false)?,
        b"COPY" => copy_move(i, false, false)?,
        b"MOVE" => copy_move(i, false, true)?,
        b"SEARCH" => search(i, false, depth)?,
        b"SORT" => sort(i, false, depth)?,
        b"THREAD" => thread(i, false, depth)?,
        _ if matches!(name.first(), Some(b'X' | b'x')) => {
            // x-command: arguments up to CRLF.
            let i = if peek(i)? == b' ' { &i[1..] } else { i };
            let (i, arguments) = super::core::text(i)?;
            (
                i,
                CommandBody::Experimental {
                    name: crate::proto::types::core::Atom::unvalidated(name),
                    arguments,
                },
            )
        }
        _ => return fail(start, "command"),
    };
    let (i, ()) = crlf(i)?;
    Ok((i, body))
}

fn one_mailbox(
    i: &[u8],
    make: fn(crate::proto::types::mailbox::Mailbox) -> CommandBody,
) -> PResult<'_, CommandBody> {
    let (i, ()) = sp(i)?;
    let (i, m) = mailbox(i)?;
    Ok((i, make(m)))
}

/// `id-params-list = "(" *(string SP nstring) ")" / nil`
pub(crate) fn id_params(
    i: &[u8],
) -> PResult<
    '_,
    Option<
        Vec<(
            crate::proto::types::core::IString,
            crate::proto::types::core::NString,
        )>,
    >,
> {
    if peek(i)? != b'(' {
        let (i, ()) = nil(i)?;
        return Ok((i, None));
    }
    let (i, l) = paren_list(i, true, |i| {
        let (i, k) = string(i)?;
        let (i, ()) = sp(i)?;
        let (i, v) = nstring(i)?;
        Ok((i, (k, v)))
    })?;
    Ok((i, Some(l)))
}

/// `initial-resp = (base64 / "=")` (RFC 4959).
fn initial_response(i: &[u8]) -> PResult<'_, InitialResponse> {
    if peek(i)? == b'=' && !is(peek(&i[1..])?, C_BASE64) {
        return Ok((&i[1..], InitialResponse::Empty));
    }
    let (rest, data) = base64(i)?;
    if data.is_empty() {
        return fail(i, "base64");
    }
    Ok((rest, InitialResponse::Data(Secret::new(data))))
}

/// `base64 = *(4base64-char) [base64-terminal]`, decoded; the run must end before the input.
fn base64(i: &[u8]) -> PResult<'_, Vec<u8>> {
    let n = match i.iter().position(|&b| !is(b, C_BASE64)) {
        Some(n) => n,
        None => return incomplete(),
    };
    match base64::engine::general_purpose::STANDARD.decode(&i[..n]) {
        Ok(d) => Ok((&i[n..], d)),
        Err(_) => fail(i, "base64"),
    }
}

/// `[SP "(" select-param *(SP select-param) ")"]`
fn select_params(i: &[u8]) -> PResult<'_, Vec<SelectParam>> {
    if peek(i)? != b' ' {
        return Ok((i, Vec::new()));
    }
    let (i, params) = paren_list(&i[1..], false, select_param)?;
    if params.is_empty() {
        return fail(i, "select-param");
    }
    Ok((i, params))
}

fn select_param(i: &[u8]) -> PResult<'_, SelectParam> {
    let (rest, name) = atom_bytes(i)?;
    if name.eq_ignore_ascii_case(b"CONDSTORE") {
        return Ok((rest, SelectParam::CondStore));
    }
    if !name.eq_ignore_ascii_case(b"QRESYNC") {
        return fail(i, "CONDSTORE or QRESYNC");
    }
    // "QRESYNC" SP "(" uidvalidity SP mod-sequence-value [SP known-uids]
    //     [SP seq-match-data] ")"
    let (i, ()) = sp(rest)?;
    let (i, ()) = byte(i, b'(', "(")?;
    let (i, uid_validity) = nz_number(i)?;
    let (i, ()) = sp(i)?;
    let (i, mod_seq) = number64(i)?;
    let (i, known_uids) = if peek(i)? == b' ' && peek(&i[1..])? != b'(' {
        let (i, s) = sequence_set(&i[1..])?;
        (i, Some(s))
    } else {
        (i, None)
    };
    let (i, seq_match) = if peek(i)? == b' ' {
        let (i, ()) = byte(&i[1..], b'(', "(")?;
        let (i, a) = sequence_set(i)?;
        let (i, ()) = sp(i)?;
        let (i, b) = sequence_set(i)?;
        let (i, ()) = byte(i, b')', ")")?;
        (i, Some((a, b)))
    } else {
        (i, None)
    };
    let (i, ()) = byte(i, b')', ")")?;
    Ok((
        i,
        SelectParam::QResync {
            uid_validity,
            mod_seq,
            known_uids,
            seq_match,
        },
    ))
}

/// `list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]`
fn list(i: &[u8]) -> PResult<'_, CommandBody> {
    let (i, ()) = sp(i)?;
    let (i, select) = if peek(i)? == b'(' {
        let (i, opts) = paren_list(i, false, |i| {
            let (i, a) = atom(i)?;
            let s = a.as_str();
            let o = if s.eq_ignore_ascii_case("SUBSCRIBED") {
                ListSelectOption::Subscribed
            } else if s.eq_ignore_ascii_case("REMOTE") {
                ListSelectOption::Remote
            } else if s.eq_ignore_ascii_case("RECURSIVEMATCH") {
                ListSelectOption::RecursiveMatch
            } else if s.eq_ignore_ascii_case("SPECIAL-USE") {
                ListSelectOption::SpecialUse
            } else {
                ListSelectOption::Other(a)
            };
            Ok((i, o))
        })?;
        let (i, ()) = sp(i)?;
        (i, opts)
    } else {
        (i, Vec::new())
    };
    let (i, reference) = mailbox(i)?;
    let (i, ()) = sp(i)?;
    let (i, patterns) = if peek(i)? == b'(' {
        let (rest, p) = paren_list(i, false, list_mailbox)?;
        match Vec1::try_from(p) {
            Ok(p) => (rest, p),
            Err(_) => return fail(i, "pattern"),
        }
    } else {
        let (i, p) = list_mailbox(i)?;
        (i, Vec1::one(p))
    };
    let (i, returns) = if peek(i)? == b' ' {
        let (i, ()) = super::core::keyword(&i[1..], "RETURN")?;
        let (i, ()) = sp(i)?;
        paren_list(i, false, |i| {
            let (rest, a) = atom(i)?;
            let s = a.as_str();
            Ok(if s.eq_ignore_ascii_case("SUBSCRIBED") {
                (rest, ListReturnOption::Subscribed)
            } else if s.eq_ignore_ascii_case("CHILDREN") {
                (rest, ListReturnOption::Children)
            } else if s.eq_ignore_ascii_case("SPECIAL-USE") {
                (rest, ListReturnOption::SpecialUse)
            } else if s.eq_ignore_ascii_case("STATUS") {
                let (rest, ()) = sp(rest)?;
                let (rest, items) = status_items(rest)?;
                (rest, ListReturnOption::Status(items))
            } else {
                (rest, ListReturnOption::Other(a))
            })
        })?
    } else {
        (i, Vec::new())
    };
    Ok((
        i,
        CommandBody::List {
            select,
            reference,
            patterns,
            returns,
        },
    ))
}

/// `status-att = "MESSAGES" / …`
pub(crate) fn status_item(i: &[u8]) -> PResult<'_, StatusItem> {
    let (rest, name) = atom_bytes(i)?;
    match STATUS_ITEMS
        .iter()
        .find(|(n, _)| name.eq_ignore_ascii_case(n.as_bytes()))
    {
        Some((_, item)) => Ok((rest, *item)),
        None => fail(i, "status-att"),
    }
}

/// `"(" status-att *(SP status-att) ")"`
fn status_items(i: &[u8]) -> PResult<'_, Vec1<StatusItem>> {
    let (rest, items) = paren_list(i, false, status_item)?;
    match Vec1::try_from(items) {
        Ok(v) => Ok((rest, v)),
        Err(_) => fail(i, "status-att"),
    }
}

/// `flag-list = "(" [flag *(SP flag)] ")"`
pub(crate) fn flag_list(i: &[u8]) -> PResult<'_, Vec<Flag>> {
    paren_list(i, false, flag)
}

/// `append = "APPEND" SP mailbox 1*append-message` (RFC 3502 MULTIAPPEND)
fn append(i: &[u8]) -> PResult<'_, CommandBody> {
    let (i, ()) = sp(i)?;
    let (mut i, mailbox) = mailbox(i)?;
    let mut messages = Vec::new();
    loop {
        if messages.is_empty() || peek(i)? == b' ' {
            let (rest, ()) = sp(i)?;
            let (rest, m) = append_message(rest)?;
            messages.push(m);
            i = rest;
        } else {
            break;
        }
    }
    Ok((
        i,
        CommandBody::Append {
            mailbox,
            messages: Vec1::unvalidated(messages),
        },
    ))
}

/// `append-message = [flag-list SP] [date-time SP] append-data`
fn append_message(i: &[u8]) -> PResult<'_, AppendMessage> {
    let (i, flags) = if peek(i)? == b'(' {
        let (i, f) = flag_list(i)?;
        let (i, ()) = sp(i)?;
        (i, Some(f))
    } else {
        (i, None)
    };
    let (i, date) = if peek(i)? == b'"' {
        let (i, d) = date_time(i)?;
        let (i, ()) = sp(i)?;
        (i, Some(d))
    } else {
        (i, None)
    };
    let (i, data) = match peek(i)? {
        b'{' => {
            let (i, d) = literal(i, false)?;
            (i, AppendData::Literal(d.to_vec()))
        }
        b'~' => {
            let (i, d) = literal(i, true)?;
            (i, AppendData::Binary(d.to_vec()))
        }
        _ => {
            // "UTF8" SP "(" literal8 ")" (RFC 6855)
            let (i, ()) = super::core::keyword(i, "UTF8")?;
            let (i, ()) = sp(i)?;
            let (i, ()) = byte(i, b'(', "(")?;
            let (i, d) = literal(i, true)?;
            let (i, ()) = byte(i, b')', ")")?;
            (i, AppendData::Utf8(d.to_vec()))
        }
    };
    Ok((i, AppendMessage { flags, date, data }))
}

/// `fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att / "(" …)
/// [fetch-modifiers]`
fn fetch(i: &[u8], uid: bool) -> PResult<'_, CommandBody> {
    let (i, ()) = sp(i)?;
    let (i, set) = sequence_set(i)?;
    let (i, ()) = sp(i)?;
    let (i, items) = fetch_items(i)?;
    let (i, modifiers) = if peek(i)? == b' ' {
        paren_list(&i[1..], false, |i| {
            let (rest, name) = atom_bytes(i)?;
            if name.eq_ignore_ascii_case(b"CHANGEDSINCE") {
                let (rest, ()) = sp(rest)?;
                let (rest, n) = number64(rest)?;
                Ok((rest, FetchModifier::ChangedSince(n)))
            } else if name.eq_ignore_ascii_case(b"VANISHED") {
                Ok((rest, FetchModifier::Vanished))
            } else {
                fail(i, "fetch-modifier")
            }
        })?
    } else {
        (i, Vec::new())
    };
    Ok((
        i,
        CommandBody::Fetch {
            set,
            items,
            modifiers,
            uid,
        },
    ))
}

/// `store = "STORE" SP sequence-set [store-modifiers] SP store-att-flags`
fn store(i: &[u8], uid: bool) -> PResult<'_, CommandBody> {
    let (i, ()) = sp(i)?;
    let (i, set) = sequence_set(i)?;
    let (i, ()) = sp(i)?;
    let (i, unchanged_since) = if peek(i)? == b'(' {
        let (i, ()) = byte(i, b'(', "(")?;
        let (i, ()) = super::core::keyword(i, "UNCHANGEDSINCE")?;
        let (i, ()) = sp(i)?;
        let (i, n) = number64(i)?;
        let (i, ()) = byte(i, b')', ")")?;
        let (i, ()) = sp(i)?;
        (i, Some(n))
    } else {
        (i, None)
    };
    let (i, kind) = match peek(i)? {
        b'+' => (&i[1..], StoreKind::Add),
        b'-' => (&i[1..], StoreKind::Remove),
        _ => (i, StoreKind::Replace),
    };
    let (i, ()) = super::core::keyword(i, "FLAGS")?;
    let (i, silent) = if peek(i)? == b'.' {
        let (i, ()) = super::core::keyword(&i[1..], "SILENT")?;
        (i, true)
    } else {
        (i, false)
    };
    let (i, ()) = sp(i)?;
    let (i, flags) = if peek(i)? == b'(' {
        flag_list(i)?
    } else {
        let (i, first) = flag(i)?;
        let (i, rest) = super::core::sp_separated(i, |_| true, flag)?;
        (i, std::iter::once(first).chain(rest).collect())
    };
    Ok((
        i,
        CommandBody::Store {
            set,
            kind,
            silent,
            flags,
            unchanged_since,
            uid,
        },
    ))
}

fn copy_move(i: &[u8], uid: bool, is_move: bool) -> PResult<'_, CommandBody> {
    let (i, ()) = sp(i)?;
    let (i, set) = sequence_set(i)?;
    let (i, ()) = sp(i)?;
    let (i, mailbox) = mailbox(i)?;
    Ok((
        i,
        if is_move {
            CommandBody::Move { set, mailbox, uid }
        } else {
            CommandBody::Copy { set, mailbox, uid }
        },
    ))
}

/// `1*(SP search-key)`, as long as keys follow.
fn search_keys(i: &[u8], depth: usize) -> PResult<'_, Vec1<SearchKey>> {
    let (i, ()) = sp(i)?;
    let (i, first) = search_key(i, depth)?;
    let (i, rest) = super::core::sp_separated(i, |_| true, |i| search_key(i, depth))?;
    let mut v = Vec1::one(first);
    for k in rest {
        v.push(k);
    }
    Ok((i, v))
}

/// `search = "SEARCH" [search-return-opts] [SP "CHARSET" SP charset] 1*(SP search-key)`
fn search(i: &[u8], uid: bool, depth: usize) -> PResult<'_, CommandBody> {
    let (i, returns) = if peek(i)? == b' ' && starts_with_kw(&i[1..], "RETURN ")? {
        let (i, ()) = super::core::keyword(&i[1..], "RETURN ")?;
        let (i, opts) = paren_list(i, false, |i| {
            let (rest, a) = atom_bytes(i)?;
            let o = [
                ("MIN", SearchReturnOption::Min),
                ("MAX", SearchReturnOption::Max),
                ("ALL", SearchReturnOption::All),
                ("COUNT", SearchReturnOption::Count),
                ("SAVE", SearchReturnOption::Save),
            ]
            .into_iter()
            .find(|(n, _)| a.eq_ignore_ascii_case(n.as_bytes()));
            match o {
                Some((_, o)) => Ok((rest, o)),
                None => fail(i, "search-return-opt"),
            }
        })?;
        (i, Some(opts))
    } else {
        (i, None)
    };
    let (i, charset) = if peek(i)? == b' ' && starts_with_kw(&i[1..], "CHARSET ")? {
        let (i, ()) = super::core::keyword(&i[1..], "CHARSET ")?;
        let (i, c) = charset(i)?;
        (i, Some(c))
    } else {
        (i, None)
    };
    let (i, criteria) = search_keys(i, depth)?;
    Ok((
        i,
        CommandBody::Search {
            returns,
            charset,
            criteria,
            uid,
        },
    ))
}

/// `sort = ["UID" SP] "SORT" SP sort-criteria SP search-criteria` (RFC 5256)
fn sort(i: &[u8], uid: bool, depth: usize) -> PResult<'_, CommandBody> {
    let (i, ()) = sp(i)?;
    let (rest, crit) = paren_list(i, false, |i| {
        let (i, reverse) = if starts_with_kw(i, "REVERSE ")? {
            (&i[8..], true)
        } else {
            (i, false)
        };
        let (rest, a) = atom_bytes(i)?;
        let key = [
            ("ARRIVAL", SortKey::Arrival),
            ("CC", SortKey::Cc),
            ("DATE", SortKey::Date),
            ("FROM", SortKey::From),
            ("SIZE", SortKey::Size),
            ("SUBJECT", SortKey::Subject),
            ("TO", SortKey::To),
            ("DISPLAYFROM", SortKey::DisplayFrom),
            ("DISPLAYTO", SortKey::DisplayTo),
        ]
        .into_iter()
        .find(|(n, _)| a.eq_ignore_ascii_case(n.as_bytes()));
        match key {
            Some((_, key)) => Ok((rest, SortCriterion { reverse, key })),
            None => fail(i, "sort-key"),
        }
    })?;
    let Ok(criteria) = Vec1::try_from(crit) else {
        return fail(i, "sort-criterion");
    };
    let (i, ()) = sp(rest)?;
    let (i, charset) = astring(i)?;
    let (i, search) = search_keys(i, depth)?;
    Ok((
        i,
        CommandBody::Sort {
            criteria,
            charset,
            search,
            uid,
        },
    ))
}

/// `thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria` (RFC 5256)
fn thread(i: &[u8], uid: bool, depth: usize) -> PResult<'_, CommandBody> {
    let (i, ()) = sp(i)?;
    let (i, alg) = atom(i)?;
    let (i, ()) = sp(i)?;
    let (i, charset) = astring(i)?;
    let (i, search) = search_keys(i, depth)?;
    Ok((
        i,
        CommandBody::Thread {
            algorithm: crate::proto::types::search::ThreadAlgorithm::from_atom(alg),
            charset,
            search,
            uid,
        },
    ))
}

/// `authenticate` continuation line: `base64 CRLF` or `"*" CRLF`.
pub(crate) fn authenticate_data(i: &[u8]) -> PResult<'_, AuthenticateData> {
    if peek(i)? == b'*' {
        let (i, ()) = crlf(&i[1..])?;
        return Ok((i, AuthenticateData::Cancel));
    }
    let (i, d) = base64(i)?;
    let (i, ()) = crlf(i)?;
    Ok((i, AuthenticateData::Continue(Secret::new(d))))
}

/// `idle-done = "DONE" CRLF` (RFC 2177).
pub(crate) fn idle_done(i: &[u8]) -> PResult<'_, ()> {
    let (i, ()) = super::core::keyword(i, "DONE")?;
    crlf(i)
}
