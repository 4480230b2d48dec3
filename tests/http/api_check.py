#!/usr/bin/env python3
"""Exercises the HTTP API of a running `mailwire serve` with Python's urllib (a client nobody
here wrote), mail sent with smtplib (SMTP and LMTP) and imaplib (APPEND, and BODY[] compared
byte for byte with the API's raw message). Every endpoint and every error status.

    api_check.py READY_JSON      (the ready file's JSON: http, smtp, lmtp, imap addresses)

Users alice and bob (password "secret") must exist; alice's mailboxes must be empty.
Exits 0 when every check holds, 1 with the failing check's message otherwise.
"""
import imaplib
import json
import smtplib
import sys
import threading
import time
import urllib.error
import urllib.request

ready = json.loads(sys.argv[1])
BASE = "http://" + ready["http"]


def hostport(key):
    h, p = ready[key].rsplit(":", 1)
    return h, int(p)


def call(method, path, body=None, headers=None, raw=False):
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(BASE + path, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            payload = r.read()
            return r.status, dict(r.headers), payload if raw else (json.loads(payload) if payload else None)
    except urllib.error.HTTPError as e:
        payload = e.read()
        try:
            parsed = json.loads(payload)
        except ValueError:
            parsed = payload
        return e.code, dict(e.headers), parsed


def expect_error(status, method, path, body=None, headers=None):
    got, hdrs, payload = call(method, path, body, headers)
    assert got == status, f"{method} {path}: {got} {payload!r}, expected {status}"
    assert isinstance(payload, dict) and payload.get("status") == status and payload.get("error"), \
        f"{method} {path}: not a JSON error: {payload!r}"
    assert hdrs.get("content-type", hdrs.get("Content-Type", "")).startswith("application/json"), hdrs
    return payload


def send_smtp(subject, to="alice@example.com", body="hello", extra=""):
    msg = (f"From: Bob Sender <bob@example.org>\r\nTo: {to}\r\nSubject: {subject}\r\n"
           f"Message-ID: <{subject.replace(' ', '.')}@test>\r\n{extra}\r\n{body}\r\n")
    s = smtplib.SMTP(*hostport("smtp"))
    s.sendmail("bob@example.org", [to], msg.encode())
    s.quit()
    return msg.encode()


def wait_in_thread(query):
    out = {}

    def run():
        out["r"] = call("GET", "/api/v1/messages/wait?" + query)

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.3)
    return t, out


def check(name, cond, detail=""):
    if not cond:
        raise AssertionError(f"{name}: {detail}")


# --- health, users, mailboxes ------------------------------------------------------------
st, _, h = call("GET", "/api/v1/health")
check("health", st == 200 and h["status"] == "ok", h)
st, _, u = call("GET", "/api/v1/users")
check("users", st == 200 and {x["login"] for x in u["users"]} >= {"alice", "bob"}, u)
st, _, r = call("POST", "/api/v1/users", {"login": "Carol", "password": "pw", "addresses": ["C.Smith@Corp.Example"]})
check("create user", st == 201 and r["login"] == "carol", (st, r))
st, _, u = call("GET", "/api/v1/users")
check("addresses listed", [x["addresses"] for x in u["users"] if x["login"] == "carol"] == [["c.smith@corp.example"]], u)
expect_error(409, "POST", "/api/v1/users", {"login": "dave", "password": "pw", "addresses": ["c.smith@corp.example"]})
expect_error(422, "POST", "/api/v1/users", {"login": "dave", "password": "pw", "addresses": ["no-at-sign"]})
st, _, u = call("GET", "/api/v1/users")
check("refused users not created", "dave" not in {x["login"] for x in u["users"]}, u)
t, out = wait_in_thread("user=carol&timeout=20s")
send_smtp("to an extra address", to="c.smith@corp.example")
t.join()
check("extra address delivered", out["r"][0] == 200 and out["r"][2]["user"] == "carol", out)
expect_error(409, "POST", "/api/v1/users", {"login": "carol", "password": "pw"})
expect_error(422, "POST", "/api/v1/users", {"login": "carol"})
expect_error(422, "POST", "/api/v1/users", {"login": "has space", "password": "pw"})
expect_error(400, "POST", "/api/v1/users", b"{not json")
expect_error(415, "POST", "/api/v1/users", b'{"login":"x","password":"y"}', {"Content-Type": "text/plain"})
expect_error(413, "POST", "/api/v1/users", b'{"login":"' + b"x" * 70000 + b'","password":"y"}')
st, _, mb = call("GET", "/api/v1/users/carol/mailboxes")
names = {m["name"]: m for m in mb["mailboxes"]}
check("mailboxes", st == 200 and "INBOX" in names and names["Sent"]["special_use"] == "\\Sent", mb)
expect_error(404, "GET", "/api/v1/users/nobody/mailboxes")
st, _, _ = call("DELETE", "/api/v1/users/carol")
check("delete user", st == 204, st)
expect_error(404, "DELETE", "/api/v1/users/carol")
st, _, u = call("GET", "/api/v1/users")
check("user gone", "carol" not in {x["login"] for x in u["users"]}, u)

