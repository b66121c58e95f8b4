"""Kill -9 an engine that holds queued direct and load-balanced tasks; report what happened.

Usage: client_kill.py <client.json> <group|engine>
  group  — SIGKILL the engine and its nanny: the heart stops (heart-failure path).
  engine — SIGKILL the engine process only: its nanny sends unregistration_request.
Prints one JSON object (last stdout line); times are seconds after the kill.
"""
import json
import os
import signal
import sys
import time

import ipyparallel as ipp

url, mode = sys.argv[1], sys.argv[2]
rc = ipp.Client(url, timeout=20)
rc.wait_for_engines(2, timeout=30)
def pids_of_engine():
    import os
    import psutil
    return os.getpid(), [c.pid for c in psutil.Process().children(recursive=True)]


victim, survivor = rc.ids[:2]
(victim_pid, victim_children), (survivor_pid, _) = rc[[victim, survivor]].apply_sync(pids_of_engine)
uuids = {i: rc._engines[i] for i in rc.ids}

direct = [rc[victim].apply_async(time.sleep, 30), rc[victim].apply_async(lambda: 1)]
lv = rc.load_balanced_view()
lv.set_flags(retries=1)
lb = [lv.apply_async(lambda: (__import__("time").sleep(0.2), __import__("os").getpid())[1])
      for _ in range(2)]
time.sleep(0.6)  # both LB tasks dispatched (one per engine, hwm=1); engine 1's is done
status = rc.queue_status(verbose=True)
lb_on_victim = [m for m in status[victim]["tasks"] if m in {a.msg_ids[0] for a in lb}]

if mode == "group":
    for pid in victim_children + [victim_pid]:  # the nanny first: no unregistration_request
        os.kill(pid, signal.SIGKILL)
else:
    os.kill(victim_pid, signal.SIGKILL)
t0 = time.monotonic()
out = {"mode": mode, "lb_on_victim": len(lb_on_victim)}

errors = []
for ar in direct:
    try:
        ar.get(timeout=10)
        errors.append("no error")
    except ipp.RemoteError as e:
        errors.append(e.ename)
    except Exception as e:  # noqa
        errors.append(type(e).__name__ + ": " + str(e))
out["direct_errors"] = errors
out["direct_failed_at"] = time.monotonic() - t0
lb_results = []
for ar in lb:
    try:
        lb_results.append(ar.get(timeout=10))
    except Exception as e:  # noqa
        lb_results.append(type(e).__name__)
out["lb_done_at"] = time.monotonic() - t0
out["lb_ran_on_survivor"] = [r == survivor_pid for r in lb_results]
out["engines_after"] = rc.ids

# The Hub's records must say what happened, within the same deadline.
direct_ids = [ar.msg_ids[0] for ar in direct]
deadline = t0 + 10
while True:
    recs = rc.db_query({"msg_id": {"$in": direct_ids}}, keys=["result_content", "completed"])
    if all(r["completed"] for r in recs) or time.monotonic() > deadline:
        break
    time.sleep(0.05)
out["records_at"] = time.monotonic() - t0
out["direct_records"] = [(r["result_content"] or {}).get("ename") for r in recs]
lb_recs = rc.db_query({"msg_id": {"$in": lb_on_victim}}, keys=["engine_uuid", "completed", "result_content"])
out["lb_records_on_survivor"] = [r["engine_uuid"] == uuids[survivor] and r["completed"] is not None for r in lb_recs]
out["lb_records_status"] = [(r["result_content"] or {}).get("status") for r in lb_recs]
rc.close()
print(json.dumps(out), flush=True)
