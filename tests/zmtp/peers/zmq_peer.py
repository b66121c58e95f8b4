"""A libzmq (pyzmq) peer driven by the Deno interop tests.

Usage: zmq_peer.py ROLE bind|connect ENDPOINT [JSON-OPTIONS]

Prints one JSON object per line on stdout: first {"endpoint": ...} once bound/connected,
then role-specific events. Runs until killed (or until its job is done, for finite roles).
Frames are exchanged as hex strings in the JSON output.

Roles:
  echo-router   ROUTER that sends every message back (same routing id).
  echo-dealer   DEALER that sends every message back (first [b"hello"] if opts.hello).
  router-hello  ROUTER (ROUTER_MANDATORY) that sends [opts.peer, b"hello"] as soon as that peer
                is reachable, then sends every message back.
  dealer-send   DEALER that sends opts.count messages [b"msg", b"<i>"] and prints replies.
  pub           PUB that publishes [topic, seq] for each topic in opts.topics every 10 ms.
  xpub          XPUB that prints subscription messages and publishes like pub.
  sub           SUB (subscribes opts.topics) that prints every message received.
  push          PUSH that sends opts.count messages [b"<i>"], then waits to be killed.
  pull          PULL that prints every message received.
"""

import json
import sys
import time

import zmq


def out(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def hexes(frames):
    return [bytes(f).hex() for f in frames]


def main():
    role, action, endpoint = sys.argv[1], sys.argv[2], sys.argv[3]
    opts = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    kind = {
        "echo-router": zmq.ROUTER,
        "echo-dealer": zmq.DEALER,
        "router-hello": zmq.ROUTER,
        "dealer-send": zmq.DEALER,
        "pub": zmq.PUB,
        "xpub": zmq.XPUB,
        "sub": zmq.SUB,
        "push": zmq.PUSH,
        "pull": zmq.PULL,
    }[role]
    ctx = zmq.Context()
    s = ctx.socket(kind)
    s.linger = 0
    if "identity" in opts:
        s.setsockopt(zmq.IDENTITY, opts["identity"].encode())
    if opts.get("hwm0"):
        s.sndhwm = 0
        s.rcvhwm = 0
    if role == "sub":
        for t in opts.get("topics", [""]):
            s.subscribe(t.encode())
    if action == "bind":
        if endpoint.endswith(":0"):
            endpoint = endpoint[:-2] + ":*"
        s.bind(endpoint)
        endpoint = s.getsockopt(zmq.LAST_ENDPOINT).decode()
    else:
        s.connect(endpoint)
    out(endpoint=endpoint)

    if role == "echo-dealer" and opts.get("hello"):
        s.send_multipart([b"hello"])
    if role == "router-hello":
        s.setsockopt(zmq.ROUTER_MANDATORY, 1)
        while True:
            try:
                s.send_multipart([opts["peer"].encode(), b"hello"])
                break
            except zmq.ZMQError:
                time.sleep(0.01)
    if role in ("echo-router", "echo-dealer", "router-hello"):
        while True:
            s.send_multipart(s.recv_multipart(copy=False), copy=False)
    elif role == "dealer-send":
        for i in range(opts.get("count", 1)):
            s.send_multipart([b"msg", str(i).encode()])
        while True:
            out(frames=hexes(s.recv_multipart()))
    elif role in ("pub", "xpub"):
        seq = 0
        topics = [t.encode() for t in opts.get("topics", ["a", "b"])]
        while True:
            if role == "xpub":
                while s.poll(0):
                    out(frames=hexes(s.recv_multipart()))
            for t in topics:
                s.send_multipart([t, str(seq).encode()])
            seq += 1
            time.sleep(0.01)
    elif role in ("sub", "pull"):
        while True:
            out(frames=hexes(s.recv_multipart()))
    elif role == "push":
        for i in range(opts.get("count", 1)):
            s.send_multipart([str(i).encode()])
        out(sent=opts.get("count", 1))
        while True:
            time.sleep(1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
