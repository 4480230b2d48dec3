#!/usr/bin/env python3
"""Writes the seed corpora (fuzz/corpus/<target>/). The first byte of every input is the seed
that picks limits and chunking (see mailwire_codec::fuzzing). Run from fuzz/."""
import hashlib
import os

seeds = {
    "line_framer": [
        b"EHLO a\r\nMAIL FROM:<a@b>\r\nQUIT\r\n", b"x\nA\r\nB\r", b"A" * 300 + b"\r\nNOOP\r\n",
        b"\r\n\r\n\n\r", b"STARTTLS\r\nEHLO inject\r\n",
    ],
    "literal_framer": [
        b"a1 LOGIN {5}\r\nalice {6+}\r\nsecret\r\n", b"a APPEND INBOX {500}\r\na2 NOOP\r\n",
        b"a {-1}\r\nb NOOP\r\n", b"a {99999999999999999999}\r\n", b"* 1 FETCH (BINARY[] ~{3}\r\n\0\1\2)\r\n",
        b"a X " + b"y" * 200 + b" {6+}\r\nb2 BAD\r\nc NOOP\r\n", b"a NOOP\nb NOOP\r\n", b"t {0}\r\n {0+}\r\n\r\n",
    ],
    "data_receiver": [
        b"a\r\n..b\r\n.\r\nQUIT\r\n", b".\r\n", b"x\n.\r\ny\r\n.\r\n", b"x\n.\ny\r\n.\r\n", b"x\r.\r\ny\r\n.\r\n",
        b"x\r\n.\ry\r\n.\r\n", b"x\r\n.\ny\r\n.\r\n", b"a" * 2000 + b"\r\n.\r\n",
    ],
    "dot_stuff_roundtrip": [
        b".start\r\n", b"a\n.b\r.c\r\n.", b"\r\r\n\n\r", b"", b"..\r\n.\r\n", b"plain text without newline",
    ],
}
for target, inputs in seeds.items():
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    for data in inputs:
        for seed in (0, 1, 2, 3, 4, 0x81, 0x42):
            blob = bytes([seed]) + data
            name = hashlib.sha1(blob).hexdigest()
            with open(os.path.join(d, name), "wb") as f:
                f.write(blob)
