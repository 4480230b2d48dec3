//! Scripted compliance checks of the IMAP server over a raw TCP socket, the kind Dovecot's
//! imaptest runs: RFC 3501's own §6 examples adapted to this server's data, the pipelining
//! cases of RFC 3501 §5.5 / RFC 9051 §5.5 (EXPUNGE withheld during FETCH, STORE and SEARCH by
//! sequence number, LITERAL+, nothing run after LOGOUT) and bad input (unknown commands,
//! missing tags, overlong lines, oversized literals before login).
//!
//! A script is a list of steps, one per line:
//!
//! - `C: text` sends `text` and CRLF (`C:` alone sends CRLF);
//! - `S: pattern` expects the next response to match;
//! - `U: pattern` / `O: pattern`: a block of consecutive lines forms an unordered block:
//!   every `U:` pattern must match one response and each `O:` pattern may, in any order;
//! - `E:` expects the server to close the connection;
//! - `#` starts a comment.
//!
//! A response is matched as one logical line: a line ending in `{n}` is followed by its `n`
//! octets and the rest of the response, shown with CR and LF as `\r` and `\n` and other octets
//! outside printable ASCII as `\xNN`. Patterns: `*` any run of characters (`**` a literal `*`;
//! a pattern's leading `* ` is literal), `$name` a word (no space, parentheses, brackets,
//! braces or quotes) bound on first use and compared after, `%name` any run bound the same
//! way, `$$` / `%%` literal `$` / `%`, `<<a|b|c>>` the items `a`, `b`, `c` separated by single
//! spaces in any order (flag lists, FETCH items, STATUS items), `[[a|b]]` one of `a` or `b`,
//! and `p || q` either whole pattern. A failure panics with the whole transcript so far;
//! `RFC3501_SCRIPT_TRACE=1` prints every transcript as it goes (with `--nocapture`).

#[path = "common/imap_server.rs"]
mod imap_server;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::Duration;

use imap_server::TestServer;
use mailwire_imap::proto::server::ServerConfig;
use mailwire_imap::server::ServerOptions;
use mailwire_store::Store;

/// Time allowed for each response line.
const TIMEOUT: Duration = Duration::from_secs(10);

// ---- servers

fn options() -> ServerOptions {
    let mut o = ServerOptions::default();
    // LOGIN on the cleartext port, and no pause after the failed LOGIN of §6.2.3.
    o.session.allow_insecure_auth = true;
    o.session.auth_failure_delay = Duration::ZERO;
    o
}

/// A memory store with the three messages of `imap_server::messages` in alice's INBOX.
fn memory() -> TestServer {
    let srv = TestServer::start_with(tempfile::tempdir().unwrap(), Store::memory(), options());
    srv.deliver_all();
    srv
}

/// The same on a Maildir store.
fn maildir() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::maildir(dir.path().join("store")).unwrap();
    let srv = TestServer::start_with(dir, store, options());
    srv.deliver_all();
    srv
}

// ---- patterns

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(String),
    Any,
    /// A bound name; `true`: any run (`%name`), `false`: a word (`$name`).
    Var(String, bool),
}

type Alts = Vec<Vec<Tok>>;

fn push_lit(seq: &mut Vec<Tok>, s: &str) {
    if let Some(Tok::Lit(l)) = seq.last_mut() {
        l.push_str(s);
    } else {
        seq.push(Tok::Lit(s.to_owned()));
    }
}

fn concat(a: &Alts, b: &Alts) -> Alts {
    let mut out = Vec::new();
    for x in a {
        for y in b {
            let mut v = x.clone();
            for t in y {
                match t {
                    Tok::Lit(l) => push_lit(&mut v, l),
                    t => v.push(t.clone()),
                }
            }
            out.push(v);
        }
    }
    out
}

