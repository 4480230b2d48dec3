#!/usr/bin/env python3
"""aiosmtpd as an SMTP test peer: keeps every message it accepts as one file in a Maildir.

Each accepted DATA transaction becomes DIR/maildir/new/NAME, holding the message exactly as received
(CRLF line ends, dot-stuffing removed, no header added), and DIR/envelopes/NAME.json, holding its
envelope: {"mail_from", "rcpt_tos", "mail_options", "rcpt_options", "helo", "auth", "tls"}. NAMEs sort in
arrival order. STARTTLS is offered with --cert/--key (not required unless --require-starttls).
AUTH PLAIN and LOGIN for alice/secret and bob/secret with --auth; by default only after STARTTLS
(aiosmtpd's auth_require_tls), anywhere with --auth-cleartext; --auth-required refuses MAIL before AUTH.
--max-recipients N refuses every recipient past the Nth of a transaction with "452 4.5.3", as Postfix's
smtpd_recipient_limit does (RFC 5321 4.5.3.1.10).

Usage: aiosmtpd_server.py --port PORT --dir DIR [--cert PEM --key PEM] [--discard] [--auth]
       [--auth-cleartext] [--auth-required] [--require-starttls] [--smtputf8] [--max-recipients N]
       [--host 127.0.0.1]
"""
import argparse
import asyncio
import itertools
import json
import logging
import os
import signal
import ssl
import sys
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

USERS = {b"alice": b"secret", b"bob": b"secret"}
SEQUENCE = itertools.count(1)


def text(b):
    return b.decode("utf-8", "replace") if isinstance(b, (bytes, bytearray)) else b


class MaildirStore:
    """Writes each message to tmp/ and renames it into new/ (the Maildir way: readers never see half a file)."""

    def __init__(self, top):
        self.top = top
        self.maildir = os.path.join(top, "maildir")
        self.envelopes = os.path.join(top, "envelopes")
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(self.maildir, sub), exist_ok=True)
        os.makedirs(self.envelopes, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):
        name = "%d.M%08dP%d.mailwire" % (time.time(), next(SEQUENCE), os.getpid())
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "mail_options": list(envelope.mail_options),
            "rcpt_options": list(envelope.rcpt_options),
            "helo": session.host_name,
            "auth": text(session.auth_data) if session.authenticated else None,
            "tls": session.ssl is not None,
        }
        # The envelope first, so that a message visible in new/ always has its envelope.
        with open(os.path.join(self.envelopes, name + ".json.tmp"), "w") as f:
            json.dump(meta, f)
        os.rename(os.path.join(self.envelopes, name + ".json.tmp"), os.path.join(self.envelopes, name + ".json"))
        tmp = os.path.join(self.maildir, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(envelope.original_content)
        os.rename(tmp, os.path.join(self.maildir, "new", name))
        logging.info("stored %s from %s to %s", name, envelope.mail_from, envelope.rcpt_tos)
        return "250 OK stored as " + name


class Discard:
    """Accepts and forgets every message (for load tests)."""

    async def handle_DATA(self, server, session, envelope):
        return "250 OK discarded"


class RecipientLimit:
    """Wraps a handler: at most `limit` recipients per transaction, the rest refused with 452 4.5.3."""

    def __init__(self, inner, limit):
        self.inner = inner
        self.limit = limit

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if len(envelope.rcpt_tos) >= self.limit:
            return "452 4.5.3 Error: too many recipients"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        return await self.inner.handle_DATA(server, session, envelope)


class NoAuthSMTP(SMTP):
    """aiosmtpd always has AUTH: with no authenticator it offers LOGIN and PLAIN that always fail, and with
    every mechanism excluded it still sends an empty "250-AUTH " line. Without --auth, drop that line."""

    async def push(self, status):
        if status.startswith("250-AUTH"):
            return
        await super().push(status)


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and USERS.get(auth_data.login) == auth_data.password
    return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)


async def serve(args):
    handler = Discard() if args.discard else MaildirStore(args.dir)
    if args.max_recipients:
        handler = RecipientLimit(handler, args.max_recipients)
    tls = None
    if args.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.cert, args.key)
    kwargs = dict(
        hostname="localhost",  # never the default socket.getfqdn(): a DNS lookup, slow without network
        tls_context=tls,
        require_starttls=args.require_starttls,
        enable_SMTPUTF8=args.smtputf8,
        auth_require_tls=not args.auth_cleartext,
        auth_required=args.auth_required,
    )
    if args.auth:
        kwargs["authenticator"] = authenticator
        server_class = SMTP
    else:
        kwargs["auth_exclude_mechanism"] = ["LOGIN", "PLAIN"]  # AUTH, if tried, fails with 504
        server_class = NoAuthSMTP
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: server_class(handler, **kwargs), host=args.host, port=args.port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"aiosmtpd_server: pid {os.getpid()} smtp={args.host}:{args.port} store="
          f"{'discard' if args.discard else getattr(handler, 'inner', handler).maildir} tls={'starttls' if tls else 'off'}"
          f" auth={'on' if args.auth else 'off'}", flush=True)
    await stop.wait()
    server.close()
    logging.info("stopped")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True, help="state folder: maildir/ and envelopes/ go here")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--discard", action="store_true", help="accept and drop every message")
    ap.add_argument("--auth", action="store_true", help="offer AUTH PLAIN/LOGIN (alice/secret, bob/secret)")
    ap.add_argument("--auth-cleartext", action="store_true", help="offer AUTH before STARTTLS too")
    ap.add_argument("--auth-required", action="store_true", help="refuse MAIL before AUTH")
    ap.add_argument("--require-starttls", action="store_true", help="refuse everything but EHLO/NOOP/QUIT before STARTTLS")
    ap.add_argument("--smtputf8", action="store_true", help="advertise SMTPUTF8")
    ap.add_argument("--max-recipients", type=int, help="refuse recipients past the Nth with 452 4.5.3")
    args = ap.parse_args()
    if bool(args.cert) != bool(args.key):
        ap.error("--cert and --key go together")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
