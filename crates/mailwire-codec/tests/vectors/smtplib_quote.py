#!/usr/bin/env python3
"""Records how Python's smtplib quotes message data for DATA, as test vectors for mailwire's
DotStuffer (normalising mode). Output: one line per vector, `hex(input) hex(wire)`, where wire is
what SMTP.data() sends after the DATA command: quotedata(), a CRLF if missing, then ".\\r\\n".

Regenerate: python3 tests/vectors/smtplib_quote.py > tests/vectors/smtplib_quote.txt
"""
import random
import smtplib

CRLF = "\r\n"


def wire(data: bytes) -> bytes:
    # smtplib.quotedata works on str; latin-1 maps bytes 1:1.
    q = smtplib.quotedata(data.decode("latin-1")).encode("latin-1")
    if q and q[-2:] != b"\r\n":
        q += b"\r\n"
    return q + b".\r\n"


fixed = [
    b"", b".", b"..", b".\r\n", b"a\r\n.\r\nb", b"\n.\n", b"\r.\r", b"\r\n.\r", b"\r\n.\n",
    b"\n.\r\n", b"\r.\r\n", b"x\r\r\n.y", b"\r\n\r\n.", b"line\nline\rline\r\n", b".a\r\n.b\n.c\r.d",
    b"no newline", b"\r", b"\n", b"\r\n", b"\r\r", b"\n\n", b"\n\r", b"\x00.\x80\xff\r\n.",
]
rng = random.Random(4242)
alphabet = b"ab.\r\n \x00\xff"
vectors = list(fixed)
for _ in range(300):
    n = rng.randrange(0, 60)
    vectors.append(bytes(rng.choice(alphabet) for _ in range(n)))
for v in vectors:
    print(v.hex() or "-", wire(v).hex())