/// Splits `s` at `sep` outside `<<…>>` and `[[…]]`.
fn split_top<'a>(s: &'a str, sep: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let (mut depth, mut start, mut i) = (0usize, 0, 0);
    let b = s.as_bytes();
    while i < b.len() {
        let rest = &s[i..];
        if rest.starts_with("<<") || rest.starts_with("[[") {
            depth += 1;
            i += 2;
        } else if (rest.starts_with(">>") || rest.starts_with("]]")) && depth > 0 {
            depth -= 1;
            i += 2;
        } else if depth == 0 && rest.starts_with(sep) {
            out.push(&s[start..i]);
            i += sep.len();
            start = i;
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    out.push(&s[start..]);
    out
}

/// The end of the group opened at `s[0..2]` (the index of its closing pair).
fn group_end(s: &str) -> usize {
    let mut depth = 0;
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        if rest.starts_with("<<") || rest.starts_with("[[") {
            depth += 1;
            i += 2;
        } else if rest.starts_with(">>") || rest.starts_with("]]") {
            depth -= 1;
            if depth == 0 {
                return i;
            }
            i += 2;
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    panic!("unclosed group in pattern {s:?}");
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for i in 0..=p.len() {
            let mut q = p.clone();
            q.insert(i, n - 1);
            out.push(q);
        }
    }
    out
}

fn parse_seq(s: &str, top: bool) -> Alts {
    let mut alts: Alts = vec![Vec::new()];
    let mut i = 0;
    if top && s.starts_with("* ") {
        alts = vec![vec![Tok::Lit("* ".into())]];
        i = 2;
    }
    let name_len = |r: &str| {
        r.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(r.len())
    };
    while i < s.len() {
        let rest = &s[i..];
        let add = |alts: &mut Alts, t: Tok| {
            for a in alts.iter_mut() {
                match &t {
                    Tok::Lit(l) => push_lit(a, l),
                    t => a.push(t.clone()),
                }
            }
        };
        if rest.starts_with("**") || rest.starts_with("$$") || rest.starts_with("%%") {
            add(&mut alts, Tok::Lit(rest[..1].to_owned()));
            i += 2;
        } else if rest.starts_with('*') {
            add(&mut alts, Tok::Any);
            i += 1;
        } else if rest.starts_with('$') || rest.starts_with('%') {
            let n = name_len(&rest[1..]);
            assert!(n > 0, "a name must follow $ or % in {s:?}");
            add(
                &mut alts,
                Tok::Var(rest[1..=n].to_owned(), rest.starts_with('%')),
            );
            i += 1 + n;
        } else if rest.starts_with("<<") || rest.starts_with("[[") {
            let end = group_end(rest);
            let inner = &rest[2..end];
            let items: Vec<Alts> = split_top(inner, "|")
                .into_iter()
                .map(|it| parse_seq(it, false))
                .collect();
            let group: Alts = if rest.starts_with("[[") {
                items.into_iter().flatten().collect()
            } else {
                let mut g = Vec::new();
                for p in permutations(items.len()) {
                    let mut acc: Alts = vec![Vec::new()];
                    for (k, &ix) in p.iter().enumerate() {
                        if k > 0 {
                            acc = concat(&acc, &vec![vec![Tok::Lit(" ".into())]]);
                        }
                        acc = concat(&acc, &items[ix]);
                    }
                    g.extend(acc);
                }
                g
            };
            alts = concat(&alts, &group);
            i += end + 2;
        } else {
            let c = rest.chars().next().unwrap();
            add(&mut alts, Tok::Lit(c.to_string()));
            i += c.len_utf8();
        }
    }
    alts
}

fn parse_pattern(p: &str) -> Alts {
    split_top(p, " || ")
        .into_iter()
        .flat_map(|a| parse_seq(a, true))
        .collect()
}

fn is_word(c: char) -> bool {
    !matches!(c, ' ' | '(' | ')' | '[' | ']' | '{' | '}' | '"')
}

fn match_toks(toks: &[Tok], s: &str, vars: &mut HashMap<String, String>) -> bool {
    let Some((t, rest)) = toks.split_first() else {
        return s.is_empty();
    };
    match t {
        Tok::Lit(l) => s
            .strip_prefix(l.as_str())
            .is_some_and(|r| match_toks(rest, r, vars)),
        Tok::Any => (0..=s.len())
            .filter(|&i| s.is_char_boundary(i))
            .any(|i| match_toks(rest, &s[i..], vars)),
        Tok::Var(name, any) => {
            if let Some(v) = vars.get(name).cloned() {
                return s
                    .strip_prefix(v.as_str())
                    .is_some_and(|r| match_toks(rest, r, vars));
            }
            let max = if *any {
                s.len()
            } else {
                s.find(|c: char| !is_word(c)).unwrap_or(s.len())
            };
            let min = usize::from(!*any);
            for i in (min..=max).rev().filter(|&i| s.is_char_boundary(i)) {
                vars.insert(name.clone(), s[..i].to_owned());
                if match_toks(rest, &s[i..], vars) {
                    return true;
                }
                vars.remove(name);
            }
            false
        }
    }
}

/// Whether `line` matches `pattern`; binds its names in `vars` if so.
fn matches(pattern: &str, line: &str, vars: &mut HashMap<String, String>) -> bool {
    for alt in parse_pattern(pattern) {
        let mut v = vars.clone();
        if match_toks(&alt, line, &mut v) {
            *vars = v;
            return true;
        }
    }
    false
}

/// `s` as a pattern matching exactly it.
fn esc(s: &str) -> String {
    for bad in ["|", "<<", ">>", "[[", "]]"] {
        assert!(!s.contains(bad), "{s:?} cannot be escaped");
    }
    s.replace('*', "**").replace('$', "$$").replace('%', "%%")
}

/// How octets are shown in a logical line.
fn show(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for &c in b {
        match c {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            0x20..=0x7e => out.push(c as char),
            _ => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out
}

/// A pattern for a string the server may send as a literal or, when it can, quoted.
fn string(s: &str) -> String {
    let lit = format!("{{{}}}\\r\\n{}", s.len(), esc(&show(s.as_bytes())));
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        format!("[[{lit}|\"{}\"]]", esc(s))
    } else {
        lit
    }
}

/// A pattern for a mailbox name (an atom, or quoted).
fn mb(name: &str) -> String {
    format!("[[{0}|\"{0}\"]]", esc(name))
}

// ---- the connection

/// One response: its octets (literals included, the final CRLF not) and how it is shown.
#[derive(Debug, Clone)]
struct Resp {
    raw: Vec<u8>,
    text: String,
}

type Log = Rc<RefCell<Vec<String>>>;

/// A client connection that records everything in a transcript shared by the test's
/// connections.
struct Imap {
    label: String,
    w: TcpStream,
    r: BufReader<TcpStream>,
    log: Log,
    vars: HashMap<String, String>,
    back: VecDeque<Resp>,
    /// Every response read.
    history: Vec<Resp>,
}

impl Imap {
    fn connect(srv: &TestServer, label: &str, log: &Log) -> Imap {
        let w = TcpStream::connect(srv.imap).unwrap();
        w.set_read_timeout(Some(TIMEOUT)).unwrap();
        w.set_nodelay(true).unwrap();
        let r = BufReader::new(w.try_clone().unwrap());
        Imap {
            label: label.to_owned(),
            w,
            r,
            log: Rc::clone(log),
            vars: HashMap::new(),
            back: VecDeque::new(),
            history: Vec::new(),
        }
    }

    /// A connection with a transcript of its own, greeted and logged in as alice.
    fn login(srv: &TestServer) -> Imap {
        let log = Log::default();
        Imap::login_shared(srv, "", &log)
    }

    fn login_shared(srv: &TestServer, label: &str, log: &Log) -> Imap {
        let mut c = Imap::connect(srv, label, log);
        c.script(
            "S: * OK *
             C: l0 LOGIN alice secret
             S: l0 OK *",
        );
        c
    }

    fn note(&self, kind: &str, text: &str) {
        let mut t = text.to_owned();
        if t.len() > 600 {
            let mut cut = 600;
            while !t.is_char_boundary(cut) {
                cut -= 1;
            }
            t = format!("{}… ({} characters)", &t[..cut], text.len());
        }
        let prefix = if self.label.is_empty() {
            String::new()
        } else {
            format!("{} ", self.label)
        };
        let entry = format!("{prefix}{kind} {t}");
        if std::env::var_os("RFC3501_SCRIPT_TRACE").is_some() {
            eprintln!("{entry}");
        }
        self.log.borrow_mut().push(entry);
    }

    fn fail(&self, msg: &str) -> ! {
        let transcript = self.log.borrow().join("\n");
        panic!("{msg}\n---- transcript ----\n{transcript}\n---- end ----");
    }

    fn send(&mut self, bytes: &[u8]) {
        for part in bytes.split_inclusive(|&b| b == b'\n') {
            self.note("C:", &show(part));
        }
        if let Err(e) = self.w.write_all(bytes) {
            self.fail(&format!("write failed: {e}"));
        }
    }

    /// Sends `text` and CRLF.
    fn line_out(&mut self, text: &str) {
        self.send(format!("{text}\r\n").as_bytes());
    }

    fn io_fail(&self, e: &std::io::Error) -> ! {
        if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
            self.fail(&format!("no response within {TIMEOUT:?}"));
        }
        self.fail(&format!("read failed: {e}"));
    }

    /// The next response (`None`: the server closed the connection).
    fn read(&mut self) -> Option<Resp> {
        if let Some(r) = self.back.pop_front() {
            return Some(r);
        }
        let mut raw = Vec::new();
        loop {
            let mut line = Vec::new();
            match self.r.read_until(b'\n', &mut line) {
                Ok(0) if raw.is_empty() => return None,
                Ok(0) => self.fail(&format!("closed inside a response: {}", show(&raw))),
                Ok(_) => {}
                Err(e) => self.io_fail(&e),
            }
            if !line.ends_with(b"\r\n") {
                self.fail(&format!(
                    "a response line does not end in CRLF: {}",
                    show(&line)
                ));
            }
            let body = &line[..line.len() - 2];
            let n = literal_size(body);
            raw.extend_from_slice(body);
            let Some(n) = n else { break };
            raw.extend_from_slice(b"\r\n");
            let mut lit = vec![0; n];
            if let Err(e) = self.r.read_exact(&mut lit) {
                self.io_fail(&e);
            }
            raw.extend_from_slice(&lit);
        }
        let r = Resp {
            text: show(&raw),
            raw,
        };
        self.note("S:", &r.text);
        self.history.push(r.clone());
        Some(r)
    }

    fn next(&mut self, expecting: &str) -> Resp {
        match self.read() {
            Some(r) => r,
            None => self.fail(&format!(
                "the server closed the connection; expected {expecting}"
            )),
        }
    }

    fn unread(&mut self, r: Resp) {
        self.back.push_front(r);
    }

    fn expect(&mut self, pattern: &str) -> Resp {
        let r = self.next(pattern);
        let mut vars = std::mem::take(&mut self.vars);
        let ok = matches(pattern, &r.text, &mut vars);
        self.vars = vars;
        if !ok {
            self.fail(&format!("expected {pattern}\n     got {}", r.text));
        }
        r
    }

    fn expect_eof(&mut self) {
        if let Some(r) = self.read() {
            self.fail(&format!("expected the connection to close, got {}", r.text));
        }
        self.note("--", "closed by the server");
    }

    /// An unordered block: every `required` pattern matches one response, each `optional` one
    /// at most one, in any order.
    fn unordered(&mut self, required: &[String], optional: &[String]) {
        let mut req: Vec<Option<&String>> = required.iter().map(Some).collect();
        let mut opt: Vec<Option<&String>> = optional.iter().map(Some).collect();
        loop {
            let done = req.iter().all(Option::is_none);
            if done && opt.iter().all(Option::is_none) {
                return;
            }
            let r = self.next("the rest of an unordered block");
            let mut vars = std::mem::take(&mut self.vars);
            let mut hit = false;
            for slot in req.iter_mut().chain(opt.iter_mut()) {
                if let Some(p) = slot
                    && matches(p, &r.text, &mut vars)
                {
                    *slot = None;
                    hit = true;
                    break;
                }
            }
            self.vars = vars;
            if !hit {
                if done {
                    self.unread(r);
                    return;
                }
                let left: Vec<&str> = req.iter().flatten().map(|s| s.as_str()).collect();
                self.fail(&format!(
                    "unexpected {}\nstill expected (any order): {left:#?}",
                    r.text
                ));
            }
        }
    }

    /// Runs a script (see the crate documentation).
    fn script(&mut self, text: &str) {
        let mut req = Vec::new();
        let mut opt = Vec::new();
        for raw in text.lines() {
            let l = raw.trim_start();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let (kind, rest) = l.split_at(2.min(l.len()));
            let rest = rest.strip_prefix(' ').unwrap_or(rest);
            if !matches!(kind, "U:" | "O:") && (!req.is_empty() || !opt.is_empty()) {
                self.unordered(&std::mem::take(&mut req), &std::mem::take(&mut opt));
            }
            match kind {
                "C:" => self.line_out(rest),
                "S:" => {
                    self.expect(rest);
                }
                "U:" => req.push(rest.to_owned()),
                "O:" => opt.push(rest.to_owned()),
                "E:" => self.expect_eof(),
                _ => panic!("bad script line {raw:?}"),
            }
        }
        if !req.is_empty() || !opt.is_empty() {
            self.unordered(&req, &opt);
        }
    }

    /// Every response up to and including the completion tagged `tag`.
    fn until(&mut self, tag: &str) -> Vec<Resp> {
        let mut out = Vec::new();
        loop {
            let r = self.next(&format!("the completion of {tag}"));
            let done = r.text.starts_with(&format!("{tag} "));
            out.push(r);
            if done {
                return out;
            }
        }
    }

    /// Sends `tag text` and returns the responses up to its completion, which must be OK.
    fn ok(&mut self, tag: &str, text: &str) -> Vec<Resp> {
        self.line_out(&format!("{tag} {text}"));
        let out = self.until(tag);
        if !out.last().unwrap().text.starts_with(&format!("{tag} OK")) {
            self.fail(&format!("{tag} {text} did not complete with OK"));
        }
        out
    }

    /// Whether `text` matches `pattern`, binding its names for later steps.
    fn bind(&mut self, pattern: &str, text: &str) -> bool {
        let mut vars = std::mem::take(&mut self.vars);
        let ok = matches(pattern, text, &mut vars);
        self.vars = vars;
        ok
    }

    fn var(&self, name: &str) -> String {
        match self.vars.get(name) {
            Some(v) => v.clone(),
            None => self.fail(&format!("${name} is not bound")),
        }
    }

    fn var_u32(&self, name: &str) -> u32 {
        let v = self.var(name);
        v.parse()
            .unwrap_or_else(|_| self.fail(&format!("${name} = {v:?} is not a number")))
    }

    fn check(&self, ok: bool, msg: &str) {
        if !ok {
            self.fail(msg);
        }
    }

    /// `(seq, uid)` of every message of the selected mailbox.
    fn uids(&mut self, tag: &str) -> Vec<u32> {
        let out = self.ok(tag, "FETCH 1:* (UID)");
        let mut uids = Vec::new();
        for r in &out[..out.len() - 1] {
            let Some((seq, items)) = fetch_items(&r.raw) else {
                self.fail(&format!("not a FETCH response: {}", r.text));
            };
            self.check(
                seq as usize == uids.len() + 1,
                "FETCH 1:* answers in sequence order",
            );
            uids.push(item_u32(&items, "UID").unwrap_or_else(|| self.fail("no UID")));
        }
        uids
    }

    /// APPENDs `msg` with a synchronising literal (`args`: flags and date, may be empty) and
    /// returns the tagged completion.
    fn append_sync(&mut self, tag: &str, mailbox: &str, args: &str, msg: &str) -> Resp {
        let sp = if args.is_empty() { "" } else { " " };
        self.line_out(&format!(
            "{tag} APPEND {mailbox}{sp}{args} {{{}}}",
            msg.len()
        ));
        self.expect("+ *");
        self.send(msg.as_bytes());
        self.send(b"\r\n");
        self.until(tag).pop().unwrap()
    }

    /// APPENDs with a non-synchronising literal (LITERAL+); the completion must be OK.
    fn append(&mut self, tag: &str, mailbox: &str, args: &str, msg: &str) -> Vec<Resp> {
        let sp = if args.is_empty() { "" } else { " " };
        self.send(
            format!(
                "{tag} APPEND {mailbox}{sp}{args} {{{}+}}\r\n{msg}\r\n",
                msg.len()
            )
            .as_bytes(),
        );
        let out = self.until(tag);
        if !out.last().unwrap().text.starts_with(&format!("{tag} OK")) {
            self.fail(&format!("APPEND {tag} failed"));
        }
        out
    }
}

/// The size of the literal announced at the end of a response line (`{n}` or `~{n}`).
fn literal_size(line: &[u8]) -> Option<usize> {
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let digits = &body[open + 1..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

// ---- reading responses apart

/// Reads one value at `i`: a parenthesised list (returned whole), a quoted string or a
/// literal (returned as its content), or an atom; returns it and the index after it.
fn value(b: &[u8], mut i: usize) -> Option<(Vec<u8>, usize)> {
    match *b.get(i)? {
        b'(' => {
            let start = i;
            let mut depth = 0;
            loop {
                match *b.get(i)? {
                    b'(' => {
                        depth += 1;
                        i += 1;
                    }
                    b')' => {
                        depth -= 1;
                        i += 1;
                        if depth == 0 {
                            return Some((b[start..i].to_vec(), i));
                        }
                    }
                    b'"' | b'{' | b'~' => {
                        let (_, j) = value(b, i)?;
                        i = j;
                    }
                    _ => i += 1,
                }
            }
        }
        b'"' => {
            let mut out = Vec::new();
            i += 1;
            loop {
                match *b.get(i)? {
                    b'\\' => {
                        out.push(*b.get(i + 1)?);
                        i += 2;
                    }
                    b'"' => return Some((out, i + 1)),
                    c => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
        }
        b'{' | b'~' => {
            let open = i + usize::from(b[i] == b'~');
            let close = open + b[open..].iter().position(|&c| c == b'}')?;
            let n: usize = std::str::from_utf8(&b[open + 1..close])
                .ok()?
                .parse()
                .ok()?;
            let start = close + 3;
            Some((b.get(start..start + n)?.to_vec(), start + n))
        }
        _ => {
            let end = b[i..]
                .iter()
                .position(|&c| c == b' ' || c == b')')
                .map_or(b.len(), |p| i + p);
            Some((b[i..end].to_vec(), end))
        }
    }
}

type Items = Vec<(String, Vec<u8>)>;

/// `* n FETCH (name value ...)`: `n` and the items (names upper-cased).
fn fetch_items(raw: &[u8]) -> Option<(u32, Items)> {
    let rest = raw.strip_prefix(b"* ")?;
    let sp = rest.iter().position(|&c| c == b' ')?;
    let seq: u32 = std::str::from_utf8(&rest[..sp]).ok()?.parse().ok()?;
    let b = rest[sp..].strip_prefix(b" FETCH (")?;
    let mut items = Vec::new();
    let mut i = 0;
    loop {
        // The name: up to a space, with any [section] (which may hold spaces) and <origin>.
        let start = i;
        while *b.get(i)? != b' ' {
            if b[i] == b'[' {
                i += b[i..].iter().position(|&c| c == b']')?;
            }
            i += 1;
        }
        let name = String::from_utf8_lossy(&b[start..i]).to_ascii_uppercase();
        let (v, j) = value(b, i + 1)?;
        items.push((name, v));
        match *b.get(j)? {
            b' ' => i = j + 1,
            b')' if j + 1 == b.len() => return Some((seq, items)),
            _ => return None,
        }
    }
}

fn item<'a>(items: &'a Items, name: &str) -> Option<&'a [u8]> {
    items
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_slice())
}

fn item_u32(items: &Items, name: &str) -> Option<u32> {
    std::str::from_utf8(item(items, name)?).ok()?.parse().ok()
}

/// The flags of a parenthesised list.
fn flag_set(list: &[u8]) -> BTreeSet<String> {
    let s = String::from_utf8_lossy(list);
    s.trim_start_matches('(')
        .trim_end_matches(')')
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// A parenthesised value as a tree: strings (quoted or literal, the same), NIL, atoms.
#[derive(Debug, Clone, PartialEq)]
enum Sexp {
    List(Vec<Sexp>),
    Str(Vec<u8>),
    Nil,
    Atom(String),
}

fn sexp(b: &[u8]) -> Option<Sexp> {
    fn one(b: &[u8], i: usize) -> Option<(Sexp, usize)> {
        match *b.get(i)? {
            b'(' => {
                let mut items = Vec::new();
                let mut i = i + 1;
                loop {
                    match *b.get(i)? {
                        b')' => return Some((Sexp::List(items), i + 1)),
                        b' ' => i += 1,
                        _ => {
                            let (x, j) = one(b, i)?;
                            items.push(x);
                            i = j;
                        }
                    }
                }
            }
            b'"' | b'{' | b'~' => {
                let (v, j) = value(b, i)?;
                Some((Sexp::Str(v), j))
            }
            _ => {
                let (v, j) = value(b, i)?;
                let a = String::from_utf8(v).ok()?;
                Some((
                    if a.eq_ignore_ascii_case("NIL") {
                        Sexp::Nil
                    } else {
                        Sexp::Atom(a)
                    },
                    j,
                ))
            }
        }
    }
    let (x, end) = one(b, 0)?;
    (end == b.len()).then_some(x)
}

/// A tree written with strings quoted; `lower` compares strings case-insensitively.
fn norm(x: &Sexp, lower: bool) -> String {
    match x {
        Sexp::List(v) => format!(
            "({})",
            v.iter()
                .map(|x| norm(x, lower))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Sexp::Str(s) => {
            let s = String::from_utf8_lossy(s);
            format!(
                "{:?}",
                if lower {
                    s.to_lowercase()
                } else {
                    s.into_owned()
                }
            )
        }
        Sexp::Nil => "NIL".into(),
        Sexp::Atom(a) => a.clone(),
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A LIST or LSUB response: its attributes, delimiter and name.
fn list_entry(raw: &[u8], kind: &str) -> Option<(BTreeSet<String>, Option<u8>, String)> {
    let b = raw.strip_prefix(format!("* {kind} ").as_bytes())?;
    let (attrs, i) = value(b, 0)?;
    let b = b.get(i + 1..)?;
    let (delim, rest) = if let Some(r) = b.strip_prefix(b"NIL ") {
        (None, r)
    } else {
        let (d, j) = value(b, 0)?;
        (Some(*d.first()?), b.get(j + 1..)?)
    };
    let (name, end) = value(rest, 0)?;
    if end != rest.len() {
        return None;
    }
    Some((
        flag_set(&attrs),
        delim,
        String::from_utf8_lossy(&name).into_owned(),
    ))
}

/// The LIST (or LSUB) entries among `out`, by name.
fn entries(c: &Imap, out: &[Resp], kind: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut m = BTreeMap::new();
    for r in &out[..out.len() - 1] {
        let Some((attrs, delim, name)) = list_entry(&r.raw, kind) else {
            c.fail(&format!("not a {kind} response: {}", r.text));
        };
        c.check(delim == Some(b'/'), "the hierarchy delimiter is /");
        c.check(
            m.insert(name.clone(), attrs).is_none(),
            &format!("{name} listed twice"),
        );
    }
    m
}

/// Checks a LIST/LSUB answer against `want`: each `"name \\attr \\attr"` names a mailbox that
/// must be listed, with `\Noselect` exactly when given; `\HasChildren` / `\HasNoChildren`, when
/// the server sends one, must be the one given. No other name may be listed.
fn check_list(c: &Imap, out: &[Resp], kind: &str, want: &[&str]) {
    let got = entries(c, out, kind);
    let mut names = BTreeSet::new();
    for w in want {
        let (name, attrs) = w.find(" \\").map_or((*w, ""), |i| (&w[..i], &w[i + 1..]));
        let attrs: BTreeSet<String> = attrs.split_whitespace().map(str::to_owned).collect();
        names.insert(name.to_owned());
        let Some(have) = got.get(name) else {
            c.fail(&format!("{kind} does not list {name}"));
        };
        let lower = |s: &BTreeSet<String>| -> BTreeSet<String> {
            s.iter().map(|a| a.to_ascii_lowercase()).collect()
        };
        let (have, attrs) = (lower(have), lower(&attrs));
        c.check(
            have.contains("\\noselect") == attrs.contains("\\noselect"),
            &format!(
                "{name}: \\Noselect must be {}",
                attrs.contains("\\noselect")
            ),
        );
        for (a, other) in [
            ("\\haschildren", "\\hasnochildren"),
            ("\\hasnochildren", "\\haschildren"),
        ] {
            if attrs.contains(a) {
                c.check(
                    !have.contains(other),
                    &format!("{name} must not be {other}"),
                );
            }
        }
    }
    let extra: Vec<&String> = got.keys().filter(|n| !names.contains(*n)).collect();
    c.check(
        extra.is_empty(),
        &format!("{kind} lists unexpected names {extra:?}"),
    );
}

/// `STATUS` items of `* STATUS name (K v K v)`, upper-cased.
fn status_items(c: &Imap, r: &Resp) -> BTreeMap<String, u64> {
    let b = &r.raw;
    let Some(open) = b.iter().rposition(|&x| x == b'(') else {
        c.fail(&format!("not a STATUS response: {}", r.text));
    };
    let inner = String::from_utf8_lossy(&b[open + 1..b.len() - 1]).into_owned();
    let words: Vec<&str> = inner.split_whitespace().collect();
    let mut m = BTreeMap::new();
    for pair in words.chunks(2) {
        let [k, v] = pair else {
            c.fail(&format!("odd STATUS items: {}", r.text));
        };
        let Ok(v) = v.parse() else {
            c.fail(&format!("STATUS value {v} is not a number"));
        };
        m.insert(k.to_ascii_uppercase(), v);
    }
    m
}

fn status(c: &mut Imap, tag: &str, mailbox: &str, items: &str) -> BTreeMap<String, u64> {
    let out = c.ok(tag, &format!("STATUS {mailbox} ({items})"));
    c.check(
        out.len() == 2,
        "STATUS: exactly one untagged STATUS response",
    );
    c.check(
        matches(
            &format!("* STATUS {} (*)", mb(mailbox)),
            &out[0].text,
            &mut HashMap::new(),
        ),
        "an untagged STATUS response for the mailbox",
    );
    let m = status_items(c, &out[0]);
    let asked: BTreeSet<String> = items.split(' ').map(|s| s.to_ascii_uppercase()).collect();
    c.check(
        m.keys().cloned().collect::<BTreeSet<_>>() == asked,
        "STATUS returns exactly the items asked for",
    );
    m
}

/// An IMAP date-time (`dd-Mon-yyyy hh:mm:ss +zzzz`) as seconds since the epoch.
fn instant(s: &str) -> i64 {
    let s = s.trim();
    let parts: Vec<&str> = s.split(' ').collect();
    let [date, time, zone] = parts[..] else {
        panic!("bad date-time {s:?}")
    };
    let d: Vec<&str> = date.split('-').collect();
    let day: i64 = d[0].trim().parse().unwrap();
    let months = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let month = months
        .iter()
        .position(|m| m.eq_ignore_ascii_case(d[1]))
        .unwrap() as i64
        + 1;
    let year: i64 = d[2].parse().unwrap();
    let t: Vec<i64> = time.split(':').map(|x| x.parse().unwrap()).collect();
    let z: i64 = zone[1..].parse().unwrap();
    let z = (z / 100 * 60 + z % 100) * if zone.starts_with('-') { -1 } else { 1 };
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2] - z * 60
}

/// The client's view of the selected mailbox: the UID at each sequence number, `None` when
/// not learnt. Applies EXISTS, EXPUNGE and FETCH as RFC 3501 §7.3.1 / §7.4 define them.
struct View(Vec<Option<u32>>);

impl View {
    fn apply(&mut self, r: &Resp) -> Result<(), String> {
        let t = &r.text;
        let Some(rest) = t.strip_prefix("* ") else {
            return Ok(());
        };
        let mut w = rest.splitn(3, ' ');
        let (Some(n), Some(kind)) = (w.next(), w.next()) else {
            return Ok(());
        };
        let Ok(n) = n.parse::<usize>() else {
            return Ok(());
        };
        match kind {
            "EXISTS" => {
                if n < self.0.len() {
                    return Err(format!(
                        "{t}: EXISTS below {} without EXPUNGE",
                        self.0.len()
                    ));
                }
                self.0.resize(n, None);
            }
            "EXPUNGE" => {
                if n == 0 || n > self.0.len() {
                    return Err(format!("{t}: no message {n} to expunge"));
                }
                self.0.remove(n - 1);
            }
            "FETCH" => {
                if n == 0 || n > self.0.len() {
                    return Err(format!("{t}: message {n} is not known to the client"));
                }
                if let Some((_, items)) = fetch_items(&r.raw)
                    && let Some(uid) = item_u32(&items, "UID")
                {
                    match self.0[n - 1] {
                        Some(u) if u != uid => {
                            return Err(format!("{t}: message {n} has UID {u}, not {uid}"));
                        }
                        _ => self.0[n - 1] = Some(uid),
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

// ---- messages

/// RFC 3501 §6.3.11's example message (310 octets).
const RFC_MSG: &str = "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n\
From: Fred Foobar <foobar@Blurdybloop.COM>\r\n\
Subject: afternoon meeting\r\n\
To: mooch@owatagu.siam.edu\r\n\
Message-Id: <B27397-0100000@Blurdybloop.COM>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\
\r\n\
Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";

fn small(n: usize) -> String {
    format!("From: n{n}@example.com\r\nSubject: message {n}\r\n\r\nbody {n}\r\n")
}

/// Runs a check on a memory store and on a Maildir store, each on a fresh server.
macro_rules! both_stores {
    ($(#[doc = $doc:literal])* $name:ident) => {
        mod $name {
            $(#[doc = $doc])*
            #[test]
            fn memory() {
                super::$name(&super::memory());
            }
            $(#[doc = $doc])*
            #[test]
            fn maildir() {
                super::$name(&super::maildir());
            }
        }
    };
}

// ==== 1. RFC 3501 §6 examples

both_stores!(
    /// §6.1.1 CAPABILITY, §6.1.2 NOOP, §6.1.3 LOGOUT.
    any_state_commands
);

fn any_state_commands(srv: &TestServer) {
    let log = Log::default();
    let mut c = Imap::connect(srv, "", &log);
    c.script("S: * OK *");
    // §6.1.1: a single untagged CAPABILITY with IMAP4rev1, then OK.
    c.script(
        "C: abcd CAPABILITY
         S: * CAPABILITY *
         S: abcd OK *",
    );
    let caps = capabilities(&c);
    c.check(
        caps.iter().any(|x| x.eq_ignore_ascii_case("IMAP4rev1")),
        "IMAP4rev1 is listed",
    );
    c.check(
        caps.iter().any(|x| x.eq_ignore_ascii_case("STARTTLS")),
        "STARTTLS is offered on the cleartext port with TLS configured",
    );
    c.check(
        !caps.iter().any(|x| x.eq_ignore_ascii_case("LOGINDISABLED")),
        "LOGIN is allowed here (allow_insecure_auth)",
    );
    // §6.1.2 NOOP in every state; §6.1.3 LOGOUT: BYE, the tagged OK, then the close.
    c.script(
        "C: a002 NOOP
         S: a002 OK *
         C: a003 LOGIN alice secret
         S: a003 OK *
         C: a004 NOOP
         S: a004 OK *
         C: a005 CAPABILITY
         S: * CAPABILITY *
         S: a005 OK *",
    );
    let caps = capabilities(&c);
    c.check(
        caps.iter().any(|x| x.eq_ignore_ascii_case("IMAP4rev1")),
        "IMAP4rev1 is listed after login",
    );
    c.check(
        !caps.iter().any(|x| x.eq_ignore_ascii_case("STARTTLS")),
        "no STARTTLS after login (RFC 3501 §6.2.1: only in the not authenticated state)",
    );
    c.ok("a006", "SELECT INBOX");
    c.script(
        "C: a007 NOOP
         S: a007 OK *
         C: A023 LOGOUT
         S: * BYE *
         S: A023 OK *
         E:",
    );
}

/// The items of the last CAPABILITY response.
fn capabilities(c: &Imap) -> Vec<String> {
    let r = c
        .history
        .iter()
        .rev()
        .find(|r| r.text.starts_with("* CAPABILITY "))
        .unwrap_or_else(|| c.fail("no CAPABILITY response"));
    r.text["* CAPABILITY ".len()..]
        .split(' ')
        .map(str::to_owned)
        .collect()
}

both_stores!(
    /// §6.2.3 LOGIN: a wrong password, quoted strings and synchronising literals, LOGIN in
    /// the wrong state; commands that need login refused before it.
    login
);

fn login(srv: &TestServer) {
    let log = Log::default();
    let mut c = Imap::connect(srv, "", &log);
    c.script(
        r#"S: * OK *
           C: a000 SELECT INBOX
           S: a000 [[BAD|NO]] *
           C: a001 LOGIN alice wrongpassword
           S: a001 NO *
           C: a002 LOGIN "alice" {6}
           S: + *
           C: secret
           S: a002 OK *
           C: a003 LOGIN alice secret
           S: a003 [[BAD|NO]] *
           C: a004 NOOP
           S: a004 OK *
           C: a005 LOGOUT
           S: * BYE *
           S: a005 OK *
           E:"#,
    );
    let mut c = Imap::connect(srv, "", &log);
    c.script(
        r#"S: * OK *
           C: b001 LOGIN {5}
           S: + *
           C: alice "secret"
           S: b001 OK *
           C: b002 LOGOUT
           S: * BYE *
           S: b002 OK *
           E:"#,
    );
}

both_stores!(
    /// §6.3.1 SELECT and §6.3.2 EXAMINE: the required untagged data, READ-WRITE and
    /// READ-ONLY, EXAMINE not setting `\Seen`, a failed SELECT leaving nothing selected.
    select_examine
);

fn select_examine(srv: &TestServer) {
    let mut c = Imap::login(srv);
    let flags = r"<<\Answered|\Flagged|\Deleted|\Seen|\Draft>>";
    let perm = r"[[<<\Answered|\Flagged|\Deleted|\Seen|\Draft|\**>>|<<\Answered|\Flagged|\Deleted|\Seen|\Draft>>]]";
    c.script(&format!(
        r"C: A142 SELECT INBOX
          U: * FLAGS ({flags})
          U: * 3 EXISTS
          U: * $recent RECENT
          U: * OK [UIDVALIDITY $uv] *
          U: * OK [UIDNEXT $next] *
          U: * OK [PERMANENTFLAGS ({perm})] *
          O: * OK [UNSEEN 1] *
          O: * OK [HIGHESTMODSEQ *] *
          S: A142 OK [READ-WRITE] *"
    ));
    let uids = c.uids("A143");
    c.check(uids.len() == 3, "three messages");
    c.check(
        uids.windows(2).all(|w| w[0] < w[1]),
        "UIDs ascend with sequence numbers (RFC 3501 §2.3.1.1)",
    );
    c.check(
        c.var_u32("next") > *uids.last().unwrap(),
        "UIDNEXT is above every UID",
    );
    c.check(c.var_u32("uv") > 0, "UIDVALIDITY is non-zero");
    // EXAMINE: the same data, PERMANENTFLAGS empty if sent, READ-ONLY; the old mailbox is
    // closed first (an OK [CLOSED] may say so).
    c.script(&format!(
        r"C: A932 EXAMINE INBOX
          O: * OK [CLOSED] *
          U: * FLAGS ({flags})
          U: * 3 EXISTS
          U: * $recent2 RECENT
          U: * OK [UIDVALIDITY $uv] *
          U: * OK [UIDNEXT $next] *
          O: * OK [PERMANENTFLAGS ()] *
          O: * OK [UNSEEN 1] *
          O: * OK [HIGHESTMODSEQ *] *
          S: A932 OK [READ-ONLY] *
          # §6.3.2: no permanent change of state, \Seen included.
          C: A933 FETCH 1 (BODY[TEXT])
          S: * 1 FETCH (BODY[TEXT] {})
          S: A933 OK *
          C: A934 FETCH 1 FLAGS
          S: * 1 FETCH (FLAGS ())
          S: A934 OK *
          C: A935 STORE 1 +FLAGS (\Deleted)
          S: A935 [[NO|BAD]] *
          C: A936 CLOSE
          S: A936 OK *
          # Nothing is expunged by CLOSE of a read-only mailbox.
          C: A937 SELECT inbox
          U: * FLAGS ({flags})
          U: * 3 EXISTS
          U: * $recent3 RECENT
          U: * OK [UIDVALIDITY $uv] *
          U: * OK [UIDNEXT $next] *
          U: * OK [PERMANENTFLAGS ({perm})] *
          O: * OK [UNSEEN 1] *
          O: * OK [HIGHESTMODSEQ *] *
          S: A937 OK [READ-WRITE] *
          # A SELECT that fails leaves no mailbox selected.
          C: A938 SELECT nosuchbox
          O: * OK [CLOSED] *
          S: A938 NO *
          C: A939 FETCH 1 FLAGS
          S: A939 [[BAD|NO]] *",
        string("Hello there\r\n")
    ));
}

/// The mailboxes every new user has, as `check_list` wants them.
const DEFAULT_BOXES: [&str; 6] = [
    "INBOX \\HasNoChildren",
    "Sent \\HasNoChildren",
    "Drafts \\HasNoChildren",
    "Trash \\HasNoChildren",
    "Junk \\HasNoChildren",
    "Archive \\HasNoChildren",
];

fn list_all(c: &mut Imap, tag: &str, want: &[&str]) {
    let out = c.ok(tag, r#"LIST "" *"#);
    let mut all: Vec<&str> = DEFAULT_BOXES.to_vec();
    all.extend_from_slice(want);
    check_list(c, &out, "LIST", &all);
}

both_stores!(
    /// §6.3.3 CREATE (a trailing delimiter, a hierarchy, INBOX and existing names refused),
    /// §6.3.4 DELETE (RFC 3501's two examples: `\Noselect` parents, messages gone, the
    /// UIDVALIDITY rule of §2.3.1.1 for a re-created name), §6.3.5 RENAME (children move;
    /// INBOX's messages move and INBOX stays).
    create_delete_rename
);

fn create_delete_rename(srv: &TestServer) {
    let mut c = Imap::login(srv);
    // §6.3.3.
    c.script(
        r#"C: A003 CREATE owatagusiam/
           S: A003 OK *
           C: A004 CREATE owatagusiam/blurdybloop
           S: A004 OK *
           C: A005 CREATE owatagusiam/blurdybloop
           S: A005 NO *
           C: A006 CREATE INBOX
           S: A006 NO *
           C: A007 CREATE inbox
           S: A007 NO *"#,
    );
    let out = c.ok("A008", r#"LIST "" owatagusiam/%"#);
    check_list(
        &c,
        &out,
        "LIST",
        &["owatagusiam/blurdybloop \\HasNoChildren"],
    );
    let out = c.ok("A009", r#"LIST "" owatagusiam"#);
    let got = entries(&c, &out, "LIST");
    c.check(
        got.get("owatagusiam")
            .is_some_and(|a| !a.contains("\\HasNoChildren")),
        "owatagusiam is listed and has children",
    );
    // §6.3.4, the first example: foo exists only as the parent of foo/bar.
    c.ok("A680", "CREATE blurdybloop");
    c.ok("A681", "CREATE foo/bar");
    c.ok("A690", "DELETE owatagusiam/blurdybloop");
    c.ok("A691", "DELETE owatagusiam");
    list_all(
        &mut c,
        "A682",
        &[
            "blurdybloop \\HasNoChildren",
            "foo \\Noselect \\HasChildren",
            "foo/bar \\HasNoChildren",
        ],
    );
    c.script(
        r#"C: A683 DELETE blurdybloop
           S: A683 OK *
           C: A684 DELETE foo
           S: A684 NO *
           C: A685 DELETE foo/bar
           S: A685 OK *
           C: A685b DELETE nosuchbox
           S: A685b NO *
           C: A685c DELETE INBOX
           S: A685c NO *"#,
    );
    // foo may stay as a \Noselect name or go: never selectable.
    let out = c.ok("A686", r#"LIST "" *"#);
    let got = entries(&c, &out, "LIST");
    c.check(
        !got.contains_key("blurdybloop") && !got.contains_key("foo/bar"),
        "the deleted names are gone",
    );
    c.check(
        got.get("foo").is_none_or(|a| a.contains("\\Noselect")),
        "foo is not selectable",
    );
    // The second example: foo is a real mailbox with messages.
    c.ok("A80", "CREATE foo");
    c.ok("A81", "CREATE foo/bar");
    let out = c.append("A81b", "foo", "", &small(1));
    let ok = c.bind(
        "A81b OK [APPENDUID $uv1 $uid1] *",
        &out.last().unwrap().text,
    );
    c.check(ok, "APPENDUID (UIDPLUS is advertised)");
    list_all(
        &mut c,
        "A82",
        &["foo \\HasChildren", "foo/bar \\HasNoChildren"],
    );
    c.ok("A83", "DELETE foo");
    list_all(
        &mut c,
        "A84",
        &["foo \\Noselect \\HasChildren", "foo/bar \\HasNoChildren"],
    );
    c.script(
        "C: A85 SELECT foo
         S: A85 NO *
         C: A86 STATUS foo (MESSAGES)
         S: A86 NO *",
    );
    // Re-created: no messages, and either a new UIDVALIDITY or UIDs never used before.
    c.ok("A87", "CREATE foo");
    let st = status(&mut c, "A88", "foo", "MESSAGES UIDVALIDITY UIDNEXT");
    c.check(st["MESSAGES"] == 0, "DELETE removed foo's messages");
    let out = c.append("A89", "foo", "", &small(2));
    let ok = c.bind("A89 OK [APPENDUID $uv2 $uid2] *", &out.last().unwrap().text);
    c.check(ok, "APPENDUID");
    c.check(
        c.var("uv1") != c.var("uv2") || c.var_u32("uid2") > c.var_u32("uid1"),
        "RFC 3501 §2.3.1.1: a re-created mailbox gets a new UIDVALIDITY or new UIDs",
    );
    c.check(
        u64::from(c.var_u32("uv2")) == st["UIDVALIDITY"],
        "APPENDUID names the mailbox's UIDVALIDITY",
    );
    c.ok("A90", "DELETE foo/bar");
    c.ok("A91", "DELETE foo");

    // §6.3.5: the example.
    c.ok("R680", "CREATE blurdybloop");
    c.ok("R681", "CREATE foo/bar");
    c.append("R681b", "foo/bar", "", &small(3));
    c.script(
        "C: R683 RENAME blurdybloop sarasoop
         S: R683 OK *
         C: R684 RENAME foo zowie
         S: R684 OK *",
    );
    list_all(
        &mut c,
        "R685",
        &[
            "sarasoop \\HasNoChildren",
            "zowie \\Noselect \\HasChildren",
            "zowie/bar \\HasNoChildren",
        ],
    );
    let st = status(&mut c, "R686", "zowie/bar", "MESSAGES");
    c.check(st["MESSAGES"] == 1, "the message moved with zowie/bar");
    c.script(
        "C: R687 RENAME nosuchbox other
         S: R687 NO *
         C: R688 RENAME sarasoop zowie/bar
         S: R688 NO *",
    );
    // Renaming INBOX moves its messages to the new name; INBOX stays, empty.
    c.ok("R689", "RENAME INBOX old-mail");
    let st = status(&mut c, "R690", "old-mail", "MESSAGES");
    c.check(st["MESSAGES"] == 3, "INBOX's messages are in old-mail");
    let st = status(&mut c, "R691", "INBOX", "MESSAGES");
    c.check(st["MESSAGES"] == 0, "INBOX is empty after RENAME");
    c.script(
        "C: R692 SELECT INBOX
         U: * 0 EXISTS
         O: * OK [CLOSED] *
         O: * FLAGS *
         O: * * RECENT
         O: * OK [UIDVALIDITY *] *
         O: * OK [UIDNEXT *] *
         O: * OK [PERMANENTFLAGS *] *
         O: * OK [HIGHESTMODSEQ *] *
         S: R692 OK [READ-WRITE] *",
    );
}

both_stores!(
    /// §6.3.6 SUBSCRIBE, §6.3.7 UNSUBSCRIBE, §6.3.8 LIST (`""` for the delimiter, `%` and
    /// `*`, a reference name, INBOX in any case), §6.3.9 LSUB (the `%` rule for a parent
    /// whose child alone is subscribed; subscriptions outlive their mailbox).
    subscribe_list_lsub
);

fn subscribe_list_lsub(srv: &TestServer) {
    let mut c = Imap::login(srv);
    // §6.3.8: the delimiter and the root.
    c.script(
        r#"C: A101 LIST "" ""
           S: * LIST (\Noselect) "/" ""
           S: A101 OK *"#,
    );
    c.ok("a1", "CREATE news/comp/mail/mime");
    c.ok("a2", "CREATE news/comp/mail/misc");
    c.ok("a3", "CREATE news/sci");
    c.ok("a4", "CREATE foo");
    let out = c.ok("A102", r#"LIST "" %"#);
    let mut top: Vec<&str> = DEFAULT_BOXES.to_vec();
    top.extend(["news \\Noselect \\HasChildren", "foo \\HasNoChildren"]);
    check_list(&c, &out, "LIST", &top);
    let out = c.ok("A103", r#"LIST "" news/%"#);
    check_list(
        &c,
        &out,
        "LIST",
        &[
            "news/comp \\Noselect \\HasChildren",
            "news/sci \\HasNoChildren",
        ],
    );
    let out = c.ok("A104", r#"LIST "news/" comp/mail/*"#);
    check_list(
        &c,
        &out,
        "LIST",
        &[
            "news/comp/mail/mime \\HasNoChildren",
            "news/comp/mail/misc \\HasNoChildren",
        ],
    );
    let out = c.ok("A105", r#"LIST "" n*"#);
    check_list(
        &c,
        &out,
        "LIST",
        &[
            "news \\Noselect \\HasChildren",
            "news/comp \\Noselect \\HasChildren",
            "news/comp/mail \\Noselect \\HasChildren",
            "news/comp/mail/mime \\HasNoChildren",
            "news/comp/mail/misc \\HasNoChildren",
            "news/sci \\HasNoChildren",
        ],
    );
    let out = c.ok("A106", r#"LIST "" %/%"#);
    check_list(
        &c,
        &out,
        "LIST",
        &[
            "news/comp \\Noselect \\HasChildren",
            "news/sci \\HasNoChildren",
        ],
    );
    let out = c.ok("A107", r#"LIST "" inbox"#);
    check_list(&c, &out, "LIST", &["INBOX \\HasNoChildren"]);
    let out = c.ok("A108", r#"LIST "" nosuchbox"#);
    check_list(&c, &out, "LIST", &[]);
    // RFC 3501 §5.1.3: names in modified UTF-7 come back as sent; a name with a space is a
    // quoted string.
    c.ok("A109", "CREATE Entw&APw-rfe");
    c.ok("A110", r#"CREATE "two words""#);
    let out = c.ok("A111", r#"LIST "" Entw*"#);
    check_list(&c, &out, "LIST", &["Entw&APw-rfe \\HasNoChildren"]);
    let out = c.ok("A112", r#"LIST "" "two words""#);
    check_list(&c, &out, "LIST", &["two words \\HasNoChildren"]);

    // §6.3.6 / §6.3.7 / §6.3.9.
    c.ok("A002", "SUBSCRIBE news/comp/mail/mime");
    c.ok("A003", "SUBSCRIBE news/comp/mail/misc");
    c.ok("A004", "SUBSCRIBE foo");
    let out = c.ok("A005", r#"LSUB "news/" comp/mail/*"#);
    check_list(
        &c,
        &out,
        "LSUB",
        &["news/comp/mail/mime", "news/comp/mail/misc"],
    );
    c.ok("A006", "UNSUBSCRIBE news/comp/mail/misc");
    let out = c.ok("A007", r#"LSUB "" *"#);
    check_list(&c, &out, "LSUB", &["news/comp/mail/mime", "foo"]);
    // LIST still lists the unsubscribed one.
    let out = c.ok("A008", r#"LIST "" news/comp/mail/*"#);
    check_list(
        &c,
        &out,
        "LIST",
        &[
            "news/comp/mail/mime \\HasNoChildren",
            "news/comp/mail/misc \\HasNoChildren",
        ],
    );
}

both_stores!(
    /// RFC 3501 §6.3.9: with `news/comp/mail/mime` subscribed and `news/comp/mail` not,
    /// `LSUB "" news/comp/%` returns `news/comp/mail` flagged `\Noselect`.
    lsub_percent_returns_the_parent_of_a_subscribed_name
);

fn lsub_percent_returns_the_parent_of_a_subscribed_name(srv: &TestServer) {
    let mut c = Imap::login(srv);
    c.ok("a1", "CREATE news/comp/mail/mime");
    c.ok("a2", "SUBSCRIBE news/comp/mail/mime");
    // "A "%" wildcard to LSUB must return foo, not foo/bar, in the LSUB response, and it
    // MUST be flagged with the \Noselect attribute" (foo/bar subscribed, foo not).
    let out = c.ok("A009", r#"LSUB "" news/comp/%"#);
    check_list(&c, &out, "LSUB", &["news/comp/mail \\Noselect"]);
}

both_stores!(
    /// RFC 3501 §6.3.6: a subscription outlives its mailbox, and LSUB (§6.3.9) returns it.
    lsub_keeps_the_subscription_of_a_deleted_mailbox
);

fn lsub_keeps_the_subscription_of_a_deleted_mailbox(srv: &TestServer) {
    let mut c = Imap::login(srv);
    c.ok("a1", "CREATE foo");
    c.ok("a2", "SUBSCRIBE foo");
    let out = c.ok("a3", r#"LSUB "" foo"#);
    check_list(&c, &out, "LSUB", &["foo"]);
    // The server "MUST NOT unilaterally remove an existing mailbox name from the
    // subscription list even if a mailbox by that name no longer exists" (§6.3.6); LSUB
    // "returns a subset of names from the set of names that the user has declared as being
    // "active" or "subscribed"" (§6.3.9).
    c.ok("a4", "DELETE foo");
    let out = c.ok("a5", r#"LSUB "" foo"#);
    let got = entries(&c, &out, "LSUB");
    c.check(
        got.contains_key("foo"),
        "LSUB still returns the subscribed name foo after DELETE foo",
    );
}

both_stores!(
    /// §6.3.10 STATUS (items in any order, the values agreeing with SELECT) and §6.3.11
    /// APPEND (RFC 3501's example with a synchronising literal, flags and date kept,
    /// TRYCREATE for a missing mailbox, EXISTS at once for the selected mailbox).
    status_append
);

fn status_append(srv: &TestServer) {
    let mut c = Imap::login(srv);
    // RFC 3501's example asks for (UIDNEXT MESSAGES) and gets them in another order.
    c.script(
        "C: A042 STATUS INBOX (UIDNEXT MESSAGES)
         S: * STATUS INBOX (<<MESSAGES 3|UIDNEXT $next>>)
         S: A042 OK *",
    );
    let st = status(
        &mut c,
        "A043",
        "INBOX",
        "MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN",
    );
    c.check(
        st["MESSAGES"] == 3 && st["UNSEEN"] == 3,
        "3 messages, all unseen",
    );
    c.check(
        st["UIDNEXT"] == u64::from(c.var_u32("next")),
        "UIDNEXT is stable",
    );
    c.script(&format!(
        "C: A044 SELECT INBOX
         U: * 3 EXISTS
         U: * OK [UIDVALIDITY {}] *
         U: * OK [UIDNEXT $next] *
         O: * FLAGS *
         O: * * RECENT
         O: * OK [PERMANENTFLAGS *] *
         O: * OK [UNSEEN 1] *
         O: * OK [HIGHESTMODSEQ *] *
         S: A044 OK [READ-WRITE] *
         C: A045 STATUS nosuchbox (MESSAGES)
         S: A045 NO *",
        st["UIDVALIDITY"]
    ));

    // §6.3.11: the example, with a synchronising literal.
    c.ok("A002", "CREATE saved-messages");
    let done = c.append_sync("A003", "saved-messages", r"(\Seen)", RFC_MSG);
    let ok = c.bind("A003 OK *", &done.text);
    c.check(ok, "APPEND completes with OK");
    // Flags and date kept; the size is the literal's.
    let done = c.append_sync(
        "A004",
        "saved-messages",
        r#"(\Flagged \Answered) "17-Jul-1996 02:44:25 -0700""#,
        RFC_MSG,
    );
    let ok = c.bind("A004 OK *", &done.text);
    c.check(ok, "APPEND with flags and date completes with OK");
    let st = status(&mut c, "A005", "saved-messages", "MESSAGES UNSEEN");
    c.check(
        st["MESSAGES"] == 2 && st["UNSEEN"] == 1,
        "2 messages, one \\Seen",
    );
    // The destination must exist: NO [TRYCREATE], and nothing is created.
    c.send(
        format!(
            "A006 APPEND nosuchbox {{{}+}}\r\n{RFC_MSG}\r\n",
            RFC_MSG.len()
        )
        .as_bytes(),
    );
    c.script(
        r#"S: A006 NO [TRYCREATE] *
           C: A007 LIST "" nosuchbox
           S: A007 OK *"#,
    );
    // The selected mailbox (INBOX) learns of the new message before the completion.
    c.send(format!("A008 APPEND INBOX {{{}+}}\r\n{RFC_MSG}\r\n", RFC_MSG.len()).as_bytes());
    c.script(
        "S: * 4 EXISTS
         S: A008 OK *",
    );
    c.ok("A009", "EXAMINE saved-messages");
    let out = c.ok(
        "A010",
        "FETCH 1:2 (FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])",
    );
    let (_, one) = fetch_items(&out[0].raw).unwrap_or_else(|| c.fail("a FETCH response"));
    let (_, two) = fetch_items(&out[1].raw).unwrap_or_else(|| c.fail("a FETCH response"));
    c.check(
        flag_set(item(&one, "FLAGS").unwrap()) == set(&["\\Seen"]),
        "message 1 has exactly \\Seen",
    );
    c.check(
        flag_set(item(&two, "FLAGS").unwrap()) == set(&["\\Flagged", "\\Answered"]),
        "message 2 has exactly \\Flagged \\Answered",
    );
    let date = String::from_utf8_lossy(item(&two, "INTERNALDATE").unwrap()).into_owned();
    c.check(
        instant(&date) == instant("17-Jul-1996 02:44:25 -0700"),
        "the APPEND date is the INTERNALDATE",
    );
    for m in [&one, &two] {
        c.check(
            item(m, "BODY[]") == Some(RFC_MSG.as_bytes()),
            "the message is stored as sent",
        );
        c.check(
            item_u32(m, "RFC822.SIZE") == Some(310),
            "RFC822.SIZE is 310",
        );
    }
}

both_stores!(
    /// §6.4.1 CHECK, §6.4.2 CLOSE (a silent expunge; nothing selected after),
    /// §6.4.3 EXPUNGE (RFC 3501's example: 3, 4, 7 and 11 of 11 messages).
    check_close_expunge
);

fn check_close_expunge(srv: &TestServer) {
    let mut c = Imap::login(srv);
    c.script(
        "C: FXXY CHECK
         S: FXXY [[BAD|NO]] *
         C: s1 SELECT INBOX
         O: * FLAGS *
         U: * 3 EXISTS
         O: * * RECENT
         O: * OK [UIDVALIDITY *] *
         O: * OK [UIDNEXT *] *
         O: * OK [PERMANENTFLAGS *] *
         O: * OK [UNSEEN 1] *
         O: * OK [HIGHESTMODSEQ *] *
         S: s1 OK [READ-WRITE] *
         C: FXXZ CHECK
         S: FXXZ OK *
         C: s2 STORE 1 +FLAGS.SILENT (\\Deleted)
         S: s2 OK *
         # §6.4.2: no untagged EXPUNGE.
         C: A341 CLOSE
         S: A341 OK *
         C: s3 FETCH 1 FLAGS
         S: s3 [[BAD|NO]] *
         C: s4 CLOSE
         S: s4 [[BAD|NO]] *",
    );
    let st = status(&mut c, "s5", "INBOX", "MESSAGES");
    c.check(st["MESSAGES"] == 2, "CLOSE expunged the \\Deleted message");

    // §6.4.3: 11 messages, 3, 4, 7 and 11 deleted.
    c.ok("e1", "CREATE expunge-test");
    for i in 1..=11 {
        c.append(&format!("e1.{i}"), "expunge-test", "", &small(i));
    }
    c.script(
        "C: e2 SELECT expunge-test
         U: * 11 EXISTS
         O: * FLAGS *
         O: * * RECENT
         O: * OK [UIDVALIDITY *] *
         O: * OK [UIDNEXT *] *
         O: * OK [PERMANENTFLAGS *] *
         O: * OK [UNSEEN 1] *
         O: * OK [HIGHESTMODSEQ *] *
         S: e2 OK [READ-WRITE] *",
    );
    let uids = c.uids("e3");
    c.check(uids.len() == 11, "11 messages");
    c.script(
        r"C: e4 STORE 3,4,7,11 +FLAGS.SILENT (\Deleted)
          S: e4 OK *",
    );
    let out = c.ok("A202", "EXPUNGE");
    let mut view = View(uids.iter().copied().map(Some).collect());
    let mut numbers = Vec::new();
    for r in &out[..out.len() - 1] {
        c.check(
            r.text.ends_with(" EXPUNGE"),
            "EXPUNGE answers with untagged EXPUNGE responses only",
        );
        numbers.push(r.text.clone());
        if let Err(e) = view.apply(r) {
            c.fail(&e);
        }
    }
    c.check(numbers.len() == 4, "one EXPUNGE response per message");
    let want: Vec<Option<u32>> = uids
        .iter()
        .enumerate()
        .filter(|(i, _)| ![2, 3, 6, 10].contains(i))
        .map(|(_, u)| Some(*u))
        .collect();
    c.check(
        view.0 == want,
        "the EXPUNGE numbers, each counted after the ones before (RFC 3501's example: \
         3, 3, 5, 8), remove exactly messages 3, 4, 7 and 11",
    );
    let after = c.uids("e5");
    c.check(
        after.iter().copied().map(Some).collect::<Vec<_>>() == want,
        "the mailbox now holds the other 7, in order",
    );
    c.script(
        "C: e6 EXAMINE expunge-test
         O: * OK [CLOSED] *
         U: * 7 EXISTS
         O: * FLAGS *
         O: * * RECENT
         O: * OK [UIDVALIDITY *] *
         O: * OK [UIDNEXT *] *
         O: * OK [PERMANENTFLAGS *] *
         O: * OK [UNSEEN 1] *
         O: * OK [HIGHESTMODSEQ *] *
         S: e6 OK [READ-ONLY] *
         C: e7 EXPUNGE
         S: e7 [[NO|BAD]] *",
    );
}

/// A pattern for `* SEARCH` with these numbers in any order.
fn search_pat(nums: &[u32]) -> String {
    if nums.is_empty() {
        "* SEARCH".to_owned()
    } else {
        let v: Vec<String> = nums.iter().map(u32::to_string).collect();
        format!("* SEARCH <<{}>>", v.join("|"))
    }
}

/// Selects `mailbox` (`n` messages), accepting any of the optional SELECT data.
fn select(c: &mut Imap, tag: &str, mailbox: &str, n: usize) {
    c.script(&format!(
        "C: {tag} SELECT {mailbox}
         U: * {n} EXISTS
         O: * OK [CLOSED] *
         O: * FLAGS *
         O: * * RECENT
         O: * OK [UIDVALIDITY *] *
         O: * OK [UIDNEXT *] *
         O: * OK [PERMANENTFLAGS *] *
         O: * OK [UNSEEN *] *
         O: * OK [HIGHESTMODSEQ *] *
         S: {tag} OK [READ-WRITE] *"
    ));
}

/// The messages of the SEARCH checks: (message, flags, INTERNALDATE).
fn search_messages() -> Vec<(String, &'static str, &'static str)> {
    vec![
        (RFC_MSG.to_owned(), r"(\Seen)", "10-Feb-1994 21:52:25 -0800"),
        (
            "Date: Fri, 11 Feb 1994 10:00:00 +0000\r\nFrom: John Smith <smith@example.com>\r\nSubject: budget\r\n\r\nThe numbers are in.\r\n".to_owned(),
            r"(\Flagged)",
            "12-Feb-1994 10:00:00 +0000",
        ),
        (
            "Date: Mon, 14 Mar 1994 12:00:00 +0000\r\nFrom: Joe <joe@example.com>\r\nSubject: lunch\r\n\r\nLet's eat at noon.\r\n".to_owned(),
            r"(\Flagged \Seen)",
            "15-Mar-1994 12:00:00 +0000",
        ),
        (
            "Date: Wed, 19 Jan 1994 08:00:00 +0000\r\nFrom: Ann <ann@example.com>\r\nSubject: old news\r\n\r\nNothing new.\r\n".to_owned(),
            r"(\Flagged \Answered)",
            "20-Jan-1994 08:00:00 +0000",
        ),
        (
            "Date: Fri, 25 Mar 1994 09:00:00 +0000\r\nFrom: Smith <smith@example.com>\r\nSubject: Re: budget\r\n\r\nAgreed.\r\n".to_owned(),
            "()",
            "25-Mar-1994 09:00:00 +0000",
        ),
    ]
}

both_stores!(
    /// §6.4.4 SEARCH: RFC 3501's example (FLAGGED SINCE … NOT FROM), TEXT, OR, NOT, dates,
    /// header and body keys, sizes, sequence and UID sets, CHARSET, UID SEARCH.
    search
);

fn search(srv: &TestServer) {
    let mut c = Imap::login(srv);
    c.ok("s0", "CREATE search-test");
    // A first message, expunged below, so that UIDs and sequence numbers differ.
    c.append("s0.0", "search-test", "", &small(0));
    for (i, (m, flags, date)) in search_messages().iter().enumerate() {
        c.append(
            &format!("s0.{}", i + 1),
            "search-test",
            &format!("{flags} \"{date}\""),
            m,
        );
    }
    select(&mut c, "s1", "search-test", 6);
    c.ok("s2", r"STORE 1 +FLAGS.SILENT (\Deleted)");
    c.ok("s3", "EXPUNGE");
    let uids = c.uids("s4");
    c.check(uids.len() == 5, "5 messages");
    c.ok("s5", "STORE 5 +FLAGS.SILENT ($Work)");
    let uid = |n: usize| uids[n - 1];
    let cases: Vec<(String, Vec<u32>)> = vec![
        (
            r#"FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith""#.into(),
            vec![3],
        ),
        (r#"TEXT "string not in mailbox""#.into(), vec![]),
        ("TEXT meeting".into(), vec![1]),
        ("OR FROM smith FROM joe".into(), vec![2, 3, 5]),
        ("NOT FLAGGED".into(), vec![1, 5]),
        ("UNSEEN".into(), vec![2, 4, 5]),
        ("SEEN".into(), vec![1, 3]),
        ("ANSWERED".into(), vec![4]),
        ("DELETED".into(), vec![]),
        ("2:4 FLAGGED".into(), vec![2, 3, 4]),
        ("4:2".into(), vec![2, 3, 4]),
        ("*".into(), vec![5]),
        ("1,4:*".into(), vec![1, 4, 5]),
        ("ALL".into(), vec![1, 2, 3, 4, 5]),
        (format!("UID {}:{}", uid(2), uid(3)), vec![2, 3]),
        (format!("UID {}:*", uid(4)), vec![4, 5]),
        ("BEFORE 1-Feb-1994".into(), vec![4]),
        ("ON 15-Mar-1994".into(), vec![3]),
        ("SINCE 15-Mar-1994".into(), vec![3, 5]),
        ("SENTON 7-Feb-1994".into(), vec![1]),
        ("SENTBEFORE 1-Feb-1994".into(), vec![4]),
        ("SENTSINCE 1-Mar-1994".into(), vec![3, 5]),
        ("SUBJECT budget".into(), vec![2, 5]),
        (
            r#"HEADER Message-Id "<B27397-0100000@Blurdybloop.COM>""#.into(),
            vec![1],
        ),
        ("BODY noon".into(), vec![3]),
        ("BODY meeting".into(), vec![]),
        ("LARGER 200".into(), vec![1]),
        ("SMALLER 200".into(), vec![2, 3, 4, 5]),
        ("(OR FROM smith FROM joe) SEEN".into(), vec![3]),
        ("KEYWORD $Work".into(), vec![5]),
        ("UNKEYWORD $Work".into(), vec![1, 2, 3, 4]),
        ("CHARSET UTF-8 SUBJECT lunch".into(), vec![3]),
        ("CHARSET US-ASCII FROM ann".into(), vec![4]),
    ];
    for (i, (criteria, want)) in cases.iter().enumerate() {
        c.script(&format!(
            "C: q{i} SEARCH {criteria}
             S: {}
             S: q{i} OK *",
            search_pat(want)
        ));
    }
    // A synchronising literal as a search string.
    c.script(&format!(
        "C: q100 SEARCH FROM {{5}}
         S: + *
         C: smith
         S: {}
         S: q100 OK *",
        search_pat(&[2, 5])
    ));
    // UID SEARCH answers UIDs.
    for (tag, criteria, seqs) in [
        ("u1", "FLAGGED", vec![2, 3, 4]),
        ("u2", "UID 1:*", vec![1, 2, 3, 4, 5]),
        ("u3", "OR SUBJECT lunch SUBJECT news", vec![3, 4]),
    ] {
        let want: Vec<u32> = seqs.iter().map(|&n| uid(n)).collect();
        c.script(&format!(
            "C: {tag} UID SEARCH {criteria}
             S: {}
             S: {tag} OK *",
            search_pat(&want)
        ));
    }
    // §6.4.4: an unknown charset is NO, not BAD; a sequence number past the end is BAD
    // (RFC 9051 §9, seq-number).
    c.script(
        "C: x1 SEARCH CHARSET X-NO-SUCH-CHARSET SUBJECT lunch
         S: x1 NO *
         C: x2 SEARCH 6
         S: x2 BAD *",
    );
}

both_stores!(
    /// §6.4.5 FETCH: FLAGS, INTERNALDATE, RFC822.SIZE, the macros, HEADER.FIELDS (RFC 3501's
    /// example), partial BODY[]<origin.count>, HEADER/TEXT/MIME/part sections of a multipart
    /// message, BODY.PEEK leaving `\Seen` alone while BODY[] and RFC822.TEXT set it and send
    /// the new FLAGS, RFC822.SIZE equal to the octets of BODY[], reversed ranges.
    fetch
);

fn fetch(srv: &TestServer) {
    let mut c = Imap::login(srv);
    c.ok("f0", "CREATE fetch-test");
    c.append(
        "f0.1",
        "fetch-test",
        r#"() "17-Jul-1996 02:44:25 -0700""#,
        RFC_MSG,
    );
    select(&mut c, "f1", "fetch-test", 1);
    let header_end = RFC_MSG.find("\r\n\r\n").unwrap() + 4;
    let (header, text) = RFC_MSG.split_at(header_end);
    c.script(
        r#"C: f2 FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE)
           S: * 1 FETCH (<<FLAGS ()|INTERNALDATE "%date"|RFC822.SIZE 310>>)
           S: f2 OK *"#,
    );
    c.check(
        instant(&c.var("date")) == instant("17-Jul-1996 02:44:25 -0700"),
        "INTERNALDATE is the APPEND date",
    );
    c.script(&format!(
        r#"C: f3 FETCH 1 FAST
           S: * 1 FETCH (<<FLAGS ()|INTERNALDATE "%date2"|RFC822.SIZE 310>>)
           S: f3 OK *
           C: f4 FETCH 1 (BODY.PEEK[HEADER.FIELDS (DATE FROM)])
           S: * 1 FETCH (BODY[HEADER.FIELDS (DATE FROM)] {})
           S: f4 OK *
           C: f5 FETCH 1 (BODY.PEEK[HEADER] BODY.PEEK[TEXT])
           S: * 1 FETCH (<<BODY[HEADER] {}|BODY[TEXT] {}>>)
           S: f5 OK *
           C: f6 FETCH 1 (BODY.PEEK[]<300.100> BODY.PEEK[]<400.10>)
           S: * 1 FETCH (<<BODY[]<300> {}|BODY[]<400> [[""|{{0}}\r\n]]>>)
           S: f6 OK *
           C: f7 FETCH 1 (RFC822.HEADER)
           S: * 1 FETCH (RFC822.HEADER {})
           S: f7 OK *
           # Nothing so far set \Seen.
           C: f8 FETCH 1 FLAGS
           S: * 1 FETCH (FLAGS ())
           S: f8 OK *
           # BODY[]<0.10> sets \Seen, and the new FLAGS are sent.
           C: f9 FETCH 1 (BODY[]<0.10>)
           U: * 1 FETCH (<<BODY[]<0> {}|FLAGS (\Seen)>>) || * 1 FETCH (BODY[]<0> {})
           O: * 1 FETCH (FLAGS (\Seen))
           S: f9 OK *
           C: f10 FETCH 1 FLAGS
           S: * 1 FETCH (FLAGS (\Seen))
           S: f10 OK *"#,
        string("Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\nFrom: Fred Foobar <foobar@Blurdybloop.COM>\r\n\r\n"),
        string(header),
        string(text),
        string(&RFC_MSG[300..]),
        string(header),
        string(&RFC_MSG[..10]),
        string(&RFC_MSG[..10]),
    ));
    // RFC 3501 §7.4.2: ENVELOPE (sender and reply-to default to from) and BODY.
    let out = c.ok("f10b", "FETCH 1 (ENVELOPE BODY)");
    let Some((1, items)) = fetch_items(&out[0].raw) else {
        c.fail("a FETCH response for message 1");
    };
    let env = item(&items, "ENVELOPE")
        .and_then(sexp)
        .map(|x| norm(&x, false));
    let fred = r#"(("Fred Foobar" NIL "foobar" "Blurdybloop.COM"))"#;
    let want = format!(
        r#"("Mon, 7 Feb 1994 21:52:25 -0800 (PST)" "afternoon meeting" {fred} {fred} {fred} ((NIL NIL "mooch" "owatagu.siam.edu")) NIL NIL NIL "<B27397-0100000@Blurdybloop.COM>")"#
    );
    c.check(
        env.as_deref() == Some(want.as_str()),
        &format!("ENVELOPE is {want}"),
    );
    let body = item(&items, "BODY").and_then(sexp).map(|x| norm(&x, true));
    let want = format!(
        r#"("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" {} 1)"#,
        text.len()
    );
    c.check(
        body.as_deref() == Some(want.as_str()),
        &format!("BODY is {want}"),
    );
    // RFC822.TEXT sets \Seen too (and sends the FLAGS).
    c.ok("f11", r"STORE 1 -FLAGS.SILENT (\Seen)");
    c.script(&format!(
        r#"C: f12 FETCH 1 RFC822.TEXT
           U: * 1 FETCH (<<RFC822.TEXT {0}|FLAGS (\Seen)>>) || * 1 FETCH (RFC822.TEXT {0})
           O: * 1 FETCH (FLAGS (\Seen))
           S: f12 OK *
           C: f13 FETCH 1 FLAGS
           S: * 1 FETCH (FLAGS (\Seen))
           S: f13 OK *"#,
        string(text)
    ));

    // INBOX: the 8-bit and the multipart message.
    select(&mut c, "g1", "INBOX", 3);
    let msgs = imap_server::messages();
    let out = c.ok("g2", "FETCH 3:1 (RFC822.SIZE BODY.PEEK[])");
    c.check(out.len() == 4, "3:1 names messages 1 to 3");
    let mut seen = BTreeSet::new();
    for r in &out[..3] {
        let Some((seq, items)) = fetch_items(&r.raw) else {
            c.fail(&format!("not a FETCH response: {}", r.text));
        };
        seen.insert(seq);
        let body = item(&items, "BODY[]").unwrap_or_else(|| c.fail("no BODY[]"));
        c.check(
            body == msgs[seq as usize - 1].as_slice(),
            "BODY[] is the message delivered",
        );
        c.check(
            item_u32(&items, "RFC822.SIZE") == Some(body.len() as u32),
            "RFC822.SIZE is the number of octets of BODY[]",
        );
        c.check(
            !items.iter().any(|(n, _)| n == "FLAGS"),
            "BODY.PEEK sends no FLAGS",
        );
    }
    c.check(
        seen == BTreeSet::from([1, 2, 3]),
        "one response per message",
    );
    c.script(&format!(
        r#"C: g3 FETCH 3 (BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[HEADER.FIELDS.NOT (Content-Type)])
           S: * 3 FETCH (<<BODY[1] {}|BODY[2.MIME] {}|BODY[HEADER.FIELDS.NOT (Content-Type)] {}>>)
           S: g3 OK *
           C: g4 FETCH 1:3 FLAGS
           U: * 1 FETCH (FLAGS ())
           U: * 2 FETCH (FLAGS ())
           U: * 3 FETCH (FLAGS ())
           S: g4 OK *
           C: g5 FETCH 2 BODY[TEXT]
           U: * 2 FETCH (<<BODY[TEXT] {}|FLAGS (\Seen)>>) || * 2 FETCH (BODY[TEXT] {})
           O: * 2 FETCH (FLAGS (\Seen))
           S: g5 OK *
           C: g6 FETCH 1:3 FLAGS
           U: * 1 FETCH (FLAGS ())
           U: * 2 FETCH (FLAGS (\Seen))
           U: * 3 FETCH (FLAGS ())
           S: g6 OK *"#,
        string("see attached"),
        string("Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"),
        string("Subject: big\r\n\r\n"),
        string("Gr\u{fc}\u{df}e\r\n"),
        string("Gr\u{fc}\u{df}e\r\n"),
    ));
    // The macros name exactly their items.
    for (tag, mac, want) in [
        ("g7", "FAST", &["FLAGS", "INTERNALDATE", "RFC822.SIZE"][..]),
        (
            "g8",
            "ALL",
            &["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"][..],
        ),
        (
            "g9",
            "FULL",
            &["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"][..],
        ),
    ] {
        let out = c.ok(tag, &format!("FETCH 1 {mac}"));
        let Some((1, items)) = fetch_items(&out[0].raw) else {
            c.fail("a FETCH response for message 1");
        };
        let names: BTreeSet<String> = items.iter().map(|(n, _)| n.clone()).collect();
        c.check(
            names == set(want),
            &format!("FETCH {mac} has exactly {want:?}"),
        );
    }
}

both_stores!(
    /// §6.4.6 STORE (+FLAGS with the new flags sent, -FLAGS.SILENT sending nothing, FLAGS
    /// replacing, a new keyword), §6.4.7 COPY (flags and INTERNALDATE kept, COPYUID,
    /// TRYCREATE), §6.4.8 UID FETCH / UID STORE / UID COPY (UID in every FETCH response, `n:*`
    /// past the last UID, UIDs that do not exist ignored).
    store_copy_uid
);

fn store_copy_uid(srv: &TestServer) {
    let mut c = Imap::login(srv);
    select(&mut c, "t0", "INBOX", 3);
    let uids = c.uids("t1");
    // RFC 3501's STORE example, on flags set up like it.
    c.ok("t2", r"STORE 1 FLAGS.SILENT (\Seen)");
    c.ok("t3", r"STORE 3 FLAGS.SILENT (\Flagged \Seen)");
    c.script(
        r"C: A003 STORE 1:3 +FLAGS (\Deleted)
          U: * 1 FETCH (FLAGS (<<\Deleted|\Seen>>))
          U: * 2 FETCH (FLAGS (\Deleted))
          U: * 3 FETCH (FLAGS (<<\Deleted|\Flagged|\Seen>>))
          S: A003 OK *
          C: A004 STORE 1:3 -FLAGS.SILENT (\Deleted)
          S: A004 OK *
          C: A005 FETCH 1:3 FLAGS
          U: * 1 FETCH (FLAGS (\Seen))
          U: * 2 FETCH (FLAGS ())
          U: * 3 FETCH (FLAGS (<<\Flagged|\Seen>>))
          S: A005 OK *
          C: A006 STORE 2 FLAGS ($Work \Answered)
          O: * FLAGS *
          O: * OK [PERMANENTFLAGS *] *
          U: * 2 FETCH (FLAGS (<<$$Work|\Answered>>))
          S: A006 OK *
          C: A007 STORE 2 FLAGS ()
          U: * 2 FETCH (FLAGS ())
          S: A007 OK *
          C: A008 STORE 1 FLAGS (\Seen)
          U: * 1 FETCH (FLAGS (\Seen))
          S: A008 OK *
          C: A009 STORE 2 +FLAGS (\Flagged)
          U: * 2 FETCH (FLAGS (\Flagged))
          S: A009 OK *",
    );

    // §6.4.7.
    c.ok("c0", "CREATE MEETING");
    let out = c.ok("c1", "FETCH 2:3 INTERNALDATE");
    let dates: Vec<String> = out[..2]
        .iter()
        .map(|r| {
            let (_, items) = fetch_items(&r.raw).unwrap();
            String::from_utf8_lossy(item(&items, "INTERNALDATE").unwrap()).into_owned()
        })
        .collect();
    c.script(
        "C: A003 COPY 2:3 MEETING
         S: A003 OK *",
    );
    let done = c.history.last().unwrap().text.clone();
    let st = status(&mut c, "c2", "MEETING", "MESSAGES UIDVALIDITY");
    c.check(st["MESSAGES"] == 2, "two messages copied");
    if done.starts_with("A003 OK [COPYUID") {
        c.check(
            matches(
                &format!("A003 OK [COPYUID {} * *] *", st["UIDVALIDITY"]),
                &done,
                &mut HashMap::new(),
            ),
            "COPYUID names the destination's UIDVALIDITY",
        );
    }
    c.script(
        "C: c3 COPY 1 nosuchbox
         S: c3 NO [TRYCREATE] *
         C: c4 UID COPY 999998:999999 MEETING
         S: c4 OK *",
    );
    let st = status(&mut c, "c5", "MEETING", "MESSAGES");
    c.check(
        st["MESSAGES"] == 2,
        "copying UIDs that do not exist copies nothing",
    );

    // §6.4.8.
    let (u1, u2, u3) = (uids[0], uids[1], uids[2]);
    c.script(&format!(
        r"C: A999 UID FETCH {u1}:{u3} FLAGS
          U: * 1 FETCH (<<FLAGS (\Seen)|UID {u1}>>)
          U: * 2 FETCH (<<FLAGS (\Flagged)|UID {u2}>>)
          U: * 3 FETCH (<<FLAGS (<<\Flagged|\Seen>>)|UID {u3}>>)
          S: A999 OK *
          # A range past the last UID still names the last message.
          C: A1000 UID FETCH {}:* (FLAGS)
          S: * 3 FETCH (<<FLAGS (<<\Flagged|\Seen>>)|UID {u3}>>)
          S: A1000 OK *
          C: A1001 UID FETCH {}:{} FLAGS
          S: A1001 OK *
          C: A1002 UID STORE {u2} +FLAGS (\Answered)
          S: * 2 FETCH (<<FLAGS (<<\Flagged|\Answered>>)|UID {u2}>>)
          S: A1002 OK *
          C: A1003 UID STORE {u2} -FLAGS.SILENT (\Answered)
          S: A1003 OK *
          C: A1004 UID STORE {} +FLAGS (\Answered)
          S: A1004 OK *
          C: A1005 UID FETCH {u2} (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])
          S: * 2 FETCH (<<UID {u2}|BODY[HEADER.FIELDS (SUBJECT)] {}>>)
          S: A1005 OK *
          C: A1006 UID FETCH {u1} BODY[TEXT]
          S: * 1 FETCH (<<UID {u1}|BODY[TEXT] {}>>)
          S: A1006 OK *
          C: A1007 UID COPY {u1},{u3} MEETING
          S: A1007 OK *",
        u3 + 1000,
        u3 + 1000,
        u3 + 2000,
        u3 + 1000,
        string("Subject: 8bit\r\n\r\n"),
        string("Hello there\r\n"),
    ));
    let st = status(&mut c, "c6", "MEETING", "MESSAGES");
    c.check(st["MESSAGES"] == 4, "UID COPY copied two more");
    // In the copy: the flags and the INTERNALDATEs are the originals'.
    c.script(
        "C: c7 EXAMINE MEETING
         U: * 4 EXISTS
         O: * OK [CLOSED] *
         O: * FLAGS *
         O: * * RECENT
         O: * OK [UIDVALIDITY *] *
         O: * OK [UIDNEXT *] *
         O: * OK [PERMANENTFLAGS *] *
         O: * OK [UNSEEN *] *
         O: * OK [HIGHESTMODSEQ *] *
         S: c7 OK [READ-ONLY] *",
    );
    let out = c.ok("c8", "FETCH 1:2 (FLAGS INTERNALDATE)");
    for (k, r) in out[..2].iter().enumerate() {
        let (seq, items) = fetch_items(&r.raw).unwrap();
        let flags = flag_set(item(&items, "FLAGS").unwrap());
        let want = if seq == 1 {
            set(&["\\Flagged"])
        } else {
            set(&["\\Flagged", "\\Seen"])
        };
        c.check(flags == want, "COPY keeps the flags");
        let d = String::from_utf8_lossy(item(&items, "INTERNALDATE").unwrap()).into_owned();
        c.check(
            instant(&d) == instant(&dates[k]),
            "COPY keeps the INTERNALDATE",
        );
    }
}

/// §6.1.2's NOOP example: changes made elsewhere (a delivery, another session's STORE and
/// EXPUNGE) reach a selected session as EXISTS, EXPUNGE and FETCH at its NOOP, with numbers
/// that are right in the order sent.
#[test]
fn noop_reports_changes_made_elsewhere() {
    let srv = memory();
    let log = Log::default();
    let mut a = Imap::login_shared(&srv, "A", &log);
    let mut b = Imap::login_shared(&srv, "B", &log);
    select(&mut a, "a1", "INBOX", 3);
    let uids = a.uids("a2");
    select(&mut b, "b1", "INBOX", 3);
    b.ok("b2", r"STORE 1 +FLAGS.SILENT (\Deleted)");
    b.ok("b3", r"STORE 2 +FLAGS.SILENT (\Seen)");
    b.ok("b4", "EXPUNGE");
    srv.rt
        .block_on(
            srv.store
                .deliver("alice", &b"Subject: new\r\n\r\nnew\r\n"[..]),
        )
        .unwrap();
    let out = a.ok("a047", "NOOP");
    let mut view = View(uids.iter().copied().map(Some).collect());
    let mut kinds = BTreeSet::new();
    for r in &out[..out.len() - 1] {
        if let Err(e) = view.apply(r) {
            a.fail(&e);
        }
        let kind = r.text.split(' ').nth(2).unwrap_or("").to_owned();
        if kind == "FETCH" {
            let (seq, items) = fetch_items(&r.raw).unwrap();
            let at = view.0[seq as usize - 1];
            a.check(
                at.is_none_or(|u| u == uids[1]),
                "the FETCH is about the message B marked \\Seen",
            );
            a.check(
                item(&items, "FLAGS").is_some_and(|f| flag_set(f).contains("\\Seen")),
                "with its new flags",
            );
        }
        kinds.insert(kind);
    }
    a.check(
        kinds.contains("EXPUNGE") && kinds.contains("EXISTS") && kinds.contains("FETCH"),
        "NOOP reports the EXPUNGE, the new message and the flag change",
    );
    a.check(view.0.len() == 3, "3 messages after all that");
    let now = a.uids("a048");
    a.check(
        now[..2] == uids[1..] && now[2] > uids[2],
        "the client's view matches the mailbox",
    );
}

// ==== 2. Pipelining (RFC 3501 §5.5, RFC 9051 §5.5)

/// The tagged completions among `out`, in order.
fn completions(out: &[Resp]) -> Vec<String> {
    out.iter()
        .filter(|r| !r.text.starts_with("* ") && !r.text.starts_with('+'))
        .map(|r| r.text.clone())
        .collect()
}

/// 50 NOOPs and a mix of FETCH, STORE, SEARCH and large FETCHes written at once: answered in
/// order, each tag completed once, each command's data before its own completion.
#[test]
fn many_pipelined_commands_are_answered_in_order() {
    let srv = memory();
    let mut c = Imap::login(&srv);
    select(&mut c, "p0", "INBOX", 3);
    let mut batch = String::new();
    let mut tags = Vec::new();
    for i in 0..50 {
        batch.push_str(&format!("n{i} NOOP\r\n"));
        tags.push(format!("n{i}"));
    }
    let mixed = [
        ("m1", "FETCH 1:3 (UID FLAGS)"),
        ("m2", r"STORE 2 +FLAGS (\Flagged)"),
        ("m3", "SEARCH FLAGGED"),
        ("m4", "FETCH 3 BODY.PEEK[]"),
        ("m5", "FETCH 3 BODY.PEEK[]"),
        ("m6", r"STORE 2 -FLAGS (\Flagged)"),
        ("m7", "SEARCH FLAGGED"),
        ("m8", "FETCH 3 BODY.PEEK[]"),
        ("m9", "UID SEARCH ALL"),
        ("m10", "FETCH 3 BODY.PEEK[]"),
        ("m11", "FETCH 3 BODY.PEEK[]"),
        ("m12", "NOOP"),
    ];
    for (tag, cmd) in mixed {
        batch.push_str(&format!("{tag} {cmd}\r\n"));
        tags.push(tag.to_owned());
    }
    c.send(batch.as_bytes());
    let out = c.until("m12");
    let done = completions(&out);
    let done_tags: Vec<String> = done
        .iter()
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    c.check(
        done_tags == tags,
        "one completion per tag, in the order sent",
    );
    c.check(
        done.iter().all(|l| l.split(' ').nth(1) == Some("OK")),
        "every command succeeded",
    );
    // Each command's untagged data comes between the completion before it and its own.
    let mut segments: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cur = Vec::new();
    for r in &out {
        if r.text.starts_with("* ") {
            cur.push(r.text.clone());
        } else {
            let tag = r.text.split(' ').next().unwrap().to_owned();
            segments.insert(tag, std::mem::take(&mut cur));
        }
    }
    let msgs = imap_server::messages();
    for (tag, lines) in &segments {
        let want: Option<Vec<String>> = match tag.as_str() {
            t if t.starts_with('n') || t == "m12" => Some(vec![]),
            "m2" => Some(vec![r"* 2 FETCH (FLAGS (\Flagged))".into()]),
            "m3" => Some(vec!["* SEARCH 2".into()]),
            "m6" => Some(vec!["* 2 FETCH (FLAGS ())".into()]),
            "m7" => Some(vec!["* SEARCH".into()]),
            _ => None,
        };
        if let Some(want) = want {
            c.check(lines == &want, &format!("{tag}: untagged data {want:?}"));
        }
    }
    for tag in ["m4", "m5", "m8", "m10", "m11"] {
        let lines = &segments[tag];
        c.check(lines.len() == 1, &format!("{tag}: one FETCH response"));
    }
    for r in out
        .iter()
        .filter(|r| r.raw.starts_with(b"* 3 FETCH (BODY[]"))
    {
        let (_, items) = fetch_items(&r.raw).unwrap();
        c.check(
            item(&items, "BODY[]") == Some(msgs[2].as_slice()),
            "each large FETCH returns the whole message",
        );
    }
    c.check(segments["m1"].len() == 3, "m1: three FETCH responses");
    c.check(
        segments["m9"].len() == 1 && segments["m9"][0].starts_with("* SEARCH "),
        "m9: one SEARCH response",
    );
}

/// A command sent one octet per write, literals included (waiting for each `+`), works as
/// if sent at once.
#[test]
fn commands_written_one_octet_at_a_time() {
    let srv = memory();
    let log = Log::default();
    let mut c = Imap::connect(&srv, "", &log);
    c.expect("* OK *");
    let trickle = |c: &mut Imap, s: &str| {
        for b in s.bytes() {
            c.w.write_all(&[b]).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        c.note("C:", &show(s.as_bytes()));
    };
    trickle(&mut c, "a1 LOGIN {5}\r\n");
    c.expect("+ *");
    trickle(&mut c, "alice {6}\r\n");
    c.expect("+ *");
    trickle(&mut c, "secret\r\n");
    c.expect("a1 OK *");
    trickle(&mut c, "a2 SELECT INBOX\r\n");
    c.script(
        "U: * 3 EXISTS
         O: * FLAGS *
         O: * * RECENT
         O: * OK [UIDVALIDITY *] *
         O: * OK [UIDNEXT *] *
         O: * OK [PERMANENTFLAGS *] *
         O: * OK [UNSEEN *] *
         O: * OK [HIGHESTMODSEQ *] *
         S: a2 OK [READ-WRITE] *",
    );
    trickle(
        &mut c,
        "a3 FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n",
    );
    c.script(&format!(
        "S: * 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {})
         S: a3 OK *",
        string("Subject: first\r\n\r\n")
    ));
    let msg = "Subject: slow\r\n\r\nslow\r\n";
    trickle(&mut c, &format!("a4 APPEND INBOX {{{}}}\r\n", msg.len()));
    c.expect("+ *");
    trickle(&mut c, &format!("{msg}\r\n"));
    c.script(
        "S: * 4 EXISTS
         S: a4 OK *",
    );
    trickle(&mut c, "a5 SEARCH SUBJECT slow\r\n");
    c.script(
        "S: * SEARCH 4
         S: a5 OK *",
    );
}

/// FETCH, STORE, FETCH, STORE, FETCH pipelined on one message: each sees the one before.
#[test]
fn fetch_store_fetch_pipelined_in_order() {
    let srv = memory();
    let mut c = Imap::login(&srv);
    select(&mut c, "p0", "INBOX", 3);
    c.send(
        b"f1 FETCH 1 FLAGS\r\n\
          f2 STORE 1 +FLAGS (\\Flagged)\r\n\
          f3 FETCH 1 FLAGS\r\n\
          f4 STORE 1 FLAGS (\\Answered \\Draft)\r\n\
          f5 FETCH 1 (FLAGS BODY[HEADER.FIELDS (SUBJECT)])\r\n\
          f6 FETCH 1 FLAGS\r\n\
          f7 STORE 1 -FLAGS (\\Seen \\Draft)\r\n\
          f8 FETCH 1 FLAGS\r\n",
    );
    c.script(&format!(
        r"S: * 1 FETCH (FLAGS ())
          S: f1 OK *
          S: * 1 FETCH (FLAGS (\Flagged))
          S: f2 OK *
          S: * 1 FETCH (FLAGS (\Flagged))
          S: f3 OK *
          S: * 1 FETCH (FLAGS (<<\Answered|\Draft>>))
          S: f4 OK *
          S: * 1 FETCH (<<FLAGS (<<\Answered|\Draft|\Seen>>)|BODY[HEADER.FIELDS (SUBJECT)] {}>>)
          S: f5 OK *
          S: * 1 FETCH (FLAGS (<<\Answered|\Draft|\Seen>>))
          S: f6 OK *
          S: * 1 FETCH (FLAGS (\Answered))
          S: f7 OK *
          S: * 1 FETCH (FLAGS (\Answered))
          S: f8 OK *",
        string("Subject: first\r\n\r\n")
    ));
}

both_stores!(
    /// Flags another connection changed are in the very answer to the next FETCH (as Dovecot
    /// does), not only in an update after it; a message it expunged meanwhile is still
    /// answered for, and reported expunged only once that may be sent.
    fetch_after_a_change_elsewhere_has_the_new_flags
);

fn fetch_after_a_change_elsewhere_has_the_new_flags(srv: &TestServer) {
    let log = Log::default();
    let mut a = Imap::login_shared(srv, "A", &log);
    let mut b = Imap::login_shared(srv, "B", &log);
    select(&mut a, "a1", "INBOX", 3);
    select(&mut b, "b1", "INBOX", 3);
    b.ok("b2", r"STORE 1 +FLAGS.SILENT (\Flagged)");
    let out = a.ok("a2", "FETCH 1 FLAGS");
    let fetches: Vec<&str> = out
        .iter()
        .map(|r| r.text.as_str())
        .filter(|t| t.starts_with("* 1 FETCH"))
        .collect();
    a.check(
        !fetches.is_empty() && fetches.iter().all(|t| t.contains(r"\Flagged")),
        "every FETCH of message 1 has the new \\Flagged",
    );
    b.ok("b3", r"STORE 2 +FLAGS.SILENT (\Deleted \Seen)");
    b.ok("b4", "EXPUNGE");
    // B counts two messages now: its 2 is A's 3.
    b.ok("b5", r"STORE 2 +FLAGS.SILENT (\Answered)");
    let out = a.ok("a3", "FETCH 1:3 FLAGS");
    a.check(
        !out.iter().any(|r| r.text.ends_with(" EXPUNGE")),
        "no EXPUNGE while answering a FETCH by sequence number",
    );
    a.check(
        out.iter()
            .any(|r| r.text.starts_with("* 3 FETCH") && r.text.contains(r"\Answered")),
        "message 3's new flag is in the answer",
    );
    let out = a.ok("a4", "NOOP");
    a.check(
        out.iter().any(|r| r.text == "* 2 EXPUNGE"),
        "the NOOP reports message 2 expunged",
    );
}

both_stores!(
    /// RFC 3501 §7.4.1 / RFC 9051 §7.5.1 and §5.5: a message expunged by a second connection
    /// is not reported while the first answers FETCH, STORE or SEARCH by sequence number
    /// (pipelined), and is at the next NOOP; the numbers stay consistent throughout.
    no_expunge_during_sequence_commands
);

fn no_expunge_during_sequence_commands(srv: &TestServer) {
    let log = Log::default();
    let mut a = Imap::login_shared(srv, "A", &log);
    let mut b = Imap::login_shared(srv, "B", &log);
    select(&mut a, "a1", "INBOX", 3);
    let uids = a.uids("a2");
    select(&mut b, "b1", "INBOX", 3);
    b.ok("b2", r"STORE 1 +FLAGS.SILENT (\Deleted)");
    let out = b.ok("b3", "EXPUNGE");
    b.check(
        out.len() == 2 && out[0].text == "* 1 EXPUNGE",
        "B's own EXPUNGE is reported to B",
    );
    a.send(
        b"a3 FETCH 1:* FLAGS\r\n\
          a4 STORE 2 +FLAGS (\\Flagged)\r\n\
          a5 SEARCH ALL\r\n\
          a6 FETCH 1:* (UID FLAGS)\r\n\
          a7 STORE 1:* +FLAGS.SILENT (\\Answered)\r\n\
          a8 SEARCH UNDELETED\r\n\
          a9 NOOP\r\n",
    );
    let out = a.until("a9");
    let mut view = View(uids.iter().copied().map(Some).collect());
    let mut current = String::new();
    let mut expunged_in = Vec::new();
    for r in &out {
        if let Err(e) = view.apply(r) {
            a.fail(&e);
        }
        if r.text.ends_with(" EXPUNGE") {
            expunged_in.push(current.clone());
        }
        if !r.text.starts_with("* ") {
            current = r.text.split(' ').next().unwrap().to_owned();
            // Every command but the NOOP runs by sequence number: each must complete while
            // the client still counts 3 messages.
            if current != "a9" {
                a.check(
                    view.0.len() == 3,
                    &format!("no EXPUNGE before the completion of {current}"),
                );
            }
        }
    }
    // `current` held the tag of the completion before the EXPUNGE: a8's.
    a.check(
        expunged_in == ["a8"],
        "exactly one EXPUNGE, sent during the NOOP (after a8's completion)",
    );
    a.check(
        out.iter().any(|r| r.text == "* 1 EXPUNGE"),
        "the NOOP reports message 1 expunged",
    );
    let completions = completions(&out);
    for (i, tag) in ["a3", "a4", "a5", "a6", "a7", "a8", "a9"]
        .iter()
        .enumerate()
    {
        let l = &completions[i];
        a.check(l.starts_with(&format!("{tag} ")), "in order");
        // A FETCH that names the expunged message may fail with NO [EXPUNGEISSUED] (RFC
        // 5530) or return what the server still knows; nothing else fails.
        let ok = l.starts_with(&format!("{tag} OK"))
            || (tag.starts_with("a6") && l.starts_with("a6 NO"));
        a.check(ok, &format!("{tag} completes with OK"));
    }
    // The STORE and SEARCHes saw the mailbox without the expunged message where they
    // answered: message 2 is still the second UID.
    a.check(
        out.iter()
            .any(|r| r.text == r"* 2 FETCH (FLAGS (\Flagged))"),
        "STORE 2 answers for message 2",
    );
    for r in out.iter().filter(|r| r.text.starts_with("* SEARCH")) {
        let nums: BTreeSet<&str> = r.text.split(' ').skip(2).collect();
        a.check(
            nums.is_subset(&BTreeSet::from(["1", "2", "3"]))
                && nums.contains("2")
                && nums.contains("3"),
            "SEARCH answers with the numbers before the expunge",
        );
    }
    let now = a.uids("a10");
    a.check(
        now == uids[1..],
        "after the NOOP the client's numbers match the mailbox",
    );
    a.check(
        view.0 == now.iter().copied().map(Some).collect::<Vec<_>>(),
        "and so does the view the responses built",
    );
}

/// A LITERAL+ APPEND (`{n+}`) with other commands right behind it in the same write: no
/// continuation request, the commands after it run, and the new message is announced by
/// EXISTS before anything refers to it.
#[test]
fn literal_plus_append_pipelined() {
    let srv = memory();
    let mut c = Imap::login(&srv);
    select(&mut c, "p0", "INBOX", 3);
    let msg = "Subject: pipelined\r\n\r\nfast\r\n";
    c.send(
        format!(
            "l1 APPEND INBOX (\\Flagged) {{{}+}}\r\n{msg}\r\n\
             l2 NOOP\r\n\
             l3 SEARCH FLAGGED\r\n\
             l4 FETCH 4 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n\
             l5 APPEND INBOX {{{}+}}\r\n{msg}\r\nl6 SEARCH SUBJECT pipelined\r\n",
            msg.len(),
            msg.len()
        )
        .as_bytes(),
    );
    let out = c.until("l6");
    c.check(
        !out.iter().any(|r| r.text.starts_with('+')),
        "no continuation request for a non-synchronising literal",
    );
    let mut exists = 3;
    for r in &out {
        let t = &r.text;
        if let Some(n) = t.strip_prefix("* ").and_then(|s| s.strip_suffix(" EXISTS")) {
            exists = n.parse().unwrap();
        }
        if t.starts_with("* SEARCH") {
            for n in t.split(' ').skip(2) {
                c.check(
                    n.parse::<usize>().unwrap() <= exists,
                    "a SEARCH result is a message the client was told of",
                );
            }
        }
        if let Some((seq, _)) = fetch_items(&r.raw) {
            c.check(seq as usize <= exists, "a FETCH is about a known message");
        }
    }
    c.check(exists == 5, "EXISTS announced both new messages");
    let done = completions(&out);
    let tags: Vec<&str> = done.iter().map(|l| l.split(' ').next().unwrap()).collect();
    c.check(
        tags == ["l1", "l2", "l3", "l4", "l5", "l6"],
        "all six completed in order",
    );
    c.check(
        done.iter().all(|l| l.split(' ').nth(1) == Some("OK")),
        "all OK",
    );
    let search: Vec<&String> = out
        .iter()
        .map(|r| &r.text)
        .filter(|t| t.starts_with("* SEARCH"))
        .collect();
    let mut v = HashMap::new();
    c.check(
        search.len() == 2
            && matches(&search_pat(&[4]), search[0], &mut v)
            && matches(&search_pat(&[4, 5]), search[1], &mut v),
        "SEARCH sees the appended messages",
    );
    c.check(
        out.iter().any(|r| {
            matches(
                &format!(
                    r"* 4 FETCH (<<FLAGS (\Flagged)|BODY[HEADER.FIELDS (SUBJECT)] {}>>)",
                    string("Subject: pipelined\r\n\r\n")
                ),
                &r.text,
                &mut HashMap::new(),
            )
        }),
        "FETCH 4 returns the appended message with its flag",
    );
}

/// Commands pipelined after LOGOUT are not executed (RFC 9051 §6.1.3: the server closes the
/// connection after the tagged OK).
#[test]
fn nothing_runs_after_logout() {
    let srv = memory();
    let log = Log::default();
    let mut c = Imap::login_shared(&srv, "A", &log);
    c.send(b"z1 LOGOUT\r\nz2 CREATE zombie\r\nz3 NOOP\r\n");
    c.script(
        "S: * BYE *
         S: z1 OK *
         E:",
    );
    let mut d = Imap::login_shared(&srv, "B", &log);
    let out = d.ok("y1", r#"LIST "" zombie"#);
    d.check(out.len() == 1, "the CREATE after LOGOUT did not run");
}

// ==== 3. Bad input

/// An unknown command, a command in the wrong state and bad arguments get a tagged BAD (RFC
/// 3501 §7.1.3) and the session goes on.
#[test]
fn unknown_commands_get_bad_and_the_session_goes_on() {
    let srv = memory();
    let log = Log::default();
    let mut c = Imap::connect(&srv, "", &log);
    c.script(
        "S: * OK *
         C: x1 FROBNICATE
         S: x1 BAD *
         C: x2 NOOP
         S: x2 OK *
         C: x3 LOGIN alice secret
         S: x3 OK *
         C: x4 FROBNICATE the mailbox
         S: x4 BAD *
         C: x5 FETCH 1 FLAGS
         S: x5 [[BAD|NO]] *
         C: x6 SELECT
         S: x6 BAD *
         C: x7 SELECT INBOX
         O: * FLAGS *
         U: * 3 EXISTS
         O: * * RECENT
         O: * OK [UIDVALIDITY *] *
         O: * OK [UIDNEXT *] *
         O: * OK [PERMANENTFLAGS *] *
         O: * OK [UNSEEN *] *
         O: * OK [HIGHESTMODSEQ *] *
         S: x7 OK [READ-WRITE] *
         # RFC 9051 §9: a sequence number past the last message is BAD.
         C: x8 FETCH 4 FLAGS
         S: x8 BAD *
         C: x9 STORE 1:9 +FLAGS (\\Seen)
         S: x9 BAD *
         C: x10 FETCH 1 (FLAGS
         S: x10 BAD *
         C: x11 STORE 1 +FLAGS \\Frobnicate
         S: x11 [[BAD|NO]] *
         C: x12 UID FETCH 1:* NOSUCHITEM
         S: x12 BAD *
         C: x13 NOOP
         S: x13 OK *
         C: x14 LOGOUT
         S: * BYE *
         S: x14 OK *
         E:",
    );
}

/// Lines without a usable tag get an untagged BAD (RFC 3501 §7.1.3: the tag cannot be
/// determined) and the session goes on.
#[test]
fn lines_without_a_tag() {
    let srv = memory();
    let mut c = Imap::login(&srv);
    c.script(
        "C:  NOOP
         S: * BAD *
         C: * NOOP
         S: * BAD *
         C: + NOOP
         S: * BAD *
         C: NOOP
         S: * BAD * || NOOP BAD *
         C: y1 NOOP
         S: y1 OK *
         # An empty line: refused or ignored.
         C:
         C: y2 NOOP
         O: * BAD *
         S: y2 OK *",
    );
}

/// A line longer than `ServerConfig::max_line_len` gets BAD (or a clean BYE), the rest of the
/// line is not taken for commands, and the session goes on; a line just under the limit
/// works.
#[test]
fn an_overlong_line() {
    let srv = memory();
    let max = ServerConfig::default().max_line_len;
    let mut c = Imap::login(&srv);
    select(&mut c, "o0", "INBOX", 3);
    // Just under the limit (CRLF included).
    let prefix = "o1 SEARCH SUBJECT \"";
    let fill = "x".repeat(max - prefix.len() - 13);
    c.line_out(&format!("{prefix}{fill}\""));
    c.script(
        "S: * SEARCH
         S: o1 OK *",
    );
    // Over it, with what looks like a command in the part beyond the limit.
    c.send(format!("o2 SEARCH SUBJECT \"{} o9 LOGOUT \"\r\n", "x ".repeat(max)).as_bytes());
    let r = c.next("a BAD or BYE for the overlong line");
    if r.text.starts_with("* BYE") {
        c.expect_eof();
        return;
    }
    c.check(
        r.text.starts_with("o2 BAD") || r.text.starts_with("* BAD"),
        "the overlong line gets BAD",
    );
    c.script(
        "C: o3 NOOP
         S: o3 OK *
         C: o4 SEARCH SUBJECT first
         S: * SEARCH 1
         S: o4 OK *",
    );
}

/// A literal over the limit before login gets no continuation request (the client must not
/// send it); LOGIN then works; a non-synchronising one is refused and its octets are not
/// taken for commands; after login a literal of that size is accepted, and one over
/// APPENDLIMIT is refused with no `+`.
#[test]
fn oversized_literals() {
    let srv = memory();
    let config = ServerConfig::default();
    let before = config.max_literal_before_auth + 1;
    let log = Log::default();
    let mut c = Imap::connect(&srv, "", &log);
    c.script(&format!(
        "S: * OK *
         C: a1 LOGIN alice {{{before}}}
         S: a1 [[BAD|NO]] *
         C: a2 NOOP
         S: a2 OK *"
    ));
    // Non-synchronising: the octets come anyway (with a command inside); they are skipped.
    let tail = "\r\nb9 LOGOUT\r\n";
    let inside = "x".repeat(before as usize - tail.len()) + tail;
    c.send(format!("b1 LOGIN alice {{{before}+}}\r\n{inside}\r\nb2 NOOP\r\n").as_bytes());
    c.script(
        "S: b1 [[BAD|NO]] *
         S: b2 OK *
         C: b3 LOGIN alice secret
         S: b3 OK *",
    );
    // After login the same size is fine.
    let msg = format!("Subject: big\r\n\r\n{}\r\n", "y".repeat(before as usize));
    let done = c.append_sync("b4", "INBOX", "", &msg);
    c.check(
        done.text.starts_with("b4 OK"),
        "the literal is accepted after login",
    );
    // Over APPENDLIMIT: refused, no "+".
    c.script(&format!(
        "C: b5 APPEND INBOX {{{}}}
         S: b5 [[NO|BAD]] *
         C: b6 NOOP
         S: b6 OK *",
        config.max_literal_len + 1
    ));
}

// ==== The runner itself

/// The pattern language matches what it should and nothing else.
#[test]
fn the_pattern_language() {
    let mut v = HashMap::new();
    let m = |p: &str, s: &str, v: &mut HashMap<String, String>| matches(p, s, v);
    assert!(m("* OK *", "* OK [CAPABILITY IMAP4rev1] ready", &mut v));
    assert!(!m("* OK *", "a1 OK done", &mut v));
    assert!(!m("* 3 EXISTS", "* 4 EXISTS", &mut v));
    assert!(!m("* 3 EXISTS", "* 3 EXISTS ", &mut v));
    assert!(m(
        r"* OK [PERMANENTFLAGS (\Seen \**)] *",
        r"* OK [PERMANENTFLAGS (\Seen \*)] x",
        &mut v
    ));
    assert!(!m(
        r"* OK [PERMANENTFLAGS (\Seen \**)] *",
        r"* OK [PERMANENTFLAGS (\Seen \Draft)] x",
        &mut v
    ));
    assert!(m(
        "* OK [UIDVALIDITY $uv] *",
        "* OK [UIDVALIDITY 42] x",
        &mut v
    ));
    assert_eq!(v["uv"], "42");
    assert!(m(
        "* STATUS x (UIDVALIDITY $uv)",
        "* STATUS x (UIDVALIDITY 42)",
        &mut v
    ));
    assert!(!m(
        "* STATUS x (UIDVALIDITY $uv)",
        "* STATUS x (UIDVALIDITY 43)",
        &mut v
    ));
    let flags = r"* FLAGS (<<\Seen|\Draft|\Flagged>>)";
    assert!(m(flags, r"* FLAGS (\Draft \Flagged \Seen)", &mut v));
    assert!(m(flags, r"* FLAGS (\Seen \Draft \Flagged)", &mut v));
    assert!(!m(flags, r"* FLAGS (\Seen \Draft)", &mut v));
    assert!(!m(
        flags,
        r"* FLAGS (\Seen \Draft \Flagged \Deleted)",
        &mut v
    ));
    assert!(!m(flags, r"* FLAGS (\Seen  \Draft \Flagged)", &mut v));
    let nested = r"* 1 FETCH (<<UID 7|FLAGS (<<\Seen|\Flagged>>)>>)";
    assert!(m(
        nested,
        r"* 1 FETCH (FLAGS (\Flagged \Seen) UID 7)",
        &mut v
    ));
    assert!(!m(nested, r"* 1 FETCH (FLAGS (\Flagged) UID 7)", &mut v));
    assert!(m("a [[OK|NO]] *", "a NO x", &mut v));
    assert!(!m("a [[OK|NO]] *", "a BAD x", &mut v));
    assert!(m("* BAD * || x BAD *", "x BAD y", &mut v));
    assert!(m(r#"x "%d" y"#, r#"x "1 2 3" y"#, &mut v));
    assert_eq!(v["d"], "1 2 3");
    let s = string("Date: x\r\n");
    assert!(m(
        &format!("* 1 FETCH (BODY[] {s})"),
        r"* 1 FETCH (BODY[] {9}\r\nDate: x\r\n)",
        &mut v
    ));
    assert!(!m(
        &format!("* 1 FETCH (BODY[] {s})"),
        r"* 1 FETCH (BODY[] {9}\r\nDate: y\r\n)",
        &mut v
    ));
    let s = string("a*b");
    assert!(m(&s, "\"a*b\"", &mut v) && m(&s, r"{3}\r\na*b", &mut v) && !m(&s, "\"aXb\"", &mut v));
    assert!(m(&search_pat(&[]), "* SEARCH", &mut v) && !m(&search_pat(&[]), "* SEARCH 1", &mut v));
    assert!(m(&search_pat(&[2, 5]), "* SEARCH 5 2", &mut v));
    assert!(!m(&search_pat(&[2, 5]), "* SEARCH 2", &mut v));
    assert_eq!(literal_size(b"* 1 FETCH (BODY[] {310}"), Some(310));
    assert_eq!(literal_size(b"* OK {x}"), None);
    let (seq, items) = fetch_items(
        b"* 2 FETCH (UID 9 BODY[HEADER.FIELDS (A B)] {3}\r\nx\r\n FLAGS (\\Seen) BODY[]<0> \"ab\")",
    )
    .unwrap();
    assert_eq!(seq, 2);
    assert_eq!(item_u32(&items, "UID"), Some(9));
    assert_eq!(
        item(&items, "BODY[HEADER.FIELDS (A B)]"),
        Some(&b"x\r\n"[..])
    );
    assert_eq!(item(&items, "BODY[]<0>"), Some(&b"ab"[..]));
    assert_eq!(flag_set(item(&items, "FLAGS").unwrap()), set(&["\\Seen"]));
    assert_eq!(
        instant("17-Jul-1996 02:44:25 -0700"),
        instant("17-Jul-1996 09:44:25 +0000")
    );
    assert_eq!(instant(" 1-Jan-1970 00:00:00 +0000"), 0);
}

/// A script that does not match the server fails, with the transcript.
#[test]
#[should_panic(expected = "---- transcript ----")]
fn a_mismatch_fails_with_the_transcript() {
    let srv = memory();
    let mut c = Imap::login(&srv);
    c.script(
        "C: z1 NOOP
         S: z1 NO *",
    );
}
