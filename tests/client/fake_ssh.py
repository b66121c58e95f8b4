#!/usr/bin/python3
"""A stand-in for `ssh -N -L ...` in tests (no sshd on the test machines): records its
arguments in $FAKE_SSH_ARGS and forwards each `-L bind:lport:host:rport` over plain TCP, as
the SSH server would. Exits with 255 and a message on stderr when $FAKE_SSH_FAIL is set."""
import json
import os
import signal
import socket
import sys
import threading

args = sys.argv[1:]
if os.environ.get("FAKE_SSH_ARGS"):
    with open(os.environ["FAKE_SSH_ARGS"], "w") as f:
        json.dump(args, f)
if os.environ.get("FAKE_SSH_FAIL"):
    print("Permission denied (publickey).", file=sys.stderr)
    sys.exit(255)


def pump(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(bind, lport, host, rport):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((bind, lport))
    srv.listen(64)
    while True:
        conn, _ = srv.accept()
        try:
            up = socket.create_connection((host, rport))
        except OSError:
            conn.close()
            continue
        threading.Thread(target=pump, args=(conn, up), daemon=True).start()
        threading.Thread(target=pump, args=(up, conn), daemon=True).start()


for i, a in enumerate(args):
    if a == "-L":
        bind, lport, host, rport = args[i + 1].split(":")
        threading.Thread(target=serve, args=(bind, int(lport), host, int(rport)), daemon=True).start()
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
threading.Event().wait()
