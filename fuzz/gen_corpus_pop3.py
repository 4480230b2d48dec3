#!/usr/bin/env python3
"""Seed corpora for the POP3 fuzz targets (fuzz/corpus/pop3_*). Run from fuzz/."""
import hashlib
import os

login = b"USER alice\r\nPASS secret\r\n"
transaction = b"STAT\r\nLIST\r\nLIST 2\r\nUIDL\r\nUIDL 1\r\nRETR 1\r\nTOP 1 0\r\nTOP 3 1\r\nDELE 1\r\nDELE 1\r\nRSET\r\nNOOP\r\nDELE 2\r\nQUIT\r\n"
seeds = {
    "pop3_command": [
        b"USER alice", b"PASS secret with spaces", b"APOP mrose c4c9334bac560ecc979e58001b3e22fb",
        b"AUTH PLAIN AGFsaWNlAHNlY3JldA==", b"AUTH CRAM-MD5", b"AUTH PLAIN =", b"AUTH", b"STLS", b"CAPA",
        b"STAT", b"LIST", b"LIST 1", b"RETR 4294967295", b"DELE 0", b"TOP 1 10", b"UIDL", b"UIDL 7",
        b"NOOP", b"RSET", b"QUIT", b"RETR 4294967296", b"TOP 1 -1", b"USER  x", b"retr 01",
    ],
    "pop3_response": [
        b"\x00+OK POP3 ready <1896.697170952@dbc.mtview.ca.us>\r\n+OK\r\nTOP\r\nUIDL\r\nSASL PLAIN\r\nPIPELINING\r\n.\r\n+OK 2 320\r\n+OK\r\n1 120\r\n2 200\r\n.\r\n+OK\r\nSubject: x\r\n\r\n..dot\r\n.\r\n",
        b"\x01+OK\r\n-ERR [IN-USE] locked\r\n-ERR [SYS/TEMP] x\r\n",
        b"\x02+OK\r\n+OK\r\n.\r\n+OK 0 0\r\n-ERR\r\n-ERR no\r\n+ PDE4OTY=\r\n-ERR [AUTH] bad\r\n",
        b"\x03+OK\r\n-ERR\r\n-ERR\r\n-ERR\r\n-ERR\r\n+ \r\n+OK\r\n+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n.\r\n+OK bye\r\n",
        b"\x04-ERR [LOGIN-DELAY] wait\r\n", b"\x00* OK imap\r\n", b"\x01+OK\r\n+OK [X/Y] z\r\n+OK\n",
    ],
    "pop3_server_session": [
        b"\x00CAPA\r\n" + login + transaction,
        b"\x02CAPA\r\n" + login + transaction,
        b"\x04" + login + transaction,
        b"\x05STLS\r\n" + login + b"RETR 1\r\nRETR 3\r\nQUIT\r\n",
        b"\x01STLS\r\nUSER alice\r\n",
        b"\x00APOP alice 00000000000000000000000000000000\r\nAPOP alice c4c9334bac560ecc979e58001b3e22fb\r\n",
        b"\x06AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n" + transaction,
        b"\x07AUTH CRAM-MD5\r\n*\r\nAUTH SCRAM-SHA-256\r\nbixhPWFsaWNlLHI9eA==\r\nAUTH\r\n",
        b"\x03" + b"NOOP " + b"x" * 300 + b"\r\nFROB\r\nSTAT\n" + login,
        b"\x04" + login + b"LIST\r\n" * 40 + b"QUIT\r\n",
    ],
}
for target, inputs in seeds.items():
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    for data in inputs:
        with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)
