#!/usr/bin/env python3
"""Twisted's mail servers as one test peer on 127.0.0.1: ESMTP, POP3 and IMAP4rev1 over one in-memory
store, so that mail sent over SMTP is read back over IMAP and POP3.

Users alice and bob, password "secret". SMTP: AUTH CRAM-MD5, PLAIN, LOGIN (optional: anyone may send
to a local user, "alice@any.domain" is alice, other recipients get 550). IMAP: LOGIN and AUTHENTICATE
CRAM-MD5, PLAIN, LOGIN. POP3: USER/PASS, APOP, AUTH CRAM-MD5/PLAIN/LOGIN (RFC 5034 initial response allowed). With --cert/--key, STARTTLS
is offered on SMTP and IMAP (Twisted's POP3 server has no STLS), and IMAP then says LOGINDISABLED and
refuses LOGIN until STARTTLS (Twisted's rule; AUTHENTICATE stays allowed).
The store lives as long as the process; nothing is written to disk.

Usage: twisted_mail.py --imap PORT --pop3 PORT --smtp PORT [--cert PEM --key PEM] [--pidfile FILE]
                       [--host 127.0.0.1]

Twisted (26.x) server bugs worked around here, each in a subclass below:
  * POP3 APOP always fails on Python 3: APOPCredentials compares a str hexdigest with the bytes digest.
  * IMAP APPEND without a flag list (valid) answers "BAD Server error" (it iterates None).
  * IMAP LIST/LSUB answer with the mailbox's *message* flags (\\Seen \\Deleted ...) as mailbox attributes.
  * POP3 RETR/TOP dot-stuffing misses a "." on the message's first line and at 16 KiB chunk edges.
  * POP3 AUTH knows only CRAM-MD5 and no initial response; a command with the wrong number of arguments
    ("RETR", "AUTH PLAIN xyz") crashes while formatting the error, and the client gets no answer at all.
  * POP3 CAPA advertises "PIPELINE" (sic) and joke capabilities (CELERITY AUSPEX POTENCE).
  * IMAP SEARCH FROM/TO/CC/BCC/SUBJECT/HEADER and BEFORE/ON/SINCE/SENT* answer "BAD SEARCH failed"
    (str vs bytes); TEXT skips the header; KEYWORD never matches.
  * IMAP BODY[n] of a multipart message comes with LF line ends unless the part is re-serialised with CRLF.
  * imap4.MemoryAccount upper-cases every mailbox name ("Sent" lists as "SENT"): not used here.
"""
import argparse
import base64
import binascii
import datetime
import email
import email.policy
import email.utils
import functools
import hashlib
import hmac
import io
import os
import sys
import time

from zope.interface import implementer
from twisted.cred import checkers, credentials, error as cred_error, portal
from twisted.internet import defer, protocol, reactor
from twisted.mail import imap4, pop3, smtp
from twisted.python import log

USERS = {b"alice": b"secret", b"bob": b"secret"}
POP3_SASL = [b"CRAM-MD5", b"PLAIN", b"LOGIN"]
SPECIAL_USE = {"Drafts": r"\Drafts", "Sent": r"\Sent", "Trash": r"\Trash", "Junk": r"\Junk"}
DELIMITER = "/"


def as_str(flag):
    return flag.decode() if isinstance(flag, bytes) else flag


# The stdlib re-serialises a parsed part with LF line ends by default; IMAP wants CRLF.
CRLF = email.policy.compat32.clone(linesep="\r\n")


