#!/usr/bin/env python3
"""Extracts the protocol examples (lines starting with "C:" and "S:") of the IMAP RFCs into test
data that crates/mailwire-imap/tests/rfc_examples.rs parses and round-trips.

Usage: extract_rfc_examples.py RFC_DIR OUT_DIR      (RFC_DIR holds rfc3501.txt, rfc9051.txt, ...)

Output: one file per RFC, OUT_DIR/rfcNNNN-examples.txt, made of blocks:

    # rfcNNNN.txt:LINE            where the example starts
    C: a001 LOGIN {11}            a line of a client message (command)
    C: FRED FOOBAR {7}            literal octets are lines too: joining the C: lines of a block
    C: fat man                    with CRLF gives the exact client byte stream
    S: * OK ...                   a line of a server message (greeting or response)
    A: dGVzdA==                   an AUTHENTICATE continuation line of the client
    D: DONE                       the client's end of IDLE
    X: a BLURDYBLOOP              a client message the RFC shows as invalid (must not parse)

How the RFC text is turned into byte streams:
* page breaks (form feeds, page footers and headers) and notes such as "<TLS negotiation>"
  are dropped; the spaces after "C:"/"S:" are dropped (the RFCs align columns with them);
* a line without "C:"/"S:" that directly follows an example line and is indented further is a
  continuation of it (RFC line wrapping): joined with "" when both look like base64 or the line
  ends with ",", ":" or "(", with " " otherwise;
* literal sizes are recomputed from the octets the example shows: a literal announced at the end
  of a line takes the next line's first N octets when they are followed by nothing or by a space
  (in-line literals such as "FRED FOOBAR {7}"); otherwise the following lines of the same side
  up to a line that starts with ")" (server) or up to the other side's next tagged line (client)
  form the literal, each with its CRLF;
* "C:" lines between "AUTHENTICATE" and its completion are "A:", "DONE" after IDLE is "D:".
"""
import os
import re
import sys

RFCS = [
    "rfc3501", "rfc9051", "rfc2177", "rfc2342", "rfc2971", "rfc3348", "rfc3516", "rfc3691",
    "rfc4315", "rfc4731", "rfc4959", "rfc4978", "rfc5161", "rfc5182", "rfc5258", "rfc5530",
    "rfc5819", "rfc6154", "rfc6851", "rfc7162", "rfc7888", "rfc7889",
]

# Obvious typos and editorial notes inside example lines: (rfc, wrong, right).
ERRATA = [
    ("rfc2342", '* NAMESPACE (("INBOX." ".")) NIL  NIL', '* NAMESPACE (("INBOX." ".")) NIL NIL'),
    ("rfc5819", '* LIST () "."  "INBOX"', '* LIST () "." "INBOX"'),
    ("rfc5819", '* LIST (\\Subscribed) "."  "INBOX"', '* LIST (\\Subscribed) "." "INBOX"'),
    ("rfc5819", 'LIST (SUBSCRIBED RECURSIVEMATCH)"" %', 'LIST (SUBSCRIBED RECURSIVEMATCH) "" %'),
    ("rfc7889", '* LIST () "."  "INBOX"', '* LIST () "." "INBOX"'),
    ("rfc9051", '* LIST () "."  "INBOX"', '* LIST () "." "INBOX"'),
    ("rfc9051", '* LIST (\\Subscribed) "."  "INBOX"', '* LIST (\\Subscribed) "." "INBOX"'),
    ("rfc9051", '* NAMESPACE (("INBOX." ".")) NIL  NIL', '* NAMESPACE (("INBOX." ".")) NIL NIL'),
    ("rfc4959", ' (note that there is a space following the "+" in the following line)', ''),
]

# Messages of extensions outside this crate's scope: (rfc, regex, why). Written as "U:".
UNSUPPORTED = [
    ("rfc6154", r"^\S+ (GET|SET)METADATA\b", "METADATA (RFC 5464)"),
    ("rfc6154", r"^\* METADATA\b", "METADATA (RFC 5464)"),
    ("rfc7162", r"^\S+ SORT RETURN\b", "ESORT (RFC 5267)"),
]

