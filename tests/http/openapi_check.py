#!/usr/bin/env python3
"""Checks a running `mailwire serve` against docs/openapi.json: every documented operation is
called (with valid input, and with an unknown id where it takes one), its status must be one
the document lists, and every JSON answer must match the documented schema.

    openapi_check.py READY_JSON OPENAPI_JSON
"""
import json
import smtplib
import sys
import urllib.error
import urllib.request

ready = json.loads(sys.argv[1])
doc = json.load(open(sys.argv[2]))
BASE = "http://" + ready["http"]


def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        path = node["$ref"].lstrip("#/").split("/")
        node = doc
        for p in path:
            node = node[p]
    return node


def validate(value, schema, where):
    schema = resolve(schema)
    if "allOf" in schema:
        for s in schema["allOf"]:
            validate(value, s, where)
        return
    if value is None:
        assert schema.get("nullable"), f"{where}: null where {schema.get('type')} is required"
        return
    t = schema.get("type")
    kinds = {"object": dict, "array": list, "string": str, "boolean": bool}
    if t == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), f"{where}: {value!r} is not an integer"
    elif t in kinds:
        assert isinstance(value, kinds[t]), f"{where}: {value!r} is not {t}"
    if t == "object":
        for r in schema.get("required", []):
            assert r in value, f"{where}: missing {r!r} in {sorted(value)}"
        props = schema.get("properties", {})
        for k, v in value.items():
            if k in props:
                validate(v, props[k], f"{where}.{k}")
    if t == "array" and "items" in schema:
        for i, v in enumerate(value):
            validate(v, schema["items"], f"{where}[{i}]")


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if body is not None else {}
    req = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


# A message with HTML and an attachment to point the id parameters at.
msg = ("From: a@example.org\r\nTo: alice@example.com\r\nSubject: openapi\r\nMIME-Version: 1.0\r\n"
       "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n"
       "--b\r\nContent-Type: text/plain; name=x.txt\r\nContent-Disposition: attachment; filename=x.txt\r\n\r\nfile\r\n--b--\r\n")
s = smtplib.SMTP(*ready["smtp"].rsplit(":", 1))
s.sendmail("a@example.org", ["alice@example.com"], msg.encode())
s.quit()
st, _, body = call("GET", "/api/v1/messages/wait?subject=openapi&timeout=20s")
assert st == 200, (st, body)
mid = json.loads(body)["id"]

order = {"get": 0, "post": 1, "patch": 2, "delete": 3}
ops = []
for path, item in doc["paths"].items():
    for method, op in item.items():
        ops.append((order[method], "events" in path, path, method, op))
# Reads first, deletions last, the one that removes a user at the very end.
ops.sort(key=lambda o: (o[0], o[2] == "/api/v1/users/{login}", o[2]))
checked = 0
for _, _, path, method, op in ops:
    if op["operationId"] == "events":
        # A stream: only its status and type (urllib would wait for its end).
        req = urllib.request.Request(BASE + path)
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream"), r.headers
        checked += 1
        continue
    login = "carol" if op["operationId"] in ("deleteUser",) else "alice"
    url = path.replace("{id}", str(mid)).replace("{login}", login).replace("{n}", "0")
    body = None
    if op["operationId"] == "createUser":
        body = {"login": "carol", "password": "pw"}
    elif op["operationId"] == "addFault":
        # Never comes up, so the other calls are not disturbed.
        body = {"protocol": "smtp", "stage": "rcpt", "reply": "451 4.3.0 no", "probability": 0}
    elif op["operationId"] == "relayMessage":
        # Nothing listens on port 1: the documented 502.
        body = {"server": "smtp://127.0.0.1:1", "tls": "off"}
    elif op["operationId"] == "markMessage":
        body = {"seen": True}
    elif op["operationId"] == "waitForMessage":
        url += "?subject=openapi&timeout=5s"
    variants = [(url, body)]
    if "{id}" in path:
        variants.append((path.replace("{id}", "987654").replace("{n}", "0"), body))
    for u, b in variants:
        st, ctype, payload = call(method.upper(), u, b)
        responses = op["responses"]
        assert str(st) in responses, f"{method.upper()} {u}: {st} is not documented ({sorted(responses)}): {payload[:200]!r}"
        resp = resolve(responses[str(st)])
        content = resp.get("content", {})
        if st == 204:
            assert payload == b"", f"{method.upper()} {u}: 204 with a body"
        elif "application/json" in content:
            assert ctype.startswith("application/json"), f"{method.upper()} {u}: {ctype}"
            validate(json.loads(payload), content["application/json"]["schema"], f"{op['operationId']} {st}")
        elif content:
            documented = list(content)[0]
            if documented != "application/octet-stream":
                assert ctype.split(";")[0] == documented, f"{method.upper()} {u}: {ctype}, documented {documented}"
        checked += 1
print(f"openapi_check: {checked} calls matched the document")