# ---------------------------------------------------------------------------------------------- store
@implementer(imap4.IMessagePart)
class Part:
    """One MIME part, parsed by the stdlib; Twisted builds BODYSTRUCTURE and ENVELOPE from it."""

    def __init__(self, parsed):
        self._parsed = parsed

    @property
    def parsed(self):
        return self._parsed

    def getHeaders(self, negate, *names):
        wanted = {as_str(n).lower() for n in names}
        return {k.lower(): v for k, v in self.parsed.items() if (k.lower() in wanted) != negate}

    def getBodyFile(self):
        raw = self.parsed.as_bytes(policy=CRLF)
        head, sep, body = raw.partition(b"\r\n\r\n")
        return io.BytesIO(body if sep else b"")

    def getSize(self):
        return len(self.parsed.as_bytes(policy=CRLF))

    def isMultipart(self):
        return self.parsed.is_multipart()

    def getSubPart(self, part):
        return Part(self.parsed.get_payload(part))


@implementer(imap4.IMessage, imap4.IMessageFile)
class Message(Part):
    """A stored message: its exact bytes (CRLF line ends), UID, flags and internal date."""

    def __init__(self, raw, uid, flags, date):
        self.raw, self.uid, self.flags, self.date = raw, uid, {as_str(f) for f in flags}, date

    @functools.cached_property
    def parsed(self):  # parsed only once IMAP asks for headers or structure
        return email.message_from_bytes(self.raw)

    def open(self):  # IMessageFile: BODY[] and RFC822 stream the exact bytes
        return io.BytesIO(self.raw)

    def getBodyFile(self):
        head, sep, body = self.raw.partition(b"\r\n\r\n")
        return io.BytesIO(body if sep else b"")

    def getSize(self):
        return len(self.raw)

    def getUID(self):
        return self.uid

    def getFlags(self):
        return sorted(self.flags)

    def getInternalDate(self):
        return self.date


@implementer(imap4.IMailbox, imap4.IMessageCopier)
class Mailbox:
    """An IMAP mailbox in memory. A user's INBOX is also their POP3 maildrop and the SMTP target."""

    PERMANENT_FLAGS = [r"\Seen", r"\Answered", r"\Flagged", r"\Deleted", r"\Draft"]

    def __init__(self, name):
        self.name, self.msgs, self.next_uid = name, [], 1
        self.listeners, self.validity = [], int(time.time())

    def getFlags(self):
        return list(self.PERMANENT_FLAGS)

    def getHierarchicalDelimiter(self):
        return DELIMITER

    def getUIDValidity(self):
        return self.validity

    def getUIDNext(self):
        return self.next_uid

    def getUID(self, seq):
        return self.msgs[seq - 1].uid

    def getMessageCount(self):
        return len(self.msgs)

    def getRecentCount(self):
        return 0  # \Recent is not tracked

    def getUnseenCount(self):
        return sum(r"\Seen" not in m.flags for m in self.msgs)

    def isWriteable(self):
        return True

    def destroy(self):
        self.msgs = []

    def requestStatus(self, names):
        return imap4.statusRequestHelper(self, names)

    def addListener(self, listener):
        self.listeners.append(listener)

    def removeListener(self, listener):
        if listener in self.listeners:
            self.listeners.remove(listener)

    def addMessage(self, message, flags=(), date=None):
        raw = message.read() if hasattr(message, "read") else message
        if isinstance(raw, str):
            raw = raw.encode()
        self.msgs.append(Message(raw, self.next_uid, flags or (), date or email.utils.formatdate(localtime=True)))
        self.next_uid += 1
        for listener in list(self.listeners):
            listener.newMessages(len(self.msgs), None)
        return defer.succeed(self.next_uid - 1)

    def copy(self, message):  # IMessageCopier: COPY keeps the exact bytes and the flags
        return self.addMessage(message.raw, message.flags, message.date)

    def expunge(self):
        gone = [i + 1 for i, m in enumerate(self.msgs) if r"\Deleted" in m.flags]
        self.msgs = [m for m in self.msgs if r"\Deleted" not in m.flags]
        return gone[::-1]  # highest first: each "n EXPUNGE" stays valid as it is sent

    def fetch(self, messages, uid):
        if not self.msgs:
            return []
        if uid:
            messages.last = self.msgs[-1].uid
            return [(i + 1, m) for i, m in enumerate(self.msgs) if m.uid in messages]
        messages.last = len(self.msgs)
        return [(i, self.msgs[i - 1]) for i in messages if 0 < i <= len(self.msgs)]

    def store(self, messages, flags, mode, uid):
        flags = {as_str(f) for f in flags}
        out = {}
        for seq, m in self.fetch(messages, uid):
            if mode == 0:
                m.flags = set(flags)
            elif mode > 0:
                m.flags |= flags
            else:
                m.flags -= flags
            out[seq] = m.getFlags()
        return out