# Client lines the RFCs show as errors on purpose (the server answers BAD): (rfc, prefix).
INVALID = [
    ("rfc3501", "A044 BLURDYBLOOP"),
    ("rfc9051", "A044 BLURDYBLOOP"),
]

EXAMPLE = re.compile(r"^(\s*)(?:Example:\s*|Example \d+:\s*)?([CS]):(?: ?(.*))?$")
PAGE = re.compile(r"^(RFC \d+\s{2,}.*\s{2,}\w+ \d{4}|.*\[Page \d+\])\s*$")
EDITORIAL_LINE = re.compile(r"^\s+<[^>]*>\s*$")
B64 = re.compile(r"^[A-Za-z0-9+/=]+$")


def lines_of(path):
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f.read().split("\n"), 1):
            line = line.replace("\f", "").rstrip()
            if PAGE.match(line):
                continue
            yield n, line


def raw_examples(path):
    """Blocks of (line number, side, text) with wrapped lines joined."""
    blocks, block = [], []
    last_indent = None
    blank_run = 0
    for n, line in lines_of(path):
        m = EXAMPLE.match(line)
        rest = m.group(3) or "" if m else ""
        if m and (len(m.group(1)) >= 2 or rest.startswith("  ") or (block and not rest)):
            # "C:" stands at an indented example column (RFC 3501 §8 starts at column 0).
            side, text = m.group(2), (m.group(3) or "").lstrip()
            block.append([n, side, text])
            last_indent = line.index(side + ":")
            blank_run = 0
            continue
        if not line.strip():
            blank_run += 1
            continue
        indent = len(line) - len(line.lstrip())
        if block and blank_run == 0 and EDITORIAL_LINE.match(line):
            continue  # "<TLS negotiation>"
        if block and blank_run == 0 and last_indent is not None and indent > last_indent:
            prev = block[-1]
            piece = line.strip()
            if B64.match(prev[2].split(" ")[-1] or "=") and B64.match(piece) and prev[2]:
                prev[2] += piece
            elif prev[2].endswith((",", ":", "(")):
                prev[2] += piece
            else:
                prev[2] += " " + piece
            continue
        if block:
            blocks.append(block)
            block = []
        last_indent = None
        blank_run = 0
    if block:
        blocks.append(block)
    return blocks


LITERAL_AT_END = re.compile(r"(~?)\{(\d+)(\+?)\}$")
TAGGED = re.compile(r"^[^*+ ]+ (OK|NO|BAD)\b", re.I)


def fix_literals(block, rfc):
    """Recomputes literal sizes; returns the block's lines with corrected announcements."""
    out = []
    i = 0
    while i < len(block):
        n, side, text = block[i]
        out.append([n, side, text])
        i += 1
        m = LITERAL_AT_END.search(text)
        if not m:
            continue
        if any(rfc == r and text.startswith(p) for r, p in INVALID):
            continue
        size = int(m.group(2))
        # Skip the other side's continuation request ("+ Ready") shown in between.
        j = i
        between = []
        while j < len(block) and block[j][1] != side:
            between.append(block[j])
            j += 1
        if j >= len(block):
            continue
        nxt = block[j][2].encode()
        if len(nxt) >= size and (len(nxt) == size or nxt[size:size + 1] == b" "):
            # In-line literal: keep the size, the line goes on after it.
            out.extend(between)
            i = j
            continue
        # Multi-line literal: the following lines of this side up to the end marker.
        content = []
        k = j
        rest = None
        while k < len(block):
            if block[k][1] != side:
                if side == "C" and TAGGED.match(block[k][2]):
                    break
                between.append(block[k])
                k += 1
                continue
            t = block[k][2]
            if side == "S" and t.startswith(")"):
                break
            content.append(block[k])
            k += 1
        if side == "C":
            # The last empty client line ends the command (the CRLF after the literal).
            if content and content[-1][2] == "":
                rest = content.pop()
            else:
                rest = [block[k - 1][0], "C", ""]
        data = "".join(c[2] + "\r\n" for c in content).encode()
        out[-1][2] = text[: m.start()] + m.group(1) + "{%d%s}" % (len(data), m.group(3))
        out.extend(between)
        out.extend(content)
        if side == "C" and rest is not None:
            out.append(rest)
        i = k
    return out