# --- wait, woken by SMTP, LMTP and IMAP APPEND ---------------------------------------------
t, out = wait_in_thread("subject=by%20smtp&timeout=20s")
sent_smtp = send_smtp("by smtp")
t.join()
st, _, m_smtp = out["r"]
check("wait smtp", st == 200 and m_smtp["subject"] == "by smtp" and m_smtp["user"] == "alice", out)

t, out = wait_in_thread(f"to=bob&after={m_smtp['id']}&timeout=20s")
lm = smtplib.LMTP(*hostport("lmtp"))
lm.sendmail("x@example.org", ["bob@example.com"],
            b"From: x@example.org\r\nTo: bob@example.com\r\nSubject: by lmtp\r\n\r\nvia lmtp\r\n")
lm.quit()
t.join()
st, _, m_lmtp = out["r"]
check("wait lmtp", st == 200 and m_lmtp["subject"] == "by lmtp" and m_lmtp["user"] == "bob", out)

t, out = wait_in_thread("mailbox=Drafts&user=alice&timeout=20s")
imap = imaplib.IMAP4(*hostport("imap"))
imap.login("alice", "secret")
appended = (b"From: Alice <alice@example.com>\r\nTo: team@example.com\r\nSubject: by imap append\r\n"
            b"\r\nA draft with a word: zebra.\r\n")
typ, _ = imap.append("Drafts", "", None, appended)
check("imap append", typ == "OK", typ)
t.join()
st, _, m_imap = out["r"]
check("wait imap", st == 200 and m_imap["mailbox"] == "Drafts" and m_imap["subject"] == "by imap append", out)

# A wait with nothing to find answers 408 at its timeout.
t0 = time.time()
expect_error(408, "GET", "/api/v1/messages/wait?subject=never&timeout=500ms")
check("408 at the timeout", 0.4 < time.time() - t0 < 5, time.time() - t0)
expect_error(400, "GET", "/api/v1/messages/wait?timeout=forever")
expect_error(400, "GET", "/api/v1/messages/wait?timeout=3600s")
# A wait for something already there answers at once.
st, _, again = call("GET", "/api/v1/messages/wait?subject=by%20smtp&timeout=1s")
check("wait finds stored", st == 200 and again["id"] == m_smtp["id"], again)

# --- list, filters, paging --------------------------------------------------------------
for i in range(5):
    send_smtp(f"page {i}", body=f"numbered body {i}")
call("GET", "/api/v1/messages/wait?subject=page%204&timeout=10s")
st, _, page = call("GET", "/api/v1/messages?user=alice&subject=page&limit=2")
check("page 1", st == 200 and [m["subject"] for m in page["messages"]] == ["page 4", "page 3"]
      and page["total"] == 5 and page["next_before"] == page["messages"][-1]["id"], page)
st, _, page2 = call("GET", f"/api/v1/messages?user=alice&subject=page&limit=2&before={page['next_before']}")
check("page 2", [m["subject"] for m in page2["messages"]] == ["page 2", "page 1"], page2)
st, _, newer = call("GET", f"/api/v1/messages?subject=page&after={page2['messages'][0]['id']}")
check("after", [m["subject"] for m in newer["messages"]] == ["page 4", "page 3"], newer)
st, _, f = call("GET", "/api/v1/messages?from=sender&to=alice&subject=PAGE%202")
check("from/to/subject", [m["subject"] for m in f["messages"]] == ["page 2"], f)
st, _, f = call("GET", "/api/v1/messages?text=numbered%20body%203")
check("text", [m["subject"] for m in f["messages"]] == ["page 3"], f)
st, _, f = call("GET", "/api/v1/messages?text=zebra")
check("text in IMAP append", [m["subject"] for m in f["messages"]] == ["by imap append"], f)
st, _, f = call("GET", "/api/v1/messages?since=2000-01-01&until=2999-01-01T00:00:00Z&user=bob")
check("since/until", [m["subject"] for m in f["messages"]] == ["by lmtp"], f)
st, _, f = call("GET", "/api/v1/messages?since=2999-01-01")
check("since future", f["messages"] == [] and f["total"] == 0, f)
expect_error(400, "GET", "/api/v1/messages?since=yesterday")
expect_error(400, "GET", "/api/v1/messages?limit=0")
expect_error(400, "GET", "/api/v1/messages?limit=100000")
expect_error(400, "GET", "/api/v1/messages?limit=ten")
expect_error(400, "GET", "/api/v1/messages?colour=blue")
expect_error(400, "GET", "/api/v1/messages?unread=maybe")