@implementer(imap4.IAccount, imap4.INamespacePresenter)
class Account:
    """A user's mailboxes. Names keep their case; only INBOX is case-insensitive (RFC 3501)."""

    def __init__(self, user):
        self.user = user
        self.mailboxes = {"INBOX": Mailbox("INBOX")}
        self.subscriptions = {"INBOX"}

    @staticmethod
    def norm(name):
        name = as_str(name).strip(DELIMITER)
        return "INBOX" + name[5:] if name.upper() == "INBOX" or name.upper().startswith("INBOX/") else name

    def addMailbox(self, name, mbox=None):
        name = self.norm(name)
        if name in self.mailboxes:
            raise imap4.MailboxCollision(name)
        self.mailboxes[name] = mbox or Mailbox(name)
        return True

    def create(self, pathspec):
        path = [p for p in self.norm(pathspec).split(DELIMITER) if p]
        for depth in range(1, len(path)):  # missing parents are created too
            parent = DELIMITER.join(path[:depth])
            if parent not in self.mailboxes:
                self.mailboxes[parent] = Mailbox(parent)
        try:
            return self.addMailbox(DELIMITER.join(path))
        except imap4.MailboxCollision:
            return False

    def select(self, name, rw=True):
        return self.mailboxes.get(self.norm(name))

    def _inferiors(self, name):
        return [n for n in self.mailboxes if n.startswith(name + DELIMITER)]

    def delete(self, name):
        name = self.norm(name)
        if name == "INBOX":
            raise imap4.MailboxException("INBOX cannot be deleted")
        if name not in self.mailboxes:
            raise imap4.MailboxException("No such mailbox")
        if self._inferiors(name):
            raise imap4.MailboxException("Mailbox has inferior hierarchical names")
        self.mailboxes.pop(name).destroy()
        self.subscriptions.discard(name)

    def rename(self, oldname, newname):
        old, new = self.norm(oldname), self.norm(newname)
        if old not in self.mailboxes:
            raise imap4.NoSuchMailbox(old)
        moves = [(n, new + n[len(old):]) for n in [old] + self._inferiors(old)]
        for _, to in moves:
            if to in self.mailboxes:
                raise imap4.MailboxCollision(to)
        if old == "INBOX":  # RFC 3501: renaming INBOX moves its messages and leaves it empty
            box = Mailbox(new)
            box.msgs, self.mailboxes["INBOX"].msgs = self.mailboxes["INBOX"].msgs, []
            box.next_uid = len(box.msgs) + 1
            self.mailboxes[new] = box
            return True
        for frm, to in moves:
            self.mailboxes[to] = self.mailboxes.pop(frm)
            self.mailboxes[to].name = to
        return True

    def isSubscribed(self, name):
        return self.norm(name) in self.subscriptions

    def subscribe(self, name):
        self.subscriptions.add(self.norm(name))

    def unsubscribe(self, name):
        name = self.norm(name)
        if name not in self.subscriptions:
            raise imap4.MailboxException("Not currently subscribed to " + name)
        self.subscriptions.discard(name)

    def listMailboxes(self, ref, wildcard):
        pattern = imap4.wildcardToRegexp(as_str(ref) + as_str(wildcard), DELIMITER)
        return [(n, b) for n, b in sorted(self.mailboxes.items()) if pattern.match(n)]

    def attributes(self, name):  # LIST attributes (see IMAPServer._cbListWork)
        special = SPECIAL_USE.get(name)
        return [r"\HasChildren" if self._inferiors(name) else r"\HasNoChildren"] + ([special] if special else [])

    # INamespacePresenter
    def getPersonalNamespaces(self):
        return [[b"", DELIMITER.encode()]]

    def getSharedNamespaces(self):
        return None

    def getOtherNamespaces(self):
        return None


