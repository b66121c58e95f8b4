"""Drive our controller with the real ipyparallel Client: the common operations.

Usage: client_basic.py <client.json> <n_engines>
Prints one JSON object with what it observed (last stdout line).
"""
import json
import sys
import time

import ipyparallel as ipp

url, n = sys.argv[1], int(sys.argv[2])
out = {}
rc = ipp.Client(url, timeout=20)
rc.wait_for_engines(n, timeout=30)
out["ids"] = rc.ids

dv = rc[:]
out["apply"] = dv.apply_sync(lambda x: x * 2, 21)
ar = rc[0].execute("print('hello from engine'); a = 5", silent=False, block=True)
out["stdout"] = ar.stdout
ar = rc[0].execute("a * 3", silent=False, block=True)
out["execute_result"] = (ar.execute_result or {}).get("data", {}).get("text/plain")
try:
    rc[0].apply_sync(lambda: 1 / 0)
except ipp.RemoteError as e:
    out["remote_error"] = e.ename
lv = rc.load_balanced_view()
out["map"] = lv.map_sync(lambda x: x * x, range(16))
amr = lv.map_async(lambda x: x + 1, range(4))
out["map_engines"] = sorted(set(amr.get() and amr.engine_id))
dv.push({"b": 7}, block=True)
out["pull"] = dv.pull("b", block=True)
dv.scatter("s", list(range(10)), block=True)
out["gather"] = dv.gather("s", block=True)
out["queue_status"] = {str(k): v for k, v in rc.queue_status().items()}
bv = rc.broadcast_view()
out["broadcast"] = bv.apply_sync(lambda: 42)
bvc = rc.broadcast_view(is_coalescing=True)
out["broadcast_coalescing"] = bvc.apply_sync(lambda: 43)
ar = bv.execute("c = 11", block=True)
out["broadcast_execute_pull"] = dv.pull("c", block=True)

# Hub queries: result, history, db, resubmit, purge
ar = lv.apply(lambda: 3)
ar.get(timeout=20)
mid = ar.msg_ids[0]
out["in_history"] = mid in rc.hub_history()
out["get_result"] = rc.get_result(mid).get(timeout=10)
recs = rc.db_query({"msg_id": {"$in": [mid]}}, keys=["msg_id", "queue", "engine_uuid", "completed"])
out["db"] = [{"queue": r["queue"], "has_engine": bool(r["engine_uuid"]), "completed": r["completed"] is not None} for r in recs]
ar2 = rc.resubmit(ar.msg_ids)
out["resubmit"] = ar2.get(timeout=20)
ar3 = rc[0].execute("print('stored')", silent=False, block=True)
rec = rc.db_query({"msg_id": ar3.msg_ids[0]}, keys=["stdout", "queue"])[0]
out["db_stdout"] = rec["stdout"]
out["db_queue"] = rec["queue"]
rc.purge_hub_results("all")
out["history_after_purge"] = len(rc.hub_history())
try:
    rc.get_result("nope").get(timeout=5)
except Exception as e:
    out["unknown_result"] = type(e).__name__
rc.close()
print(json.dumps(out), flush=True)
