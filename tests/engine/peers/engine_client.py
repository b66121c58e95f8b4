"""A real ipyparallel 7.1 Client driving engines (ours and Python's) through a real controller.

Usage: engine_client.py <profile_dir> <cluster_id> <scenario> [json-args]

Prints one JSON object on stdout (the scenario's observations); the Deno test asserts on it.
Each scenario is a plain sequence of Client calls, as a user would write them.
"""
import json
import sys
import time

import ipyparallel as ipp

profile_dir, cluster_id, scenario = sys.argv[1:4]
args = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
out = {}


def remote_error(e):
    return {
        "type": type(e).__name__,
        "ename": getattr(e, "ename", None),
        "evalue": getattr(e, "evalue", None),
        "traceback": getattr(e, "traceback", None),
        "engine_info": getattr(e, "engine_info", None),
    }


def error_of(fn):
    try:
        fn()
    except ipp.error.CompositeError as e:
        # a view over one engine wraps its RemoteError
        inner = e.elist[0]
        return {"type": "RemoteError", "ename": inner[0], "evalue": inner[1],
                "traceback": inner[2], "engine_info": inner[3]}
    except Exception as e:  # noqa: BLE001 - we report whatever the client raised
        return remote_error(e)
    return None


def done(ar, timeout=30):
    """Wait for the reply *and* the output: IOPub may trail the reply (PROTOCOL.md §10 #1)."""
    ar.get(timeout=timeout)
    ar.wait_for_output(timeout)
    return ar


def ex(target, code, silent=True):
    return done(rc[target].execute(code, silent=silent, block=False))


def settled_queue_status(targets=None, timeout=10):
    """queue_status once the Hub has booked every reply (it reads replies and queries on
    different sockets, so a query right after a reply may still count it as queued)."""
    deadline = time.time() + timeout
    while True:
        qs = rc.queue_status(targets=targets)
        busy = [v for k, v in qs.items() if k != "unassigned" and v["queue"]]
        if not busy or time.time() > deadline:
            return {str(k): v for k, v in qs.items()}
        time.sleep(0.1)


rc = ipp.Client(profile_dir=profile_dir, cluster_id=cluster_id, timeout=20)
rc.wait_for_engines(args.get("engines", 1), timeout=30)
out["ids"] = sorted(rc.ids)

if scenario == "basic":
    eid = args["id"]
    out["all_execute"] = [r.execution_count for r in rc[:].execute("globalThis.x = 6 * 7", block=True).get()]
    ar = ex(eid, "x", silent=False)
    out["execute_result"] = ar.execute_result
    ar = ex(eid, "console.log('hello from', 'deno'); console.error('warned')")
    out["stdout"] = ar.stdout
    out["stderr"] = ar.stderr
    out["thrown"] = error_of(lambda: ex(eid, "throw new RangeError('out of range!')"))
    # an unhandled rejection is reported on stderr and the engine keeps serving
    # (the Python client drops output that arrives after the reply and `idle`, so the cell
    # waits a little for the rejection to be reported)
    ar = ex(eid, "Promise.reject(new Error('nobody catches me')); "
            "await new Promise((r) => setTimeout(r, 100)); 1", silent=False)
    out["rejection_stderr"] = ar.stderr
    out["after_rejection"] = ex(eid, "x + 1", silent=False).execute_result
    # load-balanced and broadcast paths, with a Reference to an engine function
    out["lb_apply"] = rc.load_balanced_view().apply_sync(ipp.Reference("Math.max"), 3, 9)
    out["broadcast"] = [r.execution_count for r in rc.broadcast_view().execute("globalThis.y = 2", block=True).get()]
    out["direct_apply"] = rc[eid].apply_sync(ipp.Reference("Math.min"), 3, 9)
    out["pickle"] = error_of(lambda: rc[eid].apply_sync(lambda: 1))
    out["queue_status"] = settled_queue_status(targets=[eid])
    rc.shutdown(targets=[eid], block=True)
    deadline = time.time() + 10
    while eid in rc.ids and time.time() < deadline:
        time.sleep(0.1)
        rc.spin()
    out["ids_after_shutdown"] = sorted(rc.ids)

elif scenario == "mixed":
    deno = args["deno"]
    py = [i for i in sorted(rc.ids) if i not in deno]
    out["python_ids"] = py
    # each kind gets only its own work
    ex(deno, "globalThis.kind = 'deno'; globalThis.hits = (globalThis.hits ?? 0) + 1")
    ex(py, "kind = 'python'; hits = globals().get('hits', 0) + 1")
    out["deno_kind"] = [ex(i, "`${kind}:${hits}`", silent=False).execute_result["data"]["text/plain"] for i in deno]
    out["py_kind"] = rc[py].pull("(kind, hits)", block=True)
    out["py_apply"] = rc[py].apply_sync(lambda: 1)
    out["deno_pickle"] = [error_of(lambda i=i: rc[i].apply_sync(lambda: 1)) for i in deno]
    # a long synchronous computation on a Deno engine does not stop its heartbeat
    started = time.time()
    ar = rc[deno[0]].execute(
        "const t0 = Date.now(); let n = 0; while (Date.now() - t0 < %d) { n++; } n > 0" % args["busy_ms"],
        silent=False, block=False)
    done(ar, timeout=60)
    out["busy_seconds"] = time.time() - started
    out["busy_result"] = ar.execute_result["data"]["text/plain"]
    time.sleep(args.get("settle", 0))
    rc.spin()
    out["ids_after_busy"] = sorted(rc.ids)
    out["queue_status"] = settled_queue_status()

elif scenario == "interrupt":
    eid = args["id"]
    ex(eid, "globalThis.keep = 1")
    ar = rc[eid].execute("while (true) {}", block=False)
    time.sleep(1.0)
    rc.send_signal("SIGINT", targets=[eid], block=True)
    out["interrupted"] = error_of(lambda: ar.get(timeout=20))
    out["after_interrupt"] = ex(eid, "typeof keep", silent=False).execute_result
    # queued work behind an abort
    ar1 = rc[eid].execute("const t0 = Date.now(); while (Date.now() - t0 < 800) {}", block=False)
    ar2 = rc[eid].execute("globalThis.never = 1", block=False)
    rc.abort(ar2.msg_ids, targets=[eid], block=True)
    ar1.get(timeout=20)
    out["aborted"] = error_of(lambda: ar2.get(timeout=20))
    out["never"] = ex(eid, "typeof never", silent=False).execute_result

else:
    raise SystemExit("unknown scenario %r" % scenario)

rc.close()
print(json.dumps(out))
