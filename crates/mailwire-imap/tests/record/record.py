#!/usr/bin/env python3
"""Records real IMAP transcripts for crates/mailwire-imap/tests/transcripts.rs.

A small logging TCP proxy sits between a real client and a real server and appends what each side
sends to OUT/NAME.client and OUT/NAME.server, byte for byte. Servers: Dovecot (tests/peers/dovecot.sh)
and Twisted's IMAP4Server (tests/peers/twisted.sh --no-tls). Clients: Python's imaplib, imapclient and
Twisted's IMAP4Client. The mailboxes hold real MIME messages built with the stdlib `email` package:
multipart/alternative, attachments, a forwarded message/rfc822, RFC 2047 encoded-word headers,
8-bit and base64 bodies.

Usage (from the repository root; needs dovecot-imapd, twisted, imapclient):
    python3 crates/mailwire-imap/tests/record/record.py crates/mailwire-imap/tests/data/transcripts

Everything runs on 127.0.0.1 with the peers' state in a temporary folder; both peers are stopped at
the end. The transcripts hold only the test users' fixed passwords ("secret").
"""
import email.message
import email.policy
import email.utils
import imaplib
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
PEERS = os.path.join(ROOT, "tests", "peers")


# ------------------------------------------------------------------------------------------- proxy
class Proxy:
    """Forwards one connection at a time from a local port to TARGET, logging both directions."""

    def __init__(self, target_port, client_log, server_log):
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.logs = (open(client_log, "ab"), open(server_log, "ab"))
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            done = threading.Event()
            threading.Thread(target=self.pump, args=(client, server, 0, done), daemon=True).start()
            threading.Thread(target=self.pump, args=(server, client, 1, done), daemon=True).start()

    def pump(self, src, dst, which, done):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return
            with self.lock:
                self.logs[which].write(data)
                self.logs[which].flush()
            dst.sendall(data)

    def close(self):
        time.sleep(0.3)
        self.listener.close()
        for f in self.logs:
            f.close()


# ---------------------------------------------------------------------------------------- messages
def messages():
    """Real MIME messages, as bytes with CRLF line ends."""
    policy = email.policy.SMTP
    out = []

    m = email.message.EmailMessage(policy=policy)
    m["From"] = "Alice Example <alice@example.org>"
    m["To"] = "Bob <bob@example.org>, carol@example.net"
    m["Cc"] = "Group: dave@example.com, erin@example.com;"
    m["Subject"] = "Grüße aus Köln – café ☕"
    m["Date"] = email.utils.format_datetime(email.utils.localtime())
    m["Message-ID"] = "<alt-1@example.org>"
    m.set_content("Plain text with umlauts: äöü.\n\nSecond paragraph.\n")
    m.add_alternative("<html><body><p>HTML <b>part</b> – äöü</p></body></html>\n", subtype="html")
    out.append(m)

    m = email.message.EmailMessage(policy=policy)
    m["From"] = "=?utf-8?q?J=C3=B6rg?= <joerg@example.de>"
    m["To"] = "alice@example.org"
    m["Subject"] = "Report with attachments"
    m["Message-ID"] = "<att-1@example.de>"
    m["In-Reply-To"] = "<alt-1@example.org>"
    m.set_content("See the attached files.\n")
    rnd = random.Random(1)
    m.add_attachment(bytes(rnd.randrange(256) for _ in range(3000)), maintype="application",
                     subtype="octet-stream", filename="data.bin")
    m.add_attachment("name,value\nä,1\nb,2\n", subtype="csv", filename="tábla.csv")
    out.append(m)

    inner = out[0]
    m = email.message.EmailMessage(policy=policy)
    m["From"] = "bob@example.org"
    m["To"] = "alice@example.org"
    m["Subject"] = "Fwd: " + str(inner["Subject"])
    m["Message-ID"] = "<fwd-1@example.org>"
    m.set_content("Forwarding the message below.\n")
    m.add_attachment(inner, disposition="inline")
    out.append(m)

    m = email.message.EmailMessage(policy=policy)
    m["From"] = "news@example.com"
    m["To"] = "undisclosed-recipients:;"
    m["Subject"] = "Plain 7bit newsletter (long line)"
    m.set_content("word " * 300 + "\n.\n..leading dots\n", cte="7bit")
    out.append(m)

    # Without Content-Type: Twisted's BODYSTRUCTURE quirk (NIL type and subtype).
    raw = b"From: old@example.com\r\nTo: alice@example.org\r\nSubject: no MIME\r\n\r\nJust text.\r\n"
    return [msg.as_bytes(policy=policy) for msg in out] + [raw]


# ----------------------------------------------------------------------------------------- clients
def safe(step):
    """Runs one client step; a server's NO/BAD (or a command it lacks) does not end the session."""
    try:
        return step()
    except Exception as e:  # imaplib.IMAP4.error, imapclient's errors
        print("  (step failed: %s)" % str(e)[:120], file=sys.stderr)
        return None