class Store:
    def __init__(self, users):
        self.accounts = {u: Account(u) for u in users}

    def inbox(self, user):
        return self.accounts[user].mailboxes["INBOX"]


STORE = Store(USERS)


# ----------------------------------------------------------------------------------------------- POP3
class FixedAPOPCredentials(pop3.APOPCredentials):
    """APOP digest check that compares bytes with bytes (Twisted's compares str with bytes)."""

    def checkPassword(self, password):
        mine = hashlib.md5(self.magic + password).hexdigest().encode("ascii")
        return hmac.compare_digest(mine, self.digest.lower())


class PopDrop:
    """pop3.IMailbox: a snapshot of INBOX at login; DELE marks, QUIT removes (RFC 1939 UPDATE state)."""

    def __init__(self, box):
        self.box, self.snapshot, self.deleted = box, list(box.msgs), set()

    def listMessages(self, i=None):  # size 0 means deleted, as Twisted's POP3 server expects
        if i is None:
            return [self.listMessages(j) for j in range(len(self.snapshot))]
        self._check(i)
        return 0 if i in self.deleted else self.snapshot[i].getSize()

    def _check(self, i):
        if not 0 <= i < len(self.snapshot):
            raise ValueError(i)

    def getMessage(self, i):
        self._check(i)
        return io.BytesIO(self.snapshot[i].raw)

    def getUidl(self, i):
        self._check(i)
        return b"%d.%d" % (self.box.validity, self.snapshot[i].uid)

    def deleteMessage(self, i):
        self._check(i)
        self.deleted.add(i)

    def undeleteMessages(self):
        self.deleted.clear()

    def sync(self):
        gone = {id(self.snapshot[i]) for i in self.deleted}
        self.box.msgs = [m for m in self.box.msgs if id(m) not in gone]
        self.snapshot = [m for m in self.snapshot if id(m) not in gone]
        self.deleted.clear()


