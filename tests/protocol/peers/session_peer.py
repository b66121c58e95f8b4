"""A jupyter_client Session driven over stdin/stdout, for tests/protocol/session_interop_test.ts.

Run with /usr/bin/python3 (Debian's jupyter_client 7.4.9). One JSON object per line in, one
per line out. Frames and buffers travel as base64 strings.

Commands (every reply has "ok": true, or "ok": false with "error" and "type"):
  {"cmd": "config", "key": str, "scheme": str, "session": str?, "username": str?}
      -> {"ok": true, "session": str}
  {"cmd": "pack", "msg_type": str, "content": {}, "parent": {}?, "metadata": {}?,
   "identities": [b64]?, "buffers": [b64]?}
      -> {"ok": true, "frames": [b64]}
  {"cmd": "unpack", "frames": [b64], "content": bool?}
      -> {"ok": true, "identities": [b64], "header": {}, "parent_header": {}, "metadata": {},
          "content": {}, "buffers": [b64]}
  {"cmd": "sign", "parts": [b64, b64, b64, b64]} -> {"ok": true, "signature": str}
  {"cmd": "parse_date", "date": str} -> {"ok": true, "micros": int}   (epoch microseconds)
  {"cmd": "format_now"} -> {"ok": true, "date": str}                  (a Python header date)
"""

import base64
import json
import sys
from datetime import datetime, timezone

from jupyter_client.jsonutil import json_default, parse_date
from jupyter_client.session import Session
from jupyter_client.session import utcnow

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def b64(data):
    return base64.b64encode(bytes(data)).decode("ascii")


def unb64(text):
    return base64.b64decode(text)


def to_micros(dt):
    delta = dt - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def jsonable(value):
    """Header dates come back as datetimes from stock jupyter_client; send them as strings."""
    return json.loads(json.dumps(value, default=json_default))


def handle(session, request):
    cmd = request["cmd"]
    if cmd == "config":
        kwargs = {
            "key": request["key"].encode("utf-8"),
            "signature_scheme": request["scheme"],
        }
        if request.get("session"):
            kwargs["session"] = request["session"]
        if request.get("username"):
            kwargs["username"] = request["username"]
        session = Session(**kwargs)
        return session, {"ok": True, "session": session.session}
    if session is None:
        raise RuntimeError("send config first")
    if cmd == "pack":
        msg = session.msg(
            request["msg_type"],
            content=request.get("content", {}),
            parent=request.get("parent") or {},
            metadata=request.get("metadata"),
        )
        idents = [unb64(i) for i in request.get("identities", [])]
        frames = session.serialize(msg, ident=idents)
        frames.extend(unb64(b) for b in request.get("buffers", []))
        return session, {"ok": True, "frames": [b64(f) for f in frames]}
    if cmd == "unpack":
        frames = [unb64(f) for f in request["frames"]]
        idents, rest = session.feed_identities(frames)
        msg = session.deserialize(rest, content=request.get("content", True))
        return session, {
            "ok": True,
            "identities": [b64(i) for i in idents],
            "header": jsonable(msg["header"]),
            "parent_header": jsonable(msg["parent_header"]),
            "metadata": jsonable(msg["metadata"]),
            "content": jsonable(msg["content"]),
            "buffers": [b64(b) for b in msg["buffers"]],
        }
    if cmd == "sign":
        parts = [unb64(p) for p in request["parts"]]
        return session, {"ok": True, "signature": session.sign(parts).decode("ascii")}
    if cmd == "parse_date":
        return session, {"ok": True, "micros": to_micros(parse_date(request["date"]))}
    if cmd == "format_now":
        header = jsonable(session.msg_header("x"))
        return session, {"ok": True, "date": header["date"], "now": jsonable(utcnow())}
    raise RuntimeError(f"unknown command {cmd!r}")


def main():
    session = None
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            session, reply = handle(session, json.loads(line))
        except Exception as e:  # report every failure to the test, keep serving
            reply = {"ok": False, "type": type(e).__name__, "error": str(e)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
