"""Python ipyparallel 7.1 side of `bench/compare.ts`: the same workloads, timed the same way.

Run with Debian's interpreter (ipyparallel and numpy are installed there):

    /usr/bin/python3 bench/peers/ipp_bench.py --only=lb_throughput,direct_roundtrip --quick

Progress goes to stderr; the last stdout line is one JSON object, workload name -> figures
(times in seconds, memory in bytes). The plan (task counts) comes from `--plan=<json>` so both
sides always run the same sizes.
"""

import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc

import numpy as np
import ipyparallel as ipp

PLAN = {
    "lb_tasks": 3000,
    "direct_n": 2000,
    "map_items": 100_000,
    "map_chunksize": 1000,
    "bytes": 100_000_000,
    "bulk_reps": 3,
    "mid_bytes": 8_000_000,
    "mid_reps": 9,
    "scatter_n": 10_000_000,
    "broadcast_engines": 16,
    "broadcast_n": 50,
    "register_engines": 64,
    "mem_outstanding": 20_000,
    "mem_completed": 200_000,
    "mem_batch": 10_000,
}


def log(*args):
    print("[ipp]", *args, file=sys.stderr, flush=True)


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def noop():
    return None


def double(x):
    return x * 2


def cpu_by_role():
    """CPU seconds used so far by this process and its descendants, by role (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    procs = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        procs[int(name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick, cmd)
    me = os.getpid()
    out = {"client": 0.0, "controller": 0.0, "engine": 0.0, "nanny": 0.0}
    for pid, (ppid, cpu, cmd) in procs.items():
        p, depth = pid, 0
        while p > 1 and p != me and depth < 8:
            p = procs.get(p, (0,))[0]
            depth += 1
        if p != me:
            continue
        if pid == me:
            out["client"] += cpu
        elif "nanny" in cmd:
            out["nanny"] += cpu
        elif "controller" in cmd:
            out["controller"] += cpu
        elif "engine" in cmd:
            out["engine"] += cpu
    return out


def cpu_per(before, n):
    after = cpu_by_role()
    return {f"cpu_{k}_us": (after[k] - before[k]) / n * 1e6 for k in after}


def new_cluster(n, tag):
    profile_dir = tempfile.mkdtemp(prefix="ipp-bench-py-")
    cluster = ipp.Cluster(
        n=n,
        profile_dir=profile_dir,
        cluster_id=f"bench-{tag}",
        log_level=40,
        delay=0,
        engine_timeout=600,
    )
    return cluster


def wait_engines(rc, n, timeout=600):
    deadline = time.perf_counter() + timeout
    while len(rc.ids) < n:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"only {len(rc.ids)} of {n} engines registered")
        time.sleep(0.005)


def run(only, plan):
    out = {}
    want = lambda name: only is None or name in only  # noqa: E731
    main_set = {
        "lb_throughput", "direct_roundtrip", "execute_roundtrip", "map_100k", "push_100MB",
        "pull_100MB", "push_8MB", "pull_8MB", "scatter_gather_10M", "broadcast_16",
        "mem_outstanding", "mem_completed",
    }
    if only is None or main_set & only:
        cluster = new_cluster(2, "main")
        t0 = time.perf_counter()
        rc = cluster.start_and_connect_sync()
        wait_engines(rc, 2)
        log(f"cluster of 2 up in {time.perf_counter() - t0:.2f} s")
        try:
            lview = rc.load_balanced_view()
            e0 = rc[0]
            dview = rc[:]
            # warm-up: function canning, engine imports, connections
            for _ in range(20):
                lview.apply_sync(noop)
                e0.apply_sync(noop)
                e0.execute("a = 1", block=True)

            # Each of these runs twice: the first pass ("<name>_1st") is reported too; the
            # second is the figure compared (the same on our side).
            def twice(name, run):
                out[name + "_1st"] = run()
                out[name] = run()

            if want("lb_throughput"):
                def lb():
                    n = plan["lb_tasks"]
                    cpu = cpu_by_role()
                    t = time.perf_counter()
                    ars = [lview.apply_async(noop) for _ in range(n)]
                    t_submit = time.perf_counter() - t
                    for ar in ars:
                        ar.get()
                    s = time.perf_counter() - t
                    log(f"lb_throughput {n / s:.0f} tasks/s")
                    return {"tasks": n, "seconds": s, "submit_seconds": t_submit,
                            "rate": n / s, **cpu_per(cpu, n)}
                twice("lb_throughput", lb)

            if want("direct_roundtrip"):
                def direct():
                    n = plan["direct_n"]
                    cpu = cpu_by_role()
                    t = time.perf_counter()
                    for _ in range(n):
                        e0.apply_sync(noop)
                    s = time.perf_counter() - t
                    log(f"direct_roundtrip {s / n * 1e6:.0f} us")
                    return {"n": n, "seconds": s, "per_call": s / n, **cpu_per(cpu, n)}
                twice("direct_roundtrip", direct)

            if want("execute_roundtrip"):
                def execute():
                    n = plan["direct_n"]
                    cpu = cpu_by_role()
                    t = time.perf_counter()
                    for _ in range(n):
                        e0.execute("a = 1", block=True)
                    s = time.perf_counter() - t
                    log(f"execute_roundtrip {s / n * 1e6:.0f} us")
                    return {"n": n, "seconds": s, "per_call": s / n, **cpu_per(cpu, n)}
                twice("execute_roundtrip", execute)

            if want("map_100k"):
                def map_100k():
                    n = plan["map_items"]
                    items = list(range(n))
                    t = time.perf_counter()
                    res = lview.map(double, items, chunksize=plan["map_chunksize"], block=True)
                    s = time.perf_counter() - t
                    assert len(res) == n and res[-1] == 2 * (n - 1)
                    log(f"map_100k {s:.3f} s")
                    return {"items": n, "seconds": s}
                twice("map_100k", map_100k)

            if want("push_100MB") or want("pull_100MB"):
                # The fastest of bulk_reps, as the floor's best of 3.
                push_pull(e0, plan["bytes"], plan.get("bulk_reps", 1), "100MB", fastest, want,
                          out)
            if want("push_8MB") or want("pull_8MB"):
                push_pull(e0, plan["mid_bytes"], plan["mid_reps"], "8MB", statistics.median,
                          want, out)

            if want("scatter_gather_10M"):
                n = plan["scatter_n"]
                arr = np.arange(n, dtype=np.float64)
                t = time.perf_counter()
                dview.scatter("part", arr, block=True)
                t_scatter = time.perf_counter() - t
                back = dview.gather("part", block=True)
                s = time.perf_counter() - t
                assert len(back) == n and back[-1] == n - 1
                out["scatter_gather_10M"] = {"n": n, "seconds": s, "scatter_seconds": t_scatter}
                log(f"scatter_gather_10M {s:.3f} s")
                dview.execute("del part", block=True)
                del arr, back

            # The baseline excludes earlier workloads' cached results (the 100 MB pull...).
            rc.purge_local_results("all")
            gc.collect()
            base = rss()
            if want("mem_completed"):
                out["mem_completed"] = mem_completed(rc, plan, base)

            if want("broadcast_16"):
                k = plan["broadcast_engines"]
                cluster.start_engines_sync(k - len(rc.ids))
                wait_engines(rc, k)
                bview = rc.broadcast_view()
                for _ in range(5):
                    bview.apply_sync(noop)
                n = plan["broadcast_n"]
                t = time.perf_counter()
                for _ in range(n):
                    r = bview.apply_sync(noop)
                s = time.perf_counter() - t
                assert len(r) == k
                out["broadcast_16"] = {"engines": k, "n": n, "seconds": s, "per_call": s / n}
                log(f"broadcast_16 {s / n * 1e6:.0f} us")

            if want("mem_outstanding"):
                out["mem_outstanding"] = mem_outstanding(rc, plan)
        finally:
            rc.close()
            cluster.stop_cluster_sync()
            shutil.rmtree(cluster.profile_dir, ignore_errors=True)

    if want("register_64"):
        k = plan["register_engines"]
        cluster = new_cluster(k, "reg")
        cluster.start_controller_sync()
        rc = cluster.connect_client_sync()
        try:
            t = time.perf_counter()
            cluster.start_engines_sync(k)
            wait_engines(rc, k)
            s = time.perf_counter() - t
            out["register_64"] = {"engines": k, "seconds": s}
            log(f"register_64 {s:.2f} s")
        finally:
            rc.close()
            cluster.stop_cluster_sync()
            shutil.rmtree(cluster.profile_dir, ignore_errors=True)
    return out


def block_until(path):
    import os
    import time

    while not os.path.exists(path):
        time.sleep(0.01)


def mem_completed(rc, plan, base):
    """RSS after many no-op tasks completed and their results consumed (direct, round robin)."""
    total = plan["mem_completed"]
    batch = plan["mem_batch"]
    views = [rc[i] for i in rc.ids]
    done = 0
    unanswered = 0
    t = time.perf_counter()
    while done < total:
        m = min(batch, total - done)
        ars = [views[i % len(views)].apply_async(noop) for i in range(m)]
        # ipyparallel can leave some of a burst of 10,000 direct requests unanswered (seen once:
        # 52 stayed queued at the Hub while their engine sat idle), and an unbounded get() would
        # hang the whole bench: give the batch a generous deadline and count what never came.
        rc.wait(ars, timeout=max(120.0, m / 20))
        for ar in ars:
            if ar.ready():
                ar.get()
            else:
                unanswered += 1
        del ars
        done += m
    s = time.perf_counter() - t
    time.sleep(0.2)
    gc.collect()
    after = rss()
    lost = f"; {unanswered} never answered" if unanswered else ""
    log(f"mem_completed rss {after / 1e6:.0f} MB (+{(after - base) / 1e6:.0f} MB) after "
        f"{total} tasks in {s:.1f} s{lost}")
    return {"tasks": total, "seconds": s, "rss": after, "rss_growth": after - base,
            "measure": "rss", "unanswered": unanswered}


def fastest(times):
    return min(times)


def push_pull(e0, nbytes, reps, size, pick, want, out):
    """Push then pull one array reps times; report each direction's pick of the times (fastest
    or median) and the mean CPU."""
    names = (f"push_{size}", f"pull_{size}")
    arr = np.arange(nbytes // 8, dtype=np.float64)
    times = {name: [] for name in names}
    cpu_sum = {}

    def timed(name, fn):
        cpu = cpu_by_role()
        t = time.perf_counter()
        result = fn()
        times[name].append(time.perf_counter() - t)
        sums = cpu_sum.setdefault(name, {})
        for k, v in cpu_per(cpu, reps).items():
            sums[k] = sums.get(k, 0) + v
        return result

    for _ in range(reps):
        timed(names[0], lambda: e0.push({"bulk": arr}, block=True))
        if want(names[1]):
            back = timed(names[1], lambda: e0.pull("bulk", block=True))
            assert back.shape == arr.shape and back[-1] == arr[-1]
            del back
    for name in names:
        if want(name):
            s = pick(times[name])
            out[name] = {"bytes": arr.nbytes, "seconds": s, "reps": reps, **cpu_sum[name]}
            log(f"{name} {s:.3f} s ({pick.__name__} of {reps})")
    e0.execute("del bulk", block=True)


def mem_outstanding(rc, plan):
    """RSS delta per outstanding task: no-ops queued behind a blocker on every engine.

    The tasks are left behind (the cluster is stopped next)."""
    lview = rc.load_balanced_view()
    n = plan["mem_outstanding"]
    fd, release = tempfile.mkstemp(prefix="ipp-bench-release-")
    os.close(fd)
    os.remove(release)
    for _ in rc.ids:
        lview.apply_async(block_until, release)
    time.sleep(0.5)
    gc.collect()
    # RSS alone under-counts here (pymalloc reuses arenas freed by earlier workloads), so the
    # Python heap is traced too: tracemalloc counts what the submissions allocated and kept.
    before = rss()
    tracemalloc.start()
    ars = [lview.apply_async(noop) for _ in range(n)]
    time.sleep(1.0)
    gc.collect()
    traced, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    after = rss()
    outstanding = len(rc.outstanding)
    log(f"mem_outstanding {traced / n:.0f} B/task traced heap, {(after - before) / n:.0f} B/task "
        f"rss ({outstanding} outstanding)")
    open(release, "w").close()
    time.sleep(0.2)  # the blockers poll every 10 ms; the cluster is stopped next anyway
    os.remove(release)
    del ars
    return {"tasks": n, "outstanding": outstanding, "bytes_per_task": traced / n,
            "rss_per_task": (after - before) / n, "measure": "tracemalloc"}


def main():
    only = None
    plan = dict(PLAN)
    for arg in sys.argv[1:]:
        if arg.startswith("--only="):
            only = set(x for x in arg[len("--only="):].split(",") if x)
        elif arg.startswith("--plan="):
            plan.update(json.loads(arg[len("--plan="):]))
        else:
            raise SystemExit(f"unknown argument {arg}")
    print(json.dumps(run(only, plan)), flush=True)


if __name__ == "__main__":
    main()