# --- one message, raw, compared with IMAP ------------------------------------------------
st, _, full = call("GET", f"/api/v1/messages/{m_smtp['id']}")
check("message", st == 200 and full["subject"] == "by smtp" and full["text"].startswith("hello")
      and any(k == "Subject" and v == "by smtp" for k, v in full["headers"]), full)
st, hdrs, raw = call("GET", f"/api/v1/messages/{m_smtp['id']}/raw", raw=True)
check("raw type", st == 200 and hdrs.get("content-type", hdrs.get("Content-Type")) == "message/rfc822", hdrs)
check("raw ends with what was sent", raw.endswith(sent_smtp), raw)
imap.select("INBOX", readonly=True)
typ, data = imap.uid("FETCH", str(m_smtp["uid"]), "(BODY.PEEK[])")
check("imap body", typ == "OK" and data[0][1] == raw, (typ, data))
st, _, raw_append = call("GET", f"/api/v1/messages/{m_imap['id']}/raw", raw=True)
check("append raw", raw_append == appended, raw_append)
expect_error(404, "GET", "/api/v1/messages/999999")
expect_error(404, "GET", "/api/v1/messages/999999/raw")
expect_error(400, "GET", "/api/v1/messages/abc")
expect_error(404, "GET", "/api/v1/nothing/here")