def with_imaplib(port):
    c = imaplib.IMAP4("127.0.0.1", port)
    safe(lambda: c.capability())
    safe(lambda: c.login("alice", "secret"))
    safe(lambda: c.list())
    safe(lambda: c.lsub())
    safe(lambda: c.namespace())
    safe(lambda: c.create("Archive"))
    safe(lambda: c.create("Entw&APw-rfe"))
    for msg in messages():
        safe(lambda: c.append("INBOX", r"(\Seen $Label1)", imaplib.Time2Internaldate(time.time()), msg))
    safe(lambda: c.status("INBOX", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)"))
    safe(lambda: c.select("INBOX"))
    safe(lambda: c.fetch("1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)"))
    safe(lambda: c.fetch("1:*", "(BODY)"))
    safe(lambda: c.fetch("2", "(BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE)] BODY.PEEK[1] BODY.PEEK[2.MIME])"))
    safe(lambda: c.fetch("3", "(BODY.PEEK[2.HEADER] BODY.PEEK[2.1] BODY[]<0.100>)"))
    safe(lambda: c.fetch("1", "(RFC822.HEADER RFC822.TEXT)"))
    safe(lambda: c.fetch("1:5", "RFC822"))
    safe(lambda: c.search(None, "ALL"))
    safe(lambda: c.search(None, "UNSEEN"))
    safe(lambda: c.search(None, "OR", "FLAGGED", "NOT", "SEEN"))
    safe(lambda: c.search(None, "LARGER", "1000", "SMALLER", "100000"))
    safe(lambda: c.uid("SEARCH", None, "UID", "1:*"))
    safe(lambda: c.store("1", "+FLAGS", r"(\Flagged)"))
    safe(lambda: c.store("2", "-FLAGS.SILENT", r"(\Seen)"))
    safe(lambda: c.uid("STORE", "3", "+FLAGS", r"(\Answered $Forwarded)"))
    safe(lambda: c.copy("1:2", "Archive"))
    safe(lambda: c.uid("FETCH", "1:*", "(FLAGS)"))
    safe(lambda: c.store("4", "+FLAGS", r"(\Deleted)"))
    safe(lambda: c.expunge())
    safe(lambda: c.check())
    safe(lambda: c.noop())
    safe(lambda: c.select("Archive", readonly=True))
    safe(lambda: c.fetch("1:*", "(FLAGS ENVELOPE)"))
    safe(lambda: c.close())
    # imaplib does not quote arguments: the caller does.
    safe(lambda: c.rename("Archive", '"Old Archive"'))
    safe(lambda: c.delete('"Old Archive"'))
    safe(lambda: c.logout())


def with_imapclient(port):
    import imapclient

    c = imapclient.IMAPClient("127.0.0.1", port=port, ssl=False)
    safe(lambda: c.capabilities())
    safe(lambda: c.login("alice", "secret"))
    if c.has_capability("ID"):
        safe(lambda: c.id_({"name": "mailwire-recorder", "version": "1"}))
    if c.has_capability("ENABLE") and c.has_capability("CONDSTORE"):
        safe(lambda: c.enable("CONDSTORE"))
    safe(lambda: c.list_folders())
    safe(lambda: c.list_sub_folders())
    if c.has_capability("NAMESPACE"):
        safe(lambda: c.namespace())
    safe(lambda: c.create_folder("Reports"))
    safe(lambda: c.subscribe_folder("Reports"))
    for msg in messages()[:3]:
        safe(lambda: c.append("Reports", msg, flags=[imapclient.SEEN, b"$Work"]))
    safe(lambda: c.folder_status("Reports", ["MESSAGES", "UIDNEXT", "UNSEEN"]))
    safe(lambda: c.select_folder("Reports"))
    uids = safe(lambda: c.search(["ALL"])) or [1]
    safe(lambda: c.search(["SINCE", "01-Jan-2000"]))
    safe(lambda: c.search(["TEXT", "attached"]))
    safe(lambda: c.fetch(uids, ["ENVELOPE", "BODYSTRUCTURE", "FLAGS", "RFC822.SIZE", "INTERNALDATE"]))
    safe(lambda: c.fetch(uids[:1], ["BODY.PEEK[]", "BODY.PEEK[TEXT]<0.50>"]))
    if c.has_capability("CONDSTORE"):
        safe(lambda: c.fetch(uids, ["MODSEQ", "FLAGS"], modifiers=["CHANGEDSINCE 1"]))
    safe(lambda: c.add_flags(uids, [imapclient.FLAGGED]))
    safe(lambda: c.remove_flags(uids[-1:], [imapclient.SEEN]))
    if c.has_capability("MOVE"):
        safe(lambda: c.create_folder("Moved"))
        safe(lambda: c.move(uids[-1:], "Moved"))
    if c.has_capability("IDLE"):
        safe(lambda: c.idle())
        safe(lambda: c.idle_check(timeout=0.2))
        safe(lambda: c.idle_done())
    safe(lambda: c.delete_messages(uids[:1]))
    safe(lambda: c.expunge())
    if c.has_capability("UNSELECT"):
        safe(lambda: c.unselect_folder())
    else:
        safe(lambda: c.close_folder())
    safe(lambda: c.unsubscribe_folder("Reports"))
    safe(lambda: c.logout())


def with_twisted_client(port):
    """Twisted's IMAP4Client: login, list, select, fetch, search, store, logout."""
    script = r'''
import sys
from twisted.internet import reactor, protocol, defer
from twisted.mail import imap4

@defer.inlineCallbacks
def run(proto):
    try:
        yield proto.getCapabilities()
        yield proto.login(b"alice", b"secret")
        yield proto.list("", "*")
        yield proto.lsub("", "*")
        yield proto.status("INBOX", "MESSAGES", "UIDNEXT", "UNSEEN")
        yield proto.select("INBOX")
        ms = imap4.MessageSet(1, None)
        yield proto.fetchEnvelope(ms)
        yield proto.fetchBodyStructure(ms)
        yield proto.fetchFlags(ms)
        yield proto.fetchUID(ms)
        yield proto.fetchSize(ms)
        yield proto.fetchHeaders(imap4.MessageSet(1, 2))
        yield proto.fetchSpecific(imap4.MessageSet(2), headerType="HEADER.FIELDS", headerArgs=["SUBJECT", "FROM"], peek=True)
        yield proto.fetchSpecific(imap4.MessageSet(1), headerNumber=1, peek=True)
        yield proto.fetchMessage(imap4.MessageSet(1))
        yield proto.search(imap4.Query(unseen=True))
        yield proto.search(imap4.Or(imap4.Query(flagged=True), imap4.Query(deleted=True)))
        yield proto.addFlags(imap4.MessageSet(1), [r"\Flagged"])
        yield proto.removeFlags(imap4.MessageSet(1), [r"\Flagged"], silent=True)
        yield proto.setFlags(imap4.MessageSet(2), [r"\Seen", "$Done"])
        yield proto.noop()
        yield proto.close()
        yield proto.logout()
    except Exception as e:
        print("twisted client:", repr(e), file=sys.stderr)
    finally:
        reactor.stop()

class Client(imap4.IMAP4Client):
    def serverGreeting(self, caps):
        # Stay in cleartext so the proxy can record (Twisted negotiates STARTTLS by itself).
        if self._capCache is not None:
            self._capCache.pop(b"STARTTLS", None)
        run(self)

class Factory(protocol.ClientFactory):
    def buildProtocol(self, addr):
        return Client()
    def clientConnectionFailed(self, c, reason):
        print(reason, file=sys.stderr); reactor.stop()

reactor.connectTCP("127.0.0.1", int(sys.argv[1]), Factory())
reactor.callLater(30, reactor.stop)
reactor.run()
'''
    subprocess.run([sys.executable, "-c", script, str(port)], check=True, timeout=60)


# ------------------------------------------------------------------------------------------- peers
def free_base():
    for _ in range(50):
        base = random.randrange(20000, 40000)
        ports = [base + 143, base + 110, base + 25, base + 24, base + 993, base + 995]
        ok = True
        for p in ports:
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return base
    raise SystemExit("no free ports")


def record(out, name, port, client):
    for ext in ("client", "server"):
        path = os.path.join(out, "%s.%s" % (name, ext))
        if os.path.exists(path):
            os.remove(path)
    proxy = Proxy(port, os.path.join(out, name + ".client"), os.path.join(out, name + ".server"))
    try:
        client(proxy.port)
    finally:
        proxy.close()
    print("recorded", name)


def main():
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="mailwire-record-", dir="/tmp")
    os.chmod(tmp, 0o711)
    dovecot_dir, twisted_dir = os.path.join(tmp, "dovecot"), os.path.join(tmp, "twisted")
    os.makedirs(dovecot_dir)
    os.makedirs(twisted_dir)
    base = free_base()
    subprocess.run([os.path.join(PEERS, "dovecot.sh"), "start", dovecot_dir, str(base)], check=True)
    tbase = free_base()
    subprocess.run([os.path.join(PEERS, "twisted.sh"), "start", twisted_dir, str(tbase), "--no-tls"],
                   check=True)
    try:
        record(out, "dovecot-imaplib", base + 143, with_imaplib)
        record(out, "dovecot-imapclient", base + 143, with_imapclient)
        record(out, "dovecot-twisted-client", base + 143, with_twisted_client)
        # Twisted's server: seed alice's INBOX through imaplib's APPEND first (recorded too).
        record(out, "twisted-imaplib", tbase + 143, with_imaplib)
        record(out, "twisted-imapclient", tbase + 143, with_imapclient)
        record(out, "twisted-twisted-client", tbase + 143, with_twisted_client)
    finally:
        subprocess.run([os.path.join(PEERS, "dovecot.sh"), "stop", dovecot_dir])
        subprocess.run([os.path.join(PEERS, "twisted.sh"), "stop", twisted_dir])


if __name__ == "__main__":
    main()
