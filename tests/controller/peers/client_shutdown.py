"""Shut the whole cluster down with Client.shutdown(hub=True).

Usage: client_shutdown.py <client.json>
Prints {"notified": bool} — whether a second client saw shutdown_notification.
"""
import json
import sys
import time

import ipyparallel as ipp

url = sys.argv[1]
rc = ipp.Client(url, timeout=20)
rc.wait_for_engines(1, timeout=30)
watcher = ipp.Client(url, timeout=20)
rc.shutdown(hub=True, block=True)
deadline = time.monotonic() + 5
while not watcher._closed and time.monotonic() < deadline:
    time.sleep(0.05)
    try:
        watcher.spin()
    except Exception:  # noqa: the watcher closes its sockets on shutdown_notification
        break
print(json.dumps({"notified": bool(watcher._closed)}), flush=True)