class POP3Server(pop3.POP3):
    def authenticateUserAPOP(self, user, digest):
        if self.portal is None:
            raise cred_error.UnauthorizedLogin()
        return self.portal.login(FixedAPOPCredentials(self.magic, user, digest), None, pop3.IMailbox)

    def listCapabilities(self):
        return [b"TOP", b"USER", b"UIDL", b"PIPELINING", b"RESP-CODES", b"IMPLEMENTATION twisted_mail",
                b"SASL " + b" ".join(POP3_SASL)]

    # Twisted answers a command whose argument count is wrong ("RETR", "AUTH PLAIN xyz") by raising a
    # TypeError while formatting its own error message, and the client never gets an answer.
    def state_COMMAND(self, line):
        try:
            return self.processCommand(*line.split(b" "))
        except Exception as e:  # noqa: BLE001 - every failure must still answer -ERR
            detail = e.args[0] if e.args else e.__class__.__name__
            if not isinstance(detail, bytes):
                detail = str(detail).encode("utf-8", "replace")
            self.failResponse(b"bad command: " + detail)

    # Twisted's AUTH only understands CRAM-MD5 and no initial response (RFC 5034): a full SASL
    # exchange for PLAIN, LOGIN and CRAM-MD5 instead, initial response allowed for PLAIN and LOGIN.
    def do_AUTH(self, mechanism=None, initial=None):
        if mechanism is None:
            self.successResponse(b"Supported authentication methods:")
            for name in POP3_SASL:
                self.sendLine(name)
            self.sendLine(b".")
            return
        mechanism = mechanism.upper()
        if mechanism not in POP3_SASL:
            self.failResponse(b"Unsupported SASL mechanism")
            return
        self._sasl = {"mech": mechanism, "step": 0}
        if mechanism == b"CRAM-MD5":
            self._sasl["cred"] = credentials.CramMD5Credentials(b"localhost")
            self._sasl_continue(self._sasl["cred"].getChallenge())
        elif mechanism == b"LOGIN":
            if initial is not None and initial != b"=":
                self._sasl_step(initial)
            else:
                self._sasl_continue(b"Username:")
        elif initial is not None:  # PLAIN
            self._sasl_step(initial)
        else:
            self._sasl_continue(b"")

    def _sasl_continue(self, challenge):
        self.sendLine(b"+ " + base64.b64encode(challenge))
        self.state = "SASL"

    def state_SASL(self, line):
        self.state = "COMMAND"
        self._sasl_step(line)

    def _sasl_step(self, line):
        if line.strip() == b"*":
            self.failResponse(b"AUTH cancelled")
            return
        try:
            data = base64.b64decode(line.strip() if line.strip() != b"=" else b"", validate=True)
        except (binascii.Error, ValueError):
            self.failResponse(b"Invalid BASE64 encoding")
            return
        s = self._sasl
        if s["mech"] == b"PLAIN":
            parts = data.split(b"\0")
            if len(parts) != 3:
                self.failResponse(b"Invalid AUTH PLAIN response")
                return
            self._sasl_login(parts[1], credentials.UsernamePassword(parts[1], parts[2]))
        elif s["mech"] == b"LOGIN":
            if s["step"] == 0:
                s["user"], s["step"] = data, 1
                self._sasl_continue(b"Password:")
            else:
                self._sasl_login(s["user"], credentials.UsernamePassword(s["user"], data))
        else:  # CRAM-MD5: "user hexdigest"
            parts = data.split(None, 1)
            if len(parts) != 2:
                self.failResponse(b"Invalid AUTH response")
                return
            s["cred"].username, s["cred"].response = parts
            self._sasl_login(parts[0], s["cred"])

    def _sasl_login(self, user, cred):
        d = self.portal.login(cred, None, pop3.IMailbox)
        d.addCallback(self._cbMailbox, user)
        d.addErrback(self._ebMailbox)
        d.addErrback(self._ebUnexpected)

    # Messages are stored with CRLF line ends, so the only transformation left is dot-stuffing, which
    # must also see the first line and lines that start right after a chunk boundary.
    def _sendMessageContent(self, i, fpWrapper, successResponse):
        self._at_line_start = True
        return super()._sendMessageContent(i, fpWrapper, successResponse)

    def transformChunk(self, chunk):
        out = chunk.replace(b"\n.", b"\n..")
        if getattr(self, "_at_line_start", True) and chunk.startswith(b"."):
            out = b"." + out
        if chunk:
            self._at_line_start = chunk.endswith(b"\n")
        return out