def classify(block, rfc):
    """Marks AUTHENTICATE data, IDLE's DONE and invalid examples (on client message starts)."""
    out = []
    auth_tag = None
    need = 0  # literal octets still owed by the client
    continued = False  # the last client line announced a literal
    for n, side, text in block:
        kind = side
        if side == "C":
            data = text.encode()
            starts_message = need == 0 and not continued
            if need > 0:
                if len(data) + 2 <= need:
                    need -= len(data) + 2
                    out.append((n, kind, text))
                    continue
                data = data[need:]
                need = 0
            if starts_message:
                if auth_tag is not None:
                    kind = "A"
                elif text.upper() == "DONE":
                    kind = "D"
                elif any(rfc == r and text.startswith(p) for r, p in INVALID):
                    kind = "X"
                else:
                    m = re.match(r"^(\S+) AUTHENTICATE\b", text, re.I)
                    if m:
                        auth_tag = m.group(1)
            lit = LITERAL_AT_END.search(data.decode("utf-8", "replace"))
            continued = bool(lit) and kind in ("C",)
            if continued:
                need = int(lit.group(2))
                if need == 0:
                    continued = True
        elif auth_tag is not None and re.match(re.escape(auth_tag) + r" (OK|NO|BAD)\b", text, re.I):
            auth_tag = None
        if kind == "C" and side == "C" and not continued and need == 0:
            continued = False
        out.append((n, kind, text))
    return out


def message_starts(lines):
    """For each line, whether it starts a message of its side (a mini framer per side)."""
    need, cont, starts = {}, {}, []
    for _, kind, text in lines:
        side = "C" if kind in "CAXDU" else kind
        data = text.encode()
        start = need.get(side, 0) == 0 and not cont.get(side, False)
        if need.get(side, 0) > 0:
            if len(data) + 2 <= need[side]:
                need[side] -= len(data) + 2
                starts.append(False)
                continue
            data = data[need[side]:]
            need[side] = 0
        lit = LITERAL_AT_END.search(data.decode("utf-8", "replace"))
        cont[side] = bool(lit)
        if lit:
            need[side] = int(lit.group(2))
        starts.append(start)
    return starts


def mark(lines, rfc):
    """Editorial elisions ("...", "(more expunges)") become "E:", out-of-scope extensions "U:".

    Only whole one-line messages are marked, never a line of a literal."""
    out = []
    for (n, kind, text), start in zip(lines, message_starts(lines)):
        if start and kind in ("C", "S") and not LITERAL_AT_END.search(text):
            if "..." in text or (kind == "S" and text.startswith("(")):
                kind = "E"
            for r, pattern, _why in UNSUPPORTED:
                if r == rfc and re.search(pattern, text):
                    kind = "U"
        out.append((n, kind, text))
    return out


def main():
    src, dst = sys.argv[1], sys.argv[2]
    os.makedirs(dst, exist_ok=True)
    for rfc in RFCS:
        path = os.path.join(src, rfc + ".txt")
        if not os.path.exists(path):
            continue
        blocks = raw_examples(path)
        with open(os.path.join(dst, rfc + "-examples.txt"), "w", encoding="utf-8") as f:
            f.write("# Extracted from %s.txt by extract_rfc_examples.py: do not edit by hand.\n" % rfc)
            for block in blocks:
                for line in block:
                    for r, wrong, right in ERRATA:
                        if r == rfc:
                            line[2] = line[2].replace(wrong, right)
                lines = mark(classify(fix_literals(block, rfc), rfc), rfc)
                f.write("\n# %s.txt:%d\n" % (rfc, lines[0][0]))
                for _, kind, text in lines:
                    f.write("%s: %s\n" % (kind, text) if text else "%s:\n" % kind)


if __name__ == "__main__":
    main()
