#!/usr/bin/env python3
"""Seed corpora for the SMTP fuzz targets (fuzz/corpus/smtp_*). Run from fuzz/."""
import hashlib
import os

session = b"EHLO x\r\nMAIL FROM:<a@b.c> SIZE=10\r\nRCPT TO:<alice@b.c>\r\nDATA\r\nhi\r\n..x\r\n.\r\nQUIT\r\n"
seeds = {
    "smtp_command": [
        b"EHLO client.example", b"MAIL FROM:<> BODY=8BITMIME SMTPUTF8", b"RCPT TO:<@a.b:c@d.e> NOTIFY=NEVER",
        b"RCPT TO:<Postmaster>", b'MAIL FROM:<"a b"@[IPv6:::1]> ENVID=x+2B', b"BDAT 10 LAST", b"AUTH PLAIN =",
        b"AUTH CRAM-MD5", b"VRFY x", b"MAIL FROM:<a@b.c>junk", "MAIL FROM:<用户@例子.广告> SMTPUTF8".encode(),
    ],
    "smtp_reply": [
        b"\x01250-mx Hello\r\n250-PIPELINING\r\n250-SIZE 100\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n",
        b"\x00220 ready\r\n", b"\x01550 5.1.1 no such user\r\n", b"\x01250-a\r\n251 b\r\n", b"\x00999 x\r\n",
    ],
    "smtp_server_session": [
        b"\x00" + session, b"\x01" + session, b"\x02" + session.replace(b"EHLO", b"LHLO"),
        b"\x03EHLO x\r\nSTARTTLS\r\nEHLO y\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
        b"\x04EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<b@c.d>\r\nBDAT 3\r\nabcBDAT 0 LAST\r\n",
        b"\x05EHLO x\r\nAUTH LOGIN\r\n*\r\nAUTH CRAM-MD5\r\nYWJj\r\n",
        b"\x06EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<b@c.d>\r\nDATA\r\nx\n.\r\ny\r\n.\r\n",
    ],
}
for target, inputs in seeds.items():
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    for data in inputs:
        with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)