# ----------------------------------------------------------------------------------------------- IMAP
class IMAPServer(imap4.IMAP4Server):
    def _cbAppendGotMailbox(self, mbox, tag, flags, date, message):
        return super()._cbAppendGotMailbox(mbox, tag, flags or [], date, message)

    def _cbListWork(self, mailboxes, tag, sub, cmdName):
        for name, box in mailboxes:
            if not sub or self.account.isSubscribed(name):
                resp = (
                    imap4.DontQuoteMe(cmdName),
                    [imap4.DontQuoteMe(a.encode()) for a in self.account.attributes(name)],
                    box.getHierarchicalDelimiter().encode(),
                    name.encode("imap4-utf-7"),
                )
                self.sendUntaggedResponse(imap4.collapseNestedLists(resp))
        self.sendPositiveResponse(tag, cmdName + b" completed")

    # SEARCH by header compares the str header with the bytes search string on Python 3 and answers
    # "BAD SEARCH failed: must be str, not bytes"; TEXT ignores the header; KEYWORD never matches.
    @staticmethod
    def _contains(haystack, query):
        needle = query.pop(0)
        needle = needle.decode("utf-8", "replace") if isinstance(needle, bytes) else needle
        haystack = haystack.decode("utf-8", "replace") if isinstance(haystack, bytes) else str(haystack)
        return needle.lower() in haystack.lower()

    def _header(self, msg, name):
        name = as_str(name).lower()
        return msg.getHeaders(False, name).get(name, "")

    def search_BCC(self, query, id, msg):
        return self._contains(self._header(msg, "bcc"), query)

    def search_CC(self, query, id, msg):
        return self._contains(self._header(msg, "cc"), query)

    def search_FROM(self, query, id, msg):
        return self._contains(self._header(msg, "from"), query)

    def search_TO(self, query, id, msg):
        return self._contains(self._header(msg, "to"), query)

    def search_SUBJECT(self, query, id, msg):
        return self._contains(self._header(msg, "subject"), query)

    def search_HEADER(self, query, id, msg):
        return self._contains(self._header(msg, query.pop(0)), query)

    def search_BODY(self, query, id, msg):
        return self._contains(msg.getBodyFile().read(), query)

    def search_TEXT(self, query, id, msg):
        return self._contains(msg.raw if isinstance(msg, Message) else msg.getBodyFile().read(), query)

    # BEFORE/ON/SINCE and SENT* parse the bytes date with a str regex ("BAD ... cannot use a string
    # pattern on a bytes-like object"). RFC 3501: dates only, time and zone disregarded.
    @staticmethod
    def _day(query):
        return datetime.datetime.strptime(as_str(query.pop(0)), "%d-%b-%Y").date()

    @staticmethod
    def _date_of(value):
        try:
            return email.utils.parsedate_to_datetime(as_str(value)).date()
        except (TypeError, ValueError, IndexError):
            return None

    def _compare(self, query, value, test):
        day, have = self._day(query), self._date_of(value)
        return have is not None and test(have, day)

    def search_BEFORE(self, query, id, msg):
        return self._compare(query, msg.getInternalDate(), lambda a, b: a < b)

    def search_ON(self, query, id, msg):
        return self._compare(query, msg.getInternalDate(), lambda a, b: a == b)

    def search_SINCE(self, query, id, msg):
        return self._compare(query, msg.getInternalDate(), lambda a, b: a >= b)

    def search_SENTBEFORE(self, query, id, msg):
        return self._compare(query, self._header(msg, "date"), lambda a, b: a < b)

    def search_SENTON(self, query, id, msg):
        return self._compare(query, self._header(msg, "date"), lambda a, b: a == b)

    def search_SENTSINCE(self, query, id, msg):
        return self._compare(query, self._header(msg, "date"), lambda a, b: a >= b)

    def search_KEYWORD(self, query, id, msg):
        return as_str(query.pop(0)).lower() in {f.lower() for f in msg.getFlags()}

    def search_UNKEYWORD(self, query, id, msg):
        return not self.search_KEYWORD(query, id, msg)


# ----------------------------------------------------------------------------------------------- SMTP
@implementer(smtp.IMessageDelivery)
class Delivery:
    """RCPT must name a known user (any domain); each accepted message lands in that user's INBOX."""

    def receivedHeader(self, helo, origin, recipients):
        return b"Received: from " + (helo[0] or b"unknown") + b" by twisted_mail; " + \
            email.utils.formatdate(localtime=True).encode()

    def validateFrom(self, helo, origin):
        return origin

    def validateTo(self, user):
        local = user.dest.local.lower()
        if local not in STORE.accounts:
            raise smtp.SMTPBadRcpt(user)
        return lambda: Incoming(STORE.inbox(local))