# --- a MIME message: charsets, encodings, HTML, attachments --------------------------------
mime = ("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
        "--b1\r\nContent-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n"
        "--b2\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        "caf=E9 cr=E8me\r\n"
        "--b2\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        "PHA+Q2Fmw6kgPGI+Y3LDqG1lPC9iPjwvcD48c2NyaXB0PmFsZXJ0KDEpPC9zY3JpcHQ+\r\n"
        "--b2--\r\n"
        "--b1\r\nContent-Type: application/pdf; name=\"r\xe9sum\xe9.pdf\"\r\n"
        "Content-Disposition: attachment; filename=\"report.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        "JVBERi0xLjQKJcOkw7zDtsOfCg==\r\n--b1--\r\n")
t, out = wait_in_thread("subject=mime&timeout=20s")
s = smtplib.SMTP(*hostport("smtp"))
s.sendmail("bob@example.org", ["alice@example.com"],
           ("From: bob@example.org\r\nTo: alice@example.com\r\nSubject: =?utf-8?q?mime_=E2=9C=93?=\r\n" + mime).encode("latin-1"))
s.quit()
t.join()
st, _, m_mime = out["r"]
check("encoded subject", m_mime["subject"] == "mime ✓", m_mime)
st, _, v = call("GET", f"/api/v1/messages/{m_mime['id']}")
check("qp latin-1 text", v["text"].strip() == "café crème", v["text"])
check("base64 utf-8 html", "<b>crème</b>" in v["html"], v["html"])
check("attachments", len(v["attachments"]) == 1 and v["attachments"][0]["name"] == "report.pdf"
      and v["attachments"][0]["content_type"] == "application/pdf" and v["attachments"][0]["size"] == 19, v["attachments"])
tree = v["mime"]
check("mime tree", tree["content_type"] == "multipart/mixed" and tree["parts"][0]["content_type"] == "multipart/alternative"
      and [p["content_type"] for p in tree["parts"][0]["parts"]] == ["text/plain", "text/html"], tree)
st, hdrs, pdf = call("GET", f"/api/v1/messages/{m_mime['id']}/attachments/0", raw=True)
check("attachment bytes", st == 200 and pdf.startswith(b"%PDF-1.4") and len(pdf) == 19, pdf)
check("attachment headers", "report.pdf" in hdrs.get("content-disposition", "")
      and hdrs.get("content-type") == "application/pdf", hdrs)
expect_error(404, "GET", f"/api/v1/messages/{m_mime['id']}/attachments/5")
expect_error(400, "GET", f"/api/v1/messages/{m_mime['id']}/attachments/x")
st, hdrs, html = call("GET", f"/api/v1/messages/{m_mime['id']}/html", raw=True)
csp = hdrs.get("content-security-policy", "")
check("html csp", st == 200 and "sandbox" in csp and "default-src 'none'" in csp and "img-src data:" in csp
      and "http:" not in csp, hdrs)
st, hdrs, _ = call("GET", f"/api/v1/messages/{m_mime['id']}/html?remote=true", raw=True)
check("remote images on request", "img-src data: http: https:" in hdrs.get("content-security-policy", ""), hdrs)
expect_error(404, "GET", f"/api/v1/messages/{m_smtp['id']}/html")
expect_error(400, "GET", f"/api/v1/messages/{m_mime['id']}/html?remote=perhaps")

# --- read/unread is IMAP's \Seen -----------------------------------------------------------
st, _, r = call("PATCH", f"/api/v1/messages/{m_smtp['id']}", {"seen": True})
check("mark read", st == 200 and r["seen"] is True, r)
def imap_flags():
    """Every FLAGS the IMAP session gets for the message in answer to one FETCH."""
    typ, data = imap.uid("FETCH", str(m_smtp["uid"]), "(FLAGS)")
    return [d for d in data if isinstance(d, bytes) and b"FLAGS" in d]
# At once: the answer itself carries the new flags, not an update after it.
f = imap_flags()
check("IMAP sees \\Seen at once", f and all(b"\\Seen" in d for d in f), f)
imap.select("INBOX")
imap.uid("STORE", str(m_smtp["uid"]), "-FLAGS.SILENT", "(\\Seen)")
for _ in range(50):
    if not call("GET", f"/api/v1/messages?subject=by%20smtp")[2]["messages"][0]["seen"]:
        break
    time.sleep(0.05)
else:
    raise AssertionError("IMAP's -FLAGS \\Seen did not reach the API")
st, _, r = call("PATCH", f"/api/v1/messages/{m_smtp['id']}", {"seen": True})
f = imap_flags()
check("IMAP sees read again at once", st == 200 and f and all(b"\\Seen" in d for d in f), f)
st, _, r = call("PATCH", f"/api/v1/messages/{m_smtp['id']}", {"seen": False})
f = imap_flags()
check("IMAP sees unread at once", st == 200 and f and not any(b"\\Seen" in d for d in f), f)
st, _, unread = call("GET", "/api/v1/messages?unread=true&subject=by%20smtp")
check("unread filter", len(unread["messages"]) == 1, unread)
expect_error(415, "PATCH", f"/api/v1/messages/{m_smtp['id']}", b'{"seen":true}', {"Content-Type": "application/x-www-form-urlencoded"})
expect_error(422, "PATCH", f"/api/v1/messages/{m_smtp['id']}", {"seen": "yes"})
expect_error(422, "PATCH", f"/api/v1/messages/{m_smtp['id']}", {"flagged": True})
expect_error(404, "PATCH", "/api/v1/messages/999999", {"seen": True})

# --- guards --------------------------------------------------------------------------------
expect_error(421, "GET", "/api/v1/messages", headers={"Host": "attacker.example"})
expect_error(403, "DELETE", f"/api/v1/messages/{m_smtp['id']}", headers={"Origin": "http://attacker.example"})
st, _, _ = call("GET", f"/api/v1/messages/{m_smtp['id']}")
check("cross-origin delete changed nothing", st == 200, st)
st, hdrs, page_html = call("GET", "/", raw=True)
check("page", st == 200 and b"<title>mailwire</title>" in page_html
      and "frame-ancestors 'none'" in hdrs.get("content-security-policy", ""), hdrs)

# --- delete, purge -------------------------------------------------------------------------
st, _, _ = call("DELETE", f"/api/v1/messages/{m_smtp['id']}")
check("delete one", st == 204, st)
expect_error(404, "GET", f"/api/v1/messages/{m_smtp['id']}")
imap.select("INBOX")
typ, data = imap.uid("SEARCH", None, "UID", str(m_smtp["uid"]))
check("gone from IMAP", data == [b""], data)
expect_error(400, "DELETE", "/api/v1/messages?limit=3")
st, _, r = call("DELETE", "/api/v1/messages?subject=page%201")
check("delete matching", st == 200 and r["deleted"] == 1, r)
st, _, r = call("DELETE", "/api/v1/users/bob/messages")
check("purge user", r["deleted"] == 1, r)
expect_error(404, "DELETE", "/api/v1/users/nobody/messages")
st, _, r = call("DELETE", "/api/v1/messages")
check("purge all", st == 200 and r["deleted"] >= 5, r)
st, _, left = call("GET", "/api/v1/messages")
check("empty", left["messages"] == [] and left["total"] == 0, left)
typ, data = imap.select("INBOX")
check("IMAP INBOX empty", data == [b"0"], data)
imap.logout()
print("api_check: all checks passed")
