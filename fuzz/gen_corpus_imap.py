#!/usr/bin/env python3
"""Seed corpora for the IMAP fuzz targets (fuzz/corpus/imap_*). Run from fuzz/.

Seeds come from the RFC examples extracted into crates/mailwire-imap/tests/data/ and from the
recorded transcripts in crates/mailwire-imap/tests/data/transcripts/, plus a few hand-written
hostile inputs. The structure-aware targets get deterministic pseudo-random bytes.
The committed corpora also hold up to 150 of the smallest inputs each target's fuzzer found
(after `cargo fuzz cmin`); this script only (re)writes the seeds."""
import glob
import hashlib
import os
import random
import re

DATA = os.path.join("..", "crates", "mailwire-imap", "tests", "data")
LIT = re.compile(rb"~?\{(\d+)\+?\}$")


def frame(stream):
    """Splits a byte stream into messages (lines plus the literals they announce)."""
    out, i, msg = [], 0, b""
    while i < len(stream):
        j = stream.find(b"\r\n", i)
        if j < 0:
            break
        line = stream[i:j]
        msg += stream[i:j + 2]
        i = j + 2
        m = LIT.search(line)
        if m:
            n = int(m.group(1))
            msg += stream[i:i + n]
            i += n
            continue
        out.append(msg)
        msg = b""
    return out


def streams():
    for path in sorted(glob.glob(os.path.join(DATA, "*-examples.txt"))):
        text = open(path, encoding="utf-8").read()
        for block in text.split("\n# ")[1:]:
            s = {}
            for line in block.split("\n")[1:]:
                if len(line) >= 2 and line[1] == ":":
                    s.setdefault(line[0], b"")
                    s[line[0]] += line[2:].lstrip(" ").encode() + b"\r\n"
            yield s
    for path in sorted(glob.glob(os.path.join(DATA, "transcripts", "*.client"))):
        yield {"C": open(path, "rb").read()}
    for path in sorted(glob.glob(os.path.join(DATA, "transcripts", "*.server"))):
        yield {"S": open(path, "rb").read()}


seeds = {t: set() for t in ["imap_command", "imap_response", "imap_greeting", "imap_authenticate_data",
                           "imap_idle_done", "imap_command_round_trip", "imap_response_round_trip",
                           "imap_framed_commands", "imap_client_session"]}
server_streams = []
for s in streams():
    for m in frame(s.get("C", b"")):
        seeds["imap_command"].add(m)
    for k, m in enumerate(frame(s.get("S", b""))):
        seeds["imap_response"].add(m)
        if k == 0 and m.startswith(b"* "):
            seeds["imap_greeting"].add(m)
    for m in frame(s.get("A", b"")):
        seeds["imap_authenticate_data"].add(m)
    if s.get("S"):
        server_streams.append(s["S"])

seeds["imap_command"].update([
    b"a1 SEARCH " + b"(" * 200 + b"ALL" + b")" * 200 + b"\r\n",
    b"a1 SEARCH " + b"NOT " * 200 + b"ALL\r\n",
    b"a1 LOGIN {5}\r\n", b"a1 LOGIN {5+}\r\nalice {0}\r\n\r\n", b"a1 APPEND x ~{3}\r\n\0\0\0\r\n",
    b"a1 LOGIN \"a\\\"b\" \"c\\\\d\"\r\n", b"a1 FETCH 1:* (BODY.PEEK[1.2.HEADER.FIELDS (From To)]<0.100>)\r\n",
])
seeds["imap_response"].update([
    b"* 1 FETCH (BODYSTRUCTURE " + b"(" * 100 + b"\"a\" \"b\" NIL NIL NIL \"7bit\" 1" + b")" * 100 + b")\r\n",
    b"* 1 FETCH (BODYSTRUCTURE (NIL NIL NIL NIL NIL \"7BIT\" 12 NIL NIL NIL NIL))\r\n",
    b"* THREAD " + b"(" * 100 + b"1" + b")" * 100 + b"\r\n",
    b"* SEARCH 1 2 \r\n", b"* OK [UNSEEN 0] x\r\n", b"+\r\n", b"* 1 FETCH (BINARY[1] ~{2}\r\n\0\0)\r\n",
])
seeds["imap_greeting"].update([b"* PREAUTH [CAPABILITY IMAP4rev2] hi\r\n", b"* BYE go away\r\n"])
seeds["imap_authenticate_data"].update([b"*\r\n", b"\r\n", b"AGFsaWNlAHNlY3JldA==\r\n", b"=\r\n"])
seeds["imap_idle_done"].update([b"DONE\r\n", b"done\r\n", b"DONE", b"DONEX\r\n"])
rng = random.Random(7)
for t in ["imap_command_round_trip", "imap_response_round_trip", "imap_framed_commands"]:
    for _ in range(24):
        seeds[t].add(bytes(rng.randrange(256) for _ in range(rng.randrange(16, 400))))
for k, s in enumerate(server_streams[:40]):
    seeds["imap_client_session"].add(bytes([k % 5]) + s)

for target, inputs in seeds.items():
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    for data in sorted(inputs):
        with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
            f.write(data)
    print(target, len(inputs))