@implementer(smtp.IMessage)
class Incoming:
    def __init__(self, box):
        self.box, self.lines = box, []

    def lineReceived(self, line):  # Twisted has already undone the dot-stuffing
        self.lines.append(line)

    def eomReceived(self):
        return self.box.addMessage(b"\r\n".join(self.lines) + b"\r\n")

    def connectionLost(self):
        self.lines = []


# ------------------------------------------------------------------------------------ authentication
@implementer(portal.IRealm)
class Realm:
    def requestAvatar(self, avatarId, mind, *interfaces):
        user = avatarId.lower() if isinstance(avatarId, bytes) else as_str(avatarId).lower().encode()
        for iface in interfaces:
            if iface is imap4.IAccount:
                return iface, STORE.accounts[user], lambda: None
            if iface is pop3.IMailbox:
                return iface, PopDrop(STORE.inbox(user)), lambda: None
            if iface is smtp.IMessageDelivery:
                return iface, Delivery(), lambda: None
        raise NotImplementedError(interfaces)


def make_portal():
    checker = checkers.InMemoryUsernamePasswordDatabaseDontUse()  # checks passwords and CRAM-MD5/APOP digests
    for user, password in USERS.items():
        checker.addUser(user, password)
    return portal.Portal(Realm(), [checker])


class Factory(protocol.ServerFactory):
    def __init__(self, build, challengers=None):
        self.build, self.portal, self.challengers = build, make_portal(), challengers or {}

    def buildProtocol(self, addr):
        p = self.build()
        p.factory, p.portal = self, self.portal
        return p


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("imap", "pop3", "smtp"):
        ap.add_argument("--" + name, type=int, required=True, metavar="PORT")
    ap.add_argument("--cert", help="PEM certificate: enables STARTTLS on IMAP and SMTP")
    ap.add_argument("--key", help="PEM private key for --cert")
    ap.add_argument("--pidfile")
    ap.add_argument("--host", default="127.0.0.1")
    a = ap.parse_args()
    if bool(a.cert) != bool(a.key):
        ap.error("--cert and --key go together")
    log.startLogging(sys.stderr, setStdout=False)

    tls = None
    if a.cert:
        try:
            from twisted.internet import ssl  # needs pyOpenSSL: pip install 'twisted[tls]'
            tls = ssl.DefaultOpenSSLContextFactory(a.key, a.cert)
        except ImportError as e:
            sys.exit(f"twisted_mail: STARTTLS needs pyOpenSSL (pip install 'twisted[tls]'): {e}")

    plain_login = {b"PLAIN": imap4.PLAINCredentials, b"LOGIN": imap4.LOGINCredentials}
    cram = {b"CRAM-MD5": credentials.CramMD5Credentials}
    imap_auth = {**cram, **plain_login}
    smtp_auth = {**cram, b"PLAIN": imap4.PLAINCredentials, b"LOGIN": smtp.LOGINCredentials}

    def build_smtp():
        p = smtp.ESMTP(smtp_auth, tls)
        p.host = b"localhost"
        p.delivery = Delivery()  # unauthenticated senders may deliver to local users too
        return p

    def build_imap():
        p = IMAPServer(imap_auth, tls)
        return p

    reactor.listenTCP(a.imap, Factory(build_imap), interface=a.host)
    reactor.listenTCP(a.pop3, Factory(POP3Server), interface=a.host)
    reactor.listenTCP(a.smtp, Factory(build_smtp), interface=a.host)
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    print(f"twisted_mail: pid {os.getpid()} imap={a.host}:{a.imap} pop3={a.pop3} smtp={a.smtp}"
          f" tls={'STARTTLS on imap and smtp' if tls else 'off'}", file=sys.stderr, flush=True)
    reactor.run()  # SIGTERM and SIGINT stop it


if __name__ == "__main__":
    main()
